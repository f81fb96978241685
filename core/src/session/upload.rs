//! The upload part: serving the blocks peers request from us, under the choker, the upload
//! queue, the send backlog and the upload limit, and sending them when their reads complete.
//!
//! Each connection has an [`Upload`]: the blocks being read for it and, with
//! [`SessionConfig::send_accounting`], the bytes handed to the runtime and not yet reported
//! written by its socket. While that backlog is at `max_send_backlog` nothing more is read for
//! the peer, so a peer that requests but never reads cannot make the runtime's write queue
//! grow; once writes are reported below the cap, serving resumes. A backlog stuck at the cap
//! with no write for `send_stall_timeout` closes the connection
//! ([`PeerCloseReason::SendStalled`]).

use std::collections::BTreeSet;
use std::time::Instant;

use super::SessionConfig;
use super::io::{ConnId, TorrentId};
use super::peers::Peers;
use super::rate::{Buckets, TokenBucket};
use super::torrent::table::Torrents;
use crate::pieces::{BlockRef, PieceSet};

/// The most bytes one upload read job covers.
pub(super) const MAX_READ_RUN: u32 = 256 * 1024;

/// One connection's upload state.
#[derive(Debug, Default)]
pub(crate) struct Upload {
    /// Blocks being read from disk to upload.
    reading: BTreeSet<BlockRef>,
    /// Bytes of `reading`.
    reading_bytes: usize,
    /// Bytes handed to the runtime and not yet reported written (with `send_accounting`).
    unsent: usize,
    /// Since when `unsent` is at the cap with no write reported (`None`: below the cap).
    stalled_since: Option<Instant>,
}

/// What to do about a peer's requests now.
#[derive(Debug, Default)]
pub(crate) struct Reads {
    /// Consecutive blocks of one piece per read job, oldest first.
    pub(crate) runs: Vec<Vec<BlockRef>>,
    /// Requests for pieces we do not have.
    pub(crate) rejects: Vec<BlockRef>,
}

impl Upload {
    /// Bytes being read from disk for the peer plus those handed to the runtime and not yet
    /// written.
    pub(crate) fn held_bytes(&self) -> usize {
        self.reading_bytes + self.unsent
    }

    /// Whether serving waits: the upload queue is full or the send backlog at its cap.
    pub(crate) fn is_full(&self, config: &SessionConfig) -> bool {
        self.reading_bytes >= config.max_upload_queue_bytes || self.backlogged(config)
    }

    /// Picks the peer's requests (`requests`, oldest first) to read now, within the upload
    /// queue and the upload `limit`; the ones being read already are skipped, those for pieces
    /// not in `have` are rejected. Consecutive blocks of one piece are read by one job (up to
    /// [`MAX_READ_RUN`] bytes): fewer jobs, fewer wake-ups. Stops as soon as the queue is
    /// full, so a long request queue costs nothing while it is.
    pub(crate) fn plan(
        &mut self,
        now: Instant,
        requests: impl Iterator<Item = BlockRef>,
        have: &PieceSet,
        mut limit: Buckets<'_>,
        config: &SessionConfig,
    ) -> Reads {
        let mut reads = Reads::default();
        let mut budget = config
            .max_upload_queue_bytes
            .saturating_sub(self.reading_bytes);
        for block in requests {
            if budget == 0 {
                break;
            }
            if self.reading.contains(&block) {
                continue;
            }
            if !have.contains(block.piece) {
                reads.rejects.push(block);
                continue;
            }
            if !limit.allows(now) {
                break;
            }
            limit.spend(now, u64::from(block.length));
            budget = budget.saturating_sub(block.length as usize);
            self.reading.insert(block);
            self.reading_bytes += block.length as usize;
            match reads.runs.last_mut() {
                Some(run) if extends_run(run, block) => run.push(block),
                _ => reads.runs.push(vec![block]),
            }
        }
        reads
    }

    /// A read of `block` ended (sent or not): it leaves the upload queue.
    pub(crate) fn read_ended(&mut self, block: BlockRef) {
        if self.reading.remove(&block) {
            self.reading_bytes = self.reading_bytes.saturating_sub(block.length as usize);
        }
    }

    /// Counts `bytes` handed to the runtime for this connection (as transmits are queued).
    pub(crate) fn count_unsent(&mut self, now: Instant, bytes: usize, config: &SessionConfig) {
        if !config.send_accounting {
            return;
        }
        self.unsent = self.unsent.saturating_add(bytes);
        if self.unsent >= config.max_send_backlog && self.stalled_since.is_none() {
            self.stalled_since = Some(now);
        }
    }

