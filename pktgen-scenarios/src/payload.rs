//! The probe packet: a valid RTP packet (RFC 3550 §5.1, PT 0 = PCMU) whose
//! payload says who sent it and when.
//!
//! Layout (big-endian), after the 12-byte RTP header:
//!
//! | offset | field |
//! |---|---|
//! | 12..16 | magic `RBPG` |
//! | 16..18 | phase: packets of an earlier phase that arrive late are strays |
//! | 18 | stream index (m= line) within the call |
//! | 19 | direction: 0 caller→callee, 1 callee→caller |
//! | 20..24 | call index |
//! | 24..28, 28..30 | final destination IPv4 address and port, which only the null forwarder reads |
//! | 30..32 | zero |
//! | 32..40 | extended sequence number (the RTP header keeps its low 16 bits) |
//! | 40..48 | send time, ns of `CLOCK_MONOTONIC`, written just before `sendmmsg` |
//!
//! The rest up to the packet size is zero. A relay may rewrite the RTP
//! header (SSRC, seq) but not the payload, so the receiver identifies packets
//! by the payload alone.

use std::net::{Ipv4Addr, SocketAddrV4};

use thiserror::Error;

/// RTP fixed header length (RFC 3550 §5.1).
pub const RTP_HEADER_LEN: usize = 12;
/// The shortest packet that carries every probe field.
pub const MIN_PACKET_LEN: usize = 48;
/// G.711 at 20 ms: 160 samples of payload after the RTP header.
pub const DEFAULT_PACKET_LEN: usize = RTP_HEADER_LEN + 160;
/// RTP timestamp step per packet: 20 ms at 8 kHz.
pub const TIMESTAMP_STEP: u32 = 160;

const MAGIC: [u8; 4] = *b"RBPG";

mod field {
    use std::ops::Range;
    pub const SEQ: Range<usize> = 2..4;
    pub const TIMESTAMP: Range<usize> = 4..8;
    pub const SSRC: Range<usize> = 8..12;
    pub const MAGIC: Range<usize> = 12..16;
    pub const PHASE: Range<usize> = 16..18;
    pub const STREAM: usize = 18;
    pub const DIRECTION: usize = 19;
    pub const CALL: Range<usize> = 20..24;
    pub const DEST_IP: Range<usize> = 24..28;
    pub const DEST_PORT: Range<usize> = 28..30;
    pub const EXT_SEQ: Range<usize> = 32..40;
    pub const SEND_NS: Range<usize> = 40..48;
}

/// Which way a packet travels through the relay.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Direction {
    /// Caller (offerer, side A) to callee (side B).
    AtoB = 0,
    BtoA = 1,
}

impl Direction {
    pub const BOTH: [Direction; 2] = [Direction::AtoB, Direction::BtoA];

    pub fn index(self) -> usize {
        self as usize
    }
}

#[derive(Debug, Error, PartialEq, Eq)]
pub enum PayloadError {
    #[error("packet of {len} bytes is shorter than a probe ({MIN_PACKET_LEN})")]
    TooShort { len: usize },
    #[error("not RTP version 2 (first byte {first:#04x})")]
    NotRtp { first: u8 },
    #[error("payload does not start with the probe magic")]
    BadMagic,
    #[error("unknown direction byte {0}")]
    BadDirection(u8),
}

fn be_u16(b: &[u8]) -> u16 {
    u16::from_be_bytes([b[0], b[1]])
}
fn be_u32(b: &[u8]) -> u32 {
    u32::from_be_bytes([b[0], b[1], b[2], b[3]])
}
fn be_u64(b: &[u8]) -> u64 {
    let mut a = [0u8; 8];
    a.copy_from_slice(&b[..8]);
    u64::from_be_bytes(a)
}

/// A checked view of a probe packet; getters do not panic after
/// [`ProbePacket::new_checked`].
pub struct ProbePacket<B> {
    buf: B,
}

impl<B: AsRef<[u8]>> ProbePacket<B> {
    pub fn new_checked(buf: B) -> Result<Self, PayloadError> {
        let b = buf.as_ref();
        if b.len() < MIN_PACKET_LEN {
            return Err(PayloadError::TooShort { len: b.len() });
        }
        if b[0] >> 6 != 2 {
            return Err(PayloadError::NotRtp { first: b[0] });
        }
        if b[field::MAGIC] != MAGIC {
            return Err(PayloadError::BadMagic);
        }
        if b[field::DIRECTION] > 1 {
            return Err(PayloadError::BadDirection(b[field::DIRECTION]));
        }
        Ok(ProbePacket { buf })
    }

