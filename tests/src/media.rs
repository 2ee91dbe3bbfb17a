//! Two-party calls and background RTP for the robustness tests (bad input,
//! latching, timeouts): set a call up through ng the way Kamailio would, then
//! send media between two "phones" on distinct loopback addresses and count
//! what crosses the relay.

use std::net::{IpAddr, SocketAddr, UdpSocket};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::bencode::{dict, Bencode};
use crate::ng::NgClient;
use crate::rtp::{self, MediaPair};

/// Caller's and callee's loopback addresses: distinct so that a packet's
/// source tells which phone (or which NAT alias of it) sent it.
pub const CALLER_IP: &str = "127.1.0.1";
pub const CALLEE_IP: &str = "127.2.0.1";

/// A one-stream PCMU audio SDP as a phone at `ip:port` would send it.
pub fn sdp(ip: &str, port: u16) -> String {
    format!(
        "v=0\r\no=- 1545997027 1 IN IP4 {ip}\r\ns=tester\r\nc=IN IP4 {ip}\r\nt=0 0\r\n\
         m=audio {port} RTP/AVP 0 101\r\na=rtpmap:0 PCMU/8000\r\n\
         a=rtpmap:101 telephone-event/8000\r\na=sendrecv\r\n"
    )
}

/// The media address an SDP advertises: its first `c=` line (session or media
/// level, whichever comes first is enough for our one-stream SDPs) and the
/// port of its first `m=` line.
pub fn sdp_media_addr(sdp: &str) -> Option<SocketAddr> {
    let mut ip: Option<IpAddr> = None;
    let mut port: Option<u16> = None;
    for line in sdp.lines() {
        let line = line.trim_end();
        if let Some(c) = line
            .strip_prefix("c=IN IP4 ")
            .or(line.strip_prefix("c=IN IP6 "))
        {
            ip = ip.or(c.trim().parse().ok());
        } else if let Some(m) = line.strip_prefix("m=") {
            port = port.or(m.split(' ').nth(1).and_then(|p| p.parse().ok()));
        }
    }
    Some(SocketAddr::new(ip?, port?))
}

/// The `a=rtcp:` port of an SDP, if any.
pub fn sdp_rtcp_port(sdp: &str) -> Option<u16> {
    sdp.lines()
        .find_map(|l| l.trim_end().strip_prefix("a=rtcp:"))
        .and_then(|v| v.split(' ').next())
        .and_then(|p| p.parse().ok())
}

/// Panics unless `reply` is `result: ok`, and returns its SDP.
pub fn ok_sdp(reply: &Bencode, what: &str) -> String {
    assert_eq!(reply.get_str("result"), Some("ok"), "{what}: {reply:?}");
    reply
        .get_str("sdp")
        .unwrap_or_else(|| panic!("{what}: reply has no sdp: {reply:?}"))
        .to_string()
}

/// An established two-party call.
pub struct Call {
    pub call_id: String,
    pub from_tag: String,
    pub to_tag: String,
    pub caller: MediaPair,
    pub callee: MediaPair,
    /// Where the caller sends media: the address in the answer's rewritten SDP.
    pub relay_for_caller: SocketAddr,
    /// Where the callee sends media: the address in the offer's rewritten SDP.
    pub relay_for_callee: SocketAddr,
    pub offer_sdp: String,
    pub answer_sdp: String,
}

/// Offer/answer for a call between phones bound on `caller_ip` and
/// `callee_ip`. `offer_extra`/`answer_extra` are added to the requests (e.g.
/// `flags`, `received-from`). The SDPs advertise the phones' own ports.
pub fn establish(
    client: &NgClient,
    call_id: &str,
    caller: MediaPair,
    callee: MediaPair,
    offer_extra: Vec<(&str, Bencode)>,
    answer_extra: Vec<(&str, Bencode)>,
) -> Call {
    let caller_ip = caller
        .rtp
        .local_addr()
        .expect("caller addr")
        .ip()
        .to_string();
    let callee_ip = callee
        .rtp
        .local_addr()
        .expect("callee addr")
        .ip()
        .to_string();
    let caller_sdp = sdp(&caller_ip, caller.rtp_port());
    let callee_sdp = sdp(&callee_ip, callee.rtp_port());
    establish_with_sdp(
        client,
        call_id,
        caller,
        callee,
        (&caller_sdp, offer_extra),
        (&callee_sdp, answer_extra),
    )
}

