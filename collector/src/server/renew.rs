//! Certificate renewal: an agent with a valid certificate asks, on its
//! authenticated data connection, for a certificate for a new key.
//!
//! The new certificate names the agent of the connection (the identity its
//! current certificate proved in the handshake), never anything the request
//! says, and gets the same lifetime as at enrollment. The agents table keeps
//! the newest certificate; the old one stays valid until it expires, so an
//! agent that crashes before storing the new one can still connect.

use atalaya_common::model::Timestamp;
use atalaya_common::proto::{RenewRequest, Renewed};
use quinn::Connection;
use rustls_pki_types::CertificateDer;
use rustls_pki_types::pem::PemObject as _;

use super::Hub;
use crate::{pki, tls};

/// Signs a certificate for the key in `req` for `agent_id`, the identity of
/// the authenticated `connection`, and records it. `Err` is the refusal's
/// reason, in words for the agent's log.
///
/// A certificate that expired while its connection stayed open is not
/// renewed: expiry means enrolling again, whichever way it is met.
pub async fn renew(
    hub: &Hub,
    connection: &Connection,
    agent_id: &str,
    req: RenewRequest,
) -> Result<Renewed, String> {
    if let Some(end) =
        tls::peer_not_after(connection).filter(|end| *end <= Timestamp::now().as_secs())
    {
        return Err(format!(
            "this agent's certificate expired at {}; enroll it again with a new token",
            Timestamp::from_secs(end)
        ));
    }
    let certificate_pem = hub
        .ca
        .sign_agent_csr(&req.csr_der, agent_id, hub.config.certificate_validity)
        .map_err(|e| format!("the certificate request was refused: {e}"))?;
    let der = CertificateDer::from_pem_slice(certificate_pem.as_bytes())
        .map_err(|e| format!("the signed certificate does not read back: {e}"))?;
    let sha256 = pki::cert_sha256(&der);
    let store = hub.store.clone();
    let (id, pem) = (agent_id.to_owned(), certificate_pem.clone());
    let stored =
        tokio::task::spawn_blocking(move || store.set_agent_certificate(&id, &pem, sha256))
            .await
            .map_err(|e| e.to_string())?
            .map_err(|e| format!("the collector could not record the certificate: {e}"))?;
    match stored {
        None => return Err("this agent is not enrolled here".into()),
        Some(Some(at)) => return Err(format!("this agent was revoked at {at}")),
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
