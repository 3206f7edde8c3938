//! The agent's settings in layers, and what it tells the collector about
//! them.
//!
//! From strongest: the keys the agent's own file sets (pinned), the agent
//! policy the collector pushed ([`AgentPolicy`]), the collector's general
//! intervals ([`ConfigUpdate`]), the built-in defaults. Every change of a
//! layer gives new [`Effective`] settings, which the agent's tasks follow
//! live, and a new [`PolicyState`] for the collector. The pushed policy is
//! kept in the state directory, so a restarted agent runs it before it
//! reaches the collector again.

use std::path::Path;
use std::time::Duration;

use atalaya_common::policy::{self, Settings, Value};
use atalaya_common::proto::{AgentPolicy, ConfigUpdate, PolicyState};
use serde::{Deserialize, Serialize};

use crate::config::{log_level, policy_bool, policy_integer};
use crate::probes::{self, Plan};
use crate::state_file::StateFile;
pub use crate::state_file::{LoadError, SaveError};

/// The file the pushed policy is kept in, in the agent's state directory.
pub const POLICY_FILE: &str = "policy.json";

const FILE: StateFile = StateFile {
    name: POLICY_FILE,
    noun: "agent policy",
};

/// The policy as kept on disk: an object, so fields can be added later.
#[derive(Debug, Default, Serialize, Deserialize)]
struct Stored {
    policies: Vec<(String, u64)>,
    settings: Vec<(String, Value)>,
}

/// The pushed policy kept in `state_dir`, if one was ever pushed.
pub fn load(state_dir: &Path) -> Result<Option<AgentPolicy>, LoadError> {
    let stored = FILE.load::<Stored>(state_dir)?;
    Ok(
        (!stored.policies.is_empty() || !stored.settings.is_empty()).then_some(AgentPolicy {
            policies: stored.policies,
            settings: stored.settings,
        }),
    )
}

/// Keeps `policy` in `state_dir`, replacing the one kept.
pub fn save(state_dir: &Path, policy: &AgentPolicy) -> Result<(), SaveError> {
    FILE.save(
        state_dir,
        &Stored {
            policies: policy.policies.clone(),
            settings: policy.settings.clone(),
        },
    )
}

/// The settings the agent's tasks run with, as the layers give them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Effective {
    /// Between full re-inventories.
    pub inventory_interval: Duration,
    /// Between health samples.
    pub metrics_interval: Duration,
    /// Probe the network at all.
    pub probes_enabled: bool,
    /// Between the starts of two probe rounds.
    pub probes_interval: Duration,
    /// Most bytes of the spool.
    pub spool_max_bytes: u64,
    /// Log level.
    pub log_level: &'static str,
}

/// The layers of the settings.
#[derive(Debug, Clone)]
pub struct Layers {
    /// What the agent's own file sets.
    pinned: Settings,
    /// The probe plan of the agent's file: a pushed interval must leave
    /// room for one round of it.
    probe_plan: Plan,
    /// The collector's general intervals.
    fleet: Settings,
    /// The pushed policy, as received.
    central: Option<AgentPolicy>,
}

impl Layers {
    /// The layers of an agent whose file sets `pinned` and probes by `plan`.
    pub fn new(pinned: Settings, probe_plan: Plan) -> Self {
        Self {
            pinned,
            probe_plan,
            fleet: Settings::default(),
            central: None,
        }
    }

    /// The collector's general intervals changed.
    pub fn set_fleet(&mut self, update: &ConfigUpdate) {
        let mut fleet = Settings::default();
        for (name, seconds) in [
            ("metrics.interval_seconds", update.metrics_interval_seconds),
            (
                "inventory.interval_seconds",
                update.inventory_interval_seconds,
            ),
        ] {
            // Taken as the collector says, as before agent policies
            // existed: its `[agents]` ranges are its own (an inventory every
            // second is allowed there, for tests and demos).
            fleet
                .0
                .insert(name.to_owned(), Value::Integer(u64::from(seconds.max(1))));
        }
        self.fleet = fleet;
    }

    /// The collector pushed `policy` (the whole of it).
    pub fn set_central(&mut self, policy: AgentPolicy) {
        self.central = Some(policy);
    }

    /// The pushed policy, if any.
    pub fn central(&self) -> Option<&AgentPolicy> {
        self.central.as_ref()
    }

    /// The pushed keys this agent applies, and the ones it refuses with why.
    fn accepted(&self) -> (Settings, Vec<(String, String)>) {
        let Some(central) = &self.central else {
            return (Settings::default(), Vec::new());
        };
        let (mut good, mut refused) = policy::accept(&central.settings);
        // The same rule as the file's: a round must fit in the interval.
        if let Some(seconds) = good.integer("probes.interval_seconds") {
            let round = probes::round_time(self.probe_plan);
            if round > Duration::from_secs(seconds) {
                good.0.remove("probes.interval_seconds");
                refused.push((
                    "probes.interval_seconds".to_owned(),
                    format!(
                        "a round of this agent's probes takes up to {} ms: longer than {seconds} s",
                        round.as_millis()
                    ),
                ));
            }
        }
        (good, refused)
    }

