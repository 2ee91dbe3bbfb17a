//! ng protocol behaviour beyond single replies: the cookie cache, JSON, TCP
//! framing, and media that outlives endpoint learning (the flow-table path).

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use rtpbolt_tests::bencode::{dict, Bencode};
use rtpbolt_tests::media::{self, Pump};
use rtpbolt_tests::{Daemon, DaemonKind};

fn start(kind: DaemonKind, extra: &[&str]) -> Option<Daemon> {
    if media::skip_without_rtpengine(kind) {
        return None;
    }
    Some(Daemon::start(kind, &["127.0.0.1"], extra))
}

fn offer(call_id: &str, port: u16) -> Bencode {
    dict([
        ("command", Bencode::from("offer")),
        ("call-id", call_id.into()),
        ("from-tag", "ft".into()),
        ("sdp", media::sdp("127.1.0.1", port).into()),
    ])
}

/// Kamailio retransmits a request whose reply was lost with the same cookie:
/// the daemon must answer from its cache, not offer again.
fn cookie_cache(kind: DaemonKind) {
    let Some(d) = start(kind, &[]) else { return };
    let client = d.client();
    let body = offer("cookie-call", 4000).encode();
    let first = client
        .request_raw(b"same-cookie", &body, Duration::from_secs(2))
        .expect("first reply");
    let again = client
        .request_raw(b"same-cookie", &body, Duration::from_secs(2))
        .expect("cached reply");
    assert_eq!(
        first, again,
        "{kind:?}: retransmission must get the same reply"
    );
    // A new cookie is a new request: a re-offer, which keeps the ports.
    let reoffer = client
        .request_raw(b"other-cookie", &body, Duration::from_secs(2))
        .expect("re-offer reply");
    let port = |raw: &[u8]| {
        let s = String::from_utf8_lossy(raw).to_string();
        media::sdp_media_addr(&s).map(|a| a.port())
    };
    assert_eq!(
        port(&first),
        port(&reoffer),
        "{kind:?}: re-offer keeps ports"
    );
    let list = client.request(&dict([("command", Bencode::from("list"))]));
    let calls = list.get("calls").and_then(Bencode::list).map(<[_]>::len);
    assert_eq!(calls, Some(1), "{kind:?}: one call, not two: {list:?}");
}

/// A JSON request gets a JSON reply with the same content.
fn json(kind: DaemonKind) {
    let Some(d) = start(kind, &[]) else { return };
    let client = d.client();
    let req = serde_json::json!({
        "command": "offer", "call-id": "json-call", "from-tag": "ft",
        "sdp": media::sdp("127.1.0.1", 4000), "flags": ["trust-address"]
    });
    let raw = client
        .request_raw(b"j1", req.to_string().as_bytes(), Duration::from_secs(2))
        .expect("reply");
    let body = raw.strip_prefix(b"j1 ").expect("cookie echoed");
    let v: serde_json::Value = serde_json::from_slice(body)
        .unwrap_or_else(|e| panic!("{kind:?}: reply is not JSON ({e}): {body:?}"));
    assert_eq!(v["result"], "ok", "{kind:?}: {v}");
    let sdp = v["sdp"].as_str().expect("sdp string");
    assert!(sdp.contains("c=IN IP4 127.0.0.1"), "{kind:?}: {sdp}");
}

/// ng over TCP: two requests written back to back in one segment, and one
/// split across two writes, are each answered.
fn tcp(kind: DaemonKind) {
    let tcp_port = d_port_plus_one();
    let opt = format!("--listen-tcp-ng=127.0.0.1:{tcp_port}");
    let Some(d) = start(kind, &[&opt]) else {
        return;
    };
    let addr = format!("127.0.0.1:{tcp_port}");
    let mut s = TcpStream::connect(&addr)
        .unwrap_or_else(|e| panic!("{kind:?}: connect {addr}: {e}\n{}", d.log()));
    s.set_read_timeout(Some(Duration::from_secs(2)))
        .expect("timeout");
    let ping = dict([("command", Bencode::from("ping"))]).encode();
    let mut two = b"t1 ".to_vec();
    two.extend_from_slice(&ping);
    two.extend_from_slice(b"t2 ");
    two.extend_from_slice(&offer("tcp-call", 4000).encode());
    s.write_all(&two).expect("write");
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    while !(contains(&got, b"t1 d6:result4:ponge") && contains(&got, b"t2 d3:sdp")) {
        let n = s.read(&mut buf).unwrap_or_else(|e| {
            panic!(
                "{kind:?}: read: {e}; got {:?}",
                String::from_utf8_lossy(&got)
            )
        });
        assert!(n > 0, "{kind:?}: connection closed early");
        got.extend_from_slice(&buf[..n]);
    }
    let (a, b) = ping.split_at(5);
    s.write_all(b"t3 ")
        .and_then(|_| s.write_all(a))
        .expect("write half");
    std::thread::sleep(Duration::from_millis(100));
    s.write_all(b).expect("write rest");
    let n = s.read(&mut buf).expect("read split reply");
    assert_eq!(&buf[..n], b"t3 d6:result4:ponge", "{kind:?}");
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

/// A TCP port unlikely to be taken: in the ephemeral range, probed.
fn d_port_plus_one() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("probe");
    l.local_addr().expect("addr").port()
}

