//! The flow table: open addressing with linear probing over the slots of a shared region.
//!
//! Invariants:
//! - One writer ([`TableWriter`], enforced by a lock on the region that the kernel drops
//!   when the writer's process dies, see [`crate::takeover`]) changes slot state/data;
//!   readers only touch counters.
//! - Entries never move. An upsert of an existing key rewrites its slot in place under the
//!   seqlock, so a concurrent reader sees the old or the new action, never a mix and never
//!   a miss. A new key goes to the first tombstone or empty slot on its probe path.
//! - For every live key at slot `p`, all slots from its home slot to `p` are non-empty.
//!   `remove` leaves a tombstone, except that a tombstone followed by an empty slot is on
//!   no probe path and is turned back into empty (with any tombstones before it); this
//!   keeps the table from silting up without moving entries under readers' feet.
//! - The slot count is a power of two at least twice the capacity, so probe sequences stay
//!   short (load factor ≤ 0.5) and `len == capacity` is the "table full" condition.

use core::marker::PhantomData;
use core::sync::atomic::Ordering;
use core::time::Duration;
use std::cell::Cell;
use std::os::fd::{BorrowedFd, OwnedFd};
use std::path::Path;
use std::sync::Arc;

use crate::counters::{FlowCounters, SrtpProgress};
use crate::entry::{EntryId, FlowAction, FlowCrypto, FlowKey, SrtpCounters};
use crate::layout::{
    FlowEntryData, FlowSlot, Header, FLOW_KNOWN_FLAGS, FLOW_SRTP_IN, FLOW_SRTP_OUT, LAYOUT_VERSION,
    MAGIC, SLOT_EMPTY, SLOT_OCCUPIED, SLOT_TOMBSTONE,
};
use crate::seqlock;
use crate::shm::Region;
use crate::takeover::{self, Takeover, WriterLock};
use crate::TableError;

/// Largest capacity accepted; keeps slot indices in `u32` ([`EntryId`]) with room to spare.
pub const MAX_CAPACITY: usize = 1 << 26;

/// The mapped region plus derived pointers, shared by the table, its writer and readers.
pub(crate) struct Shared {
    region: Region,
    header: *const Header,
    slots: *const FlowSlot,
    pub(crate) nslots: usize,
}

// SAFETY: `header` and `slots` point into `region`, which is Send + Sync and lives as long
// as `Shared`; they are only dereferenced to shared references whose fields are atomics.
unsafe impl Send for Shared {}
// SAFETY: as for Send.
unsafe impl Sync for Shared {}

impl Shared {
    const SLOTS_OFFSET: usize = core::mem::size_of::<Header>();

    fn region_len(nslots: usize) -> usize {
        Self::SLOTS_OFFSET + nslots * core::mem::size_of::<FlowSlot>()
    }

    fn slots_for(capacity: usize) -> Result<usize, TableError> {
        if capacity == 0 || capacity > MAX_CAPACITY {
            return Err(TableError::BadCapacity {
                capacity,
                max: MAX_CAPACITY,
            });
        }
        Ok((capacity * 2).next_power_of_two())
    }

    /// Writes the header of a freshly created, zero-filled region (all slots empty).
    fn init(region: Region, capacity: usize, nslots: usize) -> Shared {
        let header = region.ptr().cast::<Header>();
        // SAFETY: the region is at least `region_len(nslots)` bytes, page aligned (so
        // 64-aligned for `Header`), freshly created and not yet visible to any other thread
        // of this process; another process can only see it after we return and hand out
        // the path/fd, and checks the magic, which is written last.
        unsafe {
            (*header).layout_version = LAYOUT_VERSION;
            (*header).slot_size = core::mem::size_of::<FlowSlot>() as u32;
            (*header).slots = nslots as u64;
            (*header).capacity = capacity as u64;
            core::sync::atomic::fence(Ordering::Release);
            (*header).magic = MAGIC;
        }
        Self::from_region(region, nslots)
    }

    fn validate(region: Region) -> Result<Shared, TableError> {
        if region.len() < Self::SLOTS_OFFSET {
            return Err(TableError::BadRegion {
                reason: "shorter than the header",
            });
        }
        // SAFETY: the region holds at least a `Header` at a page-aligned address; its
        // fields are integers/atomics, valid for any bytes; we only read them here.
        let h = unsafe { &*region.ptr().cast::<Header>() };
        if h.magic != MAGIC {
            return Err(TableError::BadRegion {
                reason: "bad magic",
            });
        }
        if h.layout_version != LAYOUT_VERSION {
            return Err(TableError::VersionMismatch {
                found: h.layout_version,
                expected: LAYOUT_VERSION,
            });
        }
        if h.slot_size as usize != core::mem::size_of::<FlowSlot>() {
            return Err(TableError::BadRegion {
                reason: "slot size differs",
            });
        }
        let nslots = usize::try_from(h.slots).unwrap_or(0);
        let capacity = usize::try_from(h.capacity).unwrap_or(usize::MAX);
        if !nslots.is_power_of_two() || capacity == 0 || capacity > nslots / 2 {
            return Err(TableError::BadRegion {
                reason: "slot count/capacity inconsistent",
            });
        }
        if region.len() < Self::region_len(nslots) {
            return Err(TableError::BadRegion {
                reason: "region shorter than its slot array",
            });
        }
        Ok(Self::from_region(region, nslots))
    }

