//! The four scenario kinds as sequences of phases, and the figures each one
//! reports.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use super::{Phase, PhaseSpec, Route, RunError, Runner, Target};
use crate::endpoints::Side;
use crate::ng::{self, CallIds, NgConn};
use crate::payload::Direction;
use crate::report::{Figures, Step};
use crate::scenario::{BlastSpec, MediaSpec, NgSpec, RampSpec, Traffic};
use crate::sender::{Keyspace, Pace};
use crate::stats::{added_us, us, Latency};

/// Length of one baseline+relay round (see [`Runner::rate_phases`]).
const ROUND: Duration = Duration::from_secs(2);

/// Figures of a relay phase against its baseline phase.
fn traffic_figures(f: &mut Figures, calls: u32, base: &Phase, relay: &Phase) {
    let t = &relay.totals;
    let secs = relay.window.as_secs_f64();
    f.set("calls", Some(f64::from(calls)));
    f.set("packets_sent", Some(t.sent as f64));
    f.set("packets_received", Some(t.received as f64));
    f.set("packets_lost", Some(t.lost as f64));
    f.set("loss_percent", Some(t.loss_ratio() * 100.0));
    f.set("reordered", Some(t.reordered as f64));
    f.set("duplicates", Some(t.duplicates as f64));
    f.set("misrouted", Some(relay.misrouted as f64));
    f.set("stray", Some((relay.stray + relay.malformed) as f64));
    f.set("send_errors", Some(relay.send_errors as f64));
    f.set("sender_late", Some(relay.late as f64));
    f.set("sender_max_lag_us", Some(us(relay.max_lag)));
    f.set(
        "forwarded_pps",
        (secs > 0.0).then(|| relay.measured as f64 / secs),
    );
    let (p, b) = (relay.latency.percentiles(), base.latency.percentiles());
    let pick = |x: Option<crate::stats::Percentiles>,
                g: fn(&crate::stats::Percentiles) -> Duration| {
        x.as_ref().map(|p| us(g(p)))
    };
    f.set("latency_p50_us", pick(p, |p| p.p50));
    f.set("latency_p99_us", pick(p, |p| p.p99));
    f.set("latency_p999_us", pick(p, |p| p.p999));
    f.set("latency_max_us", pick(p, |p| p.max));
    f.set("baseline_p50_us", pick(b, |p| p.p50));
    f.set("baseline_p99_us", pick(b, |p| p.p99));
    f.set("baseline_p999_us", pick(b, |p| p.p999));
    f.set("baseline_lost", Some(base.totals.lost as f64));
    let added = |g: fn(&crate::stats::Percentiles) -> Duration| match (p, b) {
        (Some(p), Some(b)) => Some(added_us(g(&p), g(&b))),
        _ => None,
    };
    f.set("added_p50_us", added(|p| p.p50));
    f.set("added_p99_us", added(|p| p.p99));
    f.set("added_p999_us", added(|p| p.p999));
    let cpu = relay.cpu.map(|c| c.as_secs_f64());
    f.set("relay_cpu_s", cpu);
    f.set(
        "relay_cpu_s_per_mpkt",
        cpu.filter(|_| relay.measured > 0)
            .map(|c| c / relay.measured as f64 * 1e6),
    );
}

/// RSS figures of a run that set up `calls` calls.
fn rss_figures(
    f: &mut Figures,
    calls: u32,
    before: Option<u64>,
    after_setup: Option<u64>,
    after_delete: Option<u64>,
) {
    let kib = |v: Option<u64>| v.map(|v| v as f64);
    f.set("rss_before_kib", kib(before));
    f.set("rss_after_setup_kib", kib(after_setup));
    f.set(
        "rss_per_call_kib",
        before
            .zip(after_setup)
            .filter(|_| calls > 0)
            .map(|(b, a)| (a as f64 - b as f64) / f64::from(calls)),
    );
    f.set("rss_after_delete_kib", kib(after_delete));
}

