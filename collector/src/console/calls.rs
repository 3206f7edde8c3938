//! The phone rings: `/events` streams to a signed-in person the caller
//! card of every call ringing at their extension (server-sent events, a
//! `call` event of HTML the console's script shows in the calls box).
//!
//! A person's extension comes from the people directory: the entry whose
//! logins include the account's name. A person with none gets a stream
//! that stays open and quiet.

use axum::Router;
use axum::extract::State;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use maud::{Markup, html};

use super::auth::Person;
use super::layout;
use super::lookup::card;
use super::{ConsoleState, PageResult, blocking};
use crate::api::calls::call_stream;
use crate::desk::calls::CallEvent;
use crate::people::phone::extension_key;

pub(super) fn routes() -> Router<ConsoleState> {
    Router::new().route("/events", get(events))
}

async fn events(State(state): State<ConsoleState>, me: Person) -> PageResult<Response> {
    let name = me.name.clone();
    let extension = blocking(&state, move |s| {
        Ok(s.person_by_login(&name)?.and_then(|p| p.person.extension))
    })
    .await?
    .and_then(|x| extension_key(&x));
    let Some(extension) = extension else {
        // No extension: nothing will ring here; keep the page's stream
        // open so the script does not reconnect in a loop.
        let quiet = futures_util::stream::pending::<Result<Event, std::convert::Infallible>>();
        return Ok(Sse::new(quiet)
            .keep_alive(KeepAlive::default())
            .into_response());
    };
    let calls = state.api.calls.subscribe();
    let stream = call_stream(calls, Some(extension), |call| {
        Some(
            Event::default()
                .event("call")
                .data(call_card(call).into_string()),
        )
    });
    Ok(Sse::new(stream)
        .keep_alive(KeepAlive::default())
        .into_response())
}

/// The card of a ringing call: who it is from and what we know of them.
pub fn call_card(call: &CallEvent) -> Markup {
    html! {
        section.call data-from=(call.from) {
            h2 { "Call from " (call.from) }
            p { (call.card.text) " · " (layout::when(Some(call.at))) }
            (card(&call.card.lookup))
        }
    }
}
