//! A real headless Chromium for the console tests, driven over the W3C
//! WebDriver protocol through Debian's `chromedriver` (packages `chromium`
//! and `chromium-driver`, which scripts/test.sh installs).
//!
//! The client is the handful of WebDriver commands the tests use, over
//! plain HTTP to the driver on loopback. Every browser gets a profile
//! directory of its own (two Chromiums on one profile refuse to start).

#![allow(clippy::unwrap_used, clippy::missing_panics_doc)] // a failed unwrap is a failed test

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::harness::{Proc, eventually};

/// The key WebDriver names element references by.
const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";

/// Where the browser binary and the driver are looked for.
const CHROMIUM: &[&str] = &["/usr/lib/chromium/chromium", "/usr/bin/chromium"];
const DRIVER: &[&str] = &["/usr/bin/chromedriver", "/usr/lib/chromium/chromedriver"];

fn first_existing(paths: &[&str]) -> PathBuf {
    paths
        .iter()
        .map(PathBuf::from)
        .find(|p| p.exists())
        .unwrap_or_else(|| {
            panic!(
                "none of {paths:?} exists: install Debian's chromium and chromium-driver \
                 (scripts/test.sh does)"
            )
        })
}

/// A running chromedriver and one browser session, both ended on drop.
#[derive(Debug)]
pub struct Browser {
    http: ureq::Agent,
    session: String,
    driver: String,
    _profile: tempfile::TempDir,
    _proc: Proc,
}

/// A reference to an element of the current page.
#[derive(Debug, Clone)]
pub struct Element(String);

