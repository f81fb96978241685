//! A hybrid on the wire (BEP 52): peers may name it by its v1 hash or its truncated v2 hash;
//! a peer naming the v2 hash, or the v1 hash with the v2 bit set, is answered with the v2
//! hash; a v1 peer gets the v1 hash back.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::Instant;

use bytes::BytesMut;

use crate::id::InfoHash;
use crate::metainfo::Metainfo;
use crate::session::test_support::{self, add_leecher};
use crate::session::{Event, PeerCloseReason, Session, SessionConfig};
use crate::wire::{Handshake, Reserved};
use crate::{Dest, Transmit};

/// A running hybrid torrent (the fixture of `tests/data/v2`), with nothing checked yet.
fn session(now: Instant) -> (Session, Arc<Metainfo>) {
    let mut s = test_support::session(SessionConfig::default(), now, 5);
    let bytes = include_bytes!("../../tests/data/v2/fx_hybrid.torrent");
    let meta = Arc::new(Metainfo::from_bytes(bytes).unwrap());
    add_leecher(&mut s, now, &meta);
    while s.poll_transmit().is_some() {}
    while s.poll_event().is_some() {}
    (s, meta)
}

fn handshake(info_hash: InfoHash, v2_bit: bool, n: u8) -> BytesMut {
    let mut reserved = Reserved::EXTENSION_PROTOCOL;
    if v2_bit {
        reserved = reserved.union(Reserved::V2);
    }
    let hs = Handshake {
        reserved,
        info_hash,
        peer_id: crate::id::PeerId([n; 20]),
    };
    BytesMut::from(&hs.to_bytes()[..])
}

/// The info-hash of the handshake the session sent on its first transmit; any close seen.
fn answer(s: &mut Session) -> (Option<InfoHash>, Vec<PeerCloseReason>) {
    let mut hash = None;
    while let Some(Transmit { dest, payload }) = s.poll_transmit() {
        if let (Dest::Peer(_), None) = (dest, hash)
            && let Ok(Some(hs)) = Handshake::decode(&payload)
        {
            hash = Some(hs.info_hash);
        }
    }
    while s.poll_action().is_some() {}
    let mut closed = Vec::new();
    while let Some(e) = s.poll_event() {
        if let Event::PeerClosed { reason, .. } = e {
            closed.push(reason);
        }
    }
    (hash, closed)
}

#[test]
fn a_hybrid_answers_to_both_hashes_and_upgrades_v2_peers() {
    let now = Instant::now();
    let (mut s, meta) = session(now);
    let v1 = meta.info_hashes().v1.unwrap();
    let v2 = meta.info_hashes().v2.unwrap().truncated();
    let cases = [
        (v1, false, v1),
        (v1, true, v2),
        (v2, false, v2),
        (v2, true, v2),
    ];
    for (n, (named, bit, expected)) in (1u8..).zip(cases) {
        let addr = SocketAddr::new(IpAddr::V4(Ipv4Addr::new(10, 0, 2, n)), 40000);
        let conn = s.handle_accept(now, addr).unwrap();
        s.handle_peer_data(now, conn, handshake(named, bit, n));
        let (hash, closed) = answer(&mut s);
        assert_eq!(closed, [], "peer naming {named:?}, bit {bit}");
        assert_eq!(hash, Some(expected), "peer naming {named:?}, bit {bit}");
    }
    let stranger = SocketAddr::new(IpAddr::V4(Ipv4Addr::new(10, 0, 2, 99)), 40000);
    let conn = s.handle_accept(now, stranger).unwrap();
    s.handle_peer_data(now, conn, handshake(InfoHash([0x5a; 20]), true, 99));
    assert_eq!(
        answer(&mut s),
        (None, vec![PeerCloseReason::UnknownTorrent])
    );
}
