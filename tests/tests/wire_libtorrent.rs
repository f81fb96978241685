//! Interop: our Sans-IO connection state machine, driven over a real TCP socket on 127.0.0.1,
//! against a libtorrent seeder. Handshake, extended handshake, have-all/bitfield, interest,
//! unchoke, then every block of every piece (piece 0 first), each piece checked against the
//! torrent's SHA-1.

use std::io::{ErrorKind, Read, Write};
use std::net::{IpAddr, Ipv4Addr, TcpStream};
use std::sync::Arc;
use std::time::{Duration, Instant};

use sanstorrent_core::bencode;
use sanstorrent_core::extensions::UT_METADATA;
use sanstorrent_core::id::sha1_digest;
use sanstorrent_core::pieces::BlockRef;
use sanstorrent_core::wire::{Config, Connection, Event, PieceGeometry, TorrentParams};
use sanstorrent_core::{InfoHash, PeerId, Rng};
use sanstorrent_tests::interop::{WorkDir, lt_seeder, mktorrent};

const PIECE_LEN: u32 = 32 * 1024;
const BLOCK: u32 = 16 * 1024;

/// What the test needs from the .torrent (decoded with core's bencode directly).
struct Torrent {
    info_hash: InfoHash,
    piece_length: u32,
    length: u64,
    pieces: Vec<[u8; 20]>,
}

fn read_torrent(path: &std::path::Path) -> Torrent {
    let bytes = std::fs::read(path).expect("read .torrent");
    let root = bencode::decode(&bytes).expect("valid bencode");
    let info = root.get(b"info").expect("info dictionary");
    let dict = info.as_dict().expect("info is a dictionary");
    let pieces = dict.bytes(b"pieces").expect("pieces");
    assert_eq!(pieces.len() % 20, 0);
    Torrent {
        info_hash: InfoHash::of_info(info.raw()),
        piece_length: u32::try_from(dict.int(b"piece length").expect("piece length"))
            .expect("piece length fits"),
        length: u64::try_from(dict.int(b"length").expect("single-file length"))
            .expect("non-negative"),
        pieces: pieces
            .chunks_exact(20)
            .map(|c| c.try_into().expect("20 bytes"))
            .collect(),
    }
}

/// The `"infohash": "<hex>"` value of mktorrent.py's JSON.
fn json_infohash(json: &str) -> String {
    let key = "\"infohash\": \"";
    let start = json.find(key).expect("infohash in JSON") + key.len();
    json[start..start + 40].to_string()
}

