//! The API's OpenAPI 3.1 document, served at `GET /api/v1/openapi.json`.
//!
//! Each handler carries its own `#[utoipa::path]` (method, path,
//! parameters, bodies, answers, the role it needs), and each module
//! registers its handlers with `utoipa_axum::routes!`, which routes them
//! and documents them in one step: a route cannot be served without being
//! described. This module gives the document its frame (title, version,
//! tags, the bearer scheme) and the answers every guarded route shares
//! (401, 403, 500), and says on each route which role it needs, read from
//! its security requirement.
//!
//! The document is public, like a login page: it names routes and shapes,
//! never data, and a client generator or a person setting up a token needs
//! it before having one.

use std::sync::OnceLock;

use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use utoipa::openapi::path::Operation;
use utoipa::openapi::response::ResponseBuilder;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::{ContentBuilder, HeaderBuilder, OpenApi, Ref, RefOr};

use super::{ApiError, ApiResult, ErrorBody};

/// Name of the security scheme every guarded route names: an API token
/// sent as `Authorization: Bearer <secret>`. The scopes a route lists
/// under it are the roles it accepts.
pub const BEARER: &str = "bearer";

/// The document's frame: what `#[derive(OpenApi)]` knows before the
/// routes add their paths and schemas.
#[derive(utoipa::OpenApi)]
#[openapi(
    info(
        title = "Atalaya collector API",
        version = env!("CARGO_PKG_VERSION"),
        description = "The HTTP JSON API of the Atalaya collector: the asset inventory and its \
            change history, health metrics, the installed base of software, network devices \
            and topology, capacity planning, the help desk (incidents, calls, knowledge base, \
            the people directory), suppliers and contracts, and the administration of tokens, \
            agents and console accounts.\n\n\
            Every route but this document needs `Authorization: Bearer <secret>` with an API \
            token (`atalaya-collector api-token create`); the token's role decides what it may \
            do: `viewer` reads, `helpdesk` also acts on incidents and the knowledge base, \
            `admin` may do everything, `telephony` only posts incoming calls. Each route says \
            the role it needs.\n\n\
            Errors are JSON `{\"error\": \"...\"}` with a fitting status; a bad query \
            parameter or body field gives 400 naming it. Time parameters take RFC 3339 \
            (`2026-11-28T10:00:00Z`) or a duration meaning that long ago (`7d`, `24h`, \
            `90m ago`); times in answers are RFC 3339 UTC.",
        license(name = "Apache-2.0", identifier = "Apache-2.0"),
    ),
    tags(
        (name = "assets", description = "The asset inventory: assets, their inventory as of a time, their gaps and reports."),
        (name = "changes", description = "Inventory change history, of one asset or the fleet."),
        (name = "metrics", description = "Stored health series of an asset, and the fleet's highest."),
        (name = "software", description = "The installed base of a package across the fleet."),
        (name = "lookup", description = "A caller's machines and their health, by name or phone number."),
        (name = "incidents", description = "Incidents, help-desk actions, the SLA report and rule reloads."),
        (name = "kb", description = "The knowledge base."),
        (name = "people", description = "The people directory and its CSV import."),
        (name = "calls", description = "Incoming calls from the phone system, and their event stream."),
        (name = "devices", description = "Network devices polled over SNMP, their interfaces, traps and discoveries."),
        (name = "topology", description = "The network map, from LLDP and CDP."),
        (name = "probes", description = "The latest network probe result per target."),
        (name = "capacity", description = "Resources by urgency, forecasts, installed capacity and renewal planning."),
        (name = "reports", description = "The service-level report of a period."),
        (name = "suppliers", description = "Suppliers, contracts, warranties, licence compliance and their CSV import."),
        (name = "tokens", description = "Enrollment tokens for agents and API tokens for people and scripts."),
        (name = "agents", description = "Enrolled agents, their status and revocation."),
        (name = "backups", description = "Consistent copies of the store, made while the collector runs."),
        (name = "users", description = "People's console accounts."),
        (name = "monitoring", description = "The collector's own health, for Prometheus."),
        (name = "meta", description = "This document."),
    ),
    components(schemas(ErrorBody)),
)]
pub(super) struct ApiDoc;

