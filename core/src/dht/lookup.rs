//! One iterative lookup (BEP 5 `find_node` / `get_peers`): [`ALPHA`] queries in flight over
//! the [`K`] closest nodes known, converging on a target id; then, for an announce, the
//! `announce_peer` round to the closest nodes that gave us a token.
//!
//! The lookup only decides whom to ask; [`super::Dht`] sends the queries, matches replies and
//! timeouts, and feeds them back.

use std::collections::BTreeSet;
use std::net::SocketAddr;

use super::krpc::{NodeInfo, Response};
use super::node_id::{Distance, NodeId};
use super::routing::K;

/// Parallel queries per lookup.
pub const ALPHA: usize = 3;
/// The most candidates a lookup remembers (the farthest are forgotten).
const MAX_CANDIDATES: usize = 8 * K;
/// The most unknown-id seed addresses (bootstrap nodes) one lookup queries.
const MAX_SEEDS: usize = 32;
/// The most distinct peers one lookup collects.
const MAX_PEERS: usize = 2000;

/// Names a lookup started by [`super::Dht::get_peers`] or [`super::Dht::announce`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct LookupId(pub u64);

/// What the lookup is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LookupKind {
    /// `find_node`: fill the routing table (bootstrap, bucket refresh).
    FindNode,
    /// `get_peers`: find peers of the target info-hash.
    GetPeers,
    /// `get_peers`, then `announce_peer` with this port (`None`: implied port).
    Announce(Option<u16>),
}

/// Where the lookup is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Phase {
    /// Querying nodes.
    Searching,
    /// Waiting for `announce_peer` answers.
    Announcing {
        /// Answers still expected.
        pending: usize,
    },
    /// Finished.
    Done,
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum State {
    Fresh,
    Asked,
    Answered(Option<Vec<u8>>),
    Failed,
}

#[derive(Clone, Debug)]
struct Candidate {
    dist: Distance,
    node: NodeInfo,
    state: State,
}

/// One lookup's state.
#[derive(Clone, Debug)]
pub struct Lookup {
    target: NodeId,
    kind: LookupKind,
    own: NodeId,
    candidates: Vec<Candidate>,
    seeds: Vec<SocketAddr>,
    in_flight: usize,
    queries: u32,
    peers: BTreeSet<SocketAddr>,
    phase: Phase,
    announced: usize,
}

impl Lookup {
    /// A lookup of `target` starting from `closest` (known nodes) and `seeds` (addresses of
    /// unknown id, queried first). `own` is our id, never queried.
    pub fn new(
        target: NodeId,
        kind: LookupKind,
        own: NodeId,
        closest: &[NodeInfo],
        seeds: &[SocketAddr],
    ) -> Self {
        let mut lookup = Self {
            target,
            kind,
            own,
            candidates: Vec::with_capacity(MAX_CANDIDATES),
            seeds: Vec::new(),
            in_flight: 0,
            queries: 0,
            peers: BTreeSet::new(),
            phase: Phase::Searching,
            announced: 0,
        };
        for node in closest {
            lookup.add_candidate(*node);
        }
        for addr in seeds.iter().take(MAX_SEEDS) {
            if !lookup.candidates.iter().any(|c| c.node.addr == *addr)
                && !lookup.seeds.contains(addr)
            {
                lookup.seeds.push(*addr);
            }
        }
        lookup
    }

    /// The target id (or info-hash).
    pub fn target(&self) -> NodeId {
        self.target
    }

    /// What the lookup is for.
    pub fn kind(&self) -> LookupKind {
        self.kind
    }

    /// The phase.
    pub fn phase(&self) -> Phase {
        self.phase
    }

    /// Queries sent so far.
    pub fn queries(&self) -> u32 {
        self.queries
    }

    /// Distinct peers found so far.
    pub fn peer_count(&self) -> usize {
        self.peers.len()
    }

    /// `announce_peer` queries that were answered.
    pub fn announced(&self) -> usize {
        self.announced
    }

    /// Queries in flight.
    pub fn in_flight(&self) -> usize {
        self.in_flight
    }

    /// The next node to query, if fewer than [`ALPHA`] are in flight and one of the [`K`]
    /// closest is still unasked (seeds of unknown id first). Counts it as in flight.
    pub fn next_query(&mut self) -> Option<(Option<NodeId>, SocketAddr)> {
        if self.phase != Phase::Searching || self.in_flight >= ALPHA {
            return None;
        }
        if let Some(addr) = self.seeds.pop() {
            self.in_flight += 1;
            self.queries += 1;
            return Some((None, addr));
        }
        let c = self
            .candidates
            .iter_mut()
            .filter(|c| c.state != State::Failed)
            .take(K)
            .find(|c| c.state == State::Fresh)?;
        c.state = State::Asked;
        self.in_flight += 1;
        self.queries += 1;
        Some((Some(c.node.id), c.node.addr))
    }

