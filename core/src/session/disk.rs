//! The session's side of the piece pipeline (see [`pipeline`](super::pipeline)): issuing
//! disk jobs, routing each completion to the step that owns it, and the steps that need the
//! rest of the session: verify a piece once written, record it once verified (haves,
//! interest, the picker), flush and save, and stop the torrent when the disk fails.

use std::sync::Arc;
use std::time::Instant;

use super::error::SessionError;
use super::event::{Event, PeerCloseReason};
use super::io::{Action, Completion, DiskJob, TorrentId};
use super::outputs::Outputs;
use super::pipeline::{DigestsFor, Done, FailedJob, Job, Jobs, StampsFor};
use super::torrent::table::Torrents;
use super::torrent::{AfterStop, Stage, Torrent};
use super::{Session, SessionConfig};
use crate::storage::{ResumeData, StorageError};

impl Jobs {
    /// Emits a disk job for torrent `id` and files it until it completes.
    pub(crate) fn issue(
        &mut self,
        id: TorrentId,
        job: Job,
        torrents: &mut Torrents,
        out: &mut Outputs,
    ) {
        if let Some(d) = torrents.get_mut(&id).and_then(|t| t.data.as_mut()) {
            d.pipeline.issued(job.counted());
        }
        let ticket = self.alloc(id);
        out.action(Action::Disk(DiskJob {
            id: ticket.id,
            torrent: id,
            kind: job.issue(ticket),
        }));
    }

    /// Asks for a piece's hash check.
    pub(crate) fn verify(
        &mut self,
        id: TorrentId,
        piece: u32,
        torrents: &mut Torrents,
        out: &mut Outputs,
    ) {
        let Some(expected) = torrents
            .get(&id)
            .and_then(|t| t.data.as_ref())
            .and_then(|d| d.meta.piece_hash(piece).copied())
        else {
            return;
        };
        self.issue(id, Job::Verify { piece, expected }, torrents, out);
    }

    /// Starts a resume save (flush → stamps → SaveResume) unless one is running.
    pub(crate) fn start_save(&mut self, id: TorrentId, torrents: &mut Torrents, out: &mut Outputs) {
        let Some(d) = torrents.get_mut(&id).and_then(|t| t.data.as_mut()) else {
            return;
        };
        if let Some(flush) = d.pipeline.start_save() {
            self.issue(id, flush, torrents, out);
        }
    }

    /// Flushes verified data in the background once enough of it waits (see
    /// [`SessionConfig::flush_every_bytes`]); no resume save follows.
    pub(crate) fn flush_if_due(
        &mut self,
        id: TorrentId,
        torrents: &mut Torrents,
        config: &SessionConfig,
        out: &mut Outputs,
    ) {
        let Some(d) = torrents.get_mut(&id).and_then(|t| t.data.as_mut()) else {
            return;
        };
        if let Some(flush) = d.pipeline.flush_if_due(config.flush_every_bytes) {
            self.issue(id, flush, torrents, out);
        }
    }
}

impl Torrent {
    /// A save finished (SaveResume emitted): a stopping torrent may finish.
    pub(crate) fn save_finished(&mut self) {
        if let Stage::Stopping { deadline, .. } = self.stage
            && self.data.as_ref().is_some_and(|d| d.pipeline.is_settled())
        {
            self.stage = Stage::Stopping {
                deadline,
                saved: true,
            };
        }
    }

    /// Whether the torrent's disk is behind (requests wait).
    pub(crate) fn disk_behind(&self, config: &SessionConfig) -> bool {
        self.data
            .as_ref()
            .is_some_and(|d| d.pipeline.is_behind(config.max_disk_jobs))
    }
}

