//! The incident desk: the engine wired to the store. It hears what each
//! durable commit stored ([`Fed`]), ticks every few seconds, applies the
//! engine's actions to the store (with the engine state, in one
//! transaction), checks the SLA clocks, and carries out staff actions and
//! rule reloads for the API.
//!
//! A new incident gets its knowledge-base suggestions in the transaction
//! that stores it. Notifications plug in through [`IncidentHooks`];
//! [`ServiceHooks`] is the real one (it wakes the webhook worker).
//!
//! # Layout
//! - [`capacity`]: the capacity, installed-capacity and renewal reports
//!   read from the store, and the end-of-support table read from the
//!   configuration directory.
//! - [`apply`]: engine actions, staff actions and the SLA sweep written to
//!   the store, each in one transaction with all that follows from it.
//! - [`devices`]: network devices added and removed, their pollers chosen.
//! - [`diagnostics`]: diagnostic results written on their incident's timeline.
//! - [`kb`]: the knowledge base read and written for incidents and people.
//! - [`lookup`]: the caller lookup, its indexes and records read from the
//!   store.
//! - [`metrics`]: metric series read through the tier that answers them
//!   (the API's queries and the console's charts).
//! - [`slr`]: the service-level report of a period, its incidents read
//!   from the store's index by time.
//! - [`people`]: the people directory's CSV import, all or nothing.
//! - [`calls`]: incoming calls resolved through the directory, and the
//!   hub that hands them to whoever listens.
//! - [`topology`]: the network map, its devices, neighbours and hosts read
//!   from the store.
//! - [`reports`]: what the people who reported incidents are told about
//!   them, read from the store for their machine's agent.
//! - [`wakers`]: wake-ups for an agent's data sessions when what they send
//!   changed.

pub mod apply;
pub mod calls;
pub mod capacity;
pub mod devices;
pub mod devices_file;
pub mod diagnostics;
pub mod kb;
pub mod lookup;
pub mod metrics;
pub mod people;
pub mod reports;
pub mod slr;
pub mod suppliers;
pub mod topology;
pub mod wakers;

pub use apply::{DeskStore, SolutionKb, StaffError};

use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard, RwLock};
use std::time::Duration;

use atalaya_common::config::LoadError;
use atalaya_common::model::Timestamp;
use tokio::sync::{Notify, mpsc};

use crate::capacity::eol::EolTable;
use crate::helpers::series;
use crate::incidents::lifecycle::StaffAction;
use crate::incidents::sla::SlaPolicies;
use crate::incidents::{
    Action, AssetFacts, AssetKind, DevicePolled, Engine, RuleSet, UserReport, context,
};
use crate::records::diagnostic::DiagnosticRecord;
use crate::records::incident::{IncidentNews, IncidentRecord};
use crate::records::kb::ArticleId;
use crate::store::{AssetRecord, Fed, Store, StoreError};
use kb::KbError;

/// Where notifications (webhooks) hook in.
pub trait IncidentHooks: Send + Sync + 'static {
    /// Something to tell people: an engine `Notify` action or an SLA event.
    fn notify(&self, news: &IncidentNews) {
        tracing::info!(?news, "incident notification (no notifier configured)");
    }

    /// What the reports written on the machine of `agent` read as changed
    /// (one was handled, or its incident moved): its agent is told.
    fn reports_changed(&self, agent: &str) {
        tracing::debug!(agent, "user reports changed (no agent sessions to tell)");
    }
}

/// Hooks that only log.
#[derive(Debug, Default)]
pub struct LogHooks;

impl IncidentHooks for LogHooks {}

/// The hooks of a running collector: news wakes the webhook worker (the
/// store queued its event in the outbox in the same transaction as the
/// news), and a change to a user report wakes its agent's sessions.
pub struct ServiceHooks {
    wake: Arc<Notify>,
    reporters: Option<wakers::AgentWakers>,
}

impl std::fmt::Debug for ServiceHooks {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServiceHooks").finish_non_exhaustive()
    }
}

