//! A network partition healing: a seeder and four leechers that all know each other; one
//! second in, the network splits {seeder, A, B} from {C, D} for a minute. The seeder's side
//! completes; C and D get nothing from across the cut (only what they trade between them);
//! after the heal they reconnect (or their stalled streams resume) and complete with the right
//! bytes.

use std::collections::BTreeSet;
use std::time::Duration;

use sanstorrent_core::session::{SessionConfig, TorrentId, TorrentOptions};
use sanstorrent_tests::sim::{LinkConfig, Sim, Summary, TestTorrent, sweep};

fn scenario(seed: u64) -> Summary {
    let link = LinkConfig {
        jitter: Duration::from_millis(5),
        ..LinkConfig::new(Duration::from_millis(25), 256 * 1024)
    };
    let mut sim = Sim::new(seed, link);
    let t = TestTorrent::single("split.bin", 1024 * 1024, 32 * 1024, seed);
    let seeder = sim.add_node(SessionConfig::default());
    sim.add_torrent(seeder, &t, true, TorrentOptions::default());
    let mut leechers: Vec<(usize, TorrentId)> = Vec::new();
    for _ in 0..4 {
        let n = sim.add_node(SessionConfig::default());
        let id = sim.add_torrent(n, &t, false, TorrentOptions::default());
        leechers.push((n, id));
    }
    let all: Vec<_> = std::iter::once(seeder)
        .chain(leechers.iter().map(|l| l.0))
        .map(|n| sim.nodes[n].addr)
        .collect();
    for &(n, id) in &leechers {
        sim.add_peers(n, id, &all);
    }
    sim.run_for(Duration::from_secs(1), 200_000)
        .expect("before the split");
    let (a, b, c, d) = (leechers[0], leechers[1], leechers[2], leechers[3]);
    sim.net.partition(&[seeder, a.0, b.0], &[c.0, d.0]);
    let cut_side: BTreeSet<u32> = [c, d]
        .iter()
        .flat_map(|&(n, id)| sim.nodes[n].verified(id))
        .collect();
    let at_split = cut_side.len();
    sim.run_until(
        |s| s.is_complete(a.0, a.1) && s.is_complete(b.0, b.1),
        1_000_000,
    )
    .expect("the seeder's side completes during the partition");
    sim.run_for(Duration::from_secs(60), 1_000_000)
        .expect("partition");
    let during: BTreeSet<u32> = [c, d]
        .iter()
        .flat_map(|&(n, id)| sim.nodes[n].verified(id))
        .collect();
    assert!(
        !sim.is_complete(c.0, c.1) && !sim.is_complete(d.0, d.1),
        "seed {seed}: a leecher behind the cut completed"
    );
    // Pieces verified during the split on C's side were there at the split, or in flight
    // (a block already delivered): at most a few more.
    assert!(
        during.len() <= at_split + 4,
        "seed {seed}: {} pieces on the cut side at the split, {} after a minute",
        at_split,
        during.len()
    );
    sim.net.heal(sim.now);
    let healed = sim.elapsed();
    sim.run_until(
        |s| leechers.iter().all(|&(n, id)| s.is_complete(n, id)),
        1_000_000,
    )
    .expect("everyone completes after the heal");
    let after = sim.elapsed() - healed;
    for &(n, id) in &leechers {
        assert!(
            sim.has_content(n, id, &t),
            "seed {seed}: leecher {n} has wrong bytes"
        );
    }
    eprintln!(
        "partition: seed {seed}: cut side held {at_split} pieces at the split, {} after a \
         minute; complete {after:?} after the heal",
        during.len()
    );
    assert!(
        after < Duration::from_secs(120),
        "seed {seed}: {after:?} to recover"
    );
    sim.print_summary("partition")
}

#[test]
fn a_partition_heals_and_everyone_completes() {
    sweep("partition", 1, 3, scenario);
}
