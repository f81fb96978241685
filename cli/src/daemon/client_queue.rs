//! The queue and the seeding limits on the client: each tick (and after every call that can
//! change who runs) [`ClientBackend::enforce`] reads every torrent's statistics in one round
//! trip, stops seeds that reached a seeding limit ([`SeedLimits`]: they show as finished),
//! asks the queue ([`queue::runs`]) which torrents run, and starts or stops those that
//! differ in the client. A queued torrent is stopped in the client but not by the user: it
//! shows as waiting (`DownloadWait`/`SeedWait`) and starts when its turn comes.

use std::collections::HashMap;

use sanstorrent_core::session::{SnapshotDetail, TorrentId, TorrentStats};
use sanstorrent_runtime_common::Runtime;

use super::{ClientBackend, Entry, State};
use crate::daemon::backend::{
    BackendError, Id, LimitMode, Outcome, SeedLimitAction, Settings, SettingsChanges,
    TorrentChanges, TorrentOptions,
};
use crate::daemon::id_set::IdSet;
use crate::daemon::queue::{self, Move, Slot};
use crate::daemon::rpc::unix_now;
use crate::daemon::seed_limits::{SeedLimits, Seeding};
use crate::daemon::store::SavedSeedLimits;

/// The queue's limits under settings `s`.
pub(super) fn limits(s: &Settings) -> queue::Limits {
    let on = s.download_queue_enabled || s.seed_queue_enabled;
    queue::Limits {
        downloads: s.download_queue_enabled.then_some(s.download_queue_size),
        seeds: s.seed_queue_enabled.then_some(s.seed_queue_size),
        total: s.max_active_torrents.filter(|_| on),
        stalled_after: s
            .queue_stalled_enabled
            .then(|| u64::from(s.queue_stalled_minutes) * 60),
    }
}

/// Moves the torrents named by `ids` in the queue and numbers every place again from 0.
pub(super) fn renumber(torrents: &mut [Entry], ids: &[Id], to: Move) {
    let positions: Vec<u32> = torrents.iter().map(|t| t.position).collect();
    let ids = IdSet::new(ids);
    let selected: Vec<bool> = torrents.iter().map(|t| ids.contains(t.id)).collect();
    for (t, p) in torrents
        .iter_mut()
        .zip(queue::reorder(&positions, &selected, to))
    {
        t.position = p;
    }
}

/// Whether statistics `s` show every wanted byte here (metadata known).
pub(super) fn is_complete(s: &TorrentStats) -> bool {
    s.total_bytes > 0 && s.have_bytes >= s.wanted_bytes
}

/// Seconds since `t` last moved data or last started, whichever is later (Unix `now`).
pub(super) fn idle_secs(t: &Entry, now: u64) -> u64 {
    now.saturating_sub(t.totals.activity_date.max(t.started_at))
}

/// Whether the queue or a seeding limit may have something to do.
fn needed(state: &State) -> bool {
    limits(&state.settings).any()
        || state.torrents.iter().any(|t| {
            !t.stopped && (!t.running || !SeedLimits::of(&t.options, &state.settings).is_none())
        })
}

/// When (Unix seconds, after `now`) a running torrent may stall (while a queue applies) or
/// reach a seeding or idle time limit if no data moves; `stats` as the queue last read them.
fn next_due(state: &State, stats: &HashMap<TorrentId, TorrentStats>, now: u64) -> Option<u64> {
    let queue = limits(&state.settings);
    let stalled_after = queue.stalled_after.filter(|_| queue.any());
    let mut due: Option<u64> = None;
    for t in state.torrents.iter().filter(|t| t.running && !t.stopped) {
        let idle = idle_secs(t, now);
        let stall = stalled_after
            .filter(|s| !t.forced && idle < *s)
            .map(|s| s - idle);
        let limit = stats
            .get(&t.handle.id)
            .filter(|s| is_complete(s) && !t.options.choose_files)
            .and_then(|s| {
                SeedLimits::of(&t.options, &state.settings).secs_left(&Seeding {
                    uploaded: t.totals.uploaded.saturating_add(t.seen.unseen(s).0),
                    size_when_done: s.wanted_bytes,
                    seconds_seeding: t.totals.seconds_seeding,
                    idle_secs: idle,
                })
            });
        for left in stall.into_iter().chain(limit) {
            let at = now.saturating_add(left.max(1));
            due = Some(due.map_or(at, |d| d.min(at)));
        }
    }
    due
}

