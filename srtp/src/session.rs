//! Master keys and the per-direction session built from one.

use crate::auth::{HmacSha1, HMAC_SHA1_LEN};
use crate::cipher::{shifted_salt, Aes, PayloadCipher, F8};
use crate::error::SrtpError;
use crate::gcm::Gcm;
use crate::kdf::{Kdf, Labels, RTCP_LABELS, RTP_LABELS};
use crate::replay::ReplayWindowSize;
use crate::suite::{CipherKind, SrtpSuite};
use crate::trailer::TrailerShape;

/// SRTCP's E bit and 31-bit index, between packet and MKI.
pub(crate) const SRTCP_INDEX_WORD_LEN: usize = 4;

/// The largest key derivation rate exponent RFC 4568 §6.3 allows (`KDR=24`).
const MAX_KDR: u8 = 24;

/// A master key and salt as SDES (`inline:`) or DTLS-SRTP delivers them.
///
/// Fixed-size arrays, so that the fast path can copy it into shared memory as is; only
/// the first [`SrtpSuite::master_key_len`] and [`SrtpSuite::master_salt_len`] bytes count.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct MasterKey {
    pub suite: SrtpSuite,
    pub key: [u8; 32],
    pub salt: [u8; 14],
    /// MKI value and its length in bytes (1..=4), when the SDES line carries `|id:len`.
    pub mki: Option<(u32, u8)>,
    /// Key derivation rate as a power of two (`KDR=n` means 2^n); 0 derives once.
    pub kdr: u8,
}

impl MasterKey {
    /// A master key from separate key and salt, without MKI, derived once.
    pub fn new(suite: SrtpSuite, key: &[u8], salt: &[u8]) -> Result<Self, SrtpError> {
        let length_error = SrtpError::KeyLength {
            suite: suite.name(),
            expected: suite.master_key_len() + suite.master_salt_len(),
            got: key.len() + salt.len(),
        };
        if key.len() != suite.master_key_len() || salt.len() != suite.master_salt_len() {
            return Err(length_error);
        }
        let mut master = MasterKey {
            suite,
            key: [0; 32],
            salt: [0; 14],
            mki: None,
            kdr: 0,
        };
        master.key[..key.len()].copy_from_slice(key);
        master.salt[..salt.len()].copy_from_slice(salt);
        Ok(master)
    }

    /// A master key from the base64-decoded `inline:` parameter, key then salt.
    pub fn from_inline(suite: SrtpSuite, key_salt: &[u8]) -> Result<Self, SrtpError> {
        let key_len = suite.master_key_len();
        if key_salt.len() != key_len + suite.master_salt_len() {
            return Err(SrtpError::KeyLength {
                suite: suite.name(),
                expected: key_len + suite.master_salt_len(),
                got: key_salt.len(),
            });
        }
        let (key, salt) = key_salt.split_at(key_len);
        Self::new(suite, key, salt)
    }

    /// Key then salt, for the `inline:` parameter (before base64).
    pub fn key_salt(&self) -> Vec<u8> {
        let mut key_salt =
            Vec::with_capacity(self.suite.master_key_len() + self.suite.master_salt_len());
        key_salt.extend_from_slice(self.master_key());
        key_salt.extend_from_slice(self.master_salt());
        key_salt
    }

    pub fn master_key(&self) -> &[u8] {
        &self.key[..self.suite.master_key_len().min(self.key.len())]
    }

    pub fn master_salt(&self) -> &[u8] {
        &self.salt[..self.suite.master_salt_len().min(self.salt.len())]
    }
}

/// Keys are secrets: Debug shows the suite and parameters only.
impl std::fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MasterKey")
            .field("suite", &self.suite)
            .field("mki", &self.mki)
            .field("kdr", &self.kdr)
            .finish_non_exhaustive()
    }
}