impl ServiceHooks {
    /// Hooks that wake the webhook worker with `wake` (see
    /// [`crate::webhooks::Notifier::waker`]).
    pub fn new(wake: Arc<Notify>) -> Self {
        ServiceHooks {
            wake,
            reporters: None,
        }
    }

    /// Hooks that also wake the data sessions of an agent whose reports
    /// changed, through `wakers`.
    pub fn with_reporters(mut self, wakers: wakers::AgentWakers) -> Self {
        self.reporters = Some(wakers);
        self
    }
}

impl IncidentHooks for ServiceHooks {
    fn notify(&self, news: &IncidentNews) {
        // The store queued the event in the transaction that stored the
        // news; the worker only has to look.
        tracing::debug!(?news, "incident news: waking the webhook worker");
        self.wake.notify_one();
    }

    fn reports_changed(&self, agent: &str) {
        if let Some(wakers) = &self.reporters {
            wakers.wake(agent);
        }
    }
}

/// Why rules and policies could not be reloaded.
#[derive(Debug, thiserror::Error)]
pub enum ReloadError {
    /// The rules file or the configuration file (or both) could not be
    /// read or has errors; the running rules and policies stay.
    #[error("{}", errors.iter().map(|e| e.to_string()).collect::<Vec<_>>().join("\n"))]
    Invalid {
        /// Every file's failure, the rules file first.
        errors: Vec<LoadError>,
    },
    /// Storing the resulting actions failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Why a staff action failed.
#[derive(Debug, thiserror::Error)]
pub enum ActError {
    /// The incident side refused or failed.
    #[error(transparent)]
    Staff(#[from] StaffError),
    /// The KB article to confirm is missing, or the KB failed.
    #[error(transparent)]
    Kb(#[from] KbError),
    /// The request does not make sense.
    #[error("{0}")]
    Invalid(String),
}

impl From<StoreError> for ActError {
    fn from(e: StoreError) -> Self {
        ActError::Staff(StaffError::Store(e))
    }
}

/// The engine, the store and the hooks.
pub struct Desk {
    store: Arc<Store>,
    engine: Mutex<Engine>,
    policies: RwLock<SlaPolicies>,
    rules_file: Option<PathBuf>,
    /// The collector configuration a reload takes the SLA policies from.
    config_file: Option<PathBuf>,
    /// The end-of-support table of the renewal report.
    eol: RwLock<EolTable>,
    hooks: Arc<dyn IncidentHooks>,
    /// When the supplier book was last checked against the supplier rules (ms).
    supplier_check: Mutex<Option<i64>>,
}

impl std::fmt::Debug for Desk {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Desk")
            .field("rules_file", &self.rules_file)
            .finish_non_exhaustive()
    }
}

/// Loads a rules file over the built-ins (`None`: built-ins only).
pub fn load_rules(file: Option<&std::path::Path>) -> Result<RuleSet, LoadError> {
    match file {
        None => Ok(RuleSet::default()),
        Some(path) => RuleSet::load(path),
    }
}

impl Desk {
    /// A desk going on from the store's engine state.
    pub fn new(
        store: Arc<Store>,
        rules: RuleSet,
        rules_file: Option<PathBuf>,
        heartbeat_seconds: u64,
        policies: SlaPolicies,
        hooks: Arc<dyn IncidentHooks>,
        now: Timestamp,
    ) -> Result<Self, StoreError> {
        let state = store.engine_state()?.unwrap_or_default();
        let mut engine = Engine::with_state(rules.clone(), heartbeat_seconds, state);
        let actions = engine.set_rules(rules, now);
        let desk = Desk {
            store,
            engine: Mutex::new(engine),
            policies: RwLock::new(policies),
            rules_file,
            config_file: None,
            eol: RwLock::new(EolTable::built_in()),
            hooks,
            supplier_check: Mutex::new(None),
        };
        {
            let engine = desk.engine();
            desk.apply(&actions, &engine, now)?;
        }
        // Reports stored by a collector that stopped before handling them.
        let pending: Vec<Fed> = desk
            .store
            .pending_reports()?
            .into_iter()
            .map(Fed::Report)
            .collect();
        if !pending.is_empty() {
            tracing::info!(
                reports = pending.len(),
                "handling user reports left from the last run"
            );
            desk.feed(&pending, now)?;
        }
        Ok(desk)
    }

