//! `atalaya`: the command line for help desk and managers. It asks the
//! collector's HTTP API and prints aligned tables, or `--json` / `--csv`.
//! What each command asks and prints is in [`atalaya_collector::cli`], a
//! module per resource; this file is the command line itself.
//!
//! The server and token come from `--server`/`--token` or the
//! `ATALAYA_SERVER`/`ATALAYA_TOKEN` environment variables.

use std::io::Write as _;
use std::process::ExitCode;

use atalaya_collector::cli::assets::AssetFormat;
use atalaya_collector::cli::client::ApiClient;
use atalaya_collector::cli::incidents::Action;
use atalaya_collector::cli::{
    CliError, Format, agents, assets, capacity, changes, devices, diag, incidents, kb, lookup,
    metrics, people, probes, report, suppliers, topology,
};
use clap::{CommandFactory as _, Parser, Subcommand};

/// Query the Atalaya collector: assets, software, changes, metrics.
// No `Debug`: it holds the API token.
#[derive(Parser)]
#[command(name = "atalaya", version)]
struct Cli {
    /// Collector API address, e.g. http://127.0.0.1:8440.
    #[arg(
        long,
        env = "ATALAYA_SERVER",
        default_value = "http://127.0.0.1:8440",
        global = true
    )]
    server: String,
    /// API token (see `atalaya-collector api-token create`).
    #[arg(long, env = "ATALAYA_TOKEN", hide_env_values = true, global = true)]
    token: Option<String>,
    /// Print the server's JSON.
    #[arg(long, global = true, conflicts_with = "csv")]
    json: bool,
    /// Print CSV.
    #[arg(long, global = true)]
    csv: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Write the man pages and shell completions into DIR (for packaging).
    #[command(hide = true)]
    GenerateDocs {
        /// The directory (man1/, bash/, zsh/, fish/ are made in it).
        dir: std::path::PathBuf,
    },
    /// A caller's directory card and machines: who is logged in where, health now, open incidents.
    Lookup {
        /// A login name, a full name, a phone number or extension, a host name or FQDN, or a host pattern with `*`.
        who: String,
        /// Most machines.
        #[arg(long, default_value_t = 20)]
        limit: usize,
    },
    /// Load a file into the collector (admin token).
    #[command(subcommand)]
    Import(ImportCommand),
    /// The people directory: name, logins, e-mail, phones, extension, department, location.
    People,
    /// Incidents, newest first.
    Incidents {
        /// open, acknowledged, resolved or closed; active is open or acknowledged (the queue).
        #[arg(long)]
        status: Option<String>,
        /// Asset id or host name.
        #[arg(long)]
        asset: Option<String>,
    },
    /// Ask a machine's agent to run a diagnostic action and print its
    /// result: ping HOST, tcp-connect HOST PORT, dns-lookup NAME,
    /// traceroute HOST, top-processes, disk-usage PATH, service-status
    /// NAME, service-restart NAME, log-tail PATH LINES, listening-sockets.
    /// The machine's own [assist] allow-list decides; a refusal exits non-zero.
    Diag {
        /// Host name or asset id.
        host: String,
        /// The action.
        action: String,
        /// Its arguments.
        args: Vec<String>,
        /// The incident it is for: the result goes on its timeline.
        #[arg(long)]
        incident: Option<u64>,
        /// Seconds to wait for the result (0: print the request and return).
        #[arg(long, default_value_t = 60)]
        wait: u64,
    },
    /// One diagnostic request and its result.
    Diagnostic {
        /// Request id, e.g. d-12.
        id: String,
    },
    /// The diagnostic requests made to a machine, newest first.
    Diagnostics {
        /// Host name or asset id.
        host: String,
    },
    /// One incident with its timeline.
    Incident {
        /// Incident number.
        id: u64,
    },
    /// Acknowledge an incident (you are on it).
    Ack {
        /// Incident number.
        id: u64,
    },
    /// Assign an incident to someone.
    Assign {
        /// Incident number.
        id: u64,
        /// Who takes it.
        assignee: String,
    },
    /// Add a note to an incident's timeline.
    Note {
        /// Incident number.
        id: u64,
        /// The note.
        text: String,
        /// The person who reported the incident reads it too, on their
        /// machine (`atalaya-agent reports`).
        #[arg(long)]
        public: bool,
    },
    /// Move an incident to second level; with --supplier and --case,
    /// record that it went to a supplier under that case number instead.
    Escalate {
        /// Incident number.
        id: u64,
        /// Escalated to this supplier instead (recorded with its case number).
        #[arg(long, requires = "case")]
        supplier: Option<String>,
        /// The supplier's case number.
        #[arg(long, requires = "supplier")]
        case: Option<String>,
    },
    /// Resolve an incident.
    Resolve {
        /// Incident number.
        id: u64,
        /// What fixed it (saved as a new KB article unless --kb-article).
        #[arg(long)]
        solution: Option<String>,
        /// The KB article that fixed it: counted as solved once more.
        #[arg(long)]
        kb_article: Option<u64>,
    },
    /// Close a resolved incident.
    Close {
        /// Incident number.
        id: u64,
    },
    /// Reopen a resolved or closed incident.
    Reopen {
        /// Incident number.
        id: u64,
    },
    /// The SLA report: per priority, targets met and breached, mean times.
    Sla,
    /// List assets, with filters.
    Assets(assets::Filter),
    /// One asset: host, OS, hardware, disks, network, packages
    /// (`--format glpi`: its inventory in GLPI's native inventory format).
    Asset {
        /// Host name or asset id.
        host: String,
        /// How to print it (without: a summary, or as --json or --csv say).
        #[arg(long, value_enum, conflicts_with_all = ["json", "csv"])]
        format: Option<assets::AssetFormat>,
    },
    /// Installed base of a package: versions, counts, hosts.
    Software {
        /// Package name, or a pattern with `*`.
        name: String,
    },
    /// Inventory changes.
    Changes {
        /// Since when: a duration ago (7d, 24h) or an RFC 3339 time.
        #[arg(long, default_value = "7d")]
        since: String,
        /// Only this asset (host name or id).
        #[arg(long)]
        asset: Option<String>,
        /// Most events.
        #[arg(long, default_value_t = 100)]
        limit: usize,
    },
    /// One metric series of an asset.
    Metrics(metrics::Query),
    /// The series of the fleet highest over a range (fullest filesystems…).
    Top(metrics::TopQuery),
    /// The knowledge base: search, show and add articles.
    #[command(subcommand)]
    Kb(kb::Command),
    /// Enrolled agents: status, version, last contact (admin token); with
    /// --policy, who runs what of the agent policies.
    Agents {
        /// Per agent: the policies it is to run and those it runs, the
        /// keys its own file pins (they win) and the keys it refused.
        #[arg(long)]
        policy: bool,
    },
    /// Network devices polled over SNMP: state, last poll, interfaces up and down.
    Devices,
    /// One network device (`atalaya device NAME`), or add, change or remove one.
    #[command(args_conflicts_with_subcommands = true)]
    Device {
        /// Device name.
        name: Option<String>,
        #[command(subcommand)]
        action: Option<devices::DeviceCommand>,
    },
    /// Network probes: each agent's latest round trip, jitter and loss per target, and how it probed.
    Probes {
        /// Only this asset's agent (host name or asset id).
        #[arg(long)]
        asset: Option<String>,
    },
    /// Interfaces of network devices with their latest rates.
    Interfaces {
        /// Only this device.
        #[arg(long)]
        device: Option<String>,
        /// utilisation, errors or down (default: by device).
        #[arg(long)]
        sort: Option<String>,
    },
    /// The network map from LLDP and CDP: links between devices, hosts and
    /// unknown neighbours (`--dot | dot -Tsvg > map.svg` draws it).
    Topology {
        /// Print Graphviz DOT.
        #[arg(long, conflicts_with_all = ["json", "csv"])]
        dot: bool,
    },
    /// Capacity: each resource's use, 95th percentile, growth, the day it is
    /// full and its headroom, most urgent first; `installed` and `renewal`
    /// for the other reports.
    Capacity(capacity::Args),
    /// Suppliers with their contracts and the installed base they made or publish.
    Suppliers,
    /// Contracts, the soonest to end first, with the day their renewal is due.
    Contracts {
        /// Only those in force ending within this long, e.g. 90d.
        #[arg(long)]
        expiring: Option<String>,
    },
    /// Each asset's warranty: from warranty contracts or entered per asset;
    /// `set` and `remove` enter one for an asset (admin).
    Warranty {
        /// Enter or remove a warranty instead of listing them.
        #[command(subcommand)]
        action: Option<WarrantyAction>,
        /// Only warranties that have ended.
        #[arg(long, conflicts_with = "expiring")]
        expired: bool,
        /// Only warranties ending within this long, e.g. 90d.
        #[arg(long)]
        expiring: Option<String>,
    },
    /// Licence compliance: seats bought against installations.
    Licences {
        /// Count the assets seen within this long (default 30d).
        #[arg(long)]
        seen: Option<String>,
    },
    /// Reports for managers: `atalaya report slr --month 2026-11`, the
    /// service-level report of a month.
    #[command(subcommand)]
    Report(report::Command),
    /// The latest SNMP traps network devices sent, newest first.
    Traps {
        /// Only this device.
        #[arg(long)]
        device: Option<String>,
        /// How many (default 100).
        #[arg(long)]
        limit: Option<usize>,
    },
}

