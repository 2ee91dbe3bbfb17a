//! Single-writer seqlock over one slot's [`FlowEntryData`].
//!
//! The data is stored as `AtomicU64` words and copied with relaxed atomic loads/stores, so
//! a reader racing the writer sees torn *values*, never a data race (Boehm, "Can seqlocks
//! get along with programming language memory models?", MSPC 2012, fig. 6/7):
//!
//! - writer: `seq = odd` (relaxed), release fence, store words (relaxed), `seq = even`
//!   (release);
//! - reader: `s1 = seq` (acquire), load words (relaxed), acquire fence, `s2 = seq`
//!   (relaxed); the copy is valid iff `s1 == s2` and `s1` is even.
//!
//! Only one thread may call [`write`] on a slot at a time; the table enforces that with
//! its single [`crate::TableWriter`].

use core::sync::atomic::{fence, AtomicU32, AtomicU64, Ordering};

use crate::layout::{CryptoDataC, FlowEntryData, FlowSlot, SrtpKeyC, CRYPTO_WORDS, DATA_WORDS};

type Words = [u64; DATA_WORDS];

// `FlowEntryData` must have no implicit padding: transmuting it to words would otherwise
// read uninitialised padding bytes. The sum of its field sizes must equal its size.
const _: () = assert!(
    4 * core::mem::size_of::<u8>()
        + core::mem::size_of::<u32>()
        + 4 * core::mem::size_of::<crate::layout::SockAddrC>()
        + core::mem::size_of::<u64>()
        + core::mem::size_of::<[u64; 2]>()
        == core::mem::size_of::<FlowEntryData>()
);
const _: () = assert!(core::mem::size_of::<Words>() == core::mem::size_of::<FlowEntryData>());
// The same for `CryptoDataC` and the `SrtpKeyC`s inside it.
const _: () = assert!(
    4 * core::mem::size_of::<u8>() + core::mem::size_of::<u32>() + 32 + 14 + 2
        == core::mem::size_of::<SrtpKeyC>()
);
const _: () = assert!(
    2 * core::mem::size_of::<u32>()
        + 2 * core::mem::size_of::<SrtpKeyC>()
        + 3 * core::mem::size_of::<u64>()
        == core::mem::size_of::<CryptoDataC>()
);
const _: () =
    assert!(core::mem::size_of::<[u64; CRYPTO_WORDS]>() == core::mem::size_of::<CryptoDataC>());

#[inline]
fn to_words(data: &FlowEntryData) -> Words {
    // SAFETY: both types are 128 bytes; `FlowEntryData` is `repr(C)` with no implicit
    // padding (asserted above), so every byte is initialised and any `u64` is valid.
    unsafe { core::mem::transmute::<FlowEntryData, Words>(*data) }
}

#[inline]
fn from_words(words: Words) -> FlowEntryData {
    // SAFETY: same size (asserted above); every field of `FlowEntryData` is an integer or
    // an array of integers, so any bit pattern, including a torn copy, is a valid value.
    unsafe { core::mem::transmute::<Words, FlowEntryData>(words) }
}

#[inline]
fn crypto_to_words(data: &CryptoDataC) -> [u64; CRYPTO_WORDS] {
    // SAFETY: same size, `repr(C)` without implicit padding (asserted above), so every
    // byte is initialised and any `u64` is valid.
    unsafe { core::mem::transmute::<CryptoDataC, [u64; CRYPTO_WORDS]>(*data) }
}

#[inline]
fn crypto_from_words(words: [u64; CRYPTO_WORDS]) -> CryptoDataC {
    // SAFETY: same size (asserted above); every field is an integer or an array of
    // integers, so any bit pattern is a valid value.
    unsafe { core::mem::transmute::<[u64; CRYPTO_WORDS], CryptoDataC>(words) }
}

/// One read attempt of any seqlocked word array.
#[inline]
fn try_read_words<const N: usize>(seq: &AtomicU32, data: &[AtomicU64; N]) -> Option<[u64; N]> {
    let s1 = seq.load(Ordering::Acquire);
    if s1 & 1 != 0 {
        return None;
    }
    let mut words = [0u64; N];
    for (w, a) in words.iter_mut().zip(data.iter()) {
        *w = a.load(Ordering::Relaxed);
    }
    fence(Ordering::Acquire);
    let s2 = seq.load(Ordering::Relaxed);
    (s1 == s2).then_some(words)
}

#[inline]
fn read_words_bounded<const N: usize>(
    seq: &AtomicU32,
    data: &[AtomicU64; N],
    tries: u32,
) -> Option<[u64; N]> {
    for _ in 0..tries {
        if let Some(w) = try_read_words(seq, data) {
            return Some(w);
        }
        core::hint::spin_loop();
    }
    None
}

#[inline]
fn load_words<const N: usize>(data: &[AtomicU64; N]) -> [u64; N] {
    let mut words = [0u64; N];
    for (w, a) in words.iter_mut().zip(data.iter()) {
        *w = a.load(Ordering::Relaxed);
    }
    words
}

