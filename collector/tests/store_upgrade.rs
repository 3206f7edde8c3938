//! Store files written by older collectors (tests/fixtures, see the
//! README there) open with this one: upgraded in place to the current
//! format, every record kept and readable through the store's API, the new
//! tables usable; an upgrade that fails leaves the file as it was.
#![allow(clippy::unwrap_used)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use atalaya_collector::desk::{self, Desk, LogHooks};
use atalaya_collector::helpers::series::{flatten, stored_value};
use atalaya_collector::incidents::sla::SlaPolicies;
use atalaya_collector::incidents::{EngineState, RuleSet};
use atalaya_collector::records::device::{DeviceRecord, device_asset_id};
use atalaya_collector::records::rollup::Tier;
use atalaya_collector::records::supplier::{Supplier, SupplierKind};
use atalaya_collector::store::schema::{FORMAT_VERSION, META, META_FORMAT};
use atalaya_collector::store::suppliers::{SupplierBook, SupplierChanges};
use atalaya_collector::store::upgrade::{Stage, Step, UpgradeError, backup_path};
use atalaya_collector::store::*;
use atalaya_common::model::device::DeviceSpec;
use atalaya_common::model::{HealthSample, Timestamp};
use atalaya_common::proto;
use redb::{ReadableDatabase, ReadableTable, TableDefinition};

// Shared with the programs that wrote the fixtures, which use all of it.
#[allow(dead_code)]
mod fleet {
    include!("fixtures/fleet.rs");
}
use fleet::*;

/// A fixture copied to a fresh directory as `atalaya.redb`.
fn fixture(name: &str) -> (tempfile::TempDir, PathBuf) {
    let src = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("atalaya.redb");
    std::fs::copy(&src, &path).unwrap();
    (dir, path)
}

fn format_version(path: &Path) -> Option<u64> {
    let db = redb::Database::create(path).unwrap();
    let txn = db.begin_read().unwrap();
    let meta = txn.open_table(META).unwrap();
    meta.get(META_FORMAT).unwrap().map(|v| v.value())
}

/// How a fixture's collector stored values.
#[derive(Clone, Copy)]
enum Stored {
    /// As sent (formats 1 and 2 with chunks).
    Exact,
    /// Percentages and rates rounded (format 2 with metric blocks, as now).
    Rounded,
}

/// The points each series of `agent` must have: every sample it sent,
/// flattened, oldest first (a stable sort, as the store's queries).
fn expected_points(agent: &str, stored: Stored) -> BTreeMap<String, Vec<(i64, f64)>> {
    let mut out: BTreeMap<String, Vec<(i64, f64)>> = BTreeMap::new();
    for i in 0..sample_count(agent) {
        let s: HealthSample = sample(agent, i);
        for (name, v) in flatten(&s) {
            let v = match stored {
                Stored::Exact => v,
                Stored::Rounded => stored_value(&name, v),
            };
            out.entry(name).or_default().push((s.at.0, v));
        }
    }
    for points in out.values_mut() {
        points.sort_by_key(|p| p.0);
    }
    out
}

fn bits(points: &[(Timestamp, f64)]) -> Vec<(i64, u64)> {
    points.iter().map(|(t, v)| (t.0, v.to_bits())).collect()
}

