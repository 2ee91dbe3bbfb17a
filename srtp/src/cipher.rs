//! The payload ciphers of the HMAC-SHA1 suites: AES counter mode (RFC 3711 §4.1.1,
//! RFC 6188), AES f8 (RFC 3711 §4.1.2) and NULL, plus the AES block cipher they and the
//! key derivation share.
//!
//! Key schedules are expanded once when a session is built; per packet only the IV is
//! computed and the keystream is XORed over the payload in place.

use aes::cipher::consts::U16;
use aes::cipher::{BlockEncrypt, BlockSizeUser, KeyInit};
use aes::{Aes128Enc, Aes192Enc, Aes256Enc, Block};

use crate::error::SrtpError;

const BLOCK_LEN: usize = 16;

/// An expanded AES encryption key of any of the three sizes.
#[derive(Clone)]
pub(crate) enum Aes {
    Aes128(Aes128Enc),
    Aes192(Aes192Enc),
    Aes256(Aes256Enc),
}

impl Aes {
    /// Expands `key`; its length (16, 24 or 32) picks the variant.
    pub(crate) fn new(key: &[u8]) -> Result<Self, SrtpError> {
        let unsupported = |_| SrtpError::Unsupported("AES key length");
        Ok(match key.len() {
            16 => Aes::Aes128(Aes128Enc::new_from_slice(key).map_err(unsupported)?),
            24 => Aes::Aes192(Aes192Enc::new_from_slice(key).map_err(unsupported)?),
            32 => Aes::Aes256(Aes256Enc::new_from_slice(key).map_err(unsupported)?),
            _ => return Err(SrtpError::Unsupported("AES key length")),
        })
    }

    /// XORs the AES-CM keystream starting at counter block `iv` over `data`.
    ///
    /// SRTP's counter is the whole 128-bit block incremented big-endian. Written out here
    /// rather than through the `ctr` crate, whose buffered wrapper took as long as the
    /// AES rounds for a 160-byte payload.
    pub(crate) fn apply_counter_mode(&self, iv: u128, data: &mut [u8]) {
        match self {
            Aes::Aes128(aes) => xor_counter_mode_keystream(aes, iv, data),
            Aes::Aes192(aes) => xor_counter_mode_keystream(aes, iv, data),
            Aes::Aes256(aes) => xor_counter_mode_keystream(aes, iv, data),
        }
    }
}

/// Counter blocks encrypted per `encrypt_blocks` call. The AES-NI backend pipelines
/// them eight at a time, and a single call for a whole voice payload (a 160-byte one is
/// ten blocks) avoids paying the call and the unpipelined tail twice.
const KEYSTREAM_BATCH: usize = 16;

fn xor_counter_mode_keystream<C>(aes: &C, iv: u128, data: &mut [u8])
where
    C: BlockEncrypt + BlockSizeUser<BlockSize = U16>,
{
    let mut counter = iv;
    let mut keystream = [Block::default(); KEYSTREAM_BATCH];
    for batch in data.chunks_mut(KEYSTREAM_BATCH * BLOCK_LEN) {
        let keystream = &mut keystream[..batch.len().div_ceil(BLOCK_LEN)];
        for block in keystream.iter_mut() {
            *block = counter.to_be_bytes().into();
            counter = counter.wrapping_add(1);
        }
        aes.encrypt_blocks(keystream);
        // Whole blocks as one 128-bit XOR each; byte by byte this loop cost as much as the
        // AES rounds.
        let mut whole_blocks = batch.chunks_exact_mut(BLOCK_LEN);
        for (chunk, key) in (&mut whole_blocks).zip(keystream.iter()) {
            if let Ok(chunk) = <&mut [u8; BLOCK_LEN]>::try_from(chunk) {
                let key: [u8; BLOCK_LEN] = (*key).into();
                *chunk = (u128::from_ne_bytes(*chunk) ^ u128::from_ne_bytes(key)).to_ne_bytes();
            }
        }
        let tail = whole_blocks.into_remainder();
        if let Some(key) = keystream.last() {
            for (byte, key_byte) in tail.iter_mut().zip(key) {
                *byte ^= key_byte;
            }
        }
    }
}

/// The salt term of the AES-CM IV, `k_s * 2^16`, computed once per session.
pub(crate) fn shifted_salt(session_salt: &[u8; 14]) -> u128 {
    let mut block = [0u8; BLOCK_LEN];
    block[..14].copy_from_slice(session_salt);
    u128::from_be_bytes(block)
}

