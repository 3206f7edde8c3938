//! The agent policies in force, shared by every data session: each
//! session sends its agent the merged settings of the policies that select
//! it ([`PolicySet::for_agent`]), at connect and whenever they change (a
//! reload, or the agent's host name or tags).

use std::sync::Arc;

use atalaya_common::model::Timestamp;
use atalaya_common::proto::AgentPolicy;
use tokio::sync::watch;

use crate::config::agent_policy::{self, PolicyRule};
use crate::store::{Store, StoreError};

/// The policies with their versions.
#[derive(Debug, Clone, Default)]
pub struct PolicySet {
    rules: Vec<PolicyRule>,
    versions: Vec<u64>,
}

impl PolicySet {
    /// What an agent with this host name and these tags is to run.
    pub fn for_agent(&self, hostname: &str, tags: &[String]) -> AgentPolicy {
        let (chosen, settings) = agent_policy::select(&self.rules, hostname, tags);
        AgentPolicy {
            policies: chosen
                .iter()
                .map(|r| (r.name.clone(), self.version_of(&r.name)))
                .collect(),
            settings: settings.pairs(),
        }
    }

    fn version_of(&self, name: &str) -> u64 {
        self.rules
            .iter()
            .zip(&self.versions)
            .find(|(r, _)| r.name == name)
            .map_or(0, |(_, v)| *v)
    }
}

/// The policies in force; the sessions watch them change.
#[derive(Debug)]
pub struct AgentPolicies {
    set: watch::Sender<Arc<PolicySet>>,
}

impl Default for AgentPolicies {
    fn default() -> Self {
        Self {
            set: watch::Sender::new(Arc::default()),
        }
    }
}

impl AgentPolicies {
    /// Puts `rules` in force, each with its version (a policy whose content
    /// changed moves to its next one, kept in the store), and tells the
    /// sessions. Returns `(name, version)` of each.
    pub fn install(
        &self,
        store: &Store,
        rules: Vec<PolicyRule>,
        now: Timestamp,
    ) -> Result<Vec<(String, u64)>, StoreError> {
        let digests: Vec<(String, [u8; 32])> =
            rules.iter().map(|r| (r.name.clone(), r.digest())).collect();
        let versions = store.version_policies(&digests, now)?;
        let listed = digests
            .into_iter()
            .map(|(n, _)| n)
            .zip(versions.iter().copied())
            .collect();
        self.set
            .send_replace(Arc::new(PolicySet { rules, versions }));
        Ok(listed)
    }

    /// The policies in force now.
    pub fn current(&self) -> Arc<PolicySet> {
        self.set.borrow().clone()
    }

    /// Changes when other policies are put in force.
    pub fn subscribe(&self) -> watch::Receiver<Arc<PolicySet>> {
        self.set.subscribe()
    }
}
