//! The engine in virtual time: every transition of an incident, driven by
//! samples, inventory changes, reports and ticks with chosen timestamps.

use atalaya_common::diff::{Change, ItemChange};
use atalaya_common::model::device::DeviceState;
use atalaya_common::model::{MemoryModule, Package, Timestamp};

use super::rules::{AssetFacts, AssetKind, RuleSet, Severity};
use super::{Action, ActionKind, DevicePolled, Engine, IncidentKey, NotifyEvent, UserReport};

const S: i64 = 1000;
const MIN: i64 = 60 * S;
const H: i64 = 60 * MIN;
/// A fixed start, so descriptions with times are stable.
const T0: i64 = 1_800_000_000_000;

const FS_VAR: &str = "filesystem.used_percent{mount=/var}";
/// Without the forecast rule, which keeps a trend for every filesystem.
const NO_FORECAST: &str = "[rule.filesystem-filling]\nenabled = false\n";

fn at(ms: i64) -> Timestamp {
    Timestamp(T0 + ms)
}

fn engine(extra_rules: &str) -> Engine {
    let rules = RuleSet::parse("rules.toml", extra_rules).unwrap();
    Engine::new(rules, 30)
}

fn kinds(actions: &[Action]) -> Vec<ActionKind> {
    actions.iter().map(|a| a.kind).collect()
}

/// Feeds `value` every 10 s from `from` to `to` (inclusive), returning all actions.
fn feed(e: &mut Engine, series: &str, from: i64, to: i64, value: f64) -> Vec<Action> {
    let mut out = Vec::new();
    let mut t = from;
    while t <= to {
        out.extend(e.on_sample("asset-1", series, at(t), value));
        t += 10 * S;
    }
    out
}

fn open_count(e: &Engine) -> usize {
    e.open_incidents().len()
}

/// Opens filesystem-full on /var: 95 % from 0 to 5 min.
fn opened(e: &mut Engine) -> Vec<Action> {
    feed(e, FS_VAR, 0, 5 * MIN, 95.0)
}

#[test]
fn threshold_is_pending_for_its_hold_then_opens_once() {
    let mut e = engine("");
    let before = feed(&mut e, FS_VAR, 0, 5 * MIN - 10 * S, 95.0);
    assert!(before.is_empty(), "{before:?}");
    let actions = e.on_sample("asset-1", FS_VAR, at(5 * MIN), 95.0);
    assert_eq!(
        kinds(&actions),
        [ActionKind::Open, ActionKind::Notify(NotifyEvent::Opened)]
    );
    let open = &actions[0];
    assert_eq!(
        open.key,
        IncidentKey {
            asset: "asset-1".into(),
            rule: "filesystem-full".into(),
            subject: "/var".into()
        }
    );
    assert_eq!(open.severity, Severity::High);
    assert_eq!(open.title, "filesystem-full on asset-1 (/var)");
    assert_eq!(open.occurrences, 1);
    assert!(!open.flapping);
    assert_eq!(open.at, at(5 * MIN));
    assert!(
        open.description.ends_with(
            "filesystem.used_percent{mount=/var} is 95: > 90 for 5 min. Clears below 85."
        ),
        "{}",
        open.description
    );
    assert!(open.description.starts_with("A filesystem is almost full"));
    // Repeats while open change nothing: one incident per key.
    assert!(feed(&mut e, FS_VAR, 5 * MIN + 10 * S, 30 * MIN, 97.0).is_empty());
    assert_eq!(open_count(&e), 1);
}

#[test]
fn a_dip_below_the_threshold_restarts_the_hold() {
    let mut e = engine("");
    assert!(feed(&mut e, FS_VAR, 0, 4 * MIN, 95.0).is_empty());
    assert!(
        e.on_sample("asset-1", FS_VAR, at(4 * MIN + 10 * S), 89.0)
            .is_empty()
    );
    // Pending again from 4:20; 5:00 is not enough.
    assert!(feed(&mut e, FS_VAR, 4 * MIN + 20 * S, 9 * MIN + 10 * S, 95.0).is_empty());
    let actions = e.on_sample("asset-1", FS_VAR, at(9 * MIN + 20 * S), 95.0);
    assert_eq!(actions[0].kind, ActionKind::Open);
}

#[test]
fn other_subjects_and_assets_have_their_own_incidents() {
    let mut e = engine("");
    opened(&mut e);
    let root = feed(&mut e, "filesystem.used_percent{mount=/}", 0, 5 * MIN, 99.0);
    assert_eq!(root[0].kind, ActionKind::Open);
    assert_eq!(root[0].key.subject, "/");
    let other = e.on_sample("asset-2", FS_VAR, at(0), 99.0);
    assert!(other.is_empty());
    assert_eq!(open_count(&e), 2);
}

#[test]
fn open_resolves_itself_past_the_clear_value() {
    let mut e = engine("");
    let id = opened(&mut e)[0].incident;
    let actions = e.on_sample("asset-1", FS_VAR, at(6 * MIN), 84.0);
    assert_eq!(
        kinds(&actions),
        [
            ActionKind::Resolve,
            ActionKind::Notify(NotifyEvent::Resolved)
        ]
    );
    assert_eq!(actions[0].incident, id);
    assert!(
        actions[0]
            .description
            .ends_with("filesystem.used_percent{mount=/var} is 84, back below 85."),
        "{}",
        actions[0].description
    );
    assert_eq!(open_count(&e), 0);
}

#[test]
fn hysteresis_band_does_not_clear() {
    let mut e = engine("");
    opened(&mut e);
    // Between clear_value 85 and value 90: still open, nothing said.
    for v in [89.0, 86.0, 85.0, 88.0, 91.0, 87.0] {
        assert!(
            e.on_sample("asset-1", FS_VAR, at(10 * MIN), v).is_empty(),
            "{v}"
        );
    }
    assert_eq!(open_count(&e), 1);
    // The band does not make a pending incident open either.
    let mut fresh = engine(NO_FORECAST);
    assert!(feed(&mut fresh, FS_VAR, 0, 10 * MIN, 88.0).is_empty());
    assert_eq!(fresh.tracked(), 0, "a quiet series costs no state");
}

#[test]
fn resolved_then_recurring_within_the_window_reopens_the_same_incident() {
    let mut e = engine("");
    let id = opened(&mut e)[0].incident;
    e.on_sample("asset-1", FS_VAR, at(6 * MIN), 80.0);
    // It fills again 20 minutes later; the hold applies again.
    assert!(feed(&mut e, FS_VAR, 26 * MIN, 31 * MIN - 10 * S, 96.0).is_empty());
    let actions = e.on_sample("asset-1", FS_VAR, at(31 * MIN), 96.0);
    assert_eq!(
        kinds(&actions),
        [
            ActionKind::Reopen,
            ActionKind::Notify(NotifyEvent::Reopened)
        ]
    );
    assert_eq!(actions[0].incident, id);
    assert_eq!(actions[0].occurrences, 2);
}

