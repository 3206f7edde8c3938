//! Which inventory changes belong to a class ([`ChangeClass`]), told with
//! their before and after values.
//!
//! Deltas come from [`atalaya_common::diff`]: parts replaced whole
//! (`Edit { before, after }`) and collection items added, removed or
//! changed. A value that could not be read on one side (`None`) is not a
//! change of hardware: a serial that became readable must not look like a
//! replaced mainboard.

use atalaya_common::diff::{Change, ItemChange};
use atalaya_common::format::bytes;
use atalaya_common::model::{Board, Cpu, Disk, Host, Memory, MemoryModule, Package, SystemInfo};

use super::rules::{ChangeClass, InventoryChange};
use crate::helpers::pattern::glob;
use crate::records::device::DeviceChangeItem;

/// A drop of total memory by more than this share counts as memory removed
/// (virtual machines have no modules; the kernel's own reservation moves a
/// little between versions).
const MEMORY_TOTAL_SHARE: f64 = 0.05;

/// The changes of a delta that `rule` watches, one line each, with before and after.
pub fn matching(rule: &InventoryChange, changes: &[Change]) -> Vec<String> {
    changes
        .iter()
        .filter_map(|change| classify(rule, change))
        .filter(|(class, _)| rule.classes.contains(class))
        .map(|(class, text)| format!("{}: {text}", class.name()))
        .collect()
}

/// The changes of a network device's inventory that `rule` watches, one
/// line each, with before and after.
pub fn device_matching(rule: &InventoryChange, items: &[DeviceChangeItem]) -> Vec<String> {
    items
        .iter()
        .filter_map(device_class)
        .filter(|(class, _)| rule.classes.contains(class))
        .map(|(class, text)| format!("{}: {text}", class.name()))
        .collect()
}

/// The class of a device's inventory change, told in one line; `None` for
/// the changes of no class (system text, interfaces).
fn device_class(item: &DeviceChangeItem) -> Option<(ChangeClass, String)> {
    Some(match item {
        DeviceChangeItem::ModuleAdded {
            index,
            name,
            serial,
        } => (
            ChangeClass::ModuleAdded,
            format!("{name} (entity {index}) added, serial {serial}"),
        ),
        DeviceChangeItem::ModuleRemoved {
            index,
            name,
            serial,
        } => (
            ChangeClass::ModuleRemoved,
            format!("{name} (entity {index}) removed, serial {serial}"),
        ),
        DeviceChangeItem::SerialChanged {
            index,
            name,
            before,
            after,
        } => (
            ChangeClass::HardwareReplaced,
            format!("{name} (entity {index}) replaced: serial {before} → {after}"),
        ),
        DeviceChangeItem::FirmwareChanged {
            index,
            name,
            before,
            after,
        } => (
            ChangeClass::FirmwareChanged,
            format!("{name} (entity {index}) firmware / software {before} → {after}"),
        ),
        DeviceChangeItem::System { .. }
        | DeviceChangeItem::InterfaceAdded { .. }
        | DeviceChangeItem::InterfaceRemoved { .. }
        | DeviceChangeItem::NeighbourAdded(_)
        | DeviceChangeItem::NeighbourRemoved(_) => return None,
    })
}

/// The class a change belongs to, told in one line; `None` for a change
/// of no class (or, for packages, of none `rule` names).
fn classify(rule: &InventoryChange, change: &Change) -> Option<(ChangeClass, String)> {
    match change {
        Change::Host(edit) => machine_id_changed(&edit.before, &edit.after),
        Change::System(edit) => system_replaced(&edit.before, &edit.after),
        Change::Board(edit) => board_replaced(&edit.before, &edit.after),
        Change::Cpu(edit) if cpu_replaced(&edit.before, &edit.after) => Some((
            ChangeClass::HardwareReplaced,
            format!("CPU {} → {}", cpu(&edit.before), cpu(&edit.after)),
        )),
        Change::Memory(edit) => memory_total_moved(&edit.before, &edit.after),
        Change::MemoryModule(item) => module_changed(item),
        Change::Disk(item) => disk_changed(item),
        Change::Package(item) => package_changed(rule, item),
        _ => None,
    }
}

fn machine_id_changed(b: &Host, a: &Host) -> Option<(ChangeClass, String)> {
    let (Some(before), Some(after)) = (&b.machine_id, &a.machine_id) else {
        return None;
    };
    (before != after).then(|| {
        (
            ChangeClass::MachineIdChanged,
            format!(
                "machine-id {before} → {after} (host name {} → {})",
                b.hostname, a.hostname
            ),
        )
    })
}

