//! A torrent's life as its own state sees it: the metadata arriving, the end of the start
//! check, file priorities, joining the swarm, finishing, stopping. Each step changes the
//! torrent and says what follows for the rest of the session (its connections, its disk
//! jobs, the session's tables), which the session carries out.

use std::sync::Arc;
use std::time::Instant;

use super::{AfterStop, Data, Stage, Torrent};
use crate::extensions::{PexConfig, PexPool};
use crate::layout::Layout;
use crate::metainfo::Metainfo;
use crate::picker::{PeerKey, Picker, Priority, piece_priorities, piece_priorities_first_last};
use crate::pieces::{BlockRef, PieceSet};
use crate::session::SessionConfig;
use crate::session::config::TorrentOptions;
use crate::session::edit::ChangeError;
use crate::session::error::SessionError;
use crate::session::event::Event;
use crate::session::io::{Action, TorrentId};
use crate::session::metadata::MetadataError;
use crate::session::outputs::Outputs;
use crate::session::pipeline::PiecePipeline;

/// How the start check ended, for the rest of the session.
#[derive(Debug)]
pub(crate) enum CheckOver {
    /// Checked while stopped (held): it stops again.
    Hold,
    /// It runs.
    Run {
        /// Our pieces (told to connections opened before the metadata).
        have: Vec<u32>,
        /// Files to create ahead of the download.
        create: Vec<usize>,
        /// It announced and looked peers up already (a magnet that got its metadata).
        swarm_started: bool,
    },
}

/// What a running torrent's own timers fired (see [`Torrent::fire_timers`]).
#[derive(Debug)]
pub(crate) struct Fired {
    /// Requests the picker gave up on, to cancel.
    pub(crate) cancels: Vec<(PeerKey, BlockRef)>,
    /// The choker is due.
    pub(crate) rechoke: bool,
    /// The resume data is due for a save, and has changed.
    pub(crate) save: bool,
    /// One of the torrent's own rate limits ended a wait.
    pub(crate) limited: bool,
}

/// What new file priorities mean for a running torrent.
#[derive(Debug)]
pub(crate) enum NewPriorities {
    /// Every wanted piece is verified; these (empty) files may need creating.
    Finished {
        /// Files to create.
        create: Vec<usize>,
    },
    /// It downloads (again): these files may need creating.
    Wanted {
        /// Files to create.
        create: Vec<usize>,
    },
}

impl Torrent {
    /// Whether `meta` may become this torrent's metadata.
    pub(crate) fn accepts_metadata(&self, meta: &Metainfo) -> Result<(), MetadataError> {
        if self.data.is_some() || self.released.is_some() {
            return Err(MetadataError::AlreadyKnown);
        }
        // A `btmh`-only magnet knows a hybrid's v2 hash only: the metadata's v1 hash is new.
        if !self.hashes.agree(&meta.info_hashes()) {
            return Err(MetadataError::WrongInfoHash);
        }
        Ok(())
    }

    /// Creates the metadata-dependent state (picker drawn from `seed`, pieces, pipeline) and
    /// waits for the files' stamps; returns the storage to open.
    pub(crate) fn init_data(
        &mut self,
        id: TorrentId,
        meta: Arc<Metainfo>,
        seed: u64,
        config: &SessionConfig,
    ) -> Action {
        let layout = meta.layout().clone();
        let mut picker = Picker::new(&layout, config.picker.clone(), seed);
        if self.options.choose_files {
            Arc::make_mut(&mut self.options).file_priorities =
                vec![Priority::Skip; layout.files().len()];
        }
        if !self.options.file_priorities.is_empty() || self.options.first_last_pieces {
            picker.set_priorities(&wanted_pieces(&layout, &self.options));
        }
        picker.set_sequential(self.options.sequential);
        let n = layout.piece_count();
        if meta.is_private() && !self.private {
            // BEP 27 learnt late (a magnet): PEX stops in both directions.
            if let Some(parts) = self.peering.get_mut() {
                parts.pex = PexPool::new(PexConfig::new(true));
            }
        }
        self.private = meta.is_private();
        self.fetcher = None;
        self.data = Some(Box::new(Data {
            // Pieces made only of padding are had from the start (see `Picker::new`).
            bits: picker.have().clone(),
            pipeline: PiecePipeline::new(n),
            resume: self.resume.take().map(Vec::from),
            verify: false,
            held: None,
            picker,
            meta: meta.clone(),
        }));
        self.stage = Stage::Stamps;
        let paths = meta.files().iter().map(|f| f.path.clone()).collect();
        Action::OpenStorage {
            torrent: id,
            layout,
            paths,
            symlinks: meta.symlinks(),
        }
    }

