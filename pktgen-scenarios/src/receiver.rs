//! The receiver thread: epoll over both socket pools, `recvmmsg` batches,
//! and per-flow bookkeeping of what arrived.
//!
//! Latency is `now − send stamp`, with `now` read once per batch right after
//! `recvmmsg` returns (a batch is whatever was already queued, so the error
//! is one syscall). Packets sent before the measured window (warmup) count for
//! loss but not for latency.

use std::io;
use std::net::SocketAddrV4;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use crate::endpoints::Endpoints;
use crate::payload::ProbePacket;
use crate::sender::{Keyspace, Live};
use crate::stats::{Arrival, FlowStats, Latency};
use crate::sys::{monotonic_ns, Epoll, MsgBatch, MAX_BATCH};

/// How often the thread looks at the stop flag when nothing arrives.
const POLL: Duration = Duration::from_millis(20);

pub struct RecvPlan {
    pub phase: u16,
    pub keyspace: Keyspace,
    /// Packets stamped before this (`CLOCK_MONOTONIC` ns) are warmup.
    pub measure_from_ns: u64,
}

/// What arrived during a phase.
#[derive(Clone, Debug, Default)]
pub struct RecvResult {
    pub flows: Vec<FlowStats>,
    pub latency: Latency,
    /// Distinct packets sent inside the measured window that arrived.
    pub measured: u64,
    /// Probes of another phase, or of a call/stream this phase does not have.
    pub stray: u64,
    /// Probes that arrived on a socket other than the one in their payload.
    pub misrouted: u64,
    /// Datagrams that are not probes at all.
    pub malformed: u64,
    /// Sum over flows of [`FlowStats::next_expected`], published as
    /// [`Live::acked`].
    acked: u64,
}

impl RecvResult {
    fn record(&mut self, plan: &RecvPlan, local: SocketAddrV4, pkt: &[u8], now: u64) -> bool {
        let Ok(p) = ProbePacket::new_checked(pkt) else {
            self.malformed += 1;
            return false;
        };
        if p.phase() != plan.phase {
            self.stray += 1;
            return false;
        }
        let Some(slot) = plan.keyspace.slot(p.call(), p.stream(), p.direction()) else {
            self.stray += 1;
            return false;
        };
        if p.dest() != local {
            self.misrouted += 1;
        }
        let flow = &mut self.flows[slot];
        let before = flow.next_expected();
        match flow.record(p.seq()) {
            Arrival::InOrder | Arrival::Reordered => {}
            Arrival::Duplicate | Arrival::Untracked => return false,
        }
        self.acked += flow.next_expected() - before;
        let sent = p.send_ns();
        if sent >= plan.measure_from_ns {
            self.measured += 1;
            self.latency.record(now.saturating_sub(sent));
        }
        true
    }
}

/// Receives until `stop` is set, then returns what arrived.
pub fn run(
    eps: &Endpoints,
    plan: &RecvPlan,
    live: &Live,
    stop: &AtomicBool,
) -> io::Result<RecvResult> {
    let mut res = RecvResult {
        flows: vec![FlowStats::default(); plan.keyspace.slots()],
        ..RecvResult::default()
    };
    let epoll = Epoll::new()?;
    for (token, sock) in eps.all() {
        epoll.add(sock, token as u64)?;
    }
    let mut batch = MsgBatch::new();
    let mut ready = Vec::new();
    while !stop.load(Ordering::Acquire) {
        ready.clear();
        epoll.wait(POLL, &mut ready)?;
        for &token in &ready {
            let token = token as usize;
            let (sock, local) = (eps.socket(token), eps.addr(token));
            loop {
                let n = match batch.recv(sock, false) {
                    Ok(n) => n,
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                    // Loopback UDP reports ICMP errors of earlier sends here;
                    // they say nothing about this socket's input.
                    Err(e) if e.kind() == io::ErrorKind::ConnectionRefused => continue,
                    Err(e) => return Err(e),
                };
                let now = monotonic_ns();
                let mut fresh = 0;
                for i in 0..n {
                    fresh += u64::from(res.record(plan, local, batch.packet(i), now));
                }
                live.received.fetch_add(fresh, Ordering::Relaxed);
                live.acked.store(res.acked, Ordering::Release);
                if n < MAX_BATCH {
                    break;
                }
            }
        }
    }
    Ok(res)
}
