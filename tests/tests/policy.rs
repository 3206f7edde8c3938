//! Agent policies end to end: a real collector with `[agent_policy.NAME]`
//! tables and two real agents over QUIC. Each agent gets the policies that
//! select it, merged most specific first, applies them live, keeps its
//! own file's keys (pinned), and says what it runs; `atalaya agents
//! --policy` shows it. Editing the policy and reloading moves it to its
//! next version, which the agents run at once; a policy with an error is
//! refused and the running one stays. An agent of a version before agent
//! policies (its `Hello` does not list them) is never sent one.

#![allow(clippy::unwrap_used)] // a failed unwrap is a failed test

use std::time::Duration;

use atalaya_common::policy::Value as Setting;
use atalaya_common::proto::{self, Message, PolicyState};
use atalaya_tests::harness::{
    Collector, agent, console_page, copy_tree, enroll, eventually, fixture,
};
use atalaya_tests::raw::RawSession;
use serde_json::Value;

const POLICIES: &str = r#"
[agent_policy.fleet]
probes.enabled = false
inventory.interval_seconds = 900

[agent_policy.laptops]
hosts = ["lat-*"]
inventory.interval_seconds = 600
metrics.interval_seconds = 5
"#;

/// `atalaya agents --policy --json`, by host name.
fn policy_of(collector: &Collector, host: &str) -> Option<Value> {
    let all: Value =
        serde_json::from_str(&collector.cli_ok(&["agents", "--policy", "--json"])).unwrap();
    all.as_array()?
        .iter()
        .find(|a| a["hostname"] == host)
        .cloned()
}

/// The value in force on the agent of `key`, as it said.
fn effective(view: &Value, key: &str) -> String {
    view["effective"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["key"] == key)
        .map(|s| s["value"].as_str().unwrap().to_owned())
        .unwrap_or_else(|| panic!("no {key} in {view}"))
}

fn running(view: &Value) -> Vec<String> {
    view["running"]
        .as_array()
        .map(|l| l.iter().map(|v| v.as_str().unwrap().to_owned()).collect())
        .unwrap_or_default()
}

