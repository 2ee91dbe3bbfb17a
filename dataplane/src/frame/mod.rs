//! The packet function for kernel-bypass backends (DPDK now, AF_XDP later): raw Ethernet
//! frames in buffers with headroom, given verdicts in a batch, forwarded ones rewritten in
//! place. Sans-IO: no DPDK or XDP type appears here; a backend wraps its mbufs or UMEM
//! chunks in [`Frame`]s, calls [`FrameProcessor::process`] and acts on each verdict.
//! A frame is one contiguous buffer: a backend hands multi-segment frames to the kernel
//! itself, and re-inserts a VLAN tag its NIC stripped (the rewrite keeps the tag that is
//! in the frame, none if stripped).
//!
//! The media policy is the same code the sockets path runs (`crate::policy`): this module
//! only turns a frame into (local address, source address, UDP payload) for it, and a
//! Forward verdict into a rewritten frame. What is not media for us goes to the kernel
//! unchanged (see [`parse`](mod@parse) for exactly what, and what is dropped as malformed):
//!
//! | frame | verdict | counted in [`WorkerCounters`] |
//! |---|---|---|
//! | not IPv4/IPv6 UDP, IP fragment, UDP to another MAC | Kernel | `to_kernel` |
//! | UDP with no flow entry, STUN/DTLS, source mismatch with policy Punt | Kernel | `punted` |
//! | forward whose next hop's MAC is unknown | Kernel | `punted`, `no_neighbour` |
//! | IPv4→IPv6 forward without 20 bytes of headroom | Kernel | `punted`, `no_headroom` |
//! | forward longer than the MTU (IPv4→IPv6 adds 20 bytes) | Kernel | `punted`, `over_mtu` |
//! | forward | Transmit (rewritten) | `forwarded` |
//! | SRTP forward (keys in the entry): decrypted and/or encrypted in place ([`crate::srtp`]) | Transmit | `forwarded` |
//! | SRTP whose tag or MKI does not verify / replayed | Drop | `dropped_srtp_auth` / `dropped_srtp_replay` |
//! | SRTP entry whose keys are unreadable or unusable | Kernel (unchanged) | `punted` |
//! | blackhole, strict source mismatch | Drop | `dropped_policy` |
//! | broken header or checksum; RTP/RTCP-port garbage | Drop(Malformed) | `dropped_malformed` (`checksum_errors`) |
//!
//! Every frame is in exactly one of `forwarded`, `punted`, `to_kernel`, `dropped_*`;
//! `rx_bytes`/`forwarded_bytes` count Ethernet frame bytes (received and sent lengths),
//! while the flow table's per-entry `bytes` count UDP payload, as on the sockets path.
//! Punted frames are not counted on their entry: the control plane relays and counts
//! them.
//!
//! Per frame: no allocation, lock, syscall or panic. Each worker learns its neighbour
//! table ([`neighbour`]) from the frames it receives; a backend with several queues
//! passes what one worker learns to the others ([`FrameProcessor::drain_learned`],
//! [`FrameProcessor::learn_neighbour`]), since RSS sends a peer's frames and the forwards
//! to it to different workers.

pub mod arp;
pub mod checksum;
pub mod error;
pub mod ethernet;
pub mod ipv4;
pub mod ipv6;
pub mod neighbour;
pub mod parse;
pub mod rewrite;
pub mod udp;

#[cfg(test)]
mod testing;

use core::time::Duration;
use std::net::{IpAddr, SocketAddr};

use shared_tables::TableReader;

use crate::batch::{DropReason, Verdict};
use crate::counters::WorkerCounters;
use crate::policy::{BatchPolicy, EntryCount};
use crate::srtp::{SrtpOutcome, SrtpStage};
use checksum::sum as payload_checksum;

pub use error::{FrameError, Layer};
pub use ethernet::Mac;
pub use neighbour::NeighbourTable;
pub use parse::{parse, ParsedFrame, UdpFrame};
pub use rewrite::{rewrite, UdpFrameRepr};

/// One received frame inside a buffer with headroom (DPDK mbuf / AF_XDP UMEM chunk).
pub struct Frame<'a> {
    /// The whole buffer: headroom + frame + tailroom.
    pub buf: &'a mut [u8],
    /// Where the frame starts in `buf`.
    pub off: usize,
    /// Frame length.
    pub len: usize,
    /// Pending until [`FrameProcessor::process`] sets it.
    pub verdict: FrameVerdict,
}

