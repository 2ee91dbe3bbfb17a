//! The shared-memory mapping behind a [`crate::FlowTable`]: an anonymous memfd by default,
//! or a file under `/dev/shm` or a hugetlbfs mount so a separate data-plane process can
//! map the same table by path.
//!
//! The mapping is `MAP_SHARED` and lives as long as the last `Region` handle; its pointer
//! is stable, so the table hands out `&FlowSlot` references derived from it.

use std::fs::{File, OpenOptions};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd};
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;
use std::sync::atomic::{AtomicU32, Ordering};

use crate::TableError;

/// An `mmap`ed shared region and the descriptor that backs it.
pub(crate) struct Region {
    ptr: *mut u8,
    len: usize,
    fd: OwnedFd,
}

// SAFETY: the region is plain shared memory; all concurrent access to it goes through
// atomics (header counters, slot seqlocks and counters), so sharing the pointer across
// threads introduces no data race. `munmap` happens only in `Drop`, i.e. once, when no
// reference derived from the pointer can outlive the `Region` (the table holds an `Arc`).
unsafe impl Send for Region {}
// SAFETY: see `Send` above; `&Region` only exposes the pointer for atomic access.
unsafe impl Sync for Region {}

impl Region {
    /// An anonymous memfd region of at least `len` bytes, zero-filled.
    pub(crate) fn create_memfd(len: usize) -> Result<Region, TableError> {
        let name = c"rtpbolt-flows";
        // SAFETY: `name` is a valid NUL-terminated string; the returned fd is checked.
        let fd = unsafe { libc::memfd_create(name.as_ptr(), libc::MFD_CLOEXEC) };
        if fd < 0 {
            return Err(TableError::Io {
                op: "memfd_create",
                source: std::io::Error::last_os_error(),
            });
        }
        // SAFETY: `fd` was just returned by memfd_create and is owned by nobody else.
        let fd = unsafe { OwnedFd::from_raw_fd(fd) };
        let file = File::from(fd);
        file.set_len(len as u64).map_err(|source| TableError::Io {
            op: "ftruncate",
            source,
        })?;
        Self::map(OwnedFd::from(file), len)
    }

    /// Creates a region file of at least `len` bytes under a temporary name beside
    /// `path`, maps it, lets `init` fill it, then renames it over `path` (see
    /// [`crate::FlowTable::create_at`]). On hugetlbfs the length is rounded up to the huge
    /// page size, which `fstatfs` reports as the block size.
    pub(crate) fn create_file_replacing<T>(
        path: &Path,
        len: usize,
        init: impl FnOnce(Region) -> T,
    ) -> Result<T, TableError> {
        let name = path.file_name().ok_or(TableError::BadRegion {
            reason: "table path has no file name",
        })?;
        static SEQ: AtomicU32 = AtomicU32::new(0);
        let tmp = path.with_file_name(format!(
            ".{}.tmp-{}-{}",
            name.to_string_lossy(),
            std::process::id(),
            SEQ.fetch_add(1, Ordering::Relaxed)
        ));
        let made = Self::create_new_file(&tmp, len).map(init).and_then(|t| {
            std::fs::rename(&tmp, path)
                .map(|()| t)
                .map_err(|source| TableError::Io {
                    op: "rename",
                    source,
                })
        });
        if made.is_err() {
            let _ = std::fs::remove_file(&tmp);
        }
        made
    }

    fn create_new_file(path: &Path, len: usize) -> Result<Region, TableError> {
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(path)
            .map_err(|source| TableError::Io { op: "open", source })?;
        let block = fs_block_size(&file)?;
        let len = len.div_ceil(block) * block;
        // hugetlbfs only accepts a length that is a multiple of its page size.
        file.set_len(len as u64).map_err(|source| TableError::Io {
            op: "ftruncate",
            source,
        })?;
        Self::map(OwnedFd::from(file), len)
    }

    /// Maps an existing region file read-write; the caller validates the header.
    pub(crate) fn open_file(path: &Path) -> Result<Region, TableError> {
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .open(path)
            .map_err(|source| TableError::Io { op: "open", source })?;
        Self::open_fd(OwnedFd::from(file))
    }

    /// Maps an existing region by descriptor (e.g. a memfd passed over a Unix socket).
    pub(crate) fn open_fd(fd: OwnedFd) -> Result<Region, TableError> {
        let file = File::from(fd);
        let len = file
            .metadata()
            .map_err(|source| TableError::Io {
                op: "fstat",
                source,
            })?
            .len();
        let len = usize::try_from(len).map_err(|_| TableError::BadRegion {
            reason: "region larger than the address space",
        })?;
        Self::map(OwnedFd::from(file), len)
    }

    fn map(fd: OwnedFd, len: usize) -> Result<Region, TableError> {
        if len == 0 {
            return Err(TableError::BadRegion {
                reason: "empty region",
            });
        }
        // SAFETY: mapping a regular/memfd descriptor we own, length > 0, letting the kernel
        // choose the address; the result is checked against MAP_FAILED.
        let ptr = unsafe {
            libc::mmap(
                core::ptr::null_mut(),
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_SHARED,
                fd.as_raw_fd(),
                0,
            )
        };
        if ptr == libc::MAP_FAILED {
            return Err(TableError::Io {
                op: "mmap",
                source: std::io::Error::last_os_error(),
            });
        }
        Ok(Region {
            ptr: ptr.cast(),
            len,
            fd,
        })
    }

    pub(crate) fn ptr(&self) -> *mut u8 {
        self.ptr
    }

    pub(crate) fn len(&self) -> usize {
        self.len
    }

    pub(crate) fn fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

impl Drop for Region {
    fn drop(&mut self) {
        // SAFETY: `ptr`/`len` are exactly what mmap returned, and this is the only unmap.
        // No borrow derived from `ptr` outlives `self` (they borrow the owning table).
        unsafe {
            libc::munmap(self.ptr.cast(), self.len);
        }
    }
}

fn fs_block_size(file: &File) -> Result<usize, TableError> {
    let mut st = core::mem::MaybeUninit::<libc::statfs>::uninit();
    // SAFETY: `st` is a valid out-pointer for one `statfs`; the fd is open for the call.
    let rc = unsafe { libc::fstatfs(file.as_raw_fd(), st.as_mut_ptr()) };
    if rc != 0 {
        return Err(TableError::Io {
            op: "fstatfs",
            source: std::io::Error::last_os_error(),
        });
    }
    // SAFETY: fstatfs returned 0, so it filled `st`.
    let st = unsafe { st.assume_init() };
    // Page size is the minimum granularity; hugetlbfs reports its huge page size here.
    Ok(usize::try_from(st.f_bsize).unwrap_or(4096).max(4096))
}
