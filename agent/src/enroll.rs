//! Enrollment: trade a token for a certificate.
//!
//! The agent makes its own key pair and sends only a certificate request;
//! it checks the collector against the CA fingerprint in the token before
//! sending anything, so a token cannot be replayed to an impostor.

use std::io;
use std::net::SocketAddr;
use std::num::ParseIntError;
use std::path::{Path, PathBuf};
use std::time::Duration;

use atalaya_common::proto::{self, DecodeError, EncodeError, EnrollRequest, FrameReader, Message};
use atalaya_common::token::{EnrollmentToken, hex};

use crate::identity::{self, AgentIdentity, IdentityError};
use crate::tls::{self, TlsError};

/// How long the whole enrollment exchange may take.
const ENROLL_TIMEOUT: Duration = Duration::from_secs(30);

/// A collector address that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum AddressError {
    /// No `:port` at the end.
    #[error("collector address {address:?} has no port")]
    NoPort {
        /// The address as given.
        address: String,
    },
    /// The part after the last `:` is not a port number.
    #[error("collector address {address:?} has a bad port")]
    BadPort {
        /// The address as given.
        address: String,
        /// Why the port does not parse.
        #[source]
        source: ParseIntError,
    },
    /// The name could not be looked up.
    #[error("resolving {address}")]
    Resolve {
        /// The address as given.
        address: String,
        /// What the resolver said.
        #[source]
        source: io::Error,
    },
    /// The name exists but has no address.
    #[error("{address} resolves to no address")]
    NoAddress {
        /// The address as given.
        address: String,
    },
}

