//! The service-level report (SLR) of a period, as managers review it with
//! the customer: incidents opened, resolved and still open, by priority,
//! rule and category; times to acknowledge and resolve; SLA compliance and
//! every breach; the backlog day by day; availability from outage
//! incidents; the most recurrent problems; how the knowledge base helped.
//!
//! Pure: [`slr`] reads the incidents it is given (those whose active time
//! touches the period, or more) and the facts the caller knows (rule
//! categories, host names, the fleet size), at a `now` it is given. An
//! incident is *active* from its opening to its resolution, and again from
//! each reopening to the next resolution, as its timeline tells.

use std::collections::{BTreeMap, BTreeSet};

use atalaya_common::model::Timestamp;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::helpers::day::{Day, MS_PER_DAY, percentile};
use crate::records::incident::{IncidentRecord, KbSolution, Priority, SUPPLIER_CASE, SupplierCase};

/// Longest period a report covers, days (a year and a day).
pub const MAX_DAYS: i64 = 367;
/// Rows of each list of recurrent problems.
pub const TOP_RECURRENT: usize = 10;
/// Category of an incident whose rule is no longer known.
pub const UNKNOWN_CATEGORY: &str = "unknown";

/// The days a report covers: `first` to `last`, both included (UTC).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Period {
    /// First day.
    pub first: Day,
    /// Last day (included).
    pub last: Day,
}

/// A period that cannot be reported on.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PeriodError {
    /// Not a month `YYYY-MM`.
    #[error("`{0}` is not a month YYYY-MM")]
    Month(String),
    /// Not a date `YYYY-MM-DD`.
    #[error("`{0}` is not a date YYYY-MM-DD")]
    Date(String),
    /// Ends before it starts.
    #[error("the period ends ({last}) before it starts ({first})")]
    Backwards {
        /// First day given.
        first: Day,
        /// Last day given.
        last: Day,
    },
    /// Too long for a report.
    #[error("the period from {first} to {last} is longer than {MAX_DAYS} days")]
    TooLong {
        /// First day given.
        first: Day,
        /// Last day given.
        last: Day,
    },
}

impl Period {
    /// The calendar month `YYYY-MM`.
    pub fn month(text: &str) -> Result<Period, PeriodError> {
        let bad = || PeriodError::Month(text.to_owned());
        let t = text.trim();
        if t.len() != 7 {
            return Err(bad());
        }
        let first = Day::parse(&format!("{t}-01")).ok_or_else(bad)?;
        Ok(Period {
            first,
            last: first.last_of_month(),
        })
    }

    /// From `first` to `last` (`YYYY-MM-DD`, both included).
    pub fn dates(first: &str, last: &str) -> Result<Period, PeriodError> {
        let day = |t: &str| Day::parse(t).ok_or_else(|| PeriodError::Date(t.to_owned()));
        let (first, last) = (day(first)?, day(last)?);
        if last < first {
            return Err(PeriodError::Backwards { first, last });
        }
        if first.days_until(last) >= MAX_DAYS {
            return Err(PeriodError::TooLong { first, last });
        }
        Ok(Period { first, last })
    }

    /// The month holding `now`.
    pub fn month_of(now: Timestamp) -> Period {
        let d = Day::of_ms_saturating(now.0);
        Period {
            first: d.first_of_month(),
            last: d.last_of_month(),
        }
    }

    /// The last whole month before the one holding `now`: the month a
    /// monthly review looks back on.
    pub fn month_before(now: Timestamp) -> Period {
        let this = Period::month_of(now).first;
        let last = Day::of_ms_saturating(this.start_ms() - 1);
        Period {
            first: last.first_of_month(),
            last,
        }
    }

    /// Midnight starting the first day, ms.
    pub fn start_ms(self) -> i64 {
        self.first.start_ms()
    }

    /// Midnight ending the last day, ms (excluded).
    pub fn end_ms(self) -> i64 {
        self.last
            .next()
            .start_ms()
            .max(self.start_ms() + MS_PER_DAY)
    }
}

