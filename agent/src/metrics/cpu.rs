//! CPU use from `/proc/stat`: the aggregate `cpu` line and one `cpuN` line
//! per online logical CPU, in clock ticks since boot.

use atalaya_common::model::CpuUsage;

/// The time columns used: user nice system idle iowait irq softirq steal.
/// `guest` and `guest_nice` are already counted in `user` and `nice`.
pub const FIELDS: usize = 8;

/// Ticks spent in each state, in [`FIELDS`] order.
pub type CpuTimes = [u64; FIELDS];

const USER: usize = 0;
const NICE: usize = 1;
const SYSTEM: usize = 2;
const IDLE: usize = 3;
const IOWAIT: usize = 4;
const IRQ: usize = 5;
const SOFTIRQ: usize = 6;
const STEAL: usize = 7;

/// One `cpu` line: `None` for the aggregate, `Some(n)` for `cpuN`, and its
/// times. Columns missing on old kernels count as zero.
pub fn parse_line(line: &str) -> Option<(Option<u32>, CpuTimes)> {
    let mut words = line.split_ascii_whitespace();
    let label = words.next()?.strip_prefix("cpu")?;
    let cpu = if label.is_empty() {
        None
    } else {
        Some(label.parse().ok()?)
    };
    let mut times = [0u64; FIELDS];
    let mut seen = 0;
    for (slot, word) in times.iter_mut().zip(words) {
        *slot = word.parse().ok()?;
        seen += 1;
    }
    // user nice system idle is the oldest format there is.
    (seen >= 4).then_some((cpu, times))
}

/// Percent of `part` in `total`, 0 when nothing elapsed.
fn percent(part: u64, total: u64) -> f64 {
    if total == 0 {
        0.0
    } else {
        100.0 * part as f64 / total as f64
    }
}

/// Growth of each column. Saturating, not wrap-aware: `iowait` is known to
/// step backwards on tickless kernels, and a small dip is not a wrap.
fn delta(prev: &CpuTimes, cur: &CpuTimes) -> CpuTimes {
    let mut d = [0u64; FIELDS];
    for ((d, p), c) in d.iter_mut().zip(prev).zip(cur) {
        *d = c.saturating_sub(*p);
    }
    d
}

/// Busy share (everything but idle and iowait) of the ticks between two readings.
pub fn busy_percent(prev: &CpuTimes, cur: &CpuTimes) -> f64 {
    let d = delta(prev, cur);
    let total: u64 = d.iter().sum();
    percent(total - d[IDLE] - d[IOWAIT], total)
}

/// The aggregate shares between two readings of the `cpu` line.
pub fn usage(prev: &CpuTimes, cur: &CpuTimes) -> CpuUsage {
    let d = delta(prev, cur);
    let total: u64 = d.iter().sum();
    CpuUsage {
        total_percent: percent(total - d[IDLE] - d[IOWAIT], total),
        user_percent: percent(d[USER] + d[NICE], total),
        system_percent: percent(d[SYSTEM] + d[IRQ] + d[SOFTIRQ], total),
        iowait_percent: percent(d[IOWAIT], total),
        steal_percent: percent(d[STEAL], total),
        per_core_percent: Vec::new(),
    }
}

/// The previous reading of the aggregate and of each CPU.
#[derive(Debug, Default)]
pub struct CpuState {
    total: Option<CpuTimes>,
    /// Indexed by CPU number; `None` for CPUs offline at the previous sample.
    per_cpu: Vec<Option<CpuTimes>>,
    next: Vec<Option<CpuTimes>>,
}

