//! The relay's CPU time and resident memory, read from `/proc/PID`.
//!
//! CPU is `utime + stime` (fields 14 and 15 of `/proc/PID/stat`, proc(5)),
//! which covers every thread of the process; RSS is `VmRSS` of
//! `/proc/PID/status`.

use std::time::Duration;

use thiserror::Error;

use crate::sys::clock_ticks_per_second;

#[derive(Debug, Error)]
pub enum ProcError {
    #[error("reading /proc/{pid}/{file}: {source}")]
    Read {
        pid: u32,
        file: &'static str,
        source: std::io::Error,
    },
    #[error("/proc/{pid}/{file}: {what}")]
    Malformed {
        pid: u32,
        file: &'static str,
        what: &'static str,
    },
}

/// CPU ticks (user, system) from the text of `/proc/PID/stat`.
///
/// The command name (field 2) is in parentheses and may itself contain spaces
/// and parentheses, so fields are counted from the *last* `)`.
pub fn parse_stat_ticks(stat: &str) -> Option<(u64, u64)> {
    let after = &stat[stat.rfind(')')? + 1..];
    let mut fields = after.split_ascii_whitespace();
    // `after` starts at field 3 (state); utime is field 14.
    let utime = fields.nth(14 - 3)?.parse().ok()?;
    let stime = fields.next()?.parse().ok()?;
    Some((utime, stime))
}

/// `VmRSS` in KiB from the text of `/proc/PID/status`.
pub fn parse_status_rss_kib(status: &str) -> Option<u64> {
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let mut parts = line["VmRSS:".len()..].split_ascii_whitespace();
    let value = parts.next()?.parse().ok()?;
    (parts.next()? == "kB").then_some(value)
}

fn read(pid: u32, file: &'static str) -> Result<String, ProcError> {
    std::fs::read_to_string(format!("/proc/{pid}/{file}")).map_err(|source| ProcError::Read {
        pid,
        file,
        source,
    })
}

/// User plus system CPU time the process has used so far.
pub fn cpu_time(pid: u32) -> Result<Duration, ProcError> {
    let (u, s) = parse_stat_ticks(&read(pid, "stat")?).ok_or(ProcError::Malformed {
        pid,
        file: "stat",
        what: "no utime/stime fields",
    })?;
    let ticks = u + s;
    let hz = clock_ticks_per_second();
    Ok(Duration::from_secs(ticks / hz) + Duration::from_nanos((ticks % hz) * 1_000_000_000 / hz))
}

/// Resident set size in KiB.
pub fn rss_kib(pid: u32) -> Result<u64, ProcError> {
    parse_status_rss_kib(&read(pid, "status")?).ok_or(ProcError::Malformed {
        pid,
        file: "status",
        what: "no VmRSS line in kB",
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// From a real rtpengine, with the name made awkward on purpose.
    const STAT: &str = "4242 (rtp engine) (x)) S 1 4242 4242 0 -1 4194560 1833 0 0 0 \
        1234 567 0 0 20 0 9 0 123456 1100000000 4000 18446744073709551615 1 1 0 0 0 0 0 \
        4096 17122 0 0 0 17 1 0 0 0 0 0";

    const STATUS: &str = "Name:\trtpengine\nUmask:\t0022\nState:\tS (sleeping)\n\
        VmPeak:\t 1200000 kB\nVmSize:\t 1100000 kB\nVmHWM:\t   17000 kB\nVmRSS:\t   16384 kB\n\
        RssAnon:\t    9000 kB\nThreads:\t9\n";

    #[test]
    fn stat_fields_14_and_15() {
        assert_eq!(parse_stat_ticks(STAT), Some((1234, 567)));
        assert_eq!(parse_stat_ticks("1 (x) S 1 2"), None);
        assert_eq!(parse_stat_ticks("no parens"), None);
    }

    #[test]
    fn status_vmrss() {
        assert_eq!(parse_status_rss_kib(STATUS), Some(16384));
        assert_eq!(parse_status_rss_kib("Name:\tkthreadd\n"), None);
        assert_eq!(parse_status_rss_kib("VmRSS:\t12 MB\n"), None);
    }

    #[test]
    fn reads_our_own_process() {
        let me = std::process::id();
        assert!(rss_kib(me).unwrap() > 0);
        // Burn a little CPU so the counter is certainly past zero ticks.
        let t0 = std::time::Instant::now();
        let mut x = 0u64;
        while t0.elapsed() < Duration::from_millis(30) {
            x = x.wrapping_add(std::hint::black_box(1));
        }
        assert!(x > 0);
        assert!(cpu_time(me).unwrap() > Duration::ZERO);
    }
}
