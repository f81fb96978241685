//! Giving memory back to the system after the restore and after idle torrents are released:
//! adding 100,000 saved torrents parses every `.torrent` and the list, and a released torrent
//! frees its metainfo and per-peer parts in many small pieces; glibc's allocator keeps what
//! that freed in its arenas (the daemon at rest would hold the start's peak). `malloc_trim(0)`
//! returns the free pages of every arena. Other allocators (musl, macOS) give memory back by
//! themselves, or have no such call: there this does nothing.

use std::time::{Duration, Instant};

/// The least time between two trims after releases (a trim walks every arena: at 100,000
/// torrents releasing over a few minutes, one trim a minute is enough).
const TRIM_GAP: Duration = Duration::from_secs(60);

/// When to trim after torrents were released: once releases happened since the last trim,
/// and at most every [`TRIM_GAP`].
#[derive(Debug, Default)]
pub(crate) struct AfterReleases {
    /// Torrents released since the last trim.
    released: u32,
    /// When the last trim after releases ran.
    last: Option<Instant>,
}

impl AfterReleases {
    /// A torrent was released.
    pub(crate) fn released(&mut self) {
        self.released = self.released.saturating_add(1);
    }

    /// Whether to trim now (and, if so, counts the trim as done at `now`).
    pub(crate) fn due(&mut self, now: Instant) -> bool {
        let gap_over = self
            .last
            .is_none_or(|last| now.saturating_duration_since(last) >= TRIM_GAP);
        if self.released == 0 || !gap_over {
            return false;
        }
        self.released = 0;
        self.last = Some(now);
        true
    }
}

/// Returns the allocator's free memory to the system where the C library can (glibc).
pub(crate) fn release_freed() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: `malloc_trim` only walks glibc's own arenas under their locks; it takes no
    // pointer and leaves every live allocation where it is.
    unsafe {
        libc::malloc_trim(0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trims_after_releases_at_most_once_a_gap() {
        let start = Instant::now();
        let mut trim = AfterReleases::default();
        assert!(!trim.due(start), "nothing released yet");
        trim.released();
        trim.released();
        assert!(trim.due(start));
        assert!(!trim.due(start), "the releases were trimmed");
        trim.released();
        assert!(!trim.due(start + TRIM_GAP / 2), "within the gap");
        assert!(trim.due(start + TRIM_GAP), "the gap is over");
    }
}
