//! `atalaya`: the command line for help desk and managers. It asks the
//! collector's HTTP API and prints aligned tables, or `--json` / `--csv`.
//!
//! The server and token come from `--server`/`--token` or the
//! `ATALAYA_SERVER`/`ATALAYA_TOKEN` environment variables.

use std::io::Write as _;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, anyhow, bail};
use atalaya_collector::api::{ErrorBody, MetricSeries};
use atalaya_collector::cli::{Format, Table, changes, lookup_table, render_lookup, render_pairs};
use atalaya_collector::incidents::lifecycle::IncidentRecord;
use atalaya_collector::kb::{Article, NewArticle, Signature};
use atalaya_collector::store::{
    AssetRecord, AssetSummary, ChangeEvent, Lookup, Page, SlaReport, SoftwareReport,
};
use atalaya_common::diff;
use atalaya_common::model::Timestamp;
use atalaya_common::render;
use clap::{Args, Parser, Subcommand};

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
    /// A caller's machines: who is logged in where, health now, open incidents.
    Lookup {
        /// A login name, a full name, a host name or FQDN, or a host pattern with `*`.
        who: String,
        /// Most machines.
        #[arg(long, default_value_t = 20)]
        limit: usize,
    },
    /// Incidents, newest first.
    Incidents {
        /// open, acknowledged, resolved or closed; active is open or acknowledged (the queue).
        #[arg(long)]
        status: Option<String>,
        /// Asset id or host name.
        #[arg(long)]
        asset: Option<String>,
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
    },
    /// Move an incident to second level.
    Escalate {
        /// Incident number.
        id: u64,
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
    Assets(AssetsArgs),
    /// One asset: host, OS, hardware, disks, network, packages.
    Asset {
        /// Host name or asset id.
        host: String,
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
    Metrics {
        /// Host name or asset id.
        host: String,
        /// Series name, e.g. `cpu.usage_percent` (omit to list them).
        name: Option<String>,
        /// Start: a duration ago or an RFC 3339 time.
        #[arg(long, default_value = "1h")]
        from: String,
        /// End (default now).
        #[arg(long)]
        to: Option<String>,
        /// Average over steps of this length, e.g. 1m.
        #[arg(long)]
        step: Option<String>,
    },
    /// The knowledge base: search, show and add articles.
    #[command(subcommand)]
    Kb(KbCommand),
}

#[derive(Debug, Subcommand)]
enum KbCommand {
    /// Articles whose title, symptoms or solution hold every word.
    Search {
        /// Words (none: every article).
        words: Vec<String>,
        /// Most articles.
        #[arg(long, default_value_t = 20)]
        limit: usize,
    },
    /// One article in full.
    Show {
        /// Article number.
        id: u64,
    },
    /// Write a new article (helpdesk or admin token).
    Add {
        /// One line.
        #[arg(long)]
        title: String,
        /// What people see when it happens.
        #[arg(long, default_value = "")]
        symptoms: String,
        /// What fixes it.
        #[arg(long)]
        solution: String,
        /// Fits incidents of this rule.
        #[arg(long)]
        rule: Option<String>,
        /// Fits incidents on this metric, e.g. filesystem.used_percent.
        #[arg(long)]
        metric: Option<String>,
        /// Fits incidents involving this package (NAME or NAME=VERSION_GLOB).
        #[arg(long)]
        software: Option<String>,
        /// Fits incidents on assets with this OS id (debian, rhel…).
        #[arg(long)]
        os: Option<String>,
    },
}

#[derive(Debug, Args)]
struct AssetsArgs {
    /// Host name, exact or with `*`.
    #[arg(long)]
    hostname: Option<String>,
    /// OS id (debian, rhel…) or part of its name.
    #[arg(long)]
    os: Option<String>,
    /// Has this package installed.
    #[arg(long)]
    software: Option<String>,
    /// With --software: lowest version.
    #[arg(long)]
    version_min: Option<String>,
    /// With --software: highest version.
    #[arg(long)]
    version_max: Option<String>,
    /// Carries this tag.
    #[arg(long)]
    tag: Option<String>,
    /// Seen after (duration ago or RFC 3339).
    #[arg(long)]
    seen_after: Option<String>,
    /// Seen before (duration ago or RFC 3339).
    #[arg(long)]
    seen_before: Option<String>,
    /// Most assets.
    #[arg(long, default_value_t = 100)]
    limit: usize,
    /// Skip this many.
    #[arg(long, default_value_t = 0)]
    offset: usize,
}

/// A configured HTTP client for the API.
struct Client {
    agent: ureq::Agent,
    server: String,
    token: String,
}

impl Client {
    fn new(server: &str, token: Option<String>) -> anyhow::Result<Self> {
        let token = token.filter(|t| !t.trim().is_empty()).ok_or_else(|| {
            anyhow!("no API token: set ATALAYA_TOKEN or pass --token (an administrator makes one with `atalaya-collector api-token create`)")
        })?;
        let agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(Duration::from_secs(60)))
            .build()
            .into();
        Ok(Client {
            agent,
            server: server.trim_end_matches('/').to_owned(),
            token,
        })
    }

    /// GETs a path with query pairs (absent values skipped); returns the body text.
    fn get(&self, path: &str, query: &[(&str, Option<String>)]) -> anyhow::Result<String> {
        let url = format!("{}{path}", self.server);
        let mut req = self
            .agent
            .get(&url)
            .header("Authorization", &format!("Bearer {}", self.token));
        for (k, v) in query {
            if let Some(v) = v {
                req = req.query(*k, v);
            }
        }
        let result = req.call();
        self.answer(result, &url)
    }

    /// POSTs a JSON body; returns the body text.
    fn post(&self, path: &str, body: &serde_json::Value) -> anyhow::Result<String> {
        let url = format!("{}{path}", self.server);
        let result = self
            .agent
            .post(&url)
            .header("Authorization", &format!("Bearer {}", self.token))
            .header("Content-Type", "application/json")
            .send(body.to_string().as_bytes());
        self.answer(result, &url)
    }

    fn answer(
        &self,
        result: Result<ureq::http::Response<ureq::Body>, ureq::Error>,
        url: &str,
    ) -> anyhow::Result<String> {
        let mut resp = match result {
            Ok(r) => r,
            Err(
                e @ (ureq::Error::Io(_)
                | ureq::Error::ConnectionFailed
                | ureq::Error::HostNotFound
                | ureq::Error::Timeout(_)),
            ) => bail!(
                "cannot reach ATALAYA_SERVER={}: {e} (is the collector running, and is this its API address?)",
                self.server
            ),
            Err(e) => bail!("request to {url} failed: {e}"),
        };
        let status = resp.status().as_u16();
        let body = resp
            .body_mut()
            .read_to_string()
            .with_context(|| format!("reading the answer from {url}"))?;
        if (200..300).contains(&status) {
            return Ok(body);
        }
        let msg = serde_json::from_str::<ErrorBody>(&body)
            .map(|e| e.error)
            .unwrap_or(body);
        match status {
            401 => bail!(
                "the server refused the token (401): set ATALAYA_TOKEN or --token to a valid API token ({msg})"
            ),
            403 => bail!("the token is not allowed to do this (403): {msg}"),
            409 => bail!("refused (409): {msg}"),
            _ => bail!("{msg} ({status})"),
        }
    }
}

