//! Per-entry counters and the clock they use.
//!
//! Workers add to a slot's counters with relaxed atomics, once per batch per entry, not per
//! packet; the control plane reads them (and adds its own for packets it forwarded
//! itself). Relaxed is enough: the counters order nothing, they only need to be exact
//! eventually. `last_packet` is CLOCK_MONOTONIC nanoseconds so that a separate data-plane
//! process stamps on the same clock as the control plane reading it.

use core::sync::atomic::Ordering;
use core::time::Duration;

use crate::entry::SrtpCounters;
use crate::layout::{CountersC, SrtpCountersC};

/// A snapshot of one entry's counters.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct FlowCounters {
    /// Packets received on this flow and forwarded (or blackholed).
    pub packets: u64,
    /// Bytes of UDP payload of those packets.
    pub bytes: u64,
    /// Packets dropped as malformed or for a source mismatch.
    pub errors: u64,
    /// CLOCK_MONOTONIC time of the last counted packet (see [`monotonic_now`]).
    pub last_packet: Option<Duration>,
}

/// CLOCK_MONOTONIC now, the clock of [`FlowCounters::last_packet`]. Served from the vDSO,
/// so it is not a syscall; still, the data plane calls it once per batch, not per packet.
pub fn monotonic_now() -> Duration {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid out-pointer; CLOCK_MONOTONIC is always supported on Linux,
    // so the call cannot fail (and on failure `ts` stays zero, a harmless value).
    unsafe {
        libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts);
    }
    Duration::new(
        u64::try_from(ts.tv_sec).unwrap_or(0),
        u32::try_from(ts.tv_nsec).unwrap_or(0),
    )
}

/// Nanoseconds for storage; 0 is reserved for "never", so a real time of 0 becomes 1.
#[inline]
fn to_ns(t: Duration) -> u64 {
    u64::try_from(t.as_nanos()).unwrap_or(u64::MAX).max(1)
}

impl CountersC {
    /// Adds a batch's worth of counts. `now` is only stored when `packets > 0`, so errors
    /// alone do not keep a flow looking alive to the control plane's media timeout.
    #[inline]
    pub(crate) fn add(&self, packets: u64, bytes: u64, errors: u64, now: Duration) {
        if packets != 0 {
            self.packets.fetch_add(packets, Ordering::Relaxed);
            self.bytes.fetch_add(bytes, Ordering::Relaxed);
            self.last_packet_ns.store(to_ns(now), Ordering::Relaxed);
        }
        if errors != 0 {
            self.errors.fetch_add(errors, Ordering::Relaxed);
        }
    }

    pub(crate) fn snapshot(&self) -> FlowCounters {
        let ns = self.last_packet_ns.load(Ordering::Relaxed);
        FlowCounters {
            packets: self.packets.load(Ordering::Relaxed),
            bytes: self.bytes.load(Ordering::Relaxed),
            errors: self.errors.load(Ordering::Relaxed),
            last_packet: (ns != 0).then(|| Duration::from_nanos(ns)),
        }
    }

    pub(crate) fn reset(&self) {
        self.packets.store(0, Ordering::Relaxed);
        self.bytes.store(0, Ordering::Relaxed);
        self.errors.store(0, Ordering::Relaxed);
        self.last_packet_ns.store(0, Ordering::Relaxed);
    }
}

/// What a worker reports about one SRTP entry after a batch.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SrtpProgress {
    /// Tags that did not verify.
    pub auth_failures: u64,
    /// Replays dropped.
    pub replays: u64,
    /// Highest inbound RTP index accepted in the batch.
    pub in_index: Option<u64>,
    /// Highest outbound RTP index sent in the batch.
    pub out_index: Option<u64>,
    /// Next outbound SRTCP index after the batch.
    pub out_rtcp_index: Option<u64>,
    /// SSRC of the inbound stream `in_index` belongs to.
    pub in_ssrc: Option<u32>,
    /// SSRC of the outbound stream `out_index` belongs to.
    pub out_ssrc: Option<u32>,
}

/// An SSRC as [`SrtpCountersC`] stores it: bit 32 says there is one.
fn encode_ssrc(ssrc: u32) -> u64 {
    1 << 32 | u64::from(ssrc)
}

fn decode_ssrc(word: u64) -> Option<u32> {
    (word >> 32 == 1).then_some(word as u32)
}

