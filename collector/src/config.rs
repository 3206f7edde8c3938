//! The collector's configuration file (`config/collector.toml` is the
//! commented example), read with every error reported at once.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use atalaya_common::config::{ConfigErrors, Document, LoadError};
use atalaya_common::proto::ConfigUpdate;

pub mod agent_policy;
pub mod probes;

use crate::incidents::sla::{BusinessHours, SlaPolicies};
use crate::people::phone::PhonePlan;
use crate::records::incident::Priority;
use crate::screen::TimeLimits;
use crate::store::retention::Retention;

/// File in the data directory holding the local administrator's API token.
pub const ADMIN_TOKEN_FILE: &str = "admin-token";
/// File in the data directory holding the running API's address.
pub const API_ADDRESS_FILE: &str = "api-address";

/// Shortest agent certificate lifetime: an agent renews when a third of it
/// is left, and needs a few seconds to do so.
const MIN_CERTIFICATE_SECONDS: u64 = 10;

/// `[console]`: how long a console session lasts and how many failed
/// logins lock an account or an address out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConsoleSettings {
    /// A session unused this long ends (`idle_minutes`, default 30).
    pub idle: Duration,
    /// A session ends this long after login, used or not
    /// (`session_hours`, default 12).
    pub absolute: Duration,
    /// Failed logins of one account within `lockout_minutes` that lock it
    /// (`account_failures`, default 5).
    pub account_failures: usize,
    /// Failed logins from one address within `lockout_minutes` that lock
    /// it out (`address_failures`, default 20).
    pub address_failures: usize,
    /// The window the failures are counted in (`lockout_minutes`, default 15).
    pub lockout: Duration,
}

impl Default for ConsoleSettings {
    fn default() -> Self {
        Self {
            idle: Duration::from_secs(30 * 60),
            absolute: Duration::from_secs(12 * 3600),
            account_failures: 5,
            address_failures: 20,
            lockout: Duration::from_secs(15 * 60),
        }
    }
}

/// Where the HTTPS certificate of the API and the console comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ApiTls {
    /// Issued by the collector's own CA for `[collector] server_names`
    /// (browsers trust it once the CA, `ca.pem` in the data directory, is
    /// imported).
    OwnCa,
    /// Files the administrator gives: a PEM chain (server certificate
    /// first) and its PEM private key.
    Files {
        /// `[api] tls_cert`.
        cert: PathBuf,
        /// `[api] tls_key`.
        key: PathBuf,
    },
}

fn api_tls(doc: &Document) -> Option<ApiTls> {
    let a = doc.section("api");
    let on = a.boolean("tls", false);
    let cert = a.string("tls_cert").filter(|s| !s.is_empty());
    let key = a.string("tls_key").filter(|s| !s.is_empty());
    match (on, cert, key) {
        (false, None, None) => None,
        (false, _, _) => {
            a.invalid(
                "tls_cert",
                "tls_cert and tls_key are used only with tls = true",
            );
            None
        }
        (true, None, None) => Some(ApiTls::OwnCa),
        (true, Some(cert), Some(key)) => Some(ApiTls::Files {
            cert: cert.into(),
            key: key.into(),
        }),
        (true, _, _) => {
            a.invalid(
                "tls_cert",
                "give both tls_cert and tls_key, or neither (the collector's CA issues one)",
            );
            None
        }
    }
}

