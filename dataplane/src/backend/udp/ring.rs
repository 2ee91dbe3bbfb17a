//! The io_uring pieces of the sockets backend: the ring, a provided-buffer ring that
//! multishot `recvmsg` fills, and send slots that outlive their submission. The only
//! `unsafe` of the io_uring path lives here; [`super::uring`] uses the safe wrappers.
//!
//! Why io_uring: with one UDP socket per media port, a relay at 1000 calls has thousands
//! of sockets each receiving ~50 packets/s, so `recvmmsg` returns one packet per call and
//! every packet costs an epoll report, a receive and a send syscall. One multishot
//! receive armed per socket plus sends queued as submissions turn that into one
//! `io_uring_enter` per batch of packets from any number of sockets.
#![allow(unsafe_code)]

use std::collections::VecDeque;
use std::io;
use std::mem::{size_of, zeroed};
use std::net::SocketAddr;
use std::os::fd::RawFd;
use std::sync::atomic::{AtomicU16, Ordering};

use io_uring::{cqueue, opcode, squeue, types, IoUring};

use super::ffi;
use crate::batch::MAX_PACKET_LEN;

/// Buffer group id of the provided-buffer ring (one ring per io_uring instance).
const BUF_GROUP: u16 = 1;

/// Room for the `io_uring_recvmsg_out` header and a `sockaddr_in6` before the payload.
const RECV_HEADROOM: usize = 64;
const RECV_BUF_LEN: usize = MAX_PACKET_LEN + RECV_HEADROOM;

/// Ring sizes. Submissions: one multishot receive per socket at (re)arm time plus a
/// batch of sends; the ring is flushed whenever it fills, so this is not a socket limit.
const SQ_ENTRIES: u32 = 1024;
const CQ_ENTRIES: u32 = 8192;

/// A provided-buffer ring: `count` buffers the kernel picks from for each received
/// datagram, handed back by [`BufRing::recycle`] once the packet has been copied out.
pub(crate) struct BufRing {
    /// The `io_uring_buf` entries, shared with the kernel (page-aligned mmap).
    entries: *mut u8,
    entries_len: usize,
    /// The buffers themselves.
    bufs: Box<[u8]>,
    count: u16,
    tail: u16,
    /// Whether [`BufRing::recycle`] has run since the last [`BufRing::publish`].
    dirty: bool,
}

impl BufRing {
    fn new(count: u16) -> io::Result<BufRing> {
        debug_assert!(count.is_power_of_two());
        let entries_len = usize::from(count) * size_of::<types::BufRingEntry>();
        // SAFETY: anonymous private mapping, no address hint; result checked below.
        let entries = unsafe {
            libc::mmap(
                core::ptr::null_mut(),
                entries_len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
                -1,
                0,
            )
        };
        if entries == libc::MAP_FAILED {
            return Err(io::Error::last_os_error());
        }
        let mut ring = BufRing {
            entries: entries.cast(),
            entries_len,
            bufs: vec![0u8; usize::from(count) * RECV_BUF_LEN].into_boxed_slice(),
            count,
            tail: 0,
            dirty: false,
        };
        for bid in 0..count {
            ring.recycle(bid);
        }
        ring.publish();
        Ok(ring)
    }

    /// Queues buffer `bid` for the kernel again (visible after [`BufRing::publish`]).
    fn recycle(&mut self, bid: u16) {
        let slot = usize::from(self.tail & (self.count - 1));
        let addr = self.bufs[usize::from(bid) * RECV_BUF_LEN..].as_mut_ptr();
        // SAFETY: `slot < count`, so the entry lies inside the mapping; the kernel only
        // reads entries between its head and our published tail, and this one is past
        // the tail until `publish`. `BufRingEntry` is the kernel's `io_uring_buf`.
        unsafe {
            let e = &mut *self.entries.cast::<types::BufRingEntry>().add(slot);
            e.set_addr(addr as u64);
            e.set_len(RECV_BUF_LEN as u32);
            e.set_bid(bid);
        }
        self.tail = self.tail.wrapping_add(1);
        self.dirty = true;
    }

    /// Makes recycled buffers visible to the kernel.
    fn publish(&mut self) {
        if !self.dirty {
            return;
        }
        // SAFETY: the ring tail is the `resv` field of entry 0 (offset 14), a u16 the
        // kernel reads with acquire semantics; the mapping is page-aligned.
        let tail = unsafe { &*self.entries.add(14).cast::<AtomicU16>() };
        tail.store(self.tail, Ordering::Release);
        self.dirty = false;
    }

    fn buffer(&self, bid: u16, len: usize) -> &[u8] {
        let start = usize::from(bid) * RECV_BUF_LEN;
        &self.bufs[start..start + len.min(RECV_BUF_LEN)]
    }
}

