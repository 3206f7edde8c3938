//! `atalaya capacity`: resources by urgency (use, 95th percentile, growth,
//! the day each is full, headroom), `atalaya capacity forecast` (the
//! same without percentiles, for one resource), `atalaya capacity installed` (what
//! the fleet has and uses, by tag, OS, model or site) and `atalaya
//! capacity renewal` (assets by age, OS releases by end of support).
//!
//! Tables round for people; CSV gives the figures as the API has them
//! (percentages, bytes, bits per second), one row per resource, group or
//! asset; JSON is the API's answer.

use atalaya_common::format::bytes;

use super::client::ApiClient;
use super::{CliError, Format, Table, decode, pretty};
use crate::capacity::installed::InstalledReport;
use crate::capacity::num;
use crate::capacity::renewal::{RenewalReport, RenewalRow};
use crate::capacity::usage::{SizeUnit, TrendState, UsageReport, amount, bits};

/// Which assets, for every capacity report.
#[derive(Debug, Clone, clap::Args)]
pub struct Scope {
    /// Only assets with this tag.
    #[arg(long, global = true)]
    pub tag: Option<String>,
    /// Only `host`s or only `network-device`s.
    #[arg(long, global = true)]
    pub kind: Option<String>,
}

/// `atalaya capacity …`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Another report than the resources by urgency.
    #[command(subcommand)]
    pub report: Option<Report>,
    /// Which assets.
    #[command(flatten)]
    pub scope: Scope,
    /// Fit every trend over this window, e.g. 7d (default: the window of
    /// the forecast rule watching the series, else 72h).
    #[arg(long)]
    pub window: Option<String>,
}

/// The other capacity reports.
#[derive(Debug, clap::Subcommand)]
pub enum Report {
    /// Installed CPUs, cores, memory, disk and bandwidth, and the share in use.
    Installed {
        /// Group by tag, os, model or site (a `site:NAME` tag, or a device's location).
        #[arg(long, default_value = "tag")]
        by: String,
    },
    /// Which resources fill first: the forecast of one resource on every
    /// asset, most urgent first, without the 95th percentile (quicker).
    Forecast {
        /// filesystem, memory, swap, cpu or interface.
        #[arg(long, default_value = "filesystem")]
        resource: String,
        /// At most this many rows.
        #[arg(long)]
        limit: Option<usize>,
        /// Fit every trend over this window, e.g. 7d.
        #[arg(long)]
        window: Option<String>,
    },
    /// Assets by age and OS releases by end of support.
    Renewal {
        /// Support ending within this many months counts as ending soon.
        #[arg(long, default_value_t = 12)]
        months: u32,
    },
}

/// Runs `atalaya capacity`.
pub fn run(client: &ApiClient, args: Args, format: Format) -> Result<String, CliError> {
    let scope = [("tag", args.scope.tag), ("kind", args.scope.kind)];
    if args.report.is_some() && args.window.is_some() {
        return Err(CliError::Usage(
            "--window is for the resources report (`atalaya capacity --window 7d`)".into(),
        ));
    }
    match args.report {
        None => {
            let mut query = scope.to_vec();
            query.push(("window", args.window));
            let body = client.get("/api/v1/capacity", &query)?;
            if format == Format::Json {
                return Ok(pretty(&body));
            }
            let report: UsageReport = decode(&body, "the capacity report")?;
            Ok(usage(&report, format))
        }
        Some(Report::Forecast {
            resource,
            limit,
            window,
        }) => {
            let mut query = scope.to_vec();
            query.push(("resource", Some(resource)));
            query.push(("limit", limit.map(|l| l.to_string())));
            query.push(("window", window));
            let body = client.get("/api/v1/capacity/forecast", &query)?;
            if format == Format::Json {
                return Ok(pretty(&body));
            }
            let report: UsageReport = decode(&body, "the forecast")?;
            Ok(usage(&report, format))
        }
        Some(Report::Installed { by }) => {
            let mut query = scope.to_vec();
            query.push(("by", Some(by)));
            let body = client.get("/api/v1/capacity/installed", &query)?;
            if format == Format::Json {
                return Ok(pretty(&body));
            }
            let report: InstalledReport = decode(&body, "the installed capacity")?;
            Ok(installed(&report, format))
        }
        Some(Report::Renewal { months }) => {
            let mut query = scope.to_vec();
            query.push(("months", Some(months.to_string())));
            let body = client.get("/api/v1/capacity/renewal", &query)?;
            if format == Format::Json {
                return Ok(pretty(&body));
            }
            let report: RenewalReport = decode(&body, "the renewal report")?;
            Ok(renewal(&report, format))
        }
    }
}

fn cell<T>(v: Option<T>, show: impl Fn(T) -> String) -> String {
    v.map(show).unwrap_or_default()
}

