//! Listening sockets from `/proc/net/{tcp,tcp6,udp,udp6}`, and the
//! processes that hold them, found through `/proc/PID/fd`.
//!
//! Hand-written: crates such as `procfs` read only the live `/proc` and
//! bring far more than these few lines of parsing.

use std::collections::HashMap;
use std::fs;
use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use atalaya_common::model::{Listener, Protocol};

use crate::root::{Gaps, Root};

use super::SOURCE;

/// TCP `LISTEN`.
const TCP_LISTEN: &str = "0A";
/// UDP sockets report `TCP_CLOSE` when bound and unconnected.
const UDP_BOUND: &str = "07";

/// The socket tables, and whether a missing table is a gap: the IPv6
/// ones are absent when the kernel runs with IPv6 disabled.
const TABLES: &[(&str, Protocol, bool)] = &[
    ("/proc/net/tcp", Protocol::Tcp, true),
    ("/proc/net/tcp6", Protocol::Tcp, false),
    ("/proc/net/udp", Protocol::Udp, true),
    ("/proc/net/udp6", Protocol::Udp, false),
];

/// A listening socket before its owner is known.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Socket {
    /// `tcp` or `udp`.
    pub protocol: Protocol,
    /// Local address.
    pub address: IpAddr,
    /// Local port.
    pub port: u16,
    /// Socket inode, the key into `/proc/PID/fd`.
    pub inode: u64,
}

/// One line of a `/proc/net` socket table, when it is a listening (TCP)
/// or bound (UDP) socket; the header and every other state give `None`.
pub fn parse_line(line: &str, protocol: Protocol) -> Option<Socket> {
    let mut fields = line.split_whitespace();
    let _slot = fields.next()?;
    let local = fields.next()?;
    let remote = fields.next()?;
    let state = fields.next()?;
    let listening = match protocol {
        Protocol::Tcp => state == TCP_LISTEN,
        Protocol::Udp => state == UDP_BOUND && remote.bytes().all(|b| matches!(b, b'0' | b':')),
    };
    if !listening {
        return None;
    }
    // tx:rx queue, tr:when, retransmits, uid, timeout, then the inode.
    let inode = fields.nth(5)?.parse().ok()?;
    let (address, port) = local.split_once(':')?;
    Some(Socket {
        protocol,
        address: parse_address(address)?,
        port: u16::from_str_radix(port, 16).ok()?,
        inode,
    })
}

/// A hex address as the kernel prints it: each 32-bit word of the address
/// (one for IPv4, four for IPv6) as a number in host byte order.
pub fn parse_address(hex: &str) -> Option<IpAddr> {
    let word = |i: usize| -> Option<[u8; 4]> {
        let text = hex.get(i * 8..i * 8 + 8)?;
        Some(u32::from_str_radix(text, 16).ok()?.to_ne_bytes())
    };
    match hex.len() {
        8 => Some(IpAddr::V4(Ipv4Addr::from(word(0)?))),
        32 => {
            let mut bytes = [0u8; 16];
            for (i, chunk) in bytes.chunks_exact_mut(4).enumerate() {
                chunk.copy_from_slice(&word(i)?);
            }
            Some(IpAddr::V6(Ipv6Addr::from(bytes)))
        }
        _ => None,
    }
}

/// The listening sockets of every table, with the processes that own them.
pub fn listeners(root: &Root, gaps: &mut Gaps) -> Vec<Listener> {
    let mut sockets = Vec::new();
    for &(path, protocol, expected) in TABLES {
        match root.read(path) {
            Ok(text) => sockets.extend(text.lines().filter_map(|l| parse_line(l, protocol))),
            Err(e) if !expected && e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => gaps.io(SOURCE, "listeners", path, &e),
        }
    }
    if sockets.is_empty() {
        return Vec::new();
    }
    let (owners, hidden) = owners(root, sockets.iter().map(|s| s.inode));
    let mut names: HashMap<u32, Option<String>> = HashMap::new();
    let mut listeners: Vec<Listener> = Vec::with_capacity(sockets.len());
    for socket in sockets {
        let pid = owners.get(&socket.inode).copied().flatten();
        let listener = Listener {
            protocol: socket.protocol,
            address: socket.address,
            port: socket.port,
            pid,
            process: pid.and_then(|pid| {
                names
                    .entry(pid)
                    .or_insert_with(|| root.value(format!("/proc/{pid}/comm")))
                    .clone()
            }),
        };
        merge(&mut listeners, listener);
    }
    let unseen = listeners.iter().filter(|l| l.pid.is_none()).count();
    if hidden && unseen > 0 {
        gaps.note(
            SOURCE,
            "listeners",
            format!(
                "owners of {unseen} listeners could not be seen: other processes' /proc/PID/fd is not readable"
            ),
        );
    }
    listeners
}

/// Adds `new` unless the same protocol, address and port is listed
/// already (`SO_REUSEPORT` workers each hold a socket); the lowest known
/// pid is kept, which is the master process of a pre-forking server.
pub fn merge(listeners: &mut Vec<Listener>, new: Listener) {
    let same = listeners
        .iter_mut()
        .find(|l| l.protocol == new.protocol && l.address == new.address && l.port == new.port);
    match same {
        None => listeners.push(new),
        Some(old) => {
            let better = match (old.pid, new.pid) {
                (None, Some(_)) => true,
                (Some(a), Some(b)) => b < a,
                _ => false,
            };
            if better {
                *old = new;
            }
        }
    }
}

