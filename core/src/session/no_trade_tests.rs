//! Slots go to peers that trade: an unchoked peer that requests nothing gives its upload slot
//! to one that waits and, at the connection limit, its connection slot to a newcomer (a strike
//! against its address, refused after a few); a slow leecher that requests and is served
//! keeps both.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};

use crate::pieces::BlockRef;
use crate::session::upload::tests::{PIECE, leecher, metainfo, pump, seeder_and_leecher};
use crate::session::{
    Action, ConnId, DiskJob, DiskJobKind, Event, PeerCloseReason, Session, SessionConfig,
};
use crate::wire;

fn addr(n: u8) -> SocketAddr {
    SocketAddr::new(IpAddr::V4(Ipv4Addr::new(10, 0, 3, n)), 40000)
}

fn secs(n: u64) -> Duration {
    Duration::from_secs(n)
}

/// Fires the session's timers up to `end`.
fn run_to(s: &mut Session, end: Instant) {
    while let Some(at) = s.poll_timeout().filter(|at| *at <= end) {
        s.handle_timeout(at);
    }
}

/// The connections closed since the last call, with why (other events dropped).
fn closed(s: &mut Session) -> Vec<(SocketAddr, PeerCloseReason)> {
    let mut out = Vec::new();
    while let Some(e) = s.poll_event() {
        if let Event::PeerClosed { addr, reason, .. } = e {
            out.push((addr, reason));
        }
    }
    out
}

/// A leecher from `addr(n)` that handshakes and says it is interested.
fn interested(s: &mut Session, n: u8, now: Instant) -> (ConnId, wire::Connection) {
    let conn = s.handle_accept(now, addr(n)).expect("accepted");
    let mut id = *b"-XX0001-leecher00000";
    id[19] = n;
    let mut remote = leecher(&metainfo(), id, now);
    pump(s, conn, &mut remote, now);
    remote.send_interested(now).unwrap();
    pump(s, conn, &mut remote, now);
    (conn, remote)
}

/// Whether the session chokes `conn`.
fn choking(s: &Session, conn: ConnId) -> bool {
    s.peers.get(conn).expect("open").conn.am_choking()
}

/// A connection from `addr(n)` that sends its handshake; `false`: refused at accept.
fn knock(s: &mut Session, n: u8, now: Instant) -> bool {
    let Some(c) = s.handle_accept(now, addr(n)) else {
        return false;
    };
    let mut hs = BytesMut::new();
    hs.extend_from_slice(b"\x13BitTorrent protocol");
    hs.extend_from_slice(&[0; 8]);
    hs.extend_from_slice(&metainfo().info_hash().0);
    hs.extend_from_slice(&[n; 20]);
    s.handle_peer_data(now, c, hs);
    while s.poll_transmit().is_some() {}
    true
}

/// The remote requests one block and the seeder serves it (its read answered).
fn trade_one(s: &mut Session, conn: ConnId, remote: &mut wire::Connection, k: u32, now: Instant) {
    let block = BlockRef::new(0, k * 16 * 1024, 16 * 1024);
    remote.request(now, block).unwrap();
    pump(s, conn, remote, now);
    let mut replies = Vec::new();
    while let Some(a) = s.poll_action() {
        if let Action::Disk(DiskJob {
            kind: DiskJobKind::Read { len, reply, .. },
            ..
        }) = a
        {
            replies.push((reply, len));
        }
    }
    assert_eq!(replies.len(), 1, "one read for the request");
    for (reply, len) in replies {
        let data = Bytes::from(vec![0u8; len as usize]);
        s.handle_completion(now, reply.send(Ok(data)));
    }
    let got = pump(s, conn, remote, now);
    assert_eq!(got.len(), 1, "served");
    assert!(k * 16 * 1024 < PIECE);
}

#[test]
fn an_unchoked_peer_that_requests_nothing_gives_its_slot_to_one_that_waits() {
    let t0 = Instant::now();
    let mut config = SessionConfig::default();
    config.choker.upload_slots = 1;
    config.choker.optimistic_slots = 0;
    let patience = config.unchoke_patience;
    let (mut s, _, a, remote_a) = seeder_and_leecher(config, t0);
    let (b, mut remote_b) = interested(&mut s, 2, t0);
    assert!(remote_b.peer_choking(), "the one slot is taken");
    // Just before the patience ends nothing changes.
    run_to(&mut s, t0 + patience - Duration::from_millis(1));
    assert!(!choking(&s, a) && choking(&s, b));
    let late = t0 + patience;
    run_to(&mut s, late);
    assert!(choking(&s, a), "it wasted its unchoke");
    assert!(!choking(&s, b), "the waiting peer got the slot at once");
    // `b` requests and is served: it keeps the slot past the patience, the turn and more.
    pump(&mut s, b, &mut remote_b, late);
    trade_one(&mut s, b, &mut remote_b, 0, late);
    run_to(&mut s, late + secs(60));
    assert!(!choking(&s, b), "a peer that traded keeps its slot");
    assert!(choking(&s, a));
    assert_eq!(closed(&mut s), vec![]);
    let _ = remote_a;
}

