//! The human-readable text of `atalaya-agent inventory` and `metrics`: what
//! a help-desk technician wants to see at a glance, one line per topic.

use std::io::{self, Write};

use atalaya_common::format::{bytes, rate};
use atalaya_common::model::*;
use atalaya_common::render;

/// Writes the inventory summary: the lines every Atalaya screen shows for
/// an inventory ([`atalaya_common::render`]), with the values as read now.
pub fn inventory(out: &mut impl Write, inv: &Inventory) -> io::Result<()> {
    out.write_all(render::text(&render::summary(inv), "").as_bytes())
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
