//! Backups of the store and their restore.
//!
//! A backup is a new redb file holding a copy of every table of the
//! current schema, read from one read transaction: it is the store as it
//! was at one commit, whatever commits while the copy runs. A redb read
//! transaction takes no lock a writer needs, so ingest goes on meanwhile
//! (the pages of that commit are kept until the copy ends, so the file may
//! grow by what is written meanwhile). The copy is written under a
//! temporary name (`<file>.partial`), synced, and renamed into place, so a
//! file of the backup's name is always whole. It is an ordinary store file:
//! a collector can run on it as it is.
//!
//! The moment a backup is consistent with is told two ways: the time just
//! before its read transaction began (every commit finished by then is in
//! it), and the highest sequence number of each agent committed in it
//! (the collector acknowledges an agent's records only after they are
//! committed, so every record acknowledged up to that number is in it).
//!
//! [`restore`] puts a backup in place of a stopped collector's store: the
//! backup is copied beside the store, opened as the collector would open
//! it (a backup of an older format is upgraded, one of a newer format or
//! not a store at all is refused), and only then renamed over the store;
//! the store it replaces is kept beside it
//! (`atalaya.redb.before-restore-<time>`).

use std::collections::BTreeMap;
use std::fmt;
use std::fs::{self, File};
use std::io;
use std::path::{Path, PathBuf};
use std::time::Instant;

use atalaya_common::model::Timestamp;
use redb::{
    Key, ReadOnlyDatabase, ReadTransaction, ReadableDatabase, ReadableTable, ReadableTableMetadata,
    TableDefinition, TableHandle, Value, WriteTransaction,
};
use serde::{Deserialize, Serialize};

use super::schema::*;
use super::{OpenError, Store, StoreError};

/// Key in [`META`] of the time (ms) a backup's read transaction began, in
/// a file written by a backup (and in a store restored from one).
pub const META_BACKUP_TAKEN_AT: &str = "backup_taken_at_ms";

/// Page cache of the file a backup writes: redb keeps at most half of it
/// as pages not yet written out, so this bounds the memory the copy needs
/// whatever the size of the store.
const WRITE_CACHE_BYTES: usize = 64 << 20;

/// How many records of one table a table holds in a backup.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TableCount {
    /// The table's name in the file.
    pub table: String,
    /// Its records.
    pub records: u64,
}

/// What a backup wrote.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BackupSummary {
    /// The file written.
    pub path: PathBuf,
    /// Its size.
    pub bytes: u64,
    /// The store format version of the file (the collector's).
    pub format_version: u64,
    /// Just before the read transaction began: every commit finished by
    /// then is in the backup.
    pub taken_at: Timestamp,
    /// Per agent, the highest sequence number committed in the backup:
    /// every record of the agent acknowledged up to it is in the backup.
    pub agent_seqs: BTreeMap<String, u64>,
    /// Every table with its records, in the order copied.
    pub tables: Vec<TableCount>,
    /// How long the copy took.
    pub elapsed_ms: u64,
}

impl BackupSummary {
    /// All records of all tables.
    pub fn records(&self) -> u64 {
        self.tables.iter().map(|t| t.records).sum()
    }
}

