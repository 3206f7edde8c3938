//! Inventory deltas: what changed between two inventories of one host.
//!
//! After its first full report an agent sends only deltas. [`diff`] and
//! [`apply`] are pure functions (no I/O, no clock), so the collector can
//! rebuild an asset's inventory as of any time by applying the stored
//! deltas in order, and tests can check that `apply(&diff(a, b), a)` is `b`
//! modulo volatile values (see below).
//!
//! A delta is a list of [`Change`]s, one variant per part of the inventory:
//! parts that exist once (the OS, the BIOS…) are replaced whole with their
//! before and after values; collections (packages, interfaces…) change item
//! by item, matched on each item's key (a package's name and architecture,
//! an interface's name…). Both inventories must be canonical
//! ([`Inventory::canonicalize`]).
//!
//! [`apply`] is strict: every `before` in the delta must be what the base
//! holds. A mismatch means the base is not the inventory the delta was made
//! from (a lost delta), and the collector should ask for a full snapshot
//! rather than guess.
//!
//! # Volatile values
//!
//! A few values move by themselves while nothing about the machine
//! changed. Recorded as inventory changes they would bury the real ones
//! (every delta would carry the free space of every mount), so a delta
//! never holds a change of them alone, and [`apply`] matches items without
//! looking at them:
//!
//! - `storage.filesystems[].free_bytes`: moves with every write; the agent
//!   samples it as the `filesystem.used_percent` metric.
//! - `hardware.batteries[].capacity_percent` and `.status`: the charge and
//!   whether it is charging follow the power cable, not the hardware.
//! - `services.listeners[].pid`: a new process id at every restart of the
//!   service; the process name is still compared.
//!
//! The boot time is not volatile: it changes once per boot, and the change
//! history is where a reboot shows. Logged-in sessions are not either: who
//! is logged in where is what caller lookup reads.
//!
//! A snapshot carries every value as read. A part or item that changed for
//! another reason carries its volatile values along, as read then. So
//! `apply(&diff(a, b), a)` equals `b` modulo volatile values
//! ([`without_volatile`] of both are equal): an item whose only difference
//! is volatile keeps the value of `a`.

use std::collections::BTreeMap;
use std::fmt::Debug;

use serde::{Deserialize, Serialize};

use crate::model::*;

/// The changes that turn one inventory into another.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct InventoryDelta {
    /// Changes in inventory order (host first, services last).
    pub changes: Vec<Change>,
}

impl InventoryDelta {
    /// True when the two inventories were equal.
    pub fn is_empty(&self) -> bool {
        self.changes.is_empty()
    }
}

/// A part that exists once, replaced whole.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Edit<T> {
    /// The value in the older inventory.
    pub before: T,
    /// The value in the newer inventory.
    pub after: T,
}

/// One item of a collection added, removed or changed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ItemChange<T> {
    /// Present only in the newer inventory.
    Added(T),
    /// Present only in the older inventory.
    Removed(T),
    /// Same key, other values.
    Changed {
        /// The item in the older inventory.
        before: T,
        /// The item in the newer inventory.
        after: T,
    },
}

/// A delta that does not fit the inventory it is applied to.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ApplyError {
    /// A part replaced whole did not hold the delta's `before` value.
    #[error("{path}: the inventory does not hold the value this delta changes from")]
    Conflict {
        /// Where in the inventory, e.g. `hardware.bios`.
        path: &'static str,
    },
    /// A removed or changed item is not in the inventory.
    #[error("{path}: the delta removes or changes {key}, which the inventory does not hold")]
    MissingItem {
        /// Where in the inventory, e.g. `software.packages`.
        path: &'static str,
        /// The item's key.
        key: String,
    },
}

/// An item of a collection with the key that identifies it across inventories.
pub trait Keyed {
    /// The identifying part of the item.
    type Key<'a>: Ord + Debug
    where
        Self: 'a;
    /// This item's key.
    fn key(&self) -> Self::Key<'_>;

