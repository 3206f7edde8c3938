//! Incoming calls: `POST /api/v1/calls` (telephony or admin; JSON or an
//! HTML form) tells who is calling and publishes the call on the hub; `GET /api/v1/calls/stream`
//! (helpdesk and up) gives the calls ringing at an extension, as they
//! ring, as server-sent events.

use std::convert::Infallible;
use std::sync::Arc;

use atalaya_common::model::Timestamp;
use axum::body::Bytes;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, header};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use futures_util::Stream;
use serde::Deserialize;
use tokio::sync::broadcast::Receiver;
use tokio::sync::broadcast::error::RecvError;

use super::agents::agent_status;
use super::{ApiError, ApiResult, ApiState, Caller, blocking};
use crate::desk::calls::{self, CallEvent};
use crate::people::phone::extension_key;
use crate::store::Role;

/// Longest caller number taken, in characters.
const MAX_FROM_CHARS: usize = 64;

/// The call routes, to merge into the API router.
pub(super) fn routes() -> Router<ApiState> {
    Router::new()
        .route("/api/v1/calls", post(post_call))
        .route("/api/v1/calls/stream", get(stream))
}

/// Body of `POST /api/v1/calls`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewCall {
    /// The caller's number, as the phone system has it.
    pub from: String,
    /// The extension it rings at.
    #[serde(default)]
    pub extension: Option<String>,
}

/// The extension `raw` as digits; 400 naming `param` when it is not one.
fn extension(param: &'static str, raw: Option<String>) -> ApiResult<Option<String>> {
    match raw.as_deref().map(str::trim) {
        None | Some("") => Ok(None),
        Some(x) => extension_key(x).map(Some).ok_or_else(|| {
            ApiError::bad(
                param,
                format!("`{x}` is not an extension (up to 15 digits)"),
            )
        }),
    }
}

/// The call in `body`: JSON, or an HTML form (`from=…&extension=…`, what
/// a phone system's HTTP client sends most simply) when the content type
/// says so.
fn parse_call(headers: &HeaderMap, body: &[u8]) -> ApiResult<NewCall> {
    let form = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|t| t.starts_with("application/x-www-form-urlencoded"));
    if form {
        serde_urlencoded::from_bytes(body).map_err(|e| {
            ApiError::BadRequest(format!(
                "the form does not parse: {e} (send from=%2B34600000000&extension=2041)"
            ))
        })
    } else {
        serde_json::from_slice(body).map_err(|e| {
            ApiError::BadRequest(format!(
                "the JSON body does not parse: {e} (send {{\"from\": \"+34 600 000 000\", \"extension\": \"2041\"}})"
            ))
        })
    }
}

async fn post_call(
    State(state): State<ApiState>,
    caller: Caller,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<Response> {
    caller.require(Role::Telephony)?;
    let call = parse_call(&headers, &body)?;
    let from = call.from.trim().to_owned();
    if from.chars().count() > MAX_FROM_CHARS {
        return Err(ApiError::bad(
            "from",
            format!("longer than {MAX_FROM_CHARS} characters"),
        ));
    }
    if from.is_empty() {
        return Err(ApiError::bad(
            "from",
            "give the caller's number, e.g. \"+34 600 000 000\" (or \"anonymous\")",
        ));
    }
    let extension = extension("extension", call.extension)?;
    let phones = state.calls.phones().clone();
    let admin = state.admin.clone();
    let silent_after = admin.silent_after();
    let now = Timestamp::now();
    let event = blocking(&state, move |s| {
        calls::resolve(s, &phones, &from, extension, now, &|a| {
            agent_status(a, admin.is_connected(&a.id), silent_after, now)
        })
    })
    .await?;
    tracing::info!(
        from = %event.from,
        extension = event.extension.as_deref().unwrap_or("-"),
        caller = %event.card.text,
        by = %caller.0.id,
        "incoming call"
    );
    state.calls.publish(event.clone());
    Ok(Json(event).into_response())
}

/// Query of `GET /api/v1/calls/stream`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct StreamQuery {
    /// Only the calls ringing at this extension (none: every call).
    extension: Option<String>,
}

async fn stream(
    State(state): State<ApiState>,
    caller: Caller,
    q: Result<Query<StreamQuery>, QueryRejection>,
) -> ApiResult<Response> {
    caller.require(Role::Helpdesk)?;
    let Query(q) = q?;
    let want = extension("extension", q.extension)?;
    // Subscribed before the answer's head goes out: a call posted once
    // the listener has the head is in its stream.
    let calls = state.calls.subscribe();
    Ok(Sse::new(call_events(calls, want))
        .keep_alive(KeepAlive::default())
        .into_response())
}

/// The calls of `calls` ringing at `want` (or all), as `call` events of
/// [`CallEvent`] JSON; a `lagged` event says how many were missed when
/// the listener fell behind.
fn call_events(
    calls: Receiver<Arc<CallEvent>>,
    want: Option<String>,
) -> impl Stream<Item = Result<Event, Infallible>> {
    call_stream(calls, want, |call| {
        match Event::default().event("call").json_data(call) {
            Ok(e) => Some(e),
            Err(err) => {
                tracing::error!(error = %err, "a call event does not encode");
                None
            }
        }
    })
}

/// The calls of `calls` ringing at `want` (or all), each made an event by
/// `render` (`None`: skipped); a `lagged` event says how many were missed
/// when the listener fell behind. The console's stream is this one with
/// HTML cards.
pub fn call_stream(
    calls: Receiver<Arc<CallEvent>>,
    want: Option<String>,
    render: impl Fn(&CallEvent) -> Option<Event> + Send + 'static,
) -> impl Stream<Item = Result<Event, Infallible>> {
    futures_util::stream::unfold(
        (calls, want, render),
        |(mut calls, want, render)| async move {
            loop {
                let event = match calls.recv().await {
                    Ok(call) => {
                        if want.is_some() && call.extension != want {
                            continue;
                        }
                        match render(&call) {
                            Some(e) => e,
                            None => continue,
                        }
                    }
                    Err(RecvError::Lagged(missed)) => Event::default()
                        .event("lagged")
                        .data(format!("{missed} calls were missed")),
                    Err(RecvError::Closed) => return None,
                };
                return Some((Ok(event), (calls, want, render)));
            }
        },
    )
}
