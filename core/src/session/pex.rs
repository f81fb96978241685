//! Peer exchange (BEP 11) in the session: each torrent's [`PexPool`](crate::extensions::PexPool)
//! learns the listen address of every connection as it opens and closes; a received `ut_pex`
//! message adds candidates (source recorded, bounded by the pool and the candidate list); each
//! connection that speaks `ut_pex` gets a [`PexSender`](crate::extensions::PexSender) and a
//! message about once a minute with the peers connected and dropped since the last one.
//!
//! A private torrent (BEP 27) has a disabled pool: nothing is taken from peers and nothing is
//! sent to them.
//!
//! Flags: a peer connected over uTP is told to others with `0x04` (supports uTP), as is an
//! outbound one with `0x10` and a seed with `0x02`; received addresses flagged `0x04` are
//! handed back so that the dial policy knows they speak uTP.

use std::net::SocketAddr;
use std::time::Instant;

use super::connect::OwnAddr;
use super::event::{Event, ExtensionError, PeerCloseReason};
use super::io::ConnId;
use super::outputs::Outputs;
use super::peers::Peers;
use super::torrent::candidates::Source;
use super::torrent::table::Torrents;
use crate::extensions::{PexFlags, UT_PEX};
use crate::wire::ExtendedHandshake;

/// A connection is established, or its extended handshake told us its listen port: its
/// listen address joins the torrent's connected peers (told to others; `utp`: it is connected
/// over uTP).
pub(crate) fn connected(
    peers: &Peers,
    torrents: &mut Torrents,
    own: OwnAddr,
    conn: ConnId,
    utp: bool,
) {
    let Some(p) = peers.get(conn) else {
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
    if utp {
        flags = flags.union(PexFlags::UTP);
    }
    let Some(t) = torrents.get_mut(&id) else {
        return;
    };
    if let Some(own) = own.listen_addr() {
        t.peering.make(t.private).pex.add_own_addr(own);
    }
    t.peering.make(t.private).pex.peer_connected(listen, flags);
}

/// A peer's extended handshake: if it speaks `ut_pex` (and the torrent is public), it gets a
/// sender, due at once (`on`: the session's PEX is on; `utp`: the connection runs over uTP).
/// Returns whether a message was sent (drive the connection).
#[allow(clippy::too_many_arguments)]
pub(crate) fn handshake(
    now: Instant,
    conn: ConnId,
    h: &ExtendedHandshake,
    peers: &mut Peers,
    torrents: &mut Torrents,
    own: OwnAddr,
    on: bool,
    utp: bool,
) -> bool {
    connected(peers, torrents, own, conn, utp);
    if h.extensions.id(UT_PEX).is_none() {
        return false;
    }
    let Some(p) = peers.get_mut(conn) else {
        return false;
    };
    if p.pex.is_some() {
        return false;
    }
    let Some(t) = p.torrent.and_then(|id| torrents.get(&id)) else {
        return false;
    };
    // `connected` made the torrent's pool.
    let listen = p.listen_addr.unwrap_or(p.addr);
    p.pex = (t.peering.get()).and_then(|parts| parts.pex.sender(now, listen));
    send(now, conn, peers, torrents, on)
}

/// A `ut_pex` message: new addresses become candidates of the torrent. Returns the new
/// addresses flagged as supporting uTP; `Err`: the message is malformed, close the
/// connection. (Not called while the session's PEX is off.)
pub(crate) fn message(
    now: Instant,
    conn: ConnId,
    payload: &[u8],
    peers: &Peers,
    torrents: &mut Torrents,
    own: OwnAddr,
    out: &mut Outputs,
) -> Result<Vec<SocketAddr>, PeerCloseReason> {
    let Some(p) = peers.get(conn) else {
        return Ok(Vec::new());
    };
    let Some(id) = p.torrent else {
        return Ok(Vec::new());
    };
    let from = p.listen_addr.unwrap_or(p.addr);
    let Some(t) = torrents.get_mut(&id) else {
        return Ok(Vec::new());
    };
    if let Err(e) = t
        .peering
        .make(t.private)
        .pex
        .handle_payload(now, conn, from, payload)
    {
        return Err(PeerCloseReason::BadExtensionMessage(ExtensionError::Pex(e)));
    }
    let mut found = Vec::new();
    let mut utp = Vec::new();
    while let Some(c) = t.peering.get_mut().and_then(|p| p.pex.pop_candidate()) {
        found.push(c.addr);
        if c.flags.contains(PexFlags::UTP) {
            utp.push(c.addr);
        }
    }
    if found.is_empty() {
        return Ok(utp);
    }
    t.add_candidates(&found, Source::Pex, own);
    out.event(Event::PexPeers {
        torrent: id,
        from,
        peers: found,
    });
    Ok(utp)
}

/// Whether `conn`'s `ut_pex` message is due at `now`.
pub(crate) fn is_due(peers: &Peers, conn: ConnId, now: Instant) -> bool {
    peers
        .get(conn)
        .and_then(|p| p.pex.as_ref())
        .is_some_and(|s| s.poll_timeout() <= now)
}

/// Sends a connection its `ut_pex` message if due (a disabled pool drops the sender; while
/// the session's PEX is off, `on` false, the sender waits). Returns whether a message was
/// sent (drive the connection).
pub(crate) fn send(
    now: Instant,
    conn: ConnId,
    peers: &mut Peers,
    torrents: &Torrents,
    on: bool,
) -> bool {
    if !on {
        return false;
    }
    let enabled = peers
        .get(conn)
        .and_then(|p| p.torrent)
        .and_then(|id| torrents.get(&id))
        .is_some_and(|t| t.is_active() && t.peering.pex_enabled(t.private));
    let Some(p) = peers.get_mut(conn) else {
        return false;
    };
    if !enabled {
        p.pex = None;
        return false;
    }
    let (Some(sender), Some(t)) = (p.pex.as_mut(), p.torrent.and_then(|id| torrents.get(&id)))
    else {
        return false;
    };
    let message = (t.peering.get()).and_then(|parts| parts.pex.poll_message(now, sender));
    let Some(message) = message else {
        return false;
    };
    let _ = p.conn.send_extended(now, UT_PEX, message.encode());
    true
}
