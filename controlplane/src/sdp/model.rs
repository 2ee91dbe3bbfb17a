//! The SDP data model: typed where rtpengine interprets a line, raw text
//! everywhere else, so that `emit(parse(x)) == x` byte for byte.
//!
//! rtpengine rewrites SDP by copying the input and splicing in new tokens, so
//! untouched lines keep their original line ending (`\r\n`, bare `\n`, or none
//! on the last line) while inserted lines always end in `\r\n`. Every line
//! therefore records its [`Eol`].
//!
//! Invariants (kept by [`crate::sdp::parse`], assumed by `emit`):
//! - `SessionDescription::lines` starts with [`SessionLine::Version`], holds
//!   exactly one [`SessionLine::Origin`], and holds [`SessionLine::Connection`]
//!   exactly when `connection` is `Some` (likewise for media).
//! - Raw text never contains `\n`; `Line::kind` is an ASCII letter.

use std::net::{IpAddr, SocketAddr};

/// How a line ended in the input.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Eol {
    #[default]
    CrLf,
    Lf,
    /// Last line of a body without a final newline.
    None,
}

impl Eol {
    pub fn as_str(self) -> &'static str {
        match self {
            Eol::CrLf => "\r\n",
            Eol::Lf => "\n",
            Eol::None => "",
        }
    }
}

/// A line kept verbatim: `<kind>=<value><eol>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Line {
    pub kind: char,
    pub value: String,
    pub eol: Eol,
}

/// `a=<name>[:<value>]`, split at the first `:` like rtpengine does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attribute {
    pub name: String,
    pub value: Option<String>,
    pub eol: Eol,
}

impl Attribute {
    /// Everything after `a=`.
    pub fn line_value(&self) -> String {
        match &self.value {
            Some(v) => format!("{}:{}", self.name, v),
            None => self.name.clone(),
        }
    }
}

/// A session-level line; `Version`/`Origin`/`Connection` mark where the typed
/// fields of [`SessionDescription`] are printed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SessionLine {
    Version(Eol),
    Origin(Eol),
    Connection(Eol),
    Attribute(Attribute),
    Other(Line),
}

/// A line inside a media section (after its `m=` line).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MediaLine {
    Connection(Eol),
    Attribute(Attribute),
    Other(Line),
}

/// `o=<username> <sess-id> <sess-version> <nettype> <addrtype> <address>`.
///
/// `address` is everything after the fifth space; rtpengine tolerates an
/// unparsable origin address, so it stays text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Origin {
    pub username: String,
    pub session_id: String,
    pub session_version: String,
    pub net_type: String,
    pub addr_type: String,
    pub address: String,
}

impl Origin {
    pub fn ip(&self) -> Option<IpAddr> {
        parse_ip(&self.addr_type, &self.address)
    }
}

/// `c=<nettype> <addrtype> <address>`. rtpengine rejects hostnames and
/// multicast `/ttl` suffixes, so after `parse` the address is always an IP.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Connection {
    pub net_type: String,
    pub addr_type: String,
    pub address: String,
}

impl Connection {
    pub fn ip(&self) -> Option<IpAddr> {
        parse_ip(&self.addr_type, &self.address)
    }
}

/// Parses `address` as the family named by an SDP address type (`IP4`/`IP6`).
pub(crate) fn parse_ip(addr_type: &str, address: &str) -> Option<IpAddr> {
    match addr_type {
        "IP4" => address.parse::<std::net::Ipv4Addr>().ok().map(IpAddr::V4),
        "IP6" => address.parse::<std::net::Ipv6Addr>().ok().map(IpAddr::V6),
        _ => None,
    }
}

/// Media direction attribute (RFC 4566 section 6).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    SendRecv,
    SendOnly,
    RecvOnly,
    Inactive,
}

impl Direction {
    pub fn as_str(self) -> &'static str {
        match self {
            Direction::SendRecv => "sendrecv",
            Direction::SendOnly => "sendonly",
            Direction::RecvOnly => "recvonly",
            Direction::Inactive => "inactive",
        }
    }

    pub fn from_attr(name: &str) -> Option<Self> {
        match name {
            "sendrecv" => Some(Direction::SendRecv),
            "sendonly" => Some(Direction::SendOnly),
            "recvonly" => Some(Direction::RecvOnly),
            "inactive" => Some(Direction::Inactive),
            _ => None,
        }
    }

    fn from_bits(send: bool, recv: bool) -> Self {
        match (send, recv) {
            (true, true) => Direction::SendRecv,
            (true, false) => Direction::SendOnly,
            (false, true) => Direction::RecvOnly,
            (false, false) => Direction::Inactive,
        }
    }
}

