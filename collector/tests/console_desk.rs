//! The console's incident and knowledge-base pages, served over a real
//! store with a real incident desk and asked over real HTTP by people
//! logged in with their accounts: the queue's filters and pages, one
//! incident's sections, working an incident through the forms, CSRF and
//! roles, the knowledge-base forms and search, and escaping of what agents
//! and people wrote.
#![allow(clippy::unwrap_used)]

#[path = "support/console.rs"]
mod console_support;

use std::sync::Arc;

use atalaya_collector::api::ApiState;
use atalaya_collector::config::ConsoleSettings;
use atalaya_collector::desk::{Desk, LogHooks};
use atalaya_collector::helpers::password;
use atalaya_collector::incidents::RuleSet;
use atalaya_collector::incidents::sla::SlaPolicies;
use atalaya_collector::records::incident::{
    IncidentRecord, Priority, Severity, Status, TimelineEntry,
};
use atalaya_collector::store::{Ingest, IngestRecord, Role, Store, UserRecord};
use atalaya_collector::telemetry::Telemetry;
use atalaya_common::model::{Interface, InterfaceKind, Inventory, Timestamp};
use atalaya_common::proto;

const PASSWORD: &str = "correct horse battery";

struct Server {
    base: String,
    store: Arc<Store>,
    desk: Arc<Desk>,
    seq: std::sync::atomic::AtomicU64,
    _dir: tempfile::TempDir,
    _rt: tokio::runtime::Runtime,
}

fn machine(host: &str, mac: &str) -> Inventory {
    let mut inv = Inventory::default();
    inv.host.hostname = host.into();
    inv.host.machine_id = Some(format!("mid-{host}"));
    inv.hardware.system.uuid = Some(format!("uuid-{host}"));
    inv.os.id = Some("debian".into());
    inv.os.pretty_name = Some("Debian GNU/Linux 12 (bookworm)".into());
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

/// A collector with the hosts `pc-17` (agent `ag-pc`) and `web-01`
/// (agent `ag-web`), an incident desk, and accounts: ana and luis
/// (helpdesk), boss (admin), carla (viewer), old (helpdesk, disabled).
fn start() -> Server {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(Store::open(&dir.path().join("s.redb")).unwrap());
    let now = Timestamp::now();
    let desk = Arc::new(
        Desk::new(
            store.clone(),
            RuleSet::default(),
            None,
            30,
            SlaPolicies::default(),
            Arc::new(LogHooks),
            now,
        )
        .unwrap(),
    );
    let snapshot = |agent: &str, inv: Inventory| Ingest {
        agent_id: agent.into(),
        received_at: Timestamp(now.0 - 60_000),
        record: IngestRecord::Snapshot(proto::InventorySnapshot {
            seq: 1,
            taken_at: Timestamp(now.0 - 60_000),
            inventory: inv,
        }),
    };
    let (_, fed) = store
        .commit_fed(&[
            snapshot("ag-pc", machine("pc-17", "52:54:00:00:00:17")),
            snapshot("ag-web", machine("web-01", "52:54:00:00:00:01")),
        ])
        .unwrap();
    desk.feed(&fed, now).unwrap();
    let hash = password::hash(PASSWORD).unwrap();
    for (name, role, disabled) in [
        ("ana", Role::Helpdesk, false),
        ("luis", Role::Helpdesk, false),
        ("boss", Role::Admin, false),
        ("carla", Role::Viewer, false),
        ("old", Role::Helpdesk, true),
    ] {
        store
            .add_user(&UserRecord {
                name: name.into(),
                role,
                password_hash: hash.clone(),
                disabled,
                created_at: now,
                password_set_at: now,
            })
            .unwrap();
    }
    let state = ApiState {
        store: store.clone(),
        telemetry: Arc::new(Telemetry::default()),
        admin: Arc::new(console_support::NoServer),
        desk: Some(desk.clone()),
        calls: Default::default(),
    };
    let (base, rt) = console_support::serve(state, ConsoleSettings::default());
    Server {
        base,
        store,
        desk,
        seq: std::sync::atomic::AtomicU64::new(10),
        _dir: dir,
        _rt: rt,
    }
}

impl Server {
    fn asset(&self, agent: &str) -> String {
        self.store.agent_asset_id(agent).unwrap().unwrap()
    }

    /// `text` reported by a person at pc-17, through the real engine;
    /// returns the incident it opened.
    fn report(&self, id: &str, text: &str) -> u64 {
        let now = Timestamp::now();
        let seq = self.seq.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let (_, fed) = self
            .store
            .commit_fed(&[Ingest {
                agent_id: "ag-pc".into(),
                received_at: now,
                record: IngestRecord::UserReport(proto::UserReport {
                    seq,
                    id: id.into(),
                    written_at: now,
                    text: text.into(),
                    user: Some("maria".into()),
                    uid: Some(1000),
                }),
            }])
            .unwrap();
        self.desk.feed(&fed, now).unwrap();
        let all = self
            .store
            .incidents(&atalaya_collector::store::IncidentFilter::default())
            .unwrap();
        all.iter()
            .find(|r| r.rule == "user-report" && r.subject == id)
            .unwrap_or_else(|| panic!("no incident for report {id}: {all:?}"))
            .id
    }

    fn incident(&self, id: u64) -> IncidentRecord {
        self.store.incident(id).unwrap().unwrap()
    }

    /// Logs `name` in through the login form; the session's cookie and
    /// the CSRF token its forms carry.
    fn login(&self, name: &str) -> Session {
        let resp = agent()
            .post(format!("{}/login", self.base))
            .send_form([("name", name), ("password", PASSWORD), ("next", "/fleet")])
            .unwrap();
        assert_eq!(resp.status().as_u16(), 303, "login of {name}");
        let cookie = resp
            .headers()
            .get("set-cookie")
            .unwrap()
            .to_str()
            .unwrap()
            .split(';')
            .next()
            .unwrap()
            .to_owned();
        let mut s = Session {
            base: self.base.clone(),
            cookie,
            csrf: String::new(),
        };
        let (status, page) = s.get("/kb");
        assert_eq!(status, 200, "{page}");
        s.csrf = between(&page, "name=\"csrf\" value=\"", "\"").to_owned();
        assert!(!s.csrf.is_empty());
        s
    }
}

/// An HTTP client that follows no redirect and takes every status as an answer.
fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .max_redirects(0)
        .build()
        .into()
}

