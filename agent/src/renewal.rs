//! Certificate renewal and expiry, decided without I/O.
//!
//! The agent renews its certificate on its own, over its authenticated data
//! connection, when less than a configured share of the certificate's life
//! is left (a third by default). The point is drawn a little earlier at
//! random, so a fleet enrolled in one afternoon does not renew in one
//! second. A certificate past its end is not offered to the collector at
//! all: the agent says why and waits for a new enrollment.
//!
//! Everything here takes `now` as an argument, so it is tested with
//! made-up clocks; the uplink does the talking and `identity` the files.

use std::fmt;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use atalaya_common::model::Timestamp;
use atalaya_common::proto::AGENT_URI_PREFIX;
use rcgen::KeyPair;
use rustls_pki_types::CertificateDer;
use rustls_pki_types::pem::PemObject as _;
use x509_parser::extensions::GeneralName;

use crate::identity::{self, AgentIdentity, IdentityError};

/// Default share of a certificate's life, in percent, left when it is renewed.
pub const DEFAULT_RENEW_PERCENT: u8 = 33;
/// The renewal point is drawn up to this share of the renewal window
/// earlier, so that agents enrolled together renew apart.
const JITTER: f64 = 0.1;

/// A certificate that cannot be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct CertError(String);

/// The validity period of a certificate, seconds since the Unix epoch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Validity {
    /// Start of validity.
    pub not_before: i64,
    /// End of validity: from this second on it is refused.
    pub not_after: i64,
}

impl Validity {
    /// The validity of the first certificate in `pem`.
    pub fn of_pem(pem: &str) -> Result<Self, CertError> {
        let der = first_cert(pem)?;
        let (_, cert) = x509_parser::parse_x509_certificate(&der)
            .map_err(|e| CertError(format!("not an X.509 certificate: {e}")))?;
        Ok(Self {
            not_before: cert.validity().not_before.timestamp(),
            not_after: cert.validity().not_after.timestamp(),
        })
    }

    /// When the certificate stops being valid.
    pub fn expires(&self) -> Timestamp {
        Timestamp::from_secs(self.not_after)
    }

    /// Whether it has expired at `now`.
    pub fn expired(&self, now: SystemTime) -> bool {
        unix_seconds(now) >= self.not_after
    }

    /// When to renew: once less than `percent` of the life from
    /// `not_before` to `not_after` is left, drawn up to 10 % of that window
    /// earlier with `jitter` in `[0, 1)`.
    pub fn renew_at(&self, percent: u8, jitter: f64) -> SystemTime {
        let life = (self.not_after - self.not_before).max(1) as f64;
        let window = life * f64::from(percent.clamp(1, 100)) / 100.0;
        let before_end = window * (1.0 + JITTER * jitter.clamp(0.0, 1.0));
        let secs = self.not_after as f64 - before_end;
        if secs <= 0.0 {
            return UNIX_EPOCH;
        }
        UNIX_EPOCH + Duration::from_secs_f64(secs)
    }
}

/// What the uplink should do about its certificate now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Plan {
    /// Connect; ask for a new certificate at this time (maybe already passed).
    RenewAt(SystemTime),
    /// Do not connect: the certificate expired at this time.
    Expired(Timestamp),
}

/// Decides about a certificate with `validity` at `now`.
pub fn plan(validity: &Validity, now: SystemTime, percent: u8, jitter: f64) -> Plan {
    if validity.expired(now) {
        Plan::Expired(validity.expires())
    } else {
        Plan::RenewAt(validity.renew_at(percent, jitter))
    }
}

/// How long after a refused or failed renewal to ask again: an eighth of
/// the time left, between 10 s and an hour, so a transient failure is
/// retried well before expiry and a permanent one does not hammer.
pub fn retry_after(validity: &Validity, now: SystemTime) -> Duration {
    let left = (validity.not_after - unix_seconds(now))
        .max(0)
        .unsigned_abs();
    Duration::from_secs(left / 8).clamp(Duration::from_secs(10), Duration::from_secs(3600))
}

/// The log line for an expired certificate: what happened and what to do.
pub fn expired_message(at: Timestamp) -> String {
    format!(
        "this agent's certificate expired at {at}; enroll it again with a new token: \
         `atalaya-agent enroll --token TOKEN` with a token from `atalaya-collector token create` \
         (the running agent picks up the new identity within a minute)"
    )
}