    /// The start check is over (`None`: it was not checking, or has no metadata): it runs,
    /// or stops again if held.
    pub(crate) fn finish_check(&mut self, id: TorrentId, out: &mut Outputs) -> Option<CheckOver> {
        if !matches!(self.stage, Stage::Stamps | Stage::Checking) {
            return None;
        }
        let swarm_started = self.swarm_started;
        self.stage = Stage::Running;
        if !self.complete_sent && self.data.as_ref()?.picker.is_finished() {
            self.data_back();
        }
        let d = self.data.as_mut()?;
        let have = d.picker.have().count();
        let all = have == d.picker.have().len();
        let finished = !self.options.choose_files && d.picker.is_finished();
        let have_list: Vec<u32> = d.picker.have().iter().collect();
        out.event(Event::Checked {
            torrent: id,
            have,
            all,
        });
        if finished && !self.complete_sent {
            out.event(Event::TorrentComplete { torrent: id });
        }
        self.complete_sent |= finished;
        if std::mem::take(&mut self.hold) {
            // Checked while stopped: stop again (the stop saves what the check found).
            return Some(CheckOver::Hold);
        }
        // A seed-only torrent writes nothing (its directory may well be read-only). A finished
        // one has only its wanted empty files to create.
        let create = if self.options.seed_only {
            Vec::new()
        } else {
            let priorities = &self.options.file_priorities;
            files_to_create(d.meta.layout(), priorities, d.picker.have())
        };
        Some(CheckOver::Run {
            have: have_list,
            create,
            swarm_started,
        })
    }

    /// Sets the file priorities (see
    /// [`Session::set_file_priorities`](crate::session::Session::set_file_priorities));
    /// `None`: nothing follows yet (no metadata, or not running).
    pub(crate) fn set_file_priorities(
        &mut self,
        priorities: Vec<Priority>,
    ) -> Result<Option<NewPriorities>, ChangeError> {
        if let Some(files) = self.file_count()
            && priorities.len() > files
        {
            return Err(ChangeError::FilePriorities {
                files,
                given: priorities.len(),
            });
        }
        let options = Arc::make_mut(&mut self.options);
        options.file_priorities = compact_priorities(priorities);
        options.choose_files = false;
        let Some(d) = self.data.as_mut() else {
            return Ok(None);
        };
        let layout = d.meta.layout();
        d.picker
            .set_priorities(&wanted_pieces(layout, &self.options));
        if self.stage != Stage::Running {
            // The end of the check looks at the priorities.
            return Ok(None);
        }
        let create = files_to_create(layout, &self.options.file_priorities, d.picker.have());
        if d.picker.is_finished() {
            return Ok(Some(NewPriorities::Finished { create }));
        }
        // A file wanted again: downloading until it too is verified.
        self.complete_sent = false;
        Ok(Some(NewPriorities::Wanted { create }))
    }

    /// How many files it has, if known: its metainfo's, or a released torrent's record's
    /// (`None`: a magnet without metadata yet).
    pub(crate) fn file_count(&self) -> Option<usize> {
        match (&self.data, &self.released) {
            (Some(d), _) => Some(d.meta.files().len()),
            (None, Some(r)) => Some(r.file_bytes.len()),
            (None, None) => None,
        }
    }

    /// Fires a running torrent's own timers due at `now` (the picker's request timeouts, the
    /// choker, the resume save, its rate limits); `None`: it is not running.
    pub(crate) fn fire_timers(&mut self, now: Instant, config: &SessionConfig) -> Option<Fired> {
        if self.stage != Stage::Running {
            return None;
        }
        let mut cancels = Vec::new();
        if let Some(d) = self.data.as_mut()
            && d.picker.poll_timeout().is_some_and(|at| at <= now)
        {
            cancels = d.picker.handle_timeout(now);
        }
        self.wake_choker(now);
        let rechoke = self.choker.poll_timeout().is_none_or(|at| at <= now);
        let save = now >= self.next_save;
        if save {
            self.next_save = now + config.resume_save_interval;
        }
        let needs_save = self.needs_save();
        // A limit whose wait just ended (see the session's in its timeout).
        let mut limited = false;
        if let Some(own) = self.limits.as_mut() {
            limited = [&own.down, &own.up]
                .iter()
                .any(|b| b.ready_at().is_some_and(|at| at <= now));
            let _ = own.down.allows(now);
            let _ = own.up.allows(now);
        }
        Some(Fired {
            cancels,
            rechoke,
            save: save && needs_save,
            limited,
        })
    }

    /// Whether its resume data is behind what it wrote or verified (its periodic save is
    /// only filed among its deadlines then: an idle torrent does not wake for it).
    pub(crate) fn needs_save(&self) -> bool {
        self.data
            .as_ref()
            .is_some_and(|d| d.pipeline.dirty || d.pipeline.unflushed.count() > 0)
    }

    /// A magnet added stopped: nothing to check, so it is stopped at once.
    pub(crate) fn stop_held(&mut self) {
        self.hold = false;
        self.stage = Stage::Stopped;
        self.announce_stopped = true;
    }

    /// Joins the swarm: announces and schedules DHT lookups (`dht`: the session runs a
    /// node). Returns whether the announcer has work (not for a torrent that never dials).
    pub(crate) fn start_swarm(&mut self, now: Instant, dht: bool) -> bool {
        self.swarm_started = true;
        if self.options.no_outbound {
            return false;
        }
        if let Some(a) = self.announcer.as_mut() {
            a.start(now);
        }
        if dht && !self.private {
            self.next_dht = Some(now);
            self.dht_hashes_done = 0;
        }
        true
    }

