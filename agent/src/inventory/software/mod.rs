//! Installed software, from whichever package database the host has.
//!
//! Each package manager has its own leaf module with a pure parser over the
//! database's bytes or text and a thin layer reading it through a [`Root`].
//! No crate reads these databases (and spawning `dpkg-query`/`rpm -qa` is
//! slow and not allowed in the inventory), so they are parsed by hand. A
//! corrupt entry is skipped and counted in `skipped_entries`, never fatal.
//!
//! # Layout
//! - [`dpkg`]: `/var/lib/dpkg/status` (Debian, Ubuntu).
//! - [`rpm`]: `rpmdb.sqlite` (Fedora, RHEL 9, Rocky 9, openSUSE Tumbleweed).
//! - [`apk`]: `/lib/apk/db/installed` (Alpine).
//! - [`pacman`]: `/var/lib/pacman/local/*/desc` (Arch).

use atalaya_common::model::*;

use crate::root::{Gaps, Root};

pub mod apk;
pub mod dpkg;
pub mod pacman;
pub mod rpm;

/// The `source` name used in [`Gaps`] notes of this module.
const SOURCE: &str = "software";

/// What a parser found: the packages and how many entries it had to skip.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Parsed {
    /// Installed packages, in database order.
    pub packages: Vec<Package>,
    /// Entries that were corrupt and skipped.
    pub skipped: u32,
}

impl Parsed {
    fn into_software(self, manager: &str) -> Software {
        let mut packages = self.packages;
        packages.sort();
        Software {
            manager: Some(manager.to_owned()),
            packages,
            skipped_entries: self.skipped,
        }
    }
}

/// Reads the installed packages.
///
/// The first database present wins, in the order dpkg, rpm, apk, pacman: a
/// Debian host with `rpm` or `pacman` installed as tools keeps its real
/// database in dpkg.
pub fn collect(root: &Root, gaps: &mut Gaps) -> Software {
    if root.exists(dpkg::STATUS) {
        return dpkg::collect(root, gaps).into_software("dpkg");
    }
    if let Some(found) = rpm::find(root) {
        return match found {
            rpm::Database::Sqlite(path) => rpm::collect(root, path, gaps).into_software("rpm"),
            rpm::Database::Unsupported { path, format } => {
                gaps.note(
                    SOURCE,
                    "packages",
                    format!(
                        "{path}: {format} rpm database is not supported \
                         (only rpmdb.sqlite, rpm 4.16+)"
                    ),
                );
                Software {
                    manager: Some("rpm".to_owned()),
                    ..Software::default()
                }
            }
        };
    }
    if let Some(path) = apk::find(root) {
        return apk::collect(root, path, gaps).into_software("apk");
    }
    if root.exists(pacman::LOCAL) {
        return pacman::collect(root, gaps).into_software("pacman");
    }
    gaps.note(
        SOURCE,
        "packages",
        "no package database found (dpkg, rpm, apk, pacman)",
    );
    Software::default()
}

/// Seconds since the epoch as written in a database, or `None` for the `0`
/// some managers write when they do not know.
fn timestamp(secs: i64) -> Option<Timestamp> {
    (secs > 0).then(|| Timestamp::from_secs(secs))
}

/// A non-empty value as an owned string.
fn some(value: &str) -> Option<String> {
    (!value.is_empty()).then(|| value.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_database_is_a_gap_not_a_manager() {
        let dir = tempfile::tempdir().unwrap();
        let mut gaps = Gaps::default();
        let software = collect(&Root::new(dir.path()), &mut gaps);
        assert_eq!(software, Software::default());
        assert_eq!(gaps.0.len(), 1);
        assert_eq!(gaps.0[0].source, "software");
        assert!(gaps.0[0].reason.contains("no package database"));
    }

    #[test]
    fn dpkg_wins_over_a_pacman_installed_as_a_tool() {
        let dir = tempfile::tempdir().unwrap();
        let base = dir.path();
        std::fs::create_dir_all(base.join("var/lib/dpkg")).unwrap();
        std::fs::create_dir_all(base.join("var/lib/pacman/local")).unwrap();
        std::fs::write(
            base.join("var/lib/dpkg/status"),
            "Package: pacman-package-manager\nStatus: install ok installed\nVersion: 6.0.2-4\n",
        )
        .unwrap();
        let mut gaps = Gaps::default();
        let software = collect(&Root::new(base), &mut gaps);
        assert_eq!(software.manager.as_deref(), Some("dpkg"));
        assert_eq!(software.packages.len(), 1);
    }

    #[test]
    fn legacy_berkeley_db_is_noted_as_unsupported() {
        let dir = tempfile::tempdir().unwrap();
        let base = dir.path();
        std::fs::create_dir_all(base.join("var/lib/rpm")).unwrap();
        std::fs::write(base.join("var/lib/rpm/Packages"), b"\0\0\0\0").unwrap();
        let mut gaps = Gaps::default();
        let software = collect(&Root::new(base), &mut gaps);
        assert_eq!(software.manager.as_deref(), Some("rpm"));
        assert!(software.packages.is_empty());
        assert_eq!(gaps.0.len(), 1);
        assert!(gaps.0[0].reason.contains("Berkeley DB"), "{:?}", gaps.0);
        assert!(gaps.0[0].reason.starts_with("/var/lib/rpm/Packages:"));
    }

    #[test]
    fn zero_timestamps_mean_unknown() {
        assert_eq!(timestamp(0), None);
        assert_eq!(timestamp(-5), None);
        assert_eq!(
            timestamp(1_700_000_000),
            Some(Timestamp::from_secs(1_700_000_000))
        );
    }
}
