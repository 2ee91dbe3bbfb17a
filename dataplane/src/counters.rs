//! Per-worker counters: plain `u64`s in a cache-line-aligned struct owned by one worker,
//! published to an atomic mirror once per batch so `stats()` can sum them without the hot
//! path ever writing a shared cache line per packet.

use core::sync::atomic::{AtomicU64, Ordering};

use crate::batch::{DropReason, Verdict};

macro_rules! worker_counters {
    ($($(#[doc = $doc:literal])* $name:ident,)*) => {
        /// One worker's packet counters (or a sum over workers).
        #[repr(C, align(64))]
        #[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
        pub struct WorkerCounters {
            $($(#[doc = $doc])* pub $name: u64,)*
        }

        impl WorkerCounters {
            /// Field-wise sum.
            pub fn add(&mut self, other: &WorkerCounters) {
                $(self.$name = self.$name.wrapping_add(other.$name);)*
            }
        }

        /// The atomic mirror of one worker's [`WorkerCounters`]: one writer (the worker),
        /// any readers.
        #[repr(C, align(64))]
        #[derive(Debug, Default)]
        pub struct PublishedCounters {
            $($name: AtomicU64,)*
        }

        impl PublishedCounters {
            /// Copies the worker's totals in (relaxed: counters order nothing).
            pub fn publish(&self, c: &WorkerCounters) {
                $(self.$name.store(c.$name, Ordering::Relaxed);)*
            }

            /// A snapshot of the last published totals.
            pub fn load(&self) -> WorkerCounters {
                WorkerCounters { $($name: self.$name.load(Ordering::Relaxed),)* }
            }
        }
    };
}

worker_counters! {
    /// Datagrams (frames) received.
    rx_packets,
    /// Bytes of those: UDP payload on the sockets path, Ethernet frames on the frame path.
    rx_bytes,
    /// Datagrams given a Forward verdict (frames transmitted).
    forwarded,
    /// Bytes of those (on the frame path, of the rewritten frames).
    forwarded_bytes,
    /// Datagrams handed to the control plane (on the frame path, through the kernel).
    punted,
    /// Dropped: not RTP/RTCP/STUN/DTLS, too short, or truncated on receive; on the frame
    /// path also broken Ethernet/IP/UDP headers and checksums.
    dropped_malformed,
    /// Dropped by flow policy: blackhole or strict source mismatch.
    dropped_policy,
    /// Forwarded but not sent: socket buffer full (EAGAIN/ENOBUFS), no egress socket
    /// registered for the action's `src`, or another send error.
    tx_dropped,
    /// Batches processed.
    batches,
    /// Frame path: frames that are not media for us (ARP, ND, ICMP, TCP, IP fragments,
    /// UDP to another MAC, other ethertypes), handed to the kernel unchanged.
    to_kernel,
    /// Frame path: dropped for a bad IPv4 header or UDP checksum (also in
    /// `dropped_malformed`).
    checksum_errors,
    /// Frame path: forwards handed to the control plane (also in `punted`) because the
    /// next hop's MAC is not learned yet.
    no_neighbour,
    /// Frame path: forwards handed to the control plane (also in `punted`) because the
    /// buffer's headroom is too small for the longer outgoing headers.
    no_headroom,
    /// Frame path: forwards handed to the control plane (also in `punted`) because the
    /// outgoing IP packet would exceed the port's MTU (the kernel fragments).
    over_mtu,
    /// SRTP/SRTCP dropped because the tag or MKI did not verify.
    dropped_srtp_auth,
    /// SRTP/SRTCP dropped as replays.
    dropped_srtp_replay,
}

impl WorkerCounters {
    /// Counts one packet's verdict.
    #[inline]
    pub fn record(&mut self, v: &Verdict, len: usize) {
        let len = len as u64;
        self.rx_packets += 1;
        self.rx_bytes += len;
        match v {
            Verdict::Forward { .. } => {
                self.forwarded += 1;
                self.forwarded_bytes += len;
            }
            Verdict::Punt => self.punted += 1,
            Verdict::Drop(DropReason::Malformed) => self.dropped_malformed += 1,
            Verdict::Drop(DropReason::Blackhole | DropReason::SourceMismatch) => {
                self.dropped_policy += 1
            }
            Verdict::Drop(DropReason::SrtpAuth) => self.dropped_srtp_auth += 1,
            Verdict::Drop(DropReason::SrtpReplay) => self.dropped_srtp_replay += 1,
            Verdict::Pending => debug_assert!(false, "recorded a packet without a verdict"),
        }
    }
}

const _: () = assert!(core::mem::align_of::<WorkerCounters>() == 64);
const _: () = assert!(core::mem::align_of::<PublishedCounters>() == 64);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn publish_load_add() {
        let mut c = WorkerCounters::default();
        c.record(&Verdict::Punt, 10);
        c.record(&Verdict::Drop(DropReason::Blackhole), 5);
        let p = PublishedCounters::default();
        p.publish(&c);
        let mut sum = p.load();
        assert_eq!(sum, c);
        sum.add(&c);
        assert_eq!(
            (sum.rx_packets, sum.rx_bytes, sum.punted, sum.dropped_policy),
            (4, 30, 2, 2)
        );
    }
}
