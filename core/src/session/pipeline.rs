//! The piece pipeline: a piece's life on the disk side, write → verify → flush → record →
//! save, and the one description of every disk job the session issues.
//!
//! A disk job is described once, as a [`Job`]: [`Job::issue`] turns it into what the runtime
//! runs ([`DiskJobKind`]), each kind with a reply that keeps what the session needs when the
//! job ends (without the bytes written) and takes only that job's result type. The
//! completion is then a [`Done`] (the job with its typed result) or, if the job failed, a
//! [`FailedJob`] with the error: everything after it matches on those alone.
//!
//! Per torrent, [`PiecePipeline`] holds the state: outstanding jobs and unwritten bytes (the
//! back-pressure), pieces complete but still being written, pieces verified and not yet
//! flushed, and what the resume record may hold (a piece is recorded only once verified and
//! then flushed).

use std::collections::{BTreeMap, BTreeSet};

use bytes::Bytes;

use crate::metainfo::PieceHash;

use super::completion::{
    CheckReply, CreateReply, DigestsReply, FlushReply, ReadReply, StampsReply, Ticket, VerifyReply,
    WriteReply,
};
use super::io::{ConnId, DiskJobKind, JobId, TorrentId};
use crate::pieces::BlockRef;
use crate::pieces::PieceSet;
use crate::storage::FileStamp;
use crate::wire::hashes::HashRequest;

/// Why a `Stamps` job was asked for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum StampsFor {
    /// At start: decide what resume data can trust and what to check.
    Start,
    /// To save resume data (after a flush).
    Save,
}

/// Why a `BlockDigests` job was asked for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum DigestsFor {
    /// The piece failed its hash: record who sent what, then download it again. The picker is
    /// told of the failure only when the digests are in, so no block of the re-download can be
    /// written over the bad data before it is read.
    Failed,
    /// The piece passed after failing before: find the peers whose blocks differed.
    Passed,
    /// A peer's hash request for the piece's block hashes (see `block_hashes`): the peer
    /// asking and its request (boxed: a completion stays small).
    HashRequest(Box<(ConnId, HashRequest)>),
}

/// A disk job the session issues, with everything both the runtime and the completion need.
#[derive(Debug)]
pub(crate) enum Job {
    /// Write a received block (a slice of the receive buffer).
    Write {
        /// The block.
        block: BlockRef,
        /// Its bytes.
        data: Bytes,
    },
    /// Read consecutive blocks of one piece for an upload to `conn`.
    Read {
        /// The connection to serve.
        conn: ConnId,
        /// The blocks, in order, none empty.
        blocks: Vec<BlockRef>,
    },
    /// Hash a piece.
    Verify {
        /// The piece.
        piece: u32,
        /// Its hash from the metainfo.
        expected: PieceHash,
    },
    /// Make the writes so far durable: `pieces` become recorded; `save`: a resume save follows.
    Flush {
        /// The verified pieces the flush covers.
        pieces: PieceSet,
        /// Whether stamps and `SaveResume` follow.
        save: bool,
    },
    /// Hash existing pieces (the start check).
    Check {
        /// Pieces with their expected hashes.
        pieces: Vec<(u32, PieceHash)>,
    },
    /// Create files ahead of the download.
    Create {
        /// File indices.
        files: Vec<usize>,
    },
    /// Read the files' stamps.
    Stamps(StampsFor),
    /// Read a piece back as block digests (the smart ban).
    BlockDigests {
        /// The piece.
        piece: u32,
        /// What the digests are for.
        why: DigestsFor,
    },
}

