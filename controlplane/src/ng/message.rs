//! ng framing: `"<cookie> <body>"` over UDP and over TCP (`--listen-tcp-ng`).
//!
//! Rules taken from rtpengine's `control_ng.c` and checked against rtpengine 10.5:
//! - the cookie is everything before the first space (one space, not any whitespace); a
//!   datagram without a space or starting with one is dropped without reply;
//! - an empty body is answered "Invalid data (no payload)";
//! - a body starting with `d` is bencode, with `{` JSON, anything else is answered
//!   "Invalid NG data format"; the reply uses the request's encoding;
//! - bytes after the bencode dictionary are ignored, and the end of the datagram closes
//!   unterminated containers (see [`bencode::decode_datagram`]).
//!
//! Over TCP, messages are the same `"<cookie> <bencode>"` back to back with no length
//! prefix; a message ends where its bencode value ends. JSON is not framed over TCP
//! (rtpengine's stream splitter only understands bencode). rtpengine also closes a
//! connection holding more than 1024 unprocessed bytes; that policy is left to the I/O
//! layer.

use super::bencode;
use super::error::NgError;
use super::json;
use super::value::{Dict, Value};

/// Wire encoding of a message body; replies use the request's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encoding {
    /// Bencode dictionary (what Kamailio and OpenSIPS send).
    Bencode,
    /// JSON object.
    Json,
}

/// A parsed datagram.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NgMessage<'a> {
    /// Echoed verbatim in the reply; also the retransmission key.
    pub cookie: &'a [u8],
    /// How the body was encoded.
    pub encoding: Encoding,
    /// The request dictionary (always a [`Value::Dict`]).
    pub body: Value,
}

/// Splits `"<cookie> <body>"`; `None` when rtpengine would see no cookie.
fn split_cookie(buf: &[u8]) -> Option<(&[u8], &[u8])> {
    let space = buf.iter().position(|&b| b == b' ')?;
    if space == 0 {
        return None;
    }
    Some((buf.get(..space)?, buf.get(space + 1..)?))
}

/// The cookie of a datagram, if it has one (then every error gets a reply).
pub fn cookie_of(buf: &[u8]) -> Option<&[u8]> {
    split_cookie(buf).map(|(c, _)| c)
}

/// Parses one ng datagram (or one message cut by [`frame_stream`]).
pub fn parse_datagram(buf: &[u8]) -> Result<NgMessage<'_>, NgError> {
    let (cookie, body) = split_cookie(buf).ok_or(NgError::NoCookie)?;
    let (encoding, value) = match body.first() {
        None => return Err(NgError::NoPayload),
        Some(b'd') => (Encoding::Bencode, bencode::decode_datagram(body)?.0),
        Some(b'{') => (Encoding::Json, json::decode(body)?),
        Some(&first) => return Err(NgError::InvalidFormat { first }),
    };
    if value.as_dict().is_none() {
        // Unreachable for `d`/`{` bodies, kept so `body` is a dictionary by construction.
        return Err(NgError::InvalidFormat {
            first: body.first().copied().unwrap_or(0),
        });
    }
    Ok(NgMessage {
        cookie,
        encoding,
        body: value,
    })
}

/// `"<cookie> <encoded reply>"`.
pub fn encode_reply(cookie: &[u8], enc: Encoding, reply: &Value) -> Vec<u8> {
    // bencode::encode reserves exactly what the body needs.
    let mut out = Vec::with_capacity(cookie.len() + 1);
    out.extend_from_slice(cookie);
    out.push(b' ');
    match enc {
        Encoding::Bencode => bencode::encode(reply, &mut out),
        Encoding::Json => json::encode(reply, &mut out),
    }
    out
}

/// `{"result": "error", "error-reason": reason}`, in rtpengine's key order.
pub fn error_reply(reason: &str) -> Value {
    let mut d = Dict::new();
    d.insert("result", "error");
    d.insert("error-reason", reason);
    Value::Dict(d)
}

/// The complete datagram rtpengine answers `buf` with when it fails with `err`, or `None`
/// when it answers nothing (no cookie).
pub fn error_reply_for(buf: &[u8], err: &NgError) -> Option<Vec<u8>> {
    if !err.has_reply() {
        return None;
    }
    let (cookie, body) = split_cookie(buf)?;
    let enc = if body.first() == Some(&b'{') {
        Encoding::Json
    } else {
        Encoding::Bencode
    };
    Some(encode_reply(cookie, enc, &error_reply(&err.reason())))
}