/// [`establish`] with explicit SDP bodies.
pub fn establish_with_sdp(
    client: &NgClient,
    call_id: &str,
    caller: MediaPair,
    callee: MediaPair,
    offer: (&str, Vec<(&str, Bencode)>),
    answer: (&str, Vec<(&str, Bencode)>),
) -> Call {
    let from_tag = format!("{call_id}-ft");
    let to_tag = format!("{call_id}-tt");
    let mut req = vec![
        ("command", Bencode::from("offer")),
        ("call-id", call_id.into()),
        ("from-tag", from_tag.as_str().into()),
        ("sdp", offer.0.into()),
    ];
    req.extend(offer.1);
    let offer_sdp = ok_sdp(&client.request(&dict(req)), "offer");
    let mut req = vec![
        ("command", Bencode::from("answer")),
        ("call-id", call_id.into()),
        ("from-tag", from_tag.as_str().into()),
        ("to-tag", to_tag.as_str().into()),
        ("sdp", answer.0.into()),
    ];
    req.extend(answer.1);
    let answer_sdp = ok_sdp(&client.request(&dict(req)), "answer");
    Call {
        call_id: call_id.to_string(),
        from_tag,
        to_tag,
        caller,
        callee,
        relay_for_caller: sdp_media_addr(&answer_sdp).expect("answer reply media address"),
        relay_for_callee: sdp_media_addr(&offer_sdp).expect("offer reply media address"),
        offer_sdp,
        answer_sdp,
    }
}

/// A fresh even/odd phone port pair on `ip`.
pub fn phone(ip: &str) -> MediaPair {
    MediaPair::bind(ip)
}

