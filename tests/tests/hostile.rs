//! Hostile and broken input against a real collector: each bad peer loses
//! only its own connection, with the reason counted in `/metrics`, while an
//! honest agent keeps streaming; times and numbers that make no sense are
//! refused one by one, and the incident engine never sees them.

#![allow(clippy::unwrap_used)] // a failed unwrap is a failed test

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use atalaya_agent::identity::AgentIdentity;
use atalaya_common::diff;
use atalaya_common::model::{HealthSample, Inventory, LoadAverage, MemoryUsage, Timestamp};
use atalaya_common::proto::{
    self, FrameReader, Gap, Heartbeat, Hello, InventoryDelta, InventorySnapshot, Message,
    MetricBatch, SpoolDamaged, UserReport,
};
use atalaya_common::token::EnrollmentToken;
use atalaya_tests::harness::{Collector, agent, copy_tree, enroll, eventually, fixture, runtime};
use atalaya_tests::loadgen::{NumberedAgent, SERIES, produce_all, start_shared};
use serde_json::Value;

/// Stored metric points of the honest agent's asset, through the API.
fn points(collector: &Collector, asset: &str) -> usize {
    let (_, body) = collector.get(
        &format!("/api/v1/assets/{asset}/metrics?name=uptime.seconds&from=1h"),
        Some(&collector.admin),
    );
    body["points"].as_array().map_or(0, Vec::len)
}

/// Opens a data session with a real enrolled identity and sends `bytes`;
/// returns the reason the collector gave when it closed the connection.
async fn send_raw(identity: &AgentIdentity, addr: SocketAddr, bytes: Vec<u8>) -> String {
    send_paced(identity, addr, bytes, None).await
}

