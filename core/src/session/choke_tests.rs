//! A running torrent without connections files no rechoke: an idle session with many seeding
//! torrents wakes for its shared timers only, and a torrent that gets a connection rechokes at
//! the instants it would have had if it had rechoked all along.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::create::TorrentBuilder;
use crate::id::sha1_digest;
use crate::metainfo::Metainfo;
use crate::session::test_support::start_seeding;
use crate::session::upload::tests::{PIECE, PIECES, leecher, pump};
use crate::session::{Session, SessionConfig, TorrentId, TorrentOptions, TorrentSource};

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

fn secs(n: u64) -> Duration {
    Duration::from_secs(n)
}

/// A session whose own timers are rare: statistics every minute, resume saves hourly.
fn session(now: Instant) -> Session {
    let config = SessionConfig {
        stats_interval: secs(60),
        resume_save_interval: secs(3600),
        ..SessionConfig::default()
    };
    let mut s = Session::new(config, now, 7);
    s.set_listen_addr(SocketAddr::from(([127, 0, 0, 1], 7000)));
    s
}

/// A torrent of its own for each `n` (`PIECES` pieces, as the test leecher expects).
fn metainfo(n: u8) -> Arc<Metainfo> {
    let data = vec![n; (PIECES * PIECE) as usize];
    let b = TorrentBuilder::single_file(&format!("t{n}.bin"), data.len() as u64)
        .unwrap()
        .piece_length(PIECE);
    let hashes: Vec<_> = data.chunks(PIECE as usize).map(sha1_digest).collect();
    Arc::new(Metainfo::from_bytes(&b.build(&hashes).unwrap()).unwrap())
}

/// Adds torrent `meta` at `now`, seeding at once (its file there, its piece checked).
fn add_seeding(s: &mut Session, meta: Arc<Metainfo>, now: Instant) -> TorrentId {
    let options = TorrentOptions {
        seed_only: true,
        ..TorrentOptions::default()
    };
    let t = (s.add_torrent(now, TorrentSource::Metainfo(meta), options)).unwrap();
    start_seeding(s, now, u64::from(PIECES * PIECE));
    assert_eq!(s.torrent_stats(t).map(|st| st.pieces_have), Some(PIECES));
    t
}

/// Fires the session's timers up to `end` (outputs dropped); the instants it woke at.
fn wakes(s: &mut Session, end: Instant) -> Vec<Instant> {
    let mut woke = Vec::new();
    while let Some(at) = s.poll_timeout().filter(|at| *at <= end) {
        s.handle_timeout(at);
        while s.poll_transmit().is_some() || s.poll_action().is_some() {}
        while s.poll_event().is_some() {}
        woke.push(at);
    }
    woke
}

#[test]
fn an_idle_session_does_not_wake_for_the_rechokes_of_torrents_without_peers() {
    let t0 = Instant::now();
    let mut s = session(t0);
    // Twenty torrents started at different instants: twenty rechoke schedules, each every
    // 10 s, were there peers to rechoke.
    for n in 0..20u8 {
        add_seeding(&mut s, metainfo(n), t0 + ms(437 * u64::from(n)));
    }
    let woke = wakes(&mut s, t0 + secs(610));
    // The statistics tick (every minute) and little else; 1,200 wakes with the rechokes.
    println!("{} wakes in 10 min of 20 idle torrents", woke.len());
    assert!(woke.len() <= 15, "{} wakes: {woke:?}", woke.len());
}

#[test]
fn a_torrent_that_gets_a_connection_rechokes_at_the_instants_it_always_had() {
    let t0 = Instant::now();
    let mut s = session(t0);
    let meta = metainfo(1);
    let t = add_seeding(&mut s, Arc::clone(&meta), t0);
    wakes(&mut s, t0 + ms(95_700));
    // Its rechokes fell due at t0 (once running), then every 10 s; none was filed since.
    let conn = s
        .handle_accept(t0 + ms(95_700), SocketAddr::from(([127, 0, 0, 1], 9000)))
        .expect("accepted");
    let mut remote = leecher(&meta, *b"-XX0001-leecher00001", t0 + ms(95_700));
    pump(&mut s, conn, &mut remote, t0 + ms(95_700));
    let woke = wakes(&mut s, t0 + secs(125));
    for at in [100, 110, 120] {
        assert!(
            woke.contains(&(t0 + secs(at))),
            "no rechoke at {at} s: {woke:?}"
        );
    }
    let stats = s.torrent_stats(t).unwrap();
    assert_eq!(stats.peers_connected, 1, "the leecher stayed");
}