impl Drop for BufRing {
    fn drop(&mut self) {
        // SAFETY: unmaps exactly the mapping made in `new`; the ring that referenced it
        // is dropped first (field order in `Uring`).
        unsafe {
            libc::munmap(self.entries.cast(), self.entries_len);
        }
    }
}

/// Packets waiting for their send to complete: the kernel reads the payload and the
/// destination address until the completion arrives.
struct SendSlots {
    data: Box<[[u8; MAX_PACKET_LEN]]>,
    addrs: Box<[libc::sockaddr_storage]>,
    free: Vec<u16>,
}

impl SendSlots {
    fn new(count: u16) -> SendSlots {
        SendSlots {
            data: vec![[0u8; MAX_PACKET_LEN]; usize::from(count)].into_boxed_slice(),
            // SAFETY: all-zero is a valid sockaddr_storage.
            addrs: (0..count).map(|_| unsafe { zeroed() }).collect(),
            free: (0..count).rev().collect(),
        }
    }
}

/// What a completion is about, packed into its `user_data`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Completion {
    /// A multishot receive on the socket with this token.
    Recv { token: u64 },
    /// A send from slot `slot` finished.
    Send { slot: u16 },
    /// The wake eventfd became readable.
    Wake,
    /// A cancellation request finished (its target reports separately).
    Cancel,
}

const KIND_SHIFT: u32 = 62;
const KIND_RECV: u64 = 0;
const KIND_SEND: u64 = 1;
const KIND_WAKE: u64 = 2;
const KIND_CANCEL: u64 = 3;

impl Completion {
    fn user_data(self) -> u64 {
        match self {
            Completion::Recv { token } => (KIND_RECV << KIND_SHIFT) | token,
            Completion::Send { slot } => (KIND_SEND << KIND_SHIFT) | u64::from(slot),
            Completion::Wake => KIND_WAKE << KIND_SHIFT,
            Completion::Cancel => KIND_CANCEL << KIND_SHIFT,
        }
    }

    fn from_user_data(ud: u64) -> Completion {
        let value = ud & ((1 << KIND_SHIFT) - 1);
        match ud >> KIND_SHIFT {
            KIND_RECV => Completion::Recv { token: value },
            KIND_SEND => Completion::Send { slot: value as u16 },
            KIND_WAKE => Completion::Wake,
            _ => Completion::Cancel,
        }
    }
}

/// One received datagram, borrowed from the buffer ring until [`Uring::recycle`].
pub(crate) struct Received<'a> {
    pub(crate) src: Option<SocketAddr>,
    pub(crate) data: &'a [u8],
    pub(crate) truncated: bool,
}

/// A completion as the worker sees it.
pub(crate) struct Event {
    pub(crate) what: Completion,
    /// The kernel's result (bytes, or -errno).
    pub(crate) result: i32,
    /// For receives: the request stays armed (`IORING_CQE_F_MORE`).
    pub(crate) more: bool,
    /// For receives: the provided buffer holding the datagram.
    pub(crate) buffer: Option<u16>,
}

/// A worker's io_uring with its receive buffers and send slots.
pub(crate) struct Uring {
    // Field order matters: the ring (which references the buffers) drops first.
    ring: IoUring,
    bufs: BufRing,
    slots: SendSlots,
    /// The msghdr template multishot receives parse their buffers with; the kernel
    /// reads it when each request is armed.
    recv_msg: Box<libc::msghdr>,
    /// Completions reaped but not yet handled by the worker, oldest first.
    events: VecDeque<Event>,
}

// SAFETY: the raw pointers (buffer ring mapping, msghdr) are owned by this value and
// only used by the thread that owns it; it moves between threads only before use.
unsafe impl Send for Uring {}

impl Uring {
    /// Sets up a ring for one worker thread: provided buffers, send slots. Fails on
    /// kernels without what the path needs (io_uring disabled, no buffer rings).
    pub(crate) fn new(recv_buffers: u16, send_slots: u16) -> io::Result<Uring> {
        let ring = IoUring::builder()
            .setup_single_issuer()
            .setup_defer_taskrun()
            .setup_cqsize(CQ_ENTRIES)
            .build(SQ_ENTRIES)?;
        let bufs = BufRing::new(recv_buffers)?;
        // SAFETY: the entries mapping holds `count` io_uring_buf entries and lives as long
        // as the ring (dropped after it).
        unsafe {
            ring.submitter().register_buf_ring_with_flags(
                bufs.entries as u64,
                bufs.count,
                BUF_GROUP,
                0,
            )?;
        }
        // SAFETY: all-zero is a valid msghdr; only the name length matters for the
        // multishot layout (room for an IPv6 source address, no control data).
        let mut recv_msg: Box<libc::msghdr> = Box::new(unsafe { zeroed() });
        recv_msg.msg_namelen = size_of::<libc::sockaddr_in6>() as libc::socklen_t;
        Ok(Uring {
            ring,
            bufs,
            slots: SendSlots::new(send_slots),
            recv_msg,
            events: VecDeque::with_capacity(CQ_ENTRIES as usize),
        })
    }