#[test]
fn at_the_limit_a_wasted_peer_gives_way_but_a_slow_leecher_that_trades_does_not() {
    let t0 = Instant::now();
    let config = SessionConfig {
        max_connections_per_torrent: 2,
        ..SessionConfig::default()
    };
    let (patience, grace) = (config.unchoke_patience, config.trade_grace);
    let (mut s, _, a, _remote_a) = seeder_and_leecher(config, t0);
    let a_addr = SocketAddr::from(([127, 0, 0, 1], 9000));
    let (b, mut remote_b) = interested(&mut s, 2, t0);
    assert!(!remote_b.peer_choking());
    // `b` is a slow leecher: a block every 4 s, for three trade graces. `a` requests nothing.
    let mut now = t0;
    let end = t0 + grace * 3;
    let mut k = 0;
    while now < end {
        now += secs(4);
        run_to(&mut s, now);
        trade_one(&mut s, b, &mut remote_b, k % 16, now);
        k += 1;
    }
    assert!(now > t0 + patience + grace);
    assert_eq!(
        closed(&mut s),
        vec![],
        "no one is replaced while no one wants a slot"
    );
    // A newcomer: `a` gives way, `b` stays.
    let c = s.handle_accept(now, addr(3)).unwrap();
    let mut id = *b"-XX0001-leecher00000";
    id[19] = 3;
    let mut remote_c = leecher(&metainfo(), id, now);
    pump(&mut s, c, &mut remote_c, now);
    assert_eq!(closed(&mut s), vec![(a_addr, PeerCloseReason::Evicted)]);
    let _ = a;
    // Another: `c` has not had its chance yet and `b` trades, so it is refused.
    let d = s.handle_accept(now, addr(4)).unwrap();
    let mut id = *b"-XX0001-leecher00000";
    id[19] = 4;
    let mut remote_d = leecher(&metainfo(), id, now);
    pump(&mut s, d, &mut remote_d, now);
    assert_eq!(closed(&mut s), vec![(addr(4), PeerCloseReason::Limit)]);
    trade_one(&mut s, b, &mut remote_b, 1, now);
}

#[test]
fn an_interested_peer_that_never_trades_gives_way_after_the_trade_grace() {
    let t0 = Instant::now();
    let mut config = SessionConfig {
        max_connections_per_torrent: 2,
        ..SessionConfig::default()
    };
    config.choker.upload_slots = 1;
    config.choker.optimistic_slots = 0;
    let grace = config.trade_grace;
    let (mut s, _, a, mut remote_a) = seeder_and_leecher(config, t0);
    // `a` holds the one upload slot and trades; `b` waits choked.
    trade_one(&mut s, a, &mut remote_a, 0, t0);
    let (_b, remote_b) = interested(&mut s, 2, t0);
    assert!(remote_b.peer_choking());
    let newcomer = |s: &mut Session, n: u8, now: Instant| {
        assert!(knock(s, n, now));
        closed(s)
    };
    // Within the grace `b` keeps its slot.
    let before = t0 + grace - secs(1);
    run_to(&mut s, before);
    trade_one(&mut s, a, &mut remote_a, 1, before);
    assert_eq!(
        newcomer(&mut s, 3, before),
        vec![(addr(3), PeerCloseReason::Limit)]
    );
    // Past it, `b` (nothing traded) gives way; `a` (trading) does not.
    let after = t0 + grace;
    run_to(&mut s, after);
    assert_eq!(
        newcomer(&mut s, 4, after),
        vec![(addr(2), PeerCloseReason::Evicted)]
    );
}

#[test]
fn an_address_replaced_for_wasting_its_slot_takes_no_other_and_is_refused_if_it_insists() {
    let t0 = Instant::now();
    let config = SessionConfig {
        max_connections_per_torrent: 1,
        ..SessionConfig::default()
    };
    let patience = config.unchoke_patience;
    let (mut s, _, _, _) = seeder_and_leecher(config, t0);
    // The first holder wastes its unchoke; `addr(1)` takes its slot, wastes it too, and a
    // newcomer takes it from `addr(1)`.
    let mut now = t0 + patience;
    run_to(&mut s, now);
    let (_, remote) = interested(&mut s, 1, now);
    assert!(!remote.peer_choking());
    now += patience;
    run_to(&mut s, now);
    let _ = closed(&mut s);
    let (_, other) = interested(&mut s, 2, now);
    assert!(!other.peer_choking());
    assert_eq!(closed(&mut s), vec![(addr(1), PeerCloseReason::Evicted)]);
    // `addr(2)` wastes its slot too: `addr(1)` may not take it, a fresh address may.
    now += patience;
    run_to(&mut s, now);
    assert!(knock(&mut s, 1, now));
    assert_eq!(closed(&mut s), vec![(addr(1), PeerCloseReason::Limit)]);
    let _ = interested(&mut s, 3, now);
    assert_eq!(closed(&mut s), vec![(addr(2), PeerCloseReason::Evicted)]);
    // `addr(1)` reconnects every half second: refused after a few.
    let mut refused_at = None;
    for k in 1..10 {
        let at = now + Duration::from_millis(500 * k);
        if !knock(&mut s, 1, at) {
            refused_at = Some(k);
            break;
        }
        assert_eq!(closed(&mut s), vec![(addr(1), PeerCloseReason::Limit)]);
    }
    // Strikes: the eviction, then the third and fourth refusals in quick succession.
    assert_eq!(refused_at, Some(4));
    assert!(
        s.handle_accept(now + secs(3), addr(4)).is_some(),
        "others are not refused"
    );
}
