//! Enrollment tokens: what an administrator hands to a new agent.
//!
//! A token carries the collector's address, the SHA-256 of the collector's
//! CA certificate (so the agent can authenticate the collector on first
//! contact without a pre-shared CA file) and a one-time-ish secret. It is
//! encoded as one copy-pasteable word: `atalaya1.` followed by the base64url
//! (no padding) of a postcard record. The prefix versions the format.
//!
//! Nothing here draws randomness or does I/O: the collector makes secrets,
//! and stores only [`secret_sha256`] of them.

use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// The prefix of every token of this format version.
pub const TOKEN_PREFIX: &str = "atalaya1.";

/// An enrollment token, decoded.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EnrollmentToken {
    /// Where the agent reaches the collector: `host:port` (host may be a DNS name or an IP).
    pub address: String,
    /// SHA-256 of the DER of the collector's CA certificate.
    pub ca_sha256: [u8; 32],
    /// The secret the collector checks (it stores only its hash).
    pub secret: String,
}

/// Why a string is not a valid enrollment token.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenFormatError {
    /// The string does not start with [`TOKEN_PREFIX`].
    #[error("not an Atalaya enrollment token: it should start with `{TOKEN_PREFIX}`")]
    WrongPrefix,
    /// The part after the prefix is not base64url.
    #[error("enrollment token is damaged: {0} (was it copied completely?)")]
    BadBase64(String),
    /// The decoded bytes end early or do not form a token record.
    #[error("enrollment token is truncated or damaged: {0}")]
    Truncated(String),
    /// Bytes follow the token record.
    #[error("enrollment token has {0} unexpected trailing bytes")]
    TrailingBytes(usize),
    /// The address inside is not `host:port`.
    #[error("enrollment token carries a bad collector address {address:?}: {reason}")]
    BadAddress {
        /// The address found in the token.
        address: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// The secret inside is empty.
    #[error("enrollment token carries an empty secret")]
    EmptySecret,
}

impl EnrollmentToken {
    /// The token as one copy-pasteable word.
    pub fn encode(&self) -> String {
        // postcard into a Vec cannot fail for this plain struct of strings and bytes.
        let bytes = postcard::to_stdvec(self).unwrap_or_default();
        format!("{TOKEN_PREFIX}{}", URL_SAFE_NO_PAD.encode(bytes))
    }

    /// Parses a token; surrounding whitespace (from copy-paste) is ignored.
    pub fn decode(text: &str) -> Result<EnrollmentToken, TokenFormatError> {
        let body = text
            .trim()
            .strip_prefix(TOKEN_PREFIX)
            .ok_or(TokenFormatError::WrongPrefix)?;
        let bytes = URL_SAFE_NO_PAD
            .decode(body)
            .map_err(|e| TokenFormatError::BadBase64(e.to_string()))?;
        let (token, rest): (EnrollmentToken, &[u8]) = postcard::take_from_bytes(&bytes)
            .map_err(|e| TokenFormatError::Truncated(e.to_string()))?;
        if !rest.is_empty() {
            return Err(TokenFormatError::TrailingBytes(rest.len()));
        }
        check_address(&token.address)?;
        if token.secret.is_empty() {
            return Err(TokenFormatError::EmptySecret);
        }
        Ok(token)
    }

    /// The host part of [`address`](Self::address), without brackets around an IPv6 literal.
    pub fn host(&self) -> &str {
        split_host_port(&self.address).map_or("", |(host, _)| host)
    }
}

impl fmt::Debug for EnrollmentToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EnrollmentToken")
            .field("address", &self.address)
            .field("ca_sha256", &hex(&self.ca_sha256))
            .field("secret", &"<redacted>")
            .finish()
    }
}

/// SHA-256 of a token secret: what the collector stores instead of the secret.
pub fn secret_sha256(secret: &str) -> [u8; 32] {
    Sha256::digest(secret.as_bytes()).into()
}

/// Lower-case hex of bytes, for fingerprints in messages.
pub fn hex(bytes: &[u8]) -> String {
    use fmt::Write as _;
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        let _ = write!(out, "{b:02x}");
    }
    out
}

fn split_host_port(address: &str) -> Option<(&str, &str)> {
    if let Some(rest) = address.strip_prefix('[') {
        let (host, after) = rest.split_once(']')?;
        let port = after.strip_prefix(':')?;
        Some((host, port))
    } else {
        address.rsplit_once(':')
    }
}