    fn push(&mut self, entry: &squeue::Entry) -> io::Result<()> {
        loop {
            // SAFETY: every entry built in this module references memory owned by `self`
            // (msghdr, send slots) or nothing; that memory outlives the request because
            // slots are freed only on completion and the rest lives as long as the ring.
            if unsafe { self.ring.submission().push(entry) }.is_ok() {
                return Ok(());
            }
            self.ring.submit()?;
        }
    }

    /// Arms a multishot receive on `fd`, reported as `Recv { token }`.
    pub(crate) fn arm_recv(&mut self, fd: RawFd, token: u64) -> io::Result<()> {
        let e = opcode::RecvMsgMulti::new(types::Fd(fd), &*self.recv_msg, BUF_GROUP)
            .build()
            .user_data(Completion::Recv { token }.user_data());
        self.push(&e)
    }

    /// Arms a multishot poll on the wake eventfd.
    pub(crate) fn arm_wake(&mut self, fd: RawFd) -> io::Result<()> {
        let e = opcode::PollAdd::new(types::Fd(fd), libc::POLLIN as u32)
            .multi(true)
            .build()
            .user_data(Completion::Wake.user_data());
        self.push(&e)
    }

    /// Cancels the receive armed with `token`; its last completion follows.
    pub(crate) fn cancel_recv(&mut self, token: u64) -> io::Result<()> {
        let e = opcode::AsyncCancel::new(Completion::Recv { token }.user_data())
            .build()
            .user_data(Completion::Cancel.user_data());
        self.push(&e)
    }

    /// Queues `data` to `dst` from `fd`. `Ok(false)` if every send slot is in flight
    /// (the caller drops or sends synchronously).
    pub(crate) fn send(&mut self, fd: RawFd, data: &[u8], dst: SocketAddr) -> io::Result<bool> {
        if self.slots.free.is_empty() {
            // A backlog of receives can outrun the slots; sends usually complete during
            // submission, so submitting and reaping frees them. Receives reaped here
            // wait in `events`, in order.
            self.ring.submit()?;
            self.reap();
        }
        let Some(slot) = self.slots.free.pop() else {
            return Ok(false);
        };
        let i = usize::from(slot);
        let len = data.len().min(MAX_PACKET_LEN);
        self.slots.data[i][..len].copy_from_slice(&data[..len]);
        let namelen = ffi::to_storage(dst, &mut self.slots.addrs[i]);
        let e = opcode::Send::new(types::Fd(fd), self.slots.data[i].as_ptr(), len as u32)
            .dest_addr((&self.slots.addrs[i] as *const libc::sockaddr_storage).cast())
            .dest_addr_len(namelen)
            .build()
            .user_data(Completion::Send { slot }.user_data());
        self.push(&e)?;
        Ok(true)
    }

    /// Submits what is queued without waiting.
    pub(crate) fn submit(&mut self) -> io::Result<()> {
        self.bufs.publish();
        self.ring.submit().map(|_| ())
    }

    /// Submits what is queued; unless completions are already waiting, waits up to
    /// `timeout` for some. Then reaps every available completion (see
    /// [`Uring::next_event`]).
    pub(crate) fn submit_and_wait(&mut self, timeout: core::time::Duration) -> io::Result<()> {
        self.bufs.publish();
        if !self.events.is_empty() || timeout.is_zero() {
            self.ring.submit()?;
            self.reap();
            return Ok(());
        }
        let ts = types::Timespec::from(timeout);
        // Waiting for a batch (min_wait_usec, 6.12+) would save wake-ups, but with
        // DEFER_TASKRUN it left single packets unreceived until the timeout on 6.18.
        let args = types::SubmitArgs::new().timespec(&ts);
        match self.ring.submitter().submit_with_args(1, &args) {
            Ok(_) => {}
            Err(e)
                if matches!(
                    e.raw_os_error(),
                    Some(libc::ETIME | libc::EINTR | libc::EBUSY)
                ) => {}
            Err(e) => return Err(e),
        }
        self.reap();
        Ok(())
    }

    /// Moves every available completion into `events`; send completions free their slot.
    fn reap(&mut self) {
        for cqe in self.ring.completion() {
            let what = Completion::from_user_data(cqe.user_data());
            if let Completion::Send { slot } = what {
                self.slots.free.push(slot);
            }
            self.events.push_back(Event {
                what,
                result: cqe.result(),
                more: cqueue::more(cqe.flags()),
                buffer: cqueue::buffer_select(cqe.flags()),
            });
        }
    }

