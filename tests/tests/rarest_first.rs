//! Rarest first spreads pieces: a seeder on a slow uplink and 8 fast leechers that trade among
//! themselves. Every piece reaches some leecher before the seeder has delivered two copies
//! (measured: about 1.7), so the seeder can leave then and the leechers still finish; and the
//! seeder's first copy is at least half distinct pieces (leechers picking the same rarest
//! piece at once cost duplicates: measured 38-46 of 64 over 12 seeds; in-order picking gives
//! 13). Choked leechers start two pieces each with the seeder's allowed-fast grants (BEP 6):
//! without grants the first copy has 44-53 distinct pieces; when leechers took their whole
//! allowed-fast sets, 27-37, so `PickerConfig::starting_pieces` limits them. The same
//! swarm picking pieces in order (`sequential`) fails both criteria: the test can tell them
//! apart. Pieces are 64 KiB (4 blocks): with one block per piece, every request in a
//! leecher's pipeline to the slow seeder (3 s of its rate, as libtorrent keeps) would be a
//! different piece, and 8 leechers' pipelines overlap whatever the picker does.

use std::collections::BTreeSet;
use std::time::Duration;

use sanstorrent_core::session::{SessionConfig, TorrentId, TorrentOptions};
use sanstorrent_tests::sim::{LinkConfig, Sim, Summary, TestTorrent, sweep};

const LEECHERS: usize = 8;

struct Outcome {
    /// Distinct pieces at the leechers when the seeder had delivered one copy.
    spread_at_one_copy: usize,
    /// Whether every piece reached a leecher before the seeder delivered two copies.
    spread_within_two_copies: bool,
    summary: Summary,
}

fn run(seed: u64, sequential: bool) -> Outcome {
    let mut sim = Sim::new(seed, LinkConfig::default());
    let t = TestTorrent::single("rare.bin", 64 * 64 * 1024, 64 * 1024, seed);
    let seeder = sim.add_node_with(
        SessionConfig::default(),
        LinkConfig::new(Duration::from_millis(20), 256 * 1024),
    );
    sim.add_torrent(seeder, &t, true, TorrentOptions::default());
    let seeder_addr = sim.nodes[seeder].addr;
    let mut leechers: Vec<(usize, TorrentId)> = Vec::new();
    for _ in 0..LEECHERS {
        let n = sim.add_node_with(
            SessionConfig::default(),
            LinkConfig::new(Duration::from_millis(15), 4 * 1024 * 1024),
        );
        let options = TorrentOptions {
            sequential,
            ..TorrentOptions::default()
        };
        let id = sim.add_torrent(n, &t, false, options);
        let mut peers = vec![seeder_addr];
        peers.extend(leechers.iter().map(|&(m, _)| sim.nodes[m].addr));
        sim.add_peers(n, id, &peers);
        leechers.push((n, id));
    }
    let total = t.meta.total_length();
    let pieces = t.meta.piece_count() as usize;
    let held = |s: &Sim| {
        leechers
            .iter()
            .flat_map(|&(n, id)| s.nodes[n].verified(id))
            .collect::<BTreeSet<u32>>()
            .len()
    };
    // What the leechers received from the seeder (not what sits in its uplink queue).
    sim.run_until(|s| s.net.delivered_from(seeder) >= total, 1_000_000)
        .expect("the seeder delivers one copy");
    let spread_at_one_copy = held(&sim);
    sim.run_until(
        |s| held(s) == pieces || s.net.delivered_from(seeder) >= 2 * total,
        1_000_000,
    )
    .expect("pieces spread");
    let spread_within_two_copies = held(&sim) == pieces;
    if spread_within_two_copies {
        // The seeder leaves: the leechers finish among themselves.
        sim.crash(seeder);
        sim.run_until(
            |s| leechers.iter().all(|&(n, id)| s.is_complete(n, id)),
            1_000_000,
        )
        .expect("leechers finish without the seeder");
        for &(n, id) in &leechers {
            assert!(
                sim.has_content(n, id, &t),
                "seed {seed}: leecher {n} has wrong bytes"
            );
        }
    }
    let name = if sequential {
        "rarest_first (sequential control)"
    } else {
        "rarest_first"
    };
    let summary = sim.print_summary(name);
    eprintln!(
        "{name}: {spread_at_one_copy}/{pieces} pieces at leechers after one copy from the seeder; \
         all spread within two copies: {spread_within_two_copies}"
    );
    Outcome {
        spread_at_one_copy,
        spread_within_two_copies,
        summary,
    }
}

#[test]
fn no_piece_stays_only_at_the_seeder() {
    sweep("rarest_first", 1, 3, |seed| {
        let o = run(seed, false);
        assert!(
            o.spread_within_two_copies,
            "seed {seed}: some piece was only at the seeder after it delivered two copies"
        );
        assert!(
            o.spread_at_one_copy * 2 >= 64,
            "seed {seed}: the seeder's first copy reached only {} distinct pieces",
            o.spread_at_one_copy
        );
        o.summary
    });
}

#[test]
fn sequential_picking_is_told_apart() {
    let o = run(1, true);
    assert!(
        o.spread_at_one_copy * 2 < 64 && !o.spread_within_two_copies,
        "in-order picking spread the pieces too: the criteria cannot fail"
    );
}
