//! [`PexPool`]: a torrent's PEX state (received candidates, connected peers) and the
//! per-connection [`PexSender`].

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use super::{MAX_ADDED_PER_MESSAGE, PexError, PexFlags, PexMessage, PexPeer};

/// Settings of a [`PexPool`].
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct PexConfig {
    /// A private torrent (BEP 27): PEX is off in both directions.
    pub private: bool,
    /// The most candidates held.
    pub max_candidates: usize,
    /// The most candidates held from any one source peer.
    pub max_per_source: usize,
    /// Time between two messages to one peer.
    pub interval: Duration,
}

impl PexConfig {
    /// Defaults for a public (`private == false`) or private torrent: 500 candidates, 100
    /// per source, one message a minute.
    pub fn new(private: bool) -> Self {
        Self {
            private,
            max_candidates: 500,
            max_per_source: 100,
            interval: Duration::from_secs(60),
        }
    }
}

/// An address a peer told us about.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PexCandidate<P> {
    /// Where to connect.
    pub addr: SocketAddr,
    /// The flags the source gave it.
    pub flags: PexFlags,
    /// The peer that told us.
    pub source: P,
    /// When we heard of it.
    pub seen: Instant,
}

/// One torrent's PEX state, generic over the session's peer handle `P`.
///
/// # Use
/// - Tell it our listen addresses ([`add_own_addr`](Self::add_own_addr)) and every
///   connection's listen address as it opens and closes ([`peer_connected`](Self::peer_connected),
///   [`peer_disconnected`](Self::peer_disconnected)).
/// - A received `ut_pex` payload: [`handle_payload`](Self::handle_payload); new addresses go to
///   the pool, taken with [`pop_candidate`](Self::pop_candidate).
/// - For each connection whose peer supports `ut_pex`, make a [`PexSender`] with
///   [`sender`](Self::sender) and, at its [`PexSender::poll_timeout`], call
///   [`poll_message`](Self::poll_message) and send what it returns.
///
/// A private torrent's pool ([`PexConfig::private`]) ignores every message, holds no
/// candidate and gives no sender, so nothing can be sent for it.
///
/// A pool with no connected peer and no candidate holds no state but its settings and our
/// addresses (72 B), so an idle torrent keeps no empty maps.
#[derive(Debug)]
pub struct PexPool<P> {
    config: PexConfig,
    own: BTreeSet<SocketAddr>,
    /// `None` while no peer is connected and no candidate held.
    state: Option<Box<State<P>>>,
}

/// The peers of a [`PexPool`] that has some.
#[derive(Debug)]
struct State<P> {
    connected: BTreeMap<SocketAddr, PexFlags>,
    candidates: BTreeMap<SocketAddr, PexCandidate<P>>,
    /// Arrival order of candidates (may hold addresses since removed; compacted).
    order: VecDeque<SocketAddr>,
    per_source: BTreeMap<P, usize>,
}

impl<P> Default for State<P> {
    fn default() -> Self {
        Self {
            connected: BTreeMap::new(),
            candidates: BTreeMap::new(),
            order: VecDeque::new(),
            per_source: BTreeMap::new(),
        }
    }
}

/// What we told one peer so far, and when to tell it more. Made by [`PexPool::sender`] only,
/// so a private torrent never has one.
#[derive(Clone, Debug)]
pub struct PexSender {
    peer: SocketAddr,
    told: BTreeSet<SocketAddr>,
    next: Instant,
}

impl<P: Copy + Ord> PexPool<P> {
    /// An empty pool.
    pub fn new(config: PexConfig) -> Self {
        Self {
            config,
            own: BTreeSet::new(),
            state: None,
        }
    }

    /// Its state, made on first use.
    fn state_mut(&mut self) -> &mut State<P> {
        self.state.get_or_insert_with(Box::default)
    }

    /// Gives the state back once no peer is connected and no candidate is held.
    fn compact(&mut self) {
        if self
            .state
            .as_ref()
            .is_some_and(|s| s.connected.is_empty() && s.candidates.is_empty())
        {
            self.state = None;
        }
    }

