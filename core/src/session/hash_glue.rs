//! BEP 52 hash messages, dispatched: a peer's hash request is served from the torrent's trees
//! (`hashes`) within the peer's budget; our requests for missing piece layers go to the v2
//! peers of a torrent whose metadata lacks them (`layers`), their answers are checked there,
//! and once every layer is in, the torrent takes its metadata as any magnet does. A peer whose
//! hashes do not prove is banned and closed.

use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;

use super::Session;
use super::event::PeerCloseReason;
use super::hashes::affordable;
use super::io::{ConnId, TorrentId};
use super::layers::LayerFetch;
use super::smart_ban::{self, DepartedPeer};
use crate::metainfo::Metainfo;
use crate::wire::hashes::HashRequest;

impl Session {
    /// A peer's hash request: answered from the torrent's piece layers, or rejected.
    pub(super) fn hash_request(&mut self, now: Instant, conn: ConnId, request: HashRequest) {
        let Some(p) = self.peers.get_mut(conn) else {
            return;
        };
        let hashes = match p.torrent {
            Some(id) if affordable(now, &mut p.hash_budget, &request) => {
                self.torrents.get_mut(&id).and_then(|t| {
                    let meta = &t.data.as_ref()?.meta;
                    t.trees.answer(meta, &request)
                })
            }
            _ => None,
        };
        let Some(p) = self.peers.get_mut(conn) else {
            return;
        };
        let _ = match hashes {
            Some(hashes) => p.conn.send_hashes(now, request, &hashes),
            None => p.conn.reject_hashes(now, request),
        };
    }

    /// The answer to one of our hash requests.
    pub(super) fn hashes_received(
        &mut self,
        now: Instant,
        conn: ConnId,
        request: HashRequest,
        hashes: &Bytes,
    ) {
        let Some(id) = self.peers.get(conn).and_then(|p| p.torrent) else {
            return;
        };
        let Some(fetch) = self.torrents.get_mut(&id).and_then(|t| t.layers.as_mut()) else {
            return;
        };
        if fetch.answered(&request, hashes).is_err() {
            let reason = PeerCloseReason::BadHashes;
            if let Some(p) = self.peers.get(conn) {
                let who = DepartedPeer {
                    addr: p.listen_addr.unwrap_or(p.addr),
                    peer_id: p.conn.peer_id(),
                };
                smart_ban::ban_addr(&mut self.torrents, &mut self.out, id, who, &reason);
            }
            self.close_conn(now, conn, reason);
        }
        self.pump_layers(now, id);
    }

    /// A peer refused one of our hash requests.
    pub(super) fn hashes_rejected(&mut self, now: Instant, conn: ConnId, request: HashRequest) {
        let Some(id) = self.peers.get(conn).and_then(|p| p.torrent) else {
            return;
        };
        if let Some(fetch) = self.torrents.get_mut(&id).and_then(|t| t.layers.as_mut()) {
            fetch.rejected(conn, &request);
            self.pump_layers(now, id);
        }
    }

    /// Starts fetching the piece layers `meta` lacks (it is the torrent's, checked), or
    /// adopts it at once if it lacks none.
    pub(super) fn fetch_layers(&mut self, now: Instant, id: TorrentId, meta: Metainfo) {
        let Some(fetch) = LayerFetch::new(meta.clone()) else {
            return self.adopt_metadata(now, id, Arc::new(meta));
        };
        let Some(t) = self.torrents.get_mut(&id) else {
            return;
        };
        t.fetcher = None;
        t.layers = Some(fetch);
        self.pump_layers(now, id);
    }

    /// Sends a torrent's layer requests to its established peers; adopts the metadata once
    /// every layer is in.
    pub(super) fn pump_layers(&mut self, now: Instant, id: TorrentId) {
        let conns: Vec<ConnId> = self
            .peers
            .ids_of(id)
            .into_iter()
            .filter(|c| self.peers.get(*c).is_some_and(|p| p.established))
            .collect();
        let Some(t) = self.torrents.get_mut(&id) else {
            return;
        };
        let active = t.is_active();
        let Some(fetch) = t.layers.as_mut() else {
            return;
        };
        if fetch.is_complete() {
            if let Some(fetch) = t.layers.take() {
                self.adopt_metadata(now, id, Arc::new(fetch.into_meta()));
            }
            return;
        }
        if !active {
            return;
        }
        fetch.retry_if_stuck(&conns);
        let mut sent = Vec::new();
        for conn in conns {
            let Some(p) = self.peers.get_mut(conn) else {
                continue;
            };
            let in_flight = p.conn.hash_requests_in_flight();
            for request in fetch.requests_for(now, conn, in_flight) {
                if p.conn.request_hashes(now, request).is_err() {
                    fetch.rejected(conn, &request);
                }
                sent.push(conn);
            }
        }
        sent.dedup();
        for conn in sent {
            self.drive(now, conn);
        }
    }

    /// A connection closed: the layer runs it was asked for go to others.
    pub(super) fn layers_peer_gone(&mut self, now: Instant, id: TorrentId, conn: ConnId) {
        if let Some(fetch) = self.torrents.get_mut(&id).and_then(|t| t.layers.as_mut()) {
            fetch.peer_gone(conn);
            self.pump_layers(now, id);
        }
    }

    /// Layer requests that went unanswered for too long go to other peers.
    pub(super) fn layers_timeout(&mut self, now: Instant, due: &[TorrentId]) {
        for &id in due {
            let late = self
                .torrents
                .get(&id)
                .and_then(|t| t.layers.as_ref())
                .and_then(LayerFetch::poll_timeout)
                .is_some_and(|at| at <= now);
            if late {
                if let Some(f) = self.torrents.get_mut(&id).and_then(|t| t.layers.as_mut()) {
                    f.handle_timeout(now);
                }
                self.pump_layers(now, id);
            }
        }
    }
}
