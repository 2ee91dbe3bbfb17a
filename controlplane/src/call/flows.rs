//! Turning streams into flow-table entries.
//!
//! A stream's entry is keyed by its local port (where its party's packets
//! arrive) and forwards to the subscriber's endpoint, from the subscriber's
//! local port. A stream gets an entry only once forwarding needs no control
//! plane decision: its endpoint is confirmed (or the party is asymmetric, so
//! nothing is learned) and the destination is known. Until then packets punt
//! to [`CallRegistry::handle_packet`], as rtpengine's kernel module hands
//! unconfirmed streams to its userspace.

use std::net::SocketAddr;
use std::time::Instant;

use shared_tables::{FlowAction, FlowCrypto, FlowKey, SrcMismatch, FLOW_RTCP};

use super::model::{Call, Component, MonologueIdx, PacketStream};
use super::registry::{merge_counters, CallRegistry};
use super::srtp_path::{KeyRefs, SrtpPath};

impl CallRegistry {
    /// Rewrites every table entry of a call to match its current state.
    pub(super) fn program_call(&mut self, call_id: &str) {
        let now = Instant::now();
        let Some(call) = self.calls.get(call_id) else {
            return;
        };
        let mut updates: Vec<FlowUpdate> = Vec::new();
        for (mi, ml) in call.monologues.iter().enumerate() {
            if ml.deleted {
                continue;
            }
            for (idx, media) in ml.medias.iter().enumerate() {
                if media.released {
                    continue;
                }
                for comp in [Component::Rtp, Component::Rtcp] {
                    let s = media.stream(comp);
                    let target = if s.confirmed {
                        forward_peer(call, mi, idx, comp)
                    } else {
                        None
                    };
                    let action = target.map(|(_, from, to)| {
                        let (expected_src, src_mismatch) =
                            match (ml.asymmetric, ml.strict_source, ml.media_handover) {
                                (true, _, _) => (None, SrcMismatch::Forward),
                                (false, _, true) => (s.endpoint, SrcMismatch::Punt),
                                (false, true, false) => (s.endpoint, SrcMismatch::Drop),
                                (false, false, false) => (None, SrcMismatch::Forward),
                            };
                        FlowAction {
                            dst: to,
                            src: from,
                            expected_src,
                            src_mismatch,
                            tos: self.settings.tos,
                            flags: if comp == Component::Rtcp {
                                FLOW_RTCP
                            } else {
                                0
                            },
                            stream_id: 0,
                        }
                    });
                    let srtp = match target.and_then(|(dst, ..)| srtp_keys(call, mi, dst, idx)) {
                        None => PathChange::Plain,
                        Some(keys) if s.srtp.as_ref().is_some_and(|p| p.is_for(keys)) => {
                            PathChange::Keep
                        }
                        Some(keys) => PathChange::New(Box::new(SrtpPath::new(keys))),
                    };
                    updates.push(FlowUpdate {
                        ml: mi,
                        media: idx,
                        comp,
                        was_programmed: s.programmed,
                        action,
                        srtp,
                    });
                }
            }
        }
        for u in updates {
            let Some(local) = self
                .stream_mut(call_id, u.ml, u.media, u.comp)
                .map(|s| s.local)
            else {
                continue;
            };
            let key = FlowKey::new(local);
            // Rewriting an entry must not step back behind what the fast path
            // sent (keystream reuse) or accepted with the same keys.
            let progress = match u.srtp {
                PathChange::Plain => None,
                _ if u.was_programmed => self.table.srtp_counters(&key),
                _ => None,
            };
            let mut crypto = None;
            if let Some(s) = self.stream_mut(call_id, u.ml, u.media, u.comp) {
                let srtp = !matches!(u.srtp, PathChange::Plain);
                let new = match u.srtp {
                    PathChange::New(p) => Some(p),
                    _ => None,
                };
                SrtpPath::install(&mut s.srtp, new, progress.as_ref());
                if srtp {
                    // A key the fast path cannot carry keeps the stream with us.
                    crypto = Some(s.srtp.as_ref().and_then(|p| p.flow_crypto()));
                }
            }
            let action = match (u.action, crypto) {
                (Some(_), Some(None)) => {
                    tracing::debug!("{local}: SRTP key not for the fast path, relaying it here");
                    None
                }
                (Some(mut a), Some(Some(c))) => {
                    a.flags |= c.flags();
                    Some((a, Some(c)))
                }
                (a, _) => a.map(|a| (a, None)),
            };
            let programmed = match action {
                Some((a, c)) => {
                    let unchanged = u.was_programmed
                        && self.table.get(&key).map(|(_, cur)| cur) == Some(a)
                        && same_keys(self.table.crypto(&key).as_ref(), c.as_ref());
                    let write = |table: &mut super::steering::FlowWriter| match &c {
                        Some(c) => table.upsert_with_crypto(key, &a, c),
                        None => table.upsert(key, &a),
                    };
                    unchanged
                        || match write(&mut self.table) {
                            Ok(_) => true,
                            Err(e) => {
                                // Table full: the stream stays on the control
                                // plane's path, which still forwards it.
                                tracing::warn!("flow table: cannot program {local}: {e}");
                                // An entry it had is still there (stale) and
                                // must still be removed later.
                                u.was_programmed
                            }
                        }
                }
                None => {
                    if u.was_programmed {
                        self.unprogram(local, now);
                    }
                    false
                }
            };
            if let Some(s) = self.stream_mut(call_id, u.ml, u.media, u.comp) {
                s.programmed = programmed;
            }
        }
    }

