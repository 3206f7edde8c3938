//! The people directory and incoming calls through a real collector: the
//! CSV import (all or nothing) by the `atalaya` CLI, a lookup by phone
//! number that brings the person's card and their machines (a real agent
//! on a fixture host where maria is logged in), the telephony role's
//! limits, and a posted call reaching the help desk's event stream.

#![allow(clippy::unwrap_used)] // a failed unwrap is a failed test

use std::time::{Duration, Instant};

use atalaya_tests::harness::{Collector, agent, copy_tree, fixture, runtime};
use serde_json::{Value, json};

/// A collector whose national numbers are Spanish.
fn spanish_collector() -> Collector {
    Collector::start_with_sections("", "\n[people]\ndefault_country_code = \"34\"\n")
}

/// A new API token of `role`.
fn api_token(c: &Collector, role: &str) -> String {
    let out = c.admin_cmd(&["api-token", "create", "--role", role, "--name", role]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap().trim().to_owned()
}

/// POSTs `body` (with its content type) as `token`: status and JSON answer.
fn post(c: &Collector, path: &str, token: &str, content_type: &str, body: &str) -> (u16, Value) {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into();
    let mut resp = agent
        .post(format!("{}{path}", c.api))
        .header("Authorization", &format!("Bearer {token}"))
        .header("Content-Type", content_type)
        .send(body)
        .unwrap();
    let status = resp.status().as_u16();
    let text = resp.body_mut().read_to_string().unwrap();
    (
        status,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    )
}

fn post_call(c: &Collector, token: &str, call: &Value) -> (u16, Value) {
    post(
        c,
        "/api/v1/calls",
        token,
        "application/json",
        &call.to_string(),
    )
}

const PEOPLE: &str = "name,logins,email,phones,extension,department,location\r\n\
    María García,maria;mgarcia,maria@corp.example,\"+34 600 000 000; (91) 555-12-34\",2041,IT,\"Madrid, 3rd floor\"\r\n\
    Ana Ruiz,ana,ana@corp.example,600 000 001,2042,Finance,Sevilla\r\n";

#[test]
fn a_people_file_is_imported_whole_or_not_at_all_and_a_phone_finds_the_caller_and_her_machine() {
    let collector = spanish_collector();
    let work = tempfile::tempdir().unwrap();
    // The Debian laptop of the fixtures: maria is logged in on it.
    let root = work.path().join("laptop-root");
    copy_tree(&fixture("debian"), &root);
    let _laptop = agent(work.path(), "laptop", Some(&root), &collector.token(1));

    // One bad row: every problem named by line, and no one imported.
    let bad = work.path().join("bad.csv");
    std::fs::write(
        &bad,
        format!("{PEOPLE}Luis,luis,luis@corp.example,call me,,,\r\n,pepe,,,,,\r\n"),
    )
    .unwrap();
    let out = collector.cli(&["import", "people", bad.to_str().unwrap()]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("2 problems, nothing imported:"), "{err}");
    assert!(err.contains("\n  line 4: phone `call me` has `c`"), "{err}");
    assert!(err.contains("\n  line 5: no name"), "{err}");
    let (status, page) = collector.get("/api/v1/people", Some(&collector.admin));
    assert_eq!((status, &page["total"]), (200, &json!(0)), "{page}");
    // The API says the same, with each problem apart.
    let (status, refused) = post(
        &collector,
        "/api/v1/people/import",
        &collector.admin,
        "text/csv",
        &std::fs::read_to_string(&bad).unwrap(),
    );
    assert_eq!(status, 400, "{refused}");
    assert_eq!(refused["problems"][0]["line"], 4, "{refused}");
    assert_eq!(refused["problems"][1]["message"], "no name", "{refused}");

    let good = work.path().join("people.csv");
    std::fs::write(&good, PEOPLE).unwrap();
    let out = collector.cli(&["import", "people", good.to_str().unwrap()]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        format!(
            "imported {}: 2 added, 0 replaced, 0 removed; 2 people in the directory\n",
            good.display()
        )
    );
    let (_, page) = collector.get("/api/v1/people", Some(&collector.admin));
    assert_eq!(page["total"], 2, "{page}");
    let maria = &page["items"][0];
    assert_eq!(maria["name"], "María García");
    assert_eq!(maria["phones"][1]["normalised"], "+34915551234", "{maria}");
    let (status, card) = collector.get(
        &format!("/api/v1/people/{}", maria["id"]),
        Some(&collector.admin),
    );
    assert_eq!(
        (status, &card["location"]),
        (200, &json!("Madrid, 3rd floor"))
    );

    // Her national number, as the phone system may give it: her card and
    // the laptop she is logged in on.
    collector.asset_named("lat-maria");
    let (status, found) = collector.get("/api/v1/lookup?q=600%20000%20000", Some(&collector.admin));
    assert_eq!(status, 200, "{found}");
    assert_eq!(found["people"][0]["name"], "María García", "{found}");
    assert_eq!(found["people"][0]["why"][0], "phone +34 600 000 000");
    assert_eq!(found["machines"][0]["hostname"], "lat-maria", "{found}");
    let why = found["machines"][0]["why"][0]["text"].as_str().unwrap();
    assert!(why.starts_with("maria logged in on tty2"), "{found}");

    let out = collector.cli(&["lookup", "0034 600-000-000"]);
    let screen = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{screen}");
    assert!(
        screen.starts_with("1 person in the directory for 0034 600-000-000\n\nMaría García  person 1\n  why:        phone +34 600 000 000\n"),
        "{screen}"
    );
    assert!(screen.contains("  department: IT\n"), "{screen}");
    assert!(screen.contains("\nlat-maria  "), "{screen}");

    // A re-import replaces her by e-mail: her old number no longer finds her.
    let moved = PEOPLE.replace("+34 600 000 000; ", "+34 699 000 000; ");
    let (status, done) = post(
        &collector,
        "/api/v1/people/import",
        &collector.admin,
        "text/csv",
        &moved,
    );
    assert_eq!(status, 200, "{done}");
    assert_eq!(
        (&done["added"], &done["replaced"], &done["people"]),
        (&json!(0), &json!(2), &json!(2))
    );
    let (_, found) = collector.get("/api/v1/lookup?q=%2B34600000000", Some(&collector.admin));
    assert_eq!(found["people"], json!([]), "{found}");
    let (_, found) = collector.get("/api/v1/lookup?q=%2B34699000000", Some(&collector.admin));
    assert_eq!(found["people"][0]["id"], 1, "the same person: {found}");
}

#[test]
fn a_telephony_token_may_post_calls_and_nothing_else() {
    let collector = spanish_collector();
    let telephony = api_token(&collector, "telephony");
    let viewer = api_token(&collector, "viewer");
    let helpdesk = api_token(&collector, "helpdesk");
    let (status, _) = post(
        &collector,
        "/api/v1/people/import",
        &collector.admin,
        "text/csv",
        PEOPLE,
    );
    assert_eq!(status, 200);

    for path in [
        "/api/v1/assets",
        "/api/v1/lookup?q=maria",
        "/api/v1/people",
        "/api/v1/people/1",
        "/api/v1/incidents",
        "/api/v1/calls/stream",
        "/metrics",
    ] {
        let (status, body) = collector.get(path, Some(&telephony));
        assert_eq!(status, 403, "{path}: {body}");
    }
    let (status, body) = collector.get("/api/v1/lookup?q=maria", Some(&telephony));
    assert_eq!(status, 403);
    assert!(
        body["error"]
            .as_str()
            .unwrap()
            .starts_with("this needs the viewer role; the token "),
        "{body}"
    );
    let (status, _) = post(
        &collector,
        "/api/v1/people/import",
        &telephony,
        "text/csv",
        PEOPLE,
    );
    assert_eq!(status, 403);

    // Only telephony and admin post calls.
    let call = json!({"from": "+34 600 000 001", "extension": "2041"});
    for token in [&viewer, &helpdesk] {
        assert_eq!(post_call(&collector, token, &call).0, 403);
    }
    let (status, answer) = post_call(&collector, &telephony, &call);
    assert_eq!(status, 200, "{answer}");
    assert_eq!(
        answer["card"]["text"],
        "Ana Ruiz, Finance, Sevilla, ext. 2042"
    );
    assert_eq!(answer["extension"], "2041");
    let (status, answer) = post_call(
        &collector,
        &collector.admin,
        &json!({"from": "+34 611 111 111"}),
    );
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["card"]["text"], "no one matches +34 611 111 111");
    assert_eq!(answer["card"]["people"], json!([]));
    // As Asterisk's CURL() sends it: a form.
    let (status, answer) = post(
        &collector,
        "/api/v1/calls",
        &telephony,
        "application/x-www-form-urlencoded",
        "from=%2B34%20600%20000%20001&extension=2041",
    );
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["from"], "+34 600 000 001");
    assert_eq!(answer["card"]["people"][0]["name"], "Ana Ruiz");
    let (status, answer) = post_call(
        &collector,
        &telephony,
        &json!({"from": "600", "extension": "reception"}),
    );
    assert_eq!(status, 400, "{answer}");
    assert!(
        answer["error"].as_str().unwrap().contains("`extension`"),
        "{answer}"
    );
    // And the telephony token still reads nothing after posting.
    assert_eq!(collector.get("/api/v1/assets", Some(&telephony)).0, 403);
}