impl CpuState {
    /// Takes a new reading of `/proc/stat`; returns the use since the
    /// previous one (`None` on the first), or why the text is unusable.
    ///
    /// CPUs that came online since the previous reading show 0 % busy this
    /// time; CPUs that went offline are left out.
    pub fn update(&mut self, text: &str) -> Result<Option<CpuUsage>, &'static str> {
        let mut total = None;
        let mut per_core = Vec::new();
        self.next.clear();
        for line in text.lines().filter(|l| l.starts_with("cpu")) {
            let Some((cpu, times)) = parse_line(line) else {
                continue;
            };
            match cpu {
                None => total = Some(times),
                Some(n) => {
                    let Ok(n) = usize::try_from(n) else { continue };
                    // CPU numbers are small; bound the table against nonsense.
                    if n >= 65_536 {
                        continue;
                    }
                    if self.next.len() <= n {
                        self.next.resize(n + 1, None);
                    }
                    if let Some(slot) = self.next.get_mut(n) {
                        *slot = Some(times);
                    }
                    let busy = match self.per_cpu.get(n).copied().flatten() {
                        Some(prev) => busy_percent(&prev, &times),
                        None => 0.0,
                    };
                    per_core.push(busy);
                }
            }
        }
        let Some(total) = total else {
            return Err("no aggregate cpu line");
        };
        std::mem::swap(&mut self.per_cpu, &mut self.next);
        let usage = self.total.replace(total).map(|prev| CpuUsage {
            per_core_percent: per_core,
            ..usage(&prev, &total)
        });
        Ok(usage)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // a panic is how a test fails
mod tests {
    use super::*;

    #[test]
    fn lines_parse_with_old_and_new_column_counts() {
        assert_eq!(
            parse_line("cpu  10 20 30 40 50 60 70 80 90 100"),
            Some((None, [10, 20, 30, 40, 50, 60, 70, 80]))
        );
        assert_eq!(
            parse_line("cpu3 1 2 3 4"),
            Some((Some(3), [1, 2, 3, 4, 0, 0, 0, 0]))
        );
        assert_eq!(parse_line("cpu1 1 2"), None);
        assert_eq!(parse_line("cpux 1 2 3 4"), None);
        assert_eq!(parse_line("ctxt 12345"), None);
    }

    #[test]
    fn shares_are_over_the_tick_delta() {
        let prev = [100, 0, 100, 700, 100, 0, 0, 0];
        let cur = [300, 100, 200, 1100, 150, 25, 25, 100];
        // delta: user 200 nice 100 system 100 idle 400 iowait 50 irq 25 softirq 25 steal 100 = 1000
        let u = usage(&prev, &cur);
        assert_eq!(u.total_percent, 55.0);
        assert_eq!(u.user_percent, 30.0);
        assert_eq!(u.system_percent, 15.0);
        assert_eq!(u.iowait_percent, 5.0);
        assert_eq!(u.steal_percent, 10.0);
        assert_eq!(busy_percent(&cur, &cur), 0.0);
    }

    #[test]
    fn iowait_stepping_back_is_not_a_huge_delta() {
        let prev = [0, 0, 0, 100, 500, 0, 0, 0];
        let cur = [50, 0, 0, 150, 490, 0, 0, 0];
        assert_eq!(busy_percent(&prev, &cur), 50.0);
    }

    #[test]
    fn cpus_coming_online_show_zero_then_real_use() {
        let mut state = CpuState::default();
        let first = "cpu  0 0 0 200 0 0 0 0\ncpu0 0 0 0 100 0 0 0 0\ncpu1 0 0 0 100 0 0 0 0\n";
        assert_eq!(state.update(first), Ok(None));
        let second = "cpu  100 0 0 300 0 0 0 0\ncpu0 100 0 0 100 0 0 0 0\n\
                      cpu1 0 0 0 200 0 0 0 0\ncpu2 5 0 0 5 0 0 0 0\n";
        let u = state.update(second).unwrap().unwrap();
        assert_eq!(u.per_core_percent, vec![100.0, 0.0, 0.0]);
        assert_eq!(u.total_percent, 50.0);
        let third = "cpu  100 0 0 400 0 0 0 0\ncpu0 100 0 0 200 0 0 0 0\n\
                     cpu2 15 0 0 5 0 0 0 0\n";
        let u = state.update(third).unwrap().unwrap();
        assert_eq!(u.per_core_percent, vec![0.0, 100.0]);
        assert!(state.update("intr 0\n").is_err());
    }
}
