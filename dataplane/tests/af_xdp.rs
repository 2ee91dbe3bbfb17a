//! The AF_XDP backend on a real veth pair between two network namespaces this test
//! creates (`rtpbolt_tests::af_xdp::VethPair`):
//!
//! ```text
//!  peer namespace                          relay namespace
//!  ┌───────────────────────────┐ veth ┌──────────────────────────────────────────┐
//!  │ A 10.79.0.2, fd00:79::2   │◄────►│ 10.79.0.1, fd00:79::1; XDP program       │
//!  │ B 10.79.0.3, fd00:79::3   │      │ (flow-map hits → XSK of queue 0, rest →  │
//!  └───────────────────────────┘      │ kernel), XskWorker in this process       │
//!                                     └──────────────────────────────────────────┘
//! ```
//!
//! A call's flows (IPv4 and IPv6) are in the flow table and the XDP flow map; RTP from A
//! reaches B from the relay's other port and back, every packet through the socket (its
//! counters and the program's say so, and a kernel socket bound on the same port receives
//! nothing). STUN to a steered port is handed to the punt sink; an IP fragment to it, UDP
//! to other ports, ARP and ping reach the relay's kernel; after the flow is removed from
//! the map its packets reach the kernel socket again.

use std::net::{SocketAddr, UdpSocket};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use dataplane::backend::xdp::{
    if_index, BindMode, PublishedXsk, RingSizes, Umem, XdpProgram, XskSocket, XskWorker,
    XskWorkerConfig,
};
use dataplane::{PuntSink, PuntedPacket};
use rtpbolt_tests::af_xdp::{prerequisites, VethPair, PEER_MAC, RELAY_IP, RELAY_MAC};
use shared_tables::{FlowAction, FlowKey, FlowTable, SrcMismatch};

const A: &str = "10.79.0.2:5004";
const B: &str = "10.79.0.3:5006";
const A6: &str = "[fd00:79::2]:5004";
const B6: &str = "[fd00:79::3]:5006";
const LEG_A6: &str = "[fd00:79::1]:30004";
const LEG_B6: &str = "[fd00:79::1]:30006";
const LEG_A: &str = "10.79.0.1:30000";
const LEG_B: &str = "10.79.0.1:30002";
const PACKETS: usize = 50;

fn sa(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

#[derive(Default)]
struct Punts(Mutex<Vec<PuntedPacket>>);

impl PuntSink for Punts {
    fn punt(&self, pkt: PuntedPacket) {
        self.0.lock().unwrap().push(pkt);
    }
}

/// The worker thread; stopped and joined on drop.
struct Running {
    stop: Arc<AtomicBool>,
    published: Arc<PublishedXsk>,
    thread: Option<JoinHandle<XskWorker>>,
}

impl Running {
    fn stop(&mut self) -> Option<XskWorker> {
        self.stop.store(true, Ordering::Relaxed);
        self.thread.take().map(|t| t.join().unwrap())
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        self.stop();
    }
}

fn rtp(seq: u16) -> Vec<u8> {
    let mut p = vec![0x80, 0x00];
    p.extend_from_slice(&seq.to_be_bytes());
    p.extend_from_slice(&[0, 0, 0, 160, 0x12, 0x34, 0x56, 0x78]);
    p.resize(12 + 160, seq as u8);
    p
}

/// Receives `n` datagrams (or fewer by the deadline), with their sources.
fn recv_n(s: &UdpSocket, n: usize) -> Vec<(Vec<u8>, SocketAddr)> {
    let deadline = Instant::now() + Duration::from_secs(3);
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    while got.len() < n && Instant::now() < deadline {
        s.set_read_timeout(Some(Duration::from_millis(200)))
            .unwrap();
        if let Ok((len, from)) = s.recv_from(&mut buf) {
            got.push((buf[..len].to_vec(), from));
        }
    }
    got
}

fn wait_until(what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(3);
    while !cond() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(10));
    }
}