/// Why an enrollment failed.
#[derive(Debug, thiserror::Error)]
pub enum EnrollError {
    /// The key pair or the certificate request could not be made.
    #[error("making this agent's key pair")]
    Key(#[source] IdentityError),
    /// The collector address in the token is unusable.
    #[error(transparent)]
    Address(#[from] AddressError),
    /// No UDP socket for the connection.
    #[error("opening a UDP socket")]
    Socket(#[source] io::Error),
    /// The TLS configuration could not be built.
    #[error(transparent)]
    Tls(#[from] TlsError),
    /// The connection could not even be started (e.g. an unusable name).
    #[error("connecting to the collector at {address}")]
    Start {
        /// The collector address from the token.
        address: String,
        /// What QUIC said.
        #[source]
        source: quinn::ConnectError,
    },
    /// The collector presented a CA other than the one the token pins: the
    /// token is for another collector, or someone stands in between.
    #[error(
        "the collector at {address} is not the one the token was made for: the collector's CA does not match the token: expected sha256 {expected}, got {presented}"
    )]
    CaMismatch {
        /// The collector address from the token.
        address: String,
        /// The CA hash the token carries, hex.
        expected: String,
        /// The CA hashes the collector presented, hex.
        presented: String,
    },
    /// The collector could not be reached, or the connection broke.
    #[error("connecting to the collector at {address}")]
    Unreachable {
        /// The collector address from the token.
        address: String,
        /// What QUIC said.
        #[source]
        source: quinn::ConnectionError,
    },
    /// The request could not be sent.
    #[error("sending the enrollment request to {address}")]
    Send {
        /// The collector address from the token.
        address: String,
        /// What QUIC said.
        #[source]
        source: quinn::WriteError,
    },
    /// The request stream could not be closed.
    #[error("sending the enrollment request to {address}")]
    Finish {
        /// The collector address from the token.
        address: String,
        /// What QUIC said.
        #[source]
        source: quinn::ClosedStream,
    },
    /// The request could not be encoded.
    #[error("encoding the enrollment request")]
    Encode(#[source] EncodeError),
    /// The answer could not be read.
    #[error("reading the collector's answer")]
    Read(#[source] quinn::ReadToEndError),
    /// The answer is not a valid frame.
    #[error("the collector's answer to the enrollment is malformed")]
    Malformed(#[source] DecodeError),
    /// The collector said no, and why (wrong, expired, used-up or revoked
    /// token, or too many failed attempts).
    #[error("the collector refused the enrollment: {reason}")]
    Refused {
        /// The collector's sentence.
        reason: String,
    },
    /// The collector answered with a message that is not an answer to enrollment.
    #[error("unexpected answer to enrollment: {kind}")]
    Unexpected {
        /// The kind of message received.
        kind: &'static str,
    },
    /// The collector closed the stream without saying anything.
    #[error("the collector closed the connection without an answer")]
    NoAnswer,
    /// The collector did not finish in time.
    #[error("enrollment with the collector at {address} timed out after {} s", ENROLL_TIMEOUT.as_secs())]
    TimedOut {
        /// The collector address from the token.
        address: String,
    },
    /// The new identity could not be stored.
    #[error("storing the new identity in {}", state_dir.display())]
    Save {
        /// The state directory.
        state_dir: PathBuf,
        /// What went wrong.
        #[source]
        source: IdentityError,
    },
    /// The collector address could not be stored next to the identity.
    #[error("writing {}", path.display())]
    SaveAddress {
        /// The file.
        path: PathBuf,
        /// What the system said.
        #[source]
        source: io::Error,
    },
}

/// The host and port of `host:port` (IPv6 literals in brackets).
pub fn split_address(address: &str) -> Result<(String, u16), AddressError> {
    let (host, port) = address
        .rsplit_once(':')
        .ok_or_else(|| AddressError::NoPort {
            address: address.to_owned(),
        })?;
    let port = port.parse().map_err(|source| AddressError::BadPort {
        address: address.to_owned(),
        source,
    })?;
    Ok((
        host.trim_start_matches('[')
            .trim_end_matches(']')
            .to_owned(),
        port,
    ))
}

/// Resolves a collector address.
pub async fn resolve(address: &str) -> Result<(SocketAddr, String), AddressError> {
    let (host, port) = split_address(address)?;
    let addr = tokio::net::lookup_host((host.as_str(), port))
        .await
        .map_err(|source| AddressError::Resolve {
            address: address.to_owned(),
            source,
        })?
        .next()
        .ok_or_else(|| AddressError::NoAddress {
            address: address.to_owned(),
        })?;
    Ok((addr, host))
}

/// Enrolls with the collector named in `token` and saves the identity in
/// `state_dir`.
pub async fn enroll(
    token: &EnrollmentToken,
    state_dir: &Path,
    hostname: &str,
) -> Result<AgentIdentity, EnrollError> {
    let (key_pem, csr_der) = identity::new_key_and_csr(hostname).map_err(EnrollError::Key)?;
    let (addr, server_name) = resolve(&token.address).await?;
    let mut endpoint = quinn::Endpoint::client(SocketAddr::from(([0, 0, 0, 0], 0)))
        .map_err(EnrollError::Socket)?;
    let (client_config, pin_check) = tls::enroll_client_config_checked(token.ca_sha256)?;
    endpoint.set_default_client_config(client_config);
    let address = || token.address.clone();
    let exchange = async {
        let connection = endpoint
            .connect(addr, &server_name)
            .map_err(|source| EnrollError::Start {
                address: address(),
                source,
            })?
            .await
            .map_err(|source| match pin_check.mismatch() {
                Some(presented) => EnrollError::CaMismatch {
                    address: address(),
                    expected: hex(&token.ca_sha256),
                    presented,
                },
                None => EnrollError::Unreachable {
                    address: address(),
                    source,
                },
            })?;
        let (mut send, mut recv) =
            connection
                .open_bi()
                .await
                .map_err(|source| EnrollError::Unreachable {
                    address: address(),
                    source,
                })?;
        let request = EnrollRequest {
            token_secret: token.secret.clone(),
            csr_der,
            hostname: hostname.to_owned(),
            agent_version: env!("CARGO_PKG_VERSION").to_owned(),
        };
        let frame = proto::encode(&request.into()).map_err(EnrollError::Encode)?;
        send.write_all(&frame)
            .await
            .map_err(|source| EnrollError::Send {
                address: address(),
                source,
            })?;
        send.finish().map_err(|source| EnrollError::Finish {
            address: address(),
            source,
        })?;
        let bytes = recv.read_to_end(1 << 20).await.map_err(EnrollError::Read)?;
        connection.close(0u32.into(), b"enrolled");
        let mut frames = FrameReader::new();
        frames.push(&bytes);
        match frames.next_message().map_err(EnrollError::Malformed)? {
            Some(Message::EnrollResponse(resp)) => Ok(resp),
            Some(Message::Refused(r)) => Err(EnrollError::Refused { reason: r.reason }),
            Some(other) => Err(EnrollError::Unexpected { kind: other.name() }),
            None => Err(EnrollError::NoAnswer),
        }
    };
    let response = tokio::time::timeout(ENROLL_TIMEOUT, exchange)
        .await
        .map_err(|_| EnrollError::TimedOut { address: address() })??;
    endpoint.wait_idle().await;
    let identity = AgentIdentity {
        agent_id: response.agent_id,
        certificate_pem: response.certificate_pem,
        key_pem,
        ca_pem: response.ca_pem,
    };
    identity
        .save(state_dir)
        .map_err(|source| EnrollError::Save {
            state_dir: state_dir.to_path_buf(),
            source,
        })?;
    let path = state_dir.join("collector-address");
    std::fs::write(&path, &token.address)
        .map_err(|source| EnrollError::SaveAddress { path, source })?;
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
        assert!(matches!(
            split_address("collector"),
            Err(AddressError::NoPort { .. })
        ));
        assert!(matches!(
            split_address("collector:http"),
            Err(AddressError::BadPort { .. })
        ));
    }
}
