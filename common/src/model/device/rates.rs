//! Interface rates from two polls of a device's counters.
//!
//! Pure arithmetic, kept in `common` next to the counter type so that the
//! agent computes rates and any later consumer (the collector re-deriving a
//! rate, a replay of stored counters) applies exactly the same rules.
//!
//! The rules guard against the classic polling artefacts, where a reset
//! counter reads as a wrap and produces a petabit spike:
//! - the device restarted (its `sysUpTime` went back, or advanced by much
//!   less than the wall clock did), its `ifCounterDiscontinuityTime`
//!   changed, or a 64-bit counter went back: no rate at all for the
//!   interval ([`NoRate`]);
//! - a 32-bit counter that went back wrapped once, and is used only when
//!   the interface speed rules out a second wrap; otherwise that rate is
//!   dropped ([`DropReason::PossibleDoubleWrap`]);
//! - a bit rate above 110 % of the interface speed is dropped
//!   ([`DropReason::AboveSpeed`]), so a rate is never negative and never
//!   above 110 % of a known speed.

use serde::{Deserialize, Serialize};

use super::{Counter, InterfaceCounters};

/// A bit rate above this share of the interface speed is not believed.
pub const MAX_UTILISATION: f64 = 1.10;

/// Smallest Ethernet frame, bits: bounds how fast a packet counter can grow.
const MIN_FRAME_BITS: f64 = 64.0 * 8.0;

/// The rates of one interface over one interval.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct InterfaceRates {
    /// `ifIndex`.
    pub if_index: u32,
    /// Bits received per second.
    pub in_bits_per_second: Option<f64>,
    /// Bits sent per second.
    pub out_bits_per_second: Option<f64>,
    /// Received bits as a percent of the interface speed.
    pub in_utilisation_percent: Option<f64>,
    /// Sent bits as a percent of the interface speed.
    pub out_utilisation_percent: Option<f64>,
    /// Receive errors per second.
    pub in_errors_per_second: Option<f64>,
    /// Transmit errors per second.
    pub out_errors_per_second: Option<f64>,
    /// Received packets discarded per second.
    pub in_discards_per_second: Option<f64>,
    /// Packets to send discarded per second.
    pub out_discards_per_second: Option<f64>,
    /// Rates computed but not believed, and why.
    pub dropped: Vec<DroppedRate>,
}

/// Why an interval gives no rate at all.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, thiserror::Error)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum NoRate {
    /// The interval was not a positive, finite number of seconds.
    #[error("the interval between the two polls is not positive")]
    BadInterval,
    /// The two samples are of different interfaces.
    #[error("the samples are of interfaces {previous} and {current}")]
    OtherInterface {
        /// `ifIndex` of the earlier sample.
        previous: u32,
        /// `ifIndex` of the later sample.
        current: u32,
    },
    /// `sysUpTime` went back: the device or its SNMP agent restarted.
    #[error("the device restarted: sysUpTime went from {previous} to {current} ticks")]
    UptimeWentBack {
        /// Earlier `sysUpTime`, ticks.
        previous: u32,
        /// Later `sysUpTime`, ticks.
        current: u32,
    },
    /// `sysUpTime` advanced by less than half the wall-clock interval: the
    /// device restarted in between and has been up longer than it was before.
    #[error(
        "the device restarted: sysUpTime advanced {advanced_seconds:.1} s in {elapsed_seconds:.1} s"
    )]
    UptimeBehindClock {
        /// Seconds `sysUpTime` advanced.
        advanced_seconds: f64,
        /// Seconds between the polls.
        elapsed_seconds: f64,
    },
    /// `ifCounterDiscontinuityTime` changed: the counters were reset.
    #[error("the interface's counters were reset (ifCounterDiscontinuityTime changed)")]
    DiscontinuityChanged,
    /// A 64-bit counter went back, which only a reset explains.
    #[error("the 64-bit counter {0} went back")]
    HcCounterWentBack(CounterName),
}

