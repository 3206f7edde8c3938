//! Pure helpers every layer above may use: they know no store, rule,
//! HTTP or wording.
//!
//! # Layout
//! - [`csvfile`]: CSV files from spreadsheets: lines, errors, tables
//!   with named columns.
//! - [`password`]: argon2id hashing and checking of people's passwords.
//! - [`day`]: calendar days (UTC) of reports, and the nearest-rank
//!   percentile.
//! - [`pattern`]: `*` globs.
//! - [`sketch`]: the mergeable quantile sketch of rollup points.
//! - [`series`]: series names (flattening a health sample, splitting a
//!   name into metric and subject, derived percentages) and the precision
//!   they are stored at.
//! - [`users`]: which of an inventory's users a login or full name stands
//!   for.

pub mod csvfile;
pub mod day;
pub mod password;
pub mod pattern;
pub mod series;
pub mod sketch;
pub mod users;