fn console(doc: &Document) -> ConsoleSettings {
    let c = doc.section("console");
    let d = ConsoleSettings::default();
    let minutes = |key, default: Duration, max| {
        Duration::from_secs(60 * c.integer(key, default.as_secs() / 60, 1..=max, "minutes"))
    };
    let count = |key, default: usize| {
        usize::try_from(c.integer(key, default as u64, 1..=10_000, "failures")).unwrap_or(default)
    };
    ConsoleSettings {
        idle: minutes("idle_minutes", d.idle, 7 * 24 * 60),
        absolute: Duration::from_secs(
            3600 * c.integer(
                "session_hours",
                d.absolute.as_secs() / 3600,
                1..=24 * 90,
                "hours",
            ),
        ),
        account_failures: count("account_failures", d.account_failures),
        address_failures: count("address_failures", d.address_failures),
        lockout: minutes("lockout_minutes", d.lockout, 24 * 60),
    }
}

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
    /// `[ingest]`: how far from the collector's clock agents' times may be.
    pub time_limits: TimeLimits,
    /// HTTP API listen address.
    pub api_listen: SocketAddr,
    /// `[api] tls`: serve the API and the console over HTTPS (`None`: plain HTTP).
    pub api_tls: Option<ApiTls>,
    /// Pushed to agents.
    pub agent_intervals: ConfigUpdate,
    /// Lifetime of agent certificates, given at enrollment and at each renewal.
    pub certificate_validity: Duration,
    /// Log level name.
    pub log_level: &'static str,
    /// Webhooks (`[webhook.NAME]`), the mail server (`[smtp]`), mail
    /// routes (`[mail.NAME]`) and their retry settings (`[notify]`).
    pub notify: crate::notify::NotifyConfig,
    /// `[incidents] rules_file`: the rules over the built-ins (`None`: built-ins only).
    pub rules_file: Option<PathBuf>,
    /// `[devices] file`: network devices declared in a file (`None`: none).
    pub devices_file: Option<PathBuf>,
    /// `[incidents] tick_seconds`: how often absence rules and SLA clocks are checked.
    pub incident_tick: Duration,
    /// `[sla]`, `[sla.P1]`…: the SLA policies.
    pub sla: SlaPolicies,
    /// `[[probe]]`: targets pushed to agents, and which agents.
    pub probes: Vec<probes::ProbeRule>,
    /// `[agent_policy.NAME]`: agent settings pushed to the agents each selects.
    pub agent_policies: Vec<agent_policy::PolicyRule>,
    /// `[retention]`: how long each metric tier is kept, and the store's byte budget.
    pub retention: Retention,
    /// `[store] cache_mb`: the store's page cache, bytes.
    pub store_cache_bytes: usize,
    /// `[console]`: session lifetimes and failed-login limits of the web console.
    pub console: ConsoleSettings,
    /// `[people]`: how national phone numbers are completed for matching.
    pub phones: PhonePlan,
    /// The file it was read from (`None`: built from text), which a reload
    /// reads again for the SLA policies.
    pub file: Option<PathBuf>,
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
        let ingest = doc.section("ingest");
        let max_age = ingest.integer("max_age_seconds", 30 * 86_400, 60..=315_360_000, "seconds");
        let max_ahead = ingest.integer("max_ahead_seconds", 300, 1..=31_536_000, "seconds");
        let api_listen = address(&doc.section("api"), "listen", "127.0.0.1:8440");
        let api_tls = api_tls(&doc);
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
        let notify = crate::notify::route::parse(&doc, &DiskFiles);
        let inc = doc.section("incidents");
        let rules_file = inc.string("rules_file").filter(|f| !f.is_empty());
        let incident_tick = inc.integer("tick_seconds", 5, 1..=300, "seconds");
        let devices_file = doc
            .section("devices")
            .string("file")
            .filter(|f| !f.is_empty());
        let sla = sla_policies(&doc);
        let probes = probes::parse(&doc);
        let agent_policies = agent_policy::parse(&doc);
        let retention = retention(&doc);
        let store_cache_mb = doc
            .section("store")
            .integer("cache_mb", 1024, 16..=1 << 20, "MiB");
        let console = console(&doc);
        let phones = phone_plan(&doc);
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
            time_limits: TimeLimits {
                max_age: Duration::from_secs(max_age),
                max_ahead: Duration::from_secs(max_ahead),
            },
            api_listen: api_listen.unwrap_or_else(|| SocketAddr::from(([127, 0, 0, 1], 8440))),
            api_tls,
            agent_intervals,
            certificate_validity: Duration::from_secs(if seconds_override > 0 {
                seconds_override
            } else {
                days * 86_400
            }),
            log_level,
            notify,
            rules_file: rules_file.map(PathBuf::from),
            devices_file: devices_file.map(PathBuf::from),
            incident_tick: Duration::from_secs(incident_tick),
            sla,
            probes,
            agent_policies,
            retention,
            store_cache_bytes: usize::try_from(store_cache_mb << 20).unwrap_or(usize::MAX),
            console,
            phones,
            file: None,
        })
    }

    /// Reads and parses a configuration file.
    pub fn load(path: &Path) -> Result<Self, LoadError> {
        let text = std::fs::read_to_string(path).map_err(|e| LoadError::read(path, e))?;
        let mut config = Self::parse(&path.display().to_string(), &text)?;
        config.file = Some(path.to_owned());
        Ok(config)
    }
}

/// The files notification settings name, read from disk while the
/// configuration is read, so a bad one is reported with the key naming it.
#[derive(Debug)]
struct DiskFiles;

