//! Remote assistance: diagnostic actions asked of an agent by the help
//! desk, and their results.
//!
//! A request names the machine (host name, asset id or agent id), a
//! built-in action and its arguments, and optionally the incident it is
//! for. The collector checks the arguments, signs the order with its CA
//! key and stores it; the agent's session sends it (at once, or at the
//! agent's next connection while the order is valid); the agent checks it
//! again against its own allow-list and answers. The result is kept with
//! the request and, when an incident was named, written on its timeline.

use atalaya_common::assist::{Action, DiagOrder, MAX_VALIDITY_SECONDS};
use atalaya_common::model::Timestamp;
use axum::Json;
use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::{ApiError, ApiResult, ApiState, Caller, ErrorBody, blocking, resolve_asset};
use crate::records::diagnostic::DiagnosticRecord;
use crate::store::Role;

/// How long a request stays valid unless the body says.
pub const DEFAULT_EXPIRES_SECONDS: u32 = 600;

pub(super) fn routes() -> OpenApiRouter<ApiState> {
    OpenApiRouter::new()
        .routes(routes!(request, list))
        .routes(routes!(show))
}

/// A diagnostic request to make.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewDiagnostic {
    /// The machine: its host name or asset id (or give `agent`).
    pub host: Option<String>,
    /// The agent id (instead of `host`).
    pub agent: Option<String>,
    /// The action: `ping`, `tcp-connect`, `dns-lookup`, `traceroute`,
    /// `top-processes`, `disk-usage`, `service-status`, `service-restart`,
    /// `log-tail`, `listening-sockets`.
    pub action: String,
    /// Its arguments, e.g. `["db01", "5432"]` for `tcp-connect`.
    #[serde(default)]
    pub args: Vec<String>,
    /// The incident it is for: the result goes on its timeline.
    pub incident: Option<u64>,
    /// Seconds the agent may still accept it (default 600, at most 86400).
    /// A request for an agent that is not connected waits this long for it.
    pub expires_in_seconds: Option<u32>,
}

/// A diagnostic request and, once it came, its result.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct DiagnosticView {
    /// The request id, e.g. `d-12`.
    pub id: String,
    /// `pending` (waiting for the agent to connect), `sent`, `expired`,
    /// or how it ended: `completed`, `failed`, `timed-out`, `refused`.
    pub state: String,
    /// The agent asked.
    pub agent: String,
    /// Its asset, when known.
    pub asset: Option<String>,
    /// The asset's host name when it was asked.
    pub hostname: Option<String>,
    /// The help-desk login that asked.
    pub requested_by: String,
    /// The incident it is for.
    pub incident: Option<u64>,
    /// The action.
    pub action: String,
    /// Its arguments.
    pub args: Vec<String>,
    /// When it was asked.
    pub issued_at: Timestamp,
    /// Until when the agent accepts it.
    pub expires_at: Timestamp,
    /// When it went to the agent.
    pub sent_at: Option<Timestamp>,
    /// The agent's answer.
    pub result: Option<DiagnosticResultView>,
}

/// The agent's answer.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct DiagnosticResultView {
    /// `completed`, `failed`, `timed-out` or `refused`.
    pub outcome: String,
    /// Why it failed or was refused.
    pub reason: Option<String>,
    /// What the action printed or found.
    pub output: String,
    /// Whether the agent cut the output at its `max_output_bytes`.
    pub truncated: bool,
    /// When the agent started on it.
    pub started_at: Timestamp,
    /// How long it took, ms.
    pub duration_ms: u64,
    /// When the collector stored it.
    pub received_at: Timestamp,
}

