//! The queue: which torrents run, given their order, the most active downloads and seeds,
//! the most active torrents overall, and which running torrents are stalled.
//!
//! Pure: the daemon gives it every torrent ([`Slot`]) and starts or stops torrents in the
//! client by its answer ([`runs`]). A torrent stopped by the user or by a seeding limit never
//! runs; one started "now" (`torrent-start-now`, qBittorrent's force start) always runs and
//! takes its slot first; the others take the slots left in queue order. A running torrent
//! that moved no data for `stalled_after` (Transmission's `queue-stalled-minutes`) keeps
//! running without taking a slot, so the next one in the queue starts.

/// The queue's limits (`None`: no limit).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Limits {
    /// Most active downloads (Transmission's `download-queue-size`).
    pub(crate) downloads: Option<u32>,
    /// Most active seeds (Transmission's `seed-queue-size`).
    pub(crate) seeds: Option<u32>,
    /// Most active torrents of both kinds (qBittorrent's `max_active_torrents`).
    pub(crate) total: Option<u32>,
    /// Seconds without data moving after which a running torrent takes no slot.
    pub(crate) stalled_after: Option<u64>,
}

impl Limits {
    /// Whether any queue limit applies.
    pub(crate) fn any(&self) -> bool {
        self.downloads.is_some() || self.seeds.is_some() || self.total.is_some()
    }
}

/// One torrent as the queue sees it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Slot {
    /// Its place in the queue (smaller runs first).
    pub(crate) position: u32,
    /// Stopped by the user or by a seeding limit: the queue never starts it.
    pub(crate) stopped: bool,
    /// Started ahead of the queue: it always runs.
    pub(crate) forced: bool,
    /// It has every wanted piece (a seed).
    pub(crate) complete: bool,
    /// It runs in the client now.
    pub(crate) running: bool,
    /// Seconds since data last moved, or since it started if later (while running).
    pub(crate) idle_secs: u64,
}

/// Whether each of `torrents` should run (in the same order).
pub(crate) fn runs(limits: &Limits, torrents: &[Slot]) -> Vec<bool> {
    let mut counts = Counts::default();
    let mut out = vec![false; torrents.len()];
    for (i, t) in torrents.iter().enumerate() {
        if t.forced && !t.stopped {
            out[i] = true;
            counts.take(t.complete);
        }
    }
    let mut order: Vec<usize> = (0..torrents.len()).collect();
    order.sort_by_key(|&i| (torrents[i].position, i));
    for i in order {
        let t = &torrents[i];
        if t.stopped || t.forced {
            continue;
        }
        let stalled = t.running && limits.stalled_after.is_some_and(|s| t.idle_secs >= s);
        if stalled {
            out[i] = true;
        } else if counts.room(limits, t.complete) {
            out[i] = true;
            counts.take(t.complete);
        }
    }
    out
}

/// Slots taken so far.
#[derive(Default)]
struct Counts {
    downloads: u32,
    seeds: u32,
}

impl Counts {
    fn take(&mut self, complete: bool) {
        if complete {
            self.seeds += 1;
        } else {
            self.downloads += 1;
        }
    }

    fn room(&self, limits: &Limits, complete: bool) -> bool {
        let (taken, limit) = if complete {
            (self.seeds, limits.seeds)
        } else {
            (self.downloads, limits.downloads)
        };
        limit.is_none_or(|n| taken < n)
            && limits.total.is_none_or(|n| self.downloads + self.seeds < n)
    }
}

/// A move in the queue.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Move {
    /// To the front (keeping the moved torrents' order).
    Top,
    /// One place earlier each.
    Up,
    /// One place later each.
    Down,
    /// To the end (keeping the moved torrents' order).
    Bottom,
    /// To this place (the end if past it).
    To(u32),
}

