//! A scripted SNMP device: an SNMPv1/v2c agent on a loopback UDP port that
//! serves the bindings a test built, with the misbehaviour the test picks
//! ([`Fault`]): the devices no real daemon can be made to imitate on cue.
//!
//! Each device answers on its own thread with a blocking socket, so a
//! device that stalls or floods never slows the poller's runtime. SNMPv3
//! messages (the poller's probe of a device that stopped answering) are
//! ignored, as by a device with SNMPv3 off.

#![allow(clippy::unwrap_used, clippy::missing_panics_doc)] // a failed unwrap is a failed test

use std::collections::BTreeMap;
use std::net::{SocketAddr, UdpSocket};
use std::ops::Bound;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

use async_snmp::message::{CommunityMessage, Message};
use async_snmp::{DecodeConfig, Oid, OutboundErrorStatus, Pdu, PduType, ResponsePdu, Value};
use async_snmp::{VarBind, Version};

/// Most bindings one answer carries, as a device caps its answer to fit a datagram.
const MAX_BINDINGS: usize = 1_000;

/// How a scripted device misbehaves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// It answers every request correctly.
    None,
    /// A GETBULK asking for more than this many repetitions gets `tooBig`.
    TooBigAbove(u32),
    /// Each answer is cut off after its first half.
    Truncated,
    /// Each answer is replaced by bytes that are no SNMP at all.
    Garbage,
    /// Each answer carries another request's ID.
    WrongRequestId,
    /// GETNEXT and GETBULK return the first row of the column asked for,
    /// whatever row was asked for: a walk never advances.
    Loop,
    /// `ifInOctets` has this many rows, made up as they are asked for.
    Endless(u32),
    /// Each answer leaves this long after its request.
    Slow(Duration),
}

/// What a device serves: OID → value.
pub type Mib = BTreeMap<Oid, Value>;

/// `ifInOctets`, the column [`Fault::Endless`] makes endless.
const IF_IN_OCTETS: &[u32] = &[1, 3, 6, 1, 2, 1, 2, 2, 1, 10];

