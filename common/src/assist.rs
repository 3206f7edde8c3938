//! Remote assistance: the diagnostic actions the help desk may ask an
//! agent to run, with their typed and checked arguments, and the signed
//! order that carries one to the agent.
//!
//! The set of actions is closed: there is no way to name a program or a
//! shell command. Each argument is checked here, by both sides (the
//! collector before it signs, the agent before it runs), so a host name
//! cannot pass for an option and a path cannot climb out with `..`.

use std::fmt;
use std::net::IpAddr;

use serde::{Deserialize, Serialize};

use crate::model::Timestamp;

/// Most lines `log-tail` may ask for.
pub const MAX_LOG_LINES: u32 = 5000;
/// Longest path an action takes.
pub const MAX_PATH_BYTES: usize = 4096;
/// Longest time an order may stay valid: the agent remembers the ids it
/// ran for that long to refuse them a second time.
pub const MAX_VALIDITY_SECONDS: i64 = 24 * 3600;
/// Domain separation of the signed bytes: a signature over an order is
/// never a signature over anything else the CA key signs.
const SIGNING_CONTEXT: &[u8] = b"atalaya diagnostic order v1\0";

/// One diagnostic action and its arguments.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Action {
    /// ICMP echo toward a host (`ping HOST`).
    Ping {
        /// Host name or IP address.
        host: String,
    },
    /// Whether a TCP connection opens (`tcp-connect HOST PORT`).
    TcpConnect {
        /// Host name or IP address.
        host: String,
        /// TCP port, 1–65535.
        port: u16,
    },
    /// The addresses a name resolves to (`dns-lookup NAME`).
    DnsLookup {
        /// The name.
        name: String,
    },
    /// The route toward a host (`traceroute HOST`).
    Traceroute {
        /// Host name or IP address.
        host: String,
    },
    /// The processes using the most CPU and memory (`top-processes`).
    TopProcesses,
    /// Sizes of the entries directly under a directory (`disk-usage PATH`).
    DiskUsage {
        /// Absolute path.
        path: String,
    },
    /// The state of a service (`service-status NAME`).
    ServiceStatus {
        /// Unit name, e.g. `nginx` or `nginx.service`.
        name: String,
    },
    /// Restarts a service (`service-restart NAME`).
    ServiceRestart {
        /// Unit name.
        name: String,
    },
    /// The last lines of a log file (`log-tail PATH N`).
    LogTail {
        /// Absolute path.
        path: String,
        /// Lines, 1 to [`MAX_LOG_LINES`].
        lines: u32,
    },
    /// The sockets listening on the machine (`listening-sockets`).
    ListeningSockets,
    /// One JSON document for the help desk to keep (`support-bundle`):
    /// the machine's inventory now, the health samples of the last hour,
    /// the last lines of the logs the machine lets `log-tail` read, and of
    /// its remote assistance log.
    SupportBundle,
}

/// Every action name, in the order of [`Action`].
pub const ACTION_NAMES: &[&str] = &[
    "ping",
    "tcp-connect",
    "dns-lookup",
    "traceroute",
    "top-processes",
    "disk-usage",
    "service-status",
    "service-restart",
    "log-tail",
    "listening-sockets",
    "support-bundle",
];

/// The actions that change nothing on the machine: what an agent allows
/// when its configuration does not say.
pub const READ_ONLY_ACTIONS: &[&str] = &[
    "ping",
    "tcp-connect",
    "dns-lookup",
    "traceroute",
    "top-processes",
    "disk-usage",
    "service-status",
    "log-tail",
    "listening-sockets",
    "support-bundle",
];

/// An action or an argument that is not acceptable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ActionError {
    /// No action has this name.
    #[error("unknown action {0:?} (known: {known})", known = ACTION_NAMES.join(", "))]
    Unknown(String),
    /// Too few or too many arguments.
    #[error("{action} takes {expected}, got {got} argument(s)")]
    Arguments {
        /// The action.
        action: &'static str,
        /// What it takes, e.g. `HOST PORT`.
        expected: &'static str,
        /// How many were given.
        got: usize,
    },
    /// A host that is neither an IP address nor a valid host name.
    #[error("{0:?} is not a host name or an IP address")]
    Host(String),
    /// A port that is not a number from 1 to 65535.
    #[error("{0:?} is not a TCP port (1-65535)")]
    Port(String),
    /// A path that is not absolute, climbs with `..`, or is too long.
    #[error("path {path:?}: {reason}")]
    Path {
        /// The path.
        path: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// A service name with characters a unit name does not have.
    #[error(
        "{0:?} is not a service name (letters, digits and @ . _ : - only, not starting with -)"
    )]
    Service(String),
    /// A line count out of range.
    #[error("{0:?} lines: expected a whole number from 1 to {MAX_LOG_LINES}")]
    Lines(String),
}