/// The SDES session parameters of RFC 4568 §6.3 that change what is protected.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SessionFlags {
    /// `UNENCRYPTED_SRTP`: RTP payloads travel in the clear (still authenticated).
    pub unencrypted_srtp: bool,
    /// `UNENCRYPTED_SRTCP`: SRTCP is sent with E=0 and not encrypted, still authenticated.
    pub unencrypted_srtcp: bool,
    /// `UNAUTHENTICATED_SRTP`: SRTP packets carry no tag. SRTCP is always authenticated.
    pub unauthenticated_srtp: bool,
}

/// The MKI as it appears on the wire: big-endian in `len` bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct Mki {
    bytes: [u8; 4],
    len: u8,
}

impl Mki {
    fn new(mki: Option<(u32, u8)>) -> Result<Self, SrtpError> {
        let Some((value, len)) = mki else {
            return Ok(Mki::default());
        };
        let fits = match len {
            1..=3 => value < 1 << (8 * u32::from(len)),
            4 => true,
            _ => false,
        };
        if !fits {
            return Err(SrtpError::InvalidMki { value, len });
        }
        let mut bytes = [0u8; 4];
        let len_bytes = usize::from(len);
        bytes[..len_bytes].copy_from_slice(&value.to_be_bytes()[4 - len_bytes..]);
        Ok(Mki { bytes, len })
    }

    pub(crate) fn len(&self) -> usize {
        usize::from(self.len)
    }

    pub(crate) fn bytes(&self) -> &[u8] {
        &self.bytes[..self.len()]
    }
}

/// The keys of one direction of one protocol (SRTP or SRTCP), expanded.
#[derive(Clone)]
// Built once per session and used in place: boxing the larger variant would only add a
// pointer chase per packet.
#[allow(clippy::large_enum_variant)]
pub(crate) enum Transform {
    /// Counter mode, f8 or NULL, authenticated with HMAC-SHA1.
    Hmac {
        cipher: PayloadCipher,
        auth: HmacSha1,
    },
    /// AES-GCM: cipher and tag in one.
    Aead(Gcm),
}

impl Transform {
    /// Derives and expands the keys for `labels` at `r = index DIV kdr`.
    fn derive(suite: SrtpSuite, kdf: &Kdf, labels: Labels, r: u64) -> Result<Self, SrtpError> {
        let mut session_key = [0u8; 32];
        let session_key = &mut session_key[..suite.session_key_len()];
        kdf.derive(labels.encryption, r, session_key);
        let mut session_salt = [0u8; 14];
        let session_salt = &mut session_salt[..suite.session_salt_len()];
        kdf.derive(labels.salt, r, session_salt);

        let cipher = match suite.cipher_kind() {
            CipherKind::AesGcm => {
                let salt: &[u8; 12] = (&*session_salt)
                    .try_into()
                    .map_err(|_| SrtpError::Unsupported("AES-GCM salt length"))?;
                return Ok(Transform::Aead(Gcm::new(session_key, salt)?));
            }
            CipherKind::Null => PayloadCipher::Null,
            CipherKind::AesCm => PayloadCipher::CounterMode {
                aes: Aes::new(session_key)?,
                shifted_salt: shifted_salt(
                    (&*session_salt)
                        .try_into()
                        .map_err(|_| SrtpError::Unsupported("AES-CM salt length"))?,
                ),
            },
            CipherKind::F8 => {
                let key: &[u8; 16] = (&*session_key)
                    .try_into()
                    .map_err(|_| SrtpError::Unsupported("f8 key length"))?;
                PayloadCipher::F8(F8::new(key, session_salt))
            }
        };
        let mut auth_key = [0u8; HMAC_SHA1_LEN];
        kdf.derive(labels.authentication, r, &mut auth_key);
        Ok(Transform::Hmac {
            cipher,
            auth: HmacSha1::new(&auth_key),
        })
    }
}

