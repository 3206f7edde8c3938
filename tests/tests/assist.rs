//! Remote assistance end to end: a real collector and a real agent over
//! QUIC. The help desk asks through the API and the CLI; the agent checks
//! each signed order against its own `[assist]` allow-list, runs it and
//! answers; the answer is kept with the request, written on the incident
//! it was asked for, and recorded in the agent's `assist.log`.
//!
//! One collector and one agent serve every case, in one test, to keep
//! the suite fast.

#![allow(clippy::unwrap_used)] // a failed unwrap is a failed test

use std::process::Command;
use std::time::Duration;

use atalaya_common::proto::{self, Message};
use atalaya_tests::harness::{Collector, agent_with, bin, enroll, eventually};
use atalaya_tests::raw::RawSession;
use serde_json::{Value, json};

/// `POST /api/v1/diagnostics` as the administrator.
fn ask(c: &Collector, body: &Value) -> (u16, Value) {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into();
    let mut response = agent
        .post(&format!("{}/api/v1/diagnostics", c.api))
        .header("Authorization", &format!("Bearer {}", c.admin))
        .header("Content-Type", "application/json")
        .send(body.to_string())
        .unwrap();
    let status = response.status().as_u16();
    let text = response.body_mut().read_to_string().unwrap();
    (
        status,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    )
}

/// The request `id` once the agent answered.
fn answered(c: &Collector, id: &str) -> Value {
    eventually(
        &format!("the answer to {id}"),
        Duration::from_secs(60),
        || {
            let (status, body) = c.get(&format!("/api/v1/diagnostics/{id}"), Some(&c.admin));
            assert_eq!(status, 200, "{body}");
            (!body["result"].is_null()).then_some(body)
        },
    )
}

