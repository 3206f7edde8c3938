//! `[agent_policy.NAME]` tables: agent settings set from the collector.
//!
//! ```toml
//! [agent_policy.fleet]              # no selector: every agent
//! log.level = "info"
//!
//! [agent_policy.branch-offices]
//! tags = ["branch"]                 # agents whose asset has all these tags…
//! hosts = ["pos-*"]                 # …or whose host name matches one of these
//! metrics.interval_seconds = 30
//! probes.interval_seconds = 120
//! ```
//!
//! The keys are those of the agent's own file that [`policy::KEYS`] lists,
//! read by the same checker ([`policy::read`]), so a policy the collector
//! accepts is one an agent's file would. An agent takes every policy that
//! selects it, most specific first, and for each key the most specific
//! policy that sets it wins: a policy naming hosts is more specific than
//! one naming tags, one naming more tags more than one naming fewer, and
//! one with no selector is the least specific (equal ones: by name). A key
//! set in the agent's own file wins over all of them.

use atalaya_common::config::{Document, Section};
use atalaya_common::policy::{self, Settings};
use sha2::{Digest, Sha256};

use crate::helpers::pattern::glob;

/// One `[agent_policy.NAME]` table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolicyRule {
    /// Its name.
    pub name: String,
    /// Agents whose asset carries all of these tags.
    pub tags: Vec<String>,
    /// Agents whose host name matches one of these patterns (`*` for any run of characters).
    pub hosts: Vec<String>,
    /// The settings it gives them.
    pub settings: Settings,
}

impl PolicyRule {
    /// Whether an agent with this host name and these asset tags falls under it.
    pub fn applies_to(&self, hostname: &str, tags: &[String]) -> bool {
        if self.tags.is_empty() && self.hosts.is_empty() {
            return true;
        }
        let host = hostname.to_lowercase();
        (!self.tags.is_empty() && self.tags.iter().all(|t| tags.contains(t)))
            || self.hosts.iter().any(|p| glob(&p.to_lowercase(), &host))
    }

    /// How specific it is: higher wins.
    fn specificity(&self) -> (u8, usize) {
        match (self.hosts.is_empty(), self.tags.len()) {
            (false, _) => (2, 0),
            (true, 0) => (0, 0),
            (true, n) => (1, n),
        }
    }

    /// A digest of everything that makes it what it is: a policy whose
    /// digest changed gets a new version.
    pub fn digest(&self) -> [u8; 32] {
        let mut h = Sha256::new();
        let mut field = |bytes: &[u8]| {
            h.update((bytes.len() as u64).to_le_bytes());
            h.update(bytes);
        };
        for t in &self.tags {
            field(format!("tag:{t}").as_bytes());
        }
        for p in &self.hosts {
            field(format!("host:{p}").as_bytes());
        }
        for (k, v) in &self.settings.0 {
            field(format!("set:{k}={v}").as_bytes());
        }
        h.finalize().into()
    }
}

/// Every policy that selects an agent with this host name and tags, most
/// specific first, and their settings merged (the most specific wins).
pub fn select<'r>(
    rules: &'r [PolicyRule],
    hostname: &str,
    tags: &[String],
) -> (Vec<&'r PolicyRule>, Settings) {
    let mut chosen: Vec<&PolicyRule> = rules
        .iter()
        .filter(|r| r.applies_to(hostname, tags))
        .collect();
    chosen.sort_by(|a, b| {
        b.specificity()
            .cmp(&a.specificity())
            .then_with(|| a.name.cmp(&b.name))
    });
    let merged = chosen
        .iter()
        .rev()
        .fold(Settings::default(), |under, r| r.settings.over(&under));
    (chosen, merged)
}

/// Reads every `[agent_policy.NAME]` table; errors are recorded in `doc`.
pub fn parse(doc: &Document<'_>) -> Vec<PolicyRule> {
    let section = doc.section("agent_policy");
    section
        .tables()
        .into_iter()
        .map(|(name, t)| parse_one(name, &t))
        .collect()
}

