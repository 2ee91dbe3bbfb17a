//! `--flow-table=PATH` across a crash of the control plane: the table file outlives
//! `kill -9`, the restarted daemon takes the writer over (no "already has a writer"),
//! leaves the flows of the calls it no longer knows in place while they carry media,
//! hands their ports to no new call, and removes them `--timeout` after their media
//! stops.
//!
//! In production a separate data plane (`rtpbolt-dataplane`) keeps forwarding those
//! flows and counting packets on their entries while the control plane is down. Here
//! the daemon runs its own sockets backend, whose sockets die with it, and the restarted
//! daemon does not own the old ports; so the test acts as that data plane for the old
//! flows: it maps the table file like the data plane does and records a packet on each
//! old entry ([`TableReader::record`]) every 200 ms, on the same CLOCK_MONOTONIC the data
//! plane uses, then stops, as the data plane would once the phones hang up.

use std::collections::HashSet;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rtpbolt_tests::bencode::{dict, Bencode};
use rtpbolt_tests::daemon::TableFile;
use rtpbolt_tests::media::{self, Pump};
use rtpbolt_tests::{Daemon, DaemonKind, NgClient};
use shared_tables::{monotonic_now, FlowKey, FlowTable, TableReader};

const TIMEOUT_SECS: u64 = 3;

fn stat(client: &NgClient, section: &str, key: &str) -> i64 {
    let stats = client.request(&dict([("command", Bencode::from("statistics"))]));
    stats
        .path(&format!("statistics/{section}/{key}"))
        .and_then(Bencode::int)
        .unwrap_or_else(|| panic!("statistics lacks {section}/{key}: {stats:?}"))
}

/// The RTP address of the port pair `a` is in.
fn pair(a: SocketAddr) -> SocketAddr {
    SocketAddr::new(a.ip(), a.port() & !1)
}

/// The two relay addresses of a call: the keys of its two RTP entries.
fn keys(c: &media::Call) -> [SocketAddr; 2] {
    [c.relay_for_caller, c.relay_for_callee]
}

fn present(r: &TableReader, keys: &[SocketAddr]) -> usize {
    keys.iter()
        .filter(|k| r.lookup(&FlowKey::new(**k)).is_some())
        .count()
}

