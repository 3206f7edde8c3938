//! Which of an inventory's users a name stands for: the one definition
//! the caller lookup's index is built from (in the store) and its reasons
//! are worded from (in the lookup), so that the two cannot disagree.
//!
//! A name is a login name or a full name (the GECOS name), compared in
//! lower case; a full name stands for the logins of the accounts that
//! carry it.

use atalaya_common::model::{Account, Login, Session, Users};

/// What of one inventory's users a name stands for.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UserMatches<'a> {
    /// Its open sessions (utmp), in inventory order.
    pub sessions: Vec<&'a Session>,
    /// The last login (wtmp), when it is the name's.
    pub last_login: Option<&'a Login>,
    /// Its accounts that a person logs in with, in inventory order.
    pub accounts: Vec<&'a Account>,
}

/// What of `users` the lower-case name `lower` stands for.
pub fn user_matches<'a>(users: &'a Users, lower: &str) -> UserMatches<'a> {
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
    UserMatches {
        sessions: users.sessions.iter().filter(|s| is_user(&s.user)).collect(),
        last_login: users.last_login.as_ref().filter(|l| is_user(&l.user)),
        accounts: users
            .accounts
            .iter()
            .filter(|a| is_person(a) && is_user(&a.name))
            .collect(),
    }
}

/// A full name as it is compared and indexed.
pub fn full_name_key(full_name: &str) -> String {
    full_name.trim().to_lowercase()
}

/// An account a person logs in with: not a system account, and a shell
/// that lets one in.
pub fn is_person(a: &Account) -> bool {
    !a.system && !a.shell.ends_with("nologin") && !a.shell.ends_with("/false")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn account(name: &str, full: Option<&str>, shell: &str) -> Account {
        Account {
            name: name.into(),
            full_name: full.map(Into::into),
            shell: shell.into(),
            ..Account::default()
        }
    }

    #[test]
    fn a_full_name_stands_for_its_logins_and_a_login_for_itself_in_any_case() {
        let users = Users {
            accounts: vec![
                account("maria", Some(" María García "), "/bin/bash"),
                account("svc", Some("María García"), "/usr/sbin/nologin"),
            ],
            sessions: vec![
                Session {
                    user: "maria".into(),
                    tty: "tty2".into(),
                    ..Session::default()
                },
                Session {
                    user: "ana".into(),
                    tty: "tty3".into(),
                    ..Session::default()
                },
            ],
            last_login: Some(Login {
                user: "svc".into(),
                ..Login::default()
            }),
            ..Users::default()
        };
        let m = user_matches(&users, &full_name_key("MARÍA GARCÍA"));
        assert_eq!(m.sessions, [&users.sessions[0]]);
        // The service account is hers by name, but nobody logs in with it.
        assert_eq!(m.accounts, [&users.accounts[0]]);
        assert_eq!(m.last_login, users.last_login.as_ref());
        let m = user_matches(&users, "ana");
        assert_eq!((m.sessions.len(), m.accounts.len()), (1, 0));
        assert_eq!(user_matches(&users, "nobody"), UserMatches::default());
    }
}
