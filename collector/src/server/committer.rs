//! Group commit: records from every session queue here, and one durable
//! redb transaction stores all that arrived while the previous commit ran.
//! Only after it returns are the sessions told which sequence to ack, so an
//! ack always means "on disk".
//!
//! # Back-pressure
//!
//! Every queue on the way is bounded, so an agent that sends faster than
//! the store writes (or ignores the acks and floods) slows down instead of
//! filling the collector's memory:
//!
//! - a session may have [`SESSION_IN_FLIGHT`] records queued or being
//!   committed; beyond that its [`Committer::submit`] waits for a commit;
//! - the commit queue holds [`QUEUE`] records; beyond that every
//!   submitter waits its turn (first come, first served);
//! - what a commit stored waits for the incident desk in a queue of
//!   [`FED_QUEUE`] commits; beyond that the next commit waits.
//!
//! A session that waits in `submit` stops reading its QUIC stream; the
//! stream's receive window fills, and QUIC flow control stops the agent's
//! sending. Nothing is dropped: the agent's spool holds what it could not
//! send yet.
//!
//! A session hears back through a [`watch`] channel of its [`Progress`]:
//! acks are cumulative, so only the latest matters, and however slowly an
//! agent reads its acks, nothing piles up for it.

use std::sync::Arc;
use std::time::Instant;

use tokio::sync::{OwnedSemaphorePermit, Semaphore, mpsc, watch};

use crate::store::{Fed, Ingest, IngestRecord, Store, StoreError};
use crate::telemetry::Telemetry;

/// How many records one transaction carries at most.
const MAX_BATCH: usize = 4096;
/// Records waiting for a commit, from all sessions, at most.
pub const QUEUE: usize = 4 * MAX_BATCH;
/// Records of one session queued or being committed at most: twice an
/// honest agent's own window (256 unacknowledged records), so that only an
/// agent that ignores its window ever waits here.
pub const SESSION_IN_FLIGHT: usize = 512;
/// Commits whose records wait for the incident desk, at most.
pub const FED_QUEUE: usize = 64;

/// Why a group commit failed. Every session with records in it hears of
/// it, so the cause is shared.
#[derive(Debug, Clone, thiserror::Error)]
pub enum CommitError {
    /// The store refused the transaction.
    #[error("storing failed: {0}")]
    Store(#[source] Arc<StoreError>),
    /// The blocking task that ran the transaction panicked or was cancelled.
    #[error("the store task failed: {0}")]
    Task(#[source] Arc<tokio::task::JoinError>),
}

/// What a session has heard back from the commits of its records.
#[derive(Debug, Clone, Default)]
pub struct Progress {
    /// Highest sequence durably stored: ack this.
    pub highest_seq: u64,
    /// Commits after which the agent owed a full inventory (a delta did
    /// not apply); the session asks for one whenever this grows.
    pub snapshot_requests: u64,
    /// A commit failed: the session closes and the agent sends again.
    pub failed: Option<CommitError>,
}

/// One session's place in the commit queue: where its [`Progress`] is
/// told, and how many of its records may be in flight.
#[derive(Debug, Clone)]
pub struct SessionQueue {
    progress: watch::Sender<Progress>,
    in_flight: Arc<Semaphore>,
}

impl SessionQueue {
    /// A queue for a new session, and where it follows its progress.
    pub fn new() -> (Self, watch::Receiver<Progress>) {
        let (progress, rx) = watch::channel(Progress::default());
        let queue = Self {
            progress,
            in_flight: Arc::new(Semaphore::new(SESSION_IN_FLIGHT)),
        };
        (queue, rx)
    }
}

struct Job {
    item: Ingest,
    reply: watch::Sender<Progress>,
    /// Given back once the record's commit is over.
    permit: OwnedSemaphorePermit,
}

/// The sending side of the commit queue; cheap to clone.
#[derive(Clone)]
pub struct Committer {
    tx: mpsc::Sender<Job>,
    telemetry: Arc<Telemetry>,
}

impl std::fmt::Debug for Committer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Committer").finish_non_exhaustive()
    }
}

impl Committer {
    /// Starts the commit task on the current runtime.
    pub fn start(store: Arc<Store>, telemetry: Arc<Telemetry>) -> Self {
        Self::start_feeding(store, telemetry, None)
    }

