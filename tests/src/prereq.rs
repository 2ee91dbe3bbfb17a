//! What the optional test groups (DPDK, AF_XDP) share when deciding to run: an
//! environment switch that makes them required, a check for command-line tools, and
//! the run/skip/fail decision.

use std::process::Command;

/// Whether environment variable `var` is set to something other than empty, `0` or
/// `false`.
pub fn env_flag(var: &str) -> bool {
    std::env::var(var).is_ok_and(|s| !s.is_empty() && s != "0" && s != "false")
}

/// The first of `tools` that is not on PATH, as a reason to give.
pub fn missing_tool(tools: &[&str]) -> Option<String> {
    tools.iter().find_map(|tool| {
        let found = Command::new("sh")
            .args(["-c", &format!("command -v {tool}")])
            .output()
            .is_ok_and(|o| o.status.success());
        (!found).then(|| format!("{tool} is not installed"))
    })
}

/// `true` if a test of `group` should run; panics when `required` but something is
/// `missing`, and says why it skips otherwise.
pub fn run_or_skip(group: &str, missing: Option<String>, required: bool) -> bool {
    match missing {
        None => true,
        Some(why) if required => panic!("{group} tests are required here but cannot run: {why}"),
        Some(why) => {
            eprintln!("skipping {group} test: {why}");
            false
        }
    }
}
