use async_snmp::{Oid, Value, VarBind};
use atalaya_common::model::{DeviceInterface, IdKind, NeighbourProtocol};
use proptest::prelude::*;

use super::*;
use crate::snmp::testvb::{at, b, s, vb};

fn iface(if_index: u32, name: &str, descr: &str, mac: Option<&str>) -> DeviceInterface {
    DeviceInterface {
        if_index,
        name: name.into(),
        descr: descr.into(),
        mac: mac.map(str::to_owned),
        ..DeviceInterface::default()
    }
}

/// One LLDP remote entry on local port `port`: chassis by MAC, port by name.
fn remote(port: u32, index: u32, name: &str, port_name: &str) -> Vec<VarBind> {
    let e = oids::LLDP_REM_ENTRY;
    let i = [0, port, index];
    vec![
        vb(&at(e, 4, &i), Value::Integer(4)),
        vb(&at(e, 5, &i), b(&[0, 0x1b, 0x54, 0xbb, 0x02, port as u8])),
        vb(&at(e, 6, &i), Value::Integer(5)),
        vb(&at(e, 7, &i), s(port_name)),
        vb(&at(e, 8, &i), s("uplink")),
        vb(&at(e, 9, &i), s(name)),
        vb(
            &at(e, 10, &i),
            s("Cisco IOS Software, C2960X\nTechnical Support"),
        ),
        vb(&at(e, 12, &i), b(&[0x20, 0x00])),
    ]
}

fn local_port(port: u32, subtype: i32, id: Value, descr: &str) -> Vec<VarBind> {
    let e = oids::LLDP_LOC_PORT_ENTRY;
    vec![
        vb(&at(e, 2, &[port]), Value::Integer(subtype)),
        vb(&at(e, 3, &[port]), id),
        vb(&at(e, 4, &[port]), s(descr)),
    ]
}

/// A switch whose LLDP ports are bridge port numbers, named by a local
/// text that is no interface's name: only BRIDGE-MIB maps them. Its
/// ifIndex 1 (Vlan1) must not catch bridge port 1.
#[test]
fn a_bridge_port_numbered_switch_is_mapped_through_the_bridge_mib() {
    let interfaces = [
        iface(1, "Vlan1", "Vlan1", None),
        iface(49, "gi1", "Gigabit port 1", None),
        iface(50, "gi2", "Gigabit port 2", None),
    ];
    let mut bindings = [
        local_port(1, 7, s("1"), "Port 1"),
        local_port(2, 7, s("2"), "Port 2"),
        remote(1, 3, "core-sw", "Gi0/1"),
    ]
    .concat();
    bindings.push(vb(
        &at(oids::DOT1D_BASE_PORT_ENTRY, 2, &[1]),
        Value::Integer(49),
    ));
    bindings.push(vb(
        &at(oids::DOT1D_BASE_PORT_ENTRY, 2, &[2]),
        Value::Integer(50),
    ));
    let t = NeighbourTables::parse(&bindings);
    let (i, how) = t.map_local_port(1, &interfaces).unwrap();
    assert_eq!((i.if_index, how), (49, PortMatch::BridgePort));
    assert_eq!(t.map_local_port(2, &interfaces).unwrap().0.name, "gi2");
    let list = t.neighbours(&interfaces);
    assert_eq!(list.neighbours.len(), 1);
    let n = &list.neighbours[0];
    assert_eq!(n.local_if_index, Some(49));
    assert_eq!(n.local_if_name.as_deref(), Some("gi1"));
    assert_eq!(n.local_port, "1");
    assert_eq!(n.remote_name(), "core-sw");
    assert_eq!(n.remote_port(), "Gi0/1");
    assert_eq!(n.chassis_id.kind, IdKind::MacAddress);
    assert_eq!(n.chassis_id.value, "00:1b:54:bb:02:01");
    assert_eq!(n.platform, "Cisco IOS Software, C2960X");
    assert_eq!(n.capabilities, ["bridge"]);
    // Without the bridge table, port 1 would be ifIndex 1: the table matters.
    let without: Vec<VarBind> = bindings
        .into_iter()
        .filter(|v| split(&v.oid, oids::DOT1D_BASE_PORT_ENTRY).is_none())
        .collect();
    let t = NeighbourTables::parse(&without);
    let (i, how) = t.map_local_port(1, &interfaces).unwrap();
    assert_eq!((i.name.as_str(), how), ("Vlan1", PortMatch::IfIndex));
}

