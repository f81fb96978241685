//! Seeding limits: when a seeding torrent has given enough (a ratio of its size uploaded), has
//! seeded long enough, or has been idle too long, it stops and shows as finished.
//!
//! Pure: the daemon gives it a torrent's options, the session's defaults and the torrent's
//! totals; it answers which limit, if any, is reached. Transmission's rules: the ratio goal
//! is `sizeWhenDone` × ratio bytes uploaded (ratio 0 stops a torrent as soon as it completes);
//! idle time counts from the last data moved, or the last start if later.

use super::backend::{LimitMode, Settings, TorrentOptions};

/// The limits that apply to one torrent (`None`: no limit).
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub(crate) struct SeedLimits {
    /// Stop once this ratio of its size is uploaded.
    pub(crate) ratio: Option<f64>,
    /// Stop after this many seconds of seeding (all runs).
    pub(crate) seeding_secs: Option<u64>,
    /// Stop after this many seconds without data moving.
    pub(crate) idle_secs: Option<u64>,
}

impl SeedLimits {
    /// The limits of a torrent with options `o` in a session with settings `s`.
    pub(crate) fn of(o: &TorrentOptions, s: &Settings) -> Self {
        let pick = |mode: LimitMode, own: Option<u64>, global: Option<u64>| match mode {
            LimitMode::Global => global,
            LimitMode::Single => own,
            LimitMode::Unlimited => None,
        };
        let minutes = |m: u32| Some(u64::from(m) * 60);
        Self {
            ratio: match o.seed_ratio_mode {
                LimitMode::Global => s.seed_ratio_limited.then_some(s.seed_ratio_limit),
                LimitMode::Single => Some(o.seed_ratio_limit),
                LimitMode::Unlimited => None,
            },
            seeding_secs: pick(
                o.seed_time_mode,
                minutes(o.seed_time_limit),
                s.seeding_time_limit_enabled
                    .then(|| u64::from(s.seeding_time_limit) * 60),
            ),
            idle_secs: pick(
                o.seed_idle_mode,
                minutes(o.seed_idle_limit),
                s.idle_seeding_limit_enabled
                    .then(|| u64::from(s.idle_seeding_limit) * 60),
            ),
        }
    }

    /// Whether no limit applies.
    pub(crate) fn is_none(&self) -> bool {
        *self == Self::default()
    }

    /// The limit a seeding torrent has reached, if any.
    pub(crate) fn reached(&self, t: &Seeding) -> Option<Reached> {
        if let Some(ratio) = self.ratio
            && ratio_done(ratio, t.uploaded, t.size_when_done)
        {
            return Some(Reached::Ratio);
        }
        if self.seeding_secs.is_some_and(|s| t.seconds_seeding >= s) {
            return Some(Reached::SeedingTime);
        }
        if self.idle_secs.is_some_and(|s| t.idle_secs >= s) {
            return Some(Reached::Idle);
        }
        None
    }

    /// Seconds until a limit of time (seeding time, idle time) is reached by a torrent with
    /// figures `t` if no data moves (`None`: it has neither; 0: reached).
    pub(crate) fn secs_left(&self, t: &Seeding) -> Option<u64> {
        let seeding = self
            .seeding_secs
            .map(|s| s.saturating_sub(t.seconds_seeding));
        let idle = self.idle_secs.map(|s| s.saturating_sub(t.idle_secs));
        seeding.into_iter().chain(idle).min()
    }
}

/// Whether `uploaded` bytes reach `ratio` times `size` (Transmission's seed ratio goal).
fn ratio_done(ratio: f64, uploaded: u64, size: u64) -> bool {
    // f64 is exact to 2^53 bytes (8 PiB), far beyond any torrent.
    #[allow(clippy::cast_precision_loss)]
    let (uploaded, size) = (uploaded as f64, size as f64);
    uploaded >= size * ratio.max(0.0)
}

/// A seeding torrent's figures.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Seeding {
    /// Bytes uploaded, all runs.
    pub(crate) uploaded: u64,
    /// Bytes of its wanted files.
    pub(crate) size_when_done: u64,
    /// Seconds spent seeding, all runs.
    pub(crate) seconds_seeding: u64,
    /// Seconds since data last moved, or since it started if later.
    pub(crate) idle_secs: u64,
}

/// Which limit stopped a torrent (saved with it: a manual start lifts that limit).
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum Reached {
    /// The ratio.
    Ratio,
    /// The seeding time.
    SeedingTime,
    /// The idle time.
    Idle,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings() -> Settings {
        Settings::new("/dl".into(), 6881, "/state".into())
    }

    fn seeding(uploaded: u64) -> Seeding {
        Seeding {
            uploaded,
            size_when_done: 1000,
            ..Seeding::default()
        }
    }

    #[test]
    fn the_torrents_own_limit_the_sessions_or_none() {
        let mut s = settings();
        let mut o = TorrentOptions::default();
        assert!(SeedLimits::of(&o, &s).is_none(), "session limits off");
        s.seed_ratio_limited = true;
        s.seed_ratio_limit = 1.5;
        s.idle_seeding_limit_enabled = true;
        s.idle_seeding_limit = 2;
        s.seeding_time_limit_enabled = true;
        s.seeding_time_limit = 3;
        let global = SeedLimits::of(&o, &s);
        assert_eq!(global.ratio, Some(1.5));
        assert_eq!(global.idle_secs, Some(120));
        assert_eq!(global.seeding_secs, Some(180));
        o.seed_ratio_mode = LimitMode::Single;
        o.seed_ratio_limit = 0.5;
        o.seed_idle_mode = LimitMode::Unlimited;
        o.seed_time_mode = LimitMode::Single;
        o.seed_time_limit = 1;
        let own = SeedLimits::of(&o, &s);
        assert_eq!(own.ratio, Some(0.5));
        assert_eq!(own.idle_secs, None);
        assert_eq!(own.seeding_secs, Some(60));
    }

    #[test]
    fn the_ratio_goal_is_a_multiple_of_the_size() {
        let limits = SeedLimits {
            ratio: Some(1.5),
            ..SeedLimits::default()
        };
        assert_eq!(limits.reached(&seeding(1499)), None);
        assert_eq!(limits.reached(&seeding(1500)), Some(Reached::Ratio));
        let zero = SeedLimits {
            ratio: Some(0.0),
            ..SeedLimits::default()
        };
        assert_eq!(zero.reached(&seeding(0)), Some(Reached::Ratio));
    }

    #[test]
    fn seeding_time_and_idle_time_stop_too() {
        let limits = SeedLimits {
            seeding_secs: Some(60),
            idle_secs: Some(30),
            ..SeedLimits::default()
        };
        let fresh = Seeding {
            seconds_seeding: 59,
            idle_secs: 29,
            ..seeding(0)
        };
        assert_eq!(limits.reached(&fresh), None);
        let long = Seeding {
            seconds_seeding: 60,
            ..fresh
        };
        assert_eq!(limits.reached(&long), Some(Reached::SeedingTime));
        let idle = Seeding {
            idle_secs: 30,
            ..fresh
        };
        assert_eq!(limits.reached(&idle), Some(Reached::Idle));
        assert_eq!(SeedLimits::default().reached(&idle), None);
        assert_eq!(limits.secs_left(&fresh), Some(1));
        assert_eq!(limits.secs_left(&long), Some(0));
        let ratio = SeedLimits {
            ratio: Some(1.0),
            ..SeedLimits::default()
        };
        assert_eq!(ratio.secs_left(&fresh), None);
        assert_eq!(SeedLimits::default().secs_left(&fresh), None);
    }
}