impl Runner<'_> {
    fn is_ng(&self) -> bool {
        matches!(self.opts.target, Target::Ng(_))
    }

    fn rate_phase(
        &self,
        name: &'static str,
        calls: u32,
        t: &Traffic,
        duration: Duration,
        route: &Route<'_>,
    ) -> PhaseSpec {
        let keyspace = Keyspace {
            calls,
            streams_per_call: t.streams_per_call,
        };
        PhaseSpec {
            name,
            calls,
            keyspace,
            flows: self.flows(keyspace, &Direction::BOTH, route),
            pace: Pace::Rate { pps: t.pps },
            packet_size: t.packet_size,
            duration,
            // A baseline shorter than the warmup would measure nothing.
            warmup: if t.warmup * 2 < duration {
                t.warmup
            } else {
                Duration::ZERO
            },
            drain: t.drain,
        }
    }

    /// Baseline and relay phases for `calls` calls already set up,
    /// interleaved in rounds of about [`ROUND`] each and merged: on a shared
    /// machine the noise comes and goes over seconds, and alternating lets
    /// both sides of the "added latency" subtraction see the same noise.
    /// No round has a warmup of its own: one unmeasured relay phase comes first.
    fn rate_phases(
        &mut self,
        calls: u32,
        t: &Traffic,
        baseline: Duration,
        duration: Duration,
    ) -> Result<(Phase, Phase), RunError> {
        let rounds = (duration.as_secs_f64() / ROUND.as_secs_f64())
            .round()
            .max(1.0) as u32;
        // Relays keep a new call's media on their slow path until they have learnt the
        // endpoints (rtpengine and rtpbolt: 3 s after the last signalling), so the
        // warmup runs relay traffic once, unmeasured, before the alternating rounds.
        if !t.warmup.is_zero() {
            let mut warm = self.rate_phase("warmup", calls, t, t.warmup, &self.target_route());
            warm.warmup = Duration::ZERO;
            self.run_phase(warm, None)?;
        }
        let mut merged: Option<(Phase, Phase)> = None;
        for _ in 0..rounds {
            let mut spec = self.rate_phase("baseline", calls, t, baseline / rounds, &Route::Direct);
            let mut relay_spec =
                self.rate_phase("relay", calls, t, duration / rounds, &self.target_route());
            spec.warmup = Duration::ZERO;
            relay_spec.warmup = Duration::ZERO;
            let base = self.run_phase(spec, None)?;
            let relay = self.run_phase(relay_spec, self.opts.relay_pid)?;
            merged = Some(match merged {
                None => (base, relay),
                Some((b, r)) => (b.merge(base), r.merge(relay)),
            });
        }
        Ok(merged.expect("at least one round"))
    }

    pub(super) fn media(&mut self, m: &MediaSpec) -> Result<(), RunError> {
        let rss_before = self.relay_rss_if_ng();
        let setup = self.setup_calls(m.calls, m.traffic.streams_per_call)?;
        let rss_setup = self.relay_rss_if_ng();
        let (base, relay) = self.rate_phases(m.calls, &m.traffic, m.duration, m.duration)?;
        self.delete_calls()?;
        let rss_deleted = self.relay_rss_after_delete();
        let mut f = Figures::default();
        traffic_figures(&mut f, m.calls, &base, &relay);
        let ng = self.is_ng();
        f.set("setup_s", ng.then_some(setup.as_secs_f64()));
        f.set(
            "setup_calls_per_s",
            ng.then(|| f64::from(m.calls) / setup.as_secs_f64().max(1e-9)),
        );
        rss_figures(&mut f, m.calls, rss_before, rss_setup, rss_deleted);
        self.report.figures = f;
        Ok(())
    }

    pub(super) fn ramp(&mut self, r: &RampSpec) -> Result<(), RunError> {
        let rss_before = self.relay_rss_if_ng();
        let mut held: Option<(u32, Figures, Option<u64>)> = None;
        let mut failed = None;
        let mut calls = r.start_calls;
        loop {
            if let Err(e) = self.setup_calls(calls, r.traffic.streams_per_call) {
                self.report
                    .notes
                    .push(format!("stopped at {calls} calls: setup failed: {e}"));
                failed = Some(calls);
                break;
            }
            let rss = self.relay_rss_if_ng();
            let mut attempt = 0;
            let (f, loss, p99, passed) = loop {
                attempt += 1;
                let (base, relay) = self.rate_phases(calls, &r.traffic, r.baseline, r.step)?;
                let mut f = Figures::default();
                traffic_figures(&mut f, calls, &base, &relay);
                let loss = relay.totals.loss_ratio();
                let p99 = f.get("added_p99_us");
                let passed = loss <= r.max_loss && p99.is_some_and(|p| p <= us(r.max_added_p99));
                self.progress(format_args!(
                    "step     calls={calls} try={attempt}/{} loss={:.3}% added_p99={} µs: {}",
                    r.attempts,
                    loss * 100.0,
                    crate::report::fmt_value(p99),
                    if passed { "pass" } else { "FAIL" }
                ));
                self.report.steps.push(Step {
                    calls,
                    passed,
                    figures: f.clone(),
                });
                if passed || attempt >= r.attempts {
                    break (f, loss, p99, passed);
                }
            };
            if !passed {
                self.report.notes.push(format!(
                    "stopped at {calls} calls: loss {:.3}% (limit {:.3}%), added p99 {} µs (limit {:.0} µs)",
                    loss * 100.0,
                    r.max_loss * 100.0,
                    crate::report::fmt_value(p99),
                    us(r.max_added_p99)
                ));
                failed = Some(calls);
                break;
            }
            held = Some((calls, f, rss));
            if calls >= r.max_calls {
                break;
            }
            calls = (calls + r.step_calls).min(r.max_calls);
        }
        self.delete_calls()?;
        let rss_deleted = self.relay_rss_after_delete();
        let mut f = Figures::default();
        f.set(
            "calls_held",
            Some(held.as_ref().map_or(0.0, |h| f64::from(h.0))),
        );
        f.set("calls_failed", failed.map(f64::from));
        let (held_calls, held_figs, held_rss) = held.unwrap_or((0, Figures::default(), None));
        // The figures of the highest passing step, so side-by-side runs
        // compare like with like.
        f.extend(&held_figs);
        f.set("calls", Some(f64::from(held_calls)));
        rss_figures(&mut f, held_calls, rss_before, held_rss, rss_deleted);
        self.report.figures = f;
        Ok(())
    }

    pub(super) fn blast(&mut self, b: &BlastSpec) -> Result<(), RunError> {
        let keyspace = Keyspace {
            calls: b.streams,
            streams_per_call: 1,
        };
        let phase = |name, flows| PhaseSpec {
            name,
            calls: b.streams,
            keyspace,
            flows,
            pace: Pace::Blast {
                max_in_flight: u64::from(b.max_in_flight),
            },
            packet_size: b.packet_size,
            duration: b.duration,
            warmup: b.warmup,
            drain: b.drain,
        };
        // One way only: a blast measures forwarding, and both directions
        // would just halve each one.
        let flows = self.flows(keyspace, &[Direction::AtoB], &Route::Direct);
        let base = self.run_phase(phase("baseline", flows), None)?;
        self.setup_calls(b.streams, 1)?;
        let flows = self.flows(keyspace, &[Direction::AtoB], &self.target_route());
        let relay = self.run_phase(phase("relay", flows), self.opts.relay_pid)?;
        self.delete_calls()?;
        let mut f = Figures::default();
        traffic_figures(&mut f, b.streams, &base, &relay);
        let secs = base.window.as_secs_f64();
        f.set(
            "baseline_pps",
            (secs > 0.0).then(|| base.measured as f64 / secs),
        );
        self.report.figures = f;
        Ok(())
    }

    pub(super) fn ng(&mut self, n: &NgSpec) -> Result<(), RunError> {
        let mut f = Figures::default();
        let Target::Ng(addr) = self.opts.target else {
            for &k in &n.in_flight {
                f.set(&format!("ng_tps_{k}"), None);
                f.set(&format!("ng_p50_us_{k}"), None);
                f.set(&format!("ng_p99_us_{k}"), None);
                f.set(&format!("ng_errors_{k}"), None);
            }
            f.set("rss_before_kib", None);
            f.set("rss_after_kib", None);
            self.report
                .notes
                .push("the null forwarder speaks no ng: ng figures do not apply".into());
            self.report.figures = f;
            return Ok(());
        };
        f.set("rss_before_kib", self.relay_rss().map(|v| v as f64));
        let a = self.eps.addr(self.eps.token(Side::A, 0, 0, 1));
        let b = self.eps.addr(self.eps.token(Side::B, 0, 0, 1));
        for (round, &k) in n.in_flight.iter().enumerate() {
            let t = transactions(
                addr,
                k,
                n.duration,
                (a, b),
                self.nonce + round as u64 + 1,
                |ok, secs| {
                    self.progress(format_args!(
                        "ng       in_flight={k} t={secs:>3.0}s transactions={ok}"
                    ))
                },
            );
            f.set(
                &format!("ng_tps_{k}"),
                Some(t.ok as f64 / t.elapsed.as_secs_f64()),
            );
            let p = t.latency.percentiles();
            f.set(&format!("ng_p50_us_{k}"), p.map(|p| us(p.p50)));
            f.set(&format!("ng_p99_us_{k}"), p.map(|p| us(p.p99)));
            f.set(&format!("ng_errors_{k}"), Some(t.errors as f64));
            if let Some(e) = t.first_error {
                self.report
                    .notes
                    .push(format!("in_flight={k}: {} errors, first: {e}", t.errors));
            }
        }
        f.set("rss_after_kib", self.relay_rss().map(|v| v as f64));
        self.report.figures = f;
        Ok(())
    }

    fn relay_rss_if_ng(&mut self) -> Option<u64> {
        if self.is_ng() {
            self.relay_rss()
        } else {
            None
        }
    }

    /// RSS once the relay has had a moment to free what the deleted calls
    /// held (rtpengine frees them from its timer thread, about once a second).
    fn relay_rss_after_delete(&mut self) -> Option<u64> {
        if !self.is_ng() || self.opts.relay_pid.is_none() {
            return None;
        }
        std::thread::sleep(Duration::from_millis(1500));
        self.relay_rss()
    }
}