#[test]
fn recurring_after_the_window_opens_a_new_incident() {
    let mut e = engine("");
    let first = opened(&mut e)[0].incident;
    e.on_sample("asset-1", FS_VAR, at(6 * MIN), 80.0);
    // Without ticks: the resolved incident is too old to reopen.
    let later = feed(&mut e, FS_VAR, 2 * H, 2 * H + 5 * MIN, 96.0);
    assert_eq!(later[0].kind, ActionKind::Open);
    assert_ne!(later[0].incident, first);
    assert_eq!(later[0].occurrences, 1);

    // With ticks: the resolved incident is forgotten, and so is the track.
    let mut e = engine(NO_FORECAST);
    opened(&mut e);
    e.on_sample("asset-1", FS_VAR, at(6 * MIN), 80.0);
    assert_eq!(e.tracked(), 1);
    assert!(e.on_tick(at(30 * MIN)).is_empty());
    assert_eq!(e.tracked(), 1, "kept for reopening within the hour");
    assert!(e.on_tick(at(6 * MIN + H + S)).is_empty());
    assert_eq!(e.tracked(), 0);
    let again = feed(&mut e, FS_VAR, 2 * H, 2 * H + 5 * MIN, 96.0);
    assert_eq!(again[0].kind, ActionKind::Open);
}

/// Opens (or reopens) and clears the incident once, starting at `start`.
fn cycle(e: &mut Engine, start: i64) -> Vec<Action> {
    let mut out = feed(e, FS_VAR, start, start + 5 * MIN, 95.0);
    out.extend(e.on_sample("asset-1", FS_VAR, at(start + 6 * MIN), 50.0));
    out
}

#[test]
fn flapping_keeps_the_incident_open_until_quiet() {
    let mut e = engine("");
    // Three open/clear cycles are allowed (flap_cycles = 3)...
    let first = cycle(&mut e, 0);
    assert_eq!(kinds(&first)[2], ActionKind::Resolve);
    for start in [10 * MIN, 20 * MIN] {
        let c = cycle(&mut e, start);
        assert_eq!(
            kinds(&c),
            [
                ActionKind::Reopen,
                ActionKind::Notify(NotifyEvent::Reopened),
                ActionKind::Resolve,
                ActionKind::Notify(NotifyEvent::Resolved)
            ]
        );
    }
    // ...the fourth clear within the hour would be one too many.
    let c = cycle(&mut e, 30 * MIN);
    assert_eq!(
        kinds(&c),
        [
            ActionKind::Reopen,
            ActionKind::Notify(NotifyEvent::Reopened),
            ActionKind::MarkFlapping,
            ActionKind::Notify(NotifyEvent::Flapping)
        ]
    );
    assert!(c[2].flapping);
    assert!(
        c[2].description.contains("marked flapping"),
        "{}",
        c[2].description
    );
    assert_eq!(open_count(&e), 1);
    assert!(e.open_incidents()[0].flapping);
    // While flapping: a recurrence only counts (no hold, no notification),
    // a clear changes nothing.
    let again = e.on_sample("asset-1", FS_VAR, at(40 * MIN), 95.0);
    assert_eq!(kinds(&again), [ActionKind::Update]);
    assert_eq!(again[0].occurrences, 5);
    assert!(
        e.on_sample("asset-1", FS_VAR, at(41 * MIN), 50.0)
            .is_empty()
    );
    assert_eq!(open_count(&e), 1);
    // Quiet for less than the flap window: still flapping.
    assert!(e.on_tick(at(41 * MIN + 59 * MIN)).is_empty());
    // Quiet for the window with the condition clear: resolved.
    let quiet = e.on_tick(at(41 * MIN + H));
    assert_eq!(
        kinds(&quiet),
        [
            ActionKind::Resolve,
            ActionKind::Notify(NotifyEvent::Resolved)
        ]
    );
    assert!(!quiet[0].flapping);
    assert!(quiet[0].description.contains("no longer flapping"));
    assert_eq!(open_count(&e), 0);
}

#[test]
fn flapping_ends_but_stays_open_when_the_condition_holds() {
    let mut e = engine("[incidents]\nflap_cycles = 1\n");
    cycle(&mut e, 0);
    let c = cycle(&mut e, 10 * MIN);
    assert_eq!(kinds(&c)[2], ActionKind::MarkFlapping);
    // It comes back and stays.
    let back = feed(&mut e, FS_VAR, 20 * MIN, 90 * MIN, 95.0);
    assert_eq!(kinds(&back), [ActionKind::Update]);
    let quiet = e.on_tick(at(20 * MIN + H));
    assert_eq!(kinds(&quiet), [ActionKind::EndFlapping]);
    assert!(!quiet[0].flapping);
    assert_eq!(open_count(&e), 1);
    // From here it resolves normally.
    let clear = e.on_sample("asset-1", FS_VAR, at(2 * H), 50.0);
    assert_eq!(clear[0].kind, ActionKind::Resolve);
}

#[test]
fn a_late_sample_is_skipped() {
    let mut e = engine("");
    opened(&mut e);
    // A clear value from before the incident opened (a resend) does not resolve it.
    assert!(e.on_sample("asset-1", FS_VAR, at(MIN), 10.0).is_empty());
    assert_eq!(open_count(&e), 1);
}

#[test]
fn bad_values_are_ignored() {
    let mut e = engine("");
    for v in [f64::NAN, f64::INFINITY, f64::NEG_INFINITY] {
        assert!(e.on_sample("asset-1", FS_VAR, at(0), v).is_empty());
    }
    assert!(e.on_sample("asset-1", "{}", at(0), 1.0).is_empty());
    assert!(e.on_sample("", "", at(0), 1.0).is_empty());
    assert_eq!(e.tracked(), 0);
}

#[test]
fn absence_opens_after_missed_heartbeats_and_resolves_when_seen() {
    let mut e = engine("");
    assert!(e.on_seen("asset-1", at(0)).is_empty());
    // Heartbeat 30 s, 3 missed: more than 90 s of silence.
    assert!(e.on_tick(at(90 * S)).is_empty());
    let actions = e.on_tick(at(91 * S));
    assert_eq!(
        kinds(&actions),
        [ActionKind::Open, ActionKind::Notify(NotifyEvent::Opened)]
    );
    assert_eq!(actions[0].key.rule, "agent-offline");
    assert_eq!(actions[0].key.subject, "");
    assert!(
        actions[0].description.ends_with(
            "Nothing from the agent since 2027-01-15T08:00:00Z (91 s; heartbeat every 30 s, 3 missed)."
        ),
        "{}",
        actions[0].description
    );
    assert!(
        e.on_tick(at(10 * MIN)).is_empty(),
        "once open, ticks are quiet"
    );
    let back = e.on_seen("asset-1", at(12 * MIN));
    assert_eq!(
        kinds(&back),
        [
            ActionKind::Resolve,
            ActionKind::Notify(NotifyEvent::Resolved)
        ]
    );
    assert!(
        back[0].description.contains("heard from again"),
        "{}",
        back[0].description
    );
    assert!(
        back[0].description.contains("after 12 min"),
        "{}",
        back[0].description
    );
    // Silent again soon: the same incident reopens.
    let again = e.on_tick(at(12 * MIN + 91 * S));
    assert_eq!(again[0].kind, ActionKind::Reopen);
    assert_eq!(again[0].incident, actions[0].incident);
}

