//! The DPDK data plane with the real control plane (see `rtpbolt_tests::dpdk`
//! for the topology): calls set up over ng, phones in a network namespace
//! behind the `net_tap` "NIC", media through `rtpbolt-dataplane`.
//!
//! Needs root and DPDK's run-time libraries; skipped without them unless
//! `CI` or `RTPBOLT_REQUIRE_DPDK` is set, where it fails instead.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use rtpbolt_tests::dpdk::{prerequisites, DpdkRelay};
use rtpbolt_tests::media::{establish, phone, Call, Pump, Tally};
use rtpbolt_tests::{Bencode, Daemon, DaemonKind};

/// The acceptance criterion's call count.
const CALLS: usize = 50;

/// One DPDK topology at a time: each runs a poll-mode worker, and two of
/// them plus 50 media threads would starve each other on two cores.
static SERIAL: Mutex<()> = Mutex::new(());

fn totals(pumps: &[Pump]) -> (u64, u64) {
    pumps.iter().fold((0, 0), |(s, r), p| {
        let (f, b) = p.snapshot();
        (s + f.sent + b.sent, r + f.received + b.received)
    })
}

/// Kill -9 the control plane with 50 calls' media flowing through the data
/// plane, keep sending while it is down, start it again on the same table:
/// not one packet of any call is lost, and the data plane forwards them all
/// the way through (its hit counter grows while the control plane is dead).
#[test]
fn media_survives_control_plane_kill_9_and_restart() {
    if !prerequisites() {
        return;
    }
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let mut relay = DpdkRelay::start("restart");
    let relay_ip = relay.relay_ip().to_string();
    let table_arg = format!("--flow-table={}", relay.flow_table.display());
    let mut daemon = Daemon::start(DaemonKind::Rtpbolt, &[&relay_ip], &[&table_arg]);
    relay.wire_up();
    assert!(
        relay.running(),
        "rtpbolt-dataplane exited; log:\n{}",
        relay.log()
    );
    let client = daemon.client();

    let (caller_ip, callee_ip) = (relay.ip(2).to_string(), relay.ip(3).to_string());
    let mut calls: Vec<Call> = Vec::with_capacity(CALLS);
    for i in 0..CALLS {
        let (a, b) = (caller_ip.clone(), callee_ip.clone());
        let (caller, callee) = relay
            .ns
            .run(move || (phone(&a), phone(&b)))
            .expect("phones inside the namespace");
        calls.push(establish(
            &client,
            &format!("dpdk-restart-{i}"),
            caller,
            callee,
            vec![],
            vec![],
        ));
    }
    let pumps: Vec<Pump> = calls.iter().map(Pump::start).collect();

    // The control plane relays each call's first seconds itself (endpoint
    // learning) and then installs the flows; from then on every packet is a
    // data-plane hit: 50 calls x 2 directions x 100 packets/s.
    let all_flowing = pumps
        .iter()
        .all(|p| p.wait_flowing(20, Duration::from_secs(10)));
    assert!(
        all_flowing,
        "media did not flow on every call\n--- rtpbolt ---\n{}\n--- dataplane ---\n{}",
        daemon.log(),
        relay.log()
    );
    let fast = relay.wait_total(Duration::from_secs(15), |t| {
        t["forwarded"].as_u64().unwrap_or(0) > 2 * CALLS as u64 * 100
    });
    assert!(
        fast,
        "the data plane did not take the calls over: {}\n--- rtpbolt ---\n{}",
        relay.stats(),
        daemon.log()
    );
    std::thread::sleep(Duration::from_secs(2));

    let killed_at = Instant::now();
    let (sent_before, _) = totals(&pumps);
    let forwarded_before = relay.total("forwarded");
    daemon.kill_9();
    std::thread::sleep(Duration::from_secs(3));
    let forwarded_down = relay.total("forwarded") - forwarded_before;
    let (sent_down, _) = totals(&pumps);
    daemon.restart();
    let restarted_in = killed_at.elapsed();
    std::thread::sleep(Duration::from_secs(3));

    let tallies: Vec<(Tally, Tally)> = pumps.into_iter().map(Pump::stop).collect();
    let mut failures = Vec::new();
    for (i, (f, b)) in tallies.iter().enumerate() {
        for (dir, t) in [("caller->callee", f), ("callee->caller", b)] {
            if t.received != t.sent || t.junk != 0 {
                failures.push(format!(
                    "call {i} {dir}: sent {}, received {}, junk {}",
                    t.sent, t.received, t.junk
                ));
            }
        }
    }
    // While the control plane was dead the data plane carried what the phones
    // sent (nobody else could: the dead daemon's sockets are gone). Its
    // counters reach the stats file once a second, so the 3 s window seen
    // through them can be a second short: at least half must show.
    let sent_while_down = sent_down - sent_before;
    if forwarded_down * 2 < sent_while_down {
        failures.push(format!(
            "data plane forwarded {forwarded_down} frames in the 3 s without a control \
             plane; the phones sent {sent_while_down}"
        ));
    }
    if !daemon.is_running() {
        failures.push("the restarted rtpbolt exited".into());
    }
    let log = daemon.log();
    if !log.contains("adopted") {
        failures.push("the restarted rtpbolt did not report adopting the flows".into());
    }
    let stats = client.request(&rtpbolt_tests::bencode::dict([(
        "command",
        Bencode::from("statistics"),
    )]));
    let adopted = stats
        .path("statistics/totalstatistics/orphanedflowsadopted")
        .and_then(Bencode::int);
    if adopted != Some(2 * CALLS as i64) {
        failures.push(format!(
            "statistics totalstatistics/orphanedflowsadopted = {adopted:?}, want {} (each \
             call's two RTP flows)",
            2 * CALLS
        ));
    }
    assert!(
        failures.is_empty(),
        "{} problem(s) (control plane back after {restarted_in:?}):\n  {}\n\
         --- rtpbolt ---\n{}\n--- dataplane ---\n{}\nstats: {}",
        failures.len(),
        failures.join("\n  "),
        rtpbolt_tests::kamailio::tail(&log, 60),
        rtpbolt_tests::kamailio::tail(&relay.log(), 40),
        relay.stats()
    );

    // Stopping the data plane takes the NIC (and the TAP carrying the relay's
    // address) away, not the control plane: it stays up and answers ng.
    let stopped = relay.stop();
    assert!(
        stopped.is_some_and(|s| s.success()),
        "rtpbolt-dataplane did not exit cleanly on SIGTERM: {stopped:?}\n{}",
        relay.log()
    );
    std::thread::sleep(Duration::from_millis(500));
    assert!(daemon.is_running(), "rtpbolt exited with its data plane");
    let pong = client.request(&rtpbolt_tests::bencode::dict([(
        "command",
        Bencode::from("ping"),
    )]));
    assert_eq!(pong.get_str("result"), Some("pong"), "{pong:?}");

    let sent: u64 = tallies.iter().map(|(f, b)| f.sent + b.sent).sum();
    eprintln!(
        "{CALLS} calls, {sent} RTP packets, 0 lost; {forwarded_down} forwarded by the data \
         plane in the 3 s the control plane was dead; back in {restarted_in:?}"
    );
}