/// The AES-CM IV of RFC 3711 §4.1.1: `k_s * 2^16 XOR SSRC * 2^64 XOR i * 2^16`, for SRTP
/// (i = 48-bit packet index) and SRTCP (i = 31-bit SRTCP index) alike. Kept as one
/// integer: assembling it byte by byte and reloading it cost a store-forwarding stall.
pub(crate) fn counter_mode_iv(shifted_salt: u128, ssrc: u32, index: u64) -> u128 {
    const INDEX_BITS: u64 = (1 << 48) - 1;
    shifted_salt ^ (u128::from(ssrc) << 64) ^ (u128::from(index & INDEX_BITS) << 16)
}

/// AES in f8 mode with a 128-bit key (RFC 3711 §4.1.2).
#[derive(Clone)]
pub(crate) struct F8 {
    /// E(k_e, ·), which produces the keystream blocks.
    session: Aes128Enc,
    /// E(k_e XOR m, ·) with m = k_s || 0x5555…, which only whitens the IV.
    masked: Aes128Enc,
}

impl F8 {
    pub(crate) fn new(session_key: &[u8; 16], session_salt: &[u8]) -> Self {
        let mut masked_key = [0x55u8; 16];
        for (byte, salt_byte) in masked_key.iter_mut().zip(session_salt) {
            *byte = *salt_byte;
        }
        for (byte, key_byte) in masked_key.iter_mut().zip(session_key) {
            *byte ^= key_byte;
        }
        F8 {
            session: Aes128Enc::new(session_key.into()),
            masked: Aes128Enc::new((&masked_key).into()),
        }
    }

    /// XORs the f8 keystream for `iv` over `data`:
    /// S(j) = E(k_e, IV' XOR j XOR S(j-1)) with IV' = E(k_e XOR m, IV) and S(-1) = 0.
    /// Each block depends on the previous one, so this runs one AES call at a time.
    pub(crate) fn apply(&self, iv: &[u8; BLOCK_LEN], data: &mut [u8]) {
        let mut whitened_iv = Block::clone_from_slice(iv);
        self.masked.encrypt_block(&mut whitened_iv);
        let mut keystream = Block::default();
        for (j, chunk) in data.chunks_mut(BLOCK_LEN).enumerate() {
            let counter = (j as u128).to_be_bytes();
            for ((out, iv_byte), counter_byte) in keystream
                .iter_mut()
                .zip(whitened_iv.iter())
                .zip(counter.iter())
            {
                *out ^= iv_byte ^ counter_byte;
            }
            self.session.encrypt_block(&mut keystream);
            for (byte, key_byte) in chunk.iter_mut().zip(keystream.iter()) {
                *byte ^= key_byte;
            }
        }
    }
}

/// The cipher an HMAC-SHA1 suite applies to SRTP or SRTCP payloads.
#[derive(Clone)]
// Built once per session and used in place: boxing the larger variant would only add a
// pointer chase per packet.
#[allow(clippy::large_enum_variant)]
pub(crate) enum PayloadCipher {
    Null,
    CounterMode {
        aes: Aes,
        /// `k_s * 2^16`, see [`shifted_salt`].
        shifted_salt: u128,
    },
    F8(F8),
}

impl PayloadCipher {
    /// Encrypts or decrypts (the same XOR) `packet[header_len..]`, the payload of an
    /// SRTP or SRTCP packet from `ssrc` with packet index `index`. `f8_iv` builds the
    /// f8 IV from the header bytes; SRTP and SRTCP differ only there, and it is called
    /// only for f8.
    #[inline]
    pub(crate) fn apply(
        &self,
        ssrc: u32,
        index: u64,
        f8_iv: impl FnOnce(&[u8]) -> [u8; BLOCK_LEN],
        header_len: usize,
        packet: &mut [u8],
    ) {
        let (head, payload) = packet.split_at_mut(header_len.min(packet.len()));
        match self {
            PayloadCipher::Null => {}
            PayloadCipher::CounterMode { aes, shifted_salt } => {
                aes.apply_counter_mode(counter_mode_iv(*shifted_salt, ssrc, index), payload)
            }
            PayloadCipher::F8(f8) => f8.apply(&f8_iv(head), payload),
        }
    }
}

/// The SRTP f8 IV (RFC 3711 §4.1.2.2): 0x00 || M || PT || SEQ || TS || SSRC || ROC.
/// `rtp_header` is the packet from its start; the first 12 bytes are used.
pub(crate) fn f8_rtp_iv(rtp_header: &[u8], roc: u32) -> [u8; BLOCK_LEN] {
    let mut iv = [0u8; BLOCK_LEN];
    for (byte, header_byte) in iv[1..12].iter_mut().zip(rtp_header.iter().skip(1)) {
        *byte = *header_byte;
    }
    iv[12..].copy_from_slice(&roc.to_be_bytes());
    iv
}

