//! Incidents end to end: a real collector with short rules and a real
//! agent on a copy of a fixture root whose memory fills up, whose
//! filesystem (a tmpfs mounted into the copy) fills up, or whose memory
//! module goes missing; a knowledge-base article that fits, and a webhook
//! receiver; a user report written by an unprivileged account; and a
//! series that flaps, sent through the agent's real spool and uplink.

#![allow(clippy::unwrap_used)] // a failed unwrap is a failed test

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use atalaya_common::model::Timestamp;
use atalaya_tests::harness::{Collector, agent, copy_tree, eventually, fixture, runtime};
use atalaya_tests::loadgen::{NumberedAgent, memory_sample};
use atalaya_tests::webhook::Receiver;
use serde_json::Value;

const RULES: &str = "[rule.memory-full]\nkind = \"threshold\"\nseverity = \"critical\"\nseries = \"memory.used_percent\"\nop = \">\"\nvalue = 90\nfor_seconds = 2\nclear_value = 85\n";

fn incidents(c: &Collector, query: &str) -> Vec<Value> {
    let (status, body) = c.get(&format!("/api/v1/incidents{query}"), Some(&c.admin));
    assert_eq!(status, 200, "{body}");
    body.as_array().cloned().unwrap_or_default()
}

/// A collector whose rules file `work/rules.toml` holds `rules` (over the
/// built-ins), ticking every second; `extra` adds sections (a webhook, SLA
/// policies).
fn collector_with_rules(work: &Path, rules: &str, extra: &str) -> Collector {
    let file = work.join("rules.toml");
    std::fs::write(&file, rules).unwrap();
    Collector::start_with(&format!(
        "[incidents]\nrules_file = {:?}\ntick_seconds = 1\n{extra}",
        file.display().to_string()
    ))
}

/// The `[webhook.desk]` section for `hook`.
fn webhook(hook: &Receiver) -> String {
    format!("[webhook.desk]\nurl = {:?}\n", hook.url)
}

