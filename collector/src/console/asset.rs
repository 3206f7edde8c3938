//! One asset's page: its summary, hardware, software (with a search box),
//! network and storage, as now or as of a past day; its health charts over
//! a chosen range; its change history as a timeline, a page at a time; its
//! incidents, user reports and gaps. A network device's page shows its
//! device inventory: summary and interfaces.

use std::sync::Arc;

use atalaya_common::format;
use atalaya_common::model::{Inventory, Timestamp};
use axum::Router;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::routing::get;
use maud::{Markup, html};
use serde::Deserialize;

use super::assets::{kind_of, parse_when, status_class};
use super::auth::Person;
use super::charts::{self, Chart, Line, Unit};
use super::layout::{self, Section};
use super::{ConsoleState, PageError, PageResult, blocking};
use crate::api::devices::{DeviceDetail, device_detail};
use crate::desk::metrics::read_series_aggs;
use crate::helpers::pattern::glob;
use crate::helpers::series::split_series;
use crate::records::device::DEVICE_ASSET_PREFIX;
use crate::records::incident::IncidentRecord;
use crate::records::rollup::{Aggregation, Tier};
use crate::store::{
    AgentRecord, AssetRecord, ChangeEvent, GapRecord, IncidentFilter, Missing, ReportRecord, Store,
    StoreError,
};
use atalaya_common::model::device::series::{
    IN_BITS_PER_SECOND, OUT_BITS_PER_SECOND, SNMP_RESPONSE_MS, interface_series,
};

/// Change events per page of the timeline.
pub const CHANGES_PER_PAGE: usize = 20;
/// Packages listed at most; the search box finds the others.
pub const MAX_PACKAGES: usize = 400;
/// Past incidents, reports and gaps listed at most (the newest).
const MAX_PAST: usize = 20;
/// Filesystem and interface charts at most.
const MAX_FS_CHARTS: usize = 8;
const MAX_NET_CHARTS: usize = 6;
/// Probe targets drawn, each a line of the one probe chart.
const MAX_PROBE_LINES: usize = 2;
/// A device's interfaces read to find its busiest ones (a chassis may have
/// hundreds; past these the page would wait on them).
const MAX_INTERFACES_READ: usize = 96;
/// Longest before or after value shown in the timeline, in characters.
const MAX_VALUE_CHARS: usize = 200;

pub(super) fn routes() -> Router<ConsoleState> {
    Router::new().route("/assets/{id}", get(page))
}

/// The range of the health charts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Range {
    /// The last hour.
    Hour,
    /// The last day.
    Day,
    /// The last week.
    Week,
    /// The last 30 days.
    Month,
    /// The last year.
    Year,
}

impl Range {
    const ALL: [Range; 5] = [
        Range::Hour,
        Range::Day,
        Range::Week,
        Range::Month,
        Range::Year,
    ];

    fn parse(v: Option<&str>) -> PageResult<Range> {
        match v.map(str::trim).unwrap_or("") {
            "" | "24h" => Ok(Range::Day),
            "1h" => Ok(Range::Hour),
            "7d" => Ok(Range::Week),
            "30d" => Ok(Range::Month),
            "1y" => Ok(Range::Year),
            other => Err(PageError::Bad(format!(
                "range: `{other}` is not one of 1h, 24h, 7d, 30d, 1y"
            ))),
        }
    }

    fn name(self) -> &'static str {
        match self {
            Range::Hour => "1h",
            Range::Day => "24h",
            Range::Week => "7d",
            Range::Month => "30d",
            Range::Year => "1y",
        }
    }

    /// Its length, ms.
    pub fn span_ms(self) -> i64 {
        const H: i64 = 3_600_000;
        match self {
            Range::Hour => H,
            Range::Day => 24 * H,
            Range::Week => 7 * 24 * H,
            Range::Month => 30 * 24 * H,
            Range::Year => 365 * 24 * H,
        }
    }

    /// The step of its charts, ms: a whole number of the buckets of the
    /// tier that answers it, for at most [`charts::MAX_POINTS`] points.
    pub fn step_ms(self) -> i64 {
        const M: i64 = 60_000;
        match self {
            Range::Hour => M / 4,        // 240 points
            Range::Day => 5 * M,         // 288
            Range::Week => 60 * M,       // 168
            Range::Month => 3 * 60 * M,  // 240
            Range::Year => 2 * 1440 * M, // 183
        }
    }
}

#[derive(Debug, Default, Deserialize)]
struct AssetQuery {
    as_of: Option<String>,
    sw: Option<String>,
    range: Option<String>,
    changes: Option<String>,
}

/// The page's parameters, to build links that keep the others.
#[derive(Debug, Clone)]
struct Params {
    id: String,
    as_of: Option<String>,
    sw: Option<String>,
    range: Range,
    changes: usize,
}

impl Params {
    fn href(&self, change: impl FnOnce(&mut Params)) -> String {
        let mut p = self.clone();
        change(&mut p);
        let mut pairs = Vec::new();
        if let Some(a) = &p.as_of {
            pairs.push(format!("as_of={}", layout::query_value(a)));
        }
        if let Some(s) = &p.sw {
            pairs.push(format!("sw={}", layout::query_value(s)));
        }
        if p.range != Range::Day {
            pairs.push(format!("range={}", p.range.name()));
        }
        if p.changes > 0 {
            pairs.push(format!("changes={}", p.changes));
        }
        let path = format!("/assets/{}", layout::query_value(&p.id));
        if pairs.is_empty() {
            path
        } else {
            format!("{path}?{}", pairs.join("&"))
        }
    }

