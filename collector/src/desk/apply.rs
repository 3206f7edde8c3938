//! What the desk writes: the engine's actions, staff actions and the SLA
//! sweep applied to stored incidents, each in one [`DeskTxn`] together
//! with everything that follows from it (the engine state, knowledge-base
//! suggestions and counts, handled user reports, the webhook events), so
//! a crash never keeps half of a decision.
//!
//! The lifecycle rules are [`crate::incidents::lifecycle`]'s, the event
//! wording [`crate::notify`]'s; this module only reads, decides with them
//! and writes.

use atalaya_common::model::Timestamp;

use super::kb::{KbError, record_solution_in, suggest_in};
use crate::incidents::lifecycle::{self, StaffAction, TransitionError};
use crate::incidents::report::{self, SlaReport};
use crate::incidents::sla::{self, Criticality, SlaPolicies};
use crate::incidents::{Action, ActionKind, EngineState};
use crate::kb::{IncidentFacts, RuleKb};
use crate::notify::news_event;
use crate::records::incident::{IncidentNews, IncidentRecord, KbSolution, NotifyEvent, SlaEvent};
use crate::records::kb::ArticleId;
use crate::store::{DeskTxn, IncidentFilter, Store, StoreError};

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
/// [`DeskStore::incident_action_with_solution`]).
pub struct SolutionKb<'a> {
    /// What the KB matches a rule's incidents on.
    pub kb_of: &'a dyn Fn(&str) -> RuleKb,
    /// The solution, saved as a new article (`""` when only confirming).
    pub solution: &'a str,
    /// The article that solved it, to confirm (solved + 1) instead.
    pub article: Option<ArticleId>,
}

impl std::fmt::Debug for SolutionKb<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SolutionKb")
            .field("solution", &self.solution)
            .field("article", &self.article)
            .finish_non_exhaustive()
    }
}

/// What the desk does with the store: its writes (each one transaction)
/// and the SLA report.
pub trait DeskStore {
    /// The SLA report over every stored incident at `now`.
    fn sla_report(&self, now: Timestamp) -> Result<SlaReport, StoreError>;

    /// Applies the engine's actions and saves its state, in one durable
    /// transaction. `now` is the wall clock (stored as `stored_at`).
    /// Returns the incidents opened and what to notify.
    fn apply_engine_actions(
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

    /// [`DeskStore::apply_engine_actions`] for a feed that held user
    /// reports (`(asset, report id)`): in the same transaction, each is
    /// marked handled, with the incident the actions gave it. A new
    /// incident gets the knowledge-base articles that fit it, best first
    /// (their suggestion counts go up in the same transaction); `kb_of`
    /// tells what articles may match a rule's incidents on.
    fn apply_engine_actions_for_reports(
        &self,
        actions: &[Action],
        state: Option<&EngineState>,
        reports: &[(String, String)],
        kb_of: &dyn Fn(&str) -> RuleKb,
        policies: &SlaPolicies,
        now: Timestamp,
    ) -> Result<(Vec<IncidentRecord>, Vec<IncidentNews>), StoreError>;

    /// A staff action on incident `id`. A resolution, reopening or
    /// escalation is news: its webhook event is queued in the same
    /// transaction.
    fn incident_action(
        &self,
        id: u64,
        action: &StaffAction,
        author: &str,
        now: Timestamp,
    ) -> Result<(IncidentRecord, Option<IncidentNews>), StaffError> {
        self.incident_action_with_solution(id, action, author, None, now)
    }

    /// [`DeskStore::incident_action`] that, for a resolution, also
    /// records the solution in the knowledge base (`kb`) and links the
    /// article to the incident, in the same transaction. The article to
    /// confirm must exist; a solution the KB refuses (too long…) is logged
    /// and the resolution stands.
    fn incident_action_with_solution(
        &self,
        id: u64,
        action: &StaffAction,
        author: &str,
        kb: Option<SolutionKb<'_>>,
        now: Timestamp,
    ) -> Result<(IncidentRecord, Option<IncidentNews>), StaffError>;

    /// Checks the SLA clocks of every open or acknowledged incident at `now`.
    fn sla_sweep(&self, now: Timestamp) -> Result<Vec<IncidentNews>, StoreError>;
}

impl DeskStore for Store {
    fn sla_report(&self, now: Timestamp) -> Result<SlaReport, StoreError> {
        let all = self.incidents(&IncidentFilter::default())?;
        Ok(report::sla_report(&all, now))
    }

