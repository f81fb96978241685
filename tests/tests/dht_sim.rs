//! A simulated Mainline DHT of 500 core `Dht` nodes, as participants of the simulation harness
//! (`DhtNode`s on a network with 10–100 ms latency and 1 % datagram loss). Every node
//! bootstraps from a few others; an info-hash announced by one node is found by every other
//! node's `get_peers` within a bounded number of queries; the same seed gives the same event
//! log.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use sanstorrent_core::dht::{Config, Dht, DhtEvent, LookupId};
use sanstorrent_core::{InfoHash, Rng};
use sanstorrent_tests::sim::{DhtNode, LinkConfig, Sim};

const NODES: usize = 500;
/// A lookup in a 500-node DHT needs about log2(500 / 8) hops of α = 3 queries; allow slack
/// for losses and stale routing entries.
const MAX_QUERIES_PER_LOOKUP: u32 = 40;

struct Outcome {
    hash: u64,
    found: usize,
    max_queries: u32,
    mean_queries: f64,
    delivered: u64,
    mean_table: f64,
}

fn dht(sim: &Sim, i: usize) -> &DhtNode {
    sim.nodes[i].agent::<DhtNode>()
}

fn scenario(seed: u64) -> Outcome {
    let link = LinkConfig {
        latency: Duration::from_millis(10),
        jitter: Duration::from_millis(90),
        loss: 0.01,
        ..LinkConfig::default()
    };
    let mut sim = Sim::new(seed, link);
    for i in 0..NODES {
        let d = Dht::new(
            Config::default(),
            sim.now,
            seed.wrapping_mul(1000) + i as u64,
        );
        sim.add_agent(Box::new(DhtNode::new(d)));
    }
    let mut rng = Rng::new(seed ^ 0x5eed);
    let steps = 20_000_000;
    // Nodes join one by one, 20 ms apart, each bootstrapping from three earlier nodes.
    for i in 1..NODES {
        sim.run_for(Duration::from_millis(20), steps).expect("join");
        let routers: Vec<SocketAddr> = (0..3.min(i)).map(|_| Sim::addr_of(rng.index(i))).collect();
        sim.with_agent::<DhtNode>(i, |n, now| n.dht.bootstrap(now, &routers));
    }
    sim.run_for(Duration::from_secs(30), steps).expect("settle");
    let bootstrapped = (0..NODES)
        .filter(|&i| {
            dht(&sim, i)
                .events
                .iter()
                .any(|(_, e)| matches!(e, DhtEvent::Bootstrapped { nodes } if *nodes > 0))
        })
        .count();
    assert!(
        bootstrapped >= NODES - 1,
        "seed {seed}: only {bootstrapped} nodes bootstrapped"
    );

    // One node announces.
    let info_hash = InfoHash([0x5a; 20]);
    let announcer = rng.index(NODES);
    let mut a = None;
    sim.with_agent::<DhtNode>(announcer, |n, now| {
        a = Some(n.dht.announce(now, info_hash, 7777));
    });
    sim.run_for(Duration::from_secs(20), steps)
        .expect("announce");
    let announced = dht(&sim, announcer)
        .events
        .iter()
        .find_map(|(_, e)| match e {
            DhtEvent::LookupDone {
                lookup, announced, ..
            } if Some(*lookup) == a => Some(*announced),
            _ => None,
        });
    assert!(
        announced.is_some_and(|n| n >= 4),
        "seed {seed}: announce reached {announced:?} nodes"
    );

    // Every other node looks it up, 10 ms apart.
    let mut lookups: Vec<(usize, LookupId)> = Vec::new();
    for i in (0..NODES).filter(|&i| i != announcer) {
        sim.run_for(Duration::from_millis(10), steps)
            .expect("lookups");
        let mut id = None;
        sim.with_agent::<DhtNode>(i, |n, now| id = Some(n.dht.get_peers(now, info_hash)));
        lookups.push((i, id.expect("lookup started")));
    }
    sim.run_for(Duration::from_secs(60), steps)
        .expect("lookups finish");

    let want = SocketAddr::new(Sim::addr_of(announcer).ip(), 7777);
    let mut found = 0;
    let mut queries = Vec::new();
    for (i, id) in &lookups {
        let mut got = false;
        let mut done = None;
        for (_, e) in &dht(&sim, *i).events {
            match e {
                DhtEvent::Peers { lookup, peers, .. } if lookup == id => {
                    got |= peers.contains(&want);
                }
                DhtEvent::LookupDone {
                    lookup, queries, ..
                } if lookup == id => done = Some(*queries),
                _ => {}
            }
        }
        let q = done.unwrap_or_else(|| panic!("seed {seed}: lookup of node {i} never finished"));
        assert!(
            got,
            "seed {seed}: node {i} did not find the announced peer ({q} queries)"
        );
        found += usize::from(got);
        queries.push(q);
    }
    let max_queries = queries.iter().copied().max().unwrap_or(0);
    let mean_queries = f64::from(queries.iter().sum::<u32>()) / queries.len() as f64;
    let mean_table = (0..NODES)
        .map(|i| dht(&sim, i).dht.routing_table().len() as f64)
        .sum::<f64>()
        / NODES as f64;
    Outcome {
        hash: sim.log_hash(),
        found,
        max_queries,
        mean_queries,
        delivered: sim.net.stats.datagrams - sim.net.stats.datagrams_lost,
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
