//! The per-media steps of SRTP negotiation; the rules are in the parent
//! module's docs. Callers run, for each m= line of an SDP:
//! [`update_transport`] always, then for a non-zero port [`accept`] on the
//! sender's state and [`generate`] on the recipient's.

use super::{Flags, KeyError, KeySource, SdesCrypto, SdpKind, SessionFlags, Setup, SrtpSuite};
use crate::sdp::TransportProtocol;

/// One party's SDES state for one media (rtpengine keeps the same per
/// `call_media`: `sdes_in`, `sdes_out` and the SDES and DTLS-role flags).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SdesState {
    /// The party's usable `a=crypto` lines from its last SDP, in its order,
    /// minus `SDES-no` suites; cut down to the one chosen once we answer it.
    /// The first is what its packets are decrypted with.
    pub offered: Vec<SdesCrypto>,
    /// The lines we last put in SDP for the party; the first is what our
    /// packets to it are encrypted with.
    pub sent: Vec<SdesCrypto>,
    /// SDES is in use with the party: set when it sends keys or we offer
    /// them, cleared only when its transport stops being SRTP.
    pub enabled: bool,
    /// DTLS roles we could take towards the party (`query` reports them).
    pub dtls_active: bool,
    pub dtls_passive: bool,
}

/// Updates the transports of the sender (`sender`, from its SDP's `sdp`) and
/// of the recipient of that SDP (`receiver`).
pub fn update_transport(
    kind: SdpKind,
    flags: &Flags,
    sdp: Option<TransportProtocol>,
    sender: &mut Option<TransportProtocol>,
    receiver: &mut Option<TransportProtocol>,
) {
    if *sender != sdp {
        *sender = sdp;
        match kind {
            // A changed offer renegotiates the other side from scratch.
            SdpKind::Offer => *receiver = None,
            // An answer keeps what the offerer was offered, except that a
            // plain answer to OSRTP means no SRTP unless told to accept.
            SdpKind::Answer => {
                let plain = sdp.is_some_and(|p| p.is_rtp() && !p.is_srtp());
                if plain && receiver.is_some_and(TransportProtocol::is_osrtp) && !flags.osrtp.accept
                {
                    *receiver = None;
                }
            }
        }
    }
    if receiver.is_none() {
        *receiver = *sender;
    }
    if let Some(tp) = flags.transport {
        if sender.is_some_and(TransportProtocol::is_rtp) {
            *receiver = Some(tp);
        }
    }
    if kind == SdpKind::Offer && flags.osrtp.offer {
        if let Some(o) = receiver.and_then(TransportProtocol::osrtp) {
            *receiver = Some(o);
        }
    }
}

/// Takes in what the sender's SDP says about one media with a non-zero
/// port: its `a=setup` and its usable crypto lines.
pub fn accept(
    kind: SdpKind,
    flags: &Flags,
    sender: &mut SdesState,
    setup: Option<Setup>,
    cryptos: Vec<SdesCrypto>,
) {
    // Our role is the opposite of the one the party declares.
    let before = (sender.dtls_active, sender.dtls_passive);
    sender.dtls_passive = matches!(setup, Some(Setup::Active | Setup::ActPass));
    sender.dtls_active = matches!(setup, Some(Setup::Passive | Setup::ActPass));
    // A re-offer of actpass keeps us passive if we were.
    if kind == SdpKind::Offer
        && sender.dtls_active
        && sender.dtls_passive
        && before == (false, true)
    {
        sender.dtls_active = false;
    }

    sender.offered = cryptos;
    if sender.offered.is_empty() {
        return;
    }
    sender.enabled = true;
    sender.offered.retain(|c| !flags.sdes.excludes(c.suite));
    // What we sent the party is settled by the first line it sends back.
    if let Some(first) = sender.offered.first() {
        let (tag, suite) = (first.tag, first.suite);
        sender.sent.retain(|c| c.tag == tag && c.suite == suite);
    }
}

/// Decides the crypto lines for the recipient of an SDP (`receiver`, whose
/// transport is `transport`), given what the sender offered or answered.
pub fn generate(
    kind: SdpKind,
    flags: &Flags,
    transport: Option<TransportProtocol>,
    receiver: &mut SdesState,
    sender_offered: &[SdesCrypto],
    keys: &mut dyn KeySource,
) -> Result<(), KeyError> {
    if !transport.is_some_and(TransportProtocol::is_srtp) {
        receiver.sent.clear();
        receiver.enabled = false;
        receiver.dtls_active = false;
        receiver.dtls_passive = false;
        return Ok(());
    }
    match kind {
        SdpKind::Offer => {
            // An offer is always actpass.
            receiver.dtls_active = true;
            receiver.dtls_passive = true;
            if !receiver.enabled {
                if flags.sdes.off {
                    return Ok(());
                }
                receiver.enabled = true;
            }
            offer(flags, receiver, sender_offered, keys)
        }
        SdpKind::Answer => {
            if flags.dtls_passive && receiver.dtls_passive {
                receiver.dtls_active = false;
            }
            if receiver.dtls_active {
                receiver.dtls_passive = false;
            }
            answer(flags, receiver, sender_offered.first(), keys)
        }
    }
}

