//! rpm: the SQLite database of rpm 4.16+ (`rpmdb.sqlite`), whose
//! `Packages` table holds one header blob per installed package.
//!
//! rusqlite reads the table; the header format is parsed here because no
//! maintained crate reads installed-package headers without linking librpm.
//! A header blob is `il` (index entry count) and `dl` (data length), both
//! u32 big-endian, then `il` 16-byte entries (tag, type, offset, count),
//! then `dl` bytes of data. Every offset is checked: a corrupt blob is
//! skipped and counted. The legacy Berkeley DB `Packages` file and SUSE's
//! `Packages.db` (ndb) are not read.

use rusqlite::{Connection, OpenFlags};

use atalaya_common::model::Package;

use super::{Parsed, SOURCE, timestamp};
use crate::root::{Gaps, Root};

/// Where rpm keeps its database: the classic path, then the one of
/// Fedora 36+ and openSUSE (`/var/lib/rpm` is often a link to it).
const DIRS: &[&str] = &["/var/lib/rpm", "/usr/lib/sysimage/rpm"];

/// The rpm database a host has.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Database {
    /// An `rpmdb.sqlite` at this host path.
    Sqlite(String),
    /// A database in a format this reader does not support.
    Unsupported {
        /// The host path of the database file.
        path: String,
        /// What it is, e.g. `Berkeley DB`.
        format: &'static str,
    },
}

/// Finds the rpm database, if the host has one.
pub fn find(root: &Root) -> Option<Database> {
    for dir in DIRS {
        let path = format!("{dir}/rpmdb.sqlite");
        if root.exists(&path) {
            return Some(Database::Sqlite(path));
        }
    }
    for dir in DIRS {
        for (file, format) in [("Packages", "Berkeley DB"), ("Packages.db", "ndb")] {
            let path = format!("{dir}/{file}");
            if root.exists(&path) {
                return Some(Database::Unsupported { path, format });
            }
        }
    }
    None
}

/// Reads every package header of the SQLite database at host path `path`.
pub fn collect(root: &Root, path: String, gaps: &mut Gaps) -> Parsed {
    match read(root, &path) {
        Ok(parsed) => parsed,
        Err(err) => {
            gaps.note(SOURCE, "packages", format!("{path}: {err}"));
            Parsed::default()
        }
    }
}

fn read(root: &Root, path: &str) -> rusqlite::Result<Parsed> {
    // `immutable` because rpm may hold the database open in WAL mode: a
    // plain read-only open would need to create `-shm`, which a read-only
    // mount or a fixture in git must not get.
    let uri = format!("file:{}?mode=ro&immutable=1", uri_path(&root.path(path)));
    let db = Connection::open_with_flags(
        uri,
        OpenFlags::SQLITE_OPEN_READ_ONLY
            | OpenFlags::SQLITE_OPEN_URI
            | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )?;
    let mut query = db.prepare("SELECT blob FROM Packages")?;
    let mut rows = query.query([])?;
    let mut parsed = Parsed::default();
    while let Some(row) = rows.next()? {
        let header = match row.get_ref(0)?.as_blob() {
            Ok(blob) => parse_header(blob),
            Err(_) => None,
        };
        match header {
            Some(Header::Package(package)) => parsed.packages.push(package),
            Some(Header::PublicKey) => {}
            None => parsed.skipped += 1,
        }
    }
    Ok(parsed)
}

/// A filesystem path as the path part of an SQLite `file:` URI.
fn uri_path(path: &std::path::Path) -> String {
    let mut out = String::new();
    for c in path.to_string_lossy().chars() {
        match c {
            '%' => out.push_str("%25"),
            '?' => out.push_str("%3f"),
            '#' => out.push_str("%23"),
            c => out.push(c),
        }
    }
    out
}

/// What one header blob is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Header {
    /// An installed package.
    Package(Package),
    /// A `gpg-pubkey` pseudo-package: an imported signing key, not software.
    PublicKey,
}

