//! Process metrics in client_golang's names, read from `/proc` on each scrape (Linux only;
//! elsewhere the section is empty).

use std::fmt::Write as _;

/// `/proc` reports CPU times in clock ticks of `USER_HZ`, which is 100 on every Linux ABI.
const TICKS_PER_SECOND: f64 = 100.0;

#[derive(Debug, Default, PartialEq)]
pub(crate) struct ProcessStats {
    cpu_seconds: f64,
    resident_bytes: u64,
    virtual_bytes: u64,
    open_fds: u64,
    max_fds: Option<u64>,
    start_time_seconds: f64,
    threads: u64,
}

impl ProcessStats {
    /// Reads the current process; `None` where `/proc` is unavailable.
    pub(crate) fn read() -> Option<Self> {
        let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
        let status = std::fs::read_to_string("/proc/self/status").ok()?;
        let boot_time = std::fs::read_to_string("/proc/stat").ok().and_then(|text| boot_time(&text)).unwrap_or(0);
        let mut stats = parse_stat(&stat, boot_time)?;
        stats.resident_bytes = status_kib(&status, "VmRSS:").unwrap_or(0) * 1024;
        stats.virtual_bytes = status_kib(&status, "VmSize:").unwrap_or(0) * 1024;
        stats.threads = status_kib(&status, "Threads:").unwrap_or(0);
        stats.open_fds = std::fs::read_dir("/proc/self/fd").map(|dir| dir.count() as u64).unwrap_or(0);
        stats.max_fds = std::fs::read_to_string("/proc/self/limits").ok().and_then(|text| max_open_files(&text));
        Some(stats)
    }

    /// Appends the Prometheus text exposition of these stats.
    pub(crate) fn render(&self, out: &mut String) {
        let mut metric = |name: &str, kind: &str, help: &str, value: String| {
            let _ = write!(out, "# HELP {name} {help}\n# TYPE {name} {kind}\n{name} {value}\n");
        };
        metric(
            "process_cpu_seconds_total",
            "counter",
            "Total user and system CPU time spent in seconds.",
            self.cpu_seconds.to_string(),
        );
        metric(
            "process_resident_memory_bytes",
            "gauge",
            "Resident memory size in bytes.",
            self.resident_bytes.to_string(),
        );
        metric(
            "process_virtual_memory_bytes",
            "gauge",
            "Virtual memory size in bytes.",
            self.virtual_bytes.to_string(),
        );
        metric("process_open_fds", "gauge", "Number of open file descriptors.", self.open_fds.to_string());
        if let Some(max) = self.max_fds {
            metric("process_max_fds", "gauge", "Maximum number of open file descriptors.", max.to_string());
        }
        metric(
            "process_start_time_seconds",
            "gauge",
            "Start time of the process since unix epoch in seconds.",
            self.start_time_seconds.to_string(),
        );
        metric("process_threads", "gauge", "Number of OS threads in the process.", self.threads.to_string());
    }
}

fn parse_stat(stat: &str, boot_time: u64) -> Option<ProcessStats> {
    // The command name may hold spaces and parentheses: fields start after the last ')'.
    let fields: Vec<&str> = stat.get(stat.rfind(')')? + 2..)?.split_whitespace().collect();
    // Field numbers of proc(5), minus 3 (pid and comm are gone, and it is 1-based).
    let number = |field: usize| fields.get(field - 3)?.parse::<u64>().ok();
    let ticks = number(14)? + number(15)?;
    let start_ticks = number(22)?;
    Some(ProcessStats {
        cpu_seconds: ticks as f64 / TICKS_PER_SECOND,
        start_time_seconds: boot_time as f64 + start_ticks as f64 / TICKS_PER_SECOND,
        ..ProcessStats::default()
    })
}

fn boot_time(proc_stat: &str) -> Option<u64> {
    proc_stat.lines().find_map(|line| line.strip_prefix("btime ")?.trim().parse().ok())
}

fn status_kib(status: &str, key: &str) -> Option<u64> {
    status.lines().find_map(|line| line.strip_prefix(key)?.split_whitespace().next()?.parse().ok())
}

fn max_open_files(limits: &str) -> Option<u64> {
    let line = limits.lines().find(|line| line.starts_with("Max open files"))?;
    line["Max open files".len()..].split_whitespace().next()?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_stat_with_a_tricky_command_name() {
        let stat = "4242 (my (odd) app) S 1 4242 4242 0 -1 4194560 1000 0 0 0 250 50 0 0 20 0 4 0 12345 \
                    1000000 500 18446744073709551615 0 0 0 0 0 0 0 0 0 0 0 0 17 1 0 0 0 0 0";
        let stats = parse_stat(stat, 1_700_000_000).expect("parses");
        assert!((stats.cpu_seconds - 3.0).abs() < 1e-9);
        assert!((stats.start_time_seconds - 1_700_000_123.45).abs() < 1e-6);
    }

    #[test]
    fn reads_this_process() {
        let stats = ProcessStats::read().expect("linux has /proc");
        assert!(stats.resident_bytes > 0 && stats.open_fds > 0 && stats.threads > 0, "{stats:?}");
        let mut text = String::new();
        stats.render(&mut text);
        assert!(text.contains("# TYPE process_cpu_seconds_total counter\nprocess_cpu_seconds_total "));
    }

    #[test]
    fn parses_limits() {
        let limits = "Limit                     Soft Limit           Hard Limit           Units\n\
                      Max open files            1024                 524288               files\n";
        assert_eq!(max_open_files(limits), Some(1024));
    }
}
