//! Output of the `atalaya` CLI: aligned text tables for people, CSV and
//! JSON for spreadsheets and scripts, and the `lookup` screen.
//!
//! Written by hand because it is small: a table is a header row and string
//! cells; numeric columns are right-aligned so digits line up.

use std::fmt::Write as _;

pub mod changes;

use atalaya_common::model::Timestamp;

use crate::store::{CallerMachine, Health, Lookup};

/// How the CLI prints results.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// Aligned columns.
    Table,
    /// RFC 4180 CSV.
    Csv,
    /// The server's JSON, pretty-printed.
    Json,
}

/// Rows of string cells under a header.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Table {
    /// Column names.
    pub headers: Vec<String>,
    /// Rows; each as long as `headers` (shorter rows are padded with blanks).
    pub rows: Vec<Vec<String>>,
}

impl Table {
    /// An empty table with these column names.
    pub fn new<S: Into<String>>(headers: impl IntoIterator<Item = S>) -> Self {
        Table {
            headers: headers.into_iter().map(Into::into).collect(),
            rows: Vec::new(),
        }
    }

    /// Appends a row.
    pub fn push<S: Into<String>>(&mut self, row: impl IntoIterator<Item = S>) {
        self.rows.push(row.into_iter().map(Into::into).collect());
    }

    fn cell(&self, row: usize, col: usize) -> &str {
        self.rows
            .get(row)
            .and_then(|r| r.get(col))
            .map_or("", String::as_str)
    }

    fn numeric(&self, col: usize) -> bool {
        let mut any = false;
        for r in 0..self.rows.len() {
            let c = self.cell(r, col).trim();
            if c.is_empty() {
                continue;
            }
            if c.parse::<f64>().is_err() {
                return false;
            }
            any = true;
        }
        any
    }

    /// Aligned columns separated by two spaces, header first; no trailing spaces.
    pub fn render(&self) -> String {
        let cols = self.headers.len();
        let width = |s: &str| s.chars().count();
        let mut widths: Vec<usize> = self.headers.iter().map(|h| width(h)).collect();
        for r in 0..self.rows.len() {
            for (c, w) in widths.iter_mut().enumerate() {
                *w = (*w).max(width(self.cell(r, c)));
            }
        }
        let right: Vec<bool> = (0..cols).map(|c| self.numeric(c)).collect();
        let mut out = String::new();
        let mut line = |cells: &mut dyn Iterator<Item = &str>| {
            let mut l = String::new();
            for (c, cell) in cells.enumerate() {
                let w = widths.get(c).copied().unwrap_or(0);
                if c > 0 {
                    l.push_str("  ");
                }
                let pad = w.saturating_sub(width(cell));
                if right.get(c).copied().unwrap_or(false) {
                    l.extend(std::iter::repeat_n(' ', pad));
                    l.push_str(cell);
                } else {
                    l.push_str(cell);
                    l.extend(std::iter::repeat_n(' ', pad));
                }
            }
            let _ = writeln!(out, "{}", l.trim_end());
        };
        line(&mut self.headers.iter().map(String::as_str));
        for r in 0..self.rows.len() {
            line(&mut (0..cols).map(|c| self.cell(r, c)));
        }
        out
    }

    /// CSV (RFC 4180): fields quoted when they hold a comma, quote, line
    /// break or edge spaces; quotes doubled; CRLF line ends.
    pub fn to_csv(&self) -> String {
        let mut out = String::new();
        let cols = self.headers.len();
        let mut line = |cells: &mut dyn Iterator<Item = &str>| {
            let fields: Vec<String> = cells.map(csv_field).collect();
            out.push_str(&fields.join(","));
            out.push_str("\r\n");
        };
        line(&mut self.headers.iter().map(String::as_str));
        for r in 0..self.rows.len() {
            line(&mut (0..cols).map(|c| self.cell(r, c)));
        }
        out
    }

    /// In the chosen format (`Json` is not a table's job: it gives the table as CSV).
    pub fn output(&self, format: Format) -> String {
        match format {
            Format::Table => self.render(),
            Format::Csv | Format::Json => self.to_csv(),
        }
    }
}

/// One CSV field, quoted if it needs to be.
pub fn csv_field(s: &str) -> String {
    let needs = s.contains([',', '"', '\n', '\r'])
        || s.starts_with(' ')
        || s.ends_with(' ')
        // A leading = + @ makes spreadsheets evaluate the cell as a formula
        // (`-` is left alone: negative numbers must stay numbers).
        || s.starts_with(['=', '+', '@']);
    if needs {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_owned()
    }
}

/// Key/value lines with aligned values, for one-record summaries.
pub fn render_pairs(pairs: &[(String, String)]) -> String {
    let w = pairs
        .iter()
        .map(|(k, _)| k.chars().count())
        .max()
        .unwrap_or(0);
    let mut out = String::new();
    for (k, v) in pairs {
        let pad = w.saturating_sub(k.chars().count());
        let _ = writeln!(out, "{k}:{}  {v}", " ".repeat(pad));
    }
    out
}

/// A time for people: whole seconds read better than milliseconds.
pub fn seconds(t: Timestamp) -> String {
    Timestamp::from_secs(t.as_secs()).to_string()
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

/// The `atalaya lookup` screen: one block per machine, best match first.
pub fn render_lookup(l: &Lookup) -> String {
    let mut out = String::new();
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn columns_line_up_and_numbers_align_right() {
        let mut t = Table::new(["HOST", "PACKAGES"]);
        t.push(["web-01", "1234"]);
        t.push(["db-primary", "7"]);
        let out = t.render();
        let lines: Vec<&str> = out.lines().collect();
        assert_eq!(
            lines,
            [
                "HOST        PACKAGES",
                "web-01          1234",
                "db-primary         7",
            ]
        );
    }

    #[test]
    fn alignment_counts_characters_not_bytes() {
        let mut t = Table::new(["NAME", "OS"]);
        t.push(["café", "debian"]);
        t.push(["x", "rhel"]);
        let out = t.render();
        let pos: Vec<usize> = out
            .lines()
            .map(|l| {
                l.chars()
                    .position(|c| c == 'd' || c == 'r' || c == 'O')
                    .unwrap()
            })
            .collect();
        assert_eq!(pos, [6, 6, 6], "{out}");
    }

    #[test]
    fn short_rows_are_padded_and_no_trailing_space() {
        let mut t = Table::new(["A", "B", "C"]);
        t.push(["1"]);
        let out = t.render();
        assert!(out.lines().all(|l| !l.ends_with(' ')), "{out:?}");
        assert_eq!(t.to_csv(), "A,B,C\r\n1,,\r\n");
    }

    #[test]
    fn csv_quotes_what_needs_quoting() {
        let mut t = Table::new(["host", "note"]);
        t.push(["a,b", "say \"hi\""]);
        t.push(["line\nbreak", " pad"]);
        t.push(["plain", "=SUM(A1)"]);
        assert_eq!(
            t.to_csv(),
            "host,note\r\n\"a,b\",\"say \"\"hi\"\"\"\r\n\"line\nbreak\",\" pad\"\r\nplain,\"=SUM(A1)\"\r\n"
        );
    }

    #[test]
    fn pairs_align() {
        let out = render_pairs(&[
            ("Host".into(), "a".into()),
            ("Last seen".into(), "b".into()),
        ]);
        assert_eq!(out, "Host:       a\nLast seen:  b\n");
    }
}
