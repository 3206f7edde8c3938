//! The API's OpenAPI document (`GET /api/v1/openapi.json`): served without
//! a token; valid OpenAPI 3.1 as far as checks can tell (the OpenAPI
//! Initiative's schema of 3.1 documents, every `$ref` resolving, every
//! path parameter declared); and describing exactly what the router
//! serves, each route with the role it enforces.
//!
//! Routes and their descriptions are registered together
//! (`utoipa_axum::routes!` on an `OpenApiRouter`), so what is checked here
//! is that nothing goes around that: no route registered with plain axum
//! in the API's sources, every documented method answering, and every
//! other method of a documented path refused with 405.
#![allow(clippy::unwrap_used)]

mod support;

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::sync::Arc;

use atalaya_collector::api::{self, AdminActions, ApiState};
use atalaya_collector::store::{Role, Store};
use atalaya_collector::telemetry::Telemetry;
use atalaya_common::model::Timestamp;
use serde_json::Value;

/// The OpenAPI Initiative's schema of OpenAPI 3.1 documents (see
/// `openapi/README.md`).
const OAS_31_SCHEMA: &str = include_str!("openapi/schema-3.1.json");

/// The error the router's fallback gives for a route it does not know.
const NO_SUCH_ROUTE: &str = "no such route; the API lives under /api/v1/";

/// The methods a route may be asked with; HEAD and OPTIONS are axum's.
const METHODS: [&str; 5] = ["GET", "POST", "PUT", "PATCH", "DELETE"];

/// The roles a route's security requirement may name.
const ROLES: [&str; 4] = ["viewer", "helpdesk", "admin", "telephony"];

#[derive(Debug)]
struct NoServer;

impl AdminActions for NoServer {
    fn agent_revoked(&self, _id: &str) {}
    fn collector_address(&self) -> String {
        "collector.example:4433".into()
    }
    fn ca_sha256(&self) -> [u8; 32] {
        [0; 32]
    }
}

/// The API on loopback over an empty store, with a token of every role.
struct Server {
    base: String,
    tokens: BTreeMap<&'static str, String>,
    _dir: tempfile::TempDir,
    _rt: tokio::runtime::Runtime,
}

fn start() -> Server {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(Store::open(&dir.path().join("store.redb")).unwrap());
    let mut tokens = BTreeMap::new();
    for (name, role) in [
        ("viewer", Role::Viewer),
        ("helpdesk", Role::Helpdesk),
        ("admin", Role::Admin),
        ("telephony", Role::Telephony),
    ] {
        let (record, secret) = api::new_api_token(name, role, Timestamp::now());
        store.add_api_token(&record).unwrap();
        tokens.insert(name, secret);
    }
    let state = ApiState {
        store,
        telemetry: Arc::new(Telemetry::default()),
        admin: Arc::new(NoServer),
        desk: None,
        calls: Default::default(),
    };
    let (base, rt) = support::serve(state);
    Server {
        base,
        tokens,
        _dir: dir,
        _rt: rt,
    }
}

/// An answer: its status, and whether it is the router's fallback (a
/// route it does not know) rather than a handler's own 404.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Answer {
    status: u16,
    fallback: bool,
}

impl Server {
    /// Sends `method` to `path`, with the token of `role` if any and an
    /// empty body. Only a 404's body is read: the call stream's never ends.
    fn send(&self, method: &str, path: &str, role: Option<&str>) -> Answer {
        let mut req = ureq::http::Request::builder()
            .method(method)
            .uri(format!("{}{path}", self.base));
        if let Some(role) = role {
            req = req.header("Authorization", format!("Bearer {}", self.tokens[role]));
        }
        let mut resp = support::http().run(req.body(()).unwrap()).unwrap();
        let status = resp.status().as_u16();
        let fallback = status == 404 && {
            let body: Value =
                serde_json::from_str(&resp.body_mut().read_to_string().unwrap()).unwrap();
            body["error"] == NO_SUCH_ROUTE
        };
        Answer { status, fallback }
    }
}