impl<'a> Frame<'a> {
    /// A received frame at `buf[off..off + len]`, verdict Pending.
    #[inline]
    pub fn new(buf: &'a mut [u8], off: usize, len: usize) -> Frame<'a> {
        Frame {
            buf,
            off,
            len,
            verdict: FrameVerdict::Pending,
        }
    }

    /// The frame's bytes (empty if `off`/`len` do not fit the buffer).
    #[inline]
    pub fn data(&self) -> &[u8] {
        self.off
            .checked_add(self.len)
            .and_then(|end| self.buf.get(self.off..end))
            .unwrap_or(&[])
    }
}

/// What the backend does with a frame after [`FrameProcessor::process`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FrameVerdict {
    /// Not processed yet.
    Pending,
    /// Rewritten in place: send buf[off..off+len] out of the port it came in on.
    Transmit,
    /// Not ours: hand the frame unchanged to the kernel (exception TAP / XDP_PASS). Media
    /// among these (punted) reach the control plane through its kernel sockets.
    Kernel,
    /// Free the buffer.
    Drop(DropReason),
}

/// Neighbour table slots per worker when nothing else is configured: 64 Ki × 32 bytes.
pub const DEFAULT_NEIGHBOUR_CAPACITY: usize = 1 << 16;

/// IPv4 TTL / IPv6 hop limit of forwarded frames: the Linux defaults
/// (`net.ipv4.ip_default_ttl`, `net.ipv6.conf.*.hop_limit`), as the kernel path would send.
pub const HOP_LIMIT: u8 = 64;

/// The Ethernet MTU (RFC 894), until [`FrameProcessor::set_mtu`] says otherwise.
pub const DEFAULT_MTU: usize = 1500;

/// Per-port settings of the frame path.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FrameConfig {
    /// The port's MAC: frames to other MACs are not for us, and rewritten frames come
    /// from it.
    pub mac: [u8; 6],
    /// Neighbour table slots (rounded up to a power of two; see [`NeighbourTable::new`]).
    pub neighbour_capacity: usize,
}

/// Per-worker state: neighbour table, scratch; no allocation per packet.
pub struct FrameProcessor {
    mac: Mac,
    neighbours: NeighbourTable,
    mtu: usize,
    srtp: SrtpStage,
}

/// What became of one frame, finer than its verdict (for the counters).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Outcome {
    Transmit,
    /// For the control plane, through the kernel.
    Punt,
    /// Not media for us: the kernel's.
    NotMedia,
    Drop(DropReason),
}

impl FrameProcessor {
    /// Allocates the neighbour table; nothing is allocated after this.
    pub fn new(cfg: FrameConfig) -> FrameProcessor {
        FrameProcessor {
            mac: cfg.mac,
            neighbours: NeighbourTable::new(cfg.neighbour_capacity),
            mtu: DEFAULT_MTU,
            srtp: SrtpStage::default(),
        }
    }

    /// The port's MTU (largest IP packet sent), [`DEFAULT_MTU`] unless set. A forward
    /// whose IP packet would be longer (IPv4 in, IPv6 out adds 20 bytes) goes to the
    /// control plane instead, whose kernel socket fragments it.
    pub fn set_mtu(&mut self, mtu: usize) {
        self.mtu = mtu;
    }

    /// The port's MAC.
    pub fn mac(&self) -> Mac {
        self.mac
    }

    /// The learned neighbours.
    pub fn neighbours(&self) -> &NeighbourTable {
        &self.neighbours
    }

    /// Adds a neighbour learned elsewhere: from another worker's
    /// [`drain_learned`](Self::drain_learned), or from the kernel's neighbour table at
    /// start-up so the first packets to known peers need not go through the kernel.
    pub fn learn_neighbour(&mut self, ip: IpAddr, mac: Mac, now: Duration) -> bool {
        mac != self.mac && self.neighbours.insert(ip, mac, now)
    }