impl Job {
    /// What the runtime runs for the job `ticket` names, with the reply that carries what the
    /// session needs when it completes (not the bytes written).
    pub(crate) fn issue(self, ticket: Ticket) -> DiskJobKind {
        match self {
            Self::Write { block, data } => DiskJobKind::Write {
                piece: block.piece,
                offset: block.offset,
                data,
                reply: WriteReply {
                    ticket,
                    piece: block.piece,
                    len: u64::from(block.length),
                },
            },
            Self::Read { conn, blocks } => {
                let (first, last) = match (blocks.first(), blocks.last()) {
                    (Some(first), Some(last)) => (*first, *last),
                    _ => (BlockRef::new(0, 0, 0), BlockRef::new(0, 0, 0)),
                };
                let len = last.offset + last.length - first.offset;
                DiskJobKind::Read {
                    piece: first.piece,
                    offset: first.offset,
                    len,
                    reply: ReadReply {
                        ticket,
                        conn,
                        blocks,
                    },
                }
            }
            Self::Verify { piece, expected } => DiskJobKind::Verify {
                piece,
                expected,
                reply: VerifyReply { ticket, piece },
            },
            Self::Flush { pieces, save } => DiskJobKind::Flush {
                reply: FlushReply {
                    ticket,
                    pieces,
                    save,
                },
            },
            Self::Check { pieces } => DiskJobKind::Check {
                pieces,
                reply: CheckReply { ticket },
            },
            Self::Create { files } => DiskJobKind::Create {
                files,
                reply: CreateReply { ticket },
            },
            Self::Stamps(why) => DiskJobKind::Stamps {
                reply: StampsReply { ticket, why },
            },
            Self::BlockDigests { piece, why } => DiskJobKind::BlockDigests {
                piece,
                reply: DigestsReply { ticket, piece, why },
            },
        }
    }

    /// Whether the job counts toward a torrent's outstanding jobs (writes are bounded by the
    /// unwritten bytes instead).
    pub(crate) fn counted(&self) -> bool {
        !matches!(self, Self::Write { .. })
    }
}

/// A disk job that failed: what the session needs to undo (carried by the job's reply).
#[derive(Clone, Debug)]
pub(crate) enum FailedJob {
    /// See [`Job::Write`].
    Write { piece: u32, len: u64 },
    /// See [`Job::Read`].
    Read { conn: ConnId, blocks: Vec<BlockRef> },
    /// See [`Job::Verify`].
    Verify { piece: u32 },
    /// See [`Job::Flush`].
    Flush,
    /// See [`Job::Check`].
    Check,
    /// See [`Job::Create`].
    Create,
    /// See [`Job::Stamps`].
    Stamps,
    /// See [`Job::BlockDigests`].
    BlockDigests { piece: u32, why: DigestsFor },
}

/// A finished disk job with its result.
#[derive(Debug)]
pub(crate) enum Done {
    /// A block was written.
    Written { piece: u32, len: u64 },
    /// Blocks were read for `conn`.
    Read {
        conn: ConnId,
        blocks: Vec<BlockRef>,
        data: Bytes,
    },
    /// A piece was hashed: `ok` if it matched.
    Verified { piece: u32, ok: bool },
    /// A flush made `pieces` durable.
    Flushed { pieces: PieceSet, save: bool },
    /// A check batch found `good` pieces.
    Checked { good: Vec<u32> },
    /// Files were created.
    Created,
    /// The files' stamps.
    Stamps {
        why: StampsFor,
        stamps: Vec<Option<FileStamp>>,
    },
    /// A piece's block digests.
    BlockDigests {
        piece: u32,
        why: DigestsFor,
        digests: Vec<[u8; 32]>,
    },
}

impl Done {
    /// See [`Job::counted`].
    pub(crate) fn counted(&self) -> bool {
        !matches!(self, Self::Written { .. })
    }
}

impl FailedJob {
    /// See [`Job::counted`].
    pub(crate) fn counted(&self) -> bool {
        !matches!(self, Self::Write { .. })
    }
}

/// Every outstanding disk job of the session (what each needs next travels in its reply).
#[derive(Debug, Default)]
pub(crate) struct Jobs {
    next: u64,
    jobs: BTreeMap<JobId, TorrentId>,
}

