//! Runs a scenario against a target and turns what was measured into a
//! [`Report`].
//!
//! Every media run has two kinds of phase on the same sockets: *baseline*,
//! where the generator sends straight from caller to callee over loopback,
//! and *relay*, through the target (alternating in rounds, see
//! `kinds::rate_phases`). The baseline's latency percentiles are
//! what the generator and the kernel cost; the relay's minus the baseline's
//! is what the relay adds. Each phase has its own id in the payload, so late
//! packets of one phase cannot count in the next.

use std::net::{SocketAddr, SocketAddrV4};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use thiserror::Error;

use crate::endpoints::{Endpoints, Side};
use crate::ng::{self, CallIds, CallRoute, NgConn, NgError};
use crate::payload::Direction;
use crate::proc;
use crate::receiver::{self, RecvPlan};
use crate::report::{Figures, Report};
use crate::scenario::{Scenario, ScenarioKind};
use crate::sender::{self, Flow, Keyspace, Live, Pace, SendPlan};
use crate::stats::{Latency, Totals};
use crate::sys::monotonic_ns;

/// What the generator drives.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Target {
    /// A relay set up over ng (rtpbolt, rtpengine).
    Ng(SocketAddr),
    /// The null forwarder: no calls, every packet to this address.
    Null(SocketAddrV4),
}

impl std::fmt::Display for Target {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Target::Ng(a) => write!(f, "ng {a}"),
            Target::Null(a) => write!(f, "null {a}"),
        }
    }
}

pub struct RunOptions {
    pub target: Target,
    /// The relay's PID, for CPU and RSS; without it those figures are null.
    pub relay_pid: Option<u32>,
    /// Sockets per side.
    pub pool: usize,
    /// Address the generator's sockets bind to.
    pub local_ip: std::net::Ipv4Addr,
    /// Parallel ng clients for setting calls up and tearing them down.
    pub setup_workers: usize,
    pub label: String,
    /// No progress lines on stderr.
    pub quiet: bool,
}

