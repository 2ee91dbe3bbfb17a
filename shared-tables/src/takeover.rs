//! The single-writer rule across processes and crashes.
//!
//! A [`crate::TableWriter`] holds `flock(LOCK_EX)` on an open file description of the
//! region that is its own: opened anew through `/proc/self/fd`, because flock locks
//! belong to open file descriptions, so two writers sharing one (two `FlowTable`s attached
//! through `dup`ed descriptors, or the same table asked twice) would both "hold" it. The
//! kernel drops the lock when the holder's process dies, however it dies, so a control
//! plane restarted after `kill -9` takes the writer over instead of finding it busy
//! forever, which a flag in the shared header alone could not tell apart from a live one.
//!
//! The header's `writer_active` carries the writer's PID (0 once it is dropped). A nonzero
//! value found by a writer that just got the lock means the previous writer died holding
//! it, possibly between the two generation stores of a slot write, so the new writer
//! repairs the table before it hands itself out ([`recover`]).
//!
//! The lock descriptor is `O_CLOEXEC`: a child the writer's process `exec`s does not keep
//! the table locked. A `fork` without `exec` would share the description (and so the lock)
//! until the child exits; the control plane never does that.

use core::sync::atomic::Ordering;
use std::fs::File;
use std::os::fd::{AsRawFd, BorrowedFd};

use crate::layout::{CryptoDataC, SLOT_OCCUPIED, SLOT_TOMBSTONE};
use crate::seqlock;
use crate::table::Shared;
use crate::TableError;

/// What a writer found when it took a table over from a writer that died.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Takeover {
    /// PID the dead writer recorded (in its PID namespace).
    pub previous_pid: u32,
    /// Slots it left half-written. They could hold a mix of two actions, so each became a
    /// tombstone: its packets go to the control plane, which has no call for them.
    pub repaired_slots: usize,
    /// Live entries after the repair.
    pub live_entries: usize,
}

/// The exclusive lock a writer holds for its lifetime; closing the file releases it.
#[derive(Debug)]
pub(crate) struct WriterLock {
    _file: File,
}

/// Takes the writer lock of the region behind `fd`, or fails with
/// [`TableError::WriterBusy`] while another writer (in any process) holds it.
pub(crate) fn lock(fd: BorrowedFd<'_>) -> Result<WriterLock, TableError> {
    // A fresh open file description of the same file (memfd, tmpfs or hugetlbfs alike).
    let path = format!("/proc/self/fd/{}", fd.as_raw_fd());
    let file = File::open(&path).map_err(|source| TableError::Io {
        op: "open /proc/self/fd (writer lock)",
        source,
    })?;
    // SAFETY: `file` is an open descriptor owned by this function for the call; flock
    // takes no pointers.
    let rc = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) };
    if rc != 0 {
        let err = std::io::Error::last_os_error();
        return Err(if err.raw_os_error() == Some(libc::EWOULDBLOCK) {
            TableError::WriterBusy
        } else {
            TableError::Io {
                op: "flock",
                source: err,
            }
        });
    }
    Ok(WriterLock { _file: file })
}

/// Claims the header for this process once [`lock`] succeeded; repairs the table if the
/// previous writer died holding it.
pub(crate) fn claim(s: &Shared) -> Option<Takeover> {
    let h = s.header();
    let previous_pid = h.writer_active.swap(std::process::id(), Ordering::AcqRel);
    (previous_pid != 0).then(|| {
        let (repaired_slots, live_entries) = recover(s);
        Takeover {
            previous_pid,
            repaired_slots,
            live_entries,
        }
    })
}

