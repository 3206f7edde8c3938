//! Discovery: one sweep of address ranges for SNMP devices, when the
//! collector asks for it (never on a schedule).
//!
//! Each address gets one GET of `sysDescr`, `sysObjectID` and `sysName`
//! per credential, in order, until one answers; no retry, at most
//! `concurrency` addresses at once. A request over
//! [`MAX_SWEEP_ADDRESSES`](atalaya_common::model::device::ranges::MAX_SWEEP_ADDRESSES)
//! is refused before anything is sent.

use std::net::IpAddr;
use std::sync::Arc;

use async_snmp::Oid;
use atalaya_common::model::device::ranges::{RangeError, parse_ranges};
use atalaya_common::model::{Credentials, DeviceSpec};
use atalaya_common::proto::{DiscoveredDevice, DiscoveryRequest};
use tokio::sync::Semaphore;
use tokio::task::JoinSet;

use super::client::{SharedTransport, SnmpClient};
use super::walk::SnmpSource;
use super::{inventory, oids};

/// Addresses asked at once, at most, whatever the request says.
pub const MAX_CONCURRENCY: u32 = 256;
/// Credentials one request may carry, at most.
pub const MAX_CREDENTIALS: usize = 16;

/// Why a sweep was not made.
#[derive(Debug, thiserror::Error)]
pub enum SweepError {
    /// The ranges do not parse or are too large.
    #[error(transparent)]
    Ranges(#[from] RangeError),
    /// No credential to try, or too many.
    #[error("a discovery needs between 1 and {MAX_CREDENTIALS} credentials, got {0}")]
    Credentials(usize),
}

/// What a sweep did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Swept {
    /// Addresses asked.
    pub addresses: u32,
    /// Devices that answered.
    pub found: u32,
}

/// Sweeps the ranges of `req` on `transport`, calling `found` for each
/// device that answers, as it answers.
pub async fn sweep(
    req: &DiscoveryRequest,
    transport: &SharedTransport,
    mut found: impl FnMut(DiscoveredDevice),
) -> Result<Swept, SweepError> {
    let ranges = parse_ranges(&req.ranges)?;
    if req.credentials.is_empty() || req.credentials.len() > MAX_CREDENTIALS {
        return Err(SweepError::Credentials(req.credentials.len()));
    }
    let credentials: Arc<[Credentials]> = req.credentials.clone().into();
    let permits = Arc::new(Semaphore::new(
        req.concurrency.clamp(1, MAX_CONCURRENCY) as usize
    ));
    let mut set = JoinSet::new();
    let mut swept = Swept {
        addresses: 0,
        found: 0,
    };
    let mut take = |got: Option<DiscoveredDevice>, swept: &mut Swept| {
        if let Some(d) = got {
            swept.found += 1;
            found(d);
        }
    };
    for address in ranges.iter().flat_map(|r| r.addresses()) {
        let Ok(permit) = permits.clone().acquire_owned().await else {
            break;
        };
        swept.addresses += 1;
        let (transport, credentials) = (transport.clone(), credentials.clone());
        let (port, timeout_ms) = (req.port, req.timeout_ms.max(1));
        set.spawn(async move {
            let got = ask(address, port, timeout_ms, &credentials, &transport).await;
            drop(permit);
            got
        });
        while let Some(done) = set.try_join_next() {
            take(done.ok().flatten(), &mut swept);
        }
    }
    while let Some(done) = set.join_next().await {
        take(done.ok().flatten(), &mut swept);
    }
    Ok(swept)
}

/// Asks one address with each credential until one answers.
async fn ask(
    address: IpAddr,
    port: u16,
    timeout_ms: u32,
    credentials: &[Credentials],
    transport: &SharedTransport,
) -> Option<DiscoveredDevice> {
    let oids: Vec<Oid> = [oids::SYS_DESCR, oids::SYS_OBJECT_ID, oids::SYS_NAME]
        .iter()
        .map(|a| Oid::from_slice(a))
        .collect();
    for (index, credentials) in credentials.iter().enumerate() {
        let spec = DeviceSpec {
            name: address.to_string(),
            address: address.to_string(),
            port,
            credentials: credentials.clone(),
            poll_interval_seconds: 1,
            timeout_ms,
            retries: 0,
        };
        let Ok(client) = SnmpClient::build(&spec, transport).await else {
            continue;
        };
        let Ok(bindings) = client.get(&oids).await else {
            continue;
        };
        let system = inventory::build(&bindings).system;
        if system.descr.is_empty() && system.object_id.is_empty() && system.name.is_empty() {
            // An answer of noSuchObject everywhere: not a device we can poll.
            continue;
        }
        return Some(DiscoveredDevice {
            address: address.to_string(),
            credential: u32::try_from(index).unwrap_or(u32::MAX),
            sys_name: system.name,
            sys_descr: system.descr,
            object_id: system.object_id,
            vendor: system.vendor,
        });
    }
    None
}

#[cfg(test)]
mod tests {
    use atalaya_common::model::Secret;

    use super::*;
    use crate::snmp::testdevice::{COMMUNITY, TestDevice};

    fn request(ranges: &[&str], port: u16, communities: &[&str]) -> DiscoveryRequest {
        DiscoveryRequest {
            id: 1,
            ranges: ranges.iter().map(|r| (*r).to_owned()).collect(),
            port,
            credentials: communities
                .iter()
                .map(|c| Credentials::V2c {
                    community: Secret::new(c),
                })
                .collect(),
            concurrency: 8,
            timeout_ms: 300,
        }
    }

    #[tokio::test]
    async fn a_sweep_finds_the_devices_that_answer_and_names_the_credential() {
        let one = TestDevice::start([127, 0, 0, 3].into(), 0, "sw-three")
            .await
            .unwrap();
        let port = one.addr.port();
        let _two = TestDevice::start([127, 0, 0, 6].into(), port, "sw-six")
            .await
            .unwrap();
        let transport = SharedTransport::bind().await.unwrap();
        let mut found = Vec::new();
        let req = request(&["127.0.0.0/29"], port, &["wrong", COMMUNITY]);
        let swept = sweep(&req, &transport, |d| found.push(d)).await.unwrap();
        assert_eq!(
            swept,
            Swept {
                addresses: 6,
                found: 2
            }
        );
        found.sort_by(|a, b| a.address.cmp(&b.address));
        let seen: Vec<(&str, u32, &str)> = found
            .iter()
            .map(|d| (d.address.as_str(), d.credential, d.sys_name.as_str()))
            .collect();
        assert_eq!(
            seen,
            [("127.0.0.3", 1, "sw-three"), ("127.0.0.6", 1, "sw-six")]
        );
        assert_eq!(found[0].vendor.as_deref(), Some("Cisco"));
    }

    #[tokio::test]
    async fn an_oversized_or_credential_less_request_is_refused_unsent() {
        let transport = SharedTransport::bind().await.unwrap();
        let big = request(&["10.0.0.0/19"], 161, &["public"]);
        let err = sweep(&big, &transport, |_| {}).await.unwrap_err();
        assert!(err.to_string().contains("at most 4096"), "{err}");
        let none = request(&["10.0.0.1"], 161, &[]);
        assert!(matches!(
            sweep(&none, &transport, |_| {}).await,
            Err(SweepError::Credentials(0))
        ));
    }
}
