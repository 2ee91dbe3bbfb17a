//! The AF_XDP socket's system calls and shared memory: the UMEM, the four rings and the
//! socket itself. The only `unsafe` of the AF_XDP backend; everything above works with
//! [`Umem`], [`ProducerRing`], [`ConsumerRing`] and [`XskSocket`].
//!
//! The rings are single-producer single-consumer queues shared with the kernel: whoever
//! produces writes descriptors, then publishes its index with a Release store; whoever
//! consumes reads the index with an Acquire load, then the descriptors. Indices are free-
//! running `u32`s; a slot is `index & (size - 1)`.
#![allow(unsafe_code)]

use std::ffi::CString;
use std::io;
use std::marker::PhantomData;
use std::mem::{size_of, zeroed};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::ptr::NonNull;
use std::sync::atomic::{AtomicU32, Ordering};

use super::XdpError;

/// One RX/TX descriptor: where a frame is in the UMEM and how long it is.
pub type Desc = libc::xdp_desc;

fn cvt(rc: libc::c_int) -> io::Result<libc::c_int> {
    if rc < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(rc)
    }
}

/// An `mmap`ed region, unmapped on drop.
struct Mmap {
    ptr: NonNull<u8>,
    len: usize,
}

// SAFETY: the mapping is plain memory owned by this value; moving it to another thread
// moves the only handle to it.
unsafe impl Send for Mmap {}

impl Mmap {
    /// Anonymous private memory, populated (the UMEM).
    fn anonymous(len: usize) -> io::Result<Mmap> {
        // SAFETY: a fresh anonymous mapping; no existing memory is affected. The result is
        // checked against MAP_FAILED.
        let ptr = unsafe {
            libc::mmap(
                core::ptr::null_mut(),
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_POPULATE,
                -1,
                0,
            )
        };
        Mmap::checked(ptr, len)
    }

    /// A ring of socket `fd` at page offset `pgoff` (one of the `XDP_*PGOFF_*`).
    fn ring(fd: RawFd, len: usize, pgoff: u64) -> io::Result<Mmap> {
        let off = libc::off_t::try_from(pgoff)
            .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "ring offset"))?;
        // SAFETY: maps the kernel's ring of `fd` (shared with the kernel, which is the
        // point); no existing memory is affected. The result is checked.
        let ptr = unsafe {
            libc::mmap(
                core::ptr::null_mut(),
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_SHARED | libc::MAP_POPULATE,
                fd,
                off,
            )
        };
        Mmap::checked(ptr, len)
    }

    fn checked(ptr: *mut libc::c_void, len: usize) -> io::Result<Mmap> {
        if ptr == libc::MAP_FAILED {
            return Err(io::Error::last_os_error());
        }
        NonNull::new(ptr.cast::<u8>())
            .map(|ptr| Mmap { ptr, len })
            .ok_or_else(|| io::Error::other("mmap returned NULL"))
    }
}

impl Drop for Mmap {
    fn drop(&mut self) {
        // SAFETY: `ptr`/`len` are exactly what mmap returned, and nothing borrowed from
        // the mapping outlives `self` (borrows of the UMEM and ring pointers are tied to
        // their owners, which own this).
        unsafe {
            libc::munmap(self.ptr.as_ptr().cast(), self.len);
        }
    }
}

/// The UMEM: `frames` chunks of `frame_size` bytes that the kernel receives into and
/// transmits from. Chunks are lent out as `&mut [u8]` only through [`Umem::lend`], which
/// refuses to lend one chunk twice at once.
pub struct Umem {
    map: Mmap,
    frame_size: u32,
    frames: u32,
    /// Per chunk: the lending round it was last lent in (see [`Umem::lend`]).
    lent_in: Vec<u32>,
    round: u32,
}

