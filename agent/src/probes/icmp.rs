//! ICMP echo (ping) over IPv4 and IPv6: the packets, the sockets, and one
//! round of echoes to one address.
//!
//! A raw socket needs root or `CAP_NET_RAW`; a datagram ICMP socket needs
//! the agent's group inside `net.ipv4.ping_group_range`. [`open`] tries
//! them in that order and says which one it got. A raw socket sees every
//! ICMP packet the host receives (other programs' pings, our own requests
//! on loopback), so a reply counts only when its source, identifier,
//! sequence number and payload cookie are ours. A datagram socket gets only
//! the replies to its own identifier, which the kernel chooses.

use std::io;
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use socket2::{Domain, Protocol, Socket, Type};
use tokio::net::UdpSocket;
use tokio::time::Instant;

/// Echo request types.
const ECHO_REQUEST_V4: u8 = 8;
const ECHO_REPLY_V4: u8 = 0;
const ECHO_REQUEST_V6: u8 = 128;
const ECHO_REPLY_V6: u8 = 129;
/// ICMP header: type, code, checksum, identifier, sequence.
const HEADER: usize = 8;
/// Bytes after the header that tie a reply to this prober.
pub const COOKIE_LEN: usize = 8;

/// The socket an echo goes out on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// A raw socket: IPv4 replies come with their IP header.
    Raw,
    /// A datagram ICMP socket: the kernel sets the identifier and filters replies.
    Datagram,
}

/// What is matched in a reply.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Echo {
    /// Identifier.
    pub id: u16,
    /// Sequence number.
    pub seq: u16,
    /// The prober's cookie.
    pub cookie: [u8; COOKIE_LEN],
}

/// The Internet checksum (RFC 1071) of `data`.
pub fn checksum(data: &[u8]) -> u16 {
    let mut sum: u32 = 0;
    let mut chunks = data.chunks_exact(2);
    for pair in &mut chunks {
        sum += u32::from(u16::from_be_bytes([pair[0], pair[1]]));
    }
    if let [last] = chunks.remainder() {
        sum += u32::from(*last) << 8;
    }
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    // The fold above leaves at most 16 bits.
    !(sum as u16)
}

/// An echo request. IPv4 requests carry their checksum; an ICMPv6
/// checksum covers a pseudo-header with the source address, which only
/// the kernel knows, and the kernel always fills it in.
pub fn echo_request(v6: bool, echo: &Echo) -> Vec<u8> {
    let kind = if v6 { ECHO_REQUEST_V6 } else { ECHO_REQUEST_V4 };
    let mut packet = Vec::with_capacity(HEADER + COOKIE_LEN);
    packet.extend_from_slice(&[kind, 0, 0, 0]);
    packet.extend_from_slice(&echo.id.to_be_bytes());
    packet.extend_from_slice(&echo.seq.to_be_bytes());
    packet.extend_from_slice(&echo.cookie);
    if !v6 {
        let sum = checksum(&packet).to_be_bytes();
        packet[2] = sum[0];
        packet[3] = sum[1];
    }
    packet
}

/// The echo reply in `packet`, if it is one. `ip_header` says whether the
/// packet starts with an IPv4 header (a raw IPv4 socket's packets do).
/// Anything else (requests, errors, truncated or damaged packets) is `None`.
pub fn parse_reply(v6: bool, ip_header: bool, packet: &[u8]) -> Option<Echo> {
    let icmp = if ip_header {
        let first = *packet.first()?;
        if first >> 4 != 4 || packet.get(9) != Some(&1) {
            return None;
        }
        packet.get(usize::from(first & 0x0f) * 4..)?
    } else {
        packet
    };
    let want = if v6 { ECHO_REPLY_V6 } else { ECHO_REPLY_V4 };
    if icmp.first() != Some(&want) || icmp.get(1) != Some(&0) {
        return None;
    }
    if !v6 && checksum(icmp) != 0 {
        return None;
    }
    let id = u16::from_be_bytes([*icmp.get(4)?, *icmp.get(5)?]);
    let seq = u16::from_be_bytes([*icmp.get(6)?, *icmp.get(7)?]);
    let cookie = icmp.get(HEADER..HEADER + COOKIE_LEN)?.try_into().ok()?;
    Some(Echo { id, seq, cookie })
}

