//! What became of a user report, told to the agent of the machine it was
//! written on, end to end against a real collector with a synthetic agent
//! speaking the protocol: an agent that lists the `report-status` feature
//! gets the whole list when it connects and whenever the report's incident
//! changes; an agent of the first release (no features) is never sent a
//! message it would not know.

#![allow(clippy::unwrap_used)] // a failed unwrap is a failed test

use atalaya_common::model::{Inventory, Timestamp};
use atalaya_common::proto::{self, InventorySnapshot, Message, ReportStatus, UserReport};
use atalaya_tests::harness::{Collector, enroll};
use atalaya_tests::raw::RawSession;

/// The next `ReportStatus`, among `pending` first, then from the session.
async fn next_status(s: &mut RawSession, pending: &mut Vec<Message>) -> ReportStatus {
    while !pending.is_empty() {
        if let Message::ReportStatus(status) = pending.remove(0) {
            return status;
        }
    }
    loop {
        match s.next_not_ack().await {
            Message::ReportStatus(status) => return status,
            Message::ConfigUpdate(_) => {}
            other => panic!("unexpected {}", other.name()),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_reporters_agent_is_told_and_an_older_agent_is_not() {
    let collector = tokio::task::spawn_blocking(Collector::start).await.unwrap();
    let work = tempfile::tempdir().unwrap();
    let token = collector.token(1);
    let identity = enroll(work.path(), &token);
    let addr = collector.quic_address();

    let mut s = RawSession::open(&identity, addr, 0, &[proto::FEATURE_REPORT_STATUS]).await;
    assert!(matches!(s.next().await, Message::ConfigUpdate(_)));
    let mut pending = Vec::new();
    let first = next_status(&mut s, &mut pending).await;
    assert!(first.reports.is_empty(), "{first:?}");

    let mut inventory = Inventory::default();
    inventory.host.hostname = "lat-maria".into();
    s.send(Message::InventorySnapshot(InventorySnapshot {
        seq: 1,
        taken_at: Timestamp::now(),
        inventory,
    }))
    .await;
    s.send(Message::UserReport(UserReport {
        seq: 2,
        id: "19ac-2f".into(),
        written_at: Timestamp::now(),
        text: "the printer does not print\nnot even a test page".into(),
        user: Some("maria".into()),
        uid: Some(1000),
    }))
    .await;
    pending = s.acked(2).await;
    // Handled by the desk: the report now has its incident.
    let told = loop {
        let status = next_status(&mut s, &mut pending).await;
        if status.reports.first().is_some_and(|r| r.incident.is_some()) {
            break status;
        }
    };
    assert_eq!(told.reports.len(), 1, "{told:?}");
    let report = &told.reports[0];
    assert_eq!(report.id, "19ac-2f");
    assert_eq!(report.uid, Some(1000));
    assert_eq!(report.summary, "the printer does not print");
    assert_eq!(report.status.as_deref(), Some("open"));
    assert_eq!(report.assignee, None);
    let n = report.incident.unwrap().to_string();

    // Each change of its incident is told, with the newest public note.
    collector.cli_ok(&["note", &n, "--public", "A new toner is on its way."]);
    let told = next_status(&mut s, &mut pending).await;
    let note = told.reports[0].note.as_ref().unwrap();
    assert_eq!(
        (note.author.as_str(), note.text.as_str()),
        ("local administrator", "A new toner is on its way.")
    );
    collector.cli_ok(&["assign", &n, "ana"]);
    collector.cli_ok(&["note", &n, "ask Luis about the toner budget"]);
    let told = loop {
        let status = next_status(&mut s, &mut pending).await;
        if status.reports[0].assignee.is_some() {
            break status;
        }
    };
    assert_eq!(told.reports[0].assignee.as_deref(), Some("ana"));
    assert_eq!(
        told.reports[0].note.as_ref().unwrap().text,
        "A new toner is on its way.",
        "a private note is never told"
    );
    s.conn.close(0u32.into(), b"done");

    // The same machine with an agent of the first release: never told,
    // and its session goes on.
    let mut old = RawSession::open(&identity, addr, 2, &[]).await;
    assert!(matches!(old.next().await, Message::ConfigUpdate(_)));
    collector.cli_ok(&["ack", &n]);
    for seq in [3, 4] {
        let meanwhile = old.heartbeat(seq).await;
        assert!(
            meanwhile
                .iter()
                .all(|m| !matches!(m, Message::ReportStatus(_))),
            "{meanwhile:?}"
        );
    }
    assert!(old.conn.close_reason().is_none());

    // A newer agent connecting again gets the list at once.
    old.conn.close(0u32.into(), b"done");
    let mut again = RawSession::open(&identity, addr, 4, &[proto::FEATURE_REPORT_STATUS]).await;
    let mut none = Vec::new();
    let told = next_status(&mut again, &mut none).await;
    assert_eq!(told.reports[0].status.as_deref(), Some("acknowledged"));
}
