//! Starting and stopping the daemons under test.

use std::net::{IpAddr, Ipv4Addr, SocketAddr, UdpSocket};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use crate::bencode::dict;
use crate::ng::NgClient;

/// Which media relay a test runs: ours or Debian's rtpengine (the oracle).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DaemonKind {
    Rtpbolt,
    Rtpengine,
}

/// A running daemon, killed (by its PID) when dropped.
pub struct Daemon {
    pub kind: DaemonKind,
    pub child: Child,
    /// Where its ng control socket listens.
    pub ng: SocketAddr,
    pub port_min: u16,
    pub port_max: u16,
    pub log_path: PathBuf,
    /// How it was started, for [`Daemon::restart`].
    program: PathBuf,
    args: Vec<String>,
    placement: Placement,
    _ports: PortBlock,
}

/// Where a daemon and its ng clients run: by default both here, ng on 127.0.0.1.
#[derive(Clone, Debug, Default)]
pub struct Placement {
    /// Run the daemon inside this network namespace (`ip netns exec`, which execs the
    /// daemon, so the child's PID is the daemon's).
    pub netns: Option<String>,
    /// ng listens on this address instead of 127.0.0.1.
    pub ng_ip: Option<IpAddr>,
    /// ng clients are made inside this network namespace.
    pub client_netns: Option<String>,
}

/// A reserved block of ports: one ng port, one spare (TCP ng), and a media
/// range. Reserved machine-wide by an exclusive lock on a file, so test
/// binaries running side by side (and helpers on the same machine) never pick
/// the same block; the lock goes with the value.
pub struct PortBlock {
    pub ng: u16,
    pub port_min: u16,
    pub port_max: u16,
    _lock: std::fs::File,
}

const MEDIA_PORTS: u32 = 400;
const BLOCKS: u32 = 90; // 90 * 400 = 36000 ports: 22000..58000

static NEXT_BLOCK: AtomicU32 = AtomicU32::new(0);

/// Reserves a free block (see [`PortBlock`]).
pub fn reserve_ports() -> PortBlock {
    let dir = std::env::temp_dir().join("rtpbolt-test-ports");
    let _ = std::fs::create_dir_all(&dir);
    let start = std::process::id().wrapping_mul(7) + NEXT_BLOCK.fetch_add(1, Ordering::Relaxed);
    for i in 0..BLOCKS * 4 {
        let block = (start + i) % BLOCKS;
        let Ok(file) = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(dir.join(format!("{block}.lock")))
        else {
            continue;
        };
        if file.try_lock().is_err() {
            continue;
        }
        let base = 22000 + block * MEDIA_PORTS;
        // Something outside the tests may hold the ng port.
        if UdpSocket::bind(("127.0.0.1", base as u16)).is_err() {
            continue;
        }
        return PortBlock {
            ng: base as u16,
            port_min: (base + 2) as u16,
            port_max: (base + MEDIA_PORTS - 1) as u16,
            _lock: file,
        };
    }
    panic!("no free port block for a test daemon");
}

/// `(ng, port_min, port_max)` of a block reserved for the life of the test
/// process (kept for tests that only need numbers).
pub fn port_block() -> (u16, u16, u16) {
    let b = reserve_ports();
    let t = (b.ng, b.port_min, b.port_max);
    std::mem::forget(b);
    t
}

/// The workspace's `target/` directory.
pub fn target_dir() -> PathBuf {
    if let Ok(dir) = std::env::var("CARGO_TARGET_DIR") {
        return PathBuf::from(dir);
    }
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join("target")
}

/// Path of the rtpbolt binary: `$RTPBOLT_BIN`, or the workspace's build (built on
/// demand, so `cargo test -p rtpbolt-tests` alone works).
pub fn rtpbolt_bin() -> PathBuf {
    static BUILD: std::sync::Once = std::sync::Once::new();
    // With this crate's `af-xdp` feature the AF_XDP tests run, and need it in the daemon.
    let features: &[&str] = if cfg!(feature = "af-xdp") {
        &["dataplane/af-xdp"]
    } else {
        &[]
    };
    workspace_bin("RTPBOLT_BIN", "controlplane", "rtpbolt", features, &BUILD)
}

/// `$ENV_VAR` if set, else binary `bin` of workspace package `package` built
/// (once per process, guarded by `once`) in this test build's profile with
/// `features`.
pub fn workspace_bin(
    env_var: &str,
    package: &str,
    bin: &str,
    features: &[&str],
    once: &'static std::sync::Once,
) -> PathBuf {
    if let Ok(p) = std::env::var(env_var) {
        return PathBuf::from(p);
    }
    let profile = if cfg!(debug_assertions) {
        "debug"
    } else {
        "release"
    };
    once.call_once(|| {
        let mut cmd = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
        cmd.args(["build", "-q", "-p", package, "--bin", bin]);
        if !features.is_empty() {
            cmd.args(["--features", &features.join(",")]);
        }
        if profile == "release" {
            cmd.arg("--release");
        }
        let status = cmd
            .current_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/.."))
            .status()
            .unwrap_or_else(|e| panic!("run cargo build for {bin}: {e}"));
        assert!(status.success(), "building {bin} failed");
    });
    target_dir().join(profile).join(bin)
}

/// Whether Debian's rtpengine is installed (the oracle for differential tests).
pub fn rtpengine_available() -> bool {
    std::path::Path::new("/usr/bin/rtpengine").exists()
}

impl Daemon {
    /// Starts `kind` listening for ng on `127.0.0.1:<port>` with media on
    /// `interfaces` (e.g. `["127.0.0.1"]`), plus `extra` options. Waits until it
    /// answers `ping`.
    pub fn start(kind: DaemonKind, interfaces: &[&str], extra: &[&str]) -> Daemon {
        Daemon::start_placed(kind, interfaces, extra, Placement::default())
    }

