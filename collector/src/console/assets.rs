//! The asset list: filters (host name with `*` globs, OS, installed
//! package with a version range, tag, last seen before or after), one
//! page at a time, and its export as CSV: the rows of the page shown, or
//! every match up to [`CSV_MAX_ROWS`].

use std::collections::HashMap;
use std::sync::Arc;

use atalaya_common::model::Timestamp;
use axum::Router;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use maud::{Markup, html};
use serde::Deserialize;

use super::auth::Person;
use super::layout::{self, Section};
use super::{ConsoleState, PageError, PageResult, blocking};
use crate::records::device::DEVICE_ASSET_PREFIX;
use crate::store::{AssetFilter, AssetSummary, Page};

/// Rows of a page unless `limit` says otherwise.
pub const PAGE_ROWS: usize = 50;
/// Most rows of a page.
pub const MAX_PAGE_ROWS: usize = 500;
/// Most rows of an export of every match.
pub const CSV_MAX_ROWS: usize = 10_000;

pub(super) fn routes() -> Router<ConsoleState> {
    Router::new()
        .route("/assets", get(list))
        .route("/assets.csv", get(csv))
}

/// The query of `/assets` and `/assets.csv`.
#[derive(Debug, Default, Clone, Deserialize)]
pub(super) struct ListQuery {
    hostname: Option<String>,
    os: Option<String>,
    software: Option<String>,
    version_min: Option<String>,
    version_max: Option<String>,
    tag: Option<String>,
    seen_before: Option<String>,
    seen_after: Option<String>,
    offset: Option<String>,
    limit: Option<String>,
    all: Option<String>,
}

fn given(v: Option<&String>) -> Option<String> {
    v.map(|s| s.trim().to_owned()).filter(|s| !s.is_empty())
}

/// A time typed in a form: RFC 3339, a date (`2026-11-28`, its start, or
/// its end when `end_of_day`), a `datetime-local` value
/// (`2026-11-28T10:00`, UTC) or a duration ago (`7d`).
pub(super) fn parse_when(
    param: &str,
    value: &str,
    now: Timestamp,
    end_of_day: bool,
) -> PageResult<Timestamp> {
    let v = value.trim();
    let b = v.as_bytes();
    let digits =
        |r: std::ops::Range<usize>| b.get(r).is_some_and(|s| s.iter().all(u8::is_ascii_digit));
    let is_date = b.len() >= 10
        && digits(0..4)
        && b[4] == b'-'
        && digits(5..7)
        && b[7] == b'-'
        && digits(8..10);
    let candidate = if is_date && b.len() == 10 {
        Some(if end_of_day {
            format!("{v}T23:59:59.999Z")
        } else {
            format!("{v}T00:00:00Z")
        })
    } else if is_date && b.len() == 16 && b[10] == b'T' {
        Some(format!("{v}:00Z"))
    } else if is_date && b.len() == 19 && b[10] == b'T' {
        Some(format!("{v}Z"))
    } else {
        None
    };
    if let Some(c) = candidate {
        return Timestamp::parse_rfc3339(&c).map_err(|e| {
            PageError::Bad(format!(
                "{param}: `{value}` is not a valid date or time: {e}"
            ))
        });
    }
    crate::api::parse_time("time", v, now).map_err(|_| {
        PageError::Bad(format!(
            "{param}: `{value}` is neither a date (2026-11-28), a date and time \
             (2026-11-28T10:00, UTC) nor a duration ago (7d, 24h)"
        ))
    })
}

fn number(param: &str, value: Option<&String>, default: usize, max: usize) -> PageResult<usize> {
    match given(value) {
        None => Ok(default),
        Some(v) => match v.parse::<usize>() {
            Ok(n) if n <= max => Ok(n),
            _ => Err(PageError::Bad(format!(
                "{param}: `{v}` is not a whole number from 0 to {max}"
            ))),
        },
    }
}

