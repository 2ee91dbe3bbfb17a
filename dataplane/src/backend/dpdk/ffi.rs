//! Every DPDK call the data plane makes, behind safe types. The only `unsafe` of the DPDK
//! backend; `dpdk-sys` is the raw layer underneath.
//!
//! Ownership model:
//! - [`Eal`] is the initialised environment; everything else borrows it (`'e`), so
//!   `rte_eal_cleanup` (its `Drop`) cannot run while a pool, port or mbuf is alive.
//! - [`Mempool`]s are never freed individually: an mbuf may be sitting in any port's ring,
//!   and EAL cleanup releases their memory at exit anyway.
//! - A [`Port`] hands out one [`Queue`] per queue index; a queue is `Send` but not `Sync`
//!   and bursts take `&mut self`, which is DPDK's rule that one thread polls one queue.
//! - An [`Mbuf`] is owned: dropping it frees it. A [`Burst`] is a fixed array of them
//!   laid out as the `struct rte_mbuf *[]` the burst functions take.
#![allow(unsafe_code)]

use core::ffi::{c_char, c_int, CStr};
use core::marker::PhantomData;
use core::ptr::NonNull;
use std::ffi::CString;
use std::sync::atomic::{AtomicBool, Ordering};

use dpdk_sys as sys;

use super::DpdkError;

/// Packets per rx/tx burst: DPDK's customary 32 keeps a burst's mbuf headers in L1.
pub const BURST: usize = 32;

/// `rte_strerror` for `code` (a positive errno or an `E_RTE_*` value).
fn strerror(code: c_int) -> String {
    // SAFETY: rte_strerror returns a pointer to a static or per-thread NUL-terminated
    // string, valid until the next call on this thread; we copy it at once.
    let p = unsafe { sys::rte_strerror(code) };
    if p.is_null() {
        return format!("error {code}");
    }
    // SAFETY: non-null, NUL-terminated (see above).
    unsafe { CStr::from_ptr(p) }.to_string_lossy().into_owned()
}

/// This thread's `rte_errno` (set by the calls that return -1 or NULL).
fn rte_errno() -> c_int {
    // SAFETY: reads a thread-local integer; no preconditions.
    unsafe { sys::rtpbolt_errno() }
}

fn call_error(op: &'static str, code: c_int) -> DpdkError {
    let code = code.abs();
    DpdkError::Call {
        op,
        code,
        message: strerror(code),
    }
}

/// Maps DPDK's "negative errno on failure" convention.
fn check(op: &'static str, rc: c_int) -> Result<c_int, DpdkError> {
    if rc < 0 {
        Err(call_error(op, rc))
    } else {
        Ok(rc)
    }
}

fn cstring(s: &str) -> Result<CString, DpdkError> {
    CString::new(s).map_err(|_| DpdkError::NulInArgument { arg: s.to_owned() })
}

/// `rte_eal_init` may run once per process; a second call fails inside DPDK in ways that
/// are hard to read, so we refuse it up front.
static EAL_INITIALISED: AtomicBool = AtomicBool::new(false);

/// The initialised DPDK environment (EAL). Dropping it runs `rte_eal_cleanup`.
pub struct Eal {
    // Cleanup belongs on the thread that initialised EAL (the main lcore), so the handle
    // is !Send; workers on other threads may share it (`Sync`) to register themselves.
    _not_send: PhantomData<std::sync::MutexGuard<'static, ()>>,
}

