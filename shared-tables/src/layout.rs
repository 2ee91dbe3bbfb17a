//! The `#[repr(C)]` layout of the shared region: header, then a power-of-two array of slots.
//!
//! This is the ABI between the control plane and every data plane (including a later
//! separate `rtpbolt-dataplane` process that maps the same file), so every field is
//! fixed-width, every hole is an explicit `_pad`/`_reserved`, and enums are `u8` with
//! `TryFrom`. Any change to these structs must bump [`LAYOUT_VERSION`]; the const asserts at
//! the bottom catch accidental size or offset changes.
//!
//! Unlike xt_RTPENGINE's `struct re_address` (an `int family` plus a union) addresses here
//! are one tagged 24-byte struct, and unlike its target entry there is no lock: a slot's
//! action is protected by the seqlock in [`crate::seqlock`].

use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6};
use std::sync::atomic::{AtomicU32, AtomicU64};

/// `b"RTPBOLT\0"` read as a little-endian `u64`; identifies an rtpbolt flow table region.
pub const MAGIC: u64 = u64::from_le_bytes(*b"RTPBOLT\0");

/// Bumped on any change to the structs in this module; [`crate::FlowTable::attach`] refuses
/// a region whose header carries a different version.
pub const LAYOUT_VERSION: u32 = 3;

/// Packets of this flow are RTCP (the port is an RTCP port; no RTP/RTCP demux needed).
pub const FLOW_RTCP: u32 = 1 << 0;
/// Drop every packet of this flow, counting it (call on hold, `block media`).
pub const FLOW_BLACKHOLE: u32 = 1 << 1;
/// Packets arrive as SRTP (SRTCP with [`FLOW_RTCP`]): authenticate and decrypt them with
/// the slot's inbound key before forwarding.
pub const FLOW_SRTP_IN: u32 = 1 << 2;
/// Forwarded packets leave as SRTP/SRTCP: encrypt and authenticate them with the slot's
/// outbound key.
pub const FLOW_SRTP_OUT: u32 = 1 << 3;
/// Flag bits a reader of this layout version understands; the rest are reserved for
/// later layouts (SSRC rewrite) and must be written as zero.
pub const FLOW_KNOWN_FLAGS: u32 = FLOW_RTCP | FLOW_BLACKHOLE | FLOW_SRTP_IN | FLOW_SRTP_OUT;

/// Address family tags used in [`SockAddrC::family`]. Not the libc `AF_*` values, so the
/// layout does not depend on the platform's headers.
pub const FAMILY_NONE: u16 = 0;
/// IPv4; `addr[..4]` holds the address.
pub const FAMILY_V4: u16 = 4;
/// IPv6; `addr` holds the address, `scope_id` the interface for link-local addresses.
pub const FAMILY_V6: u16 = 6;

/// A socket address in the shared region: tagged, fixed-width, no union.
///
/// Port and address are stored in host byte order/array order; the region never leaves
/// the host, and the data plane converts to `sockaddr` only at the syscall boundary.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub struct SockAddrC {
    /// [`FAMILY_NONE`], [`FAMILY_V4`] or [`FAMILY_V6`].
    pub family: u16,
    /// UDP port.
    pub port: u16,
    /// IPv6 scope id (0 for IPv4).
    pub scope_id: u32,
    /// Address octets; IPv4 uses the first four, the rest stay zero.
    pub addr: [u8; 16],
}

impl SockAddrC {
    /// The "no address" value (e.g. no expected source).
    pub const NONE: SockAddrC = SockAddrC {
        family: FAMILY_NONE,
        port: 0,
        scope_id: 0,
        addr: [0; 16],
    };