    fn b(&self) -> &[u8] {
        self.buf.as_ref()
    }
    pub fn rtp_seq(&self) -> u16 {
        be_u16(&self.b()[field::SEQ])
    }
    pub fn rtp_timestamp(&self) -> u32 {
        be_u32(&self.b()[field::TIMESTAMP])
    }
    pub fn ssrc(&self) -> u32 {
        be_u32(&self.b()[field::SSRC])
    }
    pub fn phase(&self) -> u16 {
        be_u16(&self.b()[field::PHASE])
    }
    pub fn stream(&self) -> u8 {
        self.b()[field::STREAM]
    }
    pub fn direction(&self) -> Direction {
        if self.b()[field::DIRECTION] == 0 {
            Direction::AtoB
        } else {
            Direction::BtoA
        }
    }
    pub fn call(&self) -> u32 {
        be_u32(&self.b()[field::CALL])
    }
    pub fn dest(&self) -> SocketAddrV4 {
        SocketAddrV4::new(
            Ipv4Addr::from(be_u32(&self.b()[field::DEST_IP])),
            be_u16(&self.b()[field::DEST_PORT]),
        )
    }
    pub fn seq(&self) -> u64 {
        be_u64(&self.b()[field::EXT_SEQ])
    }
    pub fn send_ns(&self) -> u64 {
        be_u64(&self.b()[field::SEND_NS])
    }
}

impl<B: AsRef<[u8]> + AsMut<[u8]>> ProbePacket<B> {
    pub fn set_send_ns(&mut self, ns: u64) {
        self.buf.as_mut()[field::SEND_NS].copy_from_slice(&ns.to_be_bytes());
    }
}

/// The null forwarder's whole parsing job: the destination of a datagram,
/// or `None` for anything that is not a probe.
pub fn forward_dest(pkt: &[u8]) -> Option<SocketAddrV4> {
    ProbePacket::new_checked(pkt).ok().map(|p| p.dest())
}

/// The validated content of a probe packet.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ProbeRepr {
    pub phase: u16,
    pub call: u32,
    pub stream: u8,
    pub direction: Direction,
    pub seq: u64,
    pub send_ns: u64,
    pub dest: SocketAddrV4,
}

impl ProbeRepr {
    pub fn parse<B: AsRef<[u8]>>(p: &ProbePacket<B>) -> ProbeRepr {
        ProbeRepr {
            phase: p.phase(),
            call: p.call(),
            stream: p.stream(),
            direction: p.direction(),
            seq: p.seq(),
            send_ns: p.send_ns(),
            dest: p.dest(),
        }
    }

    /// A distinct SSRC per stream and direction, as two phones would pick.
    pub fn ssrc(&self) -> u32 {
        ssrc_for(self.call, self.stream, self.direction)
    }

    /// Writes the whole packet into `buf` (its length is the packet size).
    /// Panics if `buf` is shorter than [`MIN_PACKET_LEN`]; scenario
    /// validation guarantees it is not.
    pub fn emit(&self, buf: &mut [u8]) {
        assert!(buf.len() >= MIN_PACKET_LEN, "probe buffer too short");
        buf.fill(0);
        buf[0] = 0x80; // V=2, no padding, no extension, no CSRC
        buf[1] = 0; // M=0, PT=0 (PCMU)
        buf[field::SEQ].copy_from_slice(&(self.seq as u16).to_be_bytes());
        let ts = (self.seq as u32).wrapping_mul(TIMESTAMP_STEP);
        buf[field::TIMESTAMP].copy_from_slice(&ts.to_be_bytes());
        buf[field::SSRC].copy_from_slice(&self.ssrc().to_be_bytes());
        buf[field::MAGIC].copy_from_slice(&MAGIC);
        buf[field::PHASE].copy_from_slice(&self.phase.to_be_bytes());
        buf[field::STREAM] = self.stream;
        buf[field::DIRECTION] = self.direction as u8;
        buf[field::CALL].copy_from_slice(&self.call.to_be_bytes());
        buf[field::DEST_IP].copy_from_slice(&self.dest.ip().octets());
        buf[field::DEST_PORT].copy_from_slice(&self.dest.port().to_be_bytes());
        buf[field::EXT_SEQ].copy_from_slice(&self.seq.to_be_bytes());
        buf[field::SEND_NS].copy_from_slice(&self.send_ns.to_be_bytes());
    }
}

