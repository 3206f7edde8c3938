//! `atalaya report slr`: the service-level report of a month (or of
//! `--from`/`--to` days), as [`crate::incidents::slr`] describes it.
//!
//! The table output is one titled table per part of the report. `--csv`
//! is one file a spreadsheet opens as it is: the same parts one after the
//! other, each a title row (`by priority`, `breaches`…), a header row and
//! its rows, then an empty row; times are seconds, shares percentages,
//! instants `YYYY-MM-DD HH:MM:SS` (UTC). `--json` is the API's answer.

use std::fmt::Write as _;

use atalaya_common::model::Timestamp;

use super::client::ApiClient;
use super::{CliError, Format, Table, csv_field, decode, pretty, seconds};
use crate::incidents::slr::{Compliance, CountRow, Slr};

/// `atalaya report …`.
#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// The service-level report: incidents by priority, rule and category,
    /// times to acknowledge and resolve, SLA compliance and breaches,
    /// backlog, availability, recurrent problems, knowledge-base use.
    Slr(SlrArgs),
}

/// Which period.
#[derive(Debug, clap::Args)]
pub struct SlrArgs {
    /// A calendar month, YYYY-MM (default: the last whole month).
    #[arg(long, conflicts_with_all = ["from", "to"])]
    pub month: Option<String>,
    /// The first day, YYYY-MM-DD.
    #[arg(long)]
    pub from: Option<String>,
    /// The last day, YYYY-MM-DD, included (default: today).
    #[arg(long, requires = "from")]
    pub to: Option<String>,
    /// Write the report as an HTML page that prints cleanly to FILE.
    #[arg(long, value_name = "FILE")]
    pub html: Option<std::path::PathBuf>,
}

/// Runs `atalaya report …`.
pub fn run(client: &ApiClient, cmd: Command, format: Format) -> Result<String, CliError> {
    match cmd {
        Command::Slr(args) => {
            let html = args.html.clone();
            let query = [("month", args.month), ("from", args.from), ("to", args.to)];
            let body = client.get("/api/v1/reports/slr", &query)?;
            if let Some(path) = html {
                let report: Slr = decode(&body, "the service-level report")?;
                atalaya_files::write_atomic(&path, html_document(&report).as_bytes(), 0o644)
                    .map_err(|e| CliError::Usage(format!("writing {}: {e}", path.display())))?;
                return Ok(format!(
                    "{} written: open it in a browser, print it from there\n",
                    path.display()
                ));
            }
            if format == Format::Json {
                return Ok(pretty(&body));
            }
            let report: Slr = decode(&body, "the service-level report")?;
            Ok(match format {
                Format::Csv => csv(&report),
                _ => table(&report),
            })
        }
    }
}

/// The report's parts as HTML tables, for the console's page and the
/// printable file.
pub fn html_body(r: &Slr) -> maud::Markup {
    maud::html! {
        p.lead { (heading(r)) }
        p {
            (r.total.opened) " incidents opened, " (r.total.resolved) " resolved, "
            (r.total.open_at_end) " open at the end (" (r.open_at_start) " open at the start); times in UTC."
        }
        @for (title, t) in parts(r, Style::People) {
            section.part {
                h2 { (capitalised(&title)) }
                @if t.rows.is_empty() {
                    p.muted { "None." }
                } @else {
                    table {
                        thead { tr { @for h in &t.headers { th { (h) } } } }
                        tbody {
                            @for row in &t.rows {
                                tr { @for cell in row { td { (cell) } } }
                            }
                        }
                    }
                }
            }
        }
    }
}

/// The stylesheet of the printable file: the page on screen, A4 on paper.
const PRINT_CSS: &str = "body{font-family:system-ui,sans-serif;font-size:11pt;color:#1d2330;margin:2rem}\
h1{font-size:16pt}h2{font-size:12pt;margin:1.2rem 0 .4rem}\
table{border-collapse:collapse;width:100%}th,td{text-align:left;padding:.2rem .5rem;border-bottom:1px solid #ccc}\
th{font-size:9pt;color:#555}.muted,.lead{color:#555}\
@page{size:A4;margin:15mm}@media print{body{margin:0}section.part{page-break-inside:avoid}tr{page-break-inside:avoid}}";

/// The report as a whole HTML document that prints cleanly, for the
/// periodic review with the customer (`--html FILE`).
pub fn html_document(r: &Slr) -> String {
    maud::html! {
        (maud::DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                title { "Service-level report " (r.period.first.to_string()) " to " (r.period.last.to_string()) }
                style { (maud::PreEscaped(PRINT_CSS)) }
            }
            body {
                h1 { "Service-level report" }
                (html_body(r))
            }
        }
    }
    .into_string()
}

/// Seconds for people: `45s`, `12m`, `4h 05m`, `2d 03h`.
pub fn duration(secs: f64) -> String {
    let s = secs.max(0.0).round() as u64;
    match s {
        0..60 => format!("{s}s"),
        60..3600 => format!("{}m", s / 60),
        3600..86_400 => format!("{}h {:02}m", s / 3600, s % 3600 / 60),
        _ => format!("{}d {:02}h", s / 86_400, s % 86_400 / 3600),
    }
}

