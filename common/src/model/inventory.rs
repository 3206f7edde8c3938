//! The inventory of one host: what it is, what it has, what runs on it.
//!
//! The JSON form (`atalaya-agent inventory --json`) has exactly eight
//! top-level keys: `host`, `os`, `hardware`, `software`, `network`,
//! `storage`, `users`, `services`. A value the agent could not read is
//! `null` (or an empty list) and the reason is listed in `host.unavailable`.
//! Sizes are bytes, frequencies MHz, times RFC 3339 UTC. The same types
//! encode with postcard on the wire, which is why no field is ever skipped
//! when serializing: postcard is not self-describing.
//!
//! Every collection is kept in canonical (sorted) order, see
//! [`Inventory::canonicalize`], so that two inventories of the same host
//! compare equal and [`crate::diff`] produces minimal deltas. No type here
//! holds a float, so everything is `Ord`.

use std::net::IpAddr;

use serde::{Deserialize, Serialize};

use super::Timestamp;

#[cfg(test)]
use proptest_derive::Arbitrary;

/// The whole inventory of one host.
#[derive(Debug, Clone, Default, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(test, derive(Arbitrary))]
pub struct Inventory {
    /// Identity of the machine and where it runs.
    pub host: Host,
    /// Operating system and kernel.
    pub os: Os,
    /// Firmware, processors, memory and devices.
    pub hardware: Hardware,
    /// Installed packages.
    pub software: Software,
    /// Interfaces, addresses, routes and resolvers.
    pub network: Network,
    /// Block devices and mounted filesystems.
    pub storage: Storage,
    /// Accounts, groups and who is logged in.
    pub users: Users,
    /// Service units and listening sockets.
    pub services: Services,
}

/// Identity of the machine.
#[derive(Debug, Clone, Default, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(test, derive(Arbitrary))]
pub struct Host {
    /// The kernel's host name.
    pub hostname: String,
    /// Fully qualified name from `/etc/hosts` or the resolver's domain.
    pub fqdn: Option<String>,
    /// `/etc/machine-id`: stable across reboots, changes on reinstall.
    pub machine_id: Option<String>,
    /// When the kernel booted.
    pub boot_time: Option<Timestamp>,
    /// IANA time zone name, e.g. `Europe/Madrid`.
    pub timezone: Option<String>,
    /// Hypervisor and container detection.
    pub virtualization: Virtualization,
    /// Every value that could not be read, and why.
    pub unavailable: Vec<Unavailable>,
}

/// Whether the host is a physical machine, a virtual machine or a container.
#[derive(Debug, Clone, Default, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(test, derive(Arbitrary))]
pub struct Virtualization {
    /// `physical`, `virtual` or `unknown`.
    pub kind: MachineKind,
    /// Hypervisor name, e.g. `kvm`, `vmware`, `hyperv`, `xen`.
    pub hypervisor: Option<String>,
    /// VM product from DMI, e.g. `Standard PC (Q35 + ICH9, 2009)`.
    pub vm_product: Option<String>,
    /// Container runtime, e.g. `docker`, `podman`, `lxc`, `kubernetes`.
    pub container: Option<String>,
}

/// Physical or virtual.
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(test, derive(Arbitrary))]
#[serde(rename_all = "snake_case")]
pub enum MachineKind {
    /// No evidence either way.
    #[default]
    Unknown,
    /// Bare metal.
    Physical,
    /// A guest of a hypervisor.
    Virtual,
}

/// A value that could not be read.
#[derive(Debug, Clone, Default, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(test, derive(Arbitrary))]
pub struct Unavailable {
    /// The inventory source, e.g. `hardware`.
    pub source: String,
    /// What is missing, e.g. `memory modules`.
    pub item: String,
    /// Why, e.g. `/sys/firmware/dmi/tables/DMI: permission denied`.
    pub reason: String,
}

