//! The caller lookup wired to the store: the indexes and records it needs
//! read from the store, the matching, ranking and wording done by
//! [`crate::lookup`]; the people directory read for the query as well
//! ([`crate::people`]), its people's logins leading to their machines.

use std::collections::{BTreeMap, BTreeSet};

use atalaya_common::model::Timestamp;

use crate::lookup::{AgentFacts, Health, Lookup, MachineFacts, Matches, Query, RankFacts, health};
use crate::people::phone::PhonePlan;
use crate::people::{DirectoryQuery, Found, PersonCard, cards};
use crate::store::{AgentRecord, Store, StoreError};

/// Most people of the directory one query shows (and whose machines it
/// looks for).
pub const MAX_PEOPLE: usize = 20;

/// The machines of the user or host `query`, best first, at most `limit`
/// of them with their health and open incidents at `now`. `status` tells
/// an agent's status (the server knows its sessions; the store does not).
/// National phone numbers are read as written (see [`lookup_with`]).
pub fn lookup(
    store: &Store,
    query: &str,
    limit: usize,
    now: Timestamp,
    status: &dyn Fn(&AgentRecord) -> &'static str,
) -> Result<Lookup, StoreError> {
    lookup_with(store, query, &PhonePlan::default(), limit, now, status)
}

/// [`lookup`], with national phone numbers completed by `phones`: the
/// machines of a user, a host, or a person of the directory named by
/// name, login, phone number or extension.
pub fn lookup_with(
    store: &Store,
    query: &str,
    phones: &PhonePlan,
    limit: usize,
    now: Timestamp,
    status: &dyn Fn(&AgentRecord) -> &'static str,
) -> Result<Lookup, StoreError> {
    let q = Query::new(query);
    let hosts = store.hostnames_from(q.host_prefix())?;
    let indexed = match q.index_key() {
        Some(key) => store.lookup_index(key)?,
        None => BTreeMap::new(),
    };
    let matches = q.matches(hosts, indexed);
    let directory = DirectoryQuery::text(query, phones);
    finish(store, &q, matches, &directory, limit, now, status)
}

/// Who calls from the number `from`: the people of the directory with
/// that phone number or extension, and their machines (never a host or
/// user named like the number).
pub fn caller_by_number(
    store: &Store,
    from: &str,
    phones: &PhonePlan,
    limit: usize,
    now: Timestamp,
    status: &dyn Fn(&AgentRecord) -> &'static str,
) -> Result<Lookup, StoreError> {
    let q = Query::new(from);
    let matches = q.matches(Vec::new(), BTreeMap::new());
    let directory = DirectoryQuery::number(from, phones);
    finish(store, &q, matches, &directory, limit, now, status)
}

/// The people `q` names in the directory, best first, at most
/// [`MAX_PEOPLE`].
pub fn directory(store: &Store, q: &DirectoryQuery) -> Result<Vec<PersonCard>, StoreError> {
    let mut found = Vec::new();
    let reads: [(Option<&String>, Found); 4] = [
        (q.phone.as_ref(), Found::Phone),
        (q.extension.as_ref(), Found::Extension),
        (q.login.as_ref(), Found::Login),
        (q.name.as_ref(), Found::Name),
    ];
    for (key, how) in reads {
        let Some(key) = key else { continue };
        let people = match how {
            Found::Phone => store.people_by_phone(key)?,
            Found::Extension => store.people_by_extension(key)?,
            Found::Login => store.people_by_login(key)?,
            Found::Name => store.people_by_name(key)?,
        };
        found.extend(people.into_iter().map(|r| (r, how)));
    }
    let mut cards = cards(found, q);
    cards.truncate(MAX_PEOPLE);
    Ok(cards)
}