impl Eal {
    /// Runs `rte_eal_init` with `args` (without the program name, which is added). Fails
    /// if EAL was initialised before in this process.
    pub fn init<S: AsRef<str>>(args: &[S]) -> Result<Eal, DpdkError> {
        if EAL_INITIALISED.swap(true, Ordering::SeqCst) {
            return Err(DpdkError::AlreadyInitialised);
        }
        let mut owned = vec![cstring("rtpbolt-dataplane")?];
        for a in args {
            owned.push(cstring(a.as_ref())?);
        }
        // EAL keeps pointers into argv (e.g. the program name for logs) and may permute
        // the array, so both live for the rest of the process.
        let owned: &'static [CString] = Box::leak(owned.into_boxed_slice());
        let argv: &'static mut [*mut c_char] = Box::leak(
            owned
                .iter()
                .map(|s| s.as_ptr().cast_mut())
                .collect::<Vec<_>>()
                .into_boxed_slice(),
        );
        let argc = c_int::try_from(argv.len()).map_err(|_| DpdkError::TooManyArguments)?;
        // SAFETY: argv holds argc valid NUL-terminated strings that are never freed; EAL
        // is not initialised yet (checked above).
        let rc = unsafe { sys::rte_eal_init(argc, argv.as_mut_ptr()) };
        if rc < 0 {
            let code = rte_errno();
            return Err(DpdkError::EalInit {
                code,
                message: strerror(code),
            });
        }
        Ok(Eal {
            _not_send: PhantomData,
        })
    }

    /// The NUMA socket of the calling thread's lcore (`SOCKET_ID_ANY` off-lcore).
    pub fn socket_id(&self) -> i32 {
        // SAFETY: EAL is initialised (we hold an Eal); reads a per-lcore value.
        let s = unsafe { sys::rte_socket_id() };
        i32::try_from(s).unwrap_or(sys::SOCKET_ID_ANY)
    }

    /// Ethernet ports available (probed from EAL arguments or hot-plugged).
    pub fn port_count(&self) -> u16 {
        // SAFETY: EAL is initialised; plain query.
        unsafe { sys::rte_eth_dev_count_avail() }
    }

    /// Whether `port` is a valid, attached port id.
    pub fn port_exists(&self, port: u16) -> bool {
        // SAFETY: EAL is initialised; plain query on any id.
        unsafe { sys::rte_eth_dev_is_valid_port(port) == 1 }
    }

    /// Hot-plugs the device described by `devargs` (`"net_tap_x,iface=foo"`: bus and
    /// driver are found from the name, as on the EAL `--vdev` command line).
    pub fn probe(&self, devargs: &str) -> Result<(), DpdkError> {
        let c = cstring(devargs)?;
        // SAFETY: `c` is a valid C string for the duration of the call.
        let rc = unsafe { sys::rte_dev_probe(c.as_ptr()) };
        check("rte_dev_probe", rc).map(drop)
    }

    /// The port id of the ethdev named `name` (a vdev's name, e.g. `net_tap0`).
    pub fn port_by_name(&self, name: &str) -> Result<u16, DpdkError> {
        let c = cstring(name)?;
        let mut id = 0u16;
        // SAFETY: `c` is a valid C string; `id` is a valid out-pointer.
        let rc = unsafe { sys::rte_eth_dev_get_port_by_name(c.as_ptr(), &mut id) };
        if rc < 0 {
            return Err(DpdkError::NoSuchPort {
                name: name.to_owned(),
            });
        }
        Ok(id)
    }

    /// Creates a pool of `n` packet mbufs with `cache` per-lcore cached ones and the
    /// default data room (2048 bytes plus [`HEADROOM`]).
    pub fn pktmbuf_pool(&self, name: &str, n: u32, cache: u32) -> Result<Mempool<'_>, DpdkError> {
        let c = cstring(name)?;
        let room = u16::try_from(sys::RTE_MBUF_DEFAULT_BUF_SIZE).expect("2176 fits u16");
        // SAFETY: `c` is a valid C string; the other arguments are plain values; EAL is
        // initialised. Returns NULL with rte_errno on failure.
        let p = unsafe {
            sys::rte_pktmbuf_pool_create(c.as_ptr(), n, cache, 0, room, sys::SOCKET_ID_ANY)
        };
        match NonNull::new(p) {
            Some(ptr) => Ok(Mempool {
                ptr,
                _eal: PhantomData,
            }),
            None => Err(call_error("rte_pktmbuf_pool_create", rte_errno())),
        }
    }

    /// Gives the calling (non-EAL) thread an lcore id, so mempool per-lcore caches and
    /// other per-lcore state work for it. Pin the thread first: EAL records its current
    /// CPU set as the lcore's. Undone when the guard drops.
    pub fn register_thread(&self) -> Result<RegisteredThread<'_>, DpdkError> {
        // SAFETY: EAL is initialised; registers the calling thread only.
        let rc = unsafe { sys::rte_thread_register() };
        if rc < 0 {
            return Err(call_error("rte_thread_register", rte_errno()));
        }
        Ok(RegisteredThread {
            _eal: PhantomData,
            _not_send: PhantomData,
        })
    }

    /// The calling thread's lcore id, `None` for a thread EAL does not know.
    pub fn lcore_id(&self) -> Option<u32> {
        // SAFETY: reads a thread-local value.
        let id = unsafe { sys::rtpbolt_lcore_id() };
        // SAFETY: returns a constant.
        (id != unsafe { sys::rtpbolt_lcore_id_any() }).then_some(id)
    }
}

