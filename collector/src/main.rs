//! `atalaya-collector`: runs the collector and administers it.
//!
//! `serve` runs it; `demo` runs it with an agent for this machine;
//! `restore` works on the store of a stopped collector and `backup` on
//! either; the other commands talk to the running collector's HTTP API
//! with the local administrator's token from its data directory.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use clap::{CommandFactory as _, Parser, Subcommand};
use serde_json::{Value, json};

use atalaya_collector::api::backups::BackupView;
use atalaya_collector::api::devices::{DeviceView, DiscoveryView};
use atalaya_collector::cli::client::{ApiClient, Timeouts};
use atalaya_collector::cli::devices;
use atalaya_collector::config::CollectorConfig;
use atalaya_collector::demo;
use atalaya_collector::run;
use atalaya_collector::store;
use atalaya_common::model::Timestamp;

/// The collector's allocator. A fleet's reports allocate and free many
/// rollups of many sizes; glibc's allocator slows as its free lists
/// fragment (the forecast of 100,000 filesystems took 0.85 s in a fresh
/// process and 2.3 to 2.6 s after a capacity report had run in it), where
/// mimalloc's free lists per size class do not.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// The Atalaya collector.
#[derive(Debug, Parser)]
#[command(name = "atalaya-collector", version, about)]
struct Cli {
    /// Configuration file (default: built-in defaults).
    #[arg(long, global = true, value_name = "FILE")]
    config: Option<PathBuf>,
    /// Data directory, overriding the configuration's `collector.data_dir`.
    #[arg(long, global = true, value_name = "DIR")]
    data: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the collector.
    Serve,
    /// Run a collector and an agent for this machine on loopback, and print what to try.
    Demo,
    /// Check a configuration file; every error is listed, with its line.
    CheckConfig {
        /// The file to check.
        file: PathBuf,
    },
    /// Check an incident rules file; every error is listed (file, rule, key).
    CheckRules {
        /// The rules file.
        file: PathBuf,
    },
    /// Make the running collector read its incident rules file, its SLA
    /// policies (`[sla]` of its configuration file), its agent policies
    /// (`[agent_policy.NAME]`) and its devices file again; the same as
    /// sending it SIGHUP. Files with errors are refused
    /// and what runs stays.
    Reload,
    /// Write a consistent copy of the store to FILE, a store file a
    /// collector can run on. A running collector makes the copy from one
    /// read transaction while ingest goes on, and it is fetched over its
    /// API; with no collector running, the store is read directly.
    Backup {
        /// Where the copy goes (written as FILE.partial, then renamed).
        file: PathBuf,
        /// Print what was written as JSON (with every agent's sequence).
        #[arg(long)]
        json: bool,
        /// How long the running collector may take to write and send it.
        #[arg(long, default_value = "1h")]
        timeout: humantime::Duration,
    },
    /// Put a backup in place of the store; the collector must be
    /// stopped. The backup is checked first (an older format is upgraded;
    /// anything else that is not a store of this collector is refused), and
    /// the store it replaces is kept as atalaya.redb.before-restore-<time>.
    Restore {
        /// The backup file (it is copied, not changed).
        file: PathBuf,
    },
    /// Enrollment tokens.
    Token {
        #[command(subcommand)]
        command: TokenCommand,
    },
    /// Enrolled agents.
    Agent {
        #[command(subcommand)]
        command: AgentCommand,
    },
    /// Network devices: discovery.
    Device {
        #[command(subcommand)]
        command: DeviceCommand,
    },
    /// People's accounts for the web console.
    User {
        #[command(subcommand)]
        command: UserCommand,
    },
    /// Tokens for the HTTP API and the `atalaya` CLI.
    ApiToken {
        #[command(subcommand)]
        command: ApiTokenCommand,
    },
    /// Write the man pages and shell completions into DIR (for packaging).
    #[command(hide = true)]
    GenerateDocs {
        /// The directory (man1/, bash/, zsh/, fish/ are made in it).
        dir: PathBuf,
    },
}

