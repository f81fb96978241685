//! A torrent's life: adding (metainfo or magnet), the metadata arriving, the start check
//! (stamps, resume decision, `Check` jobs), running, stopping, and session shutdown.

use std::fmt;
use std::sync::Arc;
use std::time::Instant;

use super::Session;
use super::config::{AddTorrentError, TorrentOptions, TorrentSource};
use super::edit::ChangeError;
use super::error::SessionError;
use super::event::{Event, PeerCloseReason};
use super::io::{Action, TorrentId};
use super::outputs::Outputs;
use super::pipeline::{Job, PiecePipeline, StampsFor};
use super::timers::Timer;
use super::torrent::candidates::Source;
use super::torrent::{AfterStop, Data, Stage, Torrent};
use crate::extensions::{PexConfig, PexPool};
use crate::layout::Layout;
use crate::magnet::PeerAddress;
use crate::metainfo::Metainfo;
use crate::picker::{Picker, Priority, piece_priorities, piece_priorities_first_last};
use crate::pieces::PieceSet;
use crate::storage::FileStamp;
use crate::wire::PieceGeometry;

/// Pieces hashed per `Check` job (several jobs run in parallel on the runtime's workers).
const CHECK_BATCH: usize = 64;

/// Why [`Session::set_metadata`] refused the metadata.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum MetadataError {
    /// No such torrent.
    UnknownTorrent(TorrentId),
    /// The torrent has its metadata already.
    AlreadyKnown,
    /// The metadata is for another info-hash.
    WrongInfoHash,
}

impl fmt::Display for MetadataError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::UnknownTorrent(t) => write!(f, "no torrent {}", t.0),
            Self::AlreadyKnown => f.write_str("the torrent already has its metadata"),
            Self::WrongInfoHash => f.write_str("the metadata's info-hash is not the torrent's"),
        }
    }
}

impl std::error::Error for MetadataError {}

impl Session {
    pub(super) fn add_torrent_inner(
        &mut self,
        now: Instant,
        source: TorrentSource,
        options: TorrentOptions,
    ) -> Result<TorrentId, AddTorrentError> {
        if self.shutting_down {
            return Err(AddTorrentError::ShuttingDown);
        }
        let info_hash = source.info_hash();
        if self.by_hash.contains_key(&info_hash) {
            return Err(AddTorrentError::Duplicate(info_hash));
        }
        if let TorrentSource::Metainfo(meta) = &source
            && options.file_priorities.len() > meta.files().len()
        {
            return Err(AddTorrentError::FilePriorities {
                files: meta.files().len(),
                given: options.file_priorities.len(),
            });
        }
        self.next_torrent += 1;
        let id = TorrentId(self.next_torrent);
        let torrent = Torrent::new(now, &source, options, &self.config, &mut self.rng);
        self.torrents.insert(id, torrent);
        self.by_hash.insert(info_hash, id);
        self.out.event(Event::TorrentAdded {
            torrent: id,
            info_hash,
        });
        let peers = self.torrents[&id].options.peers.clone();
        self.add_candidates(id, &peers, Source::User);
        match source {
            TorrentSource::Metainfo(meta) => self.init_data(id, meta),
            TorrentSource::Magnet(m) => {
                for p in &m.peers {
                    match p {
                        PeerAddress::Ip(addr) => self.add_candidates(id, &[*addr], Source::User),
                        PeerAddress::Host(host, port) => {
                            let (host, port) = (host.clone(), *port);
                            self.trackers
                                .resolve_peer_host(id, host, port, &mut self.out);
                        }
                    }
                }
                if self.torrents[&id].hold {
                    self.stop_held_magnet(id);
                } else {
                    self.start_swarm(now, id);
                }
            }
        }
        Ok(id)
    }

