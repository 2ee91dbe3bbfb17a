//! The sockets backend on real loopback sockets: two "phones", our two ports, table
//! entries for both directions, and the punt, malformed, source-mismatch, TOS, IPv6 and
//! remove/shutdown paths.

use std::net::{SocketAddr, UdpSocket};
use std::sync::{mpsc, Arc, Mutex};
use std::time::{Duration, Instant};

use dataplane::{PuntSink, PuntedPacket, SocketsBackend, SocketsIo, WorkerCounters};
use shared_tables::{FlowAction, FlowKey, FlowTable, SrcMismatch, TableWriter};

struct ChannelSink(Mutex<mpsc::Sender<PuntedPacket>>);

impl PuntSink for ChannelSink {
    fn punt(&self, pkt: PuntedPacket) {
        let _ = self.0.lock().unwrap().send(pkt);
    }
}

fn rtp(seq: u16, len: usize) -> Vec<u8> {
    let mut p = vec![0u8; len.max(12)];
    p[0] = 0x80;
    p[1] = 8; // PCMA
    p[2..4].copy_from_slice(&seq.to_be_bytes());
    p[8..12].copy_from_slice(&0xdead_beef_u32.to_be_bytes());
    p
}

fn bind(addr: &str) -> UdpSocket {
    let s = UdpSocket::bind(addr).unwrap();
    // Default rmem (~200 KiB) holds only ~250 small loopback datagrams; the burst test
    // queues more than that on both our port and the receiving phone.
    socket2::SockRef::from(&s)
        .set_recv_buffer_size(2 << 20)
        .unwrap();
    s.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
    s
}

fn recv(s: &UdpSocket) -> (Vec<u8>, SocketAddr) {
    let mut buf = [0u8; 2048];
    let (n, from) = s.recv_from(&mut buf).expect("packet within 2 s");
    (buf[..n].to_vec(), from)
}

