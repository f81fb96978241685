//! Changes made while torrents run: a file turned unwanted is not downloaded (its pieces are
//! never requested, the pieces it shares with wanted files still are) and the torrent completes
//! without it; turned wanted again, it is fetched and the torrent completes again. A torrent's
//! own download limit holds its rate in simulated time, one that ignores the session's limit
//! is not held by it, and the session's limit changed at run time applies at once. Trackers
//! edited while a torrent runs are announced to at once, and keep their ids. A torrent's
//! connection limit, and the DHT switched off and on, apply while running.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use sanstorrent_core::session::{
    Action, ChangeError, Dest, Event, Priority, Session, SessionConfig, TorrentId, TorrentLimits,
    TorrentOptions, TorrentPhase, TrackerEdit,
};
use sanstorrent_tests::sim::{LinkConfig, Sim, SimTracker, TestFile, TestTorrent};

const PIECE: u32 = 64 * 1024;

fn completions(sim: &Sim, node: usize, t: TorrentId) -> usize {
    sim.nodes[node]
        .events
        .iter()
        .filter(|(_, e)| matches!(e, Event::TorrentComplete { torrent } if *torrent == t))
        .count()
}

#[test]
fn unwanted_file_is_skipped_then_fetched_when_wanted_again() {
    let mut sim = Sim::new(7, LinkConfig::default());
    // Boundaries fall inside pieces: piece 4 holds the end of `a` and the start of `b`, and
    // the last piece of `b` holds the start of `c`.
    let t = TestTorrent::multi(
        "three",
        &[
            TestFile::new("three/a.bin", 300 * 1024),
            TestFile::new("three/b.bin", 1024 * 1024),
            TestFile::new("three/c.bin", 200 * 1024),
        ],
        PIECE,
        7,
    );
    let seeder = sim.add_node(SessionConfig::default());
    sim.add_torrent(seeder, &t, true, TorrentOptions::default());
    let leecher = sim.add_node(SessionConfig::default());
    let id = sim.add_torrent(leecher, &t, false, TorrentOptions::default());
    sim.run_until(
        |s| s.saw(leecher, |e| matches!(e, Event::Checked { .. })),
        10_000,
    )
    .expect("the torrent runs");
    sim.with_session(leecher, |s, now| {
        s.set_file_priorities(now, id, vec![Priority::Normal, Priority::Skip])
            .expect("two priorities for three files");
    });
    let addr = sim.nodes[seeder].addr;
    sim.add_peers(leecher, id, &[addr]);
    sim.run_until(|s| s.is_complete(leecher, id), 100_000)
        .expect("the wanted files complete");

    let layout = t.meta.layout();
    let b_only: Vec<u32> = layout
        .file_pieces(1)
        .filter(|p| {
            !layout.file_pieces(0).any(|q| q == *p) && !layout.file_pieces(2).any(|q| q == *p)
        })
        .collect();
    assert_eq!(b_only.len(), 15, "pieces 5..=19 hold only b");
    let verified = sim.nodes[leecher].verified(id);
    assert!(
        b_only.iter().all(|p| !verified.contains(p)),
        "a piece of the unwanted file was downloaded: {verified:?}"
    );
    // Shared pieces were fetched: the wanted files are whole.
    let storage = sim.nodes[leecher].storages[&id].clone();
    assert_eq!(storage.file_data(0).as_deref(), Some(&t.files[0][..]));
    assert_eq!(storage.file_data(2).as_deref(), Some(&t.files[2][..]));
    let stats = sim.nodes[leecher].session().torrent_stats(id).unwrap();
    assert_eq!(stats.phase, TorrentPhase::Seeding, "complete without b");
    let wanted = (t.meta.layout().total_length()) - b_only.len() as u64 * u64::from(PIECE);
    assert_eq!(stats.wanted_bytes, wanted);
    assert_eq!(stats.have_bytes, wanted);
    assert_eq!(stats.wanted_have_bytes, wanted);
    // Nothing of b's own pieces crossed the link (never requested): at most what endgame
    // duplicates of wanted blocks add.
    assert!(
        stats.downloaded <= wanted + 4 * 16 * 1024,
        "downloaded {} for {wanted} wanted bytes",
        stats.downloaded
    );

    // Wanted again: its pieces go back to the picker and the torrent completes again.
    sim.with_session(leecher, |s, now| {
        s.set_file_priorities(now, id, vec![Priority::Normal; 3])
            .unwrap();
    });
    assert_eq!(
        sim.nodes[leecher]
            .session()
            .torrent_stats(id)
            .unwrap()
            .phase,
        TorrentPhase::Downloading
    );
    sim.run_until(|s| completions(s, leecher, id) == 2, 100_000)
        .expect("b completes too");
    assert!(sim.has_content(leecher, id, &t));
    assert!(
        sim.nodes[leecher]
            .session()
            .torrent_stats(id)
            .is_some_and(|s| s.pieces_have == s.piece_count)
    );
}

