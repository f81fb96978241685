//! The piece picker: which block to request from which peer.
//!
//! [`Picker`] keeps the availability of every piece (from bitfields, `have`, `have all`,
//! `have none` and disconnects), the blocks in flight and who they were requested from, and
//! answers [`Picker::pick`]: the next blocks to request from one peer. Policy:
//! - pieces already partly downloaded are finished first; then new pieces are started
//!   rarest first (random among equally rare pieces), [`Priority::High`] before
//!   [`Priority::Normal`] before [`Priority::Low`], never [`Priority::Skip`]; or in index
//!   order in sequential mode (high first, then normal, then low, each in index order);
//! - the number of requests in flight to a peer is its measured rate × (round trip + a queue
//!   time), bounded, and never more than the peer's `reqq` ([`pipeline_depth`]);
//! - endgame: once no free block is left that a connected peer could give, a peer may request
//!   blocks already requested from others; the first copy to arrive cancels the others;
//! - a request not answered within the request timeout is cancelled and the block is freed for
//!   another peer; a peer that sends nothing for 60 s while unchoking us is snubbed (one
//!   request at a time until it delivers);
//! - a piece that fails its hash is downloaded again and every peer that contributed gets a
//!   strike; two strikes ban a peer, and so does libtorrent's smart ban (the failed piece's block
//!   digests are remembered per peer; a peer whose block differs from the one in the good
//!   re-download is proven bad).
//!
//! The picker holds no clock: time comes in as `now` arguments. Cost: availability changes are
//! O(1), picking starts with the partial pieces and then walks the availability-ordered list
//! from its rare end, so a pick does not scan the whole torrent.
//!
//! Peers are named by [`PeerKey`], a small id the session allocates (and never reuses while the
//! picker may still name it in a ban).
//!
//! ## Driving it
//! - connection up: [`Picker::add_peer`]; then its `bitfield` / `have all` / `have none` /
//!   `have` messages ([`Picker::peer_bitfield`] etc.; each says whether to be interested);
//!   `unchoke` / `choke`: [`Picker::peer_unchoked`] / [`Picker::peer_choked`]; `allowed
//!   fast` (BEP 6: pieces a choking peer still serves): [`Picker::allowed_fast`]; `reject`:
//!   [`Picker::request_rejected`]; connection down: [`Picker::remove_peer`];
//! - after each of those, and after each block, call [`Picker::pick`] for the peer and send
//!   the requests it returns;
//! - a `piece` message: [`Picker::block_received`]; write accepted data, send the cancels; when
//!   the piece is complete and written, hash it and call [`Picker::piece_passed`] or
//!   [`Picker::piece_failed`] (then the smart-ban calls with
//!   [`crate::storage::block_digests`]);
//! - timers: [`Picker::poll_timeout`] / [`Picker::handle_timeout`] (send the returned cancels).

mod availability;
mod blocks;
mod contiguous;
mod deadline;
mod endgame;
#[cfg(any(test, feature = "fuzzing"))]
mod invariants;
mod padding;
mod pick;
mod priority;
mod verdict;

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::time::{Duration, Instant};

use crate::layout::Layout;
use crate::pieces::{BitfieldError, BlockRef, PieceSet};
use crate::rng::Rng;
use availability::Buckets;
pub use blocks::BLOCK_LEN;
use blocks::{Downloading, block_request};
pub use deadline::{MAX_DEADLINE_READERS, MAX_DEADLINES_PER_READER};
pub use priority::Priority;
pub(crate) use priority::{piece_priorities, piece_priorities_first_last};
#[cfg(any(test, feature = "fuzzing"))]
pub(crate) use verdict::PieceFailed;
pub use verdict::PiecePassed;

/// A peer connection's id in the picker, allocated by the session.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct PeerKey(pub u32);

