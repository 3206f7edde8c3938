//! Network: interfaces with their addresses, default gateways, resolvers.
//!
//! Addresses come from procfs rather than netlink so that the same code
//! reads fixture trees: IPv6 from `/proc/net/if_inet6`, IPv4 from the local
//! addresses in `/proc/net/fib_trie`, matched to an interface and prefix
//! through the link routes of `/proc/net/route`.

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use atalaya_common::model::{Dns, Gateway, Interface, InterfaceKind, IpNet, Network};

use crate::root::{Gaps, Root};

const SOURCE: &str = "network";
/// `ARPHRD_LOOPBACK` from `<linux/if_arp.h>`.
const ARPHRD_LOOPBACK: u64 = 772;
/// `RTF_GATEWAY` from `<linux/route.h>`.
const RTF_GATEWAY: u32 = 0x2;

/// Reads interfaces, gateways and resolvers.
pub fn collect(root: &Root, gaps: &mut Gaps) -> Network {
    let names = match root.list("/sys/class/net") {
        Ok(names) => names,
        Err(err) => {
            gaps.io(SOURCE, "interfaces", "/sys/class/net", &err);
            Vec::new()
        }
    };
    let mut interfaces: BTreeMap<String, Interface> = names
        .into_iter()
        .map(|name| (name.clone(), interface(root, name)))
        .collect();

    let route_table = root.read("/proc/net/route").unwrap_or_default();
    let routes = parse_ipv4_routes(&route_table);
    match root.read("/proc/net/fib_trie") {
        Ok(trie) => {
            for address in local_ipv4_addresses(&trie) {
                if let Some((iface, prefix)) = owner_of(address, &routes)
                    && let Some(i) = interfaces.get_mut(iface)
                {
                    i.addresses.push(IpNet {
                        address: IpAddr::V4(address),
                        prefix,
                    });
                }
            }
        }
        Err(err) => gaps.io(SOURCE, "IPv4 addresses", "/proc/net/fib_trie", &err),
    }
    if let Ok(text) = root.read("/proc/net/if_inet6") {
        for (iface, net) in parse_if_inet6(&text) {
            if let Some(i) = interfaces.get_mut(iface) {
                i.addresses.push(net);
            }
        }
    }

    let mut gateways: Vec<Gateway> = routes
        .iter()
        .filter(|r| r.flags & RTF_GATEWAY != 0 && r.mask == 0)
        .map(|r| Gateway {
            interface: r.iface.to_owned(),
            address: IpAddr::V4(r.gateway),
        })
        .collect();
    if let Ok(text) = root.read("/proc/net/ipv6_route") {
        gateways.extend(parse_ipv6_default_routes(&text));
    }
    gateways.sort();
    gateways.dedup();

    Network {
        interfaces: interfaces.into_values().collect(),
        gateways,
        dns: dns(root),
    }
}

fn interface(root: &Root, name: String) -> Interface {
    let dir = format!("/sys/class/net/{name}");
    let kind = if root.number(format!("{dir}/type")) == Some(ARPHRD_LOOPBACK) {
        InterfaceKind::Loopback
    } else if root.exists(format!("{dir}/device")) {
        InterfaceKind::Physical
    } else {
        InterfaceKind::Virtual
    };
    let mac = root
        .value(format!("{dir}/address"))
        .filter(|m| m.bytes().any(|b| b != b'0' && b != b':'));
    Interface {
        mac,
        mtu: root
            .number(format!("{dir}/mtu"))
            .and_then(|n| u32::try_from(n).ok()),
        // `speed` is -1 or unreadable (EINVAL) when the link is down or virtual.
        speed_mbps: root
            .value(format!("{dir}/speed"))
            .and_then(|s| s.parse::<u32>().ok())
            .filter(|s| *s > 0),
        state: root
            .value(format!("{dir}/operstate"))
            .unwrap_or_else(|| "unknown".into()),
        kind,
        driver: root.link_name(format!("{dir}/device/driver")),
        addresses: Vec::new(),
        name,
    }
}

/// One line of `/proc/net/route`.
#[derive(Debug, Clone, PartialEq)]
struct Route<'a> {
    iface: &'a str,
    destination: Ipv4Addr,
    gateway: Ipv4Addr,
    flags: u32,
    mask: u32,
}

