//! Network devices: listed, shown with their inventory and interfaces,
//! added, changed and removed (admin role; viewer role to read), one row
//! per interface across devices, the traps devices sent (their events),
//! and discoveries (admin role to ask for one and add what it found;
//! viewer role to read it).
//!
//! Two devices that are one box share one asset: the one merged into the
//! other's says `same_as`, and its interfaces are listed once, under the
//! device that writes the asset.
//!
//! Credentials are write-only: a device is added with its community or
//! passwords, and no answer ever carries them back (a view names the SNMP
//! version, the v3 user and protocols, never a secret).

use atalaya_common::model::Timestamp;
use atalaya_common::model::device::{
    AuthProtocol, Credentials, DeviceInventory, DeviceState, Neighbour, OperStatus, PaperTray,
    PrivProtocol, series,
};
use axum::Json;
use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::{ApiError, ApiResult, ApiState, Caller, ErrorBody, blocking};
use crate::desk::devices::{self, DeviceError, DeviceUpdate, NewDevice, NewDiscovery};
use crate::records::device::{
    DeviceChange, DeviceEvent, DeviceRecord, DiscoveryEnd, DiscoveryRecord, device_asset_id,
};
use crate::store::{Role, Store, StoreError};

/// The device routes, to merge into the API router.
pub(super) fn routes() -> OpenApiRouter<ApiState> {
    OpenApiRouter::new()
        .routes(routes!(list, add))
        .routes(routes!(discover))
        .routes(routes!(discovery))
        .routes(routes!(add_discovered))
        .routes(routes!(show, remove, update))
        .routes(routes!(events))
        .routes(routes!(interfaces))
        .routes(routes!(traps))
}

/// Events shown with a device unless asked for more.
pub const DETAIL_EVENTS: usize = 10;
/// Events a list gives unless asked otherwise, and the most it gives.
const DEFAULT_EVENTS: usize = 100;
const MAX_EVENTS: usize = 10_000;

/// A device as listed: no credentials.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct DeviceView {
    /// Its name.
    pub name: String,
    /// Its asset id (`device:<name>`), for `atalaya metrics`.
    pub asset_id: String,
    /// Host name or address.
    pub address: String,
    /// UDP port.
    pub port: u16,
    /// `v1`, `v2c` or `v3`.
    pub version: String,
    /// For v3: user, security level and protocols (never a password).
    pub security: Option<String>,
    /// Seconds between polls.
    pub poll_interval_seconds: u32,
    /// The agent that polls it.
    pub poller: String,
    /// How the last poll went.
    pub state: DeviceState,
    /// The same, said in a sentence.
    pub state_text: String,
    /// When the last poll started.
    pub last_poll_at: Option<Timestamp>,
    /// Time to the device's first answer, ms.
    pub response_ms: Option<u32>,
    /// `sysName`.
    pub sys_name: Option<String>,
    /// Vendor, from the enterprise number of `sysObjectID`.
    pub vendor: Option<String>,
    /// First line of `sysDescr`.
    pub model: Option<String>,
    /// Interfaces whose status is up.
    pub interfaces_up: usize,
    /// Interfaces administratively up but not operationally.
    pub interfaces_down: usize,
    /// Every interface.
    pub interfaces: usize,
    /// The device whose asset this one shares, when it was found to be the
    /// same box (its values and inventory are that device's).
    #[serde(default)]
    pub same_as: Option<String>,
    /// What showed it is the same box, e.g. `serial FDO1234`.
    #[serde(default)]
    pub same_as_evidence: Option<String>,
}

/// One device in full: its view, inventory, interfaces and changes.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct DeviceDetail {
    /// The device.
    pub device: DeviceView,
    /// Its current inventory.
    pub inventory: Option<DeviceInventory>,
    /// Its interfaces with their latest rates.
    pub interfaces: Vec<InterfaceRow>,
    /// Changes of its inventory and neighbours, oldest first.
    pub changes: Vec<DeviceChange>,
    /// The LLDP and CDP neighbours it reported last.
    #[serde(default)]
    pub neighbours: Vec<Neighbour>,
    /// A printer's paper trays, as it reported them last.
    #[serde(default)]
    pub trays: Vec<PaperTray>,
    /// Its latest events (traps), newest first.
    pub events: Vec<DeviceEvent>,
}

