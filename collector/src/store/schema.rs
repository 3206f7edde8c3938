//! Every table of the store, and the format version the file carries.
//!
//! Values are postcard-encoded records (see [`super::records`]) unless the
//! table holds plain integers. postcard is not self-describing, so a
//! record read with another layout than it was written with is misread or
//! refused: the file says which layout it has by its [`FORMAT_VERSION`].
//! [`super::Store::open`] upgrades a file of an older version in place
//! ([`super::upgrade`]) and refuses one of a newer version.
//!
//! # Changing the format
//! Any change to a stored record ([`super::records`], [`crate::records`],
//! the engine state), a key, a table or the metric block codec:
//! 1. bumps [`FORMAT_VERSION`] (and says here what the new version is);
//! 2. adds a step in [`super::upgrade`] from the old version, with the old
//!    layout written out there (a record is decoded as it was and encoded
//!    as it is now);
//! 3. adds a fixture file of the old version, written by the last commit
//!    that had it, to `collector/tests/fixtures/` (see the README there),
//!    and checks its upgrade in `collector/tests/store_upgrade.rs`.
//!
//! Adding a table that starts empty needs none of this ([`create_all`]
//! creates it at open), and neither does a table that only indexes other
//! records, like [`LOOKUP_KEYS`] below.

use redb::{TableDefinition, WriteTransaction};

use crate::records::rollup::Tier;

/// The layout version written into new files; older files are upgraded
/// to it at open.
/// - 1: metrics as per-series Gorilla chunks; since its later releases,
///   the knowledge base, the webhook outbox and the cause of each gap.
/// - 2: version 1 with the incident tables. A file of version 2 may also
///   come from the first release of per-agent metric blocks, made apart:
///   blocks instead of chunks, but no incident, knowledge-base or webhook
///   tables and gaps without a cause ([`super::upgrade`] tells them apart).
/// - 3: both: metrics as per-agent blocks with a shared timestamp column
///   ([`BLOCKS`], [`HEADS`]), incidents, the knowledge base, the webhook
///   outbox and the cause of each gap.
/// - 4: version 3 with the network device tables ([`DEVICES`],
///   [`DEVICE_INVENTORY`], [`DEVICE_CHANGES`], [`DEVICE_POLLERS`]); device
///   series are in the metric blocks under the device's asset id.
///
/// A table that only indexes stored records (such as [`LOOKUP_KEYS`],
/// [`INCIDENT_SPANS`] and [`INCIDENTS_BY_ASSET`]) does
/// not change the format: a file written before it existed gets it built
/// at open, and its own version in [`META`] says when to build it again.
pub const FORMAT_VERSION: u64 = 5;

/// `name → u64`: the format version and id counters.
pub const META: TableDefinition<&str, u64> = TableDefinition::new("meta");
/// Key in [`META`] of the format version.
pub const META_FORMAT: &str = "format_version";
/// Key in [`META`] of the next asset number.
pub const META_NEXT_ASSET: &str = "next_asset";
/// Key in [`META`] of the next series name id.
pub const META_NEXT_NAME: &str = "next_name";
/// Key in [`META`] of the next metric block id.
pub const META_NEXT_BLOCK: &str = "next_block";
/// Key in [`META`] of the next open block (head) id.
pub const META_NEXT_HEAD: &str = "next_head";
/// Key in [`META`] of the next change event id.
pub const META_NEXT_EVENT: &str = "next_event";
/// Key in [`META`] of the next knowledge-base article id.
pub const META_NEXT_ARTICLE: &str = "next_kb_article";
/// Key in [`META`] of the next discovery id.
pub const META_NEXT_DISCOVERY: &str = "next_discovery";
/// Key in [`META`] of the version of what [`LOOKUP_KEYS`] holds; absent in
/// a file written before that table, which is then built at open.
pub const META_LOOKUP_INDEX: &str = "lookup_index_version";
/// Key in [`META`] of the next diagnostic request number.
pub const META_NEXT_DIAGNOSTIC: &str = "next_diagnostic";
/// Key in [`META`] of the next person number of the people directory.
pub const META_NEXT_PERSON: &str = "next_person";

