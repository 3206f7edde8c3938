//! HTTP probes: a `GET`, timed to the response head (status line and
//! headers; the body is not read). Each request opens its own connection,
//! so the time includes the TCP and, for HTTPS, the TLS handshake, as a
//! user's first request would. HTTPS checks the server's certificate
//! against the system's trusted roots, with the workspace's rustls.

use std::sync::Arc;
use std::time::Duration;

use ureq::config::Config;
use ureq::tls::{Certificate, PemItem, RootCerts, TlsConfig};

/// Where distributions keep their bundle of trusted root certificates.
const ROOT_BUNDLES: &[&str] = &[
    "/etc/ssl/certs/ca-certificates.crt",
    "/etc/pki/tls/certs/ca-bundle.crt",
    "/etc/ssl/ca-bundle.pem",
    "/etc/ssl/cert.pem",
];

/// How one request went.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// The response head came after this many ms, with this status.
    Answered(f64, u16),
    /// No head; why.
    Failed(String),
}

/// The system's trusted roots, read once; empty when no bundle was found
/// (HTTPS probes then fail with a verification error that says so).
pub fn system_roots() -> Vec<Certificate<'static>> {
    for path in ROOT_BUNDLES {
        let Ok(pem) = std::fs::read(path) else {
            continue;
        };
        let certs: Vec<Certificate<'static>> = ureq::tls::parse_pem(&pem)
            .filter_map(|item| match item {
                Ok(PemItem::Certificate(c)) => Some(c),
                _ => None,
            })
            .collect();
        if !certs.is_empty() {
            return certs;
        }
    }
    Vec::new()
}

/// The client settings of every HTTP probe: `timeout` for the whole
/// request head, no redirects followed (a redirect is an answer), any
/// status an answer.
pub fn config(roots: Arc<Vec<Certificate<'static>>>, timeout: Duration) -> Config {
    let tls = TlsConfig::builder()
        .root_certs(RootCerts::Specific(roots))
        .unversioned_rustls_crypto_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .build();
    Config::builder()
        .tls_config(tls)
        .http_status_as_error(false)
        .max_redirects(0)
        .timeout_global(Some(timeout))
        .max_idle_connections(0)
        .user_agent(concat!(
            "atalaya-agent/",
            env!("CARGO_PKG_VERSION"),
            " probe"
        ))
        .build()
}

/// One `GET url`, blocking (run it off the async threads).
pub fn get(config: &Config, url: &str) -> Outcome {
    let agent = ureq::Agent::new_with_config(config.clone());
    let start = std::time::Instant::now();
    match agent.get(url).call() {
        Ok(response) => Outcome::Answered(
            start.elapsed().as_secs_f64() * 1000.0,
            response.status().as_u16(),
        ),
        Err(e) => Outcome::Failed(e.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Read, Write};

    #[test]
    fn a_response_head_is_timed_and_its_status_kept() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}/health", listener.local_addr().unwrap());
        let server = std::thread::spawn(move || {
            let (mut conn, _) = listener.accept().unwrap();
            let mut buf = [0u8; 1024];
            let _ = conn.read(&mut buf).unwrap();
            conn.write_all(b"HTTP/1.1 503 Service Unavailable\r\ncontent-length: 0\r\n\r\n")
                .unwrap();
        });
        let config = config(Arc::new(Vec::new()), Duration::from_secs(5));
        let got = get(&config, &url);
        server.join().unwrap();
        assert!(
            matches!(got, Outcome::Answered(ms, 503) if ms >= 0.0),
            "{got:?}"
        );
        let failed = get(&config, "http://127.0.0.1:1/");
        assert!(matches!(failed, Outcome::Failed(_)), "{failed:?}");
    }
}
