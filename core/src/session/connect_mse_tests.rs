//! Dialling with the encrypted handshake: a peer that closes our plain handshake is redialled
//! at once with MSE, and our BitTorrent handshake follows it; `Prefer` starts with MSE; `Never`
//! stays plain.

use std::net::SocketAddr;
use std::time::Instant;

use bytes::BytesMut;

use crate::id::InfoHash;
use crate::session::test_support::{self, add_leecher, two_zero_pieces};
use crate::session::{Action, ConnId, Dest, OutgoingEncryption, Session, SessionConfig, TorrentId};
use crate::wire::mse::{MseResponder, MseStep};

const PLAIN: &[u8] = b"\x13BitTorrent protocol";

const PEER: SocketAddr = SocketAddr::new(
    std::net::IpAddr::V4(std::net::Ipv4Addr::new(10, 0, 0, 2)),
    6881,
);

/// Bytes the session sent on `conn`, and the connections it asked to open.
fn drain(s: &mut Session, conn: Option<ConnId>) -> (Vec<u8>, Vec<ConnId>) {
    let mut sent = Vec::new();
    while let Some(t) = s.poll_transmit() {
        if Some(t.dest) == conn.map(Dest::Peer) {
            sent.extend_from_slice(&t.payload);
        }
    }
    let mut dials = Vec::new();
    while let Some(a) = s.poll_action() {
        if let Action::Connect { conn, addr } = a {
            assert_eq!(addr, PEER);
            dials.push(conn);
        }
    }
    while s.poll_event().is_some() {}
    (sent, dials)
}

/// A session downloading [`two_zero_pieces`] with `PEER` as its only candidate.
fn leecher(encryption: OutgoingEncryption, now: Instant) -> (Session, TorrentId, InfoHash) {
    let config = SessionConfig {
        outgoing_encryption: encryption,
        ..SessionConfig::default()
    };
    let mut s = test_support::session(config, now, 3);
    let meta = two_zero_pieces();
    let t = add_leecher(&mut s, now, &meta);
    s.add_peers(now, t, &[PEER]);
    (s, t, meta.info_hash())
}

/// Dials `PEER` (the one pending connect) and returns the connection and its first bytes.
fn dial(s: &mut Session, now: Instant) -> (ConnId, Vec<u8>) {
    let (_, dials) = drain(s, None);
    assert_eq!(dials.len(), 1, "one connect to the peer");
    let conn = dials[0];
    s.handle_connected(now, conn, Ok(()));
    let (sent, _) = drain(s, Some(conn));
    (conn, sent)
}

/// Plays B against the session's MSE dial on `conn` (whose first bytes were `first`); returns
/// what the session sends once the handshake is over.
fn answer(
    s: &mut Session,
    conn: ConnId,
    first: &[u8],
    info_hash: InfoHash,
    now: Instant,
) -> Vec<u8> {
    assert!(first.len() >= 96 && first.len() <= 96 + 512, "Ya and PadA");
    assert_ne!(&first[..PLAIN.len()], PLAIN);
    let mut b = MseResponder::new([8; 20], vec![0x77; 40]);
    let Ok(MseStep::Continue(yb)) = b.receive(first, &[info_hash]) else {
        panic!("B answers with Yb");
    };
    s.handle_peer_data(now, conn, BytesMut::from(&yb[..]));
    let (third, _) = drain(s, Some(conn));
    assert!(!third.is_empty(), "step 3");
    let Ok(MseStep::Established {
        reply,
        payload,
        stream: None,
        ..
    }) = b.receive(&third, &[info_hash])
    else {
        panic!("B ends the handshake in plaintext");
    };
    assert!(
        payload.is_empty(),
        "no initial payload: the handshake was held"
    );
    s.handle_peer_data(now, conn, BytesMut::from(&reply[..]));
    drain(s, Some(conn)).0
}

#[test]
fn a_peer_that_closes_a_plain_handshake_is_redialled_with_mse_at_once() {
    let now = Instant::now();
    let (mut s, _, info_hash) = leecher(OutgoingEncryption::Fallback, now);
    let (conn, first) = dial(&mut s, now);
    assert_eq!(&first[..PLAIN.len()], PLAIN, "plain BitTorrent first");
    // A peer requiring encryption hangs up on it.
    s.handle_peer_closed(now, conn);
    let (conn, first) = dial(&mut s, now);
    let handshake = answer(&mut s, conn, &first, info_hash, now);
    assert_eq!(
        &handshake[..PLAIN.len()],
        PLAIN,
        "then our BitTorrent handshake, plain"
    );
    assert_eq!(&handshake[28..48], &info_hash.0);
}

#[test]
fn prefer_dials_with_mse_first_and_never_stays_plain() {
    let now = Instant::now();
    let (mut s, _, info_hash) = leecher(OutgoingEncryption::Prefer, now);
    let (conn, first) = dial(&mut s, now);
    let handshake = answer(&mut s, conn, &first, info_hash, now);
    assert_eq!(&handshake[..PLAIN.len()], PLAIN);

    let (mut s, _, _) = leecher(OutgoingEncryption::Never, now);
    let (conn, first) = dial(&mut s, now);
    assert_eq!(&first[..PLAIN.len()], PLAIN);
    s.handle_peer_closed(now, conn);
    let (_, dials) = drain(&mut s, None);
    assert!(dials.is_empty(), "no redial at once: the usual backoff");
}

#[test]
fn a_failed_mse_dial_falls_back_to_plain() {
    let now = Instant::now();
    let (mut s, _, _) = leecher(OutgoingEncryption::Prefer, now);
    let (conn, first) = dial(&mut s, now);
    assert_ne!(&first[..PLAIN.len()], PLAIN);
    // A peer that speaks only plain BitTorrent hangs up on the key exchange.
    s.handle_peer_closed(now, conn);
    let (_, first) = dial(&mut s, now);
    assert_eq!(&first[..PLAIN.len()], PLAIN);
}

#[test]
fn a_peer_that_never_answers_the_key_exchange_times_out() {
    let now = Instant::now();
    let (mut s, _, _) = leecher(OutgoingEncryption::Prefer, now);
    let (conn, first) = dial(&mut s, now);
    assert_ne!(&first[..PLAIN.len()], PLAIN);
    let mut closed = false;
    let mut at = now;
    for _ in 0..100 {
        let Some(next) = s.poll_timeout() else {
            break;
        };
        at = next.max(at);
        s.handle_timeout(at);
        while let Some(a) = s.poll_action() {
            closed |= matches!(a, Action::Close { conn: c } if c == conn);
        }
        while s.poll_transmit().is_some() {}
        while s.poll_event().is_some() {}
        if closed {
            break;
        }
    }
    assert!(closed, "closed by the handshake timeout");
    assert!(
        at - now <= std::time::Duration::from_secs(60),
        "within {:?}",
        at - now
    );
}
