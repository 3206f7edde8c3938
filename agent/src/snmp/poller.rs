//! The poller: every device on its own interval, at most `concurrency` at
//! once, each poll turned into one [`DevicePoll`].
//!
//! The I/O half ([`Poller`]) sends the requests and hands what came back,
//! a [`RawPoll`], to the sans-I/O half ([`DeviceTracker`]), which keeps what
//! one poll needs from the previous ones (counters for rates, interface
//! names for labels, the last inventory sent) and decides what to send.
//!
//! Each poll GETs the system group (its time is `snmp.response_ms`) and
//! walks the interface counters; every `inventory_every` polls (and on the
//! first) it also walks the inventory tables, and the inventory is sent
//! when its stable form changed or `inventory_resend_every` polls passed.
//!
//! The LLDP and CDP neighbour tables are walked on the first poll, every
//! `neighbours_every` polls, and on any poll that finds an interface's
//! operational status changed since the previous one: links come and go
//! with their interfaces, so that is when neighbours change, and in between
//! a slow walk every few polls catches the rest (a neighbour replaced
//! behind a port that never went down) without walking large LLDP tables
//! at every counter poll. The list is sent on the first walk and then only
//! when it changed.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use async_snmp::{Value, VarBind};
use atalaya_common::model::rates::{DroppedRate, NoRate, interface_rates};
use atalaya_common::model::series::{self, interface_series, rate_points, tray_series};
use atalaya_common::model::{
    Credentials, DeviceInterface, DeviceInventory, DeviceSpec, DeviceState, InterfaceCounters,
    PaperTray, Timestamp,
};
use atalaya_common::proto;
use tokio::sync::{Semaphore, mpsc, watch};
use tokio::task::{AbortHandle, JoinSet};
use tokio::time::{Instant, MissedTickBehavior};

use self::interfaces::KnownInterfaces;
use super::client::{SharedTransport, SnmpClient, engine_answers};
use super::counters::Packed;
use super::neighbours::{NeighbourList, NeighbourTables};
use super::walk::{SnmpSource, WalkLimits, WalkState};
use super::{counters, inventory, neighbours, oids, state, trays};

/// Devices polled at once unless told otherwise.
pub const DEFAULT_CONCURRENCY: usize = 32;
/// IANA `ifType` of a software loopback, whose reported speed is a placeholder.
const SOFTWARE_LOOPBACK: u32 = 24;

/// How the poller works.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PollerConfig {
    /// Devices polled at once.
    pub concurrency: usize,
    /// The inventory tables are walked every this many polls of a device.
    pub inventory_every: u32,
    /// An unchanged inventory is sent again after this many polls.
    pub inventory_resend_every: u32,
    /// The neighbour tables are walked every this many polls of a device
    /// (and when an interface's status changed).
    pub neighbours_every: u32,
    /// Bounds on each table walk.
    pub limits: WalkLimits,
}

impl Default for PollerConfig {
    fn default() -> Self {
        PollerConfig {
            concurrency: DEFAULT_CONCURRENCY,
            inventory_every: 10,
            inventory_resend_every: 60,
            neighbours_every: 5,
            limits: WalkLimits::default(),
        }
    }
}

/// The outcome of one poll of one device: what the agent sends.
#[derive(Debug, Clone, PartialEq)]
pub struct DevicePoll {
    /// The device's name ([`DeviceSpec::name`]).
    pub device: String,
    /// When the poll ended.
    pub at: Timestamp,
    /// How it went.
    pub state: DeviceState,
    /// Milliseconds the first request took; `None` when it got no answer.
    pub response_ms: Option<u64>,
    /// The inventory, when it changed or is due again.
    pub inventory: Option<DeviceInventory>,
    /// The neighbours, on the first walk and when they changed.
    pub neighbours: Option<NeighbourList>,
    /// A printer's paper trays, on the first read and when they changed.
    pub trays: Option<Vec<PaperTray>>,
    /// Seconds the rates were computed over; `None` without rates.
    pub interval_seconds: Option<f64>,
    /// Series points: `snmp.reachable`, `snmp.response_ms`,
    /// `interface.oper_up{if=…}` and the interface rates.
    pub points: Vec<(String, f64)>,
    /// Interfaces with no rates this interval, and why.
    pub no_rate: Vec<(String, NoRate)>,
    /// Rates computed but not believed, by interface.
    pub dropped: Vec<(String, DroppedRate)>,
    /// What else went wrong, for the log (a table left empty…).
    pub problems: Vec<String>,
}

