//! The routing table of BEP 5: buckets of [`K`] nodes by XOR distance, split around our own
//! id, node states good / questionable / bad, and a replacement cache per bucket.
//!
//! Bucket `i` (for `i` below the last) holds the nodes sharing exactly `i` leading bits with
//! our id; the last bucket holds all nodes sharing at least that many, and is the only one that
//! splits when full. In a full bucket a node whose id matches its address (BEP 42) takes the
//! slot of one whose id does not.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use super::krpc::NodeInfo;
use super::node_id::NodeId;
use crate::rng::Rng;

/// Nodes per bucket.
pub const K: usize = 8;
/// A node that answered (or queried us after having answered) within this long is good.
pub const GOOD_FOR: Duration = Duration::from_secs(15 * 60);
/// Unanswered queries in a row after which a node is bad.
pub const MAX_FAILURES: u8 = 2;
/// A bucket unchanged for this long is refreshed with a lookup of a random id in it.
pub const REFRESH_EVERY: Duration = Duration::from_secs(15 * 60);
/// How long after pinging a questionable node before pinging it again.
const REPING_AFTER: Duration = Duration::from_secs(60);

/// The BEP 5 state of a node.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NodeState {
    /// Responded within 15 minutes, or responded once and queried us within 15 minutes.
    Good,
    /// Inactive for 15 minutes, or never verified.
    Questionable,
    /// Failed to answer [`MAX_FAILURES`] queries in a row.
    Bad,
}

/// What the table knows of one node.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Node {
    /// Its id.
    pub id: NodeId,
    /// Its UDP address.
    pub addr: SocketAddr,
    /// When it last answered one of our queries.
    pub last_response: Option<Instant>,
    /// When it last queried us.
    pub last_query: Option<Instant>,
    /// Consecutive unanswered queries.
    pub failures: u8,
    /// When we last pinged it because it was questionable.
    pinged: Option<Instant>,
}

/// How a node was seen.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Seen {
    /// It answered one of our queries.
    Responded,
    /// It queried us.
    Queried,
}

/// What [`RoutingTable::observe`] did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Observed {
    /// Already in the table; timestamps updated.
    Updated,
    /// Added to a bucket.
    Added,
    /// Its bucket is full of good or questionable nodes: kept in the replacement cache.
    Cached,
    /// Ignored (our own id, or an id or address clash with a node already known).
    Ignored,
    /// An unknown node queried us: not added until it answers a query of ours (ping it if
    /// [`RoutingTable::has_room`]).
    Unverified,
}

#[derive(Clone, Debug)]
struct Bucket {
    nodes: Vec<Node>,
    replacements: Vec<Node>,
    last_changed: Instant,
}

/// The routing table.
#[derive(Clone, Debug)]
pub struct RoutingTable {
    own: NodeId,
    buckets: Vec<Bucket>,
}

impl Node {
    fn new(id: NodeId, addr: SocketAddr) -> Self {
        Self {
            id,
            addr,
            last_response: None,
            last_query: None,
            failures: 0,
            pinged: None,
        }
    }

    /// The node's state at `now`.
    pub fn state(&self, now: Instant) -> NodeState {
        if self.failures >= MAX_FAILURES {
            return NodeState::Bad;
        }
        let recent =
            |t: Option<Instant>| t.is_some_and(|t| now.saturating_duration_since(t) < GOOD_FOR);
        match self.last_response {
            Some(_) if recent(self.last_response) || recent(self.last_query) => NodeState::Good,
            _ => NodeState::Questionable,
        }
    }

    /// Id and address.
    pub fn info(&self) -> NodeInfo {
        NodeInfo {
            id: self.id,
            addr: self.addr,
        }
    }
}

impl Bucket {
    fn new(now: Instant) -> Self {
        Self {
            nodes: Vec::with_capacity(K),
            replacements: Vec::new(),
            last_changed: now,
        }
    }
}

impl RoutingTable {
    /// An empty table around `own`.
    pub fn new(own: NodeId, now: Instant) -> Self {
        Self {
            own,
            buckets: vec![Bucket::new(now)],
        }
    }

    /// Our id.
    pub fn own_id(&self) -> NodeId {
        self.own
    }

