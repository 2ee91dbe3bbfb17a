//! SDP rewriting exactly the way rtpengine 10.5 does it for plain RTP.
//!
//! rtpengine copies the received body and splices: replaced tokens keep the
//! line's original ending, inserted lines always end in `\r\n` (so a body
//! with bare `\n` comes out mixed, and a last line without newline gets the
//! first inserted line glued to it). Rules, each checked against the live
//! daemon (see `oracle_tests.rs`):
//!
//! Session level
//! - `v=`, `s=`, `t=`, `i=`, `u=`, `e=`, `b=`, unknown attributes: kept in place.
//! - `o=`: kept; with `replace=origin` the address type and address become
//!   those of the first media's advertised address (never the zero address).
//!   `replace=SDP-version` sets the version ([`SdpVersionState`]);
//!   `replace=username`/`session-name` pin o= username and `s=` to the first
//!   ones seen. `replace=origin-full` and `force-increment-sdp-ver` are no-ops
//!   in 10.5.
//! - session `c=`: rewritten only if some media has no `c=` of its own, or
//!   with `replace=session-connection`; it gets the first media's address, or
//!   the zero address of our family if the first media's peer address is zero.
//! - stripped: direction attributes (moved into each media, see below),
//!   `ice-ufrag/pwd/options/lite/mismatch`, `remote-candidates`, parsable
//!   `candidate`, `setup`, a parsable `fingerprint`, `group:BUNDLE`,
//!   unparsable-but-typed lines (`a=rtcp:abc`). `extmap` is kept.
//! - loop-protect appends `a=rtpengine:<id>` after the session section.
//!
//! Media level (`m=` sections other than `message`)
//! - `m=`: port replaced (port 0 stays 0: rejected stream), `/count` kept,
//!   proto optionally replaced, RTP formats re-printed as numbers.
//! - media `c=`: always rewritten (net type token kept, family follows our
//!   address: IPv4 offer with `address family: IP6` gives `c=IN IP6`); a zero
//!   address stays zero in our family (`c=IN IP6 ::`).
//! - stripped: every `a=rtcp`, `a=rtcp-mux`, `a=mid`, `a=end-of-candidates`,
//!   direction attributes, ICE lines, `crypto`, `setup`, parsable
//!   `fingerprint`; for RTP with a non-empty format list also every parsable
//!   `rtpmap`, `fmtp` and `rtcp-fb:<pt>` (`rtcp-fb:*` stays); every `ptime`
//!   when the first one is a non-zero integer.
//! - kept in place: `b=`, `i=`, `k=`, `ssrc`, `label`, `maxptime`,
//!   `silenceSupp`, `extmap`, `msid`, unknown and unparsable attributes.
//! - appended after the section's last line: `a=mid:` (first one, even
//!   for port 0), then, if the port was not 0, per format in m= order `a=rtpmap` (last input
//!   rtpmap for that PT, else rtpengine's static table, else the literal
//!   `/0`), `a=fmtp` (last one, if non-empty), `a=rtcp-fb` (all, first
//!   occurrence of a PT only); the direction (always printed, derived by
//!   [`SessionDescription::stream_direction`], so missing means `sendrecv`
//!   and a zero `c=` means sendonly/inactive); for RTP `a=rtcp:PORT` [`IN
//!   IP4 addr`] and `a=rtcp-mux`; for RTP `a=ptime:N`. Then
//!   `a=end-of-candidates` if the input had one, even for port 0.
//! - non-RTP protos (`udptl`, unknown ones) get the direction but no codecs,
//!   rtcp or ptime; their rtpmap lines are left alone.
//! - `m=message` sections are left untouched; if they have no `c=`, the
//!   original session `c=` value is inserted with a bare `\n` before the
//!   first `a=`/`b=`/`k=` line.
//!
//!   `a=crypto` lines given in the plan go after `a=rtcp`/`a=rtcp-mux` and
//!   before `a=ptime`, as rtpengine prints them.
//!
//! ICE and DTLS generation (what rtpengine adds when the offer had
//! `ice-ufrag` or a valid `fingerprint`) is not done here; callers must not
//! expect equality for such offers. SDES lines are decided by
//! [`crate::sdes`] and passed in [`MediaRewrite::crypto`].