impl crate::notify::ReadFiles for DiskFiles {
    fn certificates(
        &self,
        path: &Path,
    ) -> Result<Vec<rustls_pki_types::CertificateDer<'static>>, String> {
        crate::pki::read_ca_certificates(path).map_err(|e| e.to_string())
    }

    fn secret(&self, path: &Path) -> Result<atalaya_common::config::Secret, String> {
        let text = std::fs::read_to_string(path).map_err(|e| format!("cannot be read: {e}"))?;
        let line = text.lines().next().unwrap_or("").trim_end_matches('\r');
        if line.is_empty() {
            return Err("is empty (expected the password on its first line)".into());
        }
        Ok(atalaya_common::config::Secret(line.to_owned()))
    }
}

/// `[people]`: the country code put before national phone numbers
/// (digits, empty for none) and the trunk prefix left out first.
fn phone_plan(doc: &Document<'_>) -> PhonePlan {
    let p = doc.section("people");
    let digits = |key: &str, default: &str, max: usize| {
        let v = p.string(key).unwrap_or_else(|| default.to_owned());
        let v = v.trim().trim_start_matches('+').to_owned();
        if v.len() > max || !v.chars().all(|c| c.is_ascii_digit()) {
            p.invalid(
                key,
                format!("expected up to {max} digits (or \"\" for none), found {v:?}"),
            );
            return String::new();
        }
        v
    };
    let country = digits("default_country_code", "", 3);
    let trunk_prefix = digits("trunk_prefix", "0", 2);
    PhonePlan {
        default_country_code: (!country.is_empty()).then_some(country),
        trunk_prefix,
    }
}

/// `[sla]` and its `[sla.P1]` … `[sla.P4]` tables over the defaults.
/// `[retention]`: days per tier, each tier kept at least as long as the
/// finer one, and the byte budget (0: none).
fn retention(doc: &Document<'_>) -> Retention {
    const DAY_MS: i64 = 86_400_000;
    let r = doc.section("retention");
    let raw = r.integer("raw_days", 14, 1..=36_500, "days");
    let five = r.integer("rollup_5m_days", 400, 1..=36_500, "days");
    let hour = r.integer("rollup_1h_days", 5 * 365, 1..=36_500, "days");
    if five < raw {
        r.invalid(
            "rollup_5m_days",
            format!("expected at least raw_days ({raw}), found {five}"),
        );
    }
    if hour < five {
        r.invalid(
            "rollup_1h_days",
            format!("expected at least rollup_5m_days ({five}), found {hour}"),
        );
    }
    let max_bytes = r.integer("max_bytes", 0, 0..=1 << 50, "bytes");
    if (1..1 << 20).contains(&max_bytes) {
        r.invalid(
            "max_bytes",
            format!("expected 0 (no budget) or at least 1048576 bytes, found {max_bytes}"),
        );
    }
    let ms = |days: u64| {
        i64::try_from(days)
            .unwrap_or(i64::MAX)
            .saturating_mul(DAY_MS)
    };
    Retention {
        raw_ms: ms(raw),
        five_minutes_ms: ms(five),
        one_hour_ms: ms(hour),
        max_bytes: (max_bytes > 0).then_some(max_bytes),
    }
}

