//! From a received Ethernet frame to what the data plane needs: the UDP addresses,
//! payload position and payload checksum sum of IPv4/IPv6 UDP, or the sender to learn
//! from ARP and other IP traffic. Zero-copy: the views in the sibling modules read the
//! frame in place, and [`UdpFrame`] keeps only offsets and addresses.
//!
//! What becomes of a frame (the verdicts are given in [`super::FrameProcessor`]):
//! - Kernel, unchanged: anything that is not IPv4/IPv6 UDP (ARP, ICMP, ICMPv6 with ND,
//!   TCP, IPv6 with extension headers, unknown ethertypes, QinQ), and IPv4 fragments (only
//!   the kernel reassembles).
//! - Drop, counted as malformed: a header this module parses and finds broken: a runt
//!   Ethernet header, a truncated ARP packet, IPv4 with another version, IHL < 5, a header
//!   or total length past the frame or a bad header checksum, IPv6 with another version or
//!   a payload length past the frame, UDP with a length field below 8 or past the IP
//!   payload, and a UDP checksum that does not verify (zero included over IPv6). Linux
//!   discards each of these in `ip_rcv_core`, `ipv6_rcv` or `__udp4_lib_rcv`/
//!   `__udp6_lib_rcv`, so handing them over would only cost a trip through the exception
//!   path; they are counted where the kernel would count `InHdrErrors`/`InCsumErrors`.
//!
//! IPv4 UDP checksums are verified when present, the header checksum always; non-UDP IP
//! payloads are left to the kernel to check.

use core::ops::Range;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use super::arp::ArpPacket;
use super::checksum::PROTO_UDP;
use super::error::{FrameError, Layer};
use super::ethernet::{self, EthernetFrame, Mac};
use super::ipv4::Ipv4Packet;
use super::ipv6::Ipv6Packet;
use super::udp::{self, UdpPacket};

/// A validated IPv4/IPv6 UDP frame, as positions in the frame and decoded addresses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct UdpFrame {
    /// Ethernet destination (ours, if the frame is for us).
    pub dst_mac: Mac,
    /// Ethernet source: the previous hop.
    pub src_mac: Mac,
    /// The 802.1Q TCI, if the frame was tagged.
    pub vlan_tci: Option<u16>,
    /// Remote address and port.
    pub src: SocketAddr,
    /// Our address and port: the flow key.
    pub dst: SocketAddr,
    /// Where the UDP payload starts, from the frame start.
    pub payload_off: usize,
    /// UDP payload length (from the UDP length field).
    pub payload_len: usize,
    /// Folded ones'-complement sum of the payload ([`super::checksum::sum`]).
    pub payload_sum: u16,
}

impl UdpFrame {
    /// The UDP payload's range in the frame.
    #[inline]
    pub fn payload(&self) -> Range<usize> {
        self.payload_off..self.payload_off + self.payload_len
    }
}

/// What a well-formed frame is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ParsedFrame {
    /// IPv4 or IPv6 UDP, unfragmented, lengths and checksums verified.
    Udp(UdpFrame),
    /// Ethernet/IPv4 ARP (request or reply).
    Arp {
        sender_ip: Ipv4Addr,
        sender_mac: Mac,
    },
    /// A valid IP header over something else: another protocol, an IPv4 fragment or an
    /// IPv6 extension header.
    OtherIp { src: IpAddr, src_mac: Mac },
    /// Another ethertype, or ARP for another hardware or protocol type.
    Other,
}

