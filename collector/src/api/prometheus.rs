//! `GET /metrics`: the collector's own counters and the store's sizes in
//! the Prometheus text format. Viewer role and up, like every read.
//!
//! Only the collector's own health is exposed here; the agents' stored
//! series are served by the JSON API, not re-exposed for scraping.

use axum::extract::State;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::registry::Registry;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::{ApiResult, ApiState, Caller, blocking};
use crate::store::Role;
use crate::telemetry;

/// The Prometheus route, to merge into the API router.
pub(super) fn routes() -> OpenApiRouter<ApiState> {
    OpenApiRouter::new().routes(routes!(metrics))
}

/// The collector's own counters and the store's sizes, in the Prometheus
/// text exposition format.
#[utoipa::path(
    get,
    path = "/metrics",
    tag = "monitoring",
    operation_id = "prometheus_metrics",
    security(("bearer" = ["viewer"])),
    responses(
        (status = 200, description = "The Prometheus text exposition format, version 0.0.4.", content_type = "text/plain; version=0.0.4", body = String),
    ),
)]
async fn metrics(State(state): State<ApiState>, caller: Caller) -> ApiResult<Response> {
    caller.require(Role::Viewer)?;
    let stats = blocking(&state, |s| s.stats()).await?;
    // The store's sizes are read once per scrape, so they go in a registry
    // of constant gauges built for it. The registry appends the full stop
    // to each help text.
    let mut store = Registry::default();
    for (name, help, value) in [
        ("atalaya_store_assets", "Assets in the store", stats.assets),
        ("atalaya_store_agents", "Agents enrolled", stats.agents),
        ("atalaya_store_series", "Metric series", stats.series),
        (
            "atalaya_store_chunks",
            "Metric blocks: closed ones and each agent's open one",
            stats.chunks,
        ),
        (
            "atalaya_store_chunk_bytes",
            "Bytes of metric blocks, closed and open",
            stats.chunk_bytes,
        ),
        (
            "atalaya_store_change_events",
            "Inventory change events kept",
            stats.change_events,
        ),
        (
            "atalaya_store_file_bytes",
            "Size of the store file",
            stats.file_bytes,
        ),
    ] {
        store.register(name, help, ConstGauge::new(value));
    }
    let text = state.telemetry.render_with(&store);
    Ok((
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static(telemetry::CONTENT_TYPE),
        )],
        text,
    )
        .into_response())
}
