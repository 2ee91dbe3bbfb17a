//! `rtpbolt-pktgen`: a load generator for ng-driven media relays (rtpbolt,
//! Sipwise rtpengine) and for the null forwarder that marks the floor.
//!
//! It sets calls up over ng the way Kamailio does, sends RTP probes both ways
//! at a fixed rate from small pools of shared sockets, receives what the relay
//! forwards, and reports loss, reordering, added latency (against a direct
//! loopback baseline measured in the same run), the relay's CPU per million
//! packets and RSS per call, and ng transactions per second.
//!
//! Invariants: all traffic is on 127.0.0.1; every phase ends by itself (a
//! fixed duration plus a drain); `unsafe` lives only in [`sys`].
#![deny(unsafe_code)]

pub mod endpoints;
pub mod ng;
pub mod payload;
pub mod proc;
pub mod receiver;
pub mod report;
pub mod run;
pub mod scenario;
pub mod sender;
pub mod stats;
#[allow(unsafe_code)]
pub mod sys;