/// Maps socket inodes to the lowest pid holding them, by reading the fd
/// links of processes in pid order and stopping once every inode is found.
/// Also says whether some process's fds could not be read.
fn owners(root: &Root, inodes: impl Iterator<Item = u64>) -> (HashMap<u64, Option<u32>>, bool) {
    let mut owners: HashMap<u64, Option<u32>> =
        inodes.filter(|&i| i != 0).map(|i| (i, None)).collect();
    let mut missing = owners.len();
    let mut hidden = false;
    let mut pids: Vec<u32> = root
        .list("/proc")
        .unwrap_or_default()
        .iter()
        .filter_map(|n| n.parse().ok())
        .collect();
    pids.sort_unstable();
    for pid in pids {
        if missing == 0 {
            break;
        }
        let dir = root.path(format!("/proc/{pid}/fd"));
        let entries = match fs::read_dir(&dir) {
            Ok(entries) => entries,
            Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
            Err(_) => {
                hidden = true;
                continue;
            }
        };
        for entry in entries.flatten() {
            let Ok(target) = fs::read_link(entry.path()) else {
                continue;
            };
            let Some(inode) = socket_inode(target.as_os_str().to_str().unwrap_or_default()) else {
                continue;
            };
            if let Some(owner @ None) = owners.get_mut(&inode) {
                *owner = Some(pid);
                missing -= 1;
            }
        }
    }
    (owners, hidden)
}

/// `socket:[12345]` → 12345.
pub fn socket_inode(target: &str) -> Option<u64> {
    target
        .strip_prefix("socket:[")?
        .strip_suffix(']')?
        .parse()
        .ok()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn tcp_listen_lines_are_parsed() {
        let header = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode";
        assert_eq!(parse_line(header, Protocol::Tcp), None);
        let line = "   0: 0100007F:0016 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 22804 1 0000000000000000 100 0 0 10 0";
        assert_eq!(
            parse_line(line, Protocol::Tcp),
            Some(Socket {
                protocol: Protocol::Tcp,
                address: "127.0.0.1".parse().unwrap(),
                port: 22,
                inode: 22804,
            })
        );
        let established = "   1: 0F02000A:0016 0A02000A:C9D2 01 00000000:00000000 02:000A7D2B 00000000     0        0 40521 4 0000000000000000 20 4 29 10 -1";
        assert_eq!(parse_line(established, Protocol::Tcp), None);
        assert_eq!(parse_line("   2: garbage", Protocol::Tcp), None);
        assert_eq!(
            parse_line(
                "   2: 0100007F:zz16 00000000:0000 0A 0 0 0 0 0 1",
                Protocol::Tcp
            ),
            None
        );
    }

    #[test]
    fn ipv6_addresses_are_four_host_order_words() {
        assert_eq!(
            parse_address("00000000000000000000000000000000"),
            Some("::".parse().unwrap())
        );
        assert_eq!(
            parse_address("00000000000000000000000001000000"),
            Some("::1".parse().unwrap())
        );
        assert_eq!(
            parse_address("B80D0120000000000000000001000000"),
            Some("2001:db8::1".parse().unwrap())
        );
        assert_eq!(parse_address("0000"), None);
        assert_eq!(parse_address("ZZ00007F"), None);
        let line = "   0: 00000000000000000000000000000000:0016 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 23001 1 0000000000000000 100 0 0 10 0";
        let socket = parse_line(line, Protocol::Tcp).unwrap();
        assert_eq!(socket.address, "::".parse::<IpAddr>().unwrap());
        assert_eq!(socket.port, 22);
    }

    #[test]
    fn udp_counts_only_unconnected_sockets() {
        let bound = " 1433: 3500007F:0035 00000000:0000 07 00000000:00000000 00:00000000 00000000   991        0 19231 2 0000000000000000 0";
        let socket = parse_line(bound, Protocol::Udp).unwrap();
        assert_eq!(socket.address, "127.0.0.53".parse::<IpAddr>().unwrap());
        assert_eq!(socket.port, 53);
        let connected = " 1433: 0F02000A:A1B2 08080808:0035 01 00000000:00000000 00:00000000 00000000  1000        0 55555 2 0000000000000000 0";
        assert_eq!(parse_line(connected, Protocol::Udp), None);
    }

    #[test]
    fn duplicates_keep_the_lowest_pid() {
        let l = |pid| Listener {
            protocol: Protocol::Tcp,
            address: "0.0.0.0".parse().unwrap(),
            port: 80,
            pid,
            process: None,
        };
        let mut all = Vec::new();
        for pid in [None, Some(1202), Some(1201), None] {
            merge(&mut all, l(pid));
        }
        assert_eq!(all, [l(Some(1201))]);
    }

    #[test]
    fn socket_links_give_inodes() {
        assert_eq!(socket_inode("socket:[12345]"), Some(12345));
        assert_eq!(socket_inode("pipe:[12345]"), None);
        assert_eq!(socket_inode("/dev/null"), None);
    }
}
