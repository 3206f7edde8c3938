//! Caller lookup: the machines that belong to a user or a host name, best
//! match first, each with why it matched, its health now and its open
//! incidents: what a help-desk operator needs when the phone rings.
//!
//! Host names come from the host-name index; users, full names and FQDNs
//! from the lookup index ([`LOOKUP_KEYS`]), which names the assets whose
//! current inventory mentions the query (utmp sessions, the last wtmp
//! login, `/etc/passwd`), each with the kinds of match it gives, so that
//! the machines are ranked from the indexes alone. Only the inventories of
//! the machines shown are decoded, to say why each matched: a lookup costs
//! what it finds, not the size of the fleet (see README, Performance).
//!
//! The index holds, per asset, [`lookup_keys`] of its inventory: every
//! query for which that inventory gives a reason. It is kept in step
//! wherever an inventory is stored (`ingest::store_inventory`) and when an
//! asset is merged away (`identity::merge`), and rebuilt at open when the
//! file's index version is not [`LOOKUP_INDEX_VERSION`].

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;

use atalaya_common::model::{Account, InterfaceKind, Inventory, Timestamp, Users};
use redb::{ReadableDatabase, ReadableTable, Table, WriteTransaction};
use serde::{Deserialize, Serialize};

use super::records::{AgentRecord, AssetMeta};
use super::schema::*;
use super::{Store, StoreError, dec};
use crate::helpers::pattern::glob;
use crate::helpers::series::stored_value;
use crate::helpers::series::{derive_percent, split_series};
use crate::records::incident::{IncidentRecord, Priority, Status};

/// What [`LOOKUP_KEYS`] holds: bump it when [`lookup_keys`] or the order
/// of [`MatchKind`] changes, so that stores written before are re-indexed
/// at open.
pub const LOOKUP_INDEX_VERSION: u64 = 1;

/// How far back "health now" looks for the latest point of each series, ms.
pub const HEALTH_WINDOW_MS: i64 = 10 * 60_000;

/// What matched, strongest first (the order ranks the machines).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MatchKind {
    /// The host name or the FQDN is the query (any case).
    Hostname,
    /// The user has a session open now (utmp).
    LoggedIn,
    /// The user was the last to log in (wtmp): the machine's usual user.
    LastLogin,
    /// The user has a local account for a person (not a system account).
    Account,
    /// The host name starts with the query, or fits its `*` pattern.
    HostnamePattern,
}

/// One reason a machine matched.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MatchReason {
    /// What matched.
    pub kind: MatchKind,
    /// The login name, for user matches.
    pub user: Option<String>,
    /// Session start (`logged_in`) or login time (`last_login`), when known.
    pub at: Option<Timestamp>,
    /// The reason in words, e.g. `maria logged in on tty2 since 2026-…`.
    pub text: String,
}

/// Use of one mounted filesystem.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MountUse {
    /// Mount point.
    pub mount: String,
    /// Space used, percent.
    pub used_percent: f64,
}

/// The latest value of the health series people look at first, each from
/// the last [`HEALTH_WINDOW_MS`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Health {
    /// Time of the newest of these points.
    pub at: Timestamp,
    /// `cpu.total_percent`.
    pub cpu_percent: Option<f64>,
    /// Memory in use, percent: (total − available) / total, as the
    /// incident rules see it.
    pub memory_used_percent: Option<f64>,
    /// `load.one`.
    pub load_one: Option<f64>,
    /// `filesystem.used_percent` per mount point, sorted by mount.
    pub filesystems: Vec<MountUse>,
}

/// Where an open incident stands against its SLA targets now.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SlaState {
    /// Within its targets.
    Ok,
    /// Unacknowledged past the at-risk point (escalated to second level).
    AtRisk,
    /// A target was missed.
    Breached,
}

