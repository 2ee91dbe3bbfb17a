//! Harness for rtpbolt's integration tests: start real daemons (rtpbolt, and
//! Debian's rtpengine as the oracle), speak ng to them over real UDP, send and
//! receive RTP on loopback.
//!
//! The bencode codec here is deliberately independent of the control plane's,
//! so a bug there cannot hide itself in the tests.

pub mod af_xdp;
pub mod bencode;
pub mod capture;
pub mod daemon;
pub mod differential;
pub mod dpdk;
pub mod kamailio;
pub mod libsrtp;
pub mod media;
pub mod netns;
pub mod ng;
pub mod prereq;
pub mod rtp;
pub mod sipp;

pub use bencode::Bencode;
pub use daemon::{Daemon, DaemonKind};
pub use ng::NgClient;
