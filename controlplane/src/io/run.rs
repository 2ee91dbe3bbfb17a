//! Wiring of a running daemon: flow table, data plane, call registry, ng
//! listeners, punted packets, timers and signals.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use dataplane::{PuntSink, PuntedPacket, SocketsBackend, SocketsIo};
use shared_tables::{FlowTable, TableError};
use tokio::net::{TcpListener, UdpSocket};
use tokio::sync::mpsc;

use crate::call::{CallRegistry, Interfaces, Settings};
use crate::config::Config;
use crate::control::Control;
use crate::io::ng_server::{self, CookieCache, NgService};
use crate::io::ports::SocketPortAllocator;

#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error("flow table: {0}")]
    Table(#[from] shared_tables::TableError),
    #[error("flow table {}: {source}", path.display())]
    TableFile { path: PathBuf, source: TableError },
    #[error("data plane: {0}")]
    Backend(#[from] dataplane::BackendError),
    #[error(transparent)]
    NoFallback(#[from] super::fast_path::NoFallback),
    #[error("cannot listen on {addr}: {source}")]
    Listen {
        addr: SocketAddr,
        source: std::io::Error,
    },
}

/// Forwards punted packets into the control plane's task.
struct ChannelPunt(mpsc::UnboundedSender<PuntedPacket>);

impl PuntSink for ChannelPunt {
    fn punt(&self, pkt: PuntedPacket) {
        // The receiver only goes away at shutdown, when dropping is right.
        let _ = self.0.send(pkt);
    }
}

pub fn settings_from(config: &Config) -> Settings {
    Settings {
        timeout: config.timeout,
        silent_timeout: config.silent_timeout,
        final_timeout: config.final_timeout,
        delete_delay: config.delete_delay,
        tos: config.tos,
        no_kernel: config.table < 0,
        ..Settings::default()
    }
}

/// Runs the daemon until SIGINT/SIGTERM.
pub async fn run(config: Config) -> Result<(), RunError> {
    let interfaces = Interfaces::new(
        config
            .interfaces
            .iter()
            .map(|i| (i.name.clone(), i.address, i.advertised)),
    );
    // Every port of the range on every local address can hold one entry.
    let range = usize::from(config.port_max.saturating_sub(config.port_min)) + 1;
    let addresses: usize = interfaces.all().iter().map(|l| l.addresses.len()).sum();
    let capacity = (range * addresses.max(1)).clamp(1024, 1 << 22);
    let table = match &config.flow_table {
        None => FlowTable::create(capacity)?,
        Some(path) => open_table_file(path, capacity).map_err(|source| RunError::TableFile {
            path: path.clone(),
            source,
        })?,
    };
    let writer = table.writer().map_err(|source| match &config.flow_table {
        Some(path) => RunError::TableFile {
            path: path.clone(),
            source,
        },
        None => RunError::Table(source),
    })?;
    if let Some(t) = writer.took_over() {
        tracing::warn!(
            "took the flow table over from writer pid {}, which died holding it: {} live entries, {} half-written slots dropped",
            t.previous_pid,
            t.live_entries,
            t.repaired_slots
        );
    }

    let (punt_tx, mut punt_rx) = mpsc::unbounded_channel();
    // Not an rtpengine option, so not a command-line one: an existing rtpengine config
    // must start rtpbolt unchanged. For benchmarks and kernels where io_uring misbehaves.
    let io_env = std::env::var("RTPBOLT_SOCKETS_IO").ok();
    let io = SocketsIo::from_env_value(io_env.as_deref()).unwrap_or_else(|| {
        tracing::warn!("RTPBOLT_SOCKETS_IO={io_env:?} is not auto, uring or epoll; using auto");
        SocketsIo::Auto
    });
    let punt: Arc<dyn PuntSink> = Arc::new(ChannelPunt(punt_tx));
    let backend = Arc::new(SocketsBackend::start_with(
        table.reader(),
        config.num_threads.max(1),
        true,
        punt.clone(),
        io,
    )?);
    tracing::info!(
        "sockets data plane: {} workers, {:?} I/O",
        config.num_threads.max(1),
        backend.io()
    );

    let mut registry = CallRegistry::new(
        interfaces,
        settings_from(&config),
        writer,
        Box::new(SocketPortAllocator::new(
            backend.clone(),
            config.port_min,
            config.port_max,
        )),
        SystemTime::now(),
    );
    log_orphans(&mut registry, config.timeout);
    // After the orphans: their entries are steered too.
    let af_xdp = super::fast_path::start(&config, table.reader(), punt)?;
    if let Some(x) = &af_xdp {
        registry.set_steering(Box::new(super::fast_path::XdpSteering(x.clone())));
    }
    let control = Arc::new(Mutex::new(Control::new(registry)));
    let svc = Arc::new(NgService {
        control: control.clone(),
        cache: Mutex::new(CookieCache::default()),
    });

    for addr in &config.listen_ng {
        let sock = bind_udp(*addr)?;
        tracing::info!("listening for ng on udp {addr}");
        tokio::spawn(ng_server::serve_udp(sock, svc.clone()));
    }
    for addr in &config.listen_tcp_ng {
        let l = bind_tcp(*addr)?;
        tracing::info!("listening for ng on tcp {addr}");
        tokio::spawn(ng_server::serve_tcp(l, svc.clone()));
    }
    if let Some(addr) = config.listen_cli {
        let l = bind_tcp(addr)?;
        tokio::spawn(super::legacy::serve_cli(l));
    }
    if let Some(addr) = config.listen_udp {
        let sock = bind_udp(addr)?;
        tokio::spawn(super::legacy::serve_udp(sock));
    }

    // Packets the flow table did not forward.
    {
        let control = control.clone();
        let backend = backend.clone();
        tokio::spawn(async move {
            while let Some(pkt) = punt_rx.recv().await {
                // One bad packet must not end the punt path for all calls.
                let tx = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                    let mut c = control
                        .lock()
                        .unwrap_or_else(std::sync::PoisonError::into_inner);
                    c.registry.handle_packet(
                        Instant::now(),
                        SystemTime::now(),
                        pkt.local,
                        pkt.src,
                        &pkt.data,
                    )
                }))
                .unwrap_or_else(|_| {
                    tracing::error!(
                        "packet from {} on {} caused a panic; dropped",
                        pkt.src,
                        pkt.local
                    );
                    None
                });
                if let Some(tx) = tx {
                    if let Err(e) = backend.send_from(tx.from, tx.to, &tx.data) {
                        tracing::debug!("forward {} -> {}: {e}", tx.from, tx.to);
                    }
                }
            }
        });
    }

    // Timeouts and delayed deletes.
    {
        let control = control.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_millis(500));
            loop {
                tick.tick().await;
                let ended = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                    let mut c = control
                        .lock()
                        .unwrap_or_else(std::sync::PoisonError::into_inner);
                    c.registry.handle_timeout(Instant::now())
                }))
                .unwrap_or_default();
                for id in ended {
                    tracing::info!(call_id = %id, "call ended (timeout or delete-delay)");
                }
            }
        });
    }

    wait_for_signal().await;
    tracing::info!("shutting down");
    if let Ok(backend) = Arc::try_unwrap(backend) {
        backend.shutdown();
    }
    Ok(())
}

