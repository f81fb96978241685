//! One seeder, one leecher, in the simulation: the leecher downloads everything and its data
//! matches byte for byte; the seeder served it from storage.

use std::time::Instant;

use sanstorrent_core::session::{Event, SessionConfig, TorrentOptions, TorrentPhase};
use sanstorrent_tests::sim::{LinkConfig, Sim, TestTorrent};

#[test]
fn seed_to_leech() {
    let wall = Instant::now();
    let mut sim = Sim::new(7, LinkConfig::default());
    let t = TestTorrent::single("data.bin", 3 * 1024 * 1024 + 12345, 64 * 1024, 1);
    let seeder = sim.add_node(SessionConfig::default());
    let leecher = sim.add_node(SessionConfig::default());
    let ts = sim.add_torrent(seeder, &t, true, TorrentOptions::default());
    let tl = sim.add_torrent(leecher, &t, false, TorrentOptions::default());
    let seeder_addr = sim.nodes[seeder].addr;
    sim.add_peers(leecher, tl, &[seeder_addr]);
    sim.run_until(|s| s.is_complete(leecher, tl), 200_000)
        .expect("download completes");
    let elapsed = sim.elapsed();
    let got = sim.nodes[leecher].storages[&tl]
        .file_data(0)
        .expect("file written");
    assert!(got == t.files[0], "downloaded bytes differ");
    let stats = sim.nodes[leecher].session().torrent_stats(tl).unwrap();
    assert_eq!(stats.phase, TorrentPhase::Seeding);
    assert_eq!(stats.pieces_have, stats.piece_count);
    let seeded = sim.nodes[seeder].session().torrent_stats(ts).unwrap();
    assert!(
        seeded.uploaded >= t.meta.total_length(),
        "seeder uploaded {}",
        seeded.uploaded
    );
    assert!(sim.saw(
        seeder,
        |e| matches!(e, Event::Checked { have, .. } if *have == t.meta.piece_count())
    ));
    let mbps = t.meta.total_length() as f64 / elapsed.as_secs_f64() / 1e6;
    eprintln!(
        "seed_to_leech: {} bytes in {:?} virtual ({mbps:.1} MB/s, link 10 MiB/s), {:?} wall, {} steps",
        t.meta.total_length(),
        elapsed,
        wall.elapsed(),
        sim.steps
    );
}
