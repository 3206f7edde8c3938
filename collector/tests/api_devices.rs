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
    /// Discoveries handed to a poller's session.
    asked: Mutex<Vec<(String, proto::DiscoveryRequest)>>,
    /// Whether the poller is connected to take them.
    offline: std::sync::atomic::AtomicBool,
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
    fn discover(&self, agent: &str, request: proto::DiscoveryRequest) -> bool {
        if self.offline.load(std::sync::atomic::Ordering::SeqCst) {
            return false;
        }
        self.asked.lock().unwrap().push((agent.to_owned(), request));
        true
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
        calls: Default::default(),
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
            ("PATCH", Some(b)) => http
                .patch(&url)
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
fn a_device_has_no_glpi_computer_inventory() {
    let s = start();
    let v2c = json!({"address": "192.0.2.10", "name": "core-sw1",
        "credentials": {"v2c": {"community": COMMUNITY}}});
    let (status, body) = s.call("POST", "/api/v1/devices", &s.admin, Some(v2c));
    assert_eq!(status, 201, "{body}");
    s.store.commit(&[poll(1, Timestamp::now())]).unwrap();
    let (status, body) = s.call(
        "GET",
        "/api/v1/assets/device:core-sw1/inventory?format=glpi",
        &s.viewer,
        None,
    );
    assert_eq!(status, 400, "{body}");
    assert!(body.contains("`format`"), "{body}");
    assert!(body.contains("network device"), "{body}");
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

/// A poll of `device` by `agent` whose inventory has chassis serial `serial`.
fn poll_with_serial(agent: &str, device: &str, seq: u64, serial: &str) -> Ingest {
    let mut item = poll(seq, Timestamp::now());
    item.agent_id = agent.into();
    if let IngestRecord::DevicePoll(p) = &mut item.record {
        p.device = device.into();
        if let Some(inv) = &mut p.inventory {
            inv.entities
                .push(atalaya_common::model::device::PhysicalEntity {
                    index: 1,
                    class: atalaya_common::model::device::EntityClass::Chassis,
                    name: "chassis".into(),
                    serial: serial.into(),
                    ..Default::default()
                });
        }
    }
    item
}

fn second_poller(s: &Server) {
    s.store
        .add_agent(&AgentRecord::enrolled(
            "agent-probe-2",
            "probe-2",
            "",
            [2; 32],
            "0.1.0",
            Timestamp::now(),
        ))
        .unwrap();
}

#[test]
fn one_box_polled_by_two_pollers_is_one_device() {
    let s = start();
    second_poller(&s);
    for (name, address, poller) in [
        ("core-sw1", "192.0.2.10", "probe-1"),
        ("core-sw1-b", "198.51.100.10", "probe-2"),
    ] {
        let body = json!({"address": address, "name": name, "poller": poller,
            "credentials": {"v2c": {"community": COMMUNITY}}});
        let (status, body) = s.call("POST", "/api/v1/devices", &s.admin, Some(body));
        assert_eq!(status, 201, "{body}");
    }
    s.store
        .commit(&[poll_with_serial("agent-probe", "core-sw1", 1, "FDO1234")])
        .unwrap();
    s.store
        .commit(&[poll_with_serial(
            "agent-probe-2",
            "core-sw1-b",
            1,
            "FDO1234",
        )])
        .unwrap();
    let list = s.get_clean("/api/v1/devices");
    assert_eq!(list[0]["same_as"], Value::Null);
    assert_eq!(list[1]["name"], "core-sw1-b");
    assert_eq!(list[1]["same_as"], "core-sw1");
    assert_eq!(list[1]["same_as_evidence"], "serial FDO1234");
    assert_eq!(list[1]["asset_id"], "device:core-sw1");
    // Its interfaces are the box's, listed once.
    let rows = s.get_clean("/api/v1/interfaces");
    assert_eq!(rows.as_array().unwrap().len(), 2, "{rows}");
    // Its old asset id leads to the box's asset.
    let asset = s.get_clean("/api/v1/assets/device:core-sw1-b");
    assert_eq!(asset["id"], "device:core-sw1");
    assert!(
        asset["identity"][1]["reason"]
            .as_str()
            .unwrap()
            .contains("serial FDO1234 matches device core-sw1"),
        "{asset}"
    );
    let cli = |args: &[&str]| support::cli(&s.base, &s.viewer, args);
    let (ok, out, err) = cli(&["devices"]);
    assert!(ok, "{err}");
    assert!(out.contains("(same device as core-sw1)"), "{out}");
    assert!(
        out.ends_with(
            "1 devices (2 entries; 1 the same device as another); interfaces: 1 up, 1 down\n"
        ),
        "{out}"
    );
    let (ok, out, err) = cli(&["device", "core-sw1-b"]);
    assert!(ok, "{err}");
    assert!(
        out.contains("core-sw1 (serial FDO1234): its values and inventory are core-sw1's"),
        "{out}"
    );
}

#[test]
fn a_device_is_changed_in_place_and_a_poller_that_loses_it_is_told() {
    let s = start();
    second_poller(&s);
    let body = json!({"address": "192.0.2.10", "name": "core-sw1", "poller": "probe-1",
        "credentials": {"v2c": {"community": "old-community"}}});
    let (status, _) = s.call("POST", "/api/v1/devices", &s.admin, Some(body));
    assert_eq!(status, 201);
    s.store.commit(&[poll(1, Timestamp::now())]).unwrap();
    let change = json!({"poller": "probe-2", "port": 1161,
        "credentials": {"v2c": {"community": COMMUNITY}}});
    let (status, body) = s.call(
        "PATCH",
        "/api/v1/devices/core-sw1",
        &s.viewer,
        Some(change.clone()),
    );
    assert_eq!(status, 403, "{body}");
    let (status, body) = s.call("PATCH", "/api/v1/devices/core-sw1", &s.admin, Some(change));
    assert_eq!(status, 200, "{body}");
    assert!(!body.contains(COMMUNITY), "{body}");
    let v: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(
        (v["poller"].as_str(), v["port"].as_u64()),
        (Some("agent-probe-2"), Some(1161))
    );
    assert_eq!(
        *s.fake.told.lock().unwrap(),
        ["agent-probe", "agent-probe", "agent-probe-2"]
    );
    let rec = s.store.device("core-sw1").unwrap().unwrap();
    assert!(matches!(
        &rec.spec.credentials,
        atalaya_common::model::device::Credentials::V2c { community } if community.expose() == COMMUNITY
    ));
    assert!(rec.last_poll.is_some(), "what polls wrote stays");
    let (status, body) = s.call(
        "PATCH",
        "/api/v1/devices/core-sw1",
        &s.admin,
        Some(json!({"interval": 5})),
    );
    assert_eq!(status, 400, "unknown field: {body}");
    let (status, _) = s.call(
        "PATCH",
        "/api/v1/devices/nope",
        &s.admin,
        Some(json!({"port": 1})),
    );
    assert_eq!(status, 404);
    let (ok, out, err) = support::cli(
        &s.base,
        &s.admin,
        &[
            "device",
            "set",
            "core-sw1",
            "--interval",
            "30",
            "--poller",
            "probe-1",
        ],
    );
    assert!(ok, "{err}");
    assert_eq!(
        out,
        "changed core-sw1 (192.0.2.10:1161), polled by agent-probe every 30 s\n"
    );
    let (ok, _, err) = support::cli(&s.base, &s.admin, &["device", "set", "core-sw1"]);
    assert!(!ok && err.contains("nothing to change"), "{err}");
}

#[test]
fn device_inventory_changes_are_listed_with_the_hosts_changes() {
    let s = start();
    let body = json!({"address": "192.0.2.10", "name": "core-sw1",
        "credentials": {"v2c": {"community": COMMUNITY}}});
    s.call("POST", "/api/v1/devices", &s.admin, Some(body));
    s.store
        .commit(&[poll_with_serial("agent-probe", "core-sw1", 1, "A1")])
        .unwrap();
    let mut later = poll_with_serial("agent-probe", "core-sw1", 2, "B2");
    if let IngestRecord::DevicePoll(p) = &mut later.record {
        p.polled_at = Timestamp(p.polled_at.0 + 1_000);
        if let Some(inv) = &mut p.inventory {
            inv.interfaces.pop();
        }
    }
    s.store.commit(&[later]).unwrap();
    let all = s.get_clean("/api/v1/changes");
    let event = &all[0];
    assert_eq!(event["hostname"], "core-sw1");
    assert_eq!(event["device"]["name"], "core-sw1");
    assert_eq!(
        event["device"]["items"][0],
        json!({"interface_removed": {"if_index": 2, "name": "Gi0/2"}})
    );
    assert_eq!(
        event["device"]["items"][1]["serial_changed"]["before"],
        "A1"
    );
    let one = s.get_clean("/api/v1/assets/device:core-sw1/changes");
    assert_eq!(one.as_array().unwrap().len(), 1);
    let (ok, out, err) = support::cli(&s.base, &s.viewer, &["changes", "--since", "1h"]);
    assert!(ok, "{err}");
    assert!(
        out.contains("core-sw1  removed interface Gi0/2 (ifIndex 2)"),
        "{out}"
    );
    assert!(out.contains("changed serial of chassis A1 → B2"), "{out}");
}

#[test]
fn a_discovery_goes_to_its_poller_and_what_it_found_can_be_added() {
    let s = start();
    let ask = json!({"ranges": ["192.0.2.0/29"], "port": 1161, "credentials": [
        {"v2c": {"community": "wrong-one"}}, {"v2c": {"community": COMMUNITY}}]});
    let (status, body) = s.call(
        "POST",
        "/api/v1/devices/discover",
        &s.viewer,
        Some(ask.clone()),
    );
    assert_eq!(status, 403, "{body}");
    let (status, body) = s.call(
        "POST",
        "/api/v1/devices/discover",
        &s.admin,
        Some(ask.clone()),
    );
    assert_eq!(status, 202, "{body}");
    assert!(!body.contains(COMMUNITY), "{body}");
    let asked: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(
        (asked["state"].as_str(), asked["addresses"].as_u64()),
        (Some("running"), Some(6))
    );
    let id = asked["id"].as_u64().unwrap();
    let (poller, request) = s.fake.asked.lock().unwrap()[0].clone();
    assert_eq!(
        (poller.as_str(), request.id, request.port),
        ("agent-probe", id, 1161)
    );
    assert_eq!(request.credentials.len(), 2);
    // A known device is not added again.
    let known = json!({"address": "192.0.2.5", "name": "known", "port": 1161,
        "credentials": {"v2c": {"community": COMMUNITY}}});
    s.call("POST", "/api/v1/devices", &s.admin, Some(known));
    let result = |seq, outcome| Ingest {
        agent_id: "agent-probe".into(),
        received_at: Timestamp::now(),
        record: IngestRecord::DiscoveryResult(proto::DiscoveryResult {
            seq,
            id,
            at: Timestamp::now(),
            outcome,
        }),
    };
    let found = |address: &str, name: &str| {
        proto::DiscoveryOutcome::Found(proto::DiscoveredDevice {
            address: address.into(),
            credential: 1,
            sys_name: name.into(),
            sys_descr: "Linux sw 6.1\nmore".into(),
            object_id: "1.3.6.1.4.1.8072.3.2.10".into(),
            vendor: Some("net-snmp".into()),
        })
    };
    s.store
        .commit(&[
            result(1, found("192.0.2.3", "lab-sw")),
            result(2, found("192.0.2.5", "known-box")),
            result(
                3,
                proto::DiscoveryOutcome::Finished {
                    addresses: 6,
                    found: 2,
                },
            ),
        ])
        .unwrap();
    let shown = s.get_clean(&format!("/api/v1/devices/discover/{id}"));
    assert_eq!(shown["state"], "finished");
    assert_eq!(shown["found"][0]["address"], "192.0.2.3");
    assert_eq!(shown["found"][0]["credential_label"], "v2c #2");
    assert_eq!(shown["found"][0]["model"], "Linux sw 6.1");
    assert_eq!(shown["found"][1]["known_as"], "known");
    let (status, body) = s.call(
        "POST",
        &format!("/api/v1/devices/discover/{id}/add"),
        &s.admin,
        Some(json!({})),
    );
    assert_eq!(status, 201, "{body}");
    let added: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(added.as_array().unwrap().len(), 1, "{added}");
    assert_eq!(
        (added[0]["name"].as_str(), added[0]["port"].as_u64()),
        (Some("lab-sw"), Some(1161))
    );
    let rec = s.store.device("lab-sw").unwrap().unwrap();
    assert!(matches!(
        &rec.spec.credentials,
        atalaya_common::model::device::Credentials::V2c { community } if community.expose() == COMMUNITY
    ));
    let (status, body) = s.call(
        "POST",
        &format!("/api/v1/devices/discover/{id}/add"),
        &s.admin,
        Some(json!({})),
    );
    assert_eq!((status, body.as_str()), (201, "[]"));
    // Too wide, and a poller away: refused with the reason.
    let wide = json!({"ranges": ["10.0.0.0/16"], "credentials": [{"v2c": {"community": "c"}}]});
    let (status, body) = s.call("POST", "/api/v1/devices/discover", &s.admin, Some(wide));
    assert_eq!(status, 400);
    assert!(body.contains("at most 4096"), "{body}");
    s.fake
        .offline
        .store(true, std::sync::atomic::Ordering::SeqCst);
    let (status, body) = s.call("POST", "/api/v1/devices/discover", &s.admin, Some(ask));
    assert_eq!(status, 409);
    assert!(body.contains("not connected"), "{body}");
    let (status, _) = s.call("GET", "/api/v1/devices/discover/999", &s.admin, None);
    assert_eq!(status, 404);
}
