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
//! - [`chunk`]: Gorilla compression of metric chunks.
//! - [`series`]: a health sample as named points.
//! - [`ingest`]: the group commit.
//! - [`identity`]: which asset a snapshot belongs to.
//! - [`query`]: asset lists, history, installed base, metric reads.
//!
//! # Assets before the first snapshot
//! An agent's first record of any kind creates a provisional asset for it
//! (a fresh `asset-N` id, named by the agent's enrollment host name), so
//! metrics that arrive before the inventory are stored at once. When the
//! agent's first snapshot matches an existing asset by hardware keys, the
//! provisional asset is merged into it: its series move over and it is
//! deleted.

pub mod chunk;
pub mod identity;
pub mod ingest;
pub mod query;
pub mod records;
pub mod schema;
pub mod series;

use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};

use atalaya_common::model::Timestamp;
use redb::{Database, ReadableDatabase, ReadableTable, ReadableTableMetadata};
use serde::Serialize;
use serde::de::DeserializeOwned;

pub use ingest::{Committed, Ingest, IngestRecord};
pub use records::*;
use schema::*;

/// The store. Cheap to share: wrap it in an `Arc`.
#[derive(Debug)]
pub struct Store {
    db: Database,
    path: PathBuf,
    /// Open chunk encoders and series ids, rebuilt lazily from disk.
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
    /// The file was written by another version of the store.
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
    /// Setting up the tables failed.
    #[error("initialising store {path}: {source}")]
    Init {
        /// The file.
        path: PathBuf,
        /// Why.
        source: StoreError,
    },
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
    /// A stored metric chunk is corrupt.
    #[error("store: metric chunk of series {series}: {source}")]
    Chunk {
        /// Series id.
        series: u64,
        /// Why.
        source: chunk::ChunkError,
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

impl Store {
    /// Opens the store file, creating it if missing. A file of another
    /// format version is refused with [`OpenError::WrongFormat`].
    pub fn open(path: &Path) -> Result<Store, OpenError> {
        let db = Database::create(path).map_err(|source| OpenError::Database {
            path: path.to_owned(),
            source,
        })?;
        let init = |source| OpenError::Init {
            path: path.to_owned(),
            source,
        };
        let found = (|| -> Result<Option<u64>, StoreError> {
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
            txn.commit()?;
            Ok(found)
        })()
        .map_err(init)?;
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
    pub fn api_token(&self, secret_sha256: &[u8; 32]) -> Result<Option<ApiTokenRecord>, StoreError> {
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

    /// Counts for `/metrics`.
    pub fn stats(&self) -> Result<StoreStats, StoreError> {
        let txn = self.db.begin_read()?;
        let chunks = txn.open_table(CHUNKS)?;
        Ok(StoreStats {
            assets: txn.open_table(ASSETS)?.len()?,
            agents: txn.open_table(AGENTS)?.len()?,
            series: txn.open_table(SERIES)?.len()?,
            chunks: chunks.len()?,
            chunk_bytes: chunks.stats()?.stored_bytes(),
            change_events: txn.open_table(CHANGES)?.len()?,
            file_bytes: std::fs::metadata(&self.path).map(|m| m.len()).unwrap_or(0),
        })
    }

    /// Compacts the file (frees pages left by copy-on-write). Needs no
    /// other transaction in flight; used by the bench and maintenance.
    pub fn compact(&mut self) -> Result<bool, StoreError> {
        self.db.compact().map_err(|e| StoreError::Database(e.into()))
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
