//! Differential vectors: real rtpengine 10.5 offers and its real output.
//!
//! Captured from `rtpengine --config-file=none -i 127.0.0.1 -i ::1` over the ng
//! protocol (offer, flags noted per case). rtpengine's ports were renumbered
//! to what the plan asks for: media `i` gets RTP port `30000 + 10 * i` and
//! RTCP port one higher; nothing else was edited.

use super::*;
use std::net::IpAddr;

struct Case {
    name: &'static str,
    input: &'static str,
    output: &'static str,
    replace_origin: bool,
    replace_session_connection: bool,
    v6: bool,
    ice_remove: bool,
    original_sendrecv: bool,
    rtcp_attr: RtcpAttr,
}

fn plan_for(c: &Case, sdp: &SessionDescription) -> RewritePlan {
    let address: IpAddr = if c.v6 {
        "::1".parse().unwrap()
    } else {
        "127.0.0.1".parse().unwrap()
    };
    RewritePlan {
        replace_origin: c.replace_origin,
        replace_session_connection: c.replace_session_connection,
        original_sendrecv: c.original_sendrecv,
        ice: if c.ice_remove {
            IceRewrite::Remove
        } else {
            IceRewrite::Default
        },
        rtcp_attr: c.rtcp_attr,
        media: (0..sdp.media.len())
            .map(|i| {
                let port = 30000 + 10 * u16::try_from(i).unwrap();
                MediaRewrite {
                    address,
                    port,
                    rtcp_port: port + 1,
                    // Offer side: rtpengine keeps offering mux if the peer did.
                    rtcp_mux: sdp.media[i].rtcp_mux(),
                    direction: None,
                    proto: None,
                    keep_formats: None,
                    default_ptime: None,
                    crypto: Vec::new(),
                }
            })
            .collect(),
        ..RewritePlan::default()
    }
}

#[test]
fn rewrite_matches_rtpengine() {
    for c in CASES {
        let sdp = parse(c.input.as_bytes()).unwrap_or_else(|e| panic!("{}: {e}", c.name));
        sdp.validate().unwrap_or_else(|e| panic!("{}: {e}", c.name));
        assert_eq!(
            parse(&sdp.emit()).as_ref(),
            Ok(&sdp),
            "{}: round trip",
            c.name
        );
        let out = rewrite(&sdp, &plan_for(c, &sdp));
        assert_eq!(String::from_utf8(out).unwrap(), c.output, "{}", c.name);
    }
}

