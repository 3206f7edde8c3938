//! Backups of a running collector and their restore: `atalaya-collector
//! backup` while agents stream over QUIC, `restore` with the collector
//! stopped, refusals that leave the store as it was, and a store of an
//! older format upgraded on restore.

#![allow(clippy::unwrap_used)] // a failed unwrap is a failed test

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::time::Duration;

use atalaya_collector::store::{ApiTokenRecord, Role, Store};
use atalaya_common::model::Timestamp;
use atalaya_common::token::secret_sha256;
use atalaya_tests::harness::{Collector, agent, copy_tree, eventually, fixture};
use serde_json::Value;

const SERIES: &str = "memory.used_bytes";

/// `atalaya-collector ARGS` of this collector: success, stdout, stderr.
fn run(c: &Collector, args: &[&str]) -> (bool, String, String) {
    let out = c.admin_cmd(args);
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Takes a backup to `file` with `--json`; what it says it wrote.
fn backup(c: &Collector, file: &Path) -> Value {
    let (ok, out, err) = run(c, &["backup", file.to_str().unwrap(), "--json"]);
    assert!(ok, "backup failed: {err}");
    serde_json::from_str(&out).unwrap()
}

/// The stored times of `SERIES` of every asset, by host name.
fn points(c: &Collector) -> BTreeMap<String, BTreeSet<i64>> {
    c.assets()
        .iter()
        .map(|a| {
            let id = a["id"].as_str().unwrap();
            let times = c.points(id, SERIES).iter().map(|p| p.0).collect();
            (a["hostname"].as_str().unwrap().to_owned(), times)
        })
        .collect()
}

fn store_file(c: &Collector) -> PathBuf {
    c.data_dir().join("atalaya.redb")
}

/// Files beside the store kept by a restore.
fn kept(c: &Collector) -> Vec<PathBuf> {
    std::fs::read_dir(c.data_dir())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            p.file_name()
                .unwrap()
                .to_string_lossy()
                .starts_with("atalaya.redb.before-restore-")
        })
        .collect()
}

#[test]
fn a_backup_while_agents_stream_holds_what_was_committed_and_restores() {
    let mut c = Collector::start();
    let token = c.token(3);
    let work = tempfile::tempdir().unwrap();
    let mut agents = Vec::new();
    for host in ["arch", "debian", "alpine"] {
        let root = work.path().join(format!("root-{host}"));
        copy_tree(&fixture(host), &root);
        agents.push(agent(work.path(), host, Some(&root), &token));
    }
    // Every agent has stored a few samples, and goes on streaming.
    eventually("samples of three agents", Duration::from_secs(60), || {
        let p = points(&c);
        (p.len() == 3 && p.values().all(|t| t.len() >= 3)).then_some(())
    });

    // Committed before the backup began: the API reads committed data,
    // and the collector acknowledges a record only after its commit.
    let before = points(&c);
    let file = work.path().join("atalaya-backup.redb");
    let view = backup(&c, &file);
    let after = points(&c);
    assert_eq!(view["path"], file.to_str().unwrap());
    assert_eq!(
        view["bytes"].as_u64().unwrap(),
        std::fs::metadata(&file).unwrap().len()
    );
    assert_eq!(view["format_version"], 5);
    let seqs = view["agent_seqs"].as_object().unwrap();
    assert_eq!(seqs.len(), 3, "{view}");
    assert!(seqs.values().all(|s| s.as_u64().unwrap() > 0), "{view}");
    let table = |name: &str| {
        view["tables"]
            .as_array()
            .unwrap()
            .iter()
            .find(|t| t["table"] == name)
            .unwrap()["records"]
            .as_u64()
            .unwrap()
    };
    assert_eq!(table("assets"), 3);
    assert_eq!(table("agents"), 3);
    // The collector's own copy was removed once fetched.
    let staged = std::fs::read_dir(c.data_dir().join("backups"))
        .unwrap()
        .count();
    assert_eq!(staged, 0);
    // The agents went on being stored while (and after) the backup ran.
    eventually("samples after the backup", Duration::from_secs(30), || {
        let now = points(&c);
        now.iter()
            .all(|(host, t)| t.len() > after[host].len())
            .then_some(())
    });
    let last = points(&c);

    // Restore is refused while the collector runs, and changes nothing.
    let (ok, _, err) = run(&c, &["restore", file.to_str().unwrap()]);
    assert!(!ok);
    assert!(err.contains("a collector is running on"), "{err}");
    assert!(kept(&c).is_empty());

    drop(agents);
    c.kill();
    let (ok, out, err) = run(&c, &["restore", file.to_str().unwrap()]);
    assert!(ok, "restore failed: {err}");
    assert!(out.contains("the store it replaced is kept as"), "{out}");
    assert_eq!(kept(&c).len(), 1);

    // The restored collector serves the backup: every sample committed
    // before it began, none that was never stored.
    c.restart();
    let restored = points(&c);
    assert_eq!(
        restored.keys().collect::<Vec<_>>(),
        before.keys().collect::<Vec<_>>()
    );
    for (host, times) in &restored {
        assert!(
            before[host].is_subset(times),
            "{host}: samples committed before the backup are missing"
        );
        assert!(
            times.is_subset(&after[host]),
            "{host}: samples never stored"
        );
        assert!(times.len() < last[host].len());
    }
    // A backup of the restored store states the same consistency point.
    let again = backup(&c, &work.path().join("again.redb"));
    assert_eq!(again["agent_seqs"], view["agent_seqs"]);
}