/// What a run of ng transactions measured.
struct Transactions {
    ok: u64,
    errors: u64,
    elapsed: Duration,
    latency: Latency,
    first_error: Option<String>,
}

/// `in_flight` clients, each doing offer+answer+delete on fresh call-ids
/// back to back for `duration`. `progress(ok, secs)` is called once a second.
fn transactions(
    addr: std::net::SocketAddr,
    in_flight: u32,
    duration: Duration,
    (a, b): (std::net::SocketAddrV4, std::net::SocketAddrV4),
    nonce: u64,
    progress: impl Fn(u64, f64),
) -> Transactions {
    let ok = AtomicU64::new(0);
    let stop = AtomicBool::new(false);
    let t0 = Instant::now();
    let per_client: Vec<(u64, Latency, Option<String>)> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..in_flight)
            .map(|client| {
                let (ok, stop) = (&ok, &stop);
                s.spawn(move || {
                    let conn = NgConn::new(addr);
                    let (mut errors, mut lat, mut first) = (0u64, Latency::new(), None);
                    let mut n = 0u64;
                    while !stop.load(Ordering::Relaxed) {
                        let ids = CallIds::new(nonce, (u64::from(client) << 40) | n);
                        n += 1;
                        let t = Instant::now();
                        let r = conn
                            .setup(&ids, &[a], &[b], ng::TIMEOUT)
                            .and_then(|_| conn.delete(&ids, ng::TIMEOUT));
                        match r {
                            Ok(()) => {
                                lat.record(t.elapsed().as_nanos() as u64);
                                ok.fetch_add(1, Ordering::Relaxed);
                            }
                            Err(e) => {
                                errors += 1;
                                first = first.or_else(|| Some(e.to_string()));
                                // Best effort: a failed transaction may have
                                // left its call behind.
                                let _ = conn.delete(&ids, Duration::from_millis(200));
                            }
                        }
                    }
                    (errors, lat, first)
                })
            })
            .collect();
        let mut next = t0 + Duration::from_secs(1);
        while t0.elapsed() < duration {
            std::thread::sleep(
                Duration::from_millis(10).min(duration.saturating_sub(t0.elapsed())),
            );
            if Instant::now() >= next {
                progress(ok.load(Ordering::Relaxed), t0.elapsed().as_secs_f64());
                next += Duration::from_secs(1);
            }
        }
        stop.store(true, Ordering::Relaxed);
        handles
            .into_iter()
            .map(|h| h.join().expect("ng client panicked"))
            .collect()
    });
    let elapsed = t0.elapsed();
    let mut t = Transactions {
        ok: ok.load(Ordering::Relaxed),
        errors: 0,
        elapsed,
        latency: Latency::new(),
        first_error: None,
    };
    for (errors, lat, first) in per_client {
        t.errors += errors;
        t.latency.add(&lat);
        t.first_error = t.first_error.or(first);
    }
    t
}
