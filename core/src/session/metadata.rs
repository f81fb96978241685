//! ut_metadata (BEP 9) in the session: a magnet torrent fetches its info dictionary from its
//! peers with a per-torrent [`MetadataFetcher`](crate::extensions::MetadataFetcher), and every
//! torrent answers requests with its [`MetadataServer`](crate::extensions::MetadataServer)
//! (rejects until the metadata is known).
//!
//! When the fetcher completes, the verified bytes become a [`Metainfo`] and go through the
//! same path as [`Session::set_metadata`]: the torrent gets its picker and storage and the
//! connections that fetched the metadata carry on with the download. Peers the fetcher proves
//! wrong are banned and closed.

use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;

use super::Session;
use super::error::SessionError;
use super::event::ExtensionError;
use super::event::{Event, PeerCloseReason};
use super::io::{ConnId, TorrentId};
use crate::extensions::{FetchEvent, MetadataMessage, UT_METADATA};
use crate::metainfo::Metainfo;
use crate::wire::ExtendedHandshake;

impl Session {
    /// A peer's extended handshake: a magnet torrent's fetcher learns whether (and what size
    /// of) metadata it offers.
    pub(super) fn metadata_handshake(&mut self, now: Instant, conn: ConnId, h: &ExtendedHandshake) {
        let Some(id) = self.peers.get(conn).and_then(|p| p.torrent) else {
            return;
        };
        if h.extensions.id(UT_METADATA).is_none() {
            return;
        }
        let Some(fetcher) = self.torrents.get_mut(&id).and_then(|t| t.fetcher.as_mut()) else {
            return;
        };
        // A refused peer (no size, too large) is simply not asked.
        let _ = fetcher.add_peer(now, conn, h.metadata_size);
        self.pump_fetcher(now, id);
    }

    /// A ut_metadata message: requests go to the server, data and rejects to the fetcher.
    pub(super) fn metadata_message(&mut self, now: Instant, conn: ConnId, payload: &Bytes) {
        let Some(id) = self.peers.get(conn).and_then(|p| p.torrent) else {
            return;
        };
        let message = match MetadataMessage::parse(payload) {
            Ok(m) => m,
            Err(e) if e.is_ignorable() => return,
            Err(e) => {
                let reason = PeerCloseReason::BadExtensionMessage(ExtensionError::Metadata(e));
                return self.close_conn(now, conn, reason);
            }
        };
        let Some(t) = self.torrents.get_mut(&id) else {
            return;
        };
        if let Some(answer) = t.server.handle_message(&message) {
            if let Some(p) = self.peers.get_mut(conn) {
                let _ = p.conn.send_extended(now, UT_METADATA, answer);
            }
            return self.drive(now, conn);
        }
        if let Some(fetcher) = t.fetcher.as_mut() {
            fetcher.handle_message(now, conn, &message);
            self.pump_fetcher(now, id);
        }
    }

    /// A connection of a magnet torrent closed: its pending requests go elsewhere.
    pub(super) fn metadata_peer_gone(&mut self, now: Instant, id: TorrentId, conn: ConnId) {
        if let Some(fetcher) = self.torrents.get_mut(&id).and_then(|t| t.fetcher.as_mut()) {
            fetcher.remove_peer(now, conn);
            self.pump_fetcher(now, id);
        }
    }

    /// Fires the fetchers' deadlines due at `now`.
    pub(super) fn metadata_timeout(&mut self, now: Instant) {
        let due: Vec<TorrentId> = self
            .torrents
            .iter()
            .filter(|(_, t)| t.is_active())
            .filter(|(_, t)| {
                t.fetcher
                    .as_ref()
                    .and_then(|f| f.poll_timeout())
                    .is_some_and(|at| at <= now)
            })
            .map(|(id, _)| *id)
            .collect();
        for id in due {
            if let Some(f) = self.torrents.get_mut(&id).and_then(|t| t.fetcher.as_mut()) {
                f.handle_timeout(now);
            }
            self.pump_fetcher(now, id);
        }
    }

    /// Sends a fetcher's requests and acts on its events.
    fn pump_fetcher(&mut self, now: Instant, id: TorrentId) {
        loop {
            let Some(fetcher) = self.torrents.get_mut(&id).and_then(|t| t.fetcher.as_mut()) else {
                return;
            };
            let mut sends = Vec::new();
            while let Some(out) = fetcher.poll_transmit() {
                sends.push(out);
            }
            let event = fetcher.poll_event();
            for (conn, payload) in sends {
                if let Some(p) = self.peers.get_mut(conn) {
                    let _ = p.conn.send_extended(now, UT_METADATA, payload);
                }
                self.drive(now, conn);
            }
            match event {
                None => return,
                Some(FetchEvent::DropPeer { peer, fault }) => {
                    let reason = PeerCloseReason::BadMetadata(fault);
                    if let Some(p) = self.peers.get(peer) {
                        let (addr, peer_id) = (p.listen_addr.unwrap_or(p.addr), p.conn.peer_id());
                        if let Some(t) = self.torrents.get_mut(&id) {
                            t.pex.forget_source(peer);
                        }
                        self.ban_addr(id, addr, peer_id, &reason);
                    }
                    self.close_conn(now, peer, reason);
                }
                Some(FetchEvent::Complete(info)) => self.metadata_complete(now, id, &info),
            }
        }
    }

    /// Verified info bytes arrived: the torrent becomes a full one.
    fn metadata_complete(&mut self, now: Instant, id: TorrentId, info: &Bytes) {
        match Metainfo::from_info_bytes(info) {
            Ok(meta) => {
                if let Err(e) = self.set_metadata_inner(now, id, Arc::new(meta)) {
                    self.events.push_back(Event::Error {
                        torrent: Some(id),
                        error: SessionError::Metadata(e),
                    });
                }
            }
            Err(e) => {
                // The bytes hash to the info-hash, so the torrent itself is unusable.
                if let Some(t) = self.torrents.get_mut(&id) {
                    t.fetcher = None;
                }
                self.events.push_back(Event::Error {
                    torrent: Some(id),
                    error: SessionError::InvalidInfo(e),
                });
            }
        }
    }
}
