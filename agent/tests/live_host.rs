//! The agent against the machine the tests run on, checked against what
//! the system's own tools say.

#![allow(clippy::unwrap_used)] // a failed unwrap is a failed test

use std::process::Command;

use atalaya_agent::inventory;
use atalaya_agent::root::Root;

fn agent() -> Command {
    Command::new(env!("CARGO_BIN_EXE_atalaya-agent"))
}

fn tool(cmd: &str, args: &[&str]) -> Option<String> {
    let out = Command::new(cmd).args(args).output().ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).into_owned())
}

#[test]
fn package_count_matches_dpkg_query() {
    let Some(status) = tool("dpkg-query", &["-W", "-f=${db:Status-Status}\\n"]) else {
        assert!(
            !std::path::Path::new("/var/lib/dpkg/status").exists(),
            "dpkg-query missing on a dpkg host"
        );
        return;
    };
    let expected = status.lines().filter(|l| *l == "installed").count();
    let (inv, _) = inventory::collect(&Root::live());
    assert_eq!(inv.software.manager.as_deref(), Some("dpkg"));
    assert_eq!(inv.software.packages.len(), expected);
    assert!(expected > 0);
}

#[test]
fn memory_and_cpus_match_the_kernel() {
    let (inv, _) = inventory::collect(&Root::live());
    let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap();
    let kib: u64 = meminfo
        .lines()
        .find_map(|l| l.strip_prefix("MemTotal:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap();
    assert_eq!(inv.hardware.memory.total_bytes, kib * 1024);
    let nproc: u32 = tool("nproc", &[]).unwrap().trim().parse().unwrap();
    assert_eq!(inv.hardware.cpu.logical_cores, nproc);
}

#[test]
fn every_interface_is_present_with_its_mac() {
    let (inv, _) = inventory::collect(&Root::live());
    for entry in std::fs::read_dir("/sys/class/net").unwrap() {
        let name = entry.unwrap().file_name().to_string_lossy().into_owned();
        if name == "lo" {
            continue;
        }
        let mac = std::fs::read_to_string(format!("/sys/class/net/{name}/address")).unwrap();
        let iface = inv.network.interfaces.iter().find(|i| i.name == name);
        let iface = iface.unwrap_or_else(|| panic!("interface {name} missing"));
        assert_eq!(iface.mac.as_deref(), Some(mac.trim()), "{name}");
    }
}

#[test]
fn inventory_command_prints_json_with_the_eight_keys() {
    let out = agent().args(["inventory", "--json"]).output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let value: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let mut keys: Vec<&String> = value.as_object().unwrap().keys().collect();
    keys.sort();
    assert_eq!(
        keys,
        [
            "hardware", "host", "network", "os", "services", "software", "storage", "users"
        ]
    );
    let text = agent().arg("inventory").output().unwrap();
    assert!(text.status.success());
    let text = String::from_utf8(text.stdout).unwrap();
    assert!(text.starts_with("Host "), "{text}");
    assert!(text.contains("packages"), "{text}");
}

#[test]
fn metrics_command_prints_one_json_sample_per_line_with_rates() {
    let out = agent()
        .args([
            "metrics",
            "--json",
            "--count",
            "2",
            "--interval-seconds",
            "0.2",
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let lines: Vec<serde_json::Value> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 2);
    for sample in &lines {
        assert!(sample["cpu"]["total_percent"].is_number(), "{sample}");
        assert!(sample["interval_ms"].as_u64().unwrap() >= 150, "{sample}");
        assert!(sample["agent"]["rss_bytes"].as_u64().unwrap() > 0);
    }
}

#[test]
fn check_config_lists_every_error_and_fails() {
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("agent.toml");
    std::fs::write(
        &bad,
        "[metrics]\ninterval_seconds = \"ten\"\ntop_processes = 99\n[inventroy]\n",
    )
    .unwrap();
    let out = agent().arg("check-config").arg(&bad).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert!(stderr.starts_with("3 errors in configuration:"), "{stderr}");
    let file = bad.display().to_string();
    assert!(
        stderr.contains(&format!("{file}:2:20: `metrics.interval_seconds`")),
        "{stderr}"
    );
    assert!(
        stderr.contains(&format!("{file}:3:17: `metrics.top_processes`")),
        "{stderr}"
    );
    assert!(
        stderr.contains(&format!("{file}:4:2: `inventroy`: unknown section")),
        "{stderr}"
    );

    let example = concat!(env!("CARGO_MANIFEST_DIR"), "/../config/agent.toml");
    let ok = agent().args(["check-config", example]).output().unwrap();
    assert!(
        ok.status.success(),
        "{}",
        String::from_utf8_lossy(&ok.stderr)
    );

    let missing = agent()
        .args(["check-config", "/nonexistent/agent.toml"])
        .output()
        .unwrap();
    assert_eq!(missing.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&missing.stderr).contains("reading /nonexistent/agent.toml"));
}
