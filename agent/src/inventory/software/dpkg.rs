//! dpkg: `/var/lib/dpkg/status`, deb822 paragraphs, one per package dpkg
//! knows about, installed or not.
//!
//! Only fields on their own line are needed, so the parser borrows from the
//! text and skips continuation lines (descriptions, conffiles) without
//! looking at them. The install date is not in the status file: dpkg
//! rewrites `info/NAME.list` (or `NAME:ARCH.list` for `Multi-Arch: same`)
//! when it unpacks the package, so its mtime is the time of the last
//! install or upgrade.

use std::fs;
use std::io;

use atalaya_common::model::{Package, Timestamp};

use super::{Parsed, SOURCE, some};
use crate::root::{Gaps, Root, describe};

/// The status database.
pub const STATUS: &str = "/var/lib/dpkg/status";

/// Where the per-package file lists live.
const INFO: &str = "/var/lib/dpkg/info";

/// Reads the status file and the install date of each package.
pub fn collect(root: &Root, gaps: &mut Gaps) -> Parsed {
    let text = match root.read(STATUS) {
        Ok(text) => text,
        Err(err) => {
            gaps.io(SOURCE, "packages", STATUS, &err);
            return Parsed::default();
        }
    };
    let (mut parsed, same) = parse_marked(&text);
    let mut undated = 0usize;
    let mut first_error = None;
    for (package, same) in parsed.packages.iter_mut().zip(same) {
        match installed_at(root, package, same) {
            Ok(at) => package.installed_at = Some(at),
            Err(err) => {
                undated += 1;
                first_error.get_or_insert(err);
            }
        }
    }
    if let Some(err) = first_error {
        gaps.note(
            SOURCE,
            "packages.installed_at",
            format!(
                "{INFO}/NAME.list of {undated} package(s): {}",
                describe(&err)
            ),
        );
    }
    parsed
}

/// The mtime of the package's file list: `NAME:ARCH.list` for
/// `Multi-Arch: same` packages, else `NAME.list`, trying the other name
/// when the expected one is missing (the field can change across upgrades).
fn installed_at(root: &Root, package: &Package, same: bool) -> io::Result<Timestamp> {
    let plain = || root.path(format!("{INFO}/{}.list", package.name));
    let qualified = package
        .arch
        .as_ref()
        .map(|arch| root.path(format!("{INFO}/{}:{arch}.list", package.name)));
    let (first, second) = match qualified {
        Some(qualified) if same => (qualified, Some(plain())),
        qualified => (plain(), qualified),
    };
    let meta = match (fs::metadata(&first), second) {
        (Err(err), Some(second)) if err.kind() == io::ErrorKind::NotFound => fs::metadata(second)?,
        (result, _) => result?,
    };
    // Whole seconds: the file's sub-second part is noise in an inventory.
    let secs = Timestamp::from_system_time(meta.modified()?).as_secs();
    Ok(Timestamp::from_secs(secs))
}

/// The fields of one paragraph this parser needs, borrowed from the text.
#[derive(Debug, Default)]
struct Paragraph<'a> {
    package: Option<&'a str>,
    status: Option<&'a str>,
    version: Option<&'a str>,
    arch: Option<&'a str>,
    maintainer: Option<&'a str>,
    installed_size: Option<&'a str>,
    source: Option<&'a str>,
    multi_arch: Option<&'a str>,
    /// Whether the paragraph had any line at all.
    seen: bool,
}

/// Parses a status file: the installed packages (install date left unset)
/// and the number of corrupt paragraphs.
///
/// A paragraph is corrupt when it has no `Package` or `Status`, or when it
/// is installed but has no `Version`. Paragraphs that are not installed
/// (config-files, half-installed, not-installed) are left out uncounted:
/// dpkg legitimately keeps them without a version.
pub fn parse(text: &str) -> Parsed {
    parse_marked(text).0
}