    fn from_region(region: Region, nslots: usize) -> Shared {
        let header = region.ptr().cast::<Header>().cast_const();
        // SAFETY: SLOTS_OFFSET (64) is within the region, checked by the callers.
        let slots = unsafe { region.ptr().add(Self::SLOTS_OFFSET) }
            .cast::<FlowSlot>()
            .cast_const();
        Shared {
            region,
            header,
            slots,
            nslots,
        }
    }

    #[inline]
    pub(crate) fn header(&self) -> &Header {
        // SAFETY: `header` points at the validated header inside `region`, alive as long
        // as `self`.
        unsafe { &*self.header }
    }

    #[inline]
    pub(crate) fn slot(&self, i: usize) -> &FlowSlot {
        debug_assert!(i < self.nslots);
        // SAFETY: callers pass `i` masked by `nslots - 1` (or a checked EntryId), and the
        // region holds `nslots` slots at 64-byte alignment after the header. Slots are
        // made of atomics only, so shared references to them are sound under concurrency.
        unsafe { &*self.slots.add(i) }
    }

    #[inline]
    fn mask(&self) -> usize {
        self.nslots - 1
    }

    fn capacity(&self) -> usize {
        self.header().capacity as usize
    }

    /// Reader-side probe: index and consistent copy of the key's slot. A slot that stays
    /// mid-write (its writer preempted or dead) ends the probe as a miss: the packet goes
    /// to the control plane, which is right whatever the slot was about to hold.
    #[inline]
    fn find(&self, key: &FlowKey) -> Option<(usize, FlowEntryData)> {
        let mut i = key.hash() as usize & self.mask();
        for _ in 0..self.nslots {
            let d = seqlock::read_bounded(self.slot(i), seqlock::READ_TRIES)?;
            match d.state {
                SLOT_EMPTY => return None,
                SLOT_OCCUPIED if d.key == key.0 => return Some((i, d)),
                _ => {}
            }
            i = (i + 1) & self.mask();
        }
        None
    }
}

/// The shared flow table region. Cheap to clone handles from; the mapping lives until the
/// table and all its readers/writer are dropped.
pub struct FlowTable {
    pub(crate) shared: Arc<Shared>,
}

impl FlowTable {
    /// A table for up to `capacity` entries in an anonymous memfd.
    pub fn create(capacity: usize) -> Result<FlowTable, TableError> {
        let nslots = Shared::slots_for(capacity)?;
        let region = Region::create_memfd(Shared::region_len(nslots))?;
        Ok(FlowTable {
            shared: Arc::new(Shared::init(region, capacity, nslots)),
        })
    }

    /// A table in a file under `/dev/shm` or a hugetlbfs mount, so another process can
    /// [`attach`](Self::attach) by path. An existing file is replaced, not truncated: the
    /// table is built under a temporary name and renamed over `path`, so a process that
    /// has the old file mapped keeps valid (old) memory instead of faulting past a shrunk
    /// end, and one attaching by path sees the old table or the whole new one.
    pub fn create_at(path: &Path, capacity: usize) -> Result<FlowTable, TableError> {
        let nslots = Shared::slots_for(capacity)?;
        let region = Region::create_file_replacing(path, Shared::region_len(nslots), |r| {
            Shared::init(r, capacity, nslots)
        })?;
        Ok(FlowTable {
            shared: Arc::new(region),
        })
    }

    /// Maps an existing table file, checking magic, [`LAYOUT_VERSION`] and geometry.
    pub fn attach(path: &Path) -> Result<FlowTable, TableError> {
        let region = Region::open_file(path)?;
        Ok(FlowTable {
            shared: Arc::new(Shared::validate(region)?),
        })
    }

    /// Maps an existing table by descriptor (e.g. the memfd of [`fd`](Self::fd) received
    /// over a Unix socket); checks as [`attach`](Self::attach).
    pub fn attach_fd(fd: OwnedFd) -> Result<FlowTable, TableError> {
        let region = Region::open_fd(fd)?;
        Ok(FlowTable {
            shared: Arc::new(Shared::validate(region)?),
        })
    }

    /// The descriptor backing the region, to share it with another process.
    pub fn fd(&self) -> BorrowedFd<'_> {
        self.shared.region.fd()
    }

    /// Maximum number of live entries.
    pub fn capacity(&self) -> usize {
        self.shared.capacity()
    }

    /// The single writer. Fails with [`TableError::WriterBusy`] while another exists, in
    /// this or any other live process mapping the region. A writer whose process died
    /// does not count: the new one takes over and repairs what it left
    /// ([`TableWriter::took_over`]).
    pub fn writer(&self) -> Result<TableWriter, TableError> {
        let lock = takeover::lock(self.shared.region.fd())?;
        let took_over = takeover::claim(&self.shared);
        Ok(TableWriter {
            shared: self.shared.clone(),
            took_over,
            _lock: lock,
            _not_sync: PhantomData,
        })
    }

    /// A lock-free reader handle.
    pub fn reader(&self) -> TableReader {
        TableReader {
            shared: self.shared.clone(),
        }
    }
}

