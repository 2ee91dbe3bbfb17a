//! SRTP for a call's media: runs [`crate::sdes`] over each m= line of an
//! offer or answer, which records each party's keys (see
//! [`MediaLeg::crypto`]), and keeps the suite `query` reports up to date.
//!
//! A malformed `a=crypto` line (one that breaks RFC 4568's grammar: unknown
//! suite, a key that is not base64 or not the suite's length, another key
//! method, a bad tag, lifetime or MKI) fails the whole offer or answer with an
//! error naming the line, before anything in the call changes. rtpengine 10.5
//! drops such lines and negotiates without them; rtpbolt refuses them as its
//! issue 6 asks, so that a broken key never silently turns into a call
//! without media. Well-formed lines rtpengine merely cannot use (several key
//! parameters, an MKI over 128 bytes) are still ignored and logged as it does.

use crate::ng::NgRequest;
use crate::sdes::{self, OsrtpOptions, SdesCrypto, SdesOptions, SdpKind, Setup};
use crate::sdp::crypto::{self, CryptoError};
use crate::sdp::{MediaDescription, SessionDescription, TransportProtocol};

use std::borrow::Cow;
use std::net::SocketAddr;

use dataplane::classify::{classify, PacketClass};
use shared_tables::FlowKey;

use super::flows::{forward_peer, srtp_keys};
use super::model::{Call, Component, MediaLeg, MonologueIdx};
use super::registry::{CallRegistry, StreamRef};
use super::srtp_path::SrtpPath;
use super::CallError;

/// A packet the control plane relays, as it leaves: its payload and
/// `(from, to)`, if it has somewhere to go.
pub(super) struct Relayed<'d> {
    pub payload: Cow<'d, [u8]>,
    pub target: Option<(SocketAddr, SocketAddr)>,
}

/// The SRTP options of a request; unknown `SDES`/`OSRTP` items are logged
/// as rtpengine logs them.
pub(super) fn srtp_flags(req: &NgRequest) -> sdes::Flags {
    let (mut sdes, unknown_sdes) = SdesOptions::parse(req.sdes.iter().map(String::as_str));
    let (osrtp, unknown_osrtp) = OsrtpOptions::parse(req.osrtp.iter().map(String::as_str));
    for f in unknown_sdes {
        tracing::warn!(flag = %f, "unknown 'SDES' flag");
    }
    for f in unknown_osrtp {
        tracing::warn!(flag = %f, "unknown 'OSRTP' flag");
    }
    sdes.pad |= req.flags.pad_crypto;
    sdes::Flags {
        sdes,
        osrtp,
        transport: req
            .transport_protocol
            .as_deref()
            .and_then(TransportProtocol::parse),
        dtls_passive: req.dtls.as_deref() == Some("passive"),
    }
}

/// The usable `a=crypto` lines of media `idx`, in order.
fn sdp_cryptos(idx: usize, m: &MediaDescription) -> Vec<SdesCrypto> {
    m.attributes()
        .filter(|a| a.name == "crypto")
        .filter_map(|a| {
            let value = a.value.as_deref()?;
            let c = crypto::parse(value)?.and_then(|c| SdesCrypto::from_attr(&c));
            c.map_err(|e: CryptoError| {
                tracing::warn!(media = idx + 1, line = %format!("a=crypto:{value}"),
                    "ignoring a=crypto line: {e}");
            })
            .ok()
        })
        .collect()
}

/// Refuses an SDP with a malformed `a=crypto` line (see the module doc).
pub(super) fn check_crypto_lines(sdp: &SessionDescription) -> Result<(), CallError> {
    for (idx, m) in sdp.media.iter().enumerate() {
        for a in m.attributes().filter(|a| a.name == "crypto") {
            let value = a.value.as_deref().unwrap_or("");
            // Fewer than three tokens is not a crypto attribute to rtpengine:
            // it is copied like any unknown attribute.
            let Some(parsed) = crypto::parse(value) else {
                continue;
            };
            let reason = match parsed.and_then(|c| SdesCrypto::from_attr(&c)) {
                Ok(_) => continue,
                Err(CryptoError::KeyCount(_) | CryptoError::MkiTooLong(_)) => continue,
                Err(CryptoError::KeyLength { .. }) if !base64_text(value) => {
                    "key is not base64".to_string()
                }
                Err(e) => e.to_string(),
            };
            return Err(CallError::BadCrypto {
                media: idx + 1,
                line: format!("a=crypto:{value}"),
                reason,
            });
        }
    }
    Ok(())
}

/// Whether the `inline:` key of a crypto attribute is made of base64 digits.
fn base64_text(value: &str) -> bool {
    let Some(key) = value
        .split_whitespace()
        .nth(2)
        .and_then(|k| k.get(7..))
        .map(|k| k.split(['|', ';']).next().unwrap_or(""))
    else {
        return true;
    };
    key.bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'/' | b'='))
}

/// `a=setup` of a media, else of the session.
fn sdp_setup(sdp: &SessionDescription, m: &MediaDescription) -> Option<Setup> {
    m.attribute("setup")
        .or_else(|| sdp.attributes().find(|a| a.name == "setup"))
        .and_then(|a| a.value.as_deref())
        .and_then(Setup::parse)
}

/// Whether a media (or its session) has a fingerprint rtpengine can use.
fn has_fingerprint(sdp: &SessionDescription, m: &MediaDescription) -> bool {
    let usable = |a: &crate::sdp::Attribute| {
        a.name == "fingerprint"
            && a.value
                .as_deref()
                .is_some_and(crate::sdp::fingerprint_valid)
    };
    m.attributes().any(usable) || sdp.attributes().any(usable)
}

