//! Feeds arbitrary bytes to SRTP and SRTCP unprotect for a spread of suites, session
//! parameters and MKIs: nothing may panic, a refused packet leaves the stream state as
//! it was, and anything accepted is no longer than what came in. The same bytes, taken
//! as plain RTP/RTCP, must survive protect then unprotect unchanged.
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use srtp::{MasterKey, RtcpStreamState, RtpStreamState, SessionFlags, SrtpSession, SrtpSuite};

/// Room for the longest trailer: E|index, a 4-byte MKI and a 16-byte tag.
const TRAILER_ROOM: usize = 24;

fn sessions() -> &'static [SrtpSession] {
    static SESSIONS: OnceLock<Vec<SrtpSession>> = OnceLock::new();
    SESSIONS.get_or_init(|| {
        let variants: [(SrtpSuite, Option<(u32, u8)>, SessionFlags); 8] = [
            (
                SrtpSuite::AesCm128HmacSha1_80,
                None,
                SessionFlags::default(),
            ),
            (
                SrtpSuite::AesCm128HmacSha1_32,
                Some((1, 4)),
                SessionFlags {
                    unencrypted_srtcp: true,
                    ..Default::default()
                },
            ),
            (
                SrtpSuite::Aes256CmHmacSha1_32,
                Some((7, 1)),
                SessionFlags {
                    unauthenticated_srtp: true,
                    ..Default::default()
                },
            ),
            (
                SrtpSuite::Aes192CmHmacSha1_80,
                None,
                SessionFlags::default(),
            ),
            (
                SrtpSuite::F8_128HmacSha1_80,
                None,
                SessionFlags {
                    unencrypted_srtp: true,
                    ..Default::default()
                },
            ),
            (
                SrtpSuite::NullHmacSha1_32,
                Some((0x0102, 2)),
                SessionFlags::default(),
            ),
            (SrtpSuite::AeadAes128Gcm, None, SessionFlags::default()),
            (
                SrtpSuite::AeadAes256Gcm,
                Some((3, 3)),
                SessionFlags {
                    unencrypted_srtcp: true,
                    ..Default::default()
                },
            ),
        ];
        variants
            .into_iter()
            .map(|(suite, mki, flags)| {
                let material = [0x5a; 46];
                let mut master = MasterKey::from_inline(
                    suite,
                    &material[..suite.master_key_len() + suite.master_salt_len()],
                )
                .expect("lengths from the suite");
                master.mki = mki;
                SrtpSession::new(&master, flags).expect("valid session")
            })
            .collect()
    })
}

fuzz_target!(|data: &[u8]| {
    let Some((&selector, packet)) = data.split_first() else {
        return;
    };
    let sessions = sessions();
    let session = &sessions[usize::from(selector) % sessions.len()];
    // A receiver that has seen packets already (ROC, highest sequence number and the
    // SRTCP index from the selector) or a fresh one.
    let seen = selector & 0x80 != 0;
    let rtp_before = if seen {
        RtpStreamState::new(u32::from(selector), u16::from(selector) << 8)
    } else {
        RtpStreamState::default()
    };
    let rtcp_before = RtcpStreamState::default();

    let mut rtp_state = rtp_before;
    let mut buf = packet.to_vec();
    match session.unprotect_rtp(&mut rtp_state, &mut buf) {
        Ok(len) => assert!(len <= packet.len()),
        Err(_) => assert_eq!(rtp_state, rtp_before),
    }
    let mut rtcp_state = rtcp_before;
    let mut buf = packet.to_vec();
    match session.unprotect_rtcp(&mut rtcp_state, &mut buf) {
        Ok(len) => assert!(len <= packet.len()),
        Err(_) => assert_eq!(rtcp_state, rtcp_before),
    }

    // The bytes as plain packets: whatever protects must unprotect to the same bytes
    // (fresh states on both sides, so that the receiver's window cannot refuse it).
    let mut buf = packet.to_vec();
    buf.resize(packet.len() + TRAILER_ROOM, 0);
    let mut sender = RtpStreamState::default();
    if let Ok(len) = session.protect_rtp(&mut sender, &mut buf, packet.len()) {
        let mut receiver = RtpStreamState::default();
        let plain_len = session
            .unprotect_rtp(&mut receiver, &mut buf[..len])
            .expect("what we protect unprotects");
        assert_eq!(&buf[..plain_len], packet);
    }
    let mut buf = packet.to_vec();
    buf.resize(packet.len() + TRAILER_ROOM, 0);
    let mut sender = RtcpStreamState::new(u32::from(selector));
    if let Ok(len) = session.protect_rtcp(&mut sender, &mut buf, packet.len()) {
        let mut receiver = RtcpStreamState::default();
        let plain_len = session
            .unprotect_rtcp(&mut receiver, &mut buf[..len])
            .expect("what we protect unprotects");
        assert_eq!(&buf[..plain_len], packet);
    }
});
