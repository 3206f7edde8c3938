//! Network probe rounds: each result's figures are series points of the
//! agent's own asset (written by the ingest with the agent's samples), and
//! the latest round per target is kept here, with the method it used, for
//! `atalaya probes` and `GET /api/v1/probes`.

use atalaya_common::model::{ProbeResult, Timestamp};
use atalaya_common::proto;
use redb::{ReadableDatabase, ReadableTable};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::AgentRecord;
use super::ingest::Tables;
use super::schema::{AGENT_ASSET, AGENTS, ASSETS, PROBE_AGENTS, PROBE_LATEST};
use super::{AssetMeta, Store, StoreError, dec, enc};

/// The latest result of one target of one asset.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
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
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
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
        if let Some(asset) = txn.open_table(AGENT_ASSET)?.get(agent)?
            && let Some(v) = txn.open_table(ASSETS)?.get(asset.value())?
        {
            let meta: AssetMeta = dec("assets", v.value())?;
            return Ok(Some(ProbeSelector {
                hostname: meta.hostname,
                tags: meta.tags,
            }));
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

#[cfg(test)]
#[allow(clippy::unwrap_used)] // a panic is how a test fails
mod tests {
    use super::*;
    use crate::store::testutil::*;
    use crate::store::{Fed, Ingest, IngestRecord};
    use atalaya_common::model::{ProbeKind, ProbeMethod};

    fn result(target: &str, kind: ProbeKind, rtt: Option<f64>, loss: f64) -> ProbeResult {
        ProbeResult {
            target: target.into(),
            kind,
            method: ProbeMethod::Raw,
            sent: 5,
            received: if rtt.is_some() { 5 } else { 0 },
            refused: 0,
            rtt_min_ms: rtt,
            rtt_median_ms: rtt,
            rtt_max_ms: rtt,
            jitter_ms: rtt.map(|_| 0.5),
            loss_percent: loss,
            extra: String::new(),
        }
    }

    fn round(seq: u64, at: i64, results: Vec<ProbeResult>) -> Ingest {
        Ingest {
            agent_id: "ag-1".into(),
            received_at: Timestamp(at),
            record: IngestRecord::ProbeRound(proto::ProbeRound {
                seq,
                at: Timestamp(at),
                results,
            }),
        }
    }

    #[test]
    fn rounds_are_series_of_the_agents_asset_and_the_latest_is_kept() {
        let (_d, store) = temp_store();
        let inv = machine("web01", Some("u-1"), "m-1", "52:54:00:00:00:01");
        store.commit(&[snapshot("ag-1", 1, 1_000, &inv)]).unwrap();
        let asset = store.agent_asset_id("ag-1").unwrap().unwrap();
        let first = round(
            2,
            60_000,
            vec![
                result("10.0.0.1", ProbeKind::Icmp, Some(1.5), 0.0),
                result("db:5432", ProbeKind::Tcp, None, 100.0),
            ],
        );
        let fed = store.commit_fed(&[first]).unwrap().1;
        assert!(fed.iter().any(|f| matches!(
            f,
            Fed::Points { asset: a, points, .. } if *a == asset && points.len() == 6
        )));
        let rtt = "probe.rtt_ms{target=10.0.0.1,kind=icmp}";
        let points = store
            .metric(&asset, rtt, Timestamp(0), Timestamp(i64::MAX), None)
            .unwrap();
        assert_eq!(points, [(Timestamp(60_000), 1.5)]);
        let loss = "probe.loss_percent{target=db:5432,kind=tcp}";
        let points = store
            .metric(&asset, loss, Timestamp(0), Timestamp(i64::MAX), None)
            .unwrap();
        assert_eq!(points, [(Timestamp(60_000), 100.0)]);
        let rows = store.probes(Some(&asset)).unwrap();
        let shown: Vec<(&str, &str, ProbeKind)> = rows
            .iter()
            .map(|r| {
                (
                    r.hostname.as_str(),
                    r.latest.result.target.as_str(),
                    r.latest.result.kind,
                )
            })
            .collect();
        assert_eq!(
            shown,
            [
                ("web01", "10.0.0.1", ProbeKind::Icmp),
                ("web01", "db:5432", ProbeKind::Tcp)
            ]
        );
        // The next round replaces the list; a late, older one changes nothing.
        store
            .commit(&[round(
                3,
                120_000,
                vec![result("10.0.0.1", ProbeKind::Icmp, Some(2.0), 0.0)],
            )])
            .unwrap();
        store
            .commit(&[round(
                4,
                90_000,
                vec![result("old", ProbeKind::Icmp, None, 100.0)],
            )])
            .unwrap();
        let rows = store.probes(None).unwrap();
        assert_eq!(rows.len(), 1);
        assert_eq!(rows[0].latest.at, Timestamp(120_000));
        assert_eq!(rows[0].latest.result.rtt_median_ms, Some(2.0));
        assert!(store.probes(Some("asset-none")).unwrap().is_empty());
    }

    #[test]
    fn an_agent_is_selected_by_its_assets_name_and_tags() {
        let (_d, store) = temp_store();
        assert_eq!(store.probe_selector("ag-1").unwrap(), None);
        let inv = machine("pos-7", Some("u-1"), "m-1", "52:54:00:00:00:01");
        store.commit(&[snapshot("ag-1", 1, 1_000, &inv)]).unwrap();
        let asset = store.agent_asset_id("ag-1").unwrap().unwrap();
        store.set_tags(&asset, &["branch".into()]).unwrap();
        let selector = store.probe_selector("ag-1").unwrap().unwrap();
        assert_eq!(selector.hostname, "pos-7");
        assert_eq!(selector.tags, ["branch"]);
        assert!(!store.is_probe_agent("ag-1").unwrap());
        store.note_probe_agent("ag-1").unwrap();
        store.note_probe_agent("ag-1").unwrap();
        assert!(store.is_probe_agent("ag-1").unwrap());
    }
}
