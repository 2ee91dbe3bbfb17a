//! rtpbolt's data plane: one backend-independent packet function and its backends.
//!
//! - [`process`] gives each packet of a [`Batch`] a [`Verdict`] from the shared flow table
//!   ([`shared_tables::TableReader`]) and counts it; it is the only place packet policy
//!   lives.
//! - Backends only fill and flush batches: [`SocketsBackend`] (plain UDP sockets with
//!   `recvmmsg`/`sendmmsg`, the default). DPDK and AF_XDP backends will call the same
//!   [`process`].
//! - Packets the data plane does not handle (unknown flow, STUN, DTLS, source-mismatch
//!   with policy Punt) go to the control plane through a [`PuntSink`].
//!
//! `unsafe` is confined to `backend/*/ffi.rs`.
#![deny(unsafe_code)]

pub mod backend;
pub mod batch;
pub mod classify;
pub mod counters;
pub mod process;

pub use backend::udp::{BackendError, SocketsBackend, SocketsIo};
pub use backend::{PuntSink, PuntedPacket};
pub use batch::{Batch, DropReason, Packet, Verdict, BATCH_SIZE, MAX_PACKET_LEN};
pub use counters::WorkerCounters;
pub use process::process;
