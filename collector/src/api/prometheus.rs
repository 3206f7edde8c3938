//! `GET /metrics`: the collector's own counters and the store's sizes in
//! the Prometheus text format. Viewer role and up, like every route.

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;

use super::{ApiResult, ApiState, Caller, blocking};
use crate::store::Role;

/// The Prometheus route, to merge into the API router.
pub(super) fn routes() -> Router<ApiState> {
    Router::new().route("/metrics", get(metrics))
}

async fn metrics(State(state): State<ApiState>, caller: Caller) -> ApiResult<Response> {
    caller.require(Role::Viewer)?;
    let stats = blocking(&state, |s| s.stats()).await?;
    let extra: [(&str, &str, f64); 7] = [
        (
            "atalaya_store_assets",
            "Assets in the store.",
            stats.assets as f64,
        ),
        (
            "atalaya_store_agents",
            "Agents enrolled.",
            stats.agents as f64,
        ),
        (
            "atalaya_store_series",
            "Metric series.",
            stats.series as f64,
        ),
        (
            "atalaya_store_chunks",
            "Metric blocks: closed ones and each agent's open one.",
            stats.chunks as f64,
        ),
        (
            "atalaya_store_chunk_bytes",
            "Bytes of metric blocks, closed and open.",
            stats.chunk_bytes as f64,
        ),
        (
            "atalaya_store_change_events",
            "Inventory change events kept.",
            stats.change_events as f64,
        ),
        (
            "atalaya_store_file_bytes",
            "Size of the store file.",
            stats.file_bytes as f64,
        ),
    ];
    let text = state.telemetry.render(&extra);
    Ok((
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
        )],
        text,
    )
        .into_response())
}
