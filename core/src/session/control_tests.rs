//! Start, stop, recheck, reannounce and remove on request, driven by hand: a disk that answers
//! every job at once (stamps of existing files, checks finding a chosen set good) and a
//! tracker that answers every announce.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::create::TorrentBuilder;
use crate::id::sha1_digest;
use crate::metainfo::Metainfo;
use crate::session::{
    Action, ControlError, DiskJobKind, Event, Session, SessionConfig, TorrentId, TorrentOptions,
    TorrentPhase, TorrentSource,
};
use crate::storage::FileStamp;
use crate::tracker::http::ResponseReader;

const PIECE: u32 = 16 * 1024;
const PIECES: u32 = 4;

fn metainfo() -> Arc<Metainfo> {
    let data: Vec<u8> = (0..PIECES * PIECE).map(|i| (i % 251) as u8).collect();
    let b = TorrentBuilder::single_file("t.bin", data.len() as u64)
        .unwrap()
        .piece_length(PIECE)
        .tracker_tier(vec!["http://tracker.test/announce".into()]);
    let hashes: Vec<_> = data.chunks(PIECE as usize).map(sha1_digest).collect();
    Arc::new(Metainfo::from_bytes(&b.build(&hashes).unwrap()).unwrap())
}

/// What one drive of the session saw.
#[derive(Default)]
struct Seen {
    events: Vec<Event>,
    opens: usize,
    announces: usize,
    saves: usize,
    checked: Vec<u32>,
}

/// A session and a disk whose files exist (or not), checks finding `good` pieces good.
struct Rig {
    s: Session,
    now: Instant,
    files_exist: bool,
    good: BTreeSet<u32>,
}

impl Rig {
    fn new() -> Self {
        let now = Instant::now();
        Self {
            s: Session::new(SessionConfig::default(), now, 7),
            now,
            files_exist: false,
            good: BTreeSet::new(),
        }
    }

    fn add(&mut self, options: TorrentOptions) -> TorrentId {
        let source = TorrentSource::Metainfo(metainfo());
        self.s.add_torrent(self.now, source, options).unwrap()
    }

    fn later(&mut self, secs: u64) {
        self.now += Duration::from_secs(secs);
        self.s.handle_timeout(self.now);
    }

    /// Answers every action until the session is quiet.
    fn drive(&mut self) -> Seen {
        let mut seen = Seen::default();
        for _ in 0..100 {
            let mut moved = false;
            while let Some(e) = self.s.poll_event() {
                seen.events.push(e);
                moved = true;
            }
            while self.s.poll_transmit().is_some() {}
            let mut actions = Vec::new();
            while let Some(a) = self.s.poll_action() {
                actions.push(a);
            }
            for a in actions {
                moved = true;
                match a {
                    Action::OpenStorage { .. } => seen.opens += 1,
                    Action::SaveResume { .. } => seen.saves += 1,
                    Action::HttpRequest { id, url, .. } => {
                        // Scrapes (after an announce) go to `/scrape`.
                        seen.announces += usize::from(url.path().contains("/announce"));
                        let body = b"d8:intervali1800e12:min intervali60e5:peers0:e";
                        let head =
                            format!("HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n", body.len());
                        let mut reader = ResponseReader::new(1 << 16);
                        let _ = reader.push(head.as_bytes());
                        let response = reader.push(body).unwrap().unwrap();
                        self.s.handle_http_response(self.now, id, Ok(response));
                    }
                    Action::Disk(job) => {
                        let done = match job.kind {
                            DiskJobKind::Stamps { reply } => {
                                let stamp = self.files_exist.then_some(FileStamp {
                                    size: u64::from(PIECES * PIECE),
                                    mtime_secs: 1,
                                    mtime_nanos: 0,
                                });
                                reply.send(Ok(vec![stamp]))
                            }
                            DiskJobKind::Check { pieces, reply } => {
                                seen.checked.extend(pieces.iter().map(|(p, _)| *p));
                                let good = pieces.iter().map(|(p, _)| *p);
                                reply.send(Ok(good.filter(|p| self.good.contains(p)).collect()))
                            }
                            DiskJobKind::Flush { reply } => reply.send(Ok(())),
                            DiskJobKind::Create { reply, .. } => reply.send(Ok(())),
                            DiskJobKind::Write { reply, .. } => reply.send(Ok(())),
                            DiskJobKind::Verify { reply, .. } => reply.send(Ok(true)),
                            other => panic!("unexpected job {other:?}"),
                        };
                        self.s.handle_completion(self.now, done);
                    }
                    _ => {}
                }
            }
            if !moved {
                return seen;
            }
        }
        panic!("the session never went quiet");
    }

