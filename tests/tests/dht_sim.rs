//! A simulated Mainline DHT of 500 `Dht` nodes in virtual time: a small seeded event loop
//! delivers transmits between nodes with per-packet latency and loss. Every node bootstraps
//! from a few others; an info-hash announced by one node is found by every other node's
//! `get_peers` within a bounded number of queries; the same seed gives the same event log.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::net::{Ipv4Addr, SocketAddr};
use std::time::{Duration, Instant};

use bytes::Bytes;
use sanstorrent_core::dht::{Config, Dht, DhtEvent, LookupId};
use sanstorrent_core::{InfoHash, Rng};

const NODES: usize = 500;
/// A lookup in a 500-node DHT needs about log2(500 / 8) hops of α = 3 queries; allow slack
/// for losses and stale routing entries.
const MAX_QUERIES_PER_LOOKUP: u32 = 40;

fn addr(i: usize) -> SocketAddr {
    let i = u32::try_from(i).expect("small index");
    SocketAddr::new(Ipv4Addr::from(0x0a00_0001 + i).into(), 6881)
}

fn index(addr: SocketAddr) -> Option<usize> {
    let std::net::IpAddr::V4(ip) = addr.ip() else {
        return None;
    };
    let i = u32::from(ip).checked_sub(0x0a00_0001)? as usize;
    (i < NODES && addr.port() == 6881).then_some(i)
}

struct Packet {
    at: Instant,
    seq: u64,
    from: usize,
    to: usize,
    payload: Bytes,
}

impl PartialEq for Packet {
    fn eq(&self, other: &Self) -> bool {
        (self.at, self.seq) == (other.at, other.seq)
    }
}
impl Eq for Packet {}
impl PartialOrd for Packet {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Packet {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        (self.at, self.seq).cmp(&(other.at, other.seq))
    }
}

struct Sim {
    epoch: Instant,
    now: Instant,
    nodes: Vec<Dht>,
    /// The deadline each node's timer is armed at (stale heap entries are skipped).
    armed: Vec<Option<Instant>>,
    timers: BinaryHeap<Reverse<(Instant, usize)>>,
    net: BinaryHeap<Reverse<Packet>>,
    rng: Rng,
    seq: u64,
    loss: f64,
    /// (virtual ms, node, event)
    log: Vec<(u128, usize, DhtEvent)>,
    delivered: u64,
}

impl Sim {
    fn new(seed: u64, loss: f64) -> Self {
        let epoch = Instant::now();
        let nodes: Vec<Dht> = (0..NODES)
            .map(|i| Dht::new(Config::default(), epoch, seed.wrapping_mul(1000) + i as u64))
            .collect();
        let mut sim = Self {
            epoch,
            now: epoch,
            armed: vec![None; NODES],
            timers: BinaryHeap::new(),
            net: BinaryHeap::new(),
            rng: Rng::new(seed),
            seq: 0,
            loss,
            log: Vec::new(),
            delivered: 0,
            nodes,
        };
        for i in 0..NODES {
            sim.flush(i);
        }
        sim
    }

    /// Drains node `i`'s transmits into the network, its events into the log, re-arms its
    /// timer.
    fn flush(&mut self, i: usize) {
        while let Some(t) = self.nodes[i].poll_transmit() {
            let Some(to) = index(t.to) else { continue };
            if self.rng.chance(self.loss) {
                continue;
            }
            let latency = Duration::from_millis(10 + self.rng.below(90));
            self.seq += 1;
            self.net.push(Reverse(Packet {
                at: self.now + latency,
                seq: self.seq,
                from: i,
                to,
                payload: t.payload,
            }));
        }
        while let Some(e) = self.nodes[i].poll_event() {
            self.log.push(((self.now - self.epoch).as_millis(), i, e));
        }
        let next = self.nodes[i].poll_timeout();
        if next != self.armed[i] {
            self.armed[i] = next;
            if let Some(t) = next {
                self.timers.push(Reverse((t, i)));
            }
        }
    }

    /// Runs everything due up to `until`.
    fn run_until(&mut self, until: Instant) {
        loop {
            let net_at = self.net.peek().map(|Reverse(p)| p.at);
            let timer_at = self.timers.peek().map(|Reverse((t, _))| *t);
            let next = match (net_at, timer_at) {
                (Some(a), Some(b)) => a.min(b),
                (Some(a), None) => a,
                (None, Some(b)) => b,
                (None, None) => break,
            };
            if next > until {
                break;
            }
            self.now = next;
            if net_at == Some(next) {
                let Some(Reverse(p)) = self.net.pop() else {
                    break;
                };
                self.delivered += 1;
                self.nodes[p.to].handle_datagram(self.now, addr(p.from), &p.payload);
                self.flush(p.to);
            } else {
                let Some(Reverse((t, i))) = self.timers.pop() else {
                    break;
                };
                if self.armed[i] != Some(t) {
                    continue;
                }
                self.armed[i] = None;
                self.nodes[i].handle_timeout(self.now);
                self.flush(i);
            }
        }
        self.now = until;
    }