    /// Whether the item has volatile values (see the module docs).
    const VOLATILE: bool = false;

    /// Clears the volatile values, so two items equal but for them compare equal.
    fn clear_volatile(&mut self) {}

    /// Equal but for volatile values.
    fn steady_eq(&self, other: &Self) -> bool
    where
        Self: PartialEq + Clone,
    {
        if self == other {
            return true;
        }
        if !Self::VOLATILE {
            return false;
        }
        let (mut a, mut b) = (self.clone(), other.clone());
        a.clear_volatile();
        b.clear_volatile();
        a == b
    }
}

macro_rules! keyed {
    ($($ty:ty => |$it:ident| $key:expr, $kty:ty $(, volatile |$v:ident| $clear:block)?;)*) => {$(
        impl Keyed for $ty {
            type Key<'a> = $kty;
            fn key(&self) -> Self::Key<'_> {
                let $it = self;
                $key
            }
            $(
                const VOLATILE: bool = true;
                fn clear_volatile(&mut self) {
                    let $v = self;
                    $clear
                }
            )?
        }
    )*};
}

keyed! {
    MemoryModule => |m| &m.locator, &'a str;
    PciDevice => |d| &d.address, &'a str;
    UsbDevice => |d| &d.port, &'a str;
    Battery => |b| &b.name, &'a str, volatile |b| {
        b.capacity_percent = None;
        b.status = None;
    };
    Gpu => |g| &g.pci_address, &'a str;
    Monitor => |m| &m.connector, &'a str;
    Package => |p| (&p.name, &p.arch), (&'a str, &'a Option<String>);
    Interface => |i| &i.name, &'a str;
    Gateway => |g| (&g.interface, &g.address), (&'a str, &'a std::net::IpAddr);
    Disk => |d| &d.name, &'a str;
    Filesystem => |f| &f.mount_point, &'a str, volatile |f| {
        f.free_bytes = None;
    };
    Account => |a| &a.name, &'a str;
    Group => |g| &g.name, &'a str;
    Session => |s| (&s.user, &s.tty), (&'a str, &'a str);
    Service => |s| &s.name, &'a str;
    Listener => |l| (l.protocol, l.address, l.port), (Protocol, std::net::IpAddr, u16), volatile |l| {
        l.pid = None;
    };
}

