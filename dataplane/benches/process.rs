//! ns/packet of `process` over a 32-packet batch at 1, 10k and 1M table entries.
//!
//! "srtp": one flow whose entry carries keys, AES_CM_128_HMAC_SHA1_80 with a 160-byte
//! payload: RTP→SRTP (encrypt), SRTP→RTP (decrypt) and SRTP→SRTP re-keying (decrypt and
//! re-encrypt), against the same plain forward; each batch is fresh SRTP from a sender
//! (protected outside the timing), as replays would take the cheap drop path.
//!
//! "srtp-many-flows": RTP→SRTP over 4096 keyed flows, each batch 32 different ones.
//!
//! Two batch shapes: "same-flow" (one socket's recvmmsg batch: one key, the common case,
//! where `process` reuses the lookup) and "distinct-flows" (32 different keys spread over
//! the table: every packet pays a full lookup, the DPDK/AF_XDP worst case).

use std::net::{Ipv4Addr, SocketAddr};
use std::time::Duration;

use criterion::{criterion_group, criterion_main, BatchSize, BenchmarkId, Criterion, Throughput};
use dataplane::{process, Batch, WorkerCounters, BATCH_SIZE};
use shared_tables::{FlowAction, FlowCrypto, FlowKey, FlowTable, SrcMismatch, SrtpKey};
use srtp::{MasterKey, RtpStreamState, SessionFlags, SrtpSession, SrtpSuite};

/// Entry `i`'s local address: spread over addresses and even ports like real media ports.
fn local(i: usize) -> SocketAddr {
    let ip = Ipv4Addr::from(0x0a00_0000u32 + (i / 30_000) as u32);
    SocketAddr::from((ip, 2 * (i % 30_000) as u16 + 1024))
}

const PEER: SocketAddr = SocketAddr::new(std::net::IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1)), 5004);

fn table(entries: usize) -> FlowTable {
    let t = FlowTable::create(entries).unwrap();
    let mut w = t.writer().unwrap();
    for i in 0..entries {
        let a = FlowAction {
            dst: SocketAddr::from(([198, 51, 100, 1], 6000)),
            src: local(i ^ 1),
            expected_src: Some(PEER),
            src_mismatch: SrcMismatch::Drop,
            tos: 0xb8,
            flags: 0,
            stream_id: i as u64,
        };
        w.upsert(FlowKey::new(local(i)), &a).unwrap();
    }
    // The writer is dropped; entries stay.
    t
}

fn rtp() -> [u8; 172] {
    let mut p = [0u8; 172];
    p[0] = 0x80;
    p[1] = 8;
    p
}

fn bench(c: &mut Criterion) {
    let mut g = c.benchmark_group("process");
    g.throughput(Throughput::Elements(BATCH_SIZE as u64));
    g.measurement_time(Duration::from_secs(3));
    g.warm_up_time(Duration::from_secs(1));
    let pkt = rtp();
    for entries in [1usize, 10_000, 1_000_000] {
        let t = table(entries);
        let r = t.reader();
        let mut counters = WorkerCounters::default();
        let mut srtp = dataplane::SrtpStage::default();

        let mut same = Batch::new();
        let key = local(entries / 2);
        for _ in 0..BATCH_SIZE {
            same.push(key, PEER, &pkt);
        }
        g.bench_with_input(BenchmarkId::new("same-flow", entries), &entries, |b, _| {
            b.iter(|| process(&mut same, &r, &mut counters, &mut srtp))
        });

        // Keys stepped by a large odd stride so they hit different cache lines/pages.
        let mut keys = (0..entries)
            .step_by((entries / BATCH_SIZE).max(1) | 1)
            .cycle();
        let mut distinct = Batch::new();
        for _ in 0..BATCH_SIZE {
            distinct.push(local(keys.next().unwrap_or(0)), PEER, &pkt);
        }
        g.bench_with_input(
            BenchmarkId::new("distinct-flows", entries),
            &entries,
            |b, _| b.iter(|| process(&mut distinct, &r, &mut counters, &mut srtp)),
        );
    }
    g.finish();
}

fn srtp_key(fill: u8) -> SrtpKey {
    SrtpKey {
        suite: SrtpSuite::AesCm128HmacSha1_80.to_id(),
        key: [fill; 32],
        salt: [fill ^ 0x5a; 14],
        ..SrtpKey::default()
    }
}

