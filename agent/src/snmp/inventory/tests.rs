use async_snmp::{Oid, Value, VarBind};
use atalaya_common::model::{EntityClass, OperStatus, StorageKind, SupplyAmount};
use proptest::prelude::*;

use super::*;
use crate::snmp::client::RequestError;
use crate::snmp::testvb::{at, s, vb};

fn switch() -> Vec<VarBind> {
    let (e, x) = (oids::IF_ENTRY, oids::IFX_ENTRY);
    vec![
        vb(oids::SYS_DESCR, s("Cisco IOS Software, C2960 15.0(2)SE")),
        vb(
            oids::SYS_OBJECT_ID,
            Value::ObjectIdentifier(Oid::from_slice(&[1, 3, 6, 1, 4, 1, 9, 1, 1208])),
        ),
        vb(oids::SYS_UP_TIME, Value::TimeTicks(123_456)),
        vb(oids::SYS_NAME, s("sw1")),
        vb(oids::SYS_LOCATION, s("Rack 4\0")),
        vb(oids::SYS_CONTACT, s("noc@example.org")),
        vb(&at(e, 2, &[10101]), s("GigabitEthernet1/0/1")),
        vb(&at(e, 3, &[10101]), Value::Integer(6)),
        vb(&at(e, 5, &[10101]), Value::Gauge32(1_000_000_000)),
        vb(
            &at(e, 6, &[10101]),
            Value::OctetString(vec![0, 0x1b, 0x2c, 0x3d, 0x4e, 0x5f].into()),
        ),
        vb(&at(e, 7, &[10101]), Value::Integer(1)),
        vb(&at(e, 8, &[10101]), Value::Integer(7)),
        vb(&at(e, 9, &[10101]), Value::TimeTicks(4_200)),
        vb(&at(x, 1, &[10101]), s("Gi1/0/1")),
        vb(&at(x, 15, &[10101]), Value::Gauge32(10_000)),
        vb(&at(x, 18, &[10101]), s("uplink")),
        vb(&at(e, 2, &[1]), s("Vlan1")),
        vb(&at(e, 5, &[1]), Value::Gauge32(0)),
        vb(&at(e, 6, &[1]), Value::OctetString(Vec::new().into())),
        vb(
            &at(oids::IP_ADDR_ENTRY, 2, &[10, 0, 0, 2]),
            Value::Integer(1),
        ),
        vb(
            &at(oids::IP_ADDR_ENTRY, 3, &[10, 0, 0, 2]),
            Value::IpAddress([255, 255, 255, 0]),
        ),
        vb(
            &at(
                oids::IP_ADDRESS_ENTRY,
                3,
                &[2, 16, 32, 1, 13, 184, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1],
            ),
            Value::Integer(1),
        ),
        vb(
            &at(
                oids::IP_ADDRESS_ENTRY,
                5,
                &[2, 16, 32, 1, 13, 184, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1],
            ),
            Value::ObjectIdentifier(Oid::from_slice(&[
                1, 3, 6, 1, 2, 1, 4, 32, 1, 5, 1, 2, 16, 32, 1, 13, 184, 0, 0, 0, 0, 0, 0, 0, 0, 0,
                0, 0, 0, 64,
            ])),
        ),
        vb(
            &at(oids::IP_ADDRESS_ENTRY, 3, &[1, 4, 10, 0, 0, 255]),
            Value::Integer(1),
        ),
        vb(
            &at(oids::IP_ADDRESS_ENTRY, 4, &[1, 4, 10, 0, 0, 255]),
            Value::Integer(3),
        ),
        vb(&at(oids::ENT_PHYSICAL_ENTRY, 5, &[1001]), Value::Integer(3)),
        vb(&at(oids::ENT_PHYSICAL_ENTRY, 11, &[1001]), s("FOC1234X0AB")),
        vb(
            &at(oids::ENT_PHYSICAL_ENTRY, 13, &[1001]),
            s("WS-C2960X-48TS-L"),
        ),
        vb(&at(oids::ENT_PHYSICAL_ENTRY, 4, &[1001]), Value::Integer(0)),
        vb(&at(oids::ENT_PHYSICAL_ENTRY, 5, &[1003]), Value::Integer(6)),
        vb(
            &at(oids::ENT_PHYSICAL_ENTRY, 4, &[1003]),
            Value::Integer(1001),
        ),
        vb(
            &at(oids::HR_STORAGE_ENTRY, 2, &[1]),
            Value::ObjectIdentifier(Oid::from_slice(&[1, 3, 6, 1, 2, 1, 25, 2, 1, 4])),
        ),
        vb(&at(oids::HR_STORAGE_ENTRY, 3, &[1]), s("/")),
        vb(&at(oids::HR_STORAGE_ENTRY, 4, &[1]), Value::Integer(4096)),
        vb(&at(oids::HR_STORAGE_ENTRY, 5, &[1]), Value::Integer(-1)),
        vb(&at(oids::HR_STORAGE_ENTRY, 6, &[1]), Value::Integer(1000)),
        vb(
            &at(oids::HR_PROCESSOR_ENTRY, 2, &[196608]),
            Value::Integer(12),
        ),
        vb(&at(oids::PRT_SUPPLIES_ENTRY, 6, &[1, 1]), s("Black Toner")),
        vb(&at(oids::PRT_SUPPLIES_ENTRY, 5, &[1, 1]), Value::Integer(3)),
        vb(
            &at(oids::PRT_SUPPLIES_ENTRY, 8, &[1, 1]),
            Value::Integer(8000),
        ),
        vb(
            &at(oids::PRT_SUPPLIES_ENTRY, 9, &[1, 1]),
            Value::Integer(2000),
        ),
        vb(
            &at(oids::PRT_SUPPLIES_ENTRY, 9, &[1, 2]),
            Value::Integer(-3),
        ),
    ]
}

