//! What the caller lookup keeps and reads: its index, and the plain reads
//! of the records it shows. Which machines match, in what order and why
//! is decided above (the lookup logic); nothing here ranks or words.
//!
//! The index (table [`LOOKUP_KEYS`]) holds, per asset, [`lookup_keys`] of
//! its current inventory: every user, full name and FQDN by which a lookup
//! finds it, each with the kinds of match it gives, so that machines are
//! ranked from the indexes alone and only the inventories of the machines
//! shown are decoded (see README, Performance). It is kept in step wherever
//! an inventory is stored (`ingest::store_inventory`) and when an asset is
//! merged away (`identity::merge`), and rebuilt at open when the file's
//! index version is not [`LOOKUP_INDEX_VERSION`].

use std::collections::{BTreeMap, BTreeSet};

use atalaya_common::model::Inventory;
use redb::{ReadableDatabase, ReadableTable, Table, WriteTransaction};

use super::records::{AgentRecord, AssetMeta};
use super::schema::*;
use super::{Store, StoreError, dec};
use crate::helpers::users::{full_name_key, is_person, user_matches};
use crate::records::lookup::MatchKind;

/// What [`LOOKUP_KEYS`] holds: bump it when [`lookup_keys`] or the order
/// of [`MatchKind`] changes, so that stores written before are re-indexed
/// at open.
pub const LOOKUP_INDEX_VERSION: u64 = 1;

impl Store {
    /// Every `(host name, asset id)` of the host-name index whose
    /// lower-case host name starts with `prefix`, in index order.
    pub fn hostnames_from(&self, prefix: &str) -> Result<Vec<(String, String)>, StoreError> {
        let txn = self.db.begin_read()?;
        let mut out = Vec::new();
        for r in txn.open_table(HOSTNAMES)?.range((prefix, "")..)? {
            let (k, _) = r?;
            let (host, id) = k.value();
            if !host.starts_with(prefix) {
                break;
            }
            out.push((host.to_owned(), id.to_owned()));
        }
        Ok(out)
    }

    /// The assets the lookup index names for the lower-case `key`, each
    /// with its kinds of match (a [`MatchKind::bit`] each).
    pub fn lookup_index(&self, key: &str) -> Result<BTreeMap<String, u8>, StoreError> {
        let txn = self.db.begin_read()?;
        let mut out = BTreeMap::new();
        for r in txn.open_table(LOOKUP_KEYS)?.range((key, "")..)? {
            let (k, v) = r?;
            let (found, id) = k.value();
            if found != key {
                break;
            }
            out.insert(id.to_owned(), v.value());
        }
        Ok(out)
    }

    /// The records of the assets `ids`, in that order; an id with no asset
    /// (merged away since it was found) is left out.
    pub fn asset_metas(&self, ids: &[&str]) -> Result<Vec<AssetMeta>, StoreError> {
        let txn = self.db.begin_read()?;
        let assets = txn.open_table(ASSETS)?;
        let mut out = Vec::with_capacity(ids.len());
        for id in ids {
            if let Some(v) = assets.get(*id)? {
                out.push(dec("assets", v.value())?);
            }
        }
        Ok(out)
    }

    /// Every asset's metadata, by id.
    pub fn all_asset_metas(&self) -> Result<Vec<AssetMeta>, StoreError> {
        let txn = self.db.begin_read()?;
        let assets = txn.open_table(ASSETS)?;
        assets
            .iter()?
            .map(|r| {
                let (_, v) = r?;
                dec("assets", v.value())
            })
            .collect()
    }

    /// The current inventories of the assets `ids` that have one, by id.
    pub fn inventories(&self, ids: &[&str]) -> Result<BTreeMap<String, Inventory>, StoreError> {
        let txn = self.db.begin_read()?;
        let inventories = txn.open_table(INVENTORY)?;
        let mut out = BTreeMap::new();
        for id in ids {
            if let Some(v) = inventories.get(*id)? {
                out.insert((*id).to_owned(), dec("inventory", v.value())?);
            }
        }
        Ok(out)
    }