#[test]
fn memory_fills_up_incident_opens_is_handled_and_agent_offline_comes_and_goes() {
    let work = tempfile::tempdir().unwrap();
    let hook = Receiver::start().unwrap();
    let collector = collector_with_rules(work.path(), RULES, &webhook(&hook));
    // The help desk knows this one already.
    let added = collector.cli_ok(&[
        "kb",
        "add",
        "--rule",
        "memory-full",
        "--title",
        "Memory exhausted by a leaking process",
        "--symptoms",
        "the machine is slow and swaps",
        "--solution",
        "find the biggest process with top and restart it",
    ]);
    let article: u64 = added
        .strip_prefix("added article ")
        .and_then(|r| r.split(':').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("{added}"));
    let root = work.path().join("root");
    copy_tree(&fixture("debian"), &root);
    // 32 GB of memory, 100 MB available: 99.7 % used.
    let meminfo = root.join("proc/meminfo");
    let text = std::fs::read_to_string(&meminfo).unwrap();
    let text: String = text
        .lines()
        .map(|l| {
            if l.starts_with("MemAvailable:") {
                "MemAvailable:     100000 kB".to_owned()
            } else {
                l.to_owned()
            }
        })
        .collect::<Vec<_>>()
        .join("\n");
    std::fs::write(&meminfo, text + "\n").unwrap();
    let token = collector.token(2);
    let mut laptop = Some(agent(work.path(), "laptop", Some(&root), &token));

    let incident = eventually("the memory incident", Duration::from_secs(60), || {
        incidents(&collector, "?status=open")
            .into_iter()
            .find(|i| i["rule"] == "memory-full")
    });
    let n = incident["id"].as_u64().unwrap();
    let id = n.to_string();
    assert_eq!(incident["priority"], "P1", "{incident}");
    assert_eq!(incident["level"], 1);
    assert_eq!(
        incident["kb_articles"],
        serde_json::json!([article.to_string()]),
        "{incident}"
    );
    let shown = collector.cli_ok(&["incident", &id]);
    assert!(
        shown.contains("Memory exhausted by a leaking process"),
        "{shown}"
    );
    let opened = eventually("the opened webhook", Duration::from_secs(30), || {
        hook.events("opened", n).first().cloned()
    });
    assert_eq!(opened.event_id, opened.body["id"], "{:?}", opened.body);
    assert_eq!(opened.body["incident"]["rule"], "memory-full");
    assert_eq!(
        opened.body["incident"]["hostname"], "lat-maria",
        "{:?}",
        opened.body
    );
    let time = |v: &Value| {
        atalaya_common::model::Timestamp::parse_rfc3339(v.as_str().unwrap())
            .unwrap()
            .0
    };
    let latency_ms = time(&incident["stored_at"]) - time(&incident["opened_at"]);
    eprintln!("fault-to-incident latency (hold elapsed → stored): {latency_ms} ms");
    assert!(latency_ms < 5_000, "{incident}");

    // Closing an open incident is refused with a clear message.
    let out = collector.cli(&["close", &id]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("409") && err.contains("resolve it first"),
        "{err}"
    );

    collector.cli_ok(&["ack", &id]);
    // Acknowledged: out of the open list, still in the queue.
    assert!(
        incidents(&collector, "?status=open")
            .iter()
            .all(|i| i["id"] != n)
    );
    assert!(
        incidents(&collector, "?status=active")
            .iter()
            .any(|i| i["id"] == n)
    );
    let queue = collector.cli_ok(&["incidents", "--status", "active"]);
    assert!(queue.contains("acknowledged"), "{queue}");
    collector.cli_ok(&["note", &id, "looking at it"]);
    collector.cli_ok(&[
        "resolve",
        &id,
        "--solution",
        "killed the leaking process",
        "--kb-article",
        &article.to_string(),
    ]);
    let (status, kb) = collector.get(&format!("/api/v1/kb/{article}"), Some(&collector.admin));
    assert_eq!(status, 200, "{kb}");
    assert_eq!(kb["suggested"], 1, "{kb}");
    assert_eq!(kb["solved"], 1, "{kb}");
    eventually("the resolved webhook", Duration::from_secs(30), || {
        hook.events("resolved", n).first().cloned()
    });
    // That no webhook comes twice is checked at the end, once a later one
    // shows the webhook worker went on past any repeat.
    let shown = collector.cli_ok(&["incident", &id]);
    assert!(shown.contains("killed the leaking process"), "{shown}");
    assert!(shown.contains("looking at it"), "{shown}");
    let (status, rec) = collector.get(&format!("/api/v1/incidents/{id}"), Some(&collector.admin));
    assert_eq!(status, 200);
    assert_eq!(rec["status"], "resolved");
    // Acknowledging a resolved incident is refused.
    let out = collector.cli(&["ack", &id]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success() && err.contains("409"), "{err}");

    let (status, sla) = collector.get("/api/v1/sla", Some(&collector.admin));
    assert_eq!(status, 200);
    let p1 = &sla["priorities"][0];
    assert_eq!(p1["priority"], "P1");
    assert_eq!(p1["incidents"], 1, "{sla}");
    assert_eq!(p1["acknowledge_met"], 1, "{sla}");
    assert_eq!(p1["resolve_met"], 1, "{sla}");
    assert!(p1["mean_acknowledge_seconds"].as_f64().is_some(), "{sla}");
    let table = collector.cli_ok(&["sla"]);
    assert!(table.contains("P1"), "{table}");

    // The agent stops: after 3 missed heartbeats (1 s each) it is offline.
    drop(laptop.take());
    let offline = eventually("agent offline", Duration::from_secs(30), || {
        incidents(&collector, "?status=open")
            .into_iter()
            .find(|i| i["rule"] == "agent-offline")
    });
    let offline_id = offline["id"].as_u64().unwrap();
    laptop = Some(agent(work.path(), "laptop", Some(&root), &token));
    eventually("agent offline resolves", Duration::from_secs(30), || {
        let (_, rec) = collector.get(
            &format!("/api/v1/incidents/{offline_id}"),
            Some(&collector.admin),
        );
        (rec["status"] == "resolved").then_some(())
    });
    let (_, rec) = collector.get(
        &format!("/api/v1/incidents/{offline_id}"),
        Some(&collector.admin),
    );
    let last = rec["timeline"].as_array().unwrap().last().unwrap().clone();
    assert_eq!(
        last["text"], "resolved automatically: condition cleared",
        "{rec}"
    );

    // No webhook came twice. The worker sends the outbox in rounds, each
    // begun only when every POST of the one before was answered, and the
    // receiver keeps a request before answering it. The offline incident's
    // resolved webhook was enqueued after the memory incident's had arrived
    // and the agent had then gone offline and come back, so it goes out in
    // a later round: when it arrives, every round of that span (seconds)
    // has been answered, and a repeat sent in any of them is in the
    // receiver's log.
    hook.wait_for(Duration::from_secs(30), |r| {
        r.body["kind"] == "resolved" && r.body["incident"]["id"] == offline_id
    })
    .unwrap_or_else(|| panic!("no resolved webhook for {offline_id}: {:?}", hook.got()));
    assert_eq!(hook.events("opened", n).len(), 1, "{:?}", hook.got());
    assert_eq!(hook.events("resolved", n).len(), 1, "{:?}", hook.got());
    let got = hook.got();
    let mut ids: Vec<&str> = got.iter().map(|r| r.event_id.as_str()).collect();
    ids.sort_unstable();
    let before = ids.len();
    ids.dedup();
    assert_eq!(ids.len(), before, "an event id came twice: {got:?}");
    drop(laptop);
}

/// Makes `dir` and its parents up to `top` passable (not listable) by
/// every account, as the path to an agent's report folder is on a host.
fn passable(top: &Path, dir: &Path) {
    use std::os::unix::fs::PermissionsExt as _;
    let mut at = Some(dir);
    while let Some(d) = at {
        std::fs::set_permissions(d, std::fs::Permissions::from_mode(0o711)).unwrap();
        if d == top {
            break;
        }
        at = d.parent();
    }
}