/// A scripted device, answering until dropped.
#[derive(Debug)]
pub struct ScriptedDevice {
    /// Where it answers.
    pub addr: SocketAddr,
    requests: Arc<AtomicU64>,
    too_big: Arc<AtomicU64>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl ScriptedDevice {
    /// Starts a device answering `community` with `mib`, misbehaving as `fault`.
    pub fn start(community: &str, mib: Mib, fault: Fault) -> ScriptedDevice {
        let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
        let addr = socket.local_addr().unwrap();
        let requests = Arc::new(AtomicU64::new(0));
        let too_big = Arc::new(AtomicU64::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let agent = Agent {
            community: community.to_owned(),
            mib,
            fault,
            requests: requests.clone(),
            too_big: too_big.clone(),
            stop: stop.clone(),
        };
        let thread = std::thread::spawn(move || agent.serve(&socket));
        ScriptedDevice {
            addr,
            requests,
            too_big,
            stop,
            thread: Some(thread),
        }
    }

    /// The UDP port it answers on.
    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    /// SNMPv1/v2c requests received so far.
    pub fn requests(&self) -> u64 {
        self.requests.load(Ordering::SeqCst)
    }

    /// `tooBig` answers sent so far.
    pub fn too_big_answers(&self) -> u64 {
        self.too_big.load(Ordering::SeqCst)
    }
}

impl Drop for ScriptedDevice {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // Wakes the blocked receive.
        if let Ok(s) = UdpSocket::bind("127.0.0.1:0") {
            let _ = s.send_to(b"stop", self.addr);
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

struct Agent {
    community: String,
    mib: Mib,
    fault: Fault,
    requests: Arc<AtomicU64>,
    too_big: Arc<AtomicU64>,
    stop: Arc<AtomicBool>,
}

impl Agent {
    fn serve(self, socket: &UdpSocket) {
        let mut buf = vec![0_u8; 65_535];
        let mut garbage_seed = 0x9e37_79b9_7f4a_7c15_u64;
        loop {
            let Ok((len, from)) = socket.recv_from(&mut buf) else {
                return;
            };
            if self.stop.load(Ordering::SeqCst) {
                return;
            }
            let Some(answer) = self.answer(&buf[..len]) else {
                continue;
            };
            self.requests.fetch_add(1, Ordering::SeqCst);
            let bytes = match self.fault {
                Fault::Truncated => answer[..answer.len() / 2].to_vec(),
                Fault::Garbage => (0..answer.len().max(8))
                    .map(|_| {
                        garbage_seed ^= garbage_seed << 13;
                        garbage_seed ^= garbage_seed >> 7;
                        garbage_seed ^= garbage_seed << 17;
                        (garbage_seed >> 24) as u8
                    })
                    .collect(),
                Fault::Slow(delay) => {
                    // The device's own slowness, not the test waiting.
                    std::thread::sleep(delay);
                    answer
                }
                _ => answer,
            };
            let _ = socket.send_to(&bytes, from);
        }
    }

    /// The encoded answer to one datagram; `None` for what a v1/v2c agent
    /// with this community ignores.
    fn answer(&self, datagram: &[u8]) -> Option<Vec<u8>> {
        let message = Message::decode(
            bytes::Bytes::copy_from_slice(datagram),
            DecodeConfig::default(),
        )
        .ok()?
        .value;
        let Message::Community(message) = message else {
            return None;
        };
        if message.community().as_bytes() != self.community.as_bytes() {
            return None;
        }
        let version = message.version();
        let pdu = message.into_pdu()?;
        let mut id = pdu.request_id();
        if self.fault == Fault::WrongRequestId {
            id = id.wrapping_add(1_000_003);
        }
        let response = match self.respond(version, &pdu) {
            Reply::Bindings(bindings) => ResponsePdu::success(version, id, bindings).ok()?,
            Reply::TooBig => {
                self.too_big.fetch_add(1, Ordering::SeqCst);
                ResponsePdu::new(version, id, OutboundErrorStatus::TooBig, None, Vec::new()).ok()?
            }
            Reply::NoSuchName(index) => {
                let error_index = async_snmp::ErrorIndex::new(index, pdu.varbinds().len()).ok()?;
                ResponsePdu::new(
                    version,
                    id,
                    OutboundErrorStatus::NoSuchName,
                    Some(error_index),
                    pdu.varbinds().to_vec(),
                )
                .ok()?
            }
        };
        let out = if version == Version::V1 {
            CommunityMessage::v1(self.community.as_str(), response)
        } else {
            CommunityMessage::v2c(self.community.as_str(), response)
        };
        Some(out.ok()?.encode().ok()?.to_vec())
    }

    fn respond(&self, version: Version, pdu: &Pdu) -> Reply {
        let asked: Vec<&Oid> = pdu.varbinds().iter().map(|vb| &vb.oid).collect();
        match pdu.pdu_type() {
            PduType::GetRequest => Reply::Bindings(
                asked
                    .iter()
                    .map(|oid| VarBind {
                        oid: (*oid).clone(),
                        value: self.mib.get(*oid).cloned().unwrap_or(Value::NoSuchObject),
                    })
                    .collect(),
            ),
            PduType::GetNextRequest => {
                let mut out = Vec::new();
                for (i, oid) in asked.iter().enumerate() {
                    match self.next(oid) {
                        Some(vb) => out.push(vb),
                        None if version == Version::V1 => {
                            return Reply::NoSuchName(u32::try_from(i + 1).unwrap_or(1));
                        }
                        None => out.push(end_of_mib(oid)),
                    }
                }
                Reply::Bindings(out)
            }
            PduType::GetBulkRequest => {
                let (_, reps) = pdu.get_bulk_fields().unwrap_or((0, 1));
                if let Fault::TooBigAbove(most) = self.fault
                    && reps > most
                {
                    return Reply::TooBig;
                }
                Reply::Bindings(self.bulk(&asked, reps))
            }
            _ => Reply::Bindings(Vec::new()),
        }
    }

    /// GETBULK with every binding a repeater, capped at [`MAX_BINDINGS`].
    fn bulk(&self, asked: &[&Oid], reps: u32) -> Vec<VarBind> {
        let mut cursors: Vec<Oid> = asked.iter().map(|o| (*o).clone()).collect();
        let mut out = Vec::new();
        for _ in 0..reps.max(1) {
            for c in &mut cursors {
                if out.len() >= MAX_BINDINGS {
                    return out;
                }
                let vb = self.next(c).unwrap_or_else(|| end_of_mib(c));
                c.clone_from(&vb.oid);
                out.push(vb);
            }
        }
        out
    }

    /// The binding after `oid`, as this device's fault makes it.
    fn next(&self, oid: &Oid) -> Option<VarBind> {
        if self.fault == Fault::Loop
            && let Some(first) = self.first_row_of_column(oid)
        {
            return Some(first);
        }
        let stored = self
            .mib
            .range((Bound::Excluded(oid.clone()), Bound::Unbounded))
            .next()
            .map(|(o, v)| VarBind {
                oid: o.clone(),
                value: v.clone(),
            });
        let made_up = match self.fault {
            Fault::Endless(rows) => endless_next(oid, rows),
            _ => None,
        };
        match (stored, made_up) {
            (Some(s), Some(m)) => Some(if m.oid < s.oid { m } else { s }),
            (s, m) => s.or(m),
        }
    }

    /// For an OID at or in a table row (`…entry.column.index`), the first
    /// row of its column.
    fn first_row_of_column(&self, oid: &Oid) -> Option<VarBind> {
        let arcs = oid.arcs();
        (arcs.len() > 10).then_some(())?;
        // The column is everything up to the index; try the usual depths.
        for depth in (9..arcs.len()).rev() {
            let column = Oid::from_slice(&arcs[..depth]);
            let first = self
                .mib
                .range((Bound::Excluded(column.clone()), Bound::Unbounded))
                .next()
                .filter(|(o, _)| o.starts_with(&column) && o.len() == depth + 1);
            if let Some((o, v)) = first {
                return Some(VarBind {
                    oid: o.clone(),
                    value: v.clone(),
                });
            }
        }
        None
    }
}

/// The made-up `ifInOctets` row after `oid`, up to `rows` rows.
fn endless_next(oid: &Oid, rows: u32) -> Option<VarBind> {
    let column = Oid::from_slice(IF_IN_OCTETS);
    let index = if oid.starts_with(&column) {
        match oid.arcs().get(IF_IN_OCTETS.len()) {
            Some(i) => i.checked_add(1)?,
            None => 1,
        }
    } else if *oid < column {
        1
    } else {
        return None;
    };
    (index <= rows).then(|| VarBind {
        oid: Oid::from_slice(&[IF_IN_OCTETS, &[index]].concat()),
        value: Value::Counter32(index),
    })
}

fn end_of_mib(oid: &Oid) -> VarBind {
    VarBind {
        oid: oid.clone(),
        value: Value::EndOfMibView,
    }
}

enum Reply {
    Bindings(Vec<VarBind>),
    TooBig,
    NoSuchName(u32),
}

/// OIDs and values of a small switch, to build a [`Mib`] from.
#[derive(Debug, Clone)]
pub struct Switch {
    /// `sysName`.
    pub name: String,
    /// Ports, `ifIndex` 1…ports.
    pub ports: u32,
    /// `sysUpTime`, ticks.
    pub uptime_ticks: u32,
}

impl Switch {
    /// The switch's MIB: the system group and `ifTable` with 32-bit
    /// counters (every port up, 1 Gb/s).
    pub fn mib(&self) -> Mib {
        let mut m = Mib::new();
        let mut put = |arcs: &[u32], v: Value| {
            m.insert(Oid::from_slice(arcs), v);
        };
        put(&[1, 3, 6, 1, 2, 1, 1, 1, 0], Value::from("Scripted switch"));
        put(
            &[1, 3, 6, 1, 2, 1, 1, 2, 0],
            Value::ObjectIdentifier(Oid::from_slice(&[1, 3, 6, 1, 4, 1, 8072, 3, 2, 10])),
        );
        put(
            &[1, 3, 6, 1, 2, 1, 1, 3, 0],
            Value::TimeTicks(self.uptime_ticks),
        );
        put(
            &[1, 3, 6, 1, 2, 1, 1, 5, 0],
            Value::from(self.name.as_str()),
        );
        for i in 1..=self.ports {
            let e = |col: u32| [&[1, 3, 6, 1, 2, 1, 2, 2, 1][..], &[col, i]].concat();
            put(&e(1), Value::Integer(i32::try_from(i).unwrap()));
            put(&e(2), Value::from(format!("port {i}").as_str()));
            put(&e(3), Value::Integer(6));
            put(&e(5), Value::Gauge32(1_000_000_000));
            put(&e(7), Value::Integer(1));
            put(&e(8), Value::Integer(1));
            put(&e(10), Value::Counter32(1_000 * i));
            put(&e(16), Value::Counter32(2_000 * i));
        }
        m
    }
}
