//! Sans-IO SRTP and SRTCP (RFC 3711, RFC 6188, RFC 7714) for rtpbolt.
//!
//! The split between [`SrtpSession`] (keys, immutable once built) and the small
//! plain-data stream states ([`RtpStreamState`], [`RtcpStreamState`]) is what lets the
//! fast path keep keys in shared memory and per-flow state wherever its flows live;
//! [`SrtpContext`] bundles both for the userspace path. Packets are protected and
//! unprotected in place in the caller's buffer, and nothing allocates per packet.
#![forbid(unsafe_code)]

mod auth;
mod cipher;
mod context;
mod error;
mod gcm;
mod index;
mod kdf;
mod replay;
mod rtcp;
mod rtp;
mod session;
mod suite;
mod trailer;

pub use context::{SrtpContext, SsrcStates, CONTEXT_SSRC_SLOTS};
pub use error::SrtpError;
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