#[test]
fn too_many_priorities_are_refused() {
    let mut sim = Sim::new(1, LinkConfig::default());
    let t = TestTorrent::single("one.bin", 100 * 1024, PIECE, 1);
    let node = sim.add_node(SessionConfig::default());
    let id = sim.add_torrent(node, &t, false, TorrentOptions::default());
    sim.run_until(
        |s| s.saw(node, |e| matches!(e, Event::Checked { .. })),
        10_000,
    )
    .unwrap();
    sim.with_session(node, |s, now| {
        let err = s
            .set_file_priorities(now, id, vec![Priority::Skip; 2])
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "2 file priorities given for a torrent of 1 files"
        );
        assert!(
            s.set_file_priorities(now, TorrentId(99), Vec::new())
                .is_err()
        );
    });
}

/// Seconds a leecher takes for 1 MiB from an unlimited seeder, with `setup` applied to it
/// once the seeder is given to it.
fn download_time(
    session_limit: Option<u64>,
    setup: impl FnOnce(&mut Sim, usize, TorrentId),
) -> Duration {
    let mut sim = Sim::new(3, LinkConfig::default());
    let t = TestTorrent::single("limit.bin", 1024 * 1024, 128 * 1024, 3);
    let seeder = sim.add_node(SessionConfig::default());
    sim.add_torrent(seeder, &t, true, TorrentOptions::default());
    let leecher = sim.add_node(SessionConfig {
        download_rate_limit: session_limit,
        ..SessionConfig::default()
    });
    let id = sim.add_torrent(leecher, &t, false, TorrentOptions::default());
    let addr = sim.nodes[seeder].addr;
    sim.add_peers(leecher, id, &[addr]);
    setup(&mut sim, leecher, id);
    sim.run_until(|s| s.is_complete(leecher, id), 100_000)
        .expect("download completes");
    assert!(sim.has_content(leecher, id, &t));
    sim.elapsed()
}

#[test]
fn a_torrent_limit_caps_its_rate() {
    let took = download_time(None, |sim, node, id| {
        sim.with_session(node, |s, now| {
            let limits = TorrentLimits {
                download_rate: Some(32 * 1024),
                ..TorrentLimits::default()
            };
            s.set_torrent_limits(now, id, limits).unwrap();
            assert_eq!(s.torrent_limits(id), Some(limits));
        });
    });
    eprintln!("1 MiB at a 32 KiB/s torrent limit: {took:?}");
    assert!(
        took > Duration::from_secs(25),
        "limit not enforced: {took:?}"
    );
    assert!(took < Duration::from_secs(40), "limit undershot: {took:?}");
}

