//! BEP 6 allowed-fast pieces: a seeder that never unchokes anyone still grants each starting
//! peer its allowed-fast set, and the leecher downloads only pieces of that set while choked:
//! as many as make it a trading peer (`PickerConfig::starting_pieces`), or the whole set when
//! told to.

use std::collections::BTreeSet;
use std::time::Duration;

use sanstorrent_core::session::{SessionConfig, TorrentOptions};
use sanstorrent_tests::sim::{LinkConfig, Sim, TestTorrent};

/// A leecher whose picker starts `starting_pieces` pieces with allowed-fast requests, and a
/// seeder with no upload slots: the pieces the leecher verified in 30 s, and the seeder's
/// allowed-fast set for it.
fn choked_leecher(starting_pieces: u32) -> (BTreeSet<u32>, BTreeSet<u32>) {
    let mut sim = Sim::new(5, LinkConfig::default());
    let t = TestTorrent::single("data.bin", 64 * 32 * 1024, 32 * 1024, 3);
    let mut stingy = SessionConfig::default();
    stingy.choker.upload_slots = 0;
    stingy.choker.optimistic_slots = 0;
    let seeder = sim.add_node(stingy);
    let mut config = SessionConfig::default();
    config.picker.starting_pieces = starting_pieces;
    let leecher = sim.add_node(config);
    sim.add_torrent(seeder, &t, true, TorrentOptions::default());
    let tl = sim.add_torrent(leecher, &t, false, TorrentOptions::default());
    let seeder_addr = sim.nodes[seeder].addr;
    sim.add_peers(leecher, tl, &[seeder_addr]);
    let std::net::IpAddr::V4(ip) = sim.nodes[leecher].addr.ip() else {
        panic!("simulated hosts are IPv4");
    };
    let granted = sanstorrent_core::wire::allowed_fast_set(ip, &t.meta.info_hash(), 64, 10)
        .into_iter()
        .collect();
    sim.run_for(Duration::from_secs(30), 200_000)
        .expect("the simulation runs");
    assert!(!sim.is_complete(leecher, tl));
    (
        sim.nodes[leecher].verified(tl).into_iter().collect(),
        granted,
    )
}

#[test]
fn a_choked_leecher_downloads_its_allowed_fast_pieces() {
    let (got, granted) = choked_leecher(64);
    assert_eq!(granted.len(), 10);
    assert_eq!(got, granted, "the whole set, while choked");
}

#[test]
fn a_choked_leecher_takes_only_what_gets_it_started() {
    let (got, granted) = choked_leecher(2);
    assert_eq!(got.len(), 2, "{got:?}");
    assert!(got.is_subset(&granted), "{got:?} {granted:?}");
}