/// One `m=` section.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MediaDescription {
    pub media: String,
    pub port: u16,
    pub port_count: Option<u16>,
    pub proto: String,
    /// Format tokens; empty when the `m=` line ends right after the proto.
    pub formats: Vec<String>,
    pub m_eol: Eol,
    pub connection: Option<Connection>,
    /// Lines after `m=` in input order, `c=` as a placeholder.
    pub lines: Vec<MediaLine>,
}

impl MediaDescription {
    /// Attributes of this section in order.
    pub fn attributes(&self) -> impl Iterator<Item = &Attribute> {
        self.lines.iter().filter_map(|l| match l {
            MediaLine::Attribute(a) => Some(a),
            _ => None,
        })
    }

    /// First attribute called `name`.
    pub fn attribute(&self, name: &str) -> Option<&Attribute> {
        self.attributes().find(|a| a.name == name)
    }

    /// The first media-level direction attribute, `None` if there is none.
    pub fn direction(&self) -> Option<Direction> {
        self.attributes()
            .find_map(|a| Direction::from_attr(&a.name))
    }

    /// `a=rtcp:PORT [IN IP4 addr]`; `None` if absent or not parsable.
    pub fn rtcp(&self) -> Option<(u16, Option<IpAddr>)> {
        let v = self.attribute("rtcp")?.value.as_deref()?;
        let mut it = v.splitn(2, ' ');
        let port: u16 = it.next()?.parse().ok().filter(|p| *p != 0)?;
        let addr = it.next().and_then(|rest| {
            let mut t = rest.split(' ');
            let (_nt, at, a) = (t.next()?, t.next()?, t.next()?);
            parse_ip(at, a)
        });
        Some((port, addr))
    }

    pub fn rtcp_mux(&self) -> bool {
        self.attribute("rtcp-mux").is_some()
    }

    /// Whether this section carries ICE credentials (rtpengine keys ICE on `a=ice-ufrag`).
    pub fn has_ice(&self) -> bool {
        self.attribute("ice-ufrag").is_some()
    }

    /// `a=mid` value, if any (rtpengine uses the first).
    pub fn mid(&self) -> Option<&str> {
        self.attribute("mid")
            .map(|a| a.value.as_deref().unwrap_or(""))
    }

    /// Payload types of the format list when every format is a number 0..=127.
    pub fn payload_types(&self) -> Option<Vec<u8>> {
        self.formats.iter().map(|f| parse_pt(f)).collect()
    }

    /// `(pt, "NAME/RATE[/CHANNELS]")` for each numeric format, resolved the
    /// way the rewrite prints `a=rtpmap` (last rtpmap wins, else the static
    /// table); formats rtpengine cannot name are left out.
    pub fn codecs(&self) -> Vec<(u8, String)> {
        use super::attr::{classify, static_rtpmap, AttrClass};
        let mut maps: Vec<(u32, &str)> = Vec::new();
        for a in self.attributes() {
            if let AttrClass::Rtpmap { pt, encoding } = classify(a) {
                maps.push((pt, encoding));
            }
        }
        self.formats
            .iter()
            .filter_map(|f| parse_pt(f))
            .filter_map(|pt| {
                let p = u32::from(pt);
                maps.iter()
                    .rev()
                    .find(|(x, _)| *x == p)
                    .map(|(_, e)| *e)
                    .or_else(|| static_rtpmap(p))
                    .map(|e| (pt, e.to_owned()))
            })
            .collect()
    }

    /// The first `a=ptime` when it is a non-zero number.
    pub fn ptime(&self) -> Option<i64> {
        use super::attr::{classify, AttrClass};
        self.attributes()
            .find_map(|a| match classify(a) {
                AttrClass::Ptime(p) => Some(p),
                _ => None,
            })
            .filter(|p| *p != 0)
    }
}

