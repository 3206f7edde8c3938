//! Topology and a link going down, end to end with real components: two
//! network namespaces joined by a veth pair, each with its own net-snmp
//! `snmpd` (AgentX master on a unix socket of its own) and `lldpd`
//! exporting LLDP-MIB through it; a real collector and one real agent,
//! in the root namespace, polling both `snmpd` over a second veth pair per
//! namespace. The map shows the link from both ends as one edge with its
//! interface names; taking the link down opens an interface-down incident
//! naming the neighbour at its other end, and bringing it up resolves it.
//!
//! Needs root (namespaces) and the `lldpd`, `snmpd`, `snmp`, `iproute2` and
//! `graphviz` packages (scripts/test.sh installs them).

#![allow(clippy::unwrap_used)] // a failed unwrap is a failed test

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use atalaya_tests::harness::{Collector, Proc, agent, eventually};
use atalaya_tests::netns::{self, Lab};
use serde_json::Value;

const COMMUNITY: &str = "atalaya-lldp";
/// Seconds between polls, and the interface-down rule's hold.
const POLL_SECONDS: u64 = 2;
const HOLD_SECONDS: u64 = 4;

/// One switch: a namespace with its link interface, the address its
/// `snmpd` answers on, and its daemons.
struct Switch {
    name: &'static str,
    address: String,
    _daemons: Vec<Proc>,
}

/// Starts `snmpd` (AgentX master) and then `lldpd` (its AgentX subagent)
/// in `ns`. `lldp` is extra lldpd configuration.
fn start_switch(
    lab: &Lab,
    dir: &Path,
    ns: &str,
    name: &'static str,
    (link, address): (String, String),
    lldp: &str,
) -> Switch {
    let dir = dir.join(name);
    std::fs::create_dir_all(dir.join("persist")).unwrap();
    let agentx = dir.join("agentx.sock");
    let conf = dir.join("snmpd.conf");
    std::fs::write(
        &conf,
        format!(
            "rocommunity {COMMUNITY}\nsysName {name}\nmaster agentx\nagentXSocket unix:{}\n",
            agentx.display()
        ),
    )
    .unwrap();
    let snmpd = Proc(
        lab.command(ns, "/usr/sbin/snmpd")
            .args(["-f", "-Lf"])
            .arg(dir.join("snmpd.log"))
            .args(["-C", "-M", "/nonexistent", "-m", "", "-c"])
            .arg(&conf)
            .arg(format!("udp:{address}:161"))
            .env("SNMP_PERSISTENT_DIR", dir.join("persist"))
            .env("SNMPCONFPATH", &dir)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("snmpd runs (apt-get install snmpd)"),
    );
    eventually(
        &format!("{name}'s snmpd to open its AgentX socket"),
        Duration::from_secs(20),
        || agentx.exists().then_some(()),
    );
    let lldpd_conf = dir.join("lldpd.conf");
    std::fs::write(
        &lldpd_conf,
        format!("configure lldp tx-interval 1\nconfigure system hostname {name}\n{lldp}"),
    )
    .unwrap();
    let log = std::fs::File::create(dir.join("lldpd.log")).unwrap();
    let lldpd = Proc(
        lab.command(ns, "/usr/sbin/lldpd")
            .args(["-d", "-x", "-X"])
            .arg(&agentx)
            .arg("-u")
            .arg(dir.join("lldpd.sock"))
            .args(["-I", &link, "-O"])
            .arg(&lldpd_conf)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("lldpd runs (apt-get install lldpd)"),
    );
    Switch {
        name,
        address,
        _daemons: vec![lldpd, snmpd],
    }
}

