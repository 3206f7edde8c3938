//! Reading TOML configuration files with every error reported at once.
//!
//! serde's derive stops at the first bad key, and a sysadmin fixing a config
//! file one error per run soon gives up; so configuration is read through a
//! [`Document`] that records each problem (with file, line, column, the key
//! and what was expected), lets reading go on with the default, and reports
//! everything at the end, unknown keys included. Each binary describes its
//! own keys with the typed getters here, then validates the result into the
//! type it uses.

use std::cell::RefCell;
use std::collections::BTreeSet;
use std::fmt;
use std::ops::RangeInclusive;

use toml::Spanned;
use toml::de::{DeTable, DeValue};

/// A secret read from configuration (a token, a password): usable, but its
/// `Debug` never shows it, so it cannot leak into logs.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(pub String);

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

/// From a command-line argument, so a secret given there is redacted too.
impl From<String> for Secret {
    fn from(text: String) -> Self {
        Secret(text)
    }
}

/// One problem in a configuration file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    /// The file, as the user named it.
    pub file: String,
    /// 1-based line.
    pub line: usize,
    /// 1-based column.
    pub column: usize,
    /// Dotted key, e.g. `metrics.interval_seconds`; empty for syntax errors.
    pub key: String,
    /// What was wrong and what was expected.
    pub message: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:{}: ", self.file, self.line, self.column)?;
        if !self.key.is_empty() {
            write!(f, "`{}`: ", self.key)?;
        }
        f.write_str(&self.message)
    }
}

/// Every problem found in a configuration file.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct ConfigErrors(pub Vec<ConfigError>);

impl fmt::Display for ConfigErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let n = self.0.len();
        writeln!(
            f,
            "{n} error{} in configuration:",
            if n == 1 { "" } else { "s" }
        )?;
        for e in &self.0 {
            writeln!(f, "  {e}")?;
        }
        Ok(())
    }
}

/// A configuration file that could not be used: it could not be read, or
/// it has errors (all of them). The reading itself is the caller's (this
/// crate does no I/O); this is the error every loader returns.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// The file could not be read.
    #[error("reading {path}: {source}")]
    Read {
        /// The file.
        path: std::path::PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The file was read and has errors.
    #[error(transparent)]
    Invalid(#[from] ConfigErrors),
}

impl LoadError {
    /// A read failure of `path`.
    pub fn read(path: &std::path::Path, source: std::io::Error) -> Self {
        LoadError::Read {
            path: path.to_owned(),
            source,
        }
    }
}

/// A parsed TOML file being read key by key.
#[derive(Debug)]
pub struct Document<'i> {
    file: String,
    source: &'i str,
    root: Spanned<DeTable<'i>>,
    errors: RefCell<Vec<ConfigError>>,
    read: RefCell<BTreeSet<String>>,
    /// Tables opened as sections, whose own keys are checked by `finish`.
    opened: RefCell<BTreeSet<String>>,
}

/// A table of the document, e.g. `[metrics]`, or one of its sub-tables
/// such as `[rule.disk-full]`.
#[derive(Debug, Clone)]
pub struct Section<'d, 'i> {
    doc: &'d Document<'i>,
    name: String,
    /// Where the table starts (for errors about the table as a whole).
    at: usize,
    table: Option<&'d DeTable<'i>>,
}

impl<'i> Document<'i> {
    /// Parses `source`; syntax errors are all returned at once.
    pub fn parse(file: impl Into<String>, source: &'i str) -> Result<Self, ConfigErrors> {
        let file = file.into();
        let (root, syntax) = DeTable::parse_recoverable(source);
        if !syntax.is_empty() {
            let errors = syntax
                .iter()
                .map(|e| {
                    let (line, column) = line_column(source, e.span().map_or(0, |s| s.start));
                    ConfigError {
                        file: file.clone(),
                        line,
                        column,
                        key: String::new(),
                        message: format!("invalid TOML: {}", e.message()),
                    }
                })
                .collect();
            return Err(ConfigErrors(errors));
        }
        Ok(Self {
            file,
            source,
            root,
            errors: RefCell::default(),
            read: RefCell::default(),
            opened: RefCell::default(),
        })
    }

