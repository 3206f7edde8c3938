//! `/api/v1/probes`: the latest network probe result per target of each
//! agent (viewer role), with the method each used.

use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde::Deserialize;

use super::{ApiResult, ApiState, Caller, blocking, nonempty, resolve_asset};
use crate::store::Role;

/// The probe routes, to merge into the API router.
pub(super) fn routes() -> Router<ApiState> {
    Router::new().route("/api/v1/probes", get(list))
}

#[derive(Debug, Deserialize)]
struct ProbesQuery {
    /// Asset id or host name; all assets when absent.
    asset: Option<String>,
}

/// `GET /api/v1/probes?asset=HOST`: [`crate::store::probes::ProbeRow`]s by
/// asset, kind and target.
async fn list(
    State(state): State<ApiState>,
    caller: Caller,
    q: Result<Query<ProbesQuery>, QueryRejection>,
) -> ApiResult<Response> {
    caller.require(Role::Viewer)?;
    let Query(q) = q?;
    let asset = match nonempty(q.asset) {
        Some(key) => Some(resolve_asset(&state, key).await?.meta.id),
        None => None,
    };
    let rows = blocking(&state, move |s| s.probes(asset.as_deref())).await?;
    Ok(Json(rows).into_response())
}