/// Key in [`META`] of the version of what [`INCIDENT_SPANS`] holds; absent
/// in a file written before that table, which is then built at open.
pub const META_INCIDENT_SPANS: &str = "incident_spans_version";

/// Key in [`META`] of the version of what [`INCIDENTS_BY_ASSET`] holds;
/// absent in a file written before that table, which is then built at open.
pub const META_INCIDENTS_BY_ASSET: &str = "incidents_by_asset_version";

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
/// Caller lookup: `(lower-case key, asset id) → kinds of match`, the keys
/// being the users of the asset's current inventory (session users, the
/// last login, person accounts), their full names, and its FQDN; the value
/// has a bit per [`crate::records::lookup::MatchKind`] the key gives, so that
/// machines are ranked before any inventory is read (see
/// [`super::lookup::lookup_keys`]).
pub const LOOKUP_KEYS: TableDefinition<(&str, &str), u8> = TableDefinition::new("lookup_keys");
/// Hardware identity keys: `("uuid:…" | "serial:…" | "machine-id:…" | "mac:…", asset id) → ()`.
pub const IDENTITY_KEYS: TableDefinition<(&str, &str), ()> = TableDefinition::new("identity_keys");

/// Series names, for the whole fleet: `series name → name id`. A block
/// names its columns by these small ids.
pub const NAMES: TableDefinition<&str, u32> = TableDefinition::new("series_names");
/// `name id → series name`.
pub const NAME_OF: TableDefinition<u32, &str> = TableDefinition::new("series_name_of");
/// The series each asset has: `asset id → name ids` (LEB128, ascending,
/// each as the difference from the one before).
pub const ASSET_SERIES: TableDefinition<&str, &[u8]> = TableDefinition::new("asset_series");
/// Closed metric blocks (see [`super::block`]): `(block id, part) → bytes`.
/// Block ids grow with every block closed, so new blocks land at the end
/// of the tree and fill its pages; a block is cut into parts of at most
/// [`BLOCK_PART_BYTES`] so that several share a page.
pub const BLOCKS: TableDefinition<(u64, u16), &[u8]> = TableDefinition::new("metric_blocks");
/// Largest part of a block in [`BLOCKS`]: four full parts and their keys
/// fill a 4 KiB page.
pub const BLOCK_PART_BYTES: usize = 240;
/// Where an asset's blocks are: `(asset id, first sample ms, block id) →
/// last sample ms`.
pub const BLOCK_INDEX: TableDefinition<(&str, i64, u64), i64> =
    TableDefinition::new("metric_block_index");
/// The open block of each agent, written anew by every commit that adds
/// to it: `(head id, part) → block bytes`, in parts as in [`BLOCKS`]. Each
/// version gets a new, higher id (and the old one is deleted), so that
/// rewritten heads are appended at the end of the tree and fill its pages
/// instead of splitting them in place.
pub const HEADS: TableDefinition<(u64, u16), &[u8]> = TableDefinition::new("metric_heads");
/// `agent id → head id` of its open block in [`HEADS`].
pub const HEAD_OF: TableDefinition<&str, u64> = TableDefinition::new("metric_head_of");
/// (asset id, agent id, seq) → postcard `GapRecord`: samples an agent dropped.
pub const GAPS: TableDefinition<(&str, &str, u64), &[u8]> = TableDefinition::new("gaps");

/// Knowledge base: `article id → Article`.
pub const KB_ARTICLES: TableDefinition<u64, &[u8]> = TableDefinition::new("kb_articles");