    /// The table `[name]`; a missing table reads as all defaults.
    pub fn section(&self, name: &'static str) -> Section<'_, 'i> {
        self.table_section(name.to_owned(), self.root.get_ref().get(name), 0)
    }

    /// The table at `path` (dotted) found as `value`, opened as a section:
    /// its unknown keys are reported. Missing, it reads as all defaults,
    /// its errors placed at `at`.
    fn table_section<'d>(
        &'d self,
        path: String,
        value: Option<&'d Spanned<DeValue<'i>>>,
        at: usize,
    ) -> Section<'d, 'i> {
        self.read.borrow_mut().insert(path.clone());
        self.opened.borrow_mut().insert(path.clone());
        let at = value.map_or(at, |v| v.span().start);
        let table = match value {
            None => None,
            Some(value) => match value.get_ref() {
                DeValue::Table(t) => Some(t),
                other => {
                    self.error(
                        value.span().start,
                        &path,
                        format!("expected a table, found {}", kind(other)),
                    );
                    None
                }
            },
        };
        Section {
            doc: self,
            name: path,
            at,
            table,
        }
    }

    /// The tables of the array `[[name]]`, in file order; errors about a
    /// key of the third one name it `name[2].key`. Missing reads as none.
    pub fn sections(&self, name: &'static str) -> Vec<Section<'_, 'i>> {
        self.read.borrow_mut().insert(name.to_owned());
        let Some(value) = self.root.get_ref().get(name) else {
            return Vec::new();
        };
        let DeValue::Array(items) = value.get_ref() else {
            self.error(
                value.span().start,
                name,
                format!(
                    "expected [[{name}]] tables, found {}",
                    kind(value.get_ref())
                ),
            );
            return Vec::new();
        };
        let mut out = Vec::new();
        for (i, item) in items.iter().enumerate() {
            let path = format!("{name}[{i}]");
            match item.get_ref() {
                DeValue::Table(t) => {
                    self.opened.borrow_mut().insert(path.clone());
                    out.push(Section {
                        doc: self,
                        name: path,
                        at: item.span().start,
                        table: Some(t),
                    });
                }
                other => self.error(
                    item.span().start,
                    &path,
                    format!("expected a table, found {}", kind(other)),
                ),
            }
        }
        out
    }

    /// Reports unknown keys and returns every error found, or `Ok`.
    pub fn finish(self) -> Result<(), ConfigErrors> {
        for (key, value) in self.root.get_ref().iter() {
            let name = key.get_ref().as_ref();
            if !self.read.borrow().contains(name) {
                self.error(key.span().start, name, "unknown section".to_owned());
                continue;
            }
            match value.get_ref() {
                DeValue::Table(table) => self.unknown_keys(name, table),
                DeValue::Array(items) => {
                    for (i, item) in items.iter().enumerate() {
                        let path = format!("{name}[{i}]");
                        if let DeValue::Table(table) = item.get_ref()
                            && self.opened.borrow().contains(&path)
                        {
                            self.unknown_keys(&path, table);
                        }
                    }
                }
                _ => {}
            }
        }
        let mut errors = self.errors.into_inner();
        if errors.is_empty() {
            return Ok(());
        }
        errors.sort_by_key(|e| (e.line, e.column));
        Err(ConfigErrors(errors))
    }

    /// Reports the keys of the section `prefix` that were never read, and
    /// goes down into its sub-tables that were opened as sections.
    fn unknown_keys(&self, prefix: &str, table: &DeTable<'_>) {
        for (sub, value) in table.iter() {
            let path = format!("{prefix}.{}", sub.get_ref());
            if !self.read.borrow().contains(&path) {
                let known: Vec<String> = self
                    .read
                    .borrow()
                    .iter()
                    .filter_map(|k| k.strip_prefix(prefix)?.strip_prefix('.'))
                    .filter(|k| !k.contains('.'))
                    .map(str::to_owned)
                    .collect();
                self.error(
                    sub.span().start,
                    &path,
                    format!("unknown key (known keys here: {})", known.join(", ")),
                );
                continue;
            }
            if let DeValue::Table(inner) = value.get_ref()
                && self.opened.borrow().contains(&path)
            {
                self.unknown_keys(&path, inner);
            }
        }
    }

    fn error(&self, offset: usize, key: &str, message: String) {
        let (line, column) = line_column(self.source, offset);
        self.errors.borrow_mut().push(ConfigError {
            file: self.file.clone(),
            line,
            column,
            key: key.to_owned(),
            message,
        });
    }
}

