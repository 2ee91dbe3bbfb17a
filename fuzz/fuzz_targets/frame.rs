//! Drives `FrameProcessor::process` with arbitrary frames against a fixed table covering
//! every flow policy and both address families, checking that every frame gets exactly one
//! verdict, that the counters add up, and that a transmitted frame is a well-formed UDP
//! frame inside its buffer.
//!
//! Raw bytes rarely get past the checksums, so half of the inputs are turned into valid
//! UDP frames to a table entry first (the input choosing family, VLAN, ports and payload);
//! the other half go in as they are.
#![no_main]

use std::net::{IpAddr, SocketAddr};
use std::sync::OnceLock;
use std::time::Duration;

use dataplane::frame::{parse, ParsedFrame, UdpFrameRepr};
use dataplane::{Frame, FrameConfig, FrameProcessor, FrameVerdict, WorkerCounters};
use libfuzzer_sys::fuzz_target;
use shared_tables::{FlowAction, FlowKey, FlowTable, SrcMismatch, FLOW_BLACKHOLE, FLOW_RTCP};

const OUR_MAC: [u8; 6] = [2, 0, 0, 0, 0, 1];
const PEER_MAC: [u8; 6] = [2, 0, 0, 0, 0, 2];
/// DPDK's default mbuf headroom; the input can ask for less.
const HEADROOM: usize = 128;

/// Local ports 0..8 on one IPv4 and one IPv6 address: 0..=5 have entries (plain, RTCP,
/// blackhole, each mismatch policy; even ones forward across families), 6 and 7 none.
fn local(i: u8) -> SocketAddr {
    let port = 30_000 + u16::from(i & 7);
    if i & 8 == 0 {
        SocketAddr::from(([192, 0, 2, 1], port))
    } else {
        SocketAddr::from(([0x2001, 0xdb8, 0, 0, 0, 0, 0, 1], port))
    }
}

fn peer(v6: bool, expected: bool) -> SocketAddr {
    let port = if expected { 100 } else { 101 };
    if v6 {
        SocketAddr::from(([0x2001, 0xdb8, 0, 0, 0, 0, 0, 2], port))
    } else {
        SocketAddr::from(([192, 0, 2, 2], port))
    }
}

fn table() -> &'static FlowTable {
    static T: OnceLock<FlowTable> = OnceLock::new();
    T.get_or_init(|| {
        let t = FlowTable::create(32).expect("small table");
        let mut w = t.writer().expect("first writer");
        for v6 in [false, true] {
            let base = FlowAction {
                dst: SocketAddr::from(([198, 51, 100, 7], 6000)),
                src: SocketAddr::from(([192, 0, 2, 1], 30_001)),
                expected_src: Some(peer(v6, true)),
                src_mismatch: SrcMismatch::Drop,
                tos: 0xb8,
                flags: 0,
                stream_id: 0,
            };
            let cross = FlowAction {
                dst: SocketAddr::from(([0x2001, 0xdb8, 1, 0, 0, 0, 0, 7], 6000)),
                src: SocketAddr::from(([0x2001, 0xdb8, 0, 0, 0, 0, 0, 1], 30_001)),
                ..base
            };
            let variants = [
                FlowAction {
                    expected_src: None,
                    ..base
                },
                FlowAction {
                    flags: FLOW_RTCP,
                    ..cross
                },
                FlowAction {
                    flags: FLOW_BLACKHOLE,
                    ..base
                },
                FlowAction {
                    src_mismatch: SrcMismatch::Forward,
                    ..cross
                },
                FlowAction {
                    src_mismatch: SrcMismatch::Punt,
                    ..base
                },
                cross,
            ];
            for (i, a) in variants.iter().enumerate() {
                let key = local(i as u8 | if v6 { 8 } else { 0 });
                w.upsert(FlowKey::new(key), a).expect("fits");
            }
        }
        drop(w);
        t
    })
}

fn processor() -> FrameProcessor {
    let mut p = FrameProcessor::new(FrameConfig {
        mac: OUR_MAC,
        neighbour_capacity: 64,
    });
    // The IPv4 destination is known; the IPv6 one only if the input teaches it.
    p.learn_neighbour(
        IpAddr::from([198, 51, 100, 7]),
        [2, 0, 0, 0, 0, 3],
        Duration::ZERO,
    );
    p
}

fuzz_target!(|data: &[u8]| {
    let t = table();
    let mut p = processor();
    // Framing: [control, selector, headroom, len] then `len` bytes, repeated. Control bit
    // 0 builds a valid UDP frame (selector: local entry, family, VLAN, expected source)
    // around the bytes; otherwise the bytes are the frame.
    let mut bufs: Vec<(Vec<u8>, usize, usize)> = Vec::new();
    let mut rest = data;
    while let [control, sel, headroom, len, tail @ ..] = rest {
        let n = usize::from(*len).min(tail.len());
        let (bytes, next) = tail.split_at(n);
        rest = next;
        let off = usize::from(*headroom) % (HEADROOM + 1);
        let mut buf = vec![0u8; off + 18 + 40 + 8 + bytes.len() + 16];
        let len = if control & 1 == 0 {
            let v6 = sel & 8 != 0;
            let repr = UdpFrameRepr {
                dst_mac: if control & 2 == 0 { OUR_MAC } else { [0xff; 6] },
                src_mac: PEER_MAC,
                vlan_tci: (sel & 16 != 0).then_some(u16::from(*control >> 4)),
                src: peer(v6, sel & 32 == 0),
                dst: local(*sel),
                tos: 0,
                hop_limit: 64,
            };
            repr.emit(&mut buf, off, bytes)
                .expect("buffer sized for it")
        } else {
            buf[off..off + n].copy_from_slice(bytes);
            n
        };
        bufs.push((buf, off, len));
        if bufs.len() == dataplane::BATCH_SIZE {
            break;
        }
    }
    let mut frames: Vec<Frame<'_>> = bufs
        .iter_mut()
        .map(|(b, off, len)| Frame::new(b, *off, *len))
        .collect();
    let mut c = WorkerCounters::default();
    p.process(&mut frames, &t.reader(), &mut c, Duration::from_secs(1));

    assert_eq!(c.rx_packets, frames.len() as u64);
    assert_eq!(
        c.forwarded + c.punted + c.to_kernel + c.dropped_malformed + c.dropped_policy,
        c.rx_packets
    );
    assert!(c.checksum_errors <= c.dropped_malformed);
    assert!(c.no_neighbour + c.no_headroom + c.over_mtu <= c.punted);
    for f in &frames {
        match f.verdict {
            FrameVerdict::Pending => panic!("frame without verdict"),
            FrameVerdict::Transmit => {
                assert!(f.off + f.len <= f.buf.len());
                match parse(f.data()) {
                    Ok(ParsedFrame::Udp(u)) => {
                        assert_eq!(u.src_mac, OUR_MAC);
                        assert_eq!(u.dst.port(), 6000);
                    }
                    other => panic!("transmitted frame does not parse as UDP: {other:?}"),
                }
            }
            FrameVerdict::Kernel | FrameVerdict::Drop(_) => {}
        }
    }
});
