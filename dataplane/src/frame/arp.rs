//! ARP packet view (RFC 826), only for Ethernet hardware and IPv4 protocol addresses: the
//! data plane reads the sender's addresses to learn neighbours and passes every ARP
//! packet on to the kernel unchanged.

use std::net::Ipv4Addr;

use super::error::{FrameError, Layer};
use super::ethernet::{Mac, ETHERTYPE_IPV4};

/// Ethernet/IPv4 ARP packet length.
pub const PACKET_LEN: usize = 28;
/// ARP hardware type of Ethernet.
const HTYPE_ETHERNET: u16 = 1;

mod field {
    use core::ops::Range;
    pub const HTYPE: Range<usize> = 0..2;
    pub const PTYPE: Range<usize> = 2..4;
    pub const HLEN: usize = 4;
    pub const PLEN: usize = 5;
    pub const OPER: Range<usize> = 6..8;
    pub const SHA: Range<usize> = 8..14;
    pub const SPA: Range<usize> = 14..18;
}

/// A view of an Ethernet/IPv4 ARP packet.
#[derive(Clone, Copy, Debug)]
pub struct ArpPacket<B> {
    buf: B,
}

impl<B: AsRef<[u8]>> ArpPacket<B> {
    /// Checks the length and that hardware/protocol are Ethernet/IPv4 with 6/4-byte
    /// addresses ([`FrameError::Unsupported`] otherwise).
    pub fn new_checked(buf: B) -> Result<Self, FrameError> {
        let b = buf.as_ref();
        if b.len() < PACKET_LEN {
            return Err(FrameError::Truncated {
                layer: Layer::Arp,
                need: PACKET_LEN,
                have: b.len(),
            });
        }
        let ethernet_ipv4 = b[field::HTYPE] == HTYPE_ETHERNET.to_be_bytes()
            && b[field::PTYPE] == ETHERTYPE_IPV4.to_be_bytes();
        if !ethernet_ipv4 || b[field::HLEN] != 6 || b[field::PLEN] != 4 {
            return Err(FrameError::Unsupported { layer: Layer::Arp });
        }
        Ok(ArpPacket { buf })
    }

    /// Operation: 1 request, 2 reply.
    #[inline]
    pub fn operation(&self) -> u16 {
        let b = &self.buf.as_ref()[field::OPER];
        u16::from_be_bytes([b[0], b[1]])
    }

    /// Sender hardware address.
    #[inline]
    pub fn sender_mac(&self) -> Mac {
        let mut m = [0; 6];
        m.copy_from_slice(&self.buf.as_ref()[field::SHA]);
        m
    }

    /// Sender protocol address.
    #[inline]
    pub fn sender_ip(&self) -> Ipv4Addr {
        let b = &self.buf.as_ref()[field::SPA];
        Ipv4Addr::new(b[0], b[1], b[2], b[3])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A who-has 192.0.2.1 request from 02:00:00:00:00:02 / 192.0.2.2.
    const REQUEST: [u8; 28] = [
        0, 1, 8, 0, 6, 4, 0, 1, 2, 0, 0, 0, 0, 2, 192, 0, 2, 2, 0, 0, 0, 0, 0, 0, 192, 0, 2, 1,
    ];

    #[test]
    fn deconstruct() {
        let p = ArpPacket::new_checked(&REQUEST[..]).unwrap();
        assert_eq!(p.operation(), 1);
        assert_eq!(p.sender_mac(), [2, 0, 0, 0, 0, 2]);
        assert_eq!(p.sender_ip(), Ipv4Addr::new(192, 0, 2, 2));
    }

    #[test]
    fn refuses_short_and_non_ethernet_ipv4() {
        for n in 0..PACKET_LEN {
            assert!(ArpPacket::new_checked(&REQUEST[..n]).is_err());
        }
        for (i, v) in [(1, 6u8), (3, 0xdd), (4, 8), (5, 16)] {
            let mut p = REQUEST;
            p[i] = v;
            assert!(ArpPacket::new_checked(&p[..]).is_err(), "byte {i}");
        }
    }
}