/// What every fixture holds, checked through the store's API.
fn check_fleet(store: &Store, path: &Path, from: u64, stored: Stored) {
    assert!(
        !backup_path(path, from).exists(),
        "the copy of the old file is removed once the upgrade committed"
    );
    let tokens = store.list_tokens().unwrap();
    assert_eq!(tokens.len(), 1);
    assert_eq!((tokens[0].id.as_str(), tokens[0].uses), ("tok-fleet", 3));
    let key = store.api_token(&[0x22; 32]).unwrap().unwrap();
    assert_eq!((key.name.as_str(), key.role), ("help desk", Role::Helpdesk));
    assert_eq!(store.list_agents().unwrap().len(), 3);
    let web_agent = store.agent(WEB).unwrap().unwrap();
    assert_eq!(web_agent.last_seen, Some(Timestamp(WEB_DELTA_AT + 500)));
    assert_eq!((web_agent.rtt_ms, web_agent.lost_packets), (Some(1.25), 2));

    let asset = |agent: &str| store.agent_asset_id(agent).unwrap().unwrap();
    let (web, db, laptop) = (asset(WEB), asset(DB), asset(LAPTOP));
    assert_eq!(
        [web.as_str(), db.as_str(), laptop.as_str()],
        ["asset-1", "asset-2", "asset-3"]
    );
    let web_rec = store.asset_by_hostname("WEB-01").unwrap().unwrap();
    assert_eq!(web_rec.meta.id, web);
    assert_eq!(web_rec.inventory, Some(web_inventory_after()));
    assert_eq!(
        store.asset(&db).unwrap().unwrap().inventory,
        Some(db_inventory())
    );
    let lap = store.asset(&laptop).unwrap().unwrap();
    assert_eq!(
        (lap.meta.hostname.as_str(), lap.inventory),
        ("lap-maria", None)
    );

    // Inventory history.
    let changes = store.changes(Some(&web), Timestamp(0), 100).unwrap();
    assert_eq!(
        changes.iter().map(|c| (c.seq, c.kind)).collect::<Vec<_>>(),
        vec![(1, ChangeKind::Snapshot), (12, ChangeKind::Delta)]
    );
    assert_eq!(store.changes(None, Timestamp(0), 100).unwrap().len(), 3);
    assert_eq!(
        store.inventory_as_of(&web, Timestamp(T0 + 1_000)).unwrap(),
        Some(web_inventory())
    );
    let openssl = store.software("openssl").unwrap();
    let versions: Vec<_> = openssl.packages[0]
        .versions
        .iter()
        .map(|v| (v.version.as_str(), v.count))
        .collect();
    assert_eq!(
        versions,
        vec![("3.0.11-1~deb12u2", 1), ("3.0.13-1~deb12u1", 1)]
    );

    // Every point of every series, bit for bit.
    let mut total = 0;
    for (agent, id) in [(WEB, &web), (DB, &db), (LAPTOP, &laptop)] {
        let expected = expected_points(agent, stored);
        // Since format 4, an agent's connection facts are also points of
        // its path to the collector.
        let names: Vec<String> = store
            .series_names(id)
            .unwrap()
            .into_iter()
            .filter(|n| from < 4 || !n.starts_with("network.collector_"))
            .collect();
        assert_eq!(
            names,
            expected.keys().cloned().collect::<Vec<_>>(),
            "{agent}"
        );
        for (name, want) in &expected {
            let got = store
                .metric(id, name, Timestamp(0), Timestamp(i64::MAX), None)
                .unwrap();
            let want: Vec<_> = want.iter().map(|&(t, v)| (Timestamp(t), v)).collect();
            assert_eq!(bits(&got), bits(&want), "{agent} {name}");
            total += got.len();
        }
    }
    assert_eq!(total, 12_000 + 6_640 + 1_600);
    // A range inside the history, by the block index.
    let cpu = store
        .metric(
            &web,
            "cpu.total_percent",
            Timestamp(T0 + 1_000_000),
            Timestamp(T0 + 1_600_000),
            None,
        )
        .unwrap();
    assert_eq!(cpu.len(), 60);
    let (t, v) = expected_points(WEB, stored)["cpu.total_percent"][99];
    assert_eq!(cpu[0], (Timestamp(t), v));
    // Two points at one time where /srv is listed twice, in the order sent.
    let srv = store
        .metric(
            &db,
            "filesystem.used_percent{mount=/srv}",
            Timestamp(sample_time(DB, 149)),
            Timestamp(sample_time(DB, 149)),
            None,
        )
        .unwrap();
    let sent: Vec<_> = sample(DB, 149)
        .filesystems
        .iter()
        .filter(|f| f.mount_point == "/srv")
        .map(|f| {
            let v = match stored {
                Stored::Exact => f.used_percent,
                Stored::Rounded => stored_value("filesystem.used_percent", f.used_percent),
            };
            (Timestamp(sample_time(DB, 149)), v)
        })
        .collect();
    assert_eq!(sent.len(), 2);
    assert_eq!(srv, sent);

    let stats = store.stats().unwrap();
    assert_eq!(
        (
            stats.assets,
            stats.agents,
            stats.series,
            stats.change_events
        ),
        (3, 3, if from < 4 { 124 } else { 127 }, 3)
    );
    let health = desk::lookup::health_of(store, &web, Timestamp(sample_time(WEB, 299)))
        .unwrap()
        .unwrap();
    assert_eq!(
        health.cpu_percent,
        expected_points(WEB, stored)["cpu.total_percent"]
            .last()
            .map(|p| p.1)
    );
    // The caller lookup index was built for the upgraded file.
    let found = desk::lookup::lookup(
        store,
        "maria",
        10,
        Timestamp(WEB_DELTA_AT),
        &|_| "disconnected",
    )
    .unwrap();
    let mut hosts: Vec<_> = found.machines.iter().map(|m| m.hostname.as_str()).collect();
    hosts.sort_unstable();
    assert_eq!(hosts, ["db-01", "web-01"]);
}

