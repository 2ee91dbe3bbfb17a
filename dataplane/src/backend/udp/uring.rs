//! One sockets-backend worker on io_uring: a multishot receive armed on each owned
//! socket, completions from all of them gathered into one [`Batch`], [`process`]ed, and
//! forwarded packets queued as sends on the egress sockets, all submitted with the next
//! wait. Same sockets, table and verdicts as the epoll worker ([`super::worker`]); only
//! the way packets enter and leave differs.

use core::time::Duration;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::os::fd::{AsRawFd, RawFd};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc};

use shared_tables::{monotonic_now, TableReader};

use super::ffi::{self, EventFd};
use super::ring::{Completion, Uring};
use super::{egress_dst, Command, Sock};
use crate::backend::{PuntSink, PuntedPacket};
use crate::batch::{Batch, Verdict};
use crate::counters::{PublishedCounters, WorkerCounters};
use crate::process::process;
use crate::srtp::SrtpStage;

/// How long a wait lasts when nothing arrives, bounding shutdown latency.
const POLL_TIMEOUT: Duration = Duration::from_millis(10);

/// Provided receive buffers and send slots per worker (powers of two).
pub(super) const RECV_BUFFERS: u16 = 1024;
pub(super) const SEND_SLOTS: u16 = 1024;

pub(super) struct UringWorker {
    pub(super) table: TableReader,
    pub(super) punt: Arc<dyn PuntSink>,
    pub(super) cmds: mpsc::Receiver<Command>,
    pub(super) wake: Arc<EventFd>,
    pub(super) stats: Arc<PublishedCounters>,
    pub(super) shutdown: Arc<AtomicBool>,
}

/// An owned socket and the state of its multishot receive.
struct Owned {
    sock: Arc<Sock>,
    /// The receive is armed; otherwise it is re-armed after this round of completions.
    armed: bool,
    /// Removal requested: ack once the receive has reported its last completion.
    removing: Option<mpsc::Sender<()>>,
}

struct State {
    ring: Uring,
    /// Owned sockets by token. Tokens are never reused, so a late completion of a
    /// removed socket cannot be mistaken for a new one's.
    owned: HashMap<u64, Owned>,
    /// Token of each owned socket, by local address, for removal.
    tokens: HashMap<SocketAddr, u64>,
    next_token: u64,
    /// Every registered socket, by local address: possible egresses.
    egress: HashMap<SocketAddr, Arc<Sock>>,
    /// Receives to re-arm after this round.
    rearm: Vec<u64>,
    batch: Batch,
    counters: WorkerCounters,
    /// SRTP sessions and stream state of the flows this worker forwards.
    srtp: SrtpStage,
}

impl UringWorker {
    pub(super) fn run(self, ring: Uring) {
        let mut st = State {
            ring,
            owned: HashMap::new(),
            tokens: HashMap::new(),
            next_token: 0,
            egress: HashMap::new(),
            rearm: Vec::new(),
            batch: Batch::new(),
            counters: WorkerCounters::default(),
            srtp: SrtpStage::default(),
        };
        // A failure to arm the wake poll leaves commands to the periodic check below.
        let _ = st.ring.arm_wake(self.wake.raw());
        while !self.shutdown.load(Ordering::Acquire) {
            // Fails only on programming errors (bad ring state); nothing to do but stop.
            if st.ring.submit_and_wait(POLL_TIMEOUT).is_err() {
                break;
            }
            let mut woken = false;
            // Only what was reaped before this round: sends may reap more while it runs,
            // and housekeeping below must not starve under load.
            for _ in 0..st.ring.pending_events() {
                let Some(ev) = st.ring.next_event() else {
                    break;
                };
                match ev.what {
                    Completion::Recv { token } => {
                        if let Some(bid) = ev.buffer {
                            self.receive(&mut st, token, bid, ev.result);
                        }
                        if !ev.more {
                            self.recv_ended(&mut st, token);
                        }
                    }
                    Completion::Send { .. } => {
                        if ev.result < 0 {
                            st.counters.tx_dropped += 1;
                        }
                    }
                    Completion::Wake => {
                        woken = true;
                        if !ev.more {
                            let _ = st.ring.arm_wake(self.wake.raw());
                        }
                    }
                    Completion::Cancel => {}
                }
            }
            self.flush(&mut st);
            for token in std::mem::take(&mut st.rearm) {
                if let Some(o) = st.owned.get_mut(&token) {
                    o.armed = st.ring.arm_recv(o.sock.sock.as_raw_fd(), token).is_ok();
                }
            }
            if woken {
                self.wake.drain();
            }
            // Commands are cheap to check; polling them also covers a lost wake.
            self.commands(&mut st);
            self.stats.publish(&st.counters);
        }
        self.stats.publish(&st.counters);
    }