#[test]
fn builds_every_part_of_a_device() {
    let inv = build(&switch());
    let sys = &inv.system;
    assert_eq!(sys.object_id, "1.3.6.1.4.1.9.1.1208");
    assert_eq!(sys.vendor.as_deref(), Some("Cisco"));
    assert_eq!(sys.uptime_seconds, 1234);
    assert_eq!(sys.location, "Rack 4");
    assert_eq!(inv.interfaces.len(), 2);
    let (vlan, gi) = (&inv.interfaces[0], &inv.interfaces[1]);
    assert_eq!(
        (
            vlan.if_index,
            vlan.name.as_str(),
            vlan.speed_bps,
            vlan.mac.as_deref()
        ),
        (1, "Vlan1", None, None)
    );
    assert_eq!(gi.name, "Gi1/0/1");
    assert_eq!(gi.speed_bps, Some(10_000_000_000));
    assert_eq!(gi.mac.as_deref(), Some("00:1b:2c:3d:4e:5f"));
    assert_eq!(gi.oper_status, OperStatus::LowerLayerDown);
    assert!(gi.admin_up);
    assert_eq!(gi.last_change_seconds, 42);
    // The subnet's broadcast address is left out.
    assert_eq!(inv.addresses.len(), 2);
    assert_eq!(
        (
            inv.addresses[0].address.as_str(),
            inv.addresses[0].prefix_len
        ),
        ("10.0.0.2", Some(24))
    );
    assert_eq!(
        (
            inv.addresses[1].address.as_str(),
            inv.addresses[1].prefix_len
        ),
        ("2001:db8::1", Some(64))
    );
    assert_eq!(inv.entities[0].class, EntityClass::Chassis);
    assert_eq!(inv.entities[0].model, "WS-C2960X-48TS-L");
    assert_eq!(inv.entities[1].contained_in, 1001);
    assert_eq!(inv.storage[0].kind, StorageKind::FixedDisk);
    // hrStorageSize overflowed Integer32 to -1: read back as 2³²−1 units.
    assert_eq!(inv.storage[0].size_bytes, 4_294_967_295 * 4096);
    assert_eq!(inv.storage[0].used_bytes, 4_096_000);
    assert_eq!(inv.processors[0].load_percent, Some(12));
    assert_eq!(inv.supplies[0].percent, Some(25));
    assert_eq!(inv.supplies[1].level, SupplyAmount::SomeRemaining);
    assert_eq!(inv.supplies[1].percent, None);
}

