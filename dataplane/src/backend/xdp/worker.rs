//! One AF_XDP worker: owns one socket (one RX queue) and its UMEM.
//!
//! Per loop: completion ring → free chunks; free chunks → fill ring; RX batch → the frame
//! packet function → Transmit on this socket's TX ring (rewritten in place, no copy),
//! Drop back to the free chunks, Kernel to the control plane through the [`PuntSink`].
//! No allocation, lock or system call per forwarded packet: one TX kick per batch (copy
//! mode needs it; zero-copy only when the kernel asks), and one `poll` when idle.
//!
//! Kernel verdicts: the XDP program only redirects UDP to ports in the flow map, so what
//! the packet function hands back to the kernel is media of a known flow that the data
//! plane does not forward itself (STUN, DTLS, unknown next hop, source mismatch with policy
//! Punt). A redirected frame cannot be given back to the kernel's stack, so in-process the
//! worker hands its UDP payload to the control plane as a [`PuntedPacket`], as the sockets
//! backend does. A separate `rtpbolt-dataplane` process will have to re-inject such frames
//! into the kernel through a TUN/TAP device instead (as the DPDK backend does with its
//! exception TAP), so the control plane's sockets receive them.

use core::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use core::time::Duration;
use std::sync::Arc;

use shared_tables::{monotonic_now, TableReader};

use super::ffi::{Desc, XskSocket, XskStatistics};
use crate::backend::neighbours::NeighbourLinks;
use crate::backend::{PuntSink, PuntedPacket};
use crate::counters::{PublishedCounters, WorkerCounters};
use crate::frame::{parse, Frame, FrameConfig, FrameProcessor, FrameVerdict, ParsedFrame};

/// Frames taken from the RX ring per batch.
pub const RX_BATCH: usize = 64;

/// Empty polls before an idle worker waits in `poll` instead of spinning.
const IDLE_POLLS: u32 = 1024;

/// How long an idle worker waits for frames before checking `stop` again.
const IDLE_WAIT_MS: i32 = 10;

/// Busy loops between publishing counters (also published whenever idle).
const PUBLISH_EVERY: u32 = 64;

/// Busy loops between reading the kernel's socket counters (a system call; also read
/// when idle, at most once per idle wait).
pub const KERNEL_STATS_EVERY: u32 = 4096;

/// A worker's settings.
#[derive(Clone, Debug)]
pub struct XskWorkerConfig {
    /// The interface's MAC: source of rewritten frames, and what the frame function
    /// answers to.
    pub mac: [u8; 6],
    /// Neighbour (next-hop MAC) cache entries.
    pub neighbours: usize,
    /// The interface's MTU: longer forwards go to the control plane.
    pub mtu: usize,
    /// Never wait in `poll` when idle (lowest latency, one core at 100 %).
    pub busy_poll: bool,
}

/// The socket-level counters of one worker (the packet function's are in
/// [`WorkerCounters`]).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct XskCounters {
    /// Descriptors taken from the RX ring.
    pub rx: u64,
    /// Frames queued on the TX ring.
    pub tx: u64,
    /// Transmit verdicts dropped because the TX ring was full.
    pub tx_ring_full: u64,
    /// TX descriptors the kernel reported complete.
    pub tx_completed: u64,
    /// Kernel verdicts handed to the control plane.
    pub punted: u64,
    /// Kernel verdicts that were not UDP (the program redirects only UDP, so none are
    /// expected): dropped.
    pub kernel_dropped: u64,
    /// RX descriptors outside the UMEM or naming a chunk twice in one batch: skipped.
    pub invalid_rx_descs: u64,
    /// `sendto` kicks for the TX ring.
    pub tx_kicks: u64,
    /// Batches with at least one frame.
    pub batches: u64,
}

macro_rules! published_xsk {
    ($($f:ident),*) => {
        /// The atomic mirror of a worker's counters: one writer (the worker), any reader.
        #[derive(Debug, Default)]
        pub struct PublishedXsk {
            /// The packet function's counters.
            pub frame: PublishedCounters,
            $($f: AtomicU64,)*
            kernel_rx_dropped: AtomicU64,
            kernel_rx_invalid_descs: AtomicU64,
            kernel_tx_invalid_descs: AtomicU64,
            kernel_rx_ring_full: AtomicU64,
            kernel_rx_fill_ring_empty_descs: AtomicU64,
            kernel_tx_ring_empty_descs: AtomicU64,
        }

        impl PublishedXsk {
            fn publish_kernel(&self, k: &XskStatistics) {
                self.kernel_rx_dropped.store(k.rx_dropped, Ordering::Relaxed);
                self.kernel_rx_invalid_descs.store(k.rx_invalid_descs, Ordering::Relaxed);
                self.kernel_tx_invalid_descs.store(k.tx_invalid_descs, Ordering::Relaxed);
                self.kernel_rx_ring_full.store(k.rx_ring_full, Ordering::Relaxed);
                self.kernel_rx_fill_ring_empty_descs
                    .store(k.rx_fill_ring_empty_descs, Ordering::Relaxed);
                self.kernel_tx_ring_empty_descs.store(k.tx_ring_empty_descs, Ordering::Relaxed);
            }

            /// The kernel's counters for the socket as last published (they are read
            /// with a system call, so only when idle and every
            /// [`KERNEL_STATS_EVERY`] busy loops).
            pub fn kernel(&self) -> XskStatistics {
                XskStatistics {
                    rx_dropped: self.kernel_rx_dropped.load(Ordering::Relaxed),
                    rx_invalid_descs: self.kernel_rx_invalid_descs.load(Ordering::Relaxed),
                    tx_invalid_descs: self.kernel_tx_invalid_descs.load(Ordering::Relaxed),
                    rx_ring_full: self.kernel_rx_ring_full.load(Ordering::Relaxed),
                    rx_fill_ring_empty_descs: self
                        .kernel_rx_fill_ring_empty_descs
                        .load(Ordering::Relaxed),
                    tx_ring_empty_descs: self.kernel_tx_ring_empty_descs.load(Ordering::Relaxed),
                }
            }

            fn publish(&self, x: &XskCounters, f: &WorkerCounters) {
                self.frame.publish(f);
                $(self.$f.store(x.$f, Ordering::Relaxed);)*
            }

            /// The last published socket counters.
            pub fn load(&self) -> XskCounters {
                XskCounters { $($f: self.$f.load(Ordering::Relaxed),)* }
            }
        }
    };
}