/// `atalaya kb …`.
fn kb(client: &Client, cmd: KbCommand, format: Format) -> anyhow::Result<String> {
    match cmd {
        KbCommand::Search { words, limit } => {
            let body = client.get(
                "/api/v1/kb",
                &[
                    ("q", Some(words.join(" "))),
                    ("limit", Some(limit.to_string())),
                ],
            )?;
            if format == Format::Json {
                return Ok(pretty(&body));
            }
            let found: Vec<Article> = decode(&body, "the knowledge base")?;
            let mut t = Table::new(["ID", "TITLE", "SIGNATURE", "SUGGESTED", "SOLVED"]);
            for a in &found {
                t.push([
                    a.id.to_string(),
                    a.title.clone(),
                    signature(&a.signature),
                    a.suggested.to_string(),
                    a.solved.to_string(),
                ]);
            }
            let mut out = t.output(format);
            if format == Format::Table && found.is_empty() {
                out.push_str("no article matches\n");
            }
            Ok(out)
        }
        KbCommand::Show { id } => {
            let body = client.get(&format!("/api/v1/kb/{id}"), &[])?;
            if format == Format::Json {
                return Ok(pretty(&body));
            }
            let a: Article = decode(&body, "the article")?;
            let mut out = render_pairs(&[
                ("Article".into(), a.id.to_string()),
                ("Title".into(), a.title.clone()),
                ("Signature".into(), signature(&a.signature)),
                (
                    "Suggested".into(),
                    format!("{} times, solved {} times", a.suggested, a.solved),
                ),
                ("Created".into(), when(a.created_at)),
                ("Updated".into(), when(a.updated_at)),
            ]);
            out.push_str(&format!(
                "\nSymptoms:\n{}\n\nSolution:\n{}\n",
                a.symptoms, a.solution
            ));
            Ok(out)
        }
        KbCommand::Add {
            title,
            symptoms,
            solution,
            rule,
            metric,
            software,
            os,
        } => {
            let (software, software_version) = match software {
                Some(s) => match s.split_once('=') {
                    Some((n, v)) => (Some(n.to_owned()), Some(v.to_owned())),
                    None => (Some(s), None),
                },
                None => (None, None),
            };
            let new = NewArticle {
                title,
                symptoms,
                solution,
                signature: Signature {
                    rule,
                    metric,
                    software,
                    software_version,
                    os,
                },
            };
            let body = client.post("/api/v1/kb", &serde_json::to_value(&new)?)?;
            if format == Format::Json {
                return Ok(pretty(&body));
            }
            let a: Article = decode(&body, "the new article")?;
            Ok(format!("added article {}: {}\n", a.id, a.title))
        }
    }
}

