//! Serving uploads: a leecher's requests for consecutive blocks are read by few, larger disk
//! jobs, each block reaches the leecher intact, and a cancelled block is never sent; a leecher
//! that never reads what is sent stops being served at the send backlog cap, then is closed.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;

use crate::create::TorrentBuilder;
use crate::id::{PeerId, sha1_digest};
use crate::metainfo::Metainfo;
use crate::pieces::BlockRef;
use crate::session::io::ReadReply;
use crate::session::test_support::{disk_jobs, start_seeding};
use crate::session::{
    Action, ConnId, Dest, DiskJob, DiskJobKind, Session, SessionConfig, TorrentId, TorrentOptions,
    TorrentSource,
};
use crate::wire;

pub(crate) const PIECE: u32 = 512 * 1024;
pub(crate) const PIECES: u32 = 2;
const BLOCK: u32 = 16 * 1024;

/// The torrent's bytes: a pattern, so a block sent from the wrong offset shows.
fn content() -> Vec<u8> {
    (0..PIECES * PIECE).map(|i| (i / 7 % 251) as u8).collect()
}

pub(crate) fn metainfo() -> Arc<Metainfo> {
    let data = content();
    let b = TorrentBuilder::single_file("t.bin", data.len() as u64)
        .unwrap()
        .piece_length(PIECE);
    let hashes: Vec<_> = data.chunks(PIECE as usize).map(sha1_digest).collect();
    Arc::new(Metainfo::from_bytes(&b.build(&hashes).unwrap()).unwrap())
}

/// Bytes both ways between the session's `conn` and `remote` until quiet; returns the blocks
/// the remote received.
pub(crate) fn pump(
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
            s.handle_peer_data(now, conn, bytes::BytesMut::from(&bytes[..]));
            moved = true;
        }
        if !moved {
            break;
        }
    }
    got
}

/// The connection of a leecher with no piece of `meta`, before its handshake.
pub(crate) fn leecher(meta: &Metainfo, peer_id: [u8; 20], now: Instant) -> wire::Connection {
    let config = Arc::new(wire::Config::new(PeerId(peer_id)));
    let empty = crate::pieces::PieceSet::new(PIECES);
    let params = wire::TorrentParams {
        info_hash: meta.info_hash(),
        geometry: Some(wire::PieceGeometry::of_layout(meta.layout())),
        our_pieces: Some(&empty),
        metadata_size: None,
        v2: None,
    };
    wire::Connection::outbound(now, config, None, params).unwrap()
}

/// A session seeding the whole torrent with `config`, and a leecher connected to it that is
/// interested and unchoked.
pub(crate) fn seeder_and_leecher(
    config: SessionConfig,
    now: Instant,
) -> (Session, TorrentId, ConnId, wire::Connection) {
    let meta = metainfo();
    let mut s = Session::new(config, now, 7);
    s.set_listen_addr(SocketAddr::from(([127, 0, 0, 1], 7000)));
    let options = TorrentOptions {
        seed_only: true,
        ..TorrentOptions::default()
    };
    let t = s
        .add_torrent(now, TorrentSource::Metainfo(Arc::clone(&meta)), options)
        .unwrap();
    // Start-up: the file exists and every piece checks out.
    start_seeding(&mut s, now, u64::from(PIECES * PIECE));
    assert!(
        s.torrent_stats(t)
            .is_some_and(|st| st.pieces_have == PIECES)
    );

    let conn = s
        .handle_accept(now, SocketAddr::from(([127, 0, 0, 1], 9000)))
        .expect("accepted");
    let mut remote = leecher(&meta, *b"-XX0001-leecher00001", now);
    pump(&mut s, conn, &mut remote, now);
    remote.send_interested(now).unwrap();
    pump(&mut s, conn, &mut remote, now);
    assert!(!remote.peer_choking(), "the seeder unchokes its only peer");
    (s, t, conn, remote)
}

