//! Flow-table entries a previous control plane left behind ("orphans").
//!
//! With `--flow-table=PATH` the table outlives the daemon: after a crash (or a restart
//! for an upgrade) a separate data plane keeps forwarding the calls the old daemon set
//! up, from entries the new daemon has no call for. Until calls can be restored (Redis)
//! the new daemon adopts those entries as they are: it neither rewrites nor removes them
//! at start, keeps their local ports out of the allocator, and removes them once their
//! media stops, as rtpengine's `--timeout` would have ended their calls.
//!
//! Entries are grouped the way they were created, by call: an entry keyed by one local
//! port forwards from the other leg's local port (`src`), so every entry of a call is
//! connected to the others through the RTP/RTCP port pairs they name. A group stays while
//! any of its entries sees packets (one-way audio or a silent RTCP leg does not end a
//! call in rtpengine either) and goes as a whole `timeout` after the last one.
//!
//! Sans-IO: entries, counters and time come in; what to remove and which port pairs to
//! give back go out.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use shared_tables::{FlowAction, FlowKey};

use super::registry::{counter_instant, CallRegistry};

/// The orphans still in the table, and what became of those that were.
#[derive(Debug, Default)]
pub struct Orphans {
    groups: Vec<OrphanGroup>,
    /// Flows adopted at start (entries of the previous daemon).
    pub adopted_flows: u64,
    /// Orphaned flows removed since for lack of media.
    pub expired_flows: u64,
}

/// One previous call, as far as the table shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrphanGroup {
    /// Its entries' keys (local addresses), sorted.
    pub keys: Vec<FlowKey>,
    /// The RTP address of every local port pair its entries use, as key or as source.
    pub pairs: Vec<SocketAddr>,
    /// When the group was adopted: its idle time counts from here if none of its entries
    /// has a packet on record.
    pub adopted_at: Instant,
}

/// The RTP (even) address of the port pair `a` belongs to.
pub fn pair_of(a: SocketAddr) -> SocketAddr {
    SocketAddr::new(a.ip(), a.port() & !1)
}

impl Orphans {
    /// Groups `entries` (every live entry of the table at start) by call.
    pub fn adopt<'a>(
        entries: impl IntoIterator<Item = (&'a FlowKey, &'a FlowAction)>,
        now: Instant,
    ) -> Orphans {
        // Union-find over port pairs; every entry joins its key's pair to its source's.
        let mut parent: HashMap<SocketAddr, SocketAddr> = HashMap::new();
        fn root(parent: &mut HashMap<SocketAddr, SocketAddr>, a: SocketAddr) -> SocketAddr {
            let mut r = a;
            while let Some(&p) = parent.get(&r) {
                if p == r {
                    break;
                }
                r = p;
            }
            parent.insert(a, r);
            r
        }
        let mut keys = Vec::new();
        for (key, action) in entries {
            let (k, s) = (pair_of(key.local()), pair_of(action.src));
            parent.entry(k).or_insert(k);
            parent.entry(s).or_insert(s);
            let (rk, rs) = (root(&mut parent, k), root(&mut parent, s));
            if rk != rs {
                parent.insert(rk, rs);
            }
            keys.push(*key);
        }
        let mut by_root: HashMap<SocketAddr, OrphanGroup> = HashMap::new();
        let pairs: Vec<SocketAddr> = parent.keys().copied().collect();
        for p in pairs {
            let r = root(&mut parent, p);
            group(&mut by_root, r, now).pairs.push(p);
        }
        for key in &keys {
            let r = root(&mut parent, pair_of(key.local()));
            group(&mut by_root, r, now).keys.push(*key);
        }
        let mut groups: Vec<OrphanGroup> = by_root.into_values().collect();
        for g in &mut groups {
            g.keys.sort_by_key(FlowKey::local);
            g.pairs.sort();
        }
        groups.sort_by(|a, b| a.pairs.cmp(&b.pairs));
        Orphans {
            adopted_flows: keys.len() as u64,
            expired_flows: 0,
            groups,
        }
    }

    /// The groups still adopted.
    pub fn groups(&self) -> &[OrphanGroup] {
        &self.groups
    }

    /// Orphaned flows still in the table.
    pub fn live_flows(&self) -> usize {
        self.groups.iter().map(|g| g.keys.len()).sum()
    }

    /// Removes and returns the groups none of whose entries has had a packet for
    /// `timeout`. `last_packet` gives an entry's last packet time (from its table
    /// counters), `None` if it has none on record.
    pub fn handle_timeout(
        &mut self,
        now: Instant,
        timeout: Duration,
        mut last_packet: impl FnMut(&FlowKey) -> Option<Instant>,
    ) -> Vec<OrphanGroup> {
        let mut expired = Vec::new();
        self.groups.retain(|g| {
            let last = g
                .keys
                .iter()
                .filter_map(&mut last_packet)
                .max()
                .unwrap_or(g.adopted_at);
            let idle = now.saturating_duration_since(last) >= timeout;
            if idle {
                expired.push(g.clone());
            }
            !idle
        });
        self.expired_flows += expired.iter().map(|g| g.keys.len() as u64).sum::<u64>();
        expired
    }
}

