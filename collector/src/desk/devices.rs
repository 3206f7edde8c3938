//! Adding and removing network devices: the request checked, its poller
//! found among the enrolled agents, the record stored. The caller tells
//! the QUIC server afterwards, so that the poller gets its new list.

use atalaya_common::model::Timestamp;
use atalaya_common::model::device::{
    Credentials, DEFAULT_POLL_INTERVAL_SECONDS, DEFAULT_RETRIES, DEFAULT_SNMP_PORT,
    DEFAULT_TIMEOUT_MS, DeviceSpec,
};
use serde::Deserialize;

use crate::records::device::{DeviceRecord, device_asset_id};
use crate::store::{AgentRecord, Store, StoreError};

/// Shortest SNMPv3 password (RFC 3414 asks for 8 characters).
pub const MIN_V3_PASSWORD: usize = 8;

/// A device to add, as a person asks for it.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct NewDevice {
    /// Host name or IP address.
    pub address: String,
    /// The name to know it by; the address when not given.
    #[serde(default)]
    pub name: Option<String>,
    /// The agent to poll it: an agent id or a host name; when not given,
    /// the one enrolled agent.
    #[serde(default)]
    pub poller: Option<String>,
    /// UDP port (161 when not given).
    #[serde(default)]
    pub port: Option<u16>,
    /// Seconds between polls.
    #[serde(default)]
    pub poll_interval_seconds: Option<u32>,
    /// Milliseconds one request waits for its answer.
    #[serde(default)]
    pub timeout_ms: Option<u32>,
    /// Times a request is sent again after a timeout.
    #[serde(default)]
    pub retries: Option<u32>,
    /// SNMP version and credentials.
    pub credentials: Credentials,
}

/// A device could not be added or removed.
#[derive(Debug, thiserror::Error)]
pub enum DeviceError {
    /// The request is not valid; the text says why.
    #[error("{0}")]
    Invalid(String),
    /// A device has this name already.
    #[error("a device named `{0}` exists already")]
    Exists(String),
    /// No agent could be chosen to poll the device.
    #[error("{0}")]
    NoPoller(String),
    /// No device has this name.
    #[error("no device is named `{0}`")]
    NotFound(String),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Checks `new`, finds its poller and stores the device.
pub fn add(store: &Store, new: NewDevice, now: Timestamp) -> Result<DeviceRecord, DeviceError> {
    let spec = spec_of(new.clone())?;
    let agents = store.list_agents()?;
    let poller = choose_poller(&agents, new.poller.as_deref())?;
    let rec = DeviceRecord {
        name: spec.name.clone(),
        asset_id: device_asset_id(&spec.name),
        spec,
        poller,
        added_at: now,
        last_poll: None,
        inventory_at: None,
    };
    match store.add_device(&rec) {
        Ok(()) => Ok(rec),
        Err(StoreError::Exists { .. }) => Err(DeviceError::Exists(rec.name)),
        Err(e) => Err(e.into()),
    }
}

/// Removes the device named `name`; returns its record (its poller is
/// the agent to tell).
pub fn remove(store: &Store, name: &str) -> Result<DeviceRecord, DeviceError> {
    store
        .remove_device(name)?
        .ok_or_else(|| DeviceError::NotFound(name.to_owned()))
}

/// The device spec a request asks for, checked.
pub fn spec_of(new: NewDevice) -> Result<DeviceSpec, DeviceError> {
    let address = new.address.trim().to_owned();
    if address.is_empty() {
        return Err(DeviceError::Invalid("the device's address is empty".into()));
    }
    let name = new
        .name
        .map_or_else(|| address.clone(), |n| n.trim().to_owned());
    check_name(&name)?;
    let port = new.port.unwrap_or(DEFAULT_SNMP_PORT);
    if port == 0 {
        return Err(DeviceError::Invalid("the port must be above 0".into()));
    }
    let interval = new
        .poll_interval_seconds
        .unwrap_or(DEFAULT_POLL_INTERVAL_SECONDS);
    if interval == 0 {
        return Err(DeviceError::Invalid(
            "the poll interval must be at least 1 s".into(),
        ));
    }
    check_credentials(&new.credentials)?;
    Ok(DeviceSpec {
        name,
        address,
        port,
        credentials: new.credentials,
        poll_interval_seconds: interval,
        timeout_ms: new.timeout_ms.unwrap_or(DEFAULT_TIMEOUT_MS).max(1),
        retries: new.retries.unwrap_or(DEFAULT_RETRIES),
    })
}

/// A device name: letters, digits, `.`, `_` and `-`, not empty.
pub fn check_name(name: &str) -> Result<(), DeviceError> {
    if name.is_empty() {
        return Err(DeviceError::Invalid("the device's name is empty".into()));
    }
    let ok = |c: char| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-');
    if let Some(bad) = name.chars().find(|c| !ok(*c)) {
        return Err(DeviceError::Invalid(format!(
            "the device name `{name}` has `{bad}`; use letters, digits, `.`, `_` and `-` (give one with --name)"
        )));
    }
    Ok(())
}

fn check_credentials(c: &Credentials) -> Result<(), DeviceError> {
    let invalid = |m: &str| Err(DeviceError::Invalid(m.to_owned()));
    match c {
        Credentials::V1 { community } | Credentials::V2c { community } => {
            if community.expose().is_empty() {
                return invalid("the community is empty");
            }
        }
        Credentials::V3 {
            user,
            auth,
            privacy,
        } => {
            if user.is_empty() {
                return invalid("the SNMPv3 user is empty");
            }
            if auth
                .as_ref()
                .is_some_and(|(_, p)| p.expose().chars().count() < MIN_V3_PASSWORD)
            {
                return invalid(
                    "the SNMPv3 authentication password must have at least 8 characters",
                );
            }
            if privacy.is_some() && auth.is_none() {
                return invalid(
                    "SNMPv3 privacy needs authentication: give an authentication password too",
                );
            }
            if privacy
                .as_ref()
                .is_some_and(|(_, p)| p.expose().chars().count() < MIN_V3_PASSWORD)
            {
                return invalid("the SNMPv3 privacy password must have at least 8 characters");
            }
        }
    }
    Ok(())
}

/// The agent to poll a device: `asked` is an agent id or a host name (the
/// newest agent enrolled on that host); none asked, the one enrolled agent.
/// Revoked agents never poll.
pub fn choose_poller(agents: &[AgentRecord], asked: Option<&str>) -> Result<String, DeviceError> {
    let live: Vec<&AgentRecord> = agents.iter().filter(|a| a.revoked_at.is_none()).collect();
    let Some(asked) = asked.map(str::trim).filter(|a| !a.is_empty()) else {
        return match live.as_slice() {
            [one] => Ok(one.id.clone()),
            [] => Err(DeviceError::NoPoller(
                "no agent is enrolled to poll the device; enroll one first".into(),
            )),
            many => Err(DeviceError::NoPoller(format!(
                "{} agents could poll the device; choose one with --poller (agent id or host name): {}",
                many.len(),
                many.iter()
                    .map(|a| format!("{} ({})", a.id, a.hostname))
                    .collect::<Vec<_>>()
                    .join(", ")
            ))),
        };
    };
    if let Some(a) = live.iter().find(|a| a.id == asked) {
        return Ok(a.id.clone());
    }
    live.iter()
        .filter(|a| a.hostname.eq_ignore_ascii_case(asked))
        .max_by_key(|a| a.enrolled_at)
        .map(|a| a.id.clone())
        .ok_or_else(|| {
            DeviceError::NoPoller(format!(
                "no enrolled agent has the id or host name `{asked}`"
            ))
        })
}

#[cfg(test)]
mod tests {
    use atalaya_common::model::device::{AuthProtocol, PrivProtocol, Secret};