struct Session {
    base: String,
    cookie: String,
    csrf: String,
}

impl Session {
    fn get(&self, path: &str) -> (u16, String) {
        let mut resp = agent()
            .get(format!("{}{path}", self.base))
            .header("Cookie", &self.cookie)
            .call()
            .unwrap();
        let status = resp.status().as_u16();
        (status, resp.body_mut().read_to_string().unwrap())
    }

    /// Posts a form with this session's CSRF token: status, `Location`, body.
    fn post(&self, path: &str, fields: &[(&str, &str)]) -> (u16, String, String) {
        let mut all = vec![("csrf", self.csrf.as_str())];
        all.extend_from_slice(fields);
        self.post_raw(path, &all)
    }

    fn post_raw(&self, path: &str, fields: &[(&str, &str)]) -> (u16, String, String) {
        let mut resp = agent()
            .post(format!("{}{path}", self.base))
            .header("Cookie", &self.cookie)
            .send_form(fields.iter().copied())
            .unwrap();
        let status = resp.status().as_u16();
        let location = resp
            .headers()
            .get("location")
            .map(|v| v.to_str().unwrap().to_owned())
            .unwrap_or_default();
        (status, location, resp.body_mut().read_to_string().unwrap())
    }
}

/// The text between the first `start` and the next `end`.
fn between<'a>(text: &'a str, start: &str, end: &str) -> &'a str {
    let from = text
        .find(start)
        .unwrap_or_else(|| panic!("no `{start}` in {text}"))
        + start.len();
    let len = text[from..].find(end).unwrap();
    &text[from..from + len]
}

/// The incident numbers of the queue's rows, in order.
fn row_ids(page: &str) -> Vec<u64> {
    page.split("<tr data-id=\"")
        .skip(1)
        .map(|s| s[..s.find('"').unwrap()].parse().unwrap())
        .collect()
}

/// The `href` of the link marked `rel`, unescaped.
fn link(page: &str, rel: &str) -> Option<String> {
    let marker = format!("rel=\"{rel}\" href=\"");
    page.contains(&marker)
        .then(|| between(page, &marker, "\"").replace("&amp;", "&"))
}