#[test]
fn a_torrent_that_ignores_session_limits_is_not_held_by_them() {
    let held = download_time(Some(16 * 1024), |_, _, _| {});
    let free = download_time(Some(16 * 1024), |sim, node, id| {
        sim.with_session(node, |s, now| {
            let limits = TorrentLimits {
                honors_session_limits: false,
                ..TorrentLimits::default()
            };
            s.set_torrent_limits(now, id, limits).unwrap();
        });
    });
    eprintln!("1 MiB at a 16 KiB/s session limit: {held:?}; ignoring it: {free:?}");
    assert!(held > Duration::from_secs(50), "{held:?}");
    assert!(free < Duration::from_secs(10), "{free:?}");
}

#[test]
fn session_limits_change_at_run_time() {
    let took = download_time(None, |sim, node, _| {
        sim.with_session(node, |s, now| s.set_rate_limits(now, Some(32 * 1024), None));
    });
    eprintln!("1 MiB after the session limit went to 32 KiB/s: {took:?}");
    assert!(
        took > Duration::from_secs(25),
        "limit not enforced: {took:?}"
    );
    assert!(took < Duration::from_secs(40), "limit undershot: {took:?}");
    // Lifted halfway: the rest comes at link speed.
    let took = download_time(Some(16 * 1024), |sim, node, _| {
        sim.run_for(Duration::from_secs(20), 100_000).unwrap();
        sim.with_session(node, |s, now| s.set_rate_limits(now, None, None));
    });
    eprintln!("1 MiB with a 16 KiB/s limit lifted after 20 s: {took:?}");
    assert!(took < Duration::from_secs(30), "limit not lifted: {took:?}");
}

#[test]
fn edited_trackers_are_announced_to() {
    let mut sim = Sim::new(5, LinkConfig::default());
    let tracker = sim.add_agent(Box::new(SimTracker::new(5)));
    let tip = sim.nodes[tracker].addr.ip();
    sim.dns.insert("tracker.sim".into(), tip);
    let live = "http://tracker.sim/announce";
    let dead = "http://nowhere.sim/announce";
    let seeded = TestTorrent::with_trackers("edit.bin", 256 * 1024, 32 * 1024, 5, &[live]);
    let t = TestTorrent::with_trackers("edit.bin", 256 * 1024, 32 * 1024, 5, &[dead]);
    assert_eq!(seeded.meta.info_hash(), t.meta.info_hash());
    let seeder = sim.add_node(SessionConfig::default());
    sim.add_torrent(seeder, &seeded, true, TorrentOptions::default());
    let leecher = sim.add_node(SessionConfig::default());
    let id = sim.add_torrent(leecher, &t, false, TorrentOptions::default());
    sim.run_for(Duration::from_secs(60), 100_000).unwrap();
    assert!(!sim.is_complete(leecher, id), "no tracker knows the seeder");
    sim.with_session(leecher, |s, now| {
        let before = s.torrent_trackers(id).unwrap();
        assert_eq!(before.len(), 1);
        assert_eq!((before[0].id, before[0].url.as_str()), (0, dead));
        s.edit_trackers(now, id, TrackerEdit::Add(vec![live.into()]))
            .unwrap();
        s.edit_trackers(now, id, TrackerEdit::Remove(vec![0]))
            .unwrap();
        let err = s
            .edit_trackers(now, id, TrackerEdit::Replace(0, live.into()))
            .unwrap_err();
        assert_eq!(err, ChangeError::UnknownTracker(0));
        let after = s.torrent_trackers(id).unwrap();
        assert_eq!(after.len(), 1);
        assert_eq!(
            (after[0].id, after[0].url.as_str(), after[0].tier),
            (1, live, 1)
        );
    });
    // Announced to at once (not after the dead tracker's retry interval).
    sim.run_for(Duration::from_secs(10), 100_000).unwrap();
    sim.run_until(|s| s.is_complete(leecher, id), 100_000)
        .expect("the new tracker brings the seeder");
    assert!(sim.has_content(leecher, id, &t));
    assert!(sim.nodes[tracker].agent::<SimTracker>().announces >= 2);
}

