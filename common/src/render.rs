//! An inventory as text for people: what a help-desk technician wants to
//! see at a glance, one line per topic.
//!
//! One renderer for every screen: the agent's `atalaya-agent inventory`,
//! the CLI's `atalaya asset` and the machine part of a user-report
//! incident all show the same lines for the same inventory. Each section
//! of the inventory has its own function, so a screen can show part of it;
//! [`summary`] is all of them in order and [`text`] lays lines out.
//!
//! Pure functions, no I/O. A value the agent could not read is left out of
//! its line (or the line is, when nothing in it was read), never shown as
//! a guess. [`changes`] tells inventory changes in the same words.

use std::fmt::Write as _;

use crate::format::bytes;
use crate::model::*;

pub mod changes;

/// Width of the topic column in [`text`].
pub const TOPIC_WIDTH: usize = 12;

/// One line: a topic (`Memory`, `Disk`…; empty for a continuation) and its text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Line {
    /// What the line is about.
    pub topic: &'static str,
    /// What there is to say about it.
    pub text: String,
}

fn line(topic: &'static str, text: impl Into<String>) -> Line {
    Line {
        topic,
        text: text.into(),
    }
}

/// The lines as text, each after `indent`, topics in a column; no trailing spaces.
pub fn text(lines: &[Line], indent: &str) -> String {
    let mut out = String::new();
    for l in lines {
        let row = format!("{indent}{:<TOPIC_WIDTH$} {}", l.topic, l.text);
        let _ = writeln!(out, "{}", row.trim_end());
    }
    out
}

/// Every section in order: host, OS, hardware, memory, storage, network,
/// software, users, services, and what could not be read.
pub fn summary(inv: &Inventory) -> Vec<Line> {
    let sections: [fn(&Inventory) -> Vec<Line>; 10] = [
        host, os, hardware, memory, storage, network, software, users, services, unreadable,
    ];
    sections.iter().flat_map(|section| section(inv)).collect()
}

/// The name, machine-id, boot time and time zone.
pub fn host(inv: &Inventory) -> Vec<Line> {
    let h = &inv.host;
    let name = h.fqdn.as_deref().unwrap_or(&h.hostname);
    let mut lines = vec![line("Host", if name.is_empty() { "unknown" } else { name })];
    let identity = joined(
        " · ",
        [
            h.machine_id.as_ref().map(|id| format!("machine-id {id}")),
            h.boot_time.map(|t| format!("booted {t}")),
            h.timezone.as_ref().map(|z| format!("time zone {z}")),
        ],
    );
    if !identity.is_empty() {
        lines.push(line("Identity", identity));
    }
    lines
}

/// The operating system, its kernel and the architecture.
pub fn os(inv: &Inventory) -> Vec<Line> {
    let os = &inv.os;
    let kernel = os
        .kernel_release
        .as_ref()
        .map(|k| joined(" ", [Some(format!("kernel {k}")), os.arch.clone()]));
    vec![line("OS", joined(" · ", [Some(os_name(os)), kernel]))]
}

/// The OS as people name it: `Debian GNU/Linux 12 (bookworm)`.
pub fn os_name(os: &Os) -> String {
    os.pretty_name
        .clone()
        .or_else(|| {
            os.name
                .as_ref()
                .map(|n| joined(" ", [Some(n.clone()), os.version.clone()]))
        })
        .unwrap_or_else(|| "unknown OS".to_owned())
}

/// What the machine is, its firmware, processors and devices.
pub fn hardware(inv: &Inventory) -> Vec<Line> {
    let hw = &inv.hardware;
    let mut lines = vec![line("Machine", machine(inv))];
    let bios = &hw.bios;
    if let Some(vendor) = &bios.vendor {
        let version = joined(" ", [Some(vendor.clone()), bios.version.clone()]);
        let date = bios.date.as_deref().unwrap_or("?");
        lines.push(line("Firmware", format!("{version} ({date})")));
    }
    let cpu = &hw.cpu;
    if cpu.model.is_some() || cpu.logical_cores > 0 {
        let mhz = cpu
            .max_mhz
            .map(|m| format!(", up to {m} MHz"))
            .unwrap_or_default();
        lines.push(line(
            "CPU",
            format!(
                "{} · {} socket(s), {} cores, {} threads{mhz}",
                cpu.model.as_deref().unwrap_or("unknown"),
                cpu.sockets,
                cpu.physical_cores,
                cpu.logical_cores
            ),
        ));
    }
    let mut devices = Vec::new();
    if !hw.pci.is_empty() || !hw.usb.is_empty() {
        devices.push(format!("{} PCI, {} USB", hw.pci.len(), hw.usb.len()));
    }
    for gpu in &hw.gpus {
        devices.push(joined(
            " ",
            [Some("GPU".into()), gpu.vendor.clone(), gpu.model.clone()],
        ));
    }
    for m in &hw.monitors {
        devices.push(joined(
            " ",
            [
                Some("monitor".into()),
                m.manufacturer.clone(),
                m.model.clone(),
            ],
        ));
    }
    for b in &hw.batteries {
        let pct = b.capacity_percent.map(|p| format!("{p} %"));
        devices.push(joined(" ", [Some(format!("battery {}", b.name)), pct]));
    }
    if !devices.is_empty() {
        lines.push(line("Devices", devices.join(" · ")));
    }
    lines
}

