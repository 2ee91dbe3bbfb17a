//! A fixed-capacity batch of received datagrams and their verdicts: what every backend
//! fills (from `recvmmsg`, an AF_XDP ring or DPDK mbufs) and then flushes per verdict.
//!
//! Buffers are allocated once per worker; nothing on the packet path allocates.

use core::time::Duration;
use std::net::{Ipv4Addr, SocketAddr};

/// Packets per batch: one `recvmmsg`/`sendmmsg` call's worth.
pub const BATCH_SIZE: usize = 32;

/// Receive buffer per packet. Media fits an Ethernet MTU (≤ 1472 bytes of UDP payload);
/// 4096 leaves room for jumbo-ish frames. Longer datagrams arrive truncated and are
/// dropped as malformed rather than forwarded cut short.
pub const MAX_PACKET_LEN: usize = 4096;

/// Why a packet was dropped.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DropReason {
    /// Not RTP/RTCP/STUN/DTLS, shorter than its header, or truncated on receive.
    Malformed,
    /// The flow is blackholed (`FLOW_BLACKHOLE`).
    Blackhole,
    /// Source differs from the flow's expected source and the policy is Drop.
    SourceMismatch,
    /// SRTP/SRTCP whose authentication tag (or MKI) did not verify.
    SrtpAuth,
    /// SRTP/SRTCP replayed, or older than the replay window.
    SrtpReplay,
}

/// What to do with one packet.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Not processed yet.
    Pending,
    /// Send the packet unchanged to `dst` from our local `src`, with IP TOS `tos`.
    Forward {
        dst: SocketAddr,
        src: SocketAddr,
        tos: u8,
    },
    /// Drop it.
    Drop(DropReason),
    /// Hand it to the control plane.
    Punt,
}

/// One received datagram.
pub struct Packet {
    buf: [u8; MAX_PACKET_LEN],
    len: usize,
    truncated: bool,
    src: SocketAddr,
    local: SocketAddr,
    verdict: Verdict,
}

const UNSPECIFIED: SocketAddr = SocketAddr::new(std::net::IpAddr::V4(Ipv4Addr::UNSPECIFIED), 0);

impl Packet {
    fn empty() -> Packet {
        Packet {
            buf: [0; MAX_PACKET_LEN],
            len: 0,
            truncated: false,
            src: UNSPECIFIED,
            local: UNSPECIFIED,
            verdict: Verdict::Pending,
        }
    }

    /// The datagram's bytes.
    #[inline]
    pub fn data(&self) -> &[u8] {
        &self.buf[..self.len]
    }

    /// Datagram length.
    #[inline]
    pub fn len(&self) -> usize {
        self.len
    }

    /// `len() == 0`.
    #[inline]
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Whether the datagram was longer than [`MAX_PACKET_LEN`].
    #[inline]
    pub fn truncated(&self) -> bool {
        self.truncated
    }

    /// The remote address it came from.
    #[inline]
    pub fn src(&self) -> SocketAddr {
        self.src
    }

    /// Our local address it arrived on (the flow key).
    #[inline]
    pub fn local(&self) -> SocketAddr {
        self.local
    }

    /// The verdict `process` gave it.
    #[inline]
    pub fn verdict(&self) -> Verdict {
        self.verdict
    }

    #[inline]
    pub(crate) fn set_verdict(&mut self, v: Verdict) {
        self.verdict = v;
    }

    /// After an in-place transform (SRTP) changed the datagram's length.
    #[inline]
    pub(crate) fn set_len(&mut self, len: usize) {
        self.len = len.min(MAX_PACKET_LEN);
    }

    /// The whole receive buffer, for a backend to receive into.
    #[inline]
    pub fn buf_mut(&mut self) -> &mut [u8; MAX_PACKET_LEN] {
        &mut self.buf
    }

