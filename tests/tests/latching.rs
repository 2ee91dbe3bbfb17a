//! Endpoint learning (latching) behind NAT, as rtpengine does it with its
//! default `--endpoint-learning=delayed`: until 3 s after the last signalling
//! every packet from a new source moves the endpoint; the first packet after
//! that confirms it. Then the `strict-source`, `media-handover` and
//! `asymmetric` flags, `SIP-source-address`/`trust-address` with
//! `received-from`, and RTCP on port+1 (or the `a=rtcp:` port).
//!
//! Phones live on distinct loopback addresses so a packet's source says who
//! sent it; a "NAT alias" of the caller is another address (127.1.0.9) that
//! the SDP never mentions.

use std::net::{SocketAddr, UdpSocket};
use std::time::Duration;

use rtpbolt_tests::bencode::Bencode;
use rtpbolt_tests::media::{self, Call};
use rtpbolt_tests::rtp::{self, MediaPair};
use rtpbolt_tests::{Daemon, DaemonKind};

const NAT_IP: &str = "127.1.0.9";
/// rtpengine's learning delay is 3 s after the last signalling; wait a bit
/// longer so that the next packet certainly confirms.
// rtpengine learns while now_secs <= last_signal_secs + 3 (whole seconds), so
// confirmation is certain only after 4 s.
const PAST_LEARNING: Duration = Duration::from_millis(4200);

/// Sends `n` RTP packets with SSRC `ssrc` from `from` to `to`, then counts,
/// per receiver, how many of them arrived and from which source.
fn deliver(
    from: &UdpSocket,
    to: SocketAddr,
    ssrc: u32,
    n: u16,
    receivers: &[&UdpSocket],
) -> Vec<(usize, Vec<SocketAddr>)> {
    for r in receivers {
        rtp::drain(r);
    }
    media::send_rtp(from, to, ssrc, 100, n);
    std::thread::sleep(Duration::from_millis(200));
    receivers
        .iter()
        .map(|r| {
            let got = rtp::drain(r);
            let mut sources: Vec<SocketAddr> = got.iter().map(|(s, _)| *s).collect();
            sources.dedup();
            (media::count_ssrc(&got, ssrc), sources)
        })
        .collect()
}

fn start(kind: DaemonKind) -> Option<Daemon> {
    if media::skip_without_rtpengine(kind) {
        return None;
    }
    Some(Daemon::start(kind, &["127.0.0.1"], &["--delete-delay=0"]))
}

fn call(d: &Daemon, id: &str, flags: &[&str]) -> Call {
    let flags: Vec<Bencode> = flags.iter().map(|f| Bencode::from(*f)).collect();
    media::establish(
        &d.client(),
        id,
        media::phone(media::CALLER_IP),
        media::phone(media::CALLEE_IP),
        vec![("flags", Bencode::List(flags))],
        vec![],
    )
}

/// Symmetric NAT: the caller's SDP names 127.1.0.1:P but its packets come
/// from 127.1.0.9:Q. The relay must send the callee's media to the learned
/// 127.1.0.9:Q, from the port the caller sends to; the callee's media reaches
/// nothing at the SDP address. With `asymmetric` nothing is learned: the
/// callee's media keeps going to the SDP address.
fn nat(kind: DaemonKind) {
    let Some(d) = start(kind) else { return };
    for (flags, learns) in [(&[][..], true), (&["asymmetric"][..], false)] {
        let c = call(&d, &format!("nat-{}", flags.len()), flags);
        let behind_nat = MediaPair::bind(NAT_IP);
        let got = deliver(
            &behind_nat.rtp,
            c.relay_for_caller,
            media::CALLER_SSRC,
            5,
            &[&c.callee.rtp],
        );
        assert_eq!(got[0].0, 5, "{kind:?} {flags:?}: caller->callee: {got:?}");
        assert_eq!(
            got[0].1,
            vec![c.relay_for_callee],
            "{kind:?} {flags:?}: relay source"
        );

        let got = deliver(
            &c.callee.rtp,
            c.relay_for_callee,
            media::CALLEE_SSRC,
            5,
            &[&behind_nat.rtp, &c.caller.rtp],
        );
        let (nat_gets, sdp_gets) = if learns { (5, 0) } else { (0, 5) };
        assert_eq!(
            (got[0].0, got[1].0),
            (nat_gets, sdp_gets),
            "{kind:?} {flags:?}: callee media to (NAT source, SDP address): {got:?}\n{}",
            d.log()
        );
        let receiver = if learns { &got[0] } else { &got[1] };
        assert_eq!(
            receiver.1,
            vec![c.relay_for_caller],
            "{kind:?} {flags:?}: relay source"
        );
    }
}

