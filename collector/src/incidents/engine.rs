//! The incident engine: rules applied to what the collector commits,
//! without I/O and without a clock.
//!
//! Like `quinn-proto`, the engine is a state machine: it is fed events —
//! committed samples ([`Engine::on_samples`]), inventory changes
//! ([`Engine::on_inventory`]), an agent heard from ([`Engine::on_seen`]),
//! user reports ([`Engine::on_report`]), network device polls
//! ([`Engine::on_device_poll`]) and traps ([`Engine::on_device_trap`]), staff resolving an incident
//! ([`Engine::on_staff_resolved`]) and the passing of time
//! ([`Engine::on_tick`]) — each with its time, and returns the [`Action`]s
//! the collector must carry out: store an incident, update it, send a
//! notification. Time comes only from the events, so tests run in virtual
//! time and a replay gives the same actions.
//!
//! # Incidents
//! There is at most one incident per [`IncidentKey`] (asset, rule,
//! subject — a mount point, an interface, or `""`). For condition rules
//! (threshold, absence, forecast):
//!
//! - the condition must hold `for_seconds` (pending) before the incident opens;
//! - it resolves itself when the condition clears (thresholds clear past
//!   `clear_value`, so a value between the two changes nothing);
//! - a recurrence within the rule's reopen window reopens the same incident
//!   (occurrences + 1); later, a new incident opens;
//! - more than `flap_cycles` clears within `flap_window_seconds` keep it open
//!   and mark it flapping: recurrences only count occurrences, nothing is
//!   notified, until the condition has not changed for the flap window;
//!   then it resolves (or, when the condition holds, stays open unflagged).
//!
//! Inventory changes and user reports have no condition: each matching
//! event opens an incident or, while one is open, counts an occurrence.
//! They stay open until staff resolve them. Trap rules are events too; a
//! clearing trap or, if the rule says so, a quiet spell resolves them. A
//! `linkDown` trap is the interface-down condition seen by the device
//! itself: it opens the incident at once, without the rule's hold, and a
//! `linkUp` trap resolves it.
//!
//! # State
//! [`EngineState`] is everything the engine remembers (serde, for the
//! collector to persist). A series that never fires costs nothing; a
//! threshold keeps a few numbers per (asset, rule, subject) while pending,
//! open or recently resolved; a forecast keeps 24 buckets of least-squares
//! sums per series (about 1 KiB).

use std::collections::{BTreeMap, HashMap};

use atalaya_common::diff::Change;
use atalaya_common::model::Timestamp;
use atalaya_common::model::device::DeviceState;
use atalaya_common::model::device::trap::{TrapEvent, TrapKind};
use serde::{Deserialize, Serialize};

use super::baseline::Baseline;
use super::changes;
use super::rules::{
    AssetFacts, BaselineRise, DevicePollState, Forecast, InterfaceDown, InventoryChange, Lifecycle,
    Rule, RuleKind, RuleSet, Threshold, TrapMatch, device_state_name,
};
use super::supplier_notices::{self, SupplierBookDay};
use crate::forecast::{Fit, Outlook, Trend};
use crate::helpers::series::split_series;
use crate::records::device::DeviceChangeItem;
use crate::records::device::InterfacePeer;
use crate::records::incident::Severity;
pub use crate::records::incident::{IncidentKey, NotifyEvent};

/// What the collector must do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ActionKind {
    /// A new incident.
    Open,
    /// The open incident happened again (occurrences went up) or has news.
    Update,
    /// The condition cleared: the incident resolved itself.
    Resolve,
    /// The resolved incident recurred within the reopen window: open again.
    Reopen,
    /// The incident opens and clears too often: kept open, marked flapping.
    MarkFlapping,
    /// The condition has been steady for the flap window and still holds:
    /// the incident stays open, no longer flapping.
    EndFlapping,
    /// Tell people (webhooks, mail).
    Notify(NotifyEvent),
}

/// One thing for the collector to do about one incident.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Action {
    /// What to do.
    pub kind: ActionKind,
    /// The engine's incident number: the same across reopenings, new for a new incident.
    pub incident: u64,
    /// Asset, rule, subject.
    pub key: IncidentKey,
    /// When (the time of the event that caused it).
    pub at: Timestamp,
    /// The rule's severity.
    pub severity: Severity,
    /// One line for lists, e.g. `filesystem-full on web-01 (/var)`.
    pub title: String,
    /// The rule's description, then what was seen, with values.
    pub description: String,
    /// How many times it has occurred (1 when opened).
    pub occurrences: u32,
    /// Marked flapping.
    pub flapping: bool,
}

/// A problem reported by the person at a machine.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserReport {
    /// Unique per report (e.g. the agent's record sequence): a report
    /// received twice counts once more on the same incident.
    pub id: String,
    /// What they wrote.
    pub text: String,
    /// Who was logged in.
    pub user: Option<String>,
    /// What the collector knows of the machine at that moment (inventory
    /// summary, last hour of health), appended to the description.
    pub context: String,
}

/// One stored poll of a network device, as the engine sees it.
#[derive(Debug, Clone, Copy)]
pub struct DevicePolled<'a> {
    /// The device's name, for titles.
    pub device: &'a str,
    /// How the poll went.
    pub state: DeviceState,
    /// `(series, value)` of the poll.
    pub values: &'a [(String, f64)],
    /// Interfaces administratively down in the device's inventory: an
    /// operator shut them, so their being down is no fault.
    pub admin_down: &'a [String],
    /// The neighbour last seen on each interface, named in the incident
    /// of an interface that goes down.
    pub peers: &'a [InterfacePeer],
}

/// An incident the engine holds open.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OpenIncident {
    /// Asset, rule, subject.
    pub key: IncidentKey,
    /// Engine incident number.
    pub incident: u64,
    /// When it (first) opened.
    pub opened_at: Timestamp,
    /// Occurrences so far.
    pub occurrences: u32,
    /// Marked flapping.
    pub flapping: bool,
}

/// Everything the engine remembers between events (serde: the collector
/// persists it and gives it back to [`Engine::with_state`]).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct EngineState {
    /// The last incident number handed out.
    next_incident: u64,
    /// By asset id.
    assets: BTreeMap<String, AssetState>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
struct AssetState {
    facts: AssetFacts,
    /// When the agent was last heard from (ms).
    last_seen: Option<i64>,
    /// Rule name → subject → track.
    tracks: BTreeMap<String, BTreeMap<String, Track>>,
}

/// One (asset, rule, subject).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
struct Track {
    /// The condition has held since (ms), waiting out the hold time.
    pending_since: Option<i64>,
    /// Open, or resolved and still within the reopen window.
    incident: Option<Incident>,
    /// Times the condition cleared while an incident was open (ms), within the flap window.
    clears: Vec<i64>,
    /// The condition last seen holding (true) or cleared (false).
    firing: bool,
    /// When `firing` last changed (ms).
    last_flip: i64,
    /// The newest sample evaluated (ms); older ones arriving late are skipped.
    last_at: i64,
    /// Staff resolved the incident while the condition held: nothing opens
    /// again until the condition clears first.
    muted: bool,
    /// Forecast sums.
    trend: Option<Trend>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
struct Incident {
    id: u64,
    opened_at: i64,
    occurrences: u32,
    resolved_at: Option<i64>,
    flapping: bool,
}

/// What a condition looks like in one observation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Obs {
    /// The condition holds.
    Fire,
    /// The condition is clear.
    Clear,
    /// Neither (a threshold's value between `value` and `clear_value`, a
    /// forecast without enough history): an open incident stays open, a
    /// pending one stops waiting.
    Hold,
}

/// What happened to a track's incident.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Transition {
    Opened,
    Reopened,
    Recurred { notify: bool },
    Resolved,
    Flapping,
    Unflapped,
}

const MS_PER_SECOND: i64 = 1000;

/// The incident engine. See the module documentation.
#[derive(Debug, Clone)]
pub struct Engine {
    rules: RuleSet,
    heartbeat_ms: i64,
    /// Enabled threshold and forecast rules by metric (indices into `rules`).
    by_metric: HashMap<String, Vec<usize>>,
    state: EngineState,
    /// Levels of the series baseline rules watch, by (asset, rule, series).
    /// Not persisted: rebuilt from stored points ([`Engine::seed_baseline`]).
    baselines: HashMap<(String, String, String), Baseline>,
}

