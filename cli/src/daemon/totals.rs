//! Totals that survive restarts: each torrent's bytes up and down ever, seconds downloading
//! and seeding, done and last-activity dates ([`TorrentTotals`], saved with the torrent in
//! `torrents.json`), and the session's cumulative statistics ([`SessionTotals`], saved as
//! `stats.json` beside it).
//!
//! The client counts bytes per run; the daemon adds what each [`TorrentStats`] event shows
//! beyond what it saw last ([`Seen`]) and the time since, by phase.

use std::time::{Duration, Instant};

use sanstorrent_core::session::{TorrentPhase, TorrentStats};
use serde::{Deserialize, Serialize};

/// The longest gap between two statistics counted as time spent (a stalled loop or a
/// suspended machine is not downloading).
const MAX_GAP: Duration = Duration::from_secs(10);

/// One torrent's totals over every run.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct TorrentTotals {
    /// Payload bytes sent.
    #[serde(default)]
    pub(crate) uploaded: u64,
    /// Payload bytes received.
    #[serde(default)]
    pub(crate) downloaded: u64,
    /// Seconds spent downloading (or fetching metadata).
    #[serde(default)]
    pub(crate) seconds_downloading: u64,
    /// Seconds spent seeding.
    #[serde(default)]
    pub(crate) seconds_seeding: u64,
    /// When it completed (Unix seconds; 0: not yet).
    #[serde(default)]
    pub(crate) done_date: u64,
    /// When payload last moved either way (Unix seconds; 0: never).
    #[serde(default)]
    pub(crate) activity_date: u64,
}

/// What the daemon last saw of a torrent this run.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Seen {
    uploaded: u64,
    downloaded: u64,
    at: Option<Instant>,
    /// Milliseconds of the phase not yet counted as a whole second.
    carry_ms: u64,
}

impl Seen {
    /// Bytes counted this run and not yet seen: (uploaded, downloaded).
    pub(crate) fn unseen(&self, stats: &TorrentStats) -> (u64, u64) {
        (
            stats.uploaded.saturating_sub(self.uploaded),
            stats.downloaded.saturating_sub(self.downloaded),
        )
    }
}

impl TorrentTotals {
    /// Adds what `stats` (taken at `now`, Unix time `unix`) shows beyond `seen`; `running`:
    /// the torrent is not stopped by the user (its time counts). Returns the bytes added
    /// (uploaded, downloaded).
    pub(crate) fn account(
        &mut self,
        seen: &mut Seen,
        stats: &TorrentStats,
        running: bool,
        now: Instant,
        unix: u64,
    ) -> (u64, u64) {
        let (up, down) = seen.unseen(stats);
        self.uploaded = self.uploaded.saturating_add(up);
        self.downloaded = self.downloaded.saturating_add(down);
        seen.uploaded = stats.uploaded.max(seen.uploaded);
        seen.downloaded = stats.downloaded.max(seen.downloaded);
        if up + down > 0 {
            self.activity_date = unix;
        }
        if stats.phase == TorrentPhase::Seeding && self.done_date == 0 {
            self.done_date = unix;
        }
        let gap = seen
            .at
            .map_or(Duration::ZERO, |at| now.saturating_duration_since(at))
            .min(MAX_GAP);
        seen.at = Some(now);
        let slot = match stats.phase {
            _ if !running => None,
            TorrentPhase::Downloading | TorrentPhase::FetchingMetadata => {
                Some(&mut self.seconds_downloading)
            }
            TorrentPhase::Seeding => Some(&mut self.seconds_seeding),
            _ => None,
        };
        if let Some(seconds) = slot {
            let ms = seen.carry_ms + u64::try_from(gap.as_millis()).unwrap_or(u64::MAX);
            *seconds += ms / 1000;
            seen.carry_ms = ms % 1000;
        }
        (up, down)
    }
}