impl Umem {
    /// Allocates `frames` chunks of `frame_size` bytes (a power of two, 2048 or 4096: the
    /// kernel's aligned mode).
    pub fn new(frames: u32, frame_size: u32) -> Result<Umem, XdpError> {
        if !(frame_size == 2048 || frame_size == 4096) || frames == 0 {
            return Err(XdpError::Config(
                "UMEM frames must be 2048 or 4096 bytes, at least one",
            ));
        }
        let len = frames as usize * frame_size as usize;
        let map = Mmap::anonymous(len).map_err(|e| XdpError::Os {
            op: "mmap UMEM",
            err: e,
        })?;
        Ok(Umem {
            map,
            frame_size,
            frames,
            lent_in: vec![0; frames as usize],
            round: 0,
        })
    }

    /// Chunk size in bytes.
    pub fn frame_size(&self) -> u32 {
        self.frame_size
    }

    /// Number of chunks.
    pub fn frames(&self) -> u32 {
        self.frames
    }

    /// The UMEM address of chunk `i`'s first byte.
    pub fn chunk_addr(&self, i: u32) -> u64 {
        u64::from(i) * u64::from(self.frame_size)
    }

    /// The chunk holding UMEM address `addr`: its base address, or `None` if outside.
    #[inline]
    pub fn chunk_of(&self, addr: u64) -> Option<u64> {
        let base = addr & !(u64::from(self.frame_size) - 1);
        (base / u64::from(self.frame_size) < u64::from(self.frames)).then_some(base)
    }

    /// Lends the chunks holding `addrs[i]` as `out[i]` (whole chunk: headroom before the
    /// frame, tailroom after), `None` for an address outside the UMEM or a chunk already
    /// lent in this call (which a well-behaved kernel never hands out). The borrows keep
    /// the UMEM borrowed until they end.
    pub fn lend<'a>(&'a mut self, addrs: &[u64], out: &mut [Option<&'a mut [u8]>]) {
        self.round = self.round.wrapping_add(1);
        if self.round == 0 {
            // Round numbers wrapped: forget every old round so none looks current.
            self.lent_in.fill(0);
            self.round = 1;
        }
        let size = self.frame_size as usize;
        let base = self.map.ptr.as_ptr();
        for (addr, slot) in addrs.iter().zip(out.iter_mut()) {
            *slot = None;
            let Some(chunk) = self.chunk_of(*addr) else {
                continue;
            };
            let i = (chunk / u64::from(self.frame_size)) as usize;
            let Some(stamp) = self.lent_in.get_mut(i) else {
                continue;
            };
            if *stamp == self.round {
                continue;
            }
            *stamp = self.round;
            // SAFETY: chunk `i` lies inside the mapping (`chunk_of` checked i < frames,
            // and the mapping is frames * size bytes), the stamp guarantees no other slice
            // of this call covers it, and `&'a mut self` guarantees no other borrow of the
            // UMEM exists for 'a. The kernel writes into a chunk only while it is on the
            // fill ring, i.e. not while user space holds it after RX.
            *slot = Some(unsafe { core::slice::from_raw_parts_mut(base.add(i * size), size) });
        }
    }

    fn reg(&self) -> libc::xdp_umem_reg {
        libc::xdp_umem_reg {
            addr: self.map.ptr.as_ptr() as u64,
            len: self.map.len as u64,
            chunk_size: self.frame_size,
            headroom: 0,
            flags: 0,
            tx_metadata_len: 0,
        }
    }
}

/// The shared parts of one ring: its mapping, index pointers and size.
struct RingMap<T> {
    _map: Mmap,
    producer: NonNull<AtomicU32>,
    consumer: NonNull<AtomicU32>,
    flags: NonNull<AtomicU32>,
    descs: NonNull<T>,
    mask: u32,
    _t: PhantomData<T>,
}

// SAFETY: the pointers point into `_map`, owned by this value; the kernel is the only
// other party and synchronises through the atomics.
unsafe impl<T: Send> Send for RingMap<T> {}