impl Jobs {
    /// Files a job of `torrent` and names it.
    pub(crate) fn alloc(&mut self, torrent: TorrentId) -> Ticket {
        self.next += 1;
        let id = JobId(self.next);
        self.jobs.insert(id, torrent);
        Ticket { id, torrent }
    }

    /// Takes a job out as it completes.
    pub(crate) fn take(&mut self, id: JobId) -> Option<TorrentId> {
        self.jobs.remove(&id)
    }

    /// Jobs in flight.
    pub(crate) fn len(&self) -> usize {
        self.jobs.len()
    }

    /// The torrent a job in flight belongs to.
    pub(crate) fn torrent_of(&self, id: JobId) -> Option<TorrentId> {
        self.jobs.get(&id).copied()
    }
}

/// One torrent's piece pipeline state.
#[derive(Debug)]
pub(crate) struct PiecePipeline {
    /// Jobs in flight (writes excepted).
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

impl PiecePipeline {
    /// An empty pipeline for `piece_count` pieces.
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

    /// A job is issued; `counted`: see [`Job::counted`] (a write counts through
    /// [`Self::write_issued`]).
    pub(crate) fn issued(&mut self, counted: bool) {
        if counted {
            self.outstanding += 1;
        }
    }

    /// A job completed or failed; `counted`: see [`Job::counted`] (a write counts through
    /// [`Self::write_done`]).
    pub(crate) fn finished(&mut self, counted: bool) {
        if counted {
            self.outstanding = self.outstanding.saturating_sub(1);
        }
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

    /// A write of `len` bytes of `piece` failed: it ended, and the piece waits for no hash
    /// check any more (it is fetched again). Its other writes in flight stay counted, so a new
    /// copy of the piece is verified only once they ended too.
    pub(crate) fn write_failed(&mut self, piece: u32, len: u64) {
        let _ = self.write_done(piece, len);
        self.complete.remove(&piece);
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

    /// The flush that starts a resume save (flush → stamps → SaveResume), unless a save runs
    /// already; while a background flush runs, the save waits for it.
    pub(crate) fn start_save(&mut self) -> Option<Job> {
        if self.saving {
            return None;
        }
        if self.flushing {
            self.save_after_flush = true;
            return None;
        }
        self.saving = true;
        self.flushing = true;
        let pieces = self.take_unflushed();
        Some(Job::Flush { pieces, save: true })
    }

    /// A background flush (no save follows) if enough verified bytes wait.
    pub(crate) fn flush_if_due(&mut self, every: u64) -> Option<Job> {
        if !self.flush_due(every) {
            return None;
        }
        self.flushing = true;
        let pieces = self.take_unflushed();
        Some(Job::Flush {
            pieces,
            save: false,
        })
    }

    /// Whether everything issued is done and every verified piece flushed (a stopping
    /// torrent's save is then complete).
    pub(crate) fn is_settled(&self) -> bool {
        self.outstanding == 0 && self.unflushed.count() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verify_waits_for_the_last_write() {
        let mut d = PiecePipeline::new(4);
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
    fn a_failed_write_cancels_the_check_and_a_new_copy_waits_for_the_old_writes() {
        let mut d = PiecePipeline::new(4);
        d.write_issued(1, 100);
        d.write_issued(1, 100);
        assert!(!d.piece_complete(1), "writes pending");
        d.write_failed(1, 100);
        assert!(!d.write_done(1, 100), "the failed piece is not verified");
        assert_eq!((d.unwritten, d.outstanding), (0, 0));
        assert!(d.writes_per_piece.is_empty() && d.complete.is_empty());

        // A write of the old copy still in flight when the piece arrives again.
        d.write_issued(2, 100);
        d.write_issued(2, 100);
        d.write_failed(2, 100);
        d.write_issued(2, 100);
        assert!(!d.piece_complete(2), "the old write is still in flight");
        assert!(!d.write_done(2, 100));
        assert!(
            d.write_done(2, 100),
            "every write ended: verify the new copy"
        );
    }

    #[test]
    fn only_flushed_pieces_are_recorded() {
        let mut d = PiecePipeline::new(4);
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
