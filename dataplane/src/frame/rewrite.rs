//! Turning a received UDP frame into the outgoing one in place.
//!
//! The UDP payload never moves; new Ethernet, IP and UDP headers are written directly in
//! front of it. When the outgoing IP header is longer than the received one (IPv4 in,
//! IPv6 out: 20 more bytes) the frame starts earlier, in the buffer's headroom (DPDK
//! mbufs have 128 bytes, AF_XDP chunks the configured headroom); when it is shorter
//! (IPv6 in, IPv4 out, or IPv4 options dropped) it starts later. Bytes after the UDP
//! payload (Ethernet padding) are not part of the outgoing frame.
//!
//! Checksums are computed in full from the new headers plus the payload's sum that
//! [`super::parse()`] kept from verifying the received checksum, so a rewrite never reads
//! the payload, costs the same for every payload length, and works across address
//! families and for received IPv4 datagrams without a checksum, where an incremental
//! update (RFC 1624) from the old checksum could not.

use std::net::SocketAddr;

use super::checksum::PROTO_UDP;
use super::error::{FrameError, Layer};
use super::ethernet::{self, Mac, ETHERTYPE_IPV4, ETHERTYPE_IPV6};
use super::parse::UdpFrame;
use super::{ipv4, ipv6, udp};

/// Everything in the headers of an outgoing UDP frame.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct UdpFrameRepr {
    /// Next hop.
    pub dst_mac: Mac,
    /// Our port's MAC.
    pub src_mac: Mac,
    /// 802.1Q TCI to tag with, if any.
    pub vlan_tci: Option<u16>,
    /// Our address and port to send from.
    pub src: SocketAddr,
    /// Where to send; same family as `src`.
    pub dst: SocketAddr,
    /// IPv4 TOS / IPv6 traffic class.
    pub tos: u8,
    /// IPv4 TTL / IPv6 hop limit.
    pub hop_limit: u8,
}

impl UdpFrameRepr {
    /// Ethernet + IP + UDP header length.
    #[inline]
    pub fn header_len(&self) -> usize {
        let ip = match self.dst {
            SocketAddr::V4(_) => ipv4::HEADER_LEN,
            SocketAddr::V6(_) => ipv6::HEADER_LEN,
        };
        ethernet::header_len(self.vlan_tci) + ip + udp::HEADER_LEN
    }

    /// Writes the headers in front of a payload already in `buf` at
    /// `payload_off..payload_off + payload_len`, whose folded sum is `payload_sum`
    /// ([`super::checksum::sum`]). Returns where the frame now starts. On error nothing
    /// has been written.
    pub fn emit_headers(
        &self,
        buf: &mut [u8],
        payload_off: usize,
        payload_len: usize,
        payload_sum: u16,
    ) -> Result<usize, FrameError> {
        let (ethertype, ip_len, ip_overhead) = match (self.src, self.dst) {
            (SocketAddr::V4(_), SocketAddr::V4(_)) => {
                // IPv4's total length covers its own header too.
                (ETHERTYPE_IPV4, ipv4::HEADER_LEN, ipv4::HEADER_LEN)
            }
            (SocketAddr::V6(_), SocketAddr::V6(_)) => (ETHERTYPE_IPV6, ipv6::HEADER_LEN, 0),
            _ => return Err(FrameError::FamilyMismatch),
        };
        let eth_len = ethernet::header_len(self.vlan_tci);
        let hl = eth_len + ip_len + udp::HEADER_LEN;
        let Some(start) = payload_off.checked_sub(hl) else {
            return Err(FrameError::Headroom {
                need: hl,
                have: payload_off,
            });
        };
        let have = buf
            .len()
            .saturating_sub(payload_off)
            .min(usize::from(u16::MAX) - udp::HEADER_LEN - ip_overhead);
        if payload_off > buf.len() || payload_len > have {
            return Err(FrameError::Length {
                layer: Layer::Udp,
                field: payload_len,
                have,
            });
        }
        let udp_len = (udp::HEADER_LEN + payload_len) as u16;
        let (eth, rest) = buf[start..payload_off].split_at_mut(eth_len);
        let (ip, l4) = rest.split_at_mut(ip_len);
        ethernet::emit(eth, &self.dst_mac, &self.src_mac, self.vlan_tci, ethertype);
        match (self.src, self.dst) {
            (SocketAddr::V4(s), SocketAddr::V4(d)) => ipv4::emit(
                ip,
                *s.ip(),
                *d.ip(),
                self.tos,
                self.hop_limit,
                PROTO_UDP,
                udp_len,
            ),
            (SocketAddr::V6(s), SocketAddr::V6(d)) => ipv6::emit(
                ip,
                *s.ip(),
                *d.ip(),
                self.tos,
                self.hop_limit,
                PROTO_UDP,
                udp_len,
            ),
            _ => {}
        }
        udp::emit(l4, self.src, self.dst, udp_len, payload_sum);
        Ok(start)
    }