/// A renewal under way: the new key, and the request sent for it.
pub struct Pending {
    key_pem: String,
    /// The certificate request to send, DER.
    pub csr_der: Vec<u8>,
}

impl fmt::Debug for Pending {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Pending")
            .field("key_pem", &"<redacted>")
            .field("csr_der", &format_args!("{} bytes", self.csr_der.len()))
            .finish()
    }
}

impl Pending {
    /// Makes a new key pair and a request for it. `name` only decorates
    /// the request: the collector names the certificate after the
    /// connection's identity.
    pub fn new(name: &str) -> Result<Self, IdentityError> {
        let (key_pem, csr_der) = identity::new_key_and_csr(name)?;
        Ok(Self { key_pem, csr_der })
    }

    /// The identity with the new key and `certificate_pem`, once the
    /// certificate is checked: signed by the collector CA this agent
    /// already trusts, for the new key, naming this agent, and valid at
    /// `now` for longer than the current one.
    pub fn accept(
        self,
        current: &AgentIdentity,
        certificate_pem: String,
        now: SystemTime,
    ) -> Result<AgentIdentity, CertError> {
        let der = first_cert(&certificate_pem)?;
        let (_, cert) = x509_parser::parse_x509_certificate(&der)
            .map_err(|e| CertError(format!("not an X.509 certificate: {e}")))?;
        let ca_der = first_cert(&current.ca_pem)?;
        let (_, ca) = x509_parser::parse_x509_certificate(&ca_der)
            .map_err(|e| CertError(format!("the stored CA certificate is unreadable: {e}")))?;
        cert.verify_signature(Some(ca.public_key()))
            .map_err(|_| CertError("it is not signed by the collector's CA".into()))?;
        let key = KeyPair::from_pem(&self.key_pem)
            .map_err(|e| CertError(format!("the new key is unreadable: {e}")))?;
        if cert.public_key().subject_public_key.data.as_ref() != key.public_key_raw() {
            return Err(CertError("it is not for the key that was sent".into()));
        }
        let named = cert
            .subject_alternative_name()
            .ok()
            .flatten()
            .into_iter()
            .flat_map(|ext| ext.value.general_names.iter())
            .find_map(|name| match name {
                GeneralName::URI(uri) => uri.strip_prefix(AGENT_URI_PREFIX),
                _ => None,
            });
        if named != Some(current.agent_id.as_str()) {
            return Err(CertError(format!(
                "it names agent {}, not this agent ({})",
                named.unwrap_or("(none)"),
                current.agent_id
            )));
        }
        let validity = Validity {
            not_before: cert.validity().not_before.timestamp(),
            not_after: cert.validity().not_after.timestamp(),
        };
        let old = Validity::of_pem(&current.certificate_pem)?;
        if validity.expired(now) || validity.not_after <= old.not_after {
            return Err(CertError(format!(
                "it ends at {}, no later than the current one ({})",
                validity.expires(),
                old.expires()
            )));
        }
        Ok(AgentIdentity {
            agent_id: current.agent_id.clone(),
            certificate_pem,
            key_pem: self.key_pem,
            ca_pem: current.ca_pem.clone(),
        })
    }
}

fn first_cert(pem: &str) -> Result<CertificateDer<'static>, CertError> {
    CertificateDer::from_pem_slice(pem.as_bytes())
        .map_err(|e| CertError(format!("no certificate in the PEM: {e}")))
}

