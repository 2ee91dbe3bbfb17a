//! Known answers from libsrtp (through pylibsrtp, see fixtures/generate_libsrtp.py): we
//! must protect each packet to the same bytes libsrtp did, and unprotect libsrtp's.

use std::collections::HashMap;
use std::path::Path;

use srtp::{MasterKey, RtcpStreamState, RtpStreamState, SessionFlags, SrtpSession, SrtpSuite};

struct Fixture {
    name: String,
    master: MasterKey,
    flags: SessionFlags,
    /// (is RTCP, plain, protected by libsrtp)
    packets: Vec<(bool, Vec<u8>, Vec<u8>)>,
}

fn unhex(text: &str) -> Vec<u8> {
    hex::decode(text).expect("fixture hex")
}

fn load(path: &Path) -> Fixture {
    let text = std::fs::read_to_string(path).expect("fixture readable");
    let mut suite = None;
    let mut key_salt = None;
    let mut flags = SessionFlags::default();
    let mut packets = Vec::new();
    for line in text.lines().filter(|line| !line.starts_with('#')) {
        let fields: Vec<&str> = line.split_whitespace().collect();
        match fields.as_slice() {
            ["suite", name] => suite = SrtpSuite::from_name(name),
            ["key_salt", hex] => key_salt = Some(unhex(hex)),
            ["param", "UNENCRYPTED_SRTP"] => flags.unencrypted_srtp = true,
            ["param", "UNENCRYPTED_SRTCP"] => flags.unencrypted_srtcp = true,
            ["param", "UNAUTHENTICATED_SRTP"] => flags.unauthenticated_srtp = true,
            [kind @ ("rtp" | "rtcp"), plain, protected] => {
                packets.push((*kind == "rtcp", unhex(plain), unhex(protected)))
            }
            _ => panic!("{}: unexpected line {line:?}", path.display()),
        }
    }
    let suite = suite.expect("fixture names a suite");
    let master = MasterKey::from_inline(suite, &key_salt.expect("fixture has a key"))
        .expect("fixture key length");
    Fixture {
        name: path.display().to_string(),
        master,
        flags,
        packets,
    }
}

fn fixtures() -> Vec<Fixture> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
    let mut paths: Vec<_> = std::fs::read_dir(&dir)
        .expect("fixtures directory")
        .map(|entry| entry.expect("fixture entry").path())
        .filter(|path| {
            path.file_name()
                .and_then(|name| name.to_str())
                .is_some_and(|name| name.starts_with("libsrtp_") && name.ends_with(".txt"))
        })
        .collect();
    paths.sort();
    paths.iter().map(|path| load(path)).collect()
}

fn ssrc(packet: &[u8], is_rtcp: bool) -> u32 {
    let at = if is_rtcp { 4 } else { 8 };
    u32::from_be_bytes(packet[at..at + 4].try_into().expect("4 bytes"))
}

#[test]
fn byte_identical_to_libsrtp_both_ways() {
    let fixtures = fixtures();
    assert!(fixtures.len() >= 10, "fixtures missing: {}", fixtures.len());
    for fixture in fixtures {
        let session = SrtpSession::new(&fixture.master, fixture.flags).expect("session");
        let mut rtp_senders: HashMap<u32, RtpStreamState> = HashMap::new();
        let mut rtp_receivers: HashMap<u32, RtpStreamState> = HashMap::new();
        // libsrtp's first SRTCP index is 1.
        let mut rtcp_senders: HashMap<u32, RtcpStreamState> = HashMap::new();
        let mut rtcp_receivers: HashMap<u32, RtcpStreamState> = HashMap::new();
        for (number, (is_rtcp, plain, theirs)) in fixture.packets.iter().enumerate() {
            let what = format!("{} packet {number}", fixture.name);
            let ssrc = ssrc(plain, *is_rtcp);
            let mut buf = plain.clone();
            buf.resize(plain.len() + 64, 0);
            let len = if *is_rtcp {
                let sender = rtcp_senders.entry(ssrc).or_insert(RtcpStreamState::new(1));
                session.protect_rtcp(sender, &mut buf, plain.len())
            } else {
                let sender = rtp_senders.entry(ssrc).or_default();
                session.protect_rtp(sender, &mut buf, plain.len())
            }
            .unwrap_or_else(|error| panic!("{what}: protect: {error}"));
            assert_eq!(
                hex::encode(&buf[..len]),
                hex::encode(theirs),
                "{what}: protect"
            );

            let mut buf = theirs.clone();
            let len = if *is_rtcp {
                session.unprotect_rtcp(rtcp_receivers.entry(ssrc).or_default(), &mut buf)
            } else {
                session.unprotect_rtp(rtp_receivers.entry(ssrc).or_default(), &mut buf)
            }
            .unwrap_or_else(|error| panic!("{what}: unprotect: {error}"));
            assert_eq!(
                hex::encode(&buf[..len]),
                hex::encode(plain),
                "{what}: unprotect"
            );
        }
        let roc = rtp_receivers.get(&0x1234_5678).map(RtpStreamState::roc);
        assert_eq!(
            roc,
            Some(1),
            "{}: the sequence numbers wrapped",
            fixture.name
        );
    }
}