/// An ICMP socket for `v6` addresses: raw if allowed, else datagram.
pub fn open(v6: bool) -> io::Result<(UdpSocket, Access)> {
    let (domain, protocol) = if v6 {
        (Domain::IPV6, Protocol::ICMPV6)
    } else {
        (Domain::IPV4, Protocol::ICMPV4)
    };
    let (socket, access) = match Socket::new(domain, Type::RAW, Some(protocol)) {
        Ok(s) => (s, Access::Raw),
        Err(raw) if denied(&raw) => match Socket::new(domain, Type::DGRAM, Some(protocol)) {
            Ok(s) => (s, Access::Datagram),
            Err(e) => return Err(e),
        },
        Err(e) => return Err(e),
    };
    socket.set_nonblocking(true)?;
    // An ICMP socket reads and writes like an unconnected UDP one: one
    // datagram per packet, with the peer's address.
    let socket = UdpSocket::from_std(std::net::UdpSocket::from(socket))?;
    Ok((socket, access))
}

/// Whether an error means "not allowed" (so the next way may work).
pub fn denied(e: &io::Error) -> bool {
    matches!(e.kind(), io::ErrorKind::PermissionDenied)
        || matches!(e.raw_os_error(), Some(1 | 13 | 93 | 97))
}

/// How one round of echoes goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Plan {
    /// Echoes sent.
    pub count: u16,
    /// Time between two sends.
    pub spacing: Duration,
    /// How long each echo waits for its reply.
    pub timeout: Duration,
}

impl Plan {
    /// The `[probes]` defaults: five echoes 200 ms apart, each waiting 1 s.
    pub const DEFAULT: Plan = Plan {
        count: 5,
        spacing: Duration::from_millis(200),
        timeout: Duration::from_millis(1000),
    };
}

/// One round of `plan.count` echoes to `to` on `socket`: the round trip
/// of each (ms, in send order; `None` when no reply came in time), and the
/// last send error, if any.
pub async fn ping(
    socket: &UdpSocket,
    access: Access,
    to: IpAddr,
    first: Echo,
    plan: Plan,
) -> (Vec<Option<f64>>, Option<String>) {
    let v6 = to.is_ipv6();
    let count = usize::from(plan.count);
    let mut sent_at: Vec<Option<Instant>> = vec![None; count];
    let mut rtts: Vec<Option<f64>> = vec![None; count];
    let mut error = None;
    let start = Instant::now();
    let mut next = 0usize;
    let mut buf = [0u8; 1500];
    let target = SocketAddr::new(to, 0);
    let spacing_at = |i: usize| start + plan.spacing * u32::try_from(i).unwrap_or(u32::MAX);
    loop {
        let all_sent = next >= count;
        let last_sent = sent_at.iter().rev().flatten().next().copied();
        if all_sent
            && rtts
                .iter()
                .zip(&sent_at)
                .all(|(r, s)| r.is_some() || s.is_none())
        {
            break;
        }
        let deadline = last_sent.map_or(start, |t| t + plan.timeout);
        tokio::select! {
            () = tokio::time::sleep_until(spacing_at(next)), if !all_sent => {
                let echo = Echo { seq: first.seq.wrapping_add(u16::try_from(next).unwrap_or(0)), ..first };
                match socket.send_to(&echo_request(v6, &echo), target).await {
                    Ok(_) => sent_at[next] = Some(Instant::now()),
                    Err(e) => error = Some(e.to_string()),
                }
                next += 1;
            }
            () = tokio::time::sleep_until(deadline), if all_sent => break,
            got = socket.recv_from(&mut buf) => {
                let Ok((len, from)) = got else { continue };
                let now = Instant::now();
                if from.ip() != to {
                    continue;
                }
                let ip_header = access == Access::Raw && !v6;
                let Some(reply) = buf.get(..len).and_then(|p| parse_reply(v6, ip_header, p)) else {
                    continue;
                };
                // The kernel chose a datagram socket's identifier and already
                // filtered on it.
                if reply.cookie != first.cookie || (access == Access::Raw && reply.id != first.id) {
                    continue;
                }
                let i = usize::from(reply.seq.wrapping_sub(first.seq));
                if let (Some(Some(sent)), Some(slot @ None)) = (sent_at.get(i), rtts.get_mut(i)) {
                    let rtt = now.duration_since(*sent);
                    if rtt <= plan.timeout {
                        *slot = Some(rtt.as_secs_f64() * 1000.0);
                    }
                }
            }
        }
    }
    (rtts, error)
}

#[cfg(test)]
mod tests {
    use super::*;

    const COOKIE: [u8; COOKIE_LEN] = *b"atalaya!";

    fn echo(seq: u16) -> Echo {
        Echo {
            id: 0x1234,
            seq,
            cookie: COOKIE,
        }
    }

