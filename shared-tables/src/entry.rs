//! The entry types of the flow-table API: the key, the action and the entry id, and their
//! encoding to and from the `#[repr(C)]` slot data in [`crate::layout`].

use std::net::SocketAddr;

use crate::layout::{
    CryptoDataC, FlowEntryData, SockAddrC, SrtpKeyC, FAMILY_NONE, FLOW_SRTP_IN, FLOW_SRTP_OUT,
    SLOT_OCCUPIED,
};

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

/// One SRTP master key of a flow (see [`crate::layout::SrtpKeyC`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct SrtpKey {
    /// Suite id (the `srtp` crate's); 0 is reserved for "no key".
    pub suite: u8,
    /// `SRTP_*` session parameter bits ([`crate::layout::SRTP_UNENCRYPTED_SRTP`], ...).
    pub params: u8,
    /// Key derivation rate as a power of two (0 = derive once).
    pub kdr: u8,
    /// MKI value and length in bytes (1..=4), if the key has one.
    pub mki: Option<(u32, u8)>,
    /// Master key, left-aligned.
    pub key: [u8; 32],
    /// Master salt, left-aligned.
    pub salt: [u8; 14],
}

impl SrtpKey {
    fn encode(&self) -> SrtpKeyC {
        let (mki, mki_len) = self.mki.unwrap_or((0, 0));
        SrtpKeyC {
            suite: self.suite,
            params: self.params,
            mki_len,
            kdr: self.kdr,
            mki,
            key: self.key,
            salt: self.salt,
            _pad: [0; 2],
        }
    }

    fn decode(c: &SrtpKeyC) -> Option<SrtpKey> {
        (c.suite != 0).then_some(SrtpKey {
            suite: c.suite,
            params: c.params,
            kdr: c.kdr,
            mki: (c.mki_len != 0).then_some((c.mki, c.mki_len)),
            key: c.key,
            salt: c.salt,
        })
    }
}

/// The SRTP side of an entry: the key its packets arrive with, the key they leave with,
/// and where the control plane left the packet indices when it handed the stream to the
/// data plane (so rollover counters and the SRTCP index continue rather than restart).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct FlowCrypto {
    /// Set by the table when read; ignored when written (the table bumps it).
    pub generation: u32,
    /// Decrypt arriving packets with this ([`crate::layout::FLOW_SRTP_IN`]).
    pub inbound: Option<SrtpKey>,
    /// Encrypt forwarded packets with this ([`crate::layout::FLOW_SRTP_OUT`]).
    pub outbound: Option<SrtpKey>,
    /// Last inbound RTP index (ROC << 16 | seq) accepted so far, if any.
    pub in_index: Option<u64>,
    /// Last outbound RTP index sent so far, if any.
    pub out_index: Option<u64>,
    /// Next outbound SRTCP index.
    pub out_rtcp_index: u64,
}

impl FlowCrypto {
    pub(crate) fn encode(&self, generation: u32) -> CryptoDataC {
        CryptoDataC {
            generation,
            _pad0: 0,
            inbound: self.inbound.map(|k| k.encode()).unwrap_or_default(),
            outbound: self.outbound.map(|k| k.encode()).unwrap_or_default(),
            in_index: self.in_index.map_or(0, |i| i.saturating_add(1)),
            out_index: self.out_index.map_or(0, |i| i.saturating_add(1)),
            out_rtcp_index: self.out_rtcp_index,
        }
    }

    /// `None` for a block never written or repaired after a writer died mid-write.
    pub(crate) fn decode(c: &CryptoDataC) -> Option<FlowCrypto> {
        (c.generation != 0).then(|| FlowCrypto {
            generation: c.generation,
            inbound: SrtpKey::decode(&c.inbound),
            outbound: SrtpKey::decode(&c.outbound),
            in_index: c.in_index.checked_sub(1),
            out_index: c.out_index.checked_sub(1),
            out_rtcp_index: c.out_rtcp_index,
        })
    }

    /// The `FLOW_SRTP_*` bits an action carrying this must have.
    pub fn flags(&self) -> u32 {
        let mut f = 0;
        if self.inbound.is_some() {
            f |= FLOW_SRTP_IN;
        }
        if self.outbound.is_some() {
            f |= FLOW_SRTP_OUT;
        }
        f
    }
}

/// A snapshot of an entry's SRTP counters (see [`crate::layout::SrtpCountersC`]).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SrtpCounters {
    /// Packets dropped for a tag that did not verify.
    pub auth_failures: u64,
    /// Packets dropped as replays.
    pub replays: u64,
    /// Highest inbound RTP index the data plane accepted.
    pub in_index: Option<u64>,
    /// Highest outbound RTP index the data plane sent.
    pub out_index: Option<u64>,
    /// Next outbound SRTCP index, if the data plane sent SRTCP.
    pub out_rtcp_index: Option<u64>,
    /// SSRC of the inbound stream `in_index` belongs to, if known.
    pub in_ssrc: Option<u32>,
    /// SSRC of the outbound stream `out_index` belongs to, if known.
    pub out_ssrc: Option<u32>,
}
