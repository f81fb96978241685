//! A v2 peer's hash requests for the block layer are answered from the piece read back from
//! disk (a `BlockDigests` job), with hashes that prove against the file's root; a peer has at
//! most two such reads in flight, further requests are rejected at once.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use super::block_hashes::MAX_BLOCK_READS;
use crate::create::{TorrentBuilder, TorrentFormat};
use crate::id::{PeerId, sha1_digest};
use crate::merkle::exchange::{check_answer, full_proof_layers};
use crate::merkle::{BLOCK_SIZE, Hash, V2Piece, leaf_count, sha256};
use crate::metainfo::Metainfo;
use crate::session::test_support::{disk_jobs, start_seeding};
use crate::session::{ConnId, DiskJobKind, Session, SessionConfig, TorrentOptions, TorrentSource};
use crate::wire::hashes::HashRequest;
use crate::wire::{self, peer::MAX_HASH_REQUESTS_OUT};

/// 4 blocks per piece.
const PIECE: u32 = 4 * BLOCK_SIZE;
/// Three whole pieces and one of a block and a half.
const LENGTH: usize = 3 * PIECE as usize + 24_000;

fn content() -> Vec<u8> {
    (0..LENGTH).map(|i| (i / 5 % 253) as u8).collect()
}

fn metainfo(data: &[u8]) -> Arc<Metainfo> {
    let b = TorrentBuilder::single_file("t.bin", data.len() as u64)
        .unwrap()
        .format(TorrentFormat::V2)
        .piece_length(PIECE);
    let layout = b.layout().unwrap();
    let pieces: Vec<&[u8]> = data.chunks(PIECE as usize).collect();
    let sha1: Vec<_> = pieces.iter().map(|p| sha1_digest(p)).collect();
    let v2: Vec<Hash> = (0..layout.piece_count())
        .map(|p| {
            let at = V2Piece::of(&layout, p).unwrap();
            at.digest(pieces[p as usize]).unwrap()
        })
        .collect();
    Arc::new(Metainfo::from_bytes(&b.build_with(&sha1, &v2).unwrap()).unwrap())
}

/// SHA-256 of each block of piece `p`, as a `BlockDigests` job returns them.
fn digests(data: &[u8], p: u32) -> Vec<Hash> {
    let start = (p * PIECE) as usize;
    let end = (start + PIECE as usize).min(data.len());
    data[start..end]
        .chunks(BLOCK_SIZE as usize)
        .map(sha256)
        .collect()
}

/// A session seeding the torrent, and a v2 peer connected to it.
fn seeder(meta: &Arc<Metainfo>, now: Instant) -> (Session, ConnId, wire::Connection) {
    let mut s = Session::new(SessionConfig::default(), now, 7);
    s.set_listen_addr(SocketAddr::from(([127, 0, 0, 1], 7000)));
    let options = TorrentOptions {
        seed_only: true,
        ..TorrentOptions::default()
    };
    let t = s
        .add_torrent(now, TorrentSource::Metainfo(Arc::clone(meta)), options)
        .unwrap();
    start_seeding(&mut s, now, LENGTH as u64);
    assert_eq!(s.torrent_stats(t).map(|st| st.pieces_have), Some(4));
    let conn = s
        .handle_accept(now, SocketAddr::from(([127, 0, 0, 1], 9000)))
        .expect("accepted");
    let id = meta.info_hashes().id();
    let config = Arc::new(wire::Config::new(PeerId(*b"-XX0001-v2peer000001")));
    let empty = crate::pieces::PieceSet::new(4);
    let params = wire::TorrentParams {
        info_hash: id,
        geometry: Some(wire::PieceGeometry::of_layout(meta.layout())),
        our_pieces: Some(&empty),
        metadata_size: None,
        v2: Some(id),
    };
    let mut remote = wire::Connection::outbound(now, config, None, params).unwrap();
    pump(&mut s, conn, &mut remote, now);
    assert!(remote.speaks_v2());
    (s, conn, remote)
}