/// One interface of one device, with its latest rates.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct InterfaceRow {
    /// The device.
    pub device: String,
    /// `ifIndex`.
    pub if_index: u32,
    /// `ifName`.
    pub name: String,
    /// `ifAlias`.
    pub alias: String,
    /// Bits per second.
    pub speed_bps: Option<u64>,
    /// Administratively up.
    pub admin_up: bool,
    /// Operational status.
    pub oper_status: OperStatus,
    /// Bits received per second.
    pub in_bps: Option<f64>,
    /// Bits sent per second.
    pub out_bps: Option<f64>,
    /// Received, percent of speed.
    pub in_utilisation_percent: Option<f64>,
    /// Sent, percent of speed.
    pub out_utilisation_percent: Option<f64>,
    /// Errors per second, both ways.
    pub errors_per_second: Option<f64>,
    /// Discards per second, both ways.
    pub discards_per_second: Option<f64>,
    /// The neighbours reported on it (LLDP or CDP), as `name (port)`.
    #[serde(default)]
    pub neighbour: Option<String>,
}

/// The sentence for a device's state.
pub fn state_text(rec: &DeviceRecord) -> String {
    let s = &rec.spec;
    let Some(poll) = rec.last_poll else {
        return "not polled yet".into();
    };
    let at = format!("{}:{}", s.address, s.port);
    match poll.state {
        DeviceState::Ok => match poll.response_ms {
            Some(ms) => format!("answered in {ms} ms"),
            None => "answered".into(),
        },
        DeviceState::Unpolled => "not polled yet".into(),
        DeviceState::Timeout => format!(
            "no answer from {at} after {} tries of {} s",
            u64::from(s.retries) + 1,
            seconds(s.timeout_ms)
        ),
        DeviceState::Unresolved => format!("the address {} does not resolve", s.address),
        DeviceState::NetworkError => format!("the request could not be sent to {at}"),
        other => other.meaning().to_owned(),
    }
}

fn seconds(ms: u32) -> String {
    if ms.is_multiple_of(1000) {
        format!("{}", ms / 1000)
    } else {
        format!("{:.1}", f64::from(ms) / 1000.0)
    }
}

fn auth_name(p: AuthProtocol) -> &'static str {
    match p {
        AuthProtocol::Md5 => "md5",
        AuthProtocol::Sha1 => "sha",
        AuthProtocol::Sha224 => "sha224",
        AuthProtocol::Sha256 => "sha256",
        AuthProtocol::Sha384 => "sha384",
        AuthProtocol::Sha512 => "sha512",
    }
}

fn priv_name(p: PrivProtocol) -> &'static str {
    match p {
        PrivProtocol::Des => "des",
        PrivProtocol::Aes128 => "aes",
        PrivProtocol::Aes192 => "aes192",
        PrivProtocol::Aes256 => "aes256",
    }
}

/// Version and, for v3, the security without its secrets.
fn security(c: &Credentials) -> (String, Option<String>) {
    match c {
        Credentials::V1 { .. } => ("v1".into(), None),
        Credentials::V2c { .. } => ("v2c".into(), None),
        Credentials::V3 {
            user,
            auth,
            privacy,
        } => {
            let level = match (auth, privacy) {
                (None, _) => "noAuthNoPriv".to_owned(),
                (Some((a, _)), None) => format!("authNoPriv {}", auth_name(*a)),
                (Some((a, _)), Some((p, _))) => {
                    format!("authPriv {}/{}", auth_name(*a), priv_name(*p))
                }
            };
            ("v3".into(), Some(format!("user {user}, {level}")))
        }
    }
}