impl Drop for Eal {
    fn drop(&mut self) {
        // SAFETY: every pool, port, queue and mbuf borrows this Eal, so none is alive.
        unsafe { sys::rte_eal_cleanup() };
    }
}

/// A thread registered with EAL ([`Eal::register_thread`]); unregisters on drop.
pub struct RegisteredThread<'e> {
    _eal: PhantomData<&'e Eal>,
    // Registration belongs to the thread that made it.
    _not_send: PhantomData<*const ()>,
}

impl Drop for RegisteredThread<'_> {
    fn drop(&mut self) {
        // SAFETY: this thread registered itself (the guard cannot move threads).
        unsafe { sys::rte_thread_unregister() };
    }
}

/// A packet-mbuf pool. Never freed before EAL cleanup (see the module doc).
pub struct Mempool<'e> {
    ptr: NonNull<sys::rte_mempool>,
    _eal: PhantomData<&'e Eal>,
}

// SAFETY: DPDK mempools are multi-producer/multi-consumer safe; the pointer stays valid
// until EAL cleanup, which the 'e borrow rules out.
unsafe impl Send for Mempool<'_> {}
// SAFETY: as above; every operation through &Mempool is thread-safe in DPDK.
unsafe impl Sync for Mempool<'_> {}

impl<'e> Mempool<'e> {
    /// One mbuf with an empty data area at the default headroom, or `None` if the pool is
    /// exhausted.
    pub fn alloc(&self) -> Option<Mbuf<'e>> {
        // SAFETY: the pool is valid (see type doc); returns NULL when empty.
        let p = unsafe { sys::rtpbolt_pktmbuf_alloc(self.ptr.as_ptr()) };
        NonNull::new(p).map(|ptr| Mbuf {
            ptr,
            _eal: PhantomData,
        })
    }

    /// Mbufs free in the pool (including per-lcore caches).
    pub fn available(&self) -> u32 {
        // SAFETY: the pool is valid.
        unsafe { sys::rte_mempool_avail_count(self.ptr.as_ptr()) }
    }
}

/// Headroom DPDK leaves in front of received frames (`RTE_PKTMBUF_HEADROOM`).
pub const HEADROOM: usize = sys::RTE_PKTMBUF_HEADROOM as usize;

/// One owned, received or allocated packet buffer. Dropping it returns it to its pool.
#[repr(transparent)]
pub struct Mbuf<'e> {
    ptr: NonNull<sys::rte_mbuf>,
    _eal: PhantomData<&'e Eal>,
}

// SAFETY: an Mbuf is uniquely owned (rx bursts hand out fresh mbufs; we never clone), and
// freeing to its pool is thread-safe.
unsafe impl Send for Mbuf<'_> {}

/// A single-segment mbuf's data buffer and where the frame sits in it.
pub struct MbufData<'a> {
    /// Headroom, frame and tailroom.
    pub buf: &'a mut [u8],
    /// Frame offset in `buf` (DPDK's `data_off`).
    pub off: usize,
    /// Frame length.
    pub len: usize,
}

impl Mbuf<'_> {
    /// Total frame length over all segments.
    pub fn pkt_len(&self) -> usize {
        // SAFETY: the mbuf is valid while we own it.
        unsafe { sys::rtpbolt_mbuf_pkt_len(self.ptr.as_ptr()) as usize }
    }

    /// The buffer of a single-segment mbuf we own exclusively, `None` for chained or
    /// shared (refcount > 1) mbufs, whose bytes are not all in one place or not ours.
    /// Also prefetches the frame's first cache line.
    #[inline]
    pub fn data(&mut self) -> Option<MbufData<'_>> {
        let mut v = sys::rtpbolt_mbuf_view::default();
        // SAFETY: the mbuf is valid while we own it; `v` is a valid out-pointer.
        unsafe { sys::rtpbolt_mbuf_view(self.ptr.as_ptr(), &mut v) };
        let (buf_len, off, len) = (
            usize::from(v.buf_len),
            usize::from(v.data_off),
            usize::from(v.data_len),
        );
        if v.nb_segs != 1 || v.refcnt != 1 || v.buf_addr.is_null() || off + len > buf_len {
            return None;
        }
        // SAFETY: buf_addr points at buf_len bytes owned by this mbuf; with one segment and
        // one reference nobody else reads or writes them while `self` is mutably borrowed.
        let buf = unsafe { core::slice::from_raw_parts_mut(v.buf_addr.cast::<u8>(), buf_len) };
        Some(MbufData { buf, off, len })
    }

    /// Makes the mbuf hold `buf[off..off + len]` of its data buffer (after an in-place
    /// rewrite that moved the frame start or changed its length).
    #[inline]
    pub fn set_data(&mut self, off: usize, len: usize) -> Result<(), DpdkError> {
        let bad = || DpdkError::FrameOutOfBuffer { off, len };
        let (o, l) = (
            u16::try_from(off).map_err(|_| bad())?,
            u16::try_from(len).map_err(|_| bad())?,
        );
        // SAFETY: the mbuf is valid while we own it; the shim checks the range against
        // the buffer and the segment count before writing.
        match unsafe { sys::rtpbolt_mbuf_set_data(self.ptr.as_ptr(), o, l) } {
            0 => Ok(()),
            _ => Err(bad()),
        }
    }
}