impl Engine {
    /// An engine with nothing remembered. `heartbeat_interval_seconds` is the
    /// agents' heartbeat period (absence rules count it).
    pub fn new(rules: RuleSet, heartbeat_interval_seconds: u64) -> Self {
        Self::with_state(rules, heartbeat_interval_seconds, EngineState::default())
    }

    /// An engine that goes on from a persisted state. If the rules may have
    /// changed since the state was saved, call [`Engine::set_rules`] with
    /// them once: incidents of rules that are gone or no longer apply
    /// resolve there, with actions to store.
    pub fn with_state(rules: RuleSet, heartbeat_interval_seconds: u64, state: EngineState) -> Self {
        let mut engine = Self {
            rules,
            heartbeat_ms: secs(heartbeat_interval_seconds).max(MS_PER_SECOND),
            by_metric: HashMap::new(),
            state,
            baselines: HashMap::new(),
        };
        engine.index();
        engine
    }

    /// What to persist.
    pub fn state(&self) -> &EngineState {
        &self.state
    }

    /// The rules in force.
    pub fn rules(&self) -> &RuleSet {
        &self.rules
    }

    /// The incidents held open, in key order.
    pub fn open_incidents(&self) -> Vec<OpenIncident> {
        let mut out = Vec::new();
        for (asset, a) in &self.state.assets {
            for (rule, subjects) in &a.tracks {
                for (subject, track) in subjects {
                    if let Some(inc) = track.incident.filter(|i| i.resolved_at.is_none()) {
                        out.push(OpenIncident {
                            key: IncidentKey {
                                asset: asset.clone(),
                                rule: rule.clone(),
                                subject: subject.clone(),
                            },
                            incident: inc.id,
                            opened_at: Timestamp(inc.opened_at),
                            occurrences: inc.occurrences,
                            flapping: inc.flapping,
                        });
                    }
                }
            }
        }
        out
    }

    /// How many (asset, rule, subject) the engine keeps state for.
    pub fn tracked(&self) -> usize {
        self.state
            .assets
            .values()
            .flat_map(|a| a.tracks.values())
            .map(BTreeMap::len)
            .sum()
    }

    fn index(&mut self) {
        self.by_metric.clear();
        for (i, rule) in self.rules.rules().iter().enumerate() {
            if !rule.enabled {
                continue;
            }
            let metric = match &rule.kind {
                RuleKind::Threshold(t) => &t.selector.metric,
                RuleKind::Forecast(f) => &f.selector.metric,
                RuleKind::Baseline(b) => &b.selector.metric,
                _ => continue,
            };
            self.by_metric.entry(metric.clone()).or_default().push(i);
        }
    }

    /// Replaces the rules (a reloaded rules file). Incidents of rules that
    /// are gone, disabled or no longer apply to their asset resolve; a rule
    /// whose kind changed starts its evaluation afresh, keeping its incidents.
    pub fn set_rules(&mut self, rules: RuleSet, now: Timestamp) -> Vec<Action> {
        let old = std::mem::replace(&mut self.rules, rules);
        self.index();
        // Windows may have changed: levels are seeded again from the store.
        self.baselines.clear();
        let mut out = Vec::new();
        let names: Vec<String> = self.state.assets.keys().cloned().collect();
        for asset in names {
            self.prune_out_of_scope(&asset, now.0, &mut out, |rule_name, new| {
                let Some(new) = new else {
                    return Reset::Drop("the rule was removed");
                };
                if !new.enabled {
                    return Reset::Drop("the rule was disabled");
                }
                match old.get(rule_name) {
                    Some(o) if o.kind.name() != new.kind.name() => Reset::Evaluation,
                    Some(Rule {
                        kind: RuleKind::Forecast(of),
                        ..
                    }) => match &new.kind {
                        RuleKind::Forecast(nf) if nf.window_hours != of.window_hours => {
                            Reset::Evaluation
                        }
                        _ => Reset::Keep,
                    },
                    _ => Reset::Keep,
                }
            });
        }
        out
    }

    /// Sets what is known of an asset (host name, tags, OS, kind). Its
    /// incidents of rules whose scope no longer covers it resolve.
    pub fn set_asset(&mut self, asset: &str, facts: AssetFacts, now: Timestamp) -> Vec<Action> {
        if let Some(a) = asset_mut(&mut self.state.assets, asset) {
            a.facts = facts;
        }
        let mut out = Vec::new();
        self.prune_out_of_scope(asset, now.0, &mut out, |_, rule| match rule {
            Some(r) if r.enabled => Reset::Keep,
            _ => Reset::Drop("the rule was removed"),
        });
        out
    }

    /// Forgets an asset entirely (it was deleted); nothing is emitted.
    pub fn forget_asset(&mut self, asset: &str) {
        self.state.assets.remove(asset);
        self.baselines.retain(|(a, _, _), _| a != asset);
    }

    /// Drops the tracks of `asset` whose rule `decide` drops or whose scope
    /// or subject filter no longer covers it, resolving their open incidents.
    fn prune_out_of_scope(
        &mut self,
        asset: &str,
        now: i64,
        out: &mut Vec<Action>,
        decide: impl Fn(&str, Option<&Rule>) -> Reset,
    ) {
        let rules = &self.rules;
        let Some(a) = self.state.assets.get_mut(asset) else {
            return;
        };
        let AssetState { facts, tracks, .. } = a;
        tracks.retain(|rule_name, subjects| {
            let rule = rules.get(rule_name);
            let mut verdict = decide(rule_name, rule);
            if let (Reset::Keep | Reset::Evaluation, Some(r)) = (verdict, rule)
                && !r.scope.matches(facts)
            {
                verdict = Reset::Drop("the rule no longer applies to this asset");
            }
            subjects.retain(|subject, track| {
                let mut verdict = verdict;
                if let (Reset::Keep | Reset::Evaluation, Some(r)) = (verdict, rule)
                    && !subject_matches(r, subject)
                {
                    verdict = Reset::Drop("the rule no longer watches this subject");
                }
                match verdict {
                    Reset::Keep => true,
                    Reset::Evaluation => {
                        track.pending_since = None;
                        track.trend = None;
                        true
                    }
                    Reset::Drop(why) => {
                        if let Some(inc) = track.incident.filter(|i| i.resolved_at.is_none()) {
                            let emit = Emit {
                                asset,
                                rule_name,
                                severity: rule.map_or(Severity::Warning, |r| r.severity),
                                rule_description: rule.map_or("", |r| r.description.as_str()),
                                host: host(asset, facts),
                                subject,
                            };
                            let mut inc = inc;
                            inc.resolved_at = Some(now);
                            emit.push(out, Transition::Resolved, &inc, now, why);
                        }
                        false
                    }
                }
            });
            !subjects.is_empty()
        });
    }

    /// One point of a series, e.g. `("filesystem.used_percent{mount=/}", 93.0)`.
    pub fn on_sample(
        &mut self,
        asset: &str,
        series: &str,
        at: Timestamp,
        value: f64,
    ) -> Vec<Action> {
        let mut out = Vec::new();
        self.sample_points(asset, at, std::iter::once((series, value)), &[], &mut out);
        out
    }

    /// The points of one committed health sample (see [`crate::helpers::series::points`]).
    pub fn on_samples(
        &mut self,
        asset: &str,
        at: Timestamp,
        points: &[(String, f64)],
    ) -> Vec<Action> {
        let mut out = Vec::new();
        self.sample_points(
            asset,
            at,
            points.iter().map(|(s, v)| (s.as_str(), *v)),
            &[],
            &mut out,
        );
        out
    }

    /// The series among `points` of `asset` that baseline rules watch and
    /// whose level the engine has not seen yet, with the hours of history
    /// each needs: read them from the store and give them to
    /// [`Engine::seed_baseline`] before feeding the points.
    pub fn unseeded(&self, asset: &str, points: &[(String, f64)]) -> Vec<(String, u64)> {
        let mut out: Vec<(String, u64)> = Vec::new();
        for (series, _) in points {
            let (metric, subject) = split_series(series);
            for &i in self.by_metric.get(metric).into_iter().flatten() {
                let Some(rule) = self.rules.rules().get(i) else {
                    continue;
                };
                let RuleKind::Baseline(b) = &rule.kind else {
                    continue;
                };
                let key = (asset.to_owned(), rule.name.clone(), series.clone());
                if !b.selector.matches_subject(subject) || self.baselines.contains_key(&key) {
                    continue;
                }
                match out.iter_mut().find(|(s, _)| s == series) {
                    Some((_, hours)) => *hours = (*hours).max(b.window_hours),
                    None => out.push((series.clone(), b.window_hours)),
                }
            }
        }
        out
    }

