//! The redb store: one crash-safe file holding assets, their inventory
//! history, metric series, agents and tokens.
//!
//! The QUIC server calls [`Store::commit`] with many agents' records at
//! once (group commit: one durable transaction, acks after it returns); the
//! HTTP API calls the query methods. `Store` is `Send + Sync`; share it in
//! an `Arc`.
//!
//! # Layout
//! - [`schema`]: every table and the format version.
//! - [`records`]: stored records and query results.
//! - [`block`]: the metric block codec (a shared time column, one value
//!   column per series); [`bits`]: its bit-level codes.
//! - [`ingest`]: the group commit.
//! - [`devices`]: network devices, their inventories and polls.
//! - [`neighbours`]: the LLDP and CDP neighbours devices report, and the
//!   reads that tie them to assets.
//! - [`identity`]: which asset a snapshot belongs to.
//! - [`incidents`]: incidents, their SLA clocks and the engine state.
//! - [`query`]: asset lists, history, installed base, metric reads.
//! - [`lookup`]: the caller lookup's index of users, full names and
//!   FQDNs, and the reads the lookup makes.
//! - [`people`]: the people directory and its indexes by key, login,
//!   name, phone and extension.
//! - [`rollups`]: series summed up by 5-minute, 1-hour and 1-day
//!   buckets, made as blocks close.
//! - [`retention`]: deleting data past their tier's retention or the
//!   file's byte budget, in small transactions.
//! - [`upgrade`]: files written by older collectors, upgraded at open.
//! - [`backup`]: a consistent copy of every table while the store runs,
//!   and putting one in place of a stopped collector's store.
//! - [`policies`]: the versions of the agent policies, and what each
//!   agent says it runs.
//!
//! # Metrics
//! Each agent has one open block (table [`HEADS`]) that its samples go
//! into, and so has each network device, keyed by the device's asset id; a full block is closed: written once to [`BLOCKS`] and indexed by
//! asset and time in [`BLOCK_INDEX`]. Series are named by fleet-wide ids
//! ([`NAMES`]); [`ASSET_SERIES`] lists the ones each asset has.
//!
//! # Assets before the first snapshot
//! An agent's first record of any kind creates a provisional asset for it
//! (a fresh `asset-N` id, named by the agent's enrollment host name), so
//! metrics that arrive before the inventory are stored at once. When the
//! agent's first snapshot matches an existing asset by hardware keys, the
//! provisional asset is merged into it: its series move over and it is
//! deleted.

pub mod accounts;
pub mod backup;
pub mod bits;
pub mod block;
pub mod device_identity;
pub mod devices;
pub mod diagnostics;
pub mod discovery;
pub mod heads;
pub mod identity;
pub mod incidents;
pub mod ingest;
pub mod kb;
pub mod lookup;
pub mod neighbours;
pub mod outbox;
pub mod people;
pub mod policies;
pub mod probes;
pub mod query;
pub mod records;
pub mod retention;
pub mod rollups;
pub mod schema;
pub mod suppliers;
pub mod trays;
pub mod upgrade;

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};

use atalaya_common::model::Timestamp;
use redb::{Database, ReadableDatabase, ReadableTable, ReadableTableMetadata, TableHandle};
use serde::Serialize;
use serde::de::DeserializeOwned;

pub use accounts::UserChange;
pub use heads::AgentPresence;
pub use incidents::{IncidentFilter, IncidentHead, IncidentPage};
pub use ingest::{Committed, Fed, Ingest, IngestRecord};
pub use records::*;
use schema::*;

/// The store. Cheap to share: wrap it in an `Arc`.
#[derive(Debug)]
pub struct Store {
    db: Database,
    path: PathBuf,
    /// Series name ids, rebuilt lazily from disk.
    cache: Mutex<ingest::Cache>,
}