impl ListQuery {
    /// The store filter this query asks for, with the page's offset and
    /// size (`all`: the first [`CSV_MAX_ROWS`]).
    fn filter(&self, now: Timestamp, all: bool) -> PageResult<AssetFilter> {
        let software = given(self.software.as_ref());
        let version_min = given(self.version_min.as_ref());
        let version_max = given(self.version_max.as_ref());
        if software.is_none() && (version_min.is_some() || version_max.is_some()) {
            return Err(PageError::Bad(
                "a version range needs a package name in “Software”".into(),
            ));
        }
        let time = |param: &str, v: Option<&String>| {
            given(v)
                .map(|v| parse_when(param, &v, now, false))
                .transpose()
        };
        let limit = number("limit", self.limit.as_ref(), PAGE_ROWS, MAX_PAGE_ROWS)?.max(1);
        let offset = number("offset", self.offset.as_ref(), 0, usize::MAX)?;
        Ok(AssetFilter {
            hostname: given(self.hostname.as_ref()),
            os: given(self.os.as_ref()),
            software,
            version_min,
            version_max,
            tag: given(self.tag.as_ref()),
            seen_before: time("seen_before", self.seen_before.as_ref())?,
            seen_after: time("seen_after", self.seen_after.as_ref())?,
            offset: if all { 0 } else { offset },
            limit: if all { CSV_MAX_ROWS } else { limit },
        })
    }

    /// The filters as query-string pairs, without paging.
    fn filter_pairs(&self) -> Vec<(&'static str, String)> {
        [
            ("hostname", &self.hostname),
            ("os", &self.os),
            ("software", &self.software),
            ("version_min", &self.version_min),
            ("version_max", &self.version_max),
            ("tag", &self.tag),
            ("seen_before", &self.seen_before),
            ("seen_after", &self.seen_after),
        ]
        .into_iter()
        .filter_map(|(k, v)| given(v.as_ref()).map(|v| (k, v)))
        .collect()
    }

    /// `path?filters&extra`, encoded.
    fn href(&self, path: &str, extra: &[(&str, String)]) -> String {
        let pairs: Vec<String> = self
            .filter_pairs()
            .iter()
            .map(|(k, v)| (*k, v.as_str()))
            .chain(extra.iter().map(|(k, v)| (*k, v.as_str())))
            .map(|(k, v)| format!("{k}={}", layout::query_value(v)))
            .collect();
        if pairs.is_empty() {
            path.to_owned()
        } else {
            format!("{path}?{}", pairs.join("&"))
        }
    }
}

/// One row of the list, as shown and exported.
#[derive(Debug, Clone)]
struct Row {
    asset: AssetSummary,
    kind: &'static str,
    agent_status: String,
}

/// The asset's kind as the list says it.
pub(super) fn kind_of(id: &str) -> &'static str {
    if id.starts_with(DEVICE_ASSET_PREFIX) {
        "network device"
    } else {
        "host"
    }
}

/// The page of assets `filter` asks for, with each one's agent status (of
/// its agents, the best: connected, then silent, then the rest).
async fn rows(state: &ConsoleState, filter: AssetFilter) -> PageResult<(Page<Row>, usize)> {
    let admin = Arc::clone(&state.api.admin);
    let limit = filter.limit;
    blocking(state, move |s| {
        let page = s.assets(&filter)?;
        let now = Timestamp::now();
        let silent_after = admin.silent_after();
        // Only the agents of the page's rows.
        let ids: Vec<&str> = page
            .items
            .iter()
            .flat_map(|a| a.agent_ids.iter().map(String::as_str))
            .collect();
        let statuses: HashMap<String, &'static str> = s
            .agents(&ids)?
            .iter()
            .map(|a| {
                let st = crate::api::agent_status(a, admin.is_connected(&a.id), silent_after, now);
                (a.id.clone(), st)
            })
            .collect();
        let rank = |st: &str| match st {
            "connected" => 0,
            "silent" => 1,
            "disconnected" => 2,
            _ => 3,
        };
        let items = page
            .items
            .into_iter()
            .map(|a| {
                let agent_status = a
                    .agent_ids
                    .iter()
                    .filter_map(|id| statuses.get(id).copied())
                    .min_by_key(|st| rank(st))
                    .map_or_else(
                        || {
                            if a.id.starts_with(DEVICE_ASSET_PREFIX) {
                                "polled".to_owned()
                            } else {
                                "no agent".to_owned()
                            }
                        },
                        |st| st.replace('_', " "),
                    );
                Row {
                    kind: kind_of(&a.id),
                    asset: a,
                    agent_status,
                }
            })
            .collect();
        Ok((
            Page {
                items,
                total: page.total,
                offset: page.offset,
                next_offset: page.next_offset,
            },
            limit,
        ))
    })
    .await
}

