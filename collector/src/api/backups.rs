//! Backups of the running collector's store, admin role only.
//!
//! `POST /api/v1/backups` writes a consistent copy of the store (see
//! [`crate::store::backup`]) into the `backups/` directory of the data
//! directory and says what it holds; `GET /api/v1/backups/{id}` streams
//! that file, `DELETE` removes it. The file is made where the collector may
//! always write and handed over the wire, so the one asking needs neither
//! write access to the data directory nor the collector write access to
//! where the backup goes (`atalaya-collector backup FILE` does all three).
//! Files left by a client that did not come back are removed when the
//! collector starts.

use std::collections::BTreeMap;
use std::path::{Path as FsPath, PathBuf};

use atalaya_common::model::Timestamp;
use axum::Json;
use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use tokio::io::AsyncReadExt;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::{ApiError, ApiResult, ApiState, Caller, ErrorBody};
use crate::store::Role;
use crate::store::backup::BackupSummary;

/// The directory of the data directory backups are written to before
/// they are fetched.
pub const STAGING_DIR: &str = "backups";

/// Bytes read from the file for each piece of the answer.
const PIECE_BYTES: usize = 256 << 10;

/// The backup routes, to merge into the API router.
pub(super) fn routes() -> OpenApiRouter<ApiState> {
    OpenApiRouter::new()
        .routes(routes!(create))
        .routes(routes!(fetch, remove))
}

/// How many records one table holds in a backup.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct TableCountView {
    /// The table's name in the store file.
    pub table: String,
    /// Its records.
    pub records: u64,
}

/// A backup written by the collector, ready to fetch.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct BackupView {
    /// Its id, for `GET` and `DELETE /api/v1/backups/{id}`.
    pub id: String,
    /// Where the collector wrote it.
    pub path: String,
    /// Its size in bytes.
    pub bytes: u64,
    /// The store format version of the file.
    pub format_version: u64,
    /// Just before the copy's read transaction began: every commit
    /// finished by then is in the backup.
    pub taken_at: Timestamp,
    /// Per agent, the highest sequence number committed in the backup:
    /// every record the collector acknowledged up to it is in the backup.
    pub agent_seqs: BTreeMap<String, u64>,
    /// Every table with its records.
    pub tables: Vec<TableCountView>,
    /// All records of all tables.
    pub records: u64,
    /// How long the copy took, ms.
    pub elapsed_ms: u64,
}

impl BackupView {
    /// The view of backup `id` from what it wrote.
    pub fn new(id: String, s: BackupSummary) -> Self {
        BackupView {
            id,
            path: s.path.display().to_string(),
            bytes: s.bytes,
            format_version: s.format_version,
            taken_at: s.taken_at,
            records: s.records(),
            agent_seqs: s.agent_seqs,
            tables: s
                .tables
                .into_iter()
                .map(|t| TableCountView {
                    table: t.table,
                    records: t.records,
                })
                .collect(),
            elapsed_ms: s.elapsed_ms,
        }
    }
}

/// The staging directory beside the store.
fn staging(state: &ApiState) -> PathBuf {
    let store = state.store.path();
    store.parent().unwrap_or(FsPath::new(".")).join(STAGING_DIR)
}

/// The file of backup `id`, after checking the id is one this module makes.
fn file_of(state: &ApiState, id: &str) -> ApiResult<PathBuf> {
    let ok = id.strip_prefix("backup-").is_some_and(|rest| {
        !rest.is_empty() && rest.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
    });
    if !ok {
        return Err(ApiError::bad(
            "id",
            format!("`{id}` is not a backup id (backup-…, from POST /api/v1/backups)"),
        ));
    }
    Ok(staging(state).join(format!("{id}.redb")))
}

/// Removes what backups left in the staging directory of `data_dir`
/// (called as the collector starts, when no backup runs).
pub fn clear_staging(data_dir: &FsPath) {
    let dir = data_dir.join(STAGING_DIR);
    let Ok(entries) = std::fs::read_dir(&dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_file() {
            match std::fs::remove_file(&path) {
                Ok(()) => {
                    tracing::info!(file = %path.display(), "removed a backup that was not fetched");
                }
                Err(e) => {
                    tracing::warn!(file = %path.display(), error = %e, "could not remove a backup that was not fetched");
                }
            }
        }
    }
}

