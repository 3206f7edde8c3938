//! The capacity reports read from the store: the assets and their
//! inventories, and each resource's series summarised by [`read_use`],
//! the one place series are read for them (so that it can move to
//! rolled-up series without the reports noticing). What the figures mean
//! is [`crate::capacity`]'s to decide.

use std::collections::BTreeMap;
use std::path::Path;

use atalaya_common::config::LoadError;
use atalaya_common::model::device::series::{
    IN_BITS_PER_SECOND, IN_UTILISATION_PERCENT, OUT_BITS_PER_SECOND, OUT_UTILISATION_PERCENT,
};
use atalaya_common::model::device::{DeviceInventory, EntityClass, OperStatus, StorageKind};
use atalaya_common::model::{Interface, InterfaceKind, Inventory, Timestamp};

use crate::capacity::eol::{self, EolTable};
use crate::capacity::installed::{self, AssetCapacity, GroupBy, InstalledReport};
use crate::capacity::renewal::{self, AssetAge, RenewalReport};
use crate::capacity::usage::{
    self, ForecastSettings, P95_DAYS, Resource, ResourceFacts, SizeUnit, UsageReport, UsageRow,
    UseSummary,
};
use crate::capacity::{AssetClass, Day};
use crate::forecast::Trend;
use crate::helpers::series::{DERIVED_PERCENTS, split_series};
use crate::incidents::rules::{AssetFacts, AssetKind, RuleSet};
use crate::records::rollup::{Aggregation, Rollup, Tier};
use crate::store::devices::device_model;
use crate::store::rollups::RollupRead;
use crate::store::{AssetFilter, AssetMeta, AssetRecord, Store, StoreError};
use crate::tiers;

const MS_PER_DAY: i64 = 86_400_000;
/// Most threads a fleet's capacity report is read with.
const MAX_WORKERS: usize = 8;

/// Which assets a report covers.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Scope {
    /// Only assets with this tag.
    pub tag: Option<String>,
    /// Only hosts, or only network devices.
    pub class: Option<AssetClass>,
}

/// Reads the end-of-support table: the built-in one, with the releases
/// of `eol.toml` in `config_dir` over it when there is such a file.
pub fn load_eol(config_dir: Option<&Path>) -> Result<EolTable, LoadError> {
    let table = EolTable::built_in();
    let Some(dir) = config_dir else {
        return Ok(table);
    };
    let path = dir.join(eol::FILE_NAME);
    match std::fs::read_to_string(&path) {
        Ok(text) => Ok(table.overlaid(EolTable::parse(&path.display().to_string(), &text)?)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(table),
        Err(e) => Err(LoadError::read(&path, e)),
    }
}

/// What the capacity report reads of one series of `asset`: its newest
/// point, its 95th percentile over [`P95_DAYS`] before `now`, and the
/// trend of the window of `window_ms` ending at its newest point.
///
/// A stored series is read from its rollups and the points of open
/// blocks, never from closed raw blocks, so a fleet's report reads a few
/// rows per series: the percentile merges the 1-day rollups of the whole
/// days of the range and the 1-hour ones of its two ends (the same
/// points as all its hours), and the trend of a window of a day or more
/// (buckets of an hour or more) is fed the hourly rollups
/// ([`Trend::of_hours`]); a shorter window reads raw points.
/// Percentages derived from two stored series (memory, swap) have no
/// rollups of their own: they are read from the rollups of their part
/// (memory available, swap used) and put over the total's newest value,
/// so a machine whose memory was changed within the range is reported
/// against its memory now.
pub fn read_use(
    store: &Store,
    asset: &str,
    series: &str,
    now: Timestamp,
    window_ms: i64,
) -> Result<UseSummary, StoreError> {
    Ok(read_uses(store, asset, &[(series, window_ms)], now)?
        .pop()
        .unwrap_or_default())
}

/// [`read_use`] of several series of `asset`, each with its window, in
/// the order given: the rollups of all of them are read in one
/// transaction and each open block is decoded once.
pub fn read_uses(
    store: &Store,
    asset: &str,
    wanted: &[(&str, i64)],
    now: Timestamp,
) -> Result<Vec<UseSummary>, StoreError> {
    read_summaries(store, asset, wanted, now, Reading::Full)
}

/// [`read_uses`] without the percentiles: the newest point and the
/// trend only, from today's hourly rollups, the open blocks and the
/// hours of the window, which is all a forecast needs. A series with no
/// point since the start of its window is read whole, as [`read_uses`]
/// reads it, so a silent series still gets the trend of its last days.
pub fn read_forecasts(
    store: &Store,
    asset: &str,
    wanted: &[(&str, i64)],
    now: Timestamp,
) -> Result<Vec<UseSummary>, StoreError> {
    let mut got = read_summaries(store, asset, wanted, now, Reading::Forecast)?;
    for (summary, &(series, window_ms)) in got.iter_mut().zip(wanted) {
        if summary.last.is_none() {
            *summary = read_use(store, asset, series, now, window_ms)?;
            summary.p95 = None;
            summary.p5 = None;
        }
    }
    Ok(got)
}

/// How much of a series [`read_summaries`] reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Reading {
    /// Newest point, percentiles over [`P95_DAYS`] and trend.
    Full,
    /// Newest point and trend, from the window's hours only.
    Forecast,
}