/// See [`ProbeRepr::ssrc`].
pub fn ssrc_for(call: u32, stream: u8, direction: Direction) -> u32 {
    // Multiplying by an odd constant is a bijection on u32, so SSRCs of
    // distinct (call, stream, direction) never collide below 2^23 calls.
    ((call << 9) | (u32::from(stream) << 1) | direction as u32).wrapping_mul(0x9e37_79b1)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn repr() -> ProbeRepr {
        ProbeRepr {
            phase: 2,
            call: 0x0102_0304,
            stream: 1,
            direction: Direction::BtoA,
            seq: 0x1_0005,
            send_ns: 123_456_789,
            dest: SocketAddrV4::new(Ipv4Addr::LOCALHOST, 40000),
        }
    }

    #[test]
    fn emits_rtp_header_and_probe_fields() {
        let mut buf = [0xffu8; DEFAULT_PACKET_LEN];
        repr().emit(&mut buf);
        assert_eq!(&buf[..2], &[0x80, 0]);
        assert_eq!(&buf[2..4], &[0, 5], "RTP seq is the low 16 bits");
        assert_eq!(&buf[12..16], b"RBPG");
        assert_eq!(&buf[24..30], &[127, 0, 0, 1, 0x9c, 0x40]);
        assert!(buf[MIN_PACKET_LEN..].iter().all(|&b| b == 0));
        let p = ProbePacket::new_checked(&buf[..]).unwrap();
        assert_eq!(p.rtp_timestamp(), 0x1_0005 * TIMESTAMP_STEP);
        assert_eq!(p.ssrc(), repr().ssrc());
    }

    #[test]
    fn rejects_what_is_not_a_probe() {
        let mut buf = [0u8; DEFAULT_PACKET_LEN];
        repr().emit(&mut buf);
        assert_eq!(
            ProbePacket::new_checked(&buf[..40]).err(),
            Some(PayloadError::TooShort { len: 40 })
        );
        let mut b = buf;
        b[0] = 0x40;
        assert_eq!(
            ProbePacket::new_checked(&b[..]).err(),
            Some(PayloadError::NotRtp { first: 0x40 })
        );
        let mut b = buf;
        b[13] = b'X';
        assert_eq!(
            ProbePacket::new_checked(&b[..]).err(),
            Some(PayloadError::BadMagic)
        );
        let mut b = buf;
        b[19] = 2;
        assert_eq!(
            ProbePacket::new_checked(&b[..]).err(),
            Some(PayloadError::BadDirection(2))
        );
        assert_eq!(forward_dest(&buf), Some(repr().dest));
        assert_eq!(forward_dest(&b), None);
    }

    #[test]
    fn stamping_changes_only_the_send_time() {
        let mut buf = [0u8; DEFAULT_PACKET_LEN];
        repr().emit(&mut buf);
        let mut p = ProbePacket::new_checked(&mut buf[..]).unwrap();
        p.set_send_ns(42);
        let got = ProbeRepr::parse(&p);
        assert_eq!(
            got,
            ProbeRepr {
                send_ns: 42,
                ..repr()
            }
        );
    }

    #[test]
    fn ssrcs_differ_per_stream_and_direction() {
        let a = ssrc_for(7, 0, Direction::AtoB);
        assert_ne!(a, ssrc_for(7, 0, Direction::BtoA));
        assert_ne!(a, ssrc_for(7, 1, Direction::AtoB));
        assert_ne!(a, ssrc_for(8, 0, Direction::AtoB));
    }

    proptest! {
        #[test]
        fn parse_emit_round_trip(
            phase: u16, call: u32, stream: u8, dir: bool, seq: u64, send_ns: u64,
            ip: u32, port: u16, extra in 0usize..200,
        ) {
            let r = ProbeRepr {
                phase, call, stream,
                direction: if dir { Direction::BtoA } else { Direction::AtoB },
                seq, send_ns,
                dest: SocketAddrV4::new(Ipv4Addr::from(ip), port),
            };
            let mut buf = vec![0u8; MIN_PACKET_LEN + extra];
            r.emit(&mut buf);
            let p = ProbePacket::new_checked(&buf[..]).unwrap();
            prop_assert_eq!(ProbeRepr::parse(&p), r);
            prop_assert_eq!(p.rtp_seq(), seq as u16);
        }

        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..100)) {
            if let Ok(p) = ProbePacket::new_checked(&bytes[..]) {
                let _ = ProbeRepr::parse(&p);
            }
        }
    }
}
