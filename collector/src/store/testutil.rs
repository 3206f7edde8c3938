//! Builders shared by the store's unit tests.

use atalaya_common::model::*;
use atalaya_common::proto;

use super::*;

pub fn temp_store() -> (tempfile::TempDir, Store) {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("store.redb")).unwrap();
    (dir, store)
}

pub fn machine(hostname: &str, uuid: Option<&str>, machine_id: &str, mac: &str) -> Inventory {
    let mut inv = Inventory::default();
    inv.host.hostname = hostname.into();
    inv.host.machine_id = Some(machine_id.into());
    inv.hardware.system.uuid = uuid.map(Into::into);
    inv.os.id = Some("debian".into());
    inv.os.pretty_name = Some("Debian GNU/Linux 12 (bookworm)".into());
    inv.network.interfaces.push(Interface {
        name: "eth0".into(),
        mac: Some(mac.into()),
        kind: InterfaceKind::Physical,
        state: "up".into(),
        ..Interface::default()
    });
    inv.canonicalize();
    inv
}

pub fn with_package(mut inv: Inventory, name: &str, version: &str) -> Inventory {
    inv.software
        .packages
        .retain(|p| p.name != name);
    inv.software.packages.push(Package {
        name: name.into(),
        version: version.into(),
        arch: Some("amd64".into()),
        ..Package::default()
    });
    inv.canonicalize();
    inv
}

pub fn snapshot(agent: &str, seq: u64, at: i64, inv: &Inventory) -> Ingest {
    Ingest {
        agent_id: agent.into(),
        received_at: Timestamp(at),
        record: IngestRecord::Snapshot(proto::InventorySnapshot {
            seq,
            taken_at: Timestamp(at),
            inventory: inv.clone(),
        }),
    }
}

pub fn delta(agent: &str, seq: u64, at: i64, before: &Inventory, after: &Inventory) -> Ingest {
    Ingest {
        agent_id: agent.into(),
        received_at: Timestamp(at),
        record: IngestRecord::Delta(proto::InventoryDelta {
            seq,
            taken_at: Timestamp(at),
            delta: atalaya_common::diff::diff(before, after),
        }),
    }
}

pub fn metrics(agent: &str, seq: u64, samples: Vec<HealthSample>) -> Ingest {
    let at = samples.last().map(|s| s.at).unwrap_or_default();
    Ingest {
        agent_id: agent.into(),
        received_at: at,
        record: IngestRecord::Metrics(proto::MetricBatch { seq, samples }),
    }
}

pub fn sample(at: i64, cpu: f64) -> HealthSample {
    HealthSample {
        at: Timestamp(at),
        cpu: Some(CpuUsage {
            total_percent: cpu,
            ..CpuUsage::default()
        }),
        uptime_seconds: (at / 1000) as u64,
        ..HealthSample::default()
    }
}