/// One operation of the document.
#[derive(Debug)]
struct Op<'a> {
    method: String,
    path: &'a str,
    /// The role its security requirement names (`None`: public).
    role: Option<&'a str>,
    body: &'a Value,
}

fn operations(doc: &Value) -> Vec<Op<'_>> {
    let mut ops = Vec::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, body) in item.as_object().unwrap() {
            if !METHODS.contains(&method.to_uppercase().as_str()) {
                continue;
            }
            let role = body["security"]
                .as_array()
                .into_iter()
                .flatten()
                .find_map(|r| r["bearer"].get(0).and_then(Value::as_str));
            ops.push(Op {
                method: method.to_uppercase(),
                path,
                role,
                body,
            });
        }
    }
    ops
}

/// The names in a path template, `{id}` → `id`.
fn template_params(path: &str) -> Vec<&str> {
    path.split('/')
        .filter_map(|seg| seg.strip_prefix('{')?.strip_suffix('}'))
        .collect()
}

/// A value a path parameter may take: its first enum value or pattern
/// alternative, a number for a number, else a word.
fn placeholder(param: &Value) -> String {
    let schema = &param["schema"];
    if let Some(first) = schema["enum"].get(0).and_then(Value::as_str) {
        return first.to_owned();
    }
    if let Some(pattern) = schema["pattern"].as_str() {
        let inner = pattern.trim_start_matches("^(").trim_end_matches(")$");
        return inner.split('|').next().unwrap().to_owned();
    }
    if schema["type"] == "integer" {
        return "1".to_owned();
    }
    "placeholder".to_owned()
}

/// The operation's path with each parameter given a placeholder.
fn concrete(op: &Op<'_>) -> String {
    let mut path = op.path.to_owned();
    for param in op.body["parameters"].as_array().into_iter().flatten() {
        if param["in"] == "path" {
            let name = param["name"].as_str().unwrap();
            path = path.replace(&format!("{{{name}}}"), &placeholder(param));
        }
    }
    path
}

/// Every way `doc` breaks the rules of OpenAPI 3.1 that its schema does
/// not check: `$ref`s that lead nowhere, path parameters undeclared or
/// declared for no path segment, operation ids not unique, tags and
/// security schemes not declared, roles that do not exist, operations
/// without a success answer, schema names that are not type names.
fn structure_problems(doc: &Value) -> Vec<String> {
    let mut problems = Vec::new();
    match doc["openapi"].as_str() {
        Some(v) if v.starts_with("3.1.") => {}
        other => problems.push(format!("`openapi` is {other:?}, not 3.1.x")),
    }
    let mut refs = Vec::new();
    collect_refs(doc, "", &mut refs);
    for (at, target) in refs {
        let resolved = target.strip_prefix('#').and_then(|p| doc.pointer(p));
        if resolved.is_none() {
            problems.push(format!("{at}: $ref {target} leads nowhere"));
        }
    }
    let tags: BTreeSet<&str> = doc["tags"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|t| t["name"].as_str())
        .collect();
    let schemes = doc["components"]["securitySchemes"].as_object();
    let mut ids = BTreeSet::new();
    for op in operations(doc) {
        let at = format!("{} {}", op.method, op.path);
        let item = &doc["paths"][op.path];
        let declared: Vec<&str> = op.body["parameters"]
            .as_array()
            .into_iter()
            .chain(item["parameters"].as_array())
            .flatten()
            .filter(|p| p["in"] == "path")
            .map(|p| {
                if p["required"] != true {
                    problems.push(format!(
                        "{at}: path parameter {} is not required",
                        p["name"]
                    ));
                }
                p["name"].as_str().unwrap_or("")
            })
            .collect();
        let wanted = template_params(op.path);
        for name in &wanted {
            if !declared.contains(name) {
                problems.push(format!("{at}: path parameter `{name}` is not declared"));
            }
        }
        for name in &declared {
            if !wanted.contains(name) {
                problems.push(format!("{at}: path parameter `{name}` is not in the path"));
            }
        }
        match op.body["operationId"].as_str() {
            None => problems.push(format!("{at}: no operationId")),
            Some(id) if !ids.insert(id.to_owned()) => {
                problems.push(format!("{at}: operationId `{id}` is used twice"));
            }
            Some(_) => {}
        }
        for tag in op.body["tags"].as_array().into_iter().flatten() {
            if !tag.as_str().is_some_and(|t| tags.contains(t)) {
                problems.push(format!("{at}: tag {tag} is not declared"));
            }
        }
        for requirement in op.body["security"].as_array().into_iter().flatten() {
            for (scheme, scopes) in requirement.as_object().into_iter().flatten() {
                if !schemes.is_some_and(|s| s.contains_key(scheme)) {
                    problems.push(format!("{at}: security scheme `{scheme}` is not declared"));
                }
                for scope in scopes.as_array().into_iter().flatten() {
                    if !scope.as_str().is_some_and(|r| ROLES.contains(&r)) {
                        problems.push(format!("{at}: {scope} is not a role"));
                    }
                }
            }
        }
        let responses = op.body["responses"].as_object();
        if !responses.is_some_and(|r| r.keys().any(|s| s.starts_with('2'))) {
            problems.push(format!("{at}: no success answer"));
        }
    }
    for name in doc["components"]["schemas"]
        .as_object()
        .into_iter()
        .flatten()
        .map(|(name, _)| name)
    {
        if !name.starts_with(|c: char| c.is_ascii_uppercase()) {
            problems.push(format!("schema `{name}` is not named after a type"));
        }
    }
    problems
}

