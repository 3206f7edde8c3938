//! The GLPI export of what the real agent reads: every fixture host and
//! the machine the tests run on, each document checked against GLPI's
//! published schema and its values against the inventory they came from.

#![allow(clippy::unwrap_used)] // a failed unwrap is a failed test

use std::path::{Path, PathBuf};
use std::process::Command;

use atalaya_agent::inventory;
use atalaya_agent::root::Root;
use atalaya_collector::formats::glpi;
use atalaya_common::model::{Inventory, Timestamp};
use serde_json::Value;

#[path = "../../collector/tests/glpi/schema.rs"]
mod glpi_schema;

const MIB: u64 = 1024 * 1024;

/// The agent's fixture roots: every directory there standing in for `/`.
fn fixture_roots() -> Vec<(String, PathBuf)> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../agent/tests/fixtures");
    let mut roots: Vec<(String, PathBuf)> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.join("etc").is_dir())
        .map(|p| (p.file_name().unwrap().to_string_lossy().into_owned(), p))
        .collect();
    roots.sort();
    roots
}

fn export(inv: &Inventory) -> Value {
    let asset = glpi::Asset {
        id: "asset-1",
        hostname: &inv.host.hostname,
        tags: &[],
        taken_at: Timestamp::from_secs(1_795_863_490),
        agent_version: Some(env!("CARGO_PKG_VERSION")),
    };
    glpi::computer(&asset, inv)
}

fn assert_valid(validator: &jsonschema::Validator, name: &str, doc: &Value) {
    let errors = glpi_schema::errors(validator, doc);
    assert!(errors.is_empty(), "{name}: {errors:#?}");
}

fn count(doc: &Value, section: &str) -> usize {
    doc["content"][section].as_array().map_or(0, Vec::len)
}

/// Each drive's total and free are its filesystem's bytes in whole MiB.
fn assert_drive_sizes(inv: &Inventory, doc: &Value) {
    for (fs, drive) in inv
        .storage
        .filesystems
        .iter()
        .zip(doc["content"]["drives"].as_array().unwrap())
    {
        assert_eq!(drive["type"], fs.mount_point.trim());
        assert_eq!(
            drive["total"].as_u64(),
            fs.total_bytes.map(|b| b / MIB),
            "{drive}"
        );
        assert_eq!(
            drive["free"].as_u64(),
            fs.free_bytes.map(|b| b / MIB),
            "{drive}"
        );
    }
}

#[test]
fn every_fixture_host_exports_a_valid_glpi_inventory() {
    let validator = glpi_schema::validator();
    let roots = fixture_roots();
    let names: Vec<&str> = roots.iter().map(|(n, _)| n.as_str()).collect();
    for expected in ["alpine", "arch", "debian", "rpm"] {
        assert!(names.contains(&expected), "{names:?}");
    }
    for (name, root) in &roots {
        let (inv, _) = inventory::collect(&Root::new(root));
        let doc = export(&inv);
        assert_valid(&validator, name, &doc);
        let c = &doc["content"];
        assert_eq!(
            doc["deviceid"],
            format!("{}-asset-1", inv.host.hostname),
            "{name}"
        );
        assert_eq!(
            count(&doc, "softwares"),
            inv.software.packages.len(),
            "{name}"
        );
        assert_eq!(
            count(&doc, "drives"),
            inv.storage.filesystems.len(),
            "{name}"
        );
        assert_eq!(count(&doc, "storages"), inv.storage.disks.len(), "{name}");
        assert_eq!(
            count(&doc, "local_users"),
            inv.users.accounts.len(),
            "{name}"
        );
        assert_eq!(
            c["hardware"]["memory"].as_u64(),
            Some(inv.hardware.memory.total_bytes / MIB)
                .filter(|_| inv.hardware.memory.total_bytes > 0),
            "{name}"
        );
        assert_eq!(
            c["operatingsystem"]["full_name"].as_str(),
            inv.os.pretty_name.as_deref(),
            "{name}"
        );
        assert_drive_sizes(&inv, &doc);
    }
}

