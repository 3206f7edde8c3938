//! The report of November 2026 over eight incidents whose figures are
//! worked out by hand below, and of the first days of December.
#![allow(clippy::unwrap_used)]

use super::*;
use crate::records::incident::{SYSTEM, Severity, Status, TimelineEntry};

const MIN: i64 = 60_000;
const H: i64 = 3_600_000;
const D: i64 = 86_400_000;

/// 2026-11-01T00:00:00Z.
fn s() -> i64 {
    Day::parse("2026-11-01").unwrap().start_ms()
}

/// (acknowledge, resolve) targets of a priority, as the default policies
/// (wall clock here).
fn targets(p: Priority) -> (i64, i64) {
    match p {
        Priority::P1 => (15 * MIN, 4 * H),
        Priority::P2 => (30 * MIN, 8 * H),
        Priority::P3 => (4 * H, 30 * H),
        Priority::P4 => (10 * H, 50 * H),
    }
}

/// An incident opened at `opened` (ms from 2026-11-01), then `events`
/// (`ack`, `resolved`, `reopened`, `kb_*`) at their times; its status
/// follows them.
fn inc(
    id: u64,
    p: Priority,
    rule: &str,
    asset: &str,
    opened: i64,
    events: &[(&str, i64)],
) -> IncidentRecord {
    let at = s() + opened;
    let (ack, res) = targets(p);
    let mut rec = IncidentRecord {
        id,
        asset: asset.into(),
        rule: rule.into(),
        subject: String::new(),
        title: format!("{rule} on {asset}"),
        description: String::new(),
        severity: Severity::High,
        priority: p,
        status: Status::Open,
        level: 1,
        assignee: None,
        occurrences: 1,
        flapping: false,
        opened_at: Timestamp(at),
        stored_at: Timestamp(at),
        acknowledged_at: None,
        resolved_at: None,
        closed_at: None,
        acknowledge_due: Timestamp(at + ack),
        at_risk_at: Timestamp(at + ack * 8 / 10),
        resolve_due: Timestamp(at + res),
        acknowledge_breached: false,
        resolve_breached: false,
        solution: None,
        kb_articles: Vec::new(),
        timeline: vec![TimelineEntry {
            at: Timestamp(at),
            author: SYSTEM.into(),
            event: "opened".into(),
            text: "opened".into(),
        }],
    };
    for &(event, t) in events {
        let t = Timestamp(s() + t);
        match event {
            "ack" => {
                rec.status = Status::Acknowledged;
                rec.acknowledged_at.get_or_insert(t);
                rec.log(t, "ana", "acknowledged", "acknowledged by ana");
            }
            "resolved" => {
                rec.status = Status::Resolved;
                rec.resolved_at = Some(t);
                rec.log(t, SYSTEM, "resolved", "resolved");
            }
            "reopened" => {
                rec.status = Status::Open;
                rec.resolved_at = None;
                rec.log(t, SYSTEM, "reopened", "reopened");
            }
            kb => {
                let (confirmed, suggested) = match kb {
                    "kb_suggested" => (true, true),
                    "kb_other" => (true, false),
                    _ => (false, false),
                };
                let (event, text) = KbSolution {
                    article: 9,
                    confirmed,
                    suggested,
                }
                .entry();
                rec.log(t, "ana", event, text);
            }
        }
    }
    rec
}

