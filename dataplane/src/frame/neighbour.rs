//! The next-hop MAC for an IP address, learned from received traffic.
//!
//! A kernel-bypass data plane sees every frame between the wire and the kernel, so instead
//! of asking the kernel's neighbour cache it learns: the source IP and MAC of every valid
//! IPv4/IPv6 frame, and the sender of every ARP packet (requests and replies; IPv6
//! neighbour advertisements are IPv6 frames from the advertised address). For a peer
//! behind a router the learned MAC is the router's, which is the next hop for replies as
//! long as routing is symmetric, as it is for media relayed back along the way it came.
//! A forward to an address with no entry goes to the kernel instead; the control plane
//! relays it, the kernel resolves the address, and its ARP reply or neighbour
//! advertisement passes through here and is learned.
//!
//! Per worker, fixed size: open addressing over a power-of-two slot array allocated once,
//! probing at most [`PROBE`] slots. Entries are never removed, only replaced: the same IP
//! updates its MAC in place (a moved address or a failover's gratuitous ARP takes effect at
//! once); a new IP whose probe window is full replaces the window's least recently seen
//! entry. Since slots never become empty again, a lookup stops at the first empty slot.
//! The hash is keyed randomly per table, so a remote sender choosing source addresses
//! cannot work out a set that lands in one window to evict a peer's entry.
//!
//! With several receive queues, the worker that forwards to a peer is usually not the one
//! receiving that peer's frames (RSS spreads the two directions of a relayed call over
//! different queues), and ARP replies land on one queue only. So each table keeps a short
//! log of what it learned from traffic ([`NeighbourTable::drain_changes`]) for the backend
//! to hand to the other workers ([`NeighbourTable::insert`], which does not log, so
//! nothing echoes back).

use std::collections::hash_map::RandomState;
use std::hash::BuildHasher;
use std::net::{IpAddr, Ipv6Addr};
use std::time::Duration;

use super::ethernet::{is_unicast, Mac};

/// Slots probed per lookup or insert at most: four cache lines, read in order.
pub const PROBE: usize = 8;
/// New or changed neighbours kept for [`NeighbourTable::drain_changes`]; a backend that
/// drains once per batch sees at most one per frame, 32, so older ones are only lost when
/// it drains less often.
pub const CHANGE_LOG: usize = 64;
/// Largest slot count accepted (32 B each: 512 MiB), so a bad configuration value cannot
/// ask for more memory than a machine has.
pub const MAX_CAPACITY: usize = 1 << 24;

#[derive(Clone, Copy, Debug, Default)]
struct Slot {
    /// IPv6, or IPv4 mapped into IPv6 (`::ffff:a.b.c.d`); all zero in an unused slot
    /// (`::` is never learned).
    ip: [u8; 16],
    mac: Mac,
    used: bool,
    /// Last time the address was seen, whole seconds: only orders evictions.
    seen: u64,
}

/// IP → MAC for one worker.
pub struct NeighbourTable {
    slots: Box<[Slot]>,
    seed: u64,
    len: usize,
    /// The last learn's key, MAC and second: learning it again changes nothing, and
    /// bursts from one source are the common case.
    last: ([u8; 16], Mac, u64),
    /// Ring of keys learned or changed since the last drain; `log_end` is the next write.
    log: [([u8; 16], Mac); CHANGE_LOG],
    log_end: usize,
    log_len: usize,
}

/// The table key, or `None` for an address that is never a neighbour's own: unspecified,
/// multicast, IPv4 broadcast, and IPv4-mapped IPv6 (not valid on the wire, RFC 4291
/// §2.5.5.2, and it would alias an IPv4 entry).
#[inline]
fn key(ip: IpAddr) -> Option<[u8; 16]> {
    match ip {
        IpAddr::V4(v4) => {
            let ok = !(v4.is_unspecified() || v4.is_multicast() || v4.is_broadcast());
            ok.then(|| v4.to_ipv6_mapped().octets())
        }
        IpAddr::V6(v6) => {
            let ok = !(v6.is_unspecified() || v6.is_multicast() || v6.to_ipv4_mapped().is_some());
            ok.then(|| v6.octets())
        }
    }
}

impl NeighbourTable {
    /// A table of `capacity` slots rounded up to a power of two, at least [`PROBE`] and at
    /// most [`MAX_CAPACITY`].
    pub fn new(capacity: usize) -> NeighbourTable {
        let n = capacity.clamp(PROBE, MAX_CAPACITY).next_power_of_two();
        NeighbourTable {
            slots: vec![Slot::default(); n].into_boxed_slice(),
            seed: RandomState::new().hash_one(0x6e65_6967_6862_6f75_u64),
            len: 0,
            // `::` is never a key, so this matches no learn.
            last: ([0; 16], [0; 6], 0),
            log: [([0; 16], [0; 6]); CHANGE_LOG],
            log_end: 0,
            log_len: 0,
        }
    }

    /// Slot count.
    pub fn capacity(&self) -> usize {
        self.slots.len()
    }

