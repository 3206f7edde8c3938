//! The capacity report proper: each resource of each asset with its use
//! now, its 95th percentile, its growth per day with the fit quality,
//! the day it is full, and its headroom; ranked most urgent first.
//!
//! Every resource is a percentage of something full at 100 (a filesystem,
//! memory, swap, the CPUs, an interface's speed, a device's storage area).
//! Its trend is the line of [`crate::forecast`] through the window of the
//! `forecast` incident rule watching the same series, when one does, so
//! the report gives the rule's date; other series get the built-in rule's
//! window. A window asked for explicitly applies to every series.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::{AssetClass, Day, num};
use crate::forecast::{DEFAULT_MIN_R2, Outlook, Trend};
use crate::helpers::series::split_series;
use crate::incidents::rules::{AssetFacts, RuleKind, RuleSet};
use atalaya_common::format::bytes;

/// The window of series no forecast rule watches, hours (as the built-in
/// `filesystem-filling` rule's).
pub const DEFAULT_WINDOW_HOURS: u64 = 72;

/// The days the 95th percentile is taken over.
pub const P95_DAYS: u64 = 30;

/// What kind of resource.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, ToSchema,
)]
#[serde(rename_all = "kebab-case")]
pub enum Resource {
    /// A mounted filesystem of a host (`filesystem.used_percent`).
    Filesystem,
    /// A host's memory, total less available (`memory.used_percent`).
    Memory,
    /// A host's swap (`swap.used_percent`).
    Swap,
    /// A host's CPUs (`cpu.total_percent`).
    Cpu,
    /// One direction of a network device's interface, as a share of its
    /// speed (`interface.in_utilisation_percent`, `…out…`).
    Interface,
    /// A storage area of a network device (HOST-RESOURCES-MIB), as polled
    /// last: the collector keeps no history of it.
    DeviceStorage,
}

impl Resource {
    /// The resource of `name`, among those with a stored series to
    /// forecast (every one but [`Resource::DeviceStorage`]).
    pub fn forecast_named(name: &str) -> Option<Resource> {
        [
            Resource::Filesystem,
            Resource::Memory,
            Resource::Swap,
            Resource::Cpu,
            Resource::Interface,
        ]
        .into_iter()
        .find(|r| r.name() == name)
    }

    /// The name in tables.
    pub fn name(self) -> &'static str {
        match self {
            Resource::Filesystem => "filesystem",
            Resource::Memory => "memory",
            Resource::Swap => "swap",
            Resource::Cpu => "cpu",
            Resource::Interface => "interface",
            Resource::DeviceStorage => "device-storage",
        }
    }
}

/// The unit of a resource's size.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum SizeUnit {
    /// Bytes (filesystems, memory, swap, storage).
    Bytes,
    /// Logical CPUs.
    Cpus,
    /// Bits per second (interface speed).
    BitsPerSecond,
}

/// One resource of one asset, as the inventory describes it.
#[derive(Debug, Clone, PartialEq)]
pub struct ResourceFacts {
    /// Asset id.
    pub asset_id: String,
    /// Host or device name.
    pub hostname: String,
    /// Host or network device.
    pub class: AssetClass,
    /// What it is.
    pub resource: Resource,
    /// Which one: a mount point, `Gi0/1 in`, a storage area; `""` for the only one.
    pub subject: String,
    /// The series of its use in percent (`None`: none is kept).
    pub series: Option<String>,
    /// Its size, when known.
    pub size: Option<(f64, SizeUnit)>,
}

/// What was read of a resource's use.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct UseSummary {
    /// The newest point: (ms, percent).
    pub last: Option<(i64, f64)>,
    /// The 95th percentile over [`P95_DAYS`].
    pub p95: Option<f64>,
    /// The 5th percentile over [`P95_DAYS`]: of an amount left (memory
    /// available), what becomes the 95th percentile of the amount used.
    pub p5: Option<f64>,
    /// The trend through the forecast window ending at the newest point.
    pub trend: Option<Trend>,
}

/// How a resource's line is fitted and judged.
#[derive(Debug, Clone, PartialEq)]
pub struct ForecastSettings {
    /// The window, ms.
    pub window_ms: i64,
    /// The value at which it is full.
    pub limit: f64,
    /// The least R² of a trend.
    pub min_r2: f64,
    /// The forecast rule these come from (`None`: the report's defaults).
    pub rule: Option<String>,
}