/// Validates `frame` (see the module doc for what is refused) and says what it is.
#[inline]
pub fn parse(frame: &[u8]) -> Result<ParsedFrame, FrameError> {
    let eth = EthernetFrame::new_checked(frame)?;
    let l3_off = eth.header_len();
    match eth.ethertype() {
        ethernet::ETHERTYPE_IPV4 => {
            let ip = Ipv4Packet::new_checked(eth.payload())?;
            if !ip.verify_checksum() {
                return Err(FrameError::Checksum { layer: Layer::Ipv4 });
            }
            let (src, dst) = (IpAddr::V4(ip.src()), IpAddr::V4(ip.dst()));
            if ip.protocol() != PROTO_UDP || ip.is_fragment() {
                return Ok(ParsedFrame::OtherIp {
                    src,
                    src_mac: eth.src(),
                });
            }
            udp_frame(&eth, ip.payload(), l3_off + ip.header_len(), src, dst)
        }
        ethernet::ETHERTYPE_IPV6 => {
            let ip = Ipv6Packet::new_checked(eth.payload())?;
            let (src, dst) = (IpAddr::V6(ip.src()), IpAddr::V6(ip.dst()));
            if ip.next_header() != PROTO_UDP {
                return Ok(ParsedFrame::OtherIp {
                    src,
                    src_mac: eth.src(),
                });
            }
            udp_frame(
                &eth,
                ip.payload(),
                l3_off + super::ipv6::HEADER_LEN,
                src,
                dst,
            )
        }
        ethernet::ETHERTYPE_ARP => match ArpPacket::new_checked(eth.payload()) {
            Ok(arp) => Ok(ParsedFrame::Arp {
                sender_ip: arp.sender_ip(),
                sender_mac: arp.sender_mac(),
            }),
            Err(FrameError::Unsupported { .. }) => Ok(ParsedFrame::Other),
            Err(e) => Err(e),
        },
        _ => Ok(ParsedFrame::Other),
    }
}

