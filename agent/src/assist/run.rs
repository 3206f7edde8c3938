//! Running a diagnostic action within the machine's limits: a deadline
//! (a child process is killed when it passes) and a cap on the output.
//!
//! Programs are run by fixed path with fixed options, never through a
//! shell; the only variable parts are the checked arguments.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use atalaya_common::assist::{Action, DiagOutcome};
use atalaya_common::format;
use atalaya_common::model::Protocol;
use tokio::io::{AsyncRead, AsyncReadExt};

use super::{AssistConfig, allow};
use crate::inventory::services::listeners;
use crate::metrics::Sampler;
use crate::root::{Gaps, Root};

/// What one action gave.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ran {
    /// How it ended.
    pub outcome: DiagOutcome,
    /// What it printed or found, at most the configured bytes.
    pub output: String,
    /// Whether `output` was cut.
    pub truncated: bool,
}

impl Ran {
    /// An outcome with no output.
    pub fn bare(outcome: DiagOutcome) -> Self {
        Self {
            outcome,
            output: String::new(),
            truncated: false,
        }
    }
}

/// Limits of one run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Longest run.
    pub timeout: Duration,
    /// Most bytes of output kept.
    pub max_output_bytes: usize,
}

/// Most entries `disk-usage` looks at: a bounded walk on a huge tree.
const DISK_USAGE_MAX_ENTRIES: usize = 200_000;
/// Most bytes `log-tail` reads from the end of a file.
const LOG_TAIL_MAX_READ: u64 = 8 << 20;

/// Output collected up to a cap.
#[derive(Debug, Default)]
struct Capped {
    bytes: Vec<u8>,
    cap: usize,
    truncated: bool,
}

impl Capped {
    fn new(cap: usize) -> Self {
        Self {
            bytes: Vec::new(),
            cap,
            truncated: false,
        }
    }

    fn push(&mut self, more: &[u8]) {
        let room = self.cap.saturating_sub(self.bytes.len());
        if more.len() > room {
            self.truncated = true;
        }
        self.bytes.extend_from_slice(&more[..more.len().min(room)]);
    }

    /// The text, cut at a character boundary.
    fn finish(self) -> (String, bool) {
        let mut text = String::from_utf8_lossy(&self.bytes).into_owned();
        let mut truncated = self.truncated;
        if text.len() > self.cap {
            text.truncate(text.floor_char_boundary(self.cap));
            truncated = true;
        }
        (text, truncated)
    }
}

/// Text made in the agent, capped like a program's output.
fn capped_text(outcome: DiagOutcome, text: &str, cap: usize) -> Ran {
    let mut c = Capped::new(cap);
    c.push(text.as_bytes());
    let (output, truncated) = c.finish();
    Ran {
        outcome,
        output,
        truncated,
    }
}

/// Reads `stream` into `out` until its end, dropping what is over the cap.
async fn drain(stream: Option<impl AsyncRead + Unpin>, out: &mut Capped) {
    let Some(mut stream) = stream else {
        return;
    };
    let mut buf = [0u8; 8192];
    while let Ok(n) = stream.read(&mut buf).await {
        if n == 0 {
            break;
        }
        out.push(&buf[..n]);
    }
}

