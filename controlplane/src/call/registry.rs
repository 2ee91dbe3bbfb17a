//! The set of live calls, the index from our local ports to their streams,
//! endpoint learning for packets the flow table punts to us, and timeouts.

use std::collections::{BTreeMap, HashMap};
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use shared_tables::{FlowCounters, FlowKey, TableWriter};

use crate::sdes::{KeySource, OsKeys};

use super::interfaces::Interfaces;
use super::model::{Call, Component, MediaLeg, MonologueIdx, PacketStream, StreamStats};
use super::statistics::Totals;
use super::CallError;

/// Binds (and releases) the RTP/RTCP port pairs of our streams. The io layer
/// implements it with real sockets handed to the data plane.
pub trait PortAllocator {
    /// Binds an even RTP port and the odd RTCP port above it on `ip`; returns
    /// the RTP port.
    fn allocate_pair(&mut self, ip: IpAddr) -> Result<u16, CallError>;
    /// Closes both sockets of the pair whose RTP socket is `rtp`.
    fn release_pair(&mut self, rtp: SocketAddr);
    /// Called with the call timers, for allocators that close released
    /// ports lazily.
    fn handle_timeout(&mut self, _now: Instant) {}
    /// Keeps the pair whose RTP port is `rtp` from being handed out, without binding it:
    /// a previous daemon's call still uses it (see [`super::orphans`]).
    fn reserve_pair(&mut self, rtp: SocketAddr);
    /// Ends a [`reserve_pair`](Self::reserve_pair).
    fn unreserve_pair(&mut self, rtp: SocketAddr);
}

/// Daemon-wide settings the call model needs.
#[derive(Debug, Clone)]
pub struct Settings {
    pub timeout: Duration,
    pub silent_timeout: Duration,
    pub final_timeout: Option<Duration>,
    pub delete_delay: Duration,
    pub tos: u8,
    /// rtpengine waits this long after the last signalling before it commits
    /// to a learned endpoint (`--endpoint-learning=delayed`, the default).
    pub learning_delay: Duration,
    /// `--table` < 0: query replies say "no kernel support", as rtpengine's do.
    pub no_kernel: bool,
}

impl Default for Settings {
    fn default() -> Settings {
        Settings {
            timeout: Duration::from_secs(60),
            silent_timeout: Duration::from_secs(3600),
            final_timeout: None,
            delete_delay: Duration::from_secs(30),
            tos: 0,
            learning_delay: Duration::from_secs(3),
            no_kernel: true,
        }
    }
}

/// A packet the control plane sends itself (one the table could not forward).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transmit {
    pub from: SocketAddr,
    pub to: SocketAddr,
    pub data: Vec<u8>,
}

/// Where a local port belongs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct StreamRef {
    pub call_id: Arc<str>,
    pub ml: MonologueIdx,
    pub media: usize,
    pub comp: Component,
}

pub struct CallRegistry {
    /// Boxed: a call is 150 bytes and the table keeps spare buckets.
    pub(super) calls: HashMap<Arc<str>, Box<Call>>,
    /// Call-ids by creation sequence, for `list` (rtpengine lists newest
    /// first); keyed so a delete does not scan every live call.
    pub(super) order: BTreeMap<u64, Arc<str>>,
    pub(super) next_seq: u64,
    pub(super) by_local: HashMap<SocketAddr, StreamRef>,
    pub(super) interfaces: Interfaces,
    pub(super) settings: Settings,
    pub(super) table: super::steering::FlowWriter,
    pub(super) ports: Box<dyn PortAllocator + Send>,
    pub(super) totals: Totals,
    pub(super) started: SystemTime,
    pub(super) orphans: super::orphans::Orphans,
    /// Where SDES master keys come from.
    pub(super) keys: Box<dyn KeySource>,
}

