//! Suppliers, contracts, warranties and licences over a real store and
//! API: CSV imports (good, bad and hostile files, each bad one refused
//! whole with every problem named by line and column), supplier names
//! matched to the inventory's makers and package vendors, contract
//! coverage by serial, model, tag and package pattern, warranties and
//! licence compliance on a fleet with known counts, and the `atalaya`
//! commands that print them.
#![allow(clippy::unwrap_used)]

mod support;

use std::sync::Arc;

use atalaya_collector::api::IncidentView;
use atalaya_collector::api::{self, AdminActions, ApiState};
use atalaya_collector::capacity::Day;
use atalaya_collector::desk::suppliers::ImportOutcome;
use atalaya_collector::desk::{Desk, LogHooks};
use atalaya_collector::incidents::RuleSet;
use atalaya_collector::incidents::sla::SlaPolicies;
use atalaya_collector::records::incident::{
    IncidentRecord, Priority, SUPPLIER_CASE, Severity, Status,
};
use atalaya_collector::store::{AgentRecord, IncidentFilter, Ingest, IngestRecord, Role, Store};
use atalaya_collector::suppliers::reports::{
    Compliance, ContractsReport, LicenceRow, Standing, SupplierRow, WarrantyRow, WarrantySource,
};
use atalaya_collector::telemetry::Telemetry;
use atalaya_common::model::{Inventory, Package, Timestamp};
use atalaya_common::proto;
use serde_json::Value;

const DAY_MS: i64 = 86_400_000;

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

struct Fleet {
    base: String,
    admin: String,
    viewer: String,
    store: Arc<Store>,
    desk: Arc<Desk>,
    today: Day,
    _dir: tempfile::TempDir,
    _rt: tokio::runtime::Runtime,
}

fn host(
    name: &str,
    maker: &str,
    model: &str,
    serial: &str,
    packages: &[(&str, &str)],
) -> Inventory {
    let mut inv = Inventory::default();
    inv.host.hostname = name.into();
    inv.host.machine_id = Some(format!("mid-{name}"));
    inv.hardware.system.uuid = Some(format!("uuid-{name}"));
    inv.hardware.system.vendor = Some(maker.into());
    inv.hardware.system.product = Some(model.into());
    inv.hardware.system.serial = Some(serial.into());
    inv.software.manager = Some("dpkg".into());
    inv.software.packages = packages
        .iter()
        .map(|(name, vendor)| Package {
            name: (*name).into(),
            version: "1.0".into(),
            vendor: (!vendor.is_empty()).then(|| (*vendor).to_owned()),
            ..Package::default()
        })
        .collect();
    inv.canonicalize();
    inv
}

/// Four hosts: three Dell servers (two PowerEdge R650, one R740) and an
/// HP desktop; office on three of them, one seen 60 days ago.
fn start() -> Fleet {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(Store::open(&dir.path().join("store.redb")).unwrap());
    let now = Timestamp::now();
    let (admin_rec, admin) = api::new_api_token("ops", Role::Admin, now);
    store.add_api_token(&admin_rec).unwrap();
    let (viewer_rec, viewer) = api::new_api_token("manager", Role::Viewer, now);
    store.add_api_token(&viewer_rec).unwrap();
    let office = ("ms-office-2021", "Microsoft Corporation");
    let fleet = [
        (
            "ag-1",
            0,
            host(
                "web-01",
                "Dell Inc.",
                "PowerEdge R650",
                "SN-WEB1",
                &[
                    office,
                    ("bash", "Debian Bash Maintainers <bash@example.org>"),
                ],
            ),
        ),
        (
            "ag-2",
            0,
            host(
                "web-02",
                "DELL",
                "PowerEdge R650",
                "SN-WEB2",
                &[
                    ("MS-Office-2019", "Microsoft"),
                    ("visio", "Microsoft Corporation"),
                ],
            ),
        ),
        (
            "ag-3",
            0,
            host("db-01", "Dell Inc.", "PowerEdge R740", "SN-DB1", &[office]),
        ),
        (
            "ag-4",
            60,
            host("desk-07", "HP", "EliteDesk 800 G6", "CZC123", &[office]),
        ),
    ];
    for (agent, days_ago, inv) in fleet {
        let at = Timestamp(now.0 - days_ago * DAY_MS);
        store
            .add_agent(&AgentRecord::enrolled(
                agent, agent, "", [1; 32], "0.1.0", at,
            ))
            .unwrap();
        store
            .commit(&[Ingest {
                agent_id: agent.into(),
                received_at: at,
                record: IngestRecord::Snapshot(proto::InventorySnapshot {
                    seq: 1,
                    taken_at: at,
                    inventory: inv,
                }),
            }])
            .unwrap();
    }
    let db = store.agent_asset_id("ag-3").unwrap().unwrap();
    store.set_tags(&db, &["finance".into()]).unwrap();
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
        desk: Some(Arc::clone(&desk)),
        calls: Default::default(),
    };
    let (base, rt) = support::serve(state);
    Fleet {
        base,
        admin,
        viewer,
        store,
        desk,
        today: Day::of_ms(now.0).unwrap(),
        _dir: dir,
        _rt: rt,
    }
}

