//! Checking a failed v2 piece block by block (BEP 52): the piece's 16 KiB blocks are the
//! leaves of its subtree, whose root (the piece-layer node, or the file's root for a file no
//! longer than one piece) the metainfo holds. When a piece fails, the SHA-256 of each block as
//! stored is kept and the piece's leaf hashes are asked of a v2 peer with a hash request (base
//! layer 0, the piece's run of leaves, no proof: the run must hash up to the node we know, as
//! libtorrent asks for a failed piece's block hashes). The blocks whose hash differs from their
//! leaf are the bad ones: only they are downloaded again and only their senders are banned.
//!
//! [`LeafChecks`] holds a torrent's failed pieces waiting for their leaves (at most
//! [`MAX_PENDING`]); each is asked of one peer at a time, peers that set the v2 handshake bit
//! first, then those that sent none of the piece's blocks. A refusal, a timeout ([`ANSWER_TIMEOUT`]) or a closed connection passes it to
//! another peer; when every connected peer has refused it, the piece is given up and downloaded
//! again whole, as a v1 piece is. A run that does not hash up to the piece's node names its
//! sender ([`BadHashes`]).

use std::collections::BTreeMap;
use std::time::Instant;

use super::io::{ConnId, TorrentId};
use super::layers::{ANSWER_TIMEOUT, BadHashes};
use super::peers::Peers;
use super::torrent::table::Torrents;
use crate::merkle::{BLOCK_SIZE, Hash, V2Piece, root_of};
use crate::metainfo::Metainfo;
use crate::picker::PeerKey;
use crate::wire::hashes::{HASH_LEN, HashRequest};

/// Failed pieces waiting for their leaf hashes per torrent; more fail as v1 pieces do.
pub(crate) const MAX_PENDING: usize = 64;
/// Refusals remembered per piece (beyond that the piece is given up).
const MAX_REFUSALS: usize = 64;

/// A torrent's failed pieces waiting for their leaf hashes.
#[derive(Debug, Default)]
pub(crate) struct LeafChecks {
    pending: BTreeMap<u32, Pending>,
}

/// One failed piece.
#[derive(Debug)]
struct Pending {
    request: HashRequest,
    /// The piece's node: what the leaves must hash up to.
    node: Hash,
    /// SHA-256 of each block as stored, for the blocks holding file data.
    digests: Vec<Hash>,
    /// Connections that sent a block of the piece (asked last).
    senders: Vec<ConnId>,
    asked: Option<(ConnId, Instant)>,
    refused: Vec<ConnId>,
}

/// What a failed piece's check found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Verdict {
    /// These blocks (indices in the piece) differ from their leaves: download them again and
    /// ban their senders; the others are good.
    Bad(Vec<u32>),
    /// Every block matches its leaf, yet the piece failed (the data changed on disk): download
    /// it again whole.
    NoneBad,
}

/// A failed piece to check, as [`LeafChecks::start`] takes it.
#[derive(Clone, Debug)]
pub(crate) struct FailedPiece {
    /// The piece.
    pub(crate) piece: u32,
    /// The hash request for its leaves (base layer 0, no proof).
    pub(crate) request: HashRequest,
    /// The node its leaves hash up to.
    pub(crate) node: Hash,
    /// SHA-256 of each of its blocks holding file data, as stored.
    pub(crate) digests: Vec<Hash>,
    /// Connections that sent blocks of it.
    pub(crate) senders: Vec<ConnId>,
}

/// Where a piece's leaves are in its file's tree, for a torrent with a v2 half.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct LeafTarget {
    /// The request for the piece's leaves (base layer 0, its run, no proof).
    pub(crate) request: HashRequest,
    /// The node the leaves hash up to.
    pub(crate) node: Hash,
    /// The piece's blocks holding file data (the leaves past them are padding).
    pub(crate) data_blocks: usize,
}

impl LeafTarget {
    /// The target of `piece` of `meta`; `None` for a torrent without a v2 half, a piece
    /// without file data, or one whose piece layer is not known.
    pub(crate) fn of(meta: &Metainfo, piece: u32) -> Option<Self> {
        let at = V2Piece::of(meta.layout(), piece)?;
        let root = *meta.pieces_root(at.file)?;
        let (node, index) = if at.whole_file {
            (root, 0)
        } else {
            let layer = meta.piece_layer(at.file)?;
            let node = *layer.get(usize::try_from(at.index_in_file).ok()?)?;
            (node, at.index_in_file.checked_mul(at.leaves)?)
        };
        let request = HashRequest {
            pieces_root: root,
            base_layer: 0,
            index: u32::try_from(index).ok()?,
            length: u32::try_from(at.leaves).ok()?,
            proof_layers: 0,
        };
        request.hashes_in_reply()?;
        Some(Self {
            request,
            node,
            data_blocks: at.data_len.div_ceil(BLOCK_SIZE) as usize,
        })
    }
}