/// After the endpoint is confirmed, a packet from another source:
/// - by default is still relayed, but the endpoint does not move;
/// - with `strict-source` is dropped;
/// - with `media-handover` is relayed and moves the endpoint there.
fn after_confirmation(kind: DaemonKind) {
    let Some(d) = start(kind) else { return };
    let cases = [
        ("default", &[][..]),
        ("strict", &["strict-source"][..]),
        ("handover", &["media-handover"][..]),
    ];
    let calls: Vec<Call> = cases
        .iter()
        .map(|(name, flags)| call(&d, &format!("confirm-{name}"), flags))
        .collect();
    std::thread::sleep(PAST_LEARNING);
    for ((name, _), c) in cases.iter().zip(&calls) {
        // Confirm the caller's SDP address with its first packet.
        let got = deliver(
            &c.caller.rtp,
            c.relay_for_caller,
            media::CALLER_SSRC,
            3,
            &[&c.callee.rtp],
        );
        assert_eq!(got[0].0, 3, "{kind:?} {name}: confirming packets relayed");

        let alias = MediaPair::bind(NAT_IP);
        let got = deliver(
            &alias.rtp,
            c.relay_for_caller,
            media::CALLER_SSRC,
            5,
            &[&c.callee.rtp],
        );
        let want = if *name == "strict" { 0 } else { 5 };
        assert_eq!(
            got[0].0,
            want,
            "{kind:?} {name}: packets from an unconfirmed source relayed\n{}",
            d.log()
        );

        let got = deliver(
            &c.callee.rtp,
            c.relay_for_callee,
            media::CALLEE_SSRC,
            5,
            &[&c.caller.rtp, &alias.rtp],
        );
        let want = if *name == "handover" { (0, 5) } else { (5, 0) };
        assert_eq!(
            (got[0].0, got[1].0),
            want,
            "{kind:?} {name}: callee media to (confirmed, new source): {got:?}\n{}",
            d.log()
        );

        if *name == "strict" {
            // The confirmed source still gets through.
            let got = deliver(
                &c.caller.rtp,
                c.relay_for_caller,
                media::CALLER_SSRC,
                3,
                &[&c.callee.rtp],
            );
            assert_eq!(got[0].0, 3, "{kind:?} strict: confirmed source relayed");
        }
    }
}

/// A socket on `ip` at the same port as `like` (for addresses that differ
/// from the SDP's only in the IP). `None` if that port is taken there.
fn same_port(ip: &str, like: &UdpSocket) -> Option<UdpSocket> {
    let port = like.local_addr().ok()?.port();
    let s = UdpSocket::bind(rtp::sock_addr(ip, port)).ok()?;
    s.set_nonblocking(true).ok()?;
    Some(s)
}

/// `received-from` carries the SIP packet's source. By default the SDP address
/// is trusted; `SIP-source-address` uses the received-from address with the
/// SDP port; `trust-address` overrides that again. Checked before the caller
/// sends anything, so nothing has been learned yet.
fn sip_source(kind: DaemonKind) {
    let Some(d) = start(kind) else { return };
    const SIP_SRC: &str = "127.1.0.7";
    let cases = [
        ("none", &[][..], false),
        ("sip-source", &["SIP-source-address"][..], true),
        ("trust", &["SIP-source-address", "trust-address"][..], false),
    ];
    for (name, flags, uses_sip_source) in cases {
        let (caller, nat) = (0..20)
            .find_map(|_| {
                let p = media::phone(media::CALLER_IP);
                same_port(SIP_SRC, &p.rtp).map(|s| (p, s))
            })
            .expect("a caller port also free on the SIP source address");
        let flags: Vec<Bencode> = flags.iter().map(|f| Bencode::from(*f)).collect();
        let c = media::establish(
            &d.client(),
            &format!("sipsrc-{name}"),
            caller,
            media::phone(media::CALLEE_IP),
            vec![
                ("flags", Bencode::List(flags)),
                ("received-from", vec!["IP4", SIP_SRC].into()),
            ],
            vec![],
        );
        let got = deliver(
            &c.callee.rtp,
            c.relay_for_callee,
            media::CALLEE_SSRC,
            5,
            &[&c.caller.rtp, &nat],
        );
        let want = if uses_sip_source { (0, 5) } else { (5, 0) };
        assert_eq!(
            (got[0].0, got[1].0),
            want,
            "{kind:?} {name}: callee media to (SDP address, SIP source): {got:?}\n{}",
            d.log()
        );
    }
}

