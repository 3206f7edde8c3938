//! Incidents end to end: a real collector with short rules and a real
//! agent on a copy of a fixture root whose memory fills up, whose
//! filesystem (a tmpfs mounted into the copy) fills up, or whose memory
//! module goes missing; a knowledge-base article that fits, and a webhook
//! receiver.

#![allow(clippy::unwrap_used)] // a failed unwrap is a failed test

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use atalaya_common::model::Timestamp;
use atalaya_tests::harness::{Collector, agent, copy_tree, eventually, fixture};
use atalaya_tests::webhook::Receiver;
use serde_json::Value;

const RULES: &str = "[rule.memory-full]\nkind = \"threshold\"\nseverity = \"critical\"\nseries = \"memory.used_percent\"\nop = \">\"\nvalue = 90\nfor_seconds = 2\nclear_value = 85\n";

fn incidents(c: &Collector, query: &str) -> Vec<Value> {
    let (status, body) = c.get(&format!("/api/v1/incidents{query}"), Some(&c.admin));
    assert_eq!(status, 200, "{body}");
    body.as_array().cloned().unwrap_or_default()
}

fn cli_ok(c: &Collector, args: &[&str]) -> String {
    let out = c.cli(args);
    assert!(
        out.status.success(),
        "atalaya {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn memory_fills_up_incident_opens_is_handled_and_agent_offline_comes_and_goes() {
    let work = tempfile::tempdir().unwrap();
    let rules = work.path().join("rules.toml");
    std::fs::write(&rules, RULES).unwrap();
    let hook = Receiver::start().unwrap();
    let collector = Collector::start_with(&format!(
        "[incidents]\nrules_file = {:?}\ntick_seconds = 1\n[webhook.desk]\nurl = {:?}\n",
        rules.display().to_string(),
        hook.url
    ));
    // The help desk knows this one already.
    let added = cli_ok(
        &collector,
        &[
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
        ],
    );
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
    let shown = cli_ok(&collector, &["incident", &id]);
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

    cli_ok(&collector, &["ack", &id]);
    cli_ok(&collector, &["note", &id, "looking at it"]);
    cli_ok(
        &collector,
        &[
            "resolve",
            &id,
            "--solution",
            "killed the leaking process",
            "--kb-article",
            &article.to_string(),
        ],
    );
    let (status, kb) = collector.get(&format!("/api/v1/kb/{article}"), Some(&collector.admin));
    assert_eq!(status, 200, "{kb}");
    assert_eq!(kb["suggested"], 1, "{kb}");
    assert_eq!(kb["solved"], 1, "{kb}");
    eventually("the resolved webhook", Duration::from_secs(30), || {
        hook.events("resolved", n).first().cloned()
    });
    // Give a duplicate time to show up: none may.
    std::thread::sleep(Duration::from_secs(3));
    assert_eq!(hook.events("opened", n).len(), 1, "{:?}", hook.got());
    assert_eq!(hook.events("resolved", n).len(), 1, "{:?}", hook.got());
    let got = hook.got();
    let mut ids: Vec<&str> = got.iter().map(|r| r.event_id.as_str()).collect();
    ids.sort_unstable();
    let before = ids.len();
    ids.dedup();
    assert_eq!(ids.len(), before, "an event id came twice: {got:?}");
    let shown = cli_ok(&collector, &["incident", &id]);
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
    let table = cli_ok(&collector, &["sla"]);
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
    drop(laptop);
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
    let rules = work.path().join("rules.toml");
    std::fs::write(&rules, FILESYSTEM_RULES).unwrap();
    let hook = Receiver::start().unwrap();
    let collector = Collector::start_with(&format!(
        "[incidents]\nrules_file = {:?}\ntick_seconds = 1\n[webhook.desk]\nurl = {:?}\n",
        rules.display().to_string(),
        hook.url
    ));
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
    assert!(
        opened_at >= filled_at + 2_000,
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
    cli_ok(&collector, &["ack", &id]);
    let after_ack = Timestamp::now().0;
    cli_ok(
        &collector,
        &[
            "resolve",
            &id,
            "--solution",
            "moved the old backups to the archive",
        ],
    );
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
    let table = cli_ok(&collector, &["sla"]);
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
        "Hardware was removed or replaced: memory, a fixed disk, the mainboard or the CPU."
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
