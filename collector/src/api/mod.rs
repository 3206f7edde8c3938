//! The HTTP JSON API: asset inventory, change history, installed base,
//! metrics, caller lookup, incidents, the knowledge base, token and agent
//! administration, and `/metrics` for Prometheus.
//!
//! Every route but the OpenAPI document needs `Authorization: Bearer
//! <secret>`; the secret's SHA-256 names an API token in the store, whose
//! role decides what it may do (viewer and helpdesk read, admin also
//! administers, telephony only posts incoming calls). Errors are JSON
//! `{"error": "..."}` with a fitting status; a bad query parameter gives 400
//! naming the parameter. Store calls are synchronous and run in
//! `spawn_blocking` so a slow commit never stalls the runtime.
//!
//! Time parameters take RFC 3339 (`2026-11-28T10:00:00Z`) or a duration
//! meaning "that long ago" (`7d`, `24h`, `90m ago`).
//!
//! # Layout
//! This module assembles the router and holds what every route shares: the
//! state ([`ApiState`]), authentication and roles ([`Caller`]), errors
//! ([`ApiError`]) and the parsing of common parameters (times, steps,
//! pages). Each resource's routes live in their own module, which gives
//! its `routes()` to merge:
//! - `assets`: `/api/v1/assets`, one asset, its inventory as of a time,
//!   its gaps and reports;
//! - `changes`: `/api/v1/changes` and `/api/v1/assets/{id}/changes`;
//! - `metrics`: `/api/v1/assets/{id}/metrics`, an asset's metric series;
//! - `software`: `/api/v1/software`, the installed base of a package;
//! - `lookup`: `/api/v1/lookup`, a caller's machines and their health;
//! - `incidents`: `/api/v1/incidents`, staff actions, `/api/v1/sla` and
//!   `/api/v1/rules/reload`;
//! - [`kb`]: `/api/v1/kb`, the knowledge base;
//! - [`diagnostics`]: `/api/v1/diagnostics`, diagnostic actions asked of
//!   agents (remote assistance) and their results;
//! - `tokens`: `/api/v1/tokens` (enrollment) and `/api/v1/api-tokens`;
//! - `agents`: `/api/v1/agents` and revocation;
//! - `backups`: `/api/v1/backups`, a consistent copy of the store made
//!   while it runs, fetched over the API;
//! - [`devices`]: `/api/v1/devices` (network devices) and `/api/v1/interfaces`;
//! - `topology`: `/api/v1/topology`, the network map from LLDP and CDP;
//! - `probes`: `/api/v1/probes`, the latest network probe result per target;
//! - `capacity`: `/api/v1/capacity`, resources by urgency, installed
//!   capacity and renewal planning;
//! - [`users`]: `/api/v1/users`, people's console accounts;
//! - `reports`: `/api/v1/reports/slr`, the service-level report of a
//!   month or other period;
//! - `people`: `/api/v1/people`, the people directory and its CSV import;
//! - `suppliers`: `/api/v1/suppliers`, `/contracts`, `/warranties`,
//!   `/licences` and `/import/{kind}`: suppliers, their contracts, each
//!   asset's warranty, licence compliance, and their CSV import;
//! - `calls`: `/api/v1/calls`, incoming calls and their event stream;
//! - `prometheus`: `/metrics`, the collector's own counters;
//! - `openapi`: `/api/v1/openapi.json`, the OpenAPI 3.1 document of all
//!   of the above.
//!
//! Each handler carries its `#[utoipa::path]` description, and each
//! module registers its handlers with `utoipa_axum::routes!` on an
//! [`OpenApiRouter`], which routes and documents them in one step: a
//! route cannot be served without being in [`openapi`]'s document.

pub mod agents;
mod assets;
pub mod backups;
pub mod calls;
mod capacity;
mod changes;
pub mod devices;
pub mod diagnostics;
mod incidents;
pub mod kb;
mod lookup;
mod metrics;
mod openapi;
mod people;
mod probes;
mod prometheus;
mod reports;
mod software;
pub mod suppliers;
mod tokens;
mod topology;
pub mod users;

