//! SRTP packets (RFC 3711 §3.1-§3.3, RFC 7714 §8): protect and unprotect in place.
//!
//! Layouts:
//! - HMAC-SHA1 suites: header || payload (encrypted) || MKI || tag, the tag over
//!   header || payload || ROC.
//! - AES-GCM: header || payload (encrypted) || tag || MKI, the header as associated data.

use crate::cipher::{f8_rtp_iv, PayloadCipher};
use crate::error::SrtpError;
use crate::gcm::GCM_TAG_LEN;
use crate::index::{estimate_index, IndexEstimate};
use crate::replay::ReplayBitmap;
use crate::session::{check_room, SrtpSession, Transform};

/// V, P, X, CC, M, PT, sequence number, timestamp, SSRC.
const RTP_FIXED_HEADER_LEN: usize = 12;
const RTP_VERSION: u8 = 2;
const FLAG_INITIALISED: u8 = 1;

/// Per-SSRC SRTP state: rollover counter, highest sequence number, replay bitmap.
///
/// Plain old data (24 bytes, `#[repr(C)]`, no padding holes) so that it can live in
/// shared memory or a per-flow cache and be copied freely. A sender keeps one to track
/// its ROC from the sequence numbers it sends; a receiver keeps one per SSRC it accepts,
/// which the first authenticated packet initialises.
#[derive(Clone, Copy, Default, Debug, PartialEq, Eq)]
#[repr(C)]
pub struct RtpStreamState {
    replay: ReplayBitmap,
    roc: u32,
    seq: u16,
    flags: u8,
    reserved: u8,
}

impl RtpStreamState {
    /// A stream positioned at rollover counter `roc` and highest sequence number `seq`,
    /// with no packet recorded as received (so `seq` itself is still accepted once).
    /// For taking over a stream whose ROC is known, e.g. from another worker.
    pub fn new(roc: u32, seq: u16) -> Self {
        RtpStreamState {
            replay: ReplayBitmap::default(),
            roc,
            seq,
            flags: FLAG_INITIALISED,
            reserved: 0,
        }
    }

    pub fn roc(&self) -> u32 {
        self.roc
    }

    /// The highest sequence number sent or authenticated so far.
    pub fn seq(&self) -> u16 {
        self.seq
    }

    /// Whether a packet (or [`RtpStreamState::new`]) has set the ROC and sequence number.
    pub fn is_initialised(&self) -> bool {
        self.flags & FLAG_INITIALISED != 0
    }

    /// The 48-bit packet index (ROC << 16 | SEQ) reached, if the stream has started:
    /// the form in which indices are handed between control and data plane.
    pub fn packet_index(&self) -> Option<u64> {
        self.is_initialised()
            .then(|| u64::from(self.roc) << 16 | u64::from(self.seq))
    }

    /// A stream positioned at a [`packet_index`](Self::packet_index); `None` gives a
    /// fresh stream, which its first packet initialises (RFC 3711 §3.3.1).
    pub fn at_index(index: Option<u64>) -> Self {
        match index {
            Some(i) => RtpStreamState::new((i >> 16) as u32, i as u16),
            None => RtpStreamState::default(),
        }
    }

    /// Where `seq` falls. An uninitialised stream takes its first packet as the highest,
    /// under the ROC it was created with (0 by default, RFC 3711 §3.3.1).
    fn estimate(&self, seq: u16) -> Result<IndexEstimate, SrtpError> {
        let estimate = if self.is_initialised() {
            estimate_index(self.roc, self.seq, seq)
        } else {
            IndexEstimate {
                roc: i64::from(self.roc),
                delta: 1,
            }
        };
        if estimate.roc > i64::from(u32::MAX) {
            // 2^48 packets under one master key: RFC 3711 §9.2 requires a new one.
            return Err(SrtpError::KeyExhausted);
        }
        Ok(estimate)
    }

    /// Records a packet that was sent or authenticated.
    fn accept(&mut self, estimate: IndexEstimate, seq: u16) {
        if !self.is_initialised() {
            self.replay = ReplayBitmap::first();
            self.flags |= FLAG_INITIALISED;
        } else {
            self.replay = self.replay.record(estimate.delta);
            if estimate.delta <= 0 {
                return;
            }
        }
        self.roc = estimate.roc_mod_2_32();
        self.seq = seq;
    }
}