/// Records a packet on every entry of `keys` every 200 ms until `stop`.
fn act_as_data_plane(
    r: TableReader,
    keys: Vec<SocketAddr>,
    stop: Arc<AtomicBool>,
) -> std::thread::JoinHandle<()> {
    std::thread::spawn(move || {
        while !stop.load(Ordering::SeqCst) {
            for k in &keys {
                if let Some((id, _)) = r.lookup(&FlowKey::new(*k)) {
                    r.record(id, 1, 172, 0, monotonic_now());
                }
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    })
}

#[test]
fn flows_outlive_kill_9_and_the_restarted_daemon_adopts_then_expires_them() {
    let file = TableFile::new("flows");
    let timeout = format!("--timeout={TIMEOUT_SECS}");
    let mut d = Daemon::start(
        DaemonKind::Rtpbolt,
        &["127.0.0.1"],
        &[
            &format!("--flow-table={}", file.0.display()),
            &timeout,
            "--delete-delay=0",
        ],
    );
    let client = d.client();
    let call = |id: &str| {
        media::establish(
            &client,
            id,
            media::phone(media::CALLER_IP),
            media::phone(media::CALLEE_IP),
            vec![],
            vec![],
        )
    };
    let old: Vec<media::Call> = (0..3).map(|i| call(&format!("old-{i}"))).collect();
    let old_pumps: Vec<Pump> = old.iter().map(Pump::start).collect();
    let old_keys: Vec<SocketAddr> = old.iter().flat_map(keys).collect();

    // After the learning window the table forwards both directions of every call.
    let table = FlowTable::attach(&file.0).expect("the daemon made the table file");
    let r = table.reader();
    let deadline = Instant::now() + Duration::from_secs(10);
    while present(&r, &old_keys) < old_keys.len() {
        assert!(
            Instant::now() < deadline,
            "entries never appeared in {}\n{}",
            file.0.display(),
            d.log()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    for p in &old_pumps {
        assert!(p.wait_flowing(50, Duration::from_secs(5)), "media flows");
    }
    let before: Vec<_> = old_keys
        .iter()
        .map(|k| r.lookup(&FlowKey::new(*k)).map(|(_, a)| a))
        .collect();

    assert!(!d.kill_9().success());
    // The entries outlive their writer, in the file as in this mapping.
    let again = FlowTable::attach(&file.0).expect("table file survives kill -9");
    let after: Vec<_> = old_keys
        .iter()
        .map(|k| again.reader().lookup(&FlowKey::new(*k)).map(|(_, a)| a))
        .collect();
    assert_eq!(after, before);
    for (c, k) in old.iter().zip(old_keys.chunks(2)) {
        let to_callee = again.reader().lookup(&FlowKey::new(k[0])).expect("entry");
        assert_eq!(to_callee.1.dst, c.callee.rtp.local_addr().expect("addr"));
    }
    let stop_dp = Arc::new(AtomicBool::new(false));
    let dp = act_as_data_plane(table.reader(), old_keys.clone(), stop_dp.clone());

    d.restart();
    let log = d.log();
    assert!(
        log.contains("took the flow table over from writer pid"),
        "{log}"
    );
    assert!(log.contains("adopted 6 flows of 3 calls"), "{log}");
    assert_eq!(stat(&client, "currentstatistics", "orphanedflows"), 6);
    assert_eq!(stat(&client, "totalstatistics", "orphanedflowsadopted"), 6);

    // New calls work and get none of the old calls' ports (the allocator starts at the
    // bottom of the range after a restart: that is where the old calls' ports are).
    let old_pairs: HashSet<SocketAddr> = old.iter().flat_map(|c| keys(c).map(pair)).collect();
    let new: Vec<media::Call> = (0..3).map(|i| call(&format!("new-{i}"))).collect();
    for c in &new {
        for k in keys(c) {
            assert!(
                !old_pairs.contains(&pair(k)),
                "new call {} got port {k} of an old call ({old_pairs:?})",
                c.call_id
            );
        }
    }
    let new_pumps: Vec<Pump> = new.iter().map(Pump::start).collect();
    for p in &new_pumps {
        assert!(
            p.wait_flowing(20, Duration::from_secs(5)),
            "new media flows"
        );
    }

    // Two timeouts with packets on the old entries: they stay, untouched.
    std::thread::sleep(Duration::from_secs(2 * TIMEOUT_SECS));
    let kept: Vec<_> = old_keys
        .iter()
        .map(|k| r.lookup(&FlowKey::new(*k)).map(|(_, a)| a))
        .collect();
    assert_eq!(kept, before, "old flows changed while they carried media");
    assert_eq!(stat(&client, "currentstatistics", "orphanedflows"), 6);

    // The data plane sees no more packets: gone a timeout later, not before.
    stop_dp.store(true, Ordering::SeqCst);
    dp.join().expect("data-plane stand-in");
    let stopped = Instant::now();
    while present(&r, &old_keys) > 0 {
        assert!(
            stopped.elapsed() < Duration::from_secs(TIMEOUT_SECS + 3),
            "old flows still there {:?} after their media stopped\n{}",
            stopped.elapsed(),
            d.log()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let gone_after = stopped.elapsed();
    assert!(
        gone_after >= Duration::from_secs(TIMEOUT_SECS - 1),
        "old flows removed {gone_after:?} after their last packet, timeout {TIMEOUT_SECS} s"
    );
    assert_eq!(stat(&client, "currentstatistics", "orphanedflows"), 0);
    assert_eq!(stat(&client, "totalstatistics", "orphanedflowsexpired"), 6);
    assert!(d.log().contains("expired after"), "{}", d.log());

    // The new calls did not notice.
    for (c, p) in new.iter().zip(&new_pumps) {
        let (f0, b0) = p.snapshot();
        assert!(
            p.wait_flowing(f0.received.min(b0.received) + 20, Duration::from_secs(3)),
            "{} stopped flowing",
            c.call_id
        );
        assert!(media::listed(&client, &c.call_id), "{} ended", c.call_id);
    }
    drop(old_pumps);
    drop(new_pumps);
    assert!(d.terminate().success());
}