fn unit_name(unit: SizeUnit) -> &'static str {
    match unit {
        SizeUnit::Bytes => "bytes",
        SizeUnit::Cpus => "cpus",
        SizeUnit::BitsPerSecond => "bits_per_second",
    }
}

fn raw(v: Option<f64>) -> String {
    cell(v, |v| v.to_string())
}

fn usage(report: &UsageReport, format: Format) -> String {
    if format == Format::Csv {
        let mut t = Table::new([
            "asset_id",
            "hostname",
            "kind",
            "resource",
            "subject",
            "size",
            "size_unit",
            "used_percent",
            "used_on",
            "p95_percent",
            "growth_per_day",
            "r2",
            "window_hours",
            "trend",
            "full_on",
            "days_until_full",
            "headroom_percent",
            "headroom",
        ]);
        for r in &report.rows {
            t.push([
                r.asset_id.clone(),
                r.hostname.clone(),
                r.class.name().to_owned(),
                r.resource.name().to_owned(),
                r.subject.clone(),
                raw(r.size),
                cell(r.size_unit, |u| unit_name(u).to_owned()),
                raw(r.used_percent),
                cell(r.used_on, |d| d.to_string()),
                raw(r.p95_percent),
                raw(r.growth_per_day),
                raw(r.r2),
                r.window_hours.to_string(),
                r.trend.words().to_owned(),
                cell(r.full_on, |d| d.to_string()),
                raw(r.days_until_full),
                raw(r.headroom_percent),
                raw(r.headroom),
            ]);
        }
        return t.to_csv();
    }
    let mut t = Table::new([
        "HOST", "RESOURCE", "SIZE", "USED %", "P95 %", "PER DAY", "R²", "TREND", "FULL ON", "DAYS",
        "HEADROOM",
    ]);
    for r in &report.rows {
        let resource = if r.subject.is_empty() {
            r.resource.name().to_owned()
        } else {
            format!("{} {}", r.resource.name(), r.subject)
        };
        let headroom = match (r.headroom, r.size_unit, r.headroom_percent) {
            (Some(h), Some(u), _) => amount(h, u),
            (None, _, Some(p)) => format!("{} %", num(p, 1)),
            _ => String::new(),
        };
        let shown_fit = !matches!(
            r.trend,
            TrendState::TooLittleHistory | TrendState::NoHistory
        );
        t.push([
            r.hostname.clone(),
            resource,
            match (r.size, r.size_unit) {
                (Some(s), Some(u)) => amount(s, u),
                _ => String::new(),
            },
            cell(r.used_percent, |v| format!("{v:.1}")),
            cell(r.p95_percent, |v| format!("{v:.1}")),
            cell(r.growth_per_day.filter(|_| shown_fit), |v| {
                format!("{v:+.2}")
            }),
            cell(r.r2.filter(|_| shown_fit), |v| format!("{v:.2}")),
            r.trend.words().to_owned(),
            cell(r.full_on, |d| d.to_string()),
            cell(r.days_until_full, |d| format!("{:.0}", d.floor())),
            headroom,
        ]);
    }
    let mut out = t.render();
    if report.rows.is_empty() {
        out.push_str("no resources: no asset matches, or none has sent its use yet\n");
    } else {
        let p95 = if report.rows.iter().any(|r| r.p95_percent.is_some()) {
            format!("P95 over {} days; ", report.p95_days)
        } else {
            String::new()
        };
        out.push_str(&format!(
            "as of {}; {p95}PER DAY: growth of the least-squares line over the forecast rule's window (72 h without one), dated when its R² is at least the rule's min_r2 (0.5 by default)\n",
            report.as_of
        ));
    }
    out
}

fn percent_cell(v: Option<f64>) -> String {
    cell(v, |v| format!("{v:.0}"))
}

