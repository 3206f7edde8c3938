//! Enrollment: an agent with a token and a certificate request gets a
//! certificate signed by the collector's CA. Its private key never travels.

use std::sync::Arc;
use std::time::Duration;

use atalaya_common::model::Timestamp;
use atalaya_common::proto::{
    self, DecodeError, EncodeError, EnrollResponse, FrameReader, Message, Refused,
};
use atalaya_common::token::secret_sha256;
use quinn::Connection;

use super::Hub;
use crate::pki::{self, PkiError};
use crate::store::{AgentRecord, StoreError, TokenUseError};

/// The whole exchange must fit in this time: an enrollment is one request.
const ENROLL_TIMEOUT: Duration = Duration::from_secs(15);
/// An enrollment request is a CSR and a few names; anything larger is abuse.
const MAX_REQUEST_BYTES: usize = 64 * 1024;

/// Why an enrollment was refused or failed.
///
/// What the agent is told is this error's text, in a `Refused`; its
/// wording is what an administrator reads in the agent's log.
#[derive(Debug, thiserror::Error)]
pub enum EnrollError {
    /// The agent opened no request stream.
    #[error("accepting the request stream: {0}")]
    Accept(#[source] quinn::ConnectionError),
    /// The request could not be read.
    #[error("reading the request: {0}")]
    Read(#[source] quinn::ReadToEndError),
    /// The request is not a valid frame.
    #[error("bad enrollment request: {0}")]
    Malformed(#[source] DecodeError),
    /// The request ended before its frame did.
    #[error("incomplete enrollment request")]
    Incomplete,
    /// A message other than an enrollment request came.
    #[error("expected an enrollment request, got {kind}")]
    Unexpected {
        /// The kind of message received.
        kind: &'static str,
    },
    /// No token has this secret.
    #[error("the enrollment token is not known to this collector")]
    UnknownToken,
    /// The token expired.
    #[error("the enrollment token expired at {at}")]
    ExpiredToken {
        /// When.
        at: Timestamp,
    },
    /// The token has been used as often as it allows.
    #[error("the enrollment token was already used {uses} times, its limit")]
    UsedUpToken {
        /// Uses made.
        uses: u32,
    },
    /// The token was revoked.
    #[error("the enrollment token was revoked")]
    RevokedToken,
    /// The store could not say whether the token is good.
    #[error("the collector could not check the token: {0}")]
    TokenCheck(#[source] StoreError),
    /// The certificate request was not signed.
    #[error("the certificate request was refused: {0}")]
    Sign(#[source] PkiError),
    /// The certificate just signed does not parse (a bug in signing).
    #[error("the signed certificate does not read back: {0}")]
    ReadBack(#[source] rustls_pki_types::pem::Error),
    /// The new agent could not be stored.
    #[error("the collector could not record the agent: {0}")]
    Record(#[source] StoreError),
    /// The blocking store task panicked or was cancelled.
    #[error("{0}")]
    Task(#[source] tokio::task::JoinError),
    /// The reply could not be encoded.
    #[error("encoding the reply: {0}")]
    Encode(#[source] EncodeError),
    /// The reply could not be sent.
    #[error("sending the reply: {0}")]
    Write(#[source] quinn::WriteError),
    /// The reply stream could not be finished.
    #[error("finishing the reply: {0}")]
    Finish(#[source] quinn::ClosedStream),
}

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
        Ok(Err(err)) => {
            tracing::warn!(%remote, reason = %err, "enrollment refused");
            hub.telemetry.refuse("enrollment");
        }
        Err(_) => {
            tracing::warn!(%remote, "enrollment timed out");
            hub.telemetry.refuse("enrollment_timeout");
            connection.close(super::close_code::PROTOCOL, b"enrollment timed out");
        }
    }
}

async fn exchange(hub: &Hub, connection: &Connection) -> Result<String, EnrollError> {
    let (mut send, mut recv) = connection.accept_bi().await.map_err(EnrollError::Accept)?;
    let bytes = recv
        .read_to_end(MAX_REQUEST_BYTES)
        .await
        .map_err(EnrollError::Read)?;
    let mut frames = FrameReader::new();
    frames.push(&bytes);
    let reply = match frames.next_message() {
        Ok(Some(Message::EnrollRequest(req))) => decide(hub, req).await,
        Ok(Some(other)) => Err(EnrollError::Unexpected { kind: other.name() }),
        Ok(None) => Err(EnrollError::Incomplete),
        Err(e) => Err(EnrollError::Malformed(e)),
    };
    // Counted now, not after the goodbye: a guesser does not wait for it.
    note_outcome(hub, connection.remote_address().ip(), reply.is_ok());
    let (message, outcome) = match reply {
        Ok(resp) => {
            let id = resp.agent_id.clone();
            (Message::EnrollResponse(resp), Ok(id))
        }
        Err(err) => (
            Message::Refused(Refused {
                reason: err.to_string(),
            }),
            Err(err),
        ),
    };
    let frame = proto::encode(&message).map_err(EnrollError::Encode)?;
    send.write_all(&frame).await.map_err(EnrollError::Write)?;
    send.finish().map_err(EnrollError::Finish)?;
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
) -> Result<EnrollResponse, EnrollError> {
    let now = Timestamp::now();
    let hash = secret_sha256(&req.token_secret);
    let store = hub.store.clone();
    let token = tokio::task::spawn_blocking(move || store.use_token(&hash, now))
        .await
        .map_err(EnrollError::Task)?;
    match token {
        Ok(_) => {}
        Err(TokenUseError::Unknown) => return Err(EnrollError::UnknownToken),
        Err(TokenUseError::Expired { at }) => return Err(EnrollError::ExpiredToken { at }),
        Err(TokenUseError::UsedUp { uses }) => return Err(EnrollError::UsedUpToken { uses }),
        Err(TokenUseError::Revoked) => return Err(EnrollError::RevokedToken),
        Err(TokenUseError::Store(e)) => return Err(EnrollError::TokenCheck(e)),
    }
    let agent_id = pki::new_agent_id();
    let certificate_pem = hub
        .ca
        .sign_agent_csr(&req.csr_der, &agent_id, hub.config.certificate_validity)
        .map_err(EnrollError::Sign)?;
    let der = {
        use rustls_pki_types::pem::PemObject;
        rustls_pki_types::CertificateDer::from_pem_slice(certificate_pem.as_bytes())
            .map_err(EnrollError::ReadBack)?
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
        .map_err(EnrollError::Task)?
        .map_err(EnrollError::Record)?;
    Ok(EnrollResponse {
        agent_id,
        certificate_pem,
        ca_pem: hub.ca.cert_pem().to_owned(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// These texts reach the agent in a `Refused`; the person enrolling it
    /// reads them to know what is wrong with the token.
    #[test]
    fn refusals_keep_their_wording() {
        assert_eq!(
            EnrollError::UnknownToken.to_string(),
            "the enrollment token is not known to this collector"
        );
        assert_eq!(
            EnrollError::ExpiredToken {
                at: Timestamp::from_secs(1_700_000_000)
            }
            .to_string(),
            "the enrollment token expired at 2023-11-14T22:13:20Z"
        );
        assert_eq!(
            EnrollError::UsedUpToken { uses: 3 }.to_string(),
            "the enrollment token was already used 3 times, its limit"
        );
        assert_eq!(
            EnrollError::RevokedToken.to_string(),
            "the enrollment token was revoked"
        );
        assert_eq!(
            EnrollError::Unexpected { kind: "Hello" }.to_string(),
            "expected an enrollment request, got Hello"
        );
        assert_eq!(
            EnrollError::Incomplete.to_string(),
            "incomplete enrollment request"
        );
        let corrupt = StoreError::Corrupt {
            table: "tokens",
            reason: "truncated".into(),
        };
        assert_eq!(
            EnrollError::TokenCheck(corrupt).to_string(),
            "the collector could not check the token: store: record in table tokens does not decode: truncated"
        );
    }
}