/// The session's statistics over every run (Transmission's `cumulative-stats`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct SessionTotals {
    /// Payload bytes sent.
    #[serde(default)]
    pub(crate) uploaded: u64,
    /// Payload bytes received.
    #[serde(default)]
    pub(crate) downloaded: u64,
    /// Torrents added.
    #[serde(default)]
    pub(crate) files_added: u64,
    /// Seconds the daemon ran.
    #[serde(default)]
    pub(crate) seconds_active: u64,
    /// Times the daemon started.
    #[serde(default)]
    pub(crate) session_count: u64,
}

impl SessionTotals {
    /// These totals plus one run's.
    pub(crate) fn plus(self, run: Self) -> Self {
        Self {
            uploaded: self.uploaded.saturating_add(run.uploaded),
            downloaded: self.downloaded.saturating_add(run.downloaded),
            files_added: self.files_added.saturating_add(run.files_added),
            seconds_active: self.seconds_active.saturating_add(run.seconds_active),
            session_count: self.session_count.saturating_add(run.session_count),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sanstorrent_core::id::InfoHash;

    fn stats(phase: TorrentPhase, uploaded: u64, downloaded: u64) -> TorrentStats {
        TorrentStats {
            phase,
            info_hash: InfoHash([0; 20]),
            info_hash_v2: None,
            total_bytes: 100,
            wanted_bytes: 100,
            have_bytes: 0,
            wanted_have_bytes: 0,
            downloaded,
            uploaded,
            download_rate: 0,
            upload_rate: 0,
            peers_connected: 0,
            peers_connecting: 0,
            peers_known: 0,
            seeds_connected: 0,
            pieces_have: 0,
            piece_count: 1,
            pieces_checked: 0,
            hash_failures: 0,
            swarm: None,
        }
    }

    #[test]
    fn bytes_and_time_add_up_by_phase_across_runs() {
        let t0 = Instant::now();
        let ms = Duration::from_millis;
        let mut totals = TorrentTotals {
            downloaded: 1000,
            seconds_downloading: 5,
            ..TorrentTotals::default()
        };
        let mut seen = Seen::default();
        let down = TorrentPhase::Downloading;
        assert_eq!(
            totals.account(&mut seen, &stats(down, 0, 10), true, t0, 50),
            (0, 10)
        );
        assert_eq!(
            totals.account(&mut seen, &stats(down, 3, 30), true, t0 + ms(700), 51),
            (3, 20)
        );
        assert_eq!(
            totals.account(&mut seen, &stats(down, 3, 30), true, t0 + ms(1400), 52),
            (0, 0)
        );
        assert_eq!((totals.downloaded, totals.uploaded), (1030, 3));
        assert_eq!(
            totals.seconds_downloading, 6,
            "1.4 s counted as 1, 0.4 carried"
        );
        assert_eq!(totals.activity_date, 51);
        let seed = TorrentPhase::Seeding;
        totals.account(&mut seen, &stats(seed, 3, 30), true, t0 + ms(2400), 60);
        assert_eq!((totals.seconds_seeding, totals.done_date), (1, 60));
        // Stopped by the user: no time counts; a long gap counts at most MAX_GAP.
        totals.account(&mut seen, &stats(seed, 3, 30), false, t0 + ms(3400), 61);
        totals.account(&mut seen, &stats(seed, 3, 30), true, t0 + ms(60_000), 62);
        assert_eq!((totals.seconds_seeding, totals.done_date), (11, 60));
    }

    #[test]
    fn session_totals_add_a_run() {
        let saved = SessionTotals {
            uploaded: 1,
            downloaded: 2,
            files_added: 3,
            seconds_active: 4,
            session_count: 5,
        };
        let run = SessionTotals {
            uploaded: 10,
            downloaded: 20,
            files_added: 1,
            seconds_active: 7,
            session_count: 1,
        };
        assert_eq!(
            saved.plus(run),
            SessionTotals {
                uploaded: 11,
                downloaded: 22,
                files_added: 4,
                seconds_active: 11,
                session_count: 6,
            }
        );
    }
}
