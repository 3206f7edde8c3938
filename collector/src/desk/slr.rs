//! The service-level report read from the store: the incidents active in
//! the period (from the store's index of incidents by time), the host
//! names of their assets and the size of the fleet, with the rules in
//! force saying each rule's category and which rules are outages. What the
//! figures mean is [`crate::incidents::slr`]'s to decide.

use std::collections::{BTreeMap, BTreeSet};

use atalaya_common::model::Timestamp;
use atalaya_common::model::device::DeviceState;

use crate::incidents::rules::{RuleKind, RuleSet};
use crate::incidents::slr::{self, Period, Slr, SlrFacts};
use crate::store::{Store, StoreError};

/// Poll outcomes that mean a device is out of reach (rather than refusing
/// our credentials): a device-state rule held by one of them is an outage.
const UNREACHABLE: [DeviceState; 3] = [
    DeviceState::Timeout,
    DeviceState::NetworkError,
    DeviceState::Unresolved,
];

/// Whether incidents of `kind` mean their asset is out of service: an
/// agent silent (absence) or a device not answering.
pub fn is_outage(kind: &RuleKind) -> bool {
    match kind {
        RuleKind::Absence(_) => true,
        RuleKind::DeviceState(d) => d.states.iter().any(|s| UNREACHABLE.contains(s)),
        _ => false,
    }
}

/// The facts the report takes from the rules in force.
pub fn rule_facts(rules: &RuleSet) -> SlrFacts {
    SlrFacts {
        categories: rules
            .rules()
            .iter()
            .map(|r| (r.name.clone(), r.kind.name().to_owned()))
            .collect(),
        outage_rules: rules
            .rules()
            .iter()
            .filter(|r| is_outage(&r.kind))
            .map(|r| r.name.clone())
            .collect(),
        ..SlrFacts::default()
    }
}

/// The service-level report of `period` at `now`, over the incidents
/// active in it.
pub fn slr_report(
    store: &Store,
    rules: &RuleSet,
    period: Period,
    now: Timestamp,
) -> Result<Slr, StoreError> {
    let end = period.end_ms().min(now.0);
    let incidents = store.incidents_active_between(period.start_ms(), end)?;
    let assets: BTreeSet<&str> = incidents.iter().map(|r| r.asset.as_str()).collect();
    let ids: Vec<&str> = assets.into_iter().collect();
    let hostnames: BTreeMap<String, String> = store
        .asset_metas(&ids)?
        .into_iter()
        .filter(|m| !m.hostname.is_empty())
        .map(|m| (m.id, m.hostname))
        .collect();
    let facts = SlrFacts {
        hostnames,
        fleet_assets: store.asset_count()?,
        ..rule_facts(rules)
    };
    Ok(slr::slr(period, &incidents, &facts, now))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_built_in_outage_rules_are_the_silent_agent_and_the_unreachable_device() {
        let facts = rule_facts(&RuleSet::default());
        let outages: Vec<&str> = facts.outage_rules.iter().map(String::as_str).collect();
        assert_eq!(outages, ["agent-offline", "device-unreachable"]);
        assert_eq!(facts.categories["filesystem-full"], "threshold");
        assert_eq!(facts.categories["agent-offline"], "absence");
    }
}