    /// Seeds the level of `series` of `asset` from its stored points
    /// (`(time, value)`, in time order); points at or after `before` (the
    /// ones about to be fed) are left out.
    pub fn seed_baseline(
        &mut self,
        asset: &str,
        series: &str,
        before: Timestamp,
        points: &[(Timestamp, f64)],
    ) {
        let (metric, _) = split_series(series);
        let earlier: Vec<(i64, f64)> = points
            .iter()
            .filter(|(t, _)| *t < before)
            .map(|(t, v)| (t.0, *v))
            .collect();
        for &i in self.by_metric.get(metric).into_iter().flatten() {
            let Some(rule) = self.rules.rules().get(i) else {
                continue;
            };
            if let RuleKind::Baseline(b) = &rule.kind {
                let key = (asset.to_owned(), rule.name.clone(), series.to_owned());
                self.baselines
                    .insert(key, Baseline::from_points(&earlier, b.window_hours));
            }
        }
    }

    fn sample_points<'p>(
        &mut self,
        asset: &str,
        at: Timestamp,
        points: impl Iterator<Item = (&'p str, f64)>,
        peers: &[InterfacePeer],
        out: &mut Vec<Action>,
    ) {
        let t = at.0;
        let rules = self.rules.rules();
        let EngineState {
            next_incident,
            assets,
        } = &mut self.state;
        let Some(AssetState { facts, tracks, .. }) = asset_mut(assets, asset) else {
            return;
        };
        let baselines = &mut self.baselines;
        for (series, value) in points {
            if !value.is_finite() {
                continue;
            }
            let (metric, subject) = split_series(series);
            let Some(indices) = self.by_metric.get(metric) else {
                continue;
            };
            for &i in indices {
                let Some(rule) = rules.get(i) else { continue };
                if !rule.scope.matches(facts) {
                    continue;
                }
                let emit = Emit::new(rule, asset, host(asset, facts), subject);
                let point = Point { series, value, t };
                match &rule.kind {
                    RuleKind::Threshold(th) => {
                        let peer = peers.iter().find(|p| p.interface == subject);
                        let point = (point, peer);
                        threshold_point(tracks, rule, th, point, next_incident, &emit, out);
                    }
                    RuleKind::Forecast(fc) => {
                        forecast_point(tracks, rule, fc, point, next_incident, &emit, out);
                    }
                    RuleKind::Baseline(bl) => {
                        let key = (asset.to_owned(), rule.name.clone(), series.to_owned());
                        let level = baselines.entry(key).or_default();
                        baseline_point(tracks, rule, bl, level, point, next_incident, &emit, out);
                    }
                    _ => {}
                }
            }
        }
    }

    /// An inventory delta committed for `asset`.
    pub fn on_inventory(&mut self, asset: &str, at: Timestamp, changes: &[Change]) -> Vec<Action> {
        if changes.is_empty() {
            return Vec::new();
        }
        self.inventory_changed(asset, at, |rule| changes::matching(rule, changes))
    }

    /// Changes committed in the inventory of the network device whose
    /// asset is `asset`: the inventory-change rules apply to them as to a
    /// host's (a module removed, an entity's serial number changed).
    pub fn on_device_changes(
        &mut self,
        asset: &str,
        at: Timestamp,
        items: &[DeviceChangeItem],
    ) -> Vec<Action> {
        if items.is_empty() {
            return Vec::new();
        }
        self.inventory_changed(asset, at, |rule| changes::device_matching(rule, items))
    }

    /// Runs the inventory-change rules over the lines `lines_of` gives for each.
    fn inventory_changed(
        &mut self,
        asset: &str,
        at: Timestamp,
        lines_of: impl Fn(&InventoryChange) -> Vec<String>,
    ) -> Vec<Action> {
        let mut out = Vec::new();
        let t = at.0;
        let rules = self.rules.rules();
        let EngineState {
            next_incident,
            assets,
        } = &mut self.state;
        let Some(AssetState { facts, tracks, .. }) = asset_mut(assets, asset) else {
            return out;
        };
        for rule in rules {
            let RuleKind::InventoryChange(ic) = &rule.kind else {
                continue;
            };
            if !rule.enabled || !rule.scope.matches(facts) {
                continue;
            }
            let lines = lines_of(ic);
            if lines.is_empty() {
                continue;
            }
            let Some(track) = track_mut(tracks, &rule.name, "") else {
                continue;
            };
            let tr = event(track, &rule.lifecycle, t, next_incident);
            if let Some(inc) = &track.incident {
                let emit = Emit::new(rule, asset, host(asset, facts), "");
                let detail = format!("Inventory changes at {}:\n{}", at, lines.join("\n"));
                emit.push(&mut out, tr, inc, t, &detail);
            }
        }
        out
    }

    /// A stored poll of the network device whose asset is `asset`, taken
    /// at `at`: its outcome and interfaces go to the device rules, its
    /// values to the threshold and forecast rules like a host's samples.
    pub fn on_device_poll(
        &mut self,
        asset: &str,
        at: Timestamp,
        poll: &DevicePolled<'_>,
    ) -> Vec<Action> {
        let mut out = Vec::new();
        let t = at.0;
        {
            let rules = self.rules.rules();
            let EngineState {
                next_incident,
                assets,
            } = &mut self.state;
            let Some(AssetState { facts, tracks, .. }) = asset_mut(assets, asset) else {
                return out;
            };
            if facts.hostname.is_empty() {
                poll.device.clone_into(&mut facts.hostname);
            }
            for rule in rules {
                if !rule.enabled || !rule.scope.matches(facts) {
                    continue;
                }
                let emit = Emit::new(rule, asset, host(asset, facts), "");
                match &rule.kind {
                    RuleKind::DeviceState(ds) => {
                        device_state_poll(
                            tracks,
                            rule,
                            ds,
                            poll.state,
                            t,
                            next_incident,
                            &emit,
                            &mut out,
                        );
                    }
                    RuleKind::InterfaceDown(down) => {
                        for (series, value) in poll.values {
                            let (metric, subject) = split_series(series);
                            if metric != down.selector.metric || !value.is_finite() {
                                continue;
                            }
                            let emit = Emit { subject, ..emit };
                            let admin_down = poll.admin_down.iter().any(|n| n == subject);
                            let peer = poll.peers.iter().find(|p| p.interface == subject);
                            let point = Point {
                                series,
                                value: *value,
                                t,
                            };
                            interface_point(
                                tracks,
                                rule,
                                down,
                                point,
                                (admin_down, peer),
                                next_incident,
                                &emit,
                                &mut out,
                            );
                        }
                    }
                    _ => {}
                }
            }
        }
        self.sample_points(
            asset,
            at,
            poll.values.iter().map(|(s, v)| (s.as_str(), *v)),
            poll.peers,
            &mut out,
        );
        out
    }

    /// A stored trap from the network device whose asset is `asset`,
    /// received at `at`: a link trap goes to the interface-down rules, any
    /// trap to the trap rules its OID matches.
    pub fn on_device_trap(&mut self, asset: &str, at: Timestamp, trap: &TrapEvent) -> Vec<Action> {
        let mut out = Vec::new();
        let t = at.0;
        let rules = self.rules.rules();
        let EngineState {
            next_incident,
            assets,
        } = &mut self.state;
        let Some(AssetState { facts, tracks, .. }) = asset_mut(assets, asset) else {
            return out;
        };
        if facts.hostname.is_empty() {
            trap.device.clone_into(&mut facts.hostname);
        }
        for rule in rules {
            if !rule.enabled || !rule.scope.matches(facts) {
                continue;
            }
            let emit = Emit::new(rule, asset, host(asset, facts), "");
            match &rule.kind {
                RuleKind::InterfaceDown(down) => {
                    let Some(subject) = trap.interface_subject() else {
                        continue;
                    };
                    if !matches!(trap.kind, TrapKind::LinkDown | TrapKind::LinkUp)
                        || !down.selector.matches_subject(&subject)
                    {
                        continue;
                    }
                    let emit = Emit {
                        subject: &subject,
                        ..emit
                    };
                    interface_trap(tracks, rule, trap, t, next_incident, &emit, &mut out);
                }
                RuleKind::Trap(m) => {
                    trap_rule(tracks, rule, m, trap, t, next_incident, &emit, &mut out);
                }
                _ => {}
            }
        }
        out
    }

