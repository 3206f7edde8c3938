//! Which asset a snapshot belongs to.
//!
//! Hardware keys are the SMBIOS system UUID, the system, board and chassis
//! serials, and the MAC addresses of physical interfaces; the machine-id is
//! a weaker key (it changes on reinstall and is copied by cloning).
//! Placeholder values that firmware vendors ship (`To Be Filled By O.E.M.`,
//! all-zero UUIDs…) are ignored, since they would merge unrelated machines.
//!
//! On an asset's first snapshot: if another asset shares a hardware key, it
//! is the same machine enrolled again (reinstalled agent) and the
//! provisional asset is merged into it. Otherwise, if another asset has the
//! same machine-id, it is the same machine when no hardware key conflicts
//! (re-enrolled without reinstall), and a possible clone when they do.
//! Every decision is written on the asset with its reason.

use std::collections::BTreeMap;

use atalaya_common::model::{InterfaceKind, Inventory, Timestamp};
use redb::ReadableTable;

use super::ingest::{Cache, Tables};
use super::records::{AssetMeta, IdentityNote, Verdict};
use super::{StoreError, lookup};

const PLACEHOLDERS: &[&str] = &[
    "",
    "0",
    "none",
    "null",
    "n/a",
    "na",
    "default string",
    "to be filled by o.e.m.",
    "to be filled by oem",
    "not specified",
    "not applicable",
    "system serial number",
    "chassis serial number",
    "base board serial number",
    "0123456789",
    "00000000-0000-0000-0000-000000000000",
    "ffffffff-ffff-ffff-ffff-ffffffffffff",
    "03000200-0400-0500-0006-000700080009",
];

fn real(v: &Option<String>) -> Option<String> {
    let v = v.as_deref()?.trim();
    let lower = v.to_lowercase();
    (!PLACEHOLDERS.contains(&lower.as_str()) && !lower.chars().all(|c| c == '0' || c == '-'))
        .then_some(lower)
}

/// The identity keys of an inventory, e.g. `uuid:…`, `serial:…`,
/// `mac:…`, `machine-id:…`, sorted.
pub fn hardware_keys(inv: &Inventory) -> Vec<String> {
    let hw = &inv.hardware;
    let mut keys = Vec::new();
    if let Some(u) = real(&hw.system.uuid) {
        keys.push(format!("uuid:{u}"));
    }
    if let Some(s) = real(&hw.system.serial) {
        keys.push(format!("serial:{s}"));
    }
    if let Some(s) = real(&hw.board.serial) {
        keys.push(format!("board-serial:{s}"));
    }
    if let Some(s) = real(&hw.chassis.serial) {
        keys.push(format!("chassis-serial:{s}"));
    }
    for i in &inv.network.interfaces {
        if i.kind == InterfaceKind::Physical
            && let Some(m) = real(&i.mac)
        {
            keys.push(format!("mac:{m}"));
        }
    }
    if let Some(m) = real(&inv.host.machine_id) {
        keys.push(format!("machine-id:{m}"));
    }
    keys.sort();
    keys.dedup();
    keys
}

fn is_machine_id(k: &str) -> bool {
    k.starts_with("machine-id:")
}

/// Hardware keys of two machines that cannot both hold: different UUIDs or
/// serials, or disjoint MAC sets.
fn conflicts(a: &[String], b: &[String]) -> Vec<String> {
    let kind = |k: &str| k.split(':').next().unwrap_or("").to_owned();
    let mut out = Vec::new();
    for prefix in ["uuid", "serial", "board-serial", "chassis-serial", "mac"] {
        let x: Vec<&String> = a.iter().filter(|k| kind(k) == prefix).collect();
        let y: Vec<&String> = b.iter().filter(|k| kind(k) == prefix).collect();
        if !x.is_empty() && !y.is_empty() && !x.iter().any(|k| y.contains(k)) {
            out.extend(x.iter().map(|k| (*k).clone()));
        }
    }
    out
}

fn assets_with_key(t: &Tables<'_>, key: &str) -> Result<Vec<String>, StoreError> {
    let mut out = Vec::new();
    for r in t.identity_keys.range((key, "")..)? {
        let (k, _) = r?;
        let (kk, asset) = k.value();
        if kk != key {
            break;
        }
        out.push(asset.to_owned());
    }
    Ok(out)
}