fn sla_policies(doc: &Document<'_>) -> SlaPolicies {
    let mut policies = SlaPolicies::default();
    let s = doc.section("sla");
    policies.at_risk_percent =
        u8::try_from(s.integer("at_risk_percent", 80, 1..=100, "percent")).unwrap_or(80);
    for (name, t) in s.tables() {
        let Some(p) = Priority::ALL.iter().find(|p| p.name() == name) else {
            t.skip_unread();
            s.invalid(&name, "expected one of P1, P2, P3, P4");
            continue;
        };
        let i = Priority::ALL.iter().position(|q| q == p).unwrap_or(0);
        let Some(policy) = policies.by_priority.get_mut(i) else {
            continue;
        };
        let max = 365 * 86_400;
        policy.acknowledge_seconds = t.integer(
            "acknowledge_seconds",
            policy.acknowledge_seconds,
            1..=max,
            "seconds",
        );
        policy.resolve_seconds = t.integer(
            "resolve_seconds",
            policy.resolve_seconds,
            1..=max,
            "seconds",
        );
        let on = t.boolean("business_hours", policy.business_hours.is_some());
        let base = policy.business_hours.unwrap_or(BusinessHours::office(0));
        let days = t.strings("business_days", &["mon", "tue", "wed", "thu", "fri"]);
        let names = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];
        let mut set = [false; 7];
        for d in &days {
            match names.iter().position(|n| d.eq_ignore_ascii_case(n)) {
                Some(i) => set[i] = true,
                None => t.invalid(
                    "business_days",
                    format!("expected day names such as \"mon\", found {d:?}"),
                ),
            }
        }
        let minute = |key: &str, default: u32| -> u32 {
            let Some(text) = t.string(key) else {
                return default;
            };
            let parsed = text.split_once(':').and_then(|(h, m)| {
                let (h, m) = (h.parse::<u32>().ok()?, m.parse::<u32>().ok()?);
                (h <= 24 && m < 60 && h * 60 + m <= 1440).then_some(h * 60 + m)
            });
            parsed.unwrap_or_else(|| {
                t.invalid(
                    key,
                    format!("expected a time such as \"08:00\", found {text:?}"),
                );
                default
            })
        };
        let start_minute = minute("business_start", base.start_minute);
        let end_minute = minute("business_end", base.end_minute);
        let offset = t
            .number("utc_offset_minutes")
            .unwrap_or(f64::from(base.utc_offset_minutes));
        if !(-840.0..=840.0).contains(&offset) {
            t.invalid(
                "utc_offset_minutes",
                "expected minutes between -840 and 840",
            );
        }
        let hours = BusinessHours {
            days: set,
            start_minute,
            end_minute,
            utc_offset_minutes: offset.clamp(-840.0, 840.0) as i32,
        };
        if on && !hours.is_valid() {
            t.invalid(
                "business_hours",
                "the working window never opens: give business days and business_start before business_end",
            );
        }
        policy.business_hours = on.then_some(hours);
    }
    policies
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
        assert_eq!(config.file.as_deref(), Some(Path::new(path)));
        let config = CollectorConfig {
            file: None,
            ..config
        };
        assert_eq!(config, CollectorConfig::default());
        assert_eq!(config.advertise, "localhost:4433");
        assert_eq!(config.time_limits, TimeLimits::default());
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
    fn the_people_section_sets_how_national_numbers_are_completed() {
        assert_eq!(CollectorConfig::default().phones, PhonePlan::default());
        let config = CollectorConfig::parse(
            "c.toml",
            "[people]\ndefault_country_code = \"+34\"\ntrunk_prefix = \"\"\n",
        )
        .unwrap();
        assert_eq!(
            config.phones,
            PhonePlan {
                default_country_code: Some("34".into()),
                trunk_prefix: String::new(),
            }
        );
        let errors =
            CollectorConfig::parse("c.toml", "[people]\ndefault_country_code = \"Spain\"\n")
                .unwrap_err();
        let shown = errors.0[0].to_string();
        assert!(
            shown.contains("`people.default_country_code`: expected up to 3 digits"),
            "{shown}"
        );
    }

    #[test]
    fn the_store_cache_is_read_in_mebibytes_and_bounded() {
        let config = CollectorConfig::parse("c.toml", "").unwrap();
        assert_eq!(config.store_cache_bytes, crate::store::DEFAULT_CACHE_BYTES);
        let config = CollectorConfig::parse("c.toml", "[store]\ncache_mb = 6144\n").unwrap();
        assert_eq!(config.store_cache_bytes, 6144 << 20);
        let err = CollectorConfig::parse("c.toml", "[store]\ncache_mb = 8\n")
            .unwrap_err()
            .to_string();
        assert!(err.contains("`store.cache_mb`"), "{err}");
    }

    #[test]
    fn retention_is_read_in_days_and_checked_tier_by_tier() {
        let config = CollectorConfig::default();
        assert_eq!(config.retention, Retention::default());
        let text = "[retention]\nraw_days = 7\nrollup_5m_days = 90\nrollup_1h_days = 730\nmax_bytes = 10_000_000_000\n";
        let r = CollectorConfig::parse("c.toml", text).unwrap().retention;
        assert_eq!(
            (r.raw_ms, r.five_minutes_ms, r.one_hour_ms, r.max_bytes),
            (
                7 * 86_400_000,
                90 * 86_400_000,
                730 * 86_400_000,
                Some(10_000_000_000)
            )
        );
        let text = "[retention]\nraw_days = 30\nrollup_5m_days = 20\nmax_bytes = 5\nkeep = 1\n";
        let errors = CollectorConfig::parse("c.toml", text).unwrap_err();
        let shown: Vec<String> = errors.0.iter().map(ToString::to_string).collect();
        assert_eq!(shown.len(), 3, "{shown:?}");
        assert!(
            shown[0].starts_with("c.toml:3:")
                && shown[0].contains(
                    "`retention.rollup_5m_days`: expected at least raw_days (30), found 20"
                ),
            "{shown:?}"
        );
        assert!(
            shown[1].contains(
                "`retention.max_bytes`: expected 0 (no budget) or at least 1048576 bytes"
            ),
            "{shown:?}"
        );
        assert!(
            shown[2].contains("`retention.keep`: unknown key"),
            "{shown:?}"
        );
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