    /// The number of nodes in buckets (replacements not counted).
    pub fn len(&self) -> usize {
        self.buckets.iter().map(|b| b.nodes.len()).sum()
    }

    /// Whether no node is known.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The number of buckets.
    pub fn bucket_count(&self) -> usize {
        self.buckets.len()
    }

    /// The nodes of bucket `i`.
    pub fn bucket_nodes(&self, i: usize) -> &[Node] {
        self.buckets.get(i).map_or(&[], |b| &b.nodes)
    }

    /// Every node in the buckets.
    pub fn nodes(&self) -> impl Iterator<Item = &Node> {
        self.buckets.iter().flat_map(|b| b.nodes.iter())
    }

    /// The node with this id, if in a bucket.
    pub fn get(&self, id: &NodeId) -> Option<&Node> {
        let b = self.bucket_index(id);
        self.buckets[b].nodes.iter().find(|n| n.id == *id)
    }

    /// Whether a node with this id would get a bucket slot now (room, a split, or a bad node
    /// to replace).
    pub fn has_room(&self, now: Instant, id: &NodeId) -> bool {
        let b = self.bucket_index(id);
        let bucket = &self.buckets[b];
        bucket.nodes.len() < K
            || (b + 1 == self.buckets.len() && self.buckets.len() < NodeId::BITS)
            || bucket.nodes.iter().any(|n| n.state(now) == NodeState::Bad)
    }

    /// Records that a node answered us or queried us. Unknown nodes enter the table only by
    /// answering.
    pub fn observe(&mut self, now: Instant, id: NodeId, addr: SocketAddr, seen: Seen) -> Observed {
        if id == self.own {
            return Observed::Ignored;
        }
        loop {
            let b = self.bucket_index(&id);
            if let Some(node) = self.buckets[b].nodes.iter_mut().find(|n| n.id == id) {
                if node.addr != addr {
                    // The same id at another address: a spoof or a move; trust the old one
                    // until it goes bad.
                    if node.state(now) != NodeState::Bad {
                        return Observed::Ignored;
                    }
                    node.addr = addr;
                }
                touch(node, now, seen);
                self.buckets[b].last_changed = now;
                return Observed::Updated;
            }
            if self.nodes().any(|n| n.addr == addr) {
                return Observed::Ignored; // one id per address
            }
            if seen == Seen::Queried {
                // Anyone can send a query with a spoofed source: only answers prove a node.
                return Observed::Unverified;
            }
            let mut node = Node::new(id, addr);
            touch(&mut node, now, seen);
            let count = self.buckets.len();
            let bucket = &mut self.buckets[b];
            if bucket.nodes.len() < K {
                bucket.nodes.push(node);
                bucket.replacements.retain(|n| n.id != id);
                bucket.last_changed = now;
                return Observed::Added;
            }
            if b + 1 == count && count < NodeId::BITS {
                self.split(now);
                continue;
            }
            if let Some(bad) = bucket
                .nodes
                .iter_mut()
                .find(|n| n.state(now) == NodeState::Bad)
            {
                *bad = node;
                bucket.last_changed = now;
                return Observed::Added;
            }
            // BEP 42: a node whose id matches its address takes the slot of one whose id
            // does not (a questionable one first); the displaced node waits in the cache.
            let mut added = false;
            if node.id.proves_address(addr.ip()) {
                let insecure = |n: &Node| !n.id.is_secure_for(n.addr.ip());
                let slot = bucket
                    .nodes
                    .iter()
                    .position(|n| insecure(n) && n.state(now) != NodeState::Good)
                    .or_else(|| bucket.nodes.iter().position(insecure));
                if let Some(slot) = slot {
                    node = std::mem::replace(&mut bucket.nodes[slot], node);
                    bucket.last_changed = now;
                    added = true;
                }
            }
            let displaced = node.id;
            bucket
                .replacements
                .retain(|n| n.id != id && n.addr != addr && n.id != displaced);
            if bucket.replacements.len() >= K {
                bucket.replacements.remove(0);
            }
            bucket.replacements.push(node);
            return if added {
                Observed::Added
            } else {
                Observed::Cached
            };
        }
    }

