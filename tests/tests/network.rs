//! Network devices end to end, as an administrator adds them: a real
//! `atalaya-collector`, a real `atalaya-agent` enrolled as the poller, a
//! real net-snmp `snmpd` on a loopback port, and the `atalaya` CLI. A
//! device added with the CLI reaches its poller over QUIC, its polls come
//! back as records, and the collector shows its inventory, state and
//! series; wrong credentials and a device that stops answering each show
//! as their own state, in a sentence.

#![allow(clippy::unwrap_used)] // a failed unwrap is a failed test

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use atalaya_tests::harness::{Collector, agent, agent_with, eventually};
use atalaya_tests::relay::Relay;
use atalaya_tests::snmpd::Snmpd;
use serde_json::Value;

const COMMUNITY: &str = "atalaya-net";

fn conf() -> String {
    format!(
        "rocommunity {COMMUNITY} 127.0.0.1\n\
         createUser netops SHA \"netops-auth-pw\" AES \"netops-priv-pw\"\n\
         rouser netops priv\n\
         sysName lab-switch\n\
         sysLocation Lab bench 3\n\
         sysContact noc@example.org\n"
    )
}

/// `atalaya device NAME --json`, once the collector knows the device.
fn device(collector: &Collector, name: &str) -> Option<Value> {
    let out = collector.cli(&["device", name, "--json"]);
    if !out.status.success() {
        return None;
    }
    serde_json::from_slice(&out.stdout).ok()
}

/// Waits until `name`'s last poll is in `state`, and returns the device.
fn wait_state(collector: &Collector, name: &str, state: &str) -> Value {
    eventually(
        &format!("{name} in state {state}"),
        Duration::from_secs(60),
        || device(collector, name).filter(|d| d["device"]["state"] == state),
    )
}

/// The `device-unreachable` incident of `lab-v2c` in `status`, if any.
fn unreachable_incident(collector: &Collector, status: &str) -> Option<Value> {
    let (code, body) = collector.get(
        &format!("/api/v1/incidents?status={status}"),
        Some(&collector.admin),
    );
    assert_eq!(code, 200, "{body}");
    body.as_array()?
        .iter()
        .find(|i| i["rule"] == "device-unreachable" && i["asset"] == "device:lab-v2c")
        .cloned()
}

