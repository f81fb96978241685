//! What the application asks of a torrent after adding it: stop, start again, check its data
//! again, announce now, leave the session. A request that comes while the torrent is stopping
//! is kept ([`AfterStop`]) and carried out once it has stopped.
//!
//! Starting again keeps what the torrent verified (no check: its picker and resume record
//! survive the stop), reopens its storage and rejoins the swarm. A recheck hashes the pieces of
//! every file that exists, as a start without resume data does, from an empty piece set: what
//! fails is downloaded again. A removal stops the torrent without saving resume data, waits
//! for its disk jobs, then forgets it ([`Event::TorrentRemoved`](super::Event::TorrentRemoved)); deleting files is the
//! runtime's business.
//!
//! The torrent decides (these are its state's transitions); the session carries out what
//! follows (`lifecycle`).

use std::fmt;
use std::time::Instant;

use super::SessionConfig;
use super::io::TorrentId;
use super::torrent::table::Unknown;
use super::torrent::{AfterStop, Stage, Torrent};
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

impl From<Unknown> for ControlError {
    fn from(Unknown(id): Unknown) -> Self {
        Self::UnknownTorrent(id)
    }
}

/// What the session does for a start the torrent accepted.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Start {
    /// Nothing now (it runs, or starts once stopped or checked).
    Later,
    /// It is stopped: start it again.
    Now,
}

/// What the session does for a recheck the torrent accepted.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Recheck {
    /// Nothing now (nothing to check yet, a check runs, or it checks once stopped).
    Later,
    /// It runs: stop it first (it checks once stopped, then runs).
    StopFirst,
    /// It is stopped: check it now, and stay stopped.
    Now,
}

/// What the session does for a removal the torrent accepted.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Remove {
    /// Nothing now (it leaves once stopped).
    Later,
    /// It is active: stop it (it leaves once stopped).
    Stop,
    /// It is stopped: forget it now.
    Now,
}

impl Torrent {
    /// A stop was asked for: a start or run asked for while it was stopping is cancelled.
    pub(crate) fn ask_stop(&mut self) {
        self.after_stop = match self.after_stop {
            AfterStop::Start | AfterStop::Stay => AfterStop::Stay,
            AfterStop::Recheck { .. } => AfterStop::Recheck { run: false },
            AfterStop::Remove => AfterStop::Remove,
        };
    }

    /// A start was asked for (see [`Session::start_torrent`](super::Session::start_torrent)).
    pub(crate) fn ask_start(&mut self, id: TorrentId) -> Result<Start, ControlError> {
        match self.stage {
            Stage::Stopped => Ok(Start::Now),
            Stage::Stopping { .. } => {
                self.after_stop = match self.after_stop {
                    AfterStop::Remove => return Err(ControlError::UnknownTorrent(id)),
                    AfterStop::Recheck { .. } => AfterStop::Recheck { run: true },
                    AfterStop::Start | AfterStop::Stay => AfterStop::Start,
                };
                Ok(Start::Later)
            }
            // Running, or checking: a held check runs on once it is over.
            _ => {
                self.hold = false;
                Ok(Start::Later)
            }
        }
    }

    /// A recheck was asked for (see
    /// [`Session::recheck_torrent`](super::Session::recheck_torrent)).
    pub(crate) fn ask_recheck(&mut self, id: TorrentId) -> Result<Recheck, ControlError> {
        match self.stage {
            // Nothing to check yet, or a check runs already.
            Stage::Metadata | Stage::Stamps | Stage::Checking => Ok(Recheck::Later),
            Stage::Running => {
                self.after_stop = AfterStop::Recheck { run: true };
                Ok(Recheck::StopFirst)
            }
            Stage::Stopping { .. } => {
                self.after_stop = match self.after_stop {
                    AfterStop::Remove => return Err(ControlError::UnknownTorrent(id)),
                    AfterStop::Start | AfterStop::Recheck { run: true } => {
                        AfterStop::Recheck { run: true }
                    }
                    _ => AfterStop::Recheck { run: false },
                };
                Ok(Recheck::Later)
            }
            Stage::Stopped => Ok(Recheck::Now),
        }
    }

    /// An announce now was asked for: whether the announcer was told (it runs in the swarm).
    pub(crate) fn ask_reannounce(&mut self, now: Instant) -> bool {
        if !self.is_active() || !self.swarm_started {
            return false;
        }
        if let Some(a) = self.announcer.as_mut() {
            a.announce_now(now);
        }
        true
    }

    /// A removal was asked for (see
    /// [`Session::remove_torrent`](super::Session::remove_torrent)).
    pub(crate) fn ask_remove(&mut self, id: TorrentId) -> Result<Remove, ControlError> {
        if self.after_stop == AfterStop::Remove {
            return Err(ControlError::UnknownTorrent(id));
        }
        self.after_stop = AfterStop::Remove;
        Ok(match self.stage {
            Stage::Stopped => Remove::Now,
            // The save under way, if any, is not written (see `begin_stop`).
            Stage::Stopping { deadline, .. } => {
                self.stage = Stage::Stopping {
                    deadline,
                    saved: true,
                };
                Remove::Later
            }
            _ => Remove::Stop,
        })
    }

    /// What a torrent that just stopped does of `then`, the request kept while it stopped
    /// (during the session's shutdown, only a removal).
    pub(crate) fn after_stopped(&self, then: AfterStop, shutting_down: bool) -> AfterStop {
        match then {
            AfterStop::Remove => AfterStop::Remove,
            _ if shutting_down => AfterStop::Stay,
            AfterStop::Recheck { run } if self.data.is_none() && self.released.is_none() => {
                if run {
                    AfterStop::Start
                } else {
                    AfterStop::Stay
                }
            }
            other => other,
        }
    }

    /// Takes a stopped torrent back into the swarm's state (announcer reset, timers from
    /// `now`).
    pub(crate) fn rejoin(&mut self, now: Instant, config: &SessionConfig) {
        self.clear_disk_error();
        self.after_stop = AfterStop::Stay;
        self.hold = false;
        self.swarm_started = false;
        self.announce_stopped = self.announcer.is_none();
        if let Some(a) = self.announcer.as_mut() {
            a.reset();
        }
        self.next_stats = now + config.stats_interval;
        self.next_save = now + config.resume_save_interval;
    }
}

#[cfg(test)]
#[path = "control_tests.rs"]
mod tests;