    /// A user report from `asset`. The most severe enabled user-report rule
    /// whose scope covers the asset opens the incident (one per report).
    pub fn on_report(&mut self, asset: &str, at: Timestamp, report: &UserReport) -> Vec<Action> {
        let mut out = Vec::new();
        let t = at.0;
        let rules = self.rules.rules();
        let EngineState {
            next_incident,
            assets,
        } = &mut self.state;
        let Some(AssetState { facts, tracks, .. }) = asset_mut(assets, asset) else {
            return out;
        };
        let rule = rules
            .iter()
            .filter(|r| {
                r.enabled && matches!(r.kind, RuleKind::UserReport) && r.scope.matches(facts)
            })
            .max_by_key(|r| r.severity);
        let Some(rule) = rule else {
            return out;
        };
        let Some(track) = track_mut(tracks, &rule.name, &report.id) else {
            return out;
        };
        let tr = event(track, &rule.lifecycle, t, next_incident);
        if let Some(inc) = &track.incident {
            let host = host(asset, facts);
            let emit = Emit::new(rule, asset, host, &report.id);
            let who = report.user.as_deref().unwrap_or("someone");
            let mut detail = format!("{who} at {host} wrote at {at}:\n{}", report.text);
            if !report.context.is_empty() {
                detail.push_str("\n\n");
                detail.push_str(&report.context);
            }
            let mut action = emit.action(ActionKind::Open, inc, t, &detail);
            action.title = format!("{host}: {}", first_line(&report.text, 80));
            emit.push_actions(&mut out, tr, action);
        }
        out
    }

    /// The agent of `asset` was heard from (any record) at `at`; feed the
    /// receive time. Its absence incidents resolve.
    pub fn on_seen(&mut self, asset: &str, at: Timestamp) -> Vec<Action> {
        let mut out = Vec::new();
        let t = at.0;
        let EngineState {
            next_incident,
            assets,
        } = &mut self.state;
        let Some(a) = asset_mut(assets, asset) else {
            return out;
        };
        let previous = a.last_seen;
        a.last_seen = Some(previous.map_or(t, |p| p.max(t)));
        let AssetState { facts, tracks, .. } = a;
        for rule in self.rules.rules() {
            if !matches!(rule.kind, RuleKind::Absence(_)) {
                continue;
            }
            let Some(track) = tracks
                .get_mut(rule.name.as_str())
                .and_then(|s| s.get_mut(""))
            else {
                continue;
            };
            if let Some(tr) = observe(track, &rule.lifecycle, t, Obs::Clear, 0, next_incident)
                && let Some(inc) = &track.incident
            {
                let gap = previous
                    .map(|p| format!(" after {}", span(t.saturating_sub(p))))
                    .unwrap_or_default();
                let detail = format!("The agent was heard from again at {at}{gap}.");
                let emit = Emit::new(rule, asset, host(asset, facts), "");
                emit.push(&mut out, tr, inc, t, &detail);
            }
        }
        out
    }

    /// The supplier book as it stands on one day (checked every hour and
    /// whenever it changes): contracts due for renewal, warranties ending,
    /// licences over their seats. What holds opens or keeps an incident;
    /// an incident whose contract, warranty or licence no longer calls for
    /// action (renewed, extended, within its seats, removed, or ended too
    /// long ago) resolves.
    pub fn on_supplier_book(&mut self, now: Timestamp, book: &SupplierBookDay) -> Vec<Action> {
        let mut out = Vec::new();
        let t = now.0;
        let EngineState {
            next_incident,
            assets,
        } = &mut self.state;
        for rule in self.rules.rules().iter().filter(|r| r.enabled) {
            let Some(due) = supplier_notices::due(&rule.kind, book) else {
                continue;
            };
            for ((asset, subject), detail) in &due {
                let Some(AssetState { facts, tracks, .. }) = asset_mut(assets, asset) else {
                    continue;
                };
                if !rule.scope.matches(facts) {
                    continue;
                }
                let Some(track) = track_mut(tracks, &rule.name, subject) else {
                    continue;
                };
                track.last_at = t;
                if let Some(tr) = observe(track, &rule.lifecycle, t, Obs::Fire, 0, next_incident)
                    && let Some(inc) = &track.incident
                {
                    Emit::new(rule, asset, host(asset, facts), subject)
                        .push(&mut out, tr, inc, t, detail);
                }
            }
            for (asset, a) in assets.iter_mut() {
                let AssetState { facts, tracks, .. } = a;
                let Some(subjects) = tracks.get_mut(rule.name.as_str()) else {
                    continue;
                };
                for (subject, track) in subjects.iter_mut() {
                    if due.contains_key(&(asset.clone(), subject.clone())) {
                        continue;
                    }
                    track.last_at = t;
                    if let Some(tr) =
                        observe(track, &rule.lifecycle, t, Obs::Clear, 0, next_incident)
                        && let Some(inc) = &track.incident
                    {
                        let detail = supplier_notices::cleared(&rule.kind, asset, subject, book);
                        Emit::new(rule, asset, host(asset, facts), subject)
                            .push(&mut out, tr, inc, t, &detail);
                    }
                }
            }
        }
        assets.retain(|asset, a| !asset.is_empty() || !a.tracks.is_empty());
        out
    }

    /// The incident `key` was resolved or closed by staff at `at`. A
    /// recurrence within the reopen window reopens it; a condition that
    /// still holds opens nothing until it has cleared once.
    pub fn on_staff_resolved(&mut self, key: &IncidentKey, at: Timestamp) {
        let Some(track) = self
            .state
            .assets
            .get_mut(&key.asset)
            .and_then(|a| a.tracks.get_mut(&key.rule))
            .and_then(|s| s.get_mut(&key.subject))
        else {
            return;
        };
        if let Some(inc) = &mut track.incident
            && inc.resolved_at.is_none()
        {
            inc.resolved_at = Some(at.0);
            inc.flapping = false;
            track.pending_since = None;
            track.muted = track.firing;
        }
    }

    /// Staff reopened incident `id` (of `key`, with `occurrences`) at `at`:
    /// the engine holds it open again, so a condition that clears resolves
    /// it and a recurrence counts on it instead of opening another.
    pub fn on_staff_reopened(
        &mut self,
        key: &IncidentKey,
        id: u64,
        occurrences: u32,
        at: Timestamp,
    ) {
        let Some(a) = asset_mut(&mut self.state.assets, &key.asset) else {
            return;
        };
        let Some(track) = track_mut(&mut a.tracks, &key.rule, &key.subject) else {
            return;
        };
        match &mut track.incident {
            Some(inc) if inc.id == id => inc.resolved_at = None,
            // A newer incident holds the key; the reopened one stays with staff.
            Some(_) => return,
            None => {
                track.incident = Some(Incident {
                    id,
                    opened_at: at.0,
                    occurrences,
                    resolved_at: None,
                    flapping: false,
                });
            }
        }
        track.muted = false;
    }

