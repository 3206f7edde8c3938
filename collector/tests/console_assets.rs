//! The console's asset pages served on loopback over a real store, asked
//! by a real HTTP client signed in with a real account: the list's
//! filters, paging and CSV export, an asset's sections, its inventory as
//! of a past day, its charts, escaping of what agents send, roles and
//! sessions.
#![allow(clippy::unwrap_used)]

#[path = "support/console.rs"]
mod console_support;

use std::sync::{Arc, OnceLock};

use atalaya_collector::api::{self, AdminActions, ApiState};
use atalaya_collector::config::ConsoleSettings;
use atalaya_collector::desk::{Desk, LogHooks};
use atalaya_collector::helpers::password;
use atalaya_collector::incidents::RuleSet;
use atalaya_collector::incidents::sla::SlaPolicies;
use atalaya_collector::store::{AgentRecord, Ingest, IngestRecord, Role, Store, UserRecord};
use atalaya_collector::telemetry::Telemetry;
use atalaya_common::model::device::{DeviceInterface, DeviceInventory, DeviceState, OperStatus};
use atalaya_common::model::{
    CpuUsage, Filesystem, FilesystemUsage, HealthSample, Interface, InterfaceKind, Inventory,
    MemoryUsage, NetworkIo, Package, ProbeKind, ProbeMethod, ProbeResult, Timestamp,
};
use atalaya_common::proto;

const PASSWORD: &str = "correct horse battery";
const XSS: &str = "<script>alert(1)</script>\"'";
const MINUTE: i64 = 60_000;
const DAY: i64 = 86_400_000;

#[derive(Debug, Default)]
struct FakeAdmin;

impl AdminActions for FakeAdmin {
    fn agent_revoked(&self, _id: &str) {}
    fn collector_address(&self) -> String {
        "collector.example:4433".to_owned()
    }
    fn ca_sha256(&self) -> [u8; 32] {
        [7; 32]
    }
    fn is_connected(&self, id: &str) -> bool {
        id == "agent-web-01"
    }
}

struct Server {
    base: String,
    store: Arc<Store>,
    admin_token: String,
    _dir: tempfile::TempDir,
    _rt: tokio::runtime::Runtime,
}

fn machine(host: &str, os_id: &str, pretty: &str, n: u8, pkgs: &[(&str, &str)]) -> Inventory {
    let mut inv = Inventory::default();
    inv.host.hostname = host.into();
    inv.host.machine_id = Some(format!("mid-{n}"));
    inv.hardware.system.uuid = Some(format!("uuid-{n}"));
    inv.hardware.system.vendor = Some("LENOVO".into());
    inv.hardware.system.product = Some("ThinkCentre M70q".into());
    inv.hardware.system.serial = Some(format!("SN-{n:04}"));
    inv.hardware.cpu.model = Some("Intel(R) Core(TM) i5-12500T".into());
    inv.hardware.cpu.logical_cores = 12;
    inv.hardware.memory.total_bytes = 16 << 30;
    inv.os.id = Some(os_id.into());
    inv.os.pretty_name = Some(pretty.into());
    inv.network.interfaces.push(Interface {
        name: "eth0".into(),
        mac: Some(format!("52:54:00:00:01:{n:02x}")),
        kind: InterfaceKind::Physical,
        state: "up".into(),
        ..Interface::default()
    });
    inv.storage.filesystems.push(Filesystem {
        mount_point: "/".into(),
        device: "/dev/nvme0n1p2".into(),
        fs_type: "ext4".into(),
        total_bytes: Some(500 << 30),
        free_bytes: Some(200 << 30),
        ..Filesystem::default()
    });
    for (name, version) in pkgs {
        inv.software.packages.push(Package {
            name: (*name).into(),
            version: (*version).into(),
            arch: Some("amd64".into()),
            ..Package::default()
        });
    }
    inv.canonicalize();
    inv
}

fn snapshot(agent: &str, seq: u64, at: Timestamp, inv: Inventory) -> Ingest {
    Ingest {
        agent_id: agent.into(),
        received_at: at,
        record: IngestRecord::Snapshot(proto::InventorySnapshot {
            seq,
            taken_at: at,
            inventory: inv,
        }),
    }
}

