//! What the supplier rules see of the supplier book on one day, and the
//! words of their incidents.
//!
//! The book comes as the supplier reports make it for that day
//! ([`crate::suppliers::reports`]): the rule decides, from its own days,
//! which contracts and warranties are due. Contracts and licences are the
//! fleet's, so their incidents have no asset (`""`) and their subject is
//! the supplier and the contract number ([`contract_subject`]); a
//! warranty's incident is its asset's, with no subject.

use std::collections::BTreeMap;

use super::rules::RuleKind;
use crate::helpers::day::Day;
use crate::suppliers::reports::{ContractRow, LicenceRow, WarrantyRow, WarrantySource};

/// Most host names a licence incident lists.
const MAX_HOSTS_NAMED: usize = 20;

/// The supplier book on one day.
#[derive(Debug, Clone)]
pub struct SupplierBookDay {
    /// The day.
    pub today: Day,
    /// Every contract.
    pub contracts: Vec<ContractRow>,
    /// The warranty of every asset seen lately.
    pub warranties: Vec<WarrantyRow>,
    /// Every licence against the installations on assets seen lately.
    pub licences: Vec<LicenceRow>,
    /// How many days "lately" is, for the words.
    pub seen_days: u32,
}

/// What a supplier rule finds due: `(asset, subject)` → what was seen.
pub(super) type Due = BTreeMap<(String, String), String>;

/// The subject of the incident of the contract `number` with `supplier`
/// (a licence is a contract too).
pub fn contract_subject(supplier: &str, number: &str) -> String {
    format!("{supplier} {number}")
}

/// Whether something ending on `end` is due on `today`: from `from` until
/// `expired_days` after `end`.
fn within(today: Day, from: Day, end: Day, expired_days: u32) -> bool {
    today >= from && today.days_until(end) >= -i64::from(expired_days)
}

/// "today", "in 3 days", "12 days ago".
fn relative(today: Day, day: Day) -> String {
    match today.days_until(day) {
        0 => "today".to_owned(),
        1 => "tomorrow".to_owned(),
        -1 => "yesterday".to_owned(),
        n if n > 0 => format!("in {n} days"),
        n => format!("{} days ago", -n),
    }
}

/// What the supplier rule of `kind` finds due in `book` (`None`: not a
/// supplier rule).
pub(super) fn due(kind: &RuleKind, book: &SupplierBookDay) -> Option<Due> {
    let today = book.today;
    let mut due = Due::new();
    match kind {
        RuleKind::ContractNotice(rule) => {
            for row in &book.contracts {
                let c = &row.contract;
                if within(today, row.notice_on, c.end, rule.expired_days) {
                    let ends = if today > c.end { "ended" } else { "ends" };
                    let cost = c
                        .cost
                        .map(|v| format!(" It costs {v}."))
                        .unwrap_or_default();
                    let detail = format!(
                        "The {} contract {} with {} {ends} on {} ({}); its renewal is due from {} ({} days' notice). It covers {} assets.{cost}",
                        c.kind.name(),
                        c.number,
                        c.supplier,
                        c.end,
                        relative(today, c.end),
                        row.notice_on,
                        c.notice_days,
                        row.assets,
                    );
                    due.insert(
                        (String::new(), contract_subject(&c.supplier, &c.number)),
                        detail,
                    );
                }
            }
        }
        RuleKind::WarrantyNotice(rule) => {
            for row in &book.warranties {
                let (Some(end), Some(supplier)) = (row.end, &row.supplier) else {
                    continue;
                };
                if !within(
                    today,
                    end.minus_days(rule.notice_days),
                    end,
                    rule.expired_days,
                ) {
                    continue;
                }
                let ends = if today > end { "ended" } else { "ends" };
                let what = [&row.maker, &row.model]
                    .into_iter()
                    .flatten()
                    .map(String::as_str)
                    .collect::<Vec<_>>()
                    .join(" ");
                let serial = row
                    .serial
                    .as_deref()
                    .map(|s| format!(", serial {s}"))
                    .unwrap_or_default();
                let from = match &row.source {
                    Some(WarrantySource::Contract { number, .. }) => {
                        format!(" under contract {number}")
                    }
                    _ => String::new(),
                };
                let machine = if what.is_empty() {
                    row.hostname.clone()
                } else {
                    format!("{} ({what}{serial})", row.hostname)
                };
                let detail = format!(
                    "The warranty of {machine} from {supplier}{from} {ends} on {end} ({}).",
                    relative(today, end)
                );
                due.insert((row.asset_id.clone(), String::new()), detail);
            }
        }
        RuleKind::LicenceOver => {
            for row in book.licences.iter().filter(|l| l.over > 0) {
                let mut hosts = row
                    .assets
                    .iter()
                    .take(MAX_HOSTS_NAMED)
                    .cloned()
                    .collect::<Vec<_>>()
                    .join(", ");
                if row.assets.len() > MAX_HOSTS_NAMED {
                    hosts.push_str(&format!(" and {} more", row.assets.len() - MAX_HOSTS_NAMED));
                }
                let detail = format!(
                    "Licence {} from {} ({}) has {} seats and is installed on {} assets seen within {} days: {} over. Installed on {hosts}.",
                    row.number,
                    row.supplier,
                    row.software.join(", "),
                    row.seats,
                    row.installed,
                    book.seen_days,
                    row.over,
                );
                due.insert(
                    (String::new(), contract_subject(&row.supplier, &row.number)),
                    detail,
                );
            }
        }
        _ => return None,
    }
    Some(due)
}

/// Why the incident of `(asset, subject)` of a supplier rule of `kind` no
/// longer holds in `book`.
pub(super) fn cleared(
    kind: &RuleKind,
    asset: &str,
    subject: &str,
    book: &SupplierBookDay,
) -> String {
    let today = book.today;
    match kind {
        RuleKind::ContractNotice(_) => {
            match book
                .contracts
                .iter()
                .find(|r| contract_subject(&r.contract.supplier, &r.contract.number) == subject)
            {
                Some(row) if row.contract.end >= today => format!(
                    "The contract now ends on {} ({}), its renewal due from {}: renewed.",
                    row.contract.end,
                    relative(today, row.contract.end),
                    row.notice_on
                ),
                Some(row) => format!(
                    "The contract ended on {} ({}): no longer watched.",
                    row.contract.end,
                    relative(today, row.contract.end)
                ),
                None => "The contract is no longer in the supplier book.".to_owned(),
            }
        }
        RuleKind::WarrantyNotice(_) => match book.warranties.iter().find(|r| r.asset_id == asset) {
            Some(WarrantyRow {
                end: Some(end),
                supplier: Some(supplier),
                ..
            }) if *end >= today => format!(
                "Its warranty from {supplier} now ends on {end} ({}).",
                relative(today, *end)
            ),
            Some(WarrantyRow { end: Some(end), .. }) => format!(
                "Its warranty ended on {end} ({}): no longer watched.",
                relative(today, *end)
            ),
            Some(_) => "No warranty is recorded for it any more.".to_owned(),
            None => format!(
                "It has not been seen for {} days: no longer watched.",
                book.seen_days
            ),
        },
        RuleKind::LicenceOver => {
            match book
                .licences
                .iter()
                .find(|r| contract_subject(&r.supplier, &r.number) == subject)
            {
                Some(row) => format!(
                    "Installed on {} assets for {} seats: within.",
                    row.installed, row.seats
                ),
                None => "The licence is no longer in the supplier book.".to_owned(),
            }
        }
        _ => String::new(),
    }
}