/// An instant to the minute, UTC: `2026-11-20 14:00`.
fn minute(t: Timestamp) -> String {
    let text = seconds(t).replace('T', " ");
    text.get(..16).unwrap_or(&text).to_owned()
}

/// An instant to the second for spreadsheets: `2026-11-20 14:00:00`.
fn instant(t: Timestamp) -> String {
    let text = seconds(t).replace('T', " ");
    text.trim_end_matches('Z').to_owned()
}

/// How a part of the report shows a value: for people, or for CSV.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Style {
    People,
    Csv,
}

impl Style {
    fn secs(self, v: Option<f64>) -> String {
        match (self, v) {
            (_, None) => String::new(),
            (Style::People, Some(v)) => duration(v),
            (Style::Csv, Some(v)) => format!("{v:.0}"),
        }
    }

    fn pct(self, v: Option<f64>) -> String {
        match (self, v) {
            (_, None) => String::new(),
            (Style::People, Some(v)) => format!("{v:.1}"),
            (Style::Csv, Some(v)) => format!("{v:.3}"),
        }
    }

    fn at(self, t: Timestamp) -> String {
        match self {
            Style::People => minute(t),
            Style::Csv => instant(t),
        }
    }
}

fn counts(title: &str, rows: &[CountRow]) -> Table {
    let mut t = Table::new([title, "OPENED", "RESOLVED", "OPEN AT END"]);
    for r in rows {
        t.push([
            r.key.clone(),
            r.opened.to_string(),
            r.resolved.to_string(),
            r.open_at_end.to_string(),
        ]);
    }
    t
}

/// Every part of the report as a titled table.
fn parts(r: &Slr, style: Style) -> Vec<(String, Table)> {
    let mut out = Vec::new();
    let mut by_priority = r.by_priority.clone();
    by_priority.push(r.total.clone());
    out.push(("by priority".to_owned(), counts("PRIORITY", &by_priority)));
    out.push(("by rule".to_owned(), counts("RULE", &r.by_rule)));
    out.push(("by category".to_owned(), counts("CATEGORY", &r.by_category)));

    let mut t = Table::new([
        "PRIORITY",
        "ACKNOWLEDGED",
        "MEAN TO ACK",
        "P90 TO ACK",
        "RESOLVED",
        "MEAN TO RESOLVE",
        "P90 TO RESOLVE",
    ]);
    for x in &r.times {
        t.push([
            x.priority.clone(),
            x.acknowledged.to_string(),
            style.secs(x.mean_acknowledge_seconds),
            style.secs(x.p90_acknowledge_seconds),
            x.resolved.to_string(),
            style.secs(x.mean_resolve_seconds),
            style.secs(x.p90_resolve_seconds),
        ]);
    }
    let seconds_note = if style == Style::Csv {
        " (seconds)"
    } else {
        ""
    };
    out.push((
        format!("times of the incidents opened in the period{seconds_note}"),
        t,
    ));

    let mut t = Table::new([
        "PRIORITY",
        "INCIDENTS",
        "ACK MET",
        "ACK BREACHED",
        "ACK PENDING",
        "ACK %",
        "RESOLVE MET",
        "RESOLVE BREACHED",
        "RESOLVE PENDING",
        "RESOLVE %",
    ]);
    let c = |c: &Compliance| {
        [
            c.met.to_string(),
            c.breached.to_string(),
            c.pending.to_string(),
            style.pct(c.percent),
        ]
    };
    for x in &r.sla {
        let mut row = vec![x.priority.clone(), x.incidents.to_string()];
        row.extend(c(&x.acknowledge));
        row.extend(c(&x.resolve));
        t.push(row);
    }
    out.push(("SLA compliance".to_owned(), t));

    let mut t = Table::new([
        "INCIDENT", "HOST", "ASSET", "PRIORITY", "RULE", "TARGET", "DUE", "DONE", "LATE",
    ]);
    for b in &r.breaches {
        t.push([
            b.incident.to_string(),
            b.hostname.clone().unwrap_or_default(),
            b.asset.clone(),
            b.priority.clone(),
            b.rule.clone(),
            b.target.name().to_owned(),
            style.at(b.due),
            b.done_at.map_or_else(
                || match style {
                    Style::People => "not done".to_owned(),
                    Style::Csv => String::new(),
                },
                |t| style.at(t),
            ),
            style.secs(Some(b.late_seconds)),
        ]);
    }
    out.push(("breaches".to_owned(), t));

    let mut t = Table::new(["DAY", "OPENED", "RESOLVED", "OPEN"]);
    for d in &r.backlog {
        t.push([
            d.day.to_string(),
            d.opened.to_string(),
            d.resolved.to_string(),
            d.open.to_string(),
        ]);
    }
    out.push(("backlog (open at the end of each day)".to_owned(), t));

    let a = &r.availability;
    let mut t = Table::new(["HOST", "ASSET", "INCIDENTS", "DOWN", "AVAILABILITY %"]);
    for x in &a.assets {
        t.push([
            x.hostname.clone().unwrap_or_default(),
            x.asset.clone(),
            x.incidents.to_string(),
            style.secs(Some(x.down_seconds)),
            style.pct(Some(x.percent)),
        ]);
    }
    t.push([
        "(assets with outages)".to_owned(),
        String::new(),
        a.assets.len().to_string(),
        String::new(),
        style.pct(a.affected_mean_percent),
    ]);
    t.push([
        "(fleet)".to_owned(),
        String::new(),
        a.fleet_assets.to_string(),
        String::new(),
        style.pct(a.fleet_mean_percent),
    ]);
    out.push((
        format!("availability (outage rules: {})", a.rules.join(", ")),
        t,
    ));

    let mut t = Table::new(["RULE", "HOST", "ASSET", "OPENINGS", "INCIDENTS"]);
    for x in &r.recurrent.by_asset {
        t.push([
            x.rule.clone(),
            x.hostname.clone().unwrap_or_default(),
            x.asset.clone().unwrap_or_default(),
            x.openings.to_string(),
            x.incidents.to_string(),
        ]);
    }
    out.push(("recurrent problems: same rule, same asset".to_owned(), t));
    let mut t = Table::new(["RULE", "ASSETS", "OPENINGS", "INCIDENTS"]);
    for x in &r.recurrent.by_rule {
        t.push([
            x.rule.clone(),
            x.assets.to_string(),
            x.openings.to_string(),
            x.incidents.to_string(),
        ]);
    }
    out.push(("recurrent problems: same rule across assets".to_owned(), t));

    let k = &r.kb;
    let mut t = Table::new(["KNOWLEDGE BASE", "INCIDENTS"]);
    for (what, n) in [
        ("opened in the period", k.incidents),
        ("with a suggested article", k.with_suggestion),
        ("resolved", k.resolved),
        ("resolved with an article", k.resolved_with_article),
        (
            "resolved with a suggested article",
            k.resolved_with_suggested_article,
        ),
        ("solution saved as a new article", k.solutions_saved),
    ] {
        t.push([what.to_owned(), n.to_string()]);
    }
    t.push([
        "suggestions that solved it %".to_owned(),
        style.pct(k.suggestion_success_percent),
    ]);
    out.push(("knowledge base".to_owned(), t));

    let mut t = Table::new([
        "SUPPLIER",
        "CASES",
        "MEAN TO CASE",
        "RESOLVED",
        "MEAN CASE TO RESOLVED",
    ]);
    for x in &r.suppliers {
        t.push([
            x.supplier.clone(),
            x.cases.to_string(),
            style.secs(x.mean_seconds_to_case),
            x.resolved.to_string(),
            style.secs(x.mean_seconds_case_to_resolved),
        ]);
    }
    out.push(("cases opened with suppliers".to_owned(), t));
    out
}

