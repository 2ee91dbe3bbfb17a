//! The generator's sockets: a small pool per side of the call, shared by all
//! calls.
//!
//! A relay neither knows nor cares that many calls advertise the same address
//! (each call gets its own relay ports, and latching is per relay port), so
//! a thousand calls need eight sockets, not two thousand; that keeps
//! `sendmmsg`/`recvmmsg` batches large and the generator cheap. Ports are
//! ephemeral (≥ 32768 on Linux), above the relays' media ranges.

use std::io;
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4, UdpSocket};

use crate::payload::Direction;
use crate::sys;

/// Socket buffer size: a full second of a thousand calls' packets per socket
/// would be ~25k datagrams; 16 MiB covers well past the receiver's hiccups.
pub const SOCKET_BUFFER: usize = 16 << 20;

/// Which phone a socket belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Side {
    /// The caller, who sends the offer.
    A,
    /// The callee, who sends the answer.
    B,
}

impl Direction {
    pub fn from_side(self) -> Side {
        match self {
            Direction::AtoB => Side::A,
            Direction::BtoA => Side::B,
        }
    }
    pub fn to_side(self) -> Side {
        match self {
            Direction::AtoB => Side::B,
            Direction::BtoA => Side::A,
        }
    }
}

/// Both pools. A socket's *token* is its index in [`Endpoints::all`].
pub struct Endpoints {
    sockets: Vec<UdpSocket>,
    addrs: Vec<SocketAddrV4>,
    pool: usize,
}

impl Endpoints {
    /// Binds `pool` sockets per side on `ip` (127.0.0.1 unless the relay is
    /// reached through an interface the test set up, e.g. a TAP in a netns).
    pub fn bind(pool: usize, ip: Ipv4Addr) -> io::Result<Endpoints> {
        let pool = pool.max(1);
        let mut sockets = Vec::with_capacity(2 * pool);
        let mut addrs = Vec::with_capacity(2 * pool);
        for _ in 0..2 * pool {
            let s = UdpSocket::bind((ip, 0))?;
            sys::set_buffers(&s, SOCKET_BUFFER);
            let SocketAddr::V4(a) = s.local_addr()? else {
                return Err(io::Error::other(
                    "bound an IPv4 address but got a non-IPv4 one",
                ));
            };
            sockets.push(s);
            addrs.push(a);
        }
        Ok(Endpoints {
            sockets,
            addrs,
            pool,
        })
    }

    pub fn pool(&self) -> usize {
        self.pool
    }

    /// Token of the socket on `side` that carries stream `stream` of `call`.
    /// Streams of one call land on different sockets so that their `m=`
    /// lines advertise different ports.
    pub fn token(&self, side: Side, call: u32, stream: u8, streams_per_call: u8) -> usize {
        let slot =
            (call as usize * usize::from(streams_per_call) + usize::from(stream)) % self.pool;
        match side {
            Side::A => slot,
            Side::B => self.pool + slot,
        }
    }

    pub fn socket(&self, token: usize) -> &UdpSocket {
        &self.sockets[token]
    }

    pub fn addr(&self, token: usize) -> SocketAddrV4 {
        self.addrs[token]
    }

    /// Every socket with its token.
    pub fn all(&self) -> impl Iterator<Item = (usize, &UdpSocket)> {
        self.sockets.iter().enumerate()
    }

    pub fn len(&self) -> usize {
        self.sockets.len()
    }

    pub fn is_empty(&self) -> bool {
        self.sockets.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn streams_of_a_call_use_distinct_sockets_and_sides_differ() {
        let e = Endpoints::bind(4, Ipv4Addr::LOCALHOST).unwrap();
        assert_eq!(e.len(), 8);
        let a: Vec<usize> = (0..4).map(|s| e.token(Side::A, 3, s, 4)).collect();
        assert_eq!(a, [0, 1, 2, 3]);
        assert_eq!(e.token(Side::B, 3, 0, 4), 4);
        assert_eq!(e.token(Side::A, 5, 0, 1), 1);
        assert!(e.addr(0).port() != e.addr(4).port());
        assert_eq!(*e.addr(7).ip(), Ipv4Addr::LOCALHOST);
    }
}
