//! Per-stream arrival bookkeeping (loss, reordering, duplicates) and latency
//! histograms.
//!
//! A packet counts as *reordered* when it arrives after one with a higher
//! sequence number of the same stream and direction (RFC 4737's "reordered"
//! singleton, simplified), as a *duplicate* when its sequence number was
//! already seen. Lost = sent − distinct received, taken after the drain.

use std::time::Duration;

use hdrhistogram::Histogram;

/// Sequence numbers past this are not tracked (the bitmap would grow without
/// bound on a corrupted packet); 2^26 is 15 days of 50 pps.
pub const MAX_TRACKED_SEQ: u64 = 1 << 26;

/// How a packet's arrival relates to what the stream already delivered.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Arrival {
    InOrder,
    Reordered,
    Duplicate,
    /// Sequence number out of the tracked range.
    Untracked,
}

/// Arrivals of one stream in one direction.
#[derive(Clone, Debug, Default)]
pub struct FlowStats {
    /// Distinct sequence numbers received.
    pub received: u64,
    pub reordered: u64,
    pub duplicates: u64,
    highest: Option<u64>,
    seen: Vec<u64>,
}

impl FlowStats {
    /// One past the highest sequence number seen: every packet before it has
    /// arrived or is presumed lost.
    pub fn next_expected(&self) -> u64 {
        self.highest.map_or(0, |h| h + 1)
    }

    pub fn record(&mut self, seq: u64) -> Arrival {
        if seq >= MAX_TRACKED_SEQ {
            return Arrival::Untracked;
        }
        let (word, bit) = ((seq / 64) as usize, 1u64 << (seq % 64));
        if word >= self.seen.len() {
            // Grow geometrically: a stream's words arrive in order.
            let want = (word + 1).max(self.seen.len() * 2);
            self.seen.resize(want, 0);
        }
        if self.seen[word] & bit != 0 {
            self.duplicates += 1;
            return Arrival::Duplicate;
        }
        self.seen[word] |= bit;
        self.received += 1;
        match self.highest {
            Some(h) if seq < h => {
                self.reordered += 1;
                Arrival::Reordered
            }
            _ => {
                self.highest = Some(seq);
                Arrival::InOrder
            }
        }
    }
}

/// Sums over all streams of a phase.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Totals {
    pub sent: u64,
    pub received: u64,
    pub lost: u64,
    pub reordered: u64,
    pub duplicates: u64,
}

impl Totals {
    /// `sent[i]` is what the sender sent on flow `i`, `flows[i]` what arrived.
    pub fn new(sent: &[u64], flows: &[FlowStats]) -> Totals {
        let mut t = Totals::default();
        for (i, &s) in sent.iter().enumerate() {
            let f = flows.get(i).cloned().unwrap_or_default();
            t.sent += s;
            t.received += f.received;
            t.lost += s.saturating_sub(f.received);
            t.reordered += f.reordered;
            t.duplicates += f.duplicates;
        }
        t
    }

    /// Lost packets as a fraction of those sent (0 when nothing was sent).
    pub fn loss_ratio(&self) -> f64 {
        if self.sent == 0 {
            0.0
        } else {
            self.lost as f64 / self.sent as f64
        }
    }
}

/// One-way latency of every measured packet, ns resolution, 3 significant
/// digits (0.1% error), up to a minute.
#[derive(Clone, Debug)]
pub struct Latency {
    hist: Histogram<u64>,
}

/// The percentiles the reports carry.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Percentiles {
    pub p50: Duration,
    pub p99: Duration,
    pub p999: Duration,
    pub max: Duration,
    pub count: u64,
}

const MAX_LATENCY_NS: u64 = 60_000_000_000;

impl Default for Latency {
    fn default() -> Self {
        Self::new()
    }
}

impl Latency {
    pub fn new() -> Latency {
        Latency {
            hist: Histogram::new_with_bounds(1, MAX_LATENCY_NS, 3)
                .expect("static histogram bounds are valid"),
        }
    }

