//! [`MetadataFetcher`]: one torrent's metadata download from many peers, with liar detection.
//!
//! # How it decides
//! The peers are grouped by the `metadata_size` they advertise; the size most of them agree on
//! (ties: the smaller) is fetched. Each piece is asked from one peer at a time, spread round
//! robin, at most [`FetcherConfig::requests_per_peer`] per peer. Every piece received is a
//! *vote* for its SHA-1 digest, recorded with the peer that sent it; only the leading version's
//! bytes are kept, so memory stays within the size (which is capped) plus one copy while
//! hashing.
//!
//! When every piece has a leader with enough votes, the pieces are joined and hashed. If the
//! hash is the info-hash, every peer that voted for a losing version of some piece lied and is
//! named in [`FetchEvent::DropPeer`], as is every peer that advertised another size. If not,
//! each piece then needs one more agreeing vote than before, from peers that have not sent it
//! yet (a smart ban: the liar is outvoted by the others); after
//! [`FetcherConfig::max_hash_failures`] failures, or once no peer is left to give a missing
//! vote while peers of another size exist, the size is given up and the next one tried. One
//! liar among three or more peers is therefore always found; with only two peers who disagree,
//! the fetcher waits for a third.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::fmt;
use std::time::{Duration, Instant};

use bytes::Bytes;

use super::{
    DEFAULT_MAX_METADATA_SIZE, MetadataMessage, MetadataMessageError, metadata_piece_count,
    metadata_piece_len,
};
use crate::id::{InfoHash, InfoHashV2, InfoHashes, sha1_digest};

/// Most distinct versions of one piece remembered (more votes are ignored).
const MAX_VERSIONS: usize = 16;

/// Most sizes given up on that are remembered.
const MAX_FAILED_SIZES: usize = 64;

/// Settings of a [`MetadataFetcher`].
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct FetcherConfig {
    /// The largest `metadata_size` believed; peers advertising more are not used.
    pub max_metadata_size: u64,
    /// Requests in flight to one peer at once.
    pub requests_per_peer: usize,
    /// A request unanswered this long is asked elsewhere.
    pub request_timeout: Duration,
    /// A peer that rejected or timed out is not asked again for this long.
    pub retry_backoff: Duration,
    /// Hash failures after which a size is given up.
    pub max_hash_failures: u32,
}

impl Default for FetcherConfig {
    fn default() -> Self {
        Self {
            max_metadata_size: DEFAULT_MAX_METADATA_SIZE,
            requests_per_peer: 2,
            request_timeout: Duration::from_secs(20),
            retry_backoff: Duration::from_secs(10),
            max_hash_failures: 4,
        }
    }
}

/// What the session should act on; drain with [`MetadataFetcher::poll_event`].
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum FetchEvent<P> {
    /// The info dictionary, verified against the info-hash: parse it with
    /// `Metainfo::from_info_bytes`. The fetcher is finished.
    Complete(Bytes),
    /// Close this peer: it sent metadata that was proven wrong. The fetcher already forgot it.
    DropPeer {
        /// The peer.
        peer: P,
        /// What it did.
        fault: MetadataFault,
    },
}

/// What a peer did wrong with metadata.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum MetadataFault {
    /// It sent bytes for this piece that differ from the verified metadata.
    BadPiece(u32),
    /// It advertised a `metadata_size` other than the verified one.
    WrongSize {
        /// What it advertised.
        advertised: u64,
        /// The verified size.
        actual: u64,
    },
    /// A data message's `total_size` differs from the `metadata_size` it advertised.
    TotalSizeMismatch {
        /// From its extended handshake.
        advertised: u64,
        /// From the data message.
        claimed: u64,
    },
    /// A data message of the wrong length for its piece.
    WrongPieceLength {
        /// The piece.
        piece: u32,
        /// Its length.
        expected: usize,
        /// What arrived.
        got: usize,
    },
}

