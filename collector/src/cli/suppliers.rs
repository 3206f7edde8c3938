//! `atalaya suppliers`, `atalaya contracts [--expiring 90d]`, `atalaya
//! warranty [--expired | --expiring 90d]`, `atalaya licences [--seen
//! 30d]` and `atalaya import suppliers|contracts|warranties FILE.csv`.
//!
//! Tables round for people; CSV gives one row per record with dates as
//! `YYYY-MM-DD`; JSON is the API's answer.

use std::path::Path;

use super::client::ApiClient;
use super::{CliError, Format, Table, decode, post_csv, pretty};
use crate::desk::suppliers::ImportOutcome;
use crate::records::supplier::Coverage;
use crate::suppliers::reports::{
    ContractsReport, LicenceRow, SupplierRow, WarrantyRow, WarrantySource,
};

fn opt(v: &Option<String>) -> String {
    v.clone().unwrap_or_default()
}

fn hours(v: Option<f64>) -> String {
    v.map(|h| format!("{h} h")).unwrap_or_default()
}

fn render(t: Table, format: Format, empty: &str) -> String {
    match format {
        Format::Csv => t.to_csv(),
        _ if t.rows.is_empty() => format!("{empty}\n"),
        _ => t.render(),
    }
}

/// `atalaya suppliers`.
pub fn suppliers(client: &ApiClient, format: Format) -> Result<String, CliError> {
    let body = client.get("/api/v1/suppliers", &[])?;
    if format == Format::Json {
        return Ok(pretty(&body));
    }
    let rows: Vec<SupplierRow> = decode(&body, "the suppliers")?;
    let mut t = Table::new([
        "SUPPLIER",
        "KIND",
        "PHONE",
        "E-MAIL",
        "ACCOUNT",
        "CONTRACTS",
        "ACTIVE",
        "HARDWARE",
        "SOFTWARE",
        "COVERED",
        "INCIDENTS",
        "RESPONSE",
    ]);
    for r in &rows {
        t.push([
            r.name.clone(),
            r.kind.name().to_owned(),
            opt(&r.phone),
            opt(&r.email),
            opt(&r.account),
            r.contracts.to_string(),
            r.active_contracts.to_string(),
            r.hardware.to_string(),
            r.software.to_string(),
            r.covered_assets.to_string(),
            r.incidents.to_string(),
            hours(r.levels.response_hours),
        ]);
    }
    Ok(render(
        t,
        format,
        "no suppliers: add them with `atalaya import suppliers FILE.csv`",
    ))
}

fn coverage(c: &Coverage) -> String {
    match c {
        Coverage::Serial(s) => format!("serial {s}"),
        Coverage::Model(m) => format!("model {m}"),
        Coverage::Tag(t) => format!("tag {t}"),
        Coverage::Software(p) => format!("software {p}"),
    }
}

/// `atalaya contracts [--expiring 90d]`.
pub fn contracts(
    client: &ApiClient,
    expiring: Option<String>,
    format: Format,
) -> Result<String, CliError> {
    let body = client.get("/api/v1/contracts", &[("expiring", expiring)])?;
    if format == Format::Json {
        return Ok(pretty(&body));
    }
    let report: ContractsReport = decode(&body, "the contracts")?;
    let mut t = Table::new([
        "ID",
        "SUPPLIER",
        "NUMBER",
        "KIND",
        "START",
        "END",
        "NOTICE ON",
        "DAYS LEFT",
        "STANDING",
        "ASSETS",
        "RESPONSE",
        "COVERS",
    ]);
    for r in &report.rows {
        let c = &r.contract;
        t.push([
            c.id.to_string(),
            c.supplier.clone(),
            c.number.clone(),
            c.kind.name().to_owned(),
            c.start.to_string(),
            c.end.to_string(),
            r.notice_on.to_string(),
            r.days_left.to_string(),
            r.standing.words().to_owned(),
            r.assets.to_string(),
            hours(c.levels.response_hours),
            c.covers.iter().map(coverage).collect::<Vec<_>>().join("; "),
        ]);
    }
    Ok(render(t, format, "no contracts"))
}

