//! The work sets in the session (see [`Work`](super::torrent::work::Work)): a torrent leaves
//! the dial set when it has nothing to dial and enters it again when it changes; a dial slot
//! freed lets a torrent waiting at the half-open limit dial; a stale dial gives way on time
//! with no other input; and one input visits the torrents it touched, not all of them.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::{Duration, Instant};

use crate::magnet::MagnetLink;
use crate::session::{
    Action, ConnId, Event, Session, SessionConfig, TorrentId, TorrentOptions, TorrentSource,
};

fn addr(torrent: u32, n: u8) -> SocketAddr {
    let [a, b] = (torrent as u16).to_be_bytes();
    SocketAddr::new(IpAddr::V4(Ipv4Addr::new(10, a, b, n)), 40000)
}

fn secs(n: u64) -> Duration {
    Duration::from_secs(n)
}

/// A session with `n` magnet torrents (fetching metadata: they dial), `half_open` dial
/// slots, 3 s dial patience.
fn session(now: Instant, n: u32, half_open: usize) -> (Session, Vec<TorrentId>) {
    let config = SessionConfig {
        max_half_open: half_open,
        dial_patience: secs(3),
        dial_patience_outranked: secs(3),
        connect_timeout: secs(10),
        ..SessionConfig::default()
    };
    let mut s = Session::new(config, now, 7);
    s.set_listen_addr(SocketAddr::from(([10, 0, 0, 1], 7000)));
    let mut ids = Vec::new();
    for i in 0..n {
        let mut hash = [0u8; 20];
        hash[..4].copy_from_slice(&(i + 1).to_be_bytes());
        let hex: String = hash.iter().map(|b| format!("{b:02x}")).collect();
        let link = MagnetLink::parse(&format!("magnet:?xt=urn:btih:{hex}")).unwrap();
        let source = TorrentSource::Magnet(link);
        ids.push(
            s.add_torrent(now, source, TorrentOptions::default())
                .unwrap(),
        );
        dials(&mut s);
    }
    (s, ids)
}

/// The connects the session asked for since the last call (everything else drained).
fn dials(s: &mut Session) -> Vec<(ConnId, SocketAddr)> {
    while s.poll_transmit().is_some() {}
    while s.poll_event().is_some() {}
    let mut dialled = Vec::new();
    while let Some(a) = s.poll_action() {
        if let Action::Connect { conn, addr } = a {
            dialled.push((conn, addr));
        }
    }
    dialled
}

impl Session {
    fn in_dial_set(&mut self, id: TorrentId) -> bool {
        self.torrents.settle();
        self.torrents.work_has(id).0
    }

    fn is_waiting(&mut self, id: TorrentId) -> bool {
        self.torrents.settle();
        self.torrents.work_has(id).1
    }
}

#[test]
fn a_torrent_leaves_the_dial_set_and_enters_again() {
    let t0 = Instant::now();
    let (mut s, ids) = session(t0, 2, 8);
    let (a, b) = (ids[0], ids[1]);
    assert!(!s.in_dial_set(a), "no candidates, nothing to dial");
    s.add_peers(t0, a, &[addr(1, 1)]);
    let d = dials(&mut s);
    assert_eq!(d.iter().map(|d| d.1).collect::<Vec<_>>(), vec![addr(1, 1)]);
    assert!(!s.in_dial_set(a), "its only candidate is being dialled");
    assert!(!s.in_dial_set(b));

    // The dial fails: the torrent changed, so it is looked at again; its candidate backs off.
    s.handle_connected(t0, d[0].0, Err(std::io::ErrorKind::ConnectionRefused));
    assert!(dials(&mut s).is_empty());
    assert!(!s.in_dial_set(a), "nothing ready: it left again");

    // Only timeouts from here: the backoff ending is the torrent's deadline, which brings it
    // back, and the candidate is dialled again.
    let (again, now) = loop {
        let now = s.poll_timeout().expect("a deadline");
        assert!(now < t0 + secs(120), "never dialled again");
        s.handle_timeout(now);
        let d = dials(&mut s);
        if !d.is_empty() {
            break (d, now);
        }
    };
    assert_eq!(again[0].1, addr(1, 1));
    assert!(now > t0, "after the backoff");
}

