//! Caller lookup latency on a simulated fleet: how long `atalaya lookup`
//! (that is, [`lookup`]) takes per kind of query while the phone
//! rings.
//!
//! Each asset gets an inventory like a Debian desktop's: a few hundred
//! packages from a shared pool, the usual system accounts plus its user's
//! and a few colleagues' (20–40 accounts), 1–3 sessions, the last login,
//! an FQDN. Every asset's main user is logged in on that asset only; an
//! `ansible` deployment account exists on every third asset and is never
//! logged in. The inventories go in through [`Store::commit`] as snapshots,
//! as the server stores them, 100 assets per group commit. Last, the
//! lookup index is emptied (as in a store written before it) and the time
//! `Store::open` takes to build it is printed.

use std::path::PathBuf;
use std::time::Instant;

use anyhow::Context;
use atalaya_collector::desk::lookup::lookup;
use atalaya_collector::store::{Ingest, IngestRecord, Store, schema};
use atalaya_collector::telemetry::percentile;
use atalaya_common::model::*;
use atalaya_common::proto;
use clap::Parser;
use rand::rngs::StdRng;
use rand::seq::IndexedRandom;
use rand::{Rng, SeedableRng};

/// Lookup benchmark: latency of the caller lookup per query kind.
#[derive(Debug, Parser)]
struct Args {
    /// Simulated assets.
    #[arg(long, default_value_t = 2000)]
    assets: usize,
    /// Timed repetitions of each query.
    #[arg(long, default_value_t = 50)]
    repetitions: usize,
    /// Machines returned per lookup (the API's default).
    #[arg(long, default_value_t = 20)]
    limit: usize,
    /// Random seed.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Store file (default: a temporary file, removed at the end).
    #[arg(long)]
    path: Option<PathBuf>,
}

/// Accounts every Debian machine has: `(name, uid, GECOS, shell)`.
const SYSTEM_ACCOUNTS: &[(&str, u32, &str, &str)] = &[
    ("root", 0, "root", "/bin/bash"),
    ("daemon", 1, "daemon", "/usr/sbin/nologin"),
    ("bin", 2, "bin", "/usr/sbin/nologin"),
    ("sys", 3, "sys", "/usr/sbin/nologin"),
    ("sync", 4, "sync", "/bin/sync"),
    ("games", 5, "games", "/usr/sbin/nologin"),
    ("man", 6, "man", "/usr/sbin/nologin"),
    ("lp", 7, "lp", "/usr/sbin/nologin"),
    ("mail", 8, "mail", "/usr/sbin/nologin"),
    ("news", 9, "news", "/usr/sbin/nologin"),
    ("uucp", 10, "uucp", "/usr/sbin/nologin"),
    ("proxy", 13, "proxy", "/usr/sbin/nologin"),
    ("www-data", 33, "www-data", "/usr/sbin/nologin"),
    ("backup", 34, "backup", "/usr/sbin/nologin"),
    ("list", 38, "Mailing List Manager", "/usr/sbin/nologin"),
    ("irc", 39, "ircd", "/usr/sbin/nologin"),
    ("_apt", 42, "", "/usr/sbin/nologin"),
    ("nobody", 65534, "nobody", "/usr/sbin/nologin"),
    (
        "systemd-network",
        998,
        "systemd Network Management",
        "/usr/sbin/nologin",
    ),
    ("messagebus", 100, "", "/usr/sbin/nologin"),
    (
        "systemd-timesync",
        997,
        "systemd Time Synchronization",
        "/usr/sbin/nologin",
    ),
    ("sshd", 101, "", "/usr/sbin/nologin"),
    ("avahi", 102, "Avahi mDNS daemon", "/usr/sbin/nologin"),
    ("polkitd", 996, "polkit", "/usr/sbin/nologin"),
];

const GIVEN: &[&str] = &[
    "María", "José", "Lucía", "Carlos", "Ana", "Javier", "Laura", "David", "Elena", "Pablo",
    "Marta", "Sergio", "Paula", "Jorge", "Sara", "Daniel", "Irene", "Álvaro", "Nuria", "Raúl",
];
const FAMILY: &[&str] = &[
    "García",
    "Martínez",
    "López",
    "Sánchez",
    "Pérez",
    "Gómez",
    "Martín",
    "Jiménez",
    "Ruiz",
    "Hernández",
    "Díaz",
    "Moreno",
    "Muñoz",
    "Álvarez",
    "Romero",
    "Alonso",
    "Navarro",
    "Torres",
];

/// Person number `n`: login and full name, both unique in the fleet.
fn person(n: usize) -> (String, String) {
    let given = GIVEN[n % GIVEN.len()];
    let family = FAMILY[(n / GIVEN.len()) % FAMILY.len()];
    let login: String = format!("{}{}{n}", given.chars().next().unwrap_or('x'), family)
        .to_lowercase()
        .chars()
        .map(|c| match c {
            'á' => 'a',
            'é' => 'e',
            'í' => 'i',
            'ó' => 'o',
            'ú' => 'u',
            c => c,
        })
        .collect();
    (login, format!("{given} {family} {n}"))
}