    fn phase(&self, t: TorrentId) -> TorrentPhase {
        self.s.torrent_stats(t).unwrap().phase
    }

    fn have(&self, t: TorrentId) -> u32 {
        self.s.torrent_stats(t).unwrap().pieces_have
    }
}

fn stopped_events(seen: &Seen) -> usize {
    let stopped = |e: &&Event| matches!(e, Event::TorrentStopped { .. });
    seen.events.iter().filter(stopped).count()
}

#[test]
fn added_stopped_checks_its_data_then_stops_without_announcing_and_starts_on_request() {
    let mut r = Rig::new();
    r.files_exist = true;
    r.good = [0, 2].into();
    let t = r.add(TorrentOptions {
        stopped: true,
        ..TorrentOptions::default()
    });
    let seen = r.drive();
    assert_eq!(seen.checked, vec![0, 1, 2, 3], "its data is checked");
    assert_eq!(seen.announces, 0, "a torrent added stopped never announces");
    assert_eq!(stopped_events(&seen), 1);
    assert_eq!(r.phase(t), TorrentPhase::Stopped);
    assert_eq!(r.have(t), 2, "the check's result is kept while stopped");

    r.s.start_torrent(r.now, t).unwrap();
    let seen = r.drive();
    assert_eq!(seen.opens, 1, "the storage is opened again");
    assert!(seen.checked.is_empty(), "a start does not check again");
    assert_eq!(seen.announces, 1, "`started` is announced");
    assert_eq!(r.phase(t), TorrentPhase::Downloading);
    assert_eq!(r.have(t), 2);
}

#[test]
fn a_magnet_added_stopped_stops_at_once() {
    let mut r = Rig::new();
    let link = crate::magnet::MagnetLink::parse(
        "magnet:?xt=urn:btih:0123456789abcdef0123456789abcdef01234567&tr=http%3A%2F%2Ft.test%2Fannounce",
    )
    .unwrap();
    let options = TorrentOptions {
        stopped: true,
        ..TorrentOptions::default()
    };
    let t =
        r.s.add_torrent(r.now, TorrentSource::Magnet(link), options)
            .unwrap();
    let seen = r.drive();
    assert_eq!(seen.announces, 0);
    assert_eq!(stopped_events(&seen), 1);
    assert_eq!(r.phase(t), TorrentPhase::Stopped);
    r.s.start_torrent(r.now, t).unwrap();
    let seen = r.drive();
    assert_eq!(seen.announces, 1, "started, it looks for peers");
    assert_eq!(r.phase(t), TorrentPhase::FetchingMetadata);
}

#[test]
fn stop_then_start_keeps_the_verified_pieces_and_announces_again() {
    let mut r = Rig::new();
    r.files_exist = true;
    r.good = [1].into();
    let t = r.add(TorrentOptions::default());
    let seen = r.drive();
    assert_eq!(seen.announces, 1);
    assert_eq!(r.have(t), 1);

    r.s.stop_torrent(r.now, t);
    let seen = r.drive();
    assert_eq!(stopped_events(&seen), 1);
    assert!(seen.saves >= 1, "the stop saves resume data");
    assert_eq!(seen.announces, 1, "`stopped` is announced");
    assert_eq!(r.phase(t), TorrentPhase::Stopped);

    r.later(1);
    r.s.start_torrent(r.now, t).unwrap();
    let seen = r.drive();
    assert_eq!((seen.opens, seen.announces), (1, 1));
    assert!(seen.checked.is_empty(), "no recheck");
    assert_eq!(r.phase(t), TorrentPhase::Downloading);
    assert_eq!(r.have(t), 1);
    assert!(
        r.s.start_torrent(r.now, t).is_ok(),
        "starting a running torrent is harmless"
    );
    assert_eq!(r.drive().opens, 0);
}

