//! A torrent's statistics for the application: bytes wanted and had, rates, peers connected
//! and known, swarm counts, check progress; and the session's statistics tick, which reports
//! them for every active torrent at once.

use std::hash::{DefaultHasher, Hash, Hasher};
use std::time::Instant;

use super::SessionConfig;
use super::event::{Event, TorrentStats};
use super::io::TorrentId;
use super::outputs::Outputs;
use super::peers::Peers;
use super::timers::{Timer, TimerTable};
use super::torrent::Torrent;
use super::torrent::table::Torrents;

impl Torrent {
    /// The torrent's statistics (`id`: its id among `peers`); rates at `now` if given,
    /// else at the last activity.
    pub(crate) fn stats(
        &self,
        id: TorrentId,
        peers: &Peers,
        now: Option<Instant>,
        config: &SessionConfig,
    ) -> TorrentStats {
        let t = self;
        let at = now.unwrap_or(t.last_activity(config));
        let f = t.figures();
        let mut connected = 0;
        let mut connecting = 0;
        let mut seeds = 0;
        for (_, p) in peers.open_of(id) {
            if p.established {
                connected += 1;
                seeds += usize::from(p.seed);
            } else {
                connecting += 1;
            }
        }
        connecting += peers.dialing_of(id).len();
        TorrentStats {
            phase: t.phase(),
            info_hash: t.info_hash,
            info_hash_v2: t.info_hash_v2(),
            total_bytes: f.total,
            wanted_bytes: f.wanted,
            have_bytes: f.have_bytes,
            wanted_have_bytes: f.wanted_have,
            downloaded: t.down.total(),
            uploaded: t.up.total(),
            download_rate: t.down.rate(at),
            upload_rate: t.up.rate(at),
            peers_connected: connected,
            peers_connecting: connecting,
            peers_known: t.candidates.len(),
            seeds_connected: seeds,
            pieces_have: f.have,
            piece_count: f.count,
            pieces_checked: f.checked,
            hash_failures: t.hash_failures,
            swarm: t.scrapes.counts(),
        }
    }

    /// Whether `stats` are reported at this tick: they differ from the last report, or it
    /// is the torrent's `turn` (one tick in [`UNCHANGED_EVERY`]). An idle torrent is
    /// reported every few seconds instead of every second, which at a hundred thousand
    /// torrents is most of an idle client's work (for the session and the application
    /// draining the events).
    fn report_due(&mut self, stats: &TorrentStats, turn: bool) -> bool {
        let mut hasher = DefaultHasher::new();
        stats.hash(&mut hasher);
        let signature = hasher.finish();
        let due = signature != self.stats_reported || turn;
        if due {
            self.stats_reported = signature;
        }
        due
    }

    fn last_activity(&self, config: &SessionConfig) -> Instant {
        // Rates without a clock: measured at the torrent's next stats instant minus one
        // interval, i.e. the last time stats were due.
        self.next_stats
            .checked_sub(config.stats_interval)
            .unwrap_or(self.next_stats)
    }
}

/// What the statistics tick borrows from the session: the torrents it reports, the
/// connections it counts, the settings, the timer it re-arms and the queue of events.
pub(crate) struct StatsCx<'a> {
    /// Every torrent (the active ones are reported).
    pub torrents: &'a mut Torrents,
    /// The connections (counted per torrent).
    pub peers: &'a Peers,
    /// The session's settings (`stats_interval`).
    pub config: &'a SessionConfig,
    /// The session's timers ([`Timer::Stats`]).
    pub timers: &'a mut TimerTable,
    /// Where the [`Event::Stats`] go.
    pub out: &'a mut Outputs,
}

/// The statistics tick: [`Event::Stats`] for the active torrents whose statistics changed
/// since their last report, and for those whose turn it is (each active torrent's comes every
/// [`UNCHANGED_EVERY`] ticks, a share of them at each tick), in id order, then the next tick
/// one interval later. It looks only at the torrents changed since the last tick, those with
/// an open connection (rates and peers move with time) and those whose turn it is (see
/// [`Torrents::stats_due`]): at 100,000 idle seeds a fifth of them, not all of them, and their
/// reports spread over the ticks instead of coming all at once. One wake-up for all torrents,
/// and none of them is changed for it (their deadlines and work sets stay as they are).
pub(crate) fn tick(now: Instant, cx: StatsCx<'_>) {
    let interval = cx.config.stats_interval;
    let due = cx.timers.get(Timer::Stats).unwrap_or(now);
    let next = Some(due + interval).filter(|at| *at > now);
    let next = next.unwrap_or(now + interval);
    cx.timers.set(Timer::Stats, next);
    if !cx.torrents.has_active() {
        cx.timers.stop(Timer::Stats);
    }
    for (id, turn) in cx.torrents.stats_due(usize::from(UNCHANGED_EVERY)) {
        if let Some(t) = cx.torrents.stats_taken(id, now + interval) {
            let stats = t.stats(id, cx.peers, Some(now), cx.config);
            if t.report_due(&stats, turn) {
                cx.out.event(Event::Stats { torrent: id, stats });
            }
        }
    }
}

/// Arms the statistics tick one interval from `now` when a torrent is active and it is
/// not armed (it stops when none is, and at the shutdown: `shutting_down`).
pub(crate) fn arm(
    now: Instant,
    shutting_down: bool,
    torrents: &mut Torrents,
    config: &SessionConfig,
    timers: &mut TimerTable,
) {
    if !shutting_down && timers.get(Timer::Stats).is_none() && torrents.has_active() {
        timers.set(Timer::Stats, now + config.stats_interval);
    }
}

/// An unchanged torrent's statistics are reported on one tick in this many (every 5 s by
/// default: an application adding up seeding time from the reports sees gaps of 5 s at most).
const UNCHANGED_EVERY: u8 = 5;
