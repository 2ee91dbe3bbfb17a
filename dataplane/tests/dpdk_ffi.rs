//! The safe DPDK wrapper in-process, on a `net_ring` vdev (its tx rings are its rx rings,
//! so what is sent comes back): EAL init, pool, port configure/start, bursts, mbuf data
//! views and rewrites, tx refusals freed, hot-plug. EAL runs once per process, hence one
//! test function.
//!
//! Needs root and DPDK's run-time libraries; skipped without them unless `CI` or
//! `RTPBOLT_REQUIRE_DPDK` is set, where it fails instead.

use dataplane::backend::dpdk::{Burst, DpdkError, Eal, Port, PortConfig, BURST, HEADROOM};

fn runnable() -> bool {
    let root = std::fs::read_to_string("/proc/self/status")
        .unwrap_or_default()
        .lines()
        .find(|l| l.starts_with("Uid:"))
        .and_then(|l| l.split_whitespace().nth(2).map(|u| u == "0"))
        .unwrap_or(false);
    let ring_pmd = std::fs::read_dir("/usr/lib/x86_64-linux-gnu/dpdk")
        .into_iter()
        .flatten()
        .flatten()
        .any(|d| d.path().join("librte_net_ring.so").exists());
    if root && ring_pmd {
        return true;
    }
    let required = ["CI", "RTPBOLT_REQUIRE_DPDK"]
        .iter()
        .any(|v| std::env::var(v).is_ok_and(|s| !s.is_empty() && s != "0" && s != "false"));
    assert!(
        !required,
        "DPDK wrapper test required here but root={root}, net_ring driver={ring_pmd}"
    );
    eprintln!("skipping: needs root and DPDK's net_ring driver");
    false
}

/// A frame of `len` bytes whose byte i is `seed + i`.
fn pattern(seed: u8, len: usize) -> Vec<u8> {
    (0..len).map(|i| seed.wrapping_add(i as u8)).collect()
}

