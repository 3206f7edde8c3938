//! The caller lookup: the machines that belong to a user or a host name,
//! best match first, each with why it matched, its health now and its open
//! incidents: what a help-desk operator needs when the phone rings.
//!
//! Pure: it is fed what the store holds and the time, and reads nothing
//! itself. A lookup goes:
//! 1. [`Query::new`] says which host names (a prefix of the host-name
//!    index) and which key of the lookup index to read;
//! 2. [`Query::matches`] takes what those reads found: [`Matches`] names
//!    the candidate machines;
//! 3. [`Matches::rank`] puts the candidates that exist best first, from
//!    the indexes alone: strongest kind of match, then the machine seen
//!    most recently, then the host name;
//! 4. [`Matches::machine`] tells each machine shown, from its inventory,
//!    agents, incidents and health.
//!
//! Which of an inventory's users a name stands for is
//! [`crate::helpers::users`], shared with the index that names the
//! candidates, so that a machine the index ranks always has its reasons.
//!
//! # Layout
//! - [`reasons`]: why a machine matched, in words.
//! - [`health`]: the latest point of the health series people look at first.
//! - [`incident`]: open incidents in a line each, with their SLA state now.

pub mod health;
pub mod incident;
pub mod reasons;

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;

use atalaya_common::model::{InterfaceKind, Inventory, Timestamp};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

pub use crate::records::lookup::MatchKind;
pub use health::{HEALTH_WINDOW_MS, Health, MountUse};
pub use incident::{IncidentLine, SlaState};

use crate::people::PersonCard;
use crate::records::incident::IncidentRecord;

/// One reason a machine matched.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
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

/// One machine of the caller.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
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
    #[schema(value_type = Vec<String>)]
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
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Lookup {
    /// The query as given (trimmed).
    pub query: String,
    /// Machines that matched, before the limit.
    pub total: usize,
    /// The best of them, best first.
    pub machines: Vec<CallerMachine>,
    /// The people of the directory the query names (by name, login, phone
    /// number or extension), best first; their logins' machines are among
    /// `machines`.
    #[serde(default)]
    pub people: Vec<PersonCard>,
}

/// A lookup's query: a login name, a full name, a host name or FQDN, a
/// host-name prefix, or a host pattern with `*`; any case.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Query {
    /// As given, trimmed.
    text: String,
    /// Lower case, as the indexes keep their keys.
    lower: String,
}

impl Query {
    /// The query `raw`, surrounding blanks left out.
    pub fn new(raw: &str) -> Self {
        let text = raw.trim();
        Query {
            text: text.to_owned(),
            lower: text.to_lowercase(),
        }
    }

    /// The query as given, trimmed.
    pub fn text(&self) -> &str {
        &self.text
    }

    /// The host names to read: those that start with this (lower case).
    pub fn host_prefix(&self) -> &str {
        self.lower.split('*').next().unwrap_or("")
    }

    /// The key of the lookup index to read; `None` for a pattern, which
    /// matches host names only.
    pub fn index_key(&self) -> Option<&str> {
        (!self.is_pattern()).then_some(self.lower.as_str())
    }

    fn is_pattern(&self) -> bool {
        self.lower.contains('*')
    }

    /// The machines named by `hosts`, the `(lower-case host name, asset
    /// id)` pairs of the host-name index under [`Query::host_prefix`], and
    /// by `indexed`, the assets the lookup index names for
    /// [`Query::index_key`] with their kinds of match (a
    /// [`MatchKind::bit`] each).
    pub fn matches(
        &self,
        hosts: impl IntoIterator<Item = (String, String)>,
        indexed: BTreeMap<String, u8>,
    ) -> Matches {
        let mut by_host: BTreeMap<String, Vec<MatchReason>> = BTreeMap::new();
        for (host, id) in hosts {
            if let Some(reason) = reasons::host_reason(self, &host) {
                by_host.entry(id).or_default().push(reason);
            }
        }
        Matches {
            lower: self.lower.clone(),
            by_host,
            indexed: if self.is_pattern() {
                BTreeMap::new()
            } else {
                indexed
            },
            logins: Vec::new(),
        }
    }
}