macro_rules! inventory_parts {
    (
        once { $($ov:ident($oty:ty) = $opath:literal => $($of:ident).+;)* }
        many { $($mv:ident($mty:ty) = $mpath:literal => $($mf:ident).+;)* }
    ) => {
        /// One change to one part of an inventory.
        #[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
        #[serde(rename_all = "snake_case")]
        pub enum Change {
            $(
                #[doc = concat!("`", $opath, "` replaced.")]
                $ov(Edit<$oty>),
            )*
            $(
                #[doc = concat!("An item of `", $mpath, "`.")]
                $mv(ItemChange<$mty>),
            )*
        }

        impl Change {
            /// Where in the inventory the change is, e.g. `software.packages`.
            pub fn path(&self) -> &'static str {
                match self {
                    $(Change::$ov(_) => $opath,)*
                    $(Change::$mv(_) => $mpath,)*
                }
            }

            /// The changed item's key, for collections (e.g. `("curl", Some("amd64"))`).
            pub fn key(&self) -> Option<String> {
                match self {
                    $(Change::$ov(_) => None,)*
                    $(Change::$mv(c) => Some(format!("{:?}", c.item().key())),)*
                }
            }

            /// The change of the part at `path` from its serde form without the
            /// variant tag: `{"before": …, "after": …}` for a part replaced whole,
            /// `{"added": …}`, `{"removed": …}` or `{"changed": {…}}` for an item.
            /// `None` for a path no part has. For readers that get a change as
            /// its path and sides, such as the JSON of the collector's API.
            pub fn decode<'de, D: serde::Deserializer<'de>>(
                path: &str,
                inner: D,
            ) -> Result<Option<Change>, D::Error> {
                Ok(Some(match path {
                    $($opath => Change::$ov(Edit::deserialize(inner)?),)*
                    $($mpath => Change::$mv(ItemChange::deserialize(inner)?),)*
                    _ => return Ok(None),
                }))
            }
        }

        /// The changes that turn `before` into `after`; both must be canonical.
        pub fn diff(before: &Inventory, after: &Inventory) -> InventoryDelta {
            let mut changes = Vec::new();
            $(
                if before.$($of).+ != after.$($of).+ {
                    changes.push(Change::$ov(Edit {
                        before: before.$($of).+.clone(),
                        after: after.$($of).+.clone(),
                    }));
                }
            )*
            $(diff_items(&before.$($mf).+, &after.$($mf).+, &mut changes, Change::$mv);)*
            InventoryDelta { changes }
        }

        /// `inventory` with every volatile value cleared (see the module docs):
        /// what deltas compare.
        pub fn without_volatile(inventory: &Inventory) -> Inventory {
            let mut inventory = inventory.clone();
            $(
                if <$mty as Keyed>::VOLATILE {
                    inventory.$($mf).+.iter_mut().for_each(Keyed::clear_volatile);
                }
            )*
            inventory.canonicalize();
            inventory
        }

        /// Applies `delta` to `base`, giving the newer inventory in canonical order.
        pub fn apply(delta: &InventoryDelta, base: &Inventory) -> Result<Inventory, ApplyError> {
            let mut inventory = base.clone();
            for change in &delta.changes {
                match change {
                    $(Change::$ov(edit) => apply_edit(&mut inventory.$($of).+, edit, $opath)?,)*
                    $(Change::$mv(item) => apply_item(&mut inventory.$($mf).+, item, $mpath)?,)*
                }
            }
            inventory.canonicalize();
            Ok(inventory)
        }
    };
}

inventory_parts! {
    once {
        Host(Host) = "host" => host;
        Os(Os) = "os" => os;
        System(SystemInfo) = "hardware.system" => hardware.system;
        Board(Board) = "hardware.board" => hardware.board;
        Bios(Bios) = "hardware.bios" => hardware.bios;
        Chassis(Chassis) = "hardware.chassis" => hardware.chassis;
        Cpu(Cpu) = "hardware.cpu" => hardware.cpu;
        Memory(Memory) = "hardware.memory" => hardware.memory;
        PackageManager(Option<String>) = "software.manager" => software.manager;
        SkippedPackages(u32) = "software.skipped_entries" => software.skipped_entries;
        Dns(Dns) = "network.dns" => network.dns;
        LastLogin(Option<Login>) = "users.last_login" => users.last_login;
        ServiceManager(Option<String>) = "services.manager" => services.manager;
    }
    many {
        MemoryModule(MemoryModule) = "hardware.memory_modules" => hardware.memory_modules;
        Pci(PciDevice) = "hardware.pci" => hardware.pci;
        Usb(UsbDevice) = "hardware.usb" => hardware.usb;
        Battery(Battery) = "hardware.batteries" => hardware.batteries;
        Gpu(Gpu) = "hardware.gpus" => hardware.gpus;
        Monitor(Monitor) = "hardware.monitors" => hardware.monitors;
        Package(Package) = "software.packages" => software.packages;
        Interface(Interface) = "network.interfaces" => network.interfaces;
        Gateway(Gateway) = "network.gateways" => network.gateways;
        Disk(Disk) = "storage.disks" => storage.disks;
        Filesystem(Filesystem) = "storage.filesystems" => storage.filesystems;
        Account(Account) = "users.accounts" => users.accounts;
        Group(Group) = "users.groups" => users.groups;
        Session(Session) = "users.sessions" => users.sessions;
        Service(Service) = "services.units" => services.units;
        Listener(Listener) = "services.listeners" => services.listeners;
    }
}

