//! The standard process metrics (`process_cpu_seconds_total`, `process_resident_memory_bytes`,
//! `process_virtual_memory_bytes`, `process_open_fds`, `process_max_fds`,
//! `process_start_time_seconds`, `process_threads`), read from `/proc/self` on each scrape, as
//! the Prometheus client libraries do. Elsewhere than Linux the files are missing and
//! [`read`] returns `None`, so the families are left out. Times in `/proc` are in clock ticks
//! of `USER_HZ`, which Linux fixes at 100 for user space on every architecture lad builds for.

use std::fs;

/// Clock ticks per second of `/proc/<pid>/stat` (`USER_HZ`).
const TICKS_PER_SECOND: f64 = 100.0;

/// One reading of the process's own numbers.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ProcessStats {
    /// User and system CPU time, seconds.
    pub cpu_seconds: f64,
    /// Resident memory, bytes.
    pub resident_bytes: u64,
    /// Virtual memory, bytes.
    pub virtual_bytes: u64,
    /// Open file descriptors.
    pub open_fds: u64,
    /// The soft limit of open file descriptors (`None`: unlimited).
    pub max_fds: Option<u64>,
    /// Start time, unix seconds.
    pub start_time_seconds: f64,
    /// Threads.
    pub threads: u64,
}

/// Reads `/proc/self`; `None` when it cannot be read (not Linux).
pub fn read() -> Option<ProcessStats> {
    let stat = fs::read_to_string("/proc/self/stat").ok()?;
    let status = fs::read_to_string("/proc/self/status").ok()?;
    let boot = fs::read_to_string("/proc/stat").ok()?;
    let limits = fs::read_to_string("/proc/self/limits").unwrap_or_default();
    let open_fds = fs::read_dir("/proc/self/fd").ok()?.count() as u64;
    parse(&stat, &status, &boot, &limits, open_fds)
}

/// The numbers from the texts of `/proc/self/stat`, `/proc/self/status`, `/proc/stat` and
/// `/proc/self/limits`.
fn parse(
    stat: &str,
    status: &str,
    boot: &str,
    limits: &str,
    open_fds: u64,
) -> Option<ProcessStats> {
    // The command name is in parentheses and may hold spaces: fields start after the last ')'.
    let rest = &stat[stat.rfind(')')? + 1..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // `rest` starts at field 3 (state), so field n is at index n - 3.
    let field = |n: usize| fields.get(n - 3).and_then(|f| f.parse::<u64>().ok());
    let cpu_ticks = field(14)? + field(15)?;
    let threads = field(20)?;
    let start_ticks = field(22)?;
    let btime: u64 = boot
        .lines()
        .find_map(|l| l.strip_prefix("btime "))
        .and_then(|v| v.trim().parse().ok())?;
    let kib = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.split_whitespace().next())
            .and_then(|v| v.parse::<u64>().ok())
            .map(|k| k * 1024)
    };
    let max_fds = limits
        .lines()
        .find_map(|l| l.strip_prefix("Max open files"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse::<u64>().ok());
    Some(ProcessStats {
        cpu_seconds: cpu_ticks as f64 / TICKS_PER_SECOND,
        resident_bytes: kib("VmRSS:").unwrap_or(0),
        virtual_bytes: kib("VmSize:").unwrap_or(0),
        open_fds,
        max_fds,
        start_time_seconds: btime as f64 + start_ticks as f64 / TICKS_PER_SECOND,
        threads,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_proc_texts_with_odd_command_names() {
        let stat =
            "4242 (lad (worker) 1) S 1 4242 4242 0 -1 4194560 900 0 0 0 250 50 0 0 20 0 7 0 \
                    12345 1000000 2000 18446744073709551615";
        let status = "Name:\tlad\nVmSize:\t  204800 kB\nVmRSS:\t   10240 kB\n";
        let boot = "cpu  1 2 3\nbtime 1704456000\nprocesses 9\n";
        let limits = "Limit                     Soft Limit           Hard Limit           Units\n\
                      Max open files            1024                 524288               files\n";
        let s = parse(stat, status, boot, limits, 12).expect("parses");
        assert_eq!(s.cpu_seconds, 3.0);
        assert_eq!(s.threads, 7);
        assert!((s.start_time_seconds - 1_704_456_123.45).abs() < 1e-3);
        assert_eq!(s.resident_bytes, 10_485_760);
        assert_eq!(s.virtual_bytes, 209_715_200);
        assert_eq!(s.max_fds, Some(1024));
        assert_eq!(s.open_fds, 12);
    }

    #[test]
    fn this_process_reads_on_linux() {
        if cfg!(target_os = "linux") {
            let s = read().expect("/proc/self is readable");
            assert!(s.resident_bytes > 0 && s.open_fds > 0 && s.threads >= 1);
            assert!(s.start_time_seconds > 1.6e9, "{s:?}");
        }
    }
}