/// Operating system.
#[derive(Debug, Clone, Default, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(test, derive(Arbitrary))]
pub struct Os {
    /// `NAME` from os-release, e.g. `Debian GNU/Linux`.
    pub name: Option<String>,
    /// `PRETTY_NAME`, e.g. `Debian GNU/Linux 12 (bookworm)`.
    pub pretty_name: Option<String>,
    /// `ID`, e.g. `debian`.
    pub id: Option<String>,
    /// `ID_LIKE`, e.g. `["rhel", "fedora"]`.
    pub id_like: Vec<String>,
    /// `VERSION`, e.g. `12 (bookworm)`.
    pub version: Option<String>,
    /// `VERSION_ID`, e.g. `12`.
    pub version_id: Option<String>,
    /// `VERSION_CODENAME`, e.g. `bookworm`.
    pub codename: Option<String>,
    /// Kernel name, e.g. `Linux`.
    pub kernel_name: Option<String>,
    /// Kernel release, e.g. `6.1.0-26-amd64`.
    pub kernel_release: Option<String>,
    /// Kernel build string, e.g. `#1 SMP PREEMPT_DYNAMIC Debian 6.1.112-1`.
    pub kernel_version: Option<String>,
    /// Machine architecture, e.g. `x86_64`.
    pub arch: Option<String>,
}

/// Firmware, processors, memory and devices.
#[derive(Debug, Clone, Default, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(test, derive(Arbitrary))]
pub struct Hardware {
    /// DMI system information.
    pub system: SystemInfo,
    /// DMI base board.
    pub board: Board,
    /// BIOS or UEFI firmware.
    pub bios: Bios,
    /// DMI chassis.
    pub chassis: Chassis,
    /// Processors.
    pub cpu: Cpu,
    /// Memory and swap totals.
    pub memory: Memory,
    /// Memory modules from the SMBIOS table (type 17), populated slots only.
    pub memory_modules: Vec<MemoryModule>,
    /// PCI devices.
    pub pci: Vec<PciDevice>,
    /// USB devices (hubs included).
    pub usb: Vec<UsbDevice>,
    /// Batteries.
    pub batteries: Vec<Battery>,
    /// Display adapters.
    pub gpus: Vec<Gpu>,
    /// Connected monitors, from their EDID.
    pub monitors: Vec<Monitor>,
}

/// DMI system information (`/sys/class/dmi/id/sys_*`, `product_*`).
#[derive(Debug, Clone, Default, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(test, derive(Arbitrary))]
pub struct SystemInfo {
    /// Manufacturer, e.g. `Dell Inc.`.
    pub vendor: Option<String>,
    /// Product name, e.g. `Latitude 7440`.
    pub product: Option<String>,
    /// Product version.
    pub version: Option<String>,
    /// Serial number (service tag).
    pub serial: Option<String>,
    /// SMBIOS UUID, lower case.
    pub uuid: Option<String>,
    /// SKU number.
    pub sku: Option<String>,
    /// Product family.
    pub family: Option<String>,
}

/// DMI base board.
#[derive(Debug, Clone, Default, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(test, derive(Arbitrary))]
pub struct Board {
    /// Manufacturer.
    pub vendor: Option<String>,
    /// Board name.
    pub product: Option<String>,
    /// Board version.
    pub version: Option<String>,
    /// Board serial.
    pub serial: Option<String>,
    /// Asset tag.
    pub asset_tag: Option<String>,
}

/// BIOS or UEFI firmware.
#[derive(Debug, Clone, Default, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(test, derive(Arbitrary))]
pub struct Bios {
    /// Firmware vendor.
    pub vendor: Option<String>,
    /// Firmware version.
    pub version: Option<String>,
    /// Release date as the firmware states it (usually `MM/DD/YYYY`).
    pub date: Option<String>,
}

/// DMI chassis.
#[derive(Debug, Clone, Default, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(test, derive(Arbitrary))]
pub struct Chassis {
    /// SMBIOS chassis type by name, e.g. `Notebook`, `Desktop`, `Rack Mount Chassis`.
    pub kind: Option<String>,
    /// Manufacturer.
    pub vendor: Option<String>,
    /// Chassis serial.
    pub serial: Option<String>,
    /// Asset tag.
    pub asset_tag: Option<String>,
}