impl<T> ItemChange<T> {
    /// The item as it is after the change (before it, for a removal).
    pub fn item(&self) -> &T {
        match self {
            ItemChange::Added(item) | ItemChange::Removed(item) => item,
            ItemChange::Changed { after, .. } => after,
        }
    }
}

/// Item changes between two collections, matched by key. Items equal in both
/// (but for volatile values) are left out; where several items share a key
/// (a package installed in two versions), equal ones are matched first and
/// the rest paired in order.
fn diff_items<T: Keyed + Clone + Ord>(
    before: &[T],
    after: &[T],
    out: &mut Vec<Change>,
    wrap: fn(ItemChange<T>) -> Change,
) {
    if before == after {
        return;
    }
    let mut by_key: BTreeMap<T::Key<'_>, (Vec<&T>, Vec<&T>)> = BTreeMap::new();
    for item in before {
        by_key.entry(item.key()).or_default().0.push(item);
    }
    for item in after {
        by_key.entry(item.key()).or_default().1.push(item);
    }
    for (_, (mut old, mut new)) in by_key {
        old.retain(|o| match new.iter().position(|n| n.steady_eq(o)) {
            Some(i) => {
                new.remove(i);
                false
            }
            None => true,
        });
        let (mut old, mut new) = (old.into_iter(), new.into_iter());
        loop {
            let change = match (old.next(), new.next()) {
                (Some(b), Some(a)) => ItemChange::Changed {
                    before: b.clone(),
                    after: a.clone(),
                },
                (Some(b), None) => ItemChange::Removed(b.clone()),
                (None, Some(a)) => ItemChange::Added(a.clone()),
                (None, None) => break,
            };
            out.push(wrap(change));
        }
    }
}

fn apply_edit<T: PartialEq + Clone>(
    part: &mut T,
    edit: &Edit<T>,
    path: &'static str,
) -> Result<(), ApplyError> {
    if *part != edit.before {
        return Err(ApplyError::Conflict { path });
    }
    *part = edit.after.clone();
    Ok(())
}