#[test]
fn absence_needs_a_first_sighting_and_follows_the_rule() {
    let mut e = engine("[rule.agent-offline]\nmissed_heartbeats = 10\n");
    // An asset never heard from is not "silent".
    e.on_sample("asset-1", "load.one", at(0), 1.0);
    assert!(e.on_tick(at(H)).is_empty());
    e.on_seen("asset-1", at(H));
    assert!(e.on_tick(at(H + 300 * S)).is_empty());
    assert_eq!(e.on_tick(at(H + 301 * S))[0].kind, ActionKind::Open);
}

/// Feeds hourly samples of `f(hour)` to `/data` from hour `from` to `to`.
fn feed_hours(e: &mut Engine, from: i64, to: i64, f: impl Fn(i64) -> f64) -> Vec<Action> {
    let mut out = Vec::new();
    for hour in from..=to {
        out.extend(e.on_sample(
            "asset-1",
            "filesystem.used_percent{mount=/data}",
            at(hour * H),
            f(hour),
        ));
    }
    out
}

#[test]
fn forecast_opens_when_full_within_days_and_resolves_when_not() {
    let mut e = engine("[rule.filesystem-full]\nenabled = false\n");
    // 0.5 % per hour from 10 %: full in 180 h, more than 7 days (168 h) at first.
    let slow = feed_hours(&mut e, 0, 17, |h| 10.0 + 0.5 * h as f64);
    assert!(slow.is_empty(), "{slow:?}");
    // From hour 18 there is a quarter window (of 72 h) of history: 18 h
    // gone, 81 % of the way left at 0.5 % per hour = 162 h < 168 h.
    let actions = feed_hours(&mut e, 18, 18, |h| 10.0 + 0.5 * h as f64);
    assert_eq!(
        kinds(&actions),
        [ActionKind::Open, ActionKind::Notify(NotifyEvent::Opened)]
    );
    let open = &actions[0];
    assert_eq!(open.key.rule, "filesystem-filling");
    assert_eq!(open.key.subject, "/data");
    assert_eq!(open.severity, Severity::Warning);
    assert!(
        open.description.ends_with(
            "filesystem.used_percent{mount=/data} is 19 and grows 12 per day over the last 3 days: full (100) in about 6.8 days, around 2027-01-22T20:00:00Z."
        ),
        "{}",
        open.description
    );
    // Growing on: stays one incident.
    assert!(feed_hours(&mut e, 19, 40, |h| 10.0 + 0.5 * h as f64).is_empty());
    // Cleaned up to 5 % and flat: once the fit no longer reaches 100 % in a
    // week, the incident resolves.
    let cleaned = feed_hours(&mut e, 41, 120, |_| 5.0);
    assert_eq!(
        kinds(&cleaned),
        [
            ActionKind::Resolve,
            ActionKind::Notify(NotifyEvent::Resolved)
        ]
    );
    assert!(
        cleaned[0]
            .description
            .contains("not full (100) within 7 days"),
        "{}",
        cleaned[0].description
    );
    assert!(e.tracked() >= 1, "the trend is kept");
}

#[test]
fn forecast_of_a_flat_or_slow_series_stays_quiet() {
    let mut e = engine("");
    assert!(feed_hours(&mut e, 0, 100, |_| 70.0).is_empty());
    assert!(feed_hours(&mut e, 101, 300, |h| 20.0 + 0.1 * (h - 101) as f64).is_empty());
}

#[test]
fn forecast_of_a_series_that_jumps_about_is_not_a_trend() {
    // Hourly, jumping between about 40 % and 90 % and drifting up: the line
    // reaches 100 % within days, but explains too little to be believed.
    let jumpy = |h: i64| {
        let high = (h * 7 + h / 5) % 3 == 0;
        40.0 + if high { 50.0 } else { 0.0 } + h as f64 * 0.2
    };
    let mut e = engine("[rule.filesystem-full]\nenabled = false\n");
    assert!(feed_hours(&mut e, 0, 72, jumpy).is_empty());
    // The same series with no minimum fit quality opens.
    let mut lax =
        engine("[rule.filesystem-full]\nenabled = false\n[rule.filesystem-filling]\nmin_r2 = 0\n");
    let opened = feed_hours(&mut lax, 0, 72, jumpy);
    assert_eq!(
        kinds(&opened)[..2],
        [ActionKind::Open, ActionKind::Notify(NotifyEvent::Opened)]
    );
    let bad = RuleSet::parse("rules.toml", "[rule.filesystem-filling]\nmin_r2 = 1.5\n")
        .unwrap_err()
        .to_string();
    assert!(
        bad.contains("`rule.filesystem-filling.min_r2`: expected a fit quality from 0 to 1"),
        "{bad}"
    );
}

fn dimm(locator: &str, serial: &str) -> MemoryModule {
    MemoryModule {
        locator: locator.into(),
        size_bytes: 16 << 30,
        kind: Some("DDR4".into()),
        serial: Some(serial.into()),
        ..MemoryModule::default()
    }
}

#[test]
fn inventory_change_opens_with_the_diff_and_counts_repeats() {
    let mut e = engine("");
    e.set_asset(
        "asset-1",
        AssetFacts {
            hostname: "pc-17".into(),
            ..AssetFacts::default()
        },
        at(0),
    );
    // An upgrade of a package is not a hardware change.
    let upgrade = [Change::Package(ItemChange::Changed {
        before: Package::default(),
        after: Package::default(),
    })];
    assert!(e.on_inventory("asset-1", at(0), &upgrade).is_empty());
    let removed = [Change::MemoryModule(ItemChange::Removed(dimm(
        "DIMM B", "S2",
    )))];
    let actions = e.on_inventory("asset-1", at(MIN), &removed);
    assert_eq!(
        kinds(&actions),
        [ActionKind::Open, ActionKind::Notify(NotifyEvent::Opened)]
    );
    assert_eq!(actions[0].title, "hardware-change on pc-17");
    assert!(
        actions[0].description.ends_with(
            "Inventory changes at 2027-01-15T08:01:00Z:\nmemory-removed: module DIMM B removed: 16 GiB DDR4, serial S2"
        ),
        "{}",
        actions[0].description
    );
    let swapped = [Change::MemoryModule(ItemChange::Changed {
        before: dimm("DIMM A", "S1"),
        after: dimm("DIMM A", "S9"),
    })];
    let more = e.on_inventory("asset-1", at(2 * MIN), &swapped);
    assert_eq!(
        kinds(&more),
        [ActionKind::Update, ActionKind::Notify(NotifyEvent::Updated)]
    );
    assert_eq!(more[0].occurrences, 2);
    assert_eq!(more[0].incident, actions[0].incident);
    assert!(more[0].description.contains("S1 → 16 GiB DDR4, serial S9"));
    // Inventory incidents do not resolve themselves.
    assert!(e.on_tick(at(5 * H)).is_empty());
    assert_eq!(open_count(&e), 1);
}

