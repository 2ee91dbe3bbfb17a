//! The AF_XDP data plane as the control plane sees it, built with or without the
//! `af-xdp` feature: [`AfXdpBackend::start`] attaches the XDP program to an interface and
//! runs one worker per RX queue next to the sockets backend (which keeps every port's
//! kernel socket: what the program passes reaches the control plane through it), and the
//! control plane tells it which local ports to steer. Without the feature `start` fails
//! with [`AfXdpError::NotBuilt`], so the fallback to sockets needs no `cfg` upstream.

use std::net::SocketAddr;
use std::sync::Arc;

use shared_tables::TableReader;

use crate::backend::PuntSink;

/// Where and how to run.
#[derive(Clone, Debug)]
pub struct AfXdpConfig {
    /// The interface whose packets the program steers (in this process's network
    /// namespace).
    pub interface: String,
    /// UMEM chunks per queue (4 KiB each).
    pub frames_per_queue: u32,
    /// Never sleep when idle.
    pub busy_poll: bool,
    /// Fail unless the program runs in the driver (native XDP).
    pub driver_only: bool,
}

impl AfXdpConfig {
    /// Defaults for `interface`: 4096 chunks (16 MiB) per queue, sleeping when idle,
    /// generic XDP if the driver has none.
    pub fn new(interface: &str) -> AfXdpConfig {
        AfXdpConfig {
            interface: interface.into(),
            frames_per_queue: 4096,
            busy_poll: false,
            driver_only: false,
        }
    }
}

/// Why the AF_XDP data plane did not start.
#[derive(Debug, thiserror::Error)]
pub enum AfXdpError {
    /// This binary was built without the `af-xdp` feature.
    #[error("this rtpbolt was built without AF_XDP support (cargo feature dataplane/af-xdp)")]
    NotBuilt,
    /// Reading the interface's settings failed (no such interface, …).
    #[error("interface {interface}: {message}")]
    Interface { interface: String, message: String },
    /// The kernel refused the program, a map or a socket.
    #[cfg(feature = "af-xdp")]
    #[error(transparent)]
    Xdp(#[from] crate::backend::xdp::XdpError),
    /// A worker thread could not be started.
    #[error("starting an AF_XDP worker: {0}")]
    Thread(std::io::Error),
}

/// Counters of the AF_XDP data plane, summed over queues.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct AfXdpStats {
    /// Table hits the program redirected to the sockets.
    pub redirected: u64,
    /// Packets the program passed to the kernel.
    pub passed: u64,
    /// Frames the sockets received.
    pub rx: u64,
    /// Frames the sockets sent (forwarded in place).
    pub tx: u64,
    /// Frames handed to the control plane (STUN, DTLS, unknown next hop, …).
    pub punted: u64,
    /// Frames dropped by policy, as malformed, or for a full TX ring.
    pub dropped: u64,
    /// The kernel's count of frames dropped on receive (RX ring full, …).
    pub rx_dropped: u64,
    /// The kernel's count of times a frame found the fill ring empty.
    pub rx_fill_ring_empty: u64,
    /// The kernel's count of invalid descriptors, fill and TX rings.
    pub invalid_descs: u64,
}

/// The running AF_XDP data plane: program attached, one worker per RX queue. Stops and
/// detaches when dropped.
pub struct AfXdpBackend {
    inner: imp::Running,
}

impl AfXdpBackend {
    /// Attaches the program to `cfg.interface` and starts a worker per RX queue, reading
    /// `table` and handing what it does not forward to `punt`.
    pub fn start(
        cfg: &AfXdpConfig,
        table: TableReader,
        punt: Arc<dyn PuntSink>,
    ) -> Result<AfXdpBackend, AfXdpError> {
        imp::Running::start(cfg, table, punt).map(|inner| AfXdpBackend { inner })
    }

    /// Steers packets to `local` (a port with a flow-table entry) to the workers.
    pub fn steer(&self, local: SocketAddr) -> Result<(), AfXdpError> {
        self.inner.steer(local)
    }

    /// Lets packets to `local` through to the kernel again.
    pub fn unsteer(&self, local: SocketAddr) -> Result<(), AfXdpError> {
        self.inner.unsteer(local)
    }

    /// Counters so far.
    pub fn stats(&self) -> AfXdpStats {
        self.inner.stats()
    }

    /// One line for the log: interface, queues, XDP mode, copy or zero-copy.
    pub fn describe(&self) -> String {
        self.inner.describe()
    }
}

#[cfg(not(feature = "af-xdp"))]
mod imp {
    use super::*;

    /// Uninhabited: without the feature nothing runs.
    pub enum Running {}

