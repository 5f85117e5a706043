//! Gives the heap memory the process freed back to the operating system.
//!
//! Start-up replays the whole metadata log: with a long history (10,000 topics created and
//! deleted, as `perf suite` leaves) that allocates tens of MB which are free again once the
//! image is built. glibc's malloc keeps the freed pages of its per-thread arenas resident
//! (it only shrinks an arena from its top, and live allocations sit above the garbage), so an
//! idle broker kept 34 MB resident where 14 MB were in use. `malloc_trim(0)` returns every
//! whole free page of every arena (`madvise`), without moving anything.
//!
//! This is the workspace's one `unsafe` call (`docs/architecture.md` §7.20: a commented, tested
//! exception); it compiles to a no-op where the C library is not glibc.

/// Returns free heap pages to the OS; true if any were returned. Costs a walk of malloc's
/// free lists under its locks (about a millisecond here): call it when idle, not per request.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
#[allow(unsafe_code)]
pub(crate) fn release_free_memory() -> bool {
    // SAFETY: `malloc_trim` takes no pointer and only reorganises glibc's own allocator
    // state, under the allocator's locks; it is safe to call from any thread at any time.
    unsafe { libc::malloc_trim(0) == 1 }
}

/// Other C libraries: nothing to do (musl returns freed memory by itself).
#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
pub(crate) fn release_free_memory() -> bool {
    false
}

#[cfg(all(test, target_os = "linux", target_env = "gnu"))]
mod tests {
    use super::*;

    /// Frees 64 MB of small allocations below one that stays alive (so malloc cannot simply
    /// shrink the heap from its top) on a thread of its own (its own arena, untouched by the
    /// other tests' threads): the trim finds whole free pages to return.
    #[test]
    fn returns_freed_pages_below_live_allocations() {
        let released = std::thread::spawn(|| {
            let garbage: Vec<Vec<u8>> = (0..16_384).map(|i| vec![i as u8; 4096]).collect();
            let live = vec![1u8; 4096];
            drop(garbage);
            let released = release_free_memory();
            std::hint::black_box(&live);
            released
        })
        .join()
        .expect("thread");
        assert!(
            released,
            "malloc_trim returned nothing after 64 MB were freed"
        );
    }
}
