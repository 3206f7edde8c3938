//! Remote assistance: the diagnostic actions the help desk asks through
//! the collector, checked and run by this machine on its own terms.
//!
//! Every order is checked here, every time: the collector CA's signature,
//! that it is for this agent, its expiry, that its id was not seen before
//! ([`verify`]), then this machine's `[assist]` allow-list ([`allow`]).
//! An order that passes runs within the configured deadline and output cap
//! ([`run`]). Whatever happens, the daemon sends a [`DiagResult`] record
//! back through the outbox (spooled, sent, acknowledged like any record)
//! and appends a line to `<state_dir>/assist.log` ([`audit`]).
//!
//! # Layout
//! - [`verify`]: signature, agent, expiry and replay checks.
//! - [`accepted`]: the accepted orders kept across restarts, against replays.
//! - [`allow`]: the allow-list of the configuration file.
//! - [`run`]: the actions, with their deadline and output cap.
//! - [`audit`]: the local record of requests.
//! - [`bundle`]: `support-bundle`, and the samples of the last hour it holds.

pub mod accepted;
pub mod allow;
pub mod audit;
pub mod bundle;
pub mod run;
pub mod verify;

use std::path::PathBuf;
use std::time::{Duration, Instant};

use atalaya_common::assist::{DiagOutcome, READ_ONLY_ACTIONS};
use atalaya_common::model::Timestamp;
use atalaya_common::proto::{DiagRequest, DiagResult};

use crate::root::Root;

/// Default deadline of an action, seconds.
pub const DEFAULT_TIMEOUT_SECONDS: u64 = 30;
/// Default cap of an action's output, bytes.
pub const DEFAULT_MAX_OUTPUT_BYTES: u64 = 64 << 10;
/// Default cap of a support bundle, bytes.
pub const DEFAULT_MAX_BUNDLE_BYTES: u64 = 4 << 20;

/// The `[assist]` section: what this machine lets the help desk run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AssistConfig {
    /// Run diagnostic actions at all.
    pub enabled: bool,
    /// Names of the actions allowed (default: the read-only ones).
    pub allow: Vec<String>,
    /// The services `service-restart` may restart.
    pub restart_services: Vec<String>,
    /// Files `log-tail` may read, or directories whose files it may read.
    pub log_paths: Vec<PathBuf>,
    /// Longest run of an action.
    pub timeout: Duration,
    /// Most bytes of output sent back.
    pub max_output_bytes: usize,
    /// Most bytes of a support bundle.
    pub max_bundle_bytes: usize,
}

impl Default for AssistConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            allow: READ_ONLY_ACTIONS.iter().map(|s| (*s).to_owned()).collect(),
            restart_services: Vec::new(),
            log_paths: vec![PathBuf::from("/var/log")],
            timeout: Duration::from_secs(DEFAULT_TIMEOUT_SECONDS),
            max_output_bytes: DEFAULT_MAX_OUTPUT_BYTES as usize,
            max_bundle_bytes: DEFAULT_MAX_BUNDLE_BYTES as usize,
        }
    }
}

impl AssistConfig {
    /// Whether the help desk may ask for support bundles, for which the
    /// agent keeps its samples of the last hour.
    pub fn allows_bundles(&self) -> bool {
        self.enabled && self.allow.iter().any(|a| a == "support-bundle")
    }

    /// The limits of one run.
    pub fn limits(&self) -> run::Limits {
        run::Limits {
            timeout: self.timeout,
            max_output_bytes: self.max_output_bytes,
        }
    }
}

/// The result of one order (its `seq` is given when it is spooled).
pub async fn handle(
    request: &DiagRequest,
    verifier: &mut verify::Verifier,
    config: &AssistConfig,
    root: &Root,
    sources: &bundle::Sources,
) -> DiagResult {
    let started_at = Timestamp::now();
    let clock = Instant::now();
    let verified = verifier.check(request, started_at);
    if verified.is_ok() {
        // Kept before it runs: an agent that dies during a restart it was
        // asked for must not run it again when the order comes back.
        if let Err(e) = accepted::save(&sources.state_dir, verifier.accepted()) {
            tracing::error!(error = %e, "cannot keep the accepted orders: after a restart one sent again would run again");
        }
    }
    let checked = verified.and_then(|order| allow::decide(config, &order.action).map(|()| order));
    let ran = match checked {
        Ok(order) if order.action == atalaya_common::assist::Action::SupportBundle => {
            support_bundle(config, root, sources).await
        }
        Ok(order) => run::run(&order.action, config, root).await,
        Err(refusal) => run::Ran::bare(DiagOutcome::Refused {
            reason: refusal.to_string(),
        }),
    };
    DiagResult {
        seq: 0,
        id: request.order.id.clone(),
        started_at,
        duration_ms: u64::try_from(clock.elapsed().as_millis()).unwrap_or(u64::MAX),
        outcome: ran.outcome,
        output: ran.output,
        truncated: ran.truncated,
    }
}

/// Makes a support bundle off the async threads, within the deadline.
async fn support_bundle(config: &AssistConfig, root: &Root, sources: &bundle::Sources) -> run::Ran {
    let work = {
        let (config, root, sources) = (config.clone(), root.clone(), sources.clone());
        tokio::task::spawn_blocking(move || bundle::make(&config, &root, &sources))
    };
    let failed = |reason: String| run::Ran::bare(DiagOutcome::Failed { reason });
    match tokio::time::timeout(config.timeout, work).await {
        Ok(Ok(Ok((text, left_out)))) => run::Ran {
            outcome: DiagOutcome::Completed,
            output: text,
            truncated: left_out,
        },
        Ok(Ok(Err(reason))) => failed(reason),
        Ok(Err(e)) => failed(format!("the action stopped: {e}")),
        Err(_) => run::Ran::bare(DiagOutcome::TimedOut {
            after_seconds: u32::try_from(config.timeout.as_secs()).unwrap_or(u32::MAX),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::verify::tests::{ca, order, signed};
    use super::*;
    use atalaya_common::assist::Action;

    #[tokio::test]
    async fn an_order_accepted_is_kept_before_it_runs_and_refused_after_a_restart() {
        let state = tempfile::tempdir().unwrap();
        let sources = bundle::Sources {
            recent: std::sync::Arc::default(),
            state_dir: state.path().to_owned(),
        };
        let (key, pem) = ca();
        let fresh = || verify::Verifier::new(verify::CaKey::from_pem(&pem).unwrap(), "ag-1");
        // A restart this machine does not allow: signed and accepted, then
        // refused by the allow-list, so nothing runs in the test.
        let mut restart = order("d-1", Timestamp::now());
        restart.action = Action::ServiceRestart {
            name: "cron".into(),
        };
        let request = signed(&key, restart);
        let root = Root::new(state.path());
        let config = AssistConfig::default();

        let mut verifier = fresh();
        let first = handle(&request, &mut verifier, &config, &root, &sources).await;
        assert!(
            first.outcome.reason().unwrap().starts_with("not allowed"),
            "{:?}",
            first.outcome
        );
        assert!(accepted::load(state.path()).unwrap().contains_key("d-1"));

        // The agent restarts; the same order comes again.
        let mut verifier = fresh();
        verifier.remember(accepted::load(state.path()).unwrap());
        let again = handle(&request, &mut verifier, &config, &root, &sources).await;
        assert_eq!(
            again.outcome.reason(),
            Some("replayed: request d-1 was received before".to_string())
        );
    }
}
