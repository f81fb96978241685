//! The released torrent (issue 25): a complete torrent that has run without a connection for
//! its [`TorrentOptions::release_idle_after`](crate::session::TorrentOptions) drops its
//! metainfo (piece hashes, file layout), picker, piece pipeline and per-peer parts (candidates,
//! [`peering`](super::peering): peer exchange pool, departed peers, merkle trees), its
//! choker's state (made again from its seed at its first use after the load) and keeps a compact
//! record of what its statistics, snapshots and announces read. It goes on announcing
//! (`left` 0) and accepting peers: an inbound handshake naming it is held (not answered)
//! while the runtime loads its metainfo back
//! ([`Action::LoadMetainfo`](crate::session::Action::LoadMetainfo)); the torrent then takes
//! it as complete without a check (it was verified and nothing wrote to it since), and the
//! held connections get their handshake. A start or recheck that needs the metainfo waits
//! for the same load.

use std::sync::Arc;
use std::time::{Duration, Instant};

use super::{Data, Stage, Torrent};
use crate::metainfo::Metainfo;
use crate::picker::{Picker, Priority};
use crate::pieces::PieceSet;
use crate::session::SessionConfig;
use crate::session::io::ConnId;
use crate::session::pipeline::PiecePipeline;

/// Inbound connections held per released torrent while its metainfo loads; more are
/// refused ([`PeerCloseReason::Limit`](crate::session::PeerCloseReason::Limit)). (All held
/// connections also count among the session's pending inbound ones, whose limit is
/// [`SessionConfig::max_pending_inbound`], and each closes at its handshake timeout.)
pub(crate) const MAX_WAITING: usize = 8;

/// How long a load may go unanswered before a newcomer asks for it again.
pub(crate) const LOAD_PATIENCE: Duration = Duration::from_secs(30);

/// What a torrent's statistics read of its pieces: total, wanted and had bytes, pieces had
/// and in all, pieces hashed by the start check.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Figures {
    /// Bytes of its files, padding left out.
    pub(crate) total: u64,
    /// Bytes of its wanted pieces.
    pub(crate) wanted: u64,
    /// Bytes of its verified pieces.
    pub(crate) have_bytes: u64,
    /// Bytes of its wanted verified pieces.
    pub(crate) wanted_have: u64,
    /// Pieces verified.
    pub(crate) have: u32,
    /// Pieces in all.
    pub(crate) count: u32,
    /// Pieces hashed by the start check.
    pub(crate) checked: u32,
}

/// What the application asked of a released torrent while its metainfo loads.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct AfterLoad {
    /// Start it again (it was stopped: its storage is opened from the metainfo).
    pub(crate) start: bool,
    /// Check its data again; then run if `Some(true)`.
    pub(crate) recheck: Option<bool>,
}

/// The compact record of a released torrent.
#[derive(Debug)]
pub(crate) struct Released {
    /// Its pieces (a seed's: a full set holds no words).
    pub(crate) have: PieceSet,
    /// Its statistics' piece figures when released (nothing changes them meanwhile).
    pub(crate) figures: Figures,
    /// Verified bytes of each file, for snapshots.
    pub(crate) file_bytes: Box<[u64]>,
    /// Its load, while one is under way or asked of it (`None`: none; see [`Load`]).
    pub(crate) load: Option<Box<Load>>,
    /// Added so from its saved state, never verified by this process: its load brings its
    /// resume data, and its files' stamps decide whether it is still trusted (see
    /// [`TorrentOptions::saved_complete`](crate::session::TorrentOptions::saved_complete)).
    pub(crate) verify: bool,
}

/// A released torrent's load: boxed, as it exists only from the first peer, start or
/// recheck that needs the metainfo to the answer (a released torrent at rest would carry
/// its 48 bytes inline otherwise).
#[derive(Debug, Default)]
pub(crate) struct Load {
    /// The load was asked for at this instant and is not answered yet.
    pub(crate) asked: Option<Instant>,
    /// Inbound connections whose handshake named it, waiting for the load (at most
    /// [`MAX_WAITING`]).
    pub(crate) waiting: Vec<ConnId>,
    /// What to do once loaded.
    pub(crate) then: AfterLoad,
}

impl Released {
    /// Its load, made now if none is under way (a peer, start or recheck needs it).
    pub(crate) fn load(&mut self) -> &mut Load {
        self.load.get_or_insert_default()
    }