/// The sender's lines, then what the recipient was offered before, then a
/// fresh line for each suite not listed yet; tags stay above those taken.
fn offer(
    flags: &Flags,
    receiver: &mut SdesState,
    sender_offered: &[SdesCrypto],
    keys: &mut dyn KeySource,
) -> Result<(), KeyError> {
    let previous = std::mem::take(&mut receiver.sent);
    let mut out: Vec<SdesCrypto> = Vec::with_capacity(SrtpSuite::ALL.len());
    let mut next_tag: u32 = 1;
    let listed = |out: &[SdesCrypto], s: SrtpSuite| out.iter().any(|c| c.suite == s);
    for c in sender_offered {
        let mut c = c.clone();
        if c.tag >= next_tag {
            next_tag = c.tag.wrapping_add(1);
        }
        apply_session_flags(&mut c.flags, flags, SdpKind::Offer);
        out.push(c);
    }
    for mut c in previous {
        if listed(&out, c.suite) {
            continue;
        }
        c.tag = c.tag.max(next_tag);
        next_tag = c.tag.wrapping_add(1);
        out.push(c);
    }
    for suite in SrtpSuite::ALL {
        if listed(&out, suite) || flags.sdes.excludes(suite) {
            continue;
        }
        let mut c = SdesCrypto::generate(next_tag, suite, keys)?;
        next_tag = next_tag.wrapping_add(1);
        apply_session_flags(&mut c.flags, flags, SdpKind::Offer);
        out.push(c);
    }
    receiver.sent = out;
    Ok(())
}

/// One line for the offerer: its first line, or the one with the
/// answerer's suite, keyed with the answerer's key when the suites match.
fn answer(
    flags: &Flags,
    receiver: &mut SdesState,
    answerer: Option<&SdesCrypto>,
    keys: &mut dyn KeySource,
) -> Result<(), KeyError> {
    let current = receiver.sent.first();
    let still_offered = |c: &SdesCrypto| {
        receiver
            .offered
            .iter()
            .any(|o| o.suite == c.suite && o.tag == c.tag)
    };
    let keep_current = flags.sdes.keep && current.is_some_and(still_offered);
    let mut chosen = 0;
    if !keep_current {
        if let Some(a) = answerer {
            if let Some(i) = receiver.offered.iter().position(|o| o.suite == a.suite) {
                chosen = i;
            }
        }
    }
    let Some(mut offered) = receiver.offered.get(chosen).cloned() else {
        return Ok(());
    };
    if current.is_some_and(|c| c.suite == offered.suite) {
        return Ok(());
    }
    let mut ours = match answerer.filter(|a| a.suite == offered.suite) {
        // Both sides speak this suite: each gets the other's key.
        Some(a) => SdesCrypto {
            tag: offered.tag,
            ..a.clone()
        },
        None => {
            let mut c = SdesCrypto::generate(offered.tag, offered.suite, keys)?;
            c.flags = offered.flags;
            c
        }
    };
    apply_session_flags(&mut ours.flags, flags, SdpKind::Answer);
    apply_session_flags(&mut offered.flags, flags, SdpKind::Answer);
    receiver.sent = vec![ours];
    receiver.offered = vec![offered];
    Ok(())
}