/// The lookup's answer from `matches`, with the people `directory` names
/// and their logins' machines.
fn finish(
    store: &Store,
    q: &Query,
    matches: Matches,
    directory: &DirectoryQuery,
    limit: usize,
    now: Timestamp,
    status: &dyn Fn(&AgentRecord) -> &'static str,
) -> Result<Lookup, StoreError> {
    let people = self::directory(store, directory)?;
    let logins: BTreeSet<String> = people
        .iter()
        .flat_map(|p| p.logins.iter().map(|l| l.to_lowercase()))
        .collect();
    let mut by_login: BTreeMap<String, u8> = BTreeMap::new();
    for login in &logins {
        for (asset, kinds) in store.lookup_index(login)? {
            *by_login.entry(asset).or_default() |= kinds;
        }
    }
    let matches = matches.with_people(logins.into_iter().collect(), by_login);
    // Ranked from the indexes and asset records alone: only the machines
    // shown have their inventories and the rest read.
    let metas = store.asset_metas(&matches.asset_ids())?;
    let mut ranked = matches.rank(metas, |m| RankFacts {
        asset_id: &m.id,
        hostname: &m.hostname,
        last_seen: m.last_seen,
    });
    let total = ranked.len();
    ranked.truncate(limit);
    let ids: Vec<&str> = ranked.iter().map(|m| m.id.as_str()).collect();
    let inventories = store.inventories(&ids)?;
    let agent_ids: Vec<&str> = ranked
        .iter()
        .flat_map(|m| m.agent_ids.iter().map(String::as_str))
        .collect();
    let agents: BTreeMap<String, AgentRecord> = store
        .agents(&agent_ids)?
        .into_iter()
        .map(|a| (a.id.clone(), a))
        .collect();
    let mut machines = Vec::with_capacity(ranked.len());
    for meta in &ranked {
        let facts = MachineFacts {
            asset_id: &meta.id,
            hostname: &meta.hostname,
            os: meta.os.as_deref(),
            last_seen: meta.last_seen,
            inventory: inventories.get(&meta.id),
            agents: meta
                .agent_ids
                .iter()
                .filter_map(|id| agents.get(id))
                .map(|a| AgentFacts {
                    id: &a.id,
                    revoked: a.revoked_at.is_some(),
                    last_seen: a.last_seen,
                    status: status(a),
                })
                .collect(),
            incidents: store.active_incidents_of(&meta.id)?,
            health: health_of(store, &meta.id, now)?,
        };
        machines.push(matches.machine(facts, now));
    }
    Ok(Lookup {
        query: q.text().to_owned(),
        total,
        machines,
        people,
    })
}

/// The health of `asset` at `now`: the latest point of each series
/// [`health::summary`] shows, from [`health::window`]; `None` when there
/// is none.
pub fn health_of(store: &Store, asset: &str, now: Timestamp) -> Result<Option<Health>, StoreError> {
    let (from, to) = health::window(now);
    let names = store.series_names(asset)?;
    let mut points = BTreeMap::new();
    for series in health::series(&names) {
        points.insert(
            series.to_owned(),
            store.metric(asset, series, from, to, None)?,
        );
    }
    Ok(health::summary(&points))
}

#[cfg(test)]
mod tests {
    use atalaya_common::model::{
        Account, FilesystemUsage, HealthSample, Inventory, LoadAverage, Login, MemoryUsage,
        Session, Users,
    };

    use proptest::prelude::*;
    use redb::ReadableTable;

    use super::*;
    use crate::desk::DeskStore;
    use crate::incidents::lifecycle::StaffAction;
    use crate::incidents::sla::SlaPolicies;
    use crate::incidents::{Action, ActionKind, IncidentKey, Severity};
    use crate::lookup::reasons::user_reasons;
    use crate::lookup::{MatchKind, MountUse, SlaState};
    use crate::records::incident::{Priority, Status};
    use crate::store::lookup::{LOOKUP_INDEX_VERSION, lookup_keys};
    use crate::store::schema::{LOOKUP_KEYS, META, META_LOOKUP_INDEX};
    use crate::store::testutil::*;

    fn account(name: &str, uid: u32, full: Option<&str>, system: bool) -> Account {
        Account {
            name: name.into(),
            uid,
            gid: uid,
            full_name: full.map(Into::into),
            home: format!("/home/{name}"),
            shell: if system {
                "/usr/sbin/nologin".into()
            } else {
                "/bin/bash".into()
            },
            system,
        }
    }

    fn host(name: &str, n: u8, users: Users) -> Inventory {
        let mut inv = machine(
            name,
            Some(&format!("uuid-{name}")),
            &format!("mid-{name}"),
            &format!("00:aa:00:00:00:{n:02x}"),
        );
        inv.users = users;
        inv.canonicalize();
        inv
    }