#[derive(Debug, Subcommand)]
enum TokenCommand {
    /// Create an enrollment token and print it.
    Create {
        /// How long it stays valid, e.g. 24h, 7d.
        #[arg(long, default_value = "24h")]
        ttl: humantime::Duration,
        /// How many agents may enroll with it.
        #[arg(long, default_value_t = 1)]
        uses: u32,
    },
    /// List enrollment tokens.
    List,
    /// Revoke an enrollment token.
    Revoke {
        /// Its id, from `token list`.
        id: String,
    },
}

#[derive(Debug, Subcommand)]
enum AgentCommand {
    /// List enrolled agents.
    List,
    /// Revoke an agent: its connection is closed and it is refused from now on.
    Revoke {
        /// Its id, from `agent list`.
        id: String,
    },
}

#[derive(Debug, Subcommand)]
enum DeviceCommand {
    /// Sweep address ranges for SNMP devices from a poller, once, and list
    /// what answered (admin); --add adds the ones not known yet.
    Discover(Box<devices::DiscoverArgs>),
}

#[derive(Debug, Subcommand)]
enum UserCommand {
    /// Create an account. The password is asked twice on a terminal, or
    /// read as the first line of standard input.
    Add {
        /// The name the person signs in with.
        name: String,
        /// viewer (reads), helpdesk (works incidents and the knowledge
        /// base) or admin (everything).
        #[arg(long)]
        role: String,
    },
    /// List accounts.
    List,
    /// Set a new password (asked like `add`); the account's sessions end.
    Passwd {
        /// The account.
        name: String,
    },
    /// Disable an account: it cannot sign in and its sessions end.
    Disable {
        /// The account.
        name: String,
    },
    /// Enable a disabled account again.
    Enable {
        /// The account.
        name: String,
    },
}

#[derive(Debug, Subcommand)]
enum ApiTokenCommand {
    /// Create an API token and print it.
    Create {
        /// admin, helpdesk, viewer, or telephony (a phone system: posts incoming calls only).
        #[arg(long)]
        role: String,
        /// Who or what it is for.
        #[arg(long, default_value = "api token")]
        name: String,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = load_config(&cli).and_then(|config| {
        init_logging(config.log_level);
        run_command(cli.command, config)
    });
    match result {
        Ok(code) => code,
        Err(err) => {
            eprintln!("atalaya-collector: {err:#}");
            ExitCode::FAILURE
        }
    }
}

fn load_config(cli: &Cli) -> anyhow::Result<CollectorConfig> {
    let mut config = match &cli.config {
        Some(path) => CollectorConfig::load(path)?,
        None => CollectorConfig::default(),
    };
    if let Some(dir) = &cli.data {
        config.data_dir = dir.clone();
    }
    Ok(config)
}

fn init_logging(default: &str) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init();
}

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the runtime")
}

