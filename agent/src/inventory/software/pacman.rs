//! pacman: the local database, one directory `NAME-VERSION` per installed
//! package under `/var/lib/pacman/local/`, whose `desc` file holds
//! `%SECTION%` headers each followed by value lines up to a blank line.

use atalaya_common::model::Package;

use super::{Parsed, SOURCE, some, timestamp};
use crate::root::{Gaps, Root, describe};

/// The local database directory.
pub const LOCAL: &str = "/var/lib/pacman/local";

/// Reads every package's `desc`. A directory whose `desc` is missing or
/// corrupt is skipped and counted; other read errors are gaps too.
pub fn collect(root: &Root, gaps: &mut Gaps) -> Parsed {
    let names = match root.list(LOCAL) {
        Ok(names) => names,
        Err(err) => {
            gaps.io(SOURCE, "packages", LOCAL, &err);
            return Parsed::default();
        }
    };
    let mut parsed = Parsed::default();
    let mut unreadable = 0usize;
    let mut first_error = None;
    for name in names {
        // The database's format version, a file beside the package dirs.
        if name == "ALPM_DB_VERSION" {
            continue;
        }
        let path = format!("{LOCAL}/{name}/desc");
        match root.read(&path) {
            Ok(text) => match parse_desc(&text) {
                Some(package) => parsed.packages.push(package),
                None => parsed.skipped += 1,
            },
            Err(err) => {
                parsed.skipped += 1;
                if err.kind() != std::io::ErrorKind::NotFound {
                    unreadable += 1;
                    first_error.get_or_insert((path, err));
                }
            }
        }
    }
    if let Some((path, err)) = first_error {
        gaps.note(
            SOURCE,
            "packages",
            format!("{path} ({unreadable} unreadable): {}", describe(&err)),
        );
    }
    parsed
}

/// Parses one `desc` file; `None` without `%NAME%` or `%VERSION%`.
pub fn parse_desc(text: &str) -> Option<Package> {
    let mut name = None;
    let mut version = None;
    let mut base = None;
    let mut arch = None;
    let mut installdate = None;
    let mut packager = None;
    let mut size = None;
    let mut section: Option<&str> = None;
    for line in text.split('\n') {
        let line = line.strip_suffix('\r').unwrap_or(line);
        if line.is_empty() {
            section = None;
            continue;
        }
        let Some(current) = section else {
            section = Some(line);
            continue;
        };
        // Only the first value line of a section is needed.
        let slot = match current {
            "%NAME%" => &mut name,
            "%VERSION%" => &mut version,
            "%BASE%" => &mut base,
            "%ARCH%" => &mut arch,
            "%INSTALLDATE%" => &mut installdate,
            "%PACKAGER%" => &mut packager,
            "%SIZE%" => &mut size,
            _ => continue,
        };
        if slot.is_none() {
            *slot = Some(line.trim());
        }
    }
    let name = name.filter(|s| !s.is_empty())?;
    let version = version.filter(|s| !s.is_empty())?;
    Some(Package {
        name: name.to_owned(),
        version: version.to_owned(),
        arch: arch.and_then(some),
        vendor: packager.and_then(some),
        installed_at: installdate
            .and_then(|s| s.parse::<i64>().ok())
            .and_then(timestamp),
        size_bytes: size.and_then(|s| s.parse().ok()),
        // Packages built before pacman 4.1 have no %BASE%: it was the name.
        source: Some(base.filter(|s| !s.is_empty()).unwrap_or(name).to_owned()),
    })
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use atalaya_common::model::Timestamp;

    use super::*;

    const OPENSSH: &str = "%NAME%\nopenssh\n\n%VERSION%\n9.8p1-1\n\n%BASE%\nopenssh\n\n\
        %DESC%\nSSH protocol implementation for remote login, command execution and file transfer\n\n\
        %URL%\nhttps://www.openssh.com/portable.html\n\n%ARCH%\nx86_64\n\n\
        %BUILDDATE%\n1719800000\n\n%INSTALLDATE%\n1720000000\n\n\
        %PACKAGER%\nGiancarlo Razzolini <grazzolini@archlinux.org>\n\n%SIZE%\n5654471\n\n\
        %REASON%\n1\n\n%LICENSE%\nBSD-2-Clause\nBSD-3-Clause\n\n%VALIDATION%\npgp\n\n\
        %DEPENDS%\nglibc\nkrb5\nopenssl\n\n";

    #[test]
    fn desc_sections_are_read() {
        let p = parse_desc(OPENSSH).unwrap();
        assert_eq!(p.name, "openssh");
        assert_eq!(p.version, "9.8p1-1");
        assert_eq!(p.arch.as_deref(), Some("x86_64"));
        assert_eq!(
            p.vendor.as_deref(),
            Some("Giancarlo Razzolini <grazzolini@archlinux.org>")
        );
        assert_eq!(p.installed_at, Some(Timestamp::from_secs(1_720_000_000)));
        assert_eq!(p.size_bytes, Some(5_654_471));
        assert_eq!(p.source.as_deref(), Some("openssh"));
    }

    #[test]
    fn desc_without_name_or_version_is_corrupt() {
        assert_eq!(parse_desc(""), None);
        assert_eq!(parse_desc("%NAME%\nfoo\n\n%VERSION%\n\n"), None);
        assert_eq!(parse_desc("%VERSION%\n1-1\n"), None);
        // Without a trailing blank line, and without %BASE%.
        let p = parse_desc("%NAME%\nfoo\n\n%VERSION%\n1:2.0-3").unwrap();
        assert_eq!(p.version, "1:2.0-3");
        assert_eq!(p.source.as_deref(), Some("foo"));
    }

    #[test]
    fn arch_fixture() {
        let root = Root::new(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/arch"));
        let mut gaps = Gaps::default();
        let software = super::super::collect(&root, &mut gaps);
        assert_eq!(gaps.0, vec![]);
        assert_eq!(software.manager.as_deref(), Some("pacman"));
        assert_eq!(software.skipped_entries, 1);
        let names: Vec<_> = software.packages.iter().map(|p| p.name.as_str()).collect();
        assert_eq!(names, ["firefox", "glibc", "linux", "openssh", "pacman"]);
        let linux = &software.packages[2];
        assert_eq!(linux.version, "6.10.3.arch1-1");
        assert_eq!(
            linux.installed_at,
            Some(Timestamp::from_secs(1_723_100_000))
        );
        assert_eq!(linux.size_bytes, Some(139_358_362));
        let glibc = &software.packages[1];
        assert_eq!(glibc.source.as_deref(), Some("glibc"));
        let firefox = &software.packages[0];
        assert_eq!(
            firefox.vendor.as_deref(),
            Some("Jan Alexander Steffens (heftig) <heftig@archlinux.org>")
        );
    }
}