    impl Running {
        pub fn start(
            _: &AfXdpConfig,
            _: TableReader,
            _: Arc<dyn PuntSink>,
        ) -> Result<Running, AfXdpError> {
            Err(AfXdpError::NotBuilt)
        }
        pub fn steer(&self, _: SocketAddr) -> Result<(), AfXdpError> {
            match *self {}
        }
        pub fn unsteer(&self, _: SocketAddr) -> Result<(), AfXdpError> {
            match *self {}
        }
        pub fn stats(&self) -> AfXdpStats {
            match *self {}
        }
        pub fn describe(&self) -> String {
            match *self {}
        }
    }
}

#[cfg(feature = "af-xdp")]
mod imp {
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::Mutex;
    use std::thread::JoinHandle;

    use super::*;
    use crate::backend::neighbours::{neighbour_mesh, read_arp_cache, KernelFeed};
    use crate::backend::xdp::{
        if_index, BindMode, PublishedXsk, RingSizes, Umem, XdpProgram, XskSocket, XskWorker,
        XskWorkerConfig,
    };

    /// Each 4 KiB: the whole frame plus the kernel's 256 bytes of XDP headroom.
    const FRAME_SIZE: u32 = 4096;
    const RING: u32 = 2048;

    /// How often the kernel's ARP cache is read for the workers.
    const KERNEL_NEIGHBOURS_EVERY: std::time::Duration = std::time::Duration::from_secs(1);

    struct Queue {
        published: Arc<PublishedXsk>,
        thread: Option<JoinHandle<()>>,
    }

    pub struct Running {
        interface: String,
        // Map updates come from the control plane's thread; the program is not Sync.
        program: Mutex<XdpProgram>,
        queues: Vec<Queue>,
        /// Feeds the kernel's neighbours to the workers.
        feeder: Option<JoinHandle<()>>,
        stop: Arc<AtomicBool>,
        zero_copy: bool,
    }

    fn sysfs(iface: &str, file: &str) -> Result<String, AfXdpError> {
        std::fs::read_to_string(format!("/sys/class/net/{iface}/{file}"))
            .map(|s| s.trim().to_string())
            .map_err(|e| AfXdpError::Interface {
                interface: iface.into(),
                message: format!("{file}: {e}"),
            })
    }

    fn parse_mac(s: &str) -> Option<[u8; 6]> {
        let mut mac = [0u8; 6];
        let mut parts = s.split(':');
        for b in &mut mac {
            *b = u8::from_str_radix(parts.next()?, 16).ok()?;
        }
        parts.next().is_none().then_some(mac)
    }

    /// The interface's RX queues (`/sys/class/net/IF/queues/rx-N`), at least one.
    fn rx_queues(iface: &str) -> u32 {
        std::fs::read_dir(format!("/sys/class/net/{iface}/queues"))
            .map(|d| {
                d.flatten()
                    .filter(|e| e.file_name().to_string_lossy().starts_with("rx-"))
                    .count() as u32
            })
            .unwrap_or(1)
            .max(1)
    }

