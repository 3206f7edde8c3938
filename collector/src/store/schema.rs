//! Every table of the store, and the format version the file carries.
//!
//! Values are postcard-encoded records (see [`super::records`]) unless the
//! table holds plain integers. postcard is not self-describing, so any
//! change to a stored record or key layout must bump [`FORMAT_VERSION`];
//! [`super::Store::open`] refuses a file of another version rather than
//! misread it.

use redb::{TableDefinition, WriteTransaction};

/// The layout version written into new files and required of old ones.
pub const FORMAT_VERSION: u64 = 2;

/// `name → u64`: the format version and id counters.
pub const META: TableDefinition<&str, u64> = TableDefinition::new("meta");
/// Key in [`META`] of the format version.
pub const META_FORMAT: &str = "format_version";
/// Key in [`META`] of the next asset number.
pub const META_NEXT_ASSET: &str = "next_asset";
/// Key in [`META`] of the next series id.
pub const META_NEXT_SERIES: &str = "next_series";
/// Key in [`META`] of the next change event id.
pub const META_NEXT_EVENT: &str = "next_event";
/// Key in [`META`] of the next knowledge-base article id.
pub const META_NEXT_ARTICLE: &str = "next_kb_article";

/// Enrollment tokens: `token id → TokenRecord`.
pub const TOKENS: TableDefinition<&str, &[u8]> = TableDefinition::new("tokens");
/// `SHA-256 of the secret → token id`.
pub const TOKEN_SECRETS: TableDefinition<&[u8], &str> = TableDefinition::new("token_secrets");
/// API tokens: `SHA-256 of the secret → ApiTokenRecord`.
pub const API_TOKENS: TableDefinition<&[u8], &[u8]> = TableDefinition::new("api_tokens");

/// Agents: `agent id → AgentRecord`.
pub const AGENTS: TableDefinition<&str, &[u8]> = TableDefinition::new("agents");
/// Per agent: `agent id → (highest committed seq, waiting for a snapshot)`.
pub const AGENT_SEQ: TableDefinition<&str, (u64, bool)> = TableDefinition::new("agent_seq");
/// `agent id → asset id`: where an agent's data goes.
pub const AGENT_ASSET: TableDefinition<&str, &str> = TableDefinition::new("agent_asset");

/// Assets without their inventory: `asset id → AssetMeta`.
pub const ASSETS: TableDefinition<&str, &[u8]> = TableDefinition::new("assets");
/// Current inventory: `asset id → Inventory`. Apart from [`ASSETS`] so
/// that updating last-seen does not rewrite thousands of packages.
pub const INVENTORY: TableDefinition<&str, &[u8]> = TableDefinition::new("inventory");
/// Change events: `(asset id, at ms, event id) → StoredChange`.
pub const CHANGES: TableDefinition<(&str, i64, u64), &[u8]> = TableDefinition::new("changes");
/// Change events across assets by time: `(at ms, event id) → asset id`.
pub const CHANGES_BY_TIME: TableDefinition<(i64, u64), &str> =
    TableDefinition::new("changes_by_time");

/// Installed base: `(package name, version, asset id) → ()`.
pub const SOFTWARE: TableDefinition<(&str, &str, &str), ()> = TableDefinition::new("software");
/// `(lower-case hostname, asset id) → ()`.
pub const HOSTNAMES: TableDefinition<(&str, &str), ()> = TableDefinition::new("hostnames");
/// Hardware identity keys: `("uuid:…" | "serial:…" | "machine-id:…" | "mac:…", asset id) → ()`.
pub const IDENTITY_KEYS: TableDefinition<(&str, &str), ()> = TableDefinition::new("identity_keys");

/// Metric series: `(asset id, series name) → series id`.
pub const SERIES: TableDefinition<(&str, &str), u64> = TableDefinition::new("series");
/// Compressed chunks: `(series id, first point ms) → chunk bytes` (see [`super::chunk`]).
pub const CHUNKS: TableDefinition<(u64, i64), &[u8]> = TableDefinition::new("chunks");
/// (asset id, agent id, seq) → postcard `GapRecord`: samples an agent dropped.
pub const GAPS: TableDefinition<(&str, &str, u64), &[u8]> = TableDefinition::new("gaps");

/// Knowledge base: `article id → Article` (see [`crate::kb`]).
pub const KB_ARTICLES: TableDefinition<u64, &[u8]> = TableDefinition::new("kb_articles");

/// Webhook outbox, events not yet delivered everywhere:
/// `event id → OutboxRecord` (see [`crate::notify`]).
pub const NOTIFY_OUTBOX: TableDefinition<&str, &[u8]> = TableDefinition::new("notify_outbox");
/// Events delivered to every webhook they were routed to (or to none):
/// `event id → done at ms`. Kept so an event enqueued again is not resent.
pub const NOTIFY_SENT: TableDefinition<&str, i64> = TableDefinition::new("notify_sent");
/// Incidents: `id → IncidentRecord` (the id is the engine's incident number).
pub const INCIDENTS: TableDefinition<u64, &[u8]> = TableDefinition::new("incidents");
/// Open or acknowledged incidents: `(asset id, rule, subject) → incident id`.
pub const OPEN_INCIDENTS: TableDefinition<(&str, &str, &str), u64> =
    TableDefinition::new("open_incidents");
/// The incident engine's persisted state: `"engine" → postcard EngineState`.
pub const ENGINE_STATE: TableDefinition<&str, &[u8]> = TableDefinition::new("engine_state");
/// Key in [`ENGINE_STATE`].
pub const ENGINE_STATE_KEY: &str = "engine";

/// Opens (creating) every table, so read transactions never meet a missing one.
pub fn create_all(txn: &WriteTransaction) -> Result<(), redb::TableError> {
    txn.open_table(META)?;
    txn.open_table(TOKENS)?;
    txn.open_table(TOKEN_SECRETS)?;
    txn.open_table(API_TOKENS)?;
    txn.open_table(AGENTS)?;
    txn.open_table(AGENT_SEQ)?;
    txn.open_table(AGENT_ASSET)?;
    txn.open_table(ASSETS)?;
    txn.open_table(INVENTORY)?;
    txn.open_table(CHANGES)?;
    txn.open_table(CHANGES_BY_TIME)?;
    txn.open_table(SOFTWARE)?;
    txn.open_table(HOSTNAMES)?;
    txn.open_table(IDENTITY_KEYS)?;
    txn.open_table(SERIES)?;
    txn.open_table(CHUNKS)?;
    txn.open_table(GAPS)?;
    txn.open_table(KB_ARTICLES)?;
    txn.open_table(NOTIFY_OUTBOX)?;
    txn.open_table(NOTIFY_SENT)?;
    txn.open_table(INCIDENTS)?;
    txn.open_table(OPEN_INCIDENTS)?;
    txn.open_table(ENGINE_STATE)?;
    Ok(())
}