    /// A node at `from` answered: learn its nodes and peers. Returns the peers not seen before.
    pub fn on_response(&mut self, from: SocketAddr, resp: &Response) -> Vec<SocketAddr> {
        self.in_flight = self.in_flight.saturating_sub(1);
        let node = NodeInfo {
            id: resp.id,
            addr: from,
        };
        let token = resp.token.clone();
        match self.candidates.iter_mut().find(|c| c.node.addr == from) {
            Some(c) if c.node.id == resp.id => c.state = State::Answered(token),
            Some(c) => c.state = State::Failed, // answered under another id
            None => {
                // A seed: now we know its id.
                if self.add_candidate(node)
                    && let Some(c) = self.candidates.iter_mut().find(|c| c.node.addr == from)
                {
                    c.state = State::Answered(token);
                }
            }
        }
        for n in resp.nodes.iter().chain(&resp.nodes6) {
            self.add_candidate(*n);
        }
        let mut fresh = Vec::new();
        if self.kind != LookupKind::FindNode {
            for peer in &resp.values {
                if self.peers.len() < MAX_PEERS && self.peers.insert(*peer) {
                    fresh.push(*peer);
                }
            }
        }
        fresh
    }

    /// A query to `addr` timed out or got an error.
    pub fn on_failure(&mut self, addr: SocketAddr) {
        self.in_flight = self.in_flight.saturating_sub(1);
        if let Some(c) = self.candidates.iter_mut().find(|c| c.node.addr == addr) {
            c.state = State::Failed;
        }
    }

    /// Whether the search is over: the [`K`] closest live candidates all answered, or nothing
    /// is left to ask and nothing is in flight.
    pub fn search_done(&self) -> bool {
        if self.phase != Phase::Searching {
            return true;
        }
        if !self.seeds.is_empty() {
            return false;
        }
        let mut top = self
            .candidates
            .iter()
            .filter(|c| c.state != State::Failed)
            .take(K)
            .peekable();
        if top.peek().is_none() {
            return self.in_flight == 0;
        }
        let mut all_answered = true;
        let mut any_fresh = false;
        for c in top {
            all_answered &= matches!(c.state, State::Answered(_));
            any_fresh |= c.state == State::Fresh;
        }
        all_answered || (!any_fresh && self.in_flight == 0)
    }

    /// Ends the search. For an announce, returns the closest answered nodes with their tokens
    /// (at most [`K`]) and waits for their answers; otherwise the lookup is done.
    pub fn finish_search(&mut self) -> Vec<(NodeInfo, Vec<u8>)> {
        if self.phase != Phase::Searching {
            return Vec::new();
        }
        let LookupKind::Announce(_) = self.kind else {
            self.phase = Phase::Done;
            return Vec::new();
        };
        let targets: Vec<(NodeInfo, Vec<u8>)> = self
            .candidates
            .iter()
            .filter_map(|c| match &c.state {
                State::Answered(Some(token)) => Some((c.node, token.clone())),
                _ => None,
            })
            .take(K)
            .collect();
        self.phase = if targets.is_empty() {
            Phase::Done
        } else {
            Phase::Announcing {
                pending: targets.len(),
            }
        };
        targets
    }

    /// An `announce_peer` was answered (`ok`) or failed.
    pub fn on_announce_result(&mut self, ok: bool) {
        if let Phase::Announcing { pending } = self.phase {
            self.announced += usize::from(ok);
            self.phase = if pending <= 1 {
                Phase::Done
            } else {
                Phase::Announcing {
                    pending: pending - 1,
                }
            };
        }
    }

    /// The closest nodes that answered, closest first.
    pub fn closest_answered(&self, count: usize) -> Vec<NodeInfo> {
        self.candidates
            .iter()
            .filter(|c| matches!(c.state, State::Answered(_)))
            .take(count)
            .map(|c| c.node)
            .collect()
    }

