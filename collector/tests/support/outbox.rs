//! What the notification test files share: an incident event to deliver,
//! and waiting for the delivery worker.

use std::time::{Duration, Instant};

use atalaya_collector::incidents::Severity;
use atalaya_collector::notify::{Event, EventKind, IncidentInfo};
use atalaya_collector::store::Store;
use atalaya_common::model::Timestamp;

/// The `opened` event of incident `n`: /var on web-01 filling up.
pub fn event(n: u64) -> Event {
    Event::new(
        EventKind::Opened,
        1,
        IncidentInfo {
            id: n,
            asset: "asset-1".into(),
            hostname: "web-01".into(),
            rule: "filesystem-full".into(),
            subject: "/var".into(),
            severity: Severity::High,
            priority: Some("P2".into()),
            title: "filesystem-full on web-01 (/var)".into(),
            description: "/var is 95 % full".into(),
            occurrences: 1,
            url: None,
        },
        Timestamp::from_secs(1_800_000_000),
    )
}

/// Waits until `check` holds, at most 30 s.
pub async fn until(what: &str, mut check: impl FnMut() -> bool) {
    let start = Instant::now();
    while !check() {
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "timed out waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Whether the event `id` has been delivered to every target.
#[allow(dead_code)] // not every file that includes this asks
pub fn sent(store: &Store, id: &str) -> bool {
    store.sent_at(id).unwrap().is_some()
}
