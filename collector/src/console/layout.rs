//! The page shell every console page is drawn in, and small pieces of
//! markup the pages share. maud escapes every value it interpolates:
//! whatever an agent sent is shown as text, never run.

use atalaya_common::model::Timestamp;
use maud::{DOCTYPE, Markup, html};

use super::auth::Person;

/// The sections of the navigation bar.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Section {
    /// The fleet overview.
    Fleet,
    /// Assets.
    Assets,
    /// Incidents.
    Incidents,
    /// The knowledge base.
    Kb,
    /// Network devices and topology.
    Network,
    /// Capacity.
    Capacity,
    /// Suppliers, contracts, warranties and licences.
    Suppliers,
    /// Reports.
    Reports,
    /// Caller lookup.
    Lookup,
}

const NAV: &[(Section, &str, &str)] = &[
    (Section::Fleet, "/fleet", "Fleet"),
    (Section::Assets, "/assets", "Assets"),
    (Section::Incidents, "/incidents", "Incidents"),
    (Section::Kb, "/kb", "Knowledge base"),
    (Section::Network, "/network", "Network"),
    (Section::Capacity, "/capacity", "Capacity"),
    (Section::Suppliers, "/suppliers", "Suppliers"),
    (Section::Reports, "/reports/slr", "Service levels"),
];

fn head(title: &str) -> Markup {
    html! {
        head {
            meta charset="utf-8";
            meta name="viewport" content="width=device-width, initial-scale=1";
            title { (title) " · Atalaya" }
            link rel="stylesheet" href="/static/console.css";
            script src="/static/console.js" defer {}
        }
    }
}

/// A page of the console for `me`, with the navigation bar, the search
/// box (caller lookup) and the logout button.
pub fn page(me: &Person, section: Section, title: &str, body: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            (head(title))
            body data-section=(format!("{section:?}").to_lowercase()) {
                header.top {
                    a.brand href="/fleet" { "Atalaya" }
                    nav {
                        @for (s, href, label) in NAV {
                            a href=(href) aria-current=[(*s == section).then_some("page")] { (label) }
                        }
                    }
                    form.search method="get" action="/lookup" role="search" {
                        input type="search" name="q" placeholder="Name, login, host or phone"
                            aria-label="Look up a caller, a login or a host";
                    }
                    form.who method="post" action="/logout" {
                        span.person { (me.name) " · " (crate::api::role_name(me.role)) }
                        (csrf(me))
                        button type="submit" { "Sign out" }
                    }
                }
                div #calls aria-live="polite" {}
                main {
                    h1 { (title) }
                    (body)
                }
            }
        }
    }
}

/// A page outside the signed-in console (the login page).
pub fn bare(title: &str, body: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            (head(title))
            body.bare { main { (body) } }
        }
    }
}

/// The hidden CSRF field every form of a signed-in page carries.
pub fn csrf(me: &Person) -> Markup {
    html! { input type="hidden" name="csrf" value=(me.csrf); }
}

/// A time as a date and minute, in UTC, or a dash.
pub fn when(t: Option<Timestamp>) -> Markup {
    match t {
        Some(t) => {
            let text = t.to_rfc3339().unwrap_or_else(|| t.0.to_string());
            let short = text.get(..16).unwrap_or(&text).replace('T', " ");
            html! { time datetime=(text) { (short) } }
        }
        None => html! { "—" },
    }
}

/// A coloured badge (`kind` is a CSS class: ok, warn, bad, muted).
pub fn badge(kind: &str, text: &str) -> Markup {
    html! { span class={ "badge " (kind) } { (text) } }
}

/// A count shown large with its label, optionally a link.
pub fn card(label: &str, value: impl std::fmt::Display, href: Option<&str>) -> Markup {
    html! {
        div.card {
            @if let Some(h) = href {
                a href=(h) { span.value { (value.to_string()) } span.label { (label) } }
            } @else {
                span.value { (value.to_string()) } span.label { (label) }
            }
        }
    }
}

/// `value` encoded for a URL query string.
pub fn query_value(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for b in value.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}
