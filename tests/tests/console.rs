//! The web console in a real headless Chromium against a real collector
//! with agents on real QUIC: people sign in by role, find a caller with
//! the search box, sign out; failed sign-ins lock an account; values an
//! agent sent (host name, OS, packages, a user report) with markup in
//! them show as text and run nothing. Screenshots of the pages go to
//! `target/console-screenshots/`.

#![allow(clippy::unwrap_used)]

use std::time::Duration;

use atalaya_collector::capacity::Day;
use atalaya_common::model::{Inventory, Package, Timestamp};
use atalaya_common::proto::{InventorySnapshot, Message, UserReport};
use atalaya_tests::browser::{Browser, screenshot_dir};
use atalaya_tests::harness::{Collector, eventually, runtime};
use atalaya_tests::loadgen::NumberedAgent;

const PASSWORD: &str = "a long password 1";

/// Markup an agent could send: if any of it ran, `window.pwned` is set.
const SCRIPT: &str = "<script>window.pwned=1</script>";
const IMG: &str = "\"><img src=x onerror=\"window.pwned=2\">";

/// Waits for the incident whose title holds `title` in the queue at `api`
/// (its own row: under load another incident, an agent late, may come
/// first) and returns its page's address, absolute.
fn incident_in_queue(b: &Browser, api: &str, title: &str) -> String {
    let link = eventually("the incident in the queue", Duration::from_secs(30), || {
        b.go(&format!("{api}/incidents"));
        b.find_all("table#queue tbody tr td a[href^='/incidents/']")
            .into_iter()
            .find(|a| b.text(a).contains(title))
    });
    let href = b.attr(&link, "href").unwrap();
    if href.starts_with("http") {
        href
    } else {
        format!("{api}{href}")
    }
}

fn accounts(c: &Collector) {
    for (name, role) in [("ana", "helpdesk"), ("root", "admin"), ("vera", "viewer")] {
        c.add_user(name, role, PASSWORD);
    }
}

/// Sends, as `agent`'s inventory, a host named `hostname` whose OS name,
/// package name and version carry markup.
fn push_hostile_inventory(agent: &mut NumberedAgent, hostname: &str) {
    let mut inv = Inventory::default();
    inv.host.hostname = hostname.to_owned();
    inv.os.name = Some(format!("Debian{IMG}"));
    inv.os.pretty_name = Some(format!("Debian{IMG}"));
    inv.software.packages.push(Package {
        name: format!("pkg{SCRIPT}"),
        version: format!("1.0{IMG}"),
        arch: None,
        vendor: None,
        installed_at: None,
        size_bytes: None,
        source: None,
    });
    agent.push_message(|seq| {
        Message::InventorySnapshot(InventorySnapshot {
            seq,
            taken_at: Timestamp::now(),
            inventory: inv,
        })
    });
}

