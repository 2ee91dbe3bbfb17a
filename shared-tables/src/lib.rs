//! The flow table: the one contract between rtpbolt's control plane and its data planes.
//!
//! Modelled on rtpengine's xt_RTPENGINE forwarding table, but in user space: fixed-size
//! `#[repr(C)]` slots ([`layout`]) in a shared-memory region ([`FlowTable::create`]: a
//! memfd; [`FlowTable::create_at`]: a file under `/dev/shm` or hugetlbfs, so a separate
//! data-plane process can [`FlowTable::attach`]).
//!
//! Invariants:
//! - One writer, the control plane ([`TableWriter`], at most one per region, held through
//!   a file lock the kernel releases when its process dies, so a restarted control plane
//!   takes over the table it left, entries and all: [`takeover`]). Data-plane workers are
//!   lock-free readers ([`TableReader`]); a per-slot seqlock makes them retry
//!   a read that raced a write, so they never act on a half-written action.
//! - Workers only write the per-entry counters (relaxed atomics, once per batch).
//! - A packet whose key has no entry goes to the control plane.
//! - The header carries [`layout::MAGIC`] and [`layout::LAYOUT_VERSION`], checked on
//!   attach; reserved bytes and flag bits leave room for SSRC rewriting.
//! - SRTP flows carry their keys in a second seqlocked block of the slot, read only by
//!   workers whose entry has `FLOW_SRTP_*` bits and cached per worker by generation.

pub mod counters;
mod entry;
pub mod layout;
mod seqlock;
mod shm;
mod table;
pub mod takeover;

use std::net::SocketAddr;

pub use counters::{monotonic_now, FlowCounters, SrtpProgress};
pub use entry::{EntryId, FlowAction, FlowCrypto, FlowKey, SrcMismatch, SrtpCounters, SrtpKey};
pub use layout::{
    FLOW_BLACKHOLE, FLOW_RTCP, FLOW_SRTP_IN, FLOW_SRTP_OUT, LAYOUT_VERSION,
    SRTP_UNAUTHENTICATED_SRTP, SRTP_UNENCRYPTED_SRTCP, SRTP_UNENCRYPTED_SRTP,
};
pub use table::{FlowTable, TableReader, TableWriter, MAX_CAPACITY};
pub use takeover::Takeover;

/// Errors creating, attaching or writing a flow table.
#[derive(Debug, thiserror::Error)]
pub enum TableError {
    /// A system call on the region failed.
    #[error("flow table {op} failed: {source}")]
    Io {
        op: &'static str,
        #[source]
        source: std::io::Error,
    },
    /// `capacity` live entries already; remove one first.
    #[error("flow table full ({capacity} entries)")]
    Full { capacity: usize },
    /// Requested capacity is zero or too large.
    #[error("flow table capacity {capacity} not in 1..={max}")]
    BadCapacity { capacity: usize, max: usize },
    /// The region is not a flow table of this build's layout.
    #[error("not a usable rtpbolt flow table: {reason}")]
    BadRegion { reason: &'static str },
    /// The region was created by a build with another [`LAYOUT_VERSION`].
    #[error("flow table layout version {found}, this build uses {expected}")]
    VersionMismatch { found: u32, expected: u32 },
    /// Another [`TableWriter`] exists (in this or another live process).
    #[error("flow table already has a writer")]
    WriterBusy,
    /// An action's `dst` and `src` must be the same address family.
    #[error("flow action sends to {dst} from {src}: address families differ")]
    FamilyMismatch { dst: SocketAddr, src: SocketAddr },
    /// Flag bits this layout version does not define.
    #[error("unknown flow flags {flags:#x}")]
    UnknownFlags { flags: u32 },
    /// The action's `FLOW_SRTP_*` bits do not match the SRTP keys given with it.
    #[error("flow flags {flags:#x} do not match the SRTP keys given")]
    CryptoMismatch { flags: u32 },
}