#[test]
fn a_start_while_stopping_runs_once_stopped_and_a_stop_cancels_it() {
    let mut r = Rig::new();
    let t = r.add(TorrentOptions::default());
    r.drive();
    // Stopping waits for the tracker's answer to `stopped`: start before it comes.
    r.s.stop_torrent(r.now, t);
    r.s.start_torrent(r.now, t).unwrap();
    let seen = r.drive();
    assert_eq!(stopped_events(&seen), 0, "it never reports stopped");
    assert_eq!(r.phase(t), TorrentPhase::Downloading);
    assert_eq!(seen.opens, 1);

    r.s.stop_torrent(r.now, t);
    r.s.start_torrent(r.now, t).unwrap();
    r.s.stop_torrent(r.now, t);
    let seen = r.drive();
    assert_eq!(stopped_events(&seen), 1);
    assert_eq!(r.phase(t), TorrentPhase::Stopped);
}

#[test]
fn recheck_of_a_stopped_torrent_hashes_again_drops_failed_pieces_and_stays_stopped() {
    let mut r = Rig::new();
    r.files_exist = true;
    r.good = [0, 1, 2, 3].into();
    let t = r.add(TorrentOptions::default());
    r.drive();
    assert_eq!(r.phase(t), TorrentPhase::Seeding);
    r.s.stop_torrent(r.now, t);
    r.drive();

    r.good.remove(&2);
    r.s.recheck_torrent(r.now, t).unwrap();
    assert_eq!(r.phase(t), TorrentPhase::Checking);
    let seen = r.drive();
    assert_eq!(
        seen.checked,
        vec![0, 1, 2, 3],
        "every piece is hashed again"
    );
    assert_eq!(
        seen.announces, 0,
        "a stopped torrent's check does not announce"
    );
    assert_eq!(stopped_events(&seen), 1, "it stops again after the check");
    assert_eq!(r.phase(t), TorrentPhase::Stopped);
    assert_eq!(r.have(t), 3, "the piece that failed is dropped");
    let stats = r.s.torrent_stats(t).unwrap();
    assert_eq!(
        stats.pieces_checked, 3,
        "the check counts the pieces found good"
    );
}

#[test]
fn recheck_of_a_running_torrent_stops_checks_and_runs_on() {
    let mut r = Rig::new();
    r.files_exist = true;
    r.good = [0, 1, 2, 3].into();
    let t = r.add(TorrentOptions::default());
    r.drive();
    r.good = [3].into();
    r.s.recheck_torrent(r.now, t).unwrap();
    let seen = r.drive();
    assert_eq!(seen.checked, vec![0, 1, 2, 3]);
    assert_eq!(stopped_events(&seen), 0);
    assert_eq!(
        r.phase(t),
        TorrentPhase::Downloading,
        "the lost pieces are fetched again"
    );
    assert_eq!(r.have(t), 1);
    assert_eq!(seen.announces, 2, "`stopped`, then `started` again");
}

#[test]
fn reannounce_respects_the_minimum_interval() {
    let mut r = Rig::new();
    let t = r.add(TorrentOptions::default());
    assert_eq!(r.drive().announces, 1);
    r.s.reannounce(r.now, t).unwrap();
    assert_eq!(r.drive().announces, 0, "within the tracker's min interval");
    r.later(61);
    r.s.reannounce(r.now, t).unwrap();
    assert_eq!(r.drive().announces, 1, "past it, at once");
    r.s.reannounce(r.now, t).unwrap();
    r.s.reannounce(r.now, t).unwrap();
    assert_eq!(
        r.drive().announces,
        0,
        "repeated requests do not flood the tracker"
    );
    assert_eq!(
        r.s.reannounce(r.now, TorrentId(99)),
        Err(ControlError::UnknownTorrent(TorrentId(99)))
    );
}

