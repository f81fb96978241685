//! A seeding torrent whose disk fails under it: data gone from disk (file deleted or
//! truncated) makes it check itself again, show why, and save resume data that claims only
//! what is still there; any other read error stops it with a disk error, which the next start clears.

use std::io;
use std::time::Instant;

use crate::pieces::BlockRef;
use crate::session::upload::tests::{PIECE, PIECES, pump, seeder_and_leecher};
use crate::session::{
    Action, DiskJob, DiskJobKind, Event, Session, SessionConfig, SessionError, SnapshotDetail,
    TorrentId, TorrentPhase,
};
use crate::session::{TorrentError, TorrentErrorKind};
use crate::storage::{FileStamp, IoOp, ResumeData, StorageError};

/// The stamp of the torrent's one file at `size` bytes.
fn stamp(size: u64) -> Option<FileStamp> {
    Some(FileStamp {
        size,
        mtime_secs: 2,
        mtime_nanos: 0,
    })
}

/// What the session did while its disk answered: flushes succeed, stamps are `stamps`, a
/// check finds the pieces below `good_below`.
#[derive(Default)]
struct Seen {
    events: Vec<Event>,
    saved: Vec<Vec<u8>>,
    reads: Vec<DiskJobKind>,
}

fn answer(s: &mut Session, now: Instant, size: u64, good_below: u32) -> Seen {
    let mut seen = Seen::default();
    for _ in 0..20 {
        let mut jobs = Vec::new();
        while let Some(a) = s.poll_action() {
            match a {
                Action::Disk(DiskJob { kind, .. }) => jobs.push(kind),
                Action::SaveResume { data, .. } => seen.saved.push(data),
                _ => {}
            }
        }
        while let Some(e) = s.poll_event() {
            seen.events.push(e);
        }
        if jobs.is_empty() {
            break;
        }
        for kind in jobs {
            let done = match kind {
                DiskJobKind::Flush { reply } => reply.send(Ok(())),
                DiskJobKind::Stamps { reply } => reply.send(Ok(vec![stamp(size)])),
                DiskJobKind::Check { pieces, reply } => reply.send(Ok(pieces
                    .iter()
                    .map(|(p, _)| *p)
                    .filter(|p| *p < good_below)
                    .collect())),
                read @ DiskJobKind::Read { .. } => {
                    seen.reads.push(read);
                    continue;
                }
                other => panic!("unexpected job {other:?}"),
            };
            s.handle_completion(now, done);
        }
    }
    seen
}

/// The seeder with a leecher that asked for block 0 of piece 1, and the read job for it.
fn seeder_asked_for_piece_1(now: Instant) -> (Session, TorrentId, DiskJobKind) {
    let (mut s, t, conn, mut remote) = seeder_and_leecher(SessionConfig::default(), now);
    remote.request(now, BlockRef::new(1, 0, 16 * 1024)).unwrap();
    pump(&mut s, conn, &mut remote, now);
    let mut seen = answer(&mut s, now, u64::from(PIECES * PIECE), PIECES);
    assert_eq!(seen.reads.len(), 1, "one read for the request");
    (s, t, seen.reads.remove(0))
}

fn read_error(kind: io::Error) -> StorageError {
    StorageError::io(IoOp::Read, "t.bin", kind)
}

#[test]
fn data_missing_under_a_seed_rechecks_and_the_saved_resume_claims_only_what_is_there() {
    let now = Instant::now();
    let (mut s, t, read) = seeder_asked_for_piece_1(now);
    // The file was truncated to its first piece: reading piece 1 finds its end.
    let eof = read_error(io::ErrorKind::UnexpectedEof.into());
    s.handle_completion(now, read.fail(eof));
    let seen = answer(&mut s, now, u64::from(PIECE), 1);

    let missing = seen.events.iter().find_map(|e| match e {
        Event::Error {
            torrent: Some(id),
            error: error @ SessionError::DataMissing { piece: 1, .. },
        } if *id == t => Some(error.to_string()),
        _ => None,
    });
    let message = missing.expect("a data-missing error");
    assert!(message.contains("checking the torrent again"), "{message}");
    // The stop before the check saved resume data without the pieces past the cut.
    assert_eq!(seen.saved.len(), 1, "one save, at the stop");
    let layout = crate::layout::Layout::new(PIECE, [(u64::from(PIECES * PIECE), false)]).unwrap();
    let saved = ResumeData::decode(&seen.saved[0], &layout).unwrap();
    assert_eq!(
        saved.pieces.iter().collect::<Vec<_>>(),
        [0],
        "piece 0 lies wholly before the cut"
    );
    // Then the check found what is there, and the torrent runs on with it.
    assert!(
        seen.events
            .iter()
            .any(|e| matches!(e, Event::Checked { torrent, have: 1, all: false } if *torrent == t)),
        "{:?}",
        seen.events
    );
    assert!(
        !seen
            .events
            .iter()
            .any(|e| matches!(e, Event::TorrentStopped { .. })),
        "a recheck is no stop"
    );
    let stats = s.torrent_stats(t).unwrap();
    assert_eq!(stats.pieces_have, 1);
    assert_eq!(
        stats.phase,
        TorrentPhase::Downloading,
        "runs on with what it has"
    );
    // The front end shows why it checked again (qBittorrent's `missingFiles`).
    let snap = s
        .torrent_snapshot(now, t, SnapshotDetail::default())
        .unwrap();
    let error = snap.error.expect("the torrent shows what went missing");
    assert!(
        matches!(error, TorrentError::DataMissing { piece: 1, .. }),
        "{error:?}"
    );
    assert_eq!(error.kind(), TorrentErrorKind::Disk);
    assert!(error.to_string().contains("reading t.bin"), "{error}");
}

#[test]
fn a_read_error_stops_the_seed_with_a_disk_error_that_a_start_clears() {
    let now = Instant::now();
    let (mut s, t, read) = seeder_asked_for_piece_1(now);
    let eio = read_error(io::Error::from_raw_os_error(5));
    s.handle_completion(now, read.fail(eio));
    let full = u64::from(PIECES * PIECE);
    let seen = answer(&mut s, now, full, PIECES);

    let disk = seen.events.iter().any(|e| {
        matches!(e, Event::Error { torrent: Some(id), error: SessionError::Disk(err) }
            if *id == t && err.to_string().contains("reading t.bin"))
    });
    assert!(disk, "{:?}", seen.events);
    assert!(
        seen.events
            .iter()
            .any(|e| matches!(e, Event::TorrentStopped { torrent } if *torrent == t))
    );
    assert_eq!(s.torrent_stats(t).unwrap().phase, TorrentPhase::Stopped);
    let error = s
        .torrent_snapshot(now, t, SnapshotDetail::default())
        .unwrap()
        .error
        .expect("the torrent's error");
    assert_eq!(error.kind(), TorrentErrorKind::Disk);
    assert!(error.to_string().contains("reading t.bin"), "{error}");
    // The data was not lost: the stop saved every piece.
    let layout = crate::layout::Layout::new(PIECE, [(full, false)]).unwrap();
    let saved = ResumeData::decode(seen.saved.last().unwrap(), &layout).unwrap();
    assert!(saved.pieces.is_full());

    // Started again (the disk repaired): the error is over.
    s.start_torrent(now, t).unwrap();
    answer(&mut s, now, full, PIECES);
    assert_eq!(s.torrent_stats(t).unwrap().phase, TorrentPhase::Seeding);
    let snap = s
        .torrent_snapshot(now, t, SnapshotDetail::default())
        .unwrap();
    assert_eq!(snap.error, None);
}