/// Derived session keys and expanded ciphers for one direction (one master key).
///
/// Built once; protecting or unprotecting a packet allocates nothing. The per-stream
/// state (ROC, replay window, SRTCP index) lives outside, in [`crate::RtpStreamState`] and
/// [`crate::RtcpStreamState`], so that a session can be shared read-only while each
/// worker or flow keeps its own small state.
#[derive(Clone)]
pub struct SrtpSession {
    pub(crate) suite: SrtpSuite,
    pub(crate) flags: SessionFlags,
    pub(crate) mki: Mki,
    pub(crate) kdr: u8,
    pub(crate) replay_window: ReplayWindowSize,
    /// Kept for key derivation rates other than 0, which derive again as the index moves.
    kdf: Kdf,
    /// SRTP keys at r = 0, the only ones when `kdr` is 0.
    pub(crate) rtp: Transform,
    /// SRTCP keys at r = 0.
    pub(crate) rtcp: Transform,
}

impl SrtpSession {
    /// Derives and expands the SRTP and SRTCP session keys of `master`. Fails for an MKI
    /// or key derivation rate out of range, and for `UNENCRYPTED_SRTP` or
    /// `UNAUTHENTICATED_SRTP` with an AEAD suite, which RFC 7714 cannot express.
    pub fn new(master: &MasterKey, flags: SessionFlags) -> Result<Self, SrtpError> {
        let suite = master.suite;
        if suite.is_aead() && (flags.unencrypted_srtp || flags.unauthenticated_srtp) {
            // RFC 7714 defines no unencrypted or unauthenticated SRTP for AEAD.
            return Err(SrtpError::Unsupported(
                "AEAD suites always encrypt and authenticate SRTP",
            ));
        }
        if master.kdr > MAX_KDR {
            return Err(SrtpError::InvalidKdr(master.kdr));
        }
        let mki = Mki::new(master.mki)?;
        let kdf = Kdf::new(master.master_key(), master.master_salt())?;
        Ok(SrtpSession {
            suite,
            flags,
            mki,
            kdr: master.kdr,
            replay_window: ReplayWindowSize::default(),
            rtp: Transform::derive(suite, &kdf, RTP_LABELS, 0)?,
            rtcp: Transform::derive(suite, &kdf, RTCP_LABELS, 0)?,
            kdf,
        })
    }

    /// The same session with another replay window size (128 packets by default).
    pub fn with_replay_window(mut self, size: ReplayWindowSize) -> Self {
        self.replay_window = size;
        self
    }

    pub fn suite(&self) -> SrtpSuite {
        self.suite
    }

    pub fn flags(&self) -> SessionFlags {
        self.flags
    }

    pub fn replay_window(&self) -> ReplayWindowSize {
        self.replay_window
    }

    /// The tag length on SRTP packets: the suite's, or 0 with `UNAUTHENTICATED_SRTP`.
    pub fn rtp_tag_len(&self) -> usize {
        if self.flags.unauthenticated_srtp {
            0
        } else {
            self.suite.rtp_tag_len()
        }
    }

    pub fn rtcp_tag_len(&self) -> usize {
        self.suite.rtcp_tag_len()
    }

    /// How many bytes protecting an RTP packet appends (MKI and tag), so callers can
    /// size buffers.
    pub fn rtp_overhead(&self) -> usize {
        self.rtp_trailer().len()
    }

    /// How many bytes protecting an RTCP packet appends (E/index word, MKI and tag).
    pub fn rtcp_overhead(&self) -> usize {
        self.rtcp_trailer().len()
    }

    pub(crate) fn rtp_trailer(&self) -> TrailerShape {
        TrailerShape {
            aead: self.suite.is_aead(),
            index_len: 0,
            mki_len: self.mki.len(),
            tag_len: self.rtp_tag_len(),
        }
    }

    pub(crate) fn rtcp_trailer(&self) -> TrailerShape {
        TrailerShape {
            aead: self.suite.is_aead(),
            index_len: SRTCP_INDEX_WORD_LEN,
            mki_len: self.mki.len(),
            tag_len: self.rtcp_tag_len(),
        }
    }

    /// `r = index DIV 2^kdr` (RFC 3711 §4.3.1); 0 for a rate of 0, which derives once.
    fn key_derivation_epoch(&self, index: u64) -> u64 {
        if self.kdr == 0 {
            0
        } else {
            index >> self.kdr
        }
    }

