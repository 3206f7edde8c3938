use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::Duration;

use async_snmp::{Oid, Value, VarBind};

use super::*;

/// A device answering from a table, with its faults scripted.
#[derive(Default)]
struct Scripted {
    table: BTreeMap<Oid, Value>,
    v1: bool,
    /// Answers tooBig when a response would hold more bindings than this.
    too_big_above: Option<usize>,
    /// Answers genErr instead of tooBig (as net-snmp does over SNMPv3).
    gen_err: bool,
    /// Times out when asked for more repetitions than this.
    timeout_above: Option<u32>,
    /// Answers every GETBULK with this binding first (a looping agent).
    loop_to: Option<Oid>,
    /// Generates rows forever under this column.
    endless: Option<Oid>,
    /// Answers with no binding at all.
    empty: bool,
    /// Each request takes this long (tokio time).
    delay: Option<Duration>,
    requests: Mutex<Vec<(usize, u32)>>,
}

fn oid(arcs: &[u32]) -> Oid {
    Oid::from_slice(arcs)
}

impl Scripted {
    fn with_table(columns: &[u32], rows: u32) -> Self {
        let mut table = BTreeMap::new();
        for c in columns {
            for r in 1..=rows {
                table.insert(
                    oid(&[1, 3, 6, 1, 9, *c, r]),
                    Value::Integer(i32::try_from(c * 1000 + r).unwrap()),
                );
            }
        }
        // Something after the table, as on a real device.
        table.insert(oid(&[1, 3, 6, 1, 10, 1]), Value::Integer(0));
        Scripted {
            table,
            ..Scripted::default()
        }
    }

    fn next_of(&self, after: &Oid) -> VarBind {
        if let Some(root) = &self.endless
            && after.starts_with(root)
        {
            let last = after.arcs().get(root.len()).copied().unwrap_or(0);
            return VarBind {
                oid: root.child(last + 1),
                value: Value::Integer(1),
            };
        }
        use std::ops::Bound::Excluded;
        match self
            .table
            .range((Excluded(after.clone()), std::ops::Bound::Unbounded))
            .next()
        {
            Some((o, v)) => VarBind {
                oid: o.clone(),
                value: v.clone(),
            },
            None => VarBind {
                oid: after.clone(),
                value: Value::EndOfMibView,
            },
        }
    }

    async fn pause(&self) {
        if let Some(d) = self.delay {
            tokio::time::sleep(d).await;
        }
    }
}

impl SnmpSource for Scripted {
    fn supports_bulk(&self) -> bool {
        !self.v1
    }

    async fn get(&self, oids: &[Oid]) -> Result<Vec<VarBind>, RequestError> {
        Ok(oids
            .iter()
            .map(|o| VarBind {
                oid: o.clone(),
                value: self.table.get(o).cloned().unwrap_or(Value::NoSuchObject),
            })
            .collect())
    }

    async fn get_next(&self, oids: &[Oid]) -> Result<Vec<VarBind>, RequestError> {
        self.pause().await;
        self.requests.lock().unwrap().push((oids.len(), 0));
        let out: Vec<VarBind> = oids.iter().map(|o| self.next_of(o)).collect();
        if out.iter().any(|vb| vb.value == Value::EndOfMibView) {
            return Err(RequestError::NoSuchName);
        }
        Ok(out)
    }

    async fn get_bulk(&self, oids: &[Oid], reps: u32) -> Result<Vec<VarBind>, RequestError> {
        self.pause().await;
        self.requests.lock().unwrap().push((oids.len(), reps));
        if self.empty {
            return Ok(Vec::new());
        }
        if self.timeout_above.is_some_and(|t| reps > t) {
            return Err(RequestError::Timeout);
        }
        let reps_usize = usize::try_from(reps).unwrap();
        if self
            .too_big_above
            .is_some_and(|t| oids.len() * reps_usize > t)
        {
            return Err(if self.gen_err {
                RequestError::GenErr
            } else {
                RequestError::TooBig
            });
        }
        let mut cursors: Vec<Oid> = oids.to_vec();
        let mut out = Vec::new();
        if let Some(back) = &self.loop_to {
            out.push(VarBind {
                oid: back.clone(),
                value: Value::Integer(0),
            });
            return Ok(out);
        }
        for _ in 0..reps {
            for c in &mut cursors {
                let vb = self.next_of(c);
                *c = vb.oid.clone();
                out.push(vb);
            }
        }
        Ok(out)
    }
}

