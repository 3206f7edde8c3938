//! Address ranges a discovery sweeps: `192.0.2.0/24`, `2001:db8::/120`,
//! or one address, read from text and counted before anything is sent.
//!
//! A sweep is bounded: one request covers at most [`MAX_SWEEP_ADDRESSES`]
//! addresses (an IPv4 /20), so a typing slip such as `/8` is refused
//! rather than flooding a network.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// The most addresses one discovery request may sweep (an IPv4 /20).
pub const MAX_SWEEP_ADDRESSES: u64 = 4096;

/// One range of addresses: a network and its prefix length.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AddressRange {
    network: IpAddr,
    prefix: u8,
}

/// Text that is not an address range Atalaya sweeps.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RangeError {
    /// Not an address, or not `address/prefix`.
    #[error("`{0}` is not an address or a range such as 192.0.2.0/24")]
    Syntax(String),
    /// A prefix longer than the address.
    #[error("`{text}`: the prefix length must be at most {max}")]
    Prefix {
        /// The range as given.
        text: String,
        /// The longest prefix for its family.
        max: u8,
    },
    /// More addresses than one sweep may cover.
    #[error(
        "{text} holds {count} addresses; one discovery sweeps at most {MAX_SWEEP_ADDRESSES} (a /20): split it"
    )]
    TooLarge {
        /// The ranges as given.
        text: String,
        /// How many addresses they hold.
        count: u64,
    },
}

impl AddressRange {
    /// Parses `a.b.c.d/n`, `v6::addr/n` or a lone address (a /32 or /128).
    pub fn parse(text: &str) -> Result<Self, RangeError> {
        let t = text.trim();
        let (addr, prefix) = match t.split_once('/') {
            Some((a, p)) => {
                let p: u8 = p.parse().map_err(|_| RangeError::Syntax(t.to_owned()))?;
                (a, Some(p))
            }
            None => (t, None),
        };
        let addr: IpAddr = addr.parse().map_err(|_| RangeError::Syntax(t.to_owned()))?;
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let prefix = prefix.unwrap_or(max);
        if prefix > max {
            return Err(RangeError::Prefix {
                text: t.to_owned(),
                max,
            });
        }
        let network = match addr {
            IpAddr::V4(a) => IpAddr::V4(Ipv4Addr::from(u32::from(a) & mask32(prefix))),
            IpAddr::V6(a) => IpAddr::V6(Ipv6Addr::from(u128::from(a) & mask128(prefix))),
        };
        Ok(AddressRange { network, prefix })
    }

    /// How many addresses are swept: for IPv4 networks of more than two
    /// addresses, the network and broadcast addresses are left out.
    pub fn len(&self) -> u64 {
        let host_bits = u32::from(self.max_prefix() - self.prefix);
        let all = if host_bits >= 64 {
            u64::MAX
        } else {
            1u64 << host_bits
        };
        if self.network.is_ipv4() && all > 2 {
            all - 2
        } else {
            all
        }
    }

    /// Whether the range holds no address (never: even a /32 holds one).
    pub fn is_empty(&self) -> bool {
        false
    }

    /// The addresses swept, in order. Only call on a range whose
    /// [`len`](Self::len) was checked: a large IPv6 range yields for long.
    pub fn addresses(&self) -> impl Iterator<Item = IpAddr> + use<> {
        let count = self.len();
        let network = self.network;
        let skip = u128::from(network.is_ipv4() && count != self.total());
        (0..u128::from(count)).map(move |i| match network {
            IpAddr::V4(a) => {
                let n = u128::from(u32::from(a)) + i + skip;
                IpAddr::V4(Ipv4Addr::from(u32::try_from(n).unwrap_or(u32::MAX)))
            }
            IpAddr::V6(a) => IpAddr::V6(Ipv6Addr::from(u128::from(a).wrapping_add(i))),
        })
    }

    fn total(&self) -> u64 {
        let host_bits = u32::from(self.max_prefix() - self.prefix);
        if host_bits >= 64 {
            u64::MAX
        } else {
            1u64 << host_bits
        }
    }

    fn max_prefix(&self) -> u8 {
        if self.network.is_ipv4() { 32 } else { 128 }
    }
}

impl fmt::Display for AddressRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.network, self.prefix)
    }
}

fn mask32(prefix: u8) -> u32 {
    u32::MAX.checked_shl(32 - u32::from(prefix)).unwrap_or(0)
}

fn mask128(prefix: u8) -> u128 {
    u128::MAX.checked_shl(128 - u32::from(prefix)).unwrap_or(0)
}

/// Parses every range and checks that together they hold at most
/// [`MAX_SWEEP_ADDRESSES`] addresses.
pub fn parse_ranges<S: AsRef<str>>(texts: &[S]) -> Result<Vec<AddressRange>, RangeError> {
    let ranges = texts
        .iter()
        .map(|t| AddressRange::parse(t.as_ref()))
        .collect::<Result<Vec<_>, _>>()?;
    let count = ranges
        .iter()
        .fold(0u64, |sum, r| sum.saturating_add(r.len()));
    if count > MAX_SWEEP_ADDRESSES {
        let text = texts
            .iter()
            .map(|t| t.as_ref().trim())
            .collect::<Vec<_>>()
            .join(", ");
        return Err(RangeError::TooLarge { text, count });
    }
    Ok(ranges)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all(text: &str) -> Vec<String> {
        AddressRange::parse(text)
            .unwrap()
            .addresses()
            .map(|a| a.to_string())
            .collect()
    }

    #[test]
    fn ipv4_networks_leave_out_network_and_broadcast() {
        assert_eq!(
            all("127.0.0.3/29"),
            [
                "127.0.0.1",
                "127.0.0.2",
                "127.0.0.3",
                "127.0.0.4",
                "127.0.0.5",
                "127.0.0.6"
            ]
        );
        assert_eq!(all("192.0.2.7"), ["192.0.2.7"]);
        assert_eq!(all("192.0.2.6/31"), ["192.0.2.6", "192.0.2.7"]);
        assert_eq!(AddressRange::parse("10.0.0.0/20").unwrap().len(), 4094);
        assert_eq!(
            AddressRange::parse("10.1.2.3/24").unwrap().to_string(),
            "10.1.2.0/24"
        );
    }

    #[test]
    fn ipv6_ranges_count_every_address() {
        assert_eq!(all("2001:db8::5/127"), ["2001:db8::4", "2001:db8::5"]);
        assert_eq!(AddressRange::parse("2001:db8::/116").unwrap().len(), 4096);
    }

    #[test]
    fn bad_and_oversized_ranges_are_refused_with_the_reason() {
        assert!(matches!(
            AddressRange::parse("10.0.0.0/33"),
            Err(RangeError::Prefix { max: 32, .. })
        ));
        assert!(matches!(
            AddressRange::parse("switch-1"),
            Err(RangeError::Syntax(_))
        ));
        let err = parse_ranges(&["10.0.0.0/19"]).unwrap_err();
        assert!(err.to_string().contains("8190 addresses"), "{err}");
        let err = parse_ranges(&["10.0.0.0/20", "10.1.0.0/24"]).unwrap_err();
        assert!(matches!(err, RangeError::TooLarge { count: 4348, .. }));
        assert_eq!(parse_ranges(&["10.0.0.0/20"]).unwrap().len(), 1);
        assert!(parse_ranges(&["::/0"]).is_err());
    }
}
