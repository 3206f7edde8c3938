//! The collector's configuration file (`config/collector.toml` is the
//! commented example), read with every error reported at once.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context;
use atalaya_common::config::{ConfigErrors, Document};
use atalaya_common::proto::ConfigUpdate;

/// Shortest agent certificate lifetime: an agent renews when a third of it
/// is left, and needs a few seconds to do so.
const MIN_CERTIFICATE_SECONDS: u64 = 10;

/// The collector's settings, validated.
#[derive(Debug, Clone, PartialEq)]
pub struct CollectorConfig {
    /// Store, CA and keys.
    pub data_dir: PathBuf,
    /// QUIC listen address.
    pub listen: SocketAddr,
    /// Address written into enrollment tokens.
    pub advertise: String,
    /// Names and addresses on the server certificate.
    pub server_names: Vec<String>,
    /// Connection cap.
    pub max_connections: usize,
    /// Once a frame has started, the time it has to arrive whole.
    pub frame_timeout: Duration,
    /// HTTP API listen address.
    pub api_listen: SocketAddr,
    /// Pushed to agents.
    pub agent_intervals: ConfigUpdate,
    /// Lifetime of agent certificates, given at enrollment and at each renewal.
    pub certificate_validity: Duration,
    /// Log level name.
    pub log_level: &'static str,
    /// Webhooks (`[webhook.NAME]`) and their retry settings (`[notify]`).
    pub notify: crate::notify::NotifyConfig,
}

impl Default for CollectorConfig {
    fn default() -> Self {
        Self::parse("(defaults)", "").expect("an empty file is a valid configuration")
    }
}

impl CollectorConfig {
    /// Parses a configuration; `file` names it in error messages.
    pub fn parse(file: &str, text: &str) -> Result<Self, ConfigErrors> {
        let doc = Document::parse(file, text)?;
        let c = doc.section("collector");
        let data_dir = c
            .string("data_dir")
            .unwrap_or_else(|| "/var/lib/atalaya-collector".into());
        let listen = address(&c, "listen", "0.0.0.0:4433");
        let advertise = c.string("advertise").unwrap_or_default();
        let server_names = c.strings("server_names", &["localhost", "127.0.0.1"]);
        if server_names.is_empty() {
            c.invalid("server_names", "expected at least one name or address");
        }
        let max_connections = c.integer("max_connections", 20_000, 1..=1_000_000, "connections");
        let frame_timeout = c.integer("frame_timeout_seconds", 30, 1..=600, "seconds");
        let api_listen = address(&doc.section("api"), "listen", "127.0.0.1:8440");
        let a = doc.section("agents");
        let seconds = |key, default, max| {
            u32::try_from(a.integer(key, default, 1..=max, "seconds")).unwrap_or(u32::MAX)
        };
        let agent_intervals = ConfigUpdate {
            metrics_interval_seconds: seconds("metrics_interval_seconds", 10, 3600),
            inventory_interval_seconds: seconds("inventory_interval_seconds", 3600, 604_800),
            heartbeat_interval_seconds: seconds("heartbeat_interval_seconds", 30, 3600),
        };
        let days = a.integer("certificate_days", 90, 1..=825, "days");
        let seconds_override = a.integer("certificate_seconds", 0, 0..=825 * 86_400, "seconds");
        if (1..MIN_CERTIFICATE_SECONDS).contains(&seconds_override) {
            a.invalid(
                "certificate_seconds",
                format!(
                    "expected 0 (certificate_days decides) or at least {MIN_CERTIFICATE_SECONDS} seconds, found {seconds_override}"
                ),
            );
        }
        let log_level = doc.section("log").choice(
            "level",
            "info",
            &["error", "warn", "info", "debug", "trace"],
        );
        let notify = crate::notify::route::parse(&doc);
        doc.finish()?;
        let advertise = if advertise.is_empty() {
            let host = server_names.first().map_or("localhost", String::as_str);
            join_host_port(host, listen.map_or(4433, |l| l.port()))
        } else {
            advertise
        };
        Ok(Self {
            data_dir: data_dir.into(),
            listen: listen.unwrap_or_else(|| SocketAddr::from(([0, 0, 0, 0], 4433))),
            advertise,
            server_names,
            max_connections: usize::try_from(max_connections).unwrap_or(usize::MAX),
            frame_timeout: Duration::from_secs(frame_timeout),
            api_listen: api_listen.unwrap_or_else(|| SocketAddr::from(([127, 0, 0, 1], 8440))),
            agent_intervals,
            certificate_validity: Duration::from_secs(if seconds_override > 0 {
                seconds_override
            } else {
                days * 86_400
            }),
            log_level,
            notify,
        })
    }

    /// Reads and parses a configuration file.
    pub fn load(path: &Path) -> anyhow::Result<Self> {
        let text =
            std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
        Ok(Self::parse(&path.display().to_string(), &text)?)
    }
}

/// `host:port`, with IPv6 literals in brackets.
pub fn join_host_port(host: &str, port: u16) -> String {
    if host.contains(':') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    }
}

fn address(
    section: &atalaya_common::config::Section<'_, '_>,
    key: &str,
    default: &str,
) -> Option<SocketAddr> {
    let text = section.string(key).unwrap_or_else(|| default.to_owned());
    match text.parse() {
        Ok(a) => Some(a),
        Err(_) => {
            section.invalid(
                key,
                format!("expected an address such as {default:?}, found {text:?}"),
            );
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_example_file_parses_to_the_defaults() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../config/collector.toml");
        let config = CollectorConfig::load(Path::new(path)).unwrap();
        assert_eq!(config, CollectorConfig::default());
        assert_eq!(config.advertise, "localhost:4433");
        assert_eq!(
            config.certificate_validity,
            Duration::from_secs(90 * 86_400)
        );
    }

    #[test]
    fn all_errors_at_once() {
        let text = "[collector]\nlisten = \"everywhere\"\nserver_names = []\n[agents]\ncertificate_days = 0\nfoo = 1\n";
        let errors = CollectorConfig::parse("c.toml", text).unwrap_err();
        let shown: Vec<String> = errors.0.iter().map(ToString::to_string).collect();
        assert_eq!(shown.len(), 4, "{shown:?}");
        assert!(
            shown[0].starts_with("c.toml:2:10: `collector.listen`: expected an address"),
            "{shown:?}"
        );
        assert!(
            shown[1].contains("`collector.server_names`: expected at least one"),
            "{shown:?}"
        );
        assert!(shown[2].contains("`agents.certificate_days`"), "{shown:?}");
        assert!(shown[3].contains("`agents.foo`: unknown key"), "{shown:?}");
    }

    #[test]
    fn certificate_seconds_overrides_days_for_short_lived_certificates() {
        let text = "[agents]\ncertificate_days = 30\ncertificate_seconds = 45\n";
        let config = CollectorConfig::parse("c.toml", text).unwrap();
        assert_eq!(config.certificate_validity, Duration::from_secs(45));
        let text = "[agents]\ncertificate_days = 30\ncertificate_seconds = 0\n";
        let config = CollectorConfig::parse("c.toml", text).unwrap();
        assert_eq!(
            config.certificate_validity,
            Duration::from_secs(30 * 86_400)
        );
        let errors =
            CollectorConfig::parse("c.toml", "[agents]\ncertificate_seconds = 3\n").unwrap_err();
        assert!(
            errors.0[0]
                .to_string()
                .contains("`agents.certificate_seconds`: expected 0 (certificate_days decides) or at least 10 seconds, found 3"),
            "{errors}"
        );
    }
}