/// The view of a device with its inventory.
pub fn view(rec: &DeviceRecord, inv: Option<&DeviceInventory>) -> DeviceView {
    let (version, security) = security(&rec.spec.credentials);
    let ifs = inv.map(|i| i.interfaces.as_slice()).unwrap_or_default();
    let nonempty = |s: &str| (!s.is_empty()).then(|| s.to_owned());
    DeviceView {
        name: rec.name.clone(),
        asset_id: rec.asset_id.clone(),
        address: rec.spec.address.clone(),
        port: rec.spec.port,
        version,
        security,
        poll_interval_seconds: rec.spec.poll_interval_seconds,
        poller: rec.poller.clone(),
        state: rec.last_poll.map_or(DeviceState::Unpolled, |p| p.state),
        state_text: state_text(rec),
        last_poll_at: rec.last_poll.map(|p| p.at),
        response_ms: rec.last_poll.and_then(|p| p.response_ms),
        sys_name: inv.and_then(|i| nonempty(&i.system.name)),
        vendor: inv.and_then(|i| i.system.vendor.clone()),
        model: inv.and_then(crate::store::devices::device_model),
        interfaces_up: ifs
            .iter()
            .filter(|i| i.oper_status == OperStatus::Up)
            .count(),
        interfaces_down: ifs
            .iter()
            .filter(|i| i.admin_up && i.oper_status != OperStatus::Up)
            .count(),
        interfaces: ifs.len(),
        same_as: None,
        same_as_evidence: None,
    }
}

/// The view of a device as stored: its asset's inventory, and which
/// device's asset it shares, if it does.
pub fn stored_view(store: &Store, rec: &DeviceRecord) -> Result<DeviceView, StoreError> {
    let inv = store.device_inventory(&rec.asset_id)?;
    let mut v = view(rec, inv.as_ref());
    let primary = store.device_primary(&rec.asset_id)?;
    if let Some(p) = primary.filter(|p| *p != rec.name) {
        v.same_as_evidence = store.device_alias(&rec.name)?.map(|a| a.evidence);
        v.same_as = Some(p);
    }
    Ok(v)
}

/// The latest value of a series of `asset` within the recent `window_ms`.
fn latest(
    store: &Store,
    asset: &str,
    name: &str,
    now: Timestamp,
    window_ms: i64,
) -> Result<Option<f64>, StoreError> {
    let from = Timestamp(now.0.saturating_sub(window_ms));
    let to = Timestamp(now.0.saturating_add(300_000));
    Ok(store
        .metric(asset, name, from, to, None)?
        .last()
        .map(|p| p.1))
}

fn sum(a: Option<f64>, b: Option<f64>) -> Option<f64> {
    match (a, b) {
        (None, None) => None,
        (a, b) => Some(a.unwrap_or(0.0) + b.unwrap_or(0.0)),
    }
}

/// One row per interface of a device, with the latest of its rates.
pub fn interface_rows(
    store: &Store,
    rec: &DeviceRecord,
    inv: Option<&DeviceInventory>,
    now: Timestamp,
) -> Result<Vec<InterfaceRow>, StoreError> {
    let Some(inv) = inv else {
        return Ok(Vec::new());
    };
    let neighbours = store
        .device_neighbours(&rec.asset_id)?
        .map(|r| r.neighbours)
        .unwrap_or_default();
    // Three polls back: older values are no longer what the interface does.
    let window = i64::from(rec.spec.poll_interval_seconds.max(60)) * 3_000;
    let mut rows = Vec::with_capacity(inv.interfaces.len());
    for i in &inv.interfaces {
        let get = |metric: &str| {
            let name = series::interface_series(metric, &i.name);
            latest(store, &rec.asset_id, &name, now, window)
        };
        rows.push(InterfaceRow {
            device: rec.name.clone(),
            if_index: i.if_index,
            name: i.name.clone(),
            alias: i.alias.clone(),
            speed_bps: i.speed_bps,
            admin_up: i.admin_up,
            oper_status: i.oper_status,
            in_bps: get(series::IN_BITS_PER_SECOND)?,
            out_bps: get(series::OUT_BITS_PER_SECOND)?,
            in_utilisation_percent: get(series::IN_UTILISATION_PERCENT)?,
            out_utilisation_percent: get(series::OUT_UTILISATION_PERCENT)?,
            errors_per_second: sum(
                get(series::IN_ERRORS_PER_SECOND)?,
                get(series::OUT_ERRORS_PER_SECOND)?,
            ),
            discards_per_second: sum(
                get(series::IN_DISCARDS_PER_SECOND)?,
                get(series::OUT_DISCARDS_PER_SECOND)?,
            ),
            neighbour: neighbour_of(&neighbours, &i.name),
        });
    }
    Ok(rows)
}