const TAG_NAME: u32 = 1000;
const TAG_VERSION: u32 = 1001;
const TAG_RELEASE: u32 = 1002;
const TAG_EPOCH: u32 = 1003;
const TAG_INSTALLTIME: u32 = 1008;
const TAG_SIZE: u32 = 1009;
const TAG_VENDOR: u32 = 1011;
const TAG_PACKAGER: u32 = 1015;
const TAG_ARCH: u32 = 1022;
const TAG_SOURCERPM: u32 = 1044;
const TAG_LONGSIZE: u32 = 5009;

const TYPE_INT32: u32 = 4;
const TYPE_INT64: u32 = 5;
const TYPE_STRING: u32 = 6;
const TYPE_STRING_ARRAY: u32 = 8;
const TYPE_I18NSTRING: u32 = 9;

/// rpm's own limits on a header (`hdrblobVerifyInfo`); beyond them the
/// blob is corrupt, whatever its length says.
const MAX_ENTRIES: usize = 0xffff;
const MAX_DATA: usize = 256 << 20;

/// The big-endian u32 at `at`, if the bytes are there.
fn be32(bytes: &[u8], at: usize) -> Option<u32> {
    let b = bytes.get(at..at.checked_add(4)?)?;
    Some(u32::from_be_bytes(b.try_into().ok()?))
}

/// The big-endian u64 at `at`, if the bytes are there.
fn be64(bytes: &[u8], at: usize) -> Option<u64> {
    let b = bytes.get(at..at.checked_add(8)?)?;
    Some(u64::from_be_bytes(b.try_into().ok()?))
}

/// One index entry.
#[derive(Debug, Clone, Copy)]
struct Entry {
    tag: u32,
    kind: u32,
    offset: usize,
    count: u32,
}

/// A header blob, checked for its outer shape.
struct Blob<'a> {
    index: &'a [u8],
    data: &'a [u8],
}

impl<'a> Blob<'a> {
    fn new(blob: &'a [u8]) -> Option<Self> {
        let il = usize::try_from(be32(blob, 0)?).ok()?;
        let dl = usize::try_from(be32(blob, 4)?).ok()?;
        if il == 0 || il > MAX_ENTRIES || dl > MAX_DATA {
            return None;
        }
        let index_end = 8 + il * 16;
        let index = blob.get(8..index_end)?;
        let data = blob.get(index_end..index_end.checked_add(dl)?)?;
        Some(Self { index, data })
    }

    fn entries(&self) -> impl Iterator<Item = Option<Entry>> + '_ {
        self.index.chunks_exact(16).map(|e| {
            Some(Entry {
                tag: be32(e, 0)?,
                kind: be32(e, 4)?,
                offset: usize::try_from(be32(e, 8)?).ok()?,
                count: be32(e, 12)?,
            })
        })
    }

    /// The first string of a STRING, STRING_ARRAY or I18NSTRING entry.
    fn string(&self, entry: Entry) -> Option<&'a str> {
        if !matches!(
            entry.kind,
            TYPE_STRING | TYPE_STRING_ARRAY | TYPE_I18NSTRING
        ) || entry.count == 0
        {
            return None;
        }
        let rest = self.data.get(entry.offset..)?;
        let end = rest.iter().position(|&b| b == 0)?;
        std::str::from_utf8(rest.get(..end)?).ok()
    }

    /// The first number of an INT32 or INT64 entry.
    fn number(&self, entry: Entry) -> Option<u64> {
        if entry.count == 0 {
            return None;
        }
        match entry.kind {
            TYPE_INT32 => be32(self.data, entry.offset).map(u64::from),
            TYPE_INT64 => be64(self.data, entry.offset),
            _ => None,
        }
    }
}

