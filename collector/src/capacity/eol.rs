//! The end-of-support table of operating system releases: built into the
//! collector (`eol.toml` beside this file, which documents the format),
//! with the releases of an `eol.toml` in the collector's configuration
//! directory laid over it.

use atalaya_common::config::{ConfigErrors, Document};
use serde::{Deserialize, Serialize};

use super::Day;

/// The built-in table.
pub const BUILT_IN: &str = include_str!("eol.toml");

/// The name of the file in the configuration directory laid over the built-in table.
pub const FILE_NAME: &str = "eol.toml";

/// One release of an operating system and the end of its support.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Release {
    /// The os-release `ID` (`debian`, `rhel`…).
    pub os: String,
    /// Matches `VERSION_ID` by its leading dot-separated parts.
    pub version: String,
    /// For reports, e.g. `Debian 12 (bookworm)`.
    pub name: String,
    /// The last day of support.
    pub end_of_support: Day,
}

/// Releases and their end of support.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EolTable {
    releases: Vec<Release>,
}

impl EolTable {
    /// The table built into the collector.
    pub fn built_in() -> Self {
        Self::parse("eol.toml (built in)", BUILT_IN)
            .expect("the built-in end-of-support table parses (tested)")
    }

    /// Parses a table; `file` names it in error messages, which give each
    /// problem's line and key.
    pub fn parse(file: &str, text: &str) -> Result<Self, ConfigErrors> {
        let doc = Document::parse(file, text)?;
        let mut releases: Vec<Release> = Vec::new();
        for s in doc.sections("release") {
            let field = |key: &str, what: &str| {
                let value = s.string(key).map(|v| v.trim().to_owned());
                match value {
                    Some(v) if !v.is_empty() => Some(v),
                    Some(_) => {
                        s.invalid(key, format!("expected {what}, found an empty string"));
                        None
                    }
                    None if s.has(key) => None,
                    None => {
                        s.missing(key, format!("each [[release]] needs `{key}`, {what}"));
                        None
                    }
                }
            };
            let os = field("os", "the os-release ID such as \"debian\"");
            let version = field("version", "the release such as \"12\"");
            let name = field("name", "the release's name for reports");
            let end = field("end_of_support", "a date \"YYYY-MM-DD\"").and_then(|text| {
                let day = Day::parse(&text);
                if day.is_none() {
                    s.invalid(
                        "end_of_support",
                        format!("expected a date \"YYYY-MM-DD\", found {text:?}"),
                    );
                }
                day
            });
            let (Some(os), Some(version), Some(name), Some(end_of_support)) =
                (os, version, name, end)
            else {
                continue;
            };
            let os = os.to_lowercase();
            if releases.iter().any(|r| r.os == os && r.version == version) {
                s.invalid(
                    "version",
                    format!("{os} {version} is listed a second time in this file"),
                );
                continue;
            }
            releases.push(Release {
                os,
                version,
                name,
                end_of_support,
            });
        }
        doc.finish()?;
        Ok(Self { releases })
    }

    /// This table with `over`'s releases replacing those of the same os
    /// and version, and its others added.
    pub fn overlaid(mut self, over: EolTable) -> Self {
        for release in over.releases {
            match self
                .releases
                .iter_mut()
                .find(|r| r.os == release.os && r.version == release.version)
            {
                Some(slot) => *slot = release,
                None => self.releases.push(release),
            }
        }
        self
    }

    /// Every release, in file order.
    pub fn releases(&self) -> &[Release] {
        &self.releases
    }