    /// Hidden fields carrying the parameters a form does not set.
    fn hidden(&self, except: &str) -> Markup {
        html! {
            @if except != "as_of" { @if let Some(a) = &self.as_of { input type="hidden" name="as_of" value=(a); } }
            @if except != "sw" { @if let Some(s) = &self.sw { input type="hidden" name="sw" value=(s); } }
            @if except != "range" && self.range != Range::Day { input type="hidden" name="range" value=(self.range.name()); }
        }
    }
}

/// Everything the page shows, read in one go.
struct Loaded {
    rec: AssetRecord,
    /// The inventory shown: now's, or as of the time asked.
    inventory: Option<Inventory>,
    as_of: Option<Timestamp>,
    agents: Vec<(AgentRecord, &'static str)>,
    /// Per agent: the policies it is to run, and what it said it runs.
    policies: Vec<AgentPolicyLine>,
    incidents: Vec<IncidentRecord>,
    reports: Vec<ReportRecord>,
    gaps: Vec<GapRecord>,
    changes: Vec<ChangeEvent>,
    changes_total: usize,
    charts: Vec<Chart>,
    tier: Option<Tier>,
    device: Option<DeviceDetail>,
}

/// Finds an asset by id, then as a merged device's old id, then by host
/// name, as the API does.
fn resolve(s: &Store, key: &str) -> Result<Option<AssetRecord>, StoreError> {
    if let Some(a) = s.asset(key)? {
        return Ok(Some(a));
    }
    match s.merged_device_asset(key)? {
        Some(id) => s.asset(&id),
        None => s.asset_by_hostname(key),
    }
}

async fn page(
    State(state): State<ConsoleState>,
    me: Person,
    Path(key): Path<String>,
    q: Result<Query<AssetQuery>, QueryRejection>,
) -> PageResult<Markup> {
    let Query(q) = q.map_err(|e| PageError::Bad(format!("the query does not parse: {e}")))?;
    let now = Timestamp::now();
    let nonempty = |v: Option<String>| v.map(|s| s.trim().to_owned()).filter(|s| !s.is_empty());
    let as_of_text = nonempty(q.as_of);
    let as_of = as_of_text
        .as_deref()
        .map(|v| parse_when("as_of", v, now, true))
        .transpose()?;
    let range = Range::parse(q.range.as_deref())?;
    let changes = match nonempty(q.changes) {
        None => 0,
        Some(v) => v
            .parse::<usize>()
            .map_err(|_| PageError::Bad(format!("changes: `{v}` is not a whole number")))?,
    };
    let sw = nonempty(q.sw);
    let admin = Arc::clone(&state.api.admin);
    let k = key.clone();
    let loaded = blocking(&state, move |s| {
        let Some(rec) = resolve(s, &k)? else {
            return Ok(None);
        };
        let id = rec.meta.id.clone();
        let inventory = match as_of {
            Some(at) => s.inventory_as_of(&id, at)?,
            None => rec.inventory.clone(),
        };
        let silent_after = admin.silent_after();
        let mut agents = Vec::new();
        for a in &rec.meta.agent_ids {
            if let Some(r) = s.agent(a)? {
                let st = crate::api::agent_status(&r, admin.is_connected(a), silent_after, now);
                agents.push((r, st));
            }
        }
        let mut policies = Vec::new();
        // One asset, one host name and set of tags: one answer for all its agents.
        let wanted = admin
            .agent_policy_for(&rec.meta.hostname, &rec.meta.tags)
            .policies;
        for (a, _) in &agents {
            let report = s.policy_report(&a.id)?;
            if !wanted.is_empty() || report.is_some() {
                policies.push(AgentPolicyLine {
                    agent: a.id.clone(),
                    wanted: wanted.clone(),
                    report,
                });
            }
        }
        let incidents = s.incidents(&IncidentFilter {
            asset: Some(id.clone()),
            ..IncidentFilter::default()
        })?;
        let mut reports = s.reports(&id)?;
        reports.sort_by_key(|r| std::cmp::Reverse(r.received_at));
        reports.truncate(MAX_PAST);
        let mut gaps = s.gaps(&id)?;
        gaps.reverse();
        gaps.truncate(MAX_PAST);
        let (changes, changes_total) = s.asset_changes_newest(&id, changes, CHANGES_PER_PAGE)?;
        let device = if id.starts_with(DEVICE_ASSET_PREFIX) {
            let name = s
                .device_primary(&id)?
                .unwrap_or_else(|| id[DEVICE_ASSET_PREFIX.len()..].to_owned());
            device_detail(s, &name, now)?
        } else {
            None
        };
        let (charts, tier) = health_charts(s, &id, range, now)?;
        Ok(Some(Loaded {
            rec,
            inventory,
            as_of,
            agents,
            policies,
            incidents,
            reports,
            gaps,
            changes,
            changes_total,
            charts,
            tier,
            device,
        }))
    })
    .await?
    .ok_or_else(|| PageError::NotFound(format!("no asset has the id or host name `{key}`")))?;
    let params = Params {
        id: loaded.rec.meta.id.clone(),
        as_of: as_of_text,
        sw,
        range,
        changes,
    };
    let title = loaded.rec.meta.hostname.clone();
    let body = match &loaded.device {
        Some(d) => device_body(&loaded, d, &params),
        None => host_body(&loaded, &params),
    };
    Ok(layout::page(&me, Section::Assets, &title, body))
}

/// The charts of a host over `range`: CPU, memory, each filesystem, each
/// network interface (but loopback); and the tier that answered.
fn health_charts(
    s: &Store,
    asset: &str,
    range: Range,
    now: Timestamp,
) -> Result<(Vec<Chart>, Option<Tier>), StoreError> {
    let to = now.0;
    let from = to - range.span_ms();
    let step = range.step_ms();
    let names = s.series_names(asset)?;
    let mut tier = None;
    // Each step's average, and its minimum to maximum as the band.
    let mut banded = |name: &str| -> Result<Line, StoreError> {
        let (t, lists) = read_series_aggs(
            s,
            asset,
            name,
            from,
            to,
            Some(step),
            &[Aggregation::Avg, Aggregation::Min, Aggregation::Max],
        )?;
        tier = Some(t);
        let mut it = lists.into_iter();
        let points = it.next().unwrap_or_default();
        let mins = it.next().unwrap_or_default();
        let maxs = it.next().unwrap_or_default();
        let band: Vec<(i64, f64, f64)> = mins
            .iter()
            .zip(&maxs)
            .filter(|(a, b)| a.0 == b.0)
            .map(|(a, b)| (a.0, a.1, b.1))
            .collect();
        let spread = band.iter().any(|b| b.1 < b.2);
        Ok(Line {
            label: String::new(),
            points,
            band: if spread { band } else { Vec::new() },
        })
    };
    let has = |n: &str| names.iter().any(|x| x == n);
    let chart = |title: String, unit: Unit, lines: Vec<Line>| Chart {
        title,
        unit,
        from,
        to,
        step_ms: step,
        lines,
    };
    // Each step's average alone, as one labelled line of a chart.
    let avg = |series: &str, label: String, tier: &mut Option<Tier>| -> Result<Line, StoreError> {
        let (t, mut lists) =
            read_series_aggs(s, asset, series, from, to, Some(step), &[Aggregation::Avg])?;
        *tier = Some(t);
        Ok(Line {
            label,
            points: lists.pop().unwrap_or_default(),
            band: Vec::new(),
        })
    };
    let mut charts = Vec::new();
    if has("cpu.total_percent") {
        let l = banded("cpu.total_percent")?;
        charts.push(chart("CPU used (%)".into(), Unit::Percent, vec![l]));
    }
    // Memory used is kept in bytes: a percentage of the step's total.
    if has("memory.used_bytes") && has("memory.total_bytes") {
        let used = banded("memory.used_bytes")?;
        let total = banded("memory.total_bytes")?;
        let totals: std::collections::HashMap<i64, f64> =
            total.points.iter().copied().filter(|p| p.1 > 0.0).collect();
        let pct = |t: i64, v: f64| totals.get(&t).map(|tot| v / tot * 100.0);
        let l = Line {
            label: String::new(),
            points: used
                .points
                .iter()
                .filter_map(|&(t, v)| Some((t, pct(t, v)?)))
                .collect(),
            band: used
                .band
                .iter()
                .filter_map(|&(t, lo, hi)| Some((t, pct(t, lo)?, pct(t, hi)?)))
                .collect(),
        };
        charts.push(chart("Memory used (%)".into(), Unit::Percent, vec![l]));
    }
    // A network device: how fast it answers its poller.
    if has(SNMP_RESPONSE_MS) {
        let l = banded(SNMP_RESPONSE_MS)?;
        charts.push(chart("Answer to polls".into(), Unit::Milliseconds, vec![l]));
    }
    let labelled = |metric: &str| -> Vec<String> {
        names
            .iter()
            .filter(|n| split_series(n).0 == metric && n.contains('{'))
            .map(|n| split_series(n).1.to_owned())
            .collect()
    };
    for mount in labelled("filesystem.used_percent")
        .into_iter()
        .take(MAX_FS_CHARTS)
    {
        let l = banded(&format!("filesystem.used_percent{{mount={mount}}}"))?;
        charts.push(chart(
            format!("Filesystem {mount} used (%)"),
            Unit::Percent,
            vec![l],
        ));
    }
    for nic in labelled("network.rx_bytes_per_second")
        .into_iter()
        .filter(|n| n != "lo")
        .take(MAX_NET_CHARTS)
    {
        let mut lines = Vec::new();
        for (dir, metric) in [
            ("received", "network.rx_bytes_per_second"),
            ("sent", "network.tx_bytes_per_second"),
        ] {
            let series = format!("{metric}{{interface={nic}}}");
            lines.push(avg(&series, dir.into(), &mut tier)?);
        }
        charts.push(chart(format!("Network {nic}"), Unit::BytesPerSecond, lines));
    }
    // Network probes this host runs: round trips, one line per target.
    let mut probe_lines = Vec::new();
    let probes = names
        .iter()
        .filter(|n| split_series(n).0 == "probe.rtt_ms" && n.contains('{'));
    for series in probes.take(MAX_PROBE_LINES) {
        let target = series
            .split_once('{')
            .map_or("", |(_, l)| l.trim_end_matches('}'));
        let label = target.replace("target=", "").replace(",kind=", " ");
        probe_lines.push(avg(series, label, &mut tier)?);
    }
    if !probe_lines.is_empty() {
        charts.push(chart(
            "Probe round trip".into(),
            Unit::Milliseconds,
            probe_lines,
        ));
    }
    // A network device: the traffic of its busiest interfaces over the range.
    let mut interfaces = Vec::new();
    for label in labelled(IN_BITS_PER_SECOND)
        .into_iter()
        .take(MAX_INTERFACES_READ)
    {
        let interface = label;
        let mut lines = Vec::new();
        for (dir, metric) in [("in", IN_BITS_PER_SECOND), ("out", OUT_BITS_PER_SECOND)] {
            lines.push(avg(
                &interface_series(metric, &interface),
                dir.into(),
                &mut tier,
            )?);
        }
        let traffic: f64 = lines.iter().flat_map(|l| &l.points).map(|p| p.1).sum();
        interfaces.push((traffic, interface, lines));
    }
    interfaces.sort_by(|a, b| b.0.total_cmp(&a.0).then_with(|| a.1.cmp(&b.1)));
    for (_, interface, lines) in interfaces.into_iter().take(MAX_NET_CHARTS) {
        charts.push(chart(
            format!("Interface {interface}"),
            Unit::BitsPerSecond,
            lines,
        ));
    }
    Ok((charts, tier))
}

fn opt(v: Option<&str>) -> &str {
    v.filter(|s| !s.trim().is_empty()).unwrap_or("—")
}

fn joined<'a>(parts: impl IntoIterator<Item = Option<&'a str>>) -> Option<String> {
    let s = parts
        .into_iter()
        .flatten()
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .collect::<Vec<_>>()
        .join(" ");
    (!s.is_empty()).then_some(s)
}