fn check_address(address: &str) -> Result<(), TokenFormatError> {
    let bad = |reason| TokenFormatError::BadAddress {
        address: address.to_owned(),
        reason,
    };
    let (host, port) = split_host_port(address).ok_or_else(|| bad("expected host:port"))?;
    if host.is_empty() {
        return Err(bad("the host is empty"));
    }
    // An unbracketed host with a colon is an IPv6 literal that lost its brackets.
    if !address.starts_with('[') && host.contains(':') {
        return Err(bad("an IPv6 address must be written in brackets, as [::1]:port"));
    }
    if host.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(bad("the host contains whitespace or control characters"));
    }
    match port.parse::<u16>() {
        Ok(0) | Err(_) => Err(bad("the port must be a number from 1 to 65535")),
        Ok(_) => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> EnrollmentToken {
        EnrollmentToken {
            address: "collector.example.net:4433".into(),
            ca_sha256: [7; 32],
            secret: "s3cr3t-value_AZ".into(),
        }
    }

    fn encode_raw(token: &EnrollmentToken) -> String {
        format!(
            "{TOKEN_PREFIX}{}",
            URL_SAFE_NO_PAD.encode(postcard::to_stdvec(token).unwrap())
        )
    }

    #[test]
    fn round_trip() {
        let token = sample();
        let text = token.encode();
        assert!(text.starts_with(TOKEN_PREFIX));
        assert!(!text.chars().any(|c| c.is_whitespace() || c == '=' || c == '+' || c == '/'));
        assert_eq!(EnrollmentToken::decode(&text).unwrap(), token);
        assert_eq!(EnrollmentToken::decode(&format!("  {text}\n")).unwrap(), token);
    }

    #[test]
    fn ipv6_and_ipv4_addresses_round_trip() {
        for address in ["[::1]:4433", "192.0.2.7:1", "[2001:db8::5]:65535"] {
            let token = EnrollmentToken { address: address.into(), ..sample() };
            assert_eq!(EnrollmentToken::decode(&token.encode()).unwrap(), token);
        }
        let token = EnrollmentToken { address: "[::1]:4433".into(), ..sample() };
        assert_eq!(token.host(), "::1");
        assert_eq!(sample().host(), "collector.example.net");
    }

    #[test]
    fn wrong_prefix_is_an_error() {
        let text = sample().encode().replacen("atalaya1.", "atalaya2.", 1);
        assert_eq!(EnrollmentToken::decode(&text), Err(TokenFormatError::WrongPrefix));
        assert_eq!(EnrollmentToken::decode(""), Err(TokenFormatError::WrongPrefix));
    }

    #[test]
    fn bad_base64_is_an_error() {
        let text = format!("{}!!", sample().encode());
        assert!(matches!(EnrollmentToken::decode(&text), Err(TokenFormatError::BadBase64(_))));
    }

    #[test]
    fn every_truncation_is_an_error() {
        let bytes = postcard::to_stdvec(&sample()).unwrap();
        for len in 0..bytes.len() {
            let text = format!("{TOKEN_PREFIX}{}", URL_SAFE_NO_PAD.encode(&bytes[..len]));
            let err = EnrollmentToken::decode(&text).unwrap_err();
            assert!(
                matches!(err, TokenFormatError::Truncated(_) | TokenFormatError::EmptySecret),
                "length {len}: {err:?}"
            );
        }
    }

    #[test]
    fn trailing_bytes_are_an_error() {
        let mut bytes = postcard::to_stdvec(&sample()).unwrap();
        bytes.push(0);
        let text = format!("{TOKEN_PREFIX}{}", URL_SAFE_NO_PAD.encode(&bytes));
        assert_eq!(EnrollmentToken::decode(&text), Err(TokenFormatError::TrailingBytes(1)));
    }

    #[test]
    fn every_single_byte_corruption_is_caught_or_changes_a_field() {
        // A flipped byte must either be refused or decode to a different
        // token: it can never silently yield the original.
        let token = sample();
        let bytes = postcard::to_stdvec(&token).unwrap();
        for i in 0..bytes.len() {
            let mut bad = bytes.clone();
            bad[i] ^= 0x80;
            let text = format!("{TOKEN_PREFIX}{}", URL_SAFE_NO_PAD.encode(&bad));
            if let Ok(decoded) = EnrollmentToken::decode(&text) {
                assert_ne!(decoded, token, "byte {i}");
            }
        }
    }

    #[test]
    fn bad_addresses_are_errors() {
        for address in ["", "host", "host:", ":4433", "host:0", "host:70000", "::1:4433", "a b:1", "[::1]4433"] {
            let text = encode_raw(&EnrollmentToken { address: address.into(), ..sample() });
            assert!(
                matches!(EnrollmentToken::decode(&text), Err(TokenFormatError::BadAddress { .. })),
                "{address:?}"
            );
        }
    }

    #[test]
    fn empty_secret_is_an_error() {
        let text = encode_raw(&EnrollmentToken { secret: String::new(), ..sample() });
        assert_eq!(EnrollmentToken::decode(&text), Err(TokenFormatError::EmptySecret));
    }

    #[test]
    fn debug_redacts_the_secret() {
        let shown = format!("{:?}", sample());
        assert!(!shown.contains("s3cr3t"), "{shown}");
        assert!(shown.contains("<redacted>"));
        assert!(shown.contains("collector.example.net:4433"));
    }

    #[test]
    fn secret_hash_is_sha256() {
        assert_eq!(
            hex(&secret_sha256("abc")),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }
}
