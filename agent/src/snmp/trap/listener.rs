//! The trap socket: receives datagrams, runs each through the
//! [`TrapReceiver`] checks, answers informs, and hands accepted traps on
//! through a bounded channel. The loop never waits on anything but the
//! socket: a full channel or socket buffer drops (and counts), so a flood
//! from one source cannot hold back another's traps.

use std::collections::{BTreeMap, HashMap};
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use async_snmp::MasterKeys;
use atalaya_common::model::device::trap::{TrapDrop, TrapEvent};
use atalaya_common::model::{Credentials, DeviceSpec, Timestamp};
use tokio::net::UdpSocket;
use tokio::sync::{mpsc, watch};

use super::limit::LogGate;
use super::receiver::{Check, DeviceTable, Received, TrapDevice, TrapReceiver};
use crate::snmp::client::{auth_protocol, priv_protocol};

/// Messages a second each source may send.
pub const DEFAULT_RATE: f64 = 20.0;
/// Messages a source may send at once after a quiet spell.
pub const DEFAULT_BURST: u32 = 100;
/// The largest datagram read.
const MAX_DATAGRAM: usize = 65_535;
/// Time allowed to resolve a device's address.
const RESOLVE_TIMEOUT: Duration = Duration::from_secs(5);

/// Interface names by device and `ifIndex`, from the poller's last inventories.
pub type InterfaceNames = Arc<RwLock<HashMap<String, BTreeMap<u32, String>>>>;

/// Drops so far, by reason.
#[derive(Debug, Default)]
pub struct TrapCounters {
    dropped: [AtomicU64; TrapDrop::ALL.len()],
    accepted: AtomicU64,
}

impl TrapCounters {
    /// One more dropped for `why`.
    pub fn drop_one(&self, why: TrapDrop) {
        if let Some(i) = TrapDrop::ALL.iter().position(|r| *r == why) {
            self.dropped[i].fetch_add(1, Ordering::Relaxed);
        }
    }

    /// One more accepted.
    pub fn accept_one(&self) {
        self.accepted.fetch_add(1, Ordering::Relaxed);
    }

    /// Messages accepted so far.
    pub fn accepted(&self) -> u64 {
        self.accepted.load(Ordering::Relaxed)
    }

    /// Dropped so far for `why`.
    pub fn dropped(&self, why: TrapDrop) -> u64 {
        TrapDrop::ALL
            .iter()
            .position(|r| *r == why)
            .map_or(0, |i| self.dropped[i].load(Ordering::Relaxed))
    }

    /// `(reason, total)` for every reason, as the record carries them.
    pub fn totals(&self) -> Vec<(String, u64)> {
        TrapDrop::ALL
            .iter()
            .map(|r| (r.name().to_owned(), self.dropped(*r)))
            .collect()
    }
}

/// The trap socket and what it shares with the rest of the agent.
#[derive(Debug)]
pub struct TrapListener {
    socket: UdpSocket,
    table: watch::Receiver<Arc<DeviceTable>>,
    names: InterfaceNames,
    out: mpsc::Sender<TrapEvent>,
    counters: Arc<TrapCounters>,
    receiver: TrapReceiver,
    log: LogGate<IpAddr>,
}

impl TrapListener {
    /// Binds `addr`; accepted traps go to `out`.
    pub async fn bind(
        addr: SocketAddr,
        table: watch::Receiver<Arc<DeviceTable>>,
        names: InterfaceNames,
        out: mpsc::Sender<TrapEvent>,
        counters: Arc<TrapCounters>,
    ) -> std::io::Result<Self> {
        let socket = bind_udp(addr)?;
        Ok(Self {
            socket,
            table,
            names,
            out,
            counters,
            receiver: TrapReceiver::new(DEFAULT_RATE, DEFAULT_BURST),
            log: LogGate::new(Duration::from_secs(60)),
        })
    }

    /// The bound address.
    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.socket.local_addr()
    }

    /// Receives until the channel's reader is gone.
    pub async fn run(mut self) {
        let mut buf = vec![0u8; MAX_DATAGRAM];
        loop {
            let (len, source) = tokio::select! {
                r = self.socket.recv_from(&mut buf) => match r {
                    Ok(got) => got,
                    Err(e) => {
                        // ICMP errors of earlier replies show up here on some systems.
                        tracing::debug!(error = %e, "trap socket");
                        continue;
                    }
                },
                () = self.out.closed() => return,
            };
            let datagram = buf.get(..len).unwrap_or_default();
            self.take(datagram, source);
        }
    }

    /// Checks one datagram and passes it on, without waiting.
    fn take(&mut self, datagram: &[u8], source: SocketAddr) {
        if self.table.has_changed().unwrap_or(false) {
            self.receiver.forget_keys();
        }
        let table = self.table.borrow_and_update().clone();
        let names = |device: &str| -> BTreeMap<u32, String> {
            self.names
                .read()
                .ok()
                .and_then(|n| n.get(device).cloned())
                .unwrap_or_default()
        };
        let received = self.receiver.receive(
            &table,
            &names,
            datagram,
            source,
            Instant::now(),
            Timestamp::now(),
        );
        match received {
            Received::Accepted { event, reply } => {
                let device = event.device.clone();
                match self.out.try_send(*event) {
                    Ok(()) => {
                        self.counters.accept_one();
                        // Answered once handed on: a sender whose inform was
                        // not taken sends it again.
                        if let Some(reply) = reply
                            && let Err(e) = self.socket.try_send_to(&reply, source)
                        {
                            tracing::debug!(error = %e, %source, "inform response not sent");
                        }
                    }
                    Err(_) => self.dropped(
                        TrapDrop::Overloaded,
                        source,
                        &device,
                        "the spool queue is full",
                    ),
                }
            }
            Received::Dropped(why, detail) => self.dropped(why, source, "", &detail),
        }
    }

    fn dropped(&mut self, why: TrapDrop, source: SocketAddr, device: &str, detail: &str) {
        self.counters.drop_one(why);
        if let Some(held) = self.log.note(&source.ip(), Instant::now()) {
            tracing::warn!(
                %source,
                device,
                reason = %why,
                detail,
                dropped_since_last_notice = held,
                "dropping an SNMP trap"
            );
        }
    }
}

