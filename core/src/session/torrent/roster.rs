//! The torrents as the session's tables see them: adding one (ids, the info-hash index),
//! taking a stopped one back, dropping one, and a stop's steps that touch the index or the
//! disk jobs. Only active torrents are found by info-hash (inbound handshakes, the DHT).

use std::time::Instant;

use super::table::Torrents;
use super::{AfterStop, Stage, Torrent};
use crate::id::{InfoHash, InfoHashes};
use crate::rng::Rng;
use crate::session::SessionConfig;
use crate::session::budget::AnnounceBudget;
use crate::session::config::{AddTorrentError, TorrentOptions, TorrentSource};
use crate::session::control::ControlError;
use crate::session::event::Event;
use crate::session::io::TorrentId;
use crate::session::outputs::Outputs;
use crate::session::pipeline::Jobs;
use crate::wire::mse::req2_of;

impl Torrents {
    /// The active torrent with `info_hash`.
    pub(crate) fn by_hash(&self, info_hash: &InfoHash) -> Option<TorrentId> {
        self.by_hash.get(info_hash).copied()
    }

    /// The active torrent an encrypted handshake names by `HASH("req2", info_hash)`.
    pub(crate) fn by_req2(&self, req2: &[u8; 20]) -> Option<TorrentId> {
        self.by_req2.get(req2).copied()
    }

    /// No active torrent has `info_hash` any more.
    fn delist(&mut self, info_hash: InfoHash) {
        self.by_hash.remove(&info_hash);
        self.by_req2.remove(&req2_of(&info_hash));
    }

    /// Adds a torrent from `source` (a duplicate info-hash, or more file priorities than
    /// files, is refused) and reports it.
    pub(crate) fn add(
        &mut self,
        now: Instant,
        source: &TorrentSource,
        options: TorrentOptions,
        config: &SessionConfig,
        rng: &mut Rng,
        out: &mut Outputs,
    ) -> Result<TorrentId, AddTorrentError> {
        let info_hash = source.info_hash();
        let ids = std::iter::once(info_hash).chain(source.info_hashes().handshake_ids());
        if let Some(taken) = ids.into_iter().find(|h| self.by_hash.contains_key(h)) {
            return Err(AddTorrentError::Duplicate(taken));
        }
        if let TorrentSource::Metainfo(meta) = source
            && options.file_priorities.len() > meta.files().len()
        {
            return Err(AddTorrentError::FilePriorities {
                files: meta.files().len(),
                given: options.file_priorities.len(),
            });
        }
        self.last_id += 1;
        let id = TorrentId(self.last_id);
        let torrent = Torrent::new(now, source, options, config, rng, &mut self.shared);
        self.insert(id, torrent);
        self.list(id);
        out.event(Event::TorrentAdded {
            torrent: id,
            info_hash,
        });
        Ok(id)
    }

    /// Takes a stopped torrent back into the info-hash index and resets its swarm state.
    pub(crate) fn rejoin(
        &mut self,
        now: Instant,
        id: TorrentId,
        config: &SessionConfig,
    ) -> Result<(), ControlError> {
        let t = self.known(id)?;
        let taken = t
            .handshake_ids()
            .find(|h| self.by_hash.get(h).is_some_and(|other| *other != id));
        if let Some(info_hash) = taken {
            return Err(ControlError::Duplicate(info_hash));
        }
        self.list(id);
        if let Some(t) = self.get_mut(&id) {
            t.rejoin(now, config);
        }
        Ok(())
    }

    /// Drops a stopped torrent and reports it.
    pub(crate) fn forget(&mut self, id: TorrentId, out: &mut Outputs) {
        let Some(t) = self.remove(&id) else {
            return;
        };
        for h in t.handshake_ids() {
            self.unlist_hash(id, h);
        }
        out.event(Event::TorrentRemoved {
            torrent: id,
            info_hash: t.info_hash,
        });
    }

