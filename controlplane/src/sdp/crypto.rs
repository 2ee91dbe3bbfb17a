//! `a=crypto` (RFC 4568 section 9.1): parse and emit.
//!
//! ```text
//! a=crypto:<tag> <crypto-suite> <key-params> *(SP <session-param>)
//! key-params = key-param *(";" key-param)
//! key-param  = "inline:" <base64 key||salt> ["|" lifetime] ["|" MKI ":" length]
//! ```
//!
//! Acceptance follows rtpengine 10.5, which is laxer than the RFC in places
//! and stricter in one: the tag is read like C `strtoul` (`5x` is 5, `-1`
//! wraps to 4294967295), suite names and `inline:` match case-insensitively,
//! the key is decoded GLib-style from exactly as many characters as the
//! suite needs (see [`super::base64`]), one stray character after it is
//! ignored, a lifetime must be 1..=2^48 and an MKI at most 255 bytes long.
//! Only the three RFC 4568 flags among the session parameters mean anything
//! to rtpengine; the others are kept for the record.
//!
//! rtpengine reads a single key parameter and refuses a line with more
//! (`;inline:...` is "invalid key parameter syntax"); [`CryptoAttr`] keeps
//! them all, and [`CryptoAttr::single_key`] is where callers refuse.
//!
//! A line whose value has fewer than three space-separated tokens is not a
//! crypto attribute to rtpengine at all ([`parse`] returns `None`) and is
//! copied through; any other failure makes rtpengine drop the line.

use thiserror::Error;

use super::base64;
use crate::sdes::MAX_LIFETIME;
use srtp::SrtpSuite;

/// The longest MKI rtpengine 10.5 handles: it accepts 256 and crashes, so
/// 255 is the last length both accept.
pub const MAX_MKI_LEN: u16 = 255;

/// Why an `a=crypto` value was refused; `Display` says which part.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum CryptoError {
    #[error("invalid tag {0:?}")]
    Tag(String),
    #[error("unknown crypto suite {0:?}")]
    UnknownSuite(String),
    #[error("key parameter too short for {suite}: {len} characters")]
    KeyParamsTooShort { suite: SrtpSuite, len: usize },
    #[error("unknown key method in {0:?} (only inline: is supported)")]
    KeyMethod(String),
    #[error("key for {suite} decodes to {got} bytes, want {want}")]
    KeyLength {
        suite: SrtpSuite,
        got: usize,
        want: usize,
    },
    #[error("invalid key parameter syntax after the key: {0:?}")]
    KeySyntax(String),
    #[error("invalid key lifetime {0:?}")]
    Lifetime(String),
    #[error("invalid MKI {0:?}")]
    Mki(String),
    #[error("MKI length {0} is over {MAX_MKI_LEN}")]
    MkiTooLong(u64),
    #[error("{0} key parameters; rtpengine 10.5 uses lines with exactly one")]
    KeyCount(usize),
}

/// Key lifetime in SRTP packets, in the form it was written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lifetime {
    /// `2^n`, n in 1..=48.
    PowerOfTwo(u8),
    /// A plain number, 1..=2^48.
    Packets(u64),
}

impl Lifetime {
    pub fn packets(self) -> u64 {
        match self {
            Lifetime::PowerOfTwo(n) => 1u64 << n,
            Lifetime::Packets(p) => p,
        }
    }
}

/// Master key identifier (RFC 3711 section 3.1): `value` big-endian in
/// `len` bytes. rtpengine keeps only the low 32 bits of the value, and only
/// the low `len` bytes of those when `len` < 4; parsing applies the same
/// truncation, so `value` is always what ends up in packets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Mki {
    pub value: u32,
    /// 1..=[`MAX_MKI_LEN`].
    pub len: u16,
}

impl Mki {
    /// `value` truncated to `len` bytes, as rtpengine stores it.
    pub fn new(value: u32, len: u16) -> Mki {
        let value = if len < 4 {
            value & ((1u32 << (8 * u32::from(len))) - 1)
        } else {
            value
        };
        Mki { value, len }
    }