/// Processors.
#[derive(Debug, Clone, Default, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(test, derive(Arbitrary))]
pub struct Cpu {
    /// Vendor, e.g. `GenuineIntel`, `AuthenticAMD`, or the ARM implementer.
    pub vendor: Option<String>,
    /// Model name, e.g. `Intel(R) Core(TM) i7-1365U`.
    pub model: Option<String>,
    /// CPU family number.
    pub family: Option<u32>,
    /// CPU model number.
    pub model_number: Option<u32>,
    /// Stepping.
    pub stepping: Option<u32>,
    /// Populated sockets.
    pub sockets: u32,
    /// Physical cores over all sockets.
    pub physical_cores: u32,
    /// Logical processors (hardware threads) online.
    pub logical_cores: u32,
    /// Highest frequency the cores can run at, MHz.
    pub max_mhz: Option<u32>,
}

/// Memory and swap totals.
#[derive(Debug, Clone, Default, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(test, derive(Arbitrary))]
pub struct Memory {
    /// `MemTotal`, bytes usable by the kernel.
    pub total_bytes: u64,
    /// `SwapTotal`, bytes.
    pub swap_total_bytes: u64,
}

/// One populated memory slot.
#[derive(Debug, Clone, Default, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(test, derive(Arbitrary))]
pub struct MemoryModule {
    /// Slot name, e.g. `DIMM A1`. The key of a module.
    pub locator: String,
    /// Bank name, e.g. `BANK 0`.
    pub bank: Option<String>,
    /// Size in bytes.
    pub size_bytes: u64,
    /// Memory type, e.g. `DDR4`, `LPDDR5`.
    pub kind: Option<String>,
    /// Form factor, e.g. `SODIMM`, `DIMM`.
    pub form_factor: Option<String>,
    /// Configured speed, MT/s.
    pub speed_mts: Option<u32>,
    /// Manufacturer.
    pub manufacturer: Option<String>,
    /// Serial number.
    pub serial: Option<String>,
    /// Part number.
    pub part_number: Option<String>,
}

/// A PCI device.
#[derive(Debug, Clone, Default, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(test, derive(Arbitrary))]
pub struct PciDevice {
    /// Bus address, e.g. `0000:00:02.0`. The key of a device.
    pub address: String,
    /// Class code, six hex digits, e.g. `030000`.
    pub class: String,
    /// Class name from `pci.ids`, e.g. `VGA compatible controller`.
    pub class_name: Option<String>,
    /// Vendor ID, four hex digits.
    pub vendor_id: String,
    /// Device ID, four hex digits.
    pub device_id: String,
    /// Vendor name from `pci.ids`.
    pub vendor_name: Option<String>,
    /// Device name from `pci.ids`.
    pub device_name: Option<String>,
    /// Subsystem vendor ID.
    pub subsystem_vendor_id: Option<String>,
    /// Subsystem device ID.
    pub subsystem_device_id: Option<String>,
    /// Revision, two hex digits.
    pub revision: Option<String>,
    /// Kernel driver bound to it.
    pub driver: Option<String>,
}

/// A USB device.
#[derive(Debug, Clone, Default, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(test, derive(Arbitrary))]
pub struct UsbDevice {
    /// Port path, e.g. `1-1.2`, or `usb1` for a root hub. The key of a device.
    pub port: String,
    /// Vendor ID, four hex digits.
    pub vendor_id: String,
    /// Product ID, four hex digits.
    pub product_id: String,
    /// Manufacturer string from the device, or the vendor name from `usb.ids`.
    pub manufacturer: Option<String>,
    /// Product string from the device, or the product name from `usb.ids`.
    pub product: Option<String>,
    /// Serial number string.
    pub serial: Option<String>,
    /// Device class, two hex digits.
    pub class: Option<String>,
    /// Link speed, Mbit/s.
    pub speed_mbps: Option<u32>,
}

