//! OpenRC services (Alpine): the scripts in `/etc/init.d`, the runlevel
//! links that enable them and the state directory of the running OpenRC.

use std::collections::HashSet;
use std::io;
use std::os::unix::fs::PermissionsExt;

use atalaya_common::model::{RunState, Service, Startup};

use crate::root::{Gaps, Root};

use super::SOURCE;

const INIT_DIR: &str = "/etc/init.d";
const RUNLEVELS_DIR: &str = "/etc/runlevels";
/// Exists while OpenRC manages the running system.
const STATE_DIR: &str = "/run/openrc";
const STARTED_DIR: &str = "/run/openrc/started";

/// Whether this root is managed by OpenRC.
pub fn detected(root: &Root) -> bool {
    root.exists(INIT_DIR) && (root.exists(STATE_DIR) || root.exists(RUNLEVELS_DIR))
}

/// The `description=` of an init script, quotes removed.
pub fn parse_description(script: &str) -> Option<String> {
    script.lines().find_map(|line| {
        let value = line.trim().strip_prefix("description=")?;
        let value = value
            .strip_prefix('"')
            .and_then(|v| v.strip_suffix('"'))
            .or_else(|| value.strip_prefix('\'').and_then(|v| v.strip_suffix('\'')))
            .unwrap_or(value)
            .trim();
        (!value.is_empty()).then(|| value.to_owned())
    })
}

/// Every init script, with its startup and run state.
pub fn units(root: &Root, gaps: &mut Gaps) -> Vec<Service> {
    let names = match root.list(INIT_DIR) {
        Ok(names) => names,
        Err(e) => {
            gaps.io(SOURCE, "units", INIT_DIR, &e);
            return Vec::new();
        }
    };
    let mut enabled = HashSet::new();
    for level in root.list(RUNLEVELS_DIR).unwrap_or_default() {
        enabled.extend(
            root.list(format!("{RUNLEVELS_DIR}/{level}"))
                .unwrap_or_default(),
        );
    }
    let running = root.exists(STATE_DIR);
    let started: HashSet<String> = root
        .list(STARTED_DIR)
        .unwrap_or_default()
        .into_iter()
        .collect();

    let mut unreadable = 0usize;
    let mut services = Vec::with_capacity(names.len());
    for name in names {
        // Helpers sourced by the scripts, not services.
        if name.starts_with('.') || name.ends_with(".sh") {
            continue;
        }
        let path = format!("{INIT_DIR}/{name}");
        let executable = std::fs::metadata(root.path(&path))
            .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0);
        if !executable {
            continue;
        }
        let description = match root.read(&path) {
            Ok(text) => parse_description(&text),
            Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
            Err(_) => {
                unreadable += 1;
                None
            }
        };
        let startup = if enabled.contains(&name) {
            Startup::Enabled
        } else {
            Startup::Disabled
        };
        let state = if started.contains(&name) {
            RunState::Active
        } else if running {
            RunState::Inactive
        } else {
            RunState::Unknown
        };
        services.push(Service {
            name,
            description,
            startup,
            state,
        });
    }
    if unreadable > 0 {
        gaps.note(
            SOURCE,
            "units",
            format!("{unreadable} init scripts in {INIT_DIR} could not be read"),
        );
    }
    services
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn description_is_unquoted() {
        let script = "#!/sbin/openrc-run\n\nname=\"sshd\"\ndescription=\"OpenBSD Secure Shell server\"\ndescription_checkconfig=\"Verify configuration\"\n";
        assert_eq!(
            parse_description(script).as_deref(),
            Some("OpenBSD Secure Shell server")
        );
        assert_eq!(
            parse_description("description='Crond'\n").as_deref(),
            Some("Crond")
        );
        assert_eq!(
            parse_description("description=plain\n").as_deref(),
            Some("plain")
        );
        assert_eq!(parse_description("description=\"\"\n"), None);
        assert_eq!(parse_description("#!/sbin/openrc-run\n"), None);
    }
}