#[test]
fn a_freed_dial_slot_lets_a_waiting_torrent_dial() {
    let t0 = Instant::now();
    let (mut s, ids) = session(t0, 3, 1);
    let (a, b, c) = (ids[0], ids[1], ids[2]);
    s.add_peers(t0, a, &[addr(1, 1)]);
    let first = dials(&mut s);
    assert_eq!(first.len(), 1);
    s.add_peers(t0, c, &[addr(3, 1)]);
    assert!(dials(&mut s).is_empty(), "at the half-open limit");
    assert!(s.is_waiting(c) && !s.in_dial_set(c));
    assert!(!s.in_dial_set(b) && !s.is_waiting(b));

    // Torrent a's dial is answered: the slot is free, and the waiting torrent takes it in
    // the same input, though nothing about it changed.
    s.handle_connected(t0 + secs(1), first[0].0, Ok(()));
    let d = dials(&mut s);
    assert_eq!(d.iter().map(|d| d.1).collect::<Vec<_>>(), vec![addr(3, 1)]);
}

#[test]
fn a_stale_dial_gives_way_on_time_with_no_other_input() {
    let t0 = Instant::now();
    let (mut s, ids) = session(t0, 2, 1);
    let (a, b) = (ids[0], ids[1]);
    s.add_peers(t0, a, &[addr(1, 1)]);
    let first = dials(&mut s);
    assert_eq!(first.len(), 1);
    s.add_peers(t0 + secs(1), b, &[addr(2, 1)]);
    assert!(dials(&mut s).is_empty());
    assert!(s.is_waiting(b));

    // Nothing arrives; the session's own deadline is the dial's patience.
    let at = s.poll_timeout().expect("a deadline");
    assert!(
        at <= t0 + secs(3),
        "woken at the patience, not later: {at:?}"
    );
    let mut now = at;
    while now < t0 + secs(3) {
        s.handle_timeout(now);
        assert!(dials(&mut s).is_empty(), "too early at {:?}", now - t0);
        now = s.poll_timeout().expect("a deadline");
    }
    assert_eq!(now, t0 + secs(3));
    s.handle_timeout(now);
    let mut closed = Vec::new();
    let mut dialled = Vec::new();
    while let Some(a) = s.poll_action() {
        match a {
            Action::Close { conn } => closed.push(conn),
            Action::Connect { addr, .. } => dialled.push(addr),
            _ => {}
        }
    }
    assert_eq!(closed, vec![first[0].0], "the stale dial gives way");
    assert_eq!(
        dialled,
        vec![addr(2, 1)],
        "to the waiting torrent's candidate"
    );
}

#[test]
fn one_input_visits_the_torrents_it_touched_not_all() {
    const N: u32 = 2_000;
    let t0 = Instant::now();
    let (mut s, ids) = session(t0, N, 4);
    // Every torrent has a candidate; four dial, the others wait for a slot.
    for (i, id) in ids.iter().enumerate() {
        s.add_peers(t0, *id, &[addr(i as u32, 1)]);
    }
    let d = dials(&mut s);
    assert_eq!(d.len(), 4);
    let visits = |s: &Session| s.torrents.visits();

    // A peer input on one connection: a dial answered frees a slot for one waiting torrent.
    let before = visits(&s);
    s.handle_connected(t0, d[0].0, Ok(()));
    assert_eq!(dials(&mut s).len(), 1, "the slot went to a waiting torrent");
    let connected = visits(&s) - before;
    assert!(
        connected <= 3,
        "{connected} torrents visited for one connect"
    );

    // Bytes on that connection: no dial slot changes, nothing to visit but its torrent.
    let before = visits(&s);
    s.handle_peer_data(t0, d[0].0, bytes::BytesMut::from(&b"\x13BitTorrent"[..]));
    dials(&mut s);
    let data = visits(&s) - before;
    assert!(
        data <= 1,
        "{data} torrents visited for bytes of one connection"
    );

    // A timeout at which nothing is due.
    let before = visits(&s);
    s.handle_timeout(t0);
    dials(&mut s);
    assert_eq!(visits(&s) - before, 0);

    // One torrent stops: only it is visited for the stop.
    let before = visits(&s);
    s.stop_torrent(t0, ids[N as usize - 1]);
    dials(&mut s);
    let stop = visits(&s) - before;
    assert!(stop <= 3, "{stop} torrents visited for one stop");

    // The shutdown ends once every torrent stopped, without scanning them per input.
    s.shutdown(t0);
    let mut done = false;
    while let Some(e) = s.poll_event() {
        done |= matches!(e, Event::ShutdownComplete);
    }
    while s.poll_action().is_some() {}
    assert!(
        done,
        "every torrent stopped at once (no trackers, no disk jobs)"
    );
}

