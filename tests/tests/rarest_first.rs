//! Rarest first spreads pieces: a seeder on a slow uplink and 8 fast leechers that trade among
//! themselves. By the time the seeder has delivered 2 copies of the content, no piece is held
//! by the seeder alone (one copy is not enough: leechers pick the same rarest pieces at the same
//! time, about 16 of the first 64 blocks are duplicates), so the seeder can leave and the leechers still finish. The same swarm
//! picking pieces in order (`sequential`) fails that criterion: the test can tell them apart.

use std::collections::BTreeSet;
use std::time::Duration;

use sanstorrent_core::session::{SessionConfig, TorrentId, TorrentOptions};
use sanstorrent_tests::sim::{LinkConfig, Sim, Summary, TestTorrent, sweep};

const LEECHERS: usize = 8;

struct Outcome {
    /// Pieces no leecher held when the seeder had uploaded 2 copies.
    only_at_seeder: usize,
    summary: Summary,
}

fn run(seed: u64, sequential: bool) -> Outcome {
    let mut sim = Sim::new(seed, LinkConfig::default());
    let t = TestTorrent::single("rare.bin", 64 * 16 * 1024, 16 * 1024, seed);
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
    // What the leechers received from the seeder (not what sits in its uplink queue).
    sim.run_until(|s| s.net.delivered_from(seeder) >= total * 2, 1_000_000)
        .expect("the seeder uploads 2 copies");
    let held: BTreeSet<u32> = leechers
        .iter()
        .flat_map(|&(n, id)| sim.nodes[n].verified(id))
        .collect();
    let only_at_seeder = t.meta.piece_count() as usize - held.len();
    if only_at_seeder == 0 {
        // The seeder leaves: the leechers finish among themselves.
        sim.crash(seeder);
        sim.run_until(
            |s| leechers.iter().all(|&(n, id)| s.is_complete(n, id)),
            1_000_000,
        )
        .expect("leechers finish without the seeder");
        for &(n, id) in &leechers {
            assert!(sim.has_content(n, id, &t), "seed {seed}: leecher {n} has wrong bytes");
        }
    }
    let name = if sequential { "rarest_first (sequential control)" } else { "rarest_first" };
    let summary = sim.print_summary(name);
    eprintln!("{name}: {only_at_seeder} pieces held only by the seeder after 2 copies uploaded");
    Outcome {
        only_at_seeder,
        summary,
    }
}

#[test]
fn no_piece_stays_only_at_the_seeder() {
    sweep("rarest_first", 1, 2, |seed| {
        let o = run(seed, false);
        assert_eq!(
            o.only_at_seeder, 0,
            "seed {seed}: {} pieces were only at the seeder",
            o.only_at_seeder
        );
        o.summary
    });
}

#[test]
fn sequential_picking_is_told_apart() {
    let o = run(1, true);
    assert!(
        o.only_at_seeder > 0,
        "in-order picking spread every piece too: the criterion cannot fail"
    );
}
