//! Enrollment: trade a token for a certificate.
//!
//! The agent makes its own key pair and sends only a certificate request;
//! it checks the collector against the CA fingerprint in the token before
//! sending anything, so a token cannot be replayed to an impostor.

use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use anyhow::{Context, bail};
use atalaya_common::proto::{self, EnrollRequest, FrameReader, Message};
use atalaya_common::token::EnrollmentToken;

use crate::identity::{self, AgentIdentity};
use crate::tls;

/// The host and port of `host:port` (IPv6 literals in brackets).
pub fn split_address(address: &str) -> anyhow::Result<(String, u16)> {
    let (host, port) = address
        .rsplit_once(':')
        .with_context(|| format!("collector address {address:?} has no port"))?;
    let port = port
        .parse()
        .with_context(|| format!("collector address {address:?} has a bad port"))?;
    Ok((
        host.trim_start_matches('[')
            .trim_end_matches(']')
            .to_owned(),
        port,
    ))
}

/// Resolves a collector address.
pub async fn resolve(address: &str) -> anyhow::Result<(SocketAddr, String)> {
    let (host, port) = split_address(address)?;
    let addr = tokio::net::lookup_host((host.as_str(), port))
        .await
        .with_context(|| format!("resolving {address}"))?
        .next()
        .with_context(|| format!("{address} resolves to no address"))?;
    Ok((addr, host))
}

/// Enrolls with the collector named in `token` and saves the identity in
/// `state_dir`.
pub async fn enroll(
    token: &EnrollmentToken,
    state_dir: &Path,
    hostname: &str,
) -> anyhow::Result<AgentIdentity> {
    let (key_pem, csr_der) = identity::new_key_and_csr(hostname)?;
    let (addr, server_name) = resolve(&token.address).await?;
    let mut endpoint = quinn::Endpoint::client(SocketAddr::from(([0, 0, 0, 0], 0)))
        .context("opening a UDP socket")?;
    endpoint.set_default_client_config(tls::enroll_client_config(token.ca_sha256)?);
    let exchange = async {
        let connection = endpoint
            .connect(addr, &server_name)?
            .await
            .with_context(|| format!("connecting to the collector at {}", token.address))?;
        let (mut send, mut recv) = connection.open_bi().await?;
        let request = EnrollRequest {
            token_secret: token.secret.clone(),
            csr_der,
            hostname: hostname.to_owned(),
            agent_version: env!("CARGO_PKG_VERSION").to_owned(),
        };
        send.write_all(&proto::encode(&request.into())?).await?;
        send.finish()?;
        let bytes = recv
            .read_to_end(1 << 20)
            .await
            .context("reading the collector's answer")?;
        connection.close(0u32.into(), b"enrolled");
        let mut frames = FrameReader::new();
        frames.push(&bytes);
        match frames.next_message()? {
            Some(Message::EnrollResponse(resp)) => Ok(resp),
            Some(Message::Refused(r)) => {
                bail!("the collector refused the enrollment: {}", r.reason)
            }
            Some(other) => bail!("unexpected answer to enrollment: {}", other.name()),
            None => bail!("the collector closed the connection without an answer"),
        }
    };
    let response = tokio::time::timeout(Duration::from_secs(30), exchange)
        .await
        .context("enrollment timed out after 30 s")??;
    endpoint.wait_idle().await;
    let identity = AgentIdentity {
        agent_id: response.agent_id,
        certificate_pem: response.certificate_pem,
        key_pem,
        ca_pem: response.ca_pem,
    };
    identity.save(state_dir)?;
    std::fs::write(state_dir.join("collector-address"), &token.address)
        .with_context(|| format!("writing {}", state_dir.join("collector-address").display()))?;
    Ok(identity)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_split_into_host_and_port() {
        assert_eq!(
            split_address("collector.example:4433").unwrap(),
            ("collector.example".into(), 4433)
        );
        assert_eq!(split_address("[::1]:4433").unwrap(), ("::1".into(), 4433));
        assert!(split_address("collector").is_err());
        assert!(split_address("collector:http").is_err());
    }
}