    /// Time passes: absence rules fire for silent agents, flapping ends
    /// after a quiet window, and memory of long-resolved incidents is let go.
    /// Call it every few seconds with the current time.
    pub fn on_tick(&mut self, now: Timestamp) -> Vec<Action> {
        let mut out = Vec::new();
        let t = now.0;
        let rules = self.rules.rules();
        let heartbeat_ms = self.heartbeat_ms;
        let EngineState {
            next_incident,
            assets,
        } = &mut self.state;
        for (asset, a) in assets.iter_mut() {
            let AssetState {
                facts,
                last_seen,
                tracks,
            } = a;
            if let Some(last) = *last_seen {
                for rule in rules {
                    let RuleKind::Absence(ab) = &rule.kind else {
                        continue;
                    };
                    if !rule.enabled || !rule.scope.matches(facts) {
                        continue;
                    }
                    let limit = heartbeat_ms
                        .saturating_mul(i64::try_from(ab.missed_heartbeats).unwrap_or(i64::MAX));
                    let silent = t.saturating_sub(last) > limit;
                    if !silent && !has_track(tracks, &rule.name, "") {
                        continue;
                    }
                    let Some(track) = track_mut(tracks, &rule.name, "") else {
                        continue;
                    };
                    let obs = if silent { Obs::Fire } else { Obs::Clear };
                    if let Some(tr) = observe(track, &rule.lifecycle, t, obs, 0, next_incident)
                        && let Some(inc) = &track.incident
                    {
                        let detail = format!(
                            "Nothing from the agent since {} ({}; heartbeat every {}, {} missed).",
                            Timestamp(last),
                            span(t.saturating_sub(last)),
                            span(heartbeat_ms),
                            t.saturating_sub(last) / heartbeat_ms
                        );
                        Emit::new(rule, asset, host(asset, facts), "")
                            .push(&mut out, tr, inc, t, &detail);
                    }
                }
            }
            for (rule_name, subjects) in tracks.iter_mut() {
                let rule = rules.iter().find(|r| &r.name == rule_name);
                // An interface's track is what remembers that it was up.
                let keep_idle = rule.is_some_and(|r| matches!(r.kind, RuleKind::InterfaceDown(_)));
                let lifecycle = rule.map_or_else(Lifecycle::default, |r| r.lifecycle);
                let resolve_after = rule.and_then(|r| match &r.kind {
                    RuleKind::Trap(m) if m.resolve_after_seconds > 0 => {
                        Some(secs(m.resolve_after_seconds))
                    }
                    _ => None,
                });
                for (subject, track) in subjects.iter_mut() {
                    if let Some(after) = resolve_after
                        && let Some(inc) = &mut track.incident
                        && inc.resolved_at.is_none()
                        && t.saturating_sub(track.last_at) >= after
                    {
                        inc.resolved_at = Some(t);
                        inc.flapping = false;
                        track.firing = false;
                        let inc = *inc;
                        let detail = format!(
                            "No matching trap since {} ({}): resolved.",
                            Timestamp(track.last_at),
                            span(after)
                        );
                        Emit {
                            asset,
                            rule_name,
                            severity: rule.map_or(Severity::Warning, |r| r.severity),
                            rule_description: rule.map_or("", |r| r.description.as_str()),
                            host: host(asset, facts),
                            subject,
                        }
                        .push(
                            &mut out,
                            Transition::Resolved,
                            &inc,
                            t,
                            &detail,
                        );
                    }
                    if let Some(tr) = quiet(track, &lifecycle, t)
                        && let Some(inc) = &track.incident
                    {
                        let detail = format!(
                            "No change for {}: no longer flapping{}.",
                            span(secs(lifecycle.flap_window_seconds)),
                            if tr == Transition::Resolved {
                                "; the condition is clear"
                            } else {
                                "; the condition still holds"
                            }
                        );
                        Emit {
                            asset,
                            rule_name,
                            severity: rule.map_or(Severity::Warning, |r| r.severity),
                            rule_description: rule.map_or("", |r| r.description.as_str()),
                            host: host(asset, facts),
                            subject,
                        }
                        .push(&mut out, tr, inc, t, &detail);
                    }
                    forget_old(track, &lifecycle, t);
                }
                subjects.retain(|_, track| keep_idle || !track.is_idle());
            }
            tracks.retain(|_, subjects| !subjects.is_empty());
        }
        out
    }
}

#[derive(Debug, Clone, Copy)]
enum Reset {
    /// Keep the track as it is.
    Keep,
    /// Keep incidents, start evaluating afresh.
    Evaluation,
    /// Resolve its incident (saying why) and drop it.
    Drop(&'static str),
}

fn subject_matches(rule: &Rule, subject: &str) -> bool {
    match &rule.kind {
        RuleKind::Threshold(t) => t.selector.matches_subject(subject),
        RuleKind::Forecast(f) => f.selector.matches_subject(subject),
        RuleKind::InterfaceDown(d) => d.selector.matches_subject(subject),
        _ => true,
    }
}

fn secs(s: u64) -> i64 {
    i64::try_from(s)
        .unwrap_or(i64::MAX / MS_PER_SECOND)
        .saturating_mul(MS_PER_SECOND)
}

fn host<'a>(asset: &'a str, facts: &'a AssetFacts) -> &'a str {
    if facts.hostname.is_empty() {
        asset
    } else {
        &facts.hostname
    }
}

/// The state of `asset`, made when missing (`None` cannot happen; it spares
/// a lookup with an owned key on every call).
fn asset_mut<'a>(
    assets: &'a mut BTreeMap<String, AssetState>,
    asset: &str,
) -> Option<&'a mut AssetState> {
    if !assets.contains_key(asset) {
        assets.insert(asset.to_owned(), AssetState::default());
    }
    assets.get_mut(asset)
}

/// One point of a series, as a rule sees it.
#[derive(Debug, Clone, Copy)]
struct Point<'p> {
    series: &'p str,
    value: f64,
    /// When it was taken (ms).
    t: i64,
}