/// What the report knows besides the incidents.
#[derive(Debug, Clone, Default)]
pub struct SlrFacts {
    /// Rule name → its category (the rule's kind: `threshold`, `absence`…).
    pub categories: BTreeMap<String, String>,
    /// Rules whose incidents mean the asset is out of service (an agent
    /// silent, a device not answering): availability counts their time.
    pub outage_rules: BTreeSet<String>,
    /// Asset id → host name, for the lists that name assets.
    pub hostnames: BTreeMap<String, String>,
    /// Assets in the fleet, for the fleet's availability (those without an
    /// outage were available all the period).
    pub fleet_assets: u64,
}

/// Incidents counted for a priority, a rule or a category.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct CountRow {
    /// The priority, rule name or category.
    pub key: String,
    /// Opened in the period.
    pub opened: u64,
    /// Resolved in the period (once each, however often).
    pub resolved: u64,
    /// Open or acknowledged when the period ended.
    pub open_at_end: u64,
}

/// Times to acknowledge and to resolve of the incidents opened in the period.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct TimesRow {
    /// `P1` … `P4`, or `all`.
    pub priority: String,
    /// Acknowledged by the period's end.
    pub acknowledged: u64,
    /// Mean seconds from opening to the first acknowledgement.
    pub mean_acknowledge_seconds: Option<f64>,
    /// 90th percentile (nearest rank) of the same.
    pub p90_acknowledge_seconds: Option<f64>,
    /// Resolved (and not reopened) by the period's end.
    pub resolved: u64,
    /// Mean seconds from opening to the last resolution.
    pub mean_resolve_seconds: Option<f64>,
    /// 90th percentile (nearest rank) of the same.
    pub p90_resolve_seconds: Option<f64>,
}

/// One SLA target over the incidents of a priority opened in the period.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
#[schema(as = TargetCompliance)]
pub struct Compliance {
    /// Done by its due time.
    pub met: u64,
    /// Done late, or not done when due.
    pub breached: u64,
    /// Not done, and not due before the period ended.
    pub pending: u64,
    /// `met` out of `met + breached`, percent; `None` when both are 0.
    pub percent: Option<f64>,
}

/// SLA compliance of a priority.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct SlaRow {
    /// `P1` … `P4`.
    pub priority: String,
    /// Incidents of this priority opened in the period.
    pub incidents: u64,
    /// The acknowledge target.
    pub acknowledge: Compliance,
    /// The resolve target.
    pub resolve: Compliance,
}

/// Which target a breach missed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Target {
    /// Time to acknowledge.
    Acknowledge,
    /// Time to resolve.
    Resolve,
}

impl Target {
    /// `acknowledge` or `resolve`.
    pub fn name(self) -> &'static str {
        match self {
            Target::Acknowledge => "acknowledge",
            Target::Resolve => "resolve",
        }
    }
}

/// A missed target.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Breach {
    /// Incident number.
    pub incident: u64,
    /// Asset id.
    pub asset: String,
    /// Its host name, when known.
    pub hostname: Option<String>,
    /// `P1` … `P4`.
    pub priority: String,
    /// Rule name.
    pub rule: String,
    /// The incident's title.
    pub title: String,
    /// Which target.
    pub target: Target,
    /// When it was due.
    pub due: Timestamp,
    /// When it was done (acknowledged, resolved); `None`: not by the period's end.
    pub done_at: Option<Timestamp>,
    /// How late: from due to done, or to the period's end when not done.
    pub late_seconds: f64,
}

/// One day of the backlog.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct BacklogDay {
    /// The day.
    pub day: Day,
    /// Incidents opened that day.
    pub opened: u64,
    /// Incidents resolved that day.
    pub resolved: u64,
    /// Open or acknowledged at the day's end (or at the report's end, for
    /// today).
    pub open: u64,
}

/// The availability of one asset that had outage incidents.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct AssetAvailability {
    /// Asset id.
    pub asset: String,
    /// Its host name, when known.
    pub hostname: Option<String>,
    /// Outage incidents active in the period.
    pub incidents: u64,
    /// Seconds of the period covered by one of them at least.
    pub down_seconds: f64,
    /// The share of the period not covered, percent.
    pub percent: f64,
}