/// Parses one header blob; `None` when it is corrupt: truncated, an
/// offset outside the data, a needed tag of the wrong type, or no name,
/// version or release.
pub fn parse_header(blob: &[u8]) -> Option<Header> {
    let blob = Blob::new(blob)?;
    let mut name = None;
    let mut version = None;
    let mut release = None;
    let mut epoch = None;
    let mut installtime = None;
    let mut size = None;
    let mut longsize = None;
    let mut vendor = None;
    let mut packager = None;
    let mut arch = None;
    let mut sourcerpm = None;
    for entry in blob.entries() {
        let entry = entry?;
        if entry.offset >= blob.data.len() {
            return None;
        }
        // A needed tag that cannot be read means the blob is damaged.
        match entry.tag {
            TAG_NAME => name = Some(blob.string(entry)?),
            TAG_VERSION => version = Some(blob.string(entry)?),
            TAG_RELEASE => release = Some(blob.string(entry)?),
            TAG_VENDOR => vendor = Some(blob.string(entry)?),
            TAG_PACKAGER => packager = Some(blob.string(entry)?),
            TAG_ARCH => arch = Some(blob.string(entry)?),
            TAG_SOURCERPM => sourcerpm = Some(blob.string(entry)?),
            TAG_EPOCH => epoch = Some(blob.number(entry)?),
            TAG_INSTALLTIME => installtime = Some(blob.number(entry)?),
            TAG_SIZE => size = Some(blob.number(entry)?),
            TAG_LONGSIZE => longsize = Some(blob.number(entry)?),
            _ => {}
        }
    }
    let (name, version, release) = (name?, version?, release?);
    if name.is_empty() || version.is_empty() {
        return None;
    }
    if name == "gpg-pubkey" {
        return Some(Header::PublicKey);
    }
    let version = match epoch {
        Some(epoch) => format!("{epoch}:{version}-{release}"),
        None => format!("{version}-{release}"),
    };
    let text = |s: Option<&str>| s.filter(|s| !s.is_empty()).map(str::to_owned);
    Some(Header::Package(Package {
        name: name.to_owned(),
        version,
        arch: text(arch),
        vendor: text(vendor).or_else(|| text(packager)),
        installed_at: installtime
            .and_then(|t| i64::try_from(t).ok())
            .and_then(timestamp),
        size_bytes: longsize.or(size),
        source: text(sourcerpm),
    }))
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use atalaya_common::model::Timestamp;
    use proptest::prelude::*;

    use super::*;

    /// A tag value for [`build`].
    enum Value<'a> {
        Str(&'a str),
        Int32(u32),
        Int64(u64),
    }

    /// Builds a header blob the way rpm lays one out.
    fn build(tags: &[(u32, Value<'_>)]) -> Vec<u8> {
        let mut index = Vec::new();
        let mut data = Vec::new();
        for (tag, value) in tags {
            let (kind, align) = match value {
                Value::Str(_) => (TYPE_STRING, 1),
                Value::Int32(_) => (TYPE_INT32, 4),
                Value::Int64(_) => (TYPE_INT64, 8),
            };
            while data.len() % align != 0 {
                data.push(0);
            }
            let offset = data.len() as u32;
            match value {
                Value::Str(s) => {
                    data.extend_from_slice(s.as_bytes());
                    data.push(0);
                }
                Value::Int32(n) => data.extend_from_slice(&n.to_be_bytes()),
                Value::Int64(n) => data.extend_from_slice(&n.to_be_bytes()),
            }
            for word in [*tag, kind, offset, 1] {
                index.extend_from_slice(&word.to_be_bytes());
            }
        }
        let mut blob = Vec::new();
        blob.extend_from_slice(&(tags.len() as u32).to_be_bytes());
        blob.extend_from_slice(&(data.len() as u32).to_be_bytes());
        blob.extend(index);
        blob.extend(data);
        blob
    }

    fn kernel() -> Vec<u8> {
        build(&[
            (TAG_NAME, Value::Str("kernel-core")),
            (TAG_VERSION, Value::Str("5.14.0")),
            (TAG_RELEASE, Value::Str("427.13.1.el9_4")),
            (TAG_INSTALLTIME, Value::Int32(1_715_000_000)),
            (TAG_SIZE, Value::Int32(1)),
            (TAG_LONGSIZE, Value::Int64(5_000_000_000)),
            (TAG_PACKAGER, Value::Str("Rocky Linux Build System")),
            (TAG_ARCH, Value::Str("x86_64")),
            (
                TAG_SOURCERPM,
                Value::Str("kernel-5.14.0-427.13.1.el9_4.src.rpm"),
            ),
        ])
    }

    #[test]
    fn header_fields_are_read() {
        let Some(Header::Package(p)) = parse_header(&kernel()) else {
            panic!("not a package");
        };
        assert_eq!(p.name, "kernel-core");
        assert_eq!(p.version, "5.14.0-427.13.1.el9_4");
        assert_eq!(p.arch.as_deref(), Some("x86_64"));
        assert_eq!(p.vendor.as_deref(), Some("Rocky Linux Build System"));
        assert_eq!(p.installed_at, Some(Timestamp::from_secs(1_715_000_000)));
        assert_eq!(p.size_bytes, Some(5_000_000_000), "LONGSIZE wins");
        assert_eq!(
            p.source.as_deref(),
            Some("kernel-5.14.0-427.13.1.el9_4.src.rpm")
        );
    }

    #[test]
    fn epoch_vendor_and_size_fallbacks() {
        let blob = build(&[
            (TAG_NAME, Value::Str("nginx")),
            (TAG_EPOCH, Value::Int32(2)),
            (TAG_VERSION, Value::Str("1.20.1")),
            (TAG_RELEASE, Value::Str("14.el9_2.1")),
            (
                TAG_VENDOR,
                Value::Str("Rocky Enterprise Software Foundation"),
            ),
            (TAG_PACKAGER, Value::Str("Peridot")),
            (TAG_SIZE, Value::Int32(44)),
        ]);
        let Some(Header::Package(p)) = parse_header(&blob) else {
            panic!("not a package");
        };
        assert_eq!(p.version, "2:1.20.1-14.el9_2.1");
        assert_eq!(
            p.vendor.as_deref(),
            Some("Rocky Enterprise Software Foundation")
        );
        assert_eq!(p.size_bytes, Some(44));
        assert_eq!(p.installed_at, None);
        assert_eq!(p.source, None);
    }

    #[test]
    fn public_keys_are_not_packages() {
        let blob = build(&[
            (TAG_NAME, Value::Str("gpg-pubkey")),
            (TAG_VERSION, Value::Str("350d275d")),
            (TAG_RELEASE, Value::Str("6279464b")),
        ]);
        assert_eq!(parse_header(&blob), Some(Header::PublicKey));
    }

    #[test]
    fn missing_release_or_wrong_type_is_corrupt() {
        let no_release = build(&[
            (TAG_NAME, Value::Str("bash")),
            (TAG_VERSION, Value::Str("5.1.8")),
        ]);
        assert_eq!(parse_header(&no_release), None);
        let name_as_int = build(&[
            (TAG_NAME, Value::Int32(7)),
            (TAG_VERSION, Value::Str("5.1.8")),
            (TAG_RELEASE, Value::Str("9.el9")),
        ]);
        assert_eq!(parse_header(&name_as_int), None);
    }

    #[test]
    fn every_truncation_is_corrupt_not_a_panic() {
        let blob = kernel();
        assert!(parse_header(&blob).is_some());
        for len in 0..blob.len() {
            assert_eq!(parse_header(&blob[..len]), None, "truncated to {len}");
        }
    }

    #[test]
    fn an_offset_past_the_data_is_corrupt() {
        let mut blob = kernel();
        // The third index entry's offset (RELEASE).
        let at = 8 + 2 * 16 + 8;
        blob[at..at + 4].copy_from_slice(&0x7fff_fff0u32.to_be_bytes());
        assert_eq!(parse_header(&blob), None);
        let mut huge = kernel();
        huge[0..4].copy_from_slice(&u32::MAX.to_be_bytes());
        assert_eq!(parse_header(&huge), None);
    }

    proptest! {
        #[test]
        fn random_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
            let _ = parse_header(&bytes);
        }

        #[test]
        fn flipped_bytes_never_panic(at in 0usize..400, byte in any::<u8>()) {
            let mut blob = kernel();
            let at = at % blob.len();
            blob[at] = byte;
            let _ = parse_header(&blob);
        }
    }

    #[test]
    fn uri_paths_escape_query_characters() {
        assert_eq!(uri_path(Path::new("/a?b#c%d")), "/a%3fb%23c%25d");
    }

    fn fixture() -> Root {
        Root::new(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/rpm"))
    }

    /// The database in the fixture was written by rpm 4.18 itself
    /// (`tests/fixtures/make-rpmdb.sh`).
    #[test]
    fn rocky_fixture() {
        let root = fixture();
        assert_eq!(
            find(&root),
            Some(Database::Sqlite("/var/lib/rpm/rpmdb.sqlite".to_owned()))
        );
        let mut gaps = Gaps::default();
        let software = super::super::collect(&root, &mut gaps);
        assert_eq!(gaps.0, vec![]);
        assert_eq!(software.manager.as_deref(), Some("rpm"));
        assert_eq!(software.skipped_entries, 0);
        let names: Vec<_> = software.packages.iter().map(|p| p.name.as_str()).collect();
        assert_eq!(names, ["acme-backup", "bash", "nginx", "openssh-server"]);

        let nginx = &software.packages[2];
        assert_eq!(nginx.version, "2:1.20.1-14.el9_2.1");
        assert_eq!(nginx.arch.as_deref(), Some("x86_64"));
        assert_eq!(
            nginx.vendor.as_deref(),
            Some("Rocky Enterprise Software Foundation")
        );
        assert_eq!(
            nginx.installed_at,
            Some(Timestamp::from_secs(1_714_000_001))
        );
        assert_eq!(nginx.size_bytes, Some(44));
        assert_eq!(
            nginx.source.as_deref(),
            Some("nginx-1.20.1-14.el9_2.1.src.rpm")
        );

        let ssh = &software.packages[3];
        assert_eq!(ssh.version, "8.7p1-38.el9_4.1");
        assert_eq!(
            ssh.source.as_deref(),
            Some("openssh-8.7p1-38.el9_4.1.src.rpm")
        );

        let acme = &software.packages[0];
        assert_eq!(acme.arch.as_deref(), Some("noarch"));
        assert_eq!(acme.vendor.as_deref(), Some("ACME Ops <ops@acme.example>"));
    }

    #[test]
    fn corrupt_rows_are_skipped_and_counted() {
        let dir = tempfile::tempdir().unwrap();
        let rpmdir = dir.path().join("usr/lib/sysimage/rpm");
        std::fs::create_dir_all(&rpmdir).unwrap();
        let db = Connection::open(rpmdir.join("rpmdb.sqlite")).unwrap();
        db.execute_batch("CREATE TABLE Packages (hnum INTEGER PRIMARY KEY, blob BLOB NOT NULL)")
            .unwrap();
        let good = kernel();
        let bad = good[..good.len() / 2].to_vec();
        for blob in [good, bad] {
            db.execute("INSERT INTO Packages (blob) VALUES (?1)", [blob])
                .unwrap();
        }
        db.execute("INSERT INTO Packages (blob) VALUES ('text')", [])
            .unwrap();
        drop(db);
        let root = Root::new(dir.path());
        let mut gaps = Gaps::default();
        let software = super::super::collect(&root, &mut gaps);
        assert_eq!(gaps.0, vec![]);
        assert_eq!(software.packages.len(), 1);
        assert_eq!(software.skipped_entries, 2);
    }

    #[test]
    fn a_file_that_is_not_sqlite_is_a_gap() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("var/lib/rpm")).unwrap();
        std::fs::write(dir.path().join("var/lib/rpm/rpmdb.sqlite"), b"not a db").unwrap();
        let mut gaps = Gaps::default();
        let software = super::super::collect(&Root::new(dir.path()), &mut gaps);
        assert!(software.packages.is_empty());
        assert_eq!(gaps.0.len(), 1);
        assert!(gaps.0[0].reason.starts_with("/var/lib/rpm/rpmdb.sqlite: "));
    }
}
