//! `offer` and `answer`: update the parties' media from their SDP, allocate
//! our ports, program the flows, and return the SDP rewritten to our ports.

use std::net::{IpAddr, SocketAddr};
use std::time::{Instant, SystemTime};

use crate::ng::{AddressFamily, IceOption, NgRequest};
use crate::sdp::{self, Direction, IceRewrite, MediaRewrite, RewritePlan, RtcpAttr};

use super::interfaces::Interfaces;
use super::model::{AddrFamily, Call, MediaLeg, Monologue, MonologueIdx};
use super::registry::CallRegistry;
use super::CallError;

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
        self.exchange(now, wall, req, Exchange::Offer)
    }

    /// `answer`: the SDP comes from the `to-tag` party and goes back to the
    /// `from-tag` party.
    pub fn answer(
        &mut self,
        now: Instant,
        wall: SystemTime,
        req: &NgRequest,
    ) -> Result<Vec<u8>, CallError> {
        self.exchange(now, wall, req, Exchange::Answer)
    }

    fn exchange(
        &mut self,
        now: Instant,
        wall: SystemTime,
        req: &NgRequest,
        ex: Exchange,
    ) -> Result<Vec<u8>, CallError> {
        let call_id = req.call_id.as_deref().ok_or(CallError::NoCallId)?;
        let from_tag = req.from_tag.as_deref().ok_or(CallError::NoFromTag)?;
        let sdp_bytes = req.sdp.as_deref().ok_or(CallError::NoSdp)?;
        let parsed = sdp::parse(sdp_bytes).map_err(CallError::BadSdp)?;
        if ex == Exchange::Answer && !self.calls.contains_key(call_id) {
            return Err(CallError::UnknownCall);
        }
        if !self.calls.contains_key(call_id) {
            self.calls.insert(
                call_id.to_string(),
                Call::new(call_id.to_string(), now, wall),
            );
            self.order.push(call_id.to_string());
            self.totals.managed_sessions += 1;
        }

        // Resolve the two monologues: `sender` wrote the SDP, `receiver` gets
        // our rewritten copy.
        let (sender, receiver, fork) = {
            let call = self.calls.get_mut(call_id).ok_or(CallError::UnknownCall)?;
            call.last_signal = wall;
            call.last_signal_at = now;
            if req.flags.strict_source {
                call.flags.strict_source = true;
            }
            if req.flags.media_handover {
                call.flags.media_handover = true;
            }
            match ex {
                Exchange::Offer => {
                    let a = find_or_create(call, from_tag, wall);
                    let b = match call.monologues[a].peer {
                        Some(b) if !call.monologues[b].deleted => b,
                        _ => {
                            let b = match req.to_tag.as_deref() {
                                Some(t) if !t.is_empty() => find_or_create(call, t, wall),
                                _ => create(call, "", wall),
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
                    call.monologues[a].offerer = true;
                    (a, b, false)
                }
                Exchange::Answer => {
                    let to_tag = req.to_tag.as_deref().unwrap_or("");
                    let a = find_or_create(call, from_tag, wall);
                    let mut fork = false;
                    let b = if let Some(b) = call.find_tag(to_tag).filter(|_| !to_tag.is_empty()) {
                        b
                    } else {
                        match call.monologues[a].peer {
                            Some(p) if call.monologues[p].tag.is_empty() => {
                                call.monologues[p].tag = to_tag.to_string();
                                p
                            }
                            Some(_) => {
                                // A second to-tag answering the same offer:
                                // a forked call. The new branch gets its own
                                // ports, and so does the offerer towards it.
                                fork = true;
                                create(call, to_tag, wall)
                            }
                            None => create(call, to_tag, wall),
                        }
                    };
                    if call.monologues[a].peer != Some(b) {
                        link(call, a, b);
                    }
                    if let Some(label) = &req.label {
                        call.monologues[b].label = Some(label.clone());
                    }
                    (b, a, fork)
                }
            }
        };

        if fork {
            // The offerer's ports towards the old branch stay with the old
            // branch's media; the offerer gets new ones for the new branch.
            let call = self.calls.get_mut(call_id).ok_or(CallError::UnknownCall)?;
            let old = std::mem::take(&mut call.monologues[receiver].medias);
            for mut m in old {
                self.release_media(&mut m, now);
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
        let sender_family = parsed
            .media_endpoint(0)
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

        // Sender's media: endpoints from its SDP (or the SIP source address).
        let use_sip_source = req.flags.sip_source_address && !req.flags.trust_address;
        for idx in 0..parsed.media.len() {
            let sdp_m = &parsed.media[idx];
            let rejected = sdp_m.port == 0;
            let mut endpoint = parsed.media_endpoint(idx);
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
            for (ml, iface, family) in [
                (sender, &sender_if, sender_family),
                (receiver, &receiver_if, receiver_family),
            ] {
                self.ensure_media(call_id, ml, idx, iface, family, sdp_m, now)?;
            }
            let call = self.calls.get_mut(call_id).ok_or(CallError::UnknownCall)?;
            let ml = &mut call.monologues[sender];
            ml.family = sender_family.or(ml.family);
            ml.has_sdp = true;
            // `symmetric` never reaches rtpengine as a flag (Kamailio
            // consumes it); only `asymmetric` changes anything.
            if req.flags.asymmetric {
                ml.asymmetric = true;
            }
            let m = &mut ml.medias[idx];
            m.direction = direction;
            m.rejected = rejected;
            m.kind = sdp_m.media.clone();
            m.protocol = sdp_m.proto.clone();
            m.rtcp_mux = sdp_m.rtcp_mux();
            for (s, ep) in [(&mut m.rtp, endpoint), (&mut m.rtcp, rtcp_ep)] {
                let ep = if rejected {
                    None
                } else {
                    ep.filter(|e| !e.ip().is_unspecified())
                };
                if s.advertised_endpoint != ep {
                    // New SDP address: learn again from scratch, unless the
                    // party only re-sent what we already latched.
                    if s.endpoint != ep {
                        s.confirmed = false;
                    }
                    s.endpoint = ep;
                    s.advertised_endpoint = ep;
                }
            }
        }
        if let Some(call) = self.calls.get_mut(call_id) {
            call.monologues[receiver].family = receiver_family;
        }

        let out = self.rewrite_for(call_id, &parsed, receiver, req)?;
        self.program_call(call_id);
        Ok(out)
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
        let call = self.calls.get_mut(call_id).ok_or(CallError::UnknownCall)?;
        let have = call.monologues[ml]
            .medias
            .get(idx)
            .map(|m| m.rtp.local.ip());
        if have == Some(addr.local) {
            return Ok(());
        }
        // Missing, or on the wrong address (family changed): (re)allocate.
        let (rtp, rtcp) = self.new_stream_pair(addr.local, addr.advertised)?;
        let call = self.calls.get_mut(call_id).ok_or(CallError::UnknownCall)?;
        let medias = &mut call.monologues[ml].medias;
        let fresh = MediaLeg {
            index: idx + 1,
            kind: sdp_m.media.clone(),
            protocol: sdp_m.proto.clone(),
            direction: Direction::SendRecv,
            rejected: false,
            rtcp_mux: false,
            rtp,
            rtcp,
        };
        let old = if idx < medias.len() {
            Some(std::mem::replace(&mut medias[idx], fresh))
        } else {
            // Media are added in m= order, so idx == len here.
            medias.push(fresh);
            None
        };
        if let Some(mut old) = old {
            self.release_media(&mut old, now);
        }
        self.index_media(call_id, ml, idx);
        Ok(())
    }

    /// The sender's SDP with the receiver-facing ports and address.
    fn rewrite_for(
        &self,
        call_id: &str,
        parsed: &sdp::SessionDescription,
        receiver: MonologueIdx,
        req: &NgRequest,
    ) -> Result<Vec<u8>, CallError> {
        let call = self.calls.get(call_id).ok_or(CallError::UnknownCall)?;
        let rml = &call.monologues[receiver];
        let mut media = Vec::with_capacity(parsed.media.len());
        for (idx, sdp_m) in parsed.media.iter().enumerate() {
            let ours = rml.medias.get(idx).ok_or(CallError::UnknownCall)?;
            let address: IpAddr = req.media_address.unwrap_or(ours.rtp.advertised);
            media.push(MediaRewrite {
                address,
                port: if sdp_m.port == 0 {
                    0
                } else {
                    ours.rtp.local.port()
                },
                rtcp_port: ours.rtcp.local.port(),
                rtcp_mux: false,
                direction: None,
                proto: req.transport_protocol.clone(),
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

fn create(call: &mut Call, tag: &str, wall: SystemTime) -> MonologueIdx {
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
        offerer: false,
        subscribers: Vec::new(),
        asymmetric: false,
    });
    call.monologues.len() - 1
}

fn find_or_create(call: &mut Call, tag: &str, wall: SystemTime) -> MonologueIdx {
    match call.find_tag(tag) {
        Some(i) if !call.monologues[i].deleted => i,
        _ => create(call, tag, wall),
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