    fn engine(&self) -> MutexGuard<'_, Engine> {
        // A panic while holding the lock is a bug; the state is still usable.
        self.engine.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Applies actions (and saves the state when there are any), then runs the hooks.
    fn apply(&self, actions: &[Action], engine: &Engine, now: Timestamp) -> Result<(), StoreError> {
        self.apply_for_reports(actions, &[], engine, now)
    }

    /// [`Desk::apply`] that also marks the user reports `(asset, id)` the
    /// actions answer as handled, in the same transaction.
    fn apply_for_reports(
        &self,
        actions: &[Action],
        reports: &[(String, String)],
        engine: &Engine,
        now: Timestamp,
    ) -> Result<(), StoreError> {
        if actions.is_empty() && reports.is_empty() {
            return Ok(());
        }
        let rules = engine.rules();
        let (opened, news) = self.store.apply_engine_actions_for_reports(
            actions,
            Some(engine.state()),
            reports,
            &|rule| rules.kb_of(rule),
            &self.policies(),
            now,
        )?;
        for rec in &opened {
            tracing::info!(incident = rec.id, asset = %rec.asset, rule = %rec.rule, priority = %rec.priority, kb_articles = ?rec.kb_articles, "incident opened");
        }
        for n in &news {
            self.hooks.notify(n);
        }
        Ok(())
    }

    /// Feeds what one commit stored. A baseline rule's first point of a
    /// series after a start has its series' history read first, so the
    /// rule compares it with the stored points' level.
    pub fn feed(&self, fed: &[Fed], now: Timestamp) -> Result<(), StoreError> {
        let mut engine = self.engine();
        let mut actions = Vec::new();
        let mut reports = Vec::new();
        for f in fed {
            match f {
                Fed::Report(r) => {
                    let (context, facts) = self.report_context(&r.asset, r.received_at);
                    if let Some(facts) = facts {
                        // The engine may not know the asset yet (a report
                        // left from before a restart, or before any inventory).
                        actions.extend(engine.set_asset(&r.asset, facts, r.received_at));
                    }
                    let report = UserReport {
                        id: r.id.clone(),
                        text: r.text.clone(),
                        user: r.user.clone(),
                        context,
                    };
                    actions.extend(engine.on_report(&r.asset, r.received_at, &report));
                    reports.push((r.asset.clone(), r.id.clone()));
                }
                // Written on the timeline below, without the engine.
                Fed::Diagnostic(_) => {}
                Fed::Seen { asset, at } => actions.extend(engine.on_seen(asset, *at)),
                Fed::Sample { asset, sample } => {
                    let points = series::points(sample);
                    actions.extend(engine.on_samples(asset, sample.at, &points));
                }
                Fed::Inventory {
                    asset,
                    at,
                    changes,
                    hostname,
                    tags,
                    os_id,
                    virtualization,
                } => {
                    let facts = AssetFacts {
                        hostname: hostname.clone(),
                        tags: tags.clone(),
                        os_id: os_id.clone(),
                        kind: AssetKind::of(virtualization),
                    };
                    actions.extend(engine.set_asset(asset, facts, *at));
                    actions.extend(engine.on_inventory(asset, *at, changes));
                }
                Fed::DevicePoll {
                    asset,
                    device,
                    at,
                    state,
                    values,
                    admin_down,
                    changes,
                    peers,
                } => {
                    let poll = DevicePolled {
                        device,
                        state: *state,
                        values,
                        admin_down,
                        peers,
                    };
                    actions.extend(engine.on_device_poll(asset, *at, &poll));
                    actions.extend(engine.on_device_changes(asset, *at, changes));
                }
                Fed::DeviceTrap { asset, trap } => {
                    actions.extend(engine.on_device_trap(asset, trap.received_at, trap));
                }
                Fed::Points { asset, at, points } => {
                    for (series, hours) in engine.unseeded(asset, points) {
                        let from = Timestamp(at.0.saturating_sub(hours_ms(hours)));
                        let stored = self
                            .store
                            .metric(asset, &series, from, *at, None)
                            .unwrap_or_else(|err| {
                                // Then the level builds up from the points to come.
                                tracing::warn!(asset = %asset, series = %series, error = %err, "cannot read a series' history for its usual level");
                                Vec::new()
                            });
                        engine.seed_baseline(asset, &series, *at, &stored);
                    }
                    actions.extend(engine.on_samples(asset, *at, points));
                }
            }
        }
        self.apply_for_reports(&actions, &reports, &engine, now)?;
        drop(engine);
        for f in fed {
            match f {
                Fed::Report(r) => self.hooks.reports_changed(&r.agent_id),
                Fed::Diagnostic(d) => self.note_diagnostic(d, now),
                _ => {}
            }
        }
        Ok(())
    }