    use super::*;

    fn new(address: &str, credentials: Credentials) -> NewDevice {
        NewDevice {
            address: address.into(),
            name: None,
            poller: None,
            port: None,
            poll_interval_seconds: None,
            timeout_ms: None,
            retries: None,
            credentials,
        }
    }

    fn v2c() -> Credentials {
        Credentials::V2c {
            community: Secret::new("public"),
        }
    }

    fn v3(auth: Option<&str>, privacy: Option<&str>) -> Credentials {
        Credentials::V3 {
            user: "monitor".into(),
            auth: auth.map(|p| (AuthProtocol::Sha256, Secret::new(p))),
            privacy: privacy.map(|p| (PrivProtocol::Aes128, Secret::new(p))),
        }
    }

    fn agent(id: &str, host: &str, enrolled: i64, revoked: bool) -> AgentRecord {
        let mut a = AgentRecord::enrolled(id, host, "", [0; 32], "0.1.0", Timestamp(enrolled));
        a.revoked_at = revoked.then_some(Timestamp(enrolled + 1));
        a
    }

    fn invalid(r: Result<DeviceSpec, DeviceError>) -> String {
        match r {
            Err(DeviceError::Invalid(m)) => m,
            other => panic!("not refused: {other:?}"),
        }
    }

    #[test]
    fn the_name_defaults_to_the_address_and_is_checked() {
        let spec = spec_of(new("192.0.2.10", v2c())).unwrap();
        assert_eq!((spec.name.as_str(), spec.port), ("192.0.2.10", 161));
        let m = invalid(spec_of(new("fe80::1", v2c())));
        assert!(m.contains("`:`"), "{m}");
        let mut named = new("fe80::1", v2c());
        named.name = Some("core-sw1".into());
        assert_eq!(spec_of(named).unwrap().name, "core-sw1");
        assert!(invalid(spec_of(new(" ", v2c()))).contains("address is empty"));
        let mut zero = new("192.0.2.10", v2c());
        zero.port = Some(0);
        assert!(invalid(spec_of(zero)).contains("port"));
    }

    #[test]
    fn v3_passwords_and_privacy_are_checked() {
        let short = invalid(spec_of(new("sw", v3(Some("short"), None))));
        assert!(short.contains("at least 8"), "{short}");
        let bare = invalid(spec_of(new("sw", v3(None, Some("longenough")))));
        assert!(bare.contains("needs authentication"), "{bare}");
        assert!(spec_of(new("sw", v3(Some("longenough"), Some("longenough")))).is_ok());
        assert!(spec_of(new("sw", v3(None, None))).is_ok());
    }

    #[test]
    fn the_poller_is_an_agent_id_a_host_or_the_only_agent() {
        let agents = [
            agent("ag-old", "probe-1", 1, false),
            agent("ag-new", "probe-1", 5, false),
            agent("ag-gone", "probe-2", 9, true),
        ];
        assert_eq!(choose_poller(&agents, Some("ag-old")).unwrap(), "ag-old");
        assert_eq!(choose_poller(&agents, Some("PROBE-1")).unwrap(), "ag-new");
        let gone = choose_poller(&agents, Some("probe-2")).unwrap_err();
        assert!(gone.to_string().contains("probe-2"), "{gone}");
        let many = choose_poller(&agents, None).unwrap_err().to_string();
        assert!(
            many.contains("--poller") && many.contains("ag-new (probe-1)"),
            "{many}"
        );
        assert_eq!(choose_poller(&agents[..1], None).unwrap(), "ag-old");
        assert!(choose_poller(&[], None).is_err());
    }
}
