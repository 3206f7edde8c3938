//! The probe rules in virtual time: `probe-loss` (a threshold on
//! `probe.loss_percent`, per target) and `probe-latency` (a round trip far
//! above its own level, seeded from stored points).

use atalaya_common::model::Timestamp;

use super::rules::{RuleKind, RuleSet};
use super::{Action, ActionKind, Engine, NotifyEvent};

const MIN: i64 = 60_000;
const H: i64 = 60 * MIN;
const T0: i64 = 1_800_000_000_000;
const RTT: &str = "probe.rtt_ms{target=10.0.0.1,kind=icmp}";
const LOSS: &str = "probe.loss_percent{target=10.0.0.1,kind=icmp}";

fn at(ms: i64) -> Timestamp {
    Timestamp(T0 + ms)
}

fn engine(rules: &str) -> Engine {
    Engine::new(RuleSet::parse("rules.toml", rules).unwrap(), 30)
}

/// One point a minute of `series` at `value` from `from` to `to`, inclusive.
fn rounds(e: &mut Engine, series: &str, from: i64, to: i64, value: f64) -> Vec<Action> {
    let mut out = Vec::new();
    let mut t = from;
    while t <= to {
        out.extend(e.on_samples("asset-1", at(t), &[(series.to_owned(), value)]));
        t += MIN;
    }
    out
}

fn kinds(actions: &[Action]) -> Vec<ActionKind> {
    actions.iter().map(|a| a.kind).collect()
}

#[test]
fn sustained_loss_to_a_target_opens_and_clears_below_five_percent() {
    let mut e = engine("");
    assert!(
        rounds(&mut e, LOSS, 0, 4 * MIN, 40.0).is_empty(),
        "pending for 5 min"
    );
    let opened = rounds(&mut e, LOSS, 5 * MIN, 5 * MIN, 40.0);
    assert_eq!(
        kinds(&opened),
        [ActionKind::Open, ActionKind::Notify(NotifyEvent::Opened)]
    );
    assert_eq!(opened[0].key.rule, "probe-loss");
    assert_eq!(opened[0].key.subject, "10.0.0.1,kind=icmp");
    // 10 % is neither loss nor clear: the incident stays.
    assert!(rounds(&mut e, LOSS, 6 * MIN, 8 * MIN, 10.0).is_empty());
    let resolved = rounds(&mut e, LOSS, 9 * MIN, 9 * MIN, 0.0);
    assert_eq!(resolved[0].kind, ActionKind::Resolve);
    // Another target's loss is its own incident.
    let other = "probe.loss_percent{target=10.0.0.2,kind=icmp}";
    rounds(&mut e, other, 20 * MIN, 30 * MIN, 100.0);
    assert_eq!(e.open_incidents().len(), 1);
    assert_eq!(e.open_incidents()[0].key.subject, "10.0.0.2,kind=icmp");
}

#[test]
fn the_hold_of_probe_loss_is_set_by_overriding_the_rule() {
    let mut e = engine("[rule.probe-loss]\nfor_seconds = 0\n");
    let opened = rounds(&mut e, LOSS, 0, 0, 100.0);
    assert_eq!(opened[0].kind, ActionKind::Open);
}

#[test]
fn latency_far_above_its_seeded_level_opens_after_the_hold() {
    let mut e = engine("");
    // Six hours of 10 ms rounds, as the store would give them.
    let history: Vec<(Timestamp, f64)> = (0..6 * 60).map(|m| (at(m * MIN), 10.0)).collect();
    let now = 6 * H;
    let points = [(RTT.to_owned(), 10.0)];
    assert_eq!(e.unseeded("asset-1", &points), [(RTT.to_owned(), 24)]);
    e.seed_baseline("asset-1", RTT, at(now), &history);
    assert!(e.unseeded("asset-1", &points).is_empty());
    // 25 ms is 2.5×: not far enough; 45 ms is 4.5× and +35 ms.
    assert!(rounds(&mut e, RTT, now, now + 10 * MIN, 25.0).is_empty());
    let start = now + 11 * MIN;
    assert!(rounds(&mut e, RTT, start, start + 4 * MIN, 45.0).is_empty());
    let opened = rounds(&mut e, RTT, start + 5 * MIN, start + 5 * MIN, 45.0);
    assert_eq!(kinds(&opened)[0], ActionKind::Open, "{opened:?}");
    assert_eq!(opened[0].key.rule, "probe-latency");
    assert!(
        opened[0].description.contains(
            "probe.rtt_ms{target=10.0.0.1,kind=icmp} is 45; its usual level (median of the hourly medians over 24 h) is 10."
        ),
        "{}",
        opened[0].description
    );
    // 30 ms is within 2× + margin (≤ 10 + 20): clear.
    let resolved = rounds(&mut e, RTT, start + 6 * MIN, start + 6 * MIN, 30.0);
    assert_eq!(resolved[0].kind, ActionKind::Resolve);
}

#[test]
fn a_tiny_level_needs_the_margin_and_no_history_fires_nothing() {
    let mut e = engine("[rule.probe-latency]\nfor_seconds = 0\n");
    // No history: the level is unknown for the first 3 hours.
    assert!(rounds(&mut e, RTT, 0, 2 * H, 500.0).is_empty());
    let mut e = engine("[rule.probe-latency]\nfor_seconds = 0\n");
    let history: Vec<(Timestamp, f64)> = (0..4 * 60).map(|m| (at(m * MIN), 0.3)).collect();
    e.seed_baseline("asset-1", RTT, at(4 * H), &history);
    // 5 ms is 16× a 0.3 ms level but only 4.7 ms above it.
    assert!(rounds(&mut e, RTT, 4 * H, 4 * H + 10 * MIN, 5.0).is_empty());
    let opened = rounds(&mut e, RTT, 4 * H + 11 * MIN, 4 * H + 11 * MIN, 25.0);
    assert_eq!(opened[0].kind, ActionKind::Open);
}

#[test]
fn baseline_rules_are_checked_when_read() {
    let set = RuleSet::parse(
        "rules.toml",
        "[rule.probe-latency]\nfactor = 5\nmargin = 50\nwindow_hours = 48\n",
    )
    .unwrap();
    let Some(RuleKind::Baseline(b)) = set.get("probe-latency").map(|r| &r.kind) else {
        panic!("probe-latency is a baseline rule");
    };
    assert_eq!(
        (b.factor, b.margin, b.window_hours, b.clear_factor),
        (5.0, 50.0, 48, 2.0)
    );
    let errors = RuleSet::parse("rules.toml", "[rule.probe-latency]\nclear_factor = 4\n")
        .unwrap_err()
        .0
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>();
    assert_eq!(
        errors,
        [
            "rules.toml:2:16: `rule.probe-latency.clear_factor`: clear_factor 4 must be at most factor 3: the incident clears when the value is back under it"
        ]
    );
    let errors = RuleSet::parse(
        "rules.toml",
        "[rule.slow-dns]\nkind = \"baseline\"\nseries = \"probe.rtt_ms\"\nsubjects = [\"*kind=dns\"]\nmin_hours = 30\nwindow_hours = 12\n",
    )
    .unwrap_err();
    assert!(
        errors.0[0]
            .to_string()
            .contains("min_hours 30 is more than the 12 hours of window_hours"),
        "{errors}"
    );
}