    /// The server's view, in short: a1 has a session open.
    fn no_status(a: &AgentRecord) -> &'static str {
        if a.id == "a1" {
            "connected"
        } else {
            "disconnected"
        }
    }

    fn agent(id: &str) -> AgentRecord {
        AgentRecord::enrolled(id, "", "", [0; 32], "0.1.0", Timestamp(0))
    }

    fn hosts(l: &Lookup) -> Vec<(&str, MatchKind)> {
        l.machines
            .iter()
            .map(|m| (m.hostname.as_str(), m.why[0].kind))
            .collect()
    }

    /// Four machines maria may be calling about, and one she has nothing to do with.
    fn fleet() -> (tempfile::TempDir, Store) {
        let (dir, s) = temp_store();
        let mut desk = host(
            "desk-01",
            1,
            Users {
                accounts: vec![account("maria", 1000, Some("María García"), false)],
                sessions: vec![Session {
                    user: "maria".into(),
                    tty: "tty2".into(),
                    started_at: Some(Timestamp::from_secs(1_000)),
                    ..Session::default()
                }],
                ..Users::default()
            },
        );
        desk.host.fqdn = Some("desk-01.corp.example".into());
        let lab = host(
            "lab-02",
            2,
            Users {
                last_login: Some(Login {
                    user: "maria".into(),
                    tty: "pts/0".into(),
                    remote_host: Some("10.0.0.7".into()),
                    at: Timestamp::from_secs(500),
                }),
                ..Users::default()
            },
        );
        let srv = host(
            "srv-03",
            3,
            Users {
                accounts: vec![account("maria", 1000, None, false)],
                ..Users::default()
            },
        );
        // A system account of the same name is nobody's machine.
        let svc = host(
            "srv-04",
            4,
            Users {
                accounts: vec![account("maria", 998, None, true)],
                ..Users::default()
            },
        );
        let named = host("maria-pc", 5, Users::default());
        s.add_agent(&agent("a1")).unwrap();
        s.add_agent(&agent("a2")).unwrap();
        s.commit(&[
            snapshot("a1", 1, 1_000, &desk),
            snapshot("a2", 1, 1_000, &lab),
            snapshot("a3", 1, 1_000, &srv),
            snapshot("a4", 1, 1_000, &svc),
            snapshot("a5", 1, 1_000, &named),
        ])
        .unwrap();
        (dir, s)
    }

    #[test]
    fn a_user_ranks_logged_in_then_last_login_then_account_then_host_names() {
        let (_d, s) = fleet();
        let l = lookup(&s, " Maria ", 20, Timestamp(2_000), &no_status).unwrap();
        assert_eq!(l.query, "Maria");
        assert_eq!(
            hosts(&l),
            [
                ("desk-01", MatchKind::LoggedIn),
                ("lab-02", MatchKind::LastLogin),
                ("srv-03", MatchKind::Account),
                ("maria-pc", MatchKind::HostnamePattern),
            ]
        );
        let desk = &l.machines[0];
        assert_eq!(
            desk.why.iter().map(|r| r.kind).collect::<Vec<_>>(),
            [MatchKind::LoggedIn, MatchKind::Account]
        );
        assert_eq!(desk.why[0].at, Some(Timestamp::from_secs(1_000)));
        assert_eq!(
            desk.why[0].text,
            "maria logged in on tty2 since 1970-01-01T00:16:40Z"
        );
        assert!(
            desk.why[1].text.contains("(María García), uid 1000"),
            "{}",
            desk.why[1].text
        );
        assert!(
            l.machines[1].why[0].text.contains("from 10.0.0.7"),
            "{:?}",
            l.machines[1].why
        );
        assert_eq!(desk.fqdn.as_deref(), Some("desk-01.corp.example"));
        assert_eq!(desk.agent_status, "connected");
        assert_eq!(desk.agent_id.as_deref(), Some("a1"));
        assert_eq!(l.machines[1].agent_status, "disconnected");
        assert_eq!(
            (
                l.machines[2].agent_id.as_deref(),
                l.machines[2].agent_status.as_str()
            ),
            (None, "unknown"),
            "srv-03 has no agent record"
        );
        assert!(desk.open_incidents.is_empty() && desk.health.is_none());

        // The full name finds her login's machines too.
        let l = lookup(&s, "maría garcía", 20, Timestamp(2_000), &no_status).unwrap();
        assert_eq!(hosts(&l), [("desk-01", MatchKind::LoggedIn)]);

        let l = lookup(&s, "maria", 2, Timestamp(2_000), &no_status).unwrap();
        assert_eq!((l.total, l.machines.len()), (4, 2));
        assert_eq!(
            lookup(&s, "nobody", 20, Timestamp(2_000), &no_status)
                .unwrap()
                .total,
            0
        );
    }

    #[test]
    fn host_names_match_exactly_by_fqdn_by_prefix_and_by_pattern() {
        let (_d, s) = fleet();
        let now = Timestamp(2_000);
        let l = lookup(&s, "MARIA-PC", 20, now, &no_status).unwrap();
        assert_eq!(hosts(&l), [("maria-pc", MatchKind::Hostname)]);
        let l = lookup(&s, "Desk-01.Corp.Example", 20, now, &no_status).unwrap();
        assert_eq!(hosts(&l), [("desk-01", MatchKind::Hostname)]);
        assert_eq!(l.machines[0].why[0].text, "FQDN desk-01.corp.example");
        let l = lookup(&s, "srv", 20, now, &no_status).unwrap();
        assert_eq!(
            hosts(&l),
            [
                ("srv-03", MatchKind::HostnamePattern),
                ("srv-04", MatchKind::HostnamePattern)
            ]
        );
        assert_eq!(
            l.machines[0].why[0].text,
            "host name srv-03 starts with srv"
        );
        // A pattern matches host names only, never users.
        let l = lookup(&s, "mari*", 20, now, &no_status).unwrap();
        assert_eq!(hosts(&l), [("maria-pc", MatchKind::HostnamePattern)]);
        assert_eq!(l.machines[0].why[0].text, "host name maria-pc fits mari*");
        let l = lookup(&s, "*-03", 20, now, &no_status).unwrap();
        assert_eq!(hosts(&l), [("srv-03", MatchKind::HostnamePattern)]);
        let l = lookup(&s, "*", 20, now, &no_status).unwrap();
        assert_eq!(l.total, 5);
    }

    /// Every row of the lookup index: `(key, asset) → kinds`.
    fn index_rows(s: &Store) -> BTreeMap<(String, String), u8> {
        let txn = s.begin_read().unwrap();
        let t = txn.open_table(LOOKUP_KEYS).unwrap();
        t.iter()
            .unwrap()
            .map(|r| {
                let (k, v) = r.unwrap();
                let (key, asset) = k.value();
                ((key.to_owned(), asset.to_owned()), v.value())
            })
            .collect()
    }

    fn kinds_of(l: &Lookup, host: &str) -> Option<Vec<MatchKind>> {
        l.machines
            .iter()
            .find(|m| m.hostname == host)
            .map(|m| m.why.iter().map(|r| r.kind).collect())
    }

    #[test]
    fn the_index_follows_sessions_accounts_and_fqdn_as_the_inventory_changes() {
        let (_d, s) = fleet();
        let now = Timestamp(9_000);
        let asset = s.agent_asset_id("a1").unwrap().unwrap();
        let v1 = s.asset(&asset).unwrap().unwrap().inventory.unwrap();
        let l = lookup(&s, "maria", 20, now, &no_status).unwrap();
        assert_eq!(
            kinds_of(&l, "desk-01"),
            Some(vec![MatchKind::LoggedIn, MatchKind::Account])
        );

        // She logs out (a delta): her account still names the machine.
        let mut v2 = v1.clone();
        v2.users.sessions.clear();
        v2.canonicalize();
        s.commit(&[delta("a1", 2, 3_000, &v1, &v2)]).unwrap();
        let l = lookup(&s, "maria", 20, now, &no_status).unwrap();
        assert_eq!(kinds_of(&l, "desk-01"), Some(vec![MatchKind::Account]));
        // Ranked as an account now: after her last login, and before the
        // other account because it was seen more recently.
        assert_eq!(
            hosts(&l),
            [
                ("lab-02", MatchKind::LastLogin),
                ("desk-01", MatchKind::Account),
                ("srv-03", MatchKind::Account),
                ("maria-pc", MatchKind::HostnamePattern),
            ]
        );
        assert_eq!(
            index_rows(&s).get(&("maria".to_owned(), asset.clone())),
            Some(&MatchKind::Account.bit())
        );

        // Her account is removed and the machine renamed in DNS (a snapshot):
        // neither her login, nor her full name, nor the old FQDN find it.
        let mut v3 = v2.clone();
        v3.users.accounts.clear();
        v3.host.fqdn = Some("desk-01.lab.example".into());
        v3.canonicalize();
        s.commit(&[snapshot("a1", 3, 4_000, &v3)]).unwrap();
        let l = lookup(&s, "maria", 20, now, &no_status).unwrap();
        assert_eq!(kinds_of(&l, "desk-01"), None);
        assert_eq!(l.total, 3, "{:?}", hosts(&l));
        assert_eq!(
            lookup(&s, "María García", 20, now, &no_status)
                .unwrap()
                .total,
            0
        );
        assert_eq!(
            lookup(&s, "desk-01.corp.example", 20, now, &no_status)
                .unwrap()
                .total,
            0
        );
        let l = lookup(&s, "DESK-01.lab.example", 20, now, &no_status).unwrap();
        assert_eq!(hosts(&l), [("desk-01", MatchKind::Hostname)]);
        let rows: Vec<_> = index_rows(&s)
            .into_iter()
            .filter(|((_, a), _)| *a == asset)
            .map(|((k, _), kinds)| (k, kinds))
            .collect();
        assert_eq!(
            rows,
            [("desk-01.lab.example".to_owned(), MatchKind::Hostname.bit())]
        );
    }

    #[test]
    fn an_asset_merged_away_is_not_returned() {
        let (_d, s) = temp_store();
        let now = Timestamp(90_000);
        let mut old = host("pc-7", 7, Users::default());
        old.host.fqdn = Some("pc-7.corp.example".into());
        old.canonicalize();
        s.commit(&[snapshot("old-agent", 1, 1_000, &old)]).unwrap();
        let asset = s.agent_asset_id("old-agent").unwrap().unwrap();
        // Reinstalled and enrolled again under the same name; its metrics
        // arrive before its inventory, on a provisional asset.
        s.add_agent(&AgentRecord::enrolled(
            "new-agent",
            "pc-7",
            "",
            [0; 32],
            "0.1.0",
            Timestamp(0),
        ))
        .unwrap();
        s.commit(&[metrics("new-agent", 1, vec![sample(50_000, 3.0)])])
            .unwrap();
        let provisional = s.agent_asset_id("new-agent").unwrap().unwrap();
        assert_ne!(provisional, asset);
        assert_eq!(lookup(&s, "pc-7", 20, now, &no_status).unwrap().total, 2);

        // Same hardware (SMBIOS UUID): merged into the old asset.
        let mut new = old.clone();
        new.host.machine_id = Some("mid-reinstalled".into());
        new.users = Users {
            accounts: vec![account("ana", 1000, Some("Ana Ruiz"), false)],
            sessions: vec![Session {
                user: "ana".into(),
                tty: "tty1".into(),
                ..Session::default()
            }],
            ..Users::default()
        };
        new.canonicalize();
        s.commit(&[snapshot("new-agent", 2, 60_000, &new)]).unwrap();
        assert_eq!(
            s.agent_asset_id("new-agent").unwrap().as_deref(),
            Some(asset.as_str())
        );
        for q in ["ana", "ana ruiz", "pc-7", "pc-7.corp.example"] {
            let l = lookup(&s, q, 20, now, &no_status).unwrap();
            let ids: Vec<&str> = l.machines.iter().map(|m| m.asset_id.as_str()).collect();
            assert_eq!(ids, [asset.as_str()], "{q}");
        }
        let l = lookup(&s, "ana", 20, now, &no_status).unwrap();
        assert_eq!(
            l.machines[0].why.iter().map(|r| r.kind).collect::<Vec<_>>(),
            [MatchKind::LoggedIn, MatchKind::Account]
        );
        assert!(
            index_rows(&s).keys().all(|(_, a)| *a == asset),
            "{:?}",
            index_rows(&s)
        );
    }

    #[test]
    fn a_store_without_the_lookup_index_gets_it_built_at_open() {
        let (dir, s) = fleet();
        let now = Timestamp(2_000);
        let built = index_rows(&s);
        let desk = s.agent_asset_id("a1").unwrap().unwrap();
        assert_eq!(
            built.get(&("maría garcía".to_owned(), desk)),
            Some(&(MatchKind::LoggedIn.bit() | MatchKind::Account.bit()))
        );
        let before = lookup(&s, "maria", 20, now, &no_status).unwrap();
        assert_eq!(before.total, 4);
        // As a file written before the index: the table empty, no version.
        let txn = s.begin_write().unwrap();
        txn.open_table(LOOKUP_KEYS)
            .unwrap()
            .retain(|_, _| false)
            .unwrap();
        txn.open_table(META)
            .unwrap()
            .remove(META_LOOKUP_INDEX)
            .unwrap();
        txn.commit().unwrap();
        assert!(index_rows(&s).is_empty());
        let l = lookup(&s, "maria", 20, now, &no_status).unwrap();
        assert_eq!(hosts(&l), [("maria-pc", MatchKind::HostnamePattern)]);
        drop(s);

        let s = Store::open(&dir.path().join("store.redb")).unwrap();
        assert_eq!(index_rows(&s), built);
        assert_eq!(lookup(&s, "maria", 20, now, &no_status).unwrap(), before);
        let version = s
            .begin_read()
            .unwrap()
            .open_table(META)
            .unwrap()
            .get(META_LOOKUP_INDEX)
            .unwrap()
            .map(|v| v.value());
        assert_eq!(version, Some(LOOKUP_INDEX_VERSION));
    }

    /// Login names and full names that collide in every way the matching
    /// allows: case, surrounding blanks, a name that is also a full name.
    const NAMES: &[&str] = &["maria", "Maria", "ana", "root", "María García"];
    const FULL_NAMES: &[&str] = &["María García", " maría garcía ", "Ana", "maria", ""];

    fn arb_users() -> impl Strategy<Value = Users> {
        let name = || proptest::sample::select(NAMES);
        let account = (
            name(),
            proptest::option::of(proptest::sample::select(FULL_NAMES)),
            any::<bool>(),
            proptest::sample::select(&["/bin/bash", "/usr/sbin/nologin", "/bin/false"][..]),
        )
            .prop_map(|(n, full, system, shell)| Account {
                name: n.into(),
                full_name: full.map(Into::into),
                system,
                shell: shell.into(),
                ..Account::default()
            });
        let session = name().prop_map(|n| Session {
            user: n.into(),
            tty: "pts/0".into(),
            ..Session::default()
        });
        let login = name().prop_map(|n| Login {
            user: n.into(),
            tty: "tty1".into(),
            ..Login::default()
        });
        (
            proptest::collection::vec(account, 0..4),
            proptest::collection::vec(session, 0..3),
            proptest::option::of(login),
        )
            .prop_map(|(accounts, sessions, last_login)| Users {
                accounts,
                sessions,
                last_login,
                ..Users::default()
            })
    }

    proptest! {
        /// The index never misses a machine the lookup would give a reason
        /// for, and ranks it by the strongest of those reasons.
        #[test]
        fn every_query_that_finds_a_reason_is_an_index_key(users in arb_users()) {
            let inv = Inventory { users, ..Inventory::default() };
            let rows = lookup_keys(&inv);
            for q in NAMES.iter().chain(FULL_NAMES) {
                let q = q.trim().to_lowercase();
                let reasons = user_reasons(&inv.users, &q);
                if !reasons.is_empty() {
                    let kinds = rows.get(&q).copied();
                    prop_assert!(kinds.is_some(), "{q:?} not in {rows:?} for {:?}", inv.users);
                    prop_assert_eq!(
                        kinds.and_then(MatchKind::strongest),
                        reasons.iter().map(|r| r.kind).min()
                    );
                }
            }
        }
    }

    fn health_sample(at: i64, cpu: f64, fs_root: f64) -> HealthSample {
        HealthSample {
            load: LoadAverage {
                one: 0.5,
                ..LoadAverage::default()
            },
            memory: MemoryUsage {
                total_bytes: 1_000,
                available_bytes: 250,
                ..MemoryUsage::default()
            },
            filesystems: vec![
                FilesystemUsage {
                    mount_point: "/".into(),
                    used_percent: fs_root,
                    ..FilesystemUsage::default()
                },
                FilesystemUsage {
                    mount_point: "/home".into(),
                    used_percent: 40.0,
                    ..FilesystemUsage::default()
                },
            ],
            ..sample(at, cpu)
        }
    }

    #[test]
    fn health_is_each_series_latest_point_of_the_last_ten_minutes() {
        let (_d, s) = fleet();
        let now: i64 = 3_600_000;
        s.commit(&[metrics(
            "a1",
            2,
            vec![
                health_sample(now - 20 * 60_000, 99.0, 99.0),
                health_sample(now - 2 * 60_000, 30.0, 96.0),
                health_sample(now - 60_000, 12.5, 97.0),
            ],
        )])
        .unwrap();
        s.commit(&[metrics("a2", 2, vec![health_sample(1_000, 50.0, 50.0)])])
            .unwrap();
        let l = lookup(&s, "maria", 20, Timestamp(now), &no_status).unwrap();
        let h = l.machines[0].health.as_ref().unwrap();
        assert_eq!(h.at, Timestamp(now - 60_000));
        assert_eq!(h.cpu_percent, Some(12.5));
        assert_eq!(h.memory_used_percent, Some(75.0));
        assert_eq!(h.load_one, Some(0.5));
        assert_eq!(
            h.filesystems,
            [
                MountUse {
                    mount: "/".into(),
                    used_percent: 97.0
                },
                MountUse {
                    mount: "/home".into(),
                    used_percent: 40.0
                }
            ]
        );
        assert_eq!(
            l.machines[1].hostname, "lab-02",
            "an hour-old sample is not health now"
        );
        assert_eq!(l.machines[1].health, None);
    }

    #[test]
    fn open_incidents_are_listed_most_urgent_first_with_their_sla_state() {
        let (_d, s) = fleet();
        let asset = s.agent_asset_id("a1").unwrap().unwrap();
        let open = |id: u64, rule: &str, severity| Action {
            kind: ActionKind::Open,
            incident: id,
            key: IncidentKey {
                asset: asset.clone(),
                rule: rule.into(),
                subject: "/".into(),
            },
            at: Timestamp(0),
            severity,
            title: format!("{rule} on /"),
            description: "d".into(),
            occurrences: 1,
            flapping: false,
        };
        let policies = SlaPolicies::default();
        s.apply_engine_actions(
            &[
                open(1, "filesystem-forecast", Severity::Warning),
                open(2, "filesystem-full", Severity::Critical),
                open(3, "cpu-busy", Severity::Critical),
            ],
            None,
            &policies,
            Timestamp(0),
        )
        .unwrap();
        s.incident_action(3, &StaffAction::Resolve(None), "ana", Timestamp(1_000))
            .unwrap();
        // P1 at 13 minutes: past the at-risk point (80 % of 15 min), not yet breached.
        let l = lookup(&s, "desk-01", 20, Timestamp(13 * 60_000), &no_status).unwrap();
        let lines = &l.machines[0].open_incidents;
        assert_eq!(
            lines
                .iter()
                .map(|i| (i.id, i.priority, i.sla))
                .collect::<Vec<_>>(),
            [
                (2, Priority::P1, SlaState::AtRisk),
                (1, Priority::P3, SlaState::Ok)
            ]
        );
        s.incident_action(2, &StaffAction::Ack, "ana", Timestamp(14 * 60_000))
            .unwrap();
        let l = lookup(&s, "desk-01", 20, Timestamp(14 * 60_000), &no_status).unwrap();
        let first = &l.machines[0].open_incidents[0];
        assert_eq!(
            (first.status, first.sla),
            (Status::Acknowledged, SlaState::Ok)
        );
        // P1 resolve target: 4 h.
        let l = lookup(&s, "desk-01", 20, Timestamp(5 * 3_600_000), &no_status).unwrap();
        assert_eq!(l.machines[0].open_incidents[0].sla, SlaState::Breached);
    }
}
