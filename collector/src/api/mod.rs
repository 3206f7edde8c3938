//! The HTTP JSON API: asset inventory, change history, installed base,
//! metrics, caller lookup, token and agent administration, and `/metrics`
//! for Prometheus.
//!
//! Every route needs `Authorization: Bearer <secret>`; the secret's SHA-256
//! names an API token in the store, whose role decides what it may do
//! (viewer and helpdesk read, admin also administers). Errors are JSON
//! `{"error": "..."}` with a fitting status; a bad query parameter gives 400
//! naming the parameter. Store calls are synchronous and run in
//! `spawn_blocking` so a slow commit never stalls the runtime.
//!
//! Time parameters take RFC 3339 (`2026-11-28T10:00:00Z`) or a duration
//! meaning "that long ago" (`7d`, `24h`, `90m ago`).

pub mod kb;
mod lookup;

use std::fmt;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use atalaya_common::model::{Inventory, Timestamp};
use atalaya_common::token::{EnrollmentToken, hex, secret_sha256};
use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::extract::{FromRequestParts, Path, Query, State};
use axum::http::request::Parts;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use axum::{Json, Router};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::{Deserialize, Serialize};

use crate::store::{
    AgentRecord, ApiTokenRecord, AssetFilter, AssetRecord, Role, Store, StoreError, TokenRecord,
};
mod incidents;

use crate::server::desk::Desk;
use crate::server::screen::ClockSkew;
use crate::telemetry::Telemetry;

/// Default page size of list routes.
pub const DEFAULT_LIMIT: usize = 100;
/// Largest page size a caller may ask for.
pub const MAX_LIMIT: usize = 1000;

/// Actions that need the running server rather than the store, so tests can
/// pass a plain implementation.
pub trait AdminActions: Send + Sync + 'static {
    /// An agent was revoked: close its open QUIC connection, if any.
    fn agent_revoked(&self, id: &str);
    /// The `host:port` agents use to reach the collector (written into enrollment tokens).
    fn collector_address(&self) -> String;
    /// SHA-256 of the collector CA certificate DER (written into enrollment tokens).
    fn ca_sha256(&self) -> [u8; 32];
    /// Whether the agent has a data session open now.
    fn is_connected(&self, _id: &str) -> bool {
        false
    }
    /// How long an agent may go unheard before it counts as silent.
    fn silent_after(&self) -> Duration {
        Duration::from_secs(90)
    }
    /// What the collector noticed about the agent's clock, while it
    /// refuses the agent's times as out of range.
    fn clock_skew(&self, _id: &str) -> Option<ClockSkew> {
        None
    }
}

/// What every handler shares.
#[derive(Clone)]
pub struct ApiState {
    /// The store.
    pub store: Arc<Store>,
    /// The collector's own counters, for `/metrics`.
    pub telemetry: Arc<Telemetry>,
    /// Server actions (revocation, enrollment token facts).
    pub admin: Arc<dyn AdminActions>,
    /// The incident desk (`None`: incident actions answer 503).
    pub desk: Option<Arc<Desk>>,
}

impl fmt::Debug for ApiState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ApiState")
            .field("store", &self.store)
            .field("telemetry", &self.telemetry)
            .finish_non_exhaustive()
    }
}