fn fixture() -> Vec<IncidentRecord> {
    let mut v = vec![
        // Nov 2: acknowledged in 10 min, resolved in 2 h: both met.
        inc(
            1,
            Priority::P1,
            "agent-offline",
            "asset-1",
            D,
            &[("ack", D + 10 * MIN), ("resolved", D + 2 * H)],
        ),
        // Nov 3: acknowledged in 30 min (15 late), resolved after 6 h,
        // back from 12:00 to 13:00: resolved 9 h late.
        inc(
            2,
            Priority::P1,
            "agent-offline",
            "asset-1",
            2 * D,
            &[
                ("ack", 2 * D + 30 * MIN),
                ("resolved", 2 * D + 6 * H),
                ("reopened", 2 * D + 12 * H),
                ("resolved", 2 * D + 13 * H),
            ],
        ),
        // Oct 30 to Nov 5: open when November started.
        inc(
            3,
            Priority::P2,
            "filesystem-full",
            "asset-2",
            -2 * D,
            &[("ack", -2 * D + 10 * MIN), ("resolved", 4 * D)],
        ),
        // Nov 20 10:00, never acknowledged, open until now: both targets breached.
        inc(
            4,
            Priority::P3,
            "filesystem-full",
            "asset-2",
            19 * D + 10 * H,
            &[],
        ),
        // Nov 30 20:00 to Dec 2 08:00: both targets due after November.
        inc(
            5,
            Priority::P4,
            "device-unreachable",
            "device-1",
            29 * D + 20 * H,
            &[("resolved", 31 * D + 8 * H)],
        ),
        // September: nothing to do with November.
        inc(
            6,
            Priority::P2,
            "memory-pressure",
            "asset-3",
            -60 * D,
            &[("resolved", -59 * D)],
        ),
        // Nov 10: resolved in 5 min without an acknowledgement, with the
        // article suggested at opening.
        inc(
            7,
            Priority::P2,
            "user-report",
            "asset-3",
            9 * D,
            &[
                ("kb_suggested", 9 * D + 5 * MIN),
                ("resolved", 9 * D + 5 * MIN),
            ],
        ),
        // Nov 12: acknowledged in 5 min, resolved in 1 h, the solution saved.
        inc(
            8,
            Priority::P2,
            "filesystem-full",
            "asset-2",
            11 * D,
            &[
                ("ack", 11 * D + 5 * MIN),
                ("kb_saved", 11 * D + H),
                ("resolved", 11 * D + H),
            ],
        ),
    ];
    v[0].kb_articles = vec!["2".into()];
    v[6].kb_articles = vec!["9".into()];
    v[7].kb_articles = vec!["9".into()];
    v
}

fn facts() -> SlrFacts {
    let cat = [
        ("agent-offline", "absence"),
        ("filesystem-full", "threshold"),
        ("device-unreachable", "device-state"),
        ("user-report", "user-report"),
    ];
    SlrFacts {
        categories: cat
            .iter()
            .map(|(r, c)| ((*r).into(), (*c).into()))
            .collect(),
        outage_rules: ["agent-offline".into(), "device-unreachable".into()].into(),
        hostnames: [("asset-1".into(), "web-01".into())].into(),
        fleet_assets: 4,
    }
}

fn november() -> Slr {
    let now = Timestamp(s() + 34 * D);
    slr(Period::month("2026-11").unwrap(), &fixture(), &facts(), now)
}

fn row(key: &str, opened: u64, resolved: u64, open_at_end: u64) -> CountRow {
    CountRow {
        key: key.into(),
        opened,
        resolved,
        open_at_end,
    }
}

#[test]
fn counts_by_priority_rule_and_category() {
    let r = november();
    assert!(r.complete);
    assert_eq!(r.until, Timestamp(s() + 30 * D));
    assert_eq!(r.open_at_start, 1, "incident 3");
    assert_eq!(r.total, row("all", 6, 5, 2));
    assert_eq!(
        r.by_priority,
        [
            row("P1", 2, 2, 0),
            row("P2", 2, 3, 0),
            row("P3", 1, 0, 1),
            row("P4", 1, 0, 1)
        ]
    );
    assert_eq!(
        r.by_rule,
        [
            row("filesystem-full", 2, 2, 1),
            row("agent-offline", 2, 2, 0),
            row("device-unreachable", 1, 0, 1),
            row("user-report", 1, 1, 0),
        ]
    );
    assert_eq!(
        r.by_category,
        [
            row("threshold", 2, 2, 1),
            row("absence", 2, 2, 0),
            row("device-state", 1, 0, 1),
            row("user-report", 1, 1, 0),
        ]
    );
}

#[test]
fn times_to_acknowledge_and_resolve() {
    let r = november();
    let t = |p: &str| r.times.iter().find(|t| t.priority == p).unwrap().clone();
    // Acknowledged: 1 in 600 s, 2 in 1800 s, 8 in 300 s.
    // Resolved: 1 in 7200 s, 2 in 13 h (its last resolution), 7 in 300 s, 8 in 3600 s.
    let all = t("all");
    assert_eq!(all.acknowledged, 3);
    assert_eq!(all.mean_acknowledge_seconds, Some(900.0));
    assert_eq!(all.p90_acknowledge_seconds, Some(1800.0));
    assert_eq!(all.resolved, 4);
    assert_eq!(all.mean_resolve_seconds, Some(14475.0));
    assert_eq!(all.p90_resolve_seconds, Some(46800.0));
    let p1 = t("P1");
    assert_eq!(
        (p1.mean_acknowledge_seconds, p1.mean_resolve_seconds),
        (Some(1200.0), Some(27000.0))
    );
    let p2 = t("P2");
    assert_eq!(
        (
            p2.acknowledged,
            p2.resolved,
            p2.mean_resolve_seconds,
            p2.p90_resolve_seconds
        ),
        (1, 2, Some(1950.0), Some(3600.0))
    );
    assert_eq!(t("P4").resolved, 0, "incident 5 resolved in December");
    assert_eq!(t("P4").mean_resolve_seconds, None);
}