#[inline]
fn write_words<const N: usize>(seq: &AtomicU32, data: &[AtomicU64; N], words: [u64; N]) {
    let s = seq.load(Ordering::Relaxed);
    debug_assert!(s & 1 == 0, "seqlock writer re-entered");
    seq.store(s.wrapping_add(1), Ordering::Relaxed);
    fence(Ordering::Release);
    for (a, w) in data.iter().zip(words) {
        a.store(w, Ordering::Relaxed);
    }
    seq.store(s.wrapping_add(2), Ordering::Release);
}

fn repair_words<const N: usize>(seq: &AtomicU32, data: &[AtomicU64; N], words: [u64; N]) {
    let s = seq.load(Ordering::Relaxed);
    debug_assert!(s & 1 == 1, "repair of a slot no write left open");
    fence(Ordering::Release);
    for (a, w) in data.iter().zip(words) {
        a.store(w, Ordering::Relaxed);
    }
    seq.store(s.wrapping_add(1), Ordering::Release);
}

/// One read attempt: `None` if the writer was active or raced us (the caller retries).
#[cfg(test)]
fn try_read(slot: &FlowSlot) -> Option<FlowEntryData> {
    try_read_words(&slot.seq, &slot.data).map(from_words)
}

/// Attempts [`read_bounded`] makes before giving up: far more than the few dozen stores a
/// running writer holds a slot odd for, far less than a scheduler tick.
pub(crate) const READ_TRIES: u32 = 4096;

/// Reads a consistent copy, spinning while the writer is mid-update, at most `tries`
/// times. `None` means the slot stayed odd: the writer was preempted mid-update, or it
/// died there (`kill -9` of the control plane), in which case the slot stays odd until
/// the next writer repairs it. A reader must not spin on that forever: the data plane
/// keeps forwarding every other flow while the control plane is down.
#[inline]
pub(crate) fn read_bounded(slot: &FlowSlot, tries: u32) -> Option<FlowEntryData> {
    read_words_bounded(&slot.seq, &slot.data, tries).map(from_words)
}

/// Reads without the seqlock protocol. Only for the single writer, which is the only
/// thread that ever changes `data`, so its own reads cannot be torn.
#[inline]
pub(crate) fn read_as_writer(slot: &FlowSlot) -> FlowEntryData {
    from_words(load_words(&slot.data))
}

/// Publishes `data` into `slot`. Caller must be the only writer of this slot.
#[inline]
pub(crate) fn write(slot: &FlowSlot, data: &FlowEntryData) {
    write_words(&slot.seq, &slot.data, to_words(data));
}

/// Finishes a write a dead writer left half done: `slot`'s generation is odd and its
/// words may be torn. Stores `data` and makes the generation even, in the order [`write`]
/// would have, so a reader sees either "odd, retry" or the whole of `data`. Caller must
/// be the only writer.
pub(crate) fn repair(slot: &FlowSlot, data: &FlowEntryData) {
    repair_words(&slot.seq, &slot.data, to_words(data));
}

/// [`read_bounded`] for the slot's crypto block.
#[inline]
pub(crate) fn read_crypto_bounded(slot: &FlowSlot, tries: u32) -> Option<CryptoDataC> {
    read_words_bounded(&slot.crypto_seq, &slot.crypto, tries).map(crypto_from_words)
}

/// Only the generation word of the slot's crypto block (the first), consistently.
#[inline]
pub(crate) fn read_crypto_generation(slot: &FlowSlot, tries: u32) -> Option<u32> {
    // The generation is the low half of the first word on little-endian (the only
    // byte order rtpbolt builds for; asserted in `layout`).
    read_words_bounded::<1>(&slot.crypto_seq, first_word(&slot.crypto), tries).map(|w| w[0] as u32)
}

#[inline]
fn first_word(words: &[AtomicU64; CRYPTO_WORDS]) -> &[AtomicU64; 1] {
    let (first, _) = words.split_first_chunk::<1>().expect("CRYPTO_WORDS > 0");
    first
}

/// [`read_as_writer`] for the slot's crypto block.
pub(crate) fn read_crypto_as_writer(slot: &FlowSlot) -> CryptoDataC {
    crypto_from_words(load_words(&slot.crypto))
}

/// [`write`] for the slot's crypto block.
pub(crate) fn write_crypto(slot: &FlowSlot, data: &CryptoDataC) {
    write_words(&slot.crypto_seq, &slot.crypto, crypto_to_words(data));
}