fn parse_one(name: String, t: &Section<'_, '_>) -> PolicyRule {
    let tags = t.strings("tags", &[]);
    let hosts = t.strings("hosts", &[]);
    let settings = policy::read(|s| t.section(s));
    let sets_any = policy::KEYS.iter().any(|k| t.section(k.section).has(k.key));
    if !sets_any {
        t.missing(
            "metrics",
            format!(
                "agent policy {name:?} sets nothing; it may set {}",
                policy::KEYS
                    .iter()
                    .map(policy::KeySpec::name)
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        );
    }
    PolicyRule {
        name,
        tags,
        hosts,
        settings,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use atalaya_common::policy::Value;

    fn rules(text: &str) -> Result<Vec<PolicyRule>, Vec<String>> {
        let doc = Document::parse("collector.toml", text).unwrap();
        let rules = parse(&doc);
        match doc.finish() {
            Ok(()) => Ok(rules),
            Err(e) => Err(e.0.iter().map(ToString::to_string).collect()),
        }
    }

    const FILE: &str = r#"
[agent_policy.fleet]
log.level = "warn"
metrics.interval_seconds = 60

[agent_policy.branch]
tags = ["branch"]
metrics.interval_seconds = 30

[agent_policy.branch-pos]
tags = ["branch", "pos"]
probes.enabled = false

[agent_policy.till-7]
hosts = ["till-7*"]
metrics.interval_seconds = 5
"#;

    #[test]
    fn the_most_specific_policy_wins_key_by_key() {
        let rules = rules(FILE).unwrap();
        let tags = |t: &[&str]| t.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>();
        let (chosen, s) = select(&rules, "till-7.shop", &tags(&["branch", "pos"]));
        let names: Vec<&str> = chosen.iter().map(|r| r.name.as_str()).collect();
        assert_eq!(names, ["till-7", "branch-pos", "branch", "fleet"]);
        assert_eq!(s.integer("metrics.interval_seconds"), Some(5));
        assert_eq!(s.boolean("probes.enabled"), Some(false));
        assert_eq!(s.get("log.level"), Some(&Value::Text("warn".into())));

        let (chosen, s) = select(&rules, "web01", &tags(&["branch"]));
        let names: Vec<&str> = chosen.iter().map(|r| r.name.as_str()).collect();
        assert_eq!(names, ["branch", "fleet"]);
        assert_eq!(s.integer("metrics.interval_seconds"), Some(30));
        assert_eq!(s.get("probes.enabled"), None);

        // "pos" alone does not satisfy a policy that needs both tags.
        let (chosen, _) = select(&rules, "web02", &tags(&["pos"]));
        assert_eq!(chosen.len(), 1);
    }

    #[test]
    fn a_changed_policy_has_another_digest() {
        let a = rules(FILE).unwrap();
        let b = rules(&FILE.replace(
            "metrics.interval_seconds = 30",
            "metrics.interval_seconds = 31",
        ))
        .unwrap();
        assert_eq!(a[0].digest(), b[0].digest());
        assert_ne!(a[1].digest(), b[1].digest());
    }

    #[test]
    fn errors_are_those_of_the_agent_file_with_the_policy_named() {
        let errors = rules(
            "[agent_policy.branch]\ntags = [\"b\"]\nmetrics.interval_seconds = 0\nlog.colour = \"red\"\n[agent_policy.empty]\ntags = [\"x\"]\n",
        )
        .unwrap_err();
        assert_eq!(
            errors,
            [
                "collector.toml:3:28: `agent_policy.branch.metrics.interval_seconds`: expected a whole number of seconds from 1 to 3600, found 0",
                "collector.toml:4:5: `agent_policy.branch.log.colour`: unknown key (known keys here: level)",
                "collector.toml:5:15: `agent_policy.empty.metrics`: agent policy \"empty\" sets nothing; it may set inventory.interval_seconds, metrics.interval_seconds, probes.enabled, probes.interval_seconds, spool.max_bytes, log.level",
            ]
        );
    }
}