fn asset_link(id: &str) -> String {
    format!("/assets/{}", layout::query_value(id))
}

/// The summary: what the asset is, its agents, tags and times.
fn summary(l: &Loaded) -> Markup {
    let m = &l.rec.meta;
    let inv = l.inventory.as_ref();
    let sys = inv.map(|i| &i.hardware.system);
    let model = sys.and_then(|s| joined([s.vendor.as_deref(), s.product.as_deref()]));
    html! {
        section #summary {
            h2 { "Summary" }
            dl.facts {
                dt { "Host name" } dd { (m.hostname) }
                @if let Some(f) = inv.and_then(|i| i.host.fqdn.as_deref()) { dt { "FQDN" } dd { (f) } }
                dt { "Kind" } dd { (kind_of(&m.id)) }
                dt { "Asset id" } dd { code { (m.id) } }
                dt { "Operating system" } dd { (opt(m.os.as_deref())) }
                @if let Some(k) = inv.and_then(|i| i.os.kernel_release.as_deref()) { dt { "Kernel" } dd { (k) } }
                dt { "Model" } dd { (model.as_deref().unwrap_or("—")) }
                dt { "Serial" } dd { (opt(sys.and_then(|s| s.serial.as_deref()))) }
                dt { "Agents" } dd {
                    @if l.agents.is_empty() { "—" }
                    @for (a, st) in &l.agents {
                        span.agent { code { (a.id) } " " (layout::badge(status_class(st), &st.replace('_', " ")))
                            @if !a.agent_version.is_empty() { " v" (a.agent_version) }
                            " · last seen " (layout::when(a.last_seen)) }
                        " "
                    }
                }
                @if !l.policies.is_empty() {
                    dt { "Agent policy" } dd { @for p in &l.policies { (policy_line(p)) " " } }
                }
                dt { "Tags" } dd { @if m.tags.is_empty() { "—" } @for t in &m.tags {
                    a.tag href={ "/assets?tag=" (layout::query_value(t)) } { (t) } " " } }
                dt { "First seen" } dd { (layout::when(Some(m.first_seen))) }
                dt { "Last seen" } dd { (layout::when(Some(m.last_seen))) }
                dt { "Inventory taken" } dd { (layout::when(m.inventory_at)) }
                @if !m.possible_clones.is_empty() {
                    dt { "Possible clones" } dd { @for c in &m.possible_clones {
                        a href=(asset_link(c)) { (c) } " " } }
                }
            }
        }
    }
}