#[test]
fn sla_compliance_and_every_breach() {
    let r = november();
    let c = |met, breached, pending, percent| Compliance {
        met,
        breached,
        pending,
        percent,
    };
    let sla: Vec<(String, u64, Compliance, Compliance)> = r
        .sla
        .iter()
        .map(|s| {
            (
                s.priority.clone(),
                s.incidents,
                s.acknowledge.clone(),
                s.resolve.clone(),
            )
        })
        .collect();
    assert_eq!(
        sla,
        [
            (
                "P1".into(),
                2,
                c(1, 1, 0, Some(50.0)),
                c(1, 1, 0, Some(50.0))
            ),
            // Incident 7 resolved before its acknowledge time: no acknowledgement needed.
            (
                "P2".into(),
                2,
                c(1, 0, 0, Some(100.0)),
                c(2, 0, 0, Some(100.0))
            ),
            ("P3".into(), 1, c(0, 1, 0, Some(0.0)), c(0, 1, 0, Some(0.0))),
            ("P4".into(), 1, c(0, 0, 1, None), c(0, 0, 1, None)),
        ]
    );
    let got: Vec<(u64, Target, i64, Option<i64>, f64)> = r
        .breaches
        .iter()
        .map(|b| {
            (
                b.incident,
                b.target,
                b.due.0 - s(),
                b.done_at.map(|t| t.0 - s()),
                b.late_seconds,
            )
        })
        .collect();
    assert_eq!(
        got,
        [
            // Due Nov 21 16:00, still open at the end of Nov 30: 9 d 8 h late;
            // acknowledge due Nov 20 14:00: 10 d 10 h late.
            (4, Target::Resolve, 20 * D + 16 * H, None, 806_400.0),
            (4, Target::Acknowledge, 19 * D + 14 * H, None, 900_000.0),
            (
                2,
                Target::Resolve,
                2 * D + 4 * H,
                Some(2 * D + 13 * H),
                32_400.0
            ),
            (
                2,
                Target::Acknowledge,
                2 * D + 15 * MIN,
                Some(2 * D + 30 * MIN),
                900.0
            ),
        ]
    );
    assert_eq!(r.breaches[2].hostname.as_deref(), Some("web-01"));
    assert_eq!(r.breaches[0].hostname, None);
}

#[test]
fn backlog_day_by_day() {
    let r = november();
    assert_eq!(r.backlog.len(), 30);
    assert_eq!(r.backlog[0].day.to_string(), "2026-11-01");
    assert_eq!(r.backlog[29].day.to_string(), "2026-11-30");
    let open: Vec<u64> = r.backlog.iter().map(|d| d.open).collect();
    let mut want = vec![0; 30];
    want[0..4].fill(1); // incident 3, to Nov 5
    want[19..30].fill(1); // incident 4, from Nov 20
    want[29] = 2; // and incident 5 on Nov 30
    assert_eq!(open, want);
    let by_day = |f: fn(&BacklogDay) -> u64| -> Vec<(usize, u64)> {
        r.backlog
            .iter()
            .enumerate()
            .filter(|(_, d)| f(d) > 0)
            .map(|(k, d)| (k, f(d)))
            .collect()
    };
    // Incident 2 opened and resolved twice on Nov 3.
    assert_eq!(
        by_day(|d| d.opened),
        [(1, 1), (2, 2), (9, 1), (11, 1), (19, 1), (29, 1)]
    );
    assert_eq!(
        by_day(|d| d.resolved),
        [(1, 1), (2, 2), (4, 1), (9, 1), (11, 1)]
    );
}

#[test]
fn availability_from_outage_incidents() {
    let a = november().availability;
    assert_eq!(a.rules, ["agent-offline", "device-unreachable"]);
    let got: Vec<(&str, u64, f64)> = a
        .assets
        .iter()
        .map(|x| (x.asset.as_str(), x.incidents, x.down_seconds))
        .collect();
    // asset-1: 2 h + 6 h + 1 h; device-1: Nov 30 20:00 to the end, 4 h.
    assert_eq!(got, [("asset-1", 2, 32_400.0), ("device-1", 1, 14_400.0)]);
    assert_eq!(a.assets[0].percent, 98.75);
    assert!((a.assets[1].percent - (100.0 - 100.0 / 180.0)).abs() < 1e-9);
    let affected = (98.75 + 100.0 - 100.0 / 180.0) / 2.0;
    assert!((a.affected_mean_percent.unwrap() - affected).abs() < 1e-9);
    assert_eq!(a.fleet_assets, 4);
    let fleet = (2.0 * affected + 200.0) / 4.0;
    assert!((a.fleet_mean_percent.unwrap() - fleet).abs() < 1e-9);
}