impl Session {
    /// A disk job finished. Whatever its kind, if it ends the disk back-pressure the
    /// torrent's peers are refilled: requests stopped while the disk was behind, and the
    /// peers' pipelines may have drained meanwhile, so no block arrival would refill them.
    pub(super) fn completion(&mut self, now: Instant, done: Completion) {
        let Some(id) = self.jobs.torrent_of(done.id()) else {
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
            .is_some_and(|t| t.disk_behind(&self.config))
    }

    fn complete_job(&mut self, now: Instant, done: Completion) {
        let (job, outcome) = done.into_outcome();
        let Some(id) = self.jobs.take(job) else {
            return;
        };
        let counted = match &outcome {
            Ok(done) => done.counted(),
            Err((failed, _)) => failed.counted(),
        };
        if let Some(d) = self.torrents.get_mut(&id).and_then(|t| t.data.as_mut()) {
            d.pipeline.finished(counted);
        }
        match outcome {
            Ok(done) => self.job_done(now, id, done),
            Err((failed, error)) => self.job_failed(now, id, failed, Arc::new(error)),
        }
    }

    /// Hands a finished job to the step that owns it.
    fn job_done(&mut self, now: Instant, id: TorrentId, done: Done) {
        match done {
            Done::Written { piece, len } => {
                let Some(d) = self.torrents.get_mut(&id).and_then(|t| t.data.as_mut()) else {
                    return;
                };
                if d.pipeline.write_done(piece, len) {
                    self.jobs
                        .verify(id, piece, &mut self.torrents, &mut self.out);
                }
                self.peers.resume_if_unwritten_drained(
                    now,
                    id,
                    &mut self.torrents,
                    &self.config,
                    &mut self.out,
                );
            }
            Done::Read { conn, blocks, data } => self.read_done(now, conn, &blocks, Some(data)),
            Done::Verified { piece, ok } => {
                let active = self.torrents.get(&id).is_some_and(|t| t.is_active());
                if ok {
                    self.piece_passed(now, id, piece);
                } else if active {
                    let why = DigestsFor::Failed;
                    self.jobs.issue(
                        id,
                        Job::BlockDigests { piece, why },
                        &mut self.torrents,
                        &mut self.out,
                    );
                }
            }
            Done::Flushed { pieces, save } => {
                let Some(d) = self.torrents.get_mut(&id).and_then(|t| t.data.as_mut()) else {
                    return;
                };
                d.pipeline.flushed(&pieces);
                if save {
                    self.jobs.issue(
                        id,
                        Job::Stamps(StampsFor::Save),
                        &mut self.torrents,
                        &mut self.out,
                    );
                } else if std::mem::take(&mut d.pipeline.save_after_flush) {
                    self.jobs.start_save(id, &mut self.torrents, &mut self.out);
                }
            }
            Done::BlockDigests {
                piece,
                why,
                digests,
            } => {
                self.block_digests_done(now, id, piece, why, Some(&digests));
            }
            Done::Created => {}
            Done::Checked { good } => {
                let hashed = good.len() as u32;
                self.check_done(now, id, &good, hashed);
            }
            Done::Stamps {
                why: StampsFor::Start,
                stamps,
            } => self.start_stamps(now, id, &stamps),
            Done::Stamps {
                why: StampsFor::Save,
                stamps,
            } => {
                let Some(d) = self.torrents.get_mut(&id).and_then(|t| t.data.as_mut()) else {
                    return;
                };
                let data =
                    ResumeData::of_disk(d.meta.layout(), &d.pipeline.recorded, stamps).encode();
                d.pipeline.saving = false;
                d.pipeline.dirty = false;
                // A torrent leaving the session keeps no resume data.
                let removing = self
                    .torrents
                    .get(&id)
                    .is_some_and(|t| t.after_stop == AfterStop::Remove);
                if !removing {
                    self.out.action(Action::SaveResume { torrent: id, data });
                }
                if let Some(t) = self.torrents.get_mut(&id) {
                    t.save_finished();
                }
            }
        }
    }

    /// A disk job failed: a read rejects the blocks and rechecks the torrent when the data
    /// is missing; anything else stops the torrent (its data can no longer be trusted to reach
    /// or come back from the disk).
    fn job_failed(
        &mut self,
        now: Instant,
        id: TorrentId,
        failed: FailedJob,
        error: Arc<StorageError>,
    ) {
        // The smart ban is an extra: without the digests, a failed piece is still downloaded
        // again (and strikes still apply); a passed one just bans nobody.
        if let FailedJob::BlockDigests { piece, why } = failed {
            self.out.event(Event::Error {
                torrent: Some(id),
                error: SessionError::SmartBanRead { piece, error },
            });
            return self.block_digests_done(now, id, piece, why, None);
        }
        if let FailedJob::Read { conn, blocks } = &failed {
            let piece = blocks.first().map_or(0, |b| b.piece);
            self.read_done(now, *conn, blocks, None);
            let running = self
                .torrents
                .get(&id)
                .is_some_and(|t| t.stage == Stage::Running);
            if !running {
                self.out.event(Event::Error {
                    torrent: Some(id),
                    error: SessionError::UploadRead { piece, error },
                });
                return;
            }
            if error.is_missing_data() {
                return self.data_missing(now, id, piece, error);
            }
        }
        if let (FailedJob::Write { piece, len }, Some(d)) = (
            &failed,
            self.torrents.get_mut(&id).and_then(|t| t.data.as_mut()),
        ) {
            d.pipeline.write_done(*piece, *len);
            self.peers.resume_if_unwritten_drained(
                now,
                id,
                &mut self.torrents,
                &self.config,
                &mut self.out,
            );
        }
        // A failed read is no part of a save: one in flight goes on.
        if let Some(d) = self.torrents.get_mut(&id).and_then(|t| t.data.as_mut())
            && !matches!(failed, FailedJob::Read { .. })
        {
            d.pipeline.saving = false;
            d.pipeline.flushing = false;
            d.pipeline.save_after_flush = false;
            if matches!(failed, FailedJob::Check) {
                d.pipeline.checks = d.pipeline.checks.saturating_sub(1);
            }
        }
        if let Some(t) = self.torrents.get_mut(&id) {
            t.disk_failed(&error);
        }
        self.out.event(Event::Error {
            torrent: Some(id),
            error: SessionError::Disk(error),
        });
        // A failed save must not keep a stop waiting for it.
        if let Some(t) = self.torrents.get_mut(&id)
            && let Stage::Stopping { deadline, .. } = t.stage
        {
            t.stage = Stage::Stopping {
                deadline,
                saved: true,
            };
        }
        self.begin_stop(now, id);
    }

    /// A piece we have was missing when read for a peer: check the whole torrent again
    /// (what else vanished is unknown). The stop before the check saves resume data without
    /// the pieces of files now missing or short.
    fn data_missing(&mut self, now: Instant, id: TorrentId, piece: u32, error: Arc<StorageError>) {
        self.out.event(Event::Error {
            torrent: Some(id),
            error: SessionError::DataMissing { piece, error },
        });
        // Running (checked by the caller), so the recheck is always accepted.
        let _ = self.recheck_inner(now, id);
    }

    /// A piece passed its hash check.
    pub(super) fn piece_passed(&mut self, now: Instant, id: TorrentId, piece: u32) {
        let Some(d) = self.torrents.get_mut(&id).and_then(|t| t.data.as_mut()) else {
            return;
        };
        let passed = d.picker.piece_passed(piece);
        if passed.smart_ban_check {
            let why = DigestsFor::Passed;
            self.jobs.issue(
                id,
                Job::BlockDigests { piece, why },
                &mut self.torrents,
                &mut self.out,
            );
        }
        let Some(d) = self.torrents.get_mut(&id).and_then(|t| t.data.as_mut()) else {
            return;
        };
        d.bits.insert(piece);
        let len = u64::from(d.meta.layout().piece_len(piece));
        d.pipeline.verified(piece, len);
        let finished = d.picker.is_finished();
        self.out.event(Event::PieceVerified { torrent: id, piece });
        self.send_cancels(now, &passed.cancels);
        for conn in self.peers.ids_of(id) {
            if let Some(p) = self.peers.get_mut(conn)
                && p.established
            {
                let _ = p.conn.send_have(now, piece);
                if p.conn.am_interested() {
                    self.update_interest(now, conn);
                }
            }
            self.drive(now, conn);
        }
        if finished {
            self.torrent_finished(now, id);
        } else {
            self.jobs
                .flush_if_due(id, &mut self.torrents, &self.config, &mut self.out);
        }
    }

    /// A piece failed its hash check (`digests`: its blocks as stored, for the smart ban):
    /// strikes and bans, then download it again.
    pub(super) fn piece_failed(
        &mut self,
        now: Instant,
        id: TorrentId,
        piece: u32,
        digests: Option<&[[u8; 20]]>,
    ) {
        let Some(t) = self.torrents.get_mut(&id) else {
            return;
        };
        t.hash_failures += 1;
        let Some(d) = t.data.as_mut() else {
            return;
        };
        t.corrupt_bytes += u64::from(d.meta.layout().piece_len(piece));
        let failed = d.picker.piece_failed(piece);
        if let Some(digests) = digests {
            d.picker.record_failed_blocks(piece, digests);
        }
        self.out.event(Event::PieceFailed { torrent: id, piece });
        self.send_cancels(now, &failed.cancels);
        self.ban_peers(now, id, &failed.banned, &PeerCloseReason::Banned);
        self.fill_all(now, id);
    }
}

#[cfg(test)]
#[path = "disk_backpressure_tests.rs"]
mod backpressure_tests;

#[cfg(test)]
#[path = "disk_fault_tests.rs"]
mod fault_tests;
