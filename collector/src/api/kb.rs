//! Knowledge-base routes: search, one article, a new article.
//!
//! Reading needs the viewer role; writing needs helpdesk (admins may too).

use atalaya_common::model::Timestamp;
use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde::Deserialize;

use super::{ApiError, ApiResult, ApiState, Caller, parse_limit};
use crate::desk::kb::{self, KbError};
use crate::kb::NewArticle;
use crate::store::Role;

/// The knowledge-base routes, to merge into the API router.
pub fn routes() -> Router<ApiState> {
    Router::new()
        .route("/api/v1/kb", get(search).post(create))
        .route("/api/v1/kb/{id}", get(show))
}

impl From<KbError> for ApiError {
    fn from(e: KbError) -> Self {
        match e {
            KbError::NotFound(id) => ApiError::NotFound(format!("no knowledge-base article {id}")),
            KbError::Invalid(e) => ApiError::BadParam {
                param: e.field,
                reason: e.reason,
            },
            KbError::Store(e) => ApiError::Store(e),
        }
    }
}

async fn kb_blocking<T, F>(state: &ApiState, f: F) -> ApiResult<T>
where
    T: Send + 'static,
    F: FnOnce(&crate::store::Store) -> Result<T, KbError> + Send + 'static,
{
    let store = state.store.clone();
    tokio::task::spawn_blocking(move || f(&store))
        .await
        .map_err(|e| ApiError::Internal(format!("store task: {e}")))?
        .map_err(ApiError::from)
}

/// Query of `GET /api/v1/kb`.
#[derive(Debug, Default, Deserialize)]
struct SearchQuery {
    q: Option<String>,
    limit: Option<String>,
}

async fn search(
    State(state): State<ApiState>,
    caller: Caller,
    q: Result<Query<SearchQuery>, QueryRejection>,
) -> ApiResult<Response> {
    caller.require(Role::Viewer)?;
    let Query(q) = q?;
    let limit = parse_limit(q.limit.as_deref())?;
    let text = q.q.unwrap_or_default();
    let found = kb_blocking(&state, move |s| kb::search(s, &text, limit)).await?;
    Ok(Json(found).into_response())
}

async fn show(
    State(state): State<ApiState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    caller.require(Role::Viewer)?;
    let id: u64 = id.trim().parse().map_err(|_| ApiError::BadParam {
        param: "id",
        reason: format!("`{id}` is not an article number"),
    })?;
    match kb_blocking(&state, move |s| Ok(s.article(id)?)).await? {
        Some(a) => Ok(Json(a).into_response()),
        None => Err(KbError::NotFound(id).into()),
    }
}

async fn create(
    State(state): State<ApiState>,
    caller: Caller,
    body: Result<Json<NewArticle>, JsonRejection>,
) -> ApiResult<Response> {
    caller.require(Role::Helpdesk)?;
    let Json(new) = body?;
    let a = kb_blocking(&state, move |s| kb::add(s, new, Timestamp::now())).await?;
    tracing::info!(article = a.id, by = %caller.0.id, "knowledge-base article added");
    Ok((StatusCode::CREATED, Json(a)).into_response())
}
