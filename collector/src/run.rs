//! Starting a collector: data directory, CA and server certificate, store,
//! commit queue, QUIC endpoint and HTTP API, all from one configuration.
//! Used by `atalaya-collector serve` and by the demo.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use atalaya_common::config::LoadError;
use atalaya_common::model::Timestamp;
use atalaya_common::token::secret_sha256;
use atalaya_files::FileError;

use crate::api::{AdminActions, ApiState};
use crate::config::{ApiTls, CollectorConfig};
use crate::console;
use crate::desk::{self, Desk};
use crate::https;
use crate::pki::{CertificateAuthority, PkiError};
use crate::screen::{ClockSkew, ClockSkews};
use crate::server::{
    AgentWakers, Committer, Connections, DiscoveryQueues, Hub, Server, ServerConfig,
};
use crate::store::retention::{Expiry, ExpiryReport, Retention};
use crate::store::{ApiTokenRecord, OpenError, Role, Store, StoreError};
use crate::telemetry::Telemetry;
use crate::tls::{self, TlsError};
use crate::webhooks::Notifier;

pub use crate::config::{ADMIN_TOKEN_FILE, API_ADDRESS_FILE};
/// File in the data directory holding the running QUIC endpoint's address.
pub const QUIC_ADDRESS_FILE: &str = "quic-address";
/// The store's file name in the data directory.
pub const STORE_FILE: &str = "atalaya.redb";
/// The key QUIC stateless resets are signed with, kept across restarts.
pub const RESET_KEY_FILE: &str = "quic-reset-key";

