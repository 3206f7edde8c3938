//! GLPI's native inventory format: the JSON document GLPI's own agents
//! POST to `/front/inventory.php`, written from a host's Atalaya
//! inventory, so an organisation running GLPI can feed it from Atalaya's
//! agents. The document follows GLPI's published schema
//! (`inventory.schema.json` of `glpi-project/inventory_format`): its date
//! and datetime forms, its patterns (CPU architecture, interface status and
//! type), its integer fields. A value GLPI would refuse is left out rather
//! than sent, and so is a field Atalaya does not know.
//!
//! One function per GLPI section below, each a table of GLPI field ←
//! Atalaya value. Sizes are GLPI's megabytes (MiB, as its agents count
//! them); times are UTC.
//!
//! # Layout
//! - this file: the document and its sections;
//! - `values`: the value forms GLPI constrains, and the object builder that
//!   leaves out what has no value.

mod values;

#[cfg(test)]
mod tests;

use std::collections::BTreeSet;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use atalaya_common::model::{
    Account, Battery, Disk, Filesystem, Gpu, Group, Hardware, Interface, InterfaceKind, Inventory,
    MachineKind, MemoryModule, Monitor, Package, PciDevice, Software, Timestamp, UsbDevice, Users,
    Virtualization,
};
use serde_json::Value;

use values::{Obj, cpu_arch, date, datetime, firmware_date, mac, mask_v4, mask_v6, mib, pci_slot};

/// What the export needs of a host asset besides its inventory.
#[derive(Debug, Clone, Copy)]
pub struct Asset<'a> {
    /// Atalaya's asset id, e.g. `asset-17`.
    pub id: &'a str,
    /// The asset's host name.
    pub hostname: &'a str,
    /// Administrator tags, sent as GLPI's `TAG`.
    pub tags: &'a [String],
    /// When the inventory was taken (or the time it was asked as of).
    pub taken_at: Timestamp,
    /// Version of the agent that sent the inventory, when known.
    pub agent_version: Option<&'a str>,
}

/// The GLPI inventory document (itemtype `Computer`) of a host asset.
pub fn computer(asset: &Asset<'_>, inv: &Inventory) -> Value {
    let hostname = Some(inv.host.hostname.trim())
        .filter(|h| !h.is_empty())
        .unwrap_or(asset.hostname);
    Obj::new()
        .text("action", Some("inventory"))
        .text("deviceid", Some(device_id(hostname, asset.id)))
        .text("itemtype", Some("Computer"))
        .object("content", content(asset, hostname, inv))
        .done()
}

/// GLPI's agent id: host name and asset id, so it is unique to the asset
/// and the same in every export of it (GLPI keys its agents by it).
fn device_id(hostname: &str, asset_id: &str) -> String {
    if hostname.is_empty() {
        asset_id.to_owned()
    } else {
        format!("{hostname}-{asset_id}")
    }
}

fn content(asset: &Asset<'_>, hostname: &str, inv: &Inventory) -> Obj {
    let hw = &inv.hardware;
    let version = match asset.agent_version.map(str::trim) {
        Some(v) if !v.is_empty() => format!("Atalaya-Agent_v{v}"),
        _ => "Atalaya-Agent".to_owned(),
    };
    Obj::new()
        .text("versionclient", Some(version))
        .object(
            "accesslog",
            Obj::new().text("logdate", datetime(asset.taken_at)),
        )
        .object("accountinfo", account_info(asset.tags))
        .object("hardware", hardware(inv, hostname))
        .object("bios", bios(hw))
        .object("operatingsystem", operating_system(inv))
        .list("cpus", cpus(inv))
        .list("memories", memories(&hw.memory_modules))
        .list("storages", storages(&inv.storage.disks))
        .list("drives", drives(&inv.storage.filesystems))
        .list("networks", networks(&inv.network.interfaces))
        .list("softwares", softwares(&inv.software))
        .list("users", users(&inv.users))
        .list("local_users", local_users(&inv.users.accounts))
        .list("local_groups", local_groups(&inv.users.groups))
        .list("monitors", monitors(&hw.monitors))
        .list("batteries", batteries(&hw.batteries))
        .list("videos", videos(&hw.gpus))
        .list("sounds", sounds(&hw.pci))
        .list("usbdevices", usb_devices(&hw.usb))
        .list("controllers", controllers(&hw.pci))
}

