//! Network probes: this agent's own view of the network.
//!
//! Each round sends a few probes to every target and reports, per target,
//! what was sent and answered, the round trip's minimum, median and
//! maximum, the jitter and the loss ([`stats`]). Four kinds:
//!
//! - `icmp` ([`icmp`]): echo over a raw socket when the agent may, else a
//!   datagram ICMP socket when `net.ipv4.ping_group_range` admits it, else
//!   TCP connections to port 80 standing in for echoes; the result says
//!   which ([`ProbeMethod`]).
//! - `tcp` ([`tcp`]): connections to `host:port`; a refusal is reported as
//!   such, apart from a timeout, and is not an answer.
//! - `dns` ([`dns`]): a query to a server over UDP, timed, with its rcode.
//! - `http` ([`http`]): a `GET`, timed to the response head, with its status.
//!
//! The targets are the host's gateway, DNS servers and collector
//! ([`system`]), and those the collector pushes ([`targets`]), at most
//! [`MAX_TARGETS`]; at most `concurrency` targets are probed at once.

pub mod dns;
pub mod http;
pub mod icmp;
pub mod stats;
pub mod system;
pub mod targets;
pub mod tcp;

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use atalaya_common::model::{ProbeKind, ProbeMethod, ProbeResult, ProbeTarget};
use tokio::sync::Semaphore;

pub use icmp::Plan;
use stats::RoundStats;

/// Most targets one agent probes; more are left out (and logged).
pub const MAX_TARGETS: usize = 200;
/// The port of the TCP connections that stand in for echoes when the
/// agent may not send ICMP: the most commonly open one.
pub const FALLBACK_PORT: u16 = 80;
/// Default DNS port.
const DNS_PORT: u16 = 53;

/// Runs rounds of probes.
#[derive(Debug)]
pub struct Prober {
    plan: Plan,
    limit: Arc<Semaphore>,
    http: ureq::config::Config,
    cookie: [u8; icmp::COOKIE_LEN],
}

impl Prober {
    /// A prober sending `plan` to each target, `concurrency` targets at once.
    pub fn new(plan: Plan, concurrency: usize) -> Arc<Self> {
        let roots = Arc::new(http::system_roots());
        if roots.is_empty() {
            tracing::warn!(
                "no trusted root certificates found on this system: HTTPS probes will fail to verify servers"
            );
        }
        Arc::new(Prober {
            plan,
            limit: Arc::new(Semaphore::new(concurrency.max(1))),
            http: http::config(roots, plan.timeout),
            cookie: rand::random(),
        })
    }

    /// One round over `targets`: a result per target, in their order.
    pub async fn round(self: &Arc<Self>, targets: &[ProbeTarget]) -> Vec<ProbeResult> {
        let mut set = tokio::task::JoinSet::new();
        for (i, target) in targets.iter().enumerate() {
            let this = Arc::clone(self);
            let target = target.clone();
            set.spawn(async move {
                // The semaphore is never closed.
                let _permit = this.limit.acquire().await;
                (i, this.probe(&target).await)
            });
        }
        let mut done: Vec<Option<ProbeResult>> = vec![None; targets.len()];
        while let Some(joined) = set.join_next().await {
            match joined {
                Ok((i, result)) => {
                    if let Some(slot) = done.get_mut(i) {
                        *slot = Some(result);
                    }
                }
                Err(e) => tracing::error!(error = %e, "a probe failed"),
            }
        }
        done.into_iter().flatten().collect()
    }

    /// One round of probes to one target.
    pub async fn probe(&self, target: &ProbeTarget) -> ProbeResult {
        match target.kind {
            ProbeKind::Icmp => self.icmp(target).await,
            ProbeKind::Tcp => self.tcp(target).await,
            ProbeKind::Dns => self.dns(target).await,
            ProbeKind::Http => self.http(target).await,
        }
    }