#[derive(Debug, Error)]
pub enum RunError {
    #[error("{what}: {source}")]
    Io {
        what: &'static str,
        source: std::io::Error,
    },
    #[error(transparent)]
    Ng(#[from] NgError),
}

fn io(what: &'static str) -> impl FnOnce(std::io::Error) -> RunError {
    move |source| RunError::Io { what, source }
}

mod kinds;

/// Runs `scenario` against `opts.target`.
pub fn run(scenario: &Scenario, opts: &RunOptions) -> Result<Report, RunError> {
    if let Target::Ng(addr) = opts.target {
        ng::wait_ready(addr, Duration::from_secs(10))?;
    }
    let mut r = Runner {
        eps: Endpoints::bind(opts.pool, opts.local_ip)
            .map_err(io("binding the generator's sockets"))?,
        opts,
        phase: 0,
        nonce: monotonic_ns() ^ u64::from(std::process::id()) << 40,
        calls: Vec::new(),
        orphans: Vec::new(),
        report: Report {
            scenario: scenario.name.clone(),
            description: scenario.description.clone(),
            kind: scenario.kind.name(),
            label: opts.label.clone(),
            target: opts.target.to_string(),
            relay_pid: opts.relay_pid,
            figures: Figures::default(),
            steps: Vec::new(),
            notes: Vec::new(),
        },
    };
    let result = match &scenario.kind {
        ScenarioKind::Media(m) => r.media(m),
        ScenarioKind::Ramp(s) => r.ramp(s),
        ScenarioKind::Blast(b) => r.blast(b),
        ScenarioKind::Ng(n) => r.ng(n),
    };
    // Calls left over after an error are torn down too: a relay shared with
    // the next run must not carry them.
    let teardown = r.delete_calls();
    result?;
    teardown?;
    Ok(r.report)
}

/// One phase of traffic.
struct PhaseSpec {
    name: &'static str,
    calls: u32,
    keyspace: Keyspace,
    flows: Vec<Flow>,
    pace: Pace,
    packet_size: usize,
    duration: Duration,
    warmup: Duration,
    drain: Duration,
}

/// What one phase measured.
struct Phase {
    totals: Totals,
    latency: Latency,
    /// Packets sent in the measured window that arrived.
    measured: u64,
    /// The measured part of the send window (duration − warmup).
    window: Duration,
    /// Relay CPU from the end of warmup to the end of the drain.
    cpu: Option<Duration>,
    late: u64,
    max_lag: Duration,
    send_errors: u64,
    stray: u64,
    misrouted: u64,
    malformed: u64,
}

impl Phase {
    /// Two phases as one: counts and windows add up, histograms merge.
    fn merge(mut self, o: Phase) -> Phase {
        let t = &mut self.totals;
        t.sent += o.totals.sent;
        t.received += o.totals.received;
        t.lost += o.totals.lost;
        t.reordered += o.totals.reordered;
        t.duplicates += o.totals.duplicates;
        self.latency.add(&o.latency);
        self.measured += o.measured;
        self.window += o.window;
        self.cpu = self.cpu.zip(o.cpu).map(|(a, b)| a + b);
        self.late += o.late;
        self.max_lag = self.max_lag.max(o.max_lag);
        self.send_errors += o.send_errors;
        self.stray += o.stray;
        self.misrouted += o.misrouted;
        self.malformed += o.malformed;
        self
    }
}

/// How a flow's packets reach their destination.
enum Route<'a> {
    Direct,
    Null(SocketAddrV4),
    Relay(&'a [(CallIds, CallRoute)]),
}

struct Runner<'a> {
    eps: Endpoints,
    opts: &'a RunOptions,
    phase: u16,
    nonce: u64,
    /// Calls set up on the relay and not yet deleted, call index order.
    calls: Vec<(CallIds, CallRoute)>,
    /// Calls set up out of order after a failed setup: deleted, never used.
    orphans: Vec<CallIds>,
    report: Report,
}