#[derive(Debug, Subcommand)]
enum WarrantyAction {
    /// Enter the warranty of an asset (replacing one entered before).
    Set {
        /// Asset id or host name.
        host: String,
        /// Who gives it.
        #[arg(long)]
        supplier: String,
        /// Last day covered (YYYY-MM-DD).
        #[arg(long)]
        end: String,
        /// First day (YYYY-MM-DD).
        #[arg(long)]
        start: Option<String>,
        /// The supplier's reference, the kind of service.
        #[arg(long)]
        notes: Option<String>,
    },
    /// Remove the warranty entered for an asset.
    Remove {
        /// Asset id or host name.
        host: String,
    },
}

#[derive(Debug, Subcommand)]
enum ImportCommand {
    /// The people directory from a CSV file whose header row names the
    /// columns: name, logins (separated by ;), email, phones (separated by
    /// ;), extension, department, location. All or nothing: every bad row
    /// is named and then nothing is imported. A person already in the
    /// directory (same e-mail, else same first login) is replaced.
    People {
        /// The CSV file (`-`: standard input).
        file: std::path::PathBuf,
        /// Remove the people the file does not name.
        #[arg(long)]
        prune: bool,
    },
    /// Suppliers from a CSV file: name, kind (hardware-maker,
    /// software-publisher, reseller, service-provider), phone, email,
    /// portal, account, aliases (separated by ;), notes. A supplier of the
    /// same name is replaced. All or nothing.
    Suppliers {
        /// The CSV file (`-`: standard input).
        file: std::path::PathBuf,
    },
    /// Contracts from a CSV file: supplier, number, kind (support,
    /// warranty, lease, licence, maintenance), start, end (YYYY-MM-DD),
    /// notice_days, cost, response_hours, resolution_hours, hours, serials,
    /// models, tags, software (each separated by ;), seats, notes. A
    /// contract with the same supplier and number is replaced. All or nothing.
    Contracts {
        /// The CSV file (`-`: standard input).
        file: std::path::PathBuf,
    },
    /// Warranties per asset from a CSV file: asset (id), serial or
    /// hostname, supplier, start, end, notes. All or nothing.
    Warranties {
        /// The CSV file (`-`: standard input).
        file: std::path::PathBuf,
    },
}

