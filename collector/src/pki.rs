//! The collector's certificate authority.
//!
//! On first start the collector creates a CA (`ca.pem`, `ca-key.pem`) in its
//! data directory; every later start reloads it, so the CA hash printed in
//! enrollment tokens stays valid. The CA issues the collector's own server
//! certificate and signs agents' certificate requests. The identity in an
//! agent certificate is the one the collector chose (a URI SAN
//! `urn:atalaya:agent:<id>` and the same id as CN), never what the request
//! asked for.
//!
//! Private keys are written with mode 0600 through a temporary file and a
//! rename, so a crash never leaves a half-written key, and a key file that
//! group or others can read is refused rather than silently used.

use std::collections::BTreeSet;
use std::fmt;
use std::fs;
use std::io;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use atalaya_files::{
    CheckError, FileError, check_private, create_private_dir, write_atomic, write_private,
};
use rand::Rng as _;
use rcgen::{
    BasicConstraints, CertificateParams, CertificateSigningRequestParams, DistinguishedName,
    DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair, KeyUsagePurpose, SanType,
};
use rustls_pki_types::pem::PemObject as _;
use rustls_pki_types::{CertificateDer, CertificateSigningRequestDer, PrivateKeyDer};
use sha2::{Digest as _, Sha256};
use time::OffsetDateTime;
use x509_parser::extensions::GeneralName;

/// File name of the CA certificate in the data directory.
pub const CA_CERT_FILE: &str = "ca.pem";
/// File name of the CA private key in the data directory.
pub const CA_KEY_FILE: &str = "ca-key.pem";
/// File name of the collector's server certificate.
pub const SERVER_CERT_FILE: &str = "server.pem";
/// File name of the collector's server private key.
pub const SERVER_KEY_FILE: &str = "server-key.pem";
pub use atalaya_common::proto::AGENT_URI_PREFIX;

/// How long the CA certificate is valid: ten years; agents pin its hash.
const CA_VALIDITY: Duration = Duration::from_secs(10 * 365 * 24 * 3600);
/// How long a server certificate is valid.
const SERVER_VALIDITY: Duration = Duration::from_secs(365 * 24 * 3600);
/// A server certificate closer than this to expiry is replaced at start.
pub const SERVER_RENEW_BEFORE: Duration = Duration::from_secs(30 * 24 * 3600);
/// Certificates start this long in the past, so a peer whose clock is a bit
/// behind does not see them as not yet valid.
const CLOCK_SKEW: Duration = Duration::from_secs(3600);

/// Why a file of trusted CA certificates (a webhook's or the mail
/// server's `ca_file`) cannot be used. The messages leave the file out:
/// the caller names it with the setting.
#[derive(Debug, thiserror::Error)]
pub enum CaFileError {
    /// The file could not be read.
    #[error("cannot be read: {0}")]
    Read(#[source] io::Error),
    /// A PEM section is malformed.
    #[error("is not valid PEM: {0}")]
    Pem(String),
    /// No `CERTIFICATE` section in it.
    #[error("holds no PEM certificate (expected -----BEGIN CERTIFICATE-----)")]
    Empty,
    /// A certificate cannot serve as a trust anchor.
    #[error("certificate {index} cannot be trusted as a CA: {reason}")]
    NotAnchor {
        /// 1-based position in the file.
        index: usize,
        /// What rustls found.
        reason: String,
    },
}

/// The CA certificates of the PEM file `path`, each checked as a trust
/// anchor, for verifying the servers Atalaya connects to.
pub fn read_ca_certificates(path: &Path) -> Result<Vec<CertificateDer<'static>>, CaFileError> {
    let text = fs::read(path).map_err(CaFileError::Read)?;
    let certs = CertificateDer::pem_slice_iter(&text)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| CaFileError::Pem(e.to_string()))?;
    if certs.is_empty() {
        return Err(CaFileError::Empty);
    }
    for (i, c) in certs.iter().enumerate() {
        let mut roots = rustls::RootCertStore::empty();
        roots.add(c.clone()).map_err(|e| CaFileError::NotAnchor {
            index: i + 1,
            reason: e.to_string(),
        })?;
    }
    Ok(certs)
}

