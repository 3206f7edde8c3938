//! One async-snmp client per device, all on one shared UDP socket.
//!
//! async-snmp demultiplexes the answers of many targets arriving on one
//! socket (by request ID, and community or USM identity), so a poller of
//! thousands of devices holds one socket and one receive task, not one per
//! device. SNMPv3 discovery results are shared through one engine cache.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use async_snmp::{
    Auth, Client, EngineCache, ErrorStatus, Oid, Retry, UdpHandle, UdpTransport, UsmConfig, VarBind,
};
use atalaya_common::model::{AuthProtocol, Credentials, DeviceSpec, PrivProtocol};

use super::walk::SnmpSource;

/// A request that failed, as the walk and the poller need to tell apart.
#[derive(Debug, thiserror::Error)]
pub enum RequestError {
    /// No answer within the timeout, after every retry.
    #[error("no answer")]
    Timeout,
    /// The device answered `tooBig`.
    #[error("the device answered tooBig")]
    TooBig,
    /// The device answered `noSuchName` (SNMPv1's end of a walk).
    #[error("the device answered noSuchName")]
    NoSuchName,
    /// The device answered `genErr`, which some agents (net-snmp over
    /// SNMPv3 among them) send for a GETBULK answer larger than they can send.
    #[error("the device answered genErr")]
    GenErr,
    /// Anything else async-snmp reported.
    #[error(transparent)]
    Snmp(Box<async_snmp::Error>),
}

impl From<Box<async_snmp::Error>> for RequestError {
    fn from(e: Box<async_snmp::Error>) -> Self {
        match e.exchange_source() {
            async_snmp::Error::Timeout { .. } => RequestError::Timeout,
            async_snmp::Error::Snmp {
                status: ErrorStatus::TooBig,
                ..
            } => RequestError::TooBig,
            async_snmp::Error::Snmp {
                status: ErrorStatus::NoSuchName,
                ..
            } => RequestError::NoSuchName,
            async_snmp::Error::Snmp {
                status: ErrorStatus::GenErr,
                ..
            } => RequestError::GenErr,
            _ => RequestError::Snmp(e),
        }
    }
}

/// Why a device's client could not be built.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The SNMPv3 credentials are unusable (e.g. a password under 8 characters).
    #[error("device {device}: unusable SNMPv3 credentials: {reason}")]
    Credentials {
        /// The device's name.
        device: String,
        /// What async-snmp said.
        reason: String,
    },
    /// SNMPv3 privacy was configured without authentication.
    #[error("device {device}: SNMPv3 privacy needs authentication")]
    PrivacyWithoutAuth {
        /// The device's name.
        device: String,
    },
    /// The address did not resolve, or the client could not be set up on it.
    #[error("device {device}: cannot reach {address}: {source}")]
    Target {
        /// The device's name.
        device: String,
        /// Its address and port.
        address: String,
        /// What async-snmp said.
        #[source]
        source: Box<async_snmp::Error>,
    },
}

/// The socket and SNMPv3 engine cache every device client shares.
#[derive(Clone)]
pub struct SharedTransport {
    udp: UdpTransport,
    engines: Arc<EngineCache>,
}

impl std::fmt::Debug for SharedTransport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SharedTransport")
            .field("local_addr", &self.udp.local_addr())
            .finish()
    }
}

impl SharedTransport {
    /// Binds the socket: dual-stack where the host has IPv6, else IPv4.
    pub async fn bind() -> Result<Self, Box<async_snmp::Error>> {
        let udp = match udp_on("[::]:0").await {
            Ok(t) => t,
            Err(_) => udp_on("0.0.0.0:0").await?,
        };
        Ok(SharedTransport {
            udp,
            engines: Arc::new(EngineCache::new()),
        })
    }

    /// The local address of the shared socket.
    pub fn local_addr(&self) -> SocketAddr {
        self.udp.local_addr()
    }
}

/// The shared socket. SNMPv3 agents size their answers to the `msgMaxSize`
/// advertised: the largest UDP payload lets a GETBULK over v3 bring as many
/// rows as over v2c (the walk backs off where the network cannot carry it).
/// A 4 MiB receive buffer absorbs the answers of many devices at once.
async fn udp_on(addr: &str) -> Result<UdpTransport, Box<async_snmp::Error>> {
    UdpTransport::builder()
        .bind(addr)
        .receive_capacity(async_snmp::MAX_UDP_PAYLOAD)
        .recv_buffer_size(4 << 20)
        .build()
        .await
}

/// The client of one device.
pub struct SnmpClient {
    client: Client<UdpHandle>,
    bulk: bool,
    v3: bool,
}

impl std::fmt::Debug for SnmpClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SnmpClient")
            .field("peer", &self.client.peer_addr())
            .field("bulk", &self.bulk)
            .finish()
    }
}

impl SnmpClient {
    /// Builds the client of `spec` on the shared socket (resolving its address).
    pub async fn build(spec: &DeviceSpec, shared: &SharedTransport) -> Result<Self, ClientError> {
        let auth = auth_of(spec)?;
        let bulk = !matches!(spec.credentials, Credentials::V1 { .. });
        let v3 = matches!(spec.credentials, Credentials::V3 { .. });
        // Devices that break RFC 3414 answer an authenticated request with
        // an unauthenticated Report; taking those in is how a wrong password
        // (usmStatsWrongDigests) or unknown user shows as such instead of a
        // timeout. Strict source checking keeps off-path injection out.
        let client = Client::builder((spec.address.clone(), spec.port), auth)
            .request_timeout(Duration::from_millis(u64::from(spec.timeout_ms)))
            .retry(retry_of(spec.retries))
            .engine_cache(shared.engines.clone())
            .allow_unauthenticated_v3_time_correction(true)
            .strict_source(true)
            .build_with(&shared.udp)
            .await
            .map_err(|source| ClientError::Target {
                device: spec.name.clone(),
                address: format!("{}:{}", spec.address, spec.port),
                source,
            })?;
        Ok(SnmpClient { client, bulk, v3 })
    }

