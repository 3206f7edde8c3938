//! The capacity reports over a real store, desk and API, on a small fleet
//! with known series: a filesystem and a switch port growing on straight
//! lines are dated to the day the lines reach 100 % (and the
//! filesystem-filling rule opens with the same date), a CPU jumping about
//! is not a trend; installed capacity by tag and site; renewal by end of
//! support; the `atalaya capacity` commands in table, CSV and JSON.
#![allow(clippy::unwrap_used)]

mod support;

use std::sync::Arc;

use atalaya_collector::api::{self, AdminActions, ApiState};
use atalaya_collector::capacity::eol::EolTable;
use atalaya_collector::capacity::renewal::RenewalReport;
use atalaya_collector::capacity::usage::{TrendState, UsageReport, UsageRow};
use atalaya_collector::capacity::{Day, installed::InstalledReport};
use atalaya_collector::desk::{self, Desk, LogHooks};
use atalaya_collector::incidents::RuleSet;
use atalaya_collector::incidents::sla::SlaPolicies;
use atalaya_collector::store::{AgentRecord, IncidentFilter, Ingest, IngestRecord, Role, Store};
use atalaya_collector::telemetry::Telemetry;
use atalaya_common::model::device::{
    DeviceInterface, DeviceInventory, DeviceState, DeviceStorage, OperStatus, StorageKind,
};
use atalaya_common::model::{
    CpuUsage, Disk, Filesystem, FilesystemUsage, HealthSample, Interface, InterfaceKind, Inventory,
    MemoryUsage, NetworkIo, Timestamp,
};
use atalaya_common::proto;
use serde_json::{Value, json};

const H: i64 = 3_600_000;
/// Hours of history: the last sample is an hour before the report.
const HOURS: i64 = 96;
const GIB: u64 = 1 << 30;

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
    viewer: String,
    store: Arc<Store>,
    /// The time of hour 0 of the series, ms.
    t0: i64,
    _dir: tempfile::TempDir,
    _rt: tokio::runtime::Runtime,
}

/// `/srv` of web-01: 40 % at hour 0, 6 % a day; 100 % at hour 240.
fn srv(h: i64) -> f64 {
    40.0 + 0.25 * h as f64
}

/// The CPU of web-01: about 20 %, jumping to about 70 % now and then.
fn jumpy_cpu(h: i64) -> f64 {
    let high = (h * 7 + h / 5) % 3 == 0;
    20.0 + if high { 50.0 } else { 0.0 } + 0.2 * h as f64
}

/// Gi0/1 of core-sw1, inbound: 10 % at hour 0, 12 % a day; 100 % at hour 180.
fn uplink(h: i64) -> f64 {
    10.0 + 0.5 * h as f64
}

fn host(name: &str, os: (&str, &str, &str), bios: Option<&str>) -> Inventory {
    let mut inv = Inventory::default();
    inv.host.hostname = name.into();
    inv.host.machine_id = Some(format!("mid-{name}"));
    inv.hardware.system.uuid = Some(format!("uuid-{name}"));
    inv.hardware.system.vendor = Some("Dell Inc.".into());
    inv.hardware.system.product = Some("PowerEdge R650".into());
    inv.hardware.bios.date = bios.map(str::to_owned);
    inv.hardware.cpu.sockets = 1;
    inv.hardware.cpu.physical_cores = 4;
    inv.hardware.cpu.logical_cores = 8;
    inv.hardware.memory.total_bytes = 32 * GIB;
    inv.hardware.memory.swap_total_bytes = 4 * GIB;
    inv.os.id = Some(os.0.into());
    inv.os.version_id = Some(os.1.into());
    inv.os.pretty_name = Some(os.2.into());
    inv.storage.disks.push(Disk {
        name: "sda".into(),
        size_bytes: 500 * GIB,
        ..Disk::default()
    });
    for mount in ["/", "/srv"] {
        inv.storage.filesystems.push(Filesystem {
            mount_point: mount.into(),
            device: "/dev/sda1".into(),
            fs_type: "ext4".into(),
            total_bytes: Some(200 * GIB),
            free_bytes: Some(100 * GIB),
            ..Filesystem::default()
        });
    }
    inv.network.interfaces.push(Interface {
        name: "eth0".into(),
        mac: Some(format!(
            "52:54:00:00:00:{:02x}",
            name.bytes().map(u32::from).sum::<u32>() % 256
        )),
        speed_mbps: Some(1000),
        state: "up".into(),
        kind: InterfaceKind::Physical,
        ..Interface::default()
    });
    inv.canonicalize();
    inv
}

