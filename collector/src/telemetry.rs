//! The collector's own health, for `GET /metrics` (Prometheus text format
//! 0.0.4): connected agents, ingest rates, commit latency, queue depth,
//! refusals.
//!
//! The metrics live in a `prometheus-client` registry. Counters and gauges
//! are single atomics, so the ingest path pays one relaxed atomic add per
//! update and takes no lock. Registry names of counters carry no `_total`:
//! the encoder appends it, so the exposed names (`atalaya_refused_total`,
//! `atalaya_ingest_records_total`, …) are the ones Atalaya always served.

use std::sync::atomic::AtomicU64;
use std::time::Duration;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::encoding::prometheus_text;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

/// The `Content-Type` of what [`Telemetry::render`] writes.
pub const CONTENT_TYPE: &str = prometheus_text::CONTENT_TYPE;

/// Upper bounds of the commit latency histogram, seconds.
const LATENCY_BUCKETS: [f64; 12] = [
    0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0, 2.0, 5.0,
];

/// A level that goes up and down (connections, queue depth): one atomic.
pub type Level = Gauge<u64, AtomicU64>;

/// Nearest-rank percentile `p` (0 to 1) of values sorted ascending (the
/// smallest value with at least `p` of them at or below it); the default
/// (zero) for no values. For the figures the bench binaries print.
pub fn percentile<T: Copy + Default>(sorted: &[T], p: f64) -> T {
    if sorted.is_empty() {
        return T::default();
    }
    let rank = ((p * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    sorted[rank - 1]
}

/// The label of `atalaya_refused_total`.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct Refusal {
    reason: &'static str,
}

/// Counters and gauges, updated lock-free on the hot path; cloned handles
/// of these are what the registry encodes.
#[derive(Debug)]
pub struct Telemetry {
    /// Data sessions open now.
    pub connected_agents: Level,
    /// QUIC connections open now, handshakes and enrollments included
    /// (what `max_connections` caps).
    pub open_connections: Level,
    /// Records committed (all kinds).
    pub records: Counter,
    /// Metric points committed.
    pub samples: Counter,
    /// Records recognised as already stored (resent after a reconnect).
    pub duplicates: Counter,
    /// Group commits done.
    pub commits: Counter,
    /// Group commits that failed.
    pub commit_failures: Counter,
    /// Records waiting for the next commit.
    pub queue_depth: Level,
    /// Enrollments accepted.
    pub enrollments: Counter,
    /// Agent certificates renewed.
    pub renewals: Counter,
    /// Expiry passes in which the byte budget deleted data earlier than
    /// their tier's duration.
    pub retention_forced: Counter,
    /// Raw blocks and rollup points deleted as they expired.
    pub retention_deleted: Counter,
    latency: Histogram,
    refusals: Family<Refusal, Counter>,
    registry: Registry,
}

impl Default for Telemetry {
    fn default() -> Self {
        let t = Telemetry {
            connected_agents: Level::default(),
            open_connections: Level::default(),
            records: Counter::default(),
            samples: Counter::default(),
            duplicates: Counter::default(),
            commits: Counter::default(),
            commit_failures: Counter::default(),
            queue_depth: Level::default(),
            enrollments: Counter::default(),
            renewals: Counter::default(),
            retention_forced: Counter::default(),
            retention_deleted: Counter::default(),
            latency: Histogram::new(LATENCY_BUCKETS),
            refusals: Family::default(),
            registry: Registry::default(),
        };
        // The registry appends a full stop to each help text, and `_total`
        // to each counter's name.
        let mut r = Registry::default();
        r.register(
            "atalaya_connected_agents",
            "Agents with an open data session",
            t.connected_agents.clone(),
        );
        r.register(
            "atalaya_open_connections",
            "QUIC connections open, handshakes and enrollments included",
            t.open_connections.clone(),
        );
        r.register(
            "atalaya_ingest_records",
            "Records committed",
            t.records.clone(),
        );
        r.register(
            "atalaya_ingest_samples",
            "Metric points committed",
            t.samples.clone(),
        );
        r.register(
            "atalaya_ingest_duplicates",
            "Records received again and stored once",
            t.duplicates.clone(),
        );
        r.register("atalaya_commits", "Group commits", t.commits.clone());
        r.register(
            "atalaya_commit_failures",
            "Group commits that failed",
            t.commit_failures.clone(),
        );
        r.register(
            "atalaya_ingest_queue_depth",
            "Records waiting for the next commit",
            t.queue_depth.clone(),
        );
        r.register(
            "atalaya_enrollments",
            "Agents enrolled",
            t.enrollments.clone(),
        );
        r.register(
            "atalaya_certificate_renewals",
            "Agent certificates renewed",
            t.renewals.clone(),
        );
        r.register(
            "atalaya_retention_forced",
            "Expiry passes in which the store's byte budget deleted metric data before their retention ended",
            t.retention_forced.clone(),
        );
        r.register(
            "atalaya_retention_deleted",
            "Raw metric blocks and rollup points deleted as they expired",
            t.retention_deleted.clone(),
        );
        r.register(
            "atalaya_commit_seconds",
            "Duration of group commits",
            t.latency.clone(),
        );
        r.register(
            "atalaya_refused",
            "Connections, frames or records refused, by reason",
            t.refusals.clone(),
        );
        Telemetry { registry: r, ..t }
    }
}

impl Telemetry {
    /// Records the duration of one group commit.
    pub fn observe_commit(&self, took: Duration) {
        self.latency.observe(took.as_secs_f64());
    }

    /// Counts a refused connection, frame or request by reason (`bad_frame`,
    /// `revoked`, `certificate_expired`, …).
    pub fn refuse(&self, reason: &'static str) {
        self.refuse_many(reason, 1);
    }

    /// Counts `count` refusals of one reason at once (`bad_time`,
    /// `bad_value`: the samples of one batch). A reason never refused is
    /// not exposed, rather than exposed as 0.
    pub fn refuse_many(&self, reason: &'static str, count: u64) {
        if count == 0 {
            return;
        }
        // A shared read lock on the family's map finds the reason's counter
        // (the write lock only the first time a reason is seen). Refusals
        // come per refused connection or frame, or once per batch, never
        // per sample.
        self.refusals
            .get_or_create(&Refusal { reason })
            .inc_by(count);
    }

    /// The Prometheus text exposition of these metrics.
    pub fn render(&self) -> String {
        self.render_with(&Registry::default())
    }

    /// The Prometheus text exposition of these metrics, then of `extra`'s
    /// (figures gathered for one scrape, such as the store's sizes).
    pub fn render_with(&self, extra: &Registry) -> String {
        let mut out = String::new();
        for registry in [&self.registry, extra] {
            // Writing to a String does not fail; the encoder fails only on
            // a metric it cannot encode, which would be a bug here.
            if let Err(err) = prometheus_text::encode(&mut out, registry) {
                tracing::error!(error = %err, "encoding the collector's metrics failed");
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use prometheus_client::metrics::gauge::ConstGauge;

    use super::*;

    #[test]
    fn percentiles_are_nearest_rank() {
        let v = [10, 20, 30, 40, 50, 60, 70, 80, 90, 100];
        assert_eq!(percentile(&v, 0.5), 50);
        assert_eq!(percentile(&v, 0.9), 90);
        assert_eq!(percentile(&v, 0.99), 100);
        assert_eq!(percentile(&v, 0.0), 10);
        assert_eq!(percentile(&[1.5_f64], 0.99), 1.5);
        assert_eq!(percentile::<i64>(&[], 0.5), 0);
    }

    #[test]
    fn exposition_has_counters_histogram_and_refusals() {
        let t = Telemetry::default();
        t.records.inc_by(3);
        t.observe_commit(Duration::from_millis(3));
        t.refuse("bad_frame");
        t.refuse("bad_frame");
        t.refuse_many("bad_time", 5);
        t.refuse_many("bad_value", 0);
        let mut extra = Registry::default();
        extra.register("atalaya_assets", "Assets known", ConstGauge::new(2u64));
        let text = t.render_with(&extra);
        assert!(text.contains("atalaya_ingest_records_total 3\n"), "{text}");
        assert!(
            text.contains("atalaya_commit_seconds_bucket{le=\"0.002\"} 0\n"),
            "{text}"
        );
        assert!(
            text.contains("atalaya_commit_seconds_bucket{le=\"0.005\"} 1\n"),
            "{text}"
        );
        assert!(
            text.contains("atalaya_commit_seconds_bucket{le=\"+Inf\"} 1\n"),
            "{text}"
        );
        assert!(text.contains("atalaya_commit_seconds_count 1\n"), "{text}");
        assert!(
            text.contains("atalaya_refused_total{reason=\"bad_frame\"} 2\n"),
            "{text}"
        );
        assert!(
            text.contains("atalaya_refused_total{reason=\"bad_time\"} 5\n"),
            "{text}"
        );
        assert!(!text.contains("bad_value"), "{text}");
        assert!(text.contains("atalaya_assets 2\n"), "{text}");
    }

    /// The names, help texts and types scrapers and dashboards rely on,
    /// exactly as the exposition wrote them before it was generated.
    #[test]
    fn exposition_keeps_its_names_and_help() {
        let t = Telemetry::default();
        t.connected_agents.inc();
        t.refuse("revoked");
        let text = t.render();
        for expected in [
            "# HELP atalaya_connected_agents Agents with an open data session.\n\
             # TYPE atalaya_connected_agents gauge\n\
             atalaya_connected_agents 1\n",
            "# HELP atalaya_open_connections QUIC connections open, handshakes and enrollments included.\n\
             # TYPE atalaya_open_connections gauge\n\
             atalaya_open_connections 0\n",
            "# HELP atalaya_ingest_records_total Records committed.\n\
             # TYPE atalaya_ingest_records_total counter\n\
             atalaya_ingest_records_total 0\n",
            "# HELP atalaya_ingest_samples_total Metric points committed.\n\
             # TYPE atalaya_ingest_samples_total counter\n",
            "# HELP atalaya_ingest_duplicates_total Records received again and stored once.\n\
             # TYPE atalaya_ingest_duplicates_total counter\n",
            "# HELP atalaya_commits_total Group commits.\n\
             # TYPE atalaya_commits_total counter\n",
            "# HELP atalaya_commit_failures_total Group commits that failed.\n\
             # TYPE atalaya_commit_failures_total counter\n",
            "# HELP atalaya_ingest_queue_depth Records waiting for the next commit.\n\
             # TYPE atalaya_ingest_queue_depth gauge\n",
            "# HELP atalaya_enrollments_total Agents enrolled.\n\
             # TYPE atalaya_enrollments_total counter\n",
            "# HELP atalaya_certificate_renewals_total Agent certificates renewed.\n\
             # TYPE atalaya_certificate_renewals_total counter\n",
            "# HELP atalaya_commit_seconds Duration of group commits.\n\
             # TYPE atalaya_commit_seconds histogram\n\
             atalaya_commit_seconds_bucket{le=\"0.001\"} 0\n",
            "atalaya_commit_seconds_bucket{le=\"1\"} 0\n",
            "# HELP atalaya_refused_total Connections, frames or records refused, by reason.\n\
             # TYPE atalaya_refused_total counter\n\
             atalaya_refused_total{reason=\"revoked\"} 1\n",
        ] {
            assert!(text.contains(expected), "missing {expected:?} in\n{text}");
        }
    }
}
