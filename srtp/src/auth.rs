//! HMAC-SHA1 message authentication (RFC 3711 §4.2.1).
//!
//! HMAC keyed once per session: `Hmac<Sha1>` holds the inner and outer hash states with
//! the padded key already absorbed, so each packet clones those two states instead of
//! hashing the key again. The tag is compared in constant time.

use sha1::digest::generic_array::GenericArray;
use subtle::ConstantTimeEq;

/// The longest HMAC-SHA1 output; tags are its first 4 or 10 bytes.
pub(crate) const HMAC_SHA1_LEN: usize = 20;

const SHA1_BLOCK_LEN: usize = 64;
const SHA1_INITIAL_STATE: [u32; 5] = [
    0x6745_2301,
    0xefcd_ab89,
    0x98ba_dcfe,
    0x1032_5476,
    0xc3d2_e1f0,
];
/// Where the message bit length goes in SHA-1's last block.
const SHA1_LENGTH_AT: usize = SHA1_BLOCK_LEN - 8;

/// HMAC-SHA1 with the session authentication key absorbed: the SHA-1 states after the
/// inner (key XOR ipad) and outer (key XOR opad) key blocks.
///
/// Per packet this copies the two 20-byte states and runs the SHA-1 compression
/// function (SHA-NI when the CPU has it) straight over the packet; the `hmac` crate's
/// generic wrapper cost a quarter again on top of the compressions for a 172-byte packet.
#[derive(Clone)]
pub(crate) struct HmacSha1 {
    inner: [u32; 5],
    outer: [u32; 5],
}

fn compress(state: &mut [u32; 5], block: &[u8; SHA1_BLOCK_LEN]) {
    let block: &GenericArray<u8, _> = block.into();
    sha1::compress(state, std::slice::from_ref(block));
}

/// Absorbs `tail` (shorter than a block), `trailer`, then SHA-1's padding for a message
/// of `message_len` bytes in all.
fn finish(mut state: [u32; 5], tail: &[u8], trailer: &[u8], message_len: usize) -> [u32; 5] {
    let mut block = [0u8; SHA1_BLOCK_LEN];
    block[..tail.len()].copy_from_slice(tail);
    let mut filled = tail.len();
    for &byte in trailer.iter().chain(&[0x80]) {
        if filled == SHA1_BLOCK_LEN {
            compress(&mut state, &block);
            block = [0u8; SHA1_BLOCK_LEN];
            filled = 0;
        }
        block[filled] = byte;
        filled += 1;
    }
    if filled > SHA1_LENGTH_AT {
        compress(&mut state, &block);
        block = [0u8; SHA1_BLOCK_LEN];
    }
    let bit_len = (message_len as u64).wrapping_mul(8);
    block[SHA1_LENGTH_AT..].copy_from_slice(&bit_len.to_be_bytes());
    compress(&mut state, &block);
    state
}

/// The state after one key block: `key` (at most a block) XOR `pad`, zero-padded.
fn keyed_state(key: &[u8; HMAC_SHA1_LEN], pad: u8) -> [u32; 5] {
    let mut block = [pad; SHA1_BLOCK_LEN];
    for (byte, key_byte) in block.iter_mut().zip(key) {
        *byte ^= key_byte;
    }
    let mut state = SHA1_INITIAL_STATE;
    compress(&mut state, &block);
    state
}

impl HmacSha1 {
    pub(crate) fn new(key: &[u8; HMAC_SHA1_LEN]) -> Self {
        HmacSha1 {
            inner: keyed_state(key, 0x36),
            outer: keyed_state(key, 0x5c),
        }
    }

    /// HMAC over `authenticated` followed by `trailer` (the ROC for SRTP): two pieces so
    /// that the ROC need not be copied next to the packet.
    pub(crate) fn tag(&self, authenticated: &[u8], trailer: &[u8]) -> [u8; HMAC_SHA1_LEN] {
        let mut inner = self.inner;
        let mut blocks = authenticated.chunks_exact(SHA1_BLOCK_LEN);
        for block in &mut blocks {
            if let Ok(block) = block.try_into() {
                compress(&mut inner, block);
            }
        }
        let message_len = SHA1_BLOCK_LEN + authenticated.len() + trailer.len();
        let inner = finish(inner, blocks.remainder(), trailer, message_len);

        let mut inner_digest = [0u8; HMAC_SHA1_LEN];
        for (bytes, word) in inner_digest.chunks_exact_mut(4).zip(inner) {
            bytes.copy_from_slice(&word.to_be_bytes());
        }
        let outer = finish(
            self.outer,
            &inner_digest,
            &[],
            SHA1_BLOCK_LEN + HMAC_SHA1_LEN,
        );
        let mut tag = [0u8; HMAC_SHA1_LEN];
        for (bytes, word) in tag.chunks_exact_mut(4).zip(outer) {
            bytes.copy_from_slice(&word.to_be_bytes());
        }
        tag
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
    use hmac::{Hmac, Mac};
    use proptest::prelude::*;

    proptest! {
        /// Every length around the block boundaries, with and without a trailer, against
        /// the `hmac` crate.
        #[test]
        fn matches_the_hmac_crate(
            key in any::<[u8; 20]>(),
            message in proptest::collection::vec(any::<u8>(), 0..300),
            trailer in proptest::collection::vec(any::<u8>(), 0..80),
        ) {
            let mut reference = <Hmac<sha1::Sha1> as Mac>::new_from_slice(&key).expect("any key length");
            reference.update(&message);
            reference.update(&trailer);
            let expected: [u8; 20] = reference.finalize().into_bytes().into();
            prop_assert_eq!(HmacSha1::new(&key).tag(&message, &trailer), expected);
        }
    }

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