    /// Encodes `sa`. IPv6 flowinfo is dropped: it is per-packet, not part of an endpoint.
    #[inline]
    pub fn from_socket_addr(sa: SocketAddr) -> SockAddrC {
        match sa {
            SocketAddr::V4(v4) => {
                let mut addr = [0u8; 16];
                addr[..4].copy_from_slice(&v4.ip().octets());
                SockAddrC {
                    family: FAMILY_V4,
                    port: v4.port(),
                    scope_id: 0,
                    addr,
                }
            }
            SocketAddr::V6(v6) => SockAddrC {
                family: FAMILY_V6,
                port: v6.port(),
                scope_id: v6.scope_id(),
                addr: v6.ip().octets(),
            },
        }
    }

    /// Decodes; `None` for [`FAMILY_NONE`] and for unknown tags (a corrupt or newer region).
    #[inline]
    pub fn to_socket_addr(&self) -> Option<SocketAddr> {
        match self.family {
            FAMILY_V4 => {
                let ip = Ipv4Addr::new(self.addr[0], self.addr[1], self.addr[2], self.addr[3]);
                Some(SocketAddr::V4(SocketAddrV4::new(ip, self.port)))
            }
            FAMILY_V6 => Some(SocketAddr::V6(SocketAddrV6::new(
                Ipv6Addr::from(self.addr),
                self.port,
                0,
                self.scope_id,
            ))),
            _ => None,
        }
    }
}

/// The region header, at offset 0. Written once by the creator; `len`, `tombstones` and
/// `writer_active` change afterwards.
#[repr(C, align(64))]
pub struct Header {
    /// [`MAGIC`].
    pub magic: u64,
    /// [`LAYOUT_VERSION`].
    pub layout_version: u32,
    /// `size_of::<FlowSlot>()`, so an attacher built with a different layout fails loudly.
    pub slot_size: u32,
    /// Number of slots (a power of two, twice `capacity` rounded up).
    pub slots: u64,
    /// Maximum number of live entries (the creator's `capacity`).
    pub capacity: u64,
    /// Live entries; written only by the writer.
    pub len: AtomicU64,
    /// Tombstoned slots; written only by the writer.
    pub tombstones: AtomicU64,
    /// PID of the current `TableWriter`'s process, 0 after a clean drop. Not the lock
    /// itself (a file lock is, see [`crate::takeover`]): a nonzero value seen by a new
    /// writer means the previous one died holding the table.
    pub writer_active: AtomicU32,
    pub _pad0: u32,
    pub _reserved: [u64; 1],
}

/// Slot states ([`FlowEntryData::state`]).
pub const SLOT_EMPTY: u8 = 0;
/// Holds a live entry.
pub const SLOT_OCCUPIED: u8 = 1;
/// Held an entry that was removed; probing continues past it.
pub const SLOT_TOMBSTONE: u8 = 2;

/// The seqlock-protected part of a slot. All fields are integers (any bit pattern is a
/// valid value), so a reader can rebuild it from the atomic words it copied even if the
/// copy was torn; the seqlock then tells it to discard the copy.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct FlowEntryData {
    /// `SLOT_*`.
    pub state: u8,
    /// [`crate::SrcMismatch`] as `u8`.
    pub src_mismatch: u8,
    /// IP TOS / IPv6 traffic class to send with.
    pub tos: u8,
    pub _pad0: u8,
    /// `FLOW_*` bits.
    pub flags: u32,
    /// The local address/port the packets arrive on.
    pub key: SockAddrC,
    /// Source the packets must come from; family [`FAMILY_NONE`] disables the check.
    pub expected_src: SockAddrC,
    /// Where to forward to.
    pub dst: SockAddrC,
    /// Our local address/port to forward from.
    pub src: SockAddrC,
    /// Opaque to the data plane; maps the entry back to a control-plane stream.
    pub stream_id: u64,
    /// Room for later layouts (SSRC rewrite parameters). Written as zero by this version.
    pub _reserved: [u64; 2],
}

