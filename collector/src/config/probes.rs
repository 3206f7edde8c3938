//! `[[probe]]` tables: targets the collector pushes to agents, beyond the
//! gateway, DNS servers and collector every agent probes by default.
//!
//! ```toml
//! [[probe]]
//! kind = "tcp"            # icmp, tcp, dns or http
//! target = "db.corp.example"
//! port = 5432             # tcp: the port (or target = "host:port"); dns: default 53
//! tags = ["branch"]       # agents whose asset has one of these tags…
//! hosts = ["pos-*"]       # …or whose host name matches one of these patterns
//! ```
//!
//! A table with neither `tags` nor `hosts` applies to every agent. An
//! `http` probe names its `url` instead of a target; a `dns` probe may name
//! the `name` to ask for (default: the root's name servers).

use atalaya_common::config::{Document, Section};
use atalaya_common::model::{ProbeKind, ProbeTarget};

use crate::helpers::pattern::glob;

/// One `[[probe]]` table: a target and the agents that probe it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProbeRule {
    /// What the agents probe.
    pub target: ProbeTarget,
    /// Agents whose asset carries one of these tags.
    pub tags: Vec<String>,
    /// Agents whose host name matches one of these patterns (`*` for any run of characters).
    pub hosts: Vec<String>,
}

impl ProbeRule {
    /// Whether an agent with this host name and these asset tags probes it.
    pub fn applies_to(&self, hostname: &str, tags: &[String]) -> bool {
        if self.tags.is_empty() && self.hosts.is_empty() {
            return true;
        }
        let host = hostname.to_lowercase();
        self.tags.iter().any(|t| tags.contains(t))
            || self.hosts.iter().any(|p| glob(&p.to_lowercase(), &host))
    }
}

/// The targets of `rules` an agent with this host name and tags probes,
/// in file order, each once.
pub fn targets_for(rules: &[ProbeRule], hostname: &str, tags: &[String]) -> Vec<ProbeTarget> {
    let mut out: Vec<ProbeTarget> = Vec::new();
    for rule in rules.iter().filter(|r| r.applies_to(hostname, tags)) {
        if !out.contains(&rule.target) {
            out.push(rule.target.clone());
        }
    }
    out
}

/// Reads every `[[probe]]` table; a table with an error is left out (the
/// error is reported with the others).
pub fn parse(doc: &Document<'_>) -> Vec<ProbeRule> {
    doc.sections("probe").iter().filter_map(parse_one).collect()
}

