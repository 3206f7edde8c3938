//! A diagnostic request of the help desk to an agent, and its result.

use atalaya_common::assist::{DiagOrder, DiagOutcome};
use atalaya_common::model::Timestamp;
use serde::{Deserialize, Serialize};

/// A diagnostic request as the collector keeps it: the signed order, when
/// it went to the agent, and what came back.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DiagnosticRecord {
    /// The order, as signed.
    pub order: DiagOrder,
    /// The CA's signature over [`DiagOrder::signed_bytes`].
    pub signature: Vec<u8>,
    /// The asset of the agent when it was asked.
    pub asset: Option<String>,
    /// Its host name then.
    pub hostname: Option<String>,
    /// When it was handed to the agent's session (`None`: not yet; each
    /// request is sent once at most).
    pub sent_at: Option<Timestamp>,
    /// What the agent answered.
    pub result: Option<DiagnosticResult>,
}

/// What the agent answered.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DiagnosticResult {
    /// When the collector stored it.
    pub received_at: Timestamp,
    /// When the agent started on it.
    pub started_at: Timestamp,
    /// How long it took on the agent, ms.
    pub duration_ms: u64,
    /// How it ended.
    pub outcome: DiagOutcome,
    /// Its output, as capped by the agent.
    pub output: String,
    /// Whether the agent cut the output.
    pub truncated: bool,
}

impl DiagnosticRecord {
    /// The request's id.
    pub fn id(&self) -> &str {
        &self.order.id
    }

    /// `pending` (not sent yet), `sent` (waiting for the answer),
    /// `expired` (no answer before its expiry), or the outcome's name.
    pub fn state(&self, now: Timestamp) -> &'static str {
        match (&self.result, self.sent_at) {
            (Some(r), _) => r.outcome.name(),
            (None, _) if now > self.order.expires_at => "expired",
            (None, Some(_)) => "sent",
            (None, None) => "pending",
        }
    }

    /// Whether it is to be sent to its agent at `now`.
    pub fn due(&self, now: Timestamp) -> bool {
        self.sent_at.is_none() && self.result.is_none() && now <= self.order.expires_at
    }
}
