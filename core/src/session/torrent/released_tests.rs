//! A released torrent: released once idle for its time (never while a peer is connected),
//! answered from its record meanwhile, loaded back once for peers arriving together (held
//! until then, served as a seed after), a failed or wrong load closing them with a typed
//! reason, and a recheck waiting for the load.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::session::test_support::{answer_start_up, arrive};
use crate::session::upload::tests::{PIECE, PIECES, metainfo, pump};
use crate::session::{
    Action, Dest, DiskJobKind, Event, LoadError, PeerCloseReason, Session, SessionConfig,
    SessionError, SnapshotDetail, TorrentError, TorrentId, TorrentOptions, TorrentPhase,
    TorrentSource,
};
use crate::wire;

const IDLE: Duration = Duration::from_secs(60);

/// A session seeding the test torrent, released after [`IDLE`] without peers.
fn seeder(now: Instant) -> (Session, TorrentId) {
    let mut s = Session::new(SessionConfig::default(), now, 7);
    s.set_listen_addr(SocketAddr::from(([127, 0, 0, 1], 7000)));
    let options = TorrentOptions {
        seed_only: true,
        release_idle_after: Some(IDLE),
        ..TorrentOptions::default()
    };
    let t = s
        .add_torrent(now, TorrentSource::Metainfo(metainfo()), options)
        .unwrap();
    drain(&mut s, now);
    (s, t)
}

/// Answers a start-up or save job as a disk holding the whole torrent would (`None`: not
/// one of those).
fn answer(kind: DiskJobKind) -> Option<crate::session::Completion> {
    match answer_start_up(kind, u64::from(PIECES * PIECE)) {
        Ok(done) => Some(done),
        Err(DiskJobKind::Flush { reply, .. }) => Some(reply.send(Ok(()))),
        Err(_) => None,
    }
}

/// Everything the session queued at `now`, its disk jobs answered: (loads asked for, events).
fn drain(s: &mut Session, now: Instant) -> (Vec<TorrentId>, Vec<Event>) {
    let mut loads = Vec::new();
    let mut events = Vec::new();
    loop {
        let mut done = Vec::new();
        while let Some(a) = s.poll_action() {
            match a {
                Action::LoadMetainfo { torrent, .. } => loads.push(torrent),
                Action::Disk(job) => done.extend(answer(job.kind)),
                _ => {}
            }
        }
        while s.poll_transmit().is_some() {}
        events.extend(std::iter::from_fn(|| s.poll_event()));
        if done.is_empty() {
            return (loads, events);
        }
        for d in done {
            s.handle_completion(now, d);
        }
    }
}

/// Runs the session's timers until `until`, answering its disk jobs; returns what it
/// queued (see [`drain`]).
fn idle(s: &mut Session, until: Instant) -> (Vec<TorrentId>, Vec<Event>) {
    let (mut loads, mut events) = drain(s, until);
    while let Some(at) = s.poll_timeout().filter(|at| *at <= until) {
        s.handle_timeout(at);
        let (l, e) = drain(s, at);
        loads.extend(l);
        events.extend(e);
    }
    s.handle_timeout(until);
    let (l, e) = drain(s, until);
    loads.extend(l);
    events.extend(e);
    (loads, events)
}

fn released(events: &[Event]) -> bool {
    events
        .iter()
        .any(|e| matches!(e, Event::TorrentReleased { .. }))
}

#[test]
fn an_idle_seed_is_released_on_time_and_answers_from_its_record() {
    let t0 = Instant::now();
    let (mut s, t) = seeder(t0);
    let before = s.torrent_stats(t).unwrap();
    let detail = SnapshotDetail {
        files: true,
        pieces: true,
        ..SnapshotDetail::default()
    };
    let snap_before = s.torrent_snapshot(t0, t, detail).unwrap();
    let quiet = idle(&mut s, t0 + IDLE - Duration::from_secs(1));
    assert!(!released(&quiet.1), "not before its idle time");
    let later = idle(&mut s, t0 + IDLE + Duration::from_secs(1));
    assert!(released(&later.1), "released once idle");
    let after = s.torrent_stats(t).unwrap();
    assert_eq!(after.phase, TorrentPhase::Seeding);
    assert_eq!(after.total_bytes, before.total_bytes);
    assert_eq!(after.have_bytes, before.have_bytes);
    assert_eq!(after.pieces_have, PIECES);
    assert_eq!(after.piece_count, PIECES);
    let snap = s.torrent_snapshot(t0 + IDLE, t, detail).unwrap();
    assert!(snap.metainfo.is_none(), "the metainfo is released");
    assert_eq!(snap.pieces, snap_before.pieces);
    assert_eq!(snap.file_bytes, snap_before.file_bytes);
    // Nothing further to do: the timer does not wake for it again.
    assert_eq!(
        idle(&mut s, t0 + IDLE * 10).0,
        Vec::<TorrentId>::new(),
        "no load asked"
    );
}

