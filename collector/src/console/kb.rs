//! The knowledge base: search (the same matching as the API), recent
//! articles, one article with how often it was suggested and confirmed,
//! and for the help desk the forms to write and edit articles (a refused
//! form comes back filled in, with what is wrong).

use atalaya_common::model::Timestamp;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use axum::{Form, Router};
use maud::{Markup, html};
use serde::Deserialize;

use super::auth::Person;
use super::layout::{self, Section};
use super::{ConsoleState, PageError, PageResult, blocking};
use crate::desk::kb::{self, KbError};
use crate::kb::{InvalidArticle, NewArticle, Signature};
use crate::records::kb::{Article, ArticleId};
use crate::store::Role;

/// Articles listed on the knowledge-base page.
const LIST: usize = 50;
/// Longest search taken, in characters.
const MAX_QUERY_CHARS: usize = 256;

pub(super) fn routes() -> Router<ConsoleState> {
    Router::new()
        .route("/kb", get(list))
        .route("/kb/new", get(new_form).post(create))
        .route("/kb/{id}", get(show))
        .route("/kb/{id}/edit", get(edit_form).post(edit))
}

/// Runs a knowledge-base call off the async runtime.
async fn kb_blocking<T, F>(state: &ConsoleState, f: F) -> PageResult<Result<T, KbError>>
where
    T: Send + 'static,
    F: FnOnce(&crate::store::Store) -> Result<T, KbError> + Send + 'static,
{
    let store = std::sync::Arc::clone(&state.api.store);
    tokio::task::spawn_blocking(move || f(&store))
        .await
        .map_err(|e| PageError::Internal(format!("store task: {e}")))
}

#[derive(Debug, Default, Deserialize)]
struct SearchQuery {
    q: Option<String>,
}

async fn list(
    State(state): State<ConsoleState>,
    me: Person,
    Query(q): Query<SearchQuery>,
) -> PageResult<Markup> {
    let text = q.q.map(|s| s.trim().to_owned()).unwrap_or_default();
    if text.chars().count() > MAX_QUERY_CHARS {
        return Err(PageError::Bad(format!(
            "the search is longer than {MAX_QUERY_CHARS} characters"
        )));
    }
    let searching = !text.is_empty();
    let query = text.clone();
    let found = kb_blocking(&state, move |s| {
        if searching {
            kb::search(s, &query, LIST)
        } else {
            let mut all = s.articles()?;
            all.sort_by(|a, b| b.updated_at.cmp(&a.updated_at).then(b.id.cmp(&a.id)));
            all.truncate(LIST);
            Ok(all)
        }
    })
    .await?
    .map_err(kb_error)?;
    let body = html! {
        form.inline method="get" action="/kb" role="search" {
            input type="search" name="q" value=(text) placeholder="Words of the title, symptoms or solution"
                aria-label="Search the knowledge base";
            button type="submit" { "Search" }
            @if me.can(Role::Helpdesk) {
                a.button href="/kb/new" { "New article" }
            }
        }
        p.count {
            @if searching {
                (found.len()) " article" (if found.len() == 1 { "" } else { "s" })
                " for “" (text) "”, best first"
            } @else {
                "Recently written or used"
            }
        }
        table.articles #articles {
            thead { tr { th.num { "#" } th { "Title" } th.num { "Suggested" } th.num { "Solved" } th { "Updated" } } }
            tbody {
                @for a in &found {
                    tr {
                        td.num { (a.id) }
                        td { a href={ "/kb/" (a.id) } { (a.title) } }
                        td.num { (a.suggested) }
                        td.num { (a.solved) }
                        td { (layout::when(Some(a.updated_at))) }
                    }
                }
            }
        }
    };
    Ok(layout::page(&me, Section::Kb, "Knowledge base", body))
}

fn kb_error(e: KbError) -> PageError {
    match e {
        KbError::NotFound(id) => PageError::NotFound(format!("no knowledge-base article {id}")),
        KbError::Invalid(e) => PageError::Bad(e.to_string()),
        KbError::Store(e) => PageError::Store(e),
    }
}

