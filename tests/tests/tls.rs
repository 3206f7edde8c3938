//! Real QUIC handshakes over loopback between the agent's and the
//! collector's TLS configurations, with real certificates from the collector CA.
#![allow(clippy::unwrap_used)]

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use atalaya_agent::identity::{AgentIdentity, new_key_and_csr};
use atalaya_agent::tls::{data_client_config, enroll_client_config, explain_refusal};
use atalaya_collector::pki::{CertificateAuthority, new_agent_id};
use atalaya_collector::telemetry::Telemetry;
use atalaya_collector::tls::{
    is_certificate_refusal, negotiated_alpn, peer_agent_id, server_config,
};
use atalaya_common::proto::{ALPN_DATA, ALPN_ENROLL};
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use tempfile::TempDir;
use tokio::task::JoinHandle;

const DAY: Duration = Duration::from_secs(24 * 3600);

struct Collector {
    dir: TempDir,
    ca: CertificateAuthority,
    endpoint: quinn::Endpoint,
    addr: SocketAddr,
    telemetry: Arc<Telemetry>,
}

/// What the server saw of one connection.
#[derive(Debug)]
struct Accepted {
    agent_id: Option<String>,
    alpn: Option<Vec<u8>>,
}

fn names() -> Vec<String> {
    vec!["localhost".to_owned(), "127.0.0.1".to_owned()]
}

fn collector() -> Collector {
    let dir = tempfile::tempdir().unwrap();
    let ca = CertificateAuthority::load_or_create(dir.path()).unwrap();
    let (chain, key) = ca.server_identity(dir.path(), &names()).unwrap();
    serve(dir, ca, chain, key)
}

fn serve(
    dir: TempDir,
    ca: CertificateAuthority,
    chain: Vec<CertificateDer<'static>>,
    key: PrivateKeyDer<'static>,
) -> Collector {
    let telemetry = Arc::new(Telemetry::default());
    let config = server_config(&ca, chain, key, telemetry.clone()).unwrap();
    let endpoint = quinn::Endpoint::server(config, "127.0.0.1:0".parse().unwrap()).unwrap();
    let addr = endpoint.local_addr().unwrap();
    Collector {
        dir,
        ca,
        endpoint,
        addr,
        telemetry,
    }
}

impl Collector {
    /// Accepts one connection and reports what the server saw of it.
    fn accept_one(&self) -> JoinHandle<Result<Accepted, quinn::ConnectionError>> {
        let endpoint = self.endpoint.clone();
        tokio::spawn(async move {
            let conn = endpoint.accept().await.unwrap().await?;
            let seen = Accepted {
                agent_id: peer_agent_id(&conn),
                alpn: negotiated_alpn(&conn),
            };
            // Keep the connection open until the client is done with it.
            conn.closed().await;
            Ok(seen)
        })
    }

    /// Enrolls an agent the way the enrollment exchange will: the agent's
    /// CSR in, a certificate out; the key stays on the agent side.
    fn enroll(&self, signer: &CertificateAuthority) -> AgentIdentity {
        let (key_pem, csr) = new_key_and_csr("workstation-7").unwrap();
        let agent_id = new_agent_id();
        let certificate_pem = signer.sign_agent_csr(&csr, &agent_id, 30 * DAY).unwrap();
        AgentIdentity {
            agent_id,
            certificate_pem,
            key_pem,
            ca_pem: self.ca.cert_pem().to_owned(),
        }
    }
}

fn client_endpoint() -> quinn::Endpoint {
    quinn::Endpoint::client("127.0.0.1:0".parse().unwrap()).unwrap()
}

async fn connect(
    config: quinn::ClientConfig,
    addr: SocketAddr,
    name: &str,
) -> Result<quinn::Connection, quinn::ConnectionError> {
    client_endpoint()
        .connect_with(config, addr, name)
        .unwrap()
        .await
}