/// The API's routes, ready to serve.
pub fn router(state: ApiState) -> Router {
    Router::new()
        .route("/metrics", get(metrics))
        .route("/api/v1/assets", get(list_assets))
        .route("/api/v1/assets/{id}", get(get_asset))
        .route("/api/v1/assets/{id}/changes", get(asset_changes))
        .route("/api/v1/assets/{id}/gaps", get(asset_gaps))
        .route("/api/v1/assets/{id}/reports", get(asset_reports))
        .route("/api/v1/assets/{id}/inventory", get(asset_inventory))
        .route("/api/v1/assets/{id}/metrics", get(asset_metrics))
        .route("/api/v1/changes", get(fleet_changes))
        .route("/api/v1/software", get(software))
        .route("/api/v1/tokens", post(create_token).get(list_tokens))
        .route("/api/v1/tokens/{id}", delete(revoke_token))
        .route(
            "/api/v1/api-tokens",
            post(create_api_token).get(list_api_tokens),
        )
        .route("/api/v1/agents", get(list_agents))
        .route("/api/v1/lookup", get(lookup::lookup))
        .route("/api/v1/agents/{id}/revoke", post(revoke_agent))
        .merge(kb::routes())
        .route("/api/v1/incidents", get(incidents::list))
        .route("/api/v1/incidents/{id}", get(incidents::show))
        .route("/api/v1/incidents/{id}/{action}", post(incidents::act))
        .route("/api/v1/sla", get(incidents::sla))
        .route("/api/v1/rules/reload", post(incidents::reload_rules))
        .fallback(not_found)
        .with_state(state)
}

/// Serves the API on `listener` until `shutdown` completes.
pub async fn serve(
    listener: tokio::net::TcpListener,
    state: ApiState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, router(state))
        .with_graceful_shutdown(shutdown)
        .await
}

/// Why a request failed; becomes a JSON error response.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// No token, or one the store does not know.
    #[error("{0}")]
    Unauthorized(&'static str),
    /// The token's role is too low.
    #[error("this needs the {needed} role; the token {token} has the {has} role")]
    Forbidden {
        /// Role the route needs.
        needed: &'static str,
        /// Role the caller has.
        has: &'static str,
        /// The caller's token id.
        token: String,
    },
    /// A query parameter or body field is wrong.
    #[error("bad parameter `{param}`: {reason}")]
    BadParam {
        /// Its name.
        param: &'static str,
        /// What is wrong.
        reason: String,
    },
    /// The query string or JSON body does not parse at all.
    #[error("bad request: {0}")]
    BadRequest(String),
    /// No such thing.
    #[error("{0}")]
    NotFound(String),
    /// The request does not fit the current state (an invalid incident transition).
    #[error("{0}")]
    Conflict(String),
    /// A part of the collector this needs is not running.
    #[error("{0}")]
    Unavailable(&'static str),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A blocking task died (a bug).
    #[error("internal error: {0}")]
    Internal(String),
}

impl ApiError {
    fn status(&self) -> StatusCode {
        match self {
            ApiError::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            ApiError::Forbidden { .. } => StatusCode::FORBIDDEN,
            ApiError::BadParam { .. } | ApiError::BadRequest(_) => StatusCode::BAD_REQUEST,
            ApiError::NotFound(_) => StatusCode::NOT_FOUND,
            ApiError::Conflict(_) => StatusCode::CONFLICT,
            ApiError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::Store(_) | ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn bad(param: &'static str, reason: impl Into<String>) -> Self {
        ApiError::BadParam {
            param,
            reason: reason.into(),
        }
    }
}

/// The body of every error response.
#[derive(Debug, Serialize, Deserialize)]
pub struct ErrorBody {
    /// What went wrong, in words.
    pub error: String,
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status();
        if status.is_server_error() {
            tracing::error!(error = %self, "API request failed");
        }
        let mut resp = (
            status,
            Json(ErrorBody {
                error: self.to_string(),
            }),
        )
            .into_response();
        if status == StatusCode::UNAUTHORIZED {
            resp.headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        resp
    }
}

impl From<QueryRejection> for ApiError {
    fn from(e: QueryRejection) -> Self {
        ApiError::BadRequest(e.body_text())
    }
}

impl From<JsonRejection> for ApiError {
    fn from(e: JsonRejection) -> Self {
        ApiError::BadRequest(e.body_text())
    }
}

type ApiResult<T> = Result<T, ApiError>;

/// Runs a synchronous store call off the async runtime.
async fn blocking<T, F>(state: &ApiState, f: F) -> ApiResult<T>
where
    T: Send + 'static,
    F: FnOnce(&Store) -> Result<T, StoreError> + Send + 'static,
{
    let store = Arc::clone(&state.store);
    tokio::task::spawn_blocking(move || f(&store))
        .await
        .map_err(|e| ApiError::Internal(format!("store task: {e}")))?
        .map_err(ApiError::from)
}

/// The authenticated caller: the API token the request presented.
#[derive(Debug, Clone)]
pub struct Caller(pub ApiTokenRecord);

fn rank(r: Role) -> u8 {
    match r {
        Role::Viewer => 0,
        Role::Helpdesk => 1,
        Role::Admin => 2,
    }
}

/// The role's name as in tokens and the CLI.
pub fn role_name(r: Role) -> &'static str {
    match r {
        Role::Viewer => "viewer",
        Role::Helpdesk => "helpdesk",
        Role::Admin => "admin",
    }
}

impl Caller {
    /// Refuses with 403 unless the caller's role is at least `needed`.
    pub fn require(&self, needed: Role) -> ApiResult<()> {
        if rank(self.0.role) >= rank(needed) {
            Ok(())
        } else {
            Err(ApiError::Forbidden {
                needed: role_name(needed),
                has: role_name(self.0.role),
                token: self.0.id.clone(),
            })
        }
    }
}

impl FromRequestParts<ApiState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &ApiState) -> ApiResult<Self> {
        let value = parts
            .headers
            .get(header::AUTHORIZATION)
            .ok_or(ApiError::Unauthorized(
                "missing `Authorization: Bearer <token>` header",
            ))?;
        let secret = value
            .to_str()
            .ok()
            .and_then(|v| {
                let (scheme, rest) = v.split_once(' ')?;
                scheme.eq_ignore_ascii_case("bearer").then(|| rest.trim())
            })
            .filter(|s| !s.is_empty())
            .ok_or(ApiError::Unauthorized(
                "the Authorization header must be `Bearer <token>`",
            ))?;
        let hash = secret_sha256(secret);
        match blocking(state, move |s| s.api_token(&hash)).await? {
            Some(t) => Ok(Caller(t)),
            None => Err(ApiError::Unauthorized("unknown API token")),
        }
    }
}