impl ForecastSettings {
    /// The settings for `series` of the asset `facts` describes: those of
    /// the first enabled forecast rule watching it, else a window of
    /// [`DEFAULT_WINDOW_HOURS`] up to 100 %. `window_hours` replaces the
    /// window whatever the rule says.
    pub fn for_series(
        rules: &RuleSet,
        facts: &AssetFacts,
        series: &str,
        window_hours: Option<u64>,
    ) -> Self {
        let (metric, subject) = split_series(series);
        let rule = rules.rules().iter().find_map(|r| match &r.kind {
            RuleKind::Forecast(f)
                if r.enabled
                    && f.selector.metric == metric
                    && f.selector.matches_subject(subject)
                    && r.scope.matches(facts) =>
            {
                Some((r.name.clone(), f))
            }
            _ => None,
        });
        let hours_ms = |h: u64| {
            i64::try_from(h)
                .unwrap_or(i64::MAX)
                .saturating_mul(3_600_000)
        };
        match rule {
            Some((name, f)) => ForecastSettings {
                window_ms: window_hours.map_or(f.window_ms(), hours_ms),
                limit: f.limit,
                min_r2: f.min_r2,
                rule: Some(name),
            },
            None => ForecastSettings {
                window_ms: hours_ms(window_hours.unwrap_or(DEFAULT_WINDOW_HOURS)),
                limit: 100.0,
                min_r2: DEFAULT_MIN_R2,
                rule: None,
            },
        }
    }
}

/// What the line says.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "kebab-case")]
pub enum TrendState {
    /// At the limit already.
    Full,
    /// Growing: full on `full_on`.
    Growing,
    /// Flat or shrinking.
    NotGrowing,
    /// Growing, but too irregularly to call it a trend (R² under the minimum).
    NotATrend,
    /// Less than a quarter of the window known.
    TooLittleHistory,
    /// No series of it is kept.
    NoHistory,
}

impl TrendState {
    /// For tables.
    pub fn words(self) -> &'static str {
        match self {
            TrendState::Full => "full",
            TrendState::Growing => "growing",
            TrendState::NotGrowing => "not growing",
            TrendState::NotATrend => "not a trend",
            TrendState::TooLittleHistory => "too little history",
            TrendState::NoHistory => "no history",
        }
    }
}

/// One line of the report.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct UsageRow {
    /// Asset id.
    pub asset_id: String,
    /// Host or device name.
    pub hostname: String,
    /// Host or network device.
    pub class: AssetClass,
    /// What it is.
    pub resource: Resource,
    /// Which one (`""` for the only one).
    pub subject: String,
    /// The series read (`None`: none is kept).
    pub series: Option<String>,
    /// Its size, when known.
    pub size: Option<f64>,
    /// The unit of `size` and `headroom`.
    pub size_unit: Option<SizeUnit>,
    /// The newest value, percent.
    pub used_percent: Option<f64>,
    /// The day of the newest value.
    pub used_on: Option<Day>,
    /// 95th percentile over the last [`P95_DAYS`], percent.
    pub p95_percent: Option<f64>,
    /// Growth of the line, percentage points per day.
    pub growth_per_day: Option<f64>,
    /// Fit quality of the line, 0 to 1.
    pub r2: Option<f64>,
    /// The window the line is fitted over, hours.
    pub window_hours: f64,
    /// What the line says.
    pub trend: TrendState,
    /// The day the line reaches the limit.
    pub full_on: Option<Day>,
    /// Days from the report to then (0 when full already).
    pub days_until_full: Option<f64>,
    /// What is left above the 95th percentile, percentage points.
    pub headroom_percent: Option<f64>,
    /// The same in the resource's unit.
    pub headroom: Option<f64>,
    /// The forecast rule whose window and limit were used.
    pub rule: Option<String>,
}

/// The capacity report.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct UsageReport {
    /// The day it was made.
    pub as_of: Day,
    /// Days the 95th percentile is taken over.
    pub p95_days: u64,
    /// Resources, most urgent first.
    pub rows: Vec<UsageRow>,
}