/// The SRTCP f8 IV (RFC 3711 §4.1.2.3): 0..0 (32 bits) || E || SRTCP index || the first
/// eight header bytes (V, P, RC, PT, length, SSRC).
/// `rtcp_header` is the packet from its start; the first 8 bytes are used.
pub(crate) fn f8_rtcp_iv(e_and_index: u32, rtcp_header: &[u8]) -> [u8; BLOCK_LEN] {
    let mut iv = [0u8; BLOCK_LEN];
    iv[4..8].copy_from_slice(&e_and_index.to_be_bytes());
    for (byte, header_byte) in iv[8..].iter_mut().zip(rtcp_header) {
        *byte = *header_byte;
    }
    iv
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::{array, unhex};

    /// The first three and last three keystream blocks of the 65282-block segment of
    /// RFC 3711 B.2 and RFC 6188 §7.1/§7.3.
    fn check_keystream(key: &str, first: &str, last: &str) {
        let aes = Aes::new(&unhex(key)).expect("key");
        let salt = array::<14>("F0F1F2F3F4F5F6F7F8F9FAFBFCFD");
        let iv = counter_mode_iv(shifted_salt(&salt), 0, 0);
        assert_eq!(
            iv.to_be_bytes(),
            array::<16>("F0F1F2F3F4F5F6F7F8F9FAFBFCFD0000")
        );
        let mut segment = vec![0u8; 65282 * 16];
        aes.apply_counter_mode(iv, &mut segment);
        assert_eq!(segment[..48], unhex(first));
        assert_eq!(segment[segment.len() - 48..], unhex(last));
    }

    #[test]
    fn rfc3711_b2_aes_128_cm_keystream() {
        check_keystream(
            "2B7E151628AED2A6ABF7158809CF4F3C",
            "E03EAD0935C95E80E166B16DD92B4EB4 D23513162B02D0F72A43A2FE4A5F97AB
             41E95B3BB0A2E8DD477901E4FCA894C0",
            "EC8CDF7398607CB0F2D21675EA9EA1E4 362B7C3C6773516318A077D7FC5073AE
             6A2CC3787889374FBEB4C81B17BA6C44",
        );
    }

    #[test]
    fn rfc6188_7_1_aes_256_cm_keystream() {
        check_keystream(
            "57f82fe3613fd170a85ec93c40b1f092 2ec4cb0dc025b58272147cc438944a98",
            "92bdd28a93c3f52511c677d08b5515a4 9da71b2378a854f67050756ded165bac
             63c4868b7096d88421b563b8c94c9a31",
            "cea518c90fd91ced9cbb18c078a54711 3dbc4814f4da5f00a08772b63c6a046d
             6eb246913062a16891433e97dd01a57f",
        );
    }

    #[test]
    fn rfc6188_7_3_aes_192_cm_keystream() {
        check_keystream(
            "eab234764e517b2d3d160d587d8c86219740f65f99b6bcf7",
            "35096cba4610028dc1b57503804ce37c 5de986291dcce161d5165ec4568f5c9a
             474a40c77894bc17180202272a4c264d",
            "d108d1a31a00bad6367ec23eb044b415 c8f57129fdeb970b59f917b257662d4c
             a5dab625811034e8cebdfeb6dc158dd3",
        );
    }

    #[test]
    fn rfc3711_b1_f8() {
        let header = array::<12>("806e5cba50681de55c621599");
        let roc = 0xd462564a;
        let iv = f8_rtp_iv(&header, roc);
        assert_eq!(iv, array::<16>("006e5cba50681de55c621599d462564a"));
        let f8 = F8::new(
            &array::<16>("234829008467be186c3de14aae72d62c"),
            &unhex("32f2870d"),
        );
        let mut payload = unhex(
            "70736575646f72616e646f6d6e657373 20697320746865206e65787420626573
             74207468696e67",
        );
        f8.apply(&iv, &mut payload);
        assert_eq!(
            payload,
            unhex(
                "019ce7a26e7854014a6366aa95d4eefd 1ad4172a14f9faf455b7f1d4b62bd08f
                 562c0eef7c4802"
            )
        );
    }

    #[test]
    fn counter_mode_iv_places_ssrc_and_index() {
        let iv = counter_mode_iv(0, 0x1122_3344, 0xaabb_ccdd_eeff);
        assert_eq!(
            iv.to_be_bytes(),
            array::<16>("0000000011223344aabbccddeeff0000")
        );
    }
}