/// The only handle that changes entries. `Send` but not `Sync`: one thread at a time.
pub struct TableWriter {
    shared: Arc<Shared>,
    took_over: Option<Takeover>,
    /// Dropped after `Drop::drop` cleared the header's PID, so a writer that gets the
    /// lock next never mistakes a clean handover for a crash.
    _lock: WriterLock,
    _not_sync: PhantomData<Cell<()>>,
}

impl TableWriter {
    /// `Some` if this writer took the table over from one whose process died holding it
    /// (the region then still holds that writer's entries).
    pub fn took_over(&self) -> Option<Takeover> {
        self.took_over
    }

    /// Every live entry: key, action and counters. Walks the whole slot array, so it is
    /// for start-up and diagnostics, not for the request path. Entries whose action does
    /// not decode (a corrupt region) are left out.
    pub fn entries(&self) -> Vec<(FlowKey, FlowAction, FlowCounters)> {
        let s = &*self.shared;
        (0..s.nslots)
            .filter_map(|i| {
                let slot = s.slot(i);
                let d = seqlock::read_as_writer(slot);
                if d.state != SLOT_OCCUPIED {
                    return None;
                }
                let key = FlowKey(d.key);
                key.0.to_socket_addr()?;
                Some((key, FlowAction::decode(&d)?, slot.counters.snapshot()))
            })
            .collect()
    }

    /// Writer-side probe. Returns the key's slot if present, else the slot a new entry
    /// should take (first tombstone on the path, else the terminating empty slot), or
    /// `None` for both if the probe wrapped around without finding room.
    fn probe(&self, key: &FlowKey) -> (Option<usize>, Option<usize>) {
        let s = &*self.shared;
        let mut i = key.hash() as usize & s.mask();
        let mut first_free = None;
        for _ in 0..s.nslots {
            let d = seqlock::read_as_writer(s.slot(i));
            match d.state {
                SLOT_OCCUPIED if d.key == key.0 => return (Some(i), None),
                SLOT_OCCUPIED => {}
                SLOT_TOMBSTONE => {
                    first_free.get_or_insert(i);
                }
                _ => return (None, Some(first_free.unwrap_or(i))),
            }
            i = (i + 1) & s.mask();
        }
        (None, first_free)
    }

    /// Inserts `key` or replaces its action. Counters are kept on replace and start from
    /// zero on insert.
    ///
    /// A worker that looked the key up before its removal may still add one batch's counts
    /// to the slot after it is reused; that imprecision is accepted to keep counter
    /// updates a plain `fetch_add`.
    pub fn upsert(&mut self, key: FlowKey, action: &FlowAction) -> Result<EntryId, TableError> {
        self.upsert_inner(key, action, None)
    }

    /// As [`upsert`](Self::upsert), for an SRTP flow: `crypto`'s keys go into the slot
    /// before the action does, so a worker that sees the action's `FLOW_SRTP_*` bits finds
    /// the keys that go with them. The action's SRTP bits must match the keys present
    /// ([`FlowCrypto::flags`]). SRTP counters start from zero on insert and are kept on
    /// replace, like the packet counters.
    pub fn upsert_with_crypto(
        &mut self,
        key: FlowKey,
        action: &FlowAction,
        crypto: &FlowCrypto,
    ) -> Result<EntryId, TableError> {
        self.upsert_inner(key, action, Some(crypto))
    }

    fn upsert_inner(
        &mut self,
        key: FlowKey,
        action: &FlowAction,
        crypto: Option<&FlowCrypto>,
    ) -> Result<EntryId, TableError> {
        if action.dst.is_ipv4() != action.src.is_ipv4() {
            return Err(TableError::FamilyMismatch {
                dst: action.dst,
                src: action.src,
            });
        }
        if action.flags & !FLOW_KNOWN_FLAGS != 0 {
            return Err(TableError::UnknownFlags {
                flags: action.flags,
            });
        }
        let srtp_flags = action.flags & (FLOW_SRTP_IN | FLOW_SRTP_OUT);
        if srtp_flags != crypto.map_or(0, FlowCrypto::flags) {
            return Err(TableError::CryptoMismatch {
                flags: action.flags,
            });
        }
        let s = &*self.shared;
        let data = action.encode(&key);
        let (found, free) = self.probe(&key);
        if let Some(i) = found {
            write_crypto(s.slot(i), crypto);
            seqlock::write(s.slot(i), &data);
            return Ok(EntryId(i as u32));
        }
        let h = s.header();
        if h.len.load(Ordering::Relaxed) as usize >= s.capacity() {
            return Err(TableError::Full {
                capacity: s.capacity(),
            });
        }
        // len < capacity <= nslots/2 guarantees an empty or tombstoned slot on any path.
        let i = free.expect("len < capacity <= slots/2 leaves a free slot on every probe path");
        let slot = s.slot(i);
        let was_tombstone = seqlock::read_as_writer(slot).state == SLOT_TOMBSTONE;
        slot.counters.reset();
        slot.srtp.reset();
        write_crypto(slot, crypto);
        seqlock::write(slot, &data);
        h.len.fetch_add(1, Ordering::Relaxed);
        if was_tombstone {
            h.tombstones.fetch_sub(1, Ordering::Relaxed);
        }
        Ok(EntryId(i as u32))
    }

