//! Interface traffic from `/proc/net/dev`. The loopback interface is left
//! out: its traffic never leaves the host.

use atalaya_common::model::NetworkIo;

use super::{Baseline, Reader, SOURCE, per_second};
use crate::root::Gaps;

/// Counters kept: rx bytes packets errs drop, tx bytes packets errs drop.
pub const FIELDS: usize = 8;

/// One interface line: the name and its [`FIELDS`] counters; `None` for
/// the two header lines.
pub fn parse_line(line: &str) -> Option<(&str, [u64; FIELDS])> {
    // Old kernels write `eth0:123` with no space; names never hold ':'.
    let (name, rest) = line.split_once(':')?;
    let name = name.trim();
    let mut f = [0u64; 12];
    let mut words = rest.split_ascii_whitespace();
    for slot in &mut f {
        *slot = words.next()?.parse().ok()?;
    }
    // rx: bytes packets errs drop fifo frame compressed multicast; tx: bytes packets errs drop
    let [rx_b, rx_p, rx_e, rx_d, _, _, _, _, tx_b, tx_p, tx_e, tx_d] = f;
    Some((name, [rx_b, rx_p, rx_e, rx_d, tx_b, tx_p, tx_e, tx_d]))
}

/// The rates of one interface from the growth of its counters over `seconds`.
pub fn rates(interface: &str, d: [u64; FIELDS], seconds: f64) -> NetworkIo {
    let [rx_b, rx_p, rx_e, rx_d, tx_b, tx_p, tx_e, tx_d] = d;
    NetworkIo {
        interface: interface.to_owned(),
        rx_bytes_per_second: per_second(rx_b, seconds),
        tx_bytes_per_second: per_second(tx_b, seconds),
        rx_packets_per_second: per_second(rx_p, seconds),
        tx_packets_per_second: per_second(tx_p, seconds),
        rx_errors: rx_e,
        tx_errors: tx_e,
        rx_drops: rx_d,
        tx_drops: tx_d,
    }
}

/// Reads `/proc/net/dev`; rates of the interfaces that were there last time.
pub(crate) fn sample(
    reader: &mut Reader,
    gaps: &mut Gaps,
    baseline: &mut Baseline<FIELDS>,
    seconds: Option<f64>,
) -> Vec<NetworkIo> {
    let text = match reader.read("/proc/net/dev") {
        Ok(text) => text,
        Err(e) => {
            gaps.io(SOURCE, "network", "/proc/net/dev", &e);
            return Vec::new();
        }
    };
    let mut out = Vec::new();
    for (name, counters) in text.lines().filter_map(parse_line) {
        if name == "lo" {
            continue;
        }
        if let (Some(delta), Some(seconds)) = (baseline.update(name, counters), seconds) {
            out.push(rates(name, delta, seconds));
        }
    }
    baseline.finish();
    out
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // a panic is how a test fails
mod tests {
    use super::*;

    #[test]
    fn headers_are_skipped_and_columns_picked() {
        let text = "Inter-|   Receive |  Transmit\n face |bytes packets|bytes\n\
                    eth0: 1000 10 1 2 0 0 0 5 2000 20 3 4 0 0 0 0\n\
                    wlan0:300 3 0 0 0 0 0 0 400 4 0 0 0 0 0 0\n";
        let lines: Vec<_> = text.lines().filter_map(parse_line).collect();
        assert_eq!(
            lines,
            [
                ("eth0", [1000, 10, 1, 2, 2000, 20, 3, 4]),
                ("wlan0", [300, 3, 0, 0, 400, 4, 0, 0])
            ]
        );
    }

    #[test]
    fn rates_are_per_second_and_errors_are_counts() {
        let r = rates("eth0", [5000, 50, 1, 2, 1000, 10, 3, 4], 5.0);
        assert_eq!(r.rx_bytes_per_second, 1000.0);
        assert_eq!(r.rx_packets_per_second, 10.0);
        assert_eq!(r.tx_bytes_per_second, 200.0);
        assert_eq!(r.tx_packets_per_second, 2.0);
        assert_eq!(
            (r.rx_errors, r.rx_drops, r.tx_errors, r.tx_drops),
            (1, 2, 3, 4)
        );
    }
}