#[test]
fn download_verified_pieces_from_libtorrent() {
    let work = WorkDir::new("wire-lt");
    let seed_dir = work.join("seed");
    let torrent_path = work.join("s.torrent");
    let json = mktorrent(&[
        "both",
        "--layout",
        "single",
        "--dir",
        seed_dir.to_str().expect("utf-8 path"),
        "--size",
        "300000",
        "--seed",
        "11",
        "--piece-size",
        &PIECE_LEN.to_string(),
        "--torrent",
        torrent_path.to_str().expect("utf-8 path"),
    ]);
    let torrent = read_torrent(&torrent_path);
    assert_eq!(torrent.info_hash.to_hex(), json_infohash(&json));
    assert_eq!(torrent.piece_length, PIECE_LEN);
    let geometry = PieceGeometry::new(torrent.piece_length, torrent.length).expect("geometry");
    assert_eq!(geometry.piece_count() as usize, torrent.pieces.len());

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
        .set_read_timeout(Some(Duration::from_millis(50)))
        .expect("read timeout");
    stream.set_nodelay(true).expect("nodelay");

    let mut config = Config::new(PeerId::generate(&mut Rng::new(42)));
    config.extensions.register(UT_METADATA);
    let mut conn = Connection::outbound(
        Instant::now(),
        Arc::new(config),
        Some(IpAddr::V4(Ipv4Addr::LOCALHOST)),
        TorrentParams {
            info_hash: torrent.info_hash,
            geometry: Some(geometry),
            our_pieces: None,
            metadata_size: None,
            v2: None,
        },
    )
    .expect("outbound connection");

    // Every block of every piece (20 blocks: within both sides' request limits).
    let blocks: Vec<BlockRef> = (0..geometry.piece_count())
        .flat_map(|p| {
            let len = geometry.piece_len(p).expect("piece in range");
            (0..len.div_ceil(BLOCK))
                .map(move |i| BlockRef::new(p, i * BLOCK, (len - i * BLOCK).min(BLOCK)))
        })
        .collect();
    assert!(blocks.len() <= 250);
    let mut content = vec![0u8; torrent.length as usize];
    let mut got = vec![false; blocks.len()];
    let mut seen_established = false;
    let mut seen_ext = None;
    let mut seen_pieces = false;
    let mut requested = false;
    let mut log = Vec::new();

    let deadline = Instant::now() + Duration::from_secs(30);
    let mut buf = vec![0u8; 64 * 1024];
    'run: loop {
        assert!(
            Instant::now() < deadline,
            "not every block within 30 s; events: {log:?}\nseeder log:\n{}",
            seeder.output()
        );
        while let Some(bytes) = conn.poll_transmit() {
            stream.write_all(&bytes).expect("write to libtorrent");
        }
        match stream.read(&mut buf) {
            Ok(0) => conn.handle_eof(Instant::now()),
            Ok(n) => conn.handle_input(Instant::now(), &buf[..n]),
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
            Err(e) => panic!("read from libtorrent: {e}"),
        }
        if conn.poll_timeout().is_some_and(|t| t <= Instant::now()) {
            conn.handle_timeout(Instant::now());
        }
        while let Some(event) = conn.poll_event() {
            let now = Instant::now();
            match &event {
                Event::Established { reserved, .. } => {
                    assert!(
                        reserved.extension_protocol() && reserved.fast(),
                        "{reserved:?}"
                    );
                    seen_established = true;
                }
                Event::ExtendedHandshake(hs) => seen_ext = Some(hs.clone()),
                Event::HaveAll | Event::Bitfield => {
                    assert!(conn.peer_pieces().expect("count known").is_full());
                    seen_pieces = true;
                    conn.send_interested(now).expect("interested");
                }
                Event::Unchoked if !requested => {
                    for b in &blocks {
                        conn.request(now, *b).expect("request");
                    }
                    requested = true;
                }
                Event::BlockReceived { block, data } => {
                    let i = blocks
                        .iter()
                        .position(|b| b == block)
                        .expect("a block we asked");
                    let at = (block.piece * PIECE_LEN + block.offset) as usize;
                    content[at..][..data.len()].copy_from_slice(data);
                    got[i] = true;
                    if got.iter().all(|g| *g) {
                        log.push(format!("{event:?}"));
                        break 'run;
                    }
                }
                Event::Closed(reason) => panic!(
                    "connection closed: {reason}; events: {log:?}\nseeder log:\n{}",
                    seeder.output()
                ),
                Event::Misbehaved(m) => panic!("libtorrent misbehaved? {m}"),
                _ => {}
            }
            if !matches!(event, Event::BlockReceived { .. }) {
                log.push(format!("{event:?}"));
            }
        }
    }

    assert!(seen_established && seen_pieces, "{log:?}");
    let ext = seen_ext.expect("libtorrent sends an extended handshake");
    // lt_peer.py names itself `lt_peer/<libtorrent version>`.
    assert!(
        ext.client.as_deref().is_some_and(|v| v.contains("2.0")),
        "{ext:?}"
    );
    assert!(ext.metadata_size.is_some_and(|s| s > 0), "{ext:?}");
    assert_eq!(ext.your_ip, Some(IpAddr::V4(Ipv4Addr::LOCALHOST)));
    assert!(ext.reqq.is_some_and(|r| r > 0), "{ext:?}");
    assert!(ext.extensions.id(UT_METADATA).is_some(), "{ext:?}");
    for (i, piece) in content.chunks(PIECE_LEN as usize).enumerate() {
        assert_eq!(
            sha1_digest(piece),
            torrent.pieces[i],
            "piece {i} does not match its hash"
        );
    }
    let file = std::fs::read(seed_dir.join("single.bin")).expect("seed data");
    assert!(
        file == content,
        "downloaded bytes differ from the seed's file"
    );
    assert_eq!(conn.misbehaviour_score(), 0);
    assert_eq!(conn.requests_out().count(), 0);
}
