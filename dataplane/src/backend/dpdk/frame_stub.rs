//! Stand-in for `crate::frame` (branch `frame`) with its fixed API, until that branch is
//! merged: every frame goes to the kernel. Removed by the merge.
#![allow(dead_code)]

use core::time::Duration;

use shared_tables::TableReader;

pub use crate::batch::DropReason;
use crate::counters::WorkerCounters;

/// One Ethernet frame in a buffer with head- and tailroom.
pub struct Frame<'a> {
    /// Headroom, frame and tailroom.
    pub buf: &'a mut [u8],
    /// Frame start in `buf`.
    pub off: usize,
    /// Frame length.
    pub len: usize,
    /// What to do with it.
    pub verdict: FrameVerdict,
}

/// What to do with a frame.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FrameVerdict {
    /// Not processed yet.
    Pending,
    /// Rewritten in place; send `buf[off..off + len]` out of the port it came in on.
    Transmit,
    /// Unchanged to the exception TAP.
    Kernel,
    /// Drop it.
    Drop(DropReason),
}

/// Frame processor settings.
pub struct FrameConfig {
    /// The NIC's MAC.
    pub mac: [u8; 6],
    /// Neighbour cache entries.
    pub neighbour_capacity: usize,
}

/// The frame packet function's state.
pub struct FrameProcessor {
    _cfg: FrameConfig,
}

impl FrameProcessor {
    /// A processor for the NIC with `cfg.mac`.
    pub fn new(cfg: FrameConfig) -> Self {
        FrameProcessor { _cfg: cfg }
    }

    /// Gives every frame a verdict.
    pub fn process(
        &mut self,
        frames: &mut [Frame<'_>],
        _table: &TableReader,
        counters: &mut WorkerCounters,
        _now: Duration,
    ) {
        for f in frames {
            f.verdict = FrameVerdict::Kernel;
            counters.rx_packets += 1;
            counters.punted += 1;
        }
    }
}
