//! Reading CSV files people make in spreadsheets: the line of each
//! record as an editor shows it, a UTF-8 byte-order mark taken off, CSV
//! errors in words, and tables whose header names the columns (in any
//! order and case, by any of their names) with every bad field reported
//! by line and column.

use std::collections::BTreeMap;

/// Line numbers of byte offsets, counted forward from the last one asked
/// (records come in order, so a file is counted once).
///
/// The CSV reader's own line numbers lag by one after each CRLF line end
/// (a record's position points at the `\n` of the CRLF before it), and
/// files saved by spreadsheets end their lines with CRLF; so a record's
/// line is counted here: the line of its first byte, after any line ends
/// its position points at.
#[derive(Debug)]
struct Lines<'a> {
    bytes: &'a [u8],
    /// Offset counted up to, and the line it is on.
    at: usize,
    line: u64,
}

impl<'a> Lines<'a> {
    /// Counts lines of `bytes` from the start.
    fn new(bytes: &'a [u8]) -> Self {
        Lines {
            bytes,
            at: 0,
            line: 1,
        }
    }

    /// The line of the record whose position is the byte offset `byte`.
    fn at(&mut self, byte: u64) -> u64 {
        let mut start = usize::try_from(byte)
            .unwrap_or(usize::MAX)
            .min(self.bytes.len());
        while self
            .bytes
            .get(start)
            .is_some_and(|b| *b == b'\n' || *b == b'\r')
        {
            start += 1;
        }
        if start >= self.at {
            let newlines = self.bytes.get(self.at..start).unwrap_or_default();
            self.line += newlines.iter().filter(|b| **b == b'\n').count() as u64;
            self.at = start;
        }
        self.line
    }
}

/// A CSV error in words, without its position (the line is said apart).
fn csv_error(e: &csv::Error) -> String {
    match e.kind() {
        csv::ErrorKind::Utf8 { err, .. } => {
            format!(
                "is not UTF-8 text (field {}); save the file as UTF-8",
                err.field() + 1
            )
        }
        other => format!("cannot be read as CSV: {other:?}"),
    }
}

/// A CSV file as spreadsheets save it, read record by record: a UTF-8
/// byte-order mark taken off, fields trimmed, each record with the line
/// an editor shows it on.
pub struct CsvFile<'a> {
    records: csv::StringRecordsIntoIter<&'a [u8]>,
    lines: Lines<'a>,
    last_line: u64,
    done: bool,
}

impl std::fmt::Debug for CsvFile<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CsvFile")
            .field("last_line", &self.last_line)
            .field("done", &self.done)
            .finish_non_exhaustive()
    }
}

impl<'a> CsvFile<'a> {
    /// The file `bytes`.
    pub fn new(bytes: &'a [u8]) -> Self {
        let bytes = bytes.strip_prefix(b"\xef\xbb\xbf").unwrap_or(bytes);
        let records = csv::ReaderBuilder::new()
            .has_headers(false)
            .flexible(true)
            .trim(csv::Trim::All)
            .from_reader(bytes)
            .into_records();
        CsvFile {
            records,
            lines: Lines::new(bytes),
            last_line: 1,
            done: false,
        }
    }

    /// The first record, the header: `None` for an empty file, the CSV
    /// error in words when it cannot be read.
    pub fn header(&mut self) -> Option<Result<csv::StringRecord, String>> {
        self.records.next().map(|r| r.map_err(|e| csv_error(&e)))
    }

    /// The next record that is not empty, with its line; a record with
    /// another number of fields than `width`, or that cannot be read, is
    /// the problem of its line. After a problem other than text that is
    /// not UTF-8 the file cannot be followed, and there is no next record.
    pub fn next_row(
        &mut self,
        width: usize,
    ) -> Option<Result<(u64, csv::StringRecord), (u64, String)>> {
        while !self.done {
            let record = match self.records.next()? {
                Ok(r) => r,
                Err(e) => {
                    let line = e
                        .position()
                        .map_or(self.last_line + 1, |p| self.lines.at(p.byte()));
                    self.last_line = line;
                    self.done = !matches!(e.kind(), csv::ErrorKind::Utf8 { .. });
                    return Some(Err((line, csv_error(&e))));
                }
            };
            let line = record
                .position()
                .map_or(self.last_line + 1, |p| self.lines.at(p.byte()));
            self.last_line = line;
            if record.iter().all(str::is_empty) {
                continue;
            }
            if record.len() != width {
                let message = format!("has {} fields, the header has {width}", record.len());
                return Some(Err((line, message)));
            }
            return Some(Ok((line, record)));
        }
        None
    }
}

