//! Network probes: what an agent measures of its own view of the network
//! (round-trip time, jitter and loss to a target), the targets it is given,
//! and the series the collector stores them as.
//!
//! Every agent probes its default gateway, its DNS servers and its
//! collector, plus the targets the collector pushes to it
//! ([`ProbeTarget`]). Each round sends a few probes to every target and
//! reports one [`ProbeResult`] per target.

use serde::{Deserialize, Serialize};

/// What a probe sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum ProbeKind {
    /// ICMP echo (ping); the agent falls back to a TCP connection when it
    /// may not send ICMP (see [`ProbeMethod`]).
    Icmp,
    /// A TCP connection to a port.
    Tcp,
    /// A DNS query over UDP to a server.
    Dns,
    /// An HTTP or HTTPS `GET`, timed to the response head.
    Http,
}

impl ProbeKind {
    /// Every kind, in the order of the table above.
    pub const ALL: [ProbeKind; 4] = [
        ProbeKind::Icmp,
        ProbeKind::Tcp,
        ProbeKind::Dns,
        ProbeKind::Http,
    ];

    /// The kind's name in configuration files and series labels.
    pub fn name(self) -> &'static str {
        match self {
            ProbeKind::Icmp => "icmp",
            ProbeKind::Tcp => "tcp",
            ProbeKind::Dns => "dns",
            ProbeKind::Http => "http",
        }
    }

    /// The kind called `name`, if any.
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.name() == name)
    }
}

impl std::fmt::Display for ProbeKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// How a probe was actually sent: an ICMP probe depends on what the agent
/// is allowed to do, and the collector says which way it went.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum ProbeMethod {
    /// ICMP echo on a raw socket (root or `CAP_NET_RAW`).
    Raw,
    /// ICMP echo on a datagram ICMP socket (`net.ipv4.ping_group_range`
    /// admits the agent's group).
    Datagram,
    /// Neither was allowed: a TCP connection to this port stands in for an
    /// echo; a refused connection is an answer too (the host is up).
    TcpFallback(u16),
    /// A TCP connection (a `tcp` probe).
    Connect,
    /// A UDP query (a `dns` probe).
    Udp,
    /// Plain HTTP.
    Http,
    /// HTTP over TLS.
    Https,
    /// Nothing was sent (the target could not be resolved or parsed).
    None,
}

impl std::fmt::Display for ProbeMethod {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ProbeMethod::Raw => f.write_str("raw"),
            ProbeMethod::Datagram => f.write_str("datagram"),
            ProbeMethod::TcpFallback(port) => write!(f, "tcp/{port}"),
            ProbeMethod::Connect => f.write_str("connect"),
            ProbeMethod::Udp => f.write_str("udp"),
            ProbeMethod::Http => f.write_str("http"),
            ProbeMethod::Https => f.write_str("https"),
            ProbeMethod::None => f.write_str("none"),
        }
    }
}

/// One target an agent probes, as the collector pushes it.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ProbeTarget {
    /// What is sent.
    pub kind: ProbeKind,
    /// `icmp`: a host name or address; `tcp`: `host:port`; `dns`: the
    /// server, `host` or `host:port`; `http`: the URL.
    pub target: String,
    /// `dns`: the name asked for (empty: the root's name servers).
    pub name: String,
}

impl ProbeTarget {
    /// A target of `kind` with no DNS name.
    pub fn new(kind: ProbeKind, target: impl Into<String>) -> Self {
        Self {
            kind,
            target: target.into(),
            name: String::new(),
        }
    }

    /// The label its results carry: the target, and for a DNS probe the
    /// name asked, `name@server`.
    pub fn label(&self) -> String {
        match self.kind {
            ProbeKind::Dns if !self.name.is_empty() => format!("{}@{}", self.name, self.target),
            _ => self.target.clone(),
        }
    }
}

