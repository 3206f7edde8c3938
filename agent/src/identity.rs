//! The agent's identity: its key pair and the certificate the collector signed.
//!
//! The agent makes its own key pair at enrollment and sends only a
//! certificate request: the private key never leaves this host. The key is
//! written with mode 0600 through a temporary file and a rename, and a key
//! file that group or others can read is refused, not used.
//!
//! Files in the state directory: `ca.pem` (the collector's CA), `agent.pem`
//! (this agent's certificate), `agent-key.pem` (its key) and `agent-id`.
//! `agent-id` is written last: it marks a complete enrollment, so an
//! enrollment interrupted half-way reads as "not enrolled" and can be redone.
//!
//! A renewal replaces key and certificate, two files that must match. The
//! new pair is first written beside the old one (`agent.next.pem`,
//! `agent-key.next.pem`), then moved over it key first; loading finishes a
//! move that a crash interrupted, or drops a pair that was never complete,
//! so the state directory always holds a key and a certificate for it.

use std::fmt;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use atalaya_files::{CheckError, FileError, check_private, sync_dir, write_atomic, write_private};
use rcgen::{CertificateParams, DistinguishedName, DnType, KeyPair};
use rustls_pki_types::pem::PemObject as _;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};

/// File name of the collector CA certificate in the state directory.
pub const CA_FILE: &str = "ca.pem";
/// File name of the agent certificate.
pub const CERT_FILE: &str = "agent.pem";
/// File name of the agent private key.
pub const KEY_FILE: &str = "agent-key.pem";
/// File name of the agent id; its presence marks a complete enrollment.
pub const ID_FILE: &str = "agent-id";
/// A renewed certificate on its way to [`CERT_FILE`].
pub const NEXT_CERT_FILE: &str = "agent.next.pem";
/// A renewed key on its way to [`KEY_FILE`].
pub const NEXT_KEY_FILE: &str = "agent-key.next.pem";

/// What went wrong making, loading or saving the agent identity.
#[derive(Debug, thiserror::Error)]
pub enum IdentityError {
    /// A file or directory could not be read or written.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The underlying error.
        source: io::Error,
    },
    /// A file or directory could not be written, created or flushed.
    #[error(transparent)]
    File(#[from] FileError),
    /// The key file is open to group or others, or its permissions cannot be read.
    #[error(transparent)]
    NotPrivate(#[from] CheckError),
    /// A stored file does not hold what it should.
    #[error("{}: {reason}; enroll again with a new token", path.display())]
    BadFile {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
    /// Making the key pair or the certificate request failed.
    #[error("could not make the key pair and certificate request: {0}")]
    Generate(#[from] rcgen::Error),
}

/// Makes a fresh key pair and a certificate request for it.
///
/// Returns the private key in PEM (to keep) and the request in DER (to send).
/// `hostname` only decorates the request: the collector chooses the identity.
pub fn new_key_and_csr(hostname: &str) -> Result<(String, Vec<u8>), IdentityError> {
    let key = KeyPair::generate()?;
    let mut params = CertificateParams::default();
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, hostname);
    params.distinguished_name = dn;
    let csr = params.serialize_request(&key)?;
    Ok((key.serialize_pem(), csr.der().to_vec()))
}

/// An enrolled agent's identity, as stored in its state directory.
#[derive(Clone, PartialEq, Eq)]
pub struct AgentIdentity {
    /// The id the collector gave this agent (also inside the certificate).
    pub agent_id: String,
    /// This agent's certificate, PEM.
    pub certificate_pem: String,
    /// This agent's private key, PEM.
    pub key_pem: String,
    /// The collector's CA certificate, PEM.
    pub ca_pem: String,
}

impl fmt::Debug for AgentIdentity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AgentIdentity")
            .field("agent_id", &self.agent_id)
            .field(
                "certificate_pem",
                &format_args!("<{} bytes>", self.certificate_pem.len()),
            )
            .field("key_pem", &"<redacted>")
            .field("ca_pem", &format_args!("<{} bytes>", self.ca_pem.len()))
            .finish()
    }
}

