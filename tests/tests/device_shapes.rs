//! Device shapes no local daemon has, served by SNMP Simulator from data
//! generated here: a 48-port switch with 64-bit counters and ENTITY-MIB
//! (chassis, modules, power supplies, fans), a printer with its supplies,
//! a device with 32-bit counters only; and a scripted device that answers
//! `tooBig` to large GETBULKs. The inventory polled equals the data; rates
//! between two polls equal the counters' moves over the poll interval.
//! Last, an ENTITY-MIB change seen through a real agent and collector is
//! an inventory change with before and after, and a hardware-change
//! incident; and a printer's paper trays reach the collector's device detail.

#![allow(clippy::unwrap_used)] // a failed unwrap is a failed test

use std::sync::OnceLock;
use std::time::Duration;

use atalaya_agent::snmp::{DevicePoll, Poller, PollerConfig};
use atalaya_common::model::series::{self, interface_series};
use atalaya_common::model::{
    DeviceInterface, DeviceInventory, DeviceSpec, DeviceState, DeviceSystem, EntityClass,
    OperStatus, PaperTray, PhysicalEntity, PrinterSupply, SupplyAmount,
};
use atalaya_tests::harness::{Collector, agent, eventually};
use atalaya_tests::scripted::{Fault, ScriptedDevice, Switch};
use atalaya_tests::snmpsim::{DataFile, SimValue, SnmpSim};
use serde_json::Value;

const SWITCH: &str = "switch48";
const PRINTER: &str = "printer";
const LEGACY: &str = "legacy32";
const CHANGING: &str = "changing";

const SYS: &[u32] = &[1, 3, 6, 1, 2, 1, 1];
const IF_ENTRY: &[u32] = &[1, 3, 6, 1, 2, 1, 2, 2, 1];
const IFX_ENTRY: &[u32] = &[1, 3, 6, 1, 2, 1, 31, 1, 1, 1];
const ENT_ENTRY: &[u32] = &[1, 3, 6, 1, 2, 1, 47, 1, 1, 1, 1];
const SUPPLIES_ENTRY: &[u32] = &[1, 3, 6, 1, 2, 1, 43, 11, 1, 1];
const INPUT_ENTRY: &[u32] = &[1, 3, 6, 1, 2, 1, 43, 8, 2, 1];

fn oid(prefix: &[u32], rest: &[u32]) -> Vec<u32> {
    [prefix, rest].concat()
}

fn s(text: &str) -> SimValue {
    SimValue::Str(text.to_owned())
}

/// The simulator, once for this test binary, serving every device here.
fn sim() -> &'static SnmpSim {
    static SIM: OnceLock<SnmpSim> = OnceLock::new();
    SIM.get_or_init(|| {
        let (switch, _) = switch48();
        let (printer, _) = printer();
        let (legacy, _) = legacy32();
        let (changing, _) = switch_with_entities(4, "sw-changing", true);
        SnmpSim::start(&[
            (SWITCH, &switch),
            (PRINTER, &printer),
            (LEGACY, &legacy),
            (CHANGING, &changing),
        ])
    })
}

fn spec(name: &str, community: &str, port: u16) -> DeviceSpec {
    let mut s = DeviceSpec::v2c(name, "127.0.0.1", community);
    s.port = port;
    s.timeout_ms = 2_000;
    s.retries = 1;
    s
}

/// The system group of a device, in the data and as the inventory reads it.
fn system(data: &mut DataFile, name: &str, descr: &str, object_id: &str) -> DeviceSystem {
    data.put(&oid(SYS, &[1, 0]), s(descr));
    data.put(&oid(SYS, &[2, 0]), SimValue::Oid(object_id.to_owned()));
    data.put_clock(&oid(SYS, &[3, 0]), 8_640_000);
    data.put(&oid(SYS, &[4, 0]), s("noc@example.org"));
    data.put(&oid(SYS, &[5, 0]), s(name));
    data.put(&oid(SYS, &[6, 0]), s("Hall B, rack 4"));
    let enterprise = atalaya_common::model::enterprise_of(object_id);
    DeviceSystem {
        descr: descr.to_owned(),
        object_id: object_id.to_owned(),
        enterprise,
        vendor: enterprise
            .and_then(atalaya_common::model::vendor_for_enterprise)
            .map(str::to_owned),
        name: name.to_owned(),
        location: "Hall B, rack 4".to_owned(),
        contact: "noc@example.org".to_owned(),
        uptime_seconds: 86_400,
    }
}

