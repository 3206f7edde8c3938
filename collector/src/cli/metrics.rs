//! `atalaya metrics`: the series names of an asset, or one series.

use super::client::ApiClient;
use super::{CliError, Format, Table, decode, path_seg, pretty, seconds};
use crate::api::MetricSeries;

/// Which series of which asset, over what time.
#[derive(Debug, Clone, clap::Args)]
pub struct Query {
    /// Host name or asset id.
    pub host: String,
    /// Series name, e.g. `cpu.usage_percent` (omit to list them).
    pub name: Option<String>,
    /// Start: a duration ago or an RFC 3339 time.
    #[arg(long, default_value = "1h")]
    pub from: String,
    /// End (default now).
    #[arg(long)]
    pub to: Option<String>,
    /// Average over steps of this length, e.g. 1m.
    #[arg(long)]
    pub step: Option<String>,
}

/// `atalaya metrics HOST [NAME]`: the names, or the points of one series.
pub fn run(client: &ApiClient, q: Query, format: Format) -> Result<String, CliError> {
    let body = client.get(
        &format!("/api/v1/assets/{}/metrics", path_seg(&q.host)),
        &[
            ("name", q.name.clone()),
            ("from", Some(q.from)),
            ("to", q.to),
            ("step", q.step),
        ],
    )?;
    if format == Format::Json {
        return Ok(pretty(&body));
    }
    if q.name.is_none() {
        let v: serde_json::Value = decode(&body, "series names")?;
        let mut t = Table::new(["SERIES"]);
        for s in v["series"].as_array().into_iter().flatten() {
            t.push([s.as_str().unwrap_or_default().to_owned()]);
        }
        return Ok(t.output(format));
    }
    let m: MetricSeries = decode(&body, "the metric")?;
    let mut t = Table::new(["TIME", "VALUE"]);
    for (at, v) in &m.points {
        t.push([seconds(*at), format!("{v}")]);
    }
    Ok(t.output(format))
}
