//! One seeder and 30 leechers on mixed links (latency 5–120 ms, 256 KiB/s to 8 MiB/s, jitter,
//! a few connection resets, some slow disks), found through a simulated HTTP tracker reached by
//! name: every leecher finishes with the right bytes; the same seed gives the same event log.
//! The same swarm again with every peer connection over uTP only (`Transport::Utp`): not one
//! stream byte between peers, every leecher finishes.

use std::time::Duration;

use sanstorrent_core::rng::Rng;
use sanstorrent_core::session::{SessionConfig, TorrentOptions, Transport};
use sanstorrent_tests::sim::{DiskModel, LinkConfig, Sim, SimTracker, Summary, TestTorrent, sweep};

const LEECHERS: usize = 30;

fn scenario(seed: u64) -> Summary {
    swarm(seed, Transport::Tcp)
}

fn utp_scenario(seed: u64) -> Summary {
    swarm(seed, Transport::Utp)
}

fn swarm(seed: u64, transport: Transport) -> Summary {
    let config = || SessionConfig {
        transport,
        ..SessionConfig::default()
    };
    let mut sim = Sim::new(seed, LinkConfig::default());
    let mut rng = Rng::new(seed);
    let t = TestTorrent::with_trackers(
        "swarm.bin",
        1024 * 1024 + 777,
        32 * 1024,
        seed,
        &["http://tracker.sim:8080/announce"],
    );
    let tracker = sim.add_agent(Box::new(SimTracker::new(seed)));
    let tracker_ip = sim.nodes[tracker].addr.ip();
    sim.dns.insert("tracker.sim".into(), tracker_ip);
    let seeder = sim.add_node_with(
        config(),
        LinkConfig::new(Duration::from_millis(20), 4 * 1024 * 1024),
    );
    sim.add_torrent(seeder, &t, true, TorrentOptions::default());
    let mut leechers = Vec::new();
    for _ in 0..LEECHERS {
        let bandwidth = [256 * 1024, 1024 * 1024, 8 * 1024 * 1024][rng.index(3)];
        let link = LinkConfig {
            latency: Duration::from_millis(5 + rng.below(115)),
            jitter: Duration::from_millis(rng.below(10)),
            bandwidth,
            reset: if rng.chance(0.2) { 0.001 } else { 0.0 },
            ..LinkConfig::default()
        };
        let n = sim.add_node_with(config(), link);
        if rng.chance(0.2) {
            // A slow disk: 5 ms per job, 2 MiB/s.
            sim.nodes[n].disk = DiskModel {
                latency: Duration::from_millis(5),
                bytes_per_sec: 2 * 1024 * 1024,
            };
        }
        let id = sim.add_torrent(n, &t, false, TorrentOptions::default());
        leechers.push((n, id));
        // Leechers arrive over the first few seconds.
        let gap = Duration::from_millis(rng.below(200));
        sim.run_for(gap, 100_000).expect("arrivals");
    }
    let done = sim.run_until(
        |s| leechers.iter().all(|&(n, id)| s.is_complete(n, id)),
        3_000_000,
    );
    let finished = leechers
        .iter()
        .filter(|&&(n, id)| sim.is_complete(n, id))
        .count();
    done.unwrap_or_else(|e| panic!("{e}: {finished}/{LEECHERS} leechers finished"));
    for &(n, id) in &leechers {
        assert!(
            sim.has_content(n, id, &t),
            "seed {seed}: leecher {n} has wrong bytes"
        );
    }
    let announces = sim.nodes[tracker].agent::<SimTracker>().announces;
    assert!(
        announces > LEECHERS as u64,
        "seed {seed}: {announces} announces"
    );
    if transport == Transport::Utp {
        let peers: Vec<usize> = [seeder]
            .into_iter()
            .chain(leechers.iter().map(|l| l.0))
            .collect();
        let stream: u64 = peers
            .iter()
            .flat_map(|&a| peers.iter().map(move |&b| (a, b)))
            .map(|(a, b)| sim.net.delivered_between(a, b))
            .sum();
        assert_eq!(stream, 0, "seed {seed}: stream bytes between peers");
        let least = (LEECHERS * t.files[0].len() / 1500) as u64;
        let net = sim.net.stats;
        assert!(net.datagrams > least, "seed {seed}: {net:?}");
        eprintln!("seed {seed}: over uTP only, {net:?}");
    }
    let name = if transport == Transport::Utp {
        "swarm_30_utp"
    } else {
        "swarm_30"
    };
    sim.print_summary(name)
}

#[test]
fn thirty_leechers_on_mixed_links_all_finish() {
    sweep("swarm_30", 1, 2, scenario);
}

#[test]
fn thirty_leechers_over_utp_only_all_finish() {
    sweep("swarm_30_utp", 1, 2, utp_scenario);
}
