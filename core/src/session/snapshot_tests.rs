//! Snapshots: a seeder's view of a connected leecher (address, client, flags, counts), the
//! pieces and per-file bytes of a partial download, and the trackers' status and the
//! torrent's error as announces fail and succeed.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::create::TorrentBuilder;
use crate::id::sha1_digest;
use crate::metainfo::{Metainfo, RelativePath};
use crate::session::upload::tests::{PIECE, PIECES, pump, seeder_and_leecher};
use crate::session::{
    Action, AnnounceResult, DiskJob, DiskJobKind, PeerSource, RequestId, Session, SessionConfig,
    SnapshotDetail, TorrentErrorKind, TorrentId, TorrentOptions, TorrentSource,
};
use crate::storage::FileStamp;
use crate::tracker::ResponseReader;

const ALL: SnapshotDetail = SnapshotDetail {
    pieces: true,
    files: true,
    peers: true,
    trackers: true,
};

#[test]
fn a_seeder_sees_its_leecher_with_client_flags_and_rates() {
    let now = Instant::now();
    let (mut s, t, conn, mut remote) = seeder_and_leecher(SessionConfig::default(), now);
    let block = crate::pieces::BlockRef {
        piece: 0,
        offset: 0,
        length: 16 * 1024,
    };
    remote.request(now, block).unwrap();
    pump(&mut s, conn, &mut remote, now);
    // The read job for the block: answer it so the block goes out.
    let mut served = false;
    while let Some(a) = s.poll_action() {
        if let Action::Disk(DiskJob {
            kind: DiskJobKind::Read { len, reply, .. },
            ..
        }) = a
        {
            let data = bytes::Bytes::from(vec![0u8; len as usize]);
            s.handle_completion(now, reply.send(Ok(data)));
            served = true;
        }
    }
    assert!(served, "the request became a read job");
    pump(&mut s, conn, &mut remote, now);

    let later = now + Duration::from_millis(600);
    let snap = s.torrent_snapshot(later, t, ALL).expect("the torrent");
    assert_eq!(snap.stats.pieces_have, PIECES);
    assert_eq!(snap.pieces.as_ref().map(|p| p.count()), Some(PIECES));
    assert_eq!(snap.file_bytes, vec![u64::from(PIECES * PIECE)]);
    assert_eq!(snap.desired_available, 0);
    assert_eq!(snap.corrupt_bytes, 0);
    assert_eq!(snap.error, None);
    assert!(snap.metainfo.is_some());
    let [peer] = snap.peers.as_slice() else {
        panic!("one peer: {:?}", snap.peers);
    };
    assert_eq!(peer.addr, SocketAddr::from(([127, 0, 0, 1], 9000)));
    assert!(peer.client.starts_with("sanstorrent "), "{}", peer.client);
    assert!(peer.incoming && !peer.encrypted);
    assert_eq!(peer.source, PeerSource::Incoming);
    assert!(!peer.am_choking && peer.peer_interested && !peer.am_interested);
    assert_eq!(peer.pieces, 0);
    assert_eq!(peer.uploaded, 16 * 1024);
    assert!(peer.upload_rate > 0 && peer.download_rate == 0, "{peer:?}");
    assert_eq!(
        (snap.peers_getting_from_us, snap.peers_sending_to_us),
        (1, 0)
    );

    let lean = s
        .torrent_snapshot(later, t, SnapshotDetail::default())
        .expect("the torrent");
    assert!(lean.pieces.is_none() && lean.file_bytes.is_empty() && lean.peers.is_empty());
    assert_eq!(lean.peers_getting_from_us, 1);
}

/// A two-file torrent (a.bin: 1.5 pieces, b.bin: 0.5 piece) with a tracker; pieces of
/// `PIECE` bytes.
fn two_files() -> Arc<Metainfo> {
    let piece = 32 * 1024u32;
    let files = vec![
        (RelativePath::from_components(["a.bin"]).unwrap(), 48 * 1024),
        (RelativePath::from_components(["b.bin"]).unwrap(), 16 * 1024),
    ];
    let b = TorrentBuilder::multi_file("two", files)
        .unwrap()
        .piece_length(piece)
        .tracker_tier(vec!["http://tracker.test/announce".into()]);
    let hashes = vec![sha1_digest(b"x"); 2];
    Arc::new(Metainfo::from_bytes(&b.build(&hashes).unwrap()).unwrap())
}