    impl Running {
        pub fn start(
            cfg: &AfXdpConfig,
            table: TableReader,
            punt: Arc<dyn PuntSink>,
        ) -> Result<Running, AfXdpError> {
            let iface = cfg.interface.as_str();
            let bad = |message: String| AfXdpError::Interface {
                interface: iface.into(),
                message,
            };
            let mac_text = sysfs(iface, "address")?;
            let mac = parse_mac(&mac_text).ok_or_else(|| bad(format!("MAC {mac_text:?}")))?;
            let mtu_text = sysfs(iface, "mtu")?;
            let mtu = mtu_text
                .parse::<usize>()
                .map_err(|_| bad(format!("MTU {mtu_text:?}")))?;
            let ifindex = if_index(iface)?;
            let mut program = XdpProgram::attach(iface, cfg.driver_only)?;
            let worker_cfg = XskWorkerConfig {
                mac,
                neighbours: crate::frame::DEFAULT_NEIGHBOUR_CAPACITY,
                mtu,
                busy_poll: cfg.busy_poll,
            };
            let sizes = RingSizes {
                fill: RING,
                completion: RING,
                rx: RING,
                tx: RING,
            };
            let stop = Arc::new(AtomicBool::new(false));
            let mut queues = Vec::new();
            let nqueues = rx_queues(iface);
            let (links, inboxes) = neighbour_mesh(nqueues as usize);
            let mut links = links.into_iter();
            let mut start_queues = || -> Result<bool, AfXdpError> {
                let mut zero_copy = true;
                for q in 0..nqueues {
                    let umem = Umem::new(cfg.frames_per_queue, FRAME_SIZE)?;
                    let sock = XskSocket::bind(umem, ifindex, q, sizes, BindMode::Auto)?;
                    program.register_socket(q, &sock)?;
                    zero_copy &= sock.zero_copy();
                    let mut worker = XskWorker::new(sock, table.clone(), punt.clone(), &worker_cfg);
                    if let Some(l) = links.next() {
                        worker = worker.with_neighbour_links(l);
                    }
                    let published = Arc::new(PublishedXsk::default());
                    let (stop, p) = (stop.clone(), published.clone());
                    let thread = std::thread::Builder::new()
                        .name(format!("xsk-{iface}-{q}"))
                        .spawn(move || worker.run(&stop, &p))
                        .map_err(AfXdpError::Thread)?;
                    queues.push(Queue {
                        published,
                        thread: Some(thread),
                    });
                }
                Ok(zero_copy)
            };
            let started = start_queues();
            let mut running = Running {
                interface: iface.into(),
                program: Mutex::new(program),
                queues,
                feeder: None,
                stop,
                zero_copy: false,
            };
            // On error, dropping `running` stops the workers already started.
            running.zero_copy = started?;
            let (stop, iface) = (running.stop.clone(), running.interface.clone());
            running.feeder = Some(
                std::thread::Builder::new()
                    .name(format!("xsk-{iface}-arp"))
                    .spawn(move || feed_kernel_neighbours(&iface, &inboxes, &stop))
                    .map_err(AfXdpError::Thread)?,
            );
            Ok(running)
        }

        fn program(&self) -> std::sync::MutexGuard<'_, XdpProgram> {
            self.program
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
        }

        pub fn steer(&self, local: SocketAddr) -> Result<(), AfXdpError> {
            Ok(self.program().insert_flow(local)?)
        }

        pub fn unsteer(&self, local: SocketAddr) -> Result<(), AfXdpError> {
            Ok(self.program().remove_flow(local)?)
        }

        pub fn stats(&self) -> AfXdpStats {
            let mut s = AfXdpStats::default();
            if let Ok(p) = self.program().stats() {
                s.redirected = p.redirected;
                s.passed = p.passed;
            }
            for q in &self.queues {
                let x = q.published.load();
                let f = q.published.frame.load();
                let k = q.published.kernel();
                s.rx += x.rx;
                s.tx += x.tx;
                s.punted += x.punted;
                s.dropped += f.dropped_malformed
                    + f.dropped_policy
                    + f.dropped_srtp_auth
                    + f.dropped_srtp_replay
                    + x.tx_ring_full
                    + x.kernel_dropped;
                s.rx_dropped += k.rx_dropped;
                s.rx_fill_ring_empty += k.rx_fill_ring_empty_descs;
                s.invalid_descs += k.rx_invalid_descs + k.tx_invalid_descs;
            }
            s
        }

        pub fn describe(&self) -> String {
            format!(
                "AF_XDP on {}: {} RX queue(s), XDP in {} mode, sockets in {} mode",
                self.interface,
                self.queues.len(),
                match self.program().mode() {
                    crate::backend::xdp::AttachMode::Driver => "driver",
                    crate::backend::xdp::AttachMode::Generic => "generic (skb)",
                },
                if self.zero_copy { "zero-copy" } else { "copy" }
            )
        }
    }

    /// Sends the kernel's ARP cache for `iface` to the workers until `stop`: the kernel
    /// answers the phones' ARP requests and so knows their MACs before the workers see a
    /// frame from them.
    fn feed_kernel_neighbours(
        iface: &str,
        inboxes: &[std::sync::mpsc::SyncSender<crate::backend::neighbours::NeighbourUpdate>],
        stop: &AtomicBool,
    ) {
        let mut feed = KernelFeed::default();
        let tick = std::time::Duration::from_millis(50);
        let mut waited = KERNEL_NEIGHBOURS_EVERY;
        while !stop.load(Ordering::Relaxed) {
            if waited >= KERNEL_NEIGHBOURS_EVERY {
                waited = std::time::Duration::ZERO;
                if let Ok(cache) = read_arp_cache(iface) {
                    feed.feed(&cache, inboxes);
                }
            }
            std::thread::sleep(tick);
            waited += tick;
        }
    }

    impl Drop for Running {
        fn drop(&mut self) {
            self.stop.store(true, Ordering::Relaxed);
            let threads = self.queues.iter_mut().filter_map(|q| q.thread.take());
            for t in threads.chain(self.feeder.take()) {
                let _ = t.join();
            }
        }
    }
}