/// A backup could not be made; no file of the backup's name was written
/// (a temporary file is removed).
#[derive(Debug, thiserror::Error)]
pub enum BackupError {
    /// The store file is missing.
    #[error("there is no store at {}", path.display())]
    NoStore {
        /// The store file.
        path: PathBuf,
    },
    /// The store is open in a running collector (ask that collector).
    #[error("the store {} is in use by a running collector", path.display())]
    InUse {
        /// The store file.
        path: PathBuf,
    },
    /// The store file could not be opened for reading.
    #[error("opening the store {} for reading: {source}", path.display())]
    Open {
        /// The store file.
        path: PathBuf,
        /// Why.
        source: redb::DatabaseError,
    },
    /// The store is of another format version than this collector's.
    #[error(
        "the store {} has format version {found}, this collector backs up version {expected}; \
         start this collector on it once (it upgrades the file) or back it up with its own \
         collector",
        path.display()
    )]
    WrongFormat {
        /// The store file.
        path: PathBuf,
        /// Version in the file (`0`: none).
        found: u64,
        /// Version this collector writes.
        expected: u64,
    },
    /// The store holds a table this collector does not know, which a
    /// backup would leave out.
    #[error(
        "the store has a table `{table}` this collector does not know; a backup would leave \
         it out, so none was made"
    )]
    UnknownTable {
        /// Its name.
        table: String,
    },
    /// Reading the store failed.
    #[error("reading the store: {0}")]
    Read(#[source] StoreError),
    /// The backup file could not be created.
    #[error("creating the backup file {}: {source}", path.display())]
    Create {
        /// The temporary file.
        path: PathBuf,
        /// Why.
        source: redb::DatabaseError,
    },
    /// Writing the backup file failed.
    #[error("writing the backup file {}: {source}", path.display())]
    Write {
        /// The temporary file.
        path: PathBuf,
        /// Why.
        source: StoreError,
    },
    /// A file operation failed (creating, syncing, renaming).
    #[error(transparent)]
    File(#[from] atalaya_files::FileError),
}

/// The store could not be restored from a backup; the store file was not
/// changed.
#[derive(Debug, thiserror::Error)]
pub enum RestoreError {
    /// The backup file is missing or not a regular file.
    #[error("the backup {} is not a file: {source}", path.display())]
    NoBackup {
        /// The backup file.
        path: PathBuf,
        /// Why.
        source: io::Error,
    },
    /// The backup is empty (redb would make a new store of it).
    #[error("the backup {} is empty, not a store", path.display())]
    Empty {
        /// The backup file.
        path: PathBuf,
    },
    /// The backup is the store itself.
    #[error("the backup {} is the store itself", path.display())]
    SameFile {
        /// The file.
        path: PathBuf,
    },
    /// A collector is running on the store.
    #[error(
        "a collector is running on {} (its store is in use); stop it before restoring",
        dir.display()
    )]
    Running {
        /// The data directory.
        dir: PathBuf,
    },
    /// The backup is not a redb file, or is damaged.
    #[error("the backup {} is not a store or is damaged: {source}", path.display())]
    NotAStore {
        /// The backup file.
        path: PathBuf,
        /// What redb said.
        source: redb::DatabaseError,
    },
    /// The backup is a redb file, but not one written by a collector.
    #[error(
        "the backup {} is not an Atalaya store: it has no format version ({reason})",
        path.display()
    )]
    NoFormat {
        /// The backup file.
        path: PathBuf,
        /// What was missing.
        reason: String,
    },
    /// The backup does not open as a store of this collector (a newer
    /// format, or its upgrade failed).
    #[error("the backup {} cannot be used: {source}", path.display())]
    Refused {
        /// The backup file.
        path: PathBuf,
        /// Why.
        source: Box<OpenError>,
    },
    /// Reading the restored copy failed.
    #[error("reading the restored copy: {0}")]
    Read(#[source] StoreError),
    /// Copying the backup beside the store failed.
    #[error("copying the backup {} to {}: {source}", from.display(), to.display())]
    Copy {
        /// The backup file.
        from: PathBuf,
        /// Where it was copied to.
        to: PathBuf,
        /// Why.
        source: io::Error,
    },
    /// A file operation failed (syncing, renaming).
    #[error(transparent)]
    File(#[from] atalaya_files::FileError),
}

/// What a restore did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Restored {
    /// The store file now in place.
    pub path: PathBuf,
    /// Where the store it replaced was kept (`None`: there was none).
    pub kept: Option<PathBuf>,
    /// Its format version before it was opened (older ones were upgraded).
    pub backup_format: u64,
    /// The format version now.
    pub format_version: u64,
    /// When the backup was taken, when it was written by a backup.
    pub taken_at: Option<Timestamp>,
    /// Every table with its records.
    pub tables: Vec<TableCount>,
    /// Its size in place.
    pub bytes: u64,
}