/// The store file could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    /// redb refused the file.
    #[error("opening store {path}: {source}")]
    Database {
        /// The file.
        path: PathBuf,
        /// Why.
        source: redb::DatabaseError,
    },
    /// The file was written by a newer collector (or is not a store).
    #[error(
        "store {path} has format version {found}, this collector reads version {expected}; \
         use a collector of the matching version or start with a new file"
    )]
    WrongFormat {
        /// The file.
        path: PathBuf,
        /// Version in the file.
        found: u64,
        /// Version this build reads.
        expected: u64,
    },
    /// The file could not be created.
    #[error(transparent)]
    Create(#[from] atalaya_files::FileError),
    /// Setting up the tables failed.
    #[error("initialising store {path}: {source}")]
    Init {
        /// The file.
        path: PathBuf,
        /// Why.
        source: StoreError,
    },
    /// The file was written by an older collector and upgrading it failed.
    #[error(transparent)]
    Upgrade(#[from] Box<upgrade::UpgradeError>),
}

/// A store operation failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// redb failed (I/O, corruption…).
    #[error("store: {0}")]
    Database(#[from] redb::Error),
    /// A stored record does not decode.
    #[error("store: record in table {table} does not decode: {reason}")]
    Corrupt {
        /// Table.
        table: &'static str,
        /// Decoder message.
        reason: String,
    },
    /// A record does not encode (a bug).
    #[error("store: encoding a record for {table}: {reason}")]
    Encode {
        /// Table.
        table: &'static str,
        /// Encoder message.
        reason: String,
    },
    /// A record with this id already exists.
    #[error("store: {what} {id} already exists")]
    Exists {
        /// Kind of record.
        what: &'static str,
        /// Its id.
        id: String,
    },
    /// A stored metric block is corrupt.
    #[error("store: metric block {block}: {source}")]
    Block {
        /// Which block (its id, or the agent of an open block).
        block: String,
        /// Why.
        source: block::BlockError,
    },
}

macro_rules! redb_into_store_error {
    ($($t:ty),*) => {$(
        impl From<$t> for StoreError {
            fn from(e: $t) -> Self {
                StoreError::Database(e.into())
            }
        }
    )*};
}
redb_into_store_error!(
    redb::TransactionError,
    redb::TableError,
    redb::StorageError,
    redb::CommitError,
    redb::SetDurabilityError
);

/// An enrollment token was not accepted.
#[derive(Debug, thiserror::Error)]
pub enum TokenUseError {
    /// No token has this secret.
    #[error("unknown enrollment token")]
    Unknown,
    /// The token expired.
    #[error("enrollment token expired at {at}")]
    Expired {
        /// When.
        at: Timestamp,
    },
    /// The token has been used as often as it allows.
    #[error("enrollment token used up ({uses} uses)")]
    UsedUp {
        /// Uses made.
        uses: u32,
    },
    /// The token was revoked.
    #[error("enrollment token revoked")]
    Revoked,
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Encodes a record for table `table`.
pub(crate) fn enc<T: Serialize>(table: &'static str, v: &T) -> Result<Vec<u8>, StoreError> {
    postcard::to_stdvec(v).map_err(|e| StoreError::Encode {
        table,
        reason: e.to_string(),
    })
}

/// Decodes a record read from table `table`.
pub(crate) fn dec<T: DeserializeOwned>(table: &'static str, b: &[u8]) -> Result<T, StoreError> {
    postcard::from_bytes(b).map_err(|e| StoreError::Corrupt {
        table,
        reason: e.to_string(),
    })
}

/// Lowers the mode of an existing store file to 0600, saying so.
fn keep_private(path: &Path) {
    match atalaya_files::tighten(path, atalaya_files::PRIVATE_FILE) {
        Ok(Some(old)) => tracing::warn!(
            file = %path.display(),
            from = %format_args!("{old:04o}"),
            to = %format_args!("{:04o}", old & atalaya_files::PRIVATE_FILE),
            "the store was open to other accounts; its permissions were tightened"
        ),
        Ok(None) => {}
        Err(err) => tracing::warn!(
            error = %err,
            "the store may be open to other accounts: its permissions could not be tightened"
        ),
    }
}

/// The store's page cache unless configured: redb's own default.
pub const DEFAULT_CACHE_BYTES: usize = 1 << 30;

impl Store {
    /// Opens the store file, creating it if missing. A file written by an
    /// older collector is upgraded first (see [`upgrade`]); one of a newer
    /// format version is refused with [`OpenError::WrongFormat`].
    ///
    /// The store holds the inventory, sessions, incidents and token
    /// hashes, so only its owner may read it: a new file is created with
    /// mode 0600, and an existing one open to others is tightened to it
    /// with a warning (never refused: the owner may have meant it, and a
    /// collector that does not start helps no one).
    pub fn open(path: &Path) -> Result<Store, OpenError> {
        Self::open_with_cache(path, DEFAULT_CACHE_BYTES)
    }

    /// [`Store::open`] with a page cache of `cache_bytes` (`[store]
    /// cache_mb`): reports over a fleet read pages of every asset, and
    /// those the cache does not hold are read from the file again.
    pub fn open_with_cache(path: &Path, cache_bytes: usize) -> Result<Store, OpenError> {
        if !atalaya_files::create_private_file(path)? {
            keep_private(path);
        }
        let init = |source| OpenError::Init {
            path: path.to_owned(),
            source,
        };
        // An older file is upgraded before anything writes to it, so that a
        // failed upgrade gives it back byte for byte.
        if let Some(old) = upgrade::older_version(path) {
            upgrade::upgrade(path, old)?;
        }
        let mut db = Self::open_db(path, cache_bytes)?;
        let mut found = Self::prepare(&db).map_err(init)?;
        if let Some(old) = found
            && upgrade::can_upgrade(old)
        {
            // Only readable once redb repaired it (the old collector did not
            // shut down cleanly): upgraded as repaired.
            drop(db);
            upgrade::upgrade(path, old)?;
            db = Self::open_db(path, cache_bytes)?;
            found = Self::prepare(&db).map_err(init)?;
        }
        if let Some(found) = found
            && found != FORMAT_VERSION
        {
            return Err(OpenError::WrongFormat {
                path: path.to_owned(),
                found,
                expected: FORMAT_VERSION,
            });
        }
        Ok(Store {
            db,
            path: path.to_owned(),
            cache: Mutex::new(ingest::Cache::default()),
        })
    }

    fn open_db(path: &Path, cache_bytes: usize) -> Result<Database, OpenError> {
        redb::Builder::new()
            .set_cache_size(cache_bytes)
            .create(path)
            .map_err(|source| OpenError::Database {
                path: path.to_owned(),
                source,
            })
    }

    /// Reads the file's format version (`None`: a new file, now given the
    /// current one) and, for a file of the current version, makes sure
    /// every table and the indexes (caller lookup, incidents by time and
    /// by asset) exist; a file of another version
    /// is left as it is.
    fn prepare(db: &Database) -> Result<Option<u64>, StoreError> {
        let txn = db.begin_write()?;
        let found = {
            let mut meta = txn.open_table(META)?;
            let found = meta.get(META_FORMAT)?.map(|v| v.value());
            let empty = meta.is_empty()?;
            if found.is_none() && empty {
                meta.insert(META_FORMAT, FORMAT_VERSION)?;
            }
            found
        };
        if found.is_some_and(|v| v != FORMAT_VERSION) {
            txn.abort()?;
            return Ok(found);
        }
        create_all(&txn)?;
        let indexed = txn
            .open_table(META)?
            .get(META_LOOKUP_INDEX)?
            .map(|v| v.value());
        if indexed != Some(lookup::LOOKUP_INDEX_VERSION) {
            // Written before the lookup index (or by an older one).
            let started = std::time::Instant::now();
            let assets = lookup::rebuild_lookup_index(&txn)?;
            if assets > 0 {
                tracing::info!(
                    assets,
                    ms = started.elapsed().as_millis() as u64,
                    "built the caller lookup index"
                );
            }
        }
        let spans = txn
            .open_table(META)?
            .get(META_INCIDENT_SPANS)?
            .map(|v| v.value());
        if spans != Some(incidents::INCIDENT_SPANS_VERSION) {
            // Written before the index of incidents by time.
            let started = std::time::Instant::now();
            let n = incidents::rebuild_incident_spans(&txn)?;
            if n > 0 {
                tracing::info!(
                    incidents = n,
                    ms = started.elapsed().as_millis() as u64,
                    "built the index of incidents by time"
                );
            }
        }
        let by_asset = txn
            .open_table(META)?
            .get(META_INCIDENTS_BY_ASSET)?
            .map(|v| v.value());
        if by_asset != Some(incidents::INCIDENTS_BY_ASSET_VERSION) {
            // Written before the index of incidents by asset.
            let started = std::time::Instant::now();
            let n = incidents::rebuild_incidents_by_asset(&txn)?;
            if n > 0 {
                tracing::info!(
                    incidents = n,
                    ms = started.elapsed().as_millis() as u64,
                    "built the index of incidents by asset"
                );
            }
        }
        txn.commit()?;
        Ok(found)
    }

    fn cache(&self) -> MutexGuard<'_, ingest::Cache> {
        // A panic while holding the lock leaves a cache that may be ahead of
        // the disk; clear it so it is rebuilt from committed data.
        self.cache.lock().unwrap_or_else(|poisoned| {
            let mut g = poisoned.into_inner();
            *g = ingest::Cache::default();
            g
        })
    }

    /// Stores a new enrollment token.
    pub fn add_token(&self, t: &TokenRecord) -> Result<(), StoreError> {
        let txn = self.db.begin_write()?;
        {
            let mut tokens = txn.open_table(TOKENS)?;
            if tokens.get(t.id.as_str())?.is_some() {
                return Err(StoreError::Exists {
                    what: "token",
                    id: t.id.clone(),
                });
            }
            tokens.insert(t.id.as_str(), enc("tokens", t)?.as_slice())?;
            txn.open_table(TOKEN_SECRETS)?
                .insert(t.secret_sha256.as_slice(), t.id.as_str())?;
        }
        txn.commit()?;
        Ok(())
    }

    /// Every enrollment token, by id.
    pub fn list_tokens(&self) -> Result<Vec<TokenRecord>, StoreError> {
        let txn = self.db.begin_read()?;
        let t = txn.open_table(TOKENS)?;
        t.iter()?
            .map(|r| {
                let (_, v) = r?;
                dec("tokens", v.value())
            })
            .collect()
    }

    /// Revokes a token; false if there is none with this id.
    pub fn revoke_token(&self, id: &str) -> Result<bool, StoreError> {
        let txn = self.db.begin_write()?;
        let found = {
            let mut tokens = txn.open_table(TOKENS)?;
            let rec: Option<TokenRecord> = match tokens.get(id)? {
                Some(v) => Some(dec("tokens", v.value())?),
                None => None,
            };
            match rec {
                Some(mut rec) => {
                    rec.revoked = true;
                    tokens.insert(id, enc("tokens", &rec)?.as_slice())?;
                    true
                }
                None => false,
            }
        };
        txn.commit()?;
        Ok(found)
    }

    /// Checks a token and counts one use, atomically.
    pub fn use_token(
        &self,
        secret_sha256: &[u8; 32],
        now: Timestamp,
    ) -> Result<TokenRecord, TokenUseError> {
        let txn = self.db.begin_write().map_err(StoreError::from)?;
        let rec = {
            let id = match txn
                .open_table(TOKEN_SECRETS)
                .map_err(StoreError::from)?
                .get(secret_sha256.as_slice())
                .map_err(StoreError::from)?
            {
                Some(id) => id.value().to_owned(),
                None => return Err(TokenUseError::Unknown),
            };
            let mut tokens = txn.open_table(TOKENS).map_err(StoreError::from)?;
            let mut rec: TokenRecord = match tokens.get(id.as_str()).map_err(StoreError::from)? {
                Some(v) => dec("tokens", v.value())?,
                None => return Err(TokenUseError::Unknown),
            };
            if rec.revoked {
                return Err(TokenUseError::Revoked);
            }
            if let Some(at) = rec.expires_at
                && now >= at
            {
                return Err(TokenUseError::Expired { at });
            }
            if rec.max_uses.is_some_and(|max| rec.uses >= max) {
                return Err(TokenUseError::UsedUp { uses: rec.uses });
            }
            rec.uses = rec.uses.saturating_add(1);
            tokens
                .insert(id.as_str(), enc("tokens", &rec)?.as_slice())
                .map_err(StoreError::from)?;
            rec
        };
        txn.commit().map_err(StoreError::from)?;
        Ok(rec)
    }

    /// Stores a new API token.
    pub fn add_api_token(&self, t: &ApiTokenRecord) -> Result<(), StoreError> {
        let txn = self.db.begin_write()?;
        {
            let mut tokens = txn.open_table(API_TOKENS)?;
            if tokens.iter()?.any(|r| {
                r.ok()
                    .and_then(|(_, v)| dec::<ApiTokenRecord>("api_tokens", v.value()).ok())
                    .is_some_and(|old| old.id == t.id)
            }) || tokens.get(t.secret_sha256.as_slice())?.is_some()
            {
                return Err(StoreError::Exists {
                    what: "API token",
                    id: t.id.clone(),
                });
            }
            tokens.insert(t.secret_sha256.as_slice(), enc("api_tokens", t)?.as_slice())?;
        }
        txn.commit()?;
        Ok(())
    }

    /// The API token with this secret hash.
    pub fn api_token(
        &self,
        secret_sha256: &[u8; 32],
    ) -> Result<Option<ApiTokenRecord>, StoreError> {
        let txn = self.db.begin_read()?;
        let t = txn.open_table(API_TOKENS)?;
        match t.get(secret_sha256.as_slice())? {
            Some(v) => Ok(Some(dec("api_tokens", v.value())?)),
            None => Ok(None),
        }
    }

    /// Every API token.
    pub fn list_api_tokens(&self) -> Result<Vec<ApiTokenRecord>, StoreError> {
        let txn = self.db.begin_read()?;
        let t = txn.open_table(API_TOKENS)?;
        let mut all: Vec<ApiTokenRecord> = t
            .iter()?
            .map(|r| {
                let (_, v) = r?;
                dec("api_tokens", v.value())
            })
            .collect::<Result<_, StoreError>>()?;
        all.sort_by(|a, b| a.id.cmp(&b.id));
        Ok(all)
    }

    /// Stores a newly enrolled agent.
    pub fn add_agent(&self, a: &AgentRecord) -> Result<(), StoreError> {
        let txn = self.db.begin_write()?;
        {
            let mut agents = txn.open_table(AGENTS)?;
            if agents.get(a.id.as_str())?.is_some() {
                return Err(StoreError::Exists {
                    what: "agent",
                    id: a.id.clone(),
                });
            }
            agents.insert(a.id.as_str(), enc("agents", a)?.as_slice())?;
        }
        txn.commit()?;
        Ok(())
    }

    /// One agent.
    pub fn agent(&self, id: &str) -> Result<Option<AgentRecord>, StoreError> {
        let txn = self.db.begin_read()?;
        let t = txn.open_table(AGENTS)?;
        match t.get(id)? {
            Some(v) => Ok(Some(dec("agents", v.value())?)),
            None => Ok(None),
        }
    }

    /// Every agent, by id.
    pub fn list_agents(&self) -> Result<Vec<AgentRecord>, StoreError> {
        let txn = self.db.begin_read()?;
        let t = txn.open_table(AGENTS)?;
        t.iter()?
            .map(|r| {
                let (_, v) = r?;
                dec("agents", v.value())
            })
            .collect()
    }

    /// Marks an agent revoked; false if unknown. Revoking twice keeps the first time.
    pub fn revoke_agent(&self, id: &str, now: Timestamp) -> Result<bool, StoreError> {
        let txn = self.db.begin_write()?;
        let found = {
            let mut agents = txn.open_table(AGENTS)?;
            let rec: Option<AgentRecord> = match agents.get(id)? {
                Some(v) => Some(dec("agents", v.value())?),
                None => None,
            };
            match rec {
                Some(mut rec) => {
                    rec.revoked_at.get_or_insert(now);
                    agents.insert(id, enc("agents", &rec)?.as_slice())?;
                    true
                }
                None => false,
            }
        };
        txn.commit()?;
        Ok(found)
    }

    /// Stores an agent's renewed certificate in place of the old one.
    /// Returns `None` when the agent is unknown, else its revocation time
    /// (a revoked agent's record is left as it was).
    pub fn set_agent_certificate(
        &self,
        id: &str,
        certificate_pem: &str,
        cert_sha256: [u8; 32],
    ) -> Result<Option<Option<Timestamp>>, StoreError> {
        let txn = self.db.begin_write()?;
        let outcome = {
            let mut agents = txn.open_table(AGENTS)?;
            let rec: Option<AgentRecord> = match agents.get(id)? {
                Some(v) => Some(dec("agents", v.value())?),
                None => None,
            };
            match rec {
                Some(rec) if rec.revoked_at.is_some() => Some(rec.revoked_at),
                Some(mut rec) => {
                    rec.certificate_pem = certificate_pem.to_owned();
                    rec.cert_sha256 = cert_sha256;
                    agents.insert(id, enc("agents", &rec)?.as_slice())?;
                    Some(None)
                }
                None => None,
            }
        };
        txn.commit()?;
        Ok(outcome)
    }

    /// Replaces an asset's tags; false if there is no such asset.
    pub fn set_tags(&self, asset: &str, tags: &[String]) -> Result<bool, StoreError> {
        let txn = self.db.begin_write()?;
        let found = {
            let mut assets = txn.open_table(ASSETS)?;
            let meta: Option<AssetMeta> = match assets.get(asset)? {
                Some(v) => Some(dec("assets", v.value())?),
                None => None,
            };
            match meta {
                Some(mut m) => {
                    m.tags = tags.to_vec();
                    m.tags.sort();
                    m.tags.dedup();
                    assets.insert(asset, enc("assets", &m)?.as_slice())?;
                    true
                }
                None => false,
            }
        };
        txn.commit()?;
        Ok(found)
    }

    /// The asset an agent's data goes to (`None` before its first record).
    pub fn agent_asset_id(&self, agent: &str) -> Result<Option<String>, StoreError> {
        let txn = self.db.begin_read()?;
        let t = txn.open_table(AGENT_ASSET)?;
        Ok(t.get(agent)?.map(|v| v.value().to_owned()))
    }

    /// How many assets the store holds (hosts and network devices).
    pub fn asset_count(&self) -> Result<u64, StoreError> {
        let txn = self.db.begin_read()?;
        Ok(txn.open_table(ASSETS)?.len()?)
    }

    /// Counts for `/metrics`.
    pub fn stats(&self) -> Result<StoreStats, StoreError> {
        let txn = self.db.begin_read()?;
        let blocks = txn.open_table(BLOCKS)?;
        let heads = txn.open_table(HEADS)?;
        let open_blocks = txn.open_table(HEAD_OF)?.len()?;
        let mut series = 0;
        for r in txn.open_table(ASSET_SERIES)?.iter()? {
            let (_, ids) = r?;
            series += ingest::decode_name_ids(ids.value())?.len() as u64;
        }
        Ok(StoreStats {
            assets: txn.open_table(ASSETS)?.len()?,
            agents: txn.open_table(AGENTS)?.len()?,
            series,
            chunks: txn.open_table(BLOCK_INDEX)?.len()? + open_blocks,
            chunk_bytes: blocks.stats()?.stored_bytes() + heads.stats()?.stored_bytes(),
            change_events: txn.open_table(CHANGES)?.len()?,
            file_bytes: std::fs::metadata(&self.path).map(|m| m.len()).unwrap_or(0),
        })
    }

    /// Bytes of the file's pages in use by the latest commit; the rest of
    /// [`StoreStats::file_bytes`] is free, or freed by a recent commit and
    /// not yet reusable. Briefly takes the write lock (so it waits for a
    /// commit in flight); for benches and diagnostics, not for `/metrics`.
    pub fn allocated_bytes(&self) -> Result<u64, StoreError> {
        let txn = self.db.begin_write()?;
        let st = txn.stats()?;
        txn.abort()?;
        Ok(st.allocated_pages() * st.page_size() as u64)
    }

    /// A write transaction over the help-desk tables (incidents, user
    /// reports, knowledge base, webhook outbox, engine state): what the
    /// desk decides about one event commits together or not at all.
    pub fn begin_desk(&self) -> Result<DeskTxn, StoreError> {
        Ok(DeskTxn {
            txn: self.db.begin_write()?,
        })
    }

    /// Starts a write transaction, for modules that keep their own tables
    /// here (the knowledge base, the webhook outbox).
    pub fn begin_write(&self) -> Result<redb::WriteTransaction, StoreError> {
        Ok(self.db.begin_write()?)
    }

    /// Starts a read transaction (see [`Store::begin_write`]).
    pub fn begin_read(&self) -> Result<redb::ReadTransaction, StoreError> {
        Ok(self.db.begin_read()?)
    }

    /// Per table: its name, the bytes of keys and values it stores, and the
    /// bytes of the pages holding them (leaves and branches). For benches
    /// and diagnostics.
    pub fn table_usage(&self) -> Result<Vec<(String, u64, u64)>, StoreError> {
        let txn = self.db.begin_read()?;
        let mut out = Vec::new();
        for handle in txn.list_tables()? {
            let name = handle.name().to_owned();
            let t = txn.open_untyped_table(handle)?;
            let st = t.stats()?;
            out.push((
                name,
                st.stored_bytes(),
                (st.leaf_pages() + st.branch_pages()) * 4096,
            ));
        }
        Ok(out)
    }

    /// Compacts the file (frees pages left by copy-on-write). Needs no
    /// other transaction in flight; used by the bench and maintenance.
    pub fn compact(&mut self) -> Result<bool, StoreError> {
        self.db
            .compact()
            .map_err(|e| StoreError::Database(e.into()))
    }
}

/// Reads the next value of a counter in [`META`] and advances it.
pub(crate) fn next_id(
    meta: &mut redb::Table<'_, &'static str, u64>,
    key: &'static str,
) -> Result<u64, StoreError> {
    let n = meta.get(key)?.map(|v| v.value()).unwrap_or(1);
    meta.insert(key, n + 1)?;
    Ok(n)
}

/// One write transaction over the help-desk tables, from
/// [`Store::begin_desk`]. Its reads see its own writes; nothing is kept
/// unless [`DeskTxn::commit`] succeeds. The operations are in the modules
/// of their tables ([`incidents`], [`kb`], [`outbox`]).
pub struct DeskTxn {
    txn: redb::WriteTransaction,
}

impl fmt::Debug for DeskTxn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DeskTxn").finish_non_exhaustive()
    }
}