    /// Neighbours this worker learned or saw change since the last call, for the backend
    /// to pass to its other workers' [`learn_neighbour`](Self::learn_neighbour): with
    /// several queues, the frames that teach a peer's MAC and the forwards that need it
    /// usually reach different workers. Call between batches (e.g. once per batch).
    pub fn drain_learned(&mut self) -> impl Iterator<Item = (IpAddr, Mac)> + '_ {
        self.neighbours.drain_changes()
    }

    /// Gives every frame a verdict (rewriting forwarded ones in place, updating off/len),
    /// counts into `counters` and into the table's per-entry counters like
    /// [`crate::process()`] does. `now` is CLOCK_MONOTONIC, stamped once per batch.
    pub fn process(
        &mut self,
        frames: &mut [Frame<'_>],
        table: &TableReader,
        counters: &mut WorkerCounters,
        now: Duration,
    ) {
        let mut policy = BatchPolicy::new(table, now);
        for f in frames.iter_mut() {
            let rx_len = f.len;
            let outcome = self.frame(f, table, &mut policy, counters, now);
            f.verdict = match outcome {
                Outcome::Transmit => FrameVerdict::Transmit,
                Outcome::Punt | Outcome::NotMedia => FrameVerdict::Kernel,
                Outcome::Drop(r) => FrameVerdict::Drop(r),
            };
            counters.rx_packets += 1;
            counters.rx_bytes += rx_len as u64;
            match outcome {
                Outcome::Transmit => {
                    counters.forwarded += 1;
                    counters.forwarded_bytes += f.len as u64;
                }
                Outcome::Punt => counters.punted += 1,
                Outcome::NotMedia => counters.to_kernel += 1,
                Outcome::Drop(DropReason::Malformed) => counters.dropped_malformed += 1,
                Outcome::Drop(DropReason::Blackhole | DropReason::SourceMismatch) => {
                    counters.dropped_policy += 1
                }
                Outcome::Drop(DropReason::SrtpAuth) => counters.dropped_srtp_auth += 1,
                Outcome::Drop(DropReason::SrtpReplay) => counters.dropped_srtp_replay += 1,
            }
        }
        policy.finish();
        self.srtp.publish(table);
        counters.batches += 1;
    }

    #[inline]
    fn learn(&mut self, ip: IpAddr, mac: Mac, now: Duration) {
        // Our own MAC as a source is a loop or a spoof; never a next hop.
        if mac != self.mac {
            self.neighbours.learn(ip, mac, now);
        }
    }

    #[inline]
    fn frame(
        &mut self,
        f: &mut Frame<'_>,
        table: &TableReader,
        policy: &mut BatchPolicy<'_>,
        counters: &mut WorkerCounters,
        now: Duration,
    ) -> Outcome {
        // Matched by reference: moving the ~100-byte UdpFrame out cost more than the rest
        // of the match.
        let parsed = parse(f.data());
        let rx = match &parsed {
            Ok(ParsedFrame::Udp(u)) => u,
            &Ok(ParsedFrame::Arp {
                sender_ip,
                sender_mac,
            }) => {
                self.learn(IpAddr::V4(sender_ip), sender_mac, now);
                return Outcome::NotMedia;
            }
            &Ok(ParsedFrame::OtherIp { src, src_mac }) => {
                self.learn(src, src_mac, now);
                return Outcome::NotMedia;
            }
            Ok(ParsedFrame::Other) => return Outcome::NotMedia,
            Err(e) => {
                if matches!(e, FrameError::Checksum { .. }) {
                    counters.checksum_errors += 1;
                }
                return Outcome::Drop(DropReason::Malformed);
            }
        };
        self.learn(rx.src.ip(), rx.src_mac, now);
        if rx.dst_mac != self.mac {
            return Outcome::NotMedia;
        }
        let payload = f.data().get(rx.payload()).unwrap_or(&[]);
        let d = policy.decide(rx.dst, rx.src, payload, false);
        let mut srtp_dropped = false;
        let outcome = match d.verdict {
            Verdict::Forward { dst, src, tos } => {
                match self.next_hop(f, rx, (dst, src, tos), growth(&d), counters) {
                    Err(punt) => punt,
                    Ok(out) => match d.srtp {
                        None => self.rewrite(f, rx, &out, counters),
                        Some(step) => {
                            let start = f.off + rx.payload_off;
                            let buf = f.buf.get_mut(start..).unwrap_or(&mut []);
                            match self.srtp.apply(table, step, buf, rx.payload_len) {
                                SrtpOutcome::Forward(len) => {
                                    let sent = UdpFrame {
                                        payload_len: len,
                                        payload_sum: payload_checksum(
                                            buf.get(..len).unwrap_or(&[]),
                                        ),
                                        ..*rx
                                    };
                                    self.rewrite(f, &sent, &out, counters)
                                }
                                SrtpOutcome::Drop(r) => {
                                    srtp_dropped = true;
                                    Outcome::Drop(r)
                                }
                                SrtpOutcome::Punt => Outcome::Punt,
                            }
                        }
                    },
                }
            }
            Verdict::Drop(r) => Outcome::Drop(r),
            Verdict::Punt | Verdict::Pending => Outcome::Punt,
        };
        if let Some((id, count)) = d.entry {
            // A forward that fell back to the kernel is relayed and counted by the
            // control plane.
            let count = match outcome {
                Outcome::Punt => EntryCount::None,
                _ if srtp_dropped => EntryCount::Error,
                _ => count,
            };
            policy.count(id, count, rx.payload_len);
        }
        outcome
    }

    /// The outgoing headers towards `dst`, or why the frame goes to the control plane
    /// instead. Everything that could make the forward fall back to the kernel is checked
    /// here, before an SRTP transform changes the payload: the control plane must get the
    /// packet as it arrived. `growth` is what encryption may add to the payload.
    #[inline]
    fn next_hop(
        &self,
        f: &Frame<'_>,
        rx: &UdpFrame,
        (dst, src, tos): (SocketAddr, SocketAddr, u8),
        growth: usize,
        counters: &mut WorkerCounters,
    ) -> Result<UdpFrameRepr, Outcome> {
        let Some(dst_mac) = self.neighbours.lookup(dst.ip()) else {
            counters.no_neighbour += 1;
            return Err(Outcome::Punt);
        };
        let out = UdpFrameRepr {
            dst_mac,
            src_mac: self.mac,
            vlan_tci: rx.vlan_tci,
            src,
            dst,
            tos,
            hop_limit: HOP_LIMIT,
        };
        let headers = out.header_len();
        let ip_len = headers - ethernet::header_len(rx.vlan_tci) + rx.payload_len + growth;
        if ip_len > self.mtu {
            counters.over_mtu += 1;
            return Err(Outcome::Punt);
        }
        if f.off + rx.payload_off < headers {
            counters.no_headroom += 1;
            return Err(Outcome::Punt);
        }
        Ok(out)
    }

    /// Writes `out`'s headers in front of `rx`'s payload.
    #[inline]
    fn rewrite(
        &self,
        f: &mut Frame<'_>,
        rx: &UdpFrame,
        out: &UdpFrameRepr,
        counters: &mut WorkerCounters,
    ) -> Outcome {
        match rewrite(f.buf, f.off, rx, out) {
            Ok((off, len)) => {
                f.off = off;
                f.len = len;
                Outcome::Transmit
            }
            Err(e) => {
                // next_hop checked headroom and length, and the table's writer refuses
                // mixed families; nothing is left that should fail here.
                if matches!(e, FrameError::Headroom { .. }) {
                    counters.no_headroom += 1;
                }
                Outcome::Punt
            }
        }
    }
}

