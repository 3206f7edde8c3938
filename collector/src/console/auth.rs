//! Signing in and out, and who is signed in.
//!
//! A login checks the failed-login guard first, then the argon2id hash
//! (a decoy hash for unknown names, so a wrong name costs as long as a
//! wrong password), and answers every refusal with the same words. A
//! session is 32 random bytes in the `atalaya_session` cookie; the store
//! keeps its SHA-256 with the account, the CSRF token of its forms and
//! its times. It ends on logout, after `idle_minutes` unused, after
//! `session_hours` in all, and when the account is disabled or its
//! password changes.

use std::net::{IpAddr, Ipv4Addr};

use atalaya_common::model::Timestamp;
use atalaya_common::token::secret_sha256;
use axum::extract::{ConnectInfo, FromRequest as _, FromRequestParts, Query, State};
use axum::http::request::Parts;
use axum::http::{HeaderValue, Method, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Form, Router};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use maud::{Markup, html};
use serde::Deserialize;

use super::guard::Locked;
use super::layout;
use super::{ConsoleState, PageError, PageResult, blocking};
use crate::config::ConsoleSettings;
use crate::helpers::password;
use crate::https::ClientAddr;
use crate::store::{Role, SessionRecord};

/// The name of the session cookie.
pub const SESSION_COOKIE: &str = "atalaya_session";

/// Once a minute at most, a page view records that the session is in use.
const TOUCH_EVERY_MS: i64 = 60_000;

pub(super) fn routes() -> Router<ConsoleState> {
    Router::new()
        .route("/login", get(login_page).post(login))
        .route("/logout", post(logout))
}

/// The signed-in person making the request.
#[derive(Debug, Clone)]
pub struct Person {
    /// Account name: how their actions are signed.
    pub name: String,
    /// What they may do.
    pub role: Role,
    /// The token their forms must carry.
    pub csrf: String,
    /// The SHA-256 of the session secret (for logout).
    session: [u8; 32],
}

fn rank(r: Role) -> u8 {
    match r {
        Role::Viewer => 0,
        Role::Helpdesk => 1,
        Role::Admin => 2,
    }
}

impl Person {
    /// Whether the person's role is at least `role`.
    pub fn can(&self, role: Role) -> bool {
        rank(self.role) >= rank(role)
    }

    /// Refuses (403) unless the role is at least `role` and `csrf` is
    /// this session's token: what every form handler checks first.
    pub fn may_post(&self, role: Role, csrf: &str) -> PageResult<()> {
        if !constant_time_eq(csrf.as_bytes(), self.csrf.as_bytes()) {
            return Err(PageError::Forbidden(
                "the form's security token does not match this session; reload the page and try again"
                    .into(),
            ));
        }
        if !self.can(role) {
            return Err(PageError::Forbidden(format!(
                "this needs the {} role; {} has the {} role",
                crate::api::role_name(role),
                self.name,
                crate::api::role_name(self.role)
            )));
        }
        Ok(())
    }
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// The value of cookie `name` in the request's `Cookie` headers.
fn cookie<'a>(parts: &'a Parts, name: &str) -> Option<&'a str> {
    parts
        .headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.trim())
}

/// Where a refused request goes: GETs to the login page (and back
/// after), anything else gets a 403.
#[derive(Debug)]
pub struct NotSignedIn {
    back_to: Option<String>,
}

impl IntoResponse for NotSignedIn {
    fn into_response(self) -> Response {
        match self.back_to {
            Some(path) => {
                let q = layout::query_value(&path);
                Redirect::to(&format!("/login?next={q}")).into_response()
            }
            None => PageError::Forbidden("you are not signed in, or your session ended".into())
                .into_response(),
        }
    }
}