use std::fmt;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use atalaya_common::model::Timestamp;
use atalaya_common::token::secret_sha256;
use axum::extract::FromRequestParts;
use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::http::request::Parts;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use utoipa::OpenApi as _;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub use self::agents::{AgentView, agent_status, status_of as agent_status_of};
pub use self::assets::{InventoryAnswer, InventoryAsOf};
pub use self::calls::NewCall;
pub use self::incidents::IncidentView;
pub use self::metrics::{MetricSeries, MetricsAnswer, SeriesList, TopEntry, TopList};
pub use self::people::{ImportRefused, Imported, MAX_IMPORT_BYTES};
pub use self::tokens::{
    ApiTokenView, CreateApiToken, CreateToken, CreatedApiToken, CreatedToken, TokenView,
    new_api_token,
};
use crate::desk::Desk;
use crate::desk::calls::Calls;
use crate::screen::ClockSkew;
use crate::store::{ApiTokenRecord, AssetRecord, Role, Store, StoreError};
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
    /// The devices `agent` polls changed: send it the new list if it is connected.
    fn devices_changed(&self, _agent: &str) {}
    /// Reads the devices file again and applies it (`Ok(None)`: the
    /// collector has none); the error lists every problem.
    fn reload_devices(&self) -> Result<Option<crate::desk::devices_file::Applied>, String> {
        Ok(None)
    }
    /// Reads the agent policies of the configuration file again and puts
    /// them in force (`Ok(None)`: the collector runs without a file); the
    /// error lists every problem, and the running policies stay.
    fn reload_agent_policies(&self) -> Result<Option<Vec<(String, u64)>>, String> {
        Ok(None)
    }
    /// What an agent with this host name and tags is to run of the agent
    /// policies in force (nothing when this collector has no policies).
    fn agent_policy_for(
        &self,
        _hostname: &str,
        _tags: &[String],
    ) -> atalaya_common::proto::AgentPolicy {
        atalaya_common::proto::AgentPolicy::default()
    }
    /// Hands a discovery to a session of `agent`; false when it is not connected.
    fn discover(&self, _agent: &str, _request: atalaya_common::proto::DiscoveryRequest) -> bool {
        false
    }
    /// The collector CA key's signature over `message` (diagnostic orders).
    fn sign(&self, _message: &[u8]) -> Result<Vec<u8>, String> {
        Err("no certificate authority here".into())
    }
    /// A diagnostic request for `agent` was stored: its session sends it now if it is open.
    fn diagnostics_requested(&self, _agent: &str) {}
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
    /// Incoming calls: the hub they are published on (subscribe to hear
    /// them ring) and how phone numbers are matched.
    pub calls: Calls,
}

impl fmt::Debug for ApiState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ApiState")
            .field("store", &self.store)
            .field("telemetry", &self.telemetry)
            .finish_non_exhaustive()
    }
}

/// Every route of the API with its description, before state and fallback.
fn documented() -> OpenApiRouter<ApiState> {
    OpenApiRouter::with_openapi(openapi::ApiDoc::openapi())
        .merge(prometheus::routes())
        .merge(assets::routes())
        .merge(changes::routes())
        .merge(metrics::routes())
        .merge(software::routes())
        .merge(tokens::routes())
        .merge(agents::routes())
        .merge(backups::routes())
        .merge(devices::routes())
        .merge(topology::routes())
        .merge(probes::routes())
        .merge(capacity::routes())
        .merge(lookup::routes())
        .merge(people::routes())
        .merge(suppliers::routes())
        .merge(calls::routes())
        .merge(kb::routes())
        .merge(incidents::routes())
        .merge(diagnostics::routes())
        .merge(users::routes())
        .merge(reports::routes())
        .routes(routes!(openapi::openapi_json))
}

/// The API's routes, ready to serve.
pub fn router(state: ApiState) -> Router {
    let (routes, _) = documented().split_for_parts();
    routes.fallback(not_found).with_state(state)
}

