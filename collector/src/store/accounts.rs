//! People's console accounts ([`USERS`]) and their signed-in sessions
//! ([`SESSIONS`]). Passwords arrive here already hashed and sessions by
//! the hash of their secret: the store never sees a secret.

use atalaya_common::model::Timestamp;
use redb::{ReadableDatabase, ReadableTable, ReadableTableMetadata};

use super::schema::*;
use super::{SessionRecord, Store, StoreError, UserRecord, dec, enc};

const USERS_T: &str = "users";
const SESSIONS_T: &str = "sessions";

/// What can change of an account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UserChange {
    /// A new password hash.
    Password(String),
    /// Disable (true) or enable (false) it.
    Disabled(bool),
}

impl Store {
    /// Stores a new account; refused when the name is taken.
    pub fn add_user(&self, user: &UserRecord) -> Result<(), StoreError> {
        let txn = self.db.begin_write()?;
        {
            let mut users = txn.open_table(USERS)?;
            if users.get(user.name.as_str())?.is_some() {
                return Err(StoreError::Exists {
                    what: "account",
                    id: user.name.clone(),
                });
            }
            users.insert(user.name.as_str(), enc(USERS_T, user)?.as_slice())?;
        }
        txn.commit()?;
        Ok(())
    }

    /// The account named `name`.
    pub fn user(&self, name: &str) -> Result<Option<UserRecord>, StoreError> {
        let txn = self.db.begin_read()?;
        let t = txn.open_table(USERS)?;
        let found = t.get(name)?;
        found.map(|v| dec(USERS_T, v.value())).transpose()
    }

    /// Every account, by name.
    pub fn users(&self) -> Result<Vec<UserRecord>, StoreError> {
        let txn = self.db.begin_read()?;
        let t = txn.open_table(USERS)?;
        t.iter()?
            .map(|r| {
                let (_, v) = r?;
                dec(USERS_T, v.value())
            })
            .collect()
    }

    /// Changes an account; `None` when there is none of that name. A new
    /// password or disabling ends every session of the account, in the
    /// same transaction.
    pub fn change_user(
        &self,
        name: &str,
        change: UserChange,
        now: Timestamp,
    ) -> Result<Option<UserRecord>, StoreError> {
        let txn = self.db.begin_write()?;
        let rec = {
            let mut users = txn.open_table(USERS)?;
            let found = users.get(name)?;
            let Some(mut rec) = found
                .map(|v| dec::<UserRecord>(USERS_T, v.value()))
                .transpose()?
            else {
                return Ok(None);
            };
            let end_sessions = match change {
                UserChange::Password(hash) => {
                    rec.password_hash = hash;
                    rec.password_set_at = now;
                    true
                }
                UserChange::Disabled(disabled) => {
                    rec.disabled = disabled;
                    disabled
                }
            };
            users.insert(name, enc(USERS_T, &rec)?.as_slice())?;
            if end_sessions {
                let mut sessions = txn.open_table(SESSIONS)?;
                sessions.retain(|_, v| {
                    dec::<SessionRecord>(SESSIONS_T, v).map_or(true, |s| s.user != name)
                })?;
            }
            rec
        };
        txn.commit()?;
        Ok(Some(rec))
    }

    /// Stores a new session under the hash of its secret.
    pub fn add_session(
        &self,
        secret_sha256: &[u8; 32],
        session: &SessionRecord,
    ) -> Result<(), StoreError> {
        let txn = self.db.begin_write()?;
        txn.open_table(SESSIONS)?.insert(
            secret_sha256.as_slice(),
            enc(SESSIONS_T, session)?.as_slice(),
        )?;
        txn.commit()?;
        Ok(())
    }

    /// The session whose secret hashes to `secret_sha256`.
    pub fn session(&self, secret_sha256: &[u8; 32]) -> Result<Option<SessionRecord>, StoreError> {
        let txn = self.db.begin_read()?;
        let t = txn.open_table(SESSIONS)?;
        let found = t.get(secret_sha256.as_slice())?;
        found.map(|v| dec(SESSIONS_T, v.value())).transpose()
    }

    /// Records that the session was used at `now`; false when it is gone.
    pub fn touch_session(
        &self,
        secret_sha256: &[u8; 32],
        now: Timestamp,
    ) -> Result<bool, StoreError> {
        let txn = self.db.begin_write()?;
        let found = {
            let mut t = txn.open_table(SESSIONS)?;
            let found = t.get(secret_sha256.as_slice())?;
            let rec = found
                .map(|v| dec::<SessionRecord>(SESSIONS_T, v.value()))
                .transpose()?;
            match rec {
                Some(mut rec) => {
                    rec.last_seen = rec.last_seen.max(now);
                    t.insert(secret_sha256.as_slice(), enc(SESSIONS_T, &rec)?.as_slice())?;
                    true
                }
                None => false,
            }
        };
        txn.commit()?;
        Ok(found)
    }

