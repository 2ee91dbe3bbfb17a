//! The sockets backend's system calls: epoll, eventfd, `recvmmsg`/`sendmmsg`, IP TOS and
//! CPU affinity. The only `unsafe` in the data plane; everything above this module works
//! with safe wrappers that take a [`Batch`] or slices.
#![allow(unsafe_code)]

use core::time::Duration;
use std::io;
use std::mem::{size_of, zeroed};
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};

use crate::batch::{Batch, BATCH_SIZE};

fn cvt(rc: libc::c_int) -> io::Result<libc::c_int> {
    if rc < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(rc)
    }
}

/// An epoll instance; tokens are caller-chosen `u64`s.
pub(crate) struct Epoll {
    fd: OwnedFd,
}

impl Epoll {
    pub(crate) fn new() -> io::Result<Epoll> {
        // SAFETY: plain syscall, result checked; on success we own the new descriptor.
        let fd = cvt(unsafe { libc::epoll_create1(libc::EPOLL_CLOEXEC) })?;
        // SAFETY: `fd` is a fresh descriptor owned by nobody else.
        let fd = unsafe { OwnedFd::from_raw_fd(fd) };
        Ok(Epoll { fd })
    }

    /// Watches `fd` for readability (level-triggered, so unread datagrams re-report).
    pub(crate) fn add(&self, fd: RawFd, token: u64) -> io::Result<()> {
        let mut ev = libc::epoll_event {
            events: libc::EPOLLIN as u32,
            u64: token,
        };
        // SAFETY: `ev` is a valid epoll_event for the duration of the call; the kernel
        // copies it. A bad `fd` yields an error, not UB.
        cvt(unsafe { libc::epoll_ctl(self.fd.as_raw_fd(), libc::EPOLL_CTL_ADD, fd, &mut ev) })?;
        Ok(())
    }

    pub(crate) fn delete(&self, fd: RawFd) -> io::Result<()> {
        let mut ev = libc::epoll_event { events: 0, u64: 0 };
        // SAFETY: as in `add`; the event argument is ignored for DEL but must be non-null
        // on old kernels.
        cvt(unsafe { libc::epoll_ctl(self.fd.as_raw_fd(), libc::EPOLL_CTL_DEL, fd, &mut ev) })?;
        Ok(())
    }

    /// Waits up to `timeout`; `Ok(0)` on timeout or signal interruption.
    pub(crate) fn wait(
        &self,
        events: &mut [libc::epoll_event],
        timeout: Duration,
    ) -> io::Result<usize> {
        let max = libc::c_int::try_from(events.len()).unwrap_or(libc::c_int::MAX);
        let ms = libc::c_int::try_from(timeout.as_millis()).unwrap_or(libc::c_int::MAX);
        // SAFETY: `events` is valid writable memory for `max` entries.
        let rc = unsafe { libc::epoll_wait(self.fd.as_raw_fd(), events.as_mut_ptr(), max, ms) };
        match cvt(rc) {
            Ok(n) => Ok(n as usize),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => Ok(0),
            Err(e) => Err(e),
        }
    }
}

/// A non-blocking eventfd used to wake a worker out of `epoll_wait`.
pub(crate) struct EventFd {
    fd: OwnedFd,
}

impl EventFd {
    pub(crate) fn new() -> io::Result<EventFd> {
        // SAFETY: plain syscall, result checked; on success we own the new descriptor.
        let fd = cvt(unsafe { libc::eventfd(0, libc::EFD_NONBLOCK | libc::EFD_CLOEXEC) })?;
        // SAFETY: `fd` is a fresh descriptor owned by nobody else.
        let fd = unsafe { OwnedFd::from_raw_fd(fd) };
        Ok(EventFd { fd })
    }

    pub(crate) fn raw(&self) -> RawFd {
        self.fd.as_raw_fd()
    }

    /// Makes the eventfd readable. Cannot block: the counter would need 2^64-2 wakes.
    pub(crate) fn notify(&self) {
        let one: u64 = 1;
        // SAFETY: writes 8 bytes from a live u64, as eventfd requires. A failure (counter
        // saturated) still leaves the fd readable, which is all a wake needs.
        unsafe {
            libc::write(
                self.fd.as_raw_fd(),
                (&one as *const u64).cast(),
                size_of::<u64>(),
            );
        }
    }