/// A signature in one line: `rule=… metric=… software=…@… os=…`.
fn signature(s: &Signature) -> String {
    let mut parts = Vec::new();
    if let Some(r) = &s.rule {
        parts.push(format!("rule={r}"));
    }
    if let Some(m) = &s.metric {
        parts.push(format!("metric={m}"));
    }
    if let Some(n) = &s.software {
        match &s.software_version {
            Some(v) => parts.push(format!("software={n}={v}")),
            None => parts.push(format!("software={n}")),
        }
    }
    if let Some(o) = &s.os {
        parts.push(format!("os={o}"));
    }
    parts.join(" ")
}

fn decode<T: serde::de::DeserializeOwned>(body: &str, what: &str) -> anyhow::Result<T> {
    serde_json::from_str(body)
        .with_context(|| format!("the server's answer for {what} does not parse"))
}

fn pretty(body: &str) -> String {
    serde_json::from_str::<serde_json::Value>(body)
        .ok()
        .and_then(|v| serde_json::to_string_pretty(&v).ok())
        .map_or_else(|| body.to_owned(), |s| s + "\n")
}

fn opt<T: ToString>(v: &Option<T>) -> String {
    v.as_ref().map(ToString::to_string).unwrap_or_default()
}

fn run(cli: Cli) -> anyhow::Result<String> {
    let format = if cli.json {
        Format::Json
    } else if cli.csv {
        Format::Csv
    } else {
        Format::Table
    };
    let client = Client::new(&cli.server, cli.token)?;
    let act = |id: u64, verb: &str, body: serde_json::Value| -> anyhow::Result<String> {
        let answer = client.post(&format!("/api/v1/incidents/{id}/{verb}"), &body)?;
        if format == Format::Json {
            return Ok(pretty(&answer));
        }
        let rec: IncidentRecord = decode(&answer, "the incident")?;
        Ok(format!(
            "incident {}: {} (level {})\n",
            rec.id,
            rec.status.name(),
            rec.level
        ))
    };
    match cli.command {
        Command::Kb(cmd) => kb(&client, cmd, format),
        Command::Lookup { who, limit } => {
            let body = client.get(
                "/api/v1/lookup",
                &[("q", Some(who.clone())), ("limit", Some(limit.to_string()))],
            )?;
            let found: Lookup = decode(&body, "the lookup")?;
            let out = match format {
                Format::Json => pretty(&body),
                Format::Table => render_lookup(&found),
                Format::Csv => lookup_table(&found).to_csv(),
            };
            if found.total == 0 {
                return Err(NoMatch {
                    message: format!("no machine found for {}", who.trim()),
                    output: if format == Format::Json {
                        out
                    } else {
                        String::new()
                    },
                }
                .into());
            }
            Ok(out)
        }
        Command::Incidents { status, asset } => {
            let body = client.get("/api/v1/incidents", &[("status", status), ("asset", asset)])?;
            if format == Format::Json {
                return Ok(pretty(&body));
            }
            let list: Vec<IncidentRecord> = decode(&body, "incidents")?;
            let mut t = Table::new([
                "ID", "PRIORITY", "STATUS", "LEVEL", "ASSIGNEE", "OPENED", "TITLE",
            ]);
            for r in &list {
                let mut title = r.title.clone();
                if r.flapping {
                    title.push_str(" [flapping]");
                }
                t.push([
                    r.id.to_string(),
                    r.priority.name().to_owned(),
                    r.status.name().to_owned(),
                    r.level.to_string(),
                    opt(&r.assignee),
                    when(r.opened_at),
                    title,
                ]);
            }
            Ok(t.output(format))
        }
        Command::Incident { id } => {
            let body = client.get(&format!("/api/v1/incidents/{id}"), &[])?;
            if format == Format::Json {
                return Ok(pretty(&body));
            }
            let r: IncidentRecord = decode(&body, "the incident")?;
            let yes_no = |b: bool| if b { "BREACHED" } else { "ok" };
            let pairs = vec![
                ("incident".to_owned(), r.id.to_string()),
                ("title".to_owned(), r.title.clone()),
                ("asset".to_owned(), r.asset.clone()),
                ("rule".to_owned(), r.rule.clone()),
                ("severity".to_owned(), r.severity.name().to_owned()),
                ("priority".to_owned(), r.priority.name().to_owned()),
                ("status".to_owned(), r.status.name().to_owned()),
                ("level".to_owned(), r.level.to_string()),
                ("assignee".to_owned(), opt(&r.assignee)),
                ("occurrences".to_owned(), r.occurrences.to_string()),
                ("flapping".to_owned(), r.flapping.to_string()),
                ("opened".to_owned(), when(r.opened_at)),
                (
                    "acknowledge by".to_owned(),
                    format!(
                        "{} ({})",
                        when(r.acknowledge_due),
                        yes_no(r.acknowledge_breached)
                    ),
                ),
                (
                    "resolve by".to_owned(),
                    format!("{} ({})", when(r.resolve_due), yes_no(r.resolve_breached)),
                ),
                ("solution".to_owned(), opt(&r.solution)),
            ];
            let mut out = render_pairs(&pairs);
            if !r.kb_articles.is_empty() {
                out.push_str("\nKnowledge base (best first):\n");
                for id in &r.kb_articles {
                    // An article deleted or unreadable still shows its number.
                    let title = client
                        .get(&format!("/api/v1/kb/{id}"), &[])
                        .ok()
                        .and_then(|b| serde_json::from_str::<Article>(&b).ok())
                        .map(|a| {
                            format!(
                                "{} (solved {} of {} times suggested)",
                                a.title, a.solved, a.suggested
                            )
                        })
                        .unwrap_or_else(|| "(not readable)".to_owned());
                    out.push_str(&format!("  #{id}  {title}\n"));
                }
            }
            out.push_str(&format!("\n{}\n\n", r.description));
            let mut t = Table::new(["WHEN", "WHO", "EVENT", "TEXT"]);
            for e in &r.timeline {
                t.push([
                    when(e.at),
                    e.author.clone(),
                    e.event.clone(),
                    e.text.clone(),
                ]);
            }
            out.push_str(&t.output(format));
            Ok(out)
        }
        Command::Ack { id } => act(id, "ack", serde_json::json!({})),
        Command::Assign { id, assignee } => {
            act(id, "assign", serde_json::json!({ "assignee": assignee }))
        }
        Command::Note { id, text } => act(id, "note", serde_json::json!({ "text": text })),
        Command::Escalate { id } => act(id, "escalate", serde_json::json!({})),
        Command::Resolve {
            id,
            solution,
            kb_article,
        } => act(
            id,
            "resolve",
            serde_json::json!({ "solution": solution, "kb_article": kb_article }),
        ),
        Command::Close { id } => act(id, "close", serde_json::json!({})),
        Command::Reopen { id } => act(id, "reopen", serde_json::json!({})),
        Command::Sla => {
            let body = client.get("/api/v1/sla", &[])?;
            if format == Format::Json {
                return Ok(pretty(&body));
            }
            let report: SlaReport = decode(&body, "the SLA report")?;
            let mut t = Table::new([
                "PRIORITY",
                "INCIDENTS",
                "ACTIVE",
                "ACK MET",
                "ACK BREACHED",
                "RESOLVE MET",
                "RESOLVE BREACHED",
                "MEAN ACK S",
                "MEAN RESOLVE S",
            ]);
            let secs = |v: Option<f64>| v.map(|v| format!("{v:.0}")).unwrap_or_default();
            for l in &report.priorities {
                t.push([
                    l.priority.clone(),
                    l.incidents.to_string(),
                    l.active.to_string(),
                    l.acknowledge_met.to_string(),
                    l.acknowledge_breached.to_string(),
                    l.resolve_met.to_string(),
                    l.resolve_breached.to_string(),
                    secs(l.mean_acknowledge_seconds),
                    secs(l.mean_resolve_seconds),
                ]);
            }
            Ok(t.output(format))
        }
        Command::Assets(a) => {
            let body = client.get(
                "/api/v1/assets",
                &[
                    ("hostname", a.hostname),
                    ("os", a.os),
                    ("software", a.software),
                    ("version_min", a.version_min),
                    ("version_max", a.version_max),
                    ("tag", a.tag),
                    ("seen_after", a.seen_after),
                    ("seen_before", a.seen_before),
                    ("limit", Some(a.limit.to_string())),
                    ("offset", Some(a.offset.to_string())),
                ],
            )?;
            if format == Format::Json {
                return Ok(pretty(&body));
            }
            let page: Page<AssetSummary> = decode(&body, "assets")?;
            let mut t = Table::new(["ID", "HOSTNAME", "OS", "TAGS", "LAST SEEN"]);
            for s in &page.items {
                let mut host = s.hostname.clone();
                if s.possible_clone {
                    host.push_str(" (possible clone)");
                }
                t.push([
                    s.id.clone(),
                    host,
                    opt(&s.os),
                    s.tags.join(" "),
                    when(s.last_seen),
                ]);
            }
            let mut out = t.output(format);
            if format == Format::Table {
                let shown = page.offset + page.items.len();
                out.push_str(&format!("{} of {} assets", shown, page.total));
                if let Some(next) = page.next_offset {
                    out.push_str(&format!(" (next: --offset {next})"));
                }
                out.push('\n');
            }
            Ok(out)
        }
        Command::Asset { host } => {
            let body = client.get(&format!("/api/v1/assets/{}", path_seg(&host)), &[])?;
            if format == Format::Json {
                return Ok(pretty(&body));
            }
            let a: AssetRecord = decode(&body, "the asset")?;
            Ok(asset_summary(&a, format))
        }
        Command::Software { name } => {
            let body = client.get("/api/v1/software", &[("name", Some(name))])?;
            if format == Format::Json {
                return Ok(pretty(&body));
            }
            let r: SoftwareReport = decode(&body, "software")?;
            let mut t = Table::new(["PACKAGE", "VERSION", "COUNT", "HOSTS"]);
            for p in &r.packages {
                for v in &p.versions {
                    let hosts: Vec<&str> = v.assets.iter().map(|a| a.hostname.as_str()).collect();
                    t.push([
                        p.name.clone(),
                        v.version.clone(),
                        v.count.to_string(),
                        hosts.join(" "),
                    ]);
                }
            }
            let mut out = t.output(format);
            if format == Format::Table {
                for p in &r.packages {
                    out.push_str(&format!("{}: {} assets\n", p.name, p.assets));
                }
                if r.packages.is_empty() {
                    out.push_str(&format!("no asset has a package matching `{}`\n", r.query));
                }
            }
            Ok(out)
        }
        Command::Changes {
            since,
            asset,
            limit,
        } => {
            let q = [("since", Some(since)), ("limit", Some(limit.to_string()))];
            let body = match asset {
                Some(a) => client.get(&format!("/api/v1/assets/{}/changes", path_seg(&a)), &q)?,
                None => client.get("/api/v1/changes", &q)?,
            };
            if format == Format::Json {
                return Ok(pretty(&body));
            }
            let events: Vec<ChangeEvent> = decode(&body, "changes")?;
            Ok(changes::table(&events).output(format))
        }
        Command::Metrics {
            host,
            name,
            from,
            to,
            step,
        } => {
            let body = client.get(
                &format!("/api/v1/assets/{}/metrics", path_seg(&host)),
                &[
                    ("name", name.clone()),
                    ("from", Some(from)),
                    ("to", to),
                    ("step", step),
                ],
            )?;
            if format == Format::Json {
                return Ok(pretty(&body));
            }
            if name.is_none() {
                let v: serde_json::Value = decode(&body, "series names")?;
                let mut t = Table::new(["SERIES"]);
                for s in v["series"].as_array().into_iter().flatten() {
                    t.push([s.as_str().unwrap_or_default().to_owned()]);
                }
                return Ok(t.output(format));
            }
            let m: MetricSeries = decode(&body, "the metric")?;
            let mut t = Table::new(["TIME", "VALUE"]);
            for (at, v) in &m.points {
                t.push([when(*at), format!("{v}")]);
            }
            Ok(t.output(format))
        }
    }
}