/// Compares an inventory polled with the one generated; the device's
/// clock has advanced since the simulator started.
fn assert_inventory(got: &DeviceInventory, want: &DeviceInventory) {
    let up = got.system.uptime_seconds;
    assert!((86_400..86_400 + 600).contains(&up), "uptime {up} s");
    let mut got = got.clone();
    got.system.uptime_seconds = want.system.uptime_seconds;
    assert_eq!(&got, want);
}

/// One port of a switch: `ifTable` (and `ifXTable` when `hc`), its octet
/// and error counters writable when a test moves them (octets in the
/// widest table only: 64-bit ones where it has them).
fn port(data: &mut DataFile, i: u32, hc: bool, speed_bps: u64, moving: bool) -> DeviceInterface {
    let e = |col: u32| oid(IF_ENTRY, &[col, i]);
    let x = |col: u32| oid(IFX_ENTRY, &[col, i]);
    let descr = format!("GigabitEthernet1/0/{i}");
    let mac = vec![0x00, 0x1b, 0x54, 0x10, 0x20, u8::try_from(i).unwrap()];
    let admin_up = i != 47;
    let oper_up = i <= 40;
    data.put(&e(1), SimValue::Int(i32::try_from(i).unwrap()));
    data.put(&e(2), s(&descr));
    data.put(&e(3), SimValue::Int(6));
    data.put(
        &e(5),
        SimValue::Gauge32(u32::try_from(speed_bps).unwrap_or(u32::MAX)),
    );
    data.put(&e(6), SimValue::Bytes(mac.clone()));
    data.put(&e(7), SimValue::Int(if admin_up { 1 } else { 2 }));
    data.put(&e(8), SimValue::Int(if oper_up { 1 } else { 2 }));
    data.put(&e(9), SimValue::Ticks(12_300 + i));
    for col in [10, 13, 14, 16, 19, 20] {
        let value = SimValue::Counter32(i * 1_000);
        if moving && (!hc || [13, 14, 19, 20].contains(&col)) {
            data.put_writable(&e(col), value);
        } else {
            data.put(&e(col), value);
        }
    }
    let mut name = descr.clone();
    let mut alias = String::new();
    if hc {
        name = format!("Gi1/0/{i}");
        alias = if i > 44 {
            format!("uplink {}", i - 44)
        } else {
            format!("desk 3-{i:02}")
        };
        data.put(&x(1), s(&name));
        for col in 6..=13 {
            let value = SimValue::Counter64(u64::from(i) << 33);
            if moving {
                data.put_writable(&x(col), value);
            } else {
                data.put(&x(col), value);
            }
        }
        data.put(
            &x(15),
            SimValue::Gauge32(u32::try_from(speed_bps / 1_000_000).unwrap()),
        );
        data.put(&x(18), s(&alias));
        data.put(&x(19), SimValue::Ticks(0));
    }
    DeviceInterface {
        if_index: i,
        name,
        descr,
        alias,
        if_type: 6,
        mac: Some(
            mac.iter()
                .map(|b| format!("{b:02x}"))
                .collect::<Vec<_>>()
                .join(":"),
        ),
        speed_bps: Some(speed_bps),
        admin_up,
        oper_status: if oper_up {
            OperStatus::Up
        } else {
            OperStatus::Down
        },
        last_change_seconds: u64::from(12_300 + i) / 100,
    }
}

/// A physical entity, in the data and as the inventory reads it; its
/// firmware revision and serial number writable when a test changes them.
fn entity(
    data: &mut DataFile,
    e: PhysicalEntity,
    class_code: i32,
    changing: bool,
) -> PhysicalEntity {
    let at = |col: u32| oid(ENT_ENTRY, &[col, e.index]);
    data.put(&at(2), s(&e.descr));
    data.put(
        &at(4),
        SimValue::Int(i32::try_from(e.contained_in).unwrap()),
    );
    data.put(&at(5), SimValue::Int(class_code));
    data.put(&at(7), s(&e.name));
    data.put(&at(8), s(&e.hardware_rev));
    data.put(&at(10), s(&e.software_rev));
    data.put(&at(13), s(&e.model));
    if changing {
        data.put_writable(&at(9), s(&e.firmware_rev));
        data.put_writable(&at(11), s(&e.serial));
    } else {
        data.put(&at(9), s(&e.firmware_rev));
        data.put(&at(11), s(&e.serial));
    }
    e
}

