//! `rtpbolt-dataplane` on DPDK `net_tap` vdevs (needs root, DPDK's run-time libraries,
//! `ip` and python3; skipped without them unless `CI` or `RTPBOLT_REQUIRE_DPDK` is set,
//! where they fail instead).
//!
//! Topology per test (`n` makes names and the subnet unique, so tests run in parallel):
//!
//! ```text
//!  netns rtpbolt-dpdk-<pid>-<n>            root namespace
//!  ┌───────────────────────────┐           ┌──────────────────────────────────────┐
//!  │ rbw<n> 10.77.<n>.2, .3    │ ◄──TAP──► │ rtpbolt-dataplane  port 0 (net_tap0) │
//!  │ (phones A and B, raw      │           │   worker ─ miss/ARP/ICMP ─► rbx<n>   │
//!  │  frames)                  │           │ rbx<n> 10.77.<n>.1 (exception TAP):  │
//!  └───────────────────────────┘           │   kernel ARP/ping, test's UDP socket │
//!                                          └──────────────────────────────────────┘
//! ```
//!
//! The test plays the control plane: it creates the flow table and writes entries.

use std::fs;
use std::io::Read;
use std::net::{SocketAddr, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use rtpbolt_tests::dpdk::{cpus, eal_memory_args, prerequisites};
use serde_json::Value;
use shared_tables::{FlowAction, FlowKey, FlowTable, SrcMismatch, TableWriter};

const BIN: &str = env!("CARGO_BIN_EXE_rtpbolt-dataplane");

/// The namespace side's MAC: not the dataplane port's, as on a real wire.
const PEER_MAC: &str = "02:77:00:00:00:02";

static NEXT: AtomicU32 = AtomicU32::new(0);

fn run(cmd: &[&str]) -> Output {
    let out = Command::new(cmd[0])
        .args(&cmd[1..])
        .output()
        .unwrap_or_else(|e| panic!("{cmd:?}: {e}"));
    out
}

fn must(cmd: &[&str]) -> String {
    let out = run(cmd);
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn wait_for(what: &str, timeout: Duration, mut ok: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        if ok() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    eprintln!("timed out waiting for {what}");
    false
}

struct Topology {
    n: u32,
    ns: String,
    wire: String,
    exc: String,
    dir: PathBuf,
    table_path: PathBuf,
    stats: PathBuf,
    log: PathBuf,
    /// `--workers` value.
    workers: String,
    child: Option<Child>,
}

impl Topology {
    /// Names and paths for one test; starts nothing yet.
    fn new() -> Topology {
        let n = NEXT.fetch_add(1, Ordering::Relaxed) + std::process::id() % 50 * 4;
        let n = n % 200 + 10;
        let tag = format!("{}-{n}", std::process::id());
        let dir = std::env::temp_dir().join(format!("rtpbolt-dpdk-{tag}"));
        fs::create_dir_all(&dir).unwrap();
        Topology {
            n,
            ns: format!("rtpbolt-dpdk-{tag}"),
            wire: format!("rbw{n}"),
            exc: format!("rbx{n}"),
            table_path: PathBuf::from(format!("/dev/shm/rtpbolt-dpdk-test-{tag}")),
            stats: dir.join("stats.json"),
            log: dir.join("dataplane.log"),
            dir,
            workers: worker_core().to_string(),
            child: None,
        }
    }

    fn ip(&self, host: u8) -> String {
        format!("10.77.{}.{host}", self.n)
    }

    /// The IPv6 twin of [`ip`](Self::ip).
    fn ip6(&self, host: u8) -> String {
        format!("fd77:{}::{host}", self.n)
    }

    fn addr6(&self, host: u8, port: u16) -> SocketAddr {
        format!("[{}]:{port}", self.ip6(host)).parse().unwrap()
    }

    fn addr(&self, host: u8, port: u16) -> SocketAddr {
        format!("{}:{port}", self.ip(host)).parse().unwrap()
    }

    fn create_table(&self) -> FlowTable {
        FlowTable::create_at(&self.table_path, 1024).unwrap()
    }

    /// Starts `rtpbolt-dataplane` (the table may not exist yet).
    fn spawn(&mut self) {
        let mut cmd = Command::new(BIN);
        cmd.arg("--flow-table")
            .arg(&self.table_path)
            .args(["--exception-iface", &self.exc])
            .arg("--stats-file")
            .arg(&self.stats)
            .args(["--workers", &self.workers])
            .arg("--")
            .args(["--no-pci", "-l", &main_core().to_string()])
            .arg(format!("--vdev=net_tap0,iface={}", self.wire))
            .arg(format!(
                "--file-prefix=rtpbolt-test-{}-{}",
                std::process::id(),
                self.n
            ))
            .args(eal_memory_args())
            .stdin(Stdio::null())
            .stdout(fs::File::create(self.dir.join("stdout.log")).unwrap())
            .stderr(fs::File::create(&self.log).unwrap());
        self.child = Some(cmd.spawn().expect("starting rtpbolt-dataplane"));
    }

    fn log(&self) -> String {
        let mut s = String::new();
        let _ = fs::File::open(&self.log).and_then(|mut f| f.read_to_string(&mut s));
        s
    }

    fn running(&mut self) -> bool {
        self.child
            .as_mut()
            .is_some_and(|c| matches!(c.try_wait(), Ok(None)))
    }

    /// Waits until the dataplane runs (stats file written) and wires up both namespaces.
    fn wire_up(&mut self) {
        let iface = |name: &str| Path::new("/sys/class/net").join(name).exists();
        let up = wait_for("the dataplane to start", Duration::from_secs(30), || {
            self.stats.exists() || !self.running()
        });
        assert!(
            up && self.running() && iface(&self.wire) && iface(&self.exc),
            "dataplane did not come up; log:\n{}",
            self.log()
        );
        must(&["ip", "netns", "add", &self.ns]);
        let ns = |args: &[&str]| {
            let mut cmd = vec!["ip", "netns", "exec", &self.ns];
            cmd.extend_from_slice(args);
            must(&cmd);
        };
        // The PMD has configured the wire TAP in our namespace; the test's phones live
        // on its kernel side, moved into their own namespace as if behind a cable.
        must(&["ip", "link", "set", &self.wire, "netns", &self.ns]);
        ns(&["ip", "link", "set", "lo", "up"]);
        ns(&["ip", "link", "set", &self.wire, "address", PEER_MAC]);
        ns(&[
            "ip",
            "addr",
            "add",
            &format!("{}/24", self.ip(2)),
            "dev",
            &self.wire,
        ]);
        ns(&[
            "ip",
            "addr",
            "add",
            &format!("{}/24", self.ip(3)),
            "dev",
            &self.wire,
        ]);
        for host in [2, 3] {
            let a = format!("{}/64", self.ip6(host));
            ns(&["ip", "-6", "addr", "add", &a, "dev", &self.wire, "nodad"]);
        }
        ns(&["ip", "link", "set", &self.wire, "up"]);
        must(&[
            "ip",
            "addr",
            "add",
            &format!("{}/24", self.ip(1)),
            "dev",
            &self.exc,
        ]);
        let a6 = format!("{}/64", self.ip6(1));
        must(&["ip", "-6", "addr", "add", &a6, "dev", &self.exc, "nodad"]);
        must(&["ip", "link", "set", &self.exc, "up"]);
    }

    /// Table, dataplane and namespaces, in the order a deployment brings them up.
    fn up() -> (Topology, FlowTable) {
        let mut t = Topology::new();
        let table = t.create_table();
        t.spawn();
        t.wire_up();
        (t, table)
    }

    /// The exception TAP's MAC, which is the NIC port's.
    fn nic_mac(&self) -> String {
        fs::read_to_string(Path::new("/sys/class/net").join(&self.exc).join("address"))
            .unwrap()
            .trim()
            .to_owned()
    }

    /// Pings us from `src` inside the namespace; the frame function learns the phone's MAC
    /// from the echo request.
    fn ping_from(&self, src: &str) -> Output {
        self.ping(src, &self.ip(1))
    }

    /// Two echo requests from `src` to `dst` inside the namespace, IPv4 or IPv6 by `dst`.
    fn ping(&self, src: &str, dst: &str) -> Output {
        let family = if dst.contains(':') { "-6" } else { "-4" };
        self.ns_cmd(&[
            "ping", family, "-c", "2", "-i", "0.2", "-W", "2", "-I", src, dst,
        ])
    }

    fn ns_cmd(&self, args: &[&str]) -> Output {
        let mut cmd = vec!["ip", "netns", "exec", &self.ns];
        cmd.extend_from_slice(args);
        run(&cmd)
    }

    /// Runs a python3 script inside the namespace.
    fn ns_python(&self, script: &str, args: &[&str]) -> Output {
        let mut cmd = vec!["python3", "-c", script];
        cmd.extend_from_slice(args);
        self.ns_cmd(&cmd)
    }

    fn stats(&self) -> Value {
        let s = fs::read_to_string(&self.stats).unwrap_or_default();
        serde_json::from_str(&s).unwrap_or(Value::Null)
    }

    fn total(&self, counter: &str) -> u64 {
        self.stats()["total"][counter].as_u64().unwrap_or(0)
    }

    /// Waits (the file is rewritten once a second) until `pred` holds on the totals.
    fn wait_stats(&self, what: &str, pred: impl Fn(&Value) -> bool) {
        let ok = wait_for(what, Duration::from_secs(5), || {
            pred(&self.stats()["total"])
        });
        assert!(ok, "{what}: stats {}\nlog:\n{}", self.stats(), self.log());
    }

    /// SIGTERM; the data plane must exit 0 within 10 s.
    fn stop_ok(&mut self) {
        let st = self.stop().expect("exits within 10 s of SIGTERM");
        assert!(st.success(), "exit status {st}; log:\n{}", self.log());
    }

    /// SIGTERM, and the exit status within 10 s.
    fn stop(&mut self) -> Option<ExitStatus> {
        let mut child = self.child.take()?;
        let _ = run(&["kill", "-TERM", &child.id().to_string()]);
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Ok(Some(st)) = child.try_wait() {
                return Some(st);
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = child.kill();
        let _ = child.wait();
        None
    }
}

impl Drop for Topology {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
        let _ = run(&["ip", "netns", "del", &self.ns]);
        let _ = fs::remove_file(&self.table_path);
        if std::env::var_os("RTPBOLT_KEEP_TEST_DIR").is_none() {
            let _ = fs::remove_dir_all(&self.dir);
        }
    }
}

fn main_core() -> usize {
    cpus()[0]
}

fn worker_core() -> usize {
    *cpus().last().unwrap()
}

/// Sends `count` UDP datagrams `payload-<i>` from `src` to `dst`, then waits up to
/// `wait` s for replies and prints each as `<from-ip> <from-port> <payload>`.
const UDP_PEER: &str = include_str!("dpdk_scripts/udp_peer.py");

#[test]
fn exception_path_carries_arp_ping_and_table_misses() {
    if !prerequisites() {
        return;
    }
    let mut t = Topology::new();
    // Started before the table exists: it must wait for it, then come up.
    t.spawn();
    std::thread::sleep(Duration::from_millis(500));
    assert!(t.running(), "exited without a table; log:\n{}", t.log());
    assert!(
        !Path::new("/sys/class/net").join(&t.exc).exists(),
        "created the exception TAP before attaching the table"
    );
    let _table = t.create_table();
    t.wire_up();

    // ARP and ICMP from the wire reach the kernel through the exception TAP, and its
    // answers go back out through the NIC.
    let ping = t.ns_cmd(&["ping", "-c", "3", "-i", "0.2", "-W", "2", &t.ip(1)]);
    assert!(
        ping.status.success(),
        "ping through the exception path failed: {}\nstats {}\nlog:\n{}",
        String::from_utf8_lossy(&ping.stdout),
        t.stats(),
        t.log()
    );
    let nic_mac = t.nic_mac();
    let neigh =
        String::from_utf8_lossy(&t.ns_cmd(&["ip", "neigh", "show", &t.ip(1)]).stdout).into_owned();
    assert!(
        neigh.contains(&nic_mac),
        "ARP for {} should resolve to the exception TAP's (= NIC's) MAC {nic_mac}: {neigh}",
        t.ip(1)
    );

    // A datagram to a port with no table entry reaches the root namespace's socket, and
    // the reply finds its way back to the phone.
    let sock = UdpSocket::bind(t.addr(1, 20000)).unwrap();
    sock.set_read_timeout(Some(Duration::from_secs(3))).unwrap();
    let a = t.addr(2, 21000);
    let replier = std::thread::spawn(move || {
        let mut got = Vec::new();
        let mut buf = [0u8; 2048];
        while let Ok((n, from)) = sock.recv_from(&mut buf) {
            got.push((from, buf[..n].to_vec()));
            let _ = sock.send_to(b"reply", from);
            if got.len() == 5 {
                break;
            }
        }
        got
    });
    let out = t.ns_python(
        UDP_PEER,
        &[&a.to_string(), &t.addr(1, 20000).to_string(), "5", "2"],
    );
    let got = replier.join().unwrap();
    assert_eq!(got.len(), 5, "misses that reached the kernel socket");
    for (i, (from, data)) in got.iter().enumerate() {
        assert_eq!(*from, a);
        assert_eq!(data, format!("payload-{i}").as_bytes());
    }
    let replies = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        replies
            .lines()
            .filter(|l| *l == format!("{} 20000 reply", t.ip(1)))
            .count(),
        5,
        "replies from the kernel socket back through the NIC: {replies:?} {}",
        String::from_utf8_lossy(&out.stderr)
    );

    t.wait_stats("exception counters", |s| {
        s["to_kernel"].as_u64() >= Some(10) && s["from_kernel"].as_u64() >= Some(10)
    });
    assert_eq!(t.total("forwarded"), 0, "nothing is in the table");

    t.stop_ok();
    assert!(
        !Path::new("/sys/class/net").join(&t.exc).exists(),
        "the exception TAP is removed on exit"
    );
}

/// Phone B listens on argv[2]; phone A sends `count` RTP packets (seq 0.., 160 bytes of
/// payload) from argv[1] to argv[3]; B prints `<from-ip> <from-port> <hex>` per packet
/// received within 2 s of the last.
const RTP_A_TO_B: &str = include_str!("dpdk_scripts/rtp_a_to_b.py");

fn rtp_packet(seq: u16) -> Vec<u8> {
    let mut p = vec![0x80, 0];
    p.extend_from_slice(&seq.to_be_bytes());
    p.extend_from_slice(&(u32::from(seq) * 160).to_be_bytes());
    p.extend_from_slice(&0x5eed_u32.to_be_bytes());
    p.extend(std::iter::repeat_n(seq as u8, 160));
    p
}

/// Runs [`RTP_A_TO_B`] and returns what B received: (source, payload) in arrival order.
fn rtp_a_to_b(
    t: &Topology,
    a: SocketAddr,
    b: SocketAddr,
    relay: SocketAddr,
    count: u16,
) -> Vec<(SocketAddr, Vec<u8>)> {
    let out = t.ns_python(
        RTP_A_TO_B,
        &[
            &a.to_string(),
            &b.to_string(),
            &relay.to_string(),
            &count.to_string(),
        ],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| {
            let mut w = l.split(' ');
            let ip: std::net::IpAddr = w.next().unwrap().parse().unwrap();
            let port: u16 = w.next().unwrap().parse().unwrap();
            let hex = w.next().unwrap_or("");
            let bytes = (0..hex.len() / 2)
                .map(|i| u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).unwrap())
                .collect();
            (SocketAddr::new(ip, port), bytes)
        })
        .collect()
}

