//! `atalaya-collector demo`: a collector and an agent for this machine,
//! on loopback, in a local folder, with nothing to configure. It prints
//! where to look and what to try.

use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::time::Duration;

use anyhow::{Context, bail};
use atalaya_common::model::Timestamp;
use tokio::signal::unix::{Signal, SignalKind, signal};

use crate::config::CollectorConfig;
use crate::run;
use crate::store::{Store, TokenRecord};

/// The agent binary: beside this one (both come from one `cargo build`).
fn agent_binary() -> anyhow::Result<PathBuf> {
    let path = std::env::current_exe()?.with_file_name("atalaya-agent");
    if !path.exists() {
        bail!(
            "{} not found: build both programs first with `cargo build --release --workspace`",
            path.display()
        );
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
) -> anyhow::Result<String> {
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

/// Runs the demo until Ctrl-C or SIGTERM.
pub async fn run(data: &Path) -> anyhow::Result<()> {
    let mut stop = StopSignals::listen()?;
    let data = std::path::absolute(data)?;
    // For the demo's user only: it holds the collector's data, the
    // agent's configuration with its enrollment token, the admin token.
    atalaya_files::create_private_dir(&data)?;
    let agent_bin = agent_binary()?;
    let text = format!(
        "[collector]\ndata_dir = {:?}\nlisten = \"127.0.0.1:0\"\nserver_names = [\"localhost\", \"127.0.0.1\"]\nadvertise = \"127.0.0.1:0\"\n[api]\nlisten = \"127.0.0.1:0\"\n[agents]\nmetrics_interval_seconds = 10\n",
        data.join("collector").display().to_string()
    );
    let config = CollectorConfig::parse("(demo)", &text)?;
    let running = run::start(&config).await?;
    let token = create_token(
        &running.store,
        &running.advertise,
        running.ca.sha256(),
        Duration::from_secs(3600),
        1,
    )?;
    let agent_dir = data.join("agent");
    std::fs::create_dir_all(&agent_dir)?;
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
    )?;
    let mut agent = AgentProcess(
        Command::new(&agent_bin)
            .arg("run")
            .arg("--config")
            .arg(&agent_config)
            .env("RUST_LOG", "warn")
            .spawn()
            .with_context(|| format!("starting {}", agent_bin.display()))?,
    );
    let server = format!("http://{}", running.api_addr);
    let env_file = data.join("cli.env");
    let exports = format!(
        "export ATALAYA_SERVER={server} ATALAYA_TOKEN={}\n",
        running.admin_token
    );
    atalaya_files::write_private(&env_file, exports.as_bytes())?;

    // Wait until the agent's first inventory is stored, so the commands
    // printed below have something to show.
    let mut waited = Duration::ZERO;
    let hostname = loop {
        if let Some(status) = agent.0.try_wait()? {
            bail!("the agent exited ({status}) before sending its inventory");
        }
        let page = running.store.assets(&crate::store::AssetFilter {
            limit: 10,
            ..Default::default()
        })?;
        if let Some(asset) = page.items.first() {
            break asset.hostname.clone();
        }
        if waited > Duration::from_secs(60) {
            bail!("the agent sent no inventory within a minute");
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
    let cli = std::env::current_exe()?.with_file_name("atalaya");
    println!("Atalaya demo is running.");
    println!("  data directory  {}", data.display());
    println!("  agents connect  {} (QUIC, mutual TLS)", running.quic_addr);
    println!("  HTTP API        {server}  (Prometheus: {server}/metrics)");
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
