//! The people directory in the store: persistence only. Parsing, checks
//! and matching live above (`people`); this keeps the records and their
//! indexes by import key, login, name, phone and extension.

use std::collections::{BTreeMap, BTreeSet};

use atalaya_common::model::Timestamp;
use redb::{ReadableDatabase, ReadableTable, ReadableTableMetadata, Table, TableDefinition};

use super::schema::{
    META, META_NEXT_PERSON, PEOPLE, PEOPLE_BY_EXTENSION, PEOPLE_BY_KEY, PEOPLE_BY_LOGIN,
    PEOPLE_BY_NAME, PEOPLE_BY_PHONE,
};
use super::{Store, StoreError, dec, enc, next_id};
use crate::helpers::users::full_name_key;
use crate::records::person::{Person, PersonRecord};

const TABLE: &str = "people";

/// An index of the directory: `(key, person number) → ()`.
type Index = TableDefinition<'static, (&'static str, u64), ()>;

/// What an import changed.
#[derive(
    Debug,
    Clone,
    Copy,
    Default,
    PartialEq,
    Eq,
    serde::Serialize,
    serde::Deserialize,
    utoipa::ToSchema,
)]
pub struct ImportCounts {
    /// People new to the directory.
    pub added: usize,
    /// People already in it (by their key), now as the file has them.
    pub replaced: usize,
    /// People not in the file, removed (only when asked to).
    pub removed: usize,
}

/// A login of a person being imported that another person, not in the
/// import, holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoginTaken {
    /// The imported person's place in the import.
    pub row: usize,
    /// The login.
    pub login: String,
    /// Who holds it.
    pub holder: PersonRecord,
}

/// How an import ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ImportOutcome {
    /// Committed.
    Done(ImportCounts),
    /// Nothing written: these logins belong to others.
    LoginsTaken(Vec<LoginTaken>),
}

/// The key `p` is kept under: [`Person::key`], else (a caller that did
/// not check) its name.
fn key_of(p: &Person) -> String {
    p.key()
        .unwrap_or_else(|| format!("name:{}", full_name_key(&p.name)))
}

/// The indexes of the directory, in the order of [`index_rows`].
const INDEXES: [Index; 4] = [
    PEOPLE_BY_LOGIN,
    PEOPLE_BY_NAME,
    PEOPLE_BY_PHONE,
    PEOPLE_BY_EXTENSION,
];

/// The index rows of `p`, per index of [`INDEXES`].
fn index_rows(p: &Person) -> [Vec<String>; 4] {
    let logins: BTreeSet<String> = p.logins.iter().map(|l| l.to_lowercase()).collect();
    let phones: BTreeSet<String> = p.phones.iter().map(|ph| ph.normalised.clone()).collect();
    [
        logins.into_iter().collect(),
        vec![full_name_key(&p.name)],
        phones.into_iter().collect(),
        p.extension.iter().cloned().collect(),
    ]
}

/// The person numbers under `key` in `table`.
fn ids_under(
    table: &impl ReadableTable<(&'static str, u64), ()>,
    key: &str,
) -> Result<Vec<u64>, StoreError> {
    let mut out = Vec::new();
    for r in table.range((key, 0)..=(key, u64::MAX))? {
        let (k, _) = r?;
        out.push(k.value().1);
    }
    Ok(out)
}

/// The directory's tables open in a write transaction, opened once for a
/// whole import.
struct Tables<'t> {
    people: Table<'t, u64, &'static [u8]>,
    keys: Table<'t, &'static str, u64>,
    indexes: [Table<'t, (&'static str, u64), ()>; 4],
}

impl<'t> Tables<'t> {
    fn open(txn: &'t redb::WriteTransaction) -> Result<Self, StoreError> {
        Ok(Tables {
            people: txn.open_table(PEOPLE)?,
            keys: txn.open_table(PEOPLE_BY_KEY)?,
            indexes: [
                txn.open_table(INDEXES[0])?,
                txn.open_table(INDEXES[1])?,
                txn.open_table(INDEXES[2])?,
                txn.open_table(INDEXES[3])?,
            ],
        })
    }