/// Length of the first complete TCP ng message in `buf`, `None` if more bytes are needed.
///
/// A message is `<cookie> <bencode value>`; the returned length covers both, so
/// `parse_datagram(&buf[..n])` parses it and the next message starts at `buf[n]`.
pub fn frame_stream(buf: &[u8]) -> Result<Option<usize>, NgError> {
    let Some(space) = buf.iter().position(|&b| b == b' ') else {
        return Ok(None);
    };
    if space == 0 {
        return Err(NgError::StreamFraming { offset: 0 });
    }
    let body_start = space + 1;
    let body = buf.get(body_start..).unwrap_or_default();
    match body.first() {
        None => Ok(None),
        Some(b'd') => match bencode::decode_prefix(body) {
            Ok(Some((_, used))) => Ok(Some(body_start + used)),
            Ok(None) => Ok(None),
            Err(_) => Err(NgError::StreamFraming { offset: body_start }),
        },
        Some(_) => Err(NgError::StreamFraming { offset: body_start }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn reply(buf: &[u8]) -> Option<Vec<u8>> {
        match parse_datagram(buf) {
            Ok(_) => None,
            Err(e) => error_reply_for(buf, &e),
        }
    }

    /// Request/reply pairs recorded from rtpengine 10.5.
    #[test]
    fn error_replies_match_rtpengine() {
        let cases: [(&[u8], Option<&[u8]>); 9] = [
            (b"c1", None),
            (b"", None),
            (b" d7:command4:pinge", None),
            (b"c1\td7:command4:pinge", None),
            (
                b"c1 ",
                Some(b"c1 d6:result5:error12:error-reason25:Invalid data (no payload)e"),
            ),
            (
                b"c1 x",
                Some(b"c1 d6:result5:error12:error-reason22:Invalid NG data formate"),
            ),
            (
                b"c1  d7:command4:pinge",
                Some(b"c1 d6:result5:error12:error-reason22:Invalid NG data formate"),
            ),
            (
                b"c1 d7:command4:ping3:fooe",
                Some(b"c1 d6:result5:error12:error-reason35:Could not decode bencode dictionarye"),
            ),
            (
                br#"c1 {"command":"ping""#,
                Some(br#"c1 {"result":"error","error-reason":"Failed to parse JSON document"}"#),
            ),
        ];
        for (req, want) in cases {
            assert_eq!(
                reply(req).as_deref(),
                want,
                "{:?}",
                String::from_utf8_lossy(req)
            );
        }
        // Lenient end-of-datagram handling, also recorded from rtpengine 10.5.
        assert!(parse_datagram(b"c1 d7:command4:ping1:xl").is_ok());
        assert!(parse_datagram(b"c1 d").is_ok());
        for bad in [
            &b"c1 d1:a"[..],
            b"c1 dl",
            b"c1 d7:command4:pingi5",
            b"c1 d7:command4:pingle",
        ] {
            assert!(
                matches!(parse_datagram(bad), Err(NgError::Bencode(_))),
                "{bad:?}"
            );
        }
        assert_eq!(
            reply(br#"c1 {"command":"ping","x":1.5}"#).as_deref(),
            Some(
                &br#"c1 {"result":"error","error-reason":"Could not decode bencode dictionary"}"#[..]
            )
        );
    }

    #[test]
    fn parses_both_encodings() {
        let m = parse_datagram(b"5323_1 d7:command4:pinge").expect("valid");
        assert_eq!(m.cookie, b"5323_1");
        assert_eq!(m.encoding, Encoding::Bencode);
        let m = parse_datagram(br#"x {"command":"ping"}"#).expect("valid");
        assert_eq!(m.encoding, Encoding::Json);
        let mut pong = Dict::new();
        pong.insert("result", "pong");
        let pong = Value::Dict(pong);
        assert_eq!(
            encode_reply(b"5323_1", Encoding::Bencode, &pong),
            b"5323_1 d6:result4:ponge"
        );
        assert_eq!(
            encode_reply(b"x", Encoding::Json, &pong),
            br#"x {"result":"pong"}"#
        );
    }

    #[test]
    fn stream_framing() {
        let two = b"a d7:command4:pingeb d7:command4:pinge";
        assert_eq!(frame_stream(two), Ok(Some(19)));
        assert_eq!(frame_stream(&two[19..]), Ok(Some(19)));
        assert_eq!(frame_stream(b"a d7:comm"), Ok(None));
        assert_eq!(frame_stream(b"abc"), Ok(None));
        assert_eq!(frame_stream(b"abc "), Ok(None));
        assert!(frame_stream(b"a {}").is_err());
        assert!(frame_stream(b"a dxe").is_err());
    }

    proptest! {
        #[test]
        fn datagram_parse_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..256)) {
            if let Err(e) = parse_datagram(&bytes) {
                let _ = error_reply_for(&bytes, &e);
            }
            let _ = frame_stream(&bytes);
        }
    }
}