/// The machines a query found, with what the indexes say of each.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Matches {
    /// The query, lower case.
    lower: String,
    /// Assets whose host name matched, with why.
    by_host: BTreeMap<String, Vec<MatchReason>>,
    /// Assets the lookup index names, with their kinds of match.
    indexed: BTreeMap<String, u8>,
    /// Logins (lower case) of the directory's people the query named,
    /// whose machines match too.
    logins: Vec<String>,
}

/// What ranking weighs of a machine besides how it matched.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RankFacts<'a> {
    /// Asset id.
    pub asset_id: &'a str,
    /// Host name.
    pub hostname: &'a str,
    /// Last record received.
    pub last_seen: Timestamp,
}

/// One agent of a machine shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AgentFacts<'a> {
    /// Agent id.
    pub id: &'a str,
    /// Whether it was revoked.
    pub revoked: bool,
    /// Last record or connection seen.
    pub last_seen: Option<Timestamp>,
    /// Its status now, as `GET /api/v1/agents` says it.
    pub status: &'a str,
}

/// What the store holds of one machine shown.
#[derive(Debug, Clone, PartialEq)]
pub struct MachineFacts<'a> {
    /// Asset id.
    pub asset_id: &'a str,
    /// Host name.
    pub hostname: &'a str,
    /// OS pretty name.
    pub os: Option<&'a str>,
    /// Last record received.
    pub last_seen: Timestamp,
    /// Current inventory (`None` before the first snapshot).
    pub inventory: Option<&'a Inventory>,
    /// Its agents that have a record, oldest first.
    pub agents: Vec<AgentFacts<'a>>,
    /// Its open and acknowledged incidents.
    pub incidents: Vec<IncidentRecord>,
    /// Health now.
    pub health: Option<Health>,
}

impl Matches {
    /// The same matches, with the machines of the directory's people the
    /// query named: `logins` (lower case), and `indexed`, the assets the
    /// lookup index names for those logins with their kinds of match.
    pub fn with_people(mut self, logins: Vec<String>, indexed: BTreeMap<String, u8>) -> Self {
        for (asset, kinds) in indexed {
            *self.indexed.entry(asset).or_default() |= kinds;
        }
        self.logins = logins;
        self
    }

    /// Every asset named, sorted; some may be gone (merged away since the
    /// index was read).
    pub fn asset_ids(&self) -> Vec<&str> {
        let ids: BTreeSet<&str> = self
            .by_host
            .keys()
            .chain(self.indexed.keys())
            .map(String::as_str)
            .collect();
        ids.into_iter().collect()
    }

    /// The strongest kind of match of `asset`.
    fn strongest(&self, asset: &str) -> Option<MatchKind> {
        let by_host = self
            .by_host
            .get(asset)
            .and_then(|r| r.iter().map(|r| r.kind).min());
        let by_index = self
            .indexed
            .get(asset)
            .and_then(|k| MatchKind::strongest(*k));
        by_host.into_iter().chain(by_index).min()
    }

    /// `machines`, the named assets that exist, best first: strongest kind
    /// of match, then seen most recently, then by host name.
    pub fn rank<M>(&self, machines: Vec<M>, facts: impl Fn(&M) -> RankFacts<'_>) -> Vec<M> {
        let mut keyed: Vec<(Option<MatchKind>, M)> = machines
            .into_iter()
            .map(|m| (self.strongest(facts(&m).asset_id), m))
            .collect();
        keyed.sort_by(|(ka, a), (kb, b)| {
            let (a, b) = (facts(a), facts(b));
            ka.cmp(kb)
                .then(b.last_seen.cmp(&a.last_seen))
                .then_with(|| a.hostname.cmp(b.hostname))
        });
        keyed.into_iter().map(|(_, m)| m).collect()
    }