impl FromRequestParts<ConsoleState> for Person {
    type Rejection = NotSignedIn;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &ConsoleState,
    ) -> Result<Self, NotSignedIn> {
        let refused = NotSignedIn {
            back_to: (parts.method == Method::GET).then(|| {
                parts
                    .uri
                    .path_and_query()
                    .map_or("/", |p| p.as_str())
                    .to_owned()
            }),
        };
        let Some(secret) = cookie(parts, SESSION_COOKIE).filter(|s| !s.is_empty()) else {
            return Err(refused);
        };
        let hash = secret_sha256(secret);
        let now = Timestamp::now();
        let settings = state.settings;
        let found = blocking(state, move |s| {
            let Some(session) = s.session(&hash)? else {
                return Ok(None);
            };
            let user = s.user(&session.user)?;
            let live = !session_over(&session, &settings, now)
                && user.as_ref().is_some_and(|u| !u.disabled);
            if !live {
                s.remove_session(&hash)?;
                return Ok(None);
            }
            if now.0 - session.last_seen.0 >= TOUCH_EVERY_MS {
                s.touch_session(&hash, now)?;
            }
            Ok(user.map(|u| (u, session)))
        })
        .await
        .ok()
        .flatten();
        match found {
            Some((user, session)) => Ok(Person {
                name: user.name,
                role: user.role,
                csrf: session.csrf,
                session: hash,
            }),
            None => Err(refused),
        }
    }
}

/// Whether a session is over at `now`: unused for `idle`, or older than
/// `absolute`.
pub fn session_over(session: &SessionRecord, settings: &ConsoleSettings, now: Timestamp) -> bool {
    let ms = |d: std::time::Duration| i64::try_from(d.as_millis()).unwrap_or(i64::MAX);
    now.0.saturating_sub(session.last_seen.0) >= ms(settings.idle)
        || now.0.saturating_sub(session.created_at.0) >= ms(settings.absolute)
}

#[derive(Debug, Default, Deserialize)]
struct LoginQuery {
    next: Option<String>,
}

/// Only a path of this console is a place to go back to after login.
fn safe_next(next: Option<&str>) -> &str {
    match next {
        Some(n) if n.starts_with('/') && !n.starts_with("//") && !n.contains('\\') => n,
        _ => "/fleet",
    }
}

async fn login_page(Query(q): Query<LoginQuery>) -> Markup {
    let next = q.next;
    login_form(safe_next(next.as_deref()), None, "")
}

fn login_form(next: &str, problem: Option<&str>, name: &str) -> Markup {
    layout::bare(
        "Sign in",
        html! {
            form.login method="post" action="/login" {
                h1 { "Atalaya" }
                @if let Some(p) = problem {
                    p.problem role="alert" { (p) }
                }
                label { "Account" input name="name" value=(name) autocomplete="username" required autofocus; }
                label { "Password" input name="password" type="password" autocomplete="current-password" required; }
                input type="hidden" name="next" value=(next);
                button type="submit" { "Sign in" }
            }
        },
    )
}

#[derive(Deserialize)]
struct LoginForm {
    name: String,
    password: String,
    next: Option<String>,
}

impl std::fmt::Debug for LoginForm {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LoginForm")
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

fn client_address(parts_ext: &axum::http::Extensions) -> IpAddr {
    parts_ext
        .get::<ConnectInfo<ClientAddr>>()
        .map_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED), |c| c.0.0.ip())
}

