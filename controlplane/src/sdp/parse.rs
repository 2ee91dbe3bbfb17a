//! SDP parser with rtpengine 10.5's acceptance rules.
//!
//! Mirrors `sdp_parse()` in rtpengine: lines are split at `\n` with an
//! optional preceding `\r`; the body must start with `v=0`; only the line
//! types rtpengine knows are accepted; `c=` must hold a literal IP of the
//! named family (no hostnames, no multicast `/ttl`); `m=` ports are at most
//! 65535 with an optional `/count` of 1..=10. A blank line ends the body and
//! rtpengine drops it and everything after it; a single byte left after the
//! last newline is not parsed but copied to the output, so we keep it in
//! [`SessionDescription::trailer`].
//!
//! Deliberate divergences (all rare and logged as errors, never panics):
//! a second `v=` (multi-session bodies), a missing `o=`, non-UTF-8 text, and
//! `m=` ports with trailing garbage (`2000abc`, which `strtol` accepts).

use super::error::SdpError;
use super::model::{
    parse_ip, Attribute, Connection, Eol, Line, MediaDescription, MediaLine, Origin,
    SessionDescription, SessionLine,
};

/// Parses an SDP body.
pub fn parse(buf: &[u8]) -> Result<SessionDescription, SdpError> {
    if buf.is_empty() {
        return Err(SdpError::Empty);
    }
    let mut origin: Option<Origin> = None;
    let mut connection: Option<Connection> = None;
    let mut lines: Vec<SessionLine> = Vec::new();
    let mut media: Vec<MediaDescription> = Vec::new();
    let mut trailer = String::new();
    let mut pos = 0usize;
    let mut line = 0usize;

    // rtpengine loops while at least two bytes remain (`b < end - 1`).
    while pos + 1 < buf.len() {
        line += 1;
        let kind = buf[pos];
        if kind == b'\r' || kind == b'\n' {
            // Blank line: rtpengine truncates the body here.
            return finish(origin, connection, lines, media, trailer);
        }
        if buf[pos + 1] != b'=' {
            return Err(SdpError::MissingEquals { line });
        }
        let value_start = pos + 2;
        let (value_end, eol, next) = match buf[value_start.min(buf.len())..]
            .iter()
            .position(|&b| b == b'\n')
        {
            None => (buf.len(), Eol::None, buf.len()),
            Some(off) => {
                let nl = value_start + off;
                if nl > value_start && buf[nl - 1] == b'\r' {
                    (nl - 1, Eol::CrLf, nl + 1)
                } else {
                    (nl, Eol::Lf, nl + 1)
                }
            }
        };
        let value = std::str::from_utf8(buf.get(value_start..value_end).unwrap_or_default())
            .map_err(|_| SdpError::NotUtf8 { line })?
            .to_owned();
        let kind = char::from(kind);

        if lines.is_empty() && kind != 'v' {
            return Err(SdpError::NoVersion { line });
        }
        let in_media = !media.is_empty();
        match kind {
            'v' => {
                if !lines.is_empty() {
                    return Err(SdpError::MultipleSessions { line });
                }
                if value != "0" {
                    return Err(SdpError::BadVersion { line });
                }
                lines.push(SessionLine::Version(eol));
            }
            'o' => {
                if in_media {
                    return Err(SdpError::BadOrigin {
                        line,
                        what: "o= line found within media section",
                    });
                }
                if origin.is_some() {
                    return Err(SdpError::BadOrigin {
                        line,
                        what: "duplicate o= line",
                    });
                }
                origin = Some(parse_origin(&value).ok_or(SdpError::BadOrigin {
                    line,
                    what: "expected 6 space-separated fields",
                })?);
                lines.push(SessionLine::Origin(eol));
            }
            'c' => {
                let c = parse_connection(&value)
                    .map_err(|what| SdpError::BadConnection { line, what })?;
                let slot = match media.last_mut() {
                    Some(m) => &mut m.connection,
                    None => &mut connection,
                };
                if slot.is_some() {
                    return Err(SdpError::BadConnection {
                        line,
                        what: "duplicate c= line",
                    });
                }
                *slot = Some(c);
                match media.last_mut() {
                    Some(m) => m.lines.push(MediaLine::Connection(eol)),
                    None => lines.push(SessionLine::Connection(eol)),
                }
            }
            'm' => {
                let m =
                    parse_media(&value, eol).map_err(|what| SdpError::BadMedia { line, what })?;
                media.push(m);
            }
            'a' => {
                let a = parse_attribute(value, eol);
                match media.last_mut() {
                    Some(m) => m.lines.push(MediaLine::Attribute(a)),
                    None => lines.push(SessionLine::Attribute(a)),
                }
            }
            's' if in_media => return Err(SdpError::SessionNameInMedia { line }),
            's' | 'i' | 'u' | 'e' | 'p' | 't' | 'r' | 'z' | 'b' | 'k' => {
                let l = Line { kind, value, eol };
                match media.last_mut() {
                    Some(m) => m.lines.push(MediaLine::Other(l)),
                    None => lines.push(SessionLine::Other(l)),
                }
            }
            _ => return Err(SdpError::UnknownLineType { line, kind }),
        }
        pos = next;
    }
    if pos < buf.len() {
        // One byte after the last newline: never parsed, copied verbatim.
        trailer = std::str::from_utf8(&buf[pos..])
            .map_err(|_| SdpError::NotUtf8 { line: line + 1 })?
            .to_owned();
    }
    finish(origin, connection, lines, media, trailer)
}