    /// Records an unanswered query to `id` at `addr`. A node that becomes bad is replaced by
    /// the freshest node of its bucket's replacement cache, if any.
    pub fn failed(&mut self, now: Instant, id: &NodeId, addr: SocketAddr) {
        let b = self.bucket_index(id);
        let bucket = &mut self.buckets[b];
        let Some(pos) = bucket
            .nodes
            .iter()
            .position(|n| n.id == *id && n.addr == addr)
        else {
            bucket.replacements.retain(|n| n.id != *id);
            return;
        };
        let node = &mut bucket.nodes[pos];
        node.failures = node.failures.saturating_add(1);
        if node.state(now) == NodeState::Bad
            && let Some(replacement) = bucket.replacements.pop()
        {
            bucket.nodes[pos] = replacement;
            bucket.last_changed = now;
        }
    }

    /// The `count` nodes closest to `target` that are not bad, closest first.
    pub fn closest(&self, now: Instant, target: &NodeId, count: usize) -> Vec<NodeInfo> {
        let mut all: Vec<(super::node_id::Distance, NodeInfo)> = self
            .nodes()
            .filter(|n| n.state(now) != NodeState::Bad)
            .map(|n| (n.id.distance(target), n.info()))
            .collect();
        if all.len() > count && count > 0 {
            all.select_nth_unstable_by(count - 1, |a, b| a.0.cmp(&b.0));
            all.truncate(count);
        }
        all.sort_unstable_by_key(|a| a.0);
        all.truncate(count);
        all.into_iter().map(|(_, n)| n).collect()
    }

    /// Questionable nodes due a ping (at most `max`); each is marked as pinged now.
    pub fn take_pings(&mut self, now: Instant, max: usize) -> Vec<NodeInfo> {
        let mut out = Vec::new();
        for node in self.buckets.iter_mut().flat_map(|b| b.nodes.iter_mut()) {
            if out.len() >= max {
                break;
            }
            let due = node
                .pinged
                .is_none_or(|t| now.saturating_duration_since(t) >= REPING_AFTER);
            if node.state(now) == NodeState::Questionable && due {
                node.pinged = Some(now);
                out.push(node.info());
            }
        }
        out
    }

    /// Buckets unchanged for [`REFRESH_EVERY`]: a random target id in each. Their refresh time
    /// is reset to `now`, so each is returned once per period.
    pub fn take_refreshes(&mut self, now: Instant, rng: &mut Rng) -> Vec<NodeId> {
        let own = self.own;
        let mut out = Vec::new();
        for (i, bucket) in self.buckets.iter_mut().enumerate() {
            if now.saturating_duration_since(bucket.last_changed) >= REFRESH_EVERY {
                bucket.last_changed = now;
                out.push(own.random_with_prefix(i, rng));
            }
        }
        out
    }

    /// When the next bucket refresh is due.
    pub fn next_refresh(&self) -> Option<Instant> {
        self.buckets
            .iter()
            .map(|b| b.last_changed + REFRESH_EVERY)
            .min()
    }

    /// Nodes that have answered us and are not bad: what is worth saving for a restart.
    pub fn good_nodes(&self, now: Instant) -> Vec<NodeInfo> {
        self.nodes()
            .filter(|n| n.last_response.is_some() && n.state(now) != NodeState::Bad)
            .map(Node::info)
            .collect()
    }

    fn bucket_index(&self, id: &NodeId) -> usize {
        self.own.common_prefix_len(id).min(self.buckets.len() - 1)
    }

    fn split(&mut self, now: Instant) {
        let depth = self.buckets.len();
        let own = self.own;
        let mut fresh = Bucket::new(now);
        let Some(old) = self.buckets.last_mut() else {
            return;
        };
        let moves = |n: &Node| own.common_prefix_len(&n.id) >= depth;
        fresh.nodes = old.nodes.iter().filter(|n| moves(n)).cloned().collect();
        old.nodes.retain(|n| !moves(n));
        fresh.replacements = old
            .replacements
            .iter()
            .filter(|n| moves(n))
            .cloned()
            .collect();
        old.replacements.retain(|n| !moves(n));
        old.last_changed = now;
        self.buckets.push(fresh);
    }
}

