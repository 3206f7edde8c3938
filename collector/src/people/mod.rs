//! The people directory: who calls the help desk, with the logins that
//! lead to their machines and the numbers their calls come from. Pure:
//! it reads no store.
//!
//! A lookup or an incoming call asks the directory through a
//! [`DirectoryQuery`] (which index keys to read: a login, a name, a
//! normalised phone number, an extension); the people found are shown as
//! [`PersonCard`]s, best match first, each saying why it matched.
//!
//! # Layout
//! - [`phone`]: phone numbers normalised for matching.
//! - [`import`]: the CSV import's parsing and checks, every bad row named.

pub mod import;
pub mod phone;

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::helpers::users::full_name_key;
use crate::records::person::{PersonRecord, Phone};
use phone::{PhonePlan, extension_key, looks_like_phone};

/// How a person was found, strongest first (the order ranks them).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Found {
    /// One of their phone numbers is the query.
    Phone,
    /// Their extension is the query.
    Extension,
    /// One of their logins is the query.
    Login,
    /// Their name is the query.
    Name,
}

/// The index keys a query reads in the directory.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DirectoryQuery {
    /// A login, lower case.
    pub login: Option<String>,
    /// A full name, as [`full_name_key`] keeps it.
    pub name: Option<String>,
    /// A phone number, normalised.
    pub phone: Option<String>,
    /// An extension, digits only.
    pub extension: Option<String>,
}

impl DirectoryQuery {
    /// A lookup's query: a login or a name, and, written like a number, a
    /// phone number or an extension too. A `*` pattern reads nothing (it
    /// names hosts only).
    pub fn text(q: &str, plan: &PhonePlan) -> Self {
        let q = q.trim();
        if q.is_empty() || q.contains('*') {
            return Self::default();
        }
        let lower = q.to_lowercase();
        let number = Self::number(q, plan);
        DirectoryQuery {
            login: (!lower.chars().any(char::is_whitespace)).then(|| lower.clone()),
            name: Some(full_name_key(q)),
            ..number
        }
    }

    /// The number of an incoming call: a phone number or an extension,
    /// never a name (a caller id such as `anonymous` finds no one).
    pub fn number(from: &str, plan: &PhonePlan) -> Self {
        if !looks_like_phone(from) {
            return Self::default();
        }
        DirectoryQuery {
            phone: plan.normalise(from).ok(),
            extension: extension_key(from),
            ..Self::default()
        }
    }

    /// Whether it reads nothing.
    pub fn is_empty(&self) -> bool {
        self.login.is_none()
            && self.name.is_none()
            && self.phone.is_none()
            && self.extension.is_none()
    }
}

/// A person as the help desk sees them: the directory card.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct PersonCard {
    /// Directory number.
    pub id: u64,
    /// Full name.
    pub name: String,
    /// Logins on the fleet's machines.
    pub logins: Vec<String>,
    /// E-mail address.
    pub email: Option<String>,
    /// Phone numbers, as written and normalised.
    pub phones: Vec<Phone>,
    /// Internal number.
    pub extension: Option<String>,
    /// Department.
    pub department: Option<String>,
    /// Location.
    pub location: Option<String>,
    /// Why they matched, e.g. `phone +34 600 000 000` (absent when listed).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub why: Vec<String>,
}

impl PersonCard {
    /// The card of `r`, with no reason.
    pub fn new(r: &PersonRecord) -> Self {
        let p = &r.person;
        PersonCard {
            id: r.id,
            name: p.name.clone(),
            logins: p.logins.clone(),
            email: p.email.clone(),
            phones: p.phones.clone(),
            extension: p.extension.clone(),
            department: p.department.clone(),
            location: p.location.clone(),
            why: Vec::new(),
        }
    }

    /// The card in a line: name, department, location, extension.
    pub fn summary(&self) -> String {
        let mut parts = vec![self.name.clone()];
        parts.extend(self.department.clone());
        parts.extend(self.location.clone());
        if let Some(x) = &self.extension {
            parts.push(format!("ext. {x}"));
        }
        parts.join(", ")
    }
}

/// The people found, each once, best first (strongest way found, then
/// name, then number), each with every reason it was found for.
pub fn cards(found: Vec<(PersonRecord, Found)>, q: &DirectoryQuery) -> Vec<PersonCard> {
    let mut by_id: BTreeMap<u64, (PersonRecord, Vec<Found>)> = BTreeMap::new();
    for (r, how) in found {
        let entry = by_id.entry(r.id).or_insert_with(|| (r, Vec::new()));
        if !entry.1.contains(&how) {
            entry.1.push(how);
        }
    }
    let mut ranked: Vec<(Found, PersonCard)> = by_id
        .into_values()
        .map(|(r, mut hows)| {
            hows.sort();
            let mut card = PersonCard::new(&r);
            card.why = hows.iter().map(|h| reason(&r, *h, q)).collect();
            (hows.first().copied().unwrap_or(Found::Name), card)
        })
        .collect();
    ranked.sort_by(|(fa, a), (fb, b)| {
        fa.cmp(fb)
            .then_with(|| a.name.cmp(&b.name))
            .then(a.id.cmp(&b.id))
    });
    ranked.into_iter().map(|(_, c)| c).collect()
}