/// Why [`MetadataFetcher::add_peer`] will not use a peer (it is not a fault: keep it).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum PeerRefusal {
    /// Its extended handshake has no `metadata_size` (it does not have the metadata).
    NoMetadataSize,
    /// It advertised a size of 0.
    EmptyMetadata,
    /// It advertised more than [`FetcherConfig::max_metadata_size`].
    TooLarge(u64),
    /// The metadata is already complete.
    Finished,
}

/// Fetches one torrent's info dictionary; generic over the session's peer handle `P`.
///
/// # Run loop
/// - When a peer's extended handshake advertises `ut_metadata`: [`add_peer`](Self::add_peer)
///   with its `metadata_size` (again on a later handshake).
/// - A parsed `data` or `reject` message from it: [`handle_message`](Self::handle_message).
/// - Its connection closed: [`remove_peer`](Self::remove_peer).
/// - At [`poll_timeout`](Self::poll_timeout): [`handle_timeout`](Self::handle_timeout).
/// - After each of those calls drain [`poll_transmit`](Self::poll_transmit) (send each payload
///   with `send_extended(now, UT_METADATA, payload)`) and [`poll_event`](Self::poll_event).
#[derive(Debug)]
pub struct MetadataFetcher<P> {
    info_hash: InfoHash,
    /// The hashes the assembled bytes must have: SHA-1 (if the torrent has a v1 hash) and
    /// SHA-256 (if it has a v2 hash; BEP 52).
    hashes: InfoHashes,
    config: FetcherConfig,
    peers: BTreeMap<P, PeerState>,
    assembly: Option<Assembly<P>>,
    failed_sizes: BTreeSet<u64>,
    done: Option<Bytes>,
    cursor: usize,
    transmits: VecDeque<(P, Bytes)>,
    events: VecDeque<FetchEvent<P>>,
}

#[derive(Debug)]
struct PeerState {
    size: u64,
    requests: Vec<(u32, Instant)>,
    idle_until: Option<Instant>,
}

#[derive(Debug)]
struct Assembly<P> {
    size: u64,
    failures: u32,
    pieces: Vec<Piece<P>>,
}

#[derive(Debug)]
struct Piece<P> {
    versions: Vec<Version<P>>,
    leader: usize,
    /// The leading version's bytes.
    data: Option<Bytes>,
    in_flight: Option<P>,
}

#[derive(Debug)]
struct Version<P> {
    digest: [u8; 20],
    suppliers: Vec<P>,
}

impl<P: Copy + Ord> MetadataFetcher<P> {
    /// A fetcher for the torrent `info_hash` (a v1 hash) with no peers yet.
    pub fn new(info_hash: InfoHash, config: FetcherConfig) -> Self {
        Self::for_hashes(InfoHashes::v1(info_hash), config)
    }

    /// A fetcher for a torrent named by `hashes` (a magnet's `btih` and/or `btmh`): the info
    /// dictionary must hash to every one of them.
    pub fn for_hashes(hashes: InfoHashes, config: FetcherConfig) -> Self {
        Self {
            info_hash: hashes.id(),
            hashes,
            config,
            peers: BTreeMap::new(),
            assembly: None,
            failed_sizes: BTreeSet::new(),
            done: None,
            cursor: 0,
            transmits: VecDeque::new(),
            events: VecDeque::new(),
        }
    }

    /// Adds (or updates) a peer that advertises `ut_metadata` with `metadata_size`. A refused
    /// peer is simply not asked; nothing is held against it.
    pub fn add_peer(
        &mut self,
        now: Instant,
        peer: P,
        metadata_size: Option<u64>,
    ) -> Result<(), PeerRefusal> {
        if self.done.is_some() {
            return Err(PeerRefusal::Finished);
        }
        let size = metadata_size.ok_or(PeerRefusal::NoMetadataSize)?;
        if size == 0 {
            return Err(PeerRefusal::EmptyMetadata);
        }
        if size > self.config.max_metadata_size {
            return Err(PeerRefusal::TooLarge(size));
        }
        match self.peers.get(&peer) {
            Some(state) if state.size == size => return Ok(()),
            Some(_) => self.forget_peer(peer),
            None => {}
        }
        self.peers.insert(
            peer,
            PeerState {
                size,
                requests: Vec::new(),
                idle_until: None,
            },
        );
        self.progress(now);
        Ok(())
    }