    /// Writes a diagnostic result on the timeline of the incident its
    /// request named, as its requester. A failure is logged: the result
    /// itself is stored with the request.
    fn note_diagnostic(&self, rec: &DiagnosticRecord, now: Timestamp) {
        let Some(incident) = rec.order.incident else {
            return;
        };
        let action = StaffAction::Diagnostic(diagnostics::timeline_text(rec));
        if let Err(err) = self.staff(incident, &action, None, &rec.order.requested_by, now) {
            tracing::warn!(incident, request = %rec.order.id, error = %err, "cannot write a diagnostic result on the incident's timeline");
        }
    }

    /// Tells the agents of the reports counted on `rec` that what the
    /// people who wrote them read has changed.
    fn tell_reporters(&self, rec: &IncidentRecord) {
        let reports = match self.store.reports(&rec.asset) {
            Ok(reports) => reports,
            Err(err) => {
                tracing::warn!(incident = rec.id, error = %err, "cannot read the incident's user reports; their writers hear of it at their next connection");
                return;
            }
        };
        let mut agents: Vec<&str> = reports
            .iter()
            .filter(|r| r.incident == Some(rec.id))
            .map(|r| r.agent_id.as_str())
            .collect();
        agents.sort_unstable();
        agents.dedup();
        for agent in agents {
            self.hooks.reports_changed(agent);
        }
    }

    /// What a user-report incident carries about the machine at `at`: its
    /// inventory summary and its last hour of health. A read that fails
    /// leaves its part out (the report itself matters more).
    /// Also returns the asset's facts for the engine, when it is stored.
    fn report_context(&self, asset: &str, at: Timestamp) -> (String, Option<AssetFacts>) {
        let mut out = String::new();
        let mut facts = None;
        match self.store.asset(asset) {
            Ok(Some(AssetRecord { meta, inventory })) => {
                facts = Some(AssetFacts {
                    hostname: meta.hostname.clone(),
                    tags: meta.tags.clone(),
                    os_id: meta.os_id.clone(),
                    kind: AssetKind::of(
                        &inventory
                            .as_ref()
                            .map(|i| i.host.virtualization.clone())
                            .unwrap_or_default(),
                    ),
                });
                match &inventory {
                    Some(inv) => out.push_str(&context::machine(inv)),
                    None => out.push_str("Machine: no inventory received yet.\n"),
                }
            }
            Ok(None) => out.push_str("Machine: not in the inventory.\n"),
            Err(err) => {
                tracing::warn!(error = %err, asset, "reading the inventory for a user report");
            }
        }
        let from = Timestamp(at.0.saturating_sub(context::HEALTH_WINDOW_MS));
        let mut names = match self.store.series_names(asset) {
            Ok(names) => names,
            Err(err) => {
                tracing::warn!(error = %err, asset, "reading the series for a user report");
                Vec::new()
            }
        };
        for (derived, part, total, _) in series::DERIVED_PERCENTS {
            if names.iter().any(|n| n == part) && names.iter().any(|n| n == total) {
                names.push((*derived).to_owned());
            }
        }
        let read = |name: &str| self.store.metric(asset, name, from, at, None);
        let mut stats = Vec::new();
        for name in context::wanted_series(&names) {
            let points = match series::DERIVED_PERCENTS.iter().find(|d| d.0 == name) {
                Some((_, part, total, available)) => read(part)
                    .and_then(|p| Ok(series::derive_percent(&p, &read(total)?, *available))),
                None => read(&name),
            };
            match points {
                Ok(points) => stats.extend(context::stats(&name, &points)),
                Err(err) => {
                    tracing::warn!(error = %err, asset, series = name, "reading health for a user report");
                }
            }
        }
        if !out.is_empty() {
            out.push('\n');
        }
        out.push_str(&context::health(&stats, from, at));
        (out, facts)
    }

