//! The sockets backend: plain UDP sockets bound by the control plane, served by N worker
//! threads with epoll + `recvmmsg`/`sendmmsg`.
//!
//! Each registered socket is owned (polled) by one worker, chosen least-loaded; every
//! worker also knows every socket as a possible egress, because a flow received on one
//! worker's socket is sent from the other leg's socket, which may be another worker's.
//! Sending on a UDP socket from two threads is fine; the kernel serialises it.
//!
//! Control operations (add/remove) travel as commands over a channel plus an eventfd
//! that wakes the worker's `epoll_wait`; removal waits until every worker has dropped
//! the socket, so the port can be re-bound as soon as `remove_socket` returns.

mod ffi;
mod ring;
mod uring;
mod worker;

use core::time::Duration;
use std::collections::HashMap;
use std::net::{SocketAddr, SocketAddrV6, UdpSocket};
use std::sync::atomic::{AtomicBool, AtomicU8, Ordering};
use std::sync::{mpsc, Arc, Mutex, PoisonError};
use std::thread::JoinHandle;

use shared_tables::TableReader;

use crate::backend::PuntSink;
use crate::counters::{PublishedCounters, WorkerCounters};
use ffi::{Epoll, EventFd};

/// How workers move packets between the sockets and batches.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SocketsIo {
    /// io_uring if this kernel supports multishot receives (6.1+, not disabled by sysctl
    /// or seccomp), else epoll.
    Auto,
    /// One multishot receive per socket and queued sends on an io_uring per worker: one
    /// system call per batch of packets from any number of sockets.
    Uring,
    /// epoll + `recvmmsg` per ready socket + `sendmmsg` per egress socket.
    Epoll,
}

impl SocketsIo {
    /// From the `RTPBOLT_SOCKETS_IO` environment value (`auto`, `uring`, `epoll`).
    pub fn from_env_value(v: Option<&str>) -> Option<SocketsIo> {
        match v.map(str::trim) {
            None | Some("") | Some("auto") => Some(SocketsIo::Auto),
            Some("uring") | Some("io_uring") => Some(SocketsIo::Uring),
            Some("epoll") => Some(SocketsIo::Epoll),
            Some(_) => None,
        }
    }
}

/// How long `remove_socket` waits for workers to let go of a socket.
const REMOVE_TIMEOUT: Duration = Duration::from_secs(1);

/// Errors of the sockets backend's control operations.
#[derive(Debug, thiserror::Error)]
pub enum BackendError {
    /// A system call failed.
    #[error("sockets backend {op} failed: {source}")]
    Io {
        op: &'static str,
        #[source]
        source: std::io::Error,
    },
    /// `start` needs at least one worker.
    #[error("sockets backend needs at least one worker")]
    NoWorkers,
    /// A socket with this local address is already registered.
    #[error("a socket on {local} is already registered")]
    AlreadyRegistered { local: SocketAddr },
    /// No registered socket has this local address.
    #[error("no socket registered on {local}")]
    NotRegistered { local: SocketAddr },
    /// An IPv4 socket cannot send to an IPv6 destination.
    #[error("cannot send from {local} to {dst}: address families differ")]
    FamilyMismatch { local: SocketAddr, dst: SocketAddr },
    /// io_uring was asked for but this kernel cannot run it.
    #[error("io_uring sockets path unavailable: {source}")]
    UringUnavailable {
        #[source]
        source: std::io::Error,
    },
    /// A worker thread is gone (it failed to start or panicked).
    #[error("data-plane worker {index} is not running")]
    WorkerGone { index: usize },
}

/// A registered socket, shared by its owning worker, every worker's egress map and the
/// registry. Closed when the last holder drops it.
pub(crate) struct Sock {
    pub(crate) sock: UdpSocket,
    pub(crate) local: SocketAddr,
    /// TOS/traffic class currently set on the socket (0 = kernel default), so `setsockopt`
    /// runs only when a flow's TOS differs.
    pub(crate) tos: AtomicU8,
}

