//! A torrent added complete from its saved state: released at once (no storage, no stamps,
//! no check, no resume data read), seeding; at its first load the resume data comes with
//! the metainfo and the files' stamps decide: equal, it serves without a check; changed,
//! missing or corrupt resume data, it is told why and its pieces are hashed.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use super::{Untrusted, verdict};
use crate::layout::Layout;
use crate::session::test_support::arrive;
use crate::session::upload::tests::{PIECE, PIECES, metainfo, pump};
use crate::session::{
    Action, ConnId, DiskJobKind, Event, Session, SessionConfig, TorrentId, TorrentOptions,
    TorrentPhase, TorrentSource,
};
use crate::storage::{FileStamp, ResumeData, ResumeError};
use crate::wire;

/// The stamp the saved resume data has for the torrent's one file.
const SAVED: FileStamp = FileStamp {
    size: (PIECES * PIECE) as u64,
    mtime_secs: 1_700_000_000,
    mtime_nanos: 5,
};

/// The resume data a stop of the complete torrent saved.
fn resume() -> Vec<u8> {
    let layout = metainfo().layout().clone();
    ResumeData::of_disk(
        &layout,
        &crate::pieces::PieceSet::full(PIECES),
        vec![Some(SAVED)],
    )
    .encode()
}

/// What a drain saw.
#[derive(Default)]
struct Seen {
    loads: Vec<(TorrentId, bool)>,
    opened: usize,
    stamps: usize,
    checks: usize,
    closed: Vec<ConnId>,
    events: Vec<Event>,
}

/// Everything queued at `now`, its disk jobs answered as a disk whose file has stamp
/// `disk` and good data (the bytes for peers are left for `deliver` or `told`).
fn drain(s: &mut Session, now: Instant, disk: FileStamp) -> Seen {
    let mut seen = Seen::default();
    loop {
        let mut done = Vec::new();
        while let Some(a) = s.poll_action() {
            match a {
                Action::LoadMetainfo {
                    torrent, resume, ..
                } => seen.loads.push((torrent, resume)),
                Action::OpenStorage { .. } => seen.opened += 1,
                Action::Close { conn } => seen.closed.push(conn),
                Action::Disk(job) => match job.kind {
                    DiskJobKind::Stamps { reply } => {
                        seen.stamps += 1;
                        done.push(reply.send(Ok(vec![Some(disk)])));
                    }
                    DiskJobKind::Check { pieces, reply } => {
                        seen.checks += 1;
                        done.push(reply.send(Ok(pieces.iter().map(|(p, _)| *p).collect())));
                    }
                    DiskJobKind::Flush { reply, .. } => done.push(reply.send(Ok(()))),
                    _ => {}
                },
                _ => {}
            }
        }
        seen.events.extend(std::iter::from_fn(|| s.poll_event()));
        if done.is_empty() {
            return seen;
        }
        for d in done {
            s.handle_completion(now, d);
        }
    }
}

/// A session with the test torrent added complete from its saved state.
/// The release option the restored torrents have (the daemon's default).
const RELEASE: Duration = Duration::from_secs(600);

fn restored(now: Instant, options: TorrentOptions) -> (Session, TorrentId, Seen) {
    let mut s = Session::new(SessionConfig::default(), now, 7);
    s.set_listen_addr(SocketAddr::from(([127, 0, 0, 1], 7000)));
    let options = TorrentOptions {
        saved_complete: true,
        release_idle_after: options.release_idle_after.or(Some(RELEASE)),
        ..options
    };
    let t = s
        .add_torrent(now, TorrentSource::Metainfo(metainfo()), options)
        .unwrap();
    let seen = drain(&mut s, now, SAVED);
    (s, t, seen)
}

/// The session's bytes for `conn` go to `remote`.
fn deliver(s: &mut Session, conn: ConnId, remote: &mut wire::Connection, now: Instant) {
    pump(s, conn, remote, now);
}

#[test]
fn it_is_added_released_and_seeding_without_storage_stamps_or_check() {
    let t0 = Instant::now();
    let (s, t, seen) = restored(t0, TorrentOptions::default());
    assert_eq!(seen.opened, 0, "no storage opened");
    assert_eq!((seen.stamps, seen.checks), (0, 0), "no stamps, no check");
    assert!(seen.loads.is_empty(), "nothing loaded before a peer asks");
    assert!(
        !seen
            .events
            .iter()
            .any(|e| matches!(e, Event::Checking { .. } | Event::TorrentComplete { .. })),
        "{:?}",
        seen.events
    );
    let stats = s.torrent_stats(t).unwrap();
    assert_eq!(stats.phase, TorrentPhase::Seeding);
    assert_eq!(stats.pieces_have, PIECES);
    assert_eq!(stats.piece_count, PIECES);
    assert_eq!(stats.total_bytes, u64::from(PIECES * PIECE));
    assert_eq!(stats.have_bytes, stats.total_bytes);
}

