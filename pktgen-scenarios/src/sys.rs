//! The generator's only `unsafe`: `recvmmsg`/`sendmmsg` batches, `epoll`,
//! socket buffer sizes, `CLOCK_MONOTONIC` and `sysconf`.
//!
//! Batching is what keeps the generator cheap: one syscall moves up to
//! [`MAX_BATCH`] datagrams, so on a two-core machine the relay under test gets
//! most of the CPU. The `mmsghdr`/`iovec` arrays are rebuilt on the stack for
//! every call rather than stored, so a [`MsgBatch`] holds no raw pointers and
//! can move between threads.

use std::io;
use std::mem::{size_of, zeroed};
use std::net::{Ipv4Addr, SocketAddrV4, UdpSocket};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::time::Duration;

/// Datagrams per `recvmmsg`/`sendmmsg` call.
pub const MAX_BATCH: usize = 64;

/// Largest datagram a batch slot holds; scenario packets are far smaller, and
/// anything longer is truncated (and then fails the payload check).
pub const SLOT_LEN: usize = 2048;

/// Nanoseconds of `CLOCK_MONOTONIC`: the send stamp in every payload.
pub fn monotonic_ns() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid, writable timespec; CLOCK_MONOTONIC always exists
    // on Linux, so the call cannot fail.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    (ts.tv_sec as u64) * 1_000_000_000 + ts.tv_nsec as u64
}

/// Clock ticks per second, the unit of `utime`/`stime` in `/proc/PID/stat`.
pub fn clock_ticks_per_second() -> u64 {
    // SAFETY: sysconf has no memory-safety preconditions.
    let t = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    // 100 is what Linux has reported on every architecture since 2.6.
    if t > 0 {
        t as u64
    } else {
        100
    }
}