/// Runs `program` with `args` (no shell, an empty environment but for a
/// fixed `PATH` and the C locale), its standard output then its standard
/// error as output. Past the deadline the child is killed and reaped.
pub async fn run_command(program: &Path, args: &[&str], limits: Limits) -> Ran {
    let mut child = match tokio::process::Command::new(program)
        .args(args)
        .env_clear()
        .env("PATH", "/usr/sbin:/usr/bin:/sbin:/bin")
        .env("LC_ALL", "C")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
    {
        Ok(child) => child,
        Err(e) => {
            return Ran::bare(DiagOutcome::Failed {
                reason: format!("cannot run {}: {e}", program.display()),
            });
        }
    };
    let mut out = Capped::new(limits.max_output_bytes);
    let mut err = Capped::new(limits.max_output_bytes);
    let stdout = child.stdout.take();
    let stderr = child.stderr.take();
    let finished = tokio::time::timeout(limits.timeout, async {
        tokio::join!(drain(stdout, &mut out), drain(stderr, &mut err));
        child.wait().await
    })
    .await;
    let outcome = match finished {
        Ok(Ok(status)) if status.success() => DiagOutcome::Completed,
        Ok(Ok(status)) => DiagOutcome::Failed {
            reason: match status.code() {
                Some(code) => format!("{} exited with status {code}", program.display()),
                None => format!("{} was stopped by a signal", program.display()),
            },
        },
        Ok(Err(e)) => DiagOutcome::Failed {
            reason: format!("waiting for {}: {e}", program.display()),
        },
        Err(_) => {
            // Kills and reaps: nothing of it is left running.
            let _ = child.kill().await;
            DiagOutcome::TimedOut {
                after_seconds: u32::try_from(limits.timeout.as_secs()).unwrap_or(u32::MAX),
            }
        }
    };
    let truncated_err = err.truncated;
    let err_bytes = err.bytes;
    out.push(&err_bytes);
    out.truncated |= truncated_err;
    let (output, truncated) = out.finish();
    Ran {
        outcome,
        output,
        truncated,
    }
}

/// The first of `candidates` that exists.
fn program(candidates: &[&str]) -> Option<PathBuf> {
    candidates.iter().map(PathBuf::from).find(|p| p.is_file())
}

fn missing(what: &str, candidates: &[&str]) -> Ran {
    Ran::bare(DiagOutcome::Failed {
        reason: format!(
            "{what} is not installed (looked for {})",
            candidates.join(", ")
        ),
    })
}

const PING: &[&str] = &["/usr/bin/ping", "/bin/ping"];
const TRACEROUTE: &[&str] = &["/usr/sbin/traceroute", "/usr/bin/traceroute"];
const TRACEPATH: &[&str] = &[
    "/usr/bin/tracepath",
    "/usr/sbin/tracepath",
    "/bin/tracepath",
];
const SYSTEMCTL: &[&str] = &["/usr/bin/systemctl", "/bin/systemctl"];
/// What `service-status` asks systemd about a unit.
const SERVICE_PROPERTIES: &str = "--property=Id,Description,LoadState,ActiveState,SubState,UnitFileState,MainPID,ExecMainStartTimestamp,NRestarts,Result";

/// Runs `action` (already verified and allowed) on the machine at `root`.
pub async fn run(action: &Action, config: &AssistConfig, root: &Root) -> Ran {
    let limits = config.limits();
    let cap = limits.max_output_bytes;
    let in_agent = async {
        match action {
            Action::Ping { host } => match program(PING) {
                Some(p) => run_command(&p, &["-n", "-c", "4", "-W", "2", host], limits).await,
                None => missing("ping", PING),
            },
            Action::Traceroute { host } => match (program(TRACEROUTE), program(TRACEPATH)) {
                (Some(p), _) => {
                    run_command(&p, &["-n", "-q", "1", "-w", "2", "-m", "20", host], limits).await
                }
                (None, Some(p)) => run_command(&p, &["-n", "-m", "20", host], limits).await,
                (None, None) => missing("traceroute", &[TRACEROUTE, TRACEPATH].concat()),
            },
            Action::ServiceStatus { name } => match program(SYSTEMCTL) {
                Some(p) => run_command(&p, &["show", SERVICE_PROPERTIES, "--", name], limits).await,
                None => {
                    blocking(cap, {
                        let root = root.clone();
                        let name = name.clone();
                        move || processes_named(&root, &name)
                    })
                    .await
                }
            },
            Action::ServiceRestart { name } => match program(SYSTEMCTL) {
                Some(p) => run_command(&p, &["restart", "--", name], limits).await,
                None => missing("systemctl", SYSTEMCTL),
            },
            Action::TcpConnect { host, port } => tcp_connect(host, *port, cap).await,
            Action::DnsLookup { name } => dns_lookup(name, cap).await,
            Action::TopProcesses => top_processes(root.clone(), cap).await,
            Action::DiskUsage { path } => {
                let path = PathBuf::from(path);
                blocking(cap, move || disk_usage(&path)).await
            }
            Action::LogTail { path, lines } => {
                let file = match allow::log_path(config, Path::new(path)) {
                    Ok(file) => file,
                    Err(refusal) => {
                        return Ran::bare(DiagOutcome::Refused {
                            reason: refusal.to_string(),
                        });
                    }
                };
                let lines = *lines as usize;
                blocking(cap, move || log_tail(&file, lines)).await
            }
            Action::ListeningSockets => {
                let root = root.clone();
                blocking(cap, move || Ok(listening_sockets(&root))).await
            }
            // Made from the agent's own samples and logs: [`super::handle`]
            // makes it with them and never comes here.
            Action::SupportBundle => Ran::bare(DiagOutcome::Failed {
                reason: "a support bundle needs the agent's recent samples".into(),
            }),
        }
    };
    match tokio::time::timeout(limits.timeout + Duration::from_millis(100), in_agent).await {
        Ok(ran) => ran,
        Err(_) => Ran::bare(DiagOutcome::TimedOut {
            after_seconds: u32::try_from(limits.timeout.as_secs()).unwrap_or(u32::MAX),
        }),
    }
}