    /// Addresses held.
    pub fn len(&self) -> usize {
        self.len
    }

    /// `len() == 0`.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    #[inline]
    fn home(&self, k: &[u8; 16]) -> usize {
        let mut lo = [0u8; 8];
        let mut hi = [0u8; 8];
        lo.copy_from_slice(&k[..8]);
        hi.copy_from_slice(&k[8..]);
        // murmur3's fmix64 over a keyed combination: IPv4 keys differ only in `hi`.
        let mut h = self.seed ^ u64::from_ne_bytes(lo).rotate_left(17) ^ u64::from_ne_bytes(hi);
        h ^= h >> 33;
        h = h.wrapping_mul(0xff51_afd7_ed55_8ccd);
        h ^= h >> 33;
        h = h.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
        h ^= h >> 33;
        h as usize & (self.slots.len() - 1)
    }

    /// Records that `ip` is reachable through `mac` as of `now`, as seen in received
    /// traffic: a new address or a changed MAC also goes to the change log. Ignored
    /// (returns false) for addresses that are not a host's own (see the module doc) and
    /// for a multicast or zero MAC.
    #[inline]
    pub fn learn(&mut self, ip: IpAddr, mac: Mac, now: Duration) -> bool {
        self.update(ip, mac, now, true)
    }

    /// As [`learn`](Self::learn), for a neighbour learned elsewhere (another worker, the
    /// kernel's table): not logged.
    pub fn insert(&mut self, ip: IpAddr, mac: Mac, now: Duration) -> bool {
        self.update(ip, mac, now, false)
    }

