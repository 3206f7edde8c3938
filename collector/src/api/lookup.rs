//! `GET /api/v1/lookup?q=NAME`: a caller's machines by user or host name,
//! or through the people directory by name, login, phone number or
//! extension, with their health now and open incidents (viewer role and
//! up); the people found come with their directory cards.

use atalaya_common::model::Timestamp;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde::Deserialize;

use super::agents::agent_status;
use super::{ApiError, ApiResult, ApiState, Caller, blocking, parse_limit};
use crate::desk;
use crate::store::Role;

/// The lookup route, to merge into the API router.
pub(super) fn routes() -> Router<ApiState> {
    Router::new().route("/api/v1/lookup", get(lookup))
}

/// Machines returned when the query gives no `limit`: each costs a few
/// metric reads, and a caller rarely has more.
pub const DEFAULT_LOOKUP_LIMIT: usize = 20;

/// Longest query taken, in characters (host names stop at 253).
const MAX_QUERY_CHARS: usize = 256;

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct LookupQuery {
    q: Option<String>,
    limit: Option<String>,
}

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