    /// The SRTP keys for the 48-bit `index`: the ones built with the session unless a
    /// key derivation rate has moved `r` on, then ones derived into `scratch`.
    ///
    /// A borrowed reference rather than a `Cow`: the keys are over a kilobyte, and moving
    /// them through a `Result` costs a copy per packet.
    pub(crate) fn rtp_transform<'a>(
        &'a self,
        index: u64,
        scratch: &'a mut Option<Transform>,
    ) -> Result<&'a Transform, SrtpError> {
        match self.key_derivation_epoch(index) {
            0 => Ok(&self.rtp),
            r => Ok(scratch.insert(Transform::derive(self.suite, &self.kdf, RTP_LABELS, r)?)),
        }
    }

    /// The SRTCP keys for the 31-bit SRTCP `index`, as [`Self::rtp_transform`].
    pub(crate) fn rtcp_transform<'a>(
        &'a self,
        index: u32,
        scratch: &'a mut Option<Transform>,
    ) -> Result<&'a Transform, SrtpError> {
        match self.key_derivation_epoch(u64::from(index)) {
            0 => Ok(&self.rtcp),
            r => Ok(scratch.insert(Transform::derive(self.suite, &self.kdf, RTCP_LABELS, r)?)),
        }
    }
}

/// Sessions from session keys, which is how RFC 7714 states its vectors.
#[cfg(test)]
impl SrtpSession {
    pub(crate) fn with_aead_session_keys(
        suite: SrtpSuite,
        key: &[u8],
        salt: &[u8; 12],
        flags: SessionFlags,
    ) -> Self {
        let master =
            MasterKey::new(suite, &vec![0; suite.master_key_len()], &[0; 12]).expect("master key");
        let mut session = SrtpSession::new(&master, flags).expect("session");
        let transform = Transform::Aead(Gcm::new(key, salt).expect("session key"));
        session.rtp = transform.clone();
        session.rtcp = transform;
        session
    }
}

impl std::fmt::Debug for SrtpSession {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SrtpSession")
            .field("suite", &self.suite)
            .field("flags", &self.flags)
            .field("mki", &self.mki)
            .field("kdr", &self.kdr)
            .field("replay_window", &self.replay_window)
            .finish_non_exhaustive()
    }
}

