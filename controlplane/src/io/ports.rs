//! Media port allocation: binds RTP (even) / RTCP (odd) socket pairs from
//! `--port-min`..`--port-max` and hands them to the data plane.
//!
//! Registering a socket with the data plane wakes every worker, and
//! unregistering one waits until every worker has let go of it; done for four
//! sockets per call on the request path, that dominated offer and delete
//! latency. So a released pair stays bound and registered for
//! [`IDLE_LINGER`] (rtpengine keeps a deleted call's ports for its 30 s
//! `delete-delay` by default, so a port that stays open a moment longer is
//! nothing new to a peer): if the allocator's search lands on it again in that
//! time it is taken as it is, and otherwise a reaper thread unregisters it,
//! off the request path. Which port the search picks is unchanged: an idle
//! pair counts as free, exactly as a closed port that binds again would.

use std::collections::{HashMap, HashSet, VecDeque};
use std::net::{IpAddr, SocketAddr, UdpSocket};
use std::sync::{mpsc, Arc, Weak};
use std::time::{Duration, Instant};

use dataplane::SocketsBackend;

use crate::call::{CallError, PortAllocator};

/// How long a released pair stays bound for reuse before it is closed.
const IDLE_LINGER: Duration = Duration::from_secs(2);

pub struct SocketPortAllocator {
    backend: Arc<SocketsBackend>,
    /// First even port of the range.
    min: u16,
    /// Last usable RTP port (even, with `max_rtp + 1` still in range).
    max_rtp: u16,
    /// Where the next search starts, per local address. Like rtpengine, the
    /// first pair on an address is the bottom of the range and later ones
    /// are spread by a random step, so ports are not predictable and a port
    /// just released is not reused at once while late packets may arrive.
    next: HashMap<IpAddr, u16>,
    rng: u64,
    in_use: HashSet<SocketAddr>,
    /// Pairs a previous daemon's calls still use (see `call::orphans`): never handed
    /// out, never bound here.
    reserved: HashSet<SocketAddr>,
    /// Released pairs still bound and registered, by RTP address, with
    /// `idle_order` holding them oldest first (an entry whose pair was taken
    /// again in between is skipped when it comes up).
    idle: HashMap<SocketAddr, Instant>,
    idle_order: VecDeque<(Instant, SocketAddr)>,
    /// Closes pairs in the background; see the module doc.
    reaper: Option<mpsc::Sender<SocketAddr>>,
}

impl SocketPortAllocator {
    pub fn new(backend: Arc<SocketsBackend>, port_min: u16, port_max: u16) -> Self {
        let min = port_min.max(2).saturating_add(port_min % 2);
        let max_rtp = if port_max.is_multiple_of(2) {
            port_max.saturating_sub(2)
        } else {
            port_max.saturating_sub(1)
        };
        let reaper = start_reaper(&backend);
        SocketPortAllocator {
            backend,
            min,
            max_rtp,
            next: HashMap::new(),
            rng: seed(),
            in_use: HashSet::new(),
            reserved: HashSet::new(),
            idle: HashMap::new(),
            idle_order: VecDeque::new(),
            reaper,
        }
    }

    /// Closes the pairs idle for longer than [`IDLE_LINGER`].
    fn reap(&mut self, now: Instant) {
        while let Some(&(at, rtp)) = self.idle_order.front() {
            if now.saturating_duration_since(at) < IDLE_LINGER {
                break;
            }
            self.idle_order.pop_front();
            // A pair taken and released again since has a later entry.
            if self.idle.get(&rtp) == Some(&at) {
                self.idle.remove(&rtp);
                self.close_pair(rtp);
            }
        }
        // Sets keep their peak capacity; after a burst, return it.
        if self.idle.capacity() > 64 && self.idle.len() < self.idle.capacity() / 4 {
            self.idle.shrink_to_fit();
            self.idle_order.shrink_to_fit();
        }
        if self.in_use.capacity() > 64 && self.in_use.len() < self.in_use.capacity() / 4 {
            self.in_use.shrink_to_fit();
        }
    }

    fn close_pair(&self, rtp: SocketAddr) {
        let sent = self.reaper.as_ref().is_some_and(|r| r.send(rtp).is_ok());
        if !sent {
            remove_pair(&self.backend, rtp);
        }
    }

    fn bind(&self, ip: IpAddr, port: u16) -> std::io::Result<UdpSocket> {
        let sock = UdpSocket::bind(SocketAddr::new(ip, port))?;
        sock.set_nonblocking(true)?;
        Ok(sock)
    }
}