    /// Whether PEX runs (the torrent is not private).
    pub fn is_enabled(&self) -> bool {
        !self.config.private
    }

    /// One of our own listen addresses: never pooled, never sent.
    pub fn add_own_addr(&mut self, addr: SocketAddr) {
        self.remove_candidate(addr);
        self.own.insert(addr);
    }

    /// A connection to the peer listening at `addr` is open (its listen address: the address
    /// we dialled, or the IP plus its handshake's `p`). It will appear in `added` to others.
    pub fn peer_connected(&mut self, addr: SocketAddr, flags: PexFlags) {
        if self.config.private {
            return;
        }
        self.remove_candidate(addr);
        self.state_mut().connected.insert(addr, flags);
    }

    /// The connection to `addr` closed: it will appear in `dropped` to those told of it.
    pub fn peer_disconnected(&mut self, addr: SocketAddr) {
        if let Some(s) = self.state.as_mut() {
            s.connected.remove(&addr);
        }
        self.compact();
    }

    /// Parses and takes a `ut_pex` payload from `from`, connected at `from_addr`; returns how
    /// many new candidates it gave. On a private torrent nothing is parsed or kept.
    pub fn handle_payload(
        &mut self,
        now: Instant,
        from: P,
        from_addr: SocketAddr,
        payload: &[u8],
    ) -> Result<usize, PexError> {
        if self.config.private {
            return Ok(0);
        }
        let message = PexMessage::parse(payload)?;
        Ok(self.handle_message(now, from, from_addr, &message))
    }

    /// Takes a parsed message: `added` addresses become candidates (deduplicated; never our
    /// own address, the sender itself, a connected peer or an address nobody can dial), and
    /// `dropped` ones the sender gave us are forgotten. Returns how many candidates are new.
    pub fn handle_message(
        &mut self,
        now: Instant,
        from: P,
        from_addr: SocketAddr,
        message: &PexMessage,
    ) -> usize {
        if self.config.private {
            return 0;
        }
        for addr in &message.dropped {
            let from_sender = self
                .state
                .as_ref()
                .and_then(|s| s.candidates.get(addr))
                .is_some_and(|c| c.source == from);
            if from_sender {
                self.remove_candidate(*addr);
            }
        }
        let (max_candidates, max_per_source) =
            (self.config.max_candidates, self.config.max_per_source);
        let mut new = 0;
        for PexPeer { addr, flags } in &message.added {
            let addr = *addr;
            let own = &self.own;
            let s = self.state.get_or_insert_with(Box::default);
            if s.candidates.len() >= max_candidates {
                break;
            }
            if s.per_source.get(&from).copied().unwrap_or(0) >= max_per_source {
                break;
            }
            if !dialable(addr)
                || addr == from_addr
                || own.contains(&addr)
                || s.connected.contains_key(&addr)
                || s.candidates.contains_key(&addr)
            {
                continue;
            }
            s.candidates.insert(
                addr,
                PexCandidate {
                    addr,
                    flags: *flags,
                    source: from,
                    seen: now,
                },
            );
            s.order.push_back(addr);
            *s.per_source.entry(from).or_default() += 1;
            new += 1;
        }
        self.compact();
        new
    }

    /// The oldest candidate, removed from the pool (to dial it).
    pub fn pop_candidate(&mut self) -> Option<PexCandidate<P>> {
        let mut found = None;
        while let Some(s) = self.state.as_mut() {
            let Some(addr) = s.order.pop_front() else {
                break;
            };
            if let Some(c) = s.candidates.get(&addr).copied() {
                self.remove_candidate(addr);
                found = Some(c);
                break;
            }
        }
        self.compact();
        found
    }

    /// Forgets the candidates `source` gave (e.g. it was banned).
    pub fn forget_source(&mut self, source: P) {
        let addrs: Vec<SocketAddr> = self
            .candidates()
            .filter(|c| c.source == source)
            .map(|c| c.addr)
            .collect();
        for addr in addrs {
            self.remove_candidate(addr);
        }
        self.compact();
    }