/// [`parse`], and for each package whether it is `Multi-Arch: same`, which
/// names its file list `NAME:ARCH.list`.
fn parse_marked(text: &str) -> (Parsed, Vec<bool>) {
    let mut parsed = Parsed::default();
    let mut same = Vec::new();
    let mut paragraph = Paragraph::default();
    for line in text.split('\n') {
        let line = line.strip_suffix('\r').unwrap_or(line);
        if line.trim().is_empty() {
            finish(std::mem::take(&mut paragraph), &mut parsed, &mut same);
            continue;
        }
        paragraph.seen = true;
        if line.starts_with([' ', '\t']) {
            continue;
        }
        let Some((key, value)) = line.split_once(':') else {
            continue;
        };
        let value = value.trim();
        let slot = match key {
            "Package" => &mut paragraph.package,
            "Status" => &mut paragraph.status,
            "Version" => &mut paragraph.version,
            "Architecture" => &mut paragraph.arch,
            "Maintainer" => &mut paragraph.maintainer,
            "Installed-Size" => &mut paragraph.installed_size,
            "Source" => &mut paragraph.source,
            "Multi-Arch" => &mut paragraph.multi_arch,
            _ => continue,
        };
        *slot = Some(value);
    }
    finish(paragraph, &mut parsed, &mut same);
    (parsed, same)
}

/// Turns a finished paragraph into a package, a skip, or nothing.
fn finish(paragraph: Paragraph<'_>, parsed: &mut Parsed, same: &mut Vec<bool>) {
    if !paragraph.seen {
        return;
    }
    let (Some(name), Some(status)) = (
        paragraph.package.filter(|s| !s.is_empty()),
        paragraph.status,
    ) else {
        parsed.skipped += 1;
        return;
    };
    // `want flag state`: only the state says whether it is on the machine.
    if status.split_ascii_whitespace().nth(2) != Some("installed") {
        return;
    }
    let Some(version) = paragraph.version.filter(|s| !s.is_empty()) else {
        parsed.skipped += 1;
        return;
    };
    let source = paragraph
        .source
        .map(|s| s.split_once(" (").map_or(s, |(name, _)| name).trim())
        .filter(|s| !s.is_empty())
        .unwrap_or(name);
    same.push(paragraph.multi_arch == Some("same"));
    parsed.packages.push(Package {
        name: name.to_owned(),
        version: version.to_owned(),
        arch: paragraph.arch.and_then(some),
        vendor: paragraph.maintainer.and_then(some),
        installed_at: None,
        // Installed-Size is in KiB.
        size_bytes: paragraph
            .installed_size
            .and_then(|s| s.parse::<u64>().ok())
            .map(|kib| kib.saturating_mul(1024)),
        source: Some(source.to_owned()),
    });
}

/// Gives the `.list` files of the Debian fixture fixed mtimes (git does
/// not keep them), so tests and golden outputs over that tree see the same
/// install dates every run: 2024-06-10 16:53:20 UTC for openssh-server,
/// one second apart from 2024-05-29 16:26:40 UTC for the others in name
/// order.
#[cfg(test)]
pub(crate) fn pin_fixture_dates(fixture: &std::path::Path) {
    use std::time::{Duration, SystemTime};
    let info = fixture.join("var/lib/dpkg/info");
    let mut names: Vec<_> = fs::read_dir(&info)
        .expect("fixture info dir")
        .map(|e| e.expect("fixture entry").file_name())
        .collect();
    names.sort();
    for (i, name) in names.iter().enumerate() {
        let secs = if name == "openssh-server.list" {
            1_718_038_400
        } else {
            1_717_000_000 + i as u64
        };
        fs::File::options()
            .write(true)
            .open(info.join(name))
            .and_then(|f| f.set_modified(SystemTime::UNIX_EPOCH + Duration::from_secs(secs)))
            .expect("set fixture mtime");
    }
}

#[cfg(test)]
mod tests {
    use std::process::Command;

    use super::*;

