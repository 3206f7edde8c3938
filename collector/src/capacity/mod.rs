//! Capacity planning, as pure logic fed facts and series summaries (the
//! desk's `capacity` module reads them from the store):
//!
//! - [`usage`]: every resource of every asset (filesystems, memory, swap,
//!   CPU, network device interfaces and storage) with its use now, its
//!   95th percentile, its growth and the day it is full, most urgent
//!   first. The date comes from [`crate::forecast`], as for the forecast
//!   incident rules.
//! - [`installed`]: installed CPUs, cores, memory, disk and bandwidth by
//!   tag, OS, model or site, with how much of each is in use.
//! - [`renewal`]: assets by age and operating systems by end of support.
//! - [`eol`]: the end-of-support table of operating system releases.
//!
//! Dates in reports are days ([`Day`], `YYYY-MM-DD`, UTC).

pub mod eol;
pub mod installed;
pub mod renewal;
pub mod usage;

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

pub use crate::helpers::day::{Day, percentile};

use crate::records::device::DEVICE_ASSET_PREFIX;

/// Hosts (machines with an agent) or network devices (polled over SNMP).
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, ToSchema,
)]
#[serde(rename_all = "kebab-case")]
pub enum AssetClass {
    /// A machine with an agent.
    Host,
    /// A network device polled over SNMP.
    NetworkDevice,
}

impl AssetClass {
    /// Of the asset with this id.
    pub fn of_asset(id: &str) -> Self {
        if id.starts_with(DEVICE_ASSET_PREFIX) {
            AssetClass::NetworkDevice
        } else {
            AssetClass::Host
        }
    }

    /// `host` or `network-device`, as the CLI and API take it.
    pub fn name(self) -> &'static str {
        match self {
            AssetClass::Host => "host",
            AssetClass::NetworkDevice => "network-device",
        }
    }

    /// From [`AssetClass::name`].
    pub fn from_name(name: &str) -> Option<Self> {
        match name {
            "host" => Some(AssetClass::Host),
            "network-device" => Some(AssetClass::NetworkDevice),
            _ => None,
        }
    }
}

/// A number for people: no needless decimals, at most `decimals`.
pub fn num(v: f64, decimals: usize) -> String {
    let text = format!("{v:.decimals$}");
    if text.contains('.') {
        text.trim_end_matches('0').trim_end_matches('.').to_owned()
    } else {
        text
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_for_people() {
        assert_eq!(num(12.0, 1), "12");
        assert_eq!(num(12.345, 1), "12.3");
        assert_eq!(num(0.05, 2), "0.05");
    }
}
