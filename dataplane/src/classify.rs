//! First-byte demultiplexing of what arrives on a media port (RFC 7983 §7, updating
//! RFC 5764 §5.1.2), plus the minimum-length checks the forwarder needs.
//!
//! The data plane forwards RTP/RTCP only; STUN (ICE) and DTLS (DTLS-SRTP handshakes) go to
//! the control plane. Everything else that can share the port (ZRTP, TURN channels, QUIC)
//! is not something rtpbolt speaks, so it is dropped as malformed.

/// RFC 3550 §5.1: the fixed RTP header.
pub const RTP_MIN_LEN: usize = 12;
/// RFC 3550 §6.4.2: the smallest RTCP packet, an RR with no report blocks (header + SSRC).
pub const RTCP_MIN_LEN: usize = 8;

/// What a datagram is, by its first byte (and second byte for RTP vs RTCP).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PacketClass {
    /// First byte 0..=3: STUN (RFC 7983).
    Stun,
    /// First byte 20..=63: a DTLS record.
    Dtls,
    /// First byte 128..=191 (RTP version 2), long enough for an RTP header.
    Rtp,
    /// As RTP, but RTCP by flow flag or by packet type, long enough for an RTCP header.
    Rtcp,
    /// RTP/RTCP version bits but too short for its header.
    Truncated,
    /// Empty, or a first byte outside the ranges above.
    Other,
}

/// Classifies `buf`. `rtcp_flow`: the flow is an RTCP port, so every RTP-range packet is
/// RTCP. Otherwise RTCP is told from RTP by its packet type 192..=223 in the second byte
/// (RFC 5761 §4: the range RTP payload types must avoid under rtcp-mux).
#[inline]
pub fn classify(buf: &[u8], rtcp_flow: bool) -> PacketClass {
    let Some(&first) = buf.first() else {
        return PacketClass::Other;
    };
    match first {
        0..=3 => PacketClass::Stun,
        20..=63 => PacketClass::Dtls,
        128..=191 => {
            let rtcp = rtcp_flow || matches!(buf.get(1), Some(192..=223));
            let (class, min) = if rtcp {
                (PacketClass::Rtcp, RTCP_MIN_LEN)
            } else {
                (PacketClass::Rtp, RTP_MIN_LEN)
            };
            if buf.len() >= min {
                class
            } else {
                PacketClass::Truncated
            }
        }
        _ => PacketClass::Other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// RFC 5769 §2.1 sample request, first bytes (type 0x0001 Binding request).
    const STUN_BINDING: [u8; 8] = [0x00, 0x01, 0x00, 0x58, 0x21, 0x12, 0xa4, 0x42];
    /// A DTLS 1.2 handshake record header (content type 22, version 0xfefd).
    const DTLS_HANDSHAKE: [u8; 5] = [22, 0xfe, 0xfd, 0, 0];
    /// RTP v2, PT 0 (PCMU), seq 1, ts 160, SSRC 0x01020304.
    const RTP_PCMU: [u8; 12] = [0x80, 0x00, 0, 1, 0, 0, 0, 160, 1, 2, 3, 4];
    /// RTCP RR (PT 201), length 1, SSRC.
    const RTCP_RR: [u8; 8] = [0x80, 201, 0, 1, 1, 2, 3, 4];

    #[test]
    fn rfc7983_ranges() {
        assert_eq!(classify(&STUN_BINDING, false), PacketClass::Stun);
        assert_eq!(classify(&DTLS_HANDSHAKE, false), PacketClass::Dtls);
        assert_eq!(classify(&RTP_PCMU, false), PacketClass::Rtp);
        assert_eq!(classify(&RTCP_RR, false), PacketClass::Rtcp);
        assert_eq!(classify(&[], false), PacketClass::Other);
        // ZRTP (16..=19), TURN channel (64..=79), RTP version 0/1/3
        for b in [16u8, 19, 64, 79, 4, 100, 127, 192, 255] {
            assert_eq!(classify(&[b; 20], false), PacketClass::Other, "byte {b}");
        }
    }

    #[test]
    fn lengths() {
        assert_eq!(classify(&RTP_PCMU[..11], false), PacketClass::Truncated);
        assert_eq!(classify(&RTCP_RR[..7], false), PacketClass::Truncated);
        // On an RTCP flow 8 bytes of anything RTP-ranged is RTCP.
        assert_eq!(classify(&RTP_PCMU[..8], true), PacketClass::Rtcp);
        assert_eq!(classify(&[0x80], false), PacketClass::Truncated);
    }

    proptest! {
        #[test]
        fn never_panics_and_respects_min_len(buf in proptest::collection::vec(any::<u8>(), 0..64), rtcp in any::<bool>()) {
            match classify(&buf, rtcp) {
                PacketClass::Rtp => prop_assert!(buf.len() >= RTP_MIN_LEN && !rtcp),
                PacketClass::Rtcp => prop_assert!(buf.len() >= RTCP_MIN_LEN),
                PacketClass::Stun => prop_assert!(buf[0] <= 3),
                PacketClass::Dtls => prop_assert!((20..=63).contains(&buf[0])),
                PacketClass::Truncated => prop_assert!((128..=191).contains(&buf[0])),
                PacketClass::Other => {}
            }
        }
    }
}