impl<T: Copy> RingMap<T> {
    fn new(fd: RawFd, off: &libc::xdp_ring_offset, size: u32, pgoff: u64) -> io::Result<Self> {
        if !size.is_power_of_two() {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "ring size must be a power of two",
            ));
        }
        let len = off.desc as usize + size as usize * size_of::<T>();
        let map = Mmap::ring(fd, len, pgoff)?;
        let at = |o: u64| -> io::Result<NonNull<u8>> {
            if o as usize + 4 > len {
                return Err(io::Error::other("ring offset outside the mapping"));
            }
            // SAFETY: `o` is within the mapping (checked above).
            Ok(unsafe { NonNull::new_unchecked(map.ptr.as_ptr().add(o as usize)) })
        };
        let producer = at(off.producer)?.cast();
        let consumer = at(off.consumer)?.cast();
        let flags = at(off.flags)?.cast();
        let descs = at(off.desc)?.cast();
        Ok(RingMap {
            _map: map,
            producer,
            consumer,
            flags,
            descs,
            mask: size - 1,
            _t: PhantomData,
        })
    }

    #[inline]
    fn producer(&self) -> &AtomicU32 {
        // SAFETY: points to an aligned u32 in the live mapping the kernel updates only
        // atomically; AtomicU32 has u32's layout.
        unsafe { self.producer.as_ref() }
    }

    #[inline]
    fn consumer(&self) -> &AtomicU32 {
        // SAFETY: as in `producer`.
        unsafe { self.consumer.as_ref() }
    }

    #[inline]
    fn needs_wakeup(&self) -> bool {
        // SAFETY: as in `producer`.
        let flags = unsafe { self.flags.as_ref() };
        flags.load(Ordering::Relaxed) & libc::XDP_RING_NEED_WAKEUP != 0
    }

    #[inline]
    fn read(&self, idx: u32) -> T {
        // SAFETY: `idx & mask` < size, and the mapping holds `size` descriptors from
        // `descs`; T is plain data valid for any bit pattern (u64 / xdp_desc).
        unsafe { self.descs.as_ptr().add((idx & self.mask) as usize).read() }
    }

    #[inline]
    fn write(&mut self, idx: u32, v: T) {
        // SAFETY: as in `read`; the slot is ours (between consumer and producer+free)
        // until the producer index is published.
        unsafe { self.descs.as_ptr().add((idx & self.mask) as usize).write(v) }
    }
}

/// A ring user space fills and the kernel drains (fill ring, TX ring).
pub struct ProducerRing<T> {
    ring: RingMap<T>,
    cached_prod: u32,
    cached_cons: u32,
    size: u32,
}

impl<T: Copy> ProducerRing<T> {
    fn new(ring: RingMap<T>) -> Self {
        let size = ring.mask + 1;
        let cached_prod = ring.producer().load(Ordering::Relaxed);
        let cached_cons = ring.consumer().load(Ordering::Acquire);
        ProducerRing {
            ring,
            cached_prod,
            cached_cons,
            size,
        }
    }

    /// Free slots, refreshing the kernel's consumer index only when fewer than `want`
    /// seem free.
    #[inline]
    pub fn free(&mut self, want: u32) -> u32 {
        let free = self.size - self.cached_prod.wrapping_sub(self.cached_cons);
        if free >= want {
            return free;
        }
        self.cached_cons = self.ring.consumer().load(Ordering::Acquire);
        self.size - self.cached_prod.wrapping_sub(self.cached_cons)
    }

    /// Queues `v` unless the ring is full; invisible to the kernel until
    /// [`submit`](Self::submit).
    #[inline]
    pub fn push(&mut self, v: T) -> bool {
        if self.free(1) == 0 {
            return false;
        }
        self.ring.write(self.cached_prod, v);
        self.cached_prod = self.cached_prod.wrapping_add(1);
        true
    }

