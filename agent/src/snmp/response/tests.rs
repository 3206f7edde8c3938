use async_snmp::message::CommunityMessage;
use async_snmp::{Oid, OutboundErrorStatus, ResponsePdu, Value, Version};

use super::*;
use crate::snmp::testmutate::{Rng, mutate};
use crate::snmp::testvb::{at, vb};
use crate::snmp::{counters, inventory, oids};

/// What a switch answers to a counter GETBULK, an inventory GETBULK, the
/// system GET and a printer's supplies walk: every value type the poller reads.
fn answers() -> Vec<Vec<VarBind>> {
    let (e, x) = (oids::IF_ENTRY, oids::IFX_ENTRY);
    let counters: Vec<VarBind> = (1..=12)
        .flat_map(|i| {
            [
                vb(&at(e, 8, &[i]), Value::Integer(1)),
                vb(&at(e, 10, &[i]), Value::Counter32(4_294_967_000 + i)),
                vb(&at(e, 14, &[i]), Value::Counter32(i)),
                vb(&at(x, 6, &[i]), Value::Counter64(u64::from(i) << 40)),
                vb(&at(x, 10, &[i]), Value::Counter64(u64::from(i) * 977)),
                vb(&at(x, 19, &[i]), Value::TimeTicks(0)),
            ]
        })
        .chain([vb(&at(e, 8, &[13]), Value::EndOfMibView)])
        .collect();
    let entities: Vec<VarBind> = (1..=4)
        .flat_map(|i| {
            let ent = oids::ENT_PHYSICAL_ENTRY;
            [
                vb(
                    &at(ent, 2, &[i]),
                    Value::from(format!("Module {i}").as_str()),
                ),
                vb(&at(ent, 5, &[i]), Value::Integer(9)),
                vb(
                    &at(ent, 11, &[i]),
                    Value::from(format!("SN{i:08}").as_str()),
                ),
                vb(&at(ent, 4, &[i]), Value::Integer(1)),
            ]
        })
        .collect();
    let system = vec![
        vb(
            oids::SYS_DESCR,
            Value::from("Lab switch 48G, software 9.3(1)"),
        ),
        vb(
            oids::SYS_OBJECT_ID,
            Value::ObjectIdentifier(Oid::from_slice(&[1, 3, 6, 1, 4, 1, 9, 1, 1208])),
        ),
        vb(oids::SYS_UP_TIME, Value::TimeTicks(123_456)),
        vb(oids::SYS_NAME, Value::from("sw-lab-1")),
        vb(
            &at(oids::IP_ADDR_ENTRY, 3, &[10, 0, 0, 1]),
            Value::IpAddress([255, 255, 255, 0]),
        ),
        vb(
            &at(oids::IF_ENTRY, 6, &[1]),
            Value::from(&[0x00_u8, 0x1b, 0x21, 0x3a, 0x4f, 0x60][..]),
        ),
    ];
    let supplies = vec![
        vb(
            &at(oids::PRT_SUPPLIES_ENTRY, 6, &[1, 1]),
            Value::from("Black Toner"),
        ),
        vb(
            &at(oids::PRT_SUPPLIES_ENTRY, 8, &[1, 1]),
            Value::Integer(100),
        ),
        vb(
            &at(oids::PRT_SUPPLIES_ENTRY, 9, &[1, 1]),
            Value::Integer(-3),
        ),
        vb(
            &[1, 3, 6, 1, 2, 1, 25, 3, 3, 1, 2, 196_608],
            Value::Gauge32(7),
        ),
        vb(&[1, 3, 6, 1, 2, 1, 99], Value::NoSuchObject),
    ];
    vec![counters, entities, system, supplies]
}