/// Longest field taken, in characters.
pub const MAX_FIELD_CHARS: usize = 4096;

/// What is wrong with one line, or one field of it, of a file.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
pub struct CellProblem {
    /// Line in the file (1 is the header).
    pub line: u64,
    /// The column, as the header names it (`None`: the whole line).
    pub column: Option<String>,
    /// What is wrong, in words.
    pub message: String,
}

impl CellProblem {
    /// A problem with the whole of `line`.
    pub fn line(line: u64, message: impl Into<String>) -> Self {
        CellProblem {
            line,
            column: None,
            message: message.into(),
        }
    }

    /// A problem with the field of `column` on `line`.
    pub fn field(line: u64, column: &str, message: impl Into<String>) -> Self {
        CellProblem {
            line,
            column: Some(column.to_owned()),
            message: message.into(),
        }
    }
}

impl std::fmt::Display for CellProblem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.column {
            Some(c) => write!(f, "line {}, column {c}: {}", self.line, self.message),
            None => write!(f, "line {}: {}", self.line, self.message),
        }
    }
}

/// A column a table may have.
#[derive(Debug, Clone, Copy)]
pub struct ColumnSpec {
    /// Its name, as rows are read by.
    pub name: &'static str,
    /// Other names a header may give it.
    pub aliases: &'static [&'static str],
    /// Whether the header must have it.
    pub required: bool,
}

/// One record of a table: its line and its non-empty fields by column.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableRow {
    /// Line in the file of its first byte.
    pub line: u64,
    fields: BTreeMap<&'static str, String>,
}

impl TableRow {
    /// The field of `column`, trimmed, when not empty.
    pub fn get(&self, column: &str) -> Option<&str> {
        self.fields.get(column).map(String::as_str)
    }
}

/// A table read: its good records, and what is wrong with the others.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Table {
    /// Records whose fields could be read.
    pub rows: Vec<TableRow>,
    /// Lines that could not be read: another number of fields than the
    /// header, a field that is not UTF-8 or longer than
    /// [`MAX_FIELD_CHARS`], more than the rows allowed.
    pub problems: Vec<CellProblem>,
}

/// The CSV table `bytes` whose header names its columns among `columns`,
/// or the problems of its header (an unknown, doubled or missing column,
/// no header at all). Fields are trimmed; rows of empty fields are
/// skipped; at most `max_rows` records are read.
pub fn read_table(
    bytes: &[u8],
    columns: &[ColumnSpec],
    max_rows: usize,
) -> Result<Table, Vec<CellProblem>> {
    let names = || {
        columns
            .iter()
            .map(|c| c.name)
            .collect::<Vec<_>>()
            .join(", ")
    };
    let mut file = CsvFile::new(bytes);
    let header = match file.header() {
        None => {
            return Err(vec![CellProblem::line(
                1,
                format!(
                    "the file is empty: it needs a header row naming the columns ({})",
                    names()
                ),
            )]);
        }
        Some(Err(e)) => return Err(vec![CellProblem::line(1, e)]),
        Some(Ok(h)) => h,
    };
    let mut problems = Vec::new();
    let mut order: Vec<&'static str> = Vec::new();
    for name in header.iter() {
        let lower = name.to_lowercase();
        match columns
            .iter()
            .find(|c| c.name == lower || c.aliases.contains(&lower.as_str()))
        {
            Some(c) if order.contains(&c.name) => {
                problems.push(CellProblem::field(1, name, "is named twice"));
            }
            Some(c) => order.push(c.name),
            None => problems.push(CellProblem::field(
                1,
                name,
                format!("is not a column; the columns are {}", names()),
            )),
        }
    }
    for c in columns.iter().filter(|c| c.required) {
        if !order.contains(&c.name) {
            problems.push(CellProblem::line(
                1,
                format!(
                    "the header has no `{}` column (is the first line the header?)",
                    c.name
                ),
            ));
        }
    }
    if !problems.is_empty() {
        return Err(problems);
    }
    let mut rows = Vec::new();
    while let Some(next) = file.next_row(order.len()) {
        let (line, record) = match next {
            Ok(row) => row,
            Err((line, message)) => {
                problems.push(CellProblem::line(line, message));
                continue;
            }
        };
        if rows.len() == max_rows {
            problems.push(CellProblem::line(
                line,
                format!("more than {max_rows} rows: split the file"),
            ));
            break;
        }
        let mut fields = BTreeMap::new();
        let before = problems.len();
        for (name, value) in order.iter().zip(record.iter()) {
            if value.chars().count() > MAX_FIELD_CHARS {
                problems.push(CellProblem::field(
                    line,
                    name,
                    format!("is longer than {MAX_FIELD_CHARS} characters"),
                ));
            } else if !value.is_empty() {
                fields.insert(*name, value.to_owned());
            }
        }
        if problems.len() == before {
            rows.push(TableRow { line, fields });
        }
    }
    Ok(Table { rows, problems })
}

