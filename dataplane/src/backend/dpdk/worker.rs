//! One DPDK worker: owns queue q of the NIC and queue q of the exception TAP.
//!
//! Per loop: NIC rx burst → the frame packet function → Transmit out of the NIC, Kernel
//! into the TAP, drops freed; then TAP rx burst → NIC unchanged (ARP/ND replies, ICMP,
//! the control plane's own sockets). No allocation, lock or system call per forwarded
//! packet (the TAP's reads and writes are system calls, for exception traffic only and
//! polled every 8th loop under load); the only shared writes are the counters,
//! published every 64 busy loops.

use core::sync::atomic::{AtomicBool, Ordering};
use core::time::Duration;

use shared_tables::{monotonic_now, TableReader};

use super::ffi::{Burst, Mbuf, Queue, BURST};
use super::neighbours::NeighbourLinks;
use super::stats::{DpdkCounters, PublishedWorker};
use crate::batch::DropReason;
use crate::counters::WorkerCounters;
use crate::frame::{Frame, FrameConfig, FrameProcessor, FrameVerdict};

/// Empty polls before an idle worker starts sleeping between polls.
const IDLE_POLLS: u32 = 1024;

/// Sleep between polls of an idle worker. Bounds the latency of the first packet after a
/// quiet spell; a dedicated media server passes `busy_poll` instead.
const IDLE_SLEEP: Duration = Duration::from_micros(50);

/// While the NIC delivers full bursts, the TAP is polled only every this many loops: a TAP
/// poll is a read() system call even when nothing waits, and the kernel's traffic (ARP and
/// ND answers, signalling) does not mind tens of microseconds.
const TAP_POLL_EVERY: u32 = 8;

/// Busy loops between publishing counters and checking for neighbour updates (both also
/// happen whenever the worker finds nothing to do). The stats file is written once a
/// second, so this only bounds how stale it can be.
const HOUSEKEEPING_EVERY: u32 = 64;

/// A worker's settings.
#[derive(Clone, Debug)]
pub struct WorkerConfig {
    /// The NIC's MAC: source of rewritten frames, and what the frame function answers to.
    pub mac: [u8; 6],
    /// Neighbour (next-hop MAC) cache entries.
    pub neighbours: usize,
    /// Never sleep when idle (lowest latency, one core at 100 %).
    pub busy_poll: bool,
    /// The NIC's MTU: longer forwards go to the control plane, whose kernel fragments.
    pub mtu: usize,
}

/// What the packet function decided for one received mbuf.
#[derive(Clone, Copy)]
enum Outcome {
    Transmit { off: usize, len: usize },
    Kernel,
    Drop(DropReason),
}

/// One worker's queues, bursts, packet-function state and counters.
pub struct Worker<'p> {
    nic: Queue<'p>,
    tap: Queue<'p>,
    nic_rx: Burst<'p>,
    tap_rx: Burst<'p>,
    nic_tx: Burst<'p>,
    tap_tx: Burst<'p>,
    processor: FrameProcessor,
    table: TableReader,
    counters: DpdkCounters,
    frame_counters: WorkerCounters,
    busy_poll: bool,
    neighbour_links: Option<NeighbourLinks>,
    loops: u32,
}

impl<'p> Worker<'p> {
    /// A worker polling `nic` and `tap` (the same queue index of each port).
    pub fn new(nic: Queue<'p>, tap: Queue<'p>, table: TableReader, cfg: &WorkerConfig) -> Self {
        let mut processor = FrameProcessor::new(FrameConfig {
            mac: cfg.mac,
            neighbour_capacity: cfg.neighbours,
        });
        processor.set_mtu(cfg.mtu);
        Worker {
            nic,
            tap,
            nic_rx: Burst::default(),
            tap_rx: Burst::default(),
            nic_tx: Burst::default(),
            tap_tx: Burst::default(),
            processor,
            table,
            counters: DpdkCounters::default(),
            frame_counters: WorkerCounters::default(),
            busy_poll: cfg.busy_poll,
            neighbour_links: None,
            loops: 0,
        }
    }

    /// Shares learned neighbours with the other workers and takes theirs and the
    /// kernel's (see [`super::neighbours`]).
    pub fn with_neighbour_links(mut self, links: NeighbourLinks) -> Self {
        self.neighbour_links = Some(links);
        self
    }

    /// Polls until `stop` is set, publishing counters to `published` after every
    /// non-empty iteration and once at the end.
    pub fn run(&mut self, stop: &AtomicBool, published: &PublishedWorker) {
        let mut idle = 0u32;
        while !stop.load(Ordering::Relaxed) {
            let busy = self.poll_once() > 0;
            if busy {
                idle = 0;
                if !self.loops.is_multiple_of(HOUSEKEEPING_EVERY) {
                    continue;
                }
            } else {
                idle = idle.saturating_add(1);
            }
            published.publish(&self.counters, &self.frame_counters);
            self.learn_fed_neighbours();
            if !busy && !self.busy_poll && idle >= IDLE_POLLS {
                std::thread::sleep(IDLE_SLEEP);
            }
        }
        published.publish(&self.counters, &self.frame_counters);
    }