fn flow(dst: &str, src: &str, expected: &str, id: u64) -> FlowAction {
    FlowAction {
        dst: sa(dst),
        src: sa(src),
        expected_src: Some(sa(expected)),
        src_mismatch: SrcMismatch::Drop,
        tos: 0,
        flags: 0,
        stream_id: id,
    }
}

/// The program attached to the relay's veth and a socket on its queue 0, registered.
/// Both are created inside the relay's namespace and work from any thread afterwards.
fn attach(w: &VethPair) -> (XdpProgram, XskSocket) {
    let relay_if = w.relay_if.clone();
    let (mut prog, sock) = w
        .relay
        .run(move || {
            let prog = XdpProgram::attach(&relay_if, false).unwrap();
            let umem = Umem::new(1024, 4096).unwrap();
            let sizes = RingSizes {
                fill: 1024,
                completion: 1024,
                rx: 512,
                tx: 512,
            };
            let sock =
                XskSocket::bind(umem, if_index(&relay_if).unwrap(), 0, sizes, BindMode::Auto)
                    .unwrap();
            (prog, sock)
        })
        .unwrap();
    eprintln!(
        "XDP program attached in {:?} mode, socket in {} mode",
        prog.mode(),
        if sock.zero_copy() {
            "zero-copy"
        } else {
            "copy"
        }
    );
    prog.register_socket(0, &sock).unwrap();
    (prog, sock)
}

/// A worker on `sock` in its own thread, reading `table`, punting to `punts`. The
/// `phones` all sit behind the peer's one veth MAC; the worker is told so, as the
/// backend's kernel neighbour feed would.
fn spawn_worker(sock: XskSocket, table: &FlowTable, punts: Arc<Punts>, phones: &[&str]) -> Running {
    let mut worker = XskWorker::new(
        sock,
        table.reader(),
        punts,
        &XskWorkerConfig {
            mac: RELAY_MAC,
            neighbours: 1024,
            mtu: 1500,
            busy_poll: false,
        },
    );
    for phone in phones {
        worker.learn_neighbour(sa(phone).ip(), PEER_MAC);
    }
    let stop = Arc::new(AtomicBool::new(false));
    let published = Arc::new(PublishedXsk::default());
    Running {
        stop: stop.clone(),
        published: published.clone(),
        thread: Some(std::thread::spawn(move || {
            worker.run(&stop, &published);
            worker
        })),
    }
}