#[test]
fn a_user_report_opens_an_incident_with_the_machine_and_its_last_hour() {
    let work = tempfile::tempdir().unwrap();
    let hook = Receiver::start().unwrap();
    let collector = Collector::start_with(&format!(
        "[incidents]\ntick_seconds = 1\n{}",
        webhook(&hook)
    ));
    let root = work.path().join("root");
    copy_tree(&fixture("debian"), &root);
    let token = collector.token(1);
    let _laptop = agent(work.path(), "laptop", Some(&root), &token);
    let asset = eventually("the laptop's inventory", Duration::from_secs(60), || {
        let id = collector
            .assets()
            .into_iter()
            .find(|a| a["hostname"] == "lat-maria")?["id"]
            .as_str()?
            .to_owned();
        // A few health samples first, for the report's last hour.
        (collector.points(&id, "memory.total_bytes").len() >= 2).then_some(id)
    });

    // The help desk has seen this before: an article with no signature,
    // found by the words of a report; and one that does not fit.
    let printer = collector.cli_ok(&[
        "kb",
        "add",
        "--title",
        "Printer queue stuck",
        "--symptoms",
        "jobs stay queued and nothing prints",
        "--solution",
        "restart cups and clear the queue",
    ]);
    collector.cli_ok(&[
        "kb",
        "add",
        "--title",
        "Disk full",
        "--symptoms",
        "programs cannot write",
        "--solution",
        "clean /var/log",
    ]);
    let printer: u64 = printer
        .strip_prefix("added article ")
        .and_then(|r| r.split(':').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("{printer}"));

    // The person at the machine is not root: the report folder lets
    // anyone drop a file, and the owner of the file is who reported.
    let reports = work.path().join("laptop/reports");
    passable(work.path(), &work.path().join("laptop"));
    let config = work.path().join("laptop/agent.toml");
    passable(work.path(), work.path());
    std::fs::set_permissions(&config, std::os::unix::fs::PermissionsExt::from_mode(0o644)).unwrap();
    // The build may sit where nobody cannot reach (a home directory):
    // the command runs from a copy, as an installed one would.
    let command = work.path().join("atalaya-agent");
    std::fs::copy(atalaya_tests::harness::bin("atalaya-agent"), &command).unwrap();
    std::fs::set_permissions(
        &command,
        std::os::unix::fs::PermissionsExt::from_mode(0o755),
    )
    .unwrap();
    let out = std::process::Command::new("setpriv")
        .args(["--reuid=65534", "--regid=65534", "--clear-groups", "--"])
        .arg(&command)
        .arg("report")
        .arg("--config")
        .arg(&config)
        .args(["the", "printer", "does", "not", "print"])
        .output()
        .unwrap();
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && said.contains("is on its way to the help desk"),
        "{said}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        std::fs::read_dir(&reports)
            .unwrap()
            .filter(|e| !["rejected", "status"]
                .contains(&e.as_ref().unwrap().file_name().to_str().unwrap()))
            .count(),
        0,
        "the agent took the report"
    );

    let incident = eventually("the user-report incident", Duration::from_secs(30), || {
        incidents(&collector, "?status=open")
            .into_iter()
            .find(|i| i["rule"] == "user-report")
    });
    assert_eq!(incident["asset"], asset.as_str());
    assert_eq!(incident["title"], "lat-maria: the printer does not print");
    let text = incident["description"].as_str().unwrap();
    // Who (the fixture's passwd names uid 65534), what, the machine, its health.
    assert!(
        text.contains("nobody at lat-maria wrote at ")
            && text.contains(":\nthe printer does not print\n"),
        "{text}"
    );
    assert!(
        text.contains("Machine (inventory as last reported):"),
        "{text}"
    );
    assert!(
        text.contains("  Machine      physical machine · Dell Inc. Latitude 7440 · serial 7HXK2Y3"),
        "{text}"
    );
    assert!(text.contains("  Logged in    maria on "), "{text}");
    assert!(text.contains("\nHealth "), "{text}");
    // The fixture's meminfo does not change: the same use at every sample.
    let memory = text
        .lines()
        .find(|l| l.trim_start().starts_with("memory.used_percent "))
        .unwrap_or_else(|| panic!("no memory line: {text}"));
    let fields: Vec<&str> = memory.split_whitespace().collect();
    assert_eq!(fields[1], fields[3], "now = max: {memory}");
    let samples: usize = fields[5].parse().unwrap();
    assert!(samples >= 2, "{memory}");

    // The stored report points at its incident; one webhook announced it.
    let (status, stored) = collector.get(
        &format!("/api/v1/assets/{asset}/reports"),
        Some(&collector.admin),
    );
    assert_eq!(status, 200, "{stored}");
    assert_eq!(stored.as_array().map(Vec::len), Some(1), "{stored}");
    assert_eq!(stored[0]["user"], "nobody");
    assert_eq!(stored[0]["uid"], 65534);
    assert_eq!(stored[0]["incident"], incident["id"]);
    let n = incident["id"].as_u64().unwrap();
    eventually("the opened webhook", Duration::from_secs(30), || {
        hook.events("opened", n).first().cloned()
    });
    assert_eq!(hook.events("opened", n).len(), 1, "{:?}", hook.got());

    // The help desk works it, and the person who reported it follows from
    // their machine: the status, who has it, the last public note, never
    // a private one. Nobody else on the machine reads it.
    let reports_as = |uid: &str, json: bool| {
        let out = std::process::Command::new("setpriv")
            .args([&format!("--reuid={uid}"), &format!("--regid={uid}")])
            .args(["--clear-groups", "--"])
            .arg(&command)
            .arg("reports")
            .arg("--config")
            .arg(&config)
            .args(json.then_some("--json"))
            .output()
            .unwrap();
        let said = String::from_utf8_lossy(&out.stdout).into_owned();
        assert!(
            out.status.success(),
            "{said}{}",
            String::from_utf8_lossy(&out.stderr)
        );
        said
    };
    let id = n.to_string();
    collector.cli_ok(&["ack", &id]);
    collector.cli_ok(&["assign", &id, "ana"]);
    collector.cli_ok(&["note", &id, "--public", "A new toner is on its way."]);
    collector.cli_ok(&["note", &id, "the toner costs 80 EUR, ask Luis"]);
    let told = eventually(
        "the reporter reads the public note",
        Duration::from_secs(30),
        || {
            let said = reports_as("65534", false);
            said.contains("A new toner").then_some(said)
        },
    );
    assert!(
        told.contains(&format!("Incident {n}: acknowledged, with ana;"))
            && told.contains("  the printer does not print\n")
            && told.contains("Note from local administrator (")
            && !told.contains("80 EUR"),
        "{told}"
    );
    let listed: serde_json::Value = serde_json::from_str(&reports_as("65534", true)).unwrap();
    assert_eq!(listed.as_array().map(Vec::len), Some(1), "{listed}");
    assert_eq!(listed[0]["id"], stored[0]["id"], "{listed}");
    assert_eq!(listed[0]["incident"], n, "{listed}");
    assert_eq!(listed[0]["status"], "acknowledged", "{listed}");
    assert_eq!(
        listed[0]["note"]["text"], "A new toner is on its way.",
        "{listed}"
    );
    let other = reports_as("65533", false);
    assert!(
        other.starts_with("The help desk has no report of yours"),
        "{other}"
    );
    let filed = std::fs::metadata(reports.join("status/65534.json")).unwrap();
    assert_eq!(
        (
            std::os::unix::fs::MetadataExt::uid(&filed),
            std::os::unix::fs::PermissionsExt::mode(&filed.permissions()) & 0o777
        ),
        (65534, 0o400)
    );

    // The printer article was suggested by the report's words, not the disk one.
    assert_eq!(
        incident["kb_articles"],
        serde_json::json!([printer.to_string()]),
        "{incident}"
    );
    // Solved another way: the solution is saved as an article whose
    // symptoms are what the person wrote, not the machine's context.
    collector.cli_ok(&[
        "resolve",
        &n.to_string(),
        "--solution",
        "the paper tray was empty",
    ]);
    let (_, rec) = collector.get(&format!("/api/v1/incidents/{n}"), Some(&collector.admin));
    let saved = rec["kb_articles"][1]
        .as_str()
        .unwrap_or_else(|| panic!("{rec}"));
    let shown = collector.cli_ok(&["kb", "show", saved]);
    assert!(shown.contains("the printer does not print"), "{shown}");
    assert!(shown.contains("the paper tray was empty"), "{shown}");
    assert!(!shown.contains("Machine (inventory"), "{shown}");
    assert!(!shown.contains("lat-maria"), "{shown}");
    // The resolution reaches the reporter too.
    eventually(
        "the reporter reads the resolution",
        Duration::from_secs(30),
        || {
            reports_as("65534", false)
                .contains(&format!("Incident {n}: resolved, with ana;"))
                .then_some(())
        },
    );
}