/// Webhook outbox, events not yet delivered everywhere:
/// `event id → OutboxRecord`.
pub const NOTIFY_OUTBOX: TableDefinition<&str, &[u8]> = TableDefinition::new("notify_outbox");
/// Events delivered to every webhook they were routed to (or to none):
/// `event id → done at ms`. Kept so an event enqueued again is not resent.
pub const NOTIFY_SENT: TableDefinition<&str, i64> = TableDefinition::new("notify_sent");
/// (asset, report id) → [`super::ReportRecord`]: what people reported with
/// `atalaya-agent report`, marked once the incident desk has handled it.
pub const USER_REPORTS: TableDefinition<(&str, &str), &[u8]> = TableDefinition::new("user_reports");
/// Diagnostic requests to agents: `request id → DiagnosticRecord` (see
/// [`crate::records::diagnostic`]), with the agent's result once it came.
pub const DIAGNOSTICS: TableDefinition<&str, &[u8]> = TableDefinition::new("diagnostics");
/// Diagnostic requests by agent: `(agent id, issued at ms, request id) → ()`.
pub const DIAGNOSTICS_BY_AGENT: TableDefinition<(&str, i64, &str), ()> =
    TableDefinition::new("diagnostics_by_agent");
/// Incidents: `id → IncidentRecord` (the id is the engine's incident number).
pub const INCIDENTS: TableDefinition<u64, &[u8]> = TableDefinition::new("incidents");
/// Open or acknowledged incidents: `(asset id, rule, subject) → incident id`.
pub const OPEN_INCIDENTS: TableDefinition<(&str, &str, &str), u64> =
    TableDefinition::new("open_incidents");
/// Incidents by the time they were active: `(opened at ms, id) → until
/// ms`, until being the last resolution (or closing) of an incident no
/// longer active and `i64::MAX` for one open or acknowledged; so that a
/// report of a period reads only the incidents that touch it. It only
/// indexes [`INCIDENTS`]: a file written before it gets it built at open
/// ([`META_INCIDENT_SPANS`]).
pub const INCIDENT_SPANS: TableDefinition<(i64, u64), i64> = TableDefinition::new("incident_spans");
/// Incidents by the end of their activity: `(until ms, id) → opened at
/// ms`, the same spans as [`INCIDENT_SPANS`] keyed by their end, so that a
/// report of a recent period reads only the incidents active since its
/// start. It only indexes [`INCIDENTS`]: built at open with
/// [`INCIDENT_SPANS`] ([`META_INCIDENT_SPANS`]).
pub const INCIDENT_ENDS: TableDefinition<(i64, u64), i64> = TableDefinition::new("incident_ends");
/// Incidents by asset: `(asset id, incident id) → ()`, so that an asset's
/// page, the caller lookup and the API read only that asset's incidents.
/// It only indexes [`INCIDENTS`]: a file written before it gets it built
/// at open ([`META_INCIDENTS_BY_ASSET`]).
pub const INCIDENTS_BY_ASSET: TableDefinition<(&str, u64), ()> =
    TableDefinition::new("incidents_by_asset");
/// The incident engine's persisted state: `"engine" → postcard EngineState`.
pub const ENGINE_STATE: TableDefinition<&str, &[u8]> = TableDefinition::new("engine_state");
/// Key in [`ENGINE_STATE`].
pub const ENGINE_STATE_KEY: &str = "engine";

/// Network devices: `name → DeviceRecord`.
pub const DEVICES: TableDefinition<&str, &[u8]> = TableDefinition::new("devices");
/// Current device inventory: `asset id → DeviceInventory`.
pub const DEVICE_INVENTORY: TableDefinition<&str, &[u8]> = TableDefinition::new("device_inventory");
/// Device inventory changes: `(asset id, at ms, event id) → DeviceChange`;
/// event ids come from [`META_NEXT_EVENT`], as host change events' do.
pub const DEVICE_CHANGES: TableDefinition<(&str, i64, u64), &[u8]> =
    TableDefinition::new("device_changes");
