//! `rtpbolt-dataplane`: the DPDK data plane. Poll-mode workers own the NIC's queues,
//! forward flow-table hits in place and hand everything else to the kernel through an
//! exception TAP that carries the NIC's MAC (the operator puts the NIC's IP on it, and the
//! control plane binds its ordinary sockets there).
//!
//! ```text
//! rtpbolt-dataplane --flow-table PATH [--port ID] [--workers CORE[,CORE...]]
//!     [--exception-iface NAME] [--stats-file PATH] [--neighbours N] [--busy-poll]
//!     -- EAL-ARGS...
//! ```
//!
//! - `--flow-table`: the control plane's table file, mapped read-only; waited for (every
//!   100 ms) if it does not exist yet. The mapping outlives the control plane.
//! - `--port`: the NIC's DPDK port id (default 0), probed from the EAL arguments
//!   (`-a PCI` for a bound NIC, `--vdev=net_tap0,iface=X` without one).
//! - `--workers`: one worker thread per listed CPU, pinned, each owning rx/tx queue q of
//!   the NIC (RSS spreads flows) and of the TAP (default: the last CPU we may use).
//! - `--exception-iface`: the TAP's kernel name (default `rbx0`).
//! - `--stats-file`: JSON counters per worker and in total, rewritten once a second.
//! - `--neighbours`: next-hop MAC cache slots per worker.
//! - `--busy-poll`: never sleep when idle (otherwise 50 µs naps after ~1000 empty polls).
//!
//! EAL needs root (or the capabilities DPDK documents), and memory: 2 MB hugepages
//! (`scripts/hugepages.sh`; about 40 MB per worker for the mbuf pool plus EAL's own) or
//! `--no-huge -m 512`. Drivers load from Debian's plugin directory by themselves (EAL
//! does so when linked as shared libraries, as here); `-d` adds others. SIGINT/SIGTERM
//! stop the workers, close both ports and exit 0.
#![forbid(unsafe_code)]

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use dataplane::backend::dpdk::neighbours::{neighbour_mesh, read_arp_cache, KernelFeed};
use dataplane::backend::dpdk::{
    stats, Eal, Port, PortConfig, PublishedWorker, Worker, WorkerConfig, WorkerStats, BURST,
};
use shared_tables::FlowTable;
use tracing::{error, info, warn};

const USAGE: &str = "usage: rtpbolt-dataplane --flow-table PATH [--port ID] \
[--workers CORE[,CORE...]] [--exception-iface NAME] [--stats-file PATH] [--neighbours N] \
[--busy-poll] -- EAL-ARGS...";

/// How often a missing flow table is looked for again.
const ATTACH_RETRY: Duration = Duration::from_millis(100);
/// How often the stats file is rewritten.
const STATS_PERIOD: Duration = Duration::from_secs(1);

/// NIC descriptors per queue: enough to ride out a scheduling hiccup at line rate.
const NIC_RX_DESC: u16 = 1024;
const NIC_TX_DESC: u16 = 1024;
/// The exception path carries signalling and stragglers, not media.
const TAP_DESC: u16 = 512;
/// Per-lcore mempool cache: saves the shared ring on most alloc/free.
const POOL_CACHE: u32 = 256;

#[derive(Debug)]
struct Args {
    flow_table: PathBuf,
    port: u16,
    workers: Vec<usize>,
    exception_iface: String,
    stats_file: Option<PathBuf>,
    neighbours: usize,
    busy_poll: bool,
    eal: Vec<String>,
}