/// An agent's policy as the asset page shows it.
struct AgentPolicyLine {
    agent: String,
    /// `(policy, version)` it is to run now.
    wanted: Vec<(String, u64)>,
    /// What it last said it runs.
    report: Option<crate::store::policies::PolicyReport>,
}

/// `laptops v2, fleet v1 · in force` with the keys the machine's own file
/// pins (and what the policy says of them) and those it refused.
fn policy_line(p: &AgentPolicyLine) -> Markup {
    let names = |l: &[(String, u64)]| {
        if l.is_empty() {
            "none".to_owned()
        } else {
            crate::api::agents::versions(l).join(", ")
        }
    };
    html! {
        span.policy {
            code { (p.agent) } " " (names(&p.wanted))
            @match &p.report {
                None => { " · " (layout::badge("warn", "not reported")) }
                Some(r) if r.policies == p.wanted => { " · " (layout::badge("ok", "in force")) }
                Some(r) => { " · " (layout::badge("warn", "running")) " " (names(&r.policies)) }
            }
            @if let Some(r) = &p.report {
                @for (key, local) in &r.pinned {
                    " · pinned by the machine: " code { (key) " = " (local.to_string()) }
                }
                @for (key, reason) in &r.refused {
                    " · refused: " code { (key) } " (" (reason) ")"
                }
            }
        }
    }
}