/// The tables the upgrade did not fill take new records: the incident
/// desk, going on from the file's engine state, opens an incident for a
/// user report sent after the upgrade.
fn check_new_records(store: Arc<Store>) {
    let web = store.agent_asset_id(WEB).unwrap().unwrap();
    let later = sample(WEB, 300);
    let desk = Desk::new(
        store.clone(),
        RuleSet::default(),
        None,
        30,
        SlaPolicies::default(),
        Arc::new(LogHooks),
        later.at,
    )
    .unwrap();
    let (_, fed) = store
        .commit_fed(&[
            Ingest {
                agent_id: WEB.into(),
                received_at: later.at,
                record: IngestRecord::Metrics(proto::MetricBatch {
                    seq: 13,
                    samples: vec![later.clone()],
                }),
            },
            Ingest {
                agent_id: WEB.into(),
                received_at: later.at,
                record: IngestRecord::UserReport(proto::UserReport {
                    seq: 14,
                    id: "r-1".into(),
                    written_at: later.at,
                    text: "the web site is slow".into(),
                    user: Some("maria".into()),
                    uid: Some(1000),
                }),
            },
        ])
        .unwrap();
    desk.feed(&fed, later.at).unwrap();
    // New samples go on after the old ones.
    let uptime = store
        .metric(
            &web,
            "uptime.seconds",
            Timestamp(0),
            Timestamp(i64::MAX),
            None,
        )
        .unwrap();
    assert_eq!(uptime.len(), 301);
    assert_eq!(uptime[300], (later.at, later.uptime_seconds as f64));
    let reports = store.reports(&web).unwrap();
    assert_eq!(reports.len(), 1);
    let incident = reports[0].incident.expect("the report opened an incident");
    let rec = store.incident(incident).unwrap().unwrap();
    assert_eq!(
        (rec.asset.as_str(), rec.subject.as_str()),
        (web.as_str(), "r-1")
    );
    // The supplier tables, added after the format, start empty and take
    // records.
    assert_eq!(store.supplier_book().unwrap(), SupplierBook::default());
    let changes = SupplierChanges {
        suppliers: vec![Supplier {
            name: "Dell".into(),
            kind: SupplierKind::HardwareMaker,
            phone: None,
            email: None,
            portal: None,
            account: None,
            aliases: Vec::new(),
            notes: None,
        }],
        ..SupplierChanges::default()
    };
    store.change_suppliers(&changes).unwrap();
    assert_eq!(store.supplier_book().unwrap().suppliers, changes.suppliers);
}