    /// The peer's connection closed: its requests are asked elsewhere (what it sent is kept).
    pub fn remove_peer(&mut self, now: Instant, peer: P) {
        if self.done.is_some() || !self.peers.contains_key(&peer) {
            return;
        }
        self.forget_peer(peer);
        self.progress(now);
    }

    /// A ut_metadata message from `peer`: `data` and `reject` are handled, requests are
    /// ignored (they are for the [`MetadataServer`](super::MetadataServer)). Data nobody asked
    /// of this peer (late after a timeout, or unsolicited) is ignored.
    pub fn handle_message(&mut self, now: Instant, peer: P, message: &MetadataMessage) {
        if self.done.is_some() {
            return;
        }
        match message {
            MetadataMessage::Request { .. } => {}
            MetadataMessage::Reject { piece } => {
                if self.take_request(peer, *piece) {
                    self.back_off(now, peer);
                    self.progress(now);
                }
            }
            MetadataMessage::Data {
                piece,
                total_size,
                data,
            } => self.handle_data(now, peer, *piece, *total_size, data),
        }
    }

    /// Parses a ut_metadata payload and handles it like [`handle_message`](Self::handle_message);
    /// returns the parse error (the session decides whether to close the peer: see
    /// [`MetadataMessageError::is_ignorable`]).
    pub fn handle_payload(
        &mut self,
        now: Instant,
        peer: P,
        payload: &Bytes,
    ) -> Result<(), MetadataMessageError> {
        let message = MetadataMessage::parse(payload)?;
        self.handle_message(now, peer, &message);
        Ok(())
    }

    /// Expires requests and back-offs due at `now`; expired pieces are asked elsewhere.
    pub fn handle_timeout(&mut self, now: Instant) {
        if self.done.is_some() {
            return;
        }
        let mut expired = Vec::new();
        for (peer, state) in &mut self.peers {
            if state.idle_until.is_some_and(|t| t <= now) {
                state.idle_until = None;
            }
            state.requests.retain(|(piece, deadline)| {
                let keep = *deadline > now;
                if !keep {
                    expired.push((*peer, *piece));
                }
                keep
            });
        }
        for (peer, piece) in expired {
            self.clear_in_flight(peer, piece);
            self.back_off(now, peer);
        }
        self.progress(now);
    }

    /// The next request to send: `(peer, payload)` for `send_extended(now, UT_METADATA, ..)`.
    /// Poll after every call until `None`.
    #[must_use]
    pub fn poll_transmit(&mut self) -> Option<(P, Bytes)> {
        self.transmits.pop_front()
    }

    /// The next event. Poll after every call until `None`.
    #[must_use]
    pub fn poll_event(&mut self) -> Option<FetchEvent<P>> {
        self.events.pop_front()
    }

    /// When [`handle_timeout`](Self::handle_timeout) is next due.
    #[must_use]
    pub fn poll_timeout(&self) -> Option<Instant> {
        if self.done.is_some() {
            return None;
        }
        self.peers
            .values()
            .flat_map(|s| s.requests.iter().map(|(_, t)| *t).chain(s.idle_until))
            .min()
    }

    /// The verified info bytes, once complete.
    pub fn info_bytes(&self) -> Option<&Bytes> {
        self.done.as_ref()
    }

    /// Whether the metadata is complete and verified.
    pub fn is_complete(&self) -> bool {
        self.done.is_some()
    }

    /// The info-hash being fetched.
    pub fn info_hash(&self) -> InfoHash {
        self.info_hash
    }

    /// The size being fetched, once chosen.
    pub fn metadata_size(&self) -> Option<u64> {
        self.assembly.as_ref().map(|a| a.size)
    }

    /// `(pieces held, pieces total)` of the size being fetched.
    pub fn progress_pieces(&self) -> (u32, u32) {
        self.assembly.as_ref().map_or((0, 0), |a| {
            let held = a.pieces.iter().filter(|p| p.data.is_some()).count();
            (held as u32, a.pieces.len() as u32)
        })
    }