#[test]
fn wrapper_moves_mbufs_through_a_ring_port() {
    if !runnable() {
        return;
    }
    let prefix = format!("--file-prefix=rtpbolt-ffi-{}", std::process::id());
    let eal = Eal::init(&[
        "--no-pci",
        "--no-huge",
        "-m",
        "128",
        // --in-memory is not for --no-huge; this keeps its runtime files away too.
        "--no-shconf",
        "-l",
        "0",
        &prefix,
        "--vdev=net_ring0",
    ])
    .expect("EAL init");
    assert!(matches!(
        Eal::init(&["--no-pci"]),
        Err(DpdkError::AlreadyInitialised)
    ));
    assert_eq!(eal.port_count(), 1);
    assert!(eal.port_exists(0) && !eal.port_exists(7));
    assert_eq!(eal.port_by_name("net_ring0").unwrap(), 0);
    assert!(matches!(
        eal.port_by_name("net_ring9"),
        Err(DpdkError::NoSuchPort { .. })
    ));

    let pool = eal.pktmbuf_pool("ffi_test", 2047, 0).expect("pool");
    let full = pool.available();
    assert_eq!(full, 2047);
    let cfg = PortConfig {
        queues: 2,
        rx_desc: 256,
        tx_desc: 256,
        rss: true,
        allmulticast: false,
    };
    assert!(matches!(
        Port::configure(&eal, 9, &cfg, &pool),
        Err(DpdkError::BadPort { port: 9 })
    ));
    let mut port = Port::configure(&eal, 0, &cfg, &pool).expect("configure");
    assert_eq!(port.name(), "net_ring0");
    port.mac().expect("MAC");
    port.start().expect("start");
    {
        let mut queues = port.queues();
        assert_eq!(queues.len(), 2);
        let q = &mut queues[1];

        // Frames written into fresh mbufs come back through the ring byte for byte.
        let mut tx = Burst::default();
        for i in 0..4u8 {
            let mut m = pool.alloc().expect("mbuf");
            m.set_data(HEADROOM, 60 + usize::from(i)).unwrap();
            let d = m.data().expect("single segment");
            assert_eq!((d.off, d.len), (HEADROOM, 60 + usize::from(i)));
            d.buf[d.off..d.off + d.len].copy_from_slice(&pattern(i, d.len));
            tx.push(m).map_err(drop).unwrap();
        }
        assert_eq!(q.tx(&mut tx).sent, 4);
        assert!(tx.is_empty());
        let mut rx = Burst::default();
        assert_eq!(q.rx(&mut rx), 4);
        for (i, m) in rx.mbufs_mut().iter_mut().enumerate() {
            let m = m.as_mut().expect("received");
            let d = m.data().expect("single segment");
            assert_eq!(
                &d.buf[d.off..d.off + d.len],
                pattern(i as u8, 60 + i).as_slice()
            );
        }

        // A rewrite that moves the frame start into the headroom (IPv4 → IPv6 grows
        // the headers) is what goes out next.
        let mut m = rx.take(0).unwrap();
        let d = m.data().unwrap();
        let (off, len) = (d.off - 20, d.len + 20);
        d.buf[off..off + 20].fill(0xee);
        m.set_data(off, len).unwrap();
        assert!(matches!(
            m.set_data(HEADROOM, 1 << 20),
            Err(DpdkError::FrameOutOfBuffer { .. })
        ));
        assert_eq!(m.pkt_len(), len);
        tx.push(m).map_err(drop).unwrap();
        assert_eq!(q.tx(&mut tx).sent, 1);
        rx.clear();
        assert_eq!(q.rx(&mut rx), 1);
        let m = rx.mbufs_mut()[0].as_mut().unwrap();
        let d = m.data().unwrap();
        assert_eq!((d.off, d.len), (off, len));
        assert_eq!(&d.buf[d.off..d.off + 20], &[0xee; 20]);
        assert_eq!(&d.buf[d.off + 20..d.off + d.len], pattern(0, 60).as_slice());
        rx.clear();

        // Taken slots leave gaps; tx closes them rather than handing DPDK a NULL.
        for _ in 0..3 {
            tx.push(pool.alloc().unwrap()).map_err(drop).unwrap();
        }
        assert_eq!(q.rx(&mut rx), 0);
        let mut gap = Burst::default();
        for _ in 0..3 {
            gap.push(pool.alloc().unwrap()).map_err(drop).unwrap();
        }
        drop(gap.take(1));
        assert_eq!(q.tx(&mut gap).sent, 2);
        assert_eq!(q.tx(&mut tx).sent, 3);
        assert_eq!(q.rx(&mut rx), 5);
        rx.clear();

        // The ring holds 1023: sending more is refused, counted and the rest freed.
        let (mut sent, mut dropped) = (0, 0);
        for _ in 0..40 {
            for _ in 0..BURST {
                tx.push(pool.alloc().unwrap()).map_err(drop).unwrap();
            }
            assert_eq!(tx.len(), BURST);
            let r = q.tx(&mut tx);
            (sent, dropped) = (sent + r.sent, dropped + r.dropped);
        }
        assert_eq!(sent + dropped, 40 * BURST);
        assert!(dropped > 0 && sent < 1024, "sent {sent}, dropped {dropped}");
        let mut drained = 0;
        while q.rx(&mut rx) > 0 {
            drained += rx.len();
            rx.clear();
        }
        assert_eq!(drained, sent);
    }
    // Every mbuf is back: nothing the wrapper dropped or failed to send leaked.
    assert_eq!(pool.available(), full, "mbufs leaked");

    // Hot-plug, as the data plane does for its exception TAP.
    eal.probe("net_ring1").expect("hot-plug");
    assert_eq!(eal.port_by_name("net_ring1").unwrap(), 1);
    assert_eq!(eal.port_count(), 2);
    assert!(matches!(
        eal.probe("net_nosuchdriver0"),
        Err(DpdkError::Call { .. })
    ));

    port.stop().expect("stop");
    drop(port);
    drop(eal);
}
