use std::time::Duration;

use atalaya_common::model::rates::NoRate;
use atalaya_common::model::{Counter, DeviceInterface, DeviceInventory, OperStatus};

use super::*;

fn inventory(speed: u64, if_type: u32) -> DeviceInventory {
    DeviceInventory {
        interfaces: vec![DeviceInterface {
            if_index: 2,
            name: "eth0".into(),
            if_type,
            speed_bps: Some(speed),
            oper_status: OperStatus::Up,
            ..DeviceInterface::default()
        }],
        ..DeviceInventory::default()
    }
}

fn counters(uptime: u32, octets: u64) -> Vec<InterfaceCounters> {
    vec![InterfaceCounters {
        if_index: 2,
        sys_uptime_ticks: uptime,
        in_octets: Some(Counter::Hc(octets)),
        out_octets: Some(Counter::Hc(octets / 2)),
        ..InterfaceCounters::default()
    }]
}

fn raw(inv: Option<DeviceInventory>, c: Vec<InterfaceCounters>) -> RawPoll {
    RawPoll {
        state: DeviceState::Ok,
        response_ms: Some(3),
        inventory: inv,
        counters: c,
        oper_up: [(2, true)].into(),
        neighbours: None,
        trays: None,
        problems: Vec::new(),
    }
}

fn point(p: &DevicePoll, name: &str) -> Option<f64> {
    p.points.iter().find(|(n, _)| n == name).map(|(_, v)| *v)
}

#[test]
fn two_polls_give_labelled_rates() {
    let config = PollerConfig::default();
    let mut t = DeviceTracker::default();
    let t0 = Instant::now();
    assert!(t.inventory_due(&config));
    let first = t.record(
        "sw",
        t0,
        raw(Some(inventory(1_000_000_000, 6)), counters(100, 0)),
        &config,
    );
    assert!(first.inventory.is_some());
    assert_eq!(point(&first, "interface.in_bits_per_second{if=eth0}"), None);
    assert_eq!(point(&first, "snmp.reachable"), Some(1.0));
    assert_eq!(point(&first, "snmp.response_ms"), Some(3.0));
    assert_eq!(point(&first, "interface.oper_up{if=eth0}"), Some(1.0));
    assert!(!t.inventory_due(&config));
    let second = t.record(
        "sw",
        t0 + Duration::from_secs(60),
        raw(None, counters(6_100, 750_000_000)),
        &config,
    );
    assert_eq!(
        point(&second, "interface.in_bits_per_second{if=eth0}"),
        Some(100_000_000.0)
    );
    assert_eq!(
        point(&second, "interface.in_utilisation_percent{if=eth0}"),
        Some(10.0)
    );
    assert_eq!(
        point(&second, "interface.out_bits_per_second{if=eth0}"),
        Some(50_000_000.0)
    );
    assert!(second.no_rate.is_empty());
}

#[test]
fn a_restart_between_polls_gives_no_rate_not_a_spike() {
    let config = PollerConfig::default();
    let mut t = DeviceTracker::default();
    let t0 = Instant::now();
    t.record(
        "sw",
        t0,
        raw(
            Some(inventory(1_000_000_000, 6)),
            counters(90_000, 5_000_000),
        ),
        &config,
    );
    let after = t.record(
        "sw",
        t0 + Duration::from_secs(60),
        raw(None, counters(300, 10)),
        &config,
    );
    assert_eq!(after.no_rate.len(), 1);
    assert!(matches!(after.no_rate[0], (ref n, NoRate::UptimeWentBack { .. }) if n == "eth0"));
    assert!(
        !after
            .points
            .iter()
            .any(|(n, _)| n.contains("bits_per_second"))
    );
    // The next interval, from the restarted counters, has rates again.
    let next = t.record(
        "sw",
        t0 + Duration::from_secs(120),
        raw(None, counters(6_300, 7_500_010)),
        &config,
    );
    assert_eq!(
        point(&next, "interface.in_bits_per_second{if=eth0}"),
        Some(1_000_000.0)
    );
}