/// The token of [`ClientBackend::enforce`], given back when dropped.
struct Turn<'a>(&'a async_channel::Sender<()>);

impl Drop for Turn<'_> {
    fn drop(&mut self) {
        let _ = self.0.try_send(());
    }
}

impl<R: Runtime> ClientBackend<R> {
    /// Applies the seeding limits and the queue now (one caller at a time).
    pub(crate) async fn enforce(&self) -> Outcome<()> {
        if self.turn.1.recv().await.is_err() {
            return Ok(());
        }
        // Given back even if this call is dropped halfway (a client hung up).
        let _turn = Turn(&self.turn.0);
        self.enforce_turn().await
    }

    /// Applies the seeding limits and the queue at a tick if they may have something new to
    /// do: something they depend on changed since they were last applied, or a rule of time
    /// comes due. A tick of a daemon whose torrents sit idle costs nothing per torrent.
    pub(crate) async fn enforce_due(&self) -> Outcome<()> {
        {
            let state = self.lock();
            if !state.queue_dirty && state.queue_due.is_none_or(|at| unix_now() < at) {
                return Ok(());
            }
        }
        self.enforce().await
    }

    async fn enforce_turn(&self) -> Outcome<()> {
        let ids: Vec<TorrentId> = {
            let mut state = self.lock();
            // Changes from here on are seen by the next tick.
            state.queue_dirty = false;
            state.queue_due = None;
            if !needed(&state) {
                return Ok(());
            }
            state.torrents.iter().map(|t| t.handle.id).collect()
        };
        let client = self.client()?;
        let snaps = client
            .snapshots(ids.clone(), SnapshotDetail::default())
            .await
            .map_err(|e| BackendError::System(e.to_string()))?;
        let stats: HashMap<TorrentId, TorrentStats> = ids
            .into_iter()
            .zip(snaps)
            .filter_map(|(id, s)| Some((id, s?.stats)))
            .collect();
        let now = unix_now();
        let changes = {
            let mut state = self.lock();
            let settings = state.settings.clone();
            let mut finished = false;
            let mut removals = Vec::new();
            for t in &mut state.torrents {
                let Some(s) = stats.get(&t.handle.id) else {
                    continue;
                };
                if t.stopped || !t.running || !is_complete(s) || t.options.choose_files {
                    continue;
                }
                let figures = Seeding {
                    uploaded: t.totals.uploaded.saturating_add(t.seen.unseen(s).0),
                    size_when_done: s.wanted_bytes,
                    seconds_seeding: t.totals.seconds_seeding,
                    idle_secs: idle_secs(t, now),
                };
                if let Some(reached) = SeedLimits::of(&t.options, &settings).reached(&figures) {
                    let action = settings.seed_limit_action;
                    tracing::info!(
                        "{}: seeding limit reached ({reached:?}): {action:?}",
                        t.name
                    );
                    t.stopped = true;
                    t.forced = false;
                    t.finished = Some(reached);
                    finished = true;
                    match action {
                        SeedLimitAction::Stop => {}
                        SeedLimitAction::Remove => removals.push((t.id, false)),
                        SeedLimitAction::RemoveWithData => removals.push((t.id, true)),
                    }
                }
            }
            let slots: Vec<Slot> = state
                .torrents
                .iter()
                .map(|t| Slot {
                    position: t.position,
                    stopped: t.stopped,
                    forced: t.forced,
                    complete: !t.options.choose_files
                        && stats.get(&t.handle.id).is_some_and(is_complete),
                    running: t.running,
                    idle_secs: idle_secs(t, now),
                })
                .collect();
            let runs = queue::runs(&limits(&settings), &slots);
            let mut changes = Vec::new();
            for (t, run) in state.torrents.iter_mut().zip(runs) {
                if run != t.running {
                    t.running = run;
                    if run {
                        t.started_at = now;
                    }
                    // A moving torrent is started (or not) by the mover, as marked here.
                    if !t.moving {
                        changes.push((t.handle.id, run));
                    }
                }
            }
            state.queue_due = next_due(&state, &stats, now);
            if finished {
                self.persist(&state);
            }
            (changes, removals)
        };
        let (changes, removals) = changes;
        for (id, run) in changes {
            if run {
                self.start_in_client(&client, id).await?;
            } else {
                client
                    .stop_torrent(id)
                    .await
                    .map_err(|e| BackendError::System(e.to_string()))?;
            }
        }
        for (id, delete_data) in removals {
            self.remove_torrents(&[id], delete_data).await?;
        }
        Ok(())
    }
}

