//! Disk bookkeeping: job ids and what each outstanding job was for, per-torrent back-pressure
//! (outstanding jobs and unwritten bytes), and the resume record (a piece is recorded only once
//! verified and then flushed).

use std::collections::{BTreeMap, BTreeSet};
use std::time::Instant;

use super::Session;
use super::event::Event;
use super::io::{Action, Completion, CompletionKind, ConnId, DiskJobKind, JobId, TorrentId};
use crate::picker::PieceSet;
use crate::storage::{ResumeData, StorageError};
use crate::wire::BlockRef;

/// Why a `Stamps` job was asked for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum StampsFor {
    /// At start: decide what resume data can trust and what to check.
    Start,
    /// To save resume data (after a flush).
    Save,
}

/// What an outstanding job was for.
#[derive(Clone, Debug)]
pub(crate) enum JobMeta {
    Write {
        piece: u32,
        len: u64,
    },
    /// Consecutive blocks of one piece, read by one job.
    Read {
        conn: ConnId,
        blocks: Vec<BlockRef>,
    },
    Verify {
        piece: u32,
    },
    /// The pieces a completed flush makes durable; `save`: a resume save follows.
    Flush {
        pieces: PieceSet,
        save: bool,
    },
    Check,
    /// Files created ahead of the download.
    Create,
    Stamps(StampsFor),
    /// Block digests for the smart ban.
    BlockDigests {
        piece: u32,
        why: DigestsFor,
    },
}

/// Why a `BlockDigests` job was asked for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum DigestsFor {
    /// The piece failed its hash: record who sent what, then download it again. The picker is
    /// told of the failure only when the digests are in, so no block of the re-download can be
    /// written over the bad data before it is read.
    Failed,
    /// The piece passed after failing before: find the peers whose blocks differed.
    Passed,
}

/// Every outstanding disk job of the session.
#[derive(Debug, Default)]
pub(crate) struct Jobs {
    next: u64,
    jobs: BTreeMap<JobId, (TorrentId, JobMeta)>,
}

impl Jobs {
    pub(crate) fn alloc(&mut self, torrent: TorrentId, meta: JobMeta) -> JobId {
        self.next += 1;
        let id = JobId(self.next);
        self.jobs.insert(id, (torrent, meta));
        id
    }

    pub(crate) fn take(&mut self, id: JobId) -> Option<(TorrentId, JobMeta)> {
        self.jobs.remove(&id)
    }

    /// The torrent a job in flight belongs to.
    pub(crate) fn torrent_of(&self, id: JobId) -> Option<TorrentId> {
        self.jobs.get(&id).map(|(t, _)| *t)
    }
}

/// One torrent's disk state.
#[derive(Debug)]
pub(crate) struct TorrentDisk {
    /// Jobs in flight.
    pub(crate) outstanding: usize,
    /// Received bytes whose write has not completed.
    pub(crate) unwritten: u64,
    /// Pieces with every block received: writes still in flight per piece.
    pub(crate) writes_per_piece: BTreeMap<u32, u32>,
    /// Complete pieces waiting for their writes before `Verify`.
    pub(crate) complete: BTreeSet<u32>,
    /// Verified, not yet covered by a flush.
    pub(crate) unflushed: PieceSet,
    /// Bytes of `unflushed`.
    pub(crate) unflushed_bytes: u64,
    /// Verified and flushed: what resume data may record.
    pub(crate) recorded: PieceSet,
    /// A flush is in flight.
    pub(crate) flushing: bool,
    /// A save (flush → stamps → SaveResume) is in progress.
    pub(crate) saving: bool,
    /// A save was asked for while a background flush ran: start it when the flush ends (one
    /// flush at a time, so a flush never reports data durable that another is still syncing).
    pub(crate) save_after_flush: bool,
    /// `recorded` changed since the last save.
    pub(crate) dirty: bool,
    /// Check jobs in flight during the start check.
    pub(crate) checks: u32,
    /// Pieces hashed by the start check so far.
    pub(crate) checked: u32,
}

impl TorrentDisk {
    pub(crate) fn new(piece_count: u32) -> Self {
        Self {
            outstanding: 0,
            unwritten: 0,
            writes_per_piece: BTreeMap::new(),
            complete: BTreeSet::new(),
            unflushed: PieceSet::new(piece_count),
            unflushed_bytes: 0,
            recorded: PieceSet::new(piece_count),
            flushing: false,
            saving: false,
            save_after_flush: false,
            dirty: false,
            checks: 0,
            checked: 0,
        }
    }

    /// Whether the disk is behind on reads and hash checks: stop requesting blocks. (Writes
    /// are bounded by pausing reads instead: see `receive_flow`.)
    pub(crate) fn is_behind(&self, max_jobs: usize) -> bool {
        self.outstanding >= max_jobs
    }

    /// A write of `len` bytes of `piece` was issued.
    pub(crate) fn write_issued(&mut self, piece: u32, len: u64) {
        self.outstanding += 1;
        self.unwritten += len;
        *self.writes_per_piece.entry(piece).or_insert(0) += 1;
    }

