//! The answer to a disk job. Each [`DiskJobKind`](super::io::DiskJobKind) variant carries a
//! reply of its own type whose `send` takes that job's result type only, so a runtime can
//! answer a job only with the result of that job, and the session reads the answer without a
//! check: a `Verify` job is answered by a [`VerifyReply`] with a `bool`, never with bytes.
//!
//! A reply also carries (opaque to the runtime) what the session needs when the job ends:
//! the connection a read serves, the pieces a flush covers, why digests were asked for.

use bytes::Bytes;

use super::io::{ConnId, JobId, TorrentId};
use super::pipeline::{DigestsFor, Done, FailedJob, StampsFor};
use crate::pieces::{BlockRef, PieceSet};
use crate::storage::{FileStamp, StorageError};

/// The result of a [`DiskJob`](super::io::DiskJob), for `Session::handle_completion`. Built
/// only by the job's reply (or [`DiskJobKind::fail`](super::io::DiskJobKind::fail)).
#[derive(Debug)]
pub struct Completion {
    id: JobId,
    torrent: TorrentId,
    outcome: Result<Done, (FailedJob, StorageError)>,
}

/// What a finished [`DiskJob`](super::io::DiskJob) gave, as a runtime may look at it.
#[derive(Debug)]
#[non_exhaustive]
pub enum Answer<'a> {
    /// A `Write` finished.
    Written,
    /// A `Read` finished with the bytes.
    Read(&'a Bytes),
    /// A `Verify` finished: whether the hash matched.
    Verified(bool),
    /// A `Flush` finished.
    Flushed,
    /// A `Check` finished: the pieces whose hash matched.
    Checked(&'a [u32]),
    /// `Create` finished: the files exist.
    Created,
    /// `Stamps` finished: one entry per file, `None` for a missing file.
    Stamps(&'a [Option<FileStamp>]),
    /// `BlockDigests` finished: the SHA-256 of each block of the piece (its data, padding left
    /// out), in block order.
    BlockDigests(&'a [[u8; 32]]),
}

impl Completion {
    /// The job's id.
    pub fn id(&self) -> JobId {
        self.id
    }

    /// The job's torrent.
    pub fn torrent(&self) -> TorrentId {
        self.torrent
    }

    /// What the job gave, or why it failed.
    pub fn result(&self) -> Result<Answer<'_>, &StorageError> {
        match &self.outcome {
            Err((_, error)) => Err(error),
            Ok(done) => Ok(match done {
                Done::Written { .. } => Answer::Written,
                Done::Read { data, .. } => Answer::Read(data),
                Done::Verified { ok, .. } => Answer::Verified(*ok),
                Done::Flushed { .. } => Answer::Flushed,
                Done::Checked { good } => Answer::Checked(good),
                Done::Created => Answer::Created,
                Done::Stamps { stamps, .. } => Answer::Stamps(stamps),
                Done::BlockDigests { digests, .. } => Answer::BlockDigests(digests),
            }),
        }
    }

    /// The job's id and what the session does next: the finished job, or the failed one with
    /// its error.
    pub(crate) fn into_outcome(self) -> (JobId, Result<Done, (FailedJob, StorageError)>) {
        (self.id, self.outcome)
    }
}

/// The job a reply answers.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Ticket {
    pub(crate) id: JobId,
    pub(crate) torrent: TorrentId,
}

impl Ticket {
    fn complete(self, outcome: Result<Done, (FailedJob, StorageError)>) -> Completion {
        Completion {
            id: self.id,
            torrent: self.torrent,
            outcome,
        }
    }
}

/// Answers a `Write` job.
#[derive(Debug)]
pub struct WriteReply {
    pub(crate) ticket: Ticket,
    pub(crate) piece: u32,
    pub(crate) len: u64,
}

impl WriteReply {
    /// The completion of the write.
    pub fn send(self, result: Result<(), StorageError>) -> Completion {
        let Self { ticket, piece, len } = self;
        ticket.complete(match result {
            Ok(()) => Ok(Done::Written { piece, len }),
            Err(e) => Err((FailedJob::Write { piece, len }, e)),
        })
    }
}

/// Answers a `Read` job.
#[derive(Debug)]
pub struct ReadReply {
    pub(crate) ticket: Ticket,
    pub(crate) conn: ConnId,
    pub(crate) blocks: Vec<BlockRef>,
}

impl ReadReply {
    /// The completion of the read, with the bytes read.
    pub fn send(self, result: Result<Bytes, StorageError>) -> Completion {
        let Self {
            ticket,
            conn,
            blocks,
        } = self;
        ticket.complete(match result {
            Ok(data) => Ok(Done::Read { conn, blocks, data }),
            Err(e) => Err((FailedJob::Read { conn, blocks }, e)),
        })
    }
}

/// Answers a `Verify` job.
#[derive(Debug)]
pub struct VerifyReply {
    pub(crate) ticket: Ticket,
    pub(crate) piece: u32,
}

impl VerifyReply {
    /// The completion of the hash check: whether the piece matched.
    pub fn send(self, result: Result<bool, StorageError>) -> Completion {
        let Self { ticket, piece } = self;
        ticket.complete(match result {
            Ok(ok) => Ok(Done::Verified { piece, ok }),
            Err(e) => Err((FailedJob::Verify { piece }, e)),
        })
    }
}

/// Answers a `Flush` job.
#[derive(Debug)]
pub struct FlushReply {
    pub(crate) ticket: Ticket,
    pub(crate) pieces: PieceSet,
    pub(crate) save: bool,
}

impl FlushReply {
    /// The completion of the flush.
    pub fn send(self, result: Result<(), StorageError>) -> Completion {
        let Self {
            ticket,
            pieces,
            save,
        } = self;
        ticket.complete(match result {
            Ok(()) => Ok(Done::Flushed { pieces, save }),
            Err(e) => Err((FailedJob::Flush, e)),
        })
    }
}

/// Answers a `Check` job.
#[derive(Debug)]
pub struct CheckReply {
    pub(crate) ticket: Ticket,
}

impl CheckReply {
    /// The completion of the check: the pieces whose hash matched.
    pub fn send(self, result: Result<Vec<u32>, StorageError>) -> Completion {
        self.ticket.complete(match result {
            Ok(good) => Ok(Done::Checked { good }),
            Err(e) => Err((FailedJob::Check, e)),
        })
    }
}

/// Answers a `Create` job.
#[derive(Debug)]
pub struct CreateReply {
    pub(crate) ticket: Ticket,
}

impl CreateReply {
    /// The completion of the file creation.
    pub fn send(self, result: Result<(), StorageError>) -> Completion {
        self.ticket.complete(match result {
            Ok(()) => Ok(Done::Created),
            Err(e) => Err((FailedJob::Create, e)),
        })
    }
}

/// Answers a `Stamps` job.
#[derive(Debug)]
pub struct StampsReply {
    pub(crate) ticket: Ticket,
    pub(crate) why: StampsFor,
}

impl StampsReply {
    /// The completion with one stamp per file (`None` for a missing file).
    pub fn send(self, result: Result<Vec<Option<FileStamp>>, StorageError>) -> Completion {
        let Self { ticket, why } = self;
        ticket.complete(match result {
            Ok(stamps) => Ok(Done::Stamps { why, stamps }),
            Err(e) => Err((FailedJob::Stamps, e)),
        })
    }
}

/// Answers a `BlockDigests` job.
#[derive(Debug)]
pub struct DigestsReply {
    pub(crate) ticket: Ticket,
    pub(crate) piece: u32,
    pub(crate) why: DigestsFor,
}

impl DigestsReply {
    /// The completion with the SHA-256 of each block of the piece (its data, padding left out),
    /// in block order.
    pub fn send(self, result: Result<Vec<[u8; 32]>, StorageError>) -> Completion {
        let Self { ticket, piece, why } = self;
        ticket.complete(match result {
            Ok(digests) => Ok(Done::BlockDigests {
                piece,
                why,
                digests,
            }),
            Err(e) => Err((FailedJob::BlockDigests { piece, why }, e)),
        })
    }
}

/// What the session's unit tests answer a job with, in one value for every kind.
#[cfg(test)]
#[derive(Debug)]
pub(crate) enum TestAnswer {
    Written,
    Verified(bool),
    Flushed,
    Checked(Vec<u32>),
    Created,
    Stamps(Vec<Option<FileStamp>>),
}

#[cfg(test)]
impl super::io::DiskJobKind {
    /// Answers the job; panics when `answer` is of another kind (a broken test).
    pub(crate) fn answer(self, answer: TestAnswer) -> Completion {
        match (self, answer) {
            (Self::Write { reply, .. }, TestAnswer::Written) => reply.send(Ok(())),
            (Self::Verify { reply, .. }, TestAnswer::Verified(ok)) => reply.send(Ok(ok)),
            (Self::Flush { reply }, TestAnswer::Flushed) => reply.send(Ok(())),
            (Self::Check { reply, .. }, TestAnswer::Checked(good)) => reply.send(Ok(good)),
            (Self::Create { reply, .. }, TestAnswer::Created) => reply.send(Ok(())),
            (Self::Stamps { reply }, TestAnswer::Stamps(stamps)) => reply.send(Ok(stamps)),
            (kind, answer) => panic!("test answers {kind:?} with {answer:?}"),
        }
    }
}
