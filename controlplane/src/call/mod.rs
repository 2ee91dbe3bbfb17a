//! Calls, tags (monologues), media and streams; what offer/answer/delete/query
//! do to them; endpoint learning (latching) and timeouts.
//!
//! Sans-IO: time comes in as arguments, ports come from a [`PortAllocator`]
//! (the io layer binds sockets behind it), and forwarding decisions go into
//! the flow table through a [`shared_tables::TableWriter`], which is plain
//! shared memory. Packets the table does not cover are fed in through
//! [`CallRegistry::handle_packet`], which returns what to transmit.

mod delete;
mod flows;
pub mod interfaces;
pub mod model;
mod offer_answer;
pub mod orphans;
mod peek;
mod query;
mod registry;
mod srtp;
pub mod srtp_path;
mod statistics;
pub mod steering;
#[cfg(test)]
mod tests;

pub use delete::DeleteOutcome;
pub use interfaces::{Interfaces, LocalAddress, LogicalInterface};
pub use orphans::{OrphanGroup, Orphans};
pub use registry::{CallRegistry, PortAllocator, Settings, Transmit};
pub use statistics::Totals;
pub use steering::{FlowSteering, FlowWriter};

use thiserror::Error;

/// Failures of call-level ng commands. The `Display` text is the ng
/// `error-reason`, spelled as rtpengine spells it.
#[derive(Debug, Error)]
pub enum CallError {
    #[error("No call-id in message")]
    NoCallId,
    #[error("No from-tag in message")]
    NoFromTag,
    #[error("No to-tag in message")]
    NoToTag,
    #[error("No SDP body in message")]
    NoSdp,
    #[error("Failed to parse SDP")]
    BadSdp(#[source] crate::sdp::SdpError),
    #[error("Unknown call-id")]
    UnknownCall,
    #[error("Call-ID not found or tags didn't match")]
    NotFound,
    #[error("Ran out of ports")]
    OutOfPorts,
    #[error("Failed to bind local port {port} on {ip}: {reason}")]
    Bind {
        ip: std::net::IpAddr,
        port: u16,
        reason: String,
    },
    #[error("Unknown interface '{0}'")]
    UnknownInterface(String),
    #[error("Flow table: {0}")]
    Table(#[from] shared_tables::TableError),
    #[error("Failed to generate SRTP keys")]
    Keys(#[from] crate::sdes::KeyError),
    #[error("Invalid a=crypto attribute in media {media} '{line}': {reason}")]
    BadCrypto {
        media: usize,
        line: String,
        reason: String,
    },
}
