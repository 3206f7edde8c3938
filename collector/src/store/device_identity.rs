//! Which asset a network device's inventory belongs to.
//!
//! The same box polled by two pollers, or added twice under two
//! addresses, is one asset. Its keys, strongest first: the ENTITY-MIB
//! chassis serial number, the MAC addresses of its interfaces (less the
//! zero, broadcast and multicast ones and the virtual router MACs of
//! VRRP, HSRP and GLBP, which several boxes share), and its `sysName`.
//!
//! When a device's inventory arrives and another device asset shares a key
//! (with no chassis serial differing, and for a `sysName` alone no MAC
//! set differing either), the device is merged into that asset: its
//! series, closed blocks and change history move there, its own asset is
//! deleted, and a [`DeviceAlias`] says why. One device writes an asset
//! (its primary, in [`DEVICE_PRIMARY`]); the others merged into it keep
//! their own poll status, while their values and inventory are not stored
//! a second time. A merged device whose inventory stops matching is split
//! back into an asset of its own. Every decision is noted on the asset,
//! as for hosts ([`super::identity`]).

use std::collections::BTreeMap;

use atalaya_common::model::Timestamp;
use atalaya_common::model::device::{DeviceInventory, EntityClass};
use redb::ReadableTable;

use super::ingest::{Cache, Tables};
use super::records::{AssetMeta, IdentityNote, Verdict};
use super::schema::DEVICE_PRIMARY;
use super::{StoreError, dec, enc};
use crate::records::device::{DeviceAlias, DeviceRecord, device_asset_id};

const ALIASES_T: &str = "device_aliases";
const DEVICES_T: &str = "devices";
const INVENTORY_T: &str = "device_inventory";

/// Serial numbers some devices report instead of none.
const PLACEHOLDER_SERIALS: &[&str] = &["", "0", "none", "n/a", "na", "unknown", "not specified"];
/// `sysName` values that name no box in particular.
const PLACEHOLDER_NAMES: &[&str] = &[
    "",
    "localhost",
    "localhost.localdomain",
    "(none)",
    "switch",
    "router",
];

/// Whether `mac` (lower case, colon-separated) can identify one box.
fn identifying_mac(mac: &str) -> bool {
    let octets: Vec<u8> = mac
        .split(':')
        .filter_map(|o| u8::from_str_radix(o, 16).ok())
        .collect();
    let [first, b1, b2, b3, b4, _] = octets[..] else {
        return false;
    };
    let virtual_router = matches!(
        (first, b1, b2, b3, b4),
        // VRRP (IPv4 and IPv6).
        (0x00, 0x00, 0x5e, 0x00, 0x01 | 0x02)
            // HSRP version 1 and version 2.
            | (0x00, 0x00, 0x0c, 0x07, 0xac)
            | (0x00, 0x00, 0x0c, 0x9f, _)
    ) || (first, b1, b2) == (0x00, 0x07, 0xb4); // GLBP
    let all_zero = octets.iter().all(|o| *o == 0);
    let multicast = first & 1 == 1; // broadcast included
    !(all_zero || multicast || virtual_router)
}

/// The identity keys of a device inventory: `serial:…` (chassis),
/// `mac:…`, `sysname:…`, lower case, sorted.
pub fn device_keys(inv: &DeviceInventory) -> Vec<String> {
    let mut keys = Vec::new();
    for e in &inv.entities {
        let serial = e.serial.trim().to_lowercase();
        if e.class == EntityClass::Chassis && !PLACEHOLDER_SERIALS.contains(&serial.as_str()) {
            keys.push(format!("serial:{serial}"));
        }
    }
    for i in &inv.interfaces {
        if let Some(mac) = &i.mac {
            let mac = mac.trim().to_lowercase();
            if identifying_mac(&mac) {
                keys.push(format!("mac:{mac}"));
            }
        }
    }
    let name = inv.system.name.trim().to_lowercase();
    if !PLACEHOLDER_NAMES.contains(&name.as_str()) {
        keys.push(format!("sysname:{name}"));
    }
    keys.sort();
    keys.dedup();
    keys
}

fn of_kind<'k>(keys: &'k [String], kind: &str) -> Vec<&'k String> {
    keys.iter()
        .filter(|k| k.split(':').next() == Some(kind))
        .collect()
}