/// The most SRTP adds to a payload: a 4-byte MKI and a 16-byte tag (AEAD suites); SRTCP
/// adds 4 more for its index.
pub const SRTP_GROWTH: usize = 24;

/// What a decision's SRTP step may add to the payload.
#[inline]
fn growth(d: &crate::policy::Decision) -> usize {
    match d.srtp {
        Some(step) if step.flags & shared_tables::FLOW_SRTP_OUT != 0 => SRTP_GROWTH,
        _ => 0,
    }
}

#[cfg(test)]
mod tests {
    use super::testing::{self, arp_reply, check, ping, udp_to_us, NEXT_HOP_MAC, OUR_MAC};
    use super::testing::{PEER_MAC, RTP};
    use super::*;
    use shared_tables::{
        FlowAction, FlowCounters, FlowKey, FlowTable, SrcMismatch, TableWriter, FLOW_BLACKHOLE,
    };
    use std::net::Ipv4Addr;

    const HEADROOM: usize = 128;
    const NOW: Duration = Duration::from_secs(100);
    /// Our media port, the peer sending to it, and where the flow forwards to.
    const LOCAL: &str = "192.0.2.1:30000";
    const PEER: &str = "192.0.2.2:5004";
    const FWD_DST: &str = "198.51.100.7:6000";
    const FWD_SRC: &str = "192.0.2.1:30002";
    /// STUN binding request header (RFC 5389 §6, magic cookie).
    const STUN: [u8; 20] = [
        0, 1, 0, 0, 0x21, 0x12, 0xa4, 0x42, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12,
    ];

    fn sa(s: &str) -> SocketAddr {
        s.parse().unwrap()
    }

    fn action() -> FlowAction {
        FlowAction {
            dst: sa(FWD_DST),
            src: sa(FWD_SRC),
            expected_src: Some(sa(PEER)),
            src_mismatch: SrcMismatch::Drop,
            tos: 0xb8,
            flags: 0,
            stream_id: 1,
        }
    }

    const FWD_DST6: &str = "[2001:db8:1::7]:6000";

    /// The flow forwarding what arrives over IPv4 to an IPv6 peer.
    fn to_ipv6() -> FlowAction {
        FlowAction {
            dst: sa(FWD_DST6),
            src: sa("[2001:db8::1]:30002"),
            ..action()
        }
    }

    fn setup(a: FlowAction) -> (FlowTable, TableWriter) {
        let t = FlowTable::create(16).unwrap();
        let mut w = t.writer().unwrap();
        w.upsert(FlowKey::new(sa(LOCAL)), &a).unwrap();
        (t, w)
    }

    fn processor() -> FrameProcessor {
        FrameProcessor::new(FrameConfig {
            mac: OUR_MAC,
            neighbour_capacity: 64,
        })
    }

    /// A processor that knows the forward destination's next hop.
    fn processor_with_neighbour(dst: &str) -> FrameProcessor {
        let mut p = processor();
        assert!(p.learn_neighbour(sa(dst).ip(), NEXT_HOP_MAC, NOW));
        p
    }

