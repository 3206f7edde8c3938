//! Network pieces for the probe tests: a veth pair into a network namespace
//! (a target that can be cut by setting its link down), a DNS server on
//! loopback that answers after a chosen delay, and a TCP listener that
//! accepts and drops connections. Needs root (`ip netns`, `ip link`).

#![allow(clippy::unwrap_used, clippy::missing_panics_doc)] // a failed unwrap is a failed test

use std::net::{Ipv4Addr, SocketAddr, TcpListener, UdpSocket};
use std::process::Command;
use std::time::Duration;

/// The `ip` program: in /usr/sbin even where PATH lacks it.
fn ip_program() -> &'static str {
    ["/usr/sbin/ip", "/sbin/ip"]
        .into_iter()
        .find(|p| std::path::Path::new(p).exists())
        .unwrap_or("ip")
}

/// Runs `ip ARGS`, failing the test with its output if it fails.
fn ip(args: &[&str]) {
    let out = Command::new(ip_program()).args(args).output().unwrap();
    assert!(
        out.status.success(),
        "ip {}: {}",
        args.join(" "),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A network namespace holding one end of a veth pair; this end is in the
/// test's namespace. Both are removed when dropped.
#[derive(Debug)]
pub struct Veth {
    ns: String,
    host_if: String,
    /// This end's address.
    pub host: Ipv4Addr,
    /// The namespace end's address: a target that answers echoes.
    pub peer: Ipv4Addr,
}

impl Veth {
    /// A /30 between this namespace and a new one, named after the test
    /// process so that parallel test binaries do not collide.
    pub fn create() -> Self {
        let pid = std::process::id();
        let ns = format!("atp{pid}");
        let host_if = format!("atp{pid}h");
        let peer_if = format!("atp{pid}p");
        // 10.254.N.0/30, N from the process id: another binary's pair is elsewhere.
        let n = u8::try_from(pid % 250).unwrap() + 1;
        let (host, peer) = (Ipv4Addr::new(10, 254, n, 1), Ipv4Addr::new(10, 254, n, 2));
        let _ = Command::new(ip_program())
            .args(["netns", "del", &ns])
            .output();
        ip(&["netns", "add", &ns]);
        let veth = Veth {
            ns: ns.clone(),
            host_if: host_if.clone(),
            host,
            peer,
        };
        ip(&[
            "link", "add", &host_if, "type", "veth", "peer", "name", &peer_if, "netns", &ns,
        ]);
        ip(&["addr", "add", &format!("{host}/30"), "dev", &host_if]);
        ip(&["link", "set", &host_if, "up"]);
        ip(&[
            "-n",
            &ns,
            "addr",
            "add",
            &format!("{peer}/30"),
            "dev",
            &peer_if,
        ]);
        ip(&["-n", &ns, "link", "set", &peer_if, "up"]);
        ip(&["-n", &ns, "link", "set", "lo", "up"]);
        veth
    }

    /// Cuts the link: nothing reaches the peer.
    pub fn set_down(&self) {
        ip(&["link", "set", &self.host_if, "down"]);
    }

    /// Restores the link (and its route, which went with it).
    pub fn set_up(&self) {
        ip(&["link", "set", &self.host_if, "up"]);
    }
}

impl Drop for Veth {
    fn drop(&mut self) {
        let _ = Command::new(ip_program())
            .args(["link", "del", &self.host_if])
            .output();
        let _ = Command::new(ip_program())
            .args(["netns", "del", &self.ns])
            .output();
    }
}

/// A DNS server on a loopback port that answers every query with
/// NOERROR (and no records) `delay` after it came, so a probe's round trip
/// is the delay plus loopback's few microseconds.
#[derive(Debug)]
pub struct SlowDns {
    /// Where it listens.
    pub address: SocketAddr,
}

impl SlowDns {
    /// Starts it on a thread that lives as long as the test process.
    pub fn start(delay: Duration) -> Self {
        let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
        let address = socket.local_addr().unwrap();
        std::thread::spawn(move || {
            let mut buf = [0u8; 512];
            while let Ok((len, from)) = socket.recv_from(&mut buf) {
                if len < 12 {
                    continue;
                }
                let mut answer = buf[..len].to_vec();
                // QR set, recursion available, rcode 0.
                answer[2] |= 0x80;
                answer[3] = 0x80;
                let socket = socket.try_clone().unwrap();
                // The delay is the point of this server, not a wait for an event.
                std::thread::spawn(move || {
                    std::thread::sleep(delay);
                    let _ = socket.send_to(&answer, from);
                });
            }
        });
        SlowDns { address }
    }
}

/// A TCP port that accepts connections (and closes them), on a thread that
/// lives as long as the test process.
pub fn open_port() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let address = listener.local_addr().unwrap();
    std::thread::spawn(move || for _ in listener.incoming() {});
    address
}

/// A loopback TCP port nothing listens on: connections are refused.
pub fn closed_port() -> SocketAddr {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
}