/// Lists every table of the current schema once, as `$m!(TABLE, …)`: what
/// a backup copies. A unit test checks it against [`create_all`].
macro_rules! every_table {
    ($m:ident) => {
        $m!(
            META,
            TOKENS,
            TOKEN_SECRETS,
            API_TOKENS,
            AGENTS,
            AGENT_SEQ,
            AGENT_ASSET,
            ASSETS,
            INVENTORY,
            CHANGES,
            CHANGES_BY_TIME,
            SOFTWARE,
            HOSTNAMES,
            LOOKUP_KEYS,
            IDENTITY_KEYS,
            NAMES,
            NAME_OF,
            ASSET_SERIES,
            BLOCKS,
            BLOCK_INDEX,
            HEADS,
            HEAD_OF,
            GAPS,
            KB_ARTICLES,
            NOTIFY_OUTBOX,
            NOTIFY_SENT,
            USER_REPORTS,
            DIAGNOSTICS,
            DIAGNOSTICS_BY_AGENT,
            INCIDENTS,
            OPEN_INCIDENTS,
            INCIDENT_SPANS,
            INCIDENT_ENDS,
            INCIDENTS_BY_ASSET,
            ENGINE_STATE,
            DEVICES,
            DEVICE_INVENTORY,
            DEVICE_CHANGES,
            DEVICE_POLLERS,
            DEVICE_NEIGHBOURS,
            DEVICE_TRAYS,
            DEVICE_EVENTS,
            DEVICE_EVENTS_BY_TIME,
            PROBE_LATEST,
            PROBE_AGENTS,
            DEVICE_KEYS,
            DEVICE_PRIMARY,
            DEVICE_ALIASES,
            FILE_DEVICES,
            DISCOVERIES,
            DISCOVERED,
            PEOPLE,
            PEOPLE_BY_KEY,
            PEOPLE_BY_LOGIN,
            PEOPLE_BY_NAME,
            PEOPLE_BY_PHONE,
            PEOPLE_BY_EXTENSION,
            SUPPLIERS,
            CONTRACTS,
            WARRANTIES,
            POLICY_VERSIONS,
            AGENT_POLICY,
            ROLLUPS_5M,
            ROLLUPS_1H,
            ROLLUPS_1D,
            RETENTION,
            USERS,
            SESSIONS
        )
    };
}

/// The names of the tables a backup copies.
pub fn table_names() -> Vec<&'static str> {
    macro_rules! names {
        ($($t:ident),*) => { vec![$($t.name()),*] };
    }
    every_table!(names)
}

/// Copies every table from `src` into `dst`.
fn copy_tables(src: &ReadTransaction, dst: &WriteTransaction) -> Result<(), Failed> {
    macro_rules! copy {
        ($($t:ident),*) => { $( copy_table(src, dst, $t)?; )* };
    }
    every_table!(copy);
    Ok(())
}

/// Where a copy failed: reading the store, or writing the backup.
enum Failed {
    Read(StoreError),
    Write(StoreError),
}

/// Copies one table, record by record in key order.
fn copy_table<K: Key + 'static, V: Value + 'static>(
    src: &ReadTransaction,
    dst: &WriteTransaction,
    def: TableDefinition<K, V>,
) -> Result<(), Failed> {
    let read = |e: redb::Error| Failed::Read(e.into());
    let write = |e: redb::Error| Failed::Write(e.into());
    let from = src.open_table(def).map_err(|e| read(e.into()))?;
    let mut to = dst.open_table(def).map_err(|e| write(e.into()))?;
    for row in from.iter().map_err(|e| read(e.into()))? {
        let (k, v) = row.map_err(|e| read(e.into()))?;
        to.insert(k.value(), v.value())
            .map_err(|e| write(e.into()))?;
    }
    Ok(())
}