    /// Creates the metadata-dependent state and starts the check: storage, then stamps.
    pub(super) fn init_data(&mut self, id: TorrentId, meta: Arc<Metainfo>) {
        let seed = self.rng.next_u64();
        let Some(t) = self.torrents.get_mut(&id) else {
            return;
        };
        let layout = meta.layout().clone();
        let mut picker = Picker::new(&layout, self.config.picker.clone(), seed);
        if !t.options.file_priorities.is_empty() || t.options.first_last_pieces {
            picker.set_priorities(&wanted_pieces(&layout, &t.options));
        }
        picker.set_sequential(t.options.sequential);
        let n = layout.piece_count();
        if meta.is_private() && !t.private {
            // BEP 27 learnt late (a magnet): PEX stops in both directions.
            t.pex = PexPool::new(PexConfig::new(true));
        }
        t.private = meta.is_private();
        t.fetcher = None;
        // Info bytes beyond what ut_metadata can carry are simply not served.
        let _ = t
            .server
            .set_info(bytes::Bytes::copy_from_slice(meta.info_bytes()));
        t.data = Some(Data {
            bits: PieceSet::new(n),
            pipeline: PiecePipeline::new(n),
            resume: t.options.resume.take(),
            picker,
            meta: meta.clone(),
        });
        t.stage = Stage::Stamps;
        let paths = meta.files().iter().map(|f| f.path.clone()).collect();
        self.out.action(Action::OpenStorage {
            torrent: id,
            layout,
            paths,
        });
        self.jobs.issue(
            id,
            Job::Stamps(StampsFor::Start),
            &mut self.torrents,
            &mut self.out,
        );
    }

    pub(super) fn set_metadata_inner(
        &mut self,
        now: Instant,
        id: TorrentId,
        meta: Arc<Metainfo>,
    ) -> Result<(), MetadataError> {
        let t = self
            .torrents
            .get(&id)
            .ok_or(MetadataError::UnknownTorrent(id))?;
        if t.data.is_some() {
            return Err(MetadataError::AlreadyKnown);
        }
        if meta.info_hash() != t.info_hash {
            return Err(MetadataError::WrongInfoHash);
        }
        self.init_data(id, meta.clone());
        self.out.event(Event::MetadataReceived {
            torrent: id,
            metainfo: meta.clone(),
        });
        let geometry = PieceGeometry::of_layout(meta.layout());
        // Peers connected while we had no metadata learn its size from a fresh extended
        // handshake, so they can fetch it from us (our server answers from now on).
        let size = self
            .torrents
            .get(&id)
            .and_then(|t| t.server.metadata_size());
        for conn in self.peers.ids_of(id) {
            if let Some(p) = self.peers.get_mut(conn) {
                let _ = p.conn.set_geometry(now, geometry);
                if let Some(size) = size {
                    let _ = p.conn.set_metadata_size(now, size);
                }
            }
            self.register_with_picker(now, conn);
            self.drive(now, conn);
        }
        if meta.is_private()
            && let Some(t) = self.torrents.get_mut(&id)
        {
            t.next_dht = None;
        }
        Ok(())
    }

    /// The files' stamps arrived at start: trust what they allow (see
    /// [`Torrent::plan_check`]), then check the rest with `Check` jobs or run.
    pub(super) fn start_stamps(
        &mut self,
        now: Instant,
        id: TorrentId,
        stamps: &[Option<FileStamp>],
    ) {
        let Some(pieces) = self
            .torrents
            .get_mut(&id)
            .and_then(|t| t.plan_check(stamps))
        else {
            return;
        };
        if pieces.is_empty() {
            self.finish_check(now, id);
            return;
        }
        self.out.event(Event::Checking {
            torrent: id,
            pieces: pieces.len() as u32,
        });
        for batch in pieces.chunks(CHECK_BATCH) {
            if let Some(d) = self.torrents.get_mut(&id).and_then(|t| t.data.as_mut()) {
                d.pipeline.checks += 1;
            }
            let job = Job::Check {
                pieces: batch.to_vec(),
            };
            self.jobs.issue(id, job, &mut self.torrents, &mut self.out);
        }
    }

    /// A `Check` job finished with the pieces found good.
    pub(super) fn check_done(&mut self, now: Instant, id: TorrentId, good: &[u32], hashed: u32) {
        if self
            .torrents
            .get_mut(&id)
            .is_some_and(|t| t.check_done(good, hashed))
        {
            self.finish_check(now, id);
        }
    }