/// Nothing matched: a failure, though with `--json` the (empty) answer is
/// still printed for scripts.
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
struct NoMatch {
    message: String,
    output: String,
}

/// Percent-encodes a path segment (host names are plain, but be safe).
fn path_seg(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// A time for tables: whole seconds read better than milliseconds.
fn when(t: Timestamp) -> String {
    Timestamp::from_secs(t.as_secs()).to_string()
}

/// The asset's record, then its inventory in the lines every Atalaya
/// screen shows. Volatile values (free space…) are left out: the
/// collector's copy of them is only as fresh as the last snapshot; the
/// metrics have them now.
fn asset_summary(a: &AssetRecord, format: Format) -> String {
    let m = &a.meta;
    let mut p: Vec<(String, String)> = vec![
        ("Asset".into(), m.id.clone()),
        ("Host".into(), m.hostname.clone()),
    ];
    if a.inventory.is_none() {
        p.push(("Inventory".into(), "none received yet".into()));
    }
    if !m.tags.is_empty() {
        p.push(("Tags".into(), m.tags.join(" ")));
    }
    p.push(("Agents".into(), m.agent_ids.join(" ")));
    if !m.possible_clones.is_empty() {
        p.push(("Possible clone of".into(), m.possible_clones.join(" ")));
    }
    p.push(("First seen".into(), when(m.first_seen)));
    p.push(("Last seen".into(), when(m.last_seen)));
    let lines = a
        .inventory
        .as_ref()
        .map(|inv| render::summary(&diff::without_volatile(inv)))
        .unwrap_or_default();
    if format == Format::Csv {
        let mut t = Table::new(["field", "value"]);
        for (k, v) in p {
            t.push([k, v]);
        }
        for l in lines {
            t.push([l.topic.to_owned(), l.text]);
        }
        return t.to_csv();
    }
    let mut out = render_pairs(&p);
    if !lines.is_empty() {
        out.push('\n');
        out.push_str(&render::text(&lines, ""));
    }
    out
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(out) => {
            let mut stdout = std::io::stdout().lock();
            // A closed pipe (`| head`) is not an error worth reporting.
            let _ = stdout.write_all(out.as_bytes());
            ExitCode::SUCCESS
        }
        Err(e) => {
            if let Some(NoMatch { output, .. }) = e.downcast_ref::<NoMatch>() {
                let _ = std::io::stdout().lock().write_all(output.as_bytes());
            }
            eprintln!("atalaya: {e:#}");
            ExitCode::FAILURE
        }
    }
}
