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
#[derive(Debug)]
pub struct PexPool<P> {
    config: PexConfig,
    own: BTreeSet<SocketAddr>,
    connected: BTreeMap<SocketAddr, PexFlags>,
    candidates: BTreeMap<SocketAddr, PexCandidate<P>>,
    /// Arrival order of candidates (may hold addresses since removed; compacted).
    order: VecDeque<SocketAddr>,
    per_source: BTreeMap<P, usize>,
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
            connected: BTreeMap::new(),
            candidates: BTreeMap::new(),
            order: VecDeque::new(),
            per_source: BTreeMap::new(),
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
        self.connected.insert(addr, flags);
    }

    /// The connection to `addr` closed: it will appear in `dropped` to those told of it.
    pub fn peer_disconnected(&mut self, addr: SocketAddr) {
        self.connected.remove(&addr);
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
            if self.candidates.get(addr).is_some_and(|c| c.source == from) {
                self.remove_candidate(*addr);
            }
        }
        let mut new = 0;
        for PexPeer { addr, flags } in &message.added {
            let addr = *addr;
            if self.candidates.len() >= self.config.max_candidates {
                break;
            }
            if self.per_source.get(&from).copied().unwrap_or(0) >= self.config.max_per_source {
                break;
            }
            if !dialable(addr)
                || addr == from_addr
                || self.own.contains(&addr)
                || self.connected.contains_key(&addr)
                || self.candidates.contains_key(&addr)
            {
                continue;
            }
            self.candidates.insert(
                addr,
                PexCandidate {
                    addr,
                    flags: *flags,
                    source: from,
                    seen: now,
                },
            );
            self.order.push_back(addr);
            *self.per_source.entry(from).or_default() += 1;
            new += 1;
        }
        new
    }

    /// The oldest candidate, removed from the pool (to dial it).
    pub fn pop_candidate(&mut self) -> Option<PexCandidate<P>> {
        while let Some(addr) = self.order.pop_front() {
            if let Some(c) = self.candidates.get(&addr).copied() {
                self.remove_candidate(addr);
                return Some(c);
            }
        }
        None
    }

    /// Forgets the candidates `source` gave (e.g. it was banned).
    pub fn forget_source(&mut self, source: P) {
        let addrs: Vec<SocketAddr> = self
            .candidates
            .values()
            .filter(|c| c.source == source)
            .map(|c| c.addr)
            .collect();
        for addr in addrs {
            self.remove_candidate(addr);
        }
    }

    /// The candidates held, by address.
    pub fn candidates(&self) -> impl Iterator<Item = &PexCandidate<P>> + '_ {
        self.candidates.values()
    }

    /// How many candidates are held.
    pub fn candidate_count(&self) -> usize {
        self.candidates.len()
    }

    /// The connected peers' listen addresses.
    pub fn connected(&self) -> impl Iterator<Item = SocketAddr> + '_ {
        self.connected.keys().copied()
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
        let mut message = PexMessage::default();
        for (addr, flags) in &self.connected {
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
            if !self.connected.contains_key(addr) {
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
        let Some(c) = self.candidates.remove(&addr) else {
            return;
        };
        if let Some(n) = self.per_source.get_mut(&c.source) {
            *n -= 1;
            if *n == 0 {
                self.per_source.remove(&c.source);
            }
        }
        if self.order.len() > 2 * self.candidates.len() + 16 {
            let candidates = &self.candidates;
            self.order.retain(|a| candidates.contains_key(a));
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