fn sample(at: i64, interval_ms: u64, cpu: f64, fs: f64) -> HealthSample {
    HealthSample {
        at: Timestamp(at),
        interval_ms,
        cpu: Some(CpuUsage {
            total_percent: cpu,
            ..CpuUsage::default()
        }),
        memory: MemoryUsage {
            total_bytes: 16 << 30,
            available_bytes: 6 << 30,
            used_bytes: 10 << 30,
            ..MemoryUsage::default()
        },
        filesystems: vec![
            FilesystemUsage {
                mount_point: "/".into(),
                used_percent: fs,
                ..FilesystemUsage::default()
            },
            FilesystemUsage {
                mount_point: "/var".into(),
                used_percent: fs / 2.0,
                ..FilesystemUsage::default()
            },
        ],
        network: vec![NetworkIo {
            interface: "eth0".into(),
            rx_bytes_per_second: cpu * 1000.0,
            tx_bytes_per_second: cpu * 100.0,
            ..NetworkIo::default()
        }],
        ..HealthSample::default()
    }
}

fn add_user(store: &Store, name: &str, role: Role) {
    // One argon2id hash for every account of every test: hashing is slow.
    static HASH: OnceLock<String> = OnceLock::new();
    let now = Timestamp::now();
    store
        .add_user(&UserRecord {
            name: name.into(),
            role,
            password_hash: HASH
                .get_or_init(|| password::hash(PASSWORD).unwrap())
                .clone(),
            disabled: false,
            created_at: now,
            password_set_at: now,
        })
        .unwrap();
}