/// Availability from outage incidents.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Availability {
    /// The rules counted as outages.
    pub rules: Vec<String>,
    /// Assets that had any, least available first.
    pub assets: Vec<AssetAvailability>,
    /// The mean of `assets`' percentages; `None` without any.
    pub affected_mean_percent: Option<f64>,
    /// Assets in the fleet (at least those listed).
    pub fleet_assets: u64,
    /// The fleet's mean, assets without outages counting 100 %.
    pub fleet_mean_percent: Option<f64>,
}

/// A problem that came back.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Recurrence {
    /// Rule name.
    pub rule: String,
    /// The asset, for the list by asset; `None` in the list across assets.
    pub asset: Option<String>,
    /// Its host name, when known.
    pub hostname: Option<String>,
    /// Openings in the period: new incidents and reopenings.
    pub openings: u64,
    /// Distinct incidents opened or reopened.
    pub incidents: u64,
    /// Distinct assets.
    pub assets: u64,
}

/// The most recurrent problems (at least two openings each).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Recurrent {
    /// The same rule on the same asset, most openings first.
    pub by_asset: Vec<Recurrence>,
    /// The same rule across assets, most openings first.
    pub by_rule: Vec<Recurrence>,
}

/// How the knowledge base helped the incidents opened in the period.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct KbFigures {
    /// Incidents opened in the period.
    pub incidents: u64,
    /// Of them, opened with at least one article suggested.
    pub with_suggestion: u64,
    /// Of them, resolved by the period's end.
    pub resolved: u64,
    /// Resolved with an existing article named as the solution.
    pub resolved_with_article: u64,
    /// … that article being one of the suggested ones.
    pub resolved_with_suggested_article: u64,
    /// Resolved with a new solution, saved as an article.
    pub solutions_saved: u64,
    /// `resolved_with_suggested_article` out of `with_suggestion`, percent.
    pub suggestion_success_percent: Option<f64>,
}

/// The service-level report.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Slr {
    /// The days covered.
    pub period: Period,
    /// When it was made.
    pub generated_at: Timestamp,
    /// Where the figures stop: the period's end, or `generated_at` when
    /// the period is not over.
    pub until: Timestamp,
    /// Whether the period is over (the figures will not change).
    pub complete: bool,
    /// Open or acknowledged when the period started.
    pub open_at_start: u64,
    /// Every incident.
    pub total: CountRow,
    /// By priority, P1 first (every priority, even without incidents).
    pub by_priority: Vec<CountRow>,
    /// By rule, most opened first.
    pub by_rule: Vec<CountRow>,
    /// By category (the rule's kind), most opened first.
    pub by_category: Vec<CountRow>,
    /// Times, `all` then P1 … P4.
    pub times: Vec<TimesRow>,
    /// SLA compliance per priority, P1 first.
    pub sla: Vec<SlaRow>,
    /// Every missed target of the incidents opened in the period, latest
    /// due first.
    pub breaches: Vec<Breach>,
    /// Day by day.
    pub backlog: Vec<BacklogDay>,
    /// From outage incidents.
    pub availability: Availability,
    /// Problems that came back.
    pub recurrent: Recurrent,
    /// The knowledge base.
    pub kb: KbFigures,
    /// Cases opened with suppliers, per supplier, most first.
    #[serde(default)]
    pub suppliers: Vec<SupplierCaseRow>,
}

/// The cases opened with one supplier for incidents opened in the period.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct SupplierCaseRow {
    /// The supplier.
    pub supplier: String,
    /// Cases opened with it (by the period's end).
    pub cases: u64,
    /// Mean time from the incident opening to the case, seconds.
    pub mean_seconds_to_case: Option<f64>,
    /// Of those incidents, resolved by the period's end.
    pub resolved: u64,
    /// Mean time from the case to the incident's resolution, seconds.
    pub mean_seconds_case_to_resolved: Option<f64>,
}

