//! The SRTP crypto suites rtpengine negotiates over SDES, by their SDP names.

/// How a suite protects payloads; decides which transform a session builds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum CipherKind {
    /// AES in counter mode (RFC 3711 §4.1.1, RFC 6188) with HMAC-SHA1.
    AesCm,
    /// AES in f8 mode (RFC 3711 §4.1.2) with HMAC-SHA1.
    F8,
    /// No encryption, HMAC-SHA1 only.
    Null,
    /// AES-GCM, an AEAD (RFC 7714).
    AesGcm,
}

/// A crypto suite: cipher, key size and tag length.
///
/// The discriminants are the compact ids of [`SrtpSuite::to_id`]; they are stored in
/// shared memory, so they never change. 0 is left free to mean "no suite".
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum SrtpSuite {
    AesCm128HmacSha1_80 = 1,
    AesCm128HmacSha1_32 = 2,
    Aes192CmHmacSha1_80 = 3,
    Aes192CmHmacSha1_32 = 4,
    Aes256CmHmacSha1_80 = 5,
    Aes256CmHmacSha1_32 = 6,
    F8_128HmacSha1_80 = 7,
    F8_128HmacSha1_32 = 8,
    NullHmacSha1_80 = 9,
    NullHmacSha1_32 = 10,
    AeadAes128Gcm = 11,
    AeadAes256Gcm = 12,
}

impl SrtpSuite {
    /// Every suite, in the order rtpengine offers them (strongest first).
    pub const ALL: [SrtpSuite; 12] = [
        SrtpSuite::AeadAes256Gcm,
        SrtpSuite::AeadAes128Gcm,
        SrtpSuite::Aes256CmHmacSha1_80,
        SrtpSuite::Aes256CmHmacSha1_32,
        SrtpSuite::Aes192CmHmacSha1_80,
        SrtpSuite::Aes192CmHmacSha1_32,
        SrtpSuite::AesCm128HmacSha1_80,
        SrtpSuite::AesCm128HmacSha1_32,
        SrtpSuite::F8_128HmacSha1_80,
        SrtpSuite::F8_128HmacSha1_32,
        SrtpSuite::NullHmacSha1_80,
        SrtpSuite::NullHmacSha1_32,
    ];

    /// The SDES name (RFC 4568, RFC 6188, RFC 7714), as in `a=crypto:` lines.
    pub fn name(self) -> &'static str {
        match self {
            SrtpSuite::AesCm128HmacSha1_80 => "AES_CM_128_HMAC_SHA1_80",
            SrtpSuite::AesCm128HmacSha1_32 => "AES_CM_128_HMAC_SHA1_32",
            SrtpSuite::Aes192CmHmacSha1_80 => "AES_192_CM_HMAC_SHA1_80",
            SrtpSuite::Aes192CmHmacSha1_32 => "AES_192_CM_HMAC_SHA1_32",
            SrtpSuite::Aes256CmHmacSha1_80 => "AES_256_CM_HMAC_SHA1_80",
            SrtpSuite::Aes256CmHmacSha1_32 => "AES_256_CM_HMAC_SHA1_32",
            SrtpSuite::F8_128HmacSha1_80 => "F8_128_HMAC_SHA1_80",
            SrtpSuite::F8_128HmacSha1_32 => "F8_128_HMAC_SHA1_32",
            SrtpSuite::NullHmacSha1_80 => "NULL_HMAC_SHA1_80",
            SrtpSuite::NullHmacSha1_32 => "NULL_HMAC_SHA1_32",
            SrtpSuite::AeadAes128Gcm => "AEAD_AES_128_GCM",
            SrtpSuite::AeadAes256Gcm => "AEAD_AES_256_GCM",
        }
    }

    /// The suite an SDES name stands for. rtpengine matches names case-insensitively
    /// (in `a=crypto` lines and in `SDES-no-` flags alike).
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL
            .into_iter()
            .find(|suite| suite.name().eq_ignore_ascii_case(name))
    }

    /// The compact id for fixed-layout tables; never 0.
    pub fn to_id(self) -> u8 {
        self as u8
    }

    /// The suite behind an id from [`SrtpSuite::to_id`]; `None` for 0 and unknown ids.
    pub fn from_id(id: u8) -> Option<Self> {
        Self::ALL.into_iter().find(|suite| suite.to_id() == id)
    }

    pub(crate) fn cipher_kind(self) -> CipherKind {
        match self {
            SrtpSuite::AesCm128HmacSha1_80
            | SrtpSuite::AesCm128HmacSha1_32
            | SrtpSuite::Aes192CmHmacSha1_80
            | SrtpSuite::Aes192CmHmacSha1_32
            | SrtpSuite::Aes256CmHmacSha1_80
            | SrtpSuite::Aes256CmHmacSha1_32 => CipherKind::AesCm,
            SrtpSuite::F8_128HmacSha1_80 | SrtpSuite::F8_128HmacSha1_32 => CipherKind::F8,
            SrtpSuite::NullHmacSha1_80 | SrtpSuite::NullHmacSha1_32 => CipherKind::Null,
            SrtpSuite::AeadAes128Gcm | SrtpSuite::AeadAes256Gcm => CipherKind::AesGcm,
        }
    }

    /// Whether the suite is an AEAD, whose tag comes from the cipher rather than HMAC.
    pub fn is_aead(self) -> bool {
        self.cipher_kind() == CipherKind::AesGcm
    }

    /// Master key length in bytes. NULL suites still need a key: the AES-128 PRF derives
    /// their authentication keys from it.
    pub fn master_key_len(self) -> usize {
        match self {
            SrtpSuite::Aes192CmHmacSha1_80 | SrtpSuite::Aes192CmHmacSha1_32 => 24,
            SrtpSuite::Aes256CmHmacSha1_80
            | SrtpSuite::Aes256CmHmacSha1_32
            | SrtpSuite::AeadAes256Gcm => 32,
            _ => 16,
        }
    }

    /// Master salt length in bytes: 112 bits, except 96 for AES-GCM (RFC 7714 §12).
    pub fn master_salt_len(self) -> usize {
        if self.is_aead() {
            12
        } else {
            14
        }
    }

    /// Length of an SDES `inline:` key parameter: master key followed by master salt.
    pub fn key_salt_len(self) -> usize {
        self.master_key_len() + self.master_salt_len()
    }

    /// Session encryption key length; 0 for NULL suites, which encrypt nothing.
    pub(crate) fn session_key_len(self) -> usize {
        match self.cipher_kind() {
            CipherKind::Null => 0,
            _ => self.master_key_len(),
        }
    }

    /// Session salt length, the same as the master salt's for every suite.
    pub(crate) fn session_salt_len(self) -> usize {
        self.master_salt_len()
    }

    /// Tag length of SRTP packets.
    pub fn rtp_tag_len(self) -> usize {
        match self {
            SrtpSuite::AesCm128HmacSha1_32
            | SrtpSuite::Aes192CmHmacSha1_32
            | SrtpSuite::Aes256CmHmacSha1_32
            | SrtpSuite::F8_128HmacSha1_32
            | SrtpSuite::NullHmacSha1_32 => 4,
            SrtpSuite::AeadAes128Gcm | SrtpSuite::AeadAes256Gcm => 16,
            _ => 10,
        }
    }

    /// Tag length of SRTCP packets: the `_32` suites shorten only the SRTP tag
    /// (RFC 4568 §6.2.1), SRTCP keeps 80 bits.
    pub fn rtcp_tag_len(self) -> usize {
        if self.is_aead() {
            16
        } else {
            10
        }
    }
}