const CASES: &[Case] = &[
    Case {
        name: "polycom_vvx",
        input: "v=0\r\no=- 1545997027 1 IN IP4 192.0.2.10\r\ns=Polycom IP Phone\r\nc=IN IP4 192.0.2.10\r\nt=0 0\r\na=sendrecv\r\nm=audio 2222 RTP/AVP 9 102 0 8 18 127\r\na=rtpmap:9 G722/8000\r\na=rtpmap:102 G7221/16000\r\na=fmtp:102 bitrate=32000\r\na=rtpmap:0 PCMU/8000\r\na=rtpmap:8 PCMA/8000\r\na=rtpmap:18 G729/8000\r\na=fmtp:18 annexb=no\r\na=rtpmap:127 telephone-event/8000\r\n",
        output: "v=0\r\no=- 1545997027 1 IN IP4 192.0.2.10\r\ns=Polycom IP Phone\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 30000 RTP/AVP 9 102 0 8 18 127\r\na=rtpmap:9 G722/8000\r\na=rtpmap:102 G7221/16000\r\na=fmtp:102 bitrate=32000\r\na=rtpmap:0 PCMU/8000\r\na=rtpmap:8 PCMA/8000\r\na=rtpmap:18 G729/8000\r\na=fmtp:18 annexb=no\r\na=rtpmap:127 telephone-event/8000\r\na=sendrecv\r\na=rtcp:30001\r\n",
        replace_origin: false,
        replace_session_connection: false,
        v6: false,
        ice_remove: false,
        original_sendrecv: false,
        rtcp_attr: RtcpAttr::Add,
    },
    Case {
        name: "yealink_t46",
        input: "v=0\r\no=- 20010 20010 IN IP4 192.0.2.20\r\ns=SDP data\r\nc=IN IP4 192.0.2.20\r\nt=0 0\r\nm=audio 11800 RTP/AVP 0 8 18 9 101\r\na=rtpmap:0 PCMU/8000\r\na=rtpmap:8 PCMA/8000\r\na=rtpmap:18 G729/8000\r\na=fmtp:18 annexb=no\r\na=rtpmap:9 G722/8000\r\na=fmtp:101 0-15\r\na=rtpmap:101 telephone-event/8000\r\na=ptime:20\r\na=sendrecv\r\n",
        output: "v=0\r\no=- 20010 20010 IN IP4 192.0.2.20\r\ns=SDP data\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 30000 RTP/AVP 0 8 18 9 101\r\na=rtpmap:0 PCMU/8000\r\na=rtpmap:8 PCMA/8000\r\na=rtpmap:18 G729/8000\r\na=fmtp:18 annexb=no\r\na=rtpmap:9 G722/8000\r\na=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-15\r\na=sendrecv\r\na=rtcp:30001\r\na=ptime:20\r\n",
        replace_origin: false,
        replace_session_connection: false,
        v6: false,
        ice_remove: false,
        original_sendrecv: false,
        rtcp_attr: RtcpAttr::Add,
    },
    Case {
        name: "cisco_cp",
        input: "v=0\r\no=Cisco-SIPUA 6390 0 IN IP4 192.0.2.30\r\ns=SIP Call\r\nb=AS:4064\r\nt=0 0\r\nm=audio 22148 RTP/AVP 114 9 124 0 8 116 18 101\r\nc=IN IP4 192.0.2.30\r\nb=TIAS:64000\r\na=rtpmap:114 opus/48000/2\r\na=fmtp:114 maxplaybackrate=16000;sprop-maxcapturerate=16000;maxaveragebitrate=64000;stereo=0;sprop-stereo=0;usedtx=0\r\na=rtpmap:9 G722/8000\r\na=rtpmap:124 ISAC/16000\r\na=rtpmap:0 PCMU/8000\r\na=rtpmap:8 PCMA/8000\r\na=rtpmap:116 iLBC/8000\r\na=fmtp:116 mode=20\r\na=rtpmap:18 G729/8000\r\na=fmtp:18 annexb=yes\r\na=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-15\r\na=sendrecv\r\n",
        output: "v=0\r\no=Cisco-SIPUA 6390 0 IN IP4 127.0.0.1\r\ns=SIP Call\r\nb=AS:4064\r\nt=0 0\r\nm=audio 30000 RTP/AVP 114 9 124 0 8 116 18 101\r\nc=IN IP4 127.0.0.1\r\nb=TIAS:64000\r\na=rtpmap:114 opus/48000/2\r\na=fmtp:114 maxplaybackrate=16000;sprop-maxcapturerate=16000;maxaveragebitrate=64000;stereo=0;sprop-stereo=0;usedtx=0\r\na=rtpmap:9 G722/8000\r\na=rtpmap:124 ISAC/16000\r\na=rtpmap:0 PCMU/8000\r\na=rtpmap:8 PCMA/8000\r\na=rtpmap:116 iLBC/8000\r\na=fmtp:116 mode=20\r\na=rtpmap:18 G729/8000\r\na=fmtp:18 annexb=yes\r\na=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-15\r\na=sendrecv\r\na=rtcp:30001\r\n",
        replace_origin: true,
        replace_session_connection: false,
        v6: false,
        ice_remove: false,
        original_sendrecv: false,
        rtcp_attr: RtcpAttr::Add,
    },
    Case {
        name: "grandstream_gxp_hold",
        input: "v=0\r\no=1001 8000 8001 IN IP4 192.0.2.40\r\ns=SIP Call\r\nc=IN IP4 0.0.0.0\r\nt=0 0\r\nm=audio 5004 RTP/AVP 0 8 4 18 9 97 2 123 101\r\na=ptime:20\r\na=rtpmap:97 iLBC/8000\r\na=fmtp:97 mode=20\r\na=rtpmap:2 G726-32/8000\r\na=rtpmap:123 opus/48000/2\r\na=fmtp:123 maxplaybackrate=16000; sprop-maxcapturerate=16000; maxaveragebitrate=12000; useinbandfec=1\r\na=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-15\r\na=sendonly\r\n",
        output: "v=0\r\no=1001 8000 8001 IN IP4 192.0.2.40\r\ns=SIP Call\r\nc=IN IP4 0.0.0.0\r\nt=0 0\r\nm=audio 30000 RTP/AVP 0 8 4 18 9 97 2 123 101\r\na=rtpmap:0 PCMU/8000\r\na=rtpmap:8 PCMA/8000\r\na=rtpmap:4 G723/8000\r\na=rtpmap:18 G729/8000\r\na=rtpmap:9 G722/8000\r\na=rtpmap:97 iLBC/8000\r\na=fmtp:97 mode=20\r\na=rtpmap:2 G726-32/8000\r\na=rtpmap:123 opus/48000/2\r\na=fmtp:123 maxplaybackrate=16000; sprop-maxcapturerate=16000; maxaveragebitrate=12000; useinbandfec=1\r\na=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-15\r\na=sendonly\r\na=rtcp:30001\r\na=ptime:20\r\n",
        replace_origin: false,
        replace_session_connection: false,
        v6: false,
        ice_remove: false,
        original_sendrecv: false,
        rtcp_attr: RtcpAttr::Add,
    },
    Case {
        name: "linphone_avpf",
        input: "v=0\r\no=alice 3186 1357 IN IP4 192.0.2.50\r\ns=Talk\r\nc=IN IP4 192.0.2.50\r\nt=0 0\r\na=ice-pwd:31ec21eb38b2ec6d36e8dc7b\r\na=ice-ufrag:0cf8cb3a\r\na=rtcp-xr:rcvr-rtt=all:10000 stat-summary=loss,dup,jitt,TTL voip-metrics\r\nm=audio 7078 RTP/AVPF 96 97 98 0 8 18 101 99 100\r\na=rtpmap:96 opus/48000/2\r\na=fmtp:96 useinbandfec=1\r\na=rtpmap:97 speex/16000\r\na=fmtp:97 vbr=on\r\na=rtpmap:98 speex/8000\r\na=fmtp:98 vbr=on\r\na=fmtp:18 annexb=yes\r\na=rtpmap:101 telephone-event/48000\r\na=rtpmap:99 telephone-event/16000\r\na=rtpmap:100 telephone-event/8000\r\na=rtcp-fb:* trr-int 1000\r\na=rtcp-fb:* ccm tmmbr\r\n",
        output: "v=0\r\no=alice 3186 1357 IN IP4 192.0.2.50\r\ns=Talk\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\na=rtcp-xr:rcvr-rtt=all:10000 stat-summary=loss,dup,jitt,TTL voip-metrics\r\nm=audio 30000 RTP/AVPF 96 97 98 0 8 18 101 99 100\r\na=rtcp-fb:* trr-int 1000\r\na=rtcp-fb:* ccm tmmbr\r\na=rtpmap:96 opus/48000/2\r\na=fmtp:96 useinbandfec=1\r\na=rtpmap:97 speex/16000\r\na=fmtp:97 vbr=on\r\na=rtpmap:98 speex/8000\r\na=fmtp:98 vbr=on\r\na=rtpmap:0 PCMU/8000\r\na=rtpmap:8 PCMA/8000\r\na=rtpmap:18 G729/8000\r\na=fmtp:18 annexb=yes\r\na=rtpmap:101 telephone-event/48000\r\na=rtpmap:99 telephone-event/16000\r\na=rtpmap:100 telephone-event/8000\r\na=sendrecv\r\na=rtcp:30001\r\n",
        replace_origin: false,
        replace_session_connection: false,
        v6: false,
        ice_remove: true,
        original_sendrecv: false,
        rtcp_attr: RtcpAttr::Add,
    },
    Case {
        name: "asterisk_multi",
        input: "v=0\r\no=- 1234567890 1234567891 IN IP4 192.0.2.60\r\ns=Asterisk\r\nc=IN IP4 192.0.2.60\r\nt=0 0\r\nm=audio 16456 RTP/AVP 0 8 3 101\r\na=rtpmap:0 PCMU/8000\r\na=rtpmap:8 PCMA/8000\r\na=rtpmap:3 GSM/8000\r\na=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-16\r\na=ptime:20\r\na=maxptime:150\r\na=sendrecv\r\nm=video 0 RTP/AVP 99\r\na=rtpmap:99 H264/90000\r\na=sendrecv\r\n",
        output: "v=0\r\no=- 1234567890 1234567891 IN IP4 192.0.2.60\r\ns=Asterisk\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 30000 RTP/AVP 0 8 3 101\r\na=maxptime:150\r\na=rtpmap:0 PCMU/8000\r\na=rtpmap:8 PCMA/8000\r\na=rtpmap:3 GSM/8000\r\na=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-16\r\na=sendrecv\r\na=rtcp:30001\r\na=ptime:20\r\nm=video 0 RTP/AVP 99\r\n",
        replace_origin: false,
        replace_session_connection: true,
        v6: false,
        ice_remove: false,
        original_sendrecv: false,
        rtcp_attr: RtcpAttr::Add,
    },
    Case {
        name: "freeswitch_rtcp_mux",
        input: "v=0\r\no=FreeSWITCH 1700000000 1700000001 IN IP4 192.0.2.70\r\ns=FreeSWITCH\r\nc=IN IP4 192.0.2.70\r\nt=0 0\r\nm=audio 24330 RTP/AVP 102 9 0 8 101 13\r\na=rtpmap:102 opus/48000/2\r\na=fmtp:102 useinbandfec=1; maxaveragebitrate=30000; maxplaybackrate=48000; ptime=20; minptime=10; maxptime=40\r\na=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-16\r\na=ptime:20\r\na=rtcp-mux\r\na=rtcp:24330 IN IP4 192.0.2.70\r\na=ssrc:2226184913 cname:p5Hc1xEZbCqV8E1P\r\n",
        output: "v=0\r\no=FreeSWITCH 1700000000 1700000001 IN IP4 192.0.2.70\r\ns=FreeSWITCH\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 30000 RTP/AVP 102 9 0 8 101 13\r\na=ssrc:2226184913 cname:p5Hc1xEZbCqV8E1P\r\na=rtpmap:102 opus/48000/2\r\na=fmtp:102 useinbandfec=1; maxaveragebitrate=30000; maxplaybackrate=48000; ptime=20; minptime=10; maxptime=40\r\na=rtpmap:9 G722/8000\r\na=rtpmap:0 PCMU/8000\r\na=rtpmap:8 PCMA/8000\r\na=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-16\r\na=rtpmap:13 CN/8000\r\na=sendrecv\r\na=rtcp:30001 IN IP4 127.0.0.1\r\na=rtcp-mux\r\na=ptime:20\r\n",
        replace_origin: false,
        replace_session_connection: false,
        v6: false,
        ice_remove: false,
        original_sendrecv: false,
        rtcp_attr: RtcpAttr::Full,
    },
    Case {
        name: "zoiper_v6_translation",
        input: "v=0\r\no=Z 1700000000000 1 IN IP4 192.0.2.80\r\ns=Z\r\nc=IN IP4 192.0.2.80\r\nt=0 0\r\nm=audio 8000 RTP/AVP 106 9 98 101 0 8 3\r\na=rtpmap:106 opus/48000/2\r\na=fmtp:106 sprop-maxcapturerate=16000; minptime=20; useinbandfec=1\r\na=rtpmap:98 telephone-event/48000\r\na=fmtp:98 0-16\r\na=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-16\r\na=sendrecv\r\na=rtcp-mux\r\n",
        output: "v=0\r\no=Z 1700000000000 1 IN IP6 ::1\r\ns=Z\r\nc=IN IP6 ::1\r\nt=0 0\r\nm=audio 30000 RTP/AVP 106 9 98 101 0 8 3\r\na=rtpmap:106 opus/48000/2\r\na=fmtp:106 sprop-maxcapturerate=16000; minptime=20; useinbandfec=1\r\na=rtpmap:9 G722/8000\r\na=rtpmap:98 telephone-event/48000\r\na=fmtp:98 0-16\r\na=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-16\r\na=rtpmap:0 PCMU/8000\r\na=rtpmap:8 PCMA/8000\r\na=rtpmap:3 GSM/8000\r\na=sendrecv\r\na=rtcp:30001\r\na=rtcp-mux\r\n",
        replace_origin: true,
        replace_session_connection: false,
        v6: true,
        ice_remove: false,
        original_sendrecv: false,
        rtcp_attr: RtcpAttr::Add,
    },
    Case {
        name: "session_direction_media_c",
        input: "v=0\r\no=- 5 5 IN IP4 192.0.2.90\r\ns=-\r\nc=IN IP4 192.0.2.90\r\nt=0 0\r\na=recvonly\r\nm=audio 4000 RTP/AVP 8\r\nc=IN IP4 192.0.2.91\r\na=sendonly\r\nm=video 4002 RTP/AVP 96\r\nc=IN IP4 192.0.2.92\r\na=rtpmap:96 VP8/90000\r\na=rtcp-fb:96 nack\r\na=rtcp-fb:96 nack pli\r\na=rtcp-fb:96 ccm fir\r\na=mid:v\r\na=label:2\r\n",
        output: "v=0\r\no=- 5 5 IN IP4 192.0.2.90\r\ns=-\r\nc=IN IP4 192.0.2.90\r\nt=0 0\r\nm=audio 30000 RTP/AVP 8\r\nc=IN IP4 127.0.0.1\r\na=rtpmap:8 PCMA/8000\r\na=recvonly\r\na=rtcp:30001\r\nm=video 30010 RTP/AVP 96\r\nc=IN IP4 127.0.0.1\r\na=label:2\r\na=mid:v\r\na=rtpmap:96 VP8/90000\r\na=rtcp-fb:96 nack\r\na=rtcp-fb:96 nack pli\r\na=rtcp-fb:96 ccm fir\r\na=recvonly\r\na=rtcp:30011\r\n",
        replace_origin: false,
        replace_session_connection: false,
        v6: false,
        ice_remove: false,
        original_sendrecv: false,
        rtcp_attr: RtcpAttr::Add,
    },
    Case {
        name: "bare_lf_no_final_newline",
        input: "v=0\no=- 1 2 IN IP4 192.0.2.1\ns=-\nc=IN IP4 192.0.2.1\nt=0 0\nm=audio 2000 RTP/AVP 0 8\na=ptime:20\na=foo",
        output: "v=0\no=- 1 2 IN IP4 192.0.2.1\ns=-\nc=IN IP4 127.0.0.1\nt=0 0\nm=audio 30000 RTP/AVP 0 8\na=fooa=rtpmap:0 PCMU/8000\r\na=rtpmap:8 PCMA/8000\r\na=sendrecv\r\na=rtcp:30001\r\na=ptime:20\r\n",
        replace_origin: false,
        replace_session_connection: false,
        v6: false,
        ice_remove: false,
        original_sendrecv: false,
        rtcp_attr: RtcpAttr::Add,
    },
    Case {
        name: "original_sendrecv_no_rtcp",
        input: "v=0\r\no=- 1 2 IN IP4 192.0.2.1\r\ns=-\r\nc=IN IP4 192.0.2.1\r\nt=0 0\r\na=inactive\r\nm=audio 2000 RTP/AVP 0\r\na=rtcp:2001\r\na=end-of-candidates\r\n",
        output: "v=0\r\no=- 1 2 IN IP4 192.0.2.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\na=inactive\r\nm=audio 30000 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\na=end-of-candidates\r\n",
        replace_origin: false,
        replace_session_connection: false,
        v6: false,
        ice_remove: false,
        original_sendrecv: true,
        rtcp_attr: RtcpAttr::Omit,
    },
    Case {
        name: "t38_and_msrp",
        input: "v=0\r\no=- 1 2 IN IP4 192.0.2.1\r\ns=-\r\nc=IN IP4 192.0.2.1\r\nt=0 0\r\nm=image 4000 udptl t38\r\na=T38FaxVersion:0\r\na=T38MaxBitRate:14400\r\na=T38FaxRateManagement:transferredTCF\r\na=T38FaxMaxBuffer:262\r\na=T38FaxMaxDatagram:176\r\na=T38FaxUdpEC:t38UDPRedundancy\r\nm=message 5000 TCP/MSRP *\r\na=accept-types:text/plain\r\n",
        output: "v=0\r\no=- 1 2 IN IP4 192.0.2.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=image 30000 udptl t38\r\na=T38FaxVersion:0\r\na=T38MaxBitRate:14400\r\na=T38FaxRateManagement:transferredTCF\r\na=T38FaxMaxBuffer:262\r\na=T38FaxMaxDatagram:176\r\na=T38FaxUdpEC:t38UDPRedundancy\r\na=sendrecv\r\nm=message 5000 TCP/MSRP *\r\nc=IN IP4 192.0.2.1\na=accept-types:text/plain\r\n",
        replace_origin: false,
        replace_session_connection: false,
        v6: false,
        ice_remove: false,
        original_sendrecv: false,
        rtcp_attr: RtcpAttr::Add,
    },
    Case {
        name: "hold_v6_full_rtcp",
        input: "v=0\r\no=- 1 2 IN IP4 198.51.100.1\r\ns=-\r\nc=IN IP4 198.51.100.1\r\nt=0 0\r\nm=audio 2000 RTP/AVP 0\r\nc=IN IP4 0.0.0.0\r\nm=audio 3000 RTP/AVP 8\r\nc=IN IP4 198.51.100.3\r\n",
        output: "v=0\r\no=- 1 2 IN IP6 ::1\r\ns=-\r\nc=IN IP4 198.51.100.1\r\nt=0 0\r\nm=audio 30000 RTP/AVP 0\r\nc=IN IP6 ::\r\na=rtpmap:0 PCMU/8000\r\na=sendonly\r\na=rtcp:30001 IN IP6 ::1\r\nm=audio 30010 RTP/AVP 8\r\nc=IN IP6 ::1\r\na=rtpmap:8 PCMA/8000\r\na=sendrecv\r\na=rtcp:30011 IN IP6 ::1\r\n",
        replace_origin: true,
        replace_session_connection: false,
        v6: true,
        ice_remove: false,
        original_sendrecv: false,
        rtcp_attr: RtcpAttr::Full,
    },
    Case {
        name: "webrtcish_plain_avp_leftovers",
        input: "v=0\r\no=- 4611731400430051336 2 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 192.0.2.100\r\nt=0 0\r\na=group:BUNDLE 0\r\na=extmap-allow-mixed\r\na=msid-semantic: WMS stream\r\nm=audio 9000 RTP/AVP 111 63 9 0 8 13 110 126\r\na=setup:actpass\r\na=mid:0\r\na=extmap:1 urn:ietf:params:rtp-hdrext:ssrc-audio-level\r\na=sendrecv\r\na=msid:stream track\r\na=rtcp:9 IN IP4 0.0.0.0\r\na=rtcp-fb:111 transport-cc\r\na=rtpmap:111 opus/48000/2\r\na=fmtp:111 minptime=10;useinbandfec=1\r\na=rtpmap:63 red/48000/2\r\na=fmtp:63 111/111\r\na=rtpmap:110 telephone-event/48000\r\na=rtpmap:126 telephone-event/8000\r\na=ssrc:3735928559 cname:abcdefgh\r\na=ssrc:3735928559 msid:stream track\r\n",
        output: "v=0\r\no=- 4611731400430051336 2 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\na=extmap-allow-mixed\r\na=msid-semantic: WMS stream\r\nm=audio 30000 RTP/AVP 111 63 9 0 8 13 110 126\r\na=extmap:1 urn:ietf:params:rtp-hdrext:ssrc-audio-level\r\na=msid:stream track\r\na=ssrc:3735928559 cname:abcdefgh\r\na=ssrc:3735928559 msid:stream track\r\na=mid:0\r\na=rtpmap:111 opus/48000/2\r\na=fmtp:111 minptime=10;useinbandfec=1\r\na=rtcp-fb:111 transport-cc\r\na=rtpmap:63 red/48000/2\r\na=fmtp:63 111/111\r\na=rtpmap:9 G722/8000\r\na=rtpmap:0 PCMU/8000\r\na=rtpmap:8 PCMA/8000\r\na=rtpmap:13 CN/8000\r\na=rtpmap:110 telephone-event/48000\r\na=rtpmap:126 telephone-event/8000\r\na=sendrecv\r\na=rtcp:30001\r\n",
        replace_origin: false,
        replace_session_connection: false,
        v6: false,
        ice_remove: false,
        original_sendrecv: false,
        rtcp_attr: RtcpAttr::Add,
    },
    Case {
        name: "session_hold_only_session_c",
        input: "v=0\r\no=- 10 11 IN IP4 192.0.2.5\r\ns=-\r\nc=IN IP4 0.0.0.0\r\nt=0 0\r\nm=audio 2000 RTP/AVP 0 101\r\na=rtpmap:101 telephone-event/8000\r\na=recvonly\r\nm=audio 2002 RTP/AVP 8\r\n",
        output: "v=0\r\no=- 10 11 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 0.0.0.0\r\nt=0 0\r\nm=audio 30000 RTP/AVP 0 101\r\na=rtpmap:0 PCMU/8000\r\na=rtpmap:101 telephone-event/8000\r\na=inactive\r\na=rtcp:30001\r\nm=audio 30010 RTP/AVP 8\r\na=rtpmap:8 PCMA/8000\r\na=sendonly\r\na=rtcp:30011\r\n",
        replace_origin: true,
        replace_session_connection: false,
        v6: false,
        ice_remove: false,
        original_sendrecv: false,
        rtcp_attr: RtcpAttr::Add,
    },
    Case {
        name: "static_pt_table_and_unknown",
        input: "v=0\r\no=- 1 2 IN IP4 198.51.100.1\r\ns=-\r\nc=IN IP4 198.51.100.1\r\nt=0 0\r\na=sendonly\r\nm=audio 2000 RTP/AVP 0 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20 25 26 28 31 32 33 34 35 96 97 127 08\r\na=rtpmap:0 pcmu/8000\r\na=fmtp:96 foo=bar\r\na=rtpmap:97 opus/48000/2\r\na=fmtp:97 useinbandfec=1\r\na=rtcp-fb:* nack\r\na=rtcp-fb:97 nack pli\r\na=rtpmap:98 unused/8000\r\na=rtpmap:broken\r\n",
        output: "v=0\r\no=- 1 2 IN IP4 198.51.100.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 30000 RTP/AVP 0 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20 25 26 28 31 32 33 34 35 96 97 127 8\r\na=rtcp-fb:* nack\r\na=rtpmap:broken\r\na=rtpmap:0 pcmu/8000\r\na=rtpmap:1 /0\r\na=rtpmap:2 /0\r\na=rtpmap:3 GSM/8000\r\na=rtpmap:4 G723/8000\r\na=rtpmap:5 DVI4/8000\r\na=rtpmap:6 DVI4/16000\r\na=rtpmap:7 LPC/8000\r\na=rtpmap:8 PCMA/8000\r\na=rtpmap:9 G722/8000\r\na=rtpmap:10 L16/44100\r\na=rtpmap:11 L16/44100/2\r\na=rtpmap:12 QCELP/8000\r\na=rtpmap:13 CN/8000\r\na=rtpmap:14 MPA/90000\r\na=rtpmap:15 G728/8000\r\na=rtpmap:16 DVI4/11025\r\na=rtpmap:17 DVI4/22050\r\na=rtpmap:18 G729/8000\r\na=rtpmap:19 /0\r\na=rtpmap:20 /0\r\na=rtpmap:25 CelB/90000\r\na=rtpmap:26 JPEG/90000\r\na=rtpmap:28 nv/90000\r\na=rtpmap:31 H261/90000\r\na=rtpmap:32 MPV/90000\r\na=rtpmap:33 MP2T/90000\r\na=rtpmap:34 H263/90000\r\na=rtpmap:35 /0\r\na=rtpmap:96 /0\r\na=fmtp:96 foo=bar\r\na=rtpmap:97 opus/48000/2\r\na=fmtp:97 useinbandfec=1\r\na=rtcp-fb:97 nack pli\r\na=rtpmap:127 /0\r\na=rtpmap:8 PCMA/8000\r\na=sendonly\r\na=rtcp:30001\r\n",
        replace_origin: false,
        replace_session_connection: false,
        v6: false,
        ice_remove: false,
        original_sendrecv: false,
        rtcp_attr: RtcpAttr::Add,
    },
    Case {
        name: "duplicate_pts_last_wins",
        input: "v=0\r\no=- 1 2 IN IP4 198.51.100.1\r\ns=-\r\nc=IN IP4 198.51.100.1\r\nt=0 0\r\nm=video 2000 RTP/AVPF 96 96\r\na=rtpmap:96 VP8/90000\r\na=rtpmap:96 H264/90000\r\na=fmtp:96 x=1\r\na=fmtp:96 x=2\r\na=rtcp-fb:96 nack\r\n",
        output: "v=0\r\no=- 1 2 IN IP4 198.51.100.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=video 30000 RTP/AVPF 96 96\r\na=rtpmap:96 H264/90000\r\na=fmtp:96 x=2\r\na=rtcp-fb:96 nack\r\na=rtpmap:96 H264/90000\r\na=fmtp:96 x=2\r\na=sendrecv\r\na=rtcp:30001\r\n",
        replace_origin: false,
        replace_session_connection: false,
        v6: false,
        ice_remove: false,
        original_sendrecv: false,
        rtcp_attr: RtcpAttr::Add,
    },
    Case {
        name: "odd_protos",
        input: "v=0\r\no=- 1 2 IN IP4 198.51.100.1\r\ns=-\r\nc=IN IP4 198.51.100.1\r\nt=0 0\r\nm=audio 2000 FOO/BAR 0 abc\r\na=rtpmap:0 PCMU/8000\r\na=ptime:20\r\na=rtcp:2001\r\na=sendrecv\r\nm=message 5000 TCP/MSRP *\r\ni=chat\r\nb=AS:10\r\na=path:msrp://x\r\nm=audio 2004 RTP/AVP\r\na=ptime:0\r\n",
        output: "v=0\r\no=- 1 2 IN IP4 198.51.100.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 30000 FOO/BAR 0 abc\r\na=rtpmap:0 PCMU/8000\r\na=sendrecv\r\nm=message 5000 TCP/MSRP *\r\ni=chat\r\nc=IN IP4 198.51.100.1\nb=AS:10\r\na=path:msrp://x\r\nm=audio 30020 RTP/AVP\r\na=ptime:0\r\na=sendrecv\r\na=rtcp:30021\r\n",
        replace_origin: false,
        replace_session_connection: false,
        v6: false,
        ice_remove: false,
        original_sendrecv: false,
        rtcp_attr: RtcpAttr::Add,
    },
    Case {
        name: "ice_default_strips_non_ice_leftovers",
        input: "v=0\r\no=- 1 2 IN IP4 198.51.100.1\r\ns=-\r\nc=IN IP4 198.51.100.1\r\nt=0 0\r\na=ice-lite\r\na=ice-options:trickle\r\nm=audio 2000 RTP/AVP 0\r\na=candidate:1 1 UDP 2130706431 198.51.100.1 2000 typ host\r\na=candidate:2 1 UDP 1694498815 203.0.113.1 2000 typ srflx raddr 198.51.100.1 rport 2000\r\na=candidate:bad\r\na=remote-candidates:1 198.51.100.1 2000\r\na=ice-mismatch\r\na=end-of-candidates\r\na=crypto:1 BOGUS\r\na=rtcp:abc\r\na=rtcp-mux\r\na=setup:actpass\r\n",
        output: "v=0\r\no=- 1 2 IN IP4 198.51.100.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 30000 RTP/AVP 0\r\na=candidate:bad\r\na=crypto:1 BOGUS\r\na=rtpmap:0 PCMU/8000\r\na=sendrecv\r\na=rtcp:30001\r\na=rtcp-mux\r\na=end-of-candidates\r\n",
        replace_origin: false,
        replace_session_connection: false,
        v6: false,
        ice_remove: false,
        original_sendrecv: false,
        rtcp_attr: RtcpAttr::Add,
    },
    Case {
        name: "rejected_and_bandwidth",
        input: "v=0\r\no=- 1 2 IN IP4 198.51.100.1\r\ns=-\r\nc=IN IP4 198.51.100.1\r\nt=0 0\r\nm=audio 2000 RTP/AVP 0\r\nb=AS:64\r\na=foo\r\nb=RR:0\r\nk=clear:x\r\ni=media info\r\nm=video 0 RTP/AVP 31\r\nc=IN IP4 198.51.100.2\r\na=rtpmap:31 H261/90000\r\na=mid:1\r\na=foo\r\na=end-of-candidates\r\n",
        output: "v=0\r\no=- 1 2 IN IP4 198.51.100.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 30000 RTP/AVP 0\r\nb=AS:64\r\na=foo\r\nb=RR:0\r\nk=clear:x\r\ni=media info\r\na=rtpmap:0 PCMU/8000\r\na=sendrecv\r\na=rtcp:30001\r\nm=video 0 RTP/AVP 31\r\nc=IN IP4 127.0.0.1\r\na=foo\r\na=mid:1\r\na=end-of-candidates\r\n",
        replace_origin: false,
        replace_session_connection: false,
        v6: false,
        ice_remove: false,
        original_sendrecv: false,
        rtcp_attr: RtcpAttr::Add,
    },
    Case {
        name: "trailing_byte_and_loop_protect_off",
        input: "v=0\r\no=- 1 2 IN IP4 1.2.3.4\r\ns=-\r\nc=IN IP4 1.2.3.4\r\nt=0 0\r\nm=audio 2000 RTP/AVP 0\r\na=foo\r\nx",
        output: "v=0\r\no=- 1 2 IN IP4 1.2.3.4\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 30000 RTP/AVP 0\r\na=foo\r\na=rtpmap:0 PCMU/8000\r\na=sendrecv\r\na=rtcp:30001\r\nx",
        replace_origin: false,
        replace_session_connection: false,
        v6: false,
        ice_remove: false,
        original_sendrecv: false,
        rtcp_attr: RtcpAttr::Add,
    },
    Case {
        name: "blank_line_truncates",
        input: "v=0\r\no=- 1 2 IN IP4 1.2.3.4\r\ns=-\r\nc=IN IP4 1.2.3.4\r\nt=0 0\r\nm=audio 2000 RTP/AVP 0\r\na=foo\r\n\r\n",
        output: "v=0\r\no=- 1 2 IN IP4 1.2.3.4\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 30000 RTP/AVP 0\r\na=foo\r\na=rtpmap:0 PCMU/8000\r\na=sendrecv\r\na=rtcp:30001\r\n",
        replace_origin: false,
        replace_session_connection: false,
        v6: false,
        ice_remove: false,
        original_sendrecv: false,
        rtcp_attr: RtcpAttr::Add,
    },
];