    /// The key's SRTP counters (zero for a plain flow).
    pub fn srtp_counters(&self, key: &FlowKey) -> Option<SrtpCounters> {
        let i = self.probe(key).0?;
        Some(self.shared.slot(i).srtp.snapshot())
    }

    /// The key's SRTP keys and indices as last written, if it has any.
    pub fn crypto(&self, key: &FlowKey) -> Option<FlowCrypto> {
        let i = self.probe(key).0?;
        let slot = self.shared.slot(i);
        let flags = seqlock::read_as_writer(slot).flags;
        if flags & (FLOW_SRTP_IN | FLOW_SRTP_OUT) == 0 {
            return None;
        }
        FlowCrypto::decode(&seqlock::read_crypto_as_writer(slot))
    }

    /// Removes `key`, returning its final counters.
    pub fn remove(&mut self, key: &FlowKey) -> Option<FlowCounters> {
        let s = &*self.shared;
        let i = self.probe(key).0?;
        let slot = s.slot(i);
        let counters = slot.counters.snapshot();
        let h = s.header();
        let next_empty = seqlock::read_as_writer(s.slot((i + 1) & s.mask())).state == SLOT_EMPTY;
        if next_empty {
            // No probe path continues past `i`, so it and the tombstones directly before
            // it are on no live key's path; they can become empty again.
            let mut j = i;
            set_state(slot, SLOT_EMPTY);
            loop {
                j = j.wrapping_sub(1) & s.mask();
                let sj = s.slot(j);
                if j == i || seqlock::read_as_writer(sj).state != SLOT_TOMBSTONE {
                    break;
                }
                set_state(sj, SLOT_EMPTY);
                h.tombstones.fetch_sub(1, Ordering::Relaxed);
            }
        } else {
            set_state(slot, SLOT_TOMBSTONE);
            h.tombstones.fetch_add(1, Ordering::Relaxed);
        }
        h.len.fetch_sub(1, Ordering::Relaxed);
        Some(counters)
    }

    /// The key's current counters.
    pub fn counters(&self, key: &FlowKey) -> Option<FlowCounters> {
        let i = self.probe(key).0?;
        Some(self.shared.slot(i).counters.snapshot())
    }

    /// The key's current action.
    pub fn get(&self, key: &FlowKey) -> Option<(EntryId, FlowAction)> {
        let i = self.probe(key).0?;
        let d = seqlock::read_as_writer(self.shared.slot(i));
        Some((EntryId(i as u32), FlowAction::decode(&d)?))
    }

    /// Counts packets the control plane forwarded itself (e.g. before latching), so the
    /// entry's counters cover all of the flow's traffic. No-op for an unknown key.
    pub fn add_counters(&self, key: &FlowKey, packets: u64, bytes: u64, errors: u64) {
        if let Some(i) = self.probe(key).0 {
            let now = crate::monotonic_now();
            self.shared
                .slot(i)
                .counters
                .add(packets, bytes, errors, now);
        }
    }

    /// Live entries.
    pub fn len(&self) -> usize {
        self.shared.header().len.load(Ordering::Relaxed) as usize
    }

    /// `len() == 0`.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Tombstoned slots (diagnostics: long probe chains show up here first).
    pub fn tombstones(&self) -> usize {
        self.shared.header().tombstones.load(Ordering::Relaxed) as usize
    }
}

impl Drop for TableWriter {
    fn drop(&mut self) {
        self.shared
            .header()
            .writer_active
            .store(0, Ordering::Release);
    }
}

/// Writes `crypto` (if any) into the slot's crypto block with the next generation. A plain
/// flow leaves the block alone: its action's flags say not to read it.
fn write_crypto(slot: &FlowSlot, crypto: Option<&FlowCrypto>) {
    let Some(c) = crypto else { return };
    let previous = seqlock::read_crypto_as_writer(slot);
    // 0 means "no keys", so the generation skips it when it wraps.
    let next = c.encode(previous.generation.wrapping_add(1).max(1));
    // What workers published under a key the entry no longer has would make a rebuilt
    // worker continue that key's stream under the new one (a ROC the far end does not
    // have). Counts stay; the half whose key is unchanged keeps its indices.
    if next.inbound != previous.inbound {
        slot.srtp.forget_inbound();
    }
    if next.outbound != previous.outbound {
        slot.srtp.forget_outbound();
    }
    seqlock::write_crypto(slot, &next);
}

/// Changes only the state byte of a slot the caller (the writer) owns, under the seqlock.
fn set_state(slot: &FlowSlot, state: u8) {
    let mut d = seqlock::read_as_writer(slot);
    d.state = state;
    seqlock::write(slot, &d);
}

/// A lock-free reader: `Clone + Send + Sync`, one per worker or shared.
#[derive(Clone)]
pub struct TableReader {
    shared: Arc<Shared>,
}