/// A switch whose LLDP port ids are interface names, and whose port
/// numbers are no ifIndex.
#[test]
fn an_interface_name_port_id_maps_by_name_then_descr_then_alias() {
    let mut aliased = iface(10103, "Gi1/0/3", "GigabitEthernet1/0/3", None);
    aliased.alias = "to-printer".into();
    let interfaces = [
        iface(10101, "Gi1/0/1", "GigabitEthernet1/0/1", None),
        iface(10102, "Gi1/0/2", "GigabitEthernet1/0/2", None),
        aliased,
    ];
    let bindings = [
        local_port(1, 5, s("Gi1/0/1"), ""),
        local_port(2, 5, s("GigabitEthernet1/0/2"), ""),
        local_port(3, 7, s("to-printer"), ""),
        remote(1, 1, "access-1", "Gi0/48"),
        remote(2, 1, "access-2", "Gi0/48"),
    ]
    .concat();
    let t = NeighbourTables::parse(&bindings);
    let got: Vec<(u32, PortMatch)> = (1..=3)
        .map(|p| {
            let (i, how) = t.map_local_port(p, &interfaces).unwrap();
            (i.if_index, how)
        })
        .collect();
    assert_eq!(
        got,
        [
            (10101, PortMatch::PortId),
            (10102, PortMatch::PortId),
            (10103, PortMatch::PortId)
        ]
    );
    let names: Vec<_> = t
        .neighbours(&interfaces)
        .neighbours
        .iter()
        .map(|n| (n.local_name().to_owned(), n.remote_name().to_owned()))
        .collect();
    assert_eq!(
        names,
        [
            ("Gi1/0/1".to_owned(), "access-1".to_owned()),
            ("Gi1/0/2".to_owned(), "access-2".to_owned())
        ]
    );
}

#[test]
fn a_mac_port_id_maps_only_to_a_unique_mac_and_a_description_comes_next() {
    let interfaces = [
        iface(2, "veth-a", "veth-a", Some("76:25:27:37:d2:84")),
        iface(3, "eth1", "eth1", Some("00:00:00:00:00:01")),
        iface(4, "eth2", "eth2", Some("00:00:00:00:00:01")),
    ];
    let bindings = [
        local_port(7, 3, b(&[0x76, 0x25, 0x27, 0x37, 0xd2, 0x84]), ""),
        // Two interfaces share this MAC: the description decides.
        local_port(8, 3, b(&[0, 0, 0, 0, 0, 1]), "eth2"),
    ]
    .concat();
    let t = NeighbourTables::parse(&bindings);
    let (i, how) = t.map_local_port(7, &interfaces).unwrap();
    assert_eq!((i.if_index, how), (2, PortMatch::PortId));
    let (i, how) = t.map_local_port(8, &interfaces).unwrap();
    assert_eq!((i.if_index, how), (4, PortMatch::PortDescr));
}

#[test]
fn a_port_no_rule_maps_is_kept_with_its_port_id() {
    let interfaces = [iface(1, "eth0", "eth0", None)];
    let bindings = [
        local_port(60, 7, s("slot9-port2"), "module 9 port 2"),
        remote(60, 1, "", "ge-0/0/1"),
    ]
    .concat();
    let t = NeighbourTables::parse(&bindings);
    assert!(t.map_local_port(60, &interfaces).is_none());
    let list = t.neighbours(&interfaces);
    let n = &list.neighbours[0];
    assert_eq!((n.local_if_index, n.local_if_name.as_deref()), (None, None));
    assert_eq!(n.local_port, "slot9-port2");
    assert_eq!(n.local_name(), "slot9-port2");
    // No system name: the chassis id stands for it.
    assert_eq!(n.remote_name(), "00:1b:54:bb:02:3c");
    // A port without a local port row is known by its number.
    let t = NeighbourTables::parse(&remote(61, 1, "x", "y"));
    assert_eq!(t.neighbours(&interfaces).neighbours[0].local_port, "61");
}