    #[test]
    fn the_checksum_is_rfc_1071s() {
        // RFC 1071's worked example: 0001 f203 f4f5 f6f7 sums to ddf2.
        assert_eq!(
            checksum(&[0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7]),
            !0xddf2
        );
        // An odd length pads with a zero byte.
        assert_eq!(checksum(&[0xff]), !0xff00);
        assert_eq!(checksum(&[]), 0xffff);
    }

    #[test]
    fn an_ipv4_request_has_its_fields_and_a_valid_checksum() {
        let p = echo_request(false, &echo(7));
        assert_eq!(&p[..2], &[8, 0]);
        assert_eq!(&p[4..8], &[0x12, 0x34, 0, 7]);
        assert_eq!(&p[8..], &COOKIE);
        assert_eq!(checksum(&p), 0, "a packet with its checksum sums to zero");
        let v6 = echo_request(true, &echo(7));
        assert_eq!(v6[0], 128);
        assert_eq!(&v6[2..4], &[0, 0], "the kernel fills ICMPv6 checksums");
    }

    /// The reply a host would send to `request`: type changed, checksum redone.
    fn reply_to(request: &[u8], v6: bool) -> Vec<u8> {
        let mut r = request.to_vec();
        r[0] = if v6 { 129 } else { 0 };
        r[2] = 0;
        r[3] = 0;
        if !v6 {
            let sum = checksum(&r).to_be_bytes();
            r[2] = sum[0];
            r[3] = sum[1];
        }
        r
    }

    #[test]
    fn replies_decode_with_or_without_an_ip_header() {
        let reply = reply_to(&echo_request(false, &echo(9)), false);
        assert_eq!(parse_reply(false, false, &reply), Some(echo(9)));
        let mut with_ip = vec![0x45, 0, 0, 36, 0, 0, 0, 0, 64, 1, 0, 0];
        with_ip.extend_from_slice(&[127, 0, 0, 1, 127, 0, 0, 1]);
        with_ip.extend_from_slice(&reply);
        assert_eq!(parse_reply(false, true, &with_ip), Some(echo(9)));
        let v6 = reply_to(&echo_request(true, &echo(3)), true);
        assert_eq!(parse_reply(true, false, &v6), Some(echo(3)));
    }

    #[test]
    fn requests_errors_and_damaged_packets_are_not_replies() {
        let request = echo_request(false, &echo(1));
        assert_eq!(parse_reply(false, false, &request), None, "our own request");
        let mut damaged = reply_to(&request, false);
        damaged[9] ^= 0xff;
        assert_eq!(parse_reply(false, false, &damaged), None, "bad checksum");
        let reply = reply_to(&request, false);
        assert_eq!(parse_reply(false, false, &reply[..10]), None, "truncated");
        // Destination unreachable (type 3) quoting our request.
        let mut unreachable = vec![3, 1, 0, 0, 0, 0, 0, 0];
        unreachable.extend_from_slice(&request);
        assert_eq!(parse_reply(false, false, &unreachable), None);
        // A UDP packet behind an IP header.
        let mut udp = vec![
            0x45, 0, 0, 28, 0, 0, 0, 0, 64, 17, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2,
        ];
        udp.extend_from_slice(&reply);
        assert_eq!(parse_reply(false, true, &udp), None);
        assert_eq!(parse_reply(false, true, &[]), None);
        assert_eq!(parse_reply(false, true, &[0x4f]), None);
        // An IPv4 reply is not an ICMPv6 one.
        assert_eq!(parse_reply(true, false, &reply), None);
    }

    /// Loopback answers echoes on both families; the test suite runs as
    /// root (it also makes network namespaces), so the socket is raw.
    #[tokio::test]
    async fn loopback_answers_every_echo_on_both_families() {
        let plan = Plan {
            count: 3,
            spacing: Duration::from_millis(5),
            timeout: Duration::from_secs(2),
        };
        for to in ["127.0.0.1", "::1"] {
            let to: IpAddr = to.parse().unwrap();
            let (socket, access) = open(to.is_ipv6()).unwrap();
            assert_eq!(access, Access::Raw, "{to}");
            let first = Echo {
                id: 0x5a5a,
                seq: u16::MAX - 1,
                cookie: COOKIE,
            };
            let (rtts, error) = ping(&socket, access, to, first, plan).await;
            assert_eq!(error, None, "{to}");
            assert!(
                rtts.iter().all(|r| r.is_some_and(|ms| ms < 2000.0)),
                "{to}: {rtts:?}"
            );
        }
    }
}