impl CallRegistry {
    /// Adopts the entries a previous control plane left in the table: keeps them as they
    /// are and their port pairs out of the allocator. Call once, at start, before any
    /// request. Returns the groups (previous calls) adopted.
    pub fn adopt_orphans(&mut self, now: Instant) -> &[OrphanGroup] {
        let entries = self.table.entries();
        self.orphans = Orphans::adopt(entries.iter().map(|(k, a, _)| (k, a)), now);
        for g in self.orphans.groups() {
            for &p in &g.pairs {
                self.ports.reserve_pair(p);
            }
        }
        self.orphans.groups()
    }

    /// Orphaned flows: (still in the table, adopted at start, expired since).
    pub fn orphan_counts(&self) -> (usize, u64, u64) {
        (
            self.orphans.live_flows(),
            self.orphans.adopted_flows,
            self.orphans.expired_flows,
        )
    }

    /// Removes the orphan groups idle for `--timeout` and gives their ports back.
    pub(super) fn expire_orphans(&mut self, now: Instant) {
        if self.orphans.groups().is_empty() {
            return;
        }
        let table = &self.table;
        let expired = self
            .orphans
            .handle_timeout(now, self.settings.timeout, |k| {
                table.counters(k).and_then(|c| counter_instant(&c, now))
            });
        for g in expired {
            let mut packets = 0;
            for k in &g.keys {
                packets += self.table.remove(k).map_or(0, |c| c.packets);
            }
            for &p in &g.pairs {
                self.ports.unreserve_pair(p);
            }
            tracing::info!(
                "orphaned flows on {} expired after {} s without media ({packets} packets forwarded since the entries were made); ports {} free again",
                join(g.keys.iter().map(FlowKey::local)),
                self.settings.timeout.as_secs(),
                join(g.pairs.iter().copied()),
            );
        }
    }
}

/// `a, b, c` for a log line.
pub fn join(addrs: impl Iterator<Item = SocketAddr>) -> String {
    addrs.map(|a| a.to_string()).collect::<Vec<_>>().join(", ")
}