/// The fleet: six `web-*` hosts (web-01 upgraded openssl an hour ago,
/// has a full root filesystem and an incident), an old `db-01`, a host
/// and a package with markup in their names, a host whose name and OS
/// read like spreadsheet formulas, `big-01` (given 30 days of samples by [`seed_big`]), and
/// the network device `core-sw1`.
fn start() -> Server {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(Store::open(&dir.path().join("store.redb")).unwrap());
    let now = Timestamp::now();
    let ago = |ms: i64| Timestamp(now.0 - ms);
    let mut first = vec![snapshot(
        "agent-web-01",
        1,
        ago(3 * DAY),
        machine(
            "web-01",
            "debian",
            "Debian GNU/Linux 12 (bookworm)",
            1,
            &[("openssl", "3.0.7-1"), ("nginx", "1.22.1-9")],
        ),
    )];
    for n in 2..=6u8 {
        first.push(snapshot(
            &format!("agent-web-0{n}"),
            1,
            ago(2 * 3_600_000),
            machine(
                &format!("web-0{n}"),
                "debian",
                "Debian GNU/Linux 12 (bookworm)",
                n,
                &[("openssl", "3.0.11-1")],
            ),
        ));
    }
    first.push(snapshot(
        "agent-db",
        1,
        ago(10 * DAY),
        machine(
            "db-01",
            "rhel",
            "Red Hat Enterprise Linux 9.3",
            10,
            &[("openssl", "3.0.7-24")],
        ),
    ));
    first.push(snapshot(
        "agent-xss",
        1,
        ago(3_600_000),
        machine(
            &format!("x{XSS}"),
            "debian",
            "Debian GNU/Linux 12 (bookworm)",
            11,
            &[(&format!("p{XSS}"), "1.0")],
        ),
    ));
    first.push(snapshot(
        "agent-formula",
        1,
        ago(3_600_000),
        machine("=1+2", "alpine", "+SUM(A1)", 12, &[]),
    ));
    // A desktop's worth of packages.
    let big_packages: Vec<(String, String)> = (0..2_000)
        .map(|i| {
            (
                format!("lib-package-{i:04}"),
                format!("{}.{}.{}-1+deb12u1", i % 7, i % 13, i),
            )
        })
        .collect();
    first.push(snapshot(
        "agent-big",
        1,
        ago(31 * DAY),
        machine(
            "big-01",
            "debian",
            "Debian GNU/Linux 12 (bookworm)",
            13,
            &big_packages
                .iter()
                .map(|(n, v)| (n.as_str(), v.as_str()))
                .collect::<Vec<_>>(),
        ),
    ));
    store.commit(&first).unwrap();
    for id in ["agent-web-01", "agent-web-02"] {
        let mut agent = AgentRecord::enrolled(id, "web", "", [1; 32], "0.4.2", ago(5 * DAY));
        agent.last_seen = Some(ago(MINUTE));
        store.add_agent(&agent).unwrap();
    }
    let web01 = store.agent_asset_id("agent-web-01").unwrap().unwrap();
    store.set_tags(&web01, &["prod".into()]).unwrap();

    // web-01: openssl upgraded ten minutes ago, root filesystem full since.
    let desk = Desk::new(
        Arc::clone(&store),
        RuleSet::default(),
        None,
        30,
        SlaPolicies::default(),
        Arc::new(LogHooks),
        now,
    )
    .unwrap();
    let (_, fed) = store
        .commit_fed(&[snapshot(
            "agent-web-01",
            2,
            ago(10 * MINUTE),
            machine(
                "web-01",
                "debian",
                "Debian GNU/Linux 12 (bookworm)",
                1,
                &[("openssl", "3.0.11-1"), ("nginx", "1.22.1-9")],
            ),
        )])
        .unwrap();
    desk.feed(&fed, now).unwrap();
    let samples = (1..=9)
        .rev()
        .map(|m| sample(now.0 - m * MINUTE, 60_000, 12.5, 97.0))
        .collect();
    let (_, fed) = store
        .commit_fed(&[Ingest {
            agent_id: "agent-web-01".into(),
            received_at: now,
            record: IngestRecord::Metrics(proto::MetricBatch { seq: 3, samples }),
        }])
        .unwrap();
    desk.feed(&fed, now).unwrap();
    // web-01 probes the gateway: two rounds, two steps of the day chart apart.
    for (seq, minutes) in [(4, 20), (5, 5)] {
        let rtt = Some(10.0 + seq as f64);
        let round = proto::ProbeRound {
            seq,
            at: ago(minutes * MINUTE),
            results: vec![ProbeResult {
                target: "10.0.0.1".into(),
                kind: ProbeKind::Icmp,
                method: ProbeMethod::Raw,
                sent: 5,
                received: 5,
                refused: 0,
                rtt_min_ms: rtt,
                rtt_median_ms: rtt,
                rtt_max_ms: rtt,
                jitter_ms: Some(0.5),
                loss_percent: 0.0,
                extra: String::new(),
            }],
        };
        store
            .commit(&[Ingest {
                agent_id: "agent-web-01".into(),
                received_at: now,
                record: IngestRecord::ProbeRound(round),
            }])
            .unwrap();
    }

    add_user(&store, "vera", Role::Viewer);
    add_user(&store, "hugo", Role::Helpdesk);
    store
        .add_agent(&AgentRecord::enrolled(
            "agent-probe",
            "probe-1",
            "",
            [2; 32],
            "0.4.2",
            now,
        ))
        .unwrap();
    let (admin_rec, admin_token) = api::new_api_token("ops", Role::Admin, now);
    store.add_api_token(&admin_rec).unwrap();

    let state = ApiState {
        store: Arc::clone(&store),
        telemetry: Arc::new(Telemetry::default()),
        admin: Arc::new(FakeAdmin),
        desk: None,
        calls: Default::default(),
    };
    let (base, rt) = console_support::serve(state, ConsoleSettings::default());
    Server {
        base,
        store,
        admin_token,
        _dir: dir,
        _rt: rt,
    }
}

/// 30 days of samples of `big-01`, ten minutes apart, in daily batches.
fn seed_big(store: &Store) {
    let now = Timestamp::now();
    let big_from = now.0 - 30 * DAY;
    for day in 0..30 {
        let samples = (0..144)
            .map(|i| {
                let at = big_from + day * DAY + i * 600_000;
                let k = day * 144 + i;
                sample(at, 600_000, (k * 7919 % 1000) as f64 / 10.0, 40.0)
            })
            .collect();
        store
            .commit(&[Ingest {
                agent_id: "agent-big".into(),
                received_at: now,
                record: IngestRecord::Metrics(proto::MetricBatch {
                    seq: 2 + u64::try_from(day).unwrap(),
                    samples,
                }),
            }])
            .unwrap();
    }
}

/// A client that follows no redirect and takes every status as an answer.
fn http() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .max_redirects(0)
        .build()
        .into()
}