    /// The release a system of `os_id` and `version_id` runs: the one of
    /// its os whose version is the longest leading part of `version_id`.
    pub fn release(&self, os_id: &str, version_id: &str) -> Option<&Release> {
        let os_id = os_id.to_lowercase();
        let parts: Vec<&str> = version_id.trim().split('.').collect();
        self.releases
            .iter()
            .filter(|r| r.os == os_id)
            .filter_map(|r| {
                let want: Vec<&str> = r.version.split('.').collect();
                parts.starts_with(&want).then_some((want.len(), r))
            })
            .max_by_key(|(len, _)| *len)
            .map(|(_, r)| r)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_built_in_table_parses_and_finds_releases_by_leading_parts() {
        let table = EolTable::built_in();
        assert!(table.releases().len() >= 35, "{}", table.releases().len());
        let find = |os: &str, v: &str| table.release(os, v).map(|r| r.name.as_str());
        assert_eq!(find("debian", "12"), Some("Debian 12 (bookworm)"));
        assert_eq!(find("rhel", "9.3"), Some("Red Hat Enterprise Linux 9"));
        assert_eq!(find("RHEL", "9"), Some("Red Hat Enterprise Linux 9"));
        assert_eq!(find("ubuntu", "22.04"), Some("Ubuntu 22.04 LTS"));
        assert_eq!(find("ubuntu", "22.10"), None);
        assert_eq!(find("ubuntu", "22"), None);
        assert_eq!(find("windows", "10.0.19045.4046"), Some("Windows 10 22H2"));
        assert_eq!(find("debian", "1"), None, "10 does not cover 1");
        assert_eq!(find("plan9", "4"), None);
        assert_eq!(
            table.release("debian", "12").unwrap().end_of_support,
            Day::parse("2028-06-30").unwrap()
        );
        // Every release's os and version are unique (parse refuses repeats).
        for r in table.releases() {
            assert!(!r.name.is_empty() && !r.os.is_empty());
        }
    }

    #[test]
    fn a_local_file_overrides_and_adds_releases() {
        let local = EolTable::parse(
            "/etc/atalaya/eol.toml",
            "[[release]]\nos = \"debian\"\nversion = \"12\"\nname = \"Debian 12 (our support)\"\nend_of_support = \"2029-12-31\"\n\n[[release]]\nos = \"debian\"\nversion = \"12.5\"\nname = \"Debian 12.5\"\nend_of_support = \"2027-01-01\"\n",
        )
        .unwrap();
        let table = EolTable::built_in().overlaid(local);
        let r = table.release("debian", "12.1").unwrap();
        assert_eq!(
            (r.name.as_str(), r.end_of_support.to_string().as_str()),
            ("Debian 12 (our support)", "2029-12-31")
        );
        assert_eq!(table.release("debian", "12.5").unwrap().name, "Debian 12.5");
        assert_eq!(
            table.releases().len(),
            EolTable::built_in().releases().len() + 1
        );
    }

    #[test]
    fn errors_name_the_file_line_and_key() {
        let text = "[[release]]\nos = \"debian\"\nversion = \"12\"\nname = \"Debian 12\"\nend_of_support = \"2028-13-01\"\n\n[[release]]\nos = \"ubuntu\"\nname = \"Ubuntu\"\nend_of_support = 2029-04-30\nsupport = \"long\"\n\n[[release]]\nos = \"debian\"\nversion = \"11\"\nname = \"Debian 11\"\nend_of_support = \"2026-08-31\"\n\n[[release]]\nos = \"debian\"\nversion = \"11\"\nname = \"Debian 11 again\"\nend_of_support = \"2026-08-31\"\n";
        let errors = EolTable::parse("/etc/atalaya/eol.toml", text).unwrap_err();
        let shown: Vec<String> = errors.0.iter().map(ToString::to_string).collect();
        assert_eq!(shown.len(), 5, "{shown:#?}");
        assert!(
            shown[0].starts_with(
                "/etc/atalaya/eol.toml:5:18: `release[0].end_of_support`: expected a date \"YYYY-MM-DD\", found \"2028-13-01\""
            ),
            "{shown:#?}"
        );
        assert!(
            shown[1].starts_with(
                "/etc/atalaya/eol.toml:7:1: `release[1].version`: each [[release]] needs `version`"
            ),
            "{shown:#?}"
        );
        assert!(
            shown[2].starts_with(
                "/etc/atalaya/eol.toml:10:18: `release[1].end_of_support`: expected a string"
            ),
            "{shown:#?}"
        );
        assert!(
            shown[3].starts_with("/etc/atalaya/eol.toml:11:1: `release[1].support`: unknown key"),
            "{shown:#?}"
        );
        assert!(
            shown[4].starts_with(
                "/etc/atalaya/eol.toml:21:11: `release[3].version`: debian 11 is listed a second time"
            ),
            "{shown:#?}"
        );
        let syntax = EolTable::parse("eol.toml", "[[release]\n").unwrap_err();
        assert!(syntax.to_string().contains("eol.toml:1:"), "{syntax}");
    }
}
