//! Enrollment: an agent with a token and a certificate request gets a
//! certificate signed by the collector's CA. Its private key never travels.

use std::sync::Arc;
use std::time::Duration;

use atalaya_common::model::Timestamp;
use atalaya_common::proto::{self, EnrollResponse, FrameReader, Message, Refused};
use atalaya_common::token::secret_sha256;
use quinn::Connection;

use super::Hub;
use crate::pki;
use crate::store::{AgentRecord, TokenUseError};

/// The whole exchange must fit in this time: an enrollment is one request.
const ENROLL_TIMEOUT: Duration = Duration::from_secs(15);
/// An enrollment request is a CSR and a few names; anything larger is abuse.
const MAX_REQUEST_BYTES: usize = 64 * 1024;

/// Handles one enrollment connection.
pub async fn run(hub: Arc<Hub>, connection: Connection) {
    let remote = connection.remote_address();
    let limited = hub
        .enroll_failures
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .check(remote.ip(), std::time::Instant::now());
    if let Err(wait) = limited {
        tracing::warn!(%remote, "enrollment refused: too many failed attempts from this address");
        hub.telemetry.refuse("enrollment_rate_limited");
        let reason = format!(
            "too many failed enrollment attempts from {}; try again in {} s",
            remote.ip(),
            wait.as_secs().max(1)
        );
        connection.close(super::close_code::REFUSED, reason.as_bytes());
        return;
    }
    let outcome = tokio::time::timeout(ENROLL_TIMEOUT, exchange(&hub, &connection)).await;
    if outcome.is_err() {
        note_outcome(&hub, remote.ip(), false);
    }
    match outcome {
        Ok(Ok(agent_id)) => {
            hub.telemetry.enrollments.inc();
            tracing::info!(%remote, agent = %agent_id, "agent enrolled");
        }
        Ok(Err(reason)) => {
            tracing::warn!(%remote, %reason, "enrollment refused");
            hub.telemetry.refuse("enrollment");
        }
        Err(_) => {
            tracing::warn!(%remote, "enrollment timed out");
            hub.telemetry.refuse("enrollment_timeout");
            connection.close(super::close_code::PROTOCOL, b"enrollment timed out");
        }
    }
}

async fn exchange(hub: &Hub, connection: &Connection) -> Result<String, String> {
    let (mut send, mut recv) = connection.accept_bi().await.map_err(|e| e.to_string())?;
    let bytes = recv
        .read_to_end(MAX_REQUEST_BYTES)
        .await
        .map_err(|e| format!("reading the request: {e}"))?;
    let mut frames = FrameReader::new();
    frames.push(&bytes);
    let reply = match frames.next_message() {
        Ok(Some(Message::EnrollRequest(req))) => decide(hub, req).await,
        Ok(Some(other)) => Err(format!(
            "expected an enrollment request, got {}",
            other.name()
        )),
        Ok(None) => Err("incomplete enrollment request".to_owned()),
        Err(e) => Err(format!("bad enrollment request: {e}")),
    };
    // Counted now, not after the goodbye: a guesser does not wait for it.
    note_outcome(hub, connection.remote_address().ip(), reply.is_ok());
    let (message, outcome) = match reply {
        Ok(resp) => {
            let id = resp.agent_id.clone();
            (Message::EnrollResponse(resp), Ok(id))
        }
        Err(reason) => (
            Message::Refused(Refused {
                reason: reason.clone(),
            }),
            Err(reason),
        ),
    };
    let frame = proto::encode(&message).map_err(|e| e.to_string())?;
    send.write_all(&frame).await.map_err(|e| e.to_string())?;
    send.finish().map_err(|e| e.to_string())?;
    // Let the reply reach the agent before the connection goes.
    let _ = tokio::time::timeout(Duration::from_secs(5), connection.closed()).await;
    outcome
}

fn note_outcome(hub: &Hub, ip: std::net::IpAddr, success: bool) {
    let mut limiter = hub
        .enroll_failures
        .lock()
        .unwrap_or_else(|e| e.into_inner());
    if success {
        limiter.succeeded(ip);
    } else {
        limiter.failed(ip, std::time::Instant::now());
    }
}

async fn decide(
    hub: &Hub,
    req: atalaya_common::proto::EnrollRequest,
) -> Result<EnrollResponse, String> {
    let now = Timestamp::now();
    let hash = secret_sha256(&req.token_secret);
    let store = hub.store.clone();
    let token = tokio::task::spawn_blocking(move || store.use_token(&hash, now))
        .await
        .map_err(|e| e.to_string())?;
    match token {
        Ok(_) => {}
        Err(TokenUseError::Unknown) => {
            return Err("the enrollment token is not known to this collector".into());
        }
        Err(TokenUseError::Expired { at }) => {
            return Err(format!("the enrollment token expired at {at}"));
        }
        Err(TokenUseError::UsedUp { uses }) => {
            return Err(format!(
                "the enrollment token was already used {uses} times, its limit"
            ));
        }
        Err(TokenUseError::Revoked) => return Err("the enrollment token was revoked".into()),
        Err(e) => return Err(format!("the collector could not check the token: {e}")),
    }
    let agent_id = pki::new_agent_id();
    let certificate_pem = hub
        .ca
        .sign_agent_csr(&req.csr_der, &agent_id, hub.config.certificate_validity)
        .map_err(|e| format!("the certificate request was refused: {e}"))?;
    let der = {
        use rustls_pki_types::pem::PemObject;
        rustls_pki_types::CertificateDer::from_pem_slice(certificate_pem.as_bytes())
            .map_err(|e| format!("the signed certificate does not read back: {e}"))?
    };
    let cert_sha256 = pki::cert_sha256(&der);
    let record = AgentRecord::enrolled(
        agent_id.clone(),
        req.hostname.clone(),
        certificate_pem.clone(),
        cert_sha256,
        req.agent_version.clone(),
        now,
    );
    let store = hub.store.clone();
    tokio::task::spawn_blocking(move || store.add_agent(&record))
        .await
        .map_err(|e| e.to_string())?
        .map_err(|e| format!("the collector could not record the agent: {e}"))?;
    Ok(EnrollResponse {
        agent_id,
        certificate_pem,
        ca_pem: hub.ca.cert_pem().to_owned(),
    })
}
