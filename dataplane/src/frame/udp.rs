//! UDP header view (RFC 768) and its checksum over the IPv4/IPv6 pseudo-header.
//!
//! Checking a checksum sums the whole payload; that sum is returned so that a rewrite can
//! compute the outgoing checksum from new headers plus the unchanged payload's sum
//! without touching the payload again, whatever the address family on either side.

use std::net::{IpAddr, SocketAddr};

use super::checksum;
use super::error::{FrameError, Layer};

/// Header length.
pub const HEADER_LEN: usize = 8;

mod field {
    use core::ops::Range;
    pub const SRC_PORT: Range<usize> = 0..2;
    pub const DST_PORT: Range<usize> = 2..4;
    pub const LENGTH: Range<usize> = 4..6;
    pub const CHECKSUM: Range<usize> = 6..8;
}

/// A view of a UDP datagram whose length field is at least the header and at most the IP
/// payload. Like Linux (`udp_rcv`), a length shorter than the IP payload is accepted and
/// the rest ignored.
#[derive(Clone, Copy, Debug)]
pub struct UdpPacket<B> {
    buf: B,
}

#[inline]
fn be16(b: &[u8]) -> u16 {
    u16::from_be_bytes([b[0], b[1]])
}

impl<B: AsRef<[u8]>> UdpPacket<B> {
    /// Checks the header and length field against `buf`, the IP payload.
    pub fn new_checked(buf: B) -> Result<Self, FrameError> {
        let b = buf.as_ref();
        let have = b.len();
        if have < HEADER_LEN {
            return Err(FrameError::Truncated {
                layer: Layer::Udp,
                need: HEADER_LEN,
                have,
            });
        }
        let len = usize::from(be16(&b[field::LENGTH]));
        if !(HEADER_LEN..=have).contains(&len) {
            return Err(FrameError::Length {
                layer: Layer::Udp,
                field: len,
                have,
            });
        }
        Ok(UdpPacket { buf })
    }

    /// Source port.
    #[inline]
    pub fn src_port(&self) -> u16 {
        be16(&self.buf.as_ref()[field::SRC_PORT])
    }

    /// Destination port.
    #[inline]
    pub fn dst_port(&self) -> u16 {
        be16(&self.buf.as_ref()[field::DST_PORT])
    }

    /// Length field: header plus payload.
    #[inline]
    pub fn len(&self) -> usize {
        usize::from(be16(&self.buf.as_ref()[field::LENGTH]))
    }

    /// Never true after `new_checked` (the length covers at least the header); for API
    /// symmetry with `len`.
    #[inline]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Checksum field.
    #[inline]
    pub fn checksum(&self) -> u16 {
        be16(&self.buf.as_ref()[field::CHECKSUM])
    }

    /// The payload, as long as the length field says.
    #[inline]
    pub fn payload(&self) -> &[u8] {
        &self.buf.as_ref()[HEADER_LEN..self.len()]
    }

    /// Verifies the checksum for a datagram from `src` to `dst` (one family) and returns
    /// the payload's folded sum. A zero checksum means "none" over IPv4 (RFC 768) and is
    /// invalid over IPv6 (RFC 8200 §8.1).
    #[inline]
    pub fn check(&self, src: IpAddr, dst: IpAddr) -> Result<u16, FrameError> {
        let payload_sum = checksum::sum(self.payload());
        let field = self.checksum();
        if field == 0 {
            return match src {
                IpAddr::V4(_) => Ok(payload_sum),
                IpAddr::V6(_) => Err(FrameError::Checksum { layer: Layer::Udp }),
            };
        }
        let len = self.len() as u16;
        let total = checksum::combine(&[
            checksum::pseudo_header(src, dst, len),
            self.src_port(),
            self.dst_port(),
            len,
            field,
            payload_sum,
        ]);
        if checksum::verifies(total) {
            Ok(payload_sum)
        } else {
            Err(FrameError::Checksum { layer: Layer::Udp })
        }
    }
}

/// Writes a UDP header from `src` to `dst` (one family) with length field `len` (header
/// plus payload) for a payload whose folded sum is `payload_sum`, checksum filled in.
///
/// # Panics
/// If `buf` is shorter than [`HEADER_LEN`].
#[inline]
pub fn emit(buf: &mut [u8], src: SocketAddr, dst: SocketAddr, len: u16, payload_sum: u16) {
    let sum = checksum::combine(&[
        checksum::pseudo_header(src.ip(), dst.ip(), len),
        src.port(),
        dst.port(),
        len,
        payload_sum,
    ]);
    let h = &mut buf[..HEADER_LEN];
    h[field::SRC_PORT].copy_from_slice(&src.port().to_be_bytes());
    h[field::DST_PORT].copy_from_slice(&dst.port().to_be_bytes());
    h[field::LENGTH].copy_from_slice(&len.to_be_bytes());
    h[field::CHECKSUM].copy_from_slice(&checksum::finish_udp(sum).to_be_bytes());
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    /// 192.0.2.1:5004 → 192.0.2.2:30000, payload "rtp!". Checksum by hand: pseudo-header
    /// c000+0201+c000+0202+0011+000c, header 138c+7530+000c, payload 7274+7021; the sum
    /// 0x2ef7d folds to 0xef7f, whose complement is 0x1080.
    const DATAGRAM: [u8; 12] = [
        0x13, 0x8c, 0x75, 0x30, 0x00, 0x0c, 0x10, 0x80, b'r', b't', b'p', b'!',
    ];

    #[test]
    fn deconstruct_and_verify() {
        let u = UdpPacket::new_checked(&DATAGRAM[..]).unwrap();
        assert_eq!((u.src_port(), u.dst_port(), u.len()), (5004, 30000, 12));
        assert_eq!(u.payload(), b"rtp!");
        let sum = u.check(ip("192.0.2.1"), ip("192.0.2.2")).unwrap();
        assert_eq!(sum, checksum::sum(b"rtp!"));
        assert_eq!(
            u.check(ip("192.0.2.1"), ip("192.0.2.3")),
            Err(FrameError::Checksum { layer: Layer::Udp })
        );
    }

    #[test]
    fn construct() {
        let mut b = DATAGRAM;
        b[..8].fill(0);
        let (s, d) = ("192.0.2.1:5004", "192.0.2.2:30000");
        emit(
            &mut b,
            s.parse().unwrap(),
            d.parse().unwrap(),
            12,
            checksum::sum(b"rtp!"),
        );
        assert_eq!(b, DATAGRAM);
    }

    #[test]
    fn zero_checksum_is_none_over_ipv4_and_invalid_over_ipv6() {
        let mut d = DATAGRAM;
        d[6..8].fill(0);
        let u = UdpPacket::new_checked(&d[..]).unwrap();
        assert!(u.check(ip("192.0.2.1"), ip("10.0.0.1")).is_ok());
        assert_eq!(
            u.check(ip("2001:db8::1"), ip("2001:db8::2")),
            Err(FrameError::Checksum { layer: Layer::Udp })
        );
    }

    #[test]
    fn lengths() {
        for n in 0..8 {
            assert!(UdpPacket::new_checked(&DATAGRAM[..n]).is_err());
        }
        // length field past the IP payload, or below the header
        assert!(UdpPacket::new_checked(&DATAGRAM[..11]).is_err());
        let mut d = DATAGRAM;
        d[5] = 7;
        assert!(UdpPacket::new_checked(&d[..]).is_err());
        // shorter than the IP payload: the rest is ignored
        d[5] = 10;
        assert_eq!(UdpPacket::new_checked(&d[..]).unwrap().payload(), b"rt");
    }
}
