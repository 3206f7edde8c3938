//! Discoveries the collector asks this agent for: each request swept once
//! (one at a time, in the order asked), each device found spooled as a
//! [`DiscoveryResult`] as it answers, then one that says the sweep ended.
//! An agent with `[snmp] enabled = false` answers with a refusal.

use std::sync::Arc;

use atalaya_common::model::Timestamp;
use atalaya_common::proto::{DiscoveryOutcome, DiscoveryRequest, DiscoveryResult, Message};
use tokio::sync::mpsc;

use crate::config::SnmpConfig;
use crate::error::describe;
use crate::snmp::client::SharedTransport;
use crate::snmp::discovery;
use crate::uplink::Shared;

/// Sweeps each request from `requests` until they end.
pub async fn serve(
    mut requests: mpsc::UnboundedReceiver<DiscoveryRequest>,
    settings: SnmpConfig,
    shared: Arc<Shared>,
) {
    while let Some(req) = requests.recv().await {
        run_one(&req, settings, &shared).await;
    }
}

/// Sweeps one request and spools what it found.
pub async fn run_one(req: &DiscoveryRequest, settings: SnmpConfig, shared: &Shared) {
    let outcome = if settings.enabled {
        match SharedTransport::bind().await {
            Ok(transport) => {
                let swept = discovery::sweep(req, &transport, |found| {
                    tracing::info!(id = req.id, address = %found.address, sys_name = %found.sys_name, "discovery: a device answered");
                    spool(shared, req.id, DiscoveryOutcome::Found(found));
                })
                .await;
                match swept {
                    Ok(s) => {
                        tracing::info!(
                            id = req.id,
                            addresses = s.addresses,
                            found = s.found,
                            "discovery done"
                        );
                        DiscoveryOutcome::Finished {
                            addresses: s.addresses,
                            found: s.found,
                        }
                    }
                    Err(err) => refused(req.id, err.to_string()),
                }
            }
            Err(err) => refused(req.id, format!("binding the SNMP socket: {err}")),
        }
    } else {
        refused(
            req.id,
            "SNMP is disabled on this agent ([snmp] enabled = false)".into(),
        )
    };
    spool(shared, req.id, outcome);
}

fn refused(id: u64, reason: String) -> DiscoveryOutcome {
    tracing::warn!(id, reason = %reason, "discovery refused");
    DiscoveryOutcome::Refused { reason }
}

fn spool(shared: &Shared, id: u64, outcome: DiscoveryOutcome) {
    let sent = shared.send(|seq| {
        Message::DiscoveryResult(DiscoveryResult {
            seq,
            id,
            at: Timestamp::now(),
            outcome,
        })
    });
    if let Err(err) = sent {
        tracing::error!(id, error = %describe(&err), "dropping a discovery result");
    }
}

#[cfg(test)]
mod tests {
    use atalaya_common::model::{Credentials, Secret};

    use super::*;
    use crate::daemon::test_shared;

    #[tokio::test]
    async fn a_disabled_agent_answers_a_refusal() {
        let shared = test_shared();
        let req = DiscoveryRequest {
            id: 9,
            ranges: vec!["192.0.2.0/30".into()],
            port: 161,
            credentials: vec![Credentials::V2c {
                community: Secret::new("public"),
            }],
            concurrency: 4,
            timeout_ms: 100,
        };
        let settings = SnmpConfig {
            enabled: false,
            concurrency: 4,
            trap_listen: None,
        };
        run_one(&req, settings, &shared).await;
        let pending = shared.outbox().next_after(0).unwrap();
        let (message, _) = atalaya_common::proto::decode(&pending.frame)
            .unwrap()
            .unwrap();
        let Message::DiscoveryResult(r) = message else {
            panic!("{message:?}");
        };
        assert_eq!(r.id, 9);
        assert!(
            matches!(&r.outcome, DiscoveryOutcome::Refused { reason } if reason.contains("[snmp] enabled = false")),
            "{r:?}"
        );
    }
}