fn sample(at: i64, cpu: f64, srv_percent: f64) -> HealthSample {
    let fs = |mount: &str, percent: f64| FilesystemUsage {
        mount_point: mount.into(),
        total_bytes: 200 * GIB,
        used_bytes: (200.0 * GIB as f64 * percent / 100.0) as u64,
        used_percent: percent,
        ..FilesystemUsage::default()
    };
    HealthSample {
        at: Timestamp(at),
        interval_ms: H as u64,
        cpu: Some(CpuUsage {
            total_percent: cpu,
            ..CpuUsage::default()
        }),
        memory: MemoryUsage {
            total_bytes: 32 * GIB,
            available_bytes: 8 * GIB,
            used_bytes: 24 * GIB,
            swap_total_bytes: 4 * GIB,
            swap_used_bytes: GIB,
            ..MemoryUsage::default()
        },
        filesystems: vec![fs("/", 50.0), fs("/srv", srv_percent)],
        network: vec![NetworkIo {
            interface: "eth0".into(),
            rx_bytes_per_second: 12_500_000.0,
            tx_bytes_per_second: 2_500_000.0,
            ..NetworkIo::default()
        }],
        ..HealthSample::default()
    }
}

fn ingest(agent: &str, at: i64, record: IngestRecord) -> Ingest {
    Ingest {
        agent_id: agent.into(),
        received_at: Timestamp(at),
        record,
    }
}

fn device_poll(seq: u64, at: i64, h: i64) -> Ingest {
    let mut inv = DeviceInventory::default();
    inv.system.descr = "Cisco IOS Software, C2960X Software\nCompiled".into();
    inv.system.name = "core-sw1".into();
    inv.system.vendor = Some("Cisco".into());
    inv.system.location = "madrid".into();
    for (if_index, name) in [(1, "Gi0/1"), (2, "Gi0/2")] {
        inv.interfaces.push(DeviceInterface {
            if_index,
            name: name.into(),
            speed_bps: Some(1_000_000_000),
            admin_up: true,
            oper_status: OperStatus::Up,
            ..DeviceInterface::default()
        });
    }
    inv.storage.push(DeviceStorage {
        index: 1,
        descr: "flash".into(),
        kind: StorageKind::FlashMemory,
        size_bytes: 128 << 20,
        used_bytes: 100 << 20,
    });
    ingest(
        "agent-probe",
        at,
        IngestRecord::DevicePoll(proto::DevicePoll {
            seq,
            device: "core-sw1".into(),
            polled_at: Timestamp(at),
            state: DeviceState::Ok,
            response_ms: Some(4),
            inventory: Some(inv),
            values: vec![
                (
                    "interface.in_utilisation_percent{if=Gi0/1}".into(),
                    uplink(h),
                ),
                ("interface.out_utilisation_percent{if=Gi0/1}".into(), 5.0),
                (
                    "interface.in_bits_per_second{if=Gi0/1}".into(),
                    uplink(h) * 1e7,
                ),
                ("interface.out_bits_per_second{if=Gi0/1}".into(), 5e7),
            ],
        }),
    )
}