/// Reads `resp` until a whole `call` event has arrived; its data.
async fn next_call(resp: &mut reqwest::Response, buffer: &mut String) -> Value {
    loop {
        if let Some(end) = buffer.find("\n\n") {
            let event: String = buffer.drain(..end + 2).collect();
            if !event.lines().any(|l| l == "event: call") {
                continue; // a keep-alive comment
            }
            let data: String = event
                .lines()
                .filter_map(|l| l.strip_prefix("data: "))
                .collect();
            return serde_json::from_str(&data).unwrap();
        }
        let chunk = resp.chunk().await.unwrap().expect("the stream ended");
        buffer.push_str(std::str::from_utf8(&chunk).unwrap());
    }
}

#[test]
fn a_posted_call_reaches_the_stream_of_its_extension_within_a_second() {
    let collector = spanish_collector();
    let telephony = api_token(&collector, "telephony");
    let helpdesk = api_token(&collector, "helpdesk");
    let (status, _) = post(
        &collector,
        "/api/v1/people/import",
        &collector.admin,
        "text/csv",
        PEOPLE,
    );
    assert_eq!(status, 200);

    runtime().block_on(async {
        let client = reqwest::Client::new();
        let open = |extension: &str| {
            client
                .get(format!(
                    "{}/api/v1/calls/stream?extension={extension}",
                    collector.api
                ))
                .bearer_auth(&helpdesk)
                .send()
        };
        let mut desk = open("2041").await.unwrap();
        let mut other = open("2042").await.unwrap();
        assert_eq!(desk.status(), 200);
        assert_eq!(
            desk.headers()["content-type"].to_str().unwrap(),
            "text/event-stream"
        );

        let post = |from: &'static str, extension: &'static str| {
            let telephony = telephony.clone();
            let api = collector.api.clone();
            async move {
                reqwest::Client::new()
                    .post(format!("{api}/api/v1/calls"))
                    .bearer_auth(telephony)
                    .header("Content-Type", "application/json")
                    .body(json!({"from": from, "extension": extension}).to_string())
                    .send()
                    .await
                    .unwrap()
                    .status()
            }
        };
        let posted = Instant::now();
        assert_eq!(post("0034 600 000 000", "2041").await, 200);
        let mut buffer = String::new();
        let call = tokio::time::timeout(Duration::from_secs(1), next_call(&mut desk, &mut buffer))
            .await
            .expect("the call reached the stream within a second");
        let took = posted.elapsed();
        assert!(took < Duration::from_secs(1), "{took:?}");
        assert_eq!(call["extension"], "2041");
        assert_eq!(call["from"], "0034 600 000 000");
        assert_eq!(
            call["card"]["text"],
            "María García, IT, Madrid, 3rd floor, ext. 2041"
        );
        assert_eq!(call["card"]["people"][0]["email"], "maria@corp.example");

        // The stream of another extension did not get it: its first call
        // is the one ringing there.
        assert_eq!(post("+34 600 000 001", "2042").await, 200);
        let mut buffer = String::new();
        let call = tokio::time::timeout(Duration::from_secs(5), next_call(&mut other, &mut buffer))
            .await
            .unwrap();
        assert_eq!(call["extension"], "2042", "{call}");
        assert_eq!(call["card"]["people"][0]["name"], "Ana Ruiz");
    });
}