    /// The start check is over: run (or stop, if held).
    pub(super) fn finish_check(&mut self, now: Instant, id: TorrentId) {
        let Some(t) = self.torrents.get_mut(&id) else {
            return;
        };
        if !matches!(t.stage, Stage::Stamps | Stage::Checking) {
            return;
        }
        let swarm_started = t.swarm_started;
        t.stage = Stage::Running;
        let Some(d) = t.data.as_mut() else {
            return;
        };
        let have = d.picker.have().count();
        let finished = d.picker.is_finished();
        let have_list: Vec<u32> = d.picker.have().iter().collect();
        self.out.event(Event::Checked { torrent: id, have });
        if finished && !t.complete_sent {
            self.out.event(Event::TorrentComplete { torrent: id });
        }
        t.complete_sent |= finished;
        if std::mem::take(&mut t.hold) {
            // Checked while stopped: stop again (the stop saves what the check found).
            self.begin_stop(now, id);
            return;
        }
        // A seed-only torrent writes nothing (its directory may well be read-only).
        let create = if finished || t.options.seed_only {
            Vec::new()
        } else {
            files_to_create(d.meta.layout(), &t.options.file_priorities, d.picker.have())
        };
        if !create.is_empty() {
            self.jobs.issue(
                id,
                Job::Create { files: create },
                &mut self.torrents,
                &mut self.out,
            );
        }
        // Connections opened before the metadata (magnet) learn our pieces now.
        for conn in self.peers.ids_of(id) {
            if let Some(p) = self.peers.get_mut(conn)
                && p.established
            {
                for &piece in &have_list {
                    let _ = p.conn.send_have(now, piece);
                }
            }
            self.update_interest(now, conn);
            self.drive(now, conn);
        }
        if !swarm_started {
            self.start_swarm(now, id);
        }
        self.rechoke(now, id);
        self.fill_all(now, id);
    }

    /// Sets a torrent's file priorities (see [`Session::set_file_priorities`]).
    pub(super) fn change_file_priorities(
        &mut self,
        now: Instant,
        id: TorrentId,
        priorities: Vec<Priority>,
    ) -> Result<(), ChangeError> {
        let t = self
            .torrents
            .get_mut(&id)
            .ok_or(ChangeError::UnknownTorrent(id))?;
        if let Some(d) = &t.data
            && priorities.len() > d.meta.files().len()
        {
            return Err(ChangeError::FilePriorities {
                files: d.meta.files().len(),
                given: priorities.len(),
            });
        }
        t.options.file_priorities = priorities;
        let Some(d) = t.data.as_mut() else {
            return Ok(());
        };
        let layout = d.meta.layout();
        d.picker.set_priorities(&wanted_pieces(layout, &t.options));
        if t.stage != Stage::Running {
            // The end of the check looks at the priorities.
            return Ok(());
        }
        if d.picker.is_finished() {
            self.torrent_finished(now, id);
        } else {
            // A file wanted again: downloading until it too is verified.
            t.complete_sent = false;
            let create = files_to_create(layout, &t.options.file_priorities, d.picker.have());
            if !create.is_empty() {
                let job = Job::Create { files: create };
                self.jobs.issue(id, job, &mut self.torrents, &mut self.out);
            }
        }
        for conn in self.peers.ids_of(id) {
            self.update_interest(now, conn);
        }
        self.fill_all(now, id);
        Ok(())
    }

    /// A magnet added stopped: nothing to check, so it is stopped at once.
    fn stop_held_magnet(&mut self, id: TorrentId) {
        let Some(t) = self.torrents.get_mut(&id) else {
            return;
        };
        t.hold = false;
        t.stage = Stage::Stopped;
        t.announce_stopped = true;
        if self.by_hash.get(&t.info_hash) == Some(&id) {
            self.by_hash.remove(&t.info_hash);
        }
        self.out.event(Event::TorrentStopped { torrent: id });
    }

    /// Announces and schedules DHT lookups.
    pub(super) fn start_swarm(&mut self, now: Instant, id: TorrentId) {
        let dht = self.dht.is_some();
        let Some(t) = self.torrents.get_mut(&id) else {
            return;
        };
        t.swarm_started = true;
        if t.options.no_outbound {
            return;
        }
        if let Some(a) = t.announcer.as_mut() {
            a.start(now);
        }
        if dht && !t.private {
            t.next_dht = Some(now);
        }
        self.pump_announcer(now, id);
    }

    /// Every wanted piece is verified (during the download).
    pub(super) fn torrent_finished(&mut self, now: Instant, id: TorrentId) {
        let Some(t) = self.torrents.get_mut(&id) else {
            return;
        };
        if t.complete_sent {
            return;
        }
        t.complete_sent = true;
        if let Some(a) = t.announcer.as_mut() {
            a.complete(now);
        }
        self.out.event(Event::TorrentComplete { torrent: id });
        self.pump_announcer(now, id);
        // Flush and save at once: a finished download should survive a crash.
        self.jobs.start_save(id, &mut self.torrents, &mut self.out);
        if self.torrents[&id].is_seed() {
            for conn in self.peers.ids_of(id) {
                if self.peers.get(conn).is_some_and(|p| p.seed) {
                    self.close_conn(now, conn, PeerCloseReason::BothSeeds);
                }
            }
        }
        self.rechoke(now, id);
    }