impl Action {
    /// The action's name, as people type it.
    pub fn name(&self) -> &'static str {
        match self {
            Action::Ping { .. } => "ping",
            Action::TcpConnect { .. } => "tcp-connect",
            Action::DnsLookup { .. } => "dns-lookup",
            Action::Traceroute { .. } => "traceroute",
            Action::TopProcesses => "top-processes",
            Action::DiskUsage { .. } => "disk-usage",
            Action::ServiceStatus { .. } => "service-status",
            Action::ServiceRestart { .. } => "service-restart",
            Action::LogTail { .. } => "log-tail",
            Action::ListeningSockets => "listening-sockets",
            Action::SupportBundle => "support-bundle",
        }
    }

    /// Its arguments, as people type them.
    pub fn args(&self) -> Vec<String> {
        match self {
            Action::Ping { host } | Action::Traceroute { host } => vec![host.clone()],
            Action::TcpConnect { host, port } => vec![host.clone(), port.to_string()],
            Action::DnsLookup { name } => vec![name.clone()],
            Action::TopProcesses | Action::ListeningSockets | Action::SupportBundle => Vec::new(),
            Action::DiskUsage { path } => vec![path.clone()],
            Action::ServiceStatus { name } | Action::ServiceRestart { name } => vec![name.clone()],
            Action::LogTail { path, lines } => vec![path.clone(), lines.to_string()],
        }
    }

    /// Reads an action from its name and arguments, and checks them.
    pub fn parse(name: &str, args: &[String]) -> Result<Action, ActionError> {
        let want = |action: &'static str, expected: &'static str, n: usize| {
            if args.len() == n {
                Ok(())
            } else {
                Err(ActionError::Arguments {
                    action,
                    expected,
                    got: args.len(),
                })
            }
        };
        let arg = |i: usize| args.get(i).cloned().unwrap_or_default();
        let action = match name {
            "ping" => {
                want("ping", "HOST", 1)?;
                Action::Ping { host: arg(0) }
            }
            "tcp-connect" => {
                want("tcp-connect", "HOST PORT", 2)?;
                let port = arg(1)
                    .parse::<u16>()
                    .ok()
                    .filter(|p| *p > 0)
                    .ok_or_else(|| ActionError::Port(arg(1)))?;
                Action::TcpConnect { host: arg(0), port }
            }
            "dns-lookup" => {
                want("dns-lookup", "NAME", 1)?;
                Action::DnsLookup { name: arg(0) }
            }
            "traceroute" => {
                want("traceroute", "HOST", 1)?;
                Action::Traceroute { host: arg(0) }
            }
            "top-processes" => {
                want("top-processes", "no arguments", 0)?;
                Action::TopProcesses
            }
            "disk-usage" => {
                want("disk-usage", "PATH", 1)?;
                Action::DiskUsage { path: arg(0) }
            }
            "service-status" => {
                want("service-status", "NAME", 1)?;
                Action::ServiceStatus { name: arg(0) }
            }
            "service-restart" => {
                want("service-restart", "NAME", 1)?;
                Action::ServiceRestart { name: arg(0) }
            }
            "log-tail" => {
                want("log-tail", "PATH LINES", 2)?;
                let lines = arg(1)
                    .parse::<u32>()
                    .ok()
                    .filter(|n| (1..=MAX_LOG_LINES).contains(n))
                    .ok_or_else(|| ActionError::Lines(arg(1)))?;
                Action::LogTail {
                    path: arg(0),
                    lines,
                }
            }
            "listening-sockets" => {
                want("listening-sockets", "no arguments", 0)?;
                Action::ListeningSockets
            }
            "support-bundle" => {
                want("support-bundle", "no arguments", 0)?;
                Action::SupportBundle
            }
            other => return Err(ActionError::Unknown(other.to_owned())),
        };
        action.validate()?;
        Ok(action)
    }

    /// Checks the arguments: what the collector checks before it signs
    /// and the agent again before it runs.
    pub fn validate(&self) -> Result<(), ActionError> {
        match self {
            Action::Ping { host } | Action::Traceroute { host } => check_host(host),
            Action::TcpConnect { host, port } => {
                if *port == 0 {
                    return Err(ActionError::Port("0".into()));
                }
                check_host(host)
            }
            Action::DnsLookup { name } => check_host(name),
            Action::TopProcesses | Action::ListeningSockets | Action::SupportBundle => Ok(()),
            Action::DiskUsage { path } => check_path(path),
            Action::LogTail { path, lines } => {
                if !(1..=MAX_LOG_LINES).contains(lines) {
                    return Err(ActionError::Lines(lines.to_string()));
                }
                check_path(path)
            }
            Action::ServiceStatus { name } | Action::ServiceRestart { name } => check_service(name),
        }
    }

    /// Whether the action changes nothing on the machine.
    pub fn is_read_only(&self) -> bool {
        READ_ONLY_ACTIONS.contains(&self.name())
    }
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())?;
        for arg in self.args() {
            write!(f, " {arg}")?;
        }
        Ok(())
    }
}