    /// Runs `rx` frames through `p` (each in a buffer with `headroom`); returns verdicts,
    /// the frames as they are afterwards, and the counters.
    fn run_batch(
        p: &mut FrameProcessor,
        t: &FlowTable,
        rx: &[Vec<u8>],
        headroom: usize,
    ) -> (Vec<FrameVerdict>, Vec<Vec<u8>>, WorkerCounters) {
        let mut bufs: Vec<Vec<u8>> = rx
            .iter()
            .map(|f| {
                let mut b = vec![0; headroom];
                b.extend_from_slice(f);
                b.resize(b.len() + 64, 0);
                b
            })
            .collect();
        let mut frames: Vec<Frame<'_>> = bufs
            .iter_mut()
            .zip(rx)
            .map(|(b, f)| Frame::new(b, headroom, f.len()))
            .collect();
        let mut c = WorkerCounters::default();
        p.process(&mut frames, &t.reader(), &mut c, NOW);
        let out = frames.iter().map(|f| f.data().to_vec()).collect();
        (frames.iter().map(|f| f.verdict).collect(), out, c)
    }

    fn run(
        p: &mut FrameProcessor,
        t: &FlowTable,
        rx: Vec<u8>,
    ) -> (FrameVerdict, Vec<u8>, WorkerCounters) {
        let (v, f, c) = run_batch(p, t, &[rx], HEADROOM);
        (v[0], f[0].clone(), c)
    }

    fn entry(w: &TableWriter) -> FlowCounters {
        w.counters(&FlowKey::new(sa(LOCAL))).unwrap()
    }

    #[test]
    fn rtp_hit_is_rewritten_and_counted() {
        let (t, w) = setup(action());
        let mut p = processor_with_neighbour(FWD_DST);
        let rx = udp_to_us(PEER, LOCAL, &RTP);
        let (v, tx, c) = run(&mut p, &t, rx.clone());
        assert_eq!(v, FrameVerdict::Transmit);
        let got = check(&tx);
        assert_eq!(
            (got.src, got.dst, got.tos),
            (sa(FWD_SRC), sa(FWD_DST), 0xb8)
        );
        assert_eq!(
            (got.src_mac, got.dst_mac, got.payload),
            (OUR_MAC, NEXT_HOP_MAC, RTP.to_vec())
        );
        assert_eq!((c.rx_packets, c.rx_bytes), (1, rx.len() as u64));
        assert_eq!(
            (c.forwarded, c.forwarded_bytes, c.batches),
            (1, tx.len() as u64, 1)
        );
        let e = entry(&w);
        assert_eq!(
            (e.packets, e.bytes, e.last_packet),
            (1, RTP.len() as u64, Some(NOW))
        );
    }

    /// RTP→SRTP towards an IPv6 peer (payload grows, headers move into the headroom),
    /// then SRTP→RTP back, a tampered frame dropped and counted, and a forward whose next
    /// hop is unknown handed to the kernel with its payload untouched.
    #[test]
    fn srtp_bridging_in_frames() {
        use shared_tables::{FlowCrypto, SrtpKey, FLOW_SRTP_IN, FLOW_SRTP_OUT};
        use srtp::{MasterKey, RtpStreamState, SessionFlags, SrtpSession, SrtpSuite};
        let suite = SrtpSuite::AesCm128HmacSha1_80;
        let k = SrtpKey {
            suite: suite.to_id(),
            key: [9; 32],
            salt: [8; 14],
            ..SrtpKey::default()
        };
        let far_end = SrtpSession::new(
            &MasterKey::new(suite, &k.key[..16], &k.salt).unwrap(),
            SessionFlags::default(),
        )
        .unwrap();
        let t = FlowTable::create(16).unwrap();
        let mut w = t.writer().unwrap();
        let out = FlowCrypto {
            outbound: Some(k),
            ..FlowCrypto::default()
        };
        let a = FlowAction {
            flags: FLOW_SRTP_OUT,
            ..to_ipv6()
        };
        w.upsert_with_crypto(FlowKey::new(sa(LOCAL)), &a, &out)
            .unwrap();
        let mut p = processor_with_neighbour(FWD_DST6);
        let (v, tx, c) = run(&mut p, &t, udp_to_us(PEER, LOCAL, &RTP));
        assert_eq!((v, c.forwarded), (FrameVerdict::Transmit, 1));
        let got = check(&tx);
        assert_eq!(got.dst, sa(FWD_DST6));
        let mut srtp = got.payload.clone();
        let mut rx_state = RtpStreamState::default();
        let n = far_end.unprotect_rtp(&mut rx_state, &mut srtp).unwrap();
        assert_eq!(&srtp[..n], &RTP[..]);

        // the other way: SRTP in, RTP out; the far end sends
        let back = FlowCrypto {
            inbound: Some(k),
            ..FlowCrypto::default()
        };
        let a = FlowAction {
            flags: FLOW_SRTP_IN,
            expected_src: None,
            ..action()
        };
        w.upsert_with_crypto(FlowKey::new(sa(LOCAL)), &a, &back)
            .unwrap();
        let mut tx_state = RtpStreamState::default();
        let mut pkt = RTP.to_vec();
        pkt.resize(RTP.len() + 32, 0);
        let n = far_end
            .protect_rtp(&mut tx_state, &mut pkt, RTP.len())
            .unwrap();
        pkt.truncate(n);
        let mut tampered = pkt.clone();
        tampered[13] ^= 0x40;
        let mut p = processor_with_neighbour(FWD_DST);
        let (v, tx, c) = run_batch(
            &mut p,
            &t,
            // The forgery first: after the real one, the replay check would catch it.
            &[
                udp_to_us(PEER, LOCAL, &tampered),
                udp_to_us(PEER, LOCAL, &pkt),
            ],
            HEADROOM,
        );
        assert_eq!(
            v,
            [
                FrameVerdict::Drop(DropReason::SrtpAuth),
                FrameVerdict::Transmit,
            ]
        );
        assert_eq!(check(&tx[1]).payload, RTP.to_vec());
        assert_eq!((c.forwarded, c.dropped_srtp_auth), (1, 1));
        assert_eq!(
            w.srtp_counters(&FlowKey::new(sa(LOCAL)))
                .unwrap()
                .auth_failures,
            1
        );

        // no neighbour for the destination: the kernel gets the SRTP packet as it came
        let mut p = processor();
        let frame = udp_to_us(PEER, LOCAL, &pkt);
        let (v, tx, c) = run(&mut p, &t, frame.clone());
        assert_eq!((v, c.no_neighbour), (FrameVerdict::Kernel, 1));
        assert_eq!(tx, frame);
    }