use std::fmt::Write as _;
use std::net::IpAddr;

use super::attr::{classify, proto_is_rtp, static_rtpmap, AttrClass};
use super::emit::{
    connection_value, emit_media, emit_media_line, ip_text, media_value, origin_value, push_ip,
};
use super::model::{
    parse_pt, Direction, MediaDescription, MediaLine, SessionDescription, SessionLine,
};

/// What to do with the peer's ICE lines.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum IceRewrite {
    /// No `ICE=` flag: the peer's ICE lines are stripped (rtpengine then adds
    /// its own only if the peer used ICE, which is the ICE agent's job).
    #[default]
    Default,
    /// `ICE=remove`: stripped, nothing added.
    Remove,
}

/// Form of the `a=rtcp` line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum RtcpAttr {
    /// `a=rtcp:PORT`
    #[default]
    Add,
    /// `no-rtcp-attribute`: none.
    Omit,
    /// `full-rtcp-attribute`: `a=rtcp:PORT IN IP4 addr`.
    Full,
}

/// Our side of one `m=` section.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MediaRewrite {
    /// Advertised address; its family decides `IN IP4`/`IN IP6`.
    pub address: IpAddr,
    /// Our RTP port. Ignored when the input port is 0 (rejected stream).
    pub port: u16,
    /// Port printed in `a=rtcp:` (the RTP port when answering with rtcp-mux).
    pub rtcp_port: u16,
    /// Emit `a=rtcp-mux` after `a=rtcp`.
    pub rtcp_mux: bool,
    /// `None`: print what rtpengine derives from the SDP.
    pub direction: Option<Direction>,
    /// Replaces the transport protocol token.
    pub proto: Option<String>,
    /// Answers only keep the payload types that were offered (rtpengine's
    /// codec tracking drops the rest); `None` keeps every format.
    pub keep_formats: Option<Vec<u8>>,
    /// `a=ptime` to print when the section has none: rtpengine carries the
    /// offerer's packetisation time into the answer.
    pub default_ptime: Option<i64>,
    /// `a=crypto` values to print (after `a=rtcp`, before `a=ptime`); the
    /// input's crypto lines are always stripped.
    pub crypto: Vec<String>,
}

/// Everything [`rewrite`] needs besides the SDP.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RewritePlan {
    /// `replace=origin`
    pub replace_origin: bool,
    /// `replace=origin-full`: accepted but ignored, like rtpengine 10.5.
    pub replace_origin_full: bool,
    /// `replace=session-connection`
    pub replace_session_connection: bool,
    /// Session version to print (`replace=SDP-version`), from [`SdpVersionState`].
    pub sdp_version: Option<u64>,
    /// o= username to print (`replace=username`).
    pub username: Option<String>,
    /// `s=` value to print (`replace=session-name`).
    pub session_name: Option<String>,
    /// `original-sendrecv`: keep direction lines where they are, print none.
    pub original_sendrecv: bool,
    /// `loop-protect`: instance id for `a=rtpengine:<id>`.
    pub loop_protect: Option<String>,
    pub ice: IceRewrite,
    pub rtcp_attr: RtcpAttr,
    /// One per `m=` line, same order; a section without one is copied as is.
    pub media: Vec<MediaRewrite>,
}

fn family(ip: IpAddr) -> &'static str {
    match ip {
        IpAddr::V4(_) => "IP4",
        IpAddr::V6(_) => "IP6",
    }
}

/// `IP4 1.2.3.4`, or the zero address of that family when `zero`.
fn addr_text(ip: IpAddr, zero: bool) -> String {
    let shown = match (ip, zero) {
        (IpAddr::V4(_), true) => IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED),
        (IpAddr::V6(_), true) => IpAddr::V6(std::net::Ipv6Addr::UNSPECIFIED),
        (ip, false) => ip,
    };
    let mut s = String::with_capacity(20);
    s.push_str(family(ip));
    s.push(' ');
    push_ip(&mut s, shown);
    s
}

