//! A real net-snmp `snmpd` for tests, and the net-snmp command-line tools
//! to compare Atalaya's polls with.
//!
//! Each [`Snmpd`] runs its own daemon on a free loopback port with its own
//! configuration and persistent directory in a temporary directory, never
//! the system's (`-C` ignores the system configuration). No MIB files are
//! loaded: every OID is numeric.

use std::net::UdpSocket;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A running `snmpd`, killed on drop.
#[derive(Debug)]
pub struct Snmpd {
    child: Child,
    /// The loopback address it answers on (127.0.0.1 unless chosen).
    pub ip: String,
    /// The UDP port it answers on.
    pub port: u16,
    dir: tempfile::TempDir,
    ready_community: String,
}

/// Arguments that keep net-snmp from looking for MIB files.
const NO_MIBS: [&str; 4] = ["-M", "/nonexistent", "-m", ""];

impl Snmpd {
    /// Starts `snmpd` with `conf` on a free port and waits until it answers
    /// `ready_community` (which `conf` must grant).
    pub fn start(conf: &str, ready_community: &str) -> Snmpd {
        Snmpd::start_on("127.0.0.1", free_port(), conf, ready_community)
    }

    /// Starts `snmpd` like [`Snmpd::start`], on loopback address `ip`
    /// (any of 127.0.0.0/8) and `port`.
    pub fn start_on(ip: &str, port: u16, conf: &str, ready_community: &str) -> Snmpd {
        let dir = tempfile::tempdir().expect("temporary directory");
        std::fs::write(dir.path().join("snmpd.conf"), conf).expect("write snmpd.conf");
        std::fs::create_dir_all(dir.path().join("persist")).expect("persistent dir");
        let child = spawn(&dir, ip, port);
        let mut d = Snmpd {
            child,
            ip: ip.to_owned(),
            port,
            dir,
            ready_community: ready_community.to_owned(),
        };
        d.wait_ready();
        d
    }

    /// `ip:port`.
    pub fn target(&self) -> String {
        format!("{}:{}", self.ip, self.port)
    }

    /// Stops the daemon and starts it again on the same port (its
    /// `sysUpTime` starts again from zero).
    pub fn restart(&mut self) {
        self.stop();
        self.child = spawn(&self.dir, &self.ip, self.port);
        self.wait_ready();
    }

    /// The daemon's `sysUpTime`, ticks, read with `snmpget`.
    pub fn uptime_ticks(&self) -> Option<u64> {
        let out = self.get(&self.ready_community.clone(), &[".1.3.6.1.2.1.1.3.0"])?;
        let line = out.lines().next()?;
        let open = line.find('(')?;
        let close = line.find(')')?;
        line.get(open + 1..close)?.parse().ok()
    }

    /// `snmpget -On -v2c` of `oids`: the printed lines, if it answered.
    pub fn get(&self, community: &str, oids: &[&str]) -> Option<String> {
        let mut cmd = Command::new("snmpget");
        cmd.args(NO_MIBS)
            .args(["-On", "-v2c", "-c", community, "-t", "0.3", "-r", "0"])
            .arg(self.target())
            .args(oids);
        run(cmd)
    }

    /// `snmpbulkwalk -On -v2c` of `oid`: the printed lines.
    pub fn bulkwalk(&self, community: &str, oid: &str) -> String {
        let mut cmd = Command::new("snmpbulkwalk");
        cmd.args(NO_MIBS)
            .args(["-On", "-v2c", "-c", community])
            .arg(self.target())
            .arg(oid);
        run(cmd).unwrap_or_default()
    }

    fn wait_ready(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!("snmpd exited at start: {status}");
            }
            if self.uptime_ticks().is_some() {
                return;
            }
        }
        panic!("snmpd did not answer on port {} within 20 s", self.port);
    }

    /// Kills the daemon: the device stops answering.
    pub fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Snmpd {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Debian puts `snmpd` in /usr/sbin, which an unprivileged account's
/// `PATH` may lack.
fn snmpd_program() -> PathBuf {
    let sbin = PathBuf::from("/usr/sbin/snmpd");
    if sbin.exists() {
        sbin
    } else {
        PathBuf::from("snmpd")
    }
}

fn spawn(dir: &tempfile::TempDir, ip: &str, port: u16) -> Child {
    let conf: PathBuf = dir.path().join("snmpd.conf");
    Command::new(snmpd_program())
        .args(["-f", "-Lo", "-C"])
        .args(NO_MIBS)
        .arg("-c")
        .arg(&conf)
        .arg(format!("udp:{ip}:{port}"))
        .env("SNMP_PERSISTENT_DIR", dir.path().join("persist"))
        .env("SNMPCONFPATH", dir.path())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("snmpd runs (apt-get install snmpd)")
}

fn run(mut cmd: Command) -> Option<String> {
    let out = cmd.stderr(Stdio::null()).output().ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).into_owned())
}

/// A UDP port free on loopback right now.
pub fn free_port() -> u16 {
    let s = UdpSocket::bind("127.0.0.1:0").expect("bind");
    s.local_addr().expect("local address").port()
}

/// A UDP port free right now on every one of the loopback addresses `ips`.
pub fn free_port_on(ips: &[&str]) -> u16 {
    loop {
        let port = free_port();
        if ips
            .iter()
            .all(|ip| UdpSocket::bind(format!("{ip}:{port}")).is_ok())
        {
            return port;
        }
    }
}

/// One `-On` output line: (OID without the leading dot, type, value text).
pub fn parse_line(line: &str) -> Option<(String, String, String)> {
    let (oid, rest) = line.split_once(" = ")?;
    let oid = oid.trim_start_matches('.').to_owned();
    if rest == "\"\"" {
        return Some((oid, "STRING".into(), String::new()));
    }
    let (kind, value) = rest.split_once(": ").unwrap_or((rest, ""));
    let value = value.trim().trim_matches('"').to_owned();
    Some((oid, kind.to_owned(), value))
}

/// Bytes `lo` has received, from `/proc/net/dev`.
pub fn lo_rx_bytes() -> u64 {
    let text = std::fs::read_to_string("/proc/net/dev").expect("/proc/net/dev");
    text.lines()
        .find_map(|l| {
            let (name, rest) = l.split_once(':')?;
            (name.trim() == "lo").then(|| rest.split_whitespace().next()?.parse().ok())?
        })
        .expect("lo in /proc/net/dev")
}
