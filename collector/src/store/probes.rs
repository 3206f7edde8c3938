//! Network probe rounds: each result's figures are series points of the
//! agent's own asset (written by the ingest with the agent's samples), and
//! the latest round per target is kept here, with the method it used, for
//! `atalaya probes` and `GET /api/v1/probes`.

use atalaya_common::model::{ProbeResult, Timestamp};
use atalaya_common::proto;
use redb::{ReadableDatabase, ReadableTable};
use serde::{Deserialize, Serialize};

use super::ingest::Tables;
use super::schema::{AGENT_ASSET, AGENTS, ASSETS, PROBE_AGENTS, PROBE_LATEST};
use super::AgentRecord;
use super::{AssetMeta, Store, StoreError, dec, enc};

/// The latest result of one target of one asset.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LatestProbe {
    /// The asset of the agent that probes.
    pub asset: String,
    /// The agent that sent it.
    pub agent_id: String,
    /// When its round ended, on the agent's clock.
    pub at: Timestamp,
    /// The result.
    pub result: ProbeResult,
}

/// One probe result as listed: the latest one, with the probing asset's host name.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProbeRow {
    /// Host name of the asset that probes.
    pub hostname: String,
    /// The latest result.
    #[serde(flatten)]
    pub latest: LatestProbe,
}

/// Keeps the results of `round` as the latest of `asset`'s targets,
/// replacing the earlier round's (targets no longer probed leave the list);
/// a round older than the one kept changes nothing.
pub(crate) fn store_round(
    t: &mut Tables<'_>,
    asset: &str,
    agent: &str,
    round: &proto::ProbeRound,
) -> Result<(), StoreError> {
    let mut keys = Vec::new();
    for entry in t.probe_latest.range((asset, "", "")..)? {
        let (key, value) = entry?;
        let (a, kind, target) = key.value();
        if a != asset {
            break;
        }
        let kept: LatestProbe = dec("probe_latest", value.value())?;
        if kept.at > round.at {
            return Ok(());
        }
        keys.push((kind.to_owned(), target.to_owned()));
    }
    for (kind, target) in &keys {
        t.probe_latest
            .remove((asset, kind.as_str(), target.as_str()))?;
    }
    for result in &round.results {
        let latest = LatestProbe {
            asset: asset.to_owned(),
            agent_id: agent.to_owned(),
            at: round.at,
            result: result.clone(),
        };
        let bytes = enc("probe_latest", &latest)?;
        t.probe_latest.insert(
            (asset, result.kind.name(), result.target.as_str()),
            bytes.as_slice(),
        )?;
    }
    Ok(())
}

/// What selects an agent's probe targets: its asset's host name and tags
/// (before its first record, its enrollment name and no tags).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProbeSelector {
    /// Host name.
    pub hostname: String,
    /// The asset's tags.
    pub tags: Vec<String>,
}

impl Store {
    /// The host name and tags that select `agent`'s probe targets; `None`
    /// for an unknown agent.
    pub fn probe_selector(&self, agent: &str) -> Result<Option<ProbeSelector>, StoreError> {
        let txn = self.db.begin_read()?;
        if let Some(asset) = txn.open_table(AGENT_ASSET)?.get(agent)? {
            if let Some(v) = txn.open_table(ASSETS)?.get(asset.value())? {
                let meta: AssetMeta = dec("assets", v.value())?;
                return Ok(Some(ProbeSelector {
                    hostname: meta.hostname,
                    tags: meta.tags,
                }));
            }
        }
        let found = txn.open_table(AGENTS)?.get(agent)?;
        found
            .map(|v| {
                dec::<AgentRecord>("agents", v.value()).map(|a| ProbeSelector {
                    hostname: a.hostname,
                    tags: Vec::new(),
                })
            })
            .transpose()
    }

    /// Whether `agent` was ever sent a non-empty list of probe targets.
    pub fn is_probe_agent(&self, agent: &str) -> Result<bool, StoreError> {
        let txn = self.db.begin_read()?;
        Ok(txn.open_table(PROBE_AGENTS)?.get(agent)?.is_some())
    }

    /// Notes that `agent` was sent a non-empty list of probe targets.
    pub fn note_probe_agent(&self, agent: &str) -> Result<(), StoreError> {
        if self.is_probe_agent(agent)? {
            return Ok(());
        }
        let txn = self.db.begin_write()?;
        txn.open_table(PROBE_AGENTS)?.insert(agent, ())?;
        txn.commit()?;
        Ok(())
    }

    /// The latest probe results, of one asset or of all, by asset then
    /// kind then target.
    pub fn probes(&self, asset: Option<&str>) -> Result<Vec<ProbeRow>, StoreError> {
        let txn = self.db.begin_read()?;
        let table = txn.open_table(PROBE_LATEST)?;
        let assets = txn.open_table(ASSETS)?;
        let mut out: Vec<ProbeRow> = Vec::new();
        let range = match asset {
            Some(a) => table.range((a, "", "")..)?,
            None => table.range::<(&str, &str, &str)>(..)?,
        };
        for entry in range {
            let (key, value) = entry?;
            let (a, _, _) = key.value();
            if asset.is_some_and(|want| want != a) {
                break;
            }
            let latest: LatestProbe = dec("probe_latest", value.value())?;
            let hostname = match out.last() {
                Some(prev) if prev.latest.asset == a => prev.hostname.clone(),
                _ => match assets.get(a)? {
                    Some(v) => dec::<AssetMeta>("assets", v.value())?.hostname,
                    None => a.to_owned(),
                },
            };
            out.push(ProbeRow { hostname, latest });
        }
        Ok(out)
    }
}