impl<'d, 'i> Section<'d, 'i> {
    fn value(&self, key: &str) -> Option<(&'d Spanned<DeValue<'i>>, String)> {
        let path = format!("{}.{key}", self.name);
        self.doc.read.borrow_mut().insert(path.clone());
        Some((self.table?.get(key)?, path))
    }

    fn wrong(&self, value: &Spanned<DeValue<'_>>, path: &str, expected: &str) {
        self.doc.error(
            value.span().start,
            path,
            format!("expected {expected}, found {}", describe(value.get_ref())),
        );
    }

    /// The sub-table `[<this table>.name]`, read like a section of its own
    /// (its unknown keys are reported); a missing one reads as all defaults.
    pub fn section(&self, name: &str) -> Section<'d, 'i> {
        self.doc.table_section(
            format!("{}.{name}", self.name),
            self.table.and_then(|t| t.get(name)),
            self.at,
        )
    }

    /// The dotted name of this table, e.g. `rule.disk-full`.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The line the table starts on, for messages given after reading.
    pub fn line(&self) -> usize {
        line_column(self.doc.source, self.at).0
    }

    /// Whether `key` is present (without reading it).
    pub fn has(&self, key: &str) -> bool {
        self.table.is_some_and(|t| t.get(key).is_some())
    }

    /// The sub-tables of this table in file order (TOML tables themselves
    /// are sorted by key), each with its key: the
    /// `[rule.NAME]` tables of `[rule]`. A value that is not a table is an
    /// error, unless it was already read as a plain key of this table (as
    /// `at_risk_percent` beside the `[sla.P1]` tables of `[sla]`).
    pub fn tables(&self) -> Vec<(String, Section<'d, 'i>)> {
        let Some(table) = self.table else {
            return Vec::new();
        };
        let mut entries: Vec<_> = table.iter().collect();
        entries.sort_by_key(|(key, _)| key.span().start);
        let mut out = Vec::new();
        for (key, value) in entries {
            let name = key.get_ref().to_string();
            let path = format!("{}.{name}", self.name);
            let already_read = !self.doc.read.borrow_mut().insert(path.clone());
            if already_read && !matches!(value.get_ref(), DeValue::Table(_)) {
                continue;
            }
            match value.get_ref() {
                DeValue::Table(t) => {
                    self.doc.opened.borrow_mut().insert(path.clone());
                    out.push((
                        name,
                        Section {
                            doc: self.doc,
                            name: path,
                            at: key.span().start,
                            table: Some(t),
                        },
                    ));
                }
                other => self.doc.error(
                    key.span().start,
                    &path,
                    format!("expected a table, found {}", kind(other)),
                ),
            }
        }
        out
    }

    /// A number (integer or float), finite; `None` when absent or wrong.
    pub fn number(&self, key: &str) -> Option<f64> {
        let (value, path) = self.value(key)?;
        let parsed = match value.get_ref() {
            DeValue::Integer(i) => i64::from_str_radix(&i.as_str().replace('_', ""), i.radix())
                .ok()
                .map(|n| n as f64),
            DeValue::Float(x) => x.as_str().replace('_', "").parse::<f64>().ok(),
            _ => None,
        };
        match parsed {
            Some(n) if n.is_finite() => Some(n),
            _ => {
                self.wrong(value, &path, "a finite number");
                None
            }
        }
    }