#[test]
fn people_sign_in_by_role_find_a_caller_and_sign_out() {
    let c = Collector::start();
    accounts(&c);
    let rt = runtime();
    let dir = tempfile::tempdir().unwrap();
    let _agent = rt.block_on(NumberedAgent::start(
        dir.path(),
        "lat-maria",
        &c.token(1),
        None,
    ));
    eventually("the agent's asset", Duration::from_secs(30), || {
        c.assets()
            .iter()
            .any(|a| a["hostname"] == "lat-maria")
            .then_some(())
    });

    // A supplier and a contract, for the supplier pages.
    let files = tempfile::tempdir().unwrap();
    let suppliers = files.path().join("suppliers.csv");
    std::fs::write(
        &suppliers,
        "name,kind,phone\nAcme Support,service-provider,+34 900 100 200\n",
    )
    .unwrap();
    c.cli_ok(&["import", "suppliers", suppliers.to_str().unwrap()]);
    let contracts = files.path().join("contracts.csv");
    std::fs::write(
        &contracts,
        format!(
            "supplier,number,kind,start,end,notice_days,response_hours,tags\n\
             Acme Support,AS-2026,support,2026-01-01,2099-12-31,30,4,desk\n\
             Acme Support,AS-DUE,maintenance,2026-01-01,{},30,,\n",
            Day::of_ms(Timestamp::now().0).unwrap().plus_days(10)
        ),
    )
    .unwrap();
    c.cli_ok(&["import", "contracts", contracts.to_str().unwrap()]);

    let b = Browser::start();
    // Not signed in: any page leads to the login form, and back after.
    b.go(&format!("{}/fleet", c.api));
    b.wait_for("form.login", Duration::from_secs(10));
    assert!(b.url().contains("/login?next=%2Ffleet"), "{}", b.url());
    b.screenshot(&screenshot_dir().join("login.png"));

    for (name, role) in [("ana", "helpdesk"), ("root", "admin"), ("vera", "viewer")] {
        b.sign_in(&c.api, name, PASSWORD);
        let who = b.text(&b.get("header.top .person"));
        assert_eq!(who, format!("{name} · {role}"));
        assert!(b.url().ends_with("/fleet"), "{}", b.url());
        assert_eq!(b.text(&b.get("main h1")), "Fleet");
        let assets = b.text(&b.get("section.cards .card"));
        assert!(assets.starts_with('1'), "one asset counted: {assets}");
        if name == "ana" {
            b.screenshot(&screenshot_dir().join("fleet.png"));
        }

        // The search box finds the caller's machine.
        let search = b.get("form.search input[name=q]");
        b.fill(&search, "lat-maria\n");
        b.wait_for("section.lookup article.machine", Duration::from_secs(10));
        assert!(b.url().contains("/lookup?q=lat-maria"), "{}", b.url());
        assert_eq!(
            b.text(&b.get("article.machine h2 a")),
            "lat-maria",
            "the card names the machine"
        );
        if name == "ana" {
            b.screenshot(&screenshot_dir().join("lookup.png"));
        }

        // The network and capacity pages answer for every role.
        for (path, title) in [
            ("/network", "Network"),
            ("/capacity", "Capacity"),
            ("/capacity/installed", "Installed capacity"),
            ("/capacity/renewal", "Renewal planning"),
            ("/capacity/forecast", "Which fill first"),
            ("/reports/slr", "Service-level report"),
            ("/suppliers", "Suppliers"),
            ("/suppliers/contracts", "Contracts"),
            ("/suppliers/warranties", "Warranties"),
            ("/suppliers/licences", "Licences"),
        ] {
            b.go(&format!("{}{path}", c.api));
            assert_eq!(b.text(&b.get("main h1")), title, "{path}");
            if path == "/suppliers" {
                let row = b.text(&b.get("table#suppliers tbody tr"));
                assert!(
                    row.contains("Acme Support") && row.contains("+34 900 100 200"),
                    "{row}"
                );
            }
            if path == "/suppliers/contracts" {
                let row = b.text(&b.get("table#contracts tbody"));
                assert!(
                    row.contains("AS-2026")
                        && row.contains("2099-12-31")
                        && row.contains("tag desk"),
                    "{row}"
                );
            }
            if path == "/suppliers/warranties" {
                let rows = b.text(&b.get("table#warranties tbody"));
                assert!(
                    rows.contains("lat-maria") && rows.contains("unknown"),
                    "{rows}"
                );
            }
            if path == "/capacity/installed" {
                let installed = b.text(&b.get("table#installed tbody"));
                assert!(
                    installed.contains('1'),
                    "the agent's host is counted: {installed}"
                );
            }
        }

        // The contract due for renewal has its incident, the fleet's,
        // with whom to call about it.
        if name == "ana" {
            let page = incident_in_queue(&b, &c.api, "contract-renewal: Acme Support AS-DUE");
            let row = b.text(&b.get("table#queue tbody"));
            assert!(row.contains("the fleet"), "{row}");
            b.go(&page);
            let call = b.text(&b.get("section.suppliers table.contacts tbody"));
            assert!(
                call.contains("AS-DUE") && call.contains("+34 900 100 200"),
                "{call}"
            );
            b.screenshot(&screenshot_dir().join("incident-contract.png"));
        }

        b.click(&b.get("form.who button"));
        b.wait_for("form.login", Duration::from_secs(10));
        // Signed out: the session is gone, not just the cookie.
        b.go(&format!("{}/fleet", c.api));
        b.wait_for("form.login", Duration::from_secs(10));
    }
}