struct Answer {
    status: u16,
    headers: ureq::http::HeaderMap,
    body: String,
}

impl Answer {
    fn header(&self, name: &str) -> &str {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
    }
}

impl Server {
    /// Signs `name` in through the login form; the session cookie.
    fn login(&self, name: &str) -> String {
        let resp = http()
            .post(format!("{}/login", self.base))
            .header("Content-Type", "application/x-www-form-urlencoded")
            .send(format!(
                "name={name}&password={}&next=%2Fassets",
                PASSWORD.replace(' ', "+")
            ))
            .unwrap();
        assert_eq!(resp.status().as_u16(), 303, "login of {name}");
        let cookie = resp.headers().get("set-cookie").unwrap().to_str().unwrap();
        cookie.split(';').next().unwrap().to_owned()
    }

    fn get(&self, path: &str, cookie: Option<&str>) -> Answer {
        let mut req = http().get(format!("{}{path}", self.base));
        if let Some(c) = cookie {
            req = req.header("Cookie", c);
        }
        let mut resp = req.call().unwrap();
        Answer {
            status: resp.status().as_u16(),
            headers: resp.headers().clone(),
            body: resp.body_mut().read_to_string().unwrap(),
        }
    }

    fn page(&self, path: &str, cookie: &str) -> String {
        let a = self.get(path, Some(cookie));
        assert_eq!(a.status, 200, "{path}: {}", a.body);
        a.body
    }

    fn asset_id(&self, agent: &str) -> String {
        self.store.agent_asset_id(agent).unwrap().unwrap()
    }
}

/// The host names in the list's table, in order.
fn listed(page: &str) -> Vec<String> {
    let table = &page[page.find("<table class=\"assets\"").unwrap()..];
    let table = &table[..table.find("</table>").unwrap()];
    table
        .split("<a href=\"/assets/")
        .skip(1)
        .map(|cell| {
            let text = &cell[cell.find('>').unwrap() + 1..];
            text[..text.find("</a>").unwrap()].to_owned()
        })
        .collect()
}

/// The `href` of the link whose text starts with `text`.
fn link(page: &str, text: &str) -> Option<String> {
    let end = page.find(&format!(">{text}"))?;
    let start = page[..end].rfind("href=\"")? + 6;
    let href = &page[start..];
    Some(href[..href.find('"').unwrap()].replace("&amp;", "&"))
}

/// The text of section `id`.
fn section<'a>(page: &'a str, id: &str) -> &'a str {
    let start = page
        .find(&format!("<section id=\"{id}\""))
        .unwrap_or_else(|| panic!("no section {id}"));
    let rest = &page[start..];
    &rest[..rest.find("</section>").unwrap()]
}

fn data_points(svg_page: &str) -> Vec<usize> {
    svg_page
        .split("data-points=\"")
        .skip(1)
        .map(|s| s[..s.find('"').unwrap()].parse().unwrap())
        .collect()
}

#[test]
fn without_a_session_every_asset_page_sends_to_the_login() {
    let s = start();
    for path in ["/assets", "/assets/web-01", "/assets.csv?all=1"] {
        let a = s.get(path, None);
        assert_eq!(a.status, 303, "{path}");
        assert!(
            a.header("location").starts_with("/login?next=%2Fassets"),
            "{path}: {}",
            a.header("location")
        );
    }
    let a = s.get("/assets", Some("atalaya_session=forged"));
    assert_eq!(a.status, 303);
}