    /// Records a problem with the table as a whole about `key`, e.g. a
    /// required key that is missing; reported where the table starts.
    pub fn missing(&self, key: &str, message: impl Into<String>) {
        let path = format!("{}.{key}", self.name);
        self.doc.read.borrow_mut().insert(path.clone());
        self.doc.error(self.at, &path, message.into());
    }

    /// Counts every key of this table as known, so a table already reported
    /// as wrong as a whole (an unknown kind) is not also reported key by key.
    pub fn skip_unread(&self) {
        for (key, _) in self.table.into_iter().flat_map(|t| t.iter()) {
            let path = format!("{}.{}", self.name, key.get_ref());
            self.doc.read.borrow_mut().insert(path);
        }
    }

    /// A string; `None` when absent.
    pub fn string(&self, key: &str) -> Option<String> {
        let (value, path) = self.value(key)?;
        match value.get_ref() {
            DeValue::String(s) => Some(s.to_string()),
            _ => {
                self.wrong(value, &path, "a string");
                None
            }
        }
    }

    /// A boolean, or `default`.
    pub fn boolean(&self, key: &str, default: bool) -> bool {
        self.boolean_if_set(key).unwrap_or(default)
    }

    /// A boolean; `None` when absent or wrong (the error is recorded).
    pub fn boolean_if_set(&self, key: &str) -> Option<bool> {
        let (value, path) = self.value(key)?;
        match value.get_ref() {
            DeValue::Boolean(b) => Some(*b),
            _ => {
                self.wrong(value, &path, "true or false");
                None
            }
        }
    }

    /// A whole number in `range` (`unit` names what it counts), or `default`.
    pub fn integer(&self, key: &str, default: u64, range: RangeInclusive<u64>, unit: &str) -> u64 {
        self.integer_if_set(key, range, unit).unwrap_or(default)
    }

    /// A whole number in `range`; `None` when absent or wrong (the error
    /// is recorded).
    pub fn integer_if_set(&self, key: &str, range: RangeInclusive<u64>, unit: &str) -> Option<u64> {
        let (value, path) = self.value(key)?;
        let expected = format!(
            "a whole number of {unit} from {} to {}",
            range.start(),
            range.end()
        );
        let parsed = match value.get_ref() {
            DeValue::Integer(i) => {
                u64::from_str_radix(&i.as_str().replace('_', ""), i.radix()).ok()
            }
            _ => None,
        };
        match parsed {
            Some(n) if range.contains(&n) => Some(n),
            _ => {
                self.wrong(value, &path, &expected);
                None
            }
        }
    }

    /// One of `allowed`, or `default`.
    pub fn choice(
        &self,
        key: &str,
        default: &'static str,
        allowed: &[&'static str],
    ) -> &'static str {
        let Some((value, path)) = self.value(key) else {
            return default;
        };
        let found = match value.get_ref() {
            DeValue::String(s) => allowed.iter().find(|a| **a == s.as_ref()).copied(),
            _ => None,
        };
        found.unwrap_or_else(|| {
            self.wrong(value, &path, &format!("one of {}", quoted(allowed)));
            default
        })
    }

    /// A list of strings, or `default`.
    pub fn strings(&self, key: &str, default: &[&str]) -> Vec<String> {
        let owned = || default.iter().map(|s| (*s).to_owned()).collect();
        let Some((value, path)) = self.value(key) else {
            return owned();
        };
        let list = match value.get_ref() {
            DeValue::Array(items) => items
                .iter()
                .map(|item| match item.get_ref() {
                    DeValue::String(s) => Some(s.to_string()),
                    _ => None,
                })
                .collect::<Option<Vec<_>>>(),
            _ => None,
        };
        list.unwrap_or_else(|| {
            self.wrong(value, &path, "a list of strings");
            owned()
        })
    }

