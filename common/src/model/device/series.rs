//! The names of the series a poller sends for a device.
//!
//! Interface series carry the interface's name as their one label, the way
//! host series carry theirs (`filesystem.used_percent{mount=/var}`):
//! `interface.in_bits_per_second{if=ge-0/0/1}`. The device-wide series
//! (`snmp.reachable`, `snmp.response_ms`) have no label.

use super::rates::InterfaceRates;

/// Bits received per second.
pub const IN_BITS_PER_SECOND: &str = "interface.in_bits_per_second";
/// Bits sent per second.
pub const OUT_BITS_PER_SECOND: &str = "interface.out_bits_per_second";
/// Received bits as a percent of the interface speed.
pub const IN_UTILISATION_PERCENT: &str = "interface.in_utilisation_percent";
/// Sent bits as a percent of the interface speed.
pub const OUT_UTILISATION_PERCENT: &str = "interface.out_utilisation_percent";
/// Receive errors per second.
pub const IN_ERRORS_PER_SECOND: &str = "interface.in_errors_per_second";
/// Transmit errors per second.
pub const OUT_ERRORS_PER_SECOND: &str = "interface.out_errors_per_second";
/// Received packets discarded per second.
pub const IN_DISCARDS_PER_SECOND: &str = "interface.in_discards_per_second";
/// Packets to send discarded per second.
pub const OUT_DISCARDS_PER_SECOND: &str = "interface.out_discards_per_second";
/// 1 when the interface's `ifOperStatus` is up, else 0.
pub const OPER_UP: &str = "interface.oper_up";
/// 1 when the device answered the poll, else 0.
pub const SNMP_REACHABLE: &str = "snmp.reachable";
/// Milliseconds the device took to answer the poll's first request.
pub const SNMP_RESPONSE_MS: &str = "snmp.response_ms";

/// The series name of `metric` for the interface named `interface`.
pub fn interface_series(metric: &str, interface: &str) -> String {
    format!("{metric}{{if={interface}}}")
}

/// Paper left in a printer's tray, as a percent of its capacity; labelled
/// `{tray=NAME}` by [`tray_series`].
pub const TRAY_LEVEL_PERCENT: &str = "printer.tray_level_percent";

/// The name of the tray-level series of the tray labelled `tray`.
pub fn tray_series(tray: &str) -> String {
    format!("{TRAY_LEVEL_PERCENT}{{tray={tray}}}")
}

/// The points of one interface's rates, as `(series name, value)`; rates
/// that could not be computed are left out.
pub fn rate_points(interface: &str, rates: &InterfaceRates) -> Vec<(String, f64)> {
    [
        (IN_BITS_PER_SECOND, rates.in_bits_per_second),
        (OUT_BITS_PER_SECOND, rates.out_bits_per_second),
        (IN_UTILISATION_PERCENT, rates.in_utilisation_percent),
        (OUT_UTILISATION_PERCENT, rates.out_utilisation_percent),
        (IN_ERRORS_PER_SECOND, rates.in_errors_per_second),
        (OUT_ERRORS_PER_SECOND, rates.out_errors_per_second),
        (IN_DISCARDS_PER_SECOND, rates.in_discards_per_second),
        (OUT_DISCARDS_PER_SECOND, rates.out_discards_per_second),
    ]
    .into_iter()
    .filter_map(|(metric, v)| v.map(|v| (interface_series(metric, interface), v)))
    .collect()
}