fn heading(r: &Slr) -> String {
    let state = if r.complete {
        "complete".to_owned()
    } else {
        format!("so far, to {}", minute(r.until))
    };
    format!(
        "Service-level report {} to {} ({state}; made {})",
        r.period.first,
        r.period.last,
        minute(r.generated_at)
    )
}

/// The report as titled tables, for people.
pub fn table(r: &Slr) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "{}", heading(r));
    let _ = writeln!(
        out,
        "{} incidents opened, {} resolved, {} open at the end ({} open at the start); times in UTC",
        r.total.opened, r.total.resolved, r.total.open_at_end, r.open_at_start
    );
    for (title, t) in parts(r, Style::People) {
        let _ = writeln!(out, "\n{}:", capitalised(&title));
        if t.rows.is_empty() {
            out.push_str("  none\n");
        } else {
            out.push_str(&t.render());
        }
    }
    out
}

/// The report as one CSV of titled parts, for spreadsheets.
pub fn csv(r: &Slr) -> String {
    let mut out = String::new();
    out.push_str(&csv_field(&heading(r)));
    out.push_str("\r\n\r\n");
    for (title, t) in parts(r, Style::Csv) {
        out.push_str(&csv_field(&title));
        out.push_str("\r\n");
        out.push_str(&t.to_csv());
        out.push_str("\r\n");
    }
    out
}

fn capitalised(s: &str) -> String {
    let mut c = s.chars();
    c.next()
        .map(|f| f.to_uppercase().chain(c).collect())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_for_people() {
        assert_eq!(duration(45.0), "45s");
        assert_eq!(duration(900.0), "15m");
        assert_eq!(duration(14_475.0), "4h 01m");
        assert_eq!(duration(900_000.0), "10d 10h");
        assert_eq!(duration(-3.0), "0s");
        assert_eq!(minute(Timestamp(1_795_183_200_000)), "2026-11-20 14:00");
        assert_eq!(instant(Timestamp(1_795_183_200_000)), "2026-11-20 14:00:00");
    }
}