impl DevicePoll {
    /// The record sent to the collector, with sequence number `seq`. What
    /// is only for the log (`no_rate`, `dropped`, `problems`) stays here.
    pub fn record(&self, seq: u64) -> proto::DevicePoll {
        proto::DevicePoll {
            seq,
            device: self.device.clone(),
            polled_at: self.at,
            state: self.state,
            response_ms: self
                .response_ms
                .map(|ms| u32::try_from(ms).unwrap_or(u32::MAX)),
            inventory: self.inventory.clone(),
            values: self.points.clone(),
        }
    }

    /// The record of this poll's paper trays `trays` (its
    /// [`Self::trays`]), with sequence number `seq`.
    pub fn trays_record(&self, seq: u64, trays: &[PaperTray]) -> proto::PrinterTrays {
        proto::PrinterTrays {
            seq,
            device: self.device.clone(),
            polled_at: self.at,
            trays: trays.to_vec(),
        }
    }

    /// The record of this poll's neighbour list `list` (its
    /// [`Self::neighbours`]), with sequence number `seq`.
    pub fn neighbours_record(&self, seq: u64, list: &NeighbourList) -> proto::DeviceNeighbours {
        proto::DeviceNeighbours {
            seq,
            device: self.device.clone(),
            polled_at: self.at,
            chassis_id: list.chassis_id.clone(),
            neighbours: list.neighbours.clone(),
        }
    }
}

/// What the requests of one poll brought back.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RawPoll {
    /// How it went.
    pub state: DeviceState,
    /// Milliseconds the first request took; `None` when it got no answer.
    pub response_ms: Option<u64>,
    /// The inventory, when its tables were walked.
    pub inventory: Option<DeviceInventory>,
    /// Counters of each interface (empty when not read).
    pub counters: Vec<InterfaceCounters>,
    /// Whether each interface is up, by `ifIndex`.
    pub oper_up: BTreeMap<u32, bool>,
    /// The neighbour tables, when they were walked.
    pub neighbours: Option<NeighbourTables>,
    /// A printer's paper trays, when they were walked.
    pub trays: Option<Vec<PaperTray>>,
    /// What else went wrong.
    pub problems: Vec<String>,
}

/// What one device's polls remember between them (sans I/O).
#[derive(Debug, Default)]
pub struct DeviceTracker {
    walk: WalkState,
    /// The last counters read and when, sorted by `ifIndex`.
    previous: Option<(Instant, Vec<Packed>)>,
    /// The interfaces of the last inventory walked: names for labels,
    /// speeds for rates, and what maps neighbours' ports.
    interfaces: KnownInterfaces,
    /// Digest of the stable form of the last inventory sent: a poller of a
    /// thousand switches keeps 32 bytes per device instead of the whole
    /// inventory (tens of kilobytes) to tell whether it changed.
    sent: Option<[u8; 32]>,
    polls: u64,
    polls_since_sent: u32,
    last_state: DeviceState,
    /// Interface status at the previous poll, to walk neighbours on a change.
    last_oper: BTreeMap<u32, bool>,
    /// The last neighbour list sent; `None` until the first walk.
    neighbours_sent: Option<NeighbourList>,
    /// Whether the last inventory read had marker supplies: a printer,
    /// whose paper trays are read on every poll.
    printer: bool,
    /// The last paper trays sent; `None` until the first read.
    trays_sent: Option<Vec<PaperTray>>,
}

