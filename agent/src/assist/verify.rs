//! Checking a diagnostic order: the collector CA's signature, its expiry,
//! and that its id was not run before (sans-IO: the time is an argument).

use std::collections::HashMap;

use atalaya_common::assist::{DiagOrder, MAX_VALIDITY_SECONDS};
use atalaya_common::model::Timestamp;
use atalaya_common::proto::DiagRequest;
use ring::signature::{self, UnparsedPublicKey, VerificationAlgorithm};
use rustls_pki_types::CertificateDer;
use rustls_pki_types::pem::PemObject;
use x509_parser::public_key::PublicKey;

/// How far ahead of this machine's clock an order's issue time may be.
const CLOCK_SLACK_MS: i64 = 5 * 60 * 1000;

/// The CA certificate does not give a key orders can be checked with.
#[derive(Debug, thiserror::Error)]
pub enum CaKeyError {
    /// Not a PEM certificate.
    #[error("the CA certificate is not a readable PEM certificate: {0}")]
    Pem(String),
    /// Not an X.509 certificate.
    #[error("the CA certificate does not parse: {0}")]
    Parse(String),
    /// A key of a kind orders are not signed with.
    #[error("the CA key is of a kind diagnostic orders cannot be checked with ({0})")]
    Algorithm(String),
}

/// The public key of the collector's CA, which signs diagnostic orders.
pub struct CaKey {
    algorithm: &'static dyn VerificationAlgorithm,
    key: Vec<u8>,
}

impl std::fmt::Debug for CaKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CaKey")
            .field("algorithm", &self.algorithm)
            .field("key", &format_args!("{} bytes", self.key.len()))
            .finish()
    }
}

impl CaKey {
    /// The key of the CA certificate `ca_pem` (what the agent got at enrollment).
    pub fn from_pem(ca_pem: &str) -> Result<Self, CaKeyError> {
        let der = CertificateDer::from_pem_slice(ca_pem.as_bytes())
            .map_err(|e| CaKeyError::Pem(e.to_string()))?;
        let (_, cert) = x509_parser::parse_x509_certificate(&der)
            .map_err(|e| CaKeyError::Parse(e.to_string()))?;
        let spki = cert.public_key();
        let raw = spki.subject_public_key.data.to_vec();
        let oid = spki.algorithm.algorithm.to_id_string();
        let algorithm: &'static dyn VerificationAlgorithm = match spki.parsed() {
            Ok(PublicKey::EC(point)) if point.key_size() == 256 => {
                &signature::ECDSA_P256_SHA256_ASN1
            }
            Ok(PublicKey::EC(point)) if point.key_size() == 384 => {
                &signature::ECDSA_P384_SHA384_ASN1
            }
            Ok(PublicKey::RSA(_)) => &signature::RSA_PKCS1_2048_8192_SHA256,
            _ if oid == "1.3.101.112" => &signature::ED25519,
            _ => return Err(CaKeyError::Algorithm(oid)),
        };
        Ok(Self {
            algorithm,
            key: raw,
        })
    }

    /// Whether `signature` is this key's over `message`.
    pub fn verifies(&self, message: &[u8], signature: &[u8]) -> bool {
        UnparsedPublicKey::new(self.algorithm, &self.key)
            .verify(message, signature)
            .is_ok()
    }
}

/// Why an order is not run.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    /// This agent has no key to check orders with.
    #[error("this agent cannot check orders: {0}")]
    Unverifiable(String),
    /// The signature is not the collector CA's over this order.
    #[error("bad signature: the order is not signed by this agent's collector CA")]
    BadSignature,
    /// The order is for another agent.
    #[error("the order is for agent {0}, not this one")]
    OtherAgent(String),
    /// Its time is over.
    #[error("expired at {0}")]
    Expired(String),
    /// Its issue time is too far ahead of this machine's clock, or its
    /// validity too long to remember.
    #[error("bad validity: {0}")]
    BadValidity(String),
    /// This id was run already.
    #[error("replayed: request {0} was received before")]
    Replayed(String),
    /// The action or its arguments are not acceptable.
    #[error("invalid arguments: {0}")]
    Invalid(String),
    /// This machine's configuration does not allow it.
    #[error("not allowed: {0}")]
    NotAllowed(String),
}