/// A rate that was computed but not believed.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct DroppedRate {
    /// Which counter.
    pub counter: CounterName,
    /// Why.
    pub reason: DropReason,
}

/// Why one rate was dropped.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum DropReason {
    /// The bit rate exceeds 110 % of the interface speed.
    AboveSpeed {
        /// The rate computed, bits per second.
        bits_per_second: f64,
        /// The interface speed, bits per second.
        speed_bps: u64,
    },
    /// A 32-bit counter could have wrapped more than once in the interval.
    PossibleDoubleWrap,
    /// The counter changed width (64-bit one poll, 32-bit the other).
    WidthChanged,
}

/// The counters rates are computed from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum CounterName {
    /// Octets received.
    InOctets,
    /// Octets sent.
    OutOctets,
    /// Receive errors.
    InErrors,
    /// Transmit errors.
    OutErrors,
    /// Received packets discarded.
    InDiscards,
    /// Packets to send discarded.
    OutDiscards,
}

impl std::fmt::Display for CounterName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            CounterName::InOctets => "in_octets",
            CounterName::OutOctets => "out_octets",
            CounterName::InErrors => "in_errors",
            CounterName::OutErrors => "out_errors",
            CounterName::InDiscards => "in_discards",
            CounterName::OutDiscards => "out_discards",
        })
    }
}

/// The rates of one interface between two polls `elapsed_seconds` apart.
///
/// `speed_bps` is the interface speed (`None` or 0 when unknown: then there
/// is no utilisation and no speed check, and a 32-bit wrap is taken as a
/// single one).
pub fn interface_rates(
    previous: &InterfaceCounters,
    current: &InterfaceCounters,
    elapsed_seconds: f64,
    speed_bps: Option<u64>,
) -> Result<InterfaceRates, NoRate> {
    check_interval(previous, current, elapsed_seconds)?;
    let speed = speed_bps.filter(|s| *s > 0);
    let ctx = Interval {
        elapsed: elapsed_seconds,
        speed,
    };
    let mut out = InterfaceRates {
        if_index: current.if_index,
        ..InterfaceRates::default()
    };
    let in_octets = ctx.delta(CounterName::InOctets, previous.in_octets, current.in_octets)?;
    let out_octets = ctx.delta(
        CounterName::OutOctets,
        previous.out_octets,
        current.out_octets,
    )?;
    (out.in_bits_per_second, out.in_utilisation_percent) =
        ctx.bits(CounterName::InOctets, in_octets, &mut out.dropped);
    (out.out_bits_per_second, out.out_utilisation_percent) =
        ctx.bits(CounterName::OutOctets, out_octets, &mut out.dropped);
    let per_second = |name, p, c, dropped: &mut Vec<DroppedRate>| {
        ctx.delta(name, p, c).map(|d| ctx.packets(name, d, dropped))
    };
    out.in_errors_per_second = per_second(
        CounterName::InErrors,
        previous.in_errors,
        current.in_errors,
        &mut out.dropped,
    )?;
    out.out_errors_per_second = per_second(
        CounterName::OutErrors,
        previous.out_errors,
        current.out_errors,
        &mut out.dropped,
    )?;
    out.in_discards_per_second = per_second(
        CounterName::InDiscards,
        previous.in_discards,
        current.in_discards,
        &mut out.dropped,
    )?;
    out.out_discards_per_second = per_second(
        CounterName::OutDiscards,
        previous.out_discards,
        current.out_discards,
        &mut out.dropped,
    )?;
    Ok(out)
}