/// The queue positions after moving the `selected` torrents: `positions` are the current
/// ones (ties broken by list order), the answer numbers every torrent 0, 1, 2... in the new
/// order.
pub(crate) fn reorder(positions: &[u32], selected: &[bool], to: Move) -> Vec<u32> {
    let picked = |i: usize| selected.get(i).copied().unwrap_or(false);
    let mut order: Vec<usize> = (0..positions.len()).collect();
    order.sort_by_key(|&i| (positions[i], i));
    match to {
        Move::Top | Move::Bottom => {
            let (mut moved, rest): (Vec<usize>, Vec<usize>) =
                order.into_iter().partition(|&i| picked(i));
            order = if to == Move::Top {
                moved.extend(rest);
                moved
            } else {
                let mut rest = rest;
                rest.extend(moved);
                rest
            };
        }
        Move::Up => {
            for k in 1..order.len() {
                if picked(order[k]) && !picked(order[k - 1]) {
                    order.swap(k, k - 1);
                }
            }
        }
        Move::Down => {
            for k in (0..order.len().saturating_sub(1)).rev() {
                if picked(order[k]) && !picked(order[k + 1]) {
                    order.swap(k, k + 1);
                }
            }
        }
        Move::To(place) => {
            let (moved, mut rest): (Vec<usize>, Vec<usize>) =
                order.into_iter().partition(|&i| picked(i));
            let at = usize::try_from(place).unwrap_or(usize::MAX).min(rest.len());
            rest.splice(at..at, moved);
            order = rest;
        }
    }
    let mut out = vec![0; positions.len()];
    for (place, i) in (0u32..).zip(order) {
        out[i] = place;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn down(position: u32) -> Slot {
        Slot {
            position,
            ..Slot::default()
        }
    }

    fn seed(position: u32) -> Slot {
        Slot {
            complete: true,
            ..down(position)
        }
    }

    #[test]
    fn without_limits_every_torrent_not_stopped_runs() {
        let stopped = Slot {
            stopped: true,
            ..down(1)
        };
        let all = [down(0), stopped, seed(2)];
        assert_eq!(runs(&Limits::default(), &all), [true, false, true]);
    }

    #[test]
    fn downloads_and_seeds_take_their_own_slots_in_queue_order() {
        let limits = Limits {
            downloads: Some(1),
            seeds: Some(2),
            ..Limits::default()
        };
        // Listed out of queue order: position decides, not the list.
        let all = [down(3), seed(4), down(0), seed(1), seed(2)];
        assert_eq!(runs(&limits, &all), [false, false, true, true, true]);
        let none = Limits {
            downloads: Some(0),
            ..limits
        };
        assert_eq!(runs(&none, &all), [false, false, false, true, true]);
    }

    #[test]
    fn the_total_limit_counts_both_kinds() {
        let limits = Limits {
            total: Some(2),
            ..Limits::default()
        };
        let all = [seed(0), down(1), down(2), seed(3)];
        assert_eq!(runs(&limits, &all), [true, true, false, false]);
    }

    #[test]
    fn stopped_torrents_free_their_slot_and_started_now_ones_take_theirs_first() {
        let limits = Limits {
            downloads: Some(1),
            ..Limits::default()
        };
        let stopped = Slot {
            stopped: true,
            ..down(0)
        };
        assert_eq!(
            runs(&limits, &[stopped, down(1), down(2)]),
            [false, true, false]
        );
        let forced = Slot {
            forced: true,
            ..down(5)
        };
        assert_eq!(runs(&limits, &[down(0), forced]), [false, true]);
        let forced_stopped = Slot {
            stopped: true,
            ..forced
        };
        assert_eq!(runs(&limits, &[down(0), forced_stopped]), [true, false]);
    }

    #[test]
    fn a_stalled_running_torrent_runs_on_without_a_slot() {
        let limits = Limits {
            downloads: Some(1),
            stalled_after: Some(600),
            ..Limits::default()
        };
        let stalled = Slot {
            running: true,
            idle_secs: 600,
            ..down(0)
        };
        let busy = Slot {
            idle_secs: 599,
            ..stalled
        };
        assert_eq!(
            runs(&limits, &[stalled, down(1), down(2)]),
            [true, true, false]
        );
        assert_eq!(runs(&limits, &[busy, down(1)]), [true, false]);
        // Not running: waiting is not stalling.
        let waiting = Slot {
            running: false,
            ..stalled
        };
        assert_eq!(runs(&limits, &[down(1), waiting]), [false, true]);
        let off = Limits {
            stalled_after: None,
            ..limits
        };
        assert_eq!(runs(&off, &[stalled, down(1)]), [true, false]);
    }

    #[test]
    fn equal_positions_keep_the_list_order() {
        let limits = Limits {
            downloads: Some(1),
            ..Limits::default()
        };
        assert_eq!(runs(&limits, &[down(0), down(0)]), [true, false]);
    }

    #[test]
    fn moves_renumber_the_whole_queue() {
        let positions = [0, 1, 2, 3];
        let sel = |ids: &[usize]| (0..4).map(|i| ids.contains(&i)).collect::<Vec<_>>();
        assert_eq!(reorder(&positions, &sel(&[2, 3]), Move::Top), [2, 3, 0, 1]);
        assert_eq!(
            reorder(&positions, &sel(&[0, 1]), Move::Bottom),
            [2, 3, 0, 1]
        );
        assert_eq!(reorder(&positions, &sel(&[2]), Move::Up), [0, 2, 1, 3]);
        assert_eq!(reorder(&positions, &sel(&[0]), Move::Up), [0, 1, 2, 3]);
        assert_eq!(reorder(&positions, &sel(&[0, 1]), Move::Up), [0, 1, 2, 3]);
        assert_eq!(reorder(&positions, &sel(&[1, 3]), Move::Up), [1, 0, 3, 2]);
        assert_eq!(reorder(&positions, &sel(&[1]), Move::Down), [0, 2, 1, 3]);
        assert_eq!(reorder(&positions, &sel(&[3]), Move::Down), [0, 1, 2, 3]);
        assert_eq!(reorder(&positions, &sel(&[0, 2]), Move::Down), [1, 0, 3, 2]);
        assert_eq!(reorder(&positions, &sel(&[3]), Move::To(1)), [0, 2, 3, 1]);
        assert_eq!(reorder(&positions, &sel(&[0]), Move::To(99)), [3, 0, 1, 2]);
        // Gaps and ties (a removed torrent, equal places) become 0, 1, 2...
        assert_eq!(reorder(&[5, 2, 2], &sel(&[]), Move::Top), [2, 0, 1]);
    }
}