impl SlaState {
    /// The name used in the API and the CLI.
    pub fn name(self) -> &'static str {
        match self {
            SlaState::Ok => "ok",
            SlaState::AtRisk => "at_risk",
            SlaState::Breached => "breached",
        }
    }

    /// The state of `r` at `now`.
    pub fn of(r: &IncidentRecord, now: Timestamp) -> Self {
        let unacknowledged = r.status == Status::Open;
        if r.acknowledge_breached
            || r.resolve_breached
            || now > r.resolve_due
            || (unacknowledged && now > r.acknowledge_due)
        {
            SlaState::Breached
        } else if unacknowledged && now >= r.at_risk_at {
            SlaState::AtRisk
        } else {
            SlaState::Ok
        }
    }
}

/// An open or acknowledged incident, in one line's worth of fields.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IncidentLine {
    /// Incident number.
    pub id: u64,
    /// `P1` … `P4`.
    pub priority: Priority,
    /// `open` or `acknowledged`.
    pub status: Status,
    /// One line.
    pub title: String,
    /// Rule name.
    pub rule: String,
    /// When it opened.
    pub opened_at: Timestamp,
    /// Who is on it.
    pub assignee: Option<String>,
    /// 1 or 2.
    pub level: u8,
    /// Acknowledge by.
    pub acknowledge_due: Timestamp,
    /// Resolve by.
    pub resolve_due: Timestamp,
    /// Against its SLA targets now.
    pub sla: SlaState,
}

impl IncidentLine {
    fn new(r: &IncidentRecord, now: Timestamp) -> Self {
        IncidentLine {
            id: r.id,
            priority: r.priority,
            status: r.status,
            title: r.title.clone(),
            rule: r.rule.clone(),
            opened_at: r.opened_at,
            assignee: r.assignee.clone(),
            level: r.level,
            acknowledge_due: r.acknowledge_due,
            resolve_due: r.resolve_due,
            sla: SlaState::of(r, now),
        }
    }
}

/// One machine of the caller.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CallerMachine {
    /// Asset id.
    pub asset_id: String,
    /// Host name.
    pub hostname: String,
    /// Fully qualified name, when known.
    pub fqdn: Option<String>,
    /// OS pretty name.
    pub os: Option<String>,
    /// Vendor and product, e.g. `LENOVO 21AH00FGSP`.
    pub model: Option<String>,
    /// Serial number (service tag).
    pub serial: Option<String>,
    /// Addresses of its interfaces, loopback and IPv6 link-local left out.
    pub addresses: Vec<IpAddr>,
    /// Why it matched, strongest first.
    pub why: Vec<MatchReason>,
    /// Last record received.
    pub last_seen: Timestamp,
    /// Its current agent (the newest one that is not revoked).
    pub agent_id: Option<String>,
    /// That agent's status, as `GET /api/v1/agents` says it (`connected`,
    /// `silent`, `disconnected`, `revoked`, `never_seen`; `unknown` when
    /// the asset has no agent record).
    pub agent_status: String,
    /// Health now (`None`: no sample in the last [`HEALTH_WINDOW_MS`]).
    pub health: Option<Health>,
    /// Open and acknowledged incidents, most urgent first.
    pub open_incidents: Vec<IncidentLine>,
}

/// The answer to a lookup.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Lookup {
    /// The query as given (trimmed).
    pub query: String,
    /// Machines that matched, before the limit.
    pub total: usize,
    /// The best of them, best first.
    pub machines: Vec<CallerMachine>,
}