/// What went wrong loading, creating or using the certificate authority.
#[derive(Debug, thiserror::Error)]
pub enum PkiError {
    /// A file or directory could not be read or written.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The underlying error.
        source: io::Error,
    },
    /// A file or directory could not be written or created.
    #[error(transparent)]
    File(#[from] FileError),
    /// A private key file is open to group or others, or its permissions cannot be read.
    #[error(transparent)]
    NotPrivate(#[from] CheckError),
    /// Only one of the CA certificate and CA key exists.
    #[error(
        "{} exists but {} does not; restore the missing file from a backup (or remove both to create a new CA, which invalidates every enrolled agent)",
        present.display(), missing.display()
    )]
    IncompleteCa {
        /// The file that exists.
        present: PathBuf,
        /// The file that is missing.
        missing: PathBuf,
    },
    /// A PEM file does not hold what it should.
    #[error("{}: {reason}", path.display())]
    BadFile {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
    /// The CA key does not belong to the CA certificate.
    #[error("{} does not belong to {}", key.display(), cert.display())]
    KeyMismatch {
        /// The key file.
        key: PathBuf,
        /// The certificate file.
        cert: PathBuf,
    },
    /// A server name is neither an IP address nor a valid DNS name.
    #[error("server name {name:?} is neither an IP address nor a valid DNS name")]
    BadServerName {
        /// The name from the configuration.
        name: String,
    },
    /// No server names were given.
    #[error("the server certificate needs at least one DNS name or IP address")]
    NoServerNames,
    /// An agent id cannot be put into a certificate.
    #[error("agent id {0:?} must be non-empty ASCII letters, digits, '-', '_' or '.'")]
    BadAgentId(String),
    /// The agent's certificate request is malformed or its signature is wrong.
    #[error("certificate request refused: {0}")]
    BadCsr(rcgen::Error),
    /// Generating or signing a certificate failed.
    #[error("could not {what}: {source}")]
    Generate {
        /// What was being made.
        what: &'static str,
        /// The underlying error.
        source: rcgen::Error,
    },
}

/// The collector's CA: its certificate and signing key.
pub struct CertificateAuthority {
    cert_pem: String,
    cert_der: CertificateDer<'static>,
    key: KeyPair,
}

impl fmt::Debug for CertificateAuthority {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CertificateAuthority")
            .field("sha256", &atalaya_common::token::hex(&self.sha256()))
            .field("key", &"<redacted>")
            .finish()
    }
}

impl CertificateAuthority {
    /// Loads the CA from `dir`, creating it (and `dir`) on first start.
    pub fn load_or_create(dir: &Path) -> Result<Self, PkiError> {
        Self::load_or_create_at(dir, SystemTime::now())
    }

    fn load_or_create_at(dir: &Path, now: SystemTime) -> Result<Self, PkiError> {
        let cert_path = dir.join(CA_CERT_FILE);
        let key_path = dir.join(CA_KEY_FILE);
        match (exists(&cert_path)?, exists(&key_path)?) {
            (true, true) => Self::load(&cert_path, &key_path),
            (false, false) => Self::create(dir, &cert_path, &key_path, now),
            (true, false) => Err(PkiError::IncompleteCa {
                present: cert_path,
                missing: key_path,
            }),
            (false, true) => Err(PkiError::IncompleteCa {
                present: key_path,
                missing: cert_path,
            }),
        }
    }

    fn load(cert_path: &Path, key_path: &Path) -> Result<Self, PkiError> {
        check_private(key_path)?;
        let key_pem = read_to_string(key_path)?;
        let key = KeyPair::from_pem(&key_pem).map_err(|e| PkiError::BadFile {
            path: key_path.to_owned(),
            reason: format!("not a private key: {e}"),
        })?;
        let cert_pem = read_to_string(cert_path)?;
        let cert_der =
            CertificateDer::from_pem_slice(cert_pem.as_bytes()).map_err(|e| PkiError::BadFile {
                path: cert_path.to_owned(),
                reason: format!("no certificate: {e}"),
            })?;
        let spki = public_key_of(&cert_der).ok_or_else(|| PkiError::BadFile {
            path: cert_path.to_owned(),
            reason: "not a valid X.509 certificate".into(),
        })?;
        if spki != key.public_key_raw() {
            return Err(PkiError::KeyMismatch {
                key: key_path.to_owned(),
                cert: cert_path.to_owned(),
            });
        }
        Ok(Self {
            cert_pem,
            cert_der,
            key,
        })
    }