async fn login(
    State(state): State<ConsoleState>,
    req: axum::extract::Request,
) -> PageResult<Response> {
    let address = client_address(req.extensions());
    let Form(form): Form<LoginForm> = Form::from_request(req, &state)
        .await
        .map_err(|e| PageError::Bad(format!("the login form does not parse: {e}")))?;
    let next = safe_next(form.next.as_deref()).to_owned();
    let name = form.name.trim().to_owned();
    let now = Timestamp::now();
    let locked = state
        .guard
        .lock()
        .map_err(|_| PageError::Internal("login guard poisoned".into()))?
        .check(&name, address, now);
    if let Err(locked) = locked {
        let (what, until) = match locked {
            Locked::Account { until } => ("this account", until),
            Locked::Address { until } => ("your address", until),
        };
        tracing::warn!(account = %name, %address, "console login refused: too many failures");
        let minutes = ((until.0 - now.0 + 59_999) / 60_000).max(1);
        let problem = format!(
            "Too many failed sign-ins for {what}; try again in {minutes} minute{}.",
            if minutes == 1 { "" } else { "s" }
        );
        let mut resp = login_form(&next, Some(&problem), &name).into_response();
        *resp.status_mut() = axum::http::StatusCode::TOO_MANY_REQUESTS;
        return Ok(resp);
    }
    let lookup = name.clone();
    let user = blocking(&state, move |s| s.user(&lookup)).await?;
    let password = form.password;
    let hash = user
        .as_ref()
        .filter(|u| !u.disabled)
        .map_or_else(|| password::decoy().to_owned(), |u| u.password_hash.clone());
    let good = tokio::task::spawn_blocking(move || password::check(&password, &hash))
        .await
        .map_err(|e| PageError::Internal(format!("password task: {e}")))?;
    let Some(user) = user.filter(|u| good && !u.disabled) else {
        if let Ok(mut g) = state.guard.lock() {
            g.failed(&name, address, now);
        }
        tracing::info!(account = %name, %address, "console login failed");
        let mut resp = login_form(
            &next,
            Some("That account and password do not match."),
            &name,
        )
        .into_response();
        *resp.status_mut() = axum::http::StatusCode::UNAUTHORIZED;
        return Ok(resp);
    };
    if let Ok(mut g) = state.guard.lock() {
        g.succeeded(&name);
    }
    let secret = random_b64(32);
    let session = SessionRecord {
        user: user.name.clone(),
        created_at: now,
        last_seen: now,
        csrf: random_b64(24),
        address: address.to_string(),
    };
    let hash = secret_sha256(&secret);
    let settings = state.settings;
    blocking(&state, move |s| {
        // Logins are rare: a good time to forget sessions that are over.
        s.expire_sessions(|old| session_over(old, &settings, now))?;
        s.add_session(&hash, &session)
    })
    .await?;
    tracing::info!(account = %user.name, %address, "console login");
    let mut resp = Redirect::to(&next).into_response();
    let cookie = format!(
        "{SESSION_COOKIE}={secret}; Path=/; HttpOnly; SameSite=Strict; Max-Age={}{}",
        state.settings.absolute.as_secs(),
        if state.tls { "; Secure" } else { "" }
    );
    resp.headers_mut().insert(
        header::SET_COOKIE,
        HeaderValue::from_str(&cookie).map_err(|e| PageError::Internal(e.to_string()))?,
    );
    Ok(resp)
}

fn random_b64(n: usize) -> String {
    let mut bytes = vec![0u8; n];
    rand::fill(bytes.as_mut_slice());
    URL_SAFE_NO_PAD.encode(bytes)
}

#[derive(Debug, Deserialize)]
struct CsrfForm {
    csrf: String,
}

async fn logout(
    State(state): State<ConsoleState>,
    me: Person,
    Form(form): Form<CsrfForm>,
) -> PageResult<Response> {
    me.may_post(Role::Viewer, &form.csrf)?;
    let hash = me.session;
    blocking(&state, move |s| s.remove_session(&hash)).await?;
    tracing::info!(account = %me.name, "console logout");
    let mut resp = Redirect::to("/login").into_response();
    resp.headers_mut().insert(
        header::SET_COOKIE,
        HeaderValue::from_static("atalaya_session=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0"),
    );
    Ok(resp)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_local_paths_are_places_to_go_back_to() {
        assert_eq!(
            safe_next(Some("/incidents?status=open")),
            "/incidents?status=open"
        );
        assert_eq!(safe_next(Some("//evil.example/")), "/fleet");
        assert_eq!(safe_next(Some("https://evil.example/")), "/fleet");
        assert_eq!(safe_next(Some("/\\evil.example")), "/fleet");
        assert_eq!(safe_next(None), "/fleet");
    }

    #[test]
    fn the_path_to_go_back_to_is_encoded() {
        assert_eq!(
            layout::query_value("/assets?q=a b&x=1"),
            "%2Fassets%3Fq%3Da%20b%26x%3D1"
        );
    }

    #[test]
    fn a_session_ends_when_idle_or_too_old() {
        let settings = ConsoleSettings::default(); // 30 min idle, 12 h in all
        let min = 60_000;
        let session = SessionRecord {
            user: "ana".into(),
            created_at: Timestamp(0),
            last_seen: Timestamp(0),
            csrf: String::new(),
            address: String::new(),
        };
        assert!(!session_over(&session, &settings, Timestamp(29 * min)));
        assert!(session_over(&session, &settings, Timestamp(30 * min)));
        let busy = SessionRecord {
            last_seen: Timestamp(12 * 60 * min - 1),
            ..session
        };
        assert!(!session_over(
            &busy,
            &settings,
            Timestamp(12 * 60 * min - 1)
        ));
        assert!(
            session_over(&busy, &settings, Timestamp(12 * 60 * min)),
            "used all along, it still ends after session_hours"
        );
    }

    #[test]
    fn tokens_compare_whole() {
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(!constant_time_eq(b"abc", b"abd"));
        assert!(!constant_time_eq(b"abc", b"abcd"));
    }
}