    /// Why `asset` matched, strongest first: its host name, and what its
    /// inventory says when the lookup index named it.
    pub fn reasons(&self, asset: &str, inventory: Option<&Inventory>) -> Vec<MatchReason> {
        let mut out = self.by_host.get(asset).cloned().unwrap_or_default();
        if self.indexed.contains_key(asset)
            && let Some(inv) = inventory
        {
            out.extend(reasons::inventory_reasons(inv, &self.lower));
            for login in self.logins.iter().filter(|l| **l != self.lower) {
                out.extend(reasons::user_reasons(&inv.users, login));
            }
        }
        out.sort_by_key(|r| r.kind);
        // A person's login may give a reason their name gave already.
        let mut seen = BTreeSet::new();
        out.retain(|r| seen.insert((r.kind, r.text.clone())));
        out
    }

    /// The machine `m` as shown at `now`.
    pub fn machine(&self, m: MachineFacts<'_>, now: Timestamp) -> CallerMachine {
        let agent = m.agents.iter().max_by_key(|a| (!a.revoked, a.last_seen));
        let mut open_incidents: Vec<IncidentLine> = m
            .incidents
            .iter()
            .map(|r| IncidentLine::new(r, now))
            .collect();
        open_incidents.sort_by_key(|i| (i.priority, i.opened_at, i.id));
        let inv = m.inventory;
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
        CallerMachine {
            asset_id: m.asset_id.to_owned(),
            hostname: m.hostname.to_owned(),
            fqdn: inv.and_then(|i| i.host.fqdn.clone()),
            os: m.os.map(str::to_owned),
            model,
            serial: system.and_then(|s| s.serial.clone()),
            addresses: inv.map(addresses).unwrap_or_default(),
            why: self.reasons(m.asset_id, inv),
            last_seen: m.last_seen,
            agent_id: agent.map(|a| a.id.to_owned()),
            agent_status: agent.map_or("unknown", |a| a.status).to_owned(),
            health: m.health,
            open_incidents,
        }
    }
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
    use atalaya_common::model::{Account, Login, Session, Users};

    use super::reasons::user_reasons;
    use super::*;