impl Store {
    /// Writes a backup of the store to `dest` (see the module docs); the
    /// store goes on taking commits meanwhile.
    pub fn backup(&self, dest: &Path) -> Result<BackupSummary, BackupError> {
        let taken_at = Timestamp::now();
        let txn = self.begin_read().map_err(BackupError::Read)?;
        write_backup(&self.path, &txn, taken_at, dest)
    }

    /// The store's file.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

/// Writes a backup of the store file at `path`, which no collector has
/// open, to `dest`. [`BackupError::InUse`] when a collector has it open:
/// ask that collector instead.
pub fn backup_file(path: &Path, dest: &Path) -> Result<BackupSummary, BackupError> {
    if !path.is_file() {
        return Err(BackupError::NoStore {
            path: path.to_owned(),
        });
    }
    let in_use = || BackupError::InUse {
        path: path.to_owned(),
    };
    let taken_at = Timestamp::now();
    match ReadOnlyDatabase::open(path) {
        Ok(db) => {
            let txn = db
                .begin_read()
                .map_err(|e| BackupError::Read(StoreError::from(e)))?;
            write_backup(path, &txn, taken_at, dest)
        }
        Err(redb::DatabaseError::DatabaseAlreadyOpen) => Err(in_use()),
        // Left by a collector that did not shut down cleanly: repaired as
        // the collector would at its start, then read.
        Err(_) => {
            let db = redb::Database::open(path).map_err(|source| match source {
                redb::DatabaseError::DatabaseAlreadyOpen => in_use(),
                source => BackupError::Open {
                    path: path.to_owned(),
                    source,
                },
            })?;
            let txn = db
                .begin_read()
                .map_err(|e| BackupError::Read(StoreError::from(e)))?;
            write_backup(path, &txn, taken_at, dest)
        }
    }
}

/// The format version in [`META`] (`0`: none) of a read transaction.
fn format_of(txn: &ReadTransaction) -> Result<u64, StoreError> {
    match txn.open_table(META) {
        Ok(meta) => Ok(meta.get(META_FORMAT)?.map_or(0, |v| v.value())),
        Err(redb::TableError::TableDoesNotExist(_)) => Ok(0),
        Err(e) => Err(e.into()),
    }
}

fn write_backup(
    store: &Path,
    txn: &ReadTransaction,
    taken_at: Timestamp,
    dest: &Path,
) -> Result<BackupSummary, BackupError> {
    let started = Instant::now();
    let found = format_of(txn).map_err(BackupError::Read)?;
    if found != FORMAT_VERSION {
        return Err(BackupError::WrongFormat {
            path: store.to_owned(),
            found,
            expected: FORMAT_VERSION,
        });
    }
    let known = table_names();
    for t in txn.list_tables().map_err(|e| BackupError::Read(e.into()))? {
        if !known.contains(&t.name()) {
            return Err(BackupError::UnknownTable {
                table: t.name().to_owned(),
            });
        }
    }
    let mut agent_seqs = BTreeMap::new();
    for row in txn
        .open_table(AGENT_SEQ)
        .map_err(|e| BackupError::Read(e.into()))?
        .iter()
        .map_err(|e| BackupError::Read(e.into()))?
    {
        let (agent, seq) = row.map_err(|e| BackupError::Read(e.into()))?;
        agent_seqs.insert(agent.value().to_owned(), seq.value().0);
    }
    let partial = partial_path(dest);
    // A partial file left by a backup that died is of no use.
    let _ = fs::remove_file(&partial);
    let written = write_partial(txn, taken_at, &partial);
    let tables = match written {
        Ok(tables) => tables,
        Err(e) => {
            let _ = fs::remove_file(&partial);
            return Err(e);
        }
    };
    let placed = (|| {
        sync_file(&partial)?;
        fs::rename(&partial, dest).map_err(|source| atalaya_files::FileError {
            path: dest.to_owned(),
            step: atalaya_files::Step::Rename,
            source,
        })?;
        atalaya_files::sync_dir(parent(dest))
    })();
    if let Err(e) = placed {
        let _ = fs::remove_file(&partial);
        return Err(e.into());
    }
    let bytes = fs::metadata(dest).map(|m| m.len()).unwrap_or(0);
    let summary = BackupSummary {
        path: dest.to_owned(),
        bytes,
        format_version: FORMAT_VERSION,
        taken_at,
        agent_seqs,
        tables,
        elapsed_ms: started.elapsed().as_millis() as u64,
    };
    tracing::info!(
        file = %dest.display(),
        bytes,
        records = summary.records(),
        agents = summary.agent_seqs.len(),
        ms = summary.elapsed_ms,
        "store backup written"
    );
    Ok(summary)
}

/// Copies the tables into a new file at `partial`, committed.
fn write_partial(
    txn: &ReadTransaction,
    taken_at: Timestamp,
    partial: &Path,
) -> Result<Vec<TableCount>, BackupError> {
    // The backup holds what the store holds (token hashes, sessions): only
    // its owner may read it.
    atalaya_files::create_private_file(partial)?;
    let db = redb::Builder::new()
        .set_cache_size(WRITE_CACHE_BYTES)
        .create(partial)
        .map_err(|source| BackupError::Create {
            path: partial.to_owned(),
            source,
        })?;
    let write = |source: StoreError| BackupError::Write {
        path: partial.to_owned(),
        source,
    };
    let out = db.begin_write().map_err(|e| write(e.into()))?;
    match copy_tables(txn, &out) {
        Ok(()) => {}
        Err(Failed::Read(e)) => return Err(BackupError::Read(e)),
        Err(Failed::Write(e)) => return Err(write(e)),
    }
    // What the file holds, which is what was read plus the backup's time.
    (|| -> Result<Vec<TableCount>, StoreError> {
        out.open_table(META)?
            .insert(META_BACKUP_TAKEN_AT, taken_at.0.max(0) as u64)?;
        out.commit()?;
        counts_in(&db.begin_read()?)
    })()
    .map_err(write)
}

fn partial_path(dest: &Path) -> PathBuf {
    let mut name = dest.as_os_str().to_owned();
    name.push(".partial");
    PathBuf::from(name)
}

fn parent(path: &Path) -> &Path {
    match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => Path::new("."),
    }
}