#[test]
fn failed_sign_ins_lock_the_account_whatever_the_password() {
    let c = Collector::start_with("[console]\naccount_failures = 3\n");
    accounts(&c);
    let b = Browser::start();
    for _ in 0..3 {
        b.go(&format!("{}/login", c.api));
        b.fill(&b.get("input[name=name]"), "ana");
        b.fill(&b.get("input[name=password]"), "not the password");
        b.click(&b.get("form.login button"));
        let problem = b.text(&b.wait_for("form.login .problem", Duration::from_secs(10)));
        assert_eq!(problem, "That account and password do not match.");
    }
    // Locked: even the right password is refused, and it says why.
    b.go(&format!("{}/login", c.api));
    b.fill(&b.get("input[name=name]"), "ana");
    b.fill(&b.get("input[name=password]"), PASSWORD);
    b.click(&b.get("form.login button"));
    let problem = b.text(&b.wait_for("form.login .problem", Duration::from_secs(10)));
    assert!(
        problem.starts_with("Too many failed sign-ins for this account"),
        "{problem}"
    );
    // Another account is not locked by ana's failures.
    b.sign_in(&c.api, "vera", PASSWORD);
}

#[test]
fn markup_sent_by_an_agent_shows_as_text_and_runs_nothing() {
    let c = Collector::start();
    accounts(&c);
    let rt = runtime();
    let dir = tempfile::tempdir().unwrap();
    let mut agent = rt.block_on(NumberedAgent::start(
        dir.path(),
        "lab-hostile",
        &c.token(1),
        None,
    ));
    push_hostile_inventory(&mut agent, &format!("lab-hostile{SCRIPT}"));
    agent.push_message(|seq| {
        Message::UserReport(UserReport {
            seq,
            id: "r-hostile".into(),
            written_at: Timestamp::now(),
            text: format!("the printer {SCRIPT}{IMG} does not print"),
            user: Some("maria".into()),
            uid: Some(1000),
        })
    });
    let hostname = format!("lab-hostile{SCRIPT}");
    eventually("the hostile inventory", Duration::from_secs(30), || {
        c.assets()
            .iter()
            .any(|a| a["hostname"] == hostname.as_str())
            .then_some(())
    });

    let b = Browser::start();
    b.sign_in(&c.api, "ana", PASSWORD);
    b.go(&format!("{}/lookup?q=lab-hostile", c.api));
    let card = b.text(&b.wait_for("section.lookup article.machine", Duration::from_secs(10)));
    assert!(
        card.contains(&hostname),
        "the host name shows as written: {card}"
    );
    assert!(
        card.contains(&format!("Debian{IMG}")),
        "so does the OS: {card}"
    );
    b.screenshot(&screenshot_dir().join("hostile-lookup.png"));

    b.go(&format!("{}/fleet", c.api));
    let os_table = b.text(&b.wait_for("table.counts", Duration::from_secs(10)));
    let page = b.text_of_page();
    assert!(page.contains(&format!("Debian{IMG}")), "{os_table}\n{page}");

    // Nothing the agent sent ran, on any page visited.
    let ran = b.exec(
        "return window.pwned === undefined ? null : window.pwned;",
        serde_json::json!([]),
    );
    assert!(ran.is_null(), "a script from the agent ran: {ran}");
    assert!(
        b.find("img[src=x]").is_none(),
        "an element from the agent was made"
    );
}

#[test]
fn a_form_posted_without_the_sessions_token_or_from_another_site_is_refused() {
    let c = Collector::start();
    accounts(&c);
    let b = Browser::start();
    b.sign_in(&c.api, "vera", PASSWORD);
    // The logout form without its token: 403, and the session lives on.
    let status = b.exec_async(
        "const done = arguments[arguments.length - 1];
         fetch('/logout', {method: 'POST', body: new URLSearchParams({csrf: 'forged'})})
           .then(r => done(r.status), e => done(String(e)));",
        serde_json::json!([]),
    );
    assert_eq!(status, 403);
    b.go(&format!("{}/fleet", c.api));
    b.wait_for("header.top .person", Duration::from_secs(10));

    // Over plain HTTP, a cross-site POST names its origin: refused even
    // with the right token.
    let token = b
        .attr(&b.get("form.who input[name=csrf]"), "value")
        .unwrap();
    let http: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into();
    let cookie = b.exec("return document.cookie;", serde_json::json!([]));
    assert_eq!(
        cookie, "",
        "the session cookie is HttpOnly: scripts cannot read it"
    );
    let resp = http
        .post(&format!("{}/logout", c.api))
        .header("Origin", "https://evil.example")
        .send_form([("csrf", token.as_str())])
        .unwrap();
    assert_eq!(resp.status().as_u16(), 403);
}

