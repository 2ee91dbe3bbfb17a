//! The one error type of the crate.
//!
//! Each way a packet can be refused is its own variant so that callers can count
//! them apart (a relay reports replays and authentication failures separately, and
//! a flood of `TooShort` points at a different peer bug than `BadHeader`).

/// Why a key could not be used or a packet could not be protected or unprotected.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SrtpError {
    /// The packet is shorter than its header, trailer and tag need.
    #[error("packet too short: {len} bytes, at least {min} needed")]
    TooShort { len: usize, min: usize },
    /// The RTP/RTCP header is malformed (wrong version, CSRCs or extension run past the end).
    #[error("malformed header: {0}")]
    BadHeader(&'static str),
    /// The authentication tag (or the AEAD tag) does not match.
    #[error("authentication failed")]
    AuthFailed,
    /// The packet index was seen before, or is older than the replay window.
    #[error("replayed packet{}", if *too_old { " (older than the replay window)" } else { "" })]
    Replay { too_old: bool },
    /// The MKI in the packet names another master key than this session's.
    #[error("MKI of the packet does not match the session's master key")]
    MkiMismatch,
    /// The buffer has no room for what protection appends, or `len` exceeds it.
    #[error("buffer too small: {need} bytes needed, {capacity} available")]
    BufferTooSmall { need: usize, capacity: usize },
    /// Key and salt material of the wrong length for the suite.
    #[error("{suite} needs {expected} bytes of master key and salt, got {got}")]
    KeyLength {
        suite: &'static str,
        expected: usize,
        got: usize,
    },
    /// An MKI whose length is not 1..=4 bytes, or whose value does not fit that length.
    #[error("invalid MKI: value {value} in {len} bytes")]
    InvalidMki { value: u32, len: u8 },
    /// A key derivation rate beyond 2^24 (RFC 4568 §6.3 caps the exponent at 24).
    #[error("invalid key derivation rate 2^{0}, the exponent must be 0..=24")]
    InvalidKdr(u8),
    /// A combination the suite cannot express (AEAD suites always encrypt and authenticate SRTP).
    #[error("unsupported: {0}")]
    Unsupported(&'static str),
    /// The packet index ran out (2^48 SRTP or 2^31 SRTCP packets): the master key must change.
    #[error("packet index exhausted, the master key must be replaced")]
    KeyExhausted,
}