#[test]
fn remove_stops_without_saving_then_forgets_the_torrent() {
    let mut r = Rig::new();
    let t = r.add(TorrentOptions::default());
    r.drive();
    r.s.remove_torrent(r.now, t).unwrap();
    let seen = r.drive();
    assert_eq!(seen.saves, 0, "no resume data for a torrent that leaves");
    let removed = seen
        .events
        .iter()
        .position(|e| matches!(e, Event::TorrentRemoved { torrent, .. } if *torrent == t));
    let stopped = seen
        .events
        .iter()
        .position(|e| matches!(e, Event::TorrentStopped { torrent } if *torrent == t));
    assert!(stopped.is_some() && removed > stopped, "{:?}", seen.events);
    assert!(r.s.torrent_stats(t).is_none());
    assert!(r.s.torrents().is_empty());
    assert_eq!(
        r.s.start_torrent(r.now, t),
        Err(ControlError::UnknownTorrent(t))
    );
    // The same torrent can be added again.
    let again = r.add(TorrentOptions::default());
    assert_ne!(again, t);

    // A stopped torrent leaves at once.
    r.s.stop_torrent(r.now, again);
    r.drive();
    r.s.remove_torrent(r.now, again).unwrap();
    let seen = r.drive();
    assert!(
        seen.events
            .iter()
            .any(|e| matches!(e, Event::TorrentRemoved { .. }))
    );
    assert!(r.s.torrents().is_empty());
}

#[test]
fn a_stopped_torrent_cannot_start_while_another_has_its_info_hash() {
    let mut r = Rig::new();
    let t = r.add(TorrentOptions::default());
    r.drive();
    r.s.stop_torrent(r.now, t);
    r.drive();
    let other = r.add(TorrentOptions::default());
    r.drive();
    assert!(matches!(
        r.s.start_torrent(r.now, t),
        Err(ControlError::Duplicate(_))
    ));
    assert_eq!(r.phase(other), TorrentPhase::Downloading);
    assert_eq!(r.phase(t), TorrentPhase::Stopped);
}

#[test]
fn a_batch_adds_each_torrent_as_one_add_would_in_order() {
    let mut r = Rig::new();
    r.files_exist = true;
    r.good = (0..PIECES).collect();
    let link = crate::magnet::MagnetLink::parse(
        "magnet:?xt=urn:btih:0123456789abcdef0123456789abcdef01234567&tr=http%3A%2F%2Ft.test%2Fannounce",
    )
    .unwrap();
    let stopped = TorrentOptions {
        stopped: true,
        ..TorrentOptions::default()
    };
    let batch = vec![
        (
            TorrentSource::Metainfo(metainfo()),
            TorrentOptions::default(),
        ),
        (TorrentSource::Magnet(link), stopped),
        // The first one again: refused in its place, the others still added.
        (
            TorrentSource::Metainfo(metainfo()),
            TorrentOptions::default(),
        ),
    ];
    let added = r.s.add_torrents(r.now, batch);
    assert_eq!(added.len(), 3);
    let (seed, magnet) = (*added[0].as_ref().unwrap(), *added[1].as_ref().unwrap());
    assert!(seed < magnet, "ids in the batch's order");
    assert!(added[2].is_err(), "a duplicate is refused: {:?}", added[2]);
    let seen = r.drive();
    assert_eq!(seen.opens, 1, "the .torrent's storage opens");
    assert_eq!(seen.announces, 1, "only the running one announces");
    assert_eq!(stopped_events(&seen), 1, "the magnet added stopped stops");
    assert_eq!(r.phase(seed), TorrentPhase::Seeding);
    assert_eq!(r.have(seed), PIECES);
    assert_eq!(r.phase(magnet), TorrentPhase::Stopped);
}
