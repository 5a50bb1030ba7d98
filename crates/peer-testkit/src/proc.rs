//! What a process holds, read from `/proc` (Linux): resident memory, its peak, open file
//! descriptors and threads. Tests read them before and after an attack to show nothing stays.

use std::path::PathBuf;

/// A reading of `/proc/PID`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProcStats {
    /// Resident set size, bytes (`VmRSS`).
    pub rss: u64,
    /// Peak resident set size, bytes (`VmHWM`).
    pub peak_rss: u64,
    /// Open file descriptors.
    pub fds: usize,
    /// Threads.
    pub threads: usize,
}

impl ProcStats {
    /// Reads the stats of process `pid`; `None` if it is gone.
    pub fn read(pid: u32) -> Option<ProcStats> {
        let base = PathBuf::from(format!("/proc/{pid}"));
        let status = std::fs::read_to_string(base.join("status")).ok()?;
        let field = |name: &str| -> Option<u64> {
            status
                .lines()
                .find_map(|l| l.strip_prefix(name))
                .and_then(|v| v.split_whitespace().next())
                .and_then(|v| v.parse().ok())
        };
        Some(ProcStats {
            rss: field("VmRSS:")? * 1024,
            peak_rss: field("VmHWM:")? * 1024,
            fds: std::fs::read_dir(base.join("fd")).ok()?.count(),
            threads: field("Threads:")? as usize,
        })
    }

    /// Resets the process's peak RSS (`VmHWM`) to its current RSS, so a later reading shows the
    /// peak of what came after (writes `5` to `/proc/PID/clear_refs`). False if refused.
    pub fn reset_peak(pid: u32) -> bool {
        std::fs::write(format!("/proc/{pid}/clear_refs"), "5").is_ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_this_process() {
        let s = ProcStats::read(std::process::id()).expect("own /proc entry");
        assert!(s.rss > 0 && s.peak_rss >= s.rss && s.fds >= 3 && s.threads >= 1);
    }
}