/// Every `$ref` in `value`, with where it is.
fn collect_refs(value: &Value, at: &str, out: &mut Vec<(String, String)>) {
    match value {
        Value::Object(map) => {
            for (key, v) in map {
                match (key.as_str(), v) {
                    ("$ref", Value::String(target)) => out.push((at.to_owned(), target.clone())),
                    _ => collect_refs(v, &format!("{at}/{key}"), out),
                }
            }
        }
        Value::Array(items) => {
            for (i, v) in items.iter().enumerate() {
                collect_refs(v, &format!("{at}/{i}"), out);
            }
        }
        _ => {}
    }
}

/// The API's source files, by name.
fn api_sources() -> Vec<(String, String)> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("src/api");
    let mut files: Vec<(String, String)> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "rs"))
        .map(|p| {
            let name = p.file_name().unwrap().to_string_lossy().into_owned();
            (name, std::fs::read_to_string(&p).unwrap())
        })
        .collect();
    files.sort();
    assert!(
        files.len() > 10,
        "the API's sources were not found in {dir:?}"
    );
    files
}

/// The string literal `text` starts with (after blanks), if it does.
fn literal(text: &str) -> Option<&str> {
    let rest = text.trim_start().strip_prefix('"')?;
    rest.split('"').next()
}

/// What the sources route that the document does not describe: every
/// route registered with axum's own `.route`, `.route_service`, `.nest`,
/// `.nest_service` or a plain `Router::new()` (they bypass the documenting
/// router, so whatever they serve is undocumented), and every handler
/// annotated with `#[utoipa::path(METHOD, path = "…")]` whose method and
/// path the document lacks.
fn undocumented(sources: &[(String, String)], doc: &Value) -> Vec<String> {
    let documented: BTreeSet<(String, &str)> = operations(doc)
        .into_iter()
        .map(|op| (op.method, op.path))
        .collect();
    let mut found = Vec::new();
    for (file, text) in sources {
        for call in [".route(", ".route_service(", ".nest(", ".nest_service("] {
            for (at, _) in text.match_indices(call) {
                let path = literal(&text[at + call.len()..]).unwrap_or("?");
                found.push(format!(
                    "{file}: `{call}\"{path}\"…` routes around the documenting router: \
                     register the handler with `routes!` and describe it with #[utoipa::path]"
                ));
            }
        }
        for (at, _) in text.match_indices("Router::new(") {
            if !text[..at].ends_with("OpenApi") {
                found.push(format!(
                    "{file}: a plain `Router::new()` serves routes the document cannot see"
                ));
            }
        }
        for (at, _) in text.match_indices("#[utoipa::path(") {
            let attr = &text[at + "#[utoipa::path(".len()..];
            let method = attr
                .trim_start()
                .split(|c: char| !c.is_ascii_alphabetic())
                .next()
                .unwrap_or("")
                .to_uppercase();
            let path = attr
                .find("path = ")
                .and_then(|i| literal(&attr[i + "path = ".len()..]))
                .unwrap_or("?");
            if !documented.contains(&(method.clone(), path)) {
                found.push(format!(
                    "{file}: {method} {path} is annotated but not in the document: \
                     is its handler registered with `routes!`?"
                ));
            }
        }
    }
    found
}