/// Bytes both ways between the session's `conn` and `remote` until quiet (the remote's events
/// stay queued).
fn pump(s: &mut Session, conn: ConnId, remote: &mut wire::Connection, now: Instant) {
    for _ in 0..100 {
        let mut moved = false;
        while let Some(t) = s.poll_transmit() {
            if t.dest == crate::Dest::Peer(conn) {
                remote.handle_input(now, &t.payload);
                moved = true;
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

/// The answers (`Ok`) and rejects (`Err`) the remote received.
fn answers(remote: &mut wire::Connection) -> Vec<Result<(HashRequest, Vec<Hash>), HashRequest>> {
    let mut out = Vec::new();
    while let Some(e) = remote.poll_event() {
        match e {
            wire::Event::HashesReceived { request, hashes } => {
                let hashes = hashes.chunks(32).map(|h| h.try_into().unwrap()).collect();
                out.push(Ok((request, hashes)));
            }
            wire::Event::HashesRejected(request) => out.push(Err(request)),
            _ => {}
        }
    }
    out
}

#[test]
fn block_hashes_are_read_from_disk_and_prove_against_the_root() {
    let now = Instant::now();
    let data = content();
    let meta = metainfo(&data);
    let root = *meta.pieces_root(0).unwrap();
    let width = leaf_count(LENGTH as u64);
    let (mut s, conn, mut remote) = seeder(&meta, now);
    // Every piece's four leaves with a full proof, the short last piece's included; and two
    // blocks of piece 1 with a proof of two layers.
    let mut asks: Vec<HashRequest> = (0..4)
        .map(|p| HashRequest {
            pieces_root: root,
            base_layer: 0,
            index: p * 4,
            length: 4,
            proof_layers: full_proof_layers(4, width),
        })
        .collect();
    asks.push(HashRequest {
        pieces_root: root,
        base_layer: 0,
        index: 6,
        length: 2,
        proof_layers: 2,
    });
    for ask in asks {
        remote.request_hashes(now, ask).unwrap();
        pump(&mut s, conn, &mut remote, now);
        let piece = ask.index / 4;
        let jobs = disk_jobs(&mut s);
        let [DiskJobKind::BlockDigests { piece: read, reply }] = <[_; 1]>::try_from(jobs).unwrap()
        else {
            panic!("one BlockDigests job");
        };
        assert_eq!(read, piece);
        assert!(answers(&mut remote).is_empty(), "nothing before the read");
        s.handle_completion(now, reply.send(Ok(digests(&data, piece))));
        pump(&mut s, conn, &mut remote, now);
        let got = answers(&mut remote);
        let [Ok((request, hashes))] = &got[..] else {
            panic!("{got:?}");
        };
        assert_eq!(*request, ask);
        let count = u64::from(ask.length);
        if ask.proof_layers == full_proof_layers(count, width) {
            let run = check_answer(&root, LENGTH as u64, 0, ask.index.into(), count, hashes);
            let mut want = digests(&data, piece);
            want.resize(4, [0; 32]);
            assert_eq!(run, Some(want), "piece {piece}");
        } else {
            assert_eq!(Some(hashes.len() as u32), ask.hashes_in_reply());
            assert_eq!(hashes[..2], digests(&data, piece)[2..]);
        }
    }
}

#[test]
fn a_peer_has_two_block_reads_in_flight_and_stale_disk_data_is_refused() {
    let now = Instant::now();
    let data = content();
    let meta = metainfo(&data);
    let root = *meta.pieces_root(0).unwrap();
    let (mut s, conn, mut remote) = seeder(&meta, now);
    let ask = |p: u32| HashRequest {
        pieces_root: root,
        base_layer: 0,
        index: p * 4,
        length: 4,
        proof_layers: 0,
    };
    assert!(MAX_HASH_REQUESTS_OUT > usize::from(MAX_BLOCK_READS));
    for p in 0..MAX_HASH_REQUESTS_OUT as u32 {
        remote.request_hashes(now, ask(p)).unwrap();
    }
    pump(&mut s, conn, &mut remote, now);
    let reads = disk_jobs(&mut s);
    assert_eq!(reads.len(), usize::from(MAX_BLOCK_READS));
    let rejected: Vec<_> = answers(&mut remote);
    assert_eq!(rejected, vec![Err(ask(2)), Err(ask(3))]);
    // The first read finds other bytes on disk than the torrent's: refused, not sent.
    let mut replies = reads.into_iter().map(|k| match k {
        DiskJobKind::BlockDigests { piece, reply } => (piece, reply),
        other => panic!("{other:?}"),
    });
    let (p0, first) = replies.next().unwrap();
    let mut stale = digests(&data, p0);
    stale[1][0] ^= 1;
    s.handle_completion(now, first.send(Ok(stale)));
    let (p1, second) = replies.next().unwrap();
    s.handle_completion(now, second.send(Ok(digests(&data, p1))));
    pump(&mut s, conn, &mut remote, now);
    let got = answers(&mut remote);
    assert_eq!(got.len(), 2);
    assert_eq!(got[0], Err(ask(p0)));
    assert!(matches!(&got[1], Ok((r, h)) if *r == ask(p1) && h.len() == 4));
    // Both reads are done: the next request is read again.
    remote.request_hashes(now, ask(3)).unwrap();
    pump(&mut s, conn, &mut remote, now);
    assert_eq!(disk_jobs(&mut s).len(), 1);
}