#[test]
fn software_rule_matches_package_names() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../config/rules.toml");
    let mut e = Engine::new(RuleSet::load(std::path::Path::new(path)).unwrap(), 30);
    let added = |name: &str| {
        [Change::Package(ItemChange::Added(Package {
            name: name.into(),
            version: "1.0".into(),
            ..Package::default()
        }))]
    };
    assert!(e.on_inventory("asset-1", at(0), &added("curl")).is_empty());
    let actions = e.on_inventory("asset-1", at(0), &added("anydesk"));
    assert_eq!(actions[0].key.rule, "remote-access-software");
    assert!(
        actions[0]
            .description
            .ends_with("software-added: anydesk 1.0 installed")
    );
}

#[test]
fn scope_by_tag_os_and_kind() {
    let rules = "[rule.filesystem-full]\ntags = [\"db\"]\n\
                 [rule.cpu-saturated]\nos = [\"rhel\"]\nfor_seconds = 0\n\
                 [rule.memory-pressure]\nasset_kinds = [\"physical\"]\nfor_seconds = 0\n";
    let mut e = engine(rules);
    let debian_vm = AssetFacts {
        hostname: "web-1".into(),
        tags: vec!["web".into()],
        os_id: Some("debian".into()),
        kind: AssetKind::Virtual,
    };
    e.set_asset("asset-1", debian_vm.clone(), at(0));
    assert!(opened(&mut e).is_empty(), "not tagged db");
    assert!(
        e.on_sample("asset-1", "cpu.total_percent", at(MIN), 100.0)
            .is_empty()
    );
    assert!(
        e.on_sample("asset-1", "memory.used_percent", at(MIN), 99.0)
            .is_empty()
    );
    // Tagged db: the next samples open it.
    let db = AssetFacts {
        tags: vec!["db".into()],
        ..debian_vm.clone()
    };
    assert!(e.set_asset("asset-1", db.clone(), at(6 * MIN)).is_empty());
    let actions = feed(&mut e, FS_VAR, 6 * MIN, 11 * MIN, 95.0);
    assert_eq!(actions[0].kind, ActionKind::Open);
    assert_eq!(actions[0].title, "filesystem-full on web-1 (/var)");
    // A rhel physical machine gets the other two.
    let rhel = AssetFacts {
        os_id: Some("rhel".into()),
        kind: AssetKind::Physical,
        ..AssetFacts::default()
    };
    e.set_asset("asset-2", rhel, at(0));
    let cpu = e.on_sample("asset-2", "cpu.total_percent", at(MIN), 100.0);
    assert_eq!(cpu[0].key.rule, "cpu-saturated");
    let mem = e.on_sample("asset-2", "memory.used_percent", at(MIN), 99.0);
    assert_eq!(mem[0].key.rule, "memory-pressure");
    // The tag taken away: the scoped incident resolves, saying why.
    let untagged = e.set_asset("asset-1", debian_vm, at(20 * MIN));
    assert_eq!(
        kinds(&untagged),
        [
            ActionKind::Resolve,
            ActionKind::Notify(NotifyEvent::Resolved)
        ]
    );
    assert!(
        untagged[0]
            .description
            .ends_with("the rule no longer applies to this asset")
    );
}

#[test]
fn a_disabled_rule_opens_nothing_and_disabling_resolves() {
    let mut e = engine(&format!(
        "{NO_FORECAST}[rule.filesystem-full]\nenabled = false\n"
    ));
    assert!(opened(&mut e).is_empty());
    assert_eq!(e.tracked(), 0);

    let mut e = engine(NO_FORECAST);
    opened(&mut e);
    let off = RuleSet::parse(
        "rules.toml",
        &format!("{NO_FORECAST}[rule.filesystem-full]\nenabled = false\n"),
    )
    .unwrap();
    let actions = e.set_rules(off, at(10 * MIN));
    assert_eq!(
        kinds(&actions),
        [
            ActionKind::Resolve,
            ActionKind::Notify(NotifyEvent::Resolved)
        ]
    );
    assert!(actions[0].description.ends_with("the rule was disabled"));
    assert_eq!(e.tracked(), 0);
    assert!(feed(&mut e, FS_VAR, 11 * MIN, 20 * MIN, 99.0).is_empty());
}

#[test]
fn reloaded_rules_keep_open_incidents_and_apply_new_values() {
    let mut e = engine("");
    let id = opened(&mut e)[0].incident;
    let stricter = RuleSet::parse(
        "rules.toml",
        "[rule.filesystem-full]\nvalue = 97\nclear_value = 96\n",
    )
    .unwrap();
    assert!(e.set_rules(stricter, at(6 * MIN)).is_empty());
    assert_eq!(e.open_incidents()[0].incident, id);
    // 95 is now below the new clear value.
    let actions = e.on_sample("asset-1", FS_VAR, at(7 * MIN), 95.0);
    assert_eq!(actions[0].kind, ActionKind::Resolve);
    assert_eq!(actions[0].incident, id);
}

#[test]
fn user_reports_open_one_incident_each_and_vip_rules_win() {
    let mut e = engine(
        "[rule.vip-report]\nkind = \"user-report\"\nseverity = \"critical\"\ntags = [\"vip\"]\n",
    );
    let report = |id: &str, text: &str| UserReport {
        id: id.into(),
        text: text.into(),
        user: Some("maria".into()),
        context: String::new(),
    };
    e.set_asset(
        "asset-1",
        AssetFacts {
            hostname: "pc-17".into(),
            ..AssetFacts::default()
        },
        at(0),
    );
    let first = e.on_report(
        "asset-1",
        at(0),
        &report("r1", "the printer does not print\nat all"),
    );
    assert_eq!(
        kinds(&first),
        [ActionKind::Open, ActionKind::Notify(NotifyEvent::Opened)]
    );
    assert_eq!(first[0].title, "pc-17: the printer does not print");
    assert_eq!(first[1].title, first[0].title);
    assert_eq!(first[0].key.rule, "user-report");
    assert_eq!(first[0].key.subject, "r1");
    assert_eq!(first[0].severity, Severity::Warning);
    assert!(first[0].description.ends_with(
        "maria at pc-17 wrote at 2027-01-15T08:00:00Z:\nthe printer does not print\nat all"
    ));
    let with_context = UserReport {
        context: "Machine: Dell Latitude 7420".into(),
        ..report("r2", "and the mouse")
    };
    let second = e.on_report("asset-1", at(MIN), &with_context);
    assert!(
        second[0].description.ends_with(
            "wrote at 2027-01-15T08:01:00Z:\nand the mouse\n\nMachine: Dell Latitude 7420"
        ),
        "{}",
        second[0].description
    );
    assert_eq!(second[0].kind, ActionKind::Open);
    assert_ne!(second[0].incident, first[0].incident);
    // The same report delivered twice counts on its incident.
    let dup = e.on_report(
        "asset-1",
        at(2 * MIN),
        &report("r1", "the printer does not print"),
    );
    assert_eq!(dup[0].kind, ActionKind::Update);
    assert_eq!(dup[0].occurrences, 2);
    // On a VIP's machine the critical rule takes the report.
    e.set_asset(
        "asset-2",
        AssetFacts {
            tags: vec!["vip".into()],
            ..AssetFacts::default()
        },
        at(0),
    );
    let vip = e.on_report("asset-2", at(0), &report("r3", "email is down"));
    assert_eq!(vip[0].key.rule, "vip-report");
    assert_eq!(vip[0].severity, Severity::Critical);
    assert_eq!(vip[0].title, "asset-2: email is down");
}