fn setsockopt_int(fd: RawFd, opt: libc::c_int, value: libc::c_int) -> io::Result<()> {
    // SAFETY: `value` outlives the call and the length passed is its size.
    let rc = unsafe {
        libc::setsockopt(
            fd,
            libc::SOL_SOCKET,
            opt,
            (&value as *const libc::c_int).cast(),
            size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// Sets both socket buffers to `bytes`: the `*FORCE` variants (root) go past
/// `net.core.[rw]mem_max`, which is what absorbs a whole batch of a thousand
/// calls; without root the capped size is the best there is.
pub fn set_buffers(sock: &UdpSocket, bytes: usize) {
    let fd = sock.as_raw_fd();
    let v = libc::c_int::try_from(bytes).unwrap_or(libc::c_int::MAX);
    for (force, plain) in [
        (libc::SO_RCVBUFFORCE, libc::SO_RCVBUF),
        (libc::SO_SNDBUFFORCE, libc::SO_SNDBUF),
    ] {
        if setsockopt_int(fd, force, v).is_err() {
            // Best effort: a smaller buffer shows up as loss, which is reported.
            let _ = setsockopt_int(fd, plain, v);
        }
    }
}

fn sockaddr_in(addr: SocketAddrV4) -> libc::sockaddr_in {
    // SAFETY: sockaddr_in is plain old data; all-zero is a valid value.
    let mut sa: libc::sockaddr_in = unsafe { zeroed() };
    sa.sin_family = libc::AF_INET as libc::sa_family_t;
    sa.sin_port = addr.port().to_be();
    sa.sin_addr = libc::in_addr {
        s_addr: u32::from(*addr.ip()).to_be(),
    };
    sa
}

/// Up to [`MAX_BATCH`] datagrams in fixed slots, each with an optional
/// destination: filled by [`MsgBatch::recv`] or [`MsgBatch::push`], sent by
/// [`MsgBatch::send`].
pub struct MsgBatch {
    buf: Vec<u8>,
    lens: [usize; MAX_BATCH],
    dests: [Option<libc::sockaddr_in>; MAX_BATCH],
    len: usize,
}

impl Default for MsgBatch {
    fn default() -> Self {
        Self::new()
    }
}

impl MsgBatch {
    pub fn new() -> MsgBatch {
        MsgBatch {
            buf: vec![0; MAX_BATCH * SLOT_LEN],
            lens: [0; MAX_BATCH],
            dests: [None; MAX_BATCH],
            len: 0,
        }
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    pub fn is_full(&self) -> bool {
        self.len == MAX_BATCH
    }

    pub fn clear(&mut self) {
        self.len = 0;
    }

    /// Datagram `i` (`i < len()`).
    pub fn packet(&self, i: usize) -> &[u8] {
        &self.buf[i * SLOT_LEN..i * SLOT_LEN + self.lens[i]]
    }

    /// Datagram `i`, writable (to stamp the send time just before sending).
    pub fn packet_mut(&mut self, i: usize) -> &mut [u8] {
        &mut self.buf[i * SLOT_LEN..i * SLOT_LEN + self.lens[i]]
    }

    /// Appends a datagram of `len` bytes for `dest` and returns its bytes to
    /// fill. Panics if the batch is full or `len > SLOT_LEN` (caller bugs).
    pub fn push(&mut self, dest: SocketAddrV4, len: usize) -> &mut [u8] {
        assert!(!self.is_full() && len <= SLOT_LEN, "batch overflow");
        let i = self.len;
        self.len += 1;
        self.lens[i] = len;
        self.dests[i] = Some(sockaddr_in(dest));
        &mut self.buf[i * SLOT_LEN..i * SLOT_LEN + len]
    }

    /// Sets (or with `None`, drops from the next [`send`](Self::send)) the
    /// destination of datagram `i`.
    pub fn set_dest(&mut self, i: usize, dest: Option<SocketAddrV4>) {
        self.dests[i] = dest.map(sockaddr_in);
    }

    /// Receives up to [`MAX_BATCH`] datagrams. With `wait`, blocks for the
    /// first one (`MSG_WAITFORONE`; the socket's read timeout applies);
    /// without, returns `WouldBlock` when nothing is queued.
    pub fn recv(&mut self, sock: &UdpSocket, wait: bool) -> io::Result<usize> {
        // SAFETY: plain old data; the pointers are filled in below.
        let mut iovs: [libc::iovec; MAX_BATCH] = unsafe { zeroed() };
        // SAFETY: as above.
        let mut hdrs: [libc::mmsghdr; MAX_BATCH] = unsafe { zeroed() };
        for (i, (iov, hdr)) in iovs.iter_mut().zip(hdrs.iter_mut()).enumerate() {
            iov.iov_base = self.buf[i * SLOT_LEN..].as_mut_ptr().cast();
            iov.iov_len = SLOT_LEN;
            hdr.msg_hdr.msg_iov = iov;
            hdr.msg_hdr.msg_iovlen = 1;
        }
        let flags = if wait {
            libc::MSG_WAITFORONE
        } else {
            libc::MSG_DONTWAIT
        };
        // SAFETY: every header points at one iovec covering its own
        // SLOT_LEN-byte slot of `self.buf`; `iovs`, `hdrs` and `self.buf` outlive
        // the call, and the kernel writes at most MAX_BATCH headers.
        let n = unsafe {
            libc::recvmmsg(
                sock.as_raw_fd(),
                hdrs.as_mut_ptr(),
                MAX_BATCH as libc::c_uint,
                flags as _,
                std::ptr::null_mut(),
            )
        };
        if n < 0 {
            self.len = 0;
            return Err(io::Error::last_os_error());
        }
        let n = n as usize;
        for (i, hdr) in hdrs.iter().enumerate().take(n) {
            self.lens[i] = hdr.msg_len as usize;
            self.dests[i] = None;
        }
        self.len = n;
        Ok(n)
    }

    /// Sends every datagram that has a destination, retrying partial sends.
    /// Returns how many were sent and how many failed (a failed datagram is
    /// skipped, so one bad destination cannot stall the rest).
    pub fn send(&self, sock: &UdpSocket) -> SendOutcome {
        // SAFETY: plain old data; the pointers are filled in below.
        let mut iovs: [libc::iovec; MAX_BATCH] = unsafe { zeroed() };
        // SAFETY: as above.
        let mut hdrs: [libc::mmsghdr; MAX_BATCH] = unsafe { zeroed() };
        let mut dests = self.dests;
        let mut count = 0;
        for (i, dest) in dests.iter_mut().enumerate().take(self.len) {
            let Some(dest) = dest.as_mut() else {
                continue;
            };
            iovs[count].iov_base = self.buf[i * SLOT_LEN..].as_ptr() as *mut libc::c_void;
            iovs[count].iov_len = self.lens[i];
            hdrs[count].msg_hdr.msg_name = (dest as *mut libc::sockaddr_in).cast();
            hdrs[count].msg_hdr.msg_namelen = size_of::<libc::sockaddr_in>() as libc::socklen_t;
            hdrs[count].msg_hdr.msg_iov = &mut iovs[count];
            hdrs[count].msg_hdr.msg_iovlen = 1;
            count += 1;
        }
        let mut out = SendOutcome::default();
        let mut start = 0;
        while start < count {
            // SAFETY: headers start..count each point at a live sockaddr_in in
            // `dests` and an iovec over initialized bytes of `self.buf`; the
            // kernel only reads the payload and writes `msg_len`.
            let n = unsafe {
                libc::sendmmsg(
                    sock.as_raw_fd(),
                    hdrs[start..].as_mut_ptr(),
                    (count - start) as libc::c_uint,
                    0,
                )
            };
            if n > 0 {
                out.sent += n as usize;
                start += n as usize;
            } else if io::Error::last_os_error().kind() == io::ErrorKind::Interrupted {
                continue;
            } else {
                // The first unsent datagram is the one the kernel refused.
                out.failed += 1;
                start += 1;
            }
        }
        out
    }
}

/// What one [`MsgBatch::send`] did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SendOutcome {
    pub sent: usize,
    pub failed: usize,
}

/// The IPv4 destination of a datagram in a batch, for tests.
pub fn dest_of(batch: &MsgBatch, i: usize) -> Option<SocketAddrV4> {
    batch.dests[i].map(|sa| {
        SocketAddrV4::new(
            Ipv4Addr::from(u32::from_be(sa.sin_addr.s_addr)),
            u16::from_be(sa.sin_port),
        )
    })
}

/// An epoll instance over a fixed set of sockets, each with a token.
pub struct Epoll {
    fd: OwnedFd,
}

impl Epoll {
    pub fn new() -> io::Result<Epoll> {
        // SAFETY: no pointers involved.
        let fd = unsafe { libc::epoll_create1(libc::EPOLL_CLOEXEC) };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: `fd` is a fresh descriptor that nothing else owns.
        let fd = unsafe { OwnedFd::from_raw_fd(fd) };
        Ok(Epoll { fd })
    }

    /// Watches `sock` for input; [`wait`](Self::wait) reports it as `token`.
    pub fn add(&self, sock: &UdpSocket, token: u64) -> io::Result<()> {
        let mut ev = libc::epoll_event {
            events: libc::EPOLLIN as u32,
            u64: token,
        };
        // SAFETY: `ev` is valid for the call; both descriptors are open.
        let rc = unsafe {
            libc::epoll_ctl(
                self.fd.as_raw_fd(),
                libc::EPOLL_CTL_ADD,
                sock.as_raw_fd(),
                &mut ev,
            )
        };
        if rc == 0 {
            Ok(())
        } else {
            Err(io::Error::last_os_error())
        }
    }

    /// Waits up to `timeout` and appends the tokens of ready sockets to `out`.
    pub fn wait(&self, timeout: Duration, out: &mut Vec<u64>) -> io::Result<()> {
        const EVENTS: usize = 32;
        let mut evs = [libc::epoll_event { events: 0, u64: 0 }; EVENTS];
        let ms = libc::c_int::try_from(timeout.as_millis()).unwrap_or(libc::c_int::MAX);
        // SAFETY: `evs` has room for EVENTS entries, the count passed.
        let n = unsafe {
            libc::epoll_wait(
                self.fd.as_raw_fd(),
                evs.as_mut_ptr(),
                EVENTS as libc::c_int,
                ms,
            )
        };
        if n < 0 {
            let e = io::Error::last_os_error();
            return if e.kind() == io::ErrorKind::Interrupted {
                Ok(())
            } else {
                Err(e)
            };
        }
        out.extend(evs.iter().take(n as usize).map(|e| e.u64));
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batch_send_and_receive_over_loopback() {
        let a = UdpSocket::bind("127.0.0.1:0").unwrap();
        let b = UdpSocket::bind("127.0.0.1:0").unwrap();
        b.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
        let std::net::SocketAddr::V4(dest) = b.local_addr().unwrap() else {
            panic!("v4")
        };
        let mut out = MsgBatch::new();
        for i in 0..5u8 {
            out.push(dest, 10).fill(i);
        }
        out.set_dest(2, None);
        assert_eq!(dest_of(&out, 1), Some(dest));
        assert_eq!(out.send(&a), SendOutcome { sent: 4, failed: 0 });
        let mut got = MsgBatch::new();
        let mut seen = Vec::new();
        while seen.len() < 4 {
            let n = got.recv(&b, true).unwrap();
            seen.extend((0..n).map(|i| got.packet(i)[0]));
        }
        assert_eq!(seen, [0, 1, 3, 4]);
        assert!(got.recv(&b, false).is_err());
    }

    #[test]
    fn epoll_reports_the_ready_token() {
        let a = UdpSocket::bind("127.0.0.1:0").unwrap();
        let b = UdpSocket::bind("127.0.0.1:0").unwrap();
        let ep = Epoll::new().unwrap();
        ep.add(&b, 7).unwrap();
        a.send_to(b"x", b.local_addr().unwrap()).unwrap();
        let mut ready = Vec::new();
        ep.wait(Duration::from_secs(2), &mut ready).unwrap();
        assert_eq!(ready, [7]);
    }

    #[test]
    fn monotonic_clock_advances() {
        let t0 = monotonic_ns();
        std::thread::sleep(Duration::from_millis(2));
        assert!(monotonic_ns() >= t0 + 2_000_000);
        assert!(clock_ticks_per_second() > 0);
    }
}
