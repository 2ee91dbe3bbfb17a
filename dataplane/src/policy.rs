//! The flow-table policy, shared by every packet path: the sockets path ([`crate::process`])
//! over UDP payloads and the frame path ([`crate::frame`]) over Ethernet frames. Whatever
//! the packet came in as, a path extracts (local address, source address, UDP payload)
//! and asks a [`BatchPolicy`] for the verdict, then reports what it did so the entry's
//! counters are added; nothing else decides about media.
//!
//! Per packet there is no allocation, lock or syscall: a table lookup (lock-free,
//! seqlocked copy, skipped when the previous packet had the same local address), a
//! first-byte classification and a few comparisons. Per-entry counters are accumulated
//! across consecutive packets of one entry and added to the shared table once per run.

use core::time::Duration;
use std::net::SocketAddr;

use shared_tables::{
    EntryId, FlowAction, FlowKey, SrcMismatch, TableReader, FLOW_BLACKHOLE, FLOW_RTCP,
    FLOW_SRTP_IN, FLOW_SRTP_OUT,
};

use crate::batch::{DropReason, Verdict};
use crate::classify::{classify, PacketClass};

/// What one packet does to its entry's counters.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum EntryCount {
    /// Nothing: the control plane handles (and counts) the packet.
    None,
    /// One packet and its UDP payload bytes; refreshes `last_packet`.
    Packet,
    /// One error (malformed or strict source mismatch).
    Error,
}

/// The verdict for a packet of a known flow (RFC 7983 demux, then the flow's policy),
/// and whether a Forward is RTCP (so SRTP knows SRTCP without classifying again).
/// `truncated`: the payload did not fit the receive buffer.
#[inline]
pub(crate) fn decide(
    data: &[u8],
    truncated: bool,
    src: SocketAddr,
    action: &FlowAction,
) -> (Verdict, EntryCount, bool) {
    let (rtcp, (verdict, count)) = match decide_class(data, truncated, action) {
        Ok(rtcp) => (rtcp, source_policy(src, action)),
        Err(refused) => (false, refused),
    };
    (verdict, count, rtcp)
}

/// Blackhole, truncation and demux: `Ok(rtcp)` for RTP/RTCP, else the verdict.
#[inline]
fn decide_class(
    data: &[u8],
    truncated: bool,
    action: &FlowAction,
) -> Result<bool, (Verdict, EntryCount)> {
    // Blackholed flows still count traffic so the control plane's media timeout sees a
    // live (held) stream.
    if action.flags & FLOW_BLACKHOLE != 0 {
        return Err((Verdict::Drop(DropReason::Blackhole), EntryCount::Packet));
    }
    if truncated {
        return Err((Verdict::Drop(DropReason::Malformed), EntryCount::Error));
    }
    match classify(data, action.flags & FLOW_RTCP != 0) {
        PacketClass::Stun | PacketClass::Dtls => Err((Verdict::Punt, EntryCount::None)),
        PacketClass::Truncated | PacketClass::Other => {
            Err((Verdict::Drop(DropReason::Malformed), EntryCount::Error))
        }
        PacketClass::Rtp => Ok(false),
        PacketClass::Rtcp => Ok(true),
    }
}

/// The expected-source check of an RTP/RTCP packet.
#[inline]
fn source_policy(src: SocketAddr, action: &FlowAction) -> (Verdict, EntryCount) {
    let forward = Verdict::Forward {
        dst: action.dst,
        src: action.src,
        tos: action.tos,
    };
    match action.expected_src {
        Some(expected) if expected != src => match action.src_mismatch {
            SrcMismatch::Forward => (forward, EntryCount::Packet),
            SrcMismatch::Punt => (Verdict::Punt, EntryCount::None),
            SrcMismatch::Drop => (Verdict::Drop(DropReason::SourceMismatch), EntryCount::Error),
        },
        _ => (forward, EntryCount::Packet),
    }
}

/// The SRTP work a forward needs before it is sent: decrypt with the entry's inbound key,
/// encrypt with its outbound key, or both (see [`crate::srtp`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct SrtpStep {
    pub id: EntryId,
    /// The entry's `FLOW_SRTP_IN`/`FLOW_SRTP_OUT` bits.
    pub flags: u32,
    /// SRTCP rather than SRTP (an RTCP port, or RTCP under rtcp-mux).
    pub rtcp: bool,
}

/// A verdict and, for a packet of a known flow, the entry to count it on once the caller
/// has carried the verdict out (see [`BatchPolicy::count`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Decision {
    pub verdict: Verdict,
    pub entry: Option<(EntryId, EntryCount)>,
    /// Set for a Forward of an SRTP flow: the payload must go through this first.
    pub srtp: Option<SrtpStep>,
}

/// Counts for one entry, added to the table when the run of its packets ends.
struct Run {
    id: EntryId,
    packets: u64,
    bytes: u64,
    errors: u64,
}

/// The policy applied to one batch: caches the last lookup and runs of per-entry counts.
/// Call [`finish`](Self::finish) at the end of the batch to add the last run.
pub(crate) struct BatchPolicy<'t> {
    table: &'t TableReader,
    now: Duration,
    // Consecutive packets often share a flow key (a recvmmsg batch is one socket; a NIC
    // queue sees bursts of one stream), so the last lookup is reused; the action may thus
    // be up to one batch stale, no different from the packet having arrived a moment
    // earlier.
    last: Option<(SocketAddr, Option<(EntryId, FlowAction)>)>,
    run: Option<Run>,
}

