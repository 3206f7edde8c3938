//! Diagnostic requests: what the help desk asked of which agent, when it
//! was sent, and what the agent answered.
//!
//! A request is stored when asked, signed; the agent's session sends it
//! once (and notes when); the agent's [`DiagResult`] record adds the
//! result in the group commit like every record. The first result is
//! kept: a later one for the same request (the agent refusing a replay)
//! changes nothing. A result for a request the agent was not asked is
//! acknowledged and not stored.

use atalaya_common::assist::MAX_VALIDITY_SECONDS;
use atalaya_common::model::Timestamp;
use atalaya_common::proto::DiagResult;
use redb::{ReadableDatabase, ReadableTable};

use super::ingest::Tables;
use super::schema::*;
use super::{Store, StoreError, dec, enc, next_id};
use crate::records::diagnostic::{DiagnosticRecord, DiagnosticResult};

const DIAGNOSTICS_T: &str = "diagnostics";

impl Store {
    /// The id the next diagnostic request gets (`d-<number>`), taken now.
    pub fn next_diagnostic_id(&self) -> Result<String, StoreError> {
        let txn = self.db.begin_write()?;
        let n = next_id(&mut txn.open_table(META)?, META_NEXT_DIAGNOSTIC)?;
        txn.commit()?;
        Ok(format!("d-{n}"))
    }

    /// Stores a signed diagnostic request.
    pub fn add_diagnostic(&self, rec: &DiagnosticRecord) -> Result<(), StoreError> {
        let txn = self.db.begin_write()?;
        {
            txn.open_table(DIAGNOSTICS)?
                .insert(rec.id(), enc(DIAGNOSTICS_T, rec)?.as_slice())?;
            txn.open_table(DIAGNOSTICS_BY_AGENT)?.insert(
                (rec.order.agent_id.as_str(), rec.order.issued_at.0, rec.id()),
                (),
            )?;
        }
        txn.commit()?;
        Ok(())
    }

    /// A diagnostic request by id.
    pub fn diagnostic(&self, id: &str) -> Result<Option<DiagnosticRecord>, StoreError> {
        let txn = self.db.begin_read()?;
        txn.open_table(DIAGNOSTICS)?
            .get(id)?
            .map(|v| dec(DIAGNOSTICS_T, v.value()))
            .transpose()
    }

    /// The diagnostic requests to `agent`, newest first, at most `limit`.
    pub fn diagnostics_of(
        &self,
        agent: &str,
        limit: usize,
    ) -> Result<Vec<DiagnosticRecord>, StoreError> {
        let txn = self.db.begin_read()?;
        let by_agent = txn.open_table(DIAGNOSTICS_BY_AGENT)?;
        let all = txn.open_table(DIAGNOSTICS)?;
        let mut out = Vec::new();
        for row in by_agent
            .range((agent, i64::MIN, "")..=(agent, i64::MAX, "\u{10ffff}"))?
            .rev()
        {
            if out.len() >= limit {
                break;
            }
            let (key, _) = row?;
            let (_, _, id) = key.value();
            if let Some(v) = all.get(id)? {
                out.push(dec(DIAGNOSTICS_T, v.value())?);
            }
        }
        Ok(out)
    }

    /// Takes the requests of `agent` due at `now` (not sent, not expired),
    /// oldest first, and marks them sent: each goes out once at most.
    pub fn take_due_diagnostics(
        &self,
        agent: &str,
        now: Timestamp,
    ) -> Result<Vec<DiagnosticRecord>, StoreError> {
        // Every session of every agent asks at its start: a read first,
        // so that a fleet reconnecting at once costs no write transactions.
        if !self.any_due_diagnostic(agent, now)? {
            return Ok(Vec::new());
        }
        let txn = self.db.begin_write()?;
        let mut due = Vec::new();
        {
            let by_agent = txn.open_table(DIAGNOSTICS_BY_AGENT)?;
            let mut all = txn.open_table(DIAGNOSTICS)?;
            // Only those young enough to be unexpired need a look.
            let from = now.0.saturating_sub(MAX_VALIDITY_SECONDS * 1000);
            let ids: Vec<String> = by_agent
                .range((agent, from, "")..=(agent, i64::MAX, "\u{10ffff}"))?
                .map(|row| row.map(|(k, _)| k.value().2.to_owned()))
                .collect::<Result<_, _>>()?;
            for id in ids {
                let found = all.get(id.as_str())?.map(|v| v.value().to_vec());
                let Some(bytes) = found else {
                    continue;
                };
                let mut rec: DiagnosticRecord = dec(DIAGNOSTICS_T, &bytes)?;
                if !rec.due(now) {
                    continue;
                }
                rec.sent_at = Some(now);
                all.insert(id.as_str(), enc(DIAGNOSTICS_T, &rec)?.as_slice())?;
                due.push(rec);
            }
        }
        txn.commit()?;
        Ok(due)
    }
}

impl Store {
    /// Whether `agent` has a request due at `now`.
    fn any_due_diagnostic(&self, agent: &str, now: Timestamp) -> Result<bool, StoreError> {
        let txn = self.db.begin_read()?;
        let by_agent = txn.open_table(DIAGNOSTICS_BY_AGENT)?;
        let all = txn.open_table(DIAGNOSTICS)?;
        let from = now.0.saturating_sub(MAX_VALIDITY_SECONDS * 1000);
        for row in by_agent.range((agent, from, "")..=(agent, i64::MAX, "\u{10ffff}"))? {
            let (key, _) = row?;
            if let Some(v) = all.get(key.value().2)? {
                let rec: DiagnosticRecord = dec(DIAGNOSTICS_T, v.value())?;
                if rec.due(now) {
                    return Ok(true);
                }
            }
        }
        Ok(false)
    }
}