    /// Records a problem with a value that parsed but does not make sense.
    pub fn invalid(&self, key: &str, message: impl Into<String>) {
        if let Some((value, path)) = self.value(key) {
            self.doc.error(value.span().start, &path, message.into());
        }
    }
}

fn line_column(source: &str, offset: usize) -> (usize, usize) {
    let before = source.get(..offset).unwrap_or(source);
    let line = before.matches('\n').count() + 1;
    let column = before
        .rfind('\n')
        .map_or(before.len(), |nl| before.len() - nl - 1)
        + 1;
    (line, column)
}

fn kind(value: &DeValue<'_>) -> &'static str {
    match value {
        DeValue::String(_) => "a string",
        DeValue::Integer(_) => "an integer",
        DeValue::Float(_) => "a float",
        DeValue::Boolean(_) => "a boolean",
        DeValue::Datetime(_) => "a date-time",
        DeValue::Array(_) => "an array",
        DeValue::Table(_) => "a table",
    }
}

fn describe(value: &DeValue<'_>) -> String {
    match value {
        DeValue::String(s) => format!("{s:?}"),
        DeValue::Integer(i) => i.to_string(),
        DeValue::Float(x) => x.to_string(),
        DeValue::Boolean(b) => b.to_string(),
        other => kind(other).to_owned(),
    }
}

pub(crate) fn quoted(items: &[&str]) -> String {
    items
        .iter()
        .map(|s| format!("{s:?}"))
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(text: &str) -> Result<(u64, bool, &'static str), ConfigErrors> {
        let doc = Document::parse("t.toml", text)?;
        let s = doc.section("metrics");
        let n = s.integer("interval_seconds", 10, 1..=3600, "seconds");
        let b = s.boolean("enabled", true);
        let level = doc
            .section("log")
            .choice("level", "info", &["info", "debug"]);
        doc.finish()?;
        Ok((n, b, level))
    }

    #[test]
    fn debug_of_a_secret_hides_it() {
        let secret = Secret::from("hunter2-token".to_owned());
        assert_eq!(format!("{secret:?}"), "<redacted>");
        assert_eq!(format!("{:?}", Some(&secret)), "Some(<redacted>)");
        assert_eq!(secret.0, "hunter2-token");
    }

    #[test]
    fn defaults_when_empty() {
        assert_eq!(read("").unwrap(), (10, true, "info"));
        assert_eq!(
            read("[metrics]\ninterval_seconds = 0x10\n").unwrap(),
            (16, true, "info")
        );
    }

    #[test]
    fn every_error_is_reported_with_its_place() {
        let text = "[metrics]\ninterval_seconds = \"ten\"\nenabled = 3\ncolour = 1\n[log]\nlevel = \"loud\"\n[extra]\n";
        let errors = read(text).unwrap_err().0;
        let lines: Vec<String> = errors.iter().map(ToString::to_string).collect();
        assert_eq!(
            lines,
            [
                "t.toml:2:20: `metrics.interval_seconds`: expected a whole number of seconds from 1 to 3600, found \"ten\"",
                "t.toml:3:11: `metrics.enabled`: expected true or false, found 3",
                "t.toml:4:1: `metrics.colour`: unknown key (known keys here: enabled, interval_seconds)",
                "t.toml:6:9: `log.level`: expected one of \"info\", \"debug\", found \"loud\"",
                "t.toml:7:2: `extra`: unknown section",
            ]
        );
    }

    #[test]
    fn out_of_range_and_syntax_errors() {
        let errors = read("[metrics]\ninterval_seconds = 0\n").unwrap_err().0;
        assert!(errors[0].message.contains("from 1 to 3600"), "{errors:?}");
        let errors = read("[metrics\n").unwrap_err().0;
        assert_eq!(errors[0].line, 1);
        assert!(errors[0].message.starts_with("invalid TOML"), "{errors:?}");
    }

    #[test]
    fn plain_keys_read_first_may_sit_beside_sub_tables() {
        let text = "[sla]\nat_risk_percent = 80\n[sla.P1]\nx = 1\n";
        let doc = Document::parse("c.toml", text).unwrap();
        let sla = doc.section("sla");
        assert_eq!(sla.integer("at_risk_percent", 0, 0..=100, "percent"), 80);
        let names: Vec<String> = sla
            .tables()
            .into_iter()
            .map(|(n, t)| {
                t.skip_unread();
                n
            })
            .collect();
        assert_eq!(names, ["P1"]);
        doc.finish().unwrap();

        // Not read as a plain key first: it is still an error.
        let doc = Document::parse("c.toml", text).unwrap();
        for (_, t) in doc.section("sla").tables() {
            t.skip_unread();
        }
        let errors = doc.finish().unwrap_err();
        assert!(
            errors
                .to_string()
                .contains("`sla.at_risk_percent`: expected a table"),
            "{errors}"
        );
    }

    #[test]
    fn sub_tables_numbers_and_missing_keys() {
        let text = "[rule.b]\nvalue = 1.5\n[rule.a]\nvalue = 7\ncolour = 2\n[rule.c]\nvalue = \"x\"\n[rule.c.deep]\nx = 1\n";
        let doc = Document::parse("r.toml", text).unwrap();
        let rules = doc.section("rule");
        let mut seen = Vec::new();
        for (name, rule) in rules.tables() {
            assert_eq!(rule.name(), format!("rule.{name}"));
            assert!(rule.has("value"));
            seen.push((name, rule.number("value")));
            if !rule.has("series") {
                rule.missing("series", "required");
            }
        }
        assert_eq!(
            seen,
            [
                ("b".to_owned(), Some(1.5)),
                ("a".to_owned(), Some(7.0)),
                ("c".to_owned(), None)
            ]
        );
        let shown: Vec<String> = doc
            .finish()
            .unwrap_err()
            .0
            .iter()
            .map(ToString::to_string)
            .collect();
        assert_eq!(
            shown,
            [
                "r.toml:1:7: `rule.b.series`: required",
                "r.toml:3:7: `rule.a.series`: required",
                "r.toml:5:1: `rule.a.colour`: unknown key (known keys here: series, value)",
                "r.toml:6:7: `rule.c.series`: required",
                "r.toml:7:9: `rule.c.value`: expected a finite number, found \"x\"",
                "r.toml:8:9: `rule.c.deep`: unknown key (known keys here: series, value)",
            ]
        );
    }

    #[test]
    fn arrays_of_tables_are_read_and_checked_one_by_one() {
        let text = "[[device]]\nname = \"a\"\n\n[[device]]\nname = 7\ncolour = \"red\"\n";
        let doc = Document::parse("d.toml", text).unwrap();
        let sections = doc.sections("device");
        let names: Vec<Option<String>> = sections.iter().map(|s| s.string("name")).collect();
        assert_eq!(names, [Some("a".to_owned()), None]);
        assert_eq!(sections[1].line(), 4);
        drop(sections);
        let shown: Vec<String> = doc
            .finish()
            .unwrap_err()
            .0
            .iter()
            .map(ToString::to_string)
            .collect();
        assert_eq!(shown.len(), 2, "{shown:?}");
        assert!(
            shown[0].starts_with("d.toml:5:8: `device[1].name`: expected a string"),
            "{shown:?}"
        );
        assert!(
            shown[1].starts_with("d.toml:6:1: `device[1].colour`: unknown key"),
            "{shown:?}"
        );
        let doc = Document::parse("d.toml", "device = 3\n").unwrap();
        assert!(doc.sections("device").is_empty());
        assert!(
            doc.finish().unwrap_err().0[0]
                .to_string()
                .contains("expected [[device]] tables, found an integer")
        );
    }
}
