//! The collector's TLS and QUIC server configuration.
//!
//! One QUIC endpoint serves both ALPNs: `atalaya-enroll/1`, where the agent
//! has no certificate yet, and `atalaya/1`, mutual TLS. So the rustls config
//! *allows* a missing client certificate, but any certificate that is
//! presented must chain to the collector CA, or the handshake fails. The
//! session code refuses data connections whose [`peer_agent_id`] is `None`.
//!
//! A refused client certificate is counted in `/metrics` by reason
//! (`foreign_ca`, `certificate_expired`, `bad_certificate`) and carries a
//! sentence an operator can act on; the server logs it with the peer's
//! address (see [`is_certificate_refusal`]).

use std::fmt;
use std::sync::Arc;

use atalaya_common::proto::{self, ALPN_DATA, ALPN_ENROLL};
use quinn::crypto::rustls::QuicServerConfig;
use rustls::client::danger::HandshakeSignatureValid;
use rustls::server::WebPkiClientVerifier;
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::{CertificateError, DigitallySignedStruct, DistinguishedName, OtherError};
use rustls_pki_types::{CertificateDer, PrivateKeyDer, UnixTime};

use atalaya_common::model::Timestamp;

use crate::pki::{CertificateAuthority, agent_id_of, is_signed_by, not_after_of};
use crate::telemetry::Telemetry;

/// What went wrong building the server TLS configuration.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// rustls refused the configuration (bad key, unsupported version, …).
    #[error("TLS configuration refused: {0}")]
    Rustls(#[from] rustls::Error),
    /// The CA certificate cannot serve as a trust anchor.
    #[error("the collector CA certificate cannot verify clients: {0}")]
    ClientVerifier(#[from] rustls::server::VerifierBuilderError),
    /// The rustls configuration cannot carry QUIC.
    #[error("TLS configuration unusable for QUIC: {0}")]
    Quic(#[from] quinn::crypto::rustls::NoInitialCipherSuite),
    /// A transport parameter is out of range.
    #[error("QUIC idle timeout out of range: {0}")]
    IdleTimeout(#[from] quinn::VarIntBoundsExceeded),
}

/// The QUIC server configuration: TLS 1.3 only, ring provider, both ALPNs,
/// client certificates optional but verified against `ca` when presented.
///
/// `chain` should be `[server certificate, CA certificate]`: enrolling agents
/// pin the CA by hash and find it in the chain. Refused client certificates
/// are counted in `telemetry`.
pub fn server_config(
    ca: &CertificateAuthority,
    chain: Vec<CertificateDer<'static>>,
    key: PrivateKeyDer<'static>,
    telemetry: Arc<Telemetry>,
) -> Result<quinn::ServerConfig, TlsError> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut roots = rustls::RootCertStore::empty();
    roots.add(ca.cert_der())?;
    let webpki = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider.clone())
        .allow_unauthenticated()
        .build()?;
    let verifier = Arc::new(OwnCaClientVerifier {
        inner: webpki,
        ca: ca.cert_der(),
        telemetry,
    });
    let mut tls = rustls::ServerConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13])?
        .with_client_cert_verifier(verifier)
        .with_single_cert(chain, key)?;
    tls.alpn_protocols = vec![ALPN_DATA.to_vec(), ALPN_ENROLL.to_vec()];
    let crypto = QuicServerConfig::try_from(Arc::new(tls))?;
    let mut config = quinn::ServerConfig::with_crypto(Arc::new(crypto));
    let mut transport = quinn::TransportConfig::default();
    transport
        .keep_alive_interval(Some(proto::KEEP_ALIVE))
        .max_idle_timeout(Some(proto::IDLE_TIMEOUT.try_into()?));
    config.transport_config(Arc::new(transport));
    Ok(config)
}

/// The agent id of the verified client certificate of `conn`, if the agent
/// presented one (enrollment connections present none).
pub fn peer_agent_id(conn: &quinn::Connection) -> Option<String> {
    let identity = conn.peer_identity()?;
    let chain = identity.downcast::<Vec<CertificateDer<'static>>>().ok()?;
    agent_id_of(chain.first()?)
}

/// When the verified client certificate of `conn` ends, seconds since the
/// Unix epoch (`None` without one).
pub fn peer_not_after(conn: &quinn::Connection) -> Option<i64> {
    let identity = conn.peer_identity()?;
    let chain = identity.downcast::<Vec<CertificateDer<'static>>>().ok()?;
    not_after_of(chain.first()?)
}

