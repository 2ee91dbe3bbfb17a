//! AES-GCM for SRTP and SRTCP (RFC 7714): 12-byte IV from the session salt, the header
//! (and for SRTCP the E/index word) as associated data, a 16-byte tag.

use aes_gcm::aead::AeadInPlace;
use aes_gcm::{Aes128Gcm, Aes256Gcm, KeyInit, Nonce, Tag};

use crate::error::SrtpError;

pub(crate) const GCM_TAG_LEN: usize = 16;

/// AES-GCM with the session key expanded (round keys and the GHASH key).
#[derive(Clone)]
pub(crate) struct Gcm {
    aead: GcmKey,
    salt: [u8; 12],
}

#[derive(Clone)]
// Built once per session and used in place: boxing the larger variant would only add a
// pointer chase per packet.
#[allow(clippy::large_enum_variant)]
enum GcmKey {
    Aes128(Aes128Gcm),
    Aes256(Aes256Gcm),
}

impl Gcm {
    pub(crate) fn new(session_key: &[u8], session_salt: &[u8; 12]) -> Result<Self, SrtpError> {
        let unsupported = |_| SrtpError::Unsupported("AES-GCM key length");
        let aead = match session_key.len() {
            16 => GcmKey::Aes128(Aes128Gcm::new_from_slice(session_key).map_err(unsupported)?),
            32 => GcmKey::Aes256(Aes256Gcm::new_from_slice(session_key).map_err(unsupported)?),
            _ => return Err(SrtpError::Unsupported("AES-GCM key length")),
        };
        Ok(Gcm {
            aead,
            salt: *session_salt,
        })
    }

    /// The SRTP IV (RFC 7714 §8.1): 00 00 || SSRC || ROC || SEQ, XORed with the salt.
    pub(crate) fn rtp_iv(&self, ssrc: u32, roc: u32, seq: u16) -> [u8; 12] {
        let mut iv = [0u8; 12];
        iv[2..6].copy_from_slice(&ssrc.to_be_bytes());
        iv[6..10].copy_from_slice(&roc.to_be_bytes());
        iv[10..].copy_from_slice(&seq.to_be_bytes());
        self.salted(iv)
    }

    /// The SRTCP IV (RFC 7714 §9.1): 00 00 || SSRC || 00 00 || 0 || SRTCP index, XORed
    /// with the salt.
    pub(crate) fn rtcp_iv(&self, ssrc: u32, index: u32) -> [u8; 12] {
        let mut iv = [0u8; 12];
        iv[2..6].copy_from_slice(&ssrc.to_be_bytes());
        iv[8..].copy_from_slice(&(index & 0x7fff_ffff).to_be_bytes());
        self.salted(iv)
    }

    fn salted(&self, mut iv: [u8; 12]) -> [u8; 12] {
        for (byte, salt_byte) in iv.iter_mut().zip(self.salt) {
            *byte ^= salt_byte;
        }
        iv
    }

    /// Encrypts `data` in place and returns the tag over `aad` and the ciphertext.
    pub(crate) fn seal(
        &self,
        iv: &[u8; 12],
        aad: &[u8],
        data: &mut [u8],
    ) -> Result<[u8; GCM_TAG_LEN], SrtpError> {
        let nonce = Nonce::from_slice(iv);
        match &self.aead {
            GcmKey::Aes128(aead) => aead.encrypt_in_place_detached(nonce, aad, data),
            GcmKey::Aes256(aead) => aead.encrypt_in_place_detached(nonce, aad, data),
        }
        .map(Into::into)
        // Only inputs beyond GCM's 2^36-byte limit are refused.
        .map_err(|_| SrtpError::Unsupported("AES-GCM input too long"))
    }

    /// Checks `tag` over `aad` and `data`, then decrypts `data` in place. On failure
    /// `data` is left as it was.
    pub(crate) fn open(
        &self,
        iv: &[u8; 12],
        aad: &[u8],
        data: &mut [u8],
        tag: &[u8; GCM_TAG_LEN],
    ) -> Result<(), SrtpError> {
        let nonce = Nonce::from_slice(iv);
        let tag = Tag::from_slice(tag);
        match &self.aead {
            GcmKey::Aes128(aead) => aead.decrypt_in_place_detached(nonce, aad, data, tag),
            GcmKey::Aes256(aead) => aead.decrypt_in_place_detached(nonce, aad, data, tag),
        }
        .map_err(|_| SrtpError::AuthFailed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::{array, unhex};

    const SALT: &str = "517569642070726f2071756f";

    #[test]
    fn rfc7714_ivs() {
        let gcm = Gcm::new(&[0u8; 16], &array(SALT)).expect("gcm");
        assert_eq!(
            gcm.rtp_iv(0x5501_a0b2, 0, 0xf17b),
            array::<12>("51753c6580c2726f20718414")
        );
        assert_eq!(
            gcm.rtcp_iv(0x4d61_7273, 0x5d4),
            array::<12>("517524055203726f207170bb")
        );
        // The E bit is not part of the IV.
        assert_eq!(
            gcm.rtcp_iv(0x4d61_7273, 0x8000_05d4),
            gcm.rtcp_iv(0x4d61_7273, 0x5d4)
        );
    }

    #[test]
    fn open_rejects_a_wrong_tag_and_leaves_data() {
        let gcm = Gcm::new(&[1u8; 32], &[2u8; 12]).expect("gcm");
        let iv = gcm.rtp_iv(1, 2, 3);
        let mut data = unhex("00112233445566778899");
        let tag = gcm.seal(&iv, b"header", &mut data).expect("seal");
        let sealed = data.clone();
        let mut wrong = tag;
        wrong[15] ^= 0x80;
        assert_eq!(
            gcm.open(&iv, b"header", &mut data, &wrong),
            Err(SrtpError::AuthFailed)
        );
        assert_eq!(data, sealed);
        assert_eq!(
            gcm.open(&iv, b"headeR", &mut data, &tag),
            Err(SrtpError::AuthFailed)
        );
        gcm.open(&iv, b"header", &mut data, &tag)
            .expect("authentic");
        assert_eq!(data, unhex("00112233445566778899"));
    }
}
