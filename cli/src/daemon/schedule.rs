//! The alternative-speed schedule (Transmission's `alt-speed-time-*`, qBittorrent's
//! `scheduler_*`): whether local time lies in the window (pure, [`in_window`]), when the
//! schedule switches the alternative limits ([`Schedule`]), and the daemon's local clock
//! ([`local_now`]).
//!
//! Transmission's rule: on each day of the mask, the window opens at `time_begin` and closes
//! at `time_end` (the next day when `time_end` is not after `time_begin`, so equal times make a
//! whole day). The schedule switches the limits only as the window opens or closes, so a
//! front end may still turn them on or off by hand meanwhile; turning the schedule on or
//! changing it applies it at once.

use super::backend::AltSpeed;

/// Minutes in a day.
const DAY: u32 = 24 * 60;
/// Minutes in a week.
const WEEK: u32 = 7 * DAY;

/// A local time as the schedule reads it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct LocalTime {
    /// The day of the week: 0 Sunday ... 6 Saturday (the bits of the day mask).
    pub(crate) weekday: u32,
    /// Minutes after midnight, below 1440.
    pub(crate) minute: u32,
}

/// Whether `now` lies in the schedule's window (whether the schedule is on or not).
pub(crate) fn in_window(alt: &AltSpeed, now: LocalTime) -> bool {
    let begin = alt.time_begin.min(DAY - 1);
    let end = alt.time_end.min(DAY - 1);
    let length = if end > begin {
        end - begin
    } else {
        end + DAY - begin
    };
    let now = (now.weekday % 7) * DAY + now.minute.min(DAY - 1);
    (0..7)
        .filter(|day| alt.time_day & (1 << day) != 0)
        .any(|day| {
            let opens = day * DAY + begin;
            (now + WEEK - opens) % WEEK < length
        })
}

/// The schedule's last decision, so that it switches the limits only when it changes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Schedule {
    /// Whether the window was open at the last look (`None`: not looked since the schedule
    /// was turned on or changed, or since the daemon started).
    last: Option<bool>,
}

impl Schedule {
    /// Forgets the last decision: the next [`decide`](Self::decide) applies the schedule
    /// whatever it was (the schedule was turned on or changed).
    pub(crate) fn reset(&mut self) {
        self.last = None;
    }

    /// What the alternative limits' `enabled` must become at `now`: `Some` as the window
    /// opens or closes (or at the first look), `None` otherwise and while the schedule is off.
    pub(crate) fn decide(&mut self, alt: &AltSpeed, now: LocalTime) -> Option<bool> {
        if !alt.time_enabled {
            self.last = None;
            return None;
        }
        let inside = in_window(alt, now);
        (self.last != Some(inside)).then(|| {
            self.last = Some(inside);
            inside
        })
    }
}

/// The local time now: the time zone of `TZ`, else `/etc/localtime`, else UTC.
pub(crate) fn local_now() -> LocalTime {
    let now = jiff::Zoned::now();
    LocalTime {
        weekday: u32::from(now.weekday().to_sunday_zero_offset().unsigned_abs()),
        minute: u32::from(now.hour().unsigned_abs()) * 60 + u32::from(now.minute().unsigned_abs()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(weekday: u32, hour: u32, minute: u32) -> LocalTime {
        LocalTime {
            weekday,
            minute: hour * 60 + minute,
        }
    }

    fn window(begin: u32, end: u32, days: u32) -> AltSpeed {
        AltSpeed {
            time_enabled: true,
            time_begin: begin,
            time_end: end,
            time_day: days,
            ..AltSpeed::default()
        }
    }

    #[test]
    fn a_day_window_opens_at_begin_and_closes_at_end_on_its_days() {
        // 9:00 to 17:00 on Mondays (bit 1).
        let alt = window(540, 1020, 0b10);
        assert!(!in_window(&alt, at(1, 8, 59)));
        assert!(in_window(&alt, at(1, 9, 0)));
        assert!(in_window(&alt, at(1, 16, 59)));
        assert!(!in_window(&alt, at(1, 17, 0)));
        assert!(!in_window(&alt, at(2, 10, 0)), "Tuesday is not in the mask");
        assert!(!in_window(&alt, at(0, 10, 0)));
        assert!(in_window(&window(540, 1020, 127), at(4, 12, 0)));
        assert!(!in_window(&window(540, 1020, 0), at(1, 12, 0)), "no days");
    }

    #[test]
    fn a_night_window_runs_into_the_next_day_and_the_week_wraps() {
        // 22:00 to 6:00, starting on Saturdays (bit 6): into Sunday morning.
        let alt = window(1320, 360, 0b100_0000);
        assert!(in_window(&alt, at(6, 23, 0)));
        assert!(
            in_window(&alt, at(0, 5, 59)),
            "Sunday morning, across the week's end"
        );
        assert!(!in_window(&alt, at(0, 6, 0)));
        assert!(
            !in_window(&alt, at(6, 5, 0)),
            "Saturday morning is Friday night's"
        );
        assert!(!in_window(&alt, at(0, 23, 0)));
    }

    #[test]
    fn equal_times_make_a_whole_day() {
        let alt = window(600, 600, 0b1);
        assert!(in_window(&alt, at(0, 10, 0)));
        assert!(in_window(&alt, at(0, 23, 59)));
        assert!(in_window(&alt, at(1, 9, 59)));
        assert!(!in_window(&alt, at(1, 10, 0)));
        assert!(!in_window(&alt, at(0, 9, 59)));
    }

    #[test]
    fn the_schedule_switches_only_as_the_window_opens_or_closes() {
        let mut alt = window(540, 1020, 127);
        let mut schedule = Schedule::default();
        assert_eq!(
            schedule.decide(&alt, at(1, 8, 0)),
            Some(false),
            "the first look"
        );
        assert_eq!(
            schedule.decide(&alt, at(1, 8, 30)),
            None,
            "a hand switch stays"
        );
        assert_eq!(schedule.decide(&alt, at(1, 9, 0)), Some(true), "opens");
        assert_eq!(schedule.decide(&alt, at(1, 12, 0)), None);
        assert_eq!(schedule.decide(&alt, at(1, 17, 0)), Some(false), "closes");
        schedule.reset();
        assert_eq!(
            schedule.decide(&alt, at(1, 17, 1)),
            Some(false),
            "changed: applied"
        );
        alt.time_enabled = false;
        assert_eq!(
            schedule.decide(&alt, at(1, 10, 0)),
            None,
            "off: never switches"
        );
        alt.time_enabled = true;
        assert_eq!(
            schedule.decide(&alt, at(1, 10, 0)),
            Some(true),
            "on again: applied"
        );
    }

    #[test]
    fn the_local_clock_reads_a_time_of_the_week() {
        let now = local_now();
        assert!(now.weekday < 7 && now.minute < DAY, "{now:?}");
    }
}
