//! Choking. A hub leecher holds the first half of an 8 MiB torrent and uploads at 64 KiB/s
//! with three regular upload slots and one optimistic slot. Three contributors hold the second
//! half and upload to it at 12 KiB/s each (so the hub is still downloading, in tit-for-tat
//! mode, throughout); three free-riders (upload limited to 1 byte/s) want everything too.
//! - tit-for-tat: from 30 s to 90 s the hub sends the contributors (who upload to it) more
//!   than twice what it sends the free-riders (who get only optimistic turns: the hub grants
//!   no BEP 6 allowed-fast pieces here, so that the newcomer's first piece too can only come
//!   from an optimistic unchoke);
//! - a free-rider gets less than the contributors' mean;
//! - optimistic unchoke: a newcomer with nothing to offer, knowing only the hub, joins at 20 s
//!   and is sent a piece's worth by the hub within 90 s (optimistic rounds every 10 s here; it
//!   competes with the three free-riders, weighted 3:1 as new, so it wins a round with
//!   probability 1/2: eight rounds fail with probability 1/256).

use std::time::Duration;

use sanstorrent_core::ChokerConfig;
use sanstorrent_core::session::{SessionConfig, TorrentId, TorrentOptions};
use sanstorrent_core::storage::Storage;
use sanstorrent_tests::sim::{LinkConfig, Sim, Summary, TestTorrent, sweep};

fn scenario(seed: u64) -> Summary {
    let mut sim = Sim::new(seed, LinkConfig::default());
    let t = TestTorrent::single("choke.bin", 8 * 1024 * 1024, 128 * 1024, seed);
    let half = t.meta.piece_count() / 2;
    let mut choker = ChokerConfig::default();
    choker.upload_slots = 3;
    choker.optimistic_interval = Duration::from_secs(10);
    // No allowed-fast grants (tests/allowed_fast.rs covers them): every byte the hub sends
    // here is the choker's decision.
    let hub_config = SessionConfig {
        choker,
        allowed_fast_count: 0,
        ..SessionConfig::default()
    };
    let hub = sim.add_node_with(
        hub_config,
        LinkConfig::new(Duration::from_millis(20), 64 * 1024),
    );
    let hub_storage = t.partial_storage(|p| p < half);
    let hub_t = sim.add_source(
        hub,
        sanstorrent_core::session::TorrentSource::Metainfo(t.meta.clone()),
        Some(hub_storage),
        TorrentOptions::default(),
    );
    let hub_addr = sim.nodes[hub].addr;
    let mut contributors = Vec::new();
    for _ in 0..3 {
        let config = SessionConfig {
            upload_rate_limit: Some(12 * 1024),
            ..SessionConfig::default()
        };
        let n = sim.add_node_with(
            config,
            LinkConfig::new(Duration::from_millis(20), 1024 * 1024),
        );
        let storage = t.partial_storage(|p| p >= half);
        let id = sim.add_source(
            n,
            sanstorrent_core::session::TorrentSource::Metainfo(t.meta.clone()),
            Some(storage),
            TorrentOptions::default(),
        );
        sim.add_peers(n, id, &[hub_addr]);
        contributors.push((n, id));
    }
    let mut riders: Vec<(usize, TorrentId)> = Vec::new();
    for _ in 0..3 {
        let config = SessionConfig {
            upload_rate_limit: Some(1),
            ..SessionConfig::default()
        };
        let n = sim.add_node_with(
            config,
            LinkConfig::new(Duration::from_millis(20), 1024 * 1024),
        );
        let id = sim.add_torrent(n, &t, false, TorrentOptions::default());
        sim.add_peers(n, id, &[hub_addr]);
        riders.push((n, id));
    }
    sim.run_for(Duration::from_secs(20), 2_000_000)
        .expect("first 20 s");
    let newcomer = sim.add_node_with(
        SessionConfig::default(),
        LinkConfig::new(Duration::from_millis(20), 1024 * 1024),
    );
    let new_t = sim.add_torrent(newcomer, &t, false, TorrentOptions::default());
    sim.add_peers(newcomer, new_t, &[hub_addr]);
    // The newcomer is served by the hub once a piece's worth reached it (it may also meet
    // other peers through PEX; what counts here is the hub's optimistic slot).
    let joined = sim.now;
    let served_at = std::cell::Cell::new(None);
    let run_to = |sim: &mut Sim, until: std::time::Instant| {
        sim.net.schedule_wake(until);
        sim.run_until(
            |s| {
                if served_at.get().is_none() && s.net.delivered_between(hub, newcomer) >= 128 * 1024
                {
                    served_at.set(Some(s.now - joined));
                }
                s.now >= until
            },
            2_000_000,
        )
        .expect("run");
    };
    run_to(&mut sim, joined + Duration::from_secs(10));
    // From 30 s on: the free-riders' allowed-fast pieces are served by then.
    let from_hub = |s: &Sim, n: usize| s.net.delivered_between(hub, n);
    let base: Vec<u64> = (0..sim.nodes.len()).map(|n| from_hub(&sim, n)).collect();
    run_to(&mut sim, joined + Duration::from_secs(70));
    assert!(
        !sim.is_complete(hub, hub_t),
        "seed {seed}: the hub finished, so it left tit-for-tat mode"
    );
    let sent = |s: &Sim, n: usize| from_hub(s, n) - base[n];
    let to_contrib: Vec<u64> = contributors.iter().map(|&(n, _)| sent(&sim, n)).collect();
    let to_riders: Vec<u64> = riders.iter().map(|&(n, _)| sent(&sim, n)).collect();
    let got_by_hub: u64 = contributors
        .iter()
        .map(|&(n, _)| sim.net.delivered_between(n, hub))
        .sum();
    eprintln!(
        "choking: seed {seed}: from 30 s to 90 s the hub sent contributors {to_contrib:?}, \
         free-riders {to_riders:?}; contributors sent the hub {got_by_hub}"
    );
    assert!(
        got_by_hub > 1024 * 1024,
        "seed {seed}: contributors hardly uploaded"
    );
    let (sum_c, sum_r): (u64, u64) = (to_contrib.iter().sum(), to_riders.iter().sum());
    assert!(
        sum_c > 2 * sum_r,
        "seed {seed}: tit-for-tat does not reward uploaders ({sum_c} vs {sum_r})"
    );
    let max_r = to_riders.iter().max().copied().unwrap_or(0);
    assert!(
        max_r * 3 < sum_c,
        "seed {seed}: a free-rider got {max_r}, more than the contributors' mean ({})",
        sum_c / 3
    );

    // The newcomer started thanks to the hub's optimistic unchoke.
    if served_at.get().is_none() {
        run_to(&mut sim, joined + Duration::from_secs(100));
    }
    let waited = served_at
        .get()
        .unwrap_or_else(|| panic!("seed {seed}: the hub never served the newcomer a piece"));
    eprintln!(
        "choking: seed {seed}: the hub served the newcomer a piece {waited:?} after it joined"
    );
    assert!(
        waited <= Duration::from_secs(90),
        "seed {seed}: the newcomer waited {waited:?} for a piece from the hub"
    );
    let storage = &sim.nodes[newcomer].storages[&new_t];
    assert!(storage.layout().piece_count() > 0);
    sim.print_summary("choking")
}

#[test]
fn tit_for_tat_and_optimistic_unchoke() {
    sweep("choking", 1, 2, scenario);
}