    /// The MKI field as it appears in SRTP packets.
    pub fn to_bytes(self) -> Vec<u8> {
        let mut b = vec![0u8; usize::from(self.len)];
        let v = self.value.to_be_bytes();
        let n = v.len().min(b.len());
        let start = b.len() - n;
        b[start..].copy_from_slice(&v[v.len() - n..]);
        b
    }
}

/// One `inline:` key parameter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyParam {
    /// Master key followed by master salt, as long as the suite requires.
    pub key_salt: Vec<u8>,
    pub lifetime: Option<Lifetime>,
    pub mki: Option<Mki>,
}

/// FEC order (RFC 4568 section 6.3.5).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FecOrder {
    FecSrtp,
    SrtpFec,
}

/// One session parameter (RFC 4568 section 6.3).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SessionParam {
    UnencryptedSrtp,
    UnencryptedSrtcp,
    UnauthenticatedSrtp,
    /// `KDR=n`: key derivation rate 2^n (n in 0..=24).
    Kdr(u8),
    FecOrder(FecOrder),
    /// `FEC_KEY=<key-params>`, kept as text.
    FecKey(String),
    /// `WSH=n`: SRTP window size hint.
    Wsh(u32),
    /// Anything else (a non-empty token without spaces), kept as text.
    Other(String),
}

impl SessionParam {
    fn parse(tok: &str) -> SessionParam {
        // rtpengine matches the three flags case-sensitively.
        match tok {
            "UNENCRYPTED_SRTP" => return SessionParam::UnencryptedSrtp,
            "UNENCRYPTED_SRTCP" => return SessionParam::UnencryptedSrtcp,
            "UNAUTHENTICATED_SRTP" => return SessionParam::UnauthenticatedSrtp,
            _ => {}
        }
        let other = || SessionParam::Other(tok.to_owned());
        match tok.split_once('=') {
            Some(("KDR", v)) => canonical_u32(v)
                .and_then(|n| u8::try_from(n).ok())
                .filter(|n| *n <= 24)
                .map_or_else(other, SessionParam::Kdr),
            Some(("FEC_ORDER", "FEC_SRTP")) => SessionParam::FecOrder(FecOrder::FecSrtp),
            Some(("FEC_ORDER", "SRTP_FEC")) => SessionParam::FecOrder(FecOrder::SrtpFec),
            Some(("FEC_KEY", v)) if !v.is_empty() => SessionParam::FecKey(v.to_owned()),
            Some(("WSH", v)) => canonical_u32(v).map_or_else(other, SessionParam::Wsh),
            _ => other(),
        }
    }

    fn emit(&self, out: &mut String) {
        use std::fmt::Write as _;
        let _ = match self {
            SessionParam::UnencryptedSrtp => write!(out, "UNENCRYPTED_SRTP"),
            SessionParam::UnencryptedSrtcp => write!(out, "UNENCRYPTED_SRTCP"),
            SessionParam::UnauthenticatedSrtp => write!(out, "UNAUTHENTICATED_SRTP"),
            SessionParam::Kdr(n) => write!(out, "KDR={n}"),
            SessionParam::FecOrder(FecOrder::FecSrtp) => write!(out, "FEC_ORDER=FEC_SRTP"),
            SessionParam::FecOrder(FecOrder::SrtpFec) => write!(out, "FEC_ORDER=SRTP_FEC"),
            SessionParam::FecKey(k) => write!(out, "FEC_KEY={k}"),
            SessionParam::Wsh(n) => write!(out, "WSH={n}"),
            SessionParam::Other(s) => write!(out, "{s}"),
        };
    }
}

/// A parsed `a=crypto` value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CryptoAttr {
    pub tag: u32,
    pub suite: SrtpSuite,
    /// At least one.
    pub keys: Vec<KeyParam>,
    /// In input order, empty tokens dropped.
    pub session_params: Vec<SessionParam>,
}