#[test]
fn a_connected_peer_keeps_it_loaded() {
    let t0 = Instant::now();
    let (mut s, _) = seeder(t0);
    let (conn, mut remote) = arrive(&mut s, 9000, t0);
    pump(&mut s, conn, &mut remote, t0);
    let mut events = drain(&mut s, t0).1;
    let mut now = t0;
    while now < t0 + IDLE * 3 {
        now += Duration::from_secs(10);
        // The peer keeps its connection alive.
        remote.handle_timeout(now);
        pump(&mut s, conn, &mut remote, now);
        events.extend(idle(&mut s, now).1);
    }
    assert!(
        !released(&events),
        "never released while a peer is connected"
    );
}

#[test]
fn peers_arriving_together_wait_for_one_load_and_are_then_served() {
    let t0 = Instant::now();
    let (mut s, t) = seeder(t0);
    let now = t0 + IDLE * 2;
    assert!(released(&idle(&mut s, now).1));

    let (a, mut ra) = arrive(&mut s, 9001, now);
    let (b, mut rb) = arrive(&mut s, 9002, now);
    let (loads, _) = drain(&mut s, now);
    assert_eq!(loads, vec![t], "one load for both");
    assert_eq!(
        ra.phase(),
        wire::Phase::Handshaking,
        "held: no answer to the handshake yet"
    );
    s.handle_metainfo(now, t, Ok(metainfo()));
    // Both handshakes are answered at once; each remote takes its own bytes.
    let mut events = Vec::new();
    while let Some(tx) = s.poll_transmit() {
        let remote = if tx.dest == Dest::Peer(a) {
            &mut ra
        } else {
            &mut rb
        };
        remote.handle_input(now, &tx.payload);
    }
    for (conn, remote) in [(a, &mut ra), (b, &mut rb)] {
        assert_eq!(remote.phase(), wire::Phase::Established);
        pump(&mut s, conn, remote, now);
        events.extend(std::iter::from_fn(|| s.poll_event()));
        remote.send_interested(now).unwrap();
        pump(&mut s, conn, remote, now);
    }
    events.extend(drain(&mut s, now).1);
    assert!(
        events
            .iter()
            .any(|e| matches!(e, Event::TorrentReloaded { torrent } if *torrent == t))
    );
    assert!(
        !events
            .iter()
            .any(|e| matches!(e, Event::Checking { .. } | Event::PeerClosed { .. })),
        "no check, nobody closed: {events:?}"
    );
    assert!(!ra.peer_choking() || !rb.peer_choking(), "served again");
    let stats = s.torrent_stats(t).unwrap();
    assert_eq!(stats.pieces_have, PIECES);
    assert_eq!(stats.peers_connected, 2);
}

#[test]
fn a_failed_load_closes_the_waiting_peer_with_a_typed_reason() {
    let t0 = Instant::now();
    let (mut s, t) = seeder(t0);
    let now = t0 + IDLE * 2;
    assert!(released(&idle(&mut s, now).1));
    let load = |s: &Session| {
        let r = s.torrents.get(&t).and_then(|t| t.released.as_ref());
        r.expect("released").load.as_ref().map(|l| l.waiting.len())
    };
    assert_eq!(load(&s), None, "no load state at rest");
    let (_conn, _remote) = arrive(&mut s, 9003, now);
    assert_eq!(drain(&mut s, now).0, vec![t]);
    assert_eq!(load(&s), Some(1), "the load holds the peer");
    let error = LoadError::Source("gone".into());
    s.handle_metainfo(now, t, Err(error.clone()));
    let (_, events) = drain(&mut s, now);
    assert_eq!(load(&s), None, "the failed load's state goes");
    assert!(events.iter().any(|e| matches!(
        e,
        Event::PeerClosed {
            reason: PeerCloseReason::MetainfoUnavailable,
            ..
        }
    )));
    assert!(events.iter().any(|e| matches!(
        e,
        Event::Error { error: SessionError::LoadMetainfo(e), .. } if *e == error
    )));
    let snap = s
        .torrent_snapshot(now, t, SnapshotDetail::default())
        .unwrap();
    assert_eq!(snap.error, Some(TorrentError::Metainfo(error)));
    assert_eq!(snap.stats.phase, TorrentPhase::Seeding, "still seeding");
    // The next peer asks again.
    let (_c2, _r2) = arrive(&mut s, 9004, now + Duration::from_secs(1));
    assert_eq!(drain(&mut s, now).0, vec![t], "asked again");
}