fn add(collector: &Collector, snmpd: &Snmpd, name: &str, credentials: &[&str]) {
    let port = snmpd.port.to_string();
    let mut args = vec![
        "device",
        "add",
        "127.0.0.1",
        "--name",
        name,
        "--port",
        &port,
        "--interval",
        "1",
    ];
    args.extend_from_slice(credentials);
    let out = collector.cli(&args);
    assert!(
        out.status.success(),
        "device add {name}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn devices_added_with_the_cli_are_polled_by_their_agent_and_shown() {
    let mut snmpd = Snmpd::start(&conf(), COMMUNITY);
    let work = tempfile::tempdir().unwrap();
    // The built-in rule, with a hold short enough for a test.
    let rules = work.path().join("rules.toml");
    std::fs::write(&rules, "[rule.device-unreachable]\nfor_seconds = 2\n").unwrap();
    let collector = Collector::start_with(&format!(
        "[incidents]\nrules_file = {:?}\ntick_seconds = 1\n",
        rules.display().to_string()
    ));
    let token = collector.token(1);
    let _poller = agent(work.path(), "poller", None, &token);
    eventually("the poller enrolled", Duration::from_secs(60), || {
        (collector.assets().len() == 1).then_some(())
    });

    // v2c: inventory as net-snmp's own tools read it.
    add(&collector, &snmpd, "lab-v2c", &["--community", COMMUNITY]);
    let shown = wait_state(&collector, "lab-v2c", "ok");
    let sys_name = snmpd.get(COMMUNITY, &["1.3.6.1.2.1.1.5.0"]).unwrap();
    assert!(sys_name.contains("lab-switch"), "{sys_name}");
    assert_eq!(shown["device"]["sys_name"], "lab-switch", "{shown:#}");
    assert_eq!(
        shown["inventory"]["system"]["location"], "Lab bench 3",
        "{shown:#}"
    );
    let names: Vec<&str> = shown["interfaces"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|i| i["name"].as_str())
        .collect();
    assert!(names.contains(&"lo"), "{names:?}");

    // Its series are the device asset's, readable like a host's.
    let reachable = eventually("snmp.reachable points", Duration::from_secs(30), || {
        let p = collector.points("device:lab-v2c", "snmp.reachable");
        (!p.is_empty()).then_some(p)
    });
    assert!(reachable.iter().all(|(_, v)| *v == 1.0), "{reachable:?}");
    eventually("a rate of lo", Duration::from_secs(30), || {
        let p = collector.points("device:lab-v2c", "interface.in_bits_per_second{if=lo}");
        (!p.is_empty()).then_some(())
    });

    // v3 authPriv, through the CLI's flags.
    add(
        &collector,
        &snmpd,
        "lab-v3",
        &[
            "--user",
            "netops",
            "--auth-protocol",
            "sha",
            "--auth-password",
            "netops-auth-pw",
            "--priv-protocol",
            "aes",
            "--priv-password",
            "netops-priv-pw",
        ],
    );
    wait_state(&collector, "lab-v3", "ok");

    // Wrong credentials are a state of their own, never silence.
    add(&collector, &snmpd, "lab-wrong", &["--community", "not-it"]);
    let wrong = wait_state(&collector, "lab-wrong", "wrong_community");
    let text = wrong["device"]["state_text"].as_str().unwrap();
    assert!(text.contains("community"), "{text}");

    // No route answers a secret back.
    let listing = collector.cli(&["devices", "--json"]);
    let listing = String::from_utf8_lossy(&listing.stdout);
    for secret in [COMMUNITY, "netops-auth-pw", "netops-priv-pw", "not-it"] {
        assert!(!listing.contains(secret), "{secret} in {listing}");
        let detail = device(&collector, "lab-v3").unwrap().to_string();
        assert!(!detail.contains(secret), "{secret} in {detail}");
    }

    // The device stops answering: a timeout, said as such, and after the
    // rule's hold an incident on the device.
    snmpd.stop();
    let silent = wait_state(&collector, "lab-v2c", "timeout");
    let text = silent["device"]["state_text"].as_str().unwrap();
    assert!(text.contains("no answer"), "{text}");
    let incident = eventually(
        "a device-unreachable incident",
        Duration::from_secs(30),
        || unreachable_incident(&collector, "open"),
    );
    let title = incident["title"].as_str().unwrap();
    assert!(title.contains("lab-v2c"), "{incident:#}");
    // Back: the next good poll resolves it.
    snmpd.restart();
    eventually("the incident resolved", Duration::from_secs(30), || {
        unreachable_incident(&collector, "resolved")
    });

    // Removed: the poller is told, the collector forgets the device.
    let out = collector.cli(&["device", "remove", "lab-wrong"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(device(&collector, "lab-wrong").is_none());
}

fn now_ms() -> i64 {
    i64::try_from(
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_millis(),
    )
    .unwrap()
}

#[test]
fn polls_made_while_the_collector_is_out_of_reach_arrive_once_afterwards() {
    let snmpd = Snmpd::start(&conf(), COMMUNITY);
    let collector = Collector::start();
    let token = collector.token(1);
    let relay = Relay::start(collector.quic_address());
    let work = tempfile::tempdir().unwrap();
    let address = format!("address = \"{}\"", relay.addr);
    let _poller = agent_with(work.path(), "branch", None, &token, &address);
    eventually("the poller enrolled", Duration::from_secs(60), || {
        (collector.assets().len() == 1).then_some(())
    });
    add(&collector, &snmpd, "branch-sw", &["--community", COMMUNITY]);
    let series = "snmp.reachable";
    eventually("the first polls", Duration::from_secs(60), || {
        (collector.points("device:branch-sw", series).len() >= 2).then_some(())
    });

    // The branch loses its link; the agent polls on into its spool.
    relay.cut();
    let cut_from = now_ms();
    std::thread::sleep(Duration::from_secs(6));
    let cut_to = now_ms();
    relay.restore();

    let during = |points: &[(i64, f64)]| {
        points
            .iter()
            .filter(|(t, _)| (cut_from..cut_to).contains(t))
            .count()
    };
    let points = eventually("the polls of the cut", Duration::from_secs(60), || {
        let p = collector.points("device:branch-sw", series);
        (during(&p) >= 4 && p.last().is_some_and(|(t, _)| *t > cut_to)).then_some(p)
    });
    assert!(relay.dropped() > 0, "the relay dropped nothing");
    let mut times: Vec<i64> = points.iter().map(|(t, _)| *t).collect();
    times.dedup();
    assert_eq!(times.len(), points.len(), "a poll stored twice: {points:?}");
    // Polled every second: no hole longer than a few intervals, cut or not.
    let widest = times.windows(2).map(|w| w[1] - w[0]).max().unwrap();
    assert!(widest < 3_000, "a hole of {widest} ms in {times:?}");
    assert!(points.iter().all(|(_, v)| *v == 1.0), "{points:?}");
}