fn sync_file(path: &Path) -> Result<(), atalaya_files::FileError> {
    File::open(path)
        .and_then(|f| f.sync_all())
        .map_err(|source| atalaya_files::FileError {
            path: path.to_owned(),
            step: atalaya_files::Step::SyncFile,
            source,
        })
}

/// Where the store replaced by a restore at `now` is kept:
/// `<store>.before-restore-<YYYYMMDDTHHMMSSZ>`.
pub fn kept_path(store: &Path, now: Timestamp) -> PathBuf {
    let stamp = now
        .to_rfc3339()
        .map(|t| {
            t.chars()
                .filter(|c| c.is_ascii_alphanumeric())
                .take(15)
                .collect::<String>()
        })
        .unwrap_or_else(|| now.0.to_string());
    let mut name = store.as_os_str().to_owned();
    name.push(format!(".before-restore-{stamp}Z"));
    PathBuf::from(name)
}

/// Record counts of every table of an open store.
fn counts(store: &Store) -> Result<Vec<TableCount>, StoreError> {
    counts_in(&store.begin_read()?)
}

/// Record counts of every table a backup copies, as `txn` sees them (a
/// table the file lacks counts 0).
fn counts_in(txn: &ReadTransaction) -> Result<Vec<TableCount>, StoreError> {
    let handles: Vec<_> = txn.list_tables()?.collect();
    let mut out = Vec::new();
    for name in table_names() {
        let records = match handles.iter().find(|t| t.name() == name) {
            Some(t) => txn.open_untyped_table(t.clone())?.len()?,
            None => 0,
        };
        out.push(TableCount {
            table: name.to_owned(),
            records,
        });
    }
    Ok(out)
}

