//! The devices the collector assigned to this agent, kept in the state
//! directory so polling goes on across restarts while the collector is out
//! of reach.
//!
//! The file holds the devices' credentials: it is written mode 0600,
//! atomically (a crash leaves the old list or the new one), and nothing
//! here prints a secret.

use std::path::{Path, PathBuf};

use atalaya_common::model::{Credentials, DeviceSpec};
use serde::{Deserialize, Serialize};

use crate::state_file::StateFile;
pub use crate::state_file::{LoadError, SaveError};

/// The file, in the agent's state directory.
pub const DEVICES_FILE: &str = "devices.json";

const FILE: StateFile = StateFile {
    name: DEVICES_FILE,
    noun: "assigned devices",
};

/// What the file holds: an object, so fields can be added later.
#[derive(Debug, Default, Serialize, Deserialize)]
struct Stored {
    devices: Vec<DeviceSpec>,
}

/// Where the assigned devices are kept in `state_dir`.
pub fn path(state_dir: &Path) -> PathBuf {
    FILE.path(state_dir)
}

/// The devices kept in `state_dir`; none when nothing was ever assigned.
pub fn load(state_dir: &Path) -> Result<Vec<DeviceSpec>, LoadError> {
    FILE.load::<Stored>(state_dir).map(|stored| stored.devices)
}

/// Replaces the devices kept in `state_dir` with `devices`.
pub fn save(state_dir: &Path, devices: &[DeviceSpec]) -> Result<(), SaveError> {
    let stored = Stored {
        devices: devices.to_vec(),
    };
    FILE.save(state_dir, &stored)
}

/// The SNMP version a device is polled with, as people write it.
pub fn version(credentials: &Credentials) -> &'static str {
    match credentials {
        Credentials::V1 { .. } => "v1",
        Credentials::V2c { .. } => "v2c",
        Credentials::V3 { .. } => "v3",
    }
}

/// The devices' names, for the log (never their credentials).
pub fn names(devices: &[DeviceSpec]) -> String {
    let names: Vec<&str> = devices.iter().map(|d| d.name.as_str()).collect();
    names.join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use atalaya_common::model::{AuthProtocol, PrivProtocol, Secret};

    fn devices() -> Vec<DeviceSpec> {
        let mut core = DeviceSpec::v2c("core-sw", "10.0.0.1", "c0mmunity");
        core.port = 1161;
        let mut edge = DeviceSpec::v2c("edge-rt", "edge.example.org", "unused");
        edge.credentials = Credentials::V3 {
            user: "poller".into(),
            auth: Some((AuthProtocol::Sha256, Secret::new("auth-secret"))),
            privacy: Some((PrivProtocol::Aes128, Secret::new("priv-secret"))),
        };
        vec![core, edge]
    }

    #[test]
    fn the_list_round_trips_through_the_file() {
        let dir = tempfile::tempdir().unwrap();
        assert!(load(dir.path()).unwrap().is_empty());
        save(dir.path(), &devices()).unwrap();
        assert_eq!(load(dir.path()).unwrap(), devices());
        save(dir.path(), &[]).unwrap();
        assert!(load(dir.path()).unwrap().is_empty());
    }

    #[test]
    fn the_file_is_private() {
        let dir = tempfile::tempdir().unwrap();
        save(dir.path(), &devices()).unwrap();
        let mode = atalaya_files::mode_of(&path(dir.path())).unwrap();
        assert_eq!(mode & 0o777, 0o600);
    }

    #[test]
    fn a_corrupt_file_is_an_error_naming_it() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(path(dir.path()), b"{\"devices\": [ oops").unwrap();
        let err = load(dir.path()).unwrap_err();
        assert!(matches!(err, LoadError::Parse { .. }), "{err:?}");
        let shown = err.to_string();
        assert!(shown.contains(DEVICES_FILE), "{shown}");
        assert!(shown.contains(&dir.path().display().to_string()), "{shown}");
    }

    #[test]
    fn names_and_versions_show_no_secret() {
        let shown = format!(
            "{} {:?}",
            names(&devices()),
            devices()
                .iter()
                .map(|d| version(&d.credentials))
                .collect::<Vec<_>>()
        );
        assert_eq!(shown, "core-sw, edge-rt [\"v2c\", \"v3\"]");
    }
}