    /// Bytes of metadata held (never more than the size being fetched).
    pub fn bytes_held(&self) -> usize {
        self.assembly.as_ref().map_or(0, |a| {
            a.pieces
                .iter()
                .filter_map(|p| p.data.as_ref())
                .map(Bytes::len)
                .sum()
        })
    }

    /// How many peers are usable.
    pub fn peer_count(&self) -> usize {
        self.peers.len()
    }

    /// Requests in flight to `peer`.
    pub fn requests_in_flight(&self, peer: P) -> usize {
        self.peers.get(&peer).map_or(0, |s| s.requests.len())
    }

    fn handle_data(&mut self, now: Instant, peer: P, piece: u32, total_size: u64, data: &Bytes) {
        if !self.take_request(peer, piece) {
            return;
        }
        let Some(advertised) = self.peers.get(&peer).map(|s| s.size) else {
            return;
        };
        if total_size != advertised {
            self.drop_peer(
                peer,
                MetadataFault::TotalSizeMismatch {
                    advertised,
                    claimed: total_size,
                },
            );
            self.progress(now);
            return;
        }
        let expected = metadata_piece_len(advertised, piece).unwrap_or(0);
        if data.len() != expected {
            self.drop_peer(
                peer,
                MetadataFault::WrongPieceLength {
                    piece,
                    expected,
                    got: data.len(),
                },
            );
            self.progress(now);
            return;
        }
        if let Some(asm) = &mut self.assembly
            && asm.size == advertised
            && let Some(p) = asm.pieces.get_mut(piece as usize)
        {
            p.vote(peer, data);
        }
        self.progress(now);
    }

    /// Removes `piece` from `peer`'s requests; whether it was there.
    fn take_request(&mut self, peer: P, piece: u32) -> bool {
        let Some(state) = self.peers.get_mut(&peer) else {
            return false;
        };
        let Some(i) = state.requests.iter().position(|(p, _)| *p == piece) else {
            return false;
        };
        state.requests.swap_remove(i);
        self.clear_in_flight(peer, piece);
        true
    }

    fn clear_in_flight(&mut self, peer: P, piece: u32) {
        if let Some(p) = self
            .assembly
            .as_mut()
            .and_then(|a| a.pieces.get_mut(piece as usize))
            && p.in_flight == Some(peer)
        {
            p.in_flight = None;
        }
    }

    fn back_off(&mut self, now: Instant, peer: P) {
        if let Some(state) = self.peers.get_mut(&peer) {
            state.idle_until = Some(now + self.config.retry_backoff);
        }
    }

    fn forget_peer(&mut self, peer: P) {
        if let Some(state) = self.peers.remove(&peer) {
            for (piece, _) in state.requests {
                self.clear_in_flight(peer, piece);
            }
        }
    }

    fn drop_peer(&mut self, peer: P, fault: MetadataFault) {
        self.forget_peer(peer);
        self.events.push_back(FetchEvent::DropPeer { peer, fault });
    }

    /// After every change: pick the size, hand out requests, verify when possible.
    fn progress(&mut self, now: Instant) {
        loop {
            self.choose_size();
            self.schedule(now);
            if !self.try_verify() {
                return;
            }
            if self.done.is_some() {
                return;
            }
            // A failed hash raised the bar (or gave up a size): schedule again.
        }
    }

    fn peers_with_size(&self, size: u64) -> usize {
        self.peers.values().filter(|s| s.size == size).count()
    }

