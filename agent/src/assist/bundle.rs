//! `support-bundle`: one JSON document the help desk keeps with the
//! incident, made of what the agent knows and what the machine lets it
//! read: the inventory now, the health samples of the last hour (kept in
//! memory as they are taken, see [`Recent`]), the last lines of the logs
//! `log-tail` may read here, and the last lines of the remote assistance
//! log. When it would be larger than `[assist] max_bundle_bytes`, the
//! oldest samples, then the logs, are left out, and the document says so.

use std::collections::VecDeque;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use atalaya_common::model::{HealthSample, Timestamp};
use serde::Serialize;

use super::run::log_tail;
use super::{AssistConfig, allow, audit};
use crate::root::Root;

/// How far back the samples of a bundle go.
pub const WINDOW_MS: i64 = 3_600_000;
/// Most samples kept, whatever the interval (one a second for an hour).
pub const MAX_SAMPLES: usize = 3600;
/// Lines taken from the end of each log.
pub const LOG_LINES: usize = 100;
/// Files taken from each allowed log directory: the most recently written.
pub const FILES_PER_DIRECTORY: usize = 8;

/// The health samples of the last hour, as the agent takes them.
#[derive(Debug, Default)]
pub struct Recent {
    samples: Mutex<VecDeque<HealthSample>>,
}

impl Recent {
    /// Keeps `sample`, and forgets those older than an hour before it.
    pub fn push(&self, sample: HealthSample) {
        let mut samples = self.samples.lock().unwrap_or_else(|e| e.into_inner());
        let since = sample.at.0.saturating_sub(WINDOW_MS);
        samples.push_back(sample);
        while samples
            .front()
            .is_some_and(|s| s.at.0 < since || samples.len() > MAX_SAMPLES)
        {
            samples.pop_front();
        }
    }

    /// The samples kept, oldest first.
    pub fn snapshot(&self) -> Vec<HealthSample> {
        let samples = self.samples.lock().unwrap_or_else(|e| e.into_inner());
        samples.iter().cloned().collect()
    }
}

/// What a bundle is made from, besides the machine itself.
#[derive(Debug, Clone)]
pub struct Sources {
    /// The samples of the last hour.
    pub recent: std::sync::Arc<Recent>,
    /// The agent's state directory (its `assist.log`).
    pub state_dir: PathBuf,
}

/// The document.
#[derive(Debug, Serialize)]
struct Bundle {
    kind: &'static str,
    taken_at: Timestamp,
    agent_version: &'static str,
    inventory: atalaya_common::model::Inventory,
    samples: Vec<HealthSample>,
    logs: Vec<LogTail>,
    assist_log: Vec<String>,
    /// What was left out to stay under the size limit.
    left_out: Vec<String>,
}

/// The last lines of one log.
#[derive(Debug, Serialize)]
struct LogTail {
    path: String,
    lines: Vec<String>,
}

/// Makes the bundle; the text and whether something was left out.
pub fn make(
    config: &AssistConfig,
    root: &Root,
    sources: &Sources,
) -> Result<(String, bool), String> {
    let (inventory, _) = crate::inventory::collect(root);
    let mut bundle = Bundle {
        kind: "atalaya-support-bundle",
        taken_at: Timestamp::now(),
        agent_version: env!("CARGO_PKG_VERSION"),
        inventory,
        samples: sources.recent.snapshot(),
        logs: logs(config),
        assist_log: lines(
            &log_tail(&sources.state_dir.join(audit::FILE), LOG_LINES).unwrap_or_default(),
        ),
        left_out: Vec::new(),
    };
    let cap = config.max_bundle_bytes;
    loop {
        let text = serde_json::to_string_pretty(&bundle)
            .map_err(|e| format!("the bundle does not encode: {e}"))?;
        if text.len() <= cap {
            return Ok((text, !bundle.left_out.is_empty()));
        }
        if bundle.samples.len() > 1 {
            let drop = bundle.samples.len().div_ceil(2);
            bundle.samples.drain(..drop);
            note(&mut bundle.left_out, "the oldest health samples");
        } else if !bundle.logs.is_empty() {
            bundle.logs.pop();
            note(&mut bundle.left_out, "some logs");
        } else if !bundle.samples.is_empty() || !bundle.assist_log.is_empty() {
            bundle.samples.clear();
            bundle.assist_log.clear();
            note(
                &mut bundle.left_out,
                "every health sample and the assistance log",
            );
        } else {
            return Err(format!(
                "the inventory alone is {} bytes, over [assist] max_bundle_bytes = {cap}",
                text.len()
            ));
        }
    }
}

fn note(left_out: &mut Vec<String>, what: &str) {
    if !left_out.iter().any(|w| w == what) {
        left_out.push(what.to_owned());
    }
}

fn lines(text: &str) -> Vec<String> {
    text.lines().map(str::to_owned).collect()
}

