//! The DPDK backend: poll-mode workers that own NIC queues, forward flow-table hits in
//! place and hand everything else to the kernel through an exception TAP.
//!
//! - [`ffi`] holds every DPDK call behind safe types ([`Eal`], [`Mempool`], [`Port`],
//!   [`Queue`], [`Mbuf`], [`Burst`]); nothing else here is `unsafe`.
//! - [`worker`] is one worker's loop: NIC rx burst → [`crate::frame`]'s packet function →
//!   NIC tx (Transmit) or TAP tx (Kernel); TAP rx → NIC tx unchanged.
//! - [`neighbours`] (shared with AF_XDP) seeds the workers' neighbour tables from the
//!   kernel's ARP cache and from each other.
//! - [`stats`] holds per-worker counters (written by their worker only, published once per
//!   burst) and their JSON rendering for the stats file.
//!
//! The exception TAP carries the NIC's MAC, so the kernel answers ARP/ND for the NIC's
//! addresses and the control plane's ordinary sockets see every packet that is not a
//! table hit; the control plane needs no DPDK code.

pub mod ffi;
/// Shared with the AF_XDP backend; kept here too, where the DPDK code found it.
pub use super::neighbours;
pub mod stats;
pub mod worker;

pub use ffi::{
    Burst, Eal, Mbuf, MbufData, Mempool, Port, PortConfig, Queue, RegisteredThread, TxResult,
    BURST, HEADROOM,
};
pub use stats::{DpdkCounters, PublishedDpdkCounters, PublishedWorker, WorkerStats};
pub use worker::{Worker, WorkerConfig};

/// Errors from DPDK calls.
#[derive(Debug, thiserror::Error)]
pub enum DpdkError {
    /// `rte_eal_init` failed (bad EAL arguments, no hugepages, not root, …).
    #[error("EAL initialisation failed: {message} (rte_errno {code})")]
    EalInit { code: i32, message: String },
    /// `rte_eal_init` may run once per process.
    #[error("EAL already initialised in this process")]
    AlreadyInitialised,
    /// A command-line argument or device string contains a NUL byte.
    #[error("argument contains a NUL byte: {arg:?}")]
    NulInArgument { arg: String },
    /// More EAL arguments than a C `int` counts.
    #[error("too many EAL arguments")]
    TooManyArguments,
    /// A DPDK call failed.
    #[error("{op} failed: {message} (error {code})")]
    Call {
        op: &'static str,
        code: i32,
        message: String,
    },
    /// No port with this id.
    #[error("no DPDK port {port} (EAL probed no such device: check -a/--vdev arguments)")]
    BadPort { port: u16 },
    /// No port with this name.
    #[error("no DPDK port named {name}")]
    NoSuchPort { name: String },
    /// The driver supports fewer queues than workers.
    #[error("port {port}: {requested} queues requested, driver supports 1..={max}")]
    TooManyQueues { port: u16, requested: u16, max: u16 },
    /// A rewritten frame does not fit the mbuf's (single-segment) buffer.
    #[error("frame at {off}+{len} does not fit the mbuf")]
    FrameOutOfBuffer { off: usize, len: usize },
}