    /// Starts stopping a torrent.
    pub(super) fn begin_stop(&mut self, now: Instant, id: TorrentId) {
        let deadline = now + self.config.shutdown_timeout;
        let Some(t) = self.torrents.get_mut(&id) else {
            return;
        };
        if !t.is_active() {
            return;
        }
        // A torrent leaving the session saves no resume data (the runtime deletes it).
        t.stage = Stage::Stopping {
            deadline,
            saved: t.data.is_none() || t.after_stop == AfterStop::Remove,
        };
        t.next_dht = None;
        if let Some(a) = t.announcer.as_mut() {
            a.stop(now);
        }
        self.by_hash.remove(&t.info_hash);
        self.pump_announcer(now, id);
        for conn in self.peers.ids_of(id) {
            self.close_conn(now, conn, PeerCloseReason::Stopped);
        }
        for conn in self.peers.dialing_of(id) {
            self.peers.end_dial(conn);
            self.out.action(Action::Close { conn });
        }
    }

    /// Starts the shutdown (once): every torrent stops, within `shutdown_timeout`.
    pub(super) fn begin_shutdown(&mut self, now: Instant) {
        if self.shutting_down {
            return;
        }
        self.shutting_down = true;
        self.timers
            .set(Timer::Shutdown, now + self.config.shutdown_timeout);
        self.timers.stop(Timer::DhtSave);
        let ids: Vec<TorrentId> = self.torrents.keys().copied().collect();
        for id in ids {
            self.begin_stop(now, id);
        }
    }

    /// Advances stopping torrents and the shutdown.
    pub(super) fn progress_stops(&mut self, now: Instant) {
        let ids: Vec<TorrentId> = self.torrents.keys().copied().collect();
        for id in ids {
            let was_stopping = self
                .torrents
                .get(&id)
                .is_some_and(|t| matches!(t.stage, Stage::Stopping { .. }));
            if !was_stopping {
                continue;
            }
            if self
                .torrents
                .get_mut(&id)
                .is_some_and(|t| t.progress_stop(now, id, &mut self.out))
            {
                self.jobs.start_save(id, &mut self.torrents, &mut self.out);
            }
            let then = match self.torrents.get_mut(&id) {
                Some(t) if t.stage == Stage::Stopped => std::mem::take(&mut t.after_stop),
                _ => continue,
            };
            self.stopped(now, id, then);
        }
        if let Some(deadline) = self.timers.get(Timer::Shutdown) {
            let all_stopped = self.torrents.values().all(|t| t.stage == Stage::Stopped);
            if all_stopped || now >= deadline {
                self.shutdown_done = true;
                self.timers.stop(Timer::Shutdown);
                self.save_dht_state(now);
                self.out.event(Event::ShutdownComplete);
            }
        }
    }
}

impl Torrent {
    /// Advances a stopping torrent (`id`): stopped once saved and its trackers told (or at
    /// its deadline). Returns whether to save first: everything is written and verified.
    fn progress_stop(&mut self, now: Instant, id: TorrentId, out: &mut Outputs) -> bool {
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

/// Each piece's priority from the torrent's file priorities and its first-and-last-pieces
/// option.
fn wanted_pieces(layout: &Layout, options: &TorrentOptions) -> Vec<Priority> {
    if options.first_last_pieces {
        piece_priorities_first_last(layout, &options.file_priorities)
    } else {
        piece_priorities(layout, &options.file_priorities)
    }
}

/// The files a download will write that may not exist yet: wanted (not skipped), not padding,
/// not empty, and with a piece still missing.
fn files_to_create(layout: &Layout, priorities: &[Priority], have: &PieceSet) -> Vec<usize> {
    layout
        .files()
        .iter()
        .enumerate()
        .filter(|(i, f)| {
            !f.padding
                && f.length > 0
                && priorities.get(*i).copied().unwrap_or_default() != Priority::Skip
                && layout.file_pieces(*i).any(|p| !have.contains(p))
        })
        .map(|(i, _)| i)
        .collect()
}