fn run_command(command: Command, config: CollectorConfig) -> anyhow::Result<ExitCode> {
    match command {
        Command::Serve => {
            runtime()?.block_on(async {
                let running = run::start(&config).await?;
                let scheme = if config.api_tls.is_some() {
                    "https"
                } else {
                    "http"
                };
                println!(
                    "collector running: agents {} · API and console {scheme}://{} · data {}",
                    running.quic_addr,
                    running.api_addr,
                    config.data_dir.display()
                );
                wait_for_stop(&running).await?;
                running.shutdown().await;
                anyhow::Ok(())
            })?;
        }
        Command::Demo => {
            let data = std::env::current_dir()?.join("atalaya-demo");
            let data = if config.data_dir == CollectorConfig::default().data_dir {
                data
            } else {
                config.data_dir.clone()
            };
            runtime()?.block_on(demo::run(&data))?;
        }
        Command::CheckRules { file } => {
            let rules = atalaya_collector::incidents::RuleSet::load(&file)?;
            let enabled = rules.rules().iter().filter(|r| r.enabled).count();
            println!(
                "{}: {} rules ({} enabled), built-ins included",
                file.display(),
                rules.rules().len(),
                enabled
            );
        }
        Command::CheckConfig { file } => {
            let text = std::fs::read_to_string(&file)
                .with_context(|| format!("reading {}", file.display()))?;
            if let Err(errors) = CollectorConfig::parse(&file.display().to_string(), &text) {
                eprint!("{errors}");
                return Ok(ExitCode::from(2));
            }
            println!("{}: OK", file.display());
        }
        Command::Backup {
            file,
            json,
            timeout,
        } => backup(&config, &file, json, *timeout)?,
        Command::Restore { file } => restore(&config, &file)?,
        Command::GenerateDocs { dir } => {
            let n = atalaya_common::cli_docs::write(Cli::command(), &dir)?;
            println!("{n} files written in {}", dir.display());
        }
        Command::Token { command } => {
            let admin = admin(&config)?;
            match command {
                TokenCommand::Create { ttl, uses } => {
                    let body = json!({ "ttl_seconds": ttl.as_secs(), "uses": uses });
                    let v = json_of(&admin.post("/api/v1/tokens", Some(&body))?);
                    println!(
                        "{}",
                        v["token"].as_str().context("the API returned no token")?
                    );
                }
                TokenCommand::List => print_json(&json_of(&admin.get("/api/v1/tokens", &[])?)),
                TokenCommand::Revoke { id } => {
                    admin.delete(&format!("/api/v1/tokens/{id}"))?;
                    println!("token {id} revoked");
                }
            }
        }
        Command::Agent { command } => {
            let admin = admin(&config)?;
            match command {
                AgentCommand::List => print_json(&json_of(&admin.get("/api/v1/agents", &[])?)),
                AgentCommand::Revoke { id } => {
                    admin.post(&format!("/api/v1/agents/{id}/revoke"), None)?;
                    println!("agent {id} revoked");
                }
            }
        }
        Command::Device {
            command: DeviceCommand::Discover(args),
        } => discover(&admin(&config)?, &args)?,
        Command::Reload => {
            let v = json_of(&admin(&config)?.post("/api/v1/rules/reload", None)?);
            let policies = if v["sla_policies"] == true {
                "SLA policies read again"
            } else {
                "SLA policies unchanged (the collector runs without a configuration file)"
            };
            println!("reloaded: {} rules in force; {policies}", v["rules"]);
            let d = &v["devices"];
            if let Some(errors) = d["refused"].as_str() {
                println!("devices file refused; its devices stay as they were:\n{errors}");
            } else if d.is_object() {
                let count = |k: &str| d[k].as_array().map_or(0, Vec::len);
                println!(
                    "devices file: {} added, {} changed, {} removed, {} unchanged",
                    count("added"),
                    count("updated"),
                    count("removed"),
                    d["unchanged"]
                );
                for failed in d["failed"].as_array().into_iter().flatten() {
                    println!("  not polled: {}", failed.as_str().unwrap_or_default());
                }
            }
        }
        Command::User { command } => user(&admin(&config)?, command)?,
        Command::ApiToken {
            command: ApiTokenCommand::Create { role, name },
        } => {
            let body = json!({ "role": role, "name": name });
            let v = json_of(&admin(&config)?.post("/api/v1/api-tokens", Some(&body))?);
            println!(
                "{}",
                v["secret"].as_str().context("the API returned no token")?
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// `backup FILE`: from the store directly when no collector has it open,
/// else through the running collector's API.
fn backup(
    config: &CollectorConfig,
    file: &Path,
    json: bool,
    timeout: std::time::Duration,
) -> anyhow::Result<()> {
    let store_file = config.data_dir.join(run::STORE_FILE);
    let view = match store::backup::backup_file(&store_file, file) {
        Ok(summary) => BackupView::new(String::new(), summary),
        Err(store::backup::BackupError::InUse { .. }) => {
            let admin = admin(config)?.with_timeouts(Timeouts {
                connect: Timeouts::default().connect,
                read: timeout,
            });
            fetch_backup(&admin, file)?
        }
        Err(e) => return Err(e).context("backing up the store"),
    };
    if json {
        print_json(&serde_json::to_value(&view)?);
        return Ok(());
    }
    println!(
        "backup written: {} ({} bytes, store format {}) in {:.1} s",
        view.path,
        view.bytes,
        view.format_version,
        view.elapsed_ms as f64 / 1000.0
    );
    let agents: Vec<String> = view
        .agent_seqs
        .iter()
        .map(|(agent, seq)| format!("{agent} {seq}"))
        .collect();
    println!(
        "consistent with: every commit finished by {}; highest committed sequence of {} agents{}",
        view.taken_at
            .to_rfc3339()
            .unwrap_or_else(|| view.taken_at.0.to_string()),
        agents.len(),
        if agents.is_empty() || agents.len() > 10 {
            " (--json lists them)".to_owned()
        } else {
            format!(": {}", agents.join(", "))
        }
    );
    println!("{} records in {} tables:", view.records, view.tables.len());
    for t in view.tables.iter().filter(|t| t.records > 0) {
        println!("  {:<24} {}", t.table, t.records);
    }
    Ok(())
}

/// Asks the running collector for a backup, fetches it to `file` through
/// a temporary name, checks it, and has the collector remove its copy.
fn fetch_backup(admin: &ApiClient, file: &Path) -> anyhow::Result<BackupView> {
    let mut view: BackupView = serde_json::from_str(&admin.post("/api/v1/backups", None)?)
        .context("reading what the collector backed up")?;
    let path = format!("/api/v1/backups/{}", view.id);
    let mut partial = file.as_os_str().to_owned();
    partial.push(".partial");
    let partial = PathBuf::from(partial);
    let fetched = (|| -> anyhow::Result<()> {
        atalaya_files::create_private_file(&partial)?;
        let mut out = std::fs::OpenOptions::new()
            .write(true)
            .truncate(true)
            .open(&partial)
            .with_context(|| format!("opening {}", partial.display()))?;
        let bytes = admin.download(&path, &mut out, &partial)?;
        out.sync_all()
            .with_context(|| format!("flushing {} to disk", partial.display()))?;
        drop(out);
        anyhow::ensure!(
            bytes == view.bytes,
            "the collector sent {bytes} bytes of a backup of {} bytes",
            view.bytes
        );
        let (format, tables) = store::backup::inspect(&partial)?;
        let expected: Vec<_> = view.tables.iter().map(|t| (&t.table, t.records)).collect();
        let found: Vec<_> = tables.iter().map(|t| (&t.table, t.records)).collect();
        anyhow::ensure!(
            format == view.format_version && found == expected,
            "the file fetched does not hold what the collector wrote"
        );
        std::fs::rename(&partial, file)
            .with_context(|| format!("moving {} to {}", partial.display(), file.display()))?;
        let dir = match file.parent() {
            Some(d) if !d.as_os_str().is_empty() => d,
            _ => Path::new("."),
        };
        atalaya_files::sync_dir(dir)?;
        Ok(())
    })();
    if fetched.is_err() {
        let _ = std::fs::remove_file(&partial);
    }
    // The collector's copy goes either way: a failed fetch is asked again.
    if let Err(e) = admin.delete(&path) {
        eprintln!("atalaya-collector: the collector's copy of the backup stays: {e:#}");
    }
    fetched?;
    view.path = file.display().to_string();
    Ok(view)
}

/// `restore FILE`: the backup in place of the stopped collector's store.
fn restore(config: &CollectorConfig, file: &Path) -> anyhow::Result<()> {
    let store_file = config.data_dir.join(run::STORE_FILE);
    let done = store::backup::restore(file, &store_file, Timestamp::now())?;
    println!(
        "restored {} to {} ({} bytes)",
        file.display(),
        done.path.display(),
        done.bytes
    );
    if let Some(at) = done.taken_at {
        println!(
            "the backup holds every commit finished by {}",
            at.to_rfc3339().unwrap_or_else(|| at.0.to_string())
        );
    }
    if done.backup_format != done.format_version {
        println!(
            "upgraded from store format {} to {}",
            done.backup_format, done.format_version
        );
    } else {
        println!("store format {}", done.format_version);
    }
    let records: u64 = done.tables.iter().map(|t| t.records).sum();
    println!("{records} records in {} tables", done.tables.len());
    match &done.kept {
        Some(kept) => println!("the store it replaced is kept as {}", kept.display()),
        None => println!("there was no store to replace"),
    }
    Ok(())
}

/// Asks for a discovery, waits for its end and prints what answered;
/// with `--add`, adds those not known yet.
fn discover(admin: &ApiClient, args: &devices::DiscoverArgs) -> anyhow::Result<()> {
    let body = devices::discover_body(args).map_err(anyhow::Error::msg)?;
    let asked: DiscoveryView =
        serde_json::from_str(&admin.post("/api/v1/devices/discover", Some(&body))?)
            .context("reading the discovery asked")?;
    println!(
        "discovery {}: {} sweeps {} addresses ({})",
        asked.id,
        asked.poller,
        asked.addresses,
        asked.ranges.join(", ")
    );
    // The poller sweeps at most `concurrency` addresses at once, each
    // answer waited for once per credential; then its results travel
    // through its spool.
    let credentials = body["credentials"].as_array().map_or(1, Vec::len) as u64;
    let per = u64::from(args.timeout_ms.unwrap_or(1_000)) * credentials;
    let rounds = asked
        .addresses
        .div_ceil(u64::from(args.concurrency.unwrap_or(64).max(1)));
    let deadline = std::time::Instant::now()
        + std::time::Duration::from_millis(rounds * per)
        + std::time::Duration::from_secs(60);
    let path = format!("/api/v1/devices/discover/{}", asked.id);
    let view = loop {
        let v: DiscoveryView =
            serde_json::from_str(&admin.get(&path, &[])?).context("reading the discovery")?;
        if v.state != "running" || std::time::Instant::now() > deadline {
            break v;
        }
        std::thread::sleep(std::time::Duration::from_millis(500));
    };
    print!("{}", devices::discovery_table(&view));
    if view.state == "refused" {
        anyhow::bail!("the discovery was refused");
    }
    if args.add {
        let added: Vec<DeviceView> =
            serde_json::from_str(&admin.post(&format!("{path}/add"), None)?)
                .context("reading the devices added")?;
        if added.is_empty() {
            println!("nothing to add: every device found is known");
        }
        for d in added {
            println!(
                "added {} ({}:{}), polled by {}",
                d.name, d.address, d.port, d.poller
            );
        }
    }
    Ok(())
}

/// The `user` commands, over the API as the local administrator.
fn user(admin: &ApiClient, command: UserCommand) -> anyhow::Result<()> {
    match command {
        UserCommand::Add { name, role } => {
            let password = read_password(&format!("password for {name}"))?;
            let body = json!({ "name": name, "role": role, "password": password });
            admin.post("/api/v1/users", Some(&body))?;
            println!("account {name} created with the {role} role");
        }
        UserCommand::List => {
            let users: Vec<atalaya_collector::api::users::UserView> =
                serde_json::from_str(&admin.get("/api/v1/users", &[])?)
                    .context("reading the accounts")?;
            println!(
                "{:<24} {:<9} {:<9} {:<10} PASSWORD SET",
                "NAME", "ROLE", "STATE", "CREATED"
            );
            for u in users {
                let date = |t: Timestamp| {
                    t.to_rfc3339()
                        .and_then(|s| s.get(..10).map(str::to_owned))
                        .unwrap_or_default()
                };
                println!(
                    "{:<24} {:<9} {:<9} {:<10} {}",
                    u.name,
                    atalaya_collector::api::role_name(u.role),
                    if u.disabled { "disabled" } else { "active" },
                    date(u.created_at),
                    date(u.password_set_at)
                );
            }
        }
        UserCommand::Passwd { name } => {
            let password = read_password(&format!("new password for {name}"))?;
            let body = json!({ "password": password });
            admin.post(&format!("/api/v1/users/{name}/password"), Some(&body))?;
            println!("password of {name} changed; its sessions have ended");
        }
        UserCommand::Disable { name } => {
            admin.post(&format!("/api/v1/users/{name}/disable"), None)?;
            println!("account {name} disabled; its sessions have ended");
        }
        UserCommand::Enable { name } => {
            admin.post(&format!("/api/v1/users/{name}/enable"), None)?;
            println!("account {name} enabled");
        }
    }
    Ok(())
}

/// A password: asked twice without echo on a terminal, else the first
/// line of standard input (for scripts: `echo "$PW" | … user add ana`).
fn read_password(what: &str) -> anyhow::Result<String> {
    use std::io::{BufRead, IsTerminal, Write};
    let stdin = std::io::stdin();
    if !stdin.is_terminal() {
        let mut line = String::new();
        stdin
            .lock()
            .read_line(&mut line)
            .context("reading the password from standard input")?;
        let password = line.trim_end_matches(['\r', '\n']).to_owned();
        anyhow::ensure!(!password.is_empty(), "no password on standard input");
        return Ok(password);
    }
    let ask = |prompt: &str| -> anyhow::Result<String> {
        eprint!("{prompt}: ");
        std::io::stderr().flush().ok();
        let fd = std::io::stdin();
        let before = rustix::termios::tcgetattr(&fd).context("reading the terminal's settings")?;
        let mut quiet = before.clone();
        quiet.local_modes.remove(rustix::termios::LocalModes::ECHO);
        rustix::termios::tcsetattr(&fd, rustix::termios::OptionalActions::Now, &quiet)
            .context("turning the terminal's echo off")?;
        let mut line = String::new();
        let read = fd.lock().read_line(&mut line);
        rustix::termios::tcsetattr(&fd, rustix::termios::OptionalActions::Now, &before).ok();
        eprintln!();
        read.context("reading the password")?;
        Ok(line.trim_end_matches(['\r', '\n']).to_owned())
    };
    let first = ask(what)?;
    let again = ask("again")?;
    anyhow::ensure!(first == again, "the two passwords differ");
    anyhow::ensure!(!first.is_empty(), "the password is empty");
    Ok(first)
}

fn print_json(value: &Value) {
    println!(
        "{}",
        serde_json::to_string_pretty(value).unwrap_or_default()
    );
}

/// The running collector's API as the local administrator, with the
/// address and token it keeps in its data directory.
fn admin(config: &CollectorConfig) -> anyhow::Result<ApiClient> {
    Ok(ApiClient::local_admin(&config.data_dir)?)
}

/// An answer's JSON (`null` for an empty body, as a 204 has).
fn json_of(body: &str) -> Value {
    serde_json::from_str(body).unwrap_or(Value::Null)
}

/// Waits for Ctrl-C or SIGTERM; SIGHUP (`systemctl reload`) reloads the
/// incident rules, the SLA policies and the devices file meanwhile,
/// keeping what runs when the files have errors.
async fn wait_for_stop(running: &run::Running) -> anyhow::Result<()> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut hangup = signal(SignalKind::hangup())?;
    let mut terminate = signal(SignalKind::terminate())?;
    loop {
        tokio::select! {
            r = tokio::signal::ctrl_c() => return Ok(r?),
            _ = terminate.recv() => return Ok(()),
            _ = hangup.recv() => {
                let desk = running.desk.clone();
                match tokio::task::spawn_blocking(move || desk.reload(Timestamp::now())).await? {
                    Ok(done) => tracing::info!(rules = done.rules, sla_policies = done.sla_policies, "SIGHUP: incident rules and SLA policies reloaded"),
                    Err(err) => tracing::error!(error = %err, "SIGHUP: reload refused; the running rules and SLA policies stay"),
                }
                if let Some(file) = running.devices_file.clone()
                    && let Err(err) = tokio::task::spawn_blocking(move || file.reload()).await?
                {
                    tracing::error!(error = %format!("{:#}", anyhow::Error::from(err)), "SIGHUP: devices file refused; its devices stay as they were");
                }
                let policies = running.policies.clone();
                if let Err(err) = tokio::task::spawn_blocking(move || policies.reload()).await? {
                    tracing::error!(error = %err, "SIGHUP: agent policies refused; the running ones stay");
                }
            }
        }
    }
}
