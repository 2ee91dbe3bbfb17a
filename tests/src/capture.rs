//! Per-call RTP endpoints for the end-to-end tests: the media half of the
//! sipp phones.
//!
//! sipp only does SIP. For every call leg its SDP advertises one UDP socket
//! bound here (handed to sipp through an injection file), and its scenario sends
//! us a notice datagram with the Call-ID and the address the relay put in the
//! SDP that leg received. From then on the leg streams G.711 RTP to that
//! address, and every datagram that arrives at any leg is recorded with its
//! source and SSRC.
//!
//! Counting at the receiving socket is what proves media flowed; the source
//! address proves it left through the relay's port and not straight from the
//! peer; one socket and one SSRC per leg tie every packet to its call. Every
//! datagram is also kept, for a test to compare with what was sent (after
//! unprotecting it, where the relay sent SRTP).

use std::collections::{HashMap, HashSet};
use std::io;
use std::net::{IpAddr, SocketAddr, UdpSocket};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// Which sipp instance a leg belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Side {
    Uac,
    Uas,
}

impl Side {
    fn tag(self) -> &'static str {
        match self {
            Side::Uac => "uac",
            Side::Uas => "uas",
        }
    }
}

/// One line from a scenario's `<exec>`:
/// `<uac|uas> <leg port> <call-id> <sdp c= address> <sdp m= port> [<name>=<value> ...]`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Notice {
    pub side: Side,
    /// The leg's own media port, as advertised in its SDP.
    pub leg_port: u16,
    pub call_id: String,
    /// Where the SDP this leg received says to send its RTP.
    pub remote: SocketAddr,
    /// Further facts the scenario extracted from that SDP, in order; a value
    /// is empty where the scenario's regexp did not match.
    pub attrs: Vec<(String, String)>,
}

impl Notice {
    pub fn parse(line: &str) -> Result<Notice, String> {
        let f: Vec<&str> = line.split_whitespace().collect();
        // A named field among the first five means an unmatched (empty)
        // positional one shifted the rest.
        let (Some([side, leg_port, call_id, addr, port]), named) = (
            f.get(..5).filter(|p| p.iter().all(|v| !v.contains('='))),
            f.get(5..),
        ) else {
            return Err(format!("notice needs 5 fields: {line:?}"));
        };
        let attrs = named
            .unwrap_or_default()
            .iter()
            .map(|a| {
                a.split_once('=')
                    .map(|(k, v)| (k.to_string(), v.to_string()))
                    .ok_or_else(|| format!("notice field {a:?} is not name=value: {line:?}"))
            })
            .collect::<Result<Vec<_>, _>>()?;
        let side = match *side {
            "uac" => Side::Uac,
            "uas" => Side::Uas,
            _ => return Err(format!("notice with unknown side: {line:?}")),
        };
        let leg_port = leg_port
            .parse()
            .map_err(|e| format!("notice leg port: {e}: {line:?}"))?;
        let ip: IpAddr = addr
            .parse()
            .map_err(|e| format!("notice address: {e}: {line:?}"))?;
        let port = port
            .parse()
            .map_err(|e| format!("notice port: {e}: {line:?}"))?;
        Ok(Notice {
            side,
            leg_port,
            call_id: call_id.to_string(),
            remote: SocketAddr::new(ip, port),
            attrs,
        })
    }

