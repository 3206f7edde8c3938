//! The people directory's CSV import: a header row naming the columns,
//! then a person per row. Every bad row is named with its line and what
//! is wrong, and then none is taken (the caller imports all or nothing).
//!
//! Columns, in any order and any case (only `name` is required):
//! `name`, `logins` (separated by `;`), `email`, `phones` (separated by
//! `;`), `extension`, `department`, `location`. Fields are trimmed; an
//! empty field is no value; a row of empty fields is skipped. A person
//! needs an e-mail or a login: the first of those is the key that
//! recognises them on the next import ([`Person::key`]).

use std::collections::BTreeMap;

use super::phone::{PhonePlan, extension_key};
use crate::helpers::csvfile::CsvFile;
use crate::records::person::{Person, Phone};

/// Longest field taken, in characters.
const MAX_FIELD_CHARS: usize = 512;

/// The columns a header may name, each with the other names it may go by.
const COLUMNS: [(Column, &[&str]); 7] = [
    (Column::Name, &["name", "full name", "full_name"]),
    (Column::Logins, &["logins", "login"]),
    (Column::Email, &["email", "e-mail", "mail"]),
    (Column::Phones, &["phones", "phone"]),
    (Column::Extension, &["extension", "ext"]),
    (Column::Department, &["department", "dept"]),
    (Column::Location, &["location", "office"]),
];

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Column {
    Name,
    Logins,
    Email,
    Phones,
    Extension,
    Department,
    Location,
}

/// One person read from a row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Row {
    /// The row's line in the file (1 is the header).
    pub line: u64,
    /// The person.
    pub person: Person,
}

/// What is wrong with one line of the file.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
#[schema(as = PeopleImportProblem)]
pub struct Problem {
    /// Line in the file (1 is the header).
    pub line: u64,
    /// What is wrong, in words.
    pub message: String,
}

impl Problem {
    fn new(line: u64, message: impl Into<String>) -> Self {
        Problem {
            line,
            message: message.into(),
        }
    }
}

/// The people of the CSV file `bytes`, each with its line, or every
/// problem found (all rows are checked; nothing is taken if one is bad).
pub fn parse(bytes: &[u8], plan: &PhonePlan) -> Result<Vec<Row>, Vec<Problem>> {
    let mut file = CsvFile::new(bytes);
    let mut problems = Vec::new();
    let header = match file.header() {
        None => {
            return Err(vec![Problem::new(
                1,
                "the file is empty: it needs a header row naming the columns (name, logins, email, phones, extension, department, location)",
            )]);
        }
        Some(Err(e)) => return Err(vec![Problem::new(1, e)]),
        Some(Ok(h)) => h,
    };
    let columns = match header_columns(&header) {
        Ok(c) => c,
        Err(mut p) => {
            problems.append(&mut p);
            return Err(problems);
        }
    };
    let mut rows = Vec::new();
    let mut keys: BTreeMap<String, u64> = BTreeMap::new();
    let mut logins: BTreeMap<String, u64> = BTreeMap::new();
    while let Some(next) = file.next_row(columns.len()) {
        let (line, record) = match next {
            Ok(row) => row,
            Err((line, message)) => {
                problems.push(Problem::new(line, message));
                continue;
            }
        };
        let fields: BTreeMap<Column, &str> = columns.iter().copied().zip(record.iter()).collect();
        match person(&fields, plan) {
            Ok(p) => {
                let mut clash = false;
                if let Some(key) = p.key()
                    && let Some(first) = keys.insert(key.clone(), line)
                {
                    let what = if key.starts_with("email:") {
                        "e-mail"
                    } else {
                        "first login (and no e-mail)"
                    };
                    problems.push(Problem::new(
                        line,
                        format!("same {what} as line {first}: one person per row"),
                    ));
                    clash = true;
                }
                for l in &p.logins {
                    let lower = l.to_lowercase();
                    match logins.get(&lower) {
                        Some(first) if *first != line => {
                            problems.push(Problem::new(
                                line,
                                format!("login `{l}` is also on line {first}: a login belongs to one person"),
                            ));
                            clash = true;
                        }
                        _ => {
                            logins.insert(lower, line);
                        }
                    }
                }
                if !clash {
                    rows.push(Row { line, person: p });
                }
            }
            Err(mut p) => {
                problems.extend(p.drain(..).map(|m| Problem::new(line, m)));
            }
        }
    }
    if problems.is_empty() {
        Ok(rows)
    } else {
        Err(problems)
    }
}

