//! Peers that send corrupt blocks: three scripted peers claim every piece and answer every
//! request fast, with one byte of each block flipped; one honest seeder is slower. Pieces fail
//! their hash, the corrupt peers are banned (and never dialled again), the honest seeder is
//! not, and the download completes with the right bytes.

use std::time::Duration;

use sanstorrent_core::session::{Event, PeerCloseReason, SessionConfig, TorrentOptions};
use sanstorrent_tests::sim::{
    Behaviour, LinkConfig, ScriptedPeer, Sim, Summary, TestTorrent, sweep,
};

fn scenario(seed: u64) -> Summary {
    let mut sim = Sim::new(seed, LinkConfig::default());
    let t = TestTorrent::single("corrupt.bin", 1024 * 1024, 64 * 1024, seed);
    let honest = sim.add_node_with(
        SessionConfig::default(),
        LinkConfig::new(Duration::from_millis(30), 512 * 1024),
    );
    sim.add_torrent(honest, &t, true, TorrentOptions::default());
    let mut bad = Vec::new();
    for k in 0..3 {
        let peer = ScriptedPeer::new(&t, Behaviour::Corrupt, seed * 10 + k);
        let n = sim.add_agent(Box::new(peer));
        sim.net.set_link(
            n,
            LinkConfig::new(Duration::from_millis(5), 4 * 1024 * 1024),
        );
        bad.push(n);
    }
    let leecher = sim.add_node(SessionConfig::default());
    let id = sim.add_torrent(leecher, &t, false, TorrentOptions::default());
    let mut peers: Vec<_> = bad.iter().map(|&n| sim.nodes[n].addr).collect();
    peers.push(sim.nodes[honest].addr);
    sim.add_peers(leecher, id, &peers);
    sim.run_until(|s| s.is_complete(leecher, id), 500_000)
        .expect("the download completes despite corrupt peers");
    assert!(sim.has_content(leecher, id, &t), "seed {seed}: wrong bytes");
    // Let reconnect timers run: a banned peer must not be dialled again.
    sim.run_for(Duration::from_secs(120), 500_000)
        .expect("idle time");

    let failed = sim.nodes[leecher]
        .events
        .iter()
        .filter(|(_, e)| matches!(e, Event::PieceFailed { .. }))
        .count();
    let banned = |addr| {
        sim.saw(leecher, |e| {
            matches!(e, Event::PeerClosed { addr: a, reason: PeerCloseReason::Banned | PeerCloseReason::SmartBanned, .. }
                if a.ip() == addr)
        })
    };
    for &n in &bad {
        let ip = sim.nodes[n].addr.ip();
        assert!(banned(ip), "seed {seed}: corrupt peer {n} was not banned");
        let p = sim.nodes[n].agent::<ScriptedPeer>();
        assert!(
            p.accepted <= 2,
            "seed {seed}: corrupt peer {n} was dialled {} times",
            p.accepted
        );
    }
    let honest_ip = sim.nodes[honest].addr.ip();
    assert!(
        !banned(honest_ip),
        "seed {seed}: the honest seeder was banned"
    );
    let stats = sim.nodes[leecher]
        .session()
        .torrent_stats(id)
        .expect("torrent");
    eprintln!(
        "faults_corrupt: seed {seed}: {failed} pieces failed, {} hash failures counted",
        stats.hash_failures
    );
    assert!(
        failed > 0,
        "seed {seed}: no piece failed: the corrupt peers were not used"
    );
    sim.print_summary("faults_corrupt")
}

#[test]
fn corrupt_peers_are_banned_and_the_download_completes() {
    sweep("faults_corrupt", 1, 3, scenario);
}
