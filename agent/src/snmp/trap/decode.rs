//! Decoding trap and inform messages, sans I/O: [`decode_trap`] reads a
//! datagram as far as it can be read without credentials, and
//! [`open_v3`] authenticates (and decrypts) an SNMPv3 one with the keys of
//! the device it claims to come from.
//!
//! Both are pure functions of their input, so they are fuzzed and tested
//! on garbage: any input gives a value or an error, never a panic.

use async_snmp::ber::Decoder;
use async_snmp::message::{CommunityPdu, Message, ScopedPdu, V3MessageData};
use async_snmp::pdu::{GenericTrap, Pdu, PduType, TrapV1Pdu};
use async_snmp::v3::auth::verify_message;
use async_snmp::v3::{LocalizedKey, PrivKey, UsmSecurityParams};
use async_snmp::{DecodeConfig, SecurityLevel, Value, VarBind, Version};
use atalaya_common::model::device::trap::TrapVersion;
use bytes::Bytes;

/// `sysUpTime.0`, the first binding of an SNMPv2 notification.
const SYS_UP_TIME_0: &[u32] = &[1, 3, 6, 1, 2, 1, 1, 3, 0];
/// `snmpTrapOID.0`, the second.
const SNMP_TRAP_OID_0: &[u32] = &[1, 3, 6, 1, 6, 3, 1, 1, 4, 1, 0];

/// A notification's content, whatever the version it came in.
#[derive(Debug, Clone, PartialEq)]
pub struct Notice {
    /// An InformRequest, to be answered.
    pub inform: bool,
    /// Its request id (`None` for an SNMPv1 trap).
    pub request_id: Option<i32>,
    /// The sender's `sysUpTime`, hundredths of a second.
    pub uptime: Option<u32>,
    /// `snmpTrapOID`, dotted; for SNMPv1, translated as RFC 3584 says.
    pub trap_oid: String,
    /// The SNMPv1 generic trap number (`None` for SNMPv2 notifications).
    pub generic: Option<i32>,
    /// The bindings after `sysUpTime.0` and `snmpTrapOID.0`.
    pub varbinds: Vec<VarBind>,
    /// Every binding as received, for an inform's response.
    pub all: Vec<VarBind>,
}

/// A datagram read without credentials.
#[derive(Debug, Clone)]
pub enum Decoded {
    /// SNMPv1 or v2c: a community and the notification, in clear.
    Community {
        /// `V1` or `V2c`.
        version: TrapVersion,
        /// The community the message carries (checked by the caller).
        community: Bytes,
        /// The notification.
        notice: Notice,
    },
    /// SNMPv3: to be opened with [`open_v3`].
    V3(V3Message),
}

/// An SNMPv3 message as far as it reads without keys.
#[derive(Debug, Clone)]
pub struct V3Message {
    /// The whole datagram (the digest covers it).
    whole: Bytes,
    /// Where the digest is, and its length.
    auth_at: Option<(usize, usize)>,
    /// `msgAuthoritativeEngineID`: the sender's, for a trap.
    pub engine_id: Bytes,
    /// `msgAuthoritativeEngineBoots`.
    pub engine_boots: u32,
    /// `msgAuthoritativeEngineTime`.
    pub engine_time: u32,
    /// `msgUserName`.
    pub user: Bytes,
    /// The message's security level.
    pub level: SecurityLevel,
    priv_params: Bytes,
    data: V3MessageData,
}

/// Why a datagram is not a notification Atalaya takes.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    /// Not SNMP, or SNMP that does not decode.
    #[error("not a decodable SNMP message: {0}")]
    Malformed(String),
    /// SNMP, but not a trap or an inform (a request sent to the trap port).
    #[error("a {0:?} PDU, not a notification")]
    NotANotification(PduType),
    /// A notification without the `sysUpTime.0`/`snmpTrapOID.0` bindings it must start with.
    #[error("a notification without sysUpTime and snmpTrapOID")]
    NoTrapOid,
    /// An SNMPv3 engine discovery, which only a sender of SNMPv3 informs
    /// makes (answering it would need an engine of the agent's own).
    #[error("an SNMPv3 engine discovery request")]
    V3Discovery,
}