/// How [`CryptoAttr::emit`] writes the value.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct EmitOptions {
    /// Keep the `=` padding of the base64 key (`pad-crypto`, `SDES-pad`).
    pub pad: bool,
}

/// rtpengine's tokenizer: split at the first space; nothing left is no token
/// (so `"1 X "` has two tokens, `"1  X"` three, the second empty).
fn token(s: &str) -> Option<(&str, &str)> {
    if s.is_empty() {
        return None;
    }
    Some(s.split_once(' ').unwrap_or((s, "")))
}

/// C `strtoul` base 10 into `unsigned int`: leading whitespace, a sign, at
/// least one digit; overflow saturates, negatives wrap, then the value is
/// truncated to 32 bits.
fn strtoul_u32(s: &str) -> Option<u32> {
    let s = s.trim_start_matches([' ', '\t', '\n', '\x0b', '\x0c', '\r']);
    let (neg, rest) = match s.as_bytes().first() {
        Some(b'-') => (true, &s[1..]),
        Some(b'+') => (false, &s[1..]),
        _ => (false, s),
    };
    let digits = leading_digits(rest);
    if digits.is_empty() {
        return None;
    }
    // Out of range is ULONG_MAX whatever the sign.
    let v = match digits.parse::<u64>() {
        Ok(v) if neg => v.wrapping_neg(),
        Ok(v) => v,
        Err(_) => u64::MAX,
    };
    Some(v as u32)
}

fn leading_digits(s: &str) -> &str {
    let n = s.bytes().take_while(u8::is_ascii_digit).count();
    &s[..n]
}

/// Leading decimal digits as C's `strtoull` reads them: 0 if none, saturating.
fn strtoull(s: &str) -> u64 {
    let d = leading_digits(s);
    if d.is_empty() {
        return 0;
    }
    d.parse().unwrap_or(u64::MAX)
}

/// A plain decimal number with nothing else (for the session parameters,
/// which rtpengine does not interpret, so the RFC grammar applies).
fn canonical_u32(s: &str) -> Option<u32> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) || (s.len() > 1 && s.starts_with('0'))
    {
        return None;
    }
    s.parse().ok()
}

/// Parses the value of an `a=crypto` line (everything after `a=crypto:`).
/// `None`: fewer than three tokens, so not a crypto attribute to rtpengine.
pub fn parse(value: &str) -> Option<Result<CryptoAttr, CryptoError>> {
    let (tag, rest) = token(value)?;
    let (suite, rest) = token(rest)?;
    let (key_params, mut rest) = token(rest)?;
    let mut session_params = Vec::new();
    while let Some((tok, r)) = token(rest) {
        if !tok.is_empty() {
            session_params.push(SessionParam::parse(tok));
        }
        rest = r;
    }
    Some(
        parse_tokens(tag, suite, key_params).map(|(tag, suite, keys)| CryptoAttr {
            tag,
            suite,
            keys,
            session_params,
        }),
    )
}

fn parse_tokens(
    tag: &str,
    suite: &str,
    key_params: &str,
) -> Result<(u32, SrtpSuite, Vec<KeyParam>), CryptoError> {
    let tag = strtoul_u32(tag).ok_or_else(|| CryptoError::Tag(tag.to_owned()))?;
    let suite =
        SrtpSuite::from_name(suite).ok_or_else(|| CryptoError::UnknownSuite(suite.to_owned()))?;
    let mut keys = Vec::with_capacity(1);
    let mut rest = key_params;
    loop {
        let (key, after) = parse_key_param(suite, rest)?;
        keys.push(key);
        // RFC 4568 key-params: further key parameters follow a ";".
        match after.strip_prefix(';') {
            Some(next) if after.len() >= 2 => rest = next,
            _ => break,
        }
    }
    Ok((tag, suite, keys))
}

