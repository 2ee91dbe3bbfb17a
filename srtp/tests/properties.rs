//! Properties over every suite and session parameter combination: protect then
//! unprotect gives the packet back, any single flipped bit of an authenticated packet is
//! refused, replays are refused, and the ROC follows sequence number wrap-around.

use proptest::prelude::*;
use srtp::{
    MasterKey, RtcpStreamState, RtpStreamState, SessionFlags, SrtpError, SrtpSession, SrtpSuite,
};

fn suite() -> impl Strategy<Value = SrtpSuite> {
    proptest::sample::select(SrtpSuite::ALL.to_vec())
}

fn flags() -> impl Strategy<Value = SessionFlags> {
    (any::<bool>(), any::<bool>(), any::<bool>()).prop_map(
        |(unencrypted_srtp, unencrypted_srtcp, unauthenticated_srtp)| SessionFlags {
            unencrypted_srtp,
            unencrypted_srtcp,
            unauthenticated_srtp,
        },
    )
}

/// A master key with random material, MKI and (sometimes) a key derivation rate.
fn master(suite: SrtpSuite) -> impl Strategy<Value = MasterKey> {
    (
        proptest::collection::vec(any::<u8>(), 46),
        proptest::option::of((1u8..=4).prop_flat_map(|len| {
            let max = if len == 4 {
                u32::MAX
            } else {
                (1u32 << (8 * len)) - 1
            };
            (0..=max, Just(len))
        })),
        prop_oneof![3 => Just(0u8), 1 => 1u8..=24],
    )
        .prop_map(move |(material, mki, kdr)| {
            let key_len = suite.master_key_len();
            let salt_len = suite.master_salt_len();
            let mut master = MasterKey::from_inline(suite, &material[..key_len + salt_len])
                .expect("lengths from the suite");
            master.mki = mki;
            master.kdr = kdr;
            master
        })
}

/// A session, or `None` for the combinations a suite refuses (AEAD without encryption or
/// authentication), which are checked to be refused.
fn session(suite: SrtpSuite, master: &MasterKey, flags: SessionFlags) -> Option<SrtpSession> {
    let result = SrtpSession::new(master, flags);
    if suite.is_aead() && (flags.unencrypted_srtp || flags.unauthenticated_srtp) {
        assert!(matches!(result, Err(SrtpError::Unsupported(_))));
        return None;
    }
    Some(result.expect("valid session"))
}

/// An RTP packet: random CSRCs, header extension, marker, payload type and payload.
fn rtp_packet() -> impl Strategy<Value = Vec<u8>> {
    (
        any::<[u8; 12]>(),
        proptest::collection::vec(any::<u32>(), 0..=15),
        proptest::option::of(proptest::collection::vec(any::<u32>(), 0..=6)),
        proptest::collection::vec(any::<u8>(), 0..=300),
    )
        .prop_map(|(mut fixed, csrcs, extension, payload)| {
            fixed[0] = 0x80 | (fixed[0] & 0x20) | csrcs.len() as u8;
            if extension.is_some() {
                fixed[0] |= 0x10;
            }
            let mut packet = fixed.to_vec();
            for csrc in csrcs {
                packet.extend_from_slice(&csrc.to_be_bytes());
            }
            if let Some(words) = extension {
                packet.extend_from_slice(&[0xbe, 0xde]);
                packet.extend_from_slice(&(words.len() as u16).to_be_bytes());
                for word in words {
                    packet.extend_from_slice(&word.to_be_bytes());
                }
            }
            packet.extend_from_slice(&payload);
            packet
        })
}

fn rtcp_packet() -> impl Strategy<Value = Vec<u8>> {
    proptest::collection::vec(any::<u8>(), 8..=200).prop_map(|mut packet| {
        packet[0] = 0x80 | (packet[0] & 0x3f);
        packet
    })
}

