//! The orders this machine accepted and that have not expired, kept in
//! `<state_dir>/assist-accepted.json` so that one is still refused as a
//! replay after the agent restarts: a collector restored from a backup
//! taken before it sent an order would send that order again, and a
//! service restart must not run twice.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::state_file::StateFile;
pub use crate::state_file::{LoadError, SaveError};

/// The file the accepted orders are kept in, in the state directory.
pub const ACCEPTED_FILE: &str = "assist-accepted.json";

const FILE: StateFile = StateFile {
    name: ACCEPTED_FILE,
    noun: "accepted diagnostic orders",
};

/// As kept on disk: an object, so fields can be added later.
#[derive(Debug, Default, Serialize, Deserialize)]
struct Stored {
    /// Order id → its expiry, ms since the epoch.
    orders: BTreeMap<String, i64>,
}

/// The accepted orders kept in `state_dir` (none if never written).
pub fn load(state_dir: &Path) -> Result<HashMap<String, i64>, LoadError> {
    Ok(FILE.load::<Stored>(state_dir)?.orders.into_iter().collect())
}

/// Keeps `accepted` in `state_dir`, replacing what was kept.
pub fn save(state_dir: &Path, accepted: &HashMap<String, i64>) -> Result<(), SaveError> {
    let orders = accepted
        .iter()
        .map(|(id, exp)| (id.clone(), *exp))
        .collect();
    FILE.save(state_dir, &Stored { orders })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepted_orders_survive_a_round_trip_and_a_damaged_file_is_named() {
        let dir = tempfile::tempdir().unwrap();
        assert!(load(dir.path()).unwrap().is_empty());
        let accepted = HashMap::from([("d-1".to_string(), 1_800_000_600_000_i64)]);
        save(dir.path(), &accepted).unwrap();
        assert_eq!(load(dir.path()).unwrap(), accepted);
        std::fs::write(dir.path().join(ACCEPTED_FILE), "{not json").unwrap();
        let err = load(dir.path()).unwrap_err().to_string();
        assert!(
            err.contains(ACCEPTED_FILE) && err.contains("accepted diagnostic orders"),
            "{err}"
        );
    }
}
