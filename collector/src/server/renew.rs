//! Certificate renewal: an agent with a valid certificate asks, on its
//! authenticated data connection, for a certificate for a new key.
//!
//! The new certificate names the agent of the connection (the identity its
//! current certificate proved in the handshake), never anything the request
//! says, and gets the same lifetime as at enrollment. The agents table keeps
//! the newest certificate; the old one stays valid until it expires, so an
//! agent that crashes before storing the new one can still connect.

use std::time::Duration;

use atalaya_common::model::Timestamp;
use atalaya_common::proto::{RenewRequest, Renewed};
use quinn::Connection;
use rustls_pki_types::CertificateDer;
use rustls_pki_types::pem::PemObject as _;

use super::Hub;
use crate::pki::PkiError;
use crate::store::StoreError;
use crate::{pki, tls};

/// Why a renewal was refused.
///
/// The agent is told this error's text, in a `Refused`, and writes it to
/// its log.
#[derive(Debug, thiserror::Error)]
pub enum RenewError {
    /// The agent asked again too soon on one connection.
    #[error("renewal requested again within {} s on one connection", spacing.as_secs())]
    TooSoon {
        /// The least time between two requests.
        spacing: Duration,
    },
    /// The certificate of the connection has expired.
    #[error("this agent's certificate expired at {at}; enroll it again with a new token")]
    Expired {
        /// When it expired.
        at: Timestamp,
    },
    /// The certificate request was not signed.
    #[error("the certificate request was refused: {0}")]
    Sign(#[source] PkiError),
    /// The certificate just signed does not parse (a bug in signing).
    #[error("the signed certificate does not read back: {0}")]
    ReadBack(#[source] rustls_pki_types::pem::Error),
    /// The new certificate could not be stored.
    #[error("the collector could not record the certificate: {0}")]
    Record(#[source] StoreError),
    /// The blocking store task panicked or was cancelled.
    #[error("{0}")]
    Task(#[source] tokio::task::JoinError),
    /// The agents table does not know this agent.
    #[error("this agent is not enrolled here")]
    NotEnrolled,
    /// The agent was revoked.
    #[error("this agent was revoked at {at}")]
    Revoked {
        /// When.
        at: Timestamp,
    },
}

/// Signs a certificate for the key in `req` for `agent_id`, the identity of
/// the authenticated `connection`, and records it.
///
/// A certificate that expired while its connection stayed open is not
/// renewed: expiry means enrolling again, whichever way it is met.
pub async fn renew(
    hub: &Hub,
    connection: &Connection,
    agent_id: &str,
    req: RenewRequest,
) -> Result<Renewed, RenewError> {
    if let Some(end) =
        tls::peer_not_after(connection).filter(|end| *end <= Timestamp::now().as_secs())
    {
        return Err(RenewError::Expired {
            at: Timestamp::from_secs(end),
        });
    }
    let certificate_pem = hub
        .ca
        .sign_agent_csr(&req.csr_der, agent_id, hub.config.certificate_validity)
        .map_err(RenewError::Sign)?;
    let der =
        CertificateDer::from_pem_slice(certificate_pem.as_bytes()).map_err(RenewError::ReadBack)?;
    let sha256 = pki::cert_sha256(&der);
    let store = hub.store.clone();
    let (id, pem) = (agent_id.to_owned(), certificate_pem.clone());
    let stored =
        tokio::task::spawn_blocking(move || store.set_agent_certificate(&id, &pem, sha256))
            .await
            .map_err(RenewError::Task)?
            .map_err(RenewError::Record)?;
    match stored {
        None => return Err(RenewError::NotEnrolled),
        Some(Some(at)) => return Err(RenewError::Revoked { at }),
        Some(None) => {}
    }
    hub.telemetry.renewals.inc();
    let not_after = pki::not_after_of(&der).map(Timestamp::from_secs);
    tracing::info!(
        agent = %agent_id,
        not_after = %not_after.unwrap_or_default(),
        cert_sha256 = %atalaya_common::token::hex(&sha256),
        "agent certificate renewed"
    );
    Ok(Renewed { certificate_pem })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// These texts reach the agent in a `Refused` and end up in its log;
    /// the agent's own advice follows the expiry one.
    #[test]
    fn refusals_keep_their_wording() {
        assert_eq!(
            RenewError::Expired {
                at: Timestamp::from_secs(1_700_000_000)
            }
            .to_string(),
            "this agent's certificate expired at 2023-11-14T22:13:20Z; enroll it again with a new token"
        );
        assert_eq!(
            RenewError::TooSoon {
                spacing: Duration::from_secs(10)
            }
            .to_string(),
            "renewal requested again within 10 s on one connection"
        );
        assert_eq!(
            RenewError::NotEnrolled.to_string(),
            "this agent is not enrolled here"
        );
        assert_eq!(
            RenewError::Revoked {
                at: Timestamp::from_secs(1_700_000_000)
            }
            .to_string(),
            "this agent was revoked at 2023-11-14T22:13:20Z"
        );
    }
}
