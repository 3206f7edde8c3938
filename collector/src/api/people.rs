//! The people directory: `POST /api/v1/people/import` (admin; the CSV
//! file as the body, all or nothing), `GET /api/v1/people` and
//! `GET /api/v1/people/{id}` (viewer and up).

use atalaya_common::model::Timestamp;
use axum::body::Bytes;
use axum::extract::rejection::QueryRejection;
use axum::extract::{DefaultBodyLimit, Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};

use super::{ApiError, ApiResult, ApiState, Caller, blocking, parse_limit, parse_offset};
use crate::desk::people::{self, ImportError};
use crate::people::PersonCard;
use crate::people::import::Problem;
use crate::store::people::ImportCounts;
use crate::store::{Page, Role};

/// Largest CSV file taken: about a hundred thousand people.
pub const MAX_IMPORT_BYTES: usize = 32 << 20;

/// Problems an import's error answer lists, at most.
const MAX_PROBLEMS: usize = 1000;

/// The people routes, to merge into the API router.
pub(super) fn routes() -> Router<ApiState> {
    Router::new()
        .route(
            "/api/v1/people/import",
            post(import).layer(DefaultBodyLimit::max(MAX_IMPORT_BYTES)),
        )
        .route("/api/v1/people", get(list))
        .route("/api/v1/people/{id}", get(show))
}

/// Query of `POST /api/v1/people/import`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct ImportQuery {
    /// `true`: people the file does not name are removed.
    prune: Option<bool>,
}

/// The answer to an import.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Imported {
    /// What changed.
    #[serde(flatten)]
    pub counts: ImportCounts,
    /// People in the directory now.
    pub people: u64,
}

/// The answer to an import with bad rows: the error in words and each
/// problem with its line.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ImportRefused {
    /// Every problem in a sentence (the first few).
    pub error: String,
    /// Every problem (at most a thousand), by line.
    pub problems: Vec<Problem>,
}

async fn import(
    State(state): State<ApiState>,
    caller: Caller,
    q: Result<Query<ImportQuery>, QueryRejection>,
    body: Bytes,
) -> ApiResult<Response> {
    caller.require(Role::Admin)?;
    let Query(q) = q?;
    let prune = q.prune.unwrap_or(false);
    let phones = state.calls.phones().clone();
    let store = state.store.clone();
    let now = Timestamp::now();
    let result = tokio::task::spawn_blocking(move || {
        let counts = people::import(&store, &body, &phones, prune, now)?;
        let total = store.people_count()?;
        Ok::<_, ImportError>((counts, total))
    })
    .await
    .map_err(|e| ApiError::Internal(format!("store task: {e}")))?;
    match result {
        Ok((counts, total)) => {
            tracing::info!(
                by = %caller.0.id,
                added = counts.added,
                replaced = counts.replaced,
                removed = counts.removed,
                "people directory imported"
            );
            Ok(Json(Imported {
                counts,
                people: total,
            })
            .into_response())
        }
        Err(ImportError::Store(e)) => Err(ApiError::Store(e)),
        Err(e @ ImportError::Rows(_)) => {
            let error = e.to_string();
            let ImportError::Rows(mut problems) = e else {
                return Err(ApiError::Internal(error));
            };
            problems.truncate(MAX_PROBLEMS);
            Ok((
                StatusCode::BAD_REQUEST,
                Json(ImportRefused { error, problems }),
            )
                .into_response())
        }
    }
}

/// Query of `GET /api/v1/people`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct ListQuery {
    limit: Option<String>,
    offset: Option<String>,
}

async fn list(
    State(state): State<ApiState>,
    caller: Caller,
    q: Result<Query<ListQuery>, QueryRejection>,
) -> ApiResult<Response> {
    caller.require(Role::Viewer)?;
    let Query(q) = q?;
    let limit = parse_limit(q.limit.as_deref())?;
    let offset = parse_offset(q.offset.as_deref())?;
    let all = blocking(&state, |s| s.people()).await?;
    let total = all.len();
    let items: Vec<PersonCard> = all
        .iter()
        .skip(offset)
        .take(limit)
        .map(PersonCard::new)
        .collect();
    let next = offset + items.len();
    Ok(Json(Page {
        items,
        total,
        offset,
        next_offset: (next < total).then_some(next),
    })
    .into_response())
}

async fn show(
    State(state): State<ApiState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    caller.require(Role::Viewer)?;
    let n: u64 = id
        .trim()
        .parse()
        .map_err(|_| ApiError::bad("id", format!("`{id}` is not a person number")))?;
    match blocking(&state, move |s| s.person(n)).await? {
        Some(r) => Ok(Json(PersonCard::new(&r)).into_response()),
        None => Err(ApiError::NotFound(format!(
            "no person {n} in the directory"
        ))),
    }
}