impl Fleet {
    fn day(&self, days: i32) -> String {
        if days >= 0 {
            self.today.plus_days(days as u32).to_string()
        } else {
            self.today.minus_days(days.unsigned_abs()).to_string()
        }
    }

    fn post_csv(&self, kind: &str, body: &[u8]) -> (u16, String) {
        let mut resp = support::http()
            .post(&format!("{}/api/v1/import/{kind}", self.base))
            .header("Authorization", &format!("Bearer {}", self.admin))
            .header("Content-Type", "text/csv")
            .send(body)
            .unwrap();
        let status = resp.status().as_u16();
        (status, resp.body_mut().read_to_string().unwrap())
    }

    fn import(&self, kind: &str, body: &str) -> ImportOutcome {
        let (status, text) = self.post_csv(kind, body.as_bytes());
        assert_eq!(status, 200, "{kind}: {text}");
        serde_json::from_str(&text).unwrap()
    }

    /// The problems of a refused import, as `line L[, column C]: message`.
    fn refused(&self, kind: &str, body: &[u8]) -> Vec<String> {
        let before = self.store.supplier_book().unwrap();
        let (status, text) = self.post_csv(kind, body);
        assert_eq!(status, 400, "{kind}: {text}");
        assert_eq!(
            self.store.supplier_book().unwrap(),
            before,
            "nothing is taken"
        );
        let v: Value = serde_json::from_str(&text).unwrap();
        v["problems"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| match p["column"].as_str() {
                Some(c) => format!(
                    "line {}, column {c}: {}",
                    p["line"],
                    p["message"].as_str().unwrap()
                ),
                None => format!("line {}: {}", p["line"], p["message"].as_str().unwrap()),
            })
            .collect()
    }

    fn get<T: serde::de::DeserializeOwned>(&self, path: &str) -> T {
        let mut resp = support::http()
            .get(&format!("{}{path}", self.base))
            .header("Authorization", &format!("Bearer {}", self.viewer))
            .call()
            .unwrap();
        let status = resp.status().as_u16();
        let body = resp.body_mut().read_to_string().unwrap();
        assert_eq!(status, 200, "{path}: {body}");
        serde_json::from_str(&body).unwrap()
    }

    fn cli(&self, token: &str, args: &[&str]) -> String {
        let (ok, out, err) = support::cli(&self.base, token, args);
        assert!(ok, "atalaya {args:?}: {err}");
        out
    }

    fn load(&self) {
        let suppliers = "\u{feff}Name,Kind,Phone,E-mail,Account,Aliases,Notes\r\n\
            Dell,hardware-maker,+1 800 000 0000,support@dell.example,ACC-77,,\"ProSupport, next business day\"\r\n\
            Microsoft,software-publisher,,,,,\r\n\
            HP,hardware-maker,,,,Hewlett-Packard;HP Inc,\r\n\
            Debian,software-publisher,,,,Debian Bash Maintainers,\r\n";
        assert_eq!(
            self.import("suppliers", suppliers),
            ImportOutcome {
                added: 4,
                replaced: 0
            }
        );
        let contracts = format!(
            "supplier,number,kind,start,end,notice_days,response_hours,serials,models,tags,software,seats\n\
             dell,W-650,warranty,{a},{soon},30,,,PowerEdge R650,,,\n\
             Dell,PS-1,support,{a},{later},90,4,SN-DB1,,,,\n\
             Dell,W-FIN,warranty,{a},{past},0,,,,finance,,\n\
             Microsoft,EA-9,licence,{a},{later},60,,,,,ms-office-*,2\n\
             Microsoft,VIS,licence,{a},{later},60,,,,,visio,5\n",
            a = self.day(-400),
            soon = self.day(20),
            later = self.day(300),
            past = self.day(-10),
        );
        assert_eq!(
            self.import("contracts", &contracts),
            ImportOutcome {
                added: 5,
                replaced: 0
            }
        );
        let warranties = format!(
            "serial,hostname,supplier,start,end,notes\nczc123,,HP,,{},care pack\n",
            self.day(500)
        );
        assert_eq!(
            self.import("warranties", &warranties),
            ImportOutcome {
                added: 1,
                replaced: 0
            }
        );
    }
}