    /// A write finished. Returns whether the piece is complete and now fully written (verify
    /// it).
    pub(crate) fn write_done(&mut self, piece: u32, len: u64) -> bool {
        self.outstanding = self.outstanding.saturating_sub(1);
        self.unwritten = self.unwritten.saturating_sub(len);
        let left = match self.writes_per_piece.get_mut(&piece) {
            Some(n) => {
                *n = n.saturating_sub(1);
                *n
            }
            None => 0,
        };
        if left == 0 {
            self.writes_per_piece.remove(&piece);
            return self.complete.remove(&piece);
        }
        false
    }

    /// Every block of `piece` arrived. Returns whether its writes are all done already (verify
    /// it now).
    pub(crate) fn piece_complete(&mut self, piece: u32) -> bool {
        if self.writes_per_piece.contains_key(&piece) {
            self.complete.insert(piece);
            false
        } else {
            true
        }
    }

    /// A piece of `len` bytes passed its hash check: it waits for the next flush to be
    /// recorded.
    pub(crate) fn verified(&mut self, piece: u32, len: u64) {
        if self.unflushed.insert(piece) {
            self.unflushed_bytes += len;
        }
    }

    /// Whether a background flush is due: enough verified bytes wait and no flush or save
    /// runs.
    pub(crate) fn flush_due(&self, every: u64) -> bool {
        self.unflushed_bytes >= every && !self.flushing && !self.saving
    }

    /// Takes the pieces a flush issued now will make durable.
    pub(crate) fn take_unflushed(&mut self) -> PieceSet {
        let n = self.unflushed.len();
        self.unflushed_bytes = 0;
        std::mem::replace(&mut self.unflushed, PieceSet::new(n))
    }

    /// A flush covering `pieces` completed: they are recorded.
    pub(crate) fn flushed(&mut self, pieces: &PieceSet) {
        self.flushing = false;
        for p in pieces.iter() {
            if self.recorded.insert(p) {
                self.dirty = true;
            }
        }
    }
}

impl Session {
    /// A disk job finished. Whatever its kind, if it ends the disk back-pressure the
    /// torrent's peers are refilled: requests stopped while the disk was behind, and the
    /// peers' pipelines may have drained meanwhile, so no block arrival would refill them.
    pub(super) fn completion(&mut self, now: Instant, done: Completion) {
        let Some(id) = self.jobs.torrent_of(done.id) else {
            return;
        };
        let was_behind = self.disk_behind(id);
        self.complete_job(now, done);
        if was_behind && !self.disk_behind(id) {
            self.fill_all(now, id);
        }
    }

    fn disk_behind(&self, id: TorrentId) -> bool {
        self.torrents
            .get(&id)
            .and_then(|t| t.data.as_ref())
            .is_some_and(|d| d.disk.is_behind(self.config.max_disk_jobs))
    }

    fn complete_job(&mut self, now: Instant, done: Completion) {
        let Some((id, meta)) = self.jobs.take(done.id) else {
            return;
        };
        if let Some(d) = self.torrents.get_mut(&id).and_then(|t| t.data.as_mut())
            && !matches!(meta, JobMeta::Write { .. })
        {
            d.disk.outstanding = d.disk.outstanding.saturating_sub(1);
        }
        let result = match done.result {
            Ok(kind) => kind,
            Err(error) => return self.job_failed(now, id, meta, &error),
        };
        match (meta, result) {
            (JobMeta::Write { piece, len }, _) => {
                let Some(d) = self.torrents.get_mut(&id).and_then(|t| t.data.as_mut()) else {
                    return;
                };
                if d.disk.write_done(piece, len) {
                    self.verify(id, piece);
                }
                self.resume_if_unwritten_drained(now, id);
            }
            (JobMeta::Read { conn, blocks }, CompletionKind::Read(bytes)) => {
                self.read_done(now, conn, &blocks, Some(bytes));
            }
            (JobMeta::Verify { piece }, CompletionKind::Verified(ok)) => {
                let active = self.torrents.get(&id).is_some_and(|t| t.is_active());
                if ok {
                    self.piece_passed(now, id, piece);
                } else if active {
                    self.disk_job(
                        id,
                        JobMeta::BlockDigests {
                            piece,
                            why: DigestsFor::Failed,
                        },
                        DiskJobKind::BlockDigests { piece },
                    );
                }
            }
            (JobMeta::Flush { pieces, save }, CompletionKind::Flushed) => {
                let Some(d) = self.torrents.get_mut(&id).and_then(|t| t.data.as_mut()) else {
                    return;
                };
                d.disk.flushed(&pieces);
                if save {
                    self.disk_job(id, JobMeta::Stamps(StampsFor::Save), DiskJobKind::Stamps);
                } else if std::mem::take(&mut d.disk.save_after_flush) {
                    self.start_save(id);
                }
            }
            (JobMeta::BlockDigests { piece, why }, CompletionKind::BlockDigests(digests)) => {
                self.block_digests_done(now, id, piece, why, Some(&digests));
            }
            (JobMeta::Create, CompletionKind::Created) => {}
            (JobMeta::Check, CompletionKind::Checked(good)) => {
                let hashed = good.len() as u32;
                self.check_done(now, id, &good, hashed);
            }
            (JobMeta::Stamps(StampsFor::Start), CompletionKind::Stamps(stamps)) => {
                self.start_stamps(now, id, &stamps);
            }
            (JobMeta::Stamps(StampsFor::Save), CompletionKind::Stamps(stamps)) => {
                let Some(d) = self.torrents.get_mut(&id).and_then(|t| t.data.as_mut()) else {
                    return;
                };
                let data = ResumeData {
                    pieces: d.disk.recorded.clone(),
                    files: stamps,
                }
                .encode();
                d.disk.saving = false;
                d.disk.dirty = false;
                self.actions
                    .push_back(Action::SaveResume { torrent: id, data });
                self.save_finished(id);
            }
            (meta, kind) => {
                self.events.push_back(Event::Error {
                    torrent: Some(id),
                    message: format!("disk job {meta:?} answered with {kind:?}"),
                });
            }
        }
    }