/// `accountinfo`: the asset's tags as GLPI's agent `TAG` (comma-separated
/// when there are several), which GLPI's import rules can match.
fn account_info(tags: &[String]) -> Obj {
    let tags: Vec<&str> = tags
        .iter()
        .map(|t| t.trim())
        .filter(|t| !t.is_empty())
        .collect();
    if tags.is_empty() {
        return Obj::new();
    }
    Obj::new()
        .text("keyname", Some("TAG"))
        .text("keyvalue", Some(tags.join(",")))
}

/// `hardware`: the machine as a whole.
fn hardware(inv: &Inventory, hostname: &str) -> Obj {
    let hw = &inv.hardware;
    let net = &inv.network;
    // Zero means /proc/meminfo was not read, not a machine without memory.
    let memory_known = hw.memory.total_bytes > 0;
    let dns: Vec<String> = net.dns.servers.iter().map(IpAddr::to_string).collect();
    let gateway = net.gateways.iter().find(|g| g.address.is_ipv4());
    let ipv4: Vec<String> = net
        .interfaces
        .iter()
        .filter(|i| i.kind != InterfaceKind::Loopback)
        .flat_map(|i| &i.addresses)
        .filter(|a| a.address.is_ipv4())
        .map(|a| a.address.to_string())
        .collect();
    let last = inv.users.last_login.as_ref();
    Obj::new()
        .text("name", Some(hostname))
        .text("uuid", hw.system.uuid.as_ref())
        .int("memory", memory_known.then(|| mib(hw.memory.total_bytes)))
        .int(
            "swap",
            memory_known.then(|| mib(hw.memory.swap_total_bytes)),
        )
        .text("chassis_type", hw.chassis.kind.as_ref())
        .text("vmsystem", vm_system(&inv.host.virtualization))
        .text("oscomments", inv.os.kernel_version.as_ref())
        .text("dns", Some(dns.join("/")))
        .text("defaultgateway", gateway.map(|g| g.address.to_string()))
        .text("ipaddr", Some(ipv4.join("/")))
        .text("workgroup", dns_domain(inv))
        .text("lastloggeduser", last.map(|l| &l.user))
        .text("datelastloggeduser", last.and_then(|l| datetime(l.at)))
}

/// GLPI's `vmsystem`: `Physical`, or what the machine runs under, named
/// as GLPI's agents name it.
fn vm_system(v: &Virtualization) -> Option<String> {
    if let Some(c) = &v.container {
        let name = match c.trim() {
            "docker" => "Docker",
            "podman" => "Podman",
            other => other,
        };
        return Some(name.to_owned());
    }
    match v.kind {
        MachineKind::Physical => Some("Physical".to_owned()),
        MachineKind::Unknown => None,
        MachineKind::Virtual => {
            let name = match v.hypervisor.as_deref().map(str::trim) {
                Some("kvm") => "KVM",
                Some("qemu") => "QEMU",
                Some("vmware") => "VMware",
                Some("xen") => "Xen",
                Some("hyperv" | "microsoft") => "Hyper-V",
                Some("oracle" | "virtualbox") => "VirtualBox",
                Some("parallels") => "Parallels",
                Some(other) if !other.is_empty() => other,
                _ => "Virtual Machine",
            };
            Some(name.to_owned())
        }
    }
}

/// The DNS domain: the FQDN less its first label.
fn dns_domain(inv: &Inventory) -> Option<&str> {
    let fqdn = inv.host.fqdn.as_deref()?.trim().trim_end_matches('.');
    fqdn.split_once('.')
        .map(|(_, domain)| domain)
        .filter(|d| !d.is_empty())
}

/// `bios`: firmware, system, base board and enclosure identity.
fn bios(hw: &Hardware) -> Obj {
    Obj::new()
        .text("bdate", hw.bios.date.as_deref().and_then(firmware_date))
        .text("bmanufacturer", hw.bios.vendor.as_ref())
        .text("bversion", hw.bios.version.as_ref())
        .text("smanufacturer", hw.system.vendor.as_ref())
        .text("smodel", hw.system.product.as_ref())
        .text("ssn", hw.system.serial.as_ref())
        .text("skunumber", hw.system.sku.as_ref())
        .text("mmanufacturer", hw.board.vendor.as_ref())
        .text("mmodel", hw.board.product.as_ref())
        .text("msn", hw.board.serial.as_ref())
        .text(
            "assettag",
            hw.chassis
                .asset_tag
                .as_ref()
                .or(hw.board.asset_tag.as_ref()),
        )
        .text("enclosureserial", hw.chassis.serial.as_ref())
}

