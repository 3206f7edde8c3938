//! The poller role: keeps the device list the collector assigns (on disk,
//! so polling goes on across restarts while the collector is away), runs
//! one [`Poller`] over it, and spools each poll as a record (and, when
//! they are to be sent, the device's neighbours as a second one).
//!
//! A new list is handed to the running poller, which keeps polling the
//! devices it already had (with their counters, so their rates go on) and
//! starts or stops the others; the same list again changes nothing. The
//! list carries credentials: only device names and counts are logged.
//!
//! With `[snmp] trap_listen` set, a [`TrapListener`] takes traps from the
//! same devices (each list also replaces the table it checks against), and
//! a task spools what it accepts as `DeviceTrap` records, with its drop
//! counters; the interface names of link traps come from the polls'
//! inventories as they are spooled.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use atalaya_common::model::DeviceSpec;
use atalaya_common::model::device::trap::TrapEvent;
use atalaya_common::proto::{DeviceTrap, Message};
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;

use crate::config::SnmpConfig;
use crate::error::describe;
use crate::outbox::OutboxError;
use crate::snmp::trap::{DeviceTable, InterfaceNames, TrapCounters, TrapListener, build_table};
use crate::snmp::{self, Poller, PollerConfig, assignment};
use crate::uplink::Shared;

/// Polls waiting to be spooled, at most.
const POLL_QUEUE: usize = 64;
/// Accepted traps waiting to be spooled, at most; past it the listener
/// drops (and counts) rather than wait.
const TRAP_QUEUE: usize = 1024;
/// How often the drop counters are sent when they changed and no trap carried them.
const COUNTERS_EVERY: Duration = Duration::from_secs(15);

/// What an assignment did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Assigned {
    /// Polling started on this many devices.
    Started(usize),
    /// The running poller now polls this many devices.
    Updated(usize),
    /// The list is empty: polling stopped.
    Stopped,
    /// The list is the one being polled: nothing changed.
    Unchanged,
    /// `[snmp] enabled = false`: the list was ignored.
    Refused,
    /// The poller could not start (logged); the next list tries again.
    Failed,
}

/// A poller at work and the polls it hands over.
#[derive(Debug)]
struct Running {
    task: JoinHandle<()>,
    polls: mpsc::Receiver<snmp::DevicePoll>,
    updates: watch::Sender<Vec<DeviceSpec>>,
}

/// The assigned devices and the poller over them.
#[derive(Debug)]
pub struct DevicePolling {
    state_dir: PathBuf,
    settings: SnmpConfig,
    shared: Arc<Shared>,
    devices: Vec<DeviceSpec>,
    running: Option<Running>,
    warned_disabled: bool,
    traps: Option<Traps>,
}

/// The trap listener's side of the assigned devices.
#[derive(Debug)]
struct Traps {
    /// The devices it takes traps from.
    table: watch::Sender<Arc<DeviceTable>>,
    /// Interface names from the polls' inventories.
    names: InterfaceNames,
    /// Building the table of the latest list (resolving, deriving keys).
    building: Option<JoinHandle<()>>,
    /// The listener and the task spooling what it accepts.
    tasks: [JoinHandle<()>; 2],
}

impl Drop for Traps {
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
        if let Some(b) = &self.building {
            b.abort();
        }
    }
}

impl DevicePolling {
    /// Starts polling the devices kept in `state_dir`, if any. A damaged
    /// list is logged and the agent goes on without devices until the
    /// collector sends a new one.
    pub async fn start(state_dir: &Path, settings: SnmpConfig, shared: Arc<Shared>) -> Self {
        let mut this = DevicePolling {
            state_dir: state_dir.to_owned(),
            settings,
            shared,
            devices: Vec::new(),
            running: None,
            warned_disabled: false,
            traps: None,
        };
        if !settings.enabled {
            return this;
        }
        if let Some(addr) = settings.trap_listen {
            this.traps = start_traps(addr, &this.shared).await;
        }
        match assignment::load(state_dir) {
            Ok(devices) if devices.is_empty() => {}
            Ok(devices) => {
                tracing::info!(
                    count = devices.len(),
                    "polling the devices assigned before this start"
                );
                this.replace(devices).await;
            }
            Err(err) => {
                tracing::error!(error = %describe(&err), "starting without devices to poll");
            }
        }
        this
    }

    /// The devices being polled.
    pub fn devices(&self) -> &[DeviceSpec] {
        &self.devices
    }

    /// Whether a poller is at work.
    pub fn is_polling(&self) -> bool {
        self.running.is_some()
    }