/// One SRTP master key as the data plane needs it. The suite is an opaque id the control
/// plane and the data plane agree on (the `srtp` crate's suite ids); this crate only
/// stores it.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct SrtpKeyC {
    /// Suite id; 0 = no key.
    pub suite: u8,
    /// `SRTP_*` session parameter bits.
    pub params: u8,
    /// MKI length in bytes (0 = no MKI).
    pub mki_len: u8,
    /// Key derivation rate as a power of two (0 = derive once).
    pub kdr: u8,
    /// MKI value.
    pub mki: u32,
    /// Master key, left-aligned; the suite says how much of it is used.
    pub key: [u8; 32],
    /// Master salt, left-aligned.
    pub salt: [u8; 14],
    pub _pad: [u8; 2],
}

/// `SrtpKeyC::params`: RFC 4568 UNENCRYPTED_SRTP.
pub const SRTP_UNENCRYPTED_SRTP: u8 = 1 << 0;
/// `SrtpKeyC::params`: RFC 4568 UNENCRYPTED_SRTCP.
pub const SRTP_UNENCRYPTED_SRTCP: u8 = 1 << 1;
/// `SrtpKeyC::params`: RFC 4568 UNAUTHENTICATED_SRTP.
pub const SRTP_UNAUTHENTICATED_SRTP: u8 = 1 << 2;

/// A slot's SRTP keys and where the control plane left the packet indices, protected by
/// the slot's second seqlock (`FlowSlot::crypto_seq`). Like xt_RTPENGINE's per-target
/// crypto context, but the indices the data plane reaches are published separately
/// ([`SrtpCountersC`]), so this block is written only by the control plane.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct CryptoDataC {
    /// Bumped on every write; 0 = no valid keys (never written, or repaired after a
    /// writer died mid-write).
    pub generation: u32,
    pub _pad0: u32,
    /// Key of the packets as they arrive ([`FLOW_SRTP_IN`]).
    pub inbound: SrtpKeyC,
    /// Key of the packets as they leave ([`FLOW_SRTP_OUT`]).
    pub outbound: SrtpKeyC,
    /// Last inbound RTP index (ROC << 16 | seq) the control plane accepted, plus one;
    /// 0 = none yet. Seeds the data plane's rollover counter estimate.
    pub in_index: u64,
    /// Last outbound RTP index the control plane sent, plus one; 0 = none yet.
    pub out_index: u64,
    /// Next outbound SRTCP index.
    pub out_rtcp_index: u64,
}

/// Per-slot SRTP counters and progress, written by data-plane workers (relaxed atomics,
/// once per batch), read by the control plane for `query` and when it takes a stream's
/// media back into user space.
#[repr(C)]
pub struct SrtpCountersC {
    /// Packets dropped because their authentication tag did not verify.
    pub auth_failures: AtomicU64,
    /// Packets dropped as replays (or too old for the replay window).
    pub replays: AtomicU64,
    /// Highest inbound RTP index accepted, plus one; 0 = none.
    pub in_index: AtomicU64,
    /// Highest outbound RTP index sent, plus one; 0 = none.
    pub out_index: AtomicU64,
    /// Next outbound SRTCP index the data plane would use, plus one; 0 = it sent none.
    pub out_rtcp_index: AtomicU64,
    /// SSRC of the stream `in_index` belongs to, with bit 32 set; 0 = unknown.
    pub in_ssrc: AtomicU64,
    /// SSRC of the stream `out_index` belongs to, with bit 32 set; 0 = unknown. A worker
    /// rebuilding its state needs it to see that a new stream must start at ROC 0.
    pub out_ssrc: AtomicU64,
}

/// Per-entry counters, updated by data-plane workers with relaxed atomics.
#[repr(C)]
pub struct CountersC {
    pub packets: AtomicU64,
    pub bytes: AtomicU64,
    pub errors: AtomicU64,
    /// CLOCK_MONOTONIC nanoseconds of the last counted packet; 0 = never.
    pub last_packet_ns: AtomicU64,
}

/// Number of `u64` words [`FlowEntryData`] is copied as under the seqlock.
pub const DATA_WORDS: usize = core::mem::size_of::<FlowEntryData>() / 8;
/// Number of `u64` words [`CryptoDataC`] is copied as under its seqlock.
pub const CRYPTO_WORDS: usize = core::mem::size_of::<CryptoDataC>() / 8;