fn start() -> (Fleet, String) {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(Store::open(&dir.path().join("store.redb")).unwrap());
    let now = Timestamp::now();
    let t0 = now.0 - (HOURS + 1) * H;
    store
        .add_agent(&AgentRecord::enrolled(
            "agent-probe",
            "probe-1",
            "",
            [1; 32],
            "0.1.0",
            Timestamp(t0),
        ))
        .unwrap();
    let (admin_rec, admin) = api::new_api_token("ops", Role::Admin, now);
    store.add_api_token(&admin_rec).unwrap();
    let (viewer_rec, viewer) = api::new_api_token("manager", Role::Viewer, now);
    store.add_api_token(&viewer_rec).unwrap();
    let desk = Arc::new(
        Desk::new(
            Arc::clone(&store),
            RuleSet::default(),
            None,
            30,
            SlaPolicies::default(),
            Arc::new(LogHooks),
            Timestamp(t0),
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
    let fleet = Fleet {
        base,
        viewer,
        store,
        t0,
        _dir: dir,
        _rt: rt,
    };
    let (status, body) = fleet.call(
        "POST",
        "/api/v1/devices",
        &admin,
        Some(
            json!({"address": "192.0.2.10", "name": "core-sw1", "poller": "probe-1",
            "credentials": {"v2c": {"community": "public"}}}),
        ),
    );
    assert_eq!(status, 201, "{body}");

    let hosts = [
        (
            "ag-web",
            host(
                "web-01",
                ("debian", "12", "Debian GNU/Linux 12 (bookworm)"),
                Some("03/15/2019"),
            ),
        ),
        (
            "ag-db",
            host(
                "db-01",
                ("rhel", "8.9", "Red Hat Enterprise Linux 8.9 (Ootpa)"),
                Some("06/01/2016"),
            ),
        ),
        (
            "ag-old",
            host(
                "old-01",
                ("debian", "9", "Debian GNU/Linux 9 (stretch)"),
                None,
            ),
        ),
        (
            "ag-lab",
            host("lab-01", ("slackware", "15.0", "Slackware 15.0"), None),
        ),
    ];
    let snapshots: Vec<Ingest> = hosts
        .into_iter()
        .map(|(agent, inv)| {
            ingest(
                agent,
                t0,
                IngestRecord::Snapshot(proto::InventorySnapshot {
                    seq: 1,
                    taken_at: Timestamp(t0),
                    inventory: inv,
                }),
            )
        })
        .collect();
    let (_, fed) = fleet.store.commit_fed(&snapshots).unwrap();
    desk.feed(&fed, Timestamp(t0)).unwrap();
    // Half a day per batch, as agents that were offline send their spool.
    for (batch, hours) in (0..=HOURS).collect::<Vec<_>>().chunks(12).enumerate() {
        let seq = batch as u64 + 2;
        let at = |h: i64| t0 + h * H;
        let web = hours
            .iter()
            .map(|&h| sample(at(h), jumpy_cpu(h), srv(h)))
            .collect();
        let db = hours.iter().map(|&h| sample(at(h), 30.0, 50.0)).collect();
        let mut items = vec![
            ingest(
                "ag-web",
                at(hours[0]),
                IngestRecord::Metrics(proto::MetricBatch { seq, samples: web }),
            ),
            ingest(
                "ag-db",
                at(hours[0]),
                IngestRecord::Metrics(proto::MetricBatch { seq, samples: db }),
            ),
        ];
        items.extend(hours.iter().map(|&h| device_poll(h as u64 + 1, at(h), h)));
        let (_, fed) = fleet.store.commit_fed(&items).unwrap();
        desk.feed(&fed, Timestamp(at(*hours.last().unwrap())))
            .unwrap();
    }
    let id = |agent: &str| fleet.store.agent_asset_id(agent).unwrap().unwrap();
    fleet
        .store
        .set_tags(&id("ag-web"), &["web".into(), "site:madrid".into()])
        .unwrap();
    fleet.store.set_tags(&id("ag-db"), &["db".into()]).unwrap();
    (fleet, admin)
}

impl Fleet {
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

    fn get<T: serde::de::DeserializeOwned>(&self, path: &str) -> T {
        let (status, body) = self.call("GET", path, &self.viewer, None);
        assert_eq!(status, 200, "{path}: {body}");
        serde_json::from_str(&body).unwrap()
    }

    fn cli(&self, args: &[&str]) -> String {
        let (ok, out, err) = support::cli(&self.base, &self.viewer, args);
        assert!(ok, "atalaya {args:?}: {err}");
        out
    }
}

fn find<'r>(rows: &'r [UsageRow], host: &str, subject: &str, resource: &str) -> &'r UsageRow {
    rows.iter()
        .find(|r| r.hostname == host && r.subject == subject && r.resource.name() == resource)
        .unwrap_or_else(|| panic!("no {resource} {subject} of {host} in {rows:#?}"))
}