impl<'t> BatchPolicy<'t> {
    /// `now` (CLOCK_MONOTONIC) becomes the counted entries' `last_packet`.
    #[inline]
    pub fn new(table: &'t TableReader, now: Duration) -> BatchPolicy<'t> {
        BatchPolicy {
            table,
            now,
            last: None,
            run: None,
        }
    }

    /// The verdict for `data` arriving on our `local` address from `src`: Punt for an
    /// unknown flow, else [`decide`].
    #[inline]
    pub fn decide(
        &mut self,
        local: SocketAddr,
        src: SocketAddr,
        data: &[u8],
        truncated: bool,
    ) -> Decision {
        let table = self.table;
        let found = match &mut self.last {
            Some((l, found)) if *l == local => &*found,
            slot => &slot.insert((local, table.lookup(&FlowKey::new(local)))).1,
        };
        match found {
            None => Decision {
                verdict: Verdict::Punt,
                entry: None,
                srtp: None,
            },
            Some((id, action)) => {
                let (verdict, count, rtcp) = decide(data, truncated, src, action);
                let crypto = action.flags & (FLOW_SRTP_IN | FLOW_SRTP_OUT);
                let srtp = match verdict {
                    Verdict::Forward { .. } if crypto != 0 => Some(SrtpStep {
                        id: *id,
                        flags: crypto,
                        rtcp,
                    }),
                    _ => None,
                };
                Decision {
                    verdict,
                    entry: Some((*id, count)),
                    srtp,
                }
            }
        }
    }

    /// Counts one packet of `bytes` UDP payload on entry `id`.
    #[inline]
    pub fn count(&mut self, id: EntryId, count: EntryCount, bytes: usize) {
        let (packets, bytes, errors) = match count {
            EntryCount::None => return,
            EntryCount::Packet => (1, bytes as u64, 0),
            EntryCount::Error => (0, 0, 1),
        };
        match &mut self.run {
            Some(r) if r.id == id => {
                r.packets += packets;
                r.bytes += bytes;
                r.errors += errors;
            }
            slot => {
                let next = Run {
                    id,
                    packets,
                    bytes,
                    errors,
                };
                if let Some(prev) = slot.replace(next) {
                    self.table
                        .record(prev.id, prev.packets, prev.bytes, prev.errors, self.now);
                }
            }
        }
    }

    /// Adds the last run's counts to the table.
    #[inline]
    pub fn finish(self) {
        if let Some(r) = self.run {
            self.table
                .record(r.id, r.packets, r.bytes, r.errors, self.now);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use shared_tables::{FlowCounters, FlowTable};

    fn sa(s: &str) -> SocketAddr {
        s.parse().unwrap()
    }

    fn action() -> FlowAction {
        FlowAction {
            dst: sa("127.0.0.1:40000"),
            src: sa("127.0.0.1:30002"),
            expected_src: None,
            src_mismatch: SrcMismatch::Drop,
            tos: 0,
            flags: 0,
            stream_id: 1,
        }
    }

    #[test]
    fn runs_are_added_once_each_and_none_counts_nothing() {
        let t = FlowTable::create(8).unwrap();
        let mut w = t.writer().unwrap();
        let a = w
            .upsert(FlowKey::new(sa("127.0.0.1:1")), &action())
            .unwrap();
        let b = w
            .upsert(FlowKey::new(sa("127.0.0.1:2")), &action())
            .unwrap();
        let r = t.reader();
        let mut p = BatchPolicy::new(&r, Duration::from_secs(7));
        p.count(a, EntryCount::Packet, 10);
        p.count(a, EntryCount::Error, 10);
        p.count(b, EntryCount::Packet, 5);
        p.count(b, EntryCount::None, 5);
        p.count(a, EntryCount::Packet, 1);
        // Nothing of the last run is in the table before finish.
        assert_eq!(r.counters(a).unwrap().packets, 1);
        p.finish();
        let ca = r.counters(a).unwrap();
        assert_eq!((ca.packets, ca.bytes, ca.errors), (2, 11, 1));
        assert_eq!(
            r.counters(b).unwrap(),
            FlowCounters {
                packets: 1,
                bytes: 5,
                errors: 0,
                last_packet: Some(Duration::from_secs(7)),
            }
        );
    }

    #[test]
    fn lookup_is_reused_only_for_the_same_local_address() {
        let t = FlowTable::create(8).unwrap();
        let mut w = t.writer().unwrap();
        let id = w
            .upsert(FlowKey::new(sa("127.0.0.1:1")), &action())
            .unwrap();
        let r = t.reader();
        let rtp = [0x80, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 1];
        let mut p = BatchPolicy::new(&r, Duration::ZERO);
        let local = sa("127.0.0.1:1");
        let d = p.decide(local, sa("127.0.0.1:9"), &rtp, false);
        assert_eq!(d.entry, Some((id, EntryCount::Packet)));
        w.remove(&FlowKey::new(local));
        // Removed within the batch: the repeated key still uses the cached action...
        let d = p.decide(local, sa("127.0.0.1:9"), &rtp, false);
        assert_eq!(d.entry, Some((id, EntryCount::Packet)));
        let miss = p.decide(sa("127.0.0.1:2"), sa("127.0.0.1:9"), &rtp, false);
        assert_eq!((miss.verdict, miss.entry), (Verdict::Punt, None));
        // ...until another key came in between.
        let d = p.decide(local, sa("127.0.0.1:9"), &rtp, false);
        assert_eq!((d.verdict, d.entry), (Verdict::Punt, None));
    }
}
