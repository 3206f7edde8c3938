//! `GET /api/v1/software?name=PATTERN`: the installed base of a package
//! across the fleet. Viewer role and up.

use axum::Json;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use utoipa::IntoParams;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::{ApiError, ApiResult, ApiState, Caller, ErrorBody, blocking, nonempty};
use crate::store::{Role, SoftwareReport};

/// The installed-base route, to merge into the API router.
pub(super) fn routes() -> OpenApiRouter<ApiState> {
    OpenApiRouter::new().routes(routes!(software))
}

/// Query of `GET /api/v1/software`.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct SoftwareQuery {
    /// Package name or `*` glob, e.g. `openssl*` (required).
    #[param(required = true)]
    name: Option<String>,
}

/// The installed base of the packages matching a name: per version, the
/// assets that have it.
#[utoipa::path(
    get,
    path = "/api/v1/software",
    tag = "software",
    params(SoftwareQuery),
    security(("bearer" = ["viewer"])),
    responses(
        (status = 200, description = "Each matching package with its versions and assets.", body = SoftwareReport),
        (status = 400, description = "`name` is missing.", body = ErrorBody),
    ),
)]
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