/// The neighbours reported on interface `name`, as `name (port)`, each once.
fn neighbour_of(neighbours: &[Neighbour], name: &str) -> Option<String> {
    let mut seen: Vec<String> = neighbours
        .iter()
        .filter(|n| n.local_if_name.as_deref() == Some(name))
        .map(|n| format!("{} ({})", n.remote_name(), n.remote_port()))
        .collect();
    seen.dedup();
    (!seen.is_empty()).then(|| seen.join(", "))
}

/// How `GET /api/v1/interfaces` orders its rows.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum InterfaceSort {
    /// By device, then `ifIndex`.
    #[default]
    Device,
    /// Busiest first (the higher of in and out utilisation).
    Utilisation,
    /// Most errors and discards per second first.
    Errors,
    /// Interfaces administratively up but not operationally first.
    Down,
}

/// Orders interface rows.
pub fn sort_interfaces(rows: &mut [InterfaceRow], sort: InterfaceSort) {
    let util = |r: &InterfaceRow| {
        r.in_utilisation_percent
            .unwrap_or(f64::NEG_INFINITY)
            .max(r.out_utilisation_percent.unwrap_or(f64::NEG_INFINITY))
    };
    let errors = |r: &InterfaceRow| {
        sum(r.errors_per_second, r.discards_per_second).unwrap_or(f64::NEG_INFINITY)
    };
    let down = |r: &InterfaceRow| r.admin_up && r.oper_status != OperStatus::Up;
    match sort {
        InterfaceSort::Device => {}
        InterfaceSort::Utilisation => rows.sort_by(|a, b| util(b).total_cmp(&util(a))),
        InterfaceSort::Errors => rows.sort_by(|a, b| errors(b).total_cmp(&errors(a))),
        InterfaceSort::Down => rows.sort_by_key(|r| !down(r)),
    }
}

/// The network devices, without their credentials.
#[utoipa::path(
    get,
    path = "/api/v1/devices",
    tag = "devices",
    operation_id = "list_devices",
    security(("bearer" = ["viewer"])),
    responses(
        (status = 200, description = "Every device with how its last poll went.", body = Vec<DeviceView>),
    ),
)]
async fn list(State(state): State<ApiState>, caller: Caller) -> ApiResult<Response> {
    caller.require(Role::Viewer)?;
    let views = blocking(&state, |s| {
        let mut out = Vec::new();
        for rec in s.devices()? {
            out.push(stored_view(s, &rec)?);
        }
        Ok(out)
    })
    .await?;
    Ok(Json(views).into_response())
}

/// One device in full, as stored (`None`: no device has that name).
pub fn device_detail(
    s: &Store,
    name: &str,
    now: Timestamp,
) -> Result<Option<DeviceDetail>, StoreError> {
    let Some(rec) = s.device(name)? else {
        return Ok(None);
    };
    let inv = s.device_inventory(&rec.asset_id)?;
    let interfaces = interface_rows(s, &rec, inv.as_ref(), now)?;
    let neighbours = s
        .device_neighbours(&rec.asset_id)?
        .map(|r| r.neighbours)
        .unwrap_or_default();
    let trays = s
        .device_trays(&rec.asset_id)?
        .map(|r| r.trays)
        .unwrap_or_default();
    Ok(Some(DeviceDetail {
        device: stored_view(s, &rec)?,
        changes: s.device_changes(&rec.asset_id)?,
        neighbours,
        trays,
        events: s.device_events(&rec.asset_id, DETAIL_EVENTS)?,
        inventory: inv,
        interfaces,
    }))
}

/// One device in full: its view, inventory, interfaces with their latest
/// rates, changes, neighbours, paper trays and latest events.
#[utoipa::path(
    get,
    path = "/api/v1/devices/{name}",
    tag = "devices",
    operation_id = "show_device",
    params(("name" = String, Path, description = "The device's name.")),
    security(("bearer" = ["viewer"])),
    responses(
        (status = 200, description = "The device in full.", body = DeviceDetail),
        (status = 404, description = "No device has that name.", body = ErrorBody),
    ),
)]
async fn show(
    State(state): State<ApiState>,
    caller: Caller,
    Path(name): Path<String>,
) -> ApiResult<Response> {
    caller.require(Role::Viewer)?;
    let n = name.clone();
    let detail = blocking(&state, move |s| device_detail(s, &n, Timestamp::now())).await?;
    let detail =
        detail.ok_or_else(|| ApiError::NotFound(format!("no device is named `{name}`")))?;
    Ok(Json(detail).into_response())
}

