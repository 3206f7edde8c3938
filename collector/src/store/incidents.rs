//! Incidents in the store: the engine's actions applied in one write
//! transaction together with the engine state they came from, staff
//! actions, the SLA sweep, queries and the SLA report.

use std::collections::BTreeMap;

use atalaya_common::model::Timestamp;
use redb::{ReadableDatabase, ReadableTable, Table};
use serde::{Deserialize, Serialize};

use super::schema::*;
use super::{AssetMeta, ReportRecord, Store, StoreError, dec, enc};
use crate::incidents::lifecycle::{
    self, IncidentRecord, SlaEvent, StaffAction, Status, TransitionError,
};
use crate::incidents::sla::{self, Criticality, Priority, SlaPolicies};
use crate::incidents::{Action, ActionKind, EngineState, NotifyEvent};
use crate::kb::{self, IncidentFacts, KbError, RuleKb};

/// Something hooks (notifications, the knowledge base) should hear about.
#[derive(Debug, Clone, PartialEq)]
pub enum IncidentNews {
    /// The engine asked to notify.
    Notify(NotifyEvent, IncidentRecord),
    /// The SLA clock did something.
    Sla(SlaEvent, IncidentRecord),
}

/// A staff action failed.
#[derive(Debug, thiserror::Error)]
pub enum StaffError {
    /// No such incident.
    #[error("no incident {0}")]
    NotFound(u64),
    /// The action does not fit the incident's state.
    #[error(transparent)]
    Conflict(#[from] TransitionError),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The knowledge-base side of a resolution (see
/// [`Store::incident_action_with_solution`]).
pub struct SolutionKb<'a> {
    /// What the KB matches a rule's incidents on.
    pub kb_of: &'a dyn Fn(&str) -> RuleKb,
    /// The solution, saved as a new article (`""` when only confirming).
    pub solution: &'a str,
    /// The article that solved it, to confirm (solved + 1) instead.
    pub article: Option<kb::ArticleId>,
}

impl std::fmt::Debug for SolutionKb<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SolutionKb")
            .field("solution", &self.solution)
            .field("article", &self.article)
            .finish_non_exhaustive()
    }
}

/// Filters of an incident list.
#[derive(Debug, Clone, Default)]
pub struct IncidentFilter {
    /// Only this status.
    pub status: Option<Status>,
    /// Only incidents still to handle: open or acknowledged.
    pub active: bool,
    /// Only this asset id.
    pub asset: Option<String>,
}

/// Per-priority SLA figures.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SlaLine {
    /// `P1` … `P4`.
    pub priority: String,
    /// Incidents of this priority.
    pub incidents: u64,
    /// Of them open or acknowledged now.
    pub active: u64,
    /// Acknowledged within target.
    pub acknowledge_met: u64,
    /// Acknowledged late, or not yet and overdue.
    pub acknowledge_breached: u64,
    /// Resolved within target.
    pub resolve_met: u64,
    /// Resolved late, or not yet and overdue.
    pub resolve_breached: u64,
    /// Mean seconds from opening to first acknowledgement (acknowledged ones).
    pub mean_acknowledge_seconds: Option<f64>,
    /// Mean seconds from opening to resolution (resolved or closed ones).
    pub mean_resolve_seconds: Option<f64>,
}

/// The SLA report.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SlaReport {
    /// When it was made.
    pub at: Timestamp,
    /// One line per priority, P1 first.
    pub priorities: Vec<SlaLine>,
}

