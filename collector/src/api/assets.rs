//! Asset routes: the inventory list with its filters, one asset, its
//! inventory as of a time (in Atalaya's JSON or, with `format=glpi`, in
//! GLPI's native inventory format), and the records kept per asset
//! (dropped-sample gaps, user reports). Viewer role and up.

use atalaya_common::model::{Inventory, Timestamp};
use axum::Json;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::{
    ApiError, ApiResult, ApiState, Caller, ErrorBody, blocking, nonempty, opt_time, parse_limit,
    parse_offset, resolve_asset,
};
use crate::formats::glpi;
use crate::records::device::DEVICE_ASSET_PREFIX;
use crate::store::{
    AssetFilter, AssetMeta, AssetRecord, AssetSummary, GapRecord, Page, ReportRecord, Role, Store,
    StoreError,
};

/// The asset routes, to merge into the API router.
pub(super) fn routes() -> OpenApiRouter<ApiState> {
    OpenApiRouter::new()
        .routes(routes!(list_assets))
        .routes(routes!(get_asset))
        .routes(routes!(asset_gaps))
        .routes(routes!(asset_reports))
        .routes(routes!(asset_inventory))
}

/// Query of `GET /api/v1/assets`; every filter given must hold.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct AssetsQuery {
    /// Host name, exact or with `*` globs, case-insensitive.
    hostname: Option<String>,
    /// OS id (`debian`, `rhel`) or a case-insensitive part of its name.
    os: Option<String>,
    /// Has this package installed (exact name or `*` glob).
    software: Option<String>,
    /// With `software`: lowest version, inclusive (dpkg ordering).
    version_min: Option<String>,
    /// With `software`: highest version, inclusive.
    version_max: Option<String>,
    /// Carries this tag.
    tag: Option<String>,
    /// Last seen before this time (RFC 3339, or a duration ago such as `7d`).
    seen_before: Option<String>,
    /// Last seen at or after this time (RFC 3339, or a duration ago such as `24h`).
    seen_after: Option<String>,
    /// Page size, 1 to 1000 (default 100).
    #[param(value_type = Option<u32>, minimum = 1, maximum = 1000)]
    limit: Option<String>,
    /// Matches to skip (paging; default 0).
    #[param(value_type = Option<u32>)]
    offset: Option<String>,
}

/// The asset list, filtered and paged.
#[utoipa::path(
    get,
    path = "/api/v1/assets",
    tag = "assets",
    params(AssetsQuery),
    security(("bearer" = ["viewer"])),
    responses(
        (status = 200, description = "One page of matching assets.", body = Page<AssetSummary>),
        (status = 400, description = "A filter is malformed (named), or a version range lacks `software`.", body = ErrorBody),
    ),
)]
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

/// One asset with its current inventory.
#[utoipa::path(
    get,
    path = "/api/v1/assets/{id}",
    tag = "assets",
    params(("id" = String, Path, description = "Asset id (e.g. `asset-17`) or host name.")),
    security(("bearer" = ["viewer"])),
    responses(
        (status = 200, description = "The asset, its identity decisions and current inventory.", body = AssetRecord),
        (status = 404, description = "No asset has that id or host name.", body = ErrorBody),
    ),
)]
async fn get_asset(
    State(state): State<ApiState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    caller.require(Role::Viewer)?;
    Ok(Json(resolve_asset(&state, id).await?).into_response())
}

/// Health samples the asset's agents dropped while the collector was out of
/// their reach (their spool was full): what is known to be missing.
#[utoipa::path(
    get,
    path = "/api/v1/assets/{id}/gaps",
    tag = "assets",
    params(("id" = String, Path, description = "Asset id (e.g. `asset-17`) or host name.")),
    security(("bearer" = ["viewer"])),
    responses(
        (status = 200, description = "The asset's known gaps.", body = Vec<GapRecord>),
        (status = 404, description = "No asset has that id or host name.", body = ErrorBody),
    ),
)]
async fn asset_gaps(
    State(state): State<ApiState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    asset_records(&state, &caller, id, Store::gaps).await
}

/// What people at the machine reported (`atalaya-agent report`), newest
/// first, each with the incident it opened.
#[utoipa::path(
    get,
    path = "/api/v1/assets/{id}/reports",
    tag = "assets",
    params(("id" = String, Path, description = "Asset id (e.g. `asset-17`) or host name.")),
    security(("bearer" = ["viewer"])),
    responses(
        (status = 200, description = "The asset's user reports, newest first.", body = Vec<ReportRecord>),
        (status = 404, description = "No asset has that id or host name.", body = ErrorBody),
    ),
)]
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