#[test]
fn table_hits_go_through_the_socket_and_the_rest_to_the_kernel() {
    if !prerequisites() {
        return;
    }
    let w = VethPair::create("xdp").unwrap();
    let (mut prog, sock) = attach(&w);
    // The control plane's sockets on the same ports: they must see nothing while the
    // flow is in the map.
    let (kernel_a, kernel_other) = w
        .relay
        .run(|| {
            let bind = |s: &str| UdpSocket::bind(s).unwrap();
            (bind(LEG_A), bind(&format!("{RELAY_IP}:40000")))
        })
        .unwrap();

    let table = FlowTable::create(64).unwrap();
    let mut writer = table.writer().unwrap();
    writer
        .upsert(FlowKey::new(sa(LEG_A)), &flow(B, LEG_B, A, 1))
        .unwrap();
    writer
        .upsert(FlowKey::new(sa(LEG_B)), &flow(A, LEG_A, B, 2))
        .unwrap();
    writer
        .upsert(FlowKey::new(sa(LEG_A6)), &flow(B6, LEG_B6, A6, 3))
        .unwrap();
    writer
        .upsert(FlowKey::new(sa(LEG_B6)), &flow(A6, LEG_A6, B6, 4))
        .unwrap();
    for leg in [LEG_A, LEG_B, LEG_A6, LEG_B6] {
        prog.insert_flow(sa(leg)).unwrap();
    }
    assert!(prog.has_flow(sa(LEG_A)));

    let punts = Arc::new(Punts::default());
    let mut running = spawn_worker(sock, &table, punts.clone(), &[A, B, A6, B6]);

    let (a, b, a6, b6) = w
        .peer
        .run(|| {
            let bind = |s: &str| UdpSocket::bind(s).unwrap();
            (bind(A), bind(B), bind(A6), bind(B6))
        })
        .unwrap();

    // A → relay → B
    for seq in 0..PACKETS {
        a.send_to(&rtp(seq as u16), LEG_A).unwrap();
    }
    let got = recv_n(&b, PACKETS);
    assert_eq!(got.len(), PACKETS, "B received {} of {PACKETS}", got.len());
    for (i, (data, from)) in got.iter().enumerate() {
        assert_eq!(*from, sa(LEG_B));
        assert_eq!(*data, rtp(i as u16));
    }
    // B → relay → A
    for seq in 0..PACKETS {
        b.send_to(&rtp(1000 + seq as u16), LEG_B).unwrap();
    }
    let got = recv_n(&a, PACKETS);
    assert_eq!(got.len(), PACKETS, "A received {} of {PACKETS}", got.len());
    assert!(got.iter().all(|(_, from)| *from == sa(LEG_A)));

    let forwarded = 2 * PACKETS as u64;
    wait_until("counters", || {
        running.published.load().tx_completed >= forwarded
    });
    let x = running.published.load();
    let f = running.published.frame.load();
    eprintln!("socket counters: {x:?}");
    eprintln!("frame counters: {f:?}");
    assert_eq!((x.rx, x.tx, x.punted), (forwarded, forwarded, 0));
    assert_eq!((f.forwarded, f.rx_packets), (forwarded, forwarded));
    let s = prog.stats().unwrap();
    eprintln!("program counters: {s:?}");
    assert_eq!(s.redirected, forwarded);
    assert!(punts.0.lock().unwrap().is_empty());
    kernel_a.set_nonblocking(true).unwrap();
    assert!(
        kernel_a.recv_from(&mut [0u8; 64]).is_err(),
        "a table hit reached the kernel socket"
    );
    let (e1, e2) = (
        writer.counters(&FlowKey::new(sa(LEG_A))).unwrap(),
        writer.counters(&FlowKey::new(sa(LEG_B))).unwrap(),
    );
    assert_eq!((e1.packets, e2.packets), (PACKETS as u64, PACKETS as u64));

    // IPv6, both ways.
    for seq in 0..PACKETS {
        a6.send_to(&rtp(2000 + seq as u16), LEG_A6).unwrap();
    }
    let got = recv_n(&b6, PACKETS);
    assert_eq!(got.len(), PACKETS, "B6 received {} of {PACKETS}", got.len());
    assert!(got.iter().all(|(_, from)| *from == sa(LEG_B6)));
    b6.send_to(&rtp(3000), LEG_B6).unwrap();
    assert_eq!(recv_n(&a6, 1), [(rtp(3000), sa(LEG_A6))]);
    let forwarded = forwarded + PACKETS as u64 + 1;
    wait_until("IPv6 counters", || {
        running.published.load().tx_completed >= forwarded
    });
    assert_eq!(prog.stats().unwrap().redirected, forwarded);

    // STUN to a steered port reaches the socket, and the packet function hands it to
    // the control plane (in-process: the punt sink).
    let stun = [
        0, 1, 0, 0, 0x21, 0x12, 0xa4, 0x42, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12,
    ];
    a.send_to(&stun, LEG_A).unwrap();
    wait_until("the STUN request punted", || {
        !punts.0.lock().unwrap().is_empty()
    });
    let p = punts.0.lock().unwrap()[0].clone();
    assert_eq!((p.local, p.src, p.data), (sa(LEG_A), sa(A), stun.to_vec()));
    let redirected = forwarded + 1;
    assert_eq!(prog.stats().unwrap().redirected, redirected);

    // An IP fragment is the kernel's even to a steered port: it reassembles the
    // datagram and the port's kernel socket gets it.
    let big = vec![0x80u8; 3000];
    a.send_to(&big, LEG_A).unwrap();
    kernel_a.set_nonblocking(false).unwrap();
    let got = recv_n(&kernel_a, 1);
    assert!(
        got.len() == 1 && got[0] == (big, sa(A)),
        "the fragmented datagram did not reach the kernel socket whole"
    );
    assert_eq!(prog.stats().unwrap().redirected, redirected);

    // Not in the map: UDP to another port, and ping (ARP already did, or A's first
    // packet would not have left the peer).
    a.send_to(b"not media", (RELAY_IP, 40000)).unwrap();
    let got = recv_n(&kernel_other, 1);
    assert_eq!(
        got.len(),
        1,
        "UDP to an unmapped port did not reach the kernel"
    );
    assert_eq!(got[0], (b"not media".to_vec(), sa(A)));
    w.assert_ping_reaches_relay();

    // The call is deleted: its map entry goes, and its packets go to the kernel again.
    prog.remove_flow(sa(LEG_A)).unwrap();
    writer.remove(&FlowKey::new(sa(LEG_A)));
    assert!(!prog.has_flow(sa(LEG_A)));
    a.send_to(&rtp(7), LEG_A).unwrap();
    let got = recv_n(&kernel_a, 1);
    assert_eq!(
        got.len(),
        1,
        "after removal the flow's packet did not reach the kernel"
    );
    assert_eq!(got[0], (rtp(7), sa(A)));
    let after = prog.stats().unwrap();
    assert_eq!(after.redirected, redirected, "redirected after removal");
    assert!(after.passed > s.passed);

    let worker = running.stop().unwrap();
    assert_eq!(worker.counters().rx, redirected);
    assert_eq!(worker.counters().punted, 1);
    assert_eq!(worker.frame_counters().forwarded, forwarded);
    let st = worker.statistics().unwrap();
    eprintln!("XDP_STATISTICS: {st:?}");
    assert_eq!(
        (st.rx_dropped, st.rx_invalid_descs, st.tx_invalid_descs),
        (0, 0, 0)
    );
    drop(prog);
    drop(w);
}