    fn create(
        dir: &Path,
        cert_path: &Path,
        key_path: &Path,
        now: SystemTime,
    ) -> Result<Self, PkiError> {
        create_private_dir(dir)?;
        let key = KeyPair::generate().map_err(|source| PkiError::Generate {
            what: "generate the CA key",
            source,
        })?;
        let mut params = CertificateParams::default();
        let mut dn = DistinguishedName::new();
        dn.push(DnType::OrganizationName, "Atalaya");
        dn.push(
            DnType::CommonName,
            format!("Atalaya collector CA {}", random_hex(4)),
        );
        params.distinguished_name = dn;
        params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
        params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        set_validity(&mut params, now, CA_VALIDITY);
        let cert = params
            .self_signed(&key)
            .map_err(|source| PkiError::Generate {
                what: "self-sign the CA certificate",
                source,
            })?;
        let cert_pem = cert.pem();
        // The key goes first: a crash between the two leaves a key without a
        // certificate, which is reported, never a certificate nobody can sign for.
        write_private(key_path, key.serialize_pem().as_bytes())?;
        write_atomic(cert_path, cert_pem.as_bytes(), 0o644)?;
        Ok(Self {
            cert_pem,
            cert_der: cert.der().clone(),
            key,
        })
    }

    /// The CA certificate in PEM, as agents store it.
    pub fn cert_pem(&self) -> &str {
        &self.cert_pem
    }

