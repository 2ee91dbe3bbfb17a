//! Call-model tests on a fake clock: offer/answer, latching, forks,
//! deletes and timeouts, against a real flow table (memfd) and a port
//! allocator that hands out numbers without sockets.

use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant, SystemTime};

use shared_tables::{FlowKey, FlowTable, SrcMismatch};

use super::*;
use crate::ng::{Dict, NgRequest, Value};

/// Hands out sequential even ports in a small range; records releases.
struct CountingPorts {
    next: u16,
    max: u16,
    released: std::sync::Arc<std::sync::Mutex<Vec<SocketAddr>>>,
    reserved: std::sync::Arc<std::sync::Mutex<Vec<SocketAddr>>>,
}

impl PortAllocator for CountingPorts {
    fn allocate_pair(&mut self, _ip: IpAddr) -> Result<u16, CallError> {
        if self.next + 1 > self.max {
            return Err(CallError::OutOfPorts);
        }
        let p = self.next;
        self.next += 2;
        Ok(p)
    }
    fn release_pair(&mut self, rtp: SocketAddr) {
        self.released.lock().unwrap().push(rtp);
    }
    fn reserve_pair(&mut self, rtp: SocketAddr) {
        self.reserved.lock().unwrap().push(rtp);
    }
    fn unreserve_pair(&mut self, rtp: SocketAddr) {
        self.reserved.lock().unwrap().retain(|r| *r != rtp);
    }
}

struct Harness {
    reg: CallRegistry,
    _table: FlowTable,
    released: std::sync::Arc<std::sync::Mutex<Vec<SocketAddr>>>,
    reserved: std::sync::Arc<std::sync::Mutex<Vec<SocketAddr>>>,
    now: Instant,
    wall: SystemTime,
}

fn sdp(ip: &str, port: u16) -> String {
    format!(
        "v=0\r\no=- 1 1 IN IP4 {ip}\r\ns=-\r\nc=IN IP4 {ip}\r\nt=0 0\r\nm=audio {port} RTP/AVP 0 8\r\na=sendrecv\r\n"
    )
}

