//! Why a machine matched a query, in words people read on the phone.

use std::collections::BTreeMap;

use atalaya_common::model::{Inventory, Session, Timestamp, Users};

use super::{MatchKind, MatchReason, Query};
use crate::helpers::pattern::glob;
use crate::helpers::users::user_matches;

/// Why the host name `host` (lower case) matches `q`: it is the query, it
/// starts with it, or it fits its `*` pattern; `None` when it does not.
pub fn host_reason(q: &Query, host: &str) -> Option<MatchReason> {
    if !host.starts_with(q.host_prefix()) {
        return None;
    }
    let query = q.text();
    let (kind, text) = if host == q.lower {
        (MatchKind::Hostname, format!("host name {host}"))
    } else if !q.is_pattern() {
        (
            MatchKind::HostnamePattern,
            format!("host name {host} starts with {query}"),
        )
    } else if glob(&q.lower, host) {
        (
            MatchKind::HostnamePattern,
            format!("host name {host} fits {query}"),
        )
    } else {
        return None;
    };
    Some(machine_reason(kind, text))
}

/// Why `inv` matches the lower-case query `lower` by its users or FQDN.
pub fn inventory_reasons(inv: &Inventory, lower: &str) -> Vec<MatchReason> {
    let mut reasons = user_reasons(&inv.users, lower);
    if let Some(fqdn) = &inv.host.fqdn
        && fqdn.to_lowercase() == lower
    {
        reasons.push(machine_reason(MatchKind::Hostname, format!("FQDN {fqdn}")));
    }
    reasons
}

/// Reasons the user `lower` (a login name, or a full name, lower case)
/// belongs on this machine: sessions, the last login, a person's account.
pub fn user_reasons(users: &Users, lower: &str) -> Vec<MatchReason> {
    let found = user_matches(users, lower);
    let mut out = Vec::new();
    let mut sessions: BTreeMap<&str, Vec<&Session>> = BTreeMap::new();
    for s in found.sessions {
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
    if let Some(l) = found.last_login {
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
    for a in found.accounts {
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

/// A reason that names the machine, not a user.
fn machine_reason(kind: MatchKind, text: String) -> MatchReason {
    MatchReason {
        kind,
        user: None,
        at: None,
        text,
    }
}

/// A time for people: milliseconds are noise in a sentence.
fn whole_seconds(t: Timestamp) -> Timestamp {
    Timestamp::from_secs(t.as_secs())
}