/// Whether a failed handshake is the client verifier's refusal of the
/// agent's certificate (already counted; the error carries the reason).
/// QUIC carries TLS alerts as CRYPTO_ERROR 0x100 + alert (RFC 9001 §4.8);
/// the certificate alerts are 42 to 49.
pub fn is_certificate_refusal(err: &quinn::ConnectionError) -> bool {
    let quinn::ConnectionError::TransportError(err) = err else {
        return false;
    };
    u64::from(err.code)
        .checked_sub(0x100)
        .is_some_and(|alert| (42..=49).contains(&alert))
}

/// The ALPN the peer negotiated, to route a connection to enrollment or data.
pub fn negotiated_alpn(conn: &quinn::Connection) -> Option<Vec<u8>> {
    let data = conn.handshake_data()?;
    let data = data
        .downcast::<quinn::crypto::rustls::HandshakeData>()
        .ok()?;
    data.protocol
}

/// The refusal of a client certificate from another CA, in words an
/// operator can act on; rustls alone says only `UnknownIssuer`.
struct ForeignCa;

impl fmt::Display for ForeignCa {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(
            "the agent certificate was not issued by this collector's CA; \
             the agent must enroll with this collector (atalaya-agent enroll --token …)",
        )
    }
}

// rustls shows `CertificateError::Other` with `Debug`, so `Debug` carries
// the sentence too; the TLS alert stays `certificate_unknown`, which every
// TLS client understands.
impl fmt::Debug for ForeignCa {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl std::error::Error for ForeignCa {}

/// The refusal of an expired agent certificate.
struct Expired {
    /// The agent the certificate names.
    agent: String,
    /// When it expired.
    at: Timestamp,
}

impl fmt::Display for Expired {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "the certificate of agent {} expired at {}; the agent must enroll again with a new token (atalaya-agent enroll --token …)",
            self.agent, self.at
        )
    }
}

impl fmt::Debug for Expired {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl std::error::Error for Expired {}

/// webpki client verification with clear errors for a foreign CA and an
/// expired certificate, each counted.
#[derive(Debug)]
struct OwnCaClientVerifier {
    inner: Arc<dyn ClientCertVerifier>,
    ca: CertificateDer<'static>,
    telemetry: Arc<Telemetry>,
}

impl OwnCaClientVerifier {
    /// The error to give for `err`, counted by reason.
    fn refusal(&self, err: rustls::Error, end_entity: &CertificateDer<'_>) -> rustls::Error {
        let other = |e: Arc<dyn std::error::Error + Send + Sync>| {
            rustls::Error::InvalidCertificate(CertificateError::Other(OtherError(e)))
        };
        let rustls::Error::InvalidCertificate(cert_err) = &err else {
            return err;
        };
        match cert_err {
            CertificateError::UnknownIssuer | CertificateError::BadSignature => {
                self.telemetry.refuse("foreign_ca");
                other(Arc::new(ForeignCa))
            }
            // webpki checks the dates before the issuer, so an expired
            // certificate may still be a foreign one.
            CertificateError::Expired | CertificateError::ExpiredContext { .. }
                if !is_signed_by(&self.ca, end_entity) =>
            {
                self.telemetry.refuse("foreign_ca");
                other(Arc::new(ForeignCa))
            }
            CertificateError::Expired | CertificateError::ExpiredContext { .. } => {
                self.telemetry.refuse("certificate_expired");
                let agent = agent_id_of(end_entity).unwrap_or_else(|| "(unnamed)".into());
                let at = match (not_after_of(end_entity), cert_err) {
                    (Some(secs), _) => Timestamp::from_secs(secs),
                    (None, CertificateError::ExpiredContext { not_after, .. }) => {
                        Timestamp::from_secs(i64::try_from(not_after.as_secs()).unwrap_or(0))
                    }
                    (None, _) => Timestamp::default(),
                };
                other(Arc::new(Expired { agent, at }))
            }
            _ => {
                self.telemetry.refuse("bad_certificate");
                err
            }
        }
    }
}

impl ClientCertVerifier for OwnCaClientVerifier {
    fn offer_client_auth(&self) -> bool {
        self.inner.offer_client_auth()
    }

    fn client_auth_mandatory(&self) -> bool {
        self.inner.client_auth_mandatory()
    }

    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        self.inner.root_hint_subjects()
    }

    fn verify_client_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        now: UnixTime,
    ) -> Result<ClientCertVerified, rustls::Error> {
        self.inner
            .verify_client_cert(end_entity, intermediates, now)
            .map_err(|err| self.refusal(err, end_entity))
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.inner.supported_verify_schemes()
    }
}
