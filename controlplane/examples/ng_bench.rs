//! Side-by-side ng control-plane benchmark: rtpbolt against rtpengine.
//!
//! Starts both daemons on loopback with the same options, then, for each in
//! turn and back to back (the machine is shared, so only figures from the
//! same run compare):
//! - memory: VmRSS at start, with `--hold` calls set up (offer + answer),
//!   and after deleting them all;
//! - throughput: offer + answer + delete transactions per second, each
//!   request waiting for its reply, with 1 and with 4 transactions in flight.
//!
//! ```sh
//! cargo build --release -p controlplane --bin rtpbolt --example ng_bench
//! target/release/examples/ng_bench --secs 5 --rounds 3
//! ```
//!
//! Both daemons run with `--delete-delay=0`: with rtpengine's default 30 s
//! every deleted call keeps its four ports for 30 s, and a throughput run
//! exhausts any port range long before the end.

use std::io::Read;
use std::net::{SocketAddr, UdpSocket};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

struct Daemon {
    name: &'static str,
    child: Child,
    ng: SocketAddr,
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Daemon {
    fn start(
        name: &'static str,
        bin: &str,
        ng_port: u16,
        ports: (u16, u16),
        extra: &[String],
    ) -> Daemon {
        let ng: SocketAddr = format!("127.0.0.1:{ng_port}")
            .parse()
            .expect("literal address");
        let mut cmd = Command::new(bin);
        cmd.args([
            "--config-file=none".to_string(),
            "--table=-1".to_string(),
            "--interface=127.0.0.1".to_string(),
            format!("--listen-ng={ng}"),
            format!("--port-min={}", ports.0),
            format!("--port-max={}", ports.1),
            "--num-threads=2".to_string(),
            "--delete-delay=0".to_string(),
            "--foreground".to_string(),
        ])
        .args(extra)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
        let child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {bin}: {e}"));
        let d = Daemon { name, child, ng };
        let sock = client();
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if let Some(r) = request(&sock, ng, b"ping", &dict(&[("command", s("ping"))])) {
                assert!(contains(&r, b"pong"), "{name}: odd ping reply");
                break;
            }
            assert!(Instant::now() < deadline, "{name} does not answer ping");
        }
        d
    }

    /// The largest mappings by RSS (with `NG_BENCH_SMAPS` set), to see where
    /// memory sits.
    fn smaps(&self, what: &str) {
        if std::env::var_os("NG_BENCH_SMAPS").is_none() {
            return;
        }
        let text =
            std::fs::read_to_string(format!("/proc/{}/smaps", self.child.id())).unwrap_or_default();
        let mut maps: Vec<(u64, String)> = Vec::new();
        let mut name = String::new();
        for l in text.lines() {
            if let Some(kb) = l.strip_prefix("Rss:") {
                let kb = kb.trim().trim_end_matches("kB").trim().parse().unwrap_or(0);
                maps.push((kb, name.clone()));
            } else if l.split_whitespace().next().is_some_and(|f| f.contains('-')) {
                name = l.to_string();
            }
        }
        maps.sort_by_key(|m| std::cmp::Reverse(m.0));
        println!("  {} {what}:", self.name);
        for (kb, m) in maps.iter().take(6) {
            println!("    {kb:7} kB {m}");
        }
    }

    fn rss_kb(&self) -> u64 {
        self.status_kb("VmRSS:")
    }

    /// One `kB` field of /proc/PID/status.
    fn status_kb(&self, field: &str) -> u64 {
        let mut s = String::new();
        let _ = std::fs::File::open(format!("/proc/{}/status", self.child.id()))
            .and_then(|mut f| f.read_to_string(&mut s));
        s.lines()
            .find_map(|l| l.strip_prefix(field))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .unwrap_or(0)
    }
}

// --- minimal bencode -------------------------------------------------------

enum B {
    S(Vec<u8>),
    L(Vec<B>),
}

fn s(v: &str) -> B {
    B::S(v.as_bytes().to_vec())
}