impl CallRegistry {
    pub fn new(
        interfaces: Interfaces,
        settings: Settings,
        table: TableWriter,
        ports: Box<dyn PortAllocator + Send>,
        wall: SystemTime,
    ) -> CallRegistry {
        CallRegistry {
            calls: HashMap::new(),
            order: BTreeMap::new(),
            next_seq: 0,
            by_local: HashMap::new(),
            interfaces,
            settings,
            table: super::steering::FlowWriter::new(table),
            ports,
            totals: Totals::default(),
            started: wall,
            orphans: Default::default(),
            keys: Box::new(OsKeys),
        }
    }

    /// Tells `steering` (the AF_XDP data plane's flow map) about every flow-table entry
    /// from now on, and about those already there.
    pub fn set_steering(&mut self, steering: Box<dyn super::steering::FlowSteering>) {
        self.table.set_steering(steering);
    }

    /// Replaces the source of SDES keys (the OS RNG by default).
    pub fn set_key_source(&mut self, keys: Box<dyn KeySource>) {
        self.keys = keys;
    }

    pub fn interfaces(&self) -> &Interfaces {
        &self.interfaces
    }

    pub fn call_count(&self) -> usize {
        self.calls.len()
    }

    pub fn totals(&self) -> &Totals {
        &self.totals
    }

    /// Stats of a stream: what we counted ourselves plus what the data plane
    /// counted in the stream's table entry.
    pub(super) fn stream_stats(&self, s: &PacketStream, now: Instant) -> StreamStats {
        let mut st = s.stats;
        if s.programmed {
            if let Some(c) = self.table.counters(&FlowKey::new(s.local)) {
                merge_counters(&mut st, &c, now);
            }
        }
        st
    }

    /// Allocates a fresh RTP/RTCP pair on `ip`, advertised as `advertised`.
    pub(super) fn new_stream_pair(
        &mut self,
        ip: IpAddr,
        advertised: IpAddr,
    ) -> Result<(PacketStream, PacketStream), CallError> {
        let port = self.ports.allocate_pair(ip)?;
        let mk = |port: u16| PacketStream {
            local: SocketAddr::new(ip, port),
            advertised,
            endpoint: None,
            advertised_endpoint: None,
            confirmed: false,
            programmed: false,
            last_ssrc: None,
            crypto_suite: None,
            srtp: None,
            stats: StreamStats::default(),
        };
        Ok((mk(port), mk(port.wrapping_add(1))))
    }

    /// Registers the streams of `call_id`'s monologue `ml` media `idx` in the
    /// local-port index.
    pub(super) fn index_media(&mut self, call_id: &str, ml: MonologueIdx, idx: usize) {
        let Some(call) = self.calls.get(call_id) else {
            return;
        };
        let id = call.call_id.clone();
        let Some(m) = call.monologues.get(ml).and_then(|m| m.medias.get(idx)) else {
            return;
        };
        for (comp, local) in [
            (Component::Rtp, m.rtp.local),
            (Component::Rtcp, m.rtcp.local),
        ] {
            self.by_local.insert(
                local,
                StreamRef {
                    call_id: id.clone(),
                    ml,
                    media: idx,
                    comp,
                },
            );
        }
    }

    /// Unprograms and closes the ports of one media leg, folding the data
    /// plane's counters into the stream stats so they survive.
    pub(super) fn release_media(&mut self, media: &mut MediaLeg, now: Instant) {
        if media.released {
            return;
        }
        media.released = true;
        for s in [&mut media.rtp, &mut media.rtcp] {
            if std::mem::take(&mut s.programmed) {
                if let Some(c) = self.table.remove(&FlowKey::new(s.local)) {
                    merge_counters(&mut s.stats, &c, now);
                }
            }
            self.by_local.remove(&s.local);
        }
        self.ports.release_pair(media.rtp.local);
    }

