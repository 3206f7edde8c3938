//! The supplier rules in the engine: contracts, warranties and licences
//! judged on chosen days, with the book as the supplier reports make it.

use atalaya_common::model::Timestamp;

use super::rules::{AssetFacts, RuleSet};
use super::supplier_notices::SupplierBookDay;
use super::{Action, ActionKind, Engine, IncidentKey, NotifyEvent};
use crate::helpers::day::Day;
use crate::records::supplier::{ContractKind, Coverage, Warranty};
use crate::suppliers::AssetView;
use crate::suppliers::reports;
use crate::suppliers::testing::{asset, contract, day};

fn engine(rules: &str) -> Engine {
    Engine::new(RuleSet::parse("rules.toml", rules).unwrap(), 30)
}

fn noon(d: Day) -> Timestamp {
    Timestamp(d.start_ms() + 12 * 3_600_000)
}

/// The book on `today` as the collector builds it for the engine.
fn book(
    contracts: &[crate::records::supplier::Contract],
    entered: &[Warranty],
    assets: &[AssetView],
    today: &str,
) -> SupplierBookDay {
    let today = day(today);
    SupplierBookDay {
        today,
        contracts: reports::contracts(contracts, assets, today, None).rows,
        warranties: reports::warranties(contracts, entered, assets, today, 0),
        licences: reports::licences(contracts, assets, today),
        seen_days: 30,
    }
}

fn check(e: &mut Engine, b: &SupplierBookDay) -> Vec<Action> {
    e.on_supplier_book(noon(b.today), b)
}

fn opened(actions: &[Action]) -> Vec<(String, String, String)> {
    actions
        .iter()
        .filter(|a| a.kind == ActionKind::Open)
        .map(|a| {
            (
                a.key.rule.clone(),
                a.key.asset.clone(),
                a.key.subject.clone(),
            )
        })
        .collect()
}

fn kinds(actions: &[Action]) -> Vec<ActionKind> {
    actions.iter().map(|a| a.kind).collect()
}

#[test]
fn a_contract_opens_on_its_notice_day_and_resolves_when_renewed() {
    let mut e = engine("");
    // Ends 2027-03-01, 60 days' notice: due from 2026-12-31.
    let mut c = contract(1, "Dell", ContractKind::Support, "2027-03-01", vec![]);
    c.number = "PS-1".into();
    assert!(
        check(
            &mut e,
            &book(std::slice::from_ref(&c), &[], &[], "2026-12-30")
        )
        .is_empty()
    );
    let actions = check(
        &mut e,
        &book(std::slice::from_ref(&c), &[], &[], "2026-12-31"),
    );
    assert_eq!(
        kinds(&actions),
        [ActionKind::Open, ActionKind::Notify(NotifyEvent::Opened)]
    );
    let open = &actions[0];
    assert_eq!(
        open.key,
        IncidentKey {
            asset: String::new(),
            rule: "contract-renewal".into(),
            subject: "Dell PS-1".into(),
        }
    );
    assert_eq!(open.title, "contract-renewal: Dell PS-1");
    assert!(
        open.description.ends_with(
            "The support contract PS-1 with Dell ends on 2027-03-01 (in 60 days); its renewal is due from 2026-12-31 (60 days' notice). It covers 0 assets."
        ),
        "{}",
        open.description
    );
    // Still due the next days: nothing new.
    assert!(
        check(
            &mut e,
            &book(std::slice::from_ref(&c), &[], &[], "2027-01-15")
        )
        .is_empty()
    );
    // Renewed for a year.
    c.end = day("2028-03-01");
    let actions = check(
        &mut e,
        &book(std::slice::from_ref(&c), &[], &[], "2027-01-16"),
    );
    assert_eq!(
        kinds(&actions),
        [
            ActionKind::Resolve,
            ActionKind::Notify(NotifyEvent::Resolved)
        ]
    );
    assert!(
        actions[0]
            .description
            .ends_with("The contract now ends on 2028-03-01 (in 410 days), its renewal due from 2028-01-01: renewed."),
        "{}",
        actions[0].description
    );
    assert!(e.open_incidents().is_empty());
}

