//! DNS probes: a query (RFC 1035) for a name sent over UDP to a server,
//! timed to its answer, whatever the answer says; the answer's rcode is
//! reported beside the times.

use std::net::SocketAddr;
use std::time::Duration;

use tokio::net::UdpSocket;
use tokio::time::Instant;

use super::icmp::Plan;

/// Record types asked for.
const TYPE_A: u16 = 1;
const TYPE_NS: u16 = 2;
/// Recursion desired.
const FLAG_RD: u16 = 0x0100;
/// The header's response bit.
const FLAG_QR: u16 = 0x8000;

/// A name that cannot be asked for.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NameError {
    /// A label is empty or over 63 bytes.
    #[error("{name:?} is not a DNS name: each label must have 1 to 63 characters")]
    Label {
        /// The name.
        name: String,
    },
    /// The whole name is over 253 bytes.
    #[error("{name:?} is not a DNS name: longer than 253 characters")]
    TooLong {
        /// The name.
        name: String,
    },
}

/// A query with identifier `id` for the addresses of `name`, or for the
/// root's name servers when `name` is empty or `.`.
pub fn query(id: u16, name: &str) -> Result<Vec<u8>, NameError> {
    let name = name.strip_suffix('.').unwrap_or(name);
    if name.len() > 253 {
        return Err(NameError::TooLong { name: name.into() });
    }
    let mut q = Vec::with_capacity(18 + name.len());
    q.extend_from_slice(&id.to_be_bytes());
    q.extend_from_slice(&FLAG_RD.to_be_bytes());
    q.extend_from_slice(&[0, 1, 0, 0, 0, 0, 0, 0]);
    if !name.is_empty() {
        for label in name.split('.') {
            let len = u8::try_from(label.len())
                .ok()
                .filter(|l| (1..=63).contains(l))
                .ok_or_else(|| NameError::Label { name: name.into() })?;
            q.push(len);
            q.extend_from_slice(label.as_bytes());
        }
    }
    q.push(0);
    let kind = if name.is_empty() { TYPE_NS } else { TYPE_A };
    q.extend_from_slice(&kind.to_be_bytes());
    q.extend_from_slice(&1u16.to_be_bytes());
    Ok(q)
}

/// The identifier and rcode of a response; `None` for anything that is
/// not a response.
pub fn parse_response(packet: &[u8]) -> Option<(u16, u8)> {
    let id = u16::from_be_bytes([*packet.first()?, *packet.get(1)?]);
    let flags = u16::from_be_bytes([*packet.get(2)?, *packet.get(3)?]);
    if flags & FLAG_QR == 0 || packet.len() < 12 {
        return None;
    }
    // The low four bits: the header's rcode.
    Some((id, (flags & 0x000f) as u8))
}

/// The name of an rcode, as tools print it.
pub fn rcode_name(rcode: u8) -> String {
    match rcode {
        0 => "NOERROR".into(),
        1 => "FORMERR".into(),
        2 => "SERVFAIL".into(),
        3 => "NXDOMAIN".into(),
        4 => "NOTIMP".into(),
        5 => "REFUSED".into(),
        other => format!("rcode {other}"),
    }
}

/// One round of queries for `name` to `server`: the round trip of each
/// (ms, in send order), and what to report (the last rcode, or the last
/// error).
pub async fn probe(
    server: SocketAddr,
    name: &str,
    first_id: u16,
    plan: Plan,
) -> (Vec<Option<f64>>, String) {
    let count = usize::from(plan.count);
    let mut rtts = vec![None; count];
    let bind: SocketAddr = if server.is_ipv6() {
        "[::]:0".parse().unwrap_or(server)
    } else {
        "0.0.0.0:0".parse().unwrap_or(server)
    };
    let socket = match UdpSocket::bind(bind).await {
        Ok(s) => s,
        Err(e) => return (rtts, format!("cannot open a UDP socket: {e}")),
    };
    if let Err(e) = socket.connect(server).await {
        return (rtts, e.to_string());
    }
    let mut sent_at: Vec<Option<Instant>> = vec![None; count];
    let mut last = String::new();
    let start = Instant::now();
    let mut next = 0usize;
    let mut buf = [0u8; 1500];
    let at = |i: usize| start + plan.spacing * u32::try_from(i).unwrap_or(u32::MAX);
    loop {
        let all_sent = next >= count;
        if all_sent
            && rtts
                .iter()
                .zip(&sent_at)
                .all(|(r, s)| r.is_some() || s.is_none())
        {
            break;
        }
        let deadline = sent_at
            .iter()
            .rev()
            .flatten()
            .next()
            .map_or(start, |t| *t + plan.timeout);
        tokio::select! {
            () = tokio::time::sleep_until(at(next)), if !all_sent => {
                let id = first_id.wrapping_add(u16::try_from(next).unwrap_or(0));
                let sent = match query(id, name) {
                    Ok(q) => socket.send(&q).await.map(|_| ()).map_err(|e| e.to_string()),
                    Err(e) => Err(e.to_string()),
                };
                match sent {
                    Ok(()) => sent_at[next] = Some(Instant::now()),
                    Err(e) => last = e,
                }
                next += 1;
            }
            () = tokio::time::sleep_until(deadline), if all_sent => break,
            got = socket.recv(&mut buf) => {
                let now = Instant::now();
                let len = match got {
                    Ok(len) => len,
                    Err(e) => {
                        // An ICMP port unreachable comes back as an error on
                        // a connected socket: no server listens there.
                        last = e.to_string();
                        continue;
                    }
                };
                let Some((id, rcode)) = buf.get(..len).and_then(parse_response) else {
                    continue;
                };
                let i = usize::from(id.wrapping_sub(first_id));
                if let (Some(Some(sent)), Some(slot @ None)) = (sent_at.get(i), rtts.get_mut(i)) {
                    let rtt: Duration = now.duration_since(*sent);
                    if rtt <= plan.timeout {
                        *slot = Some(rtt.as_secs_f64() * 1000.0);
                        last = rcode_name(rcode);
                    }
                }
            }
        }
    }
    (rtts, last)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_query_is_a_header_and_one_question() {
        let q = query(0xabcd, "www.example.org.").unwrap();
        assert_eq!(&q[..12], &[0xab, 0xcd, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0]);
        assert_eq!(&q[12..], b"\x03www\x07example\x03org\x00\x00\x01\x00\x01");
        let root = query(1, "").unwrap();
        assert_eq!(&root[12..], &[0, 0, 2, 0, 1], "the root's name servers");
        assert!(matches!(query(1, "a..b"), Err(NameError::Label { .. })));
        assert!(matches!(
            query(1, &"x".repeat(64)),
            Err(NameError::Label { .. })
        ));
        let long = vec!["abcdefghi"; 26].join(".");
        assert!(matches!(query(1, &long), Err(NameError::TooLong { .. })));
    }

    #[test]
    fn responses_give_their_id_and_rcode() {
        let mut r = query(0x0102, "example.org").unwrap();
        assert_eq!(parse_response(&r), None, "a query is not a response");
        r[2] |= 0x80;
        r[3] |= 0x03;
        assert_eq!(parse_response(&r), Some((0x0102, 3)));
        assert_eq!(rcode_name(3), "NXDOMAIN");
        assert_eq!(rcode_name(9), "rcode 9");
        assert_eq!(parse_response(&r[..5]), None);
    }
}