/// Maps the table at `path`: the one a previous daemon left there if it is a table of this
/// build's layout (its entries then still forward, see `call::orphans`), else a new one.
fn open_table_file(path: &Path, capacity: usize) -> Result<FlowTable, TableError> {
    match FlowTable::attach(path) {
        Ok(t) => {
            tracing::info!(
                "flow table {}: re-attached (capacity {})",
                path.display(),
                t.capacity()
            );
            if t.capacity() < capacity {
                tracing::warn!(
                    "flow table {} holds {} entries, the port range needs {capacity}; delete the file while no data plane maps it to make a larger one",
                    path.display(),
                    t.capacity()
                );
            }
            Ok(t)
        }
        Err(TableError::Io { source, .. }) if source.kind() == std::io::ErrorKind::NotFound => {
            tracing::info!(
                "flow table {}: created (capacity {capacity})",
                path.display()
            );
            FlowTable::create_at(path, capacity)
        }
        Err(e @ (TableError::BadRegion { .. } | TableError::VersionMismatch { .. })) => {
            // Nothing can forward from it, so nothing is lost by replacing it.
            tracing::warn!("flow table {}: {e}; replacing it", path.display());
            FlowTable::create_at(path, capacity)
        }
        Err(e) => Err(e),
    }
}

/// Adopts and logs the entries a previous daemon left in the table.
fn log_orphans(registry: &mut CallRegistry, timeout: Duration) {
    use crate::call::orphans::join;
    let groups = registry.adopt_orphans(Instant::now());
    if groups.is_empty() {
        return;
    }
    let flows: usize = groups.iter().map(|g| g.keys.len()).sum();
    tracing::info!(
        "adopted {flows} flows of {} calls a previous rtpbolt left in the flow table; the data plane keeps forwarding them, their ports stay reserved until they see no media for {} s",
        groups.len(),
        timeout.as_secs()
    );
    for g in groups {
        tracing::info!(
            "adopted flows on {} (ports {})",
            join(g.keys.iter().map(|k| k.local())),
            join(g.pairs.iter().copied())
        );
    }
}

async fn wait_for_signal() {
    use tokio::signal::unix::{signal, SignalKind};
    let (Ok(mut term), Ok(mut int)) = (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
    ) else {
        // Without signal handlers the default action (exit) applies.
        std::future::pending::<()>().await;
        return;
    };
    tokio::select! {
        _ = term.recv() => {}
        _ = int.recv() => {}
    }
}

/// Binds with `IPV6_V6ONLY` on IPv6, so `[::]:P` and `0.0.0.0:P` coexist
/// (`--listen-ng=PORT` binds both).
fn socket_for(addr: SocketAddr, ty: socket2::Type) -> Result<socket2::Socket, RunError> {
    let err = |source| RunError::Listen { addr, source };
    let domain = socket2::Domain::for_address(addr);
    let sock = socket2::Socket::new(domain, ty, None).map_err(err)?;
    if addr.is_ipv6() {
        sock.set_only_v6(true).map_err(err)?;
    }
    sock.set_reuse_address(true).map_err(err)?;
    sock.set_nonblocking(true).map_err(err)?;
    sock.bind(&addr.into()).map_err(err)?;
    Ok(sock)
}

fn bind_udp(addr: SocketAddr) -> Result<UdpSocket, RunError> {
    let sock = socket_for(addr, socket2::Type::DGRAM)?;
    UdpSocket::from_std(sock.into()).map_err(|source| RunError::Listen { addr, source })
}

fn bind_tcp(addr: SocketAddr) -> Result<TcpListener, RunError> {
    let sock = socket_for(addr, socket2::Type::STREAM)?;
    sock.listen(128)
        .map_err(|source| RunError::Listen { addr, source })?;
    TcpListener::from_std(sock.into()).map_err(|source| RunError::Listen { addr, source })
}