/// Turns every slot a dead writer left odd into a tombstone (a tombstone keeps every probe
/// path through it intact, whatever the slot held before) and recounts `len` and
/// `tombstones`, which it may have died before updating. Returns (repaired, live).
fn recover(s: &Shared) -> (usize, usize) {
    let (mut repaired, mut live, mut tombstones) = (0usize, 0u64, 0u64);
    for i in 0..s.nslots {
        let slot = s.slot(i);
        if slot.crypto_seq.load(Ordering::Relaxed) & 1 == 1 {
            // Torn keys are worse than none: generation 0 makes workers punt the flow's
            // packets until the new writer programs it again.
            seqlock::repair_crypto(slot, &CryptoDataC::default());
            repaired += 1;
        }
        if slot.seq.load(Ordering::Relaxed) & 1 == 1 {
            let mut d = seqlock::read_as_writer(slot);
            d.state = SLOT_TOMBSTONE;
            seqlock::repair(slot, &d);
            repaired += 1;
        }
        match seqlock::read_as_writer(slot).state {
            SLOT_OCCUPIED => live += 1,
            SLOT_TOMBSTONE => tombstones += 1,
            _ => {}
        }
    }
    let h = s.header();
    h.len.store(live, Ordering::Relaxed);
    h.tombstones.store(tombstones, Ordering::Relaxed);
    (repaired, live as usize)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{FlowAction, FlowKey, FlowTable, SrcMismatch};
    use std::io::{BufRead, BufReader};
    use std::net::SocketAddr;
    use std::path::PathBuf;
    use std::process::{Command, Stdio};
    use std::time::Duration;

    const CHILD_ENV: &str = "RTPBOLT_TAKEOVER_CHILD_TABLE";
    const READY: &str = "takeover-child: writer taken";

    fn v4(port: u16) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], port))
    }

    fn action(port: u16) -> FlowAction {
        FlowAction {
            dst: v4(port + 1000),
            src: v4(port + 2000),
            expected_src: None,
            src_mismatch: SrcMismatch::Forward,
            tos: 0,
            flags: 0,
            stream_id: u64::from(port),
        }
    }

    /// A table file of this test's own under /dev/shm (tmpfs, like the deployment's).
    struct TempTable(PathBuf);

    impl TempTable {
        fn new(tag: &str) -> TempTable {
            TempTable(PathBuf::from(format!(
                "/dev/shm/rtpbolt-takeover-{tag}-{}",
                std::process::id()
            )))
        }
    }

    impl Drop for TempTable {
        fn drop(&mut self) {
            let _ = std::fs::remove_file(&self.0);
        }
    }

    /// Not a test of its own: the process [`writer_survives_kill_9_of_its_holder`] starts.
    /// It attaches to the table named by [`CHILD_ENV`], takes the writer, adds an entry,
    /// says so on stdout and waits to be killed.
    #[test]
    #[ignore = "run as a child process by writer_survives_kill_9_of_its_holder"]
    fn takeover_child() {
        let Ok(path) = std::env::var(CHILD_ENV) else {
            return;
        };
        let t = FlowTable::attach(std::path::Path::new(&path)).expect("child attaches");
        let mut w = t.writer().expect("child takes the writer");
        w.upsert(FlowKey::new(v4(7)), &action(7)).expect("upsert");
        println!("{READY}");
        std::thread::sleep(Duration::from_secs(120));
    }

    #[test]
    fn writer_survives_kill_9_of_its_holder() {
        let tmp = TempTable::new("kill9");
        let t = FlowTable::create_at(&tmp.0, 64).expect("create");
        let mut child = Command::new(std::env::current_exe().expect("test binary"))
            .args([
                "takeover::tests::takeover_child",
                "--exact",
                "--ignored",
                "--nocapture",
                "--test-threads=1",
            ])
            .env(CHILD_ENV, &tmp.0)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn child");
        let out = child.stdout.take().expect("piped stdout");
        let ready = BufReader::new(out)
            .lines()
            .map_while(Result::ok)
            .any(|l| l.contains(READY));
        assert!(ready, "child never took the writer");

        // A live writer in another process blocks us, through another mapping too.
        assert!(matches!(t.writer(), Err(TableError::WriterBusy)));
        let again = FlowTable::attach(&tmp.0).expect("attach");
        assert!(matches!(again.writer(), Err(TableError::WriterBusy)));

        // SIGKILL: no destructor runs, the header still names the child.
        child.kill().expect("kill child");
        child.wait().expect("reap child");
        let w = t.writer().expect("the writer is free once its holder died");
        let took = w.took_over().expect("a takeover, not a clean start");
        assert_eq!(took.repaired_slots, 0);
        assert_eq!(took.live_entries, 1);
        assert_ne!(took.previous_pid, std::process::id());
        assert_eq!(w.get(&FlowKey::new(v4(7))).map(|(_, a)| a), Some(action(7)));
        // A writer dropped cleanly leaves nothing to take over.
        drop(w);
        assert_eq!(t.writer().expect("free again").took_over(), None);
    }

    #[test]
    fn second_writer_in_one_process_is_busy_on_any_handle() {
        let tmp = TempTable::new("inproc");
        let t = FlowTable::create_at(&tmp.0, 8).expect("create");
        let w = t.writer().expect("first");
        assert!(matches!(t.writer(), Err(TableError::WriterBusy)));
        // The same open file description, through a dup: flock alone would let it in.
        let dup = FlowTable::attach_fd(t.fd().try_clone_to_owned().expect("dup")).expect("fd");
        assert!(matches!(dup.writer(), Err(TableError::WriterBusy)));
        drop(w);
        assert!(dup.writer().is_ok());
    }

    #[test]
    fn takeover_repairs_a_write_cut_in_half() {
        let t = FlowTable::create(16).expect("create");
        let mut w = t.writer().expect("writer");
        let (a, b) = (FlowKey::new(v4(1)), FlowKey::new(v4(2)));
        let id = w.upsert(a, &action(1)).expect("a");
        w.upsert(b, &action(2)).expect("b");
        drop(w);
        // What a writer killed inside `seqlock::write` of `a`'s slot leaves behind: an odd
        // generation, a header naming it, a stale length.
        let s = &t.shared;
        s.slot(id.index()).seq.fetch_add(1, Ordering::Relaxed);
        s.header().writer_active.store(u32::MAX, Ordering::Relaxed);
        s.header().len.store(5, Ordering::Relaxed);
        // Readers do not hang on it meanwhile; they miss (and punt the packet).
        assert_eq!(t.reader().lookup(&a), None);

        let w = t.writer().expect("takeover");
        assert_eq!(
            w.took_over(),
            Some(Takeover {
                previous_pid: u32::MAX,
                repaired_slots: 1,
                live_entries: 1,
            })
        );
        assert_eq!((w.len(), w.tombstones()), (1, 1));
        assert_eq!(t.reader().lookup(&a), None);
        assert_eq!(t.reader().lookup(&b).map(|(_, x)| x), Some(action(2)));
    }

    #[test]
    fn takeover_drops_keys_torn_by_a_dead_writer() {
        let t = FlowTable::create(16).expect("create");
        let mut w = t.writer().expect("writer");
        let k = FlowKey::new(v4(1));
        let crypto = crate::FlowCrypto {
            outbound: Some(crate::SrtpKey {
                suite: 1,
                ..Default::default()
            }),
            ..Default::default()
        };
        let a = FlowAction {
            flags: crate::FLOW_SRTP_OUT,
            ..action(1)
        };
        let id = w.upsert_with_crypto(k, &a, &crypto).expect("upsert");
        drop(w);
        // Killed between the crypto block's two generation stores.
        let s = &t.shared;
        s.slot(id.index())
            .crypto_seq
            .fetch_add(1, Ordering::Relaxed);
        s.header().writer_active.store(u32::MAX, Ordering::Relaxed);
        assert_eq!(t.reader().crypto_generation(id), 0);

        let w = t.writer().expect("takeover");
        assert_eq!(w.took_over().map(|t| t.repaired_slots), Some(1));
        // The entry stays (its action was whole) but has no keys: its packets punt.
        assert_eq!(t.reader().lookup(&k).map(|(_, x)| x), Some(a));
        assert_eq!(
            (t.reader().crypto_generation(id), t.reader().crypto(id)),
            (0, None)
        );
    }
}