fn enc(b: &B, out: &mut Vec<u8>) {
    match b {
        B::S(v) => {
            out.extend_from_slice(v.len().to_string().as_bytes());
            out.push(b':');
            out.extend_from_slice(v);
        }
        B::L(items) => {
            out.push(b'l');
            for i in items {
                enc(i, out);
            }
            out.push(b'e');
        }
    }
}

fn dict(entries: &[(&str, B)]) -> Vec<u8> {
    let mut out = vec![b'd'];
    for (k, v) in entries {
        enc(&s(k), &mut out);
        enc(v, &mut out);
    }
    out.push(b'e');
    out
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

fn client() -> UdpSocket {
    let sock = UdpSocket::bind("127.0.0.1:0").expect("bind client socket");
    sock.set_read_timeout(Some(Duration::from_millis(500)))
        .expect("set timeout");
    sock
}

/// Sends one request and waits for the reply carrying its cookie.
fn request(sock: &UdpSocket, to: SocketAddr, cookie: &[u8], body: &[u8]) -> Option<Vec<u8>> {
    let mut msg = Vec::with_capacity(cookie.len() + 1 + body.len());
    msg.extend_from_slice(cookie);
    msg.push(b' ');
    msg.extend_from_slice(body);
    sock.send_to(&msg, to).ok()?;
    let mut buf = [0u8; 65536];
    loop {
        let (n, _) = sock.recv_from(&mut buf).ok()?;
        let r = &buf[..n];
        if r.len() > cookie.len() && r.starts_with(cookie) && r[cookie.len()] == b' ' {
            return Some(r[cookie.len() + 1..].to_vec());
        }
    }
}

// --- one call --------------------------------------------------------------

fn caller_sdp(port: u16) -> String {
    format!(
        "v=0\r\no=alice 53655765 2353687637 IN IP4 127.0.0.1\r\ns=Talk\r\n\
         c=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio {port} RTP/AVP 0 8 18 101\r\n\
         a=rtpmap:0 PCMU/8000\r\na=rtpmap:8 PCMA/8000\r\na=rtpmap:18 G729/8000\r\n\
         a=fmtp:18 annexb=no\r\na=rtpmap:101 telephone-event/8000\r\n\
         a=fmtp:101 0-16\r\na=ptime:20\r\na=sendrecv\r\n"
    )
}

fn callee_sdp(port: u16) -> String {
    format!(
        "v=0\r\no=bob 1819 2243 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\n\
         t=0 0\r\nm=audio {port} RTP/AVP 8 101\r\na=rtpmap:8 PCMA/8000\r\n\
         a=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-15\r\na=ptime:20\r\n\
         a=sendrecv\r\n"
    )
}

struct Client {
    sock: UdpSocket,
    to: SocketAddr,
    seq: u64,
    tag: String,
}

impl Client {
    fn new(to: SocketAddr, tag: String) -> Client {
        Client {
            sock: client(),
            to,
            seq: 0,
            tag,
        }
    }

    fn send(&mut self, body: &[u8]) -> bool {
        self.seq += 1;
        let cookie = format!("{}_{}", self.tag, self.seq);
        match request(&self.sock, self.to, cookie.as_bytes(), body) {
            Some(r) => contains(&r, b"6:result2:ok"),
            None => false,
        }
    }

    fn offer(&mut self, call_id: &str) -> bool {
        let body = dict(&[
            ("sdp", s(&caller_sdp(40000))),
            ("call-id", s(call_id)),
            ("from-tag", s("as7d6f5a")),
            ("via-branch", s("z9hG4bK776asdhds")),
            ("received-from", B::L(vec![s("IP4"), s("127.0.0.1")])),
            ("replace", B::L(vec![s("origin"), s("session-connection")])),
            ("command", s("offer")),
        ]);
        self.send(&body)
    }

    fn answer(&mut self, call_id: &str) -> bool {
        let body = dict(&[
            ("sdp", s(&callee_sdp(42000))),
            ("call-id", s(call_id)),
            ("from-tag", s("as7d6f5a")),
            ("to-tag", s("a6c85cf")),
            ("via-branch", s("z9hG4bK776asdhds")),
            ("received-from", B::L(vec![s("IP4"), s("127.0.0.1")])),
            ("replace", B::L(vec![s("origin"), s("session-connection")])),
            ("command", s("answer")),
        ]);
        self.send(&body)
    }

    fn delete(&mut self, call_id: &str) -> bool {
        let body = dict(&[
            ("call-id", s(call_id)),
            ("from-tag", s("as7d6f5a")),
            ("to-tag", s("a6c85cf")),
            ("via-branch", s("z9hG4bK776asdhds")),
            ("command", s("delete")),
        ]);
        self.send(&body)
    }
}

// --- phases ----------------------------------------------------------------

struct Memory {
    base: u64,
    held: u64,
    after: u64,
    /// The same three for RssAnon (the heap, without shared memory such as
    /// rtpbolt's flow table, whose pages stay mapped once touched).
    anon: [u64; 3],
    failed: u64,
}

impl Memory {
    fn print(&self, name: &str, calls: usize) {
        let per = |a: u64, b: u64| b.saturating_sub(a) as f64 / calls.max(1) as f64;
        println!(
            "{name:10} VmRSS   base {:7} kB  held {:7} kB ({:5.1} kB/call)  after delete {:7} kB ({:+} kB)  failed {}",
            self.base,
            self.held,
            per(self.base, self.held),
            self.after,
            self.after as i64 - self.base as i64,
            self.failed
        );
        let [b, h, a] = self.anon;
        println!(
            "{name:10} RssAnon base {b:7} kB  held {h:7} kB ({:5.1} kB/call)  after delete {a:7} kB ({:+} kB)",
            per(b, h),
            a as i64 - b as i64,
        );
    }
}

fn memory(d: &Daemon, run: &str, calls: usize, settle: Duration) -> Memory {
    let mut c = Client::new(d.ng, format!("m{run}"));
    let base = d.rss_kb();
    let anon_base = d.status_kb("RssAnon:");
    let mut failed = 0;
    let ids: Vec<String> = (0..calls)
        .map(|i| format!("hold-{run}-{i}@bench"))
        .collect();
    for id in &ids {
        if !(c.offer(id) && c.answer(id)) {
            failed += 1;
        }
    }
    std::thread::sleep(Duration::from_millis(500));
    let held = d.rss_kb();
    let anon_held = d.status_kb("RssAnon:");
    d.smaps("held");
    for id in &ids {
        if !c.delete(id) {
            failed += 1;
        }
    }
    // rtpengine frees calls from its timer thread shortly after the delete.
    std::thread::sleep(settle);
    let after = d.rss_kb();
    let anon_after = d.status_kb("RssAnon:");
    d.smaps("after delete");
    Memory {
        base,
        held,
        after,
        anon: [anon_base, anon_held, anon_after],
        failed,
    }
}

fn throughput(d: &Daemon, run: &str, inflight: usize, secs: f64) -> (f64, u64) {
    let stop = Arc::new(AtomicBool::new(false));
    let done = Arc::new(AtomicU64::new(0));
    let failed = Arc::new(AtomicU64::new(0));
    let start = Instant::now();
    let threads: Vec<_> = (0..inflight)
        .map(|t| {
            let (stop, done, failed) = (stop.clone(), done.clone(), failed.clone());
            let mut c = Client::new(d.ng, format!("t{run}x{t}"));
            std::thread::spawn(move || {
                let mut i = 0u64;
                while !stop.load(Ordering::Relaxed) {
                    let id = format!("tx-{}-{i}@bench", c.tag);
                    i += 1;
                    let ok = c.offer(&id) && c.answer(&id) && c.delete(&id);
                    if ok {
                        done.fetch_add(1, Ordering::Relaxed);
                    } else {
                        failed.fetch_add(1, Ordering::Relaxed);
                        c.delete(&id);
                    }
                }
            })
        })
        .collect();
    std::thread::sleep(Duration::from_secs_f64(secs));
    stop.store(true, Ordering::Relaxed);
    for t in threads {
        let _ = t.join();
    }
    let elapsed = start.elapsed().as_secs_f64();
    (
        done.load(Ordering::Relaxed) as f64 / elapsed,
        failed.load(Ordering::Relaxed),
    )
}

fn main() {
    let mut args = std::env::args().skip(1);
    let mut rtpbolt = "target/release/rtpbolt".to_string();
    let mut rtpengine = "/usr/bin/rtpengine".to_string();
    let mut secs = 5.0;
    let mut rounds = 2;
    let mut hold = 1000;
    let mut settle = 2.0;
    let mut ng_base: u16 = 2341;
    let mut only: Option<String> = None;
    let mut engine_args: Vec<String> = Vec::new();
    let mut bolt_args: Vec<String> = Vec::new();
    let mut baseline: Option<String> = None;
    while let Some(a) = args.next() {
        let mut val = || args.next().expect("option needs a value");
        match a.as_str() {
            "--rtpbolt" => rtpbolt = val(),
            "--rtpengine" => rtpengine = val(),
            "--secs" => secs = val().parse().expect("--secs N"),
            "--rounds" => rounds = val().parse().expect("--rounds N"),
            "--hold" => hold = val().parse().expect("--hold N"),
            "--settle" => settle = val().parse().expect("--settle SECS"),
            "--ng-port" => ng_base = val().parse().expect("--ng-port P"),
            "--only" => only = Some(val()),
            "--engine-arg" => engine_args.push(val()),
            "--bolt-arg" => bolt_args.push(val()),
            "--baseline" => baseline = Some(val()),
            _ => panic!(
                "usage: ng_bench [--rtpbolt BIN] [--rtpengine BIN] [--secs S] \
                 [--rounds N] [--hold CALLS] [--settle SECS] [--ng-port P] [--only rtpbolt|rtpengine] \
                 [--engine-arg ARG]... [--bolt-arg ARG]... [--baseline OLD_RTPBOLT_BIN]"
            ),
        }
    }
    // Port ranges below 32768; with a baseline build as a third daemon each
    // gets 7000 ports, still 3500 pairs for the 2000 that --hold 1000 needs.
    let ranges = if baseline.is_some() {
        [(10000, 16999), (17000, 23999), (24000, 30999)]
    } else {
        [(10000, 19999), (20000, 29999), (0, 0)]
    };
    let mut daemons = Vec::new();
    if only.as_deref() != Some("rtpbolt") {
        daemons.push(Daemon::start(
            "rtpengine",
            &rtpengine,
            ng_base,
            ranges[0],
            &engine_args,
        ));
    }
    if only.as_deref() != Some("rtpengine") {
        daemons.push(Daemon::start(
            "rtpbolt",
            &rtpbolt,
            ng_base + 1,
            ranges[1],
            &bolt_args,
        ));
        if let Some(old) = &baseline {
            daemons.push(Daemon::start(
                "rtpbolt-old",
                old,
                ng_base + 2,
                ranges[2],
                &bolt_args,
            ));
        }
    }

    println!("# memory: {hold} calls held (offer+answer), then deleted");
    for d in &daemons {
        let m = memory(d, "0", hold, Duration::from_secs_f64(settle));
        m.print(d.name, hold);
    }

    println!("# throughput: offer+answer+delete transactions/s, {secs} s per run");
    for round in 0..rounds {
        for inflight in [1, 4] {
            for d in &daemons {
                let (tps, failed) = throughput(d, &format!("{round}i{inflight}"), inflight, secs);
                println!(
                    "{:10} round {round} in-flight {inflight}: {:8.0} tx/s  failed {failed}  rss {} kB",
                    d.name,
                    tps,
                    d.rss_kb()
                );
            }
        }
    }

    println!("# memory again, after the throughput runs");
    for d in &daemons {
        let m = memory(d, "1", hold, Duration::from_secs_f64(settle));
        m.print(d.name, hold);
    }
}