fn system_replaced(b: &SystemInfo, a: &SystemInfo) -> Option<(ChangeClass, String)> {
    let mut parts = Vec::new();
    differ(&mut parts, "serial", &b.serial, &a.serial);
    differ(&mut parts, "UUID", &b.uuid, &a.uuid);
    (!parts.is_empty()).then(|| {
        (
            ChangeClass::HardwareReplaced,
            format!(
                "system {} → {}: {}",
                product(&b.vendor, &b.product),
                product(&a.vendor, &a.product),
                parts.join(", ")
            ),
        )
    })
}

fn board_replaced(b: &Board, a: &Board) -> Option<(ChangeClass, String)> {
    let mut parts = Vec::new();
    differ(&mut parts, "serial", &b.serial, &a.serial);
    (!parts.is_empty()).then(|| {
        (
            ChangeClass::HardwareReplaced,
            format!(
                "mainboard {} → {}: {}",
                product(&b.vendor, &b.product),
                product(&a.vendor, &a.product),
                parts.join(", ")
            ),
        )
    })
}

/// Total memory that moved by more than [`MEMORY_TOTAL_SHARE`] (and was
/// read on both sides).
fn memory_total_moved(b: &Memory, a: &Memory) -> Option<(ChangeClass, String)> {
    let (b, a) = (b.total_bytes, a.total_bytes);
    let moved = (a as f64 - b as f64).abs();
    if b == 0 || a == 0 || moved <= b as f64 * MEMORY_TOTAL_SHARE {
        return None;
    }
    let class = if a < b {
        ChangeClass::MemoryRemoved
    } else {
        ChangeClass::MemoryAdded
    };
    Some((class, format!("total memory {} → {}", bytes(b), bytes(a))))
}

/// A module added or removed, or replaced by one smaller, larger or with
/// another serial number.
fn module_changed(item: &ItemChange<MemoryModule>) -> Option<(ChangeClass, String)> {
    match item {
        ItemChange::Added(m) => Some((
            ChangeClass::MemoryAdded,
            format!("module {} added: {}", m.locator, module(m)),
        )),
        ItemChange::Removed(m) => Some((
            ChangeClass::MemoryRemoved,
            format!("module {} removed: {}", m.locator, module(m)),
        )),
        ItemChange::Changed { before, after } => {
            let swapped = matches!((&before.serial, &after.serial), (Some(b), Some(a)) if b != a);
            let class = if after.size_bytes < before.size_bytes || swapped {
                ChangeClass::MemoryRemoved
            } else if after.size_bytes > before.size_bytes {
                ChangeClass::MemoryAdded
            } else {
                return None;
            };
            Some((
                class,
                format!(
                    "module {} replaced: {} → {}",
                    after.locator,
                    module(before),
                    module(after)
                ),
            ))
        }
    }
}

/// A fixed disk added, removed, or replaced by one with another serial
/// number; removable disks come and go unnoticed.
fn disk_changed(item: &ItemChange<Disk>) -> Option<(ChangeClass, String)> {
    match item {
        ItemChange::Added(d) if !d.removable => Some((
            ChangeClass::DiskAdded,
            format!("disk {} added: {}", d.name, disk(d)),
        )),
        ItemChange::Removed(d) if !d.removable => Some((
            ChangeClass::DiskRemoved,
            format!("disk {} removed: {}", d.name, disk(d)),
        )),
        ItemChange::Changed { before, after }
            if !before.removable
                && matches!((&before.serial, &after.serial), (Some(b), Some(a)) if b != a) =>
        {
            Some((
                ChangeClass::DiskRemoved,
                format!(
                    "disk {} replaced: {} → {}",
                    after.name,
                    disk(before),
                    disk(after)
                ),
            ))
        }
        _ => None,
    }
}

/// A package installed or removed whose name matches one of `rule`'s
/// patterns (an upgrade is neither).
fn package_changed(
    rule: &InventoryChange,
    item: &ItemChange<Package>,
) -> Option<(ChangeClass, String)> {
    let (class, p, verb) = match item {
        ItemChange::Added(p) => (ChangeClass::SoftwareAdded, p, "installed"),
        ItemChange::Removed(p) => (ChangeClass::SoftwareRemoved, p, "removed"),
        ItemChange::Changed { .. } => return None,
    };
    rule.packages
        .iter()
        .any(|g| glob(g, &p.name))
        .then(|| (class, format!("{} {verb}", package(p))))
}

fn differ(parts: &mut Vec<String>, what: &str, before: &Option<String>, after: &Option<String>) {
    if let (Some(b), Some(a)) = (before, after)
        && b != a
    {
        parts.push(format!("{what} {b} → {a}"));
    }
}