    /// Time passes: absence rules, flapping, then the SLA clocks, and every
    /// [`SUPPLIER_CHECK_MS`] the supplier book. The engine state is saved at
    /// every tick.
    pub fn tick(&self, now: Timestamp) -> Result<(), StoreError> {
        let last_check = *self
            .supplier_check
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        if last_check.is_none_or(|last| now.0.saturating_sub(last) >= SUPPLIER_CHECK_MS) {
            self.check_supplier_book(now)?;
        }
        {
            let mut engine = self.engine();
            let actions = engine.on_tick(now);
            if actions.is_empty() {
                self.store.apply_engine_actions(
                    &[],
                    Some(engine.state()),
                    &self.policies(),
                    now,
                )?;
            } else {
                self.apply(&actions, &engine, now)?;
            }
        }
        for n in self.store.sla_sweep(now)? {
            self.hooks.notify(&n);
        }
        Ok(())
    }

    /// Checks the supplier book as it stands at `now` against the supplier
    /// rules (contracts due for renewal, warranties ending, licences over
    /// their seats). The tick does it every [`SUPPLIER_CHECK_MS`], and at
    /// the first tick after [`Desk::supplier_book_changed`].
    pub fn check_supplier_book(&self, now: Timestamp) -> Result<(), StoreError> {
        // Read before taking the engine: a large fleet's inventories take a while.
        let book = suppliers::book_day(&self.store, now)?;
        let mut engine = self.engine();
        let actions = engine.on_supplier_book(now, &book);
        self.apply(&actions, &engine, now)?;
        *self
            .supplier_check
            .lock()
            .unwrap_or_else(|e| e.into_inner()) = Some(now.0);
        Ok(())
    }

    /// The supplier book changed: the next tick checks it again.
    pub fn supplier_book_changed(&self) {
        *self
            .supplier_check
            .lock()
            .unwrap_or_else(|e| e.into_inner()) = None;
    }

    /// A staff action; resolving or closing tells the engine, so the same
    /// condition does not reopen it at once, and reopening tells it the
    /// incident is open again. Resolving records the solution
    /// in the knowledge base: `kb_article` confirms that article (solved + 1),
    /// else a solution text becomes a new article linked to the incident.
    /// Resolutions and escalations are notified.
    pub fn staff(
        &self,
        id: u64,
        action: &StaffAction,
        kb_article: Option<ArticleId>,
        author: &str,
        now: Timestamp,
    ) -> Result<IncidentRecord, ActError> {
        self.staff_saving(id, action, kb_article, true, author, now)
    }

    /// [`Desk::staff`], where a resolution's solution text becomes a new
    /// article only when `save_solution` (the article `kb_article` is
    /// confirmed either way). Without, the solution is kept on the
    /// incident alone.
    pub fn staff_saving(
        &self,
        id: u64,
        action: &StaffAction,
        kb_article: Option<ArticleId>,
        save_solution: bool,
        author: &str,
        now: Timestamp,
    ) -> Result<IncidentRecord, ActError> {
        if let Some(a) = kb_article {
            if !matches!(action, StaffAction::Resolve(_)) {
                return Err(ActError::Invalid(
                    "a KB article is only confirmed when resolving".into(),
                ));
            }
            if self.store.article(a)?.is_none() {
                return Err(ActError::Kb(KbError::NotFound(a)));
            }
        }
        // The solution is recorded with the resolution, in its transaction.
        // The rules are copied first: the engine is not locked while the
        // store writes (a feed holds the lock while it waits to write).
        let solution = match action {
            StaffAction::Resolve(s) if (save_solution && s.is_some()) || kb_article.is_some() => {
                Some(s.as_deref().unwrap_or(""))
            }
            _ => None,
        };
        let rules = solution.map(|_| self.engine().rules().clone());
        let kb_of = |rule: &str| rules.as_ref().map(|r| r.kb_of(rule)).unwrap_or_default();
        let solution_kb = solution.map(|solution| SolutionKb {
            kb_of: &kb_of,
            solution,
            article: kb_article,
        });
        let (rec, news) =
            self.store
                .incident_action_with_solution(id, action, author, solution_kb, now)?;
        if matches!(
            action,
            StaffAction::Resolve(_) | StaffAction::Close | StaffAction::Reopen
        ) {
            let mut engine = self.engine();
            if matches!(action, StaffAction::Reopen) {
                engine.on_staff_reopened(&rec.key(), rec.id, rec.occurrences, now);
            } else {
                engine.on_staff_resolved(&rec.key(), now);
            }
            self.store
                .apply_engine_actions(&[], Some(engine.state()), &self.policies(), now)?;
        }
        if let Some(n) = &news {
            self.hooks.notify(n);
        }
        self.tell_reporters(&rec);
        Ok(rec)
    }

