//! Property tests: the parser never panics, parse/emit round-trips, and
//! rewriting any parsable SDP with any plan never panics.

use super::*;
use proptest::prelude::*;

fn eol() -> impl Strategy<Value = &'static str> {
    prop_oneof![Just("\r\n"), Just("\n")]
}

fn token() -> impl Strategy<Value = String> {
    "[a-zA-Z0-9/_.*-]{0,8}"
}

fn attr_line() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("a=sendrecv".to_owned()),
        Just("a=recvonly".to_owned()),
        Just("a=rtcp-mux".to_owned()),
        Just("a=rtcp-fb:* nack".to_owned()),
        Just("a=end-of-candidates".to_owned()),
        Just("a=candidate:1 1 UDP 2130706431 192.0.2.1 2000 typ host".to_owned()),
        (0u32..200, token()).prop_map(|(pt, e)| format!("a=rtpmap:{pt} {e}/8000")),
        (0u32..200, token()).prop_map(|(pt, e)| format!("a=fmtp:{pt} {e}")),
        (0u32..200).prop_map(|p| format!("a=rtcp:{p}")),
        (0i32..100).prop_map(|p| format!("a=ptime:{p}")),
        token().prop_map(|t| format!("a=mid:{t}")),
        (token(), token()).prop_map(|(n, v)| format!("a={n}:{v}")),
        "b=[A-Z]{2}:[0-9]{1,4}",
    ]
}

fn conn() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("c=IN IP4 192.0.2.1".to_owned()),
        Just("c=IN IP4 0.0.0.0".to_owned()),
        Just("c=IN IP6 2001:db8::1".to_owned()),
        Just("c=in IP6 ::".to_owned()),
    ]
}

fn media() -> impl Strategy<Value = Vec<String>> {
    (
        prop_oneof![Just("audio"), Just("video"), Just("image"), Just("message")],
        prop_oneof![Just(0u16), 1u16..],
        prop_oneof![
            Just("RTP/AVP"),
            Just("RTP/AVPF"),
            Just("udptl"),
            Just("TCP/MSRP")
        ],
        proptest::collection::vec(0u8..128, 0..5),
        proptest::option::of(conn()),
        proptest::collection::vec(attr_line(), 0..6),
    )
        .prop_map(|(m, port, proto, fmts, c, attrs)| {
            let mut line = format!("m={m} {port} {proto}");
            for f in fmts {
                line.push_str(&format!(" {f}"));
            }
            let mut v = vec![line];
            v.extend(c);
            v.extend(attrs);
            v
        })
}

fn sdp_text() -> impl Strategy<Value = String> {
    (
        proptest::option::of(conn()),
        proptest::collection::vec(attr_line(), 0..4),
        proptest::collection::vec(media(), 0..3),
        proptest::collection::vec(eol(), 40),
        prop_oneof![Just(""), Just("x")],
    )
        .prop_map(|(c, sattrs, media, eols, trailer)| {
            let mut lines = vec![
                "v=0".to_owned(),
                "o=- 1 2 IN IP4 192.0.2.1".to_owned(),
                "s=-".to_owned(),
            ];
            lines.extend(c);
            lines.push("t=0 0".to_owned());
            lines.extend(sattrs);
            for m in media {
                lines.extend(m);
            }
            let mut s = String::new();
            for (i, l) in lines.iter().enumerate() {
                s.push_str(l);
                s.push_str(eols.get(i % eols.len()).copied().unwrap_or("\r\n"));
            }
            s.push_str(trailer);
            s
        })
}

fn plan_for(sdp: &SessionDescription, v6: bool, flags: u8) -> RewritePlan {
    let address: std::net::IpAddr = if v6 {
        "::1".parse().unwrap()
    } else {
        "127.0.0.1".parse().unwrap()
    };
    RewritePlan {
        replace_origin: flags & 1 != 0,
        replace_session_connection: flags & 2 != 0,
        original_sendrecv: flags & 4 != 0,
        sdp_version: (flags & 8 != 0).then_some(7),
        loop_protect: (flags & 16 != 0).then(|| "abcdef".to_owned()),
        rtcp_attr: if flags & 32 != 0 {
            RtcpAttr::Full
        } else {
            RtcpAttr::Add
        },
        media: sdp
            .media
            .iter()
            .map(|m| MediaRewrite {
                address,
                port: 40000,
                rtcp_port: 40001,
                rtcp_mux: m.rtcp_mux(),
                direction: None,
                proto: None,
                keep_formats: None,
                default_ptime: None,
                crypto: Vec::new(),
            })
            .collect(),
        ..RewritePlan::default()
    }
}

proptest! {
    #[test]
    fn parse_never_panics(buf in proptest::collection::vec(any::<u8>(), 0..512)) {
        let _ = parse(&buf);
    }

    #[test]
    fn parse_never_panics_on_near_sdp(s in sdp_text(), cut in 0usize..600, byte in any::<u8>()) {
        let mut b = s.into_bytes();
        let at = cut.min(b.len());
        b.insert(at, byte);
        if let Ok(sdp) = parse(&b) {
            let _ = rewrite(&sdp, &plan_for(&sdp, false, 0xff));
        }
    }

    #[test]
    fn emit_reproduces_input(s in sdp_text()) {
        let sdp = parse(s.as_bytes()).unwrap();
        prop_assert_eq!(sdp.emit(), s.as_bytes());
        prop_assert_eq!(parse(&sdp.emit()).unwrap(), sdp);
    }

    #[test]
    fn rewrite_output_parses(s in sdp_text(), v6 in any::<bool>(), flags in any::<u8>()) {
        let sdp = parse(s.as_bytes()).unwrap();
        let out = rewrite(&sdp, &plan_for(&sdp, v6, flags));
        let again = parse(&out).unwrap();
        prop_assert_eq!(again.media.len(), sdp.media.len());
    }
}