/// The times an incident was active: `(from, until)` in ms, `None` while
/// it still is, oldest first.
pub fn active_spans(rec: &IncidentRecord) -> Vec<(i64, Option<i64>)> {
    let mut spans = Vec::new();
    let mut start = Some(rec.opened_at.0);
    for e in &rec.timeline {
        match e.event.as_str() {
            "resolved" => {
                if let Some(s) = start.take() {
                    spans.push((s, Some(e.at.0.max(s))));
                }
            }
            "reopened" if start.is_none() => start = Some(e.at.0),
            _ => {}
        }
    }
    if let Some(s) = start {
        let end = if rec.status.is_active() {
            None
        } else {
            // Resolved without a timeline entry saying so (records written
            // by hand): its resolution time ends it.
            Some(rec.resolved_at.or(rec.closed_at).map_or(s, |t| t.0.max(s)))
        };
        spans.push((s, end));
    }
    spans
}

/// What the report needs of one incident, worked out once.
struct Seen<'a> {
    rec: &'a IncidentRecord,
    spans: Vec<(i64, Option<i64>)>,
    opened_in: bool,
    resolved_in: bool,
    open_at_end: bool,
    /// The last resolution by the end, if it was not reopened by then.
    resolved_by_end: Option<i64>,
    /// First acknowledgement by the end.
    acknowledged_by_end: Option<i64>,
    /// Openings (the opening and reopenings) in the period.
    openings: u64,
}

impl<'a> Seen<'a> {
    fn new(rec: &'a IncidentRecord, start: i64, end: i64) -> Self {
        let spans = active_spans(rec);
        let active_at = |t: i64| {
            spans
                .iter()
                .any(|&(s, e)| s <= t && e.is_none_or(|e| t < e))
        };
        let open_at_end = active_at(end - 1);
        let resolved_in = spans
            .iter()
            .any(|&(_, e)| e.is_some_and(|e| (start..end).contains(&e)));
        let resolved_by_end = if open_at_end {
            None
        } else {
            spans
                .iter()
                .filter_map(|&(_, e)| e)
                .filter(|&e| e < end)
                .max()
        };
        Seen {
            rec,
            opened_in: (start..end).contains(&rec.opened_at.0),
            resolved_in,
            open_at_end,
            resolved_by_end,
            acknowledged_by_end: rec.acknowledged_at.map(|t| t.0).filter(|&t| t < end),
            openings: spans
                .iter()
                .filter(|&&(s, _)| (start..end).contains(&s))
                .count() as u64,
            spans,
        }
    }

    fn touches(&self, start: i64, end: i64) -> bool {
        self.spans
            .iter()
            .any(|&(s, e)| s < end && e.is_none_or(|e| e >= start))
    }

    fn active_at(&self, t: i64) -> bool {
        self.spans
            .iter()
            .any(|&(s, e)| s <= t && e.is_none_or(|e| t < e))
    }
}

fn add(row: &mut CountRow, seen: &Seen<'_>) {
    row.opened += u64::from(seen.opened_in);
    row.resolved += u64::from(seen.resolved_in);
    row.open_at_end += u64::from(seen.open_at_end);
}

fn percent(part: u64, whole: u64) -> Option<f64> {
    (whole > 0).then(|| 100.0 * part as f64 / whole as f64)
}

fn mean(v: &[f64]) -> Option<f64> {
    (!v.is_empty()).then(|| v.iter().sum::<f64>() / v.len() as f64)
}

fn secs(ms: i64) -> f64 {
    ms as f64 / 1000.0
}

/// Rows by key, most opened first, then most still open, then by key.
fn ranked(rows: BTreeMap<&str, CountRow>) -> Vec<CountRow> {
    let mut v: Vec<CountRow> = rows.into_values().collect();
    v.sort_by(|a, b| {
        (b.opened, b.open_at_end, b.resolved)
            .cmp(&(a.opened, a.open_at_end, a.resolved))
            .then_with(|| a.key.cmp(&b.key))
    });
    v
}