/// Whether `kind` keys rule out one box: both have some, none in common.
fn differ(a: &[String], b: &[String], kind: &str) -> bool {
    let (x, y) = (of_kind(a, kind), of_kind(b, kind));
    !x.is_empty() && !y.is_empty() && !x.iter().any(|k| y.contains(k))
}

/// How strongly two key sets say one box: a serial shared, MACs shared,
/// the sysName shared (ordered strongest first).
type Strength = (bool, usize, bool);

/// How strongly `ours` and `theirs` say one box, `None` when they do not.
fn strength(ours: &[String], theirs: &[String]) -> Option<Strength> {
    if differ(ours, theirs, "serial") {
        return None;
    }
    let shared = |kind| {
        of_kind(ours, kind)
            .into_iter()
            .filter(|k| theirs.contains(k))
            .count()
    };
    let (serial, macs, name) = (shared("serial"), shared("mac"), shared("sysname"));
    if serial == 0 && macs == 0 && (name == 0 || differ(ours, theirs, "mac")) {
        return None;
    }
    Some((serial > 0, macs, name > 0))
}

/// The keys of `ours` that `theirs` has too, strongest kind only, and
/// what they show in words (`serial FDO1234`), with the original case.
fn evidence(ours: &[String], theirs: &[String], inv: &DeviceInventory) -> (Vec<String>, String) {
    for (kind, label) in [("serial", "serial"), ("mac", "MAC"), ("sysname", "sysName")] {
        let shared: Vec<String> = of_kind(ours, kind)
            .into_iter()
            .filter(|k| theirs.contains(k))
            .cloned()
            .collect();
        if shared.is_empty() {
            continue;
        }
        let shown: Vec<String> = shared
            .iter()
            .map(|k| {
                let value = k.split_once(':').map_or("", |(_, v)| v);
                original_case(inv, kind, value)
            })
            .collect();
        return (shared, format!("{label} {}", shown.join(", ")));
    }
    (Vec::new(), String::new())
}

/// `value` (a lower-cased key) as the inventory writes it.
fn original_case(inv: &DeviceInventory, kind: &str, value: &str) -> String {
    let found = match kind {
        "serial" => inv
            .entities
            .iter()
            .map(|e| e.serial.trim())
            .find(|s| s.eq_ignore_ascii_case(value)),
        "sysname" => Some(inv.system.name.trim()).filter(|n| n.eq_ignore_ascii_case(value)),
        _ => None,
    };
    found.unwrap_or(value).to_owned()
}

fn assets_with_key(t: &Tables<'_>, key: &str) -> Result<Vec<String>, StoreError> {
    let mut out = Vec::new();
    for r in t.device_keys.range((key, "")..)? {
        let (k, _) = r?;
        let (kk, asset) = k.value();
        if kk != key {
            break;
        }
        out.push(asset.to_owned());
    }
    Ok(out)
}

fn stored_inventory(t: &Tables<'_>, asset: &str) -> Result<Option<DeviceInventory>, StoreError> {
    let found = t.device_inventory.get(asset)?;
    found.map(|v| dec(INVENTORY_T, v.value())).transpose()
}

/// The device that writes `asset`, if one claimed it.
fn primary_of(t: &Tables<'_>, asset: &str) -> Result<Option<String>, StoreError> {
    Ok(t.device_primary.get(asset)?.map(|v| v.value().to_owned()))
}

/// Whether `rec` writes its asset; a device asset nobody writes is
/// claimed by `rec` here.
pub(crate) fn is_primary(t: &mut Tables<'_>, rec: &DeviceRecord) -> Result<bool, StoreError> {
    match primary_of(t, &rec.asset_id)? {
        Some(name) => Ok(name == rec.name),
        None => {
            t.device_primary
                .insert(rec.asset_id.as_str(), rec.name.as_str())?;
            Ok(true)
        }
    }
}

/// Replaces the keys of `asset` (from its stored inventory) by those of `inv`.
fn replace_keys(
    t: &mut Tables<'_>,
    asset: &str,
    old: Option<&DeviceInventory>,
    new: Option<&[String]>,
) -> Result<(), StoreError> {
    for k in old.map(device_keys).unwrap_or_default() {
        t.device_keys.remove((k.as_str(), asset))?;
    }
    for k in new.unwrap_or_default() {
        t.device_keys.insert((k.as_str(), asset), ())?;
    }
    Ok(())
}