#[test]
fn staff_resolving_a_held_condition_waits_for_a_clear() {
    let mut e = engine("");
    let open = opened(&mut e);
    e.on_staff_resolved(&open[0].key, at(6 * MIN));
    assert_eq!(open_count(&e), 0);
    // Still full: nothing opens behind the help desk's back.
    assert!(feed(&mut e, FS_VAR, 6 * MIN, 20 * MIN, 95.0).is_empty());
    // It clears, then fills again within the reopen window: the same incident reopens.
    assert!(
        e.on_sample("asset-1", FS_VAR, at(21 * MIN), 50.0)
            .is_empty()
    );
    let again = feed(&mut e, FS_VAR, 22 * MIN, 27 * MIN, 95.0);
    assert_eq!(again[0].kind, ActionKind::Reopen);
    assert_eq!(again[0].incident, open[0].incident);

    // An inventory incident resolved by staff: the next change opens anew later.
    let mut e = engine("");
    let removed = [Change::MemoryModule(ItemChange::Removed(dimm(
        "DIMM B", "S2",
    )))];
    let first = e.on_inventory("asset-1", at(0), &removed);
    e.on_staff_resolved(&first[0].key, at(MIN));
    let within = e.on_inventory("asset-1", at(10 * MIN), &removed);
    assert_eq!(within[0].kind, ActionKind::Reopen);
    e.on_staff_resolved(&first[0].key, at(11 * MIN));
    let after = e.on_inventory("asset-1", at(3 * H), &removed);
    assert_eq!(after[0].kind, ActionKind::Open);
    assert_ne!(after[0].incident, first[0].incident);
}

#[test]
fn staff_reopening_hands_the_incident_back_to_the_engine() {
    let mut e = engine("");
    let open = opened(&mut e);
    let key = open[0].key.clone();
    let id = open[0].incident;
    e.on_staff_resolved(&key, at(6 * MIN));
    assert_eq!(open_count(&e), 0);
    // Staff disagree and reopen it while the filesystem is still full.
    e.on_staff_reopened(&key, id, 1, at(7 * MIN));
    assert_eq!(open_count(&e), 1);
    // Still full: no second incident; once it clears, it resolves itself.
    let held = feed(&mut e, FS_VAR, 7 * MIN, 10 * MIN, 95.0);
    assert!(held.iter().all(|a| a.kind != ActionKind::Open), "{held:?}");
    let cleared = e.on_sample("asset-1", FS_VAR, at(11 * MIN), 50.0);
    assert_eq!(cleared[0].kind, ActionKind::Resolve);
    assert_eq!(cleared[0].incident, id);

    // An incident the engine has let go of is adopted again.
    let mut e = engine("");
    let forgotten = IncidentKey {
        asset: "asset-1".into(),
        rule: "filesystem-full".into(),
        subject: "/var".into(),
    };
    e.on_staff_reopened(&forgotten, 41, 3, at(0));
    assert_eq!(open_count(&e), 1);
    let cleared = e.on_sample("asset-1", FS_VAR, at(MIN), 50.0);
    assert_eq!(cleared[0].kind, ActionKind::Resolve);
    assert_eq!(cleared[0].incident, 41);
}

#[test]
fn state_survives_serialization_midway() {
    // Pending for 4 minutes, then persisted and restored (JSON and postcard):
    // the restored engine opens at 5 minutes exactly like the original.
    let mut original = engine(NO_FORECAST);
    feed(&mut original, FS_VAR, 0, 4 * MIN, 95.0);
    original.on_seen("asset-1", at(4 * MIN));
    let json = serde_json::to_string(original.state()).unwrap();
    let bytes = postcard::to_allocvec(original.state()).unwrap();
    let from_json: super::EngineState = serde_json::from_str(&json).unwrap();
    let from_postcard: super::EngineState = postcard::from_bytes(&bytes).unwrap();
    assert_eq!(&from_json, original.state());
    assert_eq!(&from_postcard, original.state());
    let rules = RuleSet::parse("rules.toml", NO_FORECAST).unwrap();
    let mut restored = Engine::with_state(rules, 30, from_postcard);
    let a = feed(&mut original, FS_VAR, 4 * MIN + 10 * S, 5 * MIN, 95.0);
    let b = feed(&mut restored, FS_VAR, 4 * MIN + 10 * S, 5 * MIN, 95.0);
    assert_eq!(a, b);
    assert_eq!(a[0].kind, ActionKind::Open);
    assert_eq!(
        original.on_tick(at(10 * MIN)),
        restored.on_tick(at(10 * MIN))
    );
    // A pending track is a few dozen bytes.
    assert!(bytes.len() < 200, "{} bytes", bytes.len());
}

#[test]
fn incident_numbers_never_repeat() {
    let mut e = engine("");
    let mut ids = Vec::new();
    for asset in ["a", "b", "c"] {
        let actions = e.on_inventory(
            asset,
            at(0),
            &[Change::MemoryModule(ItemChange::Removed(dimm("X", "1")))],
        );
        ids.push(actions[0].incident);
    }
    ids.dedup();
    assert_eq!(ids.len(), 3);
    assert!(ids.iter().all(|&id| id > 0));
}

#[test]
fn restoring_with_other_rules_then_set_rules_resolves_the_stale() {
    let mut e = engine("");
    opened(&mut e);
    let fewer = RuleSet::parse("rules.toml", "[rule.filesystem-full]\nenabled = false\n").unwrap();
    let mut restored = Engine::with_state(fewer.clone(), 30, e.state().clone());
    let actions = restored.set_rules(fewer, at(10 * MIN));
    assert_eq!(
        kinds(&actions),
        [
            ActionKind::Resolve,
            ActionKind::Notify(NotifyEvent::Resolved)
        ]
    );
    assert_eq!(restored.open_incidents().len(), 0);
}

const SW: &str = "device:sw1";
const OPER_GI1: &str = "interface.oper_up{if=Gi0/1}";
const OPER_GI2: &str = "interface.oper_up{if=Gi0/2}";

/// One poll of the device `sw1` at `t`.
fn poll(
    e: &mut Engine,
    t: i64,
    state: DeviceState,
    values: &[(&str, f64)],
    admin_down: &[&str],
) -> Vec<Action> {
    let values: Vec<(String, f64)> = values.iter().map(|(s, v)| ((*s).to_owned(), *v)).collect();
    let admin_down: Vec<String> = admin_down.iter().map(|s| (*s).to_owned()).collect();
    let polled = DevicePolled {
        device: "sw1",
        state,
        values: &values,
        admin_down: &admin_down,
        peers: &[],
    };
    e.on_device_poll(SW, at(t), &polled)
}

