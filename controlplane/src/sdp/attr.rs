//! How rtpengine 10.5 classifies attributes and payload types.
//!
//! rtpengine parses some attributes into typed forms; one that fails its
//! parser is dropped from the attribute list and therefore copied through
//! untouched, while one that parses but is invalid becomes `ATTR_IGNORE` and
//! is stripped. [`classify`] reproduces that split so the rewriter strips
//! exactly the lines rtpengine strips.

use super::model::{parse_ip, Attribute};

/// rtpengine's view of one attribute; text fields borrow from the attribute
/// (classification runs several times per attribute and request).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum AttrClass<'a> {
    /// Unknown name or failed typed parse: copied verbatim.
    Other,
    /// Parsed but invalid (`a=rtcp:abc`, a refused `a=crypto`): stripped everywhere.
    Ignore,
    Rtcp,
    RtcpMux,
    /// `ice-ufrag`, `ice-pwd`, `ice-options`, `ice-lite`, `ice-mismatch`, `remote-candidates`.
    Ice,
    Candidate,
    EndOfCandidates,
    Mid,
    Direction,
    Rtpmap {
        pt: u32,
        encoding: &'a str,
    },
    Fmtp {
        pt: u32,
        params: &'a str,
    },
    RtcpFb {
        pt: u32,
        value: &'a str,
    },
    Ptime(i64),
    Crypto,
    Fingerprint,
    Setup,
    GroupBundle,
}

pub(crate) fn classify(a: &Attribute) -> AttrClass<'_> {
    let v = a.value.as_deref();
    match a.name.as_str() {
        "mid" => AttrClass::Mid,
        "rtcp" => match v.and_then(rtcp_valid) {
            Some(()) => AttrClass::Rtcp,
            None => AttrClass::Ignore,
        },
        "rtcp-mux" => AttrClass::RtcpMux,
        "ice-ufrag" | "ice-pwd" | "ice-options" | "ice-lite" | "ice-mismatch"
        | "remote-candidates" => AttrClass::Ice,
        "candidate" => match candidate(v.unwrap_or("")) {
            Some(true) => AttrClass::Candidate,
            Some(false) => AttrClass::Other,
            None => AttrClass::Other,
        },
        "end-of-candidates" => AttrClass::EndOfCandidates,
        "sendrecv" | "sendonly" | "recvonly" | "inactive" => AttrClass::Direction,
        "rtpmap" => rtpmap(v.unwrap_or("")).unwrap_or(AttrClass::Other),
        "fmtp" => {
            let (pt, params) = token(v.unwrap_or(""));
            match leading_uint(pt) {
                Some(pt) => AttrClass::Fmtp {
                    pt,
                    params: params.unwrap_or(""),
                },
                None => AttrClass::Other,
            }
        }
        "rtcp-fb" => {
            let (pt, value) = token(v.unwrap_or(""));
            match leading_uint(pt) {
                Some(pt) => AttrClass::RtcpFb {
                    pt,
                    value: value.unwrap_or(""),
                },
                // `*` and other non-numbers fail rtpengine's parser: kept in place.
                None => AttrClass::Other,
            }
        }
        "ptime" => AttrClass::Ptime(v.map(leading_int).unwrap_or(0)),
        // Fewer than three tokens fails rtpengine's parser (kept); otherwise
        // a usable key (stripped in media: SDES is renegotiated) or one
        // rtpengine refuses (ATTR_IGNORE, stripped everywhere).
        "crypto" => match v.and_then(super::crypto::parse) {
            None => AttrClass::Other,
            Some(Ok(c)) if c.single_key().is_ok() => AttrClass::Crypto,
            Some(_) => AttrClass::Ignore,
        },
        "fingerprint" => {
            if v.is_some_and(fingerprint_valid) {
                AttrClass::Fingerprint
            } else {
                AttrClass::Other
            }
        }
        "setup" => AttrClass::Setup,
        "group" if v.is_some_and(|v| v.starts_with("BUNDLE ")) => AttrClass::GroupBundle,
        _ => AttrClass::Other,
    }
}

/// Splits at the first space like `str_token_sep`.
fn token(s: &str) -> (&str, Option<&str>) {
    match s.split_once(' ') {
        Some((a, b)) => (a, Some(b)),
        None => (s, None),
    }
}

/// `strtoul`-like: leading decimal digits, at least one.
fn leading_uint(s: &str) -> Option<u32> {
    let d = leading_digits(s);
    if d.is_empty() {
        return None;
    }
    Some(
        d.parse::<u64>()
            .map(|v| u32::try_from(v).unwrap_or(u32::MAX))
            .unwrap_or(u32::MAX),
    )
}

/// The ASCII digits `s` starts with.
fn leading_digits(s: &str) -> &str {
    let n = s.bytes().take_while(u8::is_ascii_digit).count();
    s.get(..n).unwrap_or("")
}

/// `str_to_i`-like: optional sign, leading digits, 0 when there are none.
fn leading_int(s: &str) -> i64 {
    let (neg, rest) = match s.strip_prefix('-') {
        Some(r) => (true, r),
        None => (false, s.strip_prefix('+').unwrap_or(s)),
    };
    let v = leading_digits(rest).parse::<i64>().unwrap_or(0);
    if neg {
        -v
    } else {
        v
    }
}