/// The OpenAPI 3.1 document of every route [`router`] serves (also served
/// at `GET /api/v1/openapi.json`).
pub fn openapi() -> utoipa::openapi::OpenApi {
    openapi::finish(documented().into_openapi())
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
    /// A backup of the store could not be written.
    #[error(transparent)]
    Backup(#[from] crate::store::backup::BackupError),
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
            ApiError::Store(_) | ApiError::Backup(_) | ApiError::Internal(_) => {
                StatusCode::INTERNAL_SERVER_ERROR
            }
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
#[derive(Debug, Serialize, Deserialize, ToSchema)]
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

/// Whether a token of role `has` may do what needs `needed`. Admin may
/// do everything; viewer, helpdesk and admin are ranked, each allowed what
/// the ones below are; telephony stands apart: it may post calls and
/// nothing else, and only it and admin may post calls.
pub fn allows(has: Role, needed: Role) -> bool {
    fn rank(r: Role) -> u8 {
        match r {
            Role::Viewer => 0,
            Role::Helpdesk => 1,
            Role::Admin => 2,
            // Never compared: handled apart below.
            Role::Telephony => 0,
        }
    }
    match (has, needed) {
        (Role::Admin, _) => true,
        (Role::Telephony, Role::Telephony) => true,
        (Role::Telephony, _) | (_, Role::Telephony) => false,
        (has, needed) => rank(has) >= rank(needed),
    }
}

/// The role's name as in tokens and the CLI.
pub fn role_name(r: Role) -> &'static str {
    match r {
        Role::Viewer => "viewer",
        Role::Helpdesk => "helpdesk",
        Role::Admin => "admin",
        Role::Telephony => "telephony",
    }
}

impl Caller {
    /// Refuses with 403 unless the caller's role allows what needs
    /// `needed` (see [`allows`]).
    pub fn require(&self, needed: Role) -> ApiResult<()> {
        if allows(self.0.role, needed) {
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

/// Finds an asset by id, then by host name (so people can type either).
async fn resolve_asset(state: &ApiState, key: String) -> ApiResult<AssetRecord> {
    let k = key.clone();
    let found = blocking(state, move |s| match s.asset(&k)? {
        Some(a) => Ok(Some(a)),
        // A device merged into another's asset: its old id leads there.
        None => match s.merged_device_asset(&k)? {
            Some(id) => s.asset(&id),
            None => s.asset_by_hostname(&k),
        },
    })
    .await?;
    found.ok_or_else(|| ApiError::NotFound(format!("no asset has the id or host name `{key}`")))
}

async fn not_found() -> ApiError {
    ApiError::NotFound("no such route; the API lives under /api/v1/".to_owned())
}

#[cfg(test)]
mod tests {
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
    fn a_telephony_token_may_post_calls_and_nothing_else() {
        let all = [Role::Viewer, Role::Helpdesk, Role::Admin, Role::Telephony];
        for needed in all {
            assert_eq!(
                allows(Role::Telephony, needed),
                needed == Role::Telephony,
                "telephony for {needed:?}"
            );
            assert!(allows(Role::Admin, needed), "admin for {needed:?}");
        }
        for has in [Role::Viewer, Role::Helpdesk] {
            assert!(!allows(has, Role::Telephony), "{has:?} posting a call");
        }
        let e = ApiError::Forbidden {
            needed: role_name(Role::Viewer),
            has: role_name(Role::Telephony),
            token: "t".into(),
        };
        assert_eq!(
            e.to_string(),
            "this needs the viewer role; the token t has the telephony role"
        );
    }

    #[test]
    fn roles_stored_before_telephony_decode_as_they_were() {
        // postcard writes a variant's place: the old three keep theirs.
        for (role, byte) in [
            (Role::Admin, 0u8),
            (Role::Helpdesk, 1),
            (Role::Viewer, 2),
            (Role::Telephony, 3),
        ] {
            assert_eq!(postcard::to_stdvec(&role).unwrap(), [byte]);
            assert_eq!(postcard::from_bytes::<Role>(&[byte]).unwrap(), role);
        }
    }

    #[test]
    fn debug_of_a_caller_hides_the_token_hash() {
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
