//! Processes: counts by state, the top ones by CPU and by resident memory,
//! and the agent's own cost, from `/proc/<pid>/stat`.
//!
//! A process's CPU share is its tick growth since the previous sample over
//! the measured interval. Processes are matched across samples by pid and
//! start time, so a recycled pid is seen as a new process; a process new
//! since the previous sample spent all its ticks within the interval.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::fs::File;
use std::mem;

use atalaya_common::model::{AgentUsage, ProcessCount, ProcessUsage};
use rustix::fs::{Dir, Mode, OFlags};

use super::{Reader, SOURCE};
use crate::root::{Gaps, describe};

/// Clock ticks per second of `/proc/<pid>/stat` times: `USER_HZ`, which
/// Linux fixes at 100 on every architecture for user-space ABI stability
/// (whatever the kernel's internal `HZ`), so it is not asked of `sysconf`.
const TICKS_PER_SECOND: f64 = 100.0;

/// The fields of `/proc/<pid>/stat` the sampler uses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stat<'a> {
    /// Process ID.
    pub pid: u32,
    /// Command name (`comm`), up to 15 bytes for most processes.
    pub comm: &'a str,
    /// State letter: `R` running, `S` sleeping, `Z` zombie, …
    pub state: char,
    /// User plus system time, clock ticks.
    pub ticks: u64,
    /// Start time after boot, clock ticks: tells a recycled pid apart.
    pub start: u64,
    /// Resident set, pages.
    pub rss_pages: u64,
}

/// Parses `/proc/<pid>/stat`.
///
/// `comm` can hold spaces and parentheses (`(sd-pam)`, `a) b`), so it runs
/// from the first `(` to the LAST `)`; the numbered fields follow.
pub fn parse_stat(text: &str) -> Option<Stat<'_>> {
    let open = text.find('(')?;
    let close = text.rfind(')')?;
    let pid = text.get(..open)?.trim().parse().ok()?;
    let comm = text.get(open + 1..close)?;
    let mut rest = text.get(close + 1..)?.split_ascii_whitespace();
    // Numbering from the state (field 3 in proc(5)) as 0.
    let state = rest.next()?.chars().next()?;
    let mut rest = rest.skip(10); // ppid … cmajflt
    let utime: u64 = rest.next()?.parse().ok()?;
    let stime: u64 = rest.next()?.parse().ok()?;
    let mut rest = rest.skip(6); // cutime … itrealvalue
    let start = rest.next()?.parse().ok()?;
    let _vsize = rest.next()?;
    // rss is a signed long in the kernel; never negative in practice.
    let rss: i64 = rest.next()?.parse().ok()?;
    Some(Stat {
        pid,
        comm,
        state,
        ticks: utime.saturating_add(stime),
        start,
        rss_pages: u64::try_from(rss).unwrap_or(0),
    })
}

/// CPU percent of one CPU for `ticks` over `seconds`.
fn cpu_percent(ticks: u64, seconds: f64) -> f64 {
    ticks as f64 / TICKS_PER_SECOND / seconds * 100.0
}

/// The system page size, the unit of `rss`.
fn page_size() -> u64 {
    u64::try_from(rustix::param::page_size()).unwrap_or(4096)
}

/// One process of the current walk; its name lives in the shared arena.
#[derive(Debug, Clone)]
struct Entry {
    pid: u32,
    name: (usize, usize),
    cpu_percent: f64,
    rss_pages: u64,
}

/// What a walk of `/proc` found.
#[derive(Debug, Default)]
pub(crate) struct Processes {
    /// Whether `/proc` could be walked at all.
    pub counted: bool,
    /// Processes by state.
    pub count: ProcessCount,
    /// Busiest by CPU, busiest first.
    pub top_cpu: Vec<ProcessUsage>,
    /// Largest by resident memory, largest first.
    pub top_memory: Vec<ProcessUsage>,
}