/// Parses a time parameter: RFC 3339, or a duration before `now`.
pub fn parse_time(param: &'static str, value: &str, now: Timestamp) -> ApiResult<Timestamp> {
    let v = value.trim();
    if let Ok(t) = Timestamp::parse_rfc3339(v) {
        return Ok(t);
    }
    let rel = v.strip_suffix("ago").map_or(v, str::trim_end);
    match humantime::parse_duration(rel) {
        Ok(d) => {
            let ms = i64::try_from(d.as_millis()).unwrap_or(i64::MAX);
            Ok(Timestamp(now.0.saturating_sub(ms)))
        }
        Err(e) => Err(ApiError::bad(
            param,
            format!(
                "`{value}` is neither an RFC 3339 time (2026-11-28T10:00:00Z) \
                 nor a duration ago (7d, 24h): {e}"
            ),
        )),
    }
}

/// Parses a step such as `1m` or `30s` (a bare number is seconds).
pub fn parse_step(param: &'static str, value: &str) -> ApiResult<Duration> {
    let v = value.trim();
    let d = match v.parse::<u64>() {
        Ok(secs) => Duration::from_secs(secs),
        Err(_) => humantime::parse_duration(v).map_err(|e| {
            ApiError::bad(
                param,
                format!("`{value}` is not a duration such as 30s, 5m or 1h: {e}"),
            )
        })?,
    };
    if d.is_zero() {
        return Err(ApiError::bad(param, "must be longer than zero"));
    }
    Ok(d)
}

