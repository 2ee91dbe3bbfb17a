//! The frame path: ns per frame for a 32-frame batch of 214-byte IPv4 RTP frames (172
//! bytes of UDP payload: G.711 at 20 ms) against tables of 1, 10k and 1M entries with
//! random keys, each frame hitting a random entry; plus parse-only and rewrite-only costs
//! and the payload checksum a rewrite avoids by reusing the sum parse computed.
//!
//! Forwarding rewrites frames in place, so each iteration first copies the received
//! frames back into the same 32 buffers (cache-hot, like a receive ring that the NIC has
//! just written into the last-level cache); `frame-parts/restore-32` measures that copy
//! alone, to subtract.

use std::net::{Ipv4Addr, SocketAddr};
use std::time::Duration;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use dataplane::frame::{checksum, parse, rewrite, ParsedFrame, UdpFrameRepr};
use dataplane::{Frame, FrameConfig, FrameProcessor, WorkerCounters, BATCH_SIZE};
use shared_tables::{FlowAction, FlowKey, FlowTable, SrcMismatch};

const OUR_MAC: [u8; 6] = [2, 0, 0, 0, 0, 1];
const PEER_MAC: [u8; 6] = [2, 0, 0, 0, 0, 2];
const NEXT_HOP_MAC: [u8; 6] = [2, 0, 0, 0, 0, 3];
const PEER: SocketAddr = SocketAddr::new(std::net::IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1)), 5004);
const PAYLOAD_LEN: usize = 172;
const FRAME_LEN: usize = 14 + 20 + 8 + PAYLOAD_LEN;
const HEADROOM: usize = 128;
/// Distinct forward destinations (all learned neighbours), spread over the entries.
const DESTINATIONS: u32 = 1000;

/// xorshift64*: deterministic keys without a dependency.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
}

fn destination(i: u32) -> SocketAddr {
    SocketAddr::from((Ipv4Addr::from(0xc633_6400 + i % DESTINATIONS), 6000))
}

/// A table of `entries` random local addresses (10.0.0.0/8, even ports); returns the
/// keys actually inserted.
fn table(entries: usize) -> (FlowTable, Vec<SocketAddr>) {
    let t = FlowTable::create(entries).unwrap();
    let mut w = t.writer().unwrap();
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let mut keys = Vec::with_capacity(entries);
    for i in 0..entries {
        let r = rng.next();
        let ip = Ipv4Addr::from(0x0a00_0000 | (r as u32 & 0x00ff_ffff));
        let local = SocketAddr::from((ip, ((r >> 32) as u16) & !1 | 1024));
        let a = FlowAction {
            dst: destination(i as u32),
            src: SocketAddr::from((ip, local.port() ^ 2)),
            expected_src: Some(PEER),
            src_mismatch: SrcMismatch::Drop,
            tos: 0xb8,
            flags: 0,
            stream_id: i as u64,
        };
        w.upsert(FlowKey::new(local), &a).unwrap();
        keys.push(local);
    }
    (t, keys)
}

fn rtp_payload() -> [u8; PAYLOAD_LEN] {
    let mut p = [0xd5u8; PAYLOAD_LEN];
    p[..12].copy_from_slice(&[0x80, 8, 0, 1, 0, 0, 0, 160, 1, 2, 3, 4]);
    p
}

/// A receive buffer (headroom, frame, tailroom) with a frame from the peer to `local`.
fn rx_buffer(local: SocketAddr) -> Vec<u8> {
    let mut buf = vec![0u8; HEADROOM + FRAME_LEN + 64];
    let repr = UdpFrameRepr {
        dst_mac: OUR_MAC,
        src_mac: PEER_MAC,
        vlan_tci: None,
        src: PEER,
        dst: local,
        tos: 0,
        hop_limit: 64,
    };
    let len = repr.emit(&mut buf, HEADROOM, &rtp_payload()).unwrap();
    assert_eq!(len, FRAME_LEN);
    buf
}