    /// Every key's value in force, given the accepted pushed keys.
    fn merged(&self, central: &Settings) -> Settings {
        self.pinned.over(&central.over(&self.fleet))
    }

    /// The settings in force.
    pub fn effective(&self) -> Effective {
        let s = self.merged(&self.accepted().0);
        let secs = |name: &str| Duration::from_secs(policy_integer(&s, name).max(1));
        Effective {
            inventory_interval: secs("inventory.interval_seconds"),
            metrics_interval: secs("metrics.interval_seconds"),
            probes_enabled: policy_bool(&s, "probes.enabled"),
            probes_interval: secs("probes.interval_seconds"),
            spool_max_bytes: policy_integer(&s, "spool.max_bytes"),
            log_level: log_level(s.text("log.level")),
        }
    }

    /// What to tell the collector: the policy run, the pins, the refusals
    /// and every key's value in force (defaults included).
    pub fn state(&self) -> PolicyState {
        let (central, refused) = self.accepted();
        let merged = self.merged(&central);
        let effective = policy::KEYS
            .iter()
            .map(|spec| {
                let name = spec.name();
                let value = merged
                    .get(&name)
                    .cloned()
                    .unwrap_or_else(|| spec.default_value());
                (name, value)
            })
            .collect();
        PolicyState {
            policies: self
                .central
                .as_ref()
                .map(|c| c.policies.clone())
                .unwrap_or_default(),
            pinned: self.pinned.pairs(),
            refused,
            effective,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::AgentConfig;

    fn layers(file: &str) -> Layers {
        let config = AgentConfig::parse("agent.toml", file).unwrap();
        Layers::new(config.pinned, config.probes.plan)
    }

    fn pushed(pairs: &[(&str, Value)]) -> AgentPolicy {
        AgentPolicy {
            policies: vec![("branch".into(), 4)],
            settings: pairs
                .iter()
                .map(|(k, v)| ((*k).to_owned(), v.clone()))
                .collect(),
        }
    }

    #[test]
    fn the_file_wins_over_the_policy_which_wins_over_the_collector() {
        let mut l = layers("[log]\nlevel = \"warn\"\n");
        assert_eq!(l.effective().metrics_interval, Duration::from_secs(10));
        l.set_fleet(&ConfigUpdate {
            metrics_interval_seconds: 20,
            inventory_interval_seconds: 1800,
            heartbeat_interval_seconds: 30,
        });
        assert_eq!(l.effective().metrics_interval, Duration::from_secs(20));
        l.set_central(pushed(&[
            ("metrics.interval_seconds", Value::Integer(5)),
            ("log.level", Value::Text("debug".into())),
            ("spool.max_bytes", Value::Integer(1 << 20)),
        ]));
        let e = l.effective();
        assert_eq!(e.metrics_interval, Duration::from_secs(5));
        assert_eq!(e.inventory_interval, Duration::from_secs(1800));
        assert_eq!(e.spool_max_bytes, 1 << 20);
        // The collector's general intervals are taken as it says, even below
        // what a policy or the file may set (it allows an inventory a second).
        let mut fast = layers("");
        fast.set_fleet(&ConfigUpdate {
            metrics_interval_seconds: 1,
            inventory_interval_seconds: 1,
            heartbeat_interval_seconds: 1,
        });
        assert_eq!(fast.effective().inventory_interval, Duration::from_secs(1));
        // Pinned by the file.
        assert_eq!(e.log_level, "warn");
        let state = l.state();
        assert_eq!(state.policies, [("branch".to_owned(), 4)]);
        assert_eq!(
            state.pinned,
            [("log.level".to_owned(), Value::Text("warn".into()))]
        );
        assert!(state.refused.is_empty());
        assert_eq!(state.effective.len(), policy::KEYS.len());
        assert!(
            state
                .effective
                .contains(&("probes.enabled".to_owned(), Value::Bool(true)))
        );
    }

    #[test]
    fn keys_the_agent_cannot_take_are_refused_and_the_rest_applied() {
        let mut l = layers("");
        l.set_central(pushed(&[
            ("probes.interval_seconds", Value::Integer(1)),
            ("probes.enabled", Value::Bool(false)),
            ("metrics.colour", Value::Text("blue".into())),
        ]));
        let e = l.effective();
        assert!(!e.probes_enabled);
        assert_eq!(e.probes_interval, Duration::from_secs(60));
        let state = l.state();
        let refused: Vec<&str> = state.refused.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(refused, ["metrics.colour", "probes.interval_seconds"]);
        assert!(state.refused[1].1.contains("1800 ms"), "{state:?}");
    }

    #[test]
    fn the_pushed_policy_is_kept_across_restarts() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(load(dir.path()).unwrap(), None);
        let p = pushed(&[("metrics.interval_seconds", Value::Integer(30))]);
        save(dir.path(), &p).unwrap();
        assert_eq!(load(dir.path()).unwrap(), Some(p));
        std::fs::write(dir.path().join(POLICY_FILE), "{not json").unwrap();
        let err = load(dir.path()).unwrap_err().to_string();
        assert!(err.contains("agent policy"), "{err}");
    }
}