impl Drop for Mbuf<'_> {
    fn drop(&mut self) {
        // SAFETY: we own the mbuf and nothing uses it after this.
        unsafe { sys::rtpbolt_pktmbuf_free(self.ptr.as_ptr()) };
    }
}

// The burst arrays are handed to DPDK as `struct rte_mbuf **`; Option<Mbuf> must be
// exactly a nullable pointer for that.
const _: () = assert!(core::mem::size_of::<Option<Mbuf<'static>>>() == 8);

/// Up to [`BURST`] mbufs: what one [`Queue::rx`] received, or what waits for one
/// [`Queue::tx`]. Slots `..len` hold mbufs except where one was taken out.
pub struct Burst<'e> {
    slots: [Option<Mbuf<'e>>; BURST],
    len: usize,
}

impl Default for Burst<'_> {
    fn default() -> Self {
        Burst {
            slots: [const { None }; BURST],
            len: 0,
        }
    }
}

impl<'e> Burst<'e> {
    /// Slots in use (received, or queued for sending).
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether no slot is in use.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The mbufs (`None` where one was taken).
    #[inline]
    pub fn mbufs_mut(&mut self) -> &mut [Option<Mbuf<'e>>] {
        &mut self.slots[..self.len]
    }

    /// Moves mbuf `i` out (e.g. into another burst).
    #[inline]
    pub fn take(&mut self, i: usize) -> Option<Mbuf<'e>> {
        self.slots.get_mut(i).and_then(Option::take)
    }

    /// Queues `m`; gives it back when all [`BURST`] slots are in use.
    #[inline]
    pub fn push(&mut self, m: Mbuf<'e>) -> Result<(), Mbuf<'e>> {
        match self.slots.get_mut(self.len) {
            Some(slot) => {
                *slot = Some(m);
                self.len += 1;
                Ok(())
            }
            None => Err(m),
        }
    }

    /// Frees whatever the burst still holds.
    pub fn clear(&mut self) {
        for s in &mut self.slots[..self.len] {
            *s = None;
        }
        self.len = 0;
    }
}

/// What one [`Queue::tx`] did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TxResult {
    /// Handed to the driver.
    pub sent: usize,
    /// Refused by the driver (ring full) and freed.
    pub dropped: usize,
}

/// How to set up a [`Port`].
#[derive(Clone, Debug)]
pub struct PortConfig {
    /// Rx and tx queues (the same count: one pair per worker).
    pub queues: u16,
    /// Rx descriptors per queue (adjusted to the driver's limits).
    pub rx_desc: u16,
    /// Tx descriptors per queue (adjusted to the driver's limits).
    pub tx_desc: u16,
    /// With more than one queue: spread flows by RSS on IP addresses and UDP ports, as far
    /// as the driver can.
    pub rss: bool,
    /// Accept all multicast (IPv6 neighbour discovery needs solicited-node groups).
    pub allmulticast: bool,
}

/// A configured Ethernet port. Dropping it stops (if started) and closes it.
pub struct Port<'e> {
    id: u16,
    queues: u16,
    started: bool,
    _eal: PhantomData<&'e Eal>,
}

