//! The network device routes of the HTTP API and the `atalaya device…`
//! commands, over a real store: devices added (201, 409, 400 with the
//! reason), their polls shown, interfaces listed and sorted, and
//! credentials never answered back by any route.
#![allow(clippy::unwrap_used)]

mod support;

use std::sync::{Arc, Mutex};

use atalaya_collector::api::{self, AdminActions, ApiState};
use atalaya_collector::store::{AgentRecord, Ingest, IngestRecord, Role, Store};
use atalaya_collector::telemetry::Telemetry;
use atalaya_common::model::Timestamp;
use atalaya_common::model::device::{DeviceInterface, DeviceInventory, DeviceState, OperStatus};
use atalaya_common::proto;
use serde_json::{Value, json};

const COMMUNITY: &str = "c0mmunity-s3cret";
const AUTH: &str = "auth-pass-s3cret";
const PRIV: &str = "priv-pass-s3cret";

#[derive(Debug, Default)]
struct FakeAdmin {
    told: Mutex<Vec<String>>,
}

impl AdminActions for FakeAdmin {
    fn agent_revoked(&self, _id: &str) {}
    fn collector_address(&self) -> String {
        "collector.example:4433".to_owned()
    }
    fn ca_sha256(&self) -> [u8; 32] {
        [7; 32]
    }
    fn devices_changed(&self, agent: &str) {
        self.told.lock().unwrap().push(agent.to_owned());
    }
}

struct Server {
    base: String,
    admin: String,
    viewer: String,
    store: Arc<Store>,
    fake: Arc<FakeAdmin>,
    _dir: tempfile::TempDir,
    _rt: tokio::runtime::Runtime,
}

fn start() -> Server {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(Store::open(&dir.path().join("store.redb")).unwrap());
    let now = Timestamp::now();
    store
        .add_agent(&AgentRecord::enrolled(
            "agent-probe",
            "probe-1",
            "",
            [1; 32],
            "0.1.0",
            now,
        ))
        .unwrap();
    let (admin_rec, admin) = api::new_api_token("ops", Role::Admin, now);
    store.add_api_token(&admin_rec).unwrap();
    let (viewer_rec, viewer) = api::new_api_token("manager", Role::Viewer, now);
    store.add_api_token(&viewer_rec).unwrap();
    let fake = Arc::new(FakeAdmin::default());
    let state = ApiState {
        store: Arc::clone(&store),
        telemetry: Arc::new(Telemetry::default()),
        admin: fake.clone(),
        desk: None,
    };
    let (base, rt) = support::serve(state);
    Server {
        base,
        admin,
        viewer,
        store,
        fake,
        _dir: dir,
        _rt: rt,
    }
}

