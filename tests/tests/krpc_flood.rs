//! A KRPC flood at scale against a session's DHT node: 5,000 hostile endpoints (each its own
//! address, more than the rate limiter tracks one by one) send `get_peers` for random
//! info-hashes and, once a `get_peers` answer gave them a token, `announce_peer` with it,
//! each from a new random node id, for 12 s. 4 s into the flood the session is given a magnet
//! whose only way to peers is a 60-node simulated DHT: it completes with correct data while
//! the flood goes on, the routing table keeps the nodes it had, and the session's
//! [`Footprint`], read after every step, stays under its DHT's limits: the routing table
//! under 160 buckets of K nodes, the announce store under its `max_peers`, the rate limiter's
//! table under `max_tracked` (which the flood fills), the DHT's queues under their caps.

use std::net::SocketAddr;
use std::time::Duration;

use sanstorrent_core::dht::{Config, Dht, K, MAX_QUEUED_EVENTS, MAX_QUEUED_TRANSMITS, StoreLimits};
use sanstorrent_core::magnet::MagnetLink;
use sanstorrent_core::rng::Rng;
use sanstorrent_core::session::{Footprint, SessionConfig, TorrentOptions, TorrentSource};
use sanstorrent_tests::sim::{DhtFlood, DhtNode, LinkConfig, Sim, TestTorrent};

const DHT_NODES: usize = 60;
const HOSTILE: usize = 5_000;
/// Queries each hostile endpoint sends, one every [`EVERY`]: 25,000 a second together, for
/// 12 s.
const QUERIES: u64 = 60;
const EVERY: Duration = Duration::from_millis(200);
/// When the magnet is added, after the flood started: the rate limiter's table is full.
const ASK_AFTER: Duration = Duration::from_secs(4);

#[test]
fn a_magnet_is_fetched_through_the_dht_while_thousands_flood_it() {
    let seed = 5;
    let mut sim = Sim::new(seed, LinkConfig::default());
    let mut rng = Rng::new(seed ^ 0xf100d);
    for i in 0..DHT_NODES {
        let d = Dht::new(Config::default(), sim.now, seed * 1000 + i as u64);
        sim.add_agent(Box::new(DhtNode::new(d)));
    }
    for i in 1..DHT_NODES {
        sim.run_for(Duration::from_millis(10), 5_000_000)
            .expect("join");
        let routers: Vec<SocketAddr> = (0..3).map(|_| Sim::addr_of(rng.index(i))).collect();
        sim.with_agent::<DhtNode>(i, |n, now| n.dht.bootstrap(now, &routers));
    }
    sim.run_for(Duration::from_secs(20), 5_000_000)
        .expect("the DHT settles");
    let store = StoreLimits {
        max_peers: 500,
        ..StoreLimits::default()
    };
    let config = |rng: &mut Rng| SessionConfig {
        dht: true,
        dht_bootstrap: (0..4).map(|_| Sim::addr_of(rng.index(DHT_NODES))).collect(),
        dht_config: Config {
            store,
            ..Config::default()
        },
        ..SessionConfig::default()
    };
    let t = TestTorrent::single("krpc.bin", 1024 * 1024, 64 * 1024, seed);
    let seeder = sim.add_node(config(&mut rng));
    sim.add_torrent(seeder, &t, true, TorrentOptions::default());
    let fetcher_config = config(&mut rng);
    let fetcher = sim.add_node(fetcher_config.clone());
    sim.run_for(Duration::from_secs(10), 5_000_000)
        .expect("the seeder announces");

    let nodes_of = |s: &Sim| {
        s.nodes[fetcher]
            .session
            .as_ref()
            .map_or(0, |x| x.footprint().dht_nodes)
    };
    let nodes_before = nodes_of(&sim);
    let target = sim.nodes[fetcher].addr;
    let start = sim.now;
    let flood: Vec<usize> = (0..HOSTILE)
        .map(|i| {
            let at = start + EVERY * (i as u32) / HOSTILE as u32;
            let f = DhtFlood::new(target, QUERIES, at, seed * 100_000 + i as u64).every(EVERY);
            sim.add_agent(Box::new(f))
        })
        .collect();
    let mut peak = Footprint::default();
    let mut watch = |s: &Sim| {
        if let Some(session) = s.nodes[fetcher].session.as_ref() {
            peak = peak.max(session.footprint());
        }
    };
    sim.run_until(
        |s| {
            watch(s);
            s.now - start >= ASK_AFTER
        },
        50_000_000,
    )
    .expect("the flood takes hold");
    let magnet = MagnetLink::new(t.meta.info_hash());
    let id = sim.add_source(
        fetcher,
        TorrentSource::Magnet(magnet),
        None,
        TorrentOptions::default(),
    );
    let asked = sim.now;
    let done = |s: &Sim| {
        flood
            .iter()
            .all(|&n| s.nodes[n].agent::<DhtFlood>().sent == QUERIES)
    };
    let mut completed_in_flood = None;
    sim.run_until(
        |s| {
            watch(s);
            if completed_in_flood.is_none() && s.is_complete(fetcher, id) {
                completed_in_flood = Some((s.now - asked, !done(s)));
            }
            (done(s) && s.is_complete(fetcher, id)) || s.now - asked > Duration::from_secs(120)
        },
        100_000_000,
    )
    .expect("the simulation runs");
    let (took, flooding) = completed_in_flood.expect("the magnet completes");
    let nodes_after = nodes_of(&sim);
    let sent: u64 = flood
        .iter()
        .map(|&n| sim.nodes[n].agent::<DhtFlood>().sent)
        .sum();
    let answers: u64 = flood
        .iter()
        .map(|&n| sim.nodes[n].agent::<DhtFlood>().answers)
        .sum();
    let announces: u64 = flood
        .iter()
        .map(|&n| sim.nodes[n].agent::<DhtFlood>().announces)
        .sum();
    eprintln!(
        "krpc_flood: {HOSTILE} hostile endpoints sent {sent} queries ({announces} announces \
         with a token), {answers} answered; magnet complete after {took:?} (flood still on: \
         {flooding}); routing table {nodes_before} nodes before, {nodes_after} after; the \
         fetcher's peak footprint: {peak:?}"
    );
    assert!(sim.has_content(fetcher, id, &t), "wrong bytes");
    assert!(
        flooding,
        "the flood ended before the magnet completed: nothing was tested"
    );
    let dht = &fetcher_config.dht_config;
    assert_eq!(
        peak.dht_rate_tracked, dht.rate_limit.max_tracked,
        "the flood did not fill the rate limiter's table, or overfilled it"
    );
    assert!(peak.dht_nodes <= 160 * K, "{peak:?}");
    assert!(
        nodes_after >= nodes_before,
        "the flood pushed good nodes out: {nodes_before} before, {nodes_after} after"
    );
    assert!(peak.dht_stored_peers <= store.max_peers, "{peak:?}");
    assert!(
        announces > store.max_peers as u64,
        "too few announces to test the store"
    );
    assert!(
        peak.dht_queued <= dht.max_in_flight + MAX_QUEUED_TRANSMITS + MAX_QUEUED_EVENTS,
        "{peak:?}"
    );
    assert!(
        answers < sent / 2,
        "{answers} of {sent} flood queries answered: the rate limits did not hold"
    );
    assert!(
        peak.connections <= fetcher_config.max_connections,
        "{peak:?}"
    );
    sim.print_summary("krpc_flood");
}
