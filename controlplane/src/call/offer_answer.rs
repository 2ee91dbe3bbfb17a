//! `offer` and `answer`: update the parties' media from their SDP, allocate
//! our ports, program the flows, and return the SDP rewritten to our ports.
//!
//! rtpengine behaviours reproduced here (each seen on rtpengine 10.5):
//! - a forked answer (a second to-tag for one offer) gets a new monologue with
//!   new ports, and the offerer gets new ports towards it; the first branch
//!   keeps its ports and its media still reaches the offerer;
//! - when a party's SDP moves its media to another address or port, the ports
//!   we give to the other party change too, unless `port latching`;
//! - a stream rejected with port 0 has no ports on either side;
//! - an answer only keeps the payload types that were offered, and carries
//!   the offerer's `a=ptime` when it has none;
//! - each m= line's transport and SDES keys are negotiated as described in
//!   [`crate::sdes`] (glue in `srtp.rs`).

use std::net::{IpAddr, SocketAddr};
use std::time::{Instant, SystemTime};

use crate::ng::{AddressFamily, IceOption, NgRequest};
use crate::sdp::{self, Direction, IceRewrite, MediaRewrite, RewritePlan, RtcpAttr};

use super::interfaces::Interfaces;
use super::model::{AddrFamily, Call, MediaLeg, Monologue, MonologueIdx};
use super::registry::CallRegistry;
use super::srtp::{crypto_lines, srtp_flags};
use super::CallError;
use crate::sdes::SdpKind;

/// Which of the two SDP exchanges a request is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Exchange {
    Offer,
    Answer,
}

impl CallRegistry {
    /// `offer`: the SDP comes from the `from-tag` party and goes to its peer.
    pub fn offer(
        &mut self,
        now: Instant,
        wall: SystemTime,
        req: &NgRequest,
    ) -> Result<Vec<u8>, CallError> {
        self.exchange_or_undo(now, wall, req, Exchange::Offer)
    }

    /// `answer`: the SDP comes from the `to-tag` party and goes back to the
    /// `from-tag` party.
    pub fn answer(
        &mut self,
        now: Instant,
        wall: SystemTime,
        req: &NgRequest,
    ) -> Result<Vec<u8>, CallError> {
        self.exchange_or_undo(now, wall, req, Exchange::Answer)
    }

    /// A call that a failed request created (e.g. "Ran out of ports" half
    /// way) is removed again with whatever ports it got, as rtpengine does.
    fn exchange_or_undo(
        &mut self,
        now: Instant,
        wall: SystemTime,
        req: &NgRequest,
        ex: Exchange,
    ) -> Result<Vec<u8>, CallError> {
        let existed = req
            .call_id
            .as_deref()
            .is_some_and(|id| self.calls.contains_key(id));
        let result = self.exchange(now, wall, req, ex);
        if result.is_err() && !existed {
            if let Some(id) = req.call_id.as_deref() {
                if self.destroy_call(id, now).is_some() {
                    self.totals.managed_sessions = self.totals.managed_sessions.saturating_sub(1);
                }
            }
        }
        result
    }

