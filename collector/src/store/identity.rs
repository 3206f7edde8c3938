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

use atalaya_common::model::{Inventory, InterfaceKind, Timestamp};
use redb::ReadableTable;

use super::ingest::{Cache, Tables};
use super::records::{IdentityNote, Verdict};
use super::StoreError;

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
    // Other assets sharing each key.
    let mut shared: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for k in &keys {
        for a in assets_with_key(t, k)? {
            if a != current {
                shared.entry(a).or_default().push(k.clone());
            }
        }
    }
    if first {
        // Strongest match: most shared hardware keys (machine-id breaks ties).
        let best = shared
            .iter()
            .map(|(a, ks)| (ks.iter().filter(|k| !is_machine_id(k)).count(), ks.len(), a))
            .filter(|(hw, _, _)| *hw > 0)
            .max()
            .map(|(_, _, a)| a.clone());
        if let Some(target) = best {
            let matched = shared.get(&target).cloned().unwrap_or_default();
            let reason = format!(
                "hardware keys match asset {target} ({}): the same machine enrolled again",
                matched.join(", ")
            );
            merge(t, cache, agent, current, &target, now, matched, reason)?;
            return Ok(target);
        }
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
    for (other, ks, clash) in clone_of {
        if meta.possible_clones.contains(&other) {
            continue;
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
            keys: ks.clone(),
            other_asset: Some(other.clone()),
            reason: reason.clone(),
        });
        if let Some(mut o) = t.asset(&other)?
            && !o.possible_clones.iter().any(|c| c == current)
        {
            o.possible_clones.push(current.to_owned());
            o.identity.push(IdentityNote {
                at: now,
                agent_id: agent.to_owned(),
                verdict: Verdict::PossibleClone,
                keys: ks,
                other_asset: Some(current.to_owned()),
                reason: format!(
                    "asset {current} reports the same machine-id with different hardware: possible clone"
                ),
            });
            t.put_asset(&o)?;
        }
        changed = true;
    }
    if first {
        meta.identity.insert(
            0,
            IdentityNote {
                at: now,
                agent_id: agent.to_owned(),
                verdict: Verdict::New,
                keys: keys.clone(),
                other_asset: None,
                reason: if keys.is_empty() {
                    "no hardware keys reported: a new asset".to_owned()
                } else {
                    "no known asset has these hardware keys: a new asset".to_owned()
                },
            },
        );
        changed = true;
    }
    if changed {
        t.put_asset(&meta)?;
    }
    Ok(current.to_owned())
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
    // Series.
    let mut names = Vec::new();
    for r in t.series.range((from, "")..)? {
        let (k, v) = r?;
        let (a, name) = k.value();
        if a != from {
            break;
        }
        names.push((name.to_owned(), v.value()));
    }
    for (name, sid) in names {
        t.series.remove((from, name.as_str()))?;
        cache.series.remove(&(from.to_owned(), name.clone()));
        t.flush_chunk(cache, sid)?;
        cache.open.remove(&sid);
        let existing = t.series.get((into, name.as_str()))?.map(|v| v.value());
        match existing {
            None => {
                t.series.insert((into, name.as_str()), sid)?;
                cache.series.insert((into.to_owned(), name), sid);
            }
            Some(target_sid) => {
                t.flush_chunk(cache, target_sid)?;
                cache.open.remove(&target_sid);
                let mut moved = Vec::new();
                for r in t.chunks.range((sid, i64::MIN)..=(sid, i64::MAX))? {
                    let (k, v) = r?;
                    moved.push((k.value().1, v.value().to_vec()));
                }
                for (start, bytes) in moved {
                    t.chunks.remove((sid, start))?;
                    let mut key = start;
                    while t.chunks.get((target_sid, key))?.is_some() {
                        key = key.saturating_add(1);
                    }
                    t.chunks.insert((target_sid, key), bytes.as_slice())?;
                }
            }
        }
    }
    if let Some(old) = &old {
        t.assets.remove(from)?;
        t.hostnames
            .remove((old.hostname.to_lowercase().as_str(), from))?;
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
