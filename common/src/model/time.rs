//! Points in time as they travel between agent, collector and people.

use std::fmt;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Deserializer, Serialize, Serializer, de};

/// Milliseconds since the Unix epoch, UTC.
///
/// In JSON (and any human-readable format) it is an RFC 3339 string such as
/// `2026-11-28T10:58:10Z`; on the wire (postcard) it is a plain integer, so it
/// costs a few bytes. Inventory times are whole seconds; metric times keep
/// their milliseconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
#[cfg_attr(test, derive(proptest_derive::Arbitrary))]
#[cfg_attr(
    feature = "openapi",
    derive(utoipa::ToSchema),
    schema(value_type = String, format = DateTime, example = "2026-11-28T10:58:10Z")
)]
pub struct Timestamp(pub i64);

/// The last millisecond of year 9999: RFC 3339 has four-digit years.
const MAX_MILLIS: i64 = 253_402_300_799_999;

impl Timestamp {
    /// The current time of the system clock.
    pub fn now() -> Self {
        Self::from_system_time(SystemTime::now())
    }

    /// From whole seconds since the epoch.
    pub fn from_secs(secs: i64) -> Self {
        Self(secs.saturating_mul(1000))
    }

    /// Whole seconds since the epoch (rounded down).
    pub fn as_secs(self) -> i64 {
        self.0.div_euclid(1000)
    }

    /// Converts a `SystemTime`; times before 1970 become the epoch.
    pub fn from_system_time(t: SystemTime) -> Self {
        let millis = t
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_millis())
            .unwrap_or(0);
        Self(i64::try_from(millis).unwrap_or(i64::MAX))
    }

    /// The RFC 3339 form, or `None` outside years 1970..=9999.
    pub fn to_rfc3339(self) -> Option<String> {
        if !(0..=MAX_MILLIS).contains(&self.0) {
            return None;
        }
        let t = UNIX_EPOCH + Duration::from_millis(self.0.unsigned_abs());
        Some(if self.0 % 1000 == 0 {
            humantime::format_rfc3339_seconds(t).to_string()
        } else {
            humantime::format_rfc3339_millis(t).to_string()
        })
    }

    /// Parses an RFC 3339 time in UTC (`Z`), with or without fractions.
    pub fn parse_rfc3339(s: &str) -> Result<Self, TimestampError> {
        let t = humantime::parse_rfc3339(s).map_err(|e| TimestampError {
            input: s.to_owned(),
            reason: e.to_string(),
        })?;
        Ok(Self::from_system_time(t))
    }
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.to_rfc3339() {
            Some(s) => f.write_str(&s),
            None => write!(f, "@{}ms", self.0),
        }
    }
}

/// A string that is not an RFC 3339 time.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{input}` is not an RFC 3339 UTC time such as 2026-11-28T10:58:10Z: {reason}")]
pub struct TimestampError {
    /// What was given.
    pub input: String,
    /// Why it was refused.
    pub reason: String,
}

impl Serialize for Timestamp {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        if serializer.is_human_readable() {
            match self.to_rfc3339() {
                Some(s) => serializer.serialize_str(&s),
                None => Err(serde::ser::Error::custom(format!(
                    "timestamp {} ms is outside years 1970..=9999",
                    self.0
                ))),
            }
        } else {
            serializer.serialize_i64(self.0)
        }
    }
}

impl<'de> Deserialize<'de> for Timestamp {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        if deserializer.is_human_readable() {
            let s = String::deserialize(deserializer)?;
            Timestamp::parse_rfc3339(&s).map_err(de::Error::custom)
        } else {
            i64::deserialize(deserializer).map(Timestamp)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_form_is_rfc3339_and_round_trips() {
        let t = Timestamp::from_secs(1_795_863_490);
        let json = serde_json::to_string(&t).unwrap();
        assert_eq!(json, "\"2026-11-28T10:58:10Z\"");
        assert_eq!(serde_json::from_str::<Timestamp>(&json).unwrap(), t);
        let ms = Timestamp(1_795_863_490_123);
        let json = serde_json::to_string(&ms).unwrap();
        assert_eq!(json, "\"2026-11-28T10:58:10.123Z\"");
        assert_eq!(serde_json::from_str::<Timestamp>(&json).unwrap(), ms);
    }

    #[test]
    fn out_of_range_is_an_error_not_a_panic() {
        assert!(serde_json::to_string(&Timestamp(-1)).is_err());
        assert!(serde_json::to_string(&Timestamp(i64::MAX)).is_err());
        assert!(serde_json::from_str::<Timestamp>("\"yesterday\"").is_err());
    }

    #[test]
    fn wire_form_is_an_integer() {
        let bytes = postcard::to_stdvec(&Timestamp(1000)).unwrap();
        assert_eq!(bytes, vec![0xd0, 0x0f]); // zigzag varint of 1000
        assert_eq!(
            postcard::from_bytes::<Timestamp>(&bytes).unwrap(),
            Timestamp(1000)
        );
    }
}