/// Where a packet for `dst` goes when sent from `sock`: IPv4 destinations on an IPv6
/// socket become IPv4-mapped (dual-stack); IPv6 destinations on an IPv4 socket cannot be
/// sent.
pub(crate) fn egress_dst(sock_local: SocketAddr, dst: SocketAddr) -> Option<SocketAddr> {
    match (sock_local, dst) {
        (SocketAddr::V6(_), SocketAddr::V4(v4)) => Some(SocketAddr::V6(SocketAddrV6::new(
            v4.ip().to_ipv6_mapped(),
            v4.port(),
            0,
            0,
        ))),
        (SocketAddr::V4(_), SocketAddr::V6(_)) => None,
        _ => Some(dst),
    }
}

pub(crate) enum Command {
    /// Know `sock` as an egress; poll it too if `owner`.
    Add { sock: Arc<Sock>, owner: bool },
    /// Forget the socket on `local`; ack when done.
    Remove {
        local: SocketAddr,
        ack: mpsc::Sender<()>,
    },
}

enum AnyWorker {
    Epoll(worker::Worker),
    Uring(uring::UringWorker),
}

struct WorkerHandle {
    thread: Option<JoinHandle<()>>,
    cmds: mpsc::Sender<Command>,
    wake: Arc<EventFd>,
    stats: Arc<PublishedCounters>,
}

impl WorkerHandle {
    fn send(&self, index: usize, cmd: Command) -> Result<(), BackendError> {
        self.cmds
            .send(cmd)
            .map_err(|_| BackendError::WorkerGone { index })?;
        self.wake.notify();
        Ok(())
    }
}

#[derive(Default)]
struct Registry {
    socks: HashMap<SocketAddr, (Arc<Sock>, usize)>,
    /// Sockets owned per worker, for least-loaded placement.
    load: Vec<usize>,
}

/// The plain-UDP-sockets data plane.
pub struct SocketsBackend {
    io: SocketsIo,
    workers: Vec<WorkerHandle>,
    registry: Mutex<Registry>,
    shutdown: Arc<AtomicBool>,
}

impl SocketsBackend {
    /// Starts `workers` threads reading the flow table through `table` and punting to
    /// `punt`. With `pin_cores`, worker `i` is pinned to the `i`-th CPU this process may
    /// use (wrapping around).
    pub fn start(
        table: TableReader,
        workers: usize,
        pin_cores: bool,
        punt: Arc<dyn PuntSink>,
    ) -> Result<SocketsBackend, BackendError> {
        SocketsBackend::start_with(table, workers, pin_cores, punt, SocketsIo::Auto)
    }