fn read_summaries(
    store: &Store,
    asset: &str,
    wanted: &[(&str, i64)],
    now: Timestamp,
    reading: Reading,
) -> Result<Vec<UseSummary>, StoreError> {
    // Where each wanted series' summary is among those read: a derived
    // percentage is read as its part and, next, its total.
    let mut reads: Vec<(&str, i64)> = Vec::new();
    let mut found: Vec<(usize, Option<bool>)> = Vec::new();
    for &(series, window_ms) in wanted {
        found.push((reads.len(), None));
        match DERIVED_PERCENTS.iter().find(|d| d.0 == series) {
            Some(&(_, part, total, available)) => {
                if let Some(last) = found.last_mut() {
                    last.1 = Some(available);
                }
                reads.push((part, window_ms));
                reads.push((total, window_ms));
            }
            None => reads.push((series, window_ms)),
        }
    }
    let read = read_stored(store, asset, &reads, now, reading)?;
    Ok(found
        .into_iter()
        .map(|(at, derived)| match (derived, read.get(at)) {
            (Some(available), Some(part)) => read
                .get(at + 1)
                .map(|total| derived_use(part, total, available))
                .unwrap_or_default(),
            (None, Some(summary)) => summary.clone(),
            (_, None) => UseSummary::default(),
        })
        .collect())
}

/// A percentage of `total` from the summary of its `part` (the amount
/// used, or with `part_is_available` the amount left), over the total's
/// newest value; nothing without a total.
fn derived_use(part: &UseSummary, total: &UseSummary, part_is_available: bool) -> UseSummary {
    let Some((_, total_now)) = total.last.filter(|(_, t)| *t > 0.0) else {
        return UseSummary::default();
    };
    let scale = 100.0 / total_now;
    let (a, b) = if part_is_available {
        (100.0, -scale)
    } else {
        (0.0, scale)
    };
    let percent = |v: f64| (a + b * v).max(0.0);
    // Of an amount left, the low percentiles are the high ones of use.
    let (high, low) = if part_is_available {
        (part.p5, part.p95)
    } else {
        (part.p95, part.p5)
    };
    UseSummary {
        last: part.last.map(|(t, v)| (t, percent(v))),
        p95: high.map(percent),
        p5: low.map(percent),
        trend: part.trend.as_ref().map(|t| t.affine(a, b)),
    }
}

