//! Network pieces for tests: namespaces and veth pairs made with `ip`
//! (root only) and processes run inside them, and loopback servers that
//! answer as a test needs (a slow DNS server, open and closed TCP ports).
//!
//! A [`Lab`] names everything it makes with a prefix unique to the test
//! run, so runs side by side do not meet, and removes it all when dropped,
//! also when the test panics (drop runs while unwinding). Drop the
//! processes running in its namespaces before the lab: a namespace lives
//! on while a process is in it.

#![allow(clippy::unwrap_used, clippy::missing_panics_doc)] // a failed unwrap is a failed test

use std::net::{Ipv4Addr, SocketAddr, TcpListener, UdpSocket};
use std::process::{Command, Output};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Labs made by this process, for unique prefixes.
static LABS: AtomicU32 = AtomicU32::new(0);

/// Namespaces and links made for one test, removed on drop.
#[derive(Debug)]
pub struct Lab {
    prefix: String,
    namespaces: Vec<String>,
    root_links: Vec<String>,
    subnet: u8,
}

impl Default for Lab {
    fn default() -> Self {
        Self::new()
    }
}

impl Lab {
    /// A lab with a prefix of its own: `t` and five hex digits from the
    /// process id, the time and a counter (interface names are at most 15
    /// bytes, so the prefix is short).
    pub fn new() -> Lab {
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos());
        let n = LABS.fetch_add(1, Ordering::Relaxed);
        let seed = std::process::id()
            .wrapping_mul(2_654_435_761)
            .wrapping_add(nanos)
            .wrapping_add(n.wrapping_mul(97));
        Lab {
            prefix: format!("t{:05x}", seed & 0xf_ffff),
            namespaces: Vec::new(),
            root_links: Vec::new(),
            subnet: u8::try_from(seed >> 24).unwrap_or(0),
        }
    }

    /// The prefix of every name this lab makes.
    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    /// A name under the lab's prefix, e.g. an interface name (keep `suffix`
    /// to 9 bytes).
    pub fn name(&self, suffix: &str) -> String {
        format!("{}{suffix}", self.prefix)
    }

    /// Creates the namespace `atalaya-<prefix>-<name>` with its loopback up;
    /// returns its name.
    pub fn namespace(&mut self, name: &str) -> String {
        let ns = format!("atalaya-{}-{name}", self.prefix);
        ip(&["netns", "add", &ns]);
        self.namespaces.push(ns.clone());
        ip(&["-n", &ns, "link", "set", "lo", "up"]);
        ns
    }

    /// Creates a veth pair: `a` in namespace `ns_a`, `b` in `ns_b` (`None`:
    /// the root namespace), both up.
    pub fn veth(&mut self, ns_a: Option<&str>, a: &str, ns_b: Option<&str>, b: &str) {
        let mut args = vec!["link", "add", a];
        if let Some(ns) = ns_a {
            args.extend(["netns", ns]);
        }
        args.extend(["type", "veth", "peer", "name", b]);
        if let Some(ns) = ns_b {
            args.extend(["netns", ns]);
        }
        ip(&args);
        for (ns, dev) in [(ns_a, a), (ns_b, b)] {
            if ns.is_none() {
                self.root_links.push(dev.to_owned());
            }
            set_link(ns, dev, true);
        }
    }

    /// Two addresses of a /30 of its own for link number `i` of this lab
    /// (`10.237.x.y`, x chosen per lab): `(first, second)`.
    pub fn addresses(&self, i: u8) -> (Ipv4Addr, Ipv4Addr) {
        let base = (i % 64) * 4;
        (
            Ipv4Addr::new(10, 237, self.subnet, base + 1),
            Ipv4Addr::new(10, 237, self.subnet, base + 2),
        )
    }

    /// Link number `i` of this lab: a veth pair from the root namespace
    /// (`<prefix>r<i>`) into `ns` (`<prefix>m<i>`), both up, with the
    /// addresses of [`Lab::addresses`] (root end first).
    pub fn link(&mut self, ns: &str, i: u8) -> Link {
        let (root_end, ns_end) = (self.name(&format!("r{i}")), self.name(&format!("m{i}")));
        self.veth(None, &root_end, Some(ns), &ns_end);
        let (root_ip, ns_ip) = self.addresses(i);
        add_address(None, &root_end, &format!("{root_ip}/30"));
        add_address(Some(ns), &ns_end, &format!("{ns_ip}/30"));
        Link {
            ns: ns.to_owned(),
            root_end,
            ns_end,
            root_ip,
            ns_ip,
        }
    }

    /// `ip netns exec NS program`: a command running `program` inside `ns`.
    pub fn command(&self, ns: &str, program: &str) -> Command {
        let mut cmd = Command::new("ip");
        cmd.args(["netns", "exec", ns, program]);
        cmd
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        for ns in &self.namespaces {
            // What still runs in it (a daemon's forked children, or every
            // process of a test that panicked) would keep it alive.
            for pid in pids(ns) {
                let _ = rustix::process::kill_process(pid, rustix::process::Signal::KILL);
            }
            let _ = Command::new("ip").args(["netns", "del", ns]).output();
        }
        // A root-side veth goes with its peer's namespace; deleting it here
        // covers a namespace some process still holds.
        for dev in &self.root_links {
            let _ = Command::new("ip").args(["link", "del", dev]).output();
        }
    }
}

