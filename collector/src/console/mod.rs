//! The web console: server-rendered HTML pages for the help desk and
//! managers, served by the collector on the API listener next to the JSON
//! API ([`app`] joins both).
//!
//! People sign in with their account (`atalaya-collector user add`); the
//! session is a random secret in an HttpOnly, SameSite=Strict cookie, of
//! which the store keeps only the SHA-256. Every page works without
//! JavaScript; the one script (`/static/console.js`, written here) only
//! enhances. Every response carries a Content-Security-Policy that allows
//! no inline script and no framing; every form carries the session's CSRF
//! token and every POST is checked against it and against the request's
//! `Origin`. Values from agents are HTML-escaped by the templates (maud).
//!
//! # Layout
//! - `auth`: logging in and out, the signed-in [`auth::Person`], CSRF and
//!   the failed-login limits ([`guard`]).
//! - `layout`: the page shell (navigation, search box, who is signed in)
//!   and small shared pieces of markup.
//! - `calls`: `/events`, the caller card of calls ringing at the signed-in
//!   person's extension, pushed as server-sent events.
//! - one module per page group: `fleet`, `lookup`, `network` (devices,
//!   interfaces, the topology drawn as SVG), `capacity` (by urgency,
//!   installed, renewal), `assets` (the asset list and its CSV export),
//!   `asset` (one asset's page), `incidents` (the queue, one incident and
//!   its actions), `kb` (the knowledge base).
//! - `slr`: the service-level report of a month, printable.
//! - `charts`: SVG charts drawn on the server from metric points.
//! - `static_files`: the stylesheet and the script, compiled into the binary.

mod asset;
mod assets;
mod auth;
mod calls;
mod capacity;
pub mod charts;
pub mod fleet;
pub mod guard;
mod incidents;
mod kb;
mod layout;
mod lookup;
mod network;
mod slr;
mod static_files;
mod suppliers;

use std::sync::{Arc, Mutex};

use axum::Router;
use axum::extract::Request;
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use maud::html;

use crate::api::{self, ApiState};
use crate::config::ConsoleSettings;
use crate::store::StoreError;

pub use self::auth::SESSION_COOKIE;

/// What every console handler shares.
#[derive(Clone)]
pub struct ConsoleState {
    /// The API's state: the store, the desk, server actions.
    pub api: ApiState,
    /// Session lifetimes and failed-login limits.
    pub settings: ConsoleSettings,
    /// Failed logins per account and per address.
    pub guard: Arc<Mutex<guard::LoginGuard>>,
    /// Whether the console is served over TLS (cookies get `Secure`).
    pub tls: bool,
    /// The fleet's composition, counted at most once a minute.
    pub fleet: Arc<Mutex<fleet::Composition>>,
}

impl std::fmt::Debug for ConsoleState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ConsoleState")
            .field("settings", &self.settings)
            .field("tls", &self.tls)
            .finish_non_exhaustive()
    }
}

/// The JSON API and the console, ready to serve on one listener.
pub fn app(api_state: ApiState, settings: ConsoleSettings, tls: bool) -> Router {
    let state = ConsoleState {
        guard: Arc::new(Mutex::new(guard::LoginGuard::new(guard::Limits::from(
            &settings,
        )))),
        api: api_state.clone(),
        settings,
        tls,
        fleet: Arc::default(),
    };
    let console = Router::new()
        .route("/", get(|| async { Redirect::to("/fleet") }))
        .merge(auth::routes())
        .merge(fleet::routes())
        .merge(calls::routes())
        .merge(lookup::routes())
        .merge(assets::routes())
        .merge(asset::routes())
        .merge(network::routes())
        .merge(slr::routes())
        .merge(capacity::routes())
        .merge(suppliers::routes())
        .merge(incidents::routes())
        .merge(kb::routes())
        .merge(static_files::routes())
        .layer(middleware::from_fn(same_origin))
        .layer(middleware::from_fn(security_headers))
        .with_state(state);
    console.merge(api::router(api_state))
}

/// The headers every console response carries: a policy that runs only
/// the console's own script and style, no framing, no sniffing, and no
/// caching of pages that show inventory.
async fn security_headers(req: Request, next: Next) -> Response {
    let is_static = req.uri().path().starts_with("/static/");
    let mut resp = next.run(req).await;
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
             connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
        ),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    );
    if !is_static {
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    resp
}

/// Refuses a state-changing request whose `Origin` is another site's: a
/// second wall behind the CSRF token (browsers send `Origin` on POST).
async fn same_origin(req: Request, next: Next) -> Response {
    if req.method() != Method::GET && req.method() != Method::HEAD {
        let origin = req
            .headers()
            .get(header::ORIGIN)
            .and_then(|v| v.to_str().ok());
        let host = req
            .headers()
            .get(header::HOST)
            .and_then(|v| v.to_str().ok());
        if let Some(origin) = origin {
            let origin_host = origin.split_once("://").map_or(origin, |(_, rest)| rest);
            if origin == "null" || Some(origin_host) != host {
                return PageError::Forbidden("this form was sent from another site".into())
                    .into_response();
            }
        }
    }
    next.run(req).await
}

/// Why a page cannot be shown; rendered as a small HTML page.
#[derive(Debug, thiserror::Error)]
pub enum PageError {
    /// The person's role does not allow it, or the CSRF token is wrong.
    #[error("{0}")]
    Forbidden(String),
    /// No such thing.
    #[error("{0}")]
    NotFound(String),
    /// A form field or query parameter is wrong.
    #[error("{0}")]
    Bad(String),
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

impl PageError {
    fn status(&self) -> StatusCode {
        match self {
            PageError::Forbidden(_) => StatusCode::FORBIDDEN,
            PageError::NotFound(_) => StatusCode::NOT_FOUND,
            PageError::Bad(_) => StatusCode::BAD_REQUEST,
            PageError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            PageError::Store(_) | PageError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}

impl IntoResponse for PageError {
    fn into_response(self) -> Response {
        let status = self.status();
        if status.is_server_error() {
            tracing::error!(error = %self, "console request failed");
        }
        let title = status.canonical_reason().unwrap_or("Error");
        let body = html! {
            (maud::DOCTYPE)
            html lang="en" {
                head {
                    meta charset="utf-8";
                    title { (title) " · Atalaya" }
                    link rel="stylesheet" href="/static/console.css";
                }
                body.error {
                    main {
                        h1 { (status.as_u16()) " " (title) }
                        p { (self.to_string()) }
                        p { a href="/fleet" { "Back to the console" } }
                    }
                }
            }
        };
        (status, body).into_response()
    }
}

/// What console handlers return.
pub type PageResult<T> = Result<T, PageError>;

/// Runs a synchronous store call off the async runtime.
async fn blocking<T, F>(state: &ConsoleState, f: F) -> PageResult<T>
where
    T: Send + 'static,
    F: FnOnce(&crate::store::Store) -> Result<T, StoreError> + Send + 'static,
{
    let store = Arc::clone(&state.api.store);
    tokio::task::spawn_blocking(move || f(&store))
        .await
        .map_err(|e| PageError::Internal(format!("store task: {e}")))?
        .map_err(PageError::from)
}

/// Serves the API and the console on `listener` until `shutdown` completes.
pub async fn serve(
    listener: tokio::net::TcpListener,
    api_state: ApiState,
    settings: ConsoleSettings,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let app = app(api_state, settings, false);
    axum::serve(
        listener,
        app.into_make_service_with_connect_info::<crate::https::ClientAddr>(),
    )
    .with_graceful_shutdown(shutdown)
    .await
}
