//! `atalaya-collector demo`: a collector and an agent for this machine,
//! on loopback, in a local folder, with nothing to configure. It prints
//! where to look and what to try.

use std::io;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus};
use std::time::Duration;

use atalaya_common::config::ConfigErrors;
use atalaya_common::model::Timestamp;
use atalaya_files::FileError;
use tokio::signal::unix::{Signal, SignalKind, signal};

use crate::config::CollectorConfig;
use crate::run::{self, RunError};
use crate::store::{Store, StoreError, TokenRecord};

/// Why the demo stopped before or instead of running.
#[derive(Debug, thiserror::Error)]
pub enum DemoError {
    /// The stop signals could not be listened for.
    #[error("listening for Ctrl-C and SIGTERM")]
    Signals(#[source] io::Error),
    /// The demo's folder could not be made absolute.
    #[error("finding the demo folder {}", path.display())]
    Folder {
        /// The folder as given.
        path: PathBuf,
        /// Why.
        #[source]
        source: io::Error,
    },
    /// The demo's folder could not be created.
    #[error("creating the demo folder")]
    CreateFolder(#[source] FileError),
    /// This program's own path is unknown, so the agent's is too.
    #[error("finding where this program is installed")]
    CurrentExe(#[source] io::Error),
    /// The agent program is not beside this one.
    #[error(
        "{} not found: build both programs first with `cargo build --release --workspace`",
        path.display()
    )]
    NoAgent {
        /// Where it was looked for.
        path: PathBuf,
    },
    /// The demo's own collector configuration is wrong (a bug).
    #[error("the demo's collector configuration")]
    Config(#[source] ConfigErrors),
    /// The collector did not start.
    #[error("starting the demo's collector")]
    Start(#[source] RunError),
    /// The agent's enrollment token could not be stored.
    #[error("creating the agent's enrollment token")]
    Token(#[source] StoreError),
    /// A file of the agent or of the CLI could not be written.
    #[error("writing {}", path.display())]
    Write {
        /// The file or folder.
        path: PathBuf,
        /// Why.
        #[source]
        source: io::Error,
    },
    /// The CLI's environment file could not be written.
    #[error("writing the CLI's environment file")]
    EnvFile(#[source] FileError),
    /// The demo's console account could not be made.
    #[error("making the demo's console account: {0}")]
    Account(String),
    /// The agent process could not be started.
    #[error("starting {}", path.display())]
    Spawn {
        /// The agent program.
        path: PathBuf,
        /// Why.
        #[source]
        source: io::Error,
    },
    /// The agent process could not be looked at.
    #[error("watching the agent process")]
    Watch(#[source] io::Error),
    /// The agent stopped before its inventory was stored.
    #[error("the agent exited ({status}) before sending its inventory")]
    AgentExited {
        /// How it ended.
        status: ExitStatus,
    },
    /// The stored assets could not be read.
    #[error("reading the stored assets")]
    Assets(#[source] StoreError),
    /// The agent's inventory did not arrive.
    #[error("the agent sent no inventory within a minute")]
    NoInventory,
}

/// The agent binary: beside this one (both come from one `cargo build`).
fn agent_binary() -> Result<PathBuf, DemoError> {
    let path = std::env::current_exe()
        .map_err(DemoError::CurrentExe)?
        .with_file_name("atalaya-agent");
    if !path.exists() {
        return Err(DemoError::NoAgent { path });
    }
    Ok(path)
}

/// Creates an enrollment token directly in the store, for agents to reach
/// the collector at `address` (whose CA certificate has the SHA-256
/// `ca_sha256`), valid for `ttl` and `uses` enrollments.
pub fn create_token(
    store: &Store,
    address: &str,
    ca_sha256: [u8; 32],
    ttl: Duration,
    uses: u32,
) -> Result<String, StoreError> {
    let now = Timestamp::now();
    let ttl_ms = i64::try_from(ttl.as_millis()).unwrap_or(i64::MAX);
    let expires_at = Timestamp(now.0.saturating_add(ttl_ms));
    let (record, token) = TokenRecord::mint(address, ca_sha256, now, Some(expires_at), Some(uses));
    store.add_token(&record)?;
    Ok(token)
}

/// Ctrl-C and SIGTERM, listened for from the start. Either one ends the
/// demo through its own way out, which stops the agent child; a signal's
/// default action would end the demo alone and leave the agent running.
struct StopSignals {
    interrupt: Signal,
    terminate: Signal,
}

impl StopSignals {
    fn listen() -> std::io::Result<Self> {
        Ok(Self {
            interrupt: signal(SignalKind::interrupt())?,
            terminate: signal(SignalKind::terminate())?,
        })
    }

    /// Returns when either signal has come.
    async fn received(&mut self) {
        tokio::select! {
            _ = self.interrupt.recv() => {}
            _ = self.terminate.recv() => {}
        }
    }
}

/// The console account the demo makes (an admin).
pub const DEMO_ACCOUNT: &str = "demo";

/// Makes the demo's admin account, or gives it a new password when an
/// earlier demo made it; the password, to print.
fn demo_account(store: &crate::store::Store) -> Result<String, DemoError> {
    use crate::helpers::password;
    use crate::store::{Role, UserChange, UserRecord};
    let mut bytes = [0u8; 9];
    rand::fill(&mut bytes);
    let secret: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    let hash = password::hash(&secret).map_err(|e| DemoError::Account(e.to_string()))?;
    let now = atalaya_common::model::Timestamp::now();
    let changed = store
        .change_user(DEMO_ACCOUNT, UserChange::Password(hash.clone()), now)
        .map_err(|e| DemoError::Account(e.to_string()))?;
    if changed.is_none() {
        store
            .add_user(&UserRecord {
                name: DEMO_ACCOUNT.into(),
                role: Role::Admin,
                password_hash: hash,
                disabled: false,
                created_at: now,
                password_set_at: now,
            })
            .map_err(|e| DemoError::Account(e.to_string()))?;
    }
    Ok(secret)
}

/// Runs the demo until Ctrl-C or SIGTERM.
pub async fn run(data: &Path) -> Result<(), DemoError> {
    let mut stop = StopSignals::listen().map_err(DemoError::Signals)?;
    let data = std::path::absolute(data).map_err(|source| DemoError::Folder {
        path: data.to_owned(),
        source,
    })?;
    // For the demo's user only: it holds the collector's data, the
    // agent's configuration with its enrollment token, the admin token.
    atalaya_files::create_private_dir(&data).map_err(DemoError::CreateFolder)?;
    let agent_bin = agent_binary()?;
    let text = format!(
        "[collector]\ndata_dir = {:?}\nlisten = \"127.0.0.1:0\"\nserver_names = [\"localhost\", \"127.0.0.1\"]\nadvertise = \"127.0.0.1:0\"\n[api]\nlisten = \"127.0.0.1:0\"\n[agents]\nmetrics_interval_seconds = 10\n",
        data.join("collector").display().to_string()
    );
    let config = CollectorConfig::parse("(demo)", &text).map_err(DemoError::Config)?;
    let running = run::start(&config).await.map_err(DemoError::Start)?;
    let token = create_token(
        &running.store,
        &running.advertise,
        running.ca.sha256(),
        Duration::from_secs(3600),
        1,
    )
    .map_err(DemoError::Token)?;
    let agent_dir = data.join("agent");
    std::fs::create_dir_all(&agent_dir).map_err(|source| DemoError::Write {
        path: agent_dir.clone(),
        source,
    })?;
    let agent_config = agent_dir.join("agent.toml");
    std::fs::write(
        &agent_config,
        format!(
            // The address is written out: the demo's port changes from run to
            // run, and an agent enrolled by an earlier run must find it.
            "[agent]\nstate_dir = {:?}\nreports_dir = {:?}\n[collector]\naddress = {:?}\ntoken = {:?}\n[metrics]\ninterval_seconds = 10\n",
            agent_dir.join("state").display().to_string(),
            agent_dir.join("reports").display().to_string(),
            running.quic_addr.to_string(),
            token
        ),
    )
    .map_err(|source| DemoError::Write {
        path: agent_config.clone(),
        source,
    })?;
    let mut agent = AgentProcess(
        Command::new(&agent_bin)
            .arg("run")
            .arg("--config")
            .arg(&agent_config)
            .env("RUST_LOG", "warn")
            .spawn()
            .map_err(|source| DemoError::Spawn {
                path: agent_bin.clone(),
                source,
            })?,
    );
    let server = format!("http://{}", running.api_addr);
    let env_file = data.join("cli.env");
    let exports = format!(
        "export ATALAYA_SERVER={server} ATALAYA_TOKEN={}\n",
        running.admin_token
    );
    atalaya_files::write_private(&env_file, exports.as_bytes()).map_err(DemoError::EnvFile)?;
    let console_password = demo_account(&running.store)?;

    // Wait until the agent's first inventory is stored, so the commands
    // printed below have something to show.
    let mut waited = Duration::ZERO;
    let hostname = loop {
        if let Some(status) = agent.0.try_wait().map_err(DemoError::Watch)? {
            return Err(DemoError::AgentExited { status });
        }
        let page = running
            .store
            .assets(&crate::store::AssetFilter {
                limit: 10,
                ..Default::default()
            })
            .map_err(DemoError::Assets)?;
        if let Some(asset) = page.items.first() {
            break asset.hostname.clone();
        }
        if waited > Duration::from_secs(60) {
            return Err(DemoError::NoInventory);
        }
        tokio::select! {
            () = tokio::time::sleep(Duration::from_millis(200)) => {}
            () = stop.received() => {
                running.shutdown().await;
                return Ok(());
            }
        }
        waited += Duration::from_millis(200);
    };
    let cli = std::env::current_exe()
        .map_err(DemoError::CurrentExe)?
        .with_file_name("atalaya");
    println!("Atalaya demo is running.");
    println!("  data directory  {}", data.display());
    println!("  agents connect  {} (QUIC, mutual TLS)", running.quic_addr);
    println!("  HTTP API        {server}  (Prometheus: {server}/metrics)");
    println!("  web console     {server}/  sign in as {DEMO_ACCOUNT} / {console_password}");
    println!(
        "  local agent     pid {}, inventory of {hostname} stored",
        agent.0.id()
    );
    println!();
    println!("In another terminal:");
    print!("  {exports}");
    println!("  (also in {})", env_file.display());
    println!("  {} assets", cli.display());
    println!("  {} asset {hostname}", cli.display());
    println!("  {} software openssl", cli.display());
    println!(
        "  {} report --config {} \"the printer does not print\"   # as the person at this machine",
        agent_bin.display(),
        agent_config.display()
    );
    println!(
        "  {} incidents                   # the help desk's queue",
        cli.display()
    );
    println!("  {} lookup {hostname}", cli.display());
    if snmp_listening_locally() {
        println!(
            "  {} device add 127.0.0.1 --name this-snmpd --community public   # the local snmpd, polled by the local agent",
            cli.display()
        );
    } else {
        println!(
            "  {} device add ADDRESS --community COMMUNITY   # a switch or printer, polled by the local agent over SNMP",
            cli.display()
        );
    }
    println!();
    println!("Stop with Ctrl-C (or SIGTERM).");
    stop.received().await;
    running.shutdown().await;
    Ok(())
}

/// The agent child process, stopped when the demo ends.
struct AgentProcess(Child);

impl Drop for AgentProcess {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Whether something on this machine listens on UDP port 161 (an SNMP
/// agent such as Debian's snmpd), read from the kernel's socket tables.
fn snmp_listening_locally() -> bool {
    ["/proc/net/udp", "/proc/net/udp6"].iter().any(|table| {
        std::fs::read_to_string(table).is_ok_and(|text| {
            text.lines().skip(1).any(|line| {
                line.split_whitespace()
                    .nth(1)
                    .and_then(|local| local.rsplit_once(':'))
                    .is_some_and(|(_, port)| port.eq_ignore_ascii_case("00A1"))
            })
        })
    })
}