impl TableReader {
    /// The key's entry id and action, or `None` (the packet goes to the control plane).
    /// Copies a few dozen bytes; no allocation, lock or syscall.
    #[inline]
    pub fn lookup(&self, key: &FlowKey) -> Option<(EntryId, FlowAction)> {
        let (i, d) = self.shared.find(key)?;
        Some((EntryId(i as u32), FlowAction::decode(&d)?))
    }

    /// Adds a batch's counts to an entry found by [`lookup`](Self::lookup). Relaxed
    /// atomics; `now` (CLOCK_MONOTONIC) becomes `last_packet` when `packets > 0`.
    #[inline]
    pub fn record(&self, id: EntryId, packets: u64, bytes: u64, errors: u64, now: Duration) {
        if id.index() < self.shared.nslots {
            self.shared
                .slot(id.index())
                .counters
                .add(packets, bytes, errors, now);
        }
    }

    /// The SRTP keys of the entry in slot `id`, if the block holds valid ones; `None`
    /// also when the writer is stuck mid-write (the caller punts the packet). Called
    /// by a worker when its cached session for `id` is missing or of another generation.
    pub fn crypto(&self, id: EntryId) -> Option<FlowCrypto> {
        if id.index() >= self.shared.nslots {
            return None;
        }
        let c = seqlock::read_crypto_bounded(self.shared.slot(id.index()), seqlock::READ_TRIES)?;
        FlowCrypto::decode(&c)
    }

    /// The generation of the SRTP keys in slot `id` (0: none valid), reading two words
    /// rather than the whole block: what a worker checks per packet against its cache.
    #[inline]
    pub fn crypto_generation(&self, id: EntryId) -> u32 {
        if id.index() >= self.shared.nslots {
            return 0;
        }
        seqlock::read_crypto_generation(self.shared.slot(id.index()), seqlock::READ_TRIES)
            .unwrap_or(0)
    }

    /// Adds a batch's SRTP counts and progress to entry `id`.
    #[inline]
    pub fn record_srtp(&self, id: EntryId, progress: &SrtpProgress) {
        if id.index() < self.shared.nslots {
            self.shared.slot(id.index()).srtp.add(progress);
        }
    }

    /// SRTP counters of the entry in slot `id`.
    pub fn srtp_counters(&self, id: EntryId) -> Option<SrtpCounters> {
        (id.index() < self.shared.nslots).then(|| self.shared.slot(id.index()).srtp.snapshot())
    }

    /// Counters of the entry in slot `id` (whatever entry occupies it now).
    pub fn counters(&self, id: EntryId) -> Option<FlowCounters> {
        (id.index() < self.shared.nslots).then(|| self.shared.slot(id.index()).counters.snapshot())
    }

    /// Live entries (relaxed; for metrics).
    pub fn len(&self) -> usize {
        self.shared.header().len.load(Ordering::Relaxed) as usize
    }

    /// `len() == 0`.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::entry::SrcMismatch;
    use crate::layout::FLOW_BLACKHOLE;
    use crate::SrtpProgress;
    use proptest::prelude::*;
    use std::collections::HashMap;
    use std::net::SocketAddr;
    use std::sync::atomic::AtomicBool;

