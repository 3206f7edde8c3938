use super::series::{interface_series, rate_points};
use super::*;

fn v3_spec() -> DeviceSpec {
    DeviceSpec {
        name: "core-sw".into(),
        address: "192.0.2.1".into(),
        port: 161,
        credentials: Credentials::V3 {
            user: "poller".into(),
            auth: Some((AuthProtocol::Sha256, Secret::new("auth-secret-1"))),
            privacy: Some((PrivProtocol::Aes128, Secret::new("priv-secret-2"))),
        },
        poll_interval_seconds: 60,
        timeout_ms: 1000,
        retries: 2,
    }
}

#[test]
fn debug_of_a_spec_shows_no_secret() {
    let text = format!("{:?}", v3_spec());
    assert!(!text.contains("auth-secret-1"), "{text}");
    assert!(!text.contains("priv-secret-2"), "{text}");
    assert!(text.contains("<redacted>"), "{text}");
    let v2 = format!("{:?}", DeviceSpec::v2c("a", "b", "s3cret-community"));
    assert!(!v2.contains("s3cret-community"), "{v2}");
    assert_eq!(Secret::new("x").to_string(), "<redacted>");
}

#[test]
fn spec_round_trips_through_postcard_and_toml_with_defaults() {
    let spec = v3_spec();
    let bytes = postcard::to_stdvec(&spec).unwrap();
    assert_eq!(postcard::from_bytes::<DeviceSpec>(&bytes).unwrap(), spec);
    let parsed: DeviceSpec = toml::from_str(
        r#"
name = "printer"
address = "printer.example.org"
credentials = { v2c = { community = "public" } }
"#,
    )
    .unwrap();
    assert_eq!(parsed.port, 161);
    assert_eq!(parsed.poll_interval_seconds, 60);
    assert_eq!(parsed.timeout_ms, DEFAULT_TIMEOUT_MS);
    assert_eq!(parsed.retries, DEFAULT_RETRIES);
    assert_eq!(parsed.request_budget_ms(), 4_000);
    let v3: Credentials = toml::from_str::<toml::Table>(
        r#"v3 = { user = "u", auth = ["sha256", "aaaaaaaa"], privacy = ["aes128", "bbbbbbbb"] }"#,
    )
    .unwrap()
    .try_into()
    .unwrap();
    assert!(matches!(
        v3,
        Credentials::V3 {
            auth: Some((AuthProtocol::Sha256, _)),
            ..
        }
    ));
}

#[test]
fn inventory_round_trips_through_postcard() {
    let mut inv = DeviceInventory::default();
    inv.system.vendor = Some("Cisco".into());
    inv.supplies.push(PrinterSupply {
        level: SupplyAmount::SomeRemaining,
        ..PrinterSupply::default()
    });
    let bytes = postcard::to_stdvec(&inv).unwrap();
    assert_eq!(
        postcard::from_bytes::<DeviceInventory>(&bytes).unwrap(),
        inv
    );
}

#[test]
fn enterprise_numbers_name_vendors() {
    assert_eq!(enterprise_of("1.3.6.1.4.1.9.1.1208"), Some(9));
    assert_eq!(enterprise_of(".1.3.6.1.4.1.8072.3.2.10"), Some(8072));
    assert_eq!(enterprise_of("1.3.6.1.2.1.1"), None);
    assert_eq!(enterprise_of("1.3.6.1.4.1.x"), None);
    assert_eq!(vendor_for_enterprise(2636), Some("Juniper"));
    assert_eq!(vendor_for_enterprise(41112), Some("Ubiquiti"));
    assert_eq!(vendor_for_enterprise(4), None);
}

#[test]
fn supply_special_values_and_percent() {
    assert_eq!(SupplyAmount::from_raw(-1), SupplyAmount::NoRestriction);
    assert_eq!(SupplyAmount::from_raw(-2), SupplyAmount::Unknown);
    assert_eq!(SupplyAmount::from_raw(-3), SupplyAmount::SomeRemaining);
    assert_eq!(SupplyAmount::from_raw(-7), SupplyAmount::Unknown);
    assert_eq!(SupplyAmount::from_raw(40), SupplyAmount::Units(40));
    let pct = PrinterSupply::compute_percent;
    assert_eq!(
        pct(SupplyAmount::Units(40), SupplyAmount::Units(160)),
        Some(25)
    );
    assert_eq!(
        pct(SupplyAmount::Units(200), SupplyAmount::Units(100)),
        Some(100)
    );
    assert_eq!(pct(SupplyAmount::Units(1), SupplyAmount::Units(0)), None);
    assert_eq!(
        pct(SupplyAmount::SomeRemaining, SupplyAmount::Units(100)),
        None
    );
    assert_eq!(
        pct(SupplyAmount::Units(5), SupplyAmount::NoRestriction),
        None
    );
}

#[test]
fn codes_map_and_unknowns_fall_back() {
    assert_eq!(OperStatus::from_code(1), OperStatus::Up);
    assert_eq!(OperStatus::from_code(7), OperStatus::LowerLayerDown);
    assert_eq!(OperStatus::from_code(4), OperStatus::Unknown);
    assert_eq!(OperStatus::from_code(-9), OperStatus::Unknown);
    assert_eq!(EntityClass::from_code(6), EntityClass::PowerSupply);
    assert_eq!(EntityClass::from_code(99), EntityClass::Other);
    assert_eq!(StorageKind::from_code(4), StorageKind::FixedDisk);
    assert_eq!(StorageKind::from_code(0), StorageKind::Other);
}

#[test]
fn canonical_and_stable_forms_ignore_order_and_volatile_values() {
    let iface = |i: u32, up: bool| DeviceInterface {
        if_index: i,
        name: format!("eth{i}"),
        oper_status: if up { OperStatus::Up } else { OperStatus::Down },
        ..DeviceInterface::default()
    };
    let mut a = DeviceInventory {
        interfaces: vec![iface(2, true), iface(1, true)],
        ..DeviceInventory::default()
    };
    a.system.uptime_seconds = 10;
    let mut b = DeviceInventory {
        interfaces: vec![iface(1, false), iface(2, true)],
        ..DeviceInventory::default()
    };
    b.system.uptime_seconds = 70;
    a.canonicalize();
    b.canonicalize();
    assert_eq!(a.interfaces[0].if_index, 1);
    assert_ne!(a, b);
    assert_eq!(a.stable(), b.stable());
    b.interfaces[1].name = "renamed".into();
    assert_ne!(a.stable(), b.stable());
}

#[test]
fn series_are_labelled_like_host_series() {
    assert_eq!(
        interface_series(series::IN_BITS_PER_SECOND, "ge-0/0/1"),
        "interface.in_bits_per_second{if=ge-0/0/1}"
    );
    let rates = rates::InterfaceRates {
        in_bits_per_second: Some(8.0),
        out_errors_per_second: Some(0.5),
        ..rates::InterfaceRates::default()
    };
    assert_eq!(
        rate_points("eth0", &rates),
        vec![
            ("interface.in_bits_per_second{if=eth0}".to_owned(), 8.0),
            ("interface.out_errors_per_second{if=eth0}".to_owned(), 0.5),
        ]
    );
}