/// Sends `count` RTP packets (SSRC `ssrc`) from `from` to `to`, 5 ms apart.
pub fn send_rtp(from: &UdpSocket, to: SocketAddr, ssrc: u32, first_seq: u16, count: u16) {
    for i in 0..count {
        let seq = first_seq.wrapping_add(i);
        let pkt = rtp::rtp_packet(0, seq, u32::from(seq) * 160, ssrc, 160);
        from.send_to(&pkt, to).expect("send rtp");
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// Waits up to `wait` for datagrams on a non-blocking socket and returns them
/// with their sources; stops early once `want` have arrived.
pub fn collect(sock: &UdpSocket, want: usize, wait: Duration) -> Vec<(SocketAddr, Vec<u8>)> {
    let deadline = Instant::now() + wait;
    let mut got = Vec::new();
    loop {
        got.extend(rtp::drain(sock));
        if got.len() >= want || Instant::now() >= deadline {
            return got;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// How many of `got` are RTP packets with SSRC `ssrc` (the relay must not
/// change it without a flag asking for that).
pub fn count_ssrc(got: &[(SocketAddr, Vec<u8>)], ssrc: u32) -> usize {
    got.iter()
        .filter(|(_, p)| rtp::parse_rtp(p).is_some_and(|h| h.ssrc == ssrc))
        .count()
}

/// Per-direction counters of a [`Pump`].
#[derive(Default)]
pub struct Counters {
    pub sent: AtomicU64,
    /// Valid RTP with the sender's SSRC that arrived at the other phone.
    pub received: AtomicU64,
    /// Anything else that arrived at the other phone.
    pub junk: AtomicU64,
}

/// Final tallies of a [`Pump`], per direction.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Tally {
    pub sent: u64,
    pub received: u64,
    pub junk: u64,
}

impl Counters {
    fn tally(&self) -> Tally {
        Tally {
            sent: self.sent.load(Ordering::SeqCst),
            received: self.received.load(Ordering::SeqCst),
            junk: self.junk.load(Ordering::SeqCst),
        }
    }
}

pub const CALLER_SSRC: u32 = 0x1111_0001;
pub const CALLEE_SSRC: u32 = 0x2222_0002;

/// RTP flowing both ways in a background thread, one packet per direction
/// every 10 ms, from the phones' RTP sockets to the relay addresses of `call`.
pub struct Pump {
    stop: Arc<AtomicBool>,
    pub forward: Arc<Counters>,
    pub backward: Arc<Counters>,
    thread: Option<JoinHandle<()>>,
}

impl Pump {
    pub fn start(call: &Call) -> Pump {
        let a = call.caller.rtp.try_clone().expect("clone caller socket");
        let b = call.callee.rtp.try_clone().expect("clone callee socket");
        let (to_b, to_a) = (call.relay_for_caller, call.relay_for_callee);
        let stop = Arc::new(AtomicBool::new(false));
        let forward = Arc::new(Counters::default());
        let backward = Arc::new(Counters::default());
        let thread = {
            let (stop, fwd, bwd) = (stop.clone(), forward.clone(), backward.clone());
            std::thread::spawn(move || {
                let mut seq: u16 = 0;
                let tally = |sock: &UdpSocket, ssrc: u32, c: &Counters| {
                    for (_, p) in rtp::drain(sock) {
                        if rtp::parse_rtp(&p).is_some_and(|h| h.ssrc == ssrc) {
                            c.received.fetch_add(1, Ordering::SeqCst);
                        } else {
                            c.junk.fetch_add(1, Ordering::SeqCst);
                        }
                    }
                };
                while !stop.load(Ordering::SeqCst) {
                    let ts = u32::from(seq) * 160;
                    // Count before sending, so `sent` never lags `received`.
                    fwd.sent.fetch_add(1, Ordering::SeqCst);
                    let _ = a.send_to(&rtp::rtp_packet(0, seq, ts, CALLER_SSRC, 160), to_b);
                    bwd.sent.fetch_add(1, Ordering::SeqCst);
                    let _ = b.send_to(&rtp::rtp_packet(0, seq, ts, CALLEE_SSRC, 160), to_a);
                    seq = seq.wrapping_add(1);
                    std::thread::sleep(Duration::from_millis(10));
                    tally(&b, CALLER_SSRC, &fwd);
                    tally(&a, CALLEE_SSRC, &bwd);
                }
                // Let packets in flight arrive before the final count.
                std::thread::sleep(Duration::from_millis(300));
                tally(&b, CALLER_SSRC, &fwd);
                tally(&a, CALLEE_SSRC, &bwd);
            })
        };
        Pump {
            stop,
            forward,
            backward,
            thread: Some(thread),
        }
    }

    /// Current (forward, backward) tallies while running.
    pub fn snapshot(&self) -> (Tally, Tally) {
        (self.forward.tally(), self.backward.tally())
    }

    /// Waits until at least `n` packets crossed in each direction.
    pub fn wait_flowing(&self, n: u64, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            let (f, b) = self.snapshot();
            if f.received >= n && b.received >= n {
                return true;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        false
    }

    /// Stops sending, waits for stragglers, returns (forward, backward).
    pub fn stop(mut self) -> (Tally, Tally) {
        self.halt();
        self.snapshot()
    }

    fn halt(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for Pump {
    fn drop(&mut self) {
        self.halt();
    }
}

/// `query` for `call_id`.
pub fn query(client: &NgClient, call_id: &str) -> Bencode {
    client.request(&dict([
        ("command", Bencode::from("query")),
        ("call-id", call_id.into()),
    ]))
}

/// Sum of the RTP and RTCP `errors` counters in a `query` reply's totals.
pub fn total_errors(query: &Bencode) -> i64 {
    ["totals/RTP/errors", "totals/RTCP/errors"]
        .iter()
        .filter_map(|p| query.path(p).and_then(Bencode::int))
        .sum()
}

/// Whether `list` (with a generous limit) names `call_id`.
pub fn listed(client: &NgClient, call_id: &str) -> bool {
    let reply = client.request(&dict([
        ("command", Bencode::from("list")),
        ("limit", Bencode::from(1000)),
    ]));
    reply
        .get("calls")
        .and_then(Bencode::list)
        .is_some_and(|l| l.iter().any(|c| c.str() == Some(call_id)))
}

/// Skips an rtpengine-flavoured test when the oracle is not installed.
/// Returns `true` when the caller should return early.
pub fn skip_without_rtpengine(kind: crate::DaemonKind) -> bool {
    if kind == crate::DaemonKind::Rtpengine && !crate::daemon::rtpengine_available() {
        eprintln!("skipped: /usr/bin/rtpengine is not installed");
        return true;
    }
    false
}

/// A non-blocking UDP socket on `ip` at a kernel-chosen port (an extra phone
/// port, e.g. one named by `a=rtcp:`).
pub fn udp(ip: &str) -> UdpSocket {
    let s = UdpSocket::bind(rtp::sock_addr(ip, 0)).expect("bind udp");
    s.set_nonblocking(true).expect("non-blocking");
    s
}
