//! Snapshots: a seeder's view of a connected leecher (address, client, flags, counts), the
//! pieces and per-file bytes of a partial download, the trackers' status and the torrent's
//! error as announces fail and succeed, how scrapes went, each piece's availability, and a
//! peer dialled at the port its extension handshake gave (`Ltep`).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::create::TorrentBuilder;
use crate::id::PeerId;
use crate::id::sha1_digest;
use crate::metainfo::{Metainfo, RelativePath};
use crate::pieces::PieceSet;
use crate::session::test_support::add_leecher;
use crate::session::upload::tests::{PIECE, PIECES, pump, seeder_and_leecher};
use crate::session::{
    Action, AnnounceResult, ConnId, Dest, DiskJob, DiskJobKind, PeerSource, RequestId, Session,
    SessionConfig, SnapshotDetail, TorrentErrorKind, TorrentId, TorrentOptions, TorrentSource,
};
use crate::storage::FileStamp;
use crate::tracker::ResponseReader;
use crate::wire;

const ALL: SnapshotDetail = SnapshotDetail {
    pieces: true,
    files: true,
    peers: true,
    trackers: true,
    availability: true,
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

/// Moves bytes between the session's `conn` and `remote` until quiet; the remote takes the
/// torrent when the session's handshake names it, having `pieces`.
fn exchange(
    s: &mut Session,
    conn: ConnId,
    remote: &mut wire::Connection,
    now: Instant,
    pieces: &PieceSet,
) {
    let meta = crate::session::upload::tests::metainfo();
    for _ in 0..100 {
        let mut moved = false;
        while let Some(t) = s.poll_transmit() {
            if t.dest == Dest::Peer(conn) {
                remote.handle_input(now, &t.payload);
                moved = true;
            }
        }
        while let Some(e) = remote.poll_event() {
            if let wire::Event::HandshakeReceived { info_hash, .. } = e {
                let params = wire::TorrentParams {
                    info_hash,
                    geometry: Some(wire::PieceGeometry::of_layout(meta.layout())),
                    our_pieces: Some(pieces),
                    metadata_size: None,
                    v2: None,
                };
                remote
                    .accept(now, params)
                    .expect("the remote takes the torrent");
            }
        }
        while let Some(bytes) = remote.poll_transmit() {
            s.handle_peer_data(now, conn, bytes::BytesMut::from(&bytes[..]));
            moved = true;
        }
        if !moved {
            break;
        }
    }
}

#[test]
fn availability_counts_peers_per_piece_and_a_peer_met_again_at_its_ltep_port_is_from_ltep() {
    use crate::session::upload::tests::{PIECES, metainfo};
    let now = Instant::now();
    let meta = metainfo();
    let mut s = Session::new(SessionConfig::default(), now, 9);
    s.set_listen_addr(SocketAddr::from(([127, 0, 0, 1], 7003)));
    let t = add_leecher(&mut s, now, &meta);
    let mut second = PieceSet::new(PIECES);
    second.insert(1);

    // A peer with piece 1 connects to us and says in its extension handshake that it
    // listens on port 7777.
    let mut config = wire::Config::new(PeerId(*b"-XX0001-ltep00000001"));
    config.listen_port = Some(7777);
    let params = wire::TorrentParams {
        info_hash: meta.info_hash(),
        geometry: Some(wire::PieceGeometry::of_layout(meta.layout())),
        our_pieces: Some(&second),
        metadata_size: None,
        v2: None,
    };
    let mut remote = wire::Connection::outbound(now, Arc::new(config), None, params).unwrap();
    let conn = s
        .handle_accept(now, SocketAddr::from(([127, 0, 0, 2], 50_000)))
        .expect("accepted");
    exchange(&mut s, conn, &mut remote, now, &second);
    let snap = s.torrent_snapshot(now, t, ALL).unwrap();
    assert_eq!(snap.availability, vec![0, 1], "only piece 1 is out there");
    let [peer] = snap.peers.as_slice() else {
        panic!("one peer: {:?}", snap.peers);
    };
    assert_eq!(peer.source, PeerSource::Incoming);
    let lean = s.torrent_snapshot(now, t, SnapshotDetail::default());
    assert!(
        lean.unwrap().availability.is_empty(),
        "built only when asked"
    );
    let counts = SnapshotDetail {
        availability: true,
        ..SnapshotDetail::default()
    };
    let counted = s.torrent_snapshot(now, t, counts).unwrap();
    assert_eq!(counted.availability, vec![0, 1]);
    assert_eq!(
        counted.pieces.map(|p| p.count()),
        Some(0),
        "the pieces come with them"
    );

    // It goes; the session dials it back at the port it gave.
    s.handle_peer_closed(now, conn);
    let listen = SocketAddr::from(([127, 0, 0, 2], 7777));
    let mut at = now;
    let dial = loop {
        let dial = std::iter::from_fn(|| s.poll_action()).find_map(|a| match a {
            Action::Connect { conn, addr } if addr == listen => Some(conn),
            _ => None,
        });
        if let Some(dial) = dial {
            break dial;
        }
        at = s.poll_timeout().expect("a timer");
        assert!(
            at < now + Duration::from_secs(600),
            "never dialled {listen}"
        );
        s.handle_timeout(at);
    };
    s.handle_connected(at, dial, Ok(()));
    let config = Arc::new(wire::Config::new(PeerId(*b"-XX0001-ltep00000001")));
    let mut back = wire::Connection::inbound(at, config, None);
    exchange(&mut s, dial, &mut back, at, &second);
    let snap = s.torrent_snapshot(at, t, ALL).unwrap();
    let [peer] = snap.peers.as_slice() else {
        panic!("one peer: {:?}", snap.peers);
    };
    assert_eq!((peer.addr, peer.incoming), (listen, false));
    assert_eq!(
        peer.source,
        PeerSource::Ltep,
        "learnt from its extension handshake"
    );
    assert_eq!(snap.availability, vec![0, 1]);
}

/// Answers the session's HTTP request `id` with a 200 and `body`.
fn respond(s: &mut Session, now: Instant, id: RequestId, body: &[u8]) {
    let mut raw = format!("HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n", body.len()).into_bytes();
    raw.extend_from_slice(body);
    let response = ResponseReader::new(1 << 16)
        .push(&raw)
        .unwrap()
        .expect("a whole response");
    s.handle_http_response(now, id, Ok(response));
}

/// The scrape request the session sends now (its id).
fn scrape_request(s: &mut Session) -> RequestId {
    std::iter::from_fn(|| s.poll_action())
        .find_map(|a| match a {
            Action::HttpRequest { id, url, .. } if url.to_string().contains("/scrape") => Some(id),
            _ => None,
        })
        .expect("a scrape request")
}

#[test]
fn scrape_status_shows_when_and_how_each_scrape_went() {
    let now = Instant::now();
    let (mut s, t, pending) = partial(&[], now);
    let tracker = s.torrent_snapshot(now, t, ALL).unwrap().trackers.remove(0);
    assert_eq!(
        tracker.scrape, None,
        "not scraped before an announce answered"
    );
    assert!(!tracker.in_use);

    answer_announce(&mut s, now, pending, b"d8:intervali1800e5:peers0:e");
    let rid = scrape_request(&mut s);
    let tracker = s.torrent_snapshot(now, t, ALL).unwrap().trackers.remove(0);
    assert!(tracker.in_use, "it answered the announce");
    let scrape = tracker.scrape.expect("a scrape started");
    assert!(scrape.active && scrape.next.is_none() && scrape.last_result.is_none());
    assert_eq!(scrape.last_start, Some(now));

    let hash = two_files().info_hash();
    let mut body = b"d5:filesd20:".to_vec();
    body.extend_from_slice(&hash.0);
    body.extend_from_slice(b"d8:completei3e10:downloadedi9e11:downloadersi2e10:incompletei4eeee");
    let answered = now + Duration::from_millis(300);
    respond(&mut s, answered, rid, &body);
    let scrape = s.torrent_snapshot(answered, t, ALL).unwrap().trackers[0]
        .scrape
        .clone()
        .expect("scraped");
    let counts = crate::session::SwarmCounts {
        seeders: 3,
        leechers: 4,
        downloaded: 9,
    };
    assert_eq!(scrape.last_result, Some((answered, Ok(counts))));
    assert_eq!(scrape.downloaders, Some(2));
    assert!(!scrape.active);
    let next = scrape.next.expect("the next scrape is planned");
    assert!(next > answered, "{next:?}");

    // The next scrape fails: why shows, the counts stay.
    let mut at = answered;
    while at < next {
        at = s.poll_timeout().expect("a timer");
        s.handle_timeout(at);
    }
    let rid = scrape_request(&mut s);
    let error = crate::tracker::TrackerError::Transport(crate::tracker::TransportError::Connect(
        std::io::ErrorKind::ConnectionRefused,
    ));
    s.handle_http_response(at, rid, Err(error));
    let tracker = s.torrent_snapshot(at, t, ALL).unwrap().trackers.remove(0);
    let scrape = tracker.scrape.expect("scraped");
    assert!(
        matches!(&scrape.last_result, Some((when, Err(why))) if *when == at && why.contains("refused")),
        "{scrape:?}"
    );
    assert_eq!(scrape.downloaders, Some(2));
    assert_eq!(tracker.swarm.map(|c| c.seeders), Some(3));
}
