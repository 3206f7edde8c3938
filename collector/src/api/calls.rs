//! Incoming calls: `POST /api/v1/calls` (telephony or admin; JSON or an
//! HTML form) tells who is calling and publishes the call on the hub; `GET /api/v1/calls/stream`
//! (helpdesk and up) gives the calls ringing at an extension, as they
//! ring, as server-sent events.

use std::convert::Infallible;
use std::sync::Arc;

use atalaya_common::model::Timestamp;
use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, header};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use futures_util::Stream;
use serde::Deserialize;
use tokio::sync::broadcast::Receiver;
use tokio::sync::broadcast::error::RecvError;
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::agents::agent_status;
use super::{ApiError, ApiResult, ApiState, Caller, ErrorBody, blocking};
use crate::desk::calls::{self, CallEvent};
use crate::people::phone::extension_key;
use crate::store::Role;

/// Longest caller number taken, in characters.
const MAX_FROM_CHARS: usize = 64;

/// The call routes, to merge into the API router.
pub(super) fn routes() -> OpenApiRouter<ApiState> {
    OpenApiRouter::new()
        .routes(routes!(post_call))
        .routes(routes!(stream))
}

/// Body of `POST /api/v1/calls`.
#[derive(Debug, Deserialize, ToSchema)]
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

/// Tells who is calling: the caller's machines, person and open incidents,
/// found by the number; the call is also published to the event stream.
#[utoipa::path(
    post,
    path = "/api/v1/calls",
    tag = "calls",
    request_body(
        description = "The call, as JSON or as an HTML form (`from=…&extension=…`).",
        content(
            (NewCall = "application/json"),
            (NewCall = "application/x-www-form-urlencoded"),
        ),
    ),
    security(("bearer" = ["telephony"])),
    responses(
        (status = 200, description = "The call with the caller's card.", body = CallEvent),
        (status = 400, description = "The body does not parse, or `from` or `extension` is not valid.", body = ErrorBody),
    ),
)]
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
#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
struct StreamQuery {
    /// Only the calls ringing at this extension (none: every call).
    extension: Option<String>,
}

/// The calls ringing at an extension (or every call), as they ring, as
/// server-sent events.
///
/// Each `call` event's data is a `CallEvent` as JSON; a `lagged` event
/// says how many calls were missed when the listener fell behind.
#[utoipa::path(
    get,
    path = "/api/v1/calls/stream",
    tag = "calls",
    operation_id = "call_stream",
    params(StreamQuery),
    security(("bearer" = ["helpdesk"])),
    responses(
        (status = 200, description = "A stream of server-sent events: `call` (data: a `CallEvent` as JSON) and `lagged`.", content_type = "text/event-stream", body = String),
        (status = 400, description = "`extension` is not an extension, or an unknown parameter was given.", body = ErrorBody),
    ),
)]
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
