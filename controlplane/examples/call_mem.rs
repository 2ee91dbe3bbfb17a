//! The ng request path without sockets: datagrams through [`Control`] into a
//! call registry with a real flow table and a port allocator that binds
//! nothing. Prints the anonymous memory per held call and the time per
//! offer + answer + delete, so the call model's own cost can be told apart
//! from the data plane's and the kernel's (see `ng_bench` for the daemon).
//!
//! ```sh
//! cargo run --release -p controlplane --example call_mem -- 1000 20000
//! perf record -g target/release/examples/call_mem 1000 200000
//! ```

use std::net::{IpAddr, SocketAddr};
use std::time::{Instant, SystemTime};

use controlplane::call::{CallError, CallRegistry, Interfaces, PortAllocator, Settings};
use controlplane::control::Control;
use controlplane::ng;
use shared_tables::FlowTable;

/// The daemon's allocator, so figures match it.
#[global_allocator]
static GLOBAL: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

/// Even ports from the bottom of a range, reused once released.
struct FakePorts {
    free: Vec<u16>,
}

impl PortAllocator for FakePorts {
    fn allocate_pair(&mut self, _ip: IpAddr) -> Result<u16, CallError> {
        self.free.pop().ok_or(CallError::OutOfPorts)
    }
    fn release_pair(&mut self, rtp: SocketAddr) {
        self.free.push(rtp.port());
    }
    fn reserve_pair(&mut self, rtp: SocketAddr) {
        self.free.retain(|p| *p != rtp.port());
    }
    fn unreserve_pair(&mut self, rtp: SocketAddr) {
        self.free.push(rtp.port());
    }
}