impl Runner<'_> {
    fn progress(&self, msg: std::fmt::Arguments<'_>) {
        if !self.opts.quiet {
            eprintln!("[{}] {msg}", self.opts.label);
        }
    }

    fn relay_rss(&mut self) -> Option<u64> {
        let pid = self.opts.relay_pid?;
        match proc::rss_kib(pid) {
            Ok(kib) => Some(kib),
            Err(e) => {
                self.report.notes.push(e.to_string());
                None
            }
        }
    }

    fn flows(&self, keyspace: Keyspace, dirs: &[Direction], route: &Route<'_>) -> Vec<Flow> {
        let mut flows = Vec::with_capacity(keyspace.slots());
        for call in 0..keyspace.calls {
            for stream in 0..keyspace.streams_per_call {
                for &direction in dirs {
                    let spc = keyspace.streams_per_call;
                    let src = self.eps.token(direction.from_side(), call, stream, spc);
                    let dest =
                        self.eps
                            .addr(self.eps.token(direction.to_side(), call, stream, spc));
                    let send_to = match route {
                        Route::Direct => dest,
                        Route::Null(a) => *a,
                        Route::Relay(calls) => {
                            let r = &calls[call as usize].1;
                            let to = match direction {
                                Direction::AtoB => &r.for_a,
                                Direction::BtoA => &r.for_b,
                            };
                            to[usize::from(stream)]
                        }
                    };
                    flows.push(Flow {
                        call,
                        stream,
                        direction,
                        slot: keyspace
                            .slot(call, stream, direction)
                            .expect("within the keyspace"),
                        src,
                        send_to,
                        dest,
                    });
                }
            }
        }
        flows
    }

    /// The relay-side route of the target (calls must be set up for ng).
    fn target_route(&self) -> Route<'_> {
        match self.opts.target {
            Target::Ng(_) => Route::Relay(&self.calls),
            Target::Null(a) => Route::Null(a),
        }
    }

    fn run_phase(&mut self, spec: PhaseSpec, relay_pid: Option<u32>) -> Result<Phase, RunError> {
        self.phase = self.phase.wrapping_add(1);
        let phase = self.phase;
        let live = Live::default();
        let stop = AtomicBool::new(false);
        // Start a little ahead so both threads are up before the first packet.
        let start_ns = monotonic_ns() + 20_000_000;
        let measure_from_ns = start_ns + spec.warmup.as_nanos() as u64;
        let send_plan = SendPlan {
            phase,
            flows: &spec.flows,
            slots: spec.keyspace.slots(),
            packet_size: spec.packet_size,
            pace: spec.pace,
            start_ns,
            duration: spec.duration,
        };
        let recv_plan = RecvPlan {
            phase,
            keyspace: spec.keyspace,
            measure_from_ns,
        };
        let eps = &self.eps;
        let (sent, recv, cpu) = std::thread::scope(|s| {
            let rx = s.spawn(|| receiver::run(eps, &recv_plan, &live, &stop));
            let tx = s.spawn(|| sender::run(eps, &send_plan, &live));
            let cpu = self.watch(&spec, &live, relay_pid, measure_from_ns);
            stop.store(true, Ordering::Release);
            let sent = tx.join().expect("sender thread panicked");
            let recv = rx.join().expect("receiver thread panicked");
            (sent, recv, cpu)
        });
        let recv = recv.map_err(io("receiving"))?;
        Ok(Phase {
            totals: Totals::new(&sent.sent, &recv.flows),
            latency: recv.latency,
            measured: recv.measured,
            window: spec.duration.saturating_sub(spec.warmup),
            cpu,
            late: sent.late,
            max_lag: sent.max_lag,
            send_errors: sent.send_errors,
            stray: recv.stray,
            misrouted: recv.misrouted,
            malformed: recv.malformed,
        })
    }

    /// Prints progress once a second while the sender runs, samples the
    /// relay's CPU at the end of warmup, then waits for the drain (until
    /// everything arrived or `spec.drain` passed) and samples it again.
    fn watch(
        &self,
        spec: &PhaseSpec,
        live: &Live,
        pid: Option<u32>,
        measure_from_ns: u64,
    ) -> Option<Duration> {
        let started = Instant::now();
        let mut cpu0 = None;
        let mut next_report = started + Duration::from_secs(1);
        let (mut last_sent, mut last_recv) = (0, 0);
        while !live.sender_done.load(Ordering::Acquire) {
            std::thread::sleep(Duration::from_millis(10));
            if cpu0.is_none() && monotonic_ns() >= measure_from_ns {
                cpu0 = Some(pid.and_then(|p| proc::cpu_time(p).ok()));
            }
            if Instant::now() >= next_report {
                let (s, r) = (
                    live.sent.load(Ordering::Relaxed),
                    live.received.load(Ordering::Relaxed),
                );
                self.progress(format_args!(
                    "{:<8} calls={} t={:>3.0}s sent={}/s received={}/s not-yet-received={}",
                    spec.name,
                    spec.calls,
                    started.elapsed().as_secs_f64(),
                    s - last_sent,
                    r - last_recv,
                    s.saturating_sub(r),
                ));
                (last_sent, last_recv) = (s, r);
                next_report += Duration::from_secs(1);
            }
        }
        let drain_end = Instant::now() + spec.drain;
        while Instant::now() < drain_end
            && live.received.load(Ordering::Relaxed) < live.sent.load(Ordering::Relaxed)
        {
            std::thread::sleep(Duration::from_millis(5));
        }
        let cpu1 = pid.and_then(|p| proc::cpu_time(p).ok());
        match (cpu0.flatten(), cpu1) {
            (Some(a), Some(b)) => Some(b.saturating_sub(a)),
            _ => None,
        }
    }

    /// Sets up calls `self.calls.len()..calls` over ng, `setup_workers` in
    /// parallel; returns how long it took.
    fn setup_calls(&mut self, calls: u32, streams: u8) -> Result<Duration, RunError> {
        let Target::Ng(addr) = self.opts.target else {
            return Ok(Duration::ZERO);
        };
        let first = self.calls.len() as u32;
        let t0 = Instant::now();
        let (eps, nonce) = (&self.eps, self.nonce);
        let results = parallel_ng(
            addr,
            self.opts.setup_workers,
            (calls - first) as usize,
            |conn, i| {
                let call = first + i as u32;
                let ids = CallIds::new(nonce, u64::from(call));
                let side = |side| {
                    (0..streams)
                        .map(|st| eps.addr(eps.token(side, call, st, streams)))
                        .collect::<Vec<_>>()
                };
                let (a, b) = (side(Side::A), side(Side::B));
                // One retry: a lost UDP datagram is not a relay failure, and a
                // repeated offer/answer is idempotent for the relay.
                let route = conn
                    .setup(&ids, &a, &b, ng::TIMEOUT)
                    .or_else(|_| conn.setup(&ids, &a, &b, ng::TIMEOUT))?;
                Ok((ids, route))
            },
        );
        let mut first_err = None;
        for (i, r) in results.into_iter().enumerate() {
            match r {
                // Only a gap-free prefix can carry traffic; later calls that
                // did get set up are still deleted at the end.
                Some(Ok(call)) if first_err.is_none() && first as usize + i == self.calls.len() => {
                    self.calls.push(call)
                }
                Some(Ok((ids, _))) => self.orphans.push(ids),
                Some(Err(e)) => first_err = first_err.or(Some(e)),
                None => {}
            }
        }
        if let Some(e) = first_err {
            return Err(e.into());
        }
        let took = t0.elapsed();
        self.progress(format_args!(
            "setup    calls={calls} ({} new in {:.2}s)",
            calls - first,
            took.as_secs_f64()
        ));
        Ok(took)
    }

    /// Deletes every call this run set up.
    fn delete_calls(&mut self) -> Result<(), RunError> {
        let Target::Ng(addr) = self.opts.target else {
            return Ok(());
        };
        let mut ids: Vec<CallIds> = self.calls.drain(..).map(|(ids, _)| ids).collect();
        ids.append(&mut self.orphans);
        if ids.is_empty() {
            return Ok(());
        }
        let results = parallel_ng(addr, self.opts.setup_workers, ids.len(), |conn, i| {
            conn.delete(&ids[i], ng::TIMEOUT)
                .or_else(|_| conn.delete(&ids[i], ng::TIMEOUT))
        });
        match results.into_iter().flatten().find_map(Result::err) {
            Some(e) => Err(e.into()),
            None => Ok(()),
        }
    }
}

