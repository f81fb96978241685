//! A banned peer stays out: an inbound connection from its IP is refused whatever port it
//! comes from and whatever peer id it gives, and the ban list stays bounded.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::Instant;

use bytes::BytesMut;

use crate::create::TorrentBuilder;
use crate::id::{InfoHash, PeerId, sha1_digest};
use crate::metainfo::Metainfo;
use crate::session::io::TorrentId;
use crate::session::{
    Action, DiskJob, DiskJobKind, Event, PeerCloseReason, Session, SessionConfig, TorrentOptions,
    TorrentSource,
};

/// A running leecher with no piece, its torrent and info-hash.
fn session(now: Instant) -> (Session, TorrentId, InfoHash) {
    let b = TorrentBuilder::single_file("t.bin", 32 * 1024)
        .unwrap()
        .piece_length(16 * 1024);
    let hashes = vec![sha1_digest(&[0u8; 16 * 1024]); 2];
    let meta = Arc::new(Metainfo::from_bytes(&b.build(&hashes).unwrap()).unwrap());
    let mut s = Session::new(SessionConfig::default(), now, 7);
    s.set_listen_addr(SocketAddr::from(([10, 0, 0, 1], 7000)));
    let id = s
        .add_torrent(
            now,
            TorrentSource::Metainfo(Arc::clone(&meta)),
            TorrentOptions::default(),
        )
        .unwrap();
    while let Some(a) = s.poll_action() {
        if let Action::Disk(DiskJob {
            kind: DiskJobKind::Stamps { reply },
            ..
        }) = a
        {
            s.handle_completion(now, reply.send(Ok(vec![None])));
        }
    }
    (s, id, meta.info_hash())
}

/// The connections the session closed since the last call, with why.
fn closed(s: &mut Session) -> Vec<(SocketAddr, PeerCloseReason)> {
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

fn handshake(info_hash: InfoHash, id: u8) -> BytesMut {
    let mut hs = BytesMut::new();
    hs.extend_from_slice(b"\x13BitTorrent protocol");
    hs.extend_from_slice(&[0; 8]);
    hs.extend_from_slice(&info_hash.0);
    hs.extend_from_slice(&[id; 20]);
    hs
}

#[test]
fn a_banned_ip_is_refused_from_any_port_with_any_peer_id() {
    let t0 = Instant::now();
    let (mut s, id, ih) = session(t0);
    let banned = IpAddr::V4(Ipv4Addr::new(10, 0, 1, 1));
    s.torrents
        .get_mut(&id)
        .unwrap()
        .candidates
        .ban(SocketAddr::new(banned, 40000), Some(PeerId([1; 20])));
    closed(&mut s);

    let again = SocketAddr::new(banned, 40001);
    let conn = s.handle_accept(t0, again).unwrap();
    s.handle_peer_data(t0, conn, handshake(ih, 2));
    assert_eq!(closed(&mut s), vec![(again, PeerCloseReason::Banned)]);

    let other = SocketAddr::new(IpAddr::V4(Ipv4Addr::new(10, 0, 1, 2)), 40000);
    let conn = s.handle_accept(t0, other).unwrap();
    s.handle_peer_data(t0, conn, handshake(ih, 3));
    assert_eq!(closed(&mut s), vec![], "another IP is taken");
}
