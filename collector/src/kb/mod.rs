//! The knowledge base: articles that say how a known problem was fixed,
//! matched to new incidents by a signature.
//!
//! An [`Article`] has a title, symptoms, a solution, a [`Signature`] (any
//! of: rule name, metric, software name with an optional version glob, OS
//! id) and two counters: how often it was suggested and how often it
//! solved the incident. Articles live in the store's `kb_articles` table.
//!
//! # For the incident side
//! - When an incident opens: [`suggest`] with its [`IncidentFacts`] gives
//!   the fitting articles best first, with scores, and counts each as
//!   suggested. Link them to the incident.
//! - When staff resolve it with a solution: [`record_solution`] with the
//!   article they used (confirms it: solved + 1) or none (the solution
//!   becomes a new article whose signature is the incident's rule and metric).
//!
//! # Layout
//! - [`matching`]: scoring and search, pure functions.

pub mod matching;

use atalaya_common::model::Timestamp;
use redb::{ReadableTable, WriteTransaction};
use serde::{Deserialize, Serialize};

use crate::store::schema::{KB_ARTICLES, META, META_NEXT_ARTICLE};
use crate::store::{Store, StoreError, dec, enc, next_id};

/// An article's number.
pub type ArticleId = u64;

/// Most articles [`suggest`] returns.
pub const MAX_SUGGESTIONS: usize = 5;

/// Longest title, in characters.
pub const MAX_TITLE_CHARS: usize = 200;
/// Longest symptoms or solution text, in bytes.
pub const MAX_TEXT_BYTES: usize = 64 * 1024;

const TABLE: &str = "kb_articles";

/// What incidents an article fits. Every field that is set must match;
/// nothing set means the article is found by search only.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Signature {
    /// Rule name, e.g. `filesystem-full` (case-insensitive).
    pub rule: Option<String>,
    /// Metric, e.g. `filesystem.used_percent`.
    pub metric: Option<String>,
    /// Software package name involved (case-insensitive).
    pub software: Option<String>,
    /// With `software`: its version, exact or a `*` glob.
    pub software_version: Option<String>,
    /// OS id from os-release, e.g. `debian`.
    pub os: Option<String>,
}

/// A knowledge-base article.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Article {
    /// Its number.
    pub id: ArticleId,
    /// One line.
    pub title: String,
    /// What people see when the problem happens.
    pub symptoms: String,
    /// What fixed it.
    pub solution: String,
    /// The incidents it fits.
    pub signature: Signature,
    /// Times it was suggested for an incident.
    pub suggested: u64,
    /// Times it solved an incident.
    pub solved: u64,
    /// When it was written.
    pub created_at: Timestamp,
    /// When it was last edited or confirmed.
    pub updated_at: Timestamp,
}

/// A new article as written by a person (`POST /api/v1/kb`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct NewArticle {
    /// One line.
    pub title: String,
    /// What people see.
    #[serde(default)]
    pub symptoms: String,
    /// What fixes it.
    pub solution: String,
    /// The incidents it fits.
    #[serde(default)]
    pub signature: Signature,
}

/// What the knowledge base needs to know about an incident.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct IncidentFacts {
    /// Rule name.
    pub rule: String,
    /// Metric the rule watches, for threshold and forecast rules.
    pub metric: Option<String>,
    /// Mount point, interface… (informative; not matched).
    pub subject: String,
    /// The asset's OS id.
    pub os_id: Option<String>,
    /// Software involved, `(name, version)` (e.g. from an inventory change).
    pub software: Vec<(String, String)>,
    /// The incident's title (becomes the title of an article saved from its solution).
    pub title: String,
    /// The incident's description (becomes the symptoms of such an article).
    pub description: String,
    /// For an incident someone reported in their own words: the
    /// significant words of what they wrote. An article must then contain
    /// at least one of them (title or symptoms) to fit, and one with no
    /// signature fits by its words alone ([`matching::fit`]).
    #[serde(default)]
    pub words: Vec<String>,
}

/// What the knowledge base matches the incidents of one rule on
/// ([`crate::incidents::RuleSet::kb_of`]).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RuleKb {
    /// The metric the rule watches (threshold and forecast rules).
    pub metric: Option<String>,
    /// Its incidents are reports in someone's own words (user-report rules).
    pub reported: bool,
}

