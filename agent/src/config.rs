//! The agent's configuration file (`config/agent.toml` is the commented example).
//!
//! Read in two steps, like ripgrep's low- and high-level arguments: the TOML
//! is read key by key through [`atalaya_common::config::Document`] (every
//! error collected, with file, line and key), then checked as a whole into
//! [`AgentConfig`], the type the agent uses.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use atalaya_common::config::{ConfigErrors, Document, LoadError, Secret};
use atalaya_common::policy::{self, Settings};

use crate::assist::{self, AssistConfig};
use crate::probes::{self, Plan};
use crate::renewal;
use crate::snmp::poller::DEFAULT_CONCURRENCY;

/// The agent's settings, validated.
#[derive(Debug, Clone, PartialEq)]
pub struct AgentConfig {
    /// Where the agent keeps its identity and outbox.
    pub state_dir: PathBuf,
    /// The filesystem root to inventory (`/` for this host).
    pub root: PathBuf,
    /// The drop folder where `atalaya-agent report` leaves user reports.
    pub reports_dir: PathBuf,
    /// Time between two full inventories.
    pub inventory_interval: Duration,
    /// Re-inventory software when the package database changes.
    pub watch_package_database: bool,
    /// Time between two health samples.
    pub metrics_interval: Duration,
    /// Length of the top-processes lists.
    pub top_processes: usize,
    /// Log level name.
    pub log_level: &'static str,
    /// Collector address (`host:port`); `None` means the one enrolled with.
    pub collector_address: Option<String>,
    /// Enrollment token, used on the first start when not yet enrolled.
    pub token: Option<Secret>,
    /// Most bytes the on-disk spool may take.
    pub spool_max_bytes: u64,
    /// Renew the certificate when less than this share of its life is left, percent.
    pub renew_when_remaining_percent: u8,
    /// Polling the network devices the collector assigns.
    pub snmp: SnmpConfig,
    /// Probing the network from this host.
    pub probes: ProbeConfig,
    /// What the help desk may run here (remote assistance).
    pub assist: AssistConfig,
    /// The keys of [`policy::KEYS`] this file sets: they win over what the
    /// collector's agent policies say.
    pub pinned: Settings,
}

/// The `[probes]` section: round trips, jitter and loss to the gateway,
/// the DNS servers, the collector and the targets the collector pushes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProbeConfig {
    /// Probe at all; when false, pushed targets are ignored too.
    pub enabled: bool,
    /// Time between the starts of two rounds.
    pub interval: Duration,
    /// Probes per target per round, their spacing and timeout.
    pub plan: Plan,
    /// Targets probed at once.
    pub concurrency: usize,
    /// Also probe the gateway, DNS servers and collector.
    pub default_targets: bool,
}

/// The `[snmp]` section: the poller role.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SnmpConfig {
    /// Poll the devices the collector assigns; when false, assignments are refused.
    pub enabled: bool,
    /// Devices polled at once.
    pub concurrency: usize,
    /// Where to listen for traps and informs from the assigned devices
    /// (`None`: no trap listener).
    pub trap_listen: Option<SocketAddr>,
}

impl Default for AgentConfig {
    fn default() -> Self {
        Self::parse("(defaults)", "").expect("an empty file is a valid configuration")
    }
}

