//! SDES (RFC 4568) key negotiation and SRTP transport choice, as rtpengine
//! 10.5 does them.
//!
//! rtpengine terminates SRTP on both sides: each party gets keys from us in
//! the SDP we send it, and we learn its keys from the SDP it sends us. Where
//! both sides speak SDES with a common suite it hands each side the other's
//! key instead of a fresh one ("passthrough"), so that packets need no
//! re-encryption. The rules, each checked against the live daemon:
//!
//! Transport (per m= line, [`update_transport`])
//! - a party's transport is its SDP's proto; plain `RTP/AVP(F)` with a usable
//!   `a=crypto` is opportunistic SRTP (OSRTP, RFC 8643);
//! - the other side keeps the transport it was given before, unless the
//!   sender changed its own in an offer (then the sender's is copied), or in
//!   an answer from plain RTP to an OSRTP offerer without `OSRTP=accept`;
//! - `transport-protocol` then overrides it (only if the sender's is RTP),
//!   and `OSRTP=offer` turns plain RTP into OSRTP in offers.
//!
//! Keys (per m= line with a non-zero port)
//! - the sender's usable `a=crypto` lines replace what we knew of it; any
//!   turns SDES on for it for good; suites named by `SDES-no-*` are dropped,
//!   and what we had sent it is cut down to the entry with the tag and suite
//!   of its first line ([`accept`]);
//! - towards an SRTP recipient ([`generate`]) an offer lists the sender's
//!   lines first (same tags and keys), then what we offered the recipient
//!   before (same keys, tags moved above the sender's), then one line with a
//!   fresh key per remaining suite in [`SrtpSuite::ALL`] minus
//!   `SDES-no-*`, tags counting up. `SDES-off` only keeps SDES off for a
//!   recipient that has none yet. An answer carries one line: the
//!   recipient's first line, or the one matching the answerer's suite, with
//!   the answerer's key if the suites match (else a fresh one), or the line
//!   we answered before if its suite is unchanged (`SDES-static` skips the
//!   matching when that line is still offered);
//! - a non-SRTP recipient gets no lines and loses SDES.
//!
//! DTLS-SRTP is not negotiated: `a=setup`/`a=fingerprint` are never
//! generated, which is what rtpengine does with `DTLS=off`. The DTLS roles
//! rtpengine reports in `query` are tracked all the same.

use thiserror::Error;

use crate::sdp::crypto::{CryptoAttr, CryptoError, EmitOptions, Lifetime, Mki, SessionParam};
use crate::sdp::TransportProtocol;

mod negotiate;

pub use negotiate::{accept, generate, update_transport, SdesState};
pub use srtp::SrtpSuite;

/// SRTP packets one master key may protect (RFC 3711 section 9.2, RFC 7714
/// section 15): the upper bound for an `a=crypto` lifetime.
pub const MAX_LIFETIME: u64 = 1 << 48;

/// Source of key material. Production keys come from the OS ([`OsKeys`]);
/// tests substitute a deterministic source.
pub trait KeySource: Send {
    /// Fills `buf` with unpredictable bytes.
    fn fill(&mut self, buf: &mut [u8]) -> Result<(), KeyError>;
}

/// The OS random number generator (`getrandom(2)`).
#[derive(Debug, Default, Clone, Copy)]
pub struct OsKeys;

impl KeySource for OsKeys {
    fn fill(&mut self, buf: &mut [u8]) -> Result<(), KeyError> {
        getrandom::fill(buf).map_err(|e| KeyError(e.to_string()))
    }
}

/// The key source failed; no SDP can be generated without keys.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("no random bytes for SRTP keys: {0}")]
pub struct KeyError(String);

/// RFC 4568 session parameters rtpengine acts upon (section 6.3.2).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SessionFlags {
    pub unencrypted_srtp: bool,
    pub unencrypted_srtcp: bool,
    pub unauthenticated_srtp: bool,
}

