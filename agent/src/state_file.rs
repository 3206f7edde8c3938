//! A list the collector sent, kept as JSON in the agent's state directory
//! so the agent goes on with it across restarts while the collector is out
//! of reach (the assigned devices, the pushed probe targets).
//!
//! The file is written mode 0600 and atomically: a crash leaves the old
//! list or the new one, and a list may hold secrets (device credentials).
//! Errors name the file and what it holds, never its content.

use std::io;
use std::path::{Path, PathBuf};

use atalaya_files::FileError;
use serde::Serialize;
use serde::de::DeserializeOwned;

/// One kind of kept list: its file and what people call its content.
#[derive(Debug, Clone, Copy)]
pub(crate) struct StateFile {
    /// The file name, in the state directory.
    pub(crate) name: &'static str,
    /// What the file holds, for messages ("assigned devices").
    pub(crate) noun: &'static str,
}

/// A kept list could not be read.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// The file exists but cannot be read.
    #[error("{}: cannot read the {noun}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// What it holds.
        noun: &'static str,
        /// Why.
        #[source]
        source: io::Error,
    },
    /// The file does not hold such a list.
    #[error(
        "{}: not a list of {noun}; it is replaced by the next list the collector sends",
        path.display()
    )]
    Parse {
        /// The file.
        path: PathBuf,
        /// What it should hold.
        noun: &'static str,
        /// What is wrong with it.
        #[source]
        source: serde_json::Error,
    },
}

/// A list could not be kept.
#[derive(Debug, thiserror::Error)]
pub enum SaveError {
    /// It could not be encoded.
    #[error("{}: encoding the {noun}", path.display())]
    Encode {
        /// The file.
        path: PathBuf,
        /// What it holds.
        noun: &'static str,
        /// Why.
        #[source]
        source: serde_json::Error,
    },
    /// The file could not be written.
    #[error(transparent)]
    Write(#[from] FileError),
}

impl StateFile {
    /// Where the list is kept in `state_dir`.
    pub(crate) fn path(self, state_dir: &Path) -> PathBuf {
        state_dir.join(self.name)
    }

    /// What the file in `state_dir` holds; `S::default()` when it was
    /// never written.
    pub(crate) fn load<S: DeserializeOwned + Default>(
        self,
        state_dir: &Path,
    ) -> Result<S, LoadError> {
        let path = self.path(state_dir);
        let noun = self.noun;
        let bytes = match std::fs::read(&path) {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(S::default()),
            Err(source) => return Err(LoadError::Read { path, noun, source }),
        };
        serde_json::from_slice(&bytes).map_err(|source| LoadError::Parse { path, noun, source })
    }

    /// Replaces what the file in `state_dir` holds with `stored`.
    pub(crate) fn save<S: Serialize>(self, state_dir: &Path, stored: &S) -> Result<(), SaveError> {
        let path = self.path(state_dir);
        let bytes = serde_json::to_vec_pretty(stored).map_err(|source| SaveError::Encode {
            path: path.clone(),
            noun: self.noun,
            source,
        })?;
        atalaya_files::write_private(&path, &bytes)?;
        Ok(())
    }
}
