//! A device's datagram to bindings, without I/O.
//!
//! On the wire, async-snmp decodes what the shared socket receives and the
//! poller reads the bindings into rows ([`super::counters::build`],
//! [`super::inventory::build`]). [`decode_response`] is that decoding as one
//! pure function of the received bytes, so the whole path from a device's
//! datagram to rows can be checked and fuzzed without a socket. It takes
//! any bytes: a datagram that is not an SNMP response is a typed error,
//! never a panic.

use async_snmp::message::{Message, V3MessageData};
use async_snmp::pdu::PduType;
use async_snmp::{DecodeConfig, ErrorStatus, VarBind};

/// What a device answered to one request.
#[derive(Debug, Clone, PartialEq)]
pub struct Response {
    /// The request it answers.
    pub request_id: i32,
    /// `noError`, or why the device refused the request.
    pub error_status: ErrorStatus,
    /// The binding the error is about (1-based; 0: none).
    pub error_index: i32,
    /// The bindings, in the order received.
    pub bindings: Vec<VarBind>,
}

/// Why received bytes are not a response the poller can read.
#[derive(Debug, thiserror::Error)]
pub enum DecodeError {
    /// The bytes are not an SNMP message (truncated, garbage, bad lengths).
    #[error("not an SNMP message: {0}")]
    Malformed(#[source] Box<async_snmp::Error>),
    /// An SNMPv3 message whose scoped PDU is encrypted: only the client
    /// holding the device's keys can read it.
    #[error("an encrypted SNMPv3 message")]
    Encrypted,
    /// A valid message, but not an answer (a request, a trap…).
    #[error("a {0:?} PDU where an answer was expected")]
    NotAResponse(PduType),
}

/// Decodes one received datagram as an SNMP answer (a Response, or an
/// SNMPv3 Report), with the same lenient settings the poller's client uses.
pub fn decode_response(bytes: &[u8]) -> Result<Response, DecodeError> {
    let data = bytes::Bytes::copy_from_slice(bytes);
    let message = Message::decode(data, DecodeConfig::default())
        .map_err(DecodeError::Malformed)?
        .value;
    if let Message::V3(v3) = &message
        && matches!(v3.data(), V3MessageData::Encrypted(_))
    {
        return Err(DecodeError::Encrypted);
    }
    let Some(pdu) = message.into_pdu() else {
        // A community message without a standard PDU is an SNMPv1 trap.
        return Err(DecodeError::NotAResponse(PduType::TrapV1));
    };
    let kind = pdu.pdu_type();
    if !matches!(kind, PduType::Response | PduType::Report) {
        return Err(DecodeError::NotAResponse(kind));
    }
    Ok(Response {
        request_id: pdu.request_id(),
        error_status: pdu.error_status_enum(),
        error_index: pdu.error_index(),
        bindings: pdu.into_varbinds(),
    })
}

#[cfg(test)]
mod tests;
