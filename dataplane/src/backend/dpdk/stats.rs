//! Per-worker DPDK counters: plain `u64`s in a cache-line-aligned struct that only its
//! worker writes, copied to an atomic mirror once per non-empty burst so the stats writer
//! can read them without the worker ever writing a shared line per packet.

use core::sync::atomic::{AtomicU64, Ordering};

use crate::batch::DropReason;
use crate::counters::{PublishedCounters, WorkerCounters};

macro_rules! dpdk_counters {
    ($($(#[doc = $doc:literal])* $name:ident,)*) => {
        /// One worker's counters (or a sum over workers).
        #[repr(C, align(64))]
        #[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
        pub struct DpdkCounters {
            $($(#[doc = $doc])* pub $name: u64,)*
        }

        impl DpdkCounters {
            /// Field-wise sum.
            pub fn add(&mut self, other: &DpdkCounters) {
                $(self.$name = self.$name.wrapping_add(other.$name);)*
            }

            /// `(name, value)` for every counter, in declaration order.
            pub fn fields(&self) -> [(&'static str, u64); dpdk_counters!(@count $($name)*)] {
                [$((stringify!($name), self.$name),)*]
            }
        }

        /// The atomic mirror of one worker's [`DpdkCounters`]: one writer, any readers.
        #[repr(C, align(64))]
        #[derive(Debug, Default)]
        pub struct PublishedDpdkCounters {
            $($name: AtomicU64,)*
        }

        impl PublishedDpdkCounters {
            /// Copies the worker's totals in (relaxed: counters order nothing).
            pub fn publish(&self, c: &DpdkCounters) {
                $(self.$name.store(c.$name, Ordering::Relaxed);)*
            }

            /// The last published totals.
            pub fn load(&self) -> DpdkCounters {
                DpdkCounters { $($name: self.$name.load(Ordering::Relaxed),)* }
            }
        }
    };
    (@count) => { 0 };
    (@count $head:ident $($tail:ident)*) => { 1 + dpdk_counters!(@count $($tail)*) };
}

dpdk_counters! {
    /// Frames received from the NIC.
    rx,
    /// Bytes of those frames.
    rx_bytes,
    /// Frames rewritten and sent back out of the NIC (flow-table hits).
    forwarded,
    /// Frames handed unchanged to the exception TAP (misses, ARP/ND, ICMP, STUN/DTLS, …).
    to_kernel,
    /// Frames the kernel sent out through the exception TAP, passed on to the NIC.
    from_kernel,
    /// Dropped: malformed, truncated or otherwise unusable.
    dropped_malformed,
    /// Dropped: the flow is blackholed.
    dropped_blackhole,
    /// Dropped: source differs from the flow's expected source, policy Drop.
    dropped_source_mismatch,
    /// Dropped: SRTP/SRTCP whose tag or MKI did not verify.
    dropped_srtp_auth,
    /// Dropped: SRTP/SRTCP replays.
    dropped_srtp_replay,
    /// Forwarded frames whose rewrite did not fit the mbuf (should stay 0).
    dropped_bad_rewrite,
    /// Frames the NIC's tx ring refused (forwarded or from the kernel), freed.
    tx_dropped,
    /// Frames the exception TAP's tx refused, freed.
    kernel_tx_dropped,
    /// Non-empty loop iterations (one NIC and one TAP rx burst each).
    bursts,
}

impl DpdkCounters {
    /// Counts one drop by reason.
    #[inline]
    pub fn record_drop(&mut self, reason: &DropReason) {
        match reason {
            DropReason::Malformed => self.dropped_malformed += 1,
            DropReason::Blackhole => self.dropped_blackhole += 1,
            DropReason::SourceMismatch => self.dropped_source_mismatch += 1,
            DropReason::SrtpAuth => self.dropped_srtp_auth += 1,
            DropReason::SrtpReplay => self.dropped_srtp_replay += 1,
        }
    }

    /// All drops, whatever the reason (tx refusals included).
    pub fn dropped(&self) -> u64 {
        self.dropped_malformed
            + self.dropped_blackhole
            + self.dropped_source_mismatch
            + self.dropped_srtp_auth
            + self.dropped_srtp_replay
            + self.dropped_bad_rewrite
            + self.tx_dropped
            + self.kernel_tx_dropped
    }
}

const _: () = assert!(core::mem::align_of::<DpdkCounters>() == 64);
const _: () = assert!(core::mem::align_of::<PublishedDpdkCounters>() == 64);

/// What one worker publishes: its port counters and the frame function's.
#[derive(Debug, Default)]
pub struct PublishedWorker {
    /// Port-level counters (this module's).
    pub dpdk: PublishedDpdkCounters,
    /// The packet function's counters ([`crate::frame::FrameProcessor::process`]).
    pub frame: PublishedCounters,
}

impl PublishedWorker {
    /// Publishes both (once per burst).
    #[inline]
    pub fn publish(&self, dpdk: &DpdkCounters, frame: &WorkerCounters) {
        self.dpdk.publish(dpdk);
        self.frame.publish(frame);
    }
}

/// One worker's row in the stats file.
#[derive(Clone, Copy, Debug, Default)]
pub struct WorkerStats {
    /// Queue index on both ports.
    pub queue: u16,
    /// The CPU it is pinned to.
    pub core: usize,
    /// Port-level counters.
    pub dpdk: DpdkCounters,
    /// The frame function's counters.
    pub frame: WorkerCounters,
}

/// The stats file's JSON: `{"workers":[{"queue":0,"core":1,…,"frame":{…}}],"total":{…}}`.
/// Port counters are flat; `frame` holds the packet function's reasons for the kernel
/// path (`punted`: table miss, STUN/DTLS, unknown next hop, over the MTU; `not_media`: ARP,
/// ICMP, …).
pub fn render_json(workers: &[WorkerStats]) -> String {
    let mut total = WorkerStats::default();
    let mut out = String::from("{\"workers\":[");
    for (i, w) in workers.iter().enumerate() {
        total.dpdk.add(&w.dpdk);
        total.frame.add(&w.frame);
        if i > 0 {
            out.push(',');
        }
        out.push_str(&format!("{{\"queue\":{},\"core\":{}", w.queue, w.core));
        push_fields(&mut out, w);
        out.push('}');
    }
    out.push_str("],\"total\":{");
    out.push_str(&format!("\"dropped\":{}", total.dpdk.dropped()));
    push_fields(&mut out, &total);
    out.push_str("}}\n");
    out
}

fn push_fields(out: &mut String, w: &WorkerStats) {
    for (name, v) in w.dpdk.fields() {
        out.push_str(&format!(",\"{name}\":{v}"));
    }
    let f = &w.frame;
    out.push_str(&format!(
        ",\"frame\":{{\"rx_packets\":{},\"forwarded\":{},\"forwarded_bytes\":{},\
         \"punted\":{},\"not_media\":{},\"dropped_malformed\":{},\"dropped_policy\":{},\
         \"checksum_errors\":{},\"no_neighbour\":{},\"no_headroom\":{},\"over_mtu\":{}}}",
        f.rx_packets,
        f.forwarded,
        f.forwarded_bytes,
        f.punted,
        f.to_kernel,
        f.dropped_malformed,
        f.dropped_policy,
        f.checksum_errors,
        f.no_neighbour,
        f.no_headroom,
        f.over_mtu
    ));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn publish_sum_and_render() {
        let mut a = DpdkCounters {
            rx: 3,
            forwarded: 2,
            ..Default::default()
        };
        a.record_drop(&DropReason::Malformed);
        let p = PublishedDpdkCounters::default();
        p.publish(&a);
        assert_eq!(p.load(), a);
        let b = DpdkCounters {
            rx: 1,
            to_kernel: 1,
            tx_dropped: 4,
            ..Default::default()
        };
        let frame = WorkerCounters {
            punted: 2,
            no_neighbour: 1,
            ..Default::default()
        };
        let row = |queue, core, dpdk| WorkerStats {
            queue,
            core,
            dpdk,
            frame,
        };
        let json = render_json(&[row(0, 1, a), row(1, 0, b)]);
        let v: serde_json::Value = serde_json::from_str(&json).expect("valid JSON");
        assert_eq!(v["workers"][0]["queue"], 0);
        assert_eq!(v["workers"][0]["core"], 1);
        assert_eq!(v["workers"][0]["rx"], 3);
        assert_eq!(v["workers"][0]["dropped_malformed"], 1);
        assert_eq!(v["workers"][1]["to_kernel"], 1);
        assert_eq!(v["total"]["rx"], 4);
        assert_eq!(v["total"]["dropped"], 5);
        assert_eq!(v["total"]["forwarded"], 2);
        assert_eq!(v["workers"][1]["frame"]["no_neighbour"], 1);
        assert_eq!(v["total"]["frame"]["punted"], 4);
        assert_eq!(
            v["total"].as_object().map(|o| o.len()),
            Some(a.fields().len() + 2),
            "dropped, the port counters and frame"
        );
    }
}