/// The bulk incidents of the queue tests, written straight to the store:
/// ids 1001..=1130 over pc-17 and web-01, with statuses, priorities,
/// assignees, titles and SLA clocks that vary with the id.
fn bulk(s: &Server, now: Timestamp) -> Vec<IncidentRecord> {
    let (pc, web) = (s.asset("ag-pc"), s.asset("ag-web"));
    let hour = 3_600_000;
    let mut all = Vec::new();
    let txn = s.store.begin_desk().unwrap();
    for id in 1001..=1130u64 {
        let status = if id % 10 == 0 {
            Status::Closed
        } else if id % 3 == 0 {
            Status::Acknowledged
        } else {
            Status::Open
        };
        let (ack_due, at_risk) = match id % 6 {
            1 => (now.0 - hour, now.0 - 2 * hour),
            2 => (now.0 + hour, now.0 - 60_000),
            _ => (now.0 + 2 * hour, now.0 + hour),
        };
        let rec = IncidentRecord {
            id,
            asset: if id % 2 == 0 { pc.clone() } else { web.clone() },
            rule: "bulk".into(),
            subject: id.to_string(),
            title: if id % 5 == 0 {
                format!("Printer jam on floor {id}")
            } else {
                format!("Disk full on volume {id}")
            },
            description: "seen".into(),
            severity: Severity::Warning,
            priority: if id % 7 == 0 {
                Priority::P1
            } else {
                Priority::P3
            },
            status,
            level: 1,
            assignee: match id % 4 {
                0 => Some("ana".into()),
                1 => Some("luis".into()),
                _ => None,
            },
            occurrences: 1,
            flapping: false,
            opened_at: Timestamp(now.0 - 3 * hour),
            stored_at: Timestamp(now.0 - 3 * hour),
            acknowledged_at: (status == Status::Acknowledged).then_some(now),
            resolved_at: None,
            closed_at: (status == Status::Closed).then_some(now),
            acknowledge_due: Timestamp(ack_due),
            at_risk_at: Timestamp(at_risk),
            resolve_due: Timestamp(now.0 + 8 * hour),
            acknowledge_breached: false,
            resolve_breached: false,
            solution: None,
            kb_articles: Vec::new(),
            timeline: vec![TimelineEntry {
                at: Timestamp(now.0 - 3 * hour),
                author: "atalaya".into(),
                event: "opened".into(),
                text: "opened".into(),
            }],
        };
        txn.put_incident(&rec).unwrap();
        all.push(rec);
    }
    txn.commit().unwrap();
    all.reverse();
    all
}

fn ids_where(all: &[IncidentRecord], f: impl Fn(&IncidentRecord) -> bool) -> Vec<u64> {
    all.iter().filter(|r| f(r)).map(|r| r.id).collect()
}

