//! Reads a process's CPU time and memory from `/proc`, and sums a metric of
//! a Prometheus text exposition. Linux only.

/// Linux clock ticks per second (`getconf CLK_TCK`; 100 on every common target).
const CLK_TCK: f64 = 100.0;

/// utime + stime of every thread of `pid` (`self` for this process), seconds.
pub(crate) fn cpu_seconds(pid: &str) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after "pid (comm) ": state is the first, utime the 12th, stime the 13th.
    let rest = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let utime: f64 = fields.get(11)?.parse().ok()?;
    let stime: f64 = fields.get(12)?.parse().ok()?;
    Some((utime + stime) / CLK_TCK)
}

/// A kB field of `/proc/<pid>/status` (`VmRSS`, `VmHWM`).
pub(crate) fn status_kib(pid: &str, field: &str) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status.lines().find_map(|line| {
        let value = line.strip_prefix(field)?.strip_prefix(':')?;
        value.split_whitespace().next()?.parse().ok()
    })
}

/// The sum of every series of `metric` in a Prometheus text exposition.
pub(crate) fn metric_sum(text: &str, metric: &str) -> f64 {
    text.lines()
        .filter(|line| !line.starts_with('#'))
        .filter_map(|line| {
            let name_end = line.find(['{', ' '])?;
            (&line[..name_end] == metric).then_some(())?;
            line.rsplit(' ').next()?.parse::<f64>().ok()
        })
        .sum()
}
