//! Interop: metadata exchange (BEP 9) over real TCP on 127.0.0.1 with libtorrent, both ways.
//! - We know only the info-hash: our `MetadataFetcher`, driving a `wire::Connection`, fetches
//!   the info dictionary (several 16 KiB pieces) from a libtorrent seeder and verifies it.
//! - libtorrent knows only a magnet link with our address: it fetches the metadata from our
//!   `MetadataServer` and prints `METADATA`.

use std::io::{ErrorKind, Read, Write};
use std::net::{IpAddr, Ipv4Addr, TcpListener, TcpStream};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use sanstorrent_core::bencode;
use sanstorrent_core::extensions::{
    FetchEvent, FetcherConfig, MetadataFetcher, MetadataMessage, MetadataServer, UT_METADATA,
};
use sanstorrent_core::metainfo::Metainfo;
use sanstorrent_core::wire::{Config, Connection, Event, PieceGeometry, TorrentParams};
use sanstorrent_core::{InfoHash, PeerId, Rng};
use sanstorrent_tests::interop::{WorkDir, lt_peer, lt_seeder, mktorrent};

/// 30 MB in 16 KiB pieces: 1832 piece hashes, so the info dictionary spans 3 metadata pieces.
const SIZE: &str = "30000000";
const PIECE_LEN: &str = "16384";

/// Makes the seed data and torrent; returns the raw `info` bytes.
fn make_torrent(work: &WorkDir) -> (std::path::PathBuf, std::path::PathBuf, Vec<u8>) {
    let seed_dir = work.join("seed");
    let torrent_path = work.join("m.torrent");
    mktorrent(&[
        "both",
        "--layout",
        "single",
        "--dir",
        seed_dir.to_str().expect("utf-8 path"),
        "--size",
        SIZE,
        "--seed",
        "21",
        "--piece-size",
        PIECE_LEN,
        "--torrent",
        torrent_path.to_str().expect("utf-8 path"),
    ]);
    let bytes = std::fs::read(&torrent_path).expect("read .torrent");
    let root = bencode::decode(&bytes).expect("valid bencode");
    let info = root.get(b"info").expect("info dictionary").raw().to_vec();
    assert!(info.len() > 2 * 16384, "want several metadata pieces");
    (seed_dir, torrent_path, info)
}

fn config() -> Arc<Config> {
    let mut config = Config::new(PeerId::generate(&mut Rng::new(7)));
    config.extensions.register(UT_METADATA);
    Arc::new(config)
}

/// Moves bytes between `conn` and `stream` once: writes what is queued, reads what arrived.
fn pump(conn: &mut Connection, stream: &mut TcpStream, buf: &mut [u8]) {
    while let Some(bytes) = conn.poll_transmit() {
        stream.write_all(&bytes).expect("write to libtorrent");
    }
    match stream.read(buf) {
        Ok(0) => conn.handle_eof(Instant::now()),
        Ok(n) => conn.handle_input(Instant::now(), &buf[..n]),
        Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
        Err(e) => panic!("read from libtorrent: {e}"),
    }
    if conn.poll_timeout().is_some_and(|t| t <= Instant::now()) {
        conn.handle_timeout(Instant::now());
    }
}

#[test]
fn fetch_metadata_from_libtorrent() {
    let work = WorkDir::new("utmeta-fetch");
    let (seed_dir, torrent_path, info) = make_torrent(&work);
    let info_hash = InfoHash::of_info(&info);
    let (seeder, port) = lt_seeder(
        &work,
        "seeder",
        60,
        &torrent_path,
        &seed_dir,
        &["--no-tracker"],
    );

    let mut stream = TcpStream::connect(("127.0.0.1", port)).expect("connect to libtorrent");
    stream
        .set_read_timeout(Some(Duration::from_millis(20)))
        .expect("read timeout");
    stream.set_nodelay(true).expect("nodelay");
    let config = config();
    let our_id = config.extensions.id(UT_METADATA).expect("registered");
    // A magnet download: no geometry, no metadata yet.
    let mut conn = Connection::outbound(
        Instant::now(),
        config,
        Some(IpAddr::V4(Ipv4Addr::LOCALHOST)),
        TorrentParams {
            info_hash,
            geometry: None,
            our_pieces: None,
            metadata_size: None,
            v2: None,
        },
    )
    .expect("outbound connection");
    let mut fetcher: MetadataFetcher<u32> =
        MetadataFetcher::new(info_hash, FetcherConfig::default());
    let server = MetadataServer::new();
    let mut log = Vec::new();
    let mut buf = vec![0u8; 64 * 1024];
    let deadline = Instant::now() + Duration::from_secs(30);
    let fetched = 'run: loop {
        assert!(
            Instant::now() < deadline,
            "no metadata within 30 s; events: {log:?}\nseeder log:\n{}",
            seeder.output()
        );
        pump(&mut conn, &mut stream, &mut buf);
        let now = Instant::now();
        if fetcher.poll_timeout().is_some_and(|t| t <= now) {
            fetcher.handle_timeout(now);
        }
        while let Some(event) = conn.poll_event() {
            log.push(format!("{event:?}").chars().take(200).collect::<String>());
            match event {
                Event::ExtendedHandshake(hs) => {
                    assert!(hs.extensions.id(UT_METADATA).is_some(), "{hs:?}");
                    assert_eq!(hs.metadata_size, Some(info.len() as u64));
                    fetcher
                        .add_peer(now, 0, hs.metadata_size)
                        .expect("plausible size");
                }
                Event::ExtendedMessage { id, payload } if id == our_id => {
                    let message = MetadataMessage::parse(&payload).expect("valid ut_metadata");
                    if let Some(reply) = server.handle_message(&message) {
                        conn.send_extended(now, UT_METADATA, reply).expect("reply");
                    }
                    fetcher.handle_message(now, 0, &message);
                }
                Event::Closed(reason) => panic!(
                    "connection closed: {reason}; events: {log:?}\nseeder log:\n{}",
                    seeder.output()
                ),
                Event::Misbehaved(m) => panic!("libtorrent misbehaved? {m}"),
                _ => {}
            }
        }
        while let Some((peer, payload)) = fetcher.poll_transmit() {
            assert_eq!(peer, 0);
            conn.send_extended(now, UT_METADATA, payload)
                .expect("send request");
        }
        match fetcher.poll_event() {
            Some(FetchEvent::Complete(bytes)) => break 'run bytes,
            Some(other) => panic!("fetcher: {other:?}"),
            None => {}
        }
    };
    assert_eq!(&fetched[..], &info[..]);
    let meta = Metainfo::from_info_bytes(&fetched).expect("parses");
    assert_eq!(meta.info_hash(), info_hash);
    assert_eq!(meta.piece_length(), 16384);
    assert_eq!(conn.misbehaviour_score(), 0);
}

