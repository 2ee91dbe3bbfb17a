//! IPv6 fixed header view (RFC 8200 §3). Extension headers are not walked: a packet whose
//! next header is not UDP is the kernel's, which also covers hop-by-hop jumbograms
//! (payload length 0).

use std::net::Ipv6Addr;

use super::error::{FrameError, Layer};

/// Fixed header length.
pub const HEADER_LEN: usize = 40;

mod field {
    use core::ops::Range;
    pub const VER_TC_FLOW: Range<usize> = 0..4;
    pub const LENGTH: Range<usize> = 4..6;
    pub const NEXT_HEADER: usize = 6;
    pub const HOP_LIMIT: usize = 7;
    pub const SRC: Range<usize> = 8..24;
    pub const DST: Range<usize> = 24..40;
}

/// A view of an IPv6 packet whose fixed header and payload length fit the buffer.
#[derive(Clone, Copy, Debug)]
pub struct Ipv6Packet<B> {
    buf: B,
}

#[inline]
fn addr(b: &[u8]) -> Ipv6Addr {
    let mut a = [0u8; 16];
    a.copy_from_slice(b);
    Ipv6Addr::from(a)
}

impl<B: AsRef<[u8]>> Ipv6Packet<B> {
    /// Checks version 6 and the payload length within the buffer.
    pub fn new_checked(buf: B) -> Result<Self, FrameError> {
        let b = buf.as_ref();
        let have = b.len();
        if have < HEADER_LEN {
            return Err(FrameError::Truncated {
                layer: Layer::Ipv6,
                need: HEADER_LEN,
                have,
            });
        }
        let version = b[0] >> 4;
        if version != 6 {
            return Err(FrameError::Version {
                layer: Layer::Ipv6,
                found: version,
            });
        }
        let payload = usize::from(u16::from_be_bytes([b[4], b[5]]));
        if HEADER_LEN + payload > have {
            return Err(FrameError::Length {
                layer: Layer::Ipv6,
                field: payload,
                have: have - HEADER_LEN,
            });
        }
        Ok(Ipv6Packet { buf })
    }

    /// Traffic class (DSCP and ECN).
    #[inline]
    pub fn traffic_class(&self) -> u8 {
        let b = &self.buf.as_ref()[field::VER_TC_FLOW];
        (b[0] << 4) | (b[1] >> 4)
    }

    /// Flow label.
    #[inline]
    pub fn flow_label(&self) -> u32 {
        let b = &self.buf.as_ref()[field::VER_TC_FLOW];
        u32::from_be_bytes([0, b[1] & 0x0f, b[2], b[3]])
    }

    /// Payload length field.
    #[inline]
    pub fn payload_len(&self) -> usize {
        let b = &self.buf.as_ref()[field::LENGTH];
        usize::from(u16::from_be_bytes([b[0], b[1]]))
    }

    /// Next header (the payload's protocol when there are no extension headers).
    #[inline]
    pub fn next_header(&self) -> u8 {
        self.buf.as_ref()[field::NEXT_HEADER]
    }

    /// Hop limit.
    #[inline]
    pub fn hop_limit(&self) -> u8 {
        self.buf.as_ref()[field::HOP_LIMIT]
    }

    /// Source address.
    #[inline]
    pub fn src(&self) -> Ipv6Addr {
        addr(&self.buf.as_ref()[field::SRC])
    }

    /// Destination address.
    #[inline]
    pub fn dst(&self) -> Ipv6Addr {
        addr(&self.buf.as_ref()[field::DST])
    }

    /// The payload, as long as the payload length says (Ethernet padding excluded).
    #[inline]
    pub fn payload(&self) -> &[u8] {
        &self.buf.as_ref()[HEADER_LEN..HEADER_LEN + self.payload_len()]
    }
}

/// Writes an IPv6 header for `payload_len` bytes of `next_header` at the start of `buf`,
/// flow label 0.
///
/// # Panics
/// If `buf` is shorter than [`HEADER_LEN`].
#[inline]
pub fn emit(
    buf: &mut [u8],
    src: Ipv6Addr,
    dst: Ipv6Addr,
    traffic_class: u8,
    hop_limit: u8,
    next_header: u8,
    payload_len: u16,
) {
    let h = &mut buf[..HEADER_LEN];
    let word0 = 6u32 << 28 | u32::from(traffic_class) << 20;
    h[field::VER_TC_FLOW].copy_from_slice(&word0.to_be_bytes());
    h[field::LENGTH].copy_from_slice(&payload_len.to_be_bytes());
    h[field::NEXT_HEADER] = next_header;
    h[field::HOP_LIMIT] = hop_limit;
    h[field::SRC].copy_from_slice(&src.octets());
    h[field::DST].copy_from_slice(&dst.octets());
}

#[cfg(test)]
mod tests {
    use super::*;

    /// UDP (17), traffic class 0xb8 (EF), flow label 0x12345, hop limit 64, payload 8,
    /// 2001:db8::1 → 2001:db8::2 (RFC 3849 documentation prefix).
    const HEADER: [u8; 40] = [
        0x6b, 0x81, 0x23, 0x45, 0, 8, 17, 64, 0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
        0, 1, 0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2,
    ];

    #[test]
    fn deconstruct() {
        let mut p = HEADER.to_vec();
        p.extend_from_slice(&[9; 10]);
        let v = Ipv6Packet::new_checked(&p[..]).unwrap();
        assert_eq!((v.traffic_class(), v.flow_label()), (0xb8, 0x12345));
        assert_eq!(
            (v.payload_len(), v.next_header(), v.hop_limit()),
            (8, 17, 64)
        );
        assert_eq!(v.src(), "2001:db8::1".parse::<Ipv6Addr>().unwrap());
        assert_eq!(v.dst(), "2001:db8::2".parse::<Ipv6Addr>().unwrap());
        assert_eq!(v.payload(), &[9; 8]);
    }

    #[test]
    fn construct() {
        let mut b = [0u8; 40];
        let (s, d) = (
            "2001:db8::1".parse().unwrap(),
            "2001:db8::2".parse().unwrap(),
        );
        emit(&mut b, s, d, 0xb8, 64, 17, 8);
        let mut expected = HEADER;
        expected[1] = 0x80; // no flow label
        expected[2] = 0;
        expected[3] = 0;
        assert_eq!(b, expected);
    }

    #[test]
    fn refuses_bad_headers() {
        let mut p = HEADER.to_vec();
        p.extend_from_slice(&[0; 8]);
        for n in 0..p.len() {
            assert!(Ipv6Packet::new_checked(&p[..n]).is_err(), "{n}");
        }
        let mut v4 = p.clone();
        v4[0] = 0x45;
        assert_eq!(
            Ipv6Packet::new_checked(&v4[..]).err(),
            Some(FrameError::Version {
                layer: Layer::Ipv6,
                found: 4
            })
        );
    }
}