#[test]
fn unchanged_stamps_serve_the_waiting_peer_without_a_check() {
    let t0 = Instant::now();
    let (mut s, t, _) = restored(t0, TorrentOptions::default());
    let (conn, mut remote) = arrive(&mut s, 9001, t0);
    let seen = drain(&mut s, t0, SAVED);
    assert_eq!(seen.loads, vec![(t, true)], "its resume data is asked for");
    assert_eq!(remote.phase(), wire::Phase::Handshaking, "held meanwhile");
    s.handle_loaded(t0, t, Ok(metainfo()), Some(resume()));
    let mut events = Vec::new();
    deliver(&mut s, conn, &mut remote, t0);
    let seen = drain(&mut s, t0, SAVED);
    events.extend(seen.events);
    assert_eq!((seen.opened, seen.stamps, seen.checks), (1, 1, 0));
    deliver(&mut s, conn, &mut remote, t0);
    assert_eq!(remote.phase(), wire::Phase::Established);
    remote.send_interested(t0).unwrap();
    deliver(&mut s, conn, &mut remote, t0);
    events.extend(drain(&mut s, t0, SAVED).events);
    assert!(
        !events
            .iter()
            .any(|e| matches!(e, Event::Unverified { .. } | Event::Checking { .. })),
        "trusted as saved: {events:?}"
    );
    assert!(!remote.peer_choking(), "served");
    let stats = s.torrent_stats(t).unwrap();
    assert_eq!(stats.phase, TorrentPhase::Seeding);
    assert_eq!(stats.pieces_have, PIECES);
    assert_eq!(stats.peers_connected, 1);
}

/// Loads the restored torrent for a peer with resume data `resume`, the file's stamp now
/// `disk`; the events that followed.
fn load_with(resume: Option<Vec<u8>>, disk: FileStamp) -> (Session, TorrentId, Vec<Event>) {
    let t0 = Instant::now();
    let (mut s, t, _) = restored(t0, TorrentOptions::default());
    let (_conn, _remote) = arrive(&mut s, 9002, t0);
    assert_eq!(drain(&mut s, t0, disk).loads, vec![(t, true)]);
    s.handle_loaded(t0, t, Ok(metainfo()), resume);
    let seen = drain(&mut s, t0, disk);
    (s, t, seen.events)
}

fn unverified(events: &[Event]) -> Vec<Untrusted> {
    events
        .iter()
        .filter_map(|e| match e {
            Event::Unverified { reason, .. } => Some(reason.clone()),
            _ => None,
        })
        .collect()
}

fn checked_all(events: &[Event]) -> bool {
    events
        .iter()
        .any(|e| matches!(e, Event::Checking { pieces, .. } if *pieces == PIECES))
        && events
            .iter()
            .any(|e| matches!(e, Event::Checked { have, .. } if *have == PIECES))
}

#[test]
fn a_changed_mtime_or_size_gets_its_pieces_hashed() {
    for disk in [
        FileStamp {
            mtime_secs: SAVED.mtime_secs + 1,
            ..SAVED
        },
        FileStamp {
            size: SAVED.size + 1,
            ..SAVED
        },
    ] {
        let (s, t, events) = load_with(Some(resume()), disk);
        assert_eq!(
            unverified(&events),
            vec![Untrusted::FilesChanged { files: 1 }]
        );
        assert!(checked_all(&events), "{events:?}");
        let stats = s.torrent_stats(t).unwrap();
        assert_eq!(
            stats.phase,
            TorrentPhase::Seeding,
            "good data: seeding again"
        );
        assert_eq!(stats.pieces_have, PIECES);
    }
}

#[test]
fn missing_or_corrupt_resume_data_gets_everything_hashed() {
    let (_, _, events) = load_with(None, SAVED);
    assert_eq!(unverified(&events), vec![Untrusted::NoResume]);
    assert!(checked_all(&events), "{events:?}");

    let (_, _, events) = load_with(Some(b"d7:versioni1e".to_vec()), SAVED);
    let reasons = unverified(&events);
    assert!(
        matches!(
            reasons.as_slice(),
            [Untrusted::Resume(ResumeError::Bencode(_))]
        ),
        "{reasons:?}"
    );
    assert!(checked_all(&events), "{events:?}");
}

/// A peer's side of a connection to the session, and what it was told of the session's
/// pieces.
struct Remote {
    conn: ConnId,
    wire: wire::Connection,
    seen: Vec<wire::Event>,
}