    /// Starts the commit task; after each durable commit, what it stored
    /// goes to `desk` (the incident engine), after the acks.
    pub fn start_feeding(
        store: Arc<Store>,
        telemetry: Arc<Telemetry>,
        desk: Option<mpsc::Sender<Vec<Fed>>>,
    ) -> Self {
        let (tx, rx) = mpsc::channel(QUEUE);
        tokio::spawn(run(store, telemetry.clone(), rx, desk));
        Self { tx, telemetry }
    }

    /// Queues a record of the session `to`, waiting while the session has
    /// [`SESSION_IN_FLIGHT`] records in flight or the queue is full; its
    /// progress is told to `to` after the commit. `false` once the commit
    /// task is gone (shutting down).
    pub async fn submit(&self, item: Ingest, to: &SessionQueue) -> bool {
        let Ok(permit) = to.in_flight.clone().acquire_owned().await else {
            return false;
        };
        self.telemetry.queue_depth.inc();
        let job = Job {
            item,
            reply: to.progress.clone(),
            permit,
        };
        if self.tx.send(job).await.is_ok() {
            return true;
        }
        self.telemetry.queue_depth.dec();
        false
    }
}

async fn run(
    store: Arc<Store>,
    telemetry: Arc<Telemetry>,
    mut rx: mpsc::Receiver<Job>,
    desk: Option<mpsc::Sender<Vec<Fed>>>,
) {
    let mut jobs = Vec::with_capacity(MAX_BATCH);
    while rx.recv_many(&mut jobs, MAX_BATCH).await > 0 {
        telemetry.queue_depth.dec_by(jobs.len() as u64);
        let mut replies: Vec<(String, watch::Sender<Progress>)> = Vec::new();
        let mut items = Vec::with_capacity(jobs.len());
        // The sessions' in-flight permits, given back after the commit.
        let mut in_flight = Vec::with_capacity(jobs.len());
        let mut points = 0u64;
        let mut records = 0u64;
        for job in jobs.drain(..) {
            if let IngestRecord::Metrics(batch) = &job.item.record {
                points += batch.samples.len() as u64;
            }
            if !matches!(
                job.item.record,
                IngestRecord::Seen(_) | IngestRecord::PolicyState(_)
            ) {
                records += 1;
            }
            if !replies
                .iter()
                .any(|(id, r)| *id == job.item.agent_id && r.same_channel(&job.reply))
            {
                replies.push((job.item.agent_id.clone(), job.reply));
            }
            items.push(job.item);
            in_flight.push(job.permit);
        }
        let started = Instant::now();
        let store = store.clone();
        let result = tokio::task::spawn_blocking(move || store.commit_fed(&items)).await;
        telemetry.observe_commit(started.elapsed());
        match result {
            Ok(Ok((committed, fed))) => {
                telemetry.commits.inc();
                telemetry.records.inc_by(records);
                telemetry.samples.inc_by(points);
                for c in committed {
                    for (_, reply) in replies.iter().filter(|(id, _)| *id == c.agent_id) {
                        reply.send_modify(|p| {
                            p.highest_seq = p.highest_seq.max(c.highest_seq);
                            if c.need_snapshot {
                                p.snapshot_requests += 1;
                            }
                        });
                    }
                }
                drop(in_flight);
                if let Some(desk) = &desk
                    && !fed.is_empty()
                {
                    // Waits while the desk is FED_QUEUE commits behind:
                    // ingest slows down to what the incident engine keeps
                    // up with, rather than queueing without end.
                    let _ = desk.send(fed).await;
                }
            }
            Ok(Err(err)) => fail(&telemetry, &replies, CommitError::Store(Arc::new(err))),
            Err(err) => fail(&telemetry, &replies, CommitError::Task(Arc::new(err))),
        }
    }
}

fn fail(telemetry: &Telemetry, replies: &[(String, watch::Sender<Progress>)], why: CommitError) {
    tracing::error!(error = %why, "group commit failed; agents will send again");
    telemetry.commit_failures.inc();
    for (_, reply) in replies {
        reply.send_modify(|p| p.failed = Some(why.clone()));
    }
}