    /// Whether a load was asked for and is not answered yet.
    pub(crate) fn loading(&self) -> bool {
        self.load.as_ref().is_some_and(|l| l.asked.is_some())
    }

    /// What the application asked for once loaded.
    pub(crate) fn then(&self) -> AfterLoad {
        self.load.as_ref().map(|l| l.then).unwrap_or_default()
    }
}

/// Why loaded metainfo cannot be a released torrent's.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Mismatch {
    /// Its info-hashes are another torrent's.
    InfoHash,
    /// Its piece count is not the one released.
    Pieces,
}

/// What a released torrent does once its metainfo is back.
#[derive(Debug, Default)]
pub(crate) struct Reloaded {
    /// The held inbound connections (some may have closed meanwhile).
    pub(crate) waiting: Vec<ConnId>,
    /// What the application asked meanwhile.
    pub(crate) then: AfterLoad,
}

impl From<Option<Box<Load>>> for Reloaded {
    fn from(load: Option<Box<Load>>) -> Self {
        load.map(|l| Self {
            waiting: l.waiting,
            then: l.then,
        })
        .unwrap_or_default()
    }
}

impl Torrent {
    /// When it is to be released, if it may be: running (not held), complete, without a
    /// connection (its choker asleep since `quiet_since`), the pipeline idle, nothing
    /// fetched, and releasing asked for in its options.
    pub(crate) fn release_due(&self) -> Option<Instant> {
        let after = self.options.release_idle_after?;
        let d = self.data.as_ref()?;
        let p = &d.pipeline;
        let idle = p.outstanding == 0
            && p.unwritten == 0
            && !p.dirty
            && !p.saving
            && !p.flushing
            && p.checks == 0
            && p.unflushed.count() == 0;
        let quiet = self.stage == Stage::Running
            && self.choke_asleep
            && !self.hold
            && self.layers.is_none()
            && self.fetcher.is_none()
            && self.peering.no_leaf_checks();
        (quiet && idle && self.is_seed() && self.is_finished())
            .then(|| self.quiet_since.checked_add(after))
            .flatten()
    }

    /// Whether its metainfo is released.
    pub(crate) fn is_released(&self) -> bool {
        self.released.is_some()
    }

    /// Releases its metainfo, per-peer parts and choker state, keeping the compact record (call when
    /// [`Torrent::release_due`] has passed and it has no connection at all; its rate meters'
    /// windows, empty by `now`, go too). Returns whether it was released.
    pub(crate) fn release(&mut self, now: Instant) -> bool {
        if self.released.is_some() || self.data.is_none() {
            return false;
        }
        let figures = self.figures();
        let file_bytes = self.file_bytes().into_boxed_slice();
        let Some(d) = self.data.take() else {
            return false;
        };
        self.released = Some(Box::new(Released {
            have: d.picker.have().clone(),
            figures,
            file_bytes,
            load: None,
            verify: false,
        }));
        self.peering.clear();
        // A change of behaviour: its next choker starts anew (see `Choker::forget`).
        self.choker.forget();
        self.candidates.forget_all();
        self.down.settle(now);
        self.up.settle(now);
        self.release_idle();
        true
    }

    /// Whether a load must be asked for now (none asked, or the last one is past its
    /// patience at `now`); marks it asked.
    pub(crate) fn ask_load(&mut self, now: Instant) -> bool {
        let Some(r) = self.released.as_mut() else {
            return false;
        };
        let load = r.load();
        let ask = (load.asked)
            .is_none_or(|at| at.checked_add(LOAD_PATIENCE).is_none_or(|due| due <= now));
        if ask {
            load.asked = Some(now);
        }
        ask
    }

    /// A torrent just added from its saved state as complete (see
    /// [`TorrentOptions::saved_complete`](crate::session::TorrentOptions::saved_complete)):
    /// released from the start with every piece, its figures and file sizes from `meta`,
    /// running and seeding without a check. Its resume data is not read until it loads.
    pub(crate) fn adopt_saved(&mut self, meta: &Metainfo) {
        let layout = meta.layout();
        let n = layout.piece_count();
        let total = layout.data_length();
        self.released = Some(Box::new(Released {
            have: PieceSet::full(n),
            figures: Figures {
                total,
                wanted: total,
                have_bytes: total,
                wanted_have: total,
                have: n,
                count: n,
                checked: 0,
            },
            file_bytes: layout.files().iter().map(|f| f.length).collect(),
            load: None,
            verify: true,
        }));
        self.resume = None;
        self.stage = Stage::Running;
        self.complete_sent = true;
    }

