//! The checks every datagram goes through, sans I/O: from an assigned
//! device's address, within its source's rate, decodable, with the
//! device's community or SNMPv3 user and keys, and (SNMPv3) not replayed.
//! What passes becomes a [`TrapEvent`]; an inform gets its response bytes.

use std::collections::{BTreeMap, HashMap};
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Instant;

use async_snmp::message::CommunityMessage;
use async_snmp::pdu::ResponsePdu;
use async_snmp::{MasterKeys, Version};
use atalaya_common::model::Timestamp;
use atalaya_common::model::device::trap::{TrapDrop, TrapEvent, TrapVersion};
use bytes::Bytes;

use super::classify::{Origin, classify};
use super::decode::{Decoded, LocalKeys, Notice, V3Error, V3Message, decode_trap, open_v3};
use super::limit::RateLimiter;

/// Localized keys and engine clocks kept at most (per device and engine
/// id); past it they are forgotten and derived again when needed.
const MAX_ENGINES: usize = 4096;
/// RFC 3414's time window, seconds.
const TIME_WINDOW: u64 = 150;
/// RFC 3414: an engine whose boots reached this is no longer believed.
const MAX_BOOTS: u32 = 2_147_483_647;

/// How one assigned device's notifications are checked.
#[derive(Debug)]
pub struct TrapDevice {
    /// The device's name.
    pub name: String,
    /// Its credentials, as traps need them.
    pub check: Check,
}

/// The credentials a device's notifications must carry.
pub enum Check {
    /// SNMPv1/v2c: its community.
    Community(Vec<u8>),
    /// SNMPv3: its user, and the master keys of its passwords (`None` for
    /// a noAuthNoPriv device).
    V3 {
        /// `msgUserName`.
        user: Vec<u8>,
        /// Derived once; localized per sending engine.
        keys: Option<MasterKeys>,
    },
}

impl std::fmt::Debug for Check {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Check::Community(_) => f.write_str("Community(<redacted>)"),
            Check::V3 { user, keys } => f
                .debug_struct("V3")
                .field("user", &String::from_utf8_lossy(user))
                .field("keys", keys)
                .finish(),
        }
    }
}

/// The assigned devices by the addresses their notifications come from.
#[derive(Debug, Default)]
pub struct DeviceTable {
    by_ip: HashMap<IpAddr, Vec<TrapDevice>>,
}

impl DeviceTable {
    /// A table of `devices`, each at its resolved addresses.
    pub fn new(devices: impl IntoIterator<Item = (IpAddr, TrapDevice)>) -> Self {
        let mut by_ip: HashMap<IpAddr, Vec<TrapDevice>> = HashMap::new();
        for (ip, device) in devices {
            by_ip.entry(canonical(ip)).or_default().push(device);
        }
        Self { by_ip }
    }

    /// Devices known.
    pub fn len(&self) -> usize {
        self.by_ip.values().map(Vec::len).sum()
    }

    /// True when no device is known.
    pub fn is_empty(&self) -> bool {
        self.by_ip.is_empty()
    }

    fn at(&self, ip: IpAddr) -> Option<&[TrapDevice]> {
        self.by_ip.get(&canonical(ip)).map(Vec::as_slice)
    }
}

/// An IPv4 address received on a dual-stack socket is an IPv4 one.
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    }
}

/// What became of one datagram.
#[derive(Debug)]
pub enum Received {
    /// Accepted: the event, and for an inform the response to send back.
    Accepted {
        /// The trap, classified.
        event: Box<TrapEvent>,
        /// The Response to an InformRequest.
        reply: Option<Vec<u8>>,
    },
    /// Dropped, and why (the detail is for the log).
    Dropped(TrapDrop, String),
}

/// The per-datagram checks and what they remember between datagrams.
#[derive(Debug)]
pub struct TrapReceiver {
    limiter: RateLimiter<IpAddr>,
    keys: HashMap<(String, Bytes), Arc<LocalKeys>>,
    clocks: HashMap<(String, Bytes), EngineClock>,
}

/// The last authentic boots and time of a sending engine, and when they came.
#[derive(Debug, Clone, Copy)]
struct EngineClock {
    boots: u32,
    time: u32,
    at: Instant,
}

impl TrapReceiver {
    /// Checks with a rate of `rate` messages a second per source, bursts of `burst`.
    pub fn new(rate: f64, burst: u32) -> Self {
        Self {
            limiter: RateLimiter::new(rate, burst),
            keys: HashMap::new(),
            clocks: HashMap::new(),
        }
    }

    /// Forgets localized keys and engine clocks (the devices changed).
    pub fn forget_keys(&mut self) {
        self.keys.clear();
        self.clocks.clear();
    }