async fn device_blocking<T, F>(state: &ApiState, f: F) -> ApiResult<T>
where
    T: Send + 'static,
    F: FnOnce(&Store) -> Result<T, DeviceError> + Send + 'static,
{
    let store = state.store.clone();
    let result = tokio::task::spawn_blocking(move || f(&store))
        .await
        .map_err(|e| ApiError::Internal(format!("store task: {e}")))?;
    result.map_err(|e| match e {
        DeviceError::Invalid(m) | DeviceError::NoPoller(m) => ApiError::BadRequest(m),
        DeviceError::Exists(_) => ApiError::Conflict(e.to_string()),
        DeviceError::NotFound(_) | DeviceError::NoDiscovery(_) => ApiError::NotFound(e.to_string()),
        DeviceError::Store(e) => ApiError::Store(e),
    })
}

/// Adds a device to poll, with its credentials (never shown again).
#[utoipa::path(
    post,
    path = "/api/v1/devices",
    tag = "devices",
    operation_id = "add_device",
    request_body = NewDevice,
    security(("bearer" = ["admin"])),
    responses(
        (status = 201, description = "The device as listed.", body = DeviceView),
        (status = 400, description = "The body does not parse or is not valid, or no agent can poll it.", body = ErrorBody),
        (status = 409, description = "A device has that name already.", body = ErrorBody),
    ),
)]
async fn add(
    State(state): State<ApiState>,
    caller: Caller,
    body: Result<Json<NewDevice>, JsonRejection>,
) -> ApiResult<Response> {
    caller.require(Role::Admin)?;
    let Json(new) = body?;
    let rec = device_blocking(&state, move |s| devices::add(s, new, Timestamp::now())).await?;
    state.admin.devices_changed(&rec.poller);
    tracing::info!(device = %rec.name, poller = %rec.poller, by = %caller.0.id, "device added");
    Ok((StatusCode::CREATED, Json(view(&rec, None))).into_response())
}

/// Removes a device: its poller stops polling it (its history stays).
#[utoipa::path(
    delete,
    path = "/api/v1/devices/{name}",
    tag = "devices",
    operation_id = "remove_device",
    params(("name" = String, Path, description = "The device's name.")),
    security(("bearer" = ["admin"])),
    responses(
        (status = 204, description = "Removed."),
        (status = 404, description = "No device has that name.", body = ErrorBody),
    ),
)]
async fn remove(
    State(state): State<ApiState>,
    caller: Caller,
    Path(name): Path<String>,
) -> ApiResult<Response> {
    caller.require(Role::Admin)?;
    let rec = device_blocking(&state, move |s| devices::remove(s, &name)).await?;
    state.admin.devices_changed(&rec.poller);
    tracing::info!(device = %rec.name, poller = %rec.poller, by = %caller.0.id, "device removed");
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// Query of `GET /api/v1/traps` (and, `limit` only, of a device's events).
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct EventsQuery {
    /// Only this device's traps.
    device: Option<String>,
    /// Most events, newest first (default 100, at most 10000).
    #[param(value_type = Option<u32>)]
    limit: Option<usize>,
}

/// A device's latest events (traps), newest first, also those of a device
/// removed since.
#[utoipa::path(
    get,
    path = "/api/v1/devices/{name}/events",
    tag = "devices",
    operation_id = "device_events",
    params(
        ("name" = String, Path, description = "The device's name."),
        ("limit" = Option<u32>, Query, description = "Most events, newest first (default 100, at most 10000)."),
    ),
    security(("bearer" = ["viewer"])),
    responses(
        (status = 200, description = "The device's events, newest first.", body = Vec<DeviceEvent>),
        (status = 400, description = "`limit` is not a number.", body = ErrorBody),
        (status = 404, description = "No device has, or had, that name.", body = ErrorBody),
    ),
)]
async fn events(
    State(state): State<ApiState>,
    caller: Caller,
    Path(name): Path<String>,
    q: Result<Query<EventsQuery>, QueryRejection>,
) -> ApiResult<Response> {
    caller.require(Role::Viewer)?;
    let Query(q) = q?;
    let limit = q.limit.unwrap_or(DEFAULT_EVENTS).min(MAX_EVENTS);
    let n = name.clone();
    let found = blocking(&state, move |s| {
        let rec = s.device(&n)?;
        let events = s.device_events(&events_asset(rec.as_ref(), &n), limit)?;
        let known = !events.is_empty() || rec.is_some();
        Ok(known.then_some(events))
    })
    .await?;
    let events = found.ok_or_else(|| ApiError::NotFound(format!("no device is named `{name}`")))?;
    Ok(Json(events).into_response())
}