/// A battery.
#[derive(Debug, Clone, Default, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(test, derive(Arbitrary))]
pub struct Battery {
    /// Kernel name, e.g. `BAT0`. The key of a battery.
    pub name: String,
    /// Manufacturer.
    pub manufacturer: Option<String>,
    /// Model name.
    pub model: Option<String>,
    /// Serial number.
    pub serial: Option<String>,
    /// Chemistry, e.g. `Li-ion`.
    pub technology: Option<String>,
    /// `Charging`, `Discharging`, `Full`, `Not charging`, `Unknown`.
    pub status: Option<String>,
    /// Charge now, percent.
    pub capacity_percent: Option<u8>,
    /// Design capacity, µWh.
    pub design_capacity_uwh: Option<u64>,
    /// Full-charge capacity now, µWh (wear shows as the gap to design).
    pub full_capacity_uwh: Option<u64>,
    /// Charge cycles.
    pub cycle_count: Option<u32>,
}

/// A display adapter.
#[derive(Debug, Clone, Default, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(test, derive(Arbitrary))]
pub struct Gpu {
    /// PCI address. The key of a GPU.
    pub pci_address: String,
    /// Vendor name (or ID when `pci.ids` is missing).
    pub vendor: Option<String>,
    /// Model name (or device ID).
    pub model: Option<String>,
    /// Kernel driver.
    pub driver: Option<String>,
}

/// A connected monitor.
#[derive(Debug, Clone, Default, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(test, derive(Arbitrary))]
pub struct Monitor {
    /// DRM connector, e.g. `card0-HDMI-A-1`. The key of a monitor.
    pub connector: String,
    /// Three-letter PNP manufacturer ID from the EDID, e.g. `DEL`.
    pub manufacturer: Option<String>,
    /// Product code, four hex digits.
    pub product_code: Option<String>,
    /// Model name from the EDID descriptor.
    pub model: Option<String>,
    /// Serial number (descriptor string, else the numeric serial).
    pub serial: Option<String>,
    /// Year of manufacture.
    pub year: Option<u16>,
    /// Screen width, cm.
    pub width_cm: Option<u8>,
    /// Screen height, cm.
    pub height_cm: Option<u8>,
}

/// Installed software.
#[derive(Debug, Clone, Default, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(test, derive(Arbitrary))]
pub struct Software {
    /// The package manager read: `dpkg`, `rpm`, `apk` or `pacman`.
    pub manager: Option<String>,
    /// Installed packages.
    pub packages: Vec<Package>,
    /// Database entries that were corrupt and skipped.
    pub skipped_entries: u32,
}

/// One installed package.
#[derive(Debug, Clone, Default, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(test, derive(Arbitrary))]
pub struct Package {
    /// Package name. With `arch`, the key of a package.
    pub name: String,
    /// Full version as the manager writes it (epoch and release included).
    pub version: String,
    /// Architecture, e.g. `amd64`, `x86_64`, `noarch`.
    pub arch: Option<String>,
    /// Vendor, maintainer or packager.
    pub vendor: Option<String>,
    /// When it was installed, where the database knows.
    pub installed_at: Option<Timestamp>,
    /// Installed size, bytes.
    pub size_bytes: Option<u64>,
    /// Source package or origin.
    pub source: Option<String>,
}

/// Network configuration.
#[derive(Debug, Clone, Default, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(test, derive(Arbitrary))]
pub struct Network {
    /// Interfaces.
    pub interfaces: Vec<Interface>,
    /// Default gateways.
    pub gateways: Vec<Gateway>,
    /// Resolver configuration.
    pub dns: Dns,
}

/// A network interface.
#[derive(Debug, Clone, Default, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(test, derive(Arbitrary))]
pub struct Interface {
    /// Kernel name, e.g. `eth0`. The key of an interface.
    pub name: String,
    /// Hardware address, lower-case colon form.
    pub mac: Option<String>,
    /// MTU, bytes.
    pub mtu: Option<u32>,
    /// Link speed, Mbit/s, where the driver reports it.
    pub speed_mbps: Option<u32>,
    /// Operational state, e.g. `up`, `down`, `unknown`.
    pub state: String,
    /// Physical, virtual or loopback.
    pub kind: InterfaceKind,
    /// Kernel driver.
    pub driver: Option<String>,
    /// Addresses with prefix lengths, sorted.
    pub addresses: Vec<IpNet>,
}