impl IncidentFacts {
    /// The facts of a stored incident of a rule matched on `kb`, on an
    /// asset with `os_id`. For a reported incident, the title, description
    /// and words are what the person wrote (without the machine's context,
    /// which would match everything).
    pub fn of(
        rec: &crate::incidents::lifecycle::IncidentRecord,
        kb: RuleKb,
        os_id: Option<String>,
    ) -> Self {
        let mut facts = IncidentFacts {
            rule: rec.rule.clone(),
            metric: kb.metric,
            subject: rec.subject.clone(),
            os_id,
            software: Vec::new(),
            title: rec.title.clone(),
            description: rec.description.clone(),
            words: Vec::new(),
        };
        if kb.reported {
            let text = reported_text(&rec.description).trim();
            facts.words = matching::significant_words(text);
            // `host: first line` → the first line.
            if let Some((_, line)) = rec.title.split_once(": ") {
                facts.title = line.to_owned();
            }
            facts.description = text.to_owned();
        }
        facts
    }
}

/// What the person wrote, out of a user-report incident's description
/// (`… wrote at TIME:\nTEXT` then the machine's context, see
/// [`crate::incidents::context`]).
fn reported_text(description: &str) -> &str {
    let start = description
        .find(" wrote at ")
        .and_then(|i| description[i..].find(":\n").map(|j| i + j + 2))
        .unwrap_or(0);
    let rest = &description[start..];
    let end = ["\n\nMachine", "\n\nHealth "]
        .iter()
        .filter_map(|m| rest.find(m))
        .min()
        .unwrap_or(rest.len());
    &rest[..end]
}