    /// The candidates held, by address.
    pub fn candidates(&self) -> impl Iterator<Item = &PexCandidate<P>> + '_ {
        self.state.iter().flat_map(|s| s.candidates.values())
    }

    /// How many candidates are held.
    pub fn candidate_count(&self) -> usize {
        self.state.as_ref().map_or(0, |s| s.candidates.len())
    }

    /// The connected peers' listen addresses.
    pub fn connected(&self) -> impl Iterator<Item = SocketAddr> + '_ {
        self.state.iter().flat_map(|s| s.connected.keys().copied())
    }

    /// A sender for the connection to the peer listening at `peer`, due at once; `None` for a
    /// private torrent.
    pub fn sender(&self, now: Instant, peer: SocketAddr) -> Option<PexSender> {
        if self.config.private {
            return None;
        }
        Some(PexSender {
            peer,
            told: BTreeSet::new(),
            next: now,
        })
    }

    /// If `sender` is due, the message to send it: connected peers it was not told of (at
    /// most [`MAX_ADDED_PER_MESSAGE`]; the rest next time), and those it was told of that are
    /// gone. Never the peer itself, never our address. `None` when not due or nothing changed
    /// (the next turn is set either way).
    #[must_use]
    pub fn poll_message(&self, now: Instant, sender: &mut PexSender) -> Option<PexMessage> {
        if self.config.private || now < sender.next {
            return None;
        }
        sender.next = now + self.config.interval;
        let empty;
        let s = match self.state.as_deref() {
            Some(s) => s,
            None => {
                empty = State::default();
                &empty
            }
        };
        let mut message = PexMessage::default();
        for (addr, flags) in &s.connected {
            if message.added.len() >= MAX_ADDED_PER_MESSAGE {
                break;
            }
            if *addr == sender.peer || self.own.contains(addr) || sender.told.contains(addr) {
                continue;
            }
            message.added.push(PexPeer {
                addr: *addr,
                flags: *flags,
            });
        }
        for addr in &sender.told {
            if message.dropped.len() >= MAX_ADDED_PER_MESSAGE {
                break;
            }
            if !s.connected.contains_key(addr) {
                message.dropped.push(*addr);
            }
        }
        for peer in &message.added {
            sender.told.insert(peer.addr);
        }
        for addr in &message.dropped {
            sender.told.remove(addr);
        }
        (!message.is_empty()).then_some(message)
    }

    fn remove_candidate(&mut self, addr: SocketAddr) {
        let Some(s) = self.state.as_mut() else {
            return;
        };
        let Some(c) = s.candidates.remove(&addr) else {
            return;
        };
        if let Some(n) = s.per_source.get_mut(&c.source) {
            *n -= 1;
            if *n == 0 {
                s.per_source.remove(&c.source);
            }
        }
        if s.order.len() > 2 * s.candidates.len() + 16 {
            let candidates = &s.candidates;
            s.order.retain(|a| candidates.contains_key(a));
        }
    }
}

impl PexSender {
    /// When [`PexPool::poll_message`] is next due for it.
    #[must_use]
    pub fn poll_timeout(&self) -> Instant {
        self.next
    }

    /// The listen address of the peer it sends to.
    pub fn peer(&self) -> SocketAddr {
        self.peer
    }

    /// How many connected peers this peer knows of from us.
    pub fn told_count(&self) -> usize {
        self.told.len()
    }
}

/// Whether anyone could connect to `addr`.
fn dialable(addr: SocketAddr) -> bool {
    if addr.port() == 0 {
        return false;
    }
    match addr.ip() {
        IpAddr::V4(ip) => !(ip.is_unspecified() || ip.is_broadcast() || ip.is_multicast()),
        IpAddr::V6(ip) => !(ip.is_unspecified() || ip.is_multicast()),
    }
}