fn protect_rtp(session: &SrtpSession, state: &mut RtpStreamState, plain: &[u8]) -> Vec<u8> {
    let mut buf = plain.to_vec();
    buf.resize(plain.len() + session.rtp_overhead(), 0);
    let len = session
        .protect_rtp(state, &mut buf, plain.len())
        .expect("protect");
    assert_eq!(len, buf.len());
    buf
}

fn protect_rtcp(session: &SrtpSession, state: &mut RtcpStreamState, plain: &[u8]) -> Vec<u8> {
    let mut buf = plain.to_vec();
    buf.resize(plain.len() + session.rtcp_overhead(), 0);
    let len = session
        .protect_rtcp(state, &mut buf, plain.len())
        .expect("protect");
    assert_eq!(len, buf.len());
    buf
}

fn set_seq(packet: &mut [u8], seq: u16) {
    packet[2..4].copy_from_slice(&seq.to_be_bytes());
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn rtp_round_trip_and_tamper(
        (suite, master) in suite().prop_flat_map(|suite| (Just(suite), master(suite))),
        flags in flags(),
        plain in rtp_packet(),
        roc in any::<u32>(),
        flip in any::<proptest::sample::Index>(),
    ) {
        let Some(session) = session(suite, &master, flags) else { return Ok(()) };
        let seq = u16::from_be_bytes([plain[2], plain[3]]);
        let mut sender = RtpStreamState::new(roc, seq.wrapping_sub(1));
        let protected = protect_rtp(&session, &mut sender, &plain);
        prop_assert_eq!((sender.roc(), sender.seq()), (roc, seq));
        if flags.unencrypted_srtp || suite.name().starts_with("NULL") {
            prop_assert_eq!(&protected[..plain.len()], &plain[..]);
        }

        let mut receiver = RtpStreamState::new(roc, seq.wrapping_sub(1));
        let mut buf = protected.clone();
        let len = session.unprotect_rtp(&mut receiver, &mut buf).expect("unprotect");
        prop_assert_eq!(&buf[..len], &plain[..]);
        prop_assert_eq!((receiver.roc(), receiver.seq()), (roc, seq));

        // The same packet again.
        let mut again = protected.clone();
        prop_assert_eq!(
            session.unprotect_rtp(&mut receiver, &mut again),
            Err(SrtpError::Replay { too_old: false })
        );

        if session.rtp_tag_len() > 0 {
            let bit = flip.index(protected.len() * 8);
            let mut tampered = protected.clone();
            tampered[bit / 8] ^= 1 << (bit % 8);
            let mut fresh = RtpStreamState::new(roc, seq.wrapping_sub(1));
            prop_assert!(session.unprotect_rtp(&mut fresh, &mut tampered).is_err(), "bit {}", bit);
            prop_assert_eq!(fresh, RtpStreamState::new(roc, seq.wrapping_sub(1)));
        }
    }

    #[test]
    fn rtcp_round_trip_and_tamper(
        (suite, master) in suite().prop_flat_map(|suite| (Just(suite), master(suite))),
        flags in flags(),
        plain in rtcp_packet(),
        index in 0u32..0x7fff_ffff,
        flip in any::<proptest::sample::Index>(),
    ) {
        let Some(session) = session(suite, &master, flags) else { return Ok(()) };
        let mut sender = RtcpStreamState::new(index);
        let protected = protect_rtcp(&session, &mut sender, &plain);
        prop_assert_eq!(sender.next_index(), index + 1);
        if flags.unencrypted_srtcp {
            prop_assert_eq!(&protected[..plain.len()], &plain[..]);
        }

        let mut receiver = RtcpStreamState::default();
        let mut buf = protected.clone();
        let len = session.unprotect_rtcp(&mut receiver, &mut buf).expect("unprotect");
        prop_assert_eq!(&buf[..len], &plain[..]);
        prop_assert_eq!(receiver.highest_index(), Some(index));
        let mut again = protected.clone();
        prop_assert_eq!(
            session.unprotect_rtcp(&mut receiver, &mut again),
            Err(SrtpError::Replay { too_old: false })
        );

        // SRTCP is always authenticated.
        let bit = flip.index(protected.len() * 8);
        let mut tampered = protected.clone();
        tampered[bit / 8] ^= 1 << (bit % 8);
        let mut fresh = RtcpStreamState::default();
        prop_assert!(session.unprotect_rtcp(&mut fresh, &mut tampered).is_err(), "bit {}", bit);
        prop_assert_eq!(fresh, RtcpStreamState::default());
    }

    /// A stream crossing 65535 -> 0 with packets reordered within a few places: every
    /// packet decrypts, the ROC moves on by one, and late packets from before the wrap
    /// still use the old ROC.
    #[test]
    fn roc_rolls_over_with_reordering(
        suite in suite(),
        start in 65_400u16..=65_535,
        count in 150usize..400,
        swaps in proptest::collection::vec((0usize..400, 1usize..8), 0..60),
        template in rtp_packet(),
    ) {
        let master = MasterKey::from_inline(suite, &[0x42; 46][..suite.master_key_len() + suite.master_salt_len()])
            .expect("key");
        let session = SrtpSession::new(&master, SessionFlags::default()).expect("session");
        let mut order: Vec<usize> = (0..count).collect();
        for (at, distance) in swaps {
            let a = at % count;
            order.swap(a, (a + distance).min(count - 1));
        }
        let mut sender = RtpStreamState::default();
        let mut receiver = RtpStreamState::default();
        let mut packets = Vec::new();
        for step in 0..count {
            let mut plain = template.clone();
            set_seq(&mut plain, start.wrapping_add(step as u16));
            packets.push((plain.clone(), protect_rtp(&session, &mut sender, &plain)));
        }
        prop_assert_eq!(sender.roc(), 1);
        for position in order {
            let (plain, protected) = &packets[position];
            let mut buf = protected.clone();
            match session.unprotect_rtp(&mut receiver, &mut buf) {
                Ok(len) => prop_assert_eq!(&buf[..len], &plain[..]),
                // Swapped packets can arrive before the stream's first one, whose ROC
                // would have to go below 0, or behind the window: both are refused.
                Err(SrtpError::AuthFailed) | Err(SrtpError::Replay { too_old: true }) => {}
                Err(error) => prop_assert!(false, "packet {}: {}", position, error),
            }
        }
        prop_assert_eq!(receiver.roc(), 1);
        prop_assert_eq!(receiver.seq(), start.wrapping_add(count as u16 - 1));
    }
}