impl Store {
    /// The machines of the user or host `query`, best first, at most
    /// `limit` of them with their health and open incidents. `status` tells
    /// an agent's status (the server knows its sessions; the store does not).
    pub fn lookup(
        &self,
        query: &str,
        limit: usize,
        now: Timestamp,
        status: &dyn Fn(&AgentRecord) -> &'static str,
    ) -> Result<Lookup, StoreError> {
        let query = query.trim();
        let lower = query.to_lowercase();
        let mut why: BTreeMap<String, Vec<MatchReason>> = BTreeMap::new();
        let txn = self.db.begin_read()?;
        {
            // Host names: a prefix range of the index (lower-case keys).
            let prefix = lower.split('*').next().unwrap_or("");
            let pattern = lower.contains('*');
            for r in txn.open_table(HOSTNAMES)?.range((prefix, "")..)? {
                let (k, _) = r?;
                let (host, id) = k.value();
                if !host.starts_with(prefix) {
                    break;
                }
                let reason = if host == lower {
                    host_reason(MatchKind::Hostname, format!("host name {host}"))
                } else if !pattern {
                    host_reason(
                        MatchKind::HostnamePattern,
                        format!("host name {host} starts with {query}"),
                    )
                } else if glob(&lower, host) {
                    host_reason(
                        MatchKind::HostnamePattern,
                        format!("host name {host} fits {query}"),
                    )
                } else {
                    continue;
                };
                why.entry(id.to_owned()).or_default().push(reason);
            }
        }
        // Users, full names and FQDNs: the assets the lookup index names,
        // with the kinds of match each one's inventory gives. Only the
        // inventories of the machines shown are decoded, to say why.
        let mut indexed: BTreeMap<String, u8> = BTreeMap::new();
        if !lower.contains('*') {
            for r in txn.open_table(LOOKUP_KEYS)?.range((lower.as_str(), "")..)? {
                let (k, v) = r?;
                let (key, id) = k.value();
                if key != lower {
                    break;
                }
                indexed.insert(id.to_owned(), v.value());
            }
        }
        let assets = txn.open_table(ASSETS)?;
        let ids: BTreeSet<&str> = why
            .keys()
            .chain(indexed.keys())
            .map(String::as_str)
            .collect();
        let mut ranked: Vec<(AssetMeta, Option<MatchKind>)> = Vec::with_capacity(ids.len());
        for id in ids {
            // The index may name an asset merged away a moment ago.
            let Some(v) = assets.get(id)? else {
                continue;
            };
            let meta: AssetMeta = dec("assets", v.value())?;
            let by_host = why.get(id).and_then(|r| r.iter().map(|r| r.kind).min());
            let by_index = indexed.get(id).and_then(|m| strongest(*m));
            ranked.push((meta, by_host.into_iter().chain(by_index).min()));
        }
        ranked.sort_by(|(a, ka), (b, kb)| {
            ka.cmp(kb)
                .then(b.last_seen.cmp(&a.last_seen))
                .then_with(|| a.hostname.cmp(&b.hostname))
        });
        let total = ranked.len();
        let inventories = txn.open_table(INVENTORY)?;
        let agents = txn.open_table(AGENTS)?;
        let open = txn.open_table(OPEN_INCIDENTS)?;
        let incidents = txn.open_table(INCIDENTS)?;
        let mut machines = Vec::with_capacity(limit.min(total));
        for (meta, _) in ranked.into_iter().take(limit) {
            let inventory: Option<Inventory> = match inventories.get(meta.id.as_str())? {
                Some(v) => Some(dec("inventory", v.value())?),
                None => None,
            };
            let mut reasons = why.remove(&meta.id).unwrap_or_default();
            if indexed.contains_key(&meta.id)
                && let Some(inv) = &inventory
            {
                reasons.extend(inventory_reasons(inv, &lower));
            }
            reasons.sort_by_key(|r| r.kind);
            reasons.dedup_by(|a, b| a.kind == b.kind && a.text == b.text);
            let mut records = Vec::new();
            for agent in &meta.agent_ids {
                if let Some(v) = agents.get(agent.as_str())? {
                    records.push(dec::<AgentRecord>("agents", v.value())?);
                }
            }
            let agent = records
                .iter()
                .max_by_key(|a| (a.revoked_at.is_none(), a.last_seen));
            let mut open_incidents = Vec::new();
            for r in open.range((meta.id.as_str(), "", "")..)? {
                let (k, v) = r?;
                if k.value().0 != meta.id {
                    break;
                }
                if let Some(rec) = incidents.get(v.value())? {
                    let rec: IncidentRecord = dec("incidents", rec.value())?;
                    open_incidents.push(IncidentLine::new(&rec, now));
                }
            }
            open_incidents.sort_by_key(|i| (i.priority, i.opened_at, i.id));
            let inv = inventory.as_ref();
            let system = inv.map(|i| &i.hardware.system);
            let model = system
                .map(|s| {
                    [s.vendor.as_deref(), s.product.as_deref()]
                        .into_iter()
                        .flatten()
                        .collect::<Vec<_>>()
                        .join(" ")
                })
                .filter(|m| !m.is_empty());
            machines.push(CallerMachine {
                health: self.health(&meta.id, now)?,
                asset_id: meta.id.clone(),
                fqdn: inv.and_then(|i| i.host.fqdn.clone()),
                os: meta.os.clone(),
                model,
                serial: system.and_then(|s| s.serial.clone()),
                addresses: inv.map(addresses).unwrap_or_default(),
                why: reasons,
                last_seen: meta.last_seen,
                agent_id: agent.map(|a| a.id.clone()),
                agent_status: agent.map_or("unknown", status).to_owned(),
                open_incidents,
                hostname: meta.hostname,
            });
        }
        Ok(Lookup {
            query: query.to_owned(),
            total,
            machines,
        })
    }