/// `/proc/net/route` stores addresses as hex of the in-memory (network
/// order) bytes read as a host-order word: on little-endian machines
/// `0100A8C0` is 192.168.0.1.
fn hex_ipv4(field: &str) -> Option<Ipv4Addr> {
    let word = u32::from_str_radix(field, 16).ok()?;
    Some(Ipv4Addr::from(word.to_ne_bytes()))
}

fn parse_ipv4_routes(text: &str) -> Vec<Route<'_>> {
    text.lines()
        .skip(1)
        .filter_map(|line| {
            let f: Vec<&str> = line.split_whitespace().collect();
            let mask = hex_ipv4(f.get(7)?)?;
            Some(Route {
                iface: f.first()?,
                destination: hex_ipv4(f.get(1)?)?,
                gateway: hex_ipv4(f.get(2)?)?,
                flags: u32::from_str_radix(f.get(3)?, 16).ok()?,
                mask: u32::from(mask),
            })
        })
        .collect()
}

/// The addresses the kernel holds as local (`/32 host LOCAL` leaves).
fn local_ipv4_addresses(trie: &str) -> Vec<Ipv4Addr> {
    let mut found = Vec::new();
    let mut last_leaf = None;
    for line in trie.lines() {
        let t = line.trim_start();
        if let Some(leaf) = t.strip_prefix("|-- ") {
            last_leaf = leaf.trim().parse::<Ipv4Addr>().ok();
        } else if t.starts_with("/32 host LOCAL")
            && let Some(a) = last_leaf
        {
            found.push(a);
        }
    }
    found.sort();
    found.dedup();
    found
}

/// The interface and prefix length of a local address: the longest link
/// route (no gateway) that contains it. Loopback addresses belong to `lo`.
fn owner_of<'a>(address: Ipv4Addr, routes: &[Route<'a>]) -> Option<(&'a str, u8)> {
    if address.is_loopback() {
        return Some(("lo", 8));
    }
    let a = u32::from(address);
    routes
        .iter()
        .filter(|r| r.flags & RTF_GATEWAY == 0 && r.mask != 0)
        .filter(|r| a & r.mask == u32::from(r.destination) & r.mask)
        .max_by_key(|r| r.mask.count_ones())
        .map(|r| (r.iface, r.mask.count_ones() as u8))
}

fn hex_ipv6(field: &str) -> Option<Ipv6Addr> {
    (field.len() == 32)
        .then(|| u128::from_str_radix(field, 16).ok())
        .flatten()
        .map(Ipv6Addr::from)
}

/// `/proc/net/if_inet6`: address, ifindex, prefix (hex), scope, flags, name.
fn parse_if_inet6(text: &str) -> Vec<(&str, IpNet)> {
    text.lines()
        .filter_map(|line| {
            let f: Vec<&str> = line.split_whitespace().collect();
            let address = hex_ipv6(f.first()?)?;
            let prefix = u8::from_str_radix(f.get(2)?, 16).ok()?;
            Some((
                *f.get(5)?,
                IpNet {
                    address: IpAddr::V6(address),
                    prefix,
                },
            ))
        })
        .collect()
}

/// Default routes (`::/0`) with a next hop, from `/proc/net/ipv6_route`.
fn parse_ipv6_default_routes(text: &str) -> Vec<Gateway> {
    text.lines()
        .filter_map(|line| {
            let f: Vec<&str> = line.split_whitespace().collect();
            let prefix_len = u8::from_str_radix(f.get(1)?, 16).ok()?;
            let next_hop = hex_ipv6(f.get(4)?)?;
            let interface = (*f.get(9)?).to_owned();
            (prefix_len == 0
                && hex_ipv6(f.first()?)?.is_unspecified()
                && !next_hop.is_unspecified())
            .then_some(Gateway {
                interface,
                address: IpAddr::V6(next_hop),
            })
        })
        .collect()
}

/// Name servers and search domains. Behind systemd-resolved's stub
/// (`127.0.0.53`) the servers actually asked are in its own resolv.conf.
fn dns(root: &Root) -> Dns {
    let mut dns = root
        .read("/etc/resolv.conf")
        .map(|t| parse_resolv_conf(&t))
        .unwrap_or_default();
    let stub = IpAddr::V4(Ipv4Addr::new(127, 0, 0, 53));
    if dns.servers == [stub]
        && let Ok(text) = root.read("/run/systemd/resolve/resolv.conf")
    {
        let upstream = parse_resolv_conf(&text);
        if !upstream.servers.is_empty() {
            dns.servers = upstream.servers;
        }
    }
    dns
}