fn apply_item<T: Keyed + Clone + PartialEq>(
    items: &mut Vec<T>,
    change: &ItemChange<T>,
    path: &'static str,
) -> Result<(), ApplyError> {
    let position = |items: &[T], wanted: &T| {
        items
            .iter()
            .position(|i| i.steady_eq(wanted))
            .ok_or_else(|| ApplyError::MissingItem {
                path,
                key: format!("{:?}", wanted.key()),
            })
    };
    match change {
        ItemChange::Added(item) => items.push(item.clone()),
        ItemChange::Removed(item) => {
            let i = position(items, item)?;
            items.remove(i);
        }
        ItemChange::Changed { before, after } => {
            let i = position(items, before)?;
            items[i] = after.clone();
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn package(name: &str, version: &str) -> Package {
        Package {
            name: name.into(),
            version: version.into(),
            arch: Some("amd64".into()),
            ..Package::default()
        }
    }

    fn with_packages(packages: Vec<Package>) -> Inventory {
        let mut inv = Inventory::default();
        inv.software.packages = packages;
        inv.canonicalize();
        inv
    }

    #[test]
    fn one_package_upgraded_is_one_change_with_before_and_after() {
        let a = with_packages(vec![package("curl", "7.88.1-10"), package("zsh", "5.9-4")]);
        let b = with_packages(vec![
            package("curl", "7.88.1-10+deb12u8"),
            package("zsh", "5.9-4"),
        ]);
        let delta = diff(&a, &b);
        assert_eq!(
            delta.changes,
            vec![Change::Package(ItemChange::Changed {
                before: package("curl", "7.88.1-10"),
                after: package("curl", "7.88.1-10+deb12u8"),
            })]
        );
        assert_eq!(delta.changes[0].path(), "software.packages");
        assert_eq!(apply(&delta, &a).unwrap(), b);
    }

    #[test]
    fn equal_inventories_give_an_empty_delta() {
        let a = with_packages(vec![package("curl", "1")]);
        assert!(diff(&a, &a.clone()).is_empty());
    }

    #[test]
    fn two_versions_under_one_key_are_matched_exactly() {
        let a = with_packages(vec![package("kernel", "6.1"), package("kernel", "6.2")]);
        let b = with_packages(vec![package("kernel", "6.2"), package("kernel", "6.3")]);
        let delta = diff(&a, &b);
        assert_eq!(delta.changes.len(), 1, "{delta:?}");
        assert_eq!(apply(&delta, &a).unwrap(), b);
    }

    #[test]
    fn applying_to_the_wrong_base_is_an_error() {
        let a = with_packages(vec![package("curl", "1")]);
        let b = with_packages(vec![package("curl", "2")]);
        let delta = diff(&a, &b);
        let err = apply(&delta, &Inventory::default()).unwrap_err();
        assert_eq!(
            err,
            ApplyError::MissingItem {
                path: "software.packages",
                key: "(\"curl\", Some(\"amd64\"))".into()
            }
        );
        let mut other = a.clone();
        other.os.id = Some("debian".into());
        let mut newer = other.clone();
        newer.os.id = Some("ubuntu".into());
        let err = apply(&diff(&other, &newer), &a).unwrap_err();
        assert_eq!(err, ApplyError::Conflict { path: "os" });
    }

    /// `b` shares some parts with `a` and takes the rest from `c`, so deltas
    /// mix untouched, replaced, added, removed and changed items.
    fn mixed(a: &Inventory, c: &Inventory, mask: u32) -> Inventory {
        let mut b = a.clone();
        let bit = |n: u32| mask & (1 << n) != 0;
        if bit(0) {
            b.host = c.host.clone();
        }
        if bit(1) {
            b.hardware.cpu = c.hardware.cpu.clone();
        }
        if bit(2) {
            b.hardware.pci = c.hardware.pci.clone();
        }
        if bit(3) {
            let keep = b.software.packages.len() / 2;
            b.software.packages.truncate(keep);
            b.software
                .packages
                .extend(c.software.packages.iter().cloned());
        }
        if bit(4) {
            b.network = c.network.clone();
        }
        if bit(5) {
            b.storage.filesystems = c.storage.filesystems.clone();
        }
        if bit(6) {
            b.users = c.users.clone();
        }
        if bit(7) {
            b.services
                .listeners
                .extend(c.services.listeners.iter().cloned());
        }
        if bit(8) {
            for (p, q) in b.software.packages.iter_mut().zip(&c.software.packages) {
                p.version = q.version.clone();
            }
        }
        if bit(9) {
            for f in &mut b.storage.filesystems {
                f.free_bytes = Some(f.free_bytes.map_or(1, |n| n / 2));
            }
            for l in &mut b.services.listeners {
                l.pid = Some(l.pid.map_or(1, |p| p.wrapping_add(1)));
            }
        }
        b.canonicalize();
        b
    }

    fn filesystem(mount: &str, device: &str, free: u64) -> Filesystem {
        Filesystem {
            mount_point: mount.into(),
            device: device.into(),
            fs_type: "ext4".into(),
            total_bytes: Some(100 << 30),
            free_bytes: Some(free),
            ..Filesystem::default()
        }
    }

    fn with_filesystems(filesystems: Vec<Filesystem>) -> Inventory {
        let mut inv = Inventory::default();
        inv.storage.filesystems = filesystems;
        inv.canonicalize();
        inv
    }

    #[test]
    fn free_space_alone_is_no_change() {
        let a = with_filesystems(vec![
            filesystem("/", "/dev/sda2", 40 << 30),
            filesystem("/home", "/dev/sda3", 10 << 30),
        ]);
        let b = with_filesystems(vec![
            filesystem("/", "/dev/sda2", 39 << 30),
            filesystem("/home", "/dev/sda3", 11 << 30),
        ]);
        assert_ne!(a, b);
        assert!(diff(&a, &b).is_empty(), "{:?}", diff(&a, &b));
        assert_eq!(without_volatile(&a), without_volatile(&b));
    }

    #[test]
    fn battery_charge_and_listener_pid_alone_are_no_change() {
        let mut a = Inventory::default();
        a.hardware.batteries.push(Battery {
            name: "BAT0".into(),
            capacity_percent: Some(78),
            status: Some("Discharging".into()),
            cycle_count: Some(311),
            ..Battery::default()
        });
        a.services.listeners.push(Listener {
            protocol: Protocol::Tcp,
            address: "0.0.0.0".parse().unwrap(),
            port: 22,
            pid: Some(812),
            process: Some("sshd".into()),
        });
        let mut b = a.clone();
        b.hardware.batteries[0].capacity_percent = Some(100);
        b.hardware.batteries[0].status = Some("Full".into());
        b.services.listeners[0].pid = Some(4711);
        assert!(diff(&a, &b).is_empty());
        // Wear is not volatile: a new cycle count is a change.
        b.hardware.batteries[0].cycle_count = Some(312);
        assert_eq!(diff(&a, &b).changes.len(), 1);
    }

    #[test]
    fn a_real_change_carries_its_volatile_values_and_applies_to_an_older_copy() {
        // The collector's copy holds the free space of the last snapshot;
        // the agent's last inventory holds a newer one.
        let collector = with_filesystems(vec![filesystem("/data", "/dev/sdb1", 50 << 30)]);
        let agent_last = with_filesystems(vec![filesystem("/data", "/dev/sdb1", 45 << 30)]);
        let now = with_filesystems(vec![filesystem("/data", "/dev/sdc1", 90 << 30)]);
        let delta = diff(&agent_last, &now);
        assert_eq!(delta.changes.len(), 1);
        assert_eq!(apply(&delta, &collector).unwrap(), now);
        // And a removal finds the item whatever its free space.
        let gone = diff(&agent_last, &with_filesystems(vec![]));
        assert_eq!(apply(&gone, &collector).unwrap(), with_filesystems(vec![]));
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]

        /// `apply(diff(a, b), a)` is `b` modulo volatile values: equal once
        /// both have them cleared; and exactly `b` when no volatile value
        /// is in play.
        #[test]
        fn apply_of_diff_gives_the_newer_inventory(mut a: Inventory, mut c: Inventory, mask: u32) {
            a.canonicalize();
            c.canonicalize();
            let b = mixed(&a, &c, mask);
            let steady = without_volatile;
            prop_assert_eq!(steady(&apply(&diff(&a, &b), &a).unwrap()), steady(&b));
            prop_assert_eq!(steady(&apply(&diff(&b, &a), &b).unwrap()), steady(&a));
            prop_assert_eq!(steady(&apply(&diff(&a, &c), &a).unwrap()), steady(&c));

            let (a, c) = (steady(&a), steady(&c));
            let b = mixed(&a, &c, mask & !(1 << 9));
            prop_assert_eq!(apply(&diff(&a, &b), &a).unwrap(), b);
            prop_assert_eq!(apply(&diff(&a, &c), &a).unwrap(), c);
        }

        #[test]
        fn a_delta_survives_the_wire(mut a: Inventory, mut c: Inventory, mask: u32) {
            a.canonicalize();
            c.canonicalize();
            let b = mixed(&a, &c, mask);
            let delta = diff(&a, &b);
            let bytes = postcard::to_stdvec(&delta).unwrap();
            let back: InventoryDelta = postcard::from_bytes(&bytes).unwrap();
            prop_assert_eq!(back, delta);
        }
    }
}
