//! `query` and the stats part of `delete` replies, in rtpengine's layout:
//! the fields Kamailio's `$rtpstat` and MOS pseudo-variables read.

use std::net::SocketAddr;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use crate::ng::{Dict, NgRequest, Value};

use super::model::{AddrFamily, Call, Component, MediaLeg, Monologue, StreamStats};
use super::registry::CallRegistry;
use super::CallError;

fn secs(t: SystemTime) -> i64 {
    t.duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

fn endpoint_dict(ep: Option<SocketAddr>) -> Dict {
    let mut d = Dict::new();
    if let Some(ep) = ep {
        d.insert("family", AddrFamily::of(&ep.ip()).name());
        d.insert("address", crate::sdp::ip_text(ep.ip()));
        d.insert("port", i64::from(ep.port()));
    }
    d
}

fn stats_dict(st: &StreamStats) -> Dict {
    let mut d = Dict::new();
    d.insert("packets", st.packets as i64);
    d.insert("bytes", st.bytes as i64);
    d.insert("errors", st.errors as i64);
    d
}

impl CallRegistry {
    /// The `query` reply body (without `result`).
    pub fn query(&self, now: Instant, req: &NgRequest) -> Result<Dict, CallError> {
        let call_id = req.call_id.as_deref().ok_or(CallError::NoCallId)?;
        let call = self.calls.get(call_id).ok_or(CallError::UnknownCall)?;
        Ok(self.call_stats(call, now, req.from_tag.as_deref(), req.to_tag.as_deref()))
    }

    /// Stats of the whole call, or, when a tag is named (the to-tag wins),
    /// of that monologue and the ones it receives media from: the subset
    /// rtpengine reports.
    pub(super) fn call_stats(
        &self,
        call: &Call,
        now: Instant,
        from_tag: Option<&str>,
        to_tag: Option<&str>,
    ) -> Dict {
        // A named tag that does not exist shows nothing, as in rtpengine.
        let shown: Vec<usize> = match to_tag.or(from_tag) {
            Some(t) => match call.find_tag(t) {
                Some(f) => {
                    let mut v = vec![f];
                    v.extend(
                        (0..call.monologues.len())
                            .rev()
                            .filter(|&o| o != f && call.monologues[o].subscribers.contains(&f)),
                    );
                    v
                }
                None => Vec::new(),
            },
            None => (0..call.monologues.len()).collect(),
        };
        let mut out = Dict::new();
        let created = call.created.duration_since(UNIX_EPOCH).unwrap_or_default();
        out.insert("created", created.as_secs() as i64);
        out.insert("created_us", i64::from(created.subsec_micros()));
        out.insert("last signal", secs(call.last_signal));
        out.insert("SSRC", Dict::new());
        let mut tags = Dict::new();
        let mut totals_rtp = StreamStats::default();
        let mut totals_rtcp = StreamStats::default();
        for ml in shown.iter().filter_map(|&i| call.monologues.get(i)) {
            let mut t = Dict::new();
            t.insert("tag", ml.tag.clone());
            if let Some(vb) = &ml.via_branch {
                t.insert("via-branch", vb.clone());
            }
            if let Some(l) = &ml.label {
                t.insert("label", l.clone());
            }
            t.insert("created", secs(ml.created));
            // Newest subscription first, as rtpengine lists them.
            let subscriptions: Vec<Value> = call
                .monologues
                .iter()
                .rev()
                .filter(|other| {
                    other
                        .subscribers
                        .iter()
                        .any(|&s| std::ptr::eq(&call.monologues[s], ml))
                })
                .map(|other| sub_entry(&other.tag))
                .collect();
            let subscribers: Vec<Value> = ml
                .subscribers
                .iter()
                .filter_map(|&s| call.monologues.get(s))
                .map(|o| sub_entry(&o.tag))
                .collect();
            t.insert("subscriptions", subscriptions);
            t.insert("subscribers", subscribers);
            let mut medias = Vec::new();
            for m in &ml.medias {
                let mut md = Dict::new();
                md.insert("index", m.index as i64);
                md.insert("type", m.kind.clone());
                // rtpengine omits protocols it does not know.
                if let Some(t) = m.transport {
                    md.insert("protocol", t.name());
                }
                if let Some(codec) = m.last_pt.and_then(|pt| codec_name(call, ml, m, pt)) {
                    md.insert("codec", codec);
                }
                let mut streams = Vec::new();
                for comp in [Component::Rtp, Component::Rtcp] {
                    let s = m.stream(comp);
                    let st = if ml.deleted {
                        s.stats
                    } else {
                        self.stream_stats(s, now)
                    };
                    match comp {
                        Component::Rtp => totals_rtp.add(&st),
                        Component::Rtcp => totals_rtcp.add(&st),
                    }
                    let mut sd = Dict::new();
                    if !ml.deleted && !m.released {
                        sd.insert("local port", i64::from(s.local.port()));
                        sd.insert("local address", crate::sdp::ip_text(s.local.ip()));
                        sd.insert("family", AddrFamily::of(&s.local.ip()).name());
                    }
                    sd.insert("endpoint", endpoint_dict(s.endpoint));
                    sd.insert("advertised endpoint", endpoint_dict(s.advertised_endpoint));
                    if let Some(suite) = s.crypto_suite {
                        sd.insert("crypto suite", suite.name());
                    }
                    sd.insert("last packet", secs(st.last_packet.unwrap_or(ml.created)));
                    let mut flags: Vec<Value> = vec![match comp {
                        Component::Rtp => "RTP".into(),
                        Component::Rtcp => "RTCP".into(),
                    }];
                    if s.endpoint.is_some() {
                        flags.push("filled".into());
                    }
                    if s.confirmed {
                        flags.push("confirmed".into());
                        // rtpengine hands a confirmed stream to its kernel
                        // module; without one it says so. Our equivalent is
                        // the flow table, which is always there.
                        flags.push("kernelized".into());
                        if self.settings.no_kernel {
                            flags.push("no kernel support".into());
                        }
                    }
                    if ml.strict_source {
                        flags.push("strict source address".into());
                    }
                    if ml.media_handover {
                        flags.push("media handover".into());
                    }
                    sd.insert("flags", flags);
                    if let Some(ssrc) = s.last_ssrc {
                        sd.insert("SSRC", i64::from(ssrc));
                    }
                    sd.insert("stats", stats_dict(&st));
                    streams.push(Value::Dict(sd));
                }
                md.insert("streams", streams);
                // "send"/"recv" are from our side: we send to a party that
                // receives, and receive from one that sends.
                let mut mflags: Vec<Value> = Vec::new();
                if ml.has_sdp {
                    mflags.push("initialized".into());
                }
                if ml.asymmetric {
                    mflags.push("asymmetric".into());
                }
                if m.receives() {
                    mflags.push("send".into());
                }
                if m.sends() {
                    mflags.push("recv".into());
                }
                if m.sdes.dtls_active {
                    mflags.push("DTLS role active".into());
                }
                if m.sdes.dtls_passive {
                    mflags.push("DTLS role passive".into());
                }
                if m.sdes.enabled {
                    mflags.push("SDES".into());
                }
                if ml.ice_controlling {
                    mflags.push("ICE controlling".into());
                }
                md.insert("flags", mflags);
                medias.push(Value::Dict(md));
            }
            t.insert("medias", medias);
            let key = if ml.tag.is_empty() {
                format!("<untagged {}>", ml.untagged_no)
            } else {
                ml.tag.clone()
            };
            tags.insert(key, t);
        }
        out.insert("tags", tags);
        let mut totals = Dict::new();
        totals.insert("RTP", stats_dict(&totals_rtp));
        totals.insert("RTCP", stats_dict(&totals_rtcp));
        out.insert("totals", totals);
        out
    }

    /// Call-ids for `list`, newest first, at most `limit`.
    pub fn list(&self, limit: Option<u64>) -> Vec<String> {
        let limit = limit.map_or(usize::MAX, |l| l as usize);
        self.order
            .values()
            .rev()
            .take(limit)
            .map(|id| id.to_string())
            .collect()
    }
}

/// The codec of payload type `pt` sent by `ml` on `m`: from its own SDP, else
/// from what its peers offered for the same media (a party may send a codec
/// the other side offered; rtpengine names it from either list).
fn codec_name(call: &Call, ml: &Monologue, m: &MediaLeg, pt: u8) -> Option<String> {
    let find = |list: &[(u8, String)]| list.iter().find(|(p, _)| *p == pt).map(|(_, c)| c.clone());
    find(&m.codecs).or_else(|| {
        ml.subscribers
            .iter()
            .filter_map(|&s| call.monologues.get(s)?.medias.get(m.index.checked_sub(1)?))
            .find_map(|pm| find(&pm.codecs))
    })
}

fn sub_entry(tag: &str) -> Value {
    let mut d = Dict::new();
    d.insert("tag", tag.to_string());
    d.insert("type", "offer/answer");
    Value::Dict(d)
}