fn parse_one(t: &Section<'_, '_>) -> Option<ProbeRule> {
    let names: Vec<&str> = ProbeKind::ALL.iter().map(|k| k.name()).collect();
    let kind_text = t.string("kind");
    let target = t.string("target").filter(|s| !s.is_empty());
    let port = t
        .has("port")
        .then(|| t.integer("port", 1, 1..=65_535, "port number"));
    let url = t.string("url").filter(|s| !s.is_empty());
    let name = t.string("name").unwrap_or_default();
    let tags = t.strings("tags", &[]);
    let hosts = t.strings("hosts", &[]);
    let Some(kind_text) = kind_text else {
        t.missing(
            "kind",
            format!("a probe needs a kind, one of {}", names.join(", ")),
        );
        return None;
    };
    let Some(kind) = ProbeKind::from_name(&kind_text) else {
        t.invalid(
            "kind",
            format!("expected one of {}, found {kind_text:?}", names.join(", ")),
        );
        return None;
    };
    let with_port = |host: &str, port: u64| {
        if host.contains(':') && !host.starts_with('[') {
            format!("[{host}]:{port}")
        } else {
            format!("{host}:{port}")
        }
    };
    let has_port = |host: &str| {
        host.parse::<std::net::SocketAddr>().is_ok()
            || host
                .rsplit_once(':')
                .is_some_and(|(h, p)| !h.contains(':') && p.parse::<u16>().is_ok())
    };
    let target = match kind {
        ProbeKind::Http => {
            if target.is_some() {
                t.invalid("target", "an http probe names its `url`, not a target");
                return None;
            }
            let Some(url) = url else {
                t.missing(
                    "url",
                    "an http probe needs `url`, e.g. \"https://intranet.corp.example/\"",
                );
                return None;
            };
            if !(url.starts_with("http://") || url.starts_with("https://")) {
                t.invalid(
                    "url",
                    format!("expected an http:// or https:// URL, found {url:?}"),
                );
                return None;
            }
            url
        }
        _ => {
            if url.is_some() {
                t.invalid(
                    "url",
                    format!("only http probes have a `url`; probes of kind {kind} have a `target`"),
                );
                return None;
            }
            let Some(host) = target else {
                t.missing(
                    "target",
                    format!("a probe of kind {kind} needs `target`, a host name or address"),
                );
                return None;
            };
            match (kind, port) {
                (ProbeKind::Icmp, Some(_)) => {
                    t.invalid("port", "an icmp probe has no port");
                    return None;
                }
                (ProbeKind::Tcp, None) if !has_port(&host) => {
                    t.missing(
                        "port",
                        "a tcp probe needs `port`, or a target written host:port",
                    );
                    return None;
                }
                (_, Some(p)) => with_port(&host, p),
                _ => host,
            }
        }
    };
    if !name.is_empty() && kind != ProbeKind::Dns {
        t.invalid("name", "only dns probes ask for a `name`");
        return None;
    }
    Some(ProbeRule {
        target: ProbeTarget { kind, target, name },
        tags,
        hosts,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parsed(text: &str) -> Result<Vec<ProbeRule>, Vec<String>> {
        let doc = Document::parse("c.toml", text).map_err(|e| vec![e.to_string()])?;
        let rules = parse(&doc);
        match doc.finish() {
            Ok(()) => Ok(rules),
            Err(e) => Err(e.0.iter().map(ToString::to_string).collect()),
        }
    }

    #[test]
    fn each_kind_is_read_into_its_target() {
        let text = r#"
[[probe]]
kind = "icmp"
target = "10.0.0.1"
[[probe]]
kind = "tcp"
target = "db.corp.example"
port = 5432
tags = ["branch"]
[[probe]]
kind = "tcp"
target = "fd00::5"
port = 22
[[probe]]
kind = "dns"
target = "10.0.0.53"
name = "intranet.corp.example"
hosts = ["pos-*"]
[[probe]]
kind = "http"
url = "https://intranet.corp.example/health"
"#;
        let rules = parsed(text).unwrap();
        let shown: Vec<String> = rules
            .iter()
            .map(|r| format!("{} {}", r.target.kind, r.target.label()))
            .collect();
        assert_eq!(
            shown,
            [
                "icmp 10.0.0.1",
                "tcp db.corp.example:5432",
                "tcp [fd00::5]:22",
                "dns intranet.corp.example@10.0.0.53",
                "http https://intranet.corp.example/health"
            ]
        );
        assert_eq!(rules[1].tags, ["branch"]);
    }

    #[test]
    fn agents_are_chosen_by_tag_or_host_name() {
        let text = r#"
[[probe]]
kind = "icmp"
target = "core"
[[probe]]
kind = "tcp"
target = "db:5432"
tags = ["branch"]
[[probe]]
kind = "icmp"
target = "till-gw"
hosts = ["POS-*"]
"#;
        let rules = parsed(text).unwrap();
        let labels = |host: &str, tags: &[&str]| -> Vec<String> {
            let tags: Vec<String> = tags.iter().map(|s| (*s).to_owned()).collect();
            targets_for(&rules, host, &tags)
                .iter()
                .map(ProbeTarget::label)
                .collect()
        };
        assert_eq!(labels("web-01", &[]), ["core"]);
        assert_eq!(labels("web-01", &["branch"]), ["core", "db:5432"]);
        assert_eq!(labels("pos-7", &[]), ["core", "till-gw"]);
    }

    #[test]
    fn mistakes_are_reported_with_their_line() {
        let text = r#"
[[probe]]
kind = "ping"
target = "x"
[[probe]]
kind = "tcp"
target = "db"
[[probe]]
kind = "http"
url = "intranet"
[[probe]]
kind = "icmp"
colour = "red"
"#;
        assert_eq!(
            parsed(text).unwrap_err(),
            [
                "c.toml:3:8: `probe[0].kind`: expected one of icmp, tcp, dns, http, found \"ping\"",
                "c.toml:5:1: `probe[1].port`: a tcp probe needs `port`, or a target written host:port",
                "c.toml:10:7: `probe[2].url`: expected an http:// or https:// URL, found \"intranet\"",
                "c.toml:11:1: `probe[3].target`: a probe of kind icmp needs `target`, a host name or address",
                "c.toml:13:1: `probe[3].colour`: unknown key (known keys here: hosts, kind, name, tags, target, url)",
            ]
        );
    }
}