fn parse_args(mut it: impl Iterator<Item = String>) -> Result<Args> {
    let mut flow_table = None;
    let mut port = 0;
    let mut workers = Vec::new();
    let mut exception_iface = "rbx0".to_owned();
    let mut stats_file = None;
    let mut neighbours = dataplane::frame::DEFAULT_NEIGHBOUR_CAPACITY;
    let mut busy_poll = false;
    let mut eal = Vec::new();
    while let Some(arg) = it.next() {
        let mut value = |name: &str| it.next().with_context(|| format!("{name} needs a value"));
        match arg.as_str() {
            "--flow-table" => flow_table = Some(PathBuf::from(value("--flow-table")?)),
            "--port" => port = value("--port")?.parse().context("--port")?,
            "--workers" => {
                for c in value("--workers")?.split(',') {
                    workers.push(
                        c.trim()
                            .parse()
                            .with_context(|| format!("--workers: {c:?}"))?,
                    );
                }
            }
            "--exception-iface" => exception_iface = value("--exception-iface")?,
            "--stats-file" => stats_file = Some(PathBuf::from(value("--stats-file")?)),
            "--neighbours" => {
                neighbours = value("--neighbours")?.parse().context("--neighbours")?
            }
            "--busy-poll" => busy_poll = true,
            "-h" | "--help" => {
                println!("{USAGE}");
                std::process::exit(0);
            }
            "--" => {
                eal.extend(it);
                break;
            }
            other => bail!("unknown argument {other:?}\n{USAGE}"),
        }
    }
    let Some(flow_table) = flow_table else {
        bail!("--flow-table is required\n{USAGE}");
    };
    if exception_iface.is_empty() || exception_iface.len() > 15 || exception_iface.contains(',') {
        bail!("--exception-iface {exception_iface:?}: not a usable interface name");
    }
    let mut seen = workers.clone();
    seen.sort_unstable();
    seen.dedup();
    if seen.len() != workers.len() {
        bail!("--workers lists a core twice");
    }
    Ok(Args {
        flow_table,
        port,
        workers,
        exception_iface,
        stats_file,
        neighbours,
        busy_poll,
        eal,
    })
}

fn main() {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .init();
    if let Err(e) = run() {
        error!("{e:#}");
        std::process::exit(1);
    }
}