/// In-order packets across the wrap are all accepted (no reordering, so no excuses).
#[test]
fn roc_rolls_over_in_order() {
    for suite in SrtpSuite::ALL {
        let master = MasterKey::from_inline(
            suite,
            &[7; 46][..suite.master_key_len() + suite.master_salt_len()],
        )
        .expect("key");
        let session = SrtpSession::new(&master, SessionFlags::default()).expect("session");
        let mut sender = RtpStreamState::default();
        let mut receiver = RtpStreamState::default();
        let mut plain = vec![0x80, 0, 0, 0, 0, 0, 0, 0, 1, 2, 3, 4, 5, 6, 7];
        for step in 0..1_200u16 {
            set_seq(&mut plain, 65_000u16.wrapping_add(step));
            let mut buf = protect_rtp(&session, &mut sender, &plain);
            let len = session
                .unprotect_rtp(&mut receiver, &mut buf)
                .unwrap_or_else(|error| panic!("{suite} step {step}: {error}"));
            assert_eq!(buf[..len], plain);
        }
        assert_eq!((sender.roc(), receiver.roc()), (1, 1), "{suite}");
        // A packet from before the wrap is now far outside the window.
        let mut old = plain.clone();
        set_seq(&mut old, 65_000);
        let mut old_sender = RtpStreamState::new(0, 64_999);
        let mut buf = protect_rtp(&session, &mut old_sender, &old);
        assert_eq!(
            session.unprotect_rtp(&mut receiver, &mut buf),
            Err(SrtpError::Replay { too_old: true })
        );
    }
}