impl Browser {
    /// Starts chromedriver on a free port and a headless Chromium with a
    /// fresh profile.
    pub fn start() -> Self {
        let port = {
            let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            l.local_addr().unwrap().port()
        };
        let proc = Proc(
            Command::new(first_existing(DRIVER))
                .arg(format!("--port={port}"))
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .unwrap(),
        );
        let http: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(Duration::from_secs(60)))
            .build()
            .into();
        let driver = format!("http://127.0.0.1:{port}");
        eventually("chromedriver to answer", Duration::from_secs(20), || {
            let mut r = http.get(&format!("{driver}/status")).call().ok()?;
            let v: Value = serde_json::from_str(&r.body_mut().read_to_string().ok()?).ok()?;
            (v["value"]["ready"] == true).then_some(())
        });
        let profile = tempfile::tempdir().unwrap();
        let caps = json!({
            "capabilities": { "alwaysMatch": {
                "browserName": "chrome",
                "goog:chromeOptions": {
                    "binary": first_existing(CHROMIUM),
                    "args": [
                        "--headless=new", "--no-sandbox", "--disable-gpu",
                        "--disable-dev-shm-usage", "--window-size=1280,1000",
                        "--no-first-run", "--no-default-browser-check",
                        format!("--user-data-dir={}", profile.path().display()),
                    ],
                },
            }}
        });
        let mut resp = http
            .post(&format!("{driver}/session"))
            .header("Content-Type", "application/json")
            .send(caps.to_string())
            .unwrap();
        let v: Value = serde_json::from_str(&resp.body_mut().read_to_string().unwrap()).unwrap();
        let session = v["value"]["sessionId"]
            .as_str()
            .unwrap_or_else(|| panic!("chromedriver refused the session: {v}"))
            .to_owned();
        Browser {
            http,
            session,
            driver,
            _profile: profile,
            _proc: proc,
        }
    }

    fn url_of(&self, path: &str) -> String {
        format!("{}/session/{}{path}", self.driver, self.session)
    }

    /// Sends one command; the `value` of the answer, or the driver's error.
    fn command(&self, method: &str, path: &str, body: Option<Value>) -> Result<Value, String> {
        let url = self.url_of(path);
        let resp = match (method, body) {
            ("GET", _) => self.http.get(&url).call(),
            ("DELETE", _) => self.http.delete(&url).call(),
            (_, body) => self
                .http
                .post(&url)
                .header("Content-Type", "application/json")
                .send(body.unwrap_or(json!({})).to_string()),
        };
        let mut resp = resp.map_err(|e| format!("{method} {path}: {e}"))?;
        let status = resp.status().as_u16();
        let text = resp
            .body_mut()
            .read_to_string()
            .map_err(|e| format!("{method} {path}: {e}"))?;
        let v: Value = serde_json::from_str(&text)
            .map_err(|e| format!("{method} {path}: answer does not parse: {e}"))?;
        if status == 200 {
            Ok(v["value"].clone())
        } else {
            Err(format!(
                "{method} {path}: {status} {}: {}",
                v["value"]["error"], v["value"]["message"]
            ))
        }
    }

    /// Opens `url` and waits for it to load.
    pub fn go(&self, url: &str) {
        self.command("POST", "/url", Some(json!({ "url": url })))
            .unwrap();
    }

    /// The current address.
    pub fn url(&self) -> String {
        self.command("GET", "/url", None)
            .unwrap()
            .as_str()
            .unwrap_or_default()
            .to_owned()
    }

    /// The first element matching the CSS selector, if any.
    pub fn find(&self, css: &str) -> Option<Element> {
        self.command(
            "POST",
            "/element",
            Some(json!({ "using": "css selector", "value": css })),
        )
        .ok()
        .and_then(|v| v[ELEMENT].as_str().map(|id| Element(id.to_owned())))
    }

    /// Every element matching the CSS selector.
    pub fn find_all(&self, css: &str) -> Vec<Element> {
        self.command(
            "POST",
            "/elements",
            Some(json!({ "using": "css selector", "value": css })),
        )
        .unwrap()
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|v| v[ELEMENT].as_str().map(|id| Element(id.to_owned())))
        .collect()
    }

    /// Waits up to `limit` for an element matching `css`.
    pub fn wait_for(&self, css: &str, limit: Duration) -> Element {
        let start = Instant::now();
        loop {
            if let Some(e) = self.find(css) {
                return e;
            }
            assert!(
                start.elapsed() < limit,
                "no `{css}` on {} after {limit:?}; the page is:\n{}",
                self.url(),
                self.text_of_page()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// The element matching `css`, or a failed test naming it.
    pub fn get(&self, css: &str) -> Element {
        self.find(css).unwrap_or_else(|| {
            panic!(
                "no `{css}` on {}; the page is:\n{}",
                self.url(),
                self.text_of_page()
            )
        })
    }

    /// The rendered text of an element; empty when the element is gone
    /// (the page was replaced since it was found: a form's answer, a live
    /// refresh), so a check polled with `eventually` looks again.
    pub fn text(&self, e: &Element) -> String {
        match self.command("GET", &format!("/element/{}/text", e.0), None) {
            Ok(v) => v.as_str().unwrap_or_default().to_owned(),
            Err(err) if err.contains("stale element reference") => String::new(),
            Err(err) => panic!("{err}"),
        }
    }

    /// An attribute of an element.
    pub fn attr(&self, e: &Element, name: &str) -> Option<String> {
        self.command("GET", &format!("/element/{}/attribute/{name}", e.0), None)
            .unwrap()
            .as_str()
            .map(str::to_owned)
    }

    /// Clicks an element.
    pub fn click(&self, e: &Element) {
        self.command("POST", &format!("/element/{}/click", e.0), Some(json!({})))
            .unwrap();
    }

    /// Types `text` into an element (after clearing it).
    pub fn fill(&self, e: &Element, text: &str) {
        self.command("POST", &format!("/element/{}/clear", e.0), Some(json!({})))
            .unwrap();
        self.command(
            "POST",
            &format!("/element/{}/value", e.0),
            Some(json!({ "text": text })),
        )
        .unwrap();
    }

    /// Runs `script` (a function body) in the page; its return value.
    pub fn exec(&self, script: &str, args: Value) -> Value {
        self.command(
            "POST",
            "/execute/sync",
            Some(json!({ "script": script, "args": args })),
        )
        .unwrap()
    }

    /// Runs an async `script` whose last argument is the callback to call
    /// with the result.
    pub fn exec_async(&self, script: &str, args: Value) -> Value {
        self.command(
            "POST",
            "/execute/async",
            Some(json!({ "script": script, "args": args })),
        )
        .unwrap()
    }

    /// The text of the whole page, for failure messages.
    pub fn text_of_page(&self) -> String {
        self.find("body").map(|b| self.text(&b)).unwrap_or_default()
    }

    /// Saves a PNG of the window to `path`.
    pub fn screenshot(&self, path: &Path) {
        use base64::Engine as _;
        let b64 = self.command("GET", "/screenshot", None).unwrap();
        let png = base64::engine::general_purpose::STANDARD
            .decode(b64.as_str().unwrap_or_default())
            .unwrap();
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).unwrap();
        }
        std::fs::write(path, png).unwrap();
    }

    /// Signs in to the console at `base` through its login form.
    pub fn sign_in(&self, base: &str, name: &str, password: &str) {
        self.go(&format!("{base}/login"));
        self.fill(&self.get("input[name=name]"), name);
        self.fill(&self.get("input[name=password]"), password);
        self.click(&self.get("form.login button[type=submit]"));
        self.wait_for("header.top .person", Duration::from_secs(10));
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.command("DELETE", "", None);
    }
}

/// Where the console tests write their screenshots:
/// `target/console-screenshots/` of the workspace.
pub fn screenshot_dir() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    exe.ancestors()
        .find(|p| p.file_name().is_some_and(|n| n == "target"))
        .map_or_else(std::env::temp_dir, Path::to_path_buf)
        .join("console-screenshots")
}