#[test]
fn the_list_filters_and_pages_keeping_its_filters() {
    let s = start();
    let c = s.login("vera");
    let all = s.page("/assets", &c);
    assert_eq!(listed(&all).len(), 10, "{all}");
    assert!(all.contains("Assets 1–10 of 10."));

    let first = s.page("/assets?hostname=web-*&limit=4", &c);
    assert_eq!(listed(&first), ["web-01", "web-02", "web-03", "web-04"]);
    assert!(first.contains("Assets 1–4 of 6."));
    let next = link(&first, "Next").unwrap();
    assert_eq!(next, "/assets?hostname=web-%2A&offset=4&limit=4");
    assert!(link(&first, "← Previous").is_none());
    let second = s.page(&next, &c);
    assert_eq!(listed(&second), ["web-05", "web-06"]);
    assert!(link(&second, "Next").is_none());
    assert_eq!(
        link(&second, "← Previous").unwrap(),
        "/assets?hostname=web-%2A&offset=0&limit=4"
    );

    // Kind, OS, tags, last seen and agent status are shown.
    let row = &first[first.find("web-01</a>").unwrap()..];
    let row = &row[..row.find("</tr>").unwrap()];
    assert!(
        row.contains("host") && row.contains("Debian GNU/Linux 12"),
        "{row}"
    );
    assert!(
        row.contains(">prod</a>") && row.contains("connected"),
        "{row}"
    );
    assert!(row.contains("<time datetime="), "{row}");
    let web02 = &first[first.find("web-02</a>").unwrap()..];
    assert!(web02[..web02.find("</tr>").unwrap()].contains("disconnected"));

    assert_eq!(listed(&s.page("/assets?os=rhel", &c)), ["db-01"]);
    assert_eq!(listed(&s.page("/assets?tag=prod", &c)), ["web-01"]);
    // big-01 sent its inventory 31 days ago (and nothing since in this test).
    assert_eq!(
        listed(&s.page("/assets?seen_before=2d", &c)),
        ["big-01", "db-01"]
    );
    let recent = listed(&s.page("/assets?seen_after=2d&hostname=*-0*", &c));
    assert!(!recent.contains(&"db-01".to_owned()) && recent.contains(&"web-01".to_owned()));
    let day = Timestamp(Timestamp::now().0 - 5 * DAY)
        .to_rfc3339()
        .unwrap();
    assert_eq!(
        listed(&s.page(&format!("/assets?seen_before={}", &day[..10]), &c)),
        ["big-01", "db-01"]
    );
    let mut old_ssl = listed(&s.page("/assets?software=openssl&version_max=3.0.7-99", &c));
    old_ssl.sort();
    assert_eq!(old_ssl, ["db-01"]);
    assert_eq!(
        listed(&s.page("/assets?software=openssl&version_min=3.0.11", &c)).len(),
        6
    );

    // Past the end: said, with the way back.
    let past = s.page("/assets?hostname=web-*&offset=40", &c);
    assert!(listed(&past).is_empty());
    assert!(past.contains("No asset on this page: 6 match"), "{past}");
    assert_eq!(
        link(&past, "see the first page").unwrap(),
        "/assets?hostname=web-%2A&offset=0"
    );

    // Filters given back in the form.
    assert!(first.contains("name=\"hostname\" value=\"web-*\""));
    // Bad filters are named.
    let bad = s.get("/assets?seen_after=someday", Some(&c));
    assert_eq!(bad.status, 400);
    assert!(bad.body.contains("seen_after"), "{}", bad.body);
    let bad = s.get("/assets?version_min=1", Some(&c));
    assert_eq!(bad.status, 400);
    assert!(bad.body.contains("version range"), "{}", bad.body);
    let bad = s.get("/assets?limit=many", Some(&c));
    assert_eq!(bad.status, 400);
    assert!(bad.body.contains("limit"), "{}", bad.body);
}

#[test]
fn csv_export_has_the_rows_shown_or_every_match_and_defuses_formulas() {
    let s = start();
    let c = s.login("vera");
    let page = s.page("/assets?hostname=web-*&limit=4&offset=2", &c);
    let shown = listed(&page);
    assert_eq!(shown, ["web-03", "web-04", "web-05", "web-06"]);
    let href = link(&page, "Export CSV (the 4 rows of this page)").unwrap();
    let a = s.get(&href, Some(&c));
    assert_eq!(a.status, 200);
    assert!(a.header("content-type").starts_with("text/csv"));
    assert!(a.header("content-disposition").starts_with("attachment"));
    let lines: Vec<&str> = a.body.lines().collect();
    assert_eq!(
        lines[0],
        "asset_id,hostname,kind,os,tags,last_seen,agent_status"
    );
    let hosts: Vec<&str> = lines[1..]
        .iter()
        .map(|l| l.split(',').nth(1).unwrap())
        .collect();
    assert_eq!(hosts, shown);

    let href = link(&page, "Export CSV (all 6 matches)").unwrap();
    assert!(
        href.contains("all=1") && href.contains("hostname=web-%2A"),
        "{href}"
    );
    let a = s.get(&href, Some(&c));
    assert_eq!(a.body.lines().count(), 7, "{}", a.body);

    let a = s.get("/assets.csv?os=alpine&all=1", Some(&c));
    let row = a.body.lines().nth(1).unwrap();
    assert!(row.contains(",'=1+2,host,'+SUM(A1),"), "{row}");
    let a = s.get("/assets.csv?hostname=x*&all=1", Some(&c));
    let row = a.body.lines().nth(1).unwrap();
    assert!(row.contains("\"x<script>alert(1)</script>\"\"'\""), "{row}");
}

