//! How a poll went, from async-snmp's errors: [`DeviceState`] (defined in
//! `atalaya_common::model`, where each state is described).
//!
//! SNMPv3 failures arrive as Report PDUs carrying one USM statistics
//! counter (`usmStatsUnknownUserNames`, `usmStatsWrongDigests`,
//! `usmStatsDecryptionErrors`, `usmStatsNotInTimeWindows`,
//! `usmStatsUnknownEngineIDs`, `usmStatsUnsupportedSecLevels`), which
//! async-snmp classifies as `ReportStatus`; each maps onto its own state.
//!
//! SNMPv1/v2c agents drop a request with a wrong community without a word,
//! so on its own a wrong community is a timeout. The poller tells the two
//! apart with an SNMPv3 discovery probe (see `client::engine_answers`): an
//! engine that answers it is up, so the community is what is wrong
//! ([`DeviceState::WrongCommunity`]); a device that ignores SNMPv3 as well
//! stays [`DeviceState::Timeout`].

pub use atalaya_common::model::DeviceState;

use async_snmp::v3::ReportStatus;

use super::client::{ClientError, RequestError};
use super::walk::WalkError;

/// The state a failed request leaves the device in.
pub fn of_request(e: &RequestError) -> DeviceState {
    match e {
        RequestError::Timeout => DeviceState::Timeout,
        RequestError::TooBig => DeviceState::TooBig,
        RequestError::NoSuchName | RequestError::GenErr => DeviceState::Malformed,
        RequestError::Snmp(e) => of_snmp(e),
    }
}

/// The state for any other async-snmp error.
fn of_snmp(e: &async_snmp::Error) -> DeviceState {
    use async_snmp::Error as E;
    match e.exchange_source() {
        E::Timeout { .. } => DeviceState::Timeout,
        E::Report { status, .. } => of_report(status),
        E::Network { .. } | E::Closed { .. } => DeviceState::NetworkError,
        E::ConstructionTimeout { .. } => DeviceState::Unresolved,
        E::Auth { .. } => DeviceState::V3WrongDigest,
        E::Snmp {
            status: async_snmp::ErrorStatus::TooBig,
            ..
        } => DeviceState::TooBig,
        E::WalkAborted { .. } => DeviceState::WalkLoop,
        E::Config(_) => DeviceState::BadCredentials,
        _ => DeviceState::Malformed,
    }
}

/// The state for an SNMPv3 Report.
fn of_report(status: &ReportStatus) -> DeviceState {
    match status {
        ReportStatus::UnknownUserName { .. } => DeviceState::V3UnknownUser,
        ReportStatus::WrongDigest { .. } => DeviceState::V3WrongDigest,
        ReportStatus::DecryptionError { .. } => DeviceState::V3DecryptionError,
        ReportStatus::UnknownEngineId { .. } => DeviceState::V3UnknownEngine,
        ReportStatus::NotInTimeWindow { .. } => DeviceState::V3NotInTimeWindow,
        ReportStatus::UnsupportedSecurityLevel { .. } => DeviceState::V3UnsupportedSecurityLevel,
        _ => DeviceState::Malformed,
    }
}

/// The state a failed walk leaves the device in.
pub fn of_walk(e: &WalkError) -> DeviceState {
    match e {
        WalkError::Request { source, .. } => of_request(source),
        WalkError::Loop { .. } => DeviceState::WalkLoop,
        WalkError::TooManyRows { .. } | WalkError::TooLong { .. } => DeviceState::TooManyRows,
        WalkError::NoProgress { .. } => DeviceState::Malformed,
    }
}

/// The state a client that could not be built leaves the device in.
pub fn of_client(e: &ClientError) -> DeviceState {
    match e {
        ClientError::Credentials { .. } | ClientError::PrivacyWithoutAuth { .. } => {
            DeviceState::BadCredentials
        }
        ClientError::Target { .. } => DeviceState::Unresolved,
    }
}

/// True for the states after which the device's SNMPv3 engine is
/// discovered again before the next poll.
pub fn needs_rediscovery(state: DeviceState) -> bool {
    matches!(
        state,
        DeviceState::V3UnknownEngine | DeviceState::V3NotInTimeWindow
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reports_map_to_their_states() {
        let cases = [
            (
                ReportStatus::UnknownUserName { counter: 1 },
                DeviceState::V3UnknownUser,
            ),
            (
                ReportStatus::WrongDigest { counter: 1 },
                DeviceState::V3WrongDigest,
            ),
            (
                ReportStatus::DecryptionError { counter: 1 },
                DeviceState::V3DecryptionError,
            ),
            (
                ReportStatus::UnknownEngineId { counter: 1 },
                DeviceState::V3UnknownEngine,
            ),
            (
                ReportStatus::NotInTimeWindow { counter: 1 },
                DeviceState::V3NotInTimeWindow,
            ),
        ];
        for (status, state) in cases {
            assert_eq!(of_report(&status), state);
        }
        assert!(needs_rediscovery(DeviceState::V3NotInTimeWindow));
        assert!(!needs_rediscovery(DeviceState::V3WrongDigest));
    }

    #[test]
    fn walk_failures_map_to_their_states() {
        let lp = WalkError::Loop {
            root: "1.3".into(),
            previous: "1.3.2".into(),
            oid: "1.3.1".into(),
        };
        assert_eq!(of_walk(&lp), DeviceState::WalkLoop);
        let rows = WalkError::TooManyRows {
            root: "1.3".into(),
            limit: 5,
        };
        assert_eq!(of_walk(&rows), DeviceState::TooManyRows);
        let timeout = WalkError::Request {
            root: "1.3".into(),
            source: RequestError::Timeout,
        };
        assert_eq!(of_walk(&timeout), DeviceState::Timeout);
        assert_eq!(of_request(&RequestError::TooBig), DeviceState::TooBig);
    }
}