    /// Takes `devices` as the whole list to poll: kept on disk, then polled.
    pub async fn assign(&mut self, devices: Vec<DeviceSpec>) -> Assigned {
        if !self.settings.enabled {
            if !self.warned_disabled {
                tracing::warn!(
                    count = devices.len(),
                    "the collector assigns devices to poll, but [snmp] enabled = false here; ignoring its device lists"
                );
                self.warned_disabled = true;
            }
            return Assigned::Refused;
        }
        if devices == self.devices && (self.running.is_some() || devices.is_empty()) {
            return Assigned::Unchanged;
        }
        if let Err(err) = assignment::save(&self.state_dir, &devices) {
            // Polling the new list matters more; a restart would poll the old one.
            tracing::error!(error = %describe(&err), "cannot keep the device list on disk");
        }
        match &self.running {
            Some(running) if !devices.is_empty() => {
                running.updates.send_replace(devices.clone());
                self.devices = devices;
                self.refresh_traps();
                let count = self.devices.len();
                tracing::info!(
                    count,
                    devices = %assignment::names(&self.devices),
                    "polling devices"
                );
                Assigned::Updated(count)
            }
            _ => self.replace(devices).await,
        }
    }

    /// Stops the current poller and starts one over `devices`.
    async fn replace(&mut self, devices: Vec<DeviceSpec>) -> Assigned {
        self.stop().await;
        self.devices = devices;
        self.refresh_traps();
        if self.devices.is_empty() {
            tracing::info!("no devices assigned: device polling stopped");
            return Assigned::Stopped;
        }
        let config = PollerConfig {
            concurrency: self.settings.concurrency,
            ..PollerConfig::default()
        };
        let poller = match Poller::new(self.devices.clone(), config).await {
            Ok(poller) => poller,
            Err(err) => {
                tracing::error!(error = %describe(&err), "cannot start polling devices");
                return Assigned::Failed;
            }
        };
        let (sender, polls) = mpsc::channel(POLL_QUEUE);
        let (updates, watched) = watch::channel(self.devices.clone());
        let task = tokio::spawn(poller.run(sender, watched));
        self.running = Some(Running {
            task,
            polls,
            updates,
        });
        let count = self.devices.len();
        tracing::info!(
            count,
            devices = %assignment::names(&self.devices),
            "polling devices"
        );
        Assigned::Started(count)
    }

    /// Has the trap listener take traps from the devices now assigned (and
    /// forget the interface names of the others).
    fn refresh_traps(&mut self) {
        let Some(traps) = &mut self.traps else {
            return;
        };
        if let Some(previous) = traps.building.take() {
            previous.abort();
        }
        if let Ok(mut names) = traps.names.write() {
            names.retain(|device, _| self.devices.iter().any(|d| &d.name == device));
        }
        let (list, table) = (self.devices.clone(), traps.table.clone());
        traps.building = Some(tokio::spawn(async move {
            let built = build_table(&list).await;
            tracing::debug!(
                devices = built.len(),
                "taking traps from the assigned devices"
            );
            table.send_replace(Arc::new(built));
        }));
    }

    /// Stops the poller, spooling the polls it already made.
    async fn stop(&mut self) {
        let Some(mut running) = self.running.take() else {
            return;
        };
        running.polls.close();
        while let Some(poll) = running.polls.recv().await {
            self.spool(&poll);
        }
        // Polls under way are abandoned: the next poller starts afresh.
        running.task.abort();
        if let Err(err) = running.task.await
            && err.is_panic()
        {
            tracing::error!(error = %err, "the device poller failed");
        }
    }

    /// Waits for the next poll and spools it; returns its sequence number.
    /// Waits for ever while nothing is polled.
    pub async fn spool_next(&mut self) -> Result<u64, OutboxError> {
        loop {
            let Some(running) = &mut self.running else {
                return std::future::pending().await;
            };
            match running.polls.recv().await {
                Some(poll) => return self.try_spool(&poll),
                None => {
                    tracing::error!("the device poller stopped");
                    self.stop().await;
                }
            }
        }
    }

    fn spool(&self, poll: &snmp::DevicePoll) {
        if let Err(err) = self.try_spool(poll) {
            tracing::error!(device = %poll.device, error = %describe(&err), "dropping a device poll");
        }
    }

    fn try_spool(&self, poll: &snmp::DevicePoll) -> Result<u64, OutboxError> {
        if let (Some(traps), Some(inventory)) = (&self.traps, &poll.inventory) {
            let names = inventory
                .interfaces
                .iter()
                .map(|i| (i.if_index, i.name.clone()))
                .collect();
            if let Ok(mut all) = traps.names.write() {
                all.insert(poll.device.clone(), names);
            }
        }
        tracing::debug!(
            device = %poll.device,
            state = ?poll.state,
            problems = ?poll.problems,
            no_rate = ?poll.no_rate,
            dropped = ?poll.dropped,
            "device polled"
        );
        let seq = self
            .shared
            .send(|seq| Message::DevicePoll(poll.record(seq)))?;
        if let Some(list) = &poll.neighbours {
            self.shared
                .send(|seq| Message::DeviceNeighbours(poll.neighbours_record(seq, list)))?;
        }
        if let Some(trays) = &poll.trays {
            self.shared
                .send(|seq| Message::PrinterTrays(poll.trays_record(seq, trays)))?;
        }
        Ok(seq)
    }