impl SrtpCountersC {
    /// Adds a batch's SRTP counts. Indices only move forward (`fetch_max`), so two workers
    /// briefly sharing a flow (RSS rebalancing) cannot move them back.
    #[inline]
    pub(crate) fn add(&self, p: &SrtpProgress) {
        if p.auth_failures != 0 {
            self.auth_failures
                .fetch_add(p.auth_failures, Ordering::Relaxed);
        }
        if p.replays != 0 {
            self.replays.fetch_add(p.replays, Ordering::Relaxed);
        }
        if let Some(i) = p.in_index {
            self.in_index
                .fetch_max(i.saturating_add(1), Ordering::Relaxed);
        }
        if let Some(i) = p.out_index {
            self.out_index
                .fetch_max(i.saturating_add(1), Ordering::Relaxed);
        }
        if let Some(i) = p.out_rtcp_index {
            self.out_rtcp_index
                .fetch_max(i.saturating_add(1), Ordering::Relaxed);
        }
        // The stream a worker saw last; two workers sharing a flow briefly see the same.
        if let Some(ssrc) = p.in_ssrc {
            self.in_ssrc.store(encode_ssrc(ssrc), Ordering::Relaxed);
        }
        if let Some(ssrc) = p.out_ssrc {
            self.out_ssrc.store(encode_ssrc(ssrc), Ordering::Relaxed);
        }
    }

    pub(crate) fn snapshot(&self) -> SrtpCounters {
        let index = |a: &core::sync::atomic::AtomicU64| a.load(Ordering::Relaxed).checked_sub(1);
        SrtpCounters {
            auth_failures: self.auth_failures.load(Ordering::Relaxed),
            replays: self.replays.load(Ordering::Relaxed),
            in_index: index(&self.in_index),
            out_index: index(&self.out_index),
            out_rtcp_index: index(&self.out_rtcp_index),
            in_ssrc: decode_ssrc(self.in_ssrc.load(Ordering::Relaxed)),
            out_ssrc: decode_ssrc(self.out_ssrc.load(Ordering::Relaxed)),
        }
    }

    /// Forgets the published inbound index: it belonged to a key the entry no longer has.
    pub(crate) fn forget_inbound(&self) {
        self.in_index.store(0, Ordering::Relaxed);
        self.in_ssrc.store(0, Ordering::Relaxed);
    }

    /// Forgets the published outbound indices: they belonged to a key the entry no
    /// longer has.
    pub(crate) fn forget_outbound(&self) {
        self.out_index.store(0, Ordering::Relaxed);
        self.out_rtcp_index.store(0, Ordering::Relaxed);
        self.out_ssrc.store(0, Ordering::Relaxed);
    }

    pub(crate) fn reset(&self) {
        for a in [
            &self.auth_failures,
            &self.replays,
            &self.in_index,
            &self.out_index,
            &self.out_rtcp_index,
            &self.in_ssrc,
            &self.out_ssrc,
        ] {
            a.store(0, Ordering::Relaxed);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use core::sync::atomic::AtomicU64;

    fn zero() -> CountersC {
        CountersC {
            packets: AtomicU64::new(0),
            bytes: AtomicU64::new(0),
            errors: AtomicU64::new(0),
            last_packet_ns: AtomicU64::new(0),
        }
    }

    #[test]
    fn monotonic_now_advances() {
        let a = monotonic_now();
        std::thread::sleep(Duration::from_millis(2));
        let b = monotonic_now();
        assert!(b > a && a > Duration::ZERO);
    }

    #[test]
    fn add_snapshot_reset() {
        let c = zero();
        assert_eq!(c.snapshot(), FlowCounters::default());
        c.add(3, 300, 0, Duration::from_secs(5));
        c.add(0, 0, 2, Duration::from_secs(9));
        let s = c.snapshot();
        assert_eq!((s.packets, s.bytes, s.errors), (3, 300, 2));
        // errors alone do not move last_packet
        assert_eq!(s.last_packet, Some(Duration::from_secs(5)));
        c.reset();
        assert_eq!(c.snapshot(), FlowCounters::default());
    }

    #[test]
    fn zero_time_is_still_some() {
        let c = zero();
        c.add(1, 1, 0, Duration::ZERO);
        assert_eq!(c.snapshot().last_packet, Some(Duration::from_nanos(1)));
    }
}