#[test]
fn imports_match_makers_and_cover_assets() {
    let fleet = start();
    fleet.load();
    // Suppliers matched to makers and package vendors.
    let suppliers: Vec<SupplierRow> = fleet.get("/api/v1/suppliers");
    let find = |name: &str| suppliers.iter().find(|s| s.name == name).unwrap();
    let dell = find("Dell");
    assert_eq!(
        (dell.hardware, dell.contracts, dell.active_contracts),
        (3, 3, 2)
    );
    assert_eq!(
        dell.covered_assets, 3,
        "R650 ×2 by model, db-01 by serial and tag"
    );
    assert_eq!(dell.levels.response_hours, Some(4.0));
    assert_eq!(dell.account.as_deref(), Some("ACC-77"));
    assert_eq!(find("HP").hardware, 1);
    assert_eq!(
        find("Microsoft").software,
        5,
        "office ×4 (any spelling), visio"
    );
    assert_eq!(find("Debian").software, 1, "by the maintainer alias");

    // Contracts by end, with their standing and coverage.
    let report: ContractsReport = fleet.get("/api/v1/contracts");
    let numbers: Vec<(&str, Standing, usize)> = report
        .rows
        .iter()
        .map(|r| (r.contract.number.as_str(), r.standing, r.assets))
        .collect();
    assert_eq!(
        numbers,
        [
            ("W-FIN", Standing::Expired, 1),
            ("W-650", Standing::Expiring, 2),
            ("PS-1", Standing::Active, 1),
            ("EA-9", Standing::Active, 4),
            ("VIS", Standing::Active, 1),
        ]
    );
    let expiring: ContractsReport = fleet.get("/api/v1/contracts?expiring=90d");
    assert_eq!(expiring.rows.len(), 1);
    assert_eq!(expiring.rows[0].contract.number, "W-650");
    assert_eq!(expiring.rows[0].days_left, 20);

    // Warranties: by model, by an expired tag contract, entered by serial.
    let rows: Vec<WarrantyRow> = fleet.get("/api/v1/warranties");
    let of = |host: &str| rows.iter().find(|r| r.hostname == host).unwrap();
    assert_eq!(of("web-01").standing, Some(Standing::Expiring));
    assert_eq!(of("web-01").end.unwrap().to_string(), fleet.day(20));
    assert_eq!(of("db-01").standing, Some(Standing::Expired));
    assert_eq!(of("desk-07").source, Some(WarrantySource::Entered));
    assert_eq!(of("desk-07").supplier.as_deref(), Some("HP"));
    let expired: Vec<WarrantyRow> = fleet.get("/api/v1/warranties?expired=true");
    assert_eq!(
        expired
            .iter()
            .map(|r| r.hostname.as_str())
            .collect::<Vec<_>>(),
        ["db-01"]
    );
    let soon: Vec<WarrantyRow> = fleet.get("/api/v1/warranties?expiring=30d");
    let mut hosts: Vec<&str> = soon.iter().map(|r| r.hostname.as_str()).collect();
    hosts.sort();
    assert_eq!(hosts, ["web-01", "web-02"]);

    // Licences: office on three assets seen within 30 days for two seats.
    let licences: Vec<LicenceRow> = fleet.get("/api/v1/licences");
    let ea = &licences[0];
    assert_eq!(ea.number, "EA-9");
    assert_eq!((ea.seats, ea.installed, ea.over, ea.unused), (2, 3, 1, 0));
    assert_eq!(ea.compliance, Compliance::Over);
    assert_eq!(ea.assets, ["db-01", "web-01", "web-02"]);
    assert_eq!((licences[1].installed, licences[1].unused), (1, 4));
    let all: Vec<LicenceRow> = fleet.get("/api/v1/licences?seen=90d");
    assert_eq!(
        all[0].installed, 4,
        "desk-07, seen 60 days ago, counts over 90 days"
    );

    // A second import replaces by key.
    let again = "name,kind,phone\nDELL,reseller,+34 900 000 000\n";
    assert_eq!(
        fleet.import("suppliers", again),
        ImportOutcome {
            added: 0,
            replaced: 1
        }
    );
    let book = fleet.store.supplier_book().unwrap();
    let dell = book.suppliers.iter().find(|s| s.name == "DELL").unwrap();
    assert_eq!(dell.phone.as_deref(), Some("+34 900 000 000"));
    assert_eq!(book.suppliers.len(), 4);
}