    /// The device's resolved address.
    pub fn peer(&self) -> SocketAddr {
        self.client.peer_addr()
    }

    /// Forgets the device's SNMPv3 engine and discovers it again (after it
    /// was replaced, or rebooted without keeping its boot counter).
    pub async fn rediscover(&self) -> Result<(), RequestError> {
        if !self.v3 {
            return Ok(());
        }
        self.client.rediscover_engine().await.map_err(Into::into)
    }
}

impl SnmpSource for SnmpClient {
    fn supports_bulk(&self) -> bool {
        self.bulk
    }

    async fn get(&self, oids: &[Oid]) -> Result<Vec<VarBind>, RequestError> {
        Ok(self.client.get_many(oids).await?.varbinds)
    }

    async fn get_next(&self, oids: &[Oid]) -> Result<Vec<VarBind>, RequestError> {
        Ok(self.client.get_next_many(oids).await?.varbinds)
    }

    async fn get_bulk(&self, oids: &[Oid], reps: u32) -> Result<Vec<VarBind>, RequestError> {
        Ok(self.client.get_bulk(oids, 0, reps).await?)
    }
}

fn retry_of(retries: u32) -> Retry {
    Retry::fixed(retries.min(async_snmp::MAX_RETRIES), Duration::ZERO)
        .unwrap_or_else(|_| Retry::none())
}

/// The async-snmp authentication for a device's credentials.
pub(crate) fn auth_of(spec: &DeviceSpec) -> Result<Auth, ClientError> {
    match &spec.credentials {
        Credentials::V1 { community } => Ok(Auth::v1(community.expose())),
        Credentials::V2c { community } => Ok(Auth::v2c(community.expose())),
        Credentials::V3 {
            user,
            auth,
            privacy,
        } => {
            let bad = |e: async_snmp::CryptoError| ClientError::Credentials {
                device: spec.name.clone(),
                reason: e.to_string(),
            };
            let usm = UsmConfig::new(user.clone().into_bytes());
            let usm = match (auth, privacy) {
                (None, None) => usm,
                (Some((a, pa)), None) => usm.auth(auth_protocol(*a), pa.expose()).map_err(bad)?,
                (Some((a, pa)), Some((p, pp))) => usm
                    .auth_priv(
                        auth_protocol(*a),
                        pa.expose(),
                        priv_protocol(*p),
                        pp.expose(),
                    )
                    .map_err(bad)?,
                (None, Some(_)) => {
                    return Err(ClientError::PrivacyWithoutAuth {
                        device: spec.name.clone(),
                    });
                }
            };
            Ok(Auth::from(usm))
        }
    }
}

/// async-snmp's name for an authentication protocol.
pub(crate) fn auth_protocol(p: AuthProtocol) -> async_snmp::AuthProtocol {
    match p {
        AuthProtocol::Md5 => async_snmp::AuthProtocol::Md5,
        AuthProtocol::Sha1 => async_snmp::AuthProtocol::Sha1,
        AuthProtocol::Sha224 => async_snmp::AuthProtocol::Sha224,
        AuthProtocol::Sha256 => async_snmp::AuthProtocol::Sha256,
        AuthProtocol::Sha384 => async_snmp::AuthProtocol::Sha384,
        AuthProtocol::Sha512 => async_snmp::AuthProtocol::Sha512,
    }
}

/// async-snmp's name for a privacy protocol.
pub(crate) fn priv_protocol(p: PrivProtocol) -> async_snmp::PrivProtocol {
    match p {
        PrivProtocol::Des => async_snmp::PrivProtocol::Des,
        PrivProtocol::Aes128 => async_snmp::PrivProtocol::Aes128,
        PrivProtocol::Aes192 => async_snmp::PrivProtocol::Aes192Reeder,
        PrivProtocol::Aes256 => async_snmp::PrivProtocol::Aes256Reeder,
    }
}

/// Sends an SNMPv3 noAuthNoPriv GET for a user no device has, to learn
/// whether the device's SNMP engine answers at all: any Report back means
/// it is up. Used to tell a wrong community from a dead device.
pub async fn engine_answers(
    address: SocketAddr,
    timeout: Duration,
    shared: &SharedTransport,
) -> bool {
    let probe = Client::builder(address, UsmConfig::new(&b"atalaya-probe"[..]))
        .request_timeout(timeout)
        .retry(Retry::none())
        .build_with(&shared.udp)
        .await;
    let Ok(probe) = probe else { return false };
    let sys_up_time = Oid::from_slice(&[1, 3, 6, 1, 2, 1, 1, 3, 0]);
    match probe.get(&sys_up_time).await {
        Ok(_) => true,
        Err(e) => !matches!(
            e.exchange_source(),
            async_snmp::Error::Timeout { .. } | async_snmp::Error::Network { .. }
        ),
    }
}