/// Tunables of the piece picker: which blocks the session requests from which peer, when a
/// request times out, endgame.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct PickerConfig {
    /// Fewest requests kept in flight to an unchoking peer, before any rate is measured.
    pub min_pipeline: u32,
    /// Most requests kept in flight to one peer.
    pub max_pipeline: u32,
    /// Time of data the pipeline holds beyond the round trip, so a fast peer is never idle.
    /// 3 s (libtorrent's default too): a peer that sends in timed bursts rather than as
    /// requests arrive (Transmission serves its queue in pulses) delivers what was queued per
    /// pulse, so the measured rate, and with it the pipeline, grows only as fast as this
    /// window allows. With 0.5 s a Transmission seeder took 25 s for 3 MB on loopback (the
    /// rate climbing 20 % per pulse from 130 kB/s); with 3 s, 15 s, 12 of them waiting for its
    /// first unchoke.
    pub request_queue_time: Duration,
    /// A peer that delivers nothing for this long while having requests from us has them all
    /// cancelled (re-requested elsewhere) and is snubbed.
    pub request_timeout: Duration,
    /// A peer that unchokes us but delivers nothing for this long is snubbed.
    pub snub_timeout: Duration,
    /// In endgame, the most peers one block is requested from at once.
    pub max_endgame_copies: u32,
    /// Hash-failure strikes that ban a peer.
    pub strikes_to_ban: u32,
    /// Download pieces in index order instead of rarest first (streaming).
    pub sequential: bool,
    /// While we have, or are downloading, fewer pieces than this, we are a starting peer: a
    /// peer that chokes us is asked for the pieces it allows us fast (BEP 6), which are meant
    /// to give a starting peer something to trade. Past it, a choking peer's upload is left
    /// to the peers it unchokes. Measured in the rarest-first simulation (a slow seeder, eight
    /// leechers): when every leecher took its whole allowed-fast set from the seeder, the
    /// seeder's first copy reached 27-37 distinct pieces of 64; granting none, 44-53.
    pub starting_pieces: u32,
    /// Free slots a peer's pipeline waits for before it is topped up again (at most an eighth
    /// of the pipeline, so a small one still refills block by block; 1 refills at once).
    /// Requests then reach the peer in batches, and a seeder such as libtorrent queues their
    /// disk reads together instead of waking its disk threads for every few blocks. Measured
    /// on 1 GiB from four libtorrent seeders given directly (eight alternated pairs): 32
    /// against 1, 5 % less wall time, and the seeders spent 0.1 CPU-s less in seven of eight.
    pub refill_batch: u32,
    /// A block of a time-critical piece (see [`Picker::set_deadlines`]) still in flight from
    /// one peer when its piece's deadline is this close (or past) is requested from a second
    /// peer as well; the first copy to arrive cancels the other, as in endgame. `None`: never.
    /// 4 s: the second peer's pipeline holds [`PickerConfig::request_queue_time`] (3 s) of
    /// data ahead of the copy; with 1 s the copy arrived 1.8 s past the deadline in the
    /// simulation (`tests/tests/stream_deadline.rs`).
    pub deadline_slack: Option<Duration>,
}

impl Default for PickerConfig {
    fn default() -> Self {
        Self {
            min_pipeline: 4,
            max_pipeline: 500,
            request_queue_time: Duration::from_secs(3),
            request_timeout: Duration::from_secs(20),
            snub_timeout: Duration::from_secs(60),
            max_endgame_copies: 3,
            strikes_to_ban: 2,
            sequential: false,
            starting_pieces: 2,
            refill_batch: 32,
            deadline_slack: Some(Duration::from_secs(4)),
        }
    }
}

/// What the session measured about a peer, for sizing its request pipeline.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PeerRate {
    /// Bytes per second recently received from the peer.
    pub download_rate: u64,
    /// Round-trip time to the peer (request to first byte of the block).
    pub rtt: Duration,
    /// The peer's `reqq` from its extension handshake (250 if it sent none; 0 counts as 1).
    pub reqq: u32,
}

/// Caller misuse of the picker (peer faults are reported as values, not errors).
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum PickerError {
    /// No peer with this key was added (or it was removed).
    UnknownPeer(PeerKey),
    /// A piece index is not below the piece count.
    PieceOutOfRange {
        /// The index given.
        piece: u32,
        /// The torrent's piece count.
        piece_count: u32,
    },
    /// A peer's bitfield does not fit the torrent.
    Bitfield(BitfieldError),
    /// A new reader's deadlines beyond [`MAX_DEADLINE_READERS`].
    TooManyReaders,
}

