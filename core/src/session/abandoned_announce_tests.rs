//! Announces their announcer abandons (a stop, a `stopped` given up at the stop deadline)
//! leave the UDP tracker with them: nothing of theirs is retransmitted afterwards, so a
//! tracker never sees a `started` after the torrent's `stopped`, nor a stale `stopped` after
//! the restart's `started`.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use crate::io::Dest;
use crate::magnet::MagnetLink;
use crate::session::{Session, SessionConfig, TorrentId, TorrentOptions, TorrentSource};

const TRACKER: &str = "127.0.0.1:6969";
/// BEP 15's events, as an announce datagram carries them.
const STARTED: u32 = 2;
const STOPPED: u32 = 3;

fn tracker() -> SocketAddr {
    TRACKER.parse().expect("an address")
}

fn session(now: Instant, config: SessionConfig) -> (Session, TorrentId) {
    let config = SessionConfig {
        dht: false,
        ..config
    };
    let mut s = Session::new(config, now, 5);
    let link = format!("magnet:?xt=urn:btih:{}&tr=udp://{TRACKER}", "ab".repeat(20));
    let source = TorrentSource::Magnet(MagnetLink::parse(&link).expect("a magnet"));
    let id = (s.add_torrent(now, source, TorrentOptions::default())).expect("added");
    s.handle_timeout(now);
    (s, id)
}

/// The datagrams sent to the tracker since the last call (actions and events drained too).
fn sent(s: &mut Session) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    while let Some(t) = s.poll_transmit() {
        if t.dest == Dest::Udp(tracker()) {
            out.push(t.payload.to_vec());
        }
    }
    while s.poll_action().is_some() {}
    while s.poll_event().is_some() {}
    out
}

fn u32_at(d: &[u8], at: usize) -> u32 {
    u32::from_be_bytes(d[at..at + 4].try_into().expect("four bytes"))
}

/// The events of the announce datagrams among `datagrams` (connects are left out).
fn announces(datagrams: &[Vec<u8>]) -> Vec<u32> {
    (datagrams.iter())
        .filter(|d| d.len() >= 98 && u32_at(d, 8) == 1)
        .map(|d| u32_at(d, 80))
        .collect()
}

/// Answers the connect request among `datagrams`; returns the announce datagrams sent next.
fn connect(s: &mut Session, now: Instant, datagrams: &[Vec<u8>]) -> Vec<Vec<u8>> {
    let c = (datagrams.iter().find(|d| d.len() == 16)).expect("a connect request");
    let answer = [
        &0u32.to_be_bytes()[..],
        &c[12..16],
        &0xC0FFEEu64.to_be_bytes(),
    ]
    .concat();
    s.handle_datagram(now, tracker(), &answer);
    sent(s)
}

/// Answers an announce datagram (no peers, an hour's interval).
fn answer(s: &mut Session, now: Instant, announce: &[u8]) {
    let answer = [1, u32_at(announce, 12), 3600, 0, 1]
        .map(u32::to_be_bytes)
        .concat();
    s.handle_datagram(now, tracker(), &answer);
}

/// Fires the session's timers up to `to`, one deadline at a time; the announces sent.
fn run_to(s: &mut Session, to: Instant) -> Vec<u32> {
    let mut events = Vec::new();
    while let Some(at) = s.poll_timeout().filter(|&at| at <= to) {
        s.handle_timeout(at);
        events.extend(announces(&sent(s)));
    }
    s.handle_timeout(to);
    events.extend(announces(&sent(s)));
    events
}

#[test]
fn a_started_unanswered_at_the_stop_is_not_retransmitted_after_it() {
    let t0 = Instant::now();
    let (mut s, id) = session(t0, SessionConfig::default());
    let first = sent(&mut s);
    let started = connect(&mut s, t0, &first);
    assert_eq!(announces(&started), [STARTED]);
    // No tracker answered yet: no `stopped` is owed, and the `started` is dropped.
    s.stop_torrent(t0, id);
    assert_eq!(announces(&sent(&mut s)), [] as [u32; 0]);
    let later = run_to(&mut s, t0 + Duration::from_secs(200));
    assert_eq!(later, [] as [u32; 0], "announces after the stop");
}