    /// A torrent's metadata arrived with `hashes` (a `btmh`-only magnet of a hybrid learns its
    /// v1 hash): peers may name it by the new one too, if it is listed.
    pub(crate) fn learn_hashes(&mut self, id: TorrentId, hashes: InfoHashes) {
        let Some(t) = self.get_mut(&id) else {
            return;
        };
        let new = hashes.v1.is_some() && t.hashes.v1.is_none()
            || hashes.v2.is_some() && t.hashes.v2.is_none();
        if !new {
            return;
        }
        t.hashes = hashes;
        let info_hash = t.info_hash;
        if self.by_hash.get(&info_hash) == Some(&id) {
            self.list(id);
        }
    }

    /// Lists torrent `id` in the index under each hash peers may name it by (a hash another
    /// torrent holds stays that torrent's).
    fn list(&mut self, id: TorrentId) {
        let Some(t) = self.get(&id) else {
            return;
        };
        let ids: Vec<InfoHash> = t.handshake_ids().collect();
        for h in ids {
            if *self.by_hash.entry(h).or_insert(id) == id {
                self.by_req2.insert(req2_of(&h), id);
            }
        }
    }

    /// Removes torrent `id`'s hashes from the index.
    fn unlist(&mut self, id: TorrentId) {
        let Some(t) = self.get(&id) else {
            return;
        };
        let ids: Vec<InfoHash> = t.handshake_ids().collect();
        for h in ids {
            self.unlist_hash(id, h);
        }
    }

    /// Removes `info_hash` from the index if it names `id`.
    fn unlist_hash(&mut self, id: TorrentId, info_hash: InfoHash) {
        if self.by_hash.get(&info_hash) == Some(&id) {
            self.delist(info_hash);
        }
    }

    /// A magnet added stopped: nothing to check, so it is stopped at once.
    pub(crate) fn stop_held(&mut self, id: TorrentId, out: &mut Outputs) {
        let Some(t) = self.get_mut(&id) else {
            return;
        };
        t.stop_held();
        self.unlist(id);
        out.event(Event::TorrentStopped { torrent: id });
    }

    /// Starts stopping a torrent (see [`Torrent::begin_stop`]); it leaves the info-hash
    /// index. Returns whether it was active.
    pub(crate) fn begin_stop(&mut self, now: Instant, id: TorrentId, deadline: Instant) -> bool {
        let Some(t) = self.get_mut(&id) else {
            return false;
        };
        if !t.begin_stop(now, deadline) {
            return false;
        }
        self.unlist(id);
        true
    }

    /// Advances a stopping torrent (see [`Torrent::progress_stop`]), saving first when it
    /// asks; at its deadline, its `stopped` announce is given up (`budget` told: one never
    /// sent is counted dropped). Returns what to do now that it stopped (`None`: not
    /// stopped). The torrent is listed as changed only when the visit changed it, so that a
    /// visit that finds it still waiting (for its trackers, its save, its deadline) does not
    /// make it due again.
    pub(crate) fn progress_stop(
        &mut self,
        now: Instant,
        id: TorrentId,
        jobs: &mut Jobs,
        budget: &mut AnnounceBudget,
        out: &mut Outputs,
    ) -> Option<AfterStop> {
        self.stop_visited(id);
        let t = self.unlisted_mut(&id)?;
        if !matches!(t.stage, Stage::Stopping { .. }) {
            return None;
        }
        if t.give_up_announce(now) {
            budget.give_up_stop(id);
        }
        let save = t.progress_stop(now, id, out);
        let stopped = t.stage == Stage::Stopped;
        if save || stopped {
            self.get_mut(&id)?;
        }
        if save {
            jobs.start_save(id, self, out);
        }
        match self.unlisted_mut(&id) {
            Some(t) if t.stage == Stage::Stopped => Some(std::mem::take(&mut t.after_stop)),
            _ => None,
        }
    }
}