fn only(actions: &[Action], kind: ActionKind) -> &Action {
    let found: Vec<&Action> = actions.iter().filter(|a| a.kind == kind).collect();
    assert_eq!(found.len(), 1, "{actions:#?}");
    found[0]
}

#[test]
fn device_unreachable_after_three_failed_polls_resolves_on_the_next_ok() {
    let mut e = engine("");
    assert!(poll(&mut e, 0, DeviceState::Ok, &[], &[]).is_empty());
    assert!(poll(&mut e, MIN, DeviceState::Timeout, &[], &[]).is_empty());
    assert!(poll(&mut e, 2 * MIN, DeviceState::NetworkError, &[], &[]).is_empty());
    let opened = poll(&mut e, 3 * MIN, DeviceState::Timeout, &[], &[]);
    assert_eq!(
        kinds(&opened),
        [ActionKind::Open, ActionKind::Notify(NotifyEvent::Opened)]
    );
    let open = &opened[0];
    assert_eq!(
        open.key,
        IncidentKey {
            asset: SW.into(),
            rule: "device-unreachable".into(),
            subject: String::new()
        }
    );
    assert_eq!(open.title, "device-unreachable on sw1");
    assert_eq!(open.severity, Severity::High);
    assert!(
        open.description.contains("`timeout`") && open.description.contains("never answered"),
        "{}",
        open.description
    );
    // More failed polls are the same incident; another failure leaves it open.
    assert!(poll(&mut e, 4 * MIN, DeviceState::Timeout, &[], &[]).is_empty());
    assert!(poll(&mut e, 5 * MIN, DeviceState::Malformed, &[], &[]).is_empty());
    assert_eq!(open_count(&e), 1);
    let resolved = poll(&mut e, 6 * MIN, DeviceState::Ok, &[], &[]);
    let r = only(&resolved, ActionKind::Resolve);
    assert_eq!(r.incident, open.incident);
    assert!(
        r.description.contains("answered its poll"),
        "{}",
        r.description
    );
    assert_eq!(open_count(&e), 0);
}

#[test]
fn device_unreachable_needs_the_failures_in_a_row() {
    let mut e = engine("");
    for i in 0..10 {
        let state = if i % 3 == 2 {
            DeviceState::Ok
        } else {
            DeviceState::Timeout
        };
        let actions = poll(&mut e, i * MIN, state, &[], &[]);
        assert!(actions.is_empty(), "poll {i}: {actions:#?}");
    }
}

#[test]
fn refused_credentials_open_at_once_and_resolve_on_ok() {
    let mut e = engine("");
    let opened = poll(&mut e, 0, DeviceState::V3WrongDigest, &[], &[]);
    let open = only(&opened, ActionKind::Open);
    assert_eq!(open.key.rule, "device-credentials");
    assert!(
        open.description
            .starts_with("The device refused Atalaya's credentials")
            && open.description.contains("`v3_wrong_digest`"),
        "{}",
        open.description
    );
    assert!(poll(&mut e, MIN, DeviceState::WrongCommunity, &[], &[]).is_empty());
    // A timeout is no sign the credentials were put right.
    assert!(poll(&mut e, 2 * MIN, DeviceState::Timeout, &[], &[]).is_empty());
    let resolved = poll(&mut e, 3 * MIN, DeviceState::Ok, &[], &[]);
    assert_eq!(only(&resolved, ActionKind::Resolve).incident, open.incident);
}

#[test]
fn an_interface_that_was_up_opens_one_incident_after_the_hold() {
    let mut e = engine("");
    let up = [(OPER_GI1, 1.0), (OPER_GI2, 1.0)];
    let gi1_down = [(OPER_GI1, 0.0), (OPER_GI2, 1.0)];
    assert!(poll(&mut e, 0, DeviceState::Ok, &up, &[]).is_empty());
    // The tracks that remember the interfaces were up outlive a tick.
    assert!(e.on_tick(at(30 * S)).is_empty());
    assert!(poll(&mut e, MIN, DeviceState::Ok, &gi1_down, &[]).is_empty());
    assert!(poll(&mut e, 2 * MIN, DeviceState::Ok, &gi1_down, &[]).is_empty());
    let opened = poll(&mut e, 3 * MIN, DeviceState::Ok, &gi1_down, &[]);
    let open = only(&opened, ActionKind::Open);
    assert_eq!(open.key.subject, "Gi0/1");
    assert_eq!(open.title, "interface-down on sw1 (Gi0/1)");
    assert!(
        open.description.contains("Interface Gi0/1 of sw1 was up"),
        "{}",
        open.description
    );
    // One incident per interface, not per poll.
    let mut later = Vec::new();
    for i in 4..10 {
        later.extend(poll(&mut e, i * MIN, DeviceState::Ok, &gi1_down, &[]));
    }
    assert!(later.is_empty(), "{later:#?}");
    assert_eq!(open_count(&e), 1);
    let resolved = poll(&mut e, 10 * MIN, DeviceState::Ok, &up, &[]);
    assert_eq!(only(&resolved, ActionKind::Resolve).incident, open.incident);
    assert_eq!(open_count(&e), 0);
}

#[test]
fn an_interface_down_names_the_neighbour_last_seen_at_its_other_end() {
    let mut e = engine("");
    let peers = [crate::records::device::InterfacePeer {
        interface: "Gi0/1".into(),
        neighbour: "core-sw".into(),
        port: "Te1/0/7".into(),
        seen_at: at(0),
        // The link took its LLDP entry with it: gone, still named.
        current: false,
    }];
    let feed = |e: &mut Engine, t: i64, v: f64| {
        let values = vec![(OPER_GI1.to_owned(), v)];
        let polled = DevicePolled {
            device: "sw1",
            state: DeviceState::Ok,
            values: &values,
            admin_down: &[],
            peers: &peers,
        };
        e.on_device_poll(SW, at(t), &polled)
    };
    assert!(feed(&mut e, 0, 1.0).is_empty());
    let mut actions = Vec::new();
    for i in 1..=3 {
        actions.extend(feed(&mut e, i * MIN, 0.0));
    }
    let open = only(&actions, ActionKind::Open);
    assert!(
        open.description
            .contains("At its other end: core-sw, port Te1/0/7 (last reported at "),
        "{}",
        open.description
    );
    assert!(
        open.description
            .contains("Interface Gi0/1 of sw1 was up and is down")
    );
}

#[test]
fn an_interface_flapping_within_the_hold_opens_nothing() {
    let mut e = engine("");
    let mut actions = Vec::new();
    for i in 0..20 {
        let v = if i % 2 == 0 { 1.0 } else { 0.0 };
        actions.extend(poll(
            &mut e,
            i * MIN,
            DeviceState::Ok,
            &[(OPER_GI1, v)],
            &[],
        ));
    }
    assert!(actions.is_empty(), "{actions:#?}");
}