    #[test]
    fn ipv6_in_ipv4_out_and_back() {
        let local6 = "[2001:db8::1]:30000";
        let t = FlowTable::create(16).unwrap();
        let mut w = t.writer().unwrap();
        w.upsert(
            FlowKey::new(sa(local6)),
            &FlowAction {
                expected_src: None,
                ..action()
            },
        )
        .unwrap();
        w.upsert(FlowKey::new(sa(LOCAL)), &to_ipv6()).unwrap();
        let mut p = processor_with_neighbour(FWD_DST);
        p.learn_neighbour(sa(FWD_DST6).ip(), NEXT_HOP_MAC, NOW);
        let rx6 = udp_to_us("[2001:db8::2]:5004", local6, &RTP);
        let rx4 = udp_to_us(PEER, LOCAL, &RTP);
        let (v, tx, _) = run_batch(&mut p, &t, &[rx6.clone(), rx4.clone()], HEADROOM);
        assert_eq!(v, [FrameVerdict::Transmit; 2]);
        assert_eq!(
            (check(&tx[0]).dst, tx[0].len()),
            (sa(FWD_DST), rx6.len() - 20)
        );
        assert_eq!(
            (check(&tx[1]).dst, tx[1].len()),
            (sa(FWD_DST6), rx4.len() + 20)
        );
        // without room for the longer header the control plane relays it
        let (v, tx, c) = run_batch(&mut p, &t, std::slice::from_ref(&rx4), 10);
        assert_eq!(
            (v[0], &tx[0], c.punted, c.no_headroom),
            (FrameVerdict::Kernel, &rx4, 1, 1)
        );
    }

    #[test]
    fn forwards_over_the_mtu_go_to_the_control_plane() {
        let (t, _w) = setup(to_ipv6());
        let mut p = processor_with_neighbour(FWD_DST6);
        // 1472 bytes of UDP payload: a full 1500-byte IPv4 packet, 1520 as IPv6
        let mut rtp = vec![0u8; 1472];
        rtp[..RTP.len()].copy_from_slice(&RTP);
        let rx = udp_to_us(PEER, LOCAL, &rtp);
        let (v, tx, c) = run(&mut p, &t, rx.clone());
        assert_eq!(
            (v, &tx, c.punted, c.over_mtu),
            (FrameVerdict::Kernel, &rx, 1, 1)
        );
        p.set_mtu(1520);
        assert_eq!(run(&mut p, &t, rx).0, FrameVerdict::Transmit);
    }

    #[test]
    fn unknown_neighbour_goes_to_the_kernel_until_learned() {
        let (t, w) = setup(action());
        let mut p = processor();
        let rx = udp_to_us(PEER, LOCAL, &RTP);
        let (v, tx, c) = run(&mut p, &t, rx.clone());
        assert_eq!(
            (v, &tx),
            (FrameVerdict::Kernel, &rx),
            "unchanged for the kernel"
        );
        assert_eq!((c.punted, c.no_neighbour, c.forwarded), (1, 1, 0));
        assert_eq!(
            entry(&w).packets,
            0,
            "the control plane counts what it relays"
        );
        // The kernel ARPs for the destination (here: its router); the reply passes by.
        let dst_ip = match sa(FWD_DST).ip() {
            IpAddr::V4(v4) => v4,
            IpAddr::V6(_) => unreachable!(),
        };
        let (v, _, c) = run(&mut p, &t, arp_reply(NEXT_HOP_MAC, dst_ip));
        assert_eq!((v, c.to_kernel), (FrameVerdict::Kernel, 1));
        let (v, tx, _) = run(&mut p, &t, rx);
        assert_eq!(v, FrameVerdict::Transmit);
        assert_eq!(check(&tx).dst_mac, NEXT_HOP_MAC);
        assert_eq!(entry(&w).packets, 1);
    }