    fn hosts(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(h, id)| ((*h).to_owned(), (*id).to_owned()))
            .collect()
    }

    fn why(m: &Matches, asset: &str) -> Vec<(MatchKind, String)> {
        m.reasons(asset, None)
            .into_iter()
            .map(|r| (r.kind, r.text))
            .collect()
    }

    #[test]
    fn host_names_match_whole_by_prefix_or_by_pattern_and_say_so() {
        let q = Query::new("  Srv ");
        assert_eq!(
            (q.text(), q.host_prefix(), q.index_key()),
            ("Srv", "srv", Some("srv"))
        );
        let m = q.matches(
            hosts(&[("srv", "a1"), ("srv-03", "a3"), ("web", "a9")]),
            BTreeMap::new(),
        );
        assert_eq!(m.asset_ids(), ["a1", "a3"]);
        assert_eq!(
            why(&m, "a1"),
            [(MatchKind::Hostname, "host name srv".to_owned())]
        );
        assert_eq!(
            why(&m, "a3"),
            [(
                MatchKind::HostnamePattern,
                "host name srv-03 starts with Srv".to_owned()
            )]
        );

        let q = Query::new("S*-03");
        assert_eq!((q.host_prefix(), q.index_key()), ("s", None));
        let indexed = BTreeMap::from([("a7".to_owned(), MatchKind::Account.bit())]);
        let m = q.matches(hosts(&[("srv-03", "a3"), ("srv-04", "a4")]), indexed);
        assert_eq!(m.asset_ids(), ["a3"], "a pattern matches host names only");
        assert_eq!(
            why(&m, "a3"),
            [(
                MatchKind::HostnamePattern,
                "host name srv-03 fits S*-03".to_owned()
            )]
        );
    }

    #[test]
    fn a_user_is_worded_by_sessions_oldest_first_last_login_and_account() {
        let users = Users {
            accounts: vec![Account {
                name: "maria".into(),
                uid: 1000,
                full_name: Some("María García".into()),
                shell: "/bin/bash".into(),
                ..Account::default()
            }],
            sessions: vec![
                Session {
                    user: "maria".into(),
                    tty: "pts/1".into(),
                    remote_host: Some("10.0.0.7".into()),
                    started_at: Some(Timestamp(2_000_500)),
                    ..Session::default()
                },
                Session {
                    user: "maria".into(),
                    tty: "tty2".into(),
                    started_at: Some(Timestamp(1_000_250)),
                    ..Session::default()
                },
            ],
            last_login: Some(Login {
                user: "maria".into(),
                tty: "pts/1".into(),
                remote_host: Some("10.0.0.7".into()),
                at: Timestamp(2_000_500),
            }),
            ..Users::default()
        };
        let texts: Vec<String> = user_reasons(&users, "maría garcía")
            .into_iter()
            .map(|r| r.text)
            .collect();
        assert_eq!(
            texts,
            [
                "maria logged in on tty2, pts/1 from 10.0.0.7 since 1970-01-01T00:16:40Z",
                "last login maria on pts/1 from 10.0.0.7 at 1970-01-01T00:33:20Z",
                "local account maria (María García), uid 1000",
            ]
        );
        assert!(user_reasons(&users, "garcía").is_empty());
    }

    #[test]
    fn machines_rank_by_strongest_match_then_last_seen_then_host_name() {
        let indexed = BTreeMap::from([
            ("a-acct-old".to_owned(), MatchKind::Account.bit()),
            ("a-acct-new".to_owned(), MatchKind::Account.bit()),
            ("b-acct-new".to_owned(), MatchKind::Account.bit()),
            (
                "a-in".to_owned(),
                MatchKind::LoggedIn.bit() | MatchKind::Account.bit(),
            ),
        ]);
        let m = Query::new("maria").matches(hosts(&[("maria-pc", "a-host")]), indexed);
        // (asset, host name, last seen)
        let machines = vec![
            ("a-host", "maria-pc", 9),
            ("a-acct-old", "x", 1),
            ("b-acct-new", "b", 5),
            ("a-acct-new", "c", 5),
            ("a-in", "z", 0),
        ];
        let ranked = m.rank(machines, |(id, host, seen)| RankFacts {
            asset_id: id,
            hostname: host,
            last_seen: Timestamp(*seen),
        });
        let ids: Vec<&str> = ranked.iter().map(|(id, _, _)| *id).collect();
        assert_eq!(
            ids,
            ["a-in", "b-acct-new", "a-acct-new", "a-acct-old", "a-host"]
        );
    }

    #[test]
    fn a_machine_shows_its_newest_unrevoked_agent_or_unknown() {
        let m = Query::new("pc-1").matches(hosts(&[("pc-1", "a1")]), BTreeMap::new());
        let agent = |id, revoked, seen, status| AgentFacts {
            id,
            revoked,
            last_seen: Some(Timestamp(seen)),
            status,
        };
        let facts = |agents| MachineFacts {
            asset_id: "a1",
            hostname: "pc-1",
            os: None,
            last_seen: Timestamp(9),
            inventory: None,
            agents,
            incidents: Vec::new(),
            health: None,
        };
        let shown = m.machine(
            facts(vec![
                agent("old", false, 5, "silent"),
                agent("new", true, 9, "revoked"),
                agent("mid", false, 7, "connected"),
            ]),
            Timestamp(10),
        );
        assert_eq!(
            (shown.agent_id.as_deref(), shown.agent_status.as_str()),
            (Some("mid"), "connected")
        );
        assert_eq!(shown.why[0].kind, MatchKind::Hostname);
        let shown = m.machine(facts(Vec::new()), Timestamp(10));
        assert_eq!(
            (shown.agent_id, shown.agent_status.as_str()),
            (None, "unknown")
        );
    }
}
