use super::*;
use crate::snmp::trap::decode::tests::{PACKETS, packet, trapper_keys};
use async_snmp::message::{CommunityPdu, Message};
use async_snmp::{DecodeConfig, PduType};

fn lab() -> IpAddr {
    "127.0.0.1".parse().unwrap()
}

fn table(auth_password: &str) -> DeviceTable {
    DeviceTable::new([
        (
            lab(),
            TrapDevice {
                name: "lab-v2c".into(),
                check: Check::Community(b"trap-secret".to_vec()),
            },
        ),
        (
            lab(),
            TrapDevice {
                name: "lab-v3".into(),
                check: Check::V3 {
                    user: b"trapper".to_vec(),
                    keys: Some(trapper_keys(true, auth_password)),
                },
            },
        ),
    ])
}

fn names(device: &str) -> BTreeMap<u32, String> {
    match device {
        "lab-v2c" => BTreeMap::from([(1, "lo".to_owned())]),
        _ => BTreeMap::new(),
    }
}

fn receive(r: &mut TrapReceiver, t: &DeviceTable, name: &str, from: &str) -> Received {
    r.receive(
        t,
        &names,
        &packet(name),
        from.parse().unwrap(),
        Instant::now(),
        Timestamp(1_800_000_000_000),
    )
}

fn dropped(received: Received) -> TrapDrop {
    match received {
        Received::Dropped(why, _) => why,
        Received::Accepted { event, .. } => panic!("accepted {event:?}"),
    }
}

#[test]
fn each_device_takes_its_own_credentials_only() {
    let t = table("trapper-auth-pw");
    let mut r = TrapReceiver::new(20.0, 100);
    let Received::Accepted { event, reply } =
        receive(&mut r, &t, "v2c-link-down", "127.0.0.1:40000")
    else {
        panic!("refused");
    };
    assert_eq!((event.device.as_str(), reply), ("lab-v2c", None));
    assert_eq!(event.source, "127.0.0.1:40000");
    assert_eq!(event.interface_subject().as_deref(), Some("lo"));
    let Received::Accepted { event, .. } = receive(&mut r, &t, "v3-authpriv", "127.0.0.1:40001")
    else {
        panic!("refused");
    };
    assert_eq!(
        (event.device.as_str(), event.version),
        ("lab-v3", TrapVersion::V3)
    );
    // The same datagrams from elsewhere, or with other credentials.
    assert_eq!(
        dropped(receive(&mut r, &t, "v2c-link-down", "127.0.0.2:40000")),
        TrapDrop::UnknownSource
    );
    let other = DeviceTable::new([(
        lab(),
        TrapDevice {
            name: "lab-v2c".into(),
            check: Check::Community(b"another".to_vec()),
        },
    )]);
    assert_eq!(
        dropped(receive(&mut r, &other, "v2c-link-down", "127.0.0.1:40000")),
        TrapDrop::BadCommunity
    );
    assert_eq!(
        dropped(receive(&mut r, &other, "v3-authpriv", "127.0.0.1:40000")),
        TrapDrop::V3AuthFailed
    );
    let mut fresh = TrapReceiver::new(20.0, 100);
    let wrong = table("not-the-password");
    assert_eq!(
        dropped(receive(
            &mut fresh,
            &wrong,
            "v3-authpriv",
            "127.0.0.1:40000"
        )),
        TrapDrop::V3AuthFailed
    );
}

#[test]
fn an_inform_is_answered_with_its_request_id_and_bindings() {
    let t = table("trapper-auth-pw");
    let mut r = TrapReceiver::new(20.0, 100);
    let Received::Accepted { event, reply } =
        receive(&mut r, &t, "v2c-inform", "[::ffff:127.0.0.1]:40000")
    else {
        panic!("refused");
    };
    assert!(event.inform);
    assert_eq!(event.source, "127.0.0.1:40000");
    let Ok(Decoded::Community { notice, .. }) = decode_trap(&packet("v2c-inform")) else {
        panic!("decodes");
    };
    let reply = Message::decode(Bytes::from(reply.unwrap()), DecodeConfig::default())
        .unwrap()
        .value;
    let Message::Community(m) = reply else {
        panic!("{reply:?}");
    };
    assert_eq!(m.community().as_bytes(), b"trap-secret");
    let CommunityPdu::Standard(pdu) = m.pdu() else {
        panic!("not a response");
    };
    assert_eq!(pdu.pdu_type(), PduType::Response);
    assert_eq!(Some(pdu.request_id()), notice.request_id);
    assert_eq!(pdu.varbinds(), notice.all.as_slice());
}

#[test]
fn a_flooding_source_is_cut_off_and_others_are_not() {
    let t = DeviceTable::new([
        (
            lab(),
            TrapDevice {
                name: "flood".into(),
                check: Check::Community(b"trap-secret".to_vec()),
            },
        ),
        (
            "127.0.0.9".parse().unwrap(),
            TrapDevice {
                name: "quiet".into(),
                check: Check::Community(b"trap-secret".to_vec()),
            },
        ),
    ]);
    let mut r = TrapReceiver::new(20.0, 100);
    let now = Instant::now();
    let bytes = packet("v2c-link-down");
    let mut accepted = 0;
    for _ in 0..1000 {
        match r.receive(
            &t,
            &names,
            &bytes,
            "127.0.0.1:1".parse().unwrap(),
            now,
            Timestamp(0),
        ) {
            Received::Accepted { .. } => accepted += 1,
            Received::Dropped(why, _) => assert_eq!(why, TrapDrop::RateLimited),
        }
    }
    assert_eq!(accepted, 100);
    let quiet = r.receive(
        &t,
        &names,
        &bytes,
        "127.0.0.9:1".parse().unwrap(),
        now,
        Timestamp(0),
    );
    assert!(matches!(quiet, Received::Accepted { .. }));
}

#[test]
fn a_v3_engine_whose_boots_went_back_is_refused() {
    let t = table("trapper-auth-pw");
    let mut r = TrapReceiver::new(1000.0, 1000);
    assert!(matches!(
        receive(&mut r, &t, "v3-authpriv", "127.0.0.1:1"),
        Received::Accepted { .. }
    ));
    // The engine said later boots before: this datagram is a replay.
    let key = (
        "lab-v3".to_owned(),
        Bytes::from_static(&[0x80, 0, 0, 0, 1, 2, 3, 4]),
    );
    if let Some(clock) = r.clocks.get_mut(&key) {
        clock.boots += 1;
    }
    assert_eq!(
        dropped(receive(&mut r, &t, "v3-authpriv", "127.0.0.1:1")),
        TrapDrop::V3AuthFailed
    );
}

#[test]
fn garbage_from_a_device_is_malformed() {
    let t = table("trapper-auth-pw");
    let mut r = TrapReceiver::new(1000.0, 1000);
    for name in PACKETS {
        let bytes = packet(name);
        let half = &bytes[..bytes.len() / 2];
        let got = r.receive(
            &t,
            &names,
            half,
            "127.0.0.1:1".parse().unwrap(),
            Instant::now(),
            Timestamp(0),
        );
        assert_eq!(dropped(got), TrapDrop::Malformed, "{name}");
    }
}