fn as_of_form(l: &Loaded, p: &Params) -> Markup {
    html! {
        form.inline.as-of method="get" action=(asset_link(&p.id)) {
            label { "Inventory as of" input type="date" name="as_of" value=(p.as_of.as_deref().unwrap_or("")); }
            (p.hidden("as_of"))
            button type="submit" { "Show" }
            @if let Some(at) = l.as_of {
                span.note { "Showing the inventory as it was at " (layout::when(Some(at))) " (UTC). "
                    a href=(p.href(|p| p.as_of = None)) { "Back to now" } }
            }
        }
    }
}

fn hardware(inv: &Inventory) -> Markup {
    let h = &inv.hardware;
    html! {
        section #hardware {
            h2 { "Hardware" }
            dl.facts {
                dt { "CPU" } dd { (opt(h.cpu.model.as_deref()))
                    " · " (h.cpu.sockets) " socket(s), " (h.cpu.physical_cores) " cores, " (h.cpu.logical_cores) " threads"
                    @if let Some(mhz) = h.cpu.max_mhz { " · up to " (mhz) " MHz" } }
                dt { "Memory" } dd { (format::bytes(h.memory.total_bytes))
                    " · swap " (format::bytes(h.memory.swap_total_bytes)) }
                dt { "Board" } dd { (joined([h.board.vendor.as_deref(), h.board.product.as_deref()]).unwrap_or_else(|| "—".into())) }
                dt { "BIOS" } dd { (joined([h.bios.vendor.as_deref(), h.bios.version.as_deref(), h.bios.date.as_deref()]).unwrap_or_else(|| "—".into())) }
                @if let Some(k) = h.chassis.kind.as_deref() { dt { "Chassis" } dd { (k) } }
            }
            @if !h.memory_modules.is_empty() {
                table {
                    caption { "Memory modules" }
                    thead { tr { th { "Slot" } th.num { "Size" } th { "Type" } th { "Speed" } th { "Maker" } } }
                    tbody { @for m in &h.memory_modules { tr {
                        td { (m.locator) } td.num { (format::bytes(m.size_bytes)) } td { (opt(m.kind.as_deref())) }
                        td { @if let Some(s) = m.speed_mts { (s) " MT/s" } @else { "—" } }
                        td { (opt(m.manufacturer.as_deref())) }
                    } } }
                }
            }
            @if !inv.storage.disks.is_empty() {
                table {
                    caption { "Disks" }
                    thead { tr { th { "Name" } th { "Model" } th { "Serial" } th.num { "Size" } th { "Type" } } }
                    tbody { @for d in &inv.storage.disks { tr {
                        td { (d.name) } td { (joined([d.vendor.as_deref(), d.model.as_deref()]).unwrap_or_else(|| "—".into())) }
                        td { (opt(d.serial.as_deref())) } td.num { (format::bytes(d.size_bytes)) }
                        td { (match d.rotational { Some(true) => "HDD", Some(false) => "SSD", None => "—" })
                            @if d.removable { " (removable)" } }
                    } } }
                }
            }
            @if !h.gpus.is_empty() {
                table {
                    caption { "Graphics" }
                    thead { tr { th { "PCI" } th { "Model" } th { "Driver" } } }
                    tbody { @for g in &h.gpus { tr {
                        td { (g.pci_address) } td { (joined([g.vendor.as_deref(), g.model.as_deref()]).unwrap_or_else(|| "—".into())) }
                        td { (opt(g.driver.as_deref())) }
                    } } }
                }
            }
            @if !h.batteries.is_empty() {
                table {
                    caption { "Batteries" }
                    thead { tr { th { "Name" } th { "Model" } th { "Status" } th.num { "Capacity" } } }
                    tbody { @for b in &h.batteries { tr {
                        td { (b.name) } td { (opt(b.model.as_deref())) } td { (opt(b.status.as_deref())) }
                        td.num { @if let Some(c) = b.capacity_percent { (c) " %" } @else { "—" } }
                    } } }
                }
            }
        }
    }
}

/// Whether a package name matches the search: a `*` glob, else a
/// substring; case-insensitive.
fn package_matches(search: &str, name: &str) -> bool {
    let (s, n) = (search.to_lowercase(), name.to_lowercase());
    if s.contains('*') {
        glob(&s, &n)
    } else {
        n.contains(&s)
    }
}

fn software(inv: &Inventory, p: &Params) -> Markup {
    let all = &inv.software.packages;
    let matching: Vec<_> = all
        .iter()
        .filter(|pkg| {
            p.sw.as_deref()
                .is_none_or(|s| package_matches(s, &pkg.name))
        })
        .collect();
    html! {
        section #software {
            h2 { "Software" }
            form.inline method="get" action=(asset_link(&p.id)) role="search" {
                label { "Package" input type="search" name="sw" value=(p.sw.as_deref().unwrap_or("")) placeholder="openssl or lib*ssl*"; }
                (p.hidden("sw"))
                button type="submit" { "Search" }
                @if p.sw.is_some() { a href={ (p.href(|p| p.sw = None)) "#software" } { "All packages" } }
            }
            p.note {
                (matching.len()) " of " (all.len()) " packages"
                @if let Some(m) = &inv.software.manager { " (" (m) ")" }
                @if matching.len() > MAX_PACKAGES { "; the first " (MAX_PACKAGES) " are listed, search to find others" }
                "."
            }
            @if !matching.is_empty() {
                table.packages {
                    thead { tr { th { "Name" } th { "Version" } th { "Arch" } th { "Installed" } } }
                    tbody { @for pkg in matching.iter().take(MAX_PACKAGES) { tr {
                        td { (pkg.name) } td { (pkg.version) } td { (opt(pkg.arch.as_deref())) }
                        td { (layout::when(pkg.installed_at)) }
                    } } }
                }
            }
        }
    }
}

