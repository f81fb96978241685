//! The metadata part's hash steps (see [`MetaCx`]): a peer's block-layer hash request read
//! from disk and answered, the answers and rejects of our own hash requests (a layer fetch's
//! or a leaf check's), and a failed v2 piece's leaf check: begun, its leaves asked of the
//! torrent's v2 peers, the answer routed back, and the verdict applied (the bad blocks alone
//! fetched again, their senders alone banned).

use std::time::Instant;

use bytes::Bytes;

use super::block_hashes::BlockRun;
use super::event::{Event, PeerCloseReason};
use super::followups::FollowUp;
use super::io::{ConnId, TorrentId};
use super::leaf_check::{self, Begun, Verdict};
use super::meta::{MetaCx, MetaStep};
use super::pipeline::{DigestsFor, Job};
use super::smart_ban::{self, DepartedPeer};
use crate::merkle::Hash;
use crate::wire::hashes::HashRequest;

impl MetaCx<'_> {
    /// Reads `piece` for a peer's block-layer hash request on `conn` (see
    /// [`hashes::serve`](super::hashes::serve)): a `BlockDigests` job.
    pub(crate) fn read_block_hashes(
        &mut self,
        id: TorrentId,
        piece: u32,
        conn: ConnId,
        request: HashRequest,
    ) {
        let why = DigestsFor::HashRequest(Box::new((conn, request)));
        let job = Job::BlockDigests { piece, why };
        self.jobs.issue(id, job, self.torrents, self.out);
    }

    /// A piece read for a peer's block-layer hash request (`digests`: the SHA-256 of each
    /// block, `None` if the read failed): the hashes are sent, or the request rejected.
    pub(crate) fn block_hashes_read(
        &mut self,
        now: Instant,
        id: TorrentId,
        conn: ConnId,
        request: HashRequest,
        digests: Option<&[Hash]>,
    ) {
        let Some(p) = self.peers.get_mut(conn) else {
            return;
        };
        p.hash_budget.block_read_done();
        if p.torrent != Some(id) {
            return;
        }
        let hashes = digests.and_then(|digests| {
            let t = self.torrents.get_mut(&id)?;
            let meta = &t.data.as_ref()?.meta;
            let trees = &mut t.peering.make(t.private).trees;
            BlockRun::of(meta, &request)?.answer(meta, trees, &request, digests)
        });
        let Some(p) = self.peers.get_mut(conn) else {
            return;
        };
        let _ = match hashes {
            Some(hashes) => p.conn.send_hashes(now, request, &hashes),
            None => p.conn.reject_hashes(now, request),
        };
        self.then.drive(conn);
    }

    /// The answer to one of our hash requests.
    pub(crate) fn hashes_received(
        &mut self,
        now: Instant,
        conn: ConnId,
        request: HashRequest,
        hashes: &Bytes,
    ) {
        let Some(id) = self.peers.get(conn).and_then(|p| p.torrent) else {
            return;
        };
        if self.leaf_answer(now, id, conn, &request, hashes) {
            return;
        }
        let Some(fetch) = self.torrents.get_mut(&id).and_then(|t| t.layers.as_mut()) else {
            return;
        };
        if fetch.answered(&request, hashes).is_err() {
            self.ban_bad_hashes(id, conn);
        }
        self.next(now, MetaStep::PumpLayers(id));
    }

    /// Bans and closes a peer whose hashes did not prove.
    pub(crate) fn ban_bad_hashes(&mut self, id: TorrentId, conn: ConnId) {
        let reason = PeerCloseReason::BadHashes;
        if let Some(p) = self.peers.get(conn) {
            let who = DepartedPeer {
                addr: p.listen_addr.unwrap_or(p.addr),
                peer_id: p.conn.peer_id(),
            };
            smart_ban::ban_addr(self.torrents, self.out, id, who, &reason);
        }
        self.then.close(conn, reason);
    }

    /// A peer refused one of our hash requests.
    pub(crate) fn hashes_rejected(&mut self, now: Instant, conn: ConnId, request: HashRequest) {
        let Some(id) = self.peers.get(conn).and_then(|p| p.torrent) else {
            return;
        };
        if let Some(parts) = self.torrents.get_mut(&id).and_then(|t| t.peering.get_mut()) {
            parts.leaf_checks.rejected(conn, &request);
        }
        self.pump_leaf_checks(now, id);
        self.next(now, MetaStep::LayersRejected(id, conn, request));
    }

    /// A piece failed its hash and `digests` are its blocks as stored: its leaf check
    /// begins (see [`leaf_check::begin`]). Returns `false` if the piece cannot be checked so
    /// (it then fails whole).
    pub(crate) fn check_leaves(
        &mut self,
        now: Instant,
        id: TorrentId,
        piece: u32,
        digests: &[Hash],
    ) -> bool {
        match leaf_check::begin(id, piece, digests, self.torrents, self.peers) {
            Begun::Not => false,
            Begun::Judged(verdict) => {
                self.leaf_verdict(id, piece, verdict);
                true
            }
            Begun::Asking => {
                self.pump_leaf_checks(now, id);
                true
            }
        }
    }

    /// Asks the torrent's v2 connections (those whose peer set the v2 handshake bit first) for
    /// the leaves of its failed pieces; a piece no peer can be asked for fails whole.
    pub(crate) fn pump_leaf_checks(&mut self, now: Instant, id: TorrentId) {
        loop {
            let Some(t) = self.torrents.get(&id) else {
                return;
            };
            if t.peering.no_leaf_checks() || !t.is_active() {
                return;
            }
            let conns = leaf_check::askable(id, self.peers);
            let Some(parts) = self.torrents.get_mut(&id).and_then(|t| t.peering.get_mut()) else {
                return;
            };
            let (asks, given_up) = parts.leaf_checks.requests(now, &conns);
            let mut unsent = Vec::new();
            for (conn, request) in asks {
                let sent = self
                    .peers
                    .get_mut(conn)
                    .is_some_and(|p| p.conn.request_hashes(now, request).is_ok());
                if sent {
                    self.then.drive(conn);
                } else {
                    unsent.push((conn, request));
                }
            }
            for (piece, digests) in given_up {
                self.then
                    .push(FollowUp::PieceFailed(id, piece, Some(digests)));
            }
            if unsent.is_empty() {
                return;
            }
            if !self.then.is_empty() {
                return self.then.meta(MetaStep::LeavesUnsent(id, unsent));
            }
            let Some(parts) = self.torrents.get_mut(&id).and_then(|t| t.peering.get_mut()) else {
                return;
            };
            for (conn, request) in unsent {
                parts.leaf_checks.rejected(conn, &request);
            }
        }
    }

    /// `hashes` from `conn` may answer a failed piece's leaf request: returns whether it did
    /// (then handled: a run that does not prove bans its sender, one that does gives the
    /// verdict).
    pub(crate) fn leaf_answer(
        &mut self,
        now: Instant,
        id: TorrentId,
        conn: ConnId,
        request: &HashRequest,
        hashes: &Bytes,
    ) -> bool {
        let Some(parts) = self.torrents.get_mut(&id).and_then(|t| t.peering.get_mut()) else {
            return false;
        };
        let Some((piece, result)) = parts.leaf_checks.answered(conn, request, hashes) else {
            return false;
        };
        match result {
            Ok(verdict) => self.leaf_verdict(id, piece, verdict),
            Err(_) => {
                self.ban_bad_hashes(id, conn);
                self.next(now, MetaStep::PumpLeafChecks(id));
            }
        }
        true
    }

    /// A failed piece's blocks were checked: the bad ones are downloaded again and their
    /// senders banned (peers closed, web seeds dropped; the good blocks kept); if none was
    /// bad, the piece fails whole.
    fn leaf_verdict(&mut self, id: TorrentId, piece: u32, verdict: Verdict) {
        let bad = match verdict {
            Verdict::NoneBad => {
                return self.then.push(FollowUp::PieceFailed(id, piece, None));
            }
            Verdict::Bad(bad) => bad,
        };
        let Some(culprits) = leaf_check::blocks_bad(id, piece, &bad, self.torrents) else {
            return;
        };
        self.out.event(Event::PieceFailed { torrent: id, piece });
        // A web seed proven to have sent a bad block is dropped.
        self.then
            .push(FollowUp::WebSeedsFailed(id, piece, culprits.clone()));
        let reason = PeerCloseReason::SmartBanned;
        self.then.push(FollowUp::Ban(id, culprits, reason));
        self.then.push(FollowUp::FillAll(id));
    }
}
