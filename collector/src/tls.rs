//! The collector's TLS and QUIC server configuration.
//!
//! One QUIC endpoint serves both ALPNs: `atalaya-enroll/1`, where the agent
//! has no certificate yet, and `atalaya/1`, mutual TLS. So the rustls config
//! *allows* a missing client certificate, but any certificate that is
//! presented must chain to the collector CA, or the handshake fails. The
//! session code refuses data connections whose [`peer_agent_id`] is `None`.

use std::sync::Arc;
use std::time::Duration;

use atalaya_common::proto::{ALPN_DATA, ALPN_ENROLL};
use quinn::crypto::rustls::QuicServerConfig;
use rustls::server::WebPkiClientVerifier;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};

use crate::pki::{CertificateAuthority, agent_id_of};

/// Interval of QUIC keep-alives, well inside the idle timeout and NAT timeouts.
pub const KEEP_ALIVE: Duration = Duration::from_secs(5);
/// A connection silent this long is closed.
pub const IDLE_TIMEOUT: Duration = Duration::from_secs(30);

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
/// pin the CA by hash and find it in the chain.
pub fn server_config(
    ca: &CertificateAuthority,
    chain: Vec<CertificateDer<'static>>,
    key: PrivateKeyDer<'static>,
) -> Result<quinn::ServerConfig, TlsError> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut roots = rustls::RootCertStore::empty();
    roots.add(ca.cert_der())?;
    let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider.clone())
        .allow_unauthenticated()
        .build()?;
    let mut tls = rustls::ServerConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13])?
        .with_client_cert_verifier(verifier)
        .with_single_cert(chain, key)?;
    tls.alpn_protocols = vec![ALPN_DATA.to_vec(), ALPN_ENROLL.to_vec()];
    let crypto = QuicServerConfig::try_from(Arc::new(tls))?;
    let mut config = quinn::ServerConfig::with_crypto(Arc::new(crypto));
    let mut transport = quinn::TransportConfig::default();
    transport
        .keep_alive_interval(Some(KEEP_ALIVE))
        .max_idle_timeout(Some(IDLE_TIMEOUT.try_into()?));
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

/// The ALPN the peer negotiated, to route a connection to enrollment or data.
pub fn negotiated_alpn(conn: &quinn::Connection) -> Option<Vec<u8>> {
    let data = conn.handshake_data()?;
    let data = data
        .downcast::<quinn::crypto::rustls::HandshakeData>()
        .ok()?;
    data.protocol
}