/// Writes a consistent copy of the store, taken from one read
/// transaction while ingest goes on, and says what it holds; fetch it
/// with `GET /api/v1/backups/{id}`, then `DELETE` it.
#[utoipa::path(
    post,
    path = "/api/v1/backups",
    tag = "backups",
    operation_id = "create_backup",
    security(("bearer" = ["admin"])),
    responses(
        (status = 201, description = "The backup is written and ready to fetch.", body = BackupView),
        (status = 500, description = "The backup could not be written (the reason says why, e.g. no space left); nothing is left behind.", body = ErrorBody),
    ),
)]
async fn create(State(state): State<ApiState>, caller: Caller) -> ApiResult<Response> {
    caller.require(Role::Admin)?;
    let dir = staging(&state);
    let now = Timestamp::now();
    let stamp: String = now
        .to_rfc3339()
        .unwrap_or_default()
        .chars()
        .filter(char::is_ascii_alphanumeric)
        .take(15)
        .collect();
    let id = format!("backup-{stamp}Z-{:08x}", rand::random::<u32>());
    let dest = dir.join(format!("{id}.redb"));
    let store = state.store.clone();
    let summary = tokio::task::spawn_blocking(move || {
        atalaya_files::create_private_dir(&dir).map_err(crate::store::backup::BackupError::from)?;
        store.backup(&dest)
    })
    .await
    .map_err(|e| ApiError::Internal(format!("backup task: {e}")))??;
    tracing::info!(backup = %id, by = %caller.0.id, bytes = summary.bytes, "backup written for fetching");
    Ok((StatusCode::CREATED, Json(BackupView::new(id, summary))).into_response())
}

/// The backup's file, as written: a store file a collector can run on.
#[utoipa::path(
    get,
    path = "/api/v1/backups/{id}",
    tag = "backups",
    operation_id = "fetch_backup",
    params(("id" = String, Path, description = "The backup's id, from `POST /api/v1/backups`.")),
    security(("bearer" = ["admin"])),
    responses(
        (status = 200, description = "The file.", content_type = "application/octet-stream", body = Vec<u8>),
        (status = 400, description = "Not a backup id.", body = ErrorBody),
        (status = 404, description = "No such backup (fetched and removed, or the collector restarted).", body = ErrorBody),
    ),
)]
async fn fetch(
    State(state): State<ApiState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    caller.require(Role::Admin)?;
    let path = file_of(&state, &id)?;
    let file = match tokio::fs::File::open(&path).await {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(ApiError::NotFound(format!("no backup `{id}`")));
        }
        Err(e) => {
            return Err(ApiError::Internal(format!(
                "opening {}: {e}",
                path.display()
            )));
        }
    };
    let len = file
        .metadata()
        .await
        .map_err(|e| ApiError::Internal(format!("reading {}: {e}", path.display())))?
        .len();
    // Piece by piece: a store may be larger than the memory at hand.
    let pieces = futures_util::stream::try_unfold(file, |mut file| async move {
        let mut buf = vec![0; PIECE_BYTES];
        let n = file.read(&mut buf).await?;
        if n == 0 {
            return Ok::<_, std::io::Error>(None);
        }
        buf.truncate(n);
        Ok(Some((buf, file)))
    });
    Ok((
        [
            (header::CONTENT_TYPE, "application/octet-stream".to_owned()),
            (header::CONTENT_LENGTH, len.to_string()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"{id}.redb\""),
            ),
        ],
        Body::from_stream(pieces),
    )
        .into_response())
}

/// Removes a backup's file from the collector once it has been fetched.
#[utoipa::path(
    delete,
    path = "/api/v1/backups/{id}",
    tag = "backups",
    operation_id = "remove_backup",
    params(("id" = String, Path, description = "The backup's id, from `POST /api/v1/backups`.")),
    security(("bearer" = ["admin"])),
    responses(
        (status = 204, description = "Removed."),
        (status = 400, description = "Not a backup id.", body = ErrorBody),
        (status = 404, description = "No such backup.", body = ErrorBody),
    ),
)]
async fn remove(
    State(state): State<ApiState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    caller.require(Role::Admin)?;
    let path = file_of(&state, &id)?;
    match tokio::fs::remove_file(&path).await {
        Ok(()) => Ok(StatusCode::NO_CONTENT.into_response()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            Err(ApiError::NotFound(format!("no backup `{id}`")))
        }
        Err(e) => Err(ApiError::Internal(format!(
            "removing {}: {e}",
            path.display()
        ))),
    }
}