fn parse_limit(value: Option<&str>) -> ApiResult<usize> {
    let Some(v) = value else {
        return Ok(DEFAULT_LIMIT);
    };
    match v.trim().parse::<usize>() {
        Ok(n) if (1..=MAX_LIMIT).contains(&n) => Ok(n),
        _ => Err(ApiError::bad(
            "limit",
            format!("`{v}` is not a whole number from 1 to {MAX_LIMIT}"),
        )),
    }
}

fn parse_offset(value: Option<&str>) -> ApiResult<usize> {
    match value {
        None => Ok(0),
        Some(v) => v
            .trim()
            .parse::<usize>()
            .map_err(|_| ApiError::bad("offset", format!("`{v}` is not a whole number"))),
    }
}

fn opt_time(
    param: &'static str,
    value: Option<&String>,
    now: Timestamp,
) -> ApiResult<Option<Timestamp>> {
    value.map(|v| parse_time(param, v, now)).transpose()
}

fn nonempty(v: Option<String>) -> Option<String> {
    v.filter(|s| !s.trim().is_empty())
}

/// Query of `GET /api/v1/assets`.
#[derive(Debug, Default, Deserialize)]
struct AssetsQuery {
    hostname: Option<String>,
    os: Option<String>,
    software: Option<String>,
    version_min: Option<String>,
    version_max: Option<String>,
    tag: Option<String>,
    seen_before: Option<String>,
    seen_after: Option<String>,
    limit: Option<String>,
    offset: Option<String>,
}

async fn list_assets(
    State(state): State<ApiState>,
    caller: Caller,
    q: Result<Query<AssetsQuery>, QueryRejection>,
) -> ApiResult<Response> {
    caller.require(Role::Viewer)?;
    let Query(q) = q?;
    let now = Timestamp::now();
    let software = nonempty(q.software);
    if software.is_none() && (q.version_min.is_some() || q.version_max.is_some()) {
        return Err(ApiError::bad(
            if q.version_min.is_some() {
                "version_min"
            } else {
                "version_max"
            },
            "a version range needs `software`",
        ));
    }
    let filter = AssetFilter {
        hostname: nonempty(q.hostname),
        os: nonempty(q.os),
        software,
        version_min: nonempty(q.version_min),
        version_max: nonempty(q.version_max),
        tag: nonempty(q.tag),
        seen_before: opt_time("seen_before", q.seen_before.as_ref(), now)?,
        seen_after: opt_time("seen_after", q.seen_after.as_ref(), now)?,
        offset: parse_offset(q.offset.as_deref())?,
        limit: parse_limit(q.limit.as_deref())?,
    };
    let page = blocking(&state, move |s| s.assets(&filter)).await?;
    Ok(Json(page).into_response())
}

/// Finds an asset by id, then by host name (so people can type either).
async fn resolve_asset(state: &ApiState, key: String) -> ApiResult<AssetRecord> {
    let k = key.clone();
    let found = blocking(state, move |s| match s.asset(&k)? {
        Some(a) => Ok(Some(a)),
        None => s.asset_by_hostname(&k),
    })
    .await?;
    found.ok_or_else(|| ApiError::NotFound(format!("no asset has the id or host name `{key}`")))
}

async fn get_asset(
    State(state): State<ApiState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    caller.require(Role::Viewer)?;
    Ok(Json(resolve_asset(&state, id).await?).into_response())
}

#[derive(Debug, Default, Deserialize)]
struct ChangesQuery {
    since: Option<String>,
    limit: Option<String>,
}

async fn changes(state: &ApiState, asset: Option<String>, q: ChangesQuery) -> ApiResult<Response> {
    let now = Timestamp::now();
    let since = opt_time("since", q.since.as_ref(), now)?.unwrap_or(Timestamp(0));
    let limit = parse_limit(q.limit.as_deref())?;
    let events = blocking(state, move |s| s.changes(asset.as_deref(), since, limit)).await?;
    Ok(Json(events).into_response())
}

