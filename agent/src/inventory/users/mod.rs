//! The `users` part of the inventory: local accounts and groups, who is
//! logged in now (utmp) and the most recent login (the tail of wtmp).
//!
//! # Layout
//! - [`accounts`]: `/etc/passwd`, `/etc/group`, `/etc/login.defs`.
//! - [`utmp`]: the binary utmp/wtmp record format.

pub mod accounts;
pub mod utmp;

use std::fs::File;
use std::io;

use atalaya_common::model::{Login, Session, Timestamp, Users};

use crate::root::{Gaps, Root};
use accounts::UidRange;
use utmp::Record;

const SOURCE: &str = "users";

/// Where utmp lives; `/var/run` only on systems where it is not yet `/run`.
const UTMP_PATHS: &[&str] = &["/run/utmp", "/var/run/utmp"];

const WTMP_PATH: &str = "/var/log/wtmp";

/// Reads the `users` part of the inventory.
pub fn collect(root: &Root, gaps: &mut Gaps) -> Users {
    let range = match root.read("/etc/login.defs") {
        Ok(text) => accounts::parse_login_defs(&text),
        // Alpine and minimal images ship no login.defs: the shadow defaults hold.
        Err(e) if e.kind() == io::ErrorKind::NotFound => UidRange::default(),
        Err(e) => {
            gaps.io(SOURCE, "login.defs", "/etc/login.defs", &e);
            UidRange::default()
        }
    };
    let accounts = match root.read("/etc/passwd") {
        Ok(text) => {
            let (accounts, malformed) = accounts::parse_passwd(&text, range);
            if malformed > 0 {
                gaps.note(
                    SOURCE,
                    "accounts",
                    format!("/etc/passwd: {malformed} malformed lines skipped"),
                );
            }
            accounts
        }
        Err(e) => {
            gaps.io(SOURCE, "accounts", "/etc/passwd", &e);
            Vec::new()
        }
    };
    let groups = match root.read("/etc/group") {
        Ok(text) => {
            let (groups, malformed) = accounts::parse_group(&text);
            if malformed > 0 {
                gaps.note(
                    SOURCE,
                    "groups",
                    format!("/etc/group: {malformed} malformed lines skipped"),
                );
            }
            groups
        }
        Err(e) => {
            gaps.io(SOURCE, "groups", "/etc/group", &e);
            Vec::new()
        }
    };
    Users {
        accounts,
        groups,
        sessions: sessions(root, gaps),
        last_login: last_login(root, gaps),
    }
}

/// Who is logged in now. No utmp at all (systemd hosts built without it,
/// containers) simply means no sessions are recorded there.
fn sessions(root: &Root, gaps: &mut Gaps) -> Vec<Session> {
    for path in UTMP_PATHS {
        match root.read_bytes(path) {
            Ok(bytes) => return sessions_from_utmp(&bytes),
            Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
            Err(e) => {
                gaps.io(SOURCE, "sessions", path, &e);
                return Vec::new();
            }
        }
    }
    Vec::new()
}

/// The user sessions in the bytes of a utmp file, one per user and
/// terminal (the latest, should a stale record linger).
pub fn sessions_from_utmp(bytes: &[u8]) -> Vec<Session> {
    let mut sessions: Vec<Session> = Vec::new();
    for record in utmp::records(bytes).filter(Record::is_user_session) {
        let session = Session {
            started_at: (record.seconds > 0).then(|| Timestamp::from_secs(record.seconds)),
            pid: u32::try_from(record.pid).ok().filter(|&pid| pid > 0),
            remote_host: (!record.host.is_empty()).then_some(record.host),
            user: record.user,
            tty: record.line,
        };
        match sessions
            .iter_mut()
            .find(|s| s.user == session.user && s.tty == session.tty)
        {
            Some(old) if old.started_at <= session.started_at => *old = session,
            Some(_) => {}
            None => sessions.push(session),
        }
    }
    sessions
}

