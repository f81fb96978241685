//! A magnet leecher that got its metadata over ut_metadata serves it to peers that connected
//! while it had none: B connects to A while both only have the magnet; A then fetches the
//! metadata from seeder S and sends B a fresh extended handshake carrying `metadata_size`, so B
//! fetches the metadata from A over the same connection (B is cut off from S), then the data.

use std::time::Duration;

use sanstorrent_core::magnet::{MagnetLink, PeerAddress};
use sanstorrent_core::session::{Event, SessionConfig, TorrentOptions, TorrentSource};
use sanstorrent_tests::sim::{LinkConfig, Sim, TestTorrent};

fn run(seed: u64) -> u64 {
    let mut sim = Sim::new(seed, LinkConfig::default());
    let t = TestTorrent::single("late.bin", 512 * 1024, 32 * 1024, 3);
    let s = sim.add_node(SessionConfig::default());
    let a = sim.add_node(SessionConfig::default());
    let b = sim.add_node(SessionConfig::default());
    let (s_addr, a_addr) = (sim.nodes[s].addr, sim.nodes[a].addr);
    sim.net.partition(&[b], &[s]);
    sim.add_torrent(s, &t, true, TorrentOptions::default());
    let magnet = MagnetLink::new(t.meta.info_hash());
    let ta = sim.add_source(
        a,
        TorrentSource::Magnet(magnet.clone()),
        None,
        TorrentOptions::default(),
    );
    let mut magnet_b = magnet;
    magnet_b.peers = vec![PeerAddress::Ip(a_addr)];
    let tb = sim.add_source(
        b,
        TorrentSource::Magnet(magnet_b),
        None,
        TorrentOptions::default(),
    );
    let connected = |sim: &Sim, n: usize, to| {
        sim.saw(
            n,
            |e| matches!(e, Event::PeerConnected { addr, .. } if *addr == to),
        )
    };
    sim.run_until(|sim| connected(sim, b, a_addr), 10_000)
        .expect("B connects to A");
    assert!(!sim.saw(a, |e| matches!(e, Event::MetadataReceived { .. })));

    // Only now does A learn of the seeder.
    sim.add_peers(a, ta, &[s_addr]);
    let got = |sim: &Sim, n: usize| sim.saw(n, |e| matches!(e, Event::MetadataReceived { .. }));
    sim.run_until(|sim| got(sim, a), 20_000)
        .expect("A fetches the metadata from S");
    let a_at = sim.elapsed();
    sim.run_until(|sim| got(sim, b), 20_000)
        .expect("B fetches the metadata from A over the connection it already had");
    let b_at = sim.elapsed();
    assert!(
        b_at - a_at < Duration::from_secs(5),
        "B got it at once ({a_at:?} then {b_at:?}), not after a reconnect or PEX round"
    );
    let connects = sim.nodes[b]
        .events
        .iter()
        .filter(|(_, e)| matches!(e, Event::PeerConnected { .. }))
        .count();
    assert_eq!(connects, 1, "B's only connection is the one to A");
    sim.run_until(|sim| sim.is_complete(b, tb), 200_000)
        .expect("B downloads the data from A");
    assert!(sim.has_content(b, tb, &t));
    sim.log_hash()
}

#[test]
fn metadata_fetched_by_a_magnet_is_served_to_peers_already_connected() {
    let h = run(3);
    assert_eq!(h, run(3), "same seed, same run");
    run(4);
}