/// rtpengine reads payload types with `strtoul` and rejects > 127.
pub(crate) fn parse_pt(s: &str) -> Option<u8> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse::<u32>()
        .ok()
        .filter(|v| *v <= 127)
        .and_then(|v| u8::try_from(v).ok())
}

/// A parsed SDP body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionDescription {
    pub origin: Origin,
    pub connection: Option<Connection>,
    /// Session-level lines in input order, typed fields as placeholders.
    pub lines: Vec<SessionLine>,
    pub media: Vec<MediaDescription>,
    /// Text after the last parsed line that rtpengine copies without parsing:
    /// a lone trailing byte, or everything from a blank line on is dropped
    /// (see `parse`).
    pub trailer: String,
}

impl SessionDescription {
    /// Session-level attributes in order.
    pub fn attributes(&self) -> impl Iterator<Item = &Attribute> {
        self.lines.iter().filter_map(|l| match l {
            SessionLine::Attribute(a) => Some(a),
            _ => None,
        })
    }

    /// The session-level direction attribute.
    pub fn direction(&self) -> Option<Direction> {
        self.attributes()
            .find_map(|a| Direction::from_attr(&a.name))
    }

    /// `s=` value, if present.
    pub fn session_name(&self) -> Option<&str> {
        self.lines.iter().find_map(|l| match l {
            SessionLine::Other(l) if l.kind == 's' => Some(l.value.as_str()),
            _ => None,
        })
    }

    /// The connection that applies to media `idx`: its own, else the session's.
    pub fn media_connection(&self, idx: usize) -> Option<&Connection> {
        let m = self.media.get(idx)?;
        m.connection.as_ref().or(self.connection.as_ref())
    }

    /// Peer RTP endpoint of media `idx` (media c= else session c=, m= port).
    /// `None` for an unspecified address (hold) or a missing c=.
    pub fn media_endpoint(&self, idx: usize) -> Option<SocketAddr> {
        let ip = self.media_connection(idx)?.ip()?;
        if ip.is_unspecified() {
            return None;
        }
        Some(SocketAddr::new(ip, self.media.get(idx)?.port))
    }

    /// Whether media `idx` is on hold the old way (`c=` 0.0.0.0 or `::`).
    pub fn media_on_hold(&self, idx: usize) -> bool {
        self.media_connection(idx)
            .and_then(Connection::ip)
            .is_some_and(|ip| ip.is_unspecified())
    }

    /// The direction rtpengine derives for media `idx` (what it prints unless
    /// `original-sendrecv`). Quirks kept on purpose: each of recvonly,
    /// sendonly, inactive is looked up media-then-session in that order, so a
    /// session `a=recvonly` beats a media `a=sendonly`; `a=sendrecv` is never
    /// consulted; a zero `c=` address clears the receive half.
    pub fn stream_direction(&self, idx: usize) -> Direction {
        let Some(m) = self.media.get(idx) else {
            return Direction::SendRecv;
        };
        let has =
            |name: &str| m.attribute(name).is_some() || self.attributes().any(|a| a.name == name);
        let (mut send, mut recv) = (true, true);
        if has("recvonly") {
            send = false;
        } else if has("sendonly") {
            recv = false;
        } else if has("inactive") {
            send = false;
            recv = false;
        }
        if self.media_on_hold(idx) {
            recv = false;
        }
        Direction::from_bits(send, recv)
    }

    /// Checks what rtpengine checks before it creates streams from an SDP,
    /// with the same error classes: every media has an address, RTP media
    /// list only payload types 0..=127, and there is at least one media.
    pub fn validate(&self) -> Result<(), crate::sdp::SdpError> {
        use crate::sdp::SdpError;
        for (index, m) in self.media.iter().enumerate() {
            if self.media_connection(index).is_none() {
                return Err(SdpError::NoAddress { index });
            }
            if crate::sdp::attr::proto_is_rtp(&m.proto) {
                if let Some(bad) = m.formats.iter().find(|f| parse_pt(f).is_none()) {
                    return Err(SdpError::InvalidPayloadType {
                        index,
                        format: bad.clone(),
                    });
                }
            }
        }
        if self.media.is_empty() {
            return Err(SdpError::NoMedia);
        }
        Ok(())
    }

    /// Emits the description unchanged (byte-identical to the parsed input).
    pub fn emit(&self) -> Vec<u8> {
        crate::sdp::emit::emit(self).into_bytes()
    }
}
