//! The piece pipeline's steps (see [`pipeline`](super::pipeline)): issuing disk jobs, and
//! taking each completion through the pipeline's own steps (verify a piece once written,
//! record it once flushed, save the resume data, stop trusting the disk when it fails). What
//! a completion means for the rest of the session (peers to tell, reads to resume, a
//! torrent to stop) comes back as a [`Next`] for the session to route.

use std::sync::Arc;

use bytes::Bytes;

use super::SessionConfig;
use super::error::SessionError;
use super::event::Event;
use super::io::{Action, Completion, ConnId, DiskJob, TorrentId};
use super::outputs::Outputs;
use super::pipeline::{DigestsFor, Done, FailedJob, Job, Jobs, StampsFor};
use super::torrent::table::Torrents;
use super::torrent::{AfterStop, Stage, Torrent};
use crate::picker::PeerKey;
use crate::pieces::BlockRef;
use crate::storage::{FileStamp, ResumeData, StorageError};

/// What a completed disk job asks of the rest of the session (the pipeline's own steps are
/// taken already).
#[derive(Debug)]
pub(crate) enum Next {
    /// Nothing more.
    Nothing,
    /// A write finished: paused reading resumes if the torrent's unwritten bytes drained.
    Written,
    /// A read for an upload finished (`data`: `None` if it failed).
    Read {
        /// The connection served.
        conn: ConnId,
        /// The blocks read.
        blocks: Vec<BlockRef>,
        /// Their bytes.
        data: Option<Bytes>,
    },
    /// A piece passed its hash check.
    Passed(u32),
    /// A piece's block digests (the smart ban; `None`: the read failed).
    Digests {
        /// The piece.
        piece: u32,
        /// What they were asked for.
        why: DigestsFor,
        /// One per block, as stored.
        digests: Option<Vec<[u8; 32]>>,
    },
    /// A `Check` job found these pieces good.
    Checked(Vec<u32>),
    /// The files' stamps at start.
    StartStamps(Vec<Option<FileStamp>>),
    /// The disk failed: the torrent stops (`written`: a write ended, so reading may resume;
    /// `read`: an upload read failed, its blocks are rejected first; `cancels`: requests for
    /// the blocks of a piece lost with a failed write or hash check).
    Failed {
        /// A write ended with the failure.
        written: bool,
        /// The connection and blocks of a failed upload read.
        read: Option<(ConnId, Vec<BlockRef>)>,
        /// Requests still out for a lost piece's blocks.
        cancels: Vec<(PeerKey, BlockRef)>,
    },
    /// A piece we have was missing when read for a peer (the torrent runs): the blocks are
    /// rejected and the whole torrent checked again.
    DataMissing {
        /// The connection served.
        conn: ConnId,
        /// The blocks read.
        blocks: Vec<BlockRef>,
        /// The piece.
        piece: u32,
        /// The read's error.
        error: Arc<StorageError>,
    },
}

/// A passed piece's consequences for the torrent's peers.
#[derive(Debug)]
pub(crate) struct PiecePassed {
    /// Requests for the piece's blocks still out elsewhere.
    pub(crate) cancels: Vec<(PeerKey, BlockRef)>,
    /// Every wanted piece is verified now.
    pub(crate) finished: bool,
}

/// A failed piece's consequences for the torrent's peers.
#[derive(Debug)]
pub(crate) struct PieceFailed {
    /// Requests for the piece's blocks still out elsewhere.
    pub(crate) cancels: Vec<(PeerKey, BlockRef)>,
    /// The peers to ban.
    pub(crate) banned: Vec<PeerKey>,
    /// Every peer (or web seed) that sent a block of it.
    pub(crate) contributors: Vec<PeerKey>,
}

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
            .and_then(|d| d.meta.expected_hash(piece))
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

impl Jobs {
    /// Takes a completed job through the pipeline's steps; returns its torrent and what the
    /// rest of the session must do (`None`: an unknown job, or its torrent is gone).
    pub(crate) fn complete(
        &mut self,
        done: Completion,
        torrents: &mut Torrents,
        out: &mut Outputs,
    ) -> Option<(TorrentId, Next)> {
        let (job, outcome) = done.into_outcome();
        let id = self.take(job)?;
        let counted = match &outcome {
            Ok(done) => done.counted(),
            Err((failed, _)) => failed.counted(),
        };
        if let Some(d) = torrents.get_mut(&id).and_then(|t| t.data.as_mut()) {
            d.pipeline.finished(counted);
        }
        let next = match outcome {
            Ok(done) => self.job_done(id, done, torrents, out)?,
            Err((failed, error)) => job_failed(id, failed, Arc::new(error), torrents, out),
        };
        Some((id, next))
    }