fn part(
    index: u32,
    class: EntityClass,
    name: &str,
    model: &str,
    contained_in: u32,
) -> PhysicalEntity {
    PhysicalEntity {
        index,
        class,
        descr: format!("{name} of the lab switch"),
        name: name.to_owned(),
        model: model.to_owned(),
        serial: format!("FOC2{index:03}X{}", index * 7),
        firmware_rev: format!("1.{index}.0"),
        hardware_rev: format!("V0{index}"),
        software_rev: if class == EntityClass::Chassis {
            "17.9.4".to_owned()
        } else {
            String::new()
        },
        contained_in,
    }
}

/// A switch with `ports` ports (the last four 10 Gb/s uplinks) and ENTITY-MIB:
/// chassis, two modules, two power supplies, two fans. Its counters move
/// when `changing` is false, its parts change when it is true.
fn switch_with_entities(ports: u32, name: &str, changing: bool) -> (DataFile, DeviceInventory) {
    let mut data = DataFile::new();
    let system = system(
        &mut data,
        name,
        "Lab 48G-X switch, software 17.9.4",
        "1.3.6.1.4.1.9.1.2494",
    );
    let interfaces = (1..=ports)
        .map(|i| {
            let speed = if i > ports.saturating_sub(4) && ports > 4 {
                10_000_000_000
            } else {
                1_000_000_000
            };
            port(&mut data, i, true, speed, !changing)
        })
        .collect();
    let parts = [
        (part(1, EntityClass::Chassis, "Chassis", "LAB-48G-X", 0), 3),
        (part(2, EntityClass::Module, "Slot 1", "LAB-NM-4X10G", 1), 9),
        (part(3, EntityClass::Module, "Slot 2", "LAB-STK-KIT", 1), 9),
        (part(4, EntityClass::PowerSupply, "PSU 1", "PWR-715W", 1), 6),
        (part(5, EntityClass::PowerSupply, "PSU 2", "PWR-715W", 1), 6),
        (part(6, EntityClass::Fan, "Fan 1", "FAN-T1", 1), 7),
        (part(7, EntityClass::Fan, "Fan 2", "FAN-T1", 1), 7),
    ];
    let entities = parts
        .into_iter()
        .map(|(e, code)| entity(&mut data, e, code, changing))
        .collect();
    let inv = DeviceInventory {
        system,
        interfaces,
        entities,
        ..DeviceInventory::default()
    };
    (data, inv)
}

fn switch48() -> (DataFile, DeviceInventory) {
    switch_with_entities(48, "core-sw-1", false)
}

/// The printer's paper trays, as generated into its data by [`printer`]:
/// a manual bypass with some paper, and an empty cassette.
fn printer_trays() -> Vec<PaperTray> {
    let mut bypass = PaperTray {
        device_index: 1,
        index: 1,
        name: "Tray 1".into(),
        level: SupplyAmount::Units(120),
        max_capacity: SupplyAmount::Units(250),
        ..PaperTray::default()
    };
    bypass.fill_percent();
    let mut cassette = PaperTray {
        device_index: 1,
        index: 2,
        name: "Tray 2".into(),
        descr: "Lower Paper Cassette".into(),
        tray_type: 4,
        media: "iso-a4-white".into(),
        level: SupplyAmount::Units(0),
        max_capacity: SupplyAmount::Units(500),
        // Available and idle, with a non-critical alert (no paper).
        status: 8,
        ..PaperTray::default()
    };
    cassette.fill_percent();
    vec![bypass, cassette]
}

