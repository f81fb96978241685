//! Idle seeding torrents in their compact form (issue 25): a seeder of many torrents whose
//! pieces sets and availability counts hold nothing while no peer is connected. Each leecher
//! arriving after the seeder went idle gets the right bytes; after the last peer left (the
//! counts dropped again), a recheck finds every piece, a further leecher still gets the right
//! bytes, and the seeder's resume data is the same as before any peer came.

use std::time::Duration;

use sanstorrent_core::session::{Event, SessionConfig, TorrentId, TorrentOptions, TorrentPhase};
use sanstorrent_tests::sim::{LinkConfig, Sim, TestTorrent};

/// Torrents the seeder holds.
const TORRENTS: usize = 20;
/// Pieces of each (16 KiB each, the last one short).
const PIECES: u64 = 24;

fn config() -> SessionConfig {
    SessionConfig {
        resume_save_interval: Duration::from_secs(5),
        ..SessionConfig::default()
    }
}

/// A fresh leecher of `t` on the sim, dialling the seeder: runs until its download completes,
/// checks the bytes, then removes its torrent (closing its connections) and lets the seeder
/// notice.
fn leech(sim: &mut Sim, seeder: usize, t: &TestTorrent) {
    let leecher = sim.add_node(config());
    let id = sim.add_torrent(leecher, t, false, TorrentOptions::default());
    let addr = sim.nodes[seeder].addr;
    sim.add_peers(leecher, id, &[addr]);
    sim.run_until(|s| s.is_complete(leecher, id), 2_000_000)
        .expect("download completes");
    assert!(
        sim.has_content(leecher, id, t),
        "the leecher got the right bytes"
    );
    sim.with_session(leecher, |s, now| {
        s.remove_torrent(now, id).expect("removed");
    });
    sim.run_for(Duration::from_secs(30), 2_000_000)
        .expect("the seeder sees the peer go");
}

#[test]
fn idle_seeds_serve_check_and_save_the_same_as_busy_ones() {
    let mut sim = Sim::new(21, LinkConfig::default());
    let seeder = sim.add_node(config());
    let made: Vec<TestTorrent> = (0..TORRENTS)
        .map(|i| {
            let len = PIECES * 16 * 1024 - 100 - i as u64;
            TestTorrent::single(&format!("s{i}"), len, 16 * 1024, i as u64)
        })
        .collect();
    let ids: Vec<TorrentId> = made
        .iter()
        .map(|t| sim.add_torrent(seeder, t, true, TorrentOptions::default()))
        .collect();
    sim.run_until(|s| s.nodes[seeder].resume.len() == TORRENTS, 2_000_000)
        .expect("every torrent checked and saved");
    sim.run_for(Duration::from_secs(60), 2_000_000)
        .expect("idle a minute");
    let saved = sim.nodes[seeder].resume.clone();
    for &id in &ids {
        let stats = sim.nodes[seeder]
            .session()
            .torrent_stats(id)
            .expect("known");
        assert_eq!(stats.phase, TorrentPhase::Seeding, "{id:?}");
        assert_eq!(stats.pieces_have, PIECES as u32, "{id:?}");
    }

    // Two of the torrents, each leeched twice: idle, busy, idle again, busy again.
    for k in [3, 11] {
        leech(&mut sim, seeder, &made[k]);
        leech(&mut sim, seeder, &made[k]);
    }
    assert_eq!(
        sim.nodes[seeder].session().footprint().connections,
        0,
        "every leecher left"
    );
    sim.run_for(Duration::from_secs(30), 2_000_000)
        .expect("idle again");
    for (id, resume) in &saved {
        assert_eq!(
            sim.nodes[seeder].resume.get(id),
            Some(resume),
            "{id:?}: resume data unchanged by serving"
        );
    }

    // A recheck of an idle torrent finds every piece, and it serves on.
    let k = 11;
    let before = sim.nodes[seeder].events.len();
    sim.with_session(seeder, |s, now| {
        s.recheck_torrent(now, ids[k]).expect("recheck");
    });
    sim.run_until(
        |s| {
            s.nodes[seeder].events[before..]
                .iter()
                .any(|(_, e)| matches!(e, Event::Checked { torrent, .. } if *torrent == ids[k]))
        },
        2_000_000,
    )
    .expect("checked");
    let checked = sim.nodes[seeder].events[before..]
        .iter()
        .find_map(|(_, e)| match e {
            Event::Checked { torrent, have, .. } if *torrent == ids[k] => Some(*have),
            _ => None,
        });
    assert_eq!(checked, Some(PIECES as u32), "every piece found again");
    leech(&mut sim, seeder, &made[k]);
    sim.run_for(Duration::from_secs(30), 2_000_000)
        .expect("saved again");
    assert_eq!(
        sim.nodes[seeder].resume.get(&ids[k]),
        saved.get(&ids[k]),
        "resume data after the recheck as before"
    );
}