/// The UDP part: `ip_payload` starts `l4_off` bytes into the frame. Inlined into both
/// families' arms so the result is built in place rather than copied out (callgrind:
/// 40 of ~1170 instructions per forwarded frame).
#[inline(always)]
fn udp_frame(
    eth: &EthernetFrame<&[u8]>,
    ip_payload: &[u8],
    l4_off: usize,
    src: IpAddr,
    dst: IpAddr,
) -> Result<ParsedFrame, FrameError> {
    let u = UdpPacket::new_checked(ip_payload)?;
    let payload_sum = u.check(src, dst)?;
    Ok(ParsedFrame::Udp(UdpFrame {
        dst_mac: eth.dst(),
        src_mac: eth.src(),
        vlan_tci: eth.vlan_tci(),
        src: SocketAddr::new(src, u.src_port()),
        dst: SocketAddr::new(dst, u.dst_port()),
        payload_off: l4_off + udp::HEADER_LEN,
        payload_len: u.len() - udp::HEADER_LEN,
        payload_sum,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::frame::checksum;
    use crate::frame::testing::{self, arp_reply, ping, tcp6, udp_to_us, OUR_MAC, PEER_MAC, RTP};
    use proptest::prelude::*;

    fn sa(s: &str) -> SocketAddr {
        s.parse().unwrap()
    }

    fn udp_of(frame: &[u8]) -> UdpFrame {
        match parse(frame) {
            Ok(ParsedFrame::Udp(u)) => u,
            other => panic!("not UDP: {other:?}"),
        }
    }

    /// Recomputes the IPv4 header checksum of an untagged frame after a test changed it.
    fn fix_ipv4_checksum(frame: &mut [u8]) {
        let ihl = usize::from(frame[14] & 0x0f) * 4;
        frame[24..26].fill(0);
        let c = checksum::finish(checksum::sum(&frame[14..14 + ihl]));
        frame[24..26].copy_from_slice(&c.to_be_bytes());
    }

    #[test]
    fn ipv4_rtp() {
        let f = udp_to_us("192.0.2.2:5004", "192.0.2.1:30000", &RTP);
        let u = udp_of(&f);
        assert_eq!(
            (u.src, u.dst),
            (sa("192.0.2.2:5004"), sa("192.0.2.1:30000"))
        );
        assert_eq!(
            (u.src_mac, u.dst_mac, u.vlan_tci),
            (PEER_MAC, OUR_MAC, None)
        );
        assert_eq!((u.payload_off, u.payload_len), (42, RTP.len()));
        assert_eq!(&f[u.payload()], &RTP);
        assert_eq!(u.payload_sum, checksum::sum(&RTP));
    }

    #[test]
    fn ipv6_rtp_and_vlan() {
        let f = udp_to_us("[2001:db8::2]:5004", "[2001:db8::1]:30000", &RTP);
        let u = udp_of(&f);
        assert_eq!(u.dst, sa("[2001:db8::1]:30000"));
        assert_eq!((u.payload_off, &f[u.payload()]), (62, &RTP[..]));
        let (src, dst) = (sa("192.0.2.2:5004"), sa("192.0.2.1:30000"));
        let t = testing::udp(PEER_MAC, OUR_MAC, Some(100), src, dst, &RTP);
        let u = udp_of(&t);
        assert_eq!((u.vlan_tci, u.payload_off, u.src), (Some(100), 46, src));
    }

    #[test]
    fn not_udp_is_other() {
        let arp = arp_reply(PEER_MAC, [192, 0, 2, 2].into());
        assert_eq!(
            parse(&arp),
            Ok(ParsedFrame::Arp {
                sender_ip: [192, 0, 2, 2].into(),
                sender_mac: PEER_MAC
            })
        );
        let icmp = ping(PEER_MAC, [192, 0, 2, 2].into(), [192, 0, 2, 1].into());
        assert_eq!(
            parse(&icmp),
            Ok(ParsedFrame::OtherIp {
                src: "192.0.2.2".parse().unwrap(),
                src_mac: PEER_MAC
            })
        );
        let tcp = tcp6(sa("[2001:db8::2]:5060"), sa("[2001:db8::1]:5060"));
        assert!(matches!(parse(&tcp), Ok(ParsedFrame::OtherIp { .. })));
        // LLDP, QinQ outer tag, ARP for another hardware type
        let mut other = udp_to_us("192.0.2.2:5004", "192.0.2.1:30000", &RTP);
        for ethertype in [[0x88, 0xcc], [0x88, 0xa8]] {
            other[12..14].copy_from_slice(&ethertype);
            assert_eq!(parse(&other), Ok(ParsedFrame::Other));
        }
        let mut arp_other = arp;
        arp_other[15] = 6; // IEEE 802 hardware type
        assert_eq!(parse(&arp_other), Ok(ParsedFrame::Other));
    }

    #[test]
    fn fragments_are_other_ip() {
        for (hi, lo) in [(0x20, 0x00), (0x00, 0x01)] {
            let mut f = udp_to_us("192.0.2.2:5004", "192.0.2.1:30000", &RTP);
            f[20] = hi;
            f[21] = lo;
            fix_ipv4_checksum(&mut f);
            assert!(matches!(parse(&f), Ok(ParsedFrame::OtherIp { .. })));
        }
    }

    #[test]
    fn checksums() {
        let good = udp_to_us("192.0.2.2:5004", "192.0.2.1:30000", &RTP);
        let mut f = good.clone();
        f[22] ^= 1; // TTL: the header checksum no longer matches
        assert_eq!(parse(&f), Err(FrameError::Checksum { layer: Layer::Ipv4 }));
        let mut f = good.clone();
        *f.last_mut().unwrap() ^= 1;
        assert_eq!(parse(&f), Err(FrameError::Checksum { layer: Layer::Udp }));
        // no UDP checksum: fine over IPv4
        let mut f = good;
        f[40..42].fill(0);
        assert_eq!(udp_of(&f).payload_sum, checksum::sum(&RTP));
        // ...and invalid over IPv6
        let mut f = udp_to_us("[2001:db8::2]:5004", "[2001:db8::1]:30000", &RTP);
        f[60..62].fill(0);
        assert_eq!(parse(&f), Err(FrameError::Checksum { layer: Layer::Udp }));
    }

    #[test]
    fn version_and_lengths() {
        let good = udp_to_us("192.0.2.2:5004", "192.0.2.1:30000", &RTP);
        let mut f = good.clone();
        f[14] = 0x65;
        assert!(matches!(
            parse(&f),
            Err(FrameError::Version { found: 6, .. })
        ));
        // UDP length past the IP payload
        let mut f = good.clone();
        f[39] += 1;
        assert!(matches!(
            parse(&f),
            Err(FrameError::Length {
                layer: Layer::Udp,
                ..
            })
        ));
        // Ethernet padding after the IP packet is not payload
        let mut f = good.clone();
        f.extend_from_slice(&[0; 18]);
        assert_eq!(udp_of(&f).payload_len, RTP.len());
        // IPv4 options (4 × NOP... here 3 NOP + EOL) move the UDP header
        let mut f = good[..34].to_vec();
        f.extend_from_slice(&[1, 1, 1, 0]);
        f.extend_from_slice(&good[34..]);
        f[14] = 0x46;
        f[17] += 4;
        fix_ipv4_checksum(&mut f);
        let u = udp_of(&f);
        assert_eq!((u.payload_off, &f[u.payload()]), (46, &RTP[..]));
    }

    #[test]
    fn every_truncation_is_refused() {
        let (s4, d4) = (sa("192.0.2.2:5004"), sa("192.0.2.1:30000"));
        let (s6, d6) = (sa("[2001:db8::2]:5004"), sa("[2001:db8::1]:30000"));
        for f in [
            testing::udp(PEER_MAC, OUR_MAC, None, s4, d4, &RTP),
            testing::udp(PEER_MAC, OUR_MAC, Some(7), s4, d4, &RTP),
            testing::udp(PEER_MAC, OUR_MAC, None, s6, d6, &RTP),
            testing::udp(PEER_MAC, OUR_MAC, Some(7), s6, d6, &RTP),
            arp_reply(PEER_MAC, [192, 0, 2, 2].into()),
        ] {
            assert!(parse(&f).is_ok());
            for n in 0..f.len() {
                assert!(parse(&f[..n]).is_err(), "{n} of {}", f.len());
            }
        }
    }

    proptest! {
        #[test]
        fn never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
            let _ = parse(&bytes);
        }

        /// Single-byte corruptions of a valid frame: never a panic, and never a UDP frame
        /// whose payload lies outside the frame.
        #[test]
        fn corrupted_frames_stay_in_bounds(at in 0usize..58, v in any::<u8>(), v6 in any::<bool>()) {
            let mut f = if v6 {
                udp_to_us("[2001:db8::2]:5004", "[2001:db8::1]:30000", &RTP)
            } else {
                udp_to_us("192.0.2.2:5004", "192.0.2.1:30000", &RTP)
            };
            let at = at % f.len();
            f[at] = v;
            if let Ok(ParsedFrame::Udp(u)) = parse(&f) {
                prop_assert!(u.payload().end <= f.len());
            }
        }

        /// Frames etherparse builds from arbitrary addresses and payloads parse to the
        /// same addresses and payload.
        #[test]
        fn agrees_with_etherparse(
            v6 in any::<bool>(), a in any::<u128>(), b in any::<u128>(),
            sp in any::<u16>(), dp in any::<u16>(), vlan in proptest::option::of(0u16..4095),
            payload in proptest::collection::vec(any::<u8>(), 0..300),
        ) {
            let (src, dst) = if v6 {
                (SocketAddr::from((std::net::Ipv6Addr::from(a), sp)), SocketAddr::from((std::net::Ipv6Addr::from(b), dp)))
            } else {
                (SocketAddr::from((std::net::Ipv4Addr::from(a as u32), sp)), SocketAddr::from((std::net::Ipv4Addr::from(b as u32), dp)))
            };
            let f = testing::udp(PEER_MAC, OUR_MAC, vlan, src, dst, &payload);
            let u = udp_of(&f);
            prop_assert_eq!((u.src, u.dst, u.vlan_tci), (src, dst, vlan));
            prop_assert_eq!(&f[u.payload()], &payload[..]);
            prop_assert_eq!(u.payload_sum, checksum::sum(&payload));
        }
    }
}