    /// The latest CPU, memory, load and filesystem use of `asset` within
    /// [`HEALTH_WINDOW_MS`] before `now`; `None` when there is none.
    pub fn health(&self, asset: &str, now: Timestamp) -> Result<Option<Health>, StoreError> {
        let from = Timestamp(now.0.saturating_sub(HEALTH_WINDOW_MS));
        // An agent's clock a little ahead of ours still counts as now.
        let to = Timestamp(now.0.saturating_add(HEALTH_WINDOW_MS));
        let mut newest: Option<Timestamp> = None;
        let mut latest_of = |points: Vec<(Timestamp, f64)>| {
            let last = points.last().copied();
            if let Some((at, _)) = last {
                newest = newest.max(Some(at));
            }
            last.map(|(_, v)| v)
        };
        let read = |series: &str| self.metric(asset, series, from, to, None);
        let cpu_percent = latest_of(read("cpu.total_percent")?);
        let load_one = latest_of(read("load.one")?);
        // As the incident rules see it (see `series::DERIVED_PERCENTS`).
        let memory = derive_percent(
            &read("memory.available_bytes")?,
            &read("memory.total_bytes")?,
            true,
        );
        let memory_used_percent = latest_of(memory).map(|v| stored_value("memory.used_percent", v));
        let mut filesystems = Vec::new();
        for name in self.series_names(asset)? {
            let (metric, mount) = split_series(&name);
            if metric != "filesystem.used_percent" {
                continue;
            }
            if let Some(used_percent) = latest_of(read(&name)?) {
                filesystems.push(MountUse {
                    mount: mount.to_owned(),
                    used_percent,
                });
            }
        }
        filesystems.sort_by(|a, b| a.mount.cmp(&b.mount));
        Ok(newest.map(|at| Health {
            at,
            cpu_percent,
            memory_used_percent,
            load_one,
            filesystems,
        }))
    }
}

/// The lookup index rows of `inv`: each key (lower case) with the kinds of
/// match it gives (a bit per [`MatchKind`]). The keys are the login names
/// of its sessions, of its last login and of its person accounts, the full
/// names of those logins' accounts, and its FQDN: every query for which
/// `inventory_reasons` gives a reason (a property test below holds it to
/// that).
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
            let kinds = inventory_reasons(inv, &k)
                .iter()
                .fold(0, |m, r| m | kind_bit(r.kind));
            (k, kinds)
        })
        .filter(|(_, kinds)| *kinds != 0)
        .collect()
}

/// A kind's bit in a lookup index row: its place in [`MatchKind`].
fn kind_bit(kind: MatchKind) -> u8 {
    1 << kind as u8
}

