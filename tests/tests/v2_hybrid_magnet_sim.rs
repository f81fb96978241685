//! A hybrid torrent (BEP 52) fetched from a `urn:btmh:`-only magnet link in the simulator: the
//! info dictionary is checked against the v2 hash the link names and brings the v1 hash the
//! link lacked (no `WrongInfoHash`), the pieces are checked by their SHA-1 hashes, and the
//! finished leecher then answers to both hashes: a v1-only peer, whose `btih` magnet names the
//! v1 hash only, fetches the torrent from it. Files: one of several pieces, one smaller than a
//! piece (padded), an empty one.

use sanstorrent_core::magnet::{MagnetLink, PeerAddress};
use sanstorrent_core::session::{Event, SessionConfig, TorrentOptions, TorrentSource};
use sanstorrent_tests::sim::{LinkConfig, Sim, TestTorrent};

const PIECE: u32 = 16 * 1024;
const FILES: &[(&str, u64)] = &[
    ("a.bin", 5 * PIECE as u64 + 300),
    ("d/empty", 0),
    ("d/small", 1_000),
];

fn run(seed: u64) -> u64 {
    let mut sim = Sim::new(seed, LinkConfig::default());
    let t = TestTorrent::hybrid("hy", FILES, PIECE, seed);
    let hashes = t.meta.info_hashes();
    let (v1, v2) = (hashes.v1.expect("v1 hash"), hashes.v2.expect("v2 hash"));
    let seeder = sim.add_node(SessionConfig::default());
    sim.add_torrent(seeder, &t, true, TorrentOptions::default());

    let leecher = sim.add_node(SessionConfig::default());
    let mut btmh = MagnetLink::parse(&format!("magnet:?xt=urn:btmh:1220{}", v2.to_hex()))
        .expect("btmh magnet");
    assert!(btmh.info_hashes().is_v2_only());
    btmh.peers = vec![PeerAddress::Ip(sim.nodes[seeder].addr)];
    let id = sim.add_source(
        leecher,
        TorrentSource::Magnet(btmh),
        None,
        TorrentOptions::default(),
    );
    sim.run_until(|s| s.is_complete(leecher, id), 500_000)
        .expect("the btmh magnet of a hybrid completes");
    assert!(sim.has_content(leecher, id, &t), "seed {seed}: wrong bytes");
    assert!(sim.saw(leecher, |e| matches!(e, Event::MetadataReceived { .. })));
    assert!(!sim.saw(leecher, |e| matches!(e, Event::PieceFailed { .. })));
    let stats = sim.nodes[leecher]
        .session()
        .torrent_stats(id)
        .expect("stats");
    assert_eq!(stats.info_hash_v2, Some(v2));

    // A v1-only peer names the hybrid by its v1 hash, which the leecher learned.
    let v1_peer = sim.add_node(SessionConfig::default());
    let mut btih =
        MagnetLink::parse(&format!("magnet:?xt=urn:btih:{}", v1.to_hex())).expect("btih magnet");
    btih.peers = vec![PeerAddress::Ip(sim.nodes[leecher].addr)];
    let id1 = sim.add_source(
        v1_peer,
        TorrentSource::Magnet(btih),
        None,
        TorrentOptions::default(),
    );
    sim.run_until(|s| s.is_complete(v1_peer, id1), 500_000)
        .expect("a v1 peer fetches the hybrid from the btmh leecher");
    assert!(
        sim.has_content(v1_peer, id1, &t),
        "seed {seed}: wrong bytes (v1 peer)"
    );
    eprintln!(
        "v2_hybrid_magnet seed {seed}: both complete at {:?} virtual, {} steps",
        sim.elapsed(),
        sim.steps
    );
    sim.log_hash()
}

#[test]
fn a_btmh_magnet_of_a_hybrid_downloads_and_then_answers_to_both_hashes() {
    let first = run(5);
    assert_eq!(first, run(5), "same seed, same run");
    run(6);
}
