//! `atalaya kb`: search, show and add knowledge-base articles.

use std::fmt::Write as _;

use super::client::ApiClient;
use super::{CliError, Format, Table, decode, pretty, render_pairs, seconds};
use crate::kb::{Article, NewArticle, Signature};

/// `atalaya kb …`.
#[derive(Debug, clap::Subcommand)]
pub enum Command {
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
    Add(NewArticleArgs),
}

/// `atalaya kb add`: the article and the incidents it fits.
#[derive(Debug, Clone, clap::Args)]
pub struct NewArticleArgs {
    /// One line.
    #[arg(long)]
    pub title: String,
    /// What people see when it happens.
    #[arg(long, default_value = "")]
    pub symptoms: String,
    /// What fixes it.
    #[arg(long)]
    pub solution: String,
    /// Fits incidents of this rule.
    #[arg(long)]
    pub rule: Option<String>,
    /// Fits incidents on this metric, e.g. filesystem.used_percent.
    #[arg(long)]
    pub metric: Option<String>,
    /// Fits incidents involving this package (NAME or NAME=VERSION_GLOB).
    #[arg(long)]
    pub software: Option<String>,
    /// Fits incidents on assets with this OS id (debian, rhel…).
    #[arg(long)]
    pub os: Option<String>,
}

/// Runs one `atalaya kb` command.
pub fn run(client: &ApiClient, cmd: Command, format: Format) -> Result<String, CliError> {
    match cmd {
        Command::Search { words, limit } => search(client, &words, limit, format),
        Command::Show { id } => show(client, id, format),
        Command::Add(args) => add(client, args, format),
    }
}

/// Articles that hold every word.
fn search(
    client: &ApiClient,
    words: &[String],
    limit: usize,
    format: Format,
) -> Result<String, CliError> {
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

/// One article in full.
fn show(client: &ApiClient, id: u64, format: Format) -> Result<String, CliError> {
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
        ("Created".into(), seconds(a.created_at)),
        ("Updated".into(), seconds(a.updated_at)),
    ]);
    let _ = write!(
        out,
        "\nSymptoms:\n{}\n\nSolution:\n{}\n",
        a.symptoms, a.solution
    );
    Ok(out)
}

/// Writes a new article.
fn add(client: &ApiClient, args: NewArticleArgs, format: Format) -> Result<String, CliError> {
    let (software, software_version) = match args.software {
        Some(s) => match s.split_once('=') {
            Some((n, v)) => (Some(n.to_owned()), Some(v.to_owned())),
            None => (Some(s), None),
        },
        None => (None, None),
    };
    let new = NewArticle {
        title: args.title,
        symptoms: args.symptoms,
        solution: args.solution,
        signature: Signature {
            rule: args.rule,
            metric: args.metric,
            software,
            software_version,
            os: args.os,
        },
    };
    let request = serde_json::to_value(&new).map_err(|source| CliError::Encode {
        what: "the new article",
        source,
    })?;
    let body = client.post("/api/v1/kb", Some(&request))?;
    if format == Format::Json {
        return Ok(pretty(&body));
    }
    let a: Article = decode(&body, "the new article")?;
    Ok(format!("added article {}: {}\n", a.id, a.title))
}

/// A signature in one line: `rule=… metric=… software=NAME[=VERSION] os=…`.
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
