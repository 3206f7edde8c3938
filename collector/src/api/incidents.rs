//! Incident routes: lists, details (with whom to call about the asset:
//! the suppliers of the contracts covering it), help-desk actions
//! (including a case opened with a supplier), the SLA report and rule
//! reloads. Viewers read; help desk acts; admins reload rules.

use atalaya_common::model::Timestamp;
use axum::Json;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::{ApiError, ApiResult, ApiState, Caller, ErrorBody, blocking, resolve_asset};
use crate::desk::devices_file::Applied;
use crate::desk::kb::KbError;
use crate::desk::suppliers;
use crate::desk::{ActError, DeskStore, ReloadError, Reloaded, StaffError};
use crate::helpers::day::Day;
use crate::incidents::lifecycle::StaffAction;
use crate::incidents::report::SlaReport;
use crate::records::incident::{IncidentRecord, Status, SupplierCase};
use crate::store::{IncidentFilter, Role};
use crate::suppliers::reports::SupplierContact;

/// The incident routes, to merge into the API router.
pub(super) fn routes() -> OpenApiRouter<ApiState> {
    OpenApiRouter::new()
        .routes(routes!(list))
        .routes(routes!(show))
        .routes(routes!(act))
        .routes(routes!(sla))
        .routes(routes!(reload_rules))
}

/// Query of `GET /api/v1/incidents`.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
struct ListQuery {
    /// `open`, `acknowledged`, `resolved`, `closed`, or `active` (open or
    /// acknowledged); default: all.
    #[param(pattern = "^(open|acknowledged|ack|resolved|closed|active)$")]
    status: Option<String>,
    /// Only this asset's incidents (asset id or host name).
    asset: Option<String>,
}

/// The incidents, filtered by status and asset.
#[utoipa::path(
    get,
    path = "/api/v1/incidents",
    tag = "incidents",
    operation_id = "list_incidents",
    params(ListQuery),
    security(("bearer" = ["viewer"])),
    responses(
        (status = 200, description = "The matching incidents.", body = Vec<IncidentRecord>),
        (status = 400, description = "`status` is not a status, or an unknown parameter was given.", body = ErrorBody),
        (status = 404, description = "`asset` names no asset.", body = ErrorBody),
    ),
)]
async fn list(
    State(state): State<ApiState>,
    caller: Caller,
    q: Result<Query<ListQuery>, QueryRejection>,
) -> ApiResult<Response> {
    caller.require(Role::Viewer)?;
    let Query(q) = q?;
    let (status, active) = match q.status.as_deref().filter(|s| !s.is_empty()) {
        None => (None, false),
        Some("active") => (None, true),
        Some(s) => (
            Some(Status::from_name(s).ok_or_else(|| {
                ApiError::bad(
                    "status",
                    format!("`{s}` is not one of open, acknowledged, resolved, closed, active"),
                )
            })?),
            false,
        ),
    };
    let asset = match q.asset.filter(|a| !a.is_empty()) {
        None => None,
        Some(a) => Some(resolve_asset(&state, a).await?.meta.id),
    };
    let filter = IncidentFilter {
        status,
        active,
        asset,
        ..IncidentFilter::default()
    };
    let list = blocking(&state, move |s| s.incidents(&filter)).await?;
    Ok(Json(list).into_response())
}

fn parse_id(id: &str) -> ApiResult<u64> {
    id.trim_start_matches('#')
        .parse()
        .map_err(|_| ApiError::bad("id", format!("`{id}` is not an incident number")))
}

/// One incident with its timeline and SLA clocks.
#[utoipa::path(
    get,
    path = "/api/v1/incidents/{id}",
    tag = "incidents",
    operation_id = "show_incident",
    params(("id" = String, Path, description = "The incident's number, e.g. `42` or `#42`.")),
    security(("bearer" = ["viewer"])),
    responses(
        (status = 200, description = "The incident, with the contracts in force covering its asset (whom to call).", body = IncidentView),
        (status = 400, description = "`id` is not an incident number.", body = ErrorBody),
        (status = 404, description = "No incident has that number.", body = ErrorBody),
    ),
)]
async fn show(
    State(state): State<ApiState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    caller.require(Role::Viewer)?;
    let id = parse_id(&id)?;
    let today = Day::of_ms_saturating(Timestamp::now().0);
    let (incident, supplier_contracts) = blocking(&state, move |s| {
        let Some(rec) = s.incident(id)? else {
            return Ok((None, Vec::new()));
        };
        let contacts = suppliers::incident_contacts(s, &rec.asset, &rec.subject, today)?;
        Ok((Some(rec), contacts))
    })
    .await?;
    let incident = incident.ok_or_else(|| ApiError::NotFound(format!("no incident {id}")))?;
    Ok(Json(IncidentView {
        incident,
        supplier_contracts,
    })
    .into_response())
}

/// An incident as `GET /api/v1/incidents/{id}` answers it: the stored
/// incident, and whom to call about its asset.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct IncidentView {
    /// The incident.
    #[serde(flatten)]
    pub incident: IncidentRecord,
    /// The contracts in force covering its asset, with the supplier's
    /// contacts and promised times, the quickest response first.
    #[serde(default)]
    pub supplier_contracts: Vec<SupplierContact>,
}

