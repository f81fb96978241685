//! What the application asks of a torrent after adding it: stop, start again, check its data
//! again, announce now, leave the session. A request that comes while the torrent is stopping
//! is kept ([`AfterStop`]) and carried out once it has stopped.
//!
//! Starting again keeps what the torrent verified (no check: its picker and resume record
//! survive the stop), reopens its storage and rejoins the swarm. A recheck hashes the pieces of
//! every file that exists, as a start without resume data does, from an empty piece set: what
//! fails is downloaded again. A removal stops the torrent without saving resume data, waits
//! for its disk jobs, then forgets it ([`Event::TorrentRemoved`]); deleting files is the
//! runtime's business.

use std::fmt;
use std::time::Instant;

use super::Session;
use super::event::Event;
use super::io::{Action, TorrentId};
use super::torrent::{AfterStop, Stage};
use crate::id::InfoHash;

/// Why a request about a torrent was refused.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ControlError {
    /// No such torrent (or it is being removed).
    UnknownTorrent(TorrentId),
    /// Another torrent of the session has this info-hash (added while this one was stopped).
    Duplicate(InfoHash),
    /// The session is shutting down.
    ShuttingDown,
}

impl fmt::Display for ControlError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::UnknownTorrent(t) => write!(f, "no torrent {}", t.0),
            Self::Duplicate(h) => write!(
                f,
                "another torrent with info-hash {} is in the session",
                h.to_hex()
            ),
            Self::ShuttingDown => f.write_str("the session is shutting down"),
        }
    }
}

impl std::error::Error for ControlError {}

impl Session {
    /// Stops a torrent (see [`Session::stop_torrent`]); a start or run asked for while it
    /// was stopping is cancelled.
    pub(super) fn stop_inner(&mut self, now: Instant, id: TorrentId) {
        let Some(t) = self.torrents.get_mut(&id) else {
            return;
        };
        t.after_stop = match t.after_stop {
            AfterStop::Start | AfterStop::Stay => AfterStop::Stay,
            AfterStop::Recheck { .. } => AfterStop::Recheck { run: false },
            AfterStop::Remove => AfterStop::Remove,
        };
        self.begin_stop(now, id);
    }

    /// See [`Session::start_torrent`].
    pub(super) fn start_inner(&mut self, now: Instant, id: TorrentId) -> Result<(), ControlError> {
        if self.shutting_down {
            return Err(ControlError::ShuttingDown);
        }
        let t = self
            .torrents
            .get_mut(&id)
            .ok_or(ControlError::UnknownTorrent(id))?;
        match t.stage {
            Stage::Stopped => self.restart(now, id),
            Stage::Stopping { .. } => {
                t.after_stop = match t.after_stop {
                    AfterStop::Remove => return Err(ControlError::UnknownTorrent(id)),
                    AfterStop::Recheck { .. } => AfterStop::Recheck { run: true },
                    AfterStop::Start | AfterStop::Stay => AfterStop::Start,
                };
                Ok(())
            }
            // Running, or checking: a held check runs on once it is over.
            _ => {
                t.hold = false;
                Ok(())
            }
        }
    }

    /// See [`Session::recheck_torrent`].
    pub(super) fn recheck_inner(
        &mut self,
        now: Instant,
        id: TorrentId,
    ) -> Result<(), ControlError> {
        if self.shutting_down {
            return Err(ControlError::ShuttingDown);
        }
        let t = self
            .torrents
            .get_mut(&id)
            .ok_or(ControlError::UnknownTorrent(id))?;
        match t.stage {
            // Nothing to check yet, or a check runs already.
            Stage::Metadata | Stage::Stamps | Stage::Checking => Ok(()),
            Stage::Running => {
                t.after_stop = AfterStop::Recheck { run: true };
                self.begin_stop(now, id);
                Ok(())
            }
            Stage::Stopping { .. } => {
                t.after_stop = match t.after_stop {
                    AfterStop::Remove => return Err(ControlError::UnknownTorrent(id)),
                    AfterStop::Start | AfterStop::Recheck { run: true } => {
                        AfterStop::Recheck { run: true }
                    }
                    _ => AfterStop::Recheck { run: false },
                };
                Ok(())
            }
            Stage::Stopped => self.check_again(now, id, false),
        }
    }

    /// See [`Session::reannounce`].
    pub(super) fn reannounce_inner(
        &mut self,
        now: Instant,
        id: TorrentId,
    ) -> Result<(), ControlError> {
        let t = self
            .torrents
            .get_mut(&id)
            .ok_or(ControlError::UnknownTorrent(id))?;
        if !t.is_active() || !t.swarm_started {
            return Ok(());
        }
        if let Some(a) = t.announcer.as_mut() {
            a.announce_now(now);
        }
        self.pump_announcer(now, id);
        Ok(())
    }

