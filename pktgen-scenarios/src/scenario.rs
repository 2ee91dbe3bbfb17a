//! Scenario files: TOML with a `name`, an optional `description`, and exactly
//! one section naming the kind of run: `[media]`, `[ramp]`, `[blast]` or
//! `[ng]`. Every other key has a default; unknown keys are errors, so a typo
//! cannot silently run the default.
//!
//! Times are written in seconds (`duration_s = 3`, fractions allowed) and
//! become [`Duration`]s here.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;
use thiserror::Error;

use crate::payload::{DEFAULT_PACKET_LEN, MIN_PACKET_LEN};
use crate::sys::SLOT_LEN;

#[derive(Debug, Error)]
pub enum ScenarioError {
    #[error("reading scenario {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("parsing scenario {path}: {source}")]
    Parse {
        path: PathBuf,
        source: Box<toml::de::Error>,
    },
    #[error("scenario {path} has no [media], [ramp], [blast] or [ng] section")]
    NoKind { path: PathBuf },
    #[error("scenario {path} has both [{first}] and [{second}]; one run kind per file")]
    TwoKinds {
        path: PathBuf,
        first: &'static str,
        second: &'static str,
    },
    #[error("scenario {path}: [{section}] {field} {reason}")]
    Invalid {
        path: PathBuf,
        section: &'static str,
        field: &'static str,
        reason: String,
    },
}

/// A validated scenario.
#[derive(Clone, Debug, PartialEq)]
pub struct Scenario {
    pub name: String,
    pub description: String,
    pub kind: ScenarioKind,
}

#[derive(Clone, Debug, PartialEq)]
pub enum ScenarioKind {
    Media(MediaSpec),
    Ramp(RampSpec),
    Blast(BlastSpec),
    Ng(NgSpec),
}

impl ScenarioKind {
    pub fn name(&self) -> &'static str {
        match self {
            ScenarioKind::Media(_) => "media",
            ScenarioKind::Ramp(_) => "ramp",
            ScenarioKind::Blast(_) => "blast",
            ScenarioKind::Ng(_) => "ng",
        }
    }
}

/// How every call's media looks, shared by `media` and `ramp`.
#[derive(Clone, Debug, PartialEq)]
pub struct Traffic {
    /// Packets per second per stream and direction.
    pub pps: u32,
    /// UDP payload bytes (RTP header included).
    pub packet_size: usize,
    /// `m=audio` lines per call.
    pub streams_per_call: u8,
    /// Sent but left out of the latency and CPU figures.
    pub warmup: Duration,
    /// How long to wait for stragglers after sending stops; anything later is lost.
    pub drain: Duration,
}

#[derive(Clone, Debug, PartialEq)]
pub struct MediaSpec {
    pub calls: u32,
    pub duration: Duration,
    pub traffic: Traffic,
}

/// Raises the call count until a step fails.
#[derive(Clone, Debug, PartialEq)]
pub struct RampSpec {
    pub start_calls: u32,
    pub step_calls: u32,
    pub max_calls: u32,
    /// Media time per step (warmup included).
    pub step: Duration,
    /// Direct-loopback time per step, for the added-latency baseline.
    pub baseline: Duration,
    pub traffic: Traffic,
    /// A step fails when the added p99 latency exceeds this...
    pub max_added_p99: Duration,
    /// ...or when more than this fraction of packets is lost.
    pub max_loss: f64,
    /// Tries per step: a step passes if any try passes. One latency spike
    /// from the generator's own scheduling (the null forwarder shows them
    /// too on two cores) must not end the ramp of the relay it happened to.
    pub attempts: u32,
}

/// A few one-way streams sending as fast as the generator can.
#[derive(Clone, Debug, PartialEq)]
pub struct BlastSpec {
    pub streams: u32,
    pub duration: Duration,
    pub packet_size: usize,
    /// Packets sent but not yet received before the sender waits: keeps the
    /// blast at the relay's pace instead of overflowing socket buffers.
    pub max_in_flight: u32,
    pub warmup: Duration,
    pub drain: Duration,
}

/// offer+answer+delete transactions per second.
#[derive(Clone, Debug, PartialEq)]
pub struct NgSpec {
    pub duration: Duration,
    /// One run per entry, with that many clients in parallel.
    pub in_flight: Vec<u32>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    name: String,
    #[serde(default)]
    description: String,
    media: Option<CallsFile>,
    ramp: Option<CallsFile>,
    blast: Option<BlastFile>,
    ng: Option<NgFile>,
}

