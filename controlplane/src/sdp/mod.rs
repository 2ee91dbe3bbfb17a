//! SDP (RFC 4566) parsing and rtpengine-compatible rewriting.
//!
//! Sans-IO: bytes in, bytes out. [`parse`] accepts what rtpengine 10.5
//! accepts and keeps every line (and its line ending) so that
//! [`SessionDescription::emit`] reproduces the input byte for byte;
//! [`rewrite`] applies a [`RewritePlan`] the way rtpengine's `sdp_replace`
//! does (rules in the `rewrite` module docs). Errors map to rtpengine's ng
//! `error-reason` through [`SdpError::reason`].
#![forbid(unsafe_code)]

mod attr;
pub(crate) mod base64;
pub mod crypto;
mod emit;
mod error;
mod model;
mod parse;
mod proto;
mod rewrite;

#[cfg(test)]
mod oracle_tests;
#[cfg(test)]
mod proptests;

pub(crate) use attr::fingerprint_valid;
pub use emit::ip_text;
pub use error::SdpError;
pub use model::{
    Attribute, Connection, Direction, Eol, Line, MediaDescription, MediaLine, Origin,
    SessionDescription, SessionLine,
};
pub use parse::parse;
pub use proto::TransportProtocol;
pub use rewrite::{rewrite, IceRewrite, MediaRewrite, RewritePlan, RtcpAttr, SdpVersionState};
