//! Transmission's `eta` and `etaIdle`, as libtransmission's `tr_torrentStat` computes them:
//! -1 (`TR_ETA_NOT_AVAIL`) when there is none, -2 (`TR_ETA_UNKNOWN`) when it cannot be told.
//!
//! - Downloading: -1 if the peers connected (and no web seed) cannot give what is left;
//!   else the view's estimate (the bytes left at the download rate), -2 without one (a
//!   standstill).
//! - Seeding: with a ratio limit that applies, the bytes left to the ratio goal
//!   (`sizeWhenDone` × ratio, less the bytes uploaded) at the upload rate, -2 at a standstill;
//!   without one, -1. `etaIdle`: while nothing is uploaded and an idle limit applies, the
//!   seconds until it stops the torrent (the limit less the idle seconds, at least 0); else -1.
//! - Anything else (stopped, queued, checking): -1 for both.

use crate::daemon::backend::{Status, TorrentView};
use crate::daemon::seed_limits::SeedLimits;

/// No estimate (`TR_ETA_NOT_AVAIL`).
pub(crate) const NOT_AVAIL: i64 = -1;
/// An estimate that cannot be told (`TR_ETA_UNKNOWN`).
pub(crate) const UNKNOWN: i64 = -2;

fn secs(bytes: u64, rate: u64) -> i64 {
    i64::try_from(bytes / rate).unwrap_or(i64::MAX)
}

/// Transmission's `eta` of `v` under `limits` (the seeding limits that apply to it).
pub(crate) fn eta(v: &TorrentView, limits: &SeedLimits) -> i64 {
    match v.status {
        Status::Downloading => {
            if v.left_until_done > v.desired_available && v.web_seeds.is_empty() {
                NOT_AVAIL
            } else {
                v.eta
                    .map_or(UNKNOWN, |s| i64::try_from(s).unwrap_or(i64::MAX))
            }
        }
        Status::Seeding => match limits.ratio {
            None => NOT_AVAIL,
            Some(_) if v.rate_upload == 0 => UNKNOWN,
            Some(ratio) => {
                // f64 is exact to 2^53 bytes (8 PiB), far beyond any torrent.
                #[allow(clippy::cast_precision_loss, clippy::cast_possible_truncation)]
                let goal = (v.size_when_done as f64 * ratio.max(0.0)) as u64;
                secs(goal.saturating_sub(v.uploaded_ever), v.rate_upload)
            }
        },
        _ => NOT_AVAIL,
    }
}

/// Transmission's `etaIdle` of `v` under `limits` at Unix time `now`.
pub(crate) fn eta_idle(v: &TorrentView, limits: &SeedLimits, now: u64) -> i64 {
    let Some(limit) = limits.idle_secs else {
        return NOT_AVAIL;
    };
    if v.status != Status::Seeding || v.rate_upload > 0 {
        return NOT_AVAIL;
    }
    let since = v.activity_date.max(v.start_date);
    let idle = if since == 0 {
        0
    } else {
        now.saturating_sub(since)
    };
    i64::try_from(limit.saturating_sub(idle)).unwrap_or(i64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::daemon::fake::view;

    fn seeding() -> TorrentView {
        let mut v = view(1, "a");
        v.status = Status::Seeding;
        v.left_until_done = 0;
        (v.size_when_done, v.uploaded_ever) = (1000, 500);
        v.rate_upload = 10;
        (v.start_date, v.activity_date) = (1_000, 9_000);
        v
    }

    const NONE: SeedLimits = SeedLimits {
        ratio: None,
        seeding_secs: None,
        idle_secs: None,
    };

    #[test]
    fn seeding_toward_a_ratio_counts_the_bytes_left_at_the_upload_rate() {
        let mut v = seeding();
        assert_eq!(eta(&v, &NONE), NOT_AVAIL, "no ratio limit");
        let two = SeedLimits {
            ratio: Some(2.0),
            ..NONE
        };
        assert_eq!(eta(&v, &two), 150, "2000 - 500 bytes at 10 B/s");
        v.uploaded_ever = 2500;
        assert_eq!(eta(&v, &two), 0, "reached");
        v.rate_upload = 0;
        assert_eq!(eta(&v, &two), UNKNOWN, "standstill");
        v.status = Status::Stopped;
        assert_eq!(eta(&v, &two), NOT_AVAIL);
        v.status = Status::SeedWait;
        assert_eq!(eta(&v, &two), NOT_AVAIL);
    }

    #[test]
    fn downloading_is_unknown_at_a_standstill_and_none_without_sources() {
        let mut v = view(1, "a");
        v.status = Status::Downloading;
        (v.left_until_done, v.desired_available, v.eta) = (1000, 1000, Some(10));
        assert_eq!(eta(&v, &NONE), 10);
        v.eta = None;
        assert_eq!(eta(&v, &NONE), UNKNOWN);
        v.desired_available = 999;
        assert_eq!(eta(&v, &NONE), NOT_AVAIL, "the peers cannot finish it");
        assert_eq!(eta_idle(&v, &NONE, 10_000), NOT_AVAIL);
    }

    #[test]
    fn eta_idle_counts_down_the_idle_limit_while_nothing_is_uploaded() {
        let mut v = seeding();
        let idle = SeedLimits {
            idle_secs: Some(30 * 60),
            ..NONE
        };
        assert_eq!(eta_idle(&v, &idle, 9_100), NOT_AVAIL, "uploading");
        v.rate_upload = 0;
        assert_eq!(eta_idle(&v, &NONE, 9_100), NOT_AVAIL, "no idle limit");
        assert_eq!(eta_idle(&v, &idle, 9_100), 1800 - 100);
        // Idle since the later of the last activity and the start.
        v.start_date = 9_050;
        assert_eq!(eta_idle(&v, &idle, 9_100), 1800 - 50);
        assert_eq!(eta_idle(&v, &idle, 20_000), 0, "past the limit");
        v.status = Status::Stopped;
        assert_eq!(eta_idle(&v, &idle, 9_100), NOT_AVAIL);
    }
}
