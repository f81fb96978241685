//! Giving memory back to the system after the restore: adding 100,000 saved torrents parses
//! every `.torrent` and the list, and glibc's allocator keeps what that freed in its arenas
//! (the daemon at rest would hold the start's peak). `malloc_trim(0)` returns the free pages
//! of every arena. Other allocators (musl, macOS) give memory back by themselves, or have no
//! such call: there this does nothing.

/// Returns the allocator's free memory to the system where the C library can (glibc).
pub(crate) fn release_freed() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: `malloc_trim` only walks glibc's own arenas under their locks; it takes no
    // pointer and leaves every live allocation where it is.
    unsafe {
        libc::malloc_trim(0);
    }
}