    /// Learns what the other workers and the kernel feed sent.
    fn learn_fed_neighbours(&mut self) {
        if let Some(links) = &self.neighbour_links {
            links.learn_into(&mut self.processor);
        }
    }

    /// Hands what this burst taught the frame function to the other workers.
    fn share_learned_neighbours(&mut self) {
        if let Some(links) = &self.neighbour_links {
            links.share_from(&mut self.processor);
        }
    }

    /// This worker's port counters so far.
    pub fn counters(&self) -> &DpdkCounters {
        &self.counters
    }

    /// The frame function's counters so far.
    pub fn frame_counters(&self) -> &WorkerCounters {
        &self.frame_counters
    }

    /// One NIC rx burst and (unless the NIC keeps it busy) one TAP rx burst, fully handled
    /// and flushed. Returns the number of frames received from both.
    pub fn poll_once(&mut self) -> usize {
        self.loops = self.loops.wrapping_add(1);
        let n = self.nic.rx(&mut self.nic_rx);
        if n > 0 {
            self.handle_nic_burst(monotonic_now());
            self.share_learned_neighbours();
        }
        let k = if n < BURST || self.loops.is_multiple_of(TAP_POLL_EVERY) {
            self.tap.rx(&mut self.tap_rx)
        } else {
            0
        };
        for i in 0..k {
            if let Some(m) = self.tap_rx.take(i) {
                self.counters.from_kernel += 1;
                send(
                    &mut self.nic,
                    &mut self.nic_tx,
                    m,
                    &mut self.counters.tx_dropped,
                );
            }
        }
        self.counters.tx_dropped += self.nic.tx(&mut self.nic_tx).dropped as u64;
        self.counters.kernel_tx_dropped += self.tap.tx(&mut self.tap_tx).dropped as u64;
        if n + k > 0 {
            self.counters.bursts += 1;
        }
        n + k
    }

    fn handle_nic_burst(&mut self, now: Duration) {
        // Chained or shared mbufs are not one contiguous frame we may rewrite: they go
        // to the kernel unchanged, which is what the default below does.
        let mut outcome = [Outcome::Kernel; BURST];
        {
            let mut frames: [Frame<'_>; BURST] =
                core::array::from_fn(|_| Frame::new(&mut [], 0, 0));
            let mut index = [0usize; BURST];
            let mut nf = 0;
            for (i, m) in self.nic_rx.mbufs_mut().iter_mut().enumerate() {
                let Some(m) = m else { continue };
                self.counters.rx += 1;
                self.counters.rx_bytes += m.pkt_len() as u64;
                if let Some(d) = m.data() {
                    frames[nf] = Frame::new(d.buf, d.off, d.len);
                    index[nf] = i;
                    nf += 1;
                }
            }
            self.processor.process(
                &mut frames[..nf],
                &self.table,
                &mut self.frame_counters,
                now,
            );
            for (f, &i) in frames[..nf].iter().zip(&index) {
                outcome[i] = match f.verdict {
                    FrameVerdict::Transmit => Outcome::Transmit {
                        off: f.off,
                        len: f.len,
                    },
                    FrameVerdict::Kernel => Outcome::Kernel,
                    FrameVerdict::Drop(r) => Outcome::Drop(r),
                    FrameVerdict::Pending => {
                        debug_assert!(false, "the frame function left a frame pending");
                        Outcome::Drop(DropReason::Malformed)
                    }
                };
            }
        }
        for (i, o) in outcome.iter().enumerate().take(self.nic_rx.len()) {
            let Some(mut m) = self.nic_rx.take(i) else {
                continue;
            };
            match *o {
                Outcome::Transmit { off, len } => {
                    if m.set_data(off, len).is_ok() {
                        self.counters.forwarded += 1;
                        send(
                            &mut self.nic,
                            &mut self.nic_tx,
                            m,
                            &mut self.counters.tx_dropped,
                        );
                    } else {
                        self.counters.dropped_bad_rewrite += 1;
                    }
                }
                Outcome::Kernel => {
                    self.counters.to_kernel += 1;
                    send(
                        &mut self.tap,
                        &mut self.tap_tx,
                        m,
                        &mut self.counters.kernel_tx_dropped,
                    );
                }
                Outcome::Drop(r) => self.counters.record_drop(&r),
            }
        }
    }
}

/// Queues `m` on `burst`, first sending the burst if it is full.
#[inline]
fn send<'p>(q: &mut Queue<'p>, burst: &mut Burst<'p>, m: Mbuf<'p>, dropped: &mut u64) {
    if let Err(m) = burst.push(m) {
        *dropped += q.tx(burst).dropped as u64;
        // The burst is empty after tx, so this cannot fail; if it did, dropping `m` frees it.
        let _ = burst.push(m);
    }
}
