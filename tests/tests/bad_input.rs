//! Bad input must never take the relay down or disturb running calls: every
//! malformed or incomplete ng request gets `result: error` with a reason (or
//! is dropped when not even a cookie can be found), a TCP client that stalls
//! mid-request blocks nobody, and a call set up before the storm keeps its
//! media flowing both ways throughout. A malformed media packet is dropped
//! and counted (rtpbolt only: rtpengine forwards it untouched).

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::time::Duration;

use rtpbolt_tests::bencode::dict;
use rtpbolt_tests::media::{self, Call, Pump};
use rtpbolt_tests::{Bencode, Daemon, DaemonKind, NgClient};

/// A free loopback TCP port for `--listen-tcp-ng`. The harness picks the
/// daemon's UDP ports itself; a TCP port from the kernel's ephemeral range
/// cannot collide with those.
fn free_tcp_port() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind probe listener");
    l.local_addr().expect("probe addr").port()
}

/// A request body that must be rejected, and the reason rtpengine gives
/// (`None` where any non-empty reason will do).
struct Bad {
    what: &'static str,
    body: Vec<u8>,
    reason: Option<&'static str>,
}

fn offer_without(missing: &str, sdp: &str) -> Vec<u8> {
    let pairs: Vec<(&str, Bencode)> = [
        ("command", Bencode::from("offer")),
        ("call-id", "bad-input-x".into()),
        ("from-tag", "ft".into()),
        ("sdp", sdp.into()),
    ]
    .into_iter()
    .filter(|(k, _)| *k != missing)
    .collect();
    dict(pairs).encode()
}

fn offer_with(key: &str, value: Bencode, sdp: &str) -> Vec<u8> {
    let pairs: Vec<(&str, Bencode)> = [
        ("command", Bencode::from("offer")),
        ("call-id", "bad-input-y".into()),
        ("from-tag", "ft".into()),
        ("sdp", sdp.into()),
    ]
    .into_iter()
    .map(|(k, v)| if k == key { (k, value.clone()) } else { (k, v) })
    .collect();
    dict(pairs).encode()
}

fn bad_requests() -> Vec<Bad> {
    let sdp = media::sdp("127.1.0.1", 14000);
    let bad = |what, body: Vec<u8>, reason| Bad { what, body, reason };
    // Deterministic pseudo-random bytes: reproducible failures.
    let mut x: u32 = 0x1234_5678;
    let garbage: Vec<u8> = (0..65_000)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            x as u8
        })
        .collect();
    vec![
        bad(
            "not bencode",
            b"xyz garbage".to_vec(),
            Some("Invalid NG data format"),
        ),
        bad(
            "bencode list",
            b"l7:command4:pinge".to_vec(),
            Some("Invalid NG data format"),
        ),
        bad("64 KiB of garbage", garbage, None),
        bad(
            "malformed JSON",
            br#"{"command":"ping""#.to_vec(),
            Some("Failed to parse JSON document"),
        ),
        bad(
            "JSON offer without call-id",
            br#"{"command":"offer","from-tag":"a","sdp":"v=0"}"#.to_vec(),
            Some("No call-id in message"),
        ),
        bad(
            "no call-id",
            offer_without("call-id", &sdp),
            Some("No call-id in message"),
        ),
        bad(
            "no from-tag",
            offer_without("from-tag", &sdp),
            Some("No from-tag in message"),
        ),
        bad(
            "no sdp",
            offer_without("sdp", &sdp),
            Some("No SDP body in message"),
        ),
        bad(
            "no command",
            dict([("call-id", Bencode::from("x"))]).encode(),
            Some("Dictionary contains no key \"command\""),
        ),
        bad(
            "integer command",
            dict([("command", Bencode::from(5))]).encode(),
            Some("Dictionary contains no key \"command\""),
        ),
        bad(
            "integer call-id",
            offer_with("call-id", 5.into(), &sdp),
            Some("No call-id in message"),
        ),
        bad(
            "list from-tag",
            offer_with("from-tag", vec!["a"].into(), &sdp),
            Some("No from-tag in message"),
        ),
        bad(
            "integer sdp",
            offer_with("sdp", 5.into(), &sdp),
            Some("No SDP body in message"),
        ),
        bad(
            "SDP without '='",
            offer_with("sdp", "garbage".into(), &sdp),
            Some("Failed to parse SDP"),
        ),
        bad(
            "SDP with a non-numeric port",
            offer_with("sdp", "v=0\r\nm=audio abc RTP/AVP 0\r\n".into(), &sdp),
            Some("Failed to parse SDP"),
        ),
        bad(
            "unknown command",
            dict([("command", Bencode::from("bogus"))]).encode(),
            Some("Unrecognized command"),
        ),
        bad(
            "query for an unknown call",
            dict([
                ("command", Bencode::from("query")),
                ("call-id", "nope".into()),
            ])
            .encode(),
            Some("Unknown call-id"),
        ),
        bad("empty body", Vec::new(), Some("Invalid data (no payload)")),
    ]
}