impl AgentConfig {
    /// Parses a configuration; `file` names it in error messages.
    pub fn parse(file: &str, text: &str) -> Result<Self, ConfigErrors> {
        let doc = Document::parse(file, text)?;
        let agent = doc.section("agent");
        let state_dir = agent
            .string("state_dir")
            .unwrap_or_else(|| "/var/lib/atalaya-agent".into());
        let root = agent.string("root").unwrap_or_else(|| "/".into());
        let reports_dir = agent
            .string("reports_dir")
            .unwrap_or_else(|| "/var/spool/atalaya-agent/reports".into());
        for (key, value) in [
            ("state_dir", &state_dir),
            ("root", &root),
            ("reports_dir", &reports_dir),
        ] {
            if !Path::new(value).is_absolute() {
                agent.invalid(key, format!("expected an absolute path, found {value:?}"));
            }
        }
        let collector = doc.section("collector");
        let collector_address = collector.string("address").filter(|a| !a.is_empty());
        if let Some(a) = &collector_address
            && a.rsplit_once(':')
                .is_none_or(|(_, port)| port.parse::<u16>().is_err())
        {
            collector.invalid("address", format!("expected host:port, found {a:?}"));
        }
        let token = collector
            .string("token")
            .filter(|t| !t.is_empty())
            .map(Secret);
        // The keys a policy may also set, read by the same rules as the
        // collector reads its policies.
        let pinned = policy::read(|s| doc.section(s));
        let inventory = doc.section("inventory");
        let inventory_interval = policy_integer(&pinned, "inventory.interval_seconds");
        let watch_package_database = inventory.boolean("watch_package_database", true);
        let metrics = doc.section("metrics");
        let metrics_interval = policy_integer(&pinned, "metrics.interval_seconds");
        let top_processes = metrics.integer("top_processes", 5, 0..=50, "processes");
        let spool_max_bytes = policy_integer(&pinned, "spool.max_bytes");
        let renew_when_remaining_percent = doc.section("certificate").integer(
            "renew_when_remaining_percent",
            u64::from(renewal::DEFAULT_RENEW_PERCENT),
            1..=50,
            "percent",
        );
        let snmp = doc.section("snmp");
        let enabled = snmp.boolean("enabled", true);
        let trap_listen = snmp.string("trap_listen").filter(|a| !a.is_empty());
        let trap_listen = trap_listen.and_then(|a| match a.parse::<SocketAddr>() {
            Ok(addr) if addr.port() == 0 => {
                snmp.invalid("trap_listen", format!("expected a port other than 0 (162 is the standard trap port), found {a:?}"));
                None
            }
            Ok(_) if !enabled => {
                snmp.invalid("trap_listen", "traps are taken only from the devices this agent polls: set `enabled = true` or remove `trap_listen`");
                None
            }
            Ok(addr) => Some(addr),
            Err(_) => {
                snmp.invalid(
                    "trap_listen",
                    format!("expected an IP address and UDP port such as \"0.0.0.0:162\" or \"[::]:162\", found {a:?}"),
                );
                None
            }
        });
        let snmp = SnmpConfig {
            enabled,
            trap_listen,
            concurrency: usize::try_from(snmp.integer(
                "concurrency",
                DEFAULT_CONCURRENCY as u64,
                1..=1024,
                "devices",
            ))
            .unwrap_or(DEFAULT_CONCURRENCY),
        };
        let probes = probe_config(&doc, &pinned);
        let assist = assist_config(&doc);
        let log_level = log_level(pinned.text("log.level"));
        doc.finish()?;
        Ok(Self {
            state_dir: state_dir.into(),
            root: root.into(),
            reports_dir: reports_dir.into(),
            inventory_interval: Duration::from_secs(inventory_interval),
            watch_package_database,
            metrics_interval: Duration::from_secs(metrics_interval),
            top_processes: usize::try_from(top_processes).unwrap_or(5),
            log_level,
            collector_address,
            token,
            spool_max_bytes,
            renew_when_remaining_percent: u8::try_from(renew_when_remaining_percent)
                .unwrap_or(renewal::DEFAULT_RENEW_PERCENT),
            snmp,
            probes,
            assist,
            pinned,
        })
    }

    /// Reads and parses a configuration file.
    pub fn load(path: &Path) -> Result<Self, LoadError> {
        let text = std::fs::read_to_string(path).map_err(|e| LoadError::read(path, e))?;
        Ok(Self::parse(&path.display().to_string(), &text)?)
    }
}

/// The value of a policy key in `settings`, or its built-in default.
pub fn policy_integer(settings: &Settings, name: &str) -> u64 {
    settings
        .integer(name)
        .unwrap_or_else(|| match policy::spec(name).map(|s| &s.kind) {
            Some(policy::KeyKind::Integer { default, .. }) => *default,
            _ => 0,
        })
}

/// The value of a boolean policy key in `settings`, or its built-in default.
pub fn policy_bool(settings: &Settings, name: &str) -> bool {
    settings
        .boolean(name)
        .unwrap_or_else(|| match policy::spec(name).map(|s| &s.kind) {
            Some(policy::KeyKind::Bool { default }) => *default,
            _ => false,
        })
}

