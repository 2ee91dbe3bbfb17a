//! The sender thread: paces every flow (one stream in one direction) at a
//! fixed rate, or blasts a few flows as fast as the relay takes them.
//!
//! Paced flows have their phases spread evenly over the packet interval, so
//! the packets of all flows form one schedule with a constant gap; the thread
//! wakes at most every [`TICK`], sends everything that has come due in one
//! `sendmmsg` per source socket, and stamps the send time just before each
//! call. Waking late is not hidden: packets sent more than [`LATE`] after
//! their due time are counted, so a generator that cannot keep up shows in
//! the report rather than as a burst the relay is blamed for.

use std::net::SocketAddrV4;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use crate::endpoints::Endpoints;
use crate::payload::{Direction, ProbePacket, ProbeRepr};
use crate::sys::{monotonic_ns, MsgBatch, MAX_BATCH};

/// Shortest sleep between two sends: bounds wake-ups to 1000 a second, so
/// at 100k pps each `sendmmsg` carries a few dozen packets. Packets are
/// stamped when they leave, so the tick delays them but does not skew latency.
pub const TICK: Duration = Duration::from_millis(1);
/// A packet sent this long after its due time counts as late.
pub const LATE: Duration = Duration::from_millis(2);
/// A blast with a full window and nothing acknowledged for this long sends
/// another batch anyway.
pub const STALL: Duration = Duration::from_millis(20);

/// One stream in one direction.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Flow {
    pub call: u32,
    pub stream: u8,
    pub direction: Direction,
    /// Index in the phase's per-flow arrays (see [`Keyspace`]).
    pub slot: usize,
    /// Token of the socket it is sent from.
    pub src: usize,
    /// Where it is sent: the relay's port, the null forwarder, or (for the
    /// direct baseline) the receiving socket itself.
    pub send_to: SocketAddrV4,
    /// The receiving socket, written into the payload.
    pub dest: SocketAddrV4,
}

/// Maps (call, stream, direction) to a dense slot index.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Keyspace {
    pub calls: u32,
    pub streams_per_call: u8,
}

impl Keyspace {
    pub fn slots(&self) -> usize {
        self.calls as usize * usize::from(self.streams_per_call) * 2
    }

    pub fn slot(&self, call: u32, stream: u8, direction: Direction) -> Option<usize> {
        (call < self.calls && stream < self.streams_per_call).then(|| {
            (call as usize * usize::from(self.streams_per_call) + usize::from(stream)) * 2
                + direction.index()
        })
    }
}

/// How fast to send.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Pace {
    /// Each flow at this many packets per second.
    Rate { pps: u32 },
    /// Round-robin over the flows as fast as possible, but never more than
    /// `max_in_flight` packets sent and not yet acknowledged (see
    /// [`Live::acked`]).
    Blast { max_in_flight: u64 },
}

/// Counters shared by the sender, the receiver and the progress display.
#[derive(Debug, Default)]
pub struct Live {
    pub sent: AtomicU64,
    pub received: AtomicU64,
    /// Packets that arrived or are presumed lost because a later packet of
    /// their flow arrived: the blast window is `sent − acked`, so a lost
    /// packet does not hold a slot of it forever.
    pub acked: AtomicU64,
    /// Set when the sender has finished (or failed).
    pub sender_done: AtomicBool,
}

pub struct SendPlan<'a> {
    pub phase: u16,
    pub flows: &'a [Flow],
    pub slots: usize,
    pub packet_size: usize,
    pub pace: Pace,
    /// `CLOCK_MONOTONIC` ns of the first send.
    pub start_ns: u64,
    pub duration: Duration,
}

/// What the sender did.
#[derive(Clone, Debug, Default)]
pub struct SendResult {
    /// Packets sent per slot.
    pub sent: Vec<u64>,
    /// Packets sent later than [`LATE`] after their due time.
    pub late: u64,
    pub max_lag: Duration,
    /// Datagrams the kernel refused.
    pub send_errors: u64,
}

struct Batches<'a> {
    eps: &'a Endpoints,
    out: Vec<MsgBatch>,
    live: &'a Live,
    errors: u64,
}

impl Batches<'_> {
    fn flush(&mut self, src: usize) {
        let b = &mut self.out[src];
        if b.is_empty() {
            return;
        }
        // One clock read per batch: the batch leaves in one syscall anyway.
        let now = monotonic_ns();
        for i in 0..b.len() {
            if let Ok(mut p) = ProbePacket::new_checked(b.packet_mut(i)) {
                p.set_send_ns(now);
            }
        }
        let o = b.send(self.eps.socket(src));
        self.errors += o.failed as u64;
        self.live.sent.fetch_add(o.sent as u64, Ordering::Relaxed);
        b.clear();
    }

    fn flush_all(&mut self) {
        for src in 0..self.out.len() {
            self.flush(src);
        }
    }

    fn push(&mut self, repr: &ProbeRepr, flow: &Flow, size: usize) {
        if self.out[flow.src].is_full() {
            self.flush(flow.src);
        }
        repr.emit(self.out[flow.src].push(flow.send_to, size));
    }
}

