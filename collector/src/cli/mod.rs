//! The `atalaya` CLI: one module per resource of the collector's API
//! ([`assets`], [`capacity`], [`changes`], [`devices`], [`diag`], [`incidents`], [`kb`],
//! [`lookup`], [`metrics`], [`people`], [`probes`], [`report`], [`topology`]), each
//! asking through the one [`client::ApiClient`] and printing aligned text
//! tables for people, CSV and JSON for spreadsheets and scripts.
//!
//! Tables are written by hand because they are small: a header row and
//! string cells; numeric columns are right-aligned so digits line up.

use std::fmt::Write as _;

use atalaya_common::model::Timestamp;

pub mod agents;
pub mod assets;
pub mod capacity;
pub mod changes;
pub mod client;
pub mod devices;
pub mod diag;
pub mod incidents;
pub mod kb;
pub mod lookup;
pub mod metrics;
pub mod people;
pub mod probes;
pub mod report;
pub mod suppliers;
pub mod topology;

use client::ClientError;

/// A command that gave nothing to print.
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    /// The API did not answer as asked.
    #[error(transparent)]
    Api(#[from] ClientError),
    /// The answer is not what this CLI reads (a collector of another version?).
    #[error("the server's answer for {what} does not parse")]
    Decode {
        /// What was asked for.
        what: &'static str,
        /// Why it does not parse.
        source: serde_json::Error,
    },
    /// A request body could not be written as JSON.
    #[error("{what} cannot be sent as JSON")]
    Encode {
        /// What was to be sent.
        what: &'static str,
        /// Why.
        source: serde_json::Error,
    },
    /// The command line asks for something that cannot be done as given.
    #[error("{0}")]
    Usage(String),
    /// Nothing matched: a failure, though with `--json` the (empty) answer
    /// is still printed for scripts.
    #[error("{message}")]
    NoMatch {
        /// What was not found.
        message: String,
        /// What to print all the same.
        output: String,
    },
}

/// How the CLI prints results.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// Aligned columns.
    Table,
    /// RFC 4180 CSV.
    Csv,
    /// The server's JSON, pretty-printed.
    Json,
}

/// Rows of string cells under a header.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Table {
    /// Column names.
    pub headers: Vec<String>,
    /// Rows; each as long as `headers` (shorter rows are padded with blanks).
    pub rows: Vec<Vec<String>>,
}

impl Table {
    /// An empty table with these column names.
    pub fn new<S: Into<String>>(headers: impl IntoIterator<Item = S>) -> Self {
        Table {
            headers: headers.into_iter().map(Into::into).collect(),
            rows: Vec::new(),
        }
    }

    /// Appends a row.
    pub fn push<S: Into<String>>(&mut self, row: impl IntoIterator<Item = S>) {
        self.rows.push(row.into_iter().map(Into::into).collect());
    }

    fn cell(&self, row: usize, col: usize) -> &str {
        self.rows
            .get(row)
            .and_then(|r| r.get(col))
            .map_or("", String::as_str)
    }

    fn numeric(&self, col: usize) -> bool {
        let mut any = false;
        for r in 0..self.rows.len() {
            let c = self.cell(r, col).trim();
            if c.is_empty() {
                continue;
            }
            if c.parse::<f64>().is_err() {
                return false;
            }
            any = true;
        }
        any
    }

    /// Aligned columns separated by two spaces, header first; no trailing spaces.
    pub fn render(&self) -> String {
        let cols = self.headers.len();
        let width = |s: &str| s.chars().count();
        let mut widths: Vec<usize> = self.headers.iter().map(|h| width(h)).collect();
        for r in 0..self.rows.len() {
            for (c, w) in widths.iter_mut().enumerate() {
                *w = (*w).max(width(self.cell(r, c)));
            }
        }
        let right: Vec<bool> = (0..cols).map(|c| self.numeric(c)).collect();
        let mut out = String::new();
        let mut line = |cells: &mut dyn Iterator<Item = &str>| {
            let mut l = String::new();
            for (c, cell) in cells.enumerate() {
                let w = widths.get(c).copied().unwrap_or(0);
                if c > 0 {
                    l.push_str("  ");
                }
                let pad = w.saturating_sub(width(cell));
                if right.get(c).copied().unwrap_or(false) {
                    l.extend(std::iter::repeat_n(' ', pad));
                    l.push_str(cell);
                } else {
                    l.push_str(cell);
                    l.extend(std::iter::repeat_n(' ', pad));
                }
            }
            let _ = writeln!(out, "{}", l.trim_end());
        };
        line(&mut self.headers.iter().map(String::as_str));
        for r in 0..self.rows.len() {
            line(&mut (0..cols).map(|c| self.cell(r, c)));
        }
        out
    }

    /// CSV (RFC 4180): fields quoted when they hold a comma, quote, line
    /// break or edge spaces; quotes doubled; CRLF line ends.
    pub fn to_csv(&self) -> String {
        let mut out = String::new();
        let cols = self.headers.len();
        let mut line = |cells: &mut dyn Iterator<Item = &str>| {
            let fields: Vec<String> = cells.map(csv_field).collect();
            out.push_str(&fields.join(","));
            out.push_str("\r\n");
        };
        line(&mut self.headers.iter().map(String::as_str));
        for r in 0..self.rows.len() {
            line(&mut (0..cols).map(|c| self.cell(r, c)));
        }
        out
    }

    /// In the chosen format (`Json` is not a table's job: it gives the table as CSV).
    pub fn output(&self, format: Format) -> String {
        match format {
            Format::Table => self.render(),
            Format::Csv | Format::Json => self.to_csv(),
        }
    }
}

