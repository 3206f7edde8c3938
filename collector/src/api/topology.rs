//! `GET /api/v1/topology`: the network map (viewer role), nodes and links
//! as [`crate::topology::Topology`].

use axum::Json;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::{ApiResult, ApiState, Caller, blocking};
use crate::store::Role;
use crate::topology::Topology;

/// The topology route, to merge into the API router.
pub(super) fn routes() -> OpenApiRouter<ApiState> {
    OpenApiRouter::new().routes(routes!(show))
}

/// The network map: devices, hosts and unknown neighbours, and the links
/// LLDP and CDP reported between them.
#[utoipa::path(
    get,
    path = "/api/v1/topology",
    tag = "topology",
    operation_id = "topology",
    security(("bearer" = ["viewer"])),
    responses(
        (status = 200, description = "The nodes and links.", body = Topology),
    ),
)]
async fn show(State(state): State<ApiState>, caller: Caller) -> ApiResult<Response> {
    caller.require(Role::Viewer)?;
    let map = blocking(&state, crate::desk::topology::read).await?;
    Ok(Json(map).into_response())
}
