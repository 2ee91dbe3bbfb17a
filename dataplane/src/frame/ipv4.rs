//! IPv4 header view (RFC 791). `new_checked` validates what a host checks before looking
//! at the payload (RFC 1122 §3.2.1.1-2: version, header length, total length); the header
//! checksum is a separate step ([`Ipv4Packet::verify_checksum`]) so that callers choose
//! when to pay for it.

use std::net::Ipv4Addr;

use super::checksum;
use super::error::{FrameError, Layer};

/// Header length without options; also what [`emit`] writes.
pub const HEADER_LEN: usize = 20;

mod field {
    use core::ops::Range;
    pub const VER_IHL: usize = 0;
    pub const TOS: usize = 1;
    pub const LENGTH: Range<usize> = 2..4;
    pub const IDENT: Range<usize> = 4..6;
    pub const FLG_OFF: Range<usize> = 6..8;
    pub const TTL: usize = 8;
    pub const PROTOCOL: usize = 9;
    pub const CHECKSUM: Range<usize> = 10..12;
    pub const SRC: Range<usize> = 12..16;
    pub const DST: Range<usize> = 16..20;
}

const FLAG_DF: u16 = 0x4000;
const FLAG_MF: u16 = 0x2000;
const FRAG_OFFSET_MASK: u16 = 0x1fff;

/// A view of an IPv4 packet whose header and total length fit the buffer. Bytes past the
/// total length (Ethernet padding) are not part of the packet.
#[derive(Clone, Copy, Debug)]
pub struct Ipv4Packet<B> {
    buf: B,
}

#[inline]
fn be16(b: &[u8]) -> u16 {
    u16::from_be_bytes([b[0], b[1]])
}

impl<B: AsRef<[u8]>> Ipv4Packet<B> {
    /// Checks version 4, IHL ≥ 5, the header within the buffer and a total length between
    /// the header length and the buffer length.
    pub fn new_checked(buf: B) -> Result<Self, FrameError> {
        let b = buf.as_ref();
        let have = b.len();
        if have < HEADER_LEN {
            return Err(FrameError::Truncated {
                layer: Layer::Ipv4,
                need: HEADER_LEN,
                have,
            });
        }
        let version = b[field::VER_IHL] >> 4;
        if version != 4 {
            return Err(FrameError::Version {
                layer: Layer::Ipv4,
                found: version,
            });
        }
        let header_len = usize::from(b[field::VER_IHL] & 0x0f) * 4;
        if header_len < HEADER_LEN || header_len > have {
            return Err(FrameError::Length {
                layer: Layer::Ipv4,
                field: header_len,
                have,
            });
        }
        let total = usize::from(be16(&b[field::LENGTH]));
        if total < header_len || total > have {
            return Err(FrameError::Length {
                layer: Layer::Ipv4,
                field: total,
                have,
            });
        }
        Ok(Ipv4Packet { buf })
    }

    /// Header length in bytes (IHL × 4), options included.
    #[inline]
    pub fn header_len(&self) -> usize {
        usize::from(self.buf.as_ref()[field::VER_IHL] & 0x0f) * 4
    }

    /// Total length field: header plus payload.
    #[inline]
    pub fn total_len(&self) -> usize {
        usize::from(be16(&self.buf.as_ref()[field::LENGTH]))
    }

    /// Type of service (DSCP and ECN).
    #[inline]
    pub fn tos(&self) -> u8 {
        self.buf.as_ref()[field::TOS]
    }

    /// Identification.
    #[inline]
    pub fn ident(&self) -> u16 {
        be16(&self.buf.as_ref()[field::IDENT])
    }

    /// Don't Fragment.
    #[inline]
    pub fn dont_frag(&self) -> bool {
        be16(&self.buf.as_ref()[field::FLG_OFF]) & FLAG_DF != 0
    }

    /// Whether this is a fragment (More Fragments set, or a nonzero offset): only the
    /// kernel reassembles.
    #[inline]
    pub fn is_fragment(&self) -> bool {
        be16(&self.buf.as_ref()[field::FLG_OFF]) & (FLAG_MF | FRAG_OFFSET_MASK) != 0
    }

    /// Time to live.
    #[inline]
    pub fn ttl(&self) -> u8 {
        self.buf.as_ref()[field::TTL]
    }

    /// Payload protocol number.
    #[inline]
    pub fn protocol(&self) -> u8 {
        self.buf.as_ref()[field::PROTOCOL]
    }

    /// Source address.
    #[inline]
    pub fn src(&self) -> Ipv4Addr {
        let b = &self.buf.as_ref()[field::SRC];
        Ipv4Addr::new(b[0], b[1], b[2], b[3])
    }

    /// Destination address.
    #[inline]
    pub fn dst(&self) -> Ipv4Addr {
        let b = &self.buf.as_ref()[field::DST];
        Ipv4Addr::new(b[0], b[1], b[2], b[3])
    }

    /// Whether the header checksum verifies (options included).
    #[inline]
    pub fn verify_checksum(&self) -> bool {
        checksum::verifies(checksum::sum(&self.buf.as_ref()[..self.header_len()]))
    }

    /// The payload: from the end of the header to the total length.
    #[inline]
    pub fn payload(&self) -> &[u8] {
        &self.buf.as_ref()[self.header_len()..self.total_len()]
    }
}