/// Which column each field of the header names.
fn header_columns(header: &csv::StringRecord) -> Result<Vec<Column>, Vec<Problem>> {
    let mut problems = Vec::new();
    let mut out = Vec::new();
    for name in header.iter() {
        let lower = name.to_lowercase();
        match COLUMNS
            .iter()
            .find(|(_, names)| names.contains(&lower.as_str()))
        {
            Some((c, _)) if out.contains(c) => {
                problems.push(Problem::new(1, format!("column `{name}` is named twice")));
            }
            Some((c, _)) => out.push(*c),
            None => problems.push(Problem::new(
                1,
                format!(
                    "unknown column `{name}`; the columns are name, logins, email, phones, extension, department, location"
                ),
            )),
        }
    }
    if problems.is_empty() && !out.contains(&Column::Name) {
        problems.push(Problem::new(
            1,
            "the header has no `name` column (is the first line the header?)",
        ));
    }
    if problems.is_empty() {
        Ok(out)
    } else {
        Err(problems)
    }
}

/// The person of one row's `fields`, or what is wrong with them.
fn person(fields: &BTreeMap<Column, &str>, plan: &PhonePlan) -> Result<Person, Vec<String>> {
    let mut problems = Vec::new();
    for (c, v) in fields {
        if v.chars().count() > MAX_FIELD_CHARS {
            let name = COLUMNS
                .iter()
                .find(|(col, _)| col == c)
                .and_then(|(_, names)| names.first())
                .unwrap_or(&"a field");
            problems.push(format!(
                "{name} is longer than {MAX_FIELD_CHARS} characters"
            ));
        }
    }
    if !problems.is_empty() {
        return Err(problems);
    }
    let get = |c: Column| fields.get(&c).copied().filter(|v| !v.is_empty());
    let list = |c: Column| -> Vec<&str> {
        get(c)
            .map(|v| {
                v.split(';')
                    .map(str::trim)
                    .filter(|s| !s.is_empty())
                    .collect()
            })
            .unwrap_or_default()
    };
    let name = get(Column::Name).map(str::to_owned);
    if name.is_none() {
        problems.push("no name".to_owned());
    }
    let mut logins: Vec<String> = Vec::new();
    let mut bad_login = false;
    for l in list(Column::Logins) {
        if l.chars().any(char::is_whitespace) {
            bad_login = true;
            problems.push(format!(
                "login `{l}` has a space (separate logins with `;`)"
            ));
        } else if !logins.iter().any(|x| x.eq_ignore_ascii_case(l)) {
            logins.push(l.to_owned());
        }
    }
    let email = get(Column::Email).map(str::to_owned);
    if let Some(e) = &email {
        let ok = e.split_once('@').is_some_and(|(user, domain)| {
            !user.is_empty() && !domain.is_empty() && !domain.contains('@')
        }) && !e.chars().any(char::is_whitespace);
        if !ok {
            problems.push(format!(
                "e-mail `{e}` is not an address such as maria@example.com"
            ));
        }
    }
    let mut phones: Vec<Phone> = Vec::new();
    for p in list(Column::Phones) {
        match plan.normalise(p) {
            Ok(n) if phones.iter().any(|x| x.normalised == n) => {}
            Ok(normalised) => phones.push(Phone {
                number: p.to_owned(),
                normalised,
            }),
            Err(e) => problems.push(format!("phone `{p}` {e}")),
        }
    }
    // Kept as digits only, the way calls and lookups give it.
    let extension = get(Column::Extension).and_then(|x| {
        let key = extension_key(x);
        if key.is_none() {
            problems.push(format!(
                "extension `{x}` is not a number of up to 15 digits"
            ));
        }
        key
    });
    let p = Person {
        name: name.unwrap_or_default(),
        logins,
        email,
        phones,
        extension,
        department: get(Column::Department).map(str::to_owned),
        location: get(Column::Location).map(str::to_owned),
    };
    if p.key().is_none() && !bad_login {
        problems.push(
            "neither an e-mail nor a login: the next import could not tell this person from a new one"
                .to_owned(),
        );
    }
    if problems.is_empty() {
        Ok(p)
    } else {
        Err(problems)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan() -> PhonePlan {
        PhonePlan::with_country_code("34")
    }

    fn problems(text: &str) -> Vec<(u64, String)> {
        parse(text.as_bytes(), &plan())
            .unwrap_err()
            .into_iter()
            .map(|p| (p.line, p.message))
            .collect()
    }

    #[test]
    fn a_file_with_quotes_empty_fields_and_columns_in_any_order() {
        let text = "\u{feff}Email,NAME,phones,logins,extension,department,location\r\n\
            maria@corp.example,\"García, María\",\"+34 600 000 000; 600-000-000 ;(91) 555 12 34\",maria;MGARCIA;Maria,2041,IT,\"Madrid, 3rd floor\"\r\n\
            ,Ana Ruiz,,ana,,,\r\n\
            ,,,,,,\r\n\
            pepe@corp.example,\"\"\"Pepe\"\" Gil\",,,,Sales,\r\n";
        let rows = parse(text.as_bytes(), &plan()).unwrap();
        assert_eq!(rows.len(), 3, "{rows:?}");
        let maria = &rows[0];
        assert_eq!(maria.line, 2);
        assert_eq!(maria.person.name, "García, María");
        assert_eq!(
            maria.person.logins,
            ["maria", "MGARCIA"],
            "Maria is maria again"
        );
        assert_eq!(
            maria
                .person
                .phones
                .iter()
                .map(|p| (p.number.as_str(), p.normalised.as_str()))
                .collect::<Vec<_>>(),
            [
                ("+34 600 000 000", "+34600000000"),
                ("(91) 555 12 34", "+34915551234")
            ],
            "the second way of writing the first number is the same phone"
        );
        assert_eq!(maria.person.extension.as_deref(), Some("2041"));
        assert_eq!(maria.person.location.as_deref(), Some("Madrid, 3rd floor"));
        let ana = &rows[1].person;
        assert_eq!(
            (
                ana.email.as_ref(),
                ana.phones.len(),
                ana.department.as_ref()
            ),
            (None, 0, None)
        );
        assert_eq!(ana.key().as_deref(), Some("login:ana"));
        assert_eq!(rows[2].line, 5, "the blank row is skipped, not renumbered");
        assert_eq!(rows[2].person.name, "\"Pepe\" Gil");
        assert_eq!(rows[2].person.email.as_deref(), Some("pepe@corp.example"));
    }

    #[test]
    fn only_the_name_column_is_needed() {
        let rows = parse(b"name,login\nMar\xc3\xada,maria\n", &plan()).unwrap();
        assert_eq!(rows[0].person.name, "María");
        assert_eq!(rows[0].person.logins, ["maria"]);
    }

    #[test]
    fn every_bad_row_is_named_with_its_line_and_what_is_wrong() {
        let text = "name,logins,email,phones,extension\n\
            María García,maria,maria@corp.example,+34 600 000 000,2041\n\
            ,ana,,,\n\
            Pepe,pepe,pepe-at-corp,call me,x12\n\
            Luis,,,600 000 001,\n\
            Too,many,fields,here,,,\n\
            Mario,MARIA,,,\n\
            Maria Again,mg,Maria@Corp.Example,,\n\
            Two Words,juan perez,,,\n";
        assert_eq!(
            problems(text),
            [
                (3, "no name".to_owned()),
                (4, "e-mail `pepe-at-corp` is not an address such as maria@example.com".to_owned()),
                (4, "phone `call me` has `c`: a number is digits, a leading + or 00, and spaces, dashes, dots or parentheses".to_owned()),
                (4, "extension `x12` is not a number of up to 15 digits".to_owned()),
                (5, "neither an e-mail nor a login: the next import could not tell this person from a new one".to_owned()),
                (6, "has 7 fields, the header has 5".to_owned()),
                (7, "login `MARIA` is also on line 2: a login belongs to one person".to_owned()),
                (8, "same e-mail as line 2: one person per row".to_owned()),
                (9, "login `juan perez` has a space (separate logins with `;`)".to_owned()),
            ]
        );
    }

    #[test]
    fn a_bad_header_is_line_one() {
        assert_eq!(
            problems("name,phone,fax\n"),
            [(1, "unknown column `fax`; the columns are name, logins, email, phones, extension, department, location".to_owned())]
        );
        assert_eq!(
            problems("email,e-mail\n"),
            [(1, "column `e-mail` is named twice".to_owned())]
        );
        assert_eq!(
            problems("email,logins\nx@y,z\n")[0].1,
            "the header has no `name` column (is the first line the header?)"
        );
        assert!(problems("")[0].1.starts_with("the file is empty"));
    }

    #[test]
    fn text_that_is_not_utf8_is_named_by_line_and_the_rest_still_checked() {
        let problems = problems_bytes(b"name,login\nJos\xe9,jose\nAna,\n");
        assert_eq!(problems.len(), 2, "{problems:?}");
        assert_eq!(problems[0].0, 2);
        assert!(problems[0].1.contains("not UTF-8"), "{problems:?}");
        assert_eq!(problems[1].0, 3);
    }

    fn problems_bytes(bytes: &[u8]) -> Vec<(u64, String)> {
        parse(bytes, &plan())
            .unwrap_err()
            .into_iter()
            .map(|p| (p.line, p.message))
            .collect()
    }

    #[test]
    fn lines_are_counted_right_with_crlf_line_ends_and_blank_lines() {
        for end in ["\n", "\r\n"] {
            let text = ["name,login", "Ana,ana", "", "Luis,", ",,", "", "Pepe,"].join(end) + end;
            let lines: Vec<u64> = problems(&text).into_iter().map(|(l, _)| l).collect();
            assert_eq!(lines, [4, 7], "line ends {end:?}");
        }
    }

    #[test]
    fn a_quoted_field_may_hold_a_line_break_and_lines_still_count() {
        let text = "name,logins,location\n\"Ana\nRuiz\",ana,\"a\nb\"\nLuis,,\n";
        let problems = problems(text);
        assert_eq!(problems.len(), 1);
        assert_eq!(problems[0].0, 5, "the second row starts on line 5");
    }
}