/// The format version and the record counts of the store file at `path`,
/// read without writing to it: to check a backup after it was copied.
pub fn inspect(path: &Path) -> Result<(u64, Vec<TableCount>), BackupError> {
    let db = ReadOnlyDatabase::open(path).map_err(|source| BackupError::Open {
        path: path.to_owned(),
        source,
    })?;
    let txn = db
        .begin_read()
        .map_err(|e| BackupError::Read(StoreError::from(e)))?;
    let format = format_of(&txn).map_err(BackupError::Read)?;
    let counts = counts_in(&txn).map_err(BackupError::Read)?;
    Ok((format, counts))
}

/// Puts the backup `backup` in place of the store file `store` of a
/// stopped collector (see the module docs), at `now` (which names the
/// copy of the replaced store). On error the store file is as it was.
pub fn restore(backup: &Path, store: &Path, now: Timestamp) -> Result<Restored, RestoreError> {
    let meta = fs::metadata(backup)
        .and_then(|m| {
            if m.is_file() {
                Ok(m)
            } else {
                Err(io::Error::new(
                    io::ErrorKind::InvalidInput,
                    "it is a directory or a device",
                ))
            }
        })
        .map_err(|source| RestoreError::NoBackup {
            path: backup.to_owned(),
            source,
        })?;
    if meta.len() == 0 {
        return Err(RestoreError::Empty {
            path: backup.to_owned(),
        });
    }
    if let (Ok(a), Ok(b)) = (fs::canonicalize(backup), fs::canonicalize(store))
        && a == b
    {
        return Err(RestoreError::SameFile { path: a });
    }
    let dir = parent(store).to_owned();
    // Held until the swap: a collector starting meanwhile fails to open
    // the store instead of running on the file being replaced.
    let _held = if store.exists() {
        match ReadOnlyDatabase::open(store) {
            Ok(db) => Some(db),
            Err(redb::DatabaseError::DatabaseAlreadyOpen) => {
                return Err(RestoreError::Running { dir });
            }
            // A damaged store is a reason to restore, not a reason not to.
            Err(e) => {
                tracing::warn!(store = %store.display(), error = %e, "the store to be replaced does not open; it is kept aside as it is");
                None
            }
        }
    } else {
        None
    };
    let restoring = {
        let mut name = store.as_os_str().to_owned();
        name.push(".restoring");
        PathBuf::from(name)
    };
    let _ = fs::remove_file(&restoring);
    let result = prepare_copy(backup, &restoring);
    let (backup_format, taken_at, tables, format_version) = match result {
        Ok(v) => v,
        Err(e) => {
            let _ = fs::remove_file(&restoring);
            return Err(e);
        }
    };
    let kept = store.exists().then(|| kept_path(store, now));
    let swap = (|| {
        let rename = |from: &Path, to: &Path| {
            fs::rename(from, to).map_err(|source| atalaya_files::FileError {
                path: to.to_owned(),
                step: atalaya_files::Step::Rename,
                source,
            })
        };
        if let Some(kept) = &kept {
            rename(store, kept)?;
        }
        if let Err(e) = rename(&restoring, store) {
            // Put the old store back rather than leave none.
            if let Some(kept) = &kept {
                let _ = fs::rename(kept, store);
            }
            return Err(e);
        }
        atalaya_files::sync_dir(&dir)
    })();
    if let Err(e) = swap {
        let _ = fs::remove_file(&restoring);
        return Err(e.into());
    }
    Ok(Restored {
        path: store.to_owned(),
        kept,
        backup_format,
        format_version,
        taken_at,
        tables,
        bytes: fs::metadata(store).map(|m| m.len()).unwrap_or(0),
    })
}

