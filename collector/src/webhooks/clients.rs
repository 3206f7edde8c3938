//! The clients the worker delivers with: one ureq agent per webhook, one
//! SMTP transport for the mail server. Both run rustls on the ring
//! provider (the one QUIC and the API use) and trust either the target's
//! `ca_file` or the system's CA certificates (`/etc/ssl/certs` on Debian,
//! found by `rustls-native-certs`), read once at start.

use std::collections::HashMap;
use std::sync::Arc;

use lettre::Transport as _;
use lettre::address::Envelope;
use lettre::transport::smtp::SmtpTransport;
use lettre::transport::smtp::authentication::{Credentials, Mechanism};
use lettre::transport::smtp::client::{Certificate, CertificateStore, Tls, TlsParameters};
use rustls_pki_types::CertificateDer;

use crate::notify::route::{CaFile, MAIL_PREFIX, NotifyConfig, Security, Smtp, Webhook};

/// The client of one target.
#[derive(Debug, Clone)]
pub enum Client {
    /// A webhook's HTTP(S) client.
    Http(ureq::Agent),
    /// The mail server's SMTP client (shared by every mail route).
    Mail(Arc<SmtpTransport>),
    /// None could be made: why (recorded with each attempt).
    Broken(String),
}

/// Every target's client, by delivery key.
#[derive(Debug, Default)]
pub struct Clients {
    by_target: HashMap<String, Client>,
}

impl Clients {
    /// Makes the client of every webhook and mail route of `config`,
    /// reading the system's CA certificates if a target relies on them.
    pub fn new(config: &NotifyConfig) -> Clients {
        let needs_system = config
            .webhooks
            .iter()
            .any(|w| w.url.starts_with("https://") && w.ca.is_none())
            || (!config.mail.is_empty()
                && config
                    .smtp
                    .as_ref()
                    .is_some_and(|s| s.security != Security::None && s.ca.is_none()));
        let system = if needs_system {
            system_roots()
        } else {
            Vec::new()
        };
        let system_http: Arc<Vec<ureq::tls::Certificate<'static>>> =
            Arc::new(system.iter().map(http_cert).collect());
        let mut by_target = HashMap::new();
        for w in &config.webhooks {
            by_target.insert(w.name.clone(), Client::Http(agent(w, &system_http)));
        }
        if let Some(smtp) = &config.smtp {
            let client = match transport(smtp, &system) {
                Ok(t) => Client::Mail(Arc::new(t)),
                Err(e) => {
                    let why = format!("the SMTP client for {} cannot be made: {e}", smtp.host);
                    tracing::error!(error = %why, "mail will not be sent");
                    Client::Broken(why)
                }
            };
            for m in &config.mail {
                by_target.insert(format!("{MAIL_PREFIX}{}", m.name), client.clone());
            }
        }
        Clients { by_target }
    }

    /// The client of the target with this delivery key.
    pub fn get(&self, target: &str) -> Option<Client> {
        self.by_target.get(target).cloned()
    }
}

