//! [`LoopWork`]: how much the session has looked at since it started, counted where the work
//! after an input could grow with the number of torrents (deadlines filed again, work sets
//! brought up to date, scrape rounds, the statistics tick). Read before and after an input,
//! the difference is that input's work: tests of scale assert it stays bounded, whatever the
//! number of torrents.

use super::scrape::ScrapeRequests;
use super::torrent::table::Torrents;

/// Counts of the session's work so far; see [`Session::loop_work`](super::Session::loop_work).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct LoopWork {
    /// Torrents whose deadline was filed again (each changed or due torrent, once per input).
    pub torrents_filed: u64,
    /// Torrents the work sets looked at again (each changed torrent, once per input).
    pub torrents_settled: u64,
    /// Members of scrape rounds looked at (those due, and those filling a round's last batch).
    pub scrape_members: u64,
    /// Torrents the statistics tick looked at.
    pub stats_looked: u64,
}

impl LoopWork {
    /// Everything counted, added up.
    #[must_use]
    pub fn total(&self) -> u64 {
        self.torrents_filed + self.torrents_settled + self.scrape_members + self.stats_looked
    }

    /// Reads the counters.
    pub(crate) fn of(torrents: &Torrents, scrapes: &ScrapeRequests) -> Self {
        Self {
            torrents_filed: torrents.count.filed,
            torrents_settled: torrents.count.settled,
            scrape_members: scrapes.looked,
            stats_looked: torrents.count.stats,
        }
    }
}

/// The table's own counters (see [`LoopWork`]).
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct TableCount {
    /// Deadlines filed again.
    pub(crate) filed: u64,
    /// Torrents settled in the work sets.
    pub(crate) settled: u64,
    /// Torrents the statistics tick looked at.
    pub(crate) stats: u64,
}
