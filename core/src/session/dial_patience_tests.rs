//! The half-open limit: a candidate waiting to dial takes the place of the oldest dial that
//! has gone unanswered for `dial_patience`; without one waiting, dials run to the connect
//! timeout; the session wakes at the patience deadline and does not spin after it.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::{Duration, Instant};

use crate::session::peers::{DialStages, Dialing, Peers};
use crate::session::test_support::{self, add_leecher, two_zero_pieces};
use crate::session::{Action, ConnId, Event, PeerCloseReason, Session, SessionConfig, TorrentId};

fn addr(n: u8) -> SocketAddr {
    SocketAddr::new(IpAddr::V4(Ipv4Addr::new(10, 0, 1, n)), 40000)
}

fn secs(n: u64) -> Duration {
    Duration::from_secs(n)
}

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

/// A running leecher with no candidate; two half-open slots, 3 s patience, 10 s timeout.
fn session(now: Instant) -> (Session, TorrentId) {
    let config = SessionConfig {
        max_half_open: 2,
        dial_patience: secs(3),
        connect_timeout: secs(10),
        ..SessionConfig::default()
    };
    let mut s = test_support::session(config, now, 7);
    let id = add_leecher(&mut s, now, &two_zero_pieces());
    drain(&mut s);
    (s, id)
}

/// What the session did since the last call.
#[derive(Debug, Default)]
struct Drained {
    dialled: Vec<(ConnId, SocketAddr)>,
    closed: Vec<ConnId>,
    failed: Vec<SocketAddr>,
}

fn drain(s: &mut Session) -> Drained {
    while s.poll_transmit().is_some() {}
    let mut d = Drained::default();
    while let Some(a) = s.poll_action() {
        match a {
            Action::Connect { conn, addr } => d.dialled.push((conn, addr)),
            Action::Close { conn } => d.closed.push(conn),
            _ => {}
        }
    }
    while let Some(e) = s.poll_event() {
        if let Event::PeerClosed {
            addr,
            reason: PeerCloseReason::ConnectFailed(std::io::ErrorKind::TimedOut),
            ..
        } = e
        {
            d.failed.push(addr);
        }
    }
    d
}

#[test]
fn a_waiting_candidate_takes_the_slot_of_a_dial_past_its_patience() {
    let t0 = Instant::now();
    let (mut s, id) = session(t0);
    s.add_peers(t0, id, &[addr(1)]);
    s.add_peers(t0 + secs(1), id, &[addr(2), addr(3)]);
    let d = drain(&mut s);
    let (first, second) = (d.dialled[0].0, d.dialled[1].0);
    assert_eq!(d.dialled, vec![(first, addr(1)), (second, addr(2))]);
    assert!(d.closed.is_empty());

    // The session wakes when the first dial's patience runs out, not at its timeout.
    assert!(s.poll_timeout().is_some_and(|at| at <= t0 + secs(3)));
    s.handle_timeout(t0 + secs(3));
    let d = drain(&mut s);
    assert_eq!(d.closed, vec![first], "the oldest dial gives way");
    assert_eq!(d.failed, vec![addr(1)]);
    assert_eq!(d.dialled.len(), 1);
    assert_eq!(d.dialled[0].1, addr(3), "the waiting candidate is dialled");

    // Then the second one's, which gives way to nobody (addr(1) is backing off).
    assert!(s.poll_timeout().is_some_and(|at| at <= t0 + secs(4)));
    s.handle_timeout(t0 + secs(4));
    let d = drain(&mut s);
    assert!(d.closed.is_empty() && d.dialled.is_empty(), "{d:?}");
    assert!(
        s.poll_timeout().is_some_and(|at| at > t0 + secs(4)),
        "no wake-up in the past: {:?}",
        s.poll_timeout()
    );
    // A newcomer later takes the oldest dial past its patience.
    s.add_peers(t0 + secs(5), id, &[addr(4)]);
    let d = drain(&mut s);
    assert_eq!(d.closed, vec![second]);
    assert_eq!(d.dialled.len(), 1);
    assert_eq!(d.dialled[0].1, addr(4));
}