impl Remote {
    fn arrive(s: &mut Session, port: u16, now: Instant) -> Self {
        let (conn, wire) = arrive(s, port, now);
        Self {
            conn,
            wire,
            seen: Vec::new(),
        }
    }

    /// Whether it was told every piece at once: a have-all or a full bitfield, and no
    /// have-none or haves.
    fn told_all_at_once(&self) -> bool {
        !(self.seen.iter()).any(|e| matches!(e, wire::Event::HaveNone | wire::Event::Have(_)))
            && self.wire.peer_pieces().is_some_and(|p| p.count() == PIECES)
    }
}

/// The session's bytes go to `remotes` and theirs to the session until quiet.
fn told(s: &mut Session, remotes: &mut [&mut Remote], now: Instant) {
    for _ in 0..100 {
        let mut moved = false;
        while let Some(t) = s.poll_transmit() {
            if let Some(r) = remotes
                .iter_mut()
                .find(|r| t.dest == crate::session::Dest::Peer(r.conn))
            {
                r.wire.handle_input(now, &t.payload);
                moved = true;
            }
        }
        for r in remotes.iter_mut() {
            let told = std::iter::from_fn(|| r.wire.poll_event()).filter(|e| {
                matches!(
                    e,
                    wire::Event::Bitfield
                        | wire::Event::HaveAll
                        | wire::Event::HaveNone
                        | wire::Event::Have(_)
                )
            });
            r.seen.extend(told);
            while let Some(bytes) = r.wire.poll_transmit() {
                s.handle_peer_data(now, r.conn, bytes::BytesMut::from(&bytes[..]));
                moved = true;
            }
        }
        if !moved {
            break;
        }
    }
}

/// Every disk job queued, answered but for the `Check` jobs (returned, unanswered): the
/// files' stamps are `disk`.
fn answer_but_checks(s: &mut Session, now: Instant, disk: FileStamp) -> Vec<DiskJobKind> {
    let mut checks = Vec::new();
    loop {
        let mut done = Vec::new();
        while let Some(a) = s.poll_action() {
            if let Action::Disk(job) = a {
                match job.kind {
                    DiskJobKind::Stamps { reply } => done.push(reply.send(Ok(vec![Some(disk)]))),
                    DiskJobKind::Flush { reply, .. } => done.push(reply.send(Ok(()))),
                    k @ DiskJobKind::Check { .. } => checks.push(k),
                    _ => {}
                }
            }
        }
        while s.poll_event().is_some() {}
        if done.is_empty() {
            return checks;
        }
        for d in done {
            s.handle_completion(now, d);
        }
    }
}

#[test]
fn a_peer_waiting_for_a_trusted_load_is_held_until_the_stamps_then_told_every_piece() {
    let t0 = Instant::now();
    let (mut s, t, _) = restored(t0, TorrentOptions::default());
    let mut peer = Remote::arrive(&mut s, 9003, t0);
    assert_eq!(drain(&mut s, t0, SAVED).loads, vec![(t, true)]);
    s.handle_loaded(t0, t, Ok(metainfo()), Some(resume()));
    // The stamps are not answered yet: the peer hears nothing (not a have-none).
    told(&mut s, &mut [&mut peer], t0);
    assert_eq!(
        peer.wire.phase(),
        wire::Phase::Handshaking,
        "{:?}",
        peer.seen
    );
    assert!(answer_but_checks(&mut s, t0, SAVED).is_empty(), "trusted");
    told(&mut s, &mut [&mut peer], t0);
    assert_eq!(peer.wire.phase(), wire::Phase::Established);
    assert!(peer.told_all_at_once(), "{:?}", peer.seen);
}

#[test]
fn peers_of_an_untrusted_load_are_held_until_the_check_is_over_then_told_what_it_found() {
    let t0 = Instant::now();
    let (mut s, t, _) = restored(t0, TorrentOptions::default());
    let mut first = Remote::arrive(&mut s, 9004, t0);
    assert_eq!(drain(&mut s, t0, SAVED).loads, vec![(t, true)]);
    s.handle_loaded(t0, t, Ok(metainfo()), Some(resume()));
    let changed = FileStamp {
        mtime_secs: SAVED.mtime_secs + 1,
        ..SAVED
    };
    let checks = answer_but_checks(&mut s, t0, changed);
    assert!(!checks.is_empty(), "its pieces are hashed");
    // A peer arriving during the check waits as well (it would see a have-none).
    let mut late = Remote::arrive(&mut s, 9005, t0);
    told(&mut s, &mut [&mut first, &mut late], t0);
    for r in [&first, &late] {
        assert_eq!(r.wire.phase(), wire::Phase::Handshaking, "{:?}", r.seen);
    }
    for kind in checks {
        if let DiskJobKind::Check { pieces, reply } = kind {
            let good = pieces.iter().map(|(p, _)| *p).collect();
            s.handle_completion(t0, reply.send(Ok(good)));
        }
    }
    let _ = drain(&mut s, t0, changed);
    told(&mut s, &mut [&mut first, &mut late], t0);
    for r in [&first, &late] {
        assert_eq!(r.wire.phase(), wire::Phase::Established);
        assert!(r.told_all_at_once(), "{:?}", r.seen);
    }
    assert_eq!(s.torrent_stats(t).unwrap().peers_connected, 2);
}