/// Feeds a point to the threshold rule `rule` (`th`): it fires, clears or
/// holds the track of its subject, and what that does to the incident is
/// pushed to `out`.
fn threshold_point(
    tracks: &mut BTreeMap<String, BTreeMap<String, Track>>,
    rule: &Rule,
    th: &Threshold,
    (p, peer): (Point<'_>, Option<&InterfacePeer>),
    next_incident: &mut u64,
    emit: &Emit<'_>,
    out: &mut Vec<Action>,
) {
    let subject = emit.subject;
    if !th.selector.matches_subject(subject) {
        return;
    }
    let fires = th.fires(p.value);
    // The common case: a quiet series costs no state.
    if !fires && !has_track(tracks, &rule.name, subject) {
        return;
    }
    let Some(track) = track_mut(tracks, &rule.name, subject) else {
        return;
    };
    if p.t < track.last_at {
        return;
    }
    track.last_at = p.t;
    let obs = if fires {
        Obs::Fire
    } else if th.clears(p.value) {
        Obs::Clear
    } else {
        Obs::Hold
    };
    let hold = secs(th.for_seconds);
    if let Some(tr) = observe(track, &rule.lifecycle, p.t, obs, hold, next_incident)
        && let Some(inc) = &track.incident
    {
        let mut detail = threshold_detail(th, p.series, p.value, tr, track, inc, &rule.lifecycle);
        // A device interface's incident names what is plugged into it.
        if let Some(peer) = peer {
            detail.push_str(&other_end(peer));
        }
        emit.push(out, tr, inc, p.t, &detail);
    }
}

/// Feeds a point to the baseline rule `rule` (`bl`): compared with the
/// level of the hours before it, then added to that level.
#[allow(clippy::too_many_arguments)]
fn baseline_point(
    tracks: &mut BTreeMap<String, BTreeMap<String, Track>>,
    rule: &Rule,
    bl: &BaselineRise,
    baseline: &mut Baseline,
    p: Point<'_>,
    next_incident: &mut u64,
    emit: &Emit<'_>,
    out: &mut Vec<Action>,
) {
    let subject = emit.subject;
    if !bl.selector.matches_subject(subject) {
        return;
    }
    let level = baseline.level(p.t, bl.window_hours, bl.min_hours);
    baseline.add(p.t, p.value, bl.window_hours);
    let obs = match level {
        None => Obs::Hold,
        Some(l) if bl.fires(p.value, l) => Obs::Fire,
        Some(l) if bl.clears(p.value, l) => Obs::Clear,
        Some(_) => Obs::Hold,
    };
    if obs != Obs::Fire && !has_track(tracks, &rule.name, subject) {
        return;
    }
    let Some(track) = track_mut(tracks, &rule.name, subject) else {
        return;
    };
    if p.t < track.last_at {
        return;
    }
    track.last_at = p.t;
    if let Some(tr) = observe(
        track,
        &rule.lifecycle,
        p.t,
        obs,
        secs(bl.for_seconds),
        next_incident,
    ) && let Some(inc) = &track.incident
    {
        let now = format!("{} is {}", p.series, num(p.value));
        let usual = level.map_or_else(|| "not known yet".to_owned(), num);
        let detail = match tr {
            Transition::Resolved => format!("{now}, back near its usual level of {usual}."),
            _ => format!(
                "{now}; its usual level (median of the hourly medians over {} h) is {usual}. Fires above {}× and +{} for {}; clears at or below {}×.",
                bl.window_hours,
                num(bl.factor),
                num(bl.margin),
                span(secs(bl.for_seconds)),
                num(bl.clear_factor)
            ),
        };
        emit.push(out, tr, inc, p.t, &detail);
    }
}

/// Feeds a point to the forecast rule `rule` (`fc`): the trend of its
/// subject fires when it reaches the limit within the rule's horizon.
fn forecast_point(
    tracks: &mut BTreeMap<String, BTreeMap<String, Track>>,
    rule: &Rule,
    fc: &Forecast,
    p: Point<'_>,
    next_incident: &mut u64,
    emit: &Emit<'_>,
    out: &mut Vec<Action>,
) {
    if !fc.selector.matches_subject(emit.subject) {
        return;
    }
    let Some(track) = track_mut(tracks, &rule.name, emit.subject) else {
        return;
    };
    if p.t < track.last_at {
        return;
    }
    track.last_at = p.t;
    let window = fc.window_ms();
    let trend = track.trend.get_or_insert_with(|| Trend::new(window));
    trend.add(p.t, p.value, window);
    let fit = trend.fit(p.t, window);
    let horizon = secs(fc.within_days.saturating_mul(86_400));
    let obs = match fit.map(|f| f.outlook(fc.limit, fc.min_r2)) {
        None => Obs::Hold,
        Some(Outlook::Full) => Obs::Fire,
        Some(Outlook::FullIn(ms)) if ms <= horizon => Obs::Fire,
        Some(_) => Obs::Clear,
    };
    if let Some(tr) = observe(track, &rule.lifecycle, p.t, obs, 0, next_incident)
        && let Some(inc) = &track.incident
    {
        let detail = forecast_detail(fc, p.series, p.value, fit, p.t, tr, track);
        emit.push(out, tr, inc, p.t, &detail);
    }
}

/// Feeds a device poll's outcome to the device-state rule `rule` (`ds`):
/// one of its states holds the condition, `ok` clears it, any other
/// outcome (the device answered, with another problem) changes nothing.
#[allow(clippy::too_many_arguments)]
fn device_state_poll(
    tracks: &mut BTreeMap<String, BTreeMap<String, Track>>,
    rule: &Rule,
    ds: &DevicePollState,
    state: DeviceState,
    t: i64,
    next_incident: &mut u64,
    emit: &Emit<'_>,
    out: &mut Vec<Action>,
) {
    let fires = ds.states.contains(&state);
    if !fires && !has_track(tracks, &rule.name, "") {
        return;
    }
    let Some(track) = track_mut(tracks, &rule.name, "") else {
        return;
    };
    if t < track.last_at {
        return;
    }
    track.last_at = t;
    let obs = if fires {
        Obs::Fire
    } else if state == DeviceState::Ok {
        Obs::Clear
    } else {
        Obs::Hold
    };
    let hold = secs(ds.for_seconds);
    if let Some(tr) = observe(track, &rule.lifecycle, t, obs, hold, next_incident)
        && let Some(inc) = &track.incident
    {
        let name = device_state_name(state);
        let device = emit.host;
        let when = Timestamp(t);
        let detail = match tr {
            Transition::Resolved => format!("{device} answered its poll at {when} (ok)."),
            Transition::Flapping => format!(
                "The polls of {device} went from `{name}` to ok {} times within {}; kept open and marked flapping.",
                track.clears.len(),
                span(secs(rule.lifecycle.flap_window_seconds))
            ),
            _ => {
                let held = if ds.for_seconds > 0 {
                    format!(", every poll for {}", span(hold))
                } else {
                    String::new()
                };
                format!(
                    "The poll of {device} at {when} ended in `{name}`{held}: {}. Resolves at the next ok poll.",
                    state.meaning()
                )
            }
        };
        emit.push(out, tr, inc, t, &detail);
    }
}

/// Feeds one `interface.oper_up` point to the interface-down rule `rule`,
/// with whether the interface is administratively down and the neighbour
/// last seen on it. An interface is watched once it has been seen up
/// (ports nobody uses are down from the start); down while administratively
/// down is no fault.
#[allow(clippy::too_many_arguments)]
fn interface_point(
    tracks: &mut BTreeMap<String, BTreeMap<String, Track>>,
    rule: &Rule,
    down: &InterfaceDown,
    p: Point<'_>,
    (admin_down, peer): (bool, Option<&InterfacePeer>),
    next_incident: &mut u64,
    emit: &Emit<'_>,
    out: &mut Vec<Action>,
) {
    let subject = emit.subject;
    if !down.selector.matches_subject(subject) {
        return;
    }
    let up = p.value >= 0.5;
    let obs = if up || admin_down {
        Obs::Clear
    } else {
        Obs::Fire
    };
    if !up && !has_track(tracks, &rule.name, subject) {
        return;
    }
    let Some(track) = track_mut(tracks, &rule.name, subject) else {
        return;
    };
    if p.t < track.last_at {
        return;
    }
    track.last_at = p.t;
    let hold = secs(down.for_seconds);
    if let Some(tr) = observe(track, &rule.lifecycle, p.t, obs, hold, next_incident)
        && let Some(inc) = &track.incident
    {
        let device = emit.host;
        let when = Timestamp(p.t);
        let detail = match tr {
            Transition::Resolved if admin_down => format!(
                "Interface {subject} of {device} was shut by an operator (administratively down) at {when}."
            ),
            Transition::Resolved => {
                format!("Interface {subject} of {device} is up again at {when}.")
            }
            Transition::Flapping => format!(
                "Interface {subject} of {device} went down and up {} times within {}; kept open and marked flapping.",
                track.clears.len(),
                span(secs(rule.lifecycle.flap_window_seconds))
            ),
            _ => format!(
                "Interface {subject} of {device} was up and is down at {when} ({} = 0){}.{} Resolves when it is up again.",
                p.series,
                if down.for_seconds > 0 {
                    format!(", every poll for {}", span(hold))
                } else {
                    String::new()
                },
                peer.map(other_end).unwrap_or_default()
            ),
        };
        emit.push(out, tr, inc, p.t, &detail);
    }
}

/// The sentence naming the neighbour at the other end of a link.
fn other_end(peer: &InterfacePeer) -> String {
    let seen = if peer.current {
        "reported by LLDP/CDP at"
    } else {
        "last reported at"
    };
    format!(
        " At its other end: {}, port {} ({seen} {}).",
        peer.neighbour, peer.port, peer.seen_at
    )
}

/// Feeds a `linkDown`/`linkUp` trap to the interface-down rule `rule`:
/// the device itself says the interface is down, so the incident opens at
/// once (no hold, and whether or not a poll saw the interface up before);
/// `linkUp`, or `ifAdminStatus` down (an operator shut it), clears it.
#[allow(clippy::too_many_arguments)]
fn interface_trap(
    tracks: &mut BTreeMap<String, BTreeMap<String, Track>>,
    rule: &Rule,
    trap: &TrapEvent,
    t: i64,
    next_incident: &mut u64,
    emit: &Emit<'_>,
    out: &mut Vec<Action>,
) {
    let subject = emit.subject;
    let admin_down = trap
        .interface
        .as_ref()
        .is_some_and(|i| i.admin_up == Some(false));
    let down = trap.kind == TrapKind::LinkDown && !admin_down;
    if !down && !has_track(tracks, &rule.name, subject) {
        return;
    }
    let Some(track) = track_mut(tracks, &rule.name, subject) else {
        return;
    };
    if t < track.last_at {
        return;
    }
    track.last_at = t;
    let obs = if down {
        // A new linkDown is news even after staff resolved the last one.
        track.muted = false;
        Obs::Fire
    } else {
        Obs::Clear
    };
    if let Some(tr) = observe(track, &rule.lifecycle, t, obs, 0, next_incident)
        && let Some(inc) = &track.incident
    {
        let device = emit.host;
        let when = Timestamp(t);
        let name = if trap.kind == TrapKind::LinkDown {
            "linkDown"
        } else {
            "linkUp"
        };
        let detail = match tr {
            Transition::Resolved if admin_down => format!(
                "{device} sent {name} at {when}: interface {subject} was shut by an operator (administratively down)."
            ),
            Transition::Resolved => {
                format!("{device} sent linkUp at {when}: interface {subject} is up again.")
            }
            Transition::Flapping => format!(
                "Interface {subject} of {device} went down and up {} times within {}; kept open and marked flapping.",
                track.clears.len(),
                span(secs(rule.lifecycle.flap_window_seconds))
            ),
            _ => format!(
                "{device} sent linkDown at {when}: interface {subject} is down (trap from {}, {}). Resolves at its linkUp trap or when a poll sees it up.",
                trap.source,
                trap.version.name()
            ),
        };
        emit.push(out, tr, inc, t, &detail);
    }
}

/// Feeds a trap to the trap rule `rule` (`m`): a matching OID opens the
/// incident or counts an occurrence on it, a clearing one resolves it.
#[allow(clippy::too_many_arguments)]
fn trap_rule(
    tracks: &mut BTreeMap<String, BTreeMap<String, Track>>,
    rule: &Rule,
    m: &TrapMatch,
    trap: &TrapEvent,
    t: i64,
    next_incident: &mut u64,
    emit: &Emit<'_>,
    out: &mut Vec<Action>,
) {
    let opens = m.opens(&trap.trap_oid);
    let clears = !opens && m.clears(&trap.trap_oid);
    let relevant = opens || (clears && has_track(tracks, &rule.name, ""));
    if !relevant {
        return;
    }
    let Some(track) = track_mut(tracks, &rule.name, "") else {
        return;
    };
    let tr = if opens {
        track.last_at = track.last_at.max(t);
        if !track.firing {
            track.firing = true;
            track.last_flip = t;
        }
        Some(event(track, &rule.lifecycle, t, next_incident))
    } else {
        observe(track, &rule.lifecycle, t, Obs::Clear, 0, next_incident)
    };
    let (Some(tr), Some(inc)) = (tr, &track.incident) else {
        return;
    };
    let device = emit.host;
    let detail = if opens {
        trap_detail(device, trap)
    } else {
        format!(
            "{device} sent {} at {}: cleared.",
            trap.trap_oid, trap.received_at
        )
    };
    emit.push(out, tr, inc, t, &detail);
}

/// What a trap said, for an incident: its OID and kind, where it came
/// from, the device's uptime, and its first bindings.
fn trap_detail(device: &str, trap: &TrapEvent) -> String {
    let mut out = format!(
        "{device} sent trap {} ({}) at {} from {} over SNMP {}",
        trap.trap_oid,
        trap.kind,
        trap.received_at,
        trap.source,
        trap.version.name()
    );
    if let Some(ticks) = trap.uptime_ticks {
        out.push_str(&format!("; device up {}", span(i64::from(ticks) * 10)));
    }
    out.push('.');
    for (oid, value) in trap.varbinds.iter().take(8) {
        out.push_str(&format!("\n  {oid} = {}", first_line(value, 120)));
    }
    if trap.varbinds.len() > 8 {
        out.push_str(&format!("\n  … {} more", trap.varbinds.len() - 8));
    }
    out
}

fn has_track(
    tracks: &BTreeMap<String, BTreeMap<String, Track>>,
    rule: &str,
    subject: &str,
) -> bool {
    tracks.get(rule).is_some_and(|s| s.contains_key(subject))
}

fn track_mut<'a>(
    tracks: &'a mut BTreeMap<String, BTreeMap<String, Track>>,
    rule: &str,
    subject: &str,
) -> Option<&'a mut Track> {
    if !tracks.contains_key(rule) {
        tracks.insert(rule.to_owned(), BTreeMap::new());
    }
    let subjects = tracks.get_mut(rule)?;
    if !subjects.contains_key(subject) {
        subjects.insert(subject.to_owned(), Track::default());
    }
    subjects.get_mut(subject)
}