/// The row of one resource at `now` (ms).
pub fn row(
    facts: ResourceFacts,
    summary: &UseSummary,
    settings: &ForecastSettings,
    now: i64,
) -> UsageRow {
    let fitted = summary.last.and_then(|(t, _)| {
        let fit = summary.trend.as_ref()?.fit(t, settings.window_ms)?;
        Some((t, fit))
    });
    let outlook = fitted.map(|(t, fit)| (t, fit.outlook(settings.limit, settings.min_r2)));
    let trend = match (&facts.series, outlook) {
        (None, _) => TrendState::NoHistory,
        (Some(_), None) => TrendState::TooLittleHistory,
        (Some(_), Some((_, o))) => match o {
            Outlook::Full => TrendState::Full,
            Outlook::FullIn(_) => TrendState::Growing,
            Outlook::NotGrowing => TrendState::NotGrowing,
            Outlook::NotATrend => TrendState::NotATrend,
        },
    };
    let full_at = outlook.and_then(|(t, o)| o.full_at(t));
    let headroom_percent = summary.p95.map(|p| (settings.limit - p).max(0.0));
    let (size, size_unit) = match facts.size {
        Some((amount, unit)) => (Some(amount), Some(unit)),
        None => (None, None),
    };
    UsageRow {
        headroom: size
            .zip(headroom_percent)
            .map(|(s, h)| s * h / settings.limit.max(f64::MIN_POSITIVE)),
        asset_id: facts.asset_id,
        hostname: facts.hostname,
        class: facts.class,
        resource: facts.resource,
        subject: facts.subject,
        series: facts.series,
        size,
        size_unit,
        used_percent: summary.last.map(|(_, v)| v),
        used_on: summary.last.and_then(|(t, _)| Day::of_ms(t)),
        p95_percent: summary.p95,
        growth_per_day: fitted.map(|(_, f)| f.per_day()),
        r2: fitted.map(|(_, f)| f.r2),
        window_hours: settings.window_ms as f64 / 3_600_000.0,
        trend,
        full_on: full_at.and_then(Day::of_ms),
        days_until_full: outlook.and_then(|(t, o)| o.days_from(t, now)),
        headroom_percent,
        rule: settings.rule.clone(),
    }
}

/// Most urgent first: full now, then growing by the day they are full,
/// then the rest by least headroom; ties by name.
pub fn rank(rows: &mut [UsageRow]) {
    let urgency = |r: &UsageRow| -> (u8, f64) {
        match (r.trend, r.days_until_full, r.headroom_percent) {
            (TrendState::Full, _, _) => (0, 0.0),
            (TrendState::Growing, Some(days), _) => (1, days),
            (_, _, Some(headroom)) => (2, headroom),
            _ => (3, 0.0),
        }
    };
    rows.sort_by(|a, b| {
        let (ua, ub) = (urgency(a), urgency(b));
        ua.0.cmp(&ub.0)
            .then(ua.1.total_cmp(&ub.1))
            .then_with(|| a.hostname.cmp(&b.hostname))
            .then(a.resource.cmp(&b.resource))
            .then_with(|| a.subject.cmp(&b.subject))
    });
}

/// An amount in its unit, for people.
pub fn amount(v: f64, unit: SizeUnit) -> String {
    match unit {
        SizeUnit::Bytes => bytes(v.max(0.0) as u64),
        SizeUnit::Cpus => match num(v, 1).as_str() {
            "1" => "1 CPU".to_owned(),
            n => format!("{n} CPUs"),
        },
        SizeUnit::BitsPerSecond => bits(v),
    }
}

/// Bits per second in decimal units, as link speeds are given.
pub fn bits(v: f64) -> String {
    let units = [
        (1e12, "Tbit/s"),
        (1e9, "Gbit/s"),
        (1e6, "Mbit/s"),
        (1e3, "kbit/s"),
    ];
    for (scale, unit) in units {
        if v >= scale {
            return format!("{} {unit}", num(v / scale, 1));
        }
    }
    format!("{} bit/s", num(v.max(0.0), 0))
}

#[cfg(test)]
mod tests {
    use super::*;

    const H: i64 = 3_600_000;
    const DAY: i64 = 24 * H;

    fn facts(host: &str, series: Option<&str>) -> ResourceFacts {
        ResourceFacts {
            asset_id: format!("id-{host}"),
            hostname: host.into(),
            class: AssetClass::Host,
            resource: Resource::Filesystem,
            subject: "/var".into(),
            series: series.map(str::to_owned),
            size: Some((1000.0, SizeUnit::Bytes)),
        }
    }

