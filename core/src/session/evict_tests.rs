//! Earning a slot: at each limit a newcomer replaces the least useful connection, in the
//! documented order; connections that trade keep their slots; silent connections go at the
//! handshake and first-message deadlines; an address that keeps opening useless connections
//! is refused for a while.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::{Duration, Instant};

use bytes::BytesMut;

use crate::id::InfoHash;
use crate::session::test_support::{
    self, add_leecher, closed as drain, handshake, two_zero_pieces,
};
use crate::session::{PeerCloseReason, Session, SessionConfig};
use crate::wire::CloseReason;

fn addr(n: u8) -> SocketAddr {
    SocketAddr::new(IpAddr::V4(Ipv4Addr::new(10, 0, 1, n)), 40000)
}

/// A running leecher with no piece and no candidate, under `config`, its closes drained.
fn session(config: SessionConfig, now: Instant) -> (Session, InfoHash) {
    let meta = two_zero_pieces();
    let mut s = test_support::session(config, now, 7);
    add_leecher(&mut s, now, &meta);
    drain(&mut s);
    (s, meta.info_hash())
}

/// A bitfield with both pieces: we become interested.
const BITFIELD: &[u8] = &[0, 0, 0, 2, 5, 0b1100_0000];
/// `interested`.
const INTERESTED: &[u8] = &[0, 0, 0, 1, 2];

fn secs(n: u64) -> Duration {
    Duration::from_secs(n)
}

#[test]
fn a_full_pending_table_replaces_the_one_heard_from_least_recently() {
    let t0 = Instant::now();
    let config = SessionConfig {
        max_pending_inbound: 3,
        ..SessionConfig::default()
    };
    let (mut s, _) = session(config, t0);
    let a = s.handle_accept(t0, addr(1)).unwrap();
    let _b = s.handle_accept(t0 + secs(1), addr(2)).unwrap();
    let _c = s.handle_accept(t0 + secs(2), addr(3)).unwrap();
    // `a` sent half a handshake at 2 s: `b` (silent since 1 s) goes first, then `a` and `c`
    // (both last heard at 2 s: the lower id first), then the newcomers in turn.
    s.handle_peer_data(t0 + secs(2), a, BytesMut::from(&b"\x13BitTorrent"[..]));
    drain(&mut s);
    assert!(s.handle_accept(t0 + secs(3), addr(4)).is_some());
    assert_eq!(drain(&mut s), vec![(addr(2), PeerCloseReason::Evicted)]);
    assert!(s.handle_accept(t0 + secs(3), addr(5)).is_some());
    assert_eq!(drain(&mut s), vec![(addr(1), PeerCloseReason::Evicted)]);
    assert!(s.handle_accept(t0 + secs(4), addr(6)).is_some());
    assert_eq!(drain(&mut s), vec![(addr(3), PeerCloseReason::Evicted)]);
    assert!(s.handle_accept(t0 + secs(4), addr(7)).is_some());
    assert_eq!(drain(&mut s), vec![(addr(4), PeerCloseReason::Evicted)]);
}

#[test]
fn a_full_torrent_replaces_the_silent_but_never_a_peer_that_trades() {
    let t0 = Instant::now();
    let config = SessionConfig {
        max_connections_per_torrent: 2,
        ..SessionConfig::default()
    };
    let (mut s, ih) = session(config, t0);
    // Two peers handshake; one says it has every piece (we get interested), one is silent.
    let a = s.handle_accept(t0, addr(1)).unwrap();
    let mut first = handshake(ih, 1);
    first.extend_from_slice(BITFIELD);
    s.handle_peer_data(t0, a, first);
    let b = s.handle_accept(t0, addr(2)).unwrap();
    s.handle_peer_data(t0, b, handshake(ih, 2));
    assert_eq!(drain(&mut s), vec![]);
    // A third: the silent one makes room.
    let c = s.handle_accept(t0 + secs(1), addr(3)).unwrap();
    s.handle_peer_data(t0 + secs(1), c, handshake(ih, 3));
    assert_eq!(drain(&mut s), vec![(addr(2), PeerCloseReason::Evicted)]);
    s.handle_peer_data(t0 + secs(1), c, BytesMut::from(INTERESTED));
    // Both trade (we want `a`'s pieces; `c` wants ours): a fourth is refused.
    let d = s.handle_accept(t0 + secs(2), addr(4)).unwrap();
    s.handle_peer_data(t0 + secs(2), d, handshake(ih, 4));
    assert_eq!(drain(&mut s), vec![(addr(4), PeerCloseReason::Limit)]);
}

#[test]
fn neither_side_interested_past_the_grace_gives_way() {
    let t0 = Instant::now();
    let config = SessionConfig {
        max_connections_per_torrent: 1,
        ..SessionConfig::default()
    };
    let grace = config.interest_grace;
    let (mut s, ih) = session(config, t0);
    let a = s.handle_accept(t0, addr(1)).unwrap();
    // A Fast peer that has nothing: neither side is interested.
    let mut first = handshake(ih, 1);
    first[27] |= 0x04;
    first.extend_from_slice(&[0, 0, 0, 1, 0x0f]);
    s.handle_peer_data(t0, a, first);
    assert_eq!(drain(&mut s), vec![]);
    // Within the grace it keeps its slot.
    let b = s.handle_accept(t0 + secs(1), addr(2)).unwrap();
    s.handle_peer_data(t0 + secs(1), b, handshake(ih, 2));
    assert_eq!(drain(&mut s), vec![(addr(2), PeerCloseReason::Limit)]);
    let late = t0 + grace;
    s.handle_peer_data(late, a, BytesMut::from(&[0, 0, 0, 0][..]));
    let c = s.handle_accept(late, addr(3)).unwrap();
    s.handle_peer_data(late, c, handshake(ih, 3));
    assert_eq!(drain(&mut s), vec![(addr(1), PeerCloseReason::Evicted)]);
}