    /// Removes `r`'s record, key and index rows.
    fn remove(&mut self, r: &PersonRecord) -> Result<(), StoreError> {
        self.people.remove(r.id)?;
        let key = key_of(&r.person);
        if self.keys.get(key.as_str())?.map(|v| v.value()) == Some(r.id) {
            self.keys.remove(key.as_str())?;
        }
        for (t, rows) in self.indexes.iter_mut().zip(index_rows(&r.person)) {
            for k in rows {
                t.remove((k.as_str(), r.id))?;
            }
        }
        Ok(())
    }

    /// Writes `r`'s record, key and index rows.
    fn put(&mut self, r: &PersonRecord) -> Result<(), StoreError> {
        self.people.insert(r.id, enc(TABLE, r)?.as_slice())?;
        self.keys.insert(key_of(&r.person).as_str(), r.id)?;
        for (t, rows) in self.indexes.iter_mut().zip(index_rows(&r.person)) {
            for k in rows {
                t.insert((k.as_str(), r.id), ())?;
            }
        }
        Ok(())
    }
}

impl Store {
    /// Imports `people` in one transaction: a person whose key
    /// ([`Person::key`]) is in the directory replaces that record (and
    /// keeps its number), any other is added; with `prune`, everyone the
    /// import does not name is removed. Nothing is written when a login
    /// of `people` belongs to someone the import neither replaces nor
    /// removes ([`ImportOutcome::LoginsTaken`]).
    pub fn import_people(
        &self,
        people: &[Person],
        prune: bool,
        now: Timestamp,
    ) -> Result<ImportOutcome, StoreError> {
        let txn = self.db.begin_write()?;
        let (existing, all): (Vec<Option<PersonRecord>>, BTreeMap<u64, PersonRecord>) = {
            let keys = txn.open_table(PEOPLE_BY_KEY)?;
            let table = txn.open_table(PEOPLE)?;
            let mut existing = Vec::with_capacity(people.len());
            for p in people {
                let id = keys.get(key_of(p).as_str())?.map(|v| v.value());
                let rec = match id {
                    Some(id) => table
                        .get(id)?
                        .map(|v| dec::<PersonRecord>(TABLE, v.value()))
                        .transpose()?,
                    None => None,
                };
                existing.push(rec);
            }
            let mut all = BTreeMap::new();
            if prune {
                for r in table.iter()? {
                    let (id, v) = r?;
                    all.insert(id.value(), dec::<PersonRecord>(TABLE, v.value())?);
                }
            }
            (existing, all)
        };
        let replaced: BTreeSet<u64> = existing.iter().flatten().map(|r| r.id).collect();
        let removed: Vec<&PersonRecord> =
            all.values().filter(|r| !replaced.contains(&r.id)).collect();
        let leaving: BTreeSet<u64> = replaced
            .iter()
            .copied()
            .chain(removed.iter().map(|r| r.id))
            .collect();

        let mut taken = Vec::new();
        {
            let logins = txn.open_table(PEOPLE_BY_LOGIN)?;
            let table = txn.open_table(PEOPLE)?;
            for (row, p) in people.iter().enumerate() {
                for login in &p.logins {
                    for holder in ids_under(&logins, &login.to_lowercase())? {
                        if leaving.contains(&holder) {
                            continue;
                        }
                        if let Some(v) = table.get(holder)? {
                            taken.push(LoginTaken {
                                row,
                                login: login.clone(),
                                holder: dec(TABLE, v.value())?,
                            });
                        }
                    }
                }
            }
        }
        if !taken.is_empty() {
            txn.abort()?;
            return Ok(ImportOutcome::LoginsTaken(taken));
        }

        let mut counts = ImportCounts {
            removed: removed.len(),
            ..ImportCounts::default()
        };
        {
            let mut tables = Tables::open(&txn)?;
            for r in existing.iter().flatten().chain(removed.iter().copied()) {
                tables.remove(r)?;
            }
            let mut meta = txn.open_table(META)?;
            for (p, old) in people.iter().zip(&existing) {
                let id = match old {
                    Some(r) => {
                        counts.replaced += 1;
                        r.id
                    }
                    None => {
                        counts.added += 1;
                        next_id(&mut meta, META_NEXT_PERSON)?
                    }
                };
                let r = PersonRecord {
                    id,
                    person: p.clone(),
                    updated_at: now,
                };
                tables.put(&r)?;
            }
        }
        txn.commit()?;
        Ok(ImportOutcome::Done(counts))
    }

