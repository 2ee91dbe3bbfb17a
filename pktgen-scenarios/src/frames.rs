//! Ethernet frames carrying RTP over UDP/IPv4, for generators that talk to a
//! kernel-bypass data plane directly (DPDK vdevs) instead of through sockets.
//!
//! Written independently of the data plane's own frame code on purpose: the
//! generator's frames are an outside check of the relay's parser, and the
//! relay's rewritten frames are checked here with [`parse_udp4`].

use std::net::{Ipv4Addr, SocketAddrV4};

pub const ETH_LEN: usize = 14;
pub const IPV4_LEN: usize = 20;
pub const UDP_LEN: usize = 8;
/// Ethernet + IPv4 + UDP headers.
pub const HEADERS: usize = ETH_LEN + IPV4_LEN + UDP_LEN;
/// RTP header: version 2, no CSRC, no extension.
pub const RTP_LEN: usize = 12;

/// One UDP flow as the generator sends it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct UdpFlow {
    pub src_mac: [u8; 6],
    pub dst_mac: [u8; 6],
    pub src: SocketAddrV4,
    pub dst: SocketAddrV4,
}

/// RFC 1071 sum of `data` added to `acc` (not yet folded or complemented).
fn sum16(mut acc: u32, data: &[u8]) -> u32 {
    let mut chunks = data.chunks_exact(2);
    for c in &mut chunks {
        acc += u32::from(u16::from_be_bytes([c[0], c[1]]));
    }
    if let [last] = chunks.remainder() {
        acc += u32::from(*last) << 8;
    }
    acc
}

fn fold(mut acc: u32) -> u16 {
    while acc > 0xffff {
        acc = (acc & 0xffff) + (acc >> 16);
    }
    acc as u16
}

fn udp4_checksum(src: Ipv4Addr, dst: Ipv4Addr, udp: &[u8]) -> u16 {
    let mut acc = sum16(0, &src.octets());
    acc = sum16(acc, &dst.octets());
    acc += 17 + udp.len() as u32;
    acc = sum16(acc, udp);
    match !fold(acc) {
        // RFC 768: a computed zero is sent as all ones (zero means "none").
        0 => 0xffff,
        c => c,
    }
}

/// Writes a whole frame of `frame.len()` bytes for `flow`: headers with valid
/// checksums and an RTP packet (payload type 0, `seq`, `ssrc`) padded with
/// `fill`. Returns `None` when the buffer cannot hold the headers and RTP
/// header or the UDP length overflows.
pub fn build_rtp4(frame: &mut [u8], flow: &UdpFlow, seq: u16, ssrc: u32, fill: u8) -> Option<()> {
    let udp_len = u16::try_from(frame.len().checked_sub(ETH_LEN + IPV4_LEN)?).ok()?;
    if frame.len() < HEADERS + RTP_LEN {
        return None;
    }
    let (eth, rest) = frame.split_at_mut(ETH_LEN);
    eth[0..6].copy_from_slice(&flow.dst_mac);
    eth[6..12].copy_from_slice(&flow.src_mac);
    eth[12..14].copy_from_slice(&0x0800u16.to_be_bytes());

    let (ip, udp) = rest.split_at_mut(IPV4_LEN);
    let total = udp_len + IPV4_LEN as u16;
    ip.fill(0);
    ip[0] = 0x45;
    ip[2..4].copy_from_slice(&total.to_be_bytes());
    ip[6] = 0x40; // DF
    ip[8] = 64;
    ip[9] = 17;
    ip[12..16].copy_from_slice(&flow.src.ip().octets());
    ip[16..20].copy_from_slice(&flow.dst.ip().octets());
    let c = !fold(sum16(0, ip));
    ip[10..12].copy_from_slice(&c.to_be_bytes());

    udp[0..2].copy_from_slice(&flow.src.port().to_be_bytes());
    udp[2..4].copy_from_slice(&flow.dst.port().to_be_bytes());
    udp[4..6].copy_from_slice(&udp_len.to_be_bytes());
    udp[6..8].fill(0);
    let rtp = &mut udp[UDP_LEN..];
    rtp[0] = 0x80;
    rtp[1] = 0;
    rtp[2..4].copy_from_slice(&seq.to_be_bytes());
    rtp[4..8].copy_from_slice(&(u32::from(seq) * 160).to_be_bytes());
    rtp[8..12].copy_from_slice(&ssrc.to_be_bytes());
    rtp[RTP_LEN..].fill(fill);
    let c = udp4_checksum(*flow.src.ip(), *flow.dst.ip(), udp);
    udp[6..8].copy_from_slice(&c.to_be_bytes());
    Some(())
}

/// What [`parse_udp4`] found in a frame.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ParsedUdp4<'a> {
    pub src_mac: [u8; 6],
    pub dst_mac: [u8; 6],
    pub src: SocketAddrV4,
    pub dst: SocketAddrV4,
    pub payload: &'a [u8],
    /// IPv4 header and UDP checksums both verify.
    pub checksums_ok: bool,
}