#[test]
fn an_ended_contract_is_watched_for_its_expired_days_then_let_go() {
    let mut e = engine("[rule.contract-renewal]\nexpired_days = 5\n");
    let c = contract(1, "Dell", ContractKind::Lease, "2027-03-01", vec![]);
    assert_eq!(
        opened(&check(
            &mut e,
            &book(std::slice::from_ref(&c), &[], &[], "2027-03-03")
        )),
        [(
            "contract-renewal".to_owned(),
            String::new(),
            "Dell C-1".to_owned()
        )]
    );
    assert!(
        check(
            &mut e,
            &book(std::slice::from_ref(&c), &[], &[], "2027-03-06")
        )
        .is_empty()
    );
    let actions = check(
        &mut e,
        &book(std::slice::from_ref(&c), &[], &[], "2027-03-07"),
    );
    assert_eq!(actions[0].kind, ActionKind::Resolve);
    assert!(
        actions[0]
            .description
            .ends_with("The contract ended on 2027-03-01 (6 days ago): no longer watched."),
        "{}",
        actions[0].description
    );
    // A contract removed from the book resolves too.
    let mut e = engine("");
    check(
        &mut e,
        &book(std::slice::from_ref(&c), &[], &[], "2027-02-01"),
    );
    let actions = check(&mut e, &book(&[], &[], &[], "2027-02-02"));
    assert!(
        actions[0]
            .description
            .ends_with("The contract is no longer in the supplier book."),
        "{}",
        actions[0].description
    );
}

#[test]
fn staff_resolving_a_due_contract_silences_it_until_it_is_renewed() {
    let mut e = engine("");
    let mut c = contract(1, "Dell", ContractKind::Support, "2027-03-01", vec![]);
    let actions = check(
        &mut e,
        &book(std::slice::from_ref(&c), &[], &[], "2027-01-10"),
    );
    let key = actions[0].key.clone();
    e.on_staff_resolved(&key, noon(day("2027-01-11")));
    assert!(
        check(
            &mut e,
            &book(std::slice::from_ref(&c), &[], &[], "2027-01-12")
        )
        .is_empty()
    );
    // Renewed, then due again a year later: a new incident.
    c.end = day("2028-03-01");
    assert!(
        check(
            &mut e,
            &book(std::slice::from_ref(&c), &[], &[], "2027-01-13")
        )
        .is_empty()
    );
    let again = check(
        &mut e,
        &book(std::slice::from_ref(&c), &[], &[], "2028-01-05"),
    );
    assert_eq!(again[0].kind, ActionKind::Open);
    assert_ne!(again[0].incident, actions[0].incident);
}