/// Runs `f(conn, i)` for `i in 0..n` on `workers` threads, each with its own
/// ng socket and taking every `workers`-th item. A worker stops at its first
/// error; the items it did not get to are `None`.
fn parallel_ng<R: Send>(
    addr: SocketAddr,
    workers: usize,
    n: usize,
    f: impl Fn(&NgConn, usize) -> Result<R, NgError> + Sync,
) -> Vec<Option<Result<R, NgError>>> {
    let workers = workers.clamp(1, n.max(1));
    let mut out: Vec<Option<Result<R, NgError>>> = (0..n).map(|_| None).collect();
    let per_worker: Vec<Vec<(usize, Result<R, NgError>)>> = std::thread::scope(|s| {
        let f = &f;
        let handles: Vec<_> = (0..workers)
            .map(|w| {
                s.spawn(move || {
                    let conn = NgConn::new(addr);
                    let mut done = Vec::new();
                    for i in (w..n).step_by(workers) {
                        let r = f(&conn, i);
                        let failed = r.is_err();
                        done.push((i, r));
                        if failed {
                            break;
                        }
                    }
                    done
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("ng worker panicked"))
            .collect()
    });
    for (i, r) in per_worker.into_iter().flatten() {
        out[i] = Some(r);
    }
    out
}