    /// Polls and follows the collector's assignments until they end.
    pub async fn run(mut self, mut assignments: watch::Receiver<Option<Vec<DeviceSpec>>>) {
        while self.step(&mut assignments).await != Step::Closed {}
    }

    /// Waits for the next assignment or poll, and takes it.
    pub async fn step(
        &mut self,
        assignments: &mut watch::Receiver<Option<Vec<DeviceSpec>>>,
    ) -> Step {
        tokio::select! {
            changed = assignments.changed() => {
                if changed.is_err() {
                    self.stop().await;
                    return Step::Closed;
                }
                let devices = assignments.borrow_and_update().clone();
                match devices {
                    Some(devices) => Step::Assigned(self.assign(devices).await),
                    None => Step::Assigned(Assigned::Unchanged),
                }
            }
            spooled = self.spool_next() => match spooled {
                Ok(seq) => Step::Spooled(seq),
                Err(err) => {
                    tracing::error!(error = %describe(&err), "dropping a device poll");
                    Step::Dropped
                }
            },
        }
    }
}

/// Binds the trap listener on `addr` and starts it with the task that
/// spools what it accepts; `None` (logged) when the address cannot be bound.
async fn start_traps(addr: std::net::SocketAddr, shared: &Arc<Shared>) -> Option<Traps> {
    let (table, table_rx) = watch::channel(Arc::new(DeviceTable::default()));
    let names = InterfaceNames::default();
    let counters = Arc::new(TrapCounters::default());
    let (sender, events) = mpsc::channel(TRAP_QUEUE);
    let listener = match TrapListener::bind(addr, table_rx, names.clone(), sender, counters.clone())
        .await
    {
        Ok(l) => l,
        Err(err) => {
            tracing::error!(address = %addr, error = %err, "cannot listen for SNMP traps; going on without");
            return None;
        }
    };
    tracing::info!(address = %listener.local_addr().unwrap_or(addr), "listening for SNMP traps");
    let listening = tokio::spawn(listener.run());
    let spooling = tokio::spawn(spool_traps(events, counters, shared.clone()));
    Some(Traps {
        table,
        names,
        building: None,
        tasks: [listening, spooling],
    })
}

/// Spools each accepted trap with the drop counters, and the counters on
/// their own when they changed and no trap carried them for a while.
async fn spool_traps(
    mut events: mpsc::Receiver<TrapEvent>,
    counters: Arc<TrapCounters>,
    shared: Arc<Shared>,
) {
    let mut sent = counters.totals();
    let mut tick = tokio::time::interval(COUNTERS_EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        let trap = tokio::select! {
            event = events.recv() => match event {
                Some(e) => Some(e),
                None => return,
            },
            _ = tick.tick() => None,
        };
        let dropped = counters.totals();
        if trap.is_none() && dropped == sent {
            continue;
        }
        let device = trap.as_ref().map(|t| t.device.clone());
        tracing::debug!(device = ?device, kind = ?trap.as_ref().map(|t| t.kind), "trap spooled");
        let spooled = shared.send(|seq| {
            Message::DeviceTrap(DeviceTrap {
                seq,
                trap,
                dropped: dropped.clone(),
            })
        });
        match spooled {
            Ok(_) => sent = dropped,
            Err(err) => {
                tracing::error!(device = ?device, error = %describe(&err), "dropping an SNMP trap");
            }
        }
    }
}

