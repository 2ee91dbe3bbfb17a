//! Data-plane backends and what they share: the punt path to the control plane.
//!
//! A backend only moves packets between the wire and a [`crate::Batch`]; policy is in
//! [`crate::process`].

pub mod af_xdp;
#[cfg(feature = "dpdk")]
pub mod dpdk;
#[cfg(any(feature = "dpdk", feature = "af-xdp"))]
pub mod neighbours;
pub mod udp;
#[cfg(feature = "af-xdp")]
pub mod xdp;

use core::time::Duration;
use std::net::SocketAddr;

/// A packet the data plane hands to the control plane (unknown flow, STUN, DTLS, or a
/// source mismatch with policy Punt). Built off the fast path, so it owns its bytes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PuntedPacket {
    /// Our local address it arrived on.
    pub local: SocketAddr,
    /// The remote address it came from.
    pub src: SocketAddr,
    /// The UDP payload.
    pub data: Vec<u8>,
    /// CLOCK_MONOTONIC receive time ([`shared_tables::monotonic_now`]).
    pub received: Duration,
}

impl PuntedPacket {
    /// A copy of a batch packet received at `received`.
    pub fn copy_of(pkt: &crate::Packet, received: Duration) -> PuntedPacket {
        PuntedPacket {
            local: pkt.local(),
            src: pkt.src(),
            data: pkt.data().to_vec(),
            received,
        }
    }
}

/// Where punted packets go. The control plane implements it by forwarding into a channel;
/// it is called from worker threads, so it must not block for long (drop when full).
pub trait PuntSink: Send + Sync + 'static {
    /// Takes one punted packet.
    fn punt(&self, pkt: PuntedPacket);
}