    /// Checks one datagram from `source`, received at `now` (`received_at`
    /// on the wall clock); `names` gives a device's interface names.
    pub fn receive(
        &mut self,
        table: &DeviceTable,
        names: &dyn Fn(&str) -> BTreeMap<u32, String>,
        bytes: &[u8],
        source: SocketAddr,
        now: Instant,
        received_at: Timestamp,
    ) -> Received {
        let ip = canonical(source.ip());
        let Some(candidates) = table.at(ip) else {
            return Received::Dropped(
                TrapDrop::UnknownSource,
                "no assigned device has this address".into(),
            );
        };
        if !self.limiter.allow(&ip, now) {
            return Received::Dropped(TrapDrop::RateLimited, "over its rate".into());
        }
        let decoded = match decode_trap(bytes) {
            Ok(d) => d,
            Err(e @ super::decode::DecodeError::V3Discovery) => {
                return Received::Dropped(TrapDrop::Unsupported, e.to_string());
            }
            Err(e) => return Received::Dropped(TrapDrop::Malformed, e.to_string()),
        };
        let source_text = SocketAddr::new(ip, source.port()).to_string();
        let (device, version, notice, community) = match decoded {
            Decoded::Community {
                version,
                community,
                notice,
            } => {
                let found = candidates.iter().find(|d| match &d.check {
                    Check::Community(c) => c.as_slice() == community.as_ref(),
                    Check::V3 { .. } => false,
                });
                let Some(device) = found else {
                    return Received::Dropped(
                        TrapDrop::BadCommunity,
                        format!("community is not the one of {}", names_of(candidates)),
                    );
                };
                (device, version, notice, Some(community))
            }
            Decoded::V3(m) => match self.open(candidates, &m, now) {
                Ok((device, notice)) => (device, TrapVersion::V3, notice, None),
                Err(why) => return Received::Dropped(TrapDrop::V3AuthFailed, why),
            },
        };
        let reply = if notice.inform {
            match community.as_ref().map(|c| response(c, &notice)) {
                Some(Ok(bytes)) => Some(bytes),
                Some(Err(why)) => return Received::Dropped(TrapDrop::Malformed, why),
                None => {
                    return Received::Dropped(
                        TrapDrop::Unsupported,
                        "an SNMPv3 inform (send SNMPv3 traps instead)".into(),
                    );
                }
            }
        } else {
            None
        };
        let origin = Origin {
            device: &device.name,
            source: &source_text,
            received_at,
            version,
        };
        let event = classify(origin, &notice, &names(&device.name));
        Received::Accepted {
            event: Box::new(event),
            reply,
        }
    }

    /// Finds the device at this address whose user and keys open `m`.
    fn open<'t>(
        &mut self,
        candidates: &'t [TrapDevice],
        m: &V3Message,
        now: Instant,
    ) -> Result<(&'t TrapDevice, Notice), String> {
        let mut why = format!(
            "user {:?} is not the one of {}",
            String::from_utf8_lossy(&m.user),
            names_of(candidates)
        );
        for device in candidates {
            let Check::V3 { user, keys } = &device.check else {
                continue;
            };
            if user.as_slice() != m.user.as_ref() {
                continue;
            }
            let local = match self.localized(&device.name, user, keys.as_ref(), &m.engine_id) {
                Ok(k) => k,
                Err(e) => {
                    why = e;
                    continue;
                }
            };
            match open_v3(m, &local) {
                Ok(notice) => {
                    if local.auth.is_some() && !self.timely(&device.name, m, now) {
                        why = format!(
                            "engine boots {} time {} is outside the time window (a replay?)",
                            m.engine_boots, m.engine_time
                        );
                        continue;
                    }
                    return Ok((device, notice));
                }
                Err(V3Error::Content(e)) => why = e.to_string(),
                Err(e) => why = e.to_string(),
            }
        }
        Err(why)
    }

    /// The device's keys localized for `engine_id`, derived once per engine.
    fn localized(
        &mut self,
        device: &str,
        user: &[u8],
        keys: Option<&MasterKeys>,
        engine_id: &Bytes,
    ) -> Result<Arc<LocalKeys>, String> {
        let key = (device.to_owned(), engine_id.clone());
        if let Some(found) = self.keys.get(&key) {
            return Ok(found.clone());
        }
        let (auth, privacy) = match keys {
            Some(k) => {
                let (a, p) = k.localize(engine_id).map_err(|e| e.to_string())?;
                (Some(a), p)
            }
            None => (None, None),
        };
        let local = Arc::new(LocalKeys {
            user: user.to_vec(),
            auth,
            privacy,
        });
        if self.keys.len() >= MAX_ENGINES {
            self.keys.clear();
        }
        self.keys.insert(key, local.clone());
        Ok(local)
    }

    /// RFC 3414 §3.2.7 b, for an authentic message from a sending engine:
    /// boots never go back, and within the same boots time stays within
    /// the window of what the engine said last (plus the time since).
    fn timely(&mut self, device: &str, m: &V3Message, now: Instant) -> bool {
        if m.engine_boots >= MAX_BOOTS {
            return false;
        }
        let key = (device.to_owned(), m.engine_id.clone());
        let fresh = EngineClock {
            boots: m.engine_boots,
            time: m.engine_time,
            at: now,
        };
        let Some(last) = self.clocks.get_mut(&key) else {
            if self.clocks.len() >= MAX_ENGINES {
                self.clocks.clear();
            }
            self.clocks.insert(key, fresh);
            return true;
        };
        let expected =
            u64::from(last.time).saturating_add(now.saturating_duration_since(last.at).as_secs());
        let ok = match m.engine_boots.cmp(&last.boots) {
            std::cmp::Ordering::Greater => true,
            std::cmp::Ordering::Less => false,
            std::cmp::Ordering::Equal => u64::from(m.engine_time) + TIME_WINDOW >= expected,
        };
        if ok && (m.engine_boots > last.boots || u64::from(m.engine_time) >= expected) {
            *last = fresh;
        }
        ok
    }
}

fn names_of(devices: &[TrapDevice]) -> String {
    devices
        .iter()
        .map(|d| d.name.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}

/// The Response to a v2c InformRequest: its request id and bindings back.
fn response(community: &Bytes, notice: &Notice) -> Result<Vec<u8>, String> {
    let request_id = notice.request_id.unwrap_or(0);
    let pdu = ResponsePdu::success(Version::V2c, request_id, notice.all.clone())
        .map_err(|e| e.to_string())?;
    let message = CommunityMessage::v2c(community.to_vec(), pdu).map_err(|e| e.to_string())?;
    message
        .encode()
        .map(|b| b.to_vec())
        .map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests;