#[test]
fn bad_and_hostile_files_are_refused_whole_with_every_problem_named() {
    let fleet = start();
    fleet.load();
    let said = fleet.refused(
        "contracts",
        format!(
            "supplier,number,kind,start,end,colour\nDell,X,support,{},{},red\n",
            fleet.day(0),
            fleet.day(1)
        )
        .as_bytes(),
    );
    assert_eq!(
        said,
        [
            "line 1, column colour: is not a column; the columns are supplier, number, kind, start, end, notice_days, cost, response_hours, resolution_hours, hours, serials, models, tags, software, seats, notes"
        ]
    );
    let said = fleet.refused(
        "contracts",
        b"supplier,number,kind,start,end\nDell,N-1,support,2026-02-30,2027-01-01\nAcme,N-2,support,2026-01-01,2027-01-01\nDell,\"N-3,support,2026-01-01,2027-01-01\n",
    );
    assert_eq!(said.len(), 3, "{said:?}");
    assert_eq!(
        said[0],
        "line 2, column start: `2026-02-30` is not a date (YYYY-MM-DD)"
    );
    assert_eq!(
        said[1],
        "line 3, column supplier: `Acme` is not a known supplier: import or add it first"
    );
    assert!(
        said[2].starts_with("line 4"),
        "an unclosed quote swallows the rest: {said:?}"
    );
    let said = fleet.refused("warranties", b"hostname,supplier,end\nnobody,Dell,2030-01-01\nweb-01,Dell,2030-01-01\nWEB-01,Dell,2030-01-02\n");
    assert_eq!(
        said,
        [
            "line 2, column hostname: names no asset",
            "line 4, column hostname: web-01 is also on line 3: one warranty per asset",
        ]
    );
    let said = fleet.refused("suppliers", b"\xef\xbb\xbfname,kind\nCaf\xe9,reseller\n");
    assert_eq!(said.len(), 1);
    assert!(said[0].starts_with("line 2: is not UTF-8"), "{said:?}");
    assert_eq!(
        fleet.refused("suppliers", b""),
        [
            "line 1: the file is empty: it needs a header row naming the columns (name, kind, phone, email, portal, account, aliases, notes)"
        ]
    );

    // 10 MB of good rows and one bad one at the end: refused whole.
    let mut big = String::from("name,kind,notes\n");
    let mut n = 0;
    while big.len() < 10 << 20 {
        n += 1;
        big.push_str(&format!("Supplier number {n},reseller,\"a note, with a comma and \"\"quotes\"\" to fill the file up to ten megabytes\"\n"));
    }
    big.push_str("Last,printer,\n");
    let said = fleet.refused("suppliers", big.as_bytes());
    assert_eq!(said.len(), 1, "{:?}", &said[..said.len().min(3)]);
    assert!(
        said[0].starts_with(&format!("line {}, column kind", n + 2)),
        "{said:?}"
    );

    // Viewers read; only admins import.
    let (ok, _, err) = support::cli(&fleet.base, &fleet.viewer, &["import", "suppliers", "-"]);
    assert!(!ok);
    assert!(err.contains("403") || err.contains("not allowed"), "{err}");
}

