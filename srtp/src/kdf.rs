//! Session key derivation, RFC 3711 §4.3: the AES-CM PRF keyed with the master key,
//! run over `(master salt XOR (label || index DIV kdr)) * 2^16`.
//!
//! The PRF's AES key size is the master key's (RFC 6188 §3 for AES-192/256, and the
//! RFC 7714 §11 AEAD suites), and a 96-bit GCM master salt is padded on the right with
//! two zero bytes to the 112 bits the PRF input needs, as libsrtp does.

use crate::cipher::{shifted_salt, Aes};
use crate::error::SrtpError;

/// Which session key to derive (RFC 3711 §4.3.1 and §4.3.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub(crate) enum Label {
    RtpEncryption = 0,
    RtpAuthentication = 1,
    RtpSalt = 2,
    RtcpEncryption = 3,
    RtcpAuthentication = 4,
    RtcpSalt = 5,
}

/// The three labels of one direction.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Labels {
    pub(crate) encryption: Label,
    pub(crate) authentication: Label,
    pub(crate) salt: Label,
}

pub(crate) const RTP_LABELS: Labels = Labels {
    encryption: Label::RtpEncryption,
    authentication: Label::RtpAuthentication,
    salt: Label::RtpSalt,
};

pub(crate) const RTCP_LABELS: Labels = Labels {
    encryption: Label::RtcpEncryption,
    authentication: Label::RtcpAuthentication,
    salt: Label::RtcpSalt,
};

/// The PRF with the master key expanded, kept by a session so that a non-zero key
/// derivation rate can derive again without the master key in the clear.
#[derive(Clone)]
pub(crate) struct Kdf {
    prf: Aes,
    master_salt: [u8; 14],
}

impl Kdf {
    /// `master_salt` is 14 bytes, or 12 for GCM (padded here).
    pub(crate) fn new(master_key: &[u8], master_salt: &[u8]) -> Result<Self, SrtpError> {
        let mut padded_salt = [0u8; 14];
        let salt_len = master_salt.len().min(14);
        padded_salt[..salt_len].copy_from_slice(&master_salt[..salt_len]);
        Ok(Kdf {
            prf: Aes::new(master_key)?,
            master_salt: padded_salt,
        })
    }

    /// Fills `out` with the session key for `label` at `r = index DIV kdr` (a 48-bit
    /// value; 0 when the key is derived once).
    pub(crate) fn derive(&self, label: Label, r: u64, out: &mut [u8]) {
        let mut x = self.master_salt;
        // key_id = label || r, 56 bits, right-aligned against the 112-bit salt.
        x[7] ^= label as u8;
        for (byte, r_byte) in x[8..].iter_mut().zip(&r.to_be_bytes()[2..]) {
            *byte ^= r_byte;
        }
        out.fill(0);
        self.prf.apply_counter_mode(shifted_salt(&x), out);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::unhex;

    /// Derives cipher key, cipher salt and auth key for the RTP labels and compares.
    fn check(master_key: &str, master_salt: &str, key: &str, salt: &str, auth: &str) {
        let kdf = Kdf::new(&unhex(master_key), &unhex(master_salt)).expect("kdf");
        let expected_key = unhex(key);
        let mut derived = vec![0u8; expected_key.len()];
        kdf.derive(Label::RtpEncryption, 0, &mut derived);
        assert_eq!(derived, expected_key, "cipher key");
        let expected_salt = unhex(salt);
        let mut derived = vec![0u8; expected_salt.len()];
        kdf.derive(Label::RtpSalt, 0, &mut derived);
        assert_eq!(derived, expected_salt, "cipher salt");
        let expected_auth = unhex(auth);
        let mut derived = vec![0u8; expected_auth.len()];
        kdf.derive(Label::RtpAuthentication, 0, &mut derived);
        assert_eq!(derived, expected_auth, "auth key");
    }

    #[test]
    fn rfc3711_b3_key_derivation() {
        // The RFC prints the full 94-byte auth key; HMAC-SHA1 uses the first 20.
        check(
            "E1F97A0D3E018BE0D64FA32C06DE4139",
            "0EC675AD498AFEEBB6960B3AABE6",
            "C61E7A93744F39EE10734AFE3FF7A087",
            "30CBBC08863D8C85D49DB34A9AE1",
            "CEBE321F6FF7716B6FD4AB49AF256A15 6D38BAA48F0A0ACF3C34E2359E6CDBCE
             E049646C43D9327AD175578EF7227098 6371C10C9A369AC2F94A8C5FBCDDDC25
             6D6E919A48B610EF17C2041E47403576 6B68642C59BBFC2F34DB60DBDFB2",
        );
    }

    #[test]
    fn rfc6188_7_2_aes_256_key_derivation() {
        check(
            "f0f04914b513f2763a1b1fa130f10e29 98f6f6e43e4309d1e622a0e332b9f1b6",
            "3b04803de51ee7c96423ab5b78d2",
            "5ba1064e30ec51613cad926c5a28ef73 1ec7fb397f70a960653caf06554cd8c4",
            "fa31791685ca444a9e07c6c64e93",
            "fd9c32d39ed5fbb5a9dc96b30818454d1313dc05",
        );
    }

    #[test]
    fn rfc6188_7_4_aes_192_key_derivation() {
        check(
            "73edc66c4fa15776fb57f9505c17136550ffda71f3e8e5f1",
            "c8522f3acd4ce86d5add78edbb11",
            "31874736a8f1143870c26e4857d8a5b2c4a354407faadabb",
            "2372b82d639b6d8503a47adc0a6c",
            "355b10973cd95b9eacf4061c7e1a7151e7cfbfcb",
        );
    }

    #[test]
    fn r_changes_the_keys_and_only_its_own_bytes() {
        let kdf = Kdf::new(&[7u8; 16], &[9u8; 14]).expect("kdf");
        let mut at_zero = [0u8; 16];
        let mut at_one = [0u8; 16];
        kdf.derive(Label::RtpEncryption, 0, &mut at_zero);
        kdf.derive(Label::RtpEncryption, 1, &mut at_one);
        assert_ne!(at_zero, at_one);
        // r is 48 bits: bits above are ignored rather than spilling into the label.
        let mut wrapped = [0u8; 16];
        kdf.derive(Label::RtpEncryption, 1 << 48, &mut wrapped);
        assert_eq!(wrapped, at_zero);
    }
}
