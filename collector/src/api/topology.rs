//! `GET /api/v1/topology`: the network map (viewer role), nodes and links
//! as [`crate::topology::Topology`].

use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};

use super::{ApiResult, ApiState, Caller, blocking};
use crate::store::Role;

/// The topology route, to merge into the API router.
pub(super) fn routes() -> Router<ApiState> {
    Router::new().route("/api/v1/topology", get(show))
}

async fn show(State(state): State<ApiState>, caller: Caller) -> ApiResult<Response> {
    caller.require(Role::Viewer)?;
    let map = blocking(&state, crate::desk::topology::read).await?;
    Ok(Json(map).into_response())
}