fn rtcp_valid(v: &str) -> Option<()> {
    let (port, rest) = token(v);
    let p = leading_int(port);
    if !(1..=65535).contains(&p) {
        return None;
    }
    if let Some(rest) = rest.filter(|r| !r.is_empty()) {
        let mut t = rest.splitn(3, ' ');
        let (nt, at, addr) = (t.next()?, t.next()?, t.next()?);
        if (nt != "IN" && nt != "in") || parse_ip(at, addr.split(' ').next()?).is_none() {
            return None;
        }
    }
    Some(())
}

/// `Some(true)`: rtpengine files it as a candidate (stripped unless ICE is
/// kept); `Some(false)`/`None`: its parser rejects it (kept verbatim).
fn candidate(v: &str) -> Option<bool> {
    let t: Vec<&str> = v.split(' ').collect();
    if t.len() < 8 || t[..8].iter().any(|s| s.is_empty()) {
        return None;
    }
    leading_uint(t[1])?;
    if !matches!(t[2], "UDP" | "udp" | "TCP" | "tcp") {
        return Some(true);
    }
    leading_uint(t[3])?;
    if t[4].parse::<std::net::IpAddr>().is_err() {
        return Some(true);
    }
    leading_uint(t[5])?;
    if t[6] != "typ" {
        return None;
    }
    let related = match t[7] {
        "host" => false,
        "srflx" | "prflx" | "relay" => true,
        _ => return Some(true),
    };
    if related {
        if t.len() < 12 || t[8] != "raddr" || t[10] != "rport" {
            return None;
        }
        if t[9].parse::<std::net::IpAddr>().is_err() {
            return Some(true);
        }
        leading_uint(t[11])?;
    }
    Some(true)
}

fn rtpmap(v: &str) -> Option<AttrClass<'_>> {
    let (pt, rest) = token(v);
    let pt = leading_uint(pt)?;
    let enc = rest.map(|r| token(r).0)?;
    if enc.is_empty() {
        return None;
    }
    let (_name, clock) = enc.split_once('/')?;
    let clock = clock.split('/').next().unwrap_or("");
    if clock.is_empty() || !clock.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Some(AttrClass::Rtpmap { pt, encoding: enc })
}

/// `a=fingerprint` value with a known hash and a digest of its length.
pub(crate) fn fingerprint_valid(v: &str) -> bool {
    let (hash, fp) = token(v);
    let Some(fp) = fp.map(|f| token(f).0) else {
        return false;
    };
    let n = match hash.to_ascii_lowercase().as_str() {
        "sha-1" => 20,
        "sha-224" => 28,
        "sha-256" => 32,
        "sha-384" => 48,
        "sha-512" => 64,
        _ => return false,
    };
    let parts: Vec<&str> = fp.split(':').collect();
    parts.len() == n
        && parts
            .iter()
            .all(|p| p.len() == 2 && p.bytes().all(|b| b.is_ascii_hexdigit()))
}

/// Transport protocols rtpengine treats as RTP (codec handling, a=rtcp).
pub(crate) fn proto_is_rtp(proto: &str) -> bool {
    super::TransportProtocol::parse(proto).is_some_and(super::TransportProtocol::is_rtp)
}

/// rtpengine's static payload type table (`rtp_get_rfc_payload_type`), as
/// printed into a=rtpmap. Note 10/11 are swapped relative to RFC 3551 table
/// 4 in rtpengine 10.5, and we reproduce that.
pub(crate) fn static_rtpmap(pt: u32) -> Option<&'static str> {
    Some(match pt {
        0 => "PCMU/8000",
        3 => "GSM/8000",
        4 => "G723/8000",
        5 => "DVI4/8000",
        6 => "DVI4/16000",
        7 => "LPC/8000",
        8 => "PCMA/8000",
        9 => "G722/8000",
        10 => "L16/44100",
        11 => "L16/44100/2",
        12 => "QCELP/8000",
        13 => "CN/8000",
        14 => "MPA/90000",
        15 => "G728/8000",
        16 => "DVI4/11025",
        17 => "DVI4/22050",
        18 => "G729/8000",
        25 => "CelB/90000",
        26 => "JPEG/90000",
        28 => "nv/90000",
        31 => "H261/90000",
        32 => "MPV/90000",
        33 => "MP2T/90000",
        34 => "H263/90000",
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sdp::model::Eol;

    fn a(s: &str) -> Attribute {
        match s.split_once(':') {
            Some((n, v)) => Attribute {
                name: n.into(),
                value: Some(v.into()),
                eol: Eol::CrLf,
            },
            None => Attribute {
                name: s.into(),
                value: None,
                eol: Eol::CrLf,
            },
        }
    }

    #[test]
    fn classification_follows_rtpengine_parsers() {
        assert_eq!(classify(&a("rtcp:abc")), AttrClass::Ignore);
        assert_eq!(classify(&a("rtcp:2001 IN IP4 1.2.3.4")), AttrClass::Rtcp);
        assert_eq!(classify(&a("rtcp-fb:* nack")), AttrClass::Other);
        assert_eq!(classify(&a("rtpmap:96 foo")), AttrClass::Other);
        assert_eq!(classify(&a("fingerprint:sha-256 AB:CD")), AttrClass::Other);
        assert_eq!(classify(&a("group:BUNDLE 0 1")), AttrClass::GroupBundle);
        assert_eq!(classify(&a("group:LS 0 1")), AttrClass::Other);
        assert_eq!(classify(&a("ptime:20")), AttrClass::Ptime(20));
        assert_eq!(
            classify(&a(
                "candidate:1 1 UDP 2130706431 198.51.100.1 2000 typ host"
            )),
            AttrClass::Candidate
        );
        assert_eq!(
            classify(&a("candidate:1 1 UDP 2130706431")),
            AttrClass::Other
        );
    }
}