#[test]
fn overlapping_outages_count_once() {
    // Two outage rules on one asset: 10:00–12:00 and 11:00–13:00 are 3 h.
    let v = vec![
        inc(
            1,
            Priority::P1,
            "agent-offline",
            "asset-1",
            10 * H,
            &[("resolved", 12 * H)],
        ),
        inc(
            2,
            Priority::P1,
            "device-unreachable",
            "asset-1",
            11 * H,
            &[("resolved", 13 * H)],
        ),
    ];
    let r = slr(
        Period::month("2026-11").unwrap(),
        &v,
        &facts(),
        Timestamp(s() + 40 * D),
    );
    assert_eq!(r.availability.assets[0].down_seconds, 3.0 * 3600.0);
    assert_eq!(r.availability.assets[0].incidents, 2);
}

#[test]
fn recurrent_problems() {
    let r = november().recurrent;
    let show = |v: &[Recurrence]| -> Vec<(String, Option<String>, u64, u64, u64)> {
        v.iter()
            .map(|x| {
                (
                    x.rule.clone(),
                    x.asset.clone(),
                    x.openings,
                    x.incidents,
                    x.assets,
                )
            })
            .collect()
    };
    assert_eq!(
        show(&r.by_asset),
        [
            ("agent-offline".into(), Some("asset-1".into()), 3, 2, 1),
            ("filesystem-full".into(), Some("asset-2".into()), 2, 2, 1),
        ]
    );
    assert_eq!(r.by_asset[0].hostname.as_deref(), Some("web-01"));
    assert_eq!(
        show(&r.by_rule),
        [
            ("agent-offline".into(), None, 3, 2, 1),
            ("filesystem-full".into(), None, 2, 2, 1)
        ]
    );
}

#[test]
fn knowledge_base_effectiveness() {
    assert_eq!(
        november().kb,
        KbFigures {
            incidents: 6,
            // 1 and 7; 8's article was saved from its solution.
            with_suggestion: 2,
            resolved: 4,
            resolved_with_article: 1,
            resolved_with_suggested_article: 1,
            solutions_saved: 1,
            suggestion_success_percent: Some(50.0),
        }
    );
}

#[test]
fn a_month_not_over_stops_now() {
    let now = Timestamp(s() + 34 * D + 12 * H); // 2026-12-05T12:00Z
    let r = slr(Period::month("2026-12").unwrap(), &fixture(), &facts(), now);
    assert!(!r.complete);
    assert_eq!(r.until, now);
    assert_eq!(r.open_at_start, 2, "incidents 4 and 5");
    assert_eq!(r.total, row("all", 0, 1, 1));
    let open: Vec<u64> = r.backlog.iter().map(|d| d.open).collect();
    assert_eq!(open, [2, 1, 1, 1, 1], "Dec 1 to Dec 5, today up to now");
    // Incident 4's targets were missed in November, not in December.
    assert!(r.breaches.is_empty());
    // device-1 down from Dec 1 00:00 to Dec 2 08:00 of 4.5 days.
    let d = &r.availability.assets[0];
    assert_eq!(
        (d.asset.as_str(), d.down_seconds),
        ("device-1", 32.0 * 3600.0)
    );
    assert!((d.percent - 100.0 * (1.0 - 32.0 / 108.0)).abs() < 1e-9);
}