    /// Every wanted piece is verified: the announcer is told, once. Returns whether this is
    /// the first time.
    pub(crate) fn finish(&mut self, now: Instant, id: TorrentId, out: &mut Outputs) -> bool {
        if self.complete_sent {
            return false;
        }
        self.complete_sent = true;
        self.data_back();
        if let Some(a) = self.announcer.as_mut() {
            a.complete(now);
        }
        out.event(Event::TorrentComplete { torrent: id });
        true
    }

    /// Starts stopping (deadline: when to give up waiting for trackers and disk); whether it
    /// was active.
    pub(crate) fn begin_stop(&mut self, now: Instant, deadline: Instant) -> bool {
        if !self.is_active() {
            return false;
        }
        // A torrent leaving the session saves no resume data (the runtime deletes it).
        self.stage = Stage::Stopping {
            deadline,
            saved: self.data.is_none() || self.after_stop == AfterStop::Remove,
        };
        self.next_dht = None;
        if let Some(a) = self.announcer.as_mut() {
            a.stop(now);
        }
        true
    }

    /// At its stop deadline, a stopping torrent gives its `stopped` announce up (waiting for
    /// the session's budget or unanswered: see
    /// [`Announcer::give_up_stop`](crate::tracker::Announcer::give_up_stop)). Returns whether
    /// it did (tell the budget).
    pub(crate) fn give_up_announce(&mut self, now: Instant) -> bool {
        let Stage::Stopping { deadline, .. } = self.stage else {
            return false;
        };
        if now < deadline || self.announce_stopped {
            return false;
        }
        if let Some(a) = self.announcer.as_mut() {
            a.give_up_stop();
        }
        self.announce_stopped = true;
        true
    }

    /// Advances a stopping torrent (`id`): stopped once saved and its trackers told (or at
    /// its deadline). Returns whether to save first: everything is written and verified.
    pub(crate) fn progress_stop(&mut self, now: Instant, id: TorrentId, out: &mut Outputs) -> bool {
        let Stage::Stopping { deadline, saved } = self.stage else {
            return false;
        };
        let timed_out = now >= deadline;
        if let Some(d) = self.data.as_mut()
            && !saved
            && !d.pipeline.saving
            && d.pipeline.outstanding == 0
        {
            // Everything written and verified: flush, stamp and save once more.
            d.pipeline.dirty = true;
            return true;
        }
        // A removed torrent's files may be deleted next: no disk job may still run.
        let settled = self.after_stop != AfterStop::Remove
            || self
                .data
                .as_ref()
                .is_none_or(|d| d.pipeline.outstanding == 0 && d.pipeline.unwritten == 0);
        let done = saved && self.announce_stopped && settled;
        if done || timed_out {
            if !done {
                out.event(Event::Error {
                    torrent: Some(id),
                    error: SessionError::StopTimedOut,
                });
            }
            // `Session::stopped` reports it (or carries on with what was asked meanwhile).
            self.stage = Stage::Stopped;
        }
        false
    }
}

/// `priorities` without the trailing files at the default priority (a file past the end of
/// the list is at [`Priority::Normal`]): a torrent whose files all are keeps no list, so
/// 10,000 idle seeds added with every priority given hold none.
pub(crate) fn compact_priorities(mut priorities: Vec<Priority>) -> Vec<Priority> {
    while priorities.last() == Some(&Priority::Normal) {
        priorities.pop();
    }
    if priorities.is_empty() {
        return Vec::new();
    }
    priorities.shrink_to_fit();
    priorities
}

/// Each piece's priority from the torrent's file priorities and its first-and-last-pieces
/// option.
pub(crate) fn wanted_pieces(layout: &Layout, options: &TorrentOptions) -> Vec<Priority> {
    if options.first_last_pieces {
        piece_priorities_first_last(layout, &options.file_priorities)
    } else {
        piece_priorities(layout, &options.file_priorities)
    }
}

/// The files a download will write that may not exist yet: wanted (not skipped), not padding,
/// and empty or with a piece still missing. Skipped files are never created ahead (a skipped
/// file sharing a piece with a wanted one is created when that piece is written).
fn files_to_create(layout: &Layout, priorities: &[Priority], have: &PieceSet) -> Vec<usize> {
    layout
        .files()
        .iter()
        .enumerate()
        .filter(|(i, f)| {
            !f.padding
                && priorities.get(*i).copied().unwrap_or_default() != Priority::Skip
                && (f.length == 0 || layout.file_pieces(*i).any(|p| !have.contains(p)))
        })
        .map(|(i, _)| i)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_priorities_at_the_end_are_not_kept() {
        use Priority::{High, Normal, Skip};
        let all_normal = compact_priorities(vec![Normal; 3]);
        assert!(all_normal.is_empty());
        assert_eq!(all_normal.capacity(), 0, "no allocation kept");
        assert_eq!(
            compact_priorities(vec![Skip, Normal, High, Normal]),
            [Skip, Normal, High]
        );
        assert_eq!(compact_priorities(Vec::new()), []);
    }
}