/// Query of `GET /api/v1/assets/{id}/inventory`.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct InventoryQuery {
    /// The inventory as it was at this time (RFC 3339, or a duration ago
    /// such as `7d`); default: the current one.
    as_of: Option<String>,
    /// `atalaya` (default) or `glpi`: GLPI's native inventory format (hosts only).
    #[param(value_type = Option<InventoryFormat>, inline)]
    format: Option<String>,
}

/// The forms `GET /api/v1/assets/{id}/inventory` answers in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ToSchema)]
#[schema(rename_all = "snake_case")]
enum InventoryFormat {
    /// Atalaya's own JSON ([`InventoryAsOf`]).
    Atalaya,
    /// GLPI's native inventory format (see [`crate::formats::glpi`]).
    Glpi,
}

impl InventoryFormat {
    fn parse(v: Option<&str>) -> ApiResult<Self> {
        match v.map(str::trim) {
            None | Some("" | "atalaya") => Ok(Self::Atalaya),
            Some("glpi") => Ok(Self::Glpi),
            Some(other) => Err(ApiError::bad(
                "format",
                format!("`{other}` is not a format; use `atalaya` (the default) or `glpi`"),
            )),
        }
    }
}

/// An inventory as it was at a time.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct InventoryAsOf {
    /// Asset id.
    pub asset_id: String,
    /// The time asked for.
    pub as_of: Timestamp,
    /// The inventory then.
    pub inventory: Inventory,
}

/// What `GET /api/v1/assets/{id}/inventory` answers, by `format`.
#[derive(Debug, Serialize, ToSchema)]
#[serde(untagged)]
pub enum InventoryAnswer {
    /// Atalaya's own JSON.
    Atalaya(Box<InventoryAsOf>),
    /// A GLPI inventory document, in GLPI's own schema.
    Glpi(serde_json::Value),
}

/// An asset's inventory as it is now or was at a time, in Atalaya's JSON
/// or GLPI's native inventory format.
#[utoipa::path(
    get,
    path = "/api/v1/assets/{id}/inventory",
    tag = "assets",
    params(("id" = String, Path, description = "Asset id (e.g. `asset-17`) or host name."), InventoryQuery),
    security(("bearer" = ["viewer"])),
    responses(
        (status = 200, description = "The inventory: an `InventoryAsOf`, or with `format=glpi` a GLPI inventory document (an object in GLPI's own schema).", body = InventoryAnswer),
        (status = 400, description = "`as_of` or `format` is malformed, or `format=glpi` was asked of a network device.", body = ErrorBody),
        (status = 404, description = "No asset has that id or host name, or it had no inventory at that time.", body = ErrorBody),
    ),
)]
async fn asset_inventory(
    State(state): State<ApiState>,
    caller: Caller,
    Path(id): Path<String>,
    q: Result<Query<InventoryQuery>, QueryRejection>,
) -> ApiResult<Response> {
    caller.require(Role::Viewer)?;
    let Query(q) = q?;
    let format = InventoryFormat::parse(q.format.as_deref())?;
    let as_of = opt_time("as_of", q.as_of.as_ref(), Timestamp::now())?;
    let asset = resolve_asset(&state, id).await?;
    let asset_id = asset.meta.id.clone();
    if format == InventoryFormat::Glpi && asset_id.starts_with(DEVICE_ASSET_PREFIX) {
        return Err(ApiError::bad(
            "format",
            format!(
                "asset {asset_id} is a network device polled over SNMP; \
                 the GLPI export covers hosts with an agent (GLPI's Computer)"
            ),
        ));
    }
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
    if format == InventoryFormat::Glpi {
        let glpi = glpi_inventory(&state, &asset.meta, &inventory, at).await?;
        return Ok(Json(InventoryAnswer::Glpi(glpi)).into_response());
    }
    Ok(Json(InventoryAnswer::Atalaya(Box::new(InventoryAsOf {
        asset_id,
        as_of: at,
        inventory,
    })))
    .into_response())
}

/// The GLPI document of a host asset's inventory taken (or asked as of) at
/// `at`, naming the version of the asset's latest agent.
async fn glpi_inventory(
    state: &ApiState,
    meta: &AssetMeta,
    inventory: &Inventory,
    at: Timestamp,
) -> ApiResult<serde_json::Value> {
    let agent_version = match meta.agent_ids.last().cloned() {
        Some(agent) => blocking(state, move |s| s.agent(&agent))
            .await?
            .map(|a| a.agent_version),
        None => None,
    };
    let asset = glpi::Asset {
        id: &meta.id,
        hostname: &meta.hostname,
        tags: &meta.tags,
        taken_at: at,
        agent_version: agent_version.as_deref(),
    };
    Ok(glpi::computer(&asset, inventory))
}