/// One 802.1Q tag: the program looks through it and the packet function forwards the
/// frame (keeping the tag, which its unit tests check). This kernel may lack VLAN
/// devices (8021q is a module), so the peer sends the tagged frame from a packet socket.
#[test]
fn vlan_tagged_hits_reach_the_socket_and_are_forwarded() {
    if !prerequisites() {
        return;
    }
    let w = VethPair::create("xdpv").unwrap();
    let (mut prog, sock) = attach(&w);
    let (av, bv, leg_a, leg_b) = (
        "10.79.42.2:5004",
        "10.79.42.3:5006",
        "10.79.42.1:30010",
        "10.79.42.1:30012",
    );
    let table = FlowTable::create(16).unwrap();
    let mut writer = table.writer().unwrap();
    writer
        .upsert(FlowKey::new(sa(leg_a)), &flow(bv, leg_b, av, 1))
        .unwrap();
    prog.insert_flow(sa(leg_a)).unwrap();
    let running = spawn_worker(sock, &table, Arc::new(Punts::default()), &[av, bv]);

    let builder = etherparse::PacketBuilder::ethernet2(PEER_MAC, RELAY_MAC)
        .single_vlan(etherparse::VlanId::try_new(42).unwrap())
        .ipv4([10, 79, 42, 2], [10, 79, 42, 1], 64)
        .udp(5004, 30010);
    let payload = rtp(1);
    let mut frame = Vec::with_capacity(builder.size(payload.len()));
    builder.write(&mut frame, &payload).unwrap();
    let hex: String = frame.iter().map(|b| format!("{b:02x}")).collect();
    let send = "import socket, sys\n\
        s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)\n\
        s.bind((sys.argv[1], 0))\n\
        s.send(bytes.fromhex(sys.argv[2]))\n";
    let out = w
        .peer
        .command("python3")
        .args(["-c", send, &w.peer_if, &hex])
        .output()
        .unwrap();
    assert!(out.status.success(), "python3 packet socket: {out:?}");

    wait_until("the tagged frame forwarded", || {
        running.published.frame.load().forwarded >= 1
    });
    let f = running.published.frame.load();
    assert_eq!((f.rx_packets, f.forwarded), (1, 1));
    assert_eq!(prog.stats().unwrap().redirected, 1);
    assert_eq!(
        writer.counters(&FlowKey::new(sa(leg_a))).unwrap().packets,
        1
    );
}