fn unix_seconds(t: SystemTime) -> i64 {
    match t.duration_since(UNIX_EPOCH) {
        Ok(d) => i64::try_from(d.as_secs()).unwrap_or(i64::MAX),
        Err(e) => -i64::try_from(e.duration().as_secs()).unwrap_or(i64::MAX),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rcgen::{
        BasicConstraints, CertificateParams, CertificateSigningRequestParams, IsCa, Issuer, SanType,
    };

    const DAY: i64 = 86_400;

    fn at(secs: i64) -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(secs.unsigned_abs())
    }

    fn ninety_days() -> Validity {
        Validity {
            not_before: 1_000_000,
            not_after: 1_000_000 + 90 * DAY,
        }
    }

    #[test]
    fn renewal_is_planned_when_a_third_of_the_life_is_left() {
        let v = ninety_days();
        assert_eq!(
            plan(&v, at(1_000_000), 33, 0.0),
            Plan::RenewAt(at(v.not_after - (90 * DAY * 33 / 100)))
        );
        // The renewal point does not move with the clock.
        assert_eq!(
            plan(&v, at(1_000_000 + 80 * DAY), 33, 0.0),
            plan(&v, at(1_000_000), 33, 0.0)
        );
        // Jitter only brings it earlier, by at most a tenth of the window.
        let Plan::RenewAt(early) = plan(&v, at(1_000_000), 33, 0.999) else {
            panic!("not expired")
        };
        let Plan::RenewAt(plain) = plan(&v, at(1_000_000), 33, 0.0) else {
            panic!("not expired")
        };
        let earlier = plain.duration_since(early).unwrap().as_secs_f64();
        let window = (90 * DAY * 33 / 100) as f64;
        assert!(
            earlier > 0.09 * window && earlier <= 0.1 * window,
            "{earlier}"
        );
    }

    #[test]
    fn renewal_percent_is_configurable() {
        let v = ninety_days();
        assert_eq!(v.renew_at(10, 0.0), at(v.not_after - 9 * DAY));
        assert_eq!(v.renew_at(50, 0.0), at(v.not_after - 45 * DAY));
    }

    #[test]
    fn a_fresh_short_lived_certificate_is_not_due_at_once() {
        // What the collector issues for 12 s: starting 3 s early.
        let v = Validity {
            not_before: 997,
            not_after: 1_012,
        };
        let Plan::RenewAt(when) = plan(&v, at(1_000), 33, 0.999) else {
            panic!("not expired")
        };
        assert!(when > at(1_000), "{when:?}");
        assert!(when < at(1_012));
    }

    #[test]
    fn an_expired_certificate_is_not_used() {
        let v = ninety_days();
        assert_eq!(
            plan(&v, at(v.not_after), 33, 0.0),
            Plan::Expired(Timestamp::from_secs(v.not_after))
        );
        assert_eq!(
            plan(&v, at(v.not_after + 5), 33, 0.0),
            Plan::Expired(Timestamp::from_secs(v.not_after))
        );
        assert!(matches!(
            plan(&v, at(v.not_after - 1), 33, 0.0),
            Plan::RenewAt(_)
        ));
    }

    #[test]
    fn expired_message_names_the_time_and_the_way_out() {
        let text = expired_message(Timestamp::from_secs(1_800_000_000));
        assert!(
            text.starts_with("this agent's certificate expired at 2027-01-15T08:00:00Z; enroll it again with a new token: "),
            "{text}"
        );
        assert!(text.contains("atalaya-agent enroll --token"), "{text}");
    }

    #[test]
    fn retries_are_spaced_by_the_time_left() {
        let v = ninety_days();
        assert_eq!(
            retry_after(&v, at(v.not_after - 8000)),
            Duration::from_secs(1000)
        );
        assert_eq!(
            retry_after(&v, at(v.not_after - 5)),
            Duration::from_secs(10)
        );
        assert_eq!(retry_after(&v, at(1_000_000)), Duration::from_secs(3600));
    }

    /// A CA, and an identity it issued for `agent` valid from `from` for `secs`.
    struct Ca {
        key: KeyPair,
        der: CertificateDer<'static>,
        pem: String,
    }

    impl Ca {
        fn new() -> Self {
            let key = KeyPair::generate().unwrap();
            let mut params = CertificateParams::default();
            params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
            let cert = params.self_signed(&key).unwrap();
            Self {
                pem: cert.pem(),
                der: cert.der().clone(),
                key,
            }
        }

        fn issue(&self, csr_der: &[u8], agent: &str, from: i64, secs: i64) -> String {
            let csr = CertificateSigningRequestParams::from_der(
                &rustls_pki_types::CertificateSigningRequestDer::from(csr_der),
            )
            .unwrap();
            let mut params = CertificateParams::default();
            params.subject_alt_names = vec![SanType::URI(
                format!("{AGENT_URI_PREFIX}{agent}").try_into().unwrap(),
            )];
            params.not_before = time_of(from);
            params.not_after = time_of(from + secs);
            let issuer = Issuer::from_ca_cert_der(&self.der, &self.key).unwrap();
            params.signed_by(&csr.public_key, &issuer).unwrap().pem()
        }
    }

    fn time_of(secs: i64) -> time::OffsetDateTime {
        time::OffsetDateTime::from_unix_timestamp(secs).unwrap()
    }

    fn now_secs() -> i64 {
        unix_seconds(SystemTime::now())
    }

    /// An enrolled identity from `ca`, valid from an hour ago for a day.
    fn enrolled(ca: &Ca, agent: &str) -> AgentIdentity {
        let (key_pem, csr) = identity::new_key_and_csr("host").unwrap();
        AgentIdentity {
            agent_id: agent.into(),
            certificate_pem: ca.issue(&csr, agent, now_secs() - 3600, DAY),
            key_pem,
            ca_pem: ca.pem.clone(),
        }
    }

    #[test]
    fn a_good_renewed_certificate_is_accepted_with_the_new_key() {
        let ca = Ca::new();
        let current = enrolled(&ca, "ag-1");
        let pending = Pending::new("ag-1").unwrap();
        let cert = ca.issue(&pending.csr_der, "ag-1", now_secs(), DAY);
        let key_pem = pending.key_pem.clone();
        let renewed = pending
            .accept(&current, cert.clone(), SystemTime::now())
            .unwrap();
        assert_eq!(renewed.agent_id, "ag-1");
        assert_eq!(renewed.certificate_pem, cert);
        assert_eq!(renewed.key_pem, key_pem);
        assert_ne!(renewed.key_pem, current.key_pem);
        assert_eq!(renewed.ca_pem, current.ca_pem);
    }

    #[test]
    fn a_wrong_renewed_certificate_is_refused_with_the_reason() {
        let ca = Ca::new();
        let current = enrolled(&ca, "ag-1");
        let now = SystemTime::now();
        let refuse = |cert: String, pending: Pending| {
            pending.accept(&current, cert, now).unwrap_err().to_string()
        };

        let p = Pending::new("x").unwrap();
        let foreign = Ca::new().issue(&p.csr_der, "ag-1", now_secs(), DAY);
        assert!(refuse(foreign, p).contains("not signed by the collector's CA"));

        let p = Pending::new("x").unwrap();
        let other = Pending::new("x").unwrap();
        let wrong_key = ca.issue(&other.csr_der, "ag-1", now_secs(), DAY);
        assert!(refuse(wrong_key, p).contains("not for the key that was sent"));

        let p = Pending::new("x").unwrap();
        let wrong_agent = ca.issue(&p.csr_der, "ag-2", now_secs(), DAY);
        assert!(refuse(wrong_agent, p).contains("names agent ag-2, not this agent (ag-1)"));

        let p = Pending::new("x").unwrap();
        let shorter = ca.issue(&p.csr_der, "ag-1", now_secs() - 3600, 600);
        assert!(refuse(shorter, p).contains("no later than the current one"));

        let p = Pending::new("x").unwrap();
        assert!(refuse("garbage".into(), p).contains("no certificate"));
    }

    #[test]
    fn validity_is_read_from_the_certificate() {
        let ca = Ca::new();
        let (_, csr) = identity::new_key_and_csr("host").unwrap();
        let pem = ca.issue(&csr, "ag-1", 1_900_000_000, 3600);
        assert_eq!(
            Validity::of_pem(&pem).unwrap(),
            Validity {
                not_before: 1_900_000_000,
                not_after: 1_900_003_600
            }
        );
        assert!(Validity::of_pem("nothing").is_err());
    }

    #[test]
    fn debug_of_a_pending_renewal_hides_the_new_key() {
        let pending = Pending::new("ag-1").unwrap();
        let shown = format!("{pending:?}");
        assert!(shown.contains("<redacted>"), "{shown}");
        assert!(!shown.contains("PRIVATE KEY"), "{shown}");
        let body = pending.key_pem.lines().nth(1).unwrap();
        assert!(!shown.contains(body), "{shown}");
    }
}