    #[test]
    fn workers_share_what_they_learn() {
        let (t, _w) = setup(action());
        let (mut learner, mut forwarder) = (processor(), processor());
        let dst_ip: IpAddr = sa(FWD_DST).ip();
        let IpAddr::V4(dst4) = dst_ip else {
            unreachable!()
        };
        run(&mut learner, &t, arp_reply(NEXT_HOP_MAC, dst4));
        let learned: Vec<_> = learner.drain_learned().collect();
        assert!(learned.contains(&(dst_ip, NEXT_HOP_MAC)));
        for (ip, mac) in learned {
            forwarder.learn_neighbour(ip, mac, NOW);
        }
        let (v, _, _) = run(&mut forwarder, &t, udp_to_us(PEER, LOCAL, &RTP));
        assert_eq!(v, FrameVerdict::Transmit);
        // What was handed over is not handed on again.
        assert!(!forwarder.drain_learned().any(|(ip, _)| ip == dst_ip));
    }

    #[test]
    fn neighbours_are_learned_from_ip_traffic_but_not_from_broken_frames() {
        let (t, _w) = setup(action());
        let mut p = processor();
        let dst: Ipv4Addr = [198, 51, 100, 7].into();
        let mut bad = ping(NEXT_HOP_MAC, dst, [192, 0, 2, 1].into());
        bad[24] ^= 0xff; // IPv4 header checksum
        let (v, _, c) = run(&mut p, &t, bad);
        assert_eq!(
            (v, c.checksum_errors),
            (FrameVerdict::Drop(DropReason::Malformed), 1)
        );
        assert_eq!(p.neighbours().lookup(dst.into()), None);
        let (v, _, _) = run(&mut p, &t, ping(NEXT_HOP_MAC, dst, [192, 0, 2, 1].into()));
        assert_eq!(v, FrameVerdict::Kernel);
        assert_eq!(p.neighbours().lookup(dst.into()), Some(NEXT_HOP_MAC));
        // Frames from our own MAC teach nothing.
        run(&mut p, &t, ping(OUR_MAC, [192, 0, 2, 9].into(), dst));
        assert_eq!(p.neighbours().lookup([192, 0, 2, 9].into()), None);
    }

    #[test]
    fn misses_stun_and_punt_policy_go_to_the_kernel_unchanged() {
        let (t, w) = setup(FlowAction {
            src_mismatch: SrcMismatch::Punt,
            ..action()
        });
        let mut p = processor_with_neighbour(FWD_DST);
        let rx = [
            udp_to_us(PEER, "192.0.2.1:30004", &RTP),
            udp_to_us(PEER, LOCAL, &STUN),
            udp_to_us("192.0.2.3:5004", LOCAL, &RTP),
        ];
        let (v, tx, c) = run_batch(&mut p, &t, &rx, HEADROOM);
        assert_eq!(v, [FrameVerdict::Kernel; 3]);
        assert_eq!(tx, rx);
        assert_eq!((c.punted, c.to_kernel, c.no_neighbour), (3, 0, 0));
        assert_eq!(entry(&w), FlowCounters::default());
    }

    #[test]
    fn policy_drops_count_on_the_entry() {
        let (t, w) = setup(action());
        let mut p = processor_with_neighbour(FWD_DST);
        let (v, _, c) = run(&mut p, &t, udp_to_us("192.0.2.3:5004", LOCAL, &RTP));
        assert_eq!(
            (v, c.dropped_policy),
            (FrameVerdict::Drop(DropReason::SourceMismatch), 1)
        );
        let (v, _, c) = run(&mut p, &t, udp_to_us(PEER, LOCAL, &[0x40; 20]));
        assert_eq!(
            (v, c.dropped_malformed),
            (FrameVerdict::Drop(DropReason::Malformed), 1)
        );
        assert_eq!(c.checksum_errors, 0);
        assert_eq!((entry(&w).errors, entry(&w).packets), (2, 0));

        let (t, w) = setup(FlowAction {
            flags: FLOW_BLACKHOLE,
            ..action()
        });
        let (v, _, _) = run(&mut p, &t, udp_to_us(PEER, LOCAL, &RTP));
        assert_eq!(v, FrameVerdict::Drop(DropReason::Blackhole));
        assert_eq!(entry(&w).packets, 1);
    }