fn parse_id(id: &str) -> PageResult<ArticleId> {
    id.trim()
        .trim_start_matches("KB-")
        .parse()
        .map_err(|_| PageError::NotFound(format!("`{id}` is not an article number")))
}

async fn article(state: &ConsoleState, id: ArticleId) -> PageResult<Article> {
    blocking(state, move |s| s.article(id))
        .await?
        .ok_or_else(|| PageError::NotFound(format!("no knowledge-base article {id}")))
}

async fn show(
    State(state): State<ConsoleState>,
    me: Person,
    Path(id): Path<String>,
) -> PageResult<Markup> {
    let a = article(&state, parse_id(&id)?).await?;
    let sig = &a.signature;
    let signature: Vec<(&str, &str)> = [
        ("Rule", &sig.rule),
        ("Metric", &sig.metric),
        ("Software", &sig.software),
        ("Software version", &sig.software_version),
        ("OS", &sig.os),
    ]
    .into_iter()
    .filter_map(|(k, v)| v.as_deref().map(|v| (k, v)))
    .collect();
    let body = html! {
        p.facts.counts {
            "Suggested for " span.suggested { (a.suggested) } " incident" (if a.suggested == 1 { "" } else { "s" })
            " · solved " span.solved { (a.solved) } " · written " (layout::when(Some(a.created_at)))
            " · updated " (layout::when(Some(a.updated_at)))
        }
        @if me.can(Role::Helpdesk) {
            p { a.button href={ "/kb/" (a.id) "/edit" } { "Edit" } }
        }
        h2 { "Symptoms" }
        @if a.symptoms.is_empty() { p.muted { "None written." } } @else { div.text.symptoms { (a.symptoms) } }
        h2 { "Solution" }
        div.text.solution { (a.solution) }
        h2 { "Fits incidents with" }
        @if signature.is_empty() {
            p.muted { "No signature: found by search only." }
        } @else {
            dl.facts {
                @for (k, v) in &signature { dt { (k) } dd { (v) } }
            }
        }
    };
    Ok(layout::page(
        &me,
        Section::Kb,
        &format!("KB-{} {}", a.id, a.title),
        body,
    ))
}

/// The article form's fields, as posted.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct ArticleForm {
    csrf: String,
    title: String,
    symptoms: String,
    solution: String,
    rule: String,
    metric: String,
    software: String,
    software_version: String,
    os: String,
}

impl ArticleForm {
    fn of(a: &Article) -> Self {
        let s = |v: &Option<String>| v.clone().unwrap_or_default();
        ArticleForm {
            csrf: String::new(),
            title: a.title.clone(),
            symptoms: a.symptoms.clone(),
            solution: a.solution.clone(),
            rule: s(&a.signature.rule),
            metric: s(&a.signature.metric),
            software: s(&a.signature.software),
            software_version: s(&a.signature.software_version),
            os: s(&a.signature.os),
        }
    }

    fn article(&self) -> NewArticle {
        let o = |v: &str| Some(v.to_owned());
        NewArticle {
            title: self.title.clone(),
            symptoms: self.symptoms.clone(),
            solution: self.solution.clone(),
            // Empty fields are dropped by the article's own checks.
            signature: Signature {
                rule: o(&self.rule),
                metric: o(&self.metric),
                software: o(&self.software),
                software_version: o(&self.software_version),
                os: o(&self.os),
            },
        }
    }
}