/// The badge class of an agent status.
pub(super) fn status_class(status: &str) -> &'static str {
    match status {
        "connected" | "polled" => "ok",
        "silent" | "disconnected" => "bad",
        _ => "muted",
    }
}

async fn list(
    State(state): State<ConsoleState>,
    me: Person,
    q: Result<Query<ListQuery>, QueryRejection>,
) -> PageResult<Markup> {
    let Query(q) = q.map_err(|e| PageError::Bad(format!("the filters do not parse: {e}")))?;
    let filter = q.filter(Timestamp::now(), false)?;
    let (page, limit) = rows(&state, filter).await?;
    let shown = page.items.len();
    let first = page.offset + 1;
    let last = page.offset + shown;
    let prev = (page.offset > 0).then(|| page.offset.saturating_sub(limit));
    let paging = |offset: usize| {
        let mut extra = vec![("offset", offset.to_string())];
        if limit != PAGE_ROWS {
            extra.push(("limit", limit.to_string()));
        }
        q.href("/assets", &extra)
    };
    let page_csv = q.href(
        "/assets.csv",
        &[
            ("offset", page.offset.to_string()),
            ("limit", limit.to_string()),
        ],
    );
    let all_csv = q.href("/assets.csv", &[("all", "1".to_owned())]);
    let v = |s: &Option<String>| s.clone().unwrap_or_default();
    let body = html! {
        form.inline.filters method="get" action="/assets" {
            label { "Host name" input name="hostname" value=(v(&q.hostname)) placeholder="web-*"; }
            label { "OS" input name="os" value=(v(&q.os)) placeholder="debian"; }
            label { "Software" input name="software" value=(v(&q.software)) placeholder="openssl*"; }
            label { "Version from" input name="version_min" value=(v(&q.version_min)) size="10"; }
            label { "Version to" input name="version_max" value=(v(&q.version_max)) size="10"; }
            label { "Tag" input name="tag" value=(v(&q.tag)); }
            label { "Seen after" input name="seen_after" value=(v(&q.seen_after)) placeholder="2026-11-01 or 7d" size="14"; }
            label { "Seen before" input name="seen_before" value=(v(&q.seen_before)) placeholder="2026-11-01 or 7d" size="14"; }
            @if limit != PAGE_ROWS { input type="hidden" name="limit" value=(limit); }
            button type="submit" { "Filter" }
            a.button.secondary href="/assets" { "Clear" }
        }
        p.summary {
            @if page.total == 0 {
                "No asset matches these filters."
            } @else if shown == 0 {
                "No asset on this page: " (page.total) " match; "
                a href=(paging(0)) { "see the first page" } "."
            } @else {
                "Assets " (first) "–" (last) " of " (page.total) "."
            }
            @if page.total > 0 {
                " "
                a.export href=(page_csv) download { "Export CSV (the " (shown) (if shown == 1 { " row" } else { " rows" }) " of this page)" }
                " · "
                a.export href=(all_csv) download {
                    "Export CSV (all " (page.total.min(CSV_MAX_ROWS)) (if page.total == 1 { " match" } else { " matches" })
                    @if page.total > CSV_MAX_ROWS { ", the first " (CSV_MAX_ROWS) }
                    ")"
                }
            }
        }
        table.assets {
            thead { tr {
                th { "Host name" } th { "Kind" } th { "Operating system" } th { "Tags" }
                th { "Last seen" } th { "Agent" }
            } }
            tbody {
                @for r in &page.items {
                    tr {
                        td { a href={ "/assets/" (layout::query_value(&r.asset.id)) } { (r.asset.hostname) }
                            @if r.asset.possible_clone { " " (layout::badge("warn", "possible clone")) } }
                        td { (r.kind) }
                        td { (r.asset.os.as_deref().unwrap_or("—")) }
                        td.tags { @for t in &r.asset.tags {
                            a.tag href={ "/assets?tag=" (layout::query_value(t)) } { (t) } " "
                        } }
                        td { (layout::when(Some(r.asset.last_seen))) }
                        td { (layout::badge(status_class(&r.agent_status), &r.agent_status)) }
                    }
                }
            }
        }
        nav.pages aria-label="Pages" {
            @if let Some(p) = prev { a rel="prev" href=(paging(p)) { "← Previous" } }
            @if let Some(n) = page.next_offset { a rel="next" href=(paging(n)) { "Next →" } }
        }
    };
    Ok(layout::page(&me, Section::Assets, "Assets", body))
}

