//! Golden bytes of the wire form of an inventory, a delta, and the frames
//! of certificate renewal.
//!
//! The collector stores and decodes what agents of older versions sent, so a
//! change to the encoding must be deliberate: when these bytes change, bump
//! the protocol version and regenerate the files with
//! `ATALAYA_BLESS=1 cargo test -p atalaya-common --test wire_golden`.

#![allow(clippy::unwrap_used)] // a failed unwrap is a failed test

use std::net::{IpAddr, Ipv4Addr};
use std::path::PathBuf;

use atalaya_common::diff::{self, InventoryDelta};
use atalaya_common::model::*;
use atalaya_common::proto::{self, Message, RenewRequest, Renewed, UserReport};

fn sample_inventory() -> Inventory {
    let mut inv = Inventory::default();
    inv.host.hostname = "web01".into();
    inv.host.machine_id = Some("0e8a4c1f5b6d4e7fa1b2c3d4e5f60718".into());
    inv.host.boot_time = Some(Timestamp::from_secs(1_795_000_000));
    inv.host.virtualization.kind = MachineKind::Virtual;
    inv.host.virtualization.hypervisor = Some("kvm".into());
    inv.os.id = Some("rocky".into());
    inv.os.version_id = Some("9.4".into());
    inv.hardware.cpu.logical_cores = 4;
    inv.hardware.memory.total_bytes = 8 << 30;
    inv.software.manager = Some("rpm".into());
    inv.software.packages = vec![
        Package {
            name: "bash".into(),
            version: "5.1.8-9.el9".into(),
            arch: Some("x86_64".into()),
            vendor: Some("Rocky Enterprise Software Foundation".into()),
            installed_at: Some(Timestamp::from_secs(1_794_000_000)),
            size_bytes: Some(7_738_634),
            source: Some("bash-5.1.8-9.el9.src.rpm".into()),
        },
        Package {
            name: "openssh-server".into(),
            version: "8.7p1-38.el9".into(),
            arch: Some("x86_64".into()),
            ..Package::default()
        },
    ];
    inv.network.interfaces = vec![Interface {
        name: "eth0".into(),
        mac: Some("52:54:00:6b:1e:21".into()),
        mtu: Some(1500),
        state: "up".into(),
        addresses: vec![IpNet {
            address: IpAddr::V4(Ipv4Addr::new(10, 10, 4, 21)),
            prefix: 24,
        }],
        ..Interface::default()
    }];
    inv.services.listeners = vec![Listener {
        protocol: Protocol::Tcp,
        address: IpAddr::V4(Ipv4Addr::UNSPECIFIED),
        port: 22,
        pid: Some(1021),
        process: Some("sshd".into()),
    }];
    inv.canonicalize();
    inv
}

fn upgraded(inv: &Inventory) -> Inventory {
    let mut newer = inv.clone();
    newer.software.packages[1].version = "8.7p1-43.el9".into();
    newer
}

/// Compares `bytes` with the hex file `name`, or rewrites it when blessing.
fn check(name: &str, bytes: &[u8]) {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/golden")
        .join(name);
    let hex: String = bytes
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect::<Vec<_>>()
        .chunks(32)
        .map(|c| c.concat() + "\n")
        .collect();
    if std::env::var_os("ATALAYA_BLESS").is_some() {
        std::fs::write(&path, &hex).unwrap();
        return;
    }
    let golden =
        std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    assert_eq!(
        hex, golden,
        "the wire form of {name} changed; see this file's header"
    );
}

#[test]
fn inventory_wire_bytes_are_stable() {
    let inv = sample_inventory();
    let bytes = postcard::to_stdvec(&inv).unwrap();
    check("inventory.postcard.hex", &bytes);
    assert_eq!(postcard::from_bytes::<Inventory>(&bytes).unwrap(), inv);
}

#[test]
fn delta_wire_bytes_are_stable() {
    let inv = sample_inventory();
    let delta = diff::diff(&inv, &upgraded(&inv));
    let bytes = postcard::to_stdvec(&delta).unwrap();
    check("delta-one-package-upgraded.postcard.hex", &bytes);
    assert_eq!(
        postcard::from_bytes::<InventoryDelta>(&bytes).unwrap(),
        delta
    );
}

/// A short stand-in for a DER certificate request: the bytes are opaque to
/// the codec, so their content does not matter here.
const CSR_DER: &[u8] = &[0x30, 0x82, 0x01, 0x0a, 0x02, 0x01, 0x00];

#[test]
fn renew_request_frame_is_stable() {
    let message = Message::RenewRequest(RenewRequest {
        csr_der: CSR_DER.to_vec(),
    });
    let frame = proto::encode(&message).unwrap();
    assert_eq!(&frame[..4], &[0, 1, 8, 0], "version 1, kind 8, no flags");
    check("frame-renew-request.hex", &frame);
    assert_eq!(proto::decode(&frame).unwrap(), Some((message, frame.len())));
}

#[test]
fn renewed_frame_is_stable() {
    let message = Message::Renewed(Renewed {
        certificate_pem: "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n".into(),
    });
    let frame = proto::encode(&message).unwrap();
    assert_eq!(&frame[..4], &[0, 1, 19, 0], "version 1, kind 19, no flags");
    check("frame-renewed.hex", &frame);
    assert_eq!(proto::decode(&frame).unwrap(), Some((message, frame.len())));
}

#[test]
fn user_report_frame_is_stable() {
    let message = Message::UserReport(UserReport {
        seq: 4242,
        id: "19a2b3c4d5e-3f1".into(),
        written_at: Timestamp(1_764_331_200_000),
        text: "the printer on the 2nd floor does not print".into(),
        user: Some("maria".into()),
        uid: Some(1000),
    });
    let frame = proto::encode(&message).unwrap();
    assert_eq!(&frame[..4], &[0, 1, 9, 0], "version 1, kind 9, no flags");
    check("frame-user-report.hex", &frame);
    assert_eq!(proto::decode(&frame).unwrap(), Some((message, frame.len())));
}

#[test]
fn json_form_has_the_eight_documented_keys() {
    let value = serde_json::to_value(sample_inventory()).unwrap();
    let keys: Vec<&str> = value
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    let mut expected = [
        "host", "os", "hardware", "software", "network", "storage", "users", "services",
    ];
    expected.sort();
    let mut keys = keys;
    keys.sort();
    assert_eq!(keys, expected);
    assert_eq!(value["host"]["boot_time"], "2026-11-18T11:06:40Z");
    assert_eq!(
        value["network"]["interfaces"][0]["addresses"][0]["address"],
        "10.10.4.21"
    );
    let back: Inventory = serde_json::from_value(value).unwrap();
    assert_eq!(back, sample_inventory());
}

#[test]
fn truncated_wire_bytes_are_an_error_not_a_panic() {
    let bytes = postcard::to_stdvec(&sample_inventory()).unwrap();
    for len in 0..bytes.len() {
        assert!(
            postcard::from_bytes::<Inventory>(&bytes[..len]).is_err(),
            "prefix of {len} bytes decoded"
        );
    }
}
