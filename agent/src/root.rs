//! The filesystem the agent inventories: `/` on a live host, or a fixture
//! directory standing in for it in tests (node_exporter's `--path.procfs`).
//!
//! Every inventory source and sampler reads through a [`Root`], with
//! absolute paths such as `/proc/meminfo`, so no code knows whether it
//! looks at the real machine. What cannot be read is written down in
//! [`Gaps`] and ends up in `host.unavailable`.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use atalaya_common::model::Unavailable;

/// The mount tables, in the order they are read. First PID 1's: the
/// machine's own view, which the agent's sandbox does not change (under
/// systemd's `ProtectSystem=strict` every mount is read-only to the agent
/// itself, and `PrivateTmp=` gives it a `/tmp` of its own). Then the
/// agent's, where PID 1's cannot be read (a fixture tree holds only that
/// one).
pub const MOUNT_TABLES: [&str; 2] = ["/proc/1/mounts", "/proc/self/mounts"];

/// The directory that stands for `/`.
#[derive(Debug, Clone)]
pub struct Root {
    base: PathBuf,
    live: bool,
}

impl Root {
    /// The running host.
    pub fn live() -> Self {
        Self {
            base: PathBuf::from("/"),
            live: true,
        }
    }

    /// A directory standing in for `/` (a fixture tree, or a host's root
    /// mounted into a container). `/` itself gives the live host.
    pub fn new(base: impl Into<PathBuf>) -> Self {
        let base = base.into();
        let live = base == Path::new("/");
        Self { base, live }
    }

    /// True when this is the running host, so live-only facts (the sizes
    /// of every mounted filesystem, the agent's own process) can be read.
    pub fn is_live(&self) -> bool {
        self.live
    }

    /// The directory standing for `/`.
    pub fn base(&self) -> &Path {
        &self.base
    }

    /// Where `path` (absolute, as on the host) is under this root.
    pub fn path(&self, path: impl AsRef<Path>) -> PathBuf {
        let path = path.as_ref();
        if self.live {
            return path.to_path_buf();
        }
        self.base.join(path.strip_prefix("/").unwrap_or(path))
    }

    /// The whole file as text (invalid UTF-8 replaced).
    pub fn read(&self, path: impl AsRef<Path>) -> io::Result<String> {
        let bytes = fs::read(self.path(path))?;
        Ok(match String::from_utf8(bytes) {
            Ok(s) => s,
            Err(e) => String::from_utf8_lossy(e.as_bytes()).into_owned(),
        })
    }

    /// The first of [`MOUNT_TABLES`] that can be read, with its path; or
    /// why the last could not be, with its path.
    pub fn mount_table(&self) -> Result<(String, &'static str), (io::Error, &'static str)> {
        let mut failed = None;
        for table in MOUNT_TABLES {
            match self.read(table) {
                Ok(text) => return Ok((text, table)),
                Err(e) => failed = Some((e, table)),
            }
        }
        Err(failed.expect("MOUNT_TABLES is not empty"))
    }

    /// The whole file as bytes.
    pub fn read_bytes(&self, path: impl AsRef<Path>) -> io::Result<Vec<u8>> {
        fs::read(self.path(path))
    }

    /// A one-value file (sysfs style), trimmed; `None` when missing,
    /// unreadable or empty.
    pub fn value(&self, path: impl AsRef<Path>) -> Option<String> {
        let text = self.read(path).ok()?;
        let text = text.trim_matches(|c: char| c.is_whitespace() || c == '\0');
        (!text.is_empty()).then(|| text.to_owned())
    }

    /// A one-value file parsed as a number (decimal, or hex with `0x`).
    pub fn number(&self, path: impl AsRef<Path>) -> Option<u64> {
        let text = self.value(path)?;
        match text.strip_prefix("0x") {
            Some(hex) => u64::from_str_radix(hex, 16).ok(),
            None => text.parse().ok(),
        }
    }

    /// The names in a directory, sorted; an empty list when it is missing.
    pub fn list(&self, path: impl AsRef<Path>) -> io::Result<Vec<String>> {
        let mut names = Vec::new();
        for entry in fs::read_dir(self.path(path))? {
            names.push(entry?.file_name().to_string_lossy().into_owned());
        }
        names.sort();
        Ok(names)
    }