impl DeviceTracker {
    /// True when this poll should walk the inventory tables.
    pub fn inventory_due(&self, config: &PollerConfig) -> bool {
        self.interfaces.is_empty()
            || self
                .polls
                .is_multiple_of(u64::from(config.inventory_every.max(1)))
    }

    /// True when this poll, whose interfaces' status is `oper_up`, should
    /// walk the neighbour tables: on the first poll (until a walk
    /// succeeds), every `neighbours_every` polls, and when an interface's
    /// status changed since the previous poll.
    pub fn neighbours_due(&self, config: &PollerConfig, oper_up: &BTreeMap<u32, bool>) -> bool {
        let (inventory, neighbours) = self.due(config);
        Plan {
            inventory,
            neighbours,
            printer: self.printer,
            last_oper: &self.last_oper,
        }
        .neighbours_due(oper_up)
    }

    /// Whether this poll walks the inventory, and the neighbours whatever
    /// the interfaces' status.
    fn due(&self, config: &PollerConfig) -> (bool, bool) {
        let neighbours = self.neighbours_sent.is_none()
            || self
                .polls
                .is_multiple_of(u64::from(config.neighbours_every.max(1)));
        (self.inventory_due(config), neighbours)
    }

    /// The state of the last poll.
    pub fn last_state(&self) -> DeviceState {
        self.last_state
    }

    /// Turns what a poll brought back at `now` into what is sent.
    pub fn record(
        &mut self,
        device: &str,
        now: Instant,
        raw: RawPoll,
        config: &PollerConfig,
    ) -> DevicePoll {
        self.polls += 1;
        self.last_state = raw.state;
        if let Some(inv) = &raw.inventory {
            self.printer = !inv.supplies.is_empty();
        }
        let inventory = raw
            .inventory
            .and_then(|inv| self.inventory_to_send(inv, config));
        let neighbours = raw
            .neighbours
            .and_then(|tables| self.neighbours_to_send(&tables));
        if !raw.oper_up.is_empty() {
            self.last_oper.clone_from(&raw.oper_up);
        }
        let mut out = DevicePoll {
            device: device.to_owned(),
            at: Timestamp::now(),
            state: raw.state,
            response_ms: raw.response_ms,
            inventory,
            neighbours,
            points: self.health_points(raw.response_ms, &raw.oper_up, raw.trays.as_deref()),
            trays: raw.trays.and_then(|t| self.trays_to_send(t)),
            interval_seconds: None,
            no_rate: Vec::new(),
            dropped: Vec::new(),
            problems: raw.problems,
        };
        if !raw.counters.is_empty() {
            self.rates(now, raw.counters, &mut out);
        }
        out
    }

    /// Keeps the interface names and speeds; returns the inventory if it is to be sent.
    fn inventory_to_send(
        &mut self,
        inv: DeviceInventory,
        config: &PollerConfig,
    ) -> Option<DeviceInventory> {
        self.interfaces = KnownInterfaces::new(&inv.interfaces, rated_speed);
        self.polls_since_sent += 1;
        let digest = stable_digest(&inv);
        let changed = self.sent != Some(digest);
        if !changed && self.polls_since_sent < config.inventory_resend_every {
            return None;
        }
        self.sent = Some(digest);
        self.polls_since_sent = 0;
        Some(inv)
    }

    /// The neighbour list of `tables`, if it is the first or differs from
    /// the last one sent.
    fn neighbours_to_send(&mut self, tables: &NeighbourTables) -> Option<NeighbourList> {
        let list = tables.neighbours(&self.interfaces.for_neighbours());
        if self.neighbours_sent.as_ref() == Some(&list) {
            return None;
        }
        self.neighbours_sent = Some(list.clone());
        Some(list)
    }

    /// The trays read, if they are the first or differ from the last ones
    /// sent (their levels go out every poll as series regardless).
    fn trays_to_send(&mut self, trays: Vec<PaperTray>) -> Option<Vec<PaperTray>> {
        if self.trays_sent.as_ref() == Some(&trays) {
            return None;
        }
        self.trays_sent = Some(trays.clone());
        Some(trays)
    }