    /// A desk whose reloads also read the SLA policies (`[sla]`) of this
    /// collector configuration file.
    pub fn with_config_file(mut self, file: Option<PathBuf>) -> Self {
        self.config_file = file;
        self
    }

    /// A desk whose renewal reports use this end-of-support table.
    pub fn with_eol_table(self, table: EolTable) -> Self {
        *self.eol.write().unwrap_or_else(|e| e.into_inner()) = table;
        self
    }

    /// Reloads the rules file and, when the desk knows the collector's
    /// configuration file, its SLA policies (nothing else of it) and the
    /// end-of-support table of its directory. Any of them with errors
    /// refuses all, every error named, and what runs stays.
    /// New policies set the clocks of incidents opened from now on.
    pub fn reload(&self, now: Timestamp) -> Result<Reloaded, ReloadError> {
        let rules = load_rules(self.rules_file.as_deref());
        let policies = self
            .config_file
            .as_deref()
            .map(|file| crate::config::CollectorConfig::load(file).map(|c| c.sla));
        let eol = self
            .config_file
            .as_deref()
            .map(|file| capacity::load_eol(file.parent()));
        let (rules, policies, eol) = match (rules, policies.transpose(), eol.transpose()) {
            (Ok(r), Ok(p), Ok(e)) => (r, p, e),
            (r, p, e) => {
                let errors = [r.err(), p.err(), e.err()].into_iter().flatten().collect();
                return Err(ReloadError::Invalid { errors });
            }
        };
        let count = rules.rules().len();
        let sla_policies = policies.is_some();
        if let Some(p) = policies {
            *self.policies.write().unwrap_or_else(|e| e.into_inner()) = p;
        }
        if let Some(table) = eol {
            *self.eol.write().unwrap_or_else(|e| e.into_inner()) = table;
        }
        let mut engine = self.engine();
        let actions = engine.set_rules(rules, now);
        self.apply(&actions, &engine, now)?;
        self.store
            .apply_engine_actions(&[], Some(engine.state()), &self.policies(), now)?;
        Ok(Reloaded {
            rules: count,
            sla_policies,
        })
    }

    /// The rules in force (the capacity report fits each series over the
    /// window of the forecast rule watching it).
    pub fn rules(&self) -> RuleSet {
        self.engine().rules().clone()
    }

