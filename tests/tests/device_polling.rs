//! The daemon's poller role against a real net-snmp `snmpd`: an assigned
//! device is polled and each poll is spooled as a `DevicePoll` record; an
//! empty assignment stops polling.

use std::time::Duration;

use atalaya_agent::config::SnmpConfig;
use atalaya_agent::daemon::devices::{Assigned, DevicePolling, Step};
use atalaya_agent::outbox::Outbox;
use atalaya_agent::snmp::assignment;
use atalaya_agent::uplink::{Intervals, Shared};
use atalaya_common::model::{DeviceSpec, DeviceState};
use atalaya_common::proto::{self, Message};
use atalaya_tests::snmpd::Snmpd;

const COMMUNITY: &str = "atalaya-test";

fn intervals() -> Intervals {
    Intervals {
        metrics: Duration::from_secs(10),
        inventory: Duration::from_secs(3600),
        heartbeat: Duration::from_secs(30),
    }
}

/// The next step of `polling`, within 30 s.
async fn step(
    polling: &mut DevicePolling,
    assignments: &mut tokio::sync::watch::Receiver<Option<Vec<DeviceSpec>>>,
) -> Step {
    tokio::time::timeout(Duration::from_secs(30), polling.step(assignments))
        .await
        .expect("a step within 30 s")
}

#[tokio::test]
async fn an_assigned_device_is_polled_into_the_spool_until_an_empty_list_stops_it() {
    let snmpd = Snmpd::start(&format!("rocommunity {COMMUNITY} 127.0.0.1\n"), COMMUNITY);
    let state = tempfile::tempdir().unwrap();
    let spool = state.path().join("spool");
    let (outbox, _) = Outbox::open(&spool, u64::MAX).unwrap();
    let shared = Shared::new(outbox, intervals());
    let settings = SnmpConfig {
        enabled: true,
        concurrency: 4,
        trap_listen: None,
    };
    let mut polling = DevicePolling::start(state.path(), settings, shared.clone()).await;
    assert!(!polling.is_polling());

    let mut spec = DeviceSpec::v2c("bench", "127.0.0.1", COMMUNITY);
    spec.port = snmpd.port;
    spec.timeout_ms = 1_000;
    // The list comes the way the uplink hands it over.
    let mut assignments = shared.assignments();
    shared.assign_devices(vec![spec.clone()]);
    assert_eq!(
        step(&mut polling, &mut assignments).await,
        Step::Assigned(Assigned::Started(1))
    );
    assert_eq!(assignment::load(state.path()).unwrap(), [spec.clone()]);
    let Step::Spooled(seq) = step(&mut polling, &mut assignments).await else {
        panic!("expected a spooled poll");
    };

    let pending = shared.outbox().next_after(seq - 1).unwrap();
    assert_eq!(pending.seq, seq);
    let Message::DevicePoll(poll) = proto::decode(&pending.frame).unwrap().unwrap().0 else {
        panic!("not a device poll");
    };
    assert_eq!((poll.seq, poll.device.as_str()), (seq, "bench"));
    assert_eq!(poll.state, DeviceState::Ok);
    assert!(poll.response_ms.is_some());
    assert!(
        poll.inventory.is_some(),
        "the first poll carries the inventory"
    );
    assert!(
        poll.values
            .iter()
            .any(|(name, v)| name == "snmp.reachable" && *v == 1.0),
        "{:?}",
        poll.values
    );

    // The same list again (as after a reconnection) keeps the poller.
    shared.assign_devices(vec![spec.clone()]);
    assert_eq!(
        step(&mut polling, &mut assignments).await,
        Step::Assigned(Assigned::Unchanged)
    );
    assert!(polling.is_polling());

    shared.assign_devices(Vec::new());
    assert_eq!(
        step(&mut polling, &mut assignments).await,
        Step::Assigned(Assigned::Stopped)
    );
    assert!(!polling.is_polling());
    assert!(assignment::load(state.path()).unwrap().is_empty());
    tokio::select! {
        biased;
        r = polling.spool_next() => panic!("a stopped poller spooled {r:?}"),
        () = std::future::ready(()) => {}
    }

    // The record is on disk: it is sent after a restart if never acked.
    drop(polling);
    drop(shared);
    let (outbox, recovery) = Outbox::open(&spool, u64::MAX).unwrap();
    assert!(recovery.pending >= 1);
    let first = outbox.next_after(0).unwrap();
    assert!(matches!(
        proto::decode(&first.frame).unwrap().unwrap().0,
        Message::DevicePoll(_)
    ));
}