/// One round of probes to one target.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ProbeResult {
    /// The target's label ([`ProbeTarget::label`]).
    pub target: String,
    /// What was sent.
    pub kind: ProbeKind,
    /// How it was sent.
    pub method: ProbeMethod,
    /// Probes sent.
    pub sent: u16,
    /// Probes answered in time.
    pub received: u16,
    /// TCP connections refused (a `tcp` probe; not counted as received).
    pub refused: u16,
    /// Shortest round trip, ms (`None`: no answer).
    pub rtt_min_ms: Option<f64>,
    /// Median round trip, ms.
    pub rtt_median_ms: Option<f64>,
    /// Longest round trip, ms.
    pub rtt_max_ms: Option<f64>,
    /// Mean absolute difference of consecutive round trips, ms (`None`:
    /// fewer than two answers).
    pub jitter_ms: Option<f64>,
    /// Share of the probes not answered, percent.
    pub loss_percent: f64,
    /// What else the round found: the HTTP status, the DNS rcode, the last
    /// error; empty when there is nothing to say.
    pub extra: String,
}

/// Names of the series a probe result is stored as, on the agent's own
/// asset, each labelled `{target=T,kind=K}`.
pub mod series {
    /// Median round trip, ms.
    pub const RTT_MS: &str = "probe.rtt_ms";
    /// Shortest round trip, ms.
    pub const RTT_MIN_MS: &str = "probe.rtt_min_ms";
    /// Longest round trip, ms.
    pub const RTT_MAX_MS: &str = "probe.rtt_max_ms";
    /// Jitter, ms.
    pub const JITTER_MS: &str = "probe.jitter_ms";
    /// Loss, percent.
    pub const LOSS_PERCENT: &str = "probe.loss_percent";
    /// Every probe series, sorted.
    pub const ALL: [&str; 5] = [JITTER_MS, LOSS_PERCENT, RTT_MAX_MS, RTT_MIN_MS, RTT_MS];
}

impl ProbeResult {
    /// The label of this result's series, `{target=T,kind=K}`.
    pub fn labels(&self) -> String {
        format!("{{target={},kind={}}}", self.target, self.kind)
    }

    /// The `(series, value)` pairs this result is stored as: loss always,
    /// the times only when something answered.
    pub fn values(&self) -> Vec<(String, f64)> {
        let labels = self.labels();
        let mut out = vec![(
            format!("{}{labels}", series::LOSS_PERCENT),
            self.loss_percent,
        )];
        let times = [
            (series::RTT_MS, self.rtt_median_ms),
            (series::RTT_MIN_MS, self.rtt_min_ms),
            (series::RTT_MAX_MS, self.rtt_max_ms),
            (series::JITTER_MS, self.jitter_ms),
        ];
        for (name, value) in times {
            if let Some(v) = value {
                out.push((format!("{name}{labels}"), v));
            }
        }
        out.retain(|(_, v)| v.is_finite());
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_have_one_name_each() {
        for kind in ProbeKind::ALL {
            assert_eq!(ProbeKind::from_name(kind.name()), Some(kind));
        }
        assert_eq!(ProbeKind::from_name("ping"), None);
    }

    #[test]
    fn a_dns_label_names_the_question() {
        let mut t = ProbeTarget::new(ProbeKind::Dns, "10.0.0.53");
        assert_eq!(t.label(), "10.0.0.53");
        t.name = "example.org".into();
        assert_eq!(t.label(), "example.org@10.0.0.53");
        assert_eq!(
            ProbeTarget::new(ProbeKind::Tcp, "db:5432").label(),
            "db:5432"
        );
    }

    #[test]
    fn a_round_without_answers_stores_only_its_loss() {
        let r = ProbeResult {
            target: "10.0.0.1".into(),
            kind: ProbeKind::Icmp,
            method: ProbeMethod::Raw,
            sent: 5,
            received: 0,
            refused: 0,
            rtt_min_ms: None,
            rtt_median_ms: None,
            rtt_max_ms: None,
            jitter_ms: None,
            loss_percent: 100.0,
            extra: String::new(),
        };
        assert_eq!(
            r.values(),
            [(
                "probe.loss_percent{target=10.0.0.1,kind=icmp}".to_owned(),
                100.0
            )]
        );
        let answered = ProbeResult {
            received: 5,
            rtt_min_ms: Some(1.0),
            rtt_median_ms: Some(2.0),
            rtt_max_ms: Some(3.0),
            jitter_ms: Some(0.5),
            loss_percent: 0.0,
            ..r
        };
        let names: Vec<String> = answered.values().into_iter().map(|(n, _)| n).collect();
        assert_eq!(names.len(), 5);
        assert!(names.contains(&"probe.rtt_ms{target=10.0.0.1,kind=icmp}".to_owned()));
        assert_eq!(ProbeMethod::TcpFallback(80).to_string(), "tcp/80");
    }
}