    /// The value of named field `name`, if the notice has it.
    pub fn attr(&self, name: &str) -> Option<&str> {
        self.attrs
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

/// The stream each leg sends once it knows where to: `packets` of 20 ms PCMU.
#[derive(Clone, Copy, Debug)]
pub struct StreamSpec {
    pub packets: u16,
    pub ptime: Duration,
}

/// PCMU at 8 kHz: 20 ms is 160 samples, one byte each.
const PCMU_SAMPLES: u32 = 160;
const RTP_HEADER: usize = 12;

/// What one leg sent and received.
#[derive(Debug)]
pub struct LegReport {
    pub side: Side,
    pub port: u16,
    /// The SSRC this leg sends with (unique per leg).
    pub ssrc: u32,
    /// Where it streamed to, if a notice for it arrived.
    pub sent_to: Option<SocketAddr>,
    pub sent: u16,
    pub send_errors: u32,
    /// Distinct RTP sequence numbers received, per (source, SSRC).
    pub received: HashMap<(SocketAddr, u32), HashSet<u16>>,
    /// Datagrams received in total, duplicates included.
    pub datagrams: u32,
    /// Every datagram received, with its source, in arrival order.
    pub arrived: Vec<(SocketAddr, Vec<u8>)>,
    /// Datagrams that were not RTP version 2.
    pub non_rtp: u32,
}

/// Everything the media thread saw, for the test to judge.
#[derive(Debug, Default)]
pub struct MediaReport {
    pub notices: Vec<Notice>,
    /// Notices that did not parse or named no leg of ours, or repeated one.
    pub bad_notices: Vec<String>,
    pub legs: Vec<LegReport>,
}

impl MediaReport {
    pub fn leg(&self, side: Side, port: u16) -> Option<&LegReport> {
        self.legs.iter().find(|l| l.side == side && l.port == port)
    }
}

struct Leg {
    report: LegReport,
    sock: UdpSocket,
    next_due: Instant,
    /// What goes on the wire instead of [`stream_packet`]s, one datagram per
    /// packet of the stream.
    wire: Option<Vec<Vec<u8>>>,
}

/// Bound sockets, not yet streaming: bind first, so that their ports can go
/// into the sipp injection files before sipp starts.
pub struct MediaEndpoints {
    legs: Vec<Leg>,
    notify: UdpSocket,
}

impl MediaEndpoints {
    /// Binds `per_side` legs for each side on `ip`, plus the notice socket on
    /// 127.0.0.1 (the scenarios send notices there whatever the SIP family).
    pub fn bind(ip: IpAddr, per_side: usize) -> io::Result<MediaEndpoints> {
        let mut legs = Vec::with_capacity(2 * per_side);
        for side in [Side::Uac, Side::Uas] {
            for _ in 0..per_side {
                let sock = UdpSocket::bind(SocketAddr::new(ip, 0))?;
                sock.set_nonblocking(true)?;
                let port = sock.local_addr()?.port();
                // The port makes the SSRC unique per leg; the top bit tells the
                // sides apart in a packet dump.
                let ssrc =
                    0x5000_0000 | u32::from(port) | if side == Side::Uas { 0x8000_0000 } else { 0 };
                legs.push(Leg {
                    report: LegReport {
                        side,
                        port,
                        ssrc,
                        sent_to: None,
                        sent: 0,
                        send_errors: 0,
                        received: HashMap::new(),
                        datagrams: 0,
                        arrived: Vec::new(),
                        non_rtp: 0,
                    },
                    sock,
                    next_due: Instant::now(),
                    wire: None,
                });
            }
        }
        let notify = UdpSocket::bind("127.0.0.1:0")?;
        notify.set_nonblocking(true)?;
        Ok(MediaEndpoints { legs, notify })
    }

    /// The media ports of one side, in binding order.
    pub fn ports(&self, side: Side) -> Vec<u16> {
        self.legs
            .iter()
            .filter(|l| l.report.side == side)
            .map(|l| l.report.port)
            .collect()
    }

    /// The SSRC leg `port` of `side` sends with.
    pub fn ssrc(&self, side: Side, port: u16) -> Option<u32> {
        self.legs
            .iter()
            .find(|l| l.report.side == side && l.report.port == port)
            .map(|l| l.report.ssrc)
    }

    /// Makes leg `port` of `side` send `wire` instead of its plain stream:
    /// one datagram per packet of the stream, in order (e.g. its SRTP form,
    /// protected before the calls so that no crypto runs on the stream's
    /// clock). [`start`](Self::start) panics unless there is one per packet.
    pub fn send_instead(&mut self, side: Side, port: u16, wire: Vec<Vec<u8>>) {
        let leg = self
            .legs
            .iter_mut()
            .find(|l| l.report.side == side && l.report.port == port)
            .unwrap_or_else(|| panic!("no {side} leg on port {port}"));
        leg.wire = Some(wire);
    }

    /// Where the scenarios must send their notices.
    pub fn notify_port(&self) -> u16 {
        self.notify.local_addr().map(|a| a.port()).unwrap_or(0)
    }

    /// Starts the media thread: it streams on every leg as its notice arrives
    /// and records what every leg receives, until [`MediaRun::finish`].
    pub fn start(self, spec: StreamSpec) -> MediaRun {
        for leg in &self.legs {
            if let Some(wire) = &leg.wire {
                assert_eq!(
                    wire.len(),
                    usize::from(spec.packets),
                    "{} leg {}: datagrams to send instead of its stream",
                    leg.report.side,
                    leg.report.port
                );
            }
        }
        let stop = Arc::new(AtomicBool::new(false));
        let stop2 = Arc::clone(&stop);
        let handle = std::thread::Builder::new()
            .name("e2e-media".into())
            .spawn(move || self.run(spec, &stop2))
            .expect("spawn media thread");
        MediaRun {
            stop,
            handle: Some(handle),
        }
    }

    fn run(mut self, spec: StreamSpec, stop: &AtomicBool) -> MediaReport {
        // A tick well under the ptime keeps the streams' pacing close to real
        // time without a poll loop; sockets queue whatever arrives meanwhile.
        const TICK: Duration = Duration::from_millis(4);
        let index: HashMap<(Side, u16), usize> = self
            .legs
            .iter()
            .enumerate()
            .map(|(i, l)| ((l.report.side, l.report.port), i))
            .collect();
        let mut report = MediaReport::default();
        let mut active: Vec<usize> = Vec::new();
        let mut buf = [0u8; 2048];
        while !stop.load(Ordering::Relaxed) {
            while let Ok(n) = self.notify.recv(&mut buf) {
                let line = String::from_utf8_lossy(&buf[..n]).into_owned();
                match Notice::parse(&line) {
                    Ok(notice) => match index.get(&(notice.side, notice.leg_port)) {
                        Some(&i) if self.legs[i].report.sent_to.is_none() => {
                            self.legs[i].report.sent_to = Some(notice.remote);
                            self.legs[i].next_due = Instant::now();
                            active.push(i);
                            report.notices.push(notice);
                        }
                        Some(_) => report.bad_notices.push(format!("repeated: {line}")),
                        None => report.bad_notices.push(format!("no such leg: {line}")),
                    },
                    Err(e) => report.bad_notices.push(e),
                }
            }
            let now = Instant::now();
            for &i in &active {
                let leg = &mut self.legs[i];
                while leg.report.sent < spec.packets && leg.next_due <= now {
                    leg.send_next();
                    leg.next_due += spec.ptime;
                }
                leg.drain(&mut buf);
            }
            std::thread::sleep(TICK);
        }
        // Legs whose own notice never came may still have been sent to.
        for leg in &mut self.legs {
            leg.drain(&mut buf);
        }
        report.legs = self.legs.into_iter().map(|l| l.report).collect();
        report
    }
}

impl Leg {
    fn send_next(&mut self) {
        let Some(dest) = self.report.sent_to else {
            return;
        };
        let seq = self.report.sent;
        let plain;
        let pkt = match &self.wire {
            Some(wire) => &wire[usize::from(seq)],
            None => {
                plain = stream_packet(self.report.ssrc, seq);
                &plain
            }
        };
        match self.sock.send_to(pkt, dest) {
            Ok(_) => {}
            Err(_) => self.report.send_errors += 1,
        }
        self.report.sent += 1;
    }

    fn drain(&mut self, buf: &mut [u8]) {
        loop {
            match self.sock.recv_from(buf) {
                Ok((n, from)) => {
                    self.report.datagrams += 1;
                    self.report.arrived.push((from, buf[..n].to_vec()));
                    match rtp_ssrc_seq(&buf[..n]) {
                        Some((ssrc, seq)) => {
                            self.report
                                .received
                                .entry((from, ssrc))
                                .or_default()
                                .insert(seq);
                        }
                        None => self.report.non_rtp += 1,
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                // An ICMP error surfacing on the socket: nothing was received.
                Err(_) => {}
            }
        }
    }
}

/// Packet `seq` of the stream a leg with `ssrc` sends, as plain RTP.
pub fn stream_packet(ssrc: u32, seq: u16) -> Vec<u8> {
    rtp_pcmu(ssrc, seq, seq == 0)
}

/// One 20 ms PCMU packet (RFC 3550 5.1 header, RFC 3551 PT 0), payload silence.
/// Sequence numbers start at 0 so that the receiver's count is easy to read;
/// the marker bit flags the start of the talkspurt.
fn rtp_pcmu(ssrc: u32, seq: u16, marker: bool) -> Vec<u8> {
    let mut pkt = Vec::with_capacity(RTP_HEADER + PCMU_SAMPLES as usize);
    pkt.push(0x80); // V=2, no padding, extension or CSRCs
    pkt.push(if marker { 0x80 } else { 0x00 }); // PT 0 = PCMU
    pkt.extend_from_slice(&seq.to_be_bytes());
    pkt.extend_from_slice(&(u32::from(seq) * PCMU_SAMPLES).to_be_bytes());
    pkt.extend_from_slice(&ssrc.to_be_bytes());
    pkt.resize(RTP_HEADER + PCMU_SAMPLES as usize, 0xff); // mu-law silence
    pkt
}

/// SSRC and sequence number of an RTP packet, or `None` if it is not RTP v2.
pub fn rtp_ssrc_seq(pkt: &[u8]) -> Option<(u32, u16)> {
    if pkt.len() < RTP_HEADER || pkt[0] >> 6 != 2 {
        return None;
    }
    let seq = u16::from_be_bytes([pkt[2], pkt[3]]);
    let ssrc = u32::from_be_bytes([pkt[8], pkt[9], pkt[10], pkt[11]]);
    Some((ssrc, seq))
}

/// The running media thread. Dropping it stops the thread too.
pub struct MediaRun {
    stop: Arc<AtomicBool>,
    handle: Option<JoinHandle<MediaReport>>,
}

impl MediaRun {
    /// Stops streaming, collects what is still queued on the sockets and
    /// returns the report.
    pub fn finish(mut self) -> MediaReport {
        self.stop.store(true, Ordering::Relaxed);
        self.handle
            .take()
            .expect("finish runs once")
            .join()
            .expect("media thread panicked")
    }
}

impl Drop for MediaRun {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(h) = self.handle.take() {
            let _ = h.join();
        }
    }
}

impl std::fmt::Display for Side {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.tag())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn notice_parses_v4_and_v6() {
        let n = Notice::parse("uac 40001 1-16056@127.0.0.1 127.0.0.5 35288\n").unwrap();
        assert_eq!(n.side, Side::Uac);
        assert_eq!(n.leg_port, 40001);
        assert_eq!(n.call_id, "1-16056@127.0.0.1");
        assert_eq!(n.remote, "127.0.0.5:35288".parse().unwrap());
        let n = Notice::parse("uas 41001 7-1@[::1] ::1 22010").unwrap();
        assert_eq!(n.side, Side::Uas);
        assert_eq!(n.remote, "[::1]:22010".parse().unwrap());
        assert!(n.attrs.is_empty());
    }

    #[test]
    fn notice_named_fields_may_be_empty() {
        let n = Notice::parse("uac 40001 1-1@h 127.0.0.5 35288 proto=RTP/SAVP crypto= key=a+/b=")
            .unwrap();
        assert_eq!(n.attr("proto"), Some("RTP/SAVP"));
        assert_eq!(n.attr("crypto"), Some(""));
        assert_eq!(n.attr("key"), Some("a+/b="));
        assert_eq!(n.attr("suite"), None);
    }

    #[test]
    fn notice_rejects_unfilled_sipp_variables() {
        // sipp leaves an unset variable empty, shifting the fields.
        assert!(Notice::parse("uac 40001 1-1@127.0.0.1  35288").is_err());
        assert!(Notice::parse("xyz 40001 1-1@127.0.0.1 127.0.0.5 35288").is_err());
        assert!(Notice::parse("uac 40001 1-1@127.0.0.1  35288 proto=RTP/AVP").is_err());
        assert!(Notice::parse("uac 40001 1-1@h 127.0.0.5 35288 RTP/AVP").is_err());
    }

    #[test]
    fn rtp_round_trip() {
        let pkt = rtp_pcmu(0x5000_1234, 7, false);
        assert_eq!(pkt.len(), 172);
        assert_eq!(rtp_ssrc_seq(&pkt), Some((0x5000_1234, 7)));
        assert_eq!(rtp_ssrc_seq(b"not rtp at all"), None);
    }

    #[test]
    fn legs_exchange_through_a_plain_forwarder() {
        // Self-check of the counting without any relay: point each leg at the
        // other directly; each must see the other's full stream.
        let mut media = MediaEndpoints::bind("127.0.0.1".parse().unwrap(), 1).unwrap();
        let (uac, uas) = (media.ports(Side::Uac)[0], media.ports(Side::Uas)[0]);
        let notify = media.notify_port();
        // The UAS leg sends a stand-in for a protected stream.
        let uas_ssrc = media.ssrc(Side::Uas, uas).unwrap();
        let wire: Vec<Vec<u8>> = (0..5)
            .map(|seq| {
                let mut p = stream_packet(uas_ssrc, seq);
                p.push(0xaa);
                p
            })
            .collect();
        media.send_instead(Side::Uas, uas, wire.clone());
        let run = media.start(StreamSpec {
            packets: 5,
            ptime: Duration::from_millis(2),
        });
        let tx = UdpSocket::bind("127.0.0.1:0").unwrap();
        for (side, me, peer) in [("uac", uac, uas), ("uas", uas, uac)] {
            let line = format!("{side} {me} c1@x 127.0.0.1 {peer}");
            tx.send_to(line.as_bytes(), ("127.0.0.1", notify)).unwrap();
        }
        std::thread::sleep(Duration::from_millis(200));
        let report = run.finish();
        assert!(report.bad_notices.is_empty(), "{:?}", report.bad_notices);
        let a = report.leg(Side::Uac, uac).unwrap();
        let b = report.leg(Side::Uas, uas).unwrap();
        let key = |port: u16, ssrc: u32| (SocketAddr::from(([127, 0, 0, 1], port)), ssrc);
        assert_eq!(a.received[&key(uas, b.ssrc)].len(), 5);
        assert_eq!(b.received[&key(uac, a.ssrc)].len(), 5);
        let arrived =
            |l: &LegReport| -> Vec<Vec<u8>> { l.arrived.iter().map(|(_, d)| d.clone()).collect() };
        assert_eq!(arrived(a), wire);
        let plain: Vec<Vec<u8>> = (0..5).map(|seq| stream_packet(a.ssrc, seq)).collect();
        assert_eq!(arrived(b), plain);
    }
}