impl<'e> Port<'e> {
    /// Configures port `id` with `cfg.queues` rx/tx queue pairs whose receive buffers come
    /// from `pool`. Returns the port stopped.
    pub fn configure(
        _eal: &'e Eal,
        id: u16,
        cfg: &PortConfig,
        pool: &Mempool<'e>,
    ) -> Result<Port<'e>, DpdkError> {
        // SAFETY: EAL is initialised; plain query on any id.
        if unsafe { sys::rte_eth_dev_is_valid_port(id) } != 1 {
            return Err(DpdkError::BadPort { port: id });
        }
        let mut info = sys::rte_eth_dev_info::default();
        // SAFETY: valid port; `info` is a valid out-pointer.
        check("rte_eth_dev_info_get", unsafe {
            sys::rte_eth_dev_info_get(id, &mut info)
        })?;
        let max = info.max_rx_queues.min(info.max_tx_queues);
        if cfg.queues == 0 || cfg.queues > max {
            return Err(DpdkError::TooManyQueues {
                port: id,
                requested: cfg.queues,
                max,
            });
        }
        let mut conf = sys::rte_eth_conf::default();
        if cfg.rss && cfg.queues > 1 {
            // SAFETY: returns a constant.
            let hf = unsafe { sys::rtpbolt_rss_hf_udp() } & info.flow_type_rss_offloads;
            if hf != 0 {
                conf.rxmode.mq_mode = sys::rte_eth_rx_mq_mode_RTE_ETH_MQ_RX_RSS;
                conf.rx_adv_conf.rss_conf.rss_hf = hf;
            }
        }
        // SAFETY: valid port, stopped (never started or stopped by us); `conf` lives for the
        // call.
        check("rte_eth_dev_configure", unsafe {
            sys::rte_eth_dev_configure(id, cfg.queues, cfg.queues, &conf)
        })?;
        // From here on the port must be closed on failure; Drop does that.
        let port = Port {
            id,
            queues: cfg.queues,
            started: false,
            _eal: PhantomData,
        };
        let (mut nrx, mut ntx) = (cfg.rx_desc, cfg.tx_desc);
        // SAFETY: valid configured port; valid out-pointers.
        check("rte_eth_dev_adjust_nb_rx_tx_desc", unsafe {
            sys::rte_eth_dev_adjust_nb_rx_tx_desc(id, &mut nrx, &mut ntx)
        })?;
        // SAFETY: valid port; plain query (-1 when unknown, which DPDK reads as "any").
        let socket = unsafe { sys::rte_eth_dev_socket_id(id) } as u32;
        for q in 0..cfg.queues {
            // SAFETY: valid configured port and queue index; NULL conf means the driver's
            // defaults; the pool outlives the port ('e).
            check("rte_eth_rx_queue_setup", unsafe {
                sys::rte_eth_rx_queue_setup(
                    id,
                    q,
                    nrx,
                    socket,
                    core::ptr::null(),
                    pool.ptr.as_ptr(),
                )
            })?;
            // SAFETY: as above.
            check("rte_eth_tx_queue_setup", unsafe {
                sys::rte_eth_tx_queue_setup(id, q, ntx, socket, core::ptr::null())
            })?;
        }
        if cfg.allmulticast {
            // SAFETY: valid configured port. Not every driver supports it; a failure only
            // means IPv6 ND may need the kernel's help, so it is not fatal.
            let _ = unsafe { sys::rte_eth_allmulticast_enable(id) };
        }
        Ok(port)
    }

    /// The port id.
    pub fn id(&self) -> u16 {
        self.id
    }

    /// The port's MAC address.
    pub fn mac(&self) -> Result<[u8; 6], DpdkError> {
        let mut a = sys::rte_ether_addr::default();
        // SAFETY: valid port; `a` is a valid out-pointer.
        check("rte_eth_macaddr_get", unsafe {
            sys::rte_eth_macaddr_get(self.id, &mut a)
        })?;
        Ok(a.addr_bytes)
    }

    /// The port's MTU (largest IP packet it sends).
    pub fn mtu(&self) -> Result<u16, DpdkError> {
        let mut mtu = 0u16;
        // SAFETY: valid port; `mtu` is a valid out-pointer.
        check("rte_eth_dev_get_mtu", unsafe {
            sys::rte_eth_dev_get_mtu(self.id, &mut mtu)
        })?;
        Ok(mtu)
    }

    /// The ethdev's name (`net_tap0`, a PCI address, …).
    pub fn name(&self) -> String {
        let mut buf = [0 as c_char; sys::RTE_ETH_NAME_MAX_LEN as usize];
        // SAFETY: valid port; `buf` has RTE_ETH_NAME_MAX_LEN bytes as the API requires.
        let rc = unsafe { sys::rte_eth_dev_get_name_by_port(self.id, buf.as_mut_ptr()) };
        if rc < 0 {
            return format!("port{}", self.id);
        }
        // SAFETY: on success the name is NUL-terminated within buf.
        unsafe { CStr::from_ptr(buf.as_ptr()) }
            .to_string_lossy()
            .into_owned()
    }

    /// Starts the port.
    pub fn start(&mut self) -> Result<(), DpdkError> {
        // SAFETY: valid configured port with all queues set up.
        check("rte_eth_dev_start", unsafe {
            sys::rte_eth_dev_start(self.id)
        })?;
        self.started = true;
        Ok(())
    }

    /// Stops the port (its queues must not be polled any more, which the `&mut self`
    /// borrow against [`queues`](Self::queues) ensures).
    pub fn stop(&mut self) -> Result<(), DpdkError> {
        if self.started {
            self.started = false;
            // SAFETY: valid started port; no queue handle is alive (&mut self).
            check("rte_eth_dev_stop", unsafe {
                sys::rte_eth_dev_stop(self.id)
            })?;
        }
        Ok(())
    }

    /// One handle per queue index, to give each worker thread its own.
    pub fn queues(&mut self) -> Vec<Queue<'_>> {
        (0..self.queues)
            .map(|q| Queue {
                port: self.id,
                queue: q,
                _port: PhantomData,
            })
            .collect()
    }
}