fn sleep_until(ns: u64) {
    let now = monotonic_ns();
    if ns > now {
        std::thread::sleep(Duration::from_nanos(ns - now));
    }
}

/// Sends `plan` to completion; returns per-slot counts. Sets
/// `live.sender_done` when it returns.
pub fn run(eps: &Endpoints, plan: &SendPlan<'_>, live: &Live) -> SendResult {
    let mut res = SendResult {
        sent: vec![0; plan.slots],
        ..SendResult::default()
    };
    if !plan.flows.is_empty() {
        let mut batches = Batches {
            eps,
            out: (0..eps.len()).map(|_| MsgBatch::new()).collect(),
            live,
            errors: 0,
        };
        match plan.pace {
            Pace::Rate { pps } => paced(plan, pps, &mut batches, &mut res),
            Pace::Blast { max_in_flight } => blast(plan, max_in_flight, &mut batches, &mut res),
        }
        res.send_errors = batches.errors;
    }
    live.sender_done.store(true, Ordering::Release);
    res
}

fn probe(plan: &SendPlan<'_>, flow: &Flow, seq: u64) -> ProbeRepr {
    ProbeRepr {
        phase: plan.phase,
        call: flow.call,
        stream: flow.stream,
        direction: flow.direction,
        seq,
        send_ns: 0,
        dest: flow.dest,
    }
}

fn paced(plan: &SendPlan<'_>, pps: u32, batches: &mut Batches<'_>, res: &mut SendResult) {
    let n = plan.flows.len() as u64;
    // Gap between consecutive packets of the whole schedule, in ns (f64:
    // 1e9 / (pps·n) is rarely an integer and must not drift).
    let gap = 1e9 / (f64::from(pps) * n as f64);
    let due_ns = |g: u64| plan.start_ns + (g as f64 * gap) as u64;
    let end_ns = plan.start_ns + plan.duration.as_nanos() as u64;
    let total = ((plan.duration.as_nanos() as f64) / gap).ceil() as u64;
    let late_ns = LATE.as_nanos() as u64;
    let mut g = 0u64;
    sleep_until(plan.start_ns);
    while g < total {
        let now = monotonic_ns();
        while g < total && due_ns(g) <= now {
            let flow = &plan.flows[(g % n) as usize];
            let lag = now - due_ns(g);
            if lag > late_ns {
                res.late += 1;
            }
            res.max_lag = res.max_lag.max(Duration::from_nanos(lag));
            batches.push(&probe(plan, flow, g / n), flow, plan.packet_size);
            res.sent[flow.slot] += 1;
            g += 1;
        }
        batches.flush_all();
        if now >= end_ns {
            break;
        }
        sleep_until(due_ns(g).max(now + TICK.as_nanos() as u64));
    }
}

fn blast(plan: &SendPlan<'_>, max_in_flight: u64, batches: &mut Batches<'_>, res: &mut SendResult) {
    let n = plan.flows.len() as u64;
    let end_ns = plan.start_ns + plan.duration.as_nanos() as u64;
    let stall_ns = STALL.as_nanos() as u64;
    let mut g = 0u64;
    let (mut last_acked, mut last_progress) = (0, plan.start_ns);
    sleep_until(plan.start_ns);
    loop {
        let now = monotonic_ns();
        if now >= end_ns {
            break;
        }
        let acked = batches.live.acked.load(Ordering::Acquire);
        if acked != last_acked {
            (last_acked, last_progress) = (acked, now);
        }
        let in_flight = batches
            .live
            .sent
            .load(Ordering::Relaxed)
            .saturating_sub(acked);
        let mut room = max_in_flight
            .saturating_sub(in_flight)
            .min(MAX_BATCH as u64);
        if room == 0 && now - last_progress > stall_ns {
            // Nothing has come back for a while: the tail of every flow was
            // lost, so no later packet can acknowledge it. Probe again.
            room = MAX_BATCH as u64;
            last_progress = now;
        }
        if room == 0 {
            // The relay (or the receiver) is behind; give it the CPU.
            std::thread::sleep(Duration::from_micros(20));
            continue;
        }
        for _ in 0..room {
            let flow = &plan.flows[(g % n) as usize];
            batches.push(&probe(plan, flow, g / n), flow, plan.packet_size);
            res.sent[flow.slot] += 1;
            g += 1;
        }
        batches.flush_all();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keyspace_is_dense_and_bounded() {
        let k = Keyspace {
            calls: 3,
            streams_per_call: 2,
        };
        assert_eq!(k.slots(), 12);
        let mut all: Vec<usize> = (0..3)
            .flat_map(|c| {
                (0..2).flat_map(move |s| Direction::BOTH.map(|d| k.slot(c, s, d).unwrap()))
            })
            .collect();
        all.sort_unstable();
        assert_eq!(all, (0..12).collect::<Vec<_>>());
        assert_eq!(k.slot(3, 0, Direction::AtoB), None);
        assert_eq!(k.slot(0, 2, Direction::AtoB), None);
    }
}