#[test]
fn the_loopback_speed_is_not_a_limit() {
    let config = PollerConfig::default();
    let mut t = DeviceTracker::default();
    let t0 = Instant::now();
    // Linux reports 10 Mb/s for lo, which carries far more.
    t.record(
        "h",
        t0,
        raw(Some(inventory(10_000_000, 24)), counters(100, 0)),
        &config,
    );
    let p = t.record(
        "h",
        t0 + Duration::from_secs(1),
        raw(None, counters(200, 125_000_000)),
        &config,
    );
    assert_eq!(
        point(&p, "interface.in_bits_per_second{if=eth0}"),
        Some(1_000_000_000.0)
    );
    assert_eq!(point(&p, "interface.in_utilisation_percent{if=eth0}"), None);
    // On an Ethernet interface of that speed the same would be dropped.
    let mut e = DeviceTracker::default();
    e.record(
        "h",
        t0,
        raw(Some(inventory(10_000_000, 6)), counters(100, 0)),
        &config,
    );
    let p = e.record(
        "h",
        t0 + Duration::from_secs(1),
        raw(None, counters(200, 125_000_000)),
        &config,
    );
    assert_eq!(point(&p, "interface.in_bits_per_second{if=eth0}"), None);
    assert_eq!(p.dropped.len(), 2);
}

#[test]
fn the_inventory_is_sent_on_change_and_when_due_again() {
    let config = PollerConfig {
        inventory_every: 1,
        inventory_resend_every: 3,
        ..PollerConfig::default()
    };
    let mut t = DeviceTracker::default();
    let now = Instant::now();
    let mut sent = Vec::new();
    for i in 0..6u32 {
        let mut inv = inventory(1_000_000_000, 6);
        // Uptime moves every poll; it is not a change.
        inv.system.uptime_seconds = u64::from(i) * 60;
        if i == 2 {
            inv.interfaces[0].alias = "new uplink".into();
        }
        let p = t.record("sw", now, raw(Some(inv), Vec::new()), &config);
        sent.push(p.inventory.is_some());
    }
    // Sent first; unchanged; changed (2); changed back (3); unchanged; resent after 3.
    assert_eq!(sent, vec![true, false, true, true, false, false]);
    let p = t.record(
        "sw",
        now,
        raw(Some(inventory(1_000_000_000, 6)), Vec::new()),
        &config,
    );
    assert!(p.inventory.is_some());
}

#[test]
fn a_failed_poll_is_unreachable_and_keeps_the_previous_counters() {
    let config = PollerConfig::default();
    let mut t = DeviceTracker::default();
    let t0 = Instant::now();
    t.record(
        "sw",
        t0,
        raw(Some(inventory(1_000_000_000, 6)), counters(100, 0)),
        &config,
    );
    let down = t.record(
        "sw",
        t0 + Duration::from_secs(60),
        failed(DeviceState::Timeout, "no answer".into()),
        &config,
    );
    assert_eq!(down.state, DeviceState::Timeout);
    assert_eq!(down.points, vec![("snmp.reachable".to_owned(), 0.0)]);
    assert_eq!(t.last_state(), DeviceState::Timeout);
    let back = t.record(
        "sw",
        t0 + Duration::from_secs(120),
        raw(None, counters(12_100, 1_500_000_000)),
        &config,
    );
    assert_eq!(
        point(&back, "interface.in_bits_per_second{if=eth0}"),
        Some(100_000_000.0)
    );
}

#[test]
fn the_previous_counters_kept_take_no_more_room_than_their_rows() {
    let config = PollerConfig::default();
    let mut t = DeviceTracker::default();
    let t0 = Instant::now();
    let ports = |uptime: u32| -> Vec<InterfaceCounters> {
        (1..=48)
            .map(|i| InterfaceCounters {
                if_index: i,
                sys_uptime_ticks: uptime,
                in_octets: Some(Counter::Hc(u64::from(uptime) * 1000)),
                ..InterfaceCounters::default()
            })
            .collect()
    };
    for n in 0..3u32 {
        t.record(
            "sw",
            t0 + Duration::from_secs(u64::from(n) * 60),
            raw(None, ports(100 + n * 6_000)),
            &config,
        );
        let (_, kept) = t.previous.as_ref().expect("counters kept");
        assert_eq!((kept.len(), kept.capacity()), (48, 48));
    }
    // Fewer interfaces after a change: the room shrinks with them.
    let mut fewer = ports(20_000);
    fewer.truncate(10);
    t.record(
        "sw",
        t0 + Duration::from_secs(240),
        raw(None, fewer),
        &config,
    );
    let (_, kept) = t.previous.as_ref().expect("counters kept");
    assert_eq!((kept.len(), kept.capacity()), (10, 10));
}