/// An IP address, or a host name of letters, digits, `-` and `.` (labels
/// of 1 to 63 bytes, not starting or ending with `-`, 253 bytes at most).
fn check_host(host: &str) -> Result<(), ActionError> {
    if host.parse::<IpAddr>().is_ok() {
        return Ok(());
    }
    let name = host.strip_suffix('.').unwrap_or(host);
    let label_ok = |l: &str| {
        (1..=63).contains(&l.len())
            && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
            && !l.starts_with('-')
            && !l.ends_with('-')
    };
    if name.is_empty() || name.len() > 253 || !name.split('.').all(label_ok) {
        return Err(ActionError::Host(host.to_owned()));
    }
    Ok(())
}

/// An absolute path with no `.` or `..` component and no NUL byte.
fn check_path(path: &str) -> Result<(), ActionError> {
    let bad = |reason| ActionError::Path {
        path: path.to_owned(),
        reason,
    };
    if !path.starts_with('/') {
        return Err(bad("expected an absolute path"));
    }
    if path.len() > MAX_PATH_BYTES {
        return Err(bad("longer than 4096 bytes"));
    }
    if path.contains('\0') {
        return Err(bad("contains a NUL byte"));
    }
    if path.split('/').any(|c| c == ".." || c == ".") {
        return Err(bad("`.` and `..` components are not allowed"));
    }
    Ok(())
}

/// A systemd unit name: letters, digits, `@ . _ : -`, not starting with `-`.
fn check_service(name: &str) -> Result<(), ActionError> {
    let ok = (1..=255).contains(&name.len())
        && !name.starts_with('-')
        && !name.starts_with('.')
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"@._:-".contains(&b));
    if ok {
        Ok(())
    } else {
        Err(ActionError::Service(name.to_owned()))
    }
}

/// What the collector signs: who asks which agent to run what, and until when.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DiagOrder {
    /// The request's id, unique on the collector.
    pub id: String,
    /// The agent that is to run it: an order for one agent is no order for another.
    pub agent_id: String,
    /// The help-desk login that asked.
    pub requested_by: String,
    /// The incident it was asked for.
    pub incident: Option<u64>,
    /// What to run.
    pub action: Action,
    /// When the collector issued it.
    pub issued_at: Timestamp,
    /// After this, the agent refuses it.
    pub expires_at: Timestamp,
}

impl DiagOrder {
    /// The bytes the signature covers: a fixed context, then the postcard
    /// encoding of the order (one encoding for one order).
    pub fn signed_bytes(&self) -> Vec<u8> {
        let mut bytes = SIGNING_CONTEXT.to_vec();
        // Strings, integers and enums only: postcard cannot fail on them.
        bytes.extend(postcard::to_stdvec(self).unwrap_or_default());
        bytes
    }
}

/// How a diagnostic request ended on the agent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum DiagOutcome {
    /// The action ran to its end; `output` says what it found.
    Completed,
    /// The action ran and failed (a program's non-zero exit, an unreachable host, …).
    Failed {
        /// What went wrong.
        reason: String,
    },
    /// The action took longer than the agent allows and was stopped.
    TimedOut {
        /// The limit, seconds.
        after_seconds: u32,
    },
    /// The agent refused to run it.
    Refused {
        /// Why (bad signature, expired, replayed, not allowed here, …).
        reason: String,
    },
}

