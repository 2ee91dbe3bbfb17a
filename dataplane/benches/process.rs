//! ns/packet of `process` over a 32-packet batch at 1, 10k and 1M table entries.
//!
//! Two batch shapes: "same-flow" (one socket's recvmmsg batch: one key, the common case,
//! where `process` reuses the lookup) and "distinct-flows" (32 different keys spread over
//! the table: every packet pays a full lookup, the DPDK/AF_XDP worst case).

use std::net::{Ipv4Addr, SocketAddr};
use std::time::Duration;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use dataplane::{process, Batch, WorkerCounters, BATCH_SIZE};
use shared_tables::{FlowAction, FlowKey, FlowTable, SrcMismatch};

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

criterion_group!(benches, bench);
criterion_main!(benches);