fn run() -> Result<()> {
    let args = parse_args(std::env::args().skip(1))?;
    let stop = Arc::new(AtomicBool::new(false));
    for sig in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        signal_hook::flag::register(sig, stop.clone()).context("installing signal handler")?;
    }

    let Some(table) = attach_table(&args.flow_table, &stop) else {
        info!("stopped before the flow table appeared");
        return Ok(());
    };

    let workers = if args.workers.is_empty() {
        vec![default_core()?]
    } else {
        args.workers.clone()
    };
    let nq = u16::try_from(workers.len()).context("too many workers")?;

    let eal = Eal::init(&args.eal).context("EAL")?;
    if !eal.port_exists(args.port) {
        bail!(
            "no DPDK port {} ({} available): pass the NIC with -a or --vdev after --",
            args.port,
            eal.port_count()
        );
    }
    let mbufs = pool_size(nq);
    let pool = eal
        .pktmbuf_pool("rtpbolt_mbufs", mbufs, POOL_CACHE)
        .context("mbuf pool (are hugepages reserved, or is -m large enough with --no-huge?)")?;

    let mut nic = Port::configure(
        &eal,
        args.port,
        &PortConfig {
            queues: nq,
            rx_desc: NIC_RX_DESC,
            tx_desc: NIC_TX_DESC,
            rss: true,
            allmulticast: true,
        },
        &pool,
    )
    .with_context(|| format!("configuring port {}", args.port))?;
    let mac = nic.mac().context("NIC MAC")?;
    let mtu = nic.mtu().context("NIC MTU")?;
    let mac_text = format_mac(&mac);

    // The exception TAP is created after EAL init because it needs the NIC's MAC: with it
    // the kernel answers ARP/ND for the NIC's addresses as the NIC itself.
    let tap_name = "net_tap_rtpbolt";
    eal.probe(&format!(
        "{tap_name},iface={},mac={mac_text}",
        args.exception_iface
    ))
    .with_context(|| format!("creating exception TAP {}", args.exception_iface))?;
    let tap_id = eal.port_by_name(tap_name)?;
    let mut tap = Port::configure(
        &eal,
        tap_id,
        &PortConfig {
            queues: nq,
            rx_desc: TAP_DESC,
            tx_desc: TAP_DESC,
            rss: false,
            allmulticast: false,
        },
        &pool,
    )
    .context("configuring the exception TAP")?;
    nic.start().context("starting the NIC port")?;
    tap.start().context("starting the exception TAP")?;
    info!(
        port = args.port,
        name = %nic.name(),
        mac = %mac_text,
        exception_iface = %args.exception_iface,
        workers = ?workers,
        mtu,
        mbufs,
        "data plane running"
    );

    let published: Vec<PublishedWorker> =
        workers.iter().map(|_| PublishedWorker::default()).collect();
    let worker_cfg = WorkerConfig {
        mac,
        neighbours: args.neighbours,
        busy_poll: args.busy_poll,
        mtu: usize::from(mtu),
    };
    let worker_stop = AtomicBool::new(false);
    let (links, inboxes) = neighbour_mesh(workers.len());
    let result = std::thread::scope(|s| -> Result<()> {
        let mut handles = Vec::new();
        for ((((core, nicq), tapq), out), links) in workers
            .iter()
            .zip(nic.queues())
            .zip(tap.queues())
            .zip(&published)
            .zip(links)
        {
            let core = *core;
            let (eal, worker_stop, table, cfg) = (&eal, &worker_stop, &table, &worker_cfg);
            let h = std::thread::Builder::new()
                .name(format!("dp-worker-{}", nicq.index()))
                .spawn_scoped(s, move || -> Result<()> {
                    if !core_affinity::set_for_current(core_affinity::CoreId { id: core }) {
                        bail!("cannot pin worker to core {core}");
                    }
                    // After pinning: EAL takes the thread's CPU set as the lcore's.
                    let _lcore = eal.register_thread().context("registering worker lcore")?;
                    let mut w =
                        Worker::new(nicq, tapq, table.reader(), cfg).with_neighbour_links(links);
                    w.run(worker_stop, out);
                    Ok(())
                })
                .context("spawning worker")?;
            handles.push(h);
        }

        let mut next_stats = Instant::now();
        let mut kernel_feed = KernelFeed::default();
        while !stop.load(Ordering::Relaxed) && !handles.iter().any(|h| h.is_finished()) {
            if Instant::now() >= next_stats {
                write_stats(args.stats_file.as_deref(), &workers, &published);
                // The kernel's view of the exception interface's neighbours; unreadable
                // only without procfs, where workers still learn from traffic.
                if let Ok(cache) = read_arp_cache(&args.exception_iface) {
                    kernel_feed.feed(&cache, &inboxes);
                }
                next_stats += STATS_PERIOD;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        worker_stop.store(true, Ordering::Relaxed);
        let mut first_err = None;
        for h in handles {
            match h.join() {
                Ok(Ok(())) => {}
                Ok(Err(e)) => {
                    error!("worker failed: {e:#}");
                    first_err.get_or_insert(e);
                }
                Err(_) => {
                    first_err.get_or_insert_with(|| anyhow::anyhow!("worker panicked"));
                }
            }
        }
        first_err.map_or(Ok(()), Err)
    });
    write_stats(args.stats_file.as_deref(), &workers, &published);

    if let Err(e) = nic.stop() {
        warn!("stopping the NIC port: {e}");
    }
    if let Err(e) = tap.stop() {
        warn!("stopping the exception TAP: {e}");
    }
    drop(tap);
    drop(nic);
    drop(eal);
    result?;
    info!("stopped");
    Ok(())
}

/// Attaches the control plane's flow table read-only, waiting for it to appear. `None` if
/// told to stop first.
fn attach_table(path: &Path, stop: &AtomicBool) -> Option<FlowTable> {
    let mut attempts = 0u64;
    loop {
        match FlowTable::attach(path) {
            Ok(t) => {
                info!(path = %path.display(), capacity = t.capacity(), "attached flow table");
                return Some(t);
            }
            Err(e) => {
                // A table file may exist before the control plane has written its header,
                // so every error is retried; the log shows it if it never resolves.
                if attempts.is_multiple_of(50) {
                    info!(path = %path.display(), "waiting for the flow table: {e}");
                }
                attempts += 1;
            }
        }
        if stop.load(Ordering::Relaxed) {
            return None;
        }
        std::thread::sleep(ATTACH_RETRY);
    }
}

/// The last CPU this process may run on: the main thread (stats, signals) mostly sleeps,
/// and EAL's main lcore is usually the first.
fn default_core() -> Result<usize> {
    core_affinity::get_core_ids()
        .and_then(|ids| ids.last().map(|c| c.id))
        .context("cannot read this process's CPU affinity; pass --workers")
}

/// Mbufs for every descriptor of both ports, the bursts in flight and the per-lcore
/// caches, rounded to 2^k - 1 (the size DPDK's ring-backed pools use best).
fn pool_size(queues: u16) -> u32 {
    let per_worker =
        u32::from(NIC_RX_DESC + NIC_TX_DESC + 2 * TAP_DESC) + 4 * BURST as u32 + POOL_CACHE;
    let need = u32::from(queues) * per_worker + 1024;
    need.next_power_of_two().saturating_mul(2).min(1 << 20) - 1
}

fn format_mac(m: &[u8; 6]) -> String {
    format!(
        "{:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}",
        m[0], m[1], m[2], m[3], m[4], m[5]
    )
}

/// Writes the stats file atomically (temp file + rename), so readers never see half.
fn write_stats(path: Option<&Path>, cores: &[usize], published: &[PublishedWorker]) {
    let Some(path) = path else { return };
    let rows: Vec<_> = cores
        .iter()
        .zip(published)
        .enumerate()
        .map(|(q, (core, p))| WorkerStats {
            queue: q as u16,
            core: *core,
            dpdk: p.dpdk.load(),
            frame: p.frame.load(),
        })
        .collect();
    let json = stats::render_json(&rows);
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".tmp");
    let tmp = PathBuf::from(tmp);
    if let Err(e) = std::fs::write(&tmp, json).and_then(|()| std::fs::rename(&tmp, path)) {
        warn!(path = %path.display(), "writing stats: {e}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(s: &str) -> Result<Args> {
        parse_args(s.split_whitespace().map(String::from))
    }

    #[test]
    fn parses_the_documented_command_line() {
        let a = args(
            "--flow-table /dev/shm/t --port 1 --workers 2,3 --exception-iface ex0 \
             --stats-file /tmp/s --neighbours 64 --busy-poll -- --no-pci --vdev=net_tap0",
        )
        .unwrap();
        assert_eq!(a.flow_table, PathBuf::from("/dev/shm/t"));
        assert_eq!((a.port, a.workers.as_slice()), (1, &[2, 3][..]));
        assert_eq!(a.exception_iface, "ex0");
        assert_eq!(a.stats_file, Some(PathBuf::from("/tmp/s")));
        assert_eq!((a.neighbours, a.busy_poll), (64, true));
        assert_eq!(a.eal, ["--no-pci", "--vdev=net_tap0"]);
    }

    #[test]
    fn rejects_bad_command_lines() {
        assert!(args("--port 0").is_err(), "missing --flow-table");
        assert!(args("--flow-table t --workers 1,1").is_err());
        assert!(args("--flow-table t --workers x").is_err());
        assert!(args("--flow-table t --exception-iface a,b").is_err());
        assert!(args("--flow-table t --bogus").is_err());
        assert!(args("--flow-table").is_err());
        let a = args("--flow-table t").unwrap();
        assert_eq!((a.port, a.exception_iface.as_str()), (0, "rbx0"));
    }

    #[test]
    fn pool_covers_descriptors() {
        for q in [1u16, 2, 8] {
            let n = pool_size(q);
            assert!(n as usize > usize::from(q) * (2048 + 1024));
            assert_eq!((n + 1).count_ones(), 1, "{n} is not 2^k - 1");
        }
    }
}