#[test]
fn the_help_desk_runs_diagnostics_within_what_the_machine_allows() {
    let work = tempfile::tempdir().unwrap();
    let collector = Collector::start();
    let logs = work.path().join("logs");
    std::fs::create_dir_all(&logs).unwrap();
    let lines: String = (1..=50).map(|i| format!("event {i}\n")).collect();
    std::fs::write(logs.join("app.log"), lines).unwrap();
    let token = collector.token(3);
    let machine = work.path().join("machine");
    let _agent = agent_with(
        work.path(),
        "machine",
        None,
        &token,
        &format!(
            "[assist]\nallow = [\"disk-usage\", \"listening-sockets\", \"log-tail\", \"service-restart\", \"support-bundle\"]\nrestart_services = [\"atalaya-demo-only\"]\nlog_paths = [{:?}]\ntimeout_seconds = 20\n",
            logs.display().to_string()
        ),
    );
    let (asset, hostname) = eventually("the machine's asset", Duration::from_secs(60), || {
        let a = collector.assets().first()?.clone();
        Some((
            a["id"].as_str()?.to_owned(),
            a["hostname"].as_str()?.to_owned(),
        ))
    });

    // An incident to work on: the person at the machine reports a problem.
    let out = Command::new(bin("atalaya-agent"))
        .args(["report", "--config"])
        .arg(machine.join("agent.toml"))
        .args(["the", "disk", "is", "full"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let incident = eventually("the reported incident", Duration::from_secs(60), || {
        let (_, body) = collector.get("/api/v1/incidents?status=open", Some(&collector.admin));
        body.as_array()?
            .iter()
            .find(|i| i["rule"] == "user-report")?["id"]
            .as_u64()
    });

    // disk-usage of a directory the test fills: the file is counted.
    let full = work.path().join("full");
    std::fs::create_dir_all(full.join("cache")).unwrap();
    std::fs::write(full.join("cache/blob.bin"), vec![1u8; 300 << 10]).unwrap();
    std::fs::write(full.join("note.txt"), b"x").unwrap();
    let (status, body) = ask(
        &collector,
        &json!({
            "host": asset,
            "action": "disk-usage",
            "args": [full.display().to_string()],
            "incident": incident,
        }),
    );
    assert_eq!(status, 201, "{body}");
    let id = body["id"].as_str().unwrap().to_owned();
    assert!(
        ["pending", "sent"].contains(&body["state"].as_str().unwrap()),
        "{body}"
    );
    let done = answered(&collector, &id);
    assert_eq!(done["state"], "completed", "{done}");
    let output = done["result"]["output"].as_str().unwrap();
    let cache = output
        .lines()
        .find(|l| l.ends_with("  cache"))
        .unwrap_or_else(|| panic!("{output}"));
    let bytes: u64 = cache.split_whitespace().next().unwrap().parse().unwrap();
    assert!(bytes >= 300 << 10, "{output}");
    assert!(output.contains("  note.txt"), "{output}");

    // On the incident's timeline, naming who asked.
    let timeline = eventually(
        "the result on the timeline",
        Duration::from_secs(30),
        || {
            let (_, body) = collector.get(
                &format!("/api/v1/incidents/{incident}"),
                Some(&collector.admin),
            );
            let entries = body["timeline"].as_array()?.clone();
            entries.into_iter().find(|e| e["event"] == "diagnostic")
        },
    );
    let text = timeline["text"].as_str().unwrap();
    assert!(
        text.starts_with(&format!("diagnostic {id} asked by ")) && text.contains("— completed"),
        "{text}"
    );
    assert!(text.contains("cache"), "{text}");

    // listening-sockets: a socket the test opened is listed.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let (status, body) = ask(
        &collector,
        &json!({ "host": asset, "action": "listening-sockets" }),
    );
    assert_eq!(status, 201, "{body}");
    let sockets = answered(&collector, body["id"].as_str().unwrap());
    let output = sockets["result"]["output"].as_str().unwrap();
    assert!(
        output.contains(&format!("tcp 127.0.0.1:{port} pid={}", std::process::id())),
        "{output}"
    );

    // support-bundle: one JSON document with the inventory, the samples
    // of the last hour, the allowed logs and the assistance log so far
    // (once the agent has taken a sample: the collector has stored one).
    eventually("a health sample", Duration::from_secs(30), || {
        (!collector.points(&asset, "load.one").is_empty()).then_some(())
    });
    let (status, body) = ask(
        &collector,
        &json!({ "host": asset, "action": "support-bundle", "incident": incident }),
    );
    assert_eq!(status, 201, "{body}");
    let bundle = answered(&collector, body["id"].as_str().unwrap());
    assert_eq!(bundle["state"], "completed", "{bundle}");
    assert_eq!(bundle["result"]["truncated"], false, "{bundle}");
    let doc: Value = serde_json::from_str(bundle["result"]["output"].as_str().unwrap()).unwrap();
    assert_eq!(doc["kind"], "atalaya-support-bundle");
    assert_eq!(doc["inventory"]["host"]["hostname"], hostname.as_str());
    assert!(!doc["samples"].as_array().unwrap().is_empty(), "no samples");
    let app_log = doc["logs"]
        .as_array()
        .unwrap()
        .iter()
        .find(|l| l["path"].as_str().unwrap().ends_with("app.log"))
        .unwrap_or_else(|| panic!("{}", doc["logs"]));
    assert_eq!(
        app_log["lines"].as_array().unwrap().last().unwrap(),
        "event 50"
    );
    assert!(
        doc["assist_log"]
            .as_array()
            .unwrap()
            .iter()
            .any(|l| l.as_str().unwrap().contains(&id)),
        "{}",
        doc["assist_log"]
    );

    // A restart of a service the machine does not list: refused there.
    let (status, body) = ask(
        &collector,
        &json!({ "host": asset, "action": "service-restart", "args": ["sshd"] }),
    );
    assert_eq!(status, 201, "{body}");
    let refused = answered(&collector, body["id"].as_str().unwrap());
    assert_eq!(refused["state"], "refused", "{refused}");
    assert_eq!(
        refused["result"]["reason"],
        "not allowed: service sshd is not in this machine's [assist] restart_services"
    );

    // Bad arguments never reach the agent.
    let (status, body) = ask(
        &collector,
        &json!({ "host": asset, "action": "log-tail", "args": ["/var/log/../../etc/shadow", "5"] }),
    );
    assert_eq!(status, 400, "{body}");
    assert!(
        body["error"]
            .as_str()
            .unwrap()
            .contains("`..` components are not allowed"),
        "{body}"
    );

    let (status, body) = ask(
        &collector,
        &json!({ "host": "no-such-host", "action": "top-processes" }),
    );
    assert_eq!(status, 404, "{body}");
    let (status, body) = ask(&collector, &json!({ "action": "top-processes" }));
    assert_eq!(status, 400, "{body}");
    assert!(body["error"].as_str().unwrap().contains("`host`"), "{body}");
    let (status, body) = ask(
        &collector,
        &json!({ "host": asset, "action": "top-processes", "incident": 999_999 }),
    );
    assert_eq!(status, 404, "{body}");
    assert!(
        body["error"]
            .as_str()
            .unwrap()
            .contains("no incident 999999"),
        "{body}"
    );

    // The CLI asks, waits and prints.
    let app_log = logs.join("app.log").display().to_string();
    let out = collector.cli_ok(&["diag", &asset, "log-tail", &app_log, "3", "--wait", "60"]);
    assert!(
        out.starts_with("d-")
            && out.contains(&format!(
                " on {hostname}: log-tail {app_log} 3 — completed in "
            )),
        "{out}"
    );
    assert!(out.ends_with("event 48\nevent 49\nevent 50\n"), "{out}");
    // …and a refusal exits non-zero with the agent's reason.
    let out = collector.cli(&["diag", &asset, "service-restart", "cron", "--wait", "60"]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("the agent refused")
            && err.contains("service cron is not in this machine's [assist] restart_services"),
        "{err}"
    );
    let listed = collector.cli_ok(&["diagnostics", &asset]);
    assert_eq!(listed.lines().count(), 1 + 6, "{listed}");

    // The machine kept its own record of every request.
    let record = std::fs::read_to_string(machine.join("state/assist.log")).unwrap();
    let entries: Vec<Value> = record
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(entries.len(), 6, "{record}");
    assert_eq!(entries[0]["incident"], incident);
    assert_eq!(entries[0]["outcome"], "completed");
    assert_eq!(entries[2]["action"], "support-bundle");
    assert_eq!(entries[3]["action"], "service-restart sshd");
    assert_eq!(entries[3]["outcome"], "refused");
    drop(listener);

    // A request for an agent that is away waits for its next connection.
    let later = work.path().join("later");
    let identity = enroll(&later.join("state"), &token);
    let (status, body) = ask(
        &collector,
        &json!({ "agent": identity.agent_id, "action": "listening-sockets" }),
    );
    assert_eq!(status, 201, "{body}");
    assert_eq!(body["state"], "pending", "{body}");
    let id = body["id"].as_str().unwrap().to_owned();
    let (_, still) = collector.get(&format!("/api/v1/diagnostics/{id}"), Some(&collector.admin));
    assert_eq!(still["state"], "pending", "{still}");
    let _later = agent_with(work.path(), "later", None, &token, "");
    let done = answered(&collector, &id);
    assert_eq!(done["state"], "completed", "{done}");
    assert!(!done["sent_at"].is_null(), "{done}");

    // An agent that went away without closing its connection (killed, its
    // network lost) and came back: its old session is still open until it
    // times out, and a request goes to the new one, where the agent is.
    let twice = enroll(&work.path().join("twice/state"), &token);
    let addr = collector.quic_address();
    tokio::runtime::Runtime::new().unwrap().block_on(async {
        let mut stale = RawSession::open(&twice, addr, 0, &[proto::FEATURE_DIAG]).await;
        assert!(matches!(stale.next().await, Message::ConfigUpdate(_)));
        let mut fresh = RawSession::open(&twice, addr, 0, &[proto::FEATURE_DIAG]).await;
        assert!(matches!(fresh.next().await, Message::ConfigUpdate(_)));
        let (status, body) = ask(
            &collector,
            &json!({ "agent": twice.agent_id, "action": "top-processes" }),
        );
        assert_eq!(status, 201, "{body}");
        let request = loop {
            if let Message::DiagRequest(request) = fresh.next_not_ack().await {
                break request;
            }
        };
        assert_eq!(request.order.id, body["id"].as_str().unwrap());
        assert!(stale.conn.close_reason().is_none());
    });
}