/// A veth pair between the root namespace and another, made by
/// [`Lab::link`] and removed with its lab.
#[derive(Debug, Clone)]
pub struct Link {
    /// The other namespace.
    pub ns: String,
    /// The interface in the root namespace.
    pub root_end: String,
    /// The interface in `ns`.
    pub ns_end: String,
    /// The root end's address.
    pub root_ip: Ipv4Addr,
    /// The address in `ns`: a target that answers echoes.
    pub ns_ip: Ipv4Addr,
}

impl Link {
    /// Sets the root end administratively up or down: down cuts the link
    /// (nothing reaches `ns_ip`, and the end in `ns` loses its carrier);
    /// up restores it with its route.
    pub fn set_root_end(&self, up: bool) {
        set_link(None, &self.root_end, up);
    }
}

/// Adds `cidr` (e.g. `10.237.1.2/30`) to `dev` in `ns` (`None`: root).
pub fn add_address(ns: Option<&str>, dev: &str, cidr: &str) {
    ip(&with_ns(ns, &["address", "add", cidr, "dev", dev]));
}

/// Sets `dev` in `ns` (`None`: root) administratively up or down.
pub fn set_link(ns: Option<&str>, dev: &str, up: bool) {
    let state = if up { "up" } else { "down" };
    ip(&with_ns(ns, &["link", "set", dev, state]));
}

/// The names of the namespaces on this machine.
pub fn namespaces() -> Vec<String> {
    let out = run(&["netns", "list"]);
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.split_whitespace().next().map(str::to_owned))
        .collect()
}

/// The processes running in namespace `ns`.
pub fn pids(ns: &str) -> Vec<rustix::process::Pid> {
    let Ok(out) = Command::new("ip").args(["netns", "pids", ns]).output() else {
        return Vec::new();
    };
    String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .filter_map(|p| p.parse().ok())
        .filter_map(rustix::process::Pid::from_raw)
        .collect()
}

fn with_ns<'a>(ns: Option<&'a str>, args: &[&'a str]) -> Vec<&'a str> {
    let mut all = Vec::new();
    if let Some(ns) = ns {
        all.extend(["-n", ns]);
    }
    all.extend_from_slice(args);
    all
}

/// Runs `ip args`, failing the test with what `ip` said if it fails.
fn ip(args: &[&str]) {
    let out = run(args);
    assert!(
        out.status.success(),
        "ip {}: {} (network namespaces need root: CAP_NET_ADMIN and CAP_SYS_ADMIN)",
        args.join(" "),
        String::from_utf8_lossy(&out.stderr).trim()
    );
}

fn run(args: &[&str]) -> Output {
    Command::new("ip")
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("running ip (apt-get install iproute2): {e}"))
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
