//! Agent administration, admin role only: the enrolled agents with their
//! connection status, the agent policy each runs, and revocation (which
//! also closes the agent's open QUIC connection).

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
        .routes(routes!(agent_policies))
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

/// Who runs what of the agent policies: per agent, the policies the
/// collector would give it now and those it says it runs.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct AgentPolicyView {
    /// Agent id.
    pub id: String,
    /// Host name of its asset (else the one given at enrollment).
    pub hostname: String,
    /// Connection status, as in the agent list.
    pub status: String,
    /// `name vN` of each policy that selects it now, most specific first.
    pub wanted: Vec<String>,
    /// `name vN` of each policy it says it runs; `null` when it never said
    /// (never connected since, or a version without agent policies).
    pub running: Option<Vec<String>>,
    /// Whether it runs what it is to run.
    pub in_sync: bool,
    /// Keys its own file sets, which win over the policies.
    pub pinned: Vec<PinnedKey>,
    /// Keys of the policies it refused, with why.
    pub refused: Vec<RefusedKey>,
    /// Every setting's value in force on the agent, as it said.
    pub effective: Vec<SettingView>,
    /// When it last said.
    pub reported_at: Option<Timestamp>,
}

/// A key an agent's own file sets.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct PinnedKey {
    /// `section.key`.
    pub key: String,
    /// The file's value (in force).
    pub local: String,
    /// What the policies say (`null`: they do not set it).
    pub policy: Option<String>,
}

/// A key an agent refused.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct RefusedKey {
    /// `section.key`.
    pub key: String,
    /// Why.
    pub reason: String,
}

/// A setting and its value.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct SettingView {
    /// `section.key`.
    pub key: String,
    /// Its value, as in a configuration file.
    pub value: String,
}

/// `name vN` of each `(policy, version)`.
pub fn versions(list: &[(String, u64)]) -> Vec<String> {
    list.iter().map(|(n, v)| format!("{n} v{v}")).collect()
}

/// Who runs what of the agent policies.
#[utoipa::path(
    get,
    path = "/api/v1/agents/policy",
    tag = "agents",
    security(("bearer" = ["admin"])),
    responses(
        (status = 200, description = "Every enrolled agent and its policy.", body = Vec<AgentPolicyView>),
    ),
)]
async fn agent_policies(State(state): State<ApiState>, caller: Caller) -> ApiResult<Response> {
    caller.require(Role::Admin)?;
    let (agents, reports, selectors) = blocking(&state, |s| {
        let mut agents = s.list_agents()?;
        agents.retain(|a| a.revoked_at.is_none());
        let reports = s.policy_reports()?;
        let selectors = agents
            .iter()
            .map(|a| s.probe_selector(&a.id).map(Option::unwrap_or_default))
            .collect::<Result<Vec<_>, _>>()?;
        Ok((agents, reports, selectors))
    })
    .await?;
    let reports: std::collections::HashMap<String, _> = reports.into_iter().collect();
    let now = Timestamp::now();
    let silent_after = state.admin.silent_after();
    let views: Vec<AgentPolicyView> = agents
        .into_iter()
        .zip(selectors)
        .map(|(a, selector)| {
            let wanted = state
                .admin
                .agent_policy_for(&selector.hostname, &selector.tags);
            let report = reports.get(&a.id);
            let pinned = report.map_or_else(Vec::new, |r| {
                r.pinned
                    .iter()
                    .map(|(key, local)| PinnedKey {
                        key: key.clone(),
                        local: local.to_string(),
                        policy: wanted
                            .settings
                            .iter()
                            .find(|(k, _)| k == key)
                            .map(|(_, v)| v.to_string()),
                    })
                    .collect()
            });
            AgentPolicyView {
                status: agent_status(&a, state.admin.is_connected(&a.id), silent_after, now)
                    .to_owned(),
                id: a.id,
                hostname: selector.hostname,
                in_sync: report.is_some_and(|r| r.policies == wanted.policies),
                wanted: versions(&wanted.policies),
                running: report.map(|r| versions(&r.policies)),
                pinned,
                refused: report.map_or_else(Vec::new, |r| {
                    r.refused
                        .iter()
                        .map(|(key, reason)| RefusedKey {
                            key: key.clone(),
                            reason: reason.clone(),
                        })
                        .collect()
                }),
                effective: report.map_or_else(Vec::new, |r| {
                    r.effective
                        .iter()
                        .map(|(key, value)| SettingView {
                            key: key.clone(),
                            value: value.to_string(),
                        })
                        .collect()
                }),
                reported_at: report.map(|r| r.reported_at),
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
