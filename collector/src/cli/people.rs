//! `atalaya import people FILE.csv` and `atalaya people`: the people
//! directory loaded from a CSV file and listed.

use std::fmt::Write as _;
use std::path::Path;

use super::client::ApiClient;
use super::{CliError, Format, Table, decode, post_csv, pretty};
use crate::api::Imported;
use crate::people::PersonCard;
use crate::store::Page;

/// People asked for per request when listing.
const PAGE: usize = 1000;

/// `atalaya import people FILE` (`-`: standard input): the whole file in
/// one request; bad rows are printed one per line and nothing is imported.
pub fn import(
    client: &ApiClient,
    file: &Path,
    prune: bool,
    format: Format,
) -> Result<String, CliError> {
    let query = [("prune", prune.then(|| "true".to_owned()))];
    let body = post_csv(client, "/api/v1/people/import", &query, file)?;
    if format == Format::Json {
        return Ok(pretty(&body));
    }
    let done: Imported = decode(&body, "the import")?;
    let c = done.counts;
    Ok(format!(
        "imported {}: {} added, {} replaced, {} removed; {} {} in the directory\n",
        file.display(),
        c.added,
        c.replaced,
        c.removed,
        done.people,
        if done.people == 1 { "person" } else { "people" }
    ))
}

/// `atalaya people`: everyone in the directory, by number.
pub fn list(client: &ApiClient, format: Format) -> Result<String, CliError> {
    let mut all: Vec<PersonCard> = Vec::new();
    let mut raw = Vec::new();
    let mut offset = 0;
    loop {
        let body = client.get(
            "/api/v1/people",
            &[
                ("limit", Some(PAGE.to_string())),
                ("offset", Some(offset.to_string())),
            ],
        )?;
        let page: Page<PersonCard> = decode(&body, "the people directory")?;
        raw.extend(page.items.iter().cloned());
        all.extend(page.items);
        match page.next_offset {
            Some(next) if next > offset => offset = next,
            _ => break,
        }
    }
    if format == Format::Json {
        let json = serde_json::to_string_pretty(&raw).map_err(|source| CliError::Encode {
            what: "the people directory",
            source,
        })?;
        return Ok(json + "\n");
    }
    let mut out = people_table(&all).output(format);
    if format == Format::Table && all.is_empty() {
        out.push_str("no one in the directory (atalaya import people FILE.csv)\n");
    }
    Ok(out)
}

/// A row per person.
pub fn people_table(people: &[PersonCard]) -> Table {
    let mut t = Table::new([
        "id",
        "name",
        "logins",
        "email",
        "phones",
        "extension",
        "department",
        "location",
    ]);
    for p in people {
        t.push([
            p.id.to_string(),
            p.name.clone(),
            p.logins.join(";"),
            p.email.clone().unwrap_or_default(),
            p.phones
                .iter()
                .map(|ph| ph.number.as_str())
                .collect::<Vec<_>>()
                .join(";"),
            p.extension.clone().unwrap_or_default(),
            p.department.clone().unwrap_or_default(),
            p.location.clone().unwrap_or_default(),
        ]);
    }
    t
}

/// A person's card as a block of lines, for `atalaya lookup`.
pub fn card_block(p: &PersonCard) -> String {
    let mut out = format!("{}  person {}\n", p.name, p.id);
    let mut line = |label: &str, text: &str| {
        if !text.is_empty() {
            let _ = writeln!(out, "  {label:<11} {text}");
        }
    };
    line("why:", &p.why.join("; "));
    line("e-mail:", p.email.as_deref().unwrap_or_default());
    let phones: Vec<&str> = p.phones.iter().map(|ph| ph.number.as_str()).collect();
    line("phones:", &phones.join(", "));
    line("extension:", p.extension.as_deref().unwrap_or_default());
    line("department:", p.department.as_deref().unwrap_or_default());
    line("location:", p.location.as_deref().unwrap_or_default());
    line("logins:", &p.logins.join(", "));
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::one_problem_a_line;
    use crate::records::person::Phone;

    #[test]
    fn an_import_refusal_reads_one_problem_a_line() {
        assert_eq!(
            one_problem_a_line(
                "2 problems, nothing imported: line 3: no name; line 5: phone `x` has `x`"
            ),
            "2 problems, nothing imported:\n  line 3: no name\n  line 5: phone `x` has `x`"
        );
    }

    #[test]
    fn a_card_leaves_out_what_is_not_known() {
        let card = PersonCard {
            id: 7,
            name: "María García".into(),
            logins: vec!["maria".into()],
            email: None,
            phones: vec![Phone {
                number: "+34 600 000 000".into(),
                normalised: "+34600000000".into(),
            }],
            extension: Some("2041".into()),
            department: None,
            location: Some("Madrid".into()),
            why: vec!["phone +34 600 000 000".into()],
        };
        assert_eq!(
            card_block(&card),
            "María García  person 7\n  why:        phone +34 600 000 000\n  phones:     +34 600 000 000\n  extension:  2041\n  location:   Madrid\n  logins:     maria\n"
        );
    }
}
