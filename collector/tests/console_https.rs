//! `[api] tls = true`: the API and the console over HTTPS with a
//! certificate issued by the collector's own CA for its server names; a
//! client that trusts that CA (`ca.pem`) signs in and gets a `Secure`
//! cookie; a certificate and key given in files are used as given, and
//! files that do not fit are refused at start with their names.

#![allow(clippy::unwrap_used)]

use std::sync::Arc;

use atalaya_collector::config::CollectorConfig;
use atalaya_collector::run;
use atalaya_collector::store::{Role, UserRecord};
use atalaya_common::model::Timestamp;
use rustls_pki_types::{CertificateDer, ServerName};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

fn config(dir: &std::path::Path, api: &str) -> CollectorConfig {
    let text = format!(
        "[collector]\ndata_dir = {:?}\nlisten = \"127.0.0.1:0\"\nserver_names = [\"localhost\", \"127.0.0.1\"]\n\
         [api]\nlisten = \"127.0.0.1:0\"\n{api}\n",
        dir.join("data").display().to_string()
    );
    CollectorConfig::parse("test", &text).unwrap()
}

/// One HTTP/1.1 request over TLS trusting `root`; the whole answer.
async fn request(addr: std::net::SocketAddr, root: CertificateDer<'static>, raw: String) -> String {
    let mut roots = rustls::RootCertStore::empty();
    roots.add(root).unwrap();
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
    let tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
    let mut tls = connector
        .connect(ServerName::try_from("localhost").unwrap(), tcp)
        .await
        .unwrap();
    tls.write_all(raw.as_bytes()).await.unwrap();
    let mut answer = String::new();
    tls.read_to_string(&mut answer).await.unwrap_or_default();
    answer
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_console_over_https_signs_in_with_a_secure_cookie() {
    let dir = tempfile::tempdir().unwrap();
    let running = run::start(&config(dir.path(), "tls = true")).await.unwrap();
    let now = Timestamp::now();
    running
        .store
        .add_user(&UserRecord {
            name: "ana".into(),
            role: Role::Helpdesk,
            password_hash: atalaya_collector::helpers::password::hash("a long password 1").unwrap(),
            disabled: false,
            created_at: now,
            password_set_at: now,
        })
        .unwrap();
    let ca = running.ca.cert_der();
    let page = request(
        running.api_addr,
        ca.clone(),
        "GET /login HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n".into(),
    )
    .await;
    assert!(page.starts_with("HTTP/1.1 200"), "{page}");
    assert!(page.contains("form class=\"login\""), "{page}");

    let body = "name=ana&password=a+long+password+1";
    let answer = request(
        running.api_addr,
        ca,
        format!(
            "POST /login HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\
             Content-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        ),
    )
    .await;
    assert!(answer.starts_with("HTTP/1.1 303"), "{answer}");
    let cookie = answer
        .lines()
        .find(|l| l.to_ascii_lowercase().starts_with("set-cookie:"))
        .unwrap();
    assert!(cookie.contains("; Secure"), "{cookie}");
    assert!(
        cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"),
        "{cookie}"
    );

    // Plain HTTP on the HTTPS port gets no page.
    let mut plain = tokio::net::TcpStream::connect(running.api_addr)
        .await
        .unwrap();
    plain
        .write_all(b"GET /login HTTP/1.1\r\nHost: localhost\r\n\r\n")
        .await
        .unwrap();
    let mut got = Vec::new();
    let _ = plain.read_to_end(&mut got).await;
    assert!(!String::from_utf8_lossy(&got).contains("<form"));
    running.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn certificate_files_that_do_not_fit_are_refused_by_name() {
    let dir = tempfile::tempdir().unwrap();
    let cert = dir.path().join("console.pem");
    let key = dir.path().join("console-key.pem");
    std::fs::write(&cert, "not a certificate").unwrap();
    std::fs::write(&key, "not a key").unwrap();
    let api = format!("tls = true\ntls_cert = {cert:?}\ntls_key = {key:?}");
    let err = run::start(&config(dir.path(), &api)).await.err().unwrap();
    let text = format!(
        "{err}: {}",
        std::error::Error::source(&err)
            .map(ToString::to_string)
            .unwrap_or_default()
    );
    assert!(text.contains("console.pem"), "{text}");

    // Given files that are a good pair: used as they are.
    let issued = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
    std::fs::write(&cert, issued.cert.pem()).unwrap();
    std::fs::write(&key, issued.signing_key.serialize_pem()).unwrap();
    let running = run::start(&config(dir.path(), &api)).await.unwrap();
    let page = request(
        running.api_addr,
        issued.cert.der().clone(),
        "GET /login HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n".into(),
    )
    .await;
    assert!(page.starts_with("HTTP/1.1 200"), "{page}");
    running.shutdown().await;
}

#[test]
fn half_a_tls_configuration_is_a_configuration_error() {
    let text = "[api]\ntls = true\ntls_cert = \"/etc/atalaya/console.pem\"\n";
    let err = CollectorConfig::parse("collector.toml", text)
        .unwrap_err()
        .to_string();
    assert!(err.contains("tls_cert") && err.contains("tls_key"), "{err}");
    let text = "[api]\ntls_cert = \"/a.pem\"\ntls_key = \"/a-key.pem\"\n";
    let err = CollectorConfig::parse("collector.toml", text)
        .unwrap_err()
        .to_string();
    assert!(err.contains("only with tls = true"), "{err}");
}