fn touch(node: &mut Node, now: Instant, seen: Seen) {
    match seen {
        Seen::Responded => {
            node.last_response = Some(now);
            node.failures = 0;
        }
        Seen::Queried => node.last_query = Some(now),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addr(i: u32) -> SocketAddr {
        SocketAddr::new(std::net::Ipv4Addr::from(0x0a00_0000 + i).into(), 6881)
    }

    #[test]
    fn a_node_whose_id_matches_its_address_displaces_one_whose_id_does_not() {
        let t0 = Instant::now();
        let mut rng = Rng::new(9);
        let global = |i: u8| SocketAddr::new(std::net::Ipv4Addr::new(84, 124, 73, i).into(), 6881);
        let secure = NodeId::secure(global(200).ip(), &mut rng);
        // Our id differs in the first bit: all the others share one far bucket.
        let mut own = secure;
        own.0[0] ^= 0x80;
        let mut table = RoutingTable::new(own, t0);
        let mut far = Vec::new();
        while far.len() < 2 * K {
            let mut id = NodeId::random(&mut rng);
            id.0[0] = (id.0[0] & 0x7f) | (secure.0[0] & 0x80);
            let at = global(far.len() as u8 + 1);
            if !id.is_secure_for(at.ip()) {
                far.push((id, at));
            }
        }
        for (id, at) in &far {
            table.observe(t0, *id, *at, Seen::Responded);
        }
        let full = table.len();
        assert!(full >= K);
        let insecure = |t: &RoutingTable| {
            t.nodes()
                .filter(|n| !n.id.is_secure_for(n.addr.ip()))
                .count()
        };
        let before = insecure(&table);
        let (late, late_at) = (NodeId::random(&mut rng), global(250));
        let mut late = late;
        late.0[0] = (late.0[0] & 0x7f) | (secure.0[0] & 0x80);
        if !late.is_secure_for(late_at.ip()) {
            assert_eq!(
                table.observe(t0, late, late_at, Seen::Responded),
                Observed::Cached
            );
        }
        assert_eq!(
            table.observe(t0, secure, global(200), Seen::Responded),
            Observed::Added
        );
        assert_eq!(table.len(), full);
        assert_eq!(insecure(&table), before - 1);
        assert!(table.get(&secure).is_some());
        // An exempt (private) address proves nothing: such a node waits in the cache.
        let private = SocketAddr::new(std::net::Ipv4Addr::new(192, 168, 0, 9).into(), 6881);
        let mut lan = NodeId::random(&mut rng);
        lan.0[0] = (lan.0[0] & 0x7f) | (secure.0[0] & 0x80);
        assert_eq!(
            table.observe(t0, lan, private, Seen::Responded),
            Observed::Cached
        );
        assert_eq!(insecure(&table), before - 1);
    }

    #[test]
    fn buckets_split_around_our_id() {
        let t0 = Instant::now();
        let own = NodeId([0; 20]);
        let mut table = RoutingTable::new(own, t0);
        let mut rng = Rng::new(5);
        // Nodes at every depth: only the bucket holding our id may split.
        let mut added = 0;
        for i in 0..2000u32 {
            let depth = (i % 40) as usize;
            let id = own.random_with_prefix(depth, &mut rng);
            if table.observe(t0, id, addr(i), Seen::Responded) == Observed::Added {
                added += 1;
            }
        }
        assert_eq!(table.len(), added);
        for b in 0..table.bucket_count() {
            let nodes = table.bucket_nodes(b);
            assert!(nodes.len() <= K);
            let last = b + 1 == table.bucket_count();
            for n in nodes {
                let cpl = own.common_prefix_len(&n.id);
                assert!(
                    if last { cpl >= b } else { cpl == b },
                    "bucket {b} holds cpl {cpl}"
                );
            }
        }
        // 40 depths with plenty of nodes each: 40 full buckets (the last holds the rest).
        assert!(table.bucket_count() >= 40);
        assert!(table.bucket_nodes(0).len() == K && table.bucket_nodes(20).len() == K);
        // Far buckets kept their first K nodes; the newcomers went to the cache.
        let far = own.random_with_prefix(0, &mut rng);
        assert_eq!(
            table.observe(t0, far, addr(9999), Seen::Responded),
            Observed::Cached
        );
        // Closest is sorted by distance.
        let target = NodeId::random(&mut rng);
        let closest = table.closest(t0, &target, K);
        assert_eq!(closest.len(), K);
        assert!(
            closest
                .windows(2)
                .all(|w| w[0].id.distance(&target) <= w[1].id.distance(&target))
        );
        let best = table.nodes().map(|n| n.id.distance(&target)).min().unwrap();
        assert_eq!(closest[0].id.distance(&target), best);
    }

    #[test]
    fn node_states_follow_bep5_timings() {
        let t0 = Instant::now();
        let mut table = RoutingTable::new(NodeId([0; 20]), t0);
        let id = NodeId([0x80; 20]);
        let querier = NodeId([0x40; 20]);
        table.observe(t0, id, addr(1), Seen::Responded);
        assert_eq!(
            table.observe(t0, querier, addr(2), Seen::Queried),
            Observed::Unverified
        );
        assert!(
            table.get(&querier).is_none(),
            "a query alone proves nothing"
        );
        assert!(table.has_room(t0, &querier));
        let min = |m: u64| t0 + Duration::from_secs(60 * m);
        assert_eq!(table.get(&id).unwrap().state(min(14)), NodeState::Good);
        assert_eq!(
            table.get(&id).unwrap().state(min(15)),
            NodeState::Questionable
        );
        // A query from a node that once answered keeps it good.
        table.observe(min(20), id, addr(1), Seen::Queried);
        assert_eq!(table.get(&id).unwrap().state(min(34)), NodeState::Good);
        assert_eq!(
            table.get(&id).unwrap().state(min(35)),
            NodeState::Questionable
        );
        // Questionable nodes are pinged once per minute at most.
        assert_eq!(table.take_pings(min(35), 10).len(), 1);
        assert!(table.take_pings(min(35), 10).is_empty());
        assert_eq!(table.take_pings(min(36), 10).len(), 1);
        // Two failures make it bad; an answer resets the count.
        table.failed(min(36), &id, addr(1));
        assert_eq!(
            table.get(&id).unwrap().state(min(36)),
            NodeState::Questionable
        );
        table.observe(min(36), id, addr(1), Seen::Responded);
        table.failed(min(37), &id, addr(1));
        table.failed(min(37), &id, addr(1));
        assert_eq!(table.get(&id).unwrap().state(min(37)), NodeState::Bad);
        assert!(table.closest(min(37), &id, 8).iter().all(|n| n.id != id));
    }

    #[test]
    fn replacement_cache_fills_bad_slots_and_refresh_is_periodic() {
        let t0 = Instant::now();
        let own = NodeId([0; 20]);
        let mut table = RoutingTable::new(own, t0);
        let mut rng = Rng::new(7);
        // Fill bucket 0 (ids starting with a 1 bit) once the table has split.
        for i in 0..64u32 {
            let id = own.random_with_prefix((i % 8) as usize, &mut rng);
            table.observe(t0, id, addr(i), Seen::Responded);
        }
        let victim = table.bucket_nodes(0)[0].clone();
        let spare = own.random_with_prefix(0, &mut rng);
        assert_eq!(
            table.observe(t0, spare, addr(500), Seen::Responded),
            Observed::Cached
        );
        table.failed(t0, &victim.id, victim.addr);
        table.failed(t0, &victim.id, victim.addr);
        assert!(table.get(&victim.id).is_none());
        assert!(table.get(&spare).is_some(), "the cached node took the slot");
        // The same id at a new address is not believed while the node is good.
        assert_eq!(
            table.observe(t0, spare, addr(501), Seen::Queried),
            Observed::Ignored
        );

        assert!(
            table
                .take_refreshes(t0 + REFRESH_EVERY - Duration::from_secs(1), &mut rng)
                .is_empty()
        );
        let due = table.take_refreshes(t0 + REFRESH_EVERY, &mut rng);
        assert_eq!(due.len(), table.bucket_count());
        for (i, target) in due.iter().enumerate() {
            assert_eq!(own.common_prefix_len(target), i);
        }
        assert!(
            table
                .take_refreshes(t0 + REFRESH_EVERY, &mut rng)
                .is_empty()
        );
        assert_eq!(table.next_refresh(), Some(t0 + 2 * REFRESH_EVERY));
        assert_eq!(table.good_nodes(t0).len(), table.len());
    }
}