    const SAMPLE: &str = "\
Package: bash
Essential: yes
Status: install ok installed
Priority: required
Installed-Size: 7164
Maintainer: Matthias Klose <doko@debian.org>
Architecture: amd64
Version: 5.2.15-2+b7
Depends: base-files (>= 2.1.12), debianutils (>= 5.6-0.1)
Description: GNU Bourne Again SHell
 Bash is an sh-compatible command language interpreter.
 .
 Package: not-a-package
Homepage: http://tiswww.case.edu/php/chet/bash/bashtop.html

Package: libssl3
Status: hold ok installed
Architecture: i386
Multi-Arch: same
Source: openssl (3.0.15-1~deb12u1)
Version: 3.0.15-1~deb12u1
Maintainer: Debian OpenSSL Team <pkg-openssl-devel@alioth-lists.debian.net>

Package: old-kernel
Status: deinstall ok config-files
Version: 6.1.0-9
Architecture: amd64

Package: never-installed
Status: purge ok not-installed
Architecture: amd64
";

    #[test]
    fn only_installed_paragraphs_are_packages() {
        let parsed = parse(SAMPLE);
        assert_eq!(parsed.skipped, 0);
        let names: Vec<_> = parsed.packages.iter().map(|p| p.name.as_str()).collect();
        assert_eq!(names, ["bash", "libssl3"]);
    }

    #[test]
    fn fields_are_read_and_continuations_ignored() {
        let parsed = parse(SAMPLE);
        let bash = &parsed.packages[0];
        assert_eq!(bash.version, "5.2.15-2+b7");
        assert_eq!(bash.arch.as_deref(), Some("amd64"));
        assert_eq!(
            bash.vendor.as_deref(),
            Some("Matthias Klose <doko@debian.org>")
        );
        assert_eq!(bash.size_bytes, Some(7164 * 1024));
        assert_eq!(bash.source.as_deref(), Some("bash"));
        let ssl = &parsed.packages[1];
        assert_eq!(ssl.source.as_deref(), Some("openssl"));
        assert_eq!(ssl.arch.as_deref(), Some("i386"));
        assert_eq!(ssl.size_bytes, None);
    }

    #[test]
    fn crlf_and_missing_trailing_newline_are_accepted() {
        let text = "Package: a\r\nStatus: install ok installed\r\nVersion: 1:2.0-1\r\n\r\n\
                    Package: b\nStatus: install ok installed\nVersion: 3";
        let parsed = parse(text);
        assert_eq!(parsed.skipped, 0);
        assert_eq!(parsed.packages.len(), 2);
        assert_eq!(parsed.packages[0].version, "1:2.0-1");
        assert_eq!(parsed.packages[1].version, "3");
    }

    #[test]
    fn paragraphs_without_name_status_or_version_are_skipped_and_counted() {
        let text = "Status: install ok installed\nVersion: 1\n\n\
                    Package: noversion\nStatus: install ok installed\n\n\n\n\
                    Package: nostatus\nVersion: 1\n\n\
                    Package: good\nStatus: install ok installed\nVersion: 2\n";
        let parsed = parse(text);
        assert_eq!(parsed.skipped, 3);
        assert_eq!(parsed.packages.len(), 1);
        assert_eq!(parsed.packages[0].name, "good");
    }

    #[test]
    fn garbage_does_not_panic() {
        for text in ["", "\n\n", ":", "Package:\n", "Status:\n\n", "\u{feff}x"] {
            let _ = parse(text);
        }
        assert_eq!(parse("").packages.len(), 0);
    }

    fn fixture() -> std::path::PathBuf {
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/debian")
    }