    /// The target of a symbolic link, as written.
    pub fn read_link(&self, path: impl AsRef<Path>) -> io::Result<PathBuf> {
        fs::read_link(self.path(path))
    }

    /// The last component of a link's target (`.../drivers/e1000e` → `e1000e`).
    pub fn link_name(&self, path: impl AsRef<Path>) -> Option<String> {
        let target = self.read_link(path).ok()?;
        Some(target.file_name()?.to_string_lossy().into_owned())
    }

    /// Whether anything exists at `path` (links followed).
    pub fn exists(&self, path: impl AsRef<Path>) -> bool {
        self.path(path).exists()
    }
}

/// Values that could not be read, with the reason for each.
#[derive(Debug, Default)]
pub struct Gaps(pub Vec<Unavailable>);

impl Gaps {
    /// Records that `item` of `source` is missing, and why.
    pub fn note(&mut self, source: &str, item: &str, reason: impl Into<String>) {
        self.0.push(Unavailable {
            source: source.to_owned(),
            item: item.to_owned(),
            reason: reason.into(),
        });
    }

    /// Records a failed read of `path` in the words a sysadmin expects
    /// (`/etc/shadow: permission denied`).
    pub fn io(&mut self, source: &str, item: &str, path: &str, err: &io::Error) {
        self.note(source, item, format!("{path}: {}", describe(err)));
    }
}

/// `No such file or directory (os error 2)` → `not found`.
pub fn describe(err: &io::Error) -> String {
    match err.kind() {
        io::ErrorKind::NotFound => "not found".to_owned(),
        io::ErrorKind::PermissionDenied => "permission denied".to_owned(),
        _ => err.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fixture_paths_stay_under_the_root() {
        let root = Root::new("/tmp/fixture");
        assert_eq!(
            root.path("/proc/meminfo"),
            Path::new("/tmp/fixture/proc/meminfo")
        );
        assert!(!root.is_live());
        assert!(Root::new("/").is_live());
        assert_eq!(
            Root::live().path("/proc/meminfo"),
            Path::new("/proc/meminfo")
        );
    }

    #[test]
    fn values_are_trimmed_and_numbers_parsed() {
        let dir = tempfile::tempdir().unwrap();
        fs::create_dir_all(dir.path().join("sys")).unwrap();
        fs::write(dir.path().join("sys/a"), "  Dell Inc.\n").unwrap();
        fs::write(dir.path().join("sys/b"), "0x1af4\n").unwrap();
        fs::write(dir.path().join("sys/c"), "\n").unwrap();
        let root = Root::new(dir.path());
        assert_eq!(root.value("/sys/a").as_deref(), Some("Dell Inc."));
        assert_eq!(root.number("/sys/b"), Some(0x1af4));
        assert_eq!(root.value("/sys/c"), None);
        assert_eq!(root.value("/sys/missing"), None);
    }

    #[test]
    fn the_machines_mount_table_is_read_before_the_agents_own() {
        let dir = tempfile::tempdir().unwrap();
        let root = Root::new(dir.path());
        let err = root.mount_table().unwrap_err();
        assert_eq!(
            (err.0.kind(), err.1),
            (io::ErrorKind::NotFound, "/proc/self/mounts")
        );
        fs::create_dir_all(dir.path().join("proc/self")).unwrap();
        fs::write(
            dir.path().join("proc/self/mounts"),
            "/dev/sda2 / ext4 ro 0 0\n",
        )
        .unwrap();
        let (text, table) = root.mount_table().unwrap();
        assert_eq!(
            (text.as_str(), table),
            ("/dev/sda2 / ext4 ro 0 0\n", "/proc/self/mounts")
        );
        fs::create_dir_all(dir.path().join("proc/1")).unwrap();
        fs::write(
            dir.path().join("proc/1/mounts"),
            "/dev/sda2 / ext4 rw 0 0\n",
        )
        .unwrap();
        let (text, table) = root.mount_table().unwrap();
        assert_eq!(
            (text.as_str(), table),
            ("/dev/sda2 / ext4 rw 0 0\n", "/proc/1/mounts")
        );
    }
}
