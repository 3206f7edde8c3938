//! The kinds of match of the caller lookup: what its index keeps per key
//! and asset (a bit each) and what the lookup tells people.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// What matched, strongest first (the order ranks the machines).
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, ToSchema,
)]
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

impl MatchKind {
    /// Every kind, strongest first.
    pub const ALL: [MatchKind; 5] = [
        MatchKind::Hostname,
        MatchKind::LoggedIn,
        MatchKind::LastLogin,
        MatchKind::Account,
        MatchKind::HostnamePattern,
    ];

    /// The kind's bit in a set of kinds: its place in the order.
    pub fn bit(self) -> u8 {
        1 << self as u8
    }

    /// The strongest kind of match among the bits of `kinds`.
    pub fn strongest(kinds: u8) -> Option<MatchKind> {
        MatchKind::ALL.into_iter().find(|k| kinds & k.bit() != 0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_strongest_of_a_set_of_bits_is_the_first_in_order() {
        assert_eq!(MatchKind::strongest(0), None);
        let kinds = MatchKind::Account.bit() | MatchKind::LastLogin.bit();
        assert_eq!(MatchKind::strongest(kinds), Some(MatchKind::LastLogin));
        for k in MatchKind::ALL {
            assert_eq!(MatchKind::strongest(k.bit()), Some(k));
        }
    }
}
