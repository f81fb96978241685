//! The upload part: serving the blocks peers request from us, under the choker, the upload
//! queue, the send backlog (see `send_flow`) and the upload limit, and sending them when their
//! reads complete.

use std::time::Instant;

use super::Session;
use super::io::ConnId;
use super::pipeline::Job;
use crate::wire::BlockRef;

impl Session {
    /// Reads blocks the peer requested, within its upload queue, its send backlog (see
    /// `send_flow`) and the upload limit; rejects requests for pieces we do not have. Requests for consecutive blocks of one piece are
    /// read by one job (up to [`MAX_READ_RUN`] bytes): fewer jobs, fewer wake-ups.
    pub(super) fn serve(&mut self, now: Instant, conn: ConnId) {
        let Some(peer) = self.peers.get_mut(conn) else {
            return;
        };
        let Some(id) = peer.torrent else {
            return;
        };
        let Some(t) = self.torrents.get(&id) else {
            return;
        };
        let Some(d) = t.data.as_ref() else {
            return;
        };
        if !t.is_running()
            || peer.reading_bytes >= self.config.max_upload_queue_bytes
            || peer.send_backlogged(&self.config)
        {
            return;
        }
        let mut runs: Vec<Vec<BlockRef>> = Vec::new();
        let mut rejects = Vec::new();
        let mut budget = self.config.max_upload_queue_bytes - peer.reading_bytes;
        // Oldest first; the ones being read already are skipped. Stops as soon as the upload
        // queue is full, so a long request queue costs nothing while the queue is full.
        for block in peer.conn.requests_in() {
            if budget == 0 {
                break;
            }
            if peer.reading.contains(&block) {
                continue;
            }
            if !d.picker.have().contains(block.piece) {
                rejects.push(block);
                continue;
            }
            if !self.up_limit.allows(now) {
                break;
            }
            self.up_limit.spend(now, u64::from(block.length));
            budget = budget.saturating_sub(block.length as usize);
            peer.reading.insert(block);
            peer.reading_bytes += block.length as usize;
            match runs.last_mut() {
                Some(run) if extends_run(run, block) => run.push(block),
                _ => runs.push(vec![block]),
            }
        }
        for block in rejects {
            let _ = peer.conn.reject(now, block);
        }
        for blocks in runs {
            self.disk_job(id, Job::Read { conn, blocks });
        }
    }

    /// A read for an upload finished (`data`: the bytes of the consecutive `blocks`, `None`
    /// if it failed): send each block still wanted.
    pub(super) fn read_done(
        &mut self,
        now: Instant,
        conn: ConnId,
        blocks: &[BlockRef],
        data: Option<bytes::Bytes>,
    ) {
        let Some(peer) = self.peers.get_mut(conn) else {
            return;
        };
        let start = blocks.first().map_or(0, |b| b.offset);
        for &block in blocks {
            if peer.reading.remove(&block) {
                peer.reading_bytes = peer.reading_bytes.saturating_sub(block.length as usize);
            }
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
                        if let Some(t) = peer.torrent.and_then(|id| self.torrents.get_mut(&id)) {
                            t.up.add(now, len);
                        }
                    }
                }
                None => {
                    let _ = peer.conn.reject(now, block);
                }
            }
        }
        // Hand the blocks over first: serving looks at the send backlog they join.
        self.drive(now, conn);
        self.serve(now, conn);
        self.drive(now, conn);
    }
}

/// The most bytes one upload read job covers.
pub(super) const MAX_READ_RUN: u32 = 256 * 1024;

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
