//! Diagnostic requests on their way to an agent's session.
//!
//! Requests live in the store; a session sends its agent those due (not
//! sent, not expired) when it starts and whenever the API wakes it for a
//! new one, marking each sent first: a request goes out once at most, so
//! an action such as a service restart is never run twice by a resend. A
//! request made while its agent is away waits in the store until the
//! agent's next session or its expiry, whichever comes first. Only the
//! agent's newest session takes requests: an older one still open is that
//! of an agent that went away without closing it (restarted, say), and
//! what it sent would be lost until it timed out. Only agents
//! whose `Hello` lists [`atalaya_common::proto::FEATURE_DIAG`] are sent any: an older
//! agent would end its session on a message it does not know.

use atalaya_common::model::Timestamp;
use atalaya_common::proto::{DiagRequest, Message};
use tokio::sync::watch;

use super::Connections;
use crate::store::Store;

/// The diagnostic requests of one session's agent.
#[derive(Debug)]
pub struct DiagFeed<'h> {
    /// The store.
    pub store: &'h Store,
    /// The session's agent.
    pub agent: &'h str,
    /// Whether the agent understands them.
    pub enabled: bool,
    /// Bumped when a request for this agent was stored.
    pub wake: watch::Receiver<u64>,
    /// The agents' open connections.
    pub connections: &'h Connections,
    /// This session's.
    pub connection: &'h quinn::Connection,
}

impl DiagFeed<'_> {
    /// The requests to send now, each marked sent.
    pub fn due(&mut self) -> Vec<Message> {
        if !self.enabled || !self.connections.is_newest(self.agent, self.connection) {
            return Vec::new();
        }
        match self.store.take_due_diagnostics(self.agent, Timestamp::now()) {
            Ok(due) => due
                .into_iter()
                .map(|rec| {
                    tracing::info!(agent = %self.agent, id = %rec.order.id, action = %rec.order.action, by = %rec.order.requested_by, "diagnostic request sent");
                    Message::DiagRequest(DiagRequest {
                        order: rec.order,
                        signature: rec.signature,
                    })
                })
                .collect(),
            Err(err) => {
                tracing::warn!(agent = %self.agent, error = %err, "cannot read the diagnostic requests for this agent");
                Vec::new()
            }
        }
    }
}
