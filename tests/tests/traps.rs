//! SNMP traps end to end: a real collector, a real agent polling a real
//! net-snmp `snmpd` and listening for traps, and net-snmp's `snmptrap` and
//! `snmpinform` as the devices sending them. Polls are an hour apart, so
//! whatever happens within the test comes from the traps.

#![allow(clippy::unwrap_used)] // a failed unwrap is a failed test

use std::net::UdpSocket;
use std::path::Path;
use std::time::{Duration, Instant};

use atalaya_tests::harness::{Collector, agent_with, eventually};
use atalaya_tests::snmpd::{Snmpd, free_port};
use atalaya_tests::traps::{capture, send};
use serde_json::Value;

const COMMUNITY: &str = "lab-traps";
const FLOOD_COMMUNITY: &str = "flood-traps";
const LINK_DOWN: &str = "1.3.6.1.6.3.1.1.5.3";
const LINK_UP: &str = "1.3.6.1.6.3.1.1.5.4";
const IF_INDEX_1: &str = "1.3.6.1.2.1.2.2.1.1.1";
const IF_ADMIN_1: &str = "1.3.6.1.2.1.2.2.1.7.1";
const IF_OPER_1: &str = "1.3.6.1.2.1.2.2.1.8.1";
const V3: [&str; 11] = [
    "-v3",
    "-u",
    "netops",
    "-a",
    "SHA",
    "-A",
    "netops-auth-pw",
    "-x",
    "AES",
    "-X",
    "netops-priv-pw",
];

fn conf() -> String {
    format!(
        "rocommunity {COMMUNITY} 127.0.0.1\n\
         createUser netops SHA \"netops-auth-pw\" AES \"netops-priv-pw\"\n\
         rouser netops priv\n\
         sysName lab-switch\n"
    )
}