/// RTCP sent to the relay's RTP port + 1 reaches the other phone's RTP port +
/// 1 (RFC 3550 §11), from the relay's port + 1; if that phone's SDP has
/// `a=rtcp:`, it goes to that port instead.
fn rtcp(kind: DaemonKind) {
    let Some(d) = start(kind) else { return };
    let caller = media::phone(media::CALLER_IP);
    let callee = media::phone(media::CALLEE_IP);
    // The callee takes RTCP on a port unrelated to its RTP port.
    let callee_rtcp = media::udp(media::CALLEE_IP);
    let callee_sdp = format!(
        "{}a=rtcp:{}\r\n",
        media::sdp(media::CALLEE_IP, callee.rtp_port()),
        callee_rtcp.local_addr().expect("rtcp addr").port()
    );
    let caller_sdp = media::sdp(media::CALLER_IP, caller.rtp_port());
    let c = media::establish_with_sdp(
        &d.client(),
        "rtcp",
        caller,
        callee,
        (&caller_sdp, vec![]),
        (&callee_sdp, vec![]),
    );
    let plus1 = |a: SocketAddr| SocketAddr::new(a.ip(), a.port() + 1);
    // The relay advertises its RTCP port; rtpengine always says port + 1.
    for (what, sdp, relay) in [
        ("offer", &c.offer_sdp, c.relay_for_callee),
        ("answer", &c.answer_sdp, c.relay_for_caller),
    ] {
        if let Some(p) = media::sdp_rtcp_port(sdp) {
            assert_eq!(p, relay.port() + 1, "{kind:?}: a=rtcp in the {what} reply");
        }
    }

    let sr = rtp::rtcp_sender_report(media::CALLER_SSRC, 1, 2, 3, 4);
    c.caller
        .rtcp
        .send_to(&sr, plus1(c.relay_for_caller))
        .expect("send rtcp");
    let got = media::collect(&callee_rtcp, 1, Duration::from_secs(1));
    let stray = rtp::drain(&c.callee.rtcp);
    assert_eq!(
        got.iter().map(|(s, p)| (*s, p.clone())).collect::<Vec<_>>(),
        vec![(plus1(c.relay_for_callee), sr.clone())],
        "{kind:?}: caller RTCP at the callee's a=rtcp port (stray at RTP+1: {stray:?})\n{}",
        d.log()
    );
    assert!(
        stray.is_empty(),
        "{kind:?}: RTCP went to RTP+1 despite a=rtcp"
    );

    let sr = rtp::rtcp_sender_report(media::CALLEE_SSRC, 5, 6, 7, 8);
    callee_rtcp
        .send_to(&sr, plus1(c.relay_for_callee))
        .expect("send rtcp");
    let got = media::collect(&c.caller.rtcp, 1, Duration::from_secs(1));
    assert_eq!(
        got,
        vec![(plus1(c.relay_for_caller), sr)],
        "{kind:?}: callee RTCP at the caller's RTP port + 1\n{}",
        d.log()
    );
    // RTCP must not leak onto the RTP ports.
    assert!(
        rtp::drain(&c.caller.rtp).is_empty(),
        "{kind:?}: RTCP on caller's RTP port"
    );
    assert!(
        rtp::drain(&c.callee.rtp).is_empty(),
        "{kind:?}: RTCP on callee's RTP port"
    );
}

#[test]
fn nat_rtpengine() {
    nat(DaemonKind::Rtpengine);
}
#[test]
fn nat_rtpbolt() {
    nat(DaemonKind::Rtpbolt);
}
#[test]
fn after_confirmation_rtpengine() {
    after_confirmation(DaemonKind::Rtpengine);
}
#[test]
fn after_confirmation_rtpbolt() {
    after_confirmation(DaemonKind::Rtpbolt);
}
#[test]
fn sip_source_rtpengine() {
    sip_source(DaemonKind::Rtpengine);
}
#[test]
fn sip_source_rtpbolt() {
    sip_source(DaemonKind::Rtpbolt);
}
#[test]
fn rtcp_rtpengine() {
    rtcp(DaemonKind::Rtpengine);
}
#[test]
fn rtcp_rtpbolt() {
    rtcp(DaemonKind::Rtpbolt);
}
