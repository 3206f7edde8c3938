//! `atalaya probes`: the latest network probe result per target of each
//! agent, with the method each used.

use super::client::ApiClient;
use super::{CliError, Format, Table, decode, pretty, seconds};
use crate::store::probes::ProbeRow;

/// A time in ms, to a tenth.
fn ms(v: Option<f64>) -> String {
    v.map(|v| format!("{v:.1}")).unwrap_or_default()
}

/// `atalaya probes [--asset HOST]`.
pub fn list(client: &ApiClient, asset: Option<String>, format: Format) -> Result<String, CliError> {
    let body = client.get("/api/v1/probes", &[("asset", asset)])?;
    if format == Format::Json {
        return Ok(pretty(&body));
    }
    let rows: Vec<ProbeRow> = decode(&body, "the probe results")?;
    let mut t = Table::new([
        "HOST",
        "TARGET",
        "KIND",
        "METHOD",
        "RTT MS",
        "MIN MS",
        "MAX MS",
        "JITTER MS",
        "LOSS %",
        "SENT",
        "NOTE",
        "LAST ROUND",
    ]);
    for row in &rows {
        let r = &row.latest.result;
        t.push([
            row.hostname.clone(),
            r.target.clone(),
            r.kind.to_string(),
            r.method.to_string(),
            ms(r.rtt_median_ms),
            ms(r.rtt_min_ms),
            ms(r.rtt_max_ms),
            ms(r.jitter_ms),
            format!("{:.0}", r.loss_percent),
            r.sent.to_string(),
            r.extra.clone(),
            seconds(row.latest.at),
        ]);
    }
    let mut out = t.output(format);
    if format == Format::Table && rows.is_empty() {
        out.push_str("no probe results yet: agents send theirs every [probes] interval_seconds\n");
    }
    Ok(out)
}