#[test]
fn an_asset_page_has_every_section() {
    let s = start();
    let c = s.login("vera");
    let id = s.asset_id("agent-web-01");
    let page = s.page(&format!("/assets/{id}"), &c);
    let summary = section(&page, "summary");
    for want in [
        "web-01",
        "Debian GNU/Linux 12 (bookworm)",
        "LENOVO ThinkCentre M70q",
        "SN-0001",
        "agent-web-01",
        "connected",
        "prod",
        "First seen",
    ] {
        assert!(summary.contains(want), "summary lacks {want}: {summary}");
    }
    let hardware = section(&page, "hardware");
    assert!(
        hardware.contains("i5-12500T") && hardware.contains("16 GiB"),
        "{hardware}"
    );
    let software = section(&page, "software");
    assert!(
        software.contains("openssl") && software.contains("3.0.11-1") && software.contains("nginx")
    );
    assert!(section(&page, "network").contains("52:54:00:00:01:01"));
    assert!(section(&page, "storage").contains("/dev/nvme0n1p2"));
    let changes = section(&page, "changes");
    assert!(
        changes.contains("3.0.7-1") && changes.contains("3.0.11-1"),
        "{changes}"
    );
    assert!(changes.contains("class=\"before\"") && changes.contains("class=\"after\""));
    let incidents = section(&page, "incidents");
    let open = &incidents[..incidents.find("Past").unwrap()];
    assert!(open.contains("href=\"/incidents/"), "{incidents}");
    assert!(page.contains("<section id=\"reports\"") && page.contains("<section id=\"gaps\""));

    // Charts: CPU, memory, two filesystems, eth0, the probes; points drawn.
    let health = section(&page, "health");
    let points = data_points(health);
    assert_eq!(points.len(), 6, "{health}");
    assert!(points.iter().all(|n| *n > 0), "{points:?}");
    assert_eq!(points[5], 2, "the two probe rounds");
    for title in [
        "CPU used",
        "Memory used",
        "Filesystem / used",
        "Filesystem /var used",
        "Network eth0",
        "Probe round trip",
        "10.0.0.1 icmp",
    ] {
        assert!(health.contains(title), "no chart {title}");
    }

    // The software search.
    let page = s.page(&format!("/assets/{id}?sw=ngi"), &c);
    let software = section(&page, "software");
    assert!(
        software.contains("nginx") && !software.contains(">openssl<"),
        "{software}"
    );
    assert!(software.contains("1 of 2 packages"));

    // By host name too; a missing one is a 404.
    assert!(s.page("/assets/web-01", &c).contains("SN-0001"));
    let a = s.get("/assets/nowhere-99", Some(&c));
    assert_eq!(a.status, 404);
    assert!(a.body.contains("nowhere-99"));
}

#[test]
fn as_of_shows_the_inventory_of_then() {
    let s = start();
    let c = s.login("hugo");
    let id = s.asset_id("agent-web-01");
    let two_days_ago = Timestamp(Timestamp::now().0 - 2 * DAY)
        .to_rfc3339()
        .unwrap();
    let page = s.page(&format!("/assets/{id}?as_of={}", &two_days_ago[..10]), &c);
    let software = section(&page, "software");
    assert!(
        software.contains("3.0.7-1") && !software.contains("3.0.11-1"),
        "{software}"
    );
    assert!(page.contains("Showing the inventory as it was at"));
    let back = link(&page, "Back to now").unwrap();
    assert_eq!(back, format!("/assets/{id}"));
    // A datetime-local value works too; before the first inventory there is none.
    let page = s.page(&format!("/assets/{id}?as_of=2020-01-01T10:00"), &c);
    assert!(page.contains("had no inventory yet at that time"));
    let a = s.get(&format!("/assets/{id}?as_of=soon"), Some(&c));
    assert_eq!(a.status, 400);
    assert!(a.body.contains("as_of"));
}

