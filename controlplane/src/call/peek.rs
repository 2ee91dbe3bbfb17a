//! The two RTP/RTCP header fields query replies report (payload type and
//! sender SSRC), read from packets the control plane relays itself.

/// RTCP packet types 200..=204 occupy the second byte where RTP has M+PT
/// (RFC 5761 section 4): those are RTCP, not RTP.
fn is_rtcp(buf: &[u8]) -> bool {
    matches!(buf.get(1), Some(200..=204))
}

fn is_v2(buf: &[u8]) -> bool {
    buf.first().is_some_and(|b| b >> 6 == 2)
}

/// Whether a packet can be relayed as RTP or RTCP: version 2 in the RFC 7983
/// range (128..=191) and long enough for its fixed header. Anything else on
/// a media port is malformed (STUN and DTLS have no handler yet).
pub fn is_relayable(buf: &[u8]) -> bool {
    let min = if is_rtcp(buf) { 8 } else { 12 };
    is_v2(buf) && buf.len() >= min
}

/// Payload type of an RTP packet (not RTCP).
pub fn rtp_payload_type(buf: &[u8]) -> Option<u8> {
    if buf.len() < 12 || !is_v2(buf) || is_rtcp(buf) {
        return None;
    }
    buf.get(1).map(|b| b & 0x7f)
}

/// The SSRC of an RTP packet, or the sender SSRC of an RTCP packet.
pub fn sender_ssrc(buf: &[u8]) -> Option<u32> {
    if !is_v2(buf) {
        return None;
    }
    let at = if is_rtcp(buf) { 4 } else { 8 };
    let b = buf.get(at..at + 4)?;
    Some(u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rtp_and_rtcp_fields() {
        let rtp = [0x80, 0x88, 0, 1, 0, 0, 0, 160, 0x11, 0x22, 0x33, 0x44];
        assert_eq!(rtp_payload_type(&rtp), Some(8));
        assert_eq!(sender_ssrc(&rtp), Some(0x1122_3344));
        // RTCP SR: V=2, PT=200, sender SSRC in bytes 4..8.
        let rtcp = [0x80, 200, 0, 6, 0xde, 0xad, 0xbe, 0xef];
        assert_eq!(rtp_payload_type(&rtcp), None);
        assert_eq!(sender_ssrc(&rtcp), Some(0xdead_beef));
        assert_eq!(sender_ssrc(&[0x00, 0, 0]), None);
        assert_eq!(rtp_payload_type(&rtp[..11]), None);
        assert!(is_relayable(&rtp) && is_relayable(&rtcp));
        assert!(!is_relayable(&rtp[..11]) && !is_relayable(&[0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]));
    }
}