/// The table of `devices`: each at the addresses its name resolves to,
/// with its credentials ready to check (SNMPv3 passwords turned into keys
/// once, off the async threads). A device whose address does not resolve
/// or whose credentials are unusable is left out, and logged.
pub async fn build_table(devices: &[DeviceSpec]) -> DeviceTable {
    let mut entries = Vec::new();
    for spec in devices {
        let ips = resolve(&spec.address).await;
        if ips.is_empty() {
            tracing::warn!(device = %spec.name, address = %spec.address, "traps from this device cannot be taken: its address does not resolve");
            continue;
        }
        let spec_owned = spec.clone();
        let device = tokio::task::spawn_blocking(move || trap_device(&spec_owned))
            .await
            .map_err(|e| e.to_string())
            .and_then(|r| r);
        let TrapDevice { check, .. } = match device {
            Ok(c) => c,
            Err(why) => {
                tracing::warn!(device = %spec.name, reason = %why, "traps from this device cannot be checked");
                continue;
            }
        };
        for ip in ips {
            let check = match &check {
                Check::Community(c) => Check::Community(c.clone()),
                Check::V3 { user, keys } => Check::V3 {
                    user: user.clone(),
                    keys: keys.clone(),
                },
            };
            let device = TrapDevice {
                name: spec.name.clone(),
                check,
            };
            entries.push((ip, device));
        }
    }
    DeviceTable::new(entries)
}

/// The addresses `address` stands for (itself when it is one).
async fn resolve(address: &str) -> Vec<IpAddr> {
    if let Ok(ip) = address.parse::<IpAddr>() {
        return vec![ip];
    }
    let lookup = tokio::net::lookup_host((address, 0));
    match tokio::time::timeout(RESOLVE_TIMEOUT, lookup).await {
        Ok(Ok(found)) => {
            let mut ips: Vec<IpAddr> = found.map(|a| a.ip()).collect();
            ips.sort_unstable();
            ips.dedup();
            ips
        }
        _ => Vec::new(),
    }
}

/// What a device's traps are checked against: its community, or its
/// SNMPv3 user and the master keys of its passwords (derived here, which
/// takes a few milliseconds: call it off the async threads).
pub fn trap_device(spec: &DeviceSpec) -> Result<TrapDevice, String> {
    let check = match &spec.credentials {
        Credentials::V1 { community } | Credentials::V2c { community } => {
            Check::Community(community.expose().as_bytes().to_vec())
        }
        Credentials::V3 {
            user,
            auth,
            privacy,
        } => {
            let keys = match (auth, privacy) {
                (None, None) => None,
                (Some((a, pa)), None) => Some(
                    MasterKeys::new(auth_protocol(*a), pa.expose().as_bytes())
                        .map_err(|e| e.to_string())?,
                ),
                (Some((a, pa)), Some((p, pp))) => Some(
                    MasterKeys::new(auth_protocol(*a), pa.expose().as_bytes())
                        .and_then(|k| k.with_privacy(priv_protocol(*p), pp.expose().as_bytes()))
                        .map_err(|e| e.to_string())?,
                ),
                (None, Some(_)) => return Err("SNMPv3 privacy needs authentication".into()),
            };
            Check::V3 {
                user: user.as_bytes().to_vec(),
                keys,
            }
        }
    };
    Ok(TrapDevice {
        name: spec.name.clone(),
        check,
    })
}

/// Receive buffer asked for the trap socket: a burst of traps from many
/// devices at once (a power cut restarting a floor's switches) waits in it
/// while the listener works, instead of being dropped by the kernel. The
/// kernel may grant less (`net.core.rmem_max`); binding goes on either way.
const TRAP_RECEIVE_BUFFER: usize = 4 << 20;

/// Binds the trap socket on `addr` with [`TRAP_RECEIVE_BUFFER`].
fn bind_udp(addr: SocketAddr) -> std::io::Result<UdpSocket> {
    use socket2::{Domain, Protocol, Socket, Type};
    let socket = Socket::new(Domain::for_address(addr), Type::DGRAM, Some(Protocol::UDP))?;
    if let Err(err) = socket.set_recv_buffer_size(TRAP_RECEIVE_BUFFER) {
        tracing::debug!(error = %err, "keeping the default receive buffer for SNMP traps");
    }
    socket.set_nonblocking(true)?;
    socket.bind(&addr.into())?;
    UdpSocket::from_std(socket.into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_trap_socket_asks_for_a_larger_receive_buffer_than_the_default() {
        let addr: SocketAddr = "127.0.0.1:0".parse().unwrap();
        let ours = bind_udp(addr).unwrap();
        let plain = UdpSocket::bind(addr).await.unwrap();
        let size = |s: &UdpSocket| socket2::SockRef::from(s).recv_buffer_size().unwrap();
        assert!(
            size(&ours) > size(&plain),
            "{} vs {}",
            size(&ours),
            size(&plain)
        );
    }
}
