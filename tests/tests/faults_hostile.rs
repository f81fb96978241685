//! Hostile peers around one leecher: scripted peers that send garbage after the handshake,
//! announce a 2 GiB message, never unchoke, stall mid-piece (slowloris), claim pieces they do
//! not have (never answer), and disconnect after a few blocks; the honest seeder's link resets
//! connections at random. The leecher closes the protocol violators at once, does not stall on
//! the others, and completes with the right bytes.

use std::time::Duration;

use sanstorrent_core::session::{Event, PeerCloseReason, SessionConfig, TorrentOptions};
use sanstorrent_tests::sim::{
    Behaviour, LinkConfig, ScriptedPeer, Sim, Summary, TestTorrent, sweep,
};

const HOSTILE: [Behaviour; 6] = [
    Behaviour::Garbage,
    Behaviour::Oversized,
    Behaviour::NeverUnchoke,
    Behaviour::Slowloris(2),
    Behaviour::Liar,
    Behaviour::Flaky(3),
];

fn scenario(seed: u64) -> Summary {
    let mut sim = Sim::new(seed, LinkConfig::default());
    let t = TestTorrent::single("hostile.bin", 1024 * 1024, 64 * 1024, seed);
    let honest = sim.add_node_with(
        SessionConfig::default(),
        LinkConfig {
            reset: 0.01,
            ..LinkConfig::new(Duration::from_millis(40), 256 * 1024)
        },
    );
    sim.add_torrent(honest, &t, true, TorrentOptions::default());
    let mut hostile = Vec::new();
    for (k, b) in HOSTILE.iter().enumerate() {
        let n = sim.add_agent(Box::new(ScriptedPeer::new(&t, *b, seed * 100 + k as u64)));
        sim.net.set_link(
            n,
            LinkConfig::new(Duration::from_millis(5), 8 * 1024 * 1024),
        );
        hostile.push((n, *b));
    }
    let leecher = sim.add_node(SessionConfig::default());
    let id = sim.add_torrent(leecher, &t, false, TorrentOptions::default());
    let mut peers: Vec<_> = hostile.iter().map(|&(n, _)| sim.nodes[n].addr).collect();
    peers.push(sim.nodes[honest].addr);
    sim.add_peers(leecher, id, &peers);
    // The honest link alone takes ~4 s; requests held by the liar and the slowloris peer come
    // back after the 20 s request timeout, resets cost a 10 s reconnect backoff (measured:
    // 24-34 s).
    sim.run_until(|s| s.is_complete(leecher, id), 1_000_000)
        .expect("the download completes despite hostile peers");
    let took = sim.elapsed();
    assert!(sim.has_content(leecher, id, &t), "seed {seed}: wrong bytes");
    assert!(
        took < Duration::from_secs(60),
        "seed {seed}: hostile peers stalled the download for {took:?}"
    );
    let closed_for = |ip| {
        sim.nodes[leecher]
            .events
            .iter()
            .filter_map(|(at, e)| match e {
                Event::PeerClosed { addr, reason, .. } if addr.ip() == ip => {
                    Some((*at - sim.epoch, reason.clone()))
                }
                _ => None,
            })
            .collect::<Vec<_>>()
    };
    for &(n, b) in &hostile {
        let ip = sim.nodes[n].addr.ip();
        let closes = closed_for(ip);
        let p = sim.nodes[n].agent::<ScriptedPeer>();
        eprintln!(
            "faults_hostile: seed {seed}: {b:?}: accepted {} requests {} blocks {}; closes {:?}",
            p.accepted,
            p.requests,
            p.blocks_sent,
            closes
                .iter()
                .map(|(at, r)| format!("{at:.1?} {r}"))
                .collect::<Vec<_>>()
        );
        if matches!(b, Behaviour::Garbage | Behaviour::Oversized) {
            let first = closes
                .first()
                .unwrap_or_else(|| panic!("seed {seed}: the {b:?} peer was never closed"));
            assert!(
                matches!(first.1, PeerCloseReason::Wire(_)),
                "seed {seed}: {b:?} closed for {:?}, not a protocol error",
                first.1
            );
            assert!(
                p.accepted <= 3,
                "seed {seed}: the {b:?} peer was dialled {} times",
                p.accepted
            );
            assert!(
                first.0 < Duration::from_secs(1),
                "seed {seed}: {b:?} closed only at {:?}",
                first.0
            );
        }
    }
    sim.print_summary("faults_hostile")
}

#[test]
fn hostile_peers_do_not_stop_the_download() {
    sweep("faults_hostile", 1, 3, scenario);
}
