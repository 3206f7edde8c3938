//! The human-readable text of `atalaya-agent inventory` and `metrics`: what
//! a help-desk technician wants to see at a glance, one line per topic.

use std::io::{self, Write};

use atalaya_common::format::{bytes, rate};
use atalaya_common::model::*;

fn or<'a>(value: &'a Option<String>, fallback: &'a str) -> &'a str {
    value.as_deref().unwrap_or(fallback)
}

fn line(out: &mut impl Write, topic: &str, text: impl AsRef<str>) -> io::Result<()> {
    writeln!(out, "{topic:<12} {}", text.as_ref())
}

/// Writes the inventory summary.
pub fn inventory(out: &mut impl Write, inv: &Inventory) -> io::Result<()> {
    let host = &inv.host;
    let name = host.fqdn.as_deref().unwrap_or(&host.hostname);
    let os = &inv.os;
    line(
        out,
        "Host",
        format!(
            "{name} · {} · kernel {} {}",
            or(&os.pretty_name, "unknown OS"),
            or(&os.kernel_release, "?"),
            or(&os.arch, "?")
        ),
    )?;
    let v = &host.virtualization;
    let mut machine = match v.kind {
        MachineKind::Virtual => format!(
            "virtual machine ({})",
            or(&v.hypervisor, "unknown hypervisor")
        ),
        MachineKind::Physical => "physical machine".to_owned(),
        MachineKind::Unknown => "machine kind unknown".to_owned(),
    };
    if let Some(c) = &v.container {
        machine.push_str(&format!(", in a {c} container"));
    }
    let sys = &inv.hardware.system;
    if sys.vendor.is_some() || sys.product.is_some() {
        machine.push_str(&format!(
            " · {} {}",
            or(&sys.vendor, ""),
            or(&sys.product, "")
        ));
    }
    if let Some(serial) = &sys.serial {
        machine.push_str(&format!(" · serial {serial}"));
    }
    if let Some(kind) = &inv.hardware.chassis.kind {
        machine.push_str(&format!(" · {kind}"));
    }
    line(out, "Machine", machine)?;
    if let Some(id) = &host.machine_id {
        let boot = host
            .boot_time
            .map(|t| t.to_string())
            .unwrap_or_else(|| "?".into());
        line(
            out,
            "Identity",
            format!(
                "machine-id {id} · booted {boot} · time zone {}",
                or(&host.timezone, "?")
            ),
        )?;
    }
    let bios = &inv.hardware.bios;
    if bios.vendor.is_some() {
        line(
            out,
            "Firmware",
            format!(
                "{} {} ({})",
                or(&bios.vendor, ""),
                or(&bios.version, ""),
                or(&bios.date, "?")
            ),
        )?;
    }
    let cpu = &inv.hardware.cpu;
    let mhz = cpu
        .max_mhz
        .map(|m| format!(", up to {m} MHz"))
        .unwrap_or_default();
    line(
        out,
        "CPU",
        format!(
            "{} · {} socket(s), {} cores, {} threads{mhz}",
            or(&cpu.model, "unknown"),
            cpu.sockets,
            cpu.physical_cores,
            cpu.logical_cores
        ),
    )?;
    let mem = &inv.hardware.memory;
    let mut memory = format!(
        "{} (swap {})",
        bytes(mem.total_bytes),
        bytes(mem.swap_total_bytes)
    );
    if !inv.hardware.memory_modules.is_empty() {
        let modules: Vec<String> = inv
            .hardware
            .memory_modules
            .iter()
            .map(|m| {
                format!("{} {} {}", m.locator, bytes(m.size_bytes), or(&m.kind, ""))
                    .trim_end()
                    .to_owned()
            })
            .collect();
        memory.push_str(&format!(" · {}", modules.join(", ")));
    }
    line(out, "Memory", memory)?;
    for disk in &inv.storage.disks {
        // USB sticks and card readers claim to rotate; say nothing for them.
        let kind = match (disk.removable, disk.rotational) {
            (false, Some(true)) => " HDD",
            (false, Some(false)) => " SSD",
            _ => "",
        };
        line(
            out,
            "Disk",
            format!(
                "{} {} {}{kind}{}",
                disk.name,
                bytes(disk.size_bytes),
                or(&disk.model, ""),
                if disk.removable { " (removable)" } else { "" }
            ),
        )?;
    }
    for fs in &inv.storage.filesystems {
        let usage = match (fs.total_bytes, fs.free_bytes) {
            (Some(total), Some(free)) if total > 0 => {
                format!("{} of {} free", bytes(free), bytes(total))
            }
            _ => "size not read".to_owned(),
        };
        line(
            out,
            "Filesystem",
            format!(
                "{} {} on {} · {usage}",
                fs.mount_point, fs.fs_type, fs.device
            ),
        )?;
    }
    for iface in inv
        .network
        .interfaces
        .iter()
        .filter(|i| i.kind != InterfaceKind::Loopback)
    {
        let addrs: Vec<String> = iface
            .addresses
            .iter()
            .map(|a| format!("{}/{}", a.address, a.prefix))
            .collect();
        let speed = iface
            .speed_mbps
            .map(|s| format!(" {s} Mb/s"))
            .unwrap_or_default();
        line(
            out,
            "Interface",
            format!(
                "{} {} {}{speed} {}",
                iface.name,
                or(&iface.mac, "-"),
                iface.state,
                addrs.join(" ")
            )
            .trim_end(),
        )?;
    }
    let gws: Vec<String> = inv
        .network
        .gateways
        .iter()
        .map(|g| format!("{} via {}", g.address, g.interface))
        .collect();
    let dns: Vec<String> = inv
        .network
        .dns
        .servers
        .iter()
        .map(ToString::to_string)
        .collect();
    line(
        out,
        "Routing",
        format!(
            "gateway {} · DNS {}",
            list_or_none(&gws),
            list_or_none(&dns)
        ),
    )?;
    line(
        out,
        "Software",
        format!(
            "{} packages ({}){}",
            inv.software.packages.len(),
            or(&inv.software.manager, "no package database"),
            if inv.software.skipped_entries > 0 {
                format!(", {} corrupt entries skipped", inv.software.skipped_entries)
            } else {
                String::new()
            }
        ),
    )?;
    let people: Vec<&str> = inv
        .users
        .accounts
        .iter()
        .filter(|a| !a.system)
        .map(|a| a.name.as_str())
        .collect();
    let sessions: Vec<String> = inv
        .users
        .sessions
        .iter()
        .map(|s| format!("{} on {}", s.user, s.tty))
        .collect();
    let mut users = format!(
        "{} accounts, people: {}",
        inv.users.accounts.len(),
        list_or_none(&people)
    );
    if !sessions.is_empty() {
        users.push_str(&format!(" · logged in: {}", sessions.join(", ")));
    }
    if let Some(last) = &inv.users.last_login {
        users.push_str(&format!(" · last login {} at {}", last.user, last.at));
    }
    line(out, "Users", users)?;
    let running = inv
        .services
        .units
        .iter()
        .filter(|s| s.state == RunState::Active)
        .count();
    // One entry per protocol, port and process: IPv4 and IPv6 sockets of
    // the same service read as one.
    let mut sockets: Vec<(Protocol, u16, Option<&str>)> = inv
        .services
        .listeners
        .iter()
        .map(|l| (l.protocol, l.port, l.process.as_deref()))
        .collect();
    sockets.sort();
    sockets.dedup();
    let ports: Vec<String> = sockets
        .iter()
        .map(|(protocol, port, process)| {
            let proto = match protocol {
                Protocol::Tcp => "tcp",
                Protocol::Udp => "udp",
            };
            format!(
                "{proto}/{port}{}",
                process.map(|p| format!(" {p}")).unwrap_or_default()
            )
        })
        .collect();
    line(
        out,
        "Services",
        format!(
            "{} units, {running} running ({}) · listening: {}",
            inv.services.units.len(),
            or(&inv.services.manager, "no service manager"),
            list_or_none(&ports)
        ),
    )?;
    let hw = &inv.hardware;
    let mut devices = format!("{} PCI, {} USB", hw.pci.len(), hw.usb.len());
    for gpu in &hw.gpus {
        devices.push_str(&format!(
            " · GPU {} {}",
            or(&gpu.vendor, ""),
            or(&gpu.model, "")
        ));
    }
    for m in &hw.monitors {
        devices.push_str(&format!(
            " · monitor {} {}",
            or(&m.manufacturer, ""),
            or(&m.model, "")
        ));
    }
    for b in &hw.batteries {
        let pct = b
            .capacity_percent
            .map(|p| format!(" {p} %"))
            .unwrap_or_default();
        devices.push_str(&format!(" · battery {}{pct}", b.name));
    }
    line(out, "Devices", devices)?;
    if !host.unavailable.is_empty() {
        line(
            out,
            "Unreadable",
            format!(
                "{} values (see --json, host.unavailable):",
                host.unavailable.len()
            ),
        )?;
        for u in &host.unavailable {
            writeln!(out, "{:<12}   {} {}: {}", "", u.source, u.item, u.reason)?;
        }
    }
    Ok(())
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

/// Writes one health sample as a few lines.
pub fn sample(out: &mut impl Write, s: &HealthSample) -> io::Result<()> {
    let cpu = match &s.cpu {
        Some(c) => format!(
            "cpu {:.1}% (user {:.1} sys {:.1} iowait {:.1} steal {:.1})",
            c.total_percent, c.user_percent, c.system_percent, c.iowait_percent, c.steal_percent
        ),
        None => "cpu -".to_owned(),
    };
    let m = &s.memory;
    writeln!(
        out,
        "{}  {cpu}  load {:.2} {:.2} {:.2}  memory {} used of {}  swap {} of {}  processes {}  up {}s",
        s.at,
        s.load.one,
        s.load.five,
        s.load.fifteen,
        bytes(m.used_bytes),
        bytes(m.total_bytes),
        bytes(m.swap_used_bytes),
        bytes(m.swap_total_bytes),
        s.processes.total,
        s.uptime_seconds
    )?;
    for d in &s.disks {
        writeln!(
            out,
            "  disk {:<10} read {:>12} write {:>12} busy {:>5.1}%",
            d.name,
            rate(d.read_bytes_per_second),
            rate(d.write_bytes_per_second),
            d.busy_percent
        )?;
    }
    for n in &s.network {
        writeln!(
            out,
            "  net  {:<10} in {:>14} out {:>14} errors {} drops {}",
            n.interface,
            rate(n.rx_bytes_per_second),
            rate(n.tx_bytes_per_second),
            n.rx_errors + n.tx_errors,
            n.rx_drops + n.tx_drops
        )?;
    }
    for f in &s.filesystems {
        writeln!(
            out,
            "  fs   {:<10} {:>5.1}% used of {}",
            f.mount_point,
            f.used_percent,
            bytes(f.total_bytes)
        )?;
    }
    for t in &s.temperatures {
        writeln!(
            out,
            "  temp {:<10} {:.1} °C {}",
            t.sensor,
            t.celsius,
            t.label.as_deref().unwrap_or("")
        )?;
    }
    let top = |list: &[ProcessUsage]| {
        list.iter()
            .map(|p| {
                format!(
                    "{}[{}] {:.1}% {}",
                    p.name,
                    p.pid,
                    p.cpu_percent,
                    bytes(p.rss_bytes)
                )
            })
            .collect::<Vec<_>>()
            .join(", ")
    };
    writeln!(out, "  top cpu    {}", top(&s.top_cpu))?;
    writeln!(out, "  top memory {}", top(&s.top_memory))?;
    writeln!(
        out,
        "  agent      {:.2}% cpu, {} resident",
        s.agent.cpu_percent,
        bytes(s.agent.rss_bytes)
    )
}