/// The body of an action; which fields count depends on the action.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = IncidentActionBody)]
struct ActBody {
    /// `assign`: who takes it.
    assignee: Option<String>,
    /// `note`: the note.
    text: Option<String>,
    /// A note the person who reported the incident reads too.
    #[serde(default)]
    public: bool,
    /// `resolve`: the solution, in words.
    solution: Option<String>,
    /// When resolving: the KB article that solved it (confirmed, solved + 1).
    kb_article: Option<u64>,
    /// `supplier`: the supplier the case was opened with (a known one)…
    supplier: Option<String>,
    /// …and the supplier's case number.
    case: Option<String>,
}

/// A help-desk action on an incident: `ack`, `assign`, `note`,
/// `escalate`, `supplier`, `resolve`, `close` or `reopen`.
///
/// `assign` needs `assignee`, `note` needs `text` and `supplier` needs
/// `supplier` and `case` in the body; `resolve`
/// takes an optional `solution` and `kb_article`; the others need no body.
#[utoipa::path(
    post,
    path = "/api/v1/incidents/{id}/{action}",
    tag = "incidents",
    operation_id = "act_on_incident",
    params(
        ("id" = String, Path, description = "The incident's number, e.g. `42` or `#42`."),
        ("action" = String, Path, pattern = "^(ack|assign|note|escalate|supplier|resolve|close|reopen)$", description = "The action."),
    ),
    request_body = Option<ActBody>,
    security(("bearer" = ["helpdesk"])),
    responses(
        (status = 200, description = "The incident after the action.", body = IncidentRecord),
        (status = 400, description = "`id` is not a number, the body does not parse, or a field the action needs is missing or wrong (named).", body = ErrorBody),
        (status = 404, description = "No incident has that number, or no action has that name.", body = ErrorBody),
        (status = 409, description = "The action does not fit the incident's state (e.g. closing an open incident).", body = ErrorBody),
        (status = 503, description = "The incident desk is not running.", body = ErrorBody),
    ),
)]
async fn act(
    State(state): State<ApiState>,
    caller: Caller,
    Path((id, verb)): Path<(String, String)>,
    body: axum::body::Bytes,
) -> ApiResult<Response> {
    caller.require(Role::Helpdesk)?;
    let id = parse_id(&id)?;
    // The body is optional (ack, escalate, close, reopen need none).
    let body: ActBody = if body.iter().all(u8::is_ascii_whitespace) {
        ActBody::default()
    } else {
        serde_json::from_slice(&body)
            .map_err(|e| ApiError::BadRequest(format!("the JSON body does not parse: {e}")))?
    };
    let nonempty = |v: Option<String>| v.map(|s| s.trim().to_owned()).filter(|s| !s.is_empty());
    let action = match verb.as_str() {
        "ack" => StaffAction::Ack,
        "assign" => StaffAction::Assign(
            nonempty(body.assignee)
                .ok_or_else(|| ApiError::bad("assignee", "give who takes it"))?,
        ),
        "note" => {
            let text =
                nonempty(body.text).ok_or_else(|| ApiError::bad("text", "the note is empty"))?;
            if body.public {
                StaffAction::PublicNote(text)
            } else {
                StaffAction::Note(text)
            }
        }
        "escalate" => StaffAction::Escalate,
        "supplier" => {
            let name = nonempty(body.supplier)
                .ok_or_else(|| ApiError::bad("supplier", "name the supplier"))?;
            let case = nonempty(body.case)
                .ok_or_else(|| ApiError::bad("case", "give the supplier's case number"))?;
            let (_, supplier) = super::suppliers::known_supplier(&state, &name).await?;
            StaffAction::SupplierCase(SupplierCase { supplier, case })
        }
        "resolve" => StaffAction::Resolve(nonempty(body.solution)),
        "close" => StaffAction::Close,
        "reopen" => StaffAction::Reopen,
        other => {
            return Err(ApiError::NotFound(format!(
                "no incident action `{other}`; use ack, assign, note, escalate, supplier, resolve, close or reopen"
            )));
        }
    };
    let kb_article = body.kb_article;
    let desk = state
        .desk
        .clone()
        .ok_or(ApiError::Unavailable("the incident desk is not running"))?;
    let author = caller.0.name.clone();
    let result = tokio::task::spawn_blocking(move || {
        desk.staff(id, &action, kb_article, &author, Timestamp::now())
    })
    .await
    .map_err(|e| ApiError::Internal(format!("incident task: {e}")))?;
    match result {
        Ok(rec) => {
            tracing::info!(incident = id, action = %verb, by = %caller.0.id, "incident action");
            Ok(Json(rec).into_response())
        }
        Err(ActError::Staff(StaffError::NotFound(id))) => {
            Err(ApiError::NotFound(format!("no incident {id}")))
        }
        Err(ActError::Staff(StaffError::Conflict(e))) => Err(ApiError::Conflict(e.to_string())),
        Err(ActError::Staff(StaffError::Store(e)) | ActError::Kb(KbError::Store(e))) => {
            Err(ApiError::Store(e))
        }
        Err(ActError::Kb(e)) => Err(ApiError::bad("kb_article", e.to_string())),
        Err(ActError::Invalid(msg)) => Err(ApiError::bad("kb_article", msg)),
    }
}