/// The form to write (`id` `None`) or edit an article, with the problem
/// of the last attempt.
fn form_page(
    me: &Person,
    id: Option<ArticleId>,
    f: &ArticleForm,
    problem: Option<&InvalidArticle>,
) -> Markup {
    let action = match id {
        Some(id) => format!("/kb/{id}/edit"),
        None => "/kb/new".to_owned(),
    };
    let bad =
        |field: &str| problem.is_some_and(|p| p.field.trim_start_matches("signature.") == field);
    let input = |name: &'static str, label: &str, value: &str, hint: &str| {
        html! {
            label { (label)
                input name=(name) value=(value) placeholder=(hint) aria-invalid=[bad(name).then_some("true")];
            }
        }
    };
    let body = html! {
        @if let Some(p) = problem {
            p.problem role="alert" { "Not saved: " (p.to_string()) "." }
        }
        form.article method="post" action=(action) {
            (layout::csrf(me))
            label { "Title"
                input name="title" value=(f.title) required maxlength="200" aria-invalid=[bad("title").then_some("true")];
            }
            label { "Symptoms (what people see)"
                textarea name="symptoms" rows="4" aria-invalid=[bad("symptoms").then_some("true")] { (f.symptoms) }
            }
            label { "Solution (what fixes it)"
                textarea name="solution" rows="6" required aria-invalid=[bad("solution").then_some("true")] { (f.solution) }
            }
            fieldset {
                legend { "Fits incidents with (all optional)" }
                (input("rule", "Rule", &f.rule, "filesystem-full"))
                (input("metric", "Metric", &f.metric, "filesystem.used_percent"))
                (input("software", "Software", &f.software, "openssl"))
                (input("software_version", "Software version", &f.software_version, "3.0.*"))
                (input("os", "OS id", &f.os, "debian"))
            }
            p.buttons {
                button type="submit" { "Save" }
                " "
                a href=(id.map_or_else(|| "/kb".to_owned(), |id| format!("/kb/{id}"))) { "Cancel" }
            }
        }
    };
    let title = match id {
        Some(id) => format!("Edit KB-{id}"),
        None => "New knowledge-base article".to_owned(),
    };
    layout::page(me, Section::Kb, &title, body)
}

fn need_helpdesk(me: &Person) -> PageResult<()> {
    if me.can(Role::Helpdesk) {
        Ok(())
    } else {
        Err(PageError::Forbidden(format!(
            "writing articles needs the helpdesk role; {} has the {} role",
            me.name,
            crate::api::role_name(me.role)
        )))
    }
}

async fn new_form(me: Person) -> PageResult<Markup> {
    need_helpdesk(&me)?;
    Ok(form_page(&me, None, &ArticleForm::default(), None))
}

async fn edit_form(
    State(state): State<ConsoleState>,
    me: Person,
    Path(id): Path<String>,
) -> PageResult<Markup> {
    need_helpdesk(&me)?;
    let a = article(&state, parse_id(&id)?).await?;
    Ok(form_page(&me, Some(a.id), &ArticleForm::of(&a), None))
}

/// Saves a form: a new article (`id` `None`) or an edit; a refused form
/// comes back filled in with the problem (400).
async fn save(
    state: &ConsoleState,
    me: &Person,
    id: Option<ArticleId>,
    form: ArticleForm,
) -> PageResult<Response> {
    me.may_post(Role::Helpdesk, &form.csrf)?;
    let new = form.article();
    let now = Timestamp::now();
    let result = kb_blocking(state, move |s| match id {
        Some(id) => kb::edit(s, id, new, now),
        None => kb::add(s, new, now),
    })
    .await?;
    match result {
        Ok(a) => {
            tracing::info!(article = a.id, by = %me.name, edited = id.is_some(), "knowledge-base article saved from the console");
            Ok(Redirect::to(&format!("/kb/{}", a.id)).into_response())
        }
        Err(KbError::Invalid(problem)) => Ok((
            StatusCode::BAD_REQUEST,
            form_page(me, id, &form, Some(&problem)),
        )
            .into_response()),
        Err(e) => Err(kb_error(e)),
    }
}

async fn create(
    State(state): State<ConsoleState>,
    me: Person,
    Form(form): Form<ArticleForm>,
) -> PageResult<Response> {
    save(&state, &me, None, form).await
}

async fn edit(
    State(state): State<ConsoleState>,
    me: Person,
    Path(id): Path<String>,
    Form(form): Form<ArticleForm>,
) -> PageResult<Response> {
    let id = parse_id(&id)?;
    save(&state, &me, Some(id), form).await
}