/// The last lines of each log `log-tail` may read: the files named in
/// `log_paths`, and the most recently written plain files directly in the
/// directories named there (rotated and compressed ones left out).
fn logs(config: &AssistConfig) -> Vec<LogTail> {
    let mut files: Vec<PathBuf> = Vec::new();
    for path in &config.log_paths {
        if path.is_file() {
            files.push(path.clone());
        } else if let Ok(entries) = std::fs::read_dir(path) {
            let mut found: Vec<(std::time::SystemTime, PathBuf)> = entries
                .flatten()
                .filter(|e| e.file_type().is_ok_and(|t| t.is_file()))
                .map(|e| e.path())
                .filter(|p| current_log(p))
                .filter_map(|p| Some((p.metadata().ok()?.modified().ok()?, p)))
                .collect();
            found.sort_by_key(|f| std::cmp::Reverse(f.0));
            files.extend(found.into_iter().take(FILES_PER_DIRECTORY).map(|(_, p)| p));
        }
    }
    files
        .into_iter()
        // The same check as log-tail's: no link leads out of the allowed paths.
        .filter_map(|f| allow::log_path(config, &f).ok())
        .filter_map(|f| {
            let text = log_tail(&f, LOG_LINES).ok()?;
            Some(LogTail {
                path: f.display().to_string(),
                lines: lines(&text),
            })
        })
        .collect()
}

/// Not a rotated (`syslog.1`) or compressed (`syslog.2.gz`) copy.
fn current_log(path: &Path) -> bool {
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
    let last = name.rsplit('.').next().unwrap_or("");
    !(name.contains('.')
        && (last.chars().all(|c| c.is_ascii_digit())
            || ["gz", "xz", "bz2", "zst", "old"].contains(&last)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    fn sample(at_ms: i64) -> HealthSample {
        HealthSample {
            at: Timestamp(at_ms),
            ..HealthSample::default()
        }
    }

    #[test]
    fn an_hour_of_samples_is_kept() {
        let recent = Recent::default();
        for minute in 0..90 {
            recent.push(sample(minute * 60_000));
        }
        let kept = recent.snapshot();
        assert_eq!(kept.first().unwrap().at, Timestamp(29 * 60_000));
        assert_eq!(kept.last().unwrap().at, Timestamp(89 * 60_000));
        assert_eq!(kept.len(), 61);
    }

    #[test]
    fn a_bundle_holds_inventory_samples_and_the_allowed_logs_and_stays_under_its_cap() {
        let logs = tempfile::tempdir().unwrap();
        std::fs::write(logs.path().join("app.log"), "started\nlistening on 8080\n").unwrap();
        std::fs::write(logs.path().join("app.log.1"), "older\n").unwrap();
        std::fs::write(logs.path().join("app.log.2.gz"), "zipped").unwrap();
        let state = tempfile::tempdir().unwrap();
        std::fs::write(state.path().join(audit::FILE), "{\"id\":\"d-1\"}\n").unwrap();
        let recent = Arc::new(Recent::default());
        for i in 0..200 {
            recent.push(sample(1_800_000_000_000 + i * 1000));
        }
        let config = AssistConfig {
            log_paths: vec![logs.path().to_owned()],
            ..AssistConfig::default()
        };
        let sources = Sources {
            recent,
            state_dir: state.path().to_owned(),
        };
        let root = Root::new(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/fixtures/debian"
        ));
        let (text, left_out) = make(&config, &root, &sources).unwrap();
        assert!(!left_out);
        let doc: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(doc["kind"], "atalaya-support-bundle");
        assert_eq!(doc["inventory"]["host"]["hostname"], "lat-maria");
        assert_eq!(doc["samples"].as_array().unwrap().len(), 200);
        let logs_seen: Vec<&str> = doc["logs"]
            .as_array()
            .unwrap()
            .iter()
            .map(|l| l["path"].as_str().unwrap())
            .collect();
        assert_eq!(logs_seen.len(), 1, "{logs_seen:?}");
        assert!(logs_seen[0].ends_with("app.log"));
        assert_eq!(doc["logs"][0]["lines"][1], "listening on 8080");
        assert_eq!(doc["assist_log"][0], "{\"id\":\"d-1\"}");

        // Under a small cap: the oldest samples go first, and it says so.
        let inventory_only = text.len() - 150 * 200;
        let small = AssistConfig {
            max_bundle_bytes: inventory_only,
            ..config
        };
        let (text, left_out) = make(&small, &root, &sources).unwrap();
        assert!(left_out);
        assert!(text.len() <= inventory_only);
        let doc: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert!(doc["samples"].as_array().unwrap().len() < 200);
        assert_eq!(doc["left_out"][0], "the oldest health samples");
        // The newest are the ones kept.
        assert_eq!(
            doc["samples"].as_array().unwrap().last().unwrap()["at"],
            serde_json::to_value(Timestamp(1_800_000_000_000 + 199_000)).unwrap()
        );
    }
}