    fn exchange(
        &mut self,
        now: Instant,
        wall: SystemTime,
        req: &NgRequest,
        ex: Exchange,
    ) -> Result<Vec<u8>, CallError> {
        let call_id = req.call_id.as_deref().ok_or(CallError::NoCallId)?;
        req.from_tag.as_deref().ok_or(CallError::NoFromTag)?;
        let sdp_bytes = req.sdp.as_deref().ok_or(CallError::NoSdp)?;
        let parsed = sdp::parse(sdp_bytes).map_err(CallError::BadSdp)?;
        super::srtp::check_crypto_lines(&parsed)?;
        if ex == Exchange::Answer && !self.calls.contains_key(call_id) {
            return Err(CallError::UnknownCall);
        }
        if !self.calls.contains_key(call_id) {
            let id: std::sync::Arc<str> = call_id.into();
            let mut call = Call::new(id.clone(), now, wall);
            call.seq = self.next_seq;
            self.next_seq += 1;
            self.order.insert(call.seq, id.clone());
            self.calls.insert(id, Box::new(call));
            self.totals.managed_sessions += 1;
        }

        let (sender, receiver, fork) = self.resolve_monologues(call_id, req, ex, now, wall)?;

        if fork {
            // The offerer faces a new branch: new ports, same endpoints.
            let n = self.calls[call_id].monologues[receiver].medias.len();
            for idx in 0..n {
                self.reallocate(call_id, receiver, idx, now)?;
            }
        }

        // Interfaces: the first `direction` is the sender's, the second the
        // receiver's; they stick to a monologue once chosen.
        let (sender_if, receiver_if) = {
            let call = self.calls.get_mut(call_id).ok_or(CallError::UnknownCall)?;
            let s_if = pick_interface(
                &call.monologues[sender],
                req.direction.first(),
                &self.interfaces,
            )?;
            let r_if = pick_interface(
                &call.monologues[receiver],
                req.direction.get(1),
                &self.interfaces,
            )?;
            call.monologues[sender].interface = s_if.clone();
            call.monologues[receiver].interface = r_if.clone();
            (s_if, r_if)
        };

        // The sender's family is its SDP's; the receiver's is what it asked
        // for before, or `address family`, or the sender's.
        let sender_family = (0..parsed.media.len())
            .find_map(|i| parsed.media_endpoint(i))
            .map(|e| AddrFamily::of(&e.ip()))
            .or_else(|| {
                parsed
                    .connection
                    .as_ref()
                    .and_then(|c| c.ip())
                    .map(|ip| AddrFamily::of(&ip))
            });
        let receiver_family = {
            let call = self.calls.get(call_id).ok_or(CallError::UnknownCall)?;
            match req.address_family {
                Some(AddressFamily::Ip4) => Some(AddrFamily::V4),
                Some(AddressFamily::Ip6) => Some(AddrFamily::V6),
                None => call.monologues[receiver].family.or(sender_family),
            }
        };

        let use_sip_source = req.flags.sip_source_address && !req.flags.trust_address;
        let srtp = srtp_flags(req);
        let kind = match ex {
            Exchange::Offer => SdpKind::Offer,
            Exchange::Answer => SdpKind::Answer,
        };
        for (idx, sdp_m) in parsed.media.iter().enumerate() {
            let rejected = sdp_m.port == 0;
            // A zero address (old-style hold) is still the party's endpoint
            // for reporting; it is just never sent to.
            let mut endpoint = parsed.media_endpoint(idx).or_else(|| {
                let ip = parsed.media_connection(idx)?.ip()?;
                Some(SocketAddr::new(ip, sdp_m.port))
            });
            if use_sip_source {
                if let (Some(ep), Some(rf)) = (endpoint.as_mut(), req.received_from) {
                    ep.set_ip(rf);
                }
            }
            let direction = sdp_m
                .direction()
                .or_else(|| parsed.direction())
                .unwrap_or(Direction::SendRecv);
            let rtcp_ep = endpoint.map(|ep| match sdp_m.rtcp() {
                Some((port, addr)) => {
                    SocketAddr::new(addr.filter(|_| !use_sip_source).unwrap_or(ep.ip()), port)
                }
                None => SocketAddr::new(ep.ip(), ep.port().wrapping_add(1)),
            });

            let existed = self.calls[call_id].monologues[sender].medias.len() > idx;
            if !rejected {
                self.ensure_media(call_id, sender, idx, &sender_if, sender_family, sdp_m, now)?;
                self.ensure_media(
                    call_id,
                    receiver,
                    idx,
                    &receiver_if,
                    receiver_family,
                    sdp_m,
                    now,
                )?;
            } else {
                // No ports for a rejected stream, on either side.
                for ml in [sender, receiver] {
                    self.ensure_media_slot(call_id, ml, idx, sdp_m);
                    self.release_at(call_id, ml, idx, now);
                }
            }

            // The party moved its media: rtpengine hands the other side new
            // ports unless told to keep them.
            // Going on hold (c=0.0.0.0) is not a move.
            let moved = existed && {
                let m = &self.calls[call_id].monologues[sender].medias[idx];
                let real = |e: &Option<SocketAddr>| e.is_some_and(|e| !e.ip().is_unspecified());
                real(&m.rtp.advertised_endpoint)
                    && real(&endpoint)
                    && m.rtp.advertised_endpoint != endpoint
            };
            if moved && !rejected && !req.flags.port_latching {
                self.reallocate(call_id, receiver, idx, now)?;
            }

            let call = self.calls.get_mut(call_id).ok_or(CallError::UnknownCall)?;
            let ml = &mut call.monologues[sender];
            ml.family = sender_family.or(ml.family);
            ml.has_sdp = true;
            let m = &mut ml.medias[idx];
            m.direction = direction;
            m.rejected = rejected;
            m.kind = sdp_m.media.clone();
            m.protocol = sdp_m.proto.clone();
            m.rtcp_mux = sdp_m.rtcp_mux();
            m.formats = sdp_m.payload_types().unwrap_or_default();
            m.codecs = sdp_m.codecs();
            m.ptime = sdp_m.ptime();
            for (s, ep) in [(&mut m.rtp, endpoint), (&mut m.rtcp, rtcp_ep)] {
                if s.advertised_endpoint != ep {
                    // New SDP address: learn again from scratch.
                    if s.endpoint != ep {
                        s.confirmed = false;
                    }
                    s.endpoint = ep;
                    s.advertised_endpoint = ep;
                }
            }
            self.negotiate_srtp(call_id, sender, receiver, idx, kind, &srtp, &parsed)?;
        }
        if let Some(call) = self.calls.get_mut(call_id) {
            call.monologues[receiver].family = receiver_family;
        }
        self.refresh_crypto_suites(call_id, [sender, receiver]);

        let out = self.rewrite_for(call_id, &parsed, receiver, req, ex, &srtp)?;
        self.program_call(call_id);
        Ok(out)
    }