/// One SDES crypto context: a tagged suite with its master key and salt.
#[derive(Clone, PartialEq, Eq)]
pub struct SdesCrypto {
    /// The `a=crypto` tag that names this line in offer and answer.
    pub tag: u32,
    pub suite: SrtpSuite,
    /// Master key followed by master salt ([`SrtpSuite::key_salt_len`] bytes).
    pub key_salt: Vec<u8>,
    pub mki: Option<Mki>,
    pub flags: SessionFlags,
    /// Key lifetime in packets as the party stated it; rtpengine does not
    /// act on it and never prints it back.
    pub lifetime: Option<u64>,
}

impl SdesCrypto {
    /// The usable crypto of an `a=crypto` line: exactly one key parameter.
    pub fn from_attr(a: &CryptoAttr) -> Result<SdesCrypto, CryptoError> {
        let k = a.single_key()?;
        let mut flags = SessionFlags::default();
        for p in &a.session_params {
            match p {
                SessionParam::UnencryptedSrtp => flags.unencrypted_srtp = true,
                SessionParam::UnencryptedSrtcp => flags.unencrypted_srtcp = true,
                SessionParam::UnauthenticatedSrtp => flags.unauthenticated_srtp = true,
                _ => {}
            }
        }
        Ok(SdesCrypto {
            tag: a.tag,
            suite: a.suite,
            key_salt: k.key_salt.clone(),
            mki: k.mki,
            flags,
            lifetime: k.lifetime.map(Lifetime::packets),
        })
    }

    /// A fresh context with a random key and no MKI.
    pub fn generate(
        tag: u32,
        suite: SrtpSuite,
        keys: &mut dyn KeySource,
    ) -> Result<SdesCrypto, KeyError> {
        let mut key_salt = vec![0u8; suite.key_salt_len()];
        keys.fill(&mut key_salt)?;
        Ok(SdesCrypto {
            tag,
            suite,
            key_salt,
            mki: None,
            flags: SessionFlags::default(),
            lifetime: None,
        })
    }

    pub fn master_key(&self) -> &[u8] {
        &self.key_salt[..self.suite.master_key_len().min(self.key_salt.len())]
    }

    pub fn master_salt(&self) -> &[u8] {
        &self.key_salt[self.suite.master_key_len().min(self.key_salt.len())..]
    }

    /// The line rtpengine prints for this context: `|2^31` when asked for a
    /// lifetime, the MKI, then the three session flags in a fixed order.
    pub fn to_attr(&self, lifetime: bool) -> CryptoAttr {
        let mut session_params = Vec::new();
        if self.flags.unencrypted_srtp {
            session_params.push(SessionParam::UnencryptedSrtp);
        }
        if self.flags.unencrypted_srtcp {
            session_params.push(SessionParam::UnencryptedSrtcp);
        }
        if self.flags.unauthenticated_srtp {
            session_params.push(SessionParam::UnauthenticatedSrtp);
        }
        CryptoAttr {
            tag: self.tag,
            suite: self.suite,
            keys: vec![crate::sdp::crypto::KeyParam {
                key_salt: self.key_salt.clone(),
                lifetime: lifetime.then_some(Lifetime::PowerOfTwo(31)),
                mki: self.mki,
            }],
            session_params,
        }
    }
}

/// Key material stays out of logs.
impl std::fmt::Debug for SdesCrypto {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SdesCrypto")
            .field("tag", &self.tag)
            .field("suite", &self.suite)
            .field("key_salt", &format_args!("<{} bytes>", self.key_salt.len()))
            .field("mki", &self.mki)
            .field("flags", &self.flags)
            .field("lifetime", &self.lifetime)
            .finish()
    }
}