/// Decides which asset `inv` (from `agent`, whose data so far went to
/// `current`) belongs to, merging or flagging as needed; returns its id.
pub(crate) fn reconcile(
    t: &mut Tables<'_>,
    cache: &mut Cache,
    agent: &str,
    current: &str,
    inv: &Inventory,
    now: Timestamp,
) -> Result<String, StoreError> {
    let Some(mut meta) = t.asset(current)? else {
        return Ok(current.to_owned());
    };
    let keys = hardware_keys(inv);
    let first = meta.inventory_at.is_none() && meta.identity.is_empty();
    let shared = sharing_keys(t, &keys, current)?;
    if first && let Some(target) = strongest_match(&shared) {
        let matched = shared.get(&target).cloned().unwrap_or_default();
        let reason = format!(
            "hardware keys match asset {target} ({}): the same machine enrolled again",
            matched.join(", ")
        );
        merge(t, cache, agent, current, &target, now, matched, reason)?;
        return Ok(target);
    }
    let mut clone_of = Vec::new();
    for (other, ks) in &shared {
        if !ks.iter().any(|k| is_machine_id(k)) {
            continue;
        }
        let other_keys = match t.inventory_of(other)? {
            Some(o) => hardware_keys(&o),
            None => continue,
        };
        let clash = conflicts(&keys, &other_keys);
        if clash.is_empty() {
            if first {
                let reason = format!(
                    "machine-id matches asset {other} and no hardware key differs: \
                     the same machine enrolled again"
                );
                merge(t, cache, agent, current, other, now, ks.clone(), reason)?;
                return Ok(other.clone());
            }
        } else {
            clone_of.push((other.clone(), ks.clone(), clash));
        }
    }
    let mut changed = false;
    for clone in clone_of {
        changed |= note_possible_clone(t, &mut meta, agent, current, clone, now)?;
    }
    if first {
        meta.identity.insert(0, new_asset_note(agent, &keys, now));
        changed = true;
    }
    if changed {
        t.put_asset(&meta)?;
    }
    Ok(current.to_owned())
}

/// The assets other than `current` that have some of `keys`, with the
/// keys each has.
fn sharing_keys(
    t: &Tables<'_>,
    keys: &[String],
    current: &str,
) -> Result<BTreeMap<String, Vec<String>>, StoreError> {
    let mut shared: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for k in keys {
        for a in assets_with_key(t, k)? {
            if a != current {
                shared.entry(a).or_default().push(k.clone());
            }
        }
    }
    Ok(shared)
}

/// Of the assets sharing keys, the one sharing most hardware keys
/// (machine-id breaks ties); none when no hardware key is shared.
fn strongest_match(shared: &BTreeMap<String, Vec<String>>) -> Option<String> {
    shared
        .iter()
        .map(|(a, ks)| (ks.iter().filter(|k| !is_machine_id(k)).count(), ks.len(), a))
        .filter(|(hw, _, _)| *hw > 0)
        .max()
        .map(|(_, _, a)| a.clone())
}

/// Notes on `meta` (asset `current`, not yet written) and on asset
/// `other` that they may be clones: the same machine-id (`keys` shared)
/// with different hardware (`clash`). Returns whether `meta` changed (not
/// when the pair was noted before).
fn note_possible_clone(
    t: &mut Tables<'_>,
    meta: &mut AssetMeta,
    agent: &str,
    current: &str,
    (other, keys, clash): (String, Vec<String>, Vec<String>),
    now: Timestamp,
) -> Result<bool, StoreError> {
    if meta.possible_clones.contains(&other) {
        return Ok(false);
    }
    let reason = format!(
        "same machine-id as asset {other} but different hardware ({}): possible clone",
        clash.join(", ")
    );
    meta.possible_clones.push(other.clone());
    meta.identity.push(IdentityNote {
        at: now,
        agent_id: agent.to_owned(),
        verdict: Verdict::PossibleClone,
        keys: keys.clone(),
        other_asset: Some(other.clone()),
        reason,
    });
    if let Some(mut o) = t.asset(&other)?
        && !o.possible_clones.iter().any(|c| c == current)
    {
        o.possible_clones.push(current.to_owned());
        o.identity.push(IdentityNote {
            at: now,
            agent_id: agent.to_owned(),
            verdict: Verdict::PossibleClone,
            keys,
            other_asset: Some(current.to_owned()),
            reason: format!(
                "asset {current} reports the same machine-id with different hardware: possible clone"
            ),
        });
        t.put_asset(&o)?;
    }
    Ok(true)
}