/// What became of a block that arrived ([`Picker::block_received`]).
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Received {
    /// Needed: write it to storage. Send `cancels` (the same block requested from other peers
    /// in endgame). When `piece_complete`, hash the piece once its blocks are written and call
    /// [`Picker::piece_passed`] or `Picker::piece_failed`.
    Accepted {
        /// Whether every block of the piece has now arrived.
        piece_complete: bool,
        /// Requests of this block from other peers to cancel.
        cancels: Vec<(PeerKey, BlockRef)>,
    },
    /// Already received (a slow endgame copy): drop the data.
    Duplicate,
    /// A well-formed block we are not downloading (piece owned, or never requested), or one
    /// from a banned peer: drop the data.
    Unwanted,
    /// Offset or length does not match the torrent's blocks: the peer is faulty.
    Invalid,
}

/// What a peer has.
#[derive(Clone, Debug)]
enum Has {
    All,
    Some(PieceSet),
}

#[derive(Clone, Debug)]
struct Peer {
    has: Has,
    unchoked: bool,
    /// Requests in flight, oldest first, with when they were sent.
    inflight: Vec<(BlockRef, Instant)>,
    /// Last delivery, or unchoke: the start of the snub and timeout clocks.
    last_progress: Option<Instant>,
    snubbed: bool,
    strikes: u32,
    banned: bool,
    /// Pieces the peer lets us request while it chokes us (BEP 6 `allowed fast`).
    allowed_fast: Vec<u32>,
}

/// The most `allowed fast` pieces kept per peer (BEP 6 suggests 10).
const MAX_ALLOWED_FAST: usize = 32;

impl Peer {
    fn has(&self, piece: u32) -> bool {
        match &self.has {
            Has::All => true,
            Has::Some(set) => set.contains(piece),
        }
    }
}

/// The piece picker; see the module docs.
#[derive(Clone, Debug)]
pub struct Picker {
    config: PickerConfig,
    piece_count: u32,
    piece_length: u32,
    last_piece_len: u32,
    rng: Rng,
    have: PieceSet,
    priority: Vec<Priority>,
    /// Non-seed peers having each piece; seeds are counted once in `seeds`. Empty (all zero)
    /// while no peer is registered: an idle torrent holds no counts.
    avail: Vec<u32>,
    seeds: u32,
    /// Untouched wanted pieces (not had, not downloading, priority above skip), one list per
    /// priority: high, normal, low ([`tier`]).
    tiers: [Buckets; 3],
    downloading: BTreeMap<u32, Downloading>,
    /// Downloading pieces with at least one free block.
    partial: BTreeSet<u32>,
    /// Wanted pieces (priority above skip) not yet had.
    wanted_missing: u32,
    /// Sequential mode: no wanted piece before this one is missing and untouched.
    seq_cursor: u32,
    peers: BTreeMap<PeerKey, Peer>,
    smart_ban: verdict::SmartBan,
    /// Time-critical pieces (streaming readers), picked before all others.
    deadlines: deadline::Deadlines,
    /// The torrent's padding files (BEP 47): blocks never requested.
    padding: padding::Padding,
}

impl Picker {
    /// A picker for `layout`'s pieces, all missing and of normal priority, but for pieces
    /// made only of padding files (BEP 47), had from the start.
    pub fn new(layout: &Layout, config: PickerConfig, seed: u64) -> Self {
        let n = layout.piece_count();
        let mut rng = Rng::new(seed);
        let mut normal = Buckets::new(n);
        let mut order: Vec<u32> = (0..n).collect();
        rng.shuffle(&mut order);
        for p in order {
            normal.insert(p, 0, &mut rng);
        }
        let mut picker = Self {
            config,
            piece_count: n,
            piece_length: layout.piece_length(),
            last_piece_len: n.checked_sub(1).map_or(0, |l| layout.piece_len(l)),
            rng,
            have: PieceSet::new(n),
            priority: vec![Priority::Normal; n as usize],
            avail: Vec::new(),
            seeds: 0,
            tiers: [Buckets::new(n), normal, Buckets::new(n)],
            downloading: BTreeMap::new(),
            partial: BTreeSet::new(),
            wanted_missing: n,
            seq_cursor: 0,
            peers: BTreeMap::new(),
            smart_ban: verdict::SmartBan::default(),
            deadlines: deadline::Deadlines::default(),
            padding: padding::Padding::of(layout),
        };
        for p in picker.padding.pieces(layout) {
            let _ = picker.piece_passed(p);
        }
        picker
    }

