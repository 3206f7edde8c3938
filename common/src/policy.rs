//! The agent settings the collector may set centrally (agent policies),
//! and the one checker both sides use for them.
//!
//! An agent reads these keys from its own file; the collector reads the
//! same keys from the `[agent_policy.NAME]` tables of its configuration and
//! pushes them to the agents each policy selects. Both read them through
//! [`read`], so a value the collector accepts is one an agent's file would
//! accept, with the same error message when it is not. On the wire a
//! policy is a list of `(key, value)` pairs rather than a struct, so that
//! a collector may know more keys than an older agent: the agent refuses
//! the keys it does not know ([`check`]) and applies the rest.
//!
//! Precedence on the agent, from strongest: a key its own file sets (the
//! file pins it), then the policy, then the collector's general settings,
//! then the built-in default.

use std::collections::BTreeMap;
use std::fmt;
use std::ops::RangeInclusive;

use serde::{Deserialize, Serialize};

use crate::config::{Section, quoted};

/// What a key holds, and what it accepts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyKind {
    /// A whole number in a range, counting `unit`.
    Integer {
        /// The accepted values.
        range: RangeInclusive<u64>,
        /// What the number counts (`seconds`, `bytes`), for messages.
        unit: &'static str,
        /// The built-in default.
        default: u64,
    },
    /// `true` or `false`.
    Bool {
        /// The built-in default.
        default: bool,
    },
    /// One of a few words.
    Choice {
        /// The accepted words.
        allowed: &'static [&'static str],
        /// The built-in default.
        default: &'static str,
    },
}

/// One key the collector may set: `section.key` as in the agent's file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeySpec {
    /// The table of the agent's file, e.g. `metrics`.
    pub section: &'static str,
    /// The key in it, e.g. `interval_seconds`.
    pub key: &'static str,
    /// What it accepts.
    pub kind: KeyKind,
}

impl KeySpec {
    /// `section.key`, the name used on the wire and in listings.
    pub fn name(&self) -> String {
        format!("{}.{}", self.section, self.key)
    }

    /// The built-in default, as a value.
    pub fn default_value(&self) -> Value {
        match &self.kind {
            KeyKind::Integer { default, .. } => Value::Integer(*default),
            KeyKind::Bool { default } => Value::Bool(*default),
            KeyKind::Choice { default, .. } => Value::Text((*default).to_owned()),
        }
    }
}

/// Log levels, most quiet first.
pub const LOG_LEVELS: &[&str] = &["error", "warn", "info", "debug", "trace"];

/// Every key a policy may set. The report folder, the state folder and
/// the collector address are not among them: the first is where people's
/// `atalaya-agent report` writes (a program that reads only the local
/// file), the others decide how the agent reaches the collector at all.
/// Which devices a poller polls is the collector's already (it assigns
/// them); whether the machine may be a poller at all (`snmp.enabled`,
/// which also opens the trap port) stays the machine's own decision.
pub const KEYS: &[KeySpec] = &[
    KeySpec {
        section: "inventory",
        key: "interval_seconds",
        kind: KeyKind::Integer {
            range: 60..=604_800,
            unit: "seconds",
            default: 3600,
        },
    },
    KeySpec {
        section: "metrics",
        key: "interval_seconds",
        kind: KeyKind::Integer {
            range: 1..=3600,
            unit: "seconds",
            default: 10,
        },
    },
    KeySpec {
        section: "probes",
        key: "enabled",
        kind: KeyKind::Bool { default: true },
    },
    KeySpec {
        section: "probes",
        key: "interval_seconds",
        kind: KeyKind::Integer {
            range: 1..=86_400,
            unit: "seconds",
            default: 60,
        },
    },
    KeySpec {
        section: "spool",
        key: "max_bytes",
        kind: KeyKind::Integer {
            range: 16 << 10..=1 << 40,
            unit: "bytes",
            default: 64 << 20,
        },
    },
    KeySpec {
        section: "log",
        key: "level",
        kind: KeyKind::Choice {
            allowed: LOG_LEVELS,
            default: "info",
        },
    },
];

/// The spec of `name` (`section.key`), if a policy may set it.
pub fn spec(name: &str) -> Option<&'static KeySpec> {
    let (section, key) = name.split_once('.')?;
    KEYS.iter().find(|k| k.section == section && k.key == key)
}