/// The view of a stored request at `now`.
pub fn view(rec: &DiagnosticRecord, now: Timestamp) -> DiagnosticView {
    let order = &rec.order;
    DiagnosticView {
        id: order.id.clone(),
        state: rec.state(now).to_owned(),
        agent: order.agent_id.clone(),
        asset: rec.asset.clone(),
        hostname: rec.hostname.clone(),
        requested_by: order.requested_by.clone(),
        incident: order.incident,
        action: order.action.name().to_owned(),
        args: order.action.args(),
        issued_at: order.issued_at,
        expires_at: order.expires_at,
        sent_at: rec.sent_at,
        result: rec.result.as_ref().map(|r| DiagnosticResultView {
            outcome: r.outcome.name().to_owned(),
            reason: r.outcome.reason(),
            output: r.output.clone(),
            truncated: r.truncated,
            started_at: r.started_at,
            duration_ms: r.duration_ms,
            received_at: r.received_at,
        }),
    }
}

/// Asks an agent to run a diagnostic action. Needs a role that works
/// incidents. The agent checks it against its own allow-list and answers
/// with a result, or a refusal and its reason. A request for an agent
/// that is not connected waits until its next connection, or until it
/// expires.
#[utoipa::path(
    post,
    path = "/api/v1/diagnostics",
    tag = "incidents",
    operation_id = "request_diagnostic",
    request_body = NewDiagnostic,
    security(("bearer" = ["helpdesk"])),
    responses(
        (status = 201, description = "The request, signed and stored; poll it by id for the result.", body = DiagnosticView),
        (status = 400, description = "The body does not parse, the action is unknown or an argument is not valid (named), or neither or both of `host` and `agent` were given.", body = ErrorBody),
        (status = 404, description = "No such host, agent or incident.", body = ErrorBody),
        (status = 409, description = "The agent was revoked.", body = ErrorBody),
        (status = 503, description = "This collector cannot sign diagnostic orders.", body = ErrorBody),
    ),
)]
async fn request(
    State(state): State<ApiState>,
    caller: Caller,
    body: Result<Json<NewDiagnostic>, JsonRejection>,
) -> ApiResult<Response> {
    caller.require(Role::Helpdesk)?;
    let Json(new) = body?;
    let action = Action::parse(&new.action, &new.args)
        .map_err(|e| ApiError::bad("action", e.to_string()))?;
    let expires_in = new.expires_in_seconds.unwrap_or(DEFAULT_EXPIRES_SECONDS);
    if expires_in == 0 || i64::from(expires_in) > MAX_VALIDITY_SECONDS {
        return Err(ApiError::bad(
            "expires_in_seconds",
            format!("expected a whole number of seconds from 1 to {MAX_VALIDITY_SECONDS}"),
        ));
    }
    let (agent, asset) = match (new.host, new.agent) {
        (Some(host), None) => {
            let asset = resolve_asset(&state, host.clone()).await?;
            let agents = &asset.meta.agent_ids;
            let agent = agents
                .iter()
                .rev()
                .find(|a| state.admin.is_connected(a))
                .or(agents.last())
                .cloned()
                .ok_or_else(|| {
                    ApiError::NotFound(format!("`{host}` has no agent to run diagnostics"))
                })?;
            (agent, Some((asset.meta.id, asset.meta.hostname)))
        }
        (None, Some(agent)) => {
            let a = agent.clone();
            let asset = blocking(&state, move |s| {
                let Some(id) = s.agent_asset_id(&a)? else {
                    return Ok(None);
                };
                let hostname = s.asset(&id)?.map(|a| a.meta.hostname).unwrap_or_default();
                Ok(Some((id, hostname)))
            })
            .await?;
            (agent, asset)
        }
        _ => {
            return Err(ApiError::bad(
                "host",
                "give either `host` (a host name or asset id) or `agent`",
            ));
        }
    };
    let a = agent.clone();
    let known = blocking(&state, move |s| s.agent(&a)).await?;
    match known {
        None => return Err(ApiError::NotFound(format!("no agent `{agent}`"))),
        Some(rec) if rec.revoked_at.is_some() => {
            return Err(ApiError::Conflict(format!("agent `{agent}` was revoked")));
        }
        Some(_) => {}
    }
    if let Some(id) = new.incident {
        let found = blocking(&state, move |s| s.incident(id)).await?;
        if found.is_none() {
            return Err(ApiError::NotFound(format!("no incident {id}")));
        }
    }
    let id = blocking(&state, |s| s.next_diagnostic_id()).await?;
    let now = Timestamp::now();
    let order = DiagOrder {
        id,
        agent_id: agent.clone(),
        requested_by: caller.0.name.clone(),
        incident: new.incident,
        action,
        issued_at: now,
        expires_at: Timestamp(now.0 + i64::from(expires_in) * 1000),
    };
    let signature = state.admin.sign(&order.signed_bytes()).map_err(|e| {
        tracing::error!(error = %e, "cannot sign a diagnostic order");
        ApiError::Unavailable("this collector cannot sign diagnostic orders")
    })?;
    let (asset, hostname) = asset.unzip();
    let rec = DiagnosticRecord {
        order,
        signature,
        asset,
        hostname,
        sent_at: None,
        result: None,
    };
    let stored = rec.clone();
    blocking(&state, move |s| s.add_diagnostic(&stored)).await?;
    state.admin.diagnostics_requested(&agent);
    tracing::info!(id = %rec.order.id, agent = %agent, action = %rec.order.action, incident = ?rec.order.incident, by = %caller.0.id, "diagnostic requested");
    Ok((StatusCode::CREATED, Json(view(&rec, now))).into_response())
}

