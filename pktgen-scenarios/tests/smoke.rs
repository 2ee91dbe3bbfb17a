//! The acceptance smoke run: 50 calls for 3 s through a real rtpbolt (the
//! workspace's debug build), driven by the generator binary exactly as the
//! side-by-side script drives it. Fails on any lost packet and on any figure
//! missing from the JSON report.

use std::process::Command;

use rtpbolt_tests::{Daemon, DaemonKind};
use serde_json::Value;

/// Every figure a media run against an ng relay with a known PID must report
/// with a value (none of them may be null).
const MEDIA_FIGURES: &[&str] = &[
    "calls",
    "packets_sent",
    "packets_received",
    "packets_lost",
    "loss_percent",
    "reordered",
    "duplicates",
    "misrouted",
    "stray",
    "send_errors",
    "sender_late",
    "sender_max_lag_us",
    "forwarded_pps",
    "latency_p50_us",
    "latency_p99_us",
    "latency_p999_us",
    "latency_max_us",
    "baseline_p50_us",
    "baseline_p99_us",
    "baseline_p999_us",
    "baseline_lost",
    "added_p50_us",
    "added_p99_us",
    "added_p999_us",
    "relay_cpu_s",
    "relay_cpu_s_per_mpkt",
    "setup_s",
    "setup_calls_per_s",
    "rss_before_kib",
    "rss_after_setup_kib",
    "rss_per_call_kib",
    "rss_after_delete_kib",
];

#[test]
fn fifty_calls_for_three_seconds_through_rtpbolt() {
    let daemon = Daemon::start(DaemonKind::Rtpbolt, &["127.0.0.1"], &[]);
    let scenario = concat!(env!("CARGO_MANIFEST_DIR"), "/calls-50-smoke.toml");
    let json = std::env::temp_dir().join(format!("pktgen-smoke-{}.json", std::process::id()));
    let out = Command::new(env!("CARGO_BIN_EXE_rtpbolt-pktgen"))
        .args(["run", scenario, "--label", "rtpbolt", "--ng"])
        .arg(daemon.ng.to_string())
        .arg("--relay-pid")
        .arg(daemon.child.id().to_string())
        .arg("--json")
        .arg(&json)
        .output()
        .expect("run rtpbolt-pktgen");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "pktgen failed ({}):\n{stdout}\n{stderr}\nrtpbolt log:\n{}",
        out.status,
        daemon.log()
    );
    let text = std::fs::read_to_string(&json).expect("the JSON report was written");
    let _ = std::fs::remove_file(&json);
    let report: Value = serde_json::from_str(&text).expect("the report is JSON");
    let figures = report["figures"].as_object().expect("a figures object");
    let missing: Vec<&str> = MEDIA_FIGURES
        .iter()
        .copied()
        .filter(|f| figures.get(*f).and_then(Value::as_f64).is_none())
        .collect();
    assert!(
        missing.is_empty(),
        "figures missing or null: {missing:?}\n{stdout}"
    );
    let nulls: Vec<&String> = figures
        .iter()
        .filter(|(_, v)| v.is_null())
        .map(|(k, _)| k)
        .collect();
    assert!(
        nulls.is_empty(),
        "null figures in a full run: {nulls:?}\n{stdout}"
    );
    let fig = |n: &str| figures[n].as_f64().expect("checked above");
    // 50 calls × 2 directions × 50 pps × 3 s.
    assert_eq!(fig("packets_sent"), 15_000.0, "{stdout}");
    assert_eq!(fig("packets_lost"), 0.0, "lost packets:\n{stdout}");
    assert_eq!(fig("packets_received"), fig("packets_sent"), "{stdout}");
    assert_eq!(fig("baseline_lost"), 0.0, "{stdout}");
    assert_eq!(fig("misrouted"), 0.0, "{stdout}");
    assert_eq!(fig("calls"), 50.0);
    assert!(fig("relay_cpu_s") > 0.0, "{stdout}");
    assert!(fig("rss_before_kib") > 0.0, "{stdout}");
    assert_eq!(report["kind"], "media");
    assert_eq!(report["scenario"], "calls-50-smoke");
}
