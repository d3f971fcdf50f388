//! Host resources from `/proc` and `statvfs`: CPU busy share between two
//! reads, memory in use, load averages, and the usage of each watched path
//! (as `df` computes it). Linux only, like the hosts we run on.

use std::path::{Path, PathBuf};

use mevfleet_common::report::{DiskReport, HostReport};

/// CPU time counters from `/proc/stat` (all CPUs), in clock ticks.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CpuTimes {
    /// Ticks spent busy.
    pub busy: u64,
    /// All ticks.
    pub total: u64,
}

/// Parses the `cpu ` line of `/proc/stat`.
pub fn parse_cpu_times(stat: &str) -> Option<CpuTimes> {
    let line = stat.lines().find(|l| l.starts_with("cpu "))?;
    let fields: Vec<u64> = line
        .split_whitespace()
        .skip(1)
        .map(|f| f.parse().ok())
        .collect::<Option<_>>()?;
    // user nice system idle iowait irq softirq steal (guest is inside user).
    let total: u64 = fields.iter().take(8).sum();
    let idle = fields.get(3).copied().unwrap_or(0) + fields.get(4).copied().unwrap_or(0);
    Some(CpuTimes {
        busy: total.saturating_sub(idle),
        total,
    })
}

/// Busy share between two reads, in whole percent.
pub fn cpu_percent(before: CpuTimes, after: CpuTimes) -> u8 {
    let total = after.total.saturating_sub(before.total);
    if total == 0 {
        return 0;
    }
    let busy = after.busy.saturating_sub(before.busy);
    ((busy * 100 + total / 2) / total).min(100) as u8
}

/// `(used, total)` bytes from `/proc/meminfo` (used = total - available).
pub fn parse_meminfo(meminfo: &str) -> Option<(u64, u64)> {
    let field = |name: &str| {
        meminfo
            .lines()
            .find(|l| l.starts_with(name))?
            .split_whitespace()
            .nth(1)?
            .parse::<u64>()
            .ok()
    };
    let total = field("MemTotal:")? * 1024;
    let available = field("MemAvailable:")? * 1024;
    Some((total.saturating_sub(available), total))
}

/// Load averages from `/proc/loadavg`, in hundredths.
pub fn parse_loadavg(loadavg: &str) -> Option<[u32; 3]> {
    let mut fields = loadavg.split_whitespace().map(|f| {
        f.parse::<f64>()
            .ok()
            .map(|load| (load * 100.0).round() as u32)
    });
    Some([fields.next()??, fields.next()??, fields.next()??])
}

/// Usage of the filesystem holding `path`.
pub fn disk(path: &Path) -> DiskReport {
    let name = path.display().to_string();
    match rustix::fs::statvfs(path) {
        Ok(stats) => {
            let block = stats.f_frsize.max(1);
            let total = stats.f_blocks * block;
            let free = stats.f_bfree * block;
            let available = stats.f_bavail * block;
            let used = total.saturating_sub(free);
            // As df: used / (used + available), rounded up.
            let usable = used + available;
            let used_percent = if usable == 0 {
                0
            } else {
                (used * 100).div_ceil(usable).min(100) as u8
            };
            DiskReport {
                path: name,
                total_bytes: total,
                available_bytes: available,
                used_percent,
                error: None,
            }
        }
        Err(err) => DiskReport {
            path: name,
            total_bytes: 0,
            available_bytes: 0,
            used_percent: 0,
            error: Some(format!("cannot read usage: {err}")),
        },
    }
}

/// Reads the host's resources; keeps the CPU counters between reads.
#[derive(Debug)]
pub struct HostProbe {
    disks: Vec<PathBuf>,
    last_cpu: Option<CpuTimes>,
}

impl HostProbe {
    /// A probe watching `disks`.
    pub fn new(disks: Vec<PathBuf>) -> Self {
        Self {
            disks,
            last_cpu: None,
        }
    }

    /// One reading. Files that cannot be read leave their figures at zero.
    pub fn read(&mut self) -> HostReport {
        let cpu = std::fs::read_to_string("/proc/stat")
            .ok()
            .and_then(|stat| parse_cpu_times(&stat));
        let cpu_percent = match (self.last_cpu, cpu) {
            (Some(before), Some(after)) => cpu_percent(before, after),
            _ => 0,
        };
        self.last_cpu = cpu.or(self.last_cpu);
        let (memory_used_bytes, memory_total_bytes) = std::fs::read_to_string("/proc/meminfo")
            .ok()
            .and_then(|m| parse_meminfo(&m))
            .unwrap_or((0, 0));
        HostReport {
            cpu_percent,
            cpus: std::thread::available_parallelism().map_or(1, |n| n.get() as u32),
            memory_used_bytes,
            memory_total_bytes,
            load_centi: std::fs::read_to_string("/proc/loadavg")
                .ok()
                .and_then(|l| parse_loadavg(&l))
                .unwrap_or_default(),
            disks: self.disks.iter().map(|path| disk(path)).collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_proc_files() {
        let stat = "cpu  100 0 50 800 50 0 0 0 0 0\ncpu0 50 0 25 400 25 0 0 0 0 0\n";
        let before = parse_cpu_times(stat).expect("cpu line");
        assert_eq!(
            before,
            CpuTimes {
                busy: 150,
                total: 1000
            }
        );
        let after = CpuTimes {
            busy: 400,
            total: 2000,
        };
        assert_eq!(cpu_percent(before, after), 25);
        assert_eq!(cpu_percent(after, after), 0);
        let meminfo = "MemTotal:       1000 kB\nMemFree:         100 kB\nMemAvailable:    250 kB\n";
        assert_eq!(parse_meminfo(meminfo), Some((750 * 1024, 1000 * 1024)));
        assert_eq!(
            parse_loadavg("0.52 1.00 12.25 2/345 6789\n"),
            Some([52, 100, 1225])
        );
        assert_eq!(parse_loadavg("garbage"), None);
        assert_eq!(parse_cpu_times("nothing here"), None);
    }

    #[test]
    fn reads_this_host() {
        let mut probe = HostProbe::new(vec![PathBuf::from("/"), PathBuf::from("/no/such/path")]);
        let _first = probe.read();
        let report = probe.read();
        assert!(report.memory_total_bytes > 0 && report.cpus >= 1);
        assert!(report.disks[0].error.is_none() && report.disks[0].total_bytes > 0);
        assert!(report.disks[1].error.is_some());
    }
}
