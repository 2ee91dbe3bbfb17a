//! The ng control protocol: codec and typed requests, without I/O.
//!
//! Kamailio's `rtpengine` module (and OpenSIPS) talk to rtpengine with datagrams of the form
//! `"<cookie> <bencoded dictionary>"` (or a JSON object), over UDP or TCP. This module turns
//! bytes into [`NgMessage`] and [`NgRequest`] and replies back into bytes; the call model
//! decides what to answer. Every accept/reject rule and error text was checked against
//! rtpengine 10.5, the behaviour rtpbolt must reproduce:
//!
//! - [`value`]: the bencode data model ([`Value`], insertion-ordered [`Dict`]);
//! - [`bencode`], [`json`]: the two body encodings;
//! - [`message`]: cookie framing, UDP and TCP, error replies;
//! - [`keys`], [`flags`]: accepted spellings of keys and flags, and `rtpp-flags`;
//! - [`request`]: the typed request; [`error`]: errors and their `error-reason` texts.
//!
//! Typical use by the I/O layer:
//! ```
//! use controlplane::ng::{self, NgRequest};
//! let datagram = b"5323_1 d7:command4:pinge";
//! match ng::parse_datagram(datagram).and_then(|m| Ok((m.cookie, m.encoding, NgRequest::from_value(&m.body)?))) {
//!     Ok((cookie, enc, req)) => {
//!         assert_eq!(req.command, ng::Command::Ping);
//!         let mut pong = ng::Dict::new();
//!         pong.insert("result", "pong");
//!         assert_eq!(ng::encode_reply(cookie, enc, &pong.into()), b"5323_1 d6:result4:ponge");
//!     }
//!     Err(e) => { let _reply = ng::error_reply_for(datagram, &e); }
//! }
//! ```

pub mod bencode;
pub mod error;
pub mod flags;
pub mod json;
pub mod keys;
pub mod message;
pub mod request;
pub mod value;

pub use error::NgError;
pub use flags::Flags;
pub use message::{
    cookie_of, encode_reply, error_reply, error_reply_for, frame_stream, parse_datagram, Encoding,
    NgMessage,
};
pub use request::{AddressFamily, CodecOps, Command, IceOption, NgRequest, Replace, RtcpMux};
pub use value::{Dict, Value};