    /// Adds one received datagram to the batch, processing the batch when full.
    fn receive(&self, st: &mut State, token: u64, bid: u16, result: i32) {
        if result > 0 {
            if let Some(o) = st.owned.get(&token) {
                let local = o.sock.local;
                if let Some(r) = st.ring.received(bid, result as usize) {
                    let unspecified = SocketAddr::from(([0, 0, 0, 0], 0));
                    let i = st.batch.len();
                    let slot = &mut st.batch.slots_mut()[i];
                    let n = r.data.len().min(slot.buf_mut().len());
                    slot.buf_mut()[..n].copy_from_slice(&r.data[..n]);
                    slot.set_received(n, r.truncated, r.src.unwrap_or(unspecified), local);
                    st.batch.set_len(i + 1);
                }
            }
        }
        st.ring.recycle(bid);
        if st.batch.is_full() {
            self.flush(st);
        }
    }

    /// The multishot receive on `token` ended: re-arm it (it stops when buffers ran out
    /// or on an error) unless the socket is being removed.
    fn recv_ended(&self, st: &mut State, token: u64) {
        let Some(o) = st.owned.get_mut(&token) else {
            return;
        };
        o.armed = false;
        if let Some(ack) = o.removing.take() {
            st.owned.remove(&token);
            let _ = ack.send(());
        } else {
            st.rearm.push(token);
        }
    }

    fn commands(&self, st: &mut State) {
        while let Ok(cmd) = self.cmds.try_recv() {
            match cmd {
                Command::Add { sock, owner } => {
                    if owner {
                        let token = st.next_token;
                        st.next_token += 1;
                        let armed = st.ring.arm_recv(sock.sock.as_raw_fd(), token).is_ok();
                        st.tokens.insert(sock.local, token);
                        st.owned.insert(
                            token,
                            Owned {
                                sock: sock.clone(),
                                armed,
                                removing: None,
                            },
                        );
                    }
                    st.egress.insert(sock.local, sock);
                }
                Command::Remove { local, ack } => {
                    // Queued sends name the socket by fd; submitting makes the kernel take
                    // its own reference before ours can be the last one closing it.
                    let _ = st.ring.submit();
                    st.egress.remove(&local);
                    let Some(token) = st.tokens.remove(&local) else {
                        let _ = ack.send(());
                        continue;
                    };
                    let armed = st.owned.get(&token).is_some_and(|o| o.armed);
                    if armed && st.ring.cancel_recv(token).is_ok() {
                        // The receive holds the socket open; ack when it has ended.
                        if let Some(o) = st.owned.get_mut(&token) {
                            o.removing = Some(ack);
                        }
                    } else {
                        st.owned.remove(&token);
                        st.rearm.retain(|t| *t != token);
                        let _ = ack.send(());
                    }
                }
            }
        }
    }

    /// Processes the batch and queues its forwarded packets as sends; punts the rest.
    fn flush(&self, st: &mut State) {
        if st.batch.is_empty() {
            return;
        }
        st.batch.set_now(monotonic_now());
        process(&mut st.batch, &self.table, &mut st.counters, &mut st.srtp);
        let State {
            ring,
            egress,
            batch,
            counters,
            ..
        } = st;
        for pkt in batch.packets() {
            match pkt.verdict() {
                Verdict::Punt => self.punt.punt(PuntedPacket::copy_of(pkt, batch.now())),
                Verdict::Forward { dst, src, tos } => {
                    let Some(sock) = egress.get(&src) else {
                        counters.tx_dropped += 1;
                        continue;
                    };
                    let Some(to) = egress_dst(sock.local, dst) else {
                        counters.tx_dropped += 1;
                        continue;
                    };
                    let fd: RawFd = sock.sock.as_raw_fd();
                    if sock.tos.load(Ordering::Relaxed) != tos
                        && ffi::set_tos(fd, sock.local.is_ipv6(), tos).is_ok()
                    {
                        sock.tos.store(tos, Ordering::Relaxed);
                    }
                    match ring.send(fd, pkt.data(), to) {
                        Ok(true) => {}
                        // Every slot in flight: the sockets are backed up, drop rather
                        // than stall (as the epoll path does on EAGAIN).
                        Ok(false) | Err(_) => counters.tx_dropped += 1,
                    }
                }
                _ => {}
            }
        }
        batch.clear();
    }
}
