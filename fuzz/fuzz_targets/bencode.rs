//! Fuzzes the ng front door: datagram parsing, request typing, TCP framing, and the
//! bencode round trip (anything that decodes must re-encode to an equal value).
#![no_main]

use controlplane::ng::{self, bencode, NgRequest};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    match ng::parse_datagram(data) {
        Ok(msg) => {
            let _ = NgRequest::from_value(&msg.body);
        }
        Err(e) => {
            let _ = ng::error_reply_for(data, &e);
        }
    }
    if let Ok(Some(n)) = ng::frame_stream(data) {
        assert!(n <= data.len());
    }
    if let Ok(v) = bencode::decode(data) {
        let _ = NgRequest::from_value(&v);
        let mut out = Vec::new();
        bencode::encode(&v, &mut out);
        assert_eq!(bencode::decode(&out).ok(), Some(v));
    }
});
