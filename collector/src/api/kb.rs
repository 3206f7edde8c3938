//! Knowledge-base routes: search, one article, a new article.
//!
//! Reading needs the viewer role; writing needs helpdesk (admins may too).

use atalaya_common::model::Timestamp;
use axum::Json;
use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use utoipa::IntoParams;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::{ApiError, ApiResult, ApiState, Caller, ErrorBody, parse_limit};
use crate::desk::kb::{self, KbError};
use crate::kb::NewArticle;
use crate::records::kb::Article;
use crate::store::Role;

/// The knowledge-base routes, to merge into the API router.
pub fn routes() -> OpenApiRouter<ApiState> {
    OpenApiRouter::new()
        .routes(routes!(search, create))
        .routes(routes!(show))
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
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct SearchQuery {
    /// Words to search titles, symptoms and solutions for (default: every
    /// article).
    q: Option<String>,
    /// Most articles, 1 to 1000 (default 100).
    #[param(value_type = Option<u32>, minimum = 1, maximum = 1000)]
    limit: Option<String>,
}

/// Searches the knowledge base, best matches first.
#[utoipa::path(
    get,
    path = "/api/v1/kb",
    tag = "kb",
    operation_id = "search_kb",
    params(SearchQuery),
    security(("bearer" = ["viewer"])),
    responses(
        (status = 200, description = "The matching articles, best first.", body = Vec<Article>),
        (status = 400, description = "`limit` is malformed.", body = ErrorBody),
    ),
)]
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

/// One knowledge-base article.
#[utoipa::path(
    get,
    path = "/api/v1/kb/{id}",
    tag = "kb",
    operation_id = "show_article",
    params(("id" = u64, Path, description = "The article's number.")),
    security(("bearer" = ["viewer"])),
    responses(
        (status = 200, description = "The article.", body = Article),
        (status = 400, description = "`id` is not a number.", body = ErrorBody),
        (status = 404, description = "No article has that number.", body = ErrorBody),
    ),
)]
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

/// Adds a knowledge-base article.
#[utoipa::path(
    post,
    path = "/api/v1/kb",
    tag = "kb",
    operation_id = "add_article",
    request_body = NewArticle,
    security(("bearer" = ["helpdesk"])),
    responses(
        (status = 201, description = "The article, with its number.", body = Article),
        (status = 400, description = "The body does not parse, or a field is not valid (named).", body = ErrorBody),
    ),
)]
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