/// Rewrites `sdp` for the recipient according to `plan`.
pub fn rewrite(sdp: &SessionDescription, plan: &RewritePlan) -> Vec<u8> {
    // A SIP phone's SDP fits; larger ones grow once or twice.
    let mut out = String::with_capacity(1024);
    let first = plan.media.first();
    let sess_conn =
        plan.replace_session_connection || sdp.media.iter().any(|m| m.connection.is_none());

    for l in &sdp.lines {
        match l {
            SessionLine::Version(e) => {
                out.push_str("v=0");
                out.push_str(e.as_str());
            }
            SessionLine::Origin(e) => {
                let mut o = sdp.origin.clone();
                if let Some(u) = &plan.username {
                    o.username.clone_from(u);
                }
                if let Some(v) = plan.sdp_version {
                    o.session_version = v.to_string();
                }
                if let (true, Some(mr)) = (plan.replace_origin, first) {
                    o.addr_type = family(mr.address).into();
                    o.address = ip_text(mr.address);
                }
                out.push_str("o=");
                out.push_str(&origin_value(&o));
                out.push_str(e.as_str());
            }
            SessionLine::Connection(e) => {
                let Some(c) = &sdp.connection else { continue };
                out.push_str("c=");
                match (sess_conn, first) {
                    (true, Some(mr)) => {
                        out.push_str(&c.net_type);
                        out.push(' ');
                        out.push_str(&addr_text(mr.address, sdp.media_on_hold(0)));
                    }
                    _ => out.push_str(&connection_value(c)),
                }
                out.push_str(e.as_str());
            }
            SessionLine::Attribute(a) => {
                let strip = match classify(a) {
                    AttrClass::Ice | AttrClass::Candidate => true,
                    AttrClass::Setup
                    | AttrClass::Fingerprint
                    | AttrClass::Ignore
                    | AttrClass::GroupBundle => true,
                    AttrClass::Direction => !plan.original_sendrecv,
                    _ => false,
                };
                if !strip {
                    out.push_str("a=");
                    out.push_str(&a.line_value());
                    out.push_str(a.eol.as_str());
                }
            }
            SessionLine::Other(l) => {
                out.push(l.kind);
                out.push('=');
                match (&plan.session_name, l.kind) {
                    (Some(n), 's') => out.push_str(n),
                    _ => out.push_str(&l.value),
                }
                out.push_str(l.eol.as_str());
            }
        }
    }
    if let Some(id) = &plan.loop_protect {
        out.push_str("a=rtpengine:");
        out.push_str(id);
        out.push_str("\r\n");
    }

    for (i, m) in sdp.media.iter().enumerate() {
        match plan.media.get(i) {
            Some(_) if m.media == "message" => message_media(&mut out, sdp, m),
            Some(mr) => media(&mut out, sdp, plan, i, m, mr),
            None => emit_media(&mut out, m),
        }
    }
    out.push_str(&sdp.trailer);
    out.into_bytes()
}

/// rtpengine leaves `m=message` alone but makes sure it has a `c=`.
fn message_media(out: &mut String, sdp: &SessionDescription, m: &MediaDescription) {
    out.push_str("m=");
    out.push_str(&media_value(m, &m.port.to_string(), &m.proto, &m.formats));
    out.push_str(m.m_eol.as_str());
    let synth = match (&m.connection, &sdp.connection) {
        (None, Some(c)) => Some(format!("c={}\n", connection_value(c))),
        _ => None,
    };
    let mut pending = synth;
    let mut eoc = false;
    for l in &m.lines {
        let anchors = match l {
            MediaLine::Attribute(_) => true,
            MediaLine::Other(o) => o.kind == 'b' || o.kind == 'k',
            MediaLine::Connection(_) => false,
        };
        if anchors {
            if let Some(c) = pending.take() {
                out.push_str(&c);
            }
        }
        if let MediaLine::Attribute(a) = l {
            eoc |= classify(a) == AttrClass::EndOfCandidates;
        }
        emit_media_line(out, m, l);
    }
    if let Some(c) = pending {
        out.push_str(&c);
    }
    if eoc {
        out.push_str("a=end-of-candidates\r\n");
    }
}

