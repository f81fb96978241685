//! Rate limits hold the rate they promise, no less: a seeder limited to 12 KiB/s uploads 1 MiB
//! in about 85 s (it used to wait for unrelated timers after each refill and took 1,261 s, and
//! before that livelocked at one instant), and a leecher limited to 32 KiB/s downloading
//! the same from an unlimited seeder takes about 32 s.

use std::time::Duration;

use sanstorrent_core::session::{SessionConfig, TorrentOptions};
use sanstorrent_tests::sim::{LinkConfig, Sim, TestTorrent};

fn run(up: Option<u64>, down: Option<u64>) -> Duration {
    let mut sim = Sim::new(1, LinkConfig::default());
    let t = TestTorrent::single("limit.bin", 1024 * 1024, 128 * 1024, 1);
    let seeder = sim.add_node(SessionConfig {
        upload_rate_limit: up,
        ..SessionConfig::default()
    });
    sim.add_torrent(seeder, &t, true, TorrentOptions::default());
    let leecher = sim.add_node(SessionConfig {
        download_rate_limit: down,
        ..SessionConfig::default()
    });
    let id = sim.add_torrent(leecher, &t, false, TorrentOptions::default());
    let addr = sim.nodes[seeder].addr;
    sim.add_peers(leecher, id, &[addr]);
    sim.run_until(|s| s.is_complete(leecher, id), 100_000)
        .expect("download completes");
    assert!(sim.has_content(leecher, id, &t));
    sim.elapsed()
}

#[test]
fn upload_limit_is_reached_not_undershot() {
    let took = run(Some(12 * 1024), None);
    eprintln!("1 MiB at a 12 KiB/s upload limit: {took:?}");
    assert!(
        took > Duration::from_secs(75),
        "limit not enforced: {took:?}"
    );
    assert!(took < Duration::from_secs(95), "limit undershot: {took:?}");
}

#[test]
fn download_limit_is_reached_not_undershot() {
    let took = run(None, Some(32 * 1024));
    eprintln!("1 MiB at a 32 KiB/s download limit: {took:?}");
    assert!(
        took > Duration::from_secs(25),
        "limit not enforced: {took:?}"
    );
    assert!(took < Duration::from_secs(40), "limit undershot: {took:?}");
}
