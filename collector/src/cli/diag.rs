//! `atalaya diag HOST ACTION [ARGS...]`: asks a machine's agent to run a
//! diagnostic action and prints the result when it comes; `atalaya
//! diagnostic ID` shows one request, `atalaya diagnostics HOST` the
//! requests made to a machine.

use std::fmt::Write as _;
use std::time::{Duration, Instant};

use serde_json::json;

use super::client::ApiClient;
use super::{CliError, Format, Table, decode, opt, pretty};
use crate::api::diagnostics::DiagnosticView;

/// How often the result is asked for while waiting.
const POLL_EVERY: Duration = Duration::from_millis(500);

/// What `atalaya diag` asks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DiagArgs {
    /// Host name or asset id.
    pub host: String,
    /// Action name.
    pub action: String,
    /// Its arguments.
    pub args: Vec<String>,
    /// The incident it is for.
    pub incident: Option<u64>,
    /// Seconds to wait for the result (0: print the request and return).
    pub wait_seconds: u64,
}

/// Asks for the action, waits for its result, prints it. A refusal, a
/// failure, an expiry or no result within the wait is an error (after
/// the request is printed), so scripts see a non-zero exit.
pub fn run(client: &ApiClient, a: &DiagArgs, format: Format) -> Result<String, CliError> {
    let body = json!({
        "host": a.host,
        "action": a.action,
        "args": a.args,
        "incident": a.incident,
    });
    let answer = client.post("/api/v1/diagnostics", Some(&body))?;
    let mut view: DiagnosticView = decode(&answer, "the diagnostic request")?;
    let mut raw = answer;
    let deadline = Instant::now() + Duration::from_secs(a.wait_seconds);
    while view.result.is_none() && view.state != "expired" && Instant::now() < deadline {
        std::thread::sleep(POLL_EVERY.min(deadline.saturating_duration_since(Instant::now())));
        raw = client.get(&format!("/api/v1/diagnostics/{}", view.id), &[])?;
        view = decode(&raw, "the diagnostic request")?;
    }
    finish(&view, &raw, format, a.wait_seconds)
}

/// `atalaya diagnostic ID`: one request and its result.
pub fn show(client: &ApiClient, id: &str, format: Format) -> Result<String, CliError> {
    let raw = client.get(&format!("/api/v1/diagnostics/{id}"), &[])?;
    let view: DiagnosticView = decode(&raw, "the diagnostic request")?;
    if format == Format::Json {
        return Ok(pretty(&raw));
    }
    Ok(render(&view))
}

/// `atalaya diagnostics HOST`: the requests made to a machine, newest first.
pub fn list(client: &ApiClient, host: &str, format: Format) -> Result<String, CliError> {
    let raw = client.get("/api/v1/diagnostics", &[("host", Some(host.to_owned()))])?;
    if format == Format::Json {
        return Ok(pretty(&raw));
    }
    let views: Vec<DiagnosticView> = decode(&raw, "the diagnostic requests")?;
    let mut table = Table::new(["ID", "ISSUED", "BY", "INCIDENT", "ACTION", "STATE"]);
    // Newest first, as the server gives them.
    for v in &views {
        table.push(vec![
            v.id.clone(),
            v.issued_at.to_rfc3339().unwrap_or_default(),
            v.requested_by.clone(),
            opt(&v.incident),
            command(v),
            v.state.clone(),
        ]);
    }
    Ok(table.output(format))
}

fn command(v: &DiagnosticView) -> String {
    let mut s = v.action.clone();
    for arg in &v.args {
        s.push(' ');
        s.push_str(arg);
    }
    s
}

/// The request's heading line, then its output.
fn render(v: &DiagnosticView) -> String {
    let mut out = format!(
        "{} on {}: {} — {}",
        v.id,
        v.hostname
            .as_deref()
            .filter(|h| !h.is_empty())
            .or(v.asset.as_deref())
            .unwrap_or(&v.agent),
        command(v),
        v.state
    );
    if let Some(r) = &v.result {
        let _ = write!(out, " in {} ms", r.duration_ms);
        if let Some(reason) = &r.reason {
            let _ = write!(out, ": {reason}");
        }
        out.push('\n');
        out.push_str(&r.output);
        if !r.output.is_empty() && !r.output.ends_with('\n') {
            out.push('\n');
        }
        if r.truncated {
            out.push_str("(output cut at the agent's max_output_bytes)\n");
        }
    } else {
        out.push('\n');
    }
    out
}

fn finish(v: &DiagnosticView, raw: &str, format: Format, waited: u64) -> Result<String, CliError> {
    let output = if format == Format::Json {
        pretty(raw)
    } else {
        render(v)
    };
    let problem = match (&v.result, v.state.as_str()) {
        (Some(r), _) if r.outcome == "completed" => None,
        (Some(r), _) if r.outcome == "refused" => Some(format!(
            "the agent refused {}: {}",
            v.id,
            r.reason.as_deref().unwrap_or("no reason given")
        )),
        (Some(r), _) => Some(format!(
            "{} {}: {}",
            v.id,
            r.outcome,
            r.reason.as_deref().unwrap_or("no reason given")
        )),
        (None, "expired") => Some(format!(
            "{} expired before the agent answered (was it connected?)",
            v.id
        )),
        (None, _) if waited == 0 => None,
        (None, state) => Some(format!(
            "{} is still {state} after {waited} s; see `atalaya diagnostic {}` later",
            v.id, v.id
        )),
    };
    match problem {
        None => Ok(output),
        Some(message) => Err(CliError::NoMatch { message, output }),
    }
}
