//! The incident desk: the engine wired to the store. It hears what each
//! durable commit stored ([`Fed`]), ticks every few seconds, applies the
//! engine's actions to the store (with the engine state, in one
//! transaction), checks the SLA clocks, and carries out staff actions and
//! rule reloads for the API.
//!
//! Notifications and the knowledge base plug in through [`IncidentHooks`].

use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use atalaya_common::model::Timestamp;
use tokio::sync::mpsc;

use crate::incidents::lifecycle::{IncidentRecord, StaffAction};
use crate::incidents::sla::SlaPolicies;
use crate::incidents::{Action, AssetFacts, AssetKind, Engine, RuleSet, series};
use crate::store::{Fed, IncidentNews, StaffError, Store, StoreError};

/// Where notifications (webhooks) and the knowledge base hook in.
pub trait IncidentHooks: Send + Sync + 'static {
    /// A new incident was stored; returns the ids of matching KB articles,
    /// best first (stored in the incident's `kb_articles`).
    fn opened(&self, _incident: &IncidentRecord) -> Vec<String> {
        Vec::new()
    }
    /// Something to tell people: an engine `Notify` action or an SLA event.
    fn notify(&self, news: &IncidentNews) {
        tracing::info!(?news, "incident notification (no notifier configured)");
    }
}

/// Hooks that only log.
#[derive(Debug, Default)]
pub struct LogHooks;

impl IncidentHooks for LogHooks {}

/// Why rules could not be reloaded.
#[derive(Debug, thiserror::Error)]
pub enum ReloadError {
    /// The file has errors; the running rules stay.
    #[error("{0}")]
    Invalid(String),
    /// Storing the resulting actions failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The engine, the store and the hooks.
pub struct Desk {
    store: Arc<Store>,
    engine: Mutex<Engine>,
    policies: SlaPolicies,
    rules_file: Option<PathBuf>,
    hooks: Arc<dyn IncidentHooks>,
}

impl std::fmt::Debug for Desk {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Desk")
            .field("rules_file", &self.rules_file)
            .finish_non_exhaustive()
    }
}

/// Loads a rules file over the built-ins (`None`: built-ins only); every
/// error of the file in the message.
pub fn load_rules(file: Option<&std::path::Path>) -> Result<RuleSet, String> {
    match file {
        None => Ok(RuleSet::default()),
        Some(path) => RuleSet::load(path).map_err(|e| format!("{e:#}")),
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
            policies,
            rules_file,
            hooks,
        };
        {
            let engine = desk.engine();
            desk.apply(&actions, &engine, now)?;
        }
        Ok(desk)
    }

    fn engine(&self) -> MutexGuard<'_, Engine> {
        // A panic while holding the lock is a bug; the state is still usable.
        self.engine.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Applies actions (and saves the state when there are any), then runs the hooks.
    fn apply(&self, actions: &[Action], engine: &Engine, now: Timestamp) -> Result<(), StoreError> {
        if actions.is_empty() {
            return Ok(());
        }
        let (opened, news) =
            self.store
                .apply_engine_actions(actions, Some(engine.state()), &self.policies, now)?;
        for rec in &opened {
            tracing::info!(incident = rec.id, asset = %rec.asset, rule = %rec.rule, priority = %rec.priority, "incident opened");
            let articles = self.hooks.opened(rec);
            if !articles.is_empty() {
                self.store.set_incident_kb_articles(rec.id, articles)?;
            }
        }
        for n in &news {
            self.hooks.notify(n);
        }
        Ok(())
    }

    /// Feeds what one commit stored.
    pub fn feed(&self, fed: &[Fed], now: Timestamp) -> Result<(), StoreError> {
        let mut engine = self.engine();
        let mut actions = Vec::new();
        for f in fed {
            match f {
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
            }
        }
        self.apply(&actions, &engine, now)
    }

    /// Time passes: absence rules, flapping, then the SLA clocks. The engine
    /// state is saved at every tick.
    pub fn tick(&self, now: Timestamp) -> Result<(), StoreError> {
        {
            let mut engine = self.engine();
            let actions = engine.on_tick(now);
            if actions.is_empty() {
                self.store
                    .apply_engine_actions(&[], Some(engine.state()), &self.policies, now)?;
            } else {
                self.apply(&actions, &engine, now)?;
            }
        }
        for n in self.store.sla_sweep(now)? {
            self.hooks.notify(&n);
        }
        Ok(())
    }

    /// A staff action; resolving or closing tells the engine, so the same
    /// condition does not reopen it at once.
    pub fn staff(
        &self,
        id: u64,
        action: &StaffAction,
        author: &str,
        now: Timestamp,
    ) -> Result<IncidentRecord, StaffError> {
        let rec = self.store.incident_action(id, action, author, now)?;
        if matches!(action, StaffAction::Resolve(_) | StaffAction::Close) {
            let mut engine = self.engine();
            engine.on_staff_resolved(&rec.key(), now);
            self.store
                .apply_engine_actions(&[], Some(engine.state()), &self.policies, now)?;
        }
        Ok(rec)
    }

    /// Reloads the rules file; a file with errors is refused whole and the
    /// running rules stay. Returns how many rules are in force.
    pub fn reload_rules(&self, now: Timestamp) -> Result<usize, ReloadError> {
        let rules = load_rules(self.rules_file.as_deref()).map_err(ReloadError::Invalid)?;
        let count = rules.rules().len();
        let mut engine = self.engine();
        let actions = engine.set_rules(rules, now);
        self.apply(&actions, &engine, now)?;
        self.store
            .apply_engine_actions(&[], Some(engine.state()), &self.policies, now)?;
        Ok(count)
    }

    /// The SLA policies in force.
    pub fn policies(&self) -> &SlaPolicies {
        &self.policies
    }
}

/// Runs the desk: commits' [`Fed`] from `rx`, and a tick every `tick`.
pub async fn run(desk: Arc<Desk>, mut rx: mpsc::UnboundedReceiver<Vec<Fed>>, tick: Duration) {
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