/// `physical machine · Dell Inc. Latitude 7440 · serial 7HXK2Y3 · Notebook`.
fn machine(inv: &Inventory) -> String {
    let v = &inv.host.virtualization;
    let mut kind = match v.kind {
        MachineKind::Virtual => format!(
            "virtual machine ({})",
            v.hypervisor.as_deref().unwrap_or("unknown hypervisor")
        ),
        MachineKind::Physical => "physical machine".to_owned(),
        MachineKind::Unknown => "machine kind unknown".to_owned(),
    };
    if let Some(c) = &v.container {
        let _ = write!(kind, ", in a {c} container");
    }
    let sys = &inv.hardware.system;
    let model = joined(" ", [sys.vendor.clone(), sys.product.clone()]);
    joined(
        " · ",
        [
            Some(kind),
            Some(model),
            sys.serial.as_ref().map(|s| format!("serial {s}")),
            inv.hardware.chassis.kind.clone(),
        ],
    )
}

/// Memory and swap totals and the modules in their slots.
pub fn memory(inv: &Inventory) -> Vec<Line> {
    let hw = &inv.hardware;
    if hw.memory.total_bytes == 0 && hw.memory_modules.is_empty() {
        return Vec::new();
    }
    let mut text = format!(
        "{} (swap {})",
        bytes(hw.memory.total_bytes),
        bytes(hw.memory.swap_total_bytes)
    );
    if !hw.memory_modules.is_empty() {
        let modules: Vec<String> = hw.memory_modules.iter().map(memory_module).collect();
        let _ = write!(text, " · {}", modules.join(", "));
    }
    vec![line("Memory", text)]
}

/// `DIMM A 16 GiB DDR5`.
pub fn memory_module(m: &MemoryModule) -> String {
    joined(
        " ",
        [
            Some(m.locator.clone()),
            Some(bytes(m.size_bytes)),
            m.kind.clone(),
        ],
    )
}

/// A line per disk and per mounted filesystem.
pub fn storage(inv: &Inventory) -> Vec<Line> {
    let disks = inv.storage.disks.iter().map(|d| line("Disk", disk(d)));
    let filesystems = inv.storage.filesystems.iter().map(|fs| {
        let size = match (fs.total_bytes, fs.free_bytes) {
            (Some(total), Some(free)) if total > 0 => {
                format!("{} of {} free", bytes(free), bytes(total))
            }
            (Some(total), None) if total > 0 => bytes(total),
            _ => "size not read".to_owned(),
        };
        line(
            "Filesystem",
            format!(
                "{} {} on {} · {size}",
                fs.mount_point, fs.fs_type, fs.device
            ),
        )
    });
    disks.chain(filesystems).collect()
}

/// `nvme0n1 476.9 GiB SAMSUNG MZVL2512HCJQ-00BD1 SSD`.
pub fn disk(d: &Disk) -> String {
    // USB sticks and card readers claim to rotate; say nothing for them.
    let kind = match (d.removable, d.rotational) {
        (false, Some(true)) => Some("HDD".to_owned()),
        (false, Some(false)) => Some("SSD".to_owned()),
        _ => None,
    };
    joined(
        " ",
        [
            Some(d.name.clone()),
            Some(bytes(d.size_bytes)),
            d.model.clone(),
            kind,
            d.removable.then(|| "(removable)".to_owned()),
        ],
    )
}

