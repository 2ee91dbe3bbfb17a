//! ns per packet for what a relay does with SRTP: unprotect with the caller's key and
//! protect again with the callee's (`relay`), and protect alone (`protect`), for a
//! 12-byte header and a 160-byte payload (20 ms of G.711).
//!
//! `relay` copies the 182-byte packet back into the buffer and resets the receiver's
//! 24-byte state each round, so that the same packet authenticates again instead of
//! being a replay; that copy is part of the figure.
//!
//! What bounds the HMAC suites: HMAC-SHA1 over 172 bytes plus the ROC is four SHA-1
//! compressions, and with SHA-NI one compression is a chain of dependent rounds
//! (about 110 cycles, 52 ns at 2 GHz), so a relay's two tags cost some 420 ns before any
//! AES. Going below that needs two SHA-1 streams interleaved (the incoming tag's and the
//! outgoing one's), which the RustCrypto `sha1` API does not offer. For AES-GCM the
//! bound is `polyval` 0.6 multiplying one block at a time, about 12 ns a block.

use criterion::{black_box, criterion_group, criterion_main, Criterion, Throughput};
use srtp::{MasterKey, RtpStreamState, SessionFlags, SrtpSession, SrtpSuite};

const HEADER_LEN: usize = 12;
const PAYLOAD_LEN: usize = 160;
const RTP_LEN: usize = HEADER_LEN + PAYLOAD_LEN;

fn session(suite: SrtpSuite, fill: u8) -> SrtpSession {
    let material = [fill; 46];
    let master = MasterKey::from_inline(
        suite,
        &material[..suite.master_key_len() + suite.master_salt_len()],
    )
    .expect("key length");
    SrtpSession::new(&master, SessionFlags::default()).expect("session")
}

fn rtp_packet() -> [u8; 256] {
    let mut buf = [0u8; 256];
    buf[..HEADER_LEN].copy_from_slice(&[
        0x80, 0x00, 0x12, 0x34, 0, 0, 0x0a, 0x00, 0xca, 0xfe, 0xba, 0xbe,
    ]);
    for (i, byte) in buf[HEADER_LEN..RTP_LEN].iter_mut().enumerate() {
        *byte = i as u8;
    }
    buf
}

fn bench_suites(c: &mut Criterion) {
    // RustCrypto picks AES-NI, SHA-NI and PCLMULQDQ at run time from these CPUID bits;
    // without them the figures are the portable code's.
    #[cfg(target_arch = "x86_64")]
    eprintln!(
        "aes: {}, sha: {}, pclmulqdq: {}",
        std::is_x86_feature_detected!("aes"),
        std::is_x86_feature_detected!("sha"),
        std::is_x86_feature_detected!("pclmulqdq"),
    );
    for suite in [
        SrtpSuite::AesCm128HmacSha1_80,
        SrtpSuite::Aes256CmHmacSha1_80,
        SrtpSuite::AeadAes128Gcm,
    ] {
        let caller = session(suite, 0x11);
        let callee = session(suite, 0x22);
        let mut group = c.benchmark_group(suite.name());
        group.throughput(Throughput::Elements(1));

        let mut sender = RtpStreamState::default();
        let mut wire = rtp_packet();
        let wire_len = caller
            .protect_rtp(&mut sender, &mut wire, RTP_LEN)
            .expect("protect");
        let receiver_before = RtpStreamState::default();
        let mut buf = wire;
        let mut forward = RtpStreamState::default();
        group.bench_function("relay", |b| {
            b.iter(|| {
                buf[..wire_len].copy_from_slice(&wire[..wire_len]);
                let mut receiver = receiver_before;
                let len = caller
                    .unprotect_rtp(&mut receiver, &mut buf[..wire_len])
                    .expect("unprotect");
                let len = callee
                    .protect_rtp(&mut forward, &mut buf, len)
                    .expect("protect");
                black_box(len)
            })
        });

        let mut buf = rtp_packet();
        let mut sender = RtpStreamState::default();
        group.bench_function("protect", |b| {
            b.iter(|| {
                black_box(
                    caller
                        .protect_rtp(&mut sender, &mut buf, RTP_LEN)
                        .expect("protect"),
                )
            })
        });
        group.finish();
    }
}

criterion_group!(benches, bench_suites);
criterion_main!(benches);