/// [`repair`] for the slot's crypto block.
pub(crate) fn repair_crypto(slot: &FlowSlot, data: &CryptoDataC) {
    repair_words(&slot.crypto_seq, &slot.crypto, crypto_to_words(data));
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::layout::{SockAddrC, SLOT_OCCUPIED};
    use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64};
    use std::sync::Arc;

    fn new_slot() -> FlowSlot {
        FlowSlot {
            seq: AtomicU32::new(0),
            _pad0: 0,
            data: core::array::from_fn(|_| AtomicU64::new(0)),
            counters: crate::layout::CountersC {
                packets: AtomicU64::new(0),
                bytes: AtomicU64::new(0),
                errors: AtomicU64::new(0),
                last_packet_ns: AtomicU64::new(0),
            },
            crypto_seq: AtomicU32::new(0),
            _pad1: 0,
            crypto: core::array::from_fn(|_| AtomicU64::new(0)),
            srtp: crate::layout::SrtpCountersC {
                auth_failures: AtomicU64::new(0),
                replays: AtomicU64::new(0),
                in_index: AtomicU64::new(0),
                out_index: AtomicU64::new(0),
                out_rtcp_index: AtomicU64::new(0),
                in_ssrc: AtomicU64::new(0),
                out_ssrc: AtomicU64::new(0),
            },
        }
    }

    #[test]
    fn crypto_block_round_trips_and_repairs() {
        let slot = new_slot();
        let mut c = CryptoDataC {
            generation: 7,
            in_index: 0x1_0005,
            out_rtcp_index: 9,
            ..CryptoDataC::default()
        };
        c.inbound.suite = 3;
        c.inbound.key = [0xab; 32];
        c.outbound.salt = [0xcd; 14];
        c.outbound.mki = 0x0102_0304;
        write_crypto(&slot, &c);
        assert_eq!(read_crypto_bounded(&slot, 1), Some(c));
        assert_eq!(read_crypto_as_writer(&slot), c);
        slot.crypto_seq.store(3, Ordering::Relaxed);
        assert_eq!(read_crypto_bounded(&slot, 8), None);
        repair_crypto(&slot, &CryptoDataC::default());
        assert_eq!(read_crypto_bounded(&slot, 1), Some(CryptoDataC::default()));
    }

    /// Every field derived from one `n`, so a torn copy (fields from two writes) is
    /// detectable.
    fn pattern(n: u64) -> FlowEntryData {
        let b = n as u8;
        FlowEntryData {
            state: SLOT_OCCUPIED,
            src_mismatch: b,
            tos: b,
            _pad0: b,
            flags: n as u32,
            key: SockAddrC {
                family: n as u16,
                port: n as u16,
                scope_id: n as u32,
                addr: [b; 16],
            },
            expected_src: SockAddrC {
                family: n as u16,
                port: n as u16,
                scope_id: n as u32,
                addr: [b; 16],
            },
            dst: SockAddrC {
                family: n as u16,
                port: n as u16,
                scope_id: n as u32,
                addr: [b; 16],
            },
            src: SockAddrC {
                family: n as u16,
                port: n as u16,
                scope_id: n as u32,
                addr: [b; 16],
            },
            stream_id: n,
            _reserved: [n, n],
        }
    }

    #[test]
    fn write_then_read() {
        let slot = new_slot();
        write(&slot, &pattern(7));
        assert_eq!(read_bounded(&slot, 1), Some(pattern(7)));
        assert_eq!(slot.seq.load(Ordering::Relaxed), 2);
    }

    #[test]
    fn odd_sequence_makes_reader_retry() {
        let slot = new_slot();
        write(&slot, &pattern(1));
        slot.seq.store(3, Ordering::Relaxed);
        assert_eq!(try_read(&slot), None);
        slot.seq.store(4, Ordering::Relaxed);
        assert_eq!(try_read(&slot), Some(pattern(1)));
    }

    #[test]
    fn bounded_read_gives_up_on_an_abandoned_write_and_repair_ends_it() {
        let slot = new_slot();
        write(&slot, &pattern(1));
        // A writer killed between its two generation stores.
        slot.seq.store(3, Ordering::Relaxed);
        slot.data[2].store(0xdead, Ordering::Relaxed);
        assert_eq!(read_bounded(&slot, READ_TRIES), None);
        let mut fixed = pattern(1);
        fixed.state = crate::layout::SLOT_TOMBSTONE;
        repair(&slot, &fixed);
        assert_eq!(slot.seq.load(Ordering::Relaxed), 4);
        assert_eq!(read_bounded(&slot, 1), Some(fixed));
    }

    #[test]
    fn concurrent_readers_never_see_torn_data() {
        let slot = Arc::new(new_slot());
        write(&slot, &pattern(0));
        let stop = Arc::new(AtomicBool::new(false));
        let readers: Vec<_> = (0..2)
            .map(|_| {
                let slot = slot.clone();
                let stop = stop.clone();
                std::thread::spawn(move || {
                    let mut reads = 0u64;
                    while !stop.load(Ordering::Relaxed) {
                        // The writer never stalls for long here; `None` would be a bug.
                        let d = read_bounded(&slot, u32::MAX).expect("writer is alive");
                        assert_eq!(d, pattern(d.stream_id), "torn read");
                        reads += 1;
                    }
                    reads
                })
            })
            .collect();
        for n in 1..200_000u64 {
            write(&slot, &pattern(n));
        }
        stop.store(true, Ordering::Relaxed);
        for r in readers {
            assert!(r.join().unwrap() > 0);
        }
    }
}