/// Why the collector did not start; the message names the step, the
/// source says why.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// The data directory could not be created.
    #[error("creating the data directory")]
    DataDir(#[source] FileError),
    /// The CA could not be loaded or made.
    #[error("loading the certificate authority in {}", dir.display())]
    Ca {
        /// The data directory.
        dir: PathBuf,
        /// Why.
        #[source]
        source: PkiError,
    },
    /// The server certificate could not be loaded or issued.
    #[error("preparing the server certificate in {}", dir.display())]
    ServerIdentity {
        /// The data directory.
        dir: PathBuf,
        /// Why.
        #[source]
        source: PkiError,
    },
    /// TLS could not be set up with the certificates.
    #[error("setting up TLS for the agents' connections")]
    Tls(#[source] TlsError),
    /// The store could not be opened.
    #[error("opening the store {}", path.display())]
    Store {
        /// The store's file.
        path: PathBuf,
        /// Why (boxed: it is large, and this error is rare).
        #[source]
        source: Box<OpenError>,
    },
    /// The local administrator's token could not be read or stored.
    #[error("preparing the local administrator's API token")]
    AdminToken(#[source] StoreError),
    /// A file the collector keeps in its data directory could not be written.
    #[error("writing to the data directory")]
    DataFile(#[source] FileError),
    /// The incident rules have errors.
    #[error("the incident rules do not load, so the collector does not start")]
    Rules(#[source] LoadError),
    /// The devices file has errors, or could not be applied.
    #[error("the devices file {} does not load, so the collector does not start", path.display())]
    Devices {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: DevicesFileError,
    },
    /// The end-of-support table in the configuration directory has errors.
    #[error("the end-of-support table does not load, so the collector does not start")]
    EndOfSupport(#[source] LoadError),
    /// The incident engine could not read its state.
    #[error("starting the incident engine")]
    Desk(#[source] StoreError),
    /// The agent policies' versions could not be kept.
    #[error("storing the agent policies' versions")]
    Policies(#[source] StoreError),
    /// The QUIC endpoint could not be bound.
    #[error("listening for agents on {address}")]
    Quic {
        /// The configured address.
        address: SocketAddr,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The HTTP API's listener could not be bound.
    #[error("listening for the HTTP API on {address}")]
    Api {
        /// The configured address.
        address: SocketAddr,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The HTTPS certificate of the API is unusable.
    #[error("HTTPS for the API: {0}")]
    Https(#[source] crate::https::HttpsError),
    /// A bound listener's own address could not be read.
    #[error("reading the address a listener is bound to")]
    LocalAddress(#[source] std::io::Error),
    /// The address of a listener could not be written for the CLI.
    #[error("writing {}", path.display())]
    AddressFile {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
}

/// The devices file could not be read or applied.
#[derive(Debug, thiserror::Error)]
pub enum DevicesFileError {
    /// It does not read or parse; every error is listed.
    #[error(transparent)]
    Load(#[from] LoadError),
    /// The store failed while applying it.
    #[error("applying it to the store")]
    Store(#[from] StoreError),
}

/// The devices file, applied to the store; the pollers whose lists
/// changed are told.
#[derive(Debug)]
pub struct DevicesFile {
    path: PathBuf,
    store: Arc<Store>,
    wakers: AgentWakers,
}

impl DevicesFile {
    /// Reads the file and applies it; a file with errors changes nothing.
    pub fn reload(&self) -> Result<desk::devices_file::Applied, DevicesFileError> {
        let devices = desk::devices_file::load(&self.path)?;
        let label = self.path.display().to_string();
        let done = desk::devices_file::apply(&self.store, &label, &devices, Timestamp::now())?;
        for agent in &done.pollers {
            self.wakers.wake(agent);
        }
        for failed in &done.failed {
            tracing::error!(problem = %failed, "a device of the devices file is not polled");
        }
        tracing::info!(
            file = %label,
            added = done.added.len(),
            changed = done.updated.len(),
            removed = done.removed.len(),
            unchanged = done.unchanged,
            failed = done.failed.len(),
            "devices file applied"
        );
        Ok(done)
    }
}

/// A collector that is running.
pub struct Running {
    /// Where agents connect.
    pub quic_addr: SocketAddr,
    /// Where the HTTP API listens.
    pub api_addr: SocketAddr,
    /// The address written into enrollment tokens.
    pub advertise: String,
    /// The store.
    pub store: Arc<Store>,
    /// The CA.
    pub ca: Arc<CertificateAuthority>,
    /// The local administrator's API token.
    pub admin_token: String,
    /// The incident desk (rules, SLA policies).
    pub desk: Arc<Desk>,
    /// The devices file, when the configuration names one.
    pub devices_file: Option<Arc<DevicesFile>>,
    /// The agent policies of the configuration file.
    pub policies: Arc<PoliciesFile>,
    endpoint: quinn::Endpoint,
    /// The webhook worker; it stops when this is dropped.
    notifier: Notifier,
}

impl std::fmt::Debug for Running {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Running")
            .field("quic_addr", &self.quic_addr)
            .field("api_addr", &self.api_addr)
            .field("advertise", &self.advertise)
            .field("ca", &self.ca)
            .field("admin_token", &"<redacted>")
            .finish_non_exhaustive()
    }
}

impl Running {
    /// Makes the webhook worker look at the outbox now (after enqueuing events).
    pub fn wake_notifier(&self) {
        self.notifier.wake();
    }

    /// Closes the QUIC endpoint (agents see a clean close) and waits briefly.
    pub async fn shutdown(&self) {
        self.endpoint
            .close(crate::server::close_code::SHUTDOWN, b"collector stopping");
        let _ = tokio::time::timeout(std::time::Duration::from_secs(2), self.endpoint.wait_idle())
            .await;
    }
}

/// What the API may ask of the running server.
#[derive(Debug)]
struct Admin {
    connections: Connections,
    device_wakers: AgentWakers,
    discoveries: DiscoveryQueues,
    clock_skews: ClockSkews,
    silent_after: std::time::Duration,
    advertise: String,
    ca_sha256: [u8; 32],
    devices_file: Option<Arc<DevicesFile>>,
    ca: Arc<crate::pki::CertificateAuthority>,
    diag_wakers: AgentWakers,
    policies: Arc<PoliciesFile>,
}

/// The agent policies of the configuration file, read again on reload.
#[derive(Debug)]
pub struct PoliciesFile {
    /// The configuration file (`None`: the collector runs on defaults).
    pub path: Option<PathBuf>,
    /// The store, which keeps the policies' versions.
    pub store: Arc<Store>,
    /// The policies in force, shared with the sessions.
    pub policies: Arc<crate::server::policy::AgentPolicies>,
}

impl PoliciesFile {
    /// Reads the file's `[agent_policy.NAME]` tables again and puts them
    /// in force; `Ok(None)` without a file. On errors what runs stays.
    pub fn reload(&self) -> Result<Option<Vec<(String, u64)>>, String> {
        let Some(path) = &self.path else {
            return Ok(None);
        };
        let config = crate::config::CollectorConfig::load(path).map_err(|e| e.to_string())?;
        let installed = self
            .policies
            .install(&self.store, config.agent_policies, Timestamp::now())
            .map_err(|e| e.to_string())?;
        tracing::info!(policies = installed.len(), "agent policies in force");
        Ok(Some(installed))
    }
}

impl AdminActions for Admin {
    fn sign(&self, message: &[u8]) -> Result<Vec<u8>, String> {
        self.ca.sign(message).map_err(|e| e.to_string())
    }

    fn diagnostics_requested(&self, agent: &str) {
        self.diag_wakers.wake(agent);
    }

    fn agent_revoked(&self, id: &str) {
        let closed = self
            .connections
            .close(id, "this agent's certificate was revoked");
        tracing::info!(agent = id, closed, "agent revoked");
    }

    fn collector_address(&self) -> String {
        self.advertise.clone()
    }

    fn ca_sha256(&self) -> [u8; 32] {
        self.ca_sha256
    }

    fn is_connected(&self, id: &str) -> bool {
        self.connections.is_connected(id)
    }

    fn silent_after(&self) -> std::time::Duration {
        self.silent_after
    }

    fn devices_changed(&self, agent: &str) {
        self.device_wakers.wake(agent);
    }

    fn discover(&self, agent: &str, request: atalaya_common::proto::DiscoveryRequest) -> bool {
        self.discoveries.send(agent, request)
    }

    fn reload_devices(&self) -> Result<Option<desk::devices_file::Applied>, String> {
        match &self.devices_file {
            Some(file) => file.reload().map(Some).map_err(|e| {
                let mut text = e.to_string();
                let mut source = std::error::Error::source(&e);
                while let Some(s) = source {
                    text = format!("{text}: {s}");
                    source = s.source();
                }
                text
            }),
            None => Ok(None),
        }
    }

    fn clock_skew(&self, id: &str) -> Option<ClockSkew> {
        self.clock_skews.get(id)
    }

    fn reload_agent_policies(&self) -> Result<Option<Vec<(String, u64)>>, String> {
        self.policies.reload()
    }

    fn agent_policy_for(
        &self,
        hostname: &str,
        tags: &[String],
    ) -> atalaya_common::proto::AgentPolicy {
        self.policies.policies.current().for_agent(hostname, tags)
    }
}

/// Makes a random secret: 32 bytes, base64url.
pub fn new_secret() -> String {
    use base64::Engine;
    let bytes: [u8; 32] = rand::random();
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// The local administrator's token, created with the data directory.
fn admin_token(data_dir: &Path, store: &Store) -> Result<String, RunError> {
    let path = data_dir.join(ADMIN_TOKEN_FILE);
    if let Ok(secret) = std::fs::read_to_string(&path) {
        let secret = secret.trim().to_owned();
        let known = store
            .api_token(&secret_sha256(&secret))
            .map_err(RunError::AdminToken)?;
        if known.is_some() {
            return Ok(secret);
        }
    }
    let secret = new_secret();
    store
        .add_api_token(&ApiTokenRecord {
            id: format!("local-admin-{}", &secret[..6]),
            name: "local administrator".into(),
            secret_sha256: secret_sha256(&secret),
            role: Role::Admin,
            created_at: Timestamp::now(),
        })
        .map_err(RunError::AdminToken)?;
    atalaya_files::write_private(&path, secret.as_bytes()).map_err(RunError::DataFile)?;
    Ok(secret)
}

/// The stateless-reset key, created with the data directory. Because it
/// outlives the process, a restarted collector can tell the agents whose
/// connections died with the old one so at once (a QUIC stateless reset),
/// and they reconnect right away instead of waiting out the idle timeout.
fn reset_key(data_dir: &Path) -> Result<[u8; 32], RunError> {
    use base64::Engine;
    let path = data_dir.join(RESET_KEY_FILE);
    let engine = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    if let Ok(text) = std::fs::read_to_string(&path) {
        match engine.decode(text.trim()).ok().map(<[u8; 32]>::try_from) {
            Some(Ok(key)) => return Ok(key),
            _ => tracing::warn!(file = %path.display(), "unreadable stateless-reset key replaced"),
        }
    }
    let key: [u8; 32] = rand::random();
    atalaya_files::write_private(&path, engine.encode(key).as_bytes())
        .map_err(RunError::DataFile)?;
    Ok(key)
}

/// Lowers the mode of an existing data directory to 0700, saying so: what
/// it holds (keys, the store, the administrator's token) is for the
/// collector's account only. A mode is never a reason not to start.
fn keep_private(data_dir: &Path) {
    match atalaya_files::tighten(data_dir, atalaya_files::PRIVATE_DIR) {
        Ok(Some(old)) => tracing::warn!(
            directory = %data_dir.display(),
            from = %format_args!("{old:04o}"),
            to = %format_args!("{:04o}", old & atalaya_files::PRIVATE_DIR),
            "the data directory was open to other accounts; its permissions were tightened"
        ),
        Ok(None) => {}
        Err(err) => tracing::warn!(
            error = %err,
            "the data directory may be open to other accounts: its permissions could not be tightened"
        ),
    }
}

/// Starts everything; returns once both listeners are bound.
pub async fn start(config: &CollectorConfig) -> Result<Running, RunError> {
    let data_dir: PathBuf = config.data_dir.clone();
    atalaya_files::create_private_dir(&data_dir).map_err(RunError::DataDir)?;
    keep_private(&data_dir);
    let ca = Arc::new(
        CertificateAuthority::load_or_create(&data_dir).map_err(|source| RunError::Ca {
            dir: data_dir.clone(),
            source,
        })?,
    );
    let (chain, key) = ca
        .server_identity(&data_dir, &config.server_names)
        .map_err(|source| RunError::ServerIdentity {
            dir: data_dir.clone(),
            source,
        })?;
    // The API's HTTPS certificate: the administrator's files, or the
    // QUIC endpoint's own, issued by the collector's CA for server_names.
    let https_identity = match &config.api_tls {
        None => None,
        Some(ApiTls::OwnCa) => Some((chain.clone(), key.clone_key())),
        Some(ApiTls::Files { cert, key }) => {
            Some(https::read_identity(cert, key).map_err(RunError::Https)?)
        }
    };
    let telemetry = Arc::new(Telemetry::default());
    let tls_config =
        tls::server_config(&ca, chain, key, telemetry.clone()).map_err(RunError::Tls)?;
    let store_path = data_dir.join(STORE_FILE);
    let store = Arc::new(
        Store::open_with_cache(&store_path, config.store_cache_bytes).map_err(|source| {
            RunError::Store {
                path: store_path.clone(),
                source: Box::new(source),
            }
        })?,
    );
    // The store is ours now: no backup of another process runs.
    crate::api::backups::clear_staging(&data_dir);
    let admin_token = admin_token(&data_dir, &store)?;
    let notifier = Notifier::start(store.clone(), config.notify.clone());
    let rules = desk::load_rules(config.rules_file.as_deref()).map_err(RunError::Rules)?;
    let eol = desk::capacity::load_eol(config.file.as_deref().and_then(Path::parent))
        .map_err(RunError::EndOfSupport)?;
    let heartbeat_seconds = u64::from(config.agent_intervals.heartbeat_interval_seconds.max(1));
    let report_wakers = AgentWakers::default();
    let desk = Arc::new(
        Desk::new(
            store.clone(),
            rules,
            config.rules_file.clone(),
            heartbeat_seconds,
            config.sla.clone(),
            Arc::new(
                desk::ServiceHooks::new(notifier.waker()).with_reporters(report_wakers.clone()),
            ),
            Timestamp::now(),
        )
        .map_err(RunError::Desk)?
        .with_config_file(config.file.clone())
        .with_eol_table(eol),
    );
    // Bounded: a desk that falls behind slows the commits down (see
    // server::committer) instead of queueing without end.
    let (fed_tx, fed_rx) = tokio::sync::mpsc::channel(crate::server::committer::FED_QUEUE);
    tokio::spawn(desk::run(desk.clone(), fed_rx, config.incident_tick));
    let mut hub = Hub::new(
        store.clone(),
        ca.clone(),
        telemetry.clone(),
        Committer::start_feeding(store.clone(), telemetry.clone(), Some(fed_tx)),
        ServerConfig {
            listen: config.listen,
            max_connections: config.max_connections,
            frame_timeout: config.frame_timeout,
            certificate_validity: config.certificate_validity,
            time_limits: config.time_limits,
            agent_intervals: config.agent_intervals.clone(),
            probes: config.probes.clone(),
        },
    );
    hub.report_wakers = report_wakers;
    let policies = Arc::new(PoliciesFile {
        path: config.file.clone(),
        store: store.clone(),
        policies: hub.policies.clone(),
    });
    hub.policies
        .install(&store, config.agent_policies.clone(), Timestamp::now())
        .map_err(RunError::Policies)?;
    let hub = Arc::new(hub);
    let connections = hub.connections.clone();
    let device_wakers = hub.device_wakers.clone();
    let devices_file = match &config.devices_file {
        Some(path) => {
            let file = Arc::new(DevicesFile {
                path: path.clone(),
                store: store.clone(),
                wakers: device_wakers.clone(),
            });
            file.reload().map_err(|source| RunError::Devices {
                path: path.clone(),
                source,
            })?;
            Some(file)
        }
        None => None,
    };
    let discoveries = hub.discoveries.clone();
    let diag_wakers = hub.diag_wakers.clone();
    let clock_skews = hub.clock_skews.clone();
    let server =
        Server::bind(hub, tls_config, &reset_key(&data_dir)?).map_err(|source| RunError::Quic {
            address: config.listen,
            source,
        })?;
    let quic_addr = server.local_addr().map_err(RunError::LocalAddress)?;
    let endpoint = server.endpoint();
    tokio::spawn(server.run());
    tokio::spawn(expire_loop(
        store.clone(),
        config.retention,
        telemetry.clone(),
    ));

    // A listen port of 0 (tests, the demo) is only known now.
    let advertise = match config.advertise.rsplit_once(':') {
        Some((host, "0")) => format!("{host}:{}", quic_addr.port()),
        _ => config.advertise.clone(),
    };
    // Three missed heartbeats make an agent silent.
    let heartbeat = u64::from(config.agent_intervals.heartbeat_interval_seconds.max(1));
    let admin = Arc::new(Admin {
        connections,
        device_wakers,
        discoveries,
        clock_skews,
        silent_after: std::time::Duration::from_secs(heartbeat * 3),
        advertise: advertise.clone(),
        ca_sha256: ca.sha256(),
        devices_file: devices_file.clone(),
        ca: ca.clone(),
        diag_wakers,
        policies: policies.clone(),
    });
    let state = ApiState {
        store: store.clone(),
        telemetry,
        admin,
        desk: Some(desk.clone()),
        calls: crate::desk::calls::Calls::new(config.phones.clone()),
    };
    let listener = tokio::net::TcpListener::bind(config.api_listen)
        .await
        .map_err(|source| RunError::Api {
            address: config.api_listen,
            source,
        })?;
    let api_addr = listener.local_addr().map_err(RunError::LocalAddress)?;
    let console_settings = config.console;
    match https_identity {
        None => {
            tokio::spawn(async move {
                let app = console::app(state, console_settings, false)
                    .into_make_service_with_connect_info::<https::ClientAddr>();
                if let Err(err) = axum::serve(listener, app).await {
                    tracing::error!(error = %err, "the HTTP API stopped");
                }
            });
        }
        Some((chain, key)) => {
            let tls = https::server_config(chain, key).map_err(RunError::Https)?;
            let listener =
                https::TlsListener::new(listener, tls).map_err(RunError::LocalAddress)?;
            tokio::spawn(async move {
                let app = console::app(state, console_settings, true)
                    .into_make_service_with_connect_info::<https::ClientAddr>();
                if let Err(err) = axum::serve(listener, app).await {
                    tracing::error!(error = %err, "the HTTPS API stopped");
                }
            });
        }
    }
    for (name, addr) in [(API_ADDRESS_FILE, api_addr), (QUIC_ADDRESS_FILE, quic_addr)] {
        let path = data_dir.join(name);
        std::fs::write(&path, addr.to_string())
            .map_err(|source| RunError::AddressFile { path, source })?;
    }
    tracing::info!(%quic_addr, %api_addr, data = %data_dir.display(), "collector running");
    Ok(Running {
        quic_addr,
        api_addr,
        advertise,
        store,
        ca,
        admin_token,
        desk,
        devices_file,
        policies,
        endpoint,
        notifier,
    })
}

/// How often expired metric data are looked for.
const EXPIRE_EVERY: std::time::Duration = std::time::Duration::from_secs(300);
/// Entries deleted per transaction of an expiry pass: a few milliseconds
/// of the write lock, which ingest then gets back.
const EXPIRE_BATCH: usize = 256;

/// Runs an expiry pass every [`EXPIRE_EVERY`], a batch per blocking task
/// so that commits of agents' records go between them.
async fn expire_loop(store: Arc<Store>, policy: Retention, telemetry: Arc<Telemetry>) {
    let mut every = tokio::time::interval(EXPIRE_EVERY);
    every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    'passes: loop {
        every.tick().await;
        let now = Timestamp::now().0;
        let mut pass = Expiry::new();
        while !pass.done() {
            let s = store.clone();
            let step = tokio::task::spawn_blocking(move || {
                let r = s.expire_step(&policy, now, &mut pass, EXPIRE_BATCH);
                (pass, r)
            })
            .await;
            let r;
            (pass, r) = match step {
                Ok(done) => done,
                Err(err) => {
                    tracing::error!(error = %err, "an expiry step panicked");
                    continue 'passes;
                }
            };
            if let Err(err) = r {
                tracing::error!(error = %err, "deleting expired metric data failed; trying again later");
                continue 'passes;
            }
            tokio::task::yield_now().await;
        }
        note_expiry(&pass.report, &policy, &telemetry);
    }
}

/// Logs and counts what an expiry pass did, warning when the byte budget
/// deleted data earlier than their retention.
fn note_expiry(report: &ExpiryReport, policy: &Retention, telemetry: &Telemetry) {
    telemetry
        .retention_deleted
        .inc_by(report.blocks + report.rollups);
    if let Some(used) = report.over_budget {
        telemetry.retention_forced.inc();
        let tier = if report.five_minutes_forced {
            "5-minute rollups"
        } else {
            "raw points"
        };
        tracing::warn!(
            used_bytes = used,
            max_bytes = policy.max_bytes.unwrap_or_default(),
            tier,
            raw_from = %Timestamp(report.bounds.raw),
            rollup_5m_from = %Timestamp(report.bounds.five_minutes),
            "the store is over its byte budget ([retention] max_bytes): the oldest {tier} are deleted before their retention ends"
        );
    } else if report.blocks + report.rollups > 0 {
        tracing::info!(
            blocks = report.blocks,
            rollups = report.rollups,
            "expired metric data deleted"
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use atalaya_files::mode_of;

    fn config(data_dir: &Path) -> CollectorConfig {
        let text = format!(
            "[collector]\ndata_dir = {:?}\nlisten = \"127.0.0.1:0\"\n[api]\nlisten = \"127.0.0.1:0\"\n",
            data_dir.display().to_string()
        );
        CollectorConfig::parse("c.toml", &text).unwrap()
    }

    #[test]
    fn an_expiry_forced_by_the_byte_budget_is_counted_on_metrics() {
        let telemetry = Telemetry::default();
        let policy = Retention {
            max_bytes: Some(1 << 20),
            ..Retention::default()
        };
        let mut quiet = ExpiryReport::default();
        quiet.blocks = 3;
        note_expiry(&quiet, &policy, &telemetry);
        let mut forced = ExpiryReport::default();
        (forced.blocks, forced.rollups) = (2, 5);
        forced.over_budget = Some(2 << 20);
        forced.raw_forced = true;
        note_expiry(&forced, &policy, &telemetry);
        let text = telemetry.render();
        assert!(
            text.contains("atalaya_retention_forced_total 1\n"),
            "{text}"
        );
        assert!(
            text.contains("atalaya_retention_deleted_total 10\n"),
            "{text}"
        );
    }

    #[tokio::test]
    async fn debug_of_a_running_collector_hides_the_admin_token() {
        let dir = tempfile::tempdir().unwrap();
        let running = start(&config(dir.path())).await.unwrap();
        let shown = format!("{running:?}");
        assert!(!running.admin_token.is_empty());
        assert!(!shown.contains(&running.admin_token), "{shown}");
        assert!(shown.contains("<redacted>"), "{shown}");
        running.shutdown().await;
    }

    #[tokio::test]
    async fn a_new_data_directory_and_store_are_private() {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("data");
        let running = start(&config(&data)).await.unwrap();
        assert_eq!(mode_of(&data).unwrap(), 0o700);
        assert_eq!(mode_of(&data.join(STORE_FILE)).unwrap(), 0o600);
        running.shutdown().await;
    }

    #[tokio::test]
    async fn an_open_data_directory_and_store_are_made_private_at_start() {
        use std::fs::{Permissions, set_permissions};
        use std::os::unix::fs::PermissionsExt as _;
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("data");
        std::fs::create_dir(&data).unwrap();
        let store = data.join(STORE_FILE);
        drop(Store::open(&store).unwrap());
        // As an earlier collector left them.
        set_permissions(&data, Permissions::from_mode(0o755)).unwrap();
        set_permissions(&store, Permissions::from_mode(0o644)).unwrap();
        let running = start(&config(&data)).await.unwrap();
        assert_eq!(mode_of(&data).unwrap(), 0o700);
        assert_eq!(mode_of(&store).unwrap(), 0o600);
        running.shutdown().await;
    }
}