    // ----- our pieces and priorities ---------------------------------------------------------

    /// Number of pieces of the torrent.
    pub(crate) fn piece_count(&self) -> u32 {
        self.piece_count
    }

    /// The pieces we have (verified).
    pub fn have(&self) -> &PieceSet {
        &self.have
    }

    /// Whether every piece whose priority is above [`Priority::Skip`] is had.
    pub fn is_finished(&self) -> bool {
        self.wanted_missing == 0
    }

    /// Whether we have every piece.
    pub(crate) fn is_seed(&self) -> bool {
        self.have.is_full()
    }

    /// A piece's priority.
    pub(crate) fn priority(&self, piece: u32) -> Priority {
        self.priority
            .get(piece as usize)
            .copied()
            .unwrap_or(Priority::Skip)
    }

    /// Sets one piece's priority (see [`piece_priorities`] to derive them from files).
    pub(crate) fn set_priority(&mut self, piece: u32, prio: Priority) -> Result<(), PickerError> {
        self.check_piece(piece)?;
        let old = self.priority[piece as usize];
        if old == prio {
            return Ok(());
        }
        self.unlist(piece);
        self.priority[piece as usize] = prio;
        if !self.have.contains(piece) {
            match (old == Priority::Skip, prio == Priority::Skip) {
                (true, false) => self.wanted_missing += 1,
                (false, true) => self.wanted_missing -= 1,
                _ => {}
            }
        }
        self.relist(piece);
        self.seq_cursor = self.seq_cursor.min(piece);
        Ok(())
    }

    /// Sets every piece's priority (`prios` has one entry per piece; missing ones are normal).
    pub(crate) fn set_priorities(&mut self, prios: &[Priority]) {
        for p in 0..self.piece_count {
            let prio = prios.get(p as usize).copied().unwrap_or_default();
            let _ = self.set_priority(p, prio);
        }
    }

    /// Switches sequential mode (index order instead of rarest first) on or off.
    pub(crate) fn set_sequential(&mut self, sequential: bool) {
        self.config.sequential = sequential;
        self.seq_cursor = 0;
    }

    /// The length of block requests' pieces: `piece`'s length in bytes.
    pub(crate) fn piece_len(&self, piece: u32) -> u32 {
        if piece >= self.piece_count {
            0
        } else if piece == self.piece_count - 1 {
            self.last_piece_len
        } else {
            self.piece_length
        }
    }

    /// How many peers have `piece` (seeds included).
    pub(crate) fn availability(&self, piece: u32) -> u32 {
        if piece < self.piece_count {
            self.avail_of(piece) + self.seeds
        } else {
            0
        }
    }

    // ----- peers -----------------------------------------------------------------------------

    /// Registers a connected peer, which has nothing and chokes us until told otherwise.
    pub fn add_peer(&mut self, peer: PeerKey) {
        self.peers.entry(peer).or_insert(Peer {
            has: Has::Some(PieceSet::new(self.piece_count)),
            unchoked: false,
            inflight: Vec::new(),
            last_progress: None,
            snubbed: false,
            strikes: 0,
            banned: false,
            allowed_fast: Vec::new(),
        });
    }

    /// Whether `peer` is registered.
    pub(crate) fn knows_peer(&self, peer: PeerKey) -> bool {
        self.peers.contains_key(&peer)
    }

    /// Forgets a disconnected peer: its pieces leave the availability counts and its requests
    /// are freed. Its strikes are forgotten (the session bans by address).
    pub(crate) fn remove_peer(&mut self, peer: PeerKey) {
        self.drop_requests(peer);
        let Some(state) = self.peers.remove(&peer) else {
            return;
        };
        match state.has {
            Has::All => self.seeds -= 1,
            Has::Some(set) => {
                for p in set.iter() {
                    self.dec_avail(p);
                }
            }
        }
        if self.peers.is_empty() {
            // Every count is zero again.
            self.avail = Vec::new();
        }
    }