async fn asset_changes(
    State(state): State<ApiState>,
    caller: Caller,
    Path(id): Path<String>,
    q: Result<Query<ChangesQuery>, QueryRejection>,
) -> ApiResult<Response> {
    caller.require(Role::Viewer)?;
    let Query(q) = q?;
    let asset = resolve_asset(&state, id).await?;
    changes(&state, Some(asset.meta.id), q).await
}

/// Health samples the asset's agents dropped while the collector was out of
/// their reach (their spool was full): what is known to be missing.
async fn asset_gaps(
    State(state): State<ApiState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    asset_records(&state, &caller, id, Store::gaps).await
}

/// What people at the machine reported (`atalaya-agent report`), newest
/// first, each with the incident it opened.
async fn asset_reports(
    State(state): State<ApiState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    asset_records(&state, &caller, id, Store::reports).await
}

/// A viewer's list of one asset's records, read by `read`.
async fn asset_records<T: Serialize + Send + 'static>(
    state: &ApiState,
    caller: &Caller,
    id: String,
    read: fn(&Store, &str) -> Result<Vec<T>, StoreError>,
) -> ApiResult<Response> {
    caller.require(Role::Viewer)?;
    let asset = resolve_asset(state, id).await?;
    let asset_id = asset.meta.id;
    let records = blocking(state, move |s| read(s, &asset_id)).await?;
    Ok(Json(records).into_response())
}

async fn fleet_changes(
    State(state): State<ApiState>,
    caller: Caller,
    q: Result<Query<ChangesQuery>, QueryRejection>,
) -> ApiResult<Response> {
    caller.require(Role::Viewer)?;
    let Query(q) = q?;
    changes(&state, None, q).await
}

#[derive(Debug, Default, Deserialize)]
struct InventoryQuery {
    as_of: Option<String>,
}

/// An inventory as it was at a time.
#[derive(Debug, Serialize, Deserialize)]
pub struct InventoryAsOf {
    /// Asset id.
    pub asset_id: String,
    /// The time asked for.
    pub as_of: Timestamp,
    /// The inventory then.
    pub inventory: Inventory,
}

async fn asset_inventory(
    State(state): State<ApiState>,
    caller: Caller,
    Path(id): Path<String>,
    q: Result<Query<InventoryQuery>, QueryRejection>,
) -> ApiResult<Response> {
    caller.require(Role::Viewer)?;
    let Query(q) = q?;
    let as_of = opt_time("as_of", q.as_of.as_ref(), Timestamp::now())?;
    let asset = resolve_asset(&state, id).await?;
    let asset_id = asset.meta.id.clone();
    let (at, inventory) = match as_of {
        None => (
            asset.meta.inventory_at.unwrap_or(asset.meta.last_seen),
            asset.inventory,
        ),
        Some(at) => {
            let a = asset_id.clone();
            (
                at,
                blocking(&state, move |s| s.inventory_as_of(&a, at)).await?,
            )
        }
    };
    let inventory = inventory
        .ok_or_else(|| ApiError::NotFound(format!("asset {asset_id} had no inventory at {at}")))?;
    Ok(Json(InventoryAsOf {
        asset_id,
        as_of: at,
        inventory,
    })
    .into_response())
}

#[derive(Debug, Default, Deserialize)]
struct MetricsQuery {
    name: Option<String>,
    from: Option<String>,
    to: Option<String>,
    step: Option<String>,
}

/// One metric series of an asset over a time range.
#[derive(Debug, Serialize, Deserialize)]
pub struct MetricSeries {
    /// Asset id.
    pub asset_id: String,
    /// Series name.
    pub name: String,
    /// Start of the range.
    pub from: Timestamp,
    /// End of the range.
    pub to: Timestamp,
    /// Bucket width, ms (`None`: raw points).
    pub step_ms: Option<u64>,
    /// `(time, value)`, oldest first.
    pub points: Vec<(Timestamp, f64)>,
}

