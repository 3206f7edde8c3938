//! The collector's own health, for `GET /metrics` (Prometheus text format):
//! connected agents, ingest rates, commit latency, queue depth, refusals.

use std::fmt::Write;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// Upper bounds of the commit latency histogram, seconds.
const LATENCY_BUCKETS: [f64; 12] = [
    0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0, 2.0, 5.0,
];

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

/// Counters and gauges, updated lock-free on the hot path.
#[derive(Debug, Default)]
pub struct Telemetry {
    /// Data sessions open now.
    pub connected_agents: AtomicU64,
    /// QUIC connections open now, handshakes and enrollments included
    /// (what `max_connections` caps).
    pub open_connections: AtomicU64,
    /// Records committed (all kinds).
    pub records: AtomicU64,
    /// Metric points committed.
    pub samples: AtomicU64,
    /// Records recognised as already stored (resent after a reconnect).
    pub duplicates: AtomicU64,
    /// Group commits done.
    pub commits: AtomicU64,
    /// Group commits that failed.
    pub commit_failures: AtomicU64,
    /// Records waiting for the next commit.
    pub queue_depth: AtomicU64,
    /// Enrollments accepted.
    pub enrollments: AtomicU64,
    /// Agent certificates renewed.
    pub renewals: AtomicU64,
    latency: Mutex<Histogram>,
    refusals: Mutex<Vec<(String, u64)>>,
}

#[derive(Debug, Default)]
struct Histogram {
    buckets: [u64; LATENCY_BUCKETS.len()],
    count: u64,
    sum: f64,
}

impl Telemetry {
    /// Records the duration of one group commit.
    pub fn observe_commit(&self, took: Duration) {
        let secs = took.as_secs_f64();
        let mut h = self.latency.lock().unwrap_or_else(|e| e.into_inner());
        for (bound, count) in LATENCY_BUCKETS.iter().zip(h.buckets.iter_mut()) {
            if secs <= *bound {
                *count += 1;
            }
        }
        h.count += 1;
        h.sum += secs;
    }

    /// Counts a refused connection, frame or request by reason (`bad_frame`,
    /// `revoked`, `certificate_expired`, …).
    pub fn refuse(&self, reason: &str) {
        self.refuse_many(reason, 1);
    }

    /// Counts `count` refusals of one reason at once (`bad_time`,
    /// `bad_value`: the samples of one batch).
    pub fn refuse_many(&self, reason: &str, count: u64) {
        if count == 0 {
            return;
        }
        let mut r = self.refusals.lock().unwrap_or_else(|e| e.into_inner());
        match r.iter_mut().find(|(k, _)| k == reason) {
            Some((_, n)) => *n = n.saturating_add(count),
            None => r.push((reason.to_owned(), count)),
        }
    }

    /// The Prometheus text exposition.
    pub fn render(&self, extra: &[(&str, &str, f64)]) -> String {
        let mut out = String::new();
        let gauge = |out: &mut String, name: &str, help: &str, kind: &str, v: f64| {
            let _ = writeln!(
                out,
                "# HELP {name} {help}\n# TYPE {name} {kind}\n{name} {v}"
            );
        };
        let load = |a: &AtomicU64| a.load(Ordering::Relaxed) as f64;
        gauge(
            &mut out,
            "atalaya_connected_agents",
            "Agents with an open data session.",
            "gauge",
            load(&self.connected_agents),
        );
        gauge(
            &mut out,
            "atalaya_open_connections",
            "QUIC connections open, handshakes and enrollments included.",
            "gauge",
            load(&self.open_connections),
        );
        gauge(
            &mut out,
            "atalaya_ingest_records_total",
            "Records committed.",
            "counter",
            load(&self.records),
        );
        gauge(
            &mut out,
            "atalaya_ingest_samples_total",
            "Metric points committed.",
            "counter",
            load(&self.samples),
        );
        gauge(
            &mut out,
            "atalaya_ingest_duplicates_total",
            "Records received again and stored once.",
            "counter",
            load(&self.duplicates),
        );
        gauge(
            &mut out,
            "atalaya_commits_total",
            "Group commits.",
            "counter",
            load(&self.commits),
        );
        gauge(
            &mut out,
            "atalaya_commit_failures_total",
            "Group commits that failed.",
            "counter",
            load(&self.commit_failures),
        );
        gauge(
            &mut out,
            "atalaya_ingest_queue_depth",
            "Records waiting for the next commit.",
            "gauge",
            load(&self.queue_depth),
        );
        gauge(
            &mut out,
            "atalaya_enrollments_total",
            "Agents enrolled.",
            "counter",
            load(&self.enrollments),
        );
        gauge(
            &mut out,
            "atalaya_certificate_renewals_total",
            "Agent certificates renewed.",
            "counter",
            load(&self.renewals),
        );
        for (name, help, value) in extra {
            gauge(&mut out, name, help, "gauge", *value);
        }
        let h = self.latency.lock().unwrap_or_else(|e| e.into_inner());
        let _ = writeln!(
            out,
            "# HELP atalaya_commit_seconds Duration of group commits.\n# TYPE atalaya_commit_seconds histogram"
        );
        for (bound, count) in LATENCY_BUCKETS.iter().zip(h.buckets.iter()) {
            let _ = writeln!(
                out,
                "atalaya_commit_seconds_bucket{{le=\"{bound}\"}} {count}"
            );
        }
        let _ = writeln!(
            out,
            "atalaya_commit_seconds_bucket{{le=\"+Inf\"}} {}",
            h.count
        );
        let _ = writeln!(
            out,
            "atalaya_commit_seconds_sum {}\natalaya_commit_seconds_count {}",
            h.sum, h.count
        );
        drop(h);
        let _ = writeln!(
            out,
            "# HELP atalaya_refused_total Connections, frames or records refused, by reason.\n# TYPE atalaya_refused_total counter"
        );
        for (reason, n) in self
            .refusals
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
        {
            let _ = writeln!(out, "atalaya_refused_total{{reason=\"{reason}\"}} {n}");
        }
        out
    }
}

#[cfg(test)]
mod tests {
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
        t.records.fetch_add(3, Ordering::Relaxed);
        t.observe_commit(Duration::from_millis(3));
        t.refuse("bad_frame");
        t.refuse("bad_frame");
        t.refuse_many("bad_time", 5);
        t.refuse_many("bad_value", 0);
        let text = t.render(&[("atalaya_assets", "Assets known.", 2.0)]);
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
}
