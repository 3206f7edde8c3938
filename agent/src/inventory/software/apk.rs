//! apk: `/lib/apk/db/installed`, blank-line separated records of `X:value`
//! lines, one record per installed package followed by its file list.
//!
//! apk keeps no install date: `t:` is the build time, so `installed_at`
//! stays unset.

use atalaya_common::model::Package;

use super::{Parsed, SOURCE, some};
use crate::root::{Gaps, Root};

/// Where apk keeps the installed database: the classic path, then the one
/// of a `/usr`-merged system.
const PATHS: &[&str] = &["/lib/apk/db/installed", "/usr/lib/apk/db/installed"];

/// The host path of the installed database, if the host has one.
pub fn find(root: &Root) -> Option<&'static str> {
    PATHS.iter().copied().find(|path| root.exists(path))
}

/// Reads the installed database at host path `path`.
pub fn collect(root: &Root, path: &str, gaps: &mut Gaps) -> Parsed {
    match root.read(path) {
        Ok(text) => parse(&text),
        Err(err) => {
            gaps.io(SOURCE, "packages", path, &err);
            Parsed::default()
        }
    }
}

/// The fields of one record this parser needs, borrowed from the text.
#[derive(Debug, Default)]
struct Record<'a> {
    name: Option<&'a str>,
    version: Option<&'a str>,
    arch: Option<&'a str>,
    maintainer: Option<&'a str>,
    installed_size: Option<&'a str>,
    origin: Option<&'a str>,
    seen: bool,
}

/// Parses an installed database. A record without `P:` or `V:` is corrupt.
pub fn parse(text: &str) -> Parsed {
    let mut parsed = Parsed::default();
    let mut record = Record::default();
    for line in text.split('\n') {
        let line = line.strip_suffix('\r').unwrap_or(line);
        if line.trim().is_empty() {
            finish(std::mem::take(&mut record), &mut parsed);
            continue;
        }
        record.seen = true;
        let Some((key, value)) = line.split_once(':') else {
            continue;
        };
        let slot = match key {
            "P" => &mut record.name,
            "V" => &mut record.version,
            "A" => &mut record.arch,
            "m" => &mut record.maintainer,
            "I" => &mut record.installed_size,
            "o" => &mut record.origin,
            _ => continue,
        };
        *slot = Some(value.trim());
    }
    finish(record, &mut parsed);
    parsed
}

fn finish(record: Record<'_>, parsed: &mut Parsed) {
    if !record.seen {
        return;
    }
    let (Some(name), Some(version)) = (
        record.name.filter(|s| !s.is_empty()),
        record.version.filter(|s| !s.is_empty()),
    ) else {
        parsed.skipped += 1;
        return;
    };
    parsed.packages.push(Package {
        name: name.to_owned(),
        version: version.to_owned(),
        arch: record.arch.and_then(some),
        vendor: record.maintainer.and_then(some),
        installed_at: None,
        size_bytes: record.installed_size.and_then(|s| s.parse().ok()),
        // abuild writes `o:` always; its default is the package's own name.
        source: Some(
            record
                .origin
                .filter(|s| !s.is_empty())
                .unwrap_or(name)
                .to_owned(),
        ),
    });
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;

    #[test]
    fn records_and_file_lists() {
        let text = "C:Q1abc=\nP:musl\nV:1.2.5-r0\nA:x86_64\nS:411323\nI:662528\n\
                    T:the musl c library\no:musl\nm:Natanael Copa <ncopa@alpinelinux.org>\n\
                    t:1712310000\nF:lib\nR:ld-musl-x86_64.so.1\nZ:Q1xyz=\n\n\
                    P:zlib\nV:1.3.1-r1\nA:x86_64\nI:102400\n";
        let parsed = parse(text);
        assert_eq!(parsed.skipped, 0);
        assert_eq!(parsed.packages.len(), 2);
        let musl = &parsed.packages[0];
        assert_eq!(musl.version, "1.2.5-r0");
        assert_eq!(musl.arch.as_deref(), Some("x86_64"));
        assert_eq!(musl.size_bytes, Some(662_528), "I:, not S:");
        assert_eq!(
            musl.vendor.as_deref(),
            Some("Natanael Copa <ncopa@alpinelinux.org>")
        );
        assert_eq!(musl.installed_at, None, "t: is the build time");
        assert_eq!(parsed.packages[1].source.as_deref(), Some("zlib"));
    }

    #[test]
    fn records_without_name_or_version_are_skipped_and_counted() {
        let parsed = parse("V:1\nA:x86_64\n\nP:noversion\n\n\n\nP:ok\nV:2\n");
        assert_eq!(parsed.skipped, 2);
        assert_eq!(parsed.packages.len(), 1);
        assert_eq!(parse("").skipped, 0);
    }

    #[test]
    fn alpine_fixture() {
        let root = Root::new(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/alpine"));
        let mut gaps = Gaps::default();
        let software = super::super::collect(&root, &mut gaps);
        assert_eq!(gaps.0, vec![]);
        assert_eq!(software.manager.as_deref(), Some("apk"));
        assert_eq!(software.skipped_entries, 1);
        let names: Vec<_> = software.packages.iter().map(|p| p.name.as_str()).collect();
        assert_eq!(
            names,
            [
                "alpine-baselayout",
                "apk-tools",
                "busybox",
                "musl",
                "openssh-server"
            ]
        );
        let ssh = &software.packages[4];
        assert_eq!(ssh.version, "9.7_p1-r4");
        assert_eq!(ssh.source.as_deref(), Some("openssh"));
        assert_eq!(ssh.size_bytes, Some(872_448));
        assert_eq!(ssh.arch.as_deref(), Some("x86_64"));
        assert_eq!(
            ssh.vendor.as_deref(),
            Some("Natanael Copa <ncopa@alpinelinux.org>")
        );
        assert!(software.packages.iter().all(|p| p.installed_at.is_none()));
    }
}