/// A session with `two_files` whose check found only `have`; its start-up done. Also the
/// announces it asked for.
fn partial(have: &[u32], now: Instant) -> (Session, TorrentId, Vec<RequestId>) {
    let mut announces = Vec::new();
    let mut s = Session::new(SessionConfig::default(), now, 3);
    s.set_listen_addr(SocketAddr::from(([127, 0, 0, 1], 7001)));
    let t = s
        .add_torrent(
            now,
            TorrentSource::Metainfo(two_files()),
            TorrentOptions::default(),
        )
        .unwrap();
    for _ in 0..4 {
        let mut jobs = Vec::new();
        while let Some(a) = s.poll_action() {
            match a {
                Action::Disk(DiskJob { kind, .. }) => jobs.push(kind),
                Action::HttpRequest { id, .. } => announces.push(id),
                _ => {}
            }
        }
        for kind in jobs {
            let done = match kind {
                DiskJobKind::Stamps { reply } => reply.send(Ok(vec![
                    Some(FileStamp {
                        size: 48 * 1024,
                        mtime_secs: 1,
                        mtime_nanos: 0,
                    }),
                    Some(FileStamp {
                        size: 16 * 1024,
                        mtime_secs: 1,
                        mtime_nanos: 0,
                    }),
                ])),
                DiskJobKind::Check { reply, .. } => reply.send(Ok(have.to_vec())),
                _ => continue,
            };
            s.handle_completion(now, done);
        }
    }
    (s, t, announces)
}

#[test]
fn per_file_bytes_count_each_files_share_of_verified_pieces() {
    let now = Instant::now();
    let (s, t, _) = partial(&[1], now);
    let snap = s.torrent_snapshot(now, t, ALL).unwrap();
    assert_eq!(snap.stats.pieces_have, 1);
    // Piece 1 holds a.bin's last 16 KiB and all of b.bin.
    assert_eq!(snap.file_bytes, vec![16 * 1024, 16 * 1024]);
    let bits = snap.pieces.unwrap();
    assert!(!bits.contains(0) && bits.contains(1));
    // No peer has piece 0.
    assert_eq!(snap.desired_available, 0);
}

/// Answers the session's HTTP announces (`pending`, and those it asks for now) with `body`.
fn answer_announce(s: &mut Session, now: Instant, pending: Vec<RequestId>, body: &[u8]) {
    let mut answered = false;
    let asked: Vec<RequestId> = std::iter::from_fn(|| s.poll_action())
        .filter_map(|a| match a {
            Action::HttpRequest { id, .. } => Some(id),
            _ => None,
        })
        .collect();
    for id in pending.into_iter().chain(asked) {
        {
            let mut raw =
                format!("HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n", body.len()).into_bytes();
            raw.extend_from_slice(body);
            let response = ResponseReader::new(1 << 16)
                .push(&raw)
                .unwrap()
                .expect("a whole response");
            s.handle_http_response(now, id, Ok(response));
            answered = true;
        }
    }
    assert!(answered, "an announce was sent");
}