/// The most recent login recorded in wtmp; a missing wtmp is not a gap
/// (journald-only systems keep none).
fn last_login(root: &Root, gaps: &mut Gaps) -> Option<Login> {
    let found = File::open(root.path(WTMP_PATH)).and_then(|mut file| {
        let len = file.metadata()?.len();
        utmp::last_user_session(&mut file, len)
    });
    match found {
        Ok(record) => record.map(|r| Login {
            remote_host: (!r.host.is_empty()).then_some(r.host),
            at: Timestamp::from_secs(r.seconds),
            user: r.user,
            tty: r.line,
        }),
        Err(e) if e.kind() == io::ErrorKind::NotFound => None,
        Err(e) => {
            gaps.io(SOURCE, "last_login", WTMP_PATH, &e);
            None
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::utmp::tests::record;
    use super::utmp::{DEAD_PROCESS, USER_PROCESS};
    use super::*;

    fn fixture(host: &str) -> (Users, Gaps) {
        let root = Root::new(format!(
            "{}/tests/fixtures/{host}",
            env!("CARGO_MANIFEST_DIR")
        ));
        let mut gaps = Gaps::default();
        let users = collect(&root, &mut gaps);
        (users, gaps)
    }

    fn account<'a>(users: &'a Users, name: &str) -> &'a atalaya_common::model::Account {
        users
            .accounts
            .iter()
            .find(|a| a.name == name)
            .unwrap_or_else(|| panic!("no account {name}"))
    }

    #[test]
    fn stale_duplicate_utmp_records_keep_the_latest() {
        let mut bytes = record(USER_PROCESS, 5, "tty1", "a", "", 100);
        bytes.extend(record(USER_PROCESS, 6, "tty1", "a", "", 200));
        bytes.extend(record(DEAD_PROCESS, 7, "tty2", "b", "", 300));
        let sessions = sessions_from_utmp(&bytes);
        assert_eq!(sessions.len(), 1);
        assert_eq!(sessions[0].pid, Some(6));
    }

    #[test]
    fn debian_fixture() {
        let (users, gaps) = fixture("debian");
        assert!(gaps.0.is_empty(), "{:?}", gaps.0);
        let maria = account(&users, "maria");
        assert_eq!(maria.uid, 1000);
        assert_eq!(maria.full_name.as_deref(), Some("María García"));
        assert!(!maria.system);
        assert!(account(&users, "_apt").system);
        assert!(account(&users, "daemon").system);
        assert!(account(&users, "root").system);
        let sudo = users.groups.iter().find(|g| g.name == "sudo").unwrap();
        assert_eq!(sudo.members, ["maria"]);

        assert_eq!(users.sessions.len(), 2);
        let tty2 = users.sessions.iter().find(|s| s.tty == "tty2").unwrap();
        assert_eq!(tty2.user, "maria");
        assert_eq!(tty2.remote_host, None);
        let pts = users.sessions.iter().find(|s| s.tty == "pts/0").unwrap();
        assert_eq!(pts.remote_host.as_deref(), Some("192.0.2.10"));
        assert!(pts.pid.is_some());
        assert!(pts.started_at.is_some());

        let last = users.last_login.unwrap();
        assert_eq!(last.user, "maria");
        assert_eq!(last.tty, "pts/0");
    }

    #[test]
    fn rpm_fixture() {
        let (users, gaps) = fixture("rpm");
        assert!(gaps.0.is_empty(), "{:?}", gaps.0);
        assert!(!account(&users, "admin").system);
        assert!(account(&users, "nginx").system);
        assert_eq!(users.sessions.len(), 1);
        let s = &users.sessions[0];
        assert_eq!((s.user.as_str(), s.tty.as_str()), ("admin", "pts/0"));
        assert_eq!(s.remote_host.as_deref(), Some("198.51.100.7"));
        let last = users.last_login.unwrap();
        assert_eq!(last.user, "admin");
        assert_eq!(last.remote_host.as_deref(), Some("198.51.100.7"));
    }

    #[test]
    fn alpine_fixture_reads_var_run_utmp() {
        let (users, gaps) = fixture("alpine");
        assert!(gaps.0.is_empty(), "{:?}", gaps.0);
        assert_eq!(account(&users, "root").uid, 0);
        assert_eq!(users.sessions.len(), 1);
        assert_eq!(users.sessions[0].user, "root");
        assert_eq!(users.sessions[0].tty, "tty1");
        assert_eq!(users.last_login.unwrap().user, "root");
    }

    #[test]
    fn arch_fixture() {
        let (users, gaps) = fixture("arch");
        assert!(gaps.0.is_empty(), "{:?}", gaps.0);
        let alex = account(&users, "alex");
        assert!(!alex.system);
        assert_eq!(alex.full_name.as_deref(), Some("Alex Kowalski"));
        assert!(account(&users, "nobody").system);
        assert_eq!(users.sessions.len(), 1);
        assert_eq!(users.sessions[0].user, "alex");
        assert_eq!(users.last_login.unwrap().tty, "tty1");
    }

    #[test]
    fn malformed_passwd_lines_are_noted() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("etc")).unwrap();
        std::fs::write(
            dir.path().join("etc/passwd"),
            "root:x:0:0::/root:/bin/sh\nbad line\n",
        )
        .unwrap();
        std::fs::write(dir.path().join("etc/group"), "root:x:0:\n").unwrap();
        let mut gaps = Gaps::default();
        let users = collect(&Root::new(dir.path()), &mut gaps);
        assert_eq!(users.accounts.len(), 1);
        assert_eq!(users.sessions, []);
        assert_eq!(users.last_login, None);
        assert_eq!(gaps.0.len(), 1);
        assert!(gaps.0[0].reason.contains("1 malformed"), "{:?}", gaps.0);
    }

    #[test]
    fn live_host_has_root() {
        let mut gaps = Gaps::default();
        let users = collect(&Root::live(), &mut gaps);
        let root = account(&users, "root");
        assert_eq!(root.uid, 0);
        let text = std::fs::read_to_string("/etc/passwd").unwrap();
        let well_formed = text
            .lines()
            .filter(|l| {
                let f: Vec<_> = l.split(':').collect();
                f.len() == 7 && f[2].parse::<u32>().is_ok() && f[3].parse::<u32>().is_ok()
            })
            .count();
        assert_eq!(users.accounts.len(), well_formed);
    }
}