    fn name_of(&self, if_index: u32) -> String {
        self.interfaces
            .name(if_index)
            .map_or_else(|| if_index.to_string(), str::to_owned)
    }

    fn health_points(
        &self,
        response_ms: Option<u64>,
        oper_up: &BTreeMap<u32, bool>,
        trays: Option<&[PaperTray]>,
    ) -> Vec<(String, f64)> {
        let mut points = vec![(
            series::SNMP_REACHABLE.to_owned(),
            if response_ms.is_some() { 1.0 } else { 0.0 },
        )];
        if let Some(ms) = response_ms {
            points.push((series::SNMP_RESPONSE_MS.to_owned(), ms as f64));
        }
        for (i, up) in oper_up {
            let name = interface_series(series::OPER_UP, &self.name_of(*i));
            points.push((name, if *up { 1.0 } else { 0.0 }));
        }
        for t in trays.unwrap_or_default() {
            if let Some(p) = t.percent {
                points.push((tray_series(&t.label()), f64::from(p)));
            }
        }
        points
    }

    /// Rates against the previous counters, which these then replace.
    fn rates(&mut self, now: Instant, mut counters: Vec<InterfaceCounters>, out: &mut DevicePoll) {
        counters.sort_by_key(|c| c.if_index);
        counters.dedup_by_key(|c| c.if_index);
        if let Some((then, previous)) = &self.previous {
            let elapsed = now.saturating_duration_since(*then).as_secs_f64();
            out.interval_seconds = Some(elapsed);
            for cur in &counters {
                let i = cur.if_index;
                let Ok(at) = previous.binary_search_by_key(&i, Packed::if_index) else {
                    continue;
                };
                let prev = previous[at].unpack();
                let name = self.name_of(i);
                let speed = self.interfaces.rated_speed(i);
                match interface_rates(&prev, cur, elapsed, speed) {
                    Ok(r) => {
                        out.points.extend(rate_points(&name, &r));
                        out.dropped
                            .extend(r.dropped.iter().map(|d| (name.clone(), *d)));
                    }
                    Err(why) => out.no_rate.push((name, why)),
                }
            }
        }
        // Refilled in place rather than collected: collecting `counters`
        // would reuse its allocation, sized for 208-byte rows, under the
        // 120-byte ones (and keep it until the next poll), and a new Vec
        // each poll moves every device's long-lived counters about the heap.
        let (then, kept) = self.previous.get_or_insert_with(|| (now, Vec::new()));
        *then = now;
        kept.clear();
        kept.extend(counters.into_iter().map(Packed::pack));
        kept.shrink_to_fit();
    }
}

/// SHA-256 of the JSON of `inv`'s stable form: equal for two polls of an
/// unchanged device (the inventory is canonical, JSON of it deterministic).
fn stable_digest(inv: &DeviceInventory) -> [u8; 32] {
    use sha2::Digest;
    // Serializing plain data into a Vec cannot fail; were it to, the
    // empty input only makes the inventory look changed once.
    let json = serde_json::to_vec(&inv.stable()).unwrap_or_default();
    sha2::Sha256::digest(&json).into()
}

/// The speed rates are checked against: none for a software loopback,
/// whose `ifSpeed` (10 Mb/s on Linux) is a placeholder, not a limit.
fn rated_speed(i: &DeviceInterface) -> Option<u64> {
    (i.if_type != SOFTWARE_LOOPBACK)
        .then_some(i.speed_bps)
        .flatten()
}

