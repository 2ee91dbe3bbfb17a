//! One sockets-backend worker thread: epoll for readable sockets, `recvmmsg` a batch,
//! [`process`] it, `sendmmsg` the forwarded packets grouped by egress socket and TOS,
//! punt the rest. Counters are published once per wake-up.

use core::time::Duration;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::os::fd::{AsRawFd, RawFd};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc};

use shared_tables::{monotonic_now, TableReader};

use super::ffi::{self, Epoll, EventFd, MsgBufs};
use super::{egress_dst, Command, Sock};
use crate::backend::{PuntSink, PuntedPacket};
use crate::batch::{Batch, Verdict, BATCH_SIZE};
use crate::counters::{PublishedCounters, WorkerCounters};
use crate::process::process;
use crate::srtp::SrtpStage;

/// epoll token of the wake eventfd; sockets use their fd number, which is never this.
pub(super) const WAKE_TOKEN: u64 = u64::MAX;

/// Upper bound on how long shutdown waits for a worker that was not woken (the eventfd
/// wake is normally immediate).
const POLL_TIMEOUT: Duration = Duration::from_millis(10);

/// Batches read from one ready socket before serving the next, so one busy socket cannot
/// starve the others (level-triggered epoll reports it again).
const MAX_BATCHES_PER_READY: usize = 8;

const _: () = assert!(
    BATCH_SIZE <= 64,
    "flush() tracks sent packets in a u64 mask"
);

pub(super) struct Worker {
    pub(super) table: TableReader,
    pub(super) punt: Arc<dyn PuntSink>,
    pub(super) cmds: mpsc::Receiver<Command>,
    pub(super) wake: Arc<EventFd>,
    pub(super) epoll: Epoll,
    pub(super) stats: Arc<PublishedCounters>,
    pub(super) shutdown: Arc<AtomicBool>,
}

/// A worker's per-thread state besides its configuration.
struct State {
    /// Sockets this worker polls, by fd (= epoll token).
    owned: HashMap<RawFd, Arc<Sock>>,
    /// Every registered socket, by local address: possible egresses.
    egress: HashMap<SocketAddr, Arc<Sock>>,
    batch: Batch,
    bufs: MsgBufs,
    counters: WorkerCounters,
    /// SRTP sessions and stream state of the flows this worker forwards.
    srtp: SrtpStage,
}

impl Worker {
    pub(super) fn run(self) {
        let mut st = State {
            owned: HashMap::new(),
            egress: HashMap::new(),
            batch: Batch::new(),
            bufs: MsgBufs::new(),
            counters: WorkerCounters::default(),
            srtp: SrtpStage::default(),
        };
        let mut events = [libc::epoll_event { events: 0, u64: 0 }; 64];
        while !self.shutdown.load(Ordering::Acquire) {
            // epoll_wait only fails on programming errors (EBADF/EINVAL); nothing to do but
            // stop serving.
            let Ok(n) = self.epoll.wait(&mut events, POLL_TIMEOUT) else {
                break;
            };
            for ev in &events[..n] {
                let token = ev.u64;
                if token == WAKE_TOKEN {
                    self.wake.drain();
                    self.commands(&mut st);
                } else {
                    self.serve(&mut st, token as RawFd);
                }
            }
            self.stats.publish(&st.counters);
        }
        self.stats.publish(&st.counters);
    }

    fn commands(&self, st: &mut State) {
        while let Ok(cmd) = self.cmds.try_recv() {
            match cmd {
                Command::Add { sock, owner } => {
                    if owner {
                        let fd = sock.sock.as_raw_fd();
                        // Only fails for resource exhaustion; the socket then stays
                        // unpolled but usable as egress and by send_from.
                        if self.epoll.add(fd, fd as u64).is_ok() {
                            st.owned.insert(fd, sock.clone());
                        }
                    }
                    st.egress.insert(sock.local, sock);
                }
                Command::Remove { local, ack } => {
                    if let Some(sock) = st.egress.remove(&local) {
                        let fd = sock.sock.as_raw_fd();
                        if st.owned.remove(&fd).is_some() {
                            let _ = self.epoll.delete(fd);
                        }
                    }
                    let _ = ack.send(());
                }
            }
        }
    }

    fn serve(&self, st: &mut State, fd: RawFd) {
        let Some(sock) = st.owned.get(&fd) else {
            return;
        };
        let local = sock.local;
        for _ in 0..MAX_BATCHES_PER_READY {
            let n = match st.bufs.recv(fd, &mut st.batch, local) {
                Ok(n) => n,
                // Receive errors on an unconnected UDP socket are transient (e.g. ENOMEM);
                // the next readiness report retries.
                Err(_) => break,
            };
            if n == 0 {
                break;
            }
            st.batch.set_now(monotonic_now());
            process(&mut st.batch, &self.table, &mut st.counters, &mut st.srtp);
            self.flush(st);
            if n < BATCH_SIZE {
                break;
            }
        }
    }

    /// Sends forwarded packets, one `sendmmsg` per (egress socket, TOS) group, and punts.
    fn flush(&self, st: &mut State) {
        let State {
            egress,
            batch,
            bufs,
            counters,
            ..
        } = st;
        let pkts = batch.packets();
        let mut done: u64 = 0;
        for (i, pkt) in pkts.iter().enumerate() {
            match pkt.verdict() {
                Verdict::Punt => self.punt.punt(PuntedPacket::copy_of(pkt, batch.now())),
                Verdict::Forward { src, tos, .. } if done & (1 << i) == 0 => {
                    let mut group: u64 = 0;
                    for (j, p) in pkts.iter().enumerate().skip(i) {
                        if let Verdict::Forward { src: s, tos: t, .. } = p.verdict() {
                            if s == src && t == tos {
                                group |= 1 << j;
                            }
                        }
                    }
                    done |= group;
                    let count = u64::from(group.count_ones());
                    let Some(sock) = egress.get(&src) else {
                        counters.tx_dropped += count;
                        continue;
                    };
                    if sock.tos.load(Ordering::Relaxed) != tos {
                        let fd = sock.sock.as_raw_fd();
                        if ffi::set_tos(fd, sock.local.is_ipv6(), tos).is_ok() {
                            sock.tos.store(tos, Ordering::Relaxed);
                        }
                    }
                    let mut unsendable = 0;
                    let out = pkts.iter().enumerate().filter_map(|(j, p)| {
                        if group & (1 << j) == 0 {
                            return None;
                        }
                        let Verdict::Forward { dst, .. } = p.verdict() else {
                            return None;
                        };
                        match egress_dst(sock.local, dst) {
                            Some(to) => Some((p.data(), to)),
                            None => {
                                unsendable += 1;
                                None
                            }
                        }
                    });
                    let dropped = bufs.send(sock.sock.as_raw_fd(), out) as u64;
                    counters.tx_dropped += dropped + unsendable;
                }
                _ => {}
            }
        }
    }
}
