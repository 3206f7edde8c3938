//! `atalaya metrics`: the series names of an asset, or one series; and
//! `atalaya top`: the series of the fleet highest over a range.

use super::client::ApiClient;
use super::{CliError, Format, Table, decode, path_seg, pretty, seconds};
use crate::api::{MetricSeries, TopList};

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
    /// One value per step of this length, e.g. 1m, 1h, 1d.
    #[arg(long)]
    pub step: Option<String>,
    /// How a step becomes one value: avg, min, max, last, p50, p95, p99
    /// or rate (default avg).
    #[arg(long)]
    pub agg: Option<String>,
}

/// Which series to rank, by what, over what time.
#[derive(Debug, Clone, clap::Args)]
pub struct TopQuery {
    /// Series name, e.g. `filesystem.used_percent` (every subject of it).
    pub series: String,
    /// Rank by: max, avg, min, last, p50, p95 or p99.
    #[arg(long, default_value = "max")]
    pub by: String,
    /// Over this long up to now, e.g. 24h, 7d.
    #[arg(long, default_value = "7d")]
    pub over: String,
    /// Only assets with this tag.
    #[arg(long)]
    pub tag: Option<String>,
    /// Most series listed.
    #[arg(long, default_value_t = 20)]
    pub limit: usize,
}

/// `atalaya top SERIES`: the highest series of the fleet.
pub fn top(client: &ApiClient, q: TopQuery, format: Format) -> Result<String, CliError> {
    let body = client.get(
        "/api/v1/top",
        &[
            ("series", Some(q.series)),
            ("by", Some(q.by)),
            ("over", Some(q.over)),
            ("tag", q.tag),
            ("limit", Some(q.limit.to_string())),
        ],
    )?;
    if format == Format::Json {
        return Ok(pretty(&body));
    }
    let list: TopList = decode(&body, "the ranking")?;
    let by = list.by.to_string().to_uppercase();
    let mut t = Table::new(["HOST", "ASSET", "SERIES", by.as_str()]);
    for e in &list.top {
        t.push([
            e.hostname.clone(),
            e.asset_id.clone(),
            e.series.clone(),
            format!("{}", e.value),
        ]);
    }
    let mut out = t.output(format);
    if format == Format::Table {
        out = format!(
            "{} from {} rollups since {}\n{out}",
            list.series,
            list.tier,
            seconds(list.from)
        );
    }
    Ok(out)
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
            ("agg", q.agg),
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
    let mut out = t.output(format);
    if format == Format::Table {
        let how = match m.step_ms {
            Some(_) => format!(", {} per step", m.aggregation),
            None => String::new(),
        };
        out = format!("{} from {} data{how}\n{out}", m.name, m.tier);
    }
    Ok(out)
}
