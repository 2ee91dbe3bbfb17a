//! The rtpbolt control plane: everything but the per-packet fast path.
//!
//! `ng`, `sdp`, `sdes`, `call` and `config` are sans-IO: they take bytes, parameters and
//! time and return bytes and actions. Only `io` touches sockets, tasks and clocks.
#![forbid(unsafe_code)]

pub mod call;
pub mod config;
pub mod control;
pub mod io;
pub mod ng;
pub mod sdes;
pub mod sdp;