/// A leecher that connects with an MSE handshake offering `provide`, is served one block, and
/// sees it intact: plaintext after the handshake (0x03), or RC4 all the way (0x02).
fn serve_over_mse(provide: u32) {
    use crate::wire::mse::tests::Initiator;
    use rc4::StreamCipher;
    let now = Instant::now();
    let meta = metainfo();
    let (mut s, _, _, _) = seeder_and_leecher(SessionConfig::default(), now);
    let conn = s
        .handle_accept(now, SocketAddr::from(([127, 0, 0, 1], 9001)))
        .expect("accepted");
    let a = Initiator::new(42);
    let mut first = a.public().to_vec();
    first.extend_from_slice(&[9; 33]); // PadA
    s.handle_peer_data(now, conn, bytes::BytesMut::from(&first[..]));
    let from_b: Vec<u8> = std::iter::from_fn(|| s.poll_transmit())
        .filter(|t| t.dest == Dest::Peer(conn))
        .flat_map(|t| t.payload.to_vec())
        .collect();
    assert!(from_b.len() >= 96, "Yb and PadB");
    let secret = a.secret(&from_b);

    let mut remote = leecher(&meta, *b"-XX0001-leecher00002", now);
    let handshake = remote.poll_transmit().expect("the remote's handshake");
    let (third, mut a_out) = a.negotiation(&secret, &meta.info_hash(), provide, 5, &handshake);
    s.handle_peer_data(now, conn, bytes::BytesMut::from(&third[..]));
    let mut a_in = Initiator::b_stream(&secret, &meta.info_hash());
    let rc4 = provide & 1 == 0;
    let mut got = Vec::new();
    let mut reply_seen = false;
    let mut exchange = |s: &mut Session, remote: &mut wire::Connection| {
        for _ in 0..100 {
            let mut moved = false;
            while let Some(t) = s.poll_transmit() {
                let mut bytes = t.payload.to_vec();
                if !reply_seen {
                    a_in.apply_keystream(&mut bytes[..14]);
                    assert_eq!(&bytes[..8], &[0; 8], "verification constant");
                    let select = if rc4 { [0, 0, 0, 2] } else { [0, 0, 0, 1] };
                    assert_eq!(&bytes[8..12], &select, "the mode selected");
                    bytes.drain(..14);
                    reply_seen = true;
                }
                if rc4 {
                    a_in.apply_keystream(&mut bytes);
                }
                remote.handle_input(now, &bytes);
                moved = true;
            }
            while let Some(e) = remote.poll_event() {
                if let wire::Event::BlockReceived { block, data } = e {
                    got.push((block, data));
                }
            }
            while let Some(bytes) = remote.poll_transmit() {
                let mut bytes = bytes.to_vec();
                if rc4 {
                    a_out.apply_keystream(&mut bytes);
                }
                s.handle_peer_data(now, conn, bytes::BytesMut::from(&bytes[..]));
                moved = true;
            }
            if !moved {
                break;
            }
        }
    };
    exchange(&mut s, &mut remote);
    remote.send_interested(now).unwrap();
    exchange(&mut s, &mut remote);
    assert!(
        !remote.peer_choking(),
        "unchoked over the decrypted handshake"
    );
    let block = BlockRef::new(1, 0, BLOCK);
    remote.request(now, block).unwrap();
    exchange(&mut s, &mut remote);
    let read = disk_jobs(&mut s)
        .into_iter()
        .find_map(|kind| match kind {
            DiskJobKind::Read { reply, .. } => Some(reply),
            _ => None,
        })
        .expect("the block is read");
    let data = content();
    let start = PIECE as usize;
    let bytes = Bytes::copy_from_slice(&data[start..start + BLOCK as usize]);
    s.handle_completion(now, read.send(Ok(bytes.clone())));
    exchange(&mut s, &mut remote);
    assert_eq!(got, vec![(block, bytes)]);
}

#[test]
fn an_encrypted_handshake_ends_in_a_plaintext_connection_that_is_served() {
    serve_over_mse(0x03);
}

#[test]
fn an_rc4_only_peer_is_served_over_rc4() {
    serve_over_mse(0x02);
}

