//! What the latency benches share: finding an incident through the API,
//! waiting for it, reading its times, and printing a spread of latencies.

use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use serde_json::Value;

use atalaya_collector::telemetry::percentile;
use atalaya_common::model::Timestamp;

use crate::harness::Collector;

/// The first incident in `status` (`open`, `resolved`…) for which
/// `matches` holds, as `/api/v1/incidents` lists it.
pub fn find_incident(
    collector: &Collector,
    status: &str,
    matches: impl Fn(&Value) -> bool,
) -> anyhow::Result<Option<Value>> {
    let (code, body) = collector.get(
        &format!("/api/v1/incidents?status={status}"),
        Some(&collector.admin),
    );
    if code != 200 {
        bail!("listing incidents: HTTP {code}: {body}");
    }
    Ok(body
        .as_array()
        .and_then(|all| all.iter().find(|i| matches(i)).cloned()))
}

/// Lists the incidents every `every` until [`find_incident`] has one;
/// an error naming `what` after `limit`.
pub fn wait_incident(
    collector: &Collector,
    status: &str,
    (every, limit): (Duration, Duration),
    what: &str,
    matches: impl Fn(&Value) -> bool,
) -> anyhow::Result<Value> {
    let start = Instant::now();
    loop {
        if let Some(found) = find_incident(collector, status, &matches)? {
            return Ok(found);
        }
        if start.elapsed() > limit {
            bail!("{what}: no {status} incident after {limit:?}");
        }
        // The pace of the reading is the measurement's resolution.
        std::thread::sleep(every);
    }
}

/// The time `key` (e.g. `stored_at`) of a record as the API shows it, ms
/// since the epoch.
pub fn time_of(record: &Value, key: &str) -> anyhow::Result<i64> {
    let text = record[key]
        .as_str()
        .with_context(|| format!("no {key} in {record}"))?;
    Ok(Timestamp::parse_rfc3339(text)?.0)
}

/// Prints `what: n=… p50 … ms, p90 … ms, p99 … ms, max … ms` of `values`
/// (ms), which it sorts.
pub fn report(what: &str, values: &mut [i64]) {
    values.sort_unstable();
    println!(
        "{what}: n={} p50 {} ms, p90 {} ms, p99 {} ms, max {} ms",
        values.len(),
        percentile(values, 0.5),
        percentile(values, 0.9),
        percentile(values, 0.99),
        values.last().copied().unwrap_or(0)
    );
}