/// Nothing queued on `sock` (it is non-blocking).
fn assert_nothing_received(sock: &UdpSocket, what: &str) {
    let mut buf = [0u8; 2048];
    match sock.recv_from(&mut buf) {
        Ok((n, from)) => panic!("{what}: the kernel socket got {n} bytes from {from}"),
        Err(e) => assert_eq!(e.kind(), std::io::ErrorKind::WouldBlock, "{what}: {e}"),
    }
}

/// One call leg through the relay: A sends to our `relay` port, we forward to B from
/// `relay_out`.
#[derive(Clone, Copy)]
struct Leg {
    relay: SocketAddr,
    relay_out: SocketAddr,
    a: SocketAddr,
    b: SocketAddr,
}

impl Leg {
    fn new(t: &Topology) -> Leg {
        Leg {
            relay: t.addr(1, 30000),
            relay_out: t.addr(1, 30002),
            a: t.addr(2, 40000),
            b: t.addr(3, 40002),
        }
    }

    fn new6(t: &Topology) -> Leg {
        Leg {
            relay: t.addr6(1, 30000),
            relay_out: t.addr6(1, 30002),
            a: t.addr6(2, 40000),
            b: t.addr6(3, 40002),
        }
    }

    fn action(&self, expected_src: Option<SocketAddr>) -> FlowAction {
        FlowAction {
            dst: self.b,
            src: self.relay_out,
            expected_src,
            src_mismatch: SrcMismatch::Drop,
            tos: 0,
            flags: 0,
            stream_id: 7,
        }
    }
}