    /// Ends one session (logout); false when it was gone already.
    pub fn remove_session(&self, secret_sha256: &[u8; 32]) -> Result<bool, StoreError> {
        let txn = self.db.begin_write()?;
        let removed = txn
            .open_table(SESSIONS)?
            .remove(secret_sha256.as_slice())?
            .is_some();
        txn.commit()?;
        Ok(removed)
    }

    /// Removes the sessions `expired` says are over; how many.
    pub fn expire_sessions(
        &self,
        expired: impl Fn(&SessionRecord) -> bool,
    ) -> Result<usize, StoreError> {
        let txn = self.db.begin_write()?;
        let removed = {
            let mut t = txn.open_table(SESSIONS)?;
            let before = t.len()?;
            // A session that does not decode cannot be used: it goes too.
            t.retain(|_, v| dec::<SessionRecord>(SESSIONS_T, v).is_ok_and(|s| !expired(&s)))?;
            before - t.len()?
        };
        txn.commit()?;
        Ok(usize::try_from(removed).unwrap_or(usize::MAX))
    }
}

#[cfg(test)]
mod tests {
    use super::super::testutil::temp_store;
    use super::*;
    use crate::store::Role;

    fn user(name: &str) -> UserRecord {
        UserRecord {
            name: name.into(),
            role: Role::Helpdesk,
            password_hash: "$argon2id$v=19$fake".into(),
            disabled: false,
            created_at: Timestamp(1),
            password_set_at: Timestamp(1),
        }
    }

    fn session(user: &str, at: i64) -> SessionRecord {
        SessionRecord {
            user: user.into(),
            created_at: Timestamp(at),
            last_seen: Timestamp(at),
            csrf: "c".into(),
            address: "127.0.0.1".into(),
        }
    }

    #[test]
    fn a_taken_name_is_refused_and_accounts_list_by_name() {
        let (_dir, store) = temp_store();
        store.add_user(&user("luis")).unwrap();
        store.add_user(&user("ana")).unwrap();
        assert!(matches!(
            store.add_user(&user("ana")),
            Err(StoreError::Exists { .. })
        ));
        let names: Vec<_> = store.users().unwrap().into_iter().map(|u| u.name).collect();
        assert_eq!(names, ["ana", "luis"]);
    }

    #[test]
    fn a_new_password_or_disabling_ends_only_that_accounts_sessions() {
        let (_dir, store) = temp_store();
        store.add_user(&user("ana")).unwrap();
        store.add_user(&user("luis")).unwrap();
        store.add_session(&[1; 32], &session("ana", 10)).unwrap();
        store.add_session(&[2; 32], &session("luis", 10)).unwrap();
        let changed = store
            .change_user(
                "ana",
                UserChange::Password("$argon2id$new".into()),
                Timestamp(20),
            )
            .unwrap()
            .unwrap();
        assert_eq!(changed.password_set_at, Timestamp(20));
        assert!(store.session(&[1; 32]).unwrap().is_none());
        assert!(store.session(&[2; 32]).unwrap().is_some());
        store.add_session(&[3; 32], &session("ana", 30)).unwrap();
        store
            .change_user("luis", UserChange::Disabled(true), Timestamp(40))
            .unwrap();
        assert!(store.session(&[2; 32]).unwrap().is_none());
        assert!(store.session(&[3; 32]).unwrap().is_some());
        assert!(store.user("luis").unwrap().unwrap().disabled);
        assert!(
            store
                .change_user("nobody", UserChange::Disabled(true), Timestamp(50))
                .unwrap()
                .is_none()
        );
    }

    #[test]
    fn sessions_are_touched_removed_and_expired() {
        let (_dir, store) = temp_store();
        store.add_session(&[1; 32], &session("ana", 10)).unwrap();
        store.add_session(&[2; 32], &session("ana", 100)).unwrap();
        assert!(store.touch_session(&[1; 32], Timestamp(50)).unwrap());
        assert_eq!(
            store.session(&[1; 32]).unwrap().unwrap().last_seen,
            Timestamp(50)
        );
        assert_eq!(
            store
                .expire_sessions(|s| s.last_seen < Timestamp(60))
                .unwrap(),
            1
        );
        assert!(store.session(&[1; 32]).unwrap().is_none());
        assert!(!store.touch_session(&[1; 32], Timestamp(70)).unwrap());
        assert!(store.remove_session(&[2; 32]).unwrap());
        assert!(!store.remove_session(&[2; 32]).unwrap());
    }
}