fn cpu_replaced(b: &Cpu, a: &Cpu) -> bool {
    let text_differs =
        |x: &Option<String>, y: &Option<String>| matches!((x, y), (Some(x), Some(y)) if x != y);
    let count_differs = |x: u32, y: u32| x > 0 && y > 0 && x != y;
    text_differs(&b.vendor, &a.vendor)
        || text_differs(&b.model, &a.model)
        || count_differs(b.sockets, a.sockets)
        || count_differs(b.physical_cores, a.physical_cores)
}

fn product(vendor: &Option<String>, product: &Option<String>) -> String {
    match (vendor, product) {
        (Some(v), Some(p)) => format!("{v} {p}"),
        (Some(x), None) | (None, Some(x)) => x.clone(),
        (None, None) => "(unknown)".to_owned(),
    }
}

fn cpu(c: &Cpu) -> String {
    format!(
        "{} ({} sockets, {} cores)",
        c.model.as_deref().unwrap_or("(unknown model)"),
        c.sockets,
        c.physical_cores
    )
}

fn module(m: &MemoryModule) -> String {
    let mut s = bytes(m.size_bytes);
    for part in [&m.kind, &m.manufacturer].into_iter().flatten() {
        s.push(' ');
        s.push_str(part);
    }
    if let Some(serial) = &m.serial {
        s.push_str(&format!(", serial {serial}"));
    }
    s
}

fn disk(d: &Disk) -> String {
    let mut s = bytes(d.size_bytes);
    if let Some(model) = &d.model {
        s.push_str(&format!(" {model}"));
    }
    if let Some(serial) = &d.serial {
        s.push_str(&format!(", serial {serial}"));
    }
    s
}