    /// Whether its record was added from saved state and must be verified at its load.
    pub(crate) fn must_verify(&self) -> bool {
        self.released.as_ref().is_some_and(|r| r.verify)
    }

    /// Whether `meta` can be its metainfo (its hashes and piece count).
    fn fits(&self, meta: &Metainfo) -> Result<(), Mismatch> {
        let Some(r) = self.released.as_ref() else {
            return Ok(());
        };
        if !self.hashes.agree(&meta.info_hashes()) {
            return Err(Mismatch::InfoHash);
        }
        if meta.layout().piece_count() != r.have.len() {
            return Err(Mismatch::Pieces);
        }
        Ok(())
    }

    /// Takes `meta` back for a torrent released from its saved state (see
    /// [`Released::verify`]): the record goes and `resume` waits for the files' stamps (the
    /// caller starts the check: storage, then stamps); what waited for it is returned.
    pub(crate) fn reload_unverified(
        &mut self,
        meta: &Metainfo,
        resume: Option<Vec<u8>>,
    ) -> Result<Reloaded, Mismatch> {
        self.fits(meta)?;
        let Some(r) = self.released.take() else {
            return Ok(Reloaded::default());
        };
        self.resume = resume.map(Vec::into_boxed_slice);
        Ok(Reloaded::from(r.load))
    }

    /// Takes `meta` back as its metainfo: complete, as released, without a check (picker
    /// drawn from `seed`). The record goes; what waited for it is returned.
    pub(crate) fn reload(
        &mut self,
        meta: Arc<Metainfo>,
        seed: u64,
        config: &SessionConfig,
    ) -> Result<Reloaded, Mismatch> {
        self.fits(&meta)?;
        let Some(r) = self.released.as_ref() else {
            return Ok(Reloaded::default());
        };
        let layout = meta.layout();
        let mut picker = Picker::new(layout, config.picker.clone(), seed);
        if !self.options.file_priorities.is_empty() || self.options.first_last_pieces {
            picker.set_priorities(&super::life::wanted_pieces(layout, &self.options));
        }
        picker.set_sequential(self.options.sequential);
        let mut pipeline = PiecePipeline::new(layout.piece_count());
        for p in r.have.iter() {
            let _ = picker.piece_passed(p);
            pipeline.recorded.insert(p);
        }
        pipeline.checked = r.figures.checked;
        let Some(r) = self.released.take() else {
            return Ok(Reloaded::default());
        };
        self.data = Some(Box::new(Data {
            bits: picker.have().clone(),
            pipeline,
            resume: None,
            verify: false,
            held: None,
            picker,
            meta,
        }));
        Ok(Reloaded::from(r.load))
    }

    /// A load failed: the waiting connections are returned (to close); the torrent stays
    /// released, and a later peer or request asks again.
    pub(crate) fn load_failed(&mut self) -> Vec<ConnId> {
        let Some(r) = self.released.as_mut() else {
            return Vec::new();
        };
        r.load.take().map(|l| l.waiting).unwrap_or_default()
    }

    /// Its piece figures (see [`Figures`]): from its picker, or its record when released.
    pub(crate) fn figures(&self) -> Figures {
        if let Some(r) = &self.released {
            return r.figures;
        }
        let Some(d) = &self.data else {
            return Figures::default();
        };
        let layout = d.meta.layout();
        let mut f = Figures {
            total: layout.data_length(),
            have: d.picker.have().count(),
            count: d.picker.piece_count(),
            checked: d.pipeline.checked,
            ..Figures::default()
        };
        for p in 0..d.picker.piece_count() {
            let len = u64::from(layout.piece_data_len(p));
            let is_wanted = d.picker.priority(p) != Priority::Skip;
            let is_had = d.picker.have().contains(p);
            f.wanted += if is_wanted { len } else { 0 };
            f.have_bytes += if is_had { len } else { 0 };
            f.wanted_have += if is_wanted && is_had { len } else { 0 };
        }
        f
    }
}

#[cfg(test)]
#[path = "released_tests.rs"]
mod tests;