/// The Rust files under `dir`, by path.
fn rust_files(dir: &Path, out: &mut Vec<(String, String)>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            let text = std::fs::read_to_string(&path).unwrap();
            out.push((path.display().to_string(), text));
        }
    }
}

/// The schema name of each type deriving `ToSchema` in `sources` (its
/// own name, or the one `#[schema(as = …)]` gives), with where it is.
/// Two types of one name would share one entry of the document's
/// schemas, the later silently replacing the earlier.
fn schema_names(sources: &[(String, String)]) -> BTreeMap<String, Vec<String>> {
    let mut names: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (file, text) in sources {
        for (at, _) in text.match_indices("ToSchema") {
            let attr_start = text[..at].rfind("#[").unwrap_or(0);
            let attr = &text[attr_start..at];
            if !attr.contains("derive(") || attr.contains(']') {
                continue;
            }
            let rest = &text[at..];
            let Some(item) = ["struct ", "enum "]
                .iter()
                .filter_map(|kw| rest.find(kw).map(|i| i + kw.len()))
                .min()
            else {
                continue;
            };
            let own: String = rest[item..]
                .chars()
                .take_while(|c| c.is_alphanumeric() || *c == '_')
                .collect();
            let alias = rest[..item].find("schema(as = ").map(|i| {
                rest[i + "schema(as = ".len()..]
                    .chars()
                    .take_while(|c| c.is_alphanumeric() || *c == '_')
                    .collect::<String>()
            });
            names
                .entry(alias.unwrap_or(own))
                .or_default()
                .push(file.clone());
        }
    }
    names
}

#[test]
fn no_two_types_share_a_schema_name() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut sources = Vec::new();
    rust_files(&root.join("src"), &mut sources);
    rust_files(&root.join("../common/src"), &mut sources);
    let names = schema_names(&sources);
    assert!(names.len() > 200, "only {} schema types found", names.len());
    let shared: Vec<String> = names
        .iter()
        .filter(|(_, files)| files.len() > 1)
        .map(|(name, files)| format!("{name}: {}", files.join(", ")))
        .collect();
    assert!(shared.is_empty(), "{}", shared.join("\n"));

    // What it looks for: a second `Problem`, unless renamed.
    let mut more = sources.clone();
    let second = "#[derive(Debug, Serialize, ToSchema)]\npub struct Problem {\n    line: u64,\n}\n";
    more.push(("other.rs".into(), second.into()));
    assert_eq!(schema_names(&more)["Problem"], ["other.rs"]);
    more.push(("again.rs".into(), second.into()));
    assert_eq!(schema_names(&more)["Problem"], ["other.rs", "again.rs"]);
    let renamed = second.replace("pub struct", "#[schema(as = OtherProblem)]\npub struct");
    more.push(("renamed.rs".into(), renamed));
    assert_eq!(schema_names(&more)["OtherProblem"], ["renamed.rs"]);
}