/// [`read_uses`] of stored series.
fn read_stored(
    store: &Store,
    asset: &str,
    wanted: &[(&str, i64)],
    now: Timestamp,
    reading: Reading,
) -> Result<Vec<UseSummary>, StoreError> {
    let mut out = vec![UseSummary::default(); wanted.len()];
    let stored: Vec<(usize, &str, i64)> = wanted
        .iter()
        .enumerate()
        .map(|(i, &(series, window_ms))| (i, series, window_ms))
        .collect();
    if stored.is_empty() {
        return Ok(out);
    }
    let p95_from = now.0.saturating_sub(days_ms(P95_DAYS));
    let (hour, day) = (Tier::OneHour, Tier::OneDay);
    let today = day.bucket_of(now.0);
    // The first whole day of the range: the hours before it are read one by one.
    let first_day = day.bucket_of(p95_from.saturating_add(day.bucket_ms() - 1));
    let read = |tier, from: i64, to: i64, sketches| RollupRead {
        tier,
        from,
        to,
        sketches,
    };
    let full = reading == Reading::Full;
    // Without percentiles, an empty span stands for the two ends of the range.
    let (head_to, days_to, today_from) = if full {
        (first_day.min(today) - 1, today - 1, today.max(p95_from))
    } else {
        (i64::MIN, i64::MIN, today)
    };
    let spans = [
        read(hour, p95_from, head_to, true),
        read(day, first_day, days_to, true),
        read(hour, today_from, now.0, full),
    ];
    let reads: Vec<(&str, RollupRead)> = stored
        .iter()
        .flat_map(|&(_, series, _)| spans.iter().map(move |r| (series, *r)))
        .collect();
    let mut got = store.rollup_reads_of(asset, &reads)?.into_iter();
    // Open blocks are rolled up when they close; their points count now,
    // by the hour they will be rolled up into.
    let names: Vec<&str> = stored.iter().map(|s| s.1).collect();
    let open_from = if full {
        p95_from
    } else {
        // From the hour the longest window starts in, as its hours are read.
        let reach = stored
            .iter()
            .map(|s| Trend::reach_ms(s.2))
            .max()
            .unwrap_or(0);
        hour.bucket_of(now.0.saturating_sub(reach)).min(today)
    };
    let open = store.open_points_of(asset, &names, Timestamp(open_from), now)?;
    // Per series: its hours of today and of its open points, and where its
    // trend starts; then the hours before today of every hourly trend,
    // in one more transaction.
    let mut pending = Vec::new();
    for (&(i, series, window_ms), open) in stored.iter().zip(open) {
        let (head, days, today_hours) = (
            got.next().unwrap_or_default(),
            got.next().unwrap_or_default(),
            got.next().unwrap_or_default(),
        );
        let mut open_hours = BTreeMap::new();
        tiers::fold_points(hour, &mut open_hours, &open);
        let merged = head
            .iter()
            .chain(&days)
            .chain(&today_hours)
            .map(|(_, r)| r)
            .chain(open_hours.values())
            .fold(None::<Rollup>, |acc, r| match acc {
                None => Some(r.clone()),
                Some(mut a) => {
                    a.merge(r);
                    Some(a)
                }
            });
        let Some(merged) = merged else {
            continue;
        };
        let end = merged.last_at;
        let start = end.saturating_sub(Trend::reach_ms(window_ms));
        if let Some(slot) = out.get_mut(i) {
            slot.last = Some((end, merged.last));
            if full {
                slot.p95 = merged.value(Aggregation::P95);
                slot.p5 = merged.sketch.quantile(0.05);
            }
        }
        if Trend::new(window_ms).bucket_ms() >= hour.bucket_ms() {
            let mut hours = today_hours;
            hours.extend(open_hours);
            pending.push((i, series, window_ms, start, end, hours));
        } else {
            // A window of buckets under an hour: its raw points.
            let points =
                store.metric(asset, series, Timestamp(start.saturating_add(1)), now, None)?;
            if let Some(slot) = out.get_mut(i) {
                slot.trend = Some(Trend::of_points(
                    points.iter().map(|(t, v)| (t.0, *v)),
                    window_ms,
                ));
            }
        }
    }
    // The hours of each window before today, without their sketches.
    let reads: Vec<(&str, RollupRead)> = pending
        .iter()
        .map(|&(_, series, _, start, end, _)| {
            (
                series,
                read(hour, hour.bucket_of(start), end.min(today - 1), false),
            )
        })
        .collect();
    let before = store.rollup_reads_of(asset, &reads)?;
    for ((i, _, window_ms, start, _, later), mut hours) in pending.into_iter().zip(before) {
        // Stored hours first, then the points of open blocks in their hour
        // (an open block may hold points of an hour before today).
        hours.extend(later);
        let hours = merge_buckets(hours);
        let trend = Trend::of_hours(
            hours
                .iter()
                .filter(|(_, r)| r.last_at > start)
                .map(|(b, r)| (*b, r)),
            window_ms,
        );
        if let Some(slot) = out.get_mut(i) {
            slot.trend = Some(trend);
        }
    }
    Ok(out)
}

/// `parts` by bucket, oldest first, those of the same bucket merged in
/// the order given (a vector rather than a map: a series' hours are few,
/// and a map of rollups allocates a node for every few).
fn merge_buckets(mut parts: Vec<(i64, Rollup)>) -> Vec<(i64, Rollup)> {
    parts.sort_by_key(|(bucket, _)| *bucket);
    let mut out: Vec<(i64, Rollup)> = Vec::with_capacity(parts.len());
    for (bucket, r) in parts {
        match out.last_mut() {
            Some((b, into)) if *b == bucket => into.merge(&r),
            _ => out.push((bucket, r)),
        }
    }
    out
}

/// [`read_use`] from the raw points (a derived percentage from those of
/// its part and total): what the rollups are checked against.
#[cfg(test)]
fn read_raw(
    store: &Store,
    asset: &str,
    series: &str,
    now: Timestamp,
    window_ms: i64,
) -> Result<UseSummary, StoreError> {
    use crate::capacity::percentile;
    use crate::helpers::series::derive_percent;

    let p95_from = now.0.saturating_sub(days_ms(P95_DAYS));
    let from = Timestamp(p95_from.min(now.0.saturating_sub(Trend::reach_ms(window_ms))));
    let read = |name: &str| store.metric(asset, name, from, now, None);
    let points = match DERIVED_PERCENTS.iter().find(|d| d.0 == series) {
        Some((_, part, total, available)) => {
            derive_percent(&read(part)?, &read(total)?, *available)
        }
        None => read(series)?,
    };
    let last = points.last().map(|(t, v)| (t.0, *v));
    let mut recent: Vec<f64> = points
        .iter()
        .filter(|(t, _)| t.0 >= p95_from)
        .map(|(_, v)| *v)
        .collect();
    let trend = last.map(|(end, _)| {
        let start = end.saturating_sub(Trend::reach_ms(window_ms));
        Trend::of_points(
            points
                .iter()
                .filter(|(t, _)| t.0 > start)
                .map(|(t, v)| (t.0, *v)),
            window_ms,
        )
    });
    Ok(UseSummary {
        last,
        p95: percentile(&mut recent, 0.95),
        p5: percentile(&mut recent, 0.05),
        trend,
    })
}