/// `replace: [SDP-version]` over five offers on one call, as observed:
/// versions 5, 6, 7, 8, 9 while the output changed each time (the o=
/// username, `s=` and port changed), and 7, 7, 7 for identical re-offers.
#[test]
fn sdp_version_follows_rtpengine() {
    let offer = |user: &str, ver: u32, name: &str| {
        format!("v=0\r\no={user} 100 {ver} IN IP4 198.51.100.1\r\ns={name}\r\nc=IN IP4 198.51.100.1\r\nt=0 0\r\nm=audio 2000 RTP/AVP 0\r\n")
    };
    let plan = |sdp: &SessionDescription| RewritePlan {
        media: vec![
            MediaRewrite {
                address: "127.0.0.1".parse().unwrap(),
                port: 30000,
                rtcp_port: 30001,
                rtcp_mux: false,
                direction: None,
                proto: None,
                keep_formats: None,
                default_ptime: None,
                crypto: Vec::new(),
            };
            sdp.media.len()
        ],
        ..RewritePlan::default()
    };
    let first = parse(offer("alice", 5, "A").as_bytes()).unwrap();
    let mut st = SdpVersionState::new(&first.origin.session_version, 42);
    let mut seen = Vec::new();
    for (u, v, n) in [
        ("alice", 5, "A"),
        ("bob", 5, "B"),
        ("carol", 9, "C"),
        ("dave", 9, "D"),
        ("eve", 0, "E"),
    ] {
        let sdp = parse(offer(u, v, n).as_bytes()).unwrap();
        let out = parse(&st.rewrite(&sdp, &plan(&sdp))).unwrap();
        seen.push(out.origin.session_version);
    }
    assert_eq!(seen, ["5", "6", "7", "8", "9"]);

    let sdp = parse(offer("alice", 7, "A").as_bytes()).unwrap();
    let mut st = SdpVersionState::new("7", 42);
    for _ in 0..3 {
        let out = parse(&st.rewrite(&sdp, &plan(&sdp))).unwrap();
        assert_eq!(out.origin.session_version, "7");
    }
    assert_eq!(SdpVersionState::new("0", 42).version(), 42);
    assert_eq!(SdpVersionState::new("x", 43).version(), 43);
}

