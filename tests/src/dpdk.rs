//! The DPDK data plane (`rtpbolt-dataplane`) on a `net_tap` "NIC" for the
//! end-to-end tests that run it together with the real control plane.
//!
//! ```text
//!  netns (phones, sipp)              root namespace
//!  ┌─────────────────────┐           ┌───────────────────────────────────────────┐
//!  │ wire 10.77.N.2, .3  │ ◄──TAP──► │ rtpbolt-dataplane port 0 (net_tap0)        │
//!  └─────────────────────┘           │   hits: rewritten, back out of port 0      │
//!                                    │   rest ─► exception TAP 10.77.N.1 ─► kernel │
//!                                    │ rtpbolt --interface=10.77.N.1, Kamailio    │
//!                                    └───────────────────────────────────────────┘
//! ```
//!
//! The wire TAP's kernel side stands for the cable: it is moved into a network
//! namespace where the phones live. The exception TAP carries the NIC's MAC
//! and the relay's address, so the control plane, Kamailio and the kernel see
//! everything that is not a flow-table hit, as on a DPDK media server.

use std::fs;
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::netns::{ip, NetNs};
use crate::prereq::{env_flag, missing_tool, run_or_skip};

/// Whether the DPDK tests must run here (CI installs DPDK) rather than skip.
pub fn required() -> bool {
    env_flag("CI") || env_flag("RTPBOLT_REQUIRE_DPDK")
}

/// Why this machine cannot run the DPDK end-to-end tests, if it cannot.
pub fn missing_prerequisite() -> Option<String> {
    if !rustix::process::geteuid().is_root() {
        return Some("not root (net_tap and network namespaces need it)".into());
    }
    let pmd = fs::read_dir("/usr/lib/x86_64-linux-gnu/dpdk")
        .into_iter()
        .flatten()
        .flatten()
        .any(|d| d.path().join("librte_net_tap.so").exists());
    if !pmd {
        return Some("DPDK's net_tap driver is missing (apt-get install dpdk)".into());
    }
    if !Path::new("/dev/net/tun").exists() {
        return Some("/dev/net/tun is missing".into());
    }
    missing_tool(&["ip", "python3", "ping"])
}

/// `true` if a DPDK test should run; panics when it must but cannot.
pub fn prerequisites() -> bool {
    run_or_skip("DPDK", missing_prerequisite(), required())
}

/// Path of `rtpbolt-dataplane`: `$RTPBOLT_DATAPLANE_BIN`, or the workspace's
/// build with the `dpdk` feature (built on demand).
pub fn dataplane_bin() -> PathBuf {
    static BUILD: std::sync::Once = std::sync::Once::new();
    crate::daemon::workspace_bin(
        "RTPBOLT_DATAPLANE_BIN",
        "dataplane",
        "rtpbolt-dataplane",
        &["dpdk"],
        &BUILD,
    )
}

/// EAL memory: hugepages when enough 2 MB pages are (or can be made) free,
/// `--in-memory` so a killed run leaves no files; otherwise ordinary memory.
pub fn eal_memory_args() -> Vec<String> {
    const PAGES: u64 = 128;
    let meminfo = |key: &str| {
        fs::read_to_string("/proc/meminfo")
            .unwrap_or_default()
            .lines()
            .find_map(|l| l.strip_prefix(key).map(|v| v.trim().to_string()))
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or(0)
    };
    let mounted = || {
        fs::read_to_string("/proc/mounts")
            .unwrap_or_default()
            .lines()
            .any(|l| l.split_whitespace().nth(2) == Some("hugetlbfs"))
    };
    // Room for two: tests of one binary run two at a time, and one that
    // starts its EAL between the other's check and start must still fit.
    let free = meminfo("HugePages_Free:");
    if free < 2 * PAGES {
        let total = meminfo("HugePages_Total:");
        let _ = fs::write(
            "/proc/sys/vm/nr_hugepages",
            (total + 2 * PAGES - free).to_string(),
        );
    }
    if !mounted() {
        let _ = fs::create_dir_all("/dev/hugepages");
        let _ = Command::new("mount")
            .args(["-t", "hugetlbfs", "nodev", "/dev/hugepages"])
            .status();
    }
    if meminfo("HugePages_Free:") >= PAGES && mounted() {
        vec![format!("-m{}", PAGES * 2), "--in-memory".into()]
    } else {
        vec!["--no-huge".into(), "-m512".into()]
    }
}

