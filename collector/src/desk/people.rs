//! The people directory's import wired to the store: the CSV checked by
//! [`crate::people::import`], then written in one transaction, all or
//! nothing.

use atalaya_common::model::Timestamp;

use crate::people::import::{self, Problem};
use crate::people::phone::PhonePlan;
use crate::store::people::{ImportCounts, ImportOutcome};
use crate::store::{Store, StoreError};

/// Why an import wrote nothing.
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    /// Rows of the file are wrong (each named with its line).
    #[error("{} {}, nothing imported: {}", .0.len(), if .0.len() == 1 { "problem" } else { "problems" }, summary(.0))]
    Rows(Vec<Problem>),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Problems listed in the error's message, at most.
const LISTED: usize = 20;

/// The first problems in a line each, and how many more.
fn summary(problems: &[Problem]) -> String {
    let mut parts: Vec<String> = problems
        .iter()
        .take(LISTED)
        .map(|p| format!("line {}: {}", p.line, p.message))
        .collect();
    if problems.len() > LISTED {
        parts.push(format!("and {} more", problems.len() - LISTED));
    }
    parts.join("; ")
}

/// Imports the CSV file `bytes` into the directory, national phone
/// numbers completed by `phones`; with `prune`, the people the file does
/// not name are removed. Nothing is written unless every row is right and
/// no login of the file belongs to someone the file leaves in place.
pub fn import(
    store: &Store,
    bytes: &[u8],
    phones: &PhonePlan,
    prune: bool,
    now: Timestamp,
) -> Result<ImportCounts, ImportError> {
    let rows = import::parse(bytes, phones).map_err(ImportError::Rows)?;
    let people: Vec<_> = rows.iter().map(|r| r.person.clone()).collect();
    match store.import_people(&people, prune, now)? {
        ImportOutcome::Done(counts) => Ok(counts),
        ImportOutcome::LoginsTaken(taken) => Err(ImportError::Rows(
            taken
                .into_iter()
                .map(|t| {
                    let holder = &t.holder.person;
                    let who = match &holder.email {
                        Some(e) => format!("{} <{e}>", holder.name),
                        None => holder.name.clone(),
                    };
                    Problem {
                        line: rows.get(t.row).map_or(0, |r| r.line),
                        message: format!(
                            "login `{}` belongs to {who} (person {}), who stays in the directory; \
                             import them in the same file, or re-import with prune",
                            t.login, t.holder.id
                        ),
                    }
                })
                .collect(),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::testutil::temp_store;

    const FILE: &str = "name,logins,email,phones,extension,department,location\n\
        María García,maria;mgarcia,maria@corp.example,+34 600 000 000,2041,IT,Madrid\n\
        Ana Ruiz,ana,,600 000 001,2042,Finance,Sevilla\n";

    #[test]
    fn one_bad_row_keeps_every_row_out() {
        let (_d, s) = temp_store();
        let plan = PhonePlan::with_country_code("34");
        let bad = format!("{FILE}Luis,luis,luis@corp,not a phone,,,\n");
        let e = import(&s, bad.as_bytes(), &plan, false, Timestamp(1)).unwrap_err();
        assert_eq!(
            e.to_string(),
            "1 problem, nothing imported: line 4: phone `not a phone` has `n`: a number is digits, a leading + or 00, and spaces, dashes, dots or parentheses"
        );
        assert!(s.people().unwrap().is_empty());

        let counts = import(&s, FILE.as_bytes(), &plan, false, Timestamp(1)).unwrap();
        assert_eq!((counts.added, counts.replaced), (2, 0));
        assert_eq!(
            s.people_by_phone("+34600000001").unwrap()[0].person.name,
            "Ana Ruiz"
        );

        // Another person taking ana's login, while she stays: named, nothing written.
        let clash = "name,logins,email\nAna Other,ANA,other@corp.example\n";
        let e = import(&s, clash.as_bytes(), &plan, false, Timestamp(2)).unwrap_err();
        let ImportError::Rows(problems) = &e else {
            panic!("{e}")
        };
        assert_eq!(problems.len(), 1);
        assert_eq!(problems[0].line, 2);
        assert!(
            problems[0]
                .message
                .starts_with("login `ANA` belongs to Ana Ruiz (person 2), who stays"),
            "{e}"
        );
        assert_eq!(s.people().unwrap().len(), 2);
    }
}