/// `operatingsystem`.
fn operating_system(inv: &Inventory) -> Obj {
    let os = &inv.os;
    Obj::new()
        .text("name", os.name.as_ref())
        .text("version", os.version_id.as_ref())
        .text("full_name", os.pretty_name.as_ref())
        // GLPI's agents write the kernel name in lower case (`linux`).
        .text(
            "kernel_name",
            os.kernel_name.as_ref().map(|k| k.to_lowercase()),
        )
        .text("kernel_version", os.kernel_release.as_ref())
        .text("arch", os.arch.as_ref())
        .text("boot_time", inv.host.boot_time.and_then(datetime))
        .text("fqdn", inv.host.fqdn.as_ref())
        .text("dns_domain", dns_domain(inv))
}

/// `cpus`: one entry per populated socket, as GLPI's agents send them;
/// `core` and `thread` count per socket (GLPI's examples: a two-core,
/// four-thread laptop CPU has `core: 2, thread: 4`).
fn cpus(inv: &Inventory) -> Vec<Value> {
    let cpu = &inv.hardware.cpu;
    if cpu.model.is_none() && cpu.vendor.is_none() && cpu.logical_cores == 0 {
        return Vec::new();
    }
    let sockets = cpu.sockets.max(1);
    let per_socket = |n: u32| (n > 0).then(|| u64::from((n / sockets).max(1)));
    let manufacturer = cpu.vendor.as_deref().map(|v| match v.trim() {
        "GenuineIntel" => "Intel",
        "AuthenticAMD" => "AMD",
        other => other,
    });
    let one = || {
        Obj::new()
            .text("name", cpu.model.as_ref())
            .text("manufacturer", manufacturer)
            .text("arch", inv.os.arch.as_deref().and_then(cpu_arch))
            .int("core", per_socket(cpu.physical_cores))
            .int("corecount", per_socket(cpu.physical_cores))
            .int("thread", per_socket(cpu.logical_cores))
            .int("speed", cpu.max_mhz.filter(|m| *m > 0).map(u64::from))
            .text("familynumber", cpu.family.map(|f| f.to_string()))
            .text("model", cpu.model_number.map(|m| m.to_string()))
            .int("stepping", cpu.stepping.map(u64::from))
            .done()
    };
    (0..sockets).map(|_| one()).collect()
}

/// `memories`: the populated memory slots.
fn memories(modules: &[MemoryModule]) -> Vec<Value> {
    modules
        .iter()
        .map(|m| {
            Obj::new()
                .text("caption", Some(&m.locator))
                .int("capacity", Some(mib(m.size_bytes)).filter(|c| *c > 0))
                .text("type", m.kind.as_ref())
                .text("description", m.form_factor.as_ref())
                .text("speed", m.speed_mts.map(|s| format!("{s} MT/s")))
                .text("manufacturer", m.manufacturer.as_ref())
                .text("serialnumber", m.serial.as_ref())
                .text("model", m.part_number.as_ref())
                .done()
        })
        .collect()
}

/// `storages`: whole disks.
fn storages(disks: &[Disk]) -> Vec<Value> {
    disks
        .iter()
        .map(|d| {
            Obj::new()
                .text("name", Some(&d.name))
                .text("type", Some("disk"))
                .text("model", d.model.as_ref())
                .text("manufacturer", d.vendor.as_ref())
                .text("serial", d.serial.as_ref())
                .int("disksize", Some(mib(d.size_bytes)).filter(|s| *s > 0))
                .done()
        })
        .collect()
}

/// `drives`: mounted filesystems. GLPI names the mount point `type` and
/// the mounted device `volumn`.
fn drives(filesystems: &[Filesystem]) -> Vec<Value> {
    filesystems
        .iter()
        .map(|f| {
            Obj::new()
                .text("type", Some(&f.mount_point))
                .text("volumn", Some(&f.device))
                .text("filesystem", Some(&f.fs_type))
                .int("total", f.total_bytes.map(mib))
                .int("free", f.free_bytes.map(mib))
                .done()
        })
        .collect()
}