fn media(
    out: &mut String,
    sdp: &SessionDescription,
    plan: &RewritePlan,
    idx: usize,
    m: &MediaDescription,
    mr: &MediaRewrite,
) {
    let rtp = proto_is_rtp(&m.proto);
    let has_codecs = rtp && !m.formats.is_empty();
    let active = m.port != 0;
    let hold = sdp.media_on_hold(idx);

    // m= line
    let port = if active {
        mr.port.to_string()
    } else {
        "0".to_owned()
    };
    let proto = mr.proto.as_deref().unwrap_or(&m.proto);
    let kept = |pt: u8| mr.keep_formats.as_ref().is_none_or(|k| k.contains(&pt));
    // A filter that would leave nothing is not applied: an m= line needs a format.
    let filter_applies = has_codecs && m.formats.iter().filter_map(|f| parse_pt(f)).any(kept);
    let formats: Vec<String> = if has_codecs {
        m.formats
            .iter()
            .filter(|f| !filter_applies || parse_pt(f).is_none_or(kept))
            .map(|f| parse_pt(f).map_or_else(|| f.clone(), |pt| pt.to_string()))
            .collect()
    } else {
        m.formats.clone()
    };
    out.push_str("m=");
    out.push_str(&media_value(m, &port, proto, &formats));
    out.push_str(m.m_eol.as_str());

    // Gather what rtpengine's stream parser keeps, then copy minus stripped lines.
    let mut mid: Option<Option<&str>> = None;
    let mut ptime: Option<i64> = None;
    let mut eoc = false;
    let mut rtpmaps: Vec<(u32, &str)> = Vec::new();
    let mut fmtps: Vec<(u32, &str)> = Vec::new();
    let mut fbs: Vec<(u32, &str)> = Vec::new();
    for a in m.attributes() {
        match classify(a) {
            AttrClass::Mid if mid.is_none() => mid = Some(a.value.as_deref()),
            AttrClass::Ptime(p) if ptime.is_none() => ptime = Some(p),
            AttrClass::EndOfCandidates => eoc = true,
            AttrClass::Rtpmap { pt, encoding } => rtpmaps.push((pt, encoding)),
            AttrClass::Fmtp { pt, params } => fmtps.push((pt, params)),
            AttrClass::RtcpFb { pt, value } => fbs.push((pt, value)),
            _ => {}
        }
    }
    let ptime = ptime.or(mr.default_ptime).unwrap_or(0);

    for l in &m.lines {
        match l {
            MediaLine::Connection(e) => {
                let Some(c) = &m.connection else { continue };
                out.push_str("c=");
                out.push_str(&c.net_type);
                out.push(' ');
                out.push_str(&addr_text(mr.address, hold));
                out.push_str(e.as_str());
            }
            MediaLine::Attribute(a) => {
                let strip = match classify(a) {
                    AttrClass::Ice | AttrClass::Candidate => true,
                    AttrClass::Rtcp
                    | AttrClass::RtcpMux
                    | AttrClass::Ignore
                    | AttrClass::EndOfCandidates
                    | AttrClass::Mid => true,
                    AttrClass::Direction => !plan.original_sendrecv,
                    AttrClass::Rtpmap { .. }
                    | AttrClass::Fmtp { .. }
                    | AttrClass::RtcpFb { .. } => has_codecs,
                    AttrClass::Ptime(_) => ptime != 0,
                    AttrClass::Crypto | AttrClass::Fingerprint | AttrClass::Setup => true,
                    AttrClass::Other | AttrClass::GroupBundle => false,
                };
                if !strip {
                    emit_media_line(out, m, l);
                }
            }
            MediaLine::Other(_) => emit_media_line(out, m, l),
        }
    }

    // 10.5 prints a=mid even for rejected (port 0) streams.
    if let Some(Some(mid)) = mid {
        let _ = write!(out, "a=mid:{mid}\r\n");
    }
    if active {
        if has_codecs {
            let mut seen: Vec<u8> = Vec::new();
            for pt in m
                .formats
                .iter()
                .filter_map(|f| parse_pt(f))
                .filter(|&pt| !filter_applies || kept(pt))
            {
                let p = u32::from(pt);
                let enc = rtpmaps
                    .iter()
                    .rev()
                    .find(|(x, _)| *x == p)
                    .map(|(_, e)| *e)
                    .or_else(|| static_rtpmap(p))
                    .unwrap_or("/0");
                let _ = write!(out, "a=rtpmap:{pt} {enc}\r\n");
                if let Some((_, f)) = fmtps.iter().rev().find(|(x, _)| *x == p) {
                    if !f.is_empty() {
                        let _ = write!(out, "a=fmtp:{pt} {f}\r\n");
                    }
                }
                // rtpengine moves the rtcp-fb list into the first codec entry.
                if !seen.contains(&pt) {
                    for (_, fb) in fbs.iter().filter(|(x, _)| *x == p) {
                        let _ = write!(out, "a=rtcp-fb:{pt} {fb}\r\n");
                    }
                    seen.push(pt);
                }
            }
        }
        if !plan.original_sendrecv {
            let d = mr.direction.unwrap_or_else(|| sdp.stream_direction(idx));
            let _ = write!(out, "a={}\r\n", d.as_str());
        }
        if rtp {
            match plan.rtcp_attr {
                RtcpAttr::Omit => {}
                RtcpAttr::Add => {
                    let _ = write!(out, "a=rtcp:{}\r\n", mr.rtcp_port);
                }
                RtcpAttr::Full => {
                    let _ = write!(
                        out,
                        "a=rtcp:{} IN {}\r\n",
                        mr.rtcp_port,
                        addr_text(mr.address, false)
                    );
                }
            }
            if mr.rtcp_mux {
                out.push_str("a=rtcp-mux\r\n");
            }
        }
        for c in &mr.crypto {
            out.push_str("a=crypto:");
            out.push_str(c);
            out.push_str("\r\n");
        }
        if rtp && ptime != 0 {
            let _ = write!(out, "a=ptime:{ptime}\r\n");
        }
    }
    if eoc {
        out.push_str("a=end-of-candidates\r\n");
    }
}