/// The answers encoded as a device sends them, over v2c and v1, and a
/// `tooBig` without bindings.
fn packets() -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    for (n, bindings) in answers().into_iter().enumerate() {
        let id = i32::try_from(n).unwrap() * 7_919 + 1;
        let pdu = ResponsePdu::success(Version::V2c, id, bindings.clone()).unwrap();
        out.push(
            CommunityMessage::v2c("public", pdu)
                .unwrap()
                .encode()
                .unwrap(),
        );
        let v1: Vec<VarBind> = bindings
            .into_iter()
            .filter(|b| !matches!(b.value, Value::Counter64(_)) && !b.value.is_exception())
            .collect();
        let pdu = ResponsePdu::success(Version::V1, id + 1, v1).unwrap();
        out.push(
            CommunityMessage::v1("public", pdu)
                .unwrap()
                .encode()
                .unwrap(),
        );
    }
    let too_big = ResponsePdu::new(
        Version::V2c,
        99,
        OutboundErrorStatus::TooBig,
        None,
        Vec::new(),
    )
    .unwrap();
    out.push(
        CommunityMessage::v2c("c", too_big)
            .unwrap()
            .encode()
            .unwrap(),
    );
    out.into_iter().map(|b| b.to_vec()).collect()
}

/// What the poller does with bindings it received: every reader runs.
fn read_rows(bindings: &[VarBind]) -> usize {
    let inv = inventory::build(bindings);
    let counters = counters::build(0, bindings);
    let up = counters::oper_up(bindings);
    inv.interfaces.len() + counters.len() + up.len()
}

#[test]
fn real_answers_decode_to_their_bindings() {
    let packets = packets();
    let answers = answers();
    for (n, bindings) in answers.iter().enumerate() {
        let got = decode_response(&packets[2 * n]).unwrap();
        assert_eq!(&got.bindings, bindings);
        assert_eq!(got.error_status, ErrorStatus::NoError);
        assert_eq!(got.request_id, i32::try_from(n).unwrap() * 7_919 + 1);
    }
    let too_big = decode_response(packets.last().unwrap()).unwrap();
    assert_eq!(too_big.error_status, ErrorStatus::TooBig);
    assert!(too_big.bindings.is_empty());
    // The walk keeps what is not an exception (here the last port's
    // endOfMibView): twelve ports of counters.
    let mut rows = decode_response(&packets[0]).unwrap().bindings;
    rows.retain(|b| !b.value.is_exception());
    assert_eq!(counters::build(0, &rows).len(), 12);
}

#[test]
fn a_request_or_garbage_is_no_answer() {
    let get =
        async_snmp::RequestPdu::get(Version::V2c, 5, &[Oid::from_slice(oids::SYS_NAME)]).unwrap();
    let bytes = CommunityMessage::v2c("public", get)
        .unwrap()
        .encode()
        .unwrap();
    assert!(matches!(
        decode_response(&bytes),
        Err(DecodeError::NotAResponse(PduType::GetRequest))
    ));
    for junk in [
        &b""[..],
        b"\x30",
        b"\x30\x80",
        b"\xff\xff\xff\xff",
        b"GET / HTTP/1.1\r\n",
    ] {
        assert!(matches!(
            decode_response(junk),
            Err(DecodeError::Malformed(_))
        ));
    }
}

#[test]
fn thousands_of_mutated_and_truncated_answers_never_panic() {
    let packets = packets();
    let mut decoded = 0;
    let mut refused = 0;
    // Every truncation of every packet: a cut message never decodes.
    for p in &packets {
        for cut in 0..p.len() {
            assert!(
                decode_response(&p[..cut]).is_err(),
                "{cut} of {} bytes decoded",
                p.len()
            );
            refused += 1;
        }
    }
    let mut rng = Rng(0x5eed_a7a1_a7a0_0001);
    for round in 0..20_000 {
        let p = &packets[round % packets.len()];
        let m = mutate(&mut rng, p);
        match decode_response(&m) {
            Ok(r) => {
                read_rows(&r.bindings);
                decoded += 1;
            }
            Err(_) => refused += 1,
        }
    }
    // Both outcomes are exercised: mutations that keep a valid message
    // (a changed value) and ones that break it.
    assert!(decoded > 1_000, "{decoded} decoded, {refused} refused");
    assert!(refused > 10_000, "{decoded} decoded, {refused} refused");
}
