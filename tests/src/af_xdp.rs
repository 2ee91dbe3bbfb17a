//! Prerequisites of the AF_XDP tests: root (XDP attach, AF_XDP sockets, network
//! namespaces), `ip`, `ethtool` and `ping`. They must run, not skip, under CI and
//! with `RTPBOLT_REQUIRE_AF_XDP` set.

use crate::prereq::{env_flag, missing_tool, run_or_skip};

/// Whether the AF_XDP tests must run here rather than skip.
pub fn required() -> bool {
    env_flag("CI") || env_flag("RTPBOLT_REQUIRE_AF_XDP")
}

/// Why this machine cannot run the AF_XDP tests, if it cannot.
pub fn missing_prerequisite() -> Option<String> {
    if !rustix::process::geteuid().is_root() {
        return Some("not root (XDP, AF_XDP and network namespaces need it)".into());
    }
    missing_tool(&["ip", "ethtool", "ping"])
}

/// `true` if an AF_XDP test should run; panics when it must but cannot.
pub fn prerequisites() -> bool {
    run_or_skip("AF_XDP", missing_prerequisite(), required())
}
