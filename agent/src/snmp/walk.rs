//! Table walks with GETBULK (GETNEXT for SNMPv1), several columns at once.
//!
//! Devices differ in how much they can answer at once: large ENTITY-MIB or
//! LLDP tables time out at 25 repetitions on some, others answer `tooBig`.
//! [`WalkState`], kept per device by the poller, starts at 25 repetitions,
//! halves on `tooBig`, `genErr` and a timeout (retrying the same request), and
//! remembers what worked; after a run of clean walks it tries twice as many
//! again, up to the start value. A walk also ends with a named error when
//! the device returns an OID that does not follow the previous one (its
//! table loops), or passes a row or time limit (an endless table).

use std::future::Future;
use std::time::Duration;

use async_snmp::{Oid, Value, VarBind};

use super::client::RequestError;

/// Repetitions asked for in a device's first GETBULK.
pub const START_REPETITIONS: u32 = 25;
/// Most rows one column of a walk may return.
pub const DEFAULT_MAX_ROWS: usize = 50_000;
/// Longest one walk may take.
pub const DEFAULT_MAX_WALK_TIME: Duration = Duration::from_secs(120);
/// Clean walks after which a device that backed off is offered more repetitions.
const CLEAN_WALKS_BEFORE_GROWING: u32 = 20;

/// The requests a walk makes: a device client, or a scripted device in tests.
pub trait SnmpSource {
    /// True when the device speaks SNMPv2c or v3 and so has GETBULK.
    fn supports_bulk(&self) -> bool;
    /// GET of `oids`.
    fn get(&self, oids: &[Oid]) -> impl Future<Output = Result<Vec<VarBind>, RequestError>> + Send;
    /// GETNEXT of `oids`.
    fn get_next(
        &self,
        oids: &[Oid],
    ) -> impl Future<Output = Result<Vec<VarBind>, RequestError>> + Send;
    /// GETBULK of `oids`, all repeaters, `max_repetitions` each.
    fn get_bulk(
        &self,
        oids: &[Oid],
        max_repetitions: u32,
    ) -> impl Future<Output = Result<Vec<VarBind>, RequestError>> + Send;
}

/// What a device has shown it can answer, kept between polls.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WalkState {
    max_repetitions: u32,
    clean_walks: u32,
}

impl Default for WalkState {
    fn default() -> Self {
        WalkState {
            max_repetitions: START_REPETITIONS,
            clean_walks: 0,
        }
    }
}

impl WalkState {
    /// Repetitions the next GETBULK asks for.
    pub fn max_repetitions(&self) -> u32 {
        self.max_repetitions
    }

    /// Halves the repetitions; false when already at one.
    fn back_off(&mut self) -> bool {
        self.clean_walks = 0;
        if self.max_repetitions <= 1 {
            return false;
        }
        self.max_repetitions /= 2;
        true
    }

    /// Counts a walk that needed no back-off, growing again after a run of them.
    fn clean_walk(&mut self) {
        if self.max_repetitions >= START_REPETITIONS {
            return;
        }
        self.clean_walks += 1;
        if self.clean_walks >= CLEAN_WALKS_BEFORE_GROWING {
            self.clean_walks = 0;
            self.max_repetitions = (self.max_repetitions * 2).min(START_REPETITIONS);
        }
    }
}

/// Bounds on one walk.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WalkLimits {
    /// Most rows one column may return.
    pub max_rows: usize,
    /// Longest the walk may take.
    pub max_time: Duration,
}

impl Default for WalkLimits {
    fn default() -> Self {
        WalkLimits {
            max_rows: DEFAULT_MAX_ROWS,
            max_time: DEFAULT_MAX_WALK_TIME,
        }
    }
}

/// Why a walk ended early.
#[derive(Debug, thiserror::Error)]
pub enum WalkError {
    /// A request of the walk failed.
    #[error("walking {root}: {source}")]
    Request {
        /// The column being walked.
        root: String,
        /// What went wrong.
        #[source]
        source: RequestError,
    },
    /// The device returned an OID not after the previous one.
    #[error("walking {root}: the device returned {oid} after {previous}: its table loops")]
    Loop {
        /// The column being walked.
        root: String,
        /// The OID before.
        previous: String,
        /// The OID that did not follow it.
        oid: String,
    },
    /// A column passed the row limit.
    #[error("walking {root}: more than {limit} rows")]
    TooManyRows {
        /// The column being walked.
        root: String,
        /// The limit.
        limit: usize,
    },
    /// The walk passed its time limit.
    #[error("walking {root}: not finished after {limit:?}")]
    TooLong {
        /// The first column still being walked.
        root: String,
        /// The limit.
        limit: Duration,
    },
    /// The device answered with no binding at all, so the walk cannot advance.
    #[error("walking {root}: the device answered with nothing")]
    NoProgress {
        /// The first column still being walked.
        root: String,
    },
}