/// Decides which asset the inventory `inv` of device `rec` (polled by
/// `agent`) belongs to, merging or splitting as needed; `rec.asset_id` is
/// set to it. Returns whether `rec` writes that asset (so whether `inv`
/// is to be stored there).
pub(crate) fn reconcile(
    t: &mut Tables<'_>,
    cache: &mut Cache,
    rec: &mut DeviceRecord,
    agent: &str,
    inv: &DeviceInventory,
    now: Timestamp,
) -> Result<bool, StoreError> {
    let keys = device_keys(inv);
    if !is_primary(t, rec)? {
        let target = stored_inventory(t, &rec.asset_id)?;
        let still = target
            .as_ref()
            .is_none_or(|o| strength(&keys, &device_keys(o)).is_some());
        if still {
            return Ok(false);
        }
        split(t, rec, agent, &keys, target.as_ref(), now)?;
    }
    let current = rec.asset_id.clone();
    let mut best: Option<(Strength, String, Vec<String>)> = None;
    let mut candidates: BTreeMap<String, ()> = BTreeMap::new();
    for k in &keys {
        for a in assets_with_key(t, k)? {
            if a != current {
                candidates.insert(a, ());
            }
        }
    }
    for other in candidates.into_keys() {
        let Some(theirs) = stored_inventory(t, &other)? else {
            continue;
        };
        let their_keys = device_keys(&theirs);
        if let Some(s) = strength(&keys, &their_keys)
            && best.as_ref().is_none_or(|(b, _, _)| s > *b)
        {
            best = Some((s, other, their_keys));
        }
    }
    if let Some((_, into, their_keys)) = best {
        merge(t, cache, rec, agent, &into, (&keys, &their_keys), inv, now)?;
        return Ok(false);
    }
    let old = stored_inventory(t, &current)?;
    replace_keys(t, &current, old.as_ref(), Some(&keys))?;
    if let Some(mut meta) = t.asset(&current)?
        && meta.identity.is_empty()
    {
        meta.identity.push(IdentityNote {
            at: now,
            agent_id: agent.to_owned(),
            verdict: Verdict::New,
            keys: keys.clone(),
            other_asset: None,
            reason: if keys.is_empty() {
                "no serial number, MAC address or sysName reported: a new asset".to_owned()
            } else {
                "no known device has these keys: a new asset".to_owned()
            },
        });
        t.put_asset(&meta)?;
    }
    Ok(true)
}

/// Merges device `rec` (and whatever its asset held) into asset `into`.
#[allow(clippy::too_many_arguments)]
fn merge(
    t: &mut Tables<'_>,
    cache: &mut Cache,
    rec: &mut DeviceRecord,
    agent: &str,
    into: &str,
    (ours, theirs): (&[String], &[String]),
    inv: &DeviceInventory,
    now: Timestamp,
) -> Result<(), StoreError> {
    let from = rec.asset_id.clone();
    let same_as = primary_of(t, into)?.unwrap_or_else(|| into.to_owned());
    let (keys, evidence) = evidence(ours, theirs, inv);
    let reason = format!(
        "{evidence} matches device {same_as} (asset {into}): the same device seen by two pollers or under two addresses"
    );
    move_asset(t, cache, &from, into)?;
    // Other devices merged into `from` before go along.
    let mut moved = Vec::new();
    for r in t.devices.iter()? {
        let (_, v) = r?;
        let other: DeviceRecord = dec(DEVICES_T, v.value())?;
        if other.asset_id == from && other.name != rec.name {
            moved.push(other);
        }
    }
    for mut other in moved {
        other.asset_id = into.to_owned();
        t.devices
            .insert(other.name.as_str(), enc(DEVICES_T, &other)?.as_slice())?;
        if let Some(mut alias) = alias_of(t, &other.name)? {
            alias.asset = into.to_owned();
            put_alias(t, &other.name, &alias)?;
        }
    }
    rec.asset_id = into.to_owned();
    let alias = DeviceAlias {
        asset: into.to_owned(),
        same_as,
        keys: keys.clone(),
        evidence,
        reason: reason.clone(),
        at: now,
    };
    put_alias(t, &rec.name, &alias)?;
    if let Some(mut target) = t.asset(into)? {
        target.identity.push(IdentityNote {
            at: now,
            agent_id: agent.to_owned(),
            verdict: Verdict::Matched,
            keys,
            other_asset: Some(from),
            reason,
        });
        t.put_asset(&target)?;
    }
    Ok(())
}