/// The note of an asset's first inventory that matched no known asset.
fn new_asset_note(agent: &str, keys: &[String], now: Timestamp) -> IdentityNote {
    IdentityNote {
        at: now,
        agent_id: agent.to_owned(),
        verdict: Verdict::New,
        keys: keys.to_vec(),
        other_asset: None,
        reason: if keys.is_empty() {
            "no hardware keys reported: a new asset".to_owned()
        } else {
            "no known asset has these hardware keys: a new asset".to_owned()
        },
    }
}

/// Folds the provisional asset `from` (which has no inventory) into `into`:
/// the agent, its metric series and its last-seen move; `from` is deleted.
#[allow(clippy::too_many_arguments)]
fn merge(
    t: &mut Tables<'_>,
    cache: &mut Cache,
    agent: &str,
    from: &str,
    into: &str,
    now: Timestamp,
    keys: Vec<String>,
    reason: String,
) -> Result<(), StoreError> {
    let Some(mut target) = t.asset(into)? else {
        return Ok(());
    };
    let old = t.asset(from)?;
    // The agent's open block is the agent's: only what is closed moves.
    move_metrics(t, cache, from, into)?;
    if let Some(old) = &old {
        t.assets.remove(from)?;
        t.hostnames
            .remove((old.hostname.to_lowercase().as_str(), from))?;
        // A provisional asset has no inventory, hence no lookup keys; were
        // one ever merged with an inventory, its keys must not outlive it.
        let inventory = t.inventory_of(from)?;
        lookup::replace_lookup_keys(&mut t.lookup_keys, from, inventory.as_ref(), None)?;
        target.first_seen = target.first_seen.min(old.first_seen);
        target.last_seen = target.last_seen.max(old.last_seen);
    }
    t.agent_asset.insert(agent, into)?;
    if !target.agent_ids.iter().any(|a| a == agent) {
        target.agent_ids.push(agent.to_owned());
    }
    target.identity.push(IdentityNote {
        at: now,
        agent_id: agent.to_owned(),
        verdict: Verdict::Matched,
        keys,
        other_asset: Some(from.to_owned()),
        reason,
    });
    t.put_asset(&target)?;
    // The agent record's asset id is set at the end of the commit.
    Ok(())
}

/// Moves the series names, closed metric blocks and rollups of asset
/// `from` to `into`, when two assets turn out to be one. Series names are
/// fleet-wide, so only the asset's list of them and its block index
/// entries move (the blocks themselves stay where they are); its rollups
/// merge into `into`'s.
pub(super) fn move_metrics(
    t: &mut Tables<'_>,
    cache: &mut Cache,
    from: &str,
    into: &str,
) -> Result<(), StoreError> {
    let moved = std::mem::take(t.series_of(cache, from)?);
    cache.asset_series.remove(from);
    t.asset_series.remove(from)?;
    if !moved.is_empty() {
        t.series_of(cache, into)?.extend(moved);
        t.put_series_of(cache, into)?;
    }
    let mut blocks = Vec::new();
    for r in t
        .block_index
        .range((from, i64::MIN, 0)..=(from, i64::MAX, u64::MAX))?
    {
        let (k, v) = r?;
        let (_, first, bid) = k.value();
        blocks.push((first, bid, v.value()));
    }
    for (first, bid, last) in blocks {
        t.block_index.remove((from, first, bid))?;
        t.block_index.insert((into, first, bid), last)?;
    }
    t.rollups.move_asset(from, into)
}

#[cfg(test)]
mod tests {
    use super::super::testutil::*;
    use super::*;
    use crate::store::AssetFilter;
    use atalaya_common::model::Timestamp;