/// A setting's value.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Value {
    /// `true` or `false`.
    Bool(bool),
    /// A whole number.
    Integer(u64),
    /// A word.
    Text(String),
}

impl fmt::Display for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::Bool(b) => write!(f, "{b}"),
            Value::Integer(n) => write!(f, "{n}"),
            Value::Text(s) => write!(f, "{s:?}"),
        }
    }
}

/// Settings by key name (`metrics.interval_seconds`), in key order.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Settings(pub BTreeMap<String, Value>);

impl Settings {
    /// Whether no key is set.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The value of `name`, if set.
    pub fn get(&self, name: &str) -> Option<&Value> {
        self.0.get(name)
    }

    /// A whole number, if set as one.
    pub fn integer(&self, name: &str) -> Option<u64> {
        match self.0.get(name)? {
            Value::Integer(n) => Some(*n),
            _ => None,
        }
    }

    /// A boolean, if set as one.
    pub fn boolean(&self, name: &str) -> Option<bool> {
        match self.0.get(name)? {
            Value::Bool(b) => Some(*b),
            _ => None,
        }
    }

    /// A word, if set as one.
    pub fn text(&self, name: &str) -> Option<&str> {
        match self.0.get(name)? {
            Value::Text(s) => Some(s),
            _ => None,
        }
    }

    /// The pairs, for the wire.
    pub fn pairs(&self) -> Vec<(String, Value)> {
        self.0.iter().map(|(k, v)| (k.clone(), v.clone())).collect()
    }

    /// Layers `self` over `under`: a key set here wins.
    pub fn over(&self, under: &Settings) -> Settings {
        let mut out = under.clone();
        out.0
            .extend(self.0.iter().map(|(k, v)| (k.clone(), v.clone())));
        out
    }
}

/// Reads the keys of [`KEYS`] that are present, from the tables `open`
/// gives by name: the agent's file (`|s| doc.section(s)`) or a policy
/// table (`|s| policy.section(s)`). Wrong values are recorded as errors of
/// the document, with file, line and key, and left out.
pub fn read<'d, 'i: 'd>(open: impl Fn(&'static str) -> Section<'d, 'i>) -> Settings {
    let mut out = BTreeMap::new();
    for spec in KEYS {
        let section = open(spec.section);
        if !section.has(spec.key) {
            // Marks the key as known, so a table with only other keys is
            // not reported as unknown.
            let _ = section.string(spec.key);
            continue;
        }
        let value = match &spec.kind {
            KeyKind::Integer { range, unit, .. } => section
                .integer_if_set(spec.key, range.clone(), unit)
                .map(Value::Integer),
            KeyKind::Bool { .. } => section.boolean_if_set(spec.key).map(Value::Bool),
            KeyKind::Choice { allowed, .. } => {
                let word = section.choice(spec.key, "", allowed);
                (!word.is_empty()).then(|| Value::Text(word.to_owned()))
            }
        };
        if let Some(value) = value {
            out.insert(spec.name(), value);
        }
    }
    Settings(out)
}

/// Checks one pair received from the collector with the rules of [`read`];
/// the message says what is wrong, in the words of a configuration error.
pub fn check(name: &str, value: &Value) -> Result<(), String> {
    let Some(spec) = spec(name) else {
        return Err("not a key this agent lets the collector set".to_owned());
    };
    match (&spec.kind, value) {
        (KeyKind::Integer { range, .. }, Value::Integer(n)) if range.contains(n) => Ok(()),
        (KeyKind::Integer { range, unit, .. }, found) => Err(format!(
            "expected a whole number of {unit} from {} to {}, found {found}",
            range.start(),
            range.end()
        )),
        (KeyKind::Bool { .. }, Value::Bool(_)) => Ok(()),
        (KeyKind::Bool { .. }, found) => Err(format!("expected true or false, found {found}")),
        (KeyKind::Choice { allowed, .. }, Value::Text(s)) if allowed.contains(&s.as_str()) => {
            Ok(())
        }
        (KeyKind::Choice { allowed, .. }, found) => Err(format!(
            "expected one of {}, found {found}",
            quoted(allowed)
        )),
    }
}