/// `networks`: one entry per interface and address, as GLPI's agents send
/// them (an interface without an address has one entry of its own).
fn networks(interfaces: &[Interface]) -> Vec<Value> {
    let mut out = Vec::new();
    for i in interfaces.iter().filter(|i| !i.name.trim().is_empty()) {
        let base = || {
            Obj::new()
                .text("description", Some(&i.name))
                .text("status", Some(link_status(&i.state)))
                .text("type", interface_type(i))
                .flag("virtualdev", i.kind != InterfaceKind::Physical)
                .text("mac", i.mac.as_deref().and_then(mac))
                .int("mtu", i.mtu.map(u64::from))
                // A string in GLPI's schema, in Mbit/s.
                .text("speed", i.speed_mbps.map(|s| s.to_string()))
                .text("driver", i.driver.as_ref())
        };
        let before = out.len();
        for a in &i.addresses {
            let entry = match a.address {
                IpAddr::V4(ip) => {
                    let mask = mask_v4(a.prefix);
                    base()
                        .text("ipaddress", Some(ip.to_string()))
                        .text("ipmask", mask.map(|m| m.to_string()))
                        .text(
                            "ipsubnet",
                            mask.map(|m| Ipv4Addr::from(u32::from(ip) & u32::from(m)).to_string()),
                        )
                }
                IpAddr::V6(ip) => {
                    let mask = mask_v6(a.prefix);
                    base()
                        .text("ipaddress6", Some(ip.to_string()))
                        .text("ipmask6", mask.map(|m| m.to_string()))
                        .text(
                            "ipsubnet6",
                            mask.map(|m| {
                                Ipv6Addr::from(u128::from(ip) & u128::from(m)).to_string()
                            }),
                        )
                }
            };
            out.push(entry.done());
        }
        if out.len() == before {
            out.push(base().done());
        }
    }
    out
}

/// GLPI's interface `status`, `up` or `down`. The kernel says `unknown`
/// for interfaces that are up but have no carrier to report (loopback,
/// tunnels); an interface taken down says `down`.
fn link_status(state: &str) -> &'static str {
    match state.trim() {
        "up" | "unknown" => "up",
        _ => "down",
    }
}

/// GLPI's interface `type`, where the kernel's name or kind tells it.
fn interface_type(i: &Interface) -> Option<&'static str> {
    let name = i.name.as_str();
    match i.kind {
        InterfaceKind::Loopback => Some("loopback"),
        InterfaceKind::Physical if name.starts_with("wl") => Some("wifi"),
        InterfaceKind::Physical if name.starts_with("ib") => Some("infiniband"),
        InterfaceKind::Physical => Some("ethernet"),
        InterfaceKind::Virtual if name.starts_with("bond") => Some("aggregate"),
        InterfaceKind::Virtual
            if name.starts_with("br") || name.starts_with("virbr") || name == "docker0" =>
        {
            Some("bridge")
        }
        InterfaceKind::Virtual => None,
    }
}

/// `softwares`: installed packages; `from` names the package format.
fn softwares(software: &Software) -> Vec<Value> {
    let from = software.manager.as_deref().map(|m| match m.trim() {
        "dpkg" => "deb",
        other => other,
    });
    software
        .packages
        .iter()
        .filter(|p| !p.name.trim().is_empty())
        .map(|p: &Package| {
            Obj::new()
                .text("name", Some(&p.name))
                .text("version", Some(&p.version))
                .text("arch", p.arch.as_ref())
                .text("publisher", p.vendor.as_ref())
                .text("install_date", p.installed_at.and_then(date))
                .int("filesize", p.size_bytes)
                .text("from", from)
                .done()
        })
        .collect()
}

/// `users`: who is logged in now, once each.
fn users(users: &Users) -> Vec<Value> {
    let logins: BTreeSet<&str> = users
        .sessions
        .iter()
        .map(|s| s.user.trim())
        .filter(|u| !u.is_empty())
        .collect();
    logins
        .into_iter()
        .map(|login| Obj::new().text("login", Some(login)).done())
        .collect()
}

/// `local_users`: the accounts of `/etc/passwd`.
fn local_users(accounts: &[Account]) -> Vec<Value> {
    accounts
        .iter()
        .map(|a| {
            Obj::new()
                .text("id", Some(a.uid.to_string()))
                .text("login", Some(&a.name))
                .text("name", a.full_name.as_ref())
                .text("home", Some(&a.home))
                .text("shell", Some(&a.shell))
                .done()
        })
        .collect()
}

/// `local_groups`: the groups of `/etc/group`.
fn local_groups(groups: &[Group]) -> Vec<Value> {
    groups
        .iter()
        .filter(|g| !g.name.trim().is_empty())
        .map(|g| {
            let members = g
                .members
                .iter()
                .filter(|m| !m.trim().is_empty())
                .map(|m| Value::String(m.trim().to_owned()))
                .collect();
            Obj::new()
                .text("id", Some(g.gid.to_string()))
                .text("name", Some(&g.name))
                .list("members", members)
                .done()
        })
        .collect()
}