/// Why the poller could not start.
#[derive(Debug, thiserror::Error)]
pub enum PollerError {
    /// The shared UDP socket could not be bound.
    #[error("binding the SNMP socket: {0}")]
    Bind(#[source] Box<async_snmp::Error>),
}

/// One device: its configuration, client and tracker.
#[derive(Debug)]
struct Device {
    spec: DeviceSpec,
    client: Option<SnmpClient>,
    tracker: DeviceTracker,
}

/// Polls a set of devices.
#[derive(Debug)]
pub struct Poller {
    config: PollerConfig,
    shared: SharedTransport,
    devices: Vec<Device>,
}

impl Poller {
    /// A poller of `devices`, with its socket bound.
    pub async fn new(devices: Vec<DeviceSpec>, config: PollerConfig) -> Result<Self, PollerError> {
        let shared = SharedTransport::bind().await.map_err(PollerError::Bind)?;
        let devices = devices.into_iter().map(Device::new).collect();
        Ok(Poller {
            config,
            shared,
            devices,
        })
    }

    /// Polls every device once, now, and returns the polls in device order.
    pub async fn poll_all(&mut self) -> Vec<DevicePoll> {
        let sem = Arc::new(Semaphore::new(self.config.concurrency.max(1)));
        let mut set = JoinSet::new();
        for (i, mut dev) in std::mem::take(&mut self.devices).into_iter().enumerate() {
            let (sem, shared, config) = (sem.clone(), self.shared.clone(), self.config);
            set.spawn(async move {
                let _permit = sem.acquire_owned().await;
                let poll = dev.poll(&shared, &config).await;
                (i, dev, poll)
            });
        }
        let mut done: Vec<(usize, Device, DevicePoll)> = set.join_all().await;
        done.sort_by_key(|(i, _, _)| *i);
        let mut polls = Vec::with_capacity(done.len());
        for (_, dev, poll) in done {
            self.devices.push(dev);
            polls.push(poll);
        }
        polls
    }

    /// Polls each device on its own interval (spread over the interval so
    /// devices with the same one do not all start together) and sends each
    /// poll to `out`; returns when `out` is closed.
    ///
    /// A new list on `updates` is taken in place: removed devices stop,
    /// added ones start, and a device whose spec is unchanged goes on with
    /// its schedule and tracker, so its next poll still has rates. A device
    /// whose spec changed starts afresh.
    pub async fn run(
        self,
        out: mpsc::Sender<DevicePoll>,
        mut updates: watch::Receiver<Vec<DeviceSpec>>,
    ) {
        let sem = Arc::new(Semaphore::new(self.config.concurrency.max(1)));
        let ctx = (sem, self.shared, self.config, out.clone());
        let mut set = JoinSet::new();
        let mut running: BTreeMap<String, (DeviceSpec, AbortHandle)> = BTreeMap::new();
        start_devices(&mut set, &mut running, self.devices, &ctx);
        let mut watching = true;
        loop {
            tokio::select! {
                changed = updates.changed(), if watching => {
                    if changed.is_err() {
                        watching = false;
                        continue;
                    }
                    let list = updates.borrow_and_update().clone();
                    let fresh = retain_unchanged(&mut running, list);
                    let devices = fresh.into_iter().map(Device::new).collect();
                    start_devices(&mut set, &mut running, devices, &ctx);
                }
                () = out.closed() => break,
                Some(_) = set.join_next() => {}
            }
        }
        set.shutdown().await;
    }
}

/// Stops the running devices that `list` drops or changes; returns the
/// specs of `list` to start (new or changed).
fn retain_unchanged(
    running: &mut BTreeMap<String, (DeviceSpec, AbortHandle)>,
    list: Vec<DeviceSpec>,
) -> Vec<DeviceSpec> {
    let wanted: BTreeMap<String, DeviceSpec> =
        list.into_iter().map(|d| (d.name.clone(), d)).collect();
    running.retain(|name, (spec, task)| {
        let keep = wanted.get(name) == Some(spec);
        if !keep {
            task.abort();
        }
        keep
    });
    wanted
        .into_values()
        .filter(|d| !running.contains_key(&d.name))
        .collect()
}

/// Starts `devices`, each on its interval, spread over it.
fn start_devices(
    set: &mut JoinSet<()>,
    running: &mut BTreeMap<String, (DeviceSpec, AbortHandle)>,
    devices: Vec<Device>,
    ctx: &RunContext,
) {
    let count = u32::try_from(devices.len()).unwrap_or(u32::MAX).max(1);
    let start = Instant::now();
    for (i, dev) in devices.into_iter().enumerate() {
        let period = Duration::from_secs(u64::from(dev.spec.poll_interval_seconds.max(1)));
        let offset = period * u32::try_from(i).unwrap_or(0) / count;
        let spec = dev.spec.clone();
        let task = set.spawn(dev.run(start + offset, period, ctx.clone()));
        if let Some((_, old)) = running.insert(spec.name.clone(), (spec, task)) {
            // Two devices of one name: the later one is polled.
            old.abort();
        }
    }
}

type RunContext = (
    Arc<Semaphore>,
    SharedTransport,
    PollerConfig,
    mpsc::Sender<DevicePoll>,
);

impl Device {
    fn new(spec: DeviceSpec) -> Self {
        Device {
            spec,
            client: None,
            tracker: DeviceTracker::default(),
        }
    }