fn network(inv: &Inventory) -> Markup {
    let n = &inv.network;
    html! {
        section #network {
            h2 { "Network" }
            table {
                thead { tr { th { "Interface" } th { "MAC" } th { "State" } th { "Kind" } th.num { "Speed" } th { "Addresses" } } }
                tbody { @for i in &n.interfaces { tr {
                    td { (i.name) } td { (opt(i.mac.as_deref())) } td { (i.state) }
                    td { (format!("{:?}", i.kind).to_lowercase()) }
                    td.num { @if let Some(s) = i.speed_mbps { (s) " Mb/s" } @else { "—" } }
                    td { @for a in &i.addresses { (a.address) "/" (a.prefix) " " } }
                } } }
            }
            p.note {
                "Gateways: "
                @if n.gateways.is_empty() { "—" }
                @for g in &n.gateways { (g.address) " via " (g.interface) " " }
                " · DNS: "
                @if n.dns.servers.is_empty() { "—" }
                @for s in &n.dns.servers { (s) " " }
                @if !n.dns.search.is_empty() { " · search " (n.dns.search.join(", ")) }
            }
        }
    }
}

fn storage(inv: &Inventory) -> Markup {
    html! {
        section #storage {
            h2 { "Storage" }
            table {
                thead { tr { th { "Mount" } th { "Device" } th { "Type" } th.num { "Size" } th.num { "Free" } } }
                tbody { @for f in &inv.storage.filesystems { tr {
                    td { (f.mount_point) @if f.read_only { " (read-only)" } } td { (f.device) } td { (f.fs_type) }
                    td.num { @if let Some(t) = f.total_bytes { (format::bytes(t)) } @else { "—" } }
                    td.num { @if let Some(t) = f.free_bytes { (format::bytes(t)) } @else { "—" } }
                } } }
            }
        }
    }
}

fn health(l: &Loaded, p: &Params) -> Markup {
    html! {
        section #health {
            h2 { "Health" }
            nav.ranges aria-label="Chart range" {
                @for r in Range::ALL {
                    a href={ (p.href(|p| p.range = r)) "#health" } aria-current=[(r == p.range).then_some("true")] { (r.name()) }
                }
            }
            @if l.charts.is_empty() {
                p.muted { "No health samples stored for this asset." }
            } @else {
                div.charts { @for c in &l.charts { (charts::render(c)) } }
                @if let Some(t) = l.tier {
                    p.note { "Last " (p.range.name()) ", one point per "
                        (humantime::format_duration(std::time::Duration::from_millis(u64::try_from(p.range.step_ms()).unwrap_or(0))))
                        ", from " (if t == Tier::Raw { "the raw samples".to_owned() } else { format!("the {} rollups", t.name()) })
                        "; the band is each step's minimum to maximum." }
                }
            }
        }
    }
}

/// The fields of a changed object worth showing: those that differ from
/// the other side's (all of them when there is no other side), less the
/// empty ones.
fn shown_fields<'a>(
    v: &'a serde_json::Map<String, serde_json::Value>,
    other: Option<&serde_json::Value>,
) -> Vec<(&'a String, &'a serde_json::Value)> {
    let other = other.and_then(serde_json::Value::as_object);
    v.iter()
        .filter(|(k, x)| other.is_none_or(|o| o.get(*k) != Some(*x)))
        .filter(|(_, x)| !x.is_null() && x.as_array().is_none_or(|a| !a.is_empty()))
        .collect()
}

/// A before or after value, short: an object as its fields that changed
/// (`name: value, …`).
fn change_text(v: Option<&serde_json::Value>, other: Option<&serde_json::Value>) -> String {
    let text = match v {
        Some(serde_json::Value::Object(map)) => {
            let fields = shown_fields(map, other);
            if fields.is_empty() {
                return "—".into();
            }
            fields
                .into_iter()
                .map(|(k, x)| match x {
                    serde_json::Value::String(s) => format!("{k}: {s}"),
                    other => format!("{k}: {other}"),
                })
                .collect::<Vec<_>>()
                .join(", ")
        }
        other => return value_text(other),
    };
    cut(text)
}

/// A before or after value, short.
fn value_text(v: Option<&serde_json::Value>) -> String {
    let text = match v {
        None | Some(serde_json::Value::Null) => return "—".into(),
        Some(serde_json::Value::String(s)) => s.clone(),
        Some(other) => other.to_string(),
    };
    cut(text)
}

/// `text` cut to [`MAX_VALUE_CHARS`].
fn cut(text: String) -> String {
    if text.chars().count() > MAX_VALUE_CHARS {
        let cut: String = text.chars().take(MAX_VALUE_CHARS).collect();
        format!("{cut}…")
    } else {
        text
    }
}

