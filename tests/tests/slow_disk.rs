//! A leecher whose disk is much slower than its link: reading pauses whenever its unwritten
//! bytes reach `max_unwritten_bytes` and resumes as writes finish, so what it holds in memory
//! stays near the cap however fast the seeder sends (the rest waits "in the kernel", here the
//! simulated network), and the download still completes with the right bytes.

use std::time::Duration;

use sanstorrent_core::session::{SessionConfig, TorrentOptions};
use sanstorrent_tests::sim::{DiskModel, LinkConfig, Sim, Summary, TestTorrent, sweep};

const CAP: u64 = 256 * 1024;

fn scenario(seed: u64) -> Summary {
    let mut sim = Sim::new(seed, LinkConfig::default());
    let t = TestTorrent::single("slow.bin", 8 * 1024 * 1024 + 333, 256 * 1024, seed);
    let fast = LinkConfig::new(Duration::from_millis(10), 64 * 1024 * 1024);
    let seeder = sim.add_node_with(SessionConfig::default(), fast);
    sim.add_torrent(seeder, &t, true, TorrentOptions::default());
    let config = SessionConfig {
        max_unwritten_bytes: CAP,
        ..SessionConfig::default()
    };
    let leecher = sim.add_node_with(config, fast);
    sim.nodes[leecher].disk = DiskModel {
        latency: Duration::from_millis(1),
        bytes_per_sec: 4 * 1024 * 1024,
    };
    let id = sim.add_torrent(leecher, &t, false, TorrentOptions::default());
    let addr = sim.nodes[seeder].addr;
    sim.add_peers(leecher, id, &[addr]);
    sim.run_until(|s| s.is_complete(leecher, id), 2_000_000)
        .unwrap_or_else(|e| panic!("seed {seed}: {e}"));
    assert!(sim.has_content(leecher, id, &t), "seed {seed}: wrong bytes");
    let held = sim.max_held_bytes;
    let unwritten = sim.nodes[leecher].max_unwritten;
    assert!(held > 0, "seed {seed}: reading never paused");
    // Blocks already read when a pause is decided still arrive: at most one delivery's worth
    // beyond the cap (the simulated network hands over up to 64 KiB at once).
    assert!(
        unwritten <= CAP + 64 * 1024,
        "seed {seed}: {unwritten} bytes unwritten, cap {CAP}"
    );
    sim.print_summary("slow_disk")
}

#[test]
fn a_slow_disk_pauses_reading_and_bounds_memory() {
    sweep("slow_disk", 1, 2, scenario);
}
