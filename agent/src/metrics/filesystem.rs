//! Use of mounted filesystems: the machine's mount table (PID 1's, see
//! [`crate::root::MOUNT_TABLES`]), sizes from `statvfs`.
//!
//! Sizes can only be asked of a mounted filesystem. On a fixture root a
//! mount of the fixture's table is measured only when it really is a
//! mount inside the fixture tree: `<root>/<mount point>` is a directory on
//! another device (`st_dev`) than the fixture root. Everything else in a
//! fixture's table (its `/`, mount points the tree does not have) stands
//! for a filesystem of a machine that is not here, and is left out. So a
//! test can mount a small filesystem into a copy of a fixture and fill it.

use atalaya_common::model::FilesystemUsage;

use super::{Reader, SOURCE};
use crate::root::{Gaps, describe};

/// Filesystem types that hold no user data: kernel interfaces, memory
/// filesystems, read-only images (snap packages) and container layers.
///
/// Network filesystems are left out too: `statvfs` on a hung NFS or CIFS
/// server blocks without a timeout, and a sampler must not hang.
const SKIPPED_TYPES: &[&str] = &[
    "autofs",
    "binfmt_misc",
    "bpf",
    "ceph",
    "cgroup",
    "cgroup2",
    "cifs",
    "configfs",
    "debugfs",
    "devfs",
    "devpts",
    "devtmpfs",
    "efivarfs",
    "fuse.gvfsd-fuse",
    "fuse.lxcfs",
    "fuse.portal",
    "fuse.sshfs",
    "fusectl",
    "glusterfs",
    "hugetlbfs",
    "mqueue",
    "nfs",
    "nfs4",
    "nfsd",
    "nsfs",
    "proc",
    "pstore",
    "ramfs",
    "rootfs",
    "rpc_pipefs",
    "securityfs",
    "selinuxfs",
    "smb3",
    "smbfs",
    "squashfs",
    "sysfs",
    "tmpfs",
    "tracefs",
];

/// A mount worth measuring.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mount {
    /// What is mounted (`/dev/sda1`, a ZFS dataset name).
    pub source: String,
    /// Where, with the table's octal escapes (`\040` for a space) undone.
    pub mount_point: String,
}

/// The mounts of the table worth measuring, in table order: pseudo and
/// network types left out, overlay only as `/` (a container's root), and
/// each source once (bind mounts and btrfs subvolumes repeat the same
/// device and its sizes).
pub fn parse_mounts(text: &str) -> Vec<Mount> {
    let mut mounts: Vec<Mount> = Vec::new();
    for line in text.lines() {
        let mut words = line.split_ascii_whitespace();
        let (Some(source), Some(point), Some(fstype)) = (words.next(), words.next(), words.next())
        else {
            continue;
        };
        if SKIPPED_TYPES.contains(&fstype) || (fstype == "overlay" && point != "/") {
            continue;
        }
        let source = unescape(source);
        if mounts.iter().any(|m| m.source == source) {
            continue;
        }
        mounts.push(Mount {
            source,
            mount_point: unescape(point),
        });
    }
    mounts
}

