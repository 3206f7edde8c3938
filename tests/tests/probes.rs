//! Network probes end to end: a real collector pushes `[[probe]]` targets
//! to a real agent (run as root, so ICMP goes over raw sockets), the
//! agent's rounds come back as series and as the latest result per target
//! (`atalaya probes`), and a target behind a veth pair whose link is set
//! down loses every probe and opens a `probe-loss` incident, which resolves
//! once the link is back.

#![allow(clippy::unwrap_used)] // a failed unwrap is a failed test

use std::time::Duration;

use atalaya_tests::harness::{Collector, agent_with, eventually};
use atalaya_tests::netns::{Lab, SlowDns, closed_port, open_port};
use serde_json::Value;

/// The DNS server's delay, which the probe's round trip must show.
const DNS_DELAY: Duration = Duration::from_millis(80);

/// `atalaya probes --json`.
fn probes(collector: &Collector) -> Vec<Value> {
    let out = collector.cli(&["probes", "--json"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice::<Value>(&out.stdout)
        .unwrap()
        .as_array()
        .cloned()
        .unwrap_or_default()
}

/// The latest result (without its row's asset and time) for `target` of
/// `kind`, once there is one for which `good` holds.
fn result_where(
    collector: &Collector,
    kind: &str,
    target: &str,
    good: impl Fn(&Value) -> bool,
) -> Value {
    eventually(
        &format!("a {kind} result for {target}"),
        Duration::from_secs(30),
        || {
            probes(collector).into_iter().find_map(|row| {
                let r = &row["result"];
                (r["kind"] == kind && r["target"] == target && good(r)).then(|| r.clone())
            })
        },
    )
}

/// The probe-loss incident on `subject` in `status`, if any.
fn loss_incident(collector: &Collector, subject: &str, status: &str) -> Option<Value> {
    let (code, body) = collector.get(
        &format!("/api/v1/incidents?status={status}"),
        Some(&collector.admin),
    );
    assert_eq!(code, 200, "{body}");
    body.as_array()?
        .iter()
        .find(|i| i["rule"] == "probe-loss" && i["subject"] == subject)
        .cloned()
}

#[test]
fn pushed_targets_are_probed_and_a_cut_link_opens_probe_loss() {
    let mut lab = Lab::new();
    let ns = lab.namespace("p");
    let veth = lab.link(&ns, 0);
    let dns = SlowDns::start(DNS_DELAY);
    let open = open_port();
    let closed = closed_port();
    let work = tempfile::tempdir().unwrap();
    let rules = work.path().join("rules.toml");
    // The built-in rule with a hold short enough for a test.
    std::fs::write(&rules, "[rule.probe-loss]\nfor_seconds = 2\n").unwrap();
    let probe = |kind: &str, keys: &str| format!("[[probe]]\nkind = \"{kind}\"\n{keys}\n");
    let tables = [
        probe("icmp", "target = \"127.0.0.1\""),
        probe("icmp", "target = \"::1\""),
        probe("icmp", &format!("target = \"{}\"", veth.ns_ip)),
        probe("tcp", &format!("target = \"{open}\"")),
        probe(
            "tcp",
            &format!("target = \"127.0.0.1\"\nport = {}", closed.port()),
        ),
        probe(
            "dns",
            &format!("target = \"{}\"\nname = \"intranet.test\"", dns.address),
        ),
        // Selects no agent of this test.
        probe("icmp", "target = \"192.0.2.1\"\nhosts = [\"branch-*\"]"),
    ];
    let collector = Collector::start_with(&format!(
        "[incidents]\nrules_file = {:?}\ntick_seconds = 1\n{}",
        rules.display().to_string(),
        tables.concat()
    ));
    let token = collector.token(1);
    // Rounds every second: 3 probes 100 ms apart, each waiting 500 ms.
    let _agent = agent_with(
        work.path(),
        "prober",
        None,
        &token,
        "[probes]\ninterval_seconds = 1\ncount = 3\nspacing_ms = 100\ntimeout_ms = 500\ndefault_targets = false\n",
    );

    // Loopback answers every echo, over raw sockets on both families.
    for target in ["127.0.0.1", "::1"] {
        let r = result_where(&collector, "icmp", target, |r| r["received"] == 3);
        assert_eq!(r["method"], "raw", "{r:#}");
        assert_eq!(r["loss_percent"], 0.0, "{r:#}");
        assert!(r["rtt_median_ms"].as_f64().unwrap() < 50.0, "{r:#}");
    }
    // An open port connects; a closed one refuses, which is no answer.
    let r = result_where(&collector, "tcp", &open.to_string(), |r| r["received"] == 3);
    assert_eq!(r["method"], "connect", "{r:#}");
    let closed_target = format!("127.0.0.1:{}", closed.port());
    let r = result_where(&collector, "tcp", &closed_target, |r| r["sent"] == 3);
    assert_eq!(
        (r["received"].as_u64(), r["refused"].as_u64()),
        (Some(0), Some(3)),
        "{r:#}"
    );
    assert_eq!(r["loss_percent"], 100.0, "{r:#}");
    assert_eq!(r["extra"], "connection refused", "{r:#}");
    // The DNS round trip is the server's delay, within a few ms.
    let dns_target = format!("intranet.test@{}", dns.address);
    let r = result_where(&collector, "dns", &dns_target, |r| r["received"] == 3);
    let median = r["rtt_median_ms"].as_f64().unwrap();
    let delay = DNS_DELAY.as_secs_f64() * 1000.0;
    assert!(
        median >= delay && median < delay + 10.0,
        "median {median} ms for a {delay} ms delay: {r:#}"
    );
    assert_eq!(r["extra"], "NOERROR", "{r:#}");
    // Only the targets selected for this agent.
    assert!(
        probes(&collector)
            .iter()
            .all(|r| r["result"]["target"] != "192.0.2.1")
    );

    // Series of the agent's own asset, readable like its health.
    let host = probes(&collector)[0]["hostname"]
        .as_str()
        .unwrap()
        .to_owned();
    let out = collector.cli(&[
        "metrics",
        &host,
        "probe.rtt_ms{target=127.0.0.1,kind=icmp}",
        "--json",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let series: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(
        !series["points"].as_array().unwrap().is_empty(),
        "{series:#}"
    );
    let table = String::from_utf8(collector.cli(&["probes", "--asset", &host]).stdout).unwrap();
    assert!(table.starts_with("HOST"), "{table}");
    assert!(
        table.contains("raw") && table.contains("connection refused"),
        "{table}"
    );

    // The target behind the veth answers, then its link goes down.
    let peer = veth.ns_ip.to_string();
    result_where(&collector, "icmp", &peer, |r| r["received"] == 3);
    veth.set_root_end(false);
    result_where(&collector, "icmp", &peer, |r| r["loss_percent"] == 100.0);
    let subject = format!("{peer},kind=icmp");
    let incident = eventually("a probe-loss incident", Duration::from_secs(30), || {
        loss_incident(&collector, &subject, "open")
    });
    assert_eq!(incident["severity"], "warning", "{incident:#}");
    // Back up: the next rounds answer and the incident resolves.
    veth.set_root_end(true);
    eventually(
        "the probe-loss incident resolved",
        Duration::from_secs(30),
        || loss_incident(&collector, &subject, "resolved"),
    );
}