#[test]
fn periods_parse_and_refuse_with_reasons() {
    let nov = Period::month("2026-11").unwrap();
    assert_eq!(
        (nov.first.to_string(), nov.last.to_string()),
        ("2026-11-01".into(), "2026-11-30".into())
    );
    assert_eq!(nov.end_ms() - nov.start_ms(), 30 * D);
    assert_eq!(
        Period::month("2028-02").unwrap().last.to_string(),
        "2028-02-29"
    );
    assert_eq!(Period::month_of(Timestamp(s() + 3 * D)), nov);
    assert_eq!(Period::month_before(Timestamp(s() + 31 * D)), nov);
    let jan = Timestamp(Day::parse("2027-01-15").unwrap().start_ms());
    assert_eq!(Period::month_before(jan).first.to_string(), "2026-12-01");
    assert_eq!(Period::dates("2026-11-01", "2026-11-30"), Ok(nov));
    let one = Period::dates("2026-11-07", "2026-11-07").unwrap();
    assert_eq!(one.end_ms() - one.start_ms(), D);
    for bad in ["2026-13", "2026-1", "november", "2026-11-01", ""] {
        assert_eq!(
            Period::month(bad).unwrap_err().to_string(),
            format!("`{bad}` is not a month YYYY-MM")
        );
    }
    assert_eq!(
        Period::dates("2026-11-31", "2026-12-01")
            .unwrap_err()
            .to_string(),
        "`2026-11-31` is not a date YYYY-MM-DD"
    );
    assert_eq!(
        Period::dates("2026-11-30", "2026-11-01")
            .unwrap_err()
            .to_string(),
        "the period ends (2026-11-01) before it starts (2026-11-30)"
    );
    assert!(matches!(
        Period::dates("2025-01-01", "2026-11-01"),
        Err(PeriodError::TooLong { .. })
    ));
}

#[test]
fn the_report_serializes_with_dates_as_days() {
    let v = serde_json::to_value(november()).unwrap();
    assert_eq!(v["period"]["first"], "2026-11-01");
    assert_eq!(v["backlog"][0]["day"], "2026-11-01");
    assert_eq!(v["breaches"][0]["target"], "resolve");
    let back: Slr = serde_json::from_value(v).unwrap();
    assert_eq!(back, november());
}

#[test]
fn cases_opened_with_suppliers_are_counted_with_their_times() {
    let case = |supplier: &str, n: &str| {
        SupplierCase {
            supplier: supplier.into(),
            case: n.into(),
        }
        .text()
    };
    // Opened Nov 10: to Dell after 2 h (and again later: counted once),
    // resolved 6 h after the case; opened Nov 12: to Dell after 4 h, to HP
    // after 5 h, not resolved; opened Nov 14: to HP in December (after
    // the period).
    let mut a = inc(21, Priority::P2, "disk-failing", "asset-3", 9 * D, &[]);
    a.log(
        Timestamp(s() + 9 * D + 2 * H),
        "ana",
        SUPPLIER_CASE,
        case("Dell", "SR-1"),
    );
    a.log(
        Timestamp(s() + 9 * D + 3 * H),
        "ana",
        SUPPLIER_CASE,
        case("Dell", "SR-2"),
    );
    a.log(
        Timestamp(s() + 9 * D + 8 * H),
        SYSTEM,
        "resolved",
        "resolved",
    );
    a.status = Status::Resolved;
    a.resolved_at = Some(Timestamp(s() + 9 * D + 8 * H));
    let mut b = inc(22, Priority::P3, "printer-jam", "asset-4", 11 * D, &[]);
    b.log(
        Timestamp(s() + 11 * D + 4 * H),
        "ana",
        SUPPLIER_CASE,
        case("Dell", "SR-3"),
    );
    b.log(
        Timestamp(s() + 11 * D + 5 * H),
        "ana",
        SUPPLIER_CASE,
        case("HP", "C-9"),
    );
    let mut c = inc(23, Priority::P3, "printer-jam", "asset-4", 13 * D, &[]);
    c.log(
        Timestamp(s() + 35 * D),
        "ana",
        SUPPLIER_CASE,
        case("HP", "C-10"),
    );
    // A note that looks like nothing known is left out.
    c.log(Timestamp(s() + 14 * D), "ana", SUPPLIER_CASE, "garbled");
    let r = slr(
        Period::month("2026-11").unwrap(),
        &[a, b, c],
        &facts(),
        Timestamp(s() + 40 * D),
    );
    assert_eq!(
        r.suppliers,
        [
            SupplierCaseRow {
                supplier: "Dell".into(),
                cases: 2,
                mean_seconds_to_case: Some(3.0 * 3600.0),
                resolved: 1,
                mean_seconds_case_to_resolved: Some(6.0 * 3600.0),
            },
            SupplierCaseRow {
                supplier: "HP".into(),
                cases: 1,
                mean_seconds_to_case: Some(5.0 * 3600.0),
                resolved: 0,
                mean_seconds_case_to_resolved: None,
            },
        ]
    );
    assert_eq!(
        SupplierCase::parse(&case("A, case B", "7"))
            .unwrap()
            .supplier,
        "A, case B"
    );
}