impl Track {
    /// Nothing worth remembering.
    fn is_idle(&self) -> bool {
        self.incident.is_none()
            && self.pending_since.is_none()
            && self.clears.is_empty()
            && !self.muted
            && self.trend.is_none()
    }
}

/// How much short of its hold a condition may be and still open: samples
/// and polls come on a schedule that drifts by milliseconds, so the one
/// due as the hold ends may come just before it. Without this slack a
/// two-minute hold over one-minute polls would often wait for a third poll.
/// A twentieth of the hold, at most a second.
fn hold_slack_ms(hold_ms: i64) -> i64 {
    (hold_ms / 20).clamp(0, 1_000)
}

/// A condition rule's observation at `t`; returns what happened to the incident.
fn observe(
    track: &mut Track,
    lc: &Lifecycle,
    t: i64,
    obs: Obs,
    hold_ms: i64,
    ids: &mut u64,
) -> Option<Transition> {
    let open = track.incident.filter(|i| i.resolved_at.is_none());
    match obs {
        Obs::Fire => {
            let recurred = !track.firing;
            if recurred {
                track.firing = true;
                track.last_flip = t;
            }
            if track.muted {
                return None;
            }
            match open {
                Some(_) => {
                    let inc = track.incident.as_mut()?;
                    if inc.flapping && recurred {
                        inc.occurrences = inc.occurrences.saturating_add(1);
                        return Some(Transition::Recurred { notify: false });
                    }
                    None
                }
                None => {
                    let since = *track.pending_since.get_or_insert(t);
                    if t.saturating_sub(since) >= hold_ms - hold_slack_ms(hold_ms) {
                        Some(trigger(track, lc, t, ids))
                    } else {
                        None
                    }
                }
            }
        }
        Obs::Clear => {
            track.pending_since = None;
            track.muted = false;
            if track.firing {
                track.firing = false;
                track.last_flip = t;
            }
            open?;
            let window = secs(lc.flap_window_seconds);
            track.clears.retain(|c| t.saturating_sub(*c) < window);
            track.clears.push(t);
            // Only the count above the limit matters; keep the list short.
            let cap = usize::try_from(lc.flap_cycles)
                .unwrap_or(usize::MAX)
                .saturating_add(1);
            if track.clears.len() > cap {
                let excess = track.clears.len() - cap;
                track.clears.drain(..excess);
            }
            let cycles = track.clears.len();
            let inc = track.incident.as_mut()?;
            if inc.flapping {
                return None;
            }
            if u64::try_from(cycles).unwrap_or(u64::MAX) > lc.flap_cycles {
                inc.flapping = true;
                Some(Transition::Flapping)
            } else {
                inc.resolved_at = Some(t);
                Some(Transition::Resolved)
            }
        }
        Obs::Hold => {
            if open.is_none() {
                track.pending_since = None;
            }
            None
        }
    }
}

/// The condition held long enough: open a new incident or reopen the last one.
fn trigger(track: &mut Track, lc: &Lifecycle, t: i64, ids: &mut u64) -> Transition {
    track.pending_since = None;
    let reopen = secs(lc.reopen_window_seconds);
    if let Some(inc) = &mut track.incident
        && inc
            .resolved_at
            .is_some_and(|r| t.saturating_sub(r) <= reopen)
    {
        inc.resolved_at = None;
        inc.occurrences = inc.occurrences.saturating_add(1);
        return Transition::Reopened;
    }
    *ids += 1;
    track.incident = Some(Incident {
        id: *ids,
        opened_at: t,
        occurrences: 1,
        resolved_at: None,
        flapping: false,
    });
    Transition::Opened
}

/// An event-driven rule matched (inventory change, report).
fn event(track: &mut Track, lc: &Lifecycle, t: i64, ids: &mut u64) -> Transition {
    if let Some(inc) = &mut track.incident
        && inc.resolved_at.is_none()
    {
        inc.occurrences = inc.occurrences.saturating_add(1);
        return Transition::Recurred { notify: true };
    }
    trigger(track, lc, t, ids)
}

/// Ends flapping after a quiet flap window.
fn quiet(track: &mut Track, lc: &Lifecycle, now: i64) -> Option<Transition> {
    let inc = track.incident.as_mut()?;
    if !inc.flapping
        || inc.resolved_at.is_some()
        || now.saturating_sub(track.last_flip) < secs(lc.flap_window_seconds)
    {
        return None;
    }
    inc.flapping = false;
    track.clears.clear();
    if track.firing {
        Some(Transition::Unflapped)
    } else {
        inc.resolved_at = Some(now);
        Some(Transition::Resolved)
    }
}

/// Lets go of what no longer matters: clears outside the flap window, a
/// resolved incident past its reopen window.
fn forget_old(track: &mut Track, lc: &Lifecycle, now: i64) {
    let window = secs(lc.flap_window_seconds);
    track.clears.retain(|c| now.saturating_sub(*c) < window);
    if track.incident.is_some_and(|i| {
        i.resolved_at
            .is_some_and(|r| now.saturating_sub(r) > secs(lc.reopen_window_seconds))
    }) {
        track.incident = None;
    }
}

/// Who an action is about, for building it.
#[derive(Clone, Copy)]
struct Emit<'a> {
    asset: &'a str,
    rule_name: &'a str,
    severity: Severity,
    rule_description: &'a str,
    host: &'a str,
    subject: &'a str,
}

impl<'a> Emit<'a> {
    fn new(rule: &'a Rule, asset: &'a str, host: &'a str, subject: &'a str) -> Self {
        Emit {
            asset,
            rule_name: &rule.name,
            severity: rule.severity,
            rule_description: &rule.description,
            host,
            subject,
        }
    }