#[test]
fn the_cli_imports_and_prints_the_reports() {
    let fleet = start();
    fleet.load();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("contracts.csv");
    std::fs::write(
        &file,
        format!(
            "supplier,number,kind,start,end\nHP,CARE-1,maintenance,{},{}\n",
            fleet.day(-5),
            fleet.day(45)
        ),
    )
    .unwrap();
    let out = fleet.cli(
        &fleet.admin,
        &["import", "contracts", file.to_str().unwrap()],
    );
    assert!(out.contains("1 added, 0 replaced"), "{out}");
    let bad = dir.path().join("bad.csv");
    std::fs::write(
        &bad,
        "supplier,number,kind,start,end\nHP,X,rent,2026-01-01,2025-01-01\n",
    )
    .unwrap();
    let (ok, _, err) = support::cli(
        &fleet.base,
        &fleet.admin,
        &["import", "contracts", bad.to_str().unwrap()],
    );
    assert!(!ok);
    assert!(
        err.contains("line 2, column kind: `rent` is not one of"),
        "{err}"
    );
    assert!(
        err.contains("\n  line 2, column end: "),
        "one problem a line: {err}"
    );

    let table = fleet.cli(&fleet.viewer, &["contracts", "--expiring", "60d"]);
    let lines: Vec<&str> = table.lines().collect();
    assert!(lines[0].starts_with("ID"), "{table}");
    assert!(
        lines[1].contains("W-650") && lines[1].contains(&fleet.day(20)),
        "{table}"
    );
    assert!(
        lines[2].contains("CARE-1") && lines[2].contains("45"),
        "{table}"
    );
    assert_eq!(lines.len(), 3, "{table}");

    let csv = fleet.cli(&fleet.viewer, &["--csv", "licences"]);
    let mut rows = csv.lines();
    assert!(
        rows.next()
            .unwrap()
            .starts_with("SUPPLIER,NUMBER,SOFTWARE,SEATS,INSTALLED,COMPLIANCE"),
        "{csv}"
    );
    assert!(
        rows.next()
            .unwrap()
            .starts_with("Microsoft,EA-9,ms-office-*,2,3,OVER,1,0,"),
        "{csv}"
    );

    let warranty = fleet.cli(&fleet.viewer, &["warranty", "--expired"]);
    assert!(
        warranty.contains("db-01") && warranty.contains("contract W-FIN"),
        "{warranty}"
    );
    assert!(!warranty.contains("web-01"), "{warranty}");
    let suppliers = fleet.cli(&fleet.viewer, &["suppliers"]);
    assert!(
        suppliers
            .lines()
            .any(|l| l.starts_with("Dell ") && l.contains("support@dell.example")),
        "{suppliers}"
    );
    // A warranty entered for one asset, then removed.
    let out = fleet.cli(
        &fleet.admin,
        &[
            "warranty",
            "set",
            "web-01",
            "--supplier",
            "hp",
            "--end",
            "2031-01-31",
            "--notes",
            "extended",
        ],
    );
    assert!(
        out.contains("warranty of web-01") && out.contains("HP until 2031-01-31"),
        "{out}"
    );
    let rows: Vec<WarrantyRow> = fleet.get("/api/v1/warranties");
    let web = rows.iter().find(|r| r.hostname == "web-01").unwrap();
    assert_eq!(
        (web.source.clone(), web.standing),
        (Some(WarrantySource::Entered), Some(Standing::Active))
    );
    for (args, said) in [
        (
            &[
                "warranty",
                "set",
                "web-01",
                "--supplier",
                "Acme",
                "--end",
                "2031-01-31",
            ][..],
            "`Acme` is not a known supplier",
        ),
        (
            &[
                "warranty",
                "set",
                "web-01",
                "--supplier",
                "HP",
                "--end",
                "31/01/2031",
            ][..],
            "end",
        ),
        (
            &[
                "warranty",
                "set",
                "nobody",
                "--supplier",
                "HP",
                "--end",
                "2031-01-31",
            ][..],
            "no asset has the id or host name `nobody`",
        ),
    ] {
        let (ok, _, err) = support::cli(&fleet.base, &fleet.admin, args);
        assert!(!ok && err.contains(said), "{args:?}: {err}");
    }
    let out = fleet.cli(&fleet.admin, &["warranty", "remove", "web-01"]);
    assert!(out.contains("removed"), "{out}");
    let rows: Vec<WarrantyRow> = fleet.get("/api/v1/warranties");
    let web = rows.iter().find(|r| r.hostname == "web-01").unwrap();
    assert_eq!(
        web.end.unwrap().to_string(),
        fleet.day(20),
        "the contract's again"
    );

    let json = fleet.cli(&fleet.viewer, &["--json", "warranty"]);
    let v: Value = serde_json::from_str(&json).unwrap();
    assert_eq!(v.as_array().unwrap().len(), 4);
}

