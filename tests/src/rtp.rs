//! RTP/RTCP packets and phone-side media sockets for the integration tests.
//!
//! Packets are built by hand (RFC 3550 §5.1 and §6.4.1) rather than with the
//! wire crate, so that a bug in rtpbolt's parser cannot hide itself here.

use std::io::ErrorKind;
use std::net::{SocketAddr, UdpSocket};
use std::sync::atomic::{AtomicU32, Ordering};

/// RTP fixed header length without CSRCs or extension (RFC 3550 §5.1).
pub const RTP_HEADER_LEN: usize = 12;

/// An RTP packet with a 12-byte header and `payload_len` bytes of a pattern
/// derived from `seq`, so that every packet of a burst is distinct.
pub fn rtp_packet(pt: u8, seq: u16, timestamp: u32, ssrc: u32, payload_len: usize) -> Vec<u8> {
    let mut p = Vec::with_capacity(RTP_HEADER_LEN + payload_len);
    p.push(0x80); // V=2, no padding, no extension, CC=0
    p.push(pt & 0x7f); // M=0
    p.extend_from_slice(&seq.to_be_bytes());
    p.extend_from_slice(&timestamp.to_be_bytes());
    p.extend_from_slice(&ssrc.to_be_bytes());
    p.extend((0..payload_len).map(|i| (i as u16).wrapping_add(seq) as u8));
    p
}

/// A minimal RTCP sender report without report blocks (RFC 3550 §6.4.1): the
/// smallest compound packet a relay has to accept (it must start with SR/RR).
pub fn rtcp_sender_report(ssrc: u32, ntp: u64, rtp_ts: u32, packets: u32, octets: u32) -> Vec<u8> {
    let mut p = Vec::with_capacity(28);
    p.push(0x80); // V=2, P=0, RC=0
    p.push(200); // PT=SR
    p.extend_from_slice(&6u16.to_be_bytes()); // length in 32-bit words minus one
    p.extend_from_slice(&ssrc.to_be_bytes());
    p.extend_from_slice(&ntp.to_be_bytes());
    p.extend_from_slice(&rtp_ts.to_be_bytes());
    p.extend_from_slice(&packets.to_be_bytes());
    p.extend_from_slice(&octets.to_be_bytes());
    p
}

/// The RTP header fields a test looks at.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RtpHeader {
    pub pt: u8,
    pub seq: u16,
    pub timestamp: u32,
    pub ssrc: u32,
}

/// Parses the fixed RTP header; `None` if too short or not version 2.
pub fn parse_rtp(buf: &[u8]) -> Option<RtpHeader> {
    if buf.len() < RTP_HEADER_LEN || buf[0] >> 6 != 2 {
        return None;
    }
    Some(RtpHeader {
        pt: buf[1] & 0x7f,
        seq: u16::from_be_bytes([buf[2], buf[3]]),
        timestamp: u32::from_be_bytes([buf[4], buf[5], buf[6], buf[7]]),
        ssrc: u32::from_be_bytes([buf[8], buf[9], buf[10], buf[11]]),
    })
}

/// A phone's media ports: RTP on an even port and RTCP on the next one, as
/// RFC 3550 §11 expects when the SDP has no `a=rtcp:`.
pub struct MediaPair {
    pub rtp: UdpSocket,
    pub rtcp: UdpSocket,
}

/// Phone ports come from 12000..22000: below the kernel's ephemeral range and
/// below every daemon's media range (`port_block()` starts at 22000), so a
/// phone port can never be mistaken for a relay port.
const PHONE_PORT_MIN: u32 = 12000;
const PHONE_PORT_SPAN: u32 = 10000;
static NEXT_PHONE_PORT: AtomicU32 = AtomicU32::new(0);

impl MediaPair {
    /// Binds an even/odd port pair on `ip` (an IPv4 literal or `::1`); the
    /// sockets are non-blocking so a test can poll many of them.
    pub fn bind(ip: &str) -> MediaPair {
        let start = (std::process::id().wrapping_mul(2654435761) >> 8) % (PHONE_PORT_SPAN / 2);
        for _ in 0..PHONE_PORT_SPAN / 2 {
            let n =
                (start + NEXT_PHONE_PORT.fetch_add(1, Ordering::Relaxed)) % (PHONE_PORT_SPAN / 2);
            let port = (PHONE_PORT_MIN + 2 * n) as u16;
            let Ok(rtp) = UdpSocket::bind(sock_addr(ip, port)) else {
                continue;
            };
            let Ok(rtcp) = UdpSocket::bind(sock_addr(ip, port + 1)) else {
                continue;
            };
            rtp.set_nonblocking(true).expect("non-blocking rtp socket");
            rtcp.set_nonblocking(true)
                .expect("non-blocking rtcp socket");
            return MediaPair { rtp, rtcp };
        }
        panic!("no free even/odd port pair on {ip}");
    }

    pub fn rtp_port(&self) -> u16 {
        self.rtp.local_addr().expect("local addr").port()
    }
}

/// `ip:port` for IPv4 and IPv6 literals alike.
pub fn sock_addr(ip: &str, port: u16) -> SocketAddr {
    let ip: std::net::IpAddr = ip.parse().unwrap_or_else(|e| panic!("bad ip {ip:?}: {e}"));
    SocketAddr::new(ip, port)
}

/// Reads every datagram already queued on a non-blocking socket.
pub fn drain(sock: &UdpSocket) -> Vec<(SocketAddr, Vec<u8>)> {
    let mut out = Vec::new();
    let mut buf = vec![0u8; 65536];
    loop {
        match sock.recv_from(&mut buf) {
            Ok((n, from)) => out.push((from, buf[..n].to_vec())),
            Err(e) if e.kind() == ErrorKind::WouldBlock => return out,
            // ICMP port unreachable from an earlier send surfaces here on
            // Linux; it says nothing about what arrived, so keep reading.
            Err(e) if e.kind() == ErrorKind::ConnectionRefused => continue,
            Err(e) => panic!("recv: {e}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rtp_round_trip() {
        let p = rtp_packet(8, 0x1234, 0xdeadbeef, 0x01020304, 160);
        assert_eq!(p.len(), 172);
        assert_eq!(
            parse_rtp(&p),
            Some(RtpHeader {
                pt: 8,
                seq: 0x1234,
                timestamp: 0xdeadbeef,
                ssrc: 0x01020304
            })
        );
        assert_eq!(rtcp_sender_report(1, 2, 3, 4, 5).len(), 28);
    }
}
