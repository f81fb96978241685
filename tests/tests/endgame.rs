//! Endgame: a leecher downloads from a very slow seeder (4 KiB/s, 300 ms) and, from three
//! seconds on, from a fast one.
//! The blocks the slow peer still holds at the end are requested again from the fast one, so
//! the download does not stall at 99 %: the last piece lands within a second of the one
//! before. With endgame off (`max_endgame_copies = 1`) the same swarm does stall (the control
//! shows the criterion can fail).

use std::time::Duration;

use sanstorrent_core::session::PickerConfig;
use sanstorrent_core::session::{Event, SessionConfig, TorrentOptions};
use sanstorrent_tests::sim::{LinkConfig, Sim, Summary, TestTorrent, sweep};

/// Virtual time from the next-to-last verified piece to completion, and the summary.
fn run(seed: u64, endgame_copies: u32) -> (Duration, Duration, Summary) {
    let mut sim = Sim::new(seed, LinkConfig::default());
    let t = TestTorrent::single("end.bin", 2 * 1024 * 1024, 64 * 1024, seed);
    let fast = sim.add_node_with(
        SessionConfig::default(),
        LinkConfig::new(Duration::from_millis(20), 4 * 1024 * 1024),
    );
    let slow = sim.add_node_with(
        SessionConfig::default(),
        LinkConfig::new(Duration::from_millis(300), 4 * 1024),
    );
    sim.add_torrent(fast, &t, true, TorrentOptions::default());
    sim.add_torrent(slow, &t, true, TorrentOptions::default());
    let mut picker = PickerConfig::default();
    picker.max_endgame_copies = endgame_copies;
    let config = SessionConfig {
        picker,
        ..SessionConfig::default()
    };
    let leecher = sim.add_node(config);
    let id = sim.add_torrent(leecher, &t, false, TorrentOptions::default());
    // The slow peer first: it gets requests; the fast one arrives three seconds later.
    let (slow_addr, fast_addr) = (sim.nodes[slow].addr, sim.nodes[fast].addr);
    sim.add_peers(leecher, id, &[slow_addr]);
    sim.run_for(Duration::from_secs(3), 100_000)
        .expect("slow peer phase");
    sim.add_peers(leecher, id, &[fast_addr]);
    sim.run_until(|s| s.is_complete(leecher, id), 500_000)
        .expect("the download completes");
    assert!(sim.has_content(leecher, id, &t), "seed {seed}: wrong bytes");
    let verified: Vec<_> = sim.nodes[leecher]
        .events
        .iter()
        .filter(|(_, e)| matches!(e, Event::PieceVerified { .. }))
        .map(|(at, _)| *at)
        .collect();
    let n = verified.len();
    let tail = verified[n - 1] - verified[n - 2];
    let total = sim.elapsed();
    let name = if endgame_copies > 1 {
        "endgame"
    } else {
        "endgame (off, control)"
    };
    let summary = sim.print_summary(name);
    eprintln!("{name}: last piece {tail:?} after the one before, done at {total:?}");
    (tail, total, summary)
}

#[test]
fn no_stall_at_99_percent_with_a_slow_last_peer() {
    sweep("endgame", 1, 3, |seed| {
        let (tail, total, summary) = run(seed, 3);
        assert!(
            tail < Duration::from_secs(1),
            "seed {seed}: stalled {tail:?} on the last piece"
        );
        assert!(
            total < Duration::from_secs(5),
            "seed {seed}: took {total:?}"
        );
        summary
    });
}

#[test]
fn without_endgame_the_same_swarm_stalls() {
    let (tail, _, _) = run(1, 1);
    assert!(
        tail >= Duration::from_secs(1),
        "no stall even without endgame ({tail:?}): the scenario does not exercise it"
    );
}