#[test]
fn table_hits_are_forwarded_by_the_dataplane_not_the_kernel() {
    if !prerequisites() {
        return;
    }
    let (mut t, table) = Topology::up();
    let mut w = table.writer().unwrap();
    let Leg {
        relay,
        relay_out,
        a,
        b,
    } = Leg::new(&t);

    // The control plane's sockets on the relay ports, as it would bind them on the
    // exception interface: they must see none of the media the data plane forwards.
    let kernel_relay = UdpSocket::bind(relay).unwrap();
    kernel_relay.set_nonblocking(true).unwrap();
    let kernel_out = UdpSocket::bind(relay_out).unwrap();
    kernel_out.set_nonblocking(true).unwrap();

    // B's MAC is learned from its traffic to us (A's from its first packet).
    let ping = t.ping_from(&t.ip(3));
    assert!(ping.status.success(), "ping from B; log:\n{}", t.log());

    let key = FlowKey::new(relay);
    w.upsert(key, &Leg::new(&t).action(Some(a))).unwrap();

    let got = rtp_a_to_b(&t, a, b, relay, 100);
    assert_eq!(
        got.len(),
        100,
        "RTP at B; stats {}\nlog:\n{}",
        t.stats(),
        t.log()
    );
    for (i, (from, data)) in got.iter().enumerate() {
        assert_eq!(
            *from, relay_out,
            "packet {i} comes from the relay's other port"
        );
        assert_eq!(*data, rtp_packet(i as u16), "packet {i} payload");
    }
    t.wait_stats("100 forwarded", |s| s["forwarded"].as_u64() >= Some(100));
    assert_eq!(t.stats()["total"]["frame"]["forwarded"].as_u64(), Some(100));
    assert_eq!(w.counters(&key).unwrap().packets, 100, "per-entry counters");
    assert_nothing_received(&kernel_relay, "relay port");
    assert_nothing_received(&kernel_out, "relay's sending port");

    // Strict source: a stranger's packets to the relay port are dropped, not forwarded.
    let got = rtp_a_to_b(&t, t.addr(3, 41000), b, relay, 5);
    assert!(got.is_empty(), "forwarded from a stranger: {got:?}");
    t.wait_stats("source-mismatch drops", |s| {
        s["dropped_source_mismatch"].as_u64() == Some(5)
    });
    assert_nothing_received(&kernel_relay, "relay port after mismatching packets");

    // The control plane dies: its table handle goes, the file too. The data plane's
    // mapping stays valid and established media keeps flowing.
    drop(w);
    drop(table);
    let _ = fs::remove_file(&t.table_path);
    let got = rtp_a_to_b(&t, a, b, relay, 50);
    assert_eq!(got.len(), 50, "RTP at B without a control plane");
    assert!(got.iter().all(|(from, _)| *from == relay_out));
    t.wait_stats("150 forwarded", |s| s["forwarded"].as_u64() >= Some(150));
    assert_nothing_received(&kernel_relay, "relay port without a control plane");

    t.stop_ok();
}