/// `memory-flaps` fires at once above 90 % and clears below 80 %; more
/// than 2 clears within 10 minutes make it flapping. `load-marker` is an
/// unrelated rule whose incident the test opens and resolves last, to know
/// when every earlier webhook has been delivered.
const FLAP_RULES: &str = "[rule.memory-flaps]\nkind = \"threshold\"\nseverity = \"warning\"\nseries = \"memory.used_percent\"\nop = \">\"\nvalue = 90\nclear_value = 80\nfor_seconds = 0\nflap_cycles = 2\nflap_window_seconds = 600\n\n[rule.load-marker]\nkind = \"threshold\"\nseverity = \"info\"\nseries = \"load.one\"\nop = \">\"\nvalue = 50\nclear_value = 10\nfor_seconds = 0\n";

#[test]
fn a_flapping_series_stays_one_incident_marked_flapping() {
    let rt = runtime();
    let work = tempfile::tempdir().unwrap();
    let hook = Receiver::start().unwrap();
    let collector = collector_with_rules(work.path(), FLAP_RULES, &webhook(&hook));
    let token = collector.token(1);
    let mut agent = rt.block_on(NumberedAgent::start(work.path(), "flappy", &token, None));
    let asset = collector.asset_named("flappy");

    // The engine's clock is the samples' time: one sample a second over
    // the last minute, crossing 90 % and falling back below 80 % seven
    // times. The desk's ticks run on the wall clock, which is past every
    // sample but far from the 10-minute quiet that would end flapping.
    let start = Timestamp::now().0 - 60_000;
    let at = |second: i64| Timestamp(start + second * 1000);
    let crossings: u32 = 7;
    let mut second = 0;
    for n in 0..crossings {
        if n > 0 {
            agent.push_samples(vec![memory_sample(at(second), 50.0)]);
            second += 1;
        }
        agent.push_samples(vec![memory_sample(at(second), 95.0)]);
        second += 1;
    }

    let flapping = eventually(
        "every crossing counted on one flapping incident",
        Duration::from_secs(60),
        || {
            incidents(&collector, &format!("?asset={asset}"))
                .into_iter()
                .find(|i| i["rule"] == "memory-flaps" && i["occurrences"] == crossings)
        },
    );
    let mine: Vec<Value> = incidents(&collector, &format!("?asset={asset}"))
        .into_iter()
        .filter(|i| i["rule"] == "memory-flaps")
        .collect();
    assert_eq!(mine.len(), 1, "one incident for the series: {mine:?}");
    assert_eq!(flapping["flapping"], true, "{flapping}");
    assert_eq!(flapping["status"], "open", "{flapping}");
    assert_eq!(flapping["opened_at"], at(0).to_string(), "{flapping}");
    let n = flapping["id"].as_u64().unwrap();

    // The marker: an incident of another rule opened and resolved after
    // the flapping series. Its `opened` event was queued after every event
    // of the series; its `resolved` event is queued only once `opened` has
    // arrived, so the delivery round that sends it starts after the round
    // that sent `opened` (and anything queued with it) has finished.
    let mut load = memory_sample(at(second), 95.0);
    load.load.one = 99.0;
    agent.push_samples(vec![load]);
    let marker = eventually(
        "the marker's opened webhook",
        Duration::from_secs(30),
        || hook.find(|r| r.body["kind"] == "opened" && r.body["incident"]["rule"] == "load-marker"),
    );
    let marker_id = marker.body["incident"]["id"].as_u64().unwrap();
    agent.push_samples(vec![memory_sample(at(second + 1), 95.0)]);
    eventually(
        "the marker's resolved webhook",
        Duration::from_secs(30),
        || hook.events("resolved", marker_id).first().cloned(),
    );

    // Opened, then resolved and reopened twice (the two clears the rule
    // allows), then flapping once: the later crossings and clears only
    // count occurrences and tell nobody.
    let got = hook.got();
    let kinds: Vec<&str> = got
        .iter()
        .filter(|r| r.body["incident"]["id"] == n)
        .map(|r| r.body["kind"].as_str().unwrap_or("?"))
        .collect();
    let count = |kind: &str| kinds.iter().filter(|k| **k == kind).count();
    assert_eq!(count("opened"), 1, "{kinds:?}");
    assert_eq!(count("reopened"), 2, "{kinds:?}");
    assert_eq!(count("resolved"), 2, "{kinds:?}");
    assert_eq!(count("flapping"), 1, "{kinds:?}");
    assert_eq!(kinds.len(), 6, "nothing else was sent: {kinds:?}");
    let marked = hook.events("flapping", n);
    assert_eq!(
        marked[0].body["incident"]["occurrences"], 3,
        "{:?}",
        marked[0].body
    );
    // Still one incident, still flapping, after the marker.
    let (status, rec) = collector.get(&format!("/api/v1/incidents/{n}"), Some(&collector.admin));
    assert_eq!(status, 200, "{rec}");
    assert_eq!(rec["flapping"], true, "{rec}");
    assert_eq!(rec["occurrences"], crossings, "{rec}");
    drop(agent);
}

