//! `sanstorrent`: the command-line BitTorrent client (see the library's `main`).

fn main() -> std::process::ExitCode {
    fix_trim_threshold();
    sanstorrent_cli::main()
}

/// The free bytes at the top of one of glibc's arenas that it keeps instead of giving them
/// back (glibc's initial `M_TRIM_THRESHOLD`).
#[cfg(all(target_os = "linux", target_env = "gnu"))]
const TRIM_THRESHOLD: libc::c_int = 128 * 1024;

/// Keeps glibc's trim threshold at its initial 128 KiB. glibc raises it to twice the largest
/// `mmap`ed block freed so far (up to 64 MiB): once the daemon freed one large block (the
/// restore's list of saved torrents, a save of the list), every arena may keep that much free
/// memory at its top without giving it back. Setting it also fixes the `mmap` threshold at
/// 128 KiB. The environment's `MALLOC_TRIM_THRESHOLD_`, when set, wins. Measured in
/// bench/README.md, session 25.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn fix_trim_threshold() {
    if std::env::var_os("MALLOC_TRIM_THRESHOLD_").is_some() {
        return;
    }
    // SAFETY: `mallopt` only sets a parameter of glibc's allocator under its own lock; it
    // takes no pointer and moves no allocation.
    unsafe {
        libc::mallopt(libc::M_TRIM_THRESHOLD, TRIM_THRESHOLD);
    }
}

/// Other C libraries have no such threshold to fix.
#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn fix_trim_threshold() {}
