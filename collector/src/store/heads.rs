//! Records read without what a listing does not need: agents without
//! their certificates, asset records borrowed from the stored bytes for
//! the asset list's filters. The structs here mirror the stored records'
//! fields in their order (postcard keeps it); the tests below check that
//! they read what the records wrote.

use atalaya_common::model::Timestamp;
use redb::{ReadableDatabase, ReadableTable};
use serde::Deserialize;

use super::schema::*;
use super::{Store, StoreError, Verdict};

/// An [`AgentRecord`] borrowed from its bytes.
#[derive(Debug, Deserialize)]
#[allow(dead_code)] // every field is read, to reach the ones after it
struct AgentHead<'a> {
    id: &'a str,
    hostname: &'a str,
    certificate_pem: &'a str,
    cert_sha256: [u8; 32],
    enrolled_at: Timestamp,
    last_seen: Option<Timestamp>,
    agent_version: &'a str,
    rtt_ms: Option<f64>,
    lost_packets: u64,
    sent_packets: u64,
    revoked_at: Option<Timestamp>,
    #[serde(borrow)]
    asset_id: Option<&'a str>,
}

/// An identity note borrowed from its bytes.
#[derive(Debug, Deserialize)]
#[allow(dead_code)] // every field is read, to reach the ones after it
struct NoteHead<'a> {
    at: Timestamp,
    agent_id: &'a str,
    verdict: Verdict,
    #[serde(borrow)]
    keys: Vec<&'a str>,
    #[serde(borrow)]
    other_asset: Option<&'a str>,
    reason: &'a str,
}

/// An asset record's fields up to its last-seen time, borrowed from its
/// bytes: what the asset list's filters read.
#[derive(Debug, Deserialize)]
#[allow(dead_code)] // every field is read, to reach the ones after it
pub(crate) struct MetaHead<'a> {
    pub id: &'a str,
    pub hostname: &'a str,
    #[serde(borrow)]
    pub os: Option<&'a str>,
    #[serde(borrow)]
    pub os_id: Option<&'a str>,
    #[serde(borrow)]
    pub agent_ids: Vec<&'a str>,
    #[serde(borrow)]
    identity: Vec<NoteHead<'a>>,
    #[serde(borrow)]
    possible_clones: Vec<&'a str>,
    #[serde(borrow)]
    pub tags: Vec<&'a str>,
    pub first_seen: Timestamp,
    pub last_seen: Timestamp,
}

/// Decodes the start of a record read from table `table`, borrowing from it.
pub(crate) fn dec_head<'a, T: Deserialize<'a>>(
    table: &'static str,
    b: &'a [u8],
) -> Result<T, StoreError> {
    postcard::from_bytes(b).map_err(|e| StoreError::Corrupt {
        table,
        reason: e.to_string(),
    })
}

/// Whether an agent was heard and when: what its status in a count
/// needs (see [`Store::agent_presence`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AgentPresence {
    /// Agent id.
    pub id: String,
    /// Last record or connection seen.
    pub last_seen: Option<Timestamp>,
    /// When it was revoked.
    pub revoked_at: Option<Timestamp>,
}

impl Store {
    /// Every agent's id, last-seen and revocation times, by id, read from
    /// the records without copying the rest (the certificates): for the
    /// counts of agents by status.
    pub fn agent_presence(&self) -> Result<Vec<AgentPresence>, StoreError> {
        let txn = self.db.begin_read()?;
        let t = txn.open_table(AGENTS)?;
        let mut out =
            Vec::with_capacity(usize::try_from(redb::ReadableTableMetadata::len(&t)?).unwrap_or(0));
        for r in t.iter()? {
            let (_, v) = r?;
            let h: AgentHead<'_> = dec_head("agents", v.value())?;
            out.push(AgentPresence {
                id: h.id.to_owned(),
                last_seen: h.last_seen,
                revoked_at: h.revoked_at,
            });
        }
        Ok(out)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // a panic is how a test fails
mod tests {
    use super::*;
    use crate::store::testutil::temp_store;
    use crate::store::{AgentRecord, AssetMeta, IdentityNote, enc};

    #[test]
    fn agents_presence_is_read_from_their_records() {
        let (_d, s) = temp_store();
        let mut a = AgentRecord::enrolled(
            "ag-1",
            "web-1",
            "-----PEM-----",
            [7; 32],
            "0.9",
            Timestamp(5),
        );
        a.last_seen = Some(Timestamp(9));
        a.rtt_ms = Some(1.5);
        a.lost_packets = 3;
        a.sent_packets = 40;
        a.revoked_at = Some(Timestamp(11));
        a.asset_id = Some("asset-3".into());
        s.add_agent(&a).unwrap();
        let b = AgentRecord::enrolled("ag-2", "db-1", "pem", [1; 32], "1.0", Timestamp(6));
        s.add_agent(&b).unwrap();
        let presence = |r: &AgentRecord| AgentPresence {
            id: r.id.clone(),
            last_seen: r.last_seen,
            revoked_at: r.revoked_at,
        };
        assert_eq!(s.agent_presence().unwrap(), [presence(&a), presence(&b)]);
        // The whole record, borrowed, reads as stored.
        let bytes = enc("agents", &a).unwrap();
        let h: AgentHead<'_> = dec_head("agents", &bytes).unwrap();
        assert_eq!(
            (h.id, h.hostname, h.certificate_pem),
            ("ag-1", "web-1", "-----PEM-----")
        );
        assert_eq!(
            (h.cert_sha256, h.enrolled_at, h.agent_version),
            ([7; 32], Timestamp(5), "0.9")
        );
        assert_eq!(
            (h.rtt_ms, h.lost_packets, h.sent_packets),
            (Some(1.5), 3, 40)
        );
        assert_eq!(
            (h.revoked_at, h.asset_id),
            (Some(Timestamp(11)), Some("asset-3"))
        );
    }

    #[test]
    fn an_asset_head_is_the_start_of_its_record() {
        let m = AssetMeta {
            id: "asset-4".into(),
            hostname: "web-4".into(),
            os: Some("Debian GNU/Linux 12".into()),
            os_id: Some("debian".into()),
            agent_ids: vec!["ag-1".into(), "ag-2".into()],
            identity: vec![IdentityNote {
                at: Timestamp(3),
                agent_id: "ag-1".into(),
                verdict: Verdict::PossibleClone,
                keys: vec!["uuid:x".into()],
                other_asset: Some("asset-1".into()),
                reason: "same machine-id".into(),
            }],
            possible_clones: vec!["asset-1".into()],
            tags: vec!["web".into(), "prod".into()],
            first_seen: Timestamp(1),
            last_seen: Timestamp(8),
            inventory_at: Some(Timestamp(7)),
            last_change_at: None,
        };
        let bytes = enc("assets", &m).unwrap();
        let h: MetaHead<'_> = dec_head("assets", &bytes).unwrap();
        assert_eq!((h.id, h.hostname), ("asset-4", "web-4"));
        assert_eq!(
            (h.os, h.os_id),
            (Some("Debian GNU/Linux 12"), Some("debian"))
        );
        assert_eq!(h.agent_ids, ["ag-1", "ag-2"]);
        assert_eq!(h.tags, ["web", "prod"]);
        assert_eq!((h.first_seen, h.last_seen), (Timestamp(1), Timestamp(8)));
    }
}