/// Why an SNMPv3 notification was not accepted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum V3Error {
    /// Its user is not the device's.
    #[error("unknown user")]
    UnknownUser,
    /// Its security level is not one the device's credentials allow.
    #[error("security level {0:?} does not match the device's credentials")]
    Level(SecurityLevel),
    /// The digest does not match: wrong authentication password.
    #[error("wrong digest")]
    WrongDigest,
    /// It does not decrypt to a PDU: wrong privacy password.
    #[error("decryption failed")]
    Decryption,
    /// Authenticated, but the content is no notification.
    #[error(transparent)]
    Content(DecodeError),
}

/// The keys of a device's user, localized for one engine id.
#[derive(Debug)]
pub struct LocalKeys {
    /// `msgUserName` the device uses.
    pub user: Vec<u8>,
    /// Authentication key (`None`: the device is noAuthNoPriv).
    pub auth: Option<LocalizedKey>,
    /// Privacy key (`None`: no privacy).
    pub privacy: Option<PrivKey>,
}

impl LocalKeys {
    fn level(&self) -> SecurityLevel {
        match (&self.auth, &self.privacy) {
            (None, _) => SecurityLevel::NoAuthNoPriv,
            (Some(_), None) => SecurityLevel::AuthNoPriv,
            (Some(_), Some(_)) => SecurityLevel::AuthPriv,
        }
    }
}

/// Reads a datagram as far as it can be read without credentials.
pub fn decode_trap(bytes: &[u8]) -> Result<Decoded, DecodeError> {
    let whole = Bytes::copy_from_slice(bytes);
    let message = Message::decode(whole.clone(), DecodeConfig::default())
        .map_err(|e| DecodeError::Malformed(e.to_string()))?
        .value;
    match message {
        Message::Community(m) => {
            let (version, community, pdu) = m.into_parts();
            let version = match version {
                Version::V1 => TrapVersion::V1,
                _ => TrapVersion::V2c,
            };
            let notice = match pdu {
                CommunityPdu::TrapV1(trap) => v1_notice(&trap)?,
                CommunityPdu::Standard(pdu) => v2_notice(pdu)?,
            };
            Ok(Decoded::Community {
                version,
                community: Bytes::copy_from_slice(community.as_bytes()),
                notice,
            })
        }
        Message::V3(m) => {
            let usm =
                UsmSecurityParams::decode(m.security_params().clone(), DecodeConfig::default())
                    .map_err(|e| DecodeError::Malformed(e.to_string()))?
                    .value;
            let level = m.security_level();
            if let V3MessageData::Plaintext(scoped) = m.data()
                && level == SecurityLevel::NoAuthNoPriv
                && usm.engine_id().is_empty()
                && !scoped.pdu.is_notification()
            {
                return Err(DecodeError::V3Discovery);
            }
            let auth_at = if level.requires_auth() {
                let at = UsmSecurityParams::find_auth_params_offset(bytes)
                    .ok_or_else(|| DecodeError::Malformed("no authentication parameters".into()))?;
                Some(at)
            } else {
                None
            };
            Ok(Decoded::V3(V3Message {
                whole,
                auth_at,
                engine_id: usm.engine_id().clone(),
                engine_boots: usm.engine_boots(),
                engine_time: usm.engine_time(),
                user: usm.username().clone(),
                level,
                priv_params: usm.priv_params().clone(),
                data: m.data().clone(),
            }))
        }
    }
}

