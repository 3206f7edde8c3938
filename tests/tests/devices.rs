//! Network devices end to end against a real collector, with a synthetic
//! poller speaking the protocol directly: it gets its device list when a
//! device is added through the CLI, its polls are stored and read back,
//! a poll of a device it does not poll is acknowledged and counted without
//! ending its session, and removing the device sends it an empty list,
//! again on its next connect.

#![allow(clippy::unwrap_used)] // a failed unwrap is a failed test

use std::time::Duration;

use atalaya_common::model::Timestamp;
use atalaya_common::model::device::DeviceState;
use atalaya_common::proto::{DevicePoll, Message};
use atalaya_tests::harness::{Collector, enroll, eventually};
use atalaya_tests::raw::RawSession as Session;

fn poll(seq: u64, device: &str) -> Message {
    Message::DevicePoll(DevicePoll {
        seq,
        device: device.into(),
        polled_at: Timestamp::now(),
        state: DeviceState::Ok,
        response_ms: Some(3),
        inventory: None,
        values: vec![
            ("snmp.reachable".into(), 1.0),
            ("interface.in_bits_per_second{if=eth0}".into(), 8000.0),
        ],
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_poller_gets_its_devices_and_its_polls_are_stored() {
    let collector = tokio::task::spawn_blocking(Collector::start).await.unwrap();
    let work = tempfile::tempdir().unwrap();
    let token = collector.token(1);
    let identity = enroll(work.path(), &token);
    let addr = collector.quic_address();

    let mut s = Session::open(&identity, addr, 0, &[]).await;
    assert!(matches!(s.next().await, Message::ConfigUpdate(_)));
    let added = collector.cli_ok(&[
        "device",
        "add",
        "192.0.2.10",
        "--name",
        "core-sw1",
        "--community",
        "public",
    ]);
    assert!(added.starts_with("added core-sw1"), "{added}");
    let Message::DeviceAssignment(list) = s.next_not_ack().await else {
        panic!("no device assignment after the device was added");
    };
    assert_eq!(list.devices.len(), 1);
    assert_eq!(list.devices[0].name, "core-sw1");
    assert_eq!(list.devices[0].address, "192.0.2.10");

    s.send(poll(1, "core-sw1")).await;
    s.acked(1).await;
    let points = collector.points("device:core-sw1", "interface.in_bits_per_second{if=eth0}");
    assert_eq!(points.len(), 1, "{points:?}");
    assert_eq!(points[0].1, 8000.0);
    let (_, devices) = collector.get("/api/v1/devices", Some(&collector.admin));
    assert_eq!(devices[0]["state_text"], "answered in 3 ms", "{devices}");

    // A device it does not poll: acknowledged, counted, the session goes on.
    s.send(poll(2, "ghost")).await;
    s.acked(2).await;
    assert_eq!(
        collector.metric("atalaya_refused_total{reason=\"device_not_assigned\"}"),
        1.0
    );
    s.send(poll(3, "core-sw1")).await;
    s.acked(3).await;
    assert!(s.conn.close_reason().is_none());

    let removed = collector.cli_ok(&["device", "remove", "core-sw1"]);
    assert_eq!(removed, "removed core-sw1\n");
    let Message::DeviceAssignment(list) = s.next_not_ack().await else {
        panic!("no device assignment after the device was removed");
    };
    assert!(list.devices.is_empty());
    s.conn.close(0u32.into(), b"done");

    // Once a poller, it is told its (empty) list on every connect.
    let mut again = Session::open(&identity, addr, 3, &[]).await;
    assert!(matches!(again.next().await, Message::ConfigUpdate(_)));
    let Message::DeviceAssignment(list) = again.next_not_ack().await else {
        panic!("no device assignment on reconnect");
    };
    assert!(list.devices.is_empty());
    let log = collector.log();
    assert!(!log.contains("panicked"), "{log}");
    eventually(
        "the notice of the ghost poll",
        Duration::from_secs(5),
        || {
            collector
                .log()
                .contains("ignoring polls of a device this agent is not assigned")
                .then_some(())
        },
    );
}