/// `atalaya device add` of a device polled once an hour.
fn add(collector: &Collector, name: &str, address: &str, port: u16, credentials: &[&str]) {
    let port = port.to_string();
    let mut args = vec![
        "device",
        "add",
        address,
        "--name",
        name,
        "--port",
        &port,
        "--interval",
        "3600",
    ];
    args.extend_from_slice(credentials);
    let out = collector.cli(&args);
    assert!(
        out.status.success(),
        "device add {name}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn incidents(collector: &Collector, status: &str) -> Vec<Value> {
    let (code, body) = collector.get(
        &format!("/api/v1/incidents?status={status}"),
        Some(&collector.admin),
    );
    assert_eq!(code, 200, "{body}");
    body.as_array().cloned().unwrap_or_default()
}

fn incident(collector: &Collector, status: &str, rule: &str, asset: &str) -> Option<Value> {
    incidents(collector, status)
        .into_iter()
        .find(|i| i["rule"] == rule && i["asset"] == asset)
}

/// `GET /api/v1/devices/NAME/events`.
fn events(collector: &Collector, device: &str) -> Vec<Value> {
    let (code, body) = collector.get(
        &format!("/api/v1/devices/{device}/events"),
        Some(&collector.admin),
    );
    assert_eq!(code, 200, "{body}");
    body.as_array().cloned().unwrap_or_default()
}

/// The latest value of the poller's drop counter for `reason`.
fn dropped(collector: &Collector, poller: &str, reason: &str) -> f64 {
    let points = collector.points(poller, &format!("snmp.traps_dropped{{reason={reason}}}"));
    points.last().map_or(0.0, |p| p.1)
}

/// Sends a trap every two seconds until `check` holds: the listener takes
/// traps from a device once its table is built from the latest list, a
/// moment after each assignment.
fn send_until<T>(what: &str, mut sending: impl FnMut(), mut check: impl FnMut() -> Option<T>) -> T {
    let mut last: Option<Instant> = None;
    eventually(what, Duration::from_secs(30), || {
        if last.is_none_or(|t| t.elapsed() >= Duration::from_secs(2)) {
            sending();
            last = Some(Instant::now());
        }
        check()
    })
}

#[test]
fn traps_from_polled_devices_become_events_and_incidents() {
    let snmpd = Snmpd::start(&conf(), COMMUNITY);
    let work = tempfile::tempdir().unwrap();
    let persist = work.path().join("snmptrap");
    std::fs::create_dir_all(&persist).unwrap();
    let rules = work.path().join("rules.toml");
    std::fs::write(
        &rules,
        "[rule.lab-enterprise]\nkind = \"trap\"\nseverity = \"high\"\noid = \"1.3.6.1.4.1.99999.0.*\"\nclear_oid = \"1.3.6.1.4.1.99999.1.9\"\n",
    )
    .unwrap();
    let collector = Collector::start_with(&format!(
        "[incidents]\nrules_file = {:?}\ntick_seconds = 1\n",
        rules.display().to_string()
    ));
    let token = collector.token(1);
    let trap_port = free_port();
    let listen = format!("[snmp]\ntrap_listen = \"127.0.0.1:{trap_port}\"");
    let _poller = agent_with(work.path(), "poller", None, &token, &listen);
    let poller = eventually("the poller enrolled", Duration::from_secs(60), || {
        collector
            .assets()
            .first()
            .and_then(|a| a["id"].as_str().map(str::to_owned))
    });
    let target = format!("127.0.0.1:{trap_port}");
    let trap = |extra: &[&str], oid_and_bindings: &[&str]| {
        let mut args: Vec<&str> = extra.to_vec();
        args.push(&target);
        args.push("");
        args.extend_from_slice(oid_and_bindings);
        send(&persist, false, &args)
    };

    // Two devices at the same address (one v2c, one v3), and one elsewhere.
    add(
        &collector,
        "access-sw",
        "127.0.0.1",
        snmpd.port,
        &["--community", COMMUNITY],
    );
    let v3_credentials = [
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
    ];
    add(
        &collector,
        "core-v3",
        "127.0.0.1",
        snmpd.port,
        &v3_credentials,
    );
    add(
        &collector,
        "flood-sw",
        "127.0.0.5",
        161,
        &["--community", FLOOD_COMMUNITY],
    );
    // The first device of the list is polled at once: its interfaces are known.
    eventually("access-sw polled", Duration::from_secs(60), || {
        let out = collector.cli(&["device", "access-sw", "--json"]);
        let shown: Value = serde_json::from_slice(&out.stdout).ok()?;
        (shown["device"]["state"] == "ok").then_some(())
    });

    // linkDown of lo (ifIndex 1): the interface-down incident opens now,
    // not after the rule's two minutes, and with polls an hour apart.
    let v2c = ["-v2c", "-c", COMMUNITY];
    let down = [
        LINK_DOWN, IF_INDEX_1, "i", "1", IF_ADMIN_1, "i", "1", IF_OPER_1, "i", "2",
    ];
    let open = send_until(
        "an interface-down incident from the linkDown trap",
        || assert!(trap(&v2c, &down)),
        || incident(&collector, "open", "interface-down", "device:access-sw"),
    );
    assert!(open["title"].as_str().unwrap().contains("(lo)"), "{open:#}");
    let shown = collector.cli(&["device", "access-sw", "--json"]);
    let shown: Value = serde_json::from_slice(&shown.stdout).unwrap();
    let event = &shown["events"][0]["trap"];
    assert_eq!(event["kind"], "link_down", "{shown:#}");
    assert_eq!(event["interface"]["name"], "lo", "{shown:#}");
    assert_eq!(event["interface"]["oper_up"], false, "{shown:#}");
    let up = [
        LINK_UP, IF_INDEX_1, "i", "1", IF_ADMIN_1, "i", "1", IF_OPER_1, "i", "1",
    ];
    assert!(trap(&v2c, &up));
    eventually(
        "the linkUp trap resolves it",
        Duration::from_secs(20),
        || incident(&collector, "resolved", "interface-down", "device:access-sw"),
    );

    // An inform is answered (snmpinform exits 0 only then); an enterprise
    // trap nobody knows is kept with its bindings, and a trap rule on its
    // OID opens an incident.
    let mut inform_args: Vec<&str> = v2c.to_vec();
    inform_args.extend([
        target.as_str(),
        "",
        "1.3.6.1.4.1.99999.0.7",
        "1.3.6.1.4.1.99999.1.1",
        "s",
        "battery low",
    ]);
    assert!(
        send(&persist, true, &inform_args),
        "snmpinform got no response"
    );
    let lab = eventually(
        "the lab-enterprise incident",
        Duration::from_secs(20),
        || incident(&collector, "open", "lab-enterprise", "device:access-sw"),
    );
    assert!(
        lab["title"].as_str().unwrap().contains("access-sw"),
        "{lab:#}"
    );
    let stored = events(&collector, "access-sw");
    let inform = stored
        .iter()
        .find(|e| e["trap"]["trap_oid"] == "1.3.6.1.4.1.99999.0.7")
        .unwrap();
    assert_eq!(inform["trap"]["inform"], true);
    assert_eq!(inform["trap"]["kind"], "other");
    assert_eq!(
        inform["trap"]["varbinds"][0],
        serde_json::json!(["1.3.6.1.4.1.99999.1.1", "battery low"])
    );

    // SNMPv3 authPriv (SHA/AES) with the device's user: taken, as core-v3's.
    let mut v3: Vec<&str> = V3.to_vec();
    v3.extend(["-l", "authPriv", "-e", "0x80001f8880aabbccdd"]);
    assert!(trap(&v3, &["1.3.6.1.6.3.1.1.5.1"]));
    // core-v3 is access-sw's snmpd under other credentials: once polled,
    // it is found to be the same box and shares access-sw's asset, where
    // its incidents go too. Whichever asset it has, the incident is there.
    let restarted = eventually(
        "a device-restarted incident",
        Duration::from_secs(20),
        || {
            let out = collector.cli(&["device", "core-v3", "--json"]);
            let shown: Value = serde_json::from_slice(&out.stdout).ok()?;
            let asset = shown["device"]["asset_id"].as_str()?.to_owned();
            incident(&collector, "open", "device-restarted", &asset)
        },
    );
    assert_eq!(restarted["severity"], "info", "{restarted:#}");
    assert_eq!(events(&collector, "core-v3")[0]["trap"]["version"], "v3");

    // Refused: a wrong v3 password, a wrong community, an address that is
    // no device's. Each is counted; a good trap afterwards carries the
    // counts to the collector.
    let mut wrong_v3: Vec<&str> = V3.to_vec();
    wrong_v3[6] = "not-the-password";
    wrong_v3.extend(["-l", "authPriv", "-e", "0x80001f8880aabbccdd"]);
    assert!(trap(&wrong_v3, &["1.3.6.1.6.3.1.1.5.2"]));
    assert!(trap(&["-v2c", "-c", "not-it"], &["1.3.6.1.4.1.99999.0.8"]));
    assert!(trap(
        &["-v2c", "-c", COMMUNITY, "--clientaddr=127.0.0.2"],
        &["1.3.6.1.4.1.99999.0.8"]
    ));
    assert!(trap(&v2c, &["1.3.6.1.4.1.99999.1.9"]));
    eventually("the drops counted", Duration::from_secs(20), || {
        (dropped(&collector, &poller, "v3_auth_failed") >= 1.0
            && dropped(&collector, &poller, "bad_community") >= 1.0
            && dropped(&collector, &poller, "unknown_source") >= 1.0)
            .then_some(())
    });
    // Nothing of them was stored; the clearing trap resolved lab-enterprise.
    // (core-v3's events are its box's: access-sw's too.)
    let from_core = |e: &&Value| e["trap"]["device"] == "core-v3";
    assert_eq!(
        events(&collector, "core-v3")
            .iter()
            .filter(from_core)
            .count(),
        1
    );
    assert!(
        !events(&collector, "access-sw")
            .iter()
            .any(|e| e["trap"]["trap_oid"] == "1.3.6.1.4.1.99999.0.8")
    );
    eventually(
        "the clearing trap resolves it",
        Duration::from_secs(20),
        || incident(&collector, "resolved", "lab-enterprise", "device:access-sw"),
    );

    // A flood from flood-sw is cut to its rate; access-sw is still heard at once.
    let flooding = flood(&persist, &format!("127.0.0.1:{trap_port}"), 3000);
    let started = Instant::now();
    assert!(trap(
        &v2c,
        &[
            "1.3.6.1.4.1.99999.0.9",
            "1.3.6.1.4.1.99999.1.2",
            "s",
            "during the flood"
        ]
    ));
    eventually(
        "access-sw's trap during the flood",
        Duration::from_secs(10),
        || {
            events(&collector, "access-sw")
                .iter()
                .any(|e| e["trap"]["trap_oid"] == "1.3.6.1.4.1.99999.0.9")
                .then_some(())
        },
    );
    let took = started.elapsed();
    assert!(took < Duration::from_secs(5), "took {took:?}");
    flooding.join().unwrap();
    // The next trap taken carries the drop totals.
    assert!(trap(&v2c, &["1.3.6.1.4.1.99999.1.9"]));
    let limited = eventually("the flood counted", Duration::from_secs(20), || {
        let n = dropped(&collector, &poller, "rate_limited");
        (n >= 500.0).then_some(n)
    });
    let flood_events = events(&collector, "flood-sw").len();
    assert!(
        flood_events <= 400,
        "{flood_events} of the flood stored ({limited} dropped)"
    );

    // The CLI lists them.
    let out = collector.cli(&["traps", "--device", "access-sw"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("link_down lo") && text.contains("[inform]"),
        "{text}"
    );
}

/// Starts sending `count` copies of a v2c trap of flood-sw from its
/// address (127.0.0.5), about four a millisecond: far over its rate, and
/// a pace a busy test machine's socket buffer takes without dropping.
fn flood(persist: &Path, target: &str, count: usize) -> std::thread::JoinHandle<()> {
    let datagram = capture(
        persist,
        &["-v2c", "-c", FLOOD_COMMUNITY],
        &["", "1.3.6.1.4.1.99999.0.5"],
    );
    let socket = UdpSocket::bind("127.0.0.5:0").unwrap();
    let target = target.to_owned();
    std::thread::spawn(move || {
        for i in 0..count {
            socket.send_to(&datagram, &target).unwrap();
            if i % 4 == 3 {
                std::thread::sleep(Duration::from_millis(1));
            }
        }
    })
}