fn processor() -> FrameProcessor {
    let mut p = FrameProcessor::new(FrameConfig {
        mac: OUR_MAC,
        neighbour_capacity: 1 << 16,
    });
    for i in 0..DESTINATIONS {
        p.learn_neighbour(destination(i).ip(), NEXT_HOP_MAC, Duration::ZERO);
    }
    p
}

/// Puts the received frames back where forwarding rewrote them.
fn restore(bufs: &mut [Vec<u8>], template: &[Vec<u8>]) {
    for (b, t) in bufs.iter_mut().zip(template) {
        b[HEADROOM..HEADROOM + FRAME_LEN].copy_from_slice(&t[HEADROOM..HEADROOM + FRAME_LEN]);
    }
}

fn bench_process(c: &mut Criterion) {
    let mut g = c.benchmark_group("frame-process");
    g.throughput(Throughput::Elements(BATCH_SIZE as u64));
    g.measurement_time(Duration::from_secs(3));
    g.warm_up_time(Duration::from_secs(1));
    for entries in [1usize, 10_000, 1_000_000] {
        let (t, keys) = table(entries);
        let r = t.reader();
        let mut p = processor();
        let mut counters = WorkerCounters::default();
        let mut rng = Rng(entries as u64 | 1);
        let template: Vec<Vec<u8>> = (0..BATCH_SIZE)
            .map(|_| rx_buffer(keys[rng.next() as usize % keys.len()]))
            .collect();
        let mut bufs = template.clone();
        let now = Duration::from_secs(1);
        g.bench_with_input(
            BenchmarkId::new("random-entries", entries),
            &entries,
            |b, _| {
                b.iter(|| {
                    restore(&mut bufs, &template);
                    let mut it = bufs.iter_mut();
                    let mut frames: [Frame<'_>; BATCH_SIZE] = core::array::from_fn(|_| {
                        Frame::new(it.next().expect("BATCH_SIZE buffers"), HEADROOM, FRAME_LEN)
                    });
                    p.process(&mut frames, &r, &mut counters, now);
                })
            },
        );
        assert_eq!(
            counters.forwarded, counters.rx_packets,
            "every frame forwarded"
        );
    }
    g.finish();
}

fn bench_parts(c: &mut Criterion) {
    let mut g = c.benchmark_group("frame-parts");
    g.measurement_time(Duration::from_secs(2));
    g.warm_up_time(Duration::from_secs(1));
    let local = SocketAddr::from(([10, 0, 0, 1], 30_000));
    let mut buf = rx_buffer(local);
    let frame = buf[HEADROOM..HEADROOM + FRAME_LEN].to_vec();
    g.bench_function("parse", |b| b.iter(|| parse(std::hint::black_box(&frame))));

    let Ok(ParsedFrame::Udp(rx)) = parse(&frame) else {
        panic!("bench frame does not parse")
    };
    for (name, src, dst) in [
        ("rewrite-v4-v4", "10.0.0.1:30002", "198.51.100.1:6000"),
        (
            "rewrite-v4-v6",
            "[2001:db8::1]:30002",
            "[2001:db8:1::1]:6000",
        ),
    ] {
        let out = UdpFrameRepr {
            dst_mac: NEXT_HOP_MAC,
            src_mac: OUR_MAC,
            vlan_tci: None,
            src: src.parse().unwrap(),
            dst: dst.parse().unwrap(),
            tos: 0xb8,
            hop_limit: 64,
        };
        // The payload never moves, so rewriting the same buffer again is the same work.
        g.bench_function(name, |b| {
            b.iter(|| rewrite(&mut buf, HEADROOM, std::hint::black_box(&rx), &out))
        });
    }
    let template: Vec<Vec<u8>> = (0..BATCH_SIZE).map(|_| rx_buffer(local)).collect();
    let mut bufs = template.clone();
    g.bench_function("restore-32", |b| b.iter(|| restore(&mut bufs, &template)));

    let payload = rtp_payload();
    g.bench_function("payload-checksum-172", |b| {
        b.iter(|| checksum::sum(std::hint::black_box(&payload)))
    });
    g.finish();
}

criterion_group!(benches, bench_process, bench_parts);
criterion_main!(benches);
