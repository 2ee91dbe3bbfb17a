//! Media port allocation: binds RTP (even) / RTCP (odd) socket pairs from
//! `--port-min`..`--port-max` and hands them to the data plane.

use std::collections::{HashMap, HashSet};
use std::net::{IpAddr, SocketAddr, UdpSocket};
use std::sync::Arc;

use dataplane::SocketsBackend;

use crate::call::{CallError, PortAllocator};

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
}

impl SocketPortAllocator {
    pub fn new(backend: Arc<SocketsBackend>, port_min: u16, port_max: u16) -> Self {
        let min = port_min.max(2).saturating_add(port_min % 2);
        let max_rtp = if port_max.is_multiple_of(2) {
            port_max.saturating_sub(2)
        } else {
            port_max.saturating_sub(1)
        };
        SocketPortAllocator {
            backend,
            min,
            max_rtp,
            next: HashMap::new(),
            rng: seed(),
            in_use: HashSet::new(),
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
            if self.in_use.contains(&rtp_addr) {
                continue;
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
            let step = 2 * (self.random() % 16) as u16;
            let next = u32::from(port) + u32::from(step);
            let next = if next > u32::from(self.max_rtp) {
                self.min
            } else {
                next as u16
            };
            self.next.insert(ip, next);
            return Ok(candidate);
        }
        Err(CallError::OutOfPorts)
    }

    fn release_pair(&mut self, rtp: SocketAddr) {
        if self.in_use.remove(&rtp) {
            let _ = self.backend.remove_socket(rtp);
            let rtcp = SocketAddr::new(rtp.ip(), rtp.port().wrapping_add(1));
            let _ = self.backend.remove_socket(rtcp);
        }
    }
}

impl SocketPortAllocator {
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