    #[test]
    fn debian_fixture() {
        pin_fixture_dates(&fixture());
        let mut gaps = Gaps::default();
        let software = super::super::collect(&Root::new(fixture()), &mut gaps);
        assert_eq!(gaps.0, vec![], "every installed package has a .list");
        assert_eq!(software.manager.as_deref(), Some("dpkg"));
        assert_eq!(software.skipped_entries, 1);
        assert_eq!(software.packages.len(), 7);
        assert!(
            !software
                .packages
                .iter()
                .any(|p| p.name == "linux-image-6.1.0-18-amd64")
        );

        let ssh = software
            .packages
            .iter()
            .find(|p| p.name == "openssh-server")
            .unwrap();
        assert_eq!(ssh.version, "1:9.2p1-2+deb12u3");
        assert_eq!(ssh.source.as_deref(), Some("openssh"));
        assert_eq!(ssh.installed_at, Some(Timestamp::from_secs(1_718_038_400)));
        assert_eq!(ssh.size_bytes, Some(1_806 * 1024));

        let i386 = software
            .packages
            .iter()
            .find(|p| p.name == "libc6" && p.arch.as_deref() == Some("i386"))
            .unwrap();
        // Sorted: base-files bash firefox-esr libc6:amd64 libc6:i386 …
        assert_eq!(
            i386.installed_at,
            Some(Timestamp::from_secs(1_717_000_004)),
            "dated from libc6:i386.list"
        );
        let amd64 = software
            .packages
            .iter()
            .find(|p| p.name == "libc6" && p.arch.as_deref() == Some("amd64"))
            .unwrap();
        assert_eq!(
            amd64.installed_at,
            Some(Timestamp::from_secs(1_717_000_003))
        );
    }

    #[test]
    fn missing_list_files_are_one_gap() {
        let dir = tempfile::tempdir().unwrap();
        fs::create_dir_all(dir.path().join("var/lib/dpkg")).unwrap();
        fs::write(
            dir.path().join("var/lib/dpkg/status"),
            "Package: a\nStatus: install ok installed\nVersion: 1\n\n\
             Package: b\nStatus: install ok installed\nVersion: 1\n",
        )
        .unwrap();
        let mut gaps = Gaps::default();
        let parsed = collect(&Root::new(dir.path()), &mut gaps);
        assert_eq!(parsed.packages.len(), 2);
        assert_eq!(gaps.0.len(), 1);
        assert!(gaps.0[0].reason.contains("2 package(s): not found"));
    }

    #[test]
    fn list_file_name_falls_back_when_multi_arch_changed() {
        let dir = tempfile::tempdir().unwrap();
        let info = dir.path().join("var/lib/dpkg/info");
        fs::create_dir_all(&info).unwrap();
        fs::write(
            dir.path().join("var/lib/dpkg/status"),
            "Package: was-foreign\nStatus: install ok installed\nVersion: 1\n\
             Architecture: amd64\nMulti-Arch: same\n\n\
             Package: was-same\nStatus: install ok installed\nVersion: 1\n\
             Architecture: amd64\n",
        )
        .unwrap();
        fs::write(info.join("was-foreign.list"), "").unwrap();
        fs::write(info.join("was-same:amd64.list"), "").unwrap();
        let mut gaps = Gaps::default();
        let parsed = collect(&Root::new(dir.path()), &mut gaps);
        assert_eq!(gaps.0, vec![]);
        assert!(parsed.packages.iter().all(|p| p.installed_at.is_some()));
    }

    /// The live host, compared with dpkg's own count.
    #[test]
    fn live_count_matches_dpkg_query() {
        let Ok(out) = Command::new("dpkg-query")
            .args(["-W", "-f=${db:Status-Status}\\n"])
            .output()
        else {
            eprintln!("dpkg-query not found: skipped");
            return;
        };
        assert!(out.status.success(), "dpkg-query failed: {out:?}");
        let expected = String::from_utf8(out.stdout)
            .unwrap()
            .lines()
            .filter(|l| *l == "installed")
            .count();
        let mut gaps = Gaps::default();
        let software = super::super::collect(&Root::live(), &mut gaps);
        assert_eq!(software.manager.as_deref(), Some("dpkg"));
        assert_eq!(software.packages.len(), expected);
        assert_eq!(software.skipped_entries, 0);
        assert!(software.packages.iter().all(|p| p.installed_at.is_some()));
    }
}