    /// The peer's `bitfield` message. Returns whether it has a piece we want (interest).
    pub fn peer_bitfield(&mut self, peer: PeerKey, bitfield: &[u8]) -> Result<bool, PickerError> {
        let set =
            PieceSet::from_bitfield(bitfield, self.piece_count).map_err(PickerError::Bitfield)?;
        self.replace_has(peer, Has::Some(set))?;
        Ok(self.is_interesting(peer))
    }

    /// The peer's `have all` message (BEP 6). Returns whether we want anything.
    pub fn peer_have_all(&mut self, peer: PeerKey) -> Result<bool, PickerError> {
        self.replace_has(peer, Has::All)?;
        Ok(self.wanted_missing > 0)
    }

    /// The peer's `have none` message (BEP 6).
    #[cfg(any(test, feature = "fuzzing"))]
    pub(crate) fn peer_have_none(&mut self, peer: PeerKey) -> Result<(), PickerError> {
        self.replace_has(peer, Has::Some(PieceSet::new(self.piece_count)))
    }

    /// The peer's `have` message. Returns whether the piece is one we want (interest).
    pub(crate) fn peer_have(&mut self, peer: PeerKey, piece: u32) -> Result<bool, PickerError> {
        self.check_piece(piece)?;
        let state = self
            .peers
            .get_mut(&peer)
            .ok_or(PickerError::UnknownPeer(peer))?;
        let added = match &mut state.has {
            Has::All => false,
            Has::Some(set) => set.insert(piece),
        };
        if added {
            self.inc_avail(piece);
        }
        Ok(self.wants(piece))
    }

    /// Whether the peer has a piece we want (so we should be interested in it).
    pub(crate) fn is_interesting(&self, peer: PeerKey) -> bool {
        let Some(state) = self.peers.get(&peer) else {
            return false;
        };
        match &state.has {
            Has::All => self.wanted_missing > 0,
            Has::Some(set) => set.iter().any(|p| self.wants(p)),
        }
    }

    /// The peer unchoked us: it may now be asked for blocks.
    pub fn peer_unchoked(&mut self, now: Instant, peer: PeerKey) {
        if let Some(state) = self.peers.get_mut(&peer)
            && !state.unchoked
        {
            state.unchoked = true;
            state.last_progress = Some(now);
        }
    }

    /// The peer choked us: its requests are void (BEP 3) and their blocks free again, except
    /// those of pieces it allows us fast (BEP 6: it goes on serving them). Returns the dropped
    /// requests.
    pub(crate) fn peer_choked(&mut self, peer: PeerKey) -> Vec<BlockRef> {
        let Some(state) = self.peers.get_mut(&peer) else {
            return Vec::new();
        };
        state.unchoked = false;
        let allowed = std::mem::take(&mut state.allowed_fast);
        let dropped = self.drop_requests_where(peer, |r| !allowed.contains(&r.piece));
        if let Some(state) = self.peers.get_mut(&peer) {
            state.allowed_fast = allowed;
        }
        dropped
    }

    /// The peer lets us request `piece` even while it chokes us (BEP 6 `allowed fast`; at
    /// most 32 are kept).
    pub(crate) fn allowed_fast(&mut self, peer: PeerKey, piece: u32) {
        if let Some(state) = self.peers.get_mut(&peer)
            && piece < self.piece_count
            && !state.allowed_fast.contains(&piece)
            && state.allowed_fast.len() < MAX_ALLOWED_FAST
        {
            state.allowed_fast.push(piece);
        }
    }

    /// The peer rejected a request (BEP 6): the block is free for others. A choking peer
    /// that rejects a piece it allowed us fast is not asked for that piece again while it
    /// chokes us (no request-reject loop).
    pub(crate) fn request_rejected(&mut self, peer: PeerKey, request: BlockRef) {
        let Some(state) = self.peers.get_mut(&peer) else {
            return;
        };
        if !state.unchoked {
            state.allowed_fast.retain(|&p| p != request.piece);
        }
        let Some(i) = state.inflight.iter().position(|(r, _)| *r == request) else {
            return;
        };
        state.inflight.remove(i);
        self.unrequest(request, peer);
    }