impl Cli {
    fn format(&self) -> Format {
        if self.json {
            Format::Json
        } else if self.csv {
            Format::Csv
        } else {
            Format::Table
        }
    }
}

fn run(cli: Cli) -> Result<String, CliError> {
    let format = cli.format();
    let client = ApiClient::from_user(&cli.server, cli.token)?;
    let c = &client;
    match cli.command {
        Command::GenerateDocs { .. } => unreachable!("handled before the API is asked"),
        Command::Lookup { who, limit } => lookup::run(c, &who, limit, format),
        Command::Import(ImportCommand::People { file, prune }) => {
            people::import(c, &file, prune, format)
        }
        Command::Import(ImportCommand::Suppliers { file }) => {
            suppliers::import(c, "suppliers", &file, format)
        }
        Command::Import(ImportCommand::Contracts { file }) => {
            suppliers::import(c, "contracts", &file, format)
        }
        Command::Import(ImportCommand::Warranties { file }) => {
            suppliers::import(c, "warranties", &file, format)
        }
        Command::People => people::list(c, format),
        Command::Suppliers => suppliers::suppliers(c, format),
        Command::Contracts { expiring } => suppliers::contracts(c, expiring, format),
        Command::Warranty {
            action: None,
            expired,
            expiring,
        } => suppliers::warranty(c, expired, expiring, format),
        Command::Warranty {
            action:
                Some(WarrantyAction::Set {
                    host,
                    supplier,
                    end,
                    start,
                    notes,
                }),
            ..
        } => {
            let entry = serde_json::json!({
                "supplier": supplier, "end": end, "start": start, "notes": notes,
            });
            suppliers::set_warranty(c, &host, &entry, format)
        }
        Command::Warranty {
            action: Some(WarrantyAction::Remove { host }),
            ..
        } => suppliers::remove_warranty(c, &host),
        Command::Licences { seen } => suppliers::licences(c, seen, format),
        Command::Incidents { status, asset } => incidents::list(c, status, asset, format),
        Command::Incident { id } => incidents::show(c, id, format),
        Command::Diag {
            host,
            action,
            args,
            incident,
            wait,
        } => {
            let a = diag::DiagArgs {
                host,
                action,
                args,
                incident,
                wait_seconds: wait,
            };
            diag::run(c, &a, format)
        }
        Command::Diagnostic { id } => diag::show(c, &id, format),
        Command::Diagnostics { host } => diag::list(c, &host, format),
        Command::Ack { id } => incidents::act(c, id, &Action::Ack, format),
        Command::Assign { id, assignee } => {
            incidents::act(c, id, &Action::Assign(assignee), format)
        }
        Command::Note { id, text, public } => {
            incidents::act(c, id, &Action::Note(text, public), format)
        }
        Command::Escalate { id, supplier, case } => {
            let action = match supplier.zip(case) {
                Some((supplier, case)) => Action::Supplier(supplier, case),
                None => Action::Escalate,
            };
            incidents::act(c, id, &action, format)
        }
        Command::Resolve {
            id,
            solution,
            kb_article,
        } => {
            let action = Action::Resolve {
                solution,
                kb_article,
            };
            incidents::act(c, id, &action, format)
        }
        Command::Close { id } => incidents::act(c, id, &Action::Close, format),
        Command::Reopen { id } => incidents::act(c, id, &Action::Reopen, format),
        Command::Sla => incidents::sla(c, format),
        Command::Assets(filter) => assets::list(c, filter, format),
        Command::Asset { host, format: asked } => match asked {
            Some(AssetFormat::Glpi) => assets::glpi(c, &host),
            Some(AssetFormat::Table) => assets::show(c, &host, Format::Table),
            Some(AssetFormat::Csv) => assets::show(c, &host, Format::Csv),
            Some(AssetFormat::Json) => assets::show(c, &host, Format::Json),
            None => assets::show(c, &host, format),
        },
        Command::Software { name } => assets::software(c, name, format),
        Command::Changes {
            since,
            asset,
            limit,
        } => changes::run(c, since, asset, limit, format),
        Command::Metrics(query) => metrics::run(c, query, format),
        Command::Top(query) => metrics::top(c, query, format),
        Command::Kb(cmd) => kb::run(c, cmd, format),
        Command::Agents { policy: false } => agents::list(c, format),
        Command::Agents { policy: true } => agents::policies(c, format),
        Command::Devices => devices::list(c, format),
        Command::Device { name, action } => match (name, action) {
            (_, Some(action)) => devices::run(c, action, format),
            (Some(name), None) => devices::show(c, &name, format),
            (None, None) => Err(CliError::Usage(
                "name a device, or `atalaya device add ADDRESS …` / `atalaya device set NAME …` / `atalaya device remove NAME`"
                    .into(),
            )),
        },
        Command::Probes { asset } => probes::list(c, asset, format),
        Command::Interfaces { device, sort } => devices::interfaces(c, device, sort, format),
        Command::Topology { dot } => topology::run(c, dot, format),
        Command::Traps { device, limit } => devices::traps(c, device, limit, format),
        Command::Capacity(args) => capacity::run(c, args, format),
        Command::Report(cmd) => report::run(c, cmd, format),
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    if let Command::GenerateDocs { dir } = &cli.command {
        return match atalaya_common::cli_docs::write(Cli::command(), dir) {
            Ok(n) => {
                println!("{n} files written in {}", dir.display());
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("atalaya: {e:#}");
                ExitCode::FAILURE
            }
        };
    }
    match run(cli) {
        Ok(out) => {
            let mut stdout = std::io::stdout().lock();
            // A closed pipe (`| head`) is not an error worth reporting.
            let _ = stdout.write_all(out.as_bytes());
            ExitCode::SUCCESS
        }
        Err(e) => {
            if let CliError::NoMatch { output, .. } = &e {
                let _ = std::io::stdout().lock().write_all(output.as_bytes());
            }
            eprintln!("atalaya: {:#}", anyhow::Error::from(e));
            ExitCode::FAILURE
        }
    }
}
