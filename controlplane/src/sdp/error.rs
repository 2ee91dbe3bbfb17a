//! Errors from parsing SDP and from checking that an SDP can be relayed.
//!
//! rtpengine collapses every failure into one of three ng `error-reason`
//! strings; [`SdpError::reason`] maps our detailed variants onto them so the
//! ng layer can reply byte-identically while logs keep the detail.

use thiserror::Error;

/// Why an SDP body was refused. `line` numbers are 1-based.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum SdpError {
    /// The body was empty (rtpengine answers such offers without an `sdp` key).
    #[error("empty SDP body")]
    Empty,
    /// A line is not valid UTF-8; we keep text as `String`, rtpengine keeps bytes.
    #[error("line {line}: not valid UTF-8")]
    NotUtf8 { line: usize },
    /// A line does not have `=` as its second byte.
    #[error("line {line}: missing '=' sign")]
    MissingEquals { line: usize },
    /// The first line is not `v=`.
    #[error("line {line}: SDP doesn't start with a session definition (v=)")]
    NoVersion { line: usize },
    /// `v=` is not exactly `v=0`.
    #[error("line {line}: error in v= line (only v=0 is supported)")]
    BadVersion { line: usize },
    /// A second `v=` would start a second session; rtpengine handles several, we don't.
    #[error("line {line}: second v= line (multiple sessions in one body)")]
    MultipleSessions { line: usize },
    /// `o=` is malformed, repeated, or appears inside a media section.
    #[error("line {line}: error parsing o= line: {what}")]
    BadOrigin { line: usize, what: &'static str },
    /// No `o=` line at all (rtpengine tolerates this; the contract needs an origin).
    #[error("no o= line")]
    MissingOrigin,
    /// `s=` inside a media section.
    #[error("line {line}: s= line found within media section")]
    SessionNameInMedia { line: usize },
    /// `m=` is malformed.
    #[error("line {line}: error parsing m= line: {what}")]
    BadMedia { line: usize, what: &'static str },
    /// `c=` is malformed or repeated at the same level.
    #[error("line {line}: error parsing c= line: {what}")]
    BadConnection { line: usize, what: &'static str },
    /// A line type rtpengine does not know (`x=`, ...).
    #[error("line {line}: unknown SDP line type '{kind}'")]
    UnknownLineType { line: usize, kind: char },
    /// Media `index` (0-based) has no `c=` at media or session level.
    #[error("media {index}: no address info (no c= line) for stream")]
    NoAddress { index: usize },
    /// Media `index` is RTP but lists a format that is not a payload type 0..=127.
    #[error("media {index}: invalid RTP payload type {format:?}")]
    InvalidPayloadType { index: usize, format: String },
    /// The body has no `m=` line; rtpengine only fails when rewriting it.
    #[error("SDP has no media sections")]
    NoMedia,
}

impl SdpError {
    /// The ng `error-reason` rtpengine 10.5 sends for this failure.
    pub fn reason(&self) -> &'static str {
        match self {
            SdpError::NoAddress { .. } | SdpError::InvalidPayloadType { .. } => {
                "Incomplete SDP specification"
            }
            SdpError::NoMedia => "Error rewriting SDP",
            _ => "Failed to parse SDP",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reasons_match_rtpengine() {
        assert_eq!(
            SdpError::MissingEquals { line: 1 }.reason(),
            "Failed to parse SDP"
        );
        assert_eq!(
            SdpError::NoAddress { index: 0 }.reason(),
            "Incomplete SDP specification"
        );
        assert_eq!(SdpError::NoMedia.reason(), "Error rewriting SDP");
    }
}