/// `[media]` and `[ramp]` share their traffic keys. serde cannot combine
/// `flatten` with `deny_unknown_fields`, so both sections parse into this one
/// struct and each kind rejects the other's keys in validation.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CallsFile {
    #[serde(default = "default_pps")]
    pps: u32,
    #[serde(default = "default_packet_size")]
    packet_size: usize,
    #[serde(default = "one")]
    streams_per_call: u32,
    #[serde(default = "default_warmup")]
    warmup_s: f64,
    #[serde(default = "default_drain")]
    drain_s: f64,
    // media
    calls: Option<u32>,
    duration_s: Option<f64>,
    // ramp
    start_calls: Option<u32>,
    step_calls: Option<u32>,
    max_calls: Option<u32>,
    step_s: Option<f64>,
    baseline_s: Option<f64>,
    max_added_p99_ms: Option<f64>,
    max_loss_percent: Option<f64>,
    attempts: Option<u32>,
}

impl CallsFile {
    fn media_keys(&self) -> [(&'static str, bool); 2] {
        [
            ("calls", self.calls.is_some()),
            ("duration_s", self.duration_s.is_some()),
        ]
    }

    fn ramp_keys(&self) -> [(&'static str, bool); 8] {
        [
            ("start_calls", self.start_calls.is_some()),
            ("step_calls", self.step_calls.is_some()),
            ("max_calls", self.max_calls.is_some()),
            ("step_s", self.step_s.is_some()),
            ("baseline_s", self.baseline_s.is_some()),
            ("max_added_p99_ms", self.max_added_p99_ms.is_some()),
            ("max_loss_percent", self.max_loss_percent.is_some()),
            ("attempts", self.attempts.is_some()),
        ]
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct BlastFile {
    #[serde(default = "default_blast_streams")]
    streams: u32,
    duration_s: f64,
    #[serde(default = "default_packet_size")]
    packet_size: usize,
    #[serde(default = "default_in_flight")]
    max_in_flight: u32,
    #[serde(default = "default_warmup")]
    warmup_s: f64,
    #[serde(default = "default_drain")]
    drain_s: f64,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NgFile {
    duration_s: f64,
    #[serde(default = "default_ng_in_flight")]
    in_flight: Vec<u32>,
}

fn default_pps() -> u32 {
    50
}
fn default_packet_size() -> usize {
    DEFAULT_PACKET_LEN
}
fn one() -> u32 {
    1
}
fn default_warmup() -> f64 {
    1.0
}
fn default_drain() -> f64 {
    0.5
}
const DEFAULT_STEP_S: f64 = 5.0;
const DEFAULT_BASELINE_S: f64 = 2.0;
/// The capacity criterion: p99 added latency over 5 ms...
const DEFAULT_MAX_ADDED_P99_MS: f64 = 5.0;
/// ...or more than 0.1% loss.
const DEFAULT_MAX_LOSS_PERCENT: f64 = 0.1;
fn default_blast_streams() -> u32 {
    4
}
/// 32 per stream of the default four: enough to keep a relay's batches
/// full, and under the 50 queued packets per port past which rtpengine
/// starts discarding ("UDP receive queue exceeded"), which would measure
/// that guard rather than forwarding.
fn default_in_flight() -> u32 {
    128
}
fn default_ng_in_flight() -> Vec<u32> {
    vec![1, 4]
}

/// Calls are numbered in 32 bits but every call costs the relay four ports;
/// more than this cannot be set up on one address anyway.
const MAX_CALLS: u32 = 16_000;
/// Streams are numbered in one byte of the payload; more than a few m= lines
/// per call is not a realistic call.
const MAX_STREAMS_PER_CALL: u32 = 16;

struct Check<'a> {
    path: &'a Path,
    section: &'static str,
}

impl Check<'_> {
    fn err(&self, field: &'static str, reason: impl Into<String>) -> ScenarioError {
        ScenarioError::Invalid {
            path: self.path.to_path_buf(),
            section: self.section,
            field,
            reason: reason.into(),
        }
    }

    fn seconds(
        &self,
        field: &'static str,
        s: f64,
        allow_zero: bool,
    ) -> Result<Duration, ScenarioError> {
        if !s.is_finite() || s < 0.0 || (!allow_zero && s == 0.0) || s > 86_400.0 {
            let want = if allow_zero { ">= 0" } else { "> 0" };
            return Err(self.err(
                field,
                format!("must be {want} and at most a day of seconds, not {s}"),
            ));
        }
        Ok(Duration::from_secs_f64(s))
    }

    fn range<T: PartialOrd + std::fmt::Display + Copy>(
        &self,
        field: &'static str,
        v: T,
        min: T,
        max: T,
    ) -> Result<T, ScenarioError> {
        if v < min || v > max {
            return Err(self.err(field, format!("must be in {min}..={max}, not {v}")));
        }
        Ok(v)
    }

    fn packet_size(&self, v: usize) -> Result<usize, ScenarioError> {
        self.range("packet_size", v, MIN_PACKET_LEN, SLOT_LEN)
    }

    fn required<T>(&self, field: &'static str, v: Option<T>) -> Result<T, ScenarioError> {
        v.ok_or_else(|| self.err(field, "is required"))
    }

    /// Rejects keys that belong to the other kind of `[media]`/`[ramp]`.
    fn foreign(&self, keys: &[(&'static str, bool)]) -> Result<(), ScenarioError> {
        match keys.iter().find(|(_, present)| *present) {
            Some((field, _)) => Err(self.err(field, "does not apply to this section")),
            None => Ok(()),
        }
    }

    fn traffic(&self, t: &CallsFile) -> Result<Traffic, ScenarioError> {
        Ok(Traffic {
            pps: self.range("pps", t.pps, 1, 10_000)?,
            packet_size: self.packet_size(t.packet_size)?,
            streams_per_call: self.range(
                "streams_per_call",
                t.streams_per_call,
                1,
                MAX_STREAMS_PER_CALL,
            )? as u8,
            warmup: self.seconds("warmup_s", t.warmup_s, true)?,
            drain: self.seconds("drain_s", t.drain_s, true)?,
        })
    }
}

impl Scenario {
    /// Reads and validates a scenario file.
    pub fn load(path: &Path) -> Result<Scenario, ScenarioError> {
        let text = std::fs::read_to_string(path).map_err(|source| ScenarioError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        Scenario::parse(path, &text)
    }

    /// Parses scenario text; `path` only names it in errors.
    pub fn parse(path: &Path, text: &str) -> Result<Scenario, ScenarioError> {
        let file: File = toml::from_str(text).map_err(|e| ScenarioError::Parse {
            path: path.to_path_buf(),
            source: Box::new(e),
        })?;
        let present: Vec<&'static str> = [
            ("media", file.media.is_some()),
            ("ramp", file.ramp.is_some()),
            ("blast", file.blast.is_some()),
            ("ng", file.ng.is_some()),
        ]
        .into_iter()
        .filter_map(|(n, p)| p.then_some(n))
        .collect();
        match present[..] {
            [] => {
                return Err(ScenarioError::NoKind {
                    path: path.to_path_buf(),
                })
            }
            [_] => {}
            [first, second, ..] => {
                return Err(ScenarioError::TwoKinds {
                    path: path.to_path_buf(),
                    first,
                    second,
                })
            }
        }
        let kind = if let Some(m) = file.media {
            let c = Check {
                path,
                section: "media",
            };
            c.foreign(&m.ramp_keys())?;
            ScenarioKind::Media(MediaSpec {
                calls: c.range("calls", c.required("calls", m.calls)?, 1, MAX_CALLS)?,
                duration: c.seconds(
                    "duration_s",
                    c.required("duration_s", m.duration_s)?,
                    false,
                )?,
                traffic: c.traffic(&m)?,
            })
        } else if let Some(r) = file.ramp {
            let c = Check {
                path,
                section: "ramp",
            };
            c.foreign(&r.media_keys())?;
            let start_calls = c.range(
                "start_calls",
                c.required("start_calls", r.start_calls)?,
                1,
                MAX_CALLS,
            )?;
            let step_calls = c.required("step_calls", r.step_calls)?;
            let max_calls = c.required("max_calls", r.max_calls)?;
            let p99_ms = r.max_added_p99_ms.unwrap_or(DEFAULT_MAX_ADDED_P99_MS);
            let loss_percent = r.max_loss_percent.unwrap_or(DEFAULT_MAX_LOSS_PERCENT);
            let spec = RampSpec {
                start_calls,
                step_calls: c.range("step_calls", step_calls, 1, MAX_CALLS)?,
                max_calls: c.range("max_calls", max_calls, start_calls, MAX_CALLS)?,
                step: c.seconds("step_s", r.step_s.unwrap_or(DEFAULT_STEP_S), false)?,
                baseline: c.seconds(
                    "baseline_s",
                    r.baseline_s.unwrap_or(DEFAULT_BASELINE_S),
                    false,
                )?,
                traffic: c.traffic(&r)?,
                max_added_p99: c.seconds("max_added_p99_ms", p99_ms / 1e3, false)?,
                max_loss: c.range("max_loss_percent", loss_percent, 0.0, 100.0)? / 100.0,
                attempts: c.range("attempts", r.attempts.unwrap_or(1), 1, 10)?,
            };
            if spec.traffic.warmup >= spec.step {
                return Err(c.err("warmup_s", "must be shorter than step_s"));
            }
            ScenarioKind::Ramp(spec)
        } else if let Some(b) = file.blast {
            let c = Check {
                path,
                section: "blast",
            };
            let spec = BlastSpec {
                streams: c.range("streams", b.streams, 1, 64)?,
                duration: c.seconds("duration_s", b.duration_s, false)?,
                packet_size: c.packet_size(b.packet_size)?,
                max_in_flight: c.range("max_in_flight", b.max_in_flight, 1, 1 << 20)?,
                warmup: c.seconds("warmup_s", b.warmup_s, true)?,
                drain: c.seconds("drain_s", b.drain_s, true)?,
            };
            if spec.warmup >= spec.duration {
                return Err(c.err("warmup_s", "must be shorter than duration_s"));
            }
            ScenarioKind::Blast(spec)
        } else if let Some(n) = file.ng {
            let c = Check {
                path,
                section: "ng",
            };
            if n.in_flight.is_empty() {
                return Err(c.err("in_flight", "needs at least one entry"));
            }
            for &k in &n.in_flight {
                c.range("in_flight", k, 1, 64)?;
            }
            ScenarioKind::Ng(NgSpec {
                duration: c.seconds("duration_s", n.duration_s, false)?,
                in_flight: n.in_flight,
            })
        } else {
            unreachable!("exactly one section is present (checked above)")
        };
        Ok(Scenario {
            name: file.name,
            description: file.description,
            kind,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Scenario, ScenarioError> {
        Scenario::parse(Path::new("t.toml"), text)
    }

    #[test]
    fn media_defaults_are_g711_at_20ms() {
        let s = parse("name = \"x\"\n[media]\ncalls = 3\nduration_s = 2.5\n").unwrap();
        let ScenarioKind::Media(m) = s.kind else {
            panic!("not media")
        };
        assert_eq!(m.calls, 3);
        assert_eq!(m.duration, Duration::from_millis(2500));
        assert_eq!(m.traffic.pps, 50);
        assert_eq!(m.traffic.packet_size, 172);
        assert_eq!(m.traffic.streams_per_call, 1);
    }

    #[test]
    fn ramp_thresholds_convert_units() {
        let s = parse(
            "name = \"r\"\n[ramp]\nstart_calls = 10\nstep_calls = 10\nmax_calls = 30\n\
             max_added_p99_ms = 2\nmax_loss_percent = 0.5\nattempts = 3\n",
        )
        .unwrap();
        let ScenarioKind::Ramp(r) = s.kind else {
            panic!("not ramp")
        };
        assert_eq!(r.max_added_p99, Duration::from_millis(2));
        assert!((r.max_loss - 0.005).abs() < 1e-12);
        assert_eq!(r.attempts, 3);
    }

    #[test]
    fn every_shipped_scenario_parses() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR"));
        let mut n = 0;
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.extension().is_some_and(|e| e == "toml") && !path.ends_with("Cargo.toml") {
                Scenario::load(&path).unwrap_or_else(|e| panic!("{e}"));
                n += 1;
            }
        }
        assert!(n >= 6, "expected the six shipped scenarios, found {n}");
    }

    #[test]
    fn errors_name_the_problem() {
        const MEDIA: &str = "name = \"x\"\n[media]\ncalls = 1\nduration_s = 1\n";
        let cases = [
            ("name = \"x\"\n".to_string(), "no [media]"),
            (
                format!("{MEDIA}[ng]\nduration_s = 1\n"),
                "both [media] and [ng]",
            ),
            (format!("{MEDIA}cals = 2\n"), "unknown field `cals`"),
            (
                MEDIA.replace("calls = 1", "calls = 0"),
                "[media] calls must be in 1..=16000, not 0",
            ),
            (
                MEDIA.replace("duration_s = 1", "duration_s = -1"),
                "duration_s must be > 0",
            ),
            (
                format!("{MEDIA}packet_size = 20\n"),
                "packet_size must be in 48..=2048",
            ),
            (
                format!("{MEDIA}step_calls = 2\n"),
                "[media] step_calls does not apply",
            ),
            (
                "name = \"x\"\n[ramp]\nstart_calls = 1\n".into(),
                "[ramp] step_calls is required",
            ),
            (
                "name = \"x\"\n[ng]\nduration_s = 1\nin_flight = []\n".into(),
                "in_flight needs at least one entry",
            ),
            ("[ng]\nduration_s = 1\n".into(), "missing field `name`"),
        ];
        for (text, want) in cases {
            let e = parse(&text).unwrap_err().to_string();
            assert!(e.contains(want), "{text:?}: {e}");
        }
    }
}