/// Sends hand-made broken Ethernet frames out of argv[1] to MAC argv[2] through a packet
/// socket: argv[3] is our IPv4 address, argv[4] the peer's, argv[5] a relay port with a
/// table entry. Prints how many the kernel accepted.
const BAD_FRAMES: &str = include_str!("dpdk_scripts/bad_frames.py");

#[test]
fn malformed_frames_do_not_stop_a_worker() {
    if !prerequisites() {
        return;
    }
    let (mut t, table) = Topology::up();
    let mut w = table.writer().unwrap();
    let leg = Leg::new(&t);
    assert!(t.ping_from(&t.ip(3)).status.success(), "log:\n{}", t.log());
    w.upsert(FlowKey::new(leg.relay), &leg.action(None))
        .unwrap();
    let rx_before = t.total("rx");

    let out = t.ns_python(
        BAD_FRAMES,
        &[&t.wire, &t.nic_mac(), &t.ip(1), &t.ip(2), "30000"],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let sent: u64 = String::from_utf8_lossy(&out.stdout).trim().parse().unwrap();
    assert!(sent >= 300, "the kernel took only {sent} frames");

    // Every frame was received and given a verdict; the worker is still there and still
    // forwards and answers.
    t.wait_stats("the bad frames received", |s| {
        s["rx"].as_u64() >= Some(rx_before + sent)
    });
    assert!(t.running(), "dataplane died; log:\n{}", t.log());
    let total = &t.stats()["total"];
    assert!(total["dropped_malformed"].as_u64() >= Some(15), "{total}");
    assert!(
        total["frame"]["checksum_errors"].as_u64() >= Some(2),
        "{total}"
    );
    assert_eq!(total["forwarded"].as_u64(), Some(0), "{total}");
    let got = rtp_a_to_b(&t, leg.a, leg.b, leg.relay, 20);
    assert_eq!(
        got.len(),
        20,
        "forwarding after bad input; log:\n{}",
        t.log()
    );
    assert!(
        t.ping_from(&t.ip(2)).status.success(),
        "exception path after bad input"
    );
    t.stop_ok();
}

/// `legs` call legs at once, phone A sends `count` RTP packets from a:(42000+i) to the
/// relay's port 31000+2i; phone B listens on b:(41000+i). Prints per leg `<i> <packets>
/// <sources>` with the distinct source addresses B saw.
const RTP_LEGS: &str = include_str!("dpdk_scripts/rtp_legs.py");

/// A topology with two workers (on the first and last CPU), its table and writer.
fn two_workers() -> (Topology, FlowTable) {
    let cores = cpus();
    assert!(
        cores.len() >= 2,
        "two workers need two CPUs, have {cores:?}"
    );
    let mut t = Topology::new();
    t.workers = format!("{},{}", cores[0], cores[cores.len() - 1]);
    let table = t.create_table();
    t.spawn();
    t.wire_up();
    (t, table)
}

/// Table entries for [`RTP_LEGS`]' `legs` legs from A (.2) to phone `.b`.
fn install_legs(t: &Topology, w: &mut TableWriter, b: u8, legs: u16) {
    for i in 0..legs {
        let action = FlowAction {
            dst: t.addr(b, 41000 + i),
            src: t.addr(1, 31001 + 2 * i),
            ..Leg::new(t).action(Some(t.addr(2, 42000 + i)))
        };
        w.upsert(FlowKey::new(t.addr(1, 31000 + 2 * i)), &action)
            .unwrap();
    }
}

/// Runs [`RTP_LEGS`] to phone `.b`: every leg must get all `count` packets, from the
/// relay's port for that leg, and both workers must have forwarded some.
fn check_legs(t: &Topology, b: u8, legs: u16, count: u16) {
    let args = [
        t.ip(2),
        t.ip(b),
        t.ip(1),
        legs.to_string(),
        count.to_string(),
    ];
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let out = t.ns_python(RTP_LEGS, &args);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report = String::from_utf8_lossy(&out.stdout).into_owned();
    assert_eq!(report.lines().count(), usize::from(legs), "{report}");
    for (i, line) in report.lines().enumerate() {
        let expected_src = t.addr(1, 31001 + 2 * i as u16);
        assert_eq!(
            line,
            format!("{i} {count} {expected_src}"),
            "leg {i}: all packets from the relay's port; report:\n{report}\nstats {}",
            t.stats()
        );
    }
    t.wait_stats("all forwarded", |s| {
        s["frame"]["forwarded"].as_u64() >= Some(u64::from(legs * count))
    });
    let stats = t.stats();
    let per_worker: Vec<u64> = (0..2)
        .map(|q| stats["workers"][q]["forwarded"].as_u64().unwrap_or(0))
        .collect();
    assert!(
        per_worker.iter().all(|&n| n > 0),
        "both queues carry media: {per_worker:?}\n{stats}"
    );
}

#[test]
fn workers_share_the_load_over_queues() {
    if !prerequisites() {
        return;
    }
    let (mut t, table) = two_workers();
    let mut w = table.writer().unwrap();
    install_legs(&t, &mut w, 4, 16);
    // Phone B (.4) never sends: no worker can learn its MAC from a frame. The kernel
    // knows it (as after resolving it for the control plane); the data plane hands the
    // kernel's ARP cache to every worker within a second.
    t.ns_cmd(&[
        "ip",
        "addr",
        "add",
        &format!("{}/24", t.ip(4)),
        "dev",
        &t.wire,
    ]);
    let b = t.ip(4);
    must(&[
        "ip",
        "neigh",
        "replace",
        &b,
        "lladdr",
        PEER_MAC,
        "dev",
        &t.exc,
        "nud",
        "permanent",
    ]);
    std::thread::sleep(Duration::from_millis(1500));
    check_legs(&t, 4, 16, 20);
    t.stop_ok();
}

#[test]
fn workers_pass_learned_neighbours_to_each_other() {
    if !prerequisites() {
        return;
    }
    let (mut t, table) = two_workers();
    let mut w = table.writer().unwrap();
    // B (.5) knows our MAC without asking, so the kernel never hears of B: only the
    // worker whose queue B's own flow lands on can learn B's MAC, from that flow.
    t.ns_cmd(&[
        "ip",
        "addr",
        "add",
        &format!("{}/24", t.ip(5)),
        "dev",
        &t.wire,
    ]);
    let (us, nic_mac) = (t.ip(1), t.nic_mac());
    let static_arp = [
        "ip",
        "neigh",
        "replace",
        &us,
        "lladdr",
        &nic_mac,
        "dev",
        &t.wire,
        "nud",
        "permanent",
    ];
    assert!(t.ns_cmd(&static_arp).status.success());
    install_legs(&t, &mut w, 5, 16);
    // B's flow comes back to B itself: its first frame teaches its worker B's MAC (A,
    // which never sent anything either, would be unknown to every worker).
    let (b_out, b_in, back) = (t.addr(5, 44000), t.addr(5, 43000), t.addr(1, 32000));
    let back_action = FlowAction {
        dst: b_in,
        src: t.addr(1, 32001),
        ..Leg::new(&t).action(None)
    };
    w.upsert(FlowKey::new(back), &back_action).unwrap();
    let got = rtp_a_to_b(&t, b_out, b_in, back, 5);
    assert_eq!(got.len(), 5, "B's own flow; stats {}", t.stats());

    // A's legs to B spread over both queues; the worker that has not seen B gets B's
    // MAC from the one that has.
    check_legs(&t, 5, 16, 20);
    let neigh =
        String::from_utf8_lossy(&run(&["ip", "neigh", "show", &t.ip(5)]).stdout).into_owned();
    assert!(
        !neigh.contains("lladdr"),
        "the kernel learned B after all, so this proved nothing: {neigh}"
    );
    t.stop_ok();
}

#[test]
fn ipv6_neighbour_discovery_and_media() {
    if !prerequisites() {
        return;
    }
    let (mut t, table) = Topology::up();
    let mut w = table.writer().unwrap();

    // Neighbour discovery (multicast solicitation, unicast advertisement) and ICMPv6 echo
    // cross the exception path both ways; B's echo requests teach the worker B's MAC.
    let ping = t.ping(&t.ip6(3), &t.ip6(1));
    assert!(
        ping.status.success(),
        "ping6 through the exception path: {}\nstats {}\nlog:\n{}",
        String::from_utf8_lossy(&ping.stdout),
        t.stats(),
        t.log()
    );

    let leg = Leg::new6(&t);
    let Leg {
        relay,
        relay_out,
        a,
        b,
    } = leg;
    let kernel_relay = UdpSocket::bind(relay).unwrap();
    kernel_relay.set_nonblocking(true).unwrap();
    w.upsert(FlowKey::new(relay), &leg.action(Some(a))).unwrap();
    let got = rtp_a_to_b(&t, a, b, relay, 50);
    assert_eq!(got.len(), 50, "RTP over IPv6 at B; stats {}", t.stats());
    for (i, (from, data)) in got.iter().enumerate() {
        assert_eq!(*from, relay_out);
        assert_eq!(*data, rtp_packet(i as u16));
    }
    t.wait_stats("50 forwarded", |s| s["forwarded"].as_u64() == Some(50));
    assert_nothing_received(&kernel_relay, "IPv6 relay port");
    t.stop_ok();
}