/// One diagnostic request: its state and, once it came, its result.
#[utoipa::path(
    get,
    path = "/api/v1/diagnostics/{id}",
    tag = "incidents",
    operation_id = "get_diagnostic",
    params(("id" = String, Path, description = "The request id, e.g. `d-12`.")),
    security(("bearer" = ["viewer"])),
    responses(
        (status = 200, description = "The request.", body = DiagnosticView),
        (status = 404, description = "No request has that id.", body = ErrorBody),
    ),
)]
async fn show(
    State(state): State<ApiState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    caller.require(Role::Viewer)?;
    let key = id.clone();
    let rec = blocking(&state, move |s| s.diagnostic(&key))
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("no diagnostic request `{id}`")))?;
    Ok(Json(view(&rec, Timestamp::now())).into_response())
}

/// Which requests to list.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    /// The machine: host name or asset id.
    pub host: Option<String>,
    /// Or its agent id.
    pub agent: Option<String>,
    /// At most this many, newest first (default 100, at most 1000).
    pub limit: Option<String>,
}

/// The diagnostic requests made to a machine, newest first.
#[utoipa::path(
    get,
    path = "/api/v1/diagnostics",
    tag = "incidents",
    operation_id = "list_diagnostics",
    params(ListQuery),
    security(("bearer" = ["viewer"])),
    responses(
        (status = 200, description = "The requests, newest first.", body = Vec<DiagnosticView>),
        (status = 400, description = "Neither `host` nor `agent` was given, or `limit` is not valid.", body = ErrorBody),
        (status = 404, description = "No such host.", body = ErrorBody),
    ),
)]
async fn list(
    State(state): State<ApiState>,
    caller: Caller,
    query: Result<Query<ListQuery>, QueryRejection>,
) -> ApiResult<Response> {
    caller.require(Role::Viewer)?;
    let Query(q) = query?;
    let limit = super::parse_limit(q.limit.as_deref())?;
    let agents = match (q.host, q.agent) {
        (_, Some(agent)) => vec![agent],
        (Some(host), None) => resolve_asset(&state, host).await?.meta.agent_ids,
        (None, None) => {
            return Err(ApiError::bad(
                "host",
                "give `host` (a host name or asset id) or `agent`",
            ));
        }
    };
    let mut all = blocking(&state, move |s| {
        let mut all = Vec::new();
        for agent in &agents {
            all.extend(s.diagnostics_of(agent, limit)?);
        }
        Ok(all)
    })
    .await?;
    all.sort_by_key(|r| std::cmp::Reverse(r.order.issued_at));
    all.truncate(limit);
    let now = Timestamp::now();
    let views: Vec<DiagnosticView> = all.iter().map(|r| view(r, now)).collect();
    Ok(Json(views).into_response())
}