    /// Whether the peer is snubbed (limited to one request in flight).
    pub(crate) fn is_snubbed(&self, peer: PeerKey) -> bool {
        self.peers.get(&peer).is_some_and(|p| p.snubbed)
    }

    /// Whether the peer was banned by hash failures (the session should disconnect it).
    pub(crate) fn is_banned(&self, peer: PeerKey) -> bool {
        self.peers.get(&peer).is_some_and(|p| p.banned)
    }

    /// The requests in flight to `peer`, oldest first.
    #[cfg(any(test, feature = "fuzzing"))]
    pub(crate) fn requests(&self, peer: PeerKey) -> impl Iterator<Item = BlockRef> + '_ {
        self.peers
            .get(&peer)
            .into_iter()
            .flat_map(|p| p.inflight.iter().map(|(r, _)| *r))
    }

    /// Requests in flight to every peer (each for at most [`BLOCK_LEN`] bytes). Costs one
    /// step per peer, not per request: the session asks after every block.
    pub(crate) fn inflight_count(&self) -> usize {
        self.peers.values().map(|p| p.inflight.len()).sum()
    }

    /// Requests in flight to `peer`.
    pub(crate) fn inflight_count_of(&self, peer: PeerKey) -> usize {
        self.peers.get(&peer).map_or(0, |p| p.inflight.len())
    }

    // ----- arrivals and timeouts -------------------------------------------------------------

    /// A block arrived from `peer`. See [`Received`] for what to do with it.
    pub fn block_received(&mut self, now: Instant, peer: PeerKey, block: BlockRef) -> Received {
        let Some(index) = self.block_index(block) else {
            return Received::Invalid;
        };
        if self.is_banned(peer) {
            let _ = self.drop_requests(peer);
            return Received::Unwanted;
        }
        if let Some(state) = self.peers.get_mut(&peer)
            && let Some(i) = state.inflight.iter().position(|(r, _)| *r == block)
        {
            state.inflight.remove(i);
        }
        let Some(dl) = self.downloading.get_mut(&block.piece) else {
            return Received::Unwanted;
        };
        let Some(others) = dl.receive(index, peer) else {
            dl.unrequest(index, peer);
            return Received::Duplicate;
        };
        let piece_complete = dl.is_complete();
        if dl.free == 0 {
            self.partial.remove(&block.piece);
        }
        let mut cancels = Vec::with_capacity(others.len());
        for other in others {
            if let Some(state) = self.peers.get_mut(&other)
                && let Some(i) = state.inflight.iter().position(|(r, _)| *r == block)
            {
                state.inflight.remove(i);
                cancels.push((other, block));
            }
        }
        if let Some(state) = self.peers.get_mut(&peer) {
            state.last_progress = Some(now);
            state.snubbed = false;
        }
        Received::Accepted {
            piece_complete,
            cancels,
        }
    }

    /// `peer`'s blocks could not reach us until `now` (we paused reading its socket): its
    /// request and snub clocks count from `now`.
    pub(crate) fn restart_clock(&mut self, peer: PeerKey, now: Instant) {
        if let Some(state) = self.peers.get_mut(&peer) {
            state.last_progress = Some(state.last_progress.map_or(now, |p| p.max(now)));
        }
    }

    /// Applies request timeouts and snubbing at `now`. Returns the requests to cancel: their
    /// blocks are free again for any peer. Call when [`Self::poll_timeout`] expires.
    pub(crate) fn handle_timeout(&mut self, now: Instant) -> Vec<(PeerKey, BlockRef)> {
        let mut expired = Vec::new();
        for (&key, state) in &mut self.peers {
            let Some(since) = Self::clock_start(state) else {
                continue;
            };
            if now >= since + self.config.request_timeout {
                expired.push(key);
            } else if state.unchoked && now >= since + self.config.snub_timeout {
                state.snubbed = true;
            }
        }
        let mut cancels = Vec::new();
        for key in expired {
            if let Some(state) = self.peers.get_mut(&key) {
                state.snubbed = true;
            }
            for r in self.drop_requests(key) {
                self.mark_timed_out(r, key);
                cancels.push((key, r));
            }
        }
        cancels
    }

    /// `block`'s request timed out on `peer`: while another peer can give it, `peer` is not
    /// asked for it again (a slow peer would otherwise get the same block back at its next
    /// pick, and time out on it again, for as long as it stays connected).
    fn mark_timed_out(&mut self, block: BlockRef, peer: PeerKey) {
        let index = (block.offset / BLOCK_LEN) as usize;
        if let Some(b) = self
            .downloading
            .get_mut(&block.piece)
            .and_then(|dl| dl.blocks.get_mut(index))
        {
            b.timed_out_on = Some(peer);
        }
    }

    /// The next instant at which [`Self::handle_timeout`] has something to do.
    #[must_use]
    pub(crate) fn poll_timeout(&self) -> Option<Instant> {
        self.peers
            .values()
            .filter_map(|state| {
                let since = Self::clock_start(state)?;
                let mut t = since + self.config.request_timeout;
                if state.unchoked && !state.snubbed {
                    t = t.min(since + self.config.snub_timeout);
                }
                Some(t)
            })
            .min()
    }

    /// Start of a peer's timeout clock: its last delivery or its oldest request, whichever is
    /// later; `None` without requests in flight.
    fn clock_start(state: &Peer) -> Option<Instant> {
        let oldest = state.inflight.first()?.1;
        Some(state.last_progress.map_or(oldest, |p| p.max(oldest)))
    }

    // ----- internals -------------------------------------------------------------------------

    fn check_piece(&self, piece: u32) -> Result<(), PickerError> {
        if piece < self.piece_count {
            Ok(())
        } else {
            Err(PickerError::PieceOutOfRange {
                piece,
                piece_count: self.piece_count,
            })
        }
    }

    /// Whether we want `piece`: not had and not skipped.
    fn wants(&self, piece: u32) -> bool {
        !self.have.contains(piece) && self.priority(piece) != Priority::Skip
    }

    /// The index of a well-formed block, or `None` if offset or length are wrong.
    fn block_index(&self, block: BlockRef) -> Option<u32> {
        let piece_len = self.piece_len(block.piece);
        if piece_len == 0 || !block.offset.is_multiple_of(BLOCK_LEN) || block.offset >= piece_len {
            return None;
        }
        let index = block.offset / BLOCK_LEN;
        (block_request(block.piece, piece_len, index) == block).then_some(index)
    }

    fn buckets_mut(&mut self, prio: Priority) -> Option<&mut Buckets> {
        tier(prio).map(|t| &mut self.tiers[t])
    }

    /// Whether `piece` is in one of the untouched lists.
    fn listed(&self, piece: u32) -> bool {
        self.tiers.iter().any(|b| b.contains(piece))
    }

    /// Removes `piece` from the untouched lists if it is there.
    fn unlist(&mut self, piece: u32) {
        let avail = self.avail_of(piece);
        let prio = self.priority[piece as usize];
        if let Some(b) = self.buckets_mut(prio)
            && b.contains(piece)
        {
            b.remove(piece, avail);
        }
    }

    /// Puts `piece` into its untouched list if it belongs there.
    fn relist(&mut self, piece: u32) {
        if self.have.contains(piece) || self.downloading.contains_key(&piece) {
            return;
        }
        let avail = self.avail_of(piece);
        let prio = self.priority[piece as usize];
        let mut rng = self.rng.clone();
        if let Some(b) = self.buckets_mut(prio)
            && !b.contains(piece)
        {
            b.insert(piece, avail, &mut rng);
        }
        self.rng = rng;
    }

    /// How many non-seed peers have `piece`.
    fn avail_of(&self, piece: u32) -> u32 {
        self.avail.get(piece as usize).copied().unwrap_or(0)
    }

    fn inc_avail(&mut self, piece: u32) {
        if self.avail.is_empty() {
            self.avail = vec![0; self.piece_count as usize];
        }
        let avail = self.avail_of(piece);
        let prio = self.priority[piece as usize];
        let mut rng = self.rng.clone();
        if let Some(b) = self.buckets_mut(prio)
            && b.contains(piece)
        {
            b.increment(piece, avail, &mut rng);
        }
        self.rng = rng;
        self.avail[piece as usize] += 1;
    }

    fn dec_avail(&mut self, piece: u32) {
        let avail = self.avail_of(piece);
        let prio = self.priority[piece as usize];
        let mut rng = self.rng.clone();
        if let Some(b) = self.buckets_mut(prio)
            && b.contains(piece)
        {
            b.decrement(piece, avail, &mut rng);
        }
        self.rng = rng;
        self.avail[piece as usize] -= 1;
    }

    fn replace_has(&mut self, peer: PeerKey, has: Has) -> Result<(), PickerError> {
        let state = self
            .peers
            .get_mut(&peer)
            .ok_or(PickerError::UnknownPeer(peer))?;
        let old = std::mem::replace(&mut state.has, has);
        let new_is_all = matches!(state.has, Has::All);
        let added: Vec<u32> = match &state.has {
            Has::All => Vec::new(),
            Has::Some(set) => set.iter().collect(),
        };
        match old {
            Has::All => self.seeds -= 1,
            Has::Some(set) => {
                for p in set.iter() {
                    self.dec_avail(p);
                }
            }
        }
        if new_is_all {
            self.seeds += 1;
        }
        for p in added {
            self.inc_avail(p);
        }
        // Requests for pieces the peer no longer claims cannot be served.
        let stale: Vec<BlockRef> = self.peers[&peer]
            .inflight
            .iter()
            .map(|(r, _)| *r)
            .filter(|r| !self.peers[&peer].has(r.piece))
            .collect();
        for r in stale {
            self.request_rejected(peer, r);
        }
        Ok(())
    }

    /// Forgets `peer`'s request of `block` in the piece's block state.
    fn unrequest(&mut self, block: BlockRef, peer: PeerKey) {
        let Some(dl) = self.downloading.get_mut(&block.piece) else {
            return;
        };
        if dl.unrequest(block.offset / BLOCK_LEN, peer) && dl.free > 0 {
            self.partial.insert(block.piece);
        }
    }

    /// Drops every request in flight to `peer`; returns them.
    fn drop_requests(&mut self, peer: PeerKey) -> Vec<BlockRef> {
        self.drop_requests_where(peer, |_| true)
    }

    /// Drops the requests in flight to `peer` that `drop` selects; returns them.
    fn drop_requests_where(
        &mut self,
        peer: PeerKey,
        drop: impl Fn(&BlockRef) -> bool,
    ) -> Vec<BlockRef> {
        let Some(state) = self.peers.get_mut(&peer) else {
            return Vec::new();
        };
        let (dropped, kept): (Vec<_>, Vec<_>) = std::mem::take(&mut state.inflight)
            .into_iter()
            .partition(|(r, _)| drop(r));
        state.inflight = kept;
        let dropped: Vec<BlockRef> = dropped.into_iter().map(|(r, _)| r).collect();
        for r in &dropped {
            self.unrequest(*r, peer);
        }
        dropped
    }
}