/// Tick counts of the previous walk, and buffers reused between walks.
#[derive(Debug, Default)]
pub(crate) struct ProcessState {
    /// pid → (start time, ticks) at the previous walk.
    previous: HashMap<u32, (u64, u64)>,
    current: HashMap<u32, (u64, u64)>,
    entries: Vec<Entry>,
    /// Every `comm` of the walk, back to back: one allocation, not one per process.
    names: String,
    path: String,
    walked_before: bool,
}

impl ProcessState {
    /// Walks `/proc` under the root. `seconds` is the interval since the
    /// previous sample (`None` on the first, when no CPU share is known).
    pub(crate) fn sample(
        &mut self,
        reader: &mut Reader,
        gaps: &mut Gaps,
        seconds: Option<f64>,
        top: usize,
    ) -> Processes {
        let proc_dir = reader.root().path("/proc");
        let dir = rustix::fs::open(
            &proc_dir,
            OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
            Mode::empty(),
        )
        .and_then(|fd| Dir::read_from(&fd).map(|dir| (fd, dir)));
        let (fd, mut dir) = match dir {
            Ok(d) => d,
            Err(e) => {
                gaps.note(
                    SOURCE,
                    "processes",
                    format!("/proc: {}", describe(&e.into())),
                );
                return Processes::default();
            }
        };
        let rates = seconds.filter(|_| self.walked_before);
        self.entries.clear();
        self.names.clear();
        self.current.clear();
        let mut count = ProcessCount::default();
        while let Some(Ok(entry)) = dir.next() {
            let Some(pid) = std::str::from_utf8(entry.file_name().to_bytes())
                .ok()
                .filter(|n| n.bytes().all(|b| b.is_ascii_digit()))
                .and_then(|n| n.parse::<u32>().ok())
            else {
                continue;
            };
            self.path.clear();
            let _ = write!(self.path, "{pid}/stat");
            // A process that exited since the directory was read is just gone.
            let Ok(file) = rustix::fs::openat(
                &fd,
                &*self.path,
                OFlags::RDONLY | OFlags::CLOEXEC,
                Mode::empty(),
            ) else {
                continue;
            };
            let Ok(text) = reader.read_file(File::from(file)) else {
                continue;
            };
            let Some(stat) = parse_stat(text) else {
                continue;
            };
            count.total += 1;
            match stat.state {
                'R' => count.running += 1,
                'Z' => count.zombie += 1,
                _ => {}
            }
            let cpu = match rates {
                Some(seconds) => {
                    let grown = match self.previous.get(&stat.pid) {
                        Some(&(start, ticks)) if start == stat.start => {
                            stat.ticks.saturating_sub(ticks)
                        }
                        _ => stat.ticks,
                    };
                    cpu_percent(grown, seconds)
                }
                None => 0.0,
            };
            self.current.insert(stat.pid, (stat.start, stat.ticks));
            let from = self.names.len();
            self.names.push_str(stat.comm);
            self.entries.push(Entry {
                pid: stat.pid,
                name: (from, self.names.len()),
                cpu_percent: cpu,
                rss_pages: stat.rss_pages,
            });
        }
        mem::swap(&mut self.previous, &mut self.current);
        self.walked_before = true;

        let page = page_size();
        let usage = |e: &Entry, names: &str| ProcessUsage {
            pid: e.pid,
            name: names.get(e.name.0..e.name.1).unwrap_or_default().to_owned(),
            cpu_percent: e.cpu_percent,
            rss_bytes: e.rss_pages.saturating_mul(page),
        };
        self.entries.sort_unstable_by(|a, b| {
            b.cpu_percent
                .total_cmp(&a.cpu_percent)
                .then(a.pid.cmp(&b.pid))
        });
        let top_cpu = self
            .entries
            .iter()
            .take_while(|e| e.cpu_percent > 0.0)
            .take(top)
            .map(|e| usage(e, &self.names))
            .collect();
        self.entries
            .sort_unstable_by(|a, b| b.rss_pages.cmp(&a.rss_pages).then(a.pid.cmp(&b.pid)));
        let top_memory = self
            .entries
            .iter()
            .take_while(|e| e.rss_pages > 0)
            .take(top)
            .map(|e| usage(e, &self.names))
            .collect();
        Processes {
            counted: true,
            count,
            top_cpu,
            top_memory,
        }
    }
}

