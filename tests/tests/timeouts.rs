//! Call lifetime: a call without media is deleted `--timeout` seconds after
//! its last packet (or its creation), one with media flowing stays; `delete`
//! keeps the call queryable for `--delete-delay` seconds (0 = at once), and a
//! per-request `delete-delay` overrides the daemon's.

use std::time::{Duration, Instant};

use rtpbolt_tests::bencode::{dict, Bencode};
use rtpbolt_tests::media::{self, Pump};
use rtpbolt_tests::{Daemon, DaemonKind, NgClient};

fn call(d: &Daemon, id: &str) -> media::Call {
    media::establish(
        &d.client(),
        id,
        media::phone(media::CALLER_IP),
        media::phone(media::CALLEE_IP),
        vec![],
        vec![],
    )
}

fn exists(client: &NgClient, call_id: &str) -> bool {
    let q = media::query(client, call_id);
    match q.get_str("result") {
        Some("ok") => true,
        Some("error") if q.get_str("error-reason") == Some("Unknown call-id") => false,
        _ => panic!("query {call_id}: unexpected reply {q:?}"),
    }
}

/// `--timeout=3`: the idle call goes within a few seconds (rtpengine keeps
/// packet times in whole seconds and checks once a second, so "3 s" is 2 to 4), the call with media stays, and `list` agrees.
fn timeout(kind: DaemonKind) {
    if media::skip_without_rtpengine(kind) {
        return;
    }
    let d = Daemon::start(kind, &["127.0.0.1"], &["--timeout=3", "--delete-delay=0"]);
    let client = d.client();
    let idle = call(&d, "timeout-idle");
    let busy = call(&d, "timeout-busy");
    let started = Instant::now();
    let pump = Pump::start(&busy);
    assert!(
        exists(&client, &idle.call_id),
        "{kind:?}: idle call exists at first"
    );
    assert!(
        media::listed(&client, &idle.call_id),
        "{kind:?}: idle call listed at first"
    );

    let gone_after = loop {
        if !exists(&client, &idle.call_id) {
            break started.elapsed();
        }
        assert!(
            started.elapsed() < Duration::from_secs(8),
            "{kind:?}: idle call still there after 8 s with --timeout=3\n{}",
            d.log()
        );
        std::thread::sleep(Duration::from_millis(100));
    };
    // Not before the timeout has passed (allowing for the 1-s grain).
    assert!(
        gone_after >= Duration::from_secs(2),
        "{kind:?}: idle call deleted after only {gone_after:?}"
    );
    assert!(
        !media::listed(&client, &idle.call_id),
        "{kind:?}: timed-out call still listed"
    );
    // One more timeout period: media keeps the other call alive.
    std::thread::sleep(Duration::from_secs(3));
    assert!(
        exists(&client, &busy.call_id),
        "{kind:?}: call with media timed out\n{}",
        d.log()
    );
    assert!(
        media::listed(&client, &busy.call_id),
        "{kind:?}: call with media not listed"
    );
    let (fwd, bwd) = pump.stop();
    assert!(
        fwd.received > 100 && bwd.received > 100,
        "{kind:?}: media of the kept call did not flow: {fwd:?} {bwd:?}"
    );
}

fn delete(client: &NgClient, c: &media::Call, delay: Option<&str>) {
    let mut req = vec![
        ("command", Bencode::from("delete")),
        ("call-id", c.call_id.as_str().into()),
        ("from-tag", c.from_tag.as_str().into()),
    ];
    if let Some(delay) = delay {
        // As Kamailio sends `delete-delay=N` from its flags: a string value.
        req.push(("delete-delay", delay.into()));
    }
    let reply = client.request(&dict(req));
    assert_eq!(
        reply.get_str("result"),
        Some("ok"),
        "delete {}: {reply:?}",
        c.call_id
    );
}

/// For each daemon-wide `--delete-delay` (0 and 2), a call deleted with the
/// default and one deleted with the other value as a per-request override:
/// a delay of 0 removes the call at once, a delay of 2 keeps it queryable
/// right after `delete` and removes it a few seconds later.
fn delete_delay(kind: DaemonKind) {
    if media::skip_without_rtpengine(kind) {
        return;
    }
    let d0 = Daemon::start(kind, &["127.0.0.1"], &["--delete-delay=0"]);
    let d2 = Daemon::start(kind, &["127.0.0.1"], &["--delete-delay=2"]);
    // (daemon, call, per-request delay, effective delay is zero)
    let cases = [
        (&d0, "dd0-default", None, true),
        (&d0, "dd0-override", Some("2"), false),
        (&d2, "dd2-default", None, false),
        (&d2, "dd2-override", Some("0"), true),
    ];
    let calls: Vec<media::Call> = cases.iter().map(|(d, id, _, _)| call(d, id)).collect();
    let deleted_at = Instant::now();
    for ((d, _, delay, _), c) in cases.iter().zip(&calls) {
        delete(&d.client(), c, *delay);
    }
    for ((d, id, delay, immediate), c) in cases.iter().zip(&calls) {
        assert_eq!(
            exists(&d.client(), &c.call_id),
            !immediate,
            "{kind:?} {id} (per-request {delay:?}): queryable right after delete"
        );
    }
    assert!(
        deleted_at.elapsed() < Duration::from_millis(1500),
        "checks right after delete took too long to mean anything"
    );
    // The delayed ones go within a few seconds.
    let deadline = deleted_at + Duration::from_secs(7);
    for ((d, id, _, _), c) in cases.iter().zip(&calls) {
        while exists(&d.client(), &c.call_id) {
            assert!(
                Instant::now() < deadline,
                "{kind:?} {id}: still queryable 7 s after delete with a 2 s delay\n{}",
                d.log()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

#[test]
fn timeout_rtpengine() {
    timeout(DaemonKind::Rtpengine);
}
#[test]
fn timeout_rtpbolt() {
    timeout(DaemonKind::Rtpbolt);
}
#[test]
fn delete_delay_rtpengine() {
    delete_delay(DaemonKind::Rtpengine);
}
#[test]
fn delete_delay_rtpbolt() {
    delete_delay(DaemonKind::Rtpbolt);
}
