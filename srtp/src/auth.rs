//! HMAC-SHA1 message authentication (RFC 3711 §4.2.1).
//!
//! HMAC keyed once per session: `Hmac<Sha1>` holds the inner and outer hash states with
//! the padded key already absorbed, so each packet clones those two states instead of
//! hashing the key again. The tag is compared in constant time.

use hmac::{Hmac, Mac};
use sha1::Sha1;
use subtle::ConstantTimeEq;

/// The longest HMAC-SHA1 output; tags are its first 4 or 10 bytes.
pub(crate) const HMAC_SHA1_LEN: usize = 20;

/// HMAC-SHA1 with the session authentication key absorbed.
#[derive(Clone)]
pub(crate) struct HmacSha1 {
    keyed: Hmac<Sha1>,
}

impl HmacSha1 {
    pub(crate) fn new(key: &[u8; HMAC_SHA1_LEN]) -> Self {
        // HMAC pads a key shorter than the hash block with zeros, so padding it here
        // gives the same MAC through the infallible fixed-size constructor.
        let mut block_sized_key = hmac::digest::Key::<Hmac<Sha1>>::default();
        block_sized_key[..HMAC_SHA1_LEN].copy_from_slice(key);
        HmacSha1 {
            keyed: <Hmac<Sha1> as hmac::digest::KeyInit>::new(&block_sized_key),
        }
    }

    /// HMAC over `authenticated` followed by `trailer` (the ROC for SRTP): two pieces so
    /// that the ROC need not be copied next to the packet.
    pub(crate) fn tag(&self, authenticated: &[u8], trailer: &[u8]) -> [u8; HMAC_SHA1_LEN] {
        let mut mac = self.keyed.clone();
        mac.update(authenticated);
        mac.update(trailer);
        mac.finalize().into_bytes().into()
    }

    /// Whether `received` equals the first `received.len()` bytes of the tag, in time
    /// independent of where they differ.
    pub(crate) fn verify(&self, authenticated: &[u8], trailer: &[u8], received: &[u8]) -> bool {
        let full = self.tag(authenticated, trailer);
        match full.get(..received.len()) {
            Some(expected) => bool::from(expected.ct_eq(received)),
            None => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::unhex;

    #[test]
    fn rfc2202_hmac_sha1_case_1() {
        let key = [0x0bu8; 20];
        let mac = HmacSha1::new(&key);
        let tag = mac.tag(b"Hi ", b"There");
        assert_eq!(
            tag.to_vec(),
            unhex("b617318655057264e28bc0b6fb378c8ef146be00")
        );
        assert!(mac.verify(b"Hi There", b"", &tag[..10]));
        assert!(mac.verify(b"Hi There", b"", &tag[..4]));
        let mut wrong = tag;
        wrong[3] ^= 1;
        assert!(!mac.verify(b"Hi There", b"", &wrong[..4]));
        assert!(!mac.verify(b"Hi There", b"", &[0u8; 21]));
    }
}
