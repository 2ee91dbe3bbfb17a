//! The AF_XDP backend: an XDP program steers the UDP packets of flows in the table to an
//! AF_XDP socket per RX queue and passes everything else to the kernel, as xt_RTPENGINE
//! forwards table hits and lets the rest through to the daemon.
//!
//! - [`program`] loads the XDP program (`bpf/rtpbolt_xdp.c`, built by `build.rs`) with
//!   aya, attaches it to an interface and keeps its maps: `flows` (the flow table's match
//!   keys: local address and UDP port), `xsks` (RX queue → socket) and `stats`.
//! - [`ffi`] holds every AF_XDP system call behind safe types ([`Umem`], rings,
//!   [`XskSocket`]); nothing else here is `unsafe`.
//! - [`worker`] is one socket's loop: RX batch → [`crate::frame`]'s packet function →
//!   TX on the same socket (Transmit), fill ring (Drop), [`crate::PuntSink`] (Kernel).
//!
//! The map only says "this port is ours"; what to do with a packet is still the flow
//! table's (the same [`shared_tables::TableReader`] every backend reads), so the map needs
//! an entry per local port, inserted before the table entry is useful and removed with it.

pub mod ffi;
pub mod program;
pub mod worker;

pub use ffi::{
    if_index, BindMode, ConsumerRing, Desc, ProducerRing, RingSizes, Umem, XskParts, XskSocket,
    XskStatistics,
};
pub use program::{AttachMode, XdpFlowKey, XdpProgram, XdpProgramStats};
pub use worker::{PublishedXsk, XskCounters, XskWorker, XskWorkerConfig, RX_BATCH};

/// Errors of the AF_XDP backend.
#[derive(Debug, thiserror::Error)]
pub enum XdpError {
    /// A setting the kernel would refuse.
    #[error("AF_XDP configuration: {0}")]
    Config(&'static str),
    /// A system call failed.
    #[error("{op} failed: {err}")]
    Os {
        op: &'static str,
        #[source]
        err: std::io::Error,
    },
    /// No such interface in this network namespace.
    #[error("no interface {name:?}: {err}")]
    NoInterface {
        name: String,
        #[source]
        err: std::io::Error,
    },
    /// Binding the socket to the queue failed (no such queue, another socket or a
    /// driver without AF_XDP support).
    #[error("binding an AF_XDP socket to queue {queue} of interface {ifindex} failed: {err}")]
    Bind {
        ifindex: u32,
        queue: u32,
        #[source]
        err: std::io::Error,
    },
    /// Loading, attaching or updating the XDP program or its maps failed.
    #[error("XDP program: {what}: {message}")]
    Program { what: &'static str, message: String },
}