#[test]
fn the_document_is_valid_openapi_3_1() {
    let doc = serde_json::to_value(api::openapi()).unwrap();
    let problems = structure_problems(&doc);
    assert!(problems.is_empty(), "{}", problems.join("\n"));

    let schema: Value = serde_json::from_str(OAS_31_SCHEMA).unwrap();
    let validator = jsonschema::validator_for(&schema).unwrap();
    let errors: Vec<String> = validator
        .iter_errors(&doc)
        .map(|e| format!("{e} at {}", e.instance_path()))
        .collect();
    assert!(errors.is_empty(), "{}", errors.join("\n"));
    // The schema is not vacuous: it refuses a document without `info`, or
    // with an operation whose answers are not a map.
    let mut broken = doc.clone();
    broken.as_object_mut().unwrap().remove("info");
    assert!(!validator.is_valid(&broken));
    let mut broken = doc.clone();
    broken["paths"]["/api/v1/top"]["get"]["responses"] = "none".into();
    assert!(!validator.is_valid(&broken));

    assert_eq!(doc["info"]["title"], "Atalaya collector API");
    assert_eq!(doc["info"]["version"], env!("CARGO_PKG_VERSION"));
    assert_eq!(
        doc["components"]["securitySchemes"]["bearer"],
        serde_json::json!({
            "type": "http",
            "scheme": "bearer",
            "description": doc["components"]["securitySchemes"]["bearer"]["description"],
        })
    );
    // The shapes clients read most are real schemas, not free objects.
    for name in [
        "Page_AssetSummary",
        "AssetRecord",
        "Inventory",
        "IncidentRecord",
        "Slr",
        "UsageReport",
        "Lookup",
        "ErrorBody",
        "DeviceDetail",
        "SupplierRow",
    ] {
        let schema = &doc["components"]["schemas"][name];
        assert!(
            schema["properties"].is_object() || schema["allOf"].is_array(),
            "{name}: {schema}"
        );
    }
}

#[test]
fn the_structure_checks_report_what_they_look_for() {
    let mut doc = serde_json::to_value(api::openapi()).unwrap();
    let top = doc["paths"]["/api/v1/top"]["get"].as_object_mut().unwrap();
    top.insert("operationId".into(), "list_assets".into());
    let assets = &mut doc["paths"]["/api/v1/assets/{id}"]["get"];
    assets["parameters"].as_array_mut().unwrap().clear();
    assets["responses"]["200"]["content"]["application/json"]["schema"]["$ref"] =
        "#/components/schemas/NoSuchThing".into();
    doc["openapi"] = "3.0.3".into();
    let problems = structure_problems(&doc).join("\n");
    for expected in [
        "`openapi` is Some(\"3.0.3\"), not 3.1.x",
        "GET /api/v1/assets/{id}: path parameter `id` is not declared",
        "$ref #/components/schemas/NoSuchThing leads nowhere",
        "operationId `list_assets` is used twice",
    ] {
        assert!(
            problems.contains(expected),
            "{expected} not in:\n{problems}"
        );
    }
}

#[test]
fn the_document_is_served_without_a_token() {
    let s = start();
    let mut resp = support::http()
        .get(format!("{}/api/v1/openapi.json", s.base))
        .call()
        .unwrap();
    assert_eq!(resp.status().as_u16(), 200);
    let content_type = resp.headers()["content-type"].to_str().unwrap().to_owned();
    assert_eq!(content_type, "application/json");
    let served: Value = serde_json::from_str(&resp.body_mut().read_to_string().unwrap()).unwrap();
    assert_eq!(served, serde_json::to_value(api::openapi()).unwrap());
    assert!(served["openapi"].as_str().unwrap().starts_with("3.1"));
    let op = &served["paths"]["/api/v1/openapi.json"]["get"];
    assert_eq!(op["security"], serde_json::json!([{}]), "public: {op}");
}

#[test]
fn nothing_in_the_api_sources_routes_around_the_document() {
    let doc = serde_json::to_value(api::openapi()).unwrap();
    let sources = api_sources();
    let found = undocumented(&sources, &doc);
    assert!(found.is_empty(), "{}", found.join("\n"));
    // Every operation of the document comes from one annotation.
    let annotations: usize = sources
        .iter()
        .map(|(_, text)| text.matches("#[utoipa::path(").count())
        .sum();
    assert_eq!(annotations, operations(&doc).len());
}