/// How an interface exists.
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(test, derive(Arbitrary))]
#[serde(rename_all = "snake_case")]
pub enum InterfaceKind {
    /// Backed by a device (it has `/sys/class/net/NAME/device`).
    #[default]
    Physical,
    /// Software only: bridge, veth, tun, bond, vlan…
    Virtual,
    /// The loopback interface.
    Loopback,
}

/// An address and its prefix length.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(test, derive(Arbitrary))]
pub struct IpNet {
    /// The address.
    #[cfg_attr(feature = "openapi", schema(value_type = String, example = "192.0.2.10"))]
    pub address: IpAddr,
    /// Prefix length in bits.
    pub prefix: u8,
}

/// A default route.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(test, derive(Arbitrary))]
pub struct Gateway {
    /// Interface the route leaves by.
    pub interface: String,
    /// The gateway's address.
    #[cfg_attr(feature = "openapi", schema(value_type = String, example = "192.0.2.10"))]
    pub address: IpAddr,
}

/// Resolver configuration.
#[derive(Debug, Clone, Default, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(test, derive(Arbitrary))]
pub struct Dns {
    /// Name servers in the order they are tried.
    #[cfg_attr(feature = "openapi", schema(value_type = Vec<String>))]
    pub servers: Vec<IpAddr>,
    /// Search domains.
    pub search: Vec<String>,
}

/// Storage.
#[derive(Debug, Clone, Default, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(test, derive(Arbitrary))]
pub struct Storage {
    /// Whole block devices (no partitions, no loop or RAM devices).
    pub disks: Vec<Disk>,
    /// Mounted filesystems, pseudo filesystems left out.
    pub filesystems: Vec<Filesystem>,
}

/// A block device.
#[derive(Debug, Clone, Default, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(test, derive(Arbitrary))]
pub struct Disk {
    /// Kernel name, e.g. `nvme0n1`. The key of a disk.
    pub name: String,
    /// Model.
    pub model: Option<String>,
    /// Vendor.
    pub vendor: Option<String>,
    /// Serial number.
    pub serial: Option<String>,
    /// Capacity, bytes.
    pub size_bytes: u64,
    /// Spinning disk.
    pub rotational: Option<bool>,
    /// Removable media.
    pub removable: bool,
}

/// A mounted filesystem.
#[derive(Debug, Clone, Default, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(test, derive(Arbitrary))]
pub struct Filesystem {
    /// Where it is mounted. The key of a filesystem.
    pub mount_point: String,
    /// What is mounted, e.g. `/dev/nvme0n1p2`.
    pub device: String,
    /// Filesystem type, e.g. `ext4`.
    pub fs_type: String,
    /// Mounted read-only.
    pub read_only: bool,
    /// Size, bytes (only read on the live host).
    pub total_bytes: Option<u64>,
    /// Space available to unprivileged users, bytes.
    pub free_bytes: Option<u64>,
}

/// Accounts and sessions.
#[derive(Debug, Clone, Default, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(test, derive(Arbitrary))]
pub struct Users {
    /// Local accounts from `/etc/passwd`.
    pub accounts: Vec<Account>,
    /// Local groups from `/etc/group`.
    pub groups: Vec<Group>,
    /// Who is logged in now (utmp).
    pub sessions: Vec<Session>,
    /// The most recent interactive login (wtmp), the machine's usual user.
    pub last_login: Option<Login>,
}

/// A local account.
#[derive(Debug, Clone, Default, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(test, derive(Arbitrary))]
pub struct Account {
    /// Login name. The key of an account.
    pub name: String,
    /// User ID.
    pub uid: u32,
    /// Primary group ID.
    pub gid: u32,
    /// Full name (first GECOS field).
    pub full_name: Option<String>,
    /// Home directory.
    pub home: String,
    /// Login shell.
    pub shell: String,
    /// A system account: UID below `UID_MIN` of `login.defs`, or no login shell.
    pub system: bool,
}