    /// The neighbours learned or changed by [`learn`](Self::learn) since the last call,
    /// oldest first (at most the last [`CHANGE_LOG`]).
    pub fn drain_changes(&mut self) -> impl Iterator<Item = (IpAddr, Mac)> + '_ {
        let n = self.log_len;
        self.log_len = 0;
        let start = (self.log_end + CHANGE_LOG - n) % CHANGE_LOG;
        let log = &self.log;
        (0..n).map(move |i| {
            let (k, mac) = log[(start + i) % CHANGE_LOG];
            let v6 = Ipv6Addr::from(k);
            // Only IPv4 keys are mapped: mapped IPv6 addresses are never learned.
            let ip = v6.to_ipv4_mapped().map_or(IpAddr::V6(v6), IpAddr::V4);
            (ip, mac)
        })
    }

    #[inline]
    fn update(&mut self, ip: IpAddr, mac: Mac, now: Duration, log: bool) -> bool {
        let Some(k) = key(ip) else { return false };
        if !is_unicast(&mac) {
            return false;
        }
        let seen = now.as_secs();
        if self.last == (k, mac, seen) {
            return true;
        }
        self.last = (k, mac, seen);
        let mask = self.slots.len() - 1;
        let home = self.home(&k);
        let mut victim = home;
        let fresh = Slot {
            ip: k,
            mac,
            used: true,
            seen,
        };
        for i in 0..PROBE {
            let at = (home + i) & mask;
            let s = &mut self.slots[at];
            if !s.used {
                *s = fresh;
                self.len += 1;
                self.log_change(log, k, mac);
                return true;
            }
            if s.ip == k {
                let changed = s.mac != mac;
                s.mac = mac;
                s.seen = seen;
                if changed {
                    self.log_change(log, k, mac);
                }
                return true;
            }
            if s.seen < self.slots[victim].seen {
                victim = at;
            }
        }
        self.slots[victim] = fresh;
        self.log_change(log, k, mac);
        true
    }

    #[inline]
    fn log_change(&mut self, log: bool, k: [u8; 16], mac: Mac) {
        if log {
            self.log[self.log_end] = (k, mac);
            self.log_end = (self.log_end + 1) % CHANGE_LOG;
            self.log_len = (self.log_len + 1).min(CHANGE_LOG);
        }
    }

    /// The MAC to send to `ip` through, if learned.
    #[inline]
    pub fn lookup(&self, ip: IpAddr) -> Option<Mac> {
        let k = key(ip)?;
        let mask = self.slots.len() - 1;
        let home = self.home(&k);
        for i in 0..PROBE {
            let s = &self.slots[(home + i) & mask];
            if !s.used {
                return None;
            }
            if s.ip == k {
                return Some(s.mac);
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::{Ipv4Addr, Ipv6Addr};

    const MAC_A: Mac = [2, 0, 0, 0, 0, 0xa];
    const MAC_B: Mac = [2, 0, 0, 0, 0, 0xb];

    fn v4(n: u32) -> IpAddr {
        IpAddr::V4(Ipv4Addr::from(0xc000_0200 + n))
    }

    fn secs(s: u64) -> Duration {
        Duration::from_secs(s)
    }

    #[test]
    fn learn_lookup_update() {
        let mut t = NeighbourTable::new(64);
        assert_eq!(t.lookup(v4(1)), None);
        assert!(t.learn(v4(1), MAC_A, secs(1)));
        assert_eq!(t.lookup(v4(1)), Some(MAC_A));
        assert!(t.learn(v4(1), MAC_B, secs(2)));
        assert_eq!((t.lookup(v4(1)), t.len()), (Some(MAC_B), 1));
        let v6: IpAddr = "2001:db8::1".parse().unwrap();
        t.learn(v6, MAC_A, secs(3));
        assert_eq!(t.lookup(v6), Some(MAC_A));
        // IPv4 192.0.2.1 and its mapped IPv6 form are different neighbours; the mapped
        // form is never learned.
        let mapped = IpAddr::V6(Ipv4Addr::new(192, 0, 2, 1).to_ipv6_mapped());
        assert!(!t.learn(mapped, MAC_A, secs(3)));
        assert_eq!(t.lookup(mapped), None);
    }

    #[test]
    fn refuses_addresses_that_are_not_a_hosts_own() {
        let mut t = NeighbourTable::new(64);
        for ip in [
            IpAddr::V4(Ipv4Addr::UNSPECIFIED),
            IpAddr::V4(Ipv4Addr::BROADCAST),
            IpAddr::V4(Ipv4Addr::new(224, 0, 0, 251)),
            IpAddr::V6(Ipv6Addr::UNSPECIFIED),
            "ff02::1".parse().unwrap(),
        ] {
            assert!(!t.learn(ip, MAC_A, secs(1)), "{ip}");
        }
        for mac in [[0xff; 6], [1, 0, 0x5e, 0, 0, 1], [0; 6]] {
            assert!(!t.learn(v4(1), mac, secs(1)));
        }
        assert!(t.is_empty());
    }

    #[test]
    fn full_window_evicts_the_least_recently_seen() {
        // PROBE slots: every key's window is the whole table.
        let mut t = NeighbourTable::new(PROBE);
        assert_eq!(t.capacity(), PROBE);
        for n in 0..PROBE as u32 {
            t.learn(v4(n), MAC_A, secs(10 + u64::from(n)));
        }
        // refresh the oldest, so the second oldest goes
        t.learn(v4(0), MAC_A, secs(100));
        t.learn(v4(99), MAC_B, secs(101));
        assert_eq!(t.lookup(v4(99)), Some(MAC_B));
        assert_eq!(t.lookup(v4(1)), None);
        for n in (0..PROBE as u32).filter(|&n| n != 1) {
            assert_eq!(t.lookup(v4(n)), Some(MAC_A), "{n}");
        }
        assert_eq!(t.len(), PROBE);
    }

    #[test]
    fn change_log_has_new_and_changed_neighbours_only() {
        let mut t = NeighbourTable::new(64);
        let v6: IpAddr = "2001:db8::7".parse().unwrap();
        t.learn(v4(1), MAC_A, secs(1));
        t.learn(v4(1), MAC_A, secs(2)); // refresh
        t.learn(v6, MAC_B, secs(2));
        t.insert(v4(2), MAC_B, secs(2)); // from elsewhere
        assert_eq!(
            t.drain_changes().collect::<Vec<_>>(),
            [(v4(1), MAC_A), (v6, MAC_B)]
        );
        assert_eq!(t.drain_changes().count(), 0);
        t.learn(v4(1), MAC_B, secs(3)); // moved
        t.learn(v4(2), MAC_B, secs(3)); // known, unchanged, though inserted
        assert_eq!(t.drain_changes().collect::<Vec<_>>(), [(v4(1), MAC_B)]);
    }

    #[test]
    fn change_log_keeps_the_latest() {
        let mut t = NeighbourTable::new(1024);
        let n = CHANGE_LOG as u32 + 10;
        for i in 0..n {
            t.learn(v4(i), MAC_A, secs(1));
        }
        let got: Vec<_> = t.drain_changes().map(|(ip, _)| ip).collect();
        assert_eq!(got, (10..n).map(v4).collect::<Vec<_>>());
    }

    #[test]
    fn capacity_is_bounded_and_a_power_of_two() {
        assert_eq!(NeighbourTable::new(0).capacity(), PROBE);
        assert_eq!(NeighbourTable::new(65_000).capacity(), 65_536);
        assert_eq!(NeighbourTable::new(usize::MAX).capacity(), MAX_CAPACITY);
    }

    #[test]
    fn many_neighbours_mostly_fit_at_half_load() {
        // Over many random seeds, not one: what is held depends on the seed, and a
        // single table's share varies more than the mean the claim is about.
        let n = 1 << 11;
        let tables = 64;
        let mut held = 0;
        for _ in 0..tables {
            let mut t = NeighbourTable::new(1 << 12);
            for i in 0..n {
                t.learn(v4(i), MAC_A, secs(1));
            }
            let found = (0..n).filter(|&i| t.lookup(v4(i)).is_some()).count();
            assert_eq!(t.len(), found);
            held += found;
        }
        // A window of 8 at load 0.5 overflows for well under 1% of keys.
        let total = n as usize * tables;
        assert!(held > total * 99 / 100, "{held} of {total}");
    }
}