    /// How many reaped completions wait to be handled.
    pub(crate) fn pending_events(&self) -> usize {
        self.events.len()
    }

    /// The oldest reaped completion not yet handled.
    pub(crate) fn next_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    /// The datagram in receive buffer `bid` (`len` bytes including the header).
    pub(crate) fn received(&self, bid: u16, len: usize) -> Option<Received<'_>> {
        let buf = self.bufs.buffer(bid, len);
        let out = types::RecvMsgOut::parse(buf, &self.recv_msg).ok()?;
        let name = out.name_data();
        // SAFETY: all-zero is a valid sockaddr_storage; we copy at most its size.
        let mut ss: libc::sockaddr_storage = unsafe { zeroed() };
        let n = name.len().min(size_of::<libc::sockaddr_storage>());
        // SAFETY: copies `n` bytes into a sockaddr_storage of at least `n` bytes.
        unsafe {
            core::ptr::copy_nonoverlapping(
                name.as_ptr(),
                (&mut ss as *mut libc::sockaddr_storage).cast::<u8>(),
                n,
            );
        }
        let payload = out.payload_data();
        // The payload is a sub-slice of `buf`; re-slice so it borrows the ring, not `out`.
        let start = (payload.as_ptr() as usize).saturating_sub(buf.as_ptr() as usize);
        let data = buf.get(start..start + payload.len())?;
        Some(Received {
            src: ffi::from_storage(&ss, out.incoming_name_len()),
            data,
            truncated: out.is_payload_truncated(),
        })
    }

    /// Hands receive buffer `bid` back to the kernel.
    pub(crate) fn recycle(&mut self, bid: u16) {
        self.bufs.recycle(bid);
    }
}

/// Whether this kernel runs the io_uring path: builds a ring, arms a multishot receive
/// on a loopback socket, sends it a datagram and checks it arrives with the request
/// still armed. Anything less (io_uring disabled by sysctl or seccomp, kernel < 6.1)
/// means the epoll path.
pub(crate) fn probe() -> io::Result<()> {
    // On its own thread: tearing a ring down queues task work on the thread that made it,
    // which would interrupt the caller's next blocking call with EINTR.
    std::thread::Builder::new()
        .name("rtpbolt-uring-probe".to_owned())
        .spawn(probe_here)?
        .join()
        .map_err(|_| io::Error::other("io_uring probe panicked"))?
}

fn probe_here() -> io::Result<()> {
    use std::net::UdpSocket;
    use std::os::fd::AsRawFd;
    let mut ring = Uring::new(8, 8)?;
    let sock = UdpSocket::bind("127.0.0.1:0")?;
    sock.set_nonblocking(true)?;
    ring.arm_recv(sock.as_raw_fd(), 7)?;
    ring.submit_and_wait(core::time::Duration::ZERO)?;
    let from = UdpSocket::bind("127.0.0.1:0")?;
    from.send_to(b"probe", sock.local_addr()?)?;
    let deadline = std::time::Instant::now() + core::time::Duration::from_secs(1);
    while std::time::Instant::now() < deadline {
        ring.submit_and_wait(core::time::Duration::from_millis(10))?;
        let mut got = None;
        while let Some(e) = ring.next_event() {
            if e.what == (Completion::Recv { token: 7 }) {
                got = Some(e);
            }
        }
        let ok = match got {
            Some(e) if e.result > 0 && e.more => {
                let bid = e.buffer.unwrap_or(u16::MAX);
                let data = ring
                    .received(bid, e.result as usize)
                    .map(|r| r.data.to_vec());
                data.as_deref() == Some(b"probe".as_slice())
            }
            Some(e) => {
                return Err(io::Error::other(format!(
                    "multishot recvmsg unsupported (result {})",
                    e.result
                )))
            }
            None => continue,
        };
        return if ok {
            Ok(())
        } else {
            Err(io::Error::other("multishot recvmsg returned wrong data"))
        };
    }
    Err(io::Error::other("multishot recvmsg never completed"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_data_round_trips() {
        for c in [
            Completion::Recv { token: 0 },
            Completion::Recv {
                token: (1 << KIND_SHIFT) - 1,
            },
            Completion::Send { slot: 65535 },
            Completion::Wake,
            Completion::Cancel,
        ] {
            assert_eq!(Completion::from_user_data(c.user_data()), c);
        }
    }

    #[test]
    fn probe_passes_on_this_kernel() {
        // The CI kernel (6.x, io_uring enabled) must run the fast path; if this fails
        // the backend silently falls back to epoll and the benchmarks lose their point.
        probe().expect("io_uring multishot receive works here");
    }
}