/// The report of `period` over `incidents` (others than those touching the
/// period are left out), made at `now`.
pub fn slr(period: Period, incidents: &[IncidentRecord], facts: &SlrFacts, now: Timestamp) -> Slr {
    let start = period.start_ms();
    let end = period.end_ms().min(now.0).max(start + 1);
    let seen: Vec<Seen<'_>> = incidents
        .iter()
        .map(|r| Seen::new(r, start, end))
        .filter(|s| s.touches(start, end))
        .collect();

    let mut total = CountRow {
        key: "all".into(),
        ..CountRow::default()
    };
    let mut by_priority: BTreeMap<Priority, CountRow> = Priority::ALL
        .iter()
        .map(|p| {
            let row = CountRow {
                key: p.name().into(),
                ..CountRow::default()
            };
            (*p, row)
        })
        .collect();
    let mut by_rule: BTreeMap<&str, CountRow> = BTreeMap::new();
    let mut by_category: BTreeMap<&str, CountRow> = BTreeMap::new();
    let mut open_at_start = 0;
    for s in &seen {
        add(&mut total, s);
        if let Some(row) = by_priority.get_mut(&s.rec.priority) {
            add(row, s);
        }
        let rule = s.rec.rule.as_str();
        add(
            by_rule.entry(rule).or_insert_with(|| CountRow {
                key: rule.to_owned(),
                ..CountRow::default()
            }),
            s,
        );
        let cat = facts
            .categories
            .get(rule)
            .map_or(UNKNOWN_CATEGORY, String::as_str);
        add(
            by_category.entry(cat).or_insert_with(|| CountRow {
                key: cat.to_owned(),
                ..CountRow::default()
            }),
            s,
        );
        // Active at the instant the period starts (opened earlier).
        open_at_start += u64::from(s.rec.opened_at.0 < start && s.active_at(start));
    }

    let opened: Vec<&Seen<'_>> = seen.iter().filter(|s| s.opened_in).collect();
    let (sla, breaches) = compliance(&opened, end, facts);
    Slr {
        period,
        generated_at: now,
        until: Timestamp(end),
        complete: now.0 >= period.end_ms(),
        open_at_start,
        total,
        by_priority: by_priority.into_values().collect(),
        by_rule: ranked(by_rule),
        by_category: ranked(by_category),
        times: times(&opened),
        sla,
        breaches,
        backlog: backlog(period, &seen, start, end),
        availability: availability(&seen, facts, start, end),
        recurrent: recurrent(&seen, facts),
        kb: kb_figures(&opened),
        suppliers: supplier_rows(&opened, end),
    }
}