fn cols(c: &[u32]) -> Vec<Oid> {
    c.iter().map(|c| oid(&[1, 3, 6, 1, 9, *c])).collect()
}

#[tokio::test]
async fn walks_several_columns_together() {
    let dev = Scripted::with_table(&[2, 3, 4], 30);
    let mut state = WalkState::default();
    let rows = walk_columns(&dev, &mut state, WalkLimits::default(), &cols(&[2, 4]))
        .await
        .unwrap();
    assert_eq!(rows.len(), 60);
    let col2: Vec<&VarBind> = rows.iter().filter(|v| v.oid.arcs()[5] == 2).collect();
    assert_eq!(col2.len(), 30);
    assert!(col2.windows(2).all(|w| w[0].oid < w[1].oid));
    // 30 rows at 25 repetitions: two requests of both columns.
    assert_eq!(*dev.requests.lock().unwrap(), vec![(2, 25), (2, 25)]);
    assert_eq!(state.max_repetitions(), START_REPETITIONS);
}

#[tokio::test]
async fn a_missing_table_is_empty() {
    let dev = Scripted::with_table(&[2], 3);
    let mut state = WalkState::default();
    let rows = walk_columns(&dev, &mut state, WalkLimits::default(), &cols(&[7]))
        .await
        .unwrap();
    assert!(rows.is_empty());
}

#[tokio::test]
async fn too_big_halves_the_repetitions_and_it_is_remembered() {
    let dev = Scripted {
        too_big_above: Some(10),
        ..Scripted::with_table(&[2, 3], 20)
    };
    let mut state = WalkState::default();
    let rows = walk_columns(&dev, &mut state, WalkLimits::default(), &cols(&[2, 3]))
        .await
        .unwrap();
    assert_eq!(rows.len(), 40);
    // 2 columns × 25, × 12, × 6 are too big; × 3 fits in 10.
    assert_eq!(state.max_repetitions(), 3);
    let reps: Vec<u32> = dev.requests.lock().unwrap().iter().map(|r| r.1).collect();
    assert_eq!(&reps[..4], &[25, 12, 6, 3]);
    dev.requests.lock().unwrap().clear();
    walk_columns(&dev, &mut state, WalkLimits::default(), &cols(&[2]))
        .await
        .unwrap();
    assert!(dev.requests.lock().unwrap().iter().all(|r| r.1 == 3));
}

#[tokio::test]
async fn gen_err_on_a_large_getbulk_backs_off_too() {
    let dev = Scripted {
        too_big_above: Some(4),
        gen_err: true,
        ..Scripted::with_table(&[2], 9)
    };
    let mut state = WalkState::default();
    let rows = walk_columns(&dev, &mut state, WalkLimits::default(), &cols(&[2]))
        .await
        .unwrap();
    assert_eq!(rows.len(), 9);
    assert_eq!(state.max_repetitions(), 3);
}

#[tokio::test]
async fn a_timeout_halves_the_repetitions_and_clean_walks_grow_them_back() {
    let mut dev = Scripted {
        timeout_above: Some(8),
        ..Scripted::with_table(&[2], 5)
    };
    let mut state = WalkState::default();
    let rows = walk_columns(&dev, &mut state, WalkLimits::default(), &cols(&[2]))
        .await
        .unwrap();
    assert_eq!(rows.len(), 5);
    assert_eq!(state.max_repetitions(), 6);
    dev.timeout_above = None;
    for _ in 0..20 {
        walk_columns(&dev, &mut state, WalkLimits::default(), &cols(&[2]))
            .await
            .unwrap();
    }
    assert_eq!(state.max_repetitions(), 12);
}

