//! Credentials, admin role only: enrollment tokens that agents enroll with
//! (`/api/v1/tokens`) and API tokens that people and scripts call the API
//! with (`/api/v1/api-tokens`). A secret is shown once, when it is made;
//! the store keeps only its SHA-256.

use std::fmt;

use atalaya_common::model::Timestamp;
use atalaya_common::token::{hex, secret_sha256};
use axum::Json;
use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::{ApiError, ApiResult, ApiState, Caller, ErrorBody, blocking, role_name};
use crate::store::{ApiTokenRecord, Role, TokenRecord};

/// The token routes, to merge into the API router.
pub(super) fn routes() -> OpenApiRouter<ApiState> {
    OpenApiRouter::new()
        .routes(routes!(create_token, list_tokens))
        .routes(routes!(revoke_token))
        .routes(routes!(create_api_token, list_api_tokens))
}

/// Body of `POST /api/v1/tokens`.
#[derive(Debug, Default, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateToken {
    /// Lifetime in seconds (absent: never expires).
    pub ttl_seconds: Option<u64>,
    /// Enrollments allowed (absent: unlimited).
    pub uses: Option<u32>,
}

/// Answer of `POST /api/v1/tokens`: the only time the secret is shown.
#[derive(Serialize, Deserialize, ToSchema)]
pub struct CreatedToken {
    /// Token id, for listing and revoking.
    pub id: String,
    /// The encoded enrollment token to give to agents.
    pub token: String,
    /// When it expires.
    pub expires_at: Option<Timestamp>,
    /// Enrollments allowed.
    pub max_uses: Option<u32>,
}

impl fmt::Debug for CreatedToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CreatedToken")
            .field("id", &self.id)
            .field("token", &"<redacted>")
            .field("expires_at", &self.expires_at)
            .field("max_uses", &self.max_uses)
            .finish()
    }
}

/// An enrollment token as listed (without its secret hash).
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct TokenView {
    /// Id.
    pub id: String,
    /// Created.
    pub created_at: Timestamp,
    /// Expires.
    pub expires_at: Option<Timestamp>,
    /// Enrollments allowed.
    pub max_uses: Option<u32>,
    /// Enrollments made.
    pub uses: u32,
    /// Revoked.
    pub revoked: bool,
    /// Address written into it.
    pub collector_address: String,
}

impl From<TokenRecord> for TokenView {
    fn from(t: TokenRecord) -> Self {
        TokenView {
            id: t.id,
            created_at: t.created_at,
            expires_at: t.expires_at,
            max_uses: t.max_uses,
            uses: t.uses,
            revoked: t.revoked,
            collector_address: t.collector_address,
        }
    }
}

/// Random bytes as base64url: secrets and ids.
fn random_b64(n: usize) -> String {
    let bytes: Vec<u8> = (0..n).map(|_| rand::random::<u8>()).collect();
    URL_SAFE_NO_PAD.encode(bytes)
}

fn random_id(prefix: &str) -> String {
    format!("{prefix}{}", hex(&rand::random::<[u8; 6]>()))
}

/// Creates an enrollment token for agents; its secret is shown only in
/// this answer.
#[utoipa::path(
    post,
    path = "/api/v1/tokens",
    tag = "tokens",
    request_body = CreateToken,
    security(("bearer" = ["admin"])),
    responses(
        (status = 201, description = "The token, encoded to give to agents.", body = CreatedToken),
        (status = 400, description = "The body does not parse, or `uses` or `ttl_seconds` is 0.", body = ErrorBody),
    ),
)]
async fn create_token(
    State(state): State<ApiState>,
    caller: Caller,
    body: Result<Json<CreateToken>, JsonRejection>,
) -> ApiResult<Response> {
    caller.require(Role::Admin)?;
    let Json(req) = body?;
    if req.uses == Some(0) {
        return Err(ApiError::bad("uses", "must be at least 1"));
    }
    let now = Timestamp::now();
    let expires_at = match req.ttl_seconds {
        None => None,
        Some(0) => return Err(ApiError::bad("ttl_seconds", "must be at least 1")),
        Some(s) => Some(Timestamp(now.0.saturating_add(
            i64::try_from(s).unwrap_or(i64::MAX).saturating_mul(1000),
        ))),
    };
    let (record, token) = TokenRecord::mint(
        &state.admin.collector_address(),
        state.admin.ca_sha256(),
        now,
        expires_at,
        req.uses,
    );
    let id = record.id.clone();
    blocking(&state, move |s| s.add_token(&record)).await?;
    tracing::info!(token = %id, by = %caller.0.id, "enrollment token created");
    Ok((
        StatusCode::CREATED,
        Json(CreatedToken {
            id,
            token,
            expires_at,
            max_uses: req.uses,
        }),
    )
        .into_response())
}

/// The enrollment tokens, without their secrets.
#[utoipa::path(
    get,
    path = "/api/v1/tokens",
    tag = "tokens",
    security(("bearer" = ["admin"])),
    responses(
        (status = 200, description = "Every enrollment token.", body = Vec<TokenView>),
    ),
)]
async fn list_tokens(State(state): State<ApiState>, caller: Caller) -> ApiResult<Response> {
    caller.require(Role::Admin)?;
    let tokens = blocking(&state, |s| s.list_tokens()).await?;
    let views: Vec<TokenView> = tokens.into_iter().map(TokenView::from).collect();
    Ok(Json(views).into_response())
}

