//! Serialises the model back to text; the inverse of [`super::parse`].

use std::fmt::Write as _;
use std::net::IpAddr;

use super::model::{
    Connection, MediaDescription, MediaLine, Origin, SessionDescription, SessionLine,
};

/// `ip` as text, like its `Display`. Every offer, answer and delete reply
/// prints several addresses, and the formatting machinery behind `Display`
/// was a tenth of the request path; IPv4 is written directly.
pub fn ip_text(ip: IpAddr) -> String {
    let mut s = String::with_capacity(15);
    push_ip(&mut s, ip);
    s
}

/// Appends `ip` as text, like its `Display`.
pub(crate) fn push_ip(out: &mut String, ip: IpAddr) {
    match ip {
        IpAddr::V4(v4) => {
            for (i, octet) in v4.octets().into_iter().enumerate() {
                if i > 0 {
                    out.push('.');
                }
                if octet >= 100 {
                    out.push(char::from(b'0' + octet / 100));
                }
                if octet >= 10 {
                    out.push(char::from(b'0' + octet / 10 % 10));
                }
                out.push(char::from(b'0' + octet % 10));
            }
        }
        IpAddr::V6(v6) => {
            let _ = write!(out, "{v6}");
        }
    }
}

pub(crate) fn origin_value(o: &Origin) -> String {
    format!(
        "{} {} {} {} {} {}",
        o.username, o.session_id, o.session_version, o.net_type, o.addr_type, o.address
    )
}

pub(crate) fn connection_value(c: &Connection) -> String {
    format!("{} {} {}", c.net_type, c.addr_type, c.address)
}

/// `m=` value with the given port text.
pub(crate) fn media_value(
    m: &MediaDescription,
    port: &str,
    proto: &str,
    formats: &[String],
) -> String {
    let mut s = format!("{} {}", m.media, port);
    if let Some(c) = m.port_count {
        let _ = write!(s, "/{c}");
    }
    s.push(' ');
    s.push_str(proto);
    if !formats.is_empty() {
        s.push(' ');
        s.push_str(&formats.join(" "));
    }
    s
}

pub(crate) fn emit(sdp: &SessionDescription) -> String {
    let mut out = String::new();
    for l in &sdp.lines {
        match l {
            SessionLine::Version(e) => {
                out.push_str("v=0");
                out.push_str(e.as_str());
            }
            SessionLine::Origin(e) => {
                out.push_str("o=");
                out.push_str(&origin_value(&sdp.origin));
                out.push_str(e.as_str());
            }
            SessionLine::Connection(e) => {
                if let Some(c) = &sdp.connection {
                    out.push_str("c=");
                    out.push_str(&connection_value(c));
                    out.push_str(e.as_str());
                }
            }
            SessionLine::Attribute(a) => {
                out.push_str("a=");
                out.push_str(&a.line_value());
                out.push_str(a.eol.as_str());
            }
            SessionLine::Other(l) => {
                out.push(l.kind);
                out.push('=');
                out.push_str(&l.value);
                out.push_str(l.eol.as_str());
            }
        }
    }
    for m in &sdp.media {
        emit_media(&mut out, m);
    }
    out.push_str(&sdp.trailer);
    out
}

/// Writes one media section as parsed: its `m=` line and every line under it.
pub(crate) fn emit_media(out: &mut String, m: &MediaDescription) {
    out.push_str("m=");
    out.push_str(&media_value(m, &m.port.to_string(), &m.proto, &m.formats));
    out.push_str(m.m_eol.as_str());
    for l in &m.lines {
        emit_media_line(out, m, l);
    }
}

pub(crate) fn emit_media_line(out: &mut String, m: &MediaDescription, l: &MediaLine) {
    match l {
        MediaLine::Connection(e) => {
            if let Some(c) = &m.connection {
                out.push_str("c=");
                out.push_str(&connection_value(c));
                out.push_str(e.as_str());
            }
        }
        MediaLine::Attribute(a) => {
            out.push_str("a=");
            out.push_str(&a.line_value());
            out.push_str(a.eol.as_str());
        }
        MediaLine::Other(l) => {
            out.push(l.kind);
            out.push('=');
            out.push_str(&l.value);
            out.push_str(l.eol.as_str());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn ip_text_is_display(v4 in any::<u32>(), v6 in any::<u128>()) {
            let v4 = IpAddr::V4(std::net::Ipv4Addr::from(v4));
            let v6 = IpAddr::V6(std::net::Ipv6Addr::from(v6));
            prop_assert_eq!(ip_text(v4), v4.to_string());
            prop_assert_eq!(ip_text(v6), v6.to_string());
        }
    }
}
