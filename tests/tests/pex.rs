//! Peer exchange: A knows only B, yet finds C, because B tells A about C over ut_pex. B is the
//! seeder; C and A are leechers. Nobody is ever told its own address, and every node hears of
//! the others about once a minute.

use std::net::SocketAddr;
use std::time::Duration;

use sanstorrent_core::session::{Event, SessionConfig, TorrentId, TorrentOptions};
use sanstorrent_tests::sim::{LinkConfig, Sim, TestTorrent};

fn pex_peers(sim: &Sim, node: usize) -> Vec<(Duration, SocketAddr, Vec<SocketAddr>)> {
    sim.nodes[node]
        .events
        .iter()
        .filter_map(|(at, e)| match e {
            Event::PexPeers { from, peers, .. } => Some((*at - sim.epoch, *from, peers.clone())),
            _ => None,
        })
        .collect()
}

fn connected_at(sim: &Sim, node: usize, addr: SocketAddr) -> Option<Duration> {
    sim.nodes[node].events.iter().find_map(|(at, e)| match e {
        Event::PeerConnected { addr: a, .. } if *a == addr => Some(*at - sim.epoch),
        _ => None,
    })
}

fn run(seed: u64) -> u64 {
    let mut sim = Sim::new(seed, LinkConfig::default());
    let t = TestTorrent::single("pex.bin", 2 * 1024 * 1024, 32 * 1024, 5);
    let b = sim.add_node(SessionConfig::default());
    let c = sim.add_node(SessionConfig::default());
    let a = sim.add_node(SessionConfig::default());
    let (b_addr, c_addr, a_addr) = (sim.nodes[b].addr, sim.nodes[c].addr, sim.nodes[a].addr);
    sim.add_torrent(b, &t, true, TorrentOptions::default());
    let tc = sim.add_torrent(c, &t, false, TorrentOptions::default());
    let ta = sim.add_torrent(a, &t, false, TorrentOptions::default());
    // C knows B and connects first; A only knows B.
    sim.add_peers(c, tc, &[b_addr]);
    sim.run_until(|s| connected_at(s, c, b_addr).is_some(), 10_000)
        .expect("C connects to B");
    sim.add_peers(a, ta, &[b_addr]);
    sim.run_until(|s| connected_at(s, a, c_addr).is_some(), 50_000)
        .expect("A connects to C, which it only heard of through PEX");

    let heard = pex_peers(&sim, a);
    let (first_at, from, peers) = heard.first().expect("A got a ut_pex message").clone();
    assert_eq!(from, b_addr, "B told A");
    assert!(peers.contains(&c_addr), "B told A about C: {peers:?}");
    assert!(
        connected_at(&sim, a, c_addr).expect("connected") >= first_at,
        "A dialled C only after hearing of it"
    );

    // Let both finish and a few PEX rounds pass (one a minute).
    let done = |s: &Sim, n: usize, t: TorrentId| s.is_complete(n, t);
    sim.run_until(|s| done(s, a, ta) && done(s, c, tc), 200_000)
        .expect("both leechers complete");
    let until = sim.epoch + Duration::from_secs(200);
    sim.run_until(|s| s.now >= until, 200_000)
        .expect("time passes");
    for (node, own) in [(a, a_addr), (b, b_addr), (c, c_addr)] {
        for (_, from, peers) in pex_peers(&sim, node) {
            assert!(
                !peers.contains(&own),
                "node {node} was told its own address"
            );
            assert!(!peers.contains(&from), "a peer announced itself");
        }
    }
    for (node, tid) in [(a, ta), (c, tc)] {
        let got = sim.nodes[node].storages[&tid]
            .file_data(0)
            .expect("written");
        assert!(got == t.files[0], "data of node {node} differs");
    }
    sim.log_hash()
}

#[test]
fn a_finds_c_through_pex_from_b() {
    let h1 = run(21);
    assert_eq!(h1, run(21), "same seed, same run");
    run(22);
}