/// Writes an option-less IPv4 header for `payload_len` bytes of `protocol` at the start of
/// `buf`: DF set and identification 0 (RFC 6864 §4.1: atomic datagrams need no unique
/// ID), checksum filled in.
///
/// # Panics
/// If `buf` is shorter than [`HEADER_LEN`]. The caller keeps `payload_len` within
/// 65515 (the total length field); beyond it the field wraps.
#[inline]
pub fn emit(
    buf: &mut [u8],
    src: Ipv4Addr,
    dst: Ipv4Addr,
    tos: u8,
    ttl: u8,
    protocol: u8,
    payload_len: u16,
) {
    debug_assert!(usize::from(payload_len) + HEADER_LEN <= usize::from(u16::MAX));
    let total = payload_len.wrapping_add(HEADER_LEN as u16);
    let h = &mut buf[..HEADER_LEN];
    h[field::VER_IHL] = 0x45;
    h[field::TOS] = tos;
    h[field::LENGTH].copy_from_slice(&total.to_be_bytes());
    h[field::IDENT].copy_from_slice(&[0, 0]);
    h[field::FLG_OFF].copy_from_slice(&FLAG_DF.to_be_bytes());
    h[field::TTL] = ttl;
    h[field::PROTOCOL] = protocol;
    h[field::SRC].copy_from_slice(&src.octets());
    h[field::DST].copy_from_slice(&dst.octets());
    // The fixed words as numbers: version/IHL/TOS, length, (ident 0), flags, TTL/protocol;
    // addresses as 32-bit words (see `checksum::pseudo_header`).
    let sum = checksum::combine32(&[
        0x4500 | u32::from(tos),
        u32::from(total),
        u32::from(FLAG_DF),
        u32::from(ttl) << 8 | u32::from(protocol),
        src.to_bits(),
        dst.to_bits(),
    ]);
    h[field::CHECKSUM].copy_from_slice(&checksum::finish(sum).to_be_bytes());
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The widely used worked example of the header checksum: UDP from 192.168.0.1 to
    /// 192.168.0.199, total length 115, DF, TTL 64, checksum 0xb861.
    const HEADER: [u8; 20] = [
        0x45, 0x00, 0x00, 0x73, 0x00, 0x00, 0x40, 0x00, 0x40, 0x11, 0xb8, 0x61, 0xc0, 0xa8, 0x00,
        0x01, 0xc0, 0xa8, 0x00, 0xc7,
    ];

    fn packet() -> Vec<u8> {
        let mut p = HEADER.to_vec();
        p.resize(0x73, 0xaa);
        p
    }

    #[test]
    fn deconstruct() {
        let p = packet();
        let v = Ipv4Packet::new_checked(&p[..]).unwrap();
        assert_eq!(
            (v.header_len(), v.total_len(), v.ttl(), v.protocol()),
            (20, 115, 64, 17)
        );
        assert_eq!(v.src(), Ipv4Addr::new(192, 168, 0, 1));
        assert_eq!(v.dst(), Ipv4Addr::new(192, 168, 0, 199));
        assert!(v.dont_frag() && !v.is_fragment() && v.verify_checksum());
        assert_eq!((v.tos(), v.ident(), v.payload().len()), (0, 0, 95));
    }

    #[test]
    fn construct_matches_the_known_header() {
        let mut b = [0u8; 20];
        let (src, dst) = (
            Ipv4Addr::new(192, 168, 0, 1),
            Ipv4Addr::new(192, 168, 0, 199),
        );
        emit(&mut b, src, dst, 0, 64, 17, 95);
        assert_eq!(b, HEADER);
        for tos in [0, 0xb8, 0xff] {
            emit(&mut b, src, dst, tos, 1, 6, 65_000);
            assert!(Ipv4Packet::new_checked(&b[..]).is_err(), "total > buffer");
            let mut p = b.to_vec();
            p.resize(65_020, 0);
            assert!(Ipv4Packet::new_checked(&p[..]).unwrap().verify_checksum());
        }
    }

    #[test]
    fn refuses_bad_headers() {
        let p = packet();
        for n in 0..p.len() {
            assert!(Ipv4Packet::new_checked(&p[..n]).is_err(), "{n}");
        }
        let with = |i: usize, v: u8| {
            let mut q = p.clone();
            q[i] = v;
            Ipv4Packet::new_checked(q).err()
        };
        assert_eq!(
            with(0, 0x65),
            Some(FrameError::Version {
                layer: Layer::Ipv4,
                found: 6
            })
        );
        assert!(matches!(
            with(0, 0x44),
            Some(FrameError::Length { field: 16, .. })
        ));
        // IHL 15: a 60-byte header past a 50-byte packet
        let mut short = p[..50].to_vec();
        short[0] = 0x4f;
        short[3] = 50;
        assert_eq!(
            Ipv4Packet::new_checked(&short[..]).err(),
            Some(FrameError::Length {
                layer: Layer::Ipv4,
                field: 60,
                have: 50
            })
        );
        // total length shorter than the header
        assert!(matches!(
            with(3, 19),
            Some(FrameError::Length { field: 19, .. })
        ));
        // padding after the total length is fine and not payload
        let mut padded = p.clone();
        padded.extend_from_slice(&[0; 10]);
        assert_eq!(
            Ipv4Packet::new_checked(&padded[..])
                .unwrap()
                .payload()
                .len(),
            95
        );
    }

    #[test]
    fn checksum_and_fragments() {
        let mut p = packet();
        p[11] ^= 1;
        assert!(!Ipv4Packet::new_checked(&p[..]).unwrap().verify_checksum());
        for (hi, lo) in [(0x20, 0), (0x00, 1), (0x40 | 0x1f, 0xff)] {
            let mut q = packet();
            q[6] = hi;
            q[7] = lo;
            assert!(Ipv4Packet::new_checked(&q[..]).unwrap().is_fragment());
        }
    }
}