/// One `inline:` key parameter at the start of `s`; returns it and the text
/// after it (a `;` and the next parameter, or nothing).
fn parse_key_param(suite: SrtpSuite, s: &str) -> Result<(KeyParam, &str), CryptoError> {
    let want = suite.key_salt_len();
    let enc_len = base64::encoded_len(want);
    let b = s.as_bytes();
    if b.len() < 7 + enc_len {
        return Err(CryptoError::KeyParamsTooShort {
            suite,
            len: b.len(),
        });
    }
    if !b[..7].eq_ignore_ascii_case(b"inline:") {
        return Err(CryptoError::KeyMethod(s.to_owned()));
    }
    let key_salt = base64::decode_flushed(&b[7..7 + enc_len]);
    if key_salt.len() != want {
        return Err(CryptoError::KeyLength {
            suite,
            got: key_salt.len(),
            want,
        });
    }
    // Byte offsets up to here are ASCII digits and the key, so slicing the
    // text at them only fails for non-ASCII keys, which decode short above.
    let mut rest = s.get(7 + enc_len..).unwrap_or_default();
    let padding = ["", "", "==", "="][enc_len % 4];
    if !padding.is_empty() {
        rest = rest.strip_prefix(padding).unwrap_or(rest);
    }
    // Up to the next key parameter.
    let (params, after) = match rest.find(';') {
        Some(i) => rest.split_at(i),
        None => (rest, ""),
    };
    let (lifetime, mki) = parse_lifetime_mki(suite, params)?;
    Ok((
        KeyParam {
            key_salt,
            lifetime,
            mki,
        },
        after,
    ))
}

/// `|lifetime`, `|MKI:len` or `|lifetime|MKI:len` after the key.
fn parse_lifetime_mki(
    suite: SrtpSuite,
    s: &str,
) -> Result<(Option<Lifetime>, Option<Mki>), CryptoError> {
    // A single stray character after the key is ignored, as by rtpengine.
    if s.len() < 2 {
        return Ok((None, None));
    }
    let Some(s) = s.strip_prefix('|') else {
        return Err(CryptoError::KeySyntax(s.to_owned()));
    };
    let (lifetime, mki) = match s.split_once('|') {
        Some((l, m)) => (Some(l), Some(m)),
        None if s.contains(':') => (None, Some(s)),
        None => (Some(s), None),
    };
    let lifetime = lifetime.map(|l| parse_lifetime(suite, l)).transpose()?;
    let mki = match mki {
        Some(m) => parse_mki(m)?,
        None => None,
    };
    Ok((lifetime, mki))
}

fn parse_lifetime(_suite: SrtpSuite, l: &str) -> Result<Lifetime, CryptoError> {
    let bad = || CryptoError::Lifetime(l.to_owned());
    let lifetime = match l.strip_prefix("2^") {
        Some(exp) if l.len() >= 3 => {
            let n = strtoull(exp);
            if n == 0 || n >= 64 {
                return Err(bad());
            }
            Lifetime::PowerOfTwo(u8::try_from(n).map_err(|_| bad())?)
        }
        _ => Lifetime::Packets(strtoull(l)),
    };
    // Every suite rtpengine knows allows 2^48 SRTP packets per key.
    if lifetime.packets() == 0 || lifetime.packets() > MAX_LIFETIME {
        return Err(bad());
    }
    Ok(lifetime)
}

/// `value:len`; a length of 0 means no MKI (rtpengine then uses none).
fn parse_mki(m: &str) -> Result<Option<Mki>, CryptoError> {
    let (value, len) = m
        .split_once(':')
        .ok_or_else(|| CryptoError::Mki(m.to_owned()))?;
    let len = strtoull(len);
    if len > u64::from(MAX_MKI_LEN) {
        return Err(CryptoError::MkiTooLong(len));
    }
    let len = u16::try_from(len).map_err(|_| CryptoError::MkiTooLong(len))?;
    if len == 0 {
        return Ok(None);
    }
    // rtpengine keeps the low 32 bits of the value.
    Ok(Some(Mki::new(strtoull(value) as u32, len)))
}