/// Moves what asset `from` holds (series, closed blocks, inventory
/// changes, first and last seen) into `into`, and deletes `from`. The open
/// block of `from`'s values stays under its writer, which reads of `into`
/// include (see [`super::Store::metric`]).
fn move_asset(
    t: &mut Tables<'_>,
    cache: &mut Cache,
    from: &str,
    into: &str,
) -> Result<(), StoreError> {
    super::identity::move_metrics(t, cache, from, into)?;
    let mut changes = Vec::new();
    for r in t
        .device_changes
        .range((from, i64::MIN, 0)..=(from, i64::MAX, u64::MAX))?
    {
        let (k, v) = r?;
        let (_, at, event) = k.value();
        changes.push((at, event, v.value().to_vec()));
    }
    for (at, event, bytes) in changes {
        t.device_changes.remove((from, at, event))?;
        t.device_changes
            .insert((into, at, event), bytes.as_slice())?;
    }
    let old_inventory = stored_inventory(t, from)?;
    replace_keys(t, from, old_inventory.as_ref(), None)?;
    t.device_inventory.remove(from)?;
    t.device_primary.remove(from)?;
    if let Some(old) = t.asset(from)? {
        t.assets.remove(from)?;
        t.hostnames
            .remove((old.hostname.to_lowercase().as_str(), from))?;
        if let Some(mut target) = t.asset(into)? {
            target.first_seen = target.first_seen.min(old.first_seen);
            target.last_seen = target.last_seen.max(old.last_seen);
            target.inventory_at = target.inventory_at.max(old.inventory_at);
            t.put_asset(&target)?;
        }
    }
    Ok(())
}