#[test]
fn format_1_with_per_series_chunks_is_upgraded() {
    let (_dir, path) = fixture("store-v1.redb");
    assert_eq!(format_version(&path), Some(1));
    let store = Store::open(&path).unwrap();
    drop(store);
    assert_eq!(format_version(&path), Some(FORMAT_VERSION));
    let store = Arc::new(Store::open(&path).unwrap());
    check_fleet(&store, &path, 1, Stored::Exact);
    let gaps = store.gaps("asset-2").unwrap();
    assert_eq!(gaps.len(), 2);
    assert_eq!(gaps[0].missing, spool_full());
    assert!(matches!(
        &gaps[1].missing,
        Missing::SpoolDamaged {
            lost_bytes: 3_120,
            ..
        }
    ));
    // The knowledge base and the webhook outbox of format 1.
    let article = store.article(1).unwrap().unwrap();
    assert_eq!(article.title, "/srv full on a database server");
    let outbox = store.outbox().unwrap();
    assert_eq!(outbox.len(), 1);
    assert_eq!(outbox[0].event.id, "incident-1-opened-1");
    check_new_records(store);
}

#[test]
fn format_2_with_per_series_chunks_and_incidents_is_upgraded() {
    let (_dir, path) = fixture("store-v2.redb");
    assert_eq!(format_version(&path), Some(2));
    let store = Arc::new(Store::open(&path).unwrap());
    assert_eq!(format_version_of(&store), Some(FORMAT_VERSION));
    check_fleet(&store, &path, 2, Stored::Exact);
    assert_eq!(store.gaps("asset-2").unwrap().len(), 2);
    // The incident the old engine opened, acknowledged by staff.
    let active = store
        .incidents(&IncidentFilter {
            active: true,
            ..IncidentFilter::default()
        })
        .unwrap();
    assert_eq!(active.len(), 1);
    let inc = &active[0];
    assert_eq!(
        (
            inc.id,
            inc.asset.as_str(),
            inc.rule.as_str(),
            inc.subject.as_str()
        ),
        (1, "asset-2", "filesystem-full", "/srv")
    );
    assert_eq!(inc.status.name(), "acknowledged");
    assert_eq!(inc.acknowledged_at, Some(Timestamp(T0 + 2_400_000)));
    assert!(store.engine_state::<EngineState>().unwrap().is_some());
    let db = desk::lookup::lookup(
        &store,
        "db-01",
        10,
        Timestamp(WEB_DELTA_AT),
        &|_| "disconnected",
    )
    .unwrap();
    assert_eq!(db.machines[0].open_incidents.len(), 1);
    assert_eq!(store.article(1).unwrap().unwrap().id, 1);
    assert_eq!(store.outbox().unwrap().len(), 1);
    check_new_records(store);
}

#[test]
fn format_2_with_metric_blocks_is_upgraded() {
    let (_dir, path) = fixture("store-v2-blocks.redb");
    assert_eq!(format_version(&path), Some(2));
    let store = Arc::new(Store::open(&path).unwrap());
    assert_eq!(format_version_of(&store), Some(FORMAT_VERSION));
    check_fleet(&store, &path, 2, Stored::Rounded);
    // Its one gap, stored without a cause, has one now.
    let gaps = store.gaps("asset-2").unwrap();
    assert_eq!(gaps.len(), 1);
    assert_eq!((gaps[0].agent_id.as_str(), gaps[0].seq), (DB, 7));
    assert_eq!(gaps[0].missing, spool_full());
    assert!(store.article(1).unwrap().is_none());
    check_new_records(store);
}

