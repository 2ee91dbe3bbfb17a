//! Allocator settings for the daemon (which runs on jemalloc, see `main.rs`).

use tikv_jemalloc_ctl::{Access, AsName};

/// Makes freed memory show up as freed. jemalloc's background threads hand
/// unused dirty pages back over `dirty_decay_ms`, but by default first as
/// "muzzy" pages (`MADV_FREE`), which stay in the process's RSS until the
/// kernel is short of memory; with no muzzy phase they are unmapped
/// (`MADV_DONTNEED`) and RSS falls back once calls are gone. The default
/// 10 s decay left an idle daemon's pages mapped for well over a minute
/// (the background thread backs off when nothing happens); 1 s still keeps
/// pages for a busy daemon's churn, which reuses them within milliseconds.
///
/// Call before starting threads: only arena 0 exists yet, and arenas made
/// later take the `arenas.` default.
pub fn return_freed_memory() -> Result<(), tikv_jemalloc_ctl::Error> {
    let (dirty_ms, muzzy_ms): (isize, isize) = (1000, 0);
    b"arenas.dirty_decay_ms\0".name().write(dirty_ms)?;
    b"arena.0.dirty_decay_ms\0".name().write(dirty_ms)?;
    b"arenas.muzzy_decay_ms\0".name().write(muzzy_ms)?;
    b"arena.0.muzzy_decay_ms\0".name().write(muzzy_ms)?;
    Ok(())
}