    /// Resets the counter so the fd stops reporting readable.
    pub(crate) fn drain(&self) {
        let mut v: u64 = 0;
        // SAFETY: reads 8 bytes into a live u64; EAGAIN (already drained) is harmless.
        unsafe {
            libc::read(
                self.fd.as_raw_fd(),
                (&mut v as *mut u64).cast(),
                size_of::<u64>(),
            );
        }
    }
}

/// Decodes a kernel-filled socket address. IPv4-mapped IPv6 sources (a dual-stack socket
/// receiving IPv4) become plain IPv4, so they compare equal to an IPv4 expected source.
pub(crate) fn from_storage(
    ss: &libc::sockaddr_storage,
    len: libc::socklen_t,
) -> Option<SocketAddr> {
    match libc::c_int::from(ss.ss_family) {
        libc::AF_INET if len as usize >= size_of::<libc::sockaddr_in>() => {
            // SAFETY: family is AF_INET and the kernel wrote a full sockaddr_in;
            // sockaddr_storage is aligned for every sockaddr type.
            let sin =
                unsafe { &*(ss as *const libc::sockaddr_storage).cast::<libc::sockaddr_in>() };
            Some(SocketAddr::V4(SocketAddrV4::new(
                Ipv4Addr::from(u32::from_be(sin.sin_addr.s_addr)),
                u16::from_be(sin.sin_port),
            )))
        }
        libc::AF_INET6 if len as usize >= size_of::<libc::sockaddr_in6>() => {
            // SAFETY: family is AF_INET6 and the kernel wrote a full sockaddr_in6.
            let sin6 =
                unsafe { &*(ss as *const libc::sockaddr_storage).cast::<libc::sockaddr_in6>() };
            let ip = Ipv6Addr::from(sin6.sin6_addr.s6_addr);
            let port = u16::from_be(sin6.sin6_port);
            Some(match ip.to_ipv4_mapped() {
                Some(v4) => SocketAddr::V4(SocketAddrV4::new(v4, port)),
                None => SocketAddr::V6(SocketAddrV6::new(
                    ip,
                    port,
                    sin6.sin6_flowinfo,
                    sin6.sin6_scope_id,
                )),
            })
        }
        _ => None,
    }
}

/// Encodes `sa` for the kernel.
pub(crate) fn to_storage(sa: SocketAddr, ss: &mut libc::sockaddr_storage) -> libc::socklen_t {
    match sa {
        SocketAddr::V4(v4) => {
            // SAFETY: sockaddr_storage is large and aligned enough for sockaddr_in; all-zero
            // is a valid sockaddr_in, and we set every meaningful field.
            let sin =
                unsafe { &mut *(ss as *mut libc::sockaddr_storage).cast::<libc::sockaddr_in>() };
            // SAFETY: all-zero is a valid sockaddr_in (integers and a byte array).
            *sin = unsafe { zeroed() };
            sin.sin_family = libc::AF_INET as libc::sa_family_t;
            sin.sin_port = v4.port().to_be();
            sin.sin_addr.s_addr = u32::from(*v4.ip()).to_be();
            size_of::<libc::sockaddr_in>() as libc::socklen_t
        }
        SocketAddr::V6(v6) => {
            // SAFETY: as above, for sockaddr_in6.
            let sin6 =
                unsafe { &mut *(ss as *mut libc::sockaddr_storage).cast::<libc::sockaddr_in6>() };
            // SAFETY: all-zero is a valid sockaddr_in6.
            *sin6 = unsafe { zeroed() };
            sin6.sin6_family = libc::AF_INET6 as libc::sa_family_t;
            sin6.sin6_port = v6.port().to_be();
            sin6.sin6_flowinfo = v6.flowinfo();
            sin6.sin6_addr.s6_addr = v6.ip().octets();
            sin6.sin6_scope_id = v6.scope_id();
            size_of::<libc::sockaddr_in6>() as libc::socklen_t
        }
    }
}

/// `mmsghdr` arrays for one `recvmmsg`/`sendmmsg` call. They hold raw pointers into the
/// batch only during a call (rebuilt each time), so no pointer outlives its buffer.
pub(crate) struct MsgBufs {
    hdrs: Box<[libc::mmsghdr; BATCH_SIZE]>,
    iovs: Box<[libc::iovec; BATCH_SIZE]>,
    addrs: Box<[libc::sockaddr_storage; BATCH_SIZE]>,
}

impl MsgBufs {
    pub(crate) fn new() -> MsgBufs {
        // SAFETY: all-zero is a valid value for these C structs (null pointers, zero
        // lengths).
        unsafe {
            MsgBufs {
                hdrs: Box::new(zeroed()),
                iovs: Box::new(zeroed()),
                addrs: Box::new(zeroed()),
            }
        }
    }

