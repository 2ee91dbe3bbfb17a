//! The entry types of the flow-table API: the key, the action and the entry id, and their
//! encoding to and from the `#[repr(C)]` slot data in [`crate::layout`].

use std::net::SocketAddr;

use crate::layout::{FlowEntryData, SockAddrC, FAMILY_NONE, SLOT_OCCUPIED};

/// The lookup key: the local (our) address and port a packet arrived on.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct FlowKey(pub(crate) SockAddrC);

impl FlowKey {
    /// The key for packets arriving on `local`.
    #[inline]
    pub fn new(local: SocketAddr) -> FlowKey {
        FlowKey(SockAddrC::from_socket_addr(local))
    }

    /// The local address this key stands for.
    pub fn local(&self) -> SocketAddr {
        self.0
            .to_socket_addr()
            .expect("FlowKey is only built from a SocketAddr, so its family is valid")
    }

    /// Home slot hash. Fixed (unseeded) because every process mapping the region must agree;
    /// keys are our own addresses, chosen by the control plane, not by remote peers.
    #[inline]
    pub(crate) fn hash(&self) -> u64 {
        let a = &self.0.addr;
        let lo = u64::from_le_bytes([a[0], a[1], a[2], a[3], a[4], a[5], a[6], a[7]]);
        let hi = u64::from_le_bytes([a[8], a[9], a[10], a[11], a[12], a[13], a[14], a[15]]);
        let meta = u64::from(self.0.family) << 48
            | u64::from(self.0.port) << 32
            | u64::from(self.0.scope_id);
        // Ports vary most; multiply-xorshift (murmur3 fmix64) spreads them over all bits.
        let mut h = meta ^ lo.wrapping_mul(0x9e37_79b9_7f4a_7c15) ^ hi.rotate_left(29);
        h ^= h >> 33;
        h = h.wrapping_mul(0xff51_afd7_ed55_8ccd);
        h ^= h >> 33;
        h = h.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
        h ^ (h >> 33)
    }
}

/// What to do when a flow has an expected source and a packet comes from elsewhere.
#[repr(u8)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum SrcMismatch {
    /// Forward anyway (the source check is informational).
    Forward = 0,
    /// Hand the packet to the control plane (e.g. to re-latch after a NAT rebinding).
    Punt = 1,
    /// Drop it and count an error on the entry (strict source).
    Drop = 2,
}

impl TryFrom<u8> for SrcMismatch {
    type Error = u8;
    fn try_from(v: u8) -> Result<Self, u8> {
        match v {
            0 => Ok(SrcMismatch::Forward),
            1 => Ok(SrcMismatch::Punt),
            2 => Ok(SrcMismatch::Drop),
            other => Err(other),
        }
    }
}

/// The plain-Rust view of an entry's action: what the writer passes in, what readers get.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FlowAction {
    /// Where to send the packet.
    pub dst: SocketAddr,
    /// Our local address/port to send it from (the other leg's port).
    pub src: SocketAddr,
    /// `None`: no source check, forward whatever the source.
    pub expected_src: Option<SocketAddr>,
    /// Applies only when `expected_src` is set and differs from the packet's source.
    pub src_mismatch: SrcMismatch,
    /// IP TOS / IPv6 traffic class for forwarded packets.
    pub tos: u8,
    /// `FLOW_*` bits.
    pub flags: u32,
    /// Opaque to the data plane; lets the control plane map entries back.
    pub stream_id: u64,
}

impl FlowAction {
    pub(crate) fn encode(&self, key: &FlowKey) -> FlowEntryData {
        FlowEntryData {
            state: SLOT_OCCUPIED,
            src_mismatch: self.src_mismatch as u8,
            tos: self.tos,
            _pad0: 0,
            flags: self.flags,
            key: key.0,
            expected_src: self
                .expected_src
                .map_or(SockAddrC::NONE, SockAddrC::from_socket_addr),
            dst: SockAddrC::from_socket_addr(self.dst),
            src: SockAddrC::from_socket_addr(self.src),
            stream_id: self.stream_id,
            _reserved: [0; 2],
        }
    }

    /// `None` if the entry carries values this layout does not know (a corrupt region);
    /// the caller then treats it as absent, which punts the packet to the control plane.
    #[inline]
    pub(crate) fn decode(d: &FlowEntryData) -> Option<FlowAction> {
        let expected_src = match d.expected_src.family {
            FAMILY_NONE => None,
            _ => Some(d.expected_src.to_socket_addr()?),
        };
        Some(FlowAction {
            dst: d.dst.to_socket_addr()?,
            src: d.src.to_socket_addr()?,
            expected_src,
            src_mismatch: SrcMismatch::try_from(d.src_mismatch).ok()?,
            tos: d.tos,
            flags: d.flags,
            stream_id: d.stream_id,
        })
    }
}

/// A slot index, valid until the entry is removed. Workers use it to add counters
/// without a second lookup.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct EntryId(pub(crate) u32);

impl EntryId {
    /// The slot index.
    pub fn index(self) -> usize {
        self.0 as usize
    }
}
