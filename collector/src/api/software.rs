//! `GET /api/v1/software?name=PATTERN`: the installed base of a package
//! across the fleet. Viewer role and up.

use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde::Deserialize;

use super::{ApiError, ApiResult, ApiState, Caller, blocking, nonempty};
use crate::store::Role;

/// The installed-base route, to merge into the API router.
pub(super) fn routes() -> Router<ApiState> {
    Router::new().route("/api/v1/software", get(software))
}

#[derive(Debug, Default, Deserialize)]
struct SoftwareQuery {
    name: Option<String>,
}

async fn software(
    State(state): State<ApiState>,
    caller: Caller,
    q: Result<Query<SoftwareQuery>, QueryRejection>,
) -> ApiResult<Response> {
    caller.require(Role::Viewer)?;
    let Query(q) = q?;
    let name = nonempty(q.name).ok_or_else(|| {
        ApiError::bad("name", "give a package name or pattern, e.g. name=openssl*")
    })?;
    let report = blocking(&state, move |s| s.software(&name)).await?;
    Ok(Json(report).into_response())
}
