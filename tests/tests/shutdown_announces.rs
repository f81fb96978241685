//! A shutdown at scale (issue 25): 10,000 torrents announced to one simulated HTTP tracker
//! that answers slowly (its link's latency makes each announce take 800 ms), then the session
//! shuts down. Their `stopped` announces go through the announce budget: never more than
//! `announces_in_flight` HTTP announces at once (counted by the simulated runtime, not by the
//! budget), `ShutdownComplete` within `shutdown_timeout` of the shutdown, and every torrent's
//! `stopped` announce either sent (the tracker saw exactly those) or dropped and counted, in
//! the statistics and in `StopAnnouncesDropped` events alike. Before the budget took them,
//! a daemon's 100,000 `stopped` announces opened 100,000 tracker connections at once.
//!
//! A torrent stopped alone while the first announce round still queues thousands of regular
//! announces announces `stopped` at once: stops go first.

use std::time::Duration;

use sanstorrent_core::InfoHash;
use sanstorrent_core::magnet::MagnetLink;
use sanstorrent_core::session::{
    Event, SessionConfig, SessionError, TorrentOptions, TorrentSource,
};
use sanstorrent_tests::sim::{LinkConfig, Sim, SimTracker, numbered_info_hash};

const TORRENTS: usize = 10_000;
const RATE: u32 = 100;
const IN_FLIGHT: usize = 50;
const SHUTDOWN: Duration = Duration::from_secs(10);
/// The tracker's one-way latency: an HTTP announce is answered after four of them.
const LATENCY: Duration = Duration::from_millis(200);

#[test]
fn ten_thousand_stopped_announces_stay_within_the_budget_and_the_shutdown_timeout() {
    let mut sim = Sim::new(21, LinkConfig::default());
    let mut tracker = SimTracker::new(21);
    tracker.interval = Duration::from_secs(3600);
    let tracker = sim.add_agent_with_latency(Box::new(tracker), LATENCY);
    let url = format!("http://{}/announce", sim.nodes[tracker].addr.ip());
    let config = SessionConfig {
        announce_rate: RATE,
        announces_in_flight: IN_FLIGHT,
        shutdown_timeout: SHUTDOWN,
        stats_interval: Duration::from_secs(24 * 3600),
        ..SessionConfig::default()
    };
    let node = sim.add_node(config);
    let ids: Vec<_> = (0..TORRENTS)
        .map(|i| {
            let hash = InfoHash(numbered_info_hash(i));
            let link = format!("magnet:?xt=urn:btih:{}&tr={url}", hex(&hash.0));
            let link = MagnetLink::parse(&link).expect("magnet");
            let source = TorrentSource::Magnet(link);
            sim.add_source(node, source, None, TorrentOptions::default())
        })
        .collect();

    // A fifth of the first round in, the first torrent (announced first) stops alone: its
    // `stopped` goes ahead of the 8,000 announces still queued.
    sim.run_until(|s| seen(s, tracker).announces >= 2_000, 10_000_000)
        .expect("a fifth of the first round");
    assert!(sim.nodes[node].session().announce_queue().0 > 7_000);
    let stopped_at = sim.now;
    sim.with_session(node, |s, now| s.stop_torrent(now, ids[0]));
    sim.run_until(
        |s| {
            s.nodes[node]
                .events
                .iter()
                .rev()
                .take(64)
                .any(|(_, e)| matches!(e, Event::TorrentStopped { torrent } if *torrent == ids[0]))
        },
        1_000_000,
    )
    .expect("the torrent stopped alone stops");
    let alone = sim.now - stopped_at;
    assert!(
        alone <= Duration::from_secs(2),
        "stopped after {alone:?}: its `stopped` announce waited behind the queue"
    );
    assert_eq!(seen(&sim, tracker).stopped, 1);
    let stats = sim.nodes[node].session().stop_announce_stats();
    assert_eq!((stats.sent, stats.dropped), (1, 0));

    sim.run_until(
        |s| seen(s, tracker).announces >= TORRENTS as u64,
        50_000_000,
    )
    .expect("the first round");
    // The last announces of the round answered: an announce in flight when its torrent stops
    // is abandoned by its announcer and leaves the budget, but its request still holds a
    // connection until answered (a shutdown then has up to twice the cap at once, briefly).
    sim.run_until(|s| s.nodes[node].announces_in_flight.is_empty(), 1_000_000)
        .expect("the round answered");
    let most_before = sim.nodes[node].max_announces_in_flight;
    assert!(most_before <= IN_FLIGHT, "{most_before} announces at once");

    // The shutdown: every other torrent announces `stopped`, within the budget.
    sim.nodes[node].max_announces_in_flight = 0;
    let from = sim.nodes[node].events.len();
    let shutdown_at = sim.now;
    sim.with_session(node, |s, now| s.shutdown(now));
    let mut most_in_flight = 0;
    let mut next_event = from;
    let mut done = false;
    sim.run_until(
        |s| {
            let in_flight = (s.nodes[node].session.as_ref()).map_or(0, |s| s.announce_queue().1);
            most_in_flight = most_in_flight.max(in_flight);

            let events = &s.nodes[node].events;
            done |= events[next_event..]
                .iter()
                .any(|(_, e)| matches!(e, Event::ShutdownComplete));
            next_event = events.len();
            done
        },
        10_000_000,
    )
    .expect("the shutdown completes");
    let took = sim.now - shutdown_at;
    assert!(took <= SHUTDOWN, "the shutdown took {took:?}");
    let most_http = sim.nodes[node].max_announces_in_flight;
    assert!(
        most_http <= IN_FLIGHT,
        "{most_http} HTTP announces at once during the shutdown"
    );
    assert!(most_in_flight <= IN_FLIGHT);

    let stats = sim.nodes[node].session().stop_announce_stats();
    let sent_at_tracker = seen(&sim, tracker).stopped;
    assert_eq!(
        stats.sent, sent_at_tracker,
        "the tracker saw every stop sent"
    );
    assert_eq!(
        stats.sent + stats.dropped,
        TORRENTS as u64,
        "every torrent's `stopped` sent or dropped: {stats:?}"
    );
    // 50 in flight, 800 ms each, for 10 s: about 625 sent.
    assert!(stats.sent >= 500, "the budget was used: {stats:?}");
    assert!(stats.dropped >= 9_000, "{stats:?}");
    let events = &sim.nodes[node].events[from..];
    let reported: u64 = events
        .iter()
        .map(|(_, e)| match e {
            Event::StopAnnouncesDropped { count } => *count,
            _ => 0,
        })
        .sum();
    assert_eq!(reported, stats.dropped, "every drop reported");
    let stopped = events
        .iter()
        .filter(|(_, e)| matches!(e, Event::TorrentStopped { .. }))
        .count();
    let timed_out = events
        .iter()
        .filter(|(_, e)| {
            matches!(
                e,
                Event::Error {
                    error: SessionError::StopTimedOut,
                    ..
                }
            )
        })
        .count();
    assert_eq!(timed_out, 0, "a dropped announce is not a failed stop");
    assert_eq!(stopped, TORRENTS - 1, "every other torrent stopped in time");
    eprintln!(
        "shutdown_announces: {TORRENTS} torrents, shutdown in {took:?}: {} stopped announces \
         sent, {} dropped, at most {most_http} HTTP announces at once; {stopped} torrents \
         reported stopped",
        stats.sent, stats.dropped
    );
}

/// The tracker's records.
fn seen(sim: &Sim, tracker: usize) -> &SimTracker {
    sim.nodes[tracker].agent::<SimTracker>()
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}