fn finish(
    origin: Option<Origin>,
    connection: Option<Connection>,
    lines: Vec<SessionLine>,
    media: Vec<MediaDescription>,
    trailer: String,
) -> Result<SessionDescription, SdpError> {
    if lines.is_empty() {
        return Err(SdpError::NoVersion { line: 1 });
    }
    let origin = origin.ok_or(SdpError::MissingOrigin)?;
    Ok(SessionDescription {
        origin,
        connection,
        lines,
        media,
        trailer,
    })
}

/// `str_token_sep` fails on an empty remainder, so the sixth field must be
/// non-empty; the address keeps any further text so the line round-trips.
fn parse_origin(v: &str) -> Option<Origin> {
    let p: Vec<&str> = v.splitn(6, ' ').collect();
    let [username, session_id, session_version, net_type, addr_type, address] = p[..] else {
        return None;
    };
    if address.is_empty() {
        return None;
    }
    Some(Origin {
        username: username.into(),
        session_id: session_id.into(),
        session_version: session_version.into(),
        net_type: net_type.into(),
        addr_type: addr_type.into(),
        address: address.into(),
    })
}

pub(crate) fn parse_connection(v: &str) -> Result<Connection, &'static str> {
    let p: Vec<&str> = v.splitn(3, ' ').collect();
    let [net_type, addr_type, address] = p[..] else {
        return Err("expected <nettype> <addrtype> <address>");
    };
    if net_type != "IN" && net_type != "in" {
        return Err("network type is not IN");
    }
    if parse_ip(addr_type, address).is_none() {
        return Err("address is not a literal IP4/IP6 address of the given type");
    }
    Ok(Connection {
        net_type: net_type.into(),
        addr_type: addr_type.into(),
        address: address.into(),
    })
}

fn parse_media(v: &str, eol: Eol) -> Result<MediaDescription, &'static str> {
    let mut it = v.splitn(4, ' ');
    let media = it
        .next()
        .filter(|s| !s.is_empty())
        .ok_or("missing media type")?;
    let port_tok = it.next().filter(|s| !s.is_empty()).ok_or("missing port")?;
    let proto = it
        .next()
        .filter(|s| !s.is_empty())
        .ok_or("missing transport protocol")?;
    let formats: Vec<String> = match it.next() {
        Some(rest) => rest.split(' ').map(str::to_owned).collect(),
        None => Vec::new(),
    };
    let (port_s, count_s) = match port_tok.split_once('/') {
        Some((p, c)) => (p, Some(c)),
        None => (port_tok, None),
    };
    let port = digits_u16(port_s).ok_or("port is not a number 0..=65535")?;
    let port_count = match count_s {
        None => None,
        Some(c) => Some(
            digits_u16(c)
                .filter(|n| (1..=10).contains(n))
                .ok_or("port count must be 1..=10")?,
        ),
    };
    Ok(MediaDescription {
        media: media.into(),
        port,
        port_count,
        proto: proto.into(),
        formats,
        m_eol: eol,
        connection: None,
        lines: Vec::new(),
    })
}