    /// The CA certificate in DER.
    pub fn cert_der(&self) -> CertificateDer<'static> {
        self.cert_der.clone()
    }

    /// SHA-256 of the CA certificate's DER: the pin carried by enrollment tokens.
    pub fn sha256(&self) -> [u8; 32] {
        cert_sha256(&self.cert_der)
    }

    /// The CA key's signature over `message` (ASN.1 DER for ECDSA), as
    /// agents check it with the CA certificate they hold: how diagnostic
    /// orders are signed.
    pub fn sign(&self, message: &[u8]) -> Result<Vec<u8>, PkiError> {
        rcgen::SigningKey::sign(&self.key, message).map_err(|source| PkiError::Generate {
            what: "sign with the CA key",
            source,
        })
    }

    fn issuer(&self) -> Result<Issuer<'static, &KeyPair>, PkiError> {
        Issuer::from_ca_cert_der(&self.cert_der, &self.key).map_err(|source| PkiError::Generate {
            what: "read the CA certificate as an issuer",
            source,
        })
    }

    /// The collector's server certificate chain (`[server, ca]`) and key.
    ///
    /// Reuses `server.pem`/`server-key.pem` in `dir` when they were issued by
    /// this CA for exactly `names` and are not near expiry; otherwise issues
    /// and stores new ones. Names are DNS names or IP addresses.
    pub fn server_identity(
        &self,
        dir: &Path,
        names: &[String],
    ) -> Result<(Vec<CertificateDer<'static>>, PrivateKeyDer<'static>), PkiError> {
        self.server_identity_at(dir, names, SystemTime::now())
    }

    fn server_identity_at(
        &self,
        dir: &Path,
        names: &[String],
        now: SystemTime,
    ) -> Result<(Vec<CertificateDer<'static>>, PrivateKeyDer<'static>), PkiError> {
        let sans = names
            .iter()
            .map(|name| san_of(name))
            .collect::<Result<Vec<_>, _>>()?;
        if sans.is_empty() {
            return Err(PkiError::NoServerNames);
        }
        let cert_path = dir.join(SERVER_CERT_FILE);
        let key_path = dir.join(SERVER_KEY_FILE);
        if exists(&cert_path)? && exists(&key_path)? {
            check_private(&key_path)?;
            let cert_pem = read_to_string(&cert_path)?;
            let key_pem = read_to_string(&key_path)?;
            if let Some((cert, key)) = self.reusable_server(&cert_pem, &key_pem, &sans, now) {
                return Ok((vec![cert, self.cert_der()], key));
            }
        }
        create_private_dir(dir)?;
        let key = KeyPair::generate().map_err(|source| PkiError::Generate {
            what: "generate the server key",
            source,
        })?;
        let mut params = CertificateParams::default();
        let mut dn = DistinguishedName::new();
        dn.push(
            DnType::CommonName,
            names.first().map_or("atalaya", String::as_str),
        );
        params.distinguished_name = dn;
        params.subject_alt_names = sans;
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        params.use_authority_key_identifier_extension = true;
        set_validity(&mut params, now, SERVER_VALIDITY);
        let cert =
            params
                .signed_by(&key, &self.issuer()?)
                .map_err(|source| PkiError::Generate {
                    what: "sign the server certificate",
                    source,
                })?;
        write_private(&key_path, key.serialize_pem().as_bytes())?;
        write_atomic(&cert_path, cert.pem().as_bytes(), 0o644)?;
        let key_der = PrivateKeyDer::Pkcs8(key.serialize_der().into());
        Ok((vec![cert.der().clone(), self.cert_der()], key_der))
    }

    /// The stored server certificate and key, if they can serve `sans` at `now`.
    fn reusable_server(
        &self,
        cert_pem: &str,
        key_pem: &str,
        sans: &[SanType],
        now: SystemTime,
    ) -> Option<(CertificateDer<'static>, PrivateKeyDer<'static>)> {
        let cert_der = CertificateDer::from_pem_slice(cert_pem.as_bytes()).ok()?;
        let key = KeyPair::from_pem(key_pem).ok()?;
        let (_, cert) = x509_parser::parse_x509_certificate(&cert_der).ok()?;
        let (_, ca) = x509_parser::parse_x509_certificate(&self.cert_der).ok()?;
        cert.verify_signature(Some(ca.public_key())).ok()?;
        if cert.public_key().subject_public_key.data.as_ref() != key.public_key_raw() {
            return None;
        }
        let renew_at = unix_seconds(now).saturating_add(secs(SERVER_RENEW_BEFORE));
        if cert.validity().not_after.timestamp() < renew_at {
            return None;
        }
        let wanted: BTreeSet<String> = sans.iter().map(san_key).collect();
        let mut present = BTreeSet::new();
        if let Ok(Some(ext)) = cert.subject_alternative_name() {
            for name in &ext.value.general_names {
                match name {
                    GeneralName::DNSName(dns) => present.insert(format!("dns:{dns}")),
                    GeneralName::IPAddress(bytes) => match ip_from_bytes(bytes) {
                        Some(ip) => present.insert(format!("ip:{ip}")),
                        None => return None,
                    },
                    _ => return None,
                };
            }
        }
        if present != wanted {
            return None;
        }
        Some((
            cert_der.clone(),
            PrivateKeyDer::Pkcs8(key.serialize_der().into()),
        ))
    }

    /// Signs an agent's certificate request; returns the certificate in PEM.
    ///
    /// Only the public key of the request is used (after its signature is
    /// checked): the subject is `agent_id`, as a URI SAN
    /// `urn:atalaya:agent:<agent_id>` and as CN, for client authentication only.
    pub fn sign_agent_csr(
        &self,
        csr_der: &[u8],
        agent_id: &str,
        valid_for: Duration,
    ) -> Result<String, PkiError> {
        self.sign_agent_csr_at(csr_der, agent_id, valid_for, SystemTime::now())
    }

    /// [`sign_agent_csr`](Self::sign_agent_csr) as if the time were `now`:
    /// the certificate is valid from shortly before `now` for `valid_for`.
    /// Tests use a past `now` to make a certificate that has expired.
    pub fn sign_agent_csr_at(
        &self,
        csr_der: &[u8],
        agent_id: &str,
        valid_for: Duration,
        now: SystemTime,
    ) -> Result<String, PkiError> {
        if !is_valid_agent_id(agent_id) {
            return Err(PkiError::BadAgentId(agent_id.to_owned()));
        }
        let csr =
            CertificateSigningRequestParams::from_der(&CertificateSigningRequestDer::from(csr_der))
                .map_err(PkiError::BadCsr)?;
        let uri = format!("{AGENT_URI_PREFIX}{agent_id}");
        let uri = uri
            .try_into()
            .map_err(|_| PkiError::BadAgentId(agent_id.to_owned()))?;
        let mut params = CertificateParams::default();
        let mut dn = DistinguishedName::new();
        dn.push(DnType::CommonName, agent_id);
        params.distinguished_name = dn;
        params.subject_alt_names = vec![SanType::URI(uri)];
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
        params.use_authority_key_identifier_extension = true;
        set_validity(&mut params, now, valid_for);
        let cert = params
            .signed_by(&csr.public_key, &self.issuer()?)
            .map_err(|source| PkiError::Generate {
                what: "sign the agent certificate",
                source,
            })?;
        Ok(cert.pem())
    }
}