/// `replace: [username, session-name]` pins both to the first offer's values
/// (the caller remembers them); `loop-protect` appends `a=rtpengine:<id>`
/// after the session-level lines.
#[test]
fn username_session_name_and_loop_protect() {
    let sdp = parse(b"v=0\r\no=bob 100 5 IN IP4 198.51.100.1\r\ns=B\r\nc=IN IP4 198.51.100.1\r\nt=0 0\r\na=foo\r\nm=audio 2000 RTP/AVP 0\r\n").unwrap();
    let plan = RewritePlan {
        username: Some("alice".into()),
        session_name: Some("A".into()),
        loop_protect: Some("2e6f8f37401e".into()),
        media: vec![MediaRewrite {
            address: "127.0.0.1".parse().unwrap(),
            port: 30000,
            rtcp_port: 30001,
            rtcp_mux: false,
            direction: Some(Direction::Inactive),
            proto: Some("RTP/AVPF".into()),
            keep_formats: None,
            default_ptime: None,
            crypto: Vec::new(),
        }],
        ..RewritePlan::default()
    };
    assert_eq!(
        String::from_utf8(rewrite(&sdp, &plan)).unwrap(),
        "v=0\r\no=alice 100 5 IN IP4 198.51.100.1\r\ns=A\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\na=foo\r\n\
a=rtpengine:2e6f8f37401e\r\nm=audio 30000 RTP/AVPF 0\r\na=rtpmap:0 PCMU/8000\r\na=inactive\r\na=rtcp:30001\r\n"
    );
}

/// rtpengine's derived direction: media-then-session lookup per attribute.
#[test]
fn stream_direction_quirks() {
    let sdp = parse(b"v=0\r\no=- 1 2 IN IP4 1.2.3.4\r\nc=IN IP4 1.2.3.4\r\na=inactive\r\nm=audio 1 RTP/AVP 0\r\na=sendrecv\r\nm=audio 2 RTP/AVP 0\r\nc=IN IP4 0.0.0.0\r\nm=audio 3 RTP/AVP 0\r\na=recvonly\r\na=sendonly\r\n").unwrap();
    assert_eq!(sdp.media[0].direction(), Some(Direction::SendRecv));
    assert_eq!(sdp.stream_direction(0), Direction::Inactive);
    assert_eq!(sdp.stream_direction(1), Direction::Inactive);
    assert_eq!(sdp.stream_direction(2), Direction::RecvOnly);
    assert_eq!(sdp.direction(), Some(Direction::Inactive));
}