    async fn icmp(&self, target: &ProbeTarget) -> ProbeResult {
        let to = match resolve(&target.target, 0).await {
            Ok(to) => to.ip(),
            Err(e) => return unsent(target, e),
        };
        match icmp::open(to.is_ipv6()) {
            Ok((socket, access)) => {
                let first = icmp::Echo {
                    id: rand::random(),
                    seq: rand::random(),
                    cookie: self.cookie,
                };
                let (rtts, error) = icmp::ping(&socket, access, to, first, self.plan).await;
                let method = match access {
                    icmp::Access::Raw => ProbeMethod::Raw,
                    icmp::Access::Datagram => ProbeMethod::Datagram,
                };
                let extra = if rtts.iter().any(Option::is_some) {
                    String::new()
                } else {
                    error.unwrap_or_default()
                };
                result(target, method, &rtts, 0, extra)
            }
            Err(e) if icmp::denied(&e) => {
                // A refusal is an answer here: the host is up.
                let outcomes = tcp::round(SocketAddr::new(to, FALLBACK_PORT), self.plan).await;
                let (rtts, _, extra) = tcp_figures(&outcomes);
                result(
                    target,
                    ProbeMethod::TcpFallback(FALLBACK_PORT),
                    &rtts,
                    0,
                    extra,
                )
            }
            Err(e) => unsent(target, format!("cannot open an ICMP socket: {e}")),
        }
    }

    async fn tcp(&self, target: &ProbeTarget) -> ProbeResult {
        let to = match resolve(&target.target, 0).await {
            Ok(to) if to.port() != 0 => to,
            Ok(_) => return unsent(target, "no port: a tcp target is host:port".into()),
            Err(e) => return unsent(target, e),
        };
        let outcomes = tcp::round(to, self.plan).await;
        let (all, refused, extra) = tcp_figures(&outcomes);
        // Only connections that completed answered; refusals are counted apart.
        let rtts: Vec<Option<f64>> = outcomes
            .iter()
            .zip(all)
            .map(|(o, rtt)| rtt.filter(|_| matches!(o, tcp::Outcome::Connected(_))))
            .collect();
        result(target, ProbeMethod::Connect, &rtts, refused, extra)
    }

    async fn dns(&self, target: &ProbeTarget) -> ProbeResult {
        let server = match resolve(&target.target, DNS_PORT).await {
            Ok(s) => s,
            Err(e) => return unsent(target, e),
        };
        let (rtts, extra) = dns::probe(server, &target.name, rand::random(), self.plan).await;
        result(target, ProbeMethod::Udp, &rtts, 0, extra)
    }

    async fn http(&self, target: &ProbeTarget) -> ProbeResult {
        let url = target.target.clone();
        let method = if url.starts_with("https://") {
            ProbeMethod::Https
        } else if url.starts_with("http://") {
            ProbeMethod::Http
        } else {
            return unsent(target, "not an http:// or https:// URL".into());
        };
        let mut rtts = Vec::with_capacity(usize::from(self.plan.count));
        let mut extra = String::new();
        let start = tokio::time::Instant::now();
        for i in 0..self.plan.count {
            tokio::time::sleep_until(start + self.plan.spacing * u32::from(i)).await;
            let config = self.http.clone();
            let url = url.clone();
            let got = tokio::task::spawn_blocking(move || http::get(&config, &url)).await;
            match got {
                Ok(http::Outcome::Answered(ms, status)) => {
                    rtts.push(Some(ms));
                    extra = format!("status {status}");
                }
                Ok(http::Outcome::Failed(why)) => {
                    rtts.push(None);
                    extra = why;
                }
                Err(e) => {
                    rtts.push(None);
                    extra = e.to_string();
                }
            }
        }
        result(target, method, &rtts, 0, extra)
    }
}

/// Round trips of connection attempts where any answer (connected or
/// refused) counts, the number refused, and what to report.
fn tcp_figures(outcomes: &[tcp::Outcome]) -> (Vec<Option<f64>>, u16, String) {
    let mut refused = 0u16;
    let mut extra = String::new();
    let rtts = outcomes
        .iter()
        .map(|o| match o {
            tcp::Outcome::Connected(ms) => Some(*ms),
            tcp::Outcome::Refused(ms) => {
                refused += 1;
                extra = "connection refused".into();
                Some(*ms)
            }
            tcp::Outcome::TimedOut => None,
            tcp::Outcome::Failed(why) => {
                extra.clone_from(why);
                None
            }
        })
        .collect();
    (rtts, refused, extra)
}