/// Sends one bad request; returns a description of what is wrong with the
/// reply, if anything.
fn check_bad(client: &NgClient, n: usize, bad: &Bad) -> Option<String> {
    let cookie = format!("bad{n}");
    let raw = match client.request_raw(cookie.as_bytes(), &bad.body, Duration::from_secs(2)) {
        Ok(raw) => raw,
        // Only an unparseable blob may go unanswered.
        Err(e) if bad.reason.is_none() => {
            eprintln!("{}: dropped ({e})", bad.what);
            return None;
        }
        Err(e) => return Some(format!("{}: no reply: {e}", bad.what)),
    };
    let Some(body) = raw.strip_prefix(format!("{cookie} ").as_bytes()) else {
        return Some(format!(
            "{}: reply lacks cookie: {:?}",
            bad.what,
            String::from_utf8_lossy(&raw)
        ));
    };
    // A JSON request gets a JSON reply.
    let (result, reason) = if body.first() == Some(&b'{') {
        let v: serde_json::Value = match serde_json::from_slice(body) {
            Ok(v) => v,
            Err(e) => return Some(format!("{}: bad JSON reply: {e}", bad.what)),
        };
        let s = |k: &str| v.get(k).and_then(|x| x.as_str()).map(str::to_string);
        (s("result"), s("error-reason"))
    } else {
        match Bencode::decode(body) {
            Ok((v, _)) => (
                v.get_str("result").map(str::to_string),
                v.get_str("error-reason").map(str::to_string),
            ),
            Err(e) => return Some(format!("{}: undecodable reply: {e}", bad.what)),
        }
    };
    if result.as_deref() != Some("error") {
        return Some(format!("{}: result {result:?}, want error", bad.what));
    }
    match (reason.as_deref(), bad.reason) {
        (None | Some(""), _) => Some(format!("{}: empty error-reason", bad.what)),
        (Some(got), Some(want)) if got != want => {
            Some(format!("{}: error-reason {got:?}, want {want:?}", bad.what))
        }
        _ => None,
    }
}

fn ping_ok(client: &NgClient) -> bool {
    client
        .request_timeout(
            &dict([("command", Bencode::from("ping"))]),
            Duration::from_secs(2),
        )
        .is_ok_and(|r| r.get_str("result") == Some("pong"))
}

/// Reads one TCP ng reply (they are small; one read suffices on loopback).
fn tcp_reply(s: &mut TcpStream) -> String {
    let mut buf = vec![0u8; 4096];
    let n = s.read(&mut buf).unwrap_or(0);
    String::from_utf8_lossy(&buf[..n]).into_owned()
}

