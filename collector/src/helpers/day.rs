//! Calendar days (UTC) for reports, and the nearest-rank percentile
//! reports quote.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use time::{Date, Month, OffsetDateTime};
use utoipa::ToSchema;

/// Milliseconds in a day.
pub const MS_PER_DAY: i64 = 86_400_000;

/// A calendar day (UTC), shown and serialized as `YYYY-MM-DD`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, ToSchema)]
#[schema(value_type = String, format = Date, example = "2026-11-28")]
pub struct Day(Date);

impl Day {
    /// The day holding the time `ms` (ms since the Unix epoch); `None`
    /// for a time outside the years the calendar handles.
    pub fn of_ms(ms: i64) -> Option<Day> {
        OffsetDateTime::from_unix_timestamp(ms.div_euclid(1000))
            .ok()
            .map(|t| Day(t.date()))
    }

    /// As [`Day::of_ms`], the first or last day the calendar handles for
    /// a time outside it.
    pub fn of_ms_saturating(ms: i64) -> Day {
        Day::of_ms(ms).unwrap_or(if ms < 0 {
            Day(Date::MIN)
        } else {
            Day(Date::MAX)
        })
    }

    /// The day of a year, month (1 to 12) and day of month, if it exists.
    pub fn from_ymd(year: i32, month: u8, day: u8) -> Option<Day> {
        let month = Month::try_from(month).ok()?;
        Date::from_calendar_date(year, month, day).ok().map(Day)
    }

    /// `YYYY-MM-DD`.
    pub fn parse(text: &str) -> Option<Day> {
        let mut parts = text.trim().splitn(3, '-');
        let (y, m, d) = (parts.next()?, parts.next()?, parts.next()?);
        if y.len() != 4 || m.len() != 2 || d.len() != 2 {
            return None;
        }
        Day::from_ymd(y.parse().ok()?, m.parse().ok()?, d.parse().ok()?)
    }

    /// Midnight (UTC) starting the day, ms since the Unix epoch.
    pub fn start_ms(self) -> i64 {
        (i64::from(self.0.to_julian_day()) - UNIX_EPOCH_JULIAN_DAY).saturating_mul(MS_PER_DAY)
    }

    /// The same day of the month `months` later (the month's last day when
    /// it is shorter).
    pub fn plus_months(self, months: u32) -> Day {
        let index = i64::from(self.0.month() as u8 - 1) + i64::from(months);
        let year = i64::from(self.0.year()) + index.div_euclid(12);
        let Ok(year) = i32::try_from(year) else {
            return self;
        };
        let Ok(month) = Month::try_from((index.rem_euclid(12) + 1) as u8) else {
            return self;
        };
        let day = self.0.day().min(month.length(year));
        Date::from_calendar_date(year, month, day).map_or(self, Day)
    }

    /// The day after (the last day the calendar handles stays itself).
    pub fn next(self) -> Day {
        self.0.next_day().map_or(self, Day)
    }

    /// The day `days` before (the first day the calendar handles stays itself).
    pub fn minus_days(self, days: u32) -> Day {
        self.0
            .checked_sub(time::Duration::days(i64::from(days)))
            .map_or(self, Day)
    }

    /// The day `days` after (the last day the calendar handles stays itself).
    pub fn plus_days(self, days: u32) -> Day {
        self.0
            .checked_add(time::Duration::days(i64::from(days)))
            .map_or(self, Day)
    }

    /// The first day of the month of `self`.
    pub fn first_of_month(self) -> Day {
        self.0.replace_day(1).map_or(self, Day)
    }

    /// The last day of the month of `self`.
    pub fn last_of_month(self) -> Day {
        let len = self.0.month().length(self.0.year());
        self.0.replace_day(len).map_or(self, Day)
    }

    /// Whole days from `self` to `later` (negative when `later` is earlier).
    pub fn days_until(self, later: Day) -> i64 {
        i64::from(later.0.to_julian_day()) - i64::from(self.0.to_julian_day())
    }
}

/// The Julian day number of 1970-01-01.
const UNIX_EPOCH_JULIAN_DAY: i64 = 2_440_588;

impl fmt::Display for Day {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{:04}-{:02}-{:02}",
            self.0.year(),
            self.0.month() as u8,
            self.0.day()
        )
    }
}

impl Serialize for Day {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Day {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        Day::parse(&text)
            .ok_or_else(|| serde::de::Error::custom(format!("`{text}` is not a date YYYY-MM-DD")))
    }
}

/// The value below which `share` of `values` lie (nearest rank), e.g.
/// the 95th percentile for 0.95; `None` for no values. Reorders `values`.
pub fn percentile(values: &mut [f64], share: f64) -> Option<f64> {
    if values.is_empty() {
        return None;
    }
    let rank = (share.clamp(0.0, 1.0) * values.len() as f64).ceil() as usize;
    let index = rank.saturating_sub(1).min(values.len() - 1);
    let (_, v, _) = values.select_nth_unstable_by(index, f64::total_cmp);
    Some(*v)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn days_read_write_and_count() {
        let d = Day::parse("2026-01-31").unwrap();
        assert_eq!(d.to_string(), "2026-01-31");
        assert_eq!(d.plus_months(1).to_string(), "2026-02-28");
        assert_eq!(d.plus_months(13).to_string(), "2027-02-28");
        assert_eq!(Day::of_ms(d.start_ms()), Some(d));
        assert_eq!(
            Day::of_ms(d.start_ms() - 1).unwrap().to_string(),
            "2026-01-30"
        );
        assert_eq!(Day::of_ms(0).unwrap().to_string(), "1970-01-01");
        assert_eq!(d.days_until(Day::parse("2026-03-01").unwrap()), 29);
        assert_eq!(d.next().to_string(), "2026-02-01");
        let feb = Day::parse("2028-02-10").unwrap();
        assert_eq!(feb.first_of_month().to_string(), "2028-02-01");
        assert_eq!(feb.last_of_month().to_string(), "2028-02-29");
        for bad in ["2026-13-01", "2026-02-30", "26-01-01", "2026-1-1", "", "x"] {
            assert_eq!(Day::parse(bad), None, "{bad}");
        }
        assert_eq!(Day::of_ms(i64::MAX), None);
        let json = serde_json::to_string(&d).unwrap();
        assert_eq!(json, "\"2026-01-31\"");
        assert_eq!(serde_json::from_str::<Day>(&json).unwrap(), d);
        assert!(serde_json::from_str::<Day>("\"2026-02-30\"").is_err());
    }

    #[test]
    fn percentiles_by_nearest_rank() {
        let mut v: Vec<f64> = (1..=100).map(f64::from).collect();
        v.reverse();
        assert_eq!(percentile(&mut v, 0.95), Some(95.0));
        assert_eq!(percentile(&mut v, 1.0), Some(100.0));
        assert_eq!(percentile(&mut v, 0.0), Some(1.0));
        assert_eq!(percentile(&mut [7.0], 0.95), Some(7.0));
        assert_eq!(percentile(&mut [], 0.95), None);
    }
}