#[test]
fn ids_are_decoded_by_their_subtype() {
    let mac = [0x00, 0x1b, 0x54, 0xaa, 0x01, 0x00];
    assert_eq!(decode_id(IdKind::MacAddress, &mac), "00:1b:54:aa:01:00");
    // A MAC of the wrong length is shown as it is.
    assert_eq!(decode_id(IdKind::MacAddress, &[1, 2, 3]), "01:02:03");
    assert_eq!(
        decode_id(IdKind::NetworkAddress, &[1, 192, 0, 2, 7]),
        "192.0.2.7"
    );
    let mut v6 = vec![2, 0x20, 0x01, 0x0d, 0xb8];
    v6.extend([0; 11]);
    v6.push(1);
    assert_eq!(decode_id(IdKind::NetworkAddress, &v6), "2001:db8::1");
    assert_eq!(decode_id(IdKind::NetworkAddress, &[9, 1]), "09:01");
    assert_eq!(decode_id(IdKind::InterfaceName, b"Gi1/0/1\0"), "Gi1/0/1");
    assert_eq!(decode_id(IdKind::Local, b"\x01\x02"), "01:02");
    assert_eq!(decode_id(IdKind::ChassisComponent, &[0xff, 0xfe]), "ff:fe");
    assert_eq!(IdKind::of_chassis_subtype(4), IdKind::MacAddress);
    assert_eq!(IdKind::of_port_subtype(3), IdKind::MacAddress);
    assert_eq!(IdKind::of_port_subtype(5), IdKind::InterfaceName);
    assert_eq!(IdKind::of_chassis_subtype(6), IdKind::InterfaceName);
    assert_eq!(IdKind::of_port_subtype(99), IdKind::Other);
}

#[test]
fn the_local_chassis_management_addresses_and_cdp_entries_are_read() {
    let interfaces = [iface(10101, "Gi1/0/1", "GigabitEthernet1/0/1", None)];
    let mut bindings = vec![
        vb(&[1, 0, 8802, 1, 1, 2, 1, 3, 1, 0], Value::Integer(4)),
        vb(
            &[1, 0, 8802, 1, 1, 2, 1, 3, 2, 0],
            b(&[0x00, 0x1b, 0x54, 0xaa, 0x01, 0x00]),
        ),
    ];
    bindings.extend(local_port(1, 5, s("Gi1/0/1"), ""));
    bindings.extend(remote(1, 2, "access-1", "Gi0/48"));
    let m = oids::LLDP_REM_MAN_ADDR_ENTRY;
    // A link-local IPv6 address, then an IPv4 one: IPv4 is preferred.
    let mut v6 = vec![3, 0, 1, 2, 2, 16, 0xfe, 0x80];
    v6.extend([0; 13]);
    v6.push(1);
    bindings.push(vb(&at(m, 3, &v6), Value::Integer(2)));
    bindings.push(vb(
        &at(m, 3, &[0, 1, 2, 1, 4, 192, 0, 2, 12]),
        Value::Integer(2),
    ));
    let c = oids::CDP_CACHE_ENTRY;
    bindings.extend([
        vb(&at(c, 3, &[10101, 4]), Value::Integer(1)),
        vb(&at(c, 4, &[10101, 4]), b(&[192, 0, 2, 99])),
        vb(&at(c, 6, &[10101, 4]), s("phone-7.example.org")),
        vb(&at(c, 7, &[10101, 4]), s("Port 1")),
        vb(&at(c, 8, &[10101, 4]), s("Cisco IP Phone 7962")),
        vb(&at(c, 9, &[10101, 4]), b(&[0, 0, 0x02, 0x90])),
        vb(&at(c, 6, &[77, 1]), Value::NoSuchObject),
    ]);
    let t = NeighbourTables::parse(&bindings);
    assert!(t.has_lldp_remotes());
    let list = t.neighbours(&interfaces);
    assert_eq!(
        list.chassis_id,
        Some(PeerId {
            kind: IdKind::MacAddress,
            value: "00:1b:54:aa:01:00".into()
        })
    );
    assert_eq!(list.neighbours.len(), 2, "{list:#?}");
    let lldp = list
        .neighbours
        .iter()
        .find(|n| n.protocol == NeighbourProtocol::Lldp)
        .unwrap();
    assert_eq!(lldp.management_address.as_deref(), Some("192.0.2.12"));
    let cdp = list
        .neighbours
        .iter()
        .find(|n| n.protocol == NeighbourProtocol::Cdp)
        .unwrap();
    assert_eq!(cdp.local_if_name.as_deref(), Some("Gi1/0/1"));
    assert_eq!(cdp.remote_name(), "phone-7.example.org");
    assert_eq!(cdp.remote_port(), "Port 1");
    assert_eq!(cdp.management_address.as_deref(), Some("192.0.2.99"));
    assert_eq!(cdp.platform, "Cisco IP Phone 7962");
    assert_eq!(cdp.capabilities, ["host", "phone", "cvta"]);
}