    /// [`start`](Self::start) at `placement` (e.g. inside a network namespace, with ng
    /// on an address there and the clients in another namespace).
    pub fn start_placed(
        kind: DaemonKind,
        interfaces: &[&str],
        extra: &[&str],
        placement: Placement,
    ) -> Daemon {
        let ports = reserve_ports();
        let (ng_port, port_min, port_max) = (ports.ng, ports.port_min, ports.port_max);
        let ng = SocketAddr::new(
            placement.ng_ip.unwrap_or(IpAddr::V4(Ipv4Addr::LOCALHOST)),
            ng_port,
        );
        let log_path = std::env::temp_dir().join(format!(
            "rtpbolt-test-{:?}-{}-{}.log",
            kind,
            std::process::id(),
            ng_port
        ));
        let mut args: Vec<String> = vec![
            "--config-file=none".into(),
            "--table=-1".into(),
            "--foreground".into(),
            "--log-stderr".into(),
            "--log-level=6".into(),
            format!("--listen-ng={ng}"),
            format!("--port-min={port_min}"),
            format!("--port-max={port_max}"),
        ];
        for i in interfaces {
            args.push(format!("--interface={i}"));
        }
        args.extend(extra.iter().map(|s| s.to_string()));
        let program = match kind {
            DaemonKind::Rtpbolt => rtpbolt_bin(),
            DaemonKind::Rtpengine => PathBuf::from("/usr/bin/rtpengine"),
        };
        std::fs::File::create(&log_path).expect("create daemon log");
        let child = spawn(&program, &args, &log_path, placement.netns.as_deref());
        let mut daemon = Daemon {
            kind,
            child,
            ng,
            port_min,
            port_max,
            log_path,
            program,
            args,
            placement,
            _ports: ports,
        };
        daemon.wait_ready();
        daemon
    }

    /// SIGKILL, as a crash would end it: no destructor, no signal handler runs.
    pub fn kill_9(&mut self) -> std::process::ExitStatus {
        // `Child::kill` sends SIGKILL to this child's PID only.
        self.child.kill().expect("SIGKILL the daemon");
        self.child.wait().expect("wait for daemon")
    }

    /// Starts the same command line again (after [`kill_9`](Self::kill_9) or
    /// [`terminate`](Self::terminate)), on the same ports, appending to the same log;
    /// waits until it answers `ping`.
    pub fn restart(&mut self) {
        assert!(!self.is_running(), "restart of a running daemon");
        self.child = spawn(
            &self.program,
            &self.args,
            &self.log_path,
            self.placement.netns.as_deref(),
        );
        self.wait_ready();
    }

    fn wait_ready(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(10);
        let client = self.client();
        while Instant::now() < deadline {
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!(
                    "{:?} exited during startup with {status}; log:\n{}",
                    self.kind,
                    self.log()
                );
            }
            if let Ok(reply) = client.request_timeout(
                &dict([("command", "ping".into())]),
                Duration::from_millis(200),
            ) {
                if reply.get_str("result") == Some("pong") {
                    return;
                }
            }
        }
        panic!("{:?} did not answer ping; log:\n{}", self.kind, self.log());
    }

    /// A fresh ng client bound to an ephemeral port (loopback for a loopback ng
    /// address), inside the placement's client namespace if it has one.
    pub fn client(&self) -> NgClient {
        let ng = self.ng;
        match &self.placement.client_netns {
            None => NgClient::new(ng),
            Some(ns) => crate::netns::run_in(ns, move || NgClient::new(ng))
                .unwrap_or_else(|e| panic!("ng client inside namespace {ns}: {e}")),
        }
    }

    /// The daemon's log so far (for failure messages).
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log_path).unwrap_or_default()
    }

    /// Sends SIGTERM and waits for the exit status.
    pub fn terminate(&mut self) -> std::process::ExitStatus {
        // Only the PID of a child we spawned and have not reaped yet.
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        self.child.wait().expect("wait for daemon")
    }

    /// Whether the process is still running.
    pub fn is_running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        if self.is_running() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
        if !std::thread::panicking() {
            let _ = std::fs::remove_file(&self.log_path);
        }
    }
}

fn spawn(
    program: &std::path::Path,
    args: &[String],
    log_path: &std::path::Path,
    netns: Option<&str>,
) -> Child {
    let log = std::fs::OpenOptions::new()
        .append(true)
        .open(log_path)
        .expect("open daemon log");
    let mut cmd = match netns {
        None => Command::new(program),
        Some(ns) => {
            let mut c = Command::new("ip");
            c.args(["netns", "exec", ns]).arg(program);
            c
        }
    };
    cmd.args(args)
        .stdin(Stdio::null())
        .stdout(log.try_clone().expect("dup log"))
        .stderr(log)
        .spawn()
        .unwrap_or_else(|e| panic!("start {}: {e}", program.display()))
}

/// A UDP socket on loopback standing in for a SIP phone's media port.
pub fn bind_udp(ip: &str) -> UdpSocket {
    let sock = UdpSocket::bind(format!("{ip}:0").replace("::1:0", "[::1]:0")).expect("bind udp");
    sock.set_read_timeout(Some(Duration::from_millis(500)))
        .expect("set timeout");
    sock
}

/// A flow table file in /dev/shm for `--flow-table`, removed when the test
/// ends however it ends.
pub struct TableFile(pub PathBuf);

impl TableFile {
    /// A fresh path named after `what`, this process and the time.
    pub fn new(what: &str) -> TableFile {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0);
        TableFile(PathBuf::from(format!(
            "/dev/shm/rtpbolt-test-{what}-{}-{nanos}",
            std::process::id()
        )))
    }
}

impl Drop for TableFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}