/// The CPUs this process may run on.
pub fn cpus() -> Vec<usize> {
    let status = fs::read_to_string("/proc/self/status").unwrap_or_default();
    let list = status
        .lines()
        .find_map(|l| l.strip_prefix("Cpus_allowed_list:"))
        .unwrap_or("0")
        .trim()
        .to_string();
    let mut out = Vec::new();
    for part in list.split(',') {
        match part.split_once('-') {
            Some((a, b)) => {
                if let (Ok(a), Ok(b)) = (a.parse::<usize>(), b.parse::<usize>()) {
                    out.extend(a..=b);
                }
            }
            None => out.extend(part.parse::<usize>().ok()),
        }
    }
    if out.is_empty() {
        out.push(0);
    }
    out
}

static NEXT: AtomicU32 = AtomicU32::new(0);

/// A running `rtpbolt-dataplane` with its wire in a namespace; stopped and
/// cleaned up on drop.
pub struct DpdkRelay {
    /// Third octet of 10.77.N.0/24, unique per relay in this process.
    pub n: u8,
    pub ns: NetNs,
    /// The wire TAP's kernel side (inside [`ns`](Self::ns) once wired).
    pub wire: String,
    /// The kernel interface of the exception TAP (carries [`relay_ip`](Self::relay_ip)).
    pub exception_iface: String,
    /// The flow table the control plane must use (`--flow-table`).
    pub flow_table: PathBuf,
    dir: tempfile::TempDir,
    child: Option<Child>,
}