fn timeline(l: &Loaded, p: &Params) -> Markup {
    let newer = (p.changes > 0).then(|| p.changes.saturating_sub(CHANGES_PER_PAGE));
    let older_at = p.changes + l.changes.len();
    let older = (older_at < l.changes_total).then_some(older_at);
    html! {
        section #changes {
            h2 { "Changes" }
            @if l.changes_total == 0 {
                p.muted { "No inventory change recorded." }
            } @else {
                p.note { "Newest first: " (p.changes + 1) "–" (older_at) " of " (l.changes_total) " change events." }
                ol.timeline {
                    @for e in &l.changes {
                        li {
                            p.when { (layout::when(Some(e.at))) " · " (format!("{:?}", e.kind).to_lowercase())
                                @if e.changes.is_empty() { " · first inventory" } }
                            @if !e.changes.is_empty() {
                                table.diff {
                                    thead { tr { th { "What" } th { "Item" } th { "Change" } th { "Before" } th { "After" } } }
                                    tbody { @for c in &e.changes { tr {
                                        td { (c.path) } td { (c.key.as_deref().unwrap_or("")) }
                                        td { (format!("{:?}", c.action).to_lowercase()) }
                                        td.before { (change_text(c.before.as_ref(), c.after.as_ref())) }
                                        td.after { (change_text(c.after.as_ref(), c.before.as_ref())) }
                                    } } }
                                }
                            }
                        }
                    }
                }
                nav.pages aria-label="Change pages" {
                    @if let Some(n) = newer { a rel="prev" href={ (p.href(|p| p.changes = n)) "#changes" } { "← Newer" } }
                    @if let Some(o) = older { a rel="next" href={ (p.href(|p| p.changes = o)) "#changes" } { "Older →" } }
                }
            }
        }
    }
}

fn incident_list(list: &[&IncidentRecord]) -> Markup {
    html! {
        ul.incidents { @for i in list { li {
            a href={ "/incidents/" (i.id) } { "#" (i.id) " " (i.title) }
            " · " (i.priority.to_string()) " · " (i.status.name()) " · opened " (layout::when(Some(i.opened_at)))
            @if let Some(r) = i.resolved_at { " · resolved " (layout::when(Some(r))) }
        } } }
    }
}

fn incidents(l: &Loaded) -> Markup {
    let open: Vec<&IncidentRecord> = l
        .incidents
        .iter()
        .filter(|i| i.status.is_active())
        .collect();
    let past: Vec<&IncidentRecord> = l
        .incidents
        .iter()
        .filter(|i| !i.status.is_active())
        .take(MAX_PAST)
        .collect();
    html! {
        section #incidents {
            h2 { "Incidents" }
            h3 { "Open" }
            @if open.is_empty() { p.muted { "No open incident." } } @else { (incident_list(&open)) }
            h3 { "Past" }
            @if past.is_empty() { p.muted { "No past incident." } } @else { (incident_list(&past)) }
        }
    }
}

fn reports_and_gaps(l: &Loaded) -> Markup {
    html! {
        section #reports {
            h2 { "User reports" }
            @if l.reports.is_empty() { p.muted { "No user report." } }
            ul.reports { @for r in &l.reports { li {
                (layout::when(Some(r.written_at))) " · " (r.user.as_deref().unwrap_or("unknown user")) ": "
                q { (r.text) }
                @if let Some(i) = r.incident { " → " a href={ "/incidents/" (i) } { "incident #" (i) } }
            } } }
        }
        section #gaps {
            h2 { "Gaps" }
            @if l.gaps.is_empty() { p.muted { "No known gap in this asset's history." } }
            ul.gaps { @for g in &l.gaps { li {
                @match &g.missing {
                    Missing::SpoolFull { batches, samples, from, to } => {
                        (samples) " health samples in " (batches) " batches dropped by " code { (g.agent_id) }
                        " from " (layout::when(Some(*from))) " to " (layout::when(Some(*to)))
                        " (its spool was full)"
                    }
                    Missing::SpoolDamaged { found_at, reason, lost_bytes, .. } => {
                        (format::bytes(*lost_bytes)) " lost from a damaged spool file of " code { (g.agent_id) }
                        ", found " (layout::when(Some(*found_at))) ": " (reason)
                    }
                }
            } } }
        }
    }
}

fn host_body(l: &Loaded, p: &Params) -> Markup {
    html! {
        nav.sections aria-label="Sections" {
            a href="#summary" { "Summary" } a href="#hardware" { "Hardware" } a href="#software" { "Software" }
            a href="#network" { "Network" } a href="#storage" { "Storage" } a href="#health" { "Health" }
            a href="#changes" { "Changes" } a href="#incidents" { "Incidents" } a href="#reports" { "Reports" }
        }
        (as_of_form(l, p))
        (summary(l))
        @match &l.inventory {
            Some(inv) => {
                (hardware(inv))
                (software(inv, p))
                (network(inv))
                (storage(inv))
            }
            None => {
                p.muted #hardware {
                    @if l.as_of.is_some() { "This asset had no inventory yet at that time." }
                    @else { "No inventory received yet." }
                }
            }
        }
        (health(l, p))
        (timeline(l, p))
        (incidents(l))
        (reports_and_gaps(l))
    }
}

fn rate_bits(v: Option<f64>) -> String {
    v.map_or_else(|| "—".into(), charts::bits_per_second)
}

