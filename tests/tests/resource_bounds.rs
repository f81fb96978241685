//! Resource bounds under floods: what a node keeps stays under its configured limits.
//! - connections: ten hosts open 500 connections to a seeder (each handshakes, then idles);
//!   its open sockets and peers stay under `max_connections`, and a leecher that was already
//!   downloading completes;
//! - DHT queries: twenty hosts send 40,000 `get_peers` and token-carrying `announce_peer`
//!   queries to a DHT node; its peer store stays under its limits, its routing table under
//!   160 buckets of K nodes, and the rate limiter drops the excess;
//! - tracked peers: a tracker hands out 200 peers per announce from a swarm of 5,000
//!   addresses; the torrent remembers at most `max_candidates_per_torrent` and dials at most
//!   `max_half_open` at once. (PEX floods wait for PEX in the session.)

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Duration;

use sanstorrent_core::dht::{Config, Dht, K, StoreLimits};
use sanstorrent_core::session::{SessionConfig, TorrentOptions};
use sanstorrent_tests::sim::{
    ConnFlood, DhtFlood, DhtNode, LinkConfig, Sim, SimTracker, TestTorrent,
};

#[test]
fn connection_flood_stays_under_the_connection_limits() {
    let seed = 1;
    let mut sim = Sim::new(seed, LinkConfig::default());
    let t = TestTorrent::single("flood.bin", 4 * 1024 * 1024, 64 * 1024, seed);
    let config = SessionConfig {
        max_connections: 40,
        max_connections_per_torrent: 30,
        max_pending_inbound: 5,
        max_connections_per_ip: 4,
        ..SessionConfig::default()
    };
    let victim = sim.add_node_with(
        config,
        LinkConfig::new(Duration::from_millis(20), 256 * 1024),
    );
    sim.add_torrent(victim, &t, true, TorrentOptions::default());
    let leecher = sim.add_node(SessionConfig::default());
    let id = sim.add_torrent(leecher, &t, false, TorrentOptions::default());
    let addr = sim.nodes[victim].addr;
    sim.add_peers(leecher, id, &[addr]);
    sim.run_for(Duration::from_secs(1), 100_000)
        .expect("leecher starts");
    let start = sim.now;
    let mut flooders = Vec::new();
    for k in 0..10 {
        let f = ConnFlood::new(addr, t.meta.info_hash(), 50, start, seed * 100 + k);
        flooders.push(sim.add_agent(Box::new(f)));
    }
    let (mut max_sockets, mut max_peers) = (0, 0);
    sim.run_until(
        |s| {
            max_sockets = max_sockets.max(s.net.ends_of(victim));
            if let Some(st) = s.nodes[victim]
                .session
                .as_ref()
                .and_then(|x| x.torrent_stats(sanstorrent_core::session::TorrentId(1)))
            {
                max_peers = max_peers.max(st.peers_connected + st.peers_connecting);
            }
            s.is_complete(leecher, id)
        },
        2_000_000,
    )
    .expect("the leecher completes during the flood");
    assert!(sim.has_content(leecher, id, &t));
    let attempted: u64 = flooders
        .iter()
        .map(|&n| sim.nodes[n].agent::<ConnFlood>().attempted)
        .sum();
    let established: u64 = flooders
        .iter()
        .map(|&n| sim.nodes[n].agent::<ConnFlood>().established)
        .sum();
    eprintln!(
        "resource_bounds (connections): {attempted} connects, {established} accepted at TCP \
         level; victim peak {max_sockets} sockets, {max_peers} peers; leecher done at {:?}",
        sim.elapsed()
    );
    assert_eq!(attempted, 500);
    assert!(
        max_sockets <= 40,
        "{max_sockets} sockets open at once (limit 40)"
    );
    assert!(
        max_peers <= 30,
        "{max_peers} peers on the torrent (limit 30)"
    );
    sim.print_summary("resource_bounds (connections)");
}