    /// The pipeline's step after a job that succeeded.
    fn job_done(
        &mut self,
        id: TorrentId,
        done: Done,
        torrents: &mut Torrents,
        out: &mut Outputs,
    ) -> Option<Next> {
        Some(match done {
            Done::Written { piece, len } => {
                let d = torrents.get_mut(&id).and_then(|t| t.data.as_mut())?;
                if d.pipeline.write_done(piece, len) {
                    self.verify(id, piece, torrents, out);
                }
                Next::Written
            }
            Done::Read { conn, blocks, data } => Next::Read {
                conn,
                blocks,
                data: Some(data),
            },
            Done::Verified { piece, ok: true } => Next::Passed(piece),
            Done::Verified { piece, ok: false } => {
                let t = torrents.get_mut(&id)?;
                if t.is_active() {
                    let why = DigestsFor::Failed;
                    self.issue(id, Job::BlockDigests { piece, why }, torrents, out);
                } else if let Some(d) = t.data.as_mut() {
                    // Stopped meanwhile: no peer to strike or cancel; fetched again later.
                    let _ = d.picker.piece_lost(piece);
                }
                Next::Nothing
            }
            Done::Flushed { pieces, save } => {
                let d = torrents.get_mut(&id).and_then(|t| t.data.as_mut())?;
                d.pipeline.flushed(&pieces);
                if save {
                    self.issue(id, Job::Stamps(StampsFor::Save), torrents, out);
                } else if std::mem::take(&mut d.pipeline.save_after_flush) {
                    self.start_save(id, torrents, out);
                }
                Next::Nothing
            }
            Done::BlockDigests {
                piece,
                why,
                digests,
            } => Next::Digests {
                piece,
                why,
                digests: Some(digests),
            },
            Done::Created => Next::Nothing,
            Done::Checked { good } => Next::Checked(good),
            Done::Stamps {
                why: StampsFor::Start,
                stamps,
            } => Next::StartStamps(stamps),
            Done::Stamps {
                why: StampsFor::Save,
                stamps,
            } => {
                let t = torrents.get_mut(&id)?;
                t.save_resume(id, stamps, out);
                Next::Nothing
            }
        })
    }

    /// A piece passed its hash check: the picker, our pieces and the pipeline take it (a
    /// smart-ban check reads it back); `None`: the torrent or its data is gone.
    pub(crate) fn piece_passed(
        &mut self,
        id: TorrentId,
        piece: u32,
        torrents: &mut Torrents,
        out: &mut Outputs,
    ) -> Option<PiecePassed> {
        let d = torrents.get_mut(&id).and_then(|t| t.data.as_mut())?;
        let passed = d.picker.piece_passed(piece);
        if passed.smart_ban_check {
            let why = DigestsFor::Passed;
            self.issue(id, Job::BlockDigests { piece, why }, torrents, out);
        }
        let d = torrents.get_mut(&id).and_then(|t| t.data.as_mut())?;
        d.bits.insert(piece);
        let len = u64::from(d.meta.layout().piece_len(piece));
        d.pipeline.verified(piece, len);
        out.event(Event::PieceVerified { torrent: id, piece });
        let finished = torrents.get(&id).is_some_and(|t| t.is_finished());
        Some(PiecePassed {
            cancels: passed.cancels,
            finished,
        })
    }
}