/// The 95th percentile of `series` of `asset` over [`P95_DAYS`] before `now`.
fn p95(
    store: &Store,
    asset: &str,
    series: &str,
    now: Timestamp,
) -> Result<Option<f64>, StoreError> {
    Ok(read_use(store, asset, series, now, 0)?.p95)
}

fn days_ms(days: u64) -> i64 {
    i64::try_from(days)
        .unwrap_or(i64::MAX)
        .saturating_mul(MS_PER_DAY)
}

/// The assets of `scope`, with their inventories.
/// The ids of the assets of `scope`.
fn asset_ids(store: &Store, scope: &Scope) -> Result<Vec<String>, StoreError> {
    let filter = AssetFilter {
        tag: scope.tag.clone(),
        limit: usize::MAX,
        ..AssetFilter::default()
    };
    Ok(store
        .assets(&filter)?
        .items
        .into_iter()
        .filter(|a| scope.class.is_none_or(|c| c == AssetClass::of_asset(&a.id)))
        .map(|a| a.id)
        .collect())
}

fn assets(store: &Store, scope: &Scope) -> Result<Vec<AssetRecord>, StoreError> {
    let mut out = Vec::new();
    for id in asset_ids(store, scope)? {
        if let Some(rec) = store.asset(&id)? {
            out.push(rec);
        }
    }
    Ok(out)
}

/// What the incident rules know of an asset, for the forecast rule's scope.
fn facts(meta: &AssetMeta, inventory: Option<&Inventory>) -> AssetFacts {
    AssetFacts {
        hostname: meta.hostname.clone(),
        tags: meta.tags.clone(),
        os_id: meta.os_id.clone(),
        kind: AssetKind::of(
            &inventory
                .map(|i| i.host.virtualization.clone())
                .unwrap_or_default(),
        ),
    }
}

/// The capacity report: every resource of the assets of `scope`, most
/// urgent first. `rules` give the forecast windows (see
/// [`ForecastSettings::for_series`]); `window_hours` replaces them all.
pub fn usage_report(
    store: &Store,
    rules: &RuleSet,
    scope: &Scope,
    window_hours: Option<u64>,
    now: Timestamp,
) -> Result<UsageReport, StoreError> {
    let wanted = Wanted {
        window_hours,
        resource: None,
        reading: Reading::Full,
    };
    fleet_rows(store, rules, scope, &wanted, now)
}

/// The forecast of every `resource` of the assets of `scope` (which
/// filesystems fill first): the capacity report's rows of that resource,
/// with the same lines and dates, but without the 95th percentile and
/// headroom, which take a month of rollups to read where the forecast
/// takes the hours of its window.
pub fn forecast_report(
    store: &Store,
    rules: &RuleSet,
    scope: &Scope,
    resource: Resource,
    window_hours: Option<u64>,
    now: Timestamp,
) -> Result<UsageReport, StoreError> {
    let wanted = Wanted {
        window_hours,
        resource: Some(resource),
        reading: Reading::Forecast,
    };
    fleet_rows(store, rules, scope, &wanted, now)
}

/// What a fleet's rows are made of.
struct Wanted {
    /// Replaces every forecast rule's window.
    window_hours: Option<u64>,
    /// Only this resource.
    resource: Option<Resource>,
    /// With or without percentiles.
    reading: Reading,
}

