//! Private files on disk, shared by the Atalaya agent and collector.
//!
//! Both programs keep secrets in files: private keys, the local
//! administrator's token, the collector's store. They must be written so
//! that a crash never leaves half a file behind, and so that no other
//! account on the host can read them. That code lives here, once.
//!
//! It is not in `atalaya-common` because common does no I/O: it is the
//! contract between agent and collector (model, diff, wire encoding),
//! with no files, sockets or async runtime, so that it stays pure,
//! fully testable in memory and fuzzable.
//!
//! Atalaya runs on Unix: modes are Unix permission bits.

use std::fmt;
use std::fs;
use std::io::{self, Write as _};
use std::os::unix::fs::{DirBuilderExt as _, OpenOptionsExt as _, PermissionsExt as _};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

/// Mode of a private file: read and write for its owner, nothing for anyone else.
pub const PRIVATE_FILE: u32 = 0o600;
/// Mode of a private directory: its owner only.
pub const PRIVATE_DIR: u32 = 0o700;

/// The step of a file operation that failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// Creating the temporary file a write goes through.
    CreateTemp,
    /// Writing the bytes to the temporary file.
    Write,
    /// Flushing the temporary file to disk.
    SyncFile,
    /// Renaming the temporary file over the destination.
    Rename,
    /// Flushing a directory (its new or renamed entries) to disk.
    SyncDir,
    /// Creating a directory or one of its parents.
    CreateDir,
    /// Creating an empty file.
    CreateFile,
    /// Reading the permissions of a file or directory.
    ReadMode,
    /// Changing the permissions of a file or directory.
    SetMode,
}

impl fmt::Display for Step {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Step::CreateTemp => "creating its temporary file",
            Step::Write => "writing its temporary file",
            Step::SyncFile => "flushing its temporary file to disk",
            Step::Rename => "moving the new file into place",
            Step::SyncDir => "flushing the directory to disk",
            Step::CreateDir => "creating the directory",
            Step::CreateFile => "creating the file",
            Step::ReadMode => "reading its permissions",
            Step::SetMode => "changing its permissions",
        })
    }
}

/// A file operation failed: on which file or directory, at which step, and why.
#[derive(Debug, thiserror::Error)]
#[error("{}: {step}: {source}", path.display())]
pub struct FileError {
    /// The file or directory the operation was about.
    pub path: PathBuf,
    /// What was being done.
    pub step: Step,
    /// The underlying error.
    #[source]
    pub source: io::Error,
}

/// A file that must be private is not, or cannot be looked at.
#[derive(Debug, thiserror::Error)]
pub enum CheckError {
    /// Its permissions could not be read.
    #[error(transparent)]
    Unreadable(#[from] FileError),
    /// Group or others have some access to it.
    #[error(
        "{} is open to group or others (mode {mode:o}); it must stay private: run `chmod 600 {}`",
        path.display(), path.display()
    )]
    TooOpen {
        /// The file.
        path: PathBuf,
        /// Its permission bits.
        mode: u32,
    },
}

fn error(path: &Path, step: Step) -> impl FnOnce(io::Error) -> FileError + '_ {
    move |source| FileError {
        path: path.to_owned(),
        step,
        source,
    }
}

/// Writes `bytes` to `path` with mode 0600; see [`write_atomic`].
pub fn write_private(path: &Path, bytes: &[u8]) -> Result<(), FileError> {
    write_atomic(path, bytes, PRIVATE_FILE)
}

/// Replaces `path` with `bytes`, atomically and durably.
///
/// The bytes go to a temporary file in the same directory, created with
/// `mode` (so a secret is never briefly readable by others), flushed to
/// disk, then renamed over `path`, and the directory is flushed so that
/// the rename survives a crash. Readers see the old content or the new,
/// never a mix; on failure the temporary file is removed and `path` is
/// left as it was.
pub fn write_atomic(path: &Path, bytes: &[u8], mode: u32) -> Result<(), FileError> {
    let tmp = temp_path(path);
    let _ = fs::remove_file(&tmp);
    let result = write_temp(&tmp, bytes, mode)
        .map_err(|(step, source)| error(path, step)(source))
        .and_then(|()| fs::rename(&tmp, path).map_err(error(path, Step::Rename)));
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result?;
    sync_dir(parent_of(path))
}

fn write_temp(tmp: &Path, bytes: &[u8], mode: u32) -> Result<(), (Step, io::Error)> {
    let mut file = fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode)
        .open(tmp)
        .map_err(|e| (Step::CreateTemp, e))?;
    file.write_all(bytes).map_err(|e| (Step::Write, e))?;
    file.sync_all().map_err(|e| (Step::SyncFile, e))
}

/// A temporary name beside `path`, unique within this process (two
/// threads may write the same file) and hidden from directory listings.
fn temp_path(path: &Path) -> PathBuf {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let name = path
        .file_name()
        .map_or_else(|| "file".into(), |n| n.to_string_lossy());
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    path.with_file_name(format!(".{name}.tmp-{}-{n}", std::process::id()))
}

