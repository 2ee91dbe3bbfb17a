//! The sockets path's packet function. The sockets backend fills a [`Batch`] of UDP
//! payloads, calls [`process`], then flushes packets by verdict. The flow policy itself
//! lives in the private `policy` module, shared with the frame path ([`crate::frame`]) that DPDK and
//! AF_XDP run, so the UDP tests exercise the same decisions.
//!
//! Per packet there is no allocation, lock, syscall, log line or panic. Per-entry
//! counters are added to the table once per run of one entry's packets (once per batch
//! for `recvmmsg` batches, which come from one socket, hence one flow key).

use shared_tables::TableReader;

use crate::batch::{Batch, Verdict};
use crate::counters::WorkerCounters;
use crate::policy::{BatchPolicy, EntryCount};
use crate::srtp::{SrtpOutcome, SrtpStage};

/// Gives every packet in `batch` a verdict, counts it in `counters`, and adds per-entry
/// counts (packets/bytes/last_packet for forwarded and blackholed packets, errors for
/// malformed, source-mismatch and SRTP-rejected drops) to the table. Forwards of SRTP
/// flows are decrypted and/or encrypted in place by `srtp`, the worker's SRTP state.
pub fn process(
    batch: &mut Batch,
    table: &TableReader,
    counters: &mut WorkerCounters,
    srtp: &mut SrtpStage,
) {
    let mut policy = BatchPolicy::new(table, batch.now());
    for pkt in batch.packets_mut() {
        let d = policy.decide(pkt.local(), pkt.src(), pkt.data(), pkt.truncated());
        let rx_len = pkt.len();
        let (mut verdict, mut entry) = (d.verdict, d.entry);
        if let Some(step) = d.srtp {
            match srtp.apply(table, step, pkt.buf_mut(), rx_len) {
                SrtpOutcome::Forward(len) => pkt.set_len(len),
                SrtpOutcome::Drop(r) => {
                    verdict = Verdict::Drop(r);
                    entry = entry.map(|(id, _)| (id, EntryCount::Error));
                }
                SrtpOutcome::Punt => {
                    verdict = Verdict::Punt;
                    entry = entry.map(|(id, _)| (id, EntryCount::None));
                }
            }
        }
        pkt.set_verdict(verdict);
        counters.record(&verdict, rx_len);
        if let Some((id, count)) = entry {
            policy.count(id, count, rx_len);
        }
    }
    policy.finish();
    srtp.publish(table);
    counters.batches += 1;
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::batch::{DropReason, Verdict};
    use core::time::Duration;
    use shared_tables::{
        FlowAction, FlowCounters, FlowKey, FlowTable, SrcMismatch, TableWriter, FLOW_BLACKHOLE,
        FLOW_RTCP,
    };
    use std::net::SocketAddr;

    const RTP: [u8; 12] = [0x80, 0x00, 0, 1, 0, 0, 0, 160, 1, 2, 3, 4];
    const RTCP_RR: [u8; 8] = [0x80, 201, 0, 1, 1, 2, 3, 4];
    const STUN: [u8; 20] = [
        0, 1, 0, 0, 0x21, 0x12, 0xa4, 0x42, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    ];
    const DTLS: [u8; 13] = [22, 0xfe, 0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0];

    fn sa(s: &str) -> SocketAddr {
        s.parse().unwrap()
    }

    const LOCAL: &str = "127.0.0.1:30000";
    const PEER: &str = "127.0.0.1:50000";

    fn action() -> FlowAction {
        FlowAction {
            dst: sa("127.0.0.1:40000"),
            src: sa("127.0.0.1:30002"),
            expected_src: Some(sa(PEER)),
            src_mismatch: SrcMismatch::Drop,
            tos: 0xb8,
            flags: 0,
            stream_id: 9,
        }
    }

    fn setup(a: FlowAction) -> (FlowTable, TableWriter) {
        let t = FlowTable::create(16).unwrap();
        let mut w = t.writer().unwrap();
        w.upsert(FlowKey::new(sa(LOCAL)), &a).unwrap();
        (t, w)
    }

    /// Runs one packet from `src` through `process`.
    fn run(t: &FlowTable, src: &str, data: &[u8]) -> (Verdict, WorkerCounters) {
        let mut b = Batch::new();
        b.set_now(Duration::from_secs(100));
        b.push(sa(LOCAL), sa(src), data);
        let mut c = WorkerCounters::default();
        process(&mut b, &t.reader(), &mut c, &mut SrtpStage::default());
        (b.packets()[0].verdict(), c)
    }

    fn entry(w: &TableWriter) -> FlowCounters {
        w.counters(&FlowKey::new(sa(LOCAL))).unwrap()
    }

    fn forward() -> Verdict {
        Verdict::Forward {
            dst: sa("127.0.0.1:40000"),
            src: sa("127.0.0.1:30002"),
            tos: 0xb8,
        }
    }

    #[test]
    fn rtp_and_rtcp_forward_and_count() {
        let (t, w) = setup(action());
        let (v, c) = run(&t, PEER, &RTP);
        assert_eq!(v, forward());
        assert_eq!((c.forwarded, c.forwarded_bytes, c.batches), (1, 12, 1));
        assert_eq!(run(&t, PEER, &RTCP_RR).0, forward());
        let e = entry(&w);
        assert_eq!((e.packets, e.bytes, e.errors), (2, 20, 0));
        assert_eq!(e.last_packet, Some(Duration::from_secs(100)));
    }

    #[test]
    fn unknown_flow_punts() {
        let t = FlowTable::create(4).unwrap();
        let (v, c) = run(&t, PEER, &RTP);
        assert_eq!(v, Verdict::Punt);
        assert_eq!((c.punted, c.rx_packets), (1, 1));
    }

    #[test]
    fn stun_and_dtls_punt_without_counting_on_entry() {
        let (t, w) = setup(action());
        assert_eq!(run(&t, PEER, &STUN).0, Verdict::Punt);
        // from any source: ICE checks come from candidates we have not latched
        assert_eq!(run(&t, "127.0.0.1:1", &DTLS).0, Verdict::Punt);
        assert_eq!(entry(&w), FlowCounters::default());
    }

    #[test]
    fn malformed_drops_count_entry_errors() {
        let (t, w) = setup(action());
        let (v, c) = run(&t, PEER, &RTP[..11]);
        assert_eq!(v, Verdict::Drop(DropReason::Malformed));
        assert_eq!(c.dropped_malformed, 1);
        assert_eq!(
            run(&t, PEER, &[0x40; 30]).0,
            Verdict::Drop(DropReason::Malformed)
        );
        assert_eq!(run(&t, PEER, &[]).0, Verdict::Drop(DropReason::Malformed));
        let e = entry(&w);
        assert_eq!((e.packets, e.errors, e.last_packet), (0, 3, None));
    }

    #[test]
    fn rtcp_flow_accepts_short_rtp_range_packets() {
        let (t, _w) = setup(FlowAction {
            flags: FLOW_RTCP,
            ..action()
        });
        // 8 bytes with an RTP-looking second byte: RTCP on an RTCP port
        assert_eq!(run(&t, PEER, &RTP[..8]).0, forward());
    }

    #[test]
    fn blackhole_drops_everything_and_counts_packets() {
        let (t, w) = setup(FlowAction {
            flags: FLOW_BLACKHOLE,
            ..action()
        });
        let (v, c) = run(&t, "127.0.0.1:9", &RTP);
        assert_eq!(v, Verdict::Drop(DropReason::Blackhole));
        assert_eq!(c.dropped_policy, 1);
        assert_eq!(run(&t, PEER, &STUN).0, Verdict::Drop(DropReason::Blackhole));
        assert_eq!(entry(&w).packets, 2);
    }

    #[test]
    fn source_mismatch_policies() {
        let stranger = "127.0.0.1:50001";
        let (t, w) = setup(action());
        let (v, c) = run(&t, stranger, &RTP);
        assert_eq!(v, Verdict::Drop(DropReason::SourceMismatch));
        assert_eq!(c.dropped_policy, 1);
        assert_eq!(entry(&w).errors, 1);

        let (t, _w) = setup(FlowAction {
            src_mismatch: SrcMismatch::Punt,
            ..action()
        });
        assert_eq!(run(&t, stranger, &RTP).0, Verdict::Punt);

        let (t, _w) = setup(FlowAction {
            src_mismatch: SrcMismatch::Forward,
            ..action()
        });
        assert_eq!(run(&t, stranger, &RTP).0, forward());

        let (t, _w) = setup(FlowAction {
            expected_src: None,
            ..action()
        });
        assert_eq!(run(&t, stranger, &RTP).0, forward());
    }

    #[test]
    fn truncated_on_receive_is_malformed() {
        let (t, w) = setup(action());
        let mut b = Batch::new();
        b.push(
            sa(LOCAL),
            sa(PEER),
            &vec![0x80; crate::batch::MAX_PACKET_LEN + 10],
        );
        let mut c = WorkerCounters::default();
        process(&mut b, &t.reader(), &mut c, &mut SrtpStage::default());
        assert_eq!(
            b.packets()[0].verdict(),
            Verdict::Drop(DropReason::Malformed)
        );
        assert_eq!(entry(&w).errors, 1);
    }

    #[test]
    fn ipv4_in_ipv6_out() {
        let (t, _w) = setup(FlowAction {
            dst: sa("[::1]:40000"),
            src: sa("[::1]:30002"),
            ..action()
        });
        assert_eq!(
            run(&t, PEER, &RTP).0,
            Verdict::Forward {
                dst: sa("[::1]:40000"),
                src: sa("[::1]:30002"),
                tos: 0xb8
            }
        );
    }

    #[test]
    fn mixed_batch_counts_per_entry_across_runs() {
        let t = FlowTable::create(16).unwrap();
        let mut w = t.writer().unwrap();
        let other = "127.0.0.1:30004";
        w.upsert(FlowKey::new(sa(LOCAL)), &action()).unwrap();
        w.upsert(
            FlowKey::new(sa(other)),
            &FlowAction {
                expected_src: None,
                ..action()
            },
        )
        .unwrap();
        let mut b = Batch::new();
        // A A B A unknown A-malformed: runs alternate, so each run must flush separately.
        for (local, data) in [
            (LOCAL, &RTP[..]),
            (LOCAL, &RTP[..]),
            (other, &RTP[..]),
            (LOCAL, &RTCP_RR[..]),
            ("127.0.0.1:30006", &RTP[..]),
            (LOCAL, &RTP[..5]),
        ] {
            b.push(sa(local), sa(PEER), data);
        }
        let mut c = WorkerCounters::default();
        process(&mut b, &t.reader(), &mut c, &mut SrtpStage::default());
        let a = w.counters(&FlowKey::new(sa(LOCAL))).unwrap();
        assert_eq!((a.packets, a.bytes, a.errors), (3, 32, 1));
        assert_eq!(w.counters(&FlowKey::new(sa(other))).unwrap().packets, 1);
        assert_eq!(
            (c.rx_packets, c.forwarded, c.punted, c.dropped_malformed),
            (6, 4, 1, 1)
        );
    }

    #[test]
    fn action_change_between_batches_takes_effect() {
        let (t, mut w) = setup(action());
        assert_eq!(run(&t, PEER, &RTP).0, forward());
        w.upsert(
            FlowKey::new(sa(LOCAL)),
            &FlowAction {
                flags: FLOW_BLACKHOLE,
                ..action()
            },
        )
        .unwrap();
        assert_eq!(run(&t, PEER, &RTP).0, Verdict::Drop(DropReason::Blackhole));
        w.remove(&FlowKey::new(sa(LOCAL)));
        assert_eq!(run(&t, PEER, &RTP).0, Verdict::Punt);
    }
}