    /// Builds a whole frame: copies `payload` to `buf[off + header_len()..]` and writes
    /// the headers in front. Returns the frame length. For generators, tools and tests;
    /// the packet path uses [`rewrite`].
    pub fn emit(&self, buf: &mut [u8], off: usize, payload: &[u8]) -> Result<usize, FrameError> {
        let payload_off = off.saturating_add(self.header_len());
        let too_short = FrameError::Length {
            layer: Layer::Udp,
            field: payload.len(),
            have: buf.len().saturating_sub(payload_off),
        };
        let end = payload_off.checked_add(payload.len()).ok_or(too_short)?;
        let dst = buf.get_mut(payload_off..end).ok_or(too_short)?;
        dst.copy_from_slice(payload);
        let sum = super::checksum::sum(payload);
        let start = self.emit_headers(buf, payload_off, payload.len(), sum)?;
        Ok(payload_off + payload.len() - start)
    }
}

/// Rewrites the frame at `buf[off..]`, parsed as `rx`, into the frame `out` describes
/// around the same payload. Returns the new (offset, length). On error (too little
/// headroom, mismatched families) the frame is unchanged.
#[inline]
pub fn rewrite(
    buf: &mut [u8],
    off: usize,
    rx: &UdpFrame,
    out: &UdpFrameRepr,
) -> Result<(usize, usize), FrameError> {
    let payload_off = off + rx.payload_off;
    let start = out.emit_headers(buf, payload_off, rx.payload_len, rx.payload_sum)?;
    Ok((start, payload_off + rx.payload_len - start))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::frame::parse::{parse, ParsedFrame};
    use crate::frame::testing::{self, check, Checked, NEXT_HOP_MAC, OUR_MAC, PEER_MAC, RTP};
    use proptest::prelude::*;
    use std::net::{Ipv4Addr, Ipv6Addr};

    /// DPDK's default mbuf headroom.
    const HEADROOM: usize = 128;

    fn sa(s: &str) -> SocketAddr {
        s.parse().unwrap()
    }

    /// `frame` placed in a buffer after `headroom` bytes, with tailroom.
    fn in_buffer(frame: &[u8], headroom: usize) -> Vec<u8> {
        let mut b = vec![0xee; headroom];
        b.extend_from_slice(frame);
        b.extend_from_slice(&[0xee; 64]);
        b
    }

    fn parsed(frame: &[u8]) -> UdpFrame {
        match parse(frame) {
            Ok(ParsedFrame::Udp(u)) => u,
            other => panic!("not UDP: {other:?}"),
        }
    }

    fn repr(src: &str, dst: &str, vlan_tci: Option<u16>) -> UdpFrameRepr {
        UdpFrameRepr {
            dst_mac: NEXT_HOP_MAC,
            src_mac: OUR_MAC,
            vlan_tci,
            src: sa(src),
            dst: sa(dst),
            tos: 0xb8,
            hop_limit: 64,
        }
    }

    fn expected(out: &UdpFrameRepr, payload: &[u8]) -> Checked {
        Checked {
            src_mac: out.src_mac,
            dst_mac: out.dst_mac,
            vlan_tci: out.vlan_tci,
            src: out.src,
            dst: out.dst,
            tos: out.tos,
            hop_limit: out.hop_limit,
            payload: payload.to_vec(),
        }
    }

    /// Rewrites `rx` (in a buffer with `headroom`) to `out`; returns the new frame.
    fn run(rx: &[u8], headroom: usize, out: &UdpFrameRepr) -> Result<(usize, Vec<u8>), FrameError> {
        let mut buf = in_buffer(rx, headroom);
        let u = parsed(rx);
        let (off, len) = rewrite(&mut buf, headroom, &u, out)?;
        Ok((off, buf[off..off + len].to_vec()))
    }

    #[test]
    fn same_family_keeps_the_frame_start() {
        let rx = testing::udp_to_us("192.0.2.2:5004", "192.0.2.1:30000", &RTP);
        let out = repr("192.0.2.1:30002", "198.51.100.7:6000", None);
        let (off, tx) = run(&rx, HEADROOM, &out).unwrap();
        assert_eq!((off, tx.len()), (HEADROOM, rx.len()));
        assert_eq!(check(&tx), expected(&out, &RTP));

        let rx = testing::udp_to_us("[2001:db8::2]:5004", "[2001:db8::1]:30000", &RTP);
        let out = repr("[2001:db8::1]:30002", "[2001:db8:1::7]:6000", None);
        let (off, tx) = run(&rx, HEADROOM, &out).unwrap();
        assert_eq!(off, HEADROOM);
        assert_eq!(check(&tx), expected(&out, &RTP));
    }

    #[test]
    fn family_change_moves_the_frame_start() {
        let rx = testing::udp_to_us("192.0.2.2:5004", "192.0.2.1:30000", &RTP);
        let out = repr("[2001:db8::1]:30002", "[2001:db8:1::7]:6000", None);
        let (off, tx) = run(&rx, HEADROOM, &out).unwrap();
        assert_eq!((off, tx.len()), (HEADROOM - 20, rx.len() + 20));
        assert_eq!(check(&tx), expected(&out, &RTP));

        let rx = testing::udp_to_us("[2001:db8::2]:5004", "[2001:db8::1]:30000", &RTP);
        let out = repr("192.0.2.1:30002", "198.51.100.7:6000", None);
        let (off, tx) = run(&rx, 0, &out).unwrap();
        assert_eq!((off, tx.len()), (20, rx.len() - 20));
        assert_eq!(check(&tx), expected(&out, &RTP));
    }

    #[test]
    fn too_little_headroom_leaves_the_frame_unchanged() {
        let rx = testing::udp_to_us("192.0.2.2:5004", "192.0.2.1:30000", &RTP);
        let out = repr("[2001:db8::1]:30002", "[2001:db8:1::7]:6000", None);
        let mut buf = in_buffer(&rx, 19);
        let before = buf.clone();
        assert_eq!(
            rewrite(&mut buf, 19, &parsed(&rx), &out),
            Err(FrameError::Headroom { need: 62, have: 61 })
        );
        assert_eq!(buf, before);
        // 20 bytes suffice
        assert_eq!(run(&rx, 20, &out).unwrap().0, 0);
    }

    #[test]
    fn mixed_families_are_refused_unchanged() {
        let rx = testing::udp_to_us("192.0.2.2:5004", "192.0.2.1:30000", &RTP);
        let out = repr("192.0.2.1:30002", "[2001:db8:1::7]:6000", None);
        let mut buf = in_buffer(&rx, HEADROOM);
        let before = buf.clone();
        assert_eq!(
            rewrite(&mut buf, HEADROOM, &parsed(&rx), &out),
            Err(FrameError::FamilyMismatch)
        );
        assert_eq!(buf, before);
    }

    #[test]
    fn vlan_tag_is_kept_and_padding_dropped() {
        let (src, dst) = (sa("192.0.2.2:5004"), sa("192.0.2.1:30000"));
        let mut rx = testing::udp(PEER_MAC, OUR_MAC, Some(100), src, dst, &RTP[..4]);
        rx.resize(64, 0); // minimum frame: padded
        let u = parsed(&rx);
        let out = UdpFrameRepr {
            vlan_tci: u.vlan_tci,
            ..repr("[2001:db8::1]:30002", "[2001:db8:1::7]:6000", None)
        };
        let (_, tx) = run(&rx, HEADROOM, &out).unwrap();
        assert_eq!(check(&tx), expected(&out, &RTP[..4]));
        assert_eq!(tx.len(), 18 + 40 + 8 + 4);
    }

    #[test]
    fn received_without_udp_checksum_gets_one() {
        let mut rx = testing::udp_to_us("192.0.2.2:5004", "192.0.2.1:30000", &RTP);
        rx[40..42].fill(0);
        for out in [
            repr("192.0.2.1:30002", "198.51.100.7:6000", None),
            repr("[2001:db8::1]:30002", "[2001:db8:1::7]:6000", None),
        ] {
            // `check` asserts a present, correct checksum
            assert_eq!(
                check(&run(&rx, HEADROOM, &out).unwrap().1),
                expected(&out, &RTP)
            );
        }
    }

    #[test]
    fn payload_outside_the_buffer_is_refused() {
        let out = repr("192.0.2.1:30002", "198.51.100.7:6000", None);
        let mut buf = [0u8; 100];
        for (off, len) in [(101, 0), (90, 11), (usize::MAX, 0)] {
            assert!(matches!(
                out.emit_headers(&mut buf, off, len, 0),
                Err(FrameError::Length { .. })
            ));
        }
        assert_eq!(buf, [0; 100]);
        // an IPv4 total length past 65535
        let mut big = vec![0u8; 70_000];
        assert!(out.emit_headers(&mut big, 100, 65_508, 0).is_err());
        assert!(out.emit_headers(&mut big, 100, 65_507, 0).is_ok());
    }

    #[test]
    fn emit_builds_what_etherparse_reads() {
        let out = repr("[2001:db8::1]:30002", "[2001:db8:1::7]:6000", Some(0xa064));
        let mut buf = [0u8; 200];
        let len = out.emit(&mut buf, 10, &RTP).unwrap();
        assert_eq!(check(&buf[10..10 + len]), expected(&out, &RTP));
        assert!(matches!(
            out.emit(&mut buf, 150, &RTP),
            Err(FrameError::Length { .. })
        ));
    }

    fn addr(v6: bool, a: u128, port: u16) -> SocketAddr {
        if v6 {
            SocketAddr::from((Ipv6Addr::from(a), port))
        } else {
            SocketAddr::from((Ipv4Addr::from(a as u32), port))
        }
    }

    proptest! {
        /// Received in one family, sent in either: the rewritten frame parses (by this
        /// module and by etherparse, checksums verified) to exactly the requested headers
        /// around the unchanged payload.
        #[test]
        fn rewrite_then_parse_round_trips(
            v6_in in any::<bool>(), v6_out in any::<bool>(),
            addrs in any::<[u128; 4]>(), ports in any::<[u16; 4]>(),
            tos in any::<u8>(), vlan in proptest::option::of(0u16..4095),
            payload in proptest::collection::vec(any::<u8>(), 0..1400),
        ) {
            let rx = testing::udp(
                PEER_MAC, OUR_MAC, vlan,
                addr(v6_in, addrs[0], ports[0]), addr(v6_in, addrs[1], ports[1]), &payload,
            );
            let out = UdpFrameRepr {
                dst_mac: NEXT_HOP_MAC,
                src_mac: OUR_MAC,
                vlan_tci: vlan,
                src: addr(v6_out, addrs[2], ports[2]),
                dst: addr(v6_out, addrs[3], ports[3]),
                tos,
                hop_limit: 64,
            };
            let (_, tx) = run(&rx, HEADROOM, &out).unwrap();
            prop_assert_eq!(check(&tx), expected(&out, &payload));
            let back = parsed(&tx);
            prop_assert_eq!((back.src, back.dst, back.vlan_tci), (out.src, out.dst, vlan));
            prop_assert_eq!((back.src_mac, back.dst_mac), (OUR_MAC, NEXT_HOP_MAC));
            prop_assert_eq!(&tx[back.payload()], &payload[..]);
        }
    }
}