    fn summary(points: impl Iterator<Item = (i64, f64)> + Clone, window_ms: i64) -> UseSummary {
        let mut values: Vec<f64> = points.clone().map(|p| p.1).collect();
        UseSummary {
            last: points.clone().last(),
            p95: super::super::percentile(&mut values, 0.95),
            p5: super::super::percentile(&mut values, 0.05),
            trend: Some(Trend::of_points(points, window_ms)),
        }
    }

    #[test]
    fn the_built_in_rule_dates_filesystems_and_defaults_date_the_rest() {
        let rules = RuleSet::default();
        let host = AssetFacts::default();
        let fs =
            ForecastSettings::for_series(&rules, &host, "filesystem.used_percent{mount=/}", None);
        assert_eq!(fs.rule.as_deref(), Some("filesystem-filling"));
        assert_eq!((fs.window_ms, fs.limit), (72 * H, 100.0));
        let mem = ForecastSettings::for_series(&rules, &host, "memory.used_percent", Some(240));
        assert_eq!((mem.rule, mem.window_ms), (None, 240 * H));
        let off = RuleSet::parse("r.toml", "[rule.filesystem-filling]\nenabled = false\n").unwrap();
        let fs =
            ForecastSettings::for_series(&off, &host, "filesystem.used_percent{mount=/}", None);
        assert_eq!(fs.rule, None);
    }

    #[test]
    fn a_steady_growth_is_dated_and_ranked_first() {
        let settings = ForecastSettings {
            window_ms: 72 * H,
            limit: 100.0,
            min_r2: DEFAULT_MIN_R2,
            rule: None,
        };
        // 2 points a day from 40 %, hourly for 3 days: 46 % at the end, full 27 days later.
        let growing = (0..=72).map(|h| (h * H, 40.0 + h as f64 / 12.0));
        let now = 72 * H;
        let g = row(
            facts("web", Some("fs")),
            &summary(growing, 72 * H),
            &settings,
            now,
        );
        assert_eq!(g.trend, TrendState::Growing);
        assert_eq!(g.full_on, Day::of_ms(now + 27 * DAY));
        assert!((g.days_until_full.unwrap() - 27.0).abs() < 1e-6, "{g:?}");
        assert!((g.growth_per_day.unwrap() - 2.0).abs() < 1e-9);
        assert!((g.r2.unwrap() - 1.0).abs() < 1e-9);
        let p95 = g.p95_percent.unwrap();
        assert!((g.headroom_percent.unwrap() - (100.0 - p95)).abs() < 1e-9);
        assert!((g.headroom.unwrap() - 10.0 * (100.0 - p95)).abs() < 1e-6);
        // Jumping about: not a trend, no date.
        let jumpy = (0..=72).map(|h| {
            let high = (h * 7 + h / 5) % 3 == 0;
            (h * H, 30.0 + if high { 50.0 } else { 0.0 } + h as f64 * 0.1)
        });
        let j = row(
            facts("db", Some("fs")),
            &summary(jumpy, 72 * H),
            &settings,
            now,
        );
        assert_eq!((j.trend, j.full_on), (TrendState::NotATrend, None));
        // Flat and nearly full, and no history at all.
        let flat = row(
            facts("ftp", Some("fs")),
            &summary((0..=72).map(|h| (h * H, 97.0)), 72 * H),
            &settings,
            now,
        );
        assert_eq!(flat.trend, TrendState::NotGrowing);
        let short = row(
            facts("new", Some("fs")),
            &summary((0..3).map(|h| (h * H, 50.0)), 72 * H),
            &settings,
            now,
        );
        assert_eq!(short.trend, TrendState::TooLittleHistory);
        let none = row(facts("sw", None), &UseSummary::default(), &settings, now);
        assert_eq!(none.trend, TrendState::NoHistory);
        let full = row(
            facts("log", Some("fs")),
            &summary((0..=72).map(|h| (h * H, 100.0)), 72 * H),
            &settings,
            now,
        );
        assert_eq!(
            (full.trend, full.days_until_full),
            (TrendState::Full, Some(0.0))
        );
        let mut rows = vec![none, short, flat, j, g, full];
        rank(&mut rows);
        let order: Vec<&str> = rows.iter().map(|r| r.hostname.as_str()).collect();
        assert_eq!(order, ["log", "web", "ftp", "db", "new", "sw"]);
    }
}