/// Runs file-system work off the async threads; its error is the failure.
async fn blocking(
    cap: usize,
    work: impl FnOnce() -> Result<String, String> + Send + 'static,
) -> Ran {
    match tokio::task::spawn_blocking(work).await {
        Ok(Ok(text)) => capped_text(DiagOutcome::Completed, &text, cap),
        Ok(Err(reason)) => Ran::bare(DiagOutcome::Failed { reason }),
        Err(e) => Ran::bare(DiagOutcome::Failed {
            reason: format!("the action stopped: {e}"),
        }),
    }
}

async fn tcp_connect(host: &str, port: u16, cap: usize) -> Ran {
    let started = Instant::now();
    match tokio::net::TcpStream::connect((host, port)).await {
        Ok(stream) => {
            let peer = stream
                .peer_addr()
                .map_or_else(|_| format!("{host}:{port}"), |a| a.to_string());
            let text = format!(
                "connected to {peer} in {} ms\n",
                started.elapsed().as_millis()
            );
            capped_text(DiagOutcome::Completed, &text, cap)
        }
        Err(e) => Ran::bare(DiagOutcome::Failed {
            reason: format!("connecting to {host}:{port}: {e}"),
        }),
    }
}

async fn dns_lookup(name: &str, cap: usize) -> Ran {
    let started = Instant::now();
    match tokio::net::lookup_host((name, 0)).await {
        Ok(addrs) => {
            let mut ips: Vec<String> = addrs.map(|a| a.ip().to_string()).collect();
            ips.sort();
            ips.dedup();
            let mut text = format!(
                "{name}: {} address(es) in {} ms\n",
                ips.len(),
                started.elapsed().as_millis()
            );
            for ip in ips {
                text.push_str(&ip);
                text.push('\n');
            }
            capped_text(DiagOutcome::Completed, &text, cap)
        }
        Err(e) => Ran::bare(DiagOutcome::Failed {
            reason: format!("resolving {name}: {e}"),
        }),
    }
}

/// Two samples a second apart, through the metrics sampler.
async fn top_processes(root: Root, cap: usize) -> Ran {
    let mut sampler = Sampler::with_top(root, 10);
    let _ = sampler.sample();
    tokio::time::sleep(Duration::from_secs(1)).await;
    let sample = sampler.sample();
    let mut text = String::from("by CPU (percent of one CPU over 1 s):\n");
    for p in &sample.top_cpu {
        text.push_str(&format!(
            "{:>7.1}%  {:>10}  {:>7}  {}\n",
            p.cpu_percent,
            format::bytes(p.rss_bytes),
            p.pid,
            p.name
        ));
    }
    text.push_str("by resident memory:\n");
    for p in &sample.top_memory {
        text.push_str(&format!(
            "{:>10}  {:>7.1}%  {:>7}  {}\n",
            format::bytes(p.rss_bytes),
            p.cpu_percent,
            p.pid,
            p.name
        ));
    }
    capped_text(DiagOutcome::Completed, &text, cap)
}

