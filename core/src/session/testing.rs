//! Disk jobs made outside a session, for the tests of a runtime's disk side (its worker
//! pool, its block writer). An application never needs these: its jobs come from
//! [`Session::poll_action`](super::Session::poll_action).

use bytes::Bytes;

use crate::metainfo::PieceHash;

use super::completion::Ticket;
use super::io::{DiskJob, JobId, TorrentId};
use super::pipeline::Job;
use crate::pieces::{BlockRef, PieceSet};

fn job(id: JobId, torrent: TorrentId, job: Job) -> DiskJob {
    DiskJob {
        id,
        torrent,
        kind: job.issue(Ticket { id, torrent }),
    }
}

/// A `Write` of `data` at `offset` in `piece`.
pub fn write_job(id: JobId, torrent: TorrentId, piece: u32, offset: u32, data: Bytes) -> DiskJob {
    let len = u32::try_from(data.len()).unwrap_or(u32::MAX);
    let block = BlockRef::new(piece, offset, len);
    job(id, torrent, Job::Write { block, data })
}

/// A `Verify` of `piece` against `expected`.
pub fn verify_job(
    id: JobId,
    torrent: TorrentId,
    piece: u32,
    expected: impl Into<PieceHash>,
) -> DiskJob {
    let expected = expected.into();
    job(id, torrent, Job::Verify { piece, expected })
}

/// A `Flush` (covering no verified piece).
pub fn flush_job(id: JobId, torrent: TorrentId) -> DiskJob {
    let pieces = PieceSet::new(0);
    job(
        id,
        torrent,
        Job::Flush {
            pieces,
            save: false,
        },
    )
}