published_xsk!(
    rx,
    tx,
    tx_ring_full,
    tx_completed,
    punted,
    kernel_dropped,
    invalid_rx_descs,
    tx_kicks,
    batches
);

/// One socket's loop state.
pub struct XskWorker {
    sock: XskSocket,
    processor: FrameProcessor,
    table: TableReader,
    punt: Arc<dyn PuntSink>,
    /// Chunk base addresses user space holds (on no ring); capacity for every chunk, so
    /// pushing never allocates.
    free: Vec<u64>,
    counters: XskCounters,
    frame_counters: WorkerCounters,
    busy_poll: bool,
    neighbour_links: Option<NeighbourLinks>,
    loops: u32,
}

impl XskWorker {
    /// A worker on `sock`, reading `table`, punting to `punt`. Puts every chunk on the fill
    /// ring (up to its size).
    pub fn new(
        sock: XskSocket,
        table: TableReader,
        punt: Arc<dyn PuntSink>,
        cfg: &XskWorkerConfig,
    ) -> XskWorker {
        let mut processor = FrameProcessor::new(FrameConfig {
            mac: cfg.mac,
            neighbour_capacity: cfg.neighbours,
        });
        processor.set_mtu(cfg.mtu);
        let umem = sock.umem();
        let free = (0..umem.frames())
            .rev()
            .map(|i| umem.chunk_addr(i))
            .collect();
        let mut w = XskWorker {
            sock,
            processor,
            table,
            punt,
            free,
            counters: XskCounters::default(),
            frame_counters: WorkerCounters::default(),
            busy_poll: cfg.busy_poll,
            neighbour_links: None,
            loops: 0,
        };
        w.refill();
        w
    }

    /// Shares learned neighbours with the other workers and takes theirs and the
    /// kernel's (see [`crate::backend::neighbours`]).
    pub fn with_neighbour_links(mut self, links: NeighbourLinks) -> Self {
        self.neighbour_links = Some(links);
        self
    }

    /// Teaches the frame function a next hop (from the kernel's neighbour table, another
    /// worker, or a test).
    pub fn learn_neighbour(&mut self, ip: std::net::IpAddr, mac: [u8; 6]) {
        self.processor.learn_neighbour(ip, mac, monotonic_now());
    }

    /// Whether the socket is in zero-copy mode.
    pub fn zero_copy(&self) -> bool {
        self.sock.zero_copy()
    }

    /// Socket counters so far.
    pub fn counters(&self) -> &XskCounters {
        &self.counters
    }

    /// The packet function's counters so far.
    pub fn frame_counters(&self) -> &WorkerCounters {
        &self.frame_counters
    }

    /// The kernel's counters for the socket.
    pub fn statistics(&self) -> std::io::Result<XskStatistics> {
        self.sock.statistics()
    }

    /// Polls until `stop` is set, publishing counters to `published` every
    /// [`PUBLISH_EVERY`] busy loops, whenever idle and once at the end.
    pub fn run(&mut self, stop: &AtomicBool, published: &PublishedXsk) {
        let mut idle = 0u32;
        while !stop.load(Ordering::Relaxed) {
            if self.poll_once() > 0 {
                idle = 0;
                if !self.loops.is_multiple_of(PUBLISH_EVERY) {
                    continue;
                }
            } else {
                idle = idle.saturating_add(1);
            }
            published.publish(&self.counters, &self.frame_counters);
            if let Some(links) = &self.neighbour_links {
                links.learn_into(&mut self.processor);
            }
            let kernel_due = match idle {
                0 => self.loops.is_multiple_of(KERNEL_STATS_EVERY),
                1 => true,
                n => n.is_multiple_of(IDLE_POLLS),
            };
            if kernel_due {
                if let Ok(k) = self.sock.statistics() {
                    published.publish_kernel(&k);
                }
            }
            if !self.busy_poll && idle >= IDLE_POLLS {
                // An error here (the interface went away) shows as no traffic; `stop`
                // ends the loop.
                let _ = self.sock.wait_rx(IDLE_WAIT_MS);
            }
        }
        published.publish(&self.counters, &self.frame_counters);
        if let Ok(k) = self.sock.statistics() {
            published.publish_kernel(&k);
        }
    }