#[test]
fn fixture_values_land_where_glpi_reads_them() {
    let root = |host: &str| {
        let (_, path) = fixture_roots()
            .into_iter()
            .find(|(n, _)| n == host)
            .unwrap();
        let (inv, _) = inventory::collect(&Root::new(path));
        (export(&inv), inv)
    };

    let (doc, inv) = root("debian");
    let c = &doc["content"];
    assert_eq!(count(&doc, "softwares"), 7);
    assert_eq!(inv.software.packages.len(), 7);
    assert!(
        c["softwares"]
            .as_array()
            .unwrap()
            .iter()
            .all(|s| s["from"] == "deb")
    );
    let bash = c["softwares"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["name"] == "bash")
        .unwrap();
    assert_eq!(
        (&bash["version"], &bash["filesize"]),
        (&Value::from("5.2.15-2+b7"), &Value::from(7_335_936))
    );
    assert_eq!(c["bios"]["ssn"], "7HXK2Y3");
    assert_eq!(c["bios"]["bdate"], "2024-03-14"); // firmware says 03/14/2024
    assert_eq!(c["bios"]["bversion"], "1.10.1");
    assert_eq!(c["bios"]["assettag"], "IT-004217");
    assert_eq!(
        c["hardware"]["uuid"],
        "4c4c4544-0048-5810-804b-b7c04f593233"
    );
    assert_eq!(c["hardware"]["memory"], 31_714);
    assert_eq!(c["hardware"]["chassis_type"], "Notebook");
    assert_eq!(c["operatingsystem"]["boot_time"], "2026-11-28 07:13:20");
    assert_eq!(c["cpus"][0]["arch"], "x86_64");
    assert_eq!(c["cpus"][0]["core"], 10);
    assert_eq!(c["memories"][1]["serialnumber"], "45A1B2C4");
    assert_eq!(c["storages"][0]["disksize"], 488_386);
    assert_eq!(c["drives"][0]["volumn"], "/dev/nvme0n1p2");
    assert_eq!(c["batteries"][0]["capacity"], 57_000);
    assert_eq!(c["monitors"].as_array().unwrap().len(), 2);
    let wifi = c["networks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|n| n["ipaddress"] == "10.20.30.45")
        .unwrap();
    assert_eq!(
        (&wifi["ipmask"], &wifi["status"], &wifi["type"]),
        (
            &Value::from("255.255.255.0"),
            &Value::from("up"),
            &Value::from("wifi")
        )
    );

    let (doc, _) = root("rpm");
    let c = &doc["content"];
    assert_eq!(c["bios"]["bdate"], "2014-04-01"); // firmware says 04/01/2014
    assert_eq!(c["hardware"]["vmsystem"], "KVM");
    assert!(
        c["softwares"]
            .as_array()
            .unwrap()
            .iter()
            .all(|s| s["from"] == "rpm")
    );

    let (doc, _) = root("alpine");
    assert!(
        doc["content"]["bios"].get("bdate").is_none(),
        "no firmware date, no bdate"
    );
    assert_eq!(doc["content"]["softwares"][0]["from"], "apk");

    let (doc, _) = root("arch");
    assert_eq!(doc["content"]["softwares"][0]["from"], "pacman");
}

/// The size of the filesystem at `path` as `df` counts it, in MiB
/// (rounded up, as `df` rounds).
fn df_total_mib(path: &str) -> Option<u64> {
    let out = Command::new("df")
        .args(["-B1M", "--output=size", path])
        .output()
        .ok()?;
    let text = String::from_utf8(out.stdout).ok()?;
    text.lines()
        .nth(1)?
        .trim()
        .trim_end_matches('M')
        .parse()
        .ok()
}

#[test]
fn the_live_host_exports_a_valid_glpi_inventory() {
    let validator = glpi_schema::validator();
    let (inv, _) = inventory::collect(&Root::live());
    let doc = export(&inv);
    assert_valid(&validator, "live host", &doc);
    assert_eq!(count(&doc, "softwares"), inv.software.packages.len());
    assert_drive_sizes(&inv, &doc);
    // And as df sees the same filesystems: at most the rounding apart.
    let mut compared = 0;
    for drive in doc["content"]["drives"].as_array().into_iter().flatten() {
        let (Some(total), Some(mount)) = (drive["total"].as_u64(), drive["type"].as_str()) else {
            continue;
        };
        let Some(df) = df_total_mib(mount) else {
            continue;
        };
        assert!(
            df.abs_diff(total) <= 1,
            "{mount}: df {df} MiB, GLPI {total} MiB"
        );
        compared += 1;
    }
    let with_sizes = inv
        .storage
        .filesystems
        .iter()
        .filter(|f| f.total_bytes.is_some())
        .count();
    assert!(
        with_sizes == 0 || compared > 0,
        "no drive compared with df: {doc:#}"
    );
}