    /// [`start`](Self::start) with an explicit I/O method. `Auto` resolves to `Uring` or
    /// `Epoll` by probing the kernel; [`io`](Self::io) tells which.
    pub fn start_with(
        table: TableReader,
        workers: usize,
        pin_cores: bool,
        punt: Arc<dyn PuntSink>,
        requested: SocketsIo,
    ) -> Result<SocketsBackend, BackendError> {
        if workers == 0 {
            return Err(BackendError::NoWorkers);
        }
        let method = match requested {
            SocketsIo::Epoll => SocketsIo::Epoll,
            SocketsIo::Auto => match ring::probe() {
                Ok(()) => SocketsIo::Uring,
                Err(_) => SocketsIo::Epoll,
            },
            SocketsIo::Uring => {
                ring::probe().map_err(|source| BackendError::UringUnavailable { source })?;
                SocketsIo::Uring
            }
        };
        let cpus = if pin_cores {
            ffi::allowed_cpus().map_err(|source| BackendError::Io {
                op: "sched_getaffinity",
                source,
            })?
        } else {
            Vec::new()
        };
        let shutdown = Arc::new(AtomicBool::new(false));
        let mut backend = SocketsBackend {
            io: method,
            workers: Vec::with_capacity(workers),
            registry: Mutex::new(Registry {
                socks: HashMap::new(),
                load: vec![0; workers],
            }),
            shutdown: shutdown.clone(),
        };
        for index in 0..workers {
            let io = |op| move |source| BackendError::Io { op, source };
            let epoll = Epoll::new().map_err(io("epoll_create1"))?;
            let wake = Arc::new(EventFd::new().map_err(io("eventfd"))?);
            epoll
                .add(wake.raw(), worker::WAKE_TOKEN)
                .map_err(io("epoll_ctl"))?;
            let (cmd_tx, cmd_rx) = mpsc::channel();
            let stats = Arc::new(PublishedCounters::default());
            let (ready_tx, ready_rx) = mpsc::channel();
            let w = match method {
                SocketsIo::Uring => AnyWorker::Uring(uring::UringWorker {
                    table: table.clone(),
                    punt: punt.clone(),
                    cmds: cmd_rx,
                    wake: wake.clone(),
                    stats: stats.clone(),
                    shutdown: shutdown.clone(),
                }),
                _ => AnyWorker::Epoll(worker::Worker {
                    table: table.clone(),
                    punt: punt.clone(),
                    cmds: cmd_rx,
                    wake: wake.clone(),
                    epoll,
                    stats: stats.clone(),
                    shutdown: shutdown.clone(),
                }),
            };
            let cpu = (!cpus.is_empty()).then(|| cpus[index % cpus.len()]);
            let thread = std::thread::Builder::new()
                .name(format!("rtpbolt-dp-{index}"))
                .spawn(move || {
                    if let Some(cpu) = cpu {
                        if let Err(source) = ffi::pin_current_thread(cpu) {
                            let _ = ready_tx.send(Err(("sched_setaffinity", source)));
                            return;
                        }
                    }
                    match w {
                        AnyWorker::Epoll(w) => {
                            let _ = ready_tx.send(Ok(()));
                            w.run();
                        }
                        // The ring is made on its thread: it is single-issuer.
                        AnyWorker::Uring(w) => {
                            match ring::Uring::new(uring::RECV_BUFFERS, uring::SEND_SLOTS) {
                                Ok(r) => {
                                    let _ = ready_tx.send(Ok(()));
                                    w.run(r);
                                }
                                Err(e) => {
                                    let _ = ready_tx.send(Err(("io_uring_setup", e)));
                                }
                            }
                        }
                    }
                })
                .map_err(io("spawn"))?;
            // Registered before checking readiness so Drop joins it on any error below.
            backend.workers.push(WorkerHandle {
                thread: Some(thread),
                cmds: cmd_tx,
                wake,
                stats,
            });
            match ready_rx.recv() {
                Ok(Ok(())) => {}
                Ok(Err((op, source))) => return Err(BackendError::Io { op, source }),
                Err(_) => return Err(BackendError::WorkerGone { index }),
            }
        }
        Ok(backend)
    }

    /// The I/O method the workers run.
    pub fn io(&self) -> SocketsIo {
        self.io
    }

    fn registry(&self) -> std::sync::MutexGuard<'_, Registry> {
        // The registry stays consistent even if a holder panicked: every mutation is a
        // single insert/remove.
        self.registry.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Takes over a bound UDP socket: makes it non-blocking, has the least-loaded worker
    /// poll it, and makes it usable as an egress (`FlowAction::src`) and for
    /// [`send_from`](Self::send_from). Its flow key is `sock.local_addr()`.
    pub fn add_socket(&self, sock: UdpSocket) -> Result<(), BackendError> {
        let io = |op| move |source| BackendError::Io { op, source };
        let local = sock.local_addr().map_err(io("getsockname"))?;
        sock.set_nonblocking(true).map_err(io("set_nonblocking"))?;
        let sock = Arc::new(Sock {
            sock,
            local,
            tos: AtomicU8::new(0),
        });
        let mut reg = self.registry();
        if reg.socks.contains_key(&local) {
            return Err(BackendError::AlreadyRegistered { local });
        }
        let owner = reg
            .load
            .iter()
            .enumerate()
            .min_by_key(|&(_, n)| *n)
            .map_or(0, |(i, _)| i);
        for (i, w) in self.workers.iter().enumerate() {
            w.send(
                i,
                Command::Add {
                    sock: sock.clone(),
                    owner: i == owner,
                },
            )?;
        }
        reg.load[owner] += 1;
        reg.socks.insert(local, (sock, owner));
        Ok(())
    }

