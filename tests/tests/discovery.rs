//! Discovery end to end: a real `atalaya-collector`, a real
//! `atalaya-agent` as the poller, and net-snmp `snmpd` listening on two
//! loopback addresses of a small range. `atalaya-collector device
//! discover` sends the sweep to the agent over its data connection, the
//! agent finds exactly those two, and `--add` adds them as devices that
//! are then polled.

#![allow(clippy::unwrap_used)] // a failed unwrap is a failed test

use std::time::Duration;

use atalaya_tests::harness::{Collector, agent, eventually};
use atalaya_tests::snmpd::{Snmpd, free_port_on};

const COMMUNITY: &str = "atalaya-sweep";

fn conf(name: &str) -> String {
    format!("rocommunity {COMMUNITY} 127.0.0.0/8\nsysName {name}\n")
}

#[test]
fn a_sweep_finds_the_two_devices_in_the_range_and_adds_them() {
    let port = free_port_on(&["127.0.0.2", "127.0.0.5"]);
    let _two = Snmpd::start_on("127.0.0.2", port, &conf("sweep-two"), COMMUNITY);
    let _five = Snmpd::start_on("127.0.0.5", port, &conf("sweep-five"), COMMUNITY);
    let work = tempfile::tempdir().unwrap();
    let collector = Collector::start();
    let token = collector.token(1);
    let _poller = agent(work.path(), "poller", None, &token);
    eventually("the poller connected", Duration::from_secs(60), || {
        let (_, agents) = collector.get("/api/v1/agents", Some(&collector.admin));
        agents
            .as_array()
            .and_then(|a| a.first().cloned())
            .filter(|a| a["status"] == "connected")
    });

    let port = port.to_string();
    let out = collector.admin_cmd(&[
        "device",
        "discover",
        "127.0.0.0/29",
        "--community",
        "not-this-one",
        "--community",
        COMMUNITY,
        "--port",
        &port,
        "--timeout-ms",
        "500",
        "--add",
    ]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let found: Vec<&str> = text.lines().filter(|l| l.starts_with("127.0.0.")).collect();
    assert_eq!(found.len(), 2, "{text}");
    assert!(
        found[0].starts_with("127.0.0.2 ") && found[0].contains("sweep-two"),
        "{text}"
    );
    assert!(
        found[1].starts_with("127.0.0.5 ") && found[1].contains("sweep-five"),
        "{text}"
    );
    assert!(found.iter().all(|l| l.contains("v2c #2")), "{text}");
    assert!(
        text.contains("2 devices answered of 6 addresses swept"),
        "{text}"
    );
    assert!(text.contains("added sweep-two (127.0.0.2:"), "{text}");
    assert!(text.contains("added sweep-five (127.0.0.5:"), "{text}");
    assert!(!text.contains(COMMUNITY), "a secret was printed: {text}");

    // The devices added are polled with the credential that worked.
    eventually("sweep-five polled", Duration::from_secs(90), || {
        let out = collector.cli(&["device", "sweep-five", "--json"]);
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).ok()?;
        (v["device"]["state"] == "ok").then_some(())
    });
    // Asked again, both are known now and nothing is added.
    let out = collector.admin_cmd(&[
        "device",
        "discover",
        "127.0.0.0/29",
        "--community",
        COMMUNITY,
        "--port",
        &port,
        "--timeout-ms",
        "500",
        "--add",
    ]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}");
    assert!(text.contains("nothing to add"), "{text}");
    assert_eq!(
        text.matches("sweep-").count(),
        4,
        "KNOWN AS beside each: {text}"
    );
}