#[test]
fn another_torrents_metainfo_is_refused() {
    use crate::create::TorrentBuilder;
    use crate::metainfo::Metainfo;
    let t0 = Instant::now();
    let (mut s, t) = seeder(t0);
    let now = t0 + IDLE * 2;
    assert!(released(&idle(&mut s, now).1));
    let (_conn, _remote) = arrive(&mut s, 9005, now);
    drain(&mut s, now);
    let b = TorrentBuilder::single_file("other.bin", 10).unwrap();
    let other = Metainfo::from_bytes(&b.build(&[crate::id::sha1_digest(&[0; 10])]).unwrap());
    s.handle_metainfo(now, t, Ok(Arc::new(other.unwrap())));
    let (_, events) = drain(&mut s, now);
    assert!(events.iter().any(|e| matches!(
        e,
        Event::Error {
            error: SessionError::LoadMetainfo(LoadError::WrongInfoHash),
            ..
        }
    )));
    assert!(events.iter().any(|e| matches!(
        e,
        Event::PeerClosed {
            reason: PeerCloseReason::MetainfoUnavailable,
            ..
        }
    )));
    // An answer nobody asked for is ignored.
    s.handle_metainfo(now, t, Ok(metainfo()));
    assert!(
        !drain(&mut s, now)
            .1
            .iter()
            .any(|e| matches!(e, Event::TorrentReloaded { .. }))
    );
}

#[test]
fn a_recheck_of_a_released_torrent_loads_it_then_checks() {
    let t0 = Instant::now();
    let (mut s, t) = seeder(t0);
    let now = t0 + IDLE * 2;
    assert!(released(&idle(&mut s, now).1));
    s.recheck_torrent(now, t).unwrap();
    let (loads, events) = drain(&mut s, now);
    assert_eq!(loads, vec![t], "the check waits for the metainfo");
    assert!(
        !events.iter().any(|e| matches!(e, Event::Checking { .. })),
        "{events:?}"
    );
    let later = now + Duration::from_secs(1);
    s.handle_metainfo(later, t, Ok(metainfo()));
    let (loads, events) = idle(&mut s, later + Duration::from_secs(5));
    assert!(loads.is_empty(), "one load");
    assert!(
        events
            .iter()
            .any(|e| matches!(e, Event::Checking { torrent, pieces } if *torrent == t && *pieces == PIECES)),
        "every piece hashed again: {events:?}"
    );
    assert!(events.iter().any(
        |e| matches!(e, Event::Checked { torrent, have, all: true } if *torrent == t && *have == PIECES)
    ));
    let stats = s.torrent_stats(t).unwrap();
    assert_eq!(stats.phase, TorrentPhase::Seeding);
    assert_eq!(stats.pieces_have, PIECES);
}

#[test]
fn a_released_torrent_refuses_more_file_priorities_than_it_has_files() {
    use crate::session::{ChangeError, Priority};
    let t0 = Instant::now();
    let (mut s, t) = seeder(t0);
    assert!(released(
        &idle(&mut s, t0 + IDLE + Duration::from_secs(1)).1
    ));
    let files = metainfo().files().len();
    let now = t0 + IDLE + Duration::from_secs(2);
    let result = s.set_file_priorities(now, t, vec![Priority::Normal; files + 1]);
    assert!(
        matches!(result, Err(ChangeError::FilePriorities { files: f, given }) if f == files && given == files + 1),
        "{result:?}"
    );
    assert!(
        s.set_file_priorities(now, t, vec![Priority::Normal; files])
            .is_ok()
    );
    let snap = s
        .torrent_snapshot(now, t, SnapshotDetail::default())
        .unwrap();
    assert!(snap.metainfo.is_none(), "still released");
}
