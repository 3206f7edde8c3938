//! The probe targets the collector pushed to this agent, kept in the state
//! directory (mode 0600, written atomically) so probing goes on across
//! restarts while the collector is out of reach.

use std::path::{Path, PathBuf};

use atalaya_common::model::ProbeTarget;
use serde::{Deserialize, Serialize};

use crate::state_file::StateFile;
pub use crate::state_file::{LoadError, SaveError};

/// The file, in the agent's state directory.
pub const TARGETS_FILE: &str = "probe-targets.json";

const FILE: StateFile = StateFile {
    name: TARGETS_FILE,
    noun: "probe targets",
};

/// What the file holds: an object, so fields can be added later.
#[derive(Debug, Default, Serialize, Deserialize)]
struct Stored {
    targets: Vec<ProbeTarget>,
}

/// Where the pushed targets are kept in `state_dir`.
pub fn path(state_dir: &Path) -> PathBuf {
    FILE.path(state_dir)
}

/// The targets kept in `state_dir`; none when nothing was ever pushed.
pub fn load(state_dir: &Path) -> Result<Vec<ProbeTarget>, LoadError> {
    FILE.load::<Stored>(state_dir).map(|stored| stored.targets)
}

/// Replaces the targets kept in `state_dir` with `targets`.
pub fn save(state_dir: &Path, targets: &[ProbeTarget]) -> Result<(), SaveError> {
    let stored = Stored {
        targets: targets.to_vec(),
    };
    FILE.save(state_dir, &stored)
}

#[cfg(test)]
mod tests {
    use super::*;
    use atalaya_common::model::ProbeKind;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn targets_are_kept_private_and_read_back() {
        let dir = tempfile::tempdir().unwrap();
        assert!(load(dir.path()).unwrap().is_empty());
        let targets = vec![
            ProbeTarget::new(ProbeKind::Tcp, "db:5432"),
            ProbeTarget::new(ProbeKind::Http, "https://intranet/"),
        ];
        save(dir.path(), &targets).unwrap();
        assert_eq!(load(dir.path()).unwrap(), targets);
        let mode = std::fs::metadata(path(dir.path()))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
        std::fs::write(path(dir.path()), b"[1, 2").unwrap();
        let err = load(dir.path()).unwrap_err();
        assert!(
            err.to_string().contains("not a list of probe targets"),
            "{err}"
        );
    }
}