fn wait_stats(dp: &SocketsBackend, what: &str, pred: impl Fn(&WorkerCounters) -> bool) {
    let deadline = Instant::now() + Duration::from_secs(2);
    loop {
        let s = dp.stats();
        if pred(&s) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "timed out waiting for {what}: {s:?}"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
}

fn flow(dst: SocketAddr, src: SocketAddr, expected: SocketAddr, stream_id: u64) -> FlowAction {
    FlowAction {
        dst,
        src,
        expected_src: Some(expected),
        src_mismatch: SrcMismatch::Drop,
        tos: 0,
        flags: 0,
        stream_id,
    }
}

struct Setup {
    _table: FlowTable,
    w: TableWriter,
    dp: SocketsBackend,
    punted: mpsc::Receiver<PuntedPacket>,
    a: UdpSocket,
    b: UdpSocket,
    port1: SocketAddr,
    port2: SocketAddr,
}

fn setup(workers: usize, io: SocketsIo) -> Setup {
    let table = FlowTable::create(64).unwrap();
    let mut w = table.writer().unwrap();
    let (tx, punted) = mpsc::channel();
    let dp = SocketsBackend::start_with(
        table.reader(),
        workers,
        false,
        Arc::new(ChannelSink(Mutex::new(tx))),
        io,
    )
    .unwrap();
    assert_eq!(dp.io(), io);
    let a = bind("127.0.0.1:0");
    let b = bind("127.0.0.1:0");
    let (p1, p2) = (bind("127.0.0.1:0"), bind("127.0.0.1:0"));
    let (port1, port2) = (p1.local_addr().unwrap(), p2.local_addr().unwrap());
    let (aa, ba) = (a.local_addr().unwrap(), b.local_addr().unwrap());
    // A -> port1 -> (from port2) -> B, and B -> port2 -> (from port1) -> A
    w.upsert(FlowKey::new(port1), &flow(ba, port2, aa, 1))
        .unwrap();
    w.upsert(FlowKey::new(port2), &flow(aa, port1, ba, 2))
        .unwrap();
    dp.add_socket(p1).unwrap();
    dp.add_socket(p2).unwrap();
    Setup {
        _table: table,
        w,
        dp,
        punted,
        a,
        b,
        port1,
        port2,
    }
}

fn relays_both_ways_and_counts(io: SocketsIo) {
    let s = setup(2, io);
    for seq in 0..100u16 {
        s.a.send_to(&rtp(seq, 172), s.port1).unwrap();
        let (data, from) = recv(&s.b);
        assert_eq!((data, from), (rtp(seq, 172), s.port2));
        s.b.send_to(&rtp(seq, 60), s.port2).unwrap();
        let (data, from) = recv(&s.a);
        assert_eq!((data, from), (rtp(seq, 60), s.port1));
    }
    wait_stats(&s.dp, "200 forwarded", |c| c.forwarded == 200);
    let c1 = s.w.counters(&FlowKey::new(s.port1)).unwrap();
    let c2 = s.w.counters(&FlowKey::new(s.port2)).unwrap();
    assert_eq!((c1.packets, c1.bytes), (100, 17_200));
    assert_eq!((c2.packets, c2.bytes), (100, 6_000));
    assert!(c1.last_packet.unwrap() <= shared_tables::monotonic_now());
    let st = s.dp.stats();
    assert_eq!((st.rx_packets, st.tx_dropped, st.punted), (200, 0, 0));
}

fn bursts_are_batched_and_all_arrive(io: SocketsIo) {
    let s = setup(1, io);
    // More than one recvmmsg batch queued at once.
    for seq in 0..300u16 {
        s.a.send_to(&rtp(seq, 100), s.port1).unwrap();
    }
    for seq in 0..300u16 {
        assert_eq!(recv(&s.b).0, rtp(seq, 100));
    }
    wait_stats(&s.dp, "300 forwarded", |c| c.forwarded == 300);
    assert!(s.dp.stats().batches < 300, "packets were batched");
}

fn punts_unknown_flows_and_stun(io: SocketsIo) {
    let s = setup(2, io);
    let p3 = bind("127.0.0.1:0");
    let port3 = p3.local_addr().unwrap();
    s.dp.add_socket(p3).unwrap();
    s.a.send_to(&rtp(1, 20), port3).unwrap();
    let p = s.punted.recv_timeout(Duration::from_secs(2)).unwrap();
    assert_eq!(
        (p.local, p.src, p.data),
        (port3, s.a.local_addr().unwrap(), rtp(1, 20))
    );
    assert!(p.received <= shared_tables::monotonic_now());

    // STUN binding request on a known flow goes to the control plane too.
    let stun = [
        0u8, 1, 0, 0, 0x21, 0x12, 0xa4, 0x42, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12,
    ];
    s.a.send_to(&stun, s.port1).unwrap();
    let p = s.punted.recv_timeout(Duration::from_secs(2)).unwrap();
    assert_eq!((p.local, p.data), (s.port1, stun.to_vec()));
    wait_stats(&s.dp, "2 punted", |c| c.punted == 2);
}

fn malformed_and_wrong_source_are_dropped_and_counted(io: SocketsIo) {
    let s = setup(2, io);
    s.a.send_to(&[0x40; 30], s.port1).unwrap(); // not RTP/STUN/DTLS
    s.a.send_to(&rtp(0, 12)[..10], s.port1).unwrap(); // short RTP
    let stranger = bind("127.0.0.1:0");
    stranger.send_to(&rtp(0, 50), s.port1).unwrap();
    wait_stats(&s.dp, "drops", |c| {
        c.dropped_malformed == 2 && c.dropped_policy == 1
    });
    assert_eq!(s.w.counters(&FlowKey::new(s.port1)).unwrap().errors, 3);
    // Nothing reached B: the next packet B sees is the one sent after.
    s.a.send_to(&rtp(7, 40), s.port1).unwrap();
    assert_eq!(recv(&s.b).0, rtp(7, 40));
}

fn sets_tos_on_egress_socket(io: SocketsIo) {
    let mut s = setup(1, io);
    let (aa, ba) = (s.a.local_addr().unwrap(), s.b.local_addr().unwrap());
    // An egress socket we keep a duplicate fd of, to read IP_TOS back.
    let mine = bind("127.0.0.1:0");
    let mine_addr = mine.local_addr().unwrap();
    let probe = mine.try_clone().unwrap();
    s.dp.add_socket(mine).unwrap();
    s.w.upsert(
        FlowKey::new(s.port2),
        &FlowAction {
            tos: 0xb8,
            ..flow(aa, mine_addr, ba, 2)
        },
    )
    .unwrap();
    assert_eq!(socket2::SockRef::from(&probe).tos_v4().unwrap(), 0);
    s.b.send_to(&rtp(2, 20), s.port2).unwrap();
    assert_eq!(recv(&s.a), (rtp(2, 20), mine_addr));
    assert_eq!(socket2::SockRef::from(&probe).tos_v4().unwrap(), 0xb8);
    // A registered local address cannot be added twice.
    assert!(matches!(
        s.dp.add_socket(probe),
        Err(dataplane::BackendError::AlreadyRegistered { .. })
    ));
}

fn ipv4_in_ipv6_out(io: SocketsIo) {
    let mut s = setup(2, io);
    let b6 = bind("[::1]:0");
    let ours6 = bind("[::1]:0");
    let ours6_addr = ours6.local_addr().unwrap();
    s.dp.add_socket(ours6).unwrap();
    s.w.upsert(
        FlowKey::new(s.port1),
        &flow(
            b6.local_addr().unwrap(),
            ours6_addr,
            s.a.local_addr().unwrap(),
            1,
        ),
    )
    .unwrap();
    s.a.send_to(&rtp(3, 33), s.port1).unwrap();
    assert_eq!(recv(&b6), (rtp(3, 33), ours6_addr));
}

fn send_from_remove_and_rebind(io: SocketsIo) {
    let s = setup(2, io);
    s.dp.send_from(s.port1, s.a.local_addr().unwrap(), b"hello")
        .unwrap();
    assert_eq!(recv(&s.a), (b"hello".to_vec(), s.port1));
    assert!(matches!(
        s.dp.send_from(s.port1, "[::1]:9".parse().unwrap(), b"x"),
        Err(dataplane::BackendError::FamilyMismatch { .. })
    ));

    s.dp.remove_socket(s.port1).unwrap();
    // The port is free again as soon as remove_socket returns.
    let rebound = UdpSocket::bind(s.port1).expect("port released");
    drop(rebound);
    assert!(matches!(
        s.dp.remove_socket(s.port1),
        Err(dataplane::BackendError::NotRegistered { .. })
    ));
    assert!(matches!(
        s.dp.send_from(s.port1, s.a.local_addr().unwrap(), b"x"),
        Err(dataplane::BackendError::NotRegistered { .. })
    ));
}

fn forward_without_egress_socket_counts_tx_drop(io: SocketsIo) {
    let mut s = setup(1, io);
    let (aa, ba) = (s.a.local_addr().unwrap(), s.b.local_addr().unwrap());
    let unregistered: SocketAddr = "127.0.0.1:9".parse().unwrap();
    s.w.upsert(FlowKey::new(s.port1), &flow(ba, unregistered, aa, 1))
        .unwrap();
    s.a.send_to(&rtp(1, 20), s.port1).unwrap();
    wait_stats(&s.dp, "tx drop", |c| c.tx_dropped == 1 && c.forwarded == 1);
}

fn shutdown_is_prompt(io: SocketsIo) {
    let s = setup(4, io);
    let t = Instant::now();
    s.dp.shutdown();
    assert!(
        t.elapsed() < Duration::from_millis(100),
        "{:?}",
        t.elapsed()
    );
}

#[test]
fn pinned_workers_start() {
    let table = FlowTable::create(4).unwrap();
    let (tx, _rx) = mpsc::channel();
    let dp = SocketsBackend::start(
        table.reader(),
        2,
        true,
        Arc::new(ChannelSink(Mutex::new(tx))),
    )
    .unwrap();
    dp.shutdown();
    assert!(matches!(
        SocketsBackend::start(
            table.reader(),
            0,
            false,
            Arc::new(ChannelSink(Mutex::new(mpsc::channel().0)))
        ),
        Err(dataplane::BackendError::NoWorkers)
    ));
}

/// Every behaviour above holds for both ways a worker moves packets.
macro_rules! for_each_io {
    ($($name:ident),* $(,)?) => {
        mod uring {
            $(#[test] fn $name() { super::$name(dataplane::SocketsIo::Uring) })*
        }
        mod epoll {
            $(#[test] fn $name() { super::$name(dataplane::SocketsIo::Epoll) })*
        }
    };
}

for_each_io!(
    relays_both_ways_and_counts,
    bursts_are_batched_and_all_arrive,
    punts_unknown_flows_and_stun,
    malformed_and_wrong_source_are_dropped_and_counted,
    sets_tos_on_egress_socket,
    ipv4_in_ipv6_out,
    send_from_remove_and_rebind,
    forward_without_egress_socket_counts_tx_drop,
    shutdown_is_prompt,
    long_flow_outlives_ring_wraparound
);

#[test]
fn auto_picks_uring_on_this_kernel() {
    let table = FlowTable::create(4).unwrap();
    let (tx, _rx) = mpsc::channel();
    let dp = SocketsBackend::start(
        table.reader(),
        1,
        false,
        Arc::new(ChannelSink(Mutex::new(tx))),
    )
    .unwrap();
    assert_eq!(dp.io(), SocketsIo::Uring);
}

/// Counters and rings wrap (buffer ring tail, slots); traffic must flow past them.
fn long_flow_outlives_ring_wraparound(io: SocketsIo) {
    let s = setup(1, io);
    let total = 70_000u32;
    let mut got = 0u32;
    let mut buf = [0u8; 2048];
    s.b.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
    for i in 0..total {
        s.a.send_to(&rtp(i as u16, 60), s.port1).unwrap();
        if i % 64 == 63 {
            while got + 64 <= i + 1 {
                s.b.recv(&mut buf)
                    .unwrap_or_else(|e| panic!("after {got} forwarded: {e}; {:?}", s.dp.stats()));
                got += 1;
            }
        }
    }
    while got < total {
        s.b.recv(&mut buf)
            .unwrap_or_else(|e| panic!("after {got} forwarded: {e}; {:?}", s.dp.stats()));
        got += 1;
    }
}
