//! Remote assistance in the daemon: the orders the uplink received are
//! checked and run one at a time ([`crate::assist`]), each recorded in
//! `<state_dir>/assist.log` and answered with a [`DiagResult`] record.
//! The orders accepted are kept in the state directory as they are
//! accepted, so a restart does not open a window for replays.

use std::sync::Arc;

use atalaya_common::proto::{DiagRequest, DiagResult, Message};
use tokio::sync::mpsc;

use crate::assist::{self, AssistConfig, accepted, audit, bundle, verify};
use crate::root::Root;
use crate::uplink::Shared;

/// Checks, runs and answers the orders the uplink hands over, one at a
/// time, until the uplink is gone.
pub async fn serve(
    mut requests: mpsc::UnboundedReceiver<DiagRequest>,
    mut verifier: verify::Verifier,
    config: AssistConfig,
    root: Root,
    sources: bundle::Sources,
    shared: Arc<Shared>,
) {
    let state_dir = sources.state_dir.clone();
    match accepted::load(&state_dir) {
        Ok(before) => verifier.remember(before),
        Err(e) => {
            tracing::error!(error = %e, "the orders accepted before this start are unknown: one sent again would run again")
        }
    }
    while let Some(request) = requests.recv().await {
        let result = assist::handle(&request, &mut verifier, &config, &root, &sources).await;
        let order = &request.order;
        let entry = audit::Entry::new(
            result.started_at,
            &order.id,
            Some(&order.requested_by),
            order.incident,
            &order.action,
            &result.outcome,
            result.output.len(),
            result.truncated,
            result.duration_ms,
        );
        if let Err(e) = audit::append(&state_dir, &entry, audit::MAX_BYTES) {
            tracing::warn!(error = %e, dir = %state_dir.display(), "cannot write the remote assistance log")
        }
        tracing::info!(id = %order.id, by = %order.requested_by, action = %order.action, outcome = result.outcome.name(), reason = ?result.outcome.reason(), "diagnostic request");
        if let Err(e) = shared.send(|seq| Message::DiagResult(DiagResult { seq, ..result })) {
            tracing::error!(error = %e, "cannot spool a diagnostic result");
        }
    }
}