impl Drop for Port<'_> {
    fn drop(&mut self) {
        let _ = self.stop();
        // SAFETY: valid port, stopped, no queue handle alive (they borrow the port).
        unsafe { sys::rte_eth_dev_close(self.id) };
    }
}

/// One rx/tx queue pair of a started port, polled by one thread at a time.
pub struct Queue<'p> {
    port: u16,
    queue: u16,
    // Borrowed from the port (stopping needs &mut Port); `*const ()` keeps it !Sync:
    // DPDK queues are not safe to poll from two threads at once.
    _port: PhantomData<(&'p (), *const ())>,
}

// SAFETY: a queue may be polled from any thread, just not from two at once (!Sync and
// &mut self bursts).
unsafe impl Send for Queue<'_> {}

impl<'p> Queue<'p> {
    /// The queue index.
    pub fn index(&self) -> u16 {
        self.queue
    }

    /// Receives up to [`BURST`] frames into `burst`, first freeing what it still holds.
    #[inline]
    pub fn rx(&mut self, burst: &mut Burst<'p>) -> usize {
        burst.clear();
        // SAFETY: the port is started and only this thread polls this queue (&mut self,
        // !Sync); `slots` is BURST empty Option<Mbuf>, laid out as NULL `rte_mbuf *`s
        // (size asserted above), into which the driver writes the mbufs it hands over.
        let n = unsafe {
            sys::rtpbolt_eth_rx_burst(
                self.port,
                self.queue,
                burst.slots.as_mut_ptr().cast::<*mut sys::rte_mbuf>(),
                BURST as u16,
            )
        };
        burst.len = usize::from(n).min(BURST);
        burst.len
    }

    /// Sends what `burst` holds; the driver takes what fits in its ring, the rest is freed.
    /// Leaves `burst` empty.
    #[inline]
    pub fn tx(&mut self, burst: &mut Burst<'_>) -> TxResult {
        // Taken slots would be NULL pointers to the driver: close the gaps first. Bursts
        // filled by push() have none, so this is a scan of `len` slots.
        let mut len = 0;
        for i in 0..burst.len {
            if let Some(m) = burst.slots[i].take() {
                burst.slots[len] = Some(m);
                len += 1;
            }
        }
        burst.len = len;
        if len == 0 {
            return TxResult::default();
        }
        // SAFETY: the port is started and only this thread uses this queue; slots[..len]
        // are Some (compacted above), i.e. non-null `rte_mbuf *`s we own.
        let sent = unsafe {
            sys::rtpbolt_eth_tx_burst(
                self.port,
                self.queue,
                burst.slots.as_mut_ptr().cast::<*mut sys::rte_mbuf>(),
                len as u16,
            )
        };
        let sent = usize::from(sent).min(len);
        // The driver owns the first `sent` now: forget them rather than free them.
        for s in &mut burst.slots[..sent] {
            core::mem::forget(s.take());
        }
        for s in &mut burst.slots[sent..len] {
            *s = None;
        }
        burst.len = 0;
        TxResult {
            sent,
            dropped: len - sent,
        }
    }
}
