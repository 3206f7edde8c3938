//! `/etc/passwd`, `/etc/group` and the account ranges of `/etc/login.defs`.
//!
//! Hand-written rather than through `getpwent(3)`: the agent must read a
//! fixture root as well as the live host, and NSS would answer for the
//! running machine only (and could reach out to LDAP). Only local accounts
//! are inventoried, which is what these files hold.

use atalaya_common::model::{Account, Group};

/// Shells that refuse interactive logins, which mark a service account.
const NO_LOGIN_SHELLS: &[&str] = &[
    "/usr/sbin/nologin",
    // Arch Linux keeps it in /usr/bin.
    "/usr/bin/nologin",
    "/sbin/nologin",
    "/bin/false",
    "/usr/bin/false",
];

/// The UID ranges of `/etc/login.defs` that decide which accounts are system accounts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UidRange {
    /// First UID of a regular user (`UID_MIN`, default 1000).
    pub uid_min: u32,
    /// Highest system UID (`SYS_UID_MAX`), when the file sets it.
    pub sys_uid_max: Option<u32>,
}

impl Default for UidRange {
    fn default() -> Self {
        Self {
            uid_min: 1000,
            sys_uid_max: None,
        }
    }
}

impl UidRange {
    /// Whether an account with this UID and shell is a system account.
    pub fn is_system(&self, uid: u32, shell: &str) -> bool {
        uid == 0
            || uid < self.uid_min
            || self.sys_uid_max.is_some_and(|max| uid <= max)
            || NO_LOGIN_SHELLS.contains(&shell)
    }
}

/// Reads `UID_MIN` and `SYS_UID_MAX` from the text of `/etc/login.defs`;
/// anything unset or unparsable keeps its default.
pub fn parse_login_defs(text: &str) -> UidRange {
    let mut range = UidRange::default();
    for line in text.lines() {
        let mut words = line.split_whitespace();
        let (Some(key), Some(value)) = (words.next(), words.next()) else {
            continue;
        };
        let Some(value) = parse_number(value) else {
            continue;
        };
        match key {
            "UID_MIN" => range.uid_min = value,
            "SYS_UID_MAX" => range.sys_uid_max = Some(value),
            _ => {}
        }
    }
    range
}

/// Decimal, `0x` hex or leading-zero octal, as shadow's `getdef_num` accepts.
fn parse_number(text: &str) -> Option<u32> {
    if let Some(hex) = text.strip_prefix("0x").or_else(|| text.strip_prefix("0X")) {
        u32::from_str_radix(hex, 16).ok()
    } else if text.len() > 1
        && let Some(octal) = text.strip_prefix('0')
    {
        u32::from_str_radix(octal, 8).ok()
    } else {
        text.parse().ok()
    }
}

/// The accounts in the text of `/etc/passwd`, and how many non-empty lines
/// were malformed. A name seen twice keeps its first line, as `getpwnam` does.
pub fn parse_passwd(text: &str, range: UidRange) -> (Vec<Account>, usize) {
    let mut accounts: Vec<Account> = Vec::new();
    let mut malformed = 0;
    for line in text.lines() {
        if line.trim().is_empty() || line.starts_with('#') {
            continue;
        }
        match parse_passwd_line(line, range) {
            Some(account) => {
                if !accounts.iter().any(|a| a.name == account.name) {
                    accounts.push(account);
                }
            }
            None => malformed += 1,
        }
    }
    (accounts, malformed)
}

/// One `name:x:uid:gid:gecos:home:shell` line.
fn parse_passwd_line(line: &str, range: UidRange) -> Option<Account> {
    let mut fields = line.split(':');
    let name = fields.next().filter(|n| valid_name(n))?;
    let _password = fields.next()?;
    let uid: u32 = fields.next()?.parse().ok()?;
    let gid: u32 = fields.next()?.parse().ok()?;
    let gecos = fields.next()?;
    let home = fields.next()?;
    let shell = fields.next()?;
    if fields.next().is_some() {
        return None;
    }
    let full_name = gecos.split(',').next().map(str::trim).unwrap_or_default();
    Some(Account {
        name: name.to_owned(),
        uid,
        gid,
        full_name: (!full_name.is_empty()).then(|| full_name.to_owned()),
        home: home.to_owned(),
        shell: shell.to_owned(),
        system: range.is_system(uid, shell),
    })
}

/// Rejects empty names and NIS `+`/`-` compat entries, which are not accounts.
fn valid_name(name: &str) -> bool {
    !name.is_empty() && !name.starts_with(['+', '-']) && !name.contains(char::is_whitespace)
}

