//! Inventory change history: one asset's (`/api/v1/assets/{id}/changes`)
//! and the whole fleet's (`/api/v1/changes`). Viewer role and up.

use atalaya_common::model::Timestamp;
use axum::Json;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use utoipa::IntoParams;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::{
    ApiResult, ApiState, Caller, ErrorBody, blocking, opt_time, parse_limit, resolve_asset,
};
use crate::store::{ChangeEvent, Role};

/// The change-history routes, to merge into the API router.
pub(super) fn routes() -> OpenApiRouter<ApiState> {
    OpenApiRouter::new()
        .routes(routes!(asset_changes))
        .routes(routes!(fleet_changes))
}

/// Query of the change-history routes.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct ChangesQuery {
    /// Only changes at or after this time (RFC 3339, or a duration ago
    /// such as `7d`); default: all.
    since: Option<String>,
    /// Most events, 1 to 1000 (default 100).
    #[param(value_type = Option<u32>, minimum = 1, maximum = 1000)]
    limit: Option<String>,
}

async fn changes(state: &ApiState, asset: Option<String>, q: ChangesQuery) -> ApiResult<Response> {
    let now = Timestamp::now();
    let since = opt_time("since", q.since.as_ref(), now)?.unwrap_or(Timestamp(0));
    let limit = parse_limit(q.limit.as_deref())?;
    let events = blocking(state, move |s| s.changes(asset.as_deref(), since, limit)).await?;
    Ok(Json(events).into_response())
}

/// One asset's inventory change events.
#[utoipa::path(
    get,
    path = "/api/v1/assets/{id}/changes",
    tag = "changes",
    params(("id" = String, Path, description = "Asset id (e.g. `asset-17`) or host name."), ChangesQuery),
    security(("bearer" = ["viewer"])),
    responses(
        (status = 200, description = "The asset's change events.", body = Vec<ChangeEvent>),
        (status = 400, description = "`since` or `limit` is malformed.", body = ErrorBody),
        (status = 404, description = "No asset has that id or host name.", body = ErrorBody),
    ),
)]
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

/// The whole fleet's inventory change events.
#[utoipa::path(
    get,
    path = "/api/v1/changes",
    tag = "changes",
    params(ChangesQuery),
    security(("bearer" = ["viewer"])),
    responses(
        (status = 200, description = "Change events of every asset.", body = Vec<ChangeEvent>),
        (status = 400, description = "`since` or `limit` is malformed.", body = ErrorBody),
    ),
)]
async fn fleet_changes(
    State(state): State<ApiState>,
    caller: Caller,
    q: Result<Query<ChangesQuery>, QueryRejection>,
) -> ApiResult<Response> {
    caller.require(Role::Viewer)?;
    let Query(q) = q?;
    changes(&state, None, q).await
}