#[test]
fn thirty_days_of_charts_stay_small() {
    let s = start();
    seed_big(&s.store);
    let c = s.login("vera");
    let id = s.asset_id("agent-big");
    for range in ["1h", "24h", "7d", "30d", "1y"] {
        let page = s.page(&format!("/assets/{id}?range={range}"), &c);
        let points = data_points(section(&page, "health"));
        assert_eq!(points.len(), 5, "{range}");
        // At most 300 points a line; the network chart has two lines.
        assert!(points[..4].iter().all(|n| *n <= 300), "{range}: {points:?}");
        assert!(points[4] <= 600, "{range}: {points:?}");
        if range != "1h" {
            assert!(points.iter().all(|n| *n > 0), "{range}: {points:?}");
        }
        println!(
            "range {range}: page {} bytes, points per chart {points:?}",
            page.len()
        );
        if range == "7d" {
            // Hour steps from the 1-hour rollups, not the raw points.
            assert!(page.contains("the 1h rollups"), "tier not named");
        }
        if range == "30d" {
            assert!(page.len() < 150_000, "{} bytes", page.len());
            // 2,000 packages: the first 400 listed.
            assert!(page.contains("400 are listed"), "packages not capped");
            // Ten-minute samples in 3-hour steps from the 1-hour rollups.
            assert!(points[0] >= 230, "{points:?}");
            assert!(page.contains("the 1h rollups"), "tier not named");
            assert!(page.contains("class=\"band s0\""), "no min/max band");
        }
    }
    let a = s.get(&format!("/assets/{id}?range=2w"), Some(&c));
    assert_eq!(a.status, 400);
}

#[test]
fn markup_from_agents_comes_back_escaped() {
    let s = start();
    let c = s.login("vera");
    let list = s.page("/assets?hostname=x*", &c);
    assert!(!list.contains("<script>alert"), "{list}");
    assert!(list.contains("x&lt;script&gt;alert(1)&lt;/script&gt;"));
    let id = s.asset_id("agent-xss");
    let page = s.page(
        &format!("/assets/{id}?sw=%3Cscript%3Ealert(1)%3C%2Fscript%3E%22"),
        &c,
    );
    assert!(!page.contains("<script>alert"), "{page}");
    assert!(page.contains("p&lt;script&gt;alert(1)&lt;/script&gt;"));
    // In an attribute, the quote is escaped too.
    assert!(
        page.contains("value=\"&lt;script&gt;alert(1)&lt;/script&gt;&quot;\""),
        "{}",
        section(&page, "software")
    );
    let a = s.get(&format!("/assets/{id}"), Some(&c));
    assert!(
        a.header("content-security-policy")
            .contains("script-src 'self'")
    );
}