/// Sizes of the entries directly under `dir`, largest first, each the
/// sum of the files below it (symbolic links not followed, other file
/// systems not entered), within a bounded number of entries.
pub fn disk_usage(dir: &Path) -> Result<String, String> {
    use std::os::unix::fs::MetadataExt;
    let top = std::fs::symlink_metadata(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    if !top.is_dir() {
        return Err(format!("{} is not a directory", dir.display()));
    }
    let device = top.dev();
    let entries = std::fs::read_dir(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let mut budget = DISK_USAGE_MAX_ENTRIES;
    let mut sizes: Vec<(u64, String)> = Vec::new();
    let mut unreadable = 0usize;
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let mut size = 0u64;
        let mut stack = vec![entry.path()];
        while let Some(path) = stack.pop() {
            if budget == 0 {
                break;
            }
            budget -= 1;
            let Ok(meta) = std::fs::symlink_metadata(&path) else {
                unreadable += 1;
                continue;
            };
            size = size.saturating_add(meta.blocks().saturating_mul(512));
            if meta.is_dir() && meta.dev() == device {
                match std::fs::read_dir(&path) {
                    Ok(children) => stack.extend(children.flatten().map(|c| c.path())),
                    Err(_) => unreadable += 1,
                }
            }
        }
        sizes.push((size, name));
    }
    sizes.sort_by(|a, b| b.0.cmp(&a.0).then_with(|| a.1.cmp(&b.1)));
    let total: u64 = sizes.iter().map(|(s, _)| s).sum();
    let mut text = format!(
        "{}: {} in {} entries\n",
        dir.display(),
        format::bytes(total),
        sizes.len()
    );
    for (size, name) in &sizes {
        text.push_str(&format!(
            "{size:>14}  {:>10}  {name}\n",
            format::bytes(*size)
        ));
    }
    if budget == 0 {
        text.push_str(&format!(
            "(stopped after {DISK_USAGE_MAX_ENTRIES} entries: sizes are lower bounds)\n"
        ));
    }
    if unreadable > 0 {
        text.push_str(&format!("({unreadable} entries could not be read)\n"));
    }
    Ok(text)
}

/// The last `lines` lines of `file`, from at most its last 8 MiB.
pub fn log_tail(file: &Path, lines: usize) -> Result<String, String> {
    use std::io::{Seek, SeekFrom};
    let mut f = std::fs::File::open(file).map_err(|e| format!("{}: {e}", file.display()))?;
    let len = f
        .metadata()
        .map_err(|e| format!("{}: {e}", file.display()))?
        .len();
    let start = len.saturating_sub(LOG_TAIL_MAX_READ);
    f.seek(SeekFrom::Start(start))
        .map_err(|e| format!("{}: {e}", file.display()))?;
    let mut bytes = Vec::new();
    f.take(LOG_TAIL_MAX_READ)
        .read_to_end(&mut bytes)
        .map_err(|e| format!("{}: {e}", file.display()))?;
    let text = String::from_utf8_lossy(&bytes);
    let all: Vec<&str> = text.lines().collect();
    let from = all.len().saturating_sub(lines);
    let mut out = all[from..].join("\n");
    if !out.is_empty() {
        out.push('\n');
    }
    Ok(out)
}

/// The listening sockets, as the inventory reads them.
pub fn listening_sockets(root: &Root) -> String {
    let mut gaps = Gaps::default();
    let mut list = listeners::listeners(root, &mut gaps);
    list.sort_by_key(|l| (l.port, l.protocol, l.address));
    let mut text = String::new();
    for l in &list {
        let address = match l.address {
            std::net::IpAddr::V6(a) => format!("[{a}]:{}", l.port),
            std::net::IpAddr::V4(a) => format!("{a}:{}", l.port),
        };
        text.push_str(&format!(
            "{} {address} pid={} {}\n",
            match l.protocol {
                Protocol::Tcp => "tcp",
                Protocol::Udp => "udp",
            },
            l.pid.map_or_else(|| "-".to_owned(), |p| p.to_string()),
            l.process.as_deref().unwrap_or("-")
        ));
    }
    for gap in &gaps.0 {
        text.push_str(&format!("({})\n", gap.reason));
    }
    text
}

/// Without systemd: the processes whose command name is `name`.
fn processes_named(root: &Root, name: &str) -> Result<String, String> {
    let proc_dir = root.path("/proc");
    let entries =
        std::fs::read_dir(&proc_dir).map_err(|e| format!("{}: {e}", proc_dir.display()))?;
    let mut pids: Vec<u32> = entries
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| root.value(format!("/proc/{pid}/comm")).as_deref() == Some(name))
        .collect();
    pids.sort_unstable();
    Ok(if pids.is_empty() {
        format!("no systemd here, and no process named {name} is running\n")
    } else {
        format!(
            "no systemd here; {} process(es) named {name} running: {}\n",
            pids.len(),
            pids.iter()
                .map(u32::to_string)
                .collect::<Vec<_>>()
                .join(" ")
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits(ms: u64, bytes: usize) -> Limits {
        Limits {
            timeout: Duration::from_millis(ms),
            max_output_bytes: bytes,
        }
    }

    #[tokio::test]
    async fn a_slow_program_is_killed_at_the_deadline() {
        let dir = tempfile::tempdir().unwrap();
        let pid_file = dir.path().join("pid");
        let script = format!(
            "echo started; echo $$ > {}; exec sleep 30",
            pid_file.display()
        );
        let started = Instant::now();
        let ran = run_command(Path::new("/bin/sh"), &["-c", &script], limits(300, 1024)).await;
        assert!(started.elapsed() < Duration::from_secs(5));
        assert_eq!(ran.outcome, DiagOutcome::TimedOut { after_seconds: 0 });
        assert_eq!(ran.output, "started\n");
        let pid = std::fs::read_to_string(&pid_file).unwrap();
        // Killed and reaped: not even a zombie is left.
        assert!(
            !Path::new(&format!("/proc/{}", pid.trim())).exists(),
            "process {pid} still there"
        );
    }

    #[tokio::test]
    async fn output_over_the_cap_is_cut_and_flagged() {
        let ran = run_command(
            Path::new("/usr/bin/seq"),
            &["1", "100000"],
            limits(10_000, 1000),
        )
        .await;
        assert_eq!(ran.outcome, DiagOutcome::Completed);
        assert_eq!(ran.output.len(), 1000);
        assert!(ran.output.starts_with("1\n2\n3\n"));
        assert!(ran.truncated);
        let ran = run_command(Path::new("/usr/bin/seq"), &["1", "3"], limits(10_000, 1000)).await;
        assert_eq!((ran.output.as_str(), ran.truncated), ("1\n2\n3\n", false));
        let ran = run_command(Path::new("/bin/false"), &[], limits(10_000, 1000)).await;
        assert_eq!(ran.outcome.name(), "failed");
        let ran = run_command(Path::new("/nonexistent/program"), &[], limits(10_000, 10)).await;
        assert!(
            ran.outcome
                .reason()
                .unwrap()
                .contains("cannot run /nonexistent/program")
        );
    }

    #[test]
    fn the_cap_cuts_at_a_character_boundary() {
        let ran = capped_text(DiagOutcome::Completed, "ñañaña", 4);
        assert_eq!((ran.output.as_str(), ran.truncated), ("ña", true));
    }

    #[test]
    fn disk_usage_lists_each_entry_with_its_size() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("big")).unwrap();
        std::fs::write(dir.path().join("big/blob"), vec![7u8; 1 << 20]).unwrap();
        std::fs::write(dir.path().join("small"), b"x").unwrap();
        let text = disk_usage(dir.path()).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert!(lines[0].ends_with("in 2 entries"), "{text}");
        assert!(lines[1].ends_with("  big"), "{text}");
        let big: u64 = lines[1].split_whitespace().next().unwrap().parse().unwrap();
        assert!(big >= 1 << 20, "{text}");
        assert!(lines[2].ends_with("  small"), "{text}");
        assert!(
            disk_usage(&dir.path().join("small"))
                .unwrap_err()
                .contains("not a directory")
        );
    }

    #[test]
    fn log_tail_gives_the_last_lines() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("app.log");
        let body: String = (1..=100).map(|i| format!("line {i}\n")).collect();
        std::fs::write(&file, body).unwrap();
        assert_eq!(log_tail(&file, 2).unwrap(), "line 99\nline 100\n");
        assert_eq!(log_tail(&file, 500).unwrap().lines().count(), 100);
    }
}