/// The asset whose events are the device `name`'s: its record's (the box's,
/// when it was found to be another device's), else the one it had when
/// it was removed.
fn events_asset(rec: Option<&DeviceRecord>, name: &str) -> String {
    rec.map_or_else(|| device_asset_id(name), |r| r.asset_id.clone())
}

/// The latest traps of every device (or of one), newest first.
#[utoipa::path(
    get,
    path = "/api/v1/traps",
    tag = "devices",
    params(EventsQuery),
    security(("bearer" = ["viewer"])),
    responses(
        (status = 200, description = "The latest events, newest first.", body = Vec<DeviceEvent>),
        (status = 400, description = "`limit` is not a number.", body = ErrorBody),
    ),
)]
async fn traps(
    State(state): State<ApiState>,
    caller: Caller,
    q: Result<Query<EventsQuery>, QueryRejection>,
) -> ApiResult<Response> {
    caller.require(Role::Viewer)?;
    let Query(q) = q?;
    let limit = q.limit.unwrap_or(DEFAULT_EVENTS).min(MAX_EVENTS);
    let device = q.device.filter(|d| !d.is_empty());
    let events = blocking(&state, move |s| match device {
        Some(d) => s.device_events(&events_asset(s.device(&d)?.as_ref(), &d), limit),
        None => s.latest_device_events(limit),
    })
    .await?;
    Ok(Json(events).into_response())
}

/// Query of `GET /api/v1/interfaces`.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct InterfacesQuery {
    /// Only this device's interfaces.
    device: Option<String>,
    /// How to order the rows (default `device`).
    #[param(inline)]
    sort: Option<InterfaceSort>,
}

/// One row per interface across devices, with its latest rates (a box
/// polled as two devices is listed once).
#[utoipa::path(
    get,
    path = "/api/v1/interfaces",
    tag = "devices",
    params(InterfacesQuery),
    security(("bearer" = ["viewer"])),
    responses(
        (status = 200, description = "The interfaces, ordered as asked.", body = Vec<InterfaceRow>),
        (status = 400, description = "`sort` is not one of the orders.", body = ErrorBody),
    ),
)]
async fn interfaces(
    State(state): State<ApiState>,
    caller: Caller,
    q: Result<Query<InterfacesQuery>, QueryRejection>,
) -> ApiResult<Response> {
    caller.require(Role::Viewer)?;
    let Query(q) = q?;
    let device = q.device.filter(|d| !d.is_empty());
    let rows = blocking(&state, move |s| {
        let now = Timestamp::now();
        let mut rows = Vec::new();
        for rec in s.devices()? {
            if device.as_deref().is_some_and(|d| d != rec.name) {
                continue;
            }
            // A box polled twice: its interfaces once, under the device
            // that writes its asset.
            if s.device_primary(&rec.asset_id)?
                .is_some_and(|p| p != rec.name)
            {
                continue;
            }
            let inv = s.device_inventory(&rec.asset_id)?;
            rows.extend(interface_rows(s, &rec, inv.as_ref(), now)?);
        }
        Ok(rows)
    })
    .await;
    let mut rows = rows?;
    sort_interfaces(&mut rows, q.sort.unwrap_or_default());
    Ok(Json(rows).into_response())
}