fn times(opened: &[&Seen<'_>]) -> Vec<TimesRow> {
    let row = |name: &str, of: &dyn Fn(&Seen<'_>) -> bool| {
        let mut acks = Vec::new();
        let mut resolves = Vec::new();
        for s in opened.iter().filter(|s| of(s)) {
            let o = s.rec.opened_at.0;
            if let Some(a) = s.acknowledged_by_end {
                acks.push(secs(a - o));
            }
            if let Some(r) = s.resolved_by_end {
                resolves.push(secs(r - o));
            }
        }
        TimesRow {
            priority: name.to_owned(),
            acknowledged: acks.len() as u64,
            mean_acknowledge_seconds: mean(&acks),
            p90_acknowledge_seconds: percentile(&mut acks, 0.9),
            resolved: resolves.len() as u64,
            mean_resolve_seconds: mean(&resolves),
            p90_resolve_seconds: percentile(&mut resolves, 0.9),
        }
    };
    let mut out = vec![row("all", &|_| true)];
    for p in Priority::ALL {
        out.push(row(p.name(), &|s| s.rec.priority == p));
    }
    out
}

/// Whether one target was met: `done` is when it was done (by the end).
/// `needed_at_due`: the incident still needed it when it fell due (an
/// incident resolved before its acknowledge time without an
/// acknowledgement had no need of one, and is not counted).
fn judge(
    c: &mut Compliance,
    due: i64,
    done: Option<i64>,
    needed_at_due: bool,
    end: i64,
) -> Option<Option<i64>> {
    match done {
        Some(t) if t <= due => {
            c.met += 1;
            None
        }
        Some(t) => {
            c.breached += 1;
            Some(Some(t))
        }
        None if due < end && needed_at_due => {
            c.breached += 1;
            Some(None)
        }
        None if due >= end => {
            c.pending += 1;
            None
        }
        None => None,
    }
}

fn compliance(opened: &[&Seen<'_>], end: i64, facts: &SlrFacts) -> (Vec<SlaRow>, Vec<Breach>) {
    let mut rows: BTreeMap<Priority, SlaRow> = Priority::ALL
        .iter()
        .map(|p| {
            let row = SlaRow {
                priority: p.name().into(),
                ..SlaRow::default()
            };
            (*p, row)
        })
        .collect();
    let mut breaches = Vec::new();
    for s in opened {
        let rec = s.rec;
        let Some(row) = rows.get_mut(&rec.priority) else {
            continue;
        };
        row.incidents += 1;
        let breach = |target: Target, due: i64, done: Option<i64>| Breach {
            incident: rec.id,
            asset: rec.asset.clone(),
            hostname: facts.hostnames.get(&rec.asset).cloned(),
            priority: rec.priority.name().into(),
            rule: rec.rule.clone(),
            title: rec.title.clone(),
            target,
            due: Timestamp(due),
            done_at: done.map(Timestamp),
            late_seconds: secs(done.unwrap_or(end) - due),
        };
        let ack_due = rec.acknowledge_due.0;
        let needs_ack = s.acknowledged_by_end.is_some() || s.active_at(ack_due);
        if let Some(done) = judge(
            &mut row.acknowledge,
            ack_due,
            s.acknowledged_by_end,
            needs_ack,
            end,
        ) {
            breaches.push(breach(Target::Acknowledge, ack_due, done));
        }
        let res_due = rec.resolve_due.0;
        if let Some(done) = judge(&mut row.resolve, res_due, s.resolved_by_end, true, end) {
            breaches.push(breach(Target::Resolve, res_due, done));
        }
    }
    for row in rows.values_mut() {
        for c in [&mut row.acknowledge, &mut row.resolve] {
            c.percent = percent(c.met, c.met + c.breached);
        }
    }
    breaches.sort_by(|a, b| {
        b.due
            .cmp(&a.due)
            .then(a.incident.cmp(&b.incident))
            .then(a.target.name().cmp(b.target.name()))
    });
    (rows.into_values().collect(), breaches)
}

fn backlog(period: Period, seen: &[Seen<'_>], start: i64, end: i64) -> Vec<BacklogDay> {
    let days = usize::try_from((end - start + MS_PER_DAY - 1) / MS_PER_DAY).unwrap_or(0);
    let mut out: Vec<BacklogDay> = Vec::with_capacity(days);
    let mut day = period.first;
    for _ in 0..days {
        out.push(BacklogDay {
            day,
            opened: 0,
            resolved: 0,
            open: 0,
        });
        day = day.next();
    }
    let index = |t: i64| usize::try_from((t - start) / MS_PER_DAY).ok();
    // Open at each day's end (its last instant, or the report's end), as
    // a difference array over the days: +1 where a span starts covering,
    // -1 where it stops.
    let mut delta = vec![0i64; days + 1];
    let instant = |k: usize| (start + (k as i64 + 1) * MS_PER_DAY).min(end) - 1;
    // The first day whose closing instant is at or after `t`.
    let first_day_at = |t: i64| -> usize {
        if t <= start {
            return 0;
        }
        let k = usize::try_from((t - start) / MS_PER_DAY).unwrap_or(days);
        if k < days && instant(k) >= t {
            k
        } else {
            k + 1
        }
    };
    for s in seen {
        for &(from, until) in &s.spans {
            if (start..end).contains(&from)
                && let Some(d) = index(from).and_then(|k| out.get_mut(k))
            {
                d.opened += 1;
            }
            if let Some(u) = until
                && (start..end).contains(&u)
                && let Some(d) = index(u).and_then(|k| out.get_mut(k))
            {
                d.resolved += 1;
            }
            // Open at instant t when from <= t < until.
            let a = first_day_at(from).min(days);
            let b = until.map_or(days, |u| first_day_at(u).min(days));
            if a < b {
                delta[a] += 1;
                delta[b] -= 1;
            }
        }
    }
    let mut open = 0i64;
    for (k, d) in out.iter_mut().enumerate() {
        open += delta[k];
        d.open = u64::try_from(open).unwrap_or(0);
    }
    out
}

fn availability(seen: &[Seen<'_>], facts: &SlrFacts, start: i64, end: i64) -> Availability {
    /// Per asset: its outage incidents, and their active times in the period.
    type Outages = (u64, Vec<(i64, i64)>);
    let mut per_asset: BTreeMap<&str, Outages> = BTreeMap::new();
    for s in seen
        .iter()
        .filter(|s| facts.outage_rules.contains(&s.rec.rule))
    {
        let entry = per_asset.entry(s.rec.asset.as_str()).or_default();
        entry.0 += 1;
        for &(from, until) in &s.spans {
            let (a, b) = (from.max(start), until.unwrap_or(end).min(end));
            if a < b {
                entry.1.push((a, b));
            }
        }
    }
    let length = (end - start) as f64;
    let mut assets: Vec<AssetAvailability> = per_asset
        .into_iter()
        .map(|(asset, (incidents, mut spans))| {
            // The union of the spans: overlapping outages count once.
            spans.sort_unstable();
            let mut down = 0i64;
            let mut reach = i64::MIN;
            for (a, b) in spans {
                let a = a.max(reach);
                if b > a {
                    down += b - a;
                }
                reach = reach.max(b);
            }
            AssetAvailability {
                asset: asset.to_owned(),
                hostname: facts.hostnames.get(asset).cloned(),
                incidents,
                down_seconds: secs(down),
                percent: 100.0 * (1.0 - down as f64 / length),
            }
        })
        .collect();
    assets.sort_by(|a, b| {
        a.percent
            .total_cmp(&b.percent)
            .then_with(|| a.asset.cmp(&b.asset))
    });
    let fleet = facts.fleet_assets.max(assets.len() as u64);
    let sum: f64 = assets.iter().map(|a| a.percent).sum();
    Availability {
        rules: facts.outage_rules.iter().cloned().collect(),
        affected_mean_percent: mean(&assets.iter().map(|a| a.percent).collect::<Vec<_>>()),
        fleet_assets: fleet,
        fleet_mean_percent: (fleet > 0)
            .then(|| (sum + 100.0 * (fleet - assets.len() as u64) as f64) / fleet as f64),
        assets,
    }
}

fn recurrent(seen: &[Seen<'_>], facts: &SlrFacts) -> Recurrent {
    // Openings, incidents (each incident is seen once), assets.
    type Tally<'a> = (u64, u64, BTreeSet<&'a str>);
    let mut by_asset: BTreeMap<(&str, &str), Tally<'_>> = BTreeMap::new();
    let mut by_rule: BTreeMap<&str, Tally<'_>> = BTreeMap::new();
    for s in seen.iter().filter(|s| s.openings > 0) {
        let (rule, asset) = (s.rec.rule.as_str(), s.rec.asset.as_str());
        for t in [
            by_asset.entry((rule, asset)).or_default(),
            by_rule.entry(rule).or_default(),
        ] {
            t.0 += s.openings;
            t.1 += 1;
            t.2.insert(asset);
        }
    }
    let top = |rows: Vec<Recurrence>| {
        let mut rows: Vec<Recurrence> = rows.into_iter().filter(|r| r.openings >= 2).collect();
        rows.sort_by(|a, b| {
            (b.openings, b.incidents, b.assets)
                .cmp(&(a.openings, a.incidents, a.assets))
                .then_with(|| (&a.rule, &a.asset).cmp(&(&b.rule, &b.asset)))
        });
        rows.truncate(TOP_RECURRENT);
        rows
    };
    let row = |rule: &str, asset: Option<&str>, t: &Tally<'_>| Recurrence {
        rule: rule.to_owned(),
        asset: asset.map(str::to_owned),
        hostname: asset.and_then(|a| facts.hostnames.get(a).cloned()),
        openings: t.0,
        incidents: t.1,
        assets: t.2.len() as u64,
    };
    Recurrent {
        by_asset: top(by_asset
            .iter()
            .map(|((rule, asset), t)| row(rule, Some(asset), t))
            .collect()),
        by_rule: top(by_rule.iter().map(|(rule, t)| row(rule, None, t)).collect()),
    }
}

fn kb_figures(opened: &[&Seen<'_>]) -> KbFigures {
    let mut k = KbFigures {
        incidents: opened.len() as u64,
        ..KbFigures::default()
    };
    for s in opened {
        let done_by = s.resolved_by_end.unwrap_or(i64::MIN);
        let uses: Vec<KbSolution> = s
            .rec
            .timeline
            .iter()
            .filter(|e| e.event.starts_with("kb_") && e.at.0 <= done_by)
            .filter_map(KbSolution::of_entry)
            .collect();
        // Articles added by a resolution were not suggested at opening.
        let added = |a: &String| {
            uses.iter()
                .any(|u| !u.suggested && a.parse() == Ok(u.article))
        };
        let suggested = s.rec.kb_articles.iter().any(|a| !added(a));
        k.with_suggestion += u64::from(suggested);
        if s.resolved_by_end.is_none() {
            continue;
        }
        k.resolved += 1;
        // The last resolution's use of the knowledge base counts.
        match uses.last() {
            Some(u) if u.confirmed => {
                k.resolved_with_article += 1;
                k.resolved_with_suggested_article += u64::from(u.suggested);
            }
            Some(_) => k.solutions_saved += 1,
            None => {}
        }
    }
    k.suggestion_success_percent = percent(k.resolved_with_suggested_article, k.with_suggestion);
    k
}

/// Cases opened with suppliers by `end` (ms) for the incidents `opened`:
/// the first case of an incident with each supplier counts.
fn supplier_rows(opened: &[&Seen<'_>], end: i64) -> Vec<SupplierCaseRow> {
    #[derive(Default)]
    struct Sums {
        cases: u64,
        to_case: f64,
        resolved: u64,
        to_resolved: f64,
    }
    let mut by: BTreeMap<String, Sums> = BTreeMap::new();
    for s in opened {
        let mut seen: BTreeSet<String> = BTreeSet::new();
        for e in &s.rec.timeline {
            if e.event != SUPPLIER_CASE || e.at.0 > end {
                continue;
            }
            let Some(case) = SupplierCase::parse(&e.text) else {
                continue;
            };
            if !seen.insert(case.supplier.clone()) {
                continue;
            }
            let sums = by.entry(case.supplier).or_default();
            sums.cases += 1;
            sums.to_case += (e.at.0 - s.rec.opened_at.0).max(0) as f64 / 1000.0;
            if let Some(done) = s.resolved_by_end.filter(|d| *d >= e.at.0) {
                sums.resolved += 1;
                sums.to_resolved += (done - e.at.0) as f64 / 1000.0;
            }
        }
    }
    let mean = |sum: f64, n: u64| (n > 0).then(|| sum / n as f64);
    let mut rows: Vec<SupplierCaseRow> = by
        .into_iter()
        .map(|(supplier, s)| SupplierCaseRow {
            supplier,
            cases: s.cases,
            mean_seconds_to_case: mean(s.to_case, s.cases),
            resolved: s.resolved,
            mean_seconds_case_to_resolved: mean(s.to_resolved, s.resolved),
        })
        .collect();
    rows.sort_by(|a, b| {
        b.cases
            .cmp(&a.cases)
            .then_with(|| a.supplier.cmp(&b.supplier))
    });
    rows
}

#[cfg(test)]
mod tests;