/// The SLA report: per priority, how many incidents met their acknowledge
/// and resolve targets, and the mean times.
#[utoipa::path(
    get,
    path = "/api/v1/sla",
    tag = "incidents",
    operation_id = "sla_report",
    security(("bearer" = ["viewer"])),
    responses(
        (status = 200, description = "The SLA report now.", body = SlaReport),
    ),
)]
async fn sla(State(state): State<ApiState>, caller: Caller) -> ApiResult<Response> {
    caller.require(Role::Viewer)?;
    let report = blocking(&state, |s| s.sla_report(Timestamp::now())).await?;
    Ok(Json(report).into_response())
}

/// What `POST /api/v1/rules/reload` answers.
#[derive(Debug, Serialize, ToSchema)]
pub struct ReloadAnswer {
    /// What the reload of rules and SLA policies put in force.
    #[serde(flatten)]
    pub reloaded: Reloaded,
    /// The devices file, read on the same reload: what applying it did,
    /// why it was refused (its devices stay as they were), or `null` when
    /// the collector has none.
    pub devices: Option<DevicesReload>,
    /// The agent policies of the configuration file, read on the same
    /// reload: those in force with their versions, why they were refused
    /// (the running ones stay), or `null` without a configuration file.
    pub agent_policies: Option<PoliciesReload>,
}

/// What reading the agent policies again did.
#[derive(Debug, Serialize, ToSchema)]
#[serde(untagged)]
pub enum PoliciesReload {
    /// They are in force.
    Applied {
        /// Every policy with its version.
        policies: Vec<PolicyVersionView>,
    },
    /// They were refused.
    Refused {
        /// Every problem of the file.
        refused: String,
    },
}

/// A policy and its version.
#[derive(Debug, Serialize, ToSchema)]
pub struct PolicyVersionView {
    /// The policy's name.
    pub name: String,
    /// Its version (one more at each change of what it says).
    pub version: u64,
}

/// What reading the devices file again did.
#[derive(Debug, Serialize, ToSchema)]
#[serde(untagged)]
pub enum DevicesReload {
    /// It was applied.
    Applied(Applied),
    /// It was refused.
    Refused {
        /// Every problem of the file.
        refused: String,
    },
}

/// Reads the incident rules, the SLA policies and the devices file again
/// and puts them in force.
#[utoipa::path(
    post,
    path = "/api/v1/rules/reload",
    tag = "incidents",
    security(("bearer" = ["admin"])),
    responses(
        (status = 200, description = "What is in force now.", body = ReloadAnswer),
        (status = 400, description = "The rules or SLA policies are not valid (every error listed); the running ones stay.", body = ErrorBody),
        (status = 503, description = "The incident desk is not running.", body = ErrorBody),
    ),
)]
async fn reload_rules(State(state): State<ApiState>, caller: Caller) -> ApiResult<Response> {
    caller.require(Role::Admin)?;
    let desk = state
        .desk
        .clone()
        .ok_or(ApiError::Unavailable("the incident desk is not running"))?;
    let result = tokio::task::spawn_blocking(move || desk.reload(Timestamp::now()))
        .await
        .map_err(|e| ApiError::Internal(format!("reload task: {e}")))?;
    match result {
        Ok(done) => {
            tracing::info!(rules = done.rules, sla_policies = done.sla_policies, by = %caller.0.id, "incident rules and SLA policies reloaded");
            // The devices file is read on the same reload, apart: its
            // errors keep its devices as they were, not the rules.
            let admin = state.admin.clone();
            let devices = tokio::task::spawn_blocking(move || admin.reload_devices())
                .await
                .map_err(|e| ApiError::Internal(format!("reload task: {e}")))?;
            let devices = match devices {
                Ok(applied) => applied.map(DevicesReload::Applied),
                Err(refused) => Some(DevicesReload::Refused { refused }),
            };
            // The agent policies too, apart, for the same reason.
            let admin = state.admin.clone();
            let agent_policies = tokio::task::spawn_blocking(move || admin.reload_agent_policies())
                .await
                .map_err(|e| ApiError::Internal(format!("reload task: {e}")))?;
            let agent_policies = match agent_policies {
                Ok(applied) => applied.map(|list| PoliciesReload::Applied {
                    policies: list
                        .into_iter()
                        .map(|(name, version)| PolicyVersionView { name, version })
                        .collect(),
                }),
                Err(refused) => Some(PoliciesReload::Refused { refused }),
            };
            Ok(Json(ReloadAnswer {
                reloaded: done,
                devices,
                agent_policies,
            })
            .into_response())
        }
        Err(e @ ReloadError::Invalid { .. }) => Err(ApiError::BadRequest(format!(
            "refused; the running rules and SLA policies stay:\n{e}"
        ))),
        Err(ReloadError::Store(e)) => Err(ApiError::Store(e)),
    }
}
