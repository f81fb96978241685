//! A magnet link with nothing but an info-hash: a 300-node simulated DHT (core `Dht`
//! participants) is the only way to peers. Three seeders run DHT nodes and announce the torrent;
//! the leecher's DHT lookup finds them, it fetches the info dictionary (two ut_metadata pieces)
//! over the connections, and downloads the data.

use std::net::SocketAddr;
use std::time::Duration;

use sanstorrent_core::dht::{Config, Dht};
use sanstorrent_core::magnet::MagnetLink;
use sanstorrent_core::rng::Rng;
use sanstorrent_core::session::{Event, SessionConfig, TorrentOptions, TorrentSource};
use sanstorrent_tests::sim::{DhtNode, LinkConfig, Sim, Summary, TestTorrent, sweep};

const DHT_NODES: usize = 300;

fn scenario(seed: u64) -> Summary {
    let link = LinkConfig {
        latency: Duration::from_millis(10),
        jitter: Duration::from_millis(40),
        loss: 0.01,
        ..LinkConfig::default()
    };
    let mut sim = Sim::new(seed, link);
    let mut rng = Rng::new(seed ^ 0xd47);
    for i in 0..DHT_NODES {
        let d = Dht::new(
            Config::default(),
            sim.now,
            seed.wrapping_mul(1000) + i as u64,
        );
        sim.add_agent(Box::new(DhtNode::new(d)));
    }
    for i in 1..DHT_NODES {
        sim.run_for(Duration::from_millis(10), 5_000_000)
            .expect("join");
        let routers: Vec<SocketAddr> = (0..3).map(|_| Sim::addr_of(rng.index(i))).collect();
        sim.with_agent::<DhtNode>(i, |n, now| n.dht.bootstrap(now, &routers));
    }
    sim.run_for(Duration::from_secs(20), 5_000_000)
        .expect("DHT settles");
    let dht_config = |rng: &mut Rng| SessionConfig {
        dht: true,
        dht_bootstrap: (0..4).map(|_| Sim::addr_of(rng.index(DHT_NODES))).collect(),
        ..SessionConfig::default()
    };
    // 900 pieces: the info dictionary is 18 KB, two ut_metadata pieces.
    let t = TestTorrent::single("magnet.bin", 900 * 16 * 1024, 16 * 1024, seed);
    let mut seeders = Vec::new();
    for _ in 0..3 {
        let n = sim.add_node(dht_config(&mut rng));
        sim.add_torrent(n, &t, true, TorrentOptions::default());
        seeders.push(n);
    }
    sim.run_for(Duration::from_secs(10), 5_000_000)
        .expect("seeders announce");
    let leecher = sim.add_node(dht_config(&mut rng));
    let magnet = MagnetLink::new(t.meta.info_hash());
    let id = sim.add_source(
        leecher,
        TorrentSource::Magnet(magnet),
        None,
        TorrentOptions::default(),
    );
    let start = sim.elapsed();
    sim.run_until(|s| s.is_complete(leecher, id), 5_000_000)
        .expect("the magnet download completes");
    assert!(sim.has_content(leecher, id, &t), "seed {seed}: wrong bytes");
    let events = &sim.nodes[leecher].events;
    let at = |f: &dyn Fn(&Event) -> bool| {
        events
            .iter()
            .find(|(_, e)| f(e))
            .map(|(at, _)| *at - sim.epoch - start)
    };
    let metadata = at(&|e| matches!(e, Event::MetadataReceived { .. }))
        .unwrap_or_else(|| panic!("seed {seed}: no MetadataReceived"));
    let seeder_ips: Vec<_> = seeders.iter().map(|&n| sim.nodes[n].addr.ip()).collect();
    let met = seeder_ips
        .iter()
        .filter(|ip| {
            events
                .iter()
                .any(|(_, e)| matches!(e, Event::PeerConnected { addr, .. } if addr.ip() == **ip))
        })
        .count();
    eprintln!(
        "magnet_dht: seed {seed}: metadata after {metadata:?}, complete after {:?}, met {met} of \
         3 seeders through the DHT",
        sim.elapsed() - start
    );
    assert!(met >= 2, "seed {seed}: the DHT led to {met} seeders");
    sim.print_summary("magnet_dht")
}

#[test]
fn magnet_metadata_and_data_with_peers_only_from_the_dht() {
    sweep("magnet_dht", 1, 1, scenario);
}
