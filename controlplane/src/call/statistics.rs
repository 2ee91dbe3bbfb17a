//! Daemon-wide counters and the `statistics` reply, in rtpengine's layout
//! (the subset of its fields that rtpbolt actually measures).

use std::time::{Duration, Instant, SystemTime};

use crate::ng::{Dict, Value};

use super::model::StreamStats;
use super::registry::CallRegistry;

#[derive(Debug, Default, Clone)]
pub struct Totals {
    pub managed_sessions: u64,
    pub rejected_sessions: u64,
    pub timeout_sessions: u64,
    pub silent_timeout_sessions: u64,
    pub final_timeout_sessions: u64,
    pub regular_terminated: u64,
    pub forced_terminated: u64,
    /// Packets that arrived on a port no stream owns (between port release
    /// and socket close).
    pub unknown_packets: u64,
    /// Packets dropped by the control plane as neither RTP nor RTCP.
    pub malformed_packets: u64,
    /// SRTP/SRTCP packets the control plane dropped: failed authentication,
    /// replays, garbled or unusable keys.
    pub srtp_errors: u64,
    pub ended_calls: u64,
    pub total_duration: Duration,
    /// Media counters of calls that are gone.
    pub ended: StreamStats,
}

impl Totals {
    pub fn record_duration(&mut self, d: Duration) {
        self.ended_calls += 1;
        self.total_duration += d;
    }
}

fn float(v: f64) -> Value {
    // rtpengine prints these with six decimals, as strings.
    Value::from(format!("{v:.6}"))
}

impl CallRegistry {
    /// The `statistics` reply body (without `result`). `ng_counts` are the
    /// per-command request counters kept by the ng front end.
    pub fn statistics(&self, now: Instant, wall: SystemTime, ng_counts: &[(&str, u64)]) -> Dict {
        let mut media = self.totals.ended;
        for call in self.calls.values() {
            for ml in &call.monologues {
                for m in &ml.medias {
                    for s in [&m.rtp, &m.rtcp] {
                        let st = if ml.deleted {
                            s.stats
                        } else {
                            self.stream_stats(s, now)
                        };
                        media.add(&st);
                    }
                }
            }
        }
        let mut current = Dict::new();
        current.insert("sessionsown", self.calls.len() as i64);
        current.insert("sessionsforeign", 0i64);
        current.insert("sessionstotal", self.calls.len() as i64);
        current.insert("transcodedmedia", 0i64);
        // Not rtpengine's: entries a previous daemon left in a `--flow-table` file,
        // still forwarded by the data plane (see `orphans`).
        let (orphans_live, orphans_adopted, orphans_expired) = self.orphan_counts();
        current.insert("orphanedflows", orphans_live as i64);

        let t = &self.totals;
        let mut total = Dict::new();
        let uptime = wall.duration_since(self.started).unwrap_or_default();
        total.insert("uptime", uptime.as_secs().to_string());
        total.insert("managedsessions", t.managed_sessions as i64);
        total.insert("rejectedsessions", t.rejected_sessions as i64);
        total.insert("timeoutsessions", t.timeout_sessions as i64);
        total.insert("silenttimeoutsessions", t.silent_timeout_sessions as i64);
        total.insert("finaltimeoutsessions", t.final_timeout_sessions as i64);
        total.insert("regularterminatedsessions", t.regular_terminated as i64);
        total.insert("forcedterminatedsessions", t.forced_terminated as i64);
        total.insert("orphanedflowsadopted", orphans_adopted as i64);
        total.insert("orphanedflowsexpired", orphans_expired as i64);
        // "kernel" is rtpengine's name for its fast path: here, the data
        // plane's flow-table hits; "user" is what the control plane relayed.
        let m = &media;
        for (name, v) in [
            ("relayedpackets_user", m.packets - m.fast_packets),
            ("relayedpacketerrors_user", m.errors - m.fast_errors),
            ("relayedbytes_user", m.bytes - m.fast_bytes),
            ("relayedpackets_kernel", m.fast_packets),
            ("relayedpacketerrors_kernel", m.fast_errors),
            ("relayedbytes_kernel", m.fast_bytes),
            ("relayedpackets", m.packets),
            ("relayedpacketerrors", m.errors),
            ("relayedbytes", m.bytes),
        ] {
            total.insert(name, v as i64);
        }
        let avg = if t.ended_calls == 0 {
            0.0
        } else {
            t.total_duration.as_secs_f64() / t.ended_calls as f64
        };
        total.insert("avgcallduration", float(avg));
        total.insert("totalcallsduration", float(t.total_duration.as_secs_f64()));

        let mut control = Dict::new();
        for (name, count) in ng_counts {
            control.insert(format!("total{name}count"), *count as i64);
        }

        let mut interfaces = Vec::new();
        for li in self.interfaces.all() {
            for a in &li.addresses {
                let mut d = Dict::new();
                d.insert("name", li.name.clone());
                d.insert("address", a.local.to_string());
                interfaces.push(Value::Dict(d));
            }
        }

        let mut out = Dict::new();
        // Not rtpengine's: the AF_XDP data plane's program and socket counters.
        if let Some(counters) = self.table.steering_counters() {
            let mut d = Dict::new();
            for (name, v) in counters {
                d.insert(name, v as i64);
            }
            out.insert("afxdpstatistics", d);
        }
        out.insert("currentstatistics", current);
        out.insert("totalstatistics", total);
        out.insert("controlstatistics", control);
        out.insert("interfaces", interfaces);
        let mut wrapper = Dict::new();
        wrapper.insert("statistics", out);
        wrapper
    }
}