/// The groups in the text of `/etc/group`, and how many non-empty lines
/// were malformed. Members are sorted; a name seen twice keeps its first line.
pub fn parse_group(text: &str) -> (Vec<Group>, usize) {
    let mut groups: Vec<Group> = Vec::new();
    let mut malformed = 0;
    for line in text.lines() {
        if line.trim().is_empty() || line.starts_with('#') {
            continue;
        }
        match parse_group_line(line) {
            Some(group) => {
                if !groups.iter().any(|g| g.name == group.name) {
                    groups.push(group);
                }
            }
            None => malformed += 1,
        }
    }
    (groups, malformed)
}

/// One `name:x:gid:member,member` line.
fn parse_group_line(line: &str) -> Option<Group> {
    let mut fields = line.split(':');
    let name = fields.next().filter(|n| valid_name(n))?;
    let _password = fields.next()?;
    let gid: u32 = fields.next()?.parse().ok()?;
    let members = fields.next()?;
    if fields.next().is_some() {
        return None;
    }
    let mut members: Vec<String> = members
        .split(',')
        .map(str::trim)
        .filter(|m| !m.is_empty())
        .map(str::to_owned)
        .collect();
    members.sort();
    members.dedup();
    Some(Group {
        name: name.to_owned(),
        gid,
        members,
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn passwd_lines_become_accounts() {
        let text = "root:x:0:0:root:/root:/bin/bash\n\
                    daemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin\n\
                    maria:x:1000:1000:María García,,,:/home/maria:/bin/bash\n\
                    svc:x:1500:1500::/srv/svc:/bin/false\n\
                    \n\
                    broken:x:notanumber:1::/:/bin/sh\n\
                    short:x:1:1\n\
                    +::::::\n";
        let (accounts, malformed) = parse_passwd(text, UidRange::default());
        assert_eq!(malformed, 3);
        let names: Vec<_> = accounts.iter().map(|a| a.name.as_str()).collect();
        assert_eq!(names, ["root", "daemon", "maria", "svc"]);
        let maria = &accounts[2];
        assert_eq!(maria.uid, 1000);
        assert_eq!(maria.gid, 1000);
        assert_eq!(maria.full_name.as_deref(), Some("María García"));
        assert_eq!(maria.home, "/home/maria");
        assert_eq!(maria.shell, "/bin/bash");
        assert!(!maria.system);
        assert!(accounts[0].system, "root is a system account");
        assert!(accounts[1].system, "uid below UID_MIN");
        assert!(accounts[3].system, "no-login shell");
        assert_eq!(accounts[3].full_name, None);
    }

    #[test]
    fn duplicate_passwd_names_keep_the_first_line() {
        let (accounts, malformed) = parse_passwd(
            "a:x:1000:1000::/home/a:/bin/sh\na:x:2000:2000::/x:/bin/sh\n",
            UidRange::default(),
        );
        assert_eq!(malformed, 0);
        assert_eq!(accounts.len(), 1);
        assert_eq!(accounts[0].uid, 1000);
    }

    #[test]
    fn login_defs_sets_the_ranges() {
        let text = "# comment UID_MIN 5\nUID_MIN\t\t\t 500\n#SYS_UID_MAX 100\nSYS_UID_MAX 0x1f3\nUID_MAX 60000\nMAIL_DIR /var/mail\n";
        let range = parse_login_defs(text);
        assert_eq!(
            range,
            UidRange {
                uid_min: 500,
                sys_uid_max: Some(499)
            }
        );
        assert!(range.is_system(499, "/bin/bash"));
        assert!(!range.is_system(500, "/bin/bash"));
        assert_eq!(parse_login_defs("UID_MIN junk\n"), UidRange::default());
        assert_eq!(parse_login_defs("UID_MIN 0764\n").uid_min, 500);
    }

    #[test]
    fn sys_uid_max_marks_accounts_above_uid_min() {
        let range = UidRange {
            uid_min: 1000,
            sys_uid_max: Some(1099),
        };
        assert!(range.is_system(1050, "/bin/sh"));
        assert!(!range.is_system(1100, "/bin/sh"));
    }

    #[test]
    fn group_lines_become_groups_with_sorted_members() {
        let text = "root:x:0:\nsudo:x:27:maria,alex, bob\nbad:x:\nplugdev:x:46:maria\n";
        let (groups, malformed) = parse_group(text);
        assert_eq!(malformed, 1);
        assert_eq!(groups.len(), 3);
        assert_eq!(groups[0].members, Vec::<String>::new());
        assert_eq!(groups[1].name, "sudo");
        assert_eq!(groups[1].gid, 27);
        assert_eq!(groups[1].members, ["alex", "bob", "maria"]);
    }
}
