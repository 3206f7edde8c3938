use super::*;
use crate::snmp::testmutate::{Rng, mutate};
use async_snmp::{AuthProtocol, MasterKeys, PrivProtocol};

/// A datagram net-snmp's `snmptrap`/`snmpinform` sent, kept in `testdata/`.
pub(crate) fn packet(name: &str) -> Vec<u8> {
    let text = match name {
        "v2c-link-down" => include_str!("../testdata/v2c-link-down.hex"),
        "v1-link-up" => include_str!("../testdata/v1-link-up.hex"),
        "v2c-inform" => include_str!("../testdata/v2c-inform.hex"),
        "v3-authpriv" => include_str!("../testdata/v3-authpriv.hex"),
        "v3-authnopriv" => include_str!("../testdata/v3-authnopriv.hex"),
        other => panic!("no packet {other}"),
    };
    let digits = text.trim().as_bytes();
    digits
        .chunks(2)
        .map(|p| u8::from_str_radix(std::str::from_utf8(p).unwrap(), 16).unwrap())
        .collect()
}

/// Every captured datagram.
pub(crate) const PACKETS: [&str; 5] = [
    "v2c-link-down",
    "v1-link-up",
    "v2c-inform",
    "v3-authpriv",
    "v3-authnopriv",
];

/// The keys of the `trapper` user the SNMPv3 packets were sent with.
pub(crate) fn trapper_keys(privacy: bool, auth_password: &str) -> MasterKeys {
    let keys = MasterKeys::new(AuthProtocol::Sha1, auth_password.as_bytes()).unwrap();
    if privacy {
        keys.with_privacy(PrivProtocol::Aes128, b"trapper-priv-pw")
            .unwrap()
    } else {
        keys
    }
}

fn local(m: &V3Message, keys: &MasterKeys) -> LocalKeys {
    let (auth, privacy) = keys.localize(&m.engine_id).unwrap();
    LocalKeys {
        user: b"trapper".to_vec(),
        auth: Some(auth),
        privacy,
    }
}

fn community(name: &str) -> (TrapVersion, Bytes, Notice) {
    match decode_trap(&packet(name)).unwrap() {
        Decoded::Community {
            version,
            community,
            notice,
        } => (version, community, notice),
        other => panic!("{name}: {other:?}"),
    }
}

fn v3(name: &str) -> V3Message {
    match decode_trap(&packet(name)).unwrap() {
        Decoded::V3(m) => m,
        other => panic!("{name}: {other:?}"),
    }
}

#[test]
fn a_v2c_trap_decodes_with_its_prefix_taken_out() {
    let (version, community, notice) = community("v2c-link-down");
    assert_eq!(version, TrapVersion::V2c);
    assert_eq!(community.as_ref(), b"trap-secret");
    assert!(!notice.inform);
    assert_eq!(notice.uptime, Some(4200));
    assert_eq!(notice.trap_oid, "1.3.6.1.6.3.1.1.5.3");
    assert_eq!(notice.varbinds.len(), 3);
    assert_eq!(notice.all.len(), 5);
}

#[test]
fn a_v1_trap_gets_the_rfc_3584_oid() {
    let (version, _, notice) = community("v1-link-up");
    assert_eq!(version, TrapVersion::V1);
    assert_eq!(notice.trap_oid, "1.3.6.1.6.3.1.1.5.4");
    assert_eq!((notice.generic, notice.uptime), (Some(3), Some(4300)));
    assert_eq!(notice.request_id, None);
}

#[test]
fn an_inform_is_one() {
    let (_, _, notice) = community("v2c-inform");
    assert!(notice.inform);
    assert_eq!(notice.trap_oid, "1.3.6.1.4.1.99999.0.1");
    assert!(notice.request_id.is_some());
}

