//! Peer exchange (BEP 11) in the session: each torrent's [`PexPool`](crate::extensions::PexPool)
//! learns the listen address of every connection as it opens and closes; a received `ut_pex`
//! message adds candidates (source recorded, bounded by the pool and the candidate list); each
//! connection that speaks `ut_pex` gets a [`PexSender`](crate::extensions::PexSender) and a
//! message about once a minute with the peers connected and dropped since the last one.
//!
//! A private torrent (BEP 27) has a disabled pool: nothing is taken from peers and nothing is
//! sent to them.

use std::net::SocketAddr;
use std::time::Instant;

use super::Session;
use super::event::ExtensionError;
use super::event::{Event, PeerCloseReason};
use super::io::{ConnId, TorrentId};
use super::torrent::candidates::Source;
use crate::extensions::{PexFlags, UT_PEX};
use crate::wire::ExtendedHandshake;

impl Session {
    /// Our own listen address, when the runtime told us where it listens.
    fn own_listen_addr(&self) -> Option<SocketAddr> {
        let ip = self.listen_ip.filter(|ip| !ip.is_unspecified())?;
        (self.config.listen_port != 0).then(|| SocketAddr::new(ip, self.config.listen_port))
    }

    /// A connection is established, or its extended handshake told us its listen port: its
    /// listen address joins the torrent's connected peers (told to others).
    pub(super) fn pex_connected(&mut self, conn: ConnId) {
        let own = self.own_listen_addr();
        let Some(p) = self.peers.get(conn) else {
            return;
        };
        let (Some(id), Some(listen)) = (p.torrent, p.listen_addr) else {
            return;
        };
        if !p.established {
            return;
        }
        let mut flags = PexFlags::NONE;
        if p.outbound {
            flags = flags.union(PexFlags::OUTGOING);
        }
        if p.seed {
            flags = flags.union(PexFlags::SEED);
        }
        let Some(t) = self.torrents.get_mut(&id) else {
            return;
        };
        if let Some(own) = own {
            t.pex.add_own_addr(own);
        }
        t.pex.peer_connected(listen, flags);
    }

    /// A peer's extended handshake: if it speaks `ut_pex` (and the torrent is public), it
    /// gets a sender, due at once.
    pub(super) fn pex_handshake(&mut self, now: Instant, conn: ConnId, h: &ExtendedHandshake) {
        self.pex_connected(conn);
        if h.extensions.id(UT_PEX).is_none() {
            return;
        }
        let Some(p) = self.peers.get_mut(conn) else {
            return;
        };
        if p.pex.is_some() {
            return;
        }
        let Some(t) = p.torrent.and_then(|id| self.torrents.get(&id)) else {
            return;
        };
        p.pex = t.pex.sender(now, p.listen_addr.unwrap_or(p.addr));
        self.pex_send(now, conn);
    }

    /// A `ut_pex` message: new addresses become candidates of the torrent.
    pub(super) fn pex_message(&mut self, now: Instant, conn: ConnId, payload: &[u8]) {
        let Some(p) = self.peers.get(conn) else {
            return;
        };
        let Some(id) = p.torrent else {
            return;
        };
        let from = p.listen_addr.unwrap_or(p.addr);
        let Some(t) = self.torrents.get_mut(&id) else {
            return;
        };
        if !self.config.pex {
            return;
        }
        if let Err(e) = t.pex.handle_payload(now, conn, from, payload) {
            let reason = PeerCloseReason::BadExtensionMessage(ExtensionError::Pex(e));
            return self.close_conn(now, conn, reason);
        }
        let mut peers = Vec::new();
        while let Some(c) = t.pex.pop_candidate() {
            peers.push(c.addr);
        }
        if peers.is_empty() {
            return;
        }
        self.add_candidates(id, &peers, Source::Pex);
        self.events.push_back(Event::PexPeers {
            torrent: id,
            from,
            peers,
        });
    }

    /// A connection closed: it will be reported as dropped to those told of it.
    pub(super) fn pex_peer_gone(&mut self, id: TorrentId, listen: Option<SocketAddr>) {
        if let (Some(t), Some(addr)) = (self.torrents.get_mut(&id), listen) {
            t.pex.peer_disconnected(addr);
        }
    }

    /// Sends the `ut_pex` messages due at `now`.
    pub(super) fn pex_timeout(&mut self, now: Instant) {
        let mut due = self.conns_due(now);
        due.retain(|conn| {
            self.peers
                .get(*conn)
                .and_then(|p| p.pex.as_ref())
                .is_some_and(|s| s.poll_timeout() <= now)
        });
        for conn in due {
            self.pex_send(now, conn);
        }
    }

    fn pex_enabled(&self, torrent: Option<TorrentId>) -> bool {
        torrent
            .and_then(|id| self.torrents.get(&id))
            .is_some_and(|t| t.is_active() && t.pex.is_enabled())
    }

    /// Sends a connection its `ut_pex` message if due (a disabled pool drops the sender;
    /// while the session's PEX is off, the sender waits).
    fn pex_send(&mut self, now: Instant, conn: ConnId) {
        if !self.config.pex {
            return;
        }
        let enabled = self.pex_enabled(self.peers.get(conn).and_then(|p| p.torrent));
        let Some(p) = self.peers.get_mut(conn) else {
            return;
        };
        if !enabled {
            p.pex = None;
            return;
        }
        let (Some(sender), Some(t)) = (
            p.pex.as_mut(),
            p.torrent.and_then(|id| self.torrents.get(&id)),
        ) else {
            return;
        };
        if let Some(message) = t.pex.poll_message(now, sender) {
            let _ = p.conn.send_extended(now, UT_PEX, message.encode());
            self.drive(now, conn);
        }
    }
}