    /// The end-of-support table in force.
    pub fn eol_table(&self) -> EolTable {
        self.eol.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// The SLA policies in force.
    pub fn policies(&self) -> SlaPolicies {
        self.policies
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }
}

/// What a reload put in force.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
pub struct Reloaded {
    /// Rules in force (built-in and from the file).
    pub rules: usize,
    /// The SLA policies were read again from the configuration file.
    pub sla_policies: bool,
}

/// How often the tick checks the supplier book (ms): its dates move by days
/// and installations by inventories, and a check reads every asset.
pub const SUPPLIER_CHECK_MS: i64 = 3_600_000;

/// Runs the desk: commits' [`Fed`] from `rx`, and a tick every `tick`.
pub async fn run(desk: Arc<Desk>, mut rx: mpsc::Receiver<Vec<Fed>>, tick: Duration) {
    let mut interval = tokio::time::interval(tick);
    interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        let job: Option<Vec<Fed>> = tokio::select! {
            got = rx.recv() => match got {
                Some(mut fed) => {
                    // Take whatever else is waiting, in order.
                    while let Ok(more) = rx.try_recv() {
                        fed.extend(more);
                    }
                    Some(fed)
                }
                None => return,
            },
            _ = interval.tick() => None,
        };
        let d = desk.clone();
        let result = tokio::task::spawn_blocking(move || match job {
            Some(fed) => d.feed(&fed, Timestamp::now()),
            None => d.tick(Timestamp::now()),
        })
        .await;
        match result {
            Ok(Ok(())) => {}
            Ok(Err(err)) => tracing::error!(error = %err, "incident desk: storing failed"),
            Err(err) => tracing::error!(error = %err, "incident desk task failed"),
        }
    }
}

/// `hours` in ms.
fn hours_ms(hours: u64) -> i64 {
    i64::try_from(hours.saturating_mul(3_600_000)).unwrap_or(i64::MAX)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // a panic is how a test fails
mod tests {
    use super::*;
    use crate::store::testutil::*;
    use crate::store::{IncidentFilter, Ingest, IngestRecord};
    use atalaya_common::proto;

    fn report(seq: u64, id: &str) -> Ingest {
        Ingest {
            agent_id: "ag".into(),
            received_at: Timestamp(90_000),
            record: IngestRecord::UserReport(proto::UserReport {
                seq,
                id: id.into(),
                written_at: Timestamp(89_000),
                text: "the printer does not print".into(),
                user: Some("maria".into()),
                uid: Some(1000),
            }),
        }
    }

    fn desk(store: &Arc<Store>) -> Desk {
        Desk::new(
            store.clone(),
            RuleSet::default(),
            None,
            10,
            SlaPolicies::default(),
            Arc::new(LogHooks),
            Timestamp(100_000),
        )
        .unwrap()
    }

    #[test]
    fn a_report_stored_before_a_crash_is_handled_at_the_next_start_once() {
        let (_d, store) = temp_store();
        let store = Arc::new(store);
        let inv = machine("pc-17", Some("uuid-17"), "mid-17", "aa:bb:cc:dd:ee:17");
        // Stored, then the collector stops before its desk hears of it.
        let (_, fed) = store
            .commit_fed(&[
                snapshot("ag", 1, 1_000, &inv),
                metrics("ag", 2, vec![sample(80_000, 42.0)]),
                report(3, "r-1"),
            ])
            .unwrap();
        assert!(
            fed.iter()
                .any(|f| matches!(f, Fed::Report(r) if r.id == "r-1"))
        );
        // The agent sends it again (its ack was lost): stored once, not fed.
        let (_, fed) = store.commit_fed(&[report(4, "r-1")]).unwrap();
        assert!(!fed.iter().any(|f| matches!(f, Fed::Report(_))), "{fed:?}");
        assert_eq!(store.pending_reports().unwrap().len(), 1);

        let _desk = desk(&store);
        let all = store.incidents(&IncidentFilter::default()).unwrap();
        assert_eq!(all.len(), 1, "{all:?}");
        let incident = &all[0];
        assert_eq!(incident.rule, "user-report");
        assert_eq!(incident.title, "pc-17: the printer does not print");
        assert!(
            incident.description.contains("maria at pc-17 wrote at "),
            "{}",
            incident.description
        );
        assert!(
            incident.description.contains("cpu.total_percent"),
            "{}",
            incident.description
        );
        let asset = store.agent_asset_id("ag").unwrap().unwrap();
        let reports = store.reports(&asset).unwrap();
        assert_eq!(reports.len(), 1);
        assert_eq!(reports[0].incident, Some(incident.id));
        assert!(reports[0].handled_at.is_some());
        assert!(store.pending_reports().unwrap().is_empty());

        // Another start finds nothing left to do.
        let _desk = desk(&store);
        assert_eq!(
            store.incidents(&IncidentFilter::default()).unwrap().len(),
            1
        );
    }
}
