//! Set-up the session's tests share: a small torrent, a session listening at a fixed address,
//! a torrent started as a fresh leecher (no file on disk) or as a seed (every piece on disk),
//! the closes drained, a plain handshake, a leecher arriving.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use bytes::BytesMut;

use crate::create::TorrentBuilder;
use crate::id::{InfoHash, sha1_digest};
use crate::metainfo::Metainfo;
use crate::session::upload::tests::{leecher, metainfo};
use crate::session::{
    Action, Completion, ConnId, DiskJob, DiskJobKind, Event, PeerCloseReason, Session,
    SessionConfig, TorrentId, TorrentOptions, TorrentSource,
};
use crate::storage::FileStamp;
use crate::wire;

/// The address the sessions of [`session`] listen on.
pub(crate) const LISTEN: SocketAddr = SocketAddr::new(
    std::net::IpAddr::V4(std::net::Ipv4Addr::new(10, 0, 0, 1)),
    7000,
);

/// A one-file torrent `t.bin` of two 16 KiB pieces of zeros.
pub(crate) fn two_zero_pieces() -> Arc<Metainfo> {
    let b = TorrentBuilder::single_file("t.bin", 32 * 1024)
        .unwrap()
        .piece_length(16 * 1024);
    let hashes = vec![sha1_digest(&[0u8; 16 * 1024]); 2];
    Arc::new(Metainfo::from_bytes(&b.build(&hashes).unwrap()).unwrap())
}

/// A session under `config` at `now`, seeded with `seed`, listening on [`LISTEN`].
pub(crate) fn session(config: SessionConfig, now: Instant, seed: u64) -> Session {
    let mut s = Session::new(config, now, seed);
    s.set_listen_addr(LISTEN);
    s
}

/// Drains the session's actions, answering each `Stamps` job as a disk without the files
/// (`files` times `None`); every other action is dropped.
pub(crate) fn answer_no_stamps(s: &mut Session, now: Instant, files: usize) {
    while let Some(a) = s.poll_action() {
        if let Action::Disk(DiskJob {
            kind: DiskJobKind::Stamps { reply },
            ..
        }) = a
        {
            s.handle_completion(now, reply.send(Ok(vec![None; files])));
        }
    }
}

/// Adds `meta` with the default options and answers its start-up as a disk without its
/// files: a running leecher with no piece.
pub(crate) fn add_leecher(s: &mut Session, now: Instant, meta: &Arc<Metainfo>) -> TorrentId {
    let source = TorrentSource::Metainfo(Arc::clone(meta));
    let t = s
        .add_torrent(now, source, TorrentOptions::default())
        .unwrap();
    answer_no_stamps(s, now, meta.files().len());
    t
}

/// The connections the session closed since the last call, with why (its transmits and
/// actions dropped).
pub(crate) fn closed(s: &mut Session) -> Vec<(SocketAddr, PeerCloseReason)> {
    while s.poll_transmit().is_some() {}
    while s.poll_action().is_some() {}
    let mut closed = Vec::new();
    while let Some(e) = s.poll_event() {
        if let Event::PeerClosed { addr, reason, .. } = e {
            closed.push((addr, reason));
        }
    }
    closed
}

/// A plain BitTorrent handshake (no reserved bit) for `info_hash` from peer id `[n; 20]`.
pub(crate) fn handshake(info_hash: InfoHash, n: u8) -> BytesMut {
    let mut hs = BytesMut::new();
    hs.extend_from_slice(b"\x13BitTorrent protocol");
    hs.extend_from_slice(&[0; 8]);
    hs.extend_from_slice(&info_hash.0);
    hs.extend_from_slice(&[n; 20]);
    hs
}

/// The disk jobs the session queued (other actions and its events dropped).
pub(crate) fn disk_jobs(s: &mut Session) -> Vec<DiskJobKind> {
    let mut jobs = Vec::new();
    while let Some(a) = s.poll_action() {
        if let Action::Disk(DiskJob { kind, .. }) = a {
            jobs.push(kind);
        }
    }
    while s.poll_event().is_some() {}
    jobs
}

/// The stamp of a one-file torrent's file of `size` bytes on a disk holding it whole.
pub(crate) fn whole_stamp(size: u64) -> FileStamp {
    FileStamp {
        size,
        mtime_secs: 1,
        mtime_nanos: 0,
    }
}

/// Answers a start-up job as a disk holding the whole one-file torrent of `size` bytes would:
/// its stamp, every piece checked good; any other job is handed back.
pub(crate) fn answer_start_up(kind: DiskJobKind, size: u64) -> Result<Completion, DiskJobKind> {
    match kind {
        DiskJobKind::Stamps { reply } => Ok(reply.send(Ok(vec![Some(whole_stamp(size))]))),
        DiskJobKind::Check { pieces, reply } => {
            Ok(reply.send(Ok(pieces.iter().map(|(p, _)| *p).collect())))
        }
        other => Err(other),
    }
}

/// Answers the start-up of a torrent just added as seeding a one-file torrent of `size`
/// bytes from a whole disk (see [`answer_start_up`]); panics on any other disk job.
pub(crate) fn start_seeding(s: &mut Session, now: Instant, size: u64) {
    for _ in 0..4 {
        for kind in disk_jobs(s) {
            match answer_start_up(kind, size) {
                Ok(done) => s.handle_completion(now, done),
                Err(other) => panic!("unexpected start-up job {other:?}"),
            }
        }
    }
}

/// A leecher of the upload tests' torrent connecting from 127.0.0.1:`port`, accepted, its
/// handshake sent.
pub(crate) fn arrive(s: &mut Session, port: u16, now: Instant) -> (ConnId, wire::Connection) {
    let conn = s
        .handle_accept(now, SocketAddr::from(([127, 0, 0, 1], port)))
        .expect("accepted");
    let mut id = *b"-XX0001-leecher00000";
    id[19] = port as u8;
    let mut remote = leecher(&metainfo(), id, now);
    while let Some(bytes) = remote.poll_transmit() {
        s.handle_peer_data(now, conn, BytesMut::from(&bytes[..]));
    }
    (conn, remote)
}