impl std::fmt::Display for SrtpSuite {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_ids_round_trip() {
        for suite in SrtpSuite::ALL {
            assert_eq!(SrtpSuite::from_name(suite.name()), Some(suite));
            assert_eq!(SrtpSuite::from_id(suite.to_id()), Some(suite));
            assert_ne!(suite.to_id(), 0);
        }
        assert_eq!(SrtpSuite::from_id(0), None);
        assert_eq!(SrtpSuite::from_id(13), None);
        assert_eq!(
            SrtpSuite::from_name("aes_cm_128_hmac_sha1_80"),
            Some(SrtpSuite::AesCm128HmacSha1_80)
        );
        assert_eq!(SrtpSuite::AeadAes128Gcm.key_salt_len(), 28);
        assert_eq!(SrtpSuite::Aes192CmHmacSha1_32.key_salt_len(), 38);
        assert_eq!(SrtpSuite::from_name("AES_CM_128_HMAC_SHA1_81"), None);
    }

    #[test]
    fn lengths_follow_the_rfcs() {
        use SrtpSuite::*;
        let expected = [
            (AeadAes256Gcm, 32, 12, 16, 16),
            (AeadAes128Gcm, 16, 12, 16, 16),
            (Aes256CmHmacSha1_80, 32, 14, 10, 10),
            (Aes256CmHmacSha1_32, 32, 14, 4, 10),
            (Aes192CmHmacSha1_80, 24, 14, 10, 10),
            (Aes192CmHmacSha1_32, 24, 14, 4, 10),
            (AesCm128HmacSha1_80, 16, 14, 10, 10),
            (AesCm128HmacSha1_32, 16, 14, 4, 10),
            (F8_128HmacSha1_80, 16, 14, 10, 10),
            (F8_128HmacSha1_32, 16, 14, 4, 10),
            (NullHmacSha1_80, 16, 14, 10, 10),
            (NullHmacSha1_32, 16, 14, 4, 10),
        ];
        for (i, (suite, key, salt, rtp_tag, rtcp_tag)) in expected.into_iter().enumerate() {
            assert_eq!(SrtpSuite::ALL[i], suite, "rtpengine's preference order");
            assert_eq!(suite.master_key_len(), key, "{suite}");
            assert_eq!(suite.master_salt_len(), salt, "{suite}");
            assert_eq!(suite.rtp_tag_len(), rtp_tag, "{suite}");
            assert_eq!(suite.rtcp_tag_len(), rtcp_tag, "{suite}");
        }
    }
}