#[test]
fn binding_order_does_not_matter() {
    let mut reversed = switch();
    reversed.reverse();
    assert_eq!(build(&reversed), build(&switch()));
}

#[test]
fn garbage_shapes_are_skipped() {
    let e = oids::IF_ENTRY;
    let junk = vec![
        vb(&[1, 3, 6, 1, 2, 1, 2, 2, 1], s("no column")),
        vb(&at(e, 2, &[]), s("no index")),
        vb(&at(e, 2, &[1, 2]), s("two arcs")),
        vb(&at(e, 3, &[5]), s("type as text")),
        vb(&at(e, 5, &[5]), Value::Integer(-40)),
        vb(&at(e, 6, &[5]), Value::OctetString(vec![1; 300].into())),
        vb(&at(e, 8, &[5]), Value::Counter64(u64::MAX)),
        vb(
            &at(e, 2, &[6]),
            Value::OctetString(vec![0xff, 0xfe, 0].into()),
        ),
        vb(
            &at(oids::IP_ADDR_ENTRY, 2, &[300, 1, 1, 1]),
            Value::Integer(1),
        ),
        vb(
            &at(oids::IP_ADDR_ENTRY, 3, &[10, 1, 1, 1]),
            Value::IpAddress([255, 0, 255, 0]),
        ),
        vb(
            &at(oids::IP_ADDRESS_ENTRY, 3, &[1, 9, 1, 2, 3, 4]),
            Value::Integer(1),
        ),
        vb(&at(oids::IP_ADDRESS_ENTRY, 3, &[1]), Value::Integer(1)),
        vb(
            &at(oids::HR_STORAGE_ENTRY, 2, &[1]),
            Value::ObjectIdentifier(Oid::from_slice(&[1, 3])),
        ),
        vb(&at(oids::HR_PROCESSOR_ENTRY, 2, &[1]), Value::Integer(250)),
        vb(&at(oids::PRT_SUPPLIES_ENTRY, 9, &[1]), Value::Integer(5)),
        vb(oids::SYS_OBJECT_ID, s("not an oid")),
        vb(oids::SYS_UP_TIME, Value::Counter32(5)),
        vb(oids::SYS_DESCR, Value::EndOfMibView),
    ];
    let inv = build(&junk);
    assert_eq!(inv.interfaces.len(), 2);
    let five = &inv.interfaces[0];
    assert_eq!(
        (five.if_type, five.speed_bps, five.mac.as_deref()),
        (0, None, None)
    );
    assert_eq!(five.oper_status, OperStatus::Unknown);
    assert_eq!(inv.interfaces[1].name, "\u{fffd}\u{fffd}");
    // The 10.1.1.1 row has a mask but no interface: not an address.
    assert!(inv.addresses.is_empty());
    assert_eq!(inv.storage[0].kind, StorageKind::Other);
    assert_eq!(inv.processors[0].load_percent, None);
    assert!(inv.supplies.is_empty());
    assert_eq!(inv.system.object_id, "");
    assert_eq!(inv.system.uptime_seconds, 0);
}

fn any_value() -> impl Strategy<Value = Value> {
    prop_oneof![
        any::<i32>().prop_map(Value::Integer),
        proptest::collection::vec(any::<u8>(), 0..40).prop_map(|b| Value::OctetString(b.into())),
        Just(Value::Null),
        proptest::collection::vec(any::<u32>(), 0..20)
            .prop_map(|a| Value::ObjectIdentifier(Oid::new(a))),
        any::<[u8; 4]>().prop_map(Value::IpAddress),
        any::<u32>().prop_map(Value::Counter32),
        any::<u32>().prop_map(Value::Gauge32),
        any::<u32>().prop_map(Value::TimeTicks),
        any::<u64>().prop_map(Value::Counter64),
        Just(Value::NoSuchObject),
        Just(Value::EndOfMibView),
    ]
}