#[test]
fn a_stopped_given_up_at_the_deadline_is_not_retransmitted_after_the_restart() {
    let t0 = Instant::now();
    let mut config = SessionConfig {
        shutdown_timeout: Duration::from_secs(10),
        ..SessionConfig::default()
    };
    // The announcer would wait longer for the `stopped` answer than the torrent's deadline.
    config.announcer.stop_timeout = Duration::from_secs(30);
    let (mut s, id) = session(t0, config);
    let first = sent(&mut s);
    let started = connect(&mut s, t0, &first);
    assert_eq!(announces(&started), [STARTED]);
    answer(&mut s, t0, &started[0]);
    s.stop_torrent(t0, id);
    assert_eq!(announces(&sent(&mut s)), [STOPPED]);
    // Asked while it stops: it starts once stopped, at the deadline (the `stopped` unanswered).
    s.start_torrent(t0, id).expect("started again");
    let deadline = t0 + Duration::from_secs(10);
    assert_eq!(
        run_to(&mut s, deadline),
        [STARTED],
        "the restart's announce"
    );
    let later = run_to(&mut s, t0 + Duration::from_secs(20));
    assert!(
        !later.contains(&STOPPED),
        "a `stopped` after the restart's `started`: {later:?}"
    );
}

#[test]
fn an_abandoned_http_announce_is_cancelled_and_its_late_answer_ignored() {
    use crate::session::{Action, SnapshotDetail};
    use crate::tracker::ResponseReader;

    let t0 = Instant::now();
    let config = SessionConfig {
        dht: false,
        ..SessionConfig::default()
    };
    let mut s = Session::new(config, t0, 5);
    let link = format!(
        "magnet:?xt=urn:btih:{}&tr=http://{TRACKER}/announce",
        "ab".repeat(20)
    );
    let source = TorrentSource::Magnet(MagnetLink::parse(&link).expect("a magnet"));
    let id = (s.add_torrent(t0, source, TorrentOptions::default())).expect("added");
    s.handle_timeout(t0);
    let mut requests = Vec::new();
    while let Some(action) = s.poll_action() {
        if let Action::HttpRequest { id, .. } = action {
            requests.push(id);
        }
    }
    let [started] = requests[..] else {
        panic!("one HTTP announce, not {requests:?}");
    };
    while s.poll_event().is_some() {}
    // Unanswered at the stop: no `stopped` is owed, and the `started` is called back.
    s.stop_torrent(t0, id);
    let mut actions = Vec::new();
    while let Some(action) = s.poll_action() {
        actions.push(format!("{action:?}"));
    }
    assert_eq!(actions, [format!("CancelHttp {{ id: {started:?} }}")]);
    while s.poll_event().is_some() {}
    // Its answer arrives all the same (the runtime could not drop it in time): ignored.
    let trackers = |s: &Session| {
        let detail = SnapshotDetail::default();
        (s.torrent_snapshot(t0, id, detail)).map(|snapshot| snapshot.trackers)
    };
    let before = trackers(&s);
    let body = b"d8:intervali1800e5:peers6:\x7f\x00\x00\x02\x1a\xe1e";
    let head = format!("HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n", body.len());
    let mut reader = ResponseReader::new(1 << 16);
    let _ = reader.push(head.as_bytes());
    let response = (reader.push(body)).expect("a response").expect("whole");
    s.handle_http_response(t0, started, Ok(response));
    let action = s.poll_action();
    assert!(action.is_none(), "an action for a late answer: {action:?}");
    let event = s.poll_event();
    assert!(event.is_none(), "an event for a late answer: {event:?}");
    assert_eq!(trackers(&s), before, "the tracker's status");
    s.start_torrent(t0, id).expect("started again");
    s.handle_timeout(t0);
    let mut announces = 0;
    while let Some(action) = s.poll_action() {
        announces += usize::from(matches!(action, Action::HttpRequest { .. }));
    }
    assert_eq!(announces, 1, "the restart announces afresh");
}