/// Splits pairs received from the collector into the settings that pass
/// [`check`] and the refused ones with their reasons.
pub fn accept(pairs: &[(String, Value)]) -> (Settings, Vec<(String, String)>) {
    let mut good = BTreeMap::new();
    let mut refused = Vec::new();
    for (name, value) in pairs {
        match check(name, value) {
            Ok(()) => {
                good.insert(name.clone(), value.clone());
            }
            Err(reason) => refused.push((name.clone(), reason)),
        }
    }
    (Settings(good), refused)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Document;

    fn errors(text: &str, open_policy: bool) -> Vec<String> {
        let doc = Document::parse("f.toml", text).unwrap();
        if open_policy {
            let p = doc.section("agent_policy");
            for (_, t) in p.tables() {
                read(|s| t.section(s));
            }
        } else {
            read(|s| doc.section(s));
        }
        match doc.finish() {
            Ok(()) => Vec::new(),
            Err(e) => e.0.iter().map(|e| e.message.clone()).collect(),
        }
    }

    #[test]
    fn a_file_and_a_policy_are_read_by_the_same_rules() {
        let file =
            "[metrics]\ninterval_seconds = 0\n[log]\nlevel = \"loud\"\n[probes]\nenabled = 3\n";
        let policy = "[agent_policy.branch.metrics]\ninterval_seconds = 0\n[agent_policy.branch.log]\nlevel = \"loud\"\n[agent_policy.branch.probes]\nenabled = 3\n";
        let expected = [
            "expected a whole number of seconds from 1 to 3600, found 0",
            "expected one of \"error\", \"warn\", \"info\", \"debug\", \"trace\", found \"loud\"",
            "expected true or false, found 3",
        ];
        assert_eq!(errors(file, false), expected);
        assert_eq!(errors(policy, true), expected);
    }

    #[test]
    fn present_keys_are_read_and_absent_ones_left_out() {
        let doc = Document::parse(
            "f.toml",
            "[metrics]\ninterval_seconds = 30\n[probes]\nenabled = false\n[log]\nlevel = \"debug\"\n",
        )
        .unwrap();
        let s = read(|s| doc.section(s));
        assert_eq!(s.integer("metrics.interval_seconds"), Some(30));
        assert_eq!(s.boolean("probes.enabled"), Some(false));
        assert_eq!(s.text("log.level"), Some("debug"));
        assert_eq!(s.get("inventory.interval_seconds"), None);
        assert_eq!(s.0.len(), 3);
        // Keys outside the list are the caller's to read: still unknown here.
        let doc = Document::parse("f.toml", "[metrics]\ntop = 3\n").unwrap();
        read(|s| doc.section(s));
        let e = doc.finish().unwrap_err();
        assert!(e.0[0].message.starts_with("unknown key"), "{e}");
    }

    #[test]
    fn pairs_from_the_wire_are_checked_one_by_one() {
        let pairs = vec![
            ("metrics.interval_seconds".to_owned(), Value::Integer(5)),
            ("metrics.interval_seconds_x".to_owned(), Value::Integer(5)),
            ("spool.max_bytes".to_owned(), Value::Integer(1)),
            ("probes.enabled".to_owned(), Value::Text("yes".into())),
            ("log.level".to_owned(), Value::Text("warn".into())),
        ];
        let (good, refused) = accept(&pairs);
        assert_eq!(good.integer("metrics.interval_seconds"), Some(5));
        assert_eq!(good.text("log.level"), Some("warn"));
        assert_eq!(
            refused,
            [
                (
                    "metrics.interval_seconds_x".to_owned(),
                    "not a key this agent lets the collector set".to_owned()
                ),
                (
                    "spool.max_bytes".to_owned(),
                    "expected a whole number of bytes from 16384 to 1099511627776, found 1"
                        .to_owned()
                ),
                (
                    "probes.enabled".to_owned(),
                    "expected true or false, found \"yes\"".to_owned()
                ),
            ]
        );
    }

    #[test]
    fn a_layer_wins_over_the_one_under_it() {
        let mut a = Settings::default();
        a.0.insert("log.level".into(), Value::Text("debug".into()));
        let mut b = Settings::default();
        b.0.insert("log.level".into(), Value::Text("warn".into()));
        b.0.insert("probes.enabled".into(), Value::Bool(false));
        let merged = a.over(&b);
        assert_eq!(merged.text("log.level"), Some("debug"));
        assert_eq!(merged.boolean("probes.enabled"), Some(false));
    }

    #[test]
    fn every_key_has_a_default_its_own_rules_accept() {
        for spec in KEYS {
            assert_eq!(
                check(&spec.name(), &spec.default_value()),
                Ok(()),
                "{spec:?}"
            );
        }
    }
}