    /// Unregisters and closes the socket on `local`. Returns once every worker has dropped
    /// it (or after a second if one does not answer), so the port can be re-bound.
    pub fn remove_socket(&self, local: SocketAddr) -> Result<(), BackendError> {
        let sock = {
            let mut reg = self.registry();
            let (sock, owner) = reg
                .socks
                .remove(&local)
                .ok_or(BackendError::NotRegistered { local })?;
            reg.load[owner] -= 1;
            sock
        };
        let (ack_tx, ack_rx) = mpsc::channel();
        let mut expected = 0;
        for (i, w) in self.workers.iter().enumerate() {
            let cmd = Command::Remove {
                local,
                ack: ack_tx.clone(),
            };
            if w.send(i, cmd).is_ok() {
                expected += 1;
            }
        }
        drop(ack_tx);
        let deadline = std::time::Instant::now() + REMOVE_TIMEOUT;
        for _ in 0..expected {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            if ack_rx.recv_timeout(left).is_err() {
                break;
            }
        }
        drop(sock);
        Ok(())
    }

    /// Sends `data` to `dst` from the registered socket on `local` (for packets the
    /// control plane handles itself: ICE, DTLS, pre-latch media). Non-blocking: a full
    /// socket buffer is an `Io` error with kind `WouldBlock`.
    pub fn send_from(
        &self,
        local: SocketAddr,
        dst: SocketAddr,
        data: &[u8],
    ) -> Result<(), BackendError> {
        let sock = self
            .registry()
            .socks
            .get(&local)
            .map(|(s, _)| s.clone())
            .ok_or(BackendError::NotRegistered { local })?;
        let to = egress_dst(local, dst).ok_or(BackendError::FamilyMismatch { local, dst })?;
        sock.sock
            .send_to(data, to)
            .map_err(|source| BackendError::Io {
                op: "send_to",
                source,
            })?;
        Ok(())
    }

    /// Counters summed over workers (as last published, at most one batch or poll
    /// interval old).
    pub fn stats(&self) -> WorkerCounters {
        let mut sum = WorkerCounters::default();
        for w in &self.workers {
            sum.add(&w.stats.load());
        }
        sum
    }

    /// Local addresses of the registered sockets.
    pub fn sockets(&self) -> Vec<SocketAddr> {
        self.registry().socks.keys().copied().collect()
    }

    /// Stops and joins the workers (within one poll interval, ~10 ms) and closes all
    /// sockets.
    pub fn shutdown(mut self) {
        self.stop();
    }

    fn stop(&mut self) {
        self.shutdown.store(true, Ordering::Release);
        for w in &self.workers {
            w.wake.notify();
        }
        for w in &mut self.workers {
            if let Some(t) = w.thread.take() {
                let _ = t.join();
            }
        }
        self.registry().socks.clear();
    }
}

impl Drop for SocketsBackend {
    fn drop(&mut self) {
        self.stop();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn egress_dst_maps_families() {
        let v4: SocketAddr = "127.0.0.1:9".parse().unwrap();
        let v6: SocketAddr = "[::1]:9".parse().unwrap();
        let any6: SocketAddr = "[::]:7".parse().unwrap();
        assert_eq!(egress_dst(v4, v4), Some(v4));
        assert_eq!(egress_dst(v6, v6), Some(v6));
        assert_eq!(egress_dst(v4, v6), None);
        assert_eq!(
            egress_dst(any6, v4),
            Some("[::ffff:127.0.0.1]:9".parse().unwrap())
        );
    }
}
