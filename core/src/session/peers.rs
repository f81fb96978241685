//! The connection table: every connection the session has, dialling or open, with its torrent,
//! address, picker key and rates; and the counts the limits need.

use crate::wire::mse::{MseResponder, MseStream};
use crate::wire::mse_initiator::MseInitiator;
use std::collections::{BTreeMap, BTreeSet};
use std::net::{IpAddr, SocketAddr};
use std::time::Instant;

use super::io::{ConnId, TorrentId};
use super::rate::RateMeter;
use crate::extensions::PexSender;
use crate::picker::PeerKey;
use crate::wire::{BlockRef, Connection};

/// An outbound connect in progress (no [`Connection`] yet: it is made once connected).
#[derive(Debug)]
pub(crate) struct Dialing {
    pub(crate) addr: SocketAddr,
    pub(crate) torrent: TorrentId,
    pub(crate) since: Instant,
}

/// One open connection.
#[derive(Debug)]
pub(crate) struct Peer {
    pub(crate) conn: Connection,
    pub(crate) addr: SocketAddr,
    /// The address the peer listens on, when known (outbound: `addr`; inbound: from its
    /// extended handshake). Its candidate entry is kept busy while connected.
    pub(crate) listen_addr: Option<SocketAddr>,
    /// `None` for an inbound connection until its handshake names the torrent.
    pub(crate) torrent: Option<TorrentId>,
    pub(crate) key: PeerKey,
    pub(crate) outbound: bool,
    /// Handshake done and the peer registered with its torrent.
    pub(crate) established: bool,
    /// Registered with the torrent's picker.
    pub(crate) in_picker: bool,
    pub(crate) connected_at: Instant,
    pub(crate) down: RateMeter,
    pub(crate) up: RateMeter,
    /// Blocks being read from disk to upload.
    pub(crate) reading: BTreeSet<BlockRef>,
    /// Bytes of `reading`.
    pub(crate) reading_bytes: usize,
    /// Bytes handed to the runtime and not yet reported written (with `send_accounting`).
    pub(crate) unsent: usize,
    /// Since when `unsent` is at the cap with no write reported (`None`: below the cap).
    pub(crate) send_stalled_since: Option<Instant>,
    /// We asked the runtime to stop reading this socket: its torrent has too much received
    /// and not yet written (`max_unwritten_bytes`).
    pub(crate) reading_paused: bool,
    /// The peer has every piece.
    pub(crate) seed: bool,
    /// What we told the peer over ut_pex (`None`: it does not speak ut_pex, or the torrent
    /// is private).
    pub(crate) pex: Option<PexSender>,
    /// The encrypted handshake (MSE) in progress: the connection's bytes go here until it
    /// ends, and the wire connection's transmits wait. An inbound connection starts here
    /// until its first bytes show plain BitTorrent or MSE; an outbound one when we dial with
    /// MSE. `None` after that, and for outbound plain connections.
    pub(crate) mse: Option<Box<MseHandshake>>,
    /// The RC4 streams when the peer's MSE handshake selected an encrypted payload.
    pub(crate) stream: Option<Box<MseStream>>,
}

impl Peer {
    pub(crate) fn new(
        conn: Connection,
        addr: SocketAddr,
        torrent: Option<TorrentId>,
        key: PeerKey,
        outbound: bool,
        now: Instant,
    ) -> Self {
        Self {
            conn,
            addr,
            listen_addr: None,
            torrent,
            key,
            outbound,
            established: false,
            in_picker: false,
            connected_at: now,
            down: RateMeter::new(now),
            up: RateMeter::new(now),
            reading: BTreeSet::new(),
            reading_bytes: 0,
            unsent: 0,
            send_stalled_since: None,
            reading_paused: false,
            seed: false,
            pex: None,
            mse: None,
            stream: None,
        }
    }
}

/// One side of an encrypted handshake (see [`crate::wire::mse`]).
#[derive(Debug)]
pub(crate) enum MseHandshake {
    /// An inbound connection: plain BitTorrent or MSE, as the peer chooses.
    Answering(MseResponder),
    /// A connection we dialled with MSE.
    Opening(MseInitiator),
}

/// Every connection, by id.
#[derive(Debug, Default)]
pub(crate) struct Peers {
    next_conn: u64,
    next_key: u32,
    pub(crate) dialing: BTreeMap<ConnId, Dialing>,
    pub(crate) open: BTreeMap<ConnId, Peer>,
    by_key: BTreeMap<PeerKey, ConnId>,
}

impl Peers {
    /// A fresh connection id.
    pub(crate) fn alloc_conn(&mut self) -> ConnId {
        self.next_conn += 1;
        ConnId(self.next_conn)
    }

    /// A fresh picker key (never reused).
    pub(crate) fn alloc_key(&mut self) -> PeerKey {
        self.next_key = self.next_key.wrapping_add(1);
        PeerKey(self.next_key)
    }

    pub(crate) fn insert(&mut self, id: ConnId, peer: Peer) {
        self.by_key.insert(peer.key, id);
        self.open.insert(id, peer);
    }

    pub(crate) fn remove(&mut self, id: ConnId) -> Option<Peer> {
        let peer = self.open.remove(&id)?;
        self.by_key.remove(&peer.key);
        Some(peer)
    }

    pub(crate) fn get_mut(&mut self, id: ConnId) -> Option<&mut Peer> {
        self.open.get_mut(&id)
    }

    pub(crate) fn get(&self, id: ConnId) -> Option<&Peer> {
        self.open.get(&id)
    }

    pub(crate) fn by_key(&self, key: PeerKey) -> Option<ConnId> {
        self.by_key.get(&key).copied()
    }

    /// Connections of any kind (dialling, handshaking, established).
    pub(crate) fn total(&self) -> usize {
        self.dialing.len() + self.open.len()
    }

    /// Outbound connects in progress.
    pub(crate) fn half_open(&self) -> usize {
        self.dialing.len()
    }

    /// Inbound connections whose handshake has not named a torrent yet.
    pub(crate) fn pending_inbound(&self) -> usize {
        self.open.values().filter(|p| p.torrent.is_none()).count()
    }

    /// Connections (dialling or open) of one torrent.
    pub(crate) fn of_torrent(&self, torrent: TorrentId) -> usize {
        self.dialing
            .values()
            .filter(|d| d.torrent == torrent)
            .count()
            + self
                .open
                .values()
                .filter(|p| p.torrent == Some(torrent))
                .count()
    }

    /// Connections (dialling or open) to one IP.
    pub(crate) fn to_ip(&self, ip: IpAddr) -> usize {
        self.dialing.values().filter(|d| d.addr.ip() == ip).count()
            + self.open.values().filter(|p| p.addr.ip() == ip).count()
    }

    /// Ids of the open connections of a torrent, in order.
    pub(crate) fn ids_of(&self, torrent: TorrentId) -> Vec<ConnId> {
        self.open
            .iter()
            .filter(|(_, p)| p.torrent == Some(torrent))
            .map(|(id, _)| *id)
            .collect()
    }

    /// Ids of the dialling connections of a torrent, in order.
    pub(crate) fn dialing_of(&self, torrent: TorrentId) -> Vec<ConnId> {
        self.dialing
            .iter()
            .filter(|(_, d)| d.torrent == torrent)
            .map(|(id, _)| *id)
            .collect()
    }
}
