//! A person of the people directory, as the store keeps it: who calls
//! the help desk, with the logins that lead to their machines and the
//! phone numbers their calls come from.

use atalaya_common::model::Timestamp;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// A phone number as it was written and as it is matched.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Phone {
    /// As written in the directory, e.g. `+34 600 000 000`.
    pub number: String,
    /// Normalised for matching, e.g. `+34600000000` (see `people::phone`).
    pub normalised: String,
}

/// One person of the directory.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Person {
    /// Full name, e.g. `María García`.
    pub name: String,
    /// Login names on the fleet's machines (sessions, accounts), as written.
    pub logins: Vec<String>,
    /// E-mail address.
    pub email: Option<String>,
    /// Phone numbers, any number of them.
    pub phones: Vec<Phone>,
    /// Internal number (the desk phone's extension).
    pub extension: Option<String>,
    /// Department.
    pub department: Option<String>,
    /// Location (office, floor, site).
    pub location: Option<String>,
}

impl Person {
    /// The key that recognises this person on the next import: the
    /// e-mail address (`email:…`), else the first login (`login:…`), both
    /// in lower case; `None` when there is neither.
    pub fn key(&self) -> Option<String> {
        match (&self.email, self.logins.first()) {
            (Some(e), _) => Some(format!("email:{}", e.trim().to_lowercase())),
            (None, Some(l)) => Some(format!("login:{}", l.trim().to_lowercase())),
            (None, None) => None,
        }
    }
}

/// A person as stored: a number of its own, kept across imports.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PersonRecord {
    /// Directory number, given at the person's first import.
    pub id: u64,
    /// Who they are.
    pub person: Person,
    /// When the import that wrote this record ran.
    pub updated_at: Timestamp,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_key_is_the_email_else_the_first_login_in_lower_case() {
        let mut p = Person {
            name: "María García".into(),
            logins: vec!["MGarcia".into(), "maria".into()],
            email: Some(" Maria.Garcia@Corp.Example ".into()),
            ..Person::default()
        };
        assert_eq!(p.key().as_deref(), Some("email:maria.garcia@corp.example"));
        p.email = None;
        assert_eq!(p.key().as_deref(), Some("login:mgarcia"));
        p.logins.clear();
        assert_eq!(p.key(), None);
    }
}