/// Whether a peer other than `peer` could be asked for a block of `piece` now: it has the
/// piece, is not banned, and unchokes us (or allows the piece fast).
fn another_can_give(peers: &BTreeMap<PeerKey, Peer>, piece: u32, peer: PeerKey) -> bool {
    peers.iter().any(|(&k, s)| {
        k != peer && !s.banned && s.has(piece) && (s.unchoked || s.allowed_fast.contains(&piece))
    })
}

/// The index in [`Picker::tiers`] of a priority's list (`None`: skipped, never listed).
fn tier(prio: Priority) -> Option<usize> {
    match prio {
        Priority::High => Some(0),
        Priority::Normal => Some(1),
        Priority::Low => Some(2),
        Priority::Skip => None,
    }
}

impl fmt::Display for PickerError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::UnknownPeer(p) => write!(f, "unknown peer {}", p.0),
            Self::PieceOutOfRange { piece, piece_count } => {
                write!(f, "piece {piece} out of range (torrent has {piece_count})")
            }
            Self::Bitfield(e) => write!(f, "bad bitfield: {e}"),
            Self::TooManyReaders => write!(
                f,
                "more than {MAX_DEADLINE_READERS} readers with piece deadlines"
            ),
        }
    }
}

impl std::error::Error for PickerError {}

#[cfg(test)]
mod deadline_tests;
#[cfg(test)]
mod tests;