/// A tmpfs mounted inside a fixture copy, unmounted (lazily, so nothing
/// holding it open can stop that) when dropped, pass or fail.
struct Tmpfs(PathBuf);

impl Tmpfs {
    fn mount(at: &Path, size: &str) -> Tmpfs {
        std::fs::create_dir_all(at).unwrap();
        let needs = "this test mounts a tmpfs and needs root (CAP_SYS_ADMIN)";
        let out = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(at)
            .output()
            .unwrap_or_else(|e| panic!("running mount: {e}; {needs}"));
        assert!(
            out.status.success(),
            "mount -t tmpfs at {}: {}; {needs}",
            at.display(),
            String::from_utf8_lossy(&out.stderr).trim()
        );
        Tmpfs(at.to_owned())
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.0).status();
    }
}

fn time_ms(v: &Value) -> i64 {
    Timestamp::parse_rfc3339(v.as_str().unwrap()).unwrap().0
}

/// The agent samples every second; the rule holds for 2 s.
const FILESYSTEM_RULES: &str = "[rule.filesystem-full]\nfor_seconds = 2\n";

#[test]
fn filesystem_fills_up_incident_opens_once_is_acknowledged_and_resolved_within_sla() {
    let work = tempfile::tempdir().unwrap();
    let hook = Receiver::start().unwrap();
    let collector = collector_with_rules(work.path(), FILESYSTEM_RULES, &webhook(&hook));
    let root = work.path().join("root");
    copy_tree(&fixture("debian"), &root);
    let data = root.join("srv/data");
    let _mount = Tmpfs::mount(&data, "8m");
    // The fixture's mount table names it, as the machine's would.
    let mounts = root.join("proc/self/mounts");
    let mut table = std::fs::read_to_string(&mounts).unwrap();
    table.push_str("/dev/vdb1 /srv/data ext4 rw,relatime 0 0\n");
    std::fs::write(&mounts, table).unwrap();
    let token = collector.token(1);
    let _laptop = agent(work.path(), "laptop", Some(&root), &token);
    let asset = collector.asset_named("lat-maria");
    let series = "filesystem.used_percent%7Bmount%3D%2Fsrv%2Fdata%7D";
    eventually(
        "the empty /srv/data measured",
        Duration::from_secs(30),
        || {
            collector
                .points(&asset, series)
                .iter()
                .any(|(_, v)| *v < 1.0)
                .then_some(())
        },
    );

    // 95 % of 8 MiB: 1946 of its 2048 pages of 4 KiB.
    let filled_at = Timestamp::now().0;
    let clock = Instant::now();
    std::fs::write(data.join("big"), vec![0u8; 1946 * 4096]).unwrap();
    let incident = eventually("the filesystem incident", Duration::from_secs(30), || {
        incidents(&collector, "?status=open")
            .into_iter()
            .find(|i| i["rule"] == "filesystem-full")
    });
    let waited = clock.elapsed();
    assert!(
        waited < Duration::from_secs(2 + 6),
        "opened {waited:?} after the fill; the rule holds 2 s: {incident}"
    );
    assert_eq!(incident["subject"], "/srv/data", "{incident}");
    assert_eq!(incident["asset"], asset.as_str(), "{incident}");
    let opened_at = time_ms(&incident["opened_at"]);
    // The engine lets a hold end up to a twentieth early (100 ms here), as
    // samples come a few milliseconds off their schedule.
    assert!(
        opened_at >= filled_at + 1_900,
        "opened {} ms after the fill, before the 2 s hold: {incident}",
        opened_at - filled_at
    );
    let description = incident["description"].as_str().unwrap();
    assert!(
        description.contains("filesystem.used_percent{mount=/srv/data} is 95")
            && description.ends_with(": > 90 for 2 s. Clears below 85."),
        "{description}"
    );
    let n = incident["id"].as_u64().unwrap();
    let id = n.to_string();
    let opened = eventually("the opened webhook", Duration::from_secs(30), || {
        hook.events("opened", n).first().cloned()
    });
    assert_eq!(opened.body["incident"]["subject"], "/srv/data");

    let before_ack = Timestamp::now().0;
    collector.cli_ok(&["ack", &id]);
    let after_ack = Timestamp::now().0;
    collector.cli_ok(&[
        "resolve",
        &id,
        "--solution",
        "moved the old backups to the archive",
    ]);
    let after_resolve = Timestamp::now().0;
    let (status, rec) = collector.get(&format!("/api/v1/incidents/{id}"), Some(&collector.admin));
    assert_eq!(status, 200, "{rec}");
    assert_eq!(rec["status"], "resolved", "{rec}");
    let acked_at = time_ms(&rec["acknowledged_at"]);
    let resolved_at = time_ms(&rec["resolved_at"]);
    assert!(
        (before_ack..=after_ack).contains(&acked_at),
        "acknowledged at {acked_at}, the CLI ran from {before_ack} to {after_ack}"
    );
    assert!(
        (after_ack..=after_resolve).contains(&resolved_at),
        "resolved at {resolved_at}, the CLI ran from {after_ack} to {after_resolve}"
    );

    // The SLA figures are this incident's timeline, in the API and the CLI.
    let priority = rec["priority"].as_str().unwrap();
    let (status, sla) = collector.get("/api/v1/sla", Some(&collector.admin));
    assert_eq!(status, 200, "{sla}");
    let line = sla["priorities"]
        .as_array()
        .unwrap()
        .iter()
        .find(|l| l["priority"] == priority)
        .unwrap_or_else(|| panic!("no {priority} in {sla}"));
    // Only this incident is resolved (the forecast rule may have opened
    // one of its own on the jump, still open and acknowledged by nobody).
    assert_eq!(line["acknowledge_met"], 1, "{sla}");
    assert_eq!(line["acknowledge_breached"], 0, "{sla}");
    assert_eq!(line["resolve_met"], 1, "{sla}");
    assert_eq!(line["resolve_breached"], 0, "{sla}");
    let ack_s = line["mean_acknowledge_seconds"].as_f64().unwrap();
    let resolve_s = line["mean_resolve_seconds"].as_f64().unwrap();
    assert_eq!(ack_s, (acked_at - opened_at) as f64 / 1000.0, "{sla}");
    assert_eq!(
        resolve_s,
        (resolved_at - opened_at) as f64 / 1000.0,
        "{sla}"
    );
    assert!(
        0.0 < ack_s && ack_s <= resolve_s && resolve_s < 60.0,
        "{sla}"
    );
    let table = collector.cli_ok(&["sla"]);
    let row: Vec<&str> = table
        .lines()
        .find(|l| l.starts_with(priority))
        .unwrap_or_else(|| panic!("no {priority} row: {table}"))
        .split_whitespace()
        .collect();
    assert_eq!(
        row,
        [
            priority,
            &line["incidents"].to_string(),
            &line["active"].to_string(),
            "1",
            "0",
            "1",
            "0",
            &format!("{ack_s:.0}"),
            &format!("{resolve_s:.0}"),
        ],
        "{table}"
    );

    // Freed, the filesystem is measured below the clear value; filled
    // again within the hour, the same incident reopens.
    std::fs::remove_file(data.join("big")).unwrap();
    let freed_at = Timestamp::now().0;
    eventually(
        "/srv/data measured empty again",
        Duration::from_secs(30),
        || {
            collector
                .points(&asset, series)
                .iter()
                .any(|(at, v)| *at >= freed_at && *v < 85.0)
                .then_some(())
        },
    );
    std::fs::write(data.join("big"), vec![0u8; 1946 * 4096]).unwrap();
    let reopened = eventually("the incident reopened", Duration::from_secs(30), || {
        let (_, rec) = collector.get(&format!("/api/v1/incidents/{id}"), Some(&collector.admin));
        (rec["status"] == "open").then_some(rec)
    });
    assert_eq!(reopened["occurrences"], 2, "{reopened}");
    eventually("the reopened webhook", Duration::from_secs(30), || {
        hook.events("reopened", n).first().cloned()
    });
    // By now every event of the first round has long been delivered:
    // none came twice.
    assert_eq!(hook.events("opened", n).len(), 1, "{:?}", hook.got());
    assert_eq!(hook.events("resolved", n).len(), 1, "{:?}", hook.got());
    assert_eq!(hook.events("reopened", n).len(), 1, "{:?}", hook.got());
}