fn hostname(i: usize) -> String {
    format!("ws-{i:05}")
}

fn account(name: &str, uid: u32, full: &str, shell: &str) -> Account {
    Account {
        name: name.into(),
        uid,
        gid: uid,
        full_name: (!full.is_empty()).then(|| full.to_owned()),
        home: if (1000..65534).contains(&uid) {
            format!("/home/{name}")
        } else {
            "/nonexistent".into()
        },
        shell: shell.into(),
        system: uid < 1000 || uid == 65534,
    }
}

/// The inventory of asset `i`, whose main user is person `i`.
fn inventory(i: usize, assets: usize, pool: &[String], rng: &mut StdRng, now: i64) -> Inventory {
    let mut inv = Inventory::default();
    let host = hostname(i);
    inv.host.hostname = host.clone();
    inv.host.fqdn = Some(format!("{host}.corp.example"));
    inv.host.machine_id = Some(format!("{:032x}", 0x5eed_0000_u64 + i as u64));
    inv.host.timezone = Some("Europe/Madrid".into());
    inv.os.id = Some("debian".into());
    inv.os.name = Some("Debian GNU/Linux".into());
    inv.os.pretty_name = Some("Debian GNU/Linux 12 (bookworm)".into());
    inv.hardware.system.vendor = Some("LENOVO".into());
    inv.hardware.system.product = Some("21AH00FGSP".into());
    inv.hardware.system.serial = Some(format!("PF{i:06}"));
    inv.hardware.system.uuid = Some(format!("4c4c4544-0042-{i:04x}-8000-b7c04f4d3232"));
    inv.network.interfaces.push(Interface {
        name: "enp0s31f6".into(),
        mac: Some(format!(
            "00:aa:{:02x}:{:02x}:{:02x}:01",
            (i >> 16) & 0xff,
            (i >> 8) & 0xff,
            i & 0xff
        )),
        kind: InterfaceKind::Physical,
        state: "up".into(),
        addresses: vec![IpNet {
            address: std::net::IpAddr::V4(std::net::Ipv4Addr::new(
                10,
                (i >> 16) as u8,
                (i >> 8) as u8,
                i as u8,
            )),
            prefix: 16,
        }],
        ..Interface::default()
    });
    let packages = rng.random_range(250..450);
    for name in pool.choose_multiple(rng, packages) {
        inv.software.packages.push(Package {
            name: name.clone(),
            version: format!(
                "{}.{}.{}-1",
                rng.random_range(0..5),
                rng.random_range(0..30),
                rng.random_range(0..10)
            ),
            arch: Some("amd64".into()),
            vendor: Some("Debian".into()),
            installed_at: Some(Timestamp::from_secs(
                1_690_000_000 + rng.random_range(0..10_000_000),
            )),
            size_bytes: Some(rng.random_range(10_000..50_000_000)),
            source: Some(name.split('-').next().unwrap_or(name).to_owned()),
        });
    }
    let users = &mut inv.users;
    for (name, uid, full, shell) in SYSTEM_ACCOUNTS {
        users.accounts.push(account(name, *uid, full, shell));
    }
    let (login, full) = person(i);
    users
        .accounts
        .push(account(&login, 1000, &full, "/bin/bash"));
    if i.is_multiple_of(3) {
        users
            .accounts
            .push(account("ansible", 1001, "Ansible deployments", "/bin/bash"));
    }
    // Colleagues who once sat at this machine: 20–40 accounts in all.
    let colleagues = rng.random_range(0..=15usize);
    for c in 0..colleagues {
        let other = (i + 1 + rng.random_range(0..assets.max(2) - 1)) % assets.max(1);
        if other == i {
            continue;
        }
        let (l, f) = person(other);
        users
            .accounts
            .push(account(&l, 1002 + c as u32, &f, "/bin/bash"));
    }
    let started = now - rng.random_range(60_000..8 * 3_600_000);
    users.sessions.push(Session {
        user: login.clone(),
        tty: "tty2".into(),
        remote_host: None,
        started_at: Some(Timestamp(started)),
        pid: Some(1_200 + i as u32),
    });
    for s in 0..rng.random_range(0..=2usize) {
        users.sessions.push(Session {
            user: login.clone(),
            tty: format!("pts/{s}"),
            remote_host: Some(format!("10.1.{}.{}", s, i % 250)),
            started_at: Some(Timestamp(started + 60_000 * (s as i64 + 1))),
            pid: Some(5_000 + s as u32),
        });
    }
    users.last_login = Some(Login {
        user: login,
        tty: "pts/0".into(),
        remote_host: Some("10.1.0.7".into()),
        at: Timestamp(started),
    });
    inv.canonicalize();
    inv
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    anyhow::ensure!(args.assets >= 20, "--assets must be at least 20");
    let path = args.path.clone().unwrap_or_else(|| {
        std::env::temp_dir().join(format!("atalaya-lookup-bench-{}.redb", std::process::id()))
    });
    if path.exists() {
        anyhow::bail!("{} exists; the bench needs a fresh file", path.display());
    }
    let store = Store::open(&path).with_context(|| format!("opening {}", path.display()))?;
    let mut rng = StdRng::seed_from_u64(args.seed);
    let pool: Vec<String> = (0..1_500)
        .map(|p| match p % 4 {
            0 => format!("lib{p}-common"),
            1 => format!("lib{p}t64"),
            2 => format!("python3-pkg{p}"),
            _ => format!("tool{p}"),
        })
        .collect();
    let now: i64 = 1_795_000_000_000;
    let t0 = Instant::now();
    for chunk in (0..args.assets).collect::<Vec<_>>().chunks(100) {
        let mut batch = Vec::with_capacity(chunk.len());
        for &i in chunk {
            let inv = inventory(i, args.assets, &pool, &mut rng, now);
            batch.push(Ingest {
                agent_id: format!("agent-{i:05}"),
                received_at: Timestamp(now),
                record: IngestRecord::Snapshot(proto::InventorySnapshot {
                    seq: 1,
                    taken_at: Timestamp(now),
                    inventory: inv,
                }),
            });
        }
        store.commit(&batch).context("commit")?;
    }
    let ingest = t0.elapsed();
    let file = std::fs::metadata(&path)?.len();
    println!(
        "assets: {}, stored in {:.1} s; store file {} bytes ({:.1} MiB)",
        args.assets,
        ingest.as_secs_f64(),
        file,
        file as f64 / (1024.0 * 1024.0)
    );
    for (name, stored, pages) in store.table_usage()? {
        if ["inventory", "hostnames", "software", "lookup_keys"].contains(&name.as_str()) {
            println!("  table {name:<12} {stored:>10} bytes stored, {pages:>10} in pages");
        }
    }

    let one = args.assets / 2;
    let (user, full) = person(one);
    let queries: Vec<(&str, String)> = vec![
        ("user logged in on one machine", user),
        ("account on a third of the machines", "ansible".into()),
        ("full name", full),
        ("FQDN", format!("{}.corp.example", hostname(one))),
        ("host name", hostname(one)),
        ("host prefix", hostname(one)[..6].to_owned()),
        ("matching nothing", "nobody-here".into()),
    ];
    let status = |_: &atalaya_collector::store::AgentRecord| "connected";
    println!(
        "{} repetitions each, limit {}, release build: {}",
        args.repetitions,
        args.limit,
        !cfg!(debug_assertions)
    );
    println!(
        "{:<36} {:<28} {:>7} {:>10} {:>10}",
        "query", "text", "matches", "median ms", "p95 ms"
    );
    for (kind, q) in &queries {
        // One untimed run warms the page cache as the first call of the day would not.
        let first = lookup(&store, q, args.limit, Timestamp(now), &status)?;
        let mut ms = Vec::with_capacity(args.repetitions);
        for _ in 0..args.repetitions {
            let t = Instant::now();
            let l = lookup(&store, q, args.limit, Timestamp(now), &status)?;
            ms.push(t.elapsed().as_secs_f64() * 1000.0);
            anyhow::ensure!(l.total == first.total, "{q}: answers differ between runs");
        }
        ms.sort_by(f64::total_cmp);
        println!(
            "{kind:<36} {q:<28} {:>7} {:>10.3} {:>10.3}",
            first.total,
            percentile(&ms, 0.5),
            percentile(&ms, 0.95)
        );
    }
    // A store written before the lookup index: the index is built at open.
    let txn = store.begin_write()?;
    txn.open_table(schema::LOOKUP_KEYS)?.retain(|_, _| false)?;
    txn.open_table(schema::META)?
        .remove(schema::META_LOOKUP_INDEX)?;
    txn.commit()?;
    drop(store);
    let t = Instant::now();
    let store = Store::open(&path).with_context(|| format!("reopening {}", path.display()))?;
    let open = t.elapsed();
    let (user, _) = person(one);
    let found = lookup(&store, &user, args.limit, Timestamp(now), &status)?.total;
    anyhow::ensure!(found > 0, "{user} not found after the index was rebuilt");
    println!(
        "opening the store with the lookup index missing (built then): {:.0} ms",
        open.as_secs_f64() * 1000.0
    );
    drop(store);
    if args.path.is_none() {
        std::fs::remove_file(&path).with_context(|| format!("removing {}", path.display()))?;
    }
    Ok(())
}