impl CertificateAuthority {
    /// Whether this CA signed `cert`; validity dates are not looked at.
    pub fn signed(&self, cert: &CertificateDer<'_>) -> bool {
        is_signed_by(&self.cert_der, cert)
    }
}

/// Whether `cert`'s signature checks out against the key of the CA
/// certificate `ca`; validity dates are not looked at.
pub fn is_signed_by(ca: &CertificateDer<'_>, cert: &CertificateDer<'_>) -> bool {
    let Ok((_, ca)) = x509_parser::parse_x509_certificate(ca) else {
        return false;
    };
    x509_parser::parse_x509_certificate(cert)
        .is_ok_and(|(_, cert)| cert.verify_signature(Some(ca.public_key())).is_ok())
}

/// The end of a certificate's validity, seconds since the Unix epoch.
pub fn not_after_of(cert: &CertificateDer<'_>) -> Option<i64> {
    let (_, cert) = x509_parser::parse_x509_certificate(cert).ok()?;
    Some(cert.validity().not_after.timestamp())
}

/// The agent id named by a client certificate, if it carries one.
///
/// The certificate is not verified here: call this on a certificate the TLS
/// handshake has already verified against the CA.
pub fn agent_id_of(cert: &CertificateDer<'_>) -> Option<String> {
    let (_, cert) = x509_parser::parse_x509_certificate(cert).ok()?;
    let ext = cert.subject_alternative_name().ok()??;
    ext.value.general_names.iter().find_map(|name| match name {
        GeneralName::URI(uri) => uri
            .strip_prefix(AGENT_URI_PREFIX)
            .filter(|id| is_valid_agent_id(id))
            .map(str::to_owned),
        _ => None,
    })
}

/// SHA-256 of a certificate's DER.
pub fn cert_sha256(der: &[u8]) -> [u8; 32] {
    Sha256::digest(der).into()
}

/// A fresh random agent id: `ag-` and 16 hex digits.
pub fn new_agent_id() -> String {
    format!("ag-{}", random_hex(8))
}

/// Whether `id` can name an agent in a certificate and a URI.
pub fn is_valid_agent_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 64
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
}

fn random_hex(bytes: usize) -> String {
    let mut rng = rand::rng();
    let raw: Vec<u8> = (0..bytes).map(|_| rng.random()).collect();
    atalaya_common::token::hex(&raw)
}

fn san_of(name: &str) -> Result<SanType, PkiError> {
    let bad = || PkiError::BadServerName {
        name: name.to_owned(),
    };
    if let Ok(ip) = name.parse::<IpAddr>() {
        return Ok(SanType::IpAddress(ip));
    }
    let valid_dns = !name.is_empty()
        && name.len() <= 253
        && name.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-')
        });
    if !valid_dns {
        return Err(bad());
    }
    Ok(SanType::DnsName(name.try_into().map_err(|_| bad())?))
}

/// A comparable form of a SAN, shared by what is wanted and what is stored.
fn san_key(san: &SanType) -> String {
    match san {
        SanType::DnsName(dns) => format!("dns:{}", dns.as_str()),
        SanType::IpAddress(ip) => format!("ip:{ip}"),
        other => format!("other:{other:?}"),
    }
}

fn ip_from_bytes(bytes: &[u8]) -> Option<IpAddr> {
    match bytes.len() {
        4 => <[u8; 4]>::try_from(bytes).ok().map(IpAddr::from),
        16 => <[u8; 16]>::try_from(bytes).ok().map(IpAddr::from),
        _ => None,
    }
}

fn public_key_of(cert: &CertificateDer<'_>) -> Option<Vec<u8>> {
    let (_, cert) = x509_parser::parse_x509_certificate(cert).ok()?;
    Some(cert.public_key().subject_public_key.data.to_vec())
}

fn secs(d: Duration) -> i64 {
    i64::try_from(d.as_secs()).unwrap_or(i64::MAX)
}

