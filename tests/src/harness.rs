//! Test harness: the real binaries as child processes, in temporary
//! directories, on loopback ports chosen by the kernel.

#![allow(clippy::unwrap_used, clippy::missing_panics_doc)] // a failed unwrap is a failed test

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

/// A tokio runtime for a test that drives synthetic agents: two workers,
/// as on the CI machine, whatever this machine has.
pub fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

/// The path of a workspace binary, built by the same `cargo test`/`cargo build`.
pub fn bin(name: &str) -> PathBuf {
    // target/debug/deps/e2e-… (a test) or target/release/x (a bench
    // binary) → the same profile's target/…/NAME
    let exe = std::env::current_exe().unwrap();
    let mut dir = exe.parent().unwrap();
    if dir.ends_with("deps") {
        dir = dir.parent().unwrap();
    }
    let path = dir.join(name);
    assert!(
        path.exists(),
        "{} is missing: run `cargo build --workspace` (scripts/test.sh does)",
        path.display()
    );
    path
}

/// A child process killed when the test ends, pass or fail.
#[derive(Debug)]
pub struct Proc(pub Child);

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Polls `check` until it returns `Some`, or fails the test after `limit`.
pub fn eventually<T>(what: &str, limit: Duration, mut check: impl FnMut() -> Option<T>) -> T {
    let start = Instant::now();
    loop {
        if let Some(v) = check() {
            return v;
        }
        assert!(
            start.elapsed() < limit,
            "timed out after {limit:?} waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// A running `atalaya-collector serve`, killed when dropped.
#[derive(Debug)]
pub struct Collector {
    /// Its working directory (configuration, data, log).
    pub dir: tempfile::TempDir,
    /// Its configuration file.
    pub config: PathBuf,
    /// Base URL of its HTTP API.
    pub api: String,
    /// The local administrator's API token.
    pub admin: String,
    proc: Proc,
}

impl Collector {
    pub fn start() -> Self {
        Self::start_with("")
    }

    /// Starts a collector with `extra` added to its `[collector]` section
    /// (e.g. `max_connections = 1`).
    pub fn start_with(extra: &str) -> Self {
        Self::start_with_sections(extra, "")
    }

    /// Starts a collector with `collector` added to its `[collector]`
    /// section and `agents` to its `[agents]` section (e.g.
    /// `certificate_seconds = 12`).
    pub fn start_with_sections(collector: &str, agents: &str) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let config = dir.path().join("collector.toml");
        std::fs::write(
            &config,
            format!(
                "[collector]\ndata_dir = {:?}\nlisten = \"127.0.0.1:0\"\nadvertise = \"127.0.0.1:0\"\nserver_names = [\"127.0.0.1\", \"localhost\"]\n{collector}\n[api]\nlisten = \"127.0.0.1:0\"\n[agents]\nmetrics_interval_seconds = 1\nheartbeat_interval_seconds = 1\n{agents}\n",
                dir.path().join("data").display().to_string()
            ),
        )
        .unwrap();
        let log = std::fs::File::create(dir.path().join("collector.log")).unwrap();
        let proc = Proc(
            Command::new(bin("atalaya-collector"))
                .arg("--config")
                .arg(&config)
                .arg("serve")
                .stdout(Stdio::null())
                .stderr(log)
                .spawn()
                .unwrap(),
        );
        let data = dir.path().join("data");
        let (api, admin) = eventually("the collector to start", Duration::from_secs(30), || {
            let api = std::fs::read_to_string(data.join("api-address")).ok()?;
            let admin = std::fs::read_to_string(data.join("admin-token")).ok()?;
            Some((format!("http://{}", api.trim()), admin.trim().to_owned()))
        });
        let c = Collector {
            dir,
            config,
            api,
            admin,
            proc,
        };
        eventually("the API to answer", Duration::from_secs(30), || {
            (c.get("/metrics", Some(&c.admin)).0 == 200).then_some(())
        });
        c
    }

    /// Kills the collector with SIGKILL, as a crash would.
    pub fn kill(&mut self) {
        let _ = self.proc.0.kill();
        let _ = self.proc.0.wait();
    }

    /// Starts the collector again on the same data directory and the same
    /// QUIC port, so its agents find it; the API gets a new port.
    pub fn restart(&mut self) {
        let data = self.dir.path().join("data");
        let quic = std::fs::read_to_string(data.join("quic-address")).unwrap();
        let text = std::fs::read_to_string(&self.config).unwrap();
        let text = text.replacen(
            "listen = \"127.0.0.1:0\"",
            &format!("listen = {:?}", quic.trim()),
            1,
        );
        std::fs::write(&self.config, text).unwrap();
        let _ = std::fs::remove_file(data.join("api-address"));
        let log = std::fs::OpenOptions::new()
            .append(true)
            .open(self.dir.path().join("collector.log"))
            .unwrap();
        self.proc = Proc(
            Command::new(bin("atalaya-collector"))
                .arg("--config")
                .arg(&self.config)
                .arg("serve")
                .stdout(Stdio::null())
                .stderr(log)
                .spawn()
                .unwrap(),
        );
        let api = eventually(
            "the collector to start again",
            Duration::from_secs(30),
            || std::fs::read_to_string(data.join("api-address")).ok(),
        );
        self.api = format!("http://{}", api.trim());
        eventually("the API to answer again", Duration::from_secs(30), || {
            (self.get("/metrics", Some(&self.admin)).0 == 200).then_some(())
        });
    }

    /// Runs `atalaya-collector` with this collector's configuration.
    /// The collector's process id, to signal it.
    pub fn pid(&self) -> u32 {
        self.proc.0.id()
    }

    pub fn admin_cmd(&self, args: &[&str]) -> Output {
        Command::new(bin("atalaya-collector"))
            .arg("--config")
            .arg(&self.config)
            .args(args)
            .output()
            .unwrap()
    }

    /// Creates a console account with `atalaya-collector user add`, the
    /// password on standard input.
    pub fn add_user(&self, name: &str, role: &str, password: &str) {
        use std::io::Write;
        let mut child = Command::new(bin("atalaya-collector"))
            .arg("--config")
            .arg(&self.config)
            .args(["user", "add", name, "--role", role])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        writeln!(child.stdin.take().unwrap(), "{password}").unwrap();
        let out = child.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "user add {name}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    pub fn token(&self, uses: u32) -> String {
        let out = self.admin_cmd(&[
            "token",
            "create",
            "--ttl",
            "1h",
            "--uses",
            &uses.to_string(),
        ]);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap().trim().to_owned()
    }

    pub fn request(&self, method: &str, path: &str, token: Option<&str>) -> (u16, Value) {
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .build()
            .into();
        let url = format!("{}{path}", self.api);
        let result = match (method, token) {
            ("GET", Some(t)) => agent
                .get(&url)
                .header("Authorization", &format!("Bearer {t}"))
                .call(),
            ("GET", None) => agent.get(&url).call(),
            (_, Some(t)) => agent
                .post(&url)
                .header("Authorization", &format!("Bearer {t}"))
                .header("Content-Type", "application/json")
                .send(r#"{"ttl_seconds": 60, "uses": 1}"#),
            (_, None) => agent
                .post(&url)
                .header("Content-Type", "application/json")
                .send("{}"),
        };
        let Ok(mut response) = result else {
            return (0, Value::Null);
        };
        let status = response.status().as_u16();
        let text = response
            .body_mut()
            .with_config()
            .limit(1 << 30)
            .read_to_string()
            .unwrap_or_default();
        (
            status,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
        )
    }

    pub fn get(&self, path: &str, token: Option<&str>) -> (u16, Value) {
        self.request("GET", path, token)
    }

    pub fn cli(&self, args: &[&str]) -> Output {
        Command::new(bin("atalaya"))
            .args(args)
            .env("ATALAYA_SERVER", &self.api)
            .env("ATALAYA_TOKEN", &self.admin)
            .output()
            .unwrap()
    }

    /// Runs `atalaya ARGS` as the administrator; its output, once it succeeded.
    pub fn cli_ok(&self, args: &[&str]) -> String {
        let out = self.cli(args);
        assert!(
            out.status.success(),
            "atalaya {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    pub fn assets(&self) -> Vec<Value> {
        let (status, body) = self.get("/api/v1/assets", Some(&self.admin));
        assert_eq!(status, 200, "{body}");
        body["items"].as_array().cloned().unwrap_or_default()
    }

    /// Where it listens for agents.
    pub fn quic_address(&self) -> std::net::SocketAddr {
        let text = std::fs::read_to_string(self.dir.path().join("data/quic-address")).unwrap();
        text.trim().parse().unwrap()
    }

    /// The status the collector gives the agent `agent_id` (`connected`,
    /// `silent`, …).
    pub fn agent_status(&self, agent_id: &str) -> String {
        let (status, body) = self.get("/api/v1/agents", Some(&self.admin));
        assert_eq!(status, 200, "{body}");
        body.as_array()
            .or(body["items"].as_array())
            .into_iter()
            .flatten()
            .find(|a| a["id"] == agent_id)
            .and_then(|a| a["status"].as_str())
            .unwrap_or("unknown")
            .to_owned()
    }

    /// The id of the asset named `hostname`, once it exists.
    pub fn asset_named(&self, hostname: &str) -> String {
        eventually(
            &format!("an asset named {hostname}"),
            Duration::from_secs(60),
            || {
                self.assets().iter().find_map(|a| {
                    (a["hostname"] == hostname).then(|| a["id"].as_str().unwrap().to_owned())
                })
            },
        )
    }

    /// The raw `(time ms, value)` points of one series of an asset over
    /// the last two hours.
    pub fn points(&self, asset: &str, series: &str) -> Vec<(i64, f64)> {
        let (status, body) = self.get(
            &format!("/api/v1/assets/{asset}/metrics?name={series}&from=2h"),
            Some(&self.admin),
        );
        assert_eq!(status, 200, "{body}");
        body["points"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| {
                let at = atalaya_common::model::Timestamp::parse_rfc3339(p[0].as_str().unwrap());
                (at.unwrap().0, p[1].as_f64().unwrap())
            })
            .collect()
    }

    /// An asset's inventory change events of the last two hours, as JSON text.
    pub fn changes_text(&self, asset: &str) -> String {
        let (status, body) = self.get(
            &format!("/api/v1/assets/{asset}/changes?since=2h&limit=1000"),
            Some(&self.admin),
        );
        assert_eq!(status, 200, "{body}");
        body.to_string()
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("collector.log")).unwrap_or_default()
    }

    /// Its data directory (store, CA, keys).
    pub fn data_dir(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    /// The value of one sample line of `/metrics`, e.g.
    /// `atalaya_refused_total{reason="handshake"}`; 0 when absent.
    pub fn metric(&self, series: &str) -> f64 {
        let (status, body) = self.get("/metrics", Some(&self.admin));
        assert_eq!(status, 200, "{body}");
        let text = body.as_str().unwrap_or_default().to_owned();
        text.lines()
            .find_map(|line| line.strip_prefix(series)?.strip_prefix(' '))
            .map_or(0.0, |v| v.trim().parse().unwrap())
    }
}

/// Signs in to the web console at `base` (ending in `/`) as `name` and
/// reads the page at `path` (relative to `base`): its status and HTML.
pub fn console_page(base: &str, name: &str, password: &str, path: &str) -> (u16, String) {
    let http: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .max_redirects(0)
        .build()
        .into();
    let resp = http
        .post(&format!("{base}login"))
        .send_form([("name", name), ("password", password)])
        .unwrap();
    assert_eq!(
        resp.status().as_u16(),
        303,
        "signing in as {name} at {base}"
    );
    let cookie = resp
        .headers()
        .get("set-cookie")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .unwrap()
        .to_owned();
    let mut page = http
        .get(&format!("{base}{path}"))
        .header("Cookie", &cookie)
        .call()
        .unwrap();
    let status = page.status().as_u16();
    (status, page.body_mut().read_to_string().unwrap_or_default())
}

/// Starts an agent whose `/` is `root` (`None`: this machine).
pub fn agent(dir: &Path, name: &str, root: Option<&Path>, token: &str) -> Proc {
    agent_with(dir, name, root, token, "")
}

/// Starts an agent like [`agent`], with `collector_extra` added to its
/// `[collector]` section (e.g. `address = "127.0.0.1:4433"`; TOML after
/// the section's keys, so it may open sections of its own, `[assist]`).
pub fn agent_with(
    dir: &Path,
    name: &str,
    root: Option<&Path>,
    token: &str,
    collector_extra: &str,
) -> Proc {
    let state = dir.join(name);
    std::fs::create_dir_all(&state).unwrap();
    let mut text = format!(
        "[agent]\nstate_dir = {:?}\nreports_dir = {:?}\n",
        state.join("state").display().to_string(),
        state.join("reports").display().to_string()
    );
    if let Some(root) = root {
        text.push_str(&format!("root = {:?}\n", root.display().to_string()));
    }
    text.push_str(&format!(
        "[collector]\ntoken = {token:?}\n{collector_extra}\n[metrics]\ninterval_seconds = 1\n"
    ));
    let config = state.join("agent.toml");
    std::fs::write(&config, text).unwrap();
    let log = std::fs::File::create(state.join("agent.log")).unwrap();
    Proc(
        Command::new(bin("atalaya-agent"))
            .args(["run", "--config"])
            .arg(&config)
            .env("RUST_LOG", "info")
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap(),
    )
}

/// Copies a fixture tree (links kept as links) so the test can change it.
pub fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        let kind = entry.file_type().unwrap();
        if kind.is_symlink() {
            std::os::unix::fs::symlink(std::fs::read_link(entry.path()).unwrap(), &target).unwrap();
        } else if kind.is_dir() {
            copy_tree(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).unwrap();
        }
    }
}

pub fn fixture(host: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../agent/tests/fixtures")
        .join(host)
}

/// Enrolls an agent identity in `state` with the agent's own `enroll`
/// command, for tests that then speak the protocol themselves.
pub fn enroll(state: &Path, token: &str) -> atalaya_agent::identity::AgentIdentity {
    let out = Command::new(bin("atalaya-agent"))
        .args(["enroll", "--token", token, "--state-dir"])
        .arg(state)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    atalaya_agent::identity::AgentIdentity::load(state)
        .unwrap()
        .unwrap()
}