/// Changes a device: what the body does not give stays.
#[utoipa::path(
    patch,
    path = "/api/v1/devices/{name}",
    tag = "devices",
    operation_id = "update_device",
    params(("name" = String, Path, description = "The device's name.")),
    request_body = DeviceUpdate,
    security(("bearer" = ["admin"])),
    responses(
        (status = 200, description = "The device as listed now.", body = DeviceView),
        (status = 400, description = "The body does not parse or is not valid.", body = ErrorBody),
        (status = 404, description = "No device has that name.", body = ErrorBody),
    ),
)]
async fn update(
    State(state): State<ApiState>,
    caller: Caller,
    Path(name): Path<String>,
    body: Result<Json<DeviceUpdate>, JsonRejection>,
) -> ApiResult<Response> {
    caller.require(Role::Admin)?;
    let Json(upd) = body?;
    let (old, new) = device_blocking(&state, move |s| devices::update(s, &name, upd)).await?;
    // A poller that lost the device stops polling it.
    if old.poller != new.poller {
        state.admin.devices_changed(&old.poller);
    }
    state.admin.devices_changed(&new.poller);
    tracing::info!(device = %new.name, poller = %new.poller, by = %caller.0.id, "device changed");
    let shown = blocking(&state, move |s| stored_view(s, &new)).await?;
    Ok(Json(shown).into_response())
}

/// A discovery and what it found so far; never its credentials.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct DiscoveryView {
    /// Its id.
    pub id: u64,
    /// The agent that sweeps.
    pub poller: String,
    /// Address ranges.
    pub ranges: Vec<String>,
    /// UDP port asked.
    pub port: u16,
    /// Addresses the ranges hold.
    pub addresses: u64,
    /// When it was asked.
    pub asked_at: Timestamp,
    /// `running`, `finished` or `refused`.
    pub state: String,
    /// Why it was refused.
    pub reason: Option<String>,
    /// When it ended, on the poller's clock.
    pub ended_at: Option<Timestamp>,
    /// The devices that answered, by address.
    pub found: Vec<FoundView>,
}

/// A device a discovery found.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct FoundView {
    /// The address that answered.
    pub address: String,
    /// `sysName`.
    pub sys_name: String,
    /// First line of `sysDescr`.
    pub model: String,
    /// `sysObjectID`.
    pub object_id: String,
    /// Vendor, from `sysObjectID`.
    pub vendor: Option<String>,
    /// Index of the credential that worked, in the order given.
    pub credential: u32,
    /// That credential without its secret, e.g. `v2c #2` or `v3 user monitor`.
    pub credential_label: String,
    /// The known device it is, if any.
    pub known_as: Option<String>,
}

/// A credential named without its secret.
fn credential_label(c: Option<&Credentials>, index: u32) -> String {
    let n = u64::from(index) + 1;
    match c {
        Some(Credentials::V1 { .. }) => format!("v1 #{n}"),
        Some(Credentials::V2c { .. }) => format!("v2c #{n}"),
        Some(Credentials::V3 { user, .. }) => format!("v3 user {user}"),
        None => format!("#{n}"),
    }
}

fn discovery_view(
    store: &Store,
    rec: &DiscoveryRecord,
    found: &[atalaya_common::proto::DiscoveredDevice],
) -> Result<DiscoveryView, StoreError> {
    let devices = store.devices()?;
    let mut rows = Vec::with_capacity(found.len());
    for f in found {
        rows.push(FoundView {
            address: f.address.clone(),
            sys_name: f.sys_name.clone(),
            model: f.sys_descr.lines().next().unwrap_or("").trim().to_owned(),
            object_id: f.object_id.clone(),
            vendor: f.vendor.clone(),
            credential: f.credential,
            credential_label: credential_label(
                usize::try_from(f.credential)
                    .ok()
                    .and_then(|i| rec.credentials.get(i)),
                f.credential,
            ),
            known_as: devices::known_as(store, &devices, rec.port, f)?,
        });
    }
    let (state, reason, ended_at) = match &rec.ended {
        None => ("running", None, None),
        Some(DiscoveryEnd::Finished { at, .. }) => ("finished", None, Some(*at)),
        Some(DiscoveryEnd::Refused { at, reason }) => ("refused", Some(reason.clone()), Some(*at)),
    };
    Ok(DiscoveryView {
        id: rec.id,
        poller: rec.poller.clone(),
        ranges: rec.ranges.clone(),
        port: rec.port,
        addresses: rec.addresses,
        asked_at: rec.asked_at,
        state: state.to_owned(),
        reason,
        ended_at,
        found: rows,
    })
}