/// Why `r` was found `how`, in words.
fn reason(r: &PersonRecord, how: Found, q: &DirectoryQuery) -> String {
    let p = &r.person;
    match how {
        Found::Phone => {
            let written = p
                .phones
                .iter()
                .find(|ph| Some(&ph.normalised) == q.phone.as_ref())
                .map_or_else(
                    || q.phone.clone().unwrap_or_default(),
                    |ph| ph.number.clone(),
                );
            format!("phone {written}")
        }
        Found::Extension => format!("extension {}", p.extension.as_deref().unwrap_or_default()),
        Found::Login => {
            let login = p
                .logins
                .iter()
                .find(|l| Some(l.to_lowercase()) == q.login)
                .map_or_else(|| q.login.clone().unwrap_or_default(), Clone::clone);
            format!("login {login}")
        }
        Found::Name => format!("name {}", p.name),
    }
}

/// Who is calling from `from`, in a line: the person's card, or how many
/// match, or that no one does.
pub fn caller_text(from: &str, people: &[PersonCard]) -> String {
    match people {
        [] => format!("no one matches {}", from.trim()),
        [one] => one.summary(),
        many => {
            let names: Vec<&str> = many.iter().map(|c| c.name.as_str()).collect();
            format!(
                "{} people match {}: {}",
                many.len(),
                from.trim(),
                names.join("; ")
            )
        }
    }
}

#[cfg(test)]
mod tests {
    use atalaya_common::model::Timestamp;

    use super::*;
    use crate::records::person::Person;

    fn record(id: u64, name: &str, login: &str, phone: &str, ext: &str) -> PersonRecord {
        let plan = PhonePlan::with_country_code("34");
        PersonRecord {
            id,
            person: Person {
                name: name.into(),
                logins: vec![login.into()],
                phones: vec![Phone {
                    number: phone.into(),
                    normalised: plan.normalise(phone).unwrap(),
                }],
                extension: Some(ext.into()),
                department: Some("IT".into()),
                ..Person::default()
            },
            updated_at: Timestamp(0),
        }
    }

    #[test]
    fn a_query_reads_logins_names_and_numbers_as_written() {
        let plan = PhonePlan::with_country_code("34");
        let q = DirectoryQuery::text(" María García ", &plan);
        assert_eq!(
            (q.login, q.name.as_deref(), q.phone),
            (None, Some("maría garcía"), None)
        );
        let q = DirectoryQuery::text("MGarcia", &plan);
        assert_eq!(q.login.as_deref(), Some("mgarcia"));
        let q = DirectoryQuery::text("+34 600 000 000", &plan);
        assert_eq!(
            (q.phone.as_deref(), q.extension),
            (Some("+34600000000"), None)
        );
        let q = DirectoryQuery::text("2041", &plan);
        assert_eq!(
            (q.phone.as_deref(), q.extension.as_deref()),
            (Some("+342041"), Some("2041"))
        );
        assert!(DirectoryQuery::text("ws-*", &plan).is_empty());
        assert!(DirectoryQuery::number("anonymous", &plan).is_empty());
        assert_eq!(DirectoryQuery::number("600000000", &plan).login, None);
    }

    #[test]
    fn people_found_twice_show_once_with_both_reasons_best_first() {
        let plan = PhonePlan::with_country_code("34");
        let q = DirectoryQuery::text("2041", &plan);
        let ana = record(2, "Ana", "ana", "600 000 001", "2041");
        let luis = record(3, "Luis", "luis", "+34 2041", "9");
        let found = vec![
            (ana.clone(), Found::Extension),
            (luis, Found::Phone),
            (ana, Found::Extension),
        ];
        let cards = cards(found, &q);
        assert_eq!(
            cards
                .iter()
                .map(|c| (c.name.as_str(), c.why.clone()))
                .collect::<Vec<_>>(),
            [
                ("Luis", vec!["phone +34 2041".to_owned()]),
                ("Ana", vec!["extension 2041".to_owned()]),
            ]
        );
    }

    #[test]
    fn the_caller_in_a_line() {
        let card = |id, name| PersonCard::new(&record(id, name, "x", "600000000", "2041"));
        assert_eq!(caller_text(" +34 600 ", &[]), "no one matches +34 600");
        assert_eq!(caller_text("600", &[card(1, "Ana")]), "Ana, IT, ext. 2041");
        assert_eq!(
            caller_text("600", &[card(1, "Ana"), card(2, "Luis")]),
            "2 people match 600: Ana; Luis"
        );
    }
}
