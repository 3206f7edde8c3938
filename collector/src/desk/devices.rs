//! Adding, changing and removing network devices, and discoveries: the
//! request checked, its poller found among the enrolled agents, the record
//! stored. The caller tells the QUIC server afterwards, so that the
//! poller (and a poller that lost a device) gets its new list, or the
//! discovery request.

use atalaya_common::model::Timestamp;
use atalaya_common::model::device::{
    Credentials, DEFAULT_POLL_INTERVAL_SECONDS, DEFAULT_RETRIES, DEFAULT_SNMP_PORT,
    DEFAULT_TIMEOUT_MS, DeviceSpec,
};
use serde::Deserialize;
use utoipa::ToSchema;

use atalaya_common::model::device::ranges::parse_ranges;
use atalaya_common::proto::{DiscoveredDevice, DiscoveryRequest};

use crate::records::device::{DeviceRecord, DiscoveryEnd, DiscoveryRecord, device_asset_id};
use crate::store::{AgentRecord, Store, StoreError};

/// Shortest SNMPv3 password (RFC 3414 asks for 8 characters).
pub const MIN_V3_PASSWORD: usize = 8;
/// The path segment of discoveries under `/api/v1/devices/`, so no device
/// may be named so.
pub const DISCOVER_ROUTE: &str = "discover";
/// How long a discovery request waits for each answer unless told otherwise.
pub const DEFAULT_DISCOVERY_TIMEOUT_MS: u32 = 1_000;
/// Addresses a discovery asks at once unless told otherwise.
pub const DEFAULT_DISCOVERY_CONCURRENCY: u32 = 64;

/// A discovery, as a person asks for it.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewDiscovery {
    /// Address ranges, e.g. `192.0.2.0/24` (at most a /20 in all).
    pub ranges: Vec<String>,
    /// The agent to sweep from: an agent id or a host name; when not
    /// given, the one enrolled agent.
    #[serde(default)]
    pub poller: Option<String>,
    /// UDP port (161 when not given).
    #[serde(default)]
    pub port: Option<u16>,
    /// Credentials to try, in order.
    pub credentials: Vec<Credentials>,
    /// Addresses asked at once.
    #[serde(default)]
    pub concurrency: Option<u32>,
    /// Milliseconds each request waits (no retry).
    #[serde(default)]
    pub timeout_ms: Option<u32>,
}

/// A device to add, as a person asks for it.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, ToSchema)]
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

/// Changes to a device, as a person asks for them: what is not given stays.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DeviceUpdate {
    /// Another poller: an agent id or a host name.
    #[serde(default)]
    pub poller: Option<String>,
    /// Another host name or IP address.
    #[serde(default)]
    pub address: Option<String>,
    /// Another UDP port.
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
    /// New SNMP version and credentials (all of them: they are never read back).
    #[serde(default)]
    pub credentials: Option<Credentials>,
}

/// A device could not be added, changed or removed.
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
    /// No discovery has this id.
    #[error("no discovery has the id {0}")]
    NoDiscovery(u64),
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