#[tokio::test]
async fn enrollment_with_the_right_pin_connects_without_a_client_certificate() {
    let collector = collector();
    let server = collector.accept_one();
    let config = enroll_client_config(collector.ca.sha256()).unwrap();
    let conn = connect(config, collector.addr, "localhost").await.unwrap();
    conn.close(0u32.into(), b"done");
    let seen = server.await.unwrap().unwrap();
    assert_eq!(seen.agent_id, None);
    assert_eq!(seen.alpn.as_deref(), Some(ALPN_ENROLL));
}

#[tokio::test]
async fn enrollment_by_ip_address_connects() {
    let collector = collector();
    let server = collector.accept_one();
    let config = enroll_client_config(collector.ca.sha256()).unwrap();
    let conn = connect(config, collector.addr, "127.0.0.1").await.unwrap();
    conn.close(0u32.into(), b"done");
    server.await.unwrap().unwrap();
}

#[tokio::test]
async fn enrollment_with_a_wrong_pin_fails_with_a_clear_message() {
    let collector = collector();
    let _server = collector.accept_one();
    let mut pin = collector.ca.sha256();
    pin[0] ^= 1;
    let config = enroll_client_config(pin).unwrap();
    let err = connect(config, collector.addr, "localhost")
        .await
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("the collector's CA does not match the token: expected sha256"),
        "{err}"
    );
    let actual = atalaya_common::token::hex(&collector.ca.sha256());
    assert!(err.contains(&actual), "{err}");
}

#[tokio::test]
async fn enrollment_refuses_a_name_the_server_certificate_does_not_cover() {
    let collector = collector();
    let _server = collector.accept_one();
    let config = enroll_client_config(collector.ca.sha256()).unwrap();
    let err = connect(config, collector.addr, "impostor.example")
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("not valid for name"), "{err}");
}

#[tokio::test]
async fn enrollment_refuses_a_server_certificate_not_issued_by_the_pinned_ca() {
    // An impostor that sends the real CA certificate (it is public) next to
    // a server certificate of its own: the pin matches, the signature must not.
    let real = tempfile::tempdir().unwrap();
    let real_ca = CertificateAuthority::load_or_create(real.path()).unwrap();
    let impostor_dir = tempfile::tempdir().unwrap();
    let impostor_ca = CertificateAuthority::load_or_create(impostor_dir.path()).unwrap();
    let (chain, key) = impostor_ca
        .server_identity(impostor_dir.path(), &names())
        .unwrap();
    let forged = vec![chain[0].clone(), real_ca.cert_der()];
    let impostor = serve(impostor_dir, impostor_ca, forged, key);
    let _server = impostor.accept_one();
    let config = enroll_client_config(real_ca.sha256()).unwrap();
    let err = connect(config, impostor.addr, "localhost")
        .await
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("BadSignature") || err.contains("UnknownIssuer"),
        "{err}"
    );
}

#[tokio::test]
async fn enrolled_agent_is_identified_by_its_certificate() {
    let collector = collector();
    let identity = collector.enroll(&collector.ca);
    let state = tempfile::tempdir().unwrap();
    identity.save(state.path()).unwrap();
    let identity = AgentIdentity::load(state.path()).unwrap().unwrap();

    let server = collector.accept_one();
    let config = data_client_config(&identity).unwrap();
    let conn = connect(config, collector.addr, "localhost").await.unwrap();
    conn.close(0u32.into(), b"done");
    let seen = server.await.unwrap().unwrap();
    assert_eq!(seen.agent_id.as_deref(), Some(identity.agent_id.as_str()));
    assert_eq!(seen.alpn.as_deref(), Some(ALPN_DATA));
}