impl Verdict {
    /// The verdict for these bad blocks (none: [`Verdict::NoneBad`]).
    pub(crate) fn of(bad: Vec<u32>) -> Self {
        if bad.is_empty() {
            Self::NoneBad
        } else {
            Self::Bad(bad)
        }
    }
}

impl LeafChecks {
    /// Starts checking a failed piece; `false` if too many wait already (or the piece does),
    /// so it fails whole.
    pub(crate) fn start(&mut self, failed: FailedPiece) -> bool {
        if self.pending.len() >= MAX_PENDING || self.pending.contains_key(&failed.piece) {
            return false;
        }
        self.pending.insert(
            failed.piece,
            Pending {
                request: failed.request,
                node: failed.node,
                digests: failed.digests,
                senders: failed.senders,
                asked: None,
                refused: Vec::new(),
            },
        );
        true
    }

    /// Whether any piece waits.
    pub(crate) fn is_empty(&self) -> bool {
        self.pending.is_empty()
    }

    /// The requests to send now: each piece not asked goes to one of `conns` (the torrent's
    /// established peers, each with whether it set the v2 handshake bit) that has not refused
    /// it: peers with the bit first, then those that sent none of its blocks. Returns them
    /// (marked asked) and the pieces no peer in `conns` can be asked for any more, with their
    /// blocks' digests (given up: taken out, to download again whole).
    #[allow(clippy::type_complexity)]
    pub(crate) fn requests(
        &mut self,
        now: Instant,
        conns: &[(ConnId, bool)],
    ) -> (Vec<(ConnId, HashRequest)>, Vec<(u32, Vec<Hash>)>) {
        let mut asks = Vec::new();
        let mut given_up = Vec::new();
        for (&piece, p) in &mut self.pending {
            if p.asked.is_some() {
                continue;
            }
            let best = conns
                .iter()
                .filter(|(c, _)| !p.refused.contains(c))
                .min_by_key(|(c, v2)| (!v2, p.senders.contains(c)));
            match best {
                Some(&(conn, _)) => {
                    p.asked = Some((conn, now));
                    asks.push((conn, p.request));
                }
                None => given_up.push(piece),
            }
        }
        let given_up = given_up
            .into_iter()
            .filter_map(|piece| Some((piece, self.pending.remove(&piece)?.digests)))
            .collect();
        (asks, given_up)
    }

    /// The piece whose request is `request`, if one waits for it.
    fn piece_of(&self, request: &HashRequest) -> Option<u32> {
        self.pending
            .iter()
            .find(|(_, p)| p.request == *request)
            .map(|(&piece, _)| piece)
    }

    /// `conn` answered `request` with `hashes` (32 bytes each). `None`: not one of ours.
    /// Otherwise the piece and its verdict (it no longer waits), or [`BadHashes`] if the run
    /// does not hash up to the piece's node (the piece waits for another peer).
    pub(crate) fn answered(
        &mut self,
        conn: ConnId,
        request: &HashRequest,
        hashes: &[u8],
    ) -> Option<(u32, Result<Verdict, BadHashes>)> {
        let piece = self.piece_of(request)?;
        let p = self.pending.get(&piece)?;
        let leaves: Vec<Hash> = hashes
            .chunks_exact(HASH_LEN)
            .map(|c| <Hash>::try_from(c).unwrap_or_default())
            .collect();
        let width = u64::from(request.length);
        let proved = leaves.len() as u64 == width && root_of(&leaves, 0, width) == Some(p.node);
        if !proved {
            self.refuse(piece, conn);
            return Some((piece, Err(BadHashes)));
        }
        let p = self.pending.remove(&piece)?;
        let bad: Vec<u32> = p
            .digests
            .iter()
            .zip(&leaves)
            .enumerate()
            .filter(|(_, (stored, leaf))| stored != leaf)
            .map(|(i, _)| i as u32)
            .collect();
        Some((piece, Ok(Verdict::of(bad))))
    }

    /// `conn` refused `request` (or cannot be sent it): the piece is asked of another peer.
    pub(crate) fn rejected(&mut self, conn: ConnId, request: &HashRequest) {
        if let Some(piece) = self.piece_of(request) {
            self.refuse(piece, conn);
        }
    }

    fn refuse(&mut self, piece: u32, conn: ConnId) {
        let Some(p) = self.pending.get_mut(&piece) else {
            return;
        };
        if matches!(p.asked, Some((c, _)) if c == conn) {
            p.asked = None;
        }
        if p.refused.len() < MAX_REFUSALS && !p.refused.contains(&conn) {
            p.refused.push(conn);
        }
    }

