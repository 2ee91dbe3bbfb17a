//! The AF_XDP data plane inside the real daemon: rtpbolt runs in the relay namespace
//! with `--dataplane=af-xdp` on its veth, the phones and the ng client in the peer
//! namespace (see `rtpbolt_tests::af_xdp::VethPair`). A call is set up over ng on the
//! same interface; once both sides' streams are confirmed every RTP packet is forwarded
//! by the AF_XDP sockets (the daemon's `afxdpstatistics` and the `query` counters say
//! so); ping and ng keep reaching the kernel; after `delete` the call's ports are no
//! longer steered.
//!
//! Needs root, `ip`, `ethtool` and `ping`; skipped without them unless `CI` or
//! `RTPBOLT_REQUIRE_AF_XDP` is set, where it fails instead.

use std::time::Duration;

use rtpbolt_tests::af_xdp::{prerequisites, VethPair, PHONE_IPS, RELAY_IP};
use rtpbolt_tests::bencode::dict;
use rtpbolt_tests::daemon::Placement;
use rtpbolt_tests::media::{collect, count_ssrc, establish, phone, send_rtp, Call};
use rtpbolt_tests::{Bencode, Daemon, DaemonKind, NgClient};

/// rtpengine's endpoint learning delay, rounded up to whole seconds and one more.
const LEARNING_DELAY: Duration = Duration::from_secs(5);

fn xdp_stat(client: &NgClient, key: &str) -> i64 {
    let reply = client.request(&dict([("command", Bencode::from("statistics"))]));
    reply
        .path(&format!("statistics/afxdpstatistics/{key}"))
        .and_then(Bencode::int)
        .unwrap_or_else(|| panic!("statistics has no afxdpstatistics/{key}: {reply:?}"))
}

/// Packets sent before the receiver drains its socket: a frame the AF_XDP socket sent
/// (copy mode) costs the receiving socket more buffer than one the sockets path sent;
/// 200 unread ones overflowed the default 208 KiB here (166 arrived, the rest counted
/// in the peer's UdpRcvbufErrors), which is the phone's limit, not the relay's.
const ROUND: u16 = 50;

/// Sends `n` RTP packets each way, in rounds of [`ROUND`] per direction, and returns how
/// many arrived (caller→callee, callee→caller).
fn exchange(call: &Call, first_seq: u16, n: u16) -> (usize, usize) {
    let wait = Duration::from_secs(3);
    let (mut to_callee, mut to_caller) = (0, 0);
    let mut sent = 0;
    while sent < n {
        let k = ROUND.min(n - sent);
        let seq = first_seq.wrapping_add(sent);
        send_rtp(&call.caller.rtp, call.relay_for_caller, 0x1111, seq, k);
        let got = collect(&call.callee.rtp, usize::from(k), wait);
        to_callee += count_ssrc(&got, 0x1111);
        send_rtp(&call.callee.rtp, call.relay_for_callee, 0x2222, seq, k);
        let got = collect(&call.caller.rtp, usize::from(k), wait);
        to_caller += count_ssrc(&got, 0x2222);
        sent += k;
    }
    (to_callee, to_caller)
}

#[test]
fn call_media_goes_through_af_xdp_and_the_rest_reaches_the_kernel() {
    if !prerequisites() {
        return;
    }
    let wire = VethPair::create("xe2e").unwrap();
    let xdp_if = format!("--xdp-interface={}", wire.relay_if);
    let daemon = Daemon::start_placed(
        DaemonKind::Rtpbolt,
        &[RELAY_IP],
        &[
            "--table=0",
            "--dataplane=af-xdp",
            &xdp_if,
            "--no-fallback",
            "--delete-delay=0",
        ],
        Placement {
            netns: Some(wire.relay.name().into()),
            ng_ip: Some(RELAY_IP.parse().unwrap()),
            client_netns: Some(wire.peer.name().into()),
        },
    );
    let log = daemon.log();
    assert!(
        log.contains(&format!("data plane: AF_XDP on {}", wire.relay_if)),
        "no AF_XDP start line in the log:\n{log}"
    );
    // ng itself crosses the veth: the program passes it to the kernel.
    let client = daemon.client();

    let (caller, callee) = wire
        .peer
        .run(|| (phone(PHONE_IPS[0]), phone(PHONE_IPS[1])))
        .unwrap();
    let call = establish(&client, "xdp-call", caller, callee, vec![], vec![]);

    // Packets confirm each side's endpoint through the control plane once rtpengine's
    // learning delay (3 whole seconds after the last signalling) has passed; it then
    // writes the flows (and steers their ports), and the first steered frames teach the
    // data plane the phones' MACs.
    let (a, b) = exchange(&call, 0, 20);
    assert!(
        a > 0 && b > 0,
        "relayed: {a}/{b} arrived; log:\n{}",
        daemon.log()
    );
    std::thread::sleep(LEARNING_DELAY);
    let (a, b) = exchange(&call, 100, 20);
    assert!(
        a > 0 && b > 0,
        "warm-up: {a}/{b} arrived; log:\n{}",
        daemon.log()
    );

    let tx_before = xdp_stat(&client, "txpackets");
    let punted_before = xdp_stat(&client, "puntedpackets");
    const N: u16 = 200;
    let (a, b) = exchange(&call, 1000, N);
    let tx = xdp_stat(&client, "txpackets") - tx_before;
    let punted = xdp_stat(&client, "puntedpackets") - punted_before;
    eprintln!(
        "AF_XDP sent {tx} of {} packets, punted {punted}; {:?}",
        2 * i64::from(N),
        client
            .request(&dict([("command", Bencode::from("statistics"))]))
            .path("statistics/afxdpstatistics")
    );
    assert_eq!(
        (a, b),
        (usize::from(N), usize::from(N)),
        "log:\n{}",
        daemon.log()
    );
    assert_eq!(
        (tx, punted),
        (2 * i64::from(N), 0),
        "not every packet took the XSK path"
    );
    assert_eq!(xdp_stat(&client, "invaliddescriptors"), 0);

    // ICMP still reaches the relay's kernel.
    wire.assert_ping_reaches_relay();

    // Delete: the ports are unsteered, so their packets are the kernel's again.
    let reply = client.request(&dict([
        ("command", Bencode::from("delete")),
        ("call-id", Bencode::from(call.call_id.as_str())),
        ("from-tag", Bencode::from(call.from_tag.as_str())),
    ]));
    assert_eq!(reply.get_str("result"), Some("ok"), "{reply:?}");
    let redirected = xdp_stat(&client, "redirected");
    let passed = xdp_stat(&client, "passedtokernel");
    send_rtp(&call.caller.rtp, call.relay_for_caller, 0x1111, 5000, 10);
    std::thread::sleep(Duration::from_millis(200));
    assert_eq!(
        xdp_stat(&client, "redirected"),
        redirected,
        "a deleted call's packets were still steered"
    );
    assert!(xdp_stat(&client, "passedtokernel") >= passed + 10);
}