/// The SRTP keys of one party's media, for the media path: a view of its
/// [`SdesState`], which records them.
///
/// Packets *from* the party are decrypted with `from_party` (the key it put
/// in its own SDP); packets *to* the party are encrypted with `to_party` (the
/// key we put in the SDP we sent it). Both are `None` when the party's
/// transport is plain RTP or SDES is not in use with it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct MediaCrypto<'a> {
    /// The party's side is SRTP (SAVP, SAVPF, UDP/TLS or OSRTP).
    pub srtp: bool,
    /// Decrypts what the party sends.
    pub from_party: Option<&'a SdesCrypto>,
    /// Encrypts what we send to the party.
    pub to_party: Option<&'a SdesCrypto>,
}

impl MediaCrypto<'_> {
    /// The keys in force for a party with `transport` and SDES state `s`.
    pub fn of(transport: Option<TransportProtocol>, s: &SdesState) -> MediaCrypto<'_> {
        let srtp = transport.is_some_and(TransportProtocol::is_srtp);
        let sdes = srtp && s.enabled;
        MediaCrypto {
            srtp,
            from_party: s.offered.first().filter(|_| sdes),
            to_party: s.sent.first().filter(|_| sdes),
        }
    }
}

/// The `SDES` list and `SDES-` flags rtpengine 10.5 knows.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SdesOptions {
    /// `off`, `no`, `disabled`, `disable`.
    pub off: bool,
    /// `no-<SUITE>` (suite name case-insensitive).
    pub no: Vec<SrtpSuite>,
    pub unencrypted_srtp: bool,
    pub unencrypted_srtcp: bool,
    pub unauthenticated_srtp: bool,
    pub encrypted_srtp: bool,
    pub encrypted_srtcp: bool,
    pub authenticated_srtp: bool,
    /// `lifetime`: print `|2^31` after every key.
    pub lifetime: bool,
    /// `pad` (or the `pad-crypto` flag): keep base64 padding.
    pub pad: bool,
    /// `static`: answers keep the line we answered before if still offered.
    pub keep: bool,
}

impl SdesOptions {
    /// Reads the items of the `SDES` list and `SDES-` flags; returns the
    /// options and the items rtpengine 10.5 logs as unknown (`only-`,
    /// `nonew`, `prefer`, `order:` and `offerer_pref:` are newer).
    pub fn parse<'a>(items: impl IntoIterator<Item = &'a str>) -> (SdesOptions, Vec<String>) {
        let mut o = SdesOptions::default();
        let mut unknown = Vec::new();
        for item in items {
            // rtpengine turns spaces into hyphens first (`no AES_...`).
            let item = crate::ng::flags::hyphenate(item);
            if let Some(suite) = item.strip_prefix("no-") {
                // Unknown suite names are accepted and match nothing.
                if let Some(s) = SrtpSuite::from_name(suite) {
                    o.no.push(s);
                }
                continue;
            }
            match item.as_str() {
                "no" | "off" | "disabled" | "disable" => o.off = true,
                "unencrypted_srtp" | "UNENCRYPTED_SRTP" => o.unencrypted_srtp = true,
                "unencrypted_srtcp" | "UNENCRYPTED_SRTCP" => o.unencrypted_srtcp = true,
                "unauthenticated_srtp" | "UNAUTHENTICATED_SRTP" => o.unauthenticated_srtp = true,
                "encrypted_srtp" | "ENCRYPTED_SRTP" => o.encrypted_srtp = true,
                "encrypted_srtcp" | "ENCRYPTED_SRTCP" => o.encrypted_srtcp = true,
                "authenticated_srtp" | "AUTHENTICATED_SRTP" => o.authenticated_srtp = true,
                "lifetime" => o.lifetime = true,
                "pad" => o.pad = true,
                "static" => o.keep = true,
                _ => unknown.push(item),
            }
        }
        (o, unknown)
    }

    /// Whether `SDES-no` names `suite`.
    pub fn excludes(&self, suite: SrtpSuite) -> bool {
        self.no.contains(&suite)
    }

    pub fn emit_options(&self) -> EmitOptions {
        EmitOptions { pad: self.pad }
    }
}

