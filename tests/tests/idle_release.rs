//! Released idle seeds (issue 25): a seeder of several torrents, announcing to a simulated
//! tracker, releases each torrent's metainfo after ten minutes without a peer and goes on
//! announcing (`left` 0). A leecher arriving later gets the right bytes after one load of the
//! metainfo; two leechers arriving together cause one load; a failing load closes the peer
//! with a typed reason and a later one works; a recheck of a released torrent loads it and
//! finds every piece; the seeder's resume data is the same as before any release.

use std::time::Duration;

use sanstorrent_core::session::{
    Event, PeerCloseReason, SessionConfig, TorrentId, TorrentOptions, TorrentPhase,
};
use sanstorrent_tests::sim::{LinkConfig, Sim, SimTracker, TestTorrent};

/// Torrents the seeder holds.
const TORRENTS: usize = 5;
/// Pieces of each (16 KiB each, the last one short).
const PIECES: u64 = 12;
/// The seeder's idle time before a release.
const IDLE: Duration = Duration::from_secs(600);

fn config() -> SessionConfig {
    SessionConfig {
        resume_save_interval: Duration::from_secs(5),
        ..SessionConfig::default()
    }
}

/// Events of `torrent` on node `i` matching `f`.
fn count(sim: &Sim, i: usize, f: impl Fn(&Event) -> bool) -> usize {
    sim.nodes[i].events.iter().filter(|(_, e)| f(e)).count()
}

fn released(sim: &Sim, i: usize, t: TorrentId) -> usize {
    count(
        sim,
        i,
        |e| matches!(e, Event::TorrentReleased { torrent } if *torrent == t),
    )
}

/// A fresh leecher of `t` dialling the seeder; returns its node and torrent.
fn leecher(sim: &mut Sim, seeder: usize, t: &TestTorrent) -> (usize, TorrentId) {
    let leecher = sim.add_node(config());
    let id = sim.add_torrent(leecher, t, false, TorrentOptions::default());
    let addr = sim.nodes[seeder].addr;
    sim.add_peers(leecher, id, &[addr]);
    (leecher, id)
}

/// Removes a leecher's torrent (closing its connections) and lets the seeder go idle again.
fn leave(sim: &mut Sim, leecher: usize, id: TorrentId) {
    sim.with_session(leecher, |s, now| {
        s.remove_torrent(now, id).expect("removed");
    });
}