    /// Publishes what was pushed.
    #[inline]
    pub fn submit(&mut self) {
        self.ring
            .producer()
            .store(self.cached_prod, Ordering::Release);
    }

    /// The kernel asks for a system call to process this ring.
    #[inline]
    pub fn needs_wakeup(&self) -> bool {
        self.ring.needs_wakeup()
    }

    /// Entries the kernel has not consumed yet.
    pub fn outstanding(&self) -> u32 {
        self.cached_prod
            .wrapping_sub(self.ring.consumer().load(Ordering::Acquire))
    }
}

/// A ring the kernel fills and user space drains (RX ring, completion ring).
pub struct ConsumerRing<T> {
    ring: RingMap<T>,
    cached_prod: u32,
    cached_cons: u32,
}

impl<T: Copy> ConsumerRing<T> {
    fn new(ring: RingMap<T>) -> Self {
        let cached_cons = ring.consumer().load(Ordering::Relaxed);
        ConsumerRing {
            ring,
            cached_prod: cached_cons,
            cached_cons,
        }
    }

    /// Entries ready to read (refreshes the kernel's producer index).
    #[inline]
    pub fn available(&mut self) -> u32 {
        self.cached_prod = self.ring.producer().load(Ordering::Acquire);
        self.cached_prod.wrapping_sub(self.cached_cons)
    }

    /// The `i`th ready entry (`i` < [`available`](Self::available)).
    #[inline]
    pub fn get(&self, i: u32) -> T {
        debug_assert!(i < self.cached_prod.wrapping_sub(self.cached_cons));
        self.ring.read(self.cached_cons.wrapping_add(i))
    }

    /// Hands the first `n` ready entries back to the kernel.
    #[inline]
    pub fn release(&mut self, n: u32) {
        self.cached_cons = self.cached_cons.wrapping_add(n);
        self.ring
            .consumer()
            .store(self.cached_cons, Ordering::Release);
    }
}

/// How to bind the socket.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BindMode {
    /// Zero-copy if the driver supports it, copy mode otherwise.
    Auto,
    /// Copy mode only.
    Copy,
    /// Zero-copy or fail.
    ZeroCopy,
}

/// Ring sizes of one socket (powers of two).
#[derive(Clone, Copy, Debug)]
pub struct RingSizes {
    pub fill: u32,
    pub completion: u32,
    pub rx: u32,
    pub tx: u32,
}

/// The kernel's counters of one socket (`XDP_STATISTICS`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct XskStatistics {
    /// Dropped for reasons other than invalid descriptors (e.g. RX ring full).
    pub rx_dropped: u64,
    /// Invalid descriptors found on the fill ring.
    pub rx_invalid_descs: u64,
    /// Invalid descriptors found on the TX ring.
    pub tx_invalid_descs: u64,
    /// Dropped because the RX ring was full.
    pub rx_ring_full: u64,
    /// Times the fill ring was empty when a frame arrived.
    pub rx_fill_ring_empty_descs: u64,
    /// Times the kernel found the TX ring empty when asked to send.
    pub tx_ring_empty_descs: u64,
}

/// An AF_XDP socket bound to one queue of one interface, with its own UMEM and rings.
pub struct XskSocket {
    // Dropped before `umem`: the rings and the socket unmap and close first; the kernel
    // keeps the UMEM's pages pinned until the socket is gone.
    fill: ProducerRing<u64>,
    completion: ConsumerRing<u64>,
    rx: ConsumerRing<Desc>,
    tx: ProducerRing<Desc>,
    fd: OwnedFd,
    zero_copy: bool,
    umem: Umem,
}

/// Borrows of a socket's UMEM and rings at once, so chunks lent from the UMEM can be
/// queued on the TX ring while still borrowed.
pub struct XskParts<'s> {
    pub umem: &'s mut Umem,
    pub fill: &'s mut ProducerRing<u64>,
    pub completion: &'s mut ConsumerRing<u64>,
    pub rx: &'s mut ConsumerRing<Desc>,
    pub tx: &'s mut ProducerRing<Desc>,
}

