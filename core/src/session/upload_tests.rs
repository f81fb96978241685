//! Serving uploads: a leecher's requests for consecutive blocks are read by few, larger disk
//! jobs, each block reaches the leecher intact, and a cancelled block is never sent.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;

use crate::create::TorrentBuilder;
use crate::id::{PeerId, sha1_digest};
use crate::metainfo::Metainfo;
use crate::session::{
    Action, Completion, CompletionKind, ConnId, Dest, DiskJob, DiskJobKind, JobId, Session,
    SessionConfig, TorrentId, TorrentOptions, TorrentSource,
};
use crate::storage::FileStamp;
use crate::wire::{self, BlockRef};

const PIECE: u32 = 512 * 1024;
const PIECES: u32 = 2;
const BLOCK: u32 = 16 * 1024;

/// The torrent's bytes: a pattern, so a block sent from the wrong offset shows.
fn content() -> Vec<u8> {
    (0..PIECES * PIECE).map(|i| (i / 7 % 251) as u8).collect()
}

fn metainfo() -> Arc<Metainfo> {
    let data = content();
    let b = TorrentBuilder::single_file("t.bin", data.len() as u64)
        .unwrap()
        .piece_length(PIECE);
    let hashes: Vec<_> = data.chunks(PIECE as usize).map(sha1_digest).collect();
    Arc::new(Metainfo::from_bytes(&b.build(&hashes).unwrap()).unwrap())
}

fn disk_jobs(s: &mut Session) -> Vec<(JobId, DiskJobKind)> {
    let mut jobs = Vec::new();
    while let Some(a) = s.poll_action() {
        if let Action::Disk(DiskJob { id, kind, .. }) = a {
            jobs.push((id, kind));
        }
    }
    while s.poll_event().is_some() {}
    jobs
}

fn complete(s: &mut Session, t: TorrentId, id: JobId, result: CompletionKind, now: Instant) {
    let done = Completion {
        id,
        torrent: t,
        result: Ok(result),
    };
    s.handle_completion(now, done);
}

/// Bytes both ways between the session's `conn` and `remote` until quiet; returns the blocks
/// the remote received.
fn pump(
    s: &mut Session,
    conn: ConnId,
    remote: &mut wire::Connection,
    now: Instant,
) -> Vec<(BlockRef, Bytes)> {
    let mut got = Vec::new();
    for _ in 0..100 {
        let mut moved = false;
        while let Some(t) = s.poll_transmit() {
            if t.dest == Dest::Peer(conn) {
                remote.handle_input(now, &t.payload);
                moved = true;
            }
        }
        while let Some(e) = remote.poll_event() {
            if let wire::Event::BlockReceived { block, data } = e {
                got.push((block, data));
            }
        }
        while let Some(bytes) = remote.poll_transmit() {
            s.handle_peer_data(now, conn, &bytes);
            moved = true;
        }
        if !moved {
            break;
        }
    }
    got
}

#[test]
fn consecutive_requests_are_read_together_and_served_intact() {
    let now = Instant::now();
    let meta = metainfo();
    let mut s = Session::new(SessionConfig::default(), now, 7);
    s.set_listen_addr(SocketAddr::from(([127, 0, 0, 1], 7000)));
    let options = TorrentOptions {
        seed_only: true,
        ..TorrentOptions::default()
    };
    let t = s
        .add_torrent(now, TorrentSource::Metainfo(Arc::clone(&meta)), options)
        .unwrap();
    // Start-up: the file exists and every piece checks out.
    for _ in 0..4 {
        for (id, kind) in disk_jobs(&mut s) {
            let result = match kind {
                DiskJobKind::Stamps => CompletionKind::Stamps(vec![Some(FileStamp {
                    size: u64::from(PIECES * PIECE),
                    mtime_secs: 1,
                    mtime_nanos: 0,
                })]),
                DiskJobKind::Check { pieces } => {
                    CompletionKind::Checked(pieces.iter().map(|(p, _)| *p).collect())
                }
                other => panic!("unexpected start-up job {other:?}"),
            };
            complete(&mut s, t, id, result, now);
        }
    }
    assert!(
        s.torrent_stats(t)
            .is_some_and(|st| st.pieces_have == PIECES)
    );

    let conn = s
        .handle_accept(now, SocketAddr::from(([127, 0, 0, 1], 9000)))
        .expect("accepted");
    let config = Arc::new(wire::Config::new(PeerId(*b"-XX0001-leecher00001")));
    let empty = wire::Bitfield::new(PIECES);
    let params = wire::TorrentParams {
        info_hash: meta.info_hash(),
        geometry: Some(wire::PieceGeometry::of_layout(meta.layout())),
        our_pieces: Some(&empty),
        metadata_size: None,
    };
    let mut remote = wire::Connection::outbound(now, config, None, params).unwrap();
    pump(&mut s, conn, &mut remote, now);
    remote.send_interested(now).unwrap();
    pump(&mut s, conn, &mut remote, now);
    assert!(!remote.peer_choking(), "the seeder unchokes its only peer");

    // 20 consecutive blocks of piece 0, then block 3 of piece 1.
    let mut wanted: Vec<BlockRef> = (0..20)
        .map(|i| BlockRef::new(0, i * BLOCK, BLOCK))
        .collect();
    wanted.push(BlockRef::new(1, 3 * BLOCK, BLOCK));
    for b in &wanted {
        remote.request(now, *b).unwrap();
    }
    pump(&mut s, conn, &mut remote, now);
    let reads: Vec<(JobId, u32, u32, u32)> = disk_jobs(&mut s)
        .into_iter()
        .filter_map(|(id, kind)| match kind {
            DiskJobKind::Read { piece, offset, len } => Some((id, piece, offset, len)),
            _ => None,
        })
        .collect();
    let spans: Vec<(u32, u32, u32)> = reads.iter().map(|r| (r.1, r.2, r.3)).collect();
    assert_eq!(
        spans,
        vec![
            (0, 0, 16 * BLOCK),
            (0, 16 * BLOCK, 4 * BLOCK),
            (1, 3 * BLOCK, BLOCK)
        ],
        "runs of consecutive blocks, each at most 256 KiB"
    );

    // The leecher cancels one block of the first run while it is being read.
    let cancelled = BlockRef::new(0, 5 * BLOCK, BLOCK);
    remote.cancel(now, cancelled).unwrap();
    pump(&mut s, conn, &mut remote, now);

    let data = content();
    let mut got = Vec::new();
    for (id, piece, offset, len) in reads {
        let start = (piece * PIECE + offset) as usize;
        let bytes = Bytes::copy_from_slice(&data[start..start + len as usize]);
        complete(&mut s, t, id, CompletionKind::Read(bytes), now);
        got.extend(pump(&mut s, conn, &mut remote, now));
    }
    let sent: Vec<BlockRef> = got.iter().map(|(b, _)| *b).collect();
    let expected: Vec<BlockRef> = wanted.into_iter().filter(|b| *b != cancelled).collect();
    assert_eq!(sent, expected);
    for (b, bytes) in got {
        let start = (b.piece * PIECE + b.offset) as usize;
        assert_eq!(&bytes[..], &data[start..start + b.length as usize], "{b:?}");
    }
}