#[test]
fn format_3_gets_the_device_tables_and_keeps_everything() {
    let (_dir, path) = fixture("store-v3.redb");
    assert_eq!(format_version(&path), Some(3));
    let store = Arc::new(Store::open(&path).unwrap());
    assert_eq!(format_version_of(&store), Some(FORMAT_VERSION));
    check_fleet(&store, &path, 3, Stored::Rounded);
    assert_eq!(store.gaps("asset-2").unwrap().len(), 2);
    let active = store
        .incidents(&IncidentFilter {
            active: true,
            ..IncidentFilter::default()
        })
        .unwrap();
    assert_eq!(active.len(), 1);
    assert_eq!(
        (active[0].asset.as_str(), active[0].subject.as_str()),
        ("asset-2", "/srv")
    );
    // Written before the index of incidents by asset: built at open.
    let of_asset = |asset: &str| {
        store
            .incidents(&IncidentFilter {
                asset: Some(asset.into()),
                ..IncidentFilter::default()
            })
            .unwrap()
    };
    assert_eq!(of_asset("asset-2").len(), 1);
    assert_eq!(of_asset("asset-2")[0].id, active[0].id);
    assert!(of_asset("asset-1").is_empty());
    assert_eq!(store.article(1).unwrap().unwrap().id, 1);
    assert_eq!(store.outbox().unwrap().len(), 1);
    // The new tables start empty and take devices.
    assert!(store.devices().unwrap().is_empty());
    let device = DeviceRecord {
        name: "core-sw1".into(),
        spec: DeviceSpec::v2c("core-sw1", "192.0.2.10", "public"),
        poller: WEB.into(),
        asset_id: device_asset_id("core-sw1"),
        added_at: Timestamp(WEB_DELTA_AT),
        last_poll: None,
        inventory_at: None,
    };
    store.add_device(&device).unwrap();
    assert_eq!(store.devices_of_poller(WEB).unwrap(), [device]);
    check_new_records(store);
}

#[test]
fn format_4_gets_the_rollups_of_its_blocks_and_keeps_everything() {
    let (_dir, path) = fixture("store-v4.redb");
    assert_eq!(format_version(&path), Some(4));
    let store = Arc::new(Store::open(&path).unwrap());
    assert_eq!(format_version_of(&store), Some(FORMAT_VERSION));
    check_fleet(&store, &path, 4, Stored::Rounded);
    assert_eq!(store.gaps("asset-2").unwrap().len(), 2);
    assert_eq!(store.article(1).unwrap().unwrap().id, 1);
    // Web and db sent their samples in time order, so their closed blocks
    // hold every point up to the last one rolled up; the rest is in their
    // open blocks, rolled up when those close.
    let mut rolled = 0;
    for agent in [WEB, DB] {
        let asset = store.agent_asset_id(agent).unwrap().unwrap();
        for name in store.series_names(&asset).unwrap() {
            let raw = store
                .metric(&asset, &name, Timestamp(0), Timestamp(i64::MAX), None)
                .unwrap();
            for tier in [Tier::FiveMinutes, Tier::OneHour, Tier::OneDay] {
                let got = store
                    .rollups(&asset, &name, tier, i64::MIN, i64::MAX)
                    .unwrap();
                let Some(until) = got.iter().map(|(_, r)| r.last_at).max() else {
                    continue;
                };
                let mut want: BTreeMap<i64, Vec<f64>> = BTreeMap::new();
                for (t, v) in raw.iter().filter(|p| p.0.0 <= until) {
                    want.entry(tier.bucket_of(t.0)).or_default().push(*v);
                }
                assert_eq!(got.len(), want.len(), "{asset} {name} {tier}");
                for ((bucket, r), (wb, vals)) in got.iter().zip(&want) {
                    assert_eq!(bucket, wb);
                    assert_eq!(r.count, vals.len() as u64, "{asset} {name} {tier} {bucket}");
                    let min = vals.iter().copied().fold(f64::INFINITY, f64::min);
                    let max = vals.iter().copied().fold(f64::NEG_INFINITY, f64::max);
                    assert_eq!((r.min, r.max), (min, max), "{asset} {name} {tier} {bucket}");
                }
                rolled += got.len();
            }
        }
    }
    assert!(rolled > 500, "{rolled} rollup points");
    check_new_records(store);
}

#[test]
fn opening_an_upgraded_file_again_changes_nothing() {
    let (_dir, path) = fixture("store-v1.redb");
    let first = {
        let store = Store::open(&path).unwrap();
        store.stats().unwrap()
    };
    let store = Store::open(&path).unwrap();
    assert!(!backup_path(&path, 1).exists());
    assert!(!backup_path(&path, FORMAT_VERSION).exists());
    let again = store.stats().unwrap();
    assert_eq!(
        (again.assets, again.series, again.chunks, again.chunk_bytes),
        (first.assets, first.series, first.chunks, first.chunk_bytes)
    );
    check_fleet(&store, &path, 1, Stored::Exact);
}