    async fn run(mut self, first: Instant, period: Duration, ctx: RunContext) {
        let (sem, shared, config, out) = ctx;
        let mut ticks = tokio::time::interval_at(first, period);
        ticks.set_missed_tick_behavior(MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = ticks.tick() => {}
                () = out.closed() => return,
            }
            let Ok(_permit) = sem.acquire().await else {
                return;
            };
            // Boxed once the permit is held: the state of a poll (its
            // requests' nested futures, several KiB, then the poll on its
            // way out) takes room only for the polls under way, not in
            // every device's task between polls.
            if !Box::pin(self.poll_and_send(&shared, &config, &out)).await {
                return;
            }
        }
    }

    /// Polls and hands the poll to `out`; false when `out` is closed.
    async fn poll_and_send(
        &mut self,
        shared: &SharedTransport,
        config: &PollerConfig,
        out: &mpsc::Sender<DevicePoll>,
    ) -> bool {
        let poll = self.poll(shared, config).await;
        out.send(poll).await.is_ok()
    }

    async fn poll(&mut self, shared: &SharedTransport, config: &PollerConfig) -> DevicePoll {
        let raw = self.request(shared, config).await;
        self.tracker
            .record(&self.spec.name, Instant::now(), raw, config)
    }

    /// The requests of one poll.
    async fn request(&mut self, shared: &SharedTransport, config: &PollerConfig) -> RawPoll {
        if self.client.is_none() {
            match SnmpClient::build(&self.spec, shared).await {
                Ok(c) => self.client = Some(c),
                Err(e) => return failed(state::of_client(&e), e.to_string()),
            }
        }
        let Some(client) = self.client.as_ref() else {
            return RawPoll::default();
        };
        if state::needs_rediscovery(self.tracker.last_state()) {
            // Failing here shows in the poll's own first request.
            let _ = client.rediscover().await;
        }
        let probe = self.probe_wanted();
        let timeout = Duration::from_millis(u64::from(self.spec.timeout_ms));
        let started = Instant::now();
        let system_oids = inventory::system_oids();
        let (system, engine_up) = tokio::join!(client.get(&system_oids), async {
            probe && engine_answers(client.peer(), timeout, shared).await
        });
        let system = match system {
            Ok(s) => s,
            Err(e) => {
                let mut st = state::of_request(&e);
                if st == DeviceState::Timeout && engine_up {
                    st = DeviceState::WrongCommunity;
                }
                return failed(st, e.to_string());
            }
        };
        let response_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
        let (inventory, neighbours) = self.tracker.due(config);
        let tracker = &mut self.tracker;
        let plan = Plan {
            inventory,
            neighbours,
            printer: tracker.printer,
            last_oper: &tracker.last_oper,
        };
        let mut raw = poll_tables(client, &mut tracker.walk, config.limits, system, plan).await;
        raw.response_ms = Some(response_ms);
        raw
    }