#[test]
fn ports_never_up_and_ports_shut_by_an_operator_open_nothing() {
    let mut e = engine("");
    let mut actions = Vec::new();
    for i in 0..10 {
        actions.extend(poll(
            &mut e,
            i * MIN,
            DeviceState::Ok,
            &[(OPER_GI2, 0.0)],
            &[],
        ));
    }
    actions.extend(poll(
        &mut e,
        10 * MIN,
        DeviceState::Ok,
        &[(OPER_GI1, 1.0)],
        &[],
    ));
    for i in 11..20 {
        actions.extend(poll(
            &mut e,
            i * MIN,
            DeviceState::Ok,
            &[(OPER_GI1, 0.0)],
            &["Gi0/1"],
        ));
    }
    assert!(actions.is_empty(), "{actions:#?}");
}

#[test]
fn interface_utilisation_opens_after_fifteen_minutes_and_clears_below_seventy() {
    let mut e = engine("");
    let util = "interface.out_utilisation_percent{if=Gi0/1}";
    let mut actions = Vec::new();
    for i in 0..15 {
        actions.extend(poll(&mut e, i * MIN, DeviceState::Ok, &[(util, 95.0)], &[]));
    }
    assert!(actions.is_empty(), "{actions:#?}");
    let opened = poll(&mut e, 15 * MIN, DeviceState::Ok, &[(util, 95.0)], &[]);
    let open = only(&opened, ActionKind::Open);
    assert_eq!(open.key.rule, "interface-out-utilisation");
    assert_eq!(open.key.subject, "Gi0/1");
    assert_eq!(open.title, "interface-out-utilisation on sw1 (Gi0/1)");
    // Between the clear value and the threshold it stays open.
    assert!(poll(&mut e, 16 * MIN, DeviceState::Ok, &[(util, 80.0)], &[]).is_empty());
    let resolved = poll(&mut e, 17 * MIN, DeviceState::Ok, &[(util, 60.0)], &[]);
    assert_eq!(only(&resolved, ActionKind::Resolve).incident, open.incident);
}

#[test]
fn a_hold_ending_at_a_poll_that_comes_a_little_early_opens_at_that_poll() {
    let mut e = engine("");
    // Polls a minute apart, each a few milliseconds earlier than due.
    assert!(poll(&mut e, 0, DeviceState::Ok, &[(OPER_GI1, 1.0)], &[]).is_empty());
    assert!(poll(&mut e, MIN - 3, DeviceState::Ok, &[(OPER_GI1, 0.0)], &[]).is_empty());
    assert!(
        poll(
            &mut e,
            2 * MIN - 6,
            DeviceState::Ok,
            &[(OPER_GI1, 0.0)],
            &[]
        )
        .is_empty()
    );
    // Down for 2 min less 6 ms: the two-minute hold is over at this poll,
    // not one poll later.
    let opened = poll(
        &mut e,
        3 * MIN - 9,
        DeviceState::Ok,
        &[(OPER_GI1, 0.0)],
        &[],
    );
    assert_eq!(only(&opened, ActionKind::Open).key.rule, "interface-down");
}

#[test]
fn interface_errors_open_after_ten_minutes_naming_the_other_end() {
    let mut e = engine("");
    let peers = [crate::records::device::InterfacePeer {
        interface: "Gi0/1".into(),
        neighbour: "core-sw".into(),
        port: "Te1/0/7".into(),
        seen_at: at(0),
        current: true,
    }];
    let feed = |e: &mut Engine, t: i64, series: &str, v: f64| {
        let values = vec![(series.to_owned(), v)];
        let polled = DevicePolled {
            device: "sw1",
            state: DeviceState::Ok,
            values: &values,
            admin_down: &[],
            peers: &peers,
        };
        e.on_device_poll(SW, at(t), &polled)
    };
    let errors = "interface.in_errors_per_second{if=Gi0/1}";
    let discards = "interface.out_discards_per_second{if=Gi0/2}";
    let mut actions = Vec::new();
    for i in 0..10 {
        actions.extend(feed(&mut e, i * MIN, errors, 4.0));
        // Discards below their threshold open nothing, however long.
        actions.extend(feed(&mut e, i * MIN, discards, 9.0));
    }
    assert!(actions.is_empty(), "{actions:#?}");
    let opened = feed(&mut e, 10 * MIN, errors, 4.0);
    let open = only(&opened, ActionKind::Open);
    assert_eq!(open.key.rule, "interface-in-errors");
    assert_eq!(open.title, "interface-in-errors on sw1 (Gi0/1)");
    assert!(
        open.description
            .contains("At its other end: core-sw, port Te1/0/7 (reported by LLDP/CDP at "),
        "{}",
        open.description
    );
    // Half an error a second is still too many to clear; a fifth clears.
    assert!(feed(&mut e, 11 * MIN, errors, 0.5).is_empty());
    let resolved = feed(&mut e, 12 * MIN, errors, 0.1);
    assert_eq!(only(&resolved, ActionKind::Resolve).incident, open.incident);
    // Discards above 10 a second for 10 minutes open their own rule.
    let mut actions = Vec::new();
    for i in 20..=30 {
        actions.extend(feed(&mut e, i * MIN, discards, 25.0));
    }
    let open = only(&actions, ActionKind::Open);
    assert_eq!(open.key.rule, "interface-out-discards");
    assert_eq!(open.key.subject, "Gi0/2");
    // No neighbour is known on Gi0/2: none is named.
    assert!(
        !open.description.contains("other end"),
        "{}",
        open.description
    );
}

#[test]
fn disabled_device_rules_open_nothing() {
    let mut e = engine(
        "[rule.device-unreachable]\nenabled = false\n[rule.interface-down]\nenabled = false\n",
    );
    let mut actions = Vec::new();
    actions.extend(poll(&mut e, 0, DeviceState::Ok, &[(OPER_GI1, 1.0)], &[]));
    for i in 1..10 {
        actions.extend(poll(
            &mut e,
            i * MIN,
            DeviceState::Timeout,
            &[(OPER_GI1, 0.0)],
            &[],
        ));
    }
    assert!(actions.is_empty(), "{actions:#?}");
}

#[test]
fn a_device_part_replaced_or_removed_opens_the_hardware_change_incident() {
    use crate::records::device::DeviceChangeItem;
    let mut e = engine("");
    assert!(poll(&mut e, 0, DeviceState::Ok, &[], &[]).is_empty());
    // A new firmware is no hardware change.
    let firmware = [DeviceChangeItem::FirmwareChanged {
        index: 2,
        name: "Slot 1".into(),
        before: "1.0 / 4.2".into(),
        after: "1.1 / 4.2".into(),
    }];
    assert!(e.on_device_changes(SW, at(MIN), &firmware).is_empty());
    let swapped = [DeviceChangeItem::SerialChanged {
        index: 2,
        name: "Slot 1".into(),
        before: "SN-A1".into(),
        after: "SN-B7".into(),
    }];
    let opened = e.on_device_changes(SW, at(2 * MIN), &swapped);
    assert_eq!(
        kinds(&opened),
        [ActionKind::Open, ActionKind::Notify(NotifyEvent::Opened)]
    );
    assert_eq!(opened[0].key.rule, "hardware-change");
    assert_eq!(opened[0].key.asset, SW);
    assert!(
        opened[0]
            .description
            .contains("hardware-replaced: Slot 1 (entity 2) replaced: serial SN-A1 → SN-B7"),
        "{}",
        opened[0].description
    );
    let removed = [DeviceChangeItem::ModuleRemoved {
        index: 3,
        name: "Slot 2 (X-48G)".into(),
        serial: "SN-C3".into(),
    }];
    let more = e.on_device_changes(SW, at(3 * MIN), &removed);
    assert!(
        more.iter().any(|a| a
            .description
            .contains("module-removed: Slot 2 (X-48G) (entity 3) removed")),
        "{more:#?}"
    );
}