/// `snmpbulkwalk` of `oid` on `address`: the printed lines.
fn walk(address: &str, oid: &str) -> String {
    let out = Command::new("snmpbulkwalk")
        .args([
            "-On",
            "-v2c",
            "-c",
            COMMUNITY,
            "-M",
            "/nonexistent",
            "-m",
            "",
        ])
        .args(["-t", "1", "-r", "0", address, oid])
        .output()
        .expect("snmpbulkwalk runs (apt-get install snmp)");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn cli_json(collector: &Collector, args: &[&str]) -> Option<Value> {
    let out = collector.cli(args);
    if !out.status.success() {
        return None;
    }
    serde_json::from_slice(&out.stdout).ok()
}

/// The interface-down incident of `sw-a`'s link, in `status`.
fn link_incident(collector: &Collector, link: &str, status: &str) -> Option<Value> {
    let (code, body) = collector.get(
        &format!("/api/v1/incidents?status={status}"),
        Some(&collector.admin),
    );
    assert_eq!(code, 200, "{body}");
    body.as_array()?
        .iter()
        .find(|i| {
            i["rule"] == "interface-down" && i["asset"] == "device:sw-a" && i["subject"] == link
        })
        .cloned()
}

#[test]
fn lldp_neighbours_make_the_map_and_a_link_going_down_names_its_other_end() {
    let mut lab = Lab::new();
    let work = tempfile::tempdir().unwrap();
    let (ns_a, ns_b) = (lab.namespace("a"), lab.namespace("b"));
    // The link between the two switches.
    let (link_a, link_b) = (lab.name("a0"), lab.name("b0"));
    lab.veth(Some(&ns_a), &link_a, Some(&ns_b), &link_b);
    // Each switch's management link to the root namespace, where the
    // agent polls from.
    let mut management = Vec::new();
    for (i, ns) in [&ns_a, &ns_b].into_iter().enumerate() {
        let link = lab.link(ns, u8::try_from(i).unwrap());
        management.push(link.ns_ip.to_string());
    }
    // sw-a names its LLDP ports by interface name, sw-b by MAC (lldpd's
    // default): both are mapped back to their interfaces.
    let a = start_switch(
        &lab,
        work.path(),
        &ns_a,
        "sw-a",
        (link_a.clone(), management[0].clone()),
        "configure lldp portidsubtype ifname\n",
    );
    let b = start_switch(
        &lab,
        work.path(),
        &ns_b,
        "sw-b",
        (link_b.clone(), management[1].clone()),
        "",
    );
    // lldpd answers through snmpd: each switch sees the other in LLDP-MIB.
    for (sw, other) in [(&a, &b), (&b, &a)] {
        eventually(
            &format!("{} to list {} in lldpRemSysName", sw.name, other.name),
            Duration::from_secs(30),
            || {
                walk(&sw.address, "1.0.8802.1.1.2.1.4.1.1.9")
                    .contains(other.name)
                    .then_some(())
            },
        );
    }

    let rules = work.path().join("rules.toml");
    std::fs::write(
        &rules,
        format!("[rule.interface-down]\nfor_seconds = {HOLD_SECONDS}\n"),
    )
    .unwrap();
    let collector = Collector::start_with(&format!(
        "[incidents]\nrules_file = {:?}\ntick_seconds = 1\n",
        rules.display().to_string()
    ));
    let token = collector.token(1);
    let _poller = agent(work.path(), "poller", None, &token);
    eventually("the poller enrolled", Duration::from_secs(60), || {
        (collector.assets().len() == 1).then_some(())
    });
    for sw in [&a, &b] {
        let out = collector.cli(&[
            "device",
            "add",
            &sw.address,
            "--name",
            sw.name,
            "--community",
            COMMUNITY,
            "--interval",
            &POLL_SECONDS.to_string(),
        ]);
        assert!(
            out.status.success(),
            "device add {}: {}",
            sw.name,
            String::from_utf8_lossy(&out.stderr)
        );
    }

    // (a) The map: one link, seen from both ends, with both interface names.
    let map = eventually(
        "the link seen from both ends",
        Duration::from_secs(40),
        || {
            let map = cli_json(&collector, &["topology", "--json"])?;
            let both = map["links"]
                .as_array()?
                .iter()
                .any(|l| l["seen_from"].as_array().is_some_and(|s| s.len() == 2));
            both.then_some(map)
        },
    );
    let links = map["links"].as_array().unwrap();
    assert_eq!(links.len(), 1, "{map:#}");
    let ends: Vec<(String, String)> = ["a", "b"]
        .iter()
        .map(|e| {
            let end = &links[0][*e];
            (
                end["node"].as_str().unwrap().to_owned(),
                end["interface"].as_str().unwrap_or("").to_owned(),
            )
        })
        .collect();
    assert_eq!(
        ends,
        [
            ("device:sw-a".to_owned(), link_a.clone()),
            ("device:sw-b".to_owned(), link_b.clone())
        ],
        "{map:#}"
    );
    assert_eq!(links[0]["protocols"], serde_json::json!(["lldp"]));
    let kinds: Vec<&str> = map["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["kind"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, ["device", "device"], "{map:#}");
    let (code, api) = collector.get("/api/v1/topology", Some(&collector.admin));
    assert_eq!((code, &api["links"]), (200, &map["links"]));

    let dot = collector.cli(&["topology", "--dot"]);
    assert!(dot.status.success());
    let dot = String::from_utf8(dot.stdout).unwrap();
    let edge = format!(
        "\"device:sw-a\" -- \"device:sw-b\" [taillabel=\"{link_a}\", headlabel=\"{link_b}\"];"
    );
    assert!(dot.contains(&edge), "{dot}");
    // Graphviz draws it.
    let mut render = Command::new("dot")
        .arg("-Tsvg")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("dot runs (apt-get install graphviz)");
    std::io::Write::write_all(render.stdin.as_mut().unwrap(), dot.as_bytes()).unwrap();
    let svg = render.wait_with_output().unwrap();
    let drawn = String::from_utf8_lossy(&svg.stdout);
    assert!(
        svg.status.success() && drawn.contains("<svg") && drawn.contains(link_b.as_str()),
        "{}",
        String::from_utf8_lossy(&svg.stderr)
    );

    // The device page names the neighbour on the interface.
    let page = cli_json(&collector, &["device", "sw-a", "--json"]).unwrap();
    let row = page["interfaces"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["name"] == link_a.as_str())
        .cloned()
        .unwrap();
    assert_eq!(row["neighbour"], format!("sw-b ({link_b})"), "{row:#}");

    // (b) The link goes down: sw-b's end is shut, so sw-a's end loses its
    // carrier while it stays administratively up.
    netns::set_link(Some(&ns_b), &link_b, false);
    let went_down = Instant::now();
    // One poll sees it down, and the hold is measured between poll times,
    // which jitter: the poll that completes it may be the second after
    // the hold. Beyond that, the record's way to the engine.
    let limit = Duration::from_secs(HOLD_SECONDS + 2 * POLL_SECONDS + 6);
    let incident = eventually("an interface-down incident on sw-a", limit, || {
        link_incident(&collector, &link_a, "open")
    });
    let waited = went_down.elapsed();
    let text = incident["description"].as_str().unwrap();
    assert!(
        text.contains(&format!("Interface {link_a} of sw-a was up and is down"))
            && text.contains(&format!("At its other end: sw-b, port {link_b}")),
        "{text}"
    );
    // The neighbour went with the link: a change of sw-a.
    eventually("the neighbour removed", Duration::from_secs(20), || {
        let page = cli_json(&collector, &["device", "sw-a", "--json"])?;
        page["changes"]
            .to_string()
            .contains("neighbour_removed")
            .then_some(())
    });

    netns::set_link(Some(&ns_b), &link_b, true);
    eventually(
        "the incident resolved",
        Duration::from_secs(2 * POLL_SECONDS + 6),
        || link_incident(&collector, &link_a, "resolved"),
    );
    eprintln!("interface-down opened {waited:?} after the link went down");
}

#[test]
fn a_lab_is_removed_even_when_its_test_panics() {
    let made = std::sync::Mutex::new(String::new());
    let outcome = std::panic::catch_unwind(|| {
        let mut lab = Lab::new();
        let ns = lab.namespace("gone");
        let (x, y) = (lab.name("x0"), lab.name("y0"));
        lab.veth(Some(&ns), &x, None, &y);
        *made.lock().unwrap() = ns.clone();
        assert!(netns::namespaces().contains(&ns));
        panic!("the test fails with its lab in place");
    });
    assert!(outcome.is_err());
    let ns = made.lock().unwrap().clone();
    assert!(!ns.is_empty());
    assert!(!netns::namespaces().contains(&ns), "{ns} was left behind");
}