    /// Removes a call entirely: flows, ports, index.
    pub(super) fn destroy_call(&mut self, call_id: &str, now: Instant) -> Option<Call> {
        let mut call = self.calls.remove(call_id)?;
        self.order.remove(&call.seq);
        for ml in &mut call.monologues {
            if ml.deleted {
                continue;
            }
            let mut medias = std::mem::take(&mut ml.medias);
            for m in &mut medias {
                self.release_media(m, now);
            }
            ml.medias = medias;
            ml.deleted = true;
        }
        for ml in &call.monologues {
            for m in &ml.medias {
                self.totals.ended.add(&m.rtp.stats);
                self.totals.ended.add(&m.rtcp.stats);
            }
        }
        // Hash tables keep their peak size: after a burst of calls, give
        // the memory back (at a quarter full, so churn does not rehash).
        if self.calls.capacity() > 64 && self.calls.len() < self.calls.capacity() / 4 {
            self.calls.shrink_to_fit();
        }
        if self.by_local.capacity() > 256 && self.by_local.len() < self.by_local.capacity() / 4 {
            self.by_local.shrink_to_fit();
        }
        Some(*call)
    }

    /// A packet the flow table did not forward: learn the sender's address if
    /// the stream is still latching, then forward it ourselves. Returns what to
    /// send (nothing if the packet is dropped).
    pub fn handle_packet(
        &mut self,
        now: Instant,
        wall: SystemTime,
        local: SocketAddr,
        src: SocketAddr,
        data: &[u8],
    ) -> Option<Transmit> {
        let Some(sref) = self.by_local.get(&local).cloned() else {
            self.totals.unknown_packets += 1;
            return None;
        };
        let learning_delay = self.settings.learning_delay;
        let call = self.calls.get_mut(&sref.call_id)?;
        // rtpengine compares whole seconds: it keeps learning while
        // now <= last_signal + delay, so up to a second longer than the delay.
        let secs = |t: SystemTime| {
            t.duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_secs())
                .unwrap_or(0)
        };
        let learned_long_enough = secs(wall) > secs(call.last_signal) + learning_delay.as_secs();
        let ml = call.monologues.get_mut(sref.ml)?;
        if ml.deleted {
            return None;
        }
        // A party that has not sent SDP yet (the callee before its answer)
        // is relayed but not learned from, as rtpengine does.
        let learn = ml.has_sdp;
        let (asymmetric, strict, handover) = (ml.asymmetric, ml.strict_source, ml.media_handover);
        let media = ml.medias.get_mut(sref.media)?;
        if media.released {
            return None;
        }
        if !super::peek::is_relayable(data) {
            media.stream_mut(sref.comp).stats.errors += 1;
            self.totals.malformed_packets += 1;
            return None;
        }
        // Authenticated before it can move the endpoint: a forged packet
        // must not hijack the stream.
        let relayed = self.srtp_transform(&sref, data)?;
        let media = self
            .calls
            .get_mut(&sref.call_id)?
            .monologues
            .get_mut(sref.ml)?
            .medias
            .get_mut(sref.media)?;
        if sref.comp == Component::Rtp {
            if let Some(pt) = super::peek::rtp_payload_type(data) {
                media.last_pt = Some(pt);
            }
        }
        let stream = media.stream_mut(sref.comp);
        let len = data.len() as u64;
        let mut moved = false;
        if let Some(ssrc) = super::peek::sender_ssrc(data) {
            stream.last_ssrc = Some(ssrc);
        }

        if !learn {
        } else if asymmetric {
            // Nothing to learn: the first packet confirms the SDP address.
            if !stream.confirmed {
                stream.confirmed = true;
                moved = true;
            }
        } else if stream.confirmed {
            if stream.endpoint != Some(src) {
                if handover {
                    stream.endpoint = Some(src);
                    moved = true;
                } else if strict {
                    stream.stats.errors += 1;
                    return None;
                }
            }
        } else {
            // Until rtpengine's learning delay has passed since the last
            // signalling, every packet moves the endpoint; the first packet
            // after it confirms the endpoint for good.
            if stream.endpoint != Some(src) {
                stream.endpoint = Some(src);
                moved = true;
            }
            if learned_long_enough {
                stream.confirmed = true;
                moved = true;
            }
        }
        stream.stats.packets += 1;
        stream.stats.bytes += len;
        stream.stats.last_packet = Some(wall);
        stream.stats.last_packet_at = Some(now);