fn result(
    target: &ProbeTarget,
    method: ProbeMethod,
    rtts: &[Option<f64>],
    refused: u16,
    extra: String,
) -> ProbeResult {
    let s = RoundStats::of(rtts);
    ProbeResult {
        target: target.label(),
        kind: target.kind,
        method,
        sent: s.sent,
        received: s.received,
        refused,
        rtt_min_ms: s.min_ms,
        rtt_median_ms: s.median_ms,
        rtt_max_ms: s.max_ms,
        jitter_ms: s.jitter_ms,
        loss_percent: s.loss_percent,
        extra,
    }
}

/// A target nothing could be sent to: full loss, and why.
fn unsent(target: &ProbeTarget, why: String) -> ProbeResult {
    ProbeResult {
        sent: 0,
        loss_percent: 100.0,
        ..result(target, ProbeMethod::None, &[], 0, why)
    }
}

/// The address of `host`, `host:port`, `[v6]:port` or a bare IPv6
/// address, with `default_port` when none is given.
async fn resolve(target: &str, default_port: u16) -> Result<SocketAddr, String> {
    if let Ok(ip) = target.parse::<IpAddr>() {
        return Ok(SocketAddr::new(ip, default_port));
    }
    if let Ok(addr) = target.parse::<SocketAddr>() {
        return Ok(addr);
    }
    let (host, port) = match target.rsplit_once(':') {
        Some((host, port)) if !host.contains(':') => match port.parse::<u16>() {
            Ok(port) => (host, port),
            Err(_) => return Err(format!("{target:?}: the port is not a number")),
        },
        _ => (target, default_port),
    };
    let mut found = tokio::net::lookup_host((host, port))
        .await
        .map_err(|e| format!("cannot resolve {host}: {e}"))?;
    found.next().ok_or_else(|| format!("{host} has no address"))
}

/// The time a round of `plan` takes at most, beyond the time its probes
/// wait for a free slot.
pub fn round_time(plan: Plan) -> Duration {
    plan.spacing * u32::from(plan.count.saturating_sub(1)) + plan.timeout
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan(count: u16) -> Plan {
        Plan {
            count,
            spacing: Duration::from_millis(10),
            timeout: Duration::from_secs(2),
        }
    }

    #[tokio::test]
    async fn targets_are_read_with_and_without_ports() {
        assert_eq!(
            resolve("10.0.0.1", 53).await.unwrap(),
            "10.0.0.1:53".parse().unwrap()
        );
        assert_eq!(
            resolve("10.0.0.1:5353", 53).await.unwrap(),
            "10.0.0.1:5353".parse().unwrap()
        );
        assert_eq!(resolve("::1", 0).await.unwrap(), "[::1]:0".parse().unwrap());
        assert_eq!(
            resolve("[::1]:8080", 0).await.unwrap(),
            "[::1]:8080".parse().unwrap()
        );
        assert_eq!(
            resolve("localhost:x", 0).await.unwrap_err(),
            "\"localhost:x\": the port is not a number"
        );
    }

    #[tokio::test]
    async fn a_refused_port_is_no_answer_but_says_so() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let open = listener.local_addr().unwrap();
        let closed = {
            let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            l.local_addr().unwrap()
        };
        let prober = Prober::new(plan(3), 4);
        let targets = [
            ProbeTarget::new(ProbeKind::Tcp, open.to_string()),
            ProbeTarget::new(ProbeKind::Tcp, closed.to_string()),
            ProbeTarget::new(ProbeKind::Tcp, "127.0.0.1"),
        ];
        let got = prober.round(&targets).await;
        assert_eq!(got.len(), 3);
        assert_eq!(
            (got[0].received, got[0].loss_percent),
            (3, 0.0),
            "{:?}",
            got[0]
        );
        assert!(got[0].rtt_median_ms.is_some());
        assert_eq!((got[1].received, got[1].refused), (0, 3), "{:?}", got[1]);
        assert_eq!(got[1].loss_percent, 100.0);
        assert_eq!(got[1].extra, "connection refused");
        assert_eq!(got[2].method, ProbeMethod::None);
        assert!(got[2].extra.contains("no port"), "{:?}", got[2]);
    }

    #[test]
    fn a_round_takes_its_spacing_and_one_timeout() {
        assert_eq!(round_time(plan(5)), Duration::from_millis(2040));
    }
}