/// Marks the SMBIOS memory device (type 17) whose strings name `locator`
/// inactive (type 126), as firmware does for a module that is gone, and
/// swaps the table in whole so the agent never reads half of it.
fn remove_memory_module(root: &Path, locator: &str) {
    let path = root.join("sys/firmware/dmi/tables/DMI");
    let mut table = std::fs::read(&path).unwrap();
    let mut at = 0;
    let mut found = false;
    while at + 4 <= table.len() {
        let kind = table[at];
        let strings = at + usize::from(table[at + 1]);
        let end = strings
            + table[strings..]
                .windows(2)
                .position(|w| w == [0, 0])
                .unwrap()
            + 2;
        let names_it = table[strings..end]
            .split(|b| *b == 0)
            .any(|s| s == locator.as_bytes());
        if kind == 17 && names_it {
            table[at] = 126;
            found = true;
        }
        at = end;
    }
    assert!(found, "no memory device {locator} in {}", path.display());
    let fresh = path.with_extension("new");
    std::fs::write(&fresh, table).unwrap();
    std::fs::rename(&fresh, &path).unwrap();
}

#[test]
fn memory_module_removed_opens_one_hardware_change_incident_with_before_and_after() {
    let work = tempfile::tempdir().unwrap();
    // The built-in hardware-change rule; inventories every second.
    let collector = Collector::start_with_sections(
        "[incidents]\ntick_seconds = 1\n",
        "inventory_interval_seconds = 1\n",
    );
    let root = work.path().join("root");
    copy_tree(&fixture("debian"), &root);
    let token = collector.token(1);
    let _laptop = agent(work.path(), "laptop", Some(&root), &token);
    let asset = collector.asset_named("lat-maria");
    assert!(
        incidents(&collector, "")
            .iter()
            .all(|i| i["rule"] != "hardware-change"),
        "a hardware change before anything changed"
    );

    remove_memory_module(&root, "DIMM B");
    let incident = eventually(
        "the hardware-change incident",
        Duration::from_secs(30),
        || {
            incidents(&collector, "?status=open")
                .into_iter()
                .find(|i| i["rule"] == "hardware-change")
        },
    );
    assert_eq!(incident["asset"], asset.as_str(), "{incident}");
    assert_eq!(incident["subject"], "", "{incident}");
    let description = incident["description"].as_str().unwrap();
    let (rule_text, changes) = description.split_once("\nInventory changes at ").unwrap();
    assert_eq!(
        rule_text,
        "Hardware was removed or replaced: memory, a fixed disk, the mainboard or the CPU; on a network device, a module, or a part whose serial number changed."
    );
    let lines: Vec<&str> = changes.lines().skip(1).collect();
    assert_eq!(
        lines,
        ["memory-removed: module DIMM B removed: 16 GiB DDR5 Samsung, serial 45A1B2C4"],
        "{description}"
    );
    // A later change of another class (a package installed, which the
    // agent sees at once through its package database watch) opens nothing
    // and leaves the incident as it was.
    let status = root.join("var/lib/dpkg/status");
    let mut text = std::fs::read_to_string(&status).unwrap();
    text.push_str(
        "\nPackage: cowsay\nStatus: install ok installed\nArchitecture: all\nVersion: 3.03+dfsg2-8\n",
    );
    let fresh = status.with_extension("new");
    std::fs::write(&fresh, text).unwrap();
    std::fs::rename(&fresh, &status).unwrap();
    eventually("cowsay in the change log", Duration::from_secs(30), || {
        collector
            .changes_text(&asset)
            .contains("cowsay")
            .then_some(())
    });
    let all: Vec<Value> = incidents(&collector, "")
        .into_iter()
        .filter(|i| i["rule"] == "hardware-change")
        .collect();
    assert_eq!(all.len(), 1, "{all:?}");
    assert_eq!(all[0]["occurrences"], 1, "{all:?}");
    assert_eq!(all[0]["description"], description, "{all:?}");
}