#[test]
fn a_call_to_an_extension_shows_the_caller_on_that_persons_console_at_once() {
    let c = Collector::start();
    accounts(&c);
    let dir = tempfile::tempdir().unwrap();
    let csv = dir.path().join("people.csv");
    std::fs::write(
        &csv,
        "name,logins,email,phones,extension,department,location\n\
         Ana Help,ana,ana@example.org,,2041,Help desk,HQ\n\
         María García,maria,maria@example.org,+34 600 000 000,,Finance,Floor 2\n",
    )
    .unwrap();
    let out = c.cli(&["import", "people", csv.to_str().unwrap()]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = c.admin_cmd(&[
        "api-token",
        "create",
        "--role",
        "telephony",
        "--name",
        "pbx",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let pbx = String::from_utf8(out.stdout).unwrap().trim().to_owned();

    let b = Browser::start();
    b.sign_in(&c.api, "ana", PASSWORD);
    b.wait_for("body[data-calls=listening]", Duration::from_secs(10));
    let http: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into();
    let posted = std::time::Instant::now();
    let resp = http
        .post(&format!("{}/api/v1/calls", c.api))
        .header("Authorization", &format!("Bearer {pbx}"))
        .header("Content-Type", "application/json")
        .send(r#"{"from": "+34 600 000 000", "extension": "2041"}"#)
        .unwrap();
    assert_eq!(resp.status().as_u16(), 200);
    let card = b.wait_for("#calls section.call", Duration::from_secs(1));
    let shown_after = posted.elapsed();
    let text = b.text(&card);
    assert!(text.contains("Call from +34 600 000 000"), "{text}");
    assert!(
        text.contains("María García") && text.contains("Finance"),
        "{text}"
    );
    b.screenshot(&screenshot_dir().join("call.png"));
    eprintln!("the caller card showed {shown_after:?} after the call was posted");

    // A number no one has: the card says so.
    b.click(&b.get("#calls button"));
    http.post(&format!("{}/api/v1/calls", c.api))
        .header("Authorization", &format!("Bearer {pbx}"))
        .header("Content-Type", "application/json")
        .send(r#"{"from": "+34 699 999 999", "extension": "2041"}"#)
        .unwrap();
    let card = b.wait_for("#calls section.call", Duration::from_secs(1));
    let text = b.text(&card);
    assert!(text.contains("no one matches"), "{text}");
}

#[test]
fn the_asset_pages_show_a_machine_with_its_charts_and_run_nothing_it_sent() {
    let c = Collector::start();
    accounts(&c);
    let rt = runtime();
    let dir = tempfile::tempdir().unwrap();
    let mut agent = rt.block_on(NumberedAgent::start(
        dir.path(),
        "ws-charts",
        &c.token(1),
        None,
    ));
    let hostname = format!("ws-charts{SCRIPT}");
    push_hostile_inventory(&mut agent, &hostname);
    // Ten minutes of memory samples, one a minute.
    let now = Timestamp::now().0;
    agent.push_samples(
        (0..10)
            .map(|m| {
                atalaya_tests::loadgen::memory_sample(
                    Timestamp(now - (10 - m) * 60_000),
                    40.0 + m as f64,
                )
            })
            .collect(),
    );
    eventually("the machine's samples", Duration::from_secs(30), || {
        let asset = c
            .assets()
            .into_iter()
            .find(|a| a["hostname"] == hostname.as_str())?;
        let id = asset["id"].as_str()?.to_owned();
        let (_, series) = c.get(&format!("/api/v1/assets/{id}/metrics"), Some(&c.admin));
        series["series"]
            .as_array()?
            .iter()
            .any(|s| s == "memory.used_bytes")
            .then_some(())
    });

    let b = Browser::start();
    b.sign_in(&c.api, "vera", PASSWORD);
    b.go(&format!("{}/assets?hostname=ws-charts*", c.api));
    let table = b.text(&b.wait_for("table.assets", Duration::from_secs(10)));
    assert!(table.contains(&hostname), "{table}");
    b.screenshot(&screenshot_dir().join("assets.png"));
    b.click(&b.get("table.assets tbody a"));
    let chart = b.wait_for("#health svg.chart", Duration::from_secs(10));
    let points: usize = b.attr(&chart, "data-points").unwrap().parse().unwrap();
    assert!(points > 0, "the memory chart has points");
    assert_eq!(b.text(&b.get("main h1")), hostname);
    let software = b.text(&b.get("#software table"));
    assert!(software.contains(&format!("pkg{SCRIPT}")), "{software}");
    b.screenshot(&screenshot_dir().join("asset.png"));
    b.exec(
        "document.getElementById('health').scrollIntoView();",
        serde_json::json!([]),
    );
    b.screenshot(&screenshot_dir().join("asset-health.png"));
    // The software search keeps to the page.
    b.fill(&b.get("#software input[name=sw]"), "nothing-like-this\n");
    // The page before the search has a note too: wait for the answer's.
    let note = eventually("the search's answer", Duration::from_secs(10), || {
        b.find("#software p.note")
            .map(|e| b.text(&e))
            .filter(|n| n.starts_with("0 of"))
    });
    assert!(note.starts_with("0 of 1 packages"), "{note}");

    let ran = b.exec(
        "return window.pwned === undefined ? null : window.pwned;",
        serde_json::json!([]),
    );
    assert!(ran.is_null(), "a script from the agent ran: {ran}");
    assert!(
        b.find("img[src=x]").is_none(),
        "an element from the agent was made"
    );
}

#[test]
fn the_help_desk_works_an_incident_and_a_viewer_only_reads_it() {
    let c = Collector::start();
    accounts(&c);
    let rt = runtime();
    let dir = tempfile::tempdir().unwrap();
    let mut agent = rt.block_on(NumberedAgent::start(
        dir.path(),
        "pc-desk",
        &c.token(1),
        None,
    ));
    agent.push_message(|seq| {
        Message::UserReport(UserReport {
            seq,
            id: "r-desk".into(),
            written_at: Timestamp::now(),
            text: format!("the scanner {SCRIPT}{IMG} jams"),
            user: Some("maria".into()),
            uid: Some(1000),
        })
    });

    let b = Browser::start();
    b.sign_in(&c.api, "ana", PASSWORD);
    // The report's incident comes up in the queue, its text shown as written.
    let page = incident_in_queue(&b, &c.api, "the scanner");
    let queue = b.text(&b.get("table#queue tbody"));
    assert!(queue.contains(SCRIPT), "{queue}");
    b.screenshot(&screenshot_dir().join("incidents.png"));
    b.go(&page);
    let title = b.text(&b.get("main h1"));
    assert!(title.contains(SCRIPT), "{title}");

    // Acknowledged with its button: the page comes back saying by whom.
    b.click(&b.get("form[data-action=ack] button"));
    let status = eventually("the acknowledgement", Duration::from_secs(10), || {
        b.find("dd.status")
            .map(|e| b.text(&e))
            .filter(|s| s.starts_with("acknowledged"))
    });
    assert_eq!(status, "acknowledged");
    assert!(
        b.text(&b.get("table.timeline"))
            .contains("acknowledged by ana")
    );
    assert!(b.find("form[data-action=ack]").is_none());
    b.fill(&b.get("form[data-action=note] textarea"), "called maria");
    b.click(&b.get("form[data-action=note] button"));
    eventually("the note", Duration::from_secs(10), || {
        b.find("table.timeline")
            .filter(|t| b.text(t).contains("called maria"))
    });
    b.screenshot(&screenshot_dir().join("incident.png"));
    let ran = b.exec(
        "return window.pwned === undefined ? null : window.pwned;",
        serde_json::json!([]),
    );
    assert!(ran.is_null(), "a script from the report ran: {ran}");
    assert!(b.find("img[src=x]").is_none());

    // A viewer reads the same page without a single form to act.
    b.click(&b.get("form.who button"));
    b.wait_for("form.login", Duration::from_secs(10));
    b.sign_in(&c.api, "vera", PASSWORD);
    b.go(&page);
    assert!(b.text(&b.get("table.timeline")).contains("called maria"));
    assert!(
        b.find("form.action").is_none(),
        "a viewer got an action form"
    );
}