#[test]
fn warranties_end_per_asset_within_the_rules_days_and_scope() {
    // The warranty contract is due for renewal too; that rule is tested above.
    let mut e = engine(
        "[rule.contract-renewal]\nenabled = false\n\n[rule.warranty-ending]\nnotice_days = 10\ntags = [\"servers\"]\n",
    );
    let servers = AssetFacts {
        hostname: "web-01".into(),
        tags: vec!["servers".into()],
        ..AssetFacts::default()
    };
    e.set_asset("a1", servers, noon(day("2027-01-01")));
    e.set_asset(
        "a2",
        AssetFacts {
            hostname: "desk-02".into(),
            ..AssetFacts::default()
        },
        noon(day("2027-01-01")),
    );
    let assets = [
        asset("a1", "Dell Inc.", "PowerEdge R650", "SN1", &[]),
        asset("a2", "Dell Inc.", "PowerEdge R650", "SN2", &[]),
    ];
    let w = contract(
        7,
        "Dell",
        ContractKind::Warranty,
        "2027-02-01",
        vec![Coverage::Model("PowerEdge R650".into())],
    );
    // 11 days left: not yet.
    assert!(
        check(
            &mut e,
            &book(std::slice::from_ref(&w), &[], &assets, "2027-01-21")
        )
        .is_empty()
    );
    let actions = check(
        &mut e,
        &book(std::slice::from_ref(&w), &[], &assets, "2027-01-22"),
    );
    // Only the asset in the rule's scope.
    assert_eq!(
        opened(&actions),
        [("warranty-ending".to_owned(), "a1".to_owned(), String::new())]
    );
    assert_eq!(actions[0].title, "warranty-ending on web-01");
    assert!(
        actions[0].description.ends_with(
            "The warranty of host-a1 (Dell Inc. PowerEdge R650, serial SN1) from Dell under contract C-7 ends on 2027-02-01 (in 10 days)."
        ),
        "{}",
        actions[0].description
    );
    // A warranty entered for the asset that lasts longer ends it.
    let extended = Warranty {
        asset_id: "a1".into(),
        supplier: "Dell".into(),
        start: None,
        end: day("2029-02-01"),
        notes: None,
    };
    let actions = check(&mut e, &book(&[w], &[extended], &assets, "2027-01-23"));
    assert_eq!(actions[0].kind, ActionKind::Resolve);
    assert!(
        actions[0]
            .description
            .ends_with("Its warranty from Dell now ends on 2029-02-01 (in 740 days)."),
        "{}",
        actions[0].description
    );
}

#[test]
fn a_licence_over_its_seats_opens_and_resolves_when_they_fit() {
    let mut e = engine("");
    let mut l = contract(
        3,
        "Microsoft",
        ContractKind::Licence,
        "2028-01-01",
        vec![Coverage::Software("visio*".into())],
    );
    l.seats = Some(1);
    let assets = [
        asset("a1", "HP", "x", "1", &["visio-2019"]),
        asset("a2", "HP", "x", "2", &["Visio-2021"]),
        asset("a3", "HP", "x", "3", &["bash"]),
    ];
    let actions = check(
        &mut e,
        &book(std::slice::from_ref(&l), &[], &assets, "2027-01-01"),
    );
    assert_eq!(
        opened(&actions),
        [(
            "licence-over-seats".to_owned(),
            String::new(),
            "Microsoft C-3".to_owned()
        )]
    );
    assert!(
        actions[0].description.ends_with(
            "Licence C-3 from Microsoft (visio*) has 1 seats and is installed on 2 assets seen within 30 days: 1 over. Installed on host-a1, host-a2."
        ),
        "{}",
        actions[0].description
    );
    l.seats = Some(2);
    let actions = check(&mut e, &book(&[l], &[], &assets, "2027-01-02"));
    assert_eq!(actions[0].kind, ActionKind::Resolve);
    assert!(
        actions[0]
            .description
            .ends_with("Installed on 2 assets for 2 seats: within."),
        "{}",
        actions[0].description
    );
}

#[test]
fn fleet_rules_take_no_asset_scope() {
    let err = RuleSet::parse(
        "rules.toml",
        "[rule.contract-renewal]\ntags = [\"servers\"]\n\n[rule.mine]\nkind = \"licence-over\"\nos = [\"debian\"]\n",
    )
    .unwrap_err()
    .to_string();
    assert!(
        err.contains("rule.contract-renewal.tags")
            && err.contains("a contract-notice rule watches the fleet's contracts and licences, not assets: it takes no `tags`")
            && err.contains("rule.mine.os"),
        "{err}"
    );
    // The days are checked like any number.
    let err = RuleSet::parse("rules.toml", "[rule.warranty-ending]\nnotice_days = -1\n")
        .unwrap_err()
        .to_string();
    assert!(err.contains("rule.warranty-ending.notice_days"), "{err}");
}