/// Agents ever assigned a device: `agent id → ()`. Such an agent is sent
/// its list on every connect, even an empty one, so that it stops polling
/// devices removed while it was away.
pub const DEVICE_POLLERS: TableDefinition<&str, ()> = TableDefinition::new("device_pollers");
/// The LLDP and CDP neighbours each device reported last, with the last
/// neighbour seen on each interface: `asset id → DeviceNeighboursRecord`.
/// Their appearing and disappearing are changes in [`DEVICE_CHANGES`].
pub const DEVICE_NEIGHBOURS: TableDefinition<&str, &[u8]> =
    TableDefinition::new("device_neighbours");
/// The paper trays each printer reported last: `asset id →
/// DeviceTraysRecord`. Added after format 5 without changing it: a file
/// without it gets it empty at open.
pub const DEVICE_TRAYS: TableDefinition<&str, &[u8]> = TableDefinition::new("device_trays");
/// Device events (traps and informs): `(asset id, received at ms, event
/// id) → DeviceEvent`; event ids come from [`META_NEXT_EVENT`]. Added after
/// format 4 without changing it: a file without it gets it empty at open.
pub const DEVICE_EVENTS: TableDefinition<(&str, i64, u64), &[u8]> =
    TableDefinition::new("device_events");
/// The same events by time, for the latest of every device:
/// `(received at ms, event id) → asset id`.
pub const DEVICE_EVENTS_BY_TIME: TableDefinition<(i64, u64), &str> =
    TableDefinition::new("device_events_by_time");

/// The latest network probe result per target of each asset:
/// `(asset id, probe kind, target label) → LatestProbe`. New tables open
/// empty on an older store.
pub const PROBE_LATEST: TableDefinition<(&str, &str, &str), &[u8]> =
    TableDefinition::new("probe_latest");
/// Agents ever sent a non-empty list of probe targets: `agent id → ()`.
/// Such an agent is sent its list on every connect, even an empty one, so
/// that it stops probing targets removed while it was away; others (perhaps
/// of a version without probes) are sent none.
pub const PROBE_AGENTS: TableDefinition<&str, ()> = TableDefinition::new("probe_agents");

/// Identity keys of device assets, from their current inventory:
/// `("serial:…" | "mac:…" | "sysname:…", asset id) → ()`. Apart from
/// [`IDENTITY_KEYS`] so that a host and a device never merge.
pub const DEVICE_KEYS: TableDefinition<(&str, &str), ()> = TableDefinition::new("device_keys");
/// The device whose polls write each device asset: `asset id → device
/// name`. An asset without an entry is claimed by the next device that
/// polls it (so files written before this table work as they did).
pub const DEVICE_PRIMARY: TableDefinition<&str, &str> = TableDefinition::new("device_primary");
/// Devices found to be another device's asset: `device name →
/// DeviceAlias`. Kept after the device is removed, so that its old asset
/// id still leads to the asset; dropped when a device of that name is
/// added again.
pub const DEVICE_ALIASES: TableDefinition<&str, &[u8]> = TableDefinition::new("device_aliases");
/// Devices declared in the devices file: `device name → ()`, so that one
/// no longer in the file is removed on reload (devices added by the API
/// or the CLI are not).
pub const FILE_DEVICES: TableDefinition<&str, ()> = TableDefinition::new("file_devices");
/// Discoveries asked for: `id → DiscoveryRecord`.
pub const DISCOVERIES: TableDefinition<u64, &[u8]> = TableDefinition::new("discoveries");
/// What each discovery found: `(id, address) → DiscoveredDevice`.
pub const DISCOVERED: TableDefinition<(u64, &str), &[u8]> = TableDefinition::new("discovered");

