//! SNMP Simulator (`snmpsim-command-responder`, from the Python package
//! `snmpsim`, which `scripts/test.sh` installs) for device shapes no local
//! daemon has: a 48-port switch with ENTITY-MIB, a printer, a device with
//! 32-bit counters only.
//!
//! A test describes each device as a [`DataFile`] built from Rust values,
//! so it knows every value it expects back; the files are written in
//! snmpsim's `.snmprec` format (`OID|type|value`), one per community. One
//! responder serves them all on a loopback port. Values marked writable
//! (snmpsim's `writecache` variation) can be changed between two polls
//! with an SNMP SET ([`SnmpSim::set`]): counters advancing, a serial number
//! or firmware revision changing.
//!
//! The responder runs behind `sh`, reading this process's pipe: when the
//! test binary exits, however it exits, the pipe closes and the shell stops
//! the responder and removes its files.

#![allow(clippy::unwrap_used, clippy::missing_panics_doc)] // a failed unwrap is a failed test

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use async_snmp::{Auth, Client, Oid, Value};

use crate::snmpd::free_port;

/// A value in a data file, with its SNMP type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SimValue {
    /// `INTEGER`.
    Int(i32),
    /// `OCTET STRING`.
    Str(String),
    /// `OCTET STRING` of raw bytes (a MAC address).
    Bytes(Vec<u8>),
    /// `OBJECT IDENTIFIER`, dotted.
    Oid(String),
    /// `Counter32`.
    Counter32(u32),
    /// `Gauge32`.
    Gauge32(u32),
    /// `TimeTicks`.
    Ticks(u32),
    /// `Counter64`.
    Counter64(u64),
}

impl SimValue {
    /// The `.snmprec` type tag and value text (hex for strings, so any
    /// text survives the format).
    fn tag_and_text(&self) -> (&'static str, String) {
        match self {
            SimValue::Int(i) => ("2", i.to_string()),
            SimValue::Str(s) => ("4x", hex(s.as_bytes())),
            SimValue::Bytes(b) => ("4x", hex(b)),
            SimValue::Oid(o) => ("6", o.clone()),
            SimValue::Counter32(c) => ("65", c.to_string()),
            SimValue::Gauge32(g) => ("66", g.to_string()),
            SimValue::Ticks(t) => ("67", t.to_string()),
            SimValue::Counter64(c) => ("70", c.to_string()),
        }
    }

    /// The value as async-snmp sends it in a SET.
    fn to_value(&self) -> Value {
        match self {
            SimValue::Int(i) => Value::Integer(*i),
            SimValue::Str(s) => Value::from(s.as_str()),
            SimValue::Bytes(b) => Value::from(b.as_slice()),
            SimValue::Oid(o) => Value::ObjectIdentifier(Oid::parse(o).unwrap()),
            SimValue::Counter32(c) => Value::Counter32(*c),
            SimValue::Gauge32(g) => Value::Gauge32(*g),
            SimValue::Ticks(t) => Value::TimeTicks(*t),
            SimValue::Counter64(c) => Value::Counter64(*c),
        }
    }
}

fn hex(b: &[u8]) -> String {
    b.iter().fold(String::new(), |mut s, x| {
        let _ = write!(s, "{x:02x}");
        s
    })
}

/// How a simulated object's value behaves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Behaviour {
    /// Always the value written.
    Fixed,
    /// The value written until a SET changes it (snmpsim's `writecache`).
    Writable,
    /// TimeTicks advancing 100 a second from the value written, as a
    /// device's clock (snmpsim's `numeric`).
    Clock,
}

/// The objects of one simulated device, by OID.
///
/// snmpsim keeps the values SET into writable objects by OID alone, for
/// every data file of one responder: an OID writable in one device must
/// not be in another that the same responder serves.
#[derive(Debug, Clone, Default)]
pub struct DataFile {
    records: BTreeMap<Vec<u32>, (SimValue, Behaviour)>,
}

impl DataFile {
    /// An empty device.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets `oid` to `value`, fixed.
    pub fn put(&mut self, oid: &[u32], value: SimValue) {
        self.records.insert(oid.to_vec(), (value, Behaviour::Fixed));
    }

    /// Sets `oid` to `value`, which a SET may change later.
    pub fn put_writable(&mut self, oid: &[u32], value: SimValue) {
        self.records
            .insert(oid.to_vec(), (value, Behaviour::Writable));
    }

    /// Sets `oid` to TimeTicks that advance 100 a second from `ticks`,
    /// as `sysUpTime` does.
    pub fn put_clock(&mut self, oid: &[u32], ticks: u32) {
        self.records
            .insert(oid.to_vec(), (SimValue::Ticks(ticks), Behaviour::Clock));
    }

    /// The value at `oid`.
    pub fn get(&self, oid: &[u32]) -> Option<&SimValue> {
        self.records.get(oid).map(|(v, _)| v)
    }

    /// The `.snmprec` text, in OID order as snmpsim wants it.
    fn render(&self) -> String {
        let mut out = String::new();
        for (oid, (value, behaviour)) in &self.records {
            let dotted = oid.iter().map(u32::to_string).collect::<Vec<_>>().join(".");
            let (tag, text) = value.tag_and_text();
            match behaviour {
                Behaviour::Fixed => {
                    let _ = writeln!(out, "{dotted}|{tag}|{text}");
                }
                Behaviour::Writable => {
                    // writecache reads its start value from `value=` or `hexvalue=`.
                    let (tag, key) = match tag.strip_suffix('x') {
                        Some(t) => (t, "hexvalue"),
                        None => (tag, "value"),
                    };
                    let _ = writeln!(out, "{dotted}|{tag}:writecache|{key}={text}");
                }
                Behaviour::Clock => {
                    let _ = writeln!(out, "{dotted}|{tag}:numeric|rate=100,initial={text}");
                }
            }
        }
        out
    }
}