fn rss_anon_kb() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("RssAnon:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

fn bstr(out: &mut Vec<u8>, s: &str) {
    out.extend_from_slice(s.len().to_string().as_bytes());
    out.push(b':');
    out.extend_from_slice(s.as_bytes());
}

fn message(cookie: &str, pairs: &[(&str, &str)], replace: bool) -> Vec<u8> {
    let mut m = format!("{cookie} d").into_bytes();
    for (k, v) in pairs {
        bstr(&mut m, k);
        bstr(&mut m, v);
    }
    if replace {
        bstr(&mut m, "replace");
        m.push(b'l');
        bstr(&mut m, "origin");
        bstr(&mut m, "session-connection");
        m.push(b'e');
        bstr(&mut m, "received-from");
        m.push(b'l');
        bstr(&mut m, "IP4");
        bstr(&mut m, "127.0.0.1");
        m.push(b'e');
    }
    m.push(b'e');
    m
}

const OFFER_SDP: &str = "v=0\r\no=alice 53655765 2353687637 IN IP4 127.0.0.1\r\ns=Talk\r\n\
     c=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 40000 RTP/AVP 0 8 18 101\r\n\
     a=rtpmap:0 PCMU/8000\r\na=rtpmap:8 PCMA/8000\r\na=rtpmap:18 G729/8000\r\n\
     a=fmtp:18 annexb=no\r\na=rtpmap:101 telephone-event/8000\r\n\
     a=fmtp:101 0-16\r\na=ptime:20\r\na=sendrecv\r\n";
const ANSWER_SDP: &str = "v=0\r\no=bob 1819 2243 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\n\
     t=0 0\r\nm=audio 42000 RTP/AVP 8 101\r\na=rtpmap:8 PCMA/8000\r\n\
     a=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-15\r\na=ptime:20\r\n\
     a=sendrecv\r\n";

fn handle(control: &mut Control, msg: &[u8]) -> Vec<u8> {
    if std::env::var_os("CALL_MEM_SHOW").is_some() {
        eprintln!("> {}", String::from_utf8_lossy(msg));
    }
    let now = Instant::now();
    let parsed = ng::parse_datagram(msg).expect("well-formed request");
    let reply = control.handle_owned(now, SystemTime::now(), parsed.body);
    let bytes = ng::encode_reply(parsed.cookie, parsed.encoding, &reply);
    assert!(
        bytes.windows(12).any(|w| w == b"6:result2:ok"),
        "{}",
        String::from_utf8_lossy(&bytes)
    );
    if std::env::var_os("CALL_MEM_SHOW").is_some() {
        eprintln!("< {}", String::from_utf8_lossy(&bytes));
    }
    bytes
}

fn call(control: &mut Control, id: &str, phase: &str) {
    let common = [
        ("call-id", id),
        ("from-tag", "as7d6f5a"),
        ("via-branch", "z9hG4bK776asdhds"),
    ];
    match phase {
        "offer" => {
            let mut p = common.to_vec();
            p.extend([("sdp", OFFER_SDP), ("command", "offer")]);
            handle(control, &message("c", &p, true));
        }
        "answer" => {
            let mut p = common.to_vec();
            p.extend([
                ("sdp", ANSWER_SDP),
                ("to-tag", "a6c85cf"),
                ("command", "answer"),
            ]);
            handle(control, &message("c", &p, true));
        }
        _ => {
            let mut p = common.to_vec();
            p.extend([("to-tag", "a6c85cf"), ("command", "delete")]);
            handle(control, &message("c", &p, false));
        }
    }
}

fn main() {
    let _ = controlplane::io::alloc::return_freed_memory();
    let mut args = std::env::args().skip(1);
    let held: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(1000);
    let churn: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(20000);

    let table = FlowTable::create(16384).expect("flow table");
    let ip: IpAddr = "127.0.0.1".parse().expect("literal");
    let interfaces = Interfaces::new([("default".to_string(), ip, None)]);
    let settings = Settings {
        delete_delay: std::time::Duration::ZERO,
        ..Settings::default()
    };
    let ports = FakePorts {
        free: (20000..30000).step_by(2).rev().collect(),
    };
    let registry = CallRegistry::new(
        interfaces,
        settings,
        table.writer().expect("writer"),
        Box::new(ports),
        SystemTime::now(),
    );
    let mut control = Control::new(registry);
    // Warm up allocator and tables.
    for i in 0..100 {
        let id = format!("warm-{i}");
        for phase in ["offer", "answer", "delete"] {
            call(&mut control, &id, phase);
        }
    }

    let base = rss_anon_kb();
    let ids: Vec<String> = (0..held).map(|i| format!("held-{i}@bench")).collect();
    for id in &ids {
        call(&mut control, id, "offer");
        call(&mut control, id, "answer");
    }
    let with = rss_anon_kb();
    for id in &ids {
        call(&mut control, id, "delete");
    }
    let after = rss_anon_kb();
    // jemalloc's background threads return freed pages after its decay time.
    let settle: f64 = std::env::var("CALL_MEM_SETTLE")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0.0);
    if settle > 0.0 {
        std::thread::sleep(std::time::Duration::from_secs_f64(settle));
        println!(
            "anon RSS {settle} s after the deletes: {} kB",
            rss_anon_kb()
        );
    }
    println!(
        "anon RSS: base {base} kB, {held} calls held {with} kB ({:.2} kB/call), after delete {after} kB",
        with.saturating_sub(base) as f64 / held.max(1) as f64
    );

    let start = Instant::now();
    let mut per_phase = [0f64; 3];
    for i in 0..churn {
        let id = format!("churn-{i}@bench");
        for (n, phase) in ["offer", "answer", "delete"].into_iter().enumerate() {
            let t = Instant::now();
            call(&mut control, &id, phase);
            per_phase[n] += t.elapsed().as_secs_f64();
        }
    }
    let secs = start.elapsed().as_secs_f64();
    let us = |s: f64| s * 1e6 / churn.max(1) as f64;
    println!(
        "{churn} offer+answer+delete in {secs:.2} s: {:.1} us per transaction \
         (offer {:.1}, answer {:.1}, delete {:.1})",
        us(secs),
        us(per_phase[0]),
        us(per_phase[1]),
        us(per_phase[2])
    );
}
