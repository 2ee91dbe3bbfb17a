//! Fuzzes the SDP parser and rewriter: parsing never panics, anything that
//! parses emits back to an equal description, rewriting it with a plan
//! derived from the input never panics, and neither does parsing its
//! `a=crypto` lines.
#![no_main]

use controlplane::sdp::{self, MediaRewrite, RewritePlan, RtcpAttr};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(desc) = sdp::parse(data) else { return };
    assert_eq!(sdp::parse(&desc.emit()).as_ref(), Ok(&desc));
    let _ = desc.validate();
    for m in &desc.media {
        for a in m.attributes().filter(|a| a.name == "crypto") {
            if let Some(Ok(c)) = a.value.as_deref().and_then(sdp::crypto::parse) {
                let text = c.emit(Default::default());
                assert_eq!(sdp::crypto::parse(&text), Some(Ok(c)));
            }
        }
    }
    let flags = data.first().copied().unwrap_or(0);
    let plan = RewritePlan {
        replace_origin: flags & 1 != 0,
        replace_session_connection: flags & 2 != 0,
        original_sendrecv: flags & 4 != 0,
        rtcp_attr: if flags & 8 != 0 {
            RtcpAttr::Full
        } else {
            RtcpAttr::Add
        },
        media: desc
            .media
            .iter()
            .map(|m| MediaRewrite {
                address: if flags & 16 != 0 {
                    std::net::Ipv6Addr::LOCALHOST.into()
                } else {
                    std::net::Ipv4Addr::LOCALHOST.into()
                },
                port: 30000,
                rtcp_port: 30001,
                rtcp_mux: m.rtcp_mux(),
                direction: None,
                proto: None,
                // Exercise the answer path's format filter and ptime carry.
                keep_formats: (flags & 32 != 0).then(|| vec![0, 8, 101]),
                default_ptime: (flags & 64 != 0).then_some(20),
                crypto: if flags & 128 != 0 {
                    vec!["1 AES_CM_128_HMAC_SHA1_80 inline:BxQhLjtIVWJvfImWo7C9ytfk8f4LGCUyP0xZZnOA".into()]
                } else {
                    Vec::new()
                },
            })
            .collect(),
        ..RewritePlan::default()
    };
    // No assertion on the output: like rtpengine, a last line without a
    // newline gets the first inserted line glued to it, which may not parse.
    let out = sdp::rewrite(&desc, &plan);
    let _ = sdp::parse(&out);
});