/// Stores the result `agent` sent; the record when it was the first
/// result of a request made to that agent.
pub(crate) fn store_result(
    t: &mut Tables<'_>,
    agent: &str,
    received_at: Timestamp,
    result: &DiagResult,
) -> Result<Option<DiagnosticRecord>, StoreError> {
    let found = t.diagnostics.get(result.id.as_str())?;
    let Some(mut rec) = found
        .map(|v| dec::<DiagnosticRecord>(DIAGNOSTICS_T, v.value()))
        .transpose()?
    else {
        return Ok(None);
    };
    if rec.order.agent_id != agent || rec.result.is_some() {
        return Ok(None);
    }
    rec.result = Some(DiagnosticResult {
        received_at,
        started_at: result.started_at,
        duration_ms: result.duration_ms,
        outcome: result.outcome.clone(),
        output: result.output.clone(),
        truncated: result.truncated,
    });
    t.diagnostics
        .insert(result.id.as_str(), enc(DIAGNOSTICS_T, &rec)?.as_slice())?;
    Ok(Some(rec))
}

#[cfg(test)]
mod tests {
    use atalaya_common::assist::{Action, DiagOrder, DiagOutcome};

    use super::super::testutil::temp_store;
    use super::super::{Ingest, IngestRecord};
    use super::*;

    fn request(id: &str, agent: &str, issued: i64) -> DiagnosticRecord {
        DiagnosticRecord {
            order: DiagOrder {
                id: id.into(),
                agent_id: agent.into(),
                requested_by: "ana".into(),
                incident: Some(3),
                action: Action::ListeningSockets,
                issued_at: Timestamp(issued),
                expires_at: Timestamp(issued + 600_000),
            },
            signature: vec![1, 2, 3],
            asset: None,
            hostname: None,
            sent_at: None,
            result: None,
        }
    }

    fn result(agent: &str, seq: u64, id: &str, outcome: DiagOutcome) -> Ingest {
        Ingest {
            agent_id: agent.into(),
            received_at: Timestamp(5_000),
            record: IngestRecord::DiagResult(DiagResult {
                seq,
                id: id.into(),
                started_at: Timestamp(4_000),
                duration_ms: 12,
                outcome,
                output: "tcp 0.0.0.0:22 pid=1 sshd\n".into(),
                truncated: false,
            }),
        }
    }

    #[test]
    fn requests_go_out_once_and_keep_their_first_result() {
        let (_d, store) = temp_store();
        assert_eq!(store.next_diagnostic_id().unwrap(), "d-1");
        assert_eq!(store.next_diagnostic_id().unwrap(), "d-2");
        store
            .add_diagnostic(&request("d-1", "ag-1", 1_000))
            .unwrap();
        store
            .add_diagnostic(&request("d-2", "ag-1", 2_000))
            .unwrap();
        store
            .add_diagnostic(&request("d-3", "ag-2", 2_000))
            .unwrap();
        let due = store
            .take_due_diagnostics("ag-1", Timestamp(3_000))
            .unwrap();
        let ids: Vec<&str> = due.iter().map(DiagnosticRecord::id).collect();
        assert_eq!(ids, ["d-1", "d-2"]);
        assert!(
            store
                .take_due_diagnostics("ag-1", Timestamp(3_000))
                .unwrap()
                .is_empty()
        );
        // Expired before it could be sent: never sent.
        assert!(
            store
                .take_due_diagnostics("ag-2", Timestamp(700_000))
                .unwrap()
                .is_empty()
        );
        assert_eq!(
            store
                .diagnostic("d-3")
                .unwrap()
                .unwrap()
                .state(Timestamp(700_000)),
            "expired"
        );
        store
            .commit(&[
                result("ag-1", 1, "d-1", DiagOutcome::Completed),
                // Another agent's answer, and an unknown id: not stored.
                result("ag-2", 1, "d-2", DiagOutcome::Completed),
                result("ag-1", 2, "d-9", DiagOutcome::Completed),
                // A second answer (a refused replay) does not replace the first.
                result(
                    "ag-1",
                    3,
                    "d-1",
                    DiagOutcome::Refused {
                        reason: "replayed".into(),
                    },
                ),
            ])
            .unwrap();
        let d1 = store.diagnostic("d-1").unwrap().unwrap();
        assert_eq!(d1.state(Timestamp(6_000)), "completed");
        assert_eq!(d1.result.unwrap().output, "tcp 0.0.0.0:22 pid=1 sshd\n");
        let d2 = store.diagnostic("d-2").unwrap().unwrap();
        assert_eq!(d2.state(Timestamp(6_000)), "sent");
        assert!(store.diagnostic("d-9").unwrap().is_none());
        let listed: Vec<String> = store
            .diagnostics_of("ag-1", 10)
            .unwrap()
            .iter()
            .map(|r| r.id().to_owned())
            .collect();
        assert_eq!(listed, ["d-2", "d-1"]);
    }
}
