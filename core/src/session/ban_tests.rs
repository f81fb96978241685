//! A banned peer stays out: an inbound connection from its IP is refused whatever port it
//! comes from and whatever peer id it gives, and the ban list stays bounded.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Instant;

use crate::id::{InfoHash, PeerId};
use crate::session::io::TorrentId;
use crate::session::test_support::{self, add_leecher, closed, handshake, two_zero_pieces};
use crate::session::{PeerCloseReason, Session, SessionConfig};

/// A running leecher with no piece, its torrent and info-hash.
fn session(now: Instant) -> (Session, TorrentId, InfoHash) {
    let meta = two_zero_pieces();
    let mut s = test_support::session(SessionConfig::default(), now, 7);
    let id = add_leecher(&mut s, now, &meta);
    (s, id, meta.info_hash())
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