    fn v4(port: u16) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], port))
    }

    fn action(n: u64) -> FlowAction {
        FlowAction {
            dst: v4(40_000 + (n % 1000) as u16),
            src: v4(30_000 + (n % 1000) as u16),
            expected_src: (n & 1 == 0).then(|| v4(50_000)),
            src_mismatch: SrcMismatch::Drop,
            tos: n as u8,
            flags: 0,
            stream_id: n,
        }
    }

    #[test]
    fn upsert_lookup_replace_remove() {
        let t = FlowTable::create(16).unwrap();
        let mut w = t.writer().unwrap();
        let r = t.reader();
        let k = FlowKey::new(v4(30_000));
        assert_eq!(r.lookup(&k), None);
        let id = w.upsert(k, &action(1)).unwrap();
        assert_eq!(r.lookup(&k), Some((id, action(1))));
        r.record(id, 2, 200, 1, Duration::from_secs(1));
        // replace keeps the slot and the counters
        assert_eq!(w.upsert(k, &action(2)).unwrap(), id);
        assert_eq!(r.lookup(&k).unwrap().1, action(2));
        assert_eq!(w.counters(&k).unwrap().packets, 2);
        assert_eq!(w.len(), 1);
        let c = w.remove(&k).unwrap();
        assert_eq!((c.packets, c.bytes, c.errors), (2, 200, 1));
        assert_eq!(r.lookup(&k), None);
        assert_eq!(w.remove(&k), None);
        assert!(w.is_empty());
        // re-insert starts from zero
        w.upsert(k, &action(3)).unwrap();
        assert_eq!(w.counters(&k).unwrap(), FlowCounters::default());
    }

    fn srtp_key(suite: u8, fill: u8) -> crate::SrtpKey {
        crate::SrtpKey {
            suite,
            params: crate::SRTP_UNENCRYPTED_SRTCP,
            kdr: 0,
            mki: Some((7, 2)),
            key: [fill; 32],
            salt: [fill ^ 0xff; 14],
        }
    }

    #[test]
    fn srtp_keys_travel_with_the_action_and_bump_the_generation() {
        let t = FlowTable::create(16).unwrap();
        let mut w = t.writer().unwrap();
        let r = t.reader();
        let k = FlowKey::new(v4(30_000));
        let crypto = FlowCrypto {
            inbound: Some(srtp_key(1, 0x11)),
            outbound: None,
            in_index: Some(0x1_fffe),
            out_index: None,
            out_rtcp_index: 5,
            generation: 0,
        };
        // the action's bits must match the keys
        assert!(matches!(
            w.upsert_with_crypto(k, &action(1), &crypto),
            Err(TableError::CryptoMismatch { .. })
        ));
        let a = FlowAction {
            flags: FLOW_SRTP_IN,
            ..action(1)
        };
        let id = w.upsert_with_crypto(k, &a, &crypto).unwrap();
        assert_eq!(r.lookup(&k).unwrap().1.flags, FLOW_SRTP_IN);
        let got = r.crypto(id).unwrap();
        assert_eq!(
            got,
            FlowCrypto {
                generation: 1,
                ..crypto
            }
        );
        assert_eq!(r.crypto_generation(id), 1);
        assert_eq!(w.crypto(&k), Some(got));
        // re-keying keeps the slot and bumps the generation
        let both = FlowCrypto {
            outbound: Some(srtp_key(2, 0x22)),
            ..crypto
        };
        let a2 = FlowAction {
            flags: FLOW_SRTP_IN | FLOW_SRTP_OUT,
            ..a
        };
        assert_eq!(w.upsert_with_crypto(k, &a2, &both).unwrap(), id);
        assert_eq!(r.crypto_generation(id), 2);
        assert_eq!(r.crypto(id).unwrap().outbound, both.outbound);
        // workers report progress; indices only move forward
        r.record_srtp(
            id,
            &SrtpProgress {
                auth_failures: 2,
                replays: 1,
                in_index: Some(70_000),
                out_index: Some(69_999),
                out_rtcp_index: Some(9),
                in_ssrc: Some(0),
                out_ssrc: Some(0xdead_beef),
            },
        );
        r.record_srtp(
            id,
            &SrtpProgress {
                in_index: Some(3),
                ..SrtpProgress::default()
            },
        );
        let c = w.srtp_counters(&k).unwrap();
        assert_eq!((c.auth_failures, c.replays), (2, 1));
        assert_eq!(
            (c.in_index, c.out_index, c.out_rtcp_index),
            (Some(70_000), Some(69_999), Some(9))
        );
        assert_eq!((c.in_ssrc, c.out_ssrc), (Some(0), Some(0xdead_beef)));
        // rewriting with the same keys keeps what workers published
        w.upsert_with_crypto(k, &a2, &both).unwrap();
        assert_eq!(w.srtp_counters(&k).unwrap(), c);
        // a new outbound key: its indices are gone, the inbound ones and the counts stay
        let rekeyed = FlowCrypto {
            outbound: Some(srtp_key(2, 0x33)),
            ..both
        };
        w.upsert_with_crypto(k, &a2, &rekeyed).unwrap();
        assert_eq!(
            w.srtp_counters(&k).unwrap(),
            SrtpCounters {
                out_index: None,
                out_rtcp_index: None,
                out_ssrc: None,
                ..c
            }
        );
        // a plain upsert turns SRTP off without touching the keys' block
        w.upsert(k, &action(3)).unwrap();
        assert_eq!(w.crypto(&k), None);
        assert_eq!(r.lookup(&k).unwrap().1.flags, 0);
        // a new entry in the slot starts with zero SRTP counters
        w.remove(&k).unwrap();
        w.upsert_with_crypto(k, &a, &crypto).unwrap();
        assert_eq!(w.srtp_counters(&k).unwrap(), SrtpCounters::default());
    }

    #[test]
    fn ipv6_key_and_cross_family_action() {
        let t = FlowTable::create(4).unwrap();
        let mut w = t.writer().unwrap();
        let k = FlowKey::new("[::1]:30002".parse().unwrap());
        assert_eq!(k.local(), "[::1]:30002".parse::<SocketAddr>().unwrap());
        let a = FlowAction {
            dst: v4(40_000),
            src: v4(30_000),
            ..action(1)
        };
        w.upsert(k, &a).unwrap();
        assert_eq!(t.reader().lookup(&k).unwrap().1, a);
        assert_ne!(
            t.reader().lookup(&FlowKey::new(v4(30_002))),
            t.reader().lookup(&k)
        );
    }

    #[test]
    fn rejects_family_mismatch_and_unknown_flags() {
        let t = FlowTable::create(4).unwrap();
        let mut w = t.writer().unwrap();
        let k = FlowKey::new(v4(1));
        let bad = FlowAction {
            dst: "[::1]:5".parse().unwrap(),
            ..action(1)
        };
        assert!(matches!(
            w.upsert(k, &bad),
            Err(TableError::FamilyMismatch { .. })
        ));
        let bad = FlowAction {
            flags: 1 << 31,
            ..action(1)
        };
        assert!(matches!(
            w.upsert(k, &bad),
            Err(TableError::UnknownFlags { .. })
        ));
        let ok = FlowAction {
            flags: FLOW_BLACKHOLE,
            ..action(1)
        };
        assert!(w.upsert(k, &ok).is_ok());
    }

    #[test]
    fn full_table_errors_and_recovers() {
        let t = FlowTable::create(8).unwrap();
        let mut w = t.writer().unwrap();
        for p in 0..8 {
            w.upsert(FlowKey::new(v4(p)), &action(p.into())).unwrap();
        }
        assert!(matches!(
            w.upsert(FlowKey::new(v4(100)), &action(0)),
            Err(TableError::Full { capacity: 8 })
        ));
        // replacing an existing key still works when full
        w.upsert(FlowKey::new(v4(3)), &action(9)).unwrap();
        w.remove(&FlowKey::new(v4(3))).unwrap();
        w.upsert(FlowKey::new(v4(100)), &action(0)).unwrap();
        assert_eq!(w.len(), 8);
    }

    #[test]
    fn churn_does_not_silt_up() {
        let t = FlowTable::create(64).unwrap();
        let mut w = t.writer().unwrap();
        for round in 0..200u16 {
            for p in 0..64 {
                w.upsert(FlowKey::new(v4(round * 64 + p)), &action(p.into()))
                    .unwrap();
            }
            for p in 0..64 {
                w.remove(&FlowKey::new(v4(round * 64 + p))).unwrap();
            }
        }
        assert_eq!(w.len(), 0);
        assert_eq!(w.tombstones(), 0);
    }

    #[test]
    fn single_writer_enforced() {
        let t = FlowTable::create(4).unwrap();
        let w = t.writer().unwrap();
        assert!(matches!(t.writer(), Err(TableError::WriterBusy)));
        drop(w);
        assert!(t.writer().is_ok());
    }

    #[test]
    fn capacity_bounds() {
        assert!(matches!(
            FlowTable::create(0),
            Err(TableError::BadCapacity { .. })
        ));
        assert!(matches!(
            FlowTable::create(MAX_CAPACITY + 1),
            Err(TableError::BadCapacity { .. })
        ));
        assert_eq!(FlowTable::create(5).unwrap().capacity(), 5);
    }

    #[test]
    fn attach_by_path_sees_writes_and_checks_header() {
        let dir = std::env::temp_dir().join(format!("rtpbolt-st-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("flows");
        let t = FlowTable::create_at(&path, 32).unwrap();
        let mut w = t.writer().unwrap();
        let k = FlowKey::new(v4(7));
        w.upsert(k, &action(7)).unwrap();

        let other = FlowTable::attach(&path).unwrap();
        assert_eq!(other.capacity(), 32);
        let (id, a) = other.reader().lookup(&k).unwrap();
        assert_eq!(a, action(7));
        other.reader().record(id, 1, 10, 0, Duration::from_secs(3));
        assert_eq!(w.counters(&k).unwrap().bytes, 10);
        // the writer lock is on the file, so it holds across mappings
        assert!(matches!(other.writer(), Err(TableError::WriterBusy)));

        // by fd as well
        let fd = t.fd().try_clone_to_owned().unwrap();
        assert_eq!(
            FlowTable::attach_fd(fd)
                .unwrap()
                .reader()
                .lookup(&k)
                .unwrap()
                .1,
            action(7)
        );

        std::fs::write(dir.join("junk"), [0u8; 4096]).unwrap();
        assert!(matches!(
            FlowTable::attach(&dir.join("junk")),
            Err(TableError::BadRegion { .. })
        ));
        drop((w, t, other));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn attach_rejects_other_layout_version() {
        let t = FlowTable::create(4).unwrap();
        let h = t.shared.header as *mut Header;
        // SAFETY: `h` points at this table's live header; single-threaded test.
        unsafe { (*h).layout_version = LAYOUT_VERSION + 1 };
        let fd = t.fd().try_clone_to_owned().unwrap();
        assert!(matches!(
            FlowTable::attach_fd(fd),
            Err(TableError::VersionMismatch { .. })
        ));
    }

    #[test]
    fn entries_lists_live_entries_with_counters() {
        let t = FlowTable::create(16).unwrap();
        let mut w = t.writer().unwrap();
        let ids: Vec<EntryId> = (1..=3)
            .map(|p| w.upsert(FlowKey::new(v4(p)), &action(p.into())).unwrap())
            .collect();
        w.remove(&FlowKey::new(v4(2)));
        t.reader().record(ids[2], 4, 40, 0, Duration::from_secs(9));
        let mut got = w.entries();
        got.sort_by_key(|(k, _, _)| k.local());
        assert_eq!(got.len(), 2);
        assert_eq!((got[0].0, got[0].1), (FlowKey::new(v4(1)), action(1)));
        assert_eq!(got[0].2, FlowCounters::default());
        assert_eq!((got[1].0, got[1].1), (FlowKey::new(v4(3)), action(3)));
        assert_eq!(got[1].2.packets, 4);
        assert_eq!(got[1].2.last_packet, Some(Duration::from_secs(9)));
    }

    #[test]
    fn create_at_replaces_a_mapped_file_without_touching_its_mapping() {
        let path = std::env::temp_dir().join(format!("rtpbolt-st-repl-{}", std::process::id()));
        let old = FlowTable::create_at(&path, 4).unwrap();
        let mut w = old.writer().unwrap();
        w.upsert(FlowKey::new(v4(1)), &action(1)).unwrap();
        let new = FlowTable::create_at(&path, 64).unwrap();
        // The old mapping still reads its own (now unlinked) table.
        assert_eq!(
            old.reader().lookup(&FlowKey::new(v4(1))).unwrap().1,
            action(1)
        );
        assert!(new.reader().is_empty());
        assert_eq!(FlowTable::attach(&path).unwrap().capacity(), 64);
        // No temporary file is left beside it.
        let dir = std::fs::read_dir(std::env::temp_dir()).unwrap();
        let prefix = format!(".rtpbolt-st-repl-{}", std::process::id());
        assert!(!dir
            .filter_map(Result::ok)
            .any(|e| e.file_name().to_string_lossy().starts_with(&prefix)));
        drop((w, old, new));
        std::fs::remove_file(&path).unwrap();
    }

    /// Readers spin on lookups while the writer rewrites, removes and reinserts the same
    /// keys; every action a reader sees must be one the writer wrote for that key, whole.
    #[test]
    fn concurrent_readers_see_no_torn_actions() {
        let t = FlowTable::create(64).unwrap();
        let mut w = t.writer().unwrap();
        const KEYS: u16 = 16;
        // The action for (key p, version n) encodes both in every field.
        fn versioned(p: u16, n: u64) -> FlowAction {
            let port = (n % 60_000) as u16 + 1;
            FlowAction {
                dst: SocketAddr::from(([10, p as u8, 0, 1], port)),
                src: SocketAddr::from(([10, p as u8, 0, 2], port)),
                expected_src: Some(SocketAddr::from(([10, p as u8, 0, 3], port))),
                src_mismatch: SrcMismatch::Punt,
                tos: n as u8,
                flags: 0,
                stream_id: n << 16 | u64::from(p),
            }
        }
        for p in 0..KEYS {
            w.upsert(FlowKey::new(v4(p)), &versioned(p, 0)).unwrap();
        }
        let stop = Arc::new(AtomicBool::new(false));
        let readers: Vec<_> = (0..2)
            .map(|_| {
                let r = t.reader();
                let stop = stop.clone();
                std::thread::spawn(move || {
                    let (mut hits, mut misses) = (0u64, 0u64);
                    while !stop.load(Ordering::Relaxed) {
                        for p in 0..KEYS {
                            match r.lookup(&FlowKey::new(v4(p))) {
                                Some((_, a)) => {
                                    assert_eq!(a.stream_id & 0xffff, u64::from(p));
                                    assert_eq!(a, versioned(p, a.stream_id >> 16), "torn");
                                    hits += 1;
                                }
                                None => misses += 1,
                            }
                        }
                    }
                    (hits, misses)
                })
            })
            .collect();
        for n in 1..30_000u64 {
            let p = (n % u64::from(KEYS)) as u16;
            let k = FlowKey::new(v4(p));
            if n.is_multiple_of(7) {
                w.remove(&k).unwrap();
                w.upsert(k, &versioned(p, n)).unwrap();
            } else {
                w.upsert(k, &versioned(p, n)).unwrap();
            }
        }
        stop.store(true, Ordering::Relaxed);
        for r in readers {
            let (hits, _) = r.join().unwrap();
            assert!(hits > 0);
        }
    }

    #[derive(Debug, Clone)]
    enum Op {
        Upsert(u16, u64),
        Remove(u16),
    }

    fn op() -> impl Strategy<Value = Op> {
        // A small key space so that sequences hit replace, remove-then-reinsert, tombstone
        // reuse and the full table.
        prop_oneof![
            (0u16..48, any::<u64>()).prop_map(|(k, n)| Op::Upsert(k, n)),
            (0u16..48).prop_map(Op::Remove),
        ]
    }

    proptest! {
        #[test]
        fn model_matches_hashmap(ops in proptest::collection::vec(op(), 1..400)) {
            const CAP: usize = 32;
            let t = FlowTable::create(CAP).unwrap();
            let mut w = t.writer().unwrap();
            let r = t.reader();
            let mut model: HashMap<u16, FlowAction> = HashMap::new();
            for op in ops {
                match op {
                    Op::Upsert(k, n) => {
                        let res = w.upsert(FlowKey::new(v4(k)), &action(n));
                        if model.len() >= CAP && !model.contains_key(&k) {
                            prop_assert!(matches!(res, Err(TableError::Full { .. })), "expected Full, got {:?}", res);
                        } else {
                            prop_assert!(res.is_ok());
                            model.insert(k, action(n));
                        }
                    }
                    Op::Remove(k) => {
                        prop_assert_eq!(
                            w.remove(&FlowKey::new(v4(k))).is_some(),
                            model.remove(&k).is_some()
                        );
                    }
                }
                prop_assert_eq!(w.len(), model.len());
            }
            for k in 0u16..48 {
                prop_assert_eq!(r.lookup(&FlowKey::new(v4(k))).map(|(_, a)| a), model.get(&k).copied());
            }
        }
    }
}