/// A local group.
#[derive(Debug, Clone, Default, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(test, derive(Arbitrary))]
pub struct Group {
    /// Group name. The key of a group.
    pub name: String,
    /// Group ID.
    pub gid: u32,
    /// Supplementary members, sorted.
    pub members: Vec<String>,
}

/// A login session.
#[derive(Debug, Clone, Default, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(test, derive(Arbitrary))]
pub struct Session {
    /// Who.
    pub user: String,
    /// Terminal, e.g. `pts/0`, `tty1`. With `user`, the key of a session.
    pub tty: String,
    /// Remote host for remote logins.
    pub remote_host: Option<String>,
    /// When the session started.
    pub started_at: Option<Timestamp>,
    /// Session leader's process ID.
    pub pid: Option<u32>,
}

/// A past login.
#[derive(Debug, Clone, Default, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(test, derive(Arbitrary))]
pub struct Login {
    /// Who.
    pub user: String,
    /// Terminal.
    pub tty: String,
    /// Remote host for remote logins.
    pub remote_host: Option<String>,
    /// When.
    pub at: Timestamp,
}

/// Services and listening sockets.
#[derive(Debug, Clone, Default, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(test, derive(Arbitrary))]
pub struct Services {
    /// The service manager read: `systemd`, `openrc` or `sysvinit`.
    pub manager: Option<String>,
    /// Service units.
    pub units: Vec<Service>,
    /// Sockets listening for connections.
    pub listeners: Vec<Listener>,
}

/// A service.
#[derive(Debug, Clone, Default, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(test, derive(Arbitrary))]
pub struct Service {
    /// Unit name, e.g. `ssh.service`. The key of a service.
    pub name: String,
    /// Description from the unit file.
    pub description: Option<String>,
    /// Whether it starts at boot.
    pub startup: Startup,
    /// Whether it runs now.
    pub state: RunState,
}

/// Whether a service starts at boot.
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(test, derive(Arbitrary))]
#[serde(rename_all = "snake_case")]
pub enum Startup {
    /// Not known.
    #[default]
    Unknown,
    /// Started at boot.
    Enabled,
    /// Installed but not started at boot.
    Disabled,
    /// Only started as a dependency of another unit.
    Static,
    /// Forbidden from starting.
    Masked,
}

/// Whether a service runs.
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(test, derive(Arbitrary))]
#[serde(rename_all = "snake_case")]
pub enum RunState {
    /// Not known (e.g. the service manager is not running).
    #[default]
    Unknown,
    /// Running.
    Active,
    /// Not running.
    Inactive,
}

/// A listening socket.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(test, derive(Arbitrary))]
pub struct Listener {
    /// `tcp` or `udp`.
    pub protocol: Protocol,
    /// Local address (`0.0.0.0` / `::` for all).
    #[cfg_attr(feature = "openapi", schema(value_type = String, example = "192.0.2.10"))]
    pub address: IpAddr,
    /// Local port.
    pub port: u16,
    /// Owning process, where it can be seen.
    pub pid: Option<u32>,
    /// Owning process name.
    pub process: Option<String>,
}

/// Transport protocol.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(test, derive(Arbitrary))]
#[serde(rename_all = "snake_case")]
pub enum Protocol {
    /// TCP.
    Tcp,
    /// UDP.
    Udp,
}

impl Inventory {
    /// Sorts every collection (and the lists inside items) into canonical order.
    pub fn canonicalize(&mut self) {
        self.host.unavailable.sort();
        let hw = &mut self.hardware;
        hw.memory_modules.sort();
        hw.pci.sort();
        hw.usb.sort();
        hw.batteries.sort();
        hw.gpus.sort();
        hw.monitors.sort();
        self.software.packages.sort();
        for iface in &mut self.network.interfaces {
            iface.addresses.sort();
        }
        self.network.interfaces.sort();
        self.network.gateways.sort();
        self.storage.disks.sort();
        self.storage.filesystems.sort();
        for group in &mut self.users.groups {
            group.members.sort();
        }
        self.users.accounts.sort();
        self.users.groups.sort();
        self.users.sessions.sort();
        self.services.units.sort();
        self.services.listeners.sort();
    }
}
