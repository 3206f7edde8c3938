//! Storage: whole block devices and mounted filesystems.

use std::collections::BTreeMap;

use atalaya_common::model::{Disk, Filesystem, Storage};

use crate::root::{Gaps, Root};

const SOURCE: &str = "storage";

/// Filesystem types that hold no user data (kernel interfaces, memory,
/// container layers, snap images); left out of the inventory and metrics.
pub const PSEUDO_FILESYSTEMS: &[&str] = &[
    "autofs",
    "binfmt_misc",
    "bpf",
    "cgroup",
    "cgroup2",
    "configfs",
    "debugfs",
    "devpts",
    "devtmpfs",
    "efivarfs",
    "fusectl",
    "fuse.gvfsd-fuse",
    "fuse.portal",
    "fuse.lxcfs",
    "hugetlbfs",
    "mqueue",
    "nsfs",
    "proc",
    "pstore",
    "ramfs",
    "rpc_pipefs",
    "securityfs",
    "selinuxfs",
    "squashfs",
    "sysfs",
    "tmpfs",
    "tracefs",
    "overlay",
    "nfsd",
    "rootfs",
];

/// Block devices that are not disks: loop images, RAM disks, device-mapper
/// volumes (their disks are listed), network block devices.
const VIRTUAL_BLOCK: &[&str] = &["loop", "ram", "zram", "dm-", "nbd", "md"];

/// Reads block devices and filesystems.
pub fn collect(root: &Root, gaps: &mut Gaps) -> Storage {
    let disks = match root.list("/sys/block") {
        Ok(names) => names
            .into_iter()
            .filter(|n| !VIRTUAL_BLOCK.iter().any(|p| n.starts_with(p)))
            .map(|name| disk(root, name))
            .collect(),
        Err(err) => {
            gaps.io(SOURCE, "disks", "/sys/block", &err);
            Vec::new()
        }
    };
    let filesystems = match root.mount_table() {
        Ok((text, _)) => mounts(&text)
            .into_iter()
            .map(|m| filesystem(root, m))
            .collect(),
        Err((err, table)) => {
            gaps.io(SOURCE, "filesystems", table, &err);
            Vec::new()
        }
    };
    Storage { disks, filesystems }
}

fn disk(root: &Root, name: String) -> Disk {
    let dir = format!("/sys/block/{name}");
    // NVMe namespaces keep model and serial on the controller (`device`);
    // SCSI/SATA disks on `device` too; virtio keeps its serial on the disk.
    let serial = root
        .value(format!("{dir}/device/serial"))
        .or_else(|| root.value(format!("{dir}/serial")))
        .or_else(|| udev_serial(root, &dir));
    Disk {
        // eMMC and SD cards name their model in `name`.
        model: root
            .value(format!("{dir}/device/model"))
            .or_else(|| root.value(format!("{dir}/device/name"))),
        vendor: root
            .value(format!("{dir}/device/vendor"))
            .filter(|v| !v.starts_with("0x")),
        serial,
        size_bytes: root
            .number(format!("{dir}/size"))
            .unwrap_or(0)
            .saturating_mul(512),
        rotational: root
            .number(format!("{dir}/queue/rotational"))
            .map(|r| r == 1),
        removable: root.number(format!("{dir}/removable")) == Some(1),
        name,
    }
}

/// The serial udev found (`ID_SERIAL_SHORT`), for disks whose driver does
/// not expose one in sysfs (most SATA disks behind libata).
fn udev_serial(root: &Root, dir: &str) -> Option<String> {
    let dev = root.value(format!("{dir}/dev"))?;
    let data = root.read(format!("/run/udev/data/b{dev}")).ok()?;
    data.lines()
        .find_map(|l| l.strip_prefix("E:ID_SERIAL_SHORT="))
        .map(str::to_owned)
}

/// One line of the mount table.
#[derive(Debug, Clone, PartialEq)]
struct Mount {
    device: String,
    mount_point: String,
    fs_type: String,
    read_only: bool,
}

/// Real filesystems from a mount table, one per mount point (the last
/// mount over a point is the visible one). An overlay root (`/` of a
/// container) is kept.
fn mounts(text: &str) -> Vec<Mount> {
    let mut by_point = BTreeMap::new();
    for line in text.lines() {
        let f: Vec<&str> = line.split_whitespace().collect();
        let [device, point, fs_type, options, ..] = f[..] else {
            continue;
        };
        let point = unescape(point);
        if PSEUDO_FILESYSTEMS.contains(&fs_type) && !(fs_type == "overlay" && point == "/") {
            continue;
        }
        by_point.insert(
            point.clone(),
            Mount {
                device: unescape(device),
                mount_point: point,
                fs_type: fs_type.to_owned(),
                read_only: options.split(',').any(|o| o == "ro"),
            },
        );
    }
    by_point.into_values().collect()
}

/// The mount table escapes space, tab, newline and backslash as `\ooo`.
fn unescape(field: &str) -> String {
    if !field.contains('\\') {
        return field.to_owned();
    }
    let bytes = field.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let octal = bytes
            .get(i + 1..i + 4)
            .and_then(|d| std::str::from_utf8(d).ok())
            .and_then(|d| u8::from_str_radix(d, 8).ok());
        match (bytes[i], octal) {
            (b'\\', Some(b)) => {
                out.push(b);
                i += 4;
            }
            (b, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn filesystem(root: &Root, m: Mount) -> Filesystem {
    // Sizes only on the live host: a fixture directory's statvfs would
    // describe the test machine's disk, not the host in the fixture.
    let stat = root
        .is_live()
        .then(|| rustix::fs::statvfs(root.path(&m.mount_point)).ok())
        .flatten();
    Filesystem {
        total_bytes: stat.as_ref().map(|s| s.f_blocks.saturating_mul(s.f_frsize)),
        free_bytes: stat.as_ref().map(|s| s.f_bavail.saturating_mul(s.f_frsize)),
        mount_point: m.mount_point,
        device: m.device,
        fs_type: m.fs_type,
        read_only: m.read_only,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pseudo_filesystems_are_left_out_and_escapes_undone() {
        let table = "proc /proc proc rw 0 0\n/dev/vda / ext4 rw,relatime 0 0\ntmpfs /run tmpfs rw 0 0\n/dev/sdb1 /media/My\\040Disk vfat ro,nosuid 0 0\n/dev/sdc1 /srv xfs rw 0 0\n/dev/sdd1 /srv ext4 rw 0 0\nshort line\n";
        let m = mounts(table);
        assert_eq!(m.len(), 3, "{m:?}");
        assert_eq!(m[1].mount_point, "/media/My Disk");
        assert!(m[1].read_only);
        assert_eq!(
            m[2].device, "/dev/sdd1",
            "the last mount over /srv is the visible one"
        );
        assert_eq!(unescape("a\\134b\\0"), "a\\b\\0");
    }

    #[test]
    fn container_overlay_root_is_kept() {
        let m = mounts("overlay / overlay rw 0 0\noverlay /var/lib/docker/x overlay rw 0 0\n");
        assert_eq!(m.len(), 1);
        assert_eq!(m[0].mount_point, "/");
    }

    #[test]
    fn live_root_filesystem_has_a_size() {
        let mut gaps = Gaps::default();
        let storage = collect(&Root::live(), &mut gaps);
        let root_fs = storage
            .filesystems
            .iter()
            .find(|f| f.mount_point == "/")
            .expect("/ is mounted");
        assert!(root_fs.total_bytes.unwrap_or(0) > 0);
        assert!(storage.disks.iter().all(|d| !d.name.starts_with("loop")));
    }
}