    /// A disk job failed: reads reject the block; anything else stops the torrent (its data
    /// can no longer be trusted to reach the disk).
    fn job_failed(&mut self, now: Instant, id: TorrentId, meta: JobMeta, error: &StorageError) {
        // The smart ban is an extra: without the digests, a failed piece is still downloaded
        // again (and strikes still apply); a passed one just bans nobody.
        if let JobMeta::BlockDigests { piece, why } = meta {
            self.events.push_back(Event::Error {
                torrent: Some(id),
                message: format!("reading piece {piece} back for the smart ban: {error}"),
            });
            return self.block_digests_done(now, id, piece, why, None);
        }
        if let JobMeta::Read { conn, blocks } = meta {
            let piece = blocks.first().map_or(0, |b| b.piece);
            self.events.push_back(Event::Error {
                torrent: Some(id),
                message: format!("reading piece {piece} for upload: {error}"),
            });
            return self.read_done(now, conn, &blocks, None);
        }
        if let (JobMeta::Write { piece, len }, Some(d)) = (
            &meta,
            self.torrents.get_mut(&id).and_then(|t| t.data.as_mut()),
        ) {
            d.disk.write_done(*piece, *len);
            self.resume_if_unwritten_drained(now, id);
        }
        if let Some(d) = self.torrents.get_mut(&id).and_then(|t| t.data.as_mut()) {
            d.disk.saving = false;
            d.disk.flushing = false;
            d.disk.save_after_flush = false;
            if matches!(meta, JobMeta::Check) {
                d.disk.checks = d.disk.checks.saturating_sub(1);
            }
        }
        self.events.push_back(Event::Error {
            torrent: Some(id),
            message: format!("disk error, stopping the torrent: {error}"),
        });
        // A failed save must not keep a stop waiting for it.
        if let Some(t) = self.torrents.get_mut(&id)
            && let super::torrent::Stage::Stopping { deadline, .. } = t.stage
        {
            t.stage = super::torrent::Stage::Stopping {
                deadline,
                saved: true,
            };
        }
        self.begin_stop(now, id);
    }
}

#[cfg(test)]
#[path = "disk_backpressure_tests.rs"]
mod backpressure_tests;

#[cfg(test)]
#[path = "upload_tests.rs"]
mod upload_tests;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verify_waits_for_the_last_write() {
        let mut d = TorrentDisk::new(4);
        d.write_issued(1, 100);
        d.write_issued(1, 100);
        assert!(d.is_behind(2));
        assert!(!d.is_behind(3));
        assert_eq!(d.unwritten, 200);
        assert!(!d.piece_complete(1), "writes pending");
        assert!(!d.write_done(1, 100));
        assert!(d.write_done(1, 100), "last write: verify now");
        assert_eq!(d.unwritten, 0);
        assert_eq!(d.outstanding, 0);
        assert!(d.piece_complete(2), "nothing pending: verify at once");
    }

    #[test]
    fn only_flushed_pieces_are_recorded() {
        let mut d = TorrentDisk::new(4);
        d.verified(0, 10);
        d.verified(2, 10);
        d.verified(2, 10); // counted once
        assert!(d.flush_due(20) && !d.flush_due(21));
        let batch = d.take_unflushed();
        assert!(!d.flush_due(1), "nothing left to flush");
        d.verified(3, 10); // verified after the flush was issued: not covered
        assert_eq!(d.recorded.count(), 0);
        d.flushed(&batch);
        assert!(d.recorded.contains(0) && d.recorded.contains(2));
        assert!(!d.recorded.contains(3));
        assert!(d.dirty);
        assert!(d.unflushed.contains(3));
    }
}
