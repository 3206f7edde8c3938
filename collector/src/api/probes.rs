//! `/api/v1/probes`: the latest network probe result per target of each
//! agent (viewer role), with the method each used.

use axum::Json;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use utoipa::IntoParams;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::{ApiResult, ApiState, Caller, ErrorBody, blocking, nonempty, resolve_asset};
use crate::store::Role;
use crate::store::probes::ProbeRow;

/// The probe routes, to merge into the API router.
pub(super) fn routes() -> OpenApiRouter<ApiState> {
    OpenApiRouter::new().routes(routes!(list))
}

/// Query of `GET /api/v1/probes`.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct ProbesQuery {
    /// Asset id or host name; all assets when absent.
    asset: Option<String>,
}

/// The latest network probe result per target of each agent, with the
/// method each used, by asset, kind and target.
#[utoipa::path(
    get,
    path = "/api/v1/probes",
    tag = "probes",
    operation_id = "list_probes",
    params(ProbesQuery),
    security(("bearer" = ["viewer"])),
    responses(
        (status = 200, description = "The latest results, by asset, kind and target.", body = Vec<ProbeRow>),
        (status = 404, description = "`asset` names no asset.", body = ErrorBody),
    ),
)]
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