#[test]
fn peers_held_for_a_check_are_closed_if_it_is_stopped_meanwhile() {
    let t0 = Instant::now();
    let (mut s, t, _) = restored(t0, TorrentOptions::default());
    let mut peer = Remote::arrive(&mut s, 9006, t0);
    assert_eq!(drain(&mut s, t0, SAVED).loads, vec![(t, true)]);
    s.handle_loaded(t0, t, Ok(metainfo()), None);
    let checks = answer_but_checks(&mut s, t0, SAVED);
    assert!(!checks.is_empty(), "no resume data: hashed");
    s.stop_torrent(t0, t);
    for kind in checks {
        if let DiskJobKind::Check { pieces, reply } = kind {
            let good = pieces.iter().map(|(p, _)| *p).collect();
            s.handle_completion(t0, reply.send(Ok(good)));
        }
    }
    let closed = drain(&mut s, t0, SAVED).closed;
    told(&mut s, &mut [&mut peer], t0);
    assert_ne!(peer.wire.phase(), wire::Phase::Established);
    assert_eq!(
        closed,
        vec![peer.conn],
        "closed, not left to its handshake timeout"
    );
}

#[test]
fn options_it_cannot_honour_add_it_as_usual() {
    let t0 = Instant::now();
    for options in [
        TorrentOptions {
            stopped: true,
            ..TorrentOptions::default()
        },
        TorrentOptions {
            seed_only: true,
            ..TorrentOptions::default()
        },
    ] {
        let (_, _, seen) = restored(t0, options);
        // Its storage opened and its stamps asked for at once (a stop's save asks again).
        assert_eq!(seen.opened, 1, "opened as usual");
        assert!(seen.stamps >= 1, "checked as usual");
    }
}

#[test]
fn a_torrent_never_released_is_added_as_usual() {
    // Without `release_idle_after` the application loads no metainfo back: a torrent added
    // released could never serve.
    let t0 = Instant::now();
    let mut s = Session::new(SessionConfig::default(), t0, 7);
    let options = TorrentOptions {
        saved_complete: true,
        ..TorrentOptions::default()
    };
    s.add_torrent(t0, TorrentSource::Metainfo(metainfo()), options)
        .unwrap();
    let seen = drain(&mut s, t0, SAVED);
    assert_eq!(seen.opened, 1, "opened as usual");
    assert!(seen.stamps >= 1, "checked as usual");
}

#[test]
fn verdict_reads_hostile_resume_data_into_typed_reasons() {
    let layout: Layout = metainfo().layout().clone();
    let stamps = [Some(SAVED)];
    assert_eq!(verdict(Some(&resume()), &layout, &stamps), Ok(()));
    assert_eq!(
        verdict(Some(&resume()), &layout, &[None]),
        Err(Untrusted::FilesChanged { files: 1 })
    );
    assert_eq!(
        verdict(Some(&resume()), &layout, &[]),
        Err(Untrusted::FilesChanged { files: 1 })
    );
    let half = ResumeData {
        pieces: {
            let mut p = crate::pieces::PieceSet::new(PIECES);
            p.insert(0);
            p
        },
        files: vec![Some(SAVED)],
        piece_layers: Default::default(),
    };
    assert_eq!(
        verdict(Some(&half.encode()), &layout, &stamps),
        Err(Untrusted::PiecesMissing { pieces: PIECES - 1 })
    );
    // Every prefix of good resume data, and bytes flipped in it, give an answer, no panic.
    let good = resume();
    for end in 0..good.len() {
        assert!(verdict(Some(&good[..end]), &layout, &stamps).is_err());
    }
    for i in 0..good.len() {
        let mut bad = good.clone();
        bad[i] ^= 0x5a;
        let _ = verdict(Some(&bad), &layout, &stamps);
    }
    assert!(matches!(
        verdict(Some(b"de"), &layout, &stamps),
        Err(Untrusted::Resume(ResumeError::Field(_)))
    ));
}