fn unix_seconds(t: SystemTime) -> i64 {
    match t.duration_since(SystemTime::UNIX_EPOCH) {
        Ok(d) => secs(d),
        Err(e) => -secs(e.duration()),
    }
}

/// Certificates start [`CLOCK_SKEW`] in the past, but at most a quarter of
/// their lifetime: an agent measures its renewal point over the whole span
/// from `not_before`, so a short-lived certificate must not look half spent
/// the moment it is issued.
fn set_validity(params: &mut CertificateParams, now: SystemTime, valid_for: Duration) {
    let now = OffsetDateTime::from(now);
    params.not_before = now - CLOCK_SKEW.min(valid_for / 4);
    params.not_after = now
        .checked_add(time::Duration::seconds(secs(valid_for)))
        .unwrap_or(
            // Past the end of the representable range: the farthest valid date.
            rcgen::date_time_ymd(9999, 12, 31),
        );
}

fn io_err(path: &Path) -> impl FnOnce(io::Error) -> PkiError + '_ {
    move |source| PkiError::Io {
        path: path.to_owned(),
        source,
    }
}

fn exists(path: &Path) -> Result<bool, PkiError> {
    path.try_exists().map_err(io_err(path))
}

fn read_to_string(path: &Path) -> Result<String, PkiError> {
    fs::read_to_string(path).map_err(io_err(path))
}

#[cfg(test)]
mod tests {
    use super::*;

    const DAY: Duration = Duration::from_secs(24 * 3600);

    fn csr_for(cn: &str) -> (KeyPair, Vec<u8>) {
        let key = KeyPair::generate().unwrap();
        let mut params = CertificateParams::new(vec!["evil.example".to_owned()]).unwrap();
        params.distinguished_name.push(DnType::CommonName, cn);
        let csr = params.serialize_request(&key).unwrap();
        (key, csr.der().to_vec())
    }