/// A printer: one interface, four marker supplies and two paper trays.
fn printer() -> (DataFile, DeviceInventory) {
    let mut data = DataFile::new();
    let system = system(
        &mut data,
        "prn-2f",
        "Brother HL-L8360CDW series",
        "1.3.6.1.4.1.2435.2.3.9.1",
    );
    let interfaces = vec![port(&mut data, 1, false, 100_000_000, false)];
    // (index, type, description, max capacity, level)
    let supplies = [
        (1, 3, "Black Toner Cartridge", 100, 42),
        (2, 21, "Cyan Toner Cartridge", 6_000, 1_500),
        (3, 9, "Drum Unit", -2, -3),
        (4, 4, "Waste Toner Box", 50_000, -1),
    ];
    let supplies = supplies
        .into_iter()
        .map(|(i, kind, descr, max, level)| {
            let at = |col: u32| oid(SUPPLIES_ENTRY, &[col, 1, i]);
            data.put(&at(5), SimValue::Int(kind));
            data.put(&at(6), s(descr));
            // prtMarkerSuppliesSupplyUnit: percent (19); not read.
            data.put(&at(7), SimValue::Int(19));
            data.put(&at(8), SimValue::Int(max));
            data.put(&at(9), SimValue::Int(level));
            let (level, max) = (
                SupplyAmount::from_raw(i64::from(level)),
                SupplyAmount::from_raw(i64::from(max)),
            );
            PrinterSupply {
                device_index: 1,
                index: i,
                descr: descr.to_owned(),
                supply_type: u32::try_from(kind).unwrap(),
                level,
                max_capacity: max,
                percent: PrinterSupply::compute_percent(level, max),
            }
        })
        .collect();
    // The paper trays (prtInputTable): the inventory does not list them,
    // they are read beside it, and their rows must not disturb the rest.
    data.put(&oid(INPUT_ENTRY, &[9, 1, 1]), SimValue::Int(250));
    data.put(&oid(INPUT_ENTRY, &[10, 1, 1]), SimValue::Int(120));
    data.put(&oid(INPUT_ENTRY, &[13, 1, 1]), s("Tray 1"));
    data.put(&oid(INPUT_ENTRY, &[2, 1, 2]), SimValue::Int(4));
    // prtInputDimUnit: tenThousandthsOfInches (3); not read.
    data.put(&oid(INPUT_ENTRY, &[3, 1, 2]), SimValue::Int(3));
    data.put(&oid(INPUT_ENTRY, &[9, 1, 2]), SimValue::Int(500));
    data.put(&oid(INPUT_ENTRY, &[10, 1, 2]), SimValue::Int(0));
    data.put(&oid(INPUT_ENTRY, &[11, 1, 2]), SimValue::Int(8));
    data.put(&oid(INPUT_ENTRY, &[12, 1, 2]), s("iso-a4-white"));
    data.put(&oid(INPUT_ENTRY, &[13, 1, 2]), s("Tray 2"));
    data.put(&oid(INPUT_ENTRY, &[18, 1, 2]), s("Lower Paper Cassette"));
    let inv = DeviceInventory {
        system,
        interfaces,
        supplies,
        ..DeviceInventory::default()
    };
    (data, inv)
}

/// An old device: two 100 Mb/s ports, `ifTable` only (32-bit counters).
fn legacy32() -> (DataFile, DeviceInventory) {
    let mut data = DataFile::new();
    let system = system(
        &mut data,
        "old-access-sw",
        "Legacy 8-port managed switch",
        "1.3.6.1.4.1.11.2.3.7.11.45",
    );
    let interfaces = (1..=2)
        .map(|i| port(&mut data, i, false, 100_000_000, true))
        .collect();
    let inv = DeviceInventory {
        system,
        interfaces,
        ..DeviceInventory::default()
    };
    (data, inv)
}

fn value(poll: &DevicePoll, series: &str) -> f64 {
    poll.points
        .iter()
        .find(|(n, _)| n == series)
        .map(|(_, v)| *v)
        .unwrap_or_else(|| panic!("{series} in {:?} ({:?})", poll.points, poll.no_rate))
}