fn parent_of(path: &Path) -> &Path {
    match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => Path::new("."),
    }
}

/// Flushes the entries of directory `dir` to disk, so that files created
/// or renamed in it are still there after a crash.
pub fn sync_dir(dir: &Path) -> Result<(), FileError> {
    fs::File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(error(dir, Step::SyncDir))
}

/// Creates directory `path` and any missing parents with mode 0700.
/// Directories that already exist keep their mode (see [`tighten`]).
pub fn create_private_dir(path: &Path) -> Result<(), FileError> {
    fs::DirBuilder::new()
        .recursive(true)
        .mode(PRIVATE_DIR)
        .create(path)
        .map_err(error(path, Step::CreateDir))
}

/// Creates `path` as an empty file with mode 0600 unless it exists, for a
/// program that then opens it itself (a database): the file is never open
/// to others, not even between its creation and a `chmod`. Returns whether
/// it was created; an existing file is left as it is (see [`tighten`]).
pub fn create_private_file(path: &Path) -> Result<bool, FileError> {
    match fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(PRIVATE_FILE)
        .open(path)
    {
        Ok(_) => Ok(true),
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => Ok(false),
        Err(e) => Err(error(path, Step::CreateFile)(e)),
    }
}

/// Removes from the permissions of an existing file or directory every bit
/// that `mode` does not allow; never adds one.
///
/// Returns the old permission bits when they changed, `None` when they
/// were already within `mode`.
pub fn tighten(path: &Path, mode: u32) -> Result<Option<u32>, FileError> {
    let old = fs::metadata(path)
        .map_err(error(path, Step::ReadMode))?
        .permissions()
        .mode()
        & 0o7777;
    let new = old & mode;
    if new == old {
        return Ok(None);
    }
    fs::set_permissions(path, fs::Permissions::from_mode(new))
        .map_err(error(path, Step::SetMode))?;
    Ok(Some(old))
}

/// Refuses a file (a private key) that group or others have any access to:
/// such a key may already be known to someone else, so it is not used.
pub fn check_private(path: &Path) -> Result<(), CheckError> {
    let mode = fs::metadata(path)
        .map_err(error(path, Step::ReadMode))?
        .permissions()
        .mode()
        & 0o777;
    if mode & 0o077 != 0 {
        return Err(CheckError::TooOpen {
            path: path.to_owned(),
            mode,
        });
    }
    Ok(())
}