#[test]
fn restore_refuses_garbage_and_leaves_the_store_as_it_was() {
    let mut c = Collector::start();
    c.kill();
    let store = store_file(&c);
    let before = std::fs::read(&store).unwrap();
    let work = tempfile::tempdir().unwrap();
    let garbage = work.path().join("garbage.redb");
    std::fs::write(&garbage, b"not a store, only words ".repeat(4096)).unwrap();
    let (ok, _, err) = run(&c, &["restore", garbage.to_str().unwrap()]);
    assert!(!ok);
    assert!(err.contains("is not a store or is damaged"), "{err}");
    let (ok, _, err) = run(&c, &["restore", "/nonexistent/backup.redb"]);
    assert!(!ok);
    assert!(err.contains("is not a file"), "{err}");
    assert_eq!(std::fs::read(&store).unwrap(), before);
    assert!(kept(&c).is_empty());
    let names: Vec<_> = std::fs::read_dir(c.data_dir())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.contains("restoring"))
        .collect();
    assert!(names.is_empty(), "{names:?}");

    // With no collector running, `backup` reads the store itself.
    let file = work.path().join("stopped.redb");
    let view = backup(&c, &file);
    assert_eq!(view["format_version"], 5);
    assert_eq!(view["id"], "");
}

#[test]
fn restoring_a_backup_of_an_older_format_upgrades_it() {
    let mut c = Collector::start();
    c.kill();
    let old =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../collector/tests/fixtures/store-v4.redb");
    let work = tempfile::tempdir().unwrap();
    let file = work.path().join("v4.redb");
    std::fs::copy(&old, &file).unwrap();
    let (ok, out, err) = run(&c, &["restore", file.to_str().unwrap()]);
    assert!(ok, "restore failed: {err}");
    assert!(out.contains("upgraded from store format 4 to 5"), "{out}");
    // The backup itself is not changed.
    assert_eq!(std::fs::read(&file).unwrap(), std::fs::read(&old).unwrap());
    // The old store does not know this data directory's administrator
    // token (the collector would make a new one): the test keeps its own.
    {
        let store = Store::open(&store_file(&c)).unwrap();
        store
            .add_api_token(&ApiTokenRecord {
                id: "test-admin".into(),
                name: "test".into(),
                secret_sha256: secret_sha256(&c.admin),
                role: Role::Admin,
                created_at: Timestamp::now(),
            })
            .unwrap();
    }
    c.restart();
    let assets = c.assets();
    assert!(!assets.is_empty());
    let view = backup(&c, &work.path().join("now.redb"));
    assert_eq!(view["format_version"], 5);
}