#[test]
fn the_newest_time_mark_of_a_remote_entry_wins() {
    let mut old = remote(1, 1, "before", "p1");
    for v in &mut old {
        let mut arcs = v.oid.arcs().to_vec();
        let mark = oids::LLDP_REM_ENTRY.len() + 1;
        arcs[mark] = 5;
        v.oid = Oid::new(arcs);
    }
    let mut new = remote(1, 1, "after", "p1");
    for v in &mut new {
        let mut arcs = v.oid.arcs().to_vec();
        let mark = oids::LLDP_REM_ENTRY.len() + 1;
        arcs[mark] = 900;
        v.oid = Oid::new(arcs);
    }
    let t = NeighbourTables::parse(&[new, old].concat());
    let list = t.neighbours(&[]);
    assert_eq!(list.neighbours.len(), 1);
    assert_eq!(list.neighbours[0].sys_name, "after");
}

fn any_value() -> impl Strategy<Value = Value> {
    prop_oneof![
        any::<i32>().prop_map(Value::Integer),
        proptest::collection::vec(any::<u8>(), 0..24).prop_map(|v| Value::OctetString(v.into())),
        Just(Value::NoSuchObject),
        any::<u32>().prop_map(Value::Gauge32),
    ]
}

proptest! {
    #[test]
    fn any_bindings_under_the_tables_parse_without_panic(
        rows in proptest::collection::vec(
            (0usize..6, 0u32..14, proptest::collection::vec(any::<u32>(), 0..8), any_value()),
            0..40,
        ),
        kind in 0i64..10,
        id in proptest::collection::vec(any::<u8>(), 0..24),
    ) {
        let entries = [
            oids::LLDP_LOC_PORT_ENTRY,
            oids::LLDP_REM_ENTRY,
            oids::LLDP_REM_MAN_ADDR_ENTRY,
            oids::CDP_CACHE_ENTRY,
            oids::DOT1D_BASE_PORT_ENTRY,
            &oids::LLDP_LOC_CHASSIS_ID[..8],
        ];
        let bindings: Vec<VarBind> = rows
            .into_iter()
            .map(|(e, col, idx, v)| vb(&at(entries[e], col, &idx), v))
            .collect();
        let t = NeighbourTables::parse(&bindings);
        let _ = t.neighbours(&[iface(1, "a", "a", Some("00:00:00:00:00:01"))]);
        let _ = decode_id(IdKind::of_port_subtype(kind), &id);
        let _ = decode_id(IdKind::of_chassis_subtype(kind), &id);
    }
}