/// One column being walked.
struct Cursor {
    root: Oid,
    last: Oid,
    rows: usize,
    done: bool,
}

/// Walks `columns` together and returns every binding under them, in the
/// order received. A column the device lacks returns nothing.
pub async fn walk_columns<S: SnmpSource>(
    source: &S,
    state: &mut WalkState,
    limits: WalkLimits,
    columns: &[Oid],
) -> Result<Vec<VarBind>, WalkError> {
    let mut out = Vec::new();
    walk_columns_into(source, state, limits, columns, |vb| out.push(vb)).await?;
    Ok(out)
}

/// Walks `columns` together and hands every binding under them to `take`,
/// in the order received, as each answer comes: a caller that reads the
/// bindings into rows holds the rows, not the table's bindings. On an
/// error, `take` has had the bindings before it.
pub async fn walk_columns_into<S: SnmpSource>(
    source: &S,
    state: &mut WalkState,
    limits: WalkLimits,
    columns: &[Oid],
    mut take: impl FnMut(VarBind) + Send,
) -> Result<(), WalkError> {
    let started = tokio::time::Instant::now();
    let mut cursors: Vec<Cursor> = columns
        .iter()
        .map(|c| Cursor {
            root: c.clone(),
            last: c.clone(),
            rows: 0,
            done: false,
        })
        .collect();
    let mut backed_off = false;
    loop {
        let active: Vec<usize> = (0..cursors.len()).filter(|i| !cursors[*i].done).collect();
        let Some(&first) = active.first() else { break };
        if started.elapsed() > limits.max_time {
            return Err(WalkError::TooLong {
                root: cursors[first].root.to_string(),
                limit: limits.max_time,
            });
        }
        // SNMPv1 has no GETBULK, and a GETNEXT past the end of the MIB
        // fails the whole request there, so v1 walks one column at a time.
        let batch = if source.supports_bulk() {
            active
        } else {
            vec![first]
        };
        let oids: Vec<Oid> = batch.iter().map(|i| cursors[*i].last.clone()).collect();
        let answer = match request(source, state, &oids).await {
            Ok(a) => a,
            Err(e) if retry_smaller(&e) && state.back_off() => {
                backed_off = true;
                continue;
            }
            Err(RequestError::NoSuchName) if !source.supports_bulk() => {
                cursors[first].done = true;
                continue;
            }
            Err(source) => {
                return Err(WalkError::Request {
                    root: cursors[first].root.to_string(),
                    source,
                });
            }
        };
        if answer.is_empty() {
            return Err(WalkError::NoProgress {
                root: cursors[first].root.to_string(),
            });
        }
        for (pos, vb) in answer.into_iter().enumerate() {
            let cursor = &mut cursors[batch[pos % batch.len()]];
            if let Some(vb) = advance(cursor, vb, limits.max_rows)? {
                take(vb);
            }
        }
    }
    if !backed_off {
        state.clean_walk();
    }
    Ok(())
}

async fn request<S: SnmpSource>(
    source: &S,
    state: &WalkState,
    oids: &[Oid],
) -> Result<Vec<VarBind>, RequestError> {
    if source.supports_bulk() {
        source.get_bulk(oids, state.max_repetitions()).await
    } else {
        source.get_next(oids).await
    }
}

/// Errors a smaller request may cure.
fn retry_smaller(e: &RequestError) -> bool {
    matches!(
        e,
        RequestError::TooBig | RequestError::Timeout | RequestError::GenErr
    )
}

/// Takes one binding for a column: the binding if it belongs to the
/// column, `None` once the column is finished.
fn advance(
    cursor: &mut Cursor,
    vb: VarBind,
    max_rows: usize,
) -> Result<Option<VarBind>, WalkError> {
    if cursor.done {
        return Ok(None);
    }
    if is_end(&vb.value) || !vb.oid.starts_with(&cursor.root) {
        cursor.done = true;
        return Ok(None);
    }
    if vb.oid <= cursor.last {
        return Err(WalkError::Loop {
            root: cursor.root.to_string(),
            previous: cursor.last.to_string(),
            oid: vb.oid.to_string(),
        });
    }
    cursor.rows += 1;
    if cursor.rows > max_rows {
        return Err(WalkError::TooManyRows {
            root: cursor.root.to_string(),
            limit: max_rows,
        });
    }
    cursor.last = vb.oid.clone();
    Ok(Some(vb))
}

/// `endOfMibView` and the other exceptions a walk can meet.
fn is_end(value: &Value) -> bool {
    value.is_exception()
}

#[cfg(test)]
mod tests;