#[test]
fn consecutive_requests_are_read_together_and_served_intact() {
    let now = Instant::now();
    let (mut s, _, conn, mut remote) = seeder_and_leecher(SessionConfig::default(), now);

    // 20 consecutive blocks of piece 0, then block 3 of piece 1.
    let mut wanted: Vec<BlockRef> = (0..20)
        .map(|i| BlockRef::new(0, i * BLOCK, BLOCK))
        .collect();
    wanted.push(BlockRef::new(1, 3 * BLOCK, BLOCK));
    for b in &wanted {
        remote.request(now, *b).unwrap();
    }
    pump(&mut s, conn, &mut remote, now);
    let reads: Vec<(ReadReply, u32, u32, u32)> = disk_jobs(&mut s)
        .into_iter()
        .filter_map(|kind| match kind {
            DiskJobKind::Read {
                piece,
                offset,
                len,
                reply,
            } => Some((reply, piece, offset, len)),
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
    for (reply, piece, offset, len) in reads {
        let start = (piece * PIECE + offset) as usize;
        let bytes = Bytes::copy_from_slice(&data[start..start + len as usize]);
        s.handle_completion(now, reply.send(Ok(bytes)));
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

/// What the session asked for: the upload reads, and whether it closed the connection.
fn reads_and_close(s: &mut Session) -> (Vec<(ReadReply, u32, u32, u32)>, bool) {
    let mut reads = Vec::new();
    let mut closed = false;
    while let Some(a) = s.poll_action() {
        match a {
            Action::Disk(DiskJob {
                kind:
                    DiskJobKind::Read {
                        piece,
                        offset,
                        len,
                        reply,
                    },
                ..
            }) => reads.push((reply, piece, offset, len)),
            Action::Close { .. } => closed = true,
            _ => {}
        }
    }
    (reads, closed)
}

/// Serves `remote` until the session issues no more reads, never reporting a byte as written:
/// every read completes, every transmit reaches the leecher, and the leecher asks for the next
/// block of `wanted` for each block it gets (it keeps its request queue full). `reads` are
/// reads issued already. Returns the bytes read.
fn serve_unreported(
    s: &mut Session,
    conn: ConnId,
    remote: &mut wire::Connection,
    now: Instant,
    mut reads: Vec<(ReadReply, u32, u32, u32)>,
    wanted: &mut impl Iterator<Item = BlockRef>,
) -> u64 {
    let data = content();
    let mut read = 0;
    for _ in 0..200 {
        if reads.is_empty() {
            return read;
        }
        for (reply, piece, offset, len) in reads {
            read += u64::from(len);
            let start = (piece * PIECE + offset) as usize;
            let bytes = Bytes::copy_from_slice(&data[start..start + len as usize]);
            s.handle_completion(now, reply.send(Ok(bytes)));
        }
        let got = pump(s, conn, remote, now);
        for _ in got {
            let next = wanted.next().expect("endless");
            remote.request(now, next).unwrap();
        }
        pump(s, conn, remote, now);
        let (more, closed) = reads_and_close(s);
        assert!(!closed, "closed while serving");
        reads = more;
    }
    panic!("still reading after 200 rounds: {read} bytes read, the backlog is unbounded");
}

#[test]
fn a_leecher_that_never_reads_is_not_served_past_the_send_backlog_then_closed() {
    const CAP: usize = 128 * 1024;
    let stall = std::time::Duration::from_secs(20);
    let config = SessionConfig {
        send_accounting: true,
        max_send_backlog: CAP,
        max_upload_queue_bytes: 4 * BLOCK as usize,
        send_stall_timeout: stall,
        ..SessionConfig::default()
    };
    let start = Instant::now();
    let (mut s, _, conn, mut remote) = seeder_and_leecher(config, start);
    let mut wanted = (0..PIECES * PIECE / BLOCK)
        .map(|i| BlockRef::new(i * BLOCK / PIECE, i * BLOCK % PIECE, BLOCK))
        .cycle();
    for b in wanted.by_ref().take(20) {
        remote.request(start, b).unwrap();
    }
    pump(&mut s, conn, &mut remote, start);
    let (reads, _) = reads_and_close(&mut s);
    assert!(!reads.is_empty(), "the requests are served");

    // Nothing is reported written: serving stops once the backlog reaches the cap, although
    // the leecher keeps 20 requests queued.
    let read = serve_unreported(&mut s, conn, &mut remote, start, reads, &mut wanted);
    assert!(
        read >= CAP as u64,
        "served up to the cap: {read} bytes read"
    );
    assert!(
        read <= (CAP + 4 * BLOCK as usize) as u64,
        "at most the cap plus one upload queue is read: {read}"
    );
    assert!(
        remote.requests_out().count() > 0,
        "the leecher still wants blocks"
    );

    // The socket takes some of it: serving resumes until the cap again.
    s.handle_peer_sent(start, conn, 64 * 1024);
    let (reads, _) = reads_and_close(&mut s);
    assert!(
        !reads.is_empty(),
        "written bytes below the cap resume serving"
    );
    let more = serve_unreported(&mut s, conn, &mut remote, start, reads, &mut wanted);
    assert!(
        (48 * 1024..=(64 + 4 * 16) * 1024).contains(&more),
        "about what was written is read again: {more}"
    );

    // Stuck at the cap: closed after the stall timeout; any write restarts the wait.
    assert!(s.poll_timeout().is_some_and(|at| at <= start + stall));
    let progress = start + stall / 2;
    s.handle_peer_sent(progress, conn, 1);
    s.handle_timeout(start + stall);
    assert!(!reads_and_close(&mut s).1, "a write restarted the wait");
    assert!(s.poll_timeout().is_some_and(|at| at <= progress + stall));
    s.handle_timeout(progress + stall);
    assert!(reads_and_close(&mut s).1, "closed after the stall timeout");
    let mut reasons = Vec::new();
    while let Some(e) = s.poll_event() {
        if let crate::session::Event::PeerClosed { reason, .. } = e {
            reasons.push(reason);
        }
    }
    assert_eq!(reasons, vec![crate::session::PeerCloseReason::SendStalled]);
}