fn setsockopt<T>(fd: RawFd, opt: libc::c_int, val: &T, what: &'static str) -> Result<(), XdpError> {
    // SAFETY: `val` points to a live T of the size passed; the kernel copies it.
    let rc = unsafe {
        libc::setsockopt(
            fd,
            libc::SOL_XDP,
            opt,
            (val as *const T).cast(),
            size_of::<T>() as libc::socklen_t,
        )
    };
    cvt(rc)
        .map(drop)
        .map_err(|err| XdpError::Os { op: what, err })
}

/// The index of interface `name` in the calling thread's network namespace.
pub fn if_index(name: &str) -> Result<u32, XdpError> {
    let c = CString::new(name).map_err(|_| XdpError::Config("interface name contains NUL"))?;
    // SAFETY: `c` is a NUL-terminated string alive for the call.
    let idx = unsafe { libc::if_nametoindex(c.as_ptr()) };
    if idx == 0 {
        return Err(XdpError::NoInterface {
            name: name.into(),
            err: io::Error::last_os_error(),
        });
    }
    Ok(idx)
}

impl XskSocket {
    /// Creates an AF_XDP socket on `umem`, bound to queue `queue` of interface `ifindex`
    /// (in the calling thread's network namespace).
    pub fn bind(
        umem: Umem,
        ifindex: u32,
        queue: u32,
        sizes: RingSizes,
        mode: BindMode,
    ) -> Result<XskSocket, XdpError> {
        // SAFETY: plain syscall; on success we own the new descriptor.
        let fd = cvt(unsafe { libc::socket(libc::AF_XDP, libc::SOCK_RAW | libc::SOCK_CLOEXEC, 0) })
            .map_err(|err| XdpError::Os {
                op: "socket(AF_XDP)",
                err,
            })?;
        // SAFETY: `fd` is fresh and owned by nobody else.
        let fd = unsafe { OwnedFd::from_raw_fd(fd) };
        let raw = fd.as_raw_fd();
        setsockopt(raw, libc::XDP_UMEM_REG, &umem.reg(), "XDP_UMEM_REG")?;
        setsockopt(
            raw,
            libc::XDP_UMEM_FILL_RING,
            &sizes.fill,
            "XDP_UMEM_FILL_RING",
        )?;
        setsockopt(
            raw,
            libc::XDP_UMEM_COMPLETION_RING,
            &sizes.completion,
            "XDP_UMEM_COMPLETION_RING",
        )?;
        setsockopt(raw, libc::XDP_RX_RING, &sizes.rx, "XDP_RX_RING")?;
        setsockopt(raw, libc::XDP_TX_RING, &sizes.tx, "XDP_TX_RING")?;

        // SAFETY: all-zero is a valid xdp_mmap_offsets (plain integers).
        let mut off: libc::xdp_mmap_offsets = unsafe { zeroed() };
        let mut len = size_of::<libc::xdp_mmap_offsets>() as libc::socklen_t;
        // SAFETY: `off` and `len` are live and describe a buffer of `len` bytes.
        let rc = unsafe {
            libc::getsockopt(
                raw,
                libc::SOL_XDP,
                libc::XDP_MMAP_OFFSETS,
                (&mut off as *mut libc::xdp_mmap_offsets).cast(),
                &mut len,
            )
        };
        cvt(rc).map_err(|err| XdpError::Os {
            op: "XDP_MMAP_OFFSETS",
            err,
        })?;
        if len as usize != size_of::<libc::xdp_mmap_offsets>() {
            return Err(XdpError::Config(
                "kernel without ring flags (AF_XDP before 5.4)",
            ));
        }
        let os = |op: &'static str| move |err| XdpError::Os { op, err };
        let fill = RingMap::new(raw, &off.fr, sizes.fill, libc::XDP_UMEM_PGOFF_FILL_RING)
            .map_err(os("mmap fill ring"))?;
        let completion = RingMap::new(
            raw,
            &off.cr,
            sizes.completion,
            libc::XDP_UMEM_PGOFF_COMPLETION_RING,
        )
        .map_err(os("mmap completion ring"))?;
        let rx = RingMap::new(raw, &off.rx, sizes.rx, libc::XDP_PGOFF_RX_RING as u64)
            .map_err(os("mmap RX ring"))?;
        let tx = RingMap::new(raw, &off.tx, sizes.tx, libc::XDP_PGOFF_TX_RING as u64)
            .map_err(os("mmap TX ring"))?;

        let bind = |flags: u16| -> io::Result<()> {
            let sa = libc::sockaddr_xdp {
                sxdp_family: libc::AF_XDP as u16,
                sxdp_flags: flags | libc::XDP_USE_NEED_WAKEUP,
                sxdp_ifindex: ifindex,
                sxdp_queue_id: queue,
                sxdp_shared_umem_fd: 0,
            };
            // SAFETY: `sa` is a live sockaddr_xdp of the size passed.
            cvt(unsafe {
                libc::bind(
                    raw,
                    (&sa as *const libc::sockaddr_xdp).cast(),
                    size_of::<libc::sockaddr_xdp>() as libc::socklen_t,
                )
            })
            .map(drop)
        };
        let zero_copy = match mode {
            BindMode::ZeroCopy => bind(libc::XDP_ZEROCOPY).map(|()| true),
            BindMode::Copy => bind(libc::XDP_COPY).map(|()| false),
            // A failed bind leaves the socket unbound, so copy mode can be tried on it.
            BindMode::Auto => bind(libc::XDP_ZEROCOPY)
                .map(|()| true)
                .or_else(|_| bind(libc::XDP_COPY).map(|()| false)),
        }
        .map_err(|err| XdpError::Bind {
            ifindex,
            queue,
            err,
        })?;
        Ok(XskSocket {
            fill: ProducerRing::new(fill),
            completion: ConsumerRing::new(completion),
            rx: ConsumerRing::new(rx),
            tx: ProducerRing::new(tx),
            fd,
            zero_copy,
            umem,
        })
    }