    /// A v1/v2c device that was not answering gets an SNMPv3 probe beside
    /// its first request, to tell a wrong community from a dead device
    /// without making a timeout take longer.
    fn probe_wanted(&self) -> bool {
        !matches!(self.spec.credentials, Credentials::V3 { .. })
            && self.tracker.last_state() != DeviceState::Ok
    }
}

fn failed(state: DeviceState, problem: String) -> RawPoll {
    RawPoll {
        state,
        problems: vec![problem],
        ..RawPoll::default()
    }
}

/// What a poll walks besides the counters.
#[derive(Debug, Clone, Copy)]
struct Plan<'a> {
    /// The inventory tables.
    inventory: bool,
    /// The neighbour tables, whatever the interfaces' status.
    neighbours: bool,
    /// Whether the device was a printer at its last inventory.
    printer: bool,
    /// Interface status at the previous poll.
    last_oper: &'a BTreeMap<u32, bool>,
}

impl Plan<'_> {
    /// Whether the neighbour tables are walked, once this poll's interface
    /// status is known.
    fn neighbours_due(&self, oper_up: &BTreeMap<u32, bool>) -> bool {
        self.neighbours || (!self.last_oper.is_empty() && oper_up != self.last_oper)
    }
}

/// The walks after the system group answered: counters, then the inventory
/// and the neighbours if due.
async fn poll_tables<S: SnmpSource>(
    source: &S,
    walk: &mut WalkState,
    limits: WalkLimits,
    system: Vec<VarBind>,
    plan: Plan<'_>,
) -> RawPoll {
    let mut raw = RawPoll {
        state: DeviceState::Ok,
        ..RawPoll::default()
    };
    match counters::walk(source, walk, limits).await {
        Ok(rows) => (raw.counters, raw.oper_up) = rows.finish(uptime_ticks(&system)),
        Err(e) => {
            raw.state = state::of_walk(&e);
            raw.problems.push(e.to_string());
            return raw;
        }
    }
    if plan.inventory {
        inventory_into(source, walk, limits, &system, &mut raw).await;
    }
    // Marker supplies say the device has the Printer-MIB; other devices
    // are not asked for trays. A printer's are read on every poll (one
    // small walk) so that an empty tray shows within a poll.
    let printer = raw
        .inventory
        .as_ref()
        .map_or(plan.printer, |inv| !inv.supplies.is_empty());
    if printer {
        match trays::walk(source, walk, limits).await {
            Ok(t) if !t.is_empty() => raw.trays = Some(t),
            Ok(_) => {}
            Err(e) => raw.problems.push(format!("trays not read: {e}")),
        }
    }
    if plan.neighbours_due(&raw.oper_up) {
        // The neighbour tables are optional: a failure leaves this poll's
        // state alone and the next walk tries again.
        match neighbours::walk(source, walk, limits).await {
            Ok(tables) => raw.neighbours = Some(tables),
            Err(e) => raw.problems.push(format!("neighbours not read: {e}")),
        }
    }
    raw
}

async fn inventory_into<S: SnmpSource>(
    source: &S,
    walk: &mut WalkState,
    limits: WalkLimits,
    system: &[VarBind],
    raw: &mut RawPoll,
) {
    match inventory::walk(source, walk, limits, system).await {
        Ok((inventory, failed)) => {
            raw.inventory = Some(inventory);
            if let Some((_, e)) = failed.first() {
                raw.state = state::of_walk(e);
            }
            raw.problems
                .extend(failed.iter().map(|(t, e)| format!("{t} left empty: {e}")));
        }
        Err(e) => {
            raw.state = state::of_walk(&e);
            raw.problems.push(e.to_string());
        }
    }
}

/// `sysUpTime` from the system group's bindings.
fn uptime_ticks(system: &[VarBind]) -> Option<u32> {
    system.iter().find_map(|vb| match vb.value {
        Value::TimeTicks(t) if vb.oid.arcs() == oids::SYS_UP_TIME => Some(t),
        _ => None,
    })
}

mod interfaces;
#[cfg(test)]
mod tests;
