//! The knowledge base: articles that say how a known problem was fixed,
//! matched to new incidents by a signature.
//!
//! An [`Article`] has a title, symptoms, a solution, a [`Signature`] (any
//! of: rule name, metric, software name with an optional version glob, OS
//! id) and two counters: how often it was suggested and how often it
//! solved the incident. This module is pure: it checks articles, tells
//! what an incident is about ([`IncidentFacts`]) and ranks articles for
//! it; the desk reads and writes them in the store
//! (the desk's `kb` module).
//!
//! # For the incident side
//! - When an incident opens: [`suggestions`] with its [`IncidentFacts`]
//!   gives the fitting articles best first, with scores; the desk counts
//!   each as suggested and links them to the incident.
//! - When staff resolve it with a solution: the article they used is
//!   confirmed (solved + 1), or the solution becomes a new article
//!   ([`NewArticle::from_solution`]) whose signature is the incident's rule
//!   and metric.
//!
//! # Layout
//! - [`matching`]: scoring and search, pure functions.

pub mod matching;

use atalaya_common::model::Timestamp;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

pub use crate::records::kb::{Article, ArticleId, Signature};

/// Most articles [`suggestions`] returns.
pub const MAX_SUGGESTIONS: usize = 5;

/// Longest title, in characters.
pub const MAX_TITLE_CHARS: usize = 200;
/// Longest symptoms or solution text, in bytes.
pub const MAX_TEXT_BYTES: usize = 64 * 1024;

/// A new article as written by a person (`POST /api/v1/kb`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
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
/// (the rule set's `kb_of`).
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
        rec: &crate::records::incident::IncidentRecord,
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
/// the incident context).
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

/// An article that cannot be stored as written: which field and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{field}`: {reason}")]
pub struct InvalidArticle {
    /// The field.
    pub field: &'static str,
    /// What is wrong.
    pub reason: String,
}

fn invalid(field: &'static str, reason: impl Into<String>) -> InvalidArticle {
    InvalidArticle {
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
    pub fn validate(mut self) -> Result<NewArticle, InvalidArticle> {
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

impl NewArticle {
    /// The article this becomes under `id`, written at `now`, never used yet.
    pub fn into_article(self, id: ArticleId, now: Timestamp) -> Article {
        Article {
            id,
            title: self.title,
            symptoms: self.symptoms,
            solution: self.solution,
            signature: self.signature,
            suggested: 0,
            solved: 0,
            created_at: now,
            updated_at: now,
        }
    }

    /// A solution staff recorded for an incident, as an article: titled
    /// after the incident, its description as symptoms, its rule and metric
    /// as signature. Checked like any new article.
    pub fn from_solution(
        facts: &IncidentFacts,
        solution: &str,
    ) -> Result<NewArticle, InvalidArticle> {
        let title = if facts.title.trim().is_empty() {
            format!("{} {}", facts.rule, facts.subject)
                .trim()
                .to_owned()
        } else {
            facts.title.chars().take(MAX_TITLE_CHARS).collect()
        };
        NewArticle {
            title,
            symptoms: facts.description.clone(),
            solution: solution.to_owned(),
            signature: Signature {
                rule: Some(facts.rule.clone()).filter(|r| !r.is_empty()),
                metric: facts.metric.clone(),
                ..Signature::default()
            },
        }
        .validate()
    }
}

/// The articles that fit an incident, best first, with their scores (see
/// [`matching::score`]); at most [`MAX_SUGGESTIONS`].
pub fn suggestions<'a>(articles: &'a [Article], facts: &IncidentFacts) -> Vec<(&'a Article, u32)> {
    matching::rank(articles, facts)
        .into_iter()
        .take(MAX_SUGGESTIONS)
        .collect()
}
