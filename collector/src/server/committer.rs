//! Group commit: records from every session queue here, and one durable
//! redb transaction stores all that arrived while the previous commit ran.
//! Only after it returns are the sessions told which sequence to ack, so an
//! ack always means "on disk".

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Instant;

use tokio::sync::mpsc;

use crate::store::{Committed, Fed, Ingest, IngestRecord, Store};
use crate::telemetry::Telemetry;

/// How many records one transaction carries at most.
const MAX_BATCH: usize = 4096;

/// What a session hears back after a commit.
#[derive(Debug, Clone)]
pub enum Outcome {
    /// Stored up to here.
    Committed(Committed),
    /// The commit failed; the session closes and the agent sends again.
    Failed(String),
}

struct Job {
    item: Ingest,
    reply: mpsc::UnboundedSender<Outcome>,
}

/// The sending side of the commit queue; cheap to clone.
#[derive(Clone)]
pub struct Committer {
    tx: mpsc::UnboundedSender<Job>,
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
        desk: Option<mpsc::UnboundedSender<Vec<Fed>>>,
    ) -> Self {
        let (tx, rx) = mpsc::unbounded_channel();
        tokio::spawn(run(store, telemetry.clone(), rx, desk));
        Self { tx, telemetry }
    }

    /// Queues a record; the outcome arrives on `reply` after the commit.
    pub fn submit(&self, item: Ingest, reply: &mpsc::UnboundedSender<Outcome>) -> bool {
        self.telemetry.queue_depth.fetch_add(1, Ordering::Relaxed);
        self.tx
            .send(Job {
                item,
                reply: reply.clone(),
            })
            .is_ok()
    }
}

async fn run(
    store: Arc<Store>,
    telemetry: Arc<Telemetry>,
    mut rx: mpsc::UnboundedReceiver<Job>,
    desk: Option<mpsc::UnboundedSender<Vec<Fed>>>,
) {
    let mut jobs = Vec::with_capacity(MAX_BATCH);
    while rx.recv_many(&mut jobs, MAX_BATCH).await > 0 {
        telemetry
            .queue_depth
            .fetch_sub(jobs.len() as u64, Ordering::Relaxed);
        let mut replies: Vec<(String, mpsc::UnboundedSender<Outcome>)> = Vec::new();
        let mut items = Vec::with_capacity(jobs.len());
        let mut points = 0u64;
        let mut records = 0u64;
        for job in jobs.drain(..) {
            if let IngestRecord::Metrics(batch) = &job.item.record {
                points += batch.samples.len() as u64;
            }
            if !matches!(job.item.record, IngestRecord::Seen(_)) {
                records += 1;
            }
            if !replies
                .iter()
                .any(|(id, r)| *id == job.item.agent_id && r.same_channel(&job.reply))
            {
                replies.push((job.item.agent_id.clone(), job.reply));
            }
            items.push(job.item);
        }
        let started = Instant::now();
        let store = store.clone();
        let result = tokio::task::spawn_blocking(move || store.commit_fed(&items)).await;
        telemetry.observe_commit(started.elapsed());
        match result {
            Ok(Ok((committed, fed))) => {
                telemetry.commits.fetch_add(1, Ordering::Relaxed);
                telemetry.records.fetch_add(records, Ordering::Relaxed);
                telemetry.samples.fetch_add(points, Ordering::Relaxed);
                for c in committed {
                    for (_, reply) in replies.iter().filter(|(id, _)| *id == c.agent_id) {
                        let _ = reply.send(Outcome::Committed(c.clone()));
                    }
                }
                if let Some(desk) = &desk
                    && !fed.is_empty()
                {
                    let _ = desk.send(fed);
                }
            }
            Ok(Err(err)) => fail(&telemetry, &replies, format!("storing failed: {err}")),
            Err(err) => fail(
                &telemetry,
                &replies,
                format!("the store task failed: {err}"),
            ),
        }
    }
}

fn fail(telemetry: &Telemetry, replies: &[(String, mpsc::UnboundedSender<Outcome>)], why: String) {
    tracing::error!(error = %why, "group commit failed; agents will send again");
    telemetry.commit_failures.fetch_add(1, Ordering::Relaxed);
    for (_, reply) in replies {
        let _ = reply.send(Outcome::Failed(why.clone()));
    }
}