impl DiagOutcome {
    /// A one-word name: `completed`, `failed`, `timed-out`, `refused`.
    pub fn name(&self) -> &'static str {
        match self {
            DiagOutcome::Completed => "completed",
            DiagOutcome::Failed { .. } => "failed",
            DiagOutcome::TimedOut { .. } => "timed-out",
            DiagOutcome::Refused { .. } => "refused",
        }
    }

    /// The reason, for a failure or a refusal.
    pub fn reason(&self) -> Option<String> {
        match self {
            DiagOutcome::Completed => None,
            DiagOutcome::Failed { reason } | DiagOutcome::Refused { reason } => {
                Some(reason.clone())
            }
            DiagOutcome::TimedOut { after_seconds } => {
                Some(format!("stopped after {after_seconds} s"))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(name: &str, args: &[&str]) -> Result<Action, String> {
        let args: Vec<String> = args.iter().map(|s| (*s).to_owned()).collect();
        Action::parse(name, &args).map_err(|e| e.to_string())
    }

    #[test]
    fn good_actions_read_back_as_typed() {
        assert_eq!(
            parse("tcp-connect", &["db01.example.org", "5432"]),
            Ok(Action::TcpConnect {
                host: "db01.example.org".into(),
                port: 5432
            })
        );
        assert_eq!(
            parse("ping", &["2001:db8::1"]),
            Ok(Action::Ping {
                host: "2001:db8::1".into()
            })
        );
        let tail = parse("log-tail", &["/var/log/syslog", "200"]).unwrap();
        assert_eq!(tail.to_string(), "log-tail /var/log/syslog 200");
        assert_eq!(
            parse("listening-sockets", &[]),
            Ok(Action::ListeningSockets)
        );
        let bundle = parse("support-bundle", &[]).unwrap();
        assert_eq!(bundle, Action::SupportBundle);
        assert!(bundle.is_read_only());
        for name in ACTION_NAMES {
            assert!(
                !parse(name, &["x", "y", "z"]).unwrap_err().is_empty(),
                "{name}"
            );
        }
        assert!(!parse("service-restart", &["nginx"]).unwrap().is_read_only());
    }

    #[test]
    fn bad_arguments_are_refused_with_what_was_wrong() {
        assert_eq!(
            parse("ping", &["-f"]).unwrap_err(),
            "\"-f\" is not a host name or an IP address"
        );
        assert_eq!(
            parse("traceroute", &["a b"]).unwrap_err(),
            "\"a b\" is not a host name or an IP address"
        );
        assert_eq!(
            parse("tcp-connect", &["db", "0"]).unwrap_err(),
            "\"0\" is not a TCP port (1-65535)"
        );
        assert_eq!(
            parse("disk-usage", &["/var/../etc"]).unwrap_err(),
            "path \"/var/../etc\": `.` and `..` components are not allowed"
        );
        assert_eq!(
            parse("disk-usage", &["var/log"]).unwrap_err(),
            "path \"var/log\": expected an absolute path"
        );
        assert_eq!(
            parse("log-tail", &["/var/log/syslog", "100000"]).unwrap_err(),
            "\"100000\" lines: expected a whole number from 1 to 5000"
        );
        assert_eq!(
            parse("log-tail", &["/var/log/syslog", "0"]).unwrap_err(),
            "\"0\" lines: expected a whole number from 1 to 5000"
        );
        assert!(
            parse("service-status", &["--all"])
                .unwrap_err()
                .contains("is not a service name")
        );
        assert!(
            parse("service-restart", &["nginx; reboot"])
                .unwrap_err()
                .contains("is not a service name")
        );
        assert_eq!(
            parse("ping", &[]).unwrap_err(),
            "ping takes HOST, got 0 argument(s)"
        );
        assert!(
            parse("shell", &["rm -rf /"])
                .unwrap_err()
                .starts_with("unknown action \"shell\" (known: ping, tcp-connect")
        );
    }

    #[test]
    fn a_typed_action_with_bad_fields_fails_validation_too() {
        let forged = Action::LogTail {
            path: "/var/log/../../etc/shadow".into(),
            lines: 10,
        };
        assert!(forged.validate().is_err());
        let forged = Action::DnsLookup {
            name: "--help".into(),
        };
        assert!(forged.validate().is_err());
    }

    #[test]
    fn signed_bytes_change_with_every_field() {
        let order = DiagOrder {
            id: "d-1".into(),
            agent_id: "ag-1".into(),
            requested_by: "ana".into(),
            incident: Some(7),
            action: Action::TopProcesses,
            issued_at: Timestamp::from_secs(1_800_000_000),
            expires_at: Timestamp::from_secs(1_800_000_600),
        };
        let base = order.signed_bytes();
        assert!(base.starts_with(SIGNING_CONTEXT));
        let mut other = order.clone();
        other.agent_id = "ag-2".into();
        assert_ne!(other.signed_bytes(), base);
        let mut other = order.clone();
        other.expires_at = Timestamp::from_secs(1_800_000_601);
        assert_ne!(other.signed_bytes(), base);
    }
}