#[test]
fn straight_lines_are_dated_like_the_forecast_rule_and_noise_is_not_a_trend() {
    let (fleet, _) = start();
    let report: UsageReport = fleet.get("/api/v1/capacity");
    let rows = &report.rows;
    let day_of_hour = |h: i64| Day::of_ms(fleet.t0 + h * H).unwrap();

    let srv_row = find(rows, "web-01", "/srv", "filesystem");
    assert_eq!(srv_row.trend, TrendState::Growing);
    assert_eq!(srv_row.full_on, Some(day_of_hour(240)));
    assert!(
        (srv_row.growth_per_day.unwrap() - 6.0).abs() < 1e-6,
        "{srv_row:?}"
    );
    assert!(srv_row.r2.unwrap() > 0.999, "{srv_row:?}");
    assert_eq!(srv_row.rule.as_deref(), Some("filesystem-filling"));
    assert_eq!(srv_row.window_hours, 72.0);
    assert_eq!(srv_row.used_percent, Some(srv(HOURS)));
    // Full 144 h after the last sample, which is an hour before the report.
    let days = srv_row.days_until_full.unwrap();
    assert!((days - 143.0 / 24.0).abs() < 0.01, "{days}");

    let port = find(rows, "core-sw1", "Gi0/1 in", "interface");
    assert_eq!(port.trend, TrendState::Growing);
    assert_eq!(port.full_on, Some(day_of_hour(180)));
    assert_eq!(port.size, Some(1e9));
    assert_eq!(port.rule, None);

    let cpu = find(rows, "web-01", "", "cpu");
    assert_eq!((cpu.trend, cpu.full_on), (TrendState::NotATrend, None));
    assert!(cpu.r2.unwrap() < 0.5, "{cpu:?}");
    let flat = find(rows, "db-01", "/srv", "filesystem");
    assert_eq!(flat.trend, TrendState::NotGrowing);
    // Headroom is over the 95th percentile, read from the hourly rollups'
    // sketches: within their 1 % relative error.
    near(flat.headroom_percent, 50.0);
    near(flat.headroom, 100.0 * GIB as f64);
    // Memory and swap: the sketches of memory available and swap used
    // over the total, within the same error.
    let memory = find(rows, "db-01", "", "memory");
    near(memory.p95_percent, 75.0);
    near(find(rows, "db-01", "", "swap").p95_percent, 25.0);
    let flash = find(rows, "core-sw1", "flash", "device-storage");
    assert_eq!(flash.trend, TrendState::NoHistory);
    assert_eq!(flash.used_percent, Some(78.125));

    // Most urgent first: the port (full sooner), then /srv, then by headroom.
    let first: Vec<(&str, &str)> = rows
        .iter()
        .take(2)
        .map(|r| (r.hostname.as_str(), r.subject.as_str()))
        .collect();
    assert_eq!(first, [("core-sw1", "Gi0/1 in"), ("web-01", "/srv")]);
    let headrooms: Vec<f64> = rows[2..]
        .iter()
        .filter_map(|r| r.headroom_percent)
        .collect();
    assert!(headrooms.windows(2).all(|w| w[0] <= w[1]), "{headrooms:?}");

    // The rule opened on /srv and names the same day.
    let incidents = fleet.store.incidents(&IncidentFilter::default()).unwrap();
    let filling: Vec<_> = incidents
        .iter()
        .filter(|i| i.rule == "filesystem-filling")
        .collect();
    assert_eq!(filling.len(), 1, "{incidents:#?}");
    assert_eq!(filling[0].subject, "/srv");
    let day = srv_row.full_on.unwrap().to_string();
    assert!(
        filling[0].description.contains(&format!("around {day}T")),
        "{day} not in {}",
        filling[0].description
    );

    // Narrowed by kind and tag, and over another window.
    let devices: UsageReport = fleet.get("/api/v1/capacity?kind=network-device");
    assert!(devices.rows.iter().all(|r| r.hostname == "core-sw1"));
    assert_eq!(devices.rows.len(), 3, "{:#?}", devices.rows);
    let db: UsageReport = fleet.get("/api/v1/capacity?tag=db&window=48h");
    assert!(db.rows.iter().all(|r| r.hostname == "db-01"));
    assert!(db.rows.iter().all(|r| r.window_hours == 48.0));
    for (query, param) in [
        ("kind=router", "`kind`"),
        ("window=5x", "`window`"),
        ("window=100d", "`window`"),
    ] {
        let (status, body) = fleet.call(
            "GET",
            &format!("/api/v1/capacity?{query}"),
            &fleet.viewer,
            None,
        );
        assert_eq!(status, 400, "{query}: {body}");
        assert!(body.contains(param), "{query}: {body}");
    }
    let (status, _) = fleet.call("GET", "/api/v1/capacity", "not-a-token", None);
    assert_eq!(status, 401);
}