impl DeskTxn {
    /// Makes everything written in this transaction durable.
    pub fn commit(self) -> Result<(), StoreError> {
        self.txn.commit()?;
        Ok(())
    }

    /// An asset's record without its inventory.
    pub fn asset_meta(&self, asset: &str) -> Result<Option<AssetMeta>, StoreError> {
        let t = self.txn.open_table(schema::ASSETS)?;
        let v = t.get(asset)?;
        v.map(|v| dec("assets", v.value())).transpose()
    }
}

#[cfg(test)]
mod roundtrip;
#[cfg(test)]
pub(crate) mod testutil;

#[cfg(test)]
mod tests {
    use super::testutil::*;
    use super::*;

    fn token(id: &str, secret: u8, max_uses: Option<u32>, expires: Option<i64>) -> TokenRecord {
        TokenRecord {
            id: id.into(),
            secret_sha256: [secret; 32],
            created_at: Timestamp(0),
            expires_at: expires.map(Timestamp),
            max_uses,
            uses: 0,
            revoked: false,
            collector_address: "collector:4433".into(),
        }
    }

    #[test]
    fn the_store_file_is_private_when_created_and_made_private_when_open() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("atalaya.redb");
        drop(Store::open(&path).unwrap());
        assert_eq!(atalaya_files::mode_of(&path).unwrap(), 0o600);
        std::fs::set_permissions(&path, std::os::unix::fs::PermissionsExt::from_mode(0o644))
            .unwrap();
        let store = Store::open(&path).unwrap();
        assert_eq!(atalaya_files::mode_of(&path).unwrap(), 0o600);
        // Still the same store, readable as before.
        assert!(store.list_tokens().unwrap().is_empty());
    }

    #[test]
    fn token_use_counts_expires_and_revokes() {
        let (_d, s) = temp_store();
        s.add_token(&token("t1", 1, Some(2), Some(10_000))).unwrap();
        s.add_token(&token("t2", 2, None, None)).unwrap();
        assert!(matches!(
            s.add_token(&token("t1", 3, None, None)),
            Err(StoreError::Exists { .. })
        ));
        assert_eq!(s.use_token(&[1; 32], Timestamp(5)).unwrap().uses, 1);
        assert_eq!(s.use_token(&[1; 32], Timestamp(6)).unwrap().uses, 2);
        assert!(matches!(
            s.use_token(&[1; 32], Timestamp(7)),
            Err(TokenUseError::UsedUp { uses: 2 })
        ));
        assert!(matches!(
            s.use_token(&[2; 32], Timestamp(0)).map(|t| t.uses),
            Ok(1)
        ));
        s.add_token(&token("t3", 4, None, Some(100))).unwrap();
        assert!(matches!(
            s.use_token(&[4; 32], Timestamp(100)),
            Err(TokenUseError::Expired { at: Timestamp(100) })
        ));
        assert!(s.revoke_token("t2").unwrap());
        assert!(!s.revoke_token("nope").unwrap());
        assert!(matches!(
            s.use_token(&[2; 32], Timestamp(0)),
            Err(TokenUseError::Revoked)
        ));
        assert!(matches!(
            s.use_token(&[9; 32], Timestamp(0)),
            Err(TokenUseError::Unknown)
        ));
        let list = s.list_tokens().unwrap();
        assert_eq!(list.len(), 3);
        assert!(!format!("{:?}", list[0]).contains("1, 1, 1"));
    }

    #[test]
    fn api_tokens_are_found_by_secret_hash() {
        let (_d, s) = temp_store();
        let t = ApiTokenRecord {
            id: "k1".into(),
            name: "ops".into(),
            secret_sha256: [7; 32],
            role: Role::Helpdesk,
            created_at: Timestamp(0),
        };
        s.add_api_token(&t).unwrap();
        assert_eq!(s.api_token(&[7; 32]).unwrap(), Some(t.clone()));
        assert_eq!(s.api_token(&[8; 32]).unwrap(), None);
        assert_eq!(s.list_api_tokens().unwrap(), vec![t]);
    }

    fn agent(id: &str) -> AgentRecord {
        AgentRecord::enrolled(
            id,
            format!("{id}.example"),
            "PEM",
            [0; 32],
            "0.1.0",
            Timestamp(0),
        )
    }

    #[test]
    fn a_renewed_certificate_replaces_the_stored_one_unless_revoked() {
        let (_d, s) = temp_store();
        s.add_agent(&agent("ag1")).unwrap();
        assert_eq!(
            s.set_agent_certificate("ag1", "NEW PEM", [9; 32]).unwrap(),
            Some(None)
        );
        let rec = s.agent("ag1").unwrap().unwrap();
        assert_eq!(
            (rec.certificate_pem.as_str(), rec.cert_sha256),
            ("NEW PEM", [9; 32])
        );
        assert_eq!(s.set_agent_certificate("ag2", "X", [1; 32]).unwrap(), None);
        s.revoke_agent("ag1", Timestamp(5)).unwrap();
        assert_eq!(
            s.set_agent_certificate("ag1", "LATER", [2; 32]).unwrap(),
            Some(Some(Timestamp(5)))
        );
        assert_eq!(s.agent("ag1").unwrap().unwrap().certificate_pem, "NEW PEM");
    }

    #[test]
    fn reopened_file_keeps_everything() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.redb");
        let inv = machine("web-01", Some("u-1"), "m-1", "00:11:22:33:44:55");
        {
            let s = Store::open(&path).unwrap();
            s.add_agent(&agent("ag1")).unwrap();
            s.add_token(&token("t1", 1, None, None)).unwrap();
            s.commit(&[
                snapshot("ag1", 1, 1_000, &inv),
                metrics("ag1", 2, vec![sample(10_000, 5.0), sample(20_000, 6.0)]),
                Ingest {
                    agent_id: "ag1".into(),
                    received_at: Timestamp(20_500),
                    record: IngestRecord::Seen(AgentSeen {
                        agent_version: "0.2.0".into(),
                        rtt_ms: 1.5,
                        lost_packets: 3,
                        sent_packets: 100,
                        cwnd_bytes: 12_000,
                        loss_percent: Some(3.0),
                    }),
                },
            ])
            .unwrap();
        }
        let s = Store::open(&path).unwrap();
        let a = s.asset_by_hostname("WEB-01").unwrap().unwrap();
        assert_eq!(a.inventory.as_ref(), Some(&inv));
        let ag = s.agent("ag1").unwrap().unwrap();
        assert_eq!(ag.asset_id.as_deref(), Some(a.meta.id.as_str()));
        assert_eq!(
            (ag.agent_version.as_str(), ag.rtt_ms, ag.lost_packets),
            ("0.2.0", Some(1.5), 3)
        );
        assert_eq!(ag.last_seen, Some(Timestamp(20_500)));
        // The connection's path is a series of the agent's asset, at the
        // collector's time of the report.
        let path = |series| {
            s.metric(&a.meta.id, series, Timestamp(0), Timestamp(40_000), None)
                .unwrap()
        };
        assert_eq!(path(path_series::RTT_MS), vec![(Timestamp(20_500), 1.5)]);
        assert_eq!(
            path(path_series::LOSS_PERCENT),
            vec![(Timestamp(20_500), 3.0)]
        );
        assert_eq!(
            path(path_series::CWND_BYTES),
            vec![(Timestamp(20_500), 12_000.0)]
        );
        assert_eq!(s.list_tokens().unwrap().len(), 1);
        // Appending after reopen goes on in the stored open block.
        let r = s
            .commit(&[metrics("ag1", 3, vec![sample(30_000, 7.0)])])
            .unwrap();
        assert_eq!(r[0].highest_seq, 3);
        let pts = s
            .metric(
                &a.meta.id,
                "cpu.total_percent",
                Timestamp(0),
                Timestamp(40_000),
                None,
            )
            .unwrap();
        assert_eq!(
            pts,
            vec![
                (Timestamp(10_000), 5.0),
                (Timestamp(20_000), 6.0),
                (Timestamp(30_000), 7.0)
            ]
        );
        // The agent's open block took the new sample: the open blocks are
        // still the agent's and the asset's own (the path's points).
        assert_eq!(s.stats().unwrap().chunks, 2);
    }

    #[test]
    fn file_of_another_format_version_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.redb");
        drop(Store::open(&path).unwrap());
        {
            let db = redb::Database::create(&path).unwrap();
            let txn = db.begin_write().unwrap();
            txn.open_table(META)
                .unwrap()
                .insert(META_FORMAT, FORMAT_VERSION + 1)
                .unwrap();
            txn.commit().unwrap();
        }
        let err = Store::open(&path).unwrap_err();
        assert!(
            matches!(err, OpenError::WrongFormat { found, expected, .. } if found == FORMAT_VERSION + 1 && expected == FORMAT_VERSION),
            "{err}"
        );
        assert!(
            err.to_string()
                .contains(&format!("format version {}", FORMAT_VERSION + 1))
        );
    }

    #[test]
    fn file_of_an_older_format_version_is_upgraded() {
        // The smallest file of format 1: only its meta table (the fixture
        // files of collector/tests hold real data of every older format).
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.redb");
        let write_version = |version: u64| {
            let db = redb::Database::create(&path).unwrap();
            let txn = db.begin_write().unwrap();
            txn.open_table(META)
                .unwrap()
                .insert(META_FORMAT, version)
                .unwrap();
            txn.commit().unwrap();
        };
        // No format 0 was ever written: not upgraded, refused.
        write_version(0);
        let err = Store::open(&path).unwrap_err();
        assert!(
            matches!(err, OpenError::WrongFormat { found: 0, .. }),
            "{err}"
        );
        write_version(1);
        let s = Store::open(&path).unwrap();
        let txn = s.begin_read().unwrap();
        let meta = txn.open_table(META).unwrap();
        assert_eq!(
            meta.get(META_FORMAT).unwrap().map(|v| v.value()),
            Some(FORMAT_VERSION)
        );
        assert!(!upgrade::backup_path(&path, 1).exists());
        assert_eq!(s.stats().unwrap().assets, 0);
    }

    #[test]
    fn allocated_bytes_grow_with_data_and_fit_in_the_file() {
        let (_d, s) = temp_store();
        let empty = s.allocated_bytes().unwrap();
        assert!(empty > 0);
        let samples: Vec<_> = (0..200)
            .map(|i| sample(i * 10_000, i as f64 * 1.37))
            .collect();
        s.commit(&[metrics("ag", 1, samples)]).unwrap();
        let full = s.allocated_bytes().unwrap();
        assert!(full > empty, "{full} <= {empty}");
        assert!(full <= s.stats().unwrap().file_bytes);
    }

    #[test]
    fn store_is_shareable_across_threads() {
        fn shareable<T: Send + Sync>() {}
        shareable::<Store>();
    }

    #[test]
    fn revoke_agent_keeps_first_time() {
        let (_d, s) = temp_store();
        s.add_agent(&agent("a")).unwrap();
        assert!(s.revoke_agent("a", Timestamp(5)).unwrap());
        assert!(s.revoke_agent("a", Timestamp(9)).unwrap());
        assert!(!s.revoke_agent("b", Timestamp(9)).unwrap());
        assert_eq!(
            s.agent("a").unwrap().unwrap().revoked_at,
            Some(Timestamp(5))
        );
        assert_eq!(s.list_agents().unwrap().len(), 1);
    }
}