fn group(
    by_root: &mut HashMap<SocketAddr, OrphanGroup>,
    r: SocketAddr,
    now: Instant,
) -> &mut OrphanGroup {
    by_root.entry(r).or_insert_with(|| OrphanGroup {
        keys: Vec::new(),
        pairs: Vec::new(),
        adopted_at: now,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use shared_tables::SrcMismatch;

    fn a(port: u16) -> SocketAddr {
        SocketAddr::from(([192, 0, 2, 1], port))
    }

    /// The entry for packets arriving on `local`, sent on from `src`.
    fn entry(local: u16, src: u16) -> (FlowKey, FlowAction) {
        (
            FlowKey::new(a(local)),
            FlowAction {
                dst: SocketAddr::from(([198, 51, 100, 7], 5000)),
                src: a(src),
                expected_src: None,
                src_mismatch: SrcMismatch::Forward,
                tos: 0,
                flags: 0,
                stream_id: 0,
            },
        )
    }

    /// Two calls: 30000/30002 (RTP both ways, RTCP one way) and 30010/30012 (one way
    /// only, as a call whose callee has not sent yet).
    fn two_calls() -> Vec<(FlowKey, FlowAction)> {
        vec![
            entry(30000, 30002),
            entry(30002, 30000),
            entry(30001, 30003),
            entry(30010, 30012),
        ]
    }

    #[test]
    fn groups_entries_by_call_and_lists_their_port_pairs() {
        let now = Instant::now();
        let e = two_calls();
        let o = Orphans::adopt(e.iter().map(|(k, v)| (k, v)), now);
        assert_eq!(o.adopted_flows, 4);
        assert_eq!(o.live_flows(), 4);
        let g = o.groups();
        assert_eq!(g.len(), 2);
        assert_eq!(g[0].pairs, [a(30000), a(30002)]);
        assert_eq!(g[0].keys, [30000, 30001, 30002].map(|p| FlowKey::new(a(p))));
        // The source's pair is taken too: its socket belonged to the same call.
        assert_eq!(g[1].pairs, [a(30010), a(30012)]);
        assert_eq!(g[1].keys, [FlowKey::new(a(30010))]);
    }

    #[test]
    fn a_group_stays_while_any_entry_sees_packets() {
        let t0 = Instant::now();
        let e = two_calls();
        let mut o = Orphans::adopt(e.iter().map(|(k, v)| (k, v)), t0);
        let timeout = Duration::from_secs(60);
        // Only the first call's 30002 entry keeps receiving.
        let active = |now: Instant| {
            move |k: &FlowKey| (k.local().port() == 30002).then_some(now - Duration::from_secs(1))
        };
        let at = t0 + Duration::from_secs(59);
        assert!(o.handle_timeout(at, timeout, active(at)).is_empty());
        // The never-seen group counts from adoption.
        let at = t0 + Duration::from_secs(60);
        let gone = o.handle_timeout(at, timeout, active(at));
        assert_eq!(gone.len(), 1);
        assert_eq!(gone[0].pairs, [a(30010), a(30012)]);
        assert_eq!((o.live_flows(), o.expired_flows), (3, 1));
        // Media stops at t0+100: the group goes 60 s later, not before.
        let last = t0 + Duration::from_secs(100);
        let stopped = |_: &FlowKey| Some(last);
        let at = last + Duration::from_secs(59);
        assert!(o.handle_timeout(at, timeout, stopped).is_empty());
        let gone = o.handle_timeout(last + timeout, timeout, stopped);
        assert_eq!(gone.len(), 1);
        assert_eq!(gone[0].keys.len(), 3);
        assert_eq!((o.live_flows(), o.expired_flows), (0, 4));
    }

    #[test]
    fn an_old_last_packet_expires_at_once() {
        let t0 = Instant::now() + Duration::from_secs(600);
        let e = [entry(30020, 30022)];
        let mut o = Orphans::adopt(e.iter().map(|(k, v)| (k, v)), t0);
        let long_ago = t0 - Duration::from_secs(300);
        let gone = o.handle_timeout(t0, Duration::from_secs(60), |_| Some(long_ago));
        assert_eq!(gone.len(), 1);
    }

    #[test]
    fn nothing_to_adopt() {
        let o = Orphans::adopt([], Instant::now());
        assert!(o.groups().is_empty());
        assert_eq!(o.adopted_flows, 0);
    }
}