    #[test]
    fn not_media_goes_to_the_kernel() {
        let (t, w) = setup(action());
        let mut p = processor_with_neighbour(FWD_DST);
        let mut frag = udp_to_us(PEER, LOCAL, &RTP);
        frag[20] = 0x20; // More Fragments
        frag[24..26].fill(0);
        let c = super::checksum::finish(super::checksum::sum(&frag[14..34]));
        frag[24..26].copy_from_slice(&c.to_be_bytes());
        let (s, d) = (sa(PEER), sa(LOCAL));
        let rx = [
            frag,
            ping(PEER_MAC, [192, 0, 2, 2].into(), [192, 0, 2, 1].into()),
            testing::tcp6(sa("[2001:db8::2]:1"), sa("[2001:db8::1]:2")),
            testing::udp(PEER_MAC, [0xff; 6], None, s, d, &RTP),
            testing::udp(PEER_MAC, [2, 9, 9, 9, 9, 9], None, s, d, &RTP),
        ];
        let (v, tx, c) = run_batch(&mut p, &t, &rx, HEADROOM);
        assert_eq!(v, [FrameVerdict::Kernel; 5]);
        assert_eq!(tx, rx);
        assert_eq!((c.to_kernel, c.punted), (5, 0));
        assert_eq!(entry(&w), FlowCounters::default());
    }

    #[test]
    fn vlan_tag_is_kept() {
        let (t, _w) = setup(action());
        let mut p = processor_with_neighbour(FWD_DST);
        let rx = testing::udp(PEER_MAC, OUR_MAC, Some(42), sa(PEER), sa(LOCAL), &RTP);
        let (v, tx, _) = run(&mut p, &t, rx);
        assert_eq!(v, FrameVerdict::Transmit);
        assert_eq!(check(&tx).vlan_tci, Some(42));
    }

    #[test]
    fn every_truncation_is_dropped_or_the_kernels() {
        let (t, w) = setup(action());
        let mut p = processor_with_neighbour(FWD_DST);
        let rx = udp_to_us(PEER, LOCAL, &RTP);
        for n in 0..rx.len() {
            let (v, tx, c) = run(&mut p, &t, rx[..n].to_vec());
            assert_eq!(v, FrameVerdict::Drop(DropReason::Malformed), "{n}");
            assert_eq!((tx.len(), c.dropped_malformed), (n, 1));
        }
        assert_eq!(entry(&w), FlowCounters::default());
    }

    #[test]
    fn frame_outside_its_buffer_is_malformed() {
        let (t, _w) = setup(action());
        let mut p = processor();
        let mut buf = [0u8; 10];
        let mut frames = [
            Frame::new(&mut buf, 8, 3),
            Frame::new(&mut [], usize::MAX, 2),
        ];
        let mut c = WorkerCounters::default();
        p.process(&mut frames, &t.reader(), &mut c, NOW);
        assert!(frames
            .iter()
            .all(|f| f.verdict == FrameVerdict::Drop(DropReason::Malformed)));
        assert_eq!(c.dropped_malformed, 2);
    }

    #[test]
    fn mixed_batch_counts_add_up() {
        let (t, w) = setup(action());
        let mut p = processor_with_neighbour(FWD_DST);
        let mut bad_udp = udp_to_us(PEER, LOCAL, &RTP);
        *bad_udp.last_mut().unwrap() ^= 1;
        let rx = [
            udp_to_us(PEER, LOCAL, &RTP),
            udp_to_us(PEER, LOCAL, &RTP[..12]),
            arp_reply(PEER_MAC, [192, 0, 2, 2].into()),
            bad_udp,
            udp_to_us(PEER, "192.0.2.1:30004", &RTP),
            udp_to_us("192.0.2.3:5004", LOCAL, &RTP),
            udp_to_us(PEER, LOCAL, &RTP),
        ];
        let (v, _, c) = run_batch(&mut p, &t, &rx, HEADROOM);
        use FrameVerdict::*;
        assert_eq!(
            v,
            [
                Transmit,
                Transmit,
                Kernel,
                Drop(DropReason::Malformed),
                Kernel,
                Drop(DropReason::SourceMismatch),
                Transmit
            ]
        );
        assert_eq!(
            c.forwarded + c.punted + c.to_kernel + c.dropped_malformed + c.dropped_policy,
            c.rx_packets
        );
        assert_eq!(
            (c.rx_packets, c.forwarded, c.to_kernel, c.punted),
            (7, 3, 1, 1)
        );
        assert_eq!((c.checksum_errors, c.dropped_policy), (1, 1));
        let e = entry(&w);
        assert_eq!((e.packets, e.bytes, e.errors), (3, 16 + 12 + 16, 1));
    }
}