fn bench_srtp(c: &mut Criterion) {
    let mut g = c.benchmark_group("process-srtp");
    g.throughput(Throughput::Elements(BATCH_SIZE as u64));
    g.measurement_time(Duration::from_secs(3));
    g.warm_up_time(Duration::from_secs(1));
    let (a, b) = (srtp_key(1), srtp_key(2));
    let cases: [(&str, Option<SrtpKey>, Option<SrtpKey>); 4] = [
        ("plain", None, None),
        ("rtp-to-srtp", None, Some(b)),
        ("srtp-to-rtp", Some(a), None),
        ("srtp-to-srtp", Some(a), Some(b)),
    ];
    for (name, inbound, outbound) in cases {
        let t = FlowTable::create(16).unwrap();
        let mut w = t.writer().unwrap();
        let crypto = FlowCrypto {
            inbound,
            outbound,
            ..FlowCrypto::default()
        };
        let action = FlowAction {
            dst: SocketAddr::from(([198, 51, 100, 1], 6000)),
            src: local(1),
            expected_src: Some(PEER),
            src_mismatch: SrcMismatch::Drop,
            tos: 0xb8,
            flags: crypto.flags(),
            stream_id: 1,
        };
        w.upsert_with_crypto(FlowKey::new(local(0)), &action, &crypto)
            .unwrap();
        let r = t.reader();
        let sender = inbound.map(|k| {
            let m = MasterKey {
                suite: SrtpSuite::AesCm128HmacSha1_80,
                key: k.key,
                salt: k.salt,
                mki: None,
                kdr: 0,
            };
            SrtpSession::new(&m, SessionFlags::default()).unwrap()
        });
        let mut tx = RtpStreamState::default();
        let mut seq = 0u16;
        let mut counters = WorkerCounters::default();
        let mut stage = dataplane::SrtpStage::default();
        let mut buf = [0u8; 256];
        g.bench_function(BenchmarkId::new(name, "AES_CM_128_HMAC_SHA1_80"), |bench| {
            bench.iter_batched_ref(
                || {
                    let mut batch = Batch::new();
                    for _ in 0..BATCH_SIZE {
                        seq = seq.wrapping_add(1);
                        let mut p = rtp();
                        p[2..4].copy_from_slice(&seq.to_be_bytes());
                        let len = match &sender {
                            Some(s) => {
                                buf[..p.len()].copy_from_slice(&p);
                                s.protect_rtp(&mut tx, &mut buf, p.len()).unwrap()
                            }
                            None => {
                                buf[..p.len()].copy_from_slice(&p);
                                p.len()
                            }
                        };
                        batch.push(local(0), PEER, &buf[..len]);
                    }
                    batch
                },
                |batch| process(batch, &r, &mut counters, &mut stage),
                BatchSize::LargeInput,
            )
        });
        assert_eq!(
            counters.dropped_srtp_auth + counters.dropped_srtp_replay,
            0,
            "{name}: every packet must be forwarded, or the figure measures drops"
        );
    }
    g.finish();
}

/// RTP→SRTP over 4096 flows with their own keys, 32 different flows per batch: a
/// media server's mix, where a worker must not rebuild sessions as flows take turns.
fn bench_srtp_many_flows(c: &mut Criterion) {
    const FLOWS: usize = 4096;
    let mut g = c.benchmark_group("process-srtp-many-flows");
    g.throughput(Throughput::Elements(BATCH_SIZE as u64));
    g.measurement_time(Duration::from_secs(3));
    g.warm_up_time(Duration::from_secs(1));
    let t = FlowTable::create(FLOWS).unwrap();
    let mut w = t.writer().unwrap();
    for i in 0..FLOWS {
        let crypto = FlowCrypto {
            outbound: Some(SrtpKey {
                key: [(i % 251) as u8; 32],
                salt: [(i / 251) as u8; 14],
                ..srtp_key(0)
            }),
            ..FlowCrypto::default()
        };
        let action = FlowAction {
            dst: SocketAddr::from(([198, 51, 100, 1], 6000)),
            src: local(i ^ 1),
            expected_src: Some(PEER),
            src_mismatch: SrcMismatch::Drop,
            tos: 0xb8,
            flags: crypto.flags(),
            stream_id: i as u64,
        };
        w.upsert_with_crypto(FlowKey::new(local(i)), &action, &crypto)
            .unwrap();
    }
    let r = t.reader();
    let mut counters = WorkerCounters::default();
    let mut stage = dataplane::SrtpStage::default();
    let mut next = (0..FLOWS).cycle();
    let mut seq = 0u16;
    g.bench_function(BenchmarkId::new("rtp-to-srtp", FLOWS), |bench| {
        bench.iter_batched_ref(
            || {
                let mut batch = Batch::new();
                seq = seq.wrapping_add(1);
                let mut p = rtp();
                p[2..4].copy_from_slice(&seq.to_be_bytes());
                for _ in 0..BATCH_SIZE {
                    batch.push(local(next.next().unwrap_or(0)), PEER, &p);
                }
                batch
            },
            |batch| process(batch, &r, &mut counters, &mut stage),
            BatchSize::LargeInput,
        )
    });
    g.finish();
}

criterion_group!(benches, bench, bench_srtp, bench_srtp_many_flows);
criterion_main!(benches);
