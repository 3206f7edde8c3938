//! systemd service units, read from the unit directories and the state
//! systemd leaves under `/run`, without asking systemd over D-Bus: the
//! agent must read fixture roots, and D-Bus would add a dependency and a
//! round trip per unit.

use std::collections::{BTreeMap, HashSet};
use std::io;

use atalaya_common::model::{RunState, Service, Startup};

use crate::root::{Gaps, Root};

use super::SOURCE;

/// Unit directories in order of precedence: a name found in an earlier one
/// hides the same name in later ones.
const UNIT_DIRS: &[&str] = &[
    "/etc/systemd/system",
    "/run/systemd/system",
    "/usr/lib/systemd/system",
    "/lib/systemd/system",
];

/// Exists while systemd is the running init (what `sd_booted()` checks).
pub const RUNNING_MARKER: &str = "/run/systemd/system";

/// systemd keeps an `invocation:NAME` link here for each active unit.
const UNITS_STATE_DIR: &str = "/run/systemd/units";

/// What the inventory needs from one unit file.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UnitFile {
    /// `Description=` of the `[Unit]` section.
    pub description: Option<String>,
    /// Whether `[Install]` says how to enable it (`WantedBy=`, `RequiredBy=`,
    /// `Alias=`, `Also=`); a unit without one is static.
    pub installable: bool,
}

/// Reads the description and the `[Install]` verdict from a unit file's text.
pub fn parse_unit(text: &str) -> UnitFile {
    let mut unit = UnitFile::default();
    let mut section = "";
    for line in text.lines() {
        let line = line.trim();
        if line.is_empty() || line.starts_with(['#', ';']) {
            continue;
        }
        if let Some(name) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            section = name;
            continue;
        }
        let Some((key, value)) = line.split_once('=') else {
            continue;
        };
        let (key, value) = (key.trim(), value.trim());
        match (section, key) {
            ("Unit", "Description") if !value.is_empty() => {
                unit.description = Some(value.to_owned());
            }
            ("Install", "WantedBy" | "RequiredBy" | "UpheldBy" | "Alias" | "Also")
                if !value.is_empty() =>
            {
                unit.installable = true;
            }
            _ => {}
        }
    }
    unit
}

/// Where a unit name was found first.
#[derive(Debug)]
struct Found {
    /// The file to read for the description; `None` for a mask with no
    /// unit file behind it.
    file: Option<String>,
    /// Linked to `/dev/null`.
    masked: bool,
}

/// Whether any unit directory holds a service unit.
pub fn has_units(root: &Root) -> bool {
    UNIT_DIRS.iter().any(|dir| {
        root.list(dir)
            .is_ok_and(|names| names.iter().any(|n| n.ends_with(".service")))
    })
}

/// Every non-template service unit, with its startup and run state.
pub fn units(root: &Root, gaps: &mut Gaps) -> Vec<Service> {
    let running = root.exists(RUNNING_MARKER);
    let mut found: BTreeMap<String, Found> = BTreeMap::new();
    let mut aliased = HashSet::new();
    for dir in UNIT_DIRS {
        let names = match root.list(dir) {
            Ok(names) => names,
            Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
            Err(e) => {
                gaps.io(SOURCE, "units", dir, &e);
                continue;
            }
        };
        let may_mask = !dir.starts_with("/usr") && !dir.starts_with("/lib");
        for name in names {
            let Some(stem) = name.strip_suffix(".service") else {
                continue;
            };
            if stem.is_empty() || stem.ends_with('@') {
                continue;
            }
            let path = format!("{dir}/{name}");
            if may_mask && let Ok(target) = root.read_link(&path) {
                if target.as_os_str() == "/dev/null" {
                    found.entry(name).or_insert(Found {
                        file: None,
                        masked: true,
                    });
                    continue;
                }
                // A link to a unit of another name is an alias (e.g.
                // `display-manager.service`), listed under its real name;
                // `systemctl enable` made it, so that unit is enabled.
                if let Some(real) = target.file_name()
                    && *real != *name
                {
                    aliased.insert(real.to_string_lossy().into_owned());
                    continue;
                }
            }
            match found.get_mut(&name) {
                None => {
                    found.insert(
                        name,
                        Found {
                            file: Some(path),
                            masked: false,
                        },
                    );
                }
                // A masked unit still has a description in the file it hides.
                Some(f) if f.masked && f.file.is_none() => f.file = Some(path),
                Some(_) => {}
            }
        }
    }

    let mut enabled = enabled_names(root);
    enabled.extend(aliased);
    let active: HashSet<String> = root
        .list(UNITS_STATE_DIR)
        .unwrap_or_default()
        .into_iter()
        .filter_map(|n| n.strip_prefix("invocation:").map(str::to_owned))
        .collect();

    let mut unreadable = 0usize;
    let mut services = Vec::with_capacity(found.len());
    for (name, f) in found {
        let unit = f.file.as_ref().and_then(|path| match root.read(path) {
            Ok(text) => Some(parse_unit(&text)),
            Err(_) => {
                unreadable += 1;
                None
            }
        });
        let startup = match &unit {
            _ if f.masked => Startup::Masked,
            _ if enabled.contains(&name) => Startup::Enabled,
            Some(u) if u.installable => Startup::Disabled,
            Some(_) => Startup::Static,
            None => Startup::Unknown,
        };
        let state = if active.contains(&name) {
            RunState::Active
        } else if running {
            RunState::Inactive
        } else {
            RunState::Unknown
        };
        services.push(Service {
            name,
            description: unit.and_then(|u| u.description),
            startup,
            state,
        });
    }
    if unreadable > 0 {
        gaps.note(
            SOURCE,
            "units",
            format!("{unreadable} unit files could not be read"),
        );
    }
    services
}

/// Units linked from a `*.wants/` or `*.requires/` directory of
/// `/etc/systemd/system`: what `systemctl enable` creates. Only the link
/// names count; the targets are not followed.
fn enabled_names(root: &Root) -> HashSet<String> {
    let base = UNIT_DIRS[0];
    let mut enabled = HashSet::new();
    for dir in root.list(base).unwrap_or_default() {
        if dir.ends_with(".wants") || dir.ends_with(".requires") {
            enabled.extend(root.list(format!("{base}/{dir}")).unwrap_or_default());
        }
    }
    enabled
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn unit_files_give_description_and_install() {
        let unit = parse_unit(
            "[Unit]\nDescription=OpenBSD Secure Shell server\nAfter=network.target\n\n\
             [Service]\nExecStart=/usr/sbin/sshd -D\nDescription=not this one\n\n\
             [Install]\nWantedBy=multi-user.target\nAlias=sshd.service\n",
        );
        assert_eq!(
            unit,
            UnitFile {
                description: Some("OpenBSD Secure Shell server".into()),
                installable: true,
            }
        );
    }

    #[test]
    fn unit_without_install_section_is_static() {
        let unit = parse_unit("# comment\n[Unit]\nDescription = Journal\n[Service]\nType=notify\n");
        assert_eq!(unit.description.as_deref(), Some("Journal"));
        assert!(!unit.installable);
        let empty_install = parse_unit("[Unit]\n[Install]\n; nothing\nWantedBy=\n");
        assert!(!empty_install.installable);
        assert_eq!(empty_install.description, None);
    }
}
