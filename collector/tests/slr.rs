//! The service-level report over a real store, desk and API on loopback:
//! November 2026 over a fixture of eight incidents whose figures are
//! worked out by hand (the same as the unit tests of
//! `incidents::slr`), host names and the fleet from stored snapshots; a
//! resolution through the API with a knowledge-base article counted in
//! today's report; the `atalaya report slr` command in table, CSV and
//! JSON; bad periods refused naming the parameter.
#![allow(clippy::unwrap_used)]

mod support;

use std::sync::Arc;

use atalaya_collector::api::{self, AdminActions, ApiState};
use atalaya_collector::capacity::Day;
use atalaya_collector::desk::{Desk, LogHooks};
use atalaya_collector::incidents::RuleSet;
use atalaya_collector::incidents::sla::SlaPolicies;
use atalaya_collector::incidents::slr::{Slr, Target};
use atalaya_collector::records::incident::{
    IncidentRecord, KbSolution, Priority, SYSTEM, Severity, Status, TimelineEntry,
};
use atalaya_collector::store::{Ingest, IngestRecord, Role, Store};
use atalaya_collector::telemetry::Telemetry;
use atalaya_common::model::{Interface, InterfaceKind, Inventory, Timestamp};
use atalaya_common::proto;
use serde_json::{Value, json};

const MIN: i64 = 60_000;
const H: i64 = 3_600_000;
const D: i64 = 86_400_000;

struct FakeAdmin;

impl AdminActions for FakeAdmin {
    fn agent_revoked(&self, _id: &str) {}
    fn collector_address(&self) -> String {
        "collector.example:4433".to_owned()
    }
    fn ca_sha256(&self) -> [u8; 32] {
        [7; 32]
    }
}

/// 2026-11-01T00:00:00Z.
fn s() -> i64 {
    Day::parse("2026-11-01").unwrap().start_ms()
}

fn host(name: &str, mac: &str) -> Inventory {
    let mut inv = Inventory::default();
    inv.host.hostname = name.into();
    inv.host.machine_id = Some(format!("mid-{name}"));
    inv.network.interfaces.push(Interface {
        name: "eth0".into(),
        mac: Some(mac.into()),
        kind: InterfaceKind::Physical,
        state: "up".into(),
        ..Interface::default()
    });
    inv.canonicalize();
    inv
}

/// An incident opened at `opened` (ms from 2026-11-01) with the default
/// policies' targets (wall clock), then `events` at their times.
fn inc(
    id: u64,
    p: Priority,
    rule: &str,
    asset: &str,
    opened: i64,
    events: &[(&str, i64)],
) -> IncidentRecord {
    let at = s() + opened;
    let (ack, res) = match p {
        Priority::P1 => (15 * MIN, 4 * H),
        Priority::P2 => (30 * MIN, 8 * H),
        Priority::P3 => (4 * H, 30 * H),
        Priority::P4 => (10 * H, 50 * H),
    };
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
                let (event, text) = KbSolution {
                    article: 9,
                    confirmed: kb == "kb_suggested",
                    suggested: kb == "kb_suggested",
                }
                .entry();
                rec.log(t, "ana", event, text);
            }
        }
    }
    rec
}