#[test]
fn the_queue_filters_and_pages() {
    let s = start();
    let now = Timestamp::now();
    let all = bulk(&s, now);
    let ana = s.login("ana");

    // Active by default, newest first, 50 a page; the table refreshes itself.
    let active = ids_where(&all, |r| r.status.is_active());
    assert_eq!(active.len(), 117);
    let (status, page) = ana.get("/incidents");
    assert_eq!(status, 200, "{page}");
    assert!(page.contains(r#"id="queue" data-refresh="30""#), "{page}");
    assert_eq!(row_ids(&page), active[..50]);
    assert!(page.contains("1–50 of 117 incidents"), "{page}");
    assert!(link(&page, "prev").is_none());
    // Each row: priority, title, the asset by host name (a link), status,
    // assignee, the SLA badge with time left, opened.
    let row = between(&page, "<tr data-id=\"1129\"", "</tr>");
    assert!(
        row.contains(">P3<") && row.contains("Disk full on volume 1129"),
        "{row}"
    );
    assert!(
        row.contains(">web-01</a>") && row.contains("href=\"/assets/"),
        "{row}"
    );
    assert!(row.contains(">open<") && row.contains(">luis<"), "{row}");
    assert!(
        row.contains("badge bad") && row.contains("breached"),
        "{row}"
    );
    assert!(
        row.contains("ack 1 h 0 min overdue")
            || row.contains("ack 59 min overdue")
            || row.contains("ack 1 h 1 min overdue"),
        "{row}"
    );

    // Older pages, and back.
    let older = link(&page, "next").unwrap();
    let (_, page2) = ana.get(&older);
    assert_eq!(row_ids(&page2), active[50..100]);
    assert!(page2.contains("51–100 of 117"), "{page2}");
    let (_, page3) = ana.get(&link(&page2, "next").unwrap());
    assert_eq!(row_ids(&page3), active[100..]);
    assert!(link(&page3, "next").is_none());
    let (_, back) = ana.get(&link(&page3, "prev").unwrap());
    assert_eq!(row_ids(&back), active[50..100]);

    // Each filter, and filters together; the links keep them.
    let check = |path: &str, want: Vec<u64>| {
        let (status, page) = ana.get(path);
        assert_eq!(status, 200, "{path}: {page}");
        let n = want.len();
        assert_eq!(row_ids(&page), want[..n.min(50)], "{path}");
        if n == 0 {
            assert!(page.contains("No incident matches."), "{path}");
        } else {
            assert!(
                page.contains(&format!(" of {n} incident")),
                "{path}: {page}"
            );
        }
        page
    };
    // Every incident: counted from the table, paged by id.
    let everything = ids_where(&all, |_| true);
    let page = check("/incidents?status=all", everything.clone());
    let (_, page2) = ana.get(&link(&page, "next").unwrap());
    assert_eq!(row_ids(&page2), everything[50..100]);
    assert!(page2.contains("51–100 of 130"), "{page2}");
    let (_, page3) = ana.get(&link(&page2, "next").unwrap());
    assert_eq!(row_ids(&page3), everything[100..]);
    let (_, back) = ana.get(&link(&page3, "prev").unwrap());
    assert_eq!(row_ids(&back), everything[50..100]);
    check(
        "/incidents?status=all&priority=P1",
        ids_where(&all, |r| r.priority == Priority::P1),
    );
    check(
        "/incidents?status=closed",
        ids_where(&all, |r| r.status == Status::Closed),
    );
    check(
        "/incidents?status=acknowledged",
        ids_where(&all, |r| r.status == Status::Acknowledged),
    );
    check(
        "/incidents?assignee=none",
        ids_where(&all, |r| r.status.is_active() && r.assignee.is_none()),
    );
    check(
        "/incidents?assignee=me",
        ids_where(&all, |r| {
            r.status.is_active() && r.assignee.as_deref() == Some("ana")
        }),
    );
    check(
        "/incidents?assignee=luis&status=all",
        ids_where(&all, |r| r.assignee.as_deref() == Some("luis")),
    );
    check(
        "/incidents?sla=breached",
        ids_where(&all, |r| {
            r.status == Status::Open && r.acknowledge_due.0 < now.0
        }),
    );
    check(
        "/incidents?sla=at_risk",
        ids_where(&all, |r| r.status == Status::Open && r.id % 6 == 2),
    );
    check(
        "/incidents?sla=ok&priority=P1",
        ids_where(&all, |r| {
            r.status.is_active()
                && r.priority == Priority::P1
                && !(r.status == Status::Open && matches!(r.id % 6, 1 | 2))
        }),
    );
    let pc = s.asset("ag-pc");
    check(
        "/incidents?asset=pc-17&status=all",
        ids_where(&all, |r| r.asset == pc),
    );
    check(
        &format!("/incidents?asset={pc}&q=PRINTER+jam"),
        ids_where(&all, |r| {
            r.asset == pc && r.status.is_active() && r.title.starts_with("Printer jam")
        }),
    );
    let page = check(
        "/incidents?status=all&q=disk",
        ids_where(&all, |r| r.title.starts_with("Disk")),
    );
    let next = link(&page, "next").unwrap();
    assert!(
        next.contains("status=all") && next.contains("q=disk"),
        "{next}"
    );
    check("/incidents?q=nothing+like+this", Vec::new());

    // A filter that makes no sense says which and why.
    for (path, words) in [
        ("/incidents?priority=P9", "priority `P9`"),
        ("/incidents?status=lost", "status `lost`"),
        ("/incidents?sla=late", "SLA state `late`"),
        (
            "/incidents?asset=nowhere",
            "no asset has the id or host name `nowhere`",
        ),
        ("/incidents?from=x", "`x` is not an incident number"),
    ] {
        let (status, page) = ana.get(path);
        assert_eq!(status, 400, "{path}");
        assert!(page.contains(words), "{path}: {page}");
    }
    // Not signed in: to the login page, and back after.
    let resp = agent()
        .get(format!("{}/incidents?status=all", s.base))
        .call()
        .unwrap();
    assert_eq!(resp.status().as_u16(), 303);
    assert_eq!(
        resp.headers().get("location").unwrap(),
        "/login?next=%2Fincidents%3Fstatus%3Dall"
    );
}

/// The forms an incident page offers, by action.
fn forms(page: &str) -> Vec<String> {
    page.split("data-action=\"")
        .skip(1)
        .map(|s| s[..s.find('"').unwrap()].to_owned())
        .collect()
}

#[test]
fn an_incident_is_worked_through_the_forms() {
    let s = start();
    let id = s.report("r-1", "the printer on floor 2 prints blank pages");
    let ana = s.login("ana");
    let path = format!("/incidents/{id}");

    let (status, page) = ana.get(&path);
    assert_eq!(status, 200, "{page}");
    for part in [
        "pc-17: the printer on floor 2 prints blank pages",
        "user-report",
        ">pc-17</a>",
        "Occurrences",
        "maria at pc-17 wrote at",
        "Acknowledge",
        "At risk (escalates unacknowledged)",
        "Resolve",
        "Knowledge base",
        "Timeline",
        ">opened<",
    ] {
        assert!(page.contains(part), "{part}: {page}");
    }
    assert_eq!(
        forms(&page),
        ["ack", "assign", "escalate", "note", "resolve"]
    );
    // Assignable: help desk and admins, not the viewer nor a disabled account.
    let choices = between(&page, "name=\"assignee\"", "</select>");
    for n in ["ana", "luis", "boss"] {
        assert!(choices.contains(&format!("value=\"{n}\"")), "{choices}");
    }
    assert!(
        !choices.contains("carla") && !choices.contains("\"old\""),
        "{choices}"
    );

    // ack → assign → note → resolve with a new KB article → close → reopen.
    let act = |verb: &str, fields: &[(&str, &str)]| {
        let (status, location, body) = ana.post(&format!("{path}/{verb}"), fields);
        assert_eq!(status, 303, "{verb}: {body}");
        assert_eq!(location, path);
    };
    act("ack", &[]);
    let (_, page) = ana.get(&path);
    assert!(page.contains("acknowledged by ana"), "{page}");
    assert_eq!(forms(&page), ["assign", "escalate", "note", "resolve"]);
    // Acting twice: a clear refusal, on the page as it is now.
    let (status, _, page) = ana.post(&format!("{path}/ack"), &[]);
    assert_eq!(status, 409);
    assert!(page.contains("cannot ack incident"), "{page}");
    assert!(page.contains("it was acknowledged already"), "{page}");
    assert!(page.contains("role=\"alert\""), "{page}");

    act("assign", &[("assignee", "luis")]);
    assert_eq!(s.incident(id).assignee.as_deref(), Some("luis"));
    let (status, _, page) = ana.post(&format!("{path}/assign"), &[("assignee", "carla")]);
    assert_eq!(status, 400);
    assert!(
        page.contains("`carla` is not a help-desk or admin account"),
        "{page}"
    );
    assert_eq!(s.incident(id).assignee.as_deref(), Some("luis"));
    let (status, _, _) = ana.post(&format!("{path}/note"), &[("text", "  ")]);
    assert_eq!(status, 400);

    act("note", &[("text", "called maria: the toner is empty")]);
    act(
        "note",
        &[("text", "A new toner is on its way."), ("public", "on")],
    );
    let (_, page) = ana.get(&path);
    assert!(page.contains("<td>public note</td>"), "{page}");
    act(
        "resolve",
        &[
            ("solution", "replaced the toner cartridge"),
            ("kb_article", ""),
            ("save_kb", "on"),
        ],
    );
    let rec = s.incident(id);
    assert_eq!(rec.status, Status::Resolved);
    let articles = s.store.articles().unwrap();
    assert_eq!(articles.len(), 1, "{articles:?}");
    let article = &articles[0];
    assert_eq!(article.solution, "replaced the toner cartridge");
    assert_eq!(article.solved, 1);
    assert_eq!(rec.kb_articles, [article.id.to_string()]);
    let (_, page) = ana.get(&path);
    assert!(
        page.contains(&format!("href=\"/kb/{}\"", article.id)),
        "{page}"
    );
    assert!(
        page.contains("resolved by ana: replaced the toner cartridge"),
        "{page}"
    );
    assert_eq!(forms(&page), ["note", "close", "reopen"]);
    act("close", &[]);
    let (_, page) = ana.get(&path);
    assert_eq!(forms(&page), ["note", "reopen"]);
    act("reopen", &[]);

    let rec = s.incident(id);
    assert_eq!(rec.status, Status::Open);
    let lines: Vec<(&str, &str, &str)> = rec
        .timeline
        .iter()
        .map(|e| (e.author.as_str(), e.event.as_str(), e.text.as_str()))
        .collect();
    assert_eq!(
        lines[1..],
        [
            ("ana", "acknowledged", "acknowledged by ana"),
            ("ana", "assigned", "assigned to luis"),
            ("ana", "note", "called maria: the toner is empty"),
            ("ana", "public-note", "A new toner is on its way."),
            (
                "ana",
                "resolved",
                "resolved by ana: replaced the toner cartridge"
            ),
            (
                "ana",
                "kb_saved",
                "solution saved as knowledge-base article 1"
            ),
            ("ana", "closed", "closed by ana"),
            ("ana", "reopened", "reopened by ana"),
        ],
        "{lines:?}"
    );
    let (_, page) = ana.get(&path);
    assert!(page.contains("reopened by ana"), "{page}");

    // Another one: resolved with the article (confirmed), nothing saved.
    let other = s.report("r-2", "the printer on floor 3 prints blank pages too");
    let (status, _, body) = ana.post(
        &format!("/incidents/{other}/resolve"),
        &[
            ("solution", "same toner"),
            ("kb_article", &article.id.to_string()),
        ],
    );
    assert_eq!(status, 303, "{body}");
    let articles = s.store.articles().unwrap();
    assert_eq!(articles.len(), 1, "{articles:?}");
    assert_eq!(articles[0].solved, 2);
    // Without the box ticked and no article, the solution stays on the incident.
    let third = s.report("r-3", "the scanner jams");
    let (status, _, _) = ana.post(
        &format!("/incidents/{third}/resolve"),
        &[("solution", "cleaned the rollers")],
    );
    assert_eq!(status, 303);
    assert_eq!(s.store.articles().unwrap().len(), 1);
    assert_eq!(
        s.incident(third).solution.as_deref(),
        Some("cleaned the rollers")
    );
    // An article that does not exist is refused, the incident untouched.
    let fourth = s.report("r-4", "no network on the laptop");
    let (status, _, page) = ana.post(
        &format!("/incidents/{fourth}/resolve"),
        &[("kb_article", "999")],
    );
    assert_eq!(status, 400);
    assert!(page.contains("no knowledge-base article 999"), "{page}");
    assert_eq!(s.incident(fourth).status, Status::Open);
    let (status, _, _) = ana.post(&format!("/incidents/{fourth}/explode"), &[]);
    assert_eq!(status, 404);
    let (status, _, _) = ana.post("/incidents/123456/ack", &[]);
    assert_eq!(status, 404);
}

#[test]
fn forms_need_the_token_and_the_role() {
    let s = start();
    let id = s.report("r-1", "outlook does not start");
    let path = format!("/incidents/{id}");
    let ana = s.login("ana");
    let before = s.incident(id);

    // A wrong or missing token: 403, nothing done.
    let (status, _, body) = ana.post_raw(&format!("{path}/ack"), &[("csrf", "forged")]);
    assert_eq!(status, 403, "{body}");
    assert!(body.contains("security token"), "{body}");
    let (status, _, _) = ana.post_raw(&format!("{path}/ack"), &[]);
    assert_eq!(status, 403);
    // Another site's form: 403 even with the token.
    let resp = agent()
        .post(format!("{}{path}/ack", s.base))
        .header("Cookie", &ana.cookie)
        .header("Origin", "https://evil.example")
        .send_form([("csrf", ana.csrf.as_str())])
        .unwrap();
    assert_eq!(resp.status().as_u16(), 403);
    // Not signed in.
    let resp = agent()
        .post(format!("{}{path}/ack", s.base))
        .send_form([("csrf", "x")])
        .unwrap();
    assert_eq!(resp.status().as_u16(), 403);
    assert_eq!(s.incident(id), before);

    // A viewer sees the incident and no form, and cannot act even with
    // the session's own token.
    let carla = s.login("carla");
    let (status, page) = carla.get(&path);
    assert_eq!(status, 200);
    assert!(page.contains("outlook does not start"), "{page}");
    assert!(forms(&page).is_empty(), "{page}");
    assert!(!page.contains("name=\"assignee\""), "{page}");
    for (verb, fields) in [
        ("ack", vec![]),
        ("note", vec![("text", "hello")]),
        ("resolve", vec![("solution", "x"), ("save_kb", "on")]),
    ] {
        let (status, _, body) = carla.post(&format!("{path}/{verb}"), &fields);
        assert_eq!(status, 403, "{verb}: {body}");
        assert!(body.contains("this needs the helpdesk role"), "{body}");
    }
    assert_eq!(s.incident(id), before);
    assert!(s.store.articles().unwrap().is_empty());
    let (status, _) = carla.get("/kb/new");
    assert_eq!(status, 403);
    let (status, _, _) = carla.post("/kb/new", &[("title", "t"), ("solution", "s")]);
    assert_eq!(status, 403);
    assert!(s.store.articles().unwrap().is_empty());

    // An admin acts like the help desk.
    let boss = s.login("boss");
    let (status, _, _) = boss.post(&format!("{path}/escalate"), &[]);
    assert_eq!(status, 303);
    let rec = s.incident(id);
    assert_eq!(rec.level, 2);
    assert_eq!(rec.timeline.last().unwrap().author, "boss");
}

#[test]
fn the_knowledge_base_is_written_edited_and_searched() {
    let s = start();
    let ana = s.login("ana");
    let (status, page) = ana.get("/kb");
    assert_eq!(status, 200);
    assert!(page.contains("href=\"/kb/new\""), "{page}");

    // A refused form comes back filled in, naming the field.
    let (status, _, page) = ana.post(
        "/kb/new",
        &[
            ("title", "  "),
            ("symptoms", "pages come out blank"),
            ("solution", "replace the toner"),
        ],
    );
    assert_eq!(status, 400);
    assert!(
        page.contains("Not saved: `title`: must not be empty"),
        "{page}"
    );
    assert!(page.contains(">replace the toner</textarea>"), "{page}");
    assert!(
        page.contains(
            "name=\"title\" value=\"  \" required maxlength=\"200\" aria-invalid=\"true\""
        ),
        "{page}"
    );
    let (status, _, page) = ana.post(
        "/kb/new",
        &[
            ("title", "Blank pages"),
            ("solution", "replace the toner"),
            ("software_version", "1.*"),
        ],
    );
    assert_eq!(status, 400);
    assert!(page.contains("a version needs the software name"), "{page}");
    assert!(
        page.contains(
            "name=\"software_version\" value=\"1.*\" placeholder=\"3.0.*\" aria-invalid=\"true\""
        ),
        "{page}"
    );
    assert!(s.store.articles().unwrap().is_empty());

    let (status, location, _) = ana.post(
        "/kb/new",
        &[
            ("title", "Printer prints blank pages"),
            ("symptoms", "pages come out blank"),
            ("solution", "replace the toner cartridge"),
            ("rule", "user-report"),
            ("os", ""),
        ],
    );
    assert_eq!(status, 303);
    let id = s.store.articles().unwrap()[0].id;
    assert_eq!(location, format!("/kb/{id}"));
    let (status, page) = ana.get(&location);
    assert_eq!(status, 200);
    assert!(page.contains("KB-1 Printer prints blank pages"), "{page}");
    assert!(page.contains("replace the toner cartridge"), "{page}");
    assert!(page.contains("<dt>Rule</dt><dd>user-report</dd>"), "{page}");
    assert!(!page.contains("<dt>OS</dt>"), "{page}");
    assert!(
        page.contains("Suggested for <span class=\"suggested\">0</span> incidents"),
        "{page}"
    );

    // Edited: the text changes, the counts stay.
    let (status, page) = ana.get(&format!("/kb/{id}/edit"));
    assert_eq!(status, 200);
    assert!(
        page.contains("value=\"Printer prints blank pages\""),
        "{page}"
    );
    assert!(page.contains("value=\"user-report\""), "{page}");
    atalaya_collector::desk::kb::record_solution(
        &s.store,
        &atalaya_collector::kb::IncidentFacts::default(),
        "",
        Some(id),
        Timestamp::now(),
    )
    .unwrap();
    let (status, location, _) = ana.post(
        &format!("/kb/{id}/edit"),
        &[
            ("title", "Laser printer prints blank pages"),
            ("symptoms", "pages come out blank or faint"),
            ("solution", "shake, then replace the toner cartridge"),
            ("rule", "user-report"),
        ],
    );
    assert_eq!(status, 303);
    assert_eq!(location, format!("/kb/{id}"));
    let a = s.store.article(id).unwrap().unwrap();
    assert_eq!(a.title, "Laser printer prints blank pages");
    assert_eq!(a.solved, 1);
    let (_, page) = ana.get(&location);
    assert!(
        page.contains("solved <span class=\"solved\">1</span>"),
        "{page}"
    );
    let (status, _, page) = ana.post(&format!("/kb/{id}/edit"), &[("title", "x")]);
    assert_eq!(status, 400);
    assert!(page.contains("`solution`: must not be empty"), "{page}");
    assert_eq!(s.store.article(id).unwrap().unwrap(), a);
    let (status, _, _) = ana.post("/kb/77/edit", &[("title", "x"), ("solution", "y")]);
    assert_eq!(status, 404);

    // Search, with the KB's matching: every word, any case, any field.
    let (status, _, _) = ana.post(
        "/kb/new",
        &[
            ("title", "VPN drops every hour"),
            ("solution", "renew the certificate"),
        ],
    );
    assert_eq!(status, 303);
    let (_, page) = ana.get("/kb?q=TONER+faint");
    assert!(page.contains(&format!("href=\"/kb/{id}\"")), "{page}");
    assert!(page.contains("1 article for"), "{page}");
    assert!(!page.contains("VPN drops"), "{page}");
    let (_, page) = ana.get("/kb?q=certificate");
    assert!(
        page.contains("VPN drops every hour") && !page.contains("Laser"),
        "{page}"
    );
    let (_, page) = ana.get("/kb?q=nothing+here");
    assert!(page.contains("0 articles for"), "{page}");
    let (_, page) = ana.get("/kb");
    assert!(
        page.contains("VPN drops") && page.contains("Laser printer"),
        "{page}"
    );
    // A viewer reads, without the writing links.
    let carla = s.login("carla");
    let (status, page) = carla.get(&format!("/kb/{id}"));
    assert_eq!(status, 200);
    assert!(!page.contains("/edit\""), "{page}");
    let (_, page) = carla.get("/kb");
    assert!(!page.contains("href=\"/kb/new\""), "{page}");
    let (status, _) = carla.get("/kb/999");
    assert_eq!(status, 404);
}

#[test]
fn what_agents_and_people_write_comes_back_escaped() {
    let s = start();
    let evil = r#"<script>alert(1)</script> "quoted" & 'single'"#;
    let id = s.report("r-x", evil);
    let rec = s.incident(id);
    assert!(
        rec.title.contains("<script>alert(1)</script>"),
        "{}",
        rec.title
    );
    assert!(rec.description.contains("<script>alert(1)</script>"));
    let ana = s.login("ana");
    let (_, location, _) = ana.post("/kb/new", &[("title", evil), ("solution", evil)]);
    let escaped = "&lt;script&gt;alert(1)&lt;/script&gt; &quot;quoted&quot; &amp; 'single'";
    for path in [
        format!("/incidents/{id}"),
        "/incidents".to_owned(),
        format!("/incidents?q={}", "%3Cscript%3E"),
        location.clone(),
        format!("{location}/edit"),
        "/kb".to_owned(),
        "/kb?q=%3Cscript%3E+%22quoted%22".to_owned(),
    ] {
        let resp = agent()
            .get(format!("{}{path}", s.base))
            .header("Cookie", &ana.cookie)
            .call()
            .unwrap();
        let csp = resp
            .headers()
            .get("content-security-policy")
            .unwrap()
            .to_str()
            .unwrap()
            .to_owned();
        assert!(csp.contains("script-src 'self'"), "{csp}");
        let page = resp.into_body().read_to_string().unwrap();
        assert!(!page.contains("<script>alert"), "{path}: {page}");
        assert!(!page.contains("style="), "{path}");
        assert!(page.contains("&lt;script&gt;"), "{path}: {page}");
        if !path.contains("q=") {
            assert!(page.contains(escaped), "{path}: {page}");
        }
    }
    // A note with markup stays text.
    let (status, _, _) = ana.post(
        &format!("/incidents/{id}/note"),
        &[("text", "<img src=x onerror=alert(2)>")],
    );
    assert_eq!(status, 303);
    let (_, page) = ana.get(&format!("/incidents/{id}"));
    assert!(
        page.contains("&lt;img src=x onerror=alert(2)&gt;"),
        "{page}"
    );
    assert!(!page.contains("<img src=x"), "{page}");
}