/// A UDP port on loopback that nothing answers on (bound and never read).
fn silent_port() -> (std::net::UdpSocket, u16) {
    let s = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let port = s.local_addr().unwrap().port();
    (s, port)
}

#[tokio::test(start_paused = true)]
async fn run_polls_each_device_on_its_interval_until_the_receiver_closes() {
    let (_keep, port) = silent_port();
    let mut spec = DeviceSpec::v2c("quiet", "127.0.0.1", "public");
    spec.port = port;
    spec.poll_interval_seconds = 30;
    spec.timeout_ms = 500;
    spec.retries = 0;
    let poller = Poller::new(vec![spec], PollerConfig::default())
        .await
        .unwrap();
    let (tx, mut rx) = mpsc::channel(4);
    let (_updates, watched) = watch::channel(Vec::new());
    let task = tokio::spawn(poller.run(tx, watched));
    let started = Instant::now();
    let first = rx.recv().await.unwrap();
    assert_eq!(first.device, "quiet");
    assert_eq!(first.state, DeviceState::Timeout);
    assert_eq!(first.response_ms, None);
    let second = rx.recv().await.unwrap();
    assert_eq!(second.state, DeviceState::Timeout);
    let waited = started.elapsed();
    assert!(
        waited >= Duration::from_secs(30) && waited < Duration::from_secs(32),
        "{waited:?}"
    );
    drop(rx);
    task.await.unwrap();
}

#[test]
fn neighbours_are_walked_first_every_few_polls_and_on_a_status_change_and_sent_on_change() {
    use super::neighbours::NeighbourTables;
    let config = PollerConfig {
        neighbours_every: 5,
        ..PollerConfig::default()
    };
    let mut t = DeviceTracker::default();
    let now = Instant::now();
    let up: BTreeMap<u32, bool> = [(2, true)].into();
    let down: BTreeMap<u32, bool> = [(2, false)].into();
    assert!(t.neighbours_due(&config, &up), "the first poll walks them");
    // A device without LLDP or CDP: an empty list, sent once.
    let with_tables = |tables: NeighbourTables| RawPoll {
        neighbours: Some(tables),
        ..raw(Some(inventory(1_000_000_000, 6)), Vec::new())
    };
    let first = t.record("sw", now, with_tables(NeighbourTables::default()), &config);
    let list = first.neighbours.as_ref().expect("the first list is sent");
    assert!(list.neighbours.is_empty());
    let record = first.neighbours_record(7, list);
    assert_eq!((record.seq, record.device.as_str()), (7, "sw"));
    assert!(!t.neighbours_due(&config, &up));
    assert!(
        t.neighbours_due(&config, &down),
        "a status change walks them"
    );
    let again = t.record("sw", now, with_tables(NeighbourTables::default()), &config);
    assert!(again.neighbours.is_none(), "unchanged: not sent again");
    for _ in 2..5 {
        t.record("sw", now, raw(None, Vec::new()), &config);
    }
    assert!(t.neighbours_due(&config, &up), "every fifth poll");
}

#[test]
fn neighbours_are_mapped_to_the_interfaces_of_the_last_inventory() {
    use super::neighbours::NeighbourTables;
    use async_snmp::Oid;
    let config = PollerConfig::default();
    let mut t = DeviceTracker::default();
    let now = Instant::now();
    let mut inv = inventory(1_000_000_000, 6);
    inv.interfaces.push(DeviceInterface {
        if_index: 7,
        name: "ge-0/0/7".into(),
        descr: "uplink to core".into(),
        alias: "core-1".into(),
        mac: Some("02:00:00:00:00:07".into()),
        ..DeviceInterface::default()
    });
    t.record("sw", now, raw(Some(inv), Vec::new()), &config);
    let vb = |entry: &[u32], tail: &[u32], value: Value| VarBind {
        oid: Oid::from_slice(&[entry, tail].concat()),
        value,
    };
    let bytes = |b: &[u8]| Value::OctetString(b.to_vec().into());
    // LLDP ports 1, 2 and 3 name their interface by MAC address, by
    // alias and by description; each has a neighbour.
    let mut rows = vec![
        vb(oids::LLDP_LOC_PORT_ENTRY, &[2, 1], Value::Integer(3)),
        vb(
            oids::LLDP_LOC_PORT_ENTRY,
            &[3, 1],
            bytes(&[2, 0, 0, 0, 0, 7]),
        ),
        vb(oids::LLDP_LOC_PORT_ENTRY, &[2, 2], Value::Integer(1)),
        vb(oids::LLDP_LOC_PORT_ENTRY, &[3, 2], bytes(b"core-1")),
        vb(oids::LLDP_LOC_PORT_ENTRY, &[4, 3], bytes(b"uplink to core")),
    ];
    for port in 1..=3 {
        rows.push(vb(oids::LLDP_REM_ENTRY, &[9, 0, port, 1], bytes(b"core")));
    }
    let p = t.record(
        "sw",
        now,
        RawPoll {
            neighbours: Some(NeighbourTables::parse(&rows)),
            ..raw(None, Vec::new())
        },
        &config,
    );
    let list = p.neighbours.expect("the first list is sent");
    let mapped: Vec<(Option<u32>, Option<&str>)> = list
        .neighbours
        .iter()
        .map(|n| (n.local_if_index, n.local_if_name.as_deref()))
        .collect();
    assert_eq!(mapped, vec![(Some(7), Some("ge-0/0/7")); 3]);
}