    fn stream_mut(
        &mut self,
        call_id: &str,
        ml: MonologueIdx,
        media: usize,
        comp: Component,
    ) -> Option<&mut PacketStream> {
        self.calls
            .get_mut(call_id)
            .and_then(|c| c.monologues.get_mut(ml))
            .and_then(|m| m.medias.get_mut(media))
            .map(|m| m.stream_mut(comp))
    }

    /// Removes a stream's entry, keeping its counters in the stream.
    pub(super) fn unprogram(&mut self, local: SocketAddr, now: Instant) {
        let srtp = self.table.srtp_counters(&FlowKey::new(local));
        let Some(c) = self.table.remove(&FlowKey::new(local)) else {
            return;
        };
        let Some(sref) = self.by_local.get(&local).cloned() else {
            return;
        };
        if let Some(s) = self
            .calls
            .get_mut(&sref.call_id)
            .and_then(|c| c.monologues.get_mut(sref.ml))
            .and_then(|m| m.medias.get_mut(sref.media))
            .map(|m| m.stream_mut(sref.comp))
        {
            merge_counters(&mut s.stats, &c, now);
            if let (Some(p), Some(sc)) = (s.srtp.as_mut(), srtp) {
                p.absorb(&sc);
            }
        }
    }
}

/// One stream's entry as [`CallRegistry::program_call`] computed it.
struct FlowUpdate {
    ml: MonologueIdx,
    media: usize,
    comp: Component,
    was_programmed: bool,
    action: Option<FlowAction>,
    srtp: PathChange,
}

/// What becomes of a stream's [`SrtpPath`].
enum PathChange {
    /// Its packets pass unchanged.
    Plain,
    /// The path it has is for the current keys.
    Keep,
    /// New keys: a new path.
    New(Box<SrtpPath>),
}

/// Whether the keys in a table entry are `want`'s (indices aside).
fn same_keys(have: Option<&FlowCrypto>, want: Option<&FlowCrypto>) -> bool {
    match (have, want) {
        (None, None) => true,
        (Some(h), Some(w)) => h.inbound == w.inbound && h.outbound == w.outbound,
        _ => false,
    }
}

/// The SRTP work for packets from monologue `ml` to `dst` on media `media`.
pub(super) fn srtp_keys(
    call: &Call,
    ml: MonologueIdx,
    dst: MonologueIdx,
    media: usize,
) -> Option<KeyRefs<'_>> {
    let from = call.monologues.get(ml)?.medias.get(media)?.crypto();
    let to = call.monologues.get(dst)?.medias.get(media)?.crypto();
    KeyRefs::between(from, to)
}

/// The recipient monologue of a packet from `ml`'s stream, and `(from, to)`.
pub(super) fn forward_peer(
    call: &Call,
    ml: usize,
    media: usize,
    comp: Component,
) -> Option<(MonologueIdx, SocketAddr, SocketAddr)> {
    let from_ml = call.monologues.get(ml)?;
    if from_ml.deleted {
        return None;
    }
    from_ml.subscribers.iter().find_map(|&sub| {
        let sub_ml = call.monologues.get(sub)?;
        if sub_ml.deleted {
            return None;
        }
        let m = sub_ml.medias.get(media)?;
        if m.released {
            return None;
        }
        let s = m.stream(comp);
        // A held party (c=0.0.0.0) or a rejected stream (port 0) has no
        // address to send to.
        let to = s
            .endpoint
            .filter(|e| !e.ip().is_unspecified() && e.port() != 0)?;
        // A party on a different address family than our socket (after a
        // failed address-family translation) cannot be reached from it.
        (to.is_ipv4() == s.local.is_ipv4()).then_some((sub, s.local, to))
    })
}
