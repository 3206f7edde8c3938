//! The people directory: `POST /api/v1/people/import` (admin; the CSV
//! file as the body, all or nothing), `GET /api/v1/people` and
//! `GET /api/v1/people/{id}` (viewer and up).

use atalaya_common::model::Timestamp;
use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::QueryRejection;
use axum::extract::{DefaultBodyLimit, Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::{OpenApiRouter, UtoipaMethodRouterExt};
use utoipa_axum::routes;

use super::{
    ApiError, ApiResult, ApiState, Caller, ErrorBody, blocking, parse_limit, parse_offset,
};
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
pub(super) fn routes() -> OpenApiRouter<ApiState> {
    OpenApiRouter::new()
        .routes(routes!(import).layer(DefaultBodyLimit::max(MAX_IMPORT_BYTES)))
        .routes(routes!(list))
        .routes(routes!(show))
}

/// Query of `POST /api/v1/people/import`.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
struct ImportQuery {
    /// `true`: people the file does not name are removed.
    prune: Option<bool>,
}

/// The answer to an import.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[schema(as = PeopleImported)]
pub struct Imported {
    /// What changed.
    #[serde(flatten)]
    pub counts: ImportCounts,
    /// People in the directory now.
    pub people: u64,
}

/// The answer to an import with bad rows: the error in words and each
/// problem with its line.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[schema(as = PeopleImportRefused)]
pub struct ImportRefused {
    /// Every problem in a sentence (the first few).
    pub error: String,
    /// Every problem (at most a thousand), by line.
    pub problems: Vec<Problem>,
}

/// Imports the people directory from a CSV file (a header row, then one
/// person a line): all of it, or nothing when a row is bad.
#[utoipa::path(
    post,
    path = "/api/v1/people/import",
    tag = "people",
    operation_id = "import_people",
    params(ImportQuery),
    request_body(content = String, content_type = "text/csv", description = "The directory as CSV, at most 32 MiB."),
    security(("bearer" = ["admin"])),
    responses(
        (status = 200, description = "What changed, and how many people the directory holds now.", body = Imported),
        (status = 400, description = "Bad rows, each with its line; nothing was imported. (A bad query gives the usual error body.)", body = ImportRefused),
        (status = 413, description = "The file is larger than 32 MiB."),
    ),
)]
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
#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
struct ListQuery {
    /// Page size, 1 to 1000 (default 100).
    #[param(value_type = Option<u32>, minimum = 1, maximum = 1000)]
    limit: Option<String>,
    /// People to skip (paging; default 0).
    #[param(value_type = Option<u32>)]
    offset: Option<String>,
}

/// The people directory, one page of directory cards.
#[utoipa::path(
    get,
    path = "/api/v1/people",
    tag = "people",
    operation_id = "list_people",
    params(ListQuery),
    security(("bearer" = ["viewer"])),
    responses(
        (status = 200, description = "One page of people.", body = Page<PersonCard>),
        (status = 400, description = "`limit` or `offset` is malformed, or an unknown parameter was given.", body = ErrorBody),
    ),
)]
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

/// One person's directory card.
#[utoipa::path(
    get,
    path = "/api/v1/people/{id}",
    tag = "people",
    operation_id = "show_person",
    params(("id" = u64, Path, description = "The person's directory number.")),
    security(("bearer" = ["viewer"])),
    responses(
        (status = 200, description = "The person's card.", body = PersonCard),
        (status = 400, description = "`id` is not a number.", body = ErrorBody),
        (status = 404, description = "No person has that number.", body = ErrorBody),
    ),
)]
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
