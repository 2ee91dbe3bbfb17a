//! SRTCP packets (RFC 3711 §3.4, RFC 7714 §9): protect and unprotect in place.
//!
//! Everything after the first eight bytes (V, P, RC, PT, length, sender SSRC) is
//! encrypted when the E bit is set; SRTCP is always authenticated. Layouts:
//! - HMAC-SHA1 suites: packet || E|index || MKI || tag, the tag over packet || E|index.
//! - AES-GCM: packet || tag || E|index || MKI; the associated data is the first eight
//!   bytes and E|index, or with E=0 the whole packet and E|index.

use crate::cipher::{f8_rtcp_iv, PayloadCipher};
use crate::error::SrtpError;
use crate::gcm::GCM_TAG_LEN;
use crate::replay::ReplayBitmap;
use crate::session::{check_room, SrtpSession, Transform, SRTCP_INDEX_WORD_LEN};

/// The part of an RTCP packet that stays in the clear.
const RTCP_HEADER_LEN: usize = 8;
const RTCP_VERSION: u8 = 2;
const E_BIT: u32 = 0x8000_0000;
const MAX_SRTCP_INDEX: u32 = 0x7fff_ffff;
const FLAG_INITIALISED: u8 = 1;

/// Per-SSRC SRTCP state: the next SRTCP index to send, and for receiving the highest
/// index authenticated and the replay bitmap.
///
/// Plain old data (32 bytes, `#[repr(C)]`, no padding holes), like
/// [`crate::RtpStreamState`].
#[derive(Clone, Copy, Default, Debug, PartialEq, Eq)]
#[repr(C)]
pub struct RtcpStreamState {
    replay: ReplayBitmap,
    next_index: u32,
    highest_index: u32,
    flags: u8,
    reserved: [u8; 7],
}

impl RtcpStreamState {
    /// A sending state whose next packet carries SRTCP index `next_index`. RFC 3711 §3.4
    /// starts at 0 (the default); libsrtp starts at 1.
    pub fn new(next_index: u32) -> Self {
        RtcpStreamState {
            next_index,
            ..Default::default()
        }
    }

    /// The SRTCP index the next protected packet will carry.
    pub fn next_index(&self) -> u32 {
        self.next_index
    }

    /// The highest SRTCP index authenticated so far, if any.
    pub fn highest_index(&self) -> Option<u32> {
        (self.flags & FLAG_INITIALISED != 0).then_some(self.highest_index)
    }

    fn check_replay(&self, index: u32, session: &SrtpSession) -> Result<(), SrtpError> {
        match self.highest_index() {
            Some(highest) => self
                .replay
                .check(i64::from(index) - i64::from(highest), session.replay_window),
            None => Ok(()),
        }
    }

    fn accept(&mut self, index: u32) {
        match self.highest_index() {
            Some(highest) => {
                let delta = i64::from(index) - i64::from(highest);
                self.replay = self.replay.record(delta);
                if delta > 0 {
                    self.highest_index = index;
                }
            }
            None => {
                self.replay = ReplayBitmap::first();
                self.highest_index = index;
                self.flags |= FLAG_INITIALISED;
            }
        }
    }
}

/// What protection needs from an RTCP header.
#[derive(Debug, Clone, Copy)]
struct RtcpHeader {
    ssrc: u32,
}

fn parse_rtcp_header(packet: &[u8]) -> Result<RtcpHeader, SrtpError> {
    let fixed: &[u8; RTCP_HEADER_LEN] = packet
        .get(..RTCP_HEADER_LEN)
        .and_then(|bytes| bytes.try_into().ok())
        .ok_or(SrtpError::TooShort {
            len: packet.len(),
            min: RTCP_HEADER_LEN,
        })?;
    if fixed[0] >> 6 != RTCP_VERSION {
        return Err(SrtpError::BadHeader("RTCP version is not 2"));
    }
    Ok(RtcpHeader {
        ssrc: u32::from_be_bytes([fixed[4], fixed[5], fixed[6], fixed[7]]),
    })
}