#[test]
fn installed_capacity_by_tag_and_site_and_renewal_by_end_of_support() {
    let (fleet, _) = start();
    let by_tag: InstalledReport = fleet.get("/api/v1/capacity/installed");
    let group = |r: &InstalledReport, name: &str| {
        r.groups
            .iter()
            .find(|g| g.group == name)
            .cloned()
            .unwrap_or_else(|| panic!("no group {name} in {:#?}", r.groups))
    };
    let web = group(&by_tag, "web");
    assert_eq!((web.assets, web.cpus, web.cores, web.threads), (1, 1, 4, 8));
    assert_eq!((web.memory_bytes, web.disk_bytes), (32 * GIB, 500 * GIB));
    assert_eq!(web.bandwidth_bps, 1_000_000_000);
    near(web.memory_used_percent, 75.0);
    // eth0 sends 12.5 MB/s at most: 100 Mbit/s of 1 Gbit/s.
    near(web.bandwidth_used_percent, 10.0);
    assert!(
        web.notes
            .iter()
            .any(|n| n == "bandwidth over-provisioned (10 % used)"),
        "{:?}",
        web.notes
    );
    let all = group(&by_tag, "(all)");
    // The four hosts, the switch, and the poller's machine (no inventory yet).
    assert_eq!(all.assets, 6);
    assert_eq!(all.bandwidth_bps, 4 * 1_000_000_000 + 2 * 1_000_000_000);
    let by_site: InstalledReport = fleet.get("/api/v1/capacity/installed?by=site");
    let madrid = group(&by_site, "madrid");
    assert_eq!(
        madrid.assets, 2,
        "web-01 by its tag, core-sw1 by its location"
    );
    let (status, body) = fleet.call(
        "GET",
        "/api/v1/capacity/installed?by=rack",
        &fleet.viewer,
        None,
    );
    assert_eq!(status, 400, "{body}");

    let renewal: RenewalReport = fleet.get("/api/v1/capacity/renewal?months=12");
    let table = EolTable::built_in();
    let today = renewal.as_of;
    assert_eq!(renewal.until, today.plus_months(12));
    let out: Vec<&str> = renewal
        .out_of_support
        .iter()
        .map(|r| r.hostname.as_str())
        .collect();
    // What the table says of each host, as of the report.
    let ends = |os: &str, v: &str| table.release(os, v).unwrap().end_of_support;
    let expected: Vec<&str> = [
        ("old-01", ends("debian", "9")),
        ("db-01", ends("rhel", "8.9")),
        ("web-01", ends("debian", "12")),
    ]
    .into_iter()
    .filter(|(_, end)| *end <= renewal.until)
    .map(|(h, _)| h)
    .collect();
    assert_eq!(out, expected);
    let row = |host: &str| renewal.assets.iter().find(|a| a.hostname == host).unwrap();
    assert_eq!(
        row("db-01").release.as_deref(),
        Some("Red Hat Enterprise Linux 8")
    );
    assert_eq!(row("db-01").firmware_date, Day::parse("2016-06-01"));
    assert_eq!(
        row("lab-01").note.as_deref(),
        Some("slackware 15.0 is not in the end-of-support table")
    );
    assert_eq!(row("core-sw1").note.as_deref(), Some("no OS release known"));
    let by_age: Vec<&str> = renewal.assets.iter().map(|a| a.hostname.as_str()).collect();
    assert_eq!(&by_age[..2], ["db-01", "web-01"], "oldest firmware first");
    let hosts: RenewalReport = fleet.get("/api/v1/capacity/renewal?kind=host&months=0");
    assert_eq!(hosts.assets.len(), 5);
    let (status, body) = fleet.call(
        "GET",
        "/api/v1/capacity/renewal?months=many",
        &fleet.viewer,
        None,
    );
    assert!(status == 400 && body.contains("`months`"), "{body}");
}