fn any_oid() -> impl Strategy<Value = Oid> {
    let entries = [
        oids::IF_ENTRY,
        oids::IFX_ENTRY,
        oids::IP_ADDR_ENTRY,
        oids::IP_ADDRESS_ENTRY,
        oids::ENT_PHYSICAL_ENTRY,
        oids::HR_STORAGE_ENTRY,
        oids::HR_PROCESSOR_ENTRY,
        oids::PRT_SUPPLIES_ENTRY,
        &[1, 3, 6, 1, 2, 1, 1],
    ];
    (
        proptest::sample::select(entries.to_vec()),
        proptest::collection::vec(prop_oneof![0u32..40, any::<u32>()], 0..24),
    )
        .prop_map(|(entry, tail)| Oid::new(entry.iter().copied().chain(tail)))
}

proptest! {
    #[test]
    fn any_bindings_build_without_panicking(
        bindings in proptest::collection::vec((any_oid(), any_value()), 0..60),
    ) {
        let vbs: Vec<VarBind> = bindings.into_iter().map(|(oid, value)| VarBind { oid, value }).collect();
        let inv = build(&vbs);
        let mut sorted = inv.clone();
        sorted.canonicalize();
        prop_assert_eq!(sorted, inv);
    }
}

/// A device answering from `switch()`'s bindings, one row per column and
/// request (as a device whose answers are cut short), and, when
/// `break_entities`, failing once the entity table's walk is past its
/// first row.
struct Device {
    mib: std::collections::BTreeMap<Oid, Value>,
    break_entities: bool,
}

impl Device {
    fn new(break_entities: bool) -> Self {
        Device {
            mib: switch().into_iter().map(|vb| (vb.oid, vb.value)).collect(),
            break_entities,
        }
    }

    fn next(&self, after: &Oid) -> VarBind {
        use std::ops::Bound::{Excluded, Unbounded};
        match self.mib.range((Excluded(after.clone()), Unbounded)).next() {
            Some((oid, value)) => VarBind {
                oid: oid.clone(),
                value: value.clone(),
            },
            None => VarBind {
                oid: after.clone(),
                value: Value::EndOfMibView,
            },
        }
    }
}

impl SnmpSource for Device {
    fn supports_bulk(&self) -> bool {
        true
    }

    async fn get(&self, oids: &[Oid]) -> Result<Vec<VarBind>, RequestError> {
        Ok(oids.iter().map(|o| self.next(o)).collect())
    }

    async fn get_next(&self, oids: &[Oid]) -> Result<Vec<VarBind>, RequestError> {
        Ok(oids.iter().map(|o| self.next(o)).collect())
    }

    async fn get_bulk(&self, oids: &[Oid], _reps: u32) -> Result<Vec<VarBind>, RequestError> {
        let entities = Oid::from_slice(oids::ENT_PHYSICAL_ENTRY);
        let past_first_row = |o: &Oid| o.starts_with(&entities) && o.len() > entities.len() + 1;
        if self.break_entities && oids.iter().any(past_first_row) {
            return Err(RequestError::NoSuchName);
        }
        Ok(oids.iter().map(|o| self.next(o)).collect())
    }
}

#[tokio::test]
async fn a_walk_reads_what_building_from_its_bindings_reads() {
    let system: Vec<VarBind> = switch().into_iter().take(6).collect();
    let mut state = WalkState::default();
    let (inv, failed) = walk(
        &Device::new(false),
        &mut state,
        WalkLimits::default(),
        &system,
    )
    .await
    .unwrap();
    assert!(failed.is_empty());
    assert_eq!(inv, build(&switch()));
}

#[tokio::test]
async fn a_table_whose_walk_fails_part_way_is_left_empty() {
    let system: Vec<VarBind> = switch().into_iter().take(6).collect();
    let mut state = WalkState::default();
    let (inv, failed) = walk(
        &Device::new(true),
        &mut state,
        WalkLimits::default(),
        &system,
    )
    .await
    .unwrap();
    let failed: Vec<&str> = failed.iter().map(|(table, _)| *table).collect();
    assert_eq!(failed, vec!["entities"]);
    // Its first row was read before the failure, and is not kept.
    assert!(inv.entities.is_empty());
    let whole = build(&switch());
    assert_eq!(inv.interfaces, whole.interfaces);
    assert_eq!(inv.storage, whole.storage);
    assert_eq!(inv.system, whole.system);
}