#[test]
fn libtorrent_fetches_metadata_from_us() {
    let work = WorkDir::new("utmeta-serve");
    let (_seed_dir, _torrent, info) = make_torrent(&work);
    let meta = Metainfo::from_info_bytes(&info).expect("valid info");
    let info_hash = meta.info_hash();
    let server = MetadataServer::with_info(Bytes::from(info.clone())).expect("servable");
    let geometry = PieceGeometry::new(meta.piece_length(), meta.total_length()).expect("geometry");

    let listener = TcpListener::bind("127.0.0.1:0").expect("listen");
    let our_port = listener.local_addr().expect("bound").port();
    let magnet = format!("magnet:?xt=urn:btih:{}", info_hash.to_hex());
    let peer_arg = format!("127.0.0.1:{our_port}");
    let leecher = lt_peer(
        &work,
        "leecher",
        60,
        &[
            "--magnet",
            &magnet,
            "--save",
            work.join("out").to_str().expect("utf-8 path"),
            "--peer",
            &peer_arg,
            "--no-tracker",
        ],
    );
    listener.set_nonblocking(true).expect("nonblocking");
    let deadline = Instant::now() + Duration::from_secs(30);
    let config = config();
    let our_id = config.extensions.id(UT_METADATA).expect("registered");
    let mut served = 0;
    let mut log = Vec::new();
    let mut buf = vec![0u8; 64 * 1024];
    // libtorrent dials with an encrypted handshake first (which we do not speak), sees us
    // close, and dials again in plain text: serve every connection it makes.
    let mut current: Option<(TcpStream, Connection)> = None;
    loop {
        assert!(
            Instant::now() < deadline,
            "libtorrent printed no METADATA within 30 s; events: {log:?}\nleecher log:\n{}",
            leecher.output()
        );
        if leecher.output().lines().any(|l| l.starts_with("METADATA ")) {
            break;
        }
        let Some((stream, conn)) = current.as_mut() else {
            match listener.accept() {
                Ok((stream, remote)) => {
                    stream.set_nonblocking(false).expect("blocking");
                    stream
                        .set_read_timeout(Some(Duration::from_millis(20)))
                        .expect("read timeout");
                    stream.set_nodelay(true).expect("nodelay");
                    let conn =
                        Connection::inbound(Instant::now(), config.clone(), Some(remote.ip()));
                    current = Some((stream, conn));
                }
                Err(e) if e.kind() == ErrorKind::WouldBlock => {
                    std::thread::sleep(Duration::from_millis(20));
                }
                Err(e) => panic!("accept: {e}"),
            }
            continue;
        };
        pump(conn, stream, &mut buf);
        let now = Instant::now();
        let mut closed = false;
        while let Some(event) = conn.poll_event() {
            log.push(format!("{event:?}").chars().take(200).collect::<String>());
            match event {
                Event::HandshakeReceived { info_hash: ih, .. } => {
                    assert_eq!(ih, info_hash);
                    conn.accept(
                        now,
                        TorrentParams {
                            info_hash,
                            geometry: Some(geometry),
                            our_pieces: None,
                            metadata_size: server.metadata_size(),
                            v2: None,
                        },
                    )
                    .expect("accept");
                }
                Event::ExtendedMessage { id, payload } if id == our_id => {
                    let message = MetadataMessage::parse(&payload).expect("valid ut_metadata");
                    let reply = server.handle_message(&message).expect("a request");
                    conn.send_extended(now, UT_METADATA, reply).expect("reply");
                    served += 1;
                }
                Event::Closed(_) => closed = true,
                _ => {}
            }
        }
        if closed {
            current = None;
        }
    }
    let line = leecher.wait_for_line("METADATA ", Duration::from_secs(1));
    assert!(line.contains(&info_hash.to_hex()), "{line}");
    assert!(served >= 3, "served {served} pieces; events: {log:?}");
}