/// The agent's own ticks at the previous sample.
#[derive(Debug, Default)]
pub(crate) struct AgentState {
    previous: Option<u64>,
}

impl AgentState {
    /// The agent's cost, always from the live `/proc/self/stat`: the agent
    /// is a real process even when it inventories a fixture root. (`rss`
    /// there is the same count `statm` gives, so one file serves both.)
    pub(crate) fn sample(
        &mut self,
        reader: &mut Reader,
        gaps: &mut Gaps,
        seconds: Option<f64>,
    ) -> AgentUsage {
        let stat = match reader.read_live("/proc/self/stat") {
            Ok(text) => parse_stat(text).map(|s| (s.ticks, s.rss_pages)),
            Err(e) => {
                gaps.io(SOURCE, "agent", "/proc/self/stat", &e);
                return AgentUsage::default();
            }
        };
        let Some((ticks, rss_pages)) = stat else {
            gaps.note(SOURCE, "agent", "/proc/self/stat: unrecognised format");
            return AgentUsage::default();
        };
        let previous = self.previous.replace(ticks);
        AgentUsage {
            cpu_percent: match (previous, seconds) {
                (Some(prev), Some(s)) => cpu_percent(ticks.saturating_sub(prev), s),
                _ => 0.0,
            },
            rss_bytes: rss_pages.saturating_mul(page_size()),
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // a panic is how a test fails
mod tests {
    use super::*;

    /// A stat line with the given comm and the figures the sampler uses.
    fn line(
        pid: u32,
        comm: &str,
        state: char,
        utime: u64,
        stime: u64,
        start: u64,
        rss: i64,
    ) -> String {
        format!(
            "{pid} ({comm}) {state} 1 {pid} {pid} 0 -1 4194560 100 0 0 0 {utime} {stime} 0 0 20 0 1 0 {start} 123456789 {rss} 18446744073709551615 1 1 0 0 0 0 0 4096 0 0 0 0 17 0 0 0 0 0 0\n"
        )
    }

    #[test]
    fn fields_are_counted_from_the_state() {
        let text = line(412, "nginx", 'S', 150, 50, 9000, 2048);
        let s = parse_stat(&text).unwrap();
        assert_eq!(
            s,
            Stat {
                pid: 412,
                comm: "nginx",
                state: 'S',
                ticks: 200,
                start: 9000,
                rss_pages: 2048
            }
        );
    }

    #[test]
    fn comm_with_spaces_and_parens_is_whole() {
        let text = line(777, "weird) (name )x", 'R', 1, 2, 3, 4);
        let s = parse_stat(&text).unwrap();
        assert_eq!(s.comm, "weird) (name )x");
        assert_eq!((s.state, s.ticks, s.start, s.rss_pages), ('R', 3, 3, 4));
        let text = line(1, "Web Content", 'S', 0, 0, 0, 0);
        assert_eq!(parse_stat(&text).map(|s| s.comm), Some("Web Content"));
    }

    #[test]
    fn truncated_or_garbled_lines_are_refused() {
        assert_eq!(parse_stat("12 (bash) S 1 2 3"), None);
        assert_eq!(parse_stat("12 bash S 1 2 3"), None);
        assert_eq!(parse_stat(") 12 (x"), None);
        assert_eq!(parse_stat(""), None);
        let negative = line(5, "k", 'S', 0, 0, 0, -1);
        assert_eq!(parse_stat(&negative).map(|s| s.rss_pages), Some(0));
    }

    #[test]
    fn cpu_percent_is_of_one_cpu() {
        assert_eq!(cpu_percent(1500, 10.0), 150.0);
        assert_eq!(cpu_percent(0, 10.0), 0.0);
    }
}
