//! A process's footprint over a window: resident memory sampled from
//! `/proc/<pid>/status` and CPU time from `/proc/<pid>/stat` at the start
//! and the end, as a share of one core.

use serde::Serialize;

use crate::median;

/// What a process used over a window.
#[derive(Clone, Debug, Serialize)]
pub struct Footprint {
    /// Which process.
    pub process: String,
    /// Median of the resident-memory samples, MiB.
    pub rss_mib_median: f64,
    /// Largest sample, MiB.
    pub rss_mib_max: f64,
    /// CPU time over the window as a share of one core, in percent.
    pub cpu_percent_of_one_core: f64,
}

/// utime + stime of `pid`, in clock ticks.
fn cpu_ticks(pid: u32) -> anyhow::Result<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))?;
    // Fields after the command name (which may hold spaces) start at ") ".
    let rest = stat
        .rsplit_once(") ")
        .map(|(_, rest)| rest)
        .ok_or_else(|| anyhow::anyhow!("odd /proc/{pid}/stat"))?;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // utime and stime are fields 14 and 15 of stat, 12 and 13 after ") ".
    let utime: u64 = fields
        .get(11)
        .ok_or_else(|| anyhow::anyhow!("no utime"))?
        .parse()?;
    let stime: u64 = fields
        .get(12)
        .ok_or_else(|| anyhow::anyhow!("no stime"))?
        .parse()?;
    Ok(utime + stime)
}

fn rss_kib(pid: u32) -> anyhow::Result<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .ok_or_else(|| anyhow::anyhow!("no VmRSS for {pid}"))?
        .parse()
        .map_err(Into::into)
}

fn clock_ticks_per_second() -> f64 {
    std::process::Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|out| String::from_utf8_lossy(&out.stdout).trim().parse().ok())
        .unwrap_or(100.0)
}

/// Samples one process over a window.
#[derive(Debug)]
pub struct Sampler {
    pid: u32,
    ticks_at_start: u64,
    rss: Vec<f64>,
}

impl Sampler {
    /// Starts the window for `pid` now.
    pub fn new(pid: u32) -> anyhow::Result<Self> {
        Ok(Self {
            pid,
            ticks_at_start: cpu_ticks(pid)?,
            rss: Vec::new(),
        })
    }

    /// Takes one memory sample.
    pub fn sample(&mut self) -> anyhow::Result<()> {
        self.rss.push(rss_kib(self.pid)? as f64 / 1024.0);
        Ok(())
    }

    /// Ends the window, `seconds` long, naming the process `process`.
    pub fn finish(mut self, process: &str, seconds: f64) -> anyhow::Result<Footprint> {
        let ticks = cpu_ticks(self.pid)? - self.ticks_at_start;
        Ok(Footprint {
            process: process.to_owned(),
            rss_mib_max: self.rss.iter().copied().fold(0.0, f64::max),
            rss_mib_median: median(&mut self.rss),
            cpu_percent_of_one_core: ticks as f64 / clock_ticks_per_second() / seconds * 100.0,
        })
    }
}

/// CPU time all threads of `pids` have run so far, from each thread's
/// `/proc/<pid>/task/<tid>/schedstat` (nanoseconds on a CPU, not clock
/// ticks): precise enough to divide a second's CPU among a thousand
/// writes.
pub fn cpu_time(pids: &[u32]) -> anyhow::Result<std::time::Duration> {
    let mut nanos: u64 = 0;
    for pid in pids {
        for task in std::fs::read_dir(format!("/proc/{pid}/task"))? {
            let path = task?.path().join("schedstat");
            // A thread that ended since the listing has nothing to add.
            let Ok(schedstat) = std::fs::read_to_string(&path) else {
                continue;
            };
            let on_cpu = schedstat
                .split_whitespace()
                .next()
                .ok_or_else(|| anyhow::anyhow!("empty {}", path.display()))?;
            nanos += on_cpu
                .parse::<u64>()
                .map_err(|err| anyhow::anyhow!("odd {}: {err}", path.display()))?;
        }
    }
    Ok(std::time::Duration::from_nanos(nanos))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_time_grows_with_work_done() {
        let pid = std::process::id();
        let before = cpu_time(&[pid]).expect("read own schedstat");
        let wanted = std::time::Duration::from_millis(10);
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        let mut spin = 0u64;
        let mut spent = std::time::Duration::ZERO;
        while spent < wanted && std::time::Instant::now() < deadline {
            for _ in 0..100_000 {
                spin = std::hint::black_box(spin.wrapping_add(1));
            }
            spent = cpu_time(&[pid]).expect("read own schedstat") - before;
        }
        assert!(spent >= wanted, "10 s of spinning counted as {spent:?}");
    }

    #[test]
    fn cpu_time_of_a_missing_process_is_an_error() {
        assert!(cpu_time(&[u32::MAX]).is_err());
    }
}