/// Applies the queue and seeding-limit parts of `c` to `s`; whether any changed.
pub(super) fn change_settings(s: &mut Settings, c: &SettingsChanges) -> bool {
    let before = s.clone();
    set(&mut s.download_queue_enabled, c.download_queue_enabled);
    set(&mut s.download_queue_size, c.download_queue_size);
    set(&mut s.seed_queue_enabled, c.seed_queue_enabled);
    set(&mut s.seed_queue_size, c.seed_queue_size);
    set(&mut s.max_active_torrents, c.max_active_torrents);
    set(&mut s.queue_stalled_enabled, c.queue_stalled_enabled);
    set(&mut s.queue_stalled_minutes, c.queue_stalled_minutes);
    set(&mut s.seed_ratio_limit, c.seed_ratio_limit);
    set(&mut s.seed_ratio_limited, c.seed_ratio_limited);
    set(&mut s.idle_seeding_limit, c.idle_seeding_limit);
    set(
        &mut s.idle_seeding_limit_enabled,
        c.idle_seeding_limit_enabled,
    );
    set(&mut s.seeding_time_limit, c.seeding_time_limit);
    set(
        &mut s.seeding_time_limit_enabled,
        c.seeding_time_limit_enabled,
    );
    set(&mut s.seed_limit_action, c.seed_limit_action);
    *s != before
}

/// Applies the seeding-limit parts of `c` to a torrent's options.
pub(super) fn change_options(o: &mut TorrentOptions, c: &TorrentChanges) {
    set(&mut o.seed_ratio_limit, c.seed_ratio_limit);
    set(&mut o.seed_ratio_mode, c.seed_ratio_mode);
    set(&mut o.seed_idle_limit, c.seed_idle_limit);
    set(&mut o.seed_idle_mode, c.seed_idle_mode);
    set(&mut o.seed_time_limit, c.seed_time_limit);
    set(&mut o.seed_time_mode, c.seed_time_mode);
}

fn set<T>(slot: &mut T, value: Option<T>) {
    if let Some(v) = value {
        *slot = v;
    }
}

/// A torrent's seeding limits to save (`None`: every mode is the session's).
pub(super) fn saved_seed_limits(o: &TorrentOptions) -> Option<SavedSeedLimits> {
    let modes = [o.seed_ratio_mode, o.seed_idle_mode, o.seed_time_mode];
    (modes != [LimitMode::Global; 3]).then_some(SavedSeedLimits {
        ratio: o.seed_ratio_limit,
        ratio_mode: o.seed_ratio_mode as i64,
        idle_minutes: o.seed_idle_limit,
        idle_mode: o.seed_idle_mode as i64,
        seeding_minutes: o.seed_time_limit,
        seeding_mode: o.seed_time_mode as i64,
    })
}

/// Puts a torrent's saved seeding limits back (an unknown mode stays the session's).
pub(super) fn restore_seed_limits(saved: Option<&SavedSeedLimits>, o: &mut TorrentOptions) {
    let Some(l) = saved else {
        return;
    };
    let mode = |n| LimitMode::from_number(n).unwrap_or_default();
    o.seed_ratio_limit = l.ratio;
    o.seed_ratio_mode = mode(l.ratio_mode);
    o.seed_idle_limit = l.idle_minutes;
    o.seed_idle_mode = mode(l.idle_mode);
    o.seed_time_limit = l.seeding_minutes;
    o.seed_time_mode = mode(l.seeding_mode);
}
