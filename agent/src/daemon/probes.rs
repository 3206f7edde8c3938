//! The probing task: every interval, one round over the default targets
//! (read afresh, since a gateway or resolver changes with the network)
//! and the targets the collector pushed, spooled as a `ProbeRound`.
//!
//! Pushed lists are kept on disk as they come; a list that arrives during
//! a round is used from the next one.

use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use atalaya_common::model::{ProbeTarget, Timestamp};
use atalaya_common::proto::{Message, ProbeRound};
use tokio::sync::watch;
use tokio::time::MissedTickBehavior;

use crate::config::ProbeConfig;
use crate::error::describe;
use crate::outbox::OutboxError;
use crate::policy::Effective;
use crate::probes::{self, MAX_TARGETS, Prober, system, targets};
use crate::root::Root;
use crate::uplink::Shared;

/// What the task needs to know of the host and its collector.
#[derive(Debug, Clone)]
pub struct Host {
    /// The agent's root, where the gateway and resolvers are read.
    pub root: Root,
    /// The collector's address.
    pub collector: Option<IpAddr>,
    /// The name DNS probes ask for by default: the collector's host name,
    /// or empty (the root's name servers) when it was given as an address.
    pub dns_name: String,
}

/// The probing task's state.
#[derive(Debug)]
pub struct Probing {
    state_dir: PathBuf,
    settings: ProbeConfig,
    host: Host,
    shared: Arc<Shared>,
    prober: Arc<Prober>,
    pushed: Vec<ProbeTarget>,
    warned_cap: bool,
}

impl Probing {
    /// The task, with the targets kept from an earlier run. A damaged list
    /// is logged and left until the collector sends a new one.
    pub fn new(state_dir: &Path, settings: ProbeConfig, host: Host, shared: Arc<Shared>) -> Self {
        let pushed = match targets::load(state_dir) {
            Ok(list) => list,
            Err(err) => {
                tracing::error!(error = %describe(&err), "starting without pushed probe targets");
                Vec::new()
            }
        };
        Probing {
            state_dir: state_dir.to_owned(),
            settings,
            host,
            shared,
            prober: Prober::new(settings.plan, settings.concurrency),
            pushed,
            warned_cap: false,
        }
    }

    /// The targets of the next round: the defaults, then the pushed ones,
    /// each once, at most [`MAX_TARGETS`].
    pub fn targets(&mut self) -> Vec<ProbeTarget> {
        let mut all = if self.settings.default_targets {
            system::default_targets(&self.host.root, self.host.collector, &self.host.dns_name)
        } else {
            Vec::new()
        };
        for t in &self.pushed {
            if !all.contains(t) {
                all.push(t.clone());
            }
        }
        if all.len() > MAX_TARGETS {
            if !self.warned_cap {
                tracing::warn!(
                    targets = all.len(),
                    max = MAX_TARGETS,
                    "more probe targets than an agent probes; the last ones are left out"
                );
                self.warned_cap = true;
            }
            all.truncate(MAX_TARGETS);
        }
        all
    }

    /// Takes `list` as the whole list of pushed targets, kept on disk.
    pub fn push(&mut self, list: Vec<ProbeTarget>) {
        if list == self.pushed {
            return;
        }
        if let Err(err) = targets::save(&self.state_dir, &list) {
            // Probing the new list matters more; a restart would probe the old one.
            tracing::error!(error = %describe(&err), "cannot keep the probe targets on disk");
        }
        tracing::info!(targets = list.len(), "probe targets from the collector");
        self.pushed = list;
        self.warned_cap = false;
    }

    /// One round over the current targets, spooled; its sequence number.
    pub async fn round(&mut self) -> Result<Option<u64>, OutboxError> {
        let targets = self.targets();
        if targets.is_empty() {
            return Ok(None);
        }
        let results = self.prober.round(&targets).await;
        let at = Timestamp::now();
        self.shared
            .send(|seq| Message::ProbeRound(ProbeRound { seq, at, results }))
            .map(Some)
    }

    /// Probes every interval and follows the collector's lists until they
    /// end, and the settings in force (a policy may switch probing off or
    /// on, or change the interval).
    pub async fn run(
        mut self,
        mut pushed: watch::Receiver<Option<Vec<ProbeTarget>>>,
        mut settings: watch::Receiver<Effective>,
    ) {
        loop {
            let (enabled, interval) = {
                let now = settings.borrow_and_update();
                (now.probes_enabled, now.probes_interval)
            };
            if enabled {
                tracing::info!(
                    interval_seconds = interval.as_secs(),
                    count = self.settings.plan.count,
                    round_ms = probes::round_time(self.settings.plan).as_millis(),
                    "probing the network"
                );
            } else {
                tracing::info!("probes enabled = false: no network probes");
            }
            let mut ticks = tokio::time::interval(interval);
            ticks.set_missed_tick_behavior(MissedTickBehavior::Delay);
            loop {
                tokio::select! {
                    changed = settings.changed() => {
                        if changed.is_err() {
                            return;
                        }
                        let now = settings.borrow();
                        if (now.probes_enabled, now.probes_interval) != (enabled, interval) {
                            break;
                        }
                    }
                    changed = pushed.changed() => {
                        if changed.is_err() {
                            return;
                        }
                        if let Some(list) = pushed.borrow_and_update().clone() {
                            self.push(list);
                        }
                    }
                    _ = ticks.tick(), if enabled => {
                        if let Err(err) = self.round().await {
                            tracing::error!(error = %describe(&err), "dropping a probe round");
                        }
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::daemon::test_shared;
    use atalaya_common::model::ProbeKind;

    fn settings() -> ProbeConfig {
        ProbeConfig {
            default_targets: false,
            ..crate::config::AgentConfig::default().probes
        }
    }

    fn host() -> Host {
        Host {
            root: Root::new("/nonexistent"),
            collector: None,
            dns_name: String::new(),
        }
    }

    #[tokio::test]
    async fn pushed_targets_are_kept_deduplicated_and_capped() {
        let dir = tempfile::tempdir().unwrap();
        let mut p = Probing::new(dir.path(), settings(), host(), test_shared());
        assert!(p.targets().is_empty());
        let mut list: Vec<ProbeTarget> = (0..250)
            .map(|i| ProbeTarget::new(ProbeKind::Tcp, format!("10.0.{}.{}:22", i / 200, i % 200)))
            .collect();
        list.push(list[0].clone());
        p.push(list.clone());
        assert_eq!(p.targets().len(), MAX_TARGETS);
        assert_eq!(p.targets()[0], list[0]);
        // A restart probes the kept list.
        let again = Probing::new(dir.path(), settings(), host(), test_shared());
        assert_eq!(again.pushed, list);
    }
}