/// Asks an agent to sweep address ranges for SNMP devices, trying the
/// credentials given; the answer is the discovery, running.
#[utoipa::path(
    post,
    path = "/api/v1/devices/discover",
    tag = "devices",
    request_body = NewDiscovery,
    security(("bearer" = ["admin"])),
    responses(
        (status = 202, description = "The discovery, sent to its agent.", body = DiscoveryView),
        (status = 400, description = "The body does not parse or is not valid, or no agent can sweep.", body = ErrorBody),
        (status = 409, description = "The agent is not connected: the discovery was not sent.", body = ErrorBody),
    ),
)]
async fn discover(
    State(state): State<ApiState>,
    caller: Caller,
    body: Result<Json<NewDiscovery>, JsonRejection>,
) -> ApiResult<Response> {
    caller.require(Role::Admin)?;
    let Json(new) = body?;
    let by = caller.0.id.clone();
    let (rec, request) = device_blocking(&state, move |s| {
        devices::start_discovery(s, new, &by, Timestamp::now())
    })
    .await?;
    if !state.admin.discover(&rec.poller, request) {
        let r = rec.clone();
        let err = device_blocking(&state, move |s| {
            Ok::<_, DeviceError>(devices::discovery_not_sent(s, &r, Timestamp::now()))
        })
        .await?;
        return Err(ApiError::Conflict(err.to_string()));
    }
    tracing::info!(id = rec.id, poller = %rec.poller, ranges = %rec.ranges.join(", "), by = %caller.0.id, "discovery asked");
    let shown = blocking(&state, move |s| discovery_view(s, &rec, &[])).await?;
    Ok((StatusCode::ACCEPTED, Json(shown)).into_response())
}

fn discovery_id(id: &str) -> ApiResult<u64> {
    id.parse()
        .map_err(|_| ApiError::NotFound(format!("no discovery has the id `{id}`")))
}

/// A discovery and what it found so far.
#[utoipa::path(
    get,
    path = "/api/v1/devices/discover/{id}",
    tag = "devices",
    params(("id" = u64, Path, description = "The discovery's id.")),
    security(("bearer" = ["viewer"])),
    responses(
        (status = 200, description = "The discovery and the devices that answered.", body = DiscoveryView),
        (status = 404, description = "No discovery has that id.", body = ErrorBody),
    ),
)]
async fn discovery(
    State(state): State<ApiState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    caller.require(Role::Viewer)?;
    let id = discovery_id(&id)?;
    let shown = blocking(&state, move |s| match s.discovery(id)? {
        Some((rec, found)) => discovery_view(s, &rec, &found).map(Some),
        None => Ok(None),
    })
    .await?;
    let shown = shown.ok_or_else(|| ApiError::NotFound(format!("no discovery has the id {id}")))?;
    Ok(Json(shown).into_response())
}

/// Adds the devices a discovery found that are not known yet, with the
/// credentials that worked.
#[utoipa::path(
    post,
    path = "/api/v1/devices/discover/{id}/add",
    tag = "devices",
    params(("id" = u64, Path, description = "The discovery's id.")),
    security(("bearer" = ["admin"])),
    responses(
        (status = 201, description = "The devices added.", body = Vec<DeviceView>),
        (status = 400, description = "The found devices cannot be added as they are.", body = ErrorBody),
        (status = 404, description = "No discovery has that id.", body = ErrorBody),
        (status = 409, description = "A device has the name one would get.", body = ErrorBody),
    ),
)]
async fn add_discovered(
    State(state): State<ApiState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    caller.require(Role::Admin)?;
    let id = discovery_id(&id)?;
    let added =
        device_blocking(&state, move |s| devices::add_found(s, id, Timestamp::now())).await?;
    let mut told = std::collections::BTreeSet::new();
    for rec in &added {
        if told.insert(rec.poller.clone()) {
            state.admin.devices_changed(&rec.poller);
        }
        tracing::info!(device = %rec.name, poller = %rec.poller, discovery = id, by = %caller.0.id, "device added from a discovery");
    }
    let views: Vec<DeviceView> = added.iter().map(|r| view(r, None)).collect();
    Ok((StatusCode::CREATED, Json(views)).into_response())
}