/// The series an asset has, when no `name` is given.
#[derive(Debug, Serialize, Deserialize)]
pub struct SeriesList {
    /// Asset id.
    pub asset_id: String,
    /// Series names.
    pub series: Vec<String>,
}

async fn asset_metrics(
    State(state): State<ApiState>,
    caller: Caller,
    Path(id): Path<String>,
    q: Result<Query<MetricsQuery>, QueryRejection>,
) -> ApiResult<Response> {
    caller.require(Role::Viewer)?;
    let Query(q) = q?;
    let now = Timestamp::now();
    let from = opt_time("from", q.from.as_ref(), now)?.unwrap_or(Timestamp(now.0 - 3_600_000));
    let to = opt_time("to", q.to.as_ref(), now)?.unwrap_or(now);
    if from > to {
        return Err(ApiError::bad(
            "from",
            format!("{from} is after `to` ({to})"),
        ));
    }
    let step_ms = q
        .step
        .as_deref()
        .map(|s| parse_step("step", s))
        .transpose()?
        .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX));
    let asset = resolve_asset(&state, id).await?;
    let asset_id = asset.meta.id;
    let Some(name) = nonempty(q.name) else {
        let a = asset_id.clone();
        let series = blocking(&state, move |s| s.series_names(&a)).await?;
        return Ok(Json(SeriesList { asset_id, series }).into_response());
    };
    let (a, n) = (asset_id.clone(), name.clone());
    let points = blocking(&state, move |s| s.metric(&a, &n, from, to, step_ms)).await?;
    Ok(Json(MetricSeries {
        asset_id,
        name,
        from,
        to,
        step_ms,
        points,
    })
    .into_response())
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

/// Body of `POST /api/v1/tokens`.
#[derive(Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct CreateToken {
    /// Lifetime in seconds (absent: never expires).
    pub ttl_seconds: Option<u64>,
    /// Enrollments allowed (absent: unlimited).
    pub uses: Option<u32>,
}

/// Answer of `POST /api/v1/tokens`: the only time the secret is shown.
#[derive(Serialize, Deserialize)]
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
#[derive(Debug, Serialize, Deserialize)]
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
    let secret = random_b64(32);
    let address = state.admin.collector_address();
    let token = EnrollmentToken {
        address: address.clone(),
        ca_sha256: state.admin.ca_sha256(),
        secret: secret.clone(),
    }
    .encode();
    let record = TokenRecord {
        id: random_id("tok-"),
        secret_sha256: secret_sha256(&secret),
        created_at: now,
        expires_at,
        max_uses: req.uses,
        uses: 0,
        revoked: false,
        collector_address: address,
    };
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

async fn list_tokens(State(state): State<ApiState>, caller: Caller) -> ApiResult<Response> {
    caller.require(Role::Admin)?;
    let tokens = blocking(&state, |s| s.list_tokens()).await?;
    let views: Vec<TokenView> = tokens.into_iter().map(TokenView::from).collect();
    Ok(Json(views).into_response())
}

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
#[derive(Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct CreateApiToken {
    /// Who or what it is for.
    pub name: String,
    /// What it may do.
    pub role: Role,
}

/// Answer of `POST /api/v1/api-tokens`: the only time the secret is shown.
#[derive(Serialize, Deserialize)]
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
#[derive(Debug, Serialize, Deserialize)]
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

/// An agent as listed (certificate fingerprint instead of the PEM).
#[derive(Debug, Serialize, Deserialize)]
pub struct AgentView {
    /// Agent id.
    pub id: String,
    /// Host name given at enrollment.
    pub hostname: String,
    /// SHA-256 of its certificate, hex.
    pub cert_sha256: String,
    /// Enrolled.
    pub enrolled_at: Timestamp,
    /// Last seen.
    pub last_seen: Option<Timestamp>,
    /// Agent version.
    pub agent_version: String,
    /// QUIC round-trip time, ms.
    pub rtt_ms: Option<f64>,
    /// Revoked.
    pub revoked_at: Option<Timestamp>,
    /// Its asset.
    pub asset_id: Option<String>,
    /// `connected`, `silent` (not heard from for a few heartbeats),
    /// `disconnected`, `revoked`, or `never_seen`.
    pub status: &'static str,
    /// Set while the collector refuses the agent's times as out of range
    /// (its clock is wrong): how far off the last one was, when, and how
    /// many were refused. Kept in memory: `null` again after a restart
    /// until the next refused time.
    pub clock_skew: Option<ClockSkew>,
}