impl DpdkRelay {
    /// Starts the data plane. It waits for the control plane to create
    /// [`flow_table`](Self::flow_table) before it brings its ports (and the
    /// TAPs) up: start the control plane, then [`wire_up`](Self::wire_up).
    pub fn start(tag: &str) -> DpdkRelay {
        let n = ((std::process::id() % 40) * 5 + NEXT.fetch_add(1, Ordering::Relaxed)) % 200 + 20;
        let n = n as u8;
        let dir = tempfile::Builder::new()
            .prefix(&format!("rtpbolt-dpdk-{tag}-"))
            .tempdir()
            .expect("temp dir");
        let wire = format!("rbw{n}e");
        let exception_iface = format!("rbx{n}e");
        let flow_table = PathBuf::from(format!(
            "/dev/shm/rtpbolt-e2e-{tag}-{}-{n}",
            std::process::id()
        ));
        let _ = fs::remove_file(&flow_table);
        let cpus = cpus();
        let (main, worker) = (cpus[0], cpus[cpus.len() - 1]);
        let log = fs::File::create(dir.path().join("dataplane.log")).expect("log file");
        let child = Command::new(dataplane_bin())
            .arg("--flow-table")
            .arg(&flow_table)
            .args(["--exception-iface", &exception_iface])
            .arg("--stats-file")
            .arg(dir.path().join("stats.json"))
            .args(["--workers", &worker.to_string()])
            .arg("--")
            .args(["--no-pci", "-l", &main.to_string()])
            .arg(format!("--vdev=net_tap0,iface={wire}"))
            .arg(format!(
                "--file-prefix=rtpbolt-e2e-{}-{n}",
                std::process::id()
            ))
            .args(eal_memory_args())
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("log file"))
            .stderr(log)
            .spawn()
            .expect("start rtpbolt-dataplane");
        let ns = NetNs::create(&format!("rtpbolt-e2e-{tag}-{n}")).expect("create netns");
        DpdkRelay {
            n,
            ns,
            wire,
            exception_iface,
            flow_table,
            dir,
            child: Some(child),
        }
    }

    /// Waits for both TAPs (they appear once the data plane has attached to
    /// the table and started its ports) and puts the addresses on them.
    pub fn wire_up(&mut self) {
        let wire = self.wire.clone();
        let wire = wire.as_str();
        let exists = |i: &str| Path::new("/sys/class/net").join(i).exists();
        let deadline = Instant::now() + Duration::from_secs(30);
        while !(exists(wire) && exists(&self.exception_iface)) {
            assert!(
                self.running() && Instant::now() < deadline,
                "rtpbolt-dataplane did not create its TAPs; log:\n{}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        ip(&["link", "set", wire, "netns", self.ns.name()]).expect("move wire into netns");
        let ns = &self.ns;
        ns.ip(&["link", "set", wire, "address", "02:77:00:00:00:02"])
            .expect("wire mac");
        for host in [2, 3] {
            let a = format!("{}/24", self.ip(host));
            ns.ip(&["addr", "add", &a, "dev", wire]).expect("wire addr");
        }
        // A TAP queues what its kernel side sends until the data plane reads
        // it: 1000 frames by default, a tenth of a second of these tests' media.
        // A worker descheduled that long on a busy 2-core machine must not
        // turn into loss, so both TAPs get ten times that.
        ns.ip(&["link", "set", wire, "txqueuelen", "10000"])
            .expect("wire queue");
        ns.ip(&["link", "set", wire, "up"]).expect("wire up");
        let a = format!("{}/24", self.relay_ip());
        ip(&["addr", "add", &a, "dev", &self.exception_iface]).expect("exception addr");
        ip(&["link", "set", &self.exception_iface, "txqueuelen", "10000"])
            .expect("exception queue");
        ip(&["link", "set", &self.exception_iface, "up"]).expect("exception up");
    }

    /// `10.77.N.host`.
    pub fn ip(&self, host: u8) -> Ipv4Addr {
        Ipv4Addr::new(10, 77, self.n, host)
    }

    /// The relay's (NIC's) address, on the exception TAP.
    pub fn relay_ip(&self) -> Ipv4Addr {
        self.ip(1)
    }

    pub fn running(&mut self) -> bool {
        self.child
            .as_mut()
            .is_some_and(|c| matches!(c.try_wait(), Ok(None)))
    }

    pub fn log(&self) -> String {
        fs::read_to_string(self.dir.path().join("dataplane.log")).unwrap_or_default()
    }

    /// The last stats file the data plane wrote (once a second).
    pub fn stats(&self) -> Value {
        fs::read_to_string(self.dir.path().join("stats.json"))
            .ok()
            .and_then(|s| serde_json::from_str(&s).ok())
            .unwrap_or(Value::Null)
    }

    /// One counter summed over workers.
    pub fn total(&self, counter: &str) -> u64 {
        self.stats()["total"][counter].as_u64().unwrap_or(0)
    }

    /// Waits up to `timeout` for `ok` on the totals.
    pub fn wait_total(&self, timeout: Duration, ok: impl Fn(&Value) -> bool) -> bool {
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            if ok(&self.stats()["total"]) {
                return true;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        false
    }
}

impl DpdkRelay {
    /// SIGTERM (it closes its ports; the TAPs go away) and its exit status,
    /// `None` if it had to be killed after 5 s.
    pub fn stop(&mut self) -> Option<std::process::ExitStatus> {
        let mut c = self.child.take()?;
        // Only the PID of the child we spawned.
        let _ = Command::new("kill")
            .args(["-TERM", &c.id().to_string()])
            .status();
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if let Ok(Some(status)) = c.try_wait() {
                return Some(status);
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = c.kill();
        let _ = c.wait();
        None
    }
}

impl Drop for DpdkRelay {
    fn drop(&mut self) {
        self.stop();
        let _ = fs::remove_file(&self.flow_table);
    }
}