/// `monitors`: connected screens, from their EDID.
fn monitors(monitors: &[Monitor]) -> Vec<Value> {
    monitors
        .iter()
        .map(|m| {
            let name = m.model.as_ref().unwrap_or(&m.connector);
            Obj::new()
                .text("name", Some(name))
                .text("caption", m.model.as_ref())
                .text("manufacturer", m.manufacturer.as_ref())
                .text("serial", m.serial.as_ref())
                .done()
        })
        .collect()
}

/// `batteries`: capacities in mWh (Atalaya keeps µWh).
fn batteries(batteries: &[Battery]) -> Vec<Value> {
    batteries
        .iter()
        .map(|b| {
            Obj::new()
                .text("name", Some(b.model.as_ref().unwrap_or(&b.name)))
                .text("manufacturer", b.manufacturer.as_ref())
                .text("serial", b.serial.as_ref())
                .text("chemistry", b.technology.as_ref())
                .int("capacity", b.design_capacity_uwh.map(|c| c / 1000))
                .int("real_capacity", b.full_capacity_uwh.map(|c| c / 1000))
                .done()
        })
        .collect()
}

/// `videos`: display adapters.
fn videos(gpus: &[Gpu]) -> Vec<Value> {
    gpus.iter()
        .map(|g| {
            Obj::new()
                .text("name", Some(g.model.as_ref().unwrap_or(&g.pci_address)))
                .text("pcislot", Some(pci_slot(&g.pci_address)))
                .done()
        })
        .collect()
}

/// `sounds`: PCI audio devices (class `0401` audio, `0403` HD audio).
fn sounds(pci: &[PciDevice]) -> Vec<Value> {
    pci.iter()
        .filter(|d| d.class.starts_with("0401") || d.class.starts_with("0403"))
        .map(|d| {
            Obj::new()
                .text("name", Some(pci_name(d)))
                .text("manufacturer", d.vendor_name.as_ref())
                .text("caption", d.class_name.as_ref())
                .text(
                    "description",
                    d.revision.as_ref().map(|r| format!("rev {r}")),
                )
                .done()
        })
        .collect()
}

/// `usbdevices`: USB devices less the root hubs, which are the kernel's
/// own (`usb1`…), not something plugged in.
fn usb_devices(usb: &[UsbDevice]) -> Vec<Value> {
    usb.iter()
        .filter(|u| !u.port.starts_with("usb"))
        .map(|u| {
            // GLPI's agents write the class as a decimal number (`9` for hubs).
            let class = u
                .class
                .as_deref()
                .and_then(|c| u8::from_str_radix(c.trim(), 16).ok());
            Obj::new()
                .text("vendorid", Some(&u.vendor_id))
                .text("productid", Some(&u.product_id))
                .text("manufacturer", u.manufacturer.as_ref())
                .text("name", u.product.as_ref())
                .text("serial", u.serial.as_ref())
                .text("class", class.map(|c| c.to_string()))
                .done()
        })
        .collect()
}

/// `controllers`: every PCI device.
fn controllers(pci: &[PciDevice]) -> Vec<Value> {
    pci.iter()
        .map(|d| {
            let subsystem = match (&d.subsystem_vendor_id, &d.subsystem_device_id) {
                (Some(v), Some(p)) => Some(format!("{v}:{p}")),
                _ => None,
            };
            // GLPI's `pciclass` is the class and subclass, four hex digits.
            let class = d
                .class
                .get(..4)
                .filter(|c| c.bytes().all(|b| b.is_ascii_hexdigit()));
            Obj::new()
                .text("name", Some(pci_name(d)))
                .text("caption", Some(pci_name(d)))
                .text("manufacturer", d.vendor_name.as_ref())
                .text("type", d.class_name.as_ref())
                .text("pciclass", class)
                .text("pcislot", Some(pci_slot(&d.address)))
                .text("vendorid", Some(&d.vendor_id))
                .text("productid", Some(&d.device_id))
                .text("pcisubsystemid", subsystem)
                .text("rev", d.revision.as_ref())
                .text("driver", d.driver.as_ref())
                .done()
        })
        .collect()
}

/// A PCI device's name, or its `vendor:device` IDs when `pci.ids` had none.
fn pci_name(d: &PciDevice) -> String {
    match &d.device_name {
        Some(n) if !n.trim().is_empty() => n.clone(),
        _ => format!("{}:{}", d.vendor_id, d.device_id),
    }
}