/// The log level named `word` (one of [`policy::LOG_LEVELS`]), else `info`.
pub fn log_level(word: Option<&str>) -> &'static str {
    word.and_then(|w| policy::LOG_LEVELS.iter().find(|l| **l == w).copied())
        .unwrap_or("info")
}

/// Reads `[probes]`; a round that cannot end before the next one starts
/// is an error on `timeout_ms`.
fn probe_config(doc: &Document<'_>, pinned: &Settings) -> ProbeConfig {
    let p = doc.section("probes");
    let enabled = policy_bool(pinned, "probes.enabled");
    let interval = Duration::from_secs(policy_integer(pinned, "probes.interval_seconds"));
    let default = Plan::DEFAULT;
    let count = p.integer("count", u64::from(default.count), 1..=100, "probes");
    let spacing = Duration::from_millis(p.integer(
        "spacing_ms",
        default.spacing.as_millis() as u64,
        0..=10_000,
        "milliseconds",
    ));
    let timeout = Duration::from_millis(p.integer(
        "timeout_ms",
        default.timeout.as_millis() as u64,
        10..=60_000,
        "milliseconds",
    ));
    let concurrency = p.integer("concurrency", 16, 1..=256, "targets");
    let default_targets = p.boolean("default_targets", true);
    let plan = Plan {
        count: u16::try_from(count).unwrap_or(default.count),
        spacing,
        timeout,
    };
    let round = probes::round_time(plan);
    if round > interval {
        p.invalid(
            "timeout_ms",
            format!(
                "a round of {count} probes {} ms apart, each waiting up to {} ms, takes up to {} ms: longer than interval_seconds = {}; lower count, spacing_ms or timeout_ms, or raise interval_seconds",
                spacing.as_millis(),
                timeout.as_millis(),
                round.as_millis(),
                interval.as_secs()
            ),
        );
    }
    ProbeConfig {
        enabled,
        interval,
        plan,
        concurrency: usize::try_from(concurrency).unwrap_or(16),
        default_targets,
    }
}