/// A disk job failed: reads reject the block; anything else stops the torrent (its data can
/// no longer be trusted to reach the disk).
fn job_failed(
    id: TorrentId,
    failed: FailedJob,
    error: Arc<StorageError>,
    torrents: &mut Torrents,
    out: &mut Outputs,
) -> Next {
    // The smart ban is an extra: without the digests, a failed piece is still downloaded
    // again (and strikes still apply); a passed one just bans nobody.
    if let FailedJob::BlockDigests { piece, why } = failed {
        if !matches!(why, DigestsFor::HashRequest(_)) {
            out.event(Event::Error {
                torrent: Some(id),
                error: SessionError::SmartBanRead { piece, error },
            });
        }
        return Next::Digests {
            piece,
            why,
            digests: None,
        };
    }
    let mut read = None;
    if let FailedJob::Read { conn, blocks } = &failed {
        let piece = blocks.first().map_or(0, |b| b.piece);
        let running = torrents.get(&id).is_some_and(|t| t.stage == Stage::Running);
        let (conn, blocks) = (*conn, blocks.clone());
        if !running {
            out.event(Event::Error {
                torrent: Some(id),
                error: SessionError::UploadRead { piece, error },
            });
            return Next::Read {
                conn,
                blocks,
                data: None,
            };
        }
        if error.is_missing_data() {
            return Next::DataMissing {
                conn,
                blocks,
                piece,
                error,
            };
        }
        read = Some((conn, blocks));
    }
    let mut written = false;
    let mut cancels = Vec::new();
    if let Some(d) = torrents.get_mut(&id).and_then(|t| t.data.as_mut()) {
        // A piece whose data may not be on the disk whole, or could not be checked, is
        // fetched again from nothing, whatever happens to the torrent next.
        match failed {
            FailedJob::Write { piece, len } => {
                d.pipeline.write_failed(piece, len);
                cancels = d.picker.piece_lost(piece);
                written = true;
            }
            FailedJob::Verify { piece } => cancels = d.picker.piece_lost(piece),
            _ => {}
        }
    }
    if let Some(t) = torrents.get_mut(&id) {
        t.disk_failed_stop(&failed, &error);
    }
    out.event(Event::Error {
        torrent: Some(id),
        error: SessionError::Disk(error),
    });
    Next::Failed {
        written,
        read,
        cancels,
    }
}

impl Torrent {
    /// The files' stamps for a resume save arrived: the resume data is handed to the runtime
    /// (unless the torrent leaves the session) and a stopping torrent may finish.
    fn save_resume(&mut self, id: TorrentId, stamps: Vec<Option<FileStamp>>, out: &mut Outputs) {
        let Some(d) = self.data.as_mut() else {
            return;
        };
        let mut data = ResumeData::of_disk(d.meta.layout(), &d.pipeline.recorded, stamps);
        if self.layers_learned {
            data.piece_layers = (d.meta.piece_layers())
                .map(|(root, layer)| (*root, layer.to_vec()))
                .collect();
        }
        let data = data.encode();
        d.pipeline.saving = false;
        d.pipeline.dirty = false;
        // A torrent leaving the session keeps no resume data.
        if self.after_stop != AfterStop::Remove {
            out.action(Action::SaveResume { torrent: id, data });
        }
        self.save_finished();
    }

    /// A disk job other than a read failed: no flush or save is in progress any more, the
    /// error is the torrent's, and a stop no longer waits for a save.
    fn disk_failed_stop(&mut self, failed: &FailedJob, error: &Arc<StorageError>) {
        // A failed read is no part of a save: one in flight goes on.
        if let Some(d) = self.data.as_mut()
            && !matches!(failed, FailedJob::Read { .. })
        {
            d.pipeline.saving = false;
            d.pipeline.flushing = false;
            d.pipeline.save_after_flush = false;
            if matches!(failed, FailedJob::Check) {
                d.pipeline.checks = d.pipeline.checks.saturating_sub(1);
            }
        }
        self.disk_failed(error.clone());
        // A failed save must not keep a stop waiting for it.
        if let Stage::Stopping { deadline, .. } = self.stage {
            self.stage = Stage::Stopping {
                deadline,
                saved: true,
            };
        }
    }

    /// A piece failed its hash check (`digests`: its blocks as stored, for the smart ban):
    /// counted, and the picker strikes its senders; `None`: no metadata.
    pub(crate) fn piece_failed(
        &mut self,
        piece: u32,
        digests: Option<&[[u8; 32]]>,
    ) -> Option<PieceFailed> {
        self.hash_failures += 1;
        let d = self.data.as_mut()?;
        self.corrupt_bytes += u64::from(d.meta.layout().piece_data_len(piece));
        let failed = d.picker.piece_failed(piece);
        if let Some(digests) = digests {
            d.picker.record_failed_blocks(piece, digests);
        }
        Some(PieceFailed {
            cancels: failed.cancels,
            banned: failed.banned,
            contributors: failed.contributors,
        })
    }
}

#[cfg(test)]
#[path = "disk_backpressure_tests.rs"]
mod backpressure_tests;

#[cfg(test)]
#[path = "disk_fault_tests.rs"]
mod fault_tests;