fn assert_rate(poll: &DevicePoll, series: &str, moved: u64, per: f64) {
    let secs = poll.interval_seconds.expect("an interval");
    let want = moved as f64 * per / secs;
    let got = value(poll, series);
    assert!(
        (got - want).abs() <= want.abs() * 1e-9 + 1e-9,
        "{series}: {got} for {want} ({moved} over {secs} s)"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_48_port_switch_with_entities_polls_as_generated_with_64_bit_rates() {
    let sim = sim();
    let (_, want) = switch48();
    let mut poller = Poller::new(
        vec![spec("core-sw-1", SWITCH, sim.port)],
        PollerConfig::default(),
    )
    .await
    .unwrap();
    let first = poller.poll_all().await.remove(0);
    assert_eq!(first.state, DeviceState::Ok, "{:?}", first.problems);
    let inv = first
        .inventory
        .clone()
        .expect("the first poll sends the inventory");
    assert_eq!(inv.interfaces.len(), 48);
    assert_eq!(inv.entities.len(), 7);
    assert_inventory(&inv, &want);

    // Traffic: port 1 receives 1.25 MB, port 2 sends 2.5 MB, uplink 45
    // receives 12.5 MB, port 1 counts 40 input errors.
    let hc_in = |i: u32| oid(IFX_ENTRY, &[6, i]);
    let hc_out = |i: u32| oid(IFX_ENTRY, &[10, i]);
    let start = |i: u32| u64::from(i) << 33;
    sim.set(
        SWITCH,
        &[
            (&hc_in(1), SimValue::Counter64(start(1) + 1_250_000)),
            (&hc_out(2), SimValue::Counter64(start(2) + 2_500_000)),
            (&hc_in(45), SimValue::Counter64(start(45) + 12_500_000)),
            (&oid(IF_ENTRY, &[14, 1]), SimValue::Counter32(1_000 + 40)),
        ],
    )
    .await;
    let second = poller.poll_all().await.remove(0);
    assert_eq!(second.state, DeviceState::Ok, "{:?}", second.problems);
    assert!(second.no_rate.is_empty(), "{:?}", second.no_rate);
    assert!(second.dropped.is_empty(), "{:?}", second.dropped);
    let bits_in = |n: &str| interface_series(series::IN_BITS_PER_SECOND, n);
    let bits_out = |n: &str| interface_series(series::OUT_BITS_PER_SECOND, n);
    assert_rate(&second, &bits_in("Gi1/0/1"), 1_250_000, 8.0);
    assert_rate(&second, &bits_out("Gi1/0/2"), 2_500_000, 8.0);
    assert_rate(&second, &bits_in("Gi1/0/45"), 12_500_000, 8.0);
    assert_rate(
        &second,
        &interface_series(series::IN_ERRORS_PER_SECOND, "Gi1/0/1"),
        40,
        1.0,
    );
    assert_eq!(value(&second, &bits_in("Gi1/0/3")), 0.0);
    // Utilisation against ifHighSpeed: the uplink is 10 Gb/s.
    let secs = second.interval_seconds.unwrap();
    let util = value(
        &second,
        &interface_series(series::IN_UTILISATION_PERCENT, "Gi1/0/45"),
    );
    let want_util = 12_500_000.0 * 8.0 / secs / 10e9 * 100.0;
    assert!(
        (util - want_util).abs() < 1e-9 * want_util.max(1.0),
        "{util}"
    );
    // Port 41 is down, 47 shut as well.
    assert_eq!(
        value(&second, &interface_series(series::OPER_UP, "Gi1/0/41")),
        0.0
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_printer_lists_its_supplies_and_their_levels() {
    let sim = sim();
    let (_, want) = printer();
    let mut poller = Poller::new(
        vec![spec("prn-2f", PRINTER, sim.port)],
        PollerConfig::default(),
    )
    .await
    .unwrap();
    let poll = poller.poll_all().await.remove(0);
    assert_eq!(poll.state, DeviceState::Ok, "{:?}", poll.problems);
    let inv = poll.inventory.clone().expect("inventory");
    assert_inventory(&inv, &want);
    let levels: Vec<(&str, Option<u8>)> = inv
        .supplies
        .iter()
        .map(|s| (s.descr.as_str(), s.percent))
        .collect();
    assert_eq!(
        levels,
        [
            ("Black Toner Cartridge", Some(42)),
            ("Cyan Toner Cartridge", Some(25)),
            ("Drum Unit", None),
            ("Waste Toner Box", None),
        ]
    );
    assert_eq!(inv.supplies[2].level, SupplyAmount::SomeRemaining);
    assert_eq!(inv.system.vendor.as_deref(), Some("Brother"));
    assert_eq!(poll.trays, Some(printer_trays()));
    assert_eq!(value(&poll, &series::tray_series("Tray 1")), 48.0);
    assert_eq!(value(&poll, &series::tray_series("Tray 2")), 0.0);
    // The trays are read again on a poll that does not walk the inventory:
    // unchanged, they are not sent again, but their levels are.
    let again = poller.poll_all().await.remove(0);
    assert_eq!(
        again.inventory, None,
        "the second poll does not walk the inventory"
    );
    assert_eq!(again.trays, None);
    assert_eq!(value(&again, &series::tray_series("Tray 1")), 48.0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_device_with_32_bit_counters_only_gives_rates_across_a_wrap() {
    let sim = sim();
    let (_, want) = legacy32();
    let mut poller = Poller::new(
        vec![spec("old-access-sw", LEGACY, sim.port)],
        PollerConfig::default(),
    )
    .await
    .unwrap();
    let in1 = oid(IF_ENTRY, &[10, 1]);
    let out2 = oid(IF_ENTRY, &[16, 2]);
    // Port 1's input counter a few hundred bytes before its wrap.
    sim.set(LEGACY, &[(&in1, SimValue::Counter32(4_294_967_000))])
        .await;
    let first = poller.poll_all().await.remove(0);
    assert_eq!(first.state, DeviceState::Ok, "{:?}", first.problems);
    let inv = first.inventory.clone().expect("inventory");
    assert_inventory(&inv, &want);
    // Names fall back to ifDescr without ifXTable.
    assert_eq!(inv.interfaces[0].name, "GigabitEthernet1/0/1");

    // 1,000 bytes in across the wrap (4,294,967,000 → 704), 5,000 out: few
    // enough that even two polls a millisecond apart stay under the port's
    // 100 Mb/s, above which a rate is dropped as impossible.
    sim.set(
        LEGACY,
        &[
            (&in1, SimValue::Counter32(704)),
            (&out2, SimValue::Counter32(2_000 + 5_000)),
        ],
    )
    .await;
    let second = poller.poll_all().await.remove(0);
    assert_eq!(second.state, DeviceState::Ok, "{:?}", second.problems);
    assert!(second.no_rate.is_empty(), "{:?}", second.no_rate);
    assert!(second.dropped.is_empty(), "{:?}", second.dropped);
    assert_rate(
        &second,
        &interface_series(series::IN_BITS_PER_SECOND, "GigabitEthernet1/0/1"),
        1_000,
        8.0,
    );
    assert_rate(
        &second,
        &interface_series(series::OUT_BITS_PER_SECOND, "GigabitEthernet1/0/2"),
        5_000,
        8.0,
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_device_answering_too_big_to_large_bulks_is_walked_in_smaller_ones() {
    let mib = Switch {
        name: "small-buffers".into(),
        ports: 48,
        uptime_ticks: 100_000,
    }
    .mib();
    let device = ScriptedDevice::start("tight", mib, Fault::TooBigAbove(5));
    let mut poller = Poller::new(
        vec![spec("small-buffers", "tight", device.port())],
        PollerConfig::default(),
    )
    .await
    .unwrap();
    let first = poller.poll_all().await.remove(0);
    assert_eq!(first.state, DeviceState::Ok, "{:?}", first.problems);
    let inv = first.inventory.expect("inventory");
    assert_eq!(inv.interfaces.len(), 48);
    assert_eq!(inv.interfaces[47].descr, "port 48");
    // 25 → 12 → 6 → 3 repetitions: three refusals, then it fits.
    assert_eq!(device.too_big_answers(), 3);
    let second = poller.poll_all().await.remove(0);
    assert_eq!(second.state, DeviceState::Ok, "{:?}", second.problems);
    assert!(second.points.iter().any(|(n, _)| n.contains("_per_second")));
    // The device's limit is remembered: no refusal the second time.
    assert_eq!(device.too_big_answers(), 3);
}

/// `atalaya device NAME --json`, once the collector knows the device.
fn device_json(collector: &Collector, name: &str) -> Option<Value> {
    let out = collector.cli(&["device", name, "--json"]);
    if !out.status.success() {
        return None;
    }
    serde_json::from_slice(&out.stdout).ok()
}

fn hardware_incident(collector: &Collector) -> Option<Value> {
    let (code, body) = collector.get("/api/v1/incidents?status=open", Some(&collector.admin));
    assert_eq!(code, 200, "{body}");
    body.as_array()?
        .iter()
        .find(|i| i["rule"] == "hardware-change" && i["asset"] == "device:sw-changing")
        .cloned()
}

#[test]
fn a_module_replaced_on_a_polled_device_is_a_change_and_a_hardware_incident() {
    let port = sim().port;
    let collector = Collector::start_with("[incidents]\ntick_seconds = 1\n");
    let token = collector.token(1);
    let work = tempfile::tempdir().unwrap();
    let _poller = agent(work.path(), "poller", None, &token);
    eventually("the poller enrolled", Duration::from_secs(60), || {
        (collector.assets().len() == 1).then_some(())
    });
    let port = port.to_string();
    let out = collector.cli(&[
        "device",
        "add",
        "127.0.0.1",
        "--name",
        "sw-changing",
        "--port",
        &port,
        "--interval",
        "1",
        "--community",
        CHANGING,
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let shown = eventually("the device's inventory", Duration::from_secs(60), || {
        device_json(&collector, "sw-changing").filter(|d| !d["inventory"].is_null())
    });
    assert_eq!(shown["inventory"]["entities"][2]["serial"], "FOC2003X21");

    // Slot 2's module is swapped for one with another serial number, and
    // Slot 1's firmware is upgraded.
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(sim().set(
        CHANGING,
        &[
            (&oid(ENT_ENTRY, &[11, 3]), s("FOC2999Z77")),
            (&oid(ENT_ENTRY, &[9, 2]), s("1.2.5")),
        ],
    ));
    // The inventory is walked again within ten polls.
    let changes = eventually("the inventory change", Duration::from_secs(60), || {
        let d = device_json(&collector, "sw-changing")?;
        let changes = d["changes"].as_array()?.clone();
        (!changes.is_empty()).then_some(changes)
    });
    let items = &changes[0]["items"];
    let item = |kind: &str| {
        items
            .as_array()
            .unwrap()
            .iter()
            .find_map(|i| i.get(kind).cloned())
            .unwrap_or_else(|| panic!("{kind} in {items}"))
    };
    assert_eq!(
        item("serial_changed"),
        serde_json::json!({"index": 3, "name": "Slot 2 (LAB-STK-KIT)",
            "before": "FOC2003X21", "after": "FOC2999Z77"})
    );
    assert_eq!(
        item("firmware_changed"),
        serde_json::json!({"index": 2, "name": "Slot 1 (LAB-NM-4X10G)",
            "before": "1.2.0 / ", "after": "1.2.5 / "})
    );
    let incident = eventually(
        "a hardware-change incident",
        Duration::from_secs(30),
        || hardware_incident(&collector),
    );
    let text = incident.to_string();
    assert!(
        text.contains("Slot 2 (LAB-STK-KIT) (entity 3) replaced: serial FOC2003X21 → FOC2999Z77"),
        "{incident:#}"
    );
    // The firmware upgrade alone is not hardware.
    assert!(!text.contains("1.2.5"), "{incident:#}");
}

#[test]
fn a_printers_paper_trays_reach_the_device_detail() {
    let port = sim().port;
    let collector = Collector::start();
    let token = collector.token(1);
    let work = tempfile::tempdir().unwrap();
    let _poller = agent(work.path(), "poller", None, &token);
    eventually("the poller enrolled", Duration::from_secs(60), || {
        (collector.assets().len() == 1).then_some(())
    });
    let port = port.to_string();
    let out = collector.cli(&[
        "device",
        "add",
        "127.0.0.1",
        "--name",
        "prn-2f",
        "--port",
        &port,
        "--interval",
        "1",
        "--community",
        PRINTER,
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let trays = eventually("the printer's trays", Duration::from_secs(60), || {
        let d = device_json(&collector, "prn-2f")?;
        let trays = d["trays"].as_array()?.clone();
        (!trays.is_empty()).then_some(trays)
    });
    let got: Vec<PaperTray> = serde_json::from_value(Value::Array(trays)).unwrap();
    assert_eq!(got, printer_trays());
    let shown = collector.cli(&["device", "prn-2f"]);
    let text = String::from_utf8_lossy(&shown.stdout);
    let line = text
        .lines()
        .find(|l| l.starts_with("Tray 2"))
        .unwrap_or_else(|| panic!("no Tray 2 in {text}"));
    assert!(
        line.contains("iso-a4-white") && line.ends_with("EMPTY"),
        "{line}"
    );
}