/// Media for longer than the learning window: after confirmation the flow
/// table forwards it, nothing is lost, and the counters see every packet.
fn long_call(kind: DaemonKind) {
    let Some(d) = start(kind, &["--delete-delay=0"]) else {
        return;
    };
    let client = d.client();
    let call = media::establish(
        &client,
        "long-call",
        media::phone("127.1.0.1"),
        media::phone("127.2.0.1"),
        vec![],
        vec![],
    );
    let pump = Pump::start(&call);
    // rtpengine learns for up to 4 s after the last signalling; after that
    // rtpbolt's flow table carries the media and the control plane sees none.
    std::thread::sleep(Duration::from_millis(4600));
    let before = fast_and_user(&client, kind);
    std::thread::sleep(Duration::from_millis(1500));
    let after = fast_and_user(&client, kind);
    let (fwd, bwd) = pump.stop();
    for (dir, t) in [("caller->callee", fwd), ("callee->caller", bwd)] {
        assert!(t.sent > 300, "{kind:?} {dir}: pump too slow: {t:?}");
        assert_eq!(t.received, t.sent, "{kind:?} {dir}: lost packets: {t:?}");
        assert_eq!(t.junk, 0, "{kind:?} {dir}: {t:?}");
    }
    let q = media::query(&client, "long-call");
    let relayed = q.path("totals/RTP/packets").and_then(Bencode::int);
    assert_eq!(
        relayed,
        Some((fwd.sent + bwd.sent) as i64),
        "{kind:?}: query counts every relayed packet: {q:?}"
    );
    if let (Some((fast0, user0)), Some((fast1, user1))) = (before, after) {
        // 1.5 s at 100 packets/s each way: ~300 packets, all on the fast path.
        assert!(
            fast1 - fast0 >= 250,
            "fast path carried {} packets",
            fast1 - fast0
        );
        assert!(
            user1 - user0 <= 2,
            "control plane still relayed {} packets",
            user1 - user0
        );
    }
}

/// `(relayedpackets_kernel, relayedpackets_user)` from `statistics`; only
/// rtpbolt's mean "flow table" and "control plane".
fn fast_and_user(client: &rtpbolt_tests::NgClient, kind: DaemonKind) -> Option<(i64, i64)> {
    if kind != DaemonKind::Rtpbolt {
        return None;
    }
    let stats = client.request(&dict([("command", Bencode::from("statistics"))]));
    let get = |k: &str| {
        stats
            .path(&format!("statistics/totalstatistics/{k}"))
            .and_then(Bencode::int)
            .unwrap_or_else(|| panic!("statistics lacks {k}: {stats:?}"))
    };
    Some((get("relayedpackets_kernel"), get("relayedpackets_user")))
}

#[test]
fn cookie_cache_rtpbolt() {
    cookie_cache(DaemonKind::Rtpbolt);
}
#[test]
fn cookie_cache_rtpengine() {
    cookie_cache(DaemonKind::Rtpengine);
}
#[test]
fn json_rtpbolt() {
    json(DaemonKind::Rtpbolt);
}
#[test]
fn json_rtpengine() {
    json(DaemonKind::Rtpengine);
}
#[test]
fn tcp_rtpbolt() {
    tcp(DaemonKind::Rtpbolt);
}
#[test]
fn tcp_rtpengine() {
    tcp(DaemonKind::Rtpengine);
}
#[test]
fn long_call_rtpbolt() {
    long_call(DaemonKind::Rtpbolt);
}
#[test]
fn long_call_rtpengine() {
    long_call(DaemonKind::Rtpengine);
}