/// A knowledge-base operation failed.
#[derive(Debug, thiserror::Error)]
pub enum KbError {
    /// No article has this id.
    #[error("no knowledge-base article {0}")]
    NotFound(ArticleId),
    /// A field is empty or too long.
    #[error("`{field}`: {reason}")]
    Invalid {
        /// The field.
        field: &'static str,
        /// What is wrong.
        reason: String,
    },
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<redb::Error> for KbError {
    fn from(e: redb::Error) -> Self {
        KbError::Store(StoreError::Database(e))
    }
}

macro_rules! redb_into_kb_error {
    ($($t:ty),*) => {$(
        impl From<$t> for KbError {
            fn from(e: $t) -> Self {
                KbError::Store(StoreError::Database(e.into()))
            }
        }
    )*};
}
redb_into_kb_error!(
    redb::TransactionError,
    redb::TableError,
    redb::StorageError,
    redb::CommitError
);

fn invalid(field: &'static str, reason: impl Into<String>) -> KbError {
    KbError::Invalid {
        field,
        reason: reason.into(),
    }
}

fn trimmed(v: &Option<String>) -> Option<String> {
    v.as_deref()
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
}

impl NewArticle {
    /// Trims the text and checks it: a title and a solution are needed,
    /// each field within its size, a version only with software.
    pub fn validate(mut self) -> Result<NewArticle, KbError> {
        self.title = self.title.trim().to_owned();
        self.symptoms = self.symptoms.trim().to_owned();
        self.solution = self.solution.trim().to_owned();
        if self.title.is_empty() {
            return Err(invalid("title", "must not be empty"));
        }
        if self.title.chars().count() > MAX_TITLE_CHARS {
            return Err(invalid(
                "title",
                format!("longer than {MAX_TITLE_CHARS} characters"),
            ));
        }
        if self.solution.is_empty() {
            return Err(invalid("solution", "must not be empty"));
        }
        for (field, text) in [("symptoms", &self.symptoms), ("solution", &self.solution)] {
            if text.len() > MAX_TEXT_BYTES {
                return Err(invalid(
                    field,
                    format!("longer than {MAX_TEXT_BYTES} bytes"),
                ));
            }
        }
        let s = &self.signature;
        self.signature = Signature {
            rule: trimmed(&s.rule),
            metric: trimmed(&s.metric),
            software: trimmed(&s.software),
            software_version: trimmed(&s.software_version),
            os: trimmed(&s.os),
        };
        if self.signature.software_version.is_some() && self.signature.software.is_none() {
            return Err(invalid(
                "signature.software_version",
                "a version needs the software name",
            ));
        }
        Ok(self)
    }
}

fn put(txn: &WriteTransaction, a: &Article) -> Result<(), KbError> {
    txn.open_table(KB_ARTICLES)?
        .insert(a.id, enc(TABLE, a)?.as_slice())?;
    Ok(())
}

fn insert(txn: &WriteTransaction, new: NewArticle, now: Timestamp) -> Result<Article, KbError> {
    let id = next_id(&mut txn.open_table(META)?, META_NEXT_ARTICLE)?;
    let a = Article {
        id,
        title: new.title,
        symptoms: new.symptoms,
        solution: new.solution,
        signature: new.signature,
        suggested: 0,
        solved: 0,
        created_at: now,
        updated_at: now,
    };
    put(txn, &a)?;
    Ok(a)
}

/// Stores a new article written by a person.
pub fn add(store: &Store, new: NewArticle, now: Timestamp) -> Result<Article, KbError> {
    let new = new.validate()?;
    let txn = store.begin_write()?;
    let a = insert(&txn, new, now)?;
    txn.commit()?;
    Ok(a)
}

/// One article.
pub fn get(store: &Store, id: ArticleId) -> Result<Option<Article>, KbError> {
    let txn = store.begin_read()?;
    let t = txn.open_table(KB_ARTICLES)?;
    match t.get(id)? {
        Some(v) => Ok(Some(dec(TABLE, v.value())?)),
        None => Ok(None),
    }
}

/// Every article, by id.
pub fn all(store: &Store) -> Result<Vec<Article>, KbError> {
    let txn = store.begin_read()?;
    let t = txn.open_table(KB_ARTICLES)?;
    t.iter()?
        .map(|r| {
            let (_, v) = r?;
            Ok(dec(TABLE, v.value())?)
        })
        .collect()
}

/// Articles whose title, symptoms or solution hold every word of `q`
/// (case-insensitive), best first; at most `limit`.
pub fn search(store: &Store, q: &str, limit: usize) -> Result<Vec<Article>, KbError> {
    let arts = all(store)?;
    Ok(matching::search(&arts, q)
        .into_iter()
        .take(limit)
        .cloned()
        .collect())
}

/// The articles that fit an incident, best first, with their scores (see
/// [`matching::score`]); at most [`MAX_SUGGESTIONS`]. Each one returned
/// counts as suggested once more, in one transaction.
pub fn suggest(store: &Store, facts: &IncidentFacts) -> Result<Vec<(ArticleId, u32)>, KbError> {
    let txn = store.begin_write()?;
    let out = suggest_in(&txn, facts)?;
    txn.commit()?;
    Ok(out)
}

/// [`suggest`] inside the caller's transaction, so the suggestion count
/// commits together with the incident that links the articles.
pub fn suggest_in(
    txn: &WriteTransaction,
    facts: &IncidentFacts,
) -> Result<Vec<(ArticleId, u32)>, KbError> {
    let mut t = txn.open_table(KB_ARTICLES)?;
    let arts: Vec<Article> = t
        .iter()?
        .map(|r| {
            let (_, v) = r?;
            Ok(dec(TABLE, v.value())?)
        })
        .collect::<Result<_, KbError>>()?;
    let ranked: Vec<(Article, u32)> = matching::rank(&arts, facts)
        .into_iter()
        .take(MAX_SUGGESTIONS)
        .map(|(a, s)| (a.clone(), s))
        .collect();
    let mut out = Vec::with_capacity(ranked.len());
    for (mut a, score) in ranked {
        a.suggested = a.suggested.saturating_add(1);
        t.insert(a.id, enc(TABLE, &a)?.as_slice())?;
        out.push((a.id, score));
    }
    Ok(out)
}

/// Records how an incident was solved: with `article`, confirms it
/// (solved + 1); without, saves `solution` as a new article titled after
/// the incident, with its description as symptoms and its rule and metric
/// as signature. Returns the article's id.
pub fn record_solution(
    store: &Store,
    facts: &IncidentFacts,
    solution: &str,
    article: Option<ArticleId>,
    now: Timestamp,
) -> Result<ArticleId, KbError> {
    let txn = store.begin_write()?;
    let id = record_solution_in(&txn, facts, solution, article, now)?;
    txn.commit()?;
    Ok(id)
}

/// [`record_solution`] inside the caller's transaction.
pub fn record_solution_in(
    txn: &WriteTransaction,
    facts: &IncidentFacts,
    solution: &str,
    article: Option<ArticleId>,
    now: Timestamp,
) -> Result<ArticleId, KbError> {
    if let Some(id) = article {
        let mut a: Article = {
            let t = txn.open_table(KB_ARTICLES)?;
            let v = t.get(id)?.ok_or(KbError::NotFound(id))?;
            dec(TABLE, v.value())?
        };
        a.solved = a.solved.saturating_add(1);
        a.updated_at = now;
        put(txn, &a)?;
        return Ok(id);
    }
    let title = if facts.title.trim().is_empty() {
        format!("{} {}", facts.rule, facts.subject)
            .trim()
            .to_owned()
    } else {
        facts.title.chars().take(MAX_TITLE_CHARS).collect()
    };
    let new = NewArticle {
        title,
        symptoms: facts.description.clone(),
        solution: solution.to_owned(),
        signature: Signature {
            rule: Some(facts.rule.clone()).filter(|r| !r.is_empty()),
            metric: facts.metric.clone(),
            ..Signature::default()
        },
    }
    .validate()?;
    let mut a = insert(txn, new, now)?;
    a.solved = 1;
    put(txn, &a)?;
    Ok(a.id)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn store() -> (tempfile::TempDir, Store) {
        let d = tempfile::tempdir().unwrap();
        let s = Store::open(&d.path().join("s.redb")).unwrap();
        (d, s)
    }

    fn facts() -> IncidentFacts {
        IncidentFacts {
            rule: "filesystem-full".into(),
            metric: Some("filesystem.used_percent".into()),
            subject: "/var".into(),
            os_id: Some("debian".into()),
            software: vec![],
            title: "filesystem-full on web-01 (/var)".into(),
            description: "/var is 95 % full".into(),
            words: Vec::new(),
        }
    }

    #[test]
    fn suggest_counts_and_record_solution_confirms_or_creates() {
        let (_d, s) = store();
        let a = add(
            &s,
            NewArticle {
                title: "  Logs fill /var ".into(),
                symptoms: "disk full".into(),
                solution: "rotate logs".into(),
                signature: Signature {
                    rule: Some("filesystem-full".into()),
                    ..Signature::default()
                },
            },
            Timestamp(10),
        )
        .unwrap();
        assert_eq!(a.title, "Logs fill /var");
        add(
            &s,
            NewArticle {
                title: "Debian tips".into(),
                solution: "apt clean".into(),
                signature: Signature {
                    os: Some("debian".into()),
                    ..Signature::default()
                },
                ..NewArticle::default()
            },
            Timestamp(11),
        )
        .unwrap();
        let got = suggest(&s, &facts()).unwrap();
        assert_eq!(
            got,
            vec![(a.id, matching::WEIGHT_RULE), (2, matching::WEIGHT_OS)]
        );
        assert_eq!(get(&s, a.id).unwrap().unwrap().suggested, 1);

        assert_eq!(
            record_solution(&s, &facts(), "x", Some(a.id), Timestamp(20)).unwrap(),
            a.id
        );
        let a2 = get(&s, a.id).unwrap().unwrap();
        assert_eq!((a2.solved, a2.updated_at), (1, Timestamp(20)));

        let new = record_solution(&s, &facts(), "grow the LV", None, Timestamp(30)).unwrap();
        let n = get(&s, new).unwrap().unwrap();
        assert_eq!(n.title, "filesystem-full on web-01 (/var)");
        assert_eq!(n.symptoms, "/var is 95 % full");
        assert_eq!(n.signature.rule.as_deref(), Some("filesystem-full"));
        assert_eq!(
            n.signature.metric.as_deref(),
            Some("filesystem.used_percent")
        );
        assert_eq!(n.solved, 1);
        assert_eq!(all(&s).unwrap().len(), 3);
        assert!(matches!(
            record_solution(&s, &facts(), "x", Some(99), Timestamp(40)),
            Err(KbError::NotFound(99))
        ));
        assert_eq!(search(&s, "GROW lv", 10).unwrap()[0].id, new);
    }

    #[test]
    fn bad_articles_are_refused_naming_the_field() {
        let (_d, s) = store();
        let e = add(&s, NewArticle::default(), Timestamp(0)).unwrap_err();
        assert!(e.to_string().contains("`title`"), "{e}");
        let e = add(
            &s,
            NewArticle {
                title: "t".into(),
                solution: "s".into(),
                signature: Signature {
                    software_version: Some("1.*".into()),
                    ..Signature::default()
                },
                ..NewArticle::default()
            },
            Timestamp(0),
        )
        .unwrap_err();
        assert!(e.to_string().contains("software_version"), "{e}");
        assert!(all(&s).unwrap().is_empty());
    }
}