/// Copies the backup to `to`, checks it is a store, opens it as a
/// collector would (upgrading an older format), and syncs it.
#[allow(clippy::type_complexity)]
fn prepare_copy(
    backup: &Path,
    to: &Path,
) -> Result<(u64, Option<Timestamp>, Vec<TableCount>, u64), RestoreError> {
    atalaya_files::create_private_file(to)?;
    fs::copy(backup, to).map_err(|source| RestoreError::Copy {
        from: backup.to_owned(),
        to: to.to_owned(),
        source,
    })?;
    // Opened by redb alone first: a file that is not a store must not be
    // given the tables of a new one.
    let (backup_format, taken_at) = {
        let not_a_store = |source| RestoreError::NotAStore {
            path: backup.to_owned(),
            source,
        };
        let db = redb::Database::open(to).map_err(not_a_store)?;
        let no_format = |reason: String| RestoreError::NoFormat {
            path: backup.to_owned(),
            reason,
        };
        let txn = db.begin_read().map_err(|e| no_format(e.to_string()))?;
        let meta = txn
            .open_table(META)
            .map_err(|e| no_format(format!("no `{}` table: {e}", META.name())))?;
        let format = meta
            .get(META_FORMAT)
            .map_err(|e| no_format(e.to_string()))?
            .map(|v| v.value())
            .ok_or_else(|| no_format(format!("no `{META_FORMAT}` in its meta table")))?;
        let taken_at = meta
            .get(META_BACKUP_TAKEN_AT)
            .map_err(|e| no_format(e.to_string()))?
            .map(|v| Timestamp(v.value() as i64));
        (format, taken_at)
    };
    let store = Store::open(to).map_err(|source| RestoreError::Refused {
        path: backup.to_owned(),
        source: Box::new(source),
    })?;
    let tables = counts(&store).map_err(RestoreError::Read)?;
    let format_version =
        format_of(&store.begin_read().map_err(RestoreError::Read)?).map_err(RestoreError::Read)?;
    drop(store);
    sync_file(to)?;
    Ok((backup_format, taken_at, tables, format_version))
}

impl fmt::Display for TableCount {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.table, self.records)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // a panic is how a test fails
mod tests {
    use std::sync::Arc;
    use std::time::Duration;

    use super::super::testutil::*;
    use super::*;

    #[test]
    fn a_backup_copies_every_table_the_store_has() {
        let (_d, s) = temp_store();
        let txn = s.begin_read().unwrap();
        let mut have: Vec<String> = txn
            .list_tables()
            .unwrap()
            .map(|t| t.name().to_owned())
            .collect();
        have.sort();
        let mut copied: Vec<String> = table_names().into_iter().map(str::to_owned).collect();
        copied.sort();
        assert_eq!(copied, have);
    }