/// `SDES-unencrypted_*`/`unauthenticated_srtp` add flags in offers only;
/// `SDES-encrypted_*`/`authenticated_srtp` remove them in both.
fn apply_session_flags(f: &mut SessionFlags, flags: &Flags, kind: SdpKind) {
    let o = &flags.sdes;
    let offer = kind == SdpKind::Offer;
    let set = |v: &mut bool, add: bool, remove: bool| {
        if add && offer {
            *v = true;
        } else if remove {
            *v = false;
        }
    };
    set(
        &mut f.unencrypted_srtp,
        o.unencrypted_srtp,
        o.encrypted_srtp,
    );
    set(
        &mut f.unencrypted_srtcp,
        o.unencrypted_srtcp,
        o.encrypted_srtcp,
    );
    set(
        &mut f.unauthenticated_srtp,
        o.unauthenticated_srtp,
        o.authenticated_srtp,
    );
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sdes::SdesOptions;

    /// Counts up from a seed, so every generated key is distinct and known.
    struct CountingKeys(u8);

    impl KeySource for CountingKeys {
        fn fill(&mut self, buf: &mut [u8]) -> Result<(), KeyError> {
            for b in buf.iter_mut() {
                *b = self.0;
            }
            self.0 = self.0.wrapping_add(1);
            Ok(())
        }
    }

    fn crypto(tag: u32, suite: SrtpSuite, fill: u8) -> SdesCrypto {
        SdesCrypto {
            tag,
            suite,
            key_salt: vec![fill; suite.key_salt_len()],
            mki: None,
            flags: SessionFlags::default(),
            lifetime: None,
        }
    }

    fn tags(v: &[SdesCrypto]) -> Vec<(u32, &'static str)> {
        v.iter().map(|c| (c.tag, c.suite.name())).collect()
    }

    /// An offer without SDES flags or keys from the sender.
    fn offer_to(tp: Option<TransportProtocol>, b: &mut SdesState, keys: &mut CountingKeys) {
        generate(SdpKind::Offer, &Flags::default(), tp, b, &[], keys).unwrap();
    }

    /// An answer without SDES flags or keys from the answerer.
    fn plain_answer_to(a: &mut SdesState, keys: &mut CountingKeys) {
        generate(SdpKind::Answer, &Flags::default(), SAVP, a, &[], keys).unwrap();
    }

    const SAVP: Option<TransportProtocol> = Some(TransportProtocol::RtpSavp);
    const AVP: Option<TransportProtocol> = Some(TransportProtocol::RtpAvp);

    #[test]
    fn transport_override_sticks_until_the_sender_changes() {
        let f = Flags {
            transport: SAVP,
            ..Flags::default()
        };
        let (mut a, mut b) = (None, None);
        update_transport(SdpKind::Offer, &f, AVP, &mut a, &mut b);
        assert_eq!((a, b), (AVP, SAVP));
        // Answer from the SRTP side: the offerer keeps plain RTP.
        update_transport(SdpKind::Answer, &Flags::default(), SAVP, &mut b, &mut a);
        assert_eq!((a, b), (AVP, SAVP));
        // Re-offer without the key: still converted.
        update_transport(SdpKind::Offer, &Flags::default(), AVP, &mut a, &mut b);
        assert_eq!(b, SAVP);
        // The offerer switches to SRTP itself: its transport is passed on.
        update_transport(SdpKind::Offer, &Flags::default(), SAVP, &mut a, &mut b);
        assert_eq!(b, SAVP);
        update_transport(SdpKind::Offer, &Flags::default(), AVP, &mut a, &mut b);
        assert_eq!(b, AVP);
    }

    #[test]
    fn osrtp_offer_and_accept() {
        let offer = Flags {
            osrtp: crate::sdes::OsrtpOptions {
                offer: true,
                accept: false,
            },
            ..Flags::default()
        };
        let (mut a, mut b) = (None, None);
        update_transport(SdpKind::Offer, &offer, AVP, &mut a, &mut b);
        assert_eq!(b, Some(TransportProtocol::OsrtpAvp));
        // OSRTP offerer, plain answer: no SRTP towards the offerer...
        let osrtp = Some(TransportProtocol::OsrtpAvp);
        let (mut a, mut b) = (None, None);
        update_transport(SdpKind::Offer, &Flags::default(), osrtp, &mut a, &mut b);
        update_transport(SdpKind::Answer, &Flags::default(), AVP, &mut b, &mut a);
        assert_eq!(a, AVP);
        // ... unless accepted.
        let (mut a, mut b) = (None, None);
        update_transport(SdpKind::Offer, &Flags::default(), osrtp, &mut a, &mut b);
        let accept = Flags {
            osrtp: crate::sdes::OsrtpOptions {
                offer: false,
                accept: true,
            },
            ..Flags::default()
        };
        update_transport(SdpKind::Answer, &accept, AVP, &mut b, &mut a);
        assert_eq!(a, osrtp);
    }

    #[test]
    fn offer_passes_offered_lines_through_then_fills_in() {
        let mut keys = CountingKeys(100);
        let a_lines = vec![
            crypto(5, SrtpSuite::AesCm128HmacSha1_32, 1),
            crypto(2, SrtpSuite::AesCm128HmacSha1_80, 2),
        ];
        let mut b = SdesState::default();
        let f = Flags {
            sdes: SdesOptions {
                no: vec![SrtpSuite::NullHmacSha1_32, SrtpSuite::NullHmacSha1_80],
                ..SdesOptions::default()
            },
            ..Flags::default()
        };
        generate(SdpKind::Offer, &f, SAVP, &mut b, &a_lines, &mut keys).unwrap();
        assert!(b.enabled && b.dtls_active && b.dtls_passive);
        assert_eq!(
            tags(&b.sent),
            [
                (5, "AES_CM_128_HMAC_SHA1_32"),
                (2, "AES_CM_128_HMAC_SHA1_80"),
                (6, "AEAD_AES_256_GCM"),
                (7, "AEAD_AES_128_GCM"),
                (8, "AES_256_CM_HMAC_SHA1_80"),
                (9, "AES_256_CM_HMAC_SHA1_32"),
                (10, "AES_192_CM_HMAC_SHA1_80"),
                (11, "AES_192_CM_HMAC_SHA1_32"),
                (12, "F8_128_HMAC_SHA1_80"),
                (13, "F8_128_HMAC_SHA1_32"),
            ]
        );
        assert_eq!(b.sent[0].key_salt, a_lines[0].key_salt);
        assert_eq!(b.sent[2].key_salt, vec![100; 44]);

        // B answers tag 9; a re-offer keeps that line and key, tags above.
        let b_answer = vec![crypto(9, SrtpSuite::Aes256CmHmacSha1_32, 3)];
        accept(SdpKind::Answer, &f, &mut b, None, b_answer);
        assert_eq!(tags(&b.sent), [(9, "AES_256_CM_HMAC_SHA1_32")]);
        let kept = b.sent[0].key_salt.clone();
        offer_to(SAVP, &mut b, &mut keys);
        assert_eq!(b.sent[0].tag, 9);
        assert_eq!(b.sent[0].key_salt, kept);
        assert_eq!(b.sent[1].tag, 10);
        assert_eq!(b.sent.len(), 12);
    }

    #[test]
    fn answer_picks_the_answerers_suite_and_passes_its_key() {
        let mut keys = CountingKeys(200);
        let mut a = SdesState::default();
        let a_lines = vec![
            crypto(1, SrtpSuite::AesCm128HmacSha1_80, 1),
            crypto(2, SrtpSuite::AesCm128HmacSha1_32, 2),
        ];
        accept(SdpKind::Offer, &Flags::default(), &mut a, None, a_lines);
        let b_line = crypto(2, SrtpSuite::AesCm128HmacSha1_32, 9);
        generate(
            SdpKind::Answer,
            &Flags::default(),
            SAVP,
            &mut a,
            std::slice::from_ref(&b_line),
            &mut keys,
        )
        .unwrap();
        assert_eq!(tags(&a.sent), [(2, "AES_CM_128_HMAC_SHA1_32")]);
        assert_eq!(a.sent[0].key_salt, b_line.key_salt);
        assert_eq!(tags(&a.offered), [(2, "AES_CM_128_HMAC_SHA1_32")]);

        // Plain answerer: the offerer's first line, with a fresh key.
        let mut a = SdesState::default();
        let mut l = crypto(4, SrtpSuite::AesCm128HmacSha1_80, 1);
        l.flags.unencrypted_srtcp = true;
        accept(SdpKind::Offer, &Flags::default(), &mut a, None, vec![l]);
        plain_answer_to(&mut a, &mut keys);
        assert_eq!(a.sent[0].tag, 4);
        assert_eq!(a.sent[0].key_salt, vec![200; 30]);
        assert!(a.sent[0].flags.unencrypted_srtcp);
        // A repeated answer keeps the key.
        plain_answer_to(&mut a, &mut keys);
        assert_eq!(a.sent[0].key_salt, vec![200; 30]);
    }

    #[test]
    fn sdes_off_and_plain_recipients() {
        let mut keys = CountingKeys(0);
        let off = Flags {
            sdes: SdesOptions {
                off: true,
                ..SdesOptions::default()
            },
            ..Flags::default()
        };
        let mut b = SdesState::default();
        generate(SdpKind::Offer, &off, SAVP, &mut b, &[], &mut keys).unwrap();
        assert!(!b.enabled && b.sent.is_empty());
        // Once on, SDES-off does not switch it off again.
        offer_to(SAVP, &mut b, &mut keys);
        generate(SdpKind::Offer, &off, SAVP, &mut b, &[], &mut keys).unwrap();
        assert!(b.enabled && b.sent.len() == 12);
        offer_to(AVP, &mut b, &mut keys);
        assert!(!b.enabled && b.sent.is_empty() && !b.dtls_active);
    }
}