    /// Finds (or creates) the monologue that wrote the SDP and the one that
    /// receives it; `true` when the answer forks the call.
    fn resolve_monologues(
        &mut self,
        call_id: &str,
        req: &NgRequest,
        ex: Exchange,
        now: Instant,
        wall: SystemTime,
    ) -> Result<(MonologueIdx, MonologueIdx, bool), CallError> {
        let from_tag = req.from_tag.as_deref().unwrap_or("");
        let call = self.calls.get_mut(call_id).ok_or(CallError::UnknownCall)?;
        call.last_signal = wall;
        call.last_signal_at = now;
        let (sender, receiver, fork) = match ex {
            Exchange::Offer => {
                let a = find_or_create(call, from_tag, wall, false);
                let b = match call.monologues[a].peer {
                    Some(b) if !call.monologues[b].deleted => b,
                    _ => {
                        let b = match req.to_tag.as_deref() {
                            Some(t) if !t.is_empty() => find_or_create(call, t, wall, true),
                            _ => create(call, "", wall, true),
                        };
                        link(call, a, b);
                        b
                    }
                };
                if call.monologues[b].tag.is_empty() {
                    if let Some(vb) = &req.via_branch {
                        call.monologues[b].via_branch = Some(vb.clone());
                    }
                }
                if let Some(label) = &req.label {
                    call.monologues[a].label = Some(label.clone());
                }
                (a, b, false)
            }
            Exchange::Answer => {
                let to_tag = req.to_tag.as_deref().unwrap_or("");
                let a = find_or_create(call, from_tag, wall, false);
                let mut fork = false;
                let b = match call
                    .find_tag(to_tag)
                    .filter(|&i| !call.monologues[i].deleted)
                {
                    Some(b) => b,
                    None => match call.monologues[a].peer {
                        Some(p) if call.monologues[p].tag.is_empty() => {
                            call.monologues[p].tag = to_tag.to_string();
                            p
                        }
                        // Same branch, new to-tag: rtpengine renames the
                        // branch's monologue (it keeps its ports) but still
                        // gives the offerer new ones, as for a fork.
                        Some(p)
                            if req.via_branch.is_some()
                                && call.monologues[p].via_branch == req.via_branch =>
                        {
                            call.monologues[p].tag = to_tag.to_string();
                            fork = true;
                            p
                        }
                        Some(_) => {
                            fork = true;
                            create(call, to_tag, wall, true)
                        }
                        None => create(call, to_tag, wall, true),
                    },
                };
                if fork {
                    // The offerer now sends to the new branch but still
                    // hears the old one.
                    call.monologues[a].peer = Some(b);
                    call.monologues[a].subscribers = vec![b];
                    call.monologues[b].peer = Some(a);
                    call.monologues[b].subscribers = vec![a];
                } else if call.monologues[a].peer != Some(b) {
                    link(call, a, b);
                }
                if let Some(label) = &req.label {
                    call.monologues[b].label = Some(label.clone());
                }
                (b, a, fork)
            }
        };
        let ml = &mut call.monologues[sender];
        ml.strict_source |= req.flags.strict_source;
        ml.media_handover |= req.flags.media_handover;
        ml.asymmetric |= req.flags.asymmetric;
        Ok((sender, receiver, fork))
    }