/// The `OSRTP` list rtpengine 10.5 knows.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct OsrtpOptions {
    /// `offer`: offer plain RTP recipients OSRTP.
    pub offer: bool,
    /// `accept`: answer an OSRTP offerer with SRTP even if the answerer is plain.
    pub accept: bool,
}

impl OsrtpOptions {
    /// Returns the options and the items rtpengine 10.5 logs as unknown.
    pub fn parse<'a>(items: impl IntoIterator<Item = &'a str>) -> (OsrtpOptions, Vec<String>) {
        let mut o = OsrtpOptions::default();
        let mut unknown = Vec::new();
        for item in items {
            match item {
                "offer" => o.offer = true,
                "accept" => o.accept = true,
                _ => unknown.push(item.to_owned()),
            }
        }
        (o, unknown)
    }
}

/// Which half of the exchange an SDP is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SdpKind {
    Offer,
    Answer,
}

/// Everything from one ng request that SRTP negotiation looks at.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Flags {
    pub sdes: SdesOptions,
    pub osrtp: OsrtpOptions,
    /// `transport-protocol`, if it names a protocol.
    pub transport: Option<TransportProtocol>,
    /// `DTLS=passive`.
    pub dtls_passive: bool,
}

/// An `a=setup` role (RFC 4145 section 4).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Setup {
    Active,
    Passive,
    ActPass,
    HoldConn,
}

impl Setup {
    pub fn parse(v: &str) -> Option<Setup> {
        Some(match v {
            "active" => Setup::Active,
            "passive" => Setup::Passive,
            "actpass" => Setup::ActPass,
            "holdconn" => Setup::HoldConn,
            _ => return None,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn options_like_rtpengine() {
        let (o, unknown) = SdesOptions::parse([
            "no AES_CM_128_HMAC_SHA1_80",
            "no-aes_cm_128_hmac_sha1_32",
            "no-FOO",
            "UNENCRYPTED_SRTCP",
            "lifetime",
            "static",
            "only-NULL_HMAC_SHA1_32",
            "nonew",
            "Off",
        ]);
        assert_eq!(
            o.no,
            [
                SrtpSuite::AesCm128HmacSha1_80,
                SrtpSuite::AesCm128HmacSha1_32
            ]
        );
        assert!(o.unencrypted_srtcp && o.lifetime && o.keep && !o.off);
        assert_eq!(unknown, ["only-NULL_HMAC_SHA1_32", "nonew", "Off"]);
        let (o, unknown) = OsrtpOptions::parse(["offer", "accept-RFC"]);
        assert!(o.offer && !o.accept);
        assert_eq!(unknown, ["accept-RFC"]);
    }

    #[test]
    fn crypto_attr_round_trip() {
        let a = crate::sdp::crypto::parse(
            "7 AES_CM_128_HMAC_SHA1_32 inline:BxQhLjtIVWJvfImWo7C9ytfk8f4LGCUyP0xZZnOA|2^20|3:2 UNAUTHENTICATED_SRTP KDR=2",
        )
        .unwrap()
        .unwrap();
        let c = SdesCrypto::from_attr(&a).unwrap();
        assert_eq!(c.master_key().len(), 16);
        assert_eq!(c.master_salt().len(), 14);
        assert_eq!(c.lifetime, Some(1 << 20));
        assert!(c.flags.unauthenticated_srtp);
        assert_eq!(
            c.to_attr(true).emit(EmitOptions::default()),
            "7 AES_CM_128_HMAC_SHA1_32 inline:BxQhLjtIVWJvfImWo7C9ytfk8f4LGCUyP0xZZnOA|2^31|3:2 UNAUTHENTICATED_SRTP"
        );
        assert!(!format!("{c:?}").contains("BxQh"));
    }
}
