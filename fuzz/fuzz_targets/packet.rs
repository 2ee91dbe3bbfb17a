//! Drives `dataplane::process` with arbitrary datagrams against a fixed table covering
//! every flow policy, checking that every packet gets exactly one verdict and that the
//! worker counters add up.
#![no_main]

use std::net::SocketAddr;
use std::sync::OnceLock;

use dataplane::{process, Batch, Verdict, WorkerCounters, MAX_PACKET_LEN};
use libfuzzer_sys::fuzz_target;
use shared_tables::{
    FlowAction, FlowCrypto, FlowKey, FlowTable, SrcMismatch, SrtpKey, FLOW_BLACKHOLE, FLOW_RTCP,
    FLOW_SRTP_IN, FLOW_SRTP_OUT,
};

/// Local ports 0..8: 0..=5 have entries (plain, RTCP, blackhole, and each mismatch
/// policy), 6 is SRTP in and out (re-keying), 7 has none. Sources are port 100 (expected) or anything else.
fn local(i: u8) -> SocketAddr {
    if i & 8 == 0 {
        SocketAddr::from(([127, 0, 0, 1], 30_000 + u16::from(i & 7)))
    } else {
        SocketAddr::from(([0, 0, 0, 0, 0, 0, 0, 1], 30_000 + u16::from(i & 7)))
    }
}

fn table() -> &'static FlowTable {
    // Only the table is kept: the writer is !Sync by design, and entries outlive it.
    static T: OnceLock<FlowTable> = OnceLock::new();
    T.get_or_init(|| {
        let t = FlowTable::create(32).expect("small table");
        let mut w = t.writer().expect("first writer");
        let base = FlowAction {
            dst: SocketAddr::from(([127, 0, 0, 1], 40_000)),
            src: SocketAddr::from(([127, 0, 0, 1], 30_001)),
            expected_src: Some(SocketAddr::from(([127, 0, 0, 1], 100))),
            src_mismatch: SrcMismatch::Drop,
            tos: 0,
            flags: 0,
            stream_id: 0,
        };
        let variants = [
            FlowAction {
                expected_src: None,
                ..base
            },
            FlowAction {
                flags: FLOW_RTCP,
                ..base
            },
            FlowAction {
                flags: FLOW_BLACKHOLE,
                ..base
            },
            FlowAction {
                src_mismatch: SrcMismatch::Forward,
                ..base
            },
            FlowAction {
                src_mismatch: SrcMismatch::Punt,
                ..base
            },
            base,
        ];
        for v6 in [0u8, 8] {
            for (i, a) in variants.iter().enumerate() {
                w.upsert(FlowKey::new(local(i as u8 | v6)), a)
                    .expect("fits");
            }
            let key = |fill: u8| SrtpKey {
                suite: srtp::SrtpSuite::AesCm128HmacSha1_80.to_id(),
                key: [fill; 32],
                salt: [fill; 14],
                ..SrtpKey::default()
            };
            let crypto = FlowCrypto {
                inbound: Some(key(1)),
                outbound: Some(key(2)),
                ..FlowCrypto::default()
            };
            let srtp = FlowAction {
                flags: FLOW_SRTP_IN | FLOW_SRTP_OUT,
                ..base
            };
            w.upsert_with_crypto(FlowKey::new(local(6 | v6)), &srtp, &crypto)
                .expect("fits");
        }
        drop(w);
        t
    })
}

fuzz_target!(|data: &[u8]| {
    let t = table();
    let mut batch = Batch::new();
    // Framing: [local selector, source selector, len] then `len` bytes, repeated.
    let mut rest = data;
    while let [sel, srcsel, len, tail @ ..] = rest {
        let n = usize::from(*len).min(tail.len());
        let src = SocketAddr::from(([127, 0, 0, 1], 100 + u16::from(srcsel & 1)));
        // A length byte of 255 stands for an oversized (truncated-on-receive) datagram.
        let payload = if *len == 255 {
            vec![tail.first().copied().unwrap_or(0x80); MAX_PACKET_LEN + 1]
        } else {
            tail[..n].to_vec()
        };
        if !batch.push(local(*sel), src, &payload) {
            break;
        }
        rest = &tail[n..];
    }
    let mut c = WorkerCounters::default();
    process(&mut batch, &t.reader(), &mut c, &mut dataplane::SrtpStage::new());

    assert_eq!(c.rx_packets, batch.len() as u64);
    assert_eq!(
        c.forwarded
            + c.punted
            + c.dropped_malformed
            + c.dropped_policy
            + c.dropped_srtp_auth
            + c.dropped_srtp_replay,
        c.rx_packets
    );
    for p in batch.packets() {
        match p.verdict() {
            Verdict::Pending => panic!("packet without verdict"),
            Verdict::Forward { .. } => assert!(p.data().len() >= 8 && !p.truncated()),
            Verdict::Drop(_) | Verdict::Punt => {}
        }
    }
});