    /// Makes sure monologue `ml` has media `idx` with bound ports on the right
    /// interface and family.
    #[allow(clippy::too_many_arguments)]
    fn ensure_media(
        &mut self,
        call_id: &str,
        ml: MonologueIdx,
        idx: usize,
        iface: &str,
        family: Option<AddrFamily>,
        sdp_m: &sdp::MediaDescription,
        now: Instant,
    ) -> Result<(), CallError> {
        let logical = self.interfaces.resolve(Some(iface))?;
        let addr = Interfaces::address(logical, family)
            .ok_or_else(|| CallError::UnknownInterface(iface.to_string()))?
            .clone();
        self.ensure_media_slot(call_id, ml, idx, sdp_m);
        let m = &self.calls[call_id].monologues[ml].medias[idx];
        if !m.released && m.rtp.local.ip() == addr.local {
            return Ok(());
        }
        self.bind_media(call_id, ml, idx, addr.local, addr.advertised, now)
    }

    /// Creates media `idx` (unbound) if the monologue does not have it yet.
    fn ensure_media_slot(
        &mut self,
        call_id: &str,
        ml: MonologueIdx,
        idx: usize,
        sdp_m: &sdp::MediaDescription,
    ) {
        let Some(call) = self.calls.get_mut(call_id) else {
            return;
        };
        let medias = &mut call.monologues[ml].medias;
        // Media are added in m= order, so only the next index can be missing.
        while medias.len() <= idx {
            let index = medias.len() + 1;
            // A media leg is half a kilobyte and most calls have one: the
            // default growth to four would waste three quarters of it.
            medias.reserve_exact(1);
            medias.push(MediaLeg::unbound(index, &sdp_m.media, &sdp_m.proto));
        }
    }

    /// New ports for an existing media on the address it already uses.
    fn reallocate(
        &mut self,
        call_id: &str,
        ml: MonologueIdx,
        idx: usize,
        now: Instant,
    ) -> Result<(), CallError> {
        let Some(m) = self.calls[call_id].monologues[ml].medias.get(idx) else {
            return Ok(());
        };
        if m.released {
            return Ok(());
        }
        let (ip, adv) = (m.rtp.local.ip(), m.rtp.advertised);
        self.bind_media(call_id, ml, idx, ip, adv, now)
    }

    /// Binds a fresh port pair for media `idx`, closing its old one; the
    /// streams keep their endpoints and learning state.
    fn bind_media(
        &mut self,
        call_id: &str,
        ml: MonologueIdx,
        idx: usize,
        ip: IpAddr,
        advertised: IpAddr,
        now: Instant,
    ) -> Result<(), CallError> {
        let (rtp, rtcp) = self.new_stream_pair(ip, advertised)?;
        self.release_at(call_id, ml, idx, now);
        let call = self.calls.get_mut(call_id).ok_or(CallError::UnknownCall)?;
        let m = &mut call.monologues[ml].medias[idx];
        m.rtp.local = rtp.local;
        m.rtp.advertised = advertised;
        m.rtcp.local = rtcp.local;
        m.rtcp.advertised = advertised;
        m.released = false;
        self.index_media(call_id, ml, idx);
        Ok(())
    }

    /// Closes the ports of media `idx` (if bound), keeping the media.
    fn release_at(&mut self, call_id: &str, ml: MonologueIdx, idx: usize, now: Instant) {
        let Some(mut m) = self
            .calls
            .get_mut(call_id)
            .and_then(|c| c.monologues.get_mut(ml))
            .and_then(|m| m.medias.get_mut(idx))
            .filter(|m| !m.released)
            .map(|m| std::mem::replace(m, MediaLeg::unbound(0, "", "")))
        else {
            return;
        };
        self.release_media(&mut m, now);
        if let Some(slot) = self
            .calls
            .get_mut(call_id)
            .and_then(|c| c.monologues.get_mut(ml))
            .and_then(|m| m.medias.get_mut(idx))
        {
            *slot = m;
        }
    }