/// Undoes the mount table's `\ooo` octal escapes of space, tab, newline and backslash.
fn unescape(field: &str) -> String {
    if !field.contains('\\') {
        return field.to_owned();
    }
    let mut out = Vec::with_capacity(field.len());
    let bytes = field.as_bytes();
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        let octal = bytes
            .get(i + 1..i + 4)
            .filter(|d| b == b'\\' && d.iter().all(|c| (b'0'..=b'7').contains(c)))
            .map(|d| d.iter().fold(0u32, |acc, c| acc * 8 + u32::from(c - b'0')))
            .and_then(|v| u8::try_from(v).ok());
        match octal {
            Some(v) => {
                out.push(v);
                i += 4;
            }
            None => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The figures `statvfs` gives, in its units.
#[derive(Debug, Clone, Copy, Default)]
pub struct Blocks {
    /// Fragment size, bytes: the unit of the block counts.
    pub fragment_size: u64,
    /// Blocks in all.
    pub blocks: u64,
    /// Blocks free, counting those reserved for root.
    pub free: u64,
    /// Blocks free to unprivileged users.
    pub available: u64,
    /// Inodes in all (0 when the filesystem has no inode limit).
    pub files: u64,
    /// Inodes free.
    pub files_free: u64,
}

/// Use of one filesystem as `df` shows it: Use% is used over what users
/// can have (used + available), so blocks reserved for root count as neither.
pub fn usage(mount_point: &str, b: Blocks) -> FilesystemUsage {
    let used = b.blocks.saturating_sub(b.free);
    let user_space = used + b.available;
    FilesystemUsage {
        mount_point: mount_point.to_owned(),
        total_bytes: b.blocks.saturating_mul(b.fragment_size),
        used_bytes: used.saturating_mul(b.fragment_size),
        available_bytes: b.available.saturating_mul(b.fragment_size),
        used_percent: if user_space == 0 {
            0.0
        } else {
            100.0 * used as f64 / user_space as f64
        },
        inodes_used_percent: (b.files > 0)
            .then(|| 100.0 * b.files.saturating_sub(b.files_free) as f64 / b.files as f64),
    }
}

/// Measures every mounted filesystem; on a fixture root only those
/// mounted inside the fixture tree.
pub(crate) fn sample(reader: &mut Reader, gaps: &mut Gaps) -> Vec<FilesystemUsage> {
    let mounts = match reader.mount_table() {
        Ok(text) => parse_mounts(text),
        Err((e, table)) => {
            gaps.io(SOURCE, "filesystems", table, &e);
            return Vec::new();
        }
    };
    let fixture_device = if reader.is_live() {
        None
    } else {
        match rustix::fs::stat(reader.root().base()) {
            Ok(s) => Some(s.st_dev),
            Err(e) => {
                let e = std::io::Error::from(e);
                gaps.io(
                    SOURCE,
                    "filesystems",
                    &reader.root().base().display().to_string(),
                    &e,
                );
                return Vec::new();
            }
        }
    };
    let mut out = Vec::with_capacity(mounts.len());
    for mount in mounts {
        let path = reader.root().path(&mount.mount_point);
        if let Some(device) = fixture_device
            && !mounted_inside(&path, device)
        {
            continue;
        }
        match rustix::fs::statvfs(&path) {
            Ok(s) => {
                let blocks = Blocks {
                    fragment_size: s.f_frsize,
                    blocks: s.f_blocks,
                    free: s.f_bfree,
                    available: s.f_bavail,
                    files: s.f_files,
                    files_free: s.f_ffree,
                };
                // Zero-sized mounts are kernel bookkeeping, not storage.
                if blocks.blocks > 0 {
                    out.push(usage(&mount.mount_point, blocks));
                }
            }
            Err(e) => gaps.note(
                SOURCE,
                "filesystems",
                format!(
                    "statvfs {}: {}",
                    mount.mount_point,
                    describe(&std::io::Error::from(e))
                ),
            ),
        }
    }
    out
}

/// True when `path` is a directory on another device than `device`, the
/// fixture root's: a filesystem mounted inside the fixture tree.
fn mounted_inside(path: &std::path::Path, device: rustix::fs::Dev) -> bool {
    rustix::fs::stat(path).is_ok_and(|s| {
        rustix::fs::FileType::from_raw_mode(s.st_mode) == rustix::fs::FileType::Directory
            && s.st_dev != device
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // a panic is how a test fails
mod tests {
    use super::*;

    const MOUNTS: &str = "\
sysfs /sys sysfs rw,nosuid,nodev,noexec,relatime 0 0
proc /proc proc rw,nosuid,nodev,noexec,relatime 0 0
udev /dev devtmpfs rw,nosuid,relatime,size=8000000k 0 0
/dev/nvme0n1p2 / ext4 rw,relatime 0 0
tmpfs /run tmpfs rw,nosuid,nodev 0 0
cgroup2 /sys/fs/cgroup cgroup2 rw 0 0
/dev/nvme0n1p1 /boot/efi vfat rw,relatime 0 0
/dev/loop3 /snap/core22/1380 squashfs ro,nodev,relatime 0 0
/dev/sdb1 /media/maria/My\\040Disk exfat rw 0 0
/dev/nvme0n1p2 /srv/bind ext4 rw,relatime 0 0
overlay /var/lib/docker/overlay2/abc/merged overlay rw 0 0
server:/export /mnt/nfs nfs4 rw 0 0
tank/home /home zfs rw 0 0
";

    #[test]
    fn pseudo_network_and_bind_mounts_are_left_out() {
        let points: Vec<String> = parse_mounts(MOUNTS)
            .into_iter()
            .map(|m| m.mount_point)
            .collect();
        assert_eq!(points, ["/", "/boot/efi", "/media/maria/My Disk", "/home"]);
    }

    #[test]
    fn overlay_counts_only_as_the_root() {
        let m = parse_mounts("overlay / overlay rw 0 0\noverlay /x overlay rw 0 0\n");
        assert_eq!(m.len(), 1);
        assert_eq!(m.first().map(|m| m.mount_point.as_str()), Some("/"));
    }

    #[test]
    fn escapes_are_undone_and_bad_ones_kept() {
        assert_eq!(unescape("a\\040b\\011c\\134d"), "a b\tc\\d");
        assert_eq!(unescape("a\\04"), "a\\04");
        assert_eq!(unescape("a\\999"), "a\\999");
    }

    #[test]
    fn use_percent_is_what_df_shows() {
        // 1000 blocks of 4 KiB, 400 free of which 350 for users: used 600,
        // Use% = 600 / (600 + 350).
        let u = usage(
            "/",
            Blocks {
                fragment_size: 4096,
                blocks: 1000,
                free: 400,
                available: 350,
                files: 200,
                files_free: 150,
            },
        );
        assert_eq!(u.total_bytes, 4_096_000);
        assert_eq!(u.used_bytes, 600 * 4096);
        assert_eq!(u.available_bytes, 350 * 4096);
        assert_eq!(u.used_percent, 100.0 * 600.0 / 950.0);
        assert_eq!(u.inodes_used_percent, Some(25.0));
        let no_inodes = usage(
            "/x",
            Blocks {
                fragment_size: 512,
                blocks: 10,
                ..Blocks::default()
            },
        );
        assert_eq!(no_inodes.inodes_used_percent, None);
        assert_eq!(no_inodes.used_percent, 100.0);
    }
}