type Incidents<'t> = Table<'t, u64, &'static [u8]>;
type OpenIndex<'t> = Table<'t, (&'static str, &'static str, &'static str), u64>;

fn get(t: &Incidents<'_>, id: u64) -> Result<Option<IncidentRecord>, StoreError> {
    match t.get(id)? {
        Some(v) => Ok(Some(dec("incidents", v.value())?)),
        None => Ok(None),
    }
}

fn put(
    t: &mut Incidents<'_>,
    open: &mut OpenIndex<'_>,
    rec: &IncidentRecord,
) -> Result<(), StoreError> {
    t.insert(rec.id, enc("incidents", rec)?.as_slice())?;
    let key = (rec.asset.as_str(), rec.rule.as_str(), rec.subject.as_str());
    if rec.status.is_active() {
        open.insert(key, rec.id)?;
    } else if open.get(key)?.map(|v| v.value()) == Some(rec.id) {
        open.remove(key)?;
    }
    Ok(())
}

impl Store {
    /// The persisted engine state, if any.
    pub fn engine_state(&self) -> Result<Option<EngineState>, StoreError> {
        let txn = self.db.begin_read()?;
        let t = txn.open_table(ENGINE_STATE)?;
        match t.get(ENGINE_STATE_KEY)? {
            Some(v) => Ok(Some(dec("engine_state", v.value())?)),
            None => Ok(None),
        }
    }

    /// Applies the engine's actions and saves its state, in one durable
    /// transaction. `now` is the wall clock (stored as `stored_at`). Returns
    /// the incidents opened and what to notify.
    pub fn apply_engine_actions(
        &self,
        actions: &[Action],
        state: Option<&EngineState>,
        policies: &SlaPolicies,
        now: Timestamp,
    ) -> Result<(Vec<IncidentRecord>, Vec<IncidentNews>), StoreError> {
        self.apply_engine_actions_for_reports(
            actions,
            state,
            &[],
            &|_| RuleKb::default(),
            policies,
            now,
        )
    }

    /// User reports the incident desk has not handled yet, oldest first.
    pub fn pending_reports(&self) -> Result<Vec<ReportRecord>, StoreError> {
        let txn = self.db.begin_read()?;
        let table = txn.open_table(USER_REPORTS)?;
        let mut out = Vec::new();
        for r in table.iter()? {
            let rec: ReportRecord = dec("user_reports", r?.1.value())?;
            if rec.handled_at.is_none() {
                out.push(rec);
            }
        }
        out.sort_by_key(|r| (r.received_at, r.seq));
        Ok(out)
    }

    /// The user reports about `asset`, newest first.
    pub fn reports(&self, asset: &str) -> Result<Vec<ReportRecord>, StoreError> {
        let txn = self.db.begin_read()?;
        let table = txn.open_table(USER_REPORTS)?;
        let mut out = Vec::new();
        for r in table.range((asset, "")..)? {
            let (k, v) = r?;
            if k.value().0 != asset {
                break;
            }
            out.push(dec::<ReportRecord>("user_reports", v.value())?);
        }
        out.sort_by_key(|r| std::cmp::Reverse((r.received_at, r.seq)));
        Ok(out)
    }

    /// [`Store::apply_engine_actions`] for a feed that held user reports
    /// (`(asset, report id)`): in the same transaction, each is marked
    /// handled, with the incident the actions gave it. A new incident gets
    /// the knowledge-base articles that fit it, best first (their
    /// suggestion counts go up in the same transaction); `kb_of` tells what
    /// articles may match a rule's incidents on.
    pub fn apply_engine_actions_for_reports(
        &self,
        actions: &[Action],
        state: Option<&EngineState>,
        reports: &[(String, String)],
        kb_of: &dyn Fn(&str) -> RuleKb,
        policies: &SlaPolicies,
        now: Timestamp,
    ) -> Result<(Vec<IncidentRecord>, Vec<IncidentNews>), StoreError> {
        let mut opened = Vec::new();
        let mut news = Vec::new();
        let txn = self.db.begin_write()?;
        {
            let mut t = txn.open_table(INCIDENTS)?;
            let mut open = txn.open_table(OPEN_INCIDENTS)?;
            let assets = txn.open_table(ASSETS)?;
            for action in actions {
                match action.kind {
                    ActionKind::Open => {
                        let meta = match assets.get(action.key.asset.as_str())? {
                            Some(v) => Some(dec::<AssetMeta>("assets", v.value())?),
                            None => None,
                        };
                        let tags = meta.as_ref().map(|m| m.tags.as_slice()).unwrap_or(&[]);
                        let priority = sla::priority(action.severity, Criticality::from_tags(tags));
                        let mut rec = lifecycle::new_incident(action, priority, policies, now);
                        let os_id = meta.and_then(|m| m.os_id);
                        let facts = IncidentFacts::of(&rec, kb_of(&rec.rule), os_id);
                        match kb::suggest_in(&txn, &facts) {
                            Ok(found) => {
                                rec.kb_articles =
                                    found.into_iter().map(|(id, _)| id.to_string()).collect();
                            }
                            Err(KbError::Store(e)) => return Err(e),
                            Err(err) => {
                                tracing::warn!(error = %err, incident = rec.id, "KB suggestions failed");
                            }
                        }
                        put(&mut t, &mut open, &rec)?;
                        opened.push(rec);
                    }
                    ActionKind::Notify(event) => {
                        if let Some(rec) = get(&t, action.incident)? {
                            news.push(IncidentNews::Notify(event, rec));
                        }
                    }
                    _ => {
                        let Some(mut rec) = get(&t, action.incident)? else {
                            tracing::warn!(incident = action.incident, kind = ?action.kind, "engine action for an unknown incident");
                            continue;
                        };
                        if lifecycle::apply_engine(&mut rec, action) {
                            put(&mut t, &mut open, &rec)?;
                        }
                    }
                }
            }
            if let Some(state) = state {
                let mut s = txn.open_table(ENGINE_STATE)?;
                s.insert(ENGINE_STATE_KEY, enc("engine_state", state)?.as_slice())?;
            }
            if !reports.is_empty() {
                let mut table = txn.open_table(USER_REPORTS)?;
                for (asset, id) in reports {
                    let key = (asset.as_str(), id.as_str());
                    let Some(mut rec) = table
                        .get(key)?
                        .map(|v| dec::<ReportRecord>("user_reports", v.value()))
                        .transpose()?
                    else {
                        continue;
                    };
                    rec.handled_at = Some(now);
                    rec.incident = actions
                        .iter()
                        .find(|a| a.key.asset == *asset && a.key.subject == *id)
                        .map(|a| a.incident);
                    table.insert(key, enc("user_reports", &rec)?.as_slice())?;
                }
            }
        }
        crate::notify::enqueue_news_in(&txn, &news, now)?;
        txn.commit()?;
        Ok((opened, news))
    }

    /// A staff action on incident `id`. A resolution, reopening or
    /// escalation is news: its webhook event is queued in the same
    /// transaction.
    pub fn incident_action(
        &self,
        id: u64,
        action: &StaffAction,
        author: &str,
        now: Timestamp,
    ) -> Result<(IncidentRecord, Option<IncidentNews>), StaffError> {
        self.incident_action_with_solution(id, action, author, None, now)
    }

    /// [`Store::incident_action`] that, for a resolution, also records the
    /// solution in the knowledge base (`kb`) and links the article to the
    /// incident, in the same transaction. The article to confirm must
    /// exist; a solution the KB refuses (too long…) is logged and the
    /// resolution stands.
    pub fn incident_action_with_solution(
        &self,
        id: u64,
        action: &StaffAction,
        author: &str,
        kb: Option<SolutionKb<'_>>,
        now: Timestamp,
    ) -> Result<(IncidentRecord, Option<IncidentNews>), StaffError> {
        let txn = self.db.begin_write().map_err(StoreError::from)?;
        let rec = {
            let mut t = txn.open_table(INCIDENTS).map_err(StoreError::from)?;
            let mut open = txn.open_table(OPEN_INCIDENTS).map_err(StoreError::from)?;
            let mut rec = get(&t, id)?.ok_or(StaffError::NotFound(id))?;
            lifecycle::apply_staff(&mut rec, action, author, now)?;
            if let (StaffAction::Resolve(_), Some(kb)) = (action, kb) {
                let os_id = match txn
                    .open_table(ASSETS)
                    .map_err(StoreError::from)?
                    .get(rec.asset.as_str())
                    .map_err(StoreError::from)?
                {
                    Some(v) => dec::<AssetMeta>("assets", v.value())?.os_id,
                    None => None,
                };
                let facts = IncidentFacts::of(&rec, (kb.kb_of)(&rec.rule), os_id);
                match kb::record_solution_in(&txn, &facts, kb.solution, kb.article, now) {
                    Ok(article) => {
                        tracing::info!(
                            incident = rec.id,
                            article,
                            confirmed = kb.article.is_some(),
                            "solution recorded in the KB"
                        );
                        let article = article.to_string();
                        if !rec.kb_articles.contains(&article) {
                            rec.kb_articles.push(article);
                        }
                    }
                    Err(KbError::Store(e)) => return Err(e.into()),
                    Err(err) => {
                        tracing::error!(error = %err, incident = rec.id, "recording the solution in the KB failed");
                    }
                }
            }
            put(&mut t, &mut open, &rec)?;
            rec
        };
        let news = match action {
            StaffAction::Resolve(_) => {
                Some(IncidentNews::Notify(NotifyEvent::Resolved, rec.clone()))
            }
            StaffAction::Escalate => Some(IncidentNews::Sla(SlaEvent::Escalated, rec.clone())),
            StaffAction::Reopen => Some(IncidentNews::Notify(NotifyEvent::Reopened, rec.clone())),
            _ => None,
        };
        crate::notify::enqueue_news_in(&txn, news.as_slice(), now)?;
        txn.commit().map_err(StoreError::from)?;
        Ok((rec, news))
    }

    /// Checks the SLA clocks of every open or acknowledged incident at `now`.
    pub fn sla_sweep(&self, now: Timestamp) -> Result<Vec<IncidentNews>, StoreError> {
        let ids: Vec<u64> = {
            let txn = self.db.begin_read()?;
            let open = txn.open_table(OPEN_INCIDENTS)?;
            let mut ids = Vec::new();
            for row in open.iter()? {
                ids.push(row?.1.value());
            }
            ids
        };
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let mut news = Vec::new();
        let txn = self.db.begin_write()?;
        {
            let mut t = txn.open_table(INCIDENTS)?;
            let mut open = txn.open_table(OPEN_INCIDENTS)?;
            for id in ids {
                let Some(mut rec) = get(&t, id)? else {
                    continue;
                };
                let events = lifecycle::sla_check(&mut rec, now);
                if events.is_empty() {
                    continue;
                }
                put(&mut t, &mut open, &rec)?;
                for e in events {
                    news.push(IncidentNews::Sla(e, rec.clone()));
                }
            }
        }
        crate::notify::enqueue_news_in(&txn, &news, now)?;
        txn.commit()?;
        Ok(news)
    }

    /// One incident.
    pub fn incident(&self, id: u64) -> Result<Option<IncidentRecord>, StoreError> {
        let txn = self.db.begin_read()?;
        let t = txn.open_table(INCIDENTS)?;
        match t.get(id)? {
            Some(v) => Ok(Some(dec("incidents", v.value())?)),
            None => Ok(None),
        }
    }

    /// Incidents matching `f`, newest first.
    pub fn incidents(&self, f: &IncidentFilter) -> Result<Vec<IncidentRecord>, StoreError> {
        let txn = self.db.begin_read()?;
        let t = txn.open_table(INCIDENTS)?;
        let mut out = Vec::new();
        for row in t.iter()?.rev() {
            let rec: IncidentRecord = dec("incidents", row?.1.value())?;
            if f.status.is_some_and(|s| s != rec.status)
                || (f.active && !rec.status.is_active())
                || f.asset.as_ref().is_some_and(|a| *a != rec.asset)
            {
                continue;
            }
            out.push(rec);
        }
        Ok(out)
    }

    /// The SLA report over every stored incident at `now`.
    pub fn sla_report(&self, now: Timestamp) -> Result<SlaReport, StoreError> {
        let all = self.incidents(&IncidentFilter::default())?;
        let mut lines: BTreeMap<Priority, (SlaLine, Vec<f64>, Vec<f64>)> = BTreeMap::new();
        for p in Priority::ALL {
            let line = SlaLine {
                priority: p.name().to_owned(),
                ..SlaLine::default()
            };
            lines.insert(p, (line, Vec::new(), Vec::new()));
        }
        for rec in &all {
            let Some((line, acks, resolves)) = lines.get_mut(&rec.priority) else {
                continue;
            };
            line.incidents += 1;
            if rec.status.is_active() {
                line.active += 1;
            }
            match rec.acknowledged_at {
                Some(at) => {
                    acks.push((at.0 - rec.opened_at.0) as f64 / 1000.0);
                    if rec.acknowledge_breached || at > rec.acknowledge_due {
                        line.acknowledge_breached += 1;
                    } else {
                        line.acknowledge_met += 1;
                    }
                }
                None if (rec.acknowledge_breached || now > rec.acknowledge_due)
                    && rec.status.is_active() =>
                {
                    line.acknowledge_breached += 1;
                }
                None => {}
            }
            match rec.resolved_at {
                Some(at) if !rec.status.is_active() => {
                    resolves.push((at.0 - rec.opened_at.0) as f64 / 1000.0);
                    if rec.resolve_breached || at > rec.resolve_due {
                        line.resolve_breached += 1;
                    } else {
                        line.resolve_met += 1;
                    }
                }
                _ if rec.resolve_breached || now > rec.resolve_due => {
                    line.resolve_breached += 1;
                }
                _ => {}
            }
        }
        let mean = |v: &[f64]| (!v.is_empty()).then(|| v.iter().sum::<f64>() / v.len() as f64);
        Ok(SlaReport {
            at: now,
            priorities: lines
                .into_values()
                .map(|(mut line, acks, resolves)| {
                    line.mean_acknowledge_seconds = mean(&acks);
                    line.mean_resolve_seconds = mean(&resolves);
                    line
                })
                .collect(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::incidents::{IncidentKey, Severity};
    use crate::store::testutil::temp_store;

    fn action(kind: ActionKind, id: u64, at: i64) -> Action {
        Action {
            kind,
            incident: id,
            key: IncidentKey {
                asset: "asset-1".into(),
                rule: "filesystem-full".into(),
                subject: "/".into(),
            },
            at: Timestamp(at),
            severity: Severity::Critical,
            title: "t".into(),
            description: "d".into(),
            occurrences: 1,
            flapping: false,
        }
    }

    #[test]
    fn actions_staff_and_the_sla_report() {
        let (_dir, store) = temp_store();
        let policies = SlaPolicies::default();
        let state = EngineState::default();
        let (opened, _) = store
            .apply_engine_actions(
                &[
                    action(ActionKind::Open, 1, 1_000),
                    action(ActionKind::Notify(NotifyEvent::Opened), 1, 1_000),
                ],
                Some(&state),
                &policies,
                Timestamp(1_100),
            )
            .unwrap();
        assert_eq!(opened.len(), 1);
        assert_eq!(opened[0].priority, Priority::P1);
        assert_eq!(store.engine_state().unwrap(), Some(state));
        let err = store
            .incident_action(1, &StaffAction::Close, "ana", Timestamp(2_000))
            .unwrap_err();
        assert!(matches!(err, StaffError::Conflict(_)), "{err}");
        assert!(matches!(
            store.incident_action(9, &StaffAction::Ack, "ana", Timestamp(2_000)),
            Err(StaffError::NotFound(9))
        ));
        store
            .incident_action(1, &StaffAction::Ack, "ana", Timestamp(61_000))
            .unwrap();
        let listed = |status: Option<Status>, active: bool| {
            let f = IncidentFilter {
                status,
                active,
                ..IncidentFilter::default()
            };
            store.incidents(&f).unwrap().len()
        };
        assert_eq!(listed(Some(Status::Open), false), 0);
        assert_eq!(listed(Some(Status::Acknowledged), false), 1);
        assert_eq!(listed(None, true), 1, "acknowledged is still to handle");
        store
            .incident_action(
                1,
                &StaffAction::Resolve(Some("fixed".into())),
                "ana",
                Timestamp(121_000),
            )
            .unwrap();
        // The resolution's webhook event was queued with it, once.
        let queued = |store: &Store| -> Vec<String> {
            crate::notify::pending(store)
                .unwrap()
                .into_iter()
                .map(|r| r.event.id)
                .filter(|id| id.starts_with("incident-1-resolved-"))
                .collect()
        };
        assert_eq!(queued(&store).len(), 1, "{:?}", queued(&store));
        assert_eq!(listed(None, true), 0, "resolved is handled");
        assert!(
            store
                .incident_action(1, &StaffAction::Resolve(None), "ana", Timestamp(122_000))
                .is_err()
        );
        assert_eq!(queued(&store).len(), 1);
        let f = IncidentFilter {
            status: Some(Status::Resolved),
            ..IncidentFilter::default()
        };
        assert_eq!(store.incidents(&f).unwrap().len(), 1);
        let report = store.sla_report(Timestamp(200_000)).unwrap();
        let p1 = &report.priorities[0];
        assert_eq!(
            (p1.incidents, p1.acknowledge_met, p1.resolve_met),
            (1, 1, 1)
        );
        assert_eq!(p1.mean_acknowledge_seconds, Some(60.0));
        assert_eq!(p1.mean_resolve_seconds, Some(120.0));
        // The engine resolving a staff-resolved incident changes nothing.
        store
            .apply_engine_actions(
                &[action(ActionKind::Resolve, 1, 300_000)],
                None,
                &policies,
                Timestamp(300_000),
            )
            .unwrap();
        assert_eq!(
            store.incident(1).unwrap().unwrap().resolved_at,
            Some(Timestamp(121_000))
        );
        // Reopened by staff and resolved again: each is its own event.
        store
            .incident_action(1, &StaffAction::Reopen, "ana", Timestamp(400_000))
            .unwrap();
        store
            .incident_action(1, &StaffAction::Resolve(None), "ana", Timestamp(500_000))
            .unwrap();
        let mut ids: Vec<String> = crate::notify::pending(&store)
            .unwrap()
            .into_iter()
            .map(|r| r.event.id)
            .filter(|id| !id.contains("-opened-"))
            .collect();
        ids.sort();
        assert_eq!(
            ids,
            [
                "incident-1-reopened-1",
                "incident-1-resolved-1",
                "incident-1-resolved-2"
            ]
        );
    }

    #[test]
    fn the_sweep_escalates_unacknowledged_incidents() {
        let (_dir, store) = temp_store();
        let policies = SlaPolicies::default();
        store
            .apply_engine_actions(
                &[action(ActionKind::Open, 1, 0)],
                None,
                &policies,
                Timestamp(0),
            )
            .unwrap();
        // P1: 15 min to acknowledge, at risk at 12 min.
        assert!(store.sla_sweep(Timestamp(11 * 60_000)).unwrap().is_empty());
        let news = store.sla_sweep(Timestamp(12 * 60_000)).unwrap();
        assert!(matches!(&news[..], [IncidentNews::Sla(SlaEvent::Escalated, r)] if r.level == 2));
        let news = store.sla_sweep(Timestamp(16 * 60_000)).unwrap();
        assert!(matches!(
            &news[..],
            [IncidentNews::Sla(SlaEvent::AcknowledgeBreached, _)]
        ));
        let report = store.sla_report(Timestamp(16 * 60_000)).unwrap();
        assert_eq!(report.priorities[0].acknowledge_breached, 1);
    }
}
