//! rtpbolt's data plane: one backend-independent packet function and its backends.
//!
//! - The flow-table policy (blackhole, RFC 7983 demux, expected-source check, per-entry
//!   counting) lives in one place, the private `policy` module. Two packet functions
//!   apply it to a batch: [`process()`] over a [`Batch`] of UDP payloads (sockets backend)
//!   and [`frame::FrameProcessor::process`] over raw Ethernet frames (DPDK, AF_XDP).
//! - Backends only fill and flush batches: [`SocketsBackend`] (plain UDP sockets with
//!   `recvmmsg`/`sendmmsg`, the default). DPDK and AF_XDP backends call the frame path.
//! - Packets the data plane does not handle (unknown flow, STUN, DTLS, source-mismatch
//!   with policy Punt) go to the control plane: through a [`PuntSink`] on the sockets
//!   path, through the kernel (exception TAP, `XDP_PASS`) on the frame path.
//!
//! `unsafe` is confined to `backend/*/ffi.rs`.
#![deny(unsafe_code)]

pub mod backend;
pub mod batch;
pub mod classify;
pub mod counters;
pub mod frame;
mod policy;
pub mod process;
pub mod srtp;

pub use backend::udp::{BackendError, SocketsBackend, SocketsIo};
pub use backend::{PuntSink, PuntedPacket};
pub use batch::{Batch, DropReason, Packet, Verdict, BATCH_SIZE, MAX_PACKET_LEN};
pub use counters::WorkerCounters;
pub use frame::{Frame, FrameConfig, FrameProcessor, FrameVerdict};
pub use process::process;
pub use srtp::SrtpStage;