/// What protection needs from an RTP header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct RtpHeader {
    /// Fixed header, CSRCs and extension: where the encrypted payload starts.
    pub(crate) len: usize,
    pub(crate) seq: u16,
    pub(crate) ssrc: u32,
}

/// Parses the header of `packet` (which ends where the payload does).
///
/// Returns only offsets and numbers; a copy of the header bytes in the result cost a
/// store-forwarding stall per packet.
#[inline]
pub(crate) fn parse_rtp_header(packet: &[u8]) -> Result<RtpHeader, SrtpError> {
    let fixed: &[u8; RTP_FIXED_HEADER_LEN] = packet
        .get(..RTP_FIXED_HEADER_LEN)
        .and_then(|bytes| bytes.try_into().ok())
        .ok_or(SrtpError::TooShort {
            len: packet.len(),
            min: RTP_FIXED_HEADER_LEN,
        })?;
    if fixed[0] >> 6 != RTP_VERSION {
        return Err(SrtpError::BadHeader("RTP version is not 2"));
    }
    let csrc_count = usize::from(fixed[0] & 0x0f);
    let mut len = RTP_FIXED_HEADER_LEN + 4 * csrc_count;
    if len > packet.len() {
        return Err(SrtpError::BadHeader("CSRC list runs past the end"));
    }
    let has_extension = fixed[0] & 0x10 != 0;
    if has_extension {
        let extension_length = packet
            .get(len + 2..len + 4)
            .map(|bytes| usize::from(u16::from_be_bytes([bytes[0], bytes[1]])))
            .ok_or(SrtpError::BadHeader("header extension runs past the end"))?;
        len += 4 + 4 * extension_length;
        if len > packet.len() {
            return Err(SrtpError::BadHeader("header extension runs past the end"));
        }
    }
    Ok(RtpHeader {
        len,
        seq: u16::from_be_bytes([fixed[2], fixed[3]]),
        ssrc: u32::from_be_bytes([fixed[8], fixed[9], fixed[10], fixed[11]]),
    })
}

/// Encrypts or decrypts (the same XOR) the payload of `packet`, which ends where the
/// payload does, with an HMAC suite's cipher.
fn apply_payload_cipher(
    cipher: &PayloadCipher,
    header: &RtpHeader,
    roc: u32,
    index: u64,
    packet: &mut [u8],
) {
    cipher.apply(
        header.ssrc,
        index,
        |head| f8_rtp_iv(head, roc),
        header.len,
        packet,
    );
}

impl SrtpSession {
    /// Encrypts and authenticates the RTP packet in `buf[..len]` in place, appending MKI
    /// and tag; returns the SRTP length.
    ///
    /// `state` is the sender's state for the packet's SSRC: its ROC follows the sequence
    /// numbers sent, including reordered ones a relay forwards late. Fails without
    /// touching `state` or `buf` when `buf` has no room for [`SrtpSession::rtp_overhead`]
    /// more bytes or the header is malformed.
    pub fn protect_rtp(
        &self,
        state: &mut RtpStreamState,
        buf: &mut [u8],
        len: usize,
    ) -> Result<usize, SrtpError> {
        let trailer = self.rtp_trailer();
        check_room(buf.len(), len, trailer.len())?;
        let header = parse_rtp_header(&buf[..len])?;
        let estimate = state.estimate(header.seq)?;
        let roc = estimate.roc_mod_2_32();
        let index = estimate.packet_index(header.seq);
        let mut derived = None;
        let transform = self.rtp_transform(index, &mut derived)?;
        let layout = trailer.at(len);
        let mut tag = [0u8; GCM_TAG_LEN];
        let tag = &mut tag[..trailer.tag_len];
        match transform {
            Transform::Hmac { cipher, auth } => {
                if !self.flags.unencrypted_srtp {
                    apply_payload_cipher(cipher, &header, roc, index, &mut buf[..len]);
                }
                if !tag.is_empty() {
                    let full_tag = auth.tag(&buf[..len], &roc.to_be_bytes());
                    tag.copy_from_slice(&full_tag[..tag.len()]);
                }
            }
            Transform::Aead(gcm) => {
                let iv = gcm.rtp_iv(header.ssrc, roc, header.seq);
                let (aad, payload) = buf[..len].split_at_mut(header.len);
                tag.copy_from_slice(&gcm.seal(&iv, aad, payload)?);
            }
        }
        layout.write(buf, &[], self.mki.bytes(), tag);
        state.accept(estimate, header.seq);
        Ok(layout.end)
    }

