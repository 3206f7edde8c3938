//! Incident routes: lists, details (with whom to call about the asset:
//! the suppliers of the contracts covering it), help-desk actions
//! (including a case opened with a supplier), the SLA report and rule
//! reloads. Viewers read; help desk acts; admins reload rules.

use atalaya_common::model::Timestamp;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};

use super::{ApiError, ApiResult, ApiState, Caller, blocking, resolve_asset};
use crate::desk::kb::KbError;
use crate::desk::suppliers;
use crate::desk::{ActError, DeskStore, ReloadError, StaffError};
use crate::helpers::day::Day;
use crate::incidents::lifecycle::StaffAction;
use crate::records::incident::{IncidentRecord, Status, SupplierCase};
use crate::records::supplier::supplier_key;
use crate::store::{IncidentFilter, Role};
use crate::suppliers::reports::SupplierContact;

/// The incident routes, to merge into the API router.
pub(super) fn routes() -> Router<ApiState> {
    Router::new()
        .route("/api/v1/incidents", get(list))
        .route("/api/v1/incidents/{id}", get(show))
        .route("/api/v1/incidents/{id}/{action}", post(act))
        .route("/api/v1/sla", get(sla))
        .route("/api/v1/rules/reload", post(reload_rules))
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct ListQuery {
    status: Option<String>,
    asset: Option<String>,
}

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
        let contacts = suppliers::asset_contacts(s, &rec.asset, today)?;
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
#[derive(Debug, Clone, Serialize, Deserialize)]
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
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct ActBody {
    assignee: Option<String>,
    text: Option<String>,
    /// A note the person who reported the incident reads too.
    #[serde(default)]
    public: bool,
    solution: Option<String>,
    /// When resolving: the KB article that solved it (confirmed, solved + 1).
    kb_article: Option<u64>,
    /// A case opened with a supplier: the supplier's name…
    supplier: Option<String>,
    /// …and its case number.
    case: Option<String>,
}

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
            let book = blocking(&state, |s| s.supplier_book()).await?;
            let Some(known) = book
                .suppliers
                .iter()
                .find(|s| supplier_key(&s.name) == supplier_key(&name))
            else {
                return Err(ApiError::bad(
                    "supplier",
                    format!("`{name}` is not a known supplier"),
                ));
            };
            StaffAction::SupplierCase(SupplierCase {
                supplier: known.name.clone(),
                case,
            })
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

async fn sla(State(state): State<ApiState>, caller: Caller) -> ApiResult<Response> {
    caller.require(Role::Viewer)?;
    let report = blocking(&state, |s| s.sla_report(Timestamp::now())).await?;
    Ok(Json(report).into_response())
}

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
            let mut body = serde_json::to_value(&done)
                .map_err(|e| ApiError::Internal(format!("reload answer: {e}")))?;
            body["devices"] = match devices {
                Ok(applied) => serde_json::to_value(applied).unwrap_or_default(),
                Err(errors) => serde_json::json!({ "refused": errors }),
            };
            Ok(Json(body).into_response())
        }
        Err(e @ ReloadError::Invalid { .. }) => Err(ApiError::BadRequest(format!(
            "refused; the running rules and SLA policies stay:\n{e}"
        ))),
        Err(ReloadError::Store(e)) => Err(ApiError::Store(e)),
    }
}