#[tokio::test]
async fn a_device_waiting_for_its_next_poll_holds_little() {
    let spec = DeviceSpec::v2c("sw", "127.0.0.1", "public");
    let poller = Poller::new(vec![spec], PollerConfig::default())
        .await
        .unwrap();
    let device = poller.devices.into_iter().next().unwrap();
    let (tx, _rx) = mpsc::channel(1);
    let ctx = (
        Arc::new(Semaphore::new(1)),
        poller.shared.clone(),
        poller.config,
        tx,
    );
    let run = device.run(Instant::now(), Duration::from_secs(60), ctx);
    // A poller of thousands of devices holds this for each between polls;
    // the requests of a poll take their room only while it is under way.
    let size = std::mem::size_of_val(&run);
    assert!(size < 2048, "{size} bytes");
}

#[test]
fn trays_are_sent_when_changed_with_a_level_series_per_known_percent() {
    use atalaya_common::model::{PaperTray, SupplyAmount};
    let config = PollerConfig::default();
    let mut t = DeviceTracker::default();
    let tray = |index, name: &str, level, max| {
        let mut tray = PaperTray {
            device_index: 1,
            index,
            name: name.into(),
            level,
            max_capacity: max,
            ..PaperTray::default()
        };
        tray.fill_percent();
        tray
    };
    let trays = vec![
        tray(
            1,
            "Bypass",
            SupplyAmount::SomeRemaining,
            SupplyAmount::Units(100),
        ),
        tray(
            2,
            "Tray 2",
            SupplyAmount::Units(0),
            SupplyAmount::Units(500),
        ),
    ];
    let mut r = raw(None, Vec::new());
    r.trays = Some(trays.clone());
    let poll = t.record("mfp", Instant::now(), r, &config);
    assert_eq!(poll.trays.as_deref(), Some(&trays[..]));
    assert_eq!(
        point(&poll, "printer.tray_level_percent{tray=Tray 2}"),
        Some(0.0)
    );
    assert_eq!(
        point(&poll, "printer.tray_level_percent{tray=Bypass}"),
        None
    );
    let record = poll.trays_record(9, &trays);
    assert_eq!((record.seq, record.device.as_str()), (9, "mfp"));
    assert_eq!(record.trays, trays);
    let quiet = t.record("mfp", Instant::now(), raw(None, Vec::new()), &config);
    assert_eq!(quiet.trays, None, "no walk, nothing to send");
    let mut same = raw(None, Vec::new());
    same.trays = Some(trays.clone());
    let same = t.record("mfp", Instant::now(), same, &config);
    assert_eq!(same.trays, None, "unchanged trays are not sent again");
    assert_eq!(
        point(&same, "printer.tray_level_percent{tray=Tray 2}"),
        Some(0.0)
    );
    let mut refilled = trays.clone();
    refilled[1] = tray(
        2,
        "Tray 2",
        SupplyAmount::Units(500),
        SupplyAmount::Units(500),
    );
    let mut changed = raw(None, Vec::new());
    changed.trays = Some(refilled.clone());
    let changed = t.record("mfp", Instant::now(), changed, &config);
    assert_eq!(changed.trays, Some(refilled), "a refilled tray is sent");
}
