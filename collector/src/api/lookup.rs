//! `GET /api/v1/lookup?q=NAME`: a caller's machines by user or host name,
//! or through the people directory by name, login, phone number or
//! extension, with their health now and open incidents (viewer role and
//! up); the people found come with their directory cards.

use atalaya_common::model::Timestamp;
use axum::Json;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use utoipa::IntoParams;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::agents::agent_status;
use super::{ApiError, ApiResult, ApiState, Caller, ErrorBody, blocking, parse_limit};
use crate::desk;
use crate::lookup::Lookup;
use crate::store::Role;

/// The lookup route, to merge into the API router.
pub(super) fn routes() -> OpenApiRouter<ApiState> {
    OpenApiRouter::new().routes(routes!(lookup))
}

/// Machines returned when the query gives no `limit`: each costs a few
/// metric reads, and a caller rarely has more.
pub const DEFAULT_LOOKUP_LIMIT: usize = 20;

/// Longest query taken, in characters (host names stop at 253).
const MAX_QUERY_CHARS: usize = 256;

/// Query of `GET /api/v1/lookup`.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
struct LookupQuery {
    /// A user or host name, a person's name or login, a phone number or an
    /// extension, e.g. `maria`, `lat-maria` or `+34600000000` (required, at
    /// most 256 characters).
    #[param(required = true, max_length = 256)]
    q: Option<String>,
    /// Most machines, 1 to 1000 (default 20).
    #[param(value_type = Option<u32>, minimum = 1, maximum = 1000)]
    limit: Option<String>,
}

/// A caller's machines, by user or host name or through the people
/// directory, with their health now and open incidents; the people found
/// come with their directory cards.
#[utoipa::path(
    get,
    path = "/api/v1/lookup",
    tag = "lookup",
    params(LookupQuery),
    security(("bearer" = ["viewer"])),
    responses(
        (status = 200, description = "The machines and people found.", body = Lookup),
        (status = 400, description = "`q` is missing or too long, `limit` is malformed, or an unknown parameter was given.", body = ErrorBody),
    ),
)]
async fn lookup(
    State(state): State<ApiState>,
    caller: Caller,
    q: Result<Query<LookupQuery>, QueryRejection>,
) -> ApiResult<Response> {
    caller.require(Role::Viewer)?;
    let Query(q) = q?;
    let text =
        q.q.map(|s| s.trim().to_owned())
            .filter(|s| !s.is_empty())
            .ok_or_else(|| {
                ApiError::bad(
                    "q",
                    "give a user or host name or a phone number to look up, e.g. q=maria, q=lat-maria or q=+34600000000",
                )
            })?;
    if text.chars().count() > MAX_QUERY_CHARS {
        return Err(ApiError::bad(
            "q",
            format!("longer than {MAX_QUERY_CHARS} characters"),
        ));
    }
    let limit = match q.limit {
        None => DEFAULT_LOOKUP_LIMIT,
        Some(v) => parse_limit(Some(&v))?,
    };
    let admin = state.admin.clone();
    let silent_after = admin.silent_after();
    let now = Timestamp::now();
    let phones = state.calls.phones().clone();
    let found = blocking(&state, move |s| {
        desk::lookup::lookup_with(s, &text, &phones, limit, now, &|a| {
            agent_status(a, admin.is_connected(&a.id), silent_after, now)
        })
    })
    .await?;
    Ok(Json(found).into_response())
}