#[test]
fn a_network_device_shows_its_device_inventory() {
    let s = start();
    let c = s.login("vera");
    let resp = http()
        .post(format!("{}/api/v1/devices", s.base))
        .header("Authorization", &format!("Bearer {}", s.admin_token))
        .header("Content-Type", "application/json")
        .send(
            serde_json::json!({"address": "192.0.2.10", "name": "core-sw1", "poller": "probe-1",
                "credentials": {"v2c": {"community": "s3cret-community"}}})
            .to_string(),
        )
        .unwrap();
    assert_eq!(resp.status().as_u16(), 201);
    let now = Timestamp::now();
    let mut inv = DeviceInventory::default();
    inv.system.descr = "Cisco IOS Software, C2960X Software".into();
    inv.system.name = "core-sw1.example".into();
    inv.system.vendor = Some("Cisco".into());
    inv.system.location = "Rack 4".into();
    for (if_index, name, oper) in [(1, "Gi0/1", OperStatus::Up), (2, "Gi0/2", OperStatus::Down)] {
        inv.interfaces.push(DeviceInterface {
            if_index,
            name: name.into(),
            alias: format!("uplink {if_index}"),
            speed_bps: Some(1_000_000_000),
            admin_up: true,
            oper_status: oper,
            ..DeviceInterface::default()
        });
    }
    // Two polls ten minutes apart (two steps of the day chart): Gi0/2
    // carries more traffic than Gi0/1.
    for (seq, at, inventory) in [(1, Timestamp(now.0 - 600_000), Some(inv)), (2, now, None)] {
        let values = vec![
            ("snmp.reachable".into(), 1.0),
            ("snmp.response_ms".into(), 4.0 + seq as f64),
            ("interface.in_bits_per_second{if=Gi0/1}".into(), 2.5e8),
            ("interface.out_bits_per_second{if=Gi0/1}".into(), 1.0e6),
            ("interface.in_bits_per_second{if=Gi0/2}".into(), 6.0e8),
            ("interface.out_bits_per_second{if=Gi0/2}".into(), 3.0e8),
        ];
        s.store
            .commit(&[Ingest {
                agent_id: "agent-probe".into(),
                received_at: at,
                record: IngestRecord::DevicePoll(proto::DevicePoll {
                    seq,
                    device: "core-sw1".into(),
                    polled_at: at,
                    state: DeviceState::Ok,
                    response_ms: Some(4),
                    inventory,
                    values,
                }),
            }])
            .unwrap();
    }
    let list = s.page("/assets?hostname=core*", &c);
    assert!(list.contains("network device"), "{list}");
    let page = s.page("/assets/device:core-sw1", &c);
    let summary = section(&page, "summary");
    assert!(
        summary.contains("Cisco IOS Software, C2960X Software") && summary.contains("Rack 4"),
        "{summary}"
    );
    let ifs = section(&page, "interfaces");
    assert!(
        ifs.contains("Gi0/1") && ifs.contains("uplink 2") && ifs.contains("250.0 Mb/s"),
        "{ifs}"
    );
    assert!(ifs.contains(">up<") && ifs.contains(">down<"), "{ifs}");
    assert!(!page.contains("s3cret-community"));
    // Its charts: how fast it answers, then its busiest interface first.
    let health = section(&page, "health");
    let titles: Vec<&str> = health
        .split("<title>")
        .skip(1)
        .map(|t| &t[..t.find('<').unwrap()])
        .collect();
    assert_eq!(
        titles,
        ["Answer to polls", "Interface Gi0/2", "Interface Gi0/1"],
        "{health}"
    );
    assert!(
        data_points(health).iter().all(|&n| n >= 2),
        "{:?}",
        data_points(health)
    );
    assert!(health.contains("Mb/s"), "{health}");
}

#[test]
fn the_change_timeline_pages_newest_first() {
    let s = start();
    let c = s.login("vera");
    // web-03 upgrades openssl 22 times after its first inventory: 23 events.
    let now = Timestamp::now().0;
    for k in 1..=22u64 {
        let at = Timestamp(now - 3_600_000 + i64::try_from(k).unwrap() * MINUTE);
        let inv = machine(
            "web-03",
            "debian",
            "Debian GNU/Linux 12 (bookworm)",
            3,
            &[("openssl", &format!("3.0.{}-1", 11 + k))],
        );
        s.store
            .commit(&[snapshot("agent-web-03", 1 + k, at, inv)])
            .unwrap();
    }
    let id = s.asset_id("agent-web-03");
    let first = s.page(&format!("/assets/{id}"), &c);
    let changes = section(&first, "changes");
    assert!(changes.contains("1–20 of 23 change events"), "{changes}");
    assert_eq!(changes.matches("<li>").count(), 20);
    // Newest first: the last upgrade leads.
    let newest = changes.find("3.0.33-1").unwrap();
    let older = changes.find("3.0.20-1").unwrap();
    assert!(newest < older);
    assert!(link(changes, "← Newer").is_none());
    let href = link(changes, "Older →").unwrap();
    assert_eq!(href, format!("/assets/{id}?changes=20#changes"));
    let second = s.page(&href, &c);
    let changes = section(&second, "changes");
    assert!(changes.contains("21–23 of 23 change events"), "{changes}");
    assert_eq!(changes.matches("<li>").count(), 3);
    assert!(changes.contains("first inventory"));
    assert!(link(changes, "Older →").is_none());
    assert_eq!(
        link(changes, "← Newer").unwrap(),
        format!("/assets/{id}#changes")
    );
}