#[cfg(test)]
mod tests {
    use super::*;

    const COLUMNS: [ColumnSpec; 2] = [
        ColumnSpec {
            name: "name",
            aliases: &["full name"],
            required: true,
        },
        ColumnSpec {
            name: "notes",
            aliases: &[],
            required: false,
        },
    ];

    #[test]
    fn a_table_with_a_bom_crlf_quotes_and_columns_in_any_order() {
        let text = "\u{feff}Notes,Full Name\r\n\"a, \"\"quoted\"\" note\",Dell\r\n,,\r\n,HP\r\n";
        let table = read_table(text.as_bytes(), &COLUMNS, 10).unwrap();
        assert_eq!(table.problems, []);
        let rows = table.rows;
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[0].line, 2);
        assert_eq!(rows[0].get("name"), Some("Dell"));
        assert_eq!(rows[0].get("notes"), Some("a, \"quoted\" note"));
        assert_eq!(rows[1].line, 4);
        assert_eq!(rows[1].get("notes"), None);
    }

    #[test]
    fn every_problem_is_named_by_line_and_column() {
        let bad = read_table(b"name,colour,name\n", &COLUMNS, 10).unwrap_err();
        let said: Vec<String> = bad.iter().map(ToString::to_string).collect();
        assert_eq!(
            said,
            [
                "line 1, column colour: is not a column; the columns are name, notes",
                "line 1, column name: is named twice",
            ]
        );
        let missing = read_table(b"notes\nx\n", &COLUMNS, 10).unwrap_err();
        assert!(
            missing[0].message.contains("no `name` column"),
            "{missing:?}"
        );
        let empty = read_table(b"", &COLUMNS, 10).unwrap_err();
        assert!(empty[0].message.contains("empty"), "{empty:?}");
        let long = format!("name\n{}\nok\na,b\n", "x".repeat(MAX_FIELD_CHARS + 1));
        let table = read_table(long.as_bytes(), &COLUMNS, 10).unwrap();
        assert_eq!(
            table.rows.len(),
            1,
            "ok; the line with a long field is left out"
        );
        let bad = table.problems;
        assert_eq!(bad.len(), 2, "{bad:?}");
        assert_eq!(
            bad[0].to_string(),
            format!("line 2, column name: is longer than {MAX_FIELD_CHARS} characters")
        );
        assert_eq!(bad[1].to_string(), "line 4: has 2 fields, the header has 1");
        let latin1 = read_table(b"name\nCaf\xe9\n", &COLUMNS, 10)
            .unwrap()
            .problems;
        assert_eq!(latin1[0].line, 2);
        assert!(latin1[0].message.contains("UTF-8"), "{latin1:?}");
        let many = read_table(b"name\na\nb\nc\n", &COLUMNS, 2)
            .unwrap()
            .problems;
        assert_eq!(
            many[0].to_string(),
            "line 4: more than 2 rows: split the file"
        );
    }
}