fn package(p: &Package) -> String {
    match &p.arch {
        Some(arch) => format!("{} {} ({arch})", p.name, p.version),
        None => format!("{} {}", p.name, p.version),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use atalaya_common::diff::Edit;
    use atalaya_common::model::{Host, Memory, SystemInfo};

    fn rule(classes: &[ChangeClass], packages: &[&str]) -> InventoryChange {
        InventoryChange {
            classes: classes.to_vec(),
            packages: packages.iter().map(|p| (*p).to_owned()).collect(),
        }
    }

    fn dimm(locator: &str, gib: u64, serial: &str) -> MemoryModule {
        MemoryModule {
            locator: locator.into(),
            size_bytes: gib << 30,
            kind: Some("DDR4".into()),
            serial: Some(serial.into()),
            ..MemoryModule::default()
        }
    }

    #[test]
    fn memory_removed_and_replaced_by_a_smaller_module() {
        let changes = [
            Change::MemoryModule(ItemChange::Removed(dimm("DIMM B", 16, "S2"))),
            Change::MemoryModule(ItemChange::Changed {
                before: dimm("DIMM A", 16, "S1"),
                after: dimm("DIMM A", 8, "S9"),
            }),
            Change::MemoryModule(ItemChange::Added(dimm("DIMM C", 8, "S3"))),
        ];
        let lines = matching(&rule(&[ChangeClass::MemoryRemoved], &[]), &changes);
        assert_eq!(
            lines,
            [
                "memory-removed: module DIMM B removed: 16 GiB DDR4, serial S2",
                "memory-removed: module DIMM A replaced: 16 GiB DDR4, serial S1 → 8 GiB DDR4, serial S9",
            ]
        );
        let added = matching(&rule(&[ChangeClass::MemoryAdded], &[]), &changes);
        assert_eq!(
            added,
            ["memory-added: module DIMM C added: 8 GiB DDR4, serial S3"]
        );
    }

    #[test]
    fn vm_memory_total_shrinking_counts_but_kernel_jitter_does_not() {
        let edit = |b: u64, a: u64| {
            Change::Memory(Edit {
                before: Memory {
                    total_bytes: b,
                    swap_total_bytes: 0,
                },
                after: Memory {
                    total_bytes: a,
                    swap_total_bytes: 0,
                },
            })
        };
        let r = rule(&[ChangeClass::MemoryRemoved], &[]);
        assert_eq!(
            matching(&r, &[edit(8 << 30, 4 << 30)]),
            ["memory-removed: total memory 8 GiB → 4 GiB"]
        );
        assert!(matching(&r, &[edit(8 << 30, (8 << 30) - (20 << 20))]).is_empty());
    }

    #[test]
    fn hardware_replaced_needs_both_sides_known() {
        let system = |serial: Option<&str>, uuid: &str| SystemInfo {
            vendor: Some("Dell Inc.".into()),
            product: Some("Latitude 7440".into()),
            serial: serial.map(Into::into),
            uuid: Some(uuid.into()),
            ..SystemInfo::default()
        };
        let r = rule(&[ChangeClass::HardwareReplaced], &[]);
        let replaced = Change::System(Edit {
            before: system(Some("ABC123"), "u-1"),
            after: system(Some("XYZ789"), "u-2"),
        });
        assert_eq!(
            matching(&r, &[replaced]),
            [
                "hardware-replaced: system Dell Inc. Latitude 7440 → Dell Inc. Latitude 7440: serial ABC123 → XYZ789, UUID u-1 → u-2"
            ]
        );
        let became_readable = Change::System(Edit {
            before: system(None, "u-1"),
            after: system(Some("ABC123"), "u-1"),
        });
        assert!(matching(&r, &[became_readable]).is_empty());
        let cpu = |model: &str| Cpu {
            model: Some(model.into()),
            sockets: 1,
            physical_cores: 4,
            ..Cpu::default()
        };
        let lines = matching(
            &r,
            &[Change::Cpu(Edit {
                before: cpu("i5-8250U"),
                after: cpu("i7-1365U"),
            })],
        );
        assert_eq!(
            lines,
            [
                "hardware-replaced: CPU i5-8250U (1 sockets, 4 cores) → i7-1365U (1 sockets, 4 cores)"
            ]
        );
        // Frequency or online-thread changes are not a new CPU.
        let mut faster = cpu("i5-8250U");
        faster.max_mhz = Some(4000);
        faster.logical_cores = 4;
        assert!(
            matching(
                &r,
                &[Change::Cpu(Edit {
                    before: cpu("i5-8250U"),
                    after: faster
                })]
            )
            .is_empty()
        );
    }

    #[test]
    fn removable_disks_come_and_go_quietly() {
        let d = |name: &str, removable: bool, serial: &str| Disk {
            name: name.into(),
            model: Some("Samsung SSD 980".into()),
            serial: Some(serial.into()),
            size_bytes: 1 << 40,
            removable,
            ..Disk::default()
        };
        let r = rule(&[ChangeClass::DiskRemoved, ChangeClass::DiskAdded], &[]);
        let lines = matching(
            &r,
            &[
                Change::Disk(ItemChange::Removed(d("sdb", true, "U1"))),
                Change::Disk(ItemChange::Removed(d("nvme0n1", false, "N1"))),
                Change::Disk(ItemChange::Changed {
                    before: d("sda", false, "A1"),
                    after: d("sda", false, "A2"),
                }),
                Change::Disk(ItemChange::Added(d("sdc", true, "U2"))),
            ],
        );
        assert_eq!(
            lines,
            [
                "disk-removed: disk nvme0n1 removed: 1 TiB Samsung SSD 980, serial N1",
                "disk-removed: disk sda replaced: 1 TiB Samsung SSD 980, serial A1 → 1 TiB Samsung SSD 980, serial A2",
            ]
        );
    }

    #[test]
    fn software_by_name_pattern_and_machine_id() {
        let p = |name: &str| Package {
            name: name.into(),
            version: "15.2".into(),
            arch: Some("amd64".into()),
            ..Package::default()
        };
        let r = rule(
            &[ChangeClass::SoftwareAdded, ChangeClass::SoftwareRemoved],
            &["teamviewer*", "anydesk"],
        );
        let lines = matching(
            &r,
            &[
                Change::Package(ItemChange::Added(p("teamviewer-host"))),
                Change::Package(ItemChange::Added(p("curl"))),
                Change::Package(ItemChange::Removed(p("anydesk"))),
                Change::Package(ItemChange::Changed {
                    before: p("teamviewer"),
                    after: p("teamviewer"),
                }),
            ],
        );
        assert_eq!(
            lines,
            [
                "software-added: teamviewer-host 15.2 (amd64) installed",
                "software-removed: anydesk 15.2 (amd64) removed",
            ]
        );
        let host = |id: &str, name: &str| Host {
            hostname: name.into(),
            machine_id: Some(id.into()),
            ..Host::default()
        };
        let lines = matching(
            &rule(&[ChangeClass::MachineIdChanged], &[]),
            &[Change::Host(Edit {
                before: host("aaa", "web-01"),
                after: host("bbb", "web-01"),
            })],
        );
        assert_eq!(
            lines,
            ["machine-id-changed: machine-id aaa → bbb (host name web-01 → web-01)"]
        );
    }
}
