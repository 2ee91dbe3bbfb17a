//! Errors of the ng layer and the `error-reason` text rtpengine sends for each.
//!
//! [`NgError::reason`] is the single mapping to the wire text; the strings are rtpengine's
//! byte for byte because clients (Kamailio logs, monitoring) match on them.

use super::bencode::BencodeError;
use super::json::JsonError;

/// An ng request that cannot be served.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NgError {
    /// No space separates a cookie from the body (or the datagram starts with a space).
    /// rtpengine logs and sends nothing back.
    #[error("datagram has no cookie")]
    NoCookie,
    /// Nothing after `"<cookie> "`.
    #[error("datagram has no payload")]
    NoPayload,
    /// The body starts with neither `d` nor `{`.
    #[error("body starts with {first:#04x}, neither bencode dictionary nor JSON object")]
    InvalidFormat { first: u8 },
    /// The bencode body is malformed.
    #[error("bad bencode body: {0}")]
    Bencode(#[from] BencodeError),
    /// The JSON body is malformed or holds values bencode cannot carry.
    #[error("bad JSON body: {0}")]
    Json(#[from] JsonError),
    /// The request is not a dictionary with a string `command`.
    #[error("request has no string \"command\"")]
    NoCommand,
    /// `command` names no command rtpengine knows.
    #[error("unrecognized command {0:?}")]
    UnrecognizedCommand(String),
    /// The command needs `call-id`.
    #[error("request has no call-id")]
    MissingCallId,
    /// The command needs `from-tag`.
    #[error("request has no from-tag")]
    MissingFromTag,
    /// The command needs `to-tag`.
    #[error("request has no to-tag")]
    MissingToTag,
    /// offer/answer without an `sdp` string.
    #[error("request has no SDP body")]
    MissingSdp,
    /// `list` with a negative `limit`.
    #[error("list limit {0} is negative")]
    NegativeLimit(i64),
    /// A TCP stream holds bytes that can never become a message.
    #[error("TCP stream is not ng framing at offset {offset}")]
    StreamFraming { offset: usize },
}

impl NgError {
    /// The text for the reply's `error-reason`, as rtpengine words it.
    pub fn reason(&self) -> String {
        match self {
            NgError::NoCookie => "Received invalid data on NG port (no cookie)",
            NgError::NoPayload => "Invalid data (no payload)",
            NgError::InvalidFormat { .. } | NgError::StreamFraming { .. } => {
                "Invalid NG data format"
            }
            NgError::Bencode(_) | NgError::Json(JsonError::Unsupported { .. }) => {
                "Could not decode bencode dictionary"
            }
            NgError::Json(JsonError::Syntax { .. }) => "Failed to parse JSON document",
            NgError::NoCommand => "Dictionary contains no key \"command\"",
            NgError::UnrecognizedCommand(_) => "Unrecognized command",
            NgError::MissingCallId => "No call-id in message",
            NgError::MissingFromTag => "No from-tag in message",
            NgError::MissingToTag => "No to-tag in message",
            NgError::MissingSdp => "No SDP body in message",
            NgError::NegativeLimit(_) => "invalid limit, must be >= 0",
        }
        .to_owned()
    }

    /// False when rtpengine stays silent instead of answering with an error dictionary.
    pub fn has_reply(&self) -> bool {
        !matches!(self, NgError::NoCookie)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reasons_are_rtpengines() {
        assert_eq!(
            NgError::NoCommand.reason(),
            "Dictionary contains no key \"command\""
        );
        assert_eq!(
            NgError::Bencode(BencodeError::Truncated { offset: 0 }).reason(),
            "Could not decode bencode dictionary"
        );
        assert_eq!(
            NgError::Json(JsonError::Syntax {
                offset: 0,
                what: "x"
            })
            .reason(),
            "Failed to parse JSON document"
        );
        assert!(!NgError::NoCookie.has_reply());
        assert!(NgError::NoPayload.has_reply());
    }
}