    #[test]
    fn a_backup_is_the_store_at_the_moment_of_its_read_transaction() {
        let (dir, s) = temp_store();
        let s = Arc::new(s);
        let inv = machine("web-01", Some("u-1"), "m-1", "00:11:22:33:44:55");
        s.commit(&[
            snapshot("ag1", 1, 1_000, &inv),
            metrics("ag1", 2, vec![sample(10_000, 5.0)]),
        ])
        .unwrap();
        let taken_at = Timestamp::now();
        let txn = s.begin_read().unwrap();
        // A commit while the read transaction is open is not held up by it.
        let (done, finished) = std::sync::mpsc::channel();
        let writer = Arc::clone(&s);
        std::thread::spawn(move || {
            let r = writer.commit(&[metrics("ag1", 3, vec![sample(20_000, 6.0)])]);
            done.send(r.map(|c| c[0].highest_seq)).unwrap();
        });
        let seq = finished
            .recv_timeout(Duration::from_secs(30))
            .expect("a commit waited for the backup's read transaction")
            .unwrap();
        assert_eq!(seq, 3);
        let dest = dir.path().join("backup.redb");
        let summary = write_backup(s.path(), &txn, taken_at, &dest).unwrap();
        drop(txn);
        assert_eq!(summary.agent_seqs.get("ag1"), Some(&2));
        assert_eq!(summary.format_version, FORMAT_VERSION);
        assert!(summary.bytes > 0);
        assert_eq!(summary.bytes, fs::metadata(&dest).unwrap().len());
        assert!(!partial_path(&dest).exists());
        let of = |t: &str| {
            summary
                .tables
                .iter()
                .find(|c| c.table == t)
                .unwrap()
                .records
        };
        assert_eq!(of("assets"), 1);
        assert_eq!(of("agent_seq"), 1);
        assert_eq!(atalaya_files::mode_of(&dest).unwrap(), 0o600);
        let (format, in_file) = inspect(&dest).unwrap();
        assert_eq!(format, FORMAT_VERSION);
        assert_eq!(in_file, summary.tables);
        // The backup is a store: the sample committed after its read
        // transaction began is not in it, the one before is.
        let b = Store::open(&dest).unwrap();
        let asset = b.agent_asset_id("ag1").unwrap().unwrap();
        let points = b
            .metric(
                &asset,
                "cpu.total_percent",
                Timestamp(0),
                Timestamp(40_000),
                None,
            )
            .unwrap();
        assert_eq!(points, vec![(Timestamp(10_000), 5.0)]);
    }

    #[test]
    fn a_store_in_use_is_not_backed_up_from_its_file() {
        let (dir, s) = temp_store();
        let err = backup_file(s.path(), &dir.path().join("b.redb")).unwrap_err();
        assert!(matches!(err, BackupError::InUse { .. }), "{err}");
        let path = s.path().to_owned();
        drop(s);
        let summary = backup_file(&path, &dir.path().join("b.redb")).unwrap();
        assert_eq!(summary.format_version, FORMAT_VERSION);
    }

    #[test]
    fn restore_refuses_garbage_and_an_empty_file_and_leaves_the_store() {
        let (dir, s) = temp_store();
        let store = s.path().to_owned();
        drop(s);
        let before = fs::read(&store).unwrap();
        let garbage = dir.path().join("garbage.redb");
        fs::write(&garbage, vec![0x5a; 70_000]).unwrap();
        let err = restore(&garbage, &store, Timestamp::now()).unwrap_err();
        assert!(matches!(err, RestoreError::NotAStore { .. }), "{err}");
        let empty = dir.path().join("empty.redb");
        fs::write(&empty, b"").unwrap();
        let err = restore(&empty, &store, Timestamp::now()).unwrap_err();
        assert!(matches!(err, RestoreError::Empty { .. }), "{err}");
        // A redb file that is not a store.
        let other = dir.path().join("other.redb");
        {
            let db = redb::Database::create(&other).unwrap();
            let t = db.begin_write().unwrap();
            t.open_table(TableDefinition::<u64, u64>::new("x"))
                .unwrap()
                .insert(1, 2)
                .unwrap();
            t.commit().unwrap();
        }
        let err = restore(&other, &store, Timestamp::now()).unwrap_err();
        assert!(matches!(err, RestoreError::NoFormat { .. }), "{err}");
        assert_eq!(fs::read(&store).unwrap(), before);
        let left: Vec<_> = fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| n.contains("restoring") || n.contains("before-restore"))
            .collect();
        assert!(left.is_empty(), "{left:?}");
    }

    #[test]
    fn the_kept_store_is_named_by_the_time_of_the_restore() {
        let p = kept_path(Path::new("/d/atalaya.redb"), Timestamp(1_800_000_000_000));
        assert_eq!(
            p,
            Path::new("/d/atalaya.redb.before-restore-20270115T080000Z")
        );
    }
}