/// A running `snmpsim-command-responder` serving several devices, one
/// community each.
#[derive(Debug)]
pub struct SnmpSim {
    /// The UDP port on 127.0.0.1 it answers on.
    pub port: u16,
    // Holds the pipe whose closing stops the responder.
    _guard: Child,
}

impl SnmpSim {
    /// Writes each `(community, device)` as a data file and starts one
    /// responder for them all; returns once every community answers.
    pub fn start(devices: &[(&str, &DataFile)]) -> SnmpSim {
        let dir = tempfile::tempdir().unwrap().keep();
        let data = dir.join("data");
        let cache = dir.join("cache");
        std::fs::create_dir_all(&data).unwrap();
        std::fs::create_dir_all(&cache).unwrap();
        for (community, file) in devices {
            std::fs::write(data.join(format!("{community}.snmprec")), file.render()).unwrap();
        }
        let root = rustix::process::geteuid().is_root();
        if root {
            // snmpsim refuses to run as root: it runs as nobody, who must
            // read the data and write the index cache.
            open_to_all(&dir, &data, &cache);
        }
        let port = free_port();
        let mut args = vec![
            format!("--data-dir={}", data.display()),
            format!("--cache-dir={}", cache.display()),
            format!("--agent-udpv4-endpoint=127.0.0.1:{port}"),
            "--logging-method=null".to_owned(),
        ];
        if root {
            args.push("--process-user=nobody".to_owned());
            args.push("--process-group=nogroup".to_owned());
        }
        // `cat` returns when this process's end of the pipe closes.
        let script = r#"dir="$1"; shift; "$@" & pid=$!; cat >/dev/null; kill "$pid"; wait "$pid"; rm -rf "$dir""#;
        let guard = Command::new("sh")
            .arg("-c")
            .arg(script)
            .arg("sh")
            .arg(&dir)
            .arg(responder())
            .args(&args)
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("sh runs");
        let sim = SnmpSim {
            port,
            _guard: guard,
        };
        for (community, _) in devices {
            sim.wait_ready(community);
        }
        sim
    }

    /// Waits until the responder answers `community`.
    fn wait_ready(&self, community: &str) {
        let deadline = Instant::now() + Duration::from_secs(60);
        while Instant::now() < deadline {
            let out = Command::new("snmpget")
                .args([
                    "-M",
                    "/nonexistent",
                    "-m",
                    "",
                    "-On",
                    "-v2c",
                    "-c",
                    community,
                ])
                .args(["-t", "0.3", "-r", "0"])
                .arg(format!("127.0.0.1:{}", self.port))
                .arg(".1.3.6.1.2.1.1.3.0")
                .stderr(Stdio::null())
                .output()
                .expect("snmpget runs (apt-get install snmp)");
            if out.status.success() {
                return;
            }
        }
        panic!(
            "snmpsim did not answer {community} on port {} within 60 s",
            self.port
        );
    }

    /// Sets writable objects of the device answering `community` (values
    /// must keep their type).
    pub async fn set(&self, community: &str, values: &[(&[u32], SimValue)]) {
        let client = Client::builder(("127.0.0.1", self.port), Auth::v2c(community))
            .request_timeout(Duration::from_secs(2))
            .connect()
            .await
            .unwrap();
        for (oid, value) in values {
            client
                .set(&Oid::from_slice(oid), value.to_value())
                .await
                .unwrap_or_else(|e| panic!("SET {oid:?} on {community}: {e}"));
        }
    }
}

/// The responder: `$ATALAYA_SNMPSIM`, else where `scripts/test.sh`
/// installs it, else on `PATH`.
fn responder() -> PathBuf {
    const NAME: &str = "snmpsim-command-responder";
    if let Some(p) = std::env::var_os("ATALAYA_SNMPSIM") {
        return PathBuf::from(p);
    }
    let mut places = vec![PathBuf::from("/opt/atalaya-test/snmpsim/bin").join(NAME)];
    if let Some(home) = std::env::var_os("HOME") {
        places.push(
            Path::new(&home)
                .join(".cache/atalaya/snmpsim/bin")
                .join(NAME),
        );
    }
    if let Some(path) = std::env::var_os("PATH") {
        places.extend(std::env::split_paths(&path).map(|d| d.join(NAME)));
    }
    places
        .into_iter()
        .find(|p| p.exists())
        .unwrap_or_else(|| panic!("{NAME} is missing: scripts/test.sh installs snmpsim"))
}

fn open_to_all(dir: &Path, data: &Path, cache: &Path) {
    use std::os::unix::fs::PermissionsExt;
    let mode = |p: &Path, m: u32| {
        std::fs::set_permissions(p, std::fs::Permissions::from_mode(m)).unwrap();
    };
    mode(dir, 0o755);
    mode(data, 0o755);
    mode(cache, 0o777);
    for entry in std::fs::read_dir(data).unwrap() {
        mode(&entry.unwrap().path(), 0o644);
    }
}