/// What one [`DevicePolling::step`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// A device list came.
    Assigned(Assigned),
    /// A poll was spooled with this sequence number.
    Spooled(u64),
    /// A poll could not be spooled (logged).
    Dropped,
    /// No more lists can come: polling stopped.
    Closed,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::daemon::test_shared;
    use atalaya_common::model::DeviceState;

    fn enabled() -> SnmpConfig {
        SnmpConfig {
            enabled: true,
            concurrency: 4,
            trap_listen: None,
        }
    }

    #[tokio::test]
    async fn a_corrupt_device_list_leaves_the_agent_without_devices() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(assignment::path(dir.path()), b"not json").unwrap();
        let polling = DevicePolling::start(dir.path(), enabled(), test_shared()).await;
        assert!(polling.devices().is_empty());
        assert!(!polling.is_polling());
    }

    #[tokio::test]
    async fn a_disabled_poller_refuses_assignments_and_keeps_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let settings = SnmpConfig {
            enabled: false,
            ..enabled()
        };
        let mut polling = DevicePolling::start(dir.path(), settings, test_shared()).await;
        let list = vec![DeviceSpec::v2c("core-sw", "127.0.0.1", "public")];
        assert_eq!(polling.assign(list.clone()).await, Assigned::Refused);
        assert_eq!(polling.assign(list).await, Assigned::Refused);
        assert!(!polling.is_polling());
        assert!(!assignment::path(dir.path()).exists());
    }

    #[tokio::test]
    async fn the_same_list_again_keeps_the_poller() {
        let dir = tempfile::tempdir().unwrap();
        let mut polling = DevicePolling::start(dir.path(), enabled(), test_shared()).await;
        let list = vec![DeviceSpec::v2c("core-sw", "192.0.2.1", "public")];
        assert_eq!(polling.assign(list.clone()).await, Assigned::Started(1));
        let task = polling.running.as_ref().map(|r| r.task.id());
        assert_eq!(polling.assign(list.clone()).await, Assigned::Unchanged);
        assert_eq!(polling.running.as_ref().map(|r| r.task.id()), task);
        // Another list goes to the running poller.
        let mut other = list.clone();
        other[0].port = 1161;
        assert_eq!(polling.assign(other.clone()).await, Assigned::Updated(1));
        assert_eq!(polling.running.as_ref().map(|r| r.task.id()), task);
        // An empty list stops it; the next one starts a new one.
        assert_eq!(polling.assign(Vec::new()).await, Assigned::Stopped);
        assert_eq!(polling.assign(list.clone()).await, Assigned::Started(1));
        assert_ne!(polling.running.as_ref().map(|r| r.task.id()), task);
        // A restart polls the kept list at once.
        drop(polling);
        let again = DevicePolling::start(dir.path(), enabled(), test_shared()).await;
        assert_eq!(again.devices(), list);
        assert!(again.is_polling());
    }

    /// The next device poll spooled by `polling` for `device`.
    async fn next_poll_of(
        polling: &mut DevicePolling,
        assignments: &mut watch::Receiver<Option<Vec<DeviceSpec>>>,
        device: &str,
    ) -> atalaya_common::proto::DevicePoll {
        loop {
            let Step::Spooled(seq) = polling.step(assignments).await else {
                continue;
            };
            let pending = polling.shared.outbox().next_after(seq - 1).unwrap();
            let (message, _) = atalaya_common::proto::decode(&pending.frame)
                .unwrap()
                .unwrap();
            match message {
                Message::DevicePoll(p) if p.device == device => return p,
                _ => {}
            }
        }
    }

    #[tokio::test]
    async fn a_device_added_leaves_the_others_rates_going() {
        use crate::snmp::testdevice::{COMMUNITY, TestDevice};
        let sim = TestDevice::start([127, 0, 0, 1].into(), 0, "core-sw")
            .await
            .unwrap();
        let dir = tempfile::tempdir().unwrap();
        let shared = test_shared();
        let mut polling = DevicePolling::start(dir.path(), enabled(), shared.clone()).await;
        let (_sender, mut assignments) = watch::channel(None);
        let mut core = DeviceSpec::v2c("core-sw", "127.0.0.1", COMMUNITY);
        core.port = sim.addr.port();
        core.poll_interval_seconds = 1;
        assert_eq!(
            polling.assign(vec![core.clone()]).await,
            Assigned::Started(1)
        );
        let first = next_poll_of(&mut polling, &mut assignments, "core-sw").await;
        assert_eq!(first.state, DeviceState::Ok);
        let rate = |p: &atalaya_common::proto::DevicePoll| {
            p.values
                .iter()
                .find(|(n, _)| n == "interface.in_bits_per_second{if=eth0}")
                .map(|(_, v)| *v)
        };
        assert_eq!(rate(&first), None, "a first poll has no rate");
        // Another device joins; the first one keeps its counters.
        let (_quiet, port) = {
            let s = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
            let port = s.local_addr().unwrap().port();
            (s, port)
        };
        let mut quiet = DeviceSpec::v2c("quiet", "127.0.0.1", COMMUNITY);
        quiet.port = port;
        quiet.timeout_ms = 100;
        quiet.retries = 0;
        assert_eq!(
            polling.assign(vec![core.clone(), quiet]).await,
            Assigned::Updated(2)
        );
        let next = next_poll_of(&mut polling, &mut assignments, "core-sw").await;
        let bps = rate(&next).expect("the unchanged device's next poll has its rate");
        assert!(bps > 0.0, "{bps}");
    }
}