    fn apply_engine_actions_for_reports(
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
        let txn = self.begin_desk()?;
        for action in actions {
            match action.kind {
                ActionKind::Open => {
                    let rec = open_incident(&txn, action, kb_of, policies, now)?;
                    txn.put_incident(&rec)?;
                    opened.push(rec);
                }
                ActionKind::Notify(event) => {
                    if let Some(rec) = txn.incident(action.incident)? {
                        news.push(IncidentNews::Notify(event, rec));
                    }
                }
                _ => {
                    let Some(mut rec) = txn.incident(action.incident)? else {
                        tracing::warn!(incident = action.incident, kind = ?action.kind, "engine action for an unknown incident");
                        continue;
                    };
                    if lifecycle::apply_engine(&mut rec, action) {
                        txn.put_incident(&rec)?;
                    }
                }
            }
        }
        if let Some(state) = state {
            txn.set_engine_state(state)?;
        }
        for (asset, id) in reports {
            let Some(mut rec) = txn.report(asset, id)? else {
                continue;
            };
            rec.handled_at = Some(now);
            rec.incident = actions
                .iter()
                .find(|a| a.key.asset == *asset && a.key.subject == *id)
                .map(|a| a.incident);
            txn.put_report(&rec)?;
        }
        enqueue_news(&txn, &news, now)?;
        txn.commit()?;
        Ok((opened, news))
    }

    fn incident_action_with_solution(
        &self,
        id: u64,
        action: &StaffAction,
        author: &str,
        kb: Option<SolutionKb<'_>>,
        now: Timestamp,
    ) -> Result<(IncidentRecord, Option<IncidentNews>), StaffError> {
        let txn = self.begin_desk()?;
        let mut rec = txn.incident(id)?.ok_or(StaffError::NotFound(id))?;
        lifecycle::apply_staff(&mut rec, action, author, now)?;
        if let (StaffAction::Resolve(_), Some(kb)) = (action, kb) {
            let os_id = txn.asset_meta(&rec.asset)?.and_then(|m| m.os_id);
            let facts = IncidentFacts::of(&rec, (kb.kb_of)(&rec.rule), os_id);
            match record_solution_in(&txn, &facts, kb.solution, kb.article, now) {
                Ok(article) => {
                    tracing::info!(
                        incident = rec.id,
                        article,
                        confirmed = kb.article.is_some(),
                        "solution recorded in the KB"
                    );
                    let id = article.to_string();
                    let kb_use = KbSolution {
                        article,
                        confirmed: kb.article.is_some(),
                        suggested: rec.kb_articles.contains(&id),
                    };
                    let (event, text) = kb_use.entry();
                    rec.log(now, author, event, text);
                    if !rec.kb_articles.contains(&id) {
                        rec.kb_articles.push(id);
                    }
                }
                Err(KbError::Store(e)) => return Err(e.into()),
                Err(err) => {
                    tracing::error!(error = %err, incident = rec.id, "recording the solution in the KB failed");
                }
            }
        }
        txn.put_incident(&rec)?;
        let news = match action {
            StaffAction::Resolve(_) => {
                Some(IncidentNews::Notify(NotifyEvent::Resolved, rec.clone()))
            }
            StaffAction::Escalate => Some(IncidentNews::Sla(SlaEvent::Escalated, rec.clone())),
            StaffAction::Reopen => Some(IncidentNews::Notify(NotifyEvent::Reopened, rec.clone())),
            _ => None,
        };
        enqueue_news(&txn, news.as_slice(), now)?;
        txn.commit()?;
        Ok((rec, news))
    }