#[tokio::test]
async fn a_device_timing_out_at_one_repetition_fails_the_walk() {
    let dev = Scripted {
        timeout_above: Some(0),
        ..Scripted::with_table(&[2], 5)
    };
    let mut state = WalkState::default();
    let err = walk_columns(&dev, &mut state, WalkLimits::default(), &cols(&[2]))
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            WalkError::Request {
                source: RequestError::Timeout,
                ..
            }
        ),
        "{err}"
    );
    assert_eq!(state.max_repetitions(), 1);
}

#[tokio::test]
async fn a_looping_table_is_named() {
    let dev = Scripted {
        loop_to: Some(oid(&[1, 3, 6, 1, 9, 2, 1])),
        ..Scripted::with_table(&[2], 5)
    };
    let mut state = WalkState::default();
    // The first answer is new; the same answer again is the loop.
    let err = walk_columns(&dev, &mut state, WalkLimits::default(), &cols(&[2]))
        .await
        .unwrap_err();
    assert!(matches!(err, WalkError::Loop { .. }), "{err}");
    assert!(err.to_string().contains("loops"), "{err}");
}

#[tokio::test]
async fn an_endless_table_stops_at_the_row_limit() {
    let dev = Scripted {
        endless: Some(oid(&[1, 3, 6, 1, 9, 2])),
        ..Scripted::with_table(&[2], 1)
    };
    let limits = WalkLimits {
        max_rows: 1_000,
        ..WalkLimits::default()
    };
    let mut state = WalkState::default();
    let err = walk_columns(&dev, &mut state, limits, &cols(&[2]))
        .await
        .unwrap_err();
    assert!(
        matches!(err, WalkError::TooManyRows { limit: 1_000, .. }),
        "{err}"
    );
}

#[tokio::test(start_paused = true)]
async fn a_slow_endless_table_stops_at_the_time_limit() {
    let dev = Scripted {
        endless: Some(oid(&[1, 3, 6, 1, 9, 2])),
        delay: Some(Duration::from_secs(1)),
        ..Scripted::with_table(&[2], 1)
    };
    let limits = WalkLimits {
        max_rows: usize::MAX,
        max_time: Duration::from_secs(30),
    };
    let mut state = WalkState::default();
    let started = tokio::time::Instant::now();
    let err = walk_columns(&dev, &mut state, limits, &cols(&[2]))
        .await
        .unwrap_err();
    assert!(matches!(err, WalkError::TooLong { .. }), "{err}");
    assert!(started.elapsed() <= Duration::from_secs(32));
}

#[tokio::test]
async fn an_empty_answer_cannot_advance() {
    let dev = Scripted {
        empty: true,
        ..Scripted::with_table(&[2], 1)
    };
    let mut state = WalkState::default();
    let err = walk_columns(&dev, &mut state, WalkLimits::default(), &cols(&[2]))
        .await
        .unwrap_err();
    assert!(matches!(err, WalkError::NoProgress { .. }), "{err}");
}

#[tokio::test]
async fn snmp_v1_walks_one_column_at_a_time_with_getnext() {
    let mut dev = Scripted::with_table(&[2, 3], 4);
    dev.v1 = true;
    // Without anything after the table, v1's end of the MIB is noSuchName.
    dev.table.remove(&oid(&[1, 3, 6, 1, 10, 1]));
    let mut state = WalkState::default();
    let rows = walk_columns(&dev, &mut state, WalkLimits::default(), &cols(&[2, 3]))
        .await
        .unwrap();
    assert_eq!(rows.len(), 8);
    assert!(dev.requests.lock().unwrap().iter().all(|r| *r == (1, 0)));
}
