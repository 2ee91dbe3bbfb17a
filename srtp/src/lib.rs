//! Sans-IO SRTP and SRTCP (RFC 3711, RFC 6188, RFC 7714) for rtpbolt.
//!
//! The split between [`SrtpSession`] (keys, immutable once built) and the small
//! plain-data stream states ([`RtpStreamState`], [`RtcpStreamState`]) is what lets the
//! fast path keep keys in shared memory and per-flow state wherever its flows live;
//! [`SrtpContext`] bundles both for the userspace path. Packets are protected and
//! unprotected in place in the caller's buffer, and nothing allocates per packet.
//!
//! ```
//! use srtp::{MasterKey, SessionFlags, SrtpContext, SrtpSuite};
//!
//! let suite = SrtpSuite::from_name("AES_CM_128_HMAC_SHA1_80").expect("known suite");
//! // The base64-decoded `inline:` key parameter of the a=crypto line.
//! let master = MasterKey::from_inline(suite, &[7; 30])?;
//! let mut sender = SrtpContext::new(&master, SessionFlags::default())?;
//! let mut receiver = SrtpContext::new(&master, SessionFlags::default())?;
//!
//! let rtp = [0x80, 0, 0, 1, 0, 0, 0, 160, 0xca, 0xfe, 0xba, 0xbe, 1, 2, 3, 4];
//! let mut buf = [0u8; 64];
//! buf[..rtp.len()].copy_from_slice(&rtp);
//! let srtp_len = sender.protect_rtp(&mut buf, rtp.len())?;
//! assert_eq!(srtp_len, rtp.len() + suite.rtp_tag_len());
//! let rtp_len = receiver.unprotect_rtp(&mut buf[..srtp_len])?;
//! assert_eq!(buf[..rtp_len], rtp);
//! # Ok::<(), srtp::SrtpError>(())
//! ```
#![forbid(unsafe_code)]

mod auth;
mod cipher;
mod context;
mod error;
mod gcm;
mod index;
mod kdf;
mod relay;
mod replay;
mod rtcp;
mod rtp;
mod session;
mod suite;
mod trailer;

pub use context::{SrtpContext, SsrcStates, CONTEXT_SSRC_SLOTS};
pub use error::SrtpError;
pub use relay::{RelayIndices, SrtpRelay};
pub use replay::ReplayWindowSize;
pub use rtcp::RtcpStreamState;
pub use rtp::RtpStreamState;
pub use session::{MasterKey, SessionFlags, SrtpSession};
pub use suite::SrtpSuite;

#[cfg(test)]
pub(crate) mod test_support {
    /// Hex test vectors as the RFCs print them, spaces and line breaks included.
    pub(crate) fn unhex(text: &str) -> Vec<u8> {
        let digits: String = text.split_whitespace().collect();
        hex::decode(digits).expect("test vector is hex")
    }

    pub(crate) fn array<const N: usize>(text: &str) -> [u8; N] {
        unhex(text).try_into().expect("test vector length")
    }
}