/// Gives device `rec`, merged into another asset that its inventory no
/// longer matches, an asset of its own again.
fn split(
    t: &mut Tables<'_>,
    rec: &mut DeviceRecord,
    agent: &str,
    keys: &[String],
    target: Option<&DeviceInventory>,
    now: Timestamp,
) -> Result<(), StoreError> {
    let old = std::mem::replace(&mut rec.asset_id, device_asset_id(&rec.name));
    let theirs = target.map(device_keys).unwrap_or_default();
    let differs: Vec<&String> = of_kind(keys, "serial")
        .into_iter()
        .chain(of_kind(keys, "mac"))
        .filter(|k| !theirs.contains(k))
        .collect();
    let reason = format!(
        "no longer matches asset {old} ({}): a device of its own",
        differs
            .iter()
            .map(|k| k.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    );
    t.device_aliases.remove(rec.name.as_str())?;
    let mut meta = match t.asset(&rec.asset_id)? {
        Some(m) => m,
        None => {
            t.hostnames.insert(
                (rec.name.to_lowercase().as_str(), rec.asset_id.as_str()),
                (),
            )?;
            device_asset_meta(rec, now)
        }
    };
    meta.identity.push(IdentityNote {
        at: now,
        agent_id: agent.to_owned(),
        verdict: Verdict::New,
        keys: keys.to_vec(),
        other_asset: Some(old),
        reason,
    });
    t.put_asset(&meta)?;
    t.device_primary
        .insert(rec.asset_id.as_str(), rec.name.as_str())?;
    Ok(())
}

/// The asset of a device: named by the device, no agent of its own.
pub(crate) fn device_asset_meta(rec: &DeviceRecord, at: Timestamp) -> AssetMeta {
    AssetMeta {
        id: rec.asset_id.clone(),
        hostname: rec.name.clone(),
        os: None,
        os_id: None,
        agent_ids: Vec::new(),
        identity: Vec::new(),
        possible_clones: Vec::new(),
        tags: Vec::new(),
        first_seen: at,
        last_seen: at,
        inventory_at: None,
        last_change_at: None,
    }
}

fn alias_of(t: &Tables<'_>, name: &str) -> Result<Option<DeviceAlias>, StoreError> {
    let found = t.device_aliases.get(name)?;
    found.map(|v| dec(ALIASES_T, v.value())).transpose()
}

fn put_alias(t: &mut Tables<'_>, name: &str, alias: &DeviceAlias) -> Result<(), StoreError> {
    t.device_aliases
        .insert(name, enc(ALIASES_T, alias)?.as_slice())?;
    Ok(())
}

/// The devices whose values are written under `asset` besides the asset's
/// own writer: those merged into it, whose open blocks stay theirs.
pub(crate) fn merged_writers(
    txn: &redb::ReadTransaction,
    asset: &str,
) -> Result<Vec<String>, StoreError> {
    let aliases = txn.open_table(super::schema::DEVICE_ALIASES)?;
    let mut out = Vec::new();
    for r in aliases.iter()? {
        let (name, v) = r?;
        let alias: DeviceAlias = dec(ALIASES_T, v.value())?;
        if alias.asset == asset {
            out.push(device_asset_id(name.value()));
        }
    }
    Ok(out)
}

/// Whether a device asset has a primary (for tests and views).
pub(crate) fn primary_in(
    txn: &redb::ReadTransaction,
    asset: &str,
) -> Result<Option<String>, StoreError> {
    let t = txn.open_table(DEVICE_PRIMARY)?;
    Ok(t.get(asset)?.map(|v| v.value().to_owned()))
}

#[cfg(test)]
mod tests {
    use atalaya_common::model::device::{DeviceInterface, PhysicalEntity};

    use super::*;

    fn inv(serial: &str, macs: &[&str], name: &str) -> DeviceInventory {
        let mut inv = DeviceInventory::default();
        inv.system.name = name.into();
        inv.entities.push(PhysicalEntity {
            index: 1,
            class: EntityClass::Chassis,
            serial: serial.into(),
            ..PhysicalEntity::default()
        });
        for (i, m) in macs.iter().enumerate() {
            inv.interfaces.push(DeviceInterface {
                if_index: u32::try_from(i).unwrap() + 1,
                mac: Some((*m).into()),
                ..DeviceInterface::default()
            });
        }
        inv
    }

    #[test]
    fn keys_leave_out_shared_and_meaningless_values() {
        let keys = device_keys(&inv(
            "FDO1234",
            &[
                "00:00:00:00:00:00",
                "ff:ff:ff:ff:ff:ff",
                "01:00:5e:00:00:01",
                "00:00:5e:00:01:07",
                "00:00:0c:07:ac:01",
                "00:00:0c:9f:f0:01",
                "00:07:b4:00:01:02",
                "00:1B:54:aa:bb:cc",
            ],
            "Core-SW1",
        ));
        assert_eq!(
            keys,
            [
                "mac:00:1b:54:aa:bb:cc",
                "serial:fdo1234",
                "sysname:core-sw1"
            ]
        );
        assert_eq!(
            device_keys(&inv("", &[], "localhost")),
            Vec::<String>::new()
        );
    }

    #[test]
    fn serial_then_macs_then_sysname_decide() {
        let a = device_keys(&inv("S1", &["00:11:22:33:44:55"], "sw"));
        let same_serial = device_keys(&inv("s1", &["00:11:22:33:44:99"], "other"));
        assert_eq!(strength(&same_serial, &a), Some((true, 0, false)));
        let other_serial = device_keys(&inv("S2", &["00:11:22:33:44:55"], "sw"));
        assert_eq!(strength(&other_serial, &a), None);
        let no_serial_same_mac = device_keys(&inv("", &["00:11:22:33:44:55"], "x"));
        assert_eq!(strength(&no_serial_same_mac, &a), Some((false, 1, false)));
        // sysName alone: only when no MAC set rules it out.
        let name_only = device_keys(&inv("", &[], "sw1"));
        let b = device_keys(&inv("", &[], "SW1"));
        assert_eq!(strength(&name_only, &b), Some((false, 0, true)));
        let c = device_keys(&inv("", &["00:11:22:33:44:01"], "sw1"));
        let d = device_keys(&inv("", &["00:11:22:33:44:02"], "sw1"));
        assert_eq!(strength(&c, &d), None);
        let (keys, shown) = evidence(&same_serial, &a, &inv("S1", &[], ""));
        assert_eq!(
            (keys, shown.as_str()),
            (vec!["serial:s1".into()], "serial S1")
        );
    }
}