/// rtpengine's `replace=SDP-version` bookkeeping for one monologue, kept
/// outside the rewriter so it stays a pure function: the version starts at
/// the first SDP's o= version and goes up by one whenever the rewritten body
/// differs from the last one sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SdpVersionState {
    version: u64,
    last: Option<Vec<u8>>,
}

impl SdpVersionState {
    /// `first_version` is the o= version of the first SDP; rtpengine replaces
    /// 0, `u64::MAX` and non-numbers with a random value, given here.
    pub fn new(first_version: &str, random: u64) -> Self {
        let digits: String = first_version
            .chars()
            .take_while(char::is_ascii_digit)
            .collect();
        let v = digits.parse::<u64>().unwrap_or(0);
        let version = if v == 0 || v == u64::MAX { random } else { v };
        SdpVersionState {
            version,
            last: None,
        }
    }

    /// Current version number.
    pub fn version(&self) -> u64 {
        self.version
    }

    /// Rewrites with the tracked version, bumping it if the output changed.
    pub fn rewrite(&mut self, sdp: &SessionDescription, plan: &RewritePlan) -> Vec<u8> {
        let mut p = plan.clone();
        p.sdp_version = Some(self.version);
        let mut out = rewrite(sdp, &p);
        if let Some(last) = &self.last {
            if *last != out {
                self.version = self.version.wrapping_add(1);
                p.sdp_version = Some(self.version);
                out = rewrite(sdp, &p);
            }
        }
        self.last = Some(out.clone());
        out
    }
}