#[test]
fn policies_reach_the_agents_they_select_and_follow_each_reload() {
    let collector = Collector::start_with_sections("", POLICIES);
    let token = collector.token(2);
    let work = tempfile::tempdir().unwrap();
    let laptop_root = work.path().join("laptop-root");
    copy_tree(&fixture("debian"), &laptop_root);
    let gateway_root = work.path().join("gateway-root");
    copy_tree(&fixture("alpine"), &gateway_root);
    // Both agents' files set metrics.interval_seconds = 1 (the harness does).
    let _laptop = agent(work.path(), "laptop", Some(&laptop_root), &token);
    let _gateway = agent(work.path(), "gateway", Some(&gateway_root), &token);

    // The laptop: both policies, the more specific first; its own file's
    // metrics interval wins over the laptops policy's, and is shown so.
    let laptop = eventually(
        "the laptop to run its policies",
        Duration::from_secs(60),
        || policy_of(&collector, "lat-maria").filter(|v| v["in_sync"] == true),
    );
    assert_eq!(running(&laptop), ["laptops v1", "fleet v1"]);
    assert_eq!(effective(&laptop, "inventory.interval_seconds"), "600");
    assert_eq!(effective(&laptop, "probes.enabled"), "false");
    assert_eq!(effective(&laptop, "metrics.interval_seconds"), "1");
    assert_eq!(
        laptop["pinned"],
        serde_json::json!([{"key": "metrics.interval_seconds", "local": "1", "policy": "5"}])
    );
    assert_eq!(laptop["refused"], serde_json::json!([]));

    // The gateway: the fleet policy only.
    let gateway = eventually(
        "the gateway to run its policy",
        Duration::from_secs(60),
        || policy_of(&collector, "edge-gw").filter(|v| v["in_sync"] == true),
    );
    assert_eq!(running(&gateway), ["fleet v1"]);
    assert_eq!(effective(&gateway, "inventory.interval_seconds"), "900");

    // Applied live: the agent stopped probing without a restart.
    let log = work.path().join("laptop/agent.log");
    eventually(
        "the laptop to stop probing",
        Duration::from_secs(10),
        || {
            std::fs::read_to_string(&log)
                .unwrap()
                .contains("probes enabled = false: no network probes")
                .then_some(())
        },
    );
    // Kept for the next start.
    let kept = std::fs::read_to_string(work.path().join("laptop/state/policy.json")).unwrap();
    assert!(kept.contains("laptops"), "{kept}");

    // The asset page of the console says it too.
    collector.add_user("pat", "viewer", "pat's long passphrase 42");
    let (status, html) = console_page(
        &format!("{}/", collector.api),
        "pat",
        "pat's long passphrase 42",
        "assets/lat-maria",
    );
    assert_eq!(status, 200, "{html}");
    assert!(html.contains("laptops v1, fleet v1"), "{html}");
    assert!(html.contains("in force"), "{html}");
    assert!(
        html.contains("pinned by the machine: <code>metrics.interval_seconds = 1</code>"),
        "{html}"
    );

    let table = collector.cli_ok(&["agents", "--policy"]);
    assert!(
        table.contains("metrics.interval_seconds=1 (policy 5)"),
        "{table}"
    );

    // The laptops policy changes: version 2, run at once after a reload;
    // the fleet policy did not change and keeps its version.
    let text = std::fs::read_to_string(&collector.config).unwrap();
    std::fs::write(
        &collector.config,
        text.replace(
            "inventory.interval_seconds = 600",
            "inventory.interval_seconds = 1200",
        ),
    )
    .unwrap();
    let out = collector.admin_cmd(&["reload"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let laptop = eventually(
        "the laptop to run version 2",
        Duration::from_secs(30),
        || {
            policy_of(&collector, "lat-maria")
                .filter(|v| running(v) == ["laptops v2", "fleet v1"] && v["in_sync"] == true)
        },
    );
    assert_eq!(effective(&laptop, "inventory.interval_seconds"), "1200");
    assert_eq!(
        running(&policy_of(&collector, "edge-gw").unwrap()),
        ["fleet v1"]
    );

    // A policy with an error is refused, named, and what runs stays.
    let text = std::fs::read_to_string(&collector.config).unwrap();
    std::fs::write(
        &collector.config,
        text.replace(
            "inventory.interval_seconds = 1200",
            "inventory.interval_seconds = 5",
        ),
    )
    .unwrap();
    // (The configuration file is read as a whole: an error anywhere in it
    // refuses the reload of its SLA policies and agent policies alike.)
    let (code, body) = collector.request("POST", "/api/v1/rules/reload", Some(&collector.admin));
    assert_eq!(code, 400, "{body}");
    let refused = body["error"].as_str().unwrap();
    assert!(
        refused.contains("agent_policy.laptops.inventory.interval_seconds")
            && refused.contains("from 60 to 604800, found 5"),
        "{refused}"
    );
    let laptop = policy_of(&collector, "lat-maria").unwrap();
    assert_eq!(
        laptop["wanted"],
        serde_json::json!(["laptops v2", "fleet v1"])
    );
    assert_eq!(laptop["in_sync"], true);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_an_agent_that_knows_policies_is_sent_one() {
    let collector = tokio::task::spawn_blocking(|| Collector::start_with_sections("", POLICIES))
        .await
        .unwrap();
    let work = tempfile::tempdir().unwrap();
    let token = collector.token(1);
    let identity = enroll(work.path(), &token);
    let addr = collector.quic_address();

    // An agent of an earlier version: the general intervals, then nothing
    // it would not know, and its session goes on.
    let mut old = RawSession::open(&identity, addr, 0, &[proto::FEATURE_REPORT_STATUS]).await;
    assert!(matches!(old.next().await, Message::ConfigUpdate(_)));
    for seq in [1, 2] {
        let meanwhile = old.heartbeat(seq).await;
        assert!(
            meanwhile
                .iter()
                .all(|m| !matches!(m, Message::AgentPolicy(_))),
            "{meanwhile:?}"
        );
    }
    assert!(old.conn.close_reason().is_none());
    old.conn.close(0u32.into(), b"done");

    // The same machine upgraded: its policy right after the intervals (the
    // fleet policy: its enrollment name is this machine's, not a laptop's).
    let mut new = RawSession::open(&identity, addr, 2, &[proto::FEATURE_POLICY]).await;
    assert!(matches!(new.next().await, Message::ConfigUpdate(_)));
    let Message::AgentPolicy(policy) = new.next_not_ack().await else {
        panic!("expected an AgentPolicy")
    };
    assert_eq!(policy.policies, [("fleet".to_owned(), 1)]);
    assert_eq!(
        policy.settings,
        [
            (
                "inventory.interval_seconds".to_owned(),
                Setting::Integer(900)
            ),
            ("probes.enabled".to_owned(), Setting::Bool(false)),
        ]
    );
    new.send(Message::PolicyState(PolicyState {
        policies: policy.policies.clone(),
        pinned: vec![("log.level".into(), Setting::Text("warn".into()))],
        refused: Vec::new(),
        effective: policy.settings.clone(),
    }))
    .await;
    new.heartbeat(3).await;
    let view = tokio::task::spawn_blocking(move || {
        let host = collector.cli_ok(&["agents", "--json"]);
        let hostname = serde_json::from_str::<Value>(&host).unwrap()[0]["hostname"]
            .as_str()
            .unwrap()
            .to_owned();
        policy_of(&collector, &hostname).unwrap()
    })
    .await
    .unwrap();
    assert_eq!(view["in_sync"], true, "{view}");
    assert_eq!(
        view["pinned"],
        serde_json::json!([{"key": "log.level", "local": "\"warn\"", "policy": null}])
    );
}