fn bad_input(kind: DaemonKind) {
    if media::skip_without_rtpengine(kind) {
        return;
    }
    let tcp_port = free_tcp_port();
    let mut d = Daemon::start(
        kind,
        &["127.0.0.1"],
        &[&format!("--listen-tcp-ng=127.0.0.1:{tcp_port}")],
    );
    let client = d.client();
    let call: Call = media::establish(
        &client,
        "bad-input-running",
        media::phone(media::CALLER_IP),
        media::phone(media::CALLEE_IP),
        vec![],
        vec![],
    );
    let pump = Pump::start(&call);
    assert!(
        pump.wait_flowing(10, Duration::from_secs(3)),
        "media of the running call never flowed: {:?}",
        pump.snapshot()
    );
    let before = pump.snapshot();

    // A TCP client that sends half a request and stalls must not block the
    // other TCP client or the UDP socket.
    let mut stalled = TcpStream::connect(("127.0.0.1", tcp_port)).expect("connect tcp ng");
    stalled
        .write_all(b"t1 d7:command5:offer7:call-id")
        .expect("send half a request");
    let mut tcp = TcpStream::connect(("127.0.0.1", tcp_port)).expect("connect tcp ng");
    tcp.set_read_timeout(Some(Duration::from_secs(2)))
        .expect("tcp timeout");

    // Every kind of bad request, over UDP.
    let mut problems: Vec<String> = bad_requests()
        .iter()
        .enumerate()
        .filter_map(|(n, b)| check_bad(&client, n, b))
        .collect();
    // A datagram without the cookie separator cannot be answered at all.
    client
        .send_raw(b"nospace")
        .expect("send cookie-less datagram");
    if let Ok(raw) = client.recv_raw(Duration::from_millis(300)) {
        problems.push(format!(
            "cookie-less datagram answered: {:?}",
            String::from_utf8_lossy(&raw)
        ));
    }

    tcp.write_all(b"t2 d7:command4:pinge").expect("tcp ping");
    let reply = tcp_reply(&mut tcp);
    if reply != "t2 d6:result4:ponge" {
        problems.push(format!("tcp ping beside a stalled client: {reply:?}"));
    }
    tcp.write_all(b"t3 d7:command5:bogus7:call-id1:xe")
        .expect("tcp bad command");
    let reply = tcp_reply(&mut tcp);
    if reply != "t3 d6:result5:error12:error-reason20:Unrecognized commande" {
        problems.push(format!("tcp unknown command: {reply:?}"));
    }
    if !ping_ok(&client) {
        problems.push("udp ping beside a stalled tcp client failed".into());
    }

    // Malformed media into the running call, from the caller's own socket:
    // too short for RTP, and a 12-byte header with version 0.
    let errors_before = media::total_errors(&media::query(&client, &call.call_id));
    let bogus_v0 = {
        let mut p = rtpbolt_tests::rtp::rtp_packet(0, 1, 1, media::CALLER_SSRC, 20);
        p[0] = 0x00;
        p
    };
    for pkt in [&b"abc"[..], &bogus_v0] {
        call.caller
            .rtp
            .send_to(pkt, call.relay_for_caller)
            .expect("send malformed media");
    }
    std::thread::sleep(Duration::from_millis(300));
    let errors_after = media::total_errors(&media::query(&client, &call.call_id));

    let during = pump.snapshot();
    drop(stalled);
    let (fwd, bwd) = pump.stop();
    eprintln!(
        "{kind:?}: forward {fwd:?}, backward {bwd:?}, errors {errors_before} -> {errors_after}"
    );

    // The running call kept its media during the storm, in both directions.
    if during.0.received <= before.0.received + 10 || during.1.received <= before.1.received + 10 {
        problems.push(format!(
            "media stalled during bad input: {before:?} -> {during:?}"
        ));
    }
    for (dir, t) in [("caller->callee", fwd), ("callee->caller", bwd)] {
        // Loopback does not lose packets; allow a few for scheduling noise.
        if t.received + 3 + t.sent / 50 < t.sent {
            problems.push(format!("{dir}: lost media: {t:?}"));
        }
    }
    if kind == DaemonKind::Rtpbolt {
        // rtpengine relays garbage verbatim and counts nothing; rtpbolt's
        // design drops a packet that is not RTP/RTCP and counts it.
        if fwd.junk != 0 {
            problems.push(format!("malformed media was forwarded: {fwd:?}"));
        }
        if errors_after < errors_before + 2 {
            problems.push(format!(
                "malformed media not counted: errors {errors_before} -> {errors_after}"
            ));
        }
    }
    if !ping_ok(&client) {
        problems.push("ping after the storm failed".into());
    }
    if !d.is_running() {
        problems.push("daemon exited".into());
    }
    assert!(
        problems.is_empty(),
        "{kind:?}:\n  {}\nlog:\n{}",
        problems.join("\n  "),
        d.log()
    );
}

#[test]
fn bad_input_rtpengine() {
    bad_input(DaemonKind::Rtpengine);
}

#[test]
fn bad_input_rtpbolt() {
    bad_input(DaemonKind::Rtpbolt);
}
