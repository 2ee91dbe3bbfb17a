//! Frames for the frame path's tests, built and checked by `etherparse`, an implementation
//! independent of this one, so that a shared misreading of an RFC cannot pass unnoticed.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use etherparse::{
    ArpHardwareId, ArpOperation, ArpPacket, EtherType, LinkExtHeader, LinkHeader, NetHeaders,
    PacketBuilder, PacketHeaders, TransportHeader, VlanId,
};

use super::Mac;

/// Our port's MAC.
pub const OUR_MAC: Mac = [0x02, 0, 0, 0, 0, 0x01];
/// The peer's (or its router's) MAC.
pub const PEER_MAC: Mac = [0x02, 0, 0, 0, 0, 0x02];
/// The forward destination's next hop.
pub const NEXT_HOP_MAC: Mac = [0x02, 0, 0, 0, 0, 0x03];

/// An RTP packet: v2, PT 8, seq 1, ts 160, SSRC 0x01020304, 4 payload bytes.
pub const RTP: [u8; 16] = [
    0x80, 8, 0, 1, 0, 0, 0, 160, 1, 2, 3, 4, 0xd5, 0xd5, 0xd5, 0xd5,
];

/// A UDP frame from `src` to `dst` (one family) with optional VLAN id, checksums valid.
pub fn udp(
    src_mac: Mac,
    dst_mac: Mac,
    vlan: Option<u16>,
    src: SocketAddr,
    dst: SocketAddr,
    payload: &[u8],
) -> Vec<u8> {
    let eth = PacketBuilder::ethernet2(src_mac, dst_mac);
    let mut out = Vec::new();
    macro_rules! finish {
        ($b:expr) => {{
            let b = match (src.ip(), dst.ip()) {
                (IpAddr::V4(s), IpAddr::V4(d)) => $b.ipv4(s.octets(), d.octets(), 64),
                (IpAddr::V6(s), IpAddr::V6(d)) => $b.ipv6(s.octets(), d.octets(), 64),
                _ => panic!("mixed families"),
            };
            b.udp(src.port(), dst.port())
                .write(&mut out, payload)
                .unwrap();
        }};
    }
    match vlan {
        Some(v) => finish!(eth.single_vlan(VlanId::try_new(v).unwrap())),
        None => finish!(eth),
    }
    out
}

/// A UDP frame from the peer to us, untagged.
pub fn udp_to_us(src: &str, dst: &str, payload: &[u8]) -> Vec<u8> {
    udp(
        PEER_MAC,
        OUR_MAC,
        None,
        src.parse().unwrap(),
        dst.parse().unwrap(),
        payload,
    )
}

/// An ARP reply from `sender_mac`/`sender_ip` to us.
pub fn arp_reply(sender_mac: Mac, sender_ip: Ipv4Addr) -> Vec<u8> {
    let arp = ArpPacket::new(
        ArpHardwareId::ETHERNET,
        EtherType::IPV4,
        ArpOperation::REPLY,
        &sender_mac,
        &sender_ip.octets(),
        &OUR_MAC,
        &[192, 0, 2, 1],
    )
    .unwrap();
    let mut out = Vec::new();
    PacketBuilder::ethernet2(sender_mac, OUR_MAC)
        .arp(arp)
        .write(&mut out)
        .unwrap();
    out
}

/// An ICMP echo request from `src` to `dst` (IPv4).
pub fn ping(src_mac: Mac, src: Ipv4Addr, dst: Ipv4Addr) -> Vec<u8> {
    let mut out = Vec::new();
    PacketBuilder::ethernet2(src_mac, OUR_MAC)
        .ipv4(src.octets(), dst.octets(), 64)
        .icmpv4_echo_request(1, 1)
        .write(&mut out, b"ping")
        .unwrap();
    out
}

/// A TCP SYN over IPv6.
pub fn tcp6(src: SocketAddr, dst: SocketAddr) -> Vec<u8> {
    let (IpAddr::V6(s), IpAddr::V6(d)) = (src.ip(), dst.ip()) else {
        panic!("IPv6 only")
    };
    let mut out = Vec::new();
    PacketBuilder::ethernet2(PEER_MAC, OUR_MAC)
        .ipv6(s.octets(), d.octets(), 64)
        .tcp(src.port(), dst.port(), 1, 1000)
        .syn()
        .write(&mut out, &[])
        .unwrap();
    out
}

/// What etherparse reads from a UDP frame.
#[derive(Debug, PartialEq, Eq)]
pub struct Checked {
    pub src_mac: Mac,
    pub dst_mac: Mac,
    pub vlan_tci: Option<u16>,
    pub src: SocketAddr,
    pub dst: SocketAddr,
    /// IPv4 TOS or IPv6 traffic class.
    pub tos: u8,
    pub hop_limit: u8,
    pub payload: Vec<u8>,
}

/// Parses a UDP frame with etherparse, asserting that the IPv4 header checksum and the
/// UDP checksum (mandatory here, also over IPv4) verify by etherparse's computation, and
/// that nothing follows the payload.
pub fn check(frame: &[u8]) -> Checked {
    let h = PacketHeaders::from_ethernet_slice(frame).expect("etherparse parses the frame");
    let Some(LinkHeader::Ethernet2(eth)) = h.link else {
        panic!("no Ethernet header")
    };
    let vlan_tci = h.link_exts.first().map(|e| match e {
        LinkExtHeader::Vlan(v) => {
            u16::from(v.pcp.value()) << 13
                | u16::from(v.drop_eligible_indicator) << 12
                | v.vlan_id.value()
        }
        LinkExtHeader::Macsec(_) => panic!("MACsec"),
    });
    let Some(TransportHeader::Udp(udp)) = h.transport else {
        panic!("not UDP")
    };
    let payload = h.payload.slice().to_vec();
    assert_eq!(usize::from(udp.length), payload.len() + 8);
    assert_ne!(udp.checksum, 0, "checksum present");
    let (src, dst, tos, hop_limit, ip_end) = match h.net {
        Some(NetHeaders::Ipv4(ip, _)) => {
            assert_eq!(
                ip.header_checksum,
                ip.calc_header_checksum(),
                "IPv4 checksum"
            );
            assert_eq!(udp.checksum, udp.calc_checksum_ipv4(&ip, &payload).unwrap());
            assert!(ip.dont_fragment && ip.identification == 0);
            let tos = ip.dscp.value() << 2 | ip.ecn.value();
            let (s, d) = (IpAddr::from(ip.source), IpAddr::from(ip.destination));
            (s, d, tos, ip.time_to_live, usize::from(ip.total_len))
        }
        Some(NetHeaders::Ipv6(ip, _)) => {
            assert_eq!(udp.checksum, udp.calc_checksum_ipv6(&ip, &payload).unwrap());
            assert_eq!(ip.flow_label.value(), 0);
            let (s, d) = (IpAddr::from(ip.source), IpAddr::from(ip.destination));
            (
                s,
                d,
                ip.traffic_class,
                ip.hop_limit,
                40 + usize::from(ip.payload_length),
            )
        }
        _ => panic!("not IP"),
    };
    let eth_len = 14 + vlan_tci.map_or(0, |_| 4);
    assert_eq!(
        eth_len + ip_end,
        frame.len(),
        "frame ends with the IP packet"
    );
    Checked {
        src_mac: eth.source,
        dst_mac: eth.destination,
        vlan_tci,
        src: SocketAddr::new(src, udp.source_port),
        dst: SocketAddr::new(dst, udp.destination_port),
        tos,
        hop_limit,
        payload,
    }
}