/// Authenticates and decrypts an SNMPv3 notification with `keys` (the
/// device's, localized for [`V3Message::engine_id`]), then reads it.
/// Time-window checks are the caller's: they need a clock.
pub fn open_v3(m: &V3Message, keys: &LocalKeys) -> Result<Notice, V3Error> {
    if m.user.as_ref() != keys.user.as_slice() {
        return Err(V3Error::UnknownUser);
    }
    // A device with authentication sends authenticated messages; a level
    // above what its credentials have cannot be checked.
    let allowed = match keys.level() {
        SecurityLevel::NoAuthNoPriv => m.level == SecurityLevel::NoAuthNoPriv,
        SecurityLevel::AuthNoPriv => m.level == SecurityLevel::AuthNoPriv,
        SecurityLevel::AuthPriv => m.level != SecurityLevel::NoAuthNoPriv,
    };
    if !allowed {
        return Err(V3Error::Level(m.level));
    }
    if let (Some(key), Some((at, len))) = (&keys.auth, m.auth_at) {
        let good = verify_message(key, &m.whole, at, len).unwrap_or(false);
        if !good {
            return Err(V3Error::WrongDigest);
        }
    }
    let scoped = match (&m.data, &keys.privacy) {
        (V3MessageData::Plaintext(scoped), _) => scoped.clone(),
        (V3MessageData::Encrypted(cipher), Some(key)) => {
            let plain = key
                .decrypt(cipher, m.engine_boots, m.engine_time, &m.priv_params)
                .map_err(|_| V3Error::Decryption)?;
            let mut decoder = Decoder::new(plain);
            ScopedPdu::decode(&mut decoder).map_err(|_| V3Error::Decryption)?
        }
        (V3MessageData::Encrypted(_), None) => return Err(V3Error::Level(m.level)),
    };
    v2_notice(scoped.pdu).map_err(V3Error::Content)
}

/// An SNMPv1 Trap-PDU, with its OID translated as RFC 3584 says.
fn v1_notice(trap: &TrapV1Pdu) -> Result<Notice, DecodeError> {
    let trap_oid = trap
        .v2_trap_oid()
        .map_err(|e| DecodeError::Malformed(e.to_string()))?
        .to_string();
    let generic = match trap.generic_trap() {
        GenericTrap::ColdStart => 0,
        GenericTrap::WarmStart => 1,
        GenericTrap::LinkDown => 2,
        GenericTrap::LinkUp => 3,
        GenericTrap::AuthenticationFailure => 4,
        GenericTrap::EgpNeighborLoss => 5,
        GenericTrap::EnterpriseSpecific => 6,
        GenericTrap::Unknown(n) => n,
    };
    Ok(Notice {
        inform: false,
        request_id: None,
        uptime: Some(trap.time_stamp()),
        trap_oid,
        generic: Some(generic),
        varbinds: trap.varbinds().to_vec(),
        all: trap.varbinds().to_vec(),
    })
}

/// An SNMPv2 Trap or InformRequest: `sysUpTime.0` then `snmpTrapOID.0`
/// (by value type; some agents name them differently), then the rest.
fn v2_notice(pdu: Pdu) -> Result<Notice, DecodeError> {
    let kind = pdu.pdu_type();
    let inform = match kind {
        PduType::TrapV2 => false,
        PduType::InformRequest => true,
        other => return Err(DecodeError::NotANotification(other)),
    };
    let request_id = pdu.request_id();
    let all = pdu.into_varbinds();
    let (uptime, trap_oid) = match all.as_slice() {
        [
            VarBind {
                value: Value::TimeTicks(t),
                ..
            },
            VarBind {
                value: Value::ObjectIdentifier(oid),
                ..
            },
            ..,
        ] => (*t, oid.to_string()),
        _ => return Err(DecodeError::NoTrapOid),
    };
    let varbinds = all
        .iter()
        .skip(2)
        .filter(|vb| vb.oid.arcs() != SYS_UP_TIME_0 && vb.oid.arcs() != SNMP_TRAP_OID_0)
        .cloned()
        .collect();
    Ok(Notice {
        inform,
        request_id: Some(request_id),
        uptime: Some(uptime),
        trap_oid,
        generic: None,
        varbinds,
        all,
    })
}

#[cfg(test)]
pub(crate) mod tests;
