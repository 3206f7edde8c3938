//! Agent policies as the store knows them: each policy's version, moved on
//! whenever what the policy says changes, and what each agent last said it
//! runs. What a policy means and whom it selects is the collector
//! configuration's business; here they are names, digests and numbers.

use atalaya_common::model::Timestamp;
use atalaya_common::policy::Value;
use atalaya_common::proto;
use redb::{ReadableDatabase, ReadableTable};
use serde::{Deserialize, Serialize};

use super::ingest::Tables;
use super::schema::{AGENT_POLICY, POLICY_VERSIONS};
use super::{Store, StoreError, dec, enc};

/// Keeps what `agent` said at `at` of its policy, replacing what it said
/// before, in a commit of the ingest (an agent says it at each connection:
/// a fleet reconnecting at once costs no transactions of its own).
pub(crate) fn put_report(
    t: &mut Tables<'_>,
    agent: &str,
    state: &proto::PolicyState,
    at: Timestamp,
) -> Result<(), StoreError> {
    let report = PolicyReport {
        policies: state.policies.clone(),
        pinned: state.pinned.clone(),
        refused: state.refused.clone(),
        effective: state.effective.clone(),
        reported_at: at,
    };
    let bytes = enc("agent_policy", &report)?;
    t.agent_policy.insert(agent, bytes.as_slice())?;
    Ok(())
}

/// A policy's current version.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PolicyVersion {
    /// Digest of what the policy says (its selector and settings).
    pub digest: [u8; 32],
    /// Starts at 1, one more at each change.
    pub version: u64,
    /// When this version was first seen.
    pub since: Timestamp,
}

/// What an agent last said of its policy.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PolicyReport {
    /// `(policy, version)` it runs, most specific first.
    pub policies: Vec<(String, u64)>,
    /// Keys its own file sets (they win), with the file's values.
    pub pinned: Vec<(String, Value)>,
    /// Keys of the policy it refused, and why.
    pub refused: Vec<(String, String)>,
    /// Every key's value in force on the agent.
    pub effective: Vec<(String, Value)>,
    /// When it said so.
    pub reported_at: Timestamp,
}

impl Store {
    /// The version of each policy `(name, digest)`: the stored one when its
    /// digest is unchanged, else one more than before (1 for a new policy),
    /// stored with `now`.
    pub fn version_policies(
        &self,
        policies: &[(String, [u8; 32])],
        now: Timestamp,
    ) -> Result<Vec<u64>, StoreError> {
        let txn = self.db.begin_write()?;
        let mut versions = Vec::with_capacity(policies.len());
        {
            let mut table = txn.open_table(POLICY_VERSIONS)?;
            for (name, digest) in policies {
                let kept: Option<PolicyVersion> = table
                    .get(name.as_str())?
                    .map(|v| dec("policy_versions", v.value()))
                    .transpose()?;
                let version = match kept {
                    Some(k) if &k.digest == digest => k.version,
                    kept => {
                        let next = PolicyVersion {
                            digest: *digest,
                            version: kept.map_or(1, |k| k.version + 1),
                            since: now,
                        };
                        let bytes = enc("policy_versions", &next)?;
                        table.insert(name.as_str(), bytes.as_slice())?;
                        next.version
                    }
                };
                versions.push(version);
            }
        }
        txn.commit()?;
        Ok(versions)
    }

    /// What `agent` last said of its policy, if it ever did.
    pub fn policy_report(&self, agent: &str) -> Result<Option<PolicyReport>, StoreError> {
        let txn = self.db.begin_read()?;
        let table = txn.open_table(AGENT_POLICY)?;
        let found = table.get(agent)?;
        found.map(|v| dec("agent_policy", v.value())).transpose()
    }

    /// What each agent last said of its policy, by agent id.
    pub fn policy_reports(&self) -> Result<Vec<(String, PolicyReport)>, StoreError> {
        let txn = self.db.begin_read()?;
        let table = txn.open_table(AGENT_POLICY)?;
        let mut out = Vec::new();
        for row in table.iter()? {
            let (agent, value) = row?;
            out.push((
                agent.value().to_owned(),
                dec("agent_policy", value.value())?,
            ));
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_policy_moves_to_its_next_version_only_when_it_changes() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("s.redb")).unwrap();
        let t = Timestamp::from_secs(1_800_000_000);
        let a = ("branch".to_owned(), [1u8; 32]);
        let b = ("fleet".to_owned(), [2u8; 32]);
        assert_eq!(
            store.version_policies(&[a.clone(), b.clone()], t).unwrap(),
            [1, 1]
        );
        assert_eq!(
            store.version_policies(&[a.clone(), b.clone()], t).unwrap(),
            [1, 1]
        );
        let a2 = ("branch".to_owned(), [3u8; 32]);
        assert_eq!(
            store.version_policies(&[a2.clone(), b.clone()], t).unwrap(),
            [2, 1]
        );
        // Removed, then back as it was first: it goes on counting.
        assert_eq!(
            store.version_policies(std::slice::from_ref(&b), t).unwrap(),
            [1]
        );
        assert_eq!(store.version_policies(&[a, b], t).unwrap(), [3, 1]);
    }

    #[test]
    fn the_newest_report_of_an_agent_replaces_the_older() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("s.redb")).unwrap();
        let report = |v: u64| PolicyReport {
            policies: vec![("branch".into(), v)],
            pinned: vec![("log.level".into(), Value::Text("warn".into()))],
            refused: Vec::new(),
            effective: vec![("metrics.interval_seconds".into(), Value::Integer(30))],
            reported_at: Timestamp::from_secs(1_800_000_000),
        };
        let said = |agent: &str, v: u64| {
            let r = report(v);
            crate::store::Ingest {
                agent_id: agent.to_owned(),
                received_at: r.reported_at,
                record: crate::store::IngestRecord::PolicyState(proto::PolicyState {
                    policies: r.policies,
                    pinned: r.pinned,
                    refused: r.refused,
                    effective: r.effective,
                }),
            }
        };
        store
            .commit(&[said("agent-1", 1), said("agent-1", 2), said("agent-2", 1)])
            .unwrap();
        let all = store.policy_reports().unwrap();
        assert_eq!(all.len(), 2);
        assert_eq!(all[0], ("agent-1".to_owned(), report(2)));
        assert_eq!(store.policy_report("agent-2").unwrap(), Some(report(1)));
        assert_eq!(store.policy_report("agent-3").unwrap(), None);
    }
}