#[test]
fn dht_query_flood_stays_under_the_store_limits() {
    let seed = 1;
    let mut sim = Sim::new(seed, LinkConfig::default());
    let limits = StoreLimits {
        max_torrents: 50,
        max_peers_per_torrent: 10,
        max_peers: 200,
        ..StoreLimits::default()
    };
    let config = Config {
        store: limits,
        ..Config::default()
    };
    let node = DhtNode::new(Dht::new(config, sim.now, seed));
    let target = sim.add_agent(Box::new(node));
    let addr = sim.nodes[target].addr;
    let mut flooders = Vec::new();
    for k in 0..20 {
        let f = DhtFlood::new(addr, 2_000, sim.now, seed * 1000 + k);
        flooders.push(sim.add_agent(Box::new(f)));
    }
    let (mut max_stored, mut max_torrents, mut max_table, mut max_heap) = (0, 0, 0, 0);
    sim.run_until(
        |s| {
            let d = &s.nodes[target].agent::<DhtNode>().dht;
            max_stored = max_stored.max(d.peer_store().len());
            max_torrents = max_torrents.max(d.peer_store().torrents());
            max_table = max_table.max(d.routing_table().len());
            max_heap = max_heap.max(d.peer_store().approx_heap_bytes());
            flooders
                .iter()
                .all(|&n| s.nodes[n].agent::<DhtFlood>().sent == 2_000)
        },
        2_000_000,
    )
    .expect("the flood runs");
    sim.run_for(Duration::from_secs(5), 2_000_000)
        .expect("drain");
    let sent: u64 = flooders
        .iter()
        .map(|&n| sim.nodes[n].agent::<DhtFlood>().sent)
        .sum();
    let announces: u64 = flooders
        .iter()
        .map(|&n| sim.nodes[n].agent::<DhtFlood>().announces)
        .sum();
    let stats = sim.nodes[target].agent::<DhtNode>().dht.stats();
    eprintln!(
        "resource_bounds (dht): {sent} queries ({announces} token-carrying announces); \
         answered {}, rate-limited {}; peak store {max_stored} peers / {max_torrents} \
         torrents / ~{max_heap} bytes, routing table {max_table} nodes",
        stats.queries_answered, stats.rate_limited
    );
    assert!(
        announces > 200,
        "the flood announced too little to test the limits"
    );
    assert!(max_stored <= limits.max_peers, "{max_stored} peers stored");
    assert!(
        max_torrents <= limits.max_torrents,
        "{max_torrents} torrents stored"
    );
    assert!(max_table <= 160 * K, "routing table of {max_table} nodes");
    assert!(
        stats.rate_limited > 0,
        "the rate limiter never dropped a query"
    );
    sim.print_summary("resource_bounds (dht)");
}

#[test]
fn tracker_peer_flood_stays_under_the_candidate_limit() {
    let seed = 1;
    let mut sim = Sim::new(seed, LinkConfig::default());
    let mut tracker = SimTracker::new(seed);
    tracker.max_peers = 200;
    tracker.interval = Duration::from_secs(30);
    let tracker = sim.add_agent(Box::new(tracker));
    let tip = sim.nodes[tracker].addr.ip();
    let url = format!("http://{tip}/announce");
    let t = TestTorrent::with_trackers("many.bin", 256 * 1024, 32 * 1024, seed, &[&url]);
    let hash = t.meta.info_hash();
    sim.with_agent::<SimTracker>(tracker, |tr, _| {
        let swarm = tr.swarms.entry(hash).or_default();
        for k in 0..5_000u32 {
            let ip = IpAddr::V4(Ipv4Addr::from(0x0b00_0000 + k));
            swarm.insert(SocketAddr::new(ip, 6881), 1);
        }
    });
    let config = SessionConfig {
        max_candidates_per_torrent: 100,
        max_half_open: 8,
        ..SessionConfig::default()
    };
    let leecher = sim.add_node(config);
    let id = sim.add_torrent(leecher, &t, false, TorrentOptions::default());
    let (mut max_known, mut max_connecting) = (0, 0);
    let until = sim.now + Duration::from_secs(300);
    sim.net.schedule_wake(until);
    sim.run_until(
        |s| {
            if let Some(st) = s.nodes[leecher]
                .session
                .as_ref()
                .and_then(|x| x.torrent_stats(id))
            {
                max_known = max_known.max(st.peers_known);
                max_connecting = max_connecting.max(st.peers_connecting);
            }
            s.now >= until
        },
        2_000_000,
    )
    .expect("five minutes of announces");
    let announces = sim.nodes[tracker].agent::<SimTracker>().announces;
    eprintln!(
        "resource_bounds (tracked peers): {announces} announces of 200 peers each; peak \
         {max_known} known, {max_connecting} connecting; {} connects tried",
        sim.net.stats.connects
    );
    assert!(announces >= 2, "only {announces} announces");
    assert!(max_known <= 100, "{max_known} peers known (limit 100)");
    assert!(max_connecting <= 8, "{max_connecting} connecting (limit 8)");
    assert!(
        max_known > 50,
        "the flood did not fill the candidates ({max_known})"
    );
    sim.print_summary("resource_bounds (tracked peers)");
}
