//! `atalaya agents`: the enrolled agents, and with `--policy` who runs
//! what of the agent policies (admin token).

use super::client::ApiClient;
use super::{CliError, Format, Table, decode, pretty, seconds};
use atalaya_common::model::Timestamp;
use serde::Deserialize;

use crate::api::agents::AgentPolicyView;

/// The fields of `GET /api/v1/agents` the list shows.
#[derive(Debug, Deserialize)]
struct AgentRow {
    id: String,
    hostname: String,
    status: String,
    agent_version: String,
    last_seen: Option<Timestamp>,
    asset_id: Option<String>,
}

/// The agents with their status, version and last contact.
pub fn list(client: &ApiClient, format: Format) -> Result<String, CliError> {
    let body = client.get("/api/v1/agents", &[])?;
    if format == Format::Json {
        return Ok(pretty(&body));
    }
    let agents: Vec<AgentRow> = decode(&body, "the agents")?;
    let mut t = Table::new(["ID", "HOST", "STATUS", "VERSION", "LAST SEEN", "ASSET"]);
    for a in &agents {
        t.push([
            a.id.clone(),
            a.hostname.clone(),
            a.status.clone(),
            a.agent_version.clone(),
            a.last_seen.map(seconds).unwrap_or_default(),
            a.asset_id.clone().unwrap_or_default(),
        ]);
    }
    Ok(t.output(format))
}

/// Per agent: the policies it is to run and those it runs, the keys its
/// own file pins against them, and the keys it refused.
pub fn policies(client: &ApiClient, format: Format) -> Result<String, CliError> {
    let body = client.get("/api/v1/agents/policy", &[])?;
    if format == Format::Json {
        return Ok(pretty(&body));
    }
    let agents: Vec<AgentPolicyView> = decode(&body, "the agents' policies")?;
    Ok(policy_table(&agents).output(format))
}

fn policy_table(agents: &[AgentPolicyView]) -> Table {
    let mut t = Table::new([
        "HOST", "STATUS", "POLICY", "RUNNING", "IN SYNC", "PINNED", "REFUSED",
    ]);
    let none = || "-".to_owned();
    for a in agents {
        let wanted = if a.wanted.is_empty() {
            none()
        } else {
            a.wanted.join(", ")
        };
        let running = match &a.running {
            None => "never said".to_owned(),
            Some(list) if list.is_empty() => none(),
            Some(list) => list.join(", "),
        };
        let pinned: Vec<String> = a
            .pinned
            .iter()
            .map(|p| match &p.policy {
                Some(policy) if *policy != p.local => {
                    format!("{}={} (policy {policy})", p.key, p.local)
                }
                _ => format!("{}={}", p.key, p.local),
            })
            .collect();
        let refused: Vec<String> = a
            .refused
            .iter()
            .map(|r| format!("{}: {}", r.key, r.reason))
            .collect();
        t.push([
            a.hostname.clone(),
            a.status.clone(),
            wanted,
            running,
            if a.in_sync { "yes" } else { "no" }.to_owned(),
            if pinned.is_empty() {
                none()
            } else {
                pinned.join("; ")
            },
            if refused.is_empty() {
                none()
            } else {
                refused.join("; ")
            },
        ]);
    }
    t
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::agents::PinnedKey;

    #[test]
    fn a_pinned_key_shows_the_policy_value_it_overrides() {
        let view = AgentPolicyView {
            id: "ag-1".into(),
            hostname: "till-7".into(),
            status: "connected".into(),
            wanted: vec!["branch v2".into(), "fleet v1".into()],
            running: Some(vec!["branch v1".into(), "fleet v1".into()]),
            in_sync: false,
            pinned: vec![
                PinnedKey {
                    key: "log.level".into(),
                    local: "\"warn\"".into(),
                    policy: Some("\"debug\"".into()),
                },
                PinnedKey {
                    key: "spool.max_bytes".into(),
                    local: "1048576".into(),
                    policy: None,
                },
            ],
            refused: Vec::new(),
            effective: Vec::new(),
            reported_at: None,
        };
        let shown = policy_table(&[view]).render();
        assert!(shown.contains("branch v2, fleet v1"), "{shown}");
        assert!(shown.contains("branch v1, fleet v1"), "{shown}");
        assert!(
            shown.contains("log.level=\"warn\" (policy \"debug\"); spool.max_bytes=1048576"),
            "{shown}"
        );
        assert!(shown.contains(" no "), "{shown}");
    }
}