/// Parses an untagged Ethernet/IPv4 (no options)/UDP frame; `None` for
/// anything else or anything truncated.
pub fn parse_udp4(frame: &[u8]) -> Option<ParsedUdp4<'_>> {
    let eth = frame.get(..ETH_LEN)?;
    if eth[12..14] != [0x08, 0x00] {
        return None;
    }
    let ip = frame.get(ETH_LEN..ETH_LEN + IPV4_LEN)?;
    if ip[0] != 0x45 || ip[9] != 17 {
        return None;
    }
    let total = usize::from(u16::from_be_bytes([ip[2], ip[3]]));
    let udp = frame.get(ETH_LEN + IPV4_LEN..ETH_LEN + total)?;
    let udp_len = usize::from(u16::from_be_bytes([*udp.get(4)?, *udp.get(5)?]));
    if udp_len < UDP_LEN || udp_len > udp.len() {
        return None;
    }
    let udp = &udp[..udp_len];
    let src_ip = Ipv4Addr::new(ip[12], ip[13], ip[14], ip[15]);
    let dst_ip = Ipv4Addr::new(ip[16], ip[17], ip[18], ip[19]);
    let ip_ok = fold(sum16(0, ip)) == 0xffff;
    let stored = u16::from_be_bytes([udp[6], udp[7]]);
    let udp_ok = stored == 0 || {
        let mut acc = sum16(0, &src_ip.octets());
        acc = sum16(acc, &dst_ip.octets());
        acc += 17 + udp.len() as u32;
        fold(sum16(acc, udp)) == 0xffff
    };
    let mac = |r: core::ops::Range<usize>| {
        let mut m = [0u8; 6];
        m.copy_from_slice(&eth[r]);
        m
    };
    Some(ParsedUdp4 {
        src_mac: mac(6..12),
        dst_mac: mac(0..6),
        src: SocketAddrV4::new(src_ip, u16::from_be_bytes([udp[0], udp[1]])),
        dst: SocketAddrV4::new(dst_ip, u16::from_be_bytes([udp[2], udp[3]])),
        payload: &udp[UDP_LEN..],
        checksums_ok: ip_ok && udp_ok,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn flow() -> UdpFlow {
        UdpFlow {
            src_mac: [2, 0, 0, 0, 0, 1],
            dst_mac: [2, 0, 0, 0, 0, 2],
            src: "10.88.1.7:40000".parse().unwrap(),
            dst: "10.88.0.1:20002".parse().unwrap(),
        }
    }

    #[test]
    fn built_frame_parses_back_with_valid_checksums() {
        let mut f = [0u8; 214];
        build_rtp4(&mut f, &flow(), 7, 0xdead_beef, 0xd5).unwrap();
        let p = parse_udp4(&f).unwrap();
        assert!(p.checksums_ok);
        assert_eq!(p.src, flow().src);
        assert_eq!(p.dst, flow().dst);
        assert_eq!(p.payload.len(), 172);
        assert_eq!(&p.payload[..4], &[0x80, 0, 0, 7]);
        assert_eq!(&p.payload[8..12], &0xdead_beefu32.to_be_bytes());
    }

    /// UDP from 192.168.1.10:5000 to 192.168.1.20:6000 carrying "abcd", with
    /// both checksums computed outside this file (a few lines of Python's
    /// `struct`), so the parser is not checked against itself.
    #[test]
    fn kernel_built_checksums_verify() {
        let f: [u8; 46] = [
            0x02, 0, 0, 0, 0, 2, 0x02, 0, 0, 0, 0, 1, 0x08, 0x00, // eth
            0x45, 0x00, 0x00, 0x20, 0x00, 0x00, 0x40, 0x00, 0x40, 0x11, 0xb7, 0x5e, // ip ..
            192, 168, 1, 10, 192, 168, 1, 20, // ip addrs
            0x13, 0x88, 0x17, 0x70, 0x00, 0x0c, 0x8c, 0xa8, // udp
            b'a', b'b', b'c', b'd',
        ];
        let p = parse_udp4(&f).unwrap();
        assert!(p.checksums_ok, "{p:?}");
        let mut bad = f;
        bad[45] ^= 1;
        assert!(!parse_udp4(&bad).unwrap().checksums_ok);
    }

    #[test]
    fn truncated_frames_do_not_parse() {
        let mut f = [0u8; 214];
        build_rtp4(&mut f, &flow(), 1, 1, 0).unwrap();
        for n in 0..HEADERS {
            assert!(parse_udp4(&f[..n]).is_none(), "length {n}");
        }
        assert!(build_rtp4(&mut [0u8; HEADERS + RTP_LEN - 1], &flow(), 1, 1, 0).is_none());
    }
}