impl From<AgentRecord> for AgentView {
    fn from(a: AgentRecord) -> Self {
        AgentView {
            cert_sha256: hex(&a.cert_sha256),
            id: a.id,
            hostname: a.hostname,
            enrolled_at: a.enrolled_at,
            last_seen: a.last_seen,
            agent_version: a.agent_version,
            rtt_ms: a.rtt_ms,
            revoked_at: a.revoked_at,
            asset_id: a.asset_id,
            status: "never_seen",
            clock_skew: None,
        }
    }
}

/// An agent's status, from its record, its session and the clock.
pub(crate) fn agent_status(
    a: &AgentRecord,
    connected: bool,
    silent_after: Duration,
    now: Timestamp,
) -> &'static str {
    let heard = a.last_seen.map(|t| now.0.saturating_sub(t.0));
    let silent_ms = i64::try_from(silent_after.as_millis()).unwrap_or(i64::MAX);
    match (a.revoked_at, heard) {
        (Some(_), _) => "revoked",
        (None, None) => "never_seen",
        (None, Some(ms)) if ms > silent_ms => "silent",
        (None, Some(_)) if connected => "connected",
        (None, Some(_)) => "disconnected",
    }
}

async fn list_agents(State(state): State<ApiState>, caller: Caller) -> ApiResult<Response> {
    caller.require(Role::Admin)?;
    let agents = blocking(&state, |s| s.list_agents()).await?;
    let now = Timestamp::now();
    let silent_after = state.admin.silent_after();
    let views: Vec<AgentView> = agents
        .into_iter()
        .map(|a| {
            let status = agent_status(&a, state.admin.is_connected(&a.id), silent_after, now);
            let clock_skew = state.admin.clock_skew(&a.id);
            AgentView {
                status,
                clock_skew,
                ..AgentView::from(a)
            }
        })
        .collect();
    Ok(Json(views).into_response())
}

async fn revoke_agent(
    State(state): State<ApiState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    caller.require(Role::Admin)?;
    let i = id.clone();
    if !blocking(&state, move |s| s.revoke_agent(&i, Timestamp::now())).await? {
        return Err(ApiError::NotFound(format!("no agent `{id}`")));
    }
    state.admin.agent_revoked(&id);
    tracing::info!(agent = %id, by = %caller.0.id, "agent revoked");
    Ok(StatusCode::NO_CONTENT.into_response())
}

async fn metrics(State(state): State<ApiState>, caller: Caller) -> ApiResult<Response> {
    caller.require(Role::Viewer)?;
    let stats = blocking(&state, |s| s.stats()).await?;
    let extra: [(&str, &str, f64); 7] = [
        (
            "atalaya_store_assets",
            "Assets in the store.",
            stats.assets as f64,
        ),
        (
            "atalaya_store_agents",
            "Agents enrolled.",
            stats.agents as f64,
        ),
        (
            "atalaya_store_series",
            "Metric series.",
            stats.series as f64,
        ),
        (
            "atalaya_store_chunks",
            "Metric blocks: closed ones and each agent's open one.",
            stats.chunks as f64,
        ),
        (
            "atalaya_store_chunk_bytes",
            "Bytes of metric blocks, closed and open.",
            stats.chunk_bytes as f64,
        ),
        (
            "atalaya_store_change_events",
            "Inventory change events kept.",
            stats.change_events as f64,
        ),
        (
            "atalaya_store_file_bytes",
            "Size of the store file.",
            stats.file_bytes as f64,
        ),
    ];
    let text = state.telemetry.render(&extra);
    Ok((
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
        )],
        text,
    )
        .into_response())
}