/// As [`send_raw`], one byte every `pace` when given (a slowloris peer).
async fn send_paced(
    identity: &AgentIdentity,
    addr: SocketAddr,
    bytes: Vec<u8>,
    pace: Option<Duration>,
) -> String {
    let mut endpoint = quinn::Endpoint::client(SocketAddr::from(([127, 0, 0, 1], 0))).unwrap();
    endpoint.set_default_client_config(atalaya_agent::tls::data_client_config(identity).unwrap());
    let conn = endpoint.connect(addr, "127.0.0.1").unwrap().await.unwrap();
    let (mut send, _recv) = conn.open_bi().await.unwrap();
    let writer = async {
        match pace {
            None => send.write_all(&bytes).await.unwrap(),
            Some(pace) => {
                for byte in &bytes {
                    if send.write_all(std::slice::from_ref(byte)).await.is_err() {
                        break;
                    }
                    tokio::time::sleep(pace).await;
                }
            }
        }
        std::future::pending::<()>().await;
    };
    let reason = tokio::select! {
        reason = tokio::time::timeout(Duration::from_secs(20), conn.closed()) => {
            reason.expect("the collector kept a bad connection open")
        }
        () = writer => unreachable!(),
    };
    reason.to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_peers_lose_their_own_connection_only() {
    let collector =
        tokio::task::spawn_blocking(|| Collector::start_with("frame_timeout_seconds = 2"))
            .await
            .unwrap();
    let work = tempfile::tempdir().unwrap();
    let root = work.path().join("root");
    copy_tree(&fixture("arch"), &root);
    let other_root = work.path().join("other-root");
    copy_tree(&fixture("alpine"), &other_root);
    let token = collector.token(3);
    let _honest = agent(work.path(), "honest", Some(&root), &token);
    let _other = agent(work.path(), "other", Some(&other_root), &token);

    // A second identity for the hostile client: enrolled properly, then misbehaving.
    let identity = enroll(&work.path().join("hostile"), &token);
    let addr = collector.quic_address();

    let asset = collector.asset_named("ryzen-desk");
    let other = collector.asset_named("edge-gw");
    let other_before = points(&collector, &other);

    // Another protocol version.
    let reason = send_raw(&identity, addr, vec![0, 9, 1, 0, 0, 0, 0, 0]).await;
    assert!(
        reason.contains("protocol version 9 is not supported"),
        "{reason}"
    );
    // A frame far over the size limit, refused from its envelope alone.
    let reason = send_raw(&identity, addr, vec![0, 1, 1, 0, 0x7f, 0, 0, 0]).await;
    assert!(reason.contains("over the"), "{reason}");
    // A record before Hello.
    let beat = atalaya_common::proto::encode(&atalaya_common::proto::Message::Heartbeat(
        atalaya_common::proto::Heartbeat {
            seq: 1,
            at: atalaya_common::model::Timestamp::now(),
        },
    ))
    .unwrap();
    let reason = send_raw(&identity, addr, beat).await;
    assert!(reason.contains("first message must be Hello"), "{reason}");
    // Garbage inside a well-formed envelope.
    let reason = send_raw(
        &identity,
        addr,
        vec![0, 1, 1, 0, 0, 0, 0, 3, 0xff, 0xff, 0xff],
    )
    .await;
    assert!(reason.contains("malformed Hello"), "{reason}");
    // A valid Hello dribbled a byte at a time (slowloris): cut off after
    // the frame timeout (2 s here), however long the peer would go on.
    let hello = atalaya_common::proto::encode(&atalaya_common::proto::Message::Hello(
        atalaya_common::proto::Hello {
            agent_version: "0.0.0-slow".repeat(20),
            protocol_version: atalaya_common::proto::PROTOCOL_VERSION,
            last_acked: 0,
            features: Vec::new(),
        },
    ))
    .unwrap();
    let started = std::time::Instant::now();
    let reason = send_paced(&identity, addr, hello, Some(Duration::from_millis(200))).await;
    assert!(
        reason.contains("a frame took more than 2 s to arrive"),
        "{reason}"
    );
    assert!(started.elapsed() < Duration::from_secs(10));

    // The honest agent is still being served: new points keep arriving.
    let before = points(&collector, &asset);
    eventually(
        "more points from the honest agents",
        Duration::from_secs(20),
        || {
            (points(&collector, &asset) > before + 2
                && points(&collector, &other) > other_before + 2)
                .then_some(())
        },
    );
    let metrics = collector
        .get("/metrics", Some(&collector.admin))
        .1
        .to_string();
    assert!(
        metrics.contains("reason=\\\"bad_frame\\\"} 3")
            || metrics.contains("reason=\\\"bad_frame\\\"} 4"),
        "{metrics}"
    );
    assert!(metrics.contains("reason=\\\"protocol\\\"}"), "{metrics}");
    assert!(metrics.contains("atalaya_connected_agents 2"), "{metrics}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_over_the_cap_are_refused_at_the_door() {
    let collector = tokio::task::spawn_blocking(|| Collector::start_with("max_connections = 1"))
        .await
        .unwrap();
    let work = tempfile::tempdir().unwrap();
    let root = work.path().join("root");
    copy_tree(&fixture("alpine"), &root);
    let token = collector.token(2);
    // Enroll the extra identity first: at the cap, enrollment connections
    // are refused at the door too.
    let identity = enroll(&work.path().join("extra"), &token);
    let _honest = agent(work.path(), "honest", Some(&root), &token);
    let asset = eventually("the honest agent's asset", Duration::from_secs(30), || {
        collector
            .assets()
            .first()
            .and_then(|a| a["id"].as_str().map(str::to_owned))
    });

    // The agent's enrollment may have met its own data connection at the
    // door (both count), so refusals are counted from here.
    let limit = "atalaya_refused_total{reason=\"connection_limit\"}";
    let refused_before = collector.metric(limit);
    let mut endpoint = quinn::Endpoint::client(SocketAddr::from(([127, 0, 0, 1], 0))).unwrap();
    endpoint.set_default_client_config(atalaya_agent::tls::data_client_config(&identity).unwrap());
    let refused = endpoint
        .connect(collector.quic_address(), "127.0.0.1")
        .unwrap()
        .await;
    assert!(
        refused.is_err(),
        "a second connection was accepted over a cap of one"
    );
    assert_eq!(collector.metric(limit), refused_before + 1.0);
    let before = points(&collector, &asset);
    eventually("the honest agent to go on", Duration::from_secs(20), || {
        (points(&collector, &asset) > before).then_some(())
    });
}

/// Rules over the built-ins: the numbered agents' serial numbers (their
/// `memory.used_bytes`) pass 5 at their seventh sample, and `load.one`
/// would fire on an infinite load.
const NUMBER_RULES: &str = "[rule.numbers-high]\nkind = \"threshold\"\nseverity = \"warning\"\nseries = \"memory.used_bytes\"\nop = \">\"\nvalue = 5\nclear_value = 1\nfor_seconds = 0\n\n[rule.load-high]\nkind = \"threshold\"\nseverity = \"warning\"\nseries = \"load.one\"\nop = \">\"\nvalue = 50\nclear_value = 10\nfor_seconds = 0\n";

/// A sample taken `at` whose `memory.used_bytes` is `used` and load `load`.
fn shaped(at: i64, used: u64, load: f64) -> HealthSample {
    HealthSample {
        at: Timestamp(at),
        interval_ms: 1000,
        memory: MemoryUsage {
            used_bytes: used,
            ..MemoryUsage::default()
        },
        load: LoadAverage {
            one: load,
            ..LoadAverage::default()
        },
        ..HealthSample::default()
    }
}

fn open_incidents(c: &Collector) -> Vec<Value> {
    let (status, body) = c.get("/api/v1/incidents?status=active", Some(&c.admin));
    assert_eq!(status, 200, "{body}");
    body.as_array().cloned().unwrap_or_default()
}

#[test]
fn impossible_times_and_numbers_are_refused_and_acked() {
    let work = tempfile::tempdir().unwrap();
    let rules = work.path().join("rules.toml");
    std::fs::write(&rules, NUMBER_RULES).unwrap();
    let collector = Collector::start_with(&format!(
        "[incidents]\nrules_file = {:?}\ntick_seconds = 1\n",
        rules.display().to_string()
    ));
    let token = collector.token(3);
    let rt = runtime();
    let mut hostile = rt.block_on(NumberedAgent::start(work.path(), "hostile", &token, None));
    let mut honest: Vec<NumberedAgent> = ["honest-a", "honest-b"]
        .iter()
        .map(|name| rt.block_on(NumberedAgent::start(work.path(), name, &token, None)))
        .collect();

    // Everything a broken or hostile agent could put in a time or a value,
    // around one sample that is fine; every bad one would fire a rule.
    let now = Timestamp::now().0;
    let day = 86_400_000;
    hostile.push_samples(vec![
        shaped(i64::MIN, 1000, 99.0),
        shaped(now - 1000, 1, 1.0),
        shaped(i64::MAX, 1000, 99.0),
        shaped(now + day, 1000, 99.0),
        shaped(now - 31 * day, 1000, 99.0),
        shaped(now, 1000, f64::NAN),
        shaped(now, 1000, f64::INFINITY),
        shaped(now, 1000, f64::NEG_INFINITY),
    ]);
    hostile.push_message(|seq| {
        Message::Heartbeat(Heartbeat {
            seq,
            at: Timestamp(i64::MAX),
        })
    });
    hostile.push_message(|seq| {
        Message::UserReport(UserReport {
            seq,
            id: "from-the-future".into(),
            written_at: Timestamp(now + 365 * day),
            text: "this report was written next year".into(),
            user: None,
            uid: None,
        })
    });
    // Refused is still acknowledged: the agent is not made to send it again.
    rt.block_on(hostile.drained(Duration::from_secs(30)));

    for agent in &mut honest {
        for _ in 0..10 {
            agent.push_batch(6);
        }
    }
    for agent in &honest {
        rt.block_on(agent.drained(Duration::from_secs(30)));
        assert_eq!(agent.check_stored(&collector), Ok(60), "{}", agent.name);
    }
    let hostile_asset = collector.asset_named("hostile");
    assert_eq!(
        collector.points(&hostile_asset, SERIES),
        vec![(now - 1000, 1.0)],
        "only the hostile agent's one good sample is stored"
    );

    // The engine goes on: each honest agent's incident opens, and nothing
    // the hostile agent sent opened one.
    for agent in &honest {
        let asset = collector.asset_named(&agent.name);
        eventually(
            &format!("the incident of {}", agent.name),
            Duration::from_secs(30),
            || {
                open_incidents(&collector)
                    .into_iter()
                    .find(|i| i["asset"] == asset.as_str() && i["rule"] == "numbers-high")
            },
        );
    }
    let of_hostile: Vec<Value> = open_incidents(&collector)
        .into_iter()
        .filter(|i| i["asset"] == hostile_asset.as_str())
        .collect();
    assert!(of_hostile.is_empty(), "{of_hostile:?}");

    // Counted: four samples, a heartbeat and a report for their time,
    // three samples for their numbers.
    assert_eq!(
        collector.metric("atalaya_refused_total{reason=\"bad_time\"}"),
        6.0
    );
    assert_eq!(
        collector.metric("atalaya_refused_total{reason=\"bad_value\"}"),
        3.0
    );
    // Named in the agents listing and, once, in the log.
    let (_, agents) = collector.get("/api/v1/agents", Some(&collector.admin));
    let skew = |id: &str| {
        agents
            .as_array()
            .unwrap()
            .iter()
            .find(|a| a["id"] == id)
            .map(|a| a["clock_skew"].clone())
            .unwrap()
    };
    assert!(
        skew(&hostile.agent_id)["refused"].as_u64() == Some(6),
        "{agents}"
    );
    for agent in &honest {
        assert!(skew(&agent.agent_id).is_null(), "{agents}");
    }
    let log = collector.log();
    let notices = log
        .lines()
        .filter(|l| l.contains("refusing this agent's") && l.contains(&hostile.agent_id))
        .count();
    assert_eq!(notices, 1, "one notice a minute at most:\n{log}");
    assert!(
        !log.contains("panicked"),
        "nothing panicked in the collector:\n{log}"
    );
}

#[test]
fn impossible_inventory_and_gap_times_are_refused_and_acked() {
    let collector = Collector::start();
    let work = tempfile::tempdir().unwrap();
    let token = collector.token(2);
    let rt = runtime();
    let mut hostile = rt.block_on(NumberedAgent::start(work.path(), "hostile", &token, None));
    let mut honest = rt.block_on(NumberedAgent::start(work.path(), "honest", &token, None));
    let now = Timestamp::now().0;

    // Inventories taken at the ends of time, under another host name that
    // must not reach the store, and gaps and a damaged spool out of range;
    // one gap in range, which is stored.
    let mut renamed = Inventory::default();
    renamed.host.hostname = "renamed-at-the-end-of-time".into();
    let before = Inventory::default();
    hostile.push_message(|seq| {
        Message::InventorySnapshot(InventorySnapshot {
            seq,
            taken_at: Timestamp(i64::MIN),
            inventory: renamed.clone(),
        })
    });
    hostile.push_message(|seq| {
        Message::InventoryDelta(InventoryDelta {
            seq,
            taken_at: Timestamp(i64::MAX),
            delta: diff::diff(&before, &renamed),
        })
    });
    let gap = |seq, from, to| {
        Message::Gap(Gap {
            seq,
            batches: 1,
            samples: 1,
            from: Timestamp(from),
            to: Timestamp(to),
        })
    };
    hostile.push_message(|seq| gap(seq, i64::MIN, i64::MAX));
    hostile.push_message(|seq| gap(seq, now - 60_000, i64::MAX));
    hostile.push_message(|seq| gap(seq, now - 60_000, now - 1000));
    hostile.push_message(|seq| {
        Message::SpoolDamaged(SpoolDamaged {
            seq,
            found_at: Timestamp(i64::MAX),
            file: "spool/quarantine/1.seg".into(),
            reason: "found at the end of time".into(),
            bytes: 10,
            lost_bytes: 10,
        })
    });
    // Refused is still acknowledged: the agent is not made to send it again.
    rt.block_on(hostile.drained(Duration::from_secs(30)));

    for _ in 0..5 {
        honest.push_batch(6);
        honest.push_package();
    }
    rt.block_on(honest.drained(Duration::from_secs(30)));
    assert_eq!(honest.check_stored(&collector), Ok(30));

    // The hostile agent's asset keeps its first inventory, and its one
    // gap in range.
    let asset = collector.asset_named("hostile");
    let (_, inventory) = collector.get(
        &format!("/api/v1/assets/{asset}/inventory"),
        Some(&collector.admin),
    );
    assert_eq!(inventory["inventory"]["host"]["hostname"], "hostile");
    assert!(
        !collector
            .changes_text(&asset)
            .contains("renamed-at-the-end-of-time"),
        "{}",
        collector.changes_text(&asset)
    );
    let (_, gaps) = collector.get(
        &format!("/api/v1/assets/{asset}/gaps"),
        Some(&collector.admin),
    );
    assert_eq!(gaps.as_array().map(Vec::len), Some(1), "{gaps}");

    // Counted: two inventories, two gaps and the damaged spool.
    assert_eq!(
        collector.metric("atalaya_refused_total{reason=\"bad_time\"}"),
        5.0
    );
    let log = collector.log();
    let notices = log
        .lines()
        .filter(|l| l.contains("refusing this agent's") && l.contains(&hostile.agent_id))
        .count();
    assert_eq!(notices, 1, "one notice a minute at most:\n{log}");
    assert!(
        !log.contains("panicked"),
        "nothing panicked in the collector:\n{log}"
    );
    assert!(
        hostile.is_connected() && honest.is_connected(),
        "both sessions are up"
    );
}

/// A data session that sends `count` one-sample batches as fast as the
/// collector takes them, reading no ack until it has sent them all; returns
/// the last ack, once it covers all of them, and the connection, still open.
async fn flood_records(
    identity: AgentIdentity,
    addr: SocketAddr,
    count: u64,
) -> (u64, quinn::Endpoint, quinn::Connection) {
    let mut endpoint = quinn::Endpoint::client(SocketAddr::from(([127, 0, 0, 1], 0))).unwrap();
    endpoint.set_default_client_config(atalaya_agent::tls::data_client_config(&identity).unwrap());
    let conn = endpoint.connect(addr, "127.0.0.1").unwrap().await.unwrap();
    let (mut send, mut recv) = conn.open_bi().await.unwrap();
    let hello = Message::Hello(Hello {
        agent_version: "0.0.0-flood".into(),
        protocol_version: proto::PROTOCOL_VERSION,
        last_acked: 0,
        features: Vec::new(),
    });
    send.write_all(&proto::encode(&hello).unwrap())
        .await
        .unwrap();
    let start = Timestamp::now().0 - 600_000;
    for seq in 1..=count {
        let batch = Message::MetricBatch(MetricBatch {
            seq,
            samples: vec![shaped(start + seq as i64, seq, 1.0)],
        });
        // Blocks whenever the collector stops reading (flow control).
        send.write_all(&proto::encode(&batch).unwrap())
            .await
            .unwrap();
    }
    let mut frames = FrameReader::new();
    let mut buf = vec![0u8; 64 * 1024];
    let mut acked = 0;
    while acked < count {
        let n = recv
            .read(&mut buf)
            .await
            .unwrap()
            .expect("the collector closed the flooding session");
        frames.push(&buf[..n]);
        while let Some(message) = frames.next_message().unwrap() {
            if let Message::Ack(ack) = message {
                acked = ack.seq;
            }
        }
    }
    (acked, endpoint, conn)
}

#[test]
fn floods_of_connections_and_records_leave_honest_agents_whole() {
    const CAP: usize = 8;
    const FLOOD: u64 = 5000;
    let collector = Collector::start_with(&format!("max_connections = {CAP}"));
    let work = tempfile::tempdir().unwrap();
    let token = collector.token(3);
    let identity = enroll(&work.path().join("flooder"), &token);
    let rt = runtime();
    let fleet = vec![("steady-a".to_owned(), None), ("steady-b".to_owned(), None)];
    let honest = rt.block_on(start_shared(work.path(), &token, fleet));
    let stop = Arc::new(AtomicBool::new(false));
    let producers = produce_all(&rt, &honest, &stop, 6, Duration::from_millis(20), 0);
    let addr = collector.quic_address();
    let flood = rt.spawn(flood_records(identity, addr, FLOOD));
    eventually(
        "two honest sessions and the flooder's",
        Duration::from_secs(30),
        || (collector.metric("atalaya_connected_agents") == 3.0).then_some(()),
    );

    // Three times the cap of connections, one after another, each kept
    // open: enrollment connections that never send their request.
    let limit = "atalaya_refused_total{reason=\"connection_limit\"}";
    let refused_before = collector.metric(limit);
    let ca = EnrollmentToken::decode(&token).unwrap().ca_sha256;
    let (endpoint, held, refused) = rt.block_on(async {
        let mut endpoint = quinn::Endpoint::client(SocketAddr::from(([127, 0, 0, 1], 0))).unwrap();
        endpoint.set_default_client_config(atalaya_agent::tls::enroll_client_config(ca).unwrap());
        let mut held = Vec::new();
        let mut refused = 0;
        for _ in 0..3 * CAP {
            match endpoint.connect(addr, "127.0.0.1").unwrap().await {
                Ok(conn) => held.push(conn),
                Err(_) => refused += 1,
            }
        }
        (endpoint, held, refused)
    });
    assert_eq!(
        held.len(),
        CAP - 3,
        "the three sessions and these fill the cap"
    );
    assert_eq!(refused, 3 * CAP - held.len());
    assert_eq!(collector.metric("atalaya_open_connections"), CAP as f64);
    assert_eq!(collector.metric(limit), refused_before + refused as f64);

    // Every flooded record is stored in the end (the last ack covers it),
    // and the honest agents lost nothing meanwhile.
    let acked = rt
        .block_on(async { tokio::time::timeout(Duration::from_secs(120), flood).await })
        .expect("the flood was not acknowledged in time")
        .unwrap();
    let (acked, flood_endpoint, flood_connection) = acked;
    assert_eq!(acked, FLOOD);
    stop.store(true, Ordering::Release);
    for producer in producers {
        rt.block_on(producer).unwrap();
    }
    rt.block_on(async move {
        drop((held, endpoint, flood_connection, flood_endpoint));
    });
    for agent in &honest {
        let agent = agent.lock().unwrap();
        rt.block_on(agent.drained(Duration::from_secs(60)));
        let stored = agent.check_stored(&collector).unwrap();
        assert!(stored >= 6, "{}: {stored}", agent.name);
    }
    for agent in &honest {
        let agent = agent.lock().unwrap();
        assert!(agent.is_connected(), "{} kept its session", agent.name);
    }
}