/// Changes the device named `name` in place; returns the record before
/// and after (the pollers of both are the agents to tell).
pub fn update(
    store: &Store,
    name: &str,
    upd: DeviceUpdate,
) -> Result<(DeviceRecord, DeviceRecord), DeviceError> {
    let old = store
        .device(name)?
        .ok_or_else(|| DeviceError::NotFound(name.to_owned()))?;
    let s = &old.spec;
    let spec = spec_of(NewDevice {
        address: upd.address.unwrap_or_else(|| s.address.clone()),
        name: Some(s.name.clone()),
        poller: None,
        port: Some(upd.port.unwrap_or(s.port)),
        poll_interval_seconds: Some(upd.poll_interval_seconds.unwrap_or(s.poll_interval_seconds)),
        timeout_ms: Some(upd.timeout_ms.unwrap_or(s.timeout_ms)),
        retries: Some(upd.retries.unwrap_or(s.retries)),
        credentials: upd.credentials.unwrap_or_else(|| s.credentials.clone()),
    })?;
    let poller = match upd.poller {
        Some(asked) => choose_poller(&store.list_agents()?, Some(&asked))?,
        None => old.poller.clone(),
    };
    let new = DeviceRecord {
        spec,
        poller,
        ..old.clone()
    };
    match store.replace_device(&new)? {
        Some(_) => Ok((old, new)),
        None => Err(DeviceError::NotFound(name.to_owned())),
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
    if name == DISCOVER_ROUTE {
        return Err(DeviceError::Invalid(format!(
            "`{DISCOVER_ROUTE}` is not a device name (it names the discovery route)"
        )));
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

/// Checks `new`, finds its poller and stores the discovery; returns the
/// record and the request to send to the poller.
pub fn start_discovery(
    store: &Store,
    new: NewDiscovery,
    asked_by: &str,
    now: Timestamp,
) -> Result<(DiscoveryRecord, DiscoveryRequest), DeviceError> {
    let ranges = parse_ranges(&new.ranges).map_err(|e| DeviceError::Invalid(e.to_string()))?;
    if ranges.is_empty() {
        return Err(DeviceError::Invalid(
            "give at least one address range, e.g. 192.0.2.0/24".into(),
        ));
    }
    if new.credentials.is_empty() {
        return Err(DeviceError::Invalid(
            "give at least one credential to try (--community or --user)".into(),
        ));
    }
    if new.credentials.len() > MAX_DISCOVERY_CREDENTIALS {
        return Err(DeviceError::Invalid(format!(
            "a discovery tries at most {MAX_DISCOVERY_CREDENTIALS} credentials"
        )));
    }
    for c in &new.credentials {
        check_credentials(c)?;
    }
    let port = new.port.unwrap_or(DEFAULT_SNMP_PORT);
    if port == 0 {
        return Err(DeviceError::Invalid("the port must be above 0".into()));
    }
    let poller = choose_poller(&store.list_agents()?, new.poller.as_deref())?;
    let rec = store.add_discovery(&DiscoveryRecord {
        id: 0,
        poller,
        ranges: ranges.iter().map(ToString::to_string).collect(),
        port,
        credentials: new.credentials,
        concurrency: new
            .concurrency
            .unwrap_or(DEFAULT_DISCOVERY_CONCURRENCY)
            .clamp(1, 256),
        timeout_ms: new
            .timeout_ms
            .unwrap_or(DEFAULT_DISCOVERY_TIMEOUT_MS)
            .clamp(1, 60_000),
        addresses: ranges.iter().map(|r| r.len()).sum(),
        asked_at: now,
        asked_by: asked_by.to_owned(),
        ended: None,
    })?;
    let request = DiscoveryRequest {
        id: rec.id,
        ranges: rec.ranges.clone(),
        port: rec.port,
        credentials: rec.credentials.clone(),
        concurrency: rec.concurrency,
        timeout_ms: rec.timeout_ms,
    };
    Ok((rec, request))
}

/// Credentials one discovery may try, at most (the poller's own limit).
pub const MAX_DISCOVERY_CREDENTIALS: usize = 16;

/// Marks a discovery that could not be handed to its poller.
pub fn discovery_not_sent(store: &Store, rec: &DiscoveryRecord, now: Timestamp) -> DeviceError {
    let reason = format!(
        "the poller {} is not connected now; try again once it is",
        rec.poller
    );
    if let Err(e) = store.end_discovery(
        rec.id,
        DiscoveryEnd::Refused {
            at: now,
            reason: reason.clone(),
        },
    ) {
        return e.into();
    }
    DeviceError::NoPoller(reason)
}

/// The known device a found one is, if any: one with the same address
/// and port, or whose inventory has its `sysName`.
pub fn known_as(
    store: &Store,
    devices: &[DeviceRecord],
    port: u16,
    found: &DiscoveredDevice,
) -> Result<Option<String>, StoreError> {
    if let Some(d) = devices
        .iter()
        .find(|d| d.spec.address == found.address && d.spec.port == port)
    {
        return Ok(Some(d.name.clone()));
    }
    if found.sys_name.trim().is_empty() {
        return Ok(None);
    }
    for d in devices {
        if let Some(inv) = store.device_inventory(&d.asset_id)?
            && inv.system.name.eq_ignore_ascii_case(found.sys_name.trim())
        {
            return Ok(Some(d.name.clone()));
        }
    }
    Ok(None)
}

/// Adds the devices discovery `id` found that are not known yet, each
/// with the credential that worked, named by its `sysName` where that
/// is a free, valid name (else by its address); returns those added.
pub fn add_found(store: &Store, id: u64, now: Timestamp) -> Result<Vec<DeviceRecord>, DeviceError> {
    let (rec, found) = store.discovery(id)?.ok_or(DeviceError::NoDiscovery(id))?;
    let mut devices = store.devices()?;
    let mut added = Vec::new();
    for f in found {
        if known_as(store, &devices, rec.port, &f)?.is_some() {
            continue;
        }
        let Some(credentials) = usize::try_from(f.credential)
            .ok()
            .and_then(|i| rec.credentials.get(i))
        else {
            continue;
        };
        let sys_name = f.sys_name.trim().to_owned();
        let free = |n: &str| check_name(n).is_ok() && !devices.iter().any(|d| d.name == n);
        let name = if free(&sys_name) {
            sys_name
        } else {
            f.address.clone()
        };
        let new = NewDevice {
            address: f.address.clone(),
            name: Some(name),
            poller: Some(rec.poller.clone()),
            port: Some(rec.port),
            poll_interval_seconds: None,
            timeout_ms: None,
            retries: None,
            credentials: credentials.clone(),
        };
        match add(store, new, now) {
            Ok(d) => {
                devices.push(d.clone());
                added.push(d);
            }
            // Taken meanwhile, or an address that is no valid name.
            Err(DeviceError::Exists(_) | DeviceError::Invalid(_)) => {}
            Err(e) => return Err(e),
        }
    }
    Ok(added)
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