impl Server {
    fn call(&self, method: &str, path: &str, token: &str, body: Option<Value>) -> (u16, String) {
        let url = format!("{}{path}", self.base);
        let auth = format!("Bearer {token}");
        let http = support::http();
        let mut resp = match (method, body) {
            ("POST", Some(b)) => http
                .post(&url)
                .header("Authorization", &auth)
                .header("Content-Type", "application/json")
                .send(b.to_string())
                .unwrap(),
            ("DELETE", _) => http
                .delete(&url)
                .header("Authorization", &auth)
                .call()
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

    /// A GET whose answer must not carry any secret.
    fn get_clean(&self, path: &str) -> Value {
        let (status, body) = self.call("GET", path, &self.viewer, None);
        assert_eq!(status, 200, "{path}: {body}");
        for secret in [COMMUNITY, AUTH, PRIV] {
            assert!(!body.contains(secret), "{path} gave a secret back: {body}");
        }
        serde_json::from_str(&body).unwrap()
    }
}

fn poll(seq: u64, at: Timestamp) -> Ingest {
    let mut inv = DeviceInventory::default();
    inv.system.descr = "Cisco IOS Software, C2960X Software\nCompiled".into();
    inv.system.name = "core-sw1.example".into();
    inv.system.vendor = Some("Cisco".into());
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
    Ingest {
        agent_id: "agent-probe".into(),
        received_at: at,
        record: IngestRecord::DevicePoll(proto::DevicePoll {
            seq,
            device: "core-sw1".into(),
            polled_at: at,
            state: DeviceState::Ok,
            response_ms: Some(4),
            inventory: Some(inv),
            values: vec![
                ("snmp.reachable".into(), 1.0),
                ("interface.in_bits_per_second{if=Gi0/1}".into(), 2.5e8),
                ("interface.in_utilisation_percent{if=Gi0/1}".into(), 25.0),
                ("interface.in_utilisation_percent{if=Gi0/2}".into(), 0.0),
                ("interface.in_errors_per_second{if=Gi0/2}".into(), 3.0),
            ],
        }),
    }
}

#[test]
fn devices_are_added_shown_and_removed_without_giving_credentials_back() {
    let s = start();
    let v2c = json!({"address": "192.0.2.10", "name": "core-sw1",
        "credentials": {"v2c": {"community": COMMUNITY}}});
    let (status, body) = s.call("POST", "/api/v1/devices", &s.viewer, Some(v2c.clone()));
    assert_eq!(status, 403, "{body}");
    let (status, body) = s.call("POST", "/api/v1/devices", &s.admin, Some(v2c.clone()));
    assert_eq!(status, 201, "{body}");
    assert!(!body.contains(COMMUNITY), "{body}");
    assert_eq!(*s.fake.told.lock().unwrap(), ["agent-probe"]);
    let (status, body) = s.call("POST", "/api/v1/devices", &s.admin, Some(v2c));
    assert_eq!(status, 409, "{body}");

    let short = json!({"address": "192.0.2.11",
        "credentials": {"v3": {"user": "mon", "auth": ["sha256", "short"], "privacy": null}}});
    let (status, body) = s.call("POST", "/api/v1/devices", &s.admin, Some(short));
    assert_eq!(status, 400, "{body}");
    assert!(body.contains("at least 8 characters"), "{body}");
    let v3 = json!({"address": "192.0.2.12", "name": "edge", "poller": "probe-1",
        "credentials": {"v3": {"user": "mon", "auth": ["sha256", AUTH], "privacy": ["aes128", PRIV]}}});
    let (status, body) = s.call("POST", "/api/v1/devices", &s.admin, Some(v3));
    assert_eq!(status, 201, "{body}");
    assert!(!body.contains(AUTH) && !body.contains(PRIV), "{body}");

    let now = Timestamp::now();
    s.store.commit(&[poll(1, now)]).unwrap();

    let list = s.get_clean("/api/v1/devices");
    let core = &list[0];
    assert_eq!(core["name"], "core-sw1");
    assert_eq!(core["version"], "v2c");
    assert_eq!(core["state"], "ok");
    assert_eq!(core["state_text"], "answered in 4 ms");
    assert_eq!(core["vendor"], "Cisco");
    assert_eq!(core["model"], "Cisco IOS Software, C2960X Software");
    assert_eq!(
        (
            core["interfaces_up"].as_u64(),
            core["interfaces_down"].as_u64()
        ),
        (Some(1), Some(1))
    );
    assert_eq!(list[1]["security"], "user mon, authPriv sha256/aes");
    assert_eq!(list[1]["state_text"], "not polled yet");

    let detail = s.get_clean("/api/v1/devices/core-sw1");
    assert_eq!(detail["inventory"]["system"]["name"], "core-sw1.example");
    assert_eq!(detail["interfaces"][0]["in_bps"], 2.5e8);

    let busiest = s.get_clean("/api/v1/interfaces?sort=utilisation");
    assert_eq!(busiest.as_array().unwrap().len(), 2);
    assert_eq!(busiest[0]["name"], "Gi0/1");
    let errors = s.get_clean("/api/v1/interfaces?device=core-sw1&sort=errors");
    assert_eq!(errors[0]["name"], "Gi0/2");
    assert_eq!(errors[0]["errors_per_second"], 3.0);
    let down = s.get_clean("/api/v1/interfaces?sort=down");
    assert_eq!(down[0]["oper_status"], "down");
    let none = s.get_clean("/api/v1/interfaces?device=edge");
    assert!(none.as_array().unwrap().is_empty());

    // The device's series are an asset's series like any other.
    let series = s.get_clean("/api/v1/assets/device:core-sw1/metrics");
    assert!(
        series["series"]
            .as_array()
            .unwrap()
            .contains(&json!("snmp.reachable")),
        "{series}"
    );

    let (status, _) = s.call("DELETE", "/api/v1/devices/core-sw1", &s.admin, None);
    assert_eq!(status, 204);
    assert_eq!(s.fake.told.lock().unwrap().len(), 3);
    let (status, _) = s.call("GET", "/api/v1/devices/core-sw1", &s.viewer, None);
    assert_eq!(status, 404);
    let (status, _) = s.call("DELETE", "/api/v1/devices/core-sw1", &s.admin, None);
    assert_eq!(status, 404);
}

#[test]
fn the_cli_adds_lists_shows_and_removes_devices() {
    let s = start();
    let cli = |token: &str, args: &[&str]| support::cli(&s.base, token, args);
    let (ok, out, err) = cli(
        &s.admin,
        &[
            "device",
            "add",
            "192.0.2.10",
            "--name",
            "core-sw1",
            "--community",
            COMMUNITY,
        ],
    );
    assert!(ok, "{err}");
    assert_eq!(
        out,
        "added core-sw1 (192.0.2.10:161), polled by agent-probe every 60 s\n"
    );
    let (ok, _, err) = cli(
        &s.admin,
        &[
            "device",
            "add",
            "192.0.2.11",
            "--user",
            "mon",
            "--auth-password",
            "short",
        ],
    );
    assert!(!ok);
    assert!(err.contains("at least 8 characters"), "{err}");

    let mut timed_out = poll(1, Timestamp::now());
    if let IngestRecord::DevicePoll(p) = &mut timed_out.record {
        p.state = DeviceState::Timeout;
        p.response_ms = None;
    }
    s.store.commit(&[timed_out]).unwrap();
    let (ok, out, err) = cli(&s.viewer, &["devices"]);
    assert!(ok, "{err}");
    assert!(out.starts_with("NAME"), "{out}");
    assert!(
        out.contains("no answer from 192.0.2.10:161 after 2 tries of 2 s"),
        "{out}"
    );
    let (ok, out, err) = cli(&s.viewer, &["device", "core-sw1"]);
    assert!(ok, "{err}");
    assert!(out.contains("Gi0/2"), "{out}");
    assert!(!out.contains(COMMUNITY), "{out}");
    let (ok, out, err) = cli(&s.viewer, &["--csv", "interfaces", "--sort", "errors"]);
    assert!(ok, "{err}");
    let second = out.lines().nth(1).unwrap_or_default();
    assert!(second.starts_with("core-sw1,Gi0/2,"), "{out}");
    let (ok, out, err) = cli(&s.viewer, &["device", "core-sw1", "--json"]);
    assert!(ok, "{err}");
    assert!(!out.contains(COMMUNITY), "{out}");
    let (ok, out, err) = cli(&s.admin, &["device", "remove", "core-sw1"]);
    assert!(ok, "{err}");
    assert_eq!(out, "removed core-sw1\n");
}
