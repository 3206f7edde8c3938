//! `atalaya-agent`: the Atalaya agent's command line.
//!
//! One-shot commands that show what the agent knows about this host
//! (`inventory`, `metrics`), list the network devices it polls (`devices`),
//! check a configuration file (`check-config`),
//! and let the person at the machine report a problem (`report`) and see
//! what became of it (`reports`).

use std::io::{self, BufWriter, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use clap::{CommandFactory as _, Parser, Subcommand};

use atalaya_agent::config::AgentConfig;
use atalaya_agent::metrics::Sampler;
use atalaya_agent::root::Root;
use atalaya_agent::snmp::assignment;
use atalaya_agent::{inventory, reports, summary};
use atalaya_common::config::Secret;
use atalaya_common::model::DeviceSpec;

/// The Atalaya agent: inventory and health of this host.
#[derive(Debug, Parser)]
#[command(name = "atalaya-agent", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Show the full inventory of this host (hardware, software, network…).
    Inventory {
        /// Print the JSON form instead of the summary.
        #[arg(long)]
        json: bool,
        /// Read this directory as the host's `/` (a fixture tree or a mounted host root).
        #[arg(long, value_name = "DIR")]
        root: Option<PathBuf>,
        /// Take the root from this configuration file.
        #[arg(long, value_name = "FILE")]
        config: Option<PathBuf>,
        /// Also print how long each inventory source took (to stderr).
        #[arg(long)]
        timings: bool,
    },
    /// Take health samples (CPU, memory, disks, network, processes…).
    Metrics {
        /// Print one JSON object per sample (JSON Lines) instead of text.
        #[arg(long)]
        json: bool,
        /// How many samples to print.
        #[arg(long, default_value_t = 1)]
        count: u32,
        /// Seconds between samples (fractions allowed); rates are measured over it.
        #[arg(long, value_name = "S", default_value_t = 1.0)]
        interval_seconds: f64,
        /// Read this directory as the host's `/`.
        #[arg(long, value_name = "DIR")]
        root: Option<PathBuf>,
        /// Take the root and the top-process count from this configuration file.
        #[arg(long, value_name = "FILE")]
        config: Option<PathBuf>,
    },
    /// Run the agent: enroll if needed, then stream inventory and health to the collector.
    Run {
        /// The configuration file.
        #[arg(long, value_name = "FILE")]
        config: Option<PathBuf>,
    },
    /// Enroll with a collector: make a key, get a certificate for it.
    Enroll {
        /// The token from `atalaya-collector token create`.
        #[arg(long)]
        token: Secret,
        /// Take the state directory from this configuration file.
        #[arg(long, value_name = "FILE")]
        config: Option<PathBuf>,
        /// Where to keep the identity (overrides the configuration).
        #[arg(long, value_name = "DIR")]
        state_dir: Option<PathBuf>,
    },
    /// Report a problem with this machine to the help desk, e.g.
    /// `atalaya-agent report "the printer does not print"`.
    Report {
        /// What does not work, in your words.
        #[arg(required = true, value_name = "TEXT")]
        text: Vec<String>,
        /// Take the report folder from this configuration file.
        #[arg(long, value_name = "FILE")]
        config: Option<PathBuf>,
        /// How long to wait for the agent to take the report, seconds.
        #[arg(long, value_name = "S", default_value_t = 10)]
        wait_seconds: u64,
    },
    /// What became of the reports you wrote on this machine: each one's
    /// incident, its status, who has it and the help desk's last note to you.
    Reports {
        /// Print them as JSON.
        #[arg(long)]
        json: bool,
        /// Take the report folder from this configuration file.
        #[arg(long, value_name = "FILE")]
        config: Option<PathBuf>,
    },
    /// List the network devices the collector assigned to this agent to poll
    /// (from the state directory; no secrets are shown).
    Devices {
        /// Take the state directory from this configuration file.
        #[arg(long, value_name = "FILE")]
        config: Option<PathBuf>,
        /// Where the agent keeps its state (overrides the configuration).
        #[arg(long, value_name = "DIR")]
        state_dir: Option<PathBuf>,
    },
    /// Check an agent configuration file; every error is listed, with its line.
    CheckConfig {
        /// The file to check.
        file: PathBuf,
    },
    /// Write the man pages and shell completions into DIR (for packaging).
    #[command(hide = true)]
    GenerateDocs {
        /// The directory (man1/, bash/, zsh/, fish/ are made in it).
        dir: PathBuf,
    },
}

fn main() -> ExitCode {
    match run(Cli::parse()) {
        Ok(code) => code,
        Err(err) => {
            eprintln!("atalaya-agent: {}", atalaya_agent::error::describe(&*err));
            ExitCode::FAILURE
        }
    }
}

fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Inventory {
            json,
            root,
            config,
            timings,
        } => inventory_command(json, root, config, timings),
        Command::Metrics {
            json,
            count,
            interval_seconds,
            root,
            config,
        } => metrics_command(json, count, interval_seconds, root, config),
        Command::Run { config } => {
            let config = load(config.as_ref())?;
            let log_level = init_logging(config.log_level);
            atalaya_agent::daemon::run(config, log_level)?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Enroll {
            token,
            config,
            state_dir,
        } => {
            let config = load(config.as_ref())?;
            init_logging(config.log_level);
            let state_dir = state_dir.unwrap_or_else(|| config.state_dir.clone());
            let identity = atalaya_agent::daemon::enroll_now(&config, &token.0, &state_dir)?;
            println!(
                "enrolled as {} (identity in {})",
                identity.agent_id,
                state_dir.display()
            );
            Ok(ExitCode::SUCCESS)
        }
        Command::Report {
            text,
            config,
            wait_seconds,
        } => report_command(&text, config, wait_seconds),
        Command::Reports { json, config } => reports_command(json, config),
        Command::Devices { config, state_dir } => devices_command(config, state_dir),
        Command::CheckConfig { file } => check_config(&file),
        Command::GenerateDocs { dir } => generate_docs(&dir),
    }
}

/// `generate-docs`: the man pages and completions the packages install.
fn generate_docs(dir: &std::path::Path) -> anyhow::Result<ExitCode> {
    let written = atalaya_common::cli_docs::write(Cli::command(), dir)?;
    println!("{written} files written in {}", dir.display());
    Ok(ExitCode::SUCCESS)
}