/// A trap from `sw1` at `t`.
fn trap(e: &mut Engine, t: i64, oid: &str, interface: Option<(&str, Option<bool>)>) -> Vec<Action> {
    use atalaya_common::model::device::trap::{TrapEvent, TrapInterface, TrapKind, TrapVersion};
    let event = TrapEvent {
        device: "sw1".into(),
        received_at: at(t),
        source: "192.0.2.1:50000".into(),
        version: TrapVersion::V2c,
        inform: false,
        trap_oid: oid.into(),
        kind: TrapKind::of_oid(oid),
        interface: interface.map(|(name, admin_up)| TrapInterface {
            if_index: 1,
            name: Some(name.into()),
            admin_up,
            oper_up: Some(false),
        }),
        uptime_ticks: Some(360_000),
        varbinds: vec![("1.3.6.1.4.1.99999.1.1".into(), "hello".into())],
    };
    e.on_device_trap(SW, at(t), &event)
}

const LINK_DOWN: &str = "1.3.6.1.6.3.1.1.5.3";
const LINK_UP: &str = "1.3.6.1.6.3.1.1.5.4";

#[test]
fn a_link_down_trap_opens_interface_down_at_once_and_link_up_resolves_it() {
    let mut e = engine("");
    // No poll ever saw Gi0/1 up, and the rule holds 120 s: the trap opens it now.
    let opened = trap(&mut e, 0, LINK_DOWN, Some(("Gi0/1", Some(true))));
    let open = only(&opened, ActionKind::Open);
    assert_eq!(open.key.rule, "interface-down");
    assert_eq!(open.key.subject, "Gi0/1");
    assert_eq!(open.title, "interface-down on sw1 (Gi0/1)");
    assert!(
        open.description.contains("sent linkDown"),
        "{}",
        open.description
    );
    // A poll that still sees it down changes nothing; another linkDown neither.
    assert!(poll(&mut e, MIN, DeviceState::Ok, &[(OPER_GI1, 0.0)], &[]).is_empty());
    assert!(trap(&mut e, 2 * MIN, LINK_DOWN, Some(("Gi0/1", Some(true)))).is_empty());
    let resolved = trap(&mut e, 3 * MIN, LINK_UP, Some(("Gi0/1", Some(true))));
    let r = only(&resolved, ActionKind::Resolve);
    assert_eq!(r.incident, open.incident);
    assert!(r.description.contains("up again"), "{}", r.description);
    assert_eq!(open_count(&e), 0);
    // A linkUp of an interface never down opens nothing.
    assert!(trap(&mut e, 4 * MIN, LINK_UP, Some(("Gi0/2", None))).is_empty());
}

#[test]
fn a_link_down_of_an_interface_shut_by_an_operator_is_no_fault() {
    let mut e = engine("");
    assert!(trap(&mut e, 0, LINK_DOWN, Some(("Gi0/1", Some(false)))).is_empty());
    let opened = trap(&mut e, MIN, LINK_DOWN, Some(("Gi0/1", Some(true))));
    only(&opened, ActionKind::Open);
    let shut = trap(&mut e, 2 * MIN, LINK_DOWN, Some(("Gi0/1", Some(false))));
    let r = only(&shut, ActionKind::Resolve);
    assert!(r.description.contains("operator"), "{}", r.description);
}

#[test]
fn the_poll_path_still_resolves_a_link_down_opened_by_a_trap() {
    let mut e = engine("");
    only(
        &trap(&mut e, 0, LINK_DOWN, Some(("Gi0/1", Some(true)))),
        ActionKind::Open,
    );
    let up = poll(
        &mut e,
        MIN,
        DeviceState::Ok,
        &[(OPER_GI1, 1.0), (OPER_GI2, 1.0)],
        &[],
    );
    only(&up, ActionKind::Resolve);
    // A trap older than the poll does not undo what the poll saw.
    assert!(trap(&mut e, MIN / 2, LINK_DOWN, Some(("Gi0/1", Some(true)))).is_empty());
}

#[test]
fn a_restart_trap_opens_a_low_incident_that_resolves_itself() {
    let mut e = engine("");
    let opened = trap(&mut e, 0, "1.3.6.1.6.3.1.1.5.1", None);
    let open = only(&opened, ActionKind::Open);
    assert_eq!(
        (open.key.rule.as_str(), open.severity),
        ("device-restarted", Severity::Info)
    );
    assert!(
        open.description.contains("device up 60 min"),
        "{}",
        open.description
    );
    // A warm start five minutes later counts on it and restarts the wait.
    let again = trap(&mut e, 5 * MIN, "1.3.6.1.6.3.1.1.5.2", None);
    assert_eq!(only(&again, ActionKind::Update).occurrences, 2);
    assert!(e.on_tick(at(14 * MIN)).is_empty());
    let resolved = e.on_tick(at(15 * MIN));
    let r = only(&resolved, ActionKind::Resolve);
    assert_eq!(r.incident, open.incident);
    assert_eq!(open_count(&e), 0);
}

#[test]
fn a_trap_rule_opens_on_its_oid_and_its_clear_oid_resolves_it() {
    let mut e = engine(
        "[rule.lab-alarm]\nkind = \"trap\"\nseverity = \"high\"\noid = \"1.3.6.1.4.1.99999.0.*\"\nclear_oid = \"1.3.6.1.4.1.99999.1.9\"\n",
    );
    assert!(trap(&mut e, 0, "1.3.6.1.4.1.88888.0.1", None).is_empty());
    assert!(trap(&mut e, 0, "1.3.6.1.4.1.99999.1.9", None).is_empty());
    let opened = trap(&mut e, MIN, "1.3.6.1.4.1.99999.0.7", None);
    let open = only(&opened, ActionKind::Open);
    assert_eq!(
        (open.key.rule.as_str(), open.severity),
        ("lab-alarm", Severity::High)
    );
    assert!(
        open.description.contains("1.3.6.1.4.1.99999.1.1 = hello"),
        "{}",
        open.description
    );
    // No resolve_after: time alone does not resolve it.
    assert!(e.on_tick(at(600 * MIN)).is_empty());
    let cleared = trap(&mut e, 601 * MIN, "1.3.6.1.4.1.99999.1.9", None);
    assert_eq!(only(&cleared, ActionKind::Resolve).incident, open.incident);
}