/// The checks that void the whole interval.
fn check_interval(
    previous: &InterfaceCounters,
    current: &InterfaceCounters,
    elapsed: f64,
) -> Result<(), NoRate> {
    if !(elapsed.is_finite() && elapsed > 0.0) {
        return Err(NoRate::BadInterval);
    }
    if previous.if_index != current.if_index {
        return Err(NoRate::OtherInterface {
            previous: previous.if_index,
            current: current.if_index,
        });
    }
    let (p, c) = (previous.sys_uptime_ticks, current.sys_uptime_ticks);
    if c < p {
        return Err(NoRate::UptimeWentBack {
            previous: p,
            current: c,
        });
    }
    let advanced = f64::from(c - p) / 100.0;
    // Half the wall interval less a second of slack: request latency and
    // the device answering from a cache never account for that much.
    if advanced < elapsed / 2.0 - 1.0 {
        return Err(NoRate::UptimeBehindClock {
            advanced_seconds: advanced,
            elapsed_seconds: elapsed,
        });
    }
    if previous.discontinuity_ticks != current.discontinuity_ticks {
        return Err(NoRate::DiscontinuityChanged);
    }
    Ok(())
}

/// One interval's length and the interface speed.
struct Interval {
    elapsed: f64,
    speed: Option<u64>,
}

/// How one counter moved over the interval.
enum Delta {
    /// Not polled in one of the samples.
    Missing,
    /// Moved by this much.
    By(u64),
    /// Moved, but by an amount that cannot be trusted.
    Dropped(DropReason),
}

impl Interval {
    /// How far a counter moved; a 64-bit counter going back voids the interval.
    fn delta(
        &self,
        name: CounterName,
        previous: Option<Counter>,
        current: Option<Counter>,
    ) -> Result<Delta, NoRate> {
        let (Some(p), Some(c)) = (previous, current) else {
            return Ok(Delta::Missing);
        };
        match (p, c) {
            (Counter::Hc(p), Counter::Hc(c)) => c
                .checked_sub(p)
                .map(Delta::By)
                .ok_or(NoRate::HcCounterWentBack(name)),
            (Counter::C32(p), Counter::C32(c)) => Ok(self.delta32(name, p, c)),
            _ => Ok(Delta::Dropped(DropReason::WidthChanged)),
        }
    }

    /// A 32-bit counter's move, assuming at most one wrap, which the
    /// interface speed must make certain.
    fn delta32(&self, name: CounterName, p: u32, c: u32) -> Delta {
        if let Some(speed) = self.speed {
            let unit_bits = match name {
                CounterName::InOctets | CounterName::OutOctets => 8.0,
                _ => MIN_FRAME_BITS,
            };
            let most = speed as f64 * MAX_UTILISATION / unit_bits * self.elapsed;
            if most >= 4_294_967_296.0 {
                return Delta::Dropped(DropReason::PossibleDoubleWrap);
            }
        }
        Delta::By(u64::from(c.wrapping_sub(p)))
    }

    /// Bits per second and utilisation from an octet counter's move.
    fn bits(
        &self,
        name: CounterName,
        delta: Delta,
        dropped: &mut Vec<DroppedRate>,
    ) -> (Option<f64>, Option<f64>) {
        let octets = match delta {
            Delta::Missing => return (None, None),
            Delta::Dropped(reason) => {
                dropped.push(DroppedRate {
                    counter: name,
                    reason,
                });
                return (None, None);
            }
            Delta::By(d) => d,
        };
        let bps = octets as f64 * 8.0 / self.elapsed;
        let Some(speed) = self.speed else {
            return (Some(bps), None);
        };
        if bps > speed as f64 * MAX_UTILISATION {
            dropped.push(DroppedRate {
                counter: name,
                reason: DropReason::AboveSpeed {
                    bits_per_second: bps,
                    speed_bps: speed,
                },
            });
            return (None, None);
        }
        (Some(bps), Some(bps * 100.0 / speed as f64))
    }

    /// Events per second from a packet counter's move.
    fn packets(
        &self,
        name: CounterName,
        delta: Delta,
        dropped: &mut Vec<DroppedRate>,
    ) -> Option<f64> {
        match delta {
            Delta::Missing => None,
            Delta::Dropped(reason) => {
                dropped.push(DroppedRate {
                    counter: name,
                    reason,
                });
                None
            }
            Delta::By(d) => Some(d as f64 / self.elapsed),
        }
    }
}

#[cfg(test)]
mod tests;
