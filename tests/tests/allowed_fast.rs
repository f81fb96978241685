//! BEP 6 allowed-fast pieces: a seeder that never unchokes anyone still grants each peer its
//! allowed-fast set, and the leecher downloads exactly those pieces (and nothing else) while
//! choked.

use std::time::Duration;

use sanstorrent_core::session::{SessionConfig, TorrentOptions};
use sanstorrent_tests::sim::{LinkConfig, Sim, TestTorrent};

#[test]
fn a_choked_leecher_downloads_its_allowed_fast_pieces() {
    let mut sim = Sim::new(5, LinkConfig::default());
    let t = TestTorrent::single("data.bin", 64 * 32 * 1024, 32 * 1024, 3);
    let mut stingy = SessionConfig::default();
    stingy.choker.upload_slots = 0;
    stingy.choker.optimistic_slots = 0;
    let seeder = sim.add_node(stingy);
    let leecher = sim.add_node(SessionConfig::default());
    sim.add_torrent(seeder, &t, true, TorrentOptions::default());
    let tl = sim.add_torrent(leecher, &t, false, TorrentOptions::default());
    let seeder_addr = sim.nodes[seeder].addr;
    sim.add_peers(leecher, tl, &[seeder_addr]);
    let leecher_ip = sim.nodes[leecher].addr.ip();
    let std::net::IpAddr::V4(ip) = leecher_ip else {
        panic!("simulated hosts are IPv4");
    };
    let granted: std::collections::BTreeSet<u32> =
        sanstorrent_core::wire::allowed_fast_set(ip, &t.meta.info_hash(), 64, 10)
            .into_iter()
            .collect();
    assert!(!granted.is_empty());
    sim.run_for(Duration::from_secs(30), 200_000)
        .expect("the simulation runs");
    let got: std::collections::BTreeSet<u32> =
        sim.nodes[leecher].verified(tl).into_iter().collect();
    assert_eq!(
        got, granted,
        "exactly the allowed-fast pieces, while choked"
    );
    assert!(!sim.is_complete(leecher, tl));
}
