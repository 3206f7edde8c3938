//! The knowledge base through the HTTP API and the `atalaya kb` CLI:
//! roles, search, show, add, and errors naming the field.
#![allow(clippy::unwrap_used)]

mod support;

use std::sync::Arc;

use atalaya_collector::api::{self, AdminActions, ApiState};
use atalaya_collector::desk::kb;
use atalaya_collector::kb::IncidentFacts;
use atalaya_collector::store::{Role, Store};
use atalaya_collector::telemetry::Telemetry;
use atalaya_common::model::Timestamp;
use serde_json::{Value, json};

#[derive(Debug)]
struct NoAdmin;

impl AdminActions for NoAdmin {
    fn agent_revoked(&self, _id: &str) {}
    fn collector_address(&self) -> String {
        "collector.example:4433".to_owned()
    }
    fn ca_sha256(&self) -> [u8; 32] {
        [0; 32]
    }
}

struct Server {
    base: String,
    helpdesk: String,
    viewer: String,
    store: Arc<Store>,
    _dir: tempfile::TempDir,
    _rt: tokio::runtime::Runtime,
}

fn start() -> Server {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(Store::open(&dir.path().join("s.redb")).unwrap());
    let now = Timestamp::now();
    let (h, helpdesk) = api::new_api_token("desk", Role::Helpdesk, now);
    store.add_api_token(&h).unwrap();
    let (v, viewer) = api::new_api_token("manager", Role::Viewer, now);
    store.add_api_token(&v).unwrap();
    let state = ApiState {
        store: store.clone(),
        telemetry: Arc::new(Telemetry::default()),
        admin: Arc::new(NoAdmin),
        desk: None,
        calls: Default::default(),
    };
    let (base, rt) = support::serve(state);
    Server {
        base,
        helpdesk,
        viewer,
        store,
        _dir: dir,
        _rt: rt,
    }
}

impl Server {
    fn get(&self, path: &str, token: &str) -> (u16, Value) {
        let mut resp = support::http()
            .get(format!("{}{path}", self.base))
            .header("Authorization", &format!("Bearer {token}"))
            .call()
            .unwrap();
        let status = resp.status().as_u16();
        let text = resp.body_mut().read_to_string().unwrap();
        (status, serde_json::from_str(&text).unwrap_or(Value::Null))
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

    fn cli(&self, token: &str, args: &[&str]) -> (bool, String, String) {
        support::cli(&self.base, token, args)
    }
}

#[test]
fn helpdesk_adds_viewers_search_and_read() {
    let s = start();
    let article = json!({
        "title": "Logs fill /var",
        "symptoms": "filesystem-full on /var, nginx logs growing",
        "solution": "Enable logrotate for nginx and delete old logs",
        "signature": {"rule": "filesystem-full", "software": "nginx"}
    });
    let (status, body) = s.post("/api/v1/kb", &s.viewer, article.clone());
    assert_eq!(status, 403, "{body}");
    let (status, body) = s.post("/api/v1/kb", &s.helpdesk, article);
    assert_eq!(status, 201, "{body}");
    let id = body["id"].as_u64().unwrap();
    assert_eq!(body["signature"]["rule"], "filesystem-full");

    let (status, found) = s.get("/api/v1/kb?q=LOGROTATE%20nginx", &s.viewer);
    assert_eq!(status, 200);
    assert_eq!(found.as_array().unwrap().len(), 1);
    assert_eq!(found[0]["id"], id);
    let (_, none) = s.get("/api/v1/kb?q=printer", &s.viewer);
    assert_eq!(none, json!([]));
    let (status, one) = s.get(&format!("/api/v1/kb/{id}"), &s.viewer);
    assert_eq!(
        (status, one["title"].as_str()),
        (200, Some("Logs fill /var"))
    );
    let (status, _) = s.get("/api/v1/kb/999", &s.viewer);
    assert_eq!(status, 404);
    let (status, e) = s.get("/api/v1/kb/abc", &s.viewer);
    assert_eq!(status, 400);
    assert!(e["error"].as_str().unwrap().contains("`id`"), "{e}");

    let (status, e) = s.post(
        "/api/v1/kb",
        &s.helpdesk,
        json!({"title": "  ", "solution": "x"}),
    );
    assert_eq!(status, 400);
    assert!(e["error"].as_str().unwrap().contains("`title`"), "{e}");

    // What the incident side will do: the article is suggested, then confirmed.
    let facts = IncidentFacts {
        rule: "filesystem-full".into(),
        software: vec![("nginx".into(), "1.24.0".into())],
        ..IncidentFacts::default()
    };
    assert_eq!(kb::suggest(&s.store, &facts).unwrap()[0].0, id);
    kb::record_solution(&s.store, &facts, "", Some(id), Timestamp::now()).unwrap();
    let (_, one) = s.get(&format!("/api/v1/kb/{id}"), &s.viewer);
    assert_eq!(
        (one["suggested"].as_u64(), one["solved"].as_u64()),
        (Some(1), Some(1))
    );
}

#[test]
fn cli_kb_add_search_show() {
    let s = start();
    let (ok, out, err) = s.cli(
        &s.helpdesk,
        &[
            "kb",
            "add",
            "--title",
            "Printer queue stuck",
            "--symptoms",
            "jobs wait forever",
            "--solution",
            "systemctl restart cups",
            "--software",
            "cups=2.4*",
            "--os",
            "debian",
        ],
    );
    assert!(ok, "{err}");
    assert!(
        out.starts_with("added article 1: Printer queue stuck"),
        "{out}"
    );

    let (ok, out, err) = s.cli(&s.viewer, &["kb", "search", "printer", "CUPS"]);
    assert!(ok, "{err}");
    assert!(out.contains("Printer queue stuck"), "{out}");
    assert!(out.contains("software=cups=2.4* os=debian"), "{out}");

    let (ok, out, err) = s.cli(&s.viewer, &["kb", "show", "1"]);
    assert!(ok, "{err}");
    assert!(out.contains("systemctl restart cups"), "{out}");
    assert!(out.contains("Suggested:"), "{out}");

    let (ok, _, err) = s.cli(&s.viewer, &["kb", "add", "--title", "t", "--solution", "s"]);
    assert!(!ok);
    assert!(err.contains("403"), "{err}");
    let (ok, _, err) = s.cli(&s.viewer, &["kb", "show", "42"]);
    assert!(!ok);
    assert!(err.contains("no knowledge-base article 42"), "{err}");
}