/// Reads `[assist]`: action names must be known, paths absolute.
fn assist_config(doc: &Document<'_>) -> AssistConfig {
    let a = doc.section("assist");
    let defaults = AssistConfig::default();
    let enabled = a.boolean("enabled", defaults.enabled);
    let allow = a.strings("allow", atalaya_common::assist::READ_ONLY_ACTIONS);
    for name in &allow {
        if !atalaya_common::assist::ACTION_NAMES.contains(&name.as_str()) {
            a.invalid(
                "allow",
                atalaya_common::assist::ActionError::Unknown(name.clone()).to_string(),
            );
        }
    }
    let restart_services = a.strings("restart_services", &[]);
    for name in &restart_services {
        let check = atalaya_common::assist::Action::ServiceRestart { name: name.clone() };
        if let Err(e) = check.validate() {
            a.invalid("restart_services", e.to_string());
        }
    }
    let log_paths = a.strings("log_paths", &["/var/log"]);
    for path in &log_paths {
        if !Path::new(path).is_absolute() {
            a.invalid(
                "log_paths",
                format!("expected absolute paths, found {path:?}"),
            );
        }
    }
    let timeout = a.integer(
        "timeout_seconds",
        assist::DEFAULT_TIMEOUT_SECONDS,
        1..=3600,
        "seconds",
    );
    let max_output_bytes = a.integer(
        "max_output_bytes",
        assist::DEFAULT_MAX_OUTPUT_BYTES,
        1024..=8 << 20,
        "bytes",
    );
    // A bundle travels in one frame (16 MiB at most) with room to spare.
    let max_bundle_bytes = a.integer(
        "max_bundle_bytes",
        assist::DEFAULT_MAX_BUNDLE_BYTES,
        64 << 10..=12 << 20,
        "bytes",
    );
    AssistConfig {
        enabled,
        allow,
        restart_services,
        log_paths: log_paths.into_iter().map(PathBuf::from).collect(),
        timeout: Duration::from_secs(timeout),
        max_output_bytes: usize::try_from(max_output_bytes).unwrap_or(defaults.max_output_bytes),
        max_bundle_bytes: usize::try_from(max_bundle_bytes).unwrap_or(defaults.max_bundle_bytes),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_example_file_parses_to_the_defaults() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../config/agent.toml");
        let config = AgentConfig::load(Path::new(path)).unwrap();
        assert_eq!(config, AgentConfig::default());
        assert_eq!(config.metrics_interval, Duration::from_secs(10));
        assert_eq!(config.top_processes, 5);
        assert_eq!(config.renew_when_remaining_percent, 33);
    }

    #[test]
    fn renewal_share_is_read_and_bounded() {
        let config = AgentConfig::parse(
            "a.toml",
            "[certificate]\nrenew_when_remaining_percent = 20\n",
        )
        .unwrap();
        assert_eq!(config.renew_when_remaining_percent, 20);
        let errors = AgentConfig::parse(
            "a.toml",
            "[certificate]\nrenew_when_remaining_percent = 80\n",
        )
        .unwrap_err();
        assert_eq!(
            errors.0[0].to_string(),
            "a.toml:2:32: `certificate.renew_when_remaining_percent`: expected a whole number of percent from 1 to 50, found 80"
        );
    }

    #[test]
    fn the_snmp_section_is_read_and_bounded() {
        let defaults = AgentConfig::default().snmp;
        assert_eq!(
            defaults,
            SnmpConfig {
                enabled: true,
                concurrency: 32,
                trap_listen: None,
            }
        );
        let config =
            AgentConfig::parse("a.toml", "[snmp]\nenabled = false\nconcurrency = 4\n").unwrap();
        assert!(!config.snmp.enabled);
        assert_eq!(config.snmp.concurrency, 4);
        let errors = AgentConfig::parse("a.toml", "[snmp]\nconcurrency = 0\n").unwrap_err();
        assert_eq!(
            errors.0[0].to_string(),
            "a.toml:2:15: `snmp.concurrency`: expected a whole number of devices from 1 to 1024, found 0"
        );
    }

    #[test]
    fn the_trap_listener_is_off_unless_set_and_its_address_is_checked() {
        assert_eq!(AgentConfig::default().snmp.trap_listen, None);
        let config =
            AgentConfig::parse("a.toml", "[snmp]\ntrap_listen = \"0.0.0.0:162\"\n").unwrap();
        assert_eq!(
            config.snmp.trap_listen,
            Some("0.0.0.0:162".parse().unwrap())
        );
        let config = AgentConfig::parse("a.toml", "[snmp]\ntrap_listen = \"[::]:1162\"\n").unwrap();
        assert_eq!(config.snmp.trap_listen, Some("[::]:1162".parse().unwrap()));
        let one = |text: &str| AgentConfig::parse("a.toml", text).unwrap_err().0[0].to_string();
        assert_eq!(
            one("[snmp]\ntrap_listen = \"traps.example.org\"\n"),
            "a.toml:2:15: `snmp.trap_listen`: expected an IP address and UDP port such as \"0.0.0.0:162\" or \"[::]:162\", found \"traps.example.org\""
        );
        assert!(one("[snmp]\ntrap_listen = \"0.0.0.0:0\"\n").contains("a port other than 0"));
        assert!(
            one("[snmp]\nenabled = false\ntrap_listen = \"0.0.0.0:162\"\n")
                .contains("set `enabled = true`")
        );
    }

    #[test]
    fn the_probes_section_is_read_and_checked() {
        let defaults = AgentConfig::default().probes;
        assert!(defaults.enabled && defaults.default_targets);
        assert_eq!(defaults.interval, Duration::from_secs(60));
        assert_eq!(defaults.plan.count, 5);
        assert_eq!(defaults.plan.spacing, Duration::from_millis(200));
        assert_eq!(defaults.plan.timeout, Duration::from_millis(1000));
        let config = AgentConfig::parse(
            "a.toml",
            "[probes]\ninterval_seconds = 2\ncount = 3\nspacing_ms = 100\ntimeout_ms = 500\ndefault_targets = false\n",
        )
        .unwrap();
        assert_eq!(config.probes.interval, Duration::from_secs(2));
        assert_eq!(config.probes.plan.count, 3);
        assert!(!config.probes.default_targets);
        let errors =
            AgentConfig::parse("a.toml", "[probes]\ncount = 0\ntimeout_ms = 5\n").unwrap_err();
        let shown: Vec<String> = errors.0.iter().map(ToString::to_string).collect();
        assert_eq!(
            shown,
            [
                "a.toml:2:9: `probes.count`: expected a whole number of probes from 1 to 100, found 0",
                "a.toml:3:14: `probes.timeout_ms`: expected a whole number of milliseconds from 10 to 60000, found 5",
            ]
        );
        let errors = AgentConfig::parse(
            "a.toml",
            "[probes]\ninterval_seconds = 1\ntimeout_ms = 1000\n",
        )
        .unwrap_err();
        assert_eq!(
            errors.0[0].to_string(),
            "a.toml:3:14: `probes.timeout_ms`: a round of 5 probes 200 ms apart, each waiting up to 1000 ms, takes up to 1800 ms: longer than interval_seconds = 1; lower count, spacing_ms or timeout_ms, or raise interval_seconds"
        );
    }

    #[test]
    fn the_assist_section_is_read_and_checked() {
        let defaults = AgentConfig::default().assist;
        assert_eq!(defaults, AssistConfig::default());
        assert!(!defaults.allow.iter().any(|a| a == "service-restart"));
        let config = AgentConfig::parse(
            "a.toml",
            "[assist]\nallow = [\"service-restart\", \"log-tail\"]\nrestart_services = [\"nginx\"]\nlog_paths = [\"/srv/app/logs\"]\ntimeout_seconds = 5\nmax_output_bytes = 2048\n",
        )
        .unwrap();
        assert_eq!(config.assist.allow, ["service-restart", "log-tail"]);
        assert_eq!(config.assist.restart_services, ["nginx"]);
        assert_eq!(config.assist.log_paths, [PathBuf::from("/srv/app/logs")]);
        assert_eq!(config.assist.timeout, Duration::from_secs(5));
        assert_eq!(config.assist.max_output_bytes, 2048);
        let errors = AgentConfig::parse(
            "a.toml",
            "[assist]\nallow = [\"shell\"]\nrestart_services = [\"-x\"]\nlog_paths = [\"logs\"]\n",
        )
        .unwrap_err();
        let shown: Vec<String> = errors.0.iter().map(ToString::to_string).collect();
        assert_eq!(shown.len(), 3, "{shown:?}");
        assert!(
            shown[0].contains("`assist.allow`: unknown action \"shell\""),
            "{shown:?}"
        );
        assert!(shown[1].contains("is not a service name"), "{shown:?}");
        assert!(shown[2].contains("expected absolute paths"), "{shown:?}");
    }

    #[test]
    fn debug_hides_the_enrollment_token() {
        let config = AgentConfig::parse(
            "a.toml",
            "[collector]\ntoken = \"atalaya1.c2VjcmV0LXRva2Vu\"\n",
        )
        .unwrap();
        assert!(config.token.is_some());
        let shown = format!("{config:?}");
        assert!(!shown.contains("c2VjcmV0LXRva2Vu"), "{shown}");
        assert!(shown.contains("<redacted>"), "{shown}");
    }

    #[test]
    fn all_errors_are_reported_together() {
        let text = "[agent]\nroot = \"host\"\n[metrics]\ninterval_seconds = 0\ntop = 5\n[log]\nlevel = 3\n";
        let errors = AgentConfig::parse("agent.toml", text).unwrap_err();
        let shown: Vec<String> = errors.0.iter().map(ToString::to_string).collect();
        assert_eq!(
            shown,
            [
                "agent.toml:2:8: `agent.root`: expected an absolute path, found \"host\"",
                "agent.toml:4:20: `metrics.interval_seconds`: expected a whole number of seconds from 1 to 3600, found 0",
                "agent.toml:5:1: `metrics.top`: unknown key (known keys here: interval_seconds, top_processes)",
                "agent.toml:7:9: `log.level`: expected one of \"error\", \"warn\", \"info\", \"debug\", \"trace\", found 3",
            ]
        );
    }
}