    /// Authenticates (constant-time tag compare), checks for replay and decrypts the
    /// SRTP packet `buf` in place; returns the RTP length, MKI and tag stripped.
    ///
    /// `state` is the receiver's state for the packet's SSRC. It changes only once the
    /// packet authenticated, so forged packets cannot move the ROC or the window.
    pub fn unprotect_rtp(
        &self,
        state: &mut RtpStreamState,
        buf: &mut [u8],
    ) -> Result<usize, SrtpError> {
        let trailer = self.rtp_trailer();
        let layout = trailer.locate(buf, RTP_FIXED_HEADER_LEN, self.mki.bytes())?;
        let payload_end = layout.payload_end;
        let header = parse_rtp_header(&buf[..payload_end])?;
        let estimate = state.estimate(header.seq)?;
        if state.is_initialised() {
            state.replay.check(estimate.delta, self.replay_window)?;
        }
        let roc = estimate.roc_mod_2_32();
        let index = estimate.packet_index(header.seq);
        let mut derived = None;
        let transform = self.rtp_transform(index, &mut derived)?;
        match transform {
            Transform::Hmac { cipher, auth } => {
                let received = layout.tag(buf, trailer.tag_len);
                if !received.is_empty()
                    && !auth.verify(&buf[..payload_end], &roc.to_be_bytes(), received)
                {
                    return Err(SrtpError::AuthFailed);
                }
                if !self.flags.unencrypted_srtp {
                    let packet = &mut buf[..payload_end];
                    apply_payload_cipher(cipher, &header, roc, index, packet);
                }
            }
            Transform::Aead(gcm) => {
                let mut tag = [0u8; GCM_TAG_LEN];
                tag.copy_from_slice(layout.tag(buf, GCM_TAG_LEN));
                let iv = gcm.rtp_iv(header.ssrc, roc, header.seq);
                let (aad, payload) = buf[..payload_end].split_at_mut(header.len);
                gcm.open(&iv, aad, payload, &tag)?;
            }
        }
        state.accept(estimate, header.seq);
        Ok(payload_end)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::session::SessionFlags;
    use crate::suite::SrtpSuite;
    use crate::test_support::{array, unhex};

    const RFC7714_KEY_128: &str = "000102030405060708090a0b0c0d0e0f";
    const RFC7714_KEY_256: &str =
        "000102030405060708090a0b0c0d0e0f 101112131415161718191a1b1c1d1e1f";
    const RFC7714_SALT: &str = "517569642070726f2071756f";
    const RFC7714_RTP: &str = "8040f17b 8041f8d3 5501a0b2 47616c6c 69612065 7374206f 6d6e6973
                               20646976 69736120 696e2070 61727465 73207472 6573";

    /// RFC 7714 §16: protect gives the vector, unprotect gives the packet back, and the
    /// same packet again is a replay.
    fn check_rfc7714_rtp(suite: SrtpSuite, key: &str, protected: &str) {
        let session = SrtpSession::with_aead_session_keys(
            suite,
            &unhex(key),
            &array(RFC7714_SALT),
            SessionFlags::default(),
        );
        let plain = unhex(RFC7714_RTP);
        let protected = unhex(protected);
        let mut buf = plain.clone();
        buf.resize(plain.len() + 16, 0);
        let mut sender = RtpStreamState::default();
        assert_eq!(
            session.protect_rtp(&mut sender, &mut buf, plain.len()),
            Ok(protected.len())
        );
        assert_eq!(buf, protected);
        assert_eq!((sender.roc(), sender.seq()), (0, 0xf17b));

        let mut receiver = RtpStreamState::default();
        assert_eq!(
            session.unprotect_rtp(&mut receiver, &mut buf),
            Ok(plain.len())
        );
        assert_eq!(buf[..plain.len()], plain);
        let mut again = protected.clone();
        assert_eq!(
            session.unprotect_rtp(&mut receiver, &mut again),
            Err(SrtpError::Replay { too_old: false })
        );
        let mut tampered = protected;
        tampered[20] ^= 1;
        assert_eq!(
            session.unprotect_rtp(&mut RtpStreamState::default(), &mut tampered),
            Err(SrtpError::AuthFailed)
        );
    }

    #[test]
    fn rfc7714_16_1_aead_aes_128_gcm() {
        check_rfc7714_rtp(
            SrtpSuite::AeadAes128Gcm,
            RFC7714_KEY_128,
            "8040f17b 8041f8d3 5501a0b2 f24de3a3 fb34de6c acba861c 9d7e4bca be633bd5
             0d294e6f 42a5f47a 51c7d19b 36de3adf 8833899d 7f27beb1 6a9152cf 765ee439 0cce",
        );
    }

    #[test]
    fn rfc7714_16_2_aead_aes_256_gcm() {
        check_rfc7714_rtp(
            SrtpSuite::AeadAes256Gcm,
            RFC7714_KEY_256,
            "8040f17b 8041f8d3 5501a0b2 32b1de78 a822fe12 ef9f78fa 332e33aa b1801238
             9a58e2f3 b50b2a02 76ffae0f 1ba63799 b87b7aa3 db36dfff d6b0f9bb 7878d7a7 6c13",
        );
    }

    #[test]
    fn replay_window_size_decides_what_is_too_old() {
        use crate::replay::ReplayWindowSize;
        let master =
            crate::MasterKey::new(SrtpSuite::AesCm128HmacSha1_80, &[9; 16], &[8; 14]).expect("key");
        let session = SrtpSession::new(&master, SessionFlags::default()).expect("session");
        let protect = |seq: u16| {
            let mut buf = vec![0x80, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0xaa, 0xbb];
            buf[2..4].copy_from_slice(&seq.to_be_bytes());
            let len = buf.len();
            buf.resize(len + 10, 0);
            session
                .protect_rtp(&mut RtpStreamState::default(), &mut buf, len)
                .expect("protect");
            buf
        };
        for (size, oldest_accepted) in [
            (ReplayWindowSize::Packets64, 1063),
            (ReplayWindowSize::Packets128, 999),
        ] {
            let session = session.clone().with_replay_window(size);
            let mut receiver = RtpStreamState::default();
            session
                .unprotect_rtp(&mut receiver, &mut protect(1126))
                .expect("first");
            assert_eq!(
                session.unprotect_rtp(&mut receiver, &mut protect(oldest_accepted - 1)),
                Err(SrtpError::Replay { too_old: true }),
                "{size:?}"
            );
            assert!(
                session
                    .unprotect_rtp(&mut receiver, &mut protect(oldest_accepted))
                    .is_ok(),
                "{size:?}"
            );
        }
    }

    #[test]
    fn header_lengths_follow_csrcs_and_extensions() {
        let mut packet = vec![0x80, 0, 0x12, 0x34, 0, 0, 0, 0, 0xca, 0xfe, 0xba, 0xbe];
        assert_eq!(parse_rtp_header(&packet).map(|h| h.len), Ok(12));
        packet[0] = 0x82;
        assert!(matches!(
            parse_rtp_header(&packet),
            Err(SrtpError::BadHeader(_))
        ));
        packet.extend_from_slice(&[1; 8]);
        assert_eq!(parse_rtp_header(&packet).map(|h| h.len), Ok(20));
        packet[0] = 0x92;
        assert!(matches!(
            parse_rtp_header(&packet),
            Err(SrtpError::BadHeader(_))
        ));
        packet.extend_from_slice(&[0xbe, 0xde, 0, 1]);
        assert!(matches!(
            parse_rtp_header(&packet),
            Err(SrtpError::BadHeader(_))
        ));
        packet.extend_from_slice(&[9; 4]);
        let header = parse_rtp_header(&packet).expect("complete extension");
        assert_eq!(
            (header.len, header.seq, header.ssrc),
            (28, 0x1234, 0xcafe_babe)
        );
        packet[0] = 0x52;
        assert!(matches!(
            parse_rtp_header(&packet),
            Err(SrtpError::BadHeader(_))
        ));
        assert!(matches!(
            parse_rtp_header(&packet[..11]),
            Err(SrtpError::TooShort { .. })
        ));
    }

    #[test]
    fn state_is_small_plain_data() {
        assert_eq!(std::mem::size_of::<RtpStreamState>(), 24);
        assert_eq!(std::mem::align_of::<RtpStreamState>(), 8);
        let state = RtpStreamState::new(7, 65_000);
        assert_eq!(
            (state.roc(), state.seq(), state.is_initialised()),
            (7, 65_000, true)
        );
        assert!(!RtpStreamState::default().is_initialised());
    }
}