    /// Recycles completed transmissions, refills the fill ring, and handles one RX batch.
    /// Returns the number of frames received.
    pub fn poll_once(&mut self) -> usize {
        self.loops = self.loops.wrapping_add(1);
        self.recycle_completed();
        self.refill();
        let n = self.handle_rx_batch(monotonic_now());
        if n > 0 {
            self.counters.batches += 1;
            if let Some(links) = &self.neighbour_links {
                links.share_from(&mut self.processor);
            }
        }
        n
    }

    fn recycle_completed(&mut self) {
        let parts = self.sock.parts();
        let n = parts.completion.available();
        for i in 0..n {
            if let Some(chunk) = parts.umem.chunk_of(parts.completion.get(i)) {
                self.free.push(chunk);
            }
        }
        if n > 0 {
            parts.completion.release(n);
            self.counters.tx_completed += u64::from(n);
        }
    }

    fn refill(&mut self) {
        let parts = self.sock.parts();
        let want = u32::try_from(self.free.len()).unwrap_or(u32::MAX);
        let n = parts.fill.free(want).min(want);
        for _ in 0..n {
            match self.free.pop() {
                Some(chunk) => {
                    parts.fill.push(chunk);
                }
                None => break,
            }
        }
        if n > 0 {
            parts.fill.submit();
        }
        if parts.fill.needs_wakeup() {
            self.sock.kick_rx();
        }
    }

    fn handle_rx_batch(&mut self, now: Duration) -> usize {
        let zero_copy = self.sock.zero_copy();
        let parts = self.sock.parts();
        let n = parts.rx.available().min(RX_BATCH as u32);
        if n == 0 {
            return 0;
        }
        let mut addrs = [0u64; RX_BATCH];
        let mut lens = [0u32; RX_BATCH];
        let mut bases = [None::<u64>; RX_BATCH];
        for i in 0..n as usize {
            let d = parts.rx.get(i as u32);
            addrs[i] = d.addr;
            lens[i] = d.len;
            bases[i] = parts.umem.chunk_of(d.addr);
        }
        // The descriptors are copied; the chunks are ours until they go back on a ring.
        parts.rx.release(n);
        let n = n as usize;
        self.counters.rx += n as u64;

        let mut bufs: [Option<&mut [u8]>; RX_BATCH] = core::array::from_fn(|_| None);
        parts.umem.lend(&addrs[..n], &mut bufs[..n]);
        let mut frames: [Frame<'_>; RX_BATCH] = core::array::from_fn(|_| Frame::new(&mut [], 0, 0));
        let mut chunk_of_frame = [0u64; RX_BATCH];
        let mut nf = 0;
        for i in 0..n {
            match (bufs[i].take(), bases[i]) {
                (Some(buf), Some(base)) => {
                    frames[nf] = Frame::new(buf, (addrs[i] - base) as usize, lens[i] as usize);
                    chunk_of_frame[nf] = base;
                    nf += 1;
                }
                // Outside the UMEM, or a chunk already in this batch: not ours to reuse.
                _ => self.counters.invalid_rx_descs += 1,
            }
        }

        self.processor.process(
            &mut frames[..nf],
            &self.table,
            &mut self.frame_counters,
            now,
        );

        let mut queued = 0u32;
        for (f, &base) in frames[..nf].iter().zip(&chunk_of_frame) {
            match f.verdict {
                FrameVerdict::Transmit => {
                    let desc = Desc {
                        addr: base + f.off as u64,
                        len: f.len as u32,
                        options: 0,
                    };
                    if parts.tx.push(desc) {
                        queued += 1;
                        continue;
                    }
                    self.counters.tx_ring_full += 1;
                }
                FrameVerdict::Kernel => match parse(f.data()) {
                    Ok(ParsedFrame::Udp(u)) => {
                        let data = f.data().get(u.payload()).unwrap_or(&[]).to_vec();
                        self.punt.punt(PuntedPacket {
                            local: u.dst,
                            src: u.src,
                            data,
                            received: now,
                        });
                        self.counters.punted += 1;
                    }
                    _ => self.counters.kernel_dropped += 1,
                },
                FrameVerdict::Drop(_) | FrameVerdict::Pending => {}
            }
            self.free.push(base);
        }
        if queued > 0 {
            parts.tx.submit();
            self.counters.tx += u64::from(queued);
            // Copy mode transmits only inside sendto; zero-copy drivers say when they
            // need one.
            if !zero_copy || parts.tx.needs_wakeup() {
                self.counters.tx_kicks += 1;
                // Transient failures are retried by the next batch's kick; frames stay
                // on the ring meanwhile.
                let _ = self.sock.kick_tx();
            }
        }
        n
    }
}