    /// Records what a backend received into [`buf_mut`](Self::buf_mut). `len` is clamped
    /// to the buffer; `truncated` marks a datagram that did not fit.
    #[inline]
    pub fn set_received(
        &mut self,
        len: usize,
        truncated: bool,
        src: SocketAddr,
        local: SocketAddr,
    ) {
        self.len = len.min(MAX_PACKET_LEN);
        self.truncated = truncated || len > MAX_PACKET_LEN;
        self.src = src;
        self.local = local;
        self.verdict = Verdict::Pending;
    }
}

/// Up to [`BATCH_SIZE`] packets plus the time they were received.
pub struct Batch {
    pkts: Box<[Packet]>,
    len: usize,
    now: Duration,
}

impl Default for Batch {
    fn default() -> Self {
        Batch::new()
    }
}

impl Batch {
    /// An empty batch with all buffers allocated.
    pub fn new() -> Batch {
        Batch {
            pkts: (0..BATCH_SIZE).map(|_| Packet::empty()).collect(),
            len: 0,
            now: Duration::ZERO,
        }
    }

    /// Packets in the batch.
    #[inline]
    pub fn len(&self) -> usize {
        self.len
    }

    /// No packets.
    #[inline]
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Whether [`BATCH_SIZE`] packets are in.
    #[inline]
    pub fn is_full(&self) -> bool {
        self.len == BATCH_SIZE
    }

    /// Empties the batch (buffers are kept).
    #[inline]
    pub fn clear(&mut self) {
        self.len = 0;
    }

    /// CLOCK_MONOTONIC receive time, stamped once per batch by the backend; becomes the
    /// flows' `last_packet`.
    #[inline]
    pub fn now(&self) -> Duration {
        self.now
    }

    /// Sets the receive time.
    #[inline]
    pub fn set_now(&mut self, now: Duration) {
        self.now = now;
    }

    /// Appends a copy of `data` (truncated to [`MAX_PACKET_LEN`], and then marked so).
    /// Returns `false` if the batch is full. For tests, fuzzing and copying backends.
    pub fn push(&mut self, local: SocketAddr, src: SocketAddr, data: &[u8]) -> bool {
        let Some(p) = self.pkts.get_mut(self.len) else {
            return false;
        };
        let n = data.len().min(MAX_PACKET_LEN);
        p.buf[..n].copy_from_slice(&data[..n]);
        p.set_received(data.len(), false, src, local);
        self.len += 1;
        true
    }

    /// The packets in the batch.
    #[inline]
    pub fn packets(&self) -> &[Packet] {
        &self.pkts[..self.len]
    }

    /// The packets in the batch, mutably.
    #[inline]
    pub fn packets_mut(&mut self) -> &mut [Packet] {
        &mut self.pkts[..self.len]
    }

    /// All [`BATCH_SIZE`] packet slots, for a backend to receive into before
    /// [`set_len`](Self::set_len).
    #[inline]
    pub fn slots_mut(&mut self) -> &mut [Packet] {
        &mut self.pkts
    }

    /// Sets how many slots (from the start) hold received packets.
    #[inline]
    pub fn set_len(&mut self, n: usize) {
        debug_assert!(n <= BATCH_SIZE);
        self.len = n.min(BATCH_SIZE);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn push_until_full_and_truncation() {
        let a: SocketAddr = "127.0.0.1:1".parse().unwrap();
        let mut b = Batch::new();
        for i in 0..BATCH_SIZE {
            assert!(b.push(a, a, &[i as u8; 3]));
        }
        assert!(b.is_full());
        assert!(!b.push(a, a, &[0]));
        assert_eq!(b.packets()[5].data(), &[5, 5, 5]);
        b.clear();
        assert!(b.push(a, a, &vec![1u8; MAX_PACKET_LEN + 1]));
        assert!(b.packets()[0].truncated());
        assert_eq!(b.packets()[0].len(), MAX_PACKET_LEN);
        assert_eq!(b.packets()[0].verdict(), Verdict::Pending);
    }
}