impl CryptoAttr {
    /// The only key parameter, or [`CryptoError::KeyCount`] when there are
    /// several (rtpengine 10.5 drops such lines).
    pub fn single_key(&self) -> Result<&KeyParam, CryptoError> {
        match self.keys.as_slice() {
            [k] => Ok(k),
            ks => Err(CryptoError::KeyCount(ks.len())),
        }
    }

    /// The value of the `a=crypto` line (without `a=crypto:`).
    pub fn emit(&self, opts: EmitOptions) -> String {
        use std::fmt::Write as _;
        let mut out = format!("{} {} ", self.tag, self.suite.name());
        for (i, k) in self.keys.iter().enumerate() {
            if i > 0 {
                out.push(';');
            }
            out.push_str("inline:");
            out.push_str(&base64::encode(&k.key_salt, opts.pad));
            match k.lifetime {
                Some(Lifetime::PowerOfTwo(n)) => {
                    let _ = write!(out, "|2^{n}");
                }
                Some(Lifetime::Packets(p)) => {
                    let _ = write!(out, "|{p}");
                }
                None => {}
            }
            if let Some(m) = k.mki {
                let _ = write!(out, "|{}:{}", m.value, m.len);
            }
        }
        for p in &self.session_params {
            out.push(' ');
            p.emit(&mut out);
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// RFC 4568 section 9.1 example, first line.
    const RFC4568_EXAMPLE: &str = "1 AES_CM_128_HMAC_SHA1_80 \
        inline:PS1uQCVeeCFCanVmcjkpPywjNWhcYD0mXXtxaVBR|2^20|1:4";

    fn ok(v: &str) -> CryptoAttr {
        parse(v).expect("three tokens").expect("valid")
    }

    fn err(v: &str) -> CryptoError {
        parse(v).expect("three tokens").expect_err("invalid")
    }

    const K30: &str = "BxQhLjtIVWJvfImWo7C9ytfk8f4LGCUyP0xZZnOA";

    #[test]
    fn rfc4568_example() {
        let c = ok(RFC4568_EXAMPLE);
        assert_eq!(c.tag, 1);
        assert_eq!(c.suite, SrtpSuite::AesCm128HmacSha1_80);
        let k = c.single_key().unwrap();
        assert_eq!(k.key_salt.len(), 30);
        assert_eq!(k.lifetime, Some(Lifetime::PowerOfTwo(20)));
        assert_eq!(k.mki, Some(Mki { value: 1, len: 4 }));
        assert_eq!(k.mki.unwrap().to_bytes(), [0, 0, 0, 1]);
        assert_eq!(c.emit(EmitOptions::default()), RFC4568_EXAMPLE);
    }

    #[test]
    fn rtpengine_leniency() {
        // Each of these was accepted by rtpengine 10.5 (tests/corpus/74-*).
        assert_eq!(
            ok(&format!("5x AES_CM_128_HMAC_SHA1_80 inline:{K30}")).tag,
            5
        );
        assert_eq!(
            ok(&format!("+5 AES_CM_128_HMAC_SHA1_80 inline:{K30}")).tag,
            5
        );
        assert_eq!(
            ok(&format!("-1 AES_CM_128_HMAC_SHA1_80 inline:{K30}")).tag,
            u32::MAX
        );
        assert_eq!(
            ok(&format!("4294967301 AES_CM_128_HMAC_SHA1_80 inline:{K30}")).tag,
            5
        );
        assert_eq!(
            ok(&format!(
                "-18446744073709551615 AES_CM_128_HMAC_SHA1_80 inline:{K30}"
            ))
            .tag,
            1
        );
        assert_eq!(
            ok(&format!(
                "99999999999999999999 AES_CM_128_HMAC_SHA1_80 inline:{K30}"
            ))
            .tag,
            u32::MAX
        );
        let c = ok(&format!("1 aes_cm_128_hmac_sha1_80 INLINE:{K30}x"));
        assert_eq!(c.suite, SrtpSuite::AesCm128HmacSha1_80);
        assert_eq!(c.single_key().unwrap().lifetime, None);
        // MKI value truncated to its length; `|` alone ignored.
        let c = ok(&format!("1 AES_CM_128_HMAC_SHA1_80 inline:{K30}|4660:1"));
        assert_eq!(
            c.keys[0].mki,
            Some(Mki {
                value: 0x34,
                len: 1
            })
        );
        assert_eq!(
            ok(&format!("1 AES_CM_128_HMAC_SHA1_80 inline:{K30}|")).keys[0].mki,
            None
        );
        // MKI length 0 is no MKI; a lifetime of "2^" is the number 2.
        assert_eq!(
            ok(&format!("1 AES_CM_128_HMAC_SHA1_80 inline:{K30}|5:")).keys[0].mki,
            None
        );
        assert_eq!(
            ok(&format!("1 AES_CM_128_HMAC_SHA1_80 inline:{K30}|2^")).keys[0].lifetime,
            Some(Lifetime::Packets(2))
        );
        // Padding accepted and dropped on output.
        let c = ok("1 AES_192_CM_HMAC_SHA1_80 inline:BxQhLjtIVWJvfImWo7C9ytfk8f4LGCUyP0xZZnOAjZqntMHO2+g=|2^20");
        assert_eq!(c.keys[0].key_salt.len(), 38);
        // Session parameters: unknown ones kept, flags case-sensitive.
        let c = ok(&format!(
            "1 AES_CM_128_HMAC_SHA1_80 inline:{K30}  KDR=1 UNENCRYPTED_SRTP unencrypted_srtcp FEC_ORDER=FEC_SRTP WSH=64"
        ));
        assert_eq!(
            c.session_params,
            vec![
                SessionParam::Kdr(1),
                SessionParam::UnencryptedSrtp,
                SessionParam::Other("unencrypted_srtcp".into()),
                SessionParam::FecOrder(FecOrder::FecSrtp),
                SessionParam::Wsh(64),
            ]
        );
    }

    #[test]
    fn refused_like_rtpengine() {
        assert!(parse("1 AES_CM_128_HMAC_SHA1_80").is_none());
        assert!(parse("1 AES_CM_128_HMAC_SHA1_80 ").is_none());
        assert!(parse("").is_none());
        assert!(matches!(
            err(&format!("x AES_CM_128_HMAC_SHA1_80 inline:{K30}")),
            CryptoError::Tag(_)
        ));
        assert!(matches!(
            err(&format!("1  AES_CM_128_HMAC_SHA1_80 inline:{K30}")),
            CryptoError::UnknownSuite(_)
        ));
        assert!(matches!(
            err(&format!("1 FOO inline:{K30}")),
            CryptoError::UnknownSuite(_)
        ));
        assert!(matches!(
            err(&format!("1 AES_CM_128_HMAC_SHA1_80 uri:{K30}xyz")),
            CryptoError::KeyMethod(_)
        ));
        assert!(matches!(
            err(&format!("1 AES_CM_128_HMAC_SHA1_80 inline:{}", &K30[..36])),
            CryptoError::KeyParamsTooShort { .. }
        ));
        assert!(matches!(
            err(&format!("1 AES_CM_128_HMAC_SHA1_80 inline:{}!", &K30[..39])),
            CryptoError::KeyLength { .. }
        ));
        assert!(matches!(
            err(&format!("1 AES_CM_128_HMAC_SHA1_80 inline:{K30}AAAA")),
            CryptoError::KeySyntax(_)
        ));
        assert!(matches!(
            err(&format!("1 AES_CM_128_HMAC_SHA1_80 inline:{K30}|2^49")),
            CryptoError::Lifetime(_)
        ));
        assert!(matches!(
            err(&format!("1 AES_CM_128_HMAC_SHA1_80 inline:{K30}|0")),
            CryptoError::Lifetime(_)
        ));
        assert!(matches!(
            err(&format!("1 AES_CM_128_HMAC_SHA1_80 inline:{K30}||1:4")),
            CryptoError::Lifetime(_)
        ));
        assert!(matches!(
            err(&format!("1 AES_CM_128_HMAC_SHA1_80 inline:{K30}|2^20|5")),
            CryptoError::Mki(_)
        ));
        assert!(matches!(
            err(&format!("1 AES_CM_128_HMAC_SHA1_80 inline:{K30}|1:257")),
            CryptoError::MkiTooLong(257)
        ));
        // Two key parameters parse, but are not usable.
        let c = ok(&format!(
            "1 AES_CM_128_HMAC_SHA1_80 inline:{K30};inline:{K30}|2^20"
        ));
        assert_eq!(c.keys.len(), 2);
        assert_eq!(c.single_key(), Err(CryptoError::KeyCount(2)));
    }

    fn arb_session_param() -> impl Strategy<Value = SessionParam> {
        prop_oneof![
            Just(SessionParam::UnencryptedSrtp),
            Just(SessionParam::UnencryptedSrtcp),
            Just(SessionParam::UnauthenticatedSrtp),
            (0u8..=24).prop_map(SessionParam::Kdr),
            Just(SessionParam::FecOrder(FecOrder::FecSrtp)),
            Just(SessionParam::FecOrder(FecOrder::SrtpFec)),
            "[a-zA-Z0-9:|]{1,12}".prop_map(SessionParam::FecKey),
            any::<u32>().prop_map(SessionParam::Wsh),
            "X-[a-zA-Z0-9_=]{0,10}".prop_map(SessionParam::Other),
        ]
    }

    fn arb_key(suite: SrtpSuite) -> impl Strategy<Value = KeyParam> {
        (
            proptest::collection::vec(any::<u8>(), suite.key_salt_len()),
            proptest::option::of(prop_oneof![
                (1u8..=48).prop_map(Lifetime::PowerOfTwo),
                (1u64..=MAX_LIFETIME).prop_map(Lifetime::Packets),
            ]),
            proptest::option::of(
                (any::<u32>(), 1u16..=MAX_MKI_LEN).prop_map(|(v, l)| Mki::new(v, l)),
            ),
        )
            .prop_map(|(key_salt, lifetime, mki)| KeyParam {
                key_salt,
                lifetime,
                mki,
            })
    }

    pub(crate) fn arb_crypto() -> impl Strategy<Value = CryptoAttr> {
        (
            any::<u32>(),
            proptest::sample::select(SrtpSuite::ALL.to_vec()),
        )
            .prop_flat_map(|(tag, suite)| {
                (
                    proptest::collection::vec(arb_key(suite), 1..3),
                    proptest::collection::vec(arb_session_param(), 0..4),
                )
                    .prop_map(move |(keys, session_params)| CryptoAttr {
                        tag,
                        suite,
                        keys,
                        session_params,
                    })
            })
    }

    proptest! {
        #[test]
        fn parse_inverts_emit(c in arb_crypto(), pad: bool) {
            let text = c.emit(EmitOptions { pad });
            prop_assert_eq!(parse(&text), Some(Ok(c)));
        }

        #[test]
        fn parse_never_panics(s in "[ -~]{0,120}") {
            let _ = parse(&s);
        }

        #[test]
        fn parse_never_panics_near_valid(
            prefix in "[0-9x+-]{0,3}",
            tail in "[A-Za-z0-9+/=|:;^ é]{0,60}",
        ) {
            let _ = parse(&format!("{prefix} AES_CM_128_HMAC_SHA1_80 inline:{tail}"));
            let _ = parse(&format!("{prefix} AES_192_CM_HMAC_SHA1_32 inline:{K30}{tail}"));
        }
    }
}