impl PortAllocator for SocketPortAllocator {
    fn allocate_pair(&mut self, ip: IpAddr) -> Result<u16, CallError> {
        if self.max_rtp < self.min {
            return Err(CallError::OutOfPorts);
        }
        let slots = u32::from((self.max_rtp - self.min) / 2 + 1);
        let mut port = *self.next.get(&ip).unwrap_or(&self.min);
        for _ in 0..slots {
            let candidate = port;
            port = if port >= self.max_rtp {
                self.min
            } else {
                port + 2
            };
            let rtp_addr = SocketAddr::new(ip, candidate);
            if self.in_use.contains(&rtp_addr) || self.reserved.contains(&rtp_addr) {
                continue;
            }
            let reused = self.idle.remove(&rtp_addr).is_some();
            if reused {
                self.in_use.insert(rtp_addr);
                self.advance(ip, port);
                return Ok(candidate);
            }
            let Ok(rtp) = self.bind(ip, candidate) else {
                continue;
            };
            let Ok(rtcp) = self.bind(ip, candidate + 1) else {
                continue;
            };
            let rtp_local = rtp.local_addr().map_err(|e| bind_err(ip, candidate, e))?;
            self.backend
                .add_socket(rtp)
                .map_err(|e| bind_err(ip, candidate, e))?;
            if let Err(e) = self.backend.add_socket(rtcp) {
                let _ = self.backend.remove_socket(rtp_local);
                return Err(bind_err(ip, candidate + 1, e));
            }
            self.in_use.insert(rtp_local);
            self.advance(ip, port);
            return Ok(candidate);
        }
        Err(CallError::OutOfPorts)
    }

    fn release_pair(&mut self, rtp: SocketAddr) {
        if self.in_use.remove(&rtp) {
            let now = Instant::now();
            self.idle.insert(rtp, now);
            self.idle_order.push_back((now, rtp));
            self.reap(now);
        }
    }

    fn handle_timeout(&mut self, now: Instant) {
        self.reap(now);
    }

    fn reserve_pair(&mut self, rtp: SocketAddr) {
        // Reservations come before any call, so the pair is neither in use nor idle
        // here; an idle one would be closed so that its sockets do not answer for it.
        if self.idle.remove(&rtp).is_some() {
            self.close_pair(rtp);
        }
        self.reserved.insert(rtp);
    }

    fn unreserve_pair(&mut self, rtp: SocketAddr) {
        self.reserved.remove(&rtp);
    }
}

impl SocketPortAllocator {
    /// Moves the search start past `port` (the slot after the one just
    /// taken) by a random number of pairs.
    fn advance(&mut self, ip: IpAddr, port: u16) {
        let step = 2 * (self.random() % 16) as u16;
        let next = u32::from(port) + u32::from(step);
        let next = if next > u32::from(self.max_rtp) {
            self.min
        } else {
            next as u16
        };
        self.next.insert(ip, next);
    }

    /// xorshift64: ports need to be unpredictable to an outsider, not
    /// cryptographically random.
    fn random(&mut self) -> u64 {
        let mut x = self.rng;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.rng = x;
        x
    }
}

/// Unregisters (and so closes) the RTP and RTCP sockets of a pair.
fn remove_pair(backend: &SocketsBackend, rtp: SocketAddr) {
    let _ = backend.remove_socket(rtp);
    let rtcp = SocketAddr::new(rtp.ip(), rtp.port().wrapping_add(1));
    let _ = backend.remove_socket(rtcp);
}

/// The thread that unregisters idle pairs: `remove_socket` blocks until every
/// data-plane worker has acknowledged. It holds the backend weakly so that
/// shutdown can still take the backend over; it ends with the allocator.
fn start_reaper(backend: &Arc<SocketsBackend>) -> Option<mpsc::Sender<SocketAddr>> {
    let (tx, rx) = mpsc::channel::<SocketAddr>();
    let backend: Weak<SocketsBackend> = Arc::downgrade(backend);
    let spawned = std::thread::Builder::new()
        .name("rtpbolt-reaper".into())
        .spawn(move || {
            while let Ok(rtp) = rx.recv() {
                let Some(backend) = backend.upgrade() else {
                    return;
                };
                remove_pair(&backend, rtp);
            }
        });
    match spawned {
        Ok(_) => Some(tx),
        Err(e) => {
            // Still correct, only slower: pairs are then closed inline.
            tracing::warn!("port reaper thread: {e}; closing ports on the request path");
            None
        }
    }
}

fn seed() -> u64 {
    let t = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    (t.as_nanos() as u64 ^ u64::from(std::process::id()).rotate_left(32)) | 1
}

fn bind_err(ip: IpAddr, port: u16, e: impl std::fmt::Display) -> CallError {
    CallError::Bind {
        ip,
        port,
        reason: e.to_string(),
    }
}
