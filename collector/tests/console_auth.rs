//! The console's accounts and sessions over real HTTP on a real store:
//! the account API, cookies and headers, sessions ended by logout, a new
//! password or disabling, per-address lockout, CSRF.

#![allow(clippy::unwrap_used)]

#[path = "support/console.rs"]
mod console_support;

use std::sync::Arc;
use std::time::Duration;

use atalaya_collector::api::{ApiState, new_api_token};
use atalaya_collector::config::ConsoleSettings;
use atalaya_collector::store::{Role, Store};
use atalaya_collector::telemetry::Telemetry;
use atalaya_common::model::Timestamp;
use serde_json::{Value, json};

struct Console {
    base: String,
    admin: String,
    viewer: String,
    http: ureq::Agent,
    _dir: tempfile::TempDir,
    _rt: tokio::runtime::Runtime,
}

const PASSWORD: &str = "a long password 1";

fn start(settings: ConsoleSettings) -> Console {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(Store::open(&dir.path().join("store.redb")).unwrap());
    let (admin_rec, admin) = new_api_token("admin", Role::Admin, Timestamp::now());
    let (viewer_rec, viewer) = new_api_token("viewer", Role::Viewer, Timestamp::now());
    store.add_api_token(&admin_rec).unwrap();
    store.add_api_token(&viewer_rec).unwrap();
    let state = ApiState {
        store,
        telemetry: Arc::new(Telemetry::default()),
        admin: Arc::new(console_support::NoServer),
        desk: None,
        calls: Default::default(),
    };
    let (base, rt) = console_support::serve(state, settings);
    let http = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .max_redirects(0)
        .build()
        .into();
    let c = Console {
        base,
        admin,
        viewer,
        http,
        _dir: dir,
        _rt: rt,
    };
    for (name, role) in [("ana", "helpdesk"), ("vera", "viewer")] {
        let (status, body) = c.api(
            "POST",
            "/api/v1/users",
            &c.admin,
            Some(json!({"name": name, "role": role, "password": PASSWORD})),
        );
        assert_eq!(status, 201, "{body}");
    }
    c
}

impl Console {
    fn api(&self, method: &str, path: &str, token: &str, body: Option<Value>) -> (u16, Value) {
        let url = format!("{}{path}", self.base);
        let auth = format!("Bearer {token}");
        let resp = match method {
            "GET" => self.http.get(&url).header("Authorization", &auth).call(),
            _ => self
                .http
                .post(&url)
                .header("Authorization", &auth)
                .header("Content-Type", "application/json")
                .send(body.map(|b| b.to_string()).unwrap_or_default()),
        };
        let mut resp = resp.unwrap();
        let status = resp.status().as_u16();
        let text = resp.body_mut().read_to_string().unwrap();
        (status, serde_json::from_str(&text).unwrap_or(Value::Null))
    }

    /// Signs in; the status and the session cookie (`name=value`).
    fn sign_in(&self, name: &str, password: &str) -> (u16, Option<String>, String) {
        let resp = self
            .http
            .post(&format!("{}/login", self.base))
            .send_form([("name", name), ("password", password), ("next", "/lookup")])
            .unwrap();
        let set = resp
            .headers()
            .get("set-cookie")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
            .unwrap_or_default();
        let cookie = set
            .split(';')
            .next()
            .filter(|c| !c.is_empty())
            .map(str::to_owned);
        (resp.status().as_u16(), cookie, set)
    }

    /// GETs a page with `cookie`: status, headers of interest and body.
    fn page(&self, path: &str, cookie: &str) -> (u16, Option<String>, String) {
        let mut resp = self
            .http
            .get(&format!("{}{path}", self.base))
            .header("Cookie", cookie)
            .call()
            .unwrap();
        let location = resp
            .headers()
            .get("location")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let body = resp.body_mut().read_to_string().unwrap();
        (resp.status().as_u16(), location, body)
    }

    fn csrf_of(&self, cookie: &str) -> String {
        let (_, _, html) = self.page("/fleet", cookie);
        let at = html.find("name=\"csrf\" value=\"").unwrap() + 19;
        html[at..].split('"').next().unwrap().to_owned()
    }
}

#[test]
fn the_account_api_is_for_admins_and_never_shows_a_hash() {
    let c = start(ConsoleSettings::default());
    let (status, list) = c.api("GET", "/api/v1/users", &c.admin, None);
    assert_eq!(status, 200);
    let names: Vec<&str> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["ana", "vera"]);
    assert!(!list.to_string().contains("argon2"), "{list}");
    assert_eq!(c.api("GET", "/api/v1/users", &c.viewer, None).0, 403);
    let (status, body) = c.api(
        "POST",
        "/api/v1/users",
        &c.admin,
        Some(json!({"name": "ana", "role": "viewer", "password": PASSWORD})),
    );
    assert_eq!(status, 409, "{body}");
    let (status, body) = c.api(
        "POST",
        "/api/v1/users",
        &c.admin,
        Some(json!({"name": "luis", "role": "viewer", "password": "short"})),
    );
    assert_eq!(status, 400);
    assert!(
        body["error"].as_str().unwrap().contains("at least 10"),
        "{body}"
    );
    let (status, body) = c.api(
        "POST",
        "/api/v1/users",
        &c.admin,
        Some(json!({"name": "<b>", "role": "viewer", "password": PASSWORD})),
    );
    assert_eq!(status, 400, "{body}");
    let (status, _) = c.api("POST", "/api/v1/users/nobody/disable", &c.admin, None);
    assert_eq!(status, 404);
}