/// Encrypts or decrypts the part of `packet` after the first eight bytes with an HMAC
/// suite's cipher.
fn apply_payload_cipher(
    cipher: &PayloadCipher,
    header: &RtcpHeader,
    e_and_index: u32,
    packet: &mut [u8],
) {
    let index = u64::from(e_and_index & MAX_SRTCP_INDEX);
    let f8_iv = |head: &[u8]| f8_rtcp_iv(e_and_index, head);
    cipher.apply(header.ssrc, index, f8_iv, RTCP_HEADER_LEN, packet);
}

impl SrtpSession {
    /// Encrypts (unless `UNENCRYPTED_SRTCP`) and authenticates the RTCP packet in
    /// `buf[..len]` in place, appending E|index, MKI and tag; returns the SRTCP length.
    ///
    /// `state` supplies the SRTCP index and advances by one. NULL suites set the E bit
    /// too, as rtpengine and libsrtp do: the NULL cipher is what "encrypts".
    pub fn protect_rtcp(
        &self,
        state: &mut RtcpStreamState,
        buf: &mut [u8],
        len: usize,
    ) -> Result<usize, SrtpError> {
        let trailer = self.rtcp_trailer();
        check_room(buf.len(), len, trailer.len())?;
        let header = parse_rtcp_header(&buf[..len])?;
        let index = state.next_index;
        if index > MAX_SRTCP_INDEX {
            // The 31-bit index would wrap and repeat keystream: RFC 3711 §9.2.
            return Err(SrtpError::KeyExhausted);
        }
        let encrypt = !self.flags.unencrypted_srtcp;
        let e_and_index = if encrypt { index | E_BIT } else { index };
        let index_word = e_and_index.to_be_bytes();
        let mut derived = None;
        let transform = self.rtcp_transform(index, &mut derived)?;
        let layout = trailer.at(len);
        let mut tag = [0u8; GCM_TAG_LEN];
        let tag = &mut tag[..trailer.tag_len];
        match transform {
            Transform::Hmac { cipher, auth } => {
                if encrypt {
                    apply_payload_cipher(cipher, &header, e_and_index, &mut buf[..len]);
                }
                // The tag covers the index word, which therefore goes in first.
                let authenticated_end = len + SRTCP_INDEX_WORD_LEN;
                buf[len..authenticated_end].copy_from_slice(&index_word);
                let full_tag = auth.tag(&buf[..authenticated_end], &[]);
                tag.copy_from_slice(&full_tag[..tag.len()]);
            }
            Transform::Aead(gcm) => {
                let iv = gcm.rtcp_iv(header.ssrc, index);
                let sealed = if encrypt {
                    let aad = encrypted_aead_aad(&buf[..RTCP_HEADER_LEN], index_word);
                    gcm.seal(&iv, &aad, &mut buf[RTCP_HEADER_LEN..len])?
                } else {
                    // The associated data is packet || E|index: place the word behind the
                    // packet for the moment, where the tag will go.
                    let word_end = len + SRTCP_INDEX_WORD_LEN;
                    buf[len..word_end].copy_from_slice(&index_word);
                    gcm.seal(&iv, &buf[..word_end], &mut [])?
                };
                tag.copy_from_slice(&sealed);
            }
        }
        layout.write(buf, &index_word, self.mki.bytes(), tag);
        state.next_index = index + 1;
        Ok(layout.end)
    }