/// `inventory`: collects once and prints it, with each collector's time
/// on request.
fn inventory_command(
    json: bool,
    root: Option<PathBuf>,
    config: Option<PathBuf>,
    timings: bool,
) -> anyhow::Result<ExitCode> {
    let config = load(config.as_ref())?;
    let root = Root::new(root.unwrap_or(config.root));
    let started = Instant::now();
    let (inventory, reports) = inventory::collect(&root);
    let elapsed = started.elapsed();
    let mut out = BufWriter::new(io::stdout().lock());
    if json {
        serde_json::to_writer_pretty(&mut out, &inventory).context("writing the inventory")?;
        writeln!(out)?;
    } else {
        summary::inventory(&mut out, &inventory)?;
    }
    out.flush()?;
    if timings {
        let mut err = io::stderr().lock();
        for r in &reports {
            writeln!(
                err,
                "{:<10} {:>8.2} ms  {} unreadable",
                r.name,
                ms(r.duration),
                r.gaps
            )?;
        }
        writeln!(err, "{:<10} {:>8.2} ms", "total", ms(elapsed))?;
        // The process's own high-water mark, read after the output
        // was written: what `agent-bench` reports as peak RSS.
        if let Some(peak) = atalaya_agent::metrics::own_peak_rss_bytes() {
            writeln!(err, "peak_rss   {:>8.2} MiB", peak as f64 / 1_048_576.0)?;
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// `metrics`: prints `count` samples, one per interval.
fn metrics_command(
    json: bool,
    count: u32,
    interval_seconds: f64,
    root: Option<PathBuf>,
    config: Option<PathBuf>,
) -> anyhow::Result<ExitCode> {
    if !(interval_seconds.is_finite() && interval_seconds > 0.0 && interval_seconds <= 86_400.0) {
        bail!("--interval-seconds must be more than 0 and at most 86400, not {interval_seconds}");
    }
    let interval = Duration::from_secs_f64(interval_seconds);
    let config = load(config.as_ref())?;
    let root = Root::new(root.unwrap_or(config.root));
    let mut sampler = Sampler::with_top(root, config.top_processes);
    // A first sample sets the counters the printed rates are measured from.
    sampler.sample();
    let mut next = Instant::now() + interval;
    let mut out = io::stdout().lock();
    for _ in 0..count {
        std::thread::sleep(next.saturating_duration_since(Instant::now()));
        next += interval;
        let sample = sampler.sample();
        if json {
            serde_json::to_writer(&mut out, &sample).context("writing a sample")?;
            writeln!(out)?;
        } else {
            summary::sample(&mut out, &sample)?;
        }
        out.flush()?;
    }
    Ok(ExitCode::SUCCESS)
}

/// `report`: leaves a user report for the running agent and waits a
/// little for it to be taken.
fn report_command(
    text: &[String],
    config: Option<PathBuf>,
    wait_seconds: u64,
) -> anyhow::Result<ExitCode> {
    let config = load(config.as_ref())?;
    let written = reports::write(&config.reports_dir, &text.join(" "))?;
    let deadline = Instant::now() + Duration::from_secs(wait_seconds);
    while written.file.exists() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    if written.file.exists() {
        println!(
            "Report {} is saved, but the Atalaya agent has not taken it yet (is its service running?). It is sent as soon as the agent runs.",
            written.id
        );
    } else {
        println!(
            "Report {} is on its way to the help desk; quote this number if you call.",
            written.id
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// `reports`: the reports of the account running it, as the agent last
/// heard of them from the collector.
fn reports_command(json: bool, config: Option<PathBuf>) -> anyhow::Result<ExitCode> {
    let config = load(config.as_ref())?;
    let own = reports::status::read_own(&config.reports_dir)?;
    let mut out = io::stdout().lock();
    if json {
        let reports = own.map(|f| f.reports).unwrap_or_default();
        serde_json::to_writer_pretty(&mut out, &reports)?;
        writeln!(out)?;
    } else {
        reports::status::write_table(&mut out, own.as_ref())?;
    }
    out.flush()?;
    Ok(ExitCode::SUCCESS)
}

/// `devices`: the assigned devices, one a line, from the state file.
fn devices_command(
    config: Option<PathBuf>,
    state_dir: Option<PathBuf>,
) -> anyhow::Result<ExitCode> {
    let config = load(config.as_ref())?;
    let state_dir = state_dir.unwrap_or(config.state_dir);
    let devices = assignment::load(&state_dir)?;
    let mut out = io::stdout().lock();
    write_devices(&mut out, &devices)?;
    if !config.snmp.enabled && !devices.is_empty() {
        writeln!(out, "(not polled: [snmp] enabled = false)")?;
    }
    Ok(ExitCode::SUCCESS)
}

/// The devices as an aligned table: name, address, SNMP version (never a secret).
fn write_devices(out: &mut impl Write, devices: &[DeviceSpec]) -> io::Result<()> {
    if devices.is_empty() {
        return writeln!(out, "no devices assigned to this agent");
    }
    let name_width = devices
        .iter()
        .map(|d| d.name.len())
        .max()
        .unwrap_or(0)
        .max(4);
    let addresses: Vec<String> = devices
        .iter()
        .map(|d| format!("{}:{}", d.address, d.port))
        .collect();
    let address_width = addresses.iter().map(String::len).max().unwrap_or(0).max(7);
    writeln!(
        out,
        "{:<name_width$}  {:<address_width$}  VERSION",
        "NAME", "ADDRESS"
    )?;
    for (d, address) in devices.iter().zip(&addresses) {
        let version = assignment::version(&d.credentials);
        writeln!(
            out,
            "{:<name_width$}  {address:<address_width$}  {version}",
            d.name
        )?;
    }
    Ok(())
}

/// `check-config`: 2 when the file does not parse, with every error.
fn check_config(file: &std::path::Path) -> anyhow::Result<ExitCode> {
    let text =
        std::fs::read_to_string(file).with_context(|| format!("reading {}", file.display()))?;
    match AgentConfig::parse(&file.display().to_string(), &text) {
        Ok(_) => {
            println!("{}: OK", file.display());
            Ok(ExitCode::SUCCESS)
        }
        Err(errors) => {
            eprint!("{errors}");
            Ok(ExitCode::from(2))
        }
    }
}

fn load(config: Option<&PathBuf>) -> anyhow::Result<AgentConfig> {
    Ok(config.map_or_else(
        || Ok(AgentConfig::default()),
        |path| AgentConfig::load(path),
    )?)
}

/// Logs to stderr at the configured level, or `RUST_LOG` when it names a
/// level. A plain level filter rather than `EnvFilter`: per-module filters
/// would bring a regex engine into an agent that must stay small. Returns
/// how to change the level later (an agent policy may), except when
/// `RUST_LOG` chose it: the person who set it wins.
fn init_logging(default: &str) -> Option<atalaya_agent::daemon::LogLevelControl> {
    use tracing_subscriber::filter::LevelFilter;
    use tracing_subscriber::prelude::*;
    let from_env = std::env::var("RUST_LOG")
        .ok()
        .and_then(|v| v.parse::<tracing::Level>().ok());
    let level = from_env
        .or_else(|| default.parse().ok())
        .unwrap_or(tracing::Level::INFO);
    let (filter, handle) = tracing_subscriber::reload::Layer::new(LevelFilter::from_level(level));
    let installed = tracing_subscriber::registry()
        .with(filter)
        .with(tracing_subscriber::fmt::layer().with_writer(io::stderr))
        .try_init()
        .is_ok();
    if from_env.is_some() || !installed {
        return None;
    }
    Some(Box::new(move |word: &'static str| {
        if let Ok(level) = word.parse::<tracing::Level>() {
            let _ = handle.modify(|f| *f = LevelFilter::from_level(level));
        }
    }))
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_device_list_shows_names_addresses_and_versions_only() {
        let mut core = DeviceSpec::v2c("core-sw", "10.0.0.1", "c0mmunity");
        core.port = 1161;
        let mut out = Vec::new();
        write_devices(
            &mut out,
            &[core, DeviceSpec::v2c("printer-3", "printer-3.lan", "pr1v")],
        )
        .unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "NAME       ADDRESS            VERSION\n\
             core-sw    10.0.0.1:1161      v2c\n\
             printer-3  printer-3.lan:161  v2c\n"
        );
        let mut out = Vec::new();
        write_devices(&mut out, &[]).unwrap();
        assert_eq!(out, b"no devices assigned to this agent\n");
    }

    #[test]
    fn debug_of_the_command_line_hides_the_enrollment_token() {
        let cli = Cli::try_parse_from([
            "atalaya-agent",
            "enroll",
            "--token",
            "atalaya1.dG9wLXNlY3JldA",
        ])
        .unwrap();
        let shown = format!("{cli:?}");
        assert!(!shown.contains("dG9wLXNlY3JldA"), "{shown}");
        assert!(shown.contains("<redacted>"), "{shown}");
    }
}