/// The people directory: `person number → PersonRecord`. The people
/// tables were added after format 5 without changing it: a file without
/// them gets them empty at open.
pub const PEOPLE: TableDefinition<u64, &[u8]> = TableDefinition::new("people");
/// `import key → person number`, the key being the person's e-mail or
/// else first login, in lower case (`email:…`, `login:…`), so that a
/// re-import replaces the person it names.
pub const PEOPLE_BY_KEY: TableDefinition<&str, u64> = TableDefinition::new("people_by_key");
/// `(lower-case login, person number) → ()`.
pub const PEOPLE_BY_LOGIN: TableDefinition<(&str, u64), ()> =
    TableDefinition::new("people_by_login");
/// `(lower-case full name, person number) → ()`.
pub const PEOPLE_BY_NAME: TableDefinition<(&str, u64), ()> = TableDefinition::new("people_by_name");
/// `(normalised phone number, person number) → ()`.
pub const PEOPLE_BY_PHONE: TableDefinition<(&str, u64), ()> =
    TableDefinition::new("people_by_phone");
/// `(extension digits, person number) → ()`.
pub const PEOPLE_BY_EXTENSION: TableDefinition<(&str, u64), ()> =
    TableDefinition::new("people_by_extension");

/// Suppliers, by lower-case name: [`crate::records::supplier::Supplier`].
/// The supplier tables were added after format 5 without changing it: a
/// file without them gets them empty at open.
pub const SUPPLIERS: TableDefinition<&str, &[u8]> = TableDefinition::new("suppliers");
/// Contracts, by number: [`crate::records::supplier::Contract`].
pub const CONTRACTS: TableDefinition<u64, &[u8]> = TableDefinition::new("contracts");
/// Warranties entered per asset, by asset id:
/// [`crate::records::supplier::Warranty`].
pub const WARRANTIES: TableDefinition<&str, &[u8]> = TableDefinition::new("warranties");
/// Key in [`META`] of the next contract number.
pub const META_NEXT_CONTRACT: &str = "next_contract";

/// Agent policies by name: [`super::policies::PolicyVersion`], the
/// digest and version of each policy ever configured (a removed one is
/// kept, so that it goes on counting if it comes back). Added after format
/// 5 without changing it: a file without it gets it empty at open.
pub const POLICY_VERSIONS: TableDefinition<&str, &[u8]> = TableDefinition::new("policy_versions");
/// What each agent last said of its policy, by agent id:
/// [`super::policies::PolicyReport`].
pub const AGENT_POLICY: TableDefinition<&str, &[u8]> = TableDefinition::new("agent_policy");

/// The definition of a rollup table: `(asset id, name id, group start ms)
/// → the rollups of the group's buckets` (see [`super::rollups`]).
pub type RollupTableDef = TableDefinition<'static, (&'static str, u32, i64), &'static [u8]>;

/// 5-minute rollups of every series, an hour to a row (see
/// [`super::rollups`]).
pub const ROLLUPS_5M: RollupTableDef = TableDefinition::new("rollups_5m");
/// 1-hour rollups, a day to a row.
pub const ROLLUPS_1H: RollupTableDef = TableDefinition::new("rollups_1h");
/// 1-day rollups, one to a row.
pub const ROLLUPS_1D: RollupTableDef = TableDefinition::new("rollups_1d");
/// How far back each tier's data were deleted: `tier name → ms`; data of
/// the tier before that time are gone (see [`super::retention`]).
pub const RETENTION: TableDefinition<&str, i64> = TableDefinition::new("retention");
/// Console accounts of people, by name: [`super::records::UserRecord`].
pub const USERS: TableDefinition<&str, &[u8]> = TableDefinition::new("users");
/// Console sessions, by the SHA-256 of the cookie's secret:
/// [`super::records::SessionRecord`].
pub const SESSIONS: TableDefinition<&[u8], &[u8]> = TableDefinition::new("sessions");

