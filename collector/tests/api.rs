//! The HTTP API served on loopback over a real store, asked with a real
//! HTTP client: authentication, roles, filters, installed base, metrics,
//! enrollment tokens, caller lookup and parameter errors.
#![allow(clippy::unwrap_used)]

mod support;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use atalaya_collector::api::{self, AdminActions, ApiState};
use atalaya_collector::demo;
use atalaya_collector::desk::{Desk, LogHooks};
use atalaya_collector::incidents::RuleSet;
use atalaya_collector::incidents::sla::SlaPolicies;
use atalaya_collector::records::rollup::Tier;
use atalaya_collector::store::{AgentRecord, Ingest, IngestRecord, Role, Store};
use atalaya_collector::telemetry::Telemetry;
use atalaya_common::model::{
    Account, CpuUsage, FilesystemUsage, HealthSample, Interface, InterfaceKind, Inventory, IpNet,
    LoadAverage, Login, MemoryUsage, Package, Session, Timestamp, Users,
};
use atalaya_common::proto;
use atalaya_common::token::{EnrollmentToken, hex, secret_sha256};
use serde_json::Value;

#[derive(Debug, Default)]
struct FakeAdmin {
    revoked: Mutex<Vec<String>>,
    connected: Mutex<Vec<String>>,
}

impl AdminActions for FakeAdmin {
    fn agent_revoked(&self, id: &str) {
        self.revoked.lock().unwrap().push(id.to_owned());
    }
    fn collector_address(&self) -> String {
        "collector.example:4433".to_owned()
    }
    fn ca_sha256(&self) -> [u8; 32] {
        [7; 32]
    }
    fn is_connected(&self, id: &str) -> bool {
        self.connected.lock().unwrap().iter().any(|c| c == id)
    }
}

struct Server {
    base: String,
    admin_secret: String,
    viewer_secret: String,
    store: Arc<Store>,
    fake: Arc<FakeAdmin>,
    telemetry: Arc<Telemetry>,
    _dir: tempfile::TempDir,
    _rt: tokio::runtime::Runtime,
}

