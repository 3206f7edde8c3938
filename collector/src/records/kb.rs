//! Knowledge-base articles as stored.

use atalaya_common::model::Timestamp;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// An article's number.
pub type ArticleId = u64;

/// What incidents an article fits. Every field that is set must match;
/// nothing set means the article is found by search only.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
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
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Article {
    /// Its number.
    #[schema(value_type = u64)]
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
