//! The probe targets the collector pushed to this agent, kept in the state
//! directory (mode 0600, written atomically) so probing goes on across
//! restarts while the collector is out of reach.

use std::io;
use std::path::{Path, PathBuf};

use atalaya_common::model::ProbeTarget;
use atalaya_files::FileError;
use serde::{Deserialize, Serialize};

/// The file, in the agent's state directory.
pub const TARGETS_FILE: &str = "probe-targets.json";

/// What the file holds: an object, so fields can be added later.
#[derive(Debug, Default, Serialize, Deserialize)]
struct Stored {
    targets: Vec<ProbeTarget>,
}

/// The pushed targets could not be read.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// The file exists but cannot be read.
    #[error("{}: cannot read the probe targets", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: io::Error,
    },
    /// The file is not a target list.
    #[error(
        "{}: not a list of probe targets; it is replaced by the next list the collector sends",
        path.display()
    )]
    Parse {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        #[source]
        source: serde_json::Error,
    },
}

/// The pushed targets could not be stored.
#[derive(Debug, thiserror::Error)]
pub enum SaveError {
    /// They could not be encoded.
    #[error("{}: encoding the probe targets", path.display())]
    Encode {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: serde_json::Error,
    },
    /// The file could not be written.
    #[error(transparent)]
    Write(#[from] FileError),
}

/// Where the pushed targets are kept in `state_dir`.
pub fn path(state_dir: &Path) -> PathBuf {
    state_dir.join(TARGETS_FILE)
}

/// The targets kept in `state_dir`; none when nothing was ever pushed.
pub fn load(state_dir: &Path) -> Result<Vec<ProbeTarget>, LoadError> {
    let path = path(state_dir);
    let bytes = match std::fs::read(&path) {
        Ok(bytes) => bytes,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(source) => return Err(LoadError::Read { path, source }),
    };
    match serde_json::from_slice::<Stored>(&bytes) {
        Ok(stored) => Ok(stored.targets),
        Err(source) => Err(LoadError::Parse { path, source }),
    }
}

/// Replaces the targets kept in `state_dir` with `targets`.
pub fn save(state_dir: &Path, targets: &[ProbeTarget]) -> Result<(), SaveError> {
    let path = path(state_dir);
    let stored = Stored {
        targets: targets.to_vec(),
    };
    let bytes = match serde_json::to_vec_pretty(&stored) {
        Ok(bytes) => bytes,
        Err(source) => return Err(SaveError::Encode { path, source }),
    };
    atalaya_files::write_private(&path, &bytes)?;
    Ok(())
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