    #[test]
    fn reinstall_matched_by_smbios_uuid_with_reason() {
        let (_d, s) = temp_store();
        let old = with_package(
            machine(
                "pc-7",
                Some("4C4C4544-0042"),
                "mid-old",
                "00:11:22:33:44:55",
            ),
            "curl",
            "1",
        );
        s.commit(&[snapshot("old-agent", 1, 1_000, &old)]).unwrap();
        let asset = s.agent_asset_id("old-agent").unwrap().unwrap();
        // Reinstalled: new agent, new machine-id, new MAC (NIC swapped), same UUID.
        // Its metrics arrive before its inventory.
        let new = with_package(
            machine(
                "pc-7",
                Some("4c4c4544-0042"),
                "mid-new",
                "00:11:22:33:44:99",
            ),
            "curl",
            "2",
        );
        s.commit(&[metrics("new-agent", 1, vec![sample(50_000, 3.0)])])
            .unwrap();
        let provisional = s.agent_asset_id("new-agent").unwrap().unwrap();
        assert_ne!(provisional, asset);
        s.commit(&[snapshot("new-agent", 2, 60_000, &new)]).unwrap();
        assert_eq!(
            s.agent_asset_id("new-agent").unwrap().as_deref(),
            Some(asset.as_str())
        );
        assert!(s.asset(&provisional).unwrap().is_none());
        let rec = s.asset(&asset).unwrap().unwrap();
        assert_eq!(
            rec.meta.agent_ids,
            vec!["old-agent".to_owned(), "new-agent".to_owned()]
        );
        let note = rec.meta.identity.last().unwrap();
        assert_eq!(note.verdict, Verdict::Matched);
        assert_eq!(note.keys, vec!["uuid:4c4c4544-0042".to_owned()]);
        assert!(
            note.reason.contains("uuid:4c4c4544-0042"),
            "{}",
            note.reason
        );
        assert_eq!(rec.inventory, Some(new));
        // The metrics moved with it; the reinstall shows what changed.
        let pts = s
            .metric(
                &asset,
                "cpu.total_percent",
                Timestamp(0),
                Timestamp(99_000),
                None,
            )
            .unwrap();
        assert_eq!(pts, vec![(Timestamp(50_000), 3.0)]);
        let ch = s.changes(Some(&asset), Timestamp(0), 10).unwrap();
        assert_eq!(ch.len(), 2);
        assert!(ch[1].changes.iter().any(|l| l.path == "software.packages"));
        assert!(ch[1].changes.iter().any(|l| l.path == "host"));
    }

    #[test]
    fn machine_id_clash_with_other_hardware_is_flagged_as_clone() {
        let (_d, s) = temp_store();
        let a = machine("vm-a", Some("aaaa-1"), "same-mid", "52:54:00:00:00:01");
        let b = machine("vm-b", Some("bbbb-2"), "same-mid", "52:54:00:00:00:02");
        s.commit(&[snapshot("agent-a", 1, 1_000, &a)]).unwrap();
        s.commit(&[snapshot("agent-b", 1, 2_000, &b)]).unwrap();
        let ida = s.agent_asset_id("agent-a").unwrap().unwrap();
        let idb = s.agent_asset_id("agent-b").unwrap().unwrap();
        assert_ne!(ida, idb);
        let rb = s.asset(&idb).unwrap().unwrap();
        assert_eq!(rb.meta.possible_clones, vec![ida.clone()]);
        let note = rb
            .meta
            .identity
            .iter()
            .find(|n| n.verdict == Verdict::PossibleClone)
            .unwrap();
        assert!(note.reason.contains("uuid:bbbb-2"), "{}", note.reason);
        assert_eq!(note.keys, vec!["machine-id:same-mid".to_owned()]);
        let ra = s.asset(&ida).unwrap().unwrap();
        assert_eq!(ra.meta.possible_clones, vec![idb.clone()]);
        let page = s.assets(&AssetFilter::default()).unwrap();
        assert!(page.items.iter().all(|i| i.possible_clone));
    }

    #[test]
    fn same_machine_id_without_hardware_keys_is_the_same_asset() {
        let (_d, s) = temp_store();
        let mut a = machine("ct-1", None, "mid-9", "00:00:00:00:00:00");
        a.network.interfaces.clear();
        s.commit(&[snapshot("x", 1, 1_000, &a)]).unwrap();
        s.commit(&[snapshot("y", 1, 2_000, &a)]).unwrap();
        assert_eq!(
            s.agent_asset_id("x").unwrap(),
            s.agent_asset_id("y").unwrap()
        );
    }

    #[test]
    fn placeholder_serials_are_not_keys() {
        let mut inv = machine(
            "h",
            Some("00000000-0000-0000-0000-000000000000"),
            "m",
            "00:11:22:33:44:55",
        );
        inv.hardware.system.serial = Some("To Be Filled By O.E.M.".into());
        assert_eq!(
            hardware_keys(&inv),
            vec![
                "mac:00:11:22:33:44:55".to_owned(),
                "machine-id:m".to_owned()
            ]
        );
    }
}