impl AgentIdentity {
    /// Loads the identity from `state_dir`; `None` when the agent is not enrolled.
    pub fn load(state_dir: &Path) -> Result<Option<AgentIdentity>, IdentityError> {
        let id_path = state_dir.join(ID_FILE);
        if !id_path.try_exists().map_err(io_err(&id_path))? {
            return Ok(None);
        }
        finish_renewal(state_dir)?;
        let key_path = state_dir.join(KEY_FILE);
        check_private(&key_path)?;
        let agent_id = read(&id_path)?.trim().to_owned();
        if agent_id.is_empty() {
            return Err(bad(&id_path, "empty agent id"));
        }
        let key_pem = read(&key_path)?;
        PrivateKeyDer::from_pem_slice(key_pem.as_bytes())
            .map_err(|e| bad(&key_path, &format!("no private key: {e}")))?;
        let cert_path = state_dir.join(CERT_FILE);
        let certificate_pem = read(&cert_path)?;
        CertificateDer::from_pem_slice(certificate_pem.as_bytes())
            .map_err(|e| bad(&cert_path, &format!("no certificate: {e}")))?;
        let ca_path = state_dir.join(CA_FILE);
        let ca_pem = read(&ca_path)?;
        CertificateDer::from_pem_slice(ca_pem.as_bytes())
            .map_err(|e| bad(&ca_path, &format!("no certificate: {e}")))?;
        Ok(Some(AgentIdentity {
            agent_id,
            certificate_pem,
            key_pem,
            ca_pem,
        }))
    }

    /// Stores the identity in `state_dir` (created with mode 0700 if missing).
    pub fn save(&self, state_dir: &Path) -> Result<(), IdentityError> {
        atalaya_files::create_private_dir(state_dir)?;
        // The id goes last: until it exists, the state reads as not enrolled.
        let id_path = state_dir.join(ID_FILE);
        let _ = fs::remove_file(&id_path);
        // A renewal of an earlier identity must not be finished over this one.
        let _ = fs::remove_file(state_dir.join(NEXT_KEY_FILE));
        let _ = fs::remove_file(state_dir.join(NEXT_CERT_FILE));
        write_private(&state_dir.join(KEY_FILE), self.key_pem.as_bytes())?;
        write_atomic(
            &state_dir.join(CERT_FILE),
            self.certificate_pem.as_bytes(),
            0o644,
        )?;
        write_atomic(&state_dir.join(CA_FILE), self.ca_pem.as_bytes(), 0o644)?;
        write_atomic(&id_path, format!("{}\n", self.agent_id).as_bytes(), 0o644)?;
        Ok(())
    }
}

impl AgentIdentity {
    /// Replaces the stored key and certificate with this identity's after a
    /// renewal, so that a crash at any point leaves a matching pair: the
    /// old one, or the new one (see the module documentation).
    pub fn save_renewed(&self, state_dir: &Path) -> Result<(), IdentityError> {
        let next_cert = state_dir.join(NEXT_CERT_FILE);
        let next_key = state_dir.join(NEXT_KEY_FILE);
        write_atomic(&next_cert, self.certificate_pem.as_bytes(), 0o644)?;
        // Both are on disk (each write flushes the directory) before the
        // old pair is touched.
        write_private(&next_key, self.key_pem.as_bytes())?;
        let key = state_dir.join(KEY_FILE);
        fs::rename(&next_key, &key).map_err(io_err(&key))?;
        let cert = state_dir.join(CERT_FILE);
        fs::rename(&next_cert, &cert).map_err(io_err(&cert))?;
        sync_dir(state_dir)?;
        Ok(())
    }
}

/// Completes or undoes a renewal that a crash interrupted.
///
/// Both next files present: the pair was written whole (key last), move
/// it in. Only the next certificate: the key was already moved, so the
/// certificate follows if it matches the key, and is dropped if it does
/// not (the crash came before the key was written).
fn finish_renewal(state_dir: &Path) -> Result<(), IdentityError> {
    let next_cert = state_dir.join(NEXT_CERT_FILE);
    let next_key = state_dir.join(NEXT_KEY_FILE);
    let cert = state_dir.join(CERT_FILE);
    let key = state_dir.join(KEY_FILE);
    let has_next_cert = next_cert.try_exists().map_err(io_err(&next_cert))?;
    let has_next_key = next_key.try_exists().map_err(io_err(&next_key))?;
    if !has_next_cert && !has_next_key {
        return Ok(());
    }
    let matches = |key: &Path| -> Result<bool, IdentityError> {
        Ok(key_matches(&read(key)?, &read(&next_cert)?))
    };
    if has_next_cert && has_next_key && matches(&next_key)? {
        fs::rename(&next_key, &key).map_err(io_err(&key))?;
        fs::rename(&next_cert, &cert).map_err(io_err(&cert))?;
    } else if has_next_cert && !has_next_key && matches(&key)? {
        fs::rename(&next_cert, &cert).map_err(io_err(&cert))?;
    } else {
        for path in [&next_cert, &next_key] {
            match fs::remove_file(path) {
                Err(e) if e.kind() != io::ErrorKind::NotFound => return Err(io_err(path)(e)),
                _ => {}
            }
        }
    }
    sync_dir(state_dir)?;
    Ok(())
}