/// An open incident on the asset of `agent`.
fn incident(fleet: &Fleet, id: u64, agent: &str) {
    let asset = fleet.store.agent_asset_id(agent).unwrap().unwrap();
    let now = Timestamp::now();
    let rec = IncidentRecord {
        id,
        asset,
        rule: "disk-failing".into(),
        subject: "sda".into(),
        title: "disk sda failing".into(),
        description: "SMART says sda is failing".into(),
        severity: Severity::High,
        priority: Priority::P2,
        status: Status::Open,
        level: 1,
        assignee: None,
        occurrences: 1,
        flapping: false,
        opened_at: now,
        stored_at: now,
        acknowledged_at: None,
        resolved_at: None,
        closed_at: None,
        acknowledge_due: Timestamp(now.0 + 3_600_000),
        at_risk_at: Timestamp(now.0 + 1_800_000),
        resolve_due: Timestamp(now.0 + 8 * 3_600_000),
        acknowledge_breached: false,
        resolve_breached: false,
        solution: None,
        kb_articles: Vec::new(),
        timeline: Vec::new(),
    };
    let txn = fleet.store.begin_desk().unwrap();
    txn.put_incident(&rec).unwrap();
    txn.commit().unwrap();
}

#[test]
fn an_incident_names_whom_to_call_and_records_the_suppliers_case() {
    let fleet = start();
    fleet.load();
    incident(&fleet, 1, "ag-3");
    let view: IncidentView = fleet.get("/api/v1/incidents/1");
    let who: Vec<(&str, &str)> = view
        .supplier_contracts
        .iter()
        .map(|c| (c.supplier.as_str(), c.number.as_str()))
        .collect();
    // db-01: Dell support by serial (4 h response) first, office licence;
    // the expired tag warranty is not in force.
    assert_eq!(who, [("Dell", "PS-1"), ("Microsoft", "EA-9")]);
    assert_eq!(
        view.supplier_contracts[0].phone.as_deref(),
        Some("+1 800 000 0000")
    );
    assert_eq!(view.supplier_contracts[0].levels.response_hours, Some(4.0));
    let suppliers: Vec<SupplierRow> = fleet.get("/api/v1/suppliers");
    let incidents = |name: &str| suppliers.iter().find(|s| s.name == name).unwrap().incidents;
    assert_eq!(
        (incidents("Dell"), incidents("Microsoft"), incidents("HP")),
        (1, 0, 0)
    );
    let shown = fleet.cli(&fleet.viewer, &["incident", "1"]);
    assert!(
        shown.contains("Dell PS-1 (support, until ")
            && shown.contains("responds within 4 h; +1 800 000 0000"),
        "{shown}"
    );

    let out = fleet.cli(
        &fleet.admin,
        &["escalate", "1", "--supplier", "dell", "--case", "SR-7781"],
    );
    assert!(out.contains("incident 1: open (level 1)"), "{out}");
    let rec = fleet.store.incident(1).unwrap().unwrap();
    let last = rec.timeline.last().unwrap();
    assert_eq!(last.event, SUPPLIER_CASE);
    assert_eq!(last.text, "escalated to supplier Dell, case SR-7781");
    let (ok, _, err) = support::cli(
        &fleet.base,
        &fleet.admin,
        &["escalate", "1", "--supplier", "Acme", "--case", "1"],
    );
    assert!(
        !ok && err.contains("`Acme` is not a known supplier"),
        "{err}"
    );
    let (ok, _, err) = support::cli(
        &fleet.base,
        &fleet.admin,
        &["escalate", "1", "--supplier", "Dell"],
    );
    assert!(!ok && err.contains("--case"), "{err}");
}

/// The incidents still to handle.
fn open_incidents(fleet: &Fleet) -> Vec<IncidentRecord> {
    fleet
        .store
        .incidents(&IncidentFilter {
            active: true,
            ..IncidentFilter::default()
        })
        .unwrap()
}

