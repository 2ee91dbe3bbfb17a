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

use shared_tables::{FlowAction, FlowKey, SrcMismatch, FLOW_RTCP};

use super::model::{Call, Component};
use super::registry::{merge_counters, CallRegistry, StreamRef};

impl CallRegistry {
    /// `(from, to)` for a packet that arrived on `sref`'s stream: the first
    /// live subscriber's matching stream.
    pub(super) fn forward_target(&self, sref: &StreamRef) -> Option<(SocketAddr, SocketAddr)> {
        let call = self.calls.get(&sref.call_id)?;
        forward_target(call, sref.ml, sref.media, sref.comp)
    }

    /// Rewrites every table entry of a call to match its current state.
    pub(super) fn program_call(&mut self, call_id: &str) {
        let now = Instant::now();
        let Some(call) = self.calls.get(call_id) else {
            return;
        };
        let mut updates: Vec<(usize, usize, Component, bool, Option<FlowAction>)> = Vec::new();
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
                    let action = if s.confirmed {
                        forward_target(call, mi, idx, comp).map(|(from, to)| {
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
                        })
                    } else {
                        None
                    };
                    updates.push((mi, idx, comp, s.programmed, action));
                }
            }
        }
        for (mi, idx, comp, was_programmed, action) in updates {
            let Some(s) = self
                .calls
                .get(call_id)
                .and_then(|c| c.monologues.get(mi))
                .and_then(|m| m.medias.get(idx))
                .map(|m| m.stream(comp))
            else {
                continue;
            };
            let local = s.local;
            let key = FlowKey::new(local);
            let programmed = match action {
                Some(a) => {
                    let current = if was_programmed {
                        self.table.get(&key).map(|(_, cur)| cur)
                    } else {
                        None
                    };
                    current == Some(a)
                        || match self.table.upsert(key, &a) {
                            Ok(_) => true,
                            Err(e) => {
                                // Table full: the stream stays on the control
                                // plane's path, which still forwards it.
                                tracing::warn!("flow table: cannot program {local}: {e}");
                                // An entry it had is still there (stale) and
                                // must still be removed later.
                                was_programmed
                            }
                        }
                }
                None => {
                    if was_programmed {
                        self.unprogram(local, now);
                    }
                    false
                }
            };
            if let Some(s) = self
                .calls
                .get_mut(call_id)
                .and_then(|c| c.monologues.get_mut(mi))
                .and_then(|m| m.medias.get_mut(idx))
                .map(|m| m.stream_mut(comp))
            {
                s.programmed = programmed;
            }
        }
    }

    /// Removes a stream's entry, keeping its counters in the stream.
    pub(super) fn unprogram(&mut self, local: SocketAddr, now: Instant) {
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
        }
    }
}

fn forward_target(
    call: &Call,
    ml: usize,
    media: usize,
    comp: Component,
) -> Option<(SocketAddr, SocketAddr)> {
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
        (to.is_ipv4() == s.local.is_ipv4()).then_some((s.local, to))
    })
}