/// One CSV field, quoted if it needs to be.
pub fn csv_field(s: &str) -> String {
    let needs = s.contains([',', '"', '\n', '\r'])
        || s.starts_with(' ')
        || s.ends_with(' ')
        // A leading = + @ makes spreadsheets evaluate the cell as a formula
        // (`-` is left alone: negative numbers must stay numbers).
        || s.starts_with(['=', '+', '@']);
    if needs {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_owned()
    }
}

/// Key/value lines with aligned values, for one-record summaries.
pub fn render_pairs(pairs: &[(String, String)]) -> String {
    let w = pairs
        .iter()
        .map(|(k, _)| k.chars().count())
        .max()
        .unwrap_or(0);
    let mut out = String::new();
    for (k, v) in pairs {
        let pad = w.saturating_sub(k.chars().count());
        let _ = writeln!(out, "{k}:{}  {v}", " ".repeat(pad));
    }
    out
}

/// A time for people: whole seconds read better than milliseconds.
pub fn seconds(t: Timestamp) -> String {
    Timestamp::from_secs(t.as_secs()).to_string()
}

/// The server's JSON answer as `T`.
fn decode<T: serde::de::DeserializeOwned>(body: &str, what: &'static str) -> Result<T, CliError> {
    serde_json::from_str(body).map_err(|source| CliError::Decode { what, source })
}

/// The server's JSON pretty-printed (as it came, if it is not JSON).
fn pretty(body: &str) -> String {
    serde_json::from_str::<serde_json::Value>(body)
        .ok()
        .and_then(|v| serde_json::to_string_pretty(&v).ok())
        .map_or_else(|| body.to_owned(), |s| s + "\n")
}

/// An optional value as a cell: empty when absent.
fn opt<T: ToString>(v: &Option<T>) -> String {
    v.as_ref().map(ToString::to_string).unwrap_or_default()
}

/// Percent-encodes a path segment (host names are plain, but be safe).
fn path_seg(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(char::from(b));
        } else {
            let _ = write!(out, "%{b:02X}");
        }
    }
    out
}

/// Posts the CSV file `file` (`-`: standard input) to `path`; a refusal
/// (400) is a usage error with each of the file's problems on a line.
pub fn post_csv(
    client: &client::ApiClient,
    path: &str,
    query: &[(&str, Option<String>)],
    file: &std::path::Path,
) -> Result<String, CliError> {
    let bytes = if file == std::path::Path::new("-") {
        let mut buf = Vec::new();
        std::io::Read::read_to_end(&mut std::io::stdin(), &mut buf)
            .map_err(|e| CliError::Usage(format!("reading standard input: {e}")))?;
        buf
    } else {
        std::fs::read(file)
            .map_err(|e| CliError::Usage(format!("reading {}: {e}", file.display())))?
    };
    match client.post_bytes(path, query, "text/csv", &bytes) {
        Ok(b) => Ok(b),
        Err(ClientError::Status {
            status: 400,
            message,
        }) => Err(CliError::Usage(one_problem_a_line(&message))),
        Err(e) => Err(e.into()),
    }
}

/// The server's `N problems, nothing imported: line 2: …; line 5: …` with
/// each line's problem on a line of its own.
pub fn one_problem_a_line(message: &str) -> String {
    message
        .replace(": line ", ":\n  line ")
        .replace("; line ", "\n  line ")
        .replace("; and ", "\n  and ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn columns_line_up_and_numbers_align_right() {
        let mut t = Table::new(["HOST", "PACKAGES"]);
        t.push(["web-01", "1234"]);
        t.push(["db-primary", "7"]);
        let out = t.render();
        let lines: Vec<&str> = out.lines().collect();
        assert_eq!(
            lines,
            [
                "HOST        PACKAGES",
                "web-01          1234",
                "db-primary         7",
            ]
        );
    }

    #[test]
    fn alignment_counts_characters_not_bytes() {
        let mut t = Table::new(["NAME", "OS"]);
        t.push(["café", "debian"]);
        t.push(["x", "rhel"]);
        let out = t.render();
        let pos: Vec<usize> = out
            .lines()
            .map(|l| {
                l.chars()
                    .position(|c| c == 'd' || c == 'r' || c == 'O')
                    .unwrap()
            })
            .collect();
        assert_eq!(pos, [6, 6, 6], "{out}");
    }

    #[test]
    fn short_rows_are_padded_and_no_trailing_space() {
        let mut t = Table::new(["A", "B", "C"]);
        t.push(["1"]);
        let out = t.render();
        assert!(out.lines().all(|l| !l.ends_with(' ')), "{out:?}");
        assert_eq!(t.to_csv(), "A,B,C\r\n1,,\r\n");
    }

    #[test]
    fn csv_quotes_what_needs_quoting() {
        let mut t = Table::new(["host", "note"]);
        t.push(["a,b", "say \"hi\""]);
        t.push(["line\nbreak", " pad"]);
        t.push(["plain", "=SUM(A1)"]);
        assert_eq!(
            t.to_csv(),
            "host,note\r\n\"a,b\",\"say \"\"hi\"\"\"\r\n\"line\nbreak\",\" pad\"\r\nplain,\"=SUM(A1)\"\r\n"
        );
    }

    #[test]
    fn path_segments_are_percent_encoded() {
        assert_eq!(path_seg("web-01.corp"), "web-01.corp");
        assert_eq!(path_seg("a b/c"), "a%20b%2Fc");
    }

    #[test]
    fn pairs_align() {
        let out = render_pairs(&[
            ("Host".into(), "a".into()),
            ("Last seen".into(), "b".into()),
        ]);
        assert_eq!(out, "Host:       a\nLast seen:  b\n");
    }
}
