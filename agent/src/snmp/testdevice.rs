//! A small SNMP device served in-process for the poller's tests: the
//! system group and one ethernet interface whose octet counters grow with
//! real time, answering v2c community `public` on a loopback address.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Instant;

use async_snmp::agent::Agent;
use async_snmp::handler::{
    BoxFuture, GetNextResult, GetResult, HandlerResult, MibHandler, RequestContext,
};
use async_snmp::{Oid, Value, VarBind};

use crate::snmp::testvb::{b, s};

/// The community the device answers.
pub const COMMUNITY: &str = "public";

/// A running simulated device; it stops when dropped.
pub struct TestDevice {
    /// Where it answers.
    pub addr: SocketAddr,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for TestDevice {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl TestDevice {
    /// Serves a device named `sys_name` on `ip`, on a free port (or `port`).
    pub async fn start(ip: IpAddr, port: u16, sys_name: &str) -> std::io::Result<TestDevice> {
        let handler = Arc::new(Handler {
            sys_name: sys_name.to_owned(),
            started: Instant::now(),
        });
        let agent = Agent::builder()
            .bind(SocketAddr::new(ip, port).to_string())
            .community(COMMUNITY.as_bytes().to_vec())
            .handler(Oid::from_slice(&[1, 3, 6, 1, 2, 1]), handler)
            .allow_all_access()
            .build()
            .await
            .map_err(|e| std::io::Error::other(e.to_string()))?;
        let addr = agent.local_addr();
        let task = tokio::spawn(async move {
            let _ = agent.run().await;
        });
        Ok(TestDevice { addr, task })
    }
}

struct Handler {
    sys_name: String,
    started: Instant,
}

impl Handler {
    /// Every object, sorted by OID (for GETNEXT).
    fn objects(&self) -> Vec<(Oid, Value)> {
        let elapsed = self.started.elapsed();
        let ticks = u32::try_from(elapsed.as_millis() / 10).unwrap_or(u32::MAX) + 100_000;
        // 1 MB/s in, 2 MB/s out.
        let octets = u32::try_from(elapsed.as_millis() * 1_000).unwrap_or(u32::MAX);
        let mut out = vec![
            (vec![1, 1, 0], s("Simulated switch")),
            (
                vec![1, 2, 0],
                Value::ObjectIdentifier(Oid::from_slice(&[1, 3, 6, 1, 4, 1, 9, 1, 1])),
            ),
            (vec![1, 3, 0], Value::TimeTicks(ticks)),
            (vec![1, 4, 0], s("noc@example.net")),
            (vec![1, 5, 0], s(&self.sys_name)),
            (vec![1, 6, 0], s("lab")),
            (vec![2, 2, 1, 1, 1], Value::Integer(1)),
            (vec![2, 2, 1, 2, 1], s("eth0")),
            (vec![2, 2, 1, 3, 1], Value::Integer(6)),
            (vec![2, 2, 1, 5, 1], Value::Gauge32(1_000_000_000)),
            (vec![2, 2, 1, 6, 1], b(&[0x02, 0, 0, 0, 0, 1])),
            (vec![2, 2, 1, 7, 1], Value::Integer(1)),
            (vec![2, 2, 1, 8, 1], Value::Integer(1)),
            (vec![2, 2, 1, 10, 1], Value::Counter32(octets)),
            (
                vec![2, 2, 1, 16, 1],
                Value::Counter32(octets.wrapping_mul(2)),
            ),
        ];
        let mut objects: Vec<(Oid, Value)> = out
            .drain(..)
            .map(|(tail, v)| (Oid::new([&[1, 3, 6, 1, 2, 1][..], &tail].concat()), v))
            .collect();
        objects.sort_by(|a, b| a.0.cmp(&b.0));
        objects
    }
}

impl MibHandler for Handler {
    fn get<'a>(
        &'a self,
        _ctx: &'a RequestContext,
        oid: &'a Oid,
    ) -> BoxFuture<'a, HandlerResult<GetResult>> {
        let found = self
            .objects()
            .into_iter()
            .find(|(o, _)| o == oid)
            .map_or(GetResult::NoSuchObject, |(_, v)| GetResult::Value(v));
        Box::pin(async move { Ok(found) })
    }

    fn get_next<'a>(
        &'a self,
        _ctx: &'a RequestContext,
        oid: &'a Oid,
    ) -> BoxFuture<'a, HandlerResult<GetNextResult>> {
        let found = self
            .objects()
            .into_iter()
            .find(|(o, _)| o > oid)
            .map_or(GetNextResult::EndOfMibView, |(o, v)| {
                GetNextResult::Value(VarBind::new(o, v))
            });
        Box::pin(async move { Ok(found) })
    }
}