fn format_version_of(store: &Store) -> Option<u64> {
    let txn = store.begin_read().unwrap();
    let meta = txn.open_table(META).unwrap();
    meta.get(META_FORMAT).unwrap().map(|v| v.value())
}

fn spool_full() -> Missing {
    Missing::SpoolFull {
        batches: 2,
        samples: 60,
        from: Timestamp(T0 + 1_600_000),
        to: Timestamp(T0 + 2_190_000),
    }
}

#[test]
fn a_failing_upgrade_names_its_step_and_leaves_the_file_as_it_was() {
    let (_dir, path) = fixture("store-v2.redb");
    // One chunk of the old file damaged: more points announced than stored.
    {
        const CHUNKS: TableDefinition<(u64, i64), &[u8]> = TableDefinition::new("chunks");
        let db = redb::Database::create(&path).unwrap();
        let txn = db.begin_write().unwrap();
        {
            let mut chunks = txn.open_table(CHUNKS).unwrap();
            let key = chunks.first().unwrap().unwrap().0.value();
            chunks
                .insert(key, [0xff, 0x00, 1, 2, 3].as_slice())
                .unwrap();
        }
        txn.commit().unwrap();
    }
    let before = std::fs::read(&path).unwrap();
    for _ in 0..2 {
        let err = Store::open(&path).unwrap_err();
        let OpenError::Upgrade(up) = &err else {
            panic!("{err}");
        };
        let UpgradeError::Failed {
            from, to, stage, ..
        } = up.as_ref()
        else {
            panic!("{err}");
        };
        assert_eq!(
            (*from, *to, *stage),
            (2, FORMAT_VERSION, Stage::Step(Step::V2ChunksToV3))
        );
        let msg = err.to_string();
        assert!(
            msg.contains("step 2 → 3 (per-series chunks to metric blocks)"),
            "{msg}"
        );
        assert!(msg.contains("chunk truncated"), "{msg}");
        assert!(msg.contains("the store is unchanged (format 2)"), "{msg}");
        assert!(std::fs::read(&path).unwrap() == before, "the file changed");
        assert!(!backup_path(&path, 2).exists());
    }
}

#[test]
fn an_upgrade_that_cannot_copy_the_file_first_does_not_start() {
    let (_dir, path) = fixture("store-v1.redb");
    let before = std::fs::read(&path).unwrap();
    // Something in the way of the copy.
    let mut partial = backup_path(&path, 1).into_os_string();
    partial.push(".partial");
    std::fs::create_dir(&partial).unwrap();
    let err = Store::open(&path).unwrap_err();
    assert!(
        matches!(
            &err,
            OpenError::Upgrade(up) if matches!(**up, UpgradeError::Backup { from: 1, .. })
        ),
        "{err}"
    );
    assert!(
        err.to_string().contains("the store was not changed"),
        "{err}"
    );
    assert!(std::fs::read(&path).unwrap() == before, "the file changed");
    std::fs::remove_dir(&partial).unwrap();
    Store::open(&path).unwrap();
}

#[test]
fn a_file_left_by_a_crashed_collector_is_repaired_then_upgraded() {
    let (dir, path) = fixture("store-v2.redb");
    // A copy taken while redb has the file open is what a collector killed
    // then leaves: marked for repair, which a read-only open cannot do.
    let crashed = dir.path().join("crashed.redb");
    {
        let _open = redb::Database::create(&path).unwrap();
        std::fs::copy(&path, &crashed).unwrap();
    }
    assert!(redb::ReadOnlyDatabase::open(&crashed).is_err());
    let store = Store::open(&crashed).unwrap();
    assert_eq!(format_version_of(&store), Some(FORMAT_VERSION));
    check_fleet(&store, &crashed, 2, Stored::Exact);
}