/// The rollup table of a tier (none for raw points).
pub fn rollup_table(tier: Tier) -> Option<RollupTableDef> {
    match tier {
        Tier::Raw => None,
        Tier::FiveMinutes => Some(ROLLUPS_5M),
        Tier::OneHour => Some(ROLLUPS_1H),
        Tier::OneDay => Some(ROLLUPS_1D),
    }
}

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
    txn.open_table(LOOKUP_KEYS)?;
    txn.open_table(IDENTITY_KEYS)?;
    txn.open_table(NAMES)?;
    txn.open_table(NAME_OF)?;
    txn.open_table(ASSET_SERIES)?;
    txn.open_table(BLOCKS)?;
    txn.open_table(BLOCK_INDEX)?;
    txn.open_table(HEADS)?;
    txn.open_table(HEAD_OF)?;
    txn.open_table(GAPS)?;
    txn.open_table(KB_ARTICLES)?;
    txn.open_table(NOTIFY_OUTBOX)?;
    txn.open_table(NOTIFY_SENT)?;
    txn.open_table(INCIDENTS)?;
    txn.open_table(OPEN_INCIDENTS)?;
    txn.open_table(INCIDENT_SPANS)?;
    txn.open_table(INCIDENT_ENDS)?;
    txn.open_table(INCIDENTS_BY_ASSET)?;
    txn.open_table(ENGINE_STATE)?;
    txn.open_table(USER_REPORTS)?;
    txn.open_table(DIAGNOSTICS)?;
    txn.open_table(DIAGNOSTICS_BY_AGENT)?;
    txn.open_table(PROBE_LATEST)?;
    txn.open_table(PROBE_AGENTS)?;
    txn.open_table(ROLLUPS_5M)?;
    txn.open_table(ROLLUPS_1H)?;
    txn.open_table(ROLLUPS_1D)?;
    txn.open_table(RETENTION)?;
    txn.open_table(USERS)?;
    txn.open_table(SESSIONS)?;
    create_device_tables(txn)?;
    create_device_identity_tables(txn)?;
    create_people_tables(txn)
}

/// Opens (creating) the people directory's tables: they start empty on a
/// file written before them.
fn create_people_tables(txn: &WriteTransaction) -> Result<(), redb::TableError> {
    txn.open_table(PEOPLE)?;
    txn.open_table(PEOPLE_BY_KEY)?;
    txn.open_table(PEOPLE_BY_LOGIN)?;
    txn.open_table(PEOPLE_BY_NAME)?;
    txn.open_table(PEOPLE_BY_PHONE)?;
    txn.open_table(PEOPLE_BY_EXTENSION)?;
    txn.open_table(SUPPLIERS)?;
    txn.open_table(CONTRACTS)?;
    txn.open_table(WARRANTIES)?;
    txn.open_table(POLICY_VERSIONS)?;
    txn.open_table(AGENT_POLICY)?;
    Ok(())
}

/// Opens (creating) the network device tables, new in format 4.
pub fn create_device_tables(txn: &WriteTransaction) -> Result<(), redb::TableError> {
    txn.open_table(DEVICES)?;
    txn.open_table(DEVICE_INVENTORY)?;
    txn.open_table(DEVICE_CHANGES)?;
    txn.open_table(DEVICE_POLLERS)?;
    txn.open_table(DEVICE_NEIGHBOURS)?;
    txn.open_table(DEVICE_TRAYS)?;
    txn.open_table(DEVICE_EVENTS)?;
    txn.open_table(DEVICE_EVENTS_BY_TIME)?;
    Ok(())
}

/// Opens (creating) the tables of device identity, the devices file and
/// discovery: they start empty on a file written before them.
fn create_device_identity_tables(txn: &WriteTransaction) -> Result<(), redb::TableError> {
    txn.open_table(DEVICE_KEYS)?;
    txn.open_table(DEVICE_PRIMARY)?;
    txn.open_table(DEVICE_ALIASES)?;
    txn.open_table(FILE_DEVICES)?;
    txn.open_table(DISCOVERIES)?;
    txn.open_table(DISCOVERED)?;
    Ok(())
}
