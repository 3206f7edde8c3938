//! `atalaya assets` (a filtered list), `asset` (one, with its inventory,
//! or that inventory in GLPI's format) and `software` (the installed base
//! of a package).

use std::fmt::Write as _;

use atalaya_common::{diff, render};

use super::client::ApiClient;
use super::{CliError, Format, Table, decode, opt, path_seg, pretty, render_pairs, seconds};
use crate::store::{AssetRecord, AssetSummary, Page, SoftwareReport};

/// The filters of `atalaya assets`.
#[derive(Debug, Clone, clap::Args)]
pub struct Filter {
    /// Host name, exact or with `*`.
    #[arg(long)]
    pub hostname: Option<String>,
    /// OS id (debian, rhel…) or part of its name.
    #[arg(long)]
    pub os: Option<String>,
    /// Has this package installed.
    #[arg(long)]
    pub software: Option<String>,
    /// With --software: lowest version.
    #[arg(long)]
    pub version_min: Option<String>,
    /// With --software: highest version.
    #[arg(long)]
    pub version_max: Option<String>,
    /// Carries this tag.
    #[arg(long)]
    pub tag: Option<String>,
    /// Seen after (duration ago or RFC 3339).
    #[arg(long)]
    pub seen_after: Option<String>,
    /// Seen before (duration ago or RFC 3339).
    #[arg(long)]
    pub seen_before: Option<String>,
    /// Most assets.
    #[arg(long, default_value_t = 100)]
    pub limit: usize,
    /// Skip this many.
    #[arg(long, default_value_t = 0)]
    pub offset: usize,
}

/// `atalaya assets`: a page of assets, and how to get the next.
pub fn list(client: &ApiClient, f: Filter, format: Format) -> Result<String, CliError> {
    let body = client.get(
        "/api/v1/assets",
        &[
            ("hostname", f.hostname),
            ("os", f.os),
            ("software", f.software),
            ("version_min", f.version_min),
            ("version_max", f.version_max),
            ("tag", f.tag),
            ("seen_after", f.seen_after),
            ("seen_before", f.seen_before),
            ("limit", Some(f.limit.to_string())),
            ("offset", Some(f.offset.to_string())),
        ],
    )?;
    if format == Format::Json {
        return Ok(pretty(&body));
    }
    let page: Page<AssetSummary> = decode(&body, "assets")?;
    let mut t = Table::new(["ID", "HOSTNAME", "OS", "TAGS", "LAST SEEN"]);
    for s in &page.items {
        let mut host = s.hostname.clone();
        if s.possible_clone {
            host.push_str(" (possible clone)");
        }
        t.push([
            s.id.clone(),
            host,
            opt(&s.os),
            s.tags.join(" "),
            seconds(s.last_seen),
        ]);
    }
    let mut out = t.output(format);
    if format == Format::Table {
        let shown = page.offset + page.items.len();
        let _ = write!(out, "{} of {} assets", shown, page.total);
        if let Some(next) = page.next_offset {
            let _ = write!(out, " (next: --offset {next})");
        }
        out.push('\n');
    }
    Ok(out)
}

/// What `atalaya asset HOST --format …` prints.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum AssetFormat {
    /// The asset and its inventory in aligned lines (as with no flag).
    Table,
    /// The same as `field,value` CSV rows (as `--csv`).
    Csv,
    /// The server's JSON (as `--json`).
    Json,
    /// The inventory in GLPI's native inventory format, ready to POST to
    /// GLPI's `/front/inventory.php`.
    Glpi,
}

/// `atalaya asset HOST --format glpi`: the asset's current inventory as
/// GLPI's native inventory JSON.
pub fn glpi(client: &ApiClient, host: &str) -> Result<String, CliError> {
    let body = client.get(
        &format!("/api/v1/assets/{}/inventory", path_seg(host)),
        &[("format", Some("glpi".to_owned()))],
    )?;
    Ok(pretty(&body))
}

/// `atalaya asset HOST`.
pub fn show(client: &ApiClient, host: &str, format: Format) -> Result<String, CliError> {
    let body = client.get(&format!("/api/v1/assets/{}", path_seg(host)), &[])?;
    if format == Format::Json {
        return Ok(pretty(&body));
    }
    let a: AssetRecord = decode(&body, "the asset")?;
    Ok(summary(&a, format))
}

/// The asset's record, then its inventory in the lines every Atalaya
/// screen shows. Volatile values (free space…) are left out: the
/// collector's copy of them is only as fresh as the last snapshot; the
/// metrics have them now.
pub fn summary(a: &AssetRecord, format: Format) -> String {
    let m = &a.meta;
    let mut p: Vec<(String, String)> = vec![
        ("Asset".into(), m.id.clone()),
        ("Host".into(), m.hostname.clone()),
    ];
    if a.inventory.is_none() {
        p.push(("Inventory".into(), "none received yet".into()));
    }
    if !m.tags.is_empty() {
        p.push(("Tags".into(), m.tags.join(" ")));
    }
    p.push(("Agents".into(), m.agent_ids.join(" ")));
    if !m.possible_clones.is_empty() {
        p.push(("Possible clone of".into(), m.possible_clones.join(" ")));
    }
    p.push(("First seen".into(), seconds(m.first_seen)));
    p.push(("Last seen".into(), seconds(m.last_seen)));
    let lines = a
        .inventory
        .as_ref()
        .map(|inv| render::summary(&diff::without_volatile(inv)))
        .unwrap_or_default();
    if format == Format::Csv {
        let mut t = Table::new(["field", "value"]);
        for (k, v) in p {
            t.push([k, v]);
        }
        for l in lines {
            t.push([l.topic.to_owned(), l.text]);
        }
        return t.to_csv();
    }
    let mut out = render_pairs(&p);
    if !lines.is_empty() {
        out.push('\n');
        out.push_str(&render::text(&lines, ""));
    }
    out
}

/// `atalaya software NAME`: versions, how many assets run each, which.
pub fn software(client: &ApiClient, name: String, format: Format) -> Result<String, CliError> {
    let body = client.get("/api/v1/software", &[("name", Some(name))])?;
    if format == Format::Json {
        return Ok(pretty(&body));
    }
    let r: SoftwareReport = decode(&body, "software")?;
    let mut t = Table::new(["PACKAGE", "VERSION", "COUNT", "HOSTS"]);
    for p in &r.packages {
        for v in &p.versions {
            let hosts: Vec<&str> = v.assets.iter().map(|a| a.hostname.as_str()).collect();
            t.push([
                p.name.clone(),
                v.version.clone(),
                v.count.to_string(),
                hosts.join(" "),
            ]);
        }
    }
    let mut out = t.output(format);
    if format == Format::Table {
        for p in &r.packages {
            let _ = writeln!(out, "{}: {} assets", p.name, p.assets);
        }
        if r.packages.is_empty() {
            let _ = writeln!(out, "no asset has a package matching `{}`", r.query);
        }
    }
    Ok(out)
}
