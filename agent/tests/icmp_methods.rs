//! ICMP probes where the agent may not open a raw socket: an agent
//! without `CAP_NET_RAW` uses a datagram ICMP socket when
//! `net.ipv4.ping_group_range` lets its group, and TCP connections to port
//! 80 when it does not; each result says which way it measured.
//!
//! Each case runs on a thread of its own that moves into a new network
//! namespace (its own loopback and its own `ping_group_range`, so the
//! host's setting is left alone) and drops `CAP_NET_RAW` from its effective
//! set: both are per thread on Linux, and the sockets are opened on that
//! thread. The suite runs as root, as it does for the network namespace
//! tests.

#![allow(clippy::unwrap_used)] // a failed unwrap is a failed test

use std::process::Command;
use std::time::Duration;

use atalaya_agent::probes::{FALLBACK_PORT, Plan, Prober};
use atalaya_common::model::{ProbeKind, ProbeMethod, ProbeResult, ProbeTarget};
use rustix::thread::{CapabilitySet, UnshareFlags, capabilities, set_capabilities};

const RANGE: &str = "/proc/sys/net/ipv4/ping_group_range";

/// Probes 127.0.0.1 over ICMP from a thread in a fresh network namespace
/// whose `ping_group_range` is `range`, without `CAP_NET_RAW`.
fn probe_without_raw(range: &str) -> ProbeResult {
    let range = range.to_owned();
    std::thread::spawn(move || {
        // Deprecated only because unsharing some namespaces (files, the
        // filesystem) under a running thread pool is unsound; a network
        // namespace is not one of them.
        #[allow(deprecated)]
        rustix::thread::unshare(UnshareFlags::NEWNET).expect("unshare: the tests run as root");
        // Child processes start from this thread: they share its namespace.
        let up = Command::new("ip")
            .args(["link", "set", "lo", "up"])
            .status()
            .expect("ip (iproute2) is installed by scripts/test.sh");
        assert!(up.success());
        std::fs::write(RANGE, &range).unwrap();
        assert_eq!(
            std::fs::read_to_string(RANGE)
                .unwrap()
                .split_whitespace()
                .collect::<Vec<_>>(),
            range.split_whitespace().collect::<Vec<_>>()
        );
        let mut caps = capabilities(None).unwrap();
        caps.effective.remove(CapabilitySet::NET_RAW);
        set_capabilities(None, caps).unwrap();

        let plan = Plan {
            count: 4,
            spacing: Duration::from_millis(5),
            timeout: Duration::from_secs(2),
        };
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(async {
            let prober = Prober::new(plan, 1);
            prober
                .probe(&ProbeTarget::new(ProbeKind::Icmp, "127.0.0.1"))
                .await
        })
    })
    .join()
    .unwrap()
}

#[test]
fn without_raw_sockets_a_permitted_group_pings_over_a_datagram_socket() {
    let host_range = std::fs::read_to_string(RANGE).unwrap();
    let r = probe_without_raw("0 0");
    assert_eq!(r.method, ProbeMethod::Datagram, "{r:?}");
    assert_eq!((r.sent, r.received), (4, 4), "{r:?}");
    assert_eq!(r.loss_percent, 0.0);
    assert!(r.rtt_max_ms.is_some_and(|ms| ms < 2000.0), "{r:?}");
    // The host's own setting is untouched.
    assert_eq!(std::fs::read_to_string(RANGE).unwrap(), host_range);
}

#[test]
fn without_raw_or_datagram_sockets_tcp_connections_stand_in() {
    // "1 0" is the kernel's default: no group may open datagram ICMP sockets.
    let r = probe_without_raw("1 0");
    assert_eq!(r.method, ProbeMethod::TcpFallback(FALLBACK_PORT), "{r:?}");
    // Nothing listens on port 80 in the new namespace: each refusal is an
    // answer from the host, so the host is up and nothing is lost.
    assert_eq!((r.sent, r.received), (4, 4), "{r:?}");
    assert_eq!(r.loss_percent, 0.0);
}