#[test]
fn a_torrent_connection_limit_applies_to_new_connections() {
    let mut sim = Sim::new(9, LinkConfig::default());
    let t = TestTorrent::single("peers.bin", 4 * 1024 * 1024, 64 * 1024, 9);
    let mut seeders = Vec::new();
    for _ in 0..3 {
        let s = sim.add_node(SessionConfig::default());
        sim.add_torrent(s, &t, true, TorrentOptions::default());
        seeders.push(sim.nodes[s].addr);
    }
    let leecher = sim.add_node(SessionConfig {
        download_rate_limit: Some(64 * 1024),
        ..SessionConfig::default()
    });
    let id = sim.add_torrent(leecher, &t, false, TorrentOptions::default());
    sim.with_session(leecher, |s, now| {
        let limits = TorrentLimits {
            max_connections: Some(1),
            ..TorrentLimits::default()
        };
        s.set_torrent_limits(now, id, limits).unwrap();
    });
    sim.add_peers(leecher, id, &seeders);
    sim.run_for(Duration::from_secs(5), 100_000).unwrap();
    let connected = |sim: &mut Sim| {
        sim.nodes[leecher]
            .session()
            .torrent_stats(id)
            .unwrap()
            .peers_connected
    };
    assert_eq!(connected(&mut sim), 1);
    sim.with_session(leecher, |s, now| {
        s.set_torrent_limits(now, id, TorrentLimits::default())
            .unwrap();
    });
    sim.run_for(Duration::from_secs(30), 100_000).unwrap();
    assert_eq!(connected(&mut sim), 3, "the session's limit applies again");
}

#[test]
fn dht_stops_and_starts_at_run_time() {
    let t0 = Instant::now();
    let bootstrap: SocketAddr = "192.0.2.7:6881".parse().unwrap();
    let mut s = Session::new(
        SessionConfig {
            dht: true,
            dht_bootstrap: vec![bootstrap],
            ..SessionConfig::default()
        },
        t0,
        1,
    );
    let pings = |s: &mut Session| {
        std::iter::from_fn(|| s.poll_transmit())
            .filter(|t| t.dest == Dest::Udp(bootstrap))
            .count()
    };
    assert!(pings(&mut s) > 0, "a running DHT bootstraps");
    while s.poll_action().is_some() {}
    s.set_dht(t0, false);
    let saved =
        std::iter::from_fn(|| s.poll_action()).any(|a| matches!(a, Action::SaveDhtState { .. }));
    assert!(saved, "the state is saved when the DHT stops");
    s.handle_timeout(t0 + Duration::from_secs(600));
    assert_eq!(pings(&mut s), 0, "a stopped DHT sends nothing");
    s.set_dht(t0 + Duration::from_secs(600), true);
    assert!(pings(&mut s) > 0, "started again, it bootstraps again");
}

#[test]
fn limits_and_trackers_given_at_add_apply_from_the_start() {
    let mut sim = Sim::new(2, LinkConfig::default());
    let t = TestTorrent::with_trackers("add.bin", 64 * 1024, PIECE, 2, &["http://a.sim/x"]);
    let node = sim.add_node(SessionConfig::default());
    let limits = TorrentLimits {
        download_rate: Some(1000),
        upload_rate: Some(2000),
        honors_session_limits: false,
        max_connections: Some(3),
    };
    let options = TorrentOptions {
        limits,
        trackers: Some(vec![vec!["udp://b.sim:80".into()], vec!["ftp://no".into()]]),
        ..TorrentOptions::default()
    };
    let id = sim.add_torrent(node, &t, false, options);
    let s = sim.nodes[node].session();
    assert_eq!(s.torrent_limits(id), Some(limits));
    let trackers = s.torrent_trackers(id).unwrap();
    assert_eq!(trackers.len(), 1);
    assert_eq!(
        (trackers[0].id, trackers[0].url.as_str()),
        (0, "udp://b.sim:80")
    );
}