    fn action(&self, kind: ActionKind, inc: &Incident, t: i64, detail: &str) -> Action {
        let title = if self.asset.is_empty() {
            // The fleet's, not an asset's: a contract, a licence.
            format!("{}: {}", self.rule_name, self.subject)
        } else if self.subject.is_empty() {
            format!("{} on {}", self.rule_name, self.host)
        } else {
            format!("{} on {} ({})", self.rule_name, self.host, self.subject)
        };
        let description = if self.rule_description.is_empty() {
            detail.to_owned()
        } else {
            format!("{}\n{detail}", self.rule_description)
        };
        Action {
            kind,
            incident: inc.id,
            key: IncidentKey {
                asset: self.asset.to_owned(),
                rule: self.rule_name.to_owned(),
                subject: self.subject.to_owned(),
            },
            at: Timestamp(t),
            severity: self.severity,
            title,
            description,
            occurrences: inc.occurrences,
            flapping: inc.flapping,
        }
    }

    fn push(&self, out: &mut Vec<Action>, tr: Transition, inc: &Incident, t: i64, detail: &str) {
        let action = self.action(ActionKind::Open, inc, t, detail);
        self.push_actions(out, tr, action);
    }

    /// The action for `tr` (from the template `action`) and its notification.
    fn push_actions(&self, out: &mut Vec<Action>, tr: Transition, mut action: Action) {
        let (kind, notify) = match tr {
            Transition::Opened => (ActionKind::Open, Some(NotifyEvent::Opened)),
            Transition::Reopened => (ActionKind::Reopen, Some(NotifyEvent::Reopened)),
            Transition::Recurred { notify } => {
                (ActionKind::Update, notify.then_some(NotifyEvent::Updated))
            }
            Transition::Resolved => (ActionKind::Resolve, Some(NotifyEvent::Resolved)),
            Transition::Flapping => (ActionKind::MarkFlapping, Some(NotifyEvent::Flapping)),
            Transition::Unflapped => (ActionKind::EndFlapping, None),
        };
        action.kind = kind;
        if let Some(event) = notify {
            let mut note = action.clone();
            note.kind = ActionKind::Notify(event);
            out.push(action);
            out.push(note);
        } else {
            out.push(action);
        }
    }
}

fn threshold_detail(
    th: &Threshold,
    series: &str,
    value: f64,
    tr: Transition,
    track: &Track,
    inc: &Incident,
    lc: &Lifecycle,
) -> String {
    let clear_side = if th.op.rising() { "below" } else { "above" };
    let now = format!("{series} is {}", num(value));
    match tr {
        Transition::Resolved => format!("{now}, back {clear_side} {}.", num(th.clear_value)),
        Transition::Flapping => format!(
            "{now}: cleared {} times within {}; kept open and marked flapping until it has not changed for {}.",
            track.clears.len(),
            span(secs(lc.flap_window_seconds)),
            span(secs(lc.flap_window_seconds)),
        ),
        Transition::Recurred { .. } => format!(
            "{now}, {} {} again (occurrence {}, flapping).",
            th.op.symbol(),
            num(th.value),
            inc.occurrences
        ),
        _ => {
            let held = if th.for_seconds > 0 {
                format!(" for {}", span(secs(th.for_seconds)))
            } else {
                String::new()
            };
            format!(
                "{now}: {} {}{held}. Clears {clear_side} {}.",
                th.op.symbol(),
                num(th.value),
                num(th.clear_value)
            )
        }
    }
}

fn forecast_detail(
    fc: &Forecast,
    series: &str,
    value: f64,
    fit: Option<Fit>,
    t: i64,
    tr: Transition,
    track: &Track,
) -> String {
    let window = span(fc.window_ms());
    let Some(fit) = fit else {
        return format!("{series} is {}.", num(value));
    };
    let per_day = fit.per_day();
    let rate = format!(
        "{series} is {} and {} {} per day over the last {window}",
        num(value),
        if per_day >= 0.0 { "grows" } else { "shrinks" },
        num(per_day.abs())
    );
    let outlook = fit.outlook(fc.limit, fc.min_r2);
    match (tr, outlook.full_at(t)) {
        (Transition::Resolved, _) | (_, None) if outlook == Outlook::NotATrend => format!(
            "{rate}, too irregularly to call it a trend (R² {:.2}, under {}): not full ({}) within {} days.",
            fit.r2,
            num(fc.min_r2),
            num(fc.limit),
            fc.within_days
        ),
        (Transition::Resolved, _) | (_, None) => format!(
            "{rate}: not full ({}) within {} days.",
            num(fc.limit),
            fc.within_days
        ),
        (Transition::Flapping, _) => format!(
            "{rate}: the forecast crossed {} days {} times; kept open and marked flapping.",
            fc.within_days,
            track.clears.len()
        ),
        (_, Some(at)) => format!(
            "{rate}: full ({}) in about {}, around {}.",
            num(fc.limit),
            span(at.saturating_sub(t)),
            Timestamp(at)
        ),
    }
}

/// A number without needless decimals: `90`, `93.4`, `0.05`.
fn num(v: f64) -> String {
    if v.fract() == 0.0 && v.abs() < 1e15 {
        return format!("{v:.0}");
    }
    let text = format!("{v:.2}");
    text.trim_end_matches('0').trim_end_matches('.').to_owned()
}

/// A duration in ms, in the unit a person would use: `90 s`, `5 min`, `2 h`, `3.5 days`.
fn span(ms: i64) -> String {
    let s = ms / MS_PER_SECOND;
    if s < 120 {
        format!("{s} s")
    } else if s < 2 * 3600 {
        format!("{} min", num((s as f64 / 60.0 * 10.0).round() / 10.0))
    } else if s < 2 * 86_400 {
        format!("{} h", num((s as f64 / 3600.0 * 10.0).round() / 10.0))
    } else {
        format!("{} days", num((s as f64 / 86_400.0 * 10.0).round() / 10.0))
    }
}

fn first_line(text: &str, max_chars: usize) -> String {
    let line = text.lines().next().unwrap_or("").trim();
    if line.chars().count() <= max_chars {
        return line.to_owned();
    }
    let mut cut: String = line.chars().take(max_chars.saturating_sub(1)).collect();
    cut.push('…');
    cut
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_and_spans_read_well() {
        assert_eq!(num(90.0), "90");
        assert_eq!(num(93.456), "93.46");
        assert_eq!(num(0.05), "0.05");
        assert_eq!(span(90_000), "90 s");
        assert_eq!(span(300_000), "5 min");
        assert_eq!(span(3 * 3_600_000), "3 h");
        assert_eq!(span(7 * 86_400_000 / 2), "3.5 days");
        assert_eq!(first_line("printer\nmore", 80), "printer");
        assert_eq!(first_line("abcdef", 4), "abc…");
    }

    #[test]
    fn times_at_the_ends_of_i64_do_not_panic() {
        use atalaya_common::diff::{Change, ItemChange};
        use atalaya_common::model::MemoryModule;

        let rules = RuleSet::parse("rules.toml", "").unwrap();
        let mut e = Engine::new(rules, 30);
        let removed = [Change::MemoryModule(ItemChange::Removed(MemoryModule {
            locator: "DIMM 0".into(),
            ..MemoryModule::default()
        }))];
        let ends = [i64::MIN, i64::MAX, 0, i64::MIN + 1, i64::MAX - 1, i64::MIN];
        let mut actions = 0;
        for (i, &t) in ends.iter().enumerate() {
            let at = Timestamp(t);
            let value = if i % 2 == 0 { 99.0 } else { 1.0 };
            for series in [
                "filesystem.used_percent{mount=/}",
                "memory.used_percent",
                "cpu.total_percent",
            ] {
                actions += e.on_sample("asset-1", series, at, value).len();
            }
            actions += e.on_seen("asset-1", at).len();
            actions += e.on_tick(at).len();
            let report = UserReport {
                id: format!("r{i}"),
                text: "the screen is black".into(),
                ..UserReport::default()
            };
            actions += e.on_report("asset-1", at, &report).len();
            actions += e.on_inventory("asset-1", at, &removed).len();
        }
        assert!(actions > 0, "the engine went on producing actions");
        for end in [i64::MIN, i64::MAX] {
            let mut trend = Trend::new(72 * 3_600_000);
            trend.add(end, 1.0, 72 * 3_600_000);
            trend.add(-end.saturating_add(1), 2.0, 72 * 3_600_000);
            let _ = trend.fit(end, 72 * 3_600_000);
            let policies = crate::incidents::sla::SlaPolicies::default();
            for policy in &policies.by_priority {
                let _ = crate::incidents::sla::clocks(end, policy, 80);
                let hours = policy.business_hours.as_ref();
                let _ = crate::incidents::sla::clock_between(i64::MIN, end, hours);
            }
        }
    }
}