    /// Every person of the directory, by number.
    pub fn people(&self) -> Result<Vec<PersonRecord>, StoreError> {
        let txn = self.db.begin_read()?;
        let t = txn.open_table(PEOPLE)?;
        t.iter()?
            .map(|r| {
                let (_, v) = r?;
                dec(TABLE, v.value())
            })
            .collect()
    }

    /// How many people the directory holds.
    pub fn people_count(&self) -> Result<u64, StoreError> {
        let txn = self.db.begin_read()?;
        Ok(txn.open_table(PEOPLE)?.len()?)
    }

    /// The person numbered `id`.
    pub fn person(&self, id: u64) -> Result<Option<PersonRecord>, StoreError> {
        let txn = self.db.begin_read()?;
        let t = txn.open_table(PEOPLE)?;
        let v = t.get(id)?;
        v.map(|v| dec(TABLE, v.value())).transpose()
    }

    /// The person one of whose logins is `name` (any case): how a
    /// signed-in account finds its owner's extension. An import gives a
    /// login to one person only; were there several, the lowest number.
    pub fn person_by_login(&self, name: &str) -> Result<Option<PersonRecord>, StoreError> {
        let lower = name.trim().to_lowercase();
        Ok(self.people_by_login(&lower)?.into_iter().next())
    }

    /// The people one of whose logins is the lower-case `login`.
    pub fn people_by_login(&self, login: &str) -> Result<Vec<PersonRecord>, StoreError> {
        self.people_under(PEOPLE_BY_LOGIN, login)
    }

    /// The people named `name` (lower case, trimmed).
    pub fn people_by_name(&self, name: &str) -> Result<Vec<PersonRecord>, StoreError> {
        self.people_under(PEOPLE_BY_NAME, name)
    }

    /// The people one of whose numbers normalises to `phone`.
    pub fn people_by_phone(&self, phone: &str) -> Result<Vec<PersonRecord>, StoreError> {
        self.people_under(PEOPLE_BY_PHONE, phone)
    }

    /// The people whose extension is `extension` (digits).
    pub fn people_by_extension(&self, extension: &str) -> Result<Vec<PersonRecord>, StoreError> {
        self.people_under(PEOPLE_BY_EXTENSION, extension)
    }