/// Revokes an enrollment token: agents can no longer enroll with it.
#[utoipa::path(
    delete,
    path = "/api/v1/tokens/{id}",
    tag = "tokens",
    params(("id" = String, Path, description = "The enrollment token's id (`tok-…`).")),
    security(("bearer" = ["admin"])),
    responses(
        (status = 204, description = "Revoked."),
        (status = 404, description = "No enrollment token has that id.", body = ErrorBody),
    ),
)]
async fn revoke_token(
    State(state): State<ApiState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    caller.require(Role::Admin)?;
    let i = id.clone();
    if blocking(&state, move |s| s.revoke_token(&i)).await? {
        tracing::info!(token = %id, by = %caller.0.id, "enrollment token revoked");
        Ok(StatusCode::NO_CONTENT.into_response())
    } else {
        Err(ApiError::NotFound(format!("no enrollment token `{id}`")))
    }
}

/// Body of `POST /api/v1/api-tokens`.
#[derive(Debug, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateApiToken {
    /// Who or what it is for.
    pub name: String,
    /// What it may do.
    pub role: Role,
}

/// Answer of `POST /api/v1/api-tokens`: the only time the secret is shown.
#[derive(Serialize, Deserialize, ToSchema)]
pub struct CreatedApiToken {
    /// Token id.
    pub id: String,
    /// Its name.
    pub name: String,
    /// Its role.
    pub role: Role,
    /// The bearer secret.
    pub secret: String,
}

impl fmt::Debug for CreatedApiToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CreatedApiToken")
            .field("id", &self.id)
            .field("name", &self.name)
            .field("role", &self.role)
            .field("secret", &"<redacted>")
            .finish()
    }
}

/// An API token as listed.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ApiTokenView {
    /// Id.
    pub id: String,
    /// Name.
    pub name: String,
    /// Role.
    pub role: Role,
    /// Created.
    pub created_at: Timestamp,
}

/// Makes a new API token record and its secret (also used by
/// `atalaya-collector api-token create`).
pub fn new_api_token(name: &str, role: Role, now: Timestamp) -> (ApiTokenRecord, String) {
    let secret = format!("atk_{}", random_b64(32));
    let record = ApiTokenRecord {
        id: random_id("api-"),
        name: name.to_owned(),
        secret_sha256: secret_sha256(&secret),
        role,
        created_at: now,
    };
    (record, secret)
}

/// Creates an API token; its bearer secret is shown only in this answer.
#[utoipa::path(
    post,
    path = "/api/v1/api-tokens",
    tag = "tokens",
    request_body = CreateApiToken,
    security(("bearer" = ["admin"])),
    responses(
        (status = 201, description = "The token and its secret.", body = CreatedApiToken),
        (status = 400, description = "The body does not parse, or `name` is empty.", body = ErrorBody),
    ),
)]
async fn create_api_token(
    State(state): State<ApiState>,
    caller: Caller,
    body: Result<Json<CreateApiToken>, JsonRejection>,
) -> ApiResult<Response> {
    caller.require(Role::Admin)?;
    let Json(req) = body?;
    let name = req.name.trim().to_owned();
    if name.is_empty() {
        return Err(ApiError::bad("name", "must not be empty"));
    }
    let (record, secret) = new_api_token(&name, req.role, Timestamp::now());
    let id = record.id.clone();
    blocking(&state, move |s| s.add_api_token(&record)).await?;
    tracing::info!(token = %id, role = role_name(req.role), by = %caller.0.id, "API token created");
    Ok((
        StatusCode::CREATED,
        Json(CreatedApiToken {
            id,
            name,
            role: req.role,
            secret,
        }),
    )
        .into_response())
}

/// The API tokens, without their secrets.
#[utoipa::path(
    get,
    path = "/api/v1/api-tokens",
    tag = "tokens",
    security(("bearer" = ["admin"])),
    responses(
        (status = 200, description = "Every API token.", body = Vec<ApiTokenView>),
    ),
)]
async fn list_api_tokens(State(state): State<ApiState>, caller: Caller) -> ApiResult<Response> {
    caller.require(Role::Admin)?;
    let tokens = blocking(&state, |s| s.list_api_tokens()).await?;
    let views: Vec<ApiTokenView> = tokens
        .into_iter()
        .map(|t| ApiTokenView {
            id: t.id,
            name: t.name,
            role: t.role,
            created_at: t.created_at,
        })
        .collect();
    Ok(Json(views).into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_of_created_tokens_hides_the_secrets() {
        let created = CreatedToken {
            id: "tok-1".into(),
            token: "atalaya1.c2VjcmV0LWVucm9sbA".into(),
            expires_at: None,
            max_uses: Some(1),
        };
        let shown = format!("{created:?}");
        assert!(!shown.contains("c2VjcmV0LWVucm9sbA"), "{shown}");
        assert!(
            shown.contains("tok-1") && shown.contains("<redacted>"),
            "{shown}"
        );
        let created = CreatedApiToken {
            id: "key-1".into(),
            name: "finance".into(),
            role: Role::Viewer,
            secret: "bearer-secret-value".into(),
        };
        let shown = format!("{created:?}");
        assert!(!shown.contains("bearer-secret-value"), "{shown}");
        assert!(
            shown.contains("key-1") && shown.contains("<redacted>"),
            "{shown}"
        );
    }
}