    fn choose_size(&mut self) {
        if self.assembly.is_none()
            && self
                .peers
                .values()
                .all(|s| self.failed_sizes.contains(&s.size))
        {
            // Every size offered has failed: give them all another chance.
            self.failed_sizes.clear();
        }
        let mut counts: BTreeMap<u64, usize> = BTreeMap::new();
        for state in self.peers.values() {
            if !self.failed_sizes.contains(&state.size) {
                *counts.entry(state.size).or_default() += 1;
            }
        }
        // Most peers first; among equals the smallest size (max_by_key keeps the last maximum
        // of the reversed order).
        let pick = |exclude: Option<u64>| {
            counts
                .iter()
                .rev()
                .filter(|(size, _)| Some(**size) != exclude)
                .max_by_key(|(_, count)| **count)
                .map(|(size, count)| (*size, *count))
        };
        let target = match &self.assembly {
            None => pick(None).map(|(size, _)| size),
            Some(asm) if asm.failures > 0 && self.stalled(asm) => {
                // This size failed and nobody else can vote on it: try another, if any.
                let other = pick(Some(asm.size)).map(|(size, _)| size);
                if other.is_some() {
                    if self.failed_sizes.len() >= MAX_FAILED_SIZES {
                        self.failed_sizes.pop_first();
                    }
                    self.failed_sizes.insert(asm.size);
                }
                other
            }
            Some(asm) => pick(None)
                .filter(|(size, count)| {
                    *size != asm.size && *count > self.peers_with_size(asm.size)
                })
                .map(|(size, _)| size),
        };
        let Some(size) = target else {
            return;
        };
        for state in self.peers.values_mut() {
            state.requests.clear();
        }
        self.transmits.clear();
        let pieces = (0..metadata_piece_count(size))
            .map(|_| Piece {
                versions: Vec::new(),
                leader: 0,
                data: None,
                in_flight: None,
            })
            .collect();
        self.assembly = Some(Assembly {
            size,
            failures: 0,
            pieces,
        });
    }

    /// Whether some piece lacks votes and no peer of the size could give one.
    fn stalled(&self, asm: &Assembly<P>) -> bool {
        let required = asm.failures + 1;
        asm.pieces.iter().any(|piece| {
            !piece.settled(required)
                && piece.in_flight.is_none()
                && !self
                    .peers
                    .iter()
                    .any(|(peer, s)| s.size == asm.size && !piece.supplied_by(*peer))
        })
    }

    fn schedule(&mut self, now: Instant) {
        let Some(asm) = &mut self.assembly else {
            return;
        };
        let required = asm.failures + 1;
        let candidates: Vec<P> = self
            .peers
            .iter()
            .filter(|(_, s)| s.size == asm.size)
            .map(|(p, _)| *p)
            .collect();
        if candidates.is_empty() {
            return;
        }
        for (index, piece) in asm.pieces.iter_mut().enumerate() {
            if piece.in_flight.is_some() || piece.settled(required) {
                continue;
            }
            let n = candidates.len();
            for k in 0..n {
                let slot = (self.cursor + k) % n;
                let peer = candidates[slot];
                let Some(state) = self.peers.get_mut(&peer) else {
                    continue;
                };
                if state.requests.len() >= self.config.requests_per_peer
                    || state.idle_until.is_some_and(|t| t > now)
                    || piece.supplied_by(peer)
                {
                    continue;
                }
                // index < piece count ≤ u32::MAX by construction.
                let index = index as u32;
                state
                    .requests
                    .push((index, now + self.config.request_timeout));
                piece.in_flight = Some(peer);
                self.transmits
                    .push_back((peer, MetadataMessage::Request { piece: index }.encode()));
                self.cursor = (slot + 1) % n;
                break;
            }
        }
    }

    /// Hashes the assembled pieces if every one is settled. Returns whether it hashed.
    fn try_verify(&mut self) -> bool {
        let Some(asm) = &mut self.assembly else {
            return false;
        };
        let required = asm.failures + 1;
        if !asm.pieces.iter().all(|p| p.settled(required)) {
            return false;
        }
        // size ≤ max_metadata_size, checked in add_peer.
        let mut info = Vec::with_capacity(asm.size as usize);
        for piece in &asm.pieces {
            if let Some(data) = &piece.data {
                info.extend_from_slice(data);
            }
        }
        let v1_ok = self.hashes.v1.is_none_or(|h| InfoHash::of_info(&info) == h);
        let v2_ok = self
            .hashes
            .v2
            .is_none_or(|h| InfoHashV2::of_info(&info) == h);
        if info.len() as u64 == asm.size && v1_ok && v2_ok {
            self.finish(Bytes::from(info));
            return true;
        }
        asm.failures += 1;
        if asm.failures >= self.config.max_hash_failures {
            if self.failed_sizes.len() >= MAX_FAILED_SIZES {
                self.failed_sizes.pop_first();
            }
            self.failed_sizes.insert(asm.size);
            self.assembly = None;
            for state in self.peers.values_mut() {
                state.requests.clear();
            }
            self.transmits.clear();
        }
        true
    }