fn req(pairs: &[(&'static str, Value)]) -> NgRequest {
    let mut d = Dict::new();
    for (k, v) in pairs {
        d.insert(*k, v.clone());
    }
    NgRequest::from_value(&Value::Dict(d)).expect("valid request")
}

fn m_port(sdp: &[u8]) -> u16 {
    let s = String::from_utf8_lossy(sdp);
    let line = s
        .lines()
        .find(|l| l.starts_with("m=audio "))
        .expect("m= line");
    line.split(' ').nth(1).unwrap().parse().unwrap()
}

const RELAY: &str = "127.0.0.1";

impl Harness {
    fn new(max_port: u16, settings: Settings) -> Harness {
        Harness::with_table(FlowTable::create(1024).unwrap(), max_port, settings)
    }

    /// A registry on `table`, which may already hold another registry's entries.
    fn with_table(table: FlowTable, max_port: u16, settings: Settings) -> Harness {
        let released = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let reserved = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let ports = CountingPorts {
            next: 30000,
            max: max_port,
            released: released.clone(),
            reserved: reserved.clone(),
        };
        let ifs = Interfaces::new([("default".to_string(), RELAY.parse().unwrap(), None)]);
        let wall = SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000);
        Harness {
            reg: CallRegistry::new(
                ifs,
                settings,
                table.writer().unwrap(),
                Box::new(ports),
                wall,
            ),
            _table: table,
            released,
            reserved,
            now: Instant::now(),
            wall,
        }
    }

    fn advance(&mut self, d: Duration) {
        self.now += d;
        self.wall += d;
    }

    fn offer(
        &mut self,
        call: &str,
        from: &str,
        sdp: &str,
        flags: &[&str],
    ) -> Result<Vec<u8>, CallError> {
        let flags: Vec<Value> = flags.iter().map(|f| Value::from(*f)).collect();
        let r = req(&[
            ("command", "offer".into()),
            ("call-id", call.into()),
            ("from-tag", from.into()),
            ("sdp", sdp.into()),
            ("flags", flags.into()),
        ]);
        self.reg.offer(self.now, self.wall, &r)
    }

    fn answer(
        &mut self,
        call: &str,
        from: &str,
        to: &str,
        sdp: &str,
    ) -> Result<Vec<u8>, CallError> {
        let r = req(&[
            ("command", "answer".into()),
            ("call-id", call.into()),
            ("from-tag", from.into()),
            ("to-tag", to.into()),
            ("sdp", sdp.into()),
        ]);
        self.reg.answer(self.now, self.wall, &r)
    }

    fn packet(&mut self, to_port: u16, from: &str, data: &[u8]) -> Option<Transmit> {
        let local: SocketAddr = format!("{RELAY}:{to_port}").parse().unwrap();
        let src: SocketAddr = from.parse().unwrap();
        self.reg
            .handle_packet(self.now, self.wall, local, src, data)
    }

    fn flow(&self, port: u16) -> Option<shared_tables::FlowAction> {
        let key = FlowKey::new(format!("{RELAY}:{port}").parse().unwrap());
        self.reg.table.get(&key).map(|(_, a)| a)
    }
}

const RTP: [u8; 12] = [0x80, 0, 0, 1, 0, 0, 0, 160, 0, 0, 0, 7];

/// Offer from 10.0.0.1:4000, answer from 10.0.0.2:5000: returns the ports
/// (towards callee, towards caller).
fn basic_call(h: &mut Harness, call: &str) -> (u16, u16) {
    let to_callee = m_port(&h.offer(call, "ft", &sdp("10.0.0.1", 4000), &[]).unwrap());
    let to_caller = m_port(&h.answer(call, "ft", "tt", &sdp("10.0.0.2", 5000)).unwrap());
    (to_callee, to_caller)
}

#[test]
fn offer_answer_rewrites_to_our_ports_and_reoffer_keeps_them() {
    let mut h = Harness::new(30100, Settings::default());
    let (b_port, a_port) = basic_call(&mut h, "c1");
    assert_ne!(b_port, a_port);
    assert!(b_port % 2 == 0 && a_port % 2 == 0);
    let again = m_port(&h.offer("c1", "ft", &sdp("10.0.0.1", 4000), &[]).unwrap());
    assert_eq!(again, b_port, "a re-offer keeps the callee-facing port");
    assert_eq!(h.reg.call_count(), 1);
}

#[test]
fn packets_punt_until_confirmed_then_the_table_forwards() {
    let mut h = Harness::new(30100, Settings::default());
    let (b_port, a_port) = basic_call(&mut h, "c1");
    // No entry before the endpoint is confirmed: packets come to us.
    assert!(h.flow(a_port).is_none());
    // The caller is behind NAT: it sends from elsewhere than its SDP said.
    let tx = h.packet(a_port, "192.0.2.9:7000", &RTP).expect("relayed");
    assert_eq!(tx.to, "10.0.0.2:5000".parse().unwrap());
    assert_eq!(tx.from.port(), b_port);
    // The callee's media now goes to the learned address.
    let back = h
        .packet(b_port, "10.0.0.2:5000", &RTP)
        .expect("relayed back");
    assert_eq!(back.to, "192.0.2.9:7000".parse().unwrap());
    assert!(h.flow(a_port).is_none(), "still learning");
    // After the learning window the next packets confirm and program flows.
    h.advance(Duration::from_secs(5));
    h.packet(a_port, "192.0.2.9:7000", &RTP).expect("relayed");
    h.packet(b_port, "10.0.0.2:5000", &RTP).expect("relayed");
    let fwd = h.flow(a_port).expect("caller flow programmed");
    assert_eq!(fwd.dst, "10.0.0.2:5000".parse().unwrap());
    assert_eq!(fwd.src.port(), b_port);
    assert_eq!(
        fwd.expected_src, None,
        "no source check without strict-source"
    );
    let rev = h.flow(b_port).expect("callee flow programmed");
    assert_eq!(rev.dst, "192.0.2.9:7000".parse().unwrap());
}

#[test]
fn strict_source_drops_and_counts_other_sources_once_confirmed() {
    let mut h = Harness::new(30100, Settings::default());
    let b_port = m_port(
        &h.offer("c1", "ft", &sdp("10.0.0.1", 4000), &["strict-source"])
            .unwrap(),
    );
    let a_port = m_port(&h.answer("c1", "ft", "tt", &sdp("10.0.0.2", 5000)).unwrap());
    let _ = b_port;
    h.advance(Duration::from_secs(5));
    assert!(h.packet(a_port, "10.0.0.1:4000", &RTP).is_some());
    assert!(h.packet(a_port, "198.51.100.1:4000", &RTP).is_none());
    let flow = h.flow(a_port).expect("programmed");
    assert_eq!(flow.expected_src, Some("10.0.0.1:4000".parse().unwrap()));
    assert_eq!(flow.src_mismatch, SrcMismatch::Drop);
    let q = h
        .reg
        .query(
            h.now,
            &req(&[("command", "query".into()), ("call-id", "c1".into())]),
        )
        .unwrap();
    let errors = q
        .get("totals")
        .and_then(Value::as_dict)
        .and_then(|t| t.get("RTP"))
        .and_then(Value::as_dict)
        .and_then(|r| r.get("errors"))
        .and_then(Value::as_int);
    assert_eq!(errors, Some(1));
}

#[test]
fn malformed_packets_are_dropped_and_counted() {
    let mut h = Harness::new(30100, Settings::default());
    let (_, a_port) = basic_call(&mut h, "c1");
    assert!(h.packet(a_port, "10.0.0.1:4000", &[1, 2, 3]).is_none());
    assert!(h.packet(a_port, "10.0.0.1:4000", &[0u8; 40]).is_none());
    assert_eq!(h.reg.totals().malformed_packets, 2);
}

#[test]
fn forked_answer_gets_new_ports_on_both_sides() {
    let mut h = Harness::new(30100, Settings::default());
    let (b_port, a_port) = basic_call(&mut h, "c1");
    let a2 = m_port(&h.answer("c1", "ft", "t2", &sdp("10.0.0.3", 6000)).unwrap());
    assert_ne!(a2, a_port, "the offerer faces the new branch on new ports");
    assert!(h
        .released
        .lock()
        .unwrap()
        .iter()
        .any(|r| r.port() == a_port));
    // The first branch still reaches the offerer through its offer port.
    h.advance(Duration::from_secs(5));
    let tx = h
        .packet(b_port, "10.0.0.2:5000", &RTP)
        .expect("first branch relayed");
    assert_eq!(tx.to, "10.0.0.1:4000".parse().unwrap());
    assert_eq!(tx.from.port(), a2);
}

#[test]
fn rejected_stream_has_no_ports() {
    let mut h = Harness::new(30100, Settings::default());
    let two = "v=0\r\no=- 1 1 IN IP4 10.0.0.1\r\ns=-\r\nc=IN IP4 10.0.0.1\r\nt=0 0\r\nm=audio 4000 RTP/AVP 0\r\nm=video 0 RTP/AVP 96\r\n";
    let out = h.offer("c1", "ft", two, &[]).unwrap();
    let s = String::from_utf8(out).unwrap();
    assert!(s.contains("m=video 0 "), "{s}");
}

#[test]
fn delete_immediately_or_after_the_delay() {
    let mut h = Harness::new(30100, Settings::default());
    basic_call(&mut h, "now");
    basic_call(&mut h, "later");
    let del = |call: &str, delay: i64| {
        req(&[
            ("command", "delete".into()),
            ("call-id", call.into()),
            ("from-tag", "ft".into()),
            ("delete-delay", delay.into()),
        ])
    };
    let now = h.now;
    assert!(matches!(
        h.reg.delete(now, &del("now", 0)),
        Ok(DeleteOutcome::Deleted(Some(_)))
    ));
    assert_eq!(h.reg.call_count(), 1);
    assert!(matches!(
        h.reg.delete(now, &del("later", 2)),
        Ok(DeleteOutcome::Deleted(_))
    ));
    assert_eq!(h.reg.call_count(), 1, "kept during delete-delay");
    h.advance(Duration::from_secs(3));
    let gone = h.reg.handle_timeout(h.now);
    assert_eq!(gone, vec!["later".to_string()]);
    assert!(matches!(
        h.reg.delete(h.now, &del("nope", 0)),
        Ok(DeleteOutcome::NotFound)
    ));
}

#[test]
fn idle_calls_time_out_and_active_ones_stay() {
    let settings = Settings {
        timeout: Duration::from_secs(10),
        ..Settings::default()
    };
    let mut h = Harness::new(30100, settings);
    basic_call(&mut h, "idle");
    let (_, a_port) = basic_call(&mut h, "busy");
    for _ in 0..4 {
        h.advance(Duration::from_secs(3));
        h.packet(a_port, "10.0.0.1:4000", &RTP);
        h.reg.handle_timeout(h.now);
    }
    assert_eq!(h.reg.list(None), vec!["busy".to_string()]);
    assert_eq!(h.reg.totals().timeout_sessions, 1);
}

#[test]
fn out_of_ports_is_an_error_and_the_call_is_not_half_made() {
    // Room for one call (two pairs): the second offer runs out half way.
    let mut h = Harness::new(30003, Settings::default());
    h.offer("c1", "ft", &sdp("10.0.0.1", 4000), &[]).unwrap();
    h.reg.ports = Box::new(CountingPorts {
        next: 30004,
        max: 30005,
        released: h.released.clone(),
        reserved: h.reserved.clone(),
    });
    let err = h
        .offer("c2", "ft", &sdp("10.0.0.1", 4000), &[])
        .unwrap_err();
    assert_eq!(err.to_string(), "Ran out of ports");
    assert_eq!(h.reg.list(None), vec!["c1".to_string()]);
    assert!(
        h.released.lock().unwrap().iter().any(|r| r.port() == 30004),
        "the pair the failed offer got is released"
    );
}

/// What a daemon restarted on the same `--flow-table` does with the entries of the calls
/// its predecessor set up: keeps them untouched and their ports reserved while the data
/// plane's counters show media, then removes them `timeout` after the last packet.
#[test]
fn a_restarted_registry_adopts_the_previous_ones_flows_then_expires_them() {
    let settings = Settings {
        timeout: Duration::from_secs(10),
        ..Settings::default()
    };
    let table = FlowTable::create(1024).unwrap();
    let same_table = || FlowTable::attach_fd(table.fd().try_clone_to_owned().unwrap()).unwrap();
    let mut old = Harness::with_table(same_table(), 30100, settings.clone());
    let (b_port, a_port) = basic_call(&mut old, "c1");
    old.advance(Duration::from_secs(5));
    old.packet(a_port, "10.0.0.1:4000", &RTP).expect("relayed");
    old.packet(b_port, "10.0.0.2:5000", &RTP).expect("relayed");
    let entries = |h: &Harness| {
        let mut e: Vec<_> = h
            .reg
            .table
            .entries()
            .into_iter()
            .map(|(k, a, _)| (k.local(), a))
            .collect();
        e.sort_by_key(|(k, _)| *k);
        e
    };
    let before = entries(&old);
    assert_eq!(before.len(), 2, "both RTP directions programmed");
    drop(old);

    let mut new = Harness::with_table(same_table(), 30100, settings);
    let groups = new.reg.adopt_orphans(new.now).to_vec();
    assert_eq!(groups.len(), 1, "one call's flows: {groups:?}");
    let relay = |p: u16| -> SocketAddr { format!("{RELAY}:{p}").parse().unwrap() };
    let mut want = vec![relay(a_port), relay(b_port)];
    want.sort();
    assert_eq!(groups[0].pairs, want);
    assert_eq!(*new.reserved.lock().unwrap(), want);
    assert_eq!(entries(&new), before, "adoption rewrites nothing");
    assert_eq!(new.reg.orphan_counts(), (2, 2, 0));
    let stats = new.reg.statistics(new.now, new.wall, &[]);
    let stat = |section: &str, key: &str| {
        stats
            .get("statistics")
            .and_then(Value::as_dict)
            .and_then(|d| d.get(section))
            .and_then(Value::as_dict)
            .and_then(|d| d.get(key))
            .and_then(Value::as_int)
    };
    assert_eq!(stat("currentstatistics", "orphanedflows"), Some(2));
    assert_eq!(stat("totalstatistics", "orphanedflowsadopted"), Some(2));

    // The data plane counts a packet on one direction only, stamped on its own clock.
    let r = table.reader();
    let (id, _) = r.lookup(&FlowKey::new(relay(a_port))).unwrap();
    let stamp = |ago: u64| shared_tables::monotonic_now() - Duration::from_secs(ago);
    for _ in 0..3 {
        new.advance(Duration::from_secs(6));
        r.record(id, 1, 172, 0, stamp(1));
        assert!(
            new.reg.handle_timeout(new.now).is_empty(),
            "no calls to end"
        );
        assert_eq!(new.reg.orphan_counts().0, 2, "media flows: kept");
    }
    r.record(id, 1, 172, 0, stamp(9));
    new.reg.handle_timeout(new.now);
    assert_eq!(new.reg.orphan_counts().0, 2, "9 s idle < 10 s timeout");
    r.record(id, 1, 172, 0, stamp(11));
    new.reg.handle_timeout(new.now);
    assert_eq!(new.reg.orphan_counts(), (0, 2, 2));
    assert!(entries(&new).is_empty());
    assert!(new.reserved.lock().unwrap().is_empty(), "ports given back");
}

/// Fills every key with one counter value, counting up: key N is all N.
struct CountingKeys(u8);

impl crate::sdes::KeySource for CountingKeys {
    fn fill(&mut self, buf: &mut [u8]) -> Result<(), crate::sdes::KeyError> {
        buf.fill(self.0);
        self.0 = self.0.wrapping_add(1);
        Ok(())
    }
}

fn srtp_sdp(ip: &str, port: u16, proto: &str, cryptos: &[&str]) -> String {
    let mut s = format!(
        "v=0\r\no=- 1 1 IN IP4 {ip}\r\ns=-\r\nc=IN IP4 {ip}\r\nt=0 0\r\nm=audio {port} {proto} 0 8\r\n"
    );
    for c in cryptos {
        s.push_str(&format!("a=crypto:{c}\r\n"));
    }
    s
}

/// 30 bytes of `b`, base64: an AES_CM_128 key||salt.
fn key30(b: u8) -> String {
    crate::sdp::base64::encode(&[b; 30], false)
}

fn exchange(
    h: &mut Harness,
    cmd: &'static str,
    sdp: &str,
    extra: &[(&'static str, Value)],
) -> String {
    let mut pairs = vec![
        ("command", Value::from(cmd)),
        ("call-id", "s1".into()),
        ("from-tag", "ft".into()),
        ("sdp", sdp.into()),
    ];
    if cmd == "answer" {
        pairs.push(("to-tag", "tt".into()));
    }
    pairs.extend_from_slice(extra);
    let r = req(&pairs);
    let out = if cmd == "offer" {
        h.reg.offer(h.now, h.wall, &r)
    } else {
        h.reg.answer(h.now, h.wall, &r)
    };
    String::from_utf8(out.expect("exchange")).unwrap()
}

fn media_of(h: &Harness, ml: usize) -> &model::MediaLeg {
    &h.reg.calls["s1"].monologues[ml].medias[0]
}

#[test]
fn rtp_to_srtp_records_the_callees_keys_per_direction() {
    let mut h = Harness::new(30100, Settings::default());
    h.reg.set_key_source(Box::new(CountingKeys(1)));
    let offer = exchange(
        &mut h,
        "offer",
        &sdp("10.0.0.1", 4000),
        &[("transport-protocol", "RTP/SAVP".into())],
    );
    assert!(offer.contains("RTP/SAVP 0 8\r\n"));
    assert_eq!(offer.matches("a=crypto:").count(), 12);
    // Tag 7 is AES_CM_128_HMAC_SHA1_80, the seventh key generated.
    assert!(offer.contains(&format!(
        "a=crypto:7 AES_CM_128_HMAC_SHA1_80 inline:{}\r\n",
        key30(7)
    )));
    let answer = exchange(
        &mut h,
        "answer",
        &srtp_sdp(
            "10.0.0.2",
            5000,
            "RTP/SAVP",
            &[&format!("7 AES_CM_128_HMAC_SHA1_80 inline:{}", key30(0xb0))],
        ),
        &[],
    );
    assert!(answer.contains("RTP/AVP 0 8\r\n") && !answer.contains("a=crypto"));

    let caller = media_of(&h, 0);
    assert_eq!(
        caller.transport,
        Some(crate::sdp::TransportProtocol::RtpAvp)
    );
    let c = caller.crypto();
    assert!(!c.srtp && c.from_party.is_none() && c.to_party.is_none());
    let callee = media_of(&h, 1);
    let c = callee.crypto();
    assert!(c.srtp);
    // We decrypt the callee's packets with the key it answered with ...
    let from = c.from_party.expect("callee's key");
    assert_eq!((from.tag, from.key_salt.as_slice()), (7, &[0xb0; 30][..]));
    // ... and encrypt ours to it with the key we offered under that tag.
    let to = c.to_party.expect("our key");
    assert_eq!((to.tag, to.key_salt.as_slice()), (7, &[7u8; 30][..]));
    assert_eq!(
        callee.rtp.crypto_suite,
        Some(crate::sdes::SrtpSuite::AesCm128HmacSha1_80)
    );
}

#[test]
fn srtp_passthrough_gives_each_side_the_others_key() {
    let mut h = Harness::new(30100, Settings::default());
    h.reg.set_key_source(Box::new(CountingKeys(1)));
    let a_line = format!("1 AES_CM_128_HMAC_SHA1_80 inline:{}", key30(0xa0));
    let offer = exchange(
        &mut h,
        "offer",
        &srtp_sdp("10.0.0.1", 4000, "RTP/SAVP", &[&a_line]),
        &[],
    );
    assert!(offer.contains(&format!("a=crypto:{a_line}\r\n")), "{offer}");
    let b_line = format!("1 AES_CM_128_HMAC_SHA1_80 inline:{}", key30(0xb0));
    let answer = exchange(
        &mut h,
        "answer",
        &srtp_sdp("10.0.0.2", 5000, "RTP/SAVP", &[&b_line]),
        &[],
    );
    assert!(
        answer.contains(&format!("a=crypto:{b_line}\r\n")),
        "{answer}"
    );
    let (a, b) = (media_of(&h, 0).crypto(), media_of(&h, 1).crypto());
    // What one side sends, the other receives unchanged: no re-encryption.
    assert_eq!(a.from_party, b.to_party);
    assert_eq!(b.from_party, a.to_party);
    assert_eq!(a.from_party.unwrap().key_salt, [0xa0; 30]);
}

#[test]
fn malformed_crypto_lines_are_errors_that_change_nothing() {
    let mut h = Harness::new(30100, Settings::default());
    let key = "aXaDkJ2qt8TR3uv4BRIfLDlGU2BteoeUoa67yNXi";
    let good = format!("1 AES_CM_128_HMAC_SHA1_80 inline:{key}");
    let offer = h
        .offer(
            "s1",
            "ft",
            &srtp_sdp("10.0.0.1", 4000, "RTP/SAVP", &[&good]),
            &[],
        )
        .expect("a good line");
    let port = m_port(&offer);
    for bad in [
        format!("1 FOO_BAR inline:{key}"),
        "2 AES_CM_128_HMAC_SHA1_80 inline:!!!!".to_string(),
        format!("3 AES_CM_128_HMAC_SHA1_80 inline:{}", &key[..30]),
        format!("4 AES_CM_128_HMAC_SHA1_80 uri:{key}"),
    ] {
        for call in ["s1", "c2"] {
            let sdp = srtp_sdp("10.0.0.1", 4002, "RTP/SAVP", &[&good, &bad]);
            match h.offer(call, "ft", &sdp, &[]) {
                Err(e @ CallError::BadCrypto { media: 1, .. }) => {
                    assert!(e.to_string().contains(&format!("a=crypto:{bad}")), "{e}");
                }
                other => panic!("{bad}: {other:?}"),
            }
        }
    }
    assert_eq!(h.reg.call_count(), 1, "no call made by a refused offer");
    let caller = media_of(&h, 0);
    assert_eq!(caller.sdes.offered.len(), 1, "the call keeps its keys");
    assert_eq!(caller.rtp.advertised_endpoint.map(|e| e.port()), Some(4000));
    // Well-formed lines rtpengine cannot use are still ignored, and a line of
    // two tokens is not a crypto attribute: copied.
    let sdp = srtp_sdp(
        "10.0.0.1",
        4000,
        "RTP/SAVP",
        &[
            &good,
            &format!("5 AES_CM_128_HMAC_SHA1_80 inline:{key};inline:{key}"),
            "6 AES_CM_128_HMAC_SHA1_80",
        ],
    );
    let again = String::from_utf8(h.offer("s1", "ft", &sdp, &[]).expect("usable lines")).unwrap();
    assert_eq!(m_port(again.as_bytes()), port);
    assert!(
        again.contains("a=crypto:6 AES_CM_128_HMAC_SHA1_80\r\n"),
        "{again}"
    );
}
