//! The agent's TLS and QUIC client configurations.
//!
//! Enrollment: the agent has no CA file yet, only the SHA-256 of the
//! collector's CA from the token. It accepts the collector only if the
//! presented chain contains a certificate with that hash *and* the
//! end-entity certificate is validly issued by it for the address dialled
//! (full webpki verification with that one certificate as the root).
//!
//! Data: mutual TLS with the stored CA as the only root and the agent
//! certificate as the client identity. TLS 1.3 only, ring provider.

use std::sync::{Arc, Mutex};

use atalaya_common::proto::{self, ALPN_DATA, ALPN_ENROLL};
use atalaya_common::token::hex;
use quinn::crypto::rustls::QuicClientConfig;
use rustls::DigitallySignedStruct;
use rustls::client::WebPkiServerVerifier;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls_pki_types::pem::PemObject as _;
use rustls_pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use sha2::{Digest as _, Sha256};

use crate::identity::AgentIdentity;

/// What went wrong building a client TLS configuration.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// rustls refused the configuration.
    #[error("TLS configuration refused: {0}")]
    Rustls(#[from] rustls::Error),
    /// A stored PEM does not hold what it should.
    #[error("the stored {what} is unreadable: {reason}; enroll again with a new token")]
    Pem {
        /// Which part of the identity.
        what: &'static str,
        /// What is wrong.
        reason: String,
    },
    /// The rustls configuration cannot carry QUIC.
    #[error("TLS configuration unusable for QUIC: {0}")]
    Quic(#[from] quinn::crypto::rustls::NoInitialCipherSuite),
    /// A transport parameter is out of range.
    #[error("QUIC idle timeout out of range: {0}")]
    IdleTimeout(#[from] quinn::VarIntBoundsExceeded),
}

/// Client configuration for enrollment: the collector is trusted only
/// through the CA hash `ca_sha256` carried by the token. ALPN `atalaya-enroll/1`.
pub fn enroll_client_config(ca_sha256: [u8; 32]) -> Result<quinn::ClientConfig, TlsError> {
    enroll_client_config_checked(ca_sha256).map(|(config, _)| config)
}

/// What the collector presented when it failed the CA pin check of an
/// enrollment connection; QUIC reports the failure only as text, so the
/// verifier keeps the facts here for the caller to tell it apart.
#[derive(Debug, Clone, Default)]
pub struct PinCheck(Arc<Mutex<Option<String>>>);

impl PinCheck {
    /// The SHA-256 of the CA certificates the collector presented (or a
    /// note that it sent none), if the pin check failed.
    pub fn mismatch(&self) -> Option<String> {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    fn record(&self, presented: String) {
        *self.0.lock().unwrap_or_else(|e| e.into_inner()) = Some(presented);
    }
}

/// [`enroll_client_config`], with the [`PinCheck`] its verifier fills in.
pub fn enroll_client_config_checked(
    ca_sha256: [u8; 32],
) -> Result<(quinn::ClientConfig, PinCheck), TlsError> {
    let provider = provider();
    let check = PinCheck::default();
    let verifier = PinnedCaVerifier {
        pin: ca_sha256,
        provider: provider.clone(),
        check: check.clone(),
    };
    let tls = rustls::ClientConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13])?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(verifier))
        .with_no_client_auth();
    Ok((quic_client(tls, ALPN_ENROLL)?, check))
}

/// Client configuration for data connections: mutual TLS with the stored
/// identity, the stored CA as the only root. ALPN `atalaya/1`.
pub fn data_client_config(identity: &AgentIdentity) -> Result<quinn::ClientConfig, TlsError> {
    let pem_err = |what| {
        move |e: rustls_pki_types::pem::Error| TlsError::Pem {
            what,
            reason: e.to_string(),
        }
    };
    let ca = CertificateDer::from_pem_slice(identity.ca_pem.as_bytes())
        .map_err(pem_err("collector CA certificate"))?;
    let chain = CertificateDer::pem_slice_iter(identity.certificate_pem.as_bytes())
        .collect::<Result<Vec<_>, _>>()
        .map_err(pem_err("agent certificate"))?;
    if chain.is_empty() {
        return Err(TlsError::Pem {
            what: "agent certificate",
            reason: "no certificate in it".into(),
        });
    }
    let key =
        PrivateKeyDer::from_pem_slice(identity.key_pem.as_bytes()).map_err(pem_err("agent key"))?;
    let mut roots = rustls::RootCertStore::empty();
    roots.add(ca)?;
    let tls = rustls::ClientConfig::builder_with_provider(provider())
        .with_protocol_versions(&[&rustls::version::TLS13])?
        .with_root_certificates(roots)
        .with_client_auth_cert(chain, key)?;
    quic_client(tls, ALPN_DATA)
}

/// A sentence for a failed data connection, when the cause is a certificate
/// the collector refused (the most likely cause after the CA was replaced).
pub fn explain_refusal(err: &quinn::ConnectionError) -> Option<&'static str> {
    let quinn::ConnectionError::ConnectionClosed(close) = err else {
        return None;
    };
    // QUIC carries TLS alerts as CRYPTO_ERROR 0x100 + alert (RFC 9001 §4.8).
    let code = u64::from(close.error_code);
    match code.checked_sub(0x100)? {
        // bad_certificate, unsupported_certificate, certificate_revoked,
        // certificate_expired, certificate_unknown, unknown_ca, access_denied
        42..=46 | 48 | 49 => Some(
            "the collector refused this agent's certificate (not issued by its CA, expired or revoked); enroll again with a new token",
        ),
        // certificate_required
        116 => Some("the collector requires a client certificate; enroll this agent first"),
        _ => None,
    }
}

fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

fn quic_client(
    mut tls: rustls::ClientConfig,
    alpn: &[u8],
) -> Result<quinn::ClientConfig, TlsError> {
    tls.alpn_protocols = vec![alpn.to_vec()];
    let crypto = QuicClientConfig::try_from(Arc::new(tls))?;
    let mut config = quinn::ClientConfig::new(Arc::new(crypto));
    let mut transport = quinn::TransportConfig::default();
    transport
        .keep_alive_interval(Some(proto::KEEP_ALIVE))
        .max_idle_timeout(Some(proto::IDLE_TIMEOUT.try_into()?));
    config.transport_config(Arc::new(transport));
    Ok(config)
}

/// Trusts the server chain only through a CA certificate with a known hash.
#[derive(Debug)]
struct PinnedCaVerifier {
    pin: [u8; 32],
    provider: Arc<CryptoProvider>,
    check: PinCheck,
}

impl ServerCertVerifier for PinnedCaVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let hash = |der: &[u8]| -> [u8; 32] { Sha256::digest(der).into() };
        let Some(ca) = intermediates.iter().find(|c| hash(c) == self.pin) else {
            let got = if intermediates.is_empty() {
                "none (the collector sent no CA certificate)".to_owned()
            } else {
                intermediates
                    .iter()
                    .map(|c| hex(&hash(c)))
                    .collect::<Vec<_>>()
                    .join(", ")
            };
            self.check.record(got.clone());
            return Err(rustls::Error::General(format!(
                "the collector's CA does not match the token: expected sha256 {}, got {got}",
                hex(&self.pin)
            )));
        };
        let mut roots = rustls::RootCertStore::empty();
        roots.add(ca.clone().into_owned())?;
        let webpki =
            WebPkiServerVerifier::builder_with_provider(Arc::new(roots), self.provider.clone())
                .build()
                .map_err(|e| rustls::Error::General(format!("pinned CA unusable: {e}")))?;
        webpki.verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now)
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}