    /// One non-blocking `recvmmsg` of up to [`BATCH_SIZE`] datagrams into `batch`, all
    /// tagged as arriving on `local`. `Ok(0)` when the socket has nothing queued.
    pub(crate) fn recv(
        &mut self,
        fd: RawFd,
        batch: &mut Batch,
        local: SocketAddr,
    ) -> io::Result<usize> {
        let slots = batch.slots_mut();
        for (i, pkt) in slots.iter_mut().enumerate() {
            let buf = pkt.buf_mut();
            self.iovs[i] = libc::iovec {
                iov_base: buf.as_mut_ptr().cast(),
                iov_len: buf.len(),
            };
            let h = &mut self.hdrs[i];
            h.msg_len = 0;
            h.msg_hdr.msg_name = (&mut self.addrs[i] as *mut libc::sockaddr_storage).cast();
            h.msg_hdr.msg_namelen = size_of::<libc::sockaddr_storage>() as libc::socklen_t;
            h.msg_hdr.msg_iov = &mut self.iovs[i];
            h.msg_hdr.msg_iovlen = 1;
            h.msg_hdr.msg_control = core::ptr::null_mut();
            h.msg_hdr.msg_controllen = 0;
            h.msg_hdr.msg_flags = 0;
        }
        // SAFETY: every header points at a live iovec, address buffer and packet buffer of
        // the sizes given; `batch` is mutably borrowed for the whole call so the buffers
        // cannot move or be read concurrently. MSG_DONTWAIT: never block a worker.
        let rc = unsafe {
            libc::recvmmsg(
                fd,
                self.hdrs.as_mut_ptr(),
                BATCH_SIZE as libc::c_uint,
                libc::MSG_DONTWAIT,
                core::ptr::null_mut(),
            )
        };
        let n = match cvt(rc) {
            Ok(n) => n as usize,
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::Interrupted
                ) =>
            {
                0
            }
            Err(e) => return Err(e),
        };
        let unspecified = SocketAddr::from(([0, 0, 0, 0], 0));
        for (i, pkt) in batch.slots_mut()[..n].iter_mut().enumerate() {
            let h = &self.hdrs[i];
            let src = from_storage(&self.addrs[i], h.msg_hdr.msg_namelen).unwrap_or(unspecified);
            let truncated = h.msg_hdr.msg_flags & libc::MSG_TRUNC != 0;
            pkt.set_received(h.msg_len as usize, truncated, src, local);
        }
        batch.set_len(n);
        Ok(n)
    }

    /// Sends `pkts` (payload, destination) from `fd` with `sendmmsg`, never blocking.
    /// Returns how many were not sent: the rest of the batch on EAGAIN/ENOBUFS (socket
    /// buffer full: drop rather than stall), or each packet the kernel rejected.
    pub(crate) fn send<'a>(
        &mut self,
        fd: RawFd,
        pkts: impl Iterator<Item = (&'a [u8], SocketAddr)>,
    ) -> usize {
        let mut n = 0;
        for (data, dst) in pkts.take(BATCH_SIZE) {
            let namelen = to_storage(dst, &mut self.addrs[n]);
            self.iovs[n] = libc::iovec {
                iov_base: data.as_ptr().cast_mut().cast(),
                iov_len: data.len(),
            };
            let h = &mut self.hdrs[n];
            h.msg_len = 0;
            h.msg_hdr.msg_name = (&mut self.addrs[n] as *mut libc::sockaddr_storage).cast();
            h.msg_hdr.msg_namelen = namelen;
            h.msg_hdr.msg_iov = &mut self.iovs[n];
            h.msg_hdr.msg_iovlen = 1;
            h.msg_hdr.msg_control = core::ptr::null_mut();
            h.msg_hdr.msg_controllen = 0;
            h.msg_hdr.msg_flags = 0;
            n += 1;
        }
        let mut off = 0;
        let mut dropped = 0;
        while off < n {
            // SAFETY: headers `off..n` point at live address buffers and at the payload
            // slices borrowed for `'a`, which outlives this call; the kernel only reads them.
            let rc = unsafe {
                libc::sendmmsg(
                    fd,
                    self.hdrs[off..].as_mut_ptr(),
                    (n - off) as libc::c_uint,
                    libc::MSG_DONTWAIT,
                )
            };
            match cvt(rc) {
                Ok(0) => {
                    dropped += n - off;
                    break;
                }
                Ok(sent) => off += sent as usize,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e)
                    if e.kind() == io::ErrorKind::WouldBlock
                        || e.raw_os_error() == Some(libc::ENOBUFS) =>
                {
                    dropped += n - off;
                    break;
                }
                Err(_) => {
                    // This packet is bad (e.g. EINVAL, unreachable); skip it, send the rest.
                    dropped += 1;
                    off += 1;
                }
            }
        }
        dropped
    }
}

