//! A failed v2 piece checked block by block (see [`leaf_check`](super::leaf_check)): its
//! leaves asked of the torrent's v2 peers, the answer routed back, and the verdict applied:
//! the bad blocks alone are downloaded again and their senders alone are banned. A piece
//! that cannot be checked so fails whole, as a v1 piece does.

use std::time::Instant;

use bytes::Bytes;

use super::Session;
use super::event::{Event, PeerCloseReason};
use super::io::{ConnId, TorrentId};
use super::leaf_check::{FailedPiece, LeafTarget, Verdict};
use crate::merkle::{BLOCK_SIZE, Hash};
use crate::wire::hashes::HashRequest;

impl Session {
    /// A piece failed its hash and `digests` are its blocks as stored: for a torrent with a
    /// v2 half, its blocks are checked against their leaves (a one-block piece at once, a
    /// larger one once a peer sends its leaves). Returns `false` if the piece cannot be
    /// checked so (it then fails whole).
    pub(super) fn check_leaves(
        &mut self,
        now: Instant,
        id: TorrentId,
        piece: u32,
        digests: &[Hash],
    ) -> bool {
        let Some(d) = self.torrents.get(&id).and_then(|t| t.data.as_ref()) else {
            return false;
        };
        let Some(target) = LeafTarget::of(&d.meta, piece) else {
            return false;
        };
        let Some(senders) = d.picker.block_senders(piece) else {
            return false;
        };
        let data = target.data_blocks;
        if data == 0 || digests.len() < data {
            return false;
        }
        let digests = digests[..data].to_vec();
        if target.request.length == 1 {
            let bad = if digests[0] == target.node {
                Vec::new()
            } else {
                vec![0]
            };
            self.leaf_verdict(now, id, piece, Verdict::of(bad));
            return true;
        }
        let senders: Vec<ConnId> = senders
            .iter()
            .flatten()
            .filter_map(|&key| self.peers.by_key(key))
            .collect();
        let failed = FailedPiece {
            piece,
            request: target.request,
            node: target.node,
            digests,
            senders,
        };
        let started = self
            .torrents
            .get_mut(&id)
            .is_some_and(|t| t.leaf_checks.start(failed));
        if started {
            self.pump_leaf_checks(now, id);
        }
        started
    }

    /// Asks the torrent's v2 connections (those whose peer set the v2 handshake bit first) for
    /// the leaves of its failed pieces; a piece no peer can be asked for fails whole.
    pub(super) fn pump_leaf_checks(&mut self, now: Instant, id: TorrentId) {
        loop {
            let Some(t) = self.torrents.get(&id) else {
                return;
            };
            if t.leaf_checks.is_empty() || !t.is_active() {
                return;
            }
            // Only connections that speak v2 may be sent hash requests; those whose peer set
            // the v2 handshake bit are asked first.
            let conns: Vec<(ConnId, bool)> = self
                .peers
                .ids_of(id)
                .into_iter()
                .filter_map(|c| {
                    let p = self.peers.get(c)?;
                    (p.established && p.conn.speaks_v2())
                        .then(|| (c, p.conn.peer_reserved().is_some_and(|r| r.v2())))
                })
                .collect();
            let Some(t) = self.torrents.get_mut(&id) else {
                return;
            };
            let (asks, given_up) = t.leaf_checks.requests(now, &conns);
            let mut unsent = Vec::new();
            for (conn, request) in asks {
                let sent = self
                    .peers
                    .get_mut(conn)
                    .is_some_and(|p| p.conn.request_hashes(now, request).is_ok());
                if sent {
                    self.drive(now, conn);
                } else {
                    unsent.push((conn, request));
                }
            }
            for (piece, digests) in given_up {
                self.piece_failed(now, id, piece, Some(&digests));
            }
            if unsent.is_empty() {
                return;
            }
            let Some(t) = self.torrents.get_mut(&id) else {
                return;
            };
            for (conn, request) in unsent {
                t.leaf_checks.rejected(conn, &request);
            }
        }
    }

    /// `hashes` from `conn` may answer a failed piece's leaf request: returns whether it did
    /// (then handled: a run that does not prove bans its sender, one that does gives the
    /// verdict).
    pub(super) fn leaf_answer(
        &mut self,
        now: Instant,
        id: TorrentId,
        conn: ConnId,
        request: &HashRequest,
        hashes: &Bytes,
    ) -> bool {
        let Some(t) = self.torrents.get_mut(&id) else {
            return false;
        };
        let Some((piece, result)) = t.leaf_checks.answered(conn, request, hashes) else {
            return false;
        };
        match result {
            Ok(verdict) => self.leaf_verdict(now, id, piece, verdict),
            Err(_) => {
                self.ban_bad_hashes(now, id, conn);
                self.pump_leaf_checks(now, id);
            }
        }
        true
    }

    /// A failed piece's blocks were checked: the bad ones are downloaded again and their
    /// senders banned (peers closed, web seeds dropped; the good blocks kept); if none was
    /// bad, the piece fails whole.
    fn leaf_verdict(&mut self, now: Instant, id: TorrentId, piece: u32, verdict: Verdict) {
        let bad = match verdict {
            Verdict::NoneBad => return self.piece_failed(now, id, piece, None),
            Verdict::Bad(bad) => bad,
        };
        let Some(t) = self.torrents.get_mut(&id) else {
            return;
        };
        t.hash_failures += 1;
        let Some(d) = t.data.as_mut() else {
            return;
        };
        let len = d.meta.layout().piece_len(piece);
        let bytes: u64 = bad
            .iter()
            .map(|&i| u64::from(len.saturating_sub(i * BLOCK_SIZE).min(BLOCK_SIZE)))
            .sum();
        let culprits = d.picker.blocks_failed(piece, &bad);
        t.corrupt_bytes += bytes;
        self.out.event(Event::PieceFailed { torrent: id, piece });
        // A web seed proven to have sent a bad block is dropped.
        let (web, mut cx) = self.web_cx();
        web.hash_failed(now, id, piece, &culprits, &culprits, &mut cx);
        self.ban_peers(now, id, &culprits, &PeerCloseReason::SmartBanned);
        self.fill_all(now, id);
    }
}