    fn names(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn ca_is_created_once_and_reloaded() {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("data");
        let first = CertificateAuthority::load_or_create(&data).unwrap();
        let second = CertificateAuthority::load_or_create(&data).unwrap();
        assert_eq!(first.sha256(), second.sha256());
        assert_eq!(first.cert_pem(), second.cert_pem());
        assert_eq!(cert_sha256(&first.cert_der()), first.sha256());
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            let mode = |p: &str| fs::metadata(data.join(p)).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode(CA_KEY_FILE), 0o600);
            assert_eq!(
                fs::metadata(&data).unwrap().permissions().mode() & 0o777,
                0o700
            );
        }
    }

    #[cfg(unix)]
    #[test]
    fn ca_key_readable_by_others_is_refused() {
        use std::os::unix::fs::PermissionsExt as _;
        let dir = tempfile::tempdir().unwrap();
        CertificateAuthority::load_or_create(dir.path()).unwrap();
        let key = dir.path().join(CA_KEY_FILE);
        fs::set_permissions(&key, fs::Permissions::from_mode(0o644)).unwrap();
        let err = CertificateAuthority::load_or_create(dir.path()).unwrap_err();
        assert!(
            matches!(
                err,
                PkiError::NotPrivate(CheckError::TooOpen { mode: 0o644, .. })
            ),
            "{err:?}"
        );
        let text = err.to_string();
        assert!(text.contains("chmod 600"), "{text}");
        assert!(text.contains(&key.display().to_string()), "{text}");
    }

    #[test]
    fn a_lone_ca_file_is_not_overwritten() {
        let dir = tempfile::tempdir().unwrap();
        CertificateAuthority::load_or_create(dir.path()).unwrap();
        fs::remove_file(dir.path().join(CA_KEY_FILE)).unwrap();
        let before = fs::read(dir.path().join(CA_CERT_FILE)).unwrap();
        let err = CertificateAuthority::load_or_create(dir.path()).unwrap_err();
        assert!(matches!(err, PkiError::IncompleteCa { .. }), "{err:?}");
        assert_eq!(fs::read(dir.path().join(CA_CERT_FILE)).unwrap(), before);
    }

    #[test]
    fn a_key_from_another_ca_is_refused() {
        let a = tempfile::tempdir().unwrap();
        let b = tempfile::tempdir().unwrap();
        CertificateAuthority::load_or_create(a.path()).unwrap();
        CertificateAuthority::load_or_create(b.path()).unwrap();
        fs::copy(b.path().join(CA_KEY_FILE), a.path().join(CA_KEY_FILE)).unwrap();
        let err = CertificateAuthority::load_or_create(a.path()).unwrap_err();
        assert!(matches!(err, PkiError::KeyMismatch { .. }), "{err:?}");
    }

    #[test]
    fn csr_is_signed_with_the_collectors_identity_not_the_requested_one() {
        let dir = tempfile::tempdir().unwrap();
        let ca = CertificateAuthority::load_or_create(dir.path()).unwrap();
        let (key, csr) = csr_for("i-am-the-admin");
        let id = new_agent_id();
        let pem = ca.sign_agent_csr(&csr, &id, 90 * DAY).unwrap();
        let der = CertificateDer::from_pem_slice(pem.as_bytes()).unwrap();
        assert_eq!(agent_id_of(&der).as_deref(), Some(id.as_str()));
        let (_, cert) = x509_parser::parse_x509_certificate(&der).unwrap();
        let ca_der = ca.cert_der();
        let (_, ca_cert) = x509_parser::parse_x509_certificate(&ca_der).unwrap();
        cert.verify_signature(Some(ca_cert.public_key())).unwrap();
        assert_eq!(
            cert.public_key().subject_public_key.data.as_ref(),
            key.public_key_raw()
        );
        let subject = cert.subject().to_string();
        assert!(!subject.contains("i-am-the-admin"), "{subject}");
        let sans = format!("{:?}", cert.subject_alternative_name().unwrap());
        assert!(!sans.contains("evil.example"), "{sans}");
        let eku = cert.extended_key_usage().unwrap().unwrap().value;
        assert!(eku.client_auth && !eku.server_auth);
    }

    #[test]
    fn a_csr_with_a_broken_signature_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let ca = CertificateAuthority::load_or_create(dir.path()).unwrap();
        let (_, mut csr) = csr_for("x");
        let last = csr.len() - 1;
        csr[last] ^= 1;
        assert!(matches!(
            ca.sign_agent_csr(&csr, "ag-1", DAY),
            Err(PkiError::BadCsr(_))
        ));
        assert!(matches!(
            ca.sign_agent_csr(b"not a csr", "ag-1", DAY),
            Err(PkiError::BadCsr(_))
        ));
        let (_, csr) = csr_for("x");
        assert!(matches!(
            ca.sign_agent_csr(&csr, "ag 1/..", DAY),
            Err(PkiError::BadAgentId(_))
        ));
    }

    #[test]
    fn agent_validity_follows_the_requested_duration() {
        let dir = tempfile::tempdir().unwrap();
        let ca = CertificateAuthority::load_or_create(dir.path()).unwrap();
        let (_, csr) = csr_for("x");
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(2_000_000_000);
        let pem = ca.sign_agent_csr_at(&csr, "ag-1", 30 * DAY, now).unwrap();
        let der = CertificateDer::from_pem_slice(pem.as_bytes()).unwrap();
        let (_, cert) = x509_parser::parse_x509_certificate(&der).unwrap();
        assert_eq!(
            cert.validity().not_after.timestamp(),
            2_000_000_000 + 30 * 86_400
        );
        assert_eq!(cert.validity().not_before.timestamp(), 2_000_000_000 - 3600);
    }

    #[test]
    fn short_lived_agent_certificates_start_at_most_a_quarter_of_their_life_early() {
        let dir = tempfile::tempdir().unwrap();
        let ca = CertificateAuthority::load_or_create(dir.path()).unwrap();
        let (_, csr) = csr_for("x");
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(2_000_000_000);
        let pem = ca
            .sign_agent_csr_at(&csr, "ag-1", Duration::from_secs(20), now)
            .unwrap();
        let der = CertificateDer::from_pem_slice(pem.as_bytes()).unwrap();
        let (_, cert) = x509_parser::parse_x509_certificate(&der).unwrap();
        assert_eq!(cert.validity().not_before.timestamp(), 2_000_000_000 - 5);
        assert_eq!(not_after_of(&der), Some(2_000_000_020));
    }

    #[test]
    fn signed_tells_own_certificates_from_foreign_ones() {
        let dir = tempfile::tempdir().unwrap();
        let other = tempfile::tempdir().unwrap();
        let ca = CertificateAuthority::load_or_create(dir.path()).unwrap();
        let other_ca = CertificateAuthority::load_or_create(other.path()).unwrap();
        let (_, csr) = csr_for("x");
        let own = ca.sign_agent_csr(&csr, "ag-1", DAY).unwrap();
        let foreign = other_ca.sign_agent_csr(&csr, "ag-1", DAY).unwrap();
        let der = |pem: &str| CertificateDer::from_pem_slice(pem.as_bytes()).unwrap();
        assert!(ca.signed(&der(&own)));
        assert!(!ca.signed(&der(&foreign)));
        assert!(!ca.signed(&CertificateDer::from(vec![1, 2, 3])));
    }

    #[test]
    fn server_identity_is_reused_until_names_change_or_expiry_nears() {
        let dir = tempfile::tempdir().unwrap();
        let ca = CertificateAuthority::load_or_create(dir.path()).unwrap();
        let now = SystemTime::now();
        let wanted = names(&["collector.example.net", "127.0.0.1", "::1"]);
        let (chain, _) = ca.server_identity_at(dir.path(), &wanted, now).unwrap();
        assert_eq!(chain.len(), 2);
        assert_eq!(chain[1], ca.cert_der());
        let (again, _) = ca.server_identity_at(dir.path(), &wanted, now).unwrap();
        assert_eq!(again[0], chain[0], "same names: reused");
        let reordered = names(&["::1", "collector.example.net", "127.0.0.1"]);
        let (again, _) = ca.server_identity_at(dir.path(), &reordered, now).unwrap();
        assert_eq!(again[0], chain[0], "order does not matter");
        let later = now + SERVER_VALIDITY - SERVER_RENEW_BEFORE + DAY;
        let (renewed, _) = ca.server_identity_at(dir.path(), &wanted, later).unwrap();
        assert_ne!(renewed[0], chain[0], "near expiry: renewed");
        let fewer = names(&["collector.example.net"]);
        let (changed, _) = ca.server_identity_at(dir.path(), &fewer, later).unwrap();
        assert_ne!(changed[0], renewed[0], "names changed: reissued");

        let (_, cert) = x509_parser::parse_x509_certificate(&chain[0]).unwrap();
        let sans = cert.subject_alternative_name().unwrap().unwrap().value;
        let kinds: Vec<&str> = sans
            .general_names
            .iter()
            .map(|n| match n {
                GeneralName::DNSName(_) => "dns",
                GeneralName::IPAddress(_) => "ip",
                _ => "other",
            })
            .collect();
        assert_eq!(kinds, ["dns", "ip", "ip"]);
    }

    #[test]
    fn server_identity_from_another_ca_is_reissued() {
        let dir = tempfile::tempdir().unwrap();
        let other = tempfile::tempdir().unwrap();
        let ca = CertificateAuthority::load_or_create(dir.path()).unwrap();
        let other_ca = CertificateAuthority::load_or_create(other.path()).unwrap();
        let wanted = names(&["localhost"]);
        let (foreign, _) = other_ca.server_identity(dir.path(), &wanted).unwrap();
        let (mine, _) = ca.server_identity(dir.path(), &wanted).unwrap();
        assert_ne!(mine[0], foreign[0]);
    }

    #[test]
    fn bad_server_names_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let ca = CertificateAuthority::load_or_create(dir.path()).unwrap();
        for bad in ["", "has space", "-lead.example", "a..b"] {
            let err = ca.server_identity(dir.path(), &names(&[bad])).unwrap_err();
            assert!(
                matches!(err, PkiError::BadServerName { .. }),
                "{bad:?}: {err:?}"
            );
        }
        assert!(matches!(
            ca.server_identity(dir.path(), &[]),
            Err(PkiError::NoServerNames)
        ));
    }

    #[test]
    fn agent_ids_are_random_and_valid() {
        let a = new_agent_id();
        assert!(a.starts_with("ag-") && a.len() == 19, "{a}");
        assert!(is_valid_agent_id(&a));
        assert_ne!(a, new_agent_id());
    }

    #[test]
    fn debug_redacts_the_key() {
        let dir = tempfile::tempdir().unwrap();
        let ca = CertificateAuthority::load_or_create(dir.path()).unwrap();
        let shown = format!("{ca:?}");
        assert!(shown.contains("<redacted>"));
        assert!(!shown.contains("PRIVATE"));
    }
}