/// `atalaya warranty [--expired | --expiring 90d]`.
pub fn warranty(
    client: &ApiClient,
    expired: bool,
    expiring: Option<String>,
    format: Format,
) -> Result<String, CliError> {
    let query = [
        ("expired", expired.then(|| "true".to_owned())),
        ("expiring", expiring),
    ];
    let body = client.get("/api/v1/warranties", &query)?;
    if format == Format::Json {
        return Ok(pretty(&body));
    }
    let rows: Vec<WarrantyRow> = decode(&body, "the warranties")?;
    let mut t = Table::new([
        "HOST",
        "MAKER",
        "MODEL",
        "SERIAL",
        "SUPPLIER",
        "END",
        "DAYS LEFT",
        "STANDING",
        "FROM",
    ]);
    for r in &rows {
        t.push([
            r.hostname.clone(),
            opt(&r.maker),
            opt(&r.model),
            opt(&r.serial),
            opt(&r.supplier),
            r.end.map(|d| d.to_string()).unwrap_or_default(),
            r.days_left.map(|d| d.to_string()).unwrap_or_default(),
            r.standing.map_or("unknown", |s| s.words()).to_owned(),
            match &r.source {
                Some(WarrantySource::Contract { number, .. }) => format!("contract {number}"),
                Some(WarrantySource::Entered) => "entered".to_owned(),
                None => String::new(),
            },
        ]);
    }
    Ok(render(t, format, "no assets match"))
}

/// `atalaya warranty set HOST --supplier S --end DAY [--start DAY] [--notes T]`.
pub fn set_warranty(
    client: &ApiClient,
    host: &str,
    entry: &serde_json::Value,
    format: Format,
) -> Result<String, CliError> {
    let path = format!("/api/v1/warranties/{}", super::path_seg(host));
    let body = client.put(&path, entry)?;
    if format == Format::Json {
        return Ok(pretty(&body));
    }
    let w: crate::records::supplier::Warranty = decode(&body, "the warranty")?;
    Ok(format!(
        "warranty of {host} ({}): {} until {}\n",
        w.asset_id, w.supplier, w.end
    ))
}

/// `atalaya warranty remove HOST`.
pub fn remove_warranty(client: &ApiClient, host: &str) -> Result<String, CliError> {
    client.delete(&format!("/api/v1/warranties/{}", super::path_seg(host)))?;
    Ok(format!("the warranty entered for {host} is removed\n"))
}

/// `atalaya licences [--seen 30d]`.
pub fn licences(
    client: &ApiClient,
    seen: Option<String>,
    format: Format,
) -> Result<String, CliError> {
    let body = client.get("/api/v1/licences", &[("seen", seen)])?;
    if format == Format::Json {
        return Ok(pretty(&body));
    }
    let rows: Vec<LicenceRow> = decode(&body, "the licences")?;
    let mut t = Table::new([
        "SUPPLIER",
        "NUMBER",
        "SOFTWARE",
        "SEATS",
        "INSTALLED",
        "COMPLIANCE",
        "OVER",
        "UNUSED",
        "END",
        "ASSETS",
    ]);
    for r in &rows {
        t.push([
            r.supplier.clone(),
            r.number.clone(),
            r.software.join("; "),
            r.seats.to_string(),
            r.installed.to_string(),
            match r.compliance {
                crate::suppliers::reports::Compliance::Within => "within",
                crate::suppliers::reports::Compliance::Over => "OVER",
            }
            .to_owned(),
            r.over.to_string(),
            r.unused.to_string(),
            r.end.to_string(),
            r.assets.join(" "),
        ]);
    }
    Ok(render(t, format, "no licence contracts"))
}

/// `atalaya import suppliers|contracts|warranties FILE`.
pub fn import(
    client: &ApiClient,
    kind: &str,
    file: &Path,
    format: Format,
) -> Result<String, CliError> {
    let body = post_csv(client, &format!("/api/v1/import/{kind}"), &[], file)?;
    if format == Format::Json {
        return Ok(pretty(&body));
    }
    let done: ImportOutcome = decode(&body, "the import")?;
    Ok(format!(
        "imported {} {kind}: {} added, {} replaced\n",
        file.display(),
        done.added,
        done.replaced
    ))
}