fn fleet_rows(
    store: &Store,
    rules: &RuleSet,
    scope: &Scope,
    wanted: &Wanted,
    now: Timestamp,
) -> Result<UsageReport, StoreError> {
    let ids = asset_ids(store, scope)?;
    // The assets are read in turns by as many threads as there are cores:
    // each reads whole assets (a read transaction each), so they share
    // nothing but the store's file.
    let workers = std::thread::available_parallelism()
        .map_or(1, std::num::NonZeroUsize::get)
        .clamp(1, MAX_WORKERS);
    let per_worker = ids.len().div_ceil(workers).max(1);
    let parts: Vec<Result<Vec<UsageRow>, StoreError>> = std::thread::scope(|scope| {
        let handles: Vec<_> = ids
            .chunks(per_worker)
            .map(|chunk| {
                scope.spawn(move || {
                    let mut rows = Vec::new();
                    for id in chunk {
                        if let Some(rec) = store.asset(id)? {
                            asset_rows(store, rules, wanted, now, rec, &mut rows)?;
                        }
                    }
                    Ok(rows)
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| {
                h.join()
                    .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
            })
            .collect()
    });
    let mut rows = Vec::new();
    for part in parts {
        rows.extend(part?);
    }
    usage::rank(&mut rows);
    Ok(UsageReport {
        as_of: day(now),
        p95_days: P95_DAYS,
        rows,
    })
}

/// The report's rows of one asset, added to `rows`.
fn asset_rows(
    store: &Store,
    rules: &RuleSet,
    want: &Wanted,
    now: Timestamp,
    AssetRecord { meta, inventory }: AssetRecord,
    rows: &mut Vec<UsageRow>,
) -> Result<(), StoreError> {
    let window_hours = want.window_hours;
    let class = AssetClass::of_asset(&meta.id);
    let asset_facts = facts(&meta, inventory.as_ref());
    let names = store.series_names(&meta.id)?;
    let has = |name: &str| names.iter().any(|n| n == name);
    let resource = |resource, subject: &str, series: Option<String>, size| ResourceFacts {
        asset_id: meta.id.clone(),
        hostname: meta.hostname.clone(),
        class,
        resource,
        subject: subject.to_owned(),
        series,
        size,
    };
    let mut wanted: Vec<ResourceFacts> = Vec::new();
    match class {
        AssetClass::Host => {
            let inv = inventory.clone().unwrap_or_default();
            for name in &names {
                let (metric, mount) = split_series(name);
                if metric != "filesystem.used_percent" {
                    continue;
                }
                let size = inv
                    .storage
                    .filesystems
                    .iter()
                    .find(|f| f.mount_point == mount)
                    .and_then(|f| f.total_bytes)
                    .map(|b| (b as f64, SizeUnit::Bytes));
                wanted.push(resource(
                    Resource::Filesystem,
                    mount,
                    Some(name.clone()),
                    size,
                ));
            }
            let memory = inv.hardware.memory;
            if has("memory.available_bytes") && has("memory.total_bytes") {
                let size = (memory.total_bytes > 0)
                    .then_some((memory.total_bytes as f64, SizeUnit::Bytes));
                let series = Some("memory.used_percent".to_owned());
                wanted.push(resource(Resource::Memory, "", series, size));
            }
            if has("swap.used_bytes") && memory.swap_total_bytes > 0 {
                let size = Some((memory.swap_total_bytes as f64, SizeUnit::Bytes));
                let series = Some("swap.used_percent".to_owned());
                wanted.push(resource(Resource::Swap, "", series, size));
            }
            if has("cpu.total_percent") {
                let threads = inv.hardware.cpu.logical_cores;
                let size = (threads > 0).then_some((f64::from(threads), SizeUnit::Cpus));
                let series = Some("cpu.total_percent".to_owned());
                wanted.push(resource(Resource::Cpu, "", series, size));
            }
        }
        AssetClass::NetworkDevice => {
            let inv = store.device_inventory(&meta.id)?.unwrap_or_default();
            for name in &names {
                let (metric, port) = split_series(name);
                let direction = match metric {
                    IN_UTILISATION_PERCENT => "in",
                    OUT_UTILISATION_PERCENT => "out",
                    _ => continue,
                };
                let size = inv
                    .interfaces
                    .iter()
                    .find(|i| i.name == port)
                    .and_then(|i| i.speed_bps)
                    .filter(|s| *s > 0)
                    .map(|s| (s as f64, SizeUnit::BitsPerSecond));
                let subject = format!("{port} {direction}");
                wanted.push(resource(
                    Resource::Interface,
                    &subject,
                    Some(name.clone()),
                    size,
                ));
            }
            let polled = meta.inventory_at.map(|t| t.0);
            let areas = match want.resource {
                None | Some(Resource::DeviceStorage) => inv.storage.as_slice(),
                Some(_) => &[],
            };
            for area in areas.iter().filter(|s| s.size_bytes > 0) {
                let facts = resource(
                    Resource::DeviceStorage,
                    &area.descr,
                    None,
                    Some((area.size_bytes as f64, SizeUnit::Bytes)),
                );
                let used = area.used_bytes as f64 * 100.0 / area.size_bytes as f64;
                let summary = UseSummary {
                    last: polled.map(|t| (t, used)),
                    p95: None,
                    p5: None,
                    trend: None,
                };
                let settings = ForecastSettings::for_series(rules, &asset_facts, "", window_hours);
                rows.push(usage::row(facts, &summary, &settings, now.0));
            }
        }
    }
    if let Some(only) = want.resource {
        wanted.retain(|f| f.resource == only);
    }
    let settings: Vec<ForecastSettings> = wanted
        .iter()
        .map(|f| {
            let series = f.series.as_deref().unwrap_or_default();
            ForecastSettings::for_series(rules, &asset_facts, series, window_hours)
        })
        .collect();
    let reads: Vec<(&str, i64)> = wanted
        .iter()
        .zip(&settings)
        .map(|(f, s)| (f.series.as_deref().unwrap_or_default(), s.window_ms))
        .collect();
    let summaries = match want.reading {
        Reading::Full => read_uses(store, &meta.id, &reads, now)?,
        Reading::Forecast => read_forecasts(store, &meta.id, &reads, now)?,
    };
    for ((facts, settings), summary) in wanted.into_iter().zip(&settings).zip(&summaries) {
        rows.push(usage::row(facts, summary, settings, now.0));
    }
    Ok(())
}

fn day(now: Timestamp) -> Day {
    Day::of_ms_saturating(now.0)
}

/// Installed capacity of the assets of `scope`, grouped `by`.
pub fn installed_report(
    store: &Store,
    scope: &Scope,
    by: GroupBy,
    now: Timestamp,
) -> Result<InstalledReport, StoreError> {
    let mut all = Vec::new();
    for AssetRecord { meta, inventory } in assets(store, scope)? {
        let a = match AssetClass::of_asset(&meta.id) {
            AssetClass::Host => host_capacity(store, &meta, inventory.as_ref(), now)?,
            AssetClass::NetworkDevice => {
                let inv = store.device_inventory(&meta.id)?.unwrap_or_default();
                device_capacity(store, &meta, &inv, now)?
            }
        };
        all.push(a);
    }
    Ok(installed::report(&all, by, day(now)))
}

/// Whether a host interface counts as installed bandwidth: a physical one, up, with a speed.
fn counted(i: &Interface) -> Option<u64> {
    (i.kind == InterfaceKind::Physical && i.state == "up")
        .then_some(i.speed_mbps)
        .flatten()
        .map(|mbps| u64::from(mbps) * 1_000_000)
}

fn host_capacity(
    store: &Store,
    meta: &AssetMeta,
    inventory: Option<&Inventory>,
    now: Timestamp,
) -> Result<AssetCapacity, StoreError> {
    let inv = inventory.cloned().unwrap_or_default();
    let hw = &inv.hardware;
    let id = meta.id.as_str();
    let names = store.series_names(id)?;
    let has = |name: &str| names.iter().any(|n| n == name);
    let cpu_p95 = if has("cpu.total_percent") {
        p95(store, id, "cpu.total_percent", now)?
    } else {
        None
    };
    let memory_p95 = if has("memory.available_bytes") {
        p95(store, id, "memory.used_percent", now)?
    } else {
        None
    };
    // Local filesystems only: a network share's use is not this host's disk.
    let mut disk_used: Option<f64> = None;
    for fs in inv
        .storage
        .filesystems
        .iter()
        .filter(|f| f.device.starts_with("/dev/"))
    {
        let series = format!("filesystem.used_bytes{{mount={}}}", fs.mount_point);
        if has(&series)
            && let Some(used) = p95(store, id, &series, now)?
        {
            *disk_used.get_or_insert(0.0) += used;
        }
    }
    let mut bandwidth = 0;
    let mut traffic: Option<f64> = None;
    for i in &inv.network.interfaces {
        let Some(speed) = counted(i) else { continue };
        bandwidth += speed;
        let mut busier: Option<f64> = None;
        for metric in ["network.rx_bytes_per_second", "network.tx_bytes_per_second"] {
            let series = format!("{metric}{{interface={}}}", i.name);
            if has(&series)
                && let Some(bytes) = p95(store, id, &series, now)?
            {
                busier = Some(busier.map_or(bytes * 8.0, |b: f64| b.max(bytes * 8.0)));
            }
        }
        if let Some(b) = busier {
            *traffic.get_or_insert(0.0) += b;
        }
    }
    let model = [&hw.system.vendor, &hw.system.product]
        .into_iter()
        .flatten()
        .map(|s| s.trim())
        .filter(|s| !s.is_empty())
        .collect::<Vec<_>>()
        .join(" ");
    Ok(AssetCapacity {
        asset_id: meta.id.clone(),
        class: Some(AssetClass::Host),
        tags: meta.tags.clone(),
        os: meta.os.clone(),
        model: (!model.is_empty()).then_some(model),
        location: None,
        cpus: u64::from(hw.cpu.sockets),
        cores: u64::from(hw.cpu.physical_cores),
        threads: u64::from(hw.cpu.logical_cores),
        memory_bytes: hw.memory.total_bytes,
        disk_bytes: inv
            .storage
            .disks
            .iter()
            .filter(|d| !d.removable)
            .map(|d| d.size_bytes)
            .sum(),
        bandwidth_bps: bandwidth,
        cpu_p95_percent: cpu_p95,
        memory_p95_percent: memory_p95,
        disk_used_p95_bytes: disk_used,
        bandwidth_p95_bps: traffic,
    })
}

fn device_capacity(
    store: &Store,
    meta: &AssetMeta,
    inv: &DeviceInventory,
    now: Timestamp,
) -> Result<AssetCapacity, StoreError> {
    let id = meta.id.as_str();
    let names = store.series_names(id)?;
    let has = |name: &str| names.iter().any(|n| n == name);
    let mut bandwidth = 0;
    let mut traffic: Option<f64> = None;
    for i in inv
        .interfaces
        .iter()
        .filter(|i| i.oper_status == OperStatus::Up)
    {
        let Some(speed) = i.speed_bps.filter(|s| *s > 0) else {
            continue;
        };
        bandwidth += speed;
        let mut busier: Option<f64> = None;
        for metric in [IN_BITS_PER_SECOND, OUT_BITS_PER_SECOND] {
            let series = format!("{metric}{{if={}}}", i.name);
            if has(&series)
                && let Some(bits) = p95(store, id, &series, now)?
            {
                busier = Some(busier.map_or(bits, |b: f64| b.max(bits)));
            }
        }
        if let Some(b) = busier {
            *traffic.get_or_insert(0.0) += b;
        }
    }
    let bytes_of = |kinds: &[StorageKind]| -> u64 {
        inv.storage
            .iter()
            .filter(|s| kinds.contains(&s.kind))
            .map(|s| s.size_bytes)
            .sum()
    };
    let chassis = inv
        .entities
        .iter()
        .find(|e| e.class == EntityClass::Chassis && !e.model.trim().is_empty())
        .map(|e| e.model.trim().to_owned());
    let model = match (inv.system.vendor.as_deref(), chassis) {
        (Some(v), Some(m)) => Some(format!("{v} {m}")),
        (None, Some(m)) => Some(m),
        (Some(v), None) => Some(v.to_owned()),
        (None, None) => None,
    };
    let processors = inv.processors.len() as u64;
    Ok(AssetCapacity {
        asset_id: meta.id.clone(),
        class: Some(AssetClass::NetworkDevice),
        tags: meta.tags.clone(),
        os: device_model(inv),
        model,
        location: Some(inv.system.location.clone()),
        cpus: 0,
        cores: processors,
        threads: processors,
        memory_bytes: bytes_of(&[StorageKind::Ram]),
        disk_bytes: bytes_of(&[StorageKind::FixedDisk, StorageKind::FlashMemory]),
        bandwidth_bps: bandwidth,
        cpu_p95_percent: None,
        memory_p95_percent: None,
        disk_used_p95_bytes: None,
        bandwidth_p95_bps: traffic,
    })
}

/// Renewal planning for the assets of `scope`: support ending within `months`.
pub fn renewal_report(
    store: &Store,
    table: &EolTable,
    scope: &Scope,
    months: u32,
    now: Timestamp,
) -> Result<RenewalReport, StoreError> {
    let mut all = Vec::new();
    for AssetRecord { meta, inventory } in assets(store, scope)? {
        let class = AssetClass::of_asset(&meta.id);
        let mut a = AssetAge {
            asset_id: meta.id.clone(),
            hostname: meta.hostname.clone(),
            class: Some(class),
            ..AssetAge::default()
        };
        match (class, &inventory) {
            (AssetClass::Host, Some(inv)) => {
                let system = &inv.hardware.system;
                let model = [&system.vendor, &system.product]
                    .into_iter()
                    .flatten()
                    .map(|s| s.trim())
                    .filter(|s| !s.is_empty())
                    .collect::<Vec<_>>()
                    .join(" ");
                a.model = (!model.is_empty()).then_some(model);
                a.os_id = inv.os.id.clone();
                a.os_version = inv.os.version_id.clone();
                a.os_name = inv.os.pretty_name.clone().or(meta.os.clone());
                a.firmware_date = inv.hardware.bios.date.clone();
            }
            (AssetClass::NetworkDevice, _) => {
                let inv = store.device_inventory(&meta.id)?.unwrap_or_default();
                a.os_name = device_model(&inv);
                a.model = inv.system.vendor.clone();
            }
            (AssetClass::Host, None) => {}
        }
        all.push(a);
    }
    Ok(renewal::report(&all, table, day(now), months))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::forecast::DEFAULT_MIN_R2;
    use crate::store::testutil::{metrics, sample, temp_store};
    use atalaya_common::model::{HealthSample, MemoryUsage};

    const HOUR: i64 = 3_600_000;
    const SERIES: &str = "cpu.total_percent";

    #[test]
    fn rollups_give_the_raw_points_figures() {
        let (_dir, store) = temp_store();
        // Every 10 s for three and a half days, growing 6 a day with
        // noise; the newest points stay in an open block.
        let t0 = 1_800_000_004_321;
        let n = 7 * 4320;
        let points: Vec<(i64, f64)> = (0..n)
            .map(|i| {
                let t = t0 + i * 10_000;
                let noise = ((i * 7919) % 101) as f64 / 100.0 - 0.5;
                let v = 20.0 + 6.0 * (t - t0) as f64 / 86_400_000.0 + noise;
                (t, (v * 1000.0).round() / 1000.0)
            })
            .collect();
        for (k, chunk) in points.chunks(360).enumerate() {
            let samples = chunk.iter().map(|&(t, v)| sample(t, v)).collect();
            store
                .commit(&[metrics("ag", k as u64 + 1, samples)])
                .unwrap();
        }
        let asset = store.agent_asset_id("ag").unwrap().unwrap();
        let last = *points.last().unwrap();
        let now = Timestamp(last.0 + HOUR);
        assert!(
            !store
                .open_points(&asset, SERIES, Timestamp(t0), now)
                .unwrap()
                .is_empty()
        );
        for hours in [72, 12] {
            let window = hours * HOUR;
            let rolled = read_use(&store, &asset, SERIES, now, window).unwrap();
            let raw = read_raw(&store, &asset, SERIES, now, window).unwrap();
            assert_eq!(rolled.last, Some(last));
            assert_eq!(raw.last, Some(last));
            let (a, b) = (rolled.p95.unwrap(), raw.p95.unwrap());
            assert!((a - b).abs() <= b * 0.0101, "p95 {a} vs {b}");
            let fit = |s: &UseSummary| s.trend.as_ref().unwrap().fit(now.0, window).unwrap();
            let (a, b) = (fit(&rolled), fit(&raw));
            let full =
                |f: crate::forecast::Fit| f.outlook(100.0, DEFAULT_MIN_R2).full_at(now.0).unwrap();
            let apart = (full(a) - full(b)).abs();
            assert!(apart < 10 * 60_000, "{hours} h: {apart} ms: {a:?} {b:?}");
            if hours == 12 {
                // A window of buckets under an hour reads the raw points.
                assert_eq!(a, b);
            }
        }
        // A series never stored has nothing.
        let none = read_use(&store, &asset, "cpu.nothing", now, 72 * HOUR).unwrap();
        assert_eq!(none, UseSummary::default());

        // The forecast reads the same newest point and line without the
        // month of percentiles, also of a series silent for ten days.
        for now in [now, Timestamp(now.0 + 240 * HOUR)] {
            for hours in [72, 12] {
                let window = hours * HOUR;
                let full = read_use(&store, &asset, SERIES, now, window).unwrap();
                let wanted = [(SERIES, window), ("cpu.nothing", window)];
                let got = read_forecasts(&store, &asset, &wanted, now).unwrap();
                assert_eq!(got[0].last, full.last);
                assert_eq!(got[0].trend, full.trend, "{hours} h");
                assert!(got[0].trend.is_some());
                assert_eq!((got[0].p95, got[0].p5), (None, None));
                assert_eq!(got[1], UseSummary::default());
            }
        }
    }

    #[test]
    fn memory_from_the_rollups_of_what_is_available_is_the_raw_percentage() {
        let (_dir, store) = temp_store();
        // 16 GiB; every 10 s for three days, the memory available shrinking
        // by 1 GiB a day with noise (memory used: growing), swap growing.
        const TOTAL: u64 = 16 << 30;
        let t0 = 1_800_000_004_321;
        let n = 3 * 8640;
        let at = |i: i64| t0 + i * 10_000;
        let samples: Vec<HealthSample> = (0..n)
            .map(|i| {
                let noise = ((i * 7919) % 101) as u64 * (4 << 20);
                let days = (at(i) - t0) as f64 / 86_400_000.0;
                let available = (12u64 << 30) - (days * (1u64 << 30) as f64) as u64 - noise;
                HealthSample {
                    memory: MemoryUsage {
                        total_bytes: TOTAL,
                        available_bytes: available,
                        used_bytes: TOTAL - available,
                        swap_total_bytes: 4 << 30,
                        swap_used_bytes: (days * (256u64 << 20) as f64) as u64 + noise / 8,
                        ..MemoryUsage::default()
                    },
                    ..sample(at(i), 10.0)
                }
            })
            .collect();
        for (k, chunk) in samples.chunks(360).enumerate() {
            store
                .commit(&[metrics("ag", k as u64 + 1, chunk.to_vec())])
                .unwrap();
        }
        let asset = store.agent_asset_id("ag").unwrap().unwrap();
        let now = Timestamp(at(n - 1) + HOUR);
        let window = 48 * HOUR;
        for series in ["memory.used_percent", "swap.used_percent"] {
            let rolled = read_use(&store, &asset, series, now, window).unwrap();
            let raw = read_raw(&store, &asset, series, now, window).unwrap();
            let (a, b) = (rolled.last.unwrap(), raw.last.unwrap());
            assert_eq!(a.0, b.0, "{series}");
            assert!((a.1 - b.1).abs() < 1e-9, "{series}: last {a:?} vs {b:?}");
            let (a, b) = (rolled.p95.unwrap(), raw.p95.unwrap());
            assert!((a - b).abs() <= b * 0.0101, "{series}: p95 {a} vs {b}");
            let fit = |s: &UseSummary| s.trend.as_ref().unwrap().fit(now.0, window).unwrap();
            let (a, b) = (fit(&rolled), fit(&raw));
            assert!(a.slope_per_second > 0.0, "{series}: {a:?}");
            let per_day = |f: crate::forecast::Fit| f.slope_per_second * 86_400.0;
            assert!(
                (per_day(a) - per_day(b)).abs() < per_day(b) * 0.01,
                "{series}: {a:?} vs {b:?}"
            );
        }
    }
}