#[test]
fn without_a_waiting_candidate_dials_run_to_the_connect_timeout() {
    let t0 = Instant::now();
    let (mut s, id) = session(t0);
    s.add_peers(t0, id, &[addr(1), addr(2)]);
    let d = drain(&mut s);
    assert_eq!(d.dialled.len(), 2);
    s.handle_timeout(t0 + secs(3));
    let d = drain(&mut s);
    assert!(d.closed.is_empty() && d.failed.is_empty(), "{d:?}");
    assert!(s.poll_timeout().is_some_and(|at| at <= t0 + secs(10)));
    s.handle_timeout(t0 + secs(9));
    let d = drain(&mut s);
    assert!(d.closed.is_empty() && d.failed.is_empty(), "{d:?}");
    s.handle_timeout(t0 + secs(10));
    let d = drain(&mut s);
    assert_eq!(d.closed.len(), 2, "both time out");
    assert_eq!(d.failed, vec![addr(1), addr(2)]);
}

#[test]
fn a_fresh_dial_keeps_its_slot() {
    let t0 = Instant::now();
    let (mut s, id) = session(t0);
    s.add_peers(t0, id, &[addr(1), addr(2)]);
    drain(&mut s);
    s.add_peers(t0 + secs(2), id, &[addr(3)]);
    let d = drain(&mut s);
    assert!(d.closed.is_empty() && d.dialled.is_empty(), "{d:?}");
}

#[test]
fn a_candidate_of_a_better_source_waits_only_for_the_outranked_patience() {
    let t0 = Instant::now();
    let config = SessionConfig {
        dial_patience: secs(3),
        dial_patience_outranked: secs(1),
        ..SessionConfig::default()
    };
    let mut peers = Peers::default();
    let (a, b) = (peers.alloc_conn(), peers.alloc_conn());
    let dial = |n, since| Dialing {
        addr: addr(n),
        torrent: TorrentId(1),
        since,
        woken: None,
    };
    peers.start_dial(a, dial(1, t0));
    peers.start_dial(b, dial(2, t0 + ms(500)));
    let (distrusted, trusted, user) = ((true, 7), (true, 0), (false, 7));
    let holes = |_: &Dialing| Some(distrusted);
    // A candidate of the same standing waits for the full patience, the oldest gives way.
    assert_eq!(
        peers.stale_dial(t0 + ms(2999), &config, distrusted, holes),
        None
    );
    assert_eq!(
        peers.stale_dial(t0 + secs(3), &config, distrusted, holes),
        Some(a)
    );
    // One of a better standing (a source that answers, or the user) only for 1 s.
    assert_eq!(
        peers.stale_dial(t0 + ms(999), &config, trusted, holes),
        None
    );
    assert_eq!(
        peers.stale_dial(t0 + secs(1), &config, trusted, holes),
        Some(a)
    );
    assert_eq!(
        peers.stale_dial(t0 + secs(1), &config, user, holes),
        Some(a)
    );
    // A dial of a better standing than the candidate keeps its full patience, and one whose
    // address is no longer known counts as not outranked.
    let good = |_: &Dialing| Some(trusted);
    assert_eq!(
        peers.stale_dial(t0 + secs(2), &config, distrusted, good),
        None
    );
    assert_eq!(
        peers.stale_dial(t0 + secs(2), &config, trusted, |_| None),
        None
    );
    assert_eq!(
        peers.stale_dial(t0 + secs(3), &config, trusted, |_| None),
        Some(a)
    );
}

#[test]
fn a_dial_wakes_the_session_at_each_patience_then_at_its_timeout() {
    let t0 = Instant::now();
    let stages = DialStages {
        patience: [secs(1), secs(3)],
        connect_timeout: secs(10),
    };
    let mut d = Dialing {
        addr: addr(1),
        torrent: TorrentId(1),
        since: t0,
        woken: None,
    };
    assert_eq!(stages.next(&d), t0 + secs(1));
    d.woken = Some(t0 + secs(1));
    assert_eq!(stages.next(&d), t0 + secs(3));
    // Woken late (past both patiences): straight to the timeout.
    d.woken = Some(t0 + secs(4));
    assert_eq!(stages.next(&d), t0 + secs(10));
    d.woken = None;
    // Patiences at or past the timeout are no stages.
    let off = DialStages {
        patience: [secs(10), secs(12)],
        ..stages
    };
    assert_eq!(off.next(&d), t0 + secs(10));
}
