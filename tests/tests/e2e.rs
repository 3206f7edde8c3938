//! The whole system as a sysadmin runs it: a real `atalaya-collector`
//! process, real `atalaya-agent` processes enrolling with tokens and
//! streaming over loopback QUIC, and the `atalaya` CLI and HTTP API
//! answering. The second agent reads a copy of a fixture tree as its `/`,
//! so it is another host whose package database the test can change.
//!
//! The binaries come from the same `cargo test --workspace` build.

#![allow(clippy::unwrap_used)] // a failed unwrap is a failed test

use std::process::Command;
use std::time::{Duration, Instant};

use atalaya_tests::harness::{Collector, agent, bin, console_page, copy_tree, eventually, fixture};

use serde_json::Value;

fn packages_of(inventory: &Value) -> Vec<String> {
    inventory["software"]["packages"]
        .as_array()
        .map(|p| {
            p.iter()
                .filter_map(|p| p["name"].as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

#[test]
fn two_agents_enroll_stream_and_answer_queries() {
    let collector = Collector::start();
    let token = collector.token(2);
    let work = tempfile::tempdir().unwrap();
    let laptop_root = work.path().join("laptop-root");
    copy_tree(&fixture("debian"), &laptop_root);
    let _this_host = agent(work.path(), "this-host", None, &token);
    let _laptop = agent(work.path(), "laptop", Some(&laptop_root), &token);

    let assets = eventually("both inventories", Duration::from_secs(60), || {
        let assets = collector.assets();
        (assets.len() == 2).then_some(assets)
    });
    let hostnames: Vec<&str> = assets
        .iter()
        .filter_map(|a| a["hostname"].as_str())
        .collect();
    assert!(
        hostnames.contains(&"lat-maria"),
        "{hostnames:?}\n{}",
        collector.log()
    );
    let laptop_id = assets
        .iter()
        .find(|a| a["hostname"] == "lat-maria")
        .and_then(|a| a["id"].as_str())
        .unwrap()
        .to_owned();

    // The CLI shows the same, for people.
    let out = collector.cli(&["assets"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let table = String::from_utf8(out.stdout).unwrap();
    assert!(table.contains("lat-maria"), "{table}");
    let out = collector.cli(&["software", "bash", "--json"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(report.to_string().contains("5.2.15-2+b7"), "{report}");

    // Health samples arrive as series.
    let (status, series) = eventually("metrics of the laptop", Duration::from_secs(30), || {
        let (s, body) = collector.get(
            &format!("/api/v1/assets/{laptop_id}/metrics?name=memory.used_bytes&from=1h"),
            Some(&collector.admin),
        );
        (s == 200
            && body.to_string().contains('[')
            && !body["points"].as_array().is_none_or(Vec::is_empty))
        .then_some((s, body))
    });
    assert_eq!(status, 200, "{series}");

    // The help desk's first question: maria is on the phone.
    let out = collector.cli(&["lookup", "maria"]);
    let screen = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{screen}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let laptop = screen.split("\n\n").nth(1).unwrap_or_default();
    assert!(laptop.starts_with("lat-maria  "), "{screen}");
    assert!(
        laptop.contains(
            "why:        maria logged in on tty2, pts/0 from 192.0.2.10 since 2026-11-27"
        ),
        "{screen}"
    );
    assert!(
        laptop.contains("local account maria (María García), uid 1000"),
        "{screen}"
    );
    assert!(laptop.contains("health:     cpu "), "{screen}");
    let out = collector.cli(&["lookup", "nobody-here"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("no machine found for nobody-here"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    // A package installed on the laptop shows up as a change within seconds.
    let before_install = atalaya_common::model::Timestamp::now();
    let dpkg = laptop_root.join("var/lib/dpkg");
    let mut status_file = std::fs::read_to_string(dpkg.join("status")).unwrap();
    status_file.push_str("\n\nPackage: atalaya-e2e-probe\nStatus: install ok installed\nPriority: optional\nSection: admin\nInstalled-Size: 12\nMaintainer: QA <qa@example.org>\nArchitecture: amd64\nVersion: 1.0-1\nDescription: probe\n");
    std::fs::write(dpkg.join("status-new"), status_file).unwrap();
    std::fs::rename(dpkg.join("status-new"), dpkg.join("status")).unwrap();
    let installed_at = Instant::now();
    eventually("the package change", Duration::from_secs(20), || {
        let out = collector.cli(&["changes", "--since", "1h", "--json"]);
        String::from_utf8_lossy(&out.stdout)
            .contains("atalaya-e2e-probe")
            .then_some(())
    });
    assert!(installed_at.elapsed() < Duration::from_secs(20));

    let (_, now) = collector.get(
        &format!("/api/v1/assets/{laptop_id}/inventory"),
        Some(&collector.admin),
    );
    assert!(
        packages_of(&now["inventory"]).contains(&"atalaya-e2e-probe".to_owned()),
        "{now}"
    );
    // `as_of` to the second, as people type it. Cut down it is still before
    // the install, and the agent stamps an inventory once it has read it, so
    // the inventory with the package is newer: the collector's own record
    // of its time shows it.
    let at = before_install.to_rfc3339().unwrap();
    let at = at
        .split('.')
        .next()
        .unwrap()
        .trim_end_matches('Z')
        .to_owned()
        + "Z";
    let time = |s: &str| atalaya_common::model::Timestamp::parse_rfc3339(s).unwrap();
    assert!(time(&at) < time(now["as_of"].as_str().unwrap()), "{now}");
    let (status, then) = collector.get(
        &format!("/api/v1/assets/{laptop_id}/inventory?as_of={at}"),
        Some(&collector.admin),
    );
    assert_eq!(status, 200, "{then}");
    let old = packages_of(&then["inventory"]);
    assert!(old.contains(&"bash".to_owned()), "{then}");
    assert!(
        !old.contains(&"atalaya-e2e-probe".to_owned()),
        "as_of returned the newer inventory"
    );
}

#[test]
fn revoked_agents_and_bad_tokens_are_refused_with_clear_messages() {
    let collector = Collector::start();
    let work = tempfile::tempdir().unwrap();

    // Garbage and unknown tokens: the agent says why and exits non-zero.
    let out = Command::new(bin("atalaya-agent"))
        .args(["enroll", "--token", "not-a-token", "--state-dir"])
        .arg(work.path().join("x"))
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("token"), "{err}");

    let good = collector.token(1);
    let forged = {
        let mut t = atalaya_common::token::EnrollmentToken::decode(&good).unwrap();
        t.secret = "guessed-secret".into();
        t.encode()
    };
    let out = Command::new(bin("atalaya-agent"))
        .args(["enroll", "--token", &forged, "--state-dir"])
        .arg(work.path().join("forged"))
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("not known to this collector"), "{err}");

    // One use only: the second enrollment is refused.
    let out = Command::new(bin("atalaya-agent"))
        .args(["enroll", "--token", &good, "--state-dir"])
        .arg(work.path().join("a"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = Command::new(bin("atalaya-agent"))
        .args(["enroll", "--token", &good, "--state-dir"])
        .arg(work.path().join("b"))
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("already used"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    // A running agent, then revoked: its connection is closed and it is refused from then on.
    let token = collector.token(1);
    let laptop_root = work.path().join("root");
    copy_tree(&fixture("rpm"), &laptop_root);
    let _agent = agent(work.path(), "server", Some(&laptop_root), &token);
    let id = eventually("the agent to connect", Duration::from_secs(30), || {
        let (_, agents) = collector.get("/api/v1/agents", Some(&collector.admin));
        let list = agents
            .as_array()
            .cloned()
            .or_else(|| agents["items"].as_array().cloned())?;
        let connected = collector
            .get("/metrics", Some(&collector.admin))
            .1
            .to_string()
            .contains("atalaya_connected_agents 1");
        if !connected {
            return None;
        }
        // The agent enrolled above with `enroll` is not running; pick the
        // one that reads the Rocky fixture.
        list.iter()
            .find(|a| a["hostname"] == "web01.corp.example")
            .and_then(|a| a["id"].as_str().map(str::to_owned))
    });
    let status_of = |id: &str| {
        let (_, agents) = collector.get("/api/v1/agents", Some(&collector.admin));
        agents.as_array().and_then(|l| {
            l.iter()
                .find(|a| a["id"] == id)
                .map(|a| a["status"].as_str().unwrap_or("").to_owned())
        })
    };
    // Connected and heard from (a busy machine may show it silent for a
    // moment before its first records arrive).
    eventually("the agent to be connected", Duration::from_secs(20), || {
        (status_of(&id).as_deref() == Some("connected")).then_some(())
    });
    let out = collector.admin_cmd(&["agent", "revoke", &id]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let start = Instant::now();
    loop {
        let metrics = collector
            .get("/metrics", Some(&collector.admin))
            .1
            .to_string();
        if metrics.contains("atalaya_connected_agents 0")
            && metrics.contains("reason=\\\"revoked\\\"")
        {
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "the revoked agent was not refused within 30 s:\n{metrics}\n{}",
            collector.log()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(status_of(&id).as_deref(), Some("revoked"));

    // Guessing is slowed down: after five failures from one address the
    // collector refuses before reading the request.
    let guess = || {
        Command::new(bin("atalaya-agent"))
            .args(["enroll", "--token", &forged, "--state-dir"])
            .arg(work.path().join("forged"))
            .output()
            .unwrap()
    };
    for _ in 0..5 {
        assert!(!guess().status.success());
    }
    let out = guess();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("too many failed enrollment attempts"), "{err}");
}

#[test]
fn the_api_wants_a_token_with_the_right_role() {
    let collector = Collector::start();
    assert_eq!(collector.get("/api/v1/assets", None).0, 401);
    assert_eq!(collector.get("/api/v1/assets", Some("wrong")).0, 401);
    let out = collector.admin_cmd(&[
        "api-token",
        "create",
        "--role",
        "viewer",
        "--name",
        "manager",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let viewer = String::from_utf8(out.stdout).unwrap().trim().to_owned();
    assert_eq!(collector.get("/api/v1/assets", Some(&viewer)).0, 200);
    assert_eq!(
        collector.request("POST", "/api/v1/tokens", Some(&viewer)).0,
        403
    );
    assert_eq!(
        collector
            .request("POST", "/api/v1/tokens", Some(&collector.admin))
            .0,
        201
    );
}

/// A running `atalaya-collector demo`, killed when dropped.
struct Demo(std::process::Child);

impl Drop for Demo {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

impl Demo {
    /// Starts the demo in `dir`; returns it with what it printed once it
    /// says how to stop it.
    fn start(dir: &std::path::Path) -> (Demo, Vec<String>) {
        use std::io::{BufRead, BufReader};
        use std::process::Stdio;

        let mut child = Command::new(bin("atalaya-collector"))
            .arg("demo")
            .current_dir(dir)
            .env("RUST_LOG", "warn")
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let demo = Demo(child);
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { return };
                if tx.send(line).is_err() {
                    return;
                }
            }
        });
        let mut printed = Vec::new();
        let deadline = Instant::now() + Duration::from_secs(90);
        while !printed
            .iter()
            .any(|l: &String| l.starts_with("Stop with Ctrl-C"))
        {
            let left = deadline.saturating_duration_since(Instant::now());
            match rx.recv_timeout(left) {
                Ok(line) => printed.push(line),
                Err(e) => panic!("the demo did not finish starting ({e}): {printed:#?}"),
            }
        }
        (demo, printed)
    }

    /// Sends `signal` to the demo and waits for it to exit.
    fn stop_with(mut self, signal: rustix::process::Signal) -> std::process::ExitStatus {
        let pid = rustix::process::Pid::from_raw(self.0.id() as i32).unwrap();
        rustix::process::kill_process(pid, signal).unwrap();
        eventually("the demo to stop", Duration::from_secs(30), || {
            self.0.try_wait().unwrap()
        })
    }
}

/// The README's first command: `atalaya-collector demo` in an empty
/// folder starts a collector and an agent for this machine and prints
/// commands that work as printed — the inventory, a user report and the
/// help desk's queue — and Ctrl-C stops it cleanly.
#[test]
fn the_demo_runs_and_its_printed_commands_work() {
    let dir = tempfile::tempdir().unwrap();
    let (demo, printed) = Demo::start(dir.path());
    let text = printed.join("\n");
    let exports = printed
        .iter()
        .find_map(|l| l.trim().strip_prefix("export "))
        .unwrap_or_else(|| panic!("no export line: {text}"));
    let env: Vec<(String, String)> = exports
        .split_whitespace()
        .filter_map(|kv| kv.split_once('='))
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
    assert_eq!(env.len(), 2, "{exports}");
    // Each printed command, run as printed (its words; the report's text is quoted).
    let run = |line: &str| {
        let words: Vec<String> = match line.split_once(" \"") {
            Some((head, quoted)) => {
                let text = quoted.split('"').next().unwrap().to_owned();
                let mut w: Vec<String> = head.split_whitespace().map(str::to_owned).collect();
                w.push(text);
                w
            }
            None => line
                .split('#')
                .next()
                .unwrap()
                .split_whitespace()
                .map(str::to_owned)
                .collect(),
        };
        let out = Command::new(&words[0])
            .args(&words[1..])
            .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{line}: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let command = |what: &str| {
        printed
            .iter()
            .map(|l| l.trim())
            .find(|l| l.contains(what))
            .unwrap_or_else(|| panic!("no `{what}` command printed: {text}"))
            .to_owned()
    };
    let hostname = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap();
    let assets = run(&command(" assets"));
    assert!(assets.contains(hostname.trim()), "{assets}");
    let said = run(&command(" report --config "));
    assert!(said.contains("on its way to the help desk"), "{said}");
    let queue = command(" incidents");
    eventually("the report in the queue", Duration::from_secs(30), || {
        run(&queue)
            .contains("the printer does not print")
            .then_some(())
    });
    let shown = run(&command(" lookup "));
    assert!(shown.contains(hostname.trim()), "{shown}");

    // The console line: its address and login work as printed.
    let console = command("web console");
    let (address, login) = console
        .trim_start_matches("web console")
        .trim()
        .split_once("  sign in as ")
        .unwrap_or_else(|| panic!("{console}"));
    let (name, password) = login.split_once(" / ").unwrap();
    let (status, html) = console_page(
        address.trim(),
        name,
        password,
        &format!("lookup?q={}", hostname.trim()),
    );
    assert_eq!(status, 200, "{console}");
    assert!(html.contains(hostname.trim()), "{html}");

    // Ctrl-C: the demo stops and says nothing went wrong.
    let status = demo.stop_with(rustix::process::Signal::INT);
    assert!(status.success(), "{status:?}");
}

/// `kill PID` (as a service manager or a script stops it): the demo stops
/// cleanly, and its agent with it rather than running on alone.
#[test]
fn the_demo_and_its_agent_stop_on_sigterm() {
    use rustix::process::{Pid, Signal, kill_process, test_kill_process};

    let dir = tempfile::tempdir().unwrap();
    let (demo, printed) = Demo::start(dir.path());
    let agent = printed
        .iter()
        .find_map(|l| {
            l.trim()
                .strip_prefix("local agent")?
                .trim()
                .strip_prefix("pid ")
        })
        .and_then(|rest| rest.split(',').next()?.parse::<i32>().ok())
        .and_then(Pid::from_raw)
        .unwrap_or_else(|| panic!("no agent pid printed: {printed:#?}"));
    // Should the agent outlive the demo, it must not outlive the failed
    // test (after a pass its pid is gone, perhaps already reused).
    struct Reap(Pid);
    impl Drop for Reap {
        fn drop(&mut self) {
            if std::thread::panicking() {
                let _ = kill_process(self.0, Signal::KILL);
            }
        }
    }
    let _reap = Reap(agent);
    assert!(test_kill_process(agent).is_ok(), "the agent is not running");

    let status = demo.stop_with(Signal::TERM);
    assert!(status.success(), "{status:?}");
    // The demo waits for its agent before it exits, so the pid is gone.
    assert_eq!(
        test_kill_process(agent),
        Err(rustix::io::Errno::SRCH),
        "the agent {agent:?} outlived the demo"
    );
}