/// A line per interface (loopback left out), then gateways and resolvers.
pub fn network(inv: &Inventory) -> Vec<Line> {
    let net = &inv.network;
    let mut lines: Vec<Line> = net
        .interfaces
        .iter()
        .filter(|i| i.kind != InterfaceKind::Loopback)
        .map(|i| line("Interface", interface(i)))
        .collect();
    if !net.gateways.is_empty() || !net.dns.servers.is_empty() {
        let gateways: Vec<String> = net
            .gateways
            .iter()
            .map(|g| format!("{} via {}", g.address, g.interface))
            .collect();
        let dns: Vec<String> = net.dns.servers.iter().map(ToString::to_string).collect();
        lines.push(line(
            "Routing",
            format!(
                "gateway {} · DNS {}",
                list_or_none(&gateways),
                list_or_none(&dns)
            ),
        ));
    }
    lines
}

/// `wlp0s20f3 a4:c3:f0:12:34:56 up 10.20.30.45/24`.
pub fn interface(i: &Interface) -> String {
    let addresses: Vec<String> = i
        .addresses
        .iter()
        .map(|a| format!("{}/{}", a.address, a.prefix))
        .collect();
    joined(
        " ",
        [
            Some(i.name.clone()),
            Some(i.mac.clone().unwrap_or_else(|| "-".to_owned())),
            Some(i.state.clone()),
            i.speed_mbps.map(|s| format!("{s} Mb/s")),
            Some(addresses.join(" ")),
        ],
    )
}

/// How many packages, from which database.
pub fn software(inv: &Inventory) -> Vec<Line> {
    let sw = &inv.software;
    let mut text = format!(
        "{} packages ({})",
        sw.packages.len(),
        sw.manager.as_deref().unwrap_or("no package database")
    );
    if sw.skipped_entries > 0 {
        let _ = write!(text, ", {} corrupt entries skipped", sw.skipped_entries);
    }
    vec![line("Software", text)]
}

/// The accounts of people, who is logged in now, and the last login.
pub fn users(inv: &Inventory) -> Vec<Line> {
    let u = &inv.users;
    let mut lines = Vec::new();
    if !u.accounts.is_empty() {
        let people: Vec<&str> = u
            .accounts
            .iter()
            .filter(|a| !a.system)
            .map(|a| a.name.as_str())
            .collect();
        lines.push(line(
            "Users",
            format!(
                "{} accounts, people: {}",
                u.accounts.len(),
                list_or_none(&people)
            ),
        ));
    }
    if !u.sessions.is_empty() {
        let sessions: Vec<String> = u.sessions.iter().map(session).collect();
        lines.push(line("Logged in", sessions.join(", ")));
    }
    if let Some(last) = &u.last_login {
        let from = last
            .remote_host
            .as_ref()
            .map(|h| format!(" from {h}"))
            .unwrap_or_default();
        lines.push(line(
            "Last login",
            format!("{} on {}{from} at {}", last.user, last.tty, last.at),
        ));
    }
    lines
}

/// `maria on pts/0 from 10.0.0.5 since 2026-11-28T09:12:00Z`.
pub fn session(s: &Session) -> String {
    let mut text = format!("{} on {}", s.user, s.tty);
    if let Some(from) = &s.remote_host {
        let _ = write!(text, " from {from}");
    }
    if let Some(since) = s.started_at {
        let _ = write!(text, " since {since}");
    }
    text
}

/// How many units run, and what listens on which port.
pub fn services(inv: &Inventory) -> Vec<Line> {
    let svc = &inv.services;
    let running = svc
        .units
        .iter()
        .filter(|s| s.state == RunState::Active)
        .count();
    // One entry per protocol, port and process: IPv4 and IPv6 sockets of
    // the same service read as one.
    let mut sockets: Vec<(Protocol, u16, Option<&str>)> = svc
        .listeners
        .iter()
        .map(|l| (l.protocol, l.port, l.process.as_deref()))
        .collect();
    sockets.sort();
    sockets.dedup();
    let ports: Vec<String> = sockets
        .iter()
        .map(|(protocol, port, process)| {
            let socket = format!("{}/{port}", protocol_name(*protocol));
            joined(" ", [Some(socket), process.map(str::to_owned)])
        })
        .collect();
    vec![line(
        "Services",
        format!(
            "{} units, {running} running ({}) · listening: {}",
            svc.units.len(),
            svc.manager.as_deref().unwrap_or("no service manager"),
            list_or_none(&ports)
        ),
    )]
}

/// `tcp` or `udp`.
pub fn protocol_name(p: Protocol) -> &'static str {
    match p {
        Protocol::Tcp => "tcp",
        Protocol::Udp => "udp",
    }
}

