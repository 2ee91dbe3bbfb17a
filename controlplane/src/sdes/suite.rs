//! The SDES crypto suites rtpengine 10.5 negotiates.
//!
//! A stand-in until the `srtp` crate, which implements the suites, provides
//! the table: everything the control plane needs about a suite is here and
//! nowhere else. Key and salt lengths are from RFC 4568 section 6.2 (AES_CM,
//! F8, NULL), RFC 6188 section 7 (AES_192/256_CM) and RFC 7714 section 12
//! (AEAD_AES_*_GCM, 12-byte salt).

/// One SRTP crypto suite, named as in `a=crypto`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SdesSuite {
    AeadAes256Gcm,
    AeadAes128Gcm,
    Aes256CmHmacSha1_80,
    Aes256CmHmacSha1_32,
    Aes192CmHmacSha1_80,
    Aes192CmHmacSha1_32,
    AesCm128HmacSha1_80,
    AesCm128HmacSha1_32,
    F8_128HmacSha1_80,
    F8_128HmacSha1_32,
    NullHmacSha1_80,
    NullHmacSha1_32,
}

/// SRTP packets one master key may protect (RFC 3711 section 9.2, RFC 7714
/// section 15): the upper bound for an `a=crypto` lifetime.
pub const MAX_LIFETIME: u64 = 1 << 48;

impl SdesSuite {
    /// Every suite, in the order rtpengine 10.5 offers them (strongest first).
    pub const OFFER_ORDER: [SdesSuite; 12] = [
        SdesSuite::AeadAes256Gcm,
        SdesSuite::AeadAes128Gcm,
        SdesSuite::Aes256CmHmacSha1_80,
        SdesSuite::Aes256CmHmacSha1_32,
        SdesSuite::Aes192CmHmacSha1_80,
        SdesSuite::Aes192CmHmacSha1_32,
        SdesSuite::AesCm128HmacSha1_80,
        SdesSuite::AesCm128HmacSha1_32,
        SdesSuite::F8_128HmacSha1_80,
        SdesSuite::F8_128HmacSha1_32,
        SdesSuite::NullHmacSha1_80,
        SdesSuite::NullHmacSha1_32,
    ];

    /// The `a=crypto` name.
    pub fn name(self) -> &'static str {
        match self {
            SdesSuite::AeadAes256Gcm => "AEAD_AES_256_GCM",
            SdesSuite::AeadAes128Gcm => "AEAD_AES_128_GCM",
            SdesSuite::Aes256CmHmacSha1_80 => "AES_256_CM_HMAC_SHA1_80",
            SdesSuite::Aes256CmHmacSha1_32 => "AES_256_CM_HMAC_SHA1_32",
            SdesSuite::Aes192CmHmacSha1_80 => "AES_192_CM_HMAC_SHA1_80",
            SdesSuite::Aes192CmHmacSha1_32 => "AES_192_CM_HMAC_SHA1_32",
            SdesSuite::AesCm128HmacSha1_80 => "AES_CM_128_HMAC_SHA1_80",
            SdesSuite::AesCm128HmacSha1_32 => "AES_CM_128_HMAC_SHA1_32",
            SdesSuite::F8_128HmacSha1_80 => "F8_128_HMAC_SHA1_80",
            SdesSuite::F8_128HmacSha1_32 => "F8_128_HMAC_SHA1_32",
            SdesSuite::NullHmacSha1_80 => "NULL_HMAC_SHA1_80",
            SdesSuite::NullHmacSha1_32 => "NULL_HMAC_SHA1_32",
        }
    }

    /// The suite called `name`; rtpengine compares case-insensitively.
    pub fn from_name(name: &str) -> Option<SdesSuite> {
        SdesSuite::OFFER_ORDER
            .into_iter()
            .find(|s| s.name().eq_ignore_ascii_case(name))
    }

    /// Master key length in bytes.
    pub fn key_len(self) -> usize {
        match self {
            SdesSuite::AeadAes256Gcm
            | SdesSuite::Aes256CmHmacSha1_80
            | SdesSuite::Aes256CmHmacSha1_32 => 32,
            SdesSuite::Aes192CmHmacSha1_80 | SdesSuite::Aes192CmHmacSha1_32 => 24,
            // NULL still derives session keys (RFC 4568 section 6.2.3).
            _ => 16,
        }
    }

    /// Master salt length in bytes.
    pub fn salt_len(self) -> usize {
        match self {
            SdesSuite::AeadAes256Gcm | SdesSuite::AeadAes128Gcm => 12,
            _ => 14,
        }
    }

    /// Length of the `inline:` key material: key followed by salt.
    pub fn key_salt_len(self) -> usize {
        self.key_len() + self.salt_len()
    }
}

impl std::fmt::Display for SdesSuite {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table() {
        for s in SdesSuite::OFFER_ORDER {
            assert_eq!(SdesSuite::from_name(s.name()), Some(s));
            assert_eq!(SdesSuite::from_name(&s.name().to_lowercase()), Some(s));
        }
        assert_eq!(SdesSuite::AesCm128HmacSha1_80.key_salt_len(), 30);
        assert_eq!(SdesSuite::Aes192CmHmacSha1_32.key_salt_len(), 38);
        assert_eq!(SdesSuite::Aes256CmHmacSha1_80.key_salt_len(), 46);
        assert_eq!(SdesSuite::AeadAes128Gcm.key_salt_len(), 28);
        assert_eq!(SdesSuite::AeadAes256Gcm.key_salt_len(), 44);
        assert_eq!(SdesSuite::from_name("FOO"), None);
    }
}