/// Checks orders and remembers the ids of those accepted until they expire.
#[derive(Debug)]
pub struct Verifier {
    /// The CA key, or why there is none (then every order is refused).
    key: Result<CaKey, String>,
    agent_id: String,
    /// Accepted ids and their expiry, ms.
    seen: HashMap<String, i64>,
}

impl Verifier {
    /// Checks orders for `agent_id` against the CA `key`.
    pub fn new(key: CaKey, agent_id: impl Into<String>) -> Self {
        Self {
            key: Ok(key),
            agent_id: agent_id.into(),
            seen: HashMap::new(),
        }
    }

    /// A verifier for an agent whose CA certificate gives no usable key:
    /// it refuses every order, saying why.
    pub fn without_key(reason: impl Into<String>, agent_id: impl Into<String>) -> Self {
        Self {
            key: Err(reason.into()),
            agent_id: agent_id.into(),
            seen: HashMap::new(),
        }
    }

    /// The ids accepted and not yet expired, with their expiry (ms): what
    /// must outlive a restart for a replay to stay refused.
    pub fn accepted(&self) -> &HashMap<String, i64> {
        &self.seen
    }

    /// Remembers ids accepted before (by an earlier run of the agent), as
    /// [`Self::accepted`] gave them.
    pub fn remember(&mut self, accepted: HashMap<String, i64>) {
        self.seen.extend(accepted);
    }

