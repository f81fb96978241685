//! A torrent's life, as the session carries it out: adding (metainfo or magnet), the
//! metadata arriving, the start check (stamps, resume decision, `Check` jobs), running,
//! stopping, and session shutdown. The torrent's own steps are its own (`torrent::life`);
//! these route what follows to its connections, disk jobs and trackers.

use std::fmt;
use std::sync::Arc;
use std::time::Instant;

use super::Session;
use super::config::{AddTorrentError, TorrentOptions, TorrentSource};
use super::edit::ChangeError;
use super::event::{Event, PeerCloseReason};
use super::io::{Action, TorrentId};
use super::pipeline::{Job, StampsFor};
use super::timers::Timer;
use super::torrent::candidates::Source;
use super::torrent::life::{CheckOver, NewPriorities};
use super::torrent::{Stage, Torrent};
use crate::magnet::PeerAddress;
use crate::metainfo::Metainfo;
use crate::picker::Priority;
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
    /// The metadata describes a v2-only torrent, which cannot be downloaded yet.
    V2OnlyNotSupported,
}

impl fmt::Display for MetadataError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::UnknownTorrent(t) => write!(f, "no torrent {}", t.0),
            Self::AlreadyKnown => f.write_str("the torrent already has its metadata"),
            Self::WrongInfoHash => f.write_str("the metadata's info-hash is not the torrent's"),
            Self::V2OnlyNotSupported => f.write_str(super::config::V2_ONLY_MESSAGE),
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
        if source.is_v2_only() {
            return Err(AddTorrentError::V2OnlyNotSupported);
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

    /// Creates the metadata-dependent state (see [`Torrent::init_data`]) and starts the
    /// check: storage, then stamps.
    pub(super) fn init_data(&mut self, id: TorrentId, meta: Arc<Metainfo>) {
        let seed = self.rng.next_u64();
        let Some(t) = self.torrents.get_mut(&id) else {
            return;
        };
        let open = t.init_data(id, meta, seed, &self.config);
        self.out.action(open);
        let stamps = Job::Stamps(StampsFor::Start);
        self.jobs
            .issue(id, stamps, &mut self.torrents, &mut self.out);
    }

    pub(super) fn set_metadata_inner(
        &mut self,
        now: Instant,
        id: TorrentId,
        meta: Arc<Metainfo>,
    ) -> Result<(), MetadataError> {
        let t = self.torrents.get(&id);
        t.ok_or(MetadataError::UnknownTorrent(id))?
            .accepts_metadata(&meta)?;
        if meta.info_hashes().is_v2_only() {
            return Err(MetadataError::V2OnlyNotSupported);
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

    /// The start check is over (see [`Torrent::finish_check`]): run (or stop, if held).
    pub(super) fn finish_check(&mut self, now: Instant, id: TorrentId) {
        let Some(over) = self
            .torrents
            .get_mut(&id)
            .and_then(|t| t.finish_check(id, &mut self.out))
        else {
            return;
        };
        let CheckOver::Run {
            have,
            create,
            swarm_started,
        } = over
        else {
            self.begin_stop(now, id);
            return;
        };
        if !create.is_empty() {
            let job = Job::Create { files: create };
            self.jobs.issue(id, job, &mut self.torrents, &mut self.out);
        }
        // Connections opened before the metadata (magnet) learn our pieces now.
        for conn in self.peers.ids_of(id) {
            if let Some(p) = self.peers.get_mut(conn)
                && p.established
            {
                for &piece in &have {
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
        let t = self.torrents.get_mut(&id);
        let t = t.ok_or(ChangeError::UnknownTorrent(id))?;
        match t.set_file_priorities(priorities)? {
            None => return Ok(()),
            Some(NewPriorities::Finished) => self.torrent_finished(now, id),
            Some(NewPriorities::Wanted { create }) => {
                if !create.is_empty() {
                    let job = Job::Create { files: create };
                    self.jobs.issue(id, job, &mut self.torrents, &mut self.out);
                }
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
        t.stop_held();
        if self.by_hash.get(&t.info_hash) == Some(&id) {
            self.by_hash.remove(&t.info_hash);
        }
        self.out.event(Event::TorrentStopped { torrent: id });
    }

    /// Announces and schedules DHT lookups.
    pub(super) fn start_swarm(&mut self, now: Instant, id: TorrentId) {
        let dht = self.dht.is_some();
        if self
            .torrents
            .get_mut(&id)
            .is_some_and(|t| t.start_swarm(now, dht))
        {
            self.pump_announcer(now, id);
        }
    }

    /// Every wanted piece is verified (during the download).
    pub(super) fn torrent_finished(&mut self, now: Instant, id: TorrentId) {
        let out = &mut self.out;
        if !self
            .torrents
            .get_mut(&id)
            .is_some_and(|t| t.finish(now, id, out))
        {
            return;
        }
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

    /// Starts stopping a torrent (see [`Torrent::begin_stop`]): its trackers are told, its
    /// connections and dials closed.
    pub(super) fn begin_stop(&mut self, now: Instant, id: TorrentId) {
        let deadline = now + self.config.shutdown_timeout;
        let Some(t) = self.torrents.get_mut(&id) else {
            return;
        };
        if !t.begin_stop(now, deadline) {
            return;
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

#[cfg(test)]
#[path = "v2_add_tests.rs"]
mod v2_add_tests;