#[test]
fn silent_sockets_free_their_slots_at_the_deadlines() {
    let t0 = Instant::now();
    let config = SessionConfig::default();
    let (hs_timeout, first_timeout) = (config.handshake_timeout, config.first_message_timeout);
    let (mut s, ih) = session(config, t0);
    let mute = s.handle_accept(t0, addr(1)).unwrap();
    let quiet = s.handle_accept(t0, addr(2)).unwrap();
    s.handle_peer_data(t0, quiet, handshake(ih, 2));
    let talker = s.handle_accept(t0, addr(3)).unwrap();
    let mut first = handshake(ih, 3);
    first.extend_from_slice(BITFIELD);
    s.handle_peer_data(t0, talker, first);
    drain(&mut s);
    let mut closed = Vec::new();
    let end = t0 + hs_timeout.max(first_timeout);
    while let Some(at) = s.poll_timeout().filter(|at| *at <= end) {
        s.handle_timeout(at);
        closed.extend(drain(&mut s).into_iter().map(|c| (at - t0, c)));
    }
    assert_eq!(
        closed,
        vec![
            (
                hs_timeout,
                (
                    addr(1),
                    PeerCloseReason::Wire(CloseReason::HandshakeTimeout)
                )
            ),
            (first_timeout, (addr(2), PeerCloseReason::Silent)),
        ]
    );
    assert!(hs_timeout <= secs(5) && first_timeout <= secs(5));
    let _ = (mute, talker);
}

#[test]
fn a_slow_peer_within_the_deadlines_keeps_its_connection() {
    let t0 = Instant::now();
    let config = SessionConfig::default();
    let (hs_timeout, first_timeout) = (config.handshake_timeout, config.first_message_timeout);
    let (mut s, ih) = session(config, t0);
    // The handshake in two parts, the second just before the deadline; the first message
    // just before its own.
    let slow = s.handle_accept(t0, addr(1)).unwrap();
    let hs = handshake(ih, 1);
    let just = |d: Duration| d - Duration::from_millis(10);
    s.handle_peer_data(t0 + secs(1), slow, BytesMut::from(&hs[..20]));
    let handshaken = t0 + just(hs_timeout);
    s.handle_peer_data(handshaken, slow, BytesMut::from(&hs[20..]));
    let spoke = handshaken + just(first_timeout);
    let mut closed = Vec::new();
    let mut run = |s: &mut Session, end: Instant| {
        while let Some(at) = s.poll_timeout().filter(|at| *at <= end) {
            s.handle_timeout(at);
            closed.extend(drain(s));
        }
    };
    run(&mut s, spoke);
    s.handle_peer_data(spoke, slow, BytesMut::from(BITFIELD));
    run(&mut s, spoke + secs(30));
    assert_eq!(closed, vec![], "a peer that speaks in time is kept");
    assert!(
        s.torrent_stats(crate::session::TorrentId(1))
            .is_some_and(|t| t.peers_connected == 1)
    );
}

#[test]
fn an_address_that_keeps_opening_useless_connections_is_refused_for_a_while() {
    let t0 = Instant::now();
    let config = SessionConfig {
        max_pending_inbound: 1,
        ..SessionConfig::default()
    };
    let (strikes, duration) = (config.penalty_strikes, config.penalty_duration);
    let (mut s, ih) = session(config, t0);
    let mut now = t0;
    // Each silent connection from 10.0.1.1 is replaced by one from another address.
    for k in 0..strikes {
        now += secs(1);
        assert!(s.handle_accept(now, addr(1)).is_some(), "strike {k}");
        assert!(s.handle_accept(now, addr(100 + k as u8)).is_some());
    }
    drain(&mut s);
    assert_eq!(s.handle_accept(now, addr(1)), None);
    assert_eq!(s.handle_accept(now + duration - secs(1), addr(1)), None);
    // Other addresses are not affected; an honest peer from one is served.
    let honest = s.handle_accept(now, addr(50)).unwrap();
    s.handle_peer_data(now, honest, handshake(ih, 50));
    assert_eq!(
        drain(&mut s).len(),
        1,
        "only the pending silent one was replaced"
    );
    assert!(s.handle_accept(now + duration, addr(1)).is_some());
}

#[test]
fn a_peer_that_sends_messages_earns_no_strike() {
    let t0 = Instant::now();
    let config = SessionConfig::default();
    let strikes = config.penalty_strikes;
    let (mut s, ih) = session(config, t0);
    let mut now = t0;
    for n in 0..strikes * 3 {
        now += secs(1);
        let c = s.handle_accept(now, addr(1)).unwrap();
        let mut first = handshake(ih, 1 + n as u8);
        first.extend_from_slice(BITFIELD);
        s.handle_peer_data(now, c, first);
        s.handle_peer_closed(now, c);
    }
    assert!(s.handle_accept(now, addr(1)).is_some());
}