/// Sets IP_TOS (IPv4) or IPV6_TCLASS (IPv6) for everything sent on `fd` from now on.
pub(crate) fn set_tos(fd: RawFd, ipv6: bool, tos: u8) -> io::Result<()> {
    let v = libc::c_int::from(tos);
    let (level, opt) = if ipv6 {
        (libc::IPPROTO_IPV6, libc::IPV6_TCLASS)
    } else {
        (libc::IPPROTO_IP, libc::IP_TOS)
    };
    // SAFETY: passes a live c_int of the size given; a bad fd/option yields an error.
    cvt(unsafe {
        libc::setsockopt(
            fd,
            level,
            opt,
            (&v as *const libc::c_int).cast(),
            size_of::<libc::c_int>() as libc::socklen_t,
        )
    })?;
    Ok(())
}

/// The CPUs this process may run on.
pub(crate) fn allowed_cpus() -> io::Result<Vec<usize>> {
    // SAFETY: all-zero is an empty cpu_set_t.
    let mut set: libc::cpu_set_t = unsafe { zeroed() };
    // SAFETY: `set` is a live cpu_set_t of the size passed; pid 0 = this thread.
    cvt(unsafe { libc::sched_getaffinity(0, size_of::<libc::cpu_set_t>(), &mut set) })?;
    let max = 8 * size_of::<libc::cpu_set_t>();
    // SAFETY: CPU_ISSET only reads `set` at bit `c`, and `c` < the set's bit count.
    Ok((0..max)
        .filter(|&c| unsafe { libc::CPU_ISSET(c, &set) })
        .collect())
}

/// Pins the calling thread to `cpu`.
pub(crate) fn pin_current_thread(cpu: usize) -> io::Result<()> {
    if cpu >= 8 * size_of::<libc::cpu_set_t>() {
        return Err(io::Error::from(io::ErrorKind::InvalidInput));
    }
    // SAFETY: all-zero is an empty cpu_set_t.
    let mut set: libc::cpu_set_t = unsafe { zeroed() };
    // SAFETY: `cpu` is below the set's bit count (checked above).
    unsafe { libc::CPU_SET(cpu, &mut set) };
    // SAFETY: `set` is a live cpu_set_t of the size passed; pid 0 = the calling thread.
    cvt(unsafe { libc::sched_setaffinity(0, size_of::<libc::cpu_set_t>(), &set) })?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sockaddr_round_trip() {
        // SAFETY: all-zero is a valid sockaddr_storage.
        let mut ss: libc::sockaddr_storage = unsafe { zeroed() };
        for sa in ["127.0.0.1:5004", "[::1]:5006", "[fe80::1%2]:9"] {
            let sa: SocketAddr = sa.parse().unwrap();
            let len = to_storage(sa, &mut ss);
            assert_eq!(from_storage(&ss, len), Some(sa));
        }
        let mapped: SocketAddr = "[::ffff:192.0.2.1]:7".parse().unwrap();
        let len = to_storage(mapped, &mut ss);
        assert_eq!(from_storage(&ss, len), Some("192.0.2.1:7".parse().unwrap()));
        assert_eq!(from_storage(&ss, 4), None);
    }

    #[test]
    fn eventfd_wakes_epoll() {
        let ep = Epoll::new().unwrap();
        let ev = EventFd::new().unwrap();
        ep.add(ev.raw(), 42).unwrap();
        let mut events = [libc::epoll_event { events: 0, u64: 0 }; 4];
        assert_eq!(ep.wait(&mut events, Duration::ZERO).unwrap(), 0);
        ev.notify();
        assert_eq!(ep.wait(&mut events, Duration::from_millis(100)).unwrap(), 1);
        let token = events[0].u64;
        assert_eq!(token, 42);
        ev.drain();
        assert_eq!(ep.wait(&mut events, Duration::ZERO).unwrap(), 0);
    }

    #[test]
    fn cpus_listed() {
        let cpus = allowed_cpus().unwrap();
        assert!(!cpus.is_empty());
    }
}