        if moved {
            // The learned address is the destination of the peer's flows and
            // the expected source of this stream's own flow.
            self.program_call(&sref.call_id);
        }
        let (from, to) = relayed.target?;
        Some(Transmit {
            from,
            to,
            data: relayed.payload.into_owned(),
        })
    }

    /// Ends calls whose delete-delay expired, or that timed out. Returns the
    /// call-ids removed.
    pub fn handle_timeout(&mut self, now: Instant) -> Vec<String> {
        self.ports.handle_timeout(now);
        self.expire_orphans(now);
        let mut expired = Vec::new();
        for (id, call) in &self.calls {
            if let Some(at) = call.delete_at {
                if now >= at {
                    expired.push((id.clone(), Expiry::Deleted));
                }
                continue;
            }
            if let Some(fin) = self.settings.final_timeout {
                if call.age(now) >= fin {
                    expired.push((id.clone(), Expiry::Final));
                    continue;
                }
            }
            let mut last = call.last_activity();
            for ml in &call.monologues {
                for m in &ml.medias {
                    for s in [&m.rtp, &m.rtcp].into_iter().filter(|s| s.programmed) {
                        if let Some(c) = self.table.counters(&FlowKey::new(s.local)) {
                            if let Some(t) = counter_instant(&c, now) {
                                last = last.max(t);
                            }
                        }
                    }
                }
            }
            let idle = now.saturating_duration_since(last);
            let on_hold = call
                .monologues
                .iter()
                .all(|ml| ml.deleted || ml.medias.iter().all(|m| !m.sends() || m.rejected));
            let (limit, kind) = if on_hold {
                (self.settings.silent_timeout, Expiry::Silent)
            } else {
                (self.settings.timeout, Expiry::Timeout)
            };
            if !limit.is_zero() && idle >= limit {
                expired.push((id.clone(), kind));
            }
        }
        let mut ids = Vec::new();
        for (id, kind) in expired {
            match kind {
                Expiry::Deleted => self.totals.regular_terminated += 1,
                Expiry::Timeout => self.totals.timeout_sessions += 1,
                Expiry::Silent => self.totals.silent_timeout_sessions += 1,
                Expiry::Final => self.totals.final_timeout_sessions += 1,
            }
            if let Some(call) = self.destroy_call(&id, now) {
                self.totals.record_duration(call.age(now));
            }
            ids.push(id.to_string());
        }
        ids
    }
}

enum Expiry {
    Deleted,
    Timeout,
    Silent,
    Final,
}

/// The monotonic `last_packet` of table counters as an `Instant`.
pub(super) fn counter_instant(c: &FlowCounters, now: Instant) -> Option<Instant> {
    let last = c.last_packet?;
    let mono_now = shared_tables::monotonic_now();
    now.checked_sub(mono_now.saturating_sub(last))
}

pub(super) fn merge_counters(st: &mut StreamStats, c: &FlowCounters, now: Instant) {
    st.packets += c.packets;
    st.bytes += c.bytes;
    st.errors += c.errors;
    st.fast_packets += c.packets;
    st.fast_bytes += c.bytes;
    st.fast_errors += c.errors;
    if let Some(at) = counter_instant(c, now) {
        if st.last_packet_at.is_none_or(|t| t < at) {
            let ago = now.saturating_duration_since(at);
            st.last_packet_at = Some(at);
            st.last_packet = SystemTime::now().checked_sub(ago);
        }
    }
}