/// Finishes the document the routes described: the bearer scheme, the
/// answers every guarded route shares, and on each guarded route the role
/// it needs, said in words.
pub(super) fn finish(mut doc: OpenApi) -> OpenApi {
    let components = doc.components.get_or_insert_default();
    components.add_security_scheme(
        BEARER,
        SecurityScheme::Http(
            HttpBuilder::new()
                .scheme(HttpAuthScheme::Bearer)
                .description(Some(
                    "An API token's secret (`atk_…`). Its role is listed as the scope of \
                     each route's requirement: viewer < helpdesk < admin; telephony stands \
                     apart and may only post calls.",
                ))
                .build(),
        ),
    );
    for (name, text) in SHARED_ANSWERS {
        let mut answer = ResponseBuilder::new().description(*text).content(
            "application/json",
            ContentBuilder::new()
                .schema(Some(Ref::from_schema_name("ErrorBody")))
                .build(),
        );
        if *name == "Unauthorized" {
            answer = answer.header(
                "WWW-Authenticate",
                HeaderBuilder::new().description(Some("`Bearer`")).build(),
            );
        }
        components
            .responses
            .insert((*name).to_owned(), RefOr::T(answer.build()));
    }
    for item in doc.paths.paths.values_mut() {
        for op in [
            &mut item.get,
            &mut item.put,
            &mut item.post,
            &mut item.delete,
            &mut item.patch,
        ]
        .into_iter()
        .flatten()
        {
            // A summary is one line; doc comments wrap theirs.
            if let Some(summary) = &mut op.summary {
                *summary = summary.split_whitespace().collect::<Vec<_>>().join(" ");
            }
            if let Some(role) = required_role(op) {
                guard(op, &role);
            }
        }
    }
    doc
}

/// The answers every guarded route may give, by component name.
const SHARED_ANSWERS: &[(&str, &str)] = &[
    (
        "Unauthorized",
        "No `Authorization: Bearer` header, or a token the collector does not know.",
    ),
    (
        "Forbidden",
        "The token's role is too low for this route; the error names both roles.",
    ),
    ("ServerError", "The store failed (the collector logs why)."),
];

/// The role a route's security requirement names under [`BEARER`]
/// (`None`: the route is public).
fn required_role(op: &Operation) -> Option<String> {
    let requirements = op.security.as_ref()?;
    requirements.iter().find_map(|r| {
        // The requirement's map is private; its JSON form is the map.
        let value = serde_json::to_value(r).ok()?;
        let scopes = value.get(BEARER)?.as_array()?;
        scopes.first()?.as_str().map(str::to_owned)
    })
}

/// Adds the shared answers to a guarded route and says which role it needs.
fn guard(op: &mut Operation, role: &str) {
    for (status, name) in [
        ("401", "Unauthorized"),
        ("403", "Forbidden"),
        ("500", "ServerError"),
    ] {
        op.responses
            .responses
            .entry(status.to_owned())
            .or_insert_with(|| RefOr::Ref(Ref::from_response_name(name)));
    }
    let needs = match role {
        "viewer" => "Needs an API token with the `viewer` role or higher (`helpdesk`, `admin`).",
        "helpdesk" => "Needs an API token with the `helpdesk` role or `admin`.",
        "admin" => "Needs an API token with the `admin` role.",
        "telephony" => "Needs an API token with the `telephony` role, or `admin`.",
        _ => "Needs an API token.",
    };
    op.description = Some(match op.description.take() {
        Some(d) if !d.trim().is_empty() => format!("{d}\n\n{needs}"),
        _ => needs.to_owned(),
    });
}

/// The whole document, as JSON, made once.
fn document_json() -> &'static Result<String, String> {
    static JSON: OnceLock<Result<String, String>> = OnceLock::new();
    JSON.get_or_init(|| super::openapi().to_json().map_err(|e| e.to_string()))
}

/// This document: the OpenAPI 3.1 description of every route of the API.
///
/// Public: no token needed. View it with
/// `curl -s http://127.0.0.1:8440/api/v1/openapi.json | jq .info`, or give
/// it to a client generator.
#[utoipa::path(
    get,
    path = "/api/v1/openapi.json",
    tag = "meta",
    operation_id = "openapi_document",
    security(()),
    responses(
        (status = 200, description = "The OpenAPI 3.1 document.", content_type = "application/json", body = Object),
    ),
)]
pub(super) async fn openapi_json() -> ApiResult<Response> {
    match document_json() {
        Ok(json) => Ok((
            [(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            )],
            json.clone(),
        )
            .into_response()),
        Err(e) => Err(ApiError::Internal(format!("the OpenAPI document: {e}"))),
    }
}