/// One hash-table slot: seqlock generation, the action as atomic words, the counters.
#[repr(C, align(64))]
pub struct FlowSlot {
    /// Seqlock generation: odd while the writer rewrites `data`.
    pub seq: AtomicU32,
    pub _pad0: u32,
    /// [`FlowEntryData`] stored as words so that concurrent reads are atomic loads, not
    /// data races; see [`crate::seqlock`].
    pub data: [AtomicU64; DATA_WORDS],
    pub counters: CountersC,
    /// Seqlock generation of `crypto`: odd while the writer rewrites it.
    pub crypto_seq: AtomicU32,
    pub _pad1: u32,
    /// [`CryptoDataC`] as words; only meaningful while `data`'s flags carry
    /// [`FLOW_SRTP_IN`] or [`FLOW_SRTP_OUT`], so plain flows never read it.
    pub crypto: [AtomicU64; CRYPTO_WORDS],
    pub srtp: SrtpCountersC,
}

// Words of the seqlocked blocks are read back field by field on the same host; the
// generation read (`seqlock::read_crypto_generation`) relies on little-endian words.
const _: () = assert!(cfg!(target_endian = "little"));
const _: () = assert!(core::mem::size_of::<SockAddrC>() == 24);
const _: () = assert!(core::mem::align_of::<SockAddrC>() == 4);
const _: () = assert!(core::mem::size_of::<FlowEntryData>() == 128);
const _: () = assert!(core::mem::align_of::<FlowEntryData>() == 8);
const _: () = assert!(core::mem::offset_of!(FlowEntryData, key) == 8);
const _: () = assert!(core::mem::offset_of!(FlowEntryData, stream_id) == 104);
const _: () = assert!(core::mem::size_of::<CountersC>() == 32);
const _: () = assert!(core::mem::size_of::<SrtpKeyC>() == 56);
const _: () = assert!(core::mem::size_of::<CryptoDataC>() == 144);
const _: () = assert!(core::mem::size_of::<SrtpCountersC>() == 56);
// 384 = 6 cache lines: slots never straddle a line boundary with a neighbour, and a plain
// flow's lookup touches only the first three (seq, data, counters).
const _: () = assert!(core::mem::size_of::<FlowSlot>() == 384);
const _: () = assert!(core::mem::offset_of!(FlowSlot, data) == 8);
const _: () = assert!(core::mem::offset_of!(FlowSlot, counters) == 136);
const _: () = assert!(core::mem::offset_of!(FlowSlot, crypto_seq) == 168);
const _: () = assert!(core::mem::offset_of!(FlowSlot, crypto) == 176);
const _: () = assert!(core::mem::offset_of!(FlowSlot, srtp) == 320);
const _: () = assert!(core::mem::size_of::<Header>() == 64);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn magic_spells_rtpbolt() {
        assert_eq!(&MAGIC.to_le_bytes(), b"RTPBOLT\0");
    }

    #[test]
    fn sockaddr_round_trips_v4_and_v6() {
        let v4: SocketAddr = "192.0.2.7:30000".parse().unwrap();
        let c = SockAddrC::from_socket_addr(v4);
        assert_eq!(c.family, FAMILY_V4);
        assert_eq!(&c.addr[4..], &[0u8; 12]);
        assert_eq!(c.to_socket_addr(), Some(v4));

        let v6 = SocketAddr::V6(SocketAddrV6::new("fe80::1".parse().unwrap(), 5004, 0, 3));
        assert_eq!(SockAddrC::from_socket_addr(v6).to_socket_addr(), Some(v6));
    }

    #[test]
    fn unknown_family_is_none() {
        let c = SockAddrC {
            family: 99,
            ..SockAddrC::NONE
        };
        assert_eq!(c.to_socket_addr(), None);
        assert_eq!(SockAddrC::NONE.to_socket_addr(), None);
    }
}