    /// Authenticates, checks for replay and (when the E bit is set) decrypts the SRTCP
    /// packet `buf` in place; returns the RTCP length.
    ///
    /// `state` changes only once the packet authenticated.
    pub fn unprotect_rtcp(
        &self,
        state: &mut RtcpStreamState,
        buf: &mut [u8],
    ) -> Result<usize, SrtpError> {
        let trailer = self.rtcp_trailer();
        let layout = trailer.locate(buf, RTCP_HEADER_LEN, self.mki.bytes())?;
        let packet_end = layout.payload_end;
        let mut index_word = [0u8; SRTCP_INDEX_WORD_LEN];
        index_word
            .copy_from_slice(&buf[layout.index_start..layout.index_start + SRTCP_INDEX_WORD_LEN]);
        let e_and_index = u32::from_be_bytes(index_word);
        let encrypted = e_and_index & E_BIT != 0;
        let index = e_and_index & MAX_SRTCP_INDEX;
        let header = parse_rtcp_header(&buf[..packet_end])?;
        state.check_replay(index, self)?;
        let mut derived = None;
        let transform = self.rtcp_transform(index, &mut derived)?;
        match transform {
            Transform::Hmac { cipher, auth } => {
                let authenticated = &buf[..layout.index_start + SRTCP_INDEX_WORD_LEN];
                if !auth.verify(authenticated, &[], layout.tag(buf, trailer.tag_len)) {
                    return Err(SrtpError::AuthFailed);
                }
                if encrypted {
                    let packet = &mut buf[..packet_end];
                    apply_payload_cipher(cipher, &header, e_and_index, packet);
                }
            }
            Transform::Aead(gcm) => {
                let iv = gcm.rtcp_iv(header.ssrc, index);
                let mut tag = [0u8; GCM_TAG_LEN];
                tag.copy_from_slice(layout.tag(buf, GCM_TAG_LEN));
                if encrypted {
                    let aad = encrypted_aead_aad(&buf[..RTCP_HEADER_LEN], index_word);
                    gcm.open(&iv, &aad, &mut buf[RTCP_HEADER_LEN..packet_end], &tag)?;
                } else {
                    // The associated data is packet || E|index: move the word over the
                    // tag's first bytes (the tag is copied out), and put them back if the
                    // packet is refused.
                    let word_end = packet_end + SRTCP_INDEX_WORD_LEN;
                    buf[packet_end..word_end].copy_from_slice(&index_word);
                    if let Err(error) = gcm.open(&iv, &buf[..word_end], &mut [], &tag) {
                        buf[packet_end..word_end].copy_from_slice(&tag[..SRTCP_INDEX_WORD_LEN]);
                        return Err(error);
                    }
                }
            }
        }
        state.accept(index);
        Ok(packet_end)
    }
}