#[test]
fn the_forecast_of_a_resource_gives_the_reports_lines_and_dates() {
    let (fleet, _) = start();
    let report: UsageReport = fleet.get("/api/v1/capacity");
    for resource in ["filesystem", "memory", "swap", "cpu", "interface"] {
        let forecast: UsageReport =
            fleet.get(&format!("/api/v1/capacity/forecast?resource={resource}"));
        let wanted: Vec<UsageRow> = report
            .rows
            .iter()
            .filter(|r| r.resource.name() == resource && r.series.is_some())
            .cloned()
            .collect();
        assert!(!wanted.is_empty(), "{resource}");
        assert_eq!(
            forecast.rows.len(),
            wanted.len(),
            "{resource}: {forecast:#?}"
        );
        for got in &forecast.rows {
            let want = find(&wanted, &got.hostname, &got.subject, resource);
            // The same line and the same day; no percentile, so no headroom.
            assert_eq!(
                (&got.hostname, &got.subject, got.trend, got.full_on),
                (&want.hostname, &want.subject, want.trend, want.full_on),
                "{resource}"
            );
            assert_eq!(got.used_percent, want.used_percent, "{resource}");
            assert_eq!(got.growth_per_day, want.growth_per_day, "{resource}");
            assert_eq!(got.r2, want.r2, "{resource}");
            // Counted from each answer's own now, a few ms apart.
            match (got.days_until_full, want.days_until_full) {
                (Some(a), Some(b)) => assert!((a - b).abs() < 1e-4, "{resource}: {a} vs {b}"),
                (a, b) => assert_eq!(a, b, "{resource}"),
            }
            assert_eq!((got.p95_percent, got.headroom), (None, None), "{resource}");
        }
    }
    let first: UsageReport = fleet.get("/api/v1/capacity/forecast?limit=1");
    assert_eq!(first.rows.len(), 1);
    assert_eq!(
        (
            first.rows[0].hostname.as_str(),
            first.rows[0].subject.as_str()
        ),
        ("web-01", "/srv")
    );
    let db: UsageReport = fleet.get("/api/v1/capacity/forecast?tag=db&window=48h");
    assert!(!db.rows.is_empty());
    assert!(
        db.rows
            .iter()
            .all(|r| r.hostname == "db-01" && r.window_hours == 48.0)
    );
    for (query, param) in [
        ("resource=device-storage", "`resource`"),
        ("resource=disks", "`resource`"),
        ("limit=0", "`limit`"),
        ("window=5x", "`window`"),
    ] {
        let (status, body) = fleet.call(
            "GET",
            &format!("/api/v1/capacity/forecast?{query}"),
            &fleet.viewer,
            None,
        );
        assert_eq!(status, 400, "{query}: {body}");
        assert!(body.contains(param), "{query}: {body}");
    }
    let table = fleet.cli(&["capacity", "forecast", "--limit", "1"]);
    let lines: Vec<&str> = table.lines().collect();
    assert!(lines[0].starts_with("HOST"), "{table}");
    assert!(lines[1].starts_with("web-01"), "{table}");
    let full_on = first.rows[0].full_on.unwrap().to_string();
    assert!(lines[1].contains(&full_on), "{table}");
    assert!(!table.contains("P95 over"), "{table}");
}