async fn not_found() -> ApiError {
    ApiError::NotFound("no such route; the API lives under /api/v1/".to_owned())
}

#[cfg(test)]
mod tests {
    #[test]
    fn agent_status_follows_revocation_sessions_and_silence() {
        let mut a = AgentRecord::enrolled("ag-1", "h", "", [0; 32], "0.1.0", Timestamp(0));
        let minute = Duration::from_secs(60);
        let now = Timestamp(1_000_000);
        assert_eq!(agent_status(&a, false, minute, now), "never_seen");
        a.last_seen = Some(Timestamp(990_000));
        assert_eq!(agent_status(&a, true, minute, now), "connected");
        assert_eq!(agent_status(&a, false, minute, now), "disconnected");
        a.last_seen = Some(Timestamp(900_000));
        assert_eq!(
            agent_status(&a, true, minute, now),
            "silent",
            "a session that says nothing is silent"
        );
        a.revoked_at = Some(now);
        assert_eq!(agent_status(&a, true, minute, now), "revoked");
    }

    use super::*;

    #[test]
    fn relative_and_absolute_times() {
        let now = Timestamp::from_secs(1_000_000);
        assert_eq!(
            parse_time("since", "7d", now).unwrap(),
            Timestamp::from_secs(1_000_000 - 7 * 86_400)
        );
        assert_eq!(
            parse_time("since", "24h ago", now).unwrap(),
            Timestamp::from_secs(1_000_000 - 86_400)
        );
        assert_eq!(
            parse_time("as_of", "1970-01-02T00:00:00Z", now).unwrap(),
            Timestamp::from_secs(86_400)
        );
    }

    #[test]
    fn bad_time_names_the_parameter() {
        let e = parse_time("as_of", "yesterday-ish", Timestamp(0)).unwrap_err();
        assert!(e.to_string().contains("`as_of`"), "{e}");
        assert_eq!(e.status(), StatusCode::BAD_REQUEST);
    }

    #[test]
    fn steps() {
        assert_eq!(parse_step("step", "1m").unwrap(), Duration::from_secs(60));
        assert_eq!(parse_step("step", "30").unwrap(), Duration::from_secs(30));
        let e = parse_step("step", "5x").unwrap_err();
        assert!(e.to_string().contains("`step`"), "{e}");
        assert!(parse_step("step", "0s").is_err());
    }

    #[test]
    fn limits() {
        assert_eq!(parse_limit(None).unwrap(), DEFAULT_LIMIT);
        assert_eq!(parse_limit(Some("1000")).unwrap(), 1000);
        assert!(parse_limit(Some("1001")).is_err());
        assert!(parse_limit(Some("0")).is_err());
        assert!(parse_offset(Some("-1")).is_err());
    }

    #[test]
    fn roles_rank() {
        let caller = |role| {
            Caller(ApiTokenRecord {
                id: "t".into(),
                name: "n".into(),
                secret_sha256: [0; 32],
                role,
                created_at: Timestamp(0),
            })
        };
        assert!(caller(Role::Viewer).require(Role::Viewer).is_ok());
        assert!(caller(Role::Helpdesk).require(Role::Viewer).is_ok());
        assert!(caller(Role::Helpdesk).require(Role::Admin).is_err());
        assert!(caller(Role::Admin).require(Role::Admin).is_ok());
    }

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
        let caller = Caller(ApiTokenRecord {
            id: "t".into(),
            name: "n".into(),
            secret_sha256: [0xab; 32],
            role: Role::Admin,
            created_at: Timestamp(0),
        });
        let shown = format!("{caller:?}");
        assert!(!shown.contains("abab") && !shown.contains("171"), "{shown}");
    }
}
