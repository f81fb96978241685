//! ut_metadata (BEP 9) in the session: a magnet torrent fetches its info dictionary from its
//! peers with a per-torrent [`MetadataFetcher`](crate::extensions::MetadataFetcher), and every
//! torrent answers requests with its [`MetadataServer`](crate::extensions::MetadataServer)
//! (rejects until the metadata is known).
//!
//! When the fetcher completes, the verified bytes become a [`Metainfo`] and go through the
//! same path as [`Session::set_metadata`]: the torrent gets its picker and storage and the
//! connections that fetched the metadata carry on with the download. Peers the fetcher proves
//! wrong are banned and closed.

use std::fmt;
use std::time::Instant;

use bytes::Bytes;

use super::error::SessionError;
use super::event::{Event, ExtensionError, PeerCloseReason};
use super::io::{ConnId, TorrentId};
use super::outputs::Outputs;
use super::peers::Peers;
use super::smart_ban::{self, DepartedPeer};
use super::torrent::Torrent;
use super::torrent::table::Torrents;
use super::torrent::table::Unknown;
use crate::extensions::{FetchEvent, MetadataFault, MetadataMessage, UT_METADATA};
use crate::metainfo::Metainfo;
use crate::wire::ExtendedHandshake;

/// Why [`Session::set_metadata`] refused the metadata.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum MetadataError {
    /// No such torrent.
    UnknownTorrent(TorrentId),
    /// The torrent has its metadata already.
    AlreadyKnown,
    /// The metadata is for another info-hash.
    WrongInfoHash,
}

impl fmt::Display for MetadataError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::UnknownTorrent(t) => write!(f, "no torrent {}", t.0),
            Self::AlreadyKnown => f.write_str("the torrent already has its metadata"),
            Self::WrongInfoHash => f.write_str("the metadata's info-hash is not the torrent's"),
        }
    }
}

impl std::error::Error for MetadataError {}

impl From<Unknown> for MetadataError {
    fn from(Unknown(id): Unknown) -> Self {
        Self::UnknownTorrent(id)
    }
}

/// A peer's extended handshake: a magnet torrent's fetcher learns whether (and what size of)
/// metadata it offers. Returns the torrent whose fetcher to pump.
pub(crate) fn handshake(
    now: Instant,
    conn: ConnId,
    h: &ExtendedHandshake,
    peers: &Peers,
    torrents: &mut Torrents,
) -> Option<TorrentId> {
    let id = peers.get(conn).and_then(|p| p.torrent)?;
    h.extensions.id(UT_METADATA)?;
    let fetcher = torrents.get_mut(&id).and_then(|t| t.fetcher.as_mut())?;
    // A refused peer (no size, too large) is simply not asked.
    let _ = fetcher.add_peer(now, conn, h.metadata_size);
    Some(id)
}

/// What a ut_metadata message calls for.
pub(crate) enum Handled {
    /// Nothing more.
    Nothing,
    /// The message is malformed: close the connection.
    Close(PeerCloseReason),
    /// Our server answered: drive the connection.
    Answered,
    /// The torrent's fetcher took it: pump the fetcher.
    Fetch(TorrentId),
}

/// A ut_metadata message: requests go to the server, data and rejects to the fetcher.
pub(crate) fn message(
    now: Instant,
    conn: ConnId,
    payload: &Bytes,
    peers: &mut Peers,
    torrents: &mut Torrents,
) -> Handled {
    let Some(id) = peers.get(conn).and_then(|p| p.torrent) else {
        return Handled::Nothing;
    };
    let message = match MetadataMessage::parse(payload) {
        Ok(m) => m,
        Err(e) if e.is_ignorable() => return Handled::Nothing,
        Err(e) => {
            let reason = PeerCloseReason::BadExtensionMessage(ExtensionError::Metadata(e));
            return Handled::Close(reason);
        }
    };
    let Some(t) = torrents.get_mut(&id) else {
        return Handled::Nothing;
    };
    if let Some(answer) = t.metadata_server().handle_message(&message) {
        if let Some(p) = peers.get_mut(conn) {
            let _ = p.conn.send_extended(now, UT_METADATA, answer);
        }
        return Handled::Answered;
    }
    match t.fetcher.as_mut() {
        Some(fetcher) => {
            fetcher.handle_message(now, conn, &message);
            Handled::Fetch(id)
        }
        None => Handled::Nothing,
    }
}

/// The active torrents among `due` (those whose deadline is due) whose fetcher has a
/// deadline due at `now`.
pub(crate) fn due(now: Instant, due: &[TorrentId], torrents: &Torrents) -> Vec<TorrentId> {
    due.iter()
        .copied()
        .filter(|id| {
            torrents.get(id).is_some_and(|t| {
                t.is_active()
                    && t.fetcher
                        .as_ref()
                        .and_then(|f| f.poll_timeout())
                        .is_some_and(|at| at <= now)
            })
        })
        .collect()
}

/// A fetcher's requests to send (connection, payload) and its next event.
pub(crate) type FetcherOutput = (Vec<(ConnId, Bytes)>, Option<FetchEvent<ConnId>>);

/// Takes a torrent's fetcher's requests and its next event (`None`: no fetcher).
pub(crate) fn poll_fetcher(t: &mut Torrent) -> Option<FetcherOutput> {
    let fetcher = t.fetcher.as_mut()?;
    let mut sends = Vec::new();
    while let Some(out) = fetcher.poll_transmit() {
        sends.push(out);
    }
    Some((sends, fetcher.poll_event()))
}

/// The fetcher proved a peer wrong: it is banned from torrent `id` and forgotten as a source
/// of peers. Returns the reason to close it with.
pub(crate) fn ban_source(
    id: TorrentId,
    peer: ConnId,
    fault: MetadataFault,
    peers: &Peers,
    torrents: &mut Torrents,
    out: &mut Outputs,
) -> PeerCloseReason {
    let reason = PeerCloseReason::BadMetadata(fault);
    if let Some(p) = peers.get(peer) {
        let who = DepartedPeer {
            addr: p.listen_addr.unwrap_or(p.addr),
            peer_id: p.conn.peer_id(),
        };
        if let Some(parts) = torrents.get_mut(&id).and_then(|t| t.peering.get_mut()) {
            parts.pex.forget_source(peer);
        }
        smart_ban::ban_addr(torrents, out, id, who, &reason);
    }
    reason
}

/// Verified info bytes arrived: the metainfo they make (`None`: they do not make one, which
/// leaves the torrent unusable: its fetch ends and the application is told).
pub(crate) fn complete(
    id: TorrentId,
    info: &Bytes,
    torrents: &mut Torrents,
    out: &mut Outputs,
) -> Option<Metainfo> {
    match Metainfo::from_info_bytes(info) {
        Ok(meta) => Some(meta),
        Err(e) => {
            // The bytes hash to the info-hash, so the torrent itself is unusable.
            if let Some(t) = torrents.get_mut(&id) {
                t.fetcher = None;
            }
            out.event(Event::Error {
                torrent: Some(id),
                error: SessionError::InvalidInfo(e),
            });
            None
        }
    }
}