fn device_body(l: &Loaded, d: &DeviceDetail, p: &Params) -> Markup {
    let v = &d.device;
    let sys = d.inventory.as_ref().map(|i| &i.system);
    html! {
        section #summary {
            h2 { "Summary" }
            dl.facts {
                dt { "Device" } dd { (v.name) }
                dt { "Kind" } dd { "network device" }
                dt { "Address" } dd { (v.address) ":" (v.port) }
                dt { "State" } dd { (v.state_text) }
                dt { "Last poll" } dd { (layout::when(v.last_poll_at)) }
                dt { "Polled by" } dd { code { (v.poller) } }
                dt { "System name" } dd { (opt(v.sys_name.as_deref())) }
                dt { "Vendor" } dd { (opt(v.vendor.as_deref())) }
                dt { "Model" } dd { (opt(v.model.as_deref())) }
                @if let Some(s) = sys {
                    dt { "Location" } dd { (opt(Some(s.location.as_str()))) }
                    dt { "Contact" } dd { (opt(Some(s.contact.as_str()))) }
                    dt { "Up for" } dd { (humantime::format_duration(std::time::Duration::from_secs(s.uptime_seconds))) }
                }
                dt { "Interfaces" } dd { (v.interfaces) " (" (v.interfaces_up) " up, " (v.interfaces_down) " down)" }
                dt { "Tags" } dd { @if l.rec.meta.tags.is_empty() { "—" } @for t in &l.rec.meta.tags { (t) " " } }
                dt { "First seen" } dd { (layout::when(Some(l.rec.meta.first_seen))) }
                dt { "Last seen" } dd { (layout::when(Some(l.rec.meta.last_seen))) }
            }
        }
        section #interfaces {
            h2 { "Interfaces" }
            @if d.interfaces.is_empty() { p.muted { "No interface reported yet." } } @else {
                table.interfaces {
                    thead { tr { th.num { "Index" } th { "Name" } th { "Alias" } th { "Status" } th.num { "Speed" }
                        th.num { "In" } th.num { "Out" } th { "Neighbour" } } }
                    tbody { @for i in &d.interfaces { tr {
                        td.num { (i.if_index) } td { (i.name) } td { (i.alias) }
                        td { @if !i.admin_up { (layout::badge("muted", "admin down")) } @else {
                            (layout::badge(if format!("{:?}", i.oper_status) == "Up" { "ok" } else { "bad" },
                                &format!("{:?}", i.oper_status).to_lowercase())) } }
                        td.num { (rate_bits(i.speed_bps.map(|s| s as f64))) }
                        td.num { (rate_bits(i.in_bps)) } td.num { (rate_bits(i.out_bps)) }
                        td { (i.neighbour.as_deref().unwrap_or("")) }
                    } } }
                }
            }
        }
        (health(l, p))
        section #device-changes {
            h2 { "Changes" }
            @if d.changes.is_empty() { p.muted { "No change of this device's inventory recorded." } }
            ul { @for c in d.changes.iter().rev().take(MAX_PAST) { li {
                (layout::when(Some(c.at))) " · " (c.items.len()) " change(s)"
            } } }
        }
        (incidents(l))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_parse_and_stay_under_the_point_cap() {
        for r in Range::ALL {
            assert_eq!(Range::parse(Some(r.name())).unwrap(), r);
            let points = r.span_ms() / r.step_ms();
            assert!(
                points <= charts::MAX_POINTS as i64 && points >= 100,
                "{r:?}: {points}"
            );
        }
        assert_eq!(Range::parse(None).unwrap(), Range::Day);
        assert!(
            Range::parse(Some("2w"))
                .unwrap_err()
                .to_string()
                .contains("range")
        );
    }

    #[test]
    fn package_search_is_a_substring_or_a_glob() {
        assert!(package_matches("ssl", "OpenSSL"));
        assert!(package_matches("lib*ssl*", "libssl3"));
        assert!(!package_matches("lib*ssl", "libssl3"));
        assert!(!package_matches("curl", "wget"));
    }

    #[test]
    fn links_keep_the_other_parameters() {
        let p = Params {
            id: "device:sw 1".into(),
            as_of: Some("2026-11-01".into()),
            sw: Some("a&b".into()),
            range: Range::Week,
            changes: 20,
        };
        assert_eq!(
            p.href(|p| p.changes = 40),
            "/assets/device%3Asw%201?as_of=2026-11-01&sw=a%26b&range=7d&changes=40"
        );
        assert_eq!(
            p.href(|p| {
                p.as_of = None;
                p.sw = None;
                p.range = Range::Day;
                p.changes = 0;
            }),
            "/assets/device%3Asw%201"
        );
    }

    #[test]
    fn a_changed_object_shows_the_fields_that_changed() {
        let before =
            serde_json::json!({"hostname": "ws-1", "fqdn": null, "timezone": "UTC", "ids": []});
        let after =
            serde_json::json!({"hostname": "ws-2", "fqdn": null, "timezone": "UTC", "ids": []});
        assert_eq!(change_text(Some(&before), Some(&after)), "hostname: ws-1");
        assert_eq!(change_text(Some(&after), Some(&before)), "hostname: ws-2");
        let added = serde_json::json!({"name": "curl", "version": "8.5", "arch": null, "size": 3});
        assert_eq!(
            change_text(Some(&added), None),
            "name: curl, size: 3, version: 8.5"
        );
        assert_eq!(change_text(None, Some(&added)), "—");
    }

    #[test]
    fn long_values_are_cut() {
        let long = serde_json::Value::String("x".repeat(500));
        assert_eq!(value_text(Some(&long)).chars().count(), MAX_VALUE_CHARS + 1);
        assert_eq!(value_text(None), "—");
        assert_eq!(value_text(Some(&serde_json::json!(42))), "42");
    }
}