    /// The sender's SDP with the receiver-facing ports and address.
    fn rewrite_for(
        &self,
        call_id: &str,
        parsed: &sdp::SessionDescription,
        receiver: MonologueIdx,
        req: &NgRequest,
        ex: Exchange,
        srtp: &crate::sdes::Flags,
    ) -> Result<Vec<u8>, CallError> {
        let call = self.calls.get(call_id).ok_or(CallError::UnknownCall)?;
        let rml = &call.monologues[receiver];
        let mut media = Vec::with_capacity(parsed.media.len());
        for (idx, sdp_m) in parsed.media.iter().enumerate() {
            let ours = rml.medias.get(idx).ok_or(CallError::UnknownCall)?;
            let address: IpAddr = req.media_address.unwrap_or(ours.rtp.advertised);
            let answering = ex == Exchange::Answer && !ours.formats.is_empty();
            media.push(MediaRewrite {
                address,
                port: if sdp_m.port == 0 || ours.released {
                    0
                } else {
                    ours.rtp.local.port()
                },
                rtcp_port: ours.rtcp.local.port(),
                rtcp_mux: false,
                direction: None,
                proto: ours.transport.map(|t| t.name().to_owned()),
                crypto: crypto_lines(ours, srtp),
                keep_formats: answering.then(|| ours.formats.clone()),
                default_ptime: if ex == Exchange::Answer {
                    ours.ptime
                } else {
                    None
                },
            });
        }
        let plan = RewritePlan {
            replace_origin: req.replace.origin,
            replace_session_connection: req.replace.session_connection,
            ice: match req.ice {
                Some(IceOption::Remove) => IceRewrite::Remove,
                _ => IceRewrite::Default,
            },
            rtcp_attr: if req.flags.no_rtcp_attribute {
                RtcpAttr::Omit
            } else if req.flags.full_rtcp_attribute {
                RtcpAttr::Full
            } else {
                RtcpAttr::Add
            },
            media,
            ..RewritePlan::default()
        };
        Ok(sdp::rewrite(parsed, &plan))
    }
}

fn create(call: &mut Call, tag: &str, wall: SystemTime, ice_controlling: bool) -> MonologueIdx {
    let untagged_no = if tag.is_empty() {
        call.untagged += 1;
        call.untagged
    } else {
        0
    };
    // Most calls have two monologues (`Call::new` reserves them); forks add
    // one at a time.
    call.monologues.reserve_exact(1);
    call.monologues.push(Monologue {
        tag: tag.to_string(),
        label: None,
        via_branch: None,
        created: wall,
        peer: None,
        medias: Vec::new(),
        interface: String::new(),
        family: None,
        deleted: false,
        has_sdp: false,
        ice_controlling,
        strict_source: false,
        media_handover: false,
        untagged_no,
        subscribers: Vec::new(),
        asymmetric: false,
    });
    call.monologues.len() - 1
}

fn find_or_create(
    call: &mut Call,
    tag: &str,
    wall: SystemTime,
    ice_controlling: bool,
) -> MonologueIdx {
    match call.find_tag(tag) {
        Some(i) if !call.monologues[i].deleted => i,
        _ => create(call, tag, wall, ice_controlling),
    }
}

/// Makes `a` and `b` each other's peer and each other's only subscriber.
fn link(call: &mut Call, a: MonologueIdx, b: MonologueIdx) {
    call.monologues[a].peer = Some(b);
    call.monologues[b].peer = Some(a);
    call.monologues[a].subscribers = vec![b];
    call.monologues[b].subscribers = vec![a];
}

fn pick_interface(
    ml: &Monologue,
    requested: Option<&String>,
    interfaces: &Interfaces,
) -> Result<String, CallError> {
    if let Some(name) = requested {
        return Ok(interfaces.resolve(Some(name))?.name.clone());
    }
    if !ml.interface.is_empty() {
        return Ok(ml.interface.clone());
    }
    Ok(interfaces.resolve(None)?.name.clone())
}