    /// Adds a candidate in distance order; false if ours, known, or too far to keep.
    fn add_candidate(&mut self, node: NodeInfo) -> bool {
        if node.id == self.own
            || self
                .candidates
                .iter()
                .any(|c| c.node.id == node.id || c.node.addr == node.addr)
        {
            return false;
        }
        let dist = node.id.distance(&self.target);
        let pos = self.candidates.partition_point(|c| c.dist < dist);
        if pos >= MAX_CANDIDATES {
            return false;
        }
        self.candidates.insert(
            pos,
            Candidate {
                dist,
                node,
                state: State::Fresh,
            },
        );
        if self.candidates.len() > MAX_CANDIDATES {
            // Forget the farthest. If a query to it is in flight, its answer is still counted
            // through `in_flight`, which does not depend on the candidate list.
            self.candidates.truncate(MAX_CANDIDATES);
        }
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::Rng;

    fn node(id: NodeId, i: u32) -> NodeInfo {
        NodeInfo {
            id,
            addr: SocketAddr::new(std::net::Ipv4Addr::from(0x0a00_0000 + i).into(), 1),
        }
    }

    #[test]
    fn alpha_parallel_converging_then_announce() {
        let mut rng = Rng::new(4);
        let target = NodeId::random(&mut rng);
        // A universe of 300 nodes ranked by distance to the target; the node of rank r knows
        // the ranks [r/2 - 8, max(r/2, 8)), so each hop halves the rank.
        let mut sorted: Vec<NodeInfo> = (0..300)
            .map(|i| node(NodeId::random(&mut rng), i))
            .collect();
        sorted.sort_by_key(|n| n.id.distance(&target));
        let answer = |from: &NodeInfo| -> Vec<NodeInfo> {
            let r = sorted.iter().position(|n| n == from).unwrap();
            let hi = (r / 2).max(K);
            sorted[hi.saturating_sub(K)..hi].to_vec()
        };
        let start: Vec<NodeInfo> = sorted[200..208].to_vec();
        let mut lookup = Lookup::new(
            target,
            LookupKind::Announce(Some(6881)),
            NodeId([0; 20]),
            &start,
            &[],
        );
        let mut asked = Vec::new();
        while let Some(q) = lookup.next_query() {
            asked.push(q);
        }
        assert_eq!(asked.len(), ALPHA);
        while !lookup.search_done() {
            let Some((Some(id), addr)) = asked.pop() else {
                break;
            };
            let resp = Response {
                id,
                nodes: answer(&NodeInfo { id, addr }),
                token: Some(vec![1, 2]),
                values: vec![SocketAddr::new(addr.ip(), 9)],
                ..Response::default()
            };
            assert_eq!(
                lookup.on_response(addr, &resp).len(),
                1,
                "each peer reported once"
            );
            while let Some(q) = lookup.next_query() {
                asked.push(q);
            }
            assert!(lookup.in_flight() <= ALPHA);
        }
        assert!(
            lookup.queries() < 60,
            "converged in {} queries",
            lookup.queries()
        );
        assert_eq!(
            lookup.closest_answered(K),
            sorted[..K].to_vec(),
            "found the true closest"
        );
        let targets = lookup.finish_search();
        assert_eq!(targets.len(), K);
        for _ in &targets {
            assert_ne!(lookup.phase(), Phase::Done);
            lookup.on_announce_result(true);
        }
        assert_eq!(lookup.phase(), Phase::Done);
        assert_eq!(lookup.announced(), K);
    }

    #[test]
    fn seeds_first_failures_and_exhaustion() {
        let mut rng = Rng::new(5);
        let target = NodeId::random(&mut rng);
        let seed: SocketAddr = "127.0.0.1:6881".parse().unwrap();
        let mut lookup = Lookup::new(target, LookupKind::GetPeers, NodeId([0; 20]), &[], &[seed]);
        assert!(!lookup.search_done());
        assert_eq!(lookup.next_query(), Some((None, seed)));
        assert_eq!(lookup.next_query(), None, "nothing else known");
        let far = node(NodeId::random(&mut rng), 1);
        let resp = Response {
            id: NodeId::random(&mut rng),
            nodes: vec![far, node(NodeId([0; 20]), 2)],
            ..Response::default()
        };
        lookup.on_response(seed, &resp);
        assert_eq!(
            lookup.next_query(),
            Some((Some(far.id), far.addr)),
            "our own id skipped"
        );
        assert!(!lookup.search_done());
        lookup.on_failure(far.addr);
        assert!(lookup.search_done());
        assert_eq!(lookup.closest_answered(8).len(), 1);
        assert!(lookup.finish_search().is_empty());
        assert_eq!(lookup.phase(), Phase::Done);
    }
}