/// Media `idx` of monologues `a` and `b` (which must differ), mutably.
fn two_medias(
    call: &mut Call,
    a: MonologueIdx,
    b: MonologueIdx,
    idx: usize,
) -> Option<(&mut MediaLeg, &mut MediaLeg)> {
    if a == b {
        return None;
    }
    let (lo, hi) = (a.min(b), a.max(b));
    let (left, right) = call.monologues.split_at_mut(hi);
    let (x, y) = (left.get_mut(lo)?, right.first_mut()?);
    let (ma, mb) = if a < b { (x, y) } else { (y, x) };
    Some((ma.medias.get_mut(idx)?, mb.medias.get_mut(idx)?))
}

/// The `a=crypto` values to put in the SDP for a party.
pub(super) fn crypto_lines(m: &MediaLeg, flags: &sdes::Flags) -> Vec<String> {
    if !m.sdes.enabled {
        return Vec::new();
    }
    m.sdes
        .sent
        .iter()
        .map(|c| {
            c.to_attr(flags.sdes.lifetime)
                .emit(flags.sdes.emit_options())
        })
        .collect()
}

impl CallRegistry {
    /// Negotiates transport and SDES for m= line `idx` of `sdp`, sent by
    /// `sender` to `receiver`; both already have the media.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn negotiate_srtp(
        &mut self,
        call_id: &str,
        sender: MonologueIdx,
        receiver: MonologueIdx,
        idx: usize,
        kind: SdpKind,
        flags: &sdes::Flags,
        sdp: &SessionDescription,
    ) -> Result<(), CallError> {
        let Some(sdp_m) = sdp.media.get(idx) else {
            return Ok(());
        };
        let cryptos = sdp_cryptos(idx, sdp_m);
        let osrtp_params = !cryptos.is_empty() || has_fingerprint(sdp, sdp_m);
        let sdp_transport = TransportProtocol::of_media(&sdp_m.proto, osrtp_params);
        let Some(call) = self.calls.get_mut(call_id) else {
            return Err(CallError::UnknownCall);
        };
        let Some((s, r)) = two_medias(call, sender, receiver, idx) else {
            return Ok(());
        };
        sdes::update_transport(
            kind,
            flags,
            sdp_transport,
            &mut s.transport,
            &mut r.transport,
        );
        // A rejected stream negotiates nothing (RFC 3264 section 6).
        if sdp_m.port == 0 {
            return Ok(());
        }
        sdes::accept(kind, flags, &mut s.sdes, sdp_setup(sdp, sdp_m), cryptos);
        sdes::generate(
            kind,
            flags,
            r.transport,
            &mut r.sdes,
            &s.sdes.offered,
            self.keys.as_mut(),
        )?;
        Ok(())
    }

    /// Updates the suite `query` reports for the streams of every media of
    /// monologues `mls` after an offer or answer: rtpengine sets up both
    /// parties' streams again, with the first key we sent each while SDES
    /// is in use with it.
    pub(super) fn refresh_crypto_suites(&mut self, call_id: &str, mls: [MonologueIdx; 2]) {
        let Some(call) = self.calls.get_mut(call_id) else {
            return;
        };
        for ml in mls {
            let Some(ml) = call.monologues.get_mut(ml) else {
                continue;
            };
            for m in &mut ml.medias {
                if m.sdes.enabled {
                    let suite = m.sdes.sent.first().map(|c| c.suite);
                    m.rtp.crypto_suite = suite;
                    m.rtcp.crypto_suite = suite;
                }
            }
        }
    }

    /// Decrypts and/or re-encrypts a packet the control plane relays itself
    /// (see [`super::srtp_path`]), and says where it goes: `(from, to)`, the
    /// first live subscriber's matching stream, if any. `None`: dropped
    /// (counted as an error of the stream), as the fast path drops forged,
    /// replayed and garbled SRTP.
    pub(super) fn srtp_transform<'d>(
        &mut self,
        sref: &StreamRef,
        data: &'d [u8],
    ) -> Option<Relayed<'d>> {
        let call = self.calls.get(&sref.call_id)?;
        let peer = forward_peer(call, sref.ml, sref.media, sref.comp);
        let target = peer.map(|(_, from, to)| (from, to));
        let keys = peer.and_then(|(dst, ..)| srtp_keys(call, sref.ml, dst, sref.media));
        let Some(keys) = keys else {
            return Some(Relayed {
                payload: Cow::Borrowed(data),
                target,
            });
        };
        let stream = call
            .monologues
            .get(sref.ml)?
            .medias
            .get(sref.media)?
            .stream(sref.comp);
        let rebuilt = match &stream.srtp {
            Some(p) if p.is_for(keys) => None,
            _ => Some(Box::new(SrtpPath::new(keys))),
        };
        // While the stream has an entry (a packet punted by source policy),
        // continue from the fast path's indices, never behind them.
        let progress = stream
            .programmed
            .then(|| self.table.srtp_counters(&FlowKey::new(stream.local)))
            .flatten();
        let rtcp = classify(data, sref.comp == Component::Rtcp) == PacketClass::Rtcp;
        let stream = self
            .calls
            .get_mut(&sref.call_id)?
            .monologues
            .get_mut(sref.ml)?
            .medias
            .get_mut(sref.media)?
            .stream_mut(sref.comp);
        SrtpPath::install(&mut stream.srtp, rebuilt, progress.as_ref());
        let path = stream.srtp.as_mut()?;
        match path.transform(rtcp, data) {
            Ok(out) => Some(Relayed {
                payload: Cow::Owned(out),
                target,
            }),
            Err(e) => {
                stream.stats.errors += 1;
                self.totals.srtp_errors += 1;
                tracing::debug!(local = %stream.local, "SRTP packet dropped: {e}");
                None
            }
        }
    }
}