/// A CSV cell: quoted when it holds a comma, a quote or a line break; a
/// cell that starts like a formula (`=`, `+`, `-`, `@`, a tab or a
/// carriage return) gets a `'` first, so a spreadsheet shows it as text.
pub fn csv_cell(value: &str) -> String {
    let guarded = if value.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        format!("'{value}")
    } else {
        value.to_owned()
    };
    if guarded.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", guarded.replace('"', "\"\""))
    } else {
        guarded
    }
}

fn csv_line(cells: &[&str]) -> String {
    let mut line = cells
        .iter()
        .map(|c| csv_cell(c))
        .collect::<Vec<_>>()
        .join(",");
    line.push_str("\r\n");
    line
}

async fn csv(
    State(state): State<ConsoleState>,
    _me: Person,
    q: Result<Query<ListQuery>, QueryRejection>,
) -> PageResult<Response> {
    let Query(q) = q.map_err(|e| PageError::Bad(format!("the filters do not parse: {e}")))?;
    let all = given(q.all.as_ref()).is_some_and(|v| v != "0");
    let filter = q.filter(Timestamp::now(), all)?;
    let (page, _) = rows(&state, filter).await?;
    let mut out = csv_line(&[
        "asset_id",
        "hostname",
        "kind",
        "os",
        "tags",
        "last_seen",
        "agent_status",
    ]);
    for r in &page.items {
        let last_seen = r.asset.last_seen.to_rfc3339().unwrap_or_default();
        out.push_str(&csv_line(&[
            &r.asset.id,
            &r.asset.hostname,
            r.kind,
            r.asset.os.as_deref().unwrap_or(""),
            &r.asset.tags.join(" "),
            &last_seen,
            &r.agent_status,
        ]));
    }
    let mut resp = out.into_response();
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/csv; charset=utf-8"),
    );
    h.insert(
        header::CONTENT_DISPOSITION,
        HeaderValue::from_static("attachment; filename=\"assets.csv\""),
    );
    Ok(resp)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formulas_are_defused_and_cells_quoted() {
        assert_eq!(csv_cell("web-01"), "web-01");
        assert_eq!(csv_cell("=HYPERLINK(\"x\")"), "\"'=HYPERLINK(\"\"x\"\")\"");
        assert_eq!(csv_cell("+1"), "'+1");
        assert_eq!(csv_cell("-1"), "'-1");
        assert_eq!(csv_cell("@SUM(A1)"), "'@SUM(A1)");
        assert_eq!(csv_cell("a,b"), "\"a,b\"");
        assert_eq!(csv_cell("a\nb"), "\"a\nb\"");
        assert_eq!(csv_cell(""), "");
    }

    #[test]
    fn form_times_read_as_dates_datetimes_or_durations() {
        let now = Timestamp::parse_rfc3339("2026-11-28T12:00:00Z").unwrap();
        let t = |v: &str, end: bool| parse_when("as_of", v, now, end).unwrap();
        assert_eq!(
            t("2026-11-20", false),
            Timestamp::parse_rfc3339("2026-11-20T00:00:00Z").unwrap()
        );
        assert_eq!(
            t("2026-11-20", true),
            Timestamp::parse_rfc3339("2026-11-20T23:59:59.999Z").unwrap()
        );
        assert_eq!(
            t("2026-11-20T10:30", false),
            Timestamp::parse_rfc3339("2026-11-20T10:30:00Z").unwrap()
        );
        assert_eq!(t("1d", false), Timestamp(now.0 - 86_400_000));
        let e = parse_when("as_of", "yesterday-ish", now, false).unwrap_err();
        assert!(e.to_string().contains("as_of"), "{e}");
        assert!(parse_when("as_of", "2026-13-45", now, false).is_err());
    }

    #[test]
    fn links_keep_the_filters_encoded() {
        let q = ListQuery {
            hostname: Some("web-*".into()),
            tag: Some("a&b".into()),
            os: Some("  ".into()),
            ..ListQuery::default()
        };
        assert_eq!(
            q.href("/assets", &[("offset", "50".into())]),
            "/assets?hostname=web-%2A&tag=a%26b&offset=50"
        );
        assert_eq!(ListQuery::default().href("/assets", &[]), "/assets");
    }
}