/// What the agent could not read, and why: a count, then one line each.
pub fn unreadable(inv: &Inventory) -> Vec<Line> {
    let missing = &inv.host.unavailable;
    if missing.is_empty() {
        return Vec::new();
    }
    let mut lines = vec![line(
        "Unreadable",
        format!(
            "{} values (host.unavailable in the JSON form):",
            missing.len()
        ),
    )];
    lines.extend(
        missing
            .iter()
            .map(|u| line("", format!("  {} {}: {}", u.source, u.item, u.reason))),
    );
    lines
}

/// The parts that are present and not empty, joined by `sep`.
fn joined<const N: usize>(sep: &str, parts: [Option<String>; N]) -> String {
    parts
        .into_iter()
        .flatten()
        .filter(|p| !p.is_empty())
        .collect::<Vec<_>>()
        .join(sep)
}

fn list_or_none<S: AsRef<str>>(items: &[S]) -> String {
    if items.is_empty() {
        "none".to_owned()
    } else {
        items
            .iter()
            .map(AsRef::as_ref)
            .collect::<Vec<_>>()
            .join(", ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn laptop() -> Inventory {
        let mut inv = Inventory::default();
        inv.host.hostname = "pc-17".into();
        inv.host.machine_id = Some("5f1c".into());
        inv.os.pretty_name = Some("Debian GNU/Linux 12 (bookworm)".into());
        inv.os.kernel_release = Some("6.1.0-26-amd64".into());
        inv.os.arch = Some("x86_64".into());
        inv.hardware.system.vendor = Some("Dell Inc.".into());
        inv.hardware.system.product = Some("Latitude 7420".into());
        inv.hardware.system.serial = Some("7XK2B43".into());
        inv.hardware.memory.total_bytes = 16 << 30;
        inv.storage.disks.push(Disk {
            name: "vda".into(),
            size_bytes: 40 << 30,
            rotational: Some(true),
            ..Disk::default()
        });
        inv.network.interfaces.push(Interface {
            name: "wlp0s20f3".into(),
            addresses: vec![IpNet {
                address: "192.168.1.17".parse().expect("an address"),
                prefix: 24,
            }],
            ..Interface::default()
        });
        inv.users.sessions.push(Session {
            user: "maria".into(),
            tty: "pts/0".into(),
            remote_host: Some("10.0.0.5".into()),
            ..Session::default()
        });
        inv
    }

    #[test]
    fn sections_name_the_machine_and_skip_what_was_not_read() {
        let out = text(&summary(&laptop()), "");
        assert_eq!(
            out,
            "\
Host         pc-17
Identity     machine-id 5f1c
OS           Debian GNU/Linux 12 (bookworm) · kernel 6.1.0-26-amd64 x86_64
Machine      machine kind unknown · Dell Inc. Latitude 7420 · serial 7XK2B43
Memory       16 GiB (swap 0 B)
Disk         vda 40 GiB HDD
Interface    wlp0s20f3 - 192.168.1.17/24
Software     0 packages (no package database)
Logged in    maria on pts/0 from 10.0.0.5
Services     0 units, 0 running (no service manager) · listening: none
"
        );
    }

    #[test]
    fn free_space_shows_when_read_and_size_alone_otherwise() {
        let fs = |free: Option<u64>| Filesystem {
            mount_point: "/".into(),
            device: "/dev/sda2".into(),
            fs_type: "ext4".into(),
            total_bytes: Some(100 << 30),
            free_bytes: free,
            ..Filesystem::default()
        };
        let mut inv = Inventory::default();
        inv.storage.filesystems = vec![fs(Some(25 << 30)), fs(None)];
        inv.storage.filesystems[1].mount_point = "/home".into();
        let lines: Vec<String> = storage(&inv).into_iter().map(|l| l.text).collect();
        assert_eq!(
            lines,
            [
                "/ ext4 on /dev/sda2 · 25 GiB of 100 GiB free",
                "/home ext4 on /dev/sda2 · 100 GiB"
            ]
        );
    }

    #[test]
    fn unreadable_values_follow_their_count() {
        let mut inv = Inventory::default();
        inv.host.unavailable.push(Unavailable {
            source: "hardware".into(),
            item: "memory modules".into(),
            reason: "permission denied".into(),
        });
        assert_eq!(
            text(&unreadable(&inv), "  "),
            "  Unreadable   1 values (host.unavailable in the JSON form):\n                 hardware memory modules: permission denied\n"
        );
    }
}