/// RFC 7714 §9.1 associated data of an encrypted SRTCP packet: the eight clear header
/// bytes, then E|index.
fn encrypted_aead_aad(
    header: &[u8],
    index_word: [u8; SRTCP_INDEX_WORD_LEN],
) -> [u8; RTCP_HEADER_LEN + SRTCP_INDEX_WORD_LEN] {
    let mut aad = [0u8; RTCP_HEADER_LEN + SRTCP_INDEX_WORD_LEN];
    for (byte, header_byte) in aad.iter_mut().zip(header.iter().take(RTCP_HEADER_LEN)) {
        *byte = *header_byte;
    }
    aad[RTCP_HEADER_LEN..].copy_from_slice(&index_word);
    aad
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
    const RFC7714_RTCP: &str =
        "81c8000d 4d617273 4e545031 4e545032 52545020 0000042a 0000e930 4c756e61
                                deadbeef deadbeef deadbeef deadbeef deadbeef";
    const RFC7714_SRTCP_INDEX: u32 = 0x5d4;

    /// RFC 7714 §17: protect with SRTCP index 0x5d4 gives the vector, unprotect gives
    /// the packet back, a repeat is a replay and a flipped bit fails.
    fn check_rfc7714_rtcp(suite: SrtpSuite, key: &str, unencrypted_srtcp: bool, protected: &str) {
        let flags = SessionFlags {
            unencrypted_srtcp,
            ..Default::default()
        };
        let session =
            SrtpSession::with_aead_session_keys(suite, &unhex(key), &array(RFC7714_SALT), flags);
        let plain = unhex(RFC7714_RTCP);
        let protected = unhex(protected);
        let mut buf = plain.clone();
        buf.resize(plain.len() + 20, 0);
        let mut sender = RtcpStreamState::new(RFC7714_SRTCP_INDEX);
        assert_eq!(
            session.protect_rtcp(&mut sender, &mut buf, plain.len()),
            Ok(protected.len())
        );
        assert_eq!(buf, protected);
        assert_eq!(sender.next_index(), RFC7714_SRTCP_INDEX + 1);

        let mut receiver = RtcpStreamState::default();
        assert_eq!(
            session.unprotect_rtcp(&mut receiver, &mut buf),
            Ok(plain.len())
        );
        assert_eq!(buf[..plain.len()], plain);
        assert_eq!(receiver.highest_index(), Some(RFC7714_SRTCP_INDEX));
        let mut again = protected.clone();
        assert_eq!(
            session.unprotect_rtcp(&mut receiver, &mut again),
            Err(SrtpError::Replay { too_old: false })
        );
        for bit in [
            0,
            8 * 9,
            8 * (protected.len() - 22),
            8 * (protected.len() - 1),
        ] {
            let mut tampered = protected.clone();
            tampered[bit / 8] ^= 1 << (bit % 8);
            let refused = session.unprotect_rtcp(&mut RtcpStreamState::default(), &mut tampered);
            assert!(refused.is_err(), "bit {bit}");
            if bit > 8 {
                // Refused packets are left as they came.
                let mut expected = protected.clone();
                expected[bit / 8] ^= 1 << (bit % 8);
                assert_eq!(tampered, expected, "bit {bit}");
            }
        }
    }

    #[test]
    fn rfc7714_17_1_aead_aes_128_gcm() {
        check_rfc7714_rtcp(
            SrtpSuite::AeadAes128Gcm,
            RFC7714_KEY_128,
            false,
            "81c8000d 4d617273 63e94885 dcdab67c a727d766 2f6b7e99 7ff5c0f7 6c06f32d
             c676a5f1 730d6fda 4ce09b46 86303ded 0bb9275b c84aa458 96cf4d2f c5abf872
             45d9eade 800005d4",
        );
    }

    #[test]
    fn rfc7714_17_2_aead_aes_256_gcm() {
        check_rfc7714_rtcp(
            SrtpSuite::AeadAes256Gcm,
            RFC7714_KEY_256,
            false,
            "81c8000d 4d617273 d50ae4d1 f5ce5d30 4ba297e4 7d470c28 2c3ece5d bffe0a50
             a2eaa5c1 110555be 8415f658 c61de047 6f1b6fad 1d1eb30c 4446839f 57ff6f6c
             b26ac3be 800005d4",
        );
    }

    #[test]
    fn rfc7714_17_3_aead_aes_128_gcm_unencrypted_srtcp() {
        check_rfc7714_rtcp(
            SrtpSuite::AeadAes128Gcm,
            RFC7714_KEY_128,
            true,
            "81c8000d 4d617273 4e545031 4e545032 52545020 0000042a 0000e930 4c756e61
             deadbeef deadbeef deadbeef deadbeef deadbeef 841dd968 3dd78ec9 2ae58790
             125f62b3 000005d4",
        );
    }

    #[test]
    fn rfc7714_17_4_aead_aes_256_gcm_unencrypted_srtcp() {
        check_rfc7714_rtcp(
            SrtpSuite::AeadAes256Gcm,
            RFC7714_KEY_256,
            true,
            "81c8000d 4d617273 4e545031 4e545032 52545020 0000042a 0000e930 4c756e61
             deadbeef deadbeef deadbeef deadbeef deadbeef 91db4afb feee5a97 8fab4393
             ed2615fe 000005d4",
        );
    }

    #[test]
    fn state_is_small_plain_data() {
        assert_eq!(std::mem::size_of::<RtcpStreamState>(), 32);
        assert_eq!(std::mem::align_of::<RtcpStreamState>(), 8);
        assert_eq!(RtcpStreamState::new(1).next_index(), 1);
        assert_eq!(RtcpStreamState::default().highest_index(), None);
    }

    #[test]
    fn header_needs_version_2_and_eight_bytes() {
        assert!(matches!(
            parse_rtcp_header(&[0x80; 7]),
            Err(SrtpError::TooShort { .. })
        ));
        assert!(matches!(
            parse_rtcp_header(&[0x40; 8]),
            Err(SrtpError::BadHeader(_))
        ));
        let header = parse_rtcp_header(&[0x81, 0xc8, 0, 1, 0xca, 0xfe, 0xba, 0xbe]).expect("valid");
        assert_eq!(header.ssrc, 0xcafe_babe);
    }
}
