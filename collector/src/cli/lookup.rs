//! `atalaya lookup`: a caller's directory card and machines, best match
//! first: why each matched, its agent, health now and open incidents.

use std::fmt::Write as _;

use super::client::ApiClient;
use super::people::card_block;
use super::{CliError, Format, Table, decode, pretty, seconds};
use crate::lookup::{CallerMachine, Health, Lookup};

/// `atalaya lookup WHO`; no machine found is a [`CliError::NoMatch`].
pub fn run(
    client: &ApiClient,
    who: &str,
    limit: usize,
    format: Format,
) -> Result<String, CliError> {
    let body = client.get(
        "/api/v1/lookup",
        &[
            ("q", Some(who.to_owned())),
            ("limit", Some(limit.to_string())),
        ],
    )?;
    let found: Lookup = decode(&body, "the lookup")?;
    let out = match format {
        Format::Json => pretty(&body),
        Format::Table => render_lookup(&found),
        Format::Csv => lookup_table(&found).to_csv(),
    };
    if found.total == 0 && found.people.is_empty() {
        return Err(CliError::NoMatch {
            message: format!("no one and no machine found for {}", who.trim()),
            output: if format == Format::Json {
                out
            } else {
                String::new()
            },
        });
    }
    Ok(out)
}

/// `atalaya lookup --csv`: a row per machine, best match first, with the
/// strongest reason, health now, the fullest filesystem and how many
/// incidents are open (the most urgent priority).
pub fn lookup_table(l: &Lookup) -> Table {
    let mut t = Table::new([
        "hostname",
        "asset",
        "why",
        "agent",
        "last_seen",
        "os",
        "cpu_percent",
        "memory_used_percent",
        "load_one",
        "fullest_mount",
        "fullest_used_percent",
        "open_incidents",
        "top_priority",
    ]);
    let num = |v: Option<f64>| v.map(|v| format!("{v:.1}")).unwrap_or_default();
    for m in &l.machines {
        let health = m.health.as_ref();
        let fullest = health.and_then(|h| {
            h.filesystems
                .iter()
                .max_by(|a, b| a.used_percent.total_cmp(&b.used_percent))
        });
        let top = m.open_incidents.iter().map(|i| i.priority).min();
        t.push([
            m.hostname.clone(),
            m.asset_id.clone(),
            m.why.first().map(|w| w.text.clone()).unwrap_or_default(),
            m.agent_status.clone(),
            m.last_seen.to_string(),
            m.os.clone().unwrap_or_default(),
            num(health.and_then(|h| h.cpu_percent)),
            num(health.and_then(|h| h.memory_used_percent)),
            health
                .and_then(|h| h.load_one)
                .map(|v| format!("{v:.2}"))
                .unwrap_or_default(),
            fullest.map(|f| f.mount.clone()).unwrap_or_default(),
            num(fullest.map(|f| f.used_percent)),
            m.open_incidents.len().to_string(),
            top.map(|p| p.name().to_owned()).unwrap_or_default(),
        ]);
    }
    t
}

/// The `atalaya lookup` screen: the directory card of each person the
/// query names, then one block per machine, best match first.
pub fn render_lookup(l: &Lookup) -> String {
    let mut out = String::new();
    if !l.people.is_empty() {
        let n = l.people.len();
        let _ = writeln!(
            out,
            "{n} {} in the directory for {}",
            if n == 1 { "person" } else { "people" },
            l.query
        );
        for p in &l.people {
            out.push('\n');
            out.push_str(&card_block(p));
        }
        out.push('\n');
    }
    let shown = l.machines.len();
    let noun = if l.total == 1 { "machine" } else { "machines" };
    if shown < l.total {
        let _ = writeln!(
            out,
            "{shown} of {} {noun} for {} (best first; --limit for more)",
            l.total, l.query
        );
    } else {
        let _ = writeln!(out, "{} {noun} for {} (best first)", l.total, l.query);
    }
    for m in &l.machines {
        out.push('\n');
        out.push_str(&machine_block(m));
    }
    out
}

fn machine_block(m: &CallerMachine) -> String {
    let mut out = format!("{}  {}\n", m.hostname, m.asset_id);
    let mut line = |label: &str, text: &str| {
        let _ = writeln!(out, "  {label:<11} {text}");
    };
    let why: Vec<&str> = m.why.iter().map(|r| r.text.as_str()).collect();
    line("why:", &why.join("; "));
    let agent = if m.agent_id.is_some() {
        m.agent_status.as_str()
    } else {
        "no agent record"
    };
    line(
        "agent:",
        &format!("{agent}, last seen {}", seconds(m.last_seen)),
    );
    let mut machine: Vec<String> = Vec::new();
    machine.extend(m.os.clone());
    machine.extend(m.model.clone());
    machine.extend(m.serial.as_ref().map(|s| format!("serial {s}")));
    if !machine.is_empty() {
        line("machine:", &machine.join(", "));
    }
    if !m.addresses.is_empty() {
        let addrs: Vec<String> = m.addresses.iter().map(ToString::to_string).collect();
        line("addresses:", &addrs.join(" "));
    }
    line("health:", &health_line(m.health.as_ref()));
    if m.open_incidents.is_empty() {
        line("incidents:", "none open");
    }
    for (n, i) in m.open_incidents.iter().enumerate() {
        let who = i.assignee.as_deref().unwrap_or("unassigned");
        let text = format!(
            "#{} {} {}  {}  opened {}, {who}, SLA {}",
            i.id,
            i.priority,
            i.status.name(),
            i.title,
            seconds(i.opened_at),
            i.sla.name().replace('_', " "),
        );
        line(if n == 0 { "incidents:" } else { "" }, &text);
    }
    out
}

fn health_line(h: Option<&Health>) -> String {
    let Some(h) = h else {
        return "no sample in the last 10 minutes".to_owned();
    };
    let mut parts = Vec::new();
    if let Some(v) = h.cpu_percent {
        parts.push(format!("cpu {v:.1} %"));
    }
    if let Some(v) = h.memory_used_percent {
        parts.push(format!("memory {v:.1} %"));
    }
    if let Some(v) = h.load_one {
        parts.push(format!("load {v:.2}"));
    }
    for f in &h.filesystems {
        parts.push(format!("{} {:.1} %", f.mount, f.used_percent));
    }
    format!("{}  (at {})", parts.join("  "), seconds(h.at))
}