fn parse_resolv_conf(text: &str) -> Dns {
    let mut dns = Dns::default();
    for line in text.lines() {
        let mut words = line.split_whitespace();
        match words.next() {
            Some("nameserver") => {
                // Scoped IPv6 servers (`fe80::1%eth0`) keep their address.
                if let Some(ip) = words.next().and_then(|w| w.split('%').next()?.parse().ok()) {
                    dns.servers.push(ip);
                }
            }
            Some("search" | "domain") => {
                dns.search = words.map(str::to_owned).collect();
            }
            _ => {}
        }
    }
    dns
}

#[cfg(test)]
mod tests {
    use super::*;

    const TRIE: &str = "Main:\n  +-- 0.0.0.0/0 3 0 5\n     |-- 0.0.0.0\n        /0 universe UNICAST\n     +-- 127.0.0.0/8 2 0 2\n        +-- 127.0.0.0/31 1 0 0\n           |-- 127.0.0.0\n              /8 host LOCAL\n           |-- 127.0.0.1\n              /32 host LOCAL\n     +-- 192.0.2.0/24 2 0 2\n           |-- 192.0.2.0\n              /24 link UNICAST\n           |-- 192.0.2.2\n              /32 host LOCAL\n        |-- 192.0.2.255\n           /32 link BROADCAST\nLocal:\n           |-- 192.0.2.2\n              /32 host LOCAL\n";
    const ROUTE: &str = "Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT\neth0\t00000000\t010200C0\t0003\t0\t0\t0\t00000000\t0\t0\t0\neth0\t000200C0\t00000000\t0001\t0\t0\t0\t00FFFFFF\t0\t0\t0\n";

    #[test]
    fn ipv4_addresses_get_their_interface_and_prefix() {
        let routes = parse_ipv4_routes(ROUTE);
        assert_eq!(routes[0].gateway, Ipv4Addr::new(192, 0, 2, 1));
        let local = local_ipv4_addresses(TRIE);
        assert_eq!(
            local,
            [Ipv4Addr::new(127, 0, 0, 1), Ipv4Addr::new(192, 0, 2, 2)]
        );
        assert_eq!(owner_of(local[1], &routes), Some(("eth0", 24)));
        assert_eq!(owner_of(local[0], &routes), Some(("lo", 8)));
        assert_eq!(owner_of(Ipv4Addr::new(10, 0, 0, 1), &routes), None);
    }

    #[test]
    fn ipv6_addresses_and_default_route() {
        let text = "fe8000000000000000fc00fffe000001 04 40 20 80     eth0\n00000000000000000000000000000001 01 80 10 80       lo\nbroken line\n";
        let parsed = parse_if_inet6(text);
        assert_eq!(parsed.len(), 2);
        assert_eq!(parsed[0].0, "eth0");
        assert_eq!(parsed[0].1.prefix, 64);
        assert_eq!(parsed[1].1.address, "::1".parse::<IpAddr>().unwrap());
        let routes = "00000000000000000000000000000000 00 00000000000000000000000000000000 00 fd000000000000000000000000000001 00000400 00000002 00000000 00000003     eth0\n00000000000000000000000000000000 00 00000000000000000000000000000000 00 00000000000000000000000000000000 ffffffff 00000001 00000000 00200200       lo\n";
        let gws = parse_ipv6_default_routes(routes);
        assert_eq!(
            gws,
            [Gateway {
                interface: "eth0".into(),
                address: "fd00::1".parse().unwrap()
            }]
        );
    }

    #[test]
    fn resolv_conf() {
        let dns = parse_resolv_conf(
            "# x\nnameserver 192.0.2.53\nnameserver fe80::1%eth0\nsearch corp.example lab.example\n",
        );
        assert_eq!(dns.servers.len(), 2);
        assert_eq!(dns.search, ["corp.example", "lab.example"]);
    }

    #[test]
    fn live_host_interfaces_have_their_macs() {
        let mut gaps = Gaps::default();
        let net = collect(&Root::live(), &mut gaps);
        for name in std::fs::read_dir("/sys/class/net").unwrap() {
            let name = name.unwrap().file_name().to_string_lossy().into_owned();
            let iface = net.interfaces.iter().find(|i| i.name == name).expect(&name);
            let mac = std::fs::read_to_string(format!("/sys/class/net/{name}/address")).unwrap();
            if name != "lo" {
                assert_eq!(iface.mac.as_deref(), Some(mac.trim()), "{name}");
            }
        }
    }
}