    /// The people under `key` in the index `def`, by number.
    fn people_under(&self, def: Index, key: &str) -> Result<Vec<PersonRecord>, StoreError> {
        let txn = self.db.begin_read()?;
        let ids = ids_under(&txn.open_table(def)?, key)?;
        let t = txn.open_table(PEOPLE)?;
        let mut out = Vec::with_capacity(ids.len());
        for id in ids {
            if let Some(v) = t.get(id)? {
                out.push(dec(TABLE, v.value())?);
            }
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::super::testutil::temp_store;
    use super::*;
    use crate::records::person::Phone;

    fn person(name: &str, email: Option<&str>, logins: &[&str], phone: &str) -> Person {
        Person {
            name: name.into(),
            logins: logins.iter().map(|l| (*l).to_owned()).collect(),
            email: email.map(Into::into),
            phones: vec![Phone {
                number: phone.into(),
                normalised: phone.replace(' ', ""),
            }],
            extension: Some("2041".into()),
            ..Person::default()
        }
    }

    fn names(v: &[PersonRecord]) -> Vec<&str> {
        v.iter().map(|r| r.person.name.as_str()).collect()
    }

    /// Every row of one index table.
    fn rows(s: &Store, def: Index) -> Vec<(String, u64)> {
        let txn = s.db.begin_read().unwrap();
        let t = txn.open_table(def).unwrap();
        t.iter()
            .unwrap()
            .map(|r| {
                let (k, _) = r.unwrap();
                let (key, id) = k.value();
                (key.to_owned(), id)
            })
            .collect()
    }

    #[test]
    fn a_reimport_replaces_by_key_keeps_the_number_and_moves_the_index_rows() {
        let (_d, s) = temp_store();
        let maria = person(
            "María García",
            Some("maria@corp.example"),
            &["maria"],
            "+34 600",
        );
        let ana = person("Ana Ruiz", None, &["Ana"], "+34 601");
        let done = s
            .import_people(&[maria.clone(), ana], false, Timestamp(1))
            .unwrap();
        assert_eq!(
            done,
            ImportOutcome::Done(ImportCounts {
                added: 2,
                ..ImportCounts::default()
            })
        );
        assert_eq!(
            names(&s.people_by_phone("+34600").unwrap()),
            ["María García"]
        );
        assert_eq!(
            s.person_by_login("ANA").unwrap().unwrap().person.name,
            "Ana Ruiz"
        );
        assert_eq!(
            names(&s.people_by_name("maría garcía").unwrap()),
            ["María García"]
        );
        assert_eq!(s.people_by_extension("2041").unwrap().len(), 2);

        // Her e-mail in another case is the same person: new number, new login.
        let moved = Person {
            email: Some("MARIA@corp.example".into()),
            logins: vec!["mgarcia".into()],
            ..person("María García-López", None, &[], "+34 699")
        };
        let done = s.import_people(&[moved], false, Timestamp(2)).unwrap();
        assert_eq!(
            done,
            ImportOutcome::Done(ImportCounts {
                replaced: 1,
                ..ImportCounts::default()
            })
        );
        let all = s.people().unwrap();
        assert_eq!(names(&all), ["María García-López", "Ana Ruiz"]);
        assert_eq!((all[0].id, all[0].updated_at), (1, Timestamp(2)));
        assert!(s.people_by_phone("+34600").unwrap().is_empty());
        assert!(s.person_by_login("maria").unwrap().is_none());
        assert_eq!(s.person_by_login("MGarcia").unwrap().unwrap().id, 1);
        assert_eq!(
            rows(&s, PEOPLE_BY_LOGIN),
            [("ana".to_owned(), 2), ("mgarcia".to_owned(), 1)]
        );
        assert_eq!(
            rows(&s, PEOPLE_BY_NAME),
            [
                ("ana ruiz".to_owned(), 2),
                ("maría garcía-lópez".to_owned(), 1)
            ]
        );
    }

    #[test]
    fn a_login_held_by_someone_else_writes_nothing_unless_they_are_pruned() {
        let (_d, s) = temp_store();
        let maria = person("María", Some("maria@corp.example"), &["maria"], "+34 600");
        s.import_people(&[maria], false, Timestamp(1)).unwrap();
        let other = person(
            "Mario",
            Some("mario@corp.example"),
            &["luis", "Maria"],
            "+34 602",
        );
        let luis = person("Luis", Some("luis@corp.example"), &[], "+34 603");
        let out = s
            .import_people(&[luis.clone(), other.clone()], false, Timestamp(2))
            .unwrap();
        let ImportOutcome::LoginsTaken(taken) = out else {
            panic!("{out:?}");
        };
        assert_eq!(taken.len(), 1);
        assert_eq!((taken[0].row, taken[0].login.as_str()), (1, "Maria"));
        assert_eq!(taken[0].holder.person.name, "María");
        assert_eq!(names(&s.people().unwrap()), ["María"], "luis was not added");

        // With prune, María leaves the directory and her login is free.
        let out = s.import_people(&[luis, other], true, Timestamp(3)).unwrap();
        assert_eq!(
            out,
            ImportOutcome::Done(ImportCounts {
                added: 2,
                replaced: 0,
                removed: 1
            })
        );
        assert_eq!(names(&s.people().unwrap()), ["Luis", "Mario"]);
        assert_eq!(s.people_count().unwrap(), 2);
        assert_eq!(
            s.person_by_login("maria").unwrap().unwrap().person.name,
            "Mario"
        );
        assert!(s.people_by_phone("+34600").unwrap().is_empty());
        assert_eq!(rows(&s, PEOPLE_BY_EXTENSION).len(), 2);
    }
}
