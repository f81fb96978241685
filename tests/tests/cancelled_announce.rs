//! An HTTP announce its torrent abandons is dropped by the runtime: a torrent stopped while
//! its `started` announce waits on a slow tracker cancels it (`Action::CancelHttp`), the
//! simulated runtime stops counting it in flight at once, and its answer, which the tracker
//! still sends, never reaches the session.

use std::time::Duration;

use sanstorrent_core::InfoHash;
use sanstorrent_core::magnet::MagnetLink;
use sanstorrent_core::session::{Event, SessionConfig, TorrentOptions, TorrentSource};
use sanstorrent_tests::sim::{LinkConfig, Sim, SimTracker, numbered_info_hash};

/// The tracker's one-way latency: an HTTP announce is answered after four of them.
const LATENCY: Duration = Duration::from_millis(200);

#[test]
fn a_started_announce_abandoned_by_a_stop_is_never_answered_to_the_session() {
    let mut sim = Sim::new(7, LinkConfig::default());
    let tracker = sim.add_agent_with_latency(Box::new(SimTracker::new(7)), LATENCY);
    let url = format!("http://{}/announce", sim.nodes[tracker].addr.ip());
    let config = SessionConfig {
        dht: false,
        ..SessionConfig::default()
    };
    let node = sim.add_node(config);
    let hash = InfoHash(numbered_info_hash(1));
    let hex: String = hash.0.iter().map(|b| format!("{b:02x}")).collect();
    let link = MagnetLink::parse(&format!("magnet:?xt=urn:btih:{hex}&tr={url}")).expect("magnet");
    let id = sim.add_source(
        node,
        TorrentSource::Magnet(link),
        None,
        TorrentOptions::default(),
    );

    // The `started` reaches the tracker; its answer is four latencies away.
    sim.run_until(|s| !s.nodes[node].announces_in_flight.is_empty(), 100_000)
        .expect("the `started` announce is sent");
    assert_eq!(sim.nodes[tracker].agent::<SimTracker>().announces, 1);
    let started: Vec<_> = sim.nodes[node]
        .announces_in_flight
        .iter()
        .copied()
        .collect();
    sim.with_session(node, |s, now| s.stop_torrent(now, id));
    assert_eq!(
        sim.nodes[node].http_cancelled, started,
        "the stop cancels the unanswered `started`"
    );
    assert!(
        sim.nodes[node].announces_in_flight.is_empty(),
        "a cancelled announce holds no connection"
    );

    // Well past the instant its answer would have come.
    sim.run_for(LATENCY * 20, 1_000_000).expect("runs");
    assert!(
        (sim.nodes[node].events.iter())
            .any(|(_, e)| matches!(e, Event::TorrentStopped { torrent } if *torrent == id)),
        "the torrent stopped"
    );
    let answered = &sim.nodes[node].http_answered;
    assert!(
        started.iter().all(|rid| !answered.contains(rid)),
        "a cancelled request was answered: {answered:?}"
    );
}