#[test]
fn tracker_status_and_the_torrent_error_follow_the_announces() {
    let now = Instant::now();
    let (mut s, t, pending) = partial(&[], now);
    let snap = s.torrent_snapshot(now, t, ALL).unwrap();
    let [tracker] = snap.trackers.as_slice() else {
        panic!("one tracker: {:?}", snap.trackers);
    };
    assert_eq!(tracker.tracker.url, "http://tracker.test/announce");
    assert_eq!((tracker.tracker.id, tracker.tracker.tier), (0, 0));
    assert_eq!(tracker.last_announce, None);

    answer_announce(&mut s, now, pending, b"d14:failure reason6:deniede");
    let snap = s.torrent_snapshot(now, t, ALL).unwrap();
    let error = snap.error.expect("every tracker failed");
    assert_eq!(error.kind(), TorrentErrorKind::TrackerError);
    assert!(error.to_string().contains("denied"), "{error}");
    assert_eq!(snap.trackers[0].last_announce, Some(now));
    assert!(matches!(
        &snap.trackers[0].last_result,
        Some(AnnounceResult::Failed(m)) if m.to_string().contains("denied")
    ));

    // Time passes until the announcer tries again.
    let mut retry = now;
    let mut asked = Vec::new();
    while asked.is_empty() {
        retry = s.poll_timeout().expect("a retry is scheduled");
        assert!(
            retry < now + Duration::from_secs(3600),
            "no retry within an hour"
        );
        s.handle_timeout(retry);
        asked.extend(
            std::iter::from_fn(|| s.poll_action()).filter_map(|a| match a {
                Action::HttpRequest { id, .. } => Some(id),
                _ => None,
            }),
        );
    }
    answer_announce(
        &mut s,
        retry,
        asked,
        b"d8:completei3e10:incompletei5e8:intervali1800e5:peers0:15:warning message4:slowe",
    );
    let snap = s.torrent_snapshot(retry, t, ALL).unwrap();
    let error = snap.error.expect("the warning");
    assert_eq!(error.kind(), TorrentErrorKind::TrackerWarning);
    assert_eq!(error.to_string(), "slow");
    let tracker = &snap.trackers[0];
    assert_eq!(tracker.last_announce, Some(retry));
    assert_eq!(
        tracker.last_result,
        Some(AnnounceResult::Ok {
            peers: 0,
            warning: Some("slow".into())
        })
    );
    let swarm = tracker.swarm.expect("counts");
    assert_eq!((swarm.seeders, swarm.leechers), (3, 5));
    assert!(tracker.next_announce.is_some_and(|at| at > retry));
}

#[test]
fn a_failed_disk_job_is_the_torrents_error() {
    let now = Instant::now();
    let mut s = Session::new(SessionConfig::default(), now, 5);
    let t = s
        .add_torrent(
            now,
            TorrentSource::Metainfo(two_files()),
            TorrentOptions::default(),
        )
        .unwrap();
    let stamps = std::iter::from_fn(|| s.poll_action())
        .find_map(|a| match a {
            Action::Disk(DiskJob {
                kind: kind @ DiskJobKind::Stamps { .. },
                ..
            }) => Some(kind),
            _ => None,
        })
        .expect("a stamps job");
    let done = stamps.fail(crate::storage::StorageError::NoSuchFile(1));
    s.handle_completion(now, done);
    let error = s
        .torrent_snapshot(now, t, SnapshotDetail::default())
        .unwrap()
        .error
        .expect("the disk error");
    assert_eq!(error.kind(), TorrentErrorKind::Disk);
    assert!(!error.to_string().is_empty());
}

#[test]
fn an_unreachable_tracker_shows_in_its_status_only() {
    let now = Instant::now();
    let (mut s, t, pending) = partial(&[], now);
    assert!(!pending.is_empty(), "an announce was sent");
    for id in pending {
        let error = crate::tracker::TrackerError::Transport(
            crate::tracker::TransportError::Connect(std::io::ErrorKind::ConnectionRefused),
        );
        s.handle_http_response(now, id, Err(error));
    }
    let snap = s.torrent_snapshot(now, t, ALL).unwrap();
    assert_eq!(snap.error, None);
    assert!(matches!(
        &snap.trackers[0].last_result,
        Some(AnnounceResult::Failed(m)) if m.to_string().contains("connection refused")
    ));
}

#[test]
fn a_refusal_is_typed_and_shown_cut_at_the_limit() {
    let now = Instant::now();
    let (mut s, t, pending) = partial(&[], now);
    let reason = "x".repeat(2 * crate::session::MAX_TRACKER_MESSAGE);
    let body = format!("d14:failure reason{}:{reason}e", reason.len());
    answer_announce(&mut s, now, pending, body.as_bytes());
    let snap = s.torrent_snapshot(now, t, ALL).unwrap();
    let error = snap.error.expect("every tracker failed");
    let crate::session::TorrentError::TrackerRefused(refusal) = &error else {
        panic!("a tracker's refusal: {error:?}");
    };
    assert!(matches!(
        refusal,
        crate::tracker::TrackerError::Response(crate::tracker::http::ResponseError::Failure(r))
            if *r == reason
    ));
    assert_eq!(
        error.to_string().chars().count(),
        crate::session::MAX_TRACKER_MESSAGE
    );
    let Some(result) = &snap.trackers[0].last_result else {
        panic!("an announce result");
    };
    assert!(matches!(result, AnnounceResult::Failed(e) if *e == *refusal));
    assert_eq!(result.to_string(), error.to_string());
}