#[tokio::test]
async fn a_certificate_from_another_ca_is_refused_on_both_sides() {
    let collector = collector();
    let other = tempfile::tempdir().unwrap();
    let other_ca = CertificateAuthority::load_or_create(other.path()).unwrap();
    let identity = collector.enroll(&other_ca);

    let server = collector.accept_one();
    let config = data_client_config(&identity).unwrap();
    // In TLS 1.3 the client finishes its handshake before the server has
    // judged its certificate, so the refusal may arrive just after.
    let client_err = match connect(config, collector.addr, "localhost").await {
        Err(err) => err,
        Ok(conn) => conn.closed().await,
    };
    let server_err = server.await.unwrap().unwrap_err().to_string();
    assert!(
        server_err.contains("not issued by this collector's CA"),
        "server: {server_err}"
    );
    let explained = explain_refusal(&client_err);
    assert!(
        explained.is_some_and(|text| text.contains("refused this agent's certificate")),
        "client: {client_err}"
    );
    // The collector's reason travels to the agent too.
    assert!(
        client_err
            .to_string()
            .contains("not issued by this collector's CA"),
        "client: {client_err}"
    );
    let metrics = collector.telemetry.render();
    assert!(
        metrics.contains("atalaya_refused_total{reason=\"foreign_ca\"} 1\n"),
        "{metrics}"
    );
}

#[tokio::test]
async fn an_expired_certificate_is_refused_and_counted_with_its_date() {
    let collector = collector();
    let (key_pem, csr) = new_key_and_csr("workstation-7").unwrap();
    let agent_id = new_agent_id();
    let long_ago = std::time::SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
    let certificate_pem = collector
        .ca
        .sign_agent_csr_at(&csr, &agent_id, DAY, long_ago)
        .unwrap();
    let identity = AgentIdentity {
        agent_id: agent_id.clone(),
        certificate_pem,
        key_pem,
        ca_pem: collector.ca.cert_pem().to_owned(),
    };

    let server = collector.accept_one();
    let config = data_client_config(&identity).unwrap();
    let client_err = match connect(config, collector.addr, "localhost").await {
        Err(err) => err,
        Ok(conn) => conn.closed().await,
    };
    let server_err = server.await.unwrap().unwrap_err();
    assert!(is_certificate_refusal(&server_err), "{server_err}");
    // 1_700_000_000 + one day
    let reason = format!("the certificate of agent {agent_id} expired at 2023-11-15T22:13:20Z");
    assert!(
        server_err.to_string().contains(&reason),
        "server: {server_err}"
    );
    assert!(
        client_err.to_string().contains(&reason),
        "client: {client_err}"
    );
    assert!(
        explain_refusal(&client_err).is_some(),
        "client: {client_err}"
    );
    let metrics = collector.telemetry.render();
    assert!(
        metrics.contains("atalaya_refused_total{reason=\"certificate_expired\"} 1\n"),
        "{metrics}"
    );
}

#[tokio::test]
async fn a_data_connection_without_a_client_certificate_has_no_agent_id() {
    let collector = collector();
    let server = collector.accept_one();
    let mut roots = rustls::RootCertStore::empty();
    roots.add(collector.ca.cert_der()).unwrap();
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut tls = rustls::ClientConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13])
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    tls.alpn_protocols = vec![ALPN_DATA.to_vec()];
    let quic = quinn::crypto::rustls::QuicClientConfig::try_from(Arc::new(tls)).unwrap();
    let config = quinn::ClientConfig::new(Arc::new(quic));
    let conn = connect(config, collector.addr, "localhost").await.unwrap();
    conn.close(0u32.into(), b"done");
    let seen = server.await.unwrap().unwrap();
    assert_eq!(seen.alpn.as_deref(), Some(ALPN_DATA));
    assert_eq!(seen.agent_id, None);
}

#[tokio::test]
async fn a_reloaded_collector_keeps_serving_enrolled_agents() {
    let first = collector();
    let identity = first.enroll(&first.ca);
    let pin = first.ca.sha256();
    let dir = first.dir;
    drop(first.endpoint);

    let ca = CertificateAuthority::load_or_create(dir.path()).unwrap();
    assert_eq!(ca.sha256(), pin);
    let (chain, key) = ca.server_identity(dir.path(), &names()).unwrap();
    let second = serve(dir, ca, chain, key);
    let server = second.accept_one();
    let conn = connect(
        data_client_config(&identity).unwrap(),
        second.addr,
        "localhost",
    )
    .await
    .unwrap();
    conn.close(0u32.into(), b"done");
    let seen = server.await.unwrap().unwrap();
    assert_eq!(seen.agent_id.as_deref(), Some(identity.agent_id.as_str()));
}