/// The strongest kind of match among the bits of `kinds`.
fn strongest(kinds: u8) -> Option<MatchKind> {
    [
        MatchKind::Hostname,
        MatchKind::LoggedIn,
        MatchKind::LastLogin,
        MatchKind::Account,
        MatchKind::HostnamePattern,
    ]
    .into_iter()
    .find(|k| kinds & kind_bit(*k) != 0)
}

/// Why `inv` matches the lower-case query `lower` by its users or FQDN.
fn inventory_reasons(inv: &Inventory, lower: &str) -> Vec<MatchReason> {
    let mut reasons = user_reasons(&inv.users, lower);
    if let Some(fqdn) = &inv.host.fqdn
        && fqdn.to_lowercase() == lower
    {
        reasons.push(host_reason(MatchKind::Hostname, format!("FQDN {fqdn}")));
    }
    reasons
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

/// A full name as the index keys it and as [`user_reasons`] compares it.
fn full_name_key(full_name: &str) -> String {
    full_name.trim().to_lowercase()
}

/// An account a person logs in with: not a system account, and a shell
/// that lets one in.
fn is_person(a: &Account) -> bool {
    !a.system && !a.shell.ends_with("nologin") && !a.shell.ends_with("/false")
}

fn host_reason(kind: MatchKind, text: String) -> MatchReason {
    MatchReason {
        kind,
        user: None,
        at: None,
        text,
    }
}

/// Reasons the user `lower` (a login name, or a full name, lower case)
/// belongs on this machine: sessions, the last login, a person's account.
fn user_reasons(users: &Users, lower: &str) -> Vec<MatchReason> {
    // A full name names its login; a name with no local account (a
    // directory user) still matches its sessions and logins.
    let logins: Vec<&str> = users
        .accounts
        .iter()
        .filter(|a| {
            a.full_name
                .as_deref()
                .is_some_and(|f| full_name_key(f) == lower)
        })
        .map(|a| a.name.as_str())
        .collect();
    let is_user = |u: &str| u.to_lowercase() == lower || logins.contains(&u);
    let mut out = Vec::new();
    let mut sessions: BTreeMap<&str, Vec<&atalaya_common::model::Session>> = BTreeMap::new();
    for s in users.sessions.iter().filter(|s| is_user(&s.user)) {
        sessions.entry(s.user.as_str()).or_default().push(s);
    }
    for (user, mut list) in sessions {
        // Oldest first: the console session before the ssh one opened later.
        list.sort_by_key(|s| (s.started_at, s.tty.as_str()));
        let since = list.iter().filter_map(|s| s.started_at).min();
        let ttys: Vec<String> = list
            .iter()
            .map(|s| match &s.remote_host {
                Some(h) => format!("{} from {h}", s.tty),
                None => s.tty.clone(),
            })
            .collect();
        let mut text = format!("{user} logged in on {}", ttys.join(", "));
        if let Some(t) = since {
            text.push_str(&format!(" since {}", whole_seconds(t)));
        }
        out.push(MatchReason {
            kind: MatchKind::LoggedIn,
            user: Some(user.to_owned()),
            at: since,
            text,
        });
    }
    if let Some(l) = users.last_login.as_ref().filter(|l| is_user(&l.user)) {
        let from = l
            .remote_host
            .as_ref()
            .map(|h| format!(" from {h}"))
            .unwrap_or_default();
        out.push(MatchReason {
            kind: MatchKind::LastLogin,
            user: Some(l.user.clone()),
            at: Some(l.at),
            text: format!(
                "last login {} on {}{from} at {}",
                l.user,
                l.tty,
                whole_seconds(l.at)
            ),
        });
    }
    for a in &users.accounts {
        if !is_person(a) || !is_user(&a.name) {
            continue;
        }
        let name = a
            .full_name
            .as_deref()
            .filter(|f| !f.is_empty())
            .map(|f| format!(" ({f})"))
            .unwrap_or_default();
        out.push(MatchReason {
            kind: MatchKind::Account,
            user: Some(a.name.clone()),
            at: None,
            text: format!("local account {}{name}, uid {}", a.name, a.uid),
        });
    }
    out
}

/// A time for people: milliseconds are noise in a sentence.
fn whole_seconds(t: Timestamp) -> Timestamp {
    Timestamp::from_secs(t.as_secs())
}

/// Addresses worth showing: no loopback, no IPv6 link-local.
fn addresses(inv: &Inventory) -> Vec<IpAddr> {
    let mut out: Vec<IpAddr> = inv
        .network
        .interfaces
        .iter()
        .filter(|i| i.kind != InterfaceKind::Loopback)
        .flat_map(|i| i.addresses.iter().map(|n| n.address))
        .filter(|a| match a {
            IpAddr::V4(v4) => !v4.is_loopback(),
            IpAddr::V6(v6) => !v6.is_loopback() && (v6.segments()[0] & 0xffc0) != 0xfe80,
        })
        .collect();
    // IPv4 first: that is what people read out on the phone.
    out.sort_by_key(|a| (a.is_ipv6(), *a));
    out.dedup();
    out
}

#[cfg(test)]
mod tests {
    use atalaya_common::model::{
        Account, FilesystemUsage, HealthSample, LoadAverage, Login, MemoryUsage, Session,
    };

    use proptest::prelude::*;

    use super::super::testutil::*;
    use super::*;
    use crate::desk::DeskStore;
    use crate::incidents::lifecycle::StaffAction;
    use crate::incidents::sla::SlaPolicies;
    use crate::incidents::{Action, ActionKind, IncidentKey, Severity};

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
        let l = s
            .lookup(" Maria ", 20, Timestamp(2_000), &no_status)
            .unwrap();
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
        let l = s
            .lookup("maría garcía", 20, Timestamp(2_000), &no_status)
            .unwrap();
        assert_eq!(hosts(&l), [("desk-01", MatchKind::LoggedIn)]);

        let l = s.lookup("maria", 2, Timestamp(2_000), &no_status).unwrap();
        assert_eq!((l.total, l.machines.len()), (4, 2));
        assert_eq!(
            s.lookup("nobody", 20, Timestamp(2_000), &no_status)
                .unwrap()
                .total,
            0
        );
    }

    #[test]
    fn host_names_match_exactly_by_fqdn_by_prefix_and_by_pattern() {
        let (_d, s) = fleet();
        let now = Timestamp(2_000);
        let l = s.lookup("MARIA-PC", 20, now, &no_status).unwrap();
        assert_eq!(hosts(&l), [("maria-pc", MatchKind::Hostname)]);
        let l = s
            .lookup("Desk-01.Corp.Example", 20, now, &no_status)
            .unwrap();
        assert_eq!(hosts(&l), [("desk-01", MatchKind::Hostname)]);
        assert_eq!(l.machines[0].why[0].text, "FQDN desk-01.corp.example");
        let l = s.lookup("srv", 20, now, &no_status).unwrap();
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
        let l = s.lookup("mari*", 20, now, &no_status).unwrap();
        assert_eq!(hosts(&l), [("maria-pc", MatchKind::HostnamePattern)]);
        assert_eq!(l.machines[0].why[0].text, "host name maria-pc fits mari*");
        let l = s.lookup("*-03", 20, now, &no_status).unwrap();
        assert_eq!(hosts(&l), [("srv-03", MatchKind::HostnamePattern)]);
        let l = s.lookup("*", 20, now, &no_status).unwrap();
        assert_eq!(l.total, 5);
    }

    /// Every row of the lookup index: `(key, asset) → kinds`.
    fn index_rows(s: &Store) -> BTreeMap<(String, String), u8> {
        let txn = s.db.begin_read().unwrap();
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
        let l = s.lookup("maria", 20, now, &no_status).unwrap();
        assert_eq!(
            kinds_of(&l, "desk-01"),
            Some(vec![MatchKind::LoggedIn, MatchKind::Account])
        );

        // She logs out (a delta): her account still names the machine.
        let mut v2 = v1.clone();
        v2.users.sessions.clear();
        v2.canonicalize();
        s.commit(&[delta("a1", 2, 3_000, &v1, &v2)]).unwrap();
        let l = s.lookup("maria", 20, now, &no_status).unwrap();
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
            Some(&kind_bit(MatchKind::Account))
        );

        // Her account is removed and the machine renamed in DNS (a snapshot):
        // neither her login, nor her full name, nor the old FQDN find it.
        let mut v3 = v2.clone();
        v3.users.accounts.clear();
        v3.host.fqdn = Some("desk-01.lab.example".into());
        v3.canonicalize();
        s.commit(&[snapshot("a1", 3, 4_000, &v3)]).unwrap();
        let l = s.lookup("maria", 20, now, &no_status).unwrap();
        assert_eq!(kinds_of(&l, "desk-01"), None);
        assert_eq!(l.total, 3, "{:?}", hosts(&l));
        assert_eq!(
            s.lookup("María García", 20, now, &no_status).unwrap().total,
            0
        );
        assert_eq!(
            s.lookup("desk-01.corp.example", 20, now, &no_status)
                .unwrap()
                .total,
            0
        );
        let l = s
            .lookup("DESK-01.lab.example", 20, now, &no_status)
            .unwrap();
        assert_eq!(hosts(&l), [("desk-01", MatchKind::Hostname)]);
        let rows: Vec<_> = index_rows(&s)
            .into_iter()
            .filter(|((_, a), _)| *a == asset)
            .map(|((k, _), kinds)| (k, kinds))
            .collect();
        assert_eq!(
            rows,
            [(
                "desk-01.lab.example".to_owned(),
                kind_bit(MatchKind::Hostname)
            )]
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
        assert_eq!(s.lookup("pc-7", 20, now, &no_status).unwrap().total, 2);

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
            let l = s.lookup(q, 20, now, &no_status).unwrap();
            let ids: Vec<&str> = l.machines.iter().map(|m| m.asset_id.as_str()).collect();
            assert_eq!(ids, [asset.as_str()], "{q}");
        }
        let l = s.lookup("ana", 20, now, &no_status).unwrap();
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
            Some(&(kind_bit(MatchKind::LoggedIn) | kind_bit(MatchKind::Account)))
        );
        let before = s.lookup("maria", 20, now, &no_status).unwrap();
        assert_eq!(before.total, 4);
        // As a file written before the index: the table empty, no version.
        let txn = s.db.begin_write().unwrap();
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
        let l = s.lookup("maria", 20, now, &no_status).unwrap();
        assert_eq!(hosts(&l), [("maria-pc", MatchKind::HostnamePattern)]);
        drop(s);

        let s = Store::open(&dir.path().join("store.redb")).unwrap();
        assert_eq!(index_rows(&s), built);
        assert_eq!(s.lookup("maria", 20, now, &no_status).unwrap(), before);
        let version =
            s.db.begin_read()
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
                        kinds.and_then(strongest),
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
        let l = s.lookup("maria", 20, Timestamp(now), &no_status).unwrap();
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
        let l = s
            .lookup("desk-01", 20, Timestamp(13 * 60_000), &no_status)
            .unwrap();
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
        let l = s
            .lookup("desk-01", 20, Timestamp(14 * 60_000), &no_status)
            .unwrap();
        let first = &l.machines[0].open_incidents[0];
        assert_eq!(
            (first.status, first.sla),
            (Status::Acknowledged, SlaState::Ok)
        );
        // P1 resolve target: 4 h.
        let l = s
            .lookup("desk-01", 20, Timestamp(5 * 3_600_000), &no_status)
            .unwrap();
        assert_eq!(l.machines[0].open_incidents[0].sla, SlaState::Breached);
    }
}