fn digits_u16(s: &str) -> Option<u16> {
    if s.is_empty() || s.len() > 5 || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

fn parse_attribute(value: String, eol: Eol) -> Attribute {
    match value.split_once(':') {
        Some((n, v)) => Attribute {
            name: n.into(),
            value: Some(v.into()),
            eol,
        },
        None => Attribute {
            name: value,
            value: None,
            eol,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const POLYCOM: &str = "v=0\r\no=- 1545997027 1 IN IP4 192.0.2.10\r\ns=Polycom IP Phone\r\n\
c=IN IP4 192.0.2.10\r\nt=0 0\r\na=sendrecv\r\nm=audio 2222 RTP/AVP 9 0 8 18 101\r\n\
a=rtpmap:9 G722/8000\r\na=rtpmap:0 PCMU/8000\r\na=rtpmap:8 PCMA/8000\r\na=rtpmap:18 G729/8000\r\n\
a=fmtp:18 annexb=no\r\na=rtpmap:101 telephone-event/8000\r\n";

    #[test]
    fn parses_polycom_offer() {
        let s = parse(POLYCOM.as_bytes()).unwrap();
        assert_eq!(s.origin.session_id, "1545997027");
        assert_eq!(
            s.connection.as_ref().unwrap().ip(),
            Some("192.0.2.10".parse().unwrap())
        );
        assert_eq!(s.media.len(), 1);
        assert_eq!(s.media[0].formats, ["9", "0", "8", "18", "101"]);
        assert_eq!(s.direction(), Some(super::super::Direction::SendRecv));
        assert_eq!(
            s.media_endpoint(0),
            Some("192.0.2.10:2222".parse().unwrap())
        );
        assert_eq!(s.emit(), POLYCOM.as_bytes());
    }

    #[test]
    fn keeps_mixed_line_endings_and_trailer() {
        let raw = "v=0\no=- 1 2 IN IP4 1.2.3.4\r\ns=-\nc=IN IP4 1.2.3.4\nt=0 0\nm=audio 2000 RTP/AVP 0\na=foo\r\nx";
        let s = parse(raw.as_bytes()).unwrap();
        assert_eq!(s.trailer, "x");
        assert_eq!(s.emit(), raw.as_bytes());
        let raw =
            "v=0\no=- 1 2 IN IP4 1.2.3.4\ns=-\nt=0 0\nm=audio 2000 RTP/AVP 0\nc=IN IP6 ::1\na=foo";
        assert_eq!(parse(raw.as_bytes()).unwrap().emit(), raw.as_bytes());
    }

    #[test]
    fn blank_line_ends_body() {
        let s =
            parse(b"v=0\r\no=- 1 2 IN IP4 1.2.3.4\r\ns=-\r\nt=0 0\r\n\r\nm=audio 1 RTP/AVP 0\r\n")
                .unwrap();
        assert!(s.media.is_empty());
        assert_eq!(
            s.emit(),
            b"v=0\r\no=- 1 2 IN IP4 1.2.3.4\r\ns=-\r\nt=0 0\r\n"
        );
    }

    #[test]
    fn rejects_what_rtpengine_rejects() {
        type Check = fn(&SdpError) -> bool;
        let bad: &[(&str, Check)] = &[
            ("garbage", |e| {
                matches!(e, SdpError::MissingEquals { line: 1 })
            }),
            ("o=- 1 2 IN IP4 1.2.3.4\nv=0\n", |e| {
                matches!(e, SdpError::NoVersion { .. })
            }),
            ("v=1\n", |e| matches!(e, SdpError::BadVersion { .. })),
            (
                "v=0\no=- 1 2 IN IP4 1.2.3.4\nm=audio 70000 RTP/AVP 0\n",
                |e| matches!(e, SdpError::BadMedia { line: 3, .. }),
            ),
            (
                "v=0\no=- 1 2 IN IP4 1.2.3.4\nm=audio 2000/11 RTP/AVP 0\n",
                |e| matches!(e, SdpError::BadMedia { .. }),
            ),
            ("v=0\no=- 1 2 IN IP4 1.2.3.4\nm=audio 2000\n", |e| {
                matches!(e, SdpError::BadMedia { .. })
            }),
            ("v=0\no=- 1 2 IN IP4 1.2.3.4\nx=foo\n", |e| {
                matches!(e, SdpError::UnknownLineType { kind: 'x', .. })
            }),
            ("v=0\no=- 1 2 IN IP4 1.2.3.4\nc=IN IP4 999.1.1.1\n", |e| {
                matches!(e, SdpError::BadConnection { .. })
            }),
            (
                "v=0\no=- 1 2 IN IP4 1.2.3.4\nc=IN IP4 224.2.1.1/127\n",
                |e| matches!(e, SdpError::BadConnection { .. }),
            ),
            (
                "v=0\no=- 1 2 IN IP4 1.2.3.4\nc=IN IP4 host.example.com\n",
                |e| matches!(e, SdpError::BadConnection { .. }),
            ),
            ("v=0\no=- 1 2 IN IP4 1.2.3.4\nc=IN IP6 1.2.3.4\n", |e| {
                matches!(e, SdpError::BadConnection { .. })
            }),
            ("v=0\no=- 1 2 IN IP4\n", |e| {
                matches!(e, SdpError::BadOrigin { .. })
            }),
            (
                "v=0\no=- 1 2 IN IP4 1.2.3.4\nm=audio 1 RTP/AVP 0\no=- 1 2 IN IP4 1.2.3.4\n",
                |e| matches!(e, SdpError::BadOrigin { .. }),
            ),
            (
                "v=0\no=- 1 2 IN IP4 1.2.3.4\nm=audio 1 RTP/AVP 0\ns=x\n",
                |e| matches!(e, SdpError::SessionNameInMedia { .. }),
            ),
            ("", |e| matches!(e, SdpError::Empty)),
        ];
        for (sdp, check) in bad {
            let e = parse(sdp.as_bytes()).unwrap_err();
            assert!(check(&e), "{sdp:?} gave {e:?}");
            if !matches!(e, SdpError::Empty) {
                assert_eq!(e.reason(), "Failed to parse SDP");
            }
        }
    }

    #[test]
    fn accepts_what_rtpengine_accepts() {
        // Unparsable origin address, empty format list, port 0, port count.
        let s = parse(
            b"v=0\no=- 1 2 IN IP4 not-an-ip\ns=-\nt=0 0\nm=audio 0/2 RTP/AVP\nc=in IP4 0.0.0.0\n",
        )
        .unwrap();
        assert_eq!(s.origin.ip(), None);
        assert_eq!(s.media[0].port_count, Some(2));
        assert!(s.media[0].formats.is_empty());
        assert_eq!(s.media_endpoint(0), None);
        assert!(s.media_on_hold(0));
    }

    #[test]
    fn validate_classes() {
        let s =
            parse(b"v=0\no=- 1 2 IN IP4 1.2.3.4\ns=-\nt=0 0\nm=audio 2000 RTP/AVP 0\n").unwrap();
        assert_eq!(
            s.validate().unwrap_err().reason(),
            "Incomplete SDP specification"
        );
        let s = parse(b"v=0\no=- 1 2 IN IP4 1.2.3.4\nc=IN IP4 1.2.3.4\nm=audio 2000 RTP/AVP 128\n")
            .unwrap();
        assert_eq!(
            s.validate().unwrap_err().reason(),
            "Incomplete SDP specification"
        );
        let s = parse(b"v=0\no=- 1 2 IN IP4 1.2.3.4\nc=IN IP4 1.2.3.4\n").unwrap();
        assert_eq!(s.validate().unwrap_err().reason(), "Error rewriting SDP");
        let s = parse(b"v=0\no=- 1 2 IN IP4 1.2.3.4\nc=IN IP4 1.2.3.4\nm=image 2000 udptl t38\n")
            .unwrap();
        assert!(s.validate().is_ok());
    }
}
