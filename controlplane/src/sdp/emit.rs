//! Serialises the model back to text; the inverse of [`super::parse`].

use super::model::{
    Connection, MediaDescription, MediaLine, Origin, SessionDescription, SessionLine,
};

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
        s.push_str(&format!("/{c}"));
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
        out.push_str("m=");
        out.push_str(&media_value(m, &m.port.to_string(), &m.proto, &m.formats));
        out.push_str(m.m_eol.as_str());
        for l in &m.lines {
            emit_media_line(&mut out, m, l);
        }
    }
    out.push_str(&sdp.trailer);
    out
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