/// Why a delivery did not go through. Its text is kept with the delivery
/// as its last error, for the administrator.
#[derive(Debug, thiserror::Error)]
pub enum DeliveryError {
    /// The webhook answered with a status other than 2xx.
    #[error("HTTP {0}")]
    Status(ureq::http::StatusCode),
    /// The TLS handshake failed, most often over a server certificate
    /// that no trusted CA signed.
    #[error("TLS handshake failed: {0}")]
    Tls(String),
    /// No HTTP answer: connection refused, timeout…
    #[error("{0}")]
    Transport(#[source] ureq::Error),
    /// The mail server refused the message or the login, or could not be
    /// reached.
    #[error("SMTP: {0}")]
    Smtp(#[source] lettre::transport::smtp::Error),
    /// The message cannot be made.
    #[error("{0}")]
    Unsendable(String),
    /// The target's client could not be made.
    #[error("{0}")]
    Client(String),
    /// The worker made no client for this target.
    #[error("target has no client (a bug)")]
    NoClient,
}

/// The CA certificates of the system's store; a warning when none are
/// found, so an https target without `ca_file` then fails with a TLS error.
fn system_roots() -> Vec<CertificateDer<'static>> {
    let found = rustls_native_certs::load_native_certs();
    for e in &found.errors {
        tracing::warn!(error = %e, "a system CA certificate could not be read");
    }
    if found.certs.is_empty() {
        tracing::warn!(
            "no system CA certificates found (Debian: the ca-certificates package); \
             https webhooks and the mail server need ca_file"
        );
    }
    found.certs
}

fn http_cert(der: &CertificateDer<'_>) -> ureq::tls::Certificate<'static> {
    ureq::tls::Certificate::from_der(der.as_ref()).to_owned()
}

fn agent(w: &Webhook, system: &Arc<Vec<ureq::tls::Certificate<'static>>>) -> ureq::Agent {
    let roots = match &w.ca {
        Some(CaFile { certificates, .. }) => Arc::new(certificates.iter().map(http_cert).collect()),
        None => system.clone(),
    };
    let tls = ureq::tls::TlsConfig::builder()
        .provider(ureq::tls::TlsProvider::Rustls)
        .root_certs(ureq::tls::RootCerts::Specific(roots))
        .unversioned_rustls_crypto_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .build();
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(w.timeout))
        .tls_config(tls)
        .user_agent(concat!("atalaya-collector/", env!("CARGO_PKG_VERSION")))
        .build()
        .into()
}

fn transport(
    smtp: &Smtp,
    system: &[CertificateDer<'static>],
) -> Result<SmtpTransport, lettre::transport::smtp::Error> {
    let tls = if smtp.security == Security::None {
        Tls::None
    } else {
        let roots: &[CertificateDer<'static>] = match &smtp.ca {
            Some(ca) => &ca.certificates,
            None => system,
        };
        let mut params =
            TlsParameters::builder(smtp.host.clone()).certificate_store(CertificateStore::None);
        for der in roots {
            params = params.add_root_certificate(Certificate::from_der(der.to_vec())?);
        }
        let params = params.build_rustls()?;
        match smtp.security {
            Security::Tls => Tls::Wrapper(params),
            _ => Tls::Required(params),
        }
    };
    let mut b = SmtpTransport::builder_dangerous(smtp.host.as_str())
        .port(smtp.port)
        .tls(tls)
        .timeout(Some(smtp.timeout));
    if let Some((user, password)) = &smtp.login {
        b = b
            .credentials(Credentials::new(user.clone(), password.0.clone()))
            .authentication(vec![Mechanism::Plain, Mechanism::Login]);
    }
    Ok(b.build())
}

/// The rustls error under a ureq error, if the failure was TLS.
fn rustls_cause(e: &ureq::Error) -> Option<&rustls::Error> {
    match e {
        ureq::Error::Rustls(r) => Some(r),
        ureq::Error::Io(io) => io.get_ref()?.downcast_ref::<rustls::Error>(),
        _ => None,
    }
}

/// A TLS failure as the administrator should read it.
fn tls_error(e: &rustls::Error) -> DeliveryError {
    let hint = match e {
        rustls::Error::InvalidCertificate(_) => {
            " (is the server's CA in ca_file, or in the system's CA store?)"
        }
        _ => "",
    };
    DeliveryError::Tls(format!("{e}{hint}"))
}

/// POSTs `body` to `url`; `Ok` on a 2xx.
pub fn post(
    agent: &ureq::Agent,
    url: &str,
    event_id: &str,
    body: &str,
) -> Result<(), DeliveryError> {
    let resp = agent
        .post(url)
        .header("Content-Type", "application/json")
        .header("X-Atalaya-Event-Id", event_id)
        .send(body);
    match resp {
        Ok(r) if r.status().is_success() => Ok(()),
        Ok(r) => Err(DeliveryError::Status(r.status())),
        Err(e) => match rustls_cause(&e) {
            Some(tls) => Err(tls_error(tls)),
            None => Err(DeliveryError::Transport(e)),
        },
    }
}

/// Sends one e-mail; `Ok` once the server accepted it (250 after the data).
pub fn mail(
    smtp: &SmtpTransport,
    envelope: &Envelope,
    message: &[u8],
) -> Result<(), DeliveryError> {
    match smtp.send_raw(envelope, message) {
        Ok(_) => Ok(()),
        Err(e) => {
            let mut cause: Option<&(dyn std::error::Error + 'static)> =
                std::error::Error::source(&e);
            while let Some(c) = cause {
                if let Some(tls) = c.downcast_ref::<rustls::Error>() {
                    return Err(tls_error(tls));
                }
                if let Some(io) = c.downcast_ref::<std::io::Error>()
                    && let Some(tls) = io.get_ref().and_then(|i| i.downcast_ref::<rustls::Error>())
                {
                    return Err(tls_error(tls));
                }
                cause = c.source();
            }
            Err(DeliveryError::Smtp(e))
        }
    }
}