/// A critical memory rule that opens at once; every crossing a new incident.
const RELOAD_RULES: &str = "[rule.memory-hot]\nkind = \"threshold\"\nseverity = \"critical\"\nseries = \"memory.used_percent\"\nop = \">\"\nvalue = 90\nclear_value = 80\nfor_seconds = 0\nreopen_window_seconds = 0\n";

#[test]
fn rules_and_sla_policies_reload_on_command_and_sighup_and_errors_keep_what_runs() {
    let rt = runtime();
    let work = tempfile::tempdir().unwrap();
    let collector = collector_with_rules(
        work.path(),
        RELOAD_RULES,
        "[sla.P1]\nacknowledge_seconds = 600\n",
    );
    let rules = work.path().join("rules.toml");
    let token = collector.token(1);
    let mut agent = rt.block_on(NumberedAgent::start(work.path(), "pc-9", &token, None));
    let asset = collector.asset_named("pc-9");
    // Crosses 90 %, clears, and returns the incident the crossing opened.
    let cross = |agent: &mut NumberedAgent| -> Value {
        let before = incidents(&collector, &format!("?asset={asset}")).len();
        let now = Timestamp::now();
        agent.push_samples(vec![
            memory_sample(now, 95.0),
            memory_sample(Timestamp(now.0 + 1), 50.0),
        ]);
        eventually("the incident", Duration::from_secs(30), || {
            let all = incidents(&collector, &format!("?asset={asset}"));
            (all.len() > before).then(|| {
                all.into_iter()
                    .max_by_key(|i| i["id"].as_u64().unwrap())
                    .unwrap()
            })
        })
    };
    let ack_seconds =
        |i: &Value| (time_ms(&i["acknowledge_due"]) - time_ms(&i["opened_at"])) / 1000;
    let first = cross(&mut agent);
    assert_eq!(first["priority"], "P1", "{first}");
    assert_eq!(ack_seconds(&first), 600, "{first}");

    // A rules file with an error and a new P1 policy: refused as a whole,
    // the error named; the running rules and policies stay.
    let config = std::fs::read_to_string(&collector.config).unwrap();
    std::fs::write(
        &collector.config,
        config.replace("acknowledge_seconds = 600", "acknowledge_seconds = 120"),
    )
    .unwrap();
    std::fs::write(&rules, RELOAD_RULES.replace("op = \">\"", "op = \"=>\"")).unwrap();
    let out = collector.admin_cmd(&["reload"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{err}");
    assert!(
        err.contains("rules.toml:5:6")
            && err.contains("rule.memory-hot.op")
            && err.contains("stay"),
        "{err}"
    );
    let second = cross(&mut agent);
    assert_eq!(ack_seconds(&second), 600, "{second}");

    // Fixed: `atalaya-collector reload` puts both in force.
    std::fs::write(&rules, RELOAD_RULES).unwrap();
    let out = collector.admin_cmd(&["reload"]);
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(said.contains("SLA policies read again"), "{said}");
    let third = cross(&mut agent);
    assert_eq!(ack_seconds(&third), 120, "{third}");

    // SIGHUP does the same (`systemctl reload`).
    let config = std::fs::read_to_string(&collector.config).unwrap();
    std::fs::write(
        &collector.config,
        config.replace("acknowledge_seconds = 120", "acknowledge_seconds = 240"),
    )
    .unwrap();
    let pid = rustix::process::Pid::from_raw(collector.pid() as i32).unwrap();
    rustix::process::kill_process(pid, rustix::process::Signal::HUP).unwrap();
    eventually("the SIGHUP reload", Duration::from_secs(30), || {
        collector
            .log()
            .contains("SIGHUP: incident rules and SLA policies reloaded")
            .then_some(())
    });
    let fourth = cross(&mut agent);
    assert_eq!(ack_seconds(&fourth), 240, "{fourth}");
    drop(agent);
}