#[test]
fn a_session_cookie_is_strict_and_pages_carry_the_security_headers() {
    let c = start(ConsoleSettings::default());
    let (status, cookie, set) = c.sign_in("ana", PASSWORD);
    assert_eq!(status, 303);
    assert!(cookie.is_some());
    for part in ["HttpOnly", "SameSite=Strict", "Path=/"] {
        assert!(set.contains(part), "{set}");
    }
    assert!(!set.contains("Secure"), "plain HTTP on loopback: {set}");
    let resp = c
        .http
        .get(&format!("{}/fleet", c.base))
        .header("Cookie", cookie.as_deref().unwrap())
        .call()
        .unwrap();
    assert_eq!(resp.status().as_u16(), 200);
    let h = |name: &str| {
        resp.headers()
            .get(name)
            .unwrap()
            .to_str()
            .unwrap()
            .to_owned()
    };
    let csp = h("content-security-policy");
    assert!(
        csp.contains("script-src 'self'") && !csp.contains("unsafe-inline"),
        "{csp}"
    );
    assert!(csp.contains("frame-ancestors 'none'"), "{csp}");
    assert_eq!(h("x-frame-options"), "DENY");
    assert_eq!(h("x-content-type-options"), "nosniff");
    assert_eq!(h("cache-control"), "no-store");
    // A wrong password sets no cookie.
    let (status, cookie, _) = c.sign_in("ana", "not the password");
    assert_eq!((status, cookie), (401, None));
    let (status, cookie, _) = c.sign_in("nobody", PASSWORD);
    assert_eq!((status, cookie), (401, None));
}

#[test]
fn logout_a_new_password_and_disabling_end_sessions() {
    let c = start(ConsoleSettings::default());
    let (_, ana, _) = c.sign_in("ana", PASSWORD);
    let ana = ana.unwrap();
    let (_, vera, _) = c.sign_in("vera", PASSWORD);
    let vera = vera.unwrap();
    assert_eq!(c.page("/fleet", &ana).0, 200);

    // Logout without the form's token: refused, the session lives.
    let resp = c
        .http
        .post(&format!("{}/logout", c.base))
        .header("Cookie", &vera)
        .send_form([("csrf", "forged")])
        .unwrap();
    assert_eq!(resp.status().as_u16(), 403);
    assert_eq!(c.page("/fleet", &vera).0, 200);
    let token = c.csrf_of(&vera);
    let resp = c
        .http
        .post(&format!("{}/logout", c.base))
        .header("Cookie", &vera)
        .send_form([("csrf", token.as_str())])
        .unwrap();
    assert_eq!(resp.status().as_u16(), 303);
    let (status, location, _) = c.page("/fleet", &vera);
    assert_eq!(status, 303);
    assert_eq!(location.as_deref(), Some("/login?next=%2Ffleet"));

    // A new password ends ana's session; the new one works, the old does not.
    let new = "another long password";
    let (status, _) = c.api(
        "POST",
        "/api/v1/users/ana/password",
        &c.admin,
        Some(json!({"password": new})),
    );
    assert_eq!(status, 200);
    assert_eq!(c.page("/fleet", &ana).0, 303);
    assert_eq!(c.sign_in("ana", PASSWORD).0, 401);
    let (status, again, _) = c.sign_in("ana", new);
    assert_eq!(status, 303);
    let again = again.unwrap();
    assert_eq!(c.page("/fleet", &again).0, 200);

    // Disabled: the session ends and signing in is refused.
    assert_eq!(
        c.api("POST", "/api/v1/users/ana/disable", &c.admin, None).0,
        200
    );
    assert_eq!(c.page("/fleet", &again).0, 303);
    assert_eq!(c.sign_in("ana", new).0, 401);
    assert_eq!(
        c.api("POST", "/api/v1/users/ana/enable", &c.admin, None).0,
        200
    );
    assert_eq!(c.sign_in("ana", new).0, 303);
}

#[test]
fn an_address_that_fails_too_often_is_locked_out_for_every_account() {
    let c = start(ConsoleSettings {
        address_failures: 3,
        lockout: Duration::from_secs(600),
        ..ConsoleSettings::default()
    });
    for name in ["x1", "x2", "x3"] {
        assert_eq!(c.sign_in(name, "guess guess guess").0, 401);
    }
    let resp = c
        .http
        .post(&format!("{}/login", c.base))
        .send_form([("name", "ana"), ("password", PASSWORD)])
        .unwrap();
    assert_eq!(resp.status().as_u16(), 429);
    let mut resp = resp;
    let html = resp.body_mut().read_to_string().unwrap();
    assert!(
        html.contains("Too many failed sign-ins for your address"),
        "{html}"
    );
}

#[test]
fn a_session_cookie_that_is_not_a_session_leads_to_the_login_page() {
    let c = start(ConsoleSettings::default());
    for cookie in ["atalaya_session=forged", "atalaya_session=", "other=1", ""] {
        let (status, location, _) = c.page("/lookup?q=x", cookie);
        assert_eq!(status, 303, "{cookie}");
        assert_eq!(location.as_deref(), Some("/login?next=%2Flookup%3Fq%3Dx"));
    }
    // After login, it goes back where it was asked to.
    let resp = c
        .http
        .post(&format!("{}/login", c.base))
        .send_form([
            ("name", "ana"),
            ("password", PASSWORD),
            ("next", "//evil.example/"),
        ])
        .unwrap();
    assert_eq!(resp.headers().get("location").unwrap(), "/fleet");
}