    fn sla_sweep(&self, now: Timestamp) -> Result<Vec<IncidentNews>, StoreError> {
        let txn = self.begin_desk()?;
        let mut news = Vec::new();
        for id in txn.active_incident_ids()? {
            let Some(mut rec) = txn.incident(id)? else {
                continue;
            };
            let events = lifecycle::sla_check(&mut rec, now);
            if events.is_empty() {
                continue;
            }
            txn.put_incident(&rec)?;
            for e in events {
                news.push(IncidentNews::Sla(e, rec.clone()));
            }
        }
        if news.is_empty() {
            // Nothing changed: no commit, so an idle sweep costs no write.
            return Ok(news);
        }
        enqueue_news(&txn, &news, now)?;
        txn.commit()?;
        Ok(news)
    }
}

/// The record of a new incident: its priority from the severity and the
/// asset's criticality, its SLA clocks, and the knowledge-base articles
/// that fit it (counted as suggested in `txn`).
fn open_incident(
    txn: &DeskTxn,
    action: &Action,
    kb_of: &dyn Fn(&str) -> RuleKb,
    policies: &SlaPolicies,
    now: Timestamp,
) -> Result<IncidentRecord, StoreError> {
    let meta = txn.asset_meta(&action.key.asset)?;
    let tags = meta.as_ref().map(|m| m.tags.as_slice()).unwrap_or(&[]);
    let priority = sla::priority(action.severity, Criticality::from_tags(tags));
    let mut rec = lifecycle::new_incident(action, priority, policies, now);
    let os_id = meta.and_then(|m| m.os_id);
    let facts = IncidentFacts::of(&rec, kb_of(&rec.rule), os_id);
    match suggest_in(txn, &facts) {
        Ok(found) => {
            rec.kb_articles = found.into_iter().map(|(id, _)| id.to_string()).collect();
        }
        Err(KbError::Store(e)) => return Err(e),
        Err(err) => {
            tracing::warn!(error = %err, incident = rec.id, "KB suggestions failed");
        }
    }
    Ok(rec)
}

/// Queues the webhook event of each piece of news in the transaction that
/// stored it (host names from the asset records). Returns how many were new.
fn enqueue_news(txn: &DeskTxn, news: &[IncidentNews], now: Timestamp) -> Result<usize, StoreError> {
    let mut added = 0;
    for n in news {
        let rec = match n {
            IncidentNews::Notify(_, rec) | IncidentNews::Sla(_, rec) => rec,
        };
        let hostname = txn
            .asset_meta(&rec.asset)?
            .map(|m| m.hostname)
            .unwrap_or_default();
        if txn.enqueue(&news_event(n, hostname), now)? {
            added += 1;
        }
    }
    Ok(added)
}

#[cfg(test)]
mod tests {

    use super::*;
    use crate::records::incident::{IncidentKey, Priority, Severity, Status};
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
        assert_eq!(store.engine_state::<EngineState>().unwrap(), Some(state));
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
            store
                .outbox()
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
        let mut ids: Vec<String> = store
            .outbox()
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
    fn an_assets_incidents_follow_every_step_of_their_life() {
        let (_dir, store) = temp_store();
        let policies = SlaPolicies::default();
        let mut other = action(ActionKind::Open, 2, 1_000);
        other.key.asset = "asset-2".into();
        store
            .apply_engine_actions(
                &[action(ActionKind::Open, 1, 1_000), other],
                None,
                &policies,
                Timestamp(1_000),
            )
            .unwrap();
        // What the asset's page and the API's `asset` filter read.
        let of = |asset: &str, active: bool| -> Vec<(u64, Status)> {
            let f = IncidentFilter {
                asset: Some(asset.into()),
                active,
                ..IncidentFilter::default()
            };
            let listed: Vec<(u64, Status)> = store
                .incidents(&f)
                .unwrap()
                .iter()
                .map(|r| (r.id, r.status))
                .collect();
            let page = store.incident_page(&f, None, None, 50).unwrap();
            let paged: Vec<(u64, Status)> =
                page.incidents.iter().map(|r| (r.id, r.status)).collect();
            assert_eq!(listed, paged);
            assert_eq!(page.matched, listed.len() as u64);
            listed
        };
        assert_eq!(of("asset-1", false), [(1, Status::Open)]);
        assert_eq!(of("asset-2", false), [(2, Status::Open)]);
        assert!(of("asset-3", false).is_empty());
        let staff = |action: StaffAction, at: i64| {
            store
                .incident_action(1, &action, "ana", Timestamp(at))
                .unwrap();
        };
        staff(StaffAction::Ack, 2_000);
        assert_eq!(of("asset-1", true), [(1, Status::Acknowledged)]);
        staff(StaffAction::Resolve(None), 3_000);
        assert_eq!(of("asset-1", false), [(1, Status::Resolved)]);
        assert!(of("asset-1", true).is_empty());
        staff(StaffAction::Close, 4_000);
        assert_eq!(of("asset-1", false), [(1, Status::Closed)]);
        staff(StaffAction::Reopen, 5_000);
        assert_eq!(of("asset-1", true), [(1, Status::Open)]);
        // A new incident of the asset, opened by the engine, comes first.
        store
            .apply_engine_actions(
                &[action(ActionKind::Open, 3, 6_000)],
                None,
                &policies,
                Timestamp(6_000),
            )
            .unwrap();
        assert_eq!(of("asset-1", false), [(3, Status::Open), (1, Status::Open)]);
        assert_eq!(of("asset-2", false), [(2, Status::Open)]);
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