    /// Whether serving this peer waits for its socket to take what was already sent.
    fn backlogged(&self, config: &SessionConfig) -> bool {
        config.send_accounting && self.unsent >= config.max_send_backlog
    }

    /// The runtime wrote `bytes` to the socket. Returns whether a stall just ended (serve
    /// again).
    pub(crate) fn sent(&mut self, now: Instant, bytes: usize, cap: usize) -> bool {
        self.unsent = self.unsent.saturating_sub(bytes);
        if self.stalled_since.is_none() {
            return false;
        }
        if self.unsent >= cap {
            // Still at the cap, but the peer reads: the stall clock starts again.
            self.stalled_since = Some(now);
            return false;
        }
        self.stalled_since = None;
        true
    }

    /// When the send stall closes the connection, if stalled.
    pub(crate) fn stall_deadline(&self, config: &SessionConfig) -> Option<Instant> {
        self.stalled_since
            .map(|since| since + config.send_stall_timeout)
    }
}

/// The reads to issue for a peer's requests (see [`Upload::plan`]) while the torrent runs and
/// the peer's upload queue and send backlog allow; requests for pieces we lack are rejected.
/// Returns the torrent and one block run per read job.
pub(crate) fn plan_reads(
    now: Instant,
    conn: ConnId,
    peers: &mut Peers,
    torrents: &mut Torrents,
    limit: &mut TokenBucket,
    config: &SessionConfig,
) -> Option<(TorrentId, Vec<Vec<BlockRef>>)> {
    let peer = peers.get_mut(conn)?;
    let id = peer.torrent?;
    let t = torrents.get_mut(&id)?;
    let d = t.data.as_ref()?;
    if !t.is_running() || peer.upload.is_full(config) {
        return None;
    }
    let limit = Buckets {
        session: t.limits().honors_session_limits.then_some(limit),
        torrent: t.limits.as_mut().map(|l| &mut l.up),
    };
    let reads = peer
        .upload
        .plan(now, peer.conn.requests_in(), d.picker.have(), limit, config);
    for block in reads.rejects {
        let _ = peer.conn.reject(now, block);
    }
    Some((id, reads.runs))
}

/// A read for an upload finished (`data`: the bytes of the consecutive `blocks`, `None` if it
/// failed): each block still wanted is sent (and counted), the others rejected.
pub(crate) fn send_read(
    now: Instant,
    conn: ConnId,
    blocks: &[BlockRef],
    data: Option<bytes::Bytes>,
    peers: &mut Peers,
    torrents: &mut Torrents,
) -> bool {
    let Some(peer) = peers.get_mut(conn) else {
        return false;
    };
    let start = blocks.first().map_or(0, |b| b.offset);
    for &block in blocks {
        peer.upload.read_ended(block);
        let at = block.offset.saturating_sub(start) as usize;
        let end = at + block.length as usize;
        let bytes = data
            .as_ref()
            .filter(|d| end <= d.len())
            .map(|d| d.slice(at..end));
        match bytes {
            Some(bytes) => {
                if peer
                    .conn
                    .send_block(now, block.piece, block.offset, bytes)
                    .is_ok()
                {
                    let len = u64::from(block.length);
                    peer.up.add(now, len);
                    peer.traded_at = Some(now);
                    peer.wasted = false;
                    if let Some(t) = peer.torrent.and_then(|id| torrents.get_mut(&id)) {
                        t.up.add(now, len);
                    }
                }
            }
            None => {
                let _ = peer.conn.reject(now, block);
            }
        }
    }
    true
}

/// Whether `conn`'s send backlog made no progress for `send_stall_timeout` by `now`.
pub(crate) fn is_stalled(
    peers: &Peers,
    conn: ConnId,
    now: Instant,
    config: &SessionConfig,
) -> bool {
    peers
        .get(conn)
        .and_then(|p| p.upload.stall_deadline(config))
        .is_some_and(|at| at <= now)
}

/// Whether `block` continues `run` (the same piece, right after its last block) without making
/// it longer than [`MAX_READ_RUN`].
fn extends_run(run: &[BlockRef], block: BlockRef) -> bool {
    let (Some(first), Some(last)) = (run.first(), run.last()) else {
        return false;
    };
    block.piece == last.piece
        && block.offset == last.offset + last.length
        && block.offset + block.length - first.offset <= MAX_READ_RUN
}

#[cfg(test)]
#[path = "upload_tests.rs"]
pub(super) mod tests;