fn installed(report: &InstalledReport, format: Format) -> String {
    if format == Format::Csv {
        let mut t = Table::new([
            "group",
            "assets",
            "cpus",
            "cores",
            "threads",
            "memory_bytes",
            "disk_bytes",
            "bandwidth_bps",
            "cpu_used_percent",
            "memory_used_percent",
            "disk_used_percent",
            "bandwidth_used_percent",
            "notes",
        ]);
        for g in &report.groups {
            t.push([
                g.group.clone(),
                g.assets.to_string(),
                g.cpus.to_string(),
                g.cores.to_string(),
                g.threads.to_string(),
                g.memory_bytes.to_string(),
                g.disk_bytes.to_string(),
                g.bandwidth_bps.to_string(),
                raw(g.cpu_used_percent),
                raw(g.memory_used_percent),
                raw(g.disk_used_percent),
                raw(g.bandwidth_used_percent),
                g.notes.join("; "),
            ]);
        }
        return t.to_csv();
    }
    let mut t = Table::new([
        report.by.name().to_uppercase(),
        "ASSETS".into(),
        "CPUS".into(),
        "CORES".into(),
        "THREADS".into(),
        "MEMORY".into(),
        "DISK".into(),
        "BANDWIDTH".into(),
        "CPU %".into(),
        "MEM %".into(),
        "DISK %".into(),
        "NET %".into(),
        "NOTES".into(),
    ]);
    for g in &report.groups {
        t.push([
            g.group.clone(),
            g.assets.to_string(),
            g.cpus.to_string(),
            g.cores.to_string(),
            g.threads.to_string(),
            bytes(g.memory_bytes),
            bytes(g.disk_bytes),
            bits(g.bandwidth_bps as f64),
            percent_cell(g.cpu_used_percent),
            percent_cell(g.memory_used_percent),
            percent_cell(g.disk_used_percent),
            percent_cell(g.bandwidth_used_percent),
            g.notes.join("; "),
        ]);
    }
    let mut out = t.render();
    out.push_str(&format!(
        "as of {}; in use: 95th percentile over 30 days, of the assets that report it\n",
        report.as_of
    ));
    out
}

fn renewal_csv(rows: &[RenewalRow]) -> String {
    let mut t = Table::new([
        "asset_id",
        "hostname",
        "kind",
        "model",
        "firmware_date",
        "age_years",
        "os",
        "os_version",
        "release",
        "end_of_support",
        "support",
        "note",
    ]);
    for r in rows {
        t.push([
            r.asset_id.clone(),
            r.hostname.clone(),
            cell(r.class, |c| c.name().to_owned()),
            r.model.clone().unwrap_or_default(),
            cell(r.firmware_date, |d| d.to_string()),
            raw(r.age_years),
            r.os.clone().unwrap_or_default(),
            r.os_version.clone().unwrap_or_default(),
            r.release.clone().unwrap_or_default(),
            cell(r.end_of_support, |d| d.to_string()),
            r.support.words().to_owned(),
            r.note.clone().unwrap_or_default(),
        ]);
    }
    t.to_csv()
}

fn renewal(report: &RenewalReport, format: Format) -> String {
    if format == Format::Csv {
        return renewal_csv(&report.assets);
    }
    let mut out = format!(
        "Out of support by {} ({} months from {}):\n",
        report.until, report.months, report.as_of
    );
    if report.out_of_support.is_empty() {
        out.push_str("none\n");
    } else {
        let mut t = Table::new(["HOST", "OS", "RELEASE", "END OF SUPPORT", "SUPPORT"]);
        for r in &report.out_of_support {
            t.push([
                r.hostname.clone(),
                r.os_version.clone().unwrap_or_default(),
                r.release.clone().unwrap_or_default(),
                cell(r.end_of_support, |d| d.to_string()),
                r.support.words().to_owned(),
            ]);
        }
        out.push_str(&t.render());
    }
    out.push_str("\nOS releases in use:\n");
    let mut t = Table::new(["OS", "RELEASE", "ASSETS", "END OF SUPPORT", "SUPPORT"]);
    for v in &report.os_versions {
        t.push([
            v.os_version.clone(),
            v.release
                .clone()
                .unwrap_or_else(|| "(not in the end-of-support table)".to_owned()),
            v.assets.to_string(),
            cell(v.end_of_support, |d| d.to_string()),
            v.support.words().to_owned(),
        ]);
    }
    out.push_str(&t.render());
    out.push_str("\nAssets by age (firmware date):\n");
    let mut t = Table::new([
        "HOST",
        "MODEL",
        "FIRMWARE",
        "AGE (Y)",
        "OS",
        "END OF SUPPORT",
        "SUPPORT",
        "NOTE",
    ]);
    for r in &report.assets {
        t.push([
            r.hostname.clone(),
            r.model.clone().unwrap_or_default(),
            cell(r.firmware_date, |d| d.to_string()),
            cell(r.age_years, |y| format!("{y:.1}")),
            r.os_version.clone().unwrap_or_default(),
            cell(r.end_of_support, |d| d.to_string()),
            r.support.words().to_owned(),
            r.note.clone().unwrap_or_default(),
        ]);
    }
    out.push_str(&t.render());
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn amounts_read_in_their_units() {
        assert_eq!(amount(8.0, SizeUnit::Cpus), "8 CPUs");
        assert_eq!(amount(1.04, SizeUnit::Cpus), "1 CPU");
        assert_eq!(amount(1.5 * 1024.0 * 1024.0, SizeUnit::Bytes), "1.5 MiB");
        assert_eq!(amount(1e9, SizeUnit::BitsPerSecond), "1 Gbit/s");
        assert_eq!(bits(2.5e7), "25 Mbit/s");
        assert_eq!(bits(12.0), "12 bit/s");
    }
}
