//! Agent administration, admin role only: the enrolled agents with their
//! connection status, and revocation (which also closes the agent's open
//! QUIC connection).

use std::time::Duration;

use atalaya_common::model::Timestamp;
use atalaya_common::token::hex;
use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::{ApiError, ApiResult, ApiState, Caller, ErrorBody, blocking};
use crate::screen::ClockSkew;
use crate::store::{AgentRecord, Role};

/// The agent routes, to merge into the API router.
pub(super) fn routes() -> OpenApiRouter<ApiState> {
    OpenApiRouter::new()
        .routes(routes!(list_agents))
        .routes(routes!(revoke_agent))
}

/// An agent as listed (certificate fingerprint instead of the PEM).
#[derive(Debug, Serialize, Deserialize, ToSchema)]
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
    #[schema(value_type = String, example = "connected")]
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
pub fn agent_status(
    a: &AgentRecord,
    connected: bool,
    silent_after: Duration,
    now: Timestamp,
) -> &'static str {
    status_of(a.revoked_at, a.last_seen, connected, silent_after, now)
}

/// [`agent_status`] of an agent revoked at `revoked_at` and last heard at
/// `last_seen`.
pub fn status_of(
    revoked_at: Option<Timestamp>,
    last_seen: Option<Timestamp>,
    connected: bool,
    silent_after: Duration,
    now: Timestamp,
) -> &'static str {
    let heard = last_seen.map(|t| now.0.saturating_sub(t.0));
    let silent_ms = i64::try_from(silent_after.as_millis()).unwrap_or(i64::MAX);
    match (revoked_at, heard) {
        (Some(_), _) => "revoked",
        (None, None) => "never_seen",
        (None, Some(ms)) if ms > silent_ms => "silent",
        (None, Some(_)) if connected => "connected",
        (None, Some(_)) => "disconnected",
    }
}

/// The enrolled agents with their connection status.
#[utoipa::path(
    get,
    path = "/api/v1/agents",
    tag = "agents",
    security(("bearer" = ["admin"])),
    responses(
        (status = 200, description = "Every enrolled agent.", body = Vec<AgentView>),
    ),
)]
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

/// Revokes an agent's certificate and closes its open connection.
#[utoipa::path(
    post,
    path = "/api/v1/agents/{id}/revoke",
    tag = "agents",
    params(("id" = String, Path, description = "The agent's id.")),
    security(("bearer" = ["admin"])),
    responses(
        (status = 204, description = "Revoked."),
        (status = 404, description = "No agent has that id.", body = ErrorBody),
    ),
)]
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

#[cfg(test)]
mod tests {
    use super::*;

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
}