    fn finish(&mut self, info: Bytes) {
        let size = info.len() as u64;
        let mut liars: BTreeMap<P, MetadataFault> = BTreeMap::new();
        if let Some(asm) = self.assembly.take() {
            for (index, piece) in asm.pieces.iter().enumerate() {
                for (v, version) in piece.versions.iter().enumerate() {
                    if v == piece.leader {
                        continue;
                    }
                    for peer in &version.suppliers {
                        liars
                            .entry(*peer)
                            .or_insert(MetadataFault::BadPiece(index as u32));
                    }
                }
            }
        }
        for (peer, state) in &self.peers {
            if state.size != size {
                liars.entry(*peer).or_insert(MetadataFault::WrongSize {
                    advertised: state.size,
                    actual: size,
                });
            }
        }
        for (peer, fault) in liars {
            self.events.push_back(FetchEvent::DropPeer { peer, fault });
        }
        self.peers.clear();
        self.transmits.clear();
        self.failed_sizes.clear();
        self.events.push_back(FetchEvent::Complete(info.clone()));
        self.done = Some(info);
    }
}

impl<P: Copy + Ord> Piece<P> {
    /// The leader has at least `required` votes and more than any other version.
    fn settled(&self, required: u32) -> bool {
        let Some(leader) = self.versions.get(self.leader) else {
            return false;
        };
        let votes = leader.suppliers.len();
        votes >= required as usize
            && self
                .versions
                .iter()
                .enumerate()
                .all(|(i, v)| i == self.leader || v.suppliers.len() < votes)
    }

    fn supplied_by(&self, peer: P) -> bool {
        self.versions.iter().any(|v| v.suppliers.contains(&peer))
    }

    fn vote(&mut self, peer: P, data: &Bytes) {
        if self.supplied_by(peer) {
            return;
        }
        let digest = sha1_digest(data);
        let index = match self.versions.iter().position(|v| v.digest == digest) {
            Some(i) => i,
            None if self.versions.len() < MAX_VERSIONS => {
                self.versions.push(Version {
                    digest,
                    suppliers: Vec::new(),
                });
                self.versions.len() - 1
            }
            None => return,
        };
        self.versions[index].suppliers.push(peer);
        let leader_votes = self
            .versions
            .get(self.leader)
            .map_or(0, |v| v.suppliers.len());
        if self.data.is_none()
            || (index != self.leader && self.versions[index].suppliers.len() > leader_votes)
        {
            self.leader = index;
            self.data = Some(data.clone());
        }
    }
}

impl fmt::Display for MetadataFault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::BadPiece(piece) => write!(
                f,
                "sent metadata piece {piece} that differs from the verified metadata"
            ),
            Self::WrongSize { advertised, actual } => write!(
                f,
                "advertised metadata_size {advertised}, but the verified metadata is {actual} bytes"
            ),
            Self::TotalSizeMismatch {
                advertised,
                claimed,
            } => write!(
                f,
                "advertised metadata_size {advertised}, then sent total_size {claimed}"
            ),
            Self::WrongPieceLength {
                piece,
                expected,
                got,
            } => write!(
                f,
                "sent {got} bytes for metadata piece {piece}, which has {expected}"
            ),
        }
    }
}

impl fmt::Display for PeerRefusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NoMetadataSize => write!(f, "peer advertises no metadata_size"),
            Self::EmptyMetadata => write!(f, "peer advertises metadata_size 0"),
            Self::TooLarge(size) => write!(f, "peer advertises metadata_size {size}, over the cap"),
            Self::Finished => write!(f, "metadata already complete"),
        }
    }
}

impl std::error::Error for PeerRefusal {}