    /// The UMEM and the rings, for one round of the worker loop.
    pub fn parts(&mut self) -> XskParts<'_> {
        XskParts {
            umem: &mut self.umem,
            fill: &mut self.fill,
            completion: &mut self.completion,
            rx: &mut self.rx,
            tx: &mut self.tx,
        }
    }

    /// The UMEM.
    pub fn umem(&self) -> &Umem {
        &self.umem
    }

    /// Bound in zero-copy mode (frames DMAed into the UMEM), not copy mode.
    pub fn zero_copy(&self) -> bool {
        self.zero_copy
    }

    /// Asks the kernel to send what is on the TX ring (needed in copy mode, and in
    /// zero-copy mode when the TX ring's need-wakeup flag is set). Transient errors (the
    /// kernel is still busy with earlier frames) are not errors: the next kick retries.
    pub fn kick_tx(&self) -> io::Result<()> {
        // SAFETY: a zero-length send with no buffer and no address; the kernel reads
        // nothing from user memory.
        let rc = unsafe {
            libc::sendto(
                self.fd.as_raw_fd(),
                core::ptr::null(),
                0,
                libc::MSG_DONTWAIT,
                core::ptr::null(),
                0,
            )
        };
        if rc >= 0 {
            return Ok(());
        }
        match io::Error::last_os_error() {
            e if matches!(
                e.raw_os_error(),
                Some(libc::EAGAIN | libc::EBUSY | libc::ENOBUFS | libc::ENETDOWN)
            ) =>
            {
                Ok(())
            }
            e => Err(e),
        }
    }

    /// Asks the driver to fill RX from the fill ring (when the fill ring's need-wakeup
    /// flag is set), without blocking.
    pub fn kick_rx(&self) {
        // SAFETY: a zero-length receive with no buffer and no address; the kernel writes
        // nothing to user memory.
        unsafe {
            libc::recvfrom(
                self.fd.as_raw_fd(),
                core::ptr::null_mut(),
                0,
                libc::MSG_DONTWAIT,
                core::ptr::null_mut(),
                core::ptr::null_mut(),
            );
        }
    }

    /// Waits up to `timeout_ms` for frames on the RX ring; `Ok(false)` on timeout or
    /// signal.
    pub fn wait_rx(&self, timeout_ms: i32) -> io::Result<bool> {
        let mut pfd = libc::pollfd {
            fd: self.fd.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        };
        // SAFETY: one live pollfd.
        let rc = unsafe { libc::poll(&mut pfd, 1, timeout_ms) };
        if rc < 0 {
            let e = io::Error::last_os_error();
            return if e.kind() == io::ErrorKind::Interrupted {
                Ok(false)
            } else {
                Err(e)
            };
        }
        Ok(rc > 0)
    }

    /// The kernel's counters for this socket.
    pub fn statistics(&self) -> io::Result<XskStatistics> {
        // SAFETY: all-zero is a valid xdp_statistics (plain integers).
        let mut s: libc::xdp_statistics = unsafe { zeroed() };
        let mut len = size_of::<libc::xdp_statistics>() as libc::socklen_t;
        // SAFETY: `s` and `len` are live and describe a buffer of `len` bytes; an older
        // kernel fills a prefix and leaves the rest zero.
        let rc = unsafe {
            libc::getsockopt(
                self.fd.as_raw_fd(),
                libc::SOL_XDP,
                libc::XDP_STATISTICS,
                (&mut s as *mut libc::xdp_statistics).cast(),
                &mut len,
            )
        };
        cvt(rc)?;
        Ok(XskStatistics {
            rx_dropped: s.rx_dropped,
            rx_invalid_descs: s.rx_invalid_descs,
            tx_invalid_descs: s.tx_invalid_descs,
            rx_ring_full: s.rx_ring_full,
            rx_fill_ring_empty_descs: s.rx_fill_ring_empty_descs,
            tx_ring_empty_descs: s.tx_ring_empty_descs,
        })
    }
}