#[test]
fn a_route_missing_from_the_document_is_reported() {
    let full = serde_json::to_value(api::openapi()).unwrap();
    let sources = api_sources();

    // A handler described and registered, whose description is lost.
    let mut doc = full.clone();
    doc["paths"].as_object_mut().unwrap().remove("/api/v1/top");
    let found = undocumented(&sources, &doc);
    assert_eq!(found.len(), 1, "{found:?}");
    assert!(
        found[0].starts_with("metrics.rs: GET /api/v1/top is annotated but not in the document")
    );

    // A route registered with plain axum, which documents nothing.
    let mut more = sources.clone();
    more.push((
        "extra.rs".into(),
        "pub(super) fn routes() -> Router<ApiState> {\n    Router::new().route(\"/api/v1/extra\", get(extra))\n}\n".into(),
    ));
    let found = undocumented(&more, &full);
    assert_eq!(found.len(), 2, "{found:?}");
    assert!(found[0].starts_with("extra.rs: `.route(\"/api/v1/extra\"…` routes around"));
    assert!(found[1].starts_with("extra.rs: a plain `Router::new()`"));
}

#[test]
fn every_documented_route_answers_and_no_other_method_does() {
    let s = start();
    let doc = serde_json::to_value(api::openapi()).unwrap();
    let ops = operations(&doc);
    assert!(ops.len() >= 60, "only {} operations", ops.len());
    let mut wrong = Vec::new();
    let mut by_path: BTreeMap<&str, (String, BTreeSet<String>)> = BTreeMap::new();
    for op in &ops {
        let path = concrete(op);
        let role = op.role.map(|_| "admin");
        let answer = s.send(&op.method, &path, role);
        if answer.status == 405 || answer.fallback {
            wrong.push(format!(
                "{} {} ({path}) is documented but the router does not know it: {answer:?}",
                op.method, op.path
            ));
        }
        by_path
            .entry(op.path)
            .or_insert_with(|| (path, BTreeSet::new()))
            .1
            .insert(op.method.clone());
    }
    for (template, (path, methods)) in &by_path {
        for method in METHODS.iter().filter(|m| !methods.contains(**m)) {
            let answer = s.send(method, path, Some("admin"));
            if answer.status != 405 {
                wrong.push(format!(
                    "{method} {template} ({path}) is served but not documented: {answer:?}"
                ));
            }
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
    // What the check above takes for "the router does not know it".
    let unknown = s.send("GET", "/api/v1/no-such-route", Some("admin"));
    assert_eq!(
        unknown,
        Answer {
            status: 404,
            fallback: true
        }
    );
}

#[test]
fn each_route_needs_the_role_it_documents() {
    let s = start();
    let doc = serde_json::to_value(api::openapi()).unwrap();
    let mut wrong = Vec::new();
    for op in operations(&doc) {
        let path = concrete(&op);
        let Some(role) = op.role else {
            let answer = s.send(&op.method, &path, None);
            if answer.status != 200 {
                wrong.push(format!(
                    "{} {} is public but answers {answer:?}",
                    op.method, op.path
                ));
            }
            continue;
        };
        // The role ranked just below, which must be refused; telephony
        // stands apart, and a viewer may not post calls.
        let below = match role {
            "viewer" => "telephony",
            "helpdesk" | "telephony" => "viewer",
            "admin" => "helpdesk",
            other => panic!("{} {}: unknown role {other}", op.method, op.path),
        };
        let refused = s.send(&op.method, &path, Some(below));
        if refused.status != 403 {
            wrong.push(format!(
                "{} {} documents the {role} role but lets a {below} token in: {refused:?}",
                op.method, op.path
            ));
        }
        let allowed = s.send(&op.method, &path, Some(role));
        if matches!(allowed.status, 401 | 403) {
            wrong.push(format!(
                "{} {} documents the {role} role but refuses it: {allowed:?}",
                op.method, op.path
            ));
        }
        let anonymous = s.send(&op.method, &path, None);
        if anonymous.status != 401 {
            wrong.push(format!(
                "{} {} answers without a token: {anonymous:?}",
                op.method, op.path
            ));
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}