    /// The agents `ids` that have a record, in that order.
    pub fn agents(&self, ids: &[&str]) -> Result<Vec<AgentRecord>, StoreError> {
        let txn = self.db.begin_read()?;
        let agents = txn.open_table(AGENTS)?;
        let mut out = Vec::with_capacity(ids.len());
        for id in ids {
            if let Some(v) = agents.get(*id)? {
                out.push(dec("agents", v.value())?);
            }
        }
        Ok(out)
    }
}

/// The lookup index rows of `inv`: each key (lower case) with the kinds of
/// match it gives (a [`MatchKind::bit`] each). The keys are the login names
/// of its sessions, of its last login and of its person accounts, the full
/// names of those logins' accounts, and its FQDN: every name that stands
/// for one of its users or for the machine (a property test of the lookup
/// holds its reasons to that).
pub fn lookup_keys(inv: &Inventory) -> BTreeMap<String, u8> {
    let users = &inv.users;
    let logins: BTreeSet<&str> = users
        .sessions
        .iter()
        .map(|s| s.user.as_str())
        .chain(users.last_login.iter().map(|l| l.user.as_str()))
        .chain(
            users
                .accounts
                .iter()
                .filter(|a| is_person(a))
                .map(|a| a.name.as_str()),
        )
        .collect();
    let mut keys: BTreeSet<String> = logins.iter().map(|l| l.to_lowercase()).collect();
    // A full name finds its login's sessions, last login and account.
    for a in users
        .accounts
        .iter()
        .filter(|a| logins.contains(a.name.as_str()))
    {
        if let Some(f) = &a.full_name {
            keys.insert(full_name_key(f));
        }
    }
    if let Some(fqdn) = &inv.host.fqdn {
        keys.insert(fqdn.to_lowercase());
    }
    keys.into_iter()
        .map(|k| {
            let kinds = kinds_of(inv, &k);
            (k, kinds)
        })
        .filter(|(_, kinds)| *kinds != 0)
        .collect()
}

/// The kinds of match `inv` gives the lower-case name `lower` by its
/// users or its FQDN, a [`MatchKind::bit`] each.
fn kinds_of(inv: &Inventory, lower: &str) -> u8 {
    let users = user_matches(&inv.users, lower);
    let fqdn = inv
        .host
        .fqdn
        .as_ref()
        .is_some_and(|f| f.to_lowercase() == lower);
    [
        (fqdn, MatchKind::Hostname),
        (!users.sessions.is_empty(), MatchKind::LoggedIn),
        (users.last_login.is_some(), MatchKind::LastLogin),
        (!users.accounts.is_empty(), MatchKind::Account),
    ]
    .into_iter()
    .filter(|(found, _)| *found)
    .fold(0, |kinds, (_, kind)| kinds | kind.bit())
}

/// Moves `asset`'s rows of the lookup index from those of inventory `old`
/// to those of `new` (`None`: no inventory, no rows).
pub(crate) fn replace_lookup_keys(
    table: &mut Table<'_, (&'static str, &'static str), u8>,
    asset: &str,
    old: Option<&Inventory>,
    new: Option<&Inventory>,
) -> Result<(), StoreError> {
    let rows = |i: Option<&Inventory>| i.map(lookup_keys).unwrap_or_default();
    let (old, new) = (rows(old), rows(new));
    for k in old.keys().filter(|k| !new.contains_key(*k)) {
        table.remove((k.as_str(), asset))?;
    }
    // A key kept may give other kinds of match now (she logged out).
    for (k, kinds) in new.iter().filter(|(k, v)| old.get(*k) != Some(*v)) {
        table.insert((k.as_str(), asset), *kinds)?;
    }
    Ok(())
}

/// Builds the lookup index anew from every current inventory, in `txn`,
/// and records [`LOOKUP_INDEX_VERSION`]; returns how many inventories it
/// indexed. An inventory that does not decode is left out with a warning
/// (a lookup will not find that asset by user) rather than keep the
/// collector from starting.
pub(crate) fn rebuild_lookup_index(txn: &WriteTransaction) -> Result<u64, StoreError> {
    txn.delete_table(LOOKUP_KEYS)?;
    let mut index = txn.open_table(LOOKUP_KEYS)?;
    let mut indexed = 0;
    for r in txn.open_table(INVENTORY)?.iter()? {
        let (id, v) = r?;
        let id = id.value();
        match dec::<Inventory>("inventory", v.value()) {
            Ok(inv) => {
                replace_lookup_keys(&mut index, id, None, Some(&inv))?;
                indexed += 1;
            }
            Err(e) => {
                tracing::warn!(asset = id, error = %e, "inventory left out of the lookup index");
            }
        }
    }
    txn.open_table(META)?
        .insert(META_LOOKUP_INDEX, LOOKUP_INDEX_VERSION)?;
    Ok(indexed)
}