    /// `conn` closed: the pieces asked of it are asked of others.
    pub(crate) fn peer_gone(&mut self, conn: ConnId) {
        for p in self.pending.values_mut() {
            if matches!(p.asked, Some((c, _)) if c == conn) {
                p.asked = None;
            }
            p.refused.retain(|c| *c != conn);
        }
    }

    /// Requests asked too long ago count as refused: the piece goes to another peer.
    pub(crate) fn handle_timeout(&mut self, now: Instant) {
        let late: Vec<(u32, ConnId)> = self
            .pending
            .iter()
            .filter_map(|(&piece, p)| match p.asked {
                Some((conn, since)) if now >= since + ANSWER_TIMEOUT => Some((piece, conn)),
                _ => None,
            })
            .collect();
        for (piece, conn) in late {
            self.refuse(piece, conn);
        }
    }

    /// When the oldest request in flight times out.
    pub(crate) fn poll_timeout(&self) -> Option<Instant> {
        self.pending
            .values()
            .filter_map(|p| p.asked.map(|(_, since)| since + ANSWER_TIMEOUT))
            .min()
    }
}

/// How [`begin`] took a failed piece.
#[derive(Debug)]
pub(crate) enum Begun {
    /// It cannot be checked block by block: it fails whole.
    Not,
    /// A one-block piece, judged at once.
    Judged(Verdict),
    /// Waiting for its leaves: ask the torrent's v2 peers.
    Asking,
}

/// A piece of torrent `id` failed its hash and `digests` are its blocks as stored: for a
/// torrent with a v2 half, its blocks are checked against their leaves (a one-block piece at
/// once, a larger one once a peer sends its leaves).
pub(crate) fn begin(
    id: TorrentId,
    piece: u32,
    digests: &[Hash],
    torrents: &mut Torrents,
    peers: &Peers,
) -> Begun {
    let Some(d) = torrents.get(&id).and_then(|t| t.data.as_ref()) else {
        return Begun::Not;
    };
    let Some(target) = LeafTarget::of(&d.meta, piece) else {
        return Begun::Not;
    };
    let Some(senders) = d.picker.block_senders(piece) else {
        return Begun::Not;
    };
    let data = target.data_blocks;
    if data == 0 || digests.len() < data {
        return Begun::Not;
    }
    let digests = digests[..data].to_vec();
    if target.request.length == 1 {
        let bad = if digests[0] == target.node {
            Vec::new()
        } else {
            vec![0]
        };
        return Begun::Judged(Verdict::of(bad));
    }
    let senders: Vec<ConnId> = senders
        .iter()
        .flatten()
        .filter_map(|&key| peers.by_key(key))
        .collect();
    let failed = FailedPiece {
        piece,
        request: target.request,
        node: target.node,
        digests,
        senders,
    };
    let started = torrents
        .get_mut(&id)
        .is_some_and(|t| t.peering.make(t.private).leaf_checks.start(failed));
    if started { Begun::Asking } else { Begun::Not }
}

/// The connections of torrent `id` that may be sent hash requests (established, speaking
/// v2), each with whether its peer set the v2 handshake bit (those are asked first).
pub(crate) fn askable(id: TorrentId, peers: &Peers) -> Vec<(ConnId, bool)> {
    peers
        .ids_of(id)
        .into_iter()
        .filter_map(|c| {
            let p = peers.get(c)?;
            (p.established && p.conn.speaks_v2())
                .then(|| (c, p.conn.peer_reserved().is_some_and(|r| r.v2())))
        })
        .collect()
}

/// Blocks `bad` of torrent `id`'s failed `piece` were proven bad: they are counted as a
/// hash failure and corrupt bytes and downloaded again (the good blocks kept). Returns their
/// senders.
pub(crate) fn blocks_bad(
    id: TorrentId,
    piece: u32,
    bad: &[u32],
    torrents: &mut Torrents,
) -> Option<Vec<PeerKey>> {
    let t = torrents.get_mut(&id)?;
    t.hash_failures += 1;
    let d = t.data.as_mut()?;
    let len = d.meta.layout().piece_len(piece);
    let bytes: u64 = bad
        .iter()
        .map(|&i| u64::from(len.saturating_sub(i * BLOCK_SIZE).min(BLOCK_SIZE)))
        .sum();
    let culprits = d.picker.blocks_failed(piece, bad);
    t.corrupt_bytes += bytes;
    Some(culprits)
}

#[cfg(test)]
#[path = "leaf_check_tests.rs"]
mod tests;