/// November's incidents (see `incidents/slr/tests.rs` for each one's story).
fn fixture(web: &str, db: &str) -> Vec<IncidentRecord> {
    let mut v = vec![
        inc(
            1,
            Priority::P1,
            "agent-offline",
            web,
            D,
            &[("ack", D + 10 * MIN), ("resolved", D + 2 * H)],
        ),
        inc(
            2,
            Priority::P1,
            "agent-offline",
            web,
            2 * D,
            &[
                ("ack", 2 * D + 30 * MIN),
                ("resolved", 2 * D + 6 * H),
                ("reopened", 2 * D + 12 * H),
                ("resolved", 2 * D + 13 * H),
            ],
        ),
        inc(
            3,
            Priority::P2,
            "filesystem-full",
            db,
            -2 * D,
            &[("ack", -2 * D + 10 * MIN), ("resolved", 4 * D)],
        ),
        inc(4, Priority::P3, "filesystem-full", db, 19 * D + 10 * H, &[]),
        inc(
            5,
            Priority::P4,
            "device-unreachable",
            "device-1",
            29 * D + 20 * H,
            &[("resolved", 31 * D + 8 * H)],
        ),
        inc(
            6,
            Priority::P2,
            "memory-pressure",
            "asset-99",
            -60 * D,
            &[("resolved", -59 * D)],
        ),
        inc(
            7,
            Priority::P2,
            "user-report",
            "asset-99",
            9 * D,
            &[
                ("kb_suggested", 9 * D + 5 * MIN),
                ("resolved", 9 * D + 5 * MIN),
            ],
        ),
        inc(
            8,
            Priority::P2,
            "filesystem-full",
            db,
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

struct Setup {
    base: String,
    viewer: String,
    helpdesk: String,
    store: Arc<Store>,
    web: String,
    db: String,
    _dir: tempfile::TempDir,
    _rt: tokio::runtime::Runtime,
}

fn start() -> Setup {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(Store::open(&dir.path().join("store.redb")).unwrap());
    let now = Timestamp::now();
    let snapshots: Vec<Ingest> = [
        ("ag-web", "web-01"),
        ("ag-db", "db-01"),
        ("ag-lab", "lab-01"),
    ]
    .iter()
    .enumerate()
    .map(|(i, (agent, name))| Ingest {
        agent_id: (*agent).into(),
        received_at: Timestamp(s() - 90 * D),
        record: IngestRecord::Snapshot(proto::InventorySnapshot {
            seq: 1,
            taken_at: Timestamp(s() - 90 * D),
            inventory: host(name, &format!("52:54:00:00:00:0{i}")),
        }),
    })
    .collect();
    store.commit(&snapshots).unwrap();
    let id_of = |name: &str| store.hostnames_from(name).unwrap()[0].1.clone();
    let (web, db) = (id_of("web-01"), id_of("db-01"));
    let txn = store.begin_desk().unwrap();
    for rec in fixture(&web, &db) {
        txn.put_incident(&rec).unwrap();
    }
    txn.commit().unwrap();

    let (viewer_rec, viewer) = api::new_api_token("manager", Role::Viewer, now);
    store.add_api_token(&viewer_rec).unwrap();
    let (desk_rec, helpdesk) = api::new_api_token("ana", Role::Helpdesk, now);
    store.add_api_token(&desk_rec).unwrap();
    let desk = Arc::new(
        Desk::new(
            Arc::clone(&store),
            RuleSet::default(),
            None,
            30,
            SlaPolicies::default(),
            Arc::new(LogHooks),
            now,
        )
        .unwrap(),
    );
    let state = ApiState {
        store: Arc::clone(&store),
        telemetry: Arc::new(Telemetry::default()),
        admin: Arc::new(FakeAdmin),
        desk: Some(desk),
        calls: Default::default(),
    };
    let (base, rt) = support::serve(state);
    Setup {
        base,
        viewer,
        helpdesk,
        store,
        web,
        db,
        _dir: dir,
        _rt: rt,
    }
}

impl Setup {
    fn call(&self, method: &str, path: &str, token: &str, body: Option<Value>) -> (u16, String) {
        let url = format!("{}{path}", self.base);
        let auth = format!("Bearer {token}");
        let http = support::http();
        let mut resp = match body {
            Some(b) if method == "POST" => http
                .post(&url)
                .header("Authorization", &auth)
                .header("Content-Type", "application/json")
                .send(b.to_string())
                .unwrap(),
            _ => http
                .get(&url)
                .header("Authorization", &auth)
                .call()
                .unwrap(),
        };
        let status = resp.status().as_u16();
        (status, resp.body_mut().read_to_string().unwrap())
    }

    fn slr(&self, query: &str) -> Slr {
        let (status, body) = self.call(
            "GET",
            &format!("/api/v1/reports/slr?{query}"),
            &self.viewer,
            None,
        );
        assert_eq!(status, 200, "{query}: {body}");
        serde_json::from_str(&body).unwrap()
    }
}

#[test]
fn the_slr_of_november_through_the_api_and_the_cli() {
    let f = start();
    let r = f.slr("month=2026-11");
    assert!(r.complete);
    assert_eq!(r.period.first.to_string(), "2026-11-01");
    assert_eq!(r.period.last.to_string(), "2026-11-30");
    assert_eq!(
        (
            r.total.opened,
            r.total.resolved,
            r.total.open_at_end,
            r.open_at_start
        ),
        (6, 5, 2, 1)
    );
    let counts =
        |rows: &[atalaya_collector::incidents::slr::CountRow]| -> Vec<(String, u64, u64, u64)> {
            rows.iter()
                .map(|c| (c.key.clone(), c.opened, c.resolved, c.open_at_end))
                .collect()
        };
    assert_eq!(
        counts(&r.by_priority),
        [
            ("P1".into(), 2, 2, 0),
            ("P2".into(), 2, 3, 0),
            ("P3".into(), 1, 0, 1),
            ("P4".into(), 1, 0, 1)
        ]
    );
    // Categories come from the desk's rules.
    assert_eq!(
        counts(&r.by_category),
        [
            ("threshold".into(), 2, 2, 1),
            ("absence".into(), 2, 2, 0),
            ("device-state".into(), 1, 0, 1),
            ("user-report".into(), 1, 1, 0)
        ]
    );
    let all = &r.times[0];
    assert_eq!(all.priority, "all");
    assert_eq!(
        (all.mean_acknowledge_seconds, all.p90_acknowledge_seconds),
        (Some(900.0), Some(1800.0))
    );
    assert_eq!(
        (all.mean_resolve_seconds, all.p90_resolve_seconds),
        (Some(14475.0), Some(46800.0))
    );
    let pct: Vec<(Option<f64>, Option<f64>)> = r
        .sla
        .iter()
        .map(|s| (s.acknowledge.percent, s.resolve.percent))
        .collect();
    assert_eq!(
        pct,
        [
            (Some(50.0), Some(50.0)),
            (Some(100.0), Some(100.0)),
            (Some(0.0), Some(0.0)),
            (None, None)
        ]
    );
    let breaches: Vec<(u64, Target, f64)> = r
        .breaches
        .iter()
        .map(|b| (b.incident, b.target, b.late_seconds))
        .collect();
    assert_eq!(
        breaches,
        [
            (4, Target::Resolve, 806_400.0),
            (4, Target::Acknowledge, 900_000.0),
            (2, Target::Resolve, 32_400.0),
            (2, Target::Acknowledge, 900.0)
        ]
    );
    assert_eq!(r.breaches[0].hostname.as_deref(), Some("db-01"));
    assert_eq!(r.backlog.len(), 30);
    assert_eq!(r.backlog.iter().map(|d| d.open).max(), Some(2));
    // web-01 down 9 h of 720, device-1 4 h; three hosts and the device.
    let a = &r.availability;
    assert_eq!(a.assets[0].hostname.as_deref(), Some("web-01"));
    assert_eq!(a.assets[0].percent, 98.75);
    assert_eq!(a.assets[1].asset, "device-1");
    assert_eq!(a.fleet_assets, 3);
    let fleet = (98.75 + 100.0 - 100.0 / 180.0 + 100.0) / 3.0;
    assert!((a.fleet_mean_percent.unwrap() - fleet).abs() < 1e-9);
    assert_eq!(r.recurrent.by_asset[0].rule, "agent-offline");
    assert_eq!(
        r.recurrent.by_asset[0].asset.as_deref(),
        Some(f.web.as_str())
    );
    assert_eq!(r.recurrent.by_asset[0].openings, 3);
    assert_eq!(
        (
            r.kb.with_suggestion,
            r.kb.resolved_with_suggested_article,
            r.kb.solutions_saved
        ),
        (2, 1, 1)
    );
    // The same days given as dates.
    let mut dates = f.slr("from=2026-11-01&to=2026-11-30");
    dates.generated_at = r.generated_at;
    assert_eq!(dates, r);

    // The command line.
    let (ok, out, err) = support::cli(&f.base, &f.viewer, &["report", "slr", "--month", "2026-11"]);
    assert!(ok, "{err}");
    assert!(
        out.starts_with("Service-level report 2026-11-01 to 2026-11-30 (complete;"),
        "{out}"
    );
    assert!(
        out.contains("6 incidents opened, 5 resolved, 2 open at the end (1 open at the start)"),
        "{out}"
    );
    let line = |prefix: &str| -> String {
        out.lines()
            .find(|l| l.trim_start().starts_with(prefix))
            .unwrap_or_else(|| panic!("no line {prefix:?} in\n{out}"))
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" ")
    };
    assert_eq!(line("P1 "), "P1 2 2 0");
    assert_eq!(line("all "), "all 6 5 2");
    assert_eq!(
        line("4 "),
        format!(
            "4 db-01 {} P3 filesystem-full resolve 2026-11-21 16:00 not done 9d 08h",
            f.db
        )
    );
    assert_eq!(line("2026-11-30 "), "2026-11-30 1 0 2");
    assert_eq!(line("web-01 "), format!("web-01 {} 2 9h 00m 98.8", f.web));

    let (ok, csv, err) = support::cli(
        &f.base,
        &f.viewer,
        &["--csv", "report", "slr", "--month", "2026-11"],
    );
    assert!(ok, "{err}");
    let rows: Vec<&str> = csv.split("\r\n").collect();
    let part = |title: &str| {
        rows.iter()
            .position(|r| *r == title)
            .unwrap_or_else(|| panic!("no part {title} in\n{csv}"))
    };
    let b = part("breaches");
    assert_eq!(
        rows[b + 1],
        "INCIDENT,HOST,ASSET,PRIORITY,RULE,TARGET,DUE,DONE,LATE"
    );
    assert_eq!(
        rows[b + 2],
        format!(
            "4,db-01,{},P3,filesystem-full,resolve,2026-11-21 16:00:00,,806400",
            f.db
        )
    );
    let p = part("SLA compliance");
    assert_eq!(rows[p + 2], "P1,2,1,1,0,50.000,1,1,0,50.000");
    assert!(rows.contains(&"2026-11-03,2,2,1"), "{csv}");

    let (ok, json, err) = support::cli(
        &f.base,
        &f.viewer,
        &["--json", "report", "slr", "--month", "2026-11"],
    );
    assert!(ok, "{err}");
    let v: Value = serde_json::from_str(&json).unwrap();
    assert_eq!(v["total"]["opened"], 6);

    // The printable page: the same figures, every part a table.
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("slr-2026-11.html");
    let (ok, out, err) = support::cli(
        &f.base,
        &f.viewer,
        &[
            "report",
            "slr",
            "--month",
            "2026-11",
            "--html",
            file.to_str().unwrap(),
        ],
    );
    assert!(ok, "{err}");
    assert!(out.contains("written"), "{out}");
    let html = std::fs::read_to_string(&file).unwrap();
    assert!(html.starts_with("<!DOCTYPE html>"), "{html}");
    assert!(html.contains("@media print"), "it has print rules");
    assert!(
        html.contains("6 incidents opened, 5 resolved, 2 open at the end (1 open at the start)"),
        "{html}"
    );
    assert!(html.matches("<table>").count() >= 5, "{html}");

    let (ok, _, err) = support::cli(&f.base, &f.viewer, &["report", "slr", "--month", "2026-13"]);
    assert!(!ok);
    assert!(
        err.contains("month") && err.contains("`2026-13` is not a month YYYY-MM"),
        "{err}"
    );
    drop(f.store);
}

#[test]
fn bad_periods_are_refused_naming_the_parameter() {
    let f = start();
    for (query, param, says) in [
        ("month=2026-13", "month", "`2026-13` is not a month YYYY-MM"),
        ("month=2026-11&from=2026-11-01", "month", "not both"),
        ("to=2026-11-30", "from", "`to` needs `from`"),
        ("from=2026-11-31", "from", "`2026-11-31` is not a date"),
        (
            "from=2026-11-01&to=2026-10-01",
            "from",
            "ends (2026-10-01) before it starts",
        ),
        ("month=2999-01", "from", "after today"),
        ("week=3", "", "week"),
    ] {
        let (status, body) = f.call(
            "GET",
            &format!("/api/v1/reports/slr?{query}"),
            &f.viewer,
            None,
        );
        assert_eq!(status, 400, "{query}: {body}");
        assert!(
            body.contains(param) && body.contains(says),
            "{query}: {body}"
        );
    }
    let (status, _) = f.call(
        "GET",
        "/api/v1/reports/slr?month=2026-11",
        "not-a-token",
        None,
    );
    assert_eq!(status, 401);
}

#[test]
fn a_resolution_with_a_kb_article_counts_in_the_report_of_today() {
    let f = start();
    let (status, body) = f.call(
        "POST",
        "/api/v1/kb",
        &f.helpdesk,
        Some(
            json!({"title": "Agent stopped", "solution": "systemctl restart atalaya-agent",
                    "signature": {"rule": "agent-offline"}}),
        ),
    );
    assert_eq!(status, 201, "{body}");
    let article: Value = serde_json::from_str(&body).unwrap();
    let now = Timestamp::now();
    let mut rec = inc(
        9,
        Priority::P1,
        "agent-offline",
        &f.web,
        now.0 - 10 * MIN - s(),
        &[],
    );
    rec.kb_articles = vec![article["id"].to_string()];
    let txn = f.store.begin_desk().unwrap();
    txn.put_incident(&rec).unwrap();
    txn.commit().unwrap();
    let (status, body) = f.call(
        "POST",
        "/api/v1/incidents/9/resolve",
        &f.helpdesk,
        Some(json!({"kb_article": article["id"]})),
    );
    assert_eq!(status, 200, "{body}");
    let opened = Day::of_ms(rec.opened_at.0).unwrap();
    let r = f.slr(&format!("from={opened}"));
    assert!(!r.complete);
    assert_eq!(r.total.opened, 1);
    assert_eq!(
        (
            r.kb.with_suggestion,
            r.kb.resolved,
            r.kb.resolved_with_article,
            r.kb.resolved_with_suggested_article
        ),
        (1, 1, 1, 1)
    );
    assert_eq!(r.kb.suggestion_success_percent, Some(100.0));
    // Opened 10 minutes ago with a 15-minute target: met.
    assert_eq!(r.sla[0].acknowledge.breached + r.sla[0].resolve.breached, 0);
    assert_eq!(r.sla[0].resolve.met, 1);
}