fn machine(host: &str, os_id: &str, pretty: &str, mac: &str, pkgs: &[(&str, &str)]) -> Inventory {
    let mut inv = Inventory::default();
    inv.host.hostname = host.into();
    inv.host.machine_id = Some(format!("mid-{host}"));
    inv.hardware.system.uuid = Some(format!("uuid-{host}"));
    inv.os.id = Some(os_id.into());
    inv.os.pretty_name = Some(pretty.into());
    inv.network.interfaces.push(Interface {
        name: "eth0".into(),
        mac: Some(mac.into()),
        kind: InterfaceKind::Physical,
        state: "up".into(),
        ..Interface::default()
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

fn snapshot(agent: &str, at: Timestamp, inv: Inventory) -> Ingest {
    Ingest {
        agent_id: agent.into(),
        received_at: at,
        record: IngestRecord::Snapshot(proto::InventorySnapshot {
            seq: 1,
            taken_at: at,
            inventory: inv,
        }),
    }
}

fn start() -> Server {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(Store::open(&dir.path().join("store.redb")).unwrap());
    let now = Timestamp::now();
    let hour_ago = Timestamp(now.0 - 3_600_000);
    let two_days_ago = Timestamp(now.0 - 2 * 86_400_000);
    store
        .commit(&[
            snapshot(
                "agent-web",
                hour_ago,
                machine(
                    "web-01",
                    "debian",
                    "Debian GNU/Linux 12 (bookworm)",
                    "52:54:00:00:00:01",
                    &[("openssl", "3.0.11-1"), ("nginx", "1.22.1-9")],
                ),
            ),
            snapshot(
                "agent-db",
                two_days_ago,
                machine(
                    "db-01",
                    "rhel",
                    "Red Hat Enterprise Linux 9.3",
                    "52:54:00:00:00:02",
                    &[("openssl", "3.0.7-24")],
                ),
            ),
            snapshot(
                "agent-web2",
                hour_ago,
                machine(
                    "web-02",
                    "debian",
                    "Debian GNU/Linux 12 (bookworm)",
                    "52:54:00:00:00:03",
                    &[("openssl", "3.0.11-1")],
                ),
            ),
        ])
        .unwrap();
    let samples = (0..10)
        .map(|i| HealthSample {
            at: Timestamp(hour_ago.0 + i * 60_000),
            interval_ms: 60_000,
            cpu: Some(CpuUsage {
                total_percent: i as f64,
                ..CpuUsage::default()
            }),
            ..HealthSample::default()
        })
        .collect();
    store
        .commit(&[Ingest {
            agent_id: "agent-web".into(),
            received_at: now,
            record: IngestRecord::Metrics(proto::MetricBatch { seq: 2, samples }),
        }])
        .unwrap();

    let (admin_rec, admin_secret) = api::new_api_token("ops", Role::Admin, now);
    store.add_api_token(&admin_rec).unwrap();
    let (viewer_rec, viewer_secret) = api::new_api_token("manager", Role::Viewer, now);
    store.add_api_token(&viewer_rec).unwrap();

    let fake = Arc::new(FakeAdmin::default());
    let telemetry = Arc::new(Telemetry::default());
    let state = ApiState {
        store: Arc::clone(&store),
        telemetry: Arc::clone(&telemetry),
        admin: fake.clone(),
        desk: None,
        calls: Default::default(),
    };
    let (base, rt) = support::serve(state);
    Server {
        base,
        admin_secret,
        viewer_secret,
        store,
        fake,
        telemetry,
        _dir: dir,
        _rt: rt,
    }
}

impl Server {
    fn get(&self, path: &str, token: Option<&str>) -> (u16, String) {
        let mut req = support::http().get(format!("{}{path}", self.base));
        if let Some(t) = token {
            req = req.header("Authorization", &format!("Bearer {t}"));
        }
        let mut resp = req.call().unwrap();
        (
            resp.status().as_u16(),
            resp.body_mut().read_to_string().unwrap(),
        )
    }

    fn get_json(&self, path: &str, token: &str) -> (u16, Value) {
        let (status, body) = self.get(path, Some(token));
        (status, serde_json::from_str(&body).unwrap())
    }

    fn post(&self, path: &str, token: &str, body: Value) -> (u16, Value) {
        let mut resp = support::http()
            .post(format!("{}{path}", self.base))
            .header("Authorization", &format!("Bearer {token}"))
            .header("Content-Type", "application/json")
            .send(body.to_string())
            .unwrap();
        let status = resp.status().as_u16();
        let text = resp.body_mut().read_to_string().unwrap();
        (status, serde_json::from_str(&text).unwrap_or(Value::Null))
    }
}

fn hostnames(page: &Value) -> Vec<String> {
    let mut v: Vec<String> = page["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["hostname"].as_str().unwrap().to_owned())
        .collect();
    v.sort();
    v
}

#[test]
fn no_token_or_a_bad_one_gets_401_with_a_json_error() {
    let s = start();
    for path in ["/api/v1/assets", "/metrics", "/api/v1/tokens"] {
        let (status, body) = s.get(path, None);
        assert_eq!(status, 401, "{path}");
        let e: Value = serde_json::from_str(&body).unwrap();
        assert!(
            e["error"].as_str().unwrap().contains("Authorization"),
            "{e}"
        );
    }
    let (status, body) = s.get("/api/v1/assets", Some("not-a-token"));
    assert_eq!(status, 401);
    assert!(body.contains("unknown API token"), "{body}");
}

#[test]
fn viewer_reads_but_cannot_create_tokens() {
    let s = start();
    let (status, _) = s.get("/api/v1/assets", Some(&s.viewer_secret));
    assert_eq!(status, 200);
    let (status, body) = s.post(
        "/api/v1/tokens",
        &s.viewer_secret,
        serde_json::json!({"ttl_seconds": 3600, "uses": 5}),
    );
    assert_eq!(status, 403, "{body}");
    assert!(body["error"].as_str().unwrap().contains("admin"), "{body}");
    let (status, _) = s.post(
        "/api/v1/api-tokens",
        &s.viewer_secret,
        serde_json::json!({"name": "x", "role": "admin"}),
    );
    assert_eq!(status, 403);
    assert!(s.store.list_tokens().unwrap().is_empty());
}

#[test]
fn admin_creates_an_enrollment_token_that_decodes_and_is_stored_hashed() {
    let s = start();
    let (status, body) = s.post(
        "/api/v1/tokens",
        &s.admin_secret,
        serde_json::json!({"ttl_seconds": 86400, "uses": 50}),
    );
    assert_eq!(status, 201, "{body}");
    let token = EnrollmentToken::decode(body["token"].as_str().unwrap()).unwrap();
    assert_eq!(token.address, "collector.example:4433");
    assert_eq!(token.ca_sha256, [7; 32]);
    let stored = s.store.list_tokens().unwrap();
    assert_eq!(stored.len(), 1);
    assert_eq!(stored[0].id, body["id"].as_str().unwrap());
    assert_eq!(
        stored[0].secret_sha256,
        atalaya_common::token::secret_sha256(&token.secret)
    );
    assert_eq!(stored[0].max_uses, Some(50));

    let (status, list) = s.get_json("/api/v1/tokens", &s.admin_secret);
    assert_eq!(status, 200);
    assert_eq!(list.as_array().unwrap().len(), 1);
    assert!(list[0].get("secret_sha256").is_none(), "{list}");

    let del = support::http()
        .delete(format!("{}/api/v1/tokens/{}", s.base, stored[0].id))
        .header("Authorization", &format!("Bearer {}", s.admin_secret))
        .call()
        .unwrap();
    assert_eq!(del.status().as_u16(), 204);
    assert!(s.store.list_tokens().unwrap()[0].revoked);
}

#[test]
fn the_demo_and_the_api_mint_enrollment_tokens_of_one_shape() {
    let s = start();
    let (status, body) = s.post(
        "/api/v1/tokens",
        &s.admin_secret,
        serde_json::json!({"ttl_seconds": 3600, "uses": 1}),
    );
    assert_eq!(status, 201, "{body}");
    let by_api = body["token"].as_str().unwrap().to_owned();
    let by_demo = demo::create_token(
        &s.store,
        "collector.example:4433",
        [7; 32],
        Duration::from_secs(3600),
        1,
    )
    .unwrap();
    let stored = s.store.list_tokens().unwrap();
    assert_eq!(stored.len(), 2);
    let shape = |text: &str| {
        let token = EnrollmentToken::decode(text).unwrap();
        let rec = stored
            .iter()
            .find(|r| r.secret_sha256 == secret_sha256(&token.secret))
            .unwrap();
        let id = rec.id.strip_prefix("tok-").unwrap_or_default();
        (
            text.len(),
            (token.address, token.ca_sha256, token.secret.len()),
            id.len(),
            id.bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)),
            // The public id tells nothing of the secret.
            !hex(&rec.secret_sha256).contains(id),
            rec.expires_at.map(|at| at.0 - rec.created_at.0),
            (rec.max_uses, rec.uses, rec.revoked),
            rec.collector_address.clone(),
        )
    };
    assert_eq!(shape(&by_demo), shape(&by_api));
    assert_eq!(shape(&by_api).2, 12);
    assert_ne!(by_demo, by_api);
}

#[test]
fn admin_creates_an_api_token_that_then_works() {
    let s = start();
    let (status, body) = s.post(
        "/api/v1/api-tokens",
        &s.admin_secret,
        serde_json::json!({"name": "desk", "role": "helpdesk"}),
    );
    assert_eq!(status, 201, "{body}");
    let secret = body["secret"].as_str().unwrap();
    assert_eq!(s.get("/api/v1/assets", Some(secret)).0, 200);
    assert_eq!(s.get("/api/v1/agents", Some(secret)).0, 403);
    let (_, bad_role) = s.post(
        "/api/v1/api-tokens",
        &s.admin_secret,
        serde_json::json!({"name": "x", "role": "root"}),
    );
    assert!(
        bad_role["error"].as_str().unwrap().contains("role"),
        "{bad_role}"
    );
}

#[test]
fn metrics_text_has_collector_and_store_health() {
    let s = start();
    s.telemetry.connected_agents.set(3);
    let (status, text) = s.get("/metrics", Some(&s.viewer_secret));
    assert_eq!(status, 200);
    assert!(text.contains("atalaya_connected_agents 3"), "{text}");
    assert!(text.contains("atalaya_store_assets 3"), "{text}");
}

#[test]
fn bad_parameters_get_400_naming_them() {
    let s = start();
    let t = &s.viewer_secret;
    for (path, param) in [
        (
            "/api/v1/assets/web-01/inventory?as_of=yesterday-ish",
            "as_of",
        ),
        (
            "/api/v1/assets/web-01/metrics?name=load.one&step=5x",
            "step",
        ),
        ("/api/v1/assets?limit=5000", "limit"),
        ("/api/v1/assets?seen_after=soon", "seen_after"),
        ("/api/v1/software", "name"),
    ] {
        let (status, body) = s.get_json(path, t);
        assert_eq!(status, 400, "{path}: {body}");
        assert!(
            body["error"]
                .as_str()
                .unwrap()
                .contains(&format!("`{param}`")),
            "{path}: {body}"
        );
    }
    assert_eq!(s.get_json("/api/v1/assets/nope", t).0, 404);
}

#[test]
fn asset_list_filters() {
    let s = start();
    let t = &s.viewer_secret;
    let (_, all) = s.get_json("/api/v1/assets", t);
    assert_eq!(all["total"], 3);
    let (_, web) = s.get_json("/api/v1/assets?hostname=web-*", t);
    assert_eq!(hostnames(&web), ["web-01", "web-02"]);
    let (_, rhel) = s.get_json("/api/v1/assets?os=rhel", t);
    assert_eq!(hostnames(&rhel), ["db-01"]);
    let (_, nginx) = s.get_json("/api/v1/assets?software=nginx", t);
    assert_eq!(hostnames(&nginx), ["web-01"]);
    let (_, new_ssl) = s.get_json("/api/v1/assets?software=openssl&version_min=3.0.10", t);
    assert_eq!(hostnames(&new_ssl), ["web-01", "web-02"]);
    let (_, recent) = s.get_json("/api/v1/assets?seen_after=1d", t);
    assert_eq!(hostnames(&recent), ["web-01", "web-02"]);
    let (_, stale) = s.get_json("/api/v1/assets?seen_before=1d", t);
    assert_eq!(hostnames(&stale), ["db-01"]);
    let (_, page) = s.get_json("/api/v1/assets?limit=2", t);
    assert_eq!(page["items"].as_array().unwrap().len(), 2);
    assert_eq!(page["next_offset"], 2);
    let (_, page2) = s.get_json("/api/v1/assets?limit=2&offset=2", t);
    assert_eq!(page2["items"].as_array().unwrap().len(), 1);
}

#[test]
fn software_installed_base_counts_versions() {
    let s = start();
    let (status, r) = s.get_json("/api/v1/software?name=openssl", &s.viewer_secret);
    assert_eq!(status, 200, "{r}");
    let pkg = &r["packages"][0];
    assert_eq!(pkg["name"], "openssl");
    assert_eq!(pkg["assets"], 3);
    let counts: Vec<(String, u64)> = pkg["versions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| {
            (
                v["version"].as_str().unwrap().to_owned(),
                v["count"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        counts,
        [("3.0.7-24".to_owned(), 1), ("3.0.11-1".to_owned(), 2)]
    );
}

#[test]
fn asset_by_host_name_inventory_as_of_and_changes() {
    let s = start();
    let t = &s.viewer_secret;
    let (status, a) = s.get_json("/api/v1/assets/web-01", t);
    assert_eq!(status, 200, "{a}");
    assert_eq!(a["hostname"], "web-01");
    let id = a["id"].as_str().unwrap().to_owned();
    let (status, inv) = s.get_json(&format!("/api/v1/assets/{id}/inventory?as_of=30m"), t);
    assert_eq!(status, 200, "{inv}");
    assert_eq!(inv["inventory"]["host"]["hostname"], "web-01");
    // Before the first snapshot there is no inventory.
    let (status, _) = s.get_json(&format!("/api/v1/assets/{id}/inventory?as_of=3h"), t);
    assert_eq!(status, 404);
    let (status, ch) = s.get_json("/api/v1/assets/web-01/changes?since=7d", t);
    assert_eq!(status, 200, "{ch}");
    assert_eq!(ch.as_array().unwrap().len(), 1);
    let (_, fleet) = s.get_json("/api/v1/changes?since=1d", t);
    assert_eq!(fleet.as_array().unwrap().len(), 2, "{fleet}");
}

#[path = "glpi/schema.rs"]
mod glpi_schema;

#[test]
fn inventory_in_glpi_format_and_unknown_formats_are_400() {
    let s = start();
    s.store
        .add_agent(&agent_record("agent-web", "web-01"))
        .unwrap();
    let t = &s.viewer_secret;
    let schema = glpi_schema::validator();
    let (status, doc) = s.get_json("/api/v1/assets/web-01/inventory?format=glpi", t);
    assert_eq!(status, 200, "{doc}");
    assert_eq!(glpi_schema::errors(&schema, &doc), Vec::<String>::new());
    let id = s
        .store
        .asset_by_hostname("web-01")
        .unwrap()
        .unwrap()
        .meta
        .id;
    assert_eq!(doc["deviceid"], format!("web-01-{id}"));
    assert_eq!(doc["itemtype"], "Computer");
    assert_eq!(doc["content"]["versionclient"], "Atalaya-Agent_v0.1.0");
    assert_eq!(doc["content"]["hardware"]["uuid"], "uuid-web-01");
    let names: Vec<&str> = doc["content"]["softwares"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["nginx", "openssl"]);
    assert_eq!(doc["content"]["networks"][0]["mac"], "52:54:00:00:00:01");

    // `as_of` works the same in either format.
    let (status, then) = s.get_json("/api/v1/assets/web-01/inventory?format=glpi&as_of=30m", t);
    assert_eq!(status, 200, "{then}");
    assert_eq!(glpi_schema::errors(&schema, &then), Vec::<String>::new());
    let logdate = then["content"]["accesslog"]["logdate"].as_str().unwrap();
    assert_eq!(logdate.len(), "2026-11-28 10:58:10".len(), "{logdate}");
    let (status, _) = s.get_json("/api/v1/assets/web-01/inventory?format=glpi&as_of=3h", t);
    assert_eq!(status, 404);

    let (status, own) = s.get_json("/api/v1/assets/web-01/inventory?format=atalaya", t);
    assert_eq!(status, 200, "{own}");
    assert_eq!(own["inventory"]["host"]["hostname"], "web-01");

    let (status, body) = s.get_json("/api/v1/assets/web-01/inventory?format=nope", t);
    assert_eq!(status, 400, "{body}");
    let error = body["error"].as_str().unwrap();
    for word in ["`format`", "`nope`", "`atalaya`", "`glpi`"] {
        assert!(error.contains(word), "{error}");
    }
}

#[test]
fn cli_prints_glpi_json_for_asset_only() {
    let s = start();
    let t = s.viewer_secret.clone();
    let (ok, out, err) = cli(&s, &t, &["asset", "web-01", "--format", "glpi"]);
    assert!(ok, "{err}");
    let doc: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(doc["itemtype"], "Computer");
    assert_eq!(doc["content"]["hardware"]["name"], "web-01");
    assert_eq!(
        glpi_schema::errors(&glpi_schema::validator(), &doc),
        Vec::<String>::new()
    );
    let (ok, out, _) = cli(&s, &t, &["asset", "web-01", "--format", "json"]);
    assert!(ok);
    assert_eq!(
        serde_json::from_str::<Value>(&out).unwrap()["hostname"],
        "web-01"
    );

    let (ok, _, err) = cli(&s, &t, &["assets", "--format", "glpi"]);
    assert!(!ok);
    assert!(err.contains("--format"), "{err}");
    let (ok, _, err) = cli(&s, &t, &["asset", "web-01", "--format", "xml"]);
    assert!(!ok);
    assert!(err.contains("glpi"), "{err}");
    let (ok, _, err) = cli(&s, &t, &["asset", "web-01", "--format", "glpi", "--csv"]);
    assert!(!ok);
    assert!(err.contains("cannot be used with"), "{err}");
}

#[test]
fn metric_series_raw_and_stepped() {
    let s = start();
    let t = &s.viewer_secret;
    let (status, list) = s.get_json("/api/v1/assets/web-01/metrics", t);
    assert_eq!(status, 200, "{list}");
    assert!(
        list["series"]
            .as_array()
            .unwrap()
            .iter()
            .any(|n| n == "cpu.total_percent"),
        "{list}"
    );
    let (status, m) = s.get_json(
        "/api/v1/assets/web-01/metrics?name=cpu.total_percent&from=2h",
        t,
    );
    assert_eq!(status, 200, "{m}");
    assert_eq!(m["points"].as_array().unwrap().len(), 10);
    let (_, stepped) = s.get_json(
        "/api/v1/assets/web-01/metrics?name=cpu.total_percent&from=2h&step=5m",
        t,
    );
    let n = stepped["points"].as_array().unwrap().len();
    assert!((2..=3).contains(&n), "{stepped}");
}

/// Three days of a cpu series, ten minutes apart, for `n` more agents,
/// each busier than the one before in its own way.
fn seed_fleet(s: &Server, n: i64) {
    let now = Timestamp::now().0;
    for k in 0..n {
        let samples: Vec<HealthSample> = (0..432)
            .map(|i| {
                let at = now - 3 * 86_400_000 + i * 600_000;
                HealthSample {
                    at: Timestamp(at),
                    interval_ms: 600_000,
                    cpu: Some(CpuUsage {
                        total_percent: ((i * (k + 3) * 7919 + k * 13) % 1000) as f64 / 10.0,
                        ..CpuUsage::default()
                    }),
                    ..HealthSample::default()
                }
            })
            .collect();
        s.store
            .commit(&[Ingest {
                agent_id: format!("agent-fleet-{k}"),
                received_at: Timestamp(now),
                record: IngestRecord::Metrics(proto::MetricBatch { seq: 1, samples }),
            }])
            .unwrap();
    }
}

#[test]
fn top_ranks_the_fleet_as_a_scan_of_every_point_does() {
    let s = start();
    seed_fleet(&s, 25);
    let t = &s.viewer_secret;
    let (status, top) = s.get_json("/api/v1/top?series=cpu&by=max&over=2d&limit=5", t);
    assert_eq!(
        (status, top["top"].as_array().unwrap().len()),
        (200, 0),
        "{top}"
    );
    let (status, top) = s.get_json(
        "/api/v1/top?series=cpu.total_percent&by=max&over=7d&limit=10",
        t,
    );
    assert_eq!(status, 200, "{top}");
    assert_eq!(top["tier"], "1d", "{top}");
    // The first bucket read: the day the week starts in (every point of
    // the fleet is later anyway).
    let first = (Timestamp::now().0 - 7 * 86_400_000).div_euclid(86_400_000) * 86_400_000;
    // Brute force: every point since the first bucket, per asset, those
    // of closed blocks (rolled up) and of open ones alike.
    let mut scan: Vec<(String, Vec<f64>)> = Vec::new();
    let now = Timestamp::now();
    let mut open_points = 0;
    for page in s.store.assets(&Default::default()).unwrap().items {
        let id = page.id;
        let all = s
            .store
            .metric(&id, "cpu.total_percent", Timestamp(first), now, None)
            .unwrap();
        open_points += s
            .store
            .open_points(&id, "cpu.total_percent", Timestamp(first), now)
            .unwrap()
            .len();
        let mut values: Vec<f64> = all.iter().map(|p| p.1).collect();
        if !values.is_empty() {
            values.sort_by(f64::total_cmp);
            scan.push((id, values));
        }
    }
    let mut by_max: Vec<(f64, String)> = scan
        .iter()
        .map(|(a, v)| (*v.last().unwrap(), a.clone()))
        .collect();
    by_max.sort_by(|a, b| b.0.total_cmp(&a.0).then_with(|| a.1.cmp(&b.1)));
    let got: Vec<(f64, String)> = top["top"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["value"].as_f64().unwrap(),
                e["asset_id"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert!(
        open_points > 0,
        "the newest points of each agent are in an open block"
    );
    assert_eq!(got, by_max[..10].to_vec());
    // By p95: each value within the sketch's error of the exact one.
    let (_, p95) = s.get_json(
        "/api/v1/top?series=cpu.total_percent&by=p95&over=7d&limit=1000",
        t,
    );
    let entries = p95["top"].as_array().unwrap();
    assert_eq!(entries.len(), scan.len(), "{p95}");
    for e in entries {
        let (_, values) = scan
            .iter()
            .find(|(a, _)| e["asset_id"] == a.as_str())
            .unwrap();
        let exact = values[(0.95 * (values.len() - 1) as f64).floor() as usize];
        let got = e["value"].as_f64().unwrap();
        assert!((got - exact).abs() <= exact * 0.0101, "{got} vs {exact}");
    }
    let (status, bad) = s.get_json("/api/v1/top?series=cpu.total_percent&by=rate", t);
    assert_eq!(status, 400, "{bad}");
    // The CLI prints the same ranking.
    let (ok, out, err) = cli(&s, t, &["top", "cpu.total_percent", "--limit", "3"]);
    assert!(ok, "{err}");
    assert!(
        out.starts_with("cpu.total_percent from 1d rollups since "),
        "{out}"
    );
    assert_eq!(out.lines().count(), 5, "{out}");
}

#[test]
fn top_counts_points_still_in_an_open_block() {
    let s = start();
    let t = &s.viewer_secret;
    // Three samples a minute apart: the block they are in stays open (it
    // closes after 60 samples or at the end of its 10-minute window), so
    // nothing of them is rolled up yet.
    let now = Timestamp::now().0;
    let samples: Vec<HealthSample> = [97.5, 42.0, 61.25]
        .iter()
        .enumerate()
        .map(|(i, &v)| HealthSample {
            at: Timestamp(now - 180_000 + i as i64 * 60_000),
            interval_ms: 60_000,
            cpu: Some(CpuUsage {
                total_percent: v,
                ..CpuUsage::default()
            }),
            ..HealthSample::default()
        })
        .collect();
    s.store
        .commit(&[Ingest {
            agent_id: "agent-new".into(),
            received_at: Timestamp(now),
            record: IngestRecord::Metrics(proto::MetricBatch { seq: 1, samples }),
        }])
        .unwrap();
    let asset = s.store.agent_asset_id("agent-new").unwrap().unwrap();
    let day = 86_400_000;
    assert!(
        s.store
            .rollups(&asset, "cpu.total_percent", Tier::OneDay, 0, now + day)
            .unwrap()
            .is_empty(),
        "no rollup yet"
    );
    assert_eq!(
        s.store
            .open_points(&asset, "cpu.total_percent", Timestamp(0), Timestamp(now))
            .unwrap()
            .len(),
        3
    );
    let entry = |by: &str| {
        let (status, top) = s.get_json(
            &format!("/api/v1/top?series=cpu.total_percent&by={by}&over=1d"),
            t,
        );
        assert_eq!(status, 200, "{top}");
        let e = top["top"]
            .as_array()
            .unwrap()
            .iter()
            .find(|e| e["asset_id"] == asset.as_str())
            .cloned();
        e.unwrap_or_else(|| panic!("{asset} not in {top}"))["value"]
            .as_f64()
            .unwrap()
    };
    assert_eq!(entry("max"), 97.5);
    assert_eq!(entry("min"), 42.0);
    assert_eq!(entry("last"), 61.25);
    assert!((entry("avg") - (97.5 + 42.0 + 61.25) / 3.0).abs() < 1e-9);
    let p50 = entry("p50");
    assert!((p50 - 61.25).abs() <= 61.25 * 0.0101, "{p50}");
    // The CLI ranks it too.
    let (ok, out, err) = cli(&s, t, &["top", "cpu.total_percent", "--over", "1d"]);
    assert!(ok, "{err}");
    assert!(out.lines().any(|l| l.contains("97.5")), "{out}");
}

#[test]
fn old_ranges_are_answered_from_rollups_with_the_asked_aggregation() {
    let s = start();
    seed_fleet(&s, 1);
    let t = &s.viewer_secret;
    let asset = s.store.agent_asset_id("agent-fleet-0").unwrap().unwrap();
    let path = |q: &str| format!("/api/v1/assets/{asset}/metrics?name=cpu.total_percent&{q}");
    let (status, m) = s.get_json(&path("from=3d&step=1h&agg=p95"), t);
    assert_eq!(status, 200, "{m}");
    assert_eq!(
        (m["tier"].as_str(), m["aggregation"].as_str()),
        (Some("1h"), Some("p95")),
        "{m}"
    );
    // About one point an hour for 3 days: the hours at both ends are
    // partly covered or not at all, depending on the minute the test runs.
    let n = m["points"].as_array().unwrap().len();
    assert!((70..=74).contains(&n), "{n}");
    let (_, raw) = s.get_json(&path("from=1h"), t);
    assert_eq!(raw["tier"], "raw");
    let (_, day) = s.get_json(&path("from=3d&step=1d&agg=max"), t);
    assert_eq!(day["tier"], "1d");
    let (_, five) = s.get_json(&path("from=3d&step=10m&agg=min"), t);
    assert_eq!(five["tier"], "5m");
    // The maximum of each day is the maximum of its hours.
    let (_, hours) = s.get_json(&path("from=3d&step=1h&agg=max"), t);
    let day_max = day["points"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p[1].as_f64().unwrap())
        .fold(f64::MIN, f64::max);
    let hour_max = hours["points"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p[1].as_f64().unwrap())
        .fold(f64::MIN, f64::max);
    assert_eq!(day_max, hour_max);
    let (status, bad) = s.get_json(&path("agg=median"), t);
    assert_eq!(status, 400, "{bad}");
    assert!(bad.to_string().contains("agg"), "{bad}");
}

#[test]
fn revoking_an_agent_tells_the_server() {
    let s = start();
    let now = Timestamp::now();
    s.store
        .add_agent(&AgentRecord::enrolled(
            "agent-x", "x", "", [1; 32], "0.1.0", now,
        ))
        .unwrap();
    let (status, _) = s.post(
        "/api/v1/agents/agent-x/revoke",
        &s.viewer_secret,
        Value::Null,
    );
    assert_eq!(status, 403);
    let (status, _) = s.post(
        "/api/v1/agents/agent-x/revoke",
        &s.admin_secret,
        Value::Null,
    );
    assert_eq!(status, 204);
    assert_eq!(*s.fake.revoked.lock().unwrap(), ["agent-x"]);
    assert!(
        s.store
            .agent("agent-x")
            .unwrap()
            .unwrap()
            .revoked_at
            .is_some()
    );
    let (status, _) = s.post("/api/v1/agents/nobody/revoke", &s.admin_secret, Value::Null);
    assert_eq!(status, 404);
}

/// Runs the `atalaya` binary against the server.
fn cli(s: &Server, token: &str, args: &[&str]) -> (bool, String, String) {
    support::cli(&s.base, token, args)
}

#[test]
fn cli_prints_tables_csv_and_json() {
    let s = start();
    let t = s.viewer_secret.clone();
    let (ok, out, err) = cli(&s, &t, &["assets", "--hostname", "web-*"]);
    assert!(ok, "{err}");
    let lines: Vec<&str> = out.lines().collect();
    assert!(lines[0].starts_with("ID"), "{out}");
    let col = lines[0].find("HOSTNAME").unwrap();
    assert!(
        lines[1..3].iter().all(|l| l[col..].starts_with("web-0")),
        "{out}"
    );
    assert_eq!(lines[3], "2 of 2 assets");

    let (ok, out, _) = cli(&s, &t, &["--csv", "software", "openssl"]);
    assert!(ok);
    assert!(out.starts_with("PACKAGE,VERSION,COUNT,HOSTS\r\n"), "{out}");
    assert!(
        out.contains("openssl,3.0.11-1,2,web-01 web-02\r\n"),
        "{out}"
    );

    let (ok, out, _) = cli(&s, &t, &["asset", "db-01", "--json"]);
    assert!(ok);
    let v: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["inventory"]["os"]["id"], "rhel");

    let (ok, out, _) = cli(&s, &t, &["asset", "web-01"]);
    assert!(ok);
    assert!(out.contains("\nSoftware     "), "{out}");
    assert!(out.contains("\nOS           Debian GNU/Linux 12"), "{out}");

    let (ok, out, err) = cli(
        &s,
        &t,
        &["metrics", "web-01", "cpu.total_percent", "--from", "2h"],
    );
    assert!(ok, "{err}");
    assert_eq!(out.lines().count(), 12, "{out}");
    assert!(
        out.starts_with("cpu.total_percent from raw data\n"),
        "{out}"
    );
}

#[test]
fn cli_explains_a_refused_token_and_an_unreachable_server() {
    let s = start();
    let (ok, _, err) = cli(&s, "wrong", &["assets"]);
    assert!(!ok);
    assert!(err.contains("refused the token (401)"), "{err}");
    assert!(err.contains("ATALAYA_TOKEN"), "{err}");

    // A port nothing listens on: bind one, then free it.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_atalaya"))
        .args(["--server", &format!("http://127.0.0.1:{port}"), "assets"])
        .env("ATALAYA_TOKEN", "x")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(err.contains("cannot reach ATALAYA_SERVER="), "{err}");
}

fn agent_record(id: &str, hostname: &str) -> AgentRecord {
    AgentRecord::enrolled(id, hostname, "", [0; 32], "0.1.0", Timestamp(0))
}

fn person(name: &str, full_name: &str) -> Account {
    Account {
        name: name.into(),
        uid: 1000,
        gid: 1000,
        full_name: Some(full_name.into()),
        home: format!("/home/{name}"),
        shell: "/bin/bash".into(),
        system: false,
    }
}

/// maria's machines: logged in on her laptop, whose root filesystem has
/// been 97 % full for eight minutes (an incident opens through the real
/// engine); last to log in on a lab machine; an account on a server.
/// Returns the number of the laptop's incident.
fn seed_maria(s: &Server) -> u64 {
    let now = Timestamp::now();
    let minute = 60_000;
    let mut laptop = machine(
        "lat-maria",
        "debian",
        "Debian GNU/Linux 12 (bookworm)",
        "52:54:00:00:00:11",
        &[],
    );
    laptop.host.fqdn = Some("lat-maria.corp.example".into());
    laptop.hardware.system.vendor = Some("LENOVO".into());
    laptop.hardware.system.product = Some("21AH00FGSP".into());
    laptop.hardware.system.serial = Some("PF3ABC12".into());
    laptop.network.interfaces[0].addresses = vec![
        IpNet {
            address: "192.168.1.23".parse().unwrap(),
            prefix: 24,
        },
        IpNet {
            address: "fe80::5054:ff:fe00:11".parse().unwrap(),
            prefix: 64,
        },
    ];
    laptop.users = Users {
        accounts: vec![person("maria", "María García")],
        sessions: vec![Session {
            user: "maria".into(),
            tty: "tty2".into(),
            started_at: Some(Timestamp(now.0 - 60 * minute)),
            ..Session::default()
        }],
        ..Users::default()
    };
    laptop.canonicalize();
    let mut lab = machine(
        "lab-02",
        "debian",
        "Debian GNU/Linux 12 (bookworm)",
        "52:54:00:00:00:12",
        &[],
    );
    lab.users.last_login = Some(Login {
        user: "maria".into(),
        tty: "pts/0".into(),
        remote_host: None,
        at: Timestamp(now.0 - 86_400_000),
    });
    let mut srv = machine(
        "srv-03",
        "rhel",
        "Red Hat Enterprise Linux 9.3",
        "52:54:00:00:00:13",
        &[],
    );
    srv.users.accounts = vec![person("maria", "María García")];
    for (id, host) in [("agent-lat", "lat-maria"), ("agent-lab", "lab-02")] {
        s.store.add_agent(&agent_record(id, host)).unwrap();
    }
    s.fake.connected.lock().unwrap().push("agent-lat".into());

    let desk = Desk::new(
        Arc::clone(&s.store),
        RuleSet::default(),
        None,
        30,
        SlaPolicies::default(),
        Arc::new(LogHooks),
        now,
    )
    .unwrap();
    let at = Timestamp(now.0 - 10 * minute);
    let (_, fed) = s
        .store
        .commit_fed(&[
            snapshot("agent-lat", at, laptop),
            snapshot("agent-lab", at, lab),
            snapshot("agent-srv", at, srv),
        ])
        .unwrap();
    desk.feed(&fed, now).unwrap();
    let samples = (1..=9)
        .rev()
        .map(|ago| HealthSample {
            at: Timestamp(now.0 - ago * minute),
            interval_ms: 60_000,
            cpu: Some(CpuUsage {
                total_percent: 12.5,
                ..CpuUsage::default()
            }),
            load: LoadAverage {
                one: 0.42,
                ..LoadAverage::default()
            },
            memory: MemoryUsage {
                total_bytes: 8 << 30,
                available_bytes: 2 << 30,
                used_bytes: 6 << 30,
                ..MemoryUsage::default()
            },
            filesystems: vec![FilesystemUsage {
                mount_point: "/".into(),
                used_percent: 97.0,
                ..FilesystemUsage::default()
            }],
            ..HealthSample::default()
        })
        .collect();
    let (_, fed) = s
        .store
        .commit_fed(&[Ingest {
            agent_id: "agent-lat".into(),
            received_at: now,
            record: IngestRecord::Metrics(proto::MetricBatch { seq: 2, samples }),
        }])
        .unwrap();
    desk.feed(&fed, now).unwrap();
    let open = s
        .store
        .incidents(&atalaya_collector::store::IncidentFilter::default())
        .unwrap();
    assert_eq!(open.len(), 1, "{open:?}");
    assert_eq!(open[0].rule, "filesystem-full");
    open[0].id
}

fn lookup_hosts(v: &Value) -> Vec<(String, String)> {
    v["machines"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            (
                m["hostname"].as_str().unwrap().to_owned(),
                m["why"][0]["kind"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

#[test]
fn lookup_finds_a_callers_machines_best_first_with_health_and_open_incidents() {
    let s = start();
    let incident = seed_maria(&s);
    let t = &s.viewer_secret;
    let (status, v) = s.get_json("/api/v1/lookup?q=Maria", t);
    assert_eq!(status, 200, "{v}");
    assert_eq!(
        lookup_hosts(&v),
        [
            ("lat-maria".to_owned(), "logged_in".to_owned()),
            ("lab-02".to_owned(), "last_login".to_owned()),
            ("srv-03".to_owned(), "account".to_owned()),
        ]
    );
    assert_eq!(v["total"], 3);
    let laptop = &v["machines"][0];
    assert!(
        laptop["why"][0]["text"]
            .as_str()
            .unwrap()
            .starts_with("maria logged in on tty2 since "),
        "{laptop}"
    );
    assert_eq!(laptop["why"][1]["kind"], "account");
    assert_eq!(laptop["fqdn"], "lat-maria.corp.example");
    assert_eq!(laptop["model"], "LENOVO 21AH00FGSP");
    assert_eq!(laptop["serial"], "PF3ABC12");
    assert_eq!(laptop["os"], "Debian GNU/Linux 12 (bookworm)");
    assert_eq!(
        laptop["addresses"],
        serde_json::json!(["192.168.1.23"]),
        "link-local left out"
    );
    assert_eq!(laptop["agent_id"], "agent-lat");
    assert_eq!(laptop["agent_status"], "connected");
    // The lab machine's agent was last heard ten minutes ago.
    assert_eq!(v["machines"][1]["agent_status"], "silent");
    assert_eq!(v["machines"][2]["agent_status"], "unknown");
    let health = &laptop["health"];
    assert_eq!(health["cpu_percent"], 12.5);
    assert_eq!(health["memory_used_percent"], 75.0);
    assert_eq!(health["load_one"], 0.42);
    assert_eq!(
        health["filesystems"],
        serde_json::json!([{"mount": "/", "used_percent": 97.0}])
    );
    assert!(v["machines"][1]["health"].is_null(), "{v}");
    let incidents = laptop["open_incidents"].as_array().unwrap();
    assert_eq!(incidents.len(), 1, "{laptop}");
    assert_eq!(incidents[0]["id"], incident);
    assert_eq!(incidents[0]["rule"], "filesystem-full");
    assert_eq!(incidents[0]["priority"], "P2");
    assert_eq!(incidents[0]["status"], "open");
    assert_eq!(incidents[0]["sla"], "ok");
    assert!(incidents[0]["assignee"].is_null());
    assert!(v["machines"][1]["open_incidents"] == serde_json::json!([]));

    // By host: exact name, FQDN in any case, a prefix, a pattern.
    let (_, v) = s.get_json("/api/v1/lookup?q=LAT-MARIA.corp.example", t);
    assert_eq!(
        lookup_hosts(&v),
        [("lat-maria".to_owned(), "hostname".to_owned())]
    );
    let (_, v) = s.get_json("/api/v1/lookup?q=web-01", t);
    assert_eq!(
        lookup_hosts(&v),
        [("web-01".to_owned(), "hostname".to_owned())]
    );
    let (_, v) = s.get_json("/api/v1/lookup?q=web", t);
    assert_eq!(v["total"], 2, "{v}");
    assert_eq!(v["machines"][0]["why"][0]["kind"], "hostname_pattern");
    let (_, v) = s.get_json("/api/v1/lookup?q=*-0*&limit=2", t);
    assert_eq!(
        (v["total"].as_u64(), v["machines"].as_array().map(Vec::len)),
        (Some(5), Some(2)),
        "{v}"
    );
    let (status, v) = s.get_json("/api/v1/lookup?q=nobody", t);
    assert_eq!(status, 200);
    assert_eq!(
        (v["total"].as_u64(), v["machines"].clone()),
        (Some(0), serde_json::json!([]))
    );
}

#[test]
fn lookup_refuses_an_empty_query_and_bad_parameters() {
    let s = start();
    let t = &s.viewer_secret;
    for path in [
        "/api/v1/lookup",
        "/api/v1/lookup?q=",
        "/api/v1/lookup?q=%20%20",
    ] {
        let (status, v) = s.get_json(path, t);
        assert_eq!(status, 400, "{path}: {v}");
        assert!(v["error"].as_str().unwrap().contains("`q`"), "{path}: {v}");
    }
    let long = "a".repeat(300);
    let (status, _) = s.get_json(&format!("/api/v1/lookup?q={long}"), t);
    assert_eq!(status, 400);
    let (status, v) = s.get_json("/api/v1/lookup?q=web&limit=0", t);
    assert_eq!(status, 400);
    assert!(v["error"].as_str().unwrap().contains("`limit`"), "{v}");
    let (status, _) = s.get_json("/api/v1/lookup?q=web&user=x", t);
    assert_eq!(status, 400);
    let (status, _) = s.get("/api/v1/lookup?q=web", None);
    assert_eq!(status, 401);
}

#[test]
fn cli_lookup_shows_one_block_per_machine_and_fails_when_nothing_matches() {
    let s = start();
    let incident = seed_maria(&s);
    let t = s.viewer_secret.clone();
    let (ok, out, err) = cli(&s, &t, &["lookup", "maria"]);
    assert!(ok, "{err}");
    assert!(
        out.starts_with("3 machines for maria (best first)\n"),
        "{out}"
    );
    let blocks: Vec<&str> = out.split("\n\n").skip(1).collect();
    assert_eq!(blocks.len(), 3, "{out}");
    assert!(blocks[0].starts_with("lat-maria  asset-"), "{out}");
    assert!(
        blocks[0].contains("\n  why:        maria logged in on tty2 since "),
        "{out}"
    );
    assert!(
        blocks[0].contains("\n  agent:      connected, last seen "),
        "{out}"
    );
    assert!(
        blocks[0].contains(
            "\n  machine:    Debian GNU/Linux 12 (bookworm), LENOVO 21AH00FGSP, serial PF3ABC12\n"
        ),
        "{out}"
    );
    assert!(
        blocks[0].contains("\n  addresses:  192.168.1.23\n"),
        "{out}"
    );
    assert!(
        blocks[0].contains("\n  health:     cpu 12.5 %  memory 75.0 %  load 0.42  / 97.0 %  (at "),
        "{out}"
    );
    assert!(
        blocks[0].contains(&format!("\n  incidents:  #{incident} P2 open  ")),
        "{out}"
    );
    assert!(blocks[0].contains(", unassigned, SLA ok"), "{out}");
    assert!(blocks[1].starts_with("lab-02  asset-"), "{out}");
    assert!(
        blocks[1].contains("\n  health:     no sample in the last 10 minutes\n"),
        "{out}"
    );
    assert!(blocks[1].contains("\n  incidents:  none open"), "{out}");
    assert!(
        blocks[2].contains("\n  agent:      no agent record, last seen "),
        "{out}"
    );

    let (ok, out, _) = cli(&s, &t, &["lookup", "maria", "--json"]);
    assert!(ok);
    let v: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["machines"][0]["hostname"], "lat-maria");

    let (ok, out, err) = cli(&s, &t, &["--csv", "lookup", "maria"]);
    assert!(ok, "{err}");
    let rows: Vec<&str> = out.lines().collect();
    assert_eq!(rows.len(), 4, "a header and a row per machine: {out}");
    assert!(
        rows[0].starts_with("hostname,asset,why,agent,last_seen,os,cpu_percent,"),
        "{out}"
    );
    assert!(rows[1].starts_with("lat-maria,asset-"), "{out}");
    assert!(rows[1].ends_with(",12.5,75.0,0.42,/,97.0,1,P2"), "{out}");

    let (ok, out, err) = cli(&s, &t, &["lookup", "nobody"]);
    assert!(!ok);
    assert!(out.is_empty(), "{out}");
    assert!(err.contains("no machine found for nobody"), "{err}");
    let (ok, out, _) = cli(&s, &t, &["--json", "lookup", "nobody"]);
    assert!(!ok, "a script sees the failure too");
    let v: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["total"], 0);
}