    /// See [`Session::remove_torrent`].
    pub(super) fn remove_inner(&mut self, now: Instant, id: TorrentId) -> Result<(), ControlError> {
        let t = self
            .torrents
            .get_mut(&id)
            .ok_or(ControlError::UnknownTorrent(id))?;
        if t.after_stop == AfterStop::Remove {
            return Err(ControlError::UnknownTorrent(id));
        }
        t.after_stop = AfterStop::Remove;
        match t.stage {
            Stage::Stopped => self.forget(id),
            // The save under way, if any, is not written (see `begin_stop`).
            Stage::Stopping { deadline, .. } => {
                t.stage = Stage::Stopping {
                    deadline,
                    saved: true,
                };
            }
            _ => self.begin_stop(now, id),
        }
        Ok(())
    }

    /// A stopping torrent has stopped: carry out what was asked meanwhile.
    pub(super) fn stopped(&mut self, now: Instant, id: TorrentId, then: AfterStop) {
        let has_data = self.torrents.get(&id).is_some_and(|t| t.data.is_some());
        let then = match then {
            AfterStop::Remove => AfterStop::Remove,
            _ if self.shutting_down => AfterStop::Stay,
            AfterStop::Recheck { run } if !has_data => {
                if run {
                    AfterStop::Start
                } else {
                    AfterStop::Stay
                }
            }
            other => other,
        };
        let carried_on = match then {
            AfterStop::Stay => false,
            AfterStop::Start => self.restart(now, id).is_ok(),
            AfterStop::Recheck { run } => self.check_again(now, id, run).is_ok(),
            AfterStop::Remove => {
                self.out.event(Event::TorrentStopped { torrent: id });
                self.forget(id);
                return;
            }
        };
        if !carried_on {
            self.out.event(Event::TorrentStopped { torrent: id });
        }
    }

    /// Takes a stopped torrent back into the session's tables and resets its swarm state.
    fn rejoin(&mut self, now: Instant, id: TorrentId) -> Result<(), ControlError> {
        let (stats, save) = (self.config.stats_interval, self.config.resume_save_interval);
        let t = self
            .torrents
            .get_mut(&id)
            .ok_or(ControlError::UnknownTorrent(id))?;
        match self.by_hash.get(&t.info_hash) {
            Some(&other) if other != id => return Err(ControlError::Duplicate(t.info_hash)),
            _ => {}
        }
        self.by_hash.insert(t.info_hash, id);
        t.clear_disk_error();
        t.after_stop = AfterStop::Stay;
        t.hold = false;
        t.swarm_started = false;
        t.announce_stopped = t.announcer.is_none();
        if let Some(a) = t.announcer.as_mut() {
            a.reset();
        }
        t.next_stats = now + stats;
        t.next_save = now + save;
        Ok(())
    }

    /// Starts a stopped torrent from what it has verified: storage reopened, swarm joined.
    fn restart(&mut self, now: Instant, id: TorrentId) -> Result<(), ControlError> {
        self.rejoin(now, id)?;
        let Some(t) = self.torrents.get_mut(&id) else {
            return Ok(());
        };
        let Some(d) = &t.data else {
            t.stage = Stage::Metadata;
            self.start_swarm(now, id);
            return Ok(());
        };
        let paths = d.meta.files().iter().map(|f| f.path.clone()).collect();
        self.out.action(Action::OpenStorage {
            torrent: id,
            layout: d.meta.layout().clone(),
            paths,
        });
        // What was verified stays verified: the check is over at once.
        t.stage = Stage::Stamps;
        self.finish_check(now, id);
        Ok(())
    }

    /// Checks a stopped torrent's data again from nothing; it runs afterwards if `run`, else
    /// stops again.
    fn check_again(&mut self, now: Instant, id: TorrentId, run: bool) -> Result<(), ControlError> {
        let Some(meta) = self
            .torrents
            .get(&id)
            .and_then(|t| t.data.as_ref())
            .map(|d| d.meta.clone())
        else {
            return Ok(());
        };
        self.rejoin(now, id)?;
        if let Some(t) = self.torrents.get_mut(&id) {
            t.hold = !run;
            t.complete_sent = false;
            t.options.resume = None;
        }
        self.init_data(id, meta);
        Ok(())
    }

    /// Drops a stopped torrent from the session.
    fn forget(&mut self, id: TorrentId) {
        let Some(t) = self.torrents.remove(&id) else {
            return;
        };
        if self.by_hash.get(&t.info_hash) == Some(&id) {
            self.by_hash.remove(&t.info_hash);
        }
        self.out.event(Event::TorrentRemoved {
            torrent: id,
            info_hash: t.info_hash,
        });
    }
}

#[cfg(test)]
#[path = "control_tests.rs"]
mod tests;