    /// The order of `request` if it may go on to the allow-list, at `now`;
    /// its id is then remembered, so the same request is refused next time.
    pub fn check(&mut self, request: &DiagRequest, now: Timestamp) -> Result<DiagOrder, Refusal> {
        let order = &request.order;
        let key = self
            .key
            .as_ref()
            .map_err(|reason| Refusal::Unverifiable(reason.clone()))?;
        if !key.verifies(&order.signed_bytes(), &request.signature) {
            return Err(Refusal::BadSignature);
        }
        if order.agent_id != self.agent_id {
            return Err(Refusal::OtherAgent(order.agent_id.clone()));
        }
        self.seen.retain(|_, expires| *expires >= now.0);
        if now.0 > order.expires_at.0 {
            return Err(Refusal::Expired(
                order
                    .expires_at
                    .to_rfc3339()
                    .unwrap_or_else(|| order.expires_at.0.to_string()),
            ));
        }
        if order.issued_at.0 > now.0.saturating_add(CLOCK_SLACK_MS) {
            return Err(Refusal::BadValidity(
                "issued in the future: is this machine's clock behind?".into(),
            ));
        }
        if order.expires_at.0.saturating_sub(order.issued_at.0) > MAX_VALIDITY_SECONDS * 1000 {
            return Err(Refusal::BadValidity(format!(
                "valid for more than {MAX_VALIDITY_SECONDS} s"
            )));
        }
        if self.seen.contains_key(&order.id) {
            return Err(Refusal::Replayed(order.id.clone()));
        }
        order
            .action
            .validate()
            .map_err(|e| Refusal::Invalid(e.to_string()))?;
        self.seen.insert(order.id.clone(), order.expires_at.0);
        Ok(order.clone())
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use atalaya_common::assist::Action;
    use rcgen::{CertificateParams, IsCa, KeyPair, SigningKey};

    /// A CA key and its certificate.
    pub(crate) fn ca() -> (KeyPair, String) {
        let key = KeyPair::generate().unwrap();
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        let cert = params.self_signed(&key).unwrap();
        (key, cert.pem())
    }

    /// An order for agent `ag-1` issued at `now`, valid ten minutes.
    pub(crate) fn order(id: &str, now: Timestamp) -> DiagOrder {
        DiagOrder {
            id: id.into(),
            agent_id: "ag-1".into(),
            requested_by: "ana".into(),
            incident: None,
            action: Action::TopProcesses,
            issued_at: now,
            expires_at: Timestamp(now.0 + 600_000),
        }
    }

    /// `order` signed with `key`.
    pub(crate) fn signed(key: &KeyPair, order: DiagOrder) -> DiagRequest {
        let signature = key.sign(&order.signed_bytes()).unwrap();
        DiagRequest { order, signature }
    }

    #[test]
    fn a_good_order_passes_once_and_is_refused_as_a_replay() {
        let (key, pem) = ca();
        let mut v = Verifier::new(CaKey::from_pem(&pem).unwrap(), "ag-1");
        let now = Timestamp::from_secs(1_800_000_000);
        let req = signed(&key, order("d-1", now));
        assert_eq!(v.check(&req, now).unwrap(), req.order);
        assert_eq!(
            v.check(&req, Timestamp(now.0 + 1000)).unwrap_err(),
            Refusal::Replayed("d-1".into())
        );
        // Forgotten once expired: then it is refused as expired.
        let later = Timestamp(now.0 + 700_000);
        assert!(matches!(
            v.check(&req, later).unwrap_err(),
            Refusal::Expired(_)
        ));
        assert!(v.seen.is_empty());
    }

    #[test]
    fn an_order_accepted_before_a_restart_is_still_a_replay() {
        let (key, pem) = ca();
        let now = Timestamp::from_secs(1_800_000_000);
        let req = signed(&key, order("d-1", now));
        let mut before = Verifier::new(CaKey::from_pem(&pem).unwrap(), "ag-1");
        before.check(&req, now).unwrap();
        let mut after = Verifier::new(CaKey::from_pem(&pem).unwrap(), "ag-1");
        after.remember(before.accepted().clone());
        assert_eq!(
            after.check(&req, Timestamp(now.0 + 1000)).unwrap_err(),
            Refusal::Replayed("d-1".into())
        );
    }

    #[test]
    fn tampered_and_foreign_orders_are_refused() {
        let (key, pem) = ca();
        let (other_key, _) = ca();
        let mut v = Verifier::new(CaKey::from_pem(&pem).unwrap(), "ag-1");
        let now = Timestamp::from_secs(1_800_000_000);
        let mut req = signed(&key, order("d-1", now));
        req.order.action = Action::ServiceRestart {
            name: "nginx".into(),
        };
        assert_eq!(v.check(&req, now).unwrap_err(), Refusal::BadSignature);
        let req = signed(&other_key, order("d-2", now));
        assert_eq!(v.check(&req, now).unwrap_err(), Refusal::BadSignature);
        let mut foreign = order("d-3", now);
        foreign.agent_id = "ag-2".into();
        let req = signed(&key, foreign);
        assert_eq!(
            v.check(&req, now).unwrap_err(),
            Refusal::OtherAgent("ag-2".into())
        );
        // None of them counts as seen.
        assert!(v.check(&signed(&key, order("d-1", now)), now).is_ok());
    }

    #[test]
    fn expired_and_overlong_orders_are_refused() {
        let (key, pem) = ca();
        let mut v = Verifier::new(CaKey::from_pem(&pem).unwrap(), "ag-1");
        let now = Timestamp::from_secs(1_800_000_000);
        let req = signed(&key, order("d-1", Timestamp(now.0 - 3_600_000)));
        let err = v.check(&req, now).unwrap_err();
        assert_eq!(err.to_string(), "expired at 2027-01-15T07:10:00Z");
        let mut long = order("d-2", now);
        long.expires_at = Timestamp(now.0 + 2 * 86_400_000);
        let err = v.check(&signed(&key, long), now).unwrap_err();
        assert!(matches!(err, Refusal::BadValidity(_)), "{err}");
    }

    #[test]
    fn without_a_key_every_order_is_refused_with_the_reason() {
        let (key, _) = ca();
        let mut v = Verifier::without_key("the CA key is of a kind …", "ag-1");
        let now = Timestamp::from_secs(1_800_000_000);
        let err = v.check(&signed(&key, order("d-1", now)), now).unwrap_err();
        assert_eq!(
            err.to_string(),
            "this agent cannot check orders: the CA key is of a kind …"
        );
        assert!(CaKey::from_pem("not a certificate").is_err());
    }

    #[test]
    fn a_signed_order_with_bad_arguments_is_still_refused() {
        let (key, pem) = ca();
        let mut v = Verifier::new(CaKey::from_pem(&pem).unwrap(), "ag-1");
        let now = Timestamp::from_secs(1_800_000_000);
        let mut o = order("d-1", now);
        o.action = Action::DiskUsage {
            path: "/var/../etc".into(),
        };
        let err = v.check(&signed(&key, o), now).unwrap_err();
        assert!(
            err.to_string().starts_with("invalid arguments: path"),
            "{err}"
        );
    }
}