#[test]
fn a_v3_auth_priv_trap_opens_with_the_right_keys_only() {
    let m = v3("v3-authpriv");
    assert_eq!(m.level, SecurityLevel::AuthPriv);
    assert_eq!(m.user.as_ref(), b"trapper");
    assert_eq!(m.engine_id.as_ref(), [0x80, 0, 0, 0, 1, 2, 3, 4]);
    let notice = open_v3(&m, &local(&m, &trapper_keys(true, "trapper-auth-pw"))).unwrap();
    assert_eq!(notice.trap_oid, "1.3.6.1.6.3.1.1.5.1");
    assert_eq!(notice.uptime, Some(4500));
    assert_eq!(
        open_v3(&m, &local(&m, &trapper_keys(true, "not-the-password"))).unwrap_err(),
        V3Error::WrongDigest
    );
    // Right digest, no privacy key: cannot be read.
    assert!(matches!(
        open_v3(&m, &local(&m, &trapper_keys(false, "trapper-auth-pw"))),
        Err(V3Error::Level(SecurityLevel::AuthPriv))
    ));
    let mut other = local(&m, &trapper_keys(true, "trapper-auth-pw"));
    other.user = b"someone".to_vec();
    assert_eq!(open_v3(&m, &other).unwrap_err(), V3Error::UnknownUser);
}

#[test]
fn a_v3_auth_no_priv_trap_opens_and_a_tampered_one_does_not() {
    let m = v3("v3-authnopriv");
    assert_eq!(m.level, SecurityLevel::AuthNoPriv);
    let keys = trapper_keys(false, "trapper-auth-pw");
    let notice = open_v3(&m, &local(&m, &keys)).unwrap();
    assert_eq!(notice.trap_oid, "1.3.6.1.6.3.1.1.5.2");
    // One bit of the trap OID changed: the digest no longer matches.
    let mut bytes = packet("v3-authnopriv");
    let last = bytes.len() - 1;
    bytes[last] ^= 1;
    let Ok(Decoded::V3(tampered)) = decode_trap(&bytes) else {
        panic!("still decodes");
    };
    assert_eq!(
        open_v3(&tampered, &local(&tampered, &keys)).unwrap_err(),
        V3Error::WrongDigest
    );
    // A device configured for privacy takes it too (its user can authenticate).
    let with_priv = trapper_keys(true, "trapper-auth-pw");
    assert!(open_v3(&m, &local(&m, &with_priv)).is_ok());
}

#[test]
fn what_is_not_a_notification_is_refused() {
    assert!(matches!(decode_trap(b""), Err(DecodeError::Malformed(_))));
    assert!(matches!(
        decode_trap(b"GET / HTTP/1.1\r\n"),
        Err(DecodeError::Malformed(_))
    ));
    // A GET sent to the trap port.
    let get = async_snmp::message::CommunityMessage::v2c(
        b"public".to_vec(),
        async_snmp::pdu::RequestPdu::get(
            Version::V2c,
            1,
            &[async_snmp::Oid::from_slice(SYS_UP_TIME_0)],
        )
        .unwrap(),
    )
    .unwrap()
    .encode()
    .unwrap();
    assert_eq!(
        decode_trap(&get).unwrap_err(),
        DecodeError::NotANotification(PduType::GetRequest)
    );
    // An SNMPv3 discovery, as `snmpinform -v3` sends first.
    let discovery = async_snmp::message::V3Message::discovery_request(
        9,
        async_snmp::MessageSize::new(1472).unwrap(),
    )
    .unwrap()
    .encode()
    .unwrap();
    assert_eq!(
        decode_trap(&discovery).unwrap_err(),
        DecodeError::V3Discovery
    );
}

/// Feeds thousands of truncated and mutated real datagrams to the
/// decoder and to SNMPv3 opening: each gives a value or an error.
#[test]
fn mutated_and_truncated_datagrams_never_panic() {
    let keys = trapper_keys(true, "trapper-auth-pw");
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let mut decoded = 0;
    let mut fed = 0;
    for name in PACKETS {
        let real = packet(name);
        for len in 0..real.len() {
            // A cut datagram is never taken for a whole one.
            if let Ok(Decoded::V3(m)) = decode_trap(&real[..len]) {
                assert!(
                    open_v3(&m, &local(&m, &keys)).is_err(),
                    "{name} cut at {len}"
                );
            }
            fed += 1;
        }
        for _ in 0..800 {
            let bytes = mutate(&mut rng, &real);
            fed += 1;
            match decode_trap(&bytes) {
                Ok(Decoded::V3(m)) => {
                    decoded += 1;
                    let _ = open_v3(&m, &local(&m, &keys));
                }
                Ok(_) => decoded += 1,
                Err(_) => {}
            }
        }
    }
    assert!(fed > 4000, "{fed}");
    // The mutations are not all rejected up front: the later checks run too.
    assert!(decoded > 100, "{decoded} of {fed} decoded");
}