#[cfg(test)]
mod tests {
    use atalaya_common::model::{Account, Login, Session, Timestamp, Users};

    use super::super::testutil::*;
    use super::*;

    fn person(name: &str, full: Option<&str>) -> Account {
        Account {
            name: name.into(),
            uid: 1000,
            full_name: full.map(Into::into),
            shell: "/bin/bash".into(),
            ..Account::default()
        }
    }

    /// maria is logged in and has an account; ana logged in last; svc is
    /// a system account; the machine has an FQDN.
    fn desk() -> Inventory {
        let mut inv = machine("desk-01", Some("uuid-1"), "mid-1", "00:aa:00:00:00:01");
        inv.host.fqdn = Some("Desk-01.corp.example".into());
        inv.users = Users {
            accounts: vec![
                person("maria", Some("María García")),
                Account {
                    system: true,
                    ..person("svc", Some("Service"))
                },
            ],
            sessions: vec![Session {
                user: "maria".into(),
                tty: "tty2".into(),
                ..Session::default()
            }],
            last_login: Some(Login {
                user: "Ana".into(),
                tty: "pts/0".into(),
                ..Login::default()
            }),
            ..Users::default()
        };
        inv.canonicalize();
        inv
    }

    #[test]
    fn an_inventory_is_indexed_by_its_users_their_full_names_and_its_fqdn() {
        let both = MatchKind::LoggedIn.bit() | MatchKind::Account.bit();
        let want: BTreeMap<String, u8> = [
            ("ana", MatchKind::LastLogin.bit()),
            ("desk-01.corp.example", MatchKind::Hostname.bit()),
            ("maria", both),
            ("maría garcía", both),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect();
        assert_eq!(lookup_keys(&desk()), want);
    }

    #[test]
    fn the_reads_give_what_the_indexes_and_tables_hold_and_skip_unknown_ids() {
        let (_d, s) = temp_store();
        let other = machine("desk-02", Some("uuid-2"), "mid-2", "00:aa:00:00:00:02");
        s.add_agent(&AgentRecord::enrolled(
            "a1",
            "desk-01",
            "",
            [0; 32],
            "0.1.0",
            Timestamp(0),
        ))
        .unwrap();
        s.commit(&[
            snapshot("a1", 1, 1_000, &desk()),
            snapshot("a2", 1, 1_000, &other),
        ])
        .unwrap();
        let a1 = s.agent_asset_id("a1").unwrap().unwrap();
        let a2 = s.agent_asset_id("a2").unwrap().unwrap();

        assert_eq!(
            s.hostnames_from("desk-").unwrap(),
            [
                ("desk-01".to_owned(), a1.clone()),
                ("desk-02".to_owned(), a2.clone())
            ]
        );
        assert_eq!(s.hostnames_from("desk-02").unwrap().len(), 1);
        assert!(s.hostnames_from("lab").unwrap().is_empty());
        assert_eq!(
            s.lookup_index("ana").unwrap(),
            BTreeMap::from([(a1.clone(), MatchKind::LastLogin.bit())])
        );
        assert!(s.lookup_index("an").unwrap().is_empty());

        let metas = s.asset_metas(&[&a2, "asset-404", &a1]).unwrap();
        let ids: Vec<&str> = metas.iter().map(|m| m.id.as_str()).collect();
        assert_eq!(ids, [a2.as_str(), a1.as_str()]);
        let inventories = s.inventories(&[&a1, "asset-404"]).unwrap();
        assert_eq!(inventories.keys().collect::<Vec<_>>(), [&a1]);
        assert_eq!(inventories[&a1].host.hostname, "desk-01");
        let agents = s.agents(&["a2", "a1"]).unwrap();
        assert_eq!(agents.len(), 1, "a2 sent data but never enrolled");
        assert_eq!(agents[0].id, "a1");
    }
}