#[test]
fn one_statistics_tick_reports_every_active_torrent() {
    const N: u32 = 200;
    let t0 = Instant::now();
    let config = SessionConfig {
        dht: false,
        ..SessionConfig::default()
    };
    let mut s = Session::new(config, t0, 7);
    let mut ids = Vec::new();
    // Added over 200 ms: a timer per torrent would wake the session 200 times a second.
    for i in 0..N {
        let mut hash = [0u8; 20];
        hash[..4].copy_from_slice(&(i + 1).to_be_bytes());
        let hex: String = hash.iter().map(|b| format!("{b:02x}")).collect();
        let link = MagnetLink::parse(&format!("magnet:?xt=urn:btih:{hex}")).unwrap();
        let at = t0 + Duration::from_millis(u64::from(i));
        let source = TorrentSource::Magnet(link);
        ids.push(
            s.add_torrent(at, source, TorrentOptions::default())
                .unwrap(),
        );
        dials(&mut s);
    }
    s.stop_torrent(t0 + secs(1) / 2, ids[0]);
    dials(&mut s);

    // Ten seconds with no input but the timer.
    let mut wakes = 0;
    let mut looked = 0;
    let mut stats = std::collections::BTreeMap::<TorrentId, Vec<Instant>>::new();
    let end = t0 + secs(10) + secs(1) / 2;
    while let Some(at) = s.poll_timeout().filter(|at| *at <= end) {
        wakes += 1;
        let before = s.loop_work().stats_looked;
        s.handle_timeout(at);
        if at > t0 + secs(1) {
            looked = looked.max(s.loop_work().stats_looked - before);
        }
        while s.poll_action().is_some() {}
        while let Some(e) = s.poll_event() {
            if let Event::Stats { torrent, .. } = e {
                stats.entry(torrent).or_default().push(at);
            }
        }
    }
    assert!(wakes <= 12, "{wakes} wake-ups in 10 s");
    assert!(
        !stats.contains_key(&ids[0]),
        "a stopped torrent is not reported"
    );
    // Nothing changes for these magnets: reported at the first tick (they are new), then at
    // their turn, every fifth tick, a fifth of them at each tick.
    let first = t0 + secs(1);
    for id in &ids[1..] {
        let times = &stats[id];
        assert_eq!(
            times[0], first,
            "torrent {id:?}: reported at the first tick"
        );
        assert!(
            (2..=3).contains(&times.len()),
            "torrent {id:?}: reported at {times:?}"
        );
        for pair in times.windows(2) {
            assert!(pair[1] - pair[0] <= secs(5), "torrent {id:?}: {times:?}");
        }
    }
    // After the first tick (every torrent new), each tick looks at a fifth of them.
    let share = (ids.len() - 1).div_ceil(5) as u64;
    assert!(
        looked <= share,
        "{looked} looked at in one tick (a share is {share})"
    );
    let per_tick: Vec<usize> = (2..=10)
        .map(|k| {
            let at = t0 + secs(k);
            stats.values().filter(|times| times.contains(&at)).count()
        })
        .collect();
    assert!(
        per_tick.iter().all(|n| *n as u64 <= share),
        "reports per tick after the first: {per_tick:?} (a share is {share})"
    );
}