/// The permission bits of `path`.
pub fn mode_of(path: &Path) -> Result<u32, FileError> {
    Ok(fs::metadata(path)
        .map_err(error(path, Step::ReadMode))?
        .permissions()
        .mode()
        & 0o7777)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)] // a failed unwrap is a failed test

    use super::*;

    fn set_mode(path: &Path, mode: u32) {
        fs::set_permissions(path, fs::Permissions::from_mode(mode)).unwrap();
    }

    fn temporaries(dir: &Path) -> Vec<String> {
        fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| n.contains(".tmp-"))
            .collect()
    }

    #[test]
    fn write_private_makes_an_owner_only_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("secret");
        write_private(&path, b"s3cret").unwrap();
        assert_eq!(fs::read(&path).unwrap(), b"s3cret");
        assert_eq!(mode_of(&path).unwrap(), 0o600);
        assert!(temporaries(dir.path()).is_empty());
    }

    #[test]
    fn write_private_replaces_an_open_file_with_a_private_one() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("secret");
        fs::write(&path, b"an older and longer content").unwrap();
        set_mode(&path, 0o644);
        write_private(&path, b"new").unwrap();
        assert_eq!(fs::read(&path).unwrap(), b"new");
        assert_eq!(mode_of(&path).unwrap(), 0o600);
        assert!(temporaries(dir.path()).is_empty());
    }

    #[test]
    fn write_atomic_gives_the_mode_asked_for_at_most() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ca.pem");
        write_atomic(&path, b"cert", 0o644).unwrap();
        let mode = mode_of(&path).unwrap();
        // The umask may take bits away, never add them.
        assert_eq!(mode & !0o644, 0, "{mode:o}");
        assert_eq!(mode & 0o600, 0o600, "{mode:o}");
    }

    #[test]
    fn the_directory_of_a_bare_file_name_is_the_current_one() {
        // Flushing "" would fail: a bare name lives in ".".
        assert_eq!(parent_of(Path::new("secret")), Path::new("."));
        assert_eq!(parent_of(Path::new("a/secret")), Path::new("a"));
    }

    #[test]
    fn a_failed_write_names_the_file_and_the_step() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("missing/secret");
        let err = write_private(&path, b"x").unwrap_err();
        assert_eq!(err.step, Step::CreateTemp);
        assert_eq!(err.path, path);
        let text = err.to_string();
        assert!(text.contains(&path.display().to_string()), "{text}");
        assert!(text.contains("creating its temporary file"), "{text}");
    }

    #[test]
    fn a_failed_rename_leaves_no_temporary_file_and_the_target_as_it_was() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("taken");
        fs::create_dir(&path).unwrap();
        fs::write(path.join("inside"), b"kept").unwrap();
        let err = write_private(&path, b"x").unwrap_err();
        assert_eq!(err.step, Step::Rename, "{err}");
        assert!(temporaries(dir.path()).is_empty());
        assert_eq!(fs::read(path.join("inside")).unwrap(), b"kept");
    }

    #[test]
    fn create_private_dir_makes_parents_owner_only() {
        let dir = tempfile::tempdir().unwrap();
        let deep = dir.path().join("a/b/c");
        create_private_dir(&deep).unwrap();
        for d in [dir.path().join("a"), dir.path().join("a/b"), deep.clone()] {
            assert_eq!(mode_of(&d).unwrap(), 0o700, "{}", d.display());
        }
        // Existing: fine, and left alone.
        set_mode(&deep, 0o750);
        create_private_dir(&deep).unwrap();
        assert_eq!(mode_of(&deep).unwrap(), 0o750);
    }

    #[test]
    fn create_private_dir_over_a_file_names_it() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("file");
        fs::write(&file, b"").unwrap();
        let err = create_private_dir(&file).unwrap_err();
        assert_eq!((err.step, err.path), (Step::CreateDir, file));
    }

    #[test]
    fn create_private_file_makes_an_empty_owner_only_file_once() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("store");
        assert!(create_private_file(&path).unwrap());
        assert_eq!(fs::read(&path).unwrap(), b"");
        assert_eq!(mode_of(&path).unwrap(), 0o600);
        // An existing file keeps its content and mode.
        fs::write(&path, b"data").unwrap();
        set_mode(&path, 0o644);
        assert!(!create_private_file(&path).unwrap());
        assert_eq!(fs::read(&path).unwrap(), b"data");
        assert_eq!(mode_of(&path).unwrap(), 0o644);
        let err = create_private_file(&dir.path().join("missing/store")).unwrap_err();
        assert_eq!(err.step, Step::CreateFile);
    }

    #[test]
    fn tighten_removes_extra_bits_and_says_what_they_were() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("store");
        fs::write(&file, b"").unwrap();
        set_mode(&file, 0o644);
        assert_eq!(tighten(&file, 0o600).unwrap(), Some(0o644));
        assert_eq!(mode_of(&file).unwrap(), 0o600);
        assert_eq!(tighten(&file, 0o600).unwrap(), None);

        let sub = dir.path().join("data");
        fs::create_dir(&sub).unwrap();
        set_mode(&sub, 0o755);
        assert_eq!(tighten(&sub, 0o700).unwrap(), Some(0o755));
        assert_eq!(mode_of(&sub).unwrap(), 0o700);
    }

    #[test]
    fn tighten_never_adds_a_bit() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("read-only");
        fs::write(&file, b"").unwrap();
        set_mode(&file, 0o400);
        assert_eq!(tighten(&file, 0o600).unwrap(), None);
        assert_eq!(mode_of(&file).unwrap(), 0o400);
        set_mode(&file, 0o440);
        assert_eq!(tighten(&file, 0o600).unwrap(), Some(0o440));
        assert_eq!(mode_of(&file).unwrap(), 0o400);
    }

    #[test]
    fn tighten_of_a_missing_file_is_an_error_naming_it() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("missing");
        let err = tighten(&missing, 0o600).unwrap_err();
        assert_eq!((err.step, err.path), (Step::ReadMode, missing));
    }

    #[test]
    fn check_private_refuses_any_access_for_group_or_others() {
        let dir = tempfile::tempdir().unwrap();
        let key = dir.path().join("key.pem");
        write_private(&key, b"key").unwrap();
        check_private(&key).unwrap();
        set_mode(&key, 0o400);
        check_private(&key).unwrap();
        for open in [0o644, 0o640, 0o604, 0o620] {
            set_mode(&key, open);
            let err = check_private(&key).unwrap_err();
            assert!(
                matches!(&err, CheckError::TooOpen { mode, path } if *mode == open && *path == key),
                "{open:o}: {err:?}"
            );
            let text = err.to_string();
            assert!(text.contains("chmod 600"), "{text}");
            assert!(text.contains(&key.display().to_string()), "{text}");
        }
    }

    #[test]
    fn check_private_of_a_missing_file_is_unreadable() {
        let dir = tempfile::tempdir().unwrap();
        let err = check_private(&dir.path().join("missing")).unwrap_err();
        assert!(
            matches!(&err, CheckError::Unreadable(e) if e.step == Step::ReadMode),
            "{err:?}"
        );
    }
}