    fn at(&self, ms: u64) -> Instant {
        self.epoch + Duration::from_millis(ms)
    }

    /// FNV-1a over the event log.
    fn log_hash(&self) -> u64 {
        let mut h: u64 = 0xcbf2_9ce4_8422_2325;
        for entry in &self.log {
            for b in format!("{entry:?}").bytes() {
                h ^= u64::from(b);
                h = h.wrapping_mul(0x100_0000_01b3);
            }
        }
        h
    }
}

struct Outcome {
    hash: u64,
    found: usize,
    max_queries: u32,
    mean_queries: f64,
    delivered: u64,
    mean_table: f64,
}

fn scenario(seed: u64) -> Outcome {
    let mut sim = Sim::new(seed, 0.01);
    let mut rng = Rng::new(seed ^ 0x5eed);
    // Nodes join one by one, 20 ms apart, each bootstrapping from three earlier nodes.
    for i in 1..NODES {
        let t = sim.at(20 * i as u64);
        sim.run_until(t);
        let routers: Vec<SocketAddr> = (0..3.min(i)).map(|_| addr(rng.index(i))).collect();
        sim.nodes[i].bootstrap(t, &routers);
        sim.flush(i);
    }
    let settle = sim.at(20 * NODES as u64 + 30_000);
    sim.run_until(settle);
    let bootstrapped = sim
        .log
        .iter()
        .filter(|(_, _, e)| matches!(e, DhtEvent::Bootstrapped { nodes } if *nodes > 0))
        .count();
    assert!(
        bootstrapped >= NODES - 1,
        "only {bootstrapped} nodes bootstrapped"
    );

    // One node announces.
    let info_hash = InfoHash([0x5a; 20]);
    let announcer = rng.index(NODES);
    let a = sim.nodes[announcer].announce(settle, info_hash, 7777);
    sim.flush(announcer);
    sim.run_until(settle + Duration::from_secs(20));
    let announced = sim.log.iter().find_map(|(_, n, e)| match e {
        DhtEvent::LookupDone {
            lookup, announced, ..
        } if *n == announcer && *lookup == a => Some(*announced),
        _ => None,
    });
    assert!(
        announced.is_some_and(|n| n >= 4),
        "announce reached {announced:?} nodes"
    );

    // Every other node looks it up, 10 ms apart.
    let start = settle + Duration::from_secs(20);
    let mut lookups: Vec<(usize, LookupId)> = Vec::new();
    for (k, i) in (0..NODES).filter(|&i| i != announcer).enumerate() {
        let t = start + Duration::from_millis(10 * k as u64);
        sim.run_until(t);
        lookups.push((i, sim.nodes[i].get_peers(t, info_hash)));
        sim.flush(i);
    }
    sim.run_until(start + Duration::from_secs(60));

    let want = SocketAddr::new(addr(announcer).ip(), 7777);
    let mut found = 0;
    let mut queries = Vec::new();
    for (i, id) in &lookups {
        let events = sim.log.iter().filter(|(_, n, _)| n == i).map(|(_, _, e)| e);
        let mut got = false;
        let mut done = None;
        for e in events {
            match e {
                DhtEvent::Peers { lookup, peers, .. } if lookup == id => {
                    got |= peers.contains(&want);
                }
                DhtEvent::LookupDone {
                    lookup, queries, ..
                } if lookup == id => {
                    done = Some(*queries);
                }
                _ => {}
            }
        }
        let q = done.unwrap_or_else(|| panic!("lookup of node {i} never finished"));
        assert!(
            got,
            "node {i} did not find the announced peer ({q} queries)"
        );
        found += usize::from(got);
        queries.push(q);
    }
    let max_queries = queries.iter().copied().max().unwrap_or(0);
    let mean_queries = f64::from(queries.iter().sum::<u32>()) / queries.len() as f64;
    let mean_table = sim
        .nodes
        .iter()
        .map(|n| n.routing_table().len() as f64)
        .sum::<f64>()
        / NODES as f64;
    Outcome {
        hash: sim.log_hash(),
        found,
        max_queries,
        mean_queries,
        delivered: sim.delivered,
        mean_table,
    }
}

#[test]
fn five_hundred_nodes_find_an_announced_peer_deterministically() {
    let wall = Instant::now();
    let first = scenario(7);
    eprintln!(
        "dht_sim: {} nodes found the peer; queries per lookup mean {:.1} max {}; \
         {} datagrams delivered; mean routing table {:.1} nodes; {:?} wall",
        first.found,
        first.mean_queries,
        first.max_queries,
        first.delivered,
        first.mean_table,
        wall.elapsed()
    );
    assert_eq!(first.found, NODES - 1);
    assert!(
        first.max_queries <= MAX_QUERIES_PER_LOOKUP,
        "a lookup took {} queries",
        first.max_queries
    );
    let again = scenario(7);
    assert_eq!(first.hash, again.hash, "same seed, same event log");
    let other = scenario(8);
    assert_ne!(first.hash, other.hash, "another seed, another run");
    assert_eq!(other.found, NODES - 1);
}