    pub fn record(&mut self, latency_ns: u64) {
        // Clamped, so out-of-range values still count rather than vanish.
        self.hist
            .saturating_record(latency_ns.clamp(1, MAX_LATENCY_NS));
    }

    pub fn add(&mut self, other: &Latency) {
        // Both have the same bounds, so adding cannot fail.
        let _ = self.hist.add(&other.hist);
    }

    pub fn count(&self) -> u64 {
        self.hist.len()
    }

    /// `None` when nothing was recorded.
    pub fn percentiles(&self) -> Option<Percentiles> {
        if self.hist.is_empty() {
            return None;
        }
        let q = |q: f64| Duration::from_nanos(self.hist.value_at_quantile(q));
        Some(Percentiles {
            p50: q(0.5),
            p99: q(0.99),
            p999: q(0.999),
            max: Duration::from_nanos(self.hist.max()),
            count: self.hist.len(),
        })
    }
}

/// `a − b` in microseconds, signed: the relay's added latency can come out
/// slightly negative on a noisy machine, and hiding that would hide the noise.
pub fn added_us(relay: Duration, baseline: Duration) -> f64 {
    (relay.as_nanos() as f64 - baseline.as_nanos() as f64) / 1e3
}

pub fn us(d: Duration) -> f64 {
    d.as_nanos() as f64 / 1e3
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_of_a_uniform_distribution() {
        let mut l = Latency::new();
        assert_eq!(l.percentiles(), None);
        for v in 1..=1000u64 {
            l.record(v * 1000); // 1..=1000 µs
        }
        let p = l.percentiles().unwrap();
        let near =
            |d: Duration, us: f64| (d.as_nanos() as f64 / 1e3 - us).abs() <= us * 0.001 + 1.0;
        assert!(near(p.p50, 500.0), "{p:?}");
        assert!(near(p.p99, 990.0), "{p:?}");
        assert!(near(p.p999, 999.0), "{p:?}");
        assert!(near(p.max, 1000.0), "{p:?}");
        assert_eq!(p.count, 1000);
    }

    #[test]
    fn tail_percentiles_see_rare_outliers() {
        let mut l = Latency::new();
        for _ in 0..9980 {
            l.record(10_000);
        }
        for _ in 0..20 {
            l.record(5_000_000);
        }
        let p = l.percentiles().unwrap();
        assert!(p.p99 < Duration::from_micros(11));
        assert!(
            p.p999 > Duration::from_millis(4),
            "0.2% outliers reach p99.9"
        );
        let mut merged = Latency::new();
        merged.add(&l);
        merged.add(&l);
        assert_eq!(merged.count(), 20_000);
    }

    #[test]
    fn added_latency_is_signed() {
        assert_eq!(
            added_us(Duration::from_micros(30), Duration::from_micros(10)),
            20.0
        );
        assert_eq!(
            added_us(Duration::from_micros(10), Duration::from_micros(12)),
            -2.0
        );
    }

    #[test]
    fn arrivals_classify_reorder_and_duplicates() {
        let mut f = FlowStats::default();
        let seqs = [0, 1, 3, 2, 2, 4, 200, 5];
        let got: Vec<Arrival> = seqs.iter().map(|&s| f.record(s)).collect();
        use Arrival::*;
        assert_eq!(
            got,
            [InOrder, InOrder, InOrder, Reordered, Duplicate, InOrder, InOrder, Reordered]
        );
        assert_eq!((f.received, f.reordered, f.duplicates), (7, 2, 1));
        assert_eq!(f.next_expected(), 201);
        assert_eq!(f.record(MAX_TRACKED_SEQ), Untracked);
        let t = Totals::new(&[10, 3], &[f]);
        assert_eq!(
            t,
            Totals {
                sent: 13,
                received: 7,
                lost: 6,
                reordered: 2,
                duplicates: 1
            }
        );
        assert!((t.loss_ratio() - 6.0 / 13.0).abs() < 1e-12);
    }
}