/// Checks `len` against the buffer and that `needed` bytes fit, for the protect paths.
pub(crate) fn check_room(buf_len: usize, len: usize, appended: usize) -> Result<(), SrtpError> {
    let need = len.saturating_add(appended);
    if len > buf_len || need > buf_len {
        return Err(SrtpError::BufferTooSmall {
            need,
            capacity: buf_len,
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inline_key_lengths_are_checked_per_suite() {
        for suite in SrtpSuite::ALL {
            let expected = suite.master_key_len() + suite.master_salt_len();
            let key_salt: Vec<u8> = (0..expected as u8).collect();
            let master = MasterKey::from_inline(suite, &key_salt).expect("right length");
            assert_eq!(master.key_salt(), key_salt);
            for wrong in [expected - 1, expected + 1, 0] {
                let error = MasterKey::from_inline(suite, &vec![0; wrong]).unwrap_err();
                assert_eq!(
                    error,
                    SrtpError::KeyLength {
                        suite: suite.name(),
                        expected,
                        got: wrong
                    }
                );
                assert!(error.to_string().contains(&expected.to_string()));
            }
        }
    }

    #[test]
    fn mki_must_fit_its_length() {
        assert_eq!(
            Mki::new(Some((1, 4))).map(|m| m.bytes().to_vec()),
            Ok(vec![0, 0, 0, 1])
        );
        assert_eq!(
            Mki::new(Some((0xabcd, 2))).map(|m| m.bytes().to_vec()),
            Ok(vec![0xab, 0xcd])
        );
        assert_eq!(Mki::new(Some((u32::MAX, 4))).map(|m| m.len()), Ok(4));
        assert!(Mki::new(Some((256, 1))).is_err());
        assert!(Mki::new(Some((1, 0))).is_err());
        assert!(Mki::new(Some((1, 5))).is_err());
        assert_eq!(Mki::new(None).map(|m| m.len()), Ok(0));
    }

    #[test]
    fn aead_refuses_unencrypted_or_unauthenticated_srtp() {
        let master = MasterKey::new(SrtpSuite::AeadAes128Gcm, &[1; 16], &[2; 12]).expect("key");
        for flags in [
            SessionFlags {
                unencrypted_srtp: true,
                ..Default::default()
            },
            SessionFlags {
                unauthenticated_srtp: true,
                ..Default::default()
            },
        ] {
            assert!(matches!(
                SrtpSession::new(&master, flags),
                Err(SrtpError::Unsupported(_))
            ));
        }
        let flags = SessionFlags {
            unencrypted_srtcp: true,
            ..Default::default()
        };
        assert!(SrtpSession::new(&master, flags).is_ok());
    }

    #[test]
    fn kdr_is_capped_at_2_to_the_24() {
        let mut master =
            MasterKey::new(SrtpSuite::AesCm128HmacSha1_80, &[1; 16], &[2; 14]).expect("key");
        master.kdr = 25;
        assert_eq!(
            SrtpSession::new(&master, SessionFlags::default()).unwrap_err(),
            SrtpError::InvalidKdr(25)
        );
    }

    /// With a key derivation rate the keys for index i are those at r = i DIV 2^kdr:
    /// compare with a rate-0 session whose keys were derived at that r.
    #[test]
    fn kdr_derives_the_keys_of_index_div_rate() {
        use crate::{RtcpStreamState, RtpStreamState};
        let suite = SrtpSuite::AesCm128HmacSha1_80;
        let mut master = MasterKey::new(suite, &[3; 16], &[4; 14]).expect("key");
        master.kdr = 4;
        let with_rate = SrtpSession::new(&master, SessionFlags::default()).expect("session");
        master.kdr = 0;
        let derived_once = SrtpSession::new(&master, SessionFlags::default()).expect("session");
        let mut at_r = derived_once.clone();
        at_r.rtp = Transform::derive(suite, &at_r.kdf, RTP_LABELS, 100 >> 4).expect("keys");
        at_r.rtcp = Transform::derive(suite, &at_r.kdf, RTCP_LABELS, 40 >> 4).expect("keys");

        let rtp = |session: &SrtpSession, seq: u16| {
            let mut buf = [0u8; 40];
            buf[..12].copy_from_slice(&[0x80, 0, 0, 0, 0, 0, 0, 0, 1, 2, 3, 4]);
            buf[2..4].copy_from_slice(&seq.to_be_bytes());
            let mut state = RtpStreamState::new(0, seq.wrapping_sub(1));
            let len = session
                .protect_rtp(&mut state, &mut buf, 28)
                .expect("protect");
            buf[..len].to_vec()
        };
        assert_eq!(rtp(&with_rate, 100), rtp(&at_r, 100));
        assert_ne!(rtp(&with_rate, 100), rtp(&derived_once, 100));
        assert_eq!(rtp(&with_rate, 15), rtp(&derived_once, 15));

        let rtcp = |session: &SrtpSession, index: u32| {
            let mut buf = [0u8; 60];
            buf[..8].copy_from_slice(&[0x80, 200, 0, 6, 1, 2, 3, 4]);
            let mut state = RtcpStreamState::new(index);
            let len = session
                .protect_rtcp(&mut state, &mut buf, 28)
                .expect("protect");
            buf[..len].to_vec()
        };
        assert_eq!(rtcp(&with_rate, 40), rtcp(&at_r, 40));
        assert_ne!(rtcp(&with_rate, 40), rtcp(&derived_once, 40));
        assert_eq!(rtcp(&with_rate, 15), rtcp(&derived_once, 15));
    }

    #[test]
    fn debug_does_not_print_keys() {
        let master =
            MasterKey::new(SrtpSuite::AesCm128HmacSha1_80, &[0xab; 16], &[0xcd; 14]).expect("key");
        let printed = format!("{master:?}");
        assert!(!printed.contains("171"), "{printed}");
    }
}