#[test]
fn the_cli_prints_each_report_as_a_table_csv_and_json() {
    let (fleet, _) = start();
    let report: UsageReport = fleet.get("/api/v1/capacity");
    let full_on = |host: &str| {
        report
            .rows
            .iter()
            .find(|r| r.hostname == host && r.trend == TrendState::Growing)
            .and_then(|r| r.full_on)
            .unwrap()
            .to_string()
    };

    let table = fleet.cli(&["capacity"]);
    let lines: Vec<&str> = table.lines().collect();
    assert!(lines[0].starts_with("HOST"), "{table}");
    assert!(
        lines[1].starts_with("core-sw1") && lines[1].contains(&full_on("core-sw1")),
        "{table}"
    );
    assert!(
        lines[2].starts_with("web-01") && lines[2].contains("filesystem /srv"),
        "{table}"
    );
    assert!(
        lines[2].contains(&full_on("web-01")) && lines[2].contains("growing"),
        "{table}"
    );
    assert!(table.contains("not a trend"), "{table}");

    let csv = fleet.cli(&["capacity", "--csv"]);
    let mut csv_lines = csv.lines();
    assert!(
        csv_lines
            .next()
            .unwrap()
            .starts_with("asset_id,hostname,kind,resource,subject")
    );
    assert_eq!(csv.lines().count(), report.rows.len() + 1);
    assert!(
        csv.lines()
            .any(|l| l.contains("web-01,host,filesystem,/srv,")
                && l.contains(&format!(",growing,{},", full_on("web-01")))),
        "{csv}"
    );

    let json: UsageReport = serde_json::from_str(&fleet.cli(&["capacity", "--json"])).unwrap();
    assert_eq!(json.rows.len(), report.rows.len());
    let hosts = fleet.cli(&["capacity", "--kind", "host", "--tag", "web", "--csv"]);
    assert!(
        hosts.lines().skip(1).all(|l| l.contains(",web-01,host,")),
        "{hosts}"
    );

    let installed = fleet.cli(&["capacity", "installed", "--by", "os"]);
    assert!(installed.starts_with("OS "), "{installed}");
    assert!(
        installed.contains("Debian GNU/Linux 12 (bookworm)"),
        "{installed}"
    );
    assert!(installed.contains("(all)"), "{installed}");
    let installed_csv = fleet.cli(&["capacity", "installed", "--csv"]);
    assert!(installed_csv.starts_with("group,assets,cpus,cores,threads,memory_bytes"));
    assert!(installed_csv.contains("\r\nweb,1,1,4,8,34359738368,536870912000,1000000000,"));

    let renewal = fleet.cli(&["capacity", "--tag", "db", "renewal", "--months", "24"]);
    assert!(renewal.contains("OS releases in use:"), "{renewal}");
    assert!(
        renewal.contains("rhel 8.9  Red Hat Enterprise Linux 8"),
        "{renewal}"
    );
    assert!(renewal.contains("2016-06-01"), "{renewal}");
    let renewal_csv = fleet.cli(&["capacity", "renewal", "--csv"]);
    assert!(renewal_csv.starts_with("asset_id,hostname,kind,model,firmware_date"));
    assert_eq!(renewal_csv.lines().count(), 7);
    let renewal_json: Value =
        serde_json::from_str(&fleet.cli(&["capacity", "renewal", "--json"])).unwrap();
    assert_eq!(renewal_json["months"], 12);

    if std::env::var_os("ATALAYA_PRINT_SAMPLES").is_some() {
        for i in fleet.store.incidents(&IncidentFilter::default()).unwrap() {
            println!("incident {}: {}\n", i.title, i.description);
        }
        for args in [
            &["capacity"][..],
            &["capacity", "installed", "--by", "site"],
            &["capacity", "renewal", "--months", "24"],
        ] {
            println!("$ atalaya {}\n{}", args.join(" "), fleet.cli(args));
        }
    }
}

#[test]
fn an_end_of_support_file_beside_the_configuration_overrides_and_errors_are_placed() {
    let dir = tempfile::tempdir().unwrap();
    let table = desk::capacity::load_eol(Some(dir.path())).unwrap();
    assert_eq!(table, EolTable::built_in(), "no file: the built-in table");
    let file = dir.path().join("eol.toml");
    std::fs::write(
        &file,
        "[[release]]\nos = \"slackware\"\nversion = \"15.0\"\nname = \"Slackware 15.0\"\nend_of_support = \"2027-06-30\"\n",
    )
    .unwrap();
    let table = desk::capacity::load_eol(Some(dir.path())).unwrap();
    assert_eq!(
        table.release("slackware", "15.0").unwrap().end_of_support,
        Day::parse("2027-06-30").unwrap()
    );
    assert!(table.release("debian", "12").is_some(), "built-ins stay");
    std::fs::write(
        &file,
        "[[release]]\nos = \"slackware\"\nversion = \"15.0\"\nname = \"Slackware 15.0\"\nend_of_support = \"June 2027\"\n",
    )
    .unwrap();
    let err = desk::capacity::load_eol(Some(dir.path()))
        .unwrap_err()
        .to_string();
    let place = format!("{}:5:18: `release[0].end_of_support`", file.display());
    assert!(err.contains(&place), "{err}");
}

/// `got` is `want` within the quantile sketch's 1 % relative error.
#[track_caller]
fn near(got: Option<f64>, want: f64) {
    let got = got.expect("a figure");
    assert!(
        (got - want).abs() <= want.abs() * 0.01,
        "{got} is not {want} within 1 %"
    );
}