impl AsRawFd for XskSocket {
    fn as_raw_fd(&self) -> RawFd {
        self.fd.as_raw_fd()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn umem_lends_each_chunk_once_per_call_and_nothing_outside() {
        let mut u = Umem::new(4, 2048).unwrap();
        assert_eq!(
            (u.chunk_of(2048 + 256), u.chunk_of(4 * 2048)),
            (Some(2048), None)
        );
        let addrs = [256, 2048 + 300, 300, 8192, 3 * 2048];
        let mut out: [Option<&mut [u8]>; 5] = Default::default();
        u.lend(&addrs, &mut out);
        let lent: Vec<Option<usize>> = out.iter().map(|b| b.as_ref().map(|b| b.len())).collect();
        // 300 is in chunk 0 again, 8192 is past the end.
        assert_eq!(lent, [Some(2048), Some(2048), None, None, Some(2048)]);
        let [Some(a), Some(b), None, None, Some(_)] = &mut out else {
            panic!("unexpected lending {lent:?}");
        };
        a[256] = 1;
        b[300] = 2;
        // Each call is a new round: the same chunk may be lent again.
        let mut again: [Option<&mut [u8]>; 1] = Default::default();
        u.lend(&[2048], &mut again);
        assert_eq!(again[0].as_ref().map(|c| c[300]), Some(2));
    }

    #[test]
    fn umem_refuses_odd_frame_sizes() {
        assert!(Umem::new(4, 3000).is_err());
        assert!(Umem::new(0, 4096).is_err());
    }
}