#[test]
fn released_seeds_announce_reload_once_and_serve_the_right_bytes() {
    let mut sim = Sim::new(25, LinkConfig::default());
    let tracker = sim.add_agent(Box::new(SimTracker::new(25)));
    let url = format!("http://{}/announce", sim.nodes[tracker].addr.ip());
    let seeder = sim.add_node(config());
    let made: Vec<TestTorrent> = (0..TORRENTS)
        .map(|i| {
            let len = PIECES * 16 * 1024 - 100 - i as u64;
            TestTorrent::with_trackers(&format!("r{i}"), len, 16 * 1024, i as u64, &[&url])
        })
        .collect();
    let options = TorrentOptions {
        release_idle_after: Some(IDLE),
        ..TorrentOptions::default()
    };
    let ids: Vec<TorrentId> = made
        .iter()
        .map(|t| sim.add_torrent(seeder, t, true, options.clone()))
        .collect();
    sim.run_until(|s| s.nodes[seeder].resume.len() == TORRENTS, 2_000_000)
        .expect("every torrent checked and saved");
    let saved = sim.nodes[seeder].resume.clone();

    // Idle: nothing released before its time, each released once after it.
    sim.run_for(IDLE - Duration::from_secs(30), 5_000_000)
        .expect("nearly idle long enough");
    assert!(ids.iter().all(|t| released(&sim, seeder, *t) == 0));
    sim.run_for(Duration::from_secs(60), 5_000_000)
        .expect("idle long enough");
    assert!(ids.iter().all(|t| released(&sim, seeder, *t) == 1));
    assert_eq!(sim.nodes[seeder].loads, 0);

    // Still announcing, as a seed.
    let announces = sim.nodes[tracker].agent::<SimTracker>().announces;
    sim.run_for(Duration::from_secs(3600), 5_000_000)
        .expect("an hour released");
    let t = sim.nodes[tracker].agent::<SimTracker>();
    assert!(
        t.announces >= announces + TORRENTS as u64,
        "{} announces after the release, {announces} before",
        t.announces
    );
    let seeder_addr = sim.nodes[seeder].addr;
    for m in &made {
        let swarm = &t.swarms[&m.meta.info_hash()];
        let left = swarm
            .iter()
            .find(|(a, _)| a.ip() == seeder_addr.ip())
            .map(|(_, left)| *left);
        assert_eq!(left, Some(0), "announced as a seed");
    }
    for id in &ids {
        let stats = sim.nodes[seeder].session().torrent_stats(*id).unwrap();
        assert_eq!(stats.phase, TorrentPhase::Seeding);
        assert_eq!(stats.pieces_have as u64, PIECES);
    }

    // A leecher arriving later: one load, the right bytes.
    let (l0, id0) = leecher(&mut sim, seeder, &made[0]);
    sim.run_until(|s| s.is_complete(l0, id0), 2_000_000)
        .expect("download completes after the reload");
    assert!(sim.has_content(l0, id0, &made[0]), "the right bytes");
    assert_eq!(sim.nodes[seeder].loads, 1);
    leave(&mut sim, l0, id0);

    // Two leechers together: one load.
    let (a, ida) = leecher(&mut sim, seeder, &made[1]);
    let (b, idb) = leecher(&mut sim, seeder, &made[1]);
    sim.run_until(
        |s| s.is_complete(a, ida) && s.is_complete(b, idb),
        2_000_000,
    )
    .expect("both downloads complete");
    assert!(sim.has_content(a, ida, &made[1]) && sim.has_content(b, idb, &made[1]));
    assert_eq!(sim.nodes[seeder].loads, 2, "one load for both");
    leave(&mut sim, a, ida);
    leave(&mut sim, b, idb);

    // A failing load: the peer is closed with a typed reason; the torrent still seeds.
    sim.nodes[seeder].fail_loads = true;
    let (f, idf) = leecher(&mut sim, seeder, &made[2]);
    let unavailable = |s: &Sim| {
        count(s, seeder, |e| {
            matches!(
                e,
                Event::PeerClosed {
                    reason: PeerCloseReason::MetainfoUnavailable,
                    ..
                }
            )
        })
    };
    sim.run_until(|s| unavailable(s) >= 1, 2_000_000)
        .expect("the waiting peer closed");
    assert!(!sim.is_complete(f, idf));
    let stats = sim.nodes[seeder].session().torrent_stats(ids[2]).unwrap();
    assert_eq!(stats.phase, TorrentPhase::Seeding);
    sim.nodes[seeder].fail_loads = false;
    sim.run_until(|s| s.is_complete(f, idf), 5_000_000)
        .expect("a later load works and the leecher completes");
    assert!(sim.has_content(f, idf, &made[2]));
    leave(&mut sim, f, idf);

    // A recheck of a released torrent: loaded, every piece found.
    assert_eq!(released(&sim, seeder, ids[3]), 1);
    let loads = sim.nodes[seeder].loads;
    sim.with_session(seeder, |s, now| {
        s.recheck_torrent(now, ids[3]).expect("recheck");
    });
    let checked = |s: &Sim| {
        count(
            s,
            seeder,
            |e| matches!(e, Event::Checked { torrent, have, .. } if *torrent == ids[3] && *have as u64 == PIECES),
        )
    };
    let before = checked(&sim);
    sim.run_until(|s| checked(s) > before, 2_000_000)
        .expect("the recheck ends with every piece");
    assert_eq!(sim.nodes[seeder].loads, loads + 1);

    // Released again once idle; the resume data of torrents never reloaded is unchanged, and
    // of those served, what a seed's was.
    sim.run_for(IDLE * 2, 5_000_000).expect("idle again");
    for id in &ids[..4] {
        assert!(released(&sim, seeder, *id) >= 2, "{id:?} released again");
    }
    assert_eq!(
        sim.nodes[seeder].resume[&ids[4]], saved[&ids[4]],
        "never reloaded: resume data as it was"
    );
    for id in &ids[..2] {
        assert_eq!(
            sim.nodes[seeder].resume[id], saved[id],
            "reloaded to serve: resume data as it was"
        );
    }
}
