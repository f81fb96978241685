//! PEX spreads peer addresses across a swarm whose tracker returns only one peer per announce:
//! a seeder and 12 leechers arriving a second apart. Through `ut_pex` every leecher hears of
//! others and connects to several; the same swarm on a private torrent (no PEX, BEP 27) is the
//! control, where a leecher only meets the peer the tracker named and those that dialled it.

use std::collections::BTreeSet;
use std::net::IpAddr;
use std::time::Duration;

use sanstorrent_core::session::{Event, SessionConfig, TorrentId, TorrentOptions};
use sanstorrent_tests::sim::{LinkConfig, Sim, SimTracker, Summary, TestTorrent, sweep};

const LEECHERS: usize = 12;

struct Outcome {
    /// Mean distinct peers (by IP) each leecher connected to.
    mean_degree: f64,
    /// Leechers that received at least one PEX message.
    heard_pex: usize,
    summary: Summary,
}

fn run(seed: u64, private: bool) -> Outcome {
    let mut sim = Sim::new(
        seed,
        LinkConfig::new(Duration::from_millis(20), 1024 * 1024),
    );
    let mut tracker = SimTracker::new(seed);
    tracker.max_peers = 1;
    tracker.interval = Duration::from_secs(1800);
    let tracker = sim.add_agent(Box::new(tracker));
    let url = format!("http://{}/announce", sim.nodes[tracker].addr.ip());
    let (len, plen) = (2 * 1024 * 1024, 64 * 1024);
    let t = if private {
        TestTorrent::with_trackers_private("pex.bin", len, plen, seed, &[&url])
    } else {
        TestTorrent::with_trackers("pex.bin", len, plen, seed, &[&url])
    };
    let seeder = sim.add_node_with(
        SessionConfig::default(),
        LinkConfig::new(Duration::from_millis(20), 128 * 1024),
    );
    sim.add_torrent(seeder, &t, true, TorrentOptions::default());
    let mut leechers: Vec<(usize, TorrentId)> = Vec::new();
    for _ in 0..LEECHERS {
        sim.run_for(Duration::from_secs(1), 1_000_000)
            .expect("arrival");
        let n = sim.add_node(SessionConfig::default());
        let id = sim.add_torrent(n, &t, false, TorrentOptions::default());
        leechers.push((n, id));
    }
    sim.run_until(
        |s| leechers.iter().all(|&(n, id)| s.is_complete(n, id)),
        2_000_000,
    )
    .expect("every leecher completes");
    for &(n, id) in &leechers {
        assert!(
            sim.has_content(n, id, &t),
            "seed {seed}: leecher {n} has wrong bytes"
        );
    }
    let degree = |n: usize| {
        sim.nodes[n]
            .events
            .iter()
            .filter_map(|(_, e)| match e {
                Event::PeerConnected { addr, .. } => Some(addr.ip()),
                _ => None,
            })
            .collect::<BTreeSet<IpAddr>>()
            .len()
    };
    let mean_degree =
        leechers.iter().map(|&(n, _)| degree(n) as f64).sum::<f64>() / LEECHERS as f64;
    let heard_pex = leechers
        .iter()
        .filter(|&&(n, _)| sim.saw(n, |e| matches!(e, Event::PexPeers { .. })))
        .count();
    let name = if private {
        "pex_swarm (private control)"
    } else {
        "pex_swarm"
    };
    eprintln!(
        "{name}: seed {seed}: mean {mean_degree:.1} distinct peers per leecher, {heard_pex} \
         leechers heard PEX, done at {:?}",
        sim.elapsed()
    );
    let summary = sim.print_summary(name);
    Outcome {
        mean_degree,
        heard_pex,
        summary,
    }
}

#[test]
fn pex_spreads_addresses_when_the_tracker_gives_one_peer() {
    let control = run(1, true);
    assert_eq!(control.heard_pex, 0, "a private torrent used PEX");
    sweep("pex_swarm", 1, 2, |seed| {
        let o = run(seed, false);
        // The last arrivals may finish, dialled by everyone who heard of them, before their
        // own first PEX message (about a minute after connecting).
        assert!(
            o.heard_pex * 2 >= LEECHERS,
            "seed {seed}: only {} leechers heard PEX",
            o.heard_pex
        );
        assert!(
            o.mean_degree >= 2.0 * control.mean_degree && o.mean_degree >= 5.0,
            "seed {seed}: PEX leechers met {:.1} peers each, the control {:.1}",
            o.mean_degree,
            control.mean_degree
        );
        o.summary
    });
}