/// The supplier rules' open incidents as `(rule, host or subject)`, sorted.
fn supplier_incidents(fleet: &Fleet) -> Vec<(String, String)> {
    let open = open_incidents(fleet);
    let mut got: Vec<(String, String)> = open
        .into_iter()
        .map(|r| {
            let what = if r.asset.is_empty() {
                r.subject
            } else {
                fleet.store.asset(&r.asset).unwrap().unwrap().meta.hostname
            };
            (r.rule, what)
        })
        .collect();
    got.sort();
    got
}

fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
    list.iter()
        .map(|(a, b)| ((*a).to_owned(), (*b).to_owned()))
        .collect()
}

#[test]
fn contracts_warranties_and_licences_open_incidents_on_their_days() {
    let fleet = start();
    fleet.load();
    let now = Timestamp::now();
    let at = |days: i64| Timestamp(now.0 + days * DAY_MS);
    fleet.desk.check_supplier_book(now).unwrap();
    // W-650 ends in 20 days with 30 days' notice; W-FIN ended 10 days ago
    // (watched 30 days after). Warranties: web-01 and web-02 by model
    // (W-650, 20 days left), db-01 by tag (W-FIN, ended); desk-07 has
    // not been seen for 60 days. Office: 3 installations seen, 2 seats.
    let due = pairs(&[
        ("contract-renewal", "Dell W-650"),
        ("contract-renewal", "Dell W-FIN"),
        ("licence-over-seats", "Microsoft EA-9"),
        ("warranty-ending", "db-01"),
        ("warranty-ending", "web-01"),
        ("warranty-ending", "web-02"),
    ]);
    assert_eq!(supplier_incidents(&fleet), due);
    // Checking again changes nothing: one incident per contract and asset.
    fleet.desk.check_supplier_book(at(1)).unwrap();
    assert_eq!(supplier_incidents(&fleet), due);

    let open = open_incidents(&fleet);
    let licence = open
        .iter()
        .find(|r| r.rule == "licence-over-seats")
        .unwrap();
    assert_eq!(licence.title, "licence-over-seats: Microsoft EA-9");
    assert!(licence.asset.is_empty(), "the fleet's, not an asset's");
    assert!(
        licence
            .description
            .contains("has 2 seats and is installed on 3 assets seen within 30 days: 1 over. Installed on db-01, web-01, web-02."),
        "{}",
        licence.description
    );
    let renewal = open.iter().find(|r| r.subject == "Dell W-650").unwrap();
    assert!(
        renewal.description.contains(&format!(
            "The warranty contract W-650 with Dell ends on {} (in 20 days); its renewal is due from {} (30 days' notice). It covers 2 assets.",
            fleet.day(20),
            fleet.day(-10)
        )),
        "{}",
        renewal.description
    );
    // The incident of a contract names whom to call about it.
    let view: IncidentView = fleet.get(&format!("/api/v1/incidents/{}", renewal.id));
    assert_eq!(view.supplier_contracts.len(), 1);
    assert_eq!(view.supplier_contracts[0].number, "W-650");
    assert_eq!(
        view.supplier_contracts[0].phone.as_deref(),
        Some("+1 800 000 0000")
    );

    // Renewing W-650 and buying a seat, through the API: the next tick
    // checks the changed book.
    let renewed = format!(
        "supplier,number,kind,start,end,notice_days,response_hours,serials,models,tags,software,seats\n\
         Dell,W-650,warranty,{},{},30,,,PowerEdge R650,,,\n\
         Microsoft,EA-9,licence,{},{},60,,,,,ms-office-*,3\n",
        fleet.day(-400),
        fleet.day(400),
        fleet.day(-400),
        fleet.day(300),
    );
    fleet.import("contracts", &renewed);
    fleet.desk.tick(at(2)).unwrap();
    assert_eq!(
        supplier_incidents(&fleet),
        pairs(&[
            ("contract-renewal", "Dell W-FIN"),
            ("warranty-ending", "db-01"),
        ])
    );
    let resolved = fleet.store.incident(renewal.id).unwrap().unwrap();
    assert_eq!(resolved.status, Status::Resolved);

    // 30 days after W-FIN ended it is history: both its incidents resolve.
    fleet.desk.check_supplier_book(at(20)).unwrap();
    assert_eq!(supplier_incidents(&fleet).len(), 2, "day 20 is the 30th");
    fleet.desk.check_supplier_book(at(21)).unwrap();
    assert_eq!(supplier_incidents(&fleet), []);
}
