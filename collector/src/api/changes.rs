//! Inventory change history: one asset's (`/api/v1/assets/{id}/changes`)
//! and the whole fleet's (`/api/v1/changes`). Viewer role and up.

use atalaya_common::model::Timestamp;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde::Deserialize;

use super::{ApiResult, ApiState, Caller, blocking, opt_time, parse_limit, resolve_asset};
use crate::store::Role;

/// The change-history routes, to merge into the API router.
pub(super) fn routes() -> Router<ApiState> {
    Router::new()
        .route("/api/v1/assets/{id}/changes", get(asset_changes))
        .route("/api/v1/changes", get(fleet_changes))
}

#[derive(Debug, Default, Deserialize)]
struct ChangesQuery {
    since: Option<String>,
    limit: Option<String>,
}

async fn changes(state: &ApiState, asset: Option<String>, q: ChangesQuery) -> ApiResult<Response> {
    let now = Timestamp::now();
    let since = opt_time("since", q.since.as_ref(), now)?.unwrap_or(Timestamp(0));
    let limit = parse_limit(q.limit.as_deref())?;
    let events = blocking(state, move |s| s.changes(asset.as_deref(), since, limit)).await?;
    Ok(Json(events).into_response())
}

async fn asset_changes(
    State(state): State<ApiState>,
    caller: Caller,
    Path(id): Path<String>,
    q: Result<Query<ChangesQuery>, QueryRejection>,
) -> ApiResult<Response> {
    caller.require(Role::Viewer)?;
    let Query(q) = q?;
    let asset = resolve_asset(&state, id).await?;
    changes(&state, Some(asset.meta.id), q).await
}

async fn fleet_changes(
    State(state): State<ApiState>,
    caller: Caller,
    q: Result<Query<ChangesQuery>, QueryRejection>,
) -> ApiResult<Response> {
    caller.require(Role::Viewer)?;
    let Query(q) = q?;
    changes(&state, None, q).await
}