/// Whether the certificate in `cert_pem` is for the key in `key_pem`.
pub fn key_matches(key_pem: &str, cert_pem: &str) -> bool {
    let Ok(key) = KeyPair::from_pem(key_pem) else {
        return false;
    };
    let Ok(der) = CertificateDer::from_pem_slice(cert_pem.as_bytes()) else {
        return false;
    };
    x509_parser::parse_x509_certificate(&der).is_ok_and(|(_, cert)| {
        cert.public_key().subject_public_key.data.as_ref() == key.public_key_raw()
    })
}

fn bad(path: &Path, reason: &str) -> IdentityError {
    IdentityError::BadFile {
        path: path.to_owned(),
        reason: reason.to_owned(),
    }
}

fn io_err(path: &Path) -> impl FnOnce(io::Error) -> IdentityError + '_ {
    move |source| IdentityError::Io {
        path: path.to_owned(),
        source,
    }
}

fn read(path: &Path) -> Result<String, IdentityError> {
    fs::read_to_string(path).map_err(io_err(path))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> AgentIdentity {
        let (key_pem, _) = new_key_and_csr("host-1").unwrap();
        let key = KeyPair::from_pem(&key_pem).unwrap();
        let cert = CertificateParams::new(vec!["x.example".to_owned()])
            .unwrap()
            .self_signed(&key)
            .unwrap();
        AgentIdentity {
            agent_id: "ag-0123456789abcdef".into(),
            certificate_pem: cert.pem(),
            key_pem,
            ca_pem: cert.pem(),
        }
    }

    #[test]
    fn csr_carries_the_new_public_key() {
        let (key_pem, csr) = new_key_and_csr("host-1").unwrap();
        let key = KeyPair::from_pem(&key_pem).unwrap();
        let der = rustls_pki_types::CertificateSigningRequestDer::from(csr.as_slice());
        let parsed = rcgen::CertificateSigningRequestParams::from_der(&der).unwrap();
        use rcgen::PublicKeyData as _;
        assert_eq!(parsed.public_key.der_bytes(), key.der_bytes());
        assert!(!String::from_utf8_lossy(&csr).contains("PRIVATE"));
    }

    #[test]
    fn not_enrolled_is_none() {
        let dir = tempfile::tempdir().unwrap();
        assert!(
            AgentIdentity::load(&dir.path().join("missing"))
                .unwrap()
                .is_none()
        );
        assert!(AgentIdentity::load(dir.path()).unwrap().is_none());
    }

    #[test]
    fn save_then_load_round_trips_with_private_modes() {
        let dir = tempfile::tempdir().unwrap();
        let state = dir.path().join("state");
        let identity = sample();
        identity.save(&state).unwrap();
        assert_eq!(AgentIdentity::load(&state).unwrap(), Some(identity.clone()));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            let mode = |p: &Path| fs::metadata(p).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode(&state), 0o700);
            assert_eq!(mode(&state.join(KEY_FILE)), 0o600);
        }
        // Saving again replaces the files in place.
        let renewed = AgentIdentity {
            agent_id: "ag-ffffffffffffffff".into(),
            ..identity
        };
        renewed.save(&state).unwrap();
        assert_eq!(AgentIdentity::load(&state).unwrap(), Some(renewed));
        let leftovers: Vec<_> = fs::read_dir(&state)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| n.contains(".tmp"))
            .collect();
        assert!(leftovers.is_empty(), "{leftovers:?}");
    }

    #[cfg(unix)]
    #[test]
    fn key_readable_by_others_is_refused() {
        use std::os::unix::fs::PermissionsExt as _;
        let dir = tempfile::tempdir().unwrap();
        sample().save(dir.path()).unwrap();
        let key = dir.path().join(KEY_FILE);
        fs::set_permissions(&key, fs::Permissions::from_mode(0o644)).unwrap();
        let err = AgentIdentity::load(dir.path()).unwrap_err();
        let text = err.to_string();
        assert!(text.contains("chmod 600"), "{text}");
        assert!(text.contains(&key.display().to_string()), "{text}");
    }

    #[test]
    fn interrupted_enrollment_reads_as_not_enrolled() {
        let dir = tempfile::tempdir().unwrap();
        sample().save(dir.path()).unwrap();
        fs::remove_file(dir.path().join(ID_FILE)).unwrap();
        assert!(AgentIdentity::load(dir.path()).unwrap().is_none());
    }

    #[test]
    fn damaged_certificate_is_an_error_naming_the_file() {
        let dir = tempfile::tempdir().unwrap();
        sample().save(dir.path()).unwrap();
        fs::write(dir.path().join(CERT_FILE), "garbage").unwrap();
        let err = AgentIdentity::load(dir.path()).unwrap_err();
        assert!(err.to_string().contains(CERT_FILE), "{err}");
    }

    #[test]
    fn debug_redacts_the_key() {
        let identity = sample();
        let shown = format!("{identity:?}");
        assert!(shown.contains("<redacted>"));
        assert!(!shown.contains("PRIVATE KEY"), "{shown}");
        let key_body = identity.key_pem.lines().nth(1).unwrap();
        assert!(!shown.contains(key_body), "{shown}");
        assert!(shown.contains("ag-0123456789abcdef"));
    }

    /// `sample()` with a fresh key and a certificate for it.
    fn renewed(of: &AgentIdentity) -> AgentIdentity {
        AgentIdentity {
            agent_id: of.agent_id.clone(),
            ca_pem: of.ca_pem.clone(),
            ..sample()
        }
    }

    fn stored_pair(dir: &Path) -> (String, String) {
        let id = AgentIdentity::load(dir).unwrap().unwrap();
        assert!(key_matches(&id.key_pem, &id.certificate_pem));
        (id.key_pem, id.certificate_pem)
    }

    fn leftovers(dir: &Path) -> Vec<String> {
        fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| n.contains("next") || n.contains(".tmp"))
            .collect()
    }

    #[test]
    fn a_renewed_pair_replaces_the_old_one() {
        let dir = tempfile::tempdir().unwrap();
        let old = sample();
        old.save(dir.path()).unwrap();
        let new = renewed(&old);
        new.save_renewed(dir.path()).unwrap();
        assert_eq!(AgentIdentity::load(dir.path()).unwrap(), Some(new));
        assert!(leftovers(dir.path()).is_empty());
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            let mode = fs::metadata(dir.path().join(KEY_FILE))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }
    }

    #[test]
    fn a_renewal_interrupted_at_any_step_leaves_a_matching_pair() {
        let old = sample();
        let new = renewed(&old);
        let old_pair = (old.key_pem.clone(), old.certificate_pem.clone());
        let new_pair = (new.key_pem.clone(), new.certificate_pem.clone());
        // The state after each step of `save_renewed`, and the pair that
        // must load from it.
        type Step = fn(&Path, &AgentIdentity);
        let steps: [(&str, Step, &(String, String)); 4] = [
            (
                "next certificate written",
                |d, n| fs::write(d.join(NEXT_CERT_FILE), &n.certificate_pem).unwrap(),
                &old_pair,
            ),
            (
                "next key half written (a temporary file)",
                |d, n| {
                    fs::write(d.join(NEXT_CERT_FILE), &n.certificate_pem).unwrap();
                    fs::write(d.join(".agent-key.next.pem.tmp-1"), "-----BEGIN").unwrap();
                },
                &old_pair,
            ),
            (
                "both next files written",
                |d, n| {
                    fs::write(d.join(NEXT_CERT_FILE), &n.certificate_pem).unwrap();
                    write_private(&d.join(NEXT_KEY_FILE), n.key_pem.as_bytes()).unwrap();
                },
                &new_pair,
            ),
            (
                "key moved, certificate not yet",
                |d, n| {
                    fs::write(d.join(NEXT_CERT_FILE), &n.certificate_pem).unwrap();
                    write_private(&d.join(KEY_FILE), n.key_pem.as_bytes()).unwrap();
                },
                &new_pair,
            ),
        ];
        for (what, step, expected) in steps {
            let dir = tempfile::tempdir().unwrap();
            old.save(dir.path()).unwrap();
            step(dir.path(), &new);
            assert_eq!(&stored_pair(dir.path()), expected, "crash after: {what}");
            let left: Vec<String> = leftovers(dir.path())
                .into_iter()
                .filter(|n| !n.contains(".tmp"))
                .collect();
            assert!(left.is_empty(), "crash after {what}: {left:?}");
            // And loading again changes nothing.
            assert_eq!(&stored_pair(dir.path()), expected, "reload after: {what}");
        }
    }
}
