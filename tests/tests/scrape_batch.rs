//! Batched scrapes (issue 25, BEP 48 and BEP 15): one session with hundreds of torrents on one
//! simulated tracker scrapes them with one request per batch of info-hashes (64 over HTTP, 74
//! over UDP), not one per torrent: the first scrapes after the budgeted burst of announces
//! leave together, and each later round costs about `torrents / batch + 1` requests while
//! every torrent is still scraped at least once per interval. A tracker that answers only
//! some of the hashes asked gives counts to those and leaves the others without.

use std::collections::BTreeMap;
use std::time::Duration;

use sanstorrent_core::magnet::MagnetLink;
use sanstorrent_core::session::{Event, SessionConfig, TorrentId, TorrentOptions, TorrentSource};
use sanstorrent_tests::sim::{LinkConfig, Sim, SimTracker, numbered_magnet};

const INTERVAL: Duration = Duration::from_secs(30 * 60);
/// Two rounds of scrapes to one URL are at least this far apart (the session's gather time).
const GATHER: Duration = Duration::from_secs(5);

struct Run {
    sim: Sim,
    node: usize,
    tracker: usize,
    ids: Vec<TorrentId>,
}

fn setup(seed: u64, udp: bool, torrents: usize, answer_limit: Option<usize>) -> Run {
    let mut sim = Sim::new(seed, LinkConfig::default());
    let mut tracker = SimTracker::new(seed);
    tracker.interval = INTERVAL;
    tracker.scrape_answer_limit = answer_limit;
    let tracker = sim.add_agent(Box::new(tracker));
    let tip = sim.nodes[tracker].addr.ip();
    let url = if udp {
        format!("udp://{tip}:6969")
    } else {
        format!("http://{tip}/announce")
    };
    let config = SessionConfig {
        announce_rate: 100,
        stats_interval: Duration::from_secs(24 * 3600),
        ..SessionConfig::default()
    };
    let node = sim.add_node(config);
    let mut ids = Vec::new();
    for i in 0..torrents {
        let link = MagnetLink::parse(&numbered_magnet(i, Some(&url))).expect("magnet");
        ids.push(sim.add_source(
            node,
            TorrentSource::Magnet(link),
            None,
            TorrentOptions::default(),
        ));
    }
    Run {
        sim,
        node,
        tracker,
        ids,
    }
}

/// Each torrent's scrapes (time since the start).
fn scrapes(sim: &Sim, node: usize) -> BTreeMap<TorrentId, Vec<Duration>> {
    let mut by = BTreeMap::new();
    for (at, e) in &sim.nodes[node].events {
        if let Event::TrackerScraped { torrent, .. } = e {
            by.entry(*torrent)
                .or_insert_with(Vec::new)
                .push(*at - sim.epoch);
        }
    }
    by
}

fn batched(seed: u64, udp: bool, torrents: usize, batch: usize) {
    let mut r = setup(seed, udp, torrents, None);
    // Requests at the tracker, sampled at the end of each interval.
    let mut rounds = Vec::new();
    for _ in 0..4 {
        r.sim.run_for(INTERVAL, 5_000_000).expect("an interval");
        rounds.push(r.sim.nodes[r.tracker].agent::<SimTracker>().scrapes);
    }
    let t = r.sim.nodes[r.tracker].agent::<SimTracker>();
    let per_round: Vec<u64> = std::iter::once(rounds[0])
        .chain(rounds.windows(2).map(|w| w[1] - w[0]))
        .collect();
    let hashes = t.scraped_hashes;
    let requests = t.scrapes;
    let seen = scrapes(&r.sim, r.node);
    assert_eq!(seen.len(), torrents, "every torrent scraped");
    for (id, times) in &seen {
        assert!(
            times[0] < Duration::from_secs(60),
            "{id:?}: first at {:?}",
            times[0]
        );
        for pair in times.windows(2) {
            let gap = pair[1] - pair[0];
            assert!(
                gap >= INTERVAL / 2 && gap <= INTERVAL + GATHER + Duration::from_secs(1),
                "{id:?}: {gap:?} between scrapes"
            );
        }
        let since = r.sim.elapsed() - *times.last().expect("one");
        assert!(since <= INTERVAL + GATHER, "{id:?}: none for {since:?}");
    }
    let least = torrents.div_ceil(batch) as u64;
    for (i, n) in per_round.iter().enumerate() {
        assert!(
            *n <= least + 2,
            "round {i}: {n} scrape requests for {torrents} torrents (batches of {batch})"
        );
    }
    assert!(
        hashes >= 4 * torrents as u64,
        "{hashes} hashes asked in {requests} requests"
    );
    eprintln!(
        "scrape_batch ({}): {torrents} torrents, {requests} scrape requests over 2 h \
         (per 30 min: {per_round:?}), {hashes} info-hashes asked",
        if udp { "udp" } else { "http" },
    );
}

#[test]
fn five_hundred_torrents_are_scraped_in_batches_over_http() {
    batched(1, false, 500, 64);
}

#[test]
fn five_hundred_torrents_are_scraped_in_batches_over_udp() {
    batched(2, true, 500, 74);
}

#[test]
fn a_tracker_answering_some_hashes_counts_those_alone() {
    const LISTED: usize = 10;
    let mut r = setup(3, true, 100, Some(LISTED));
    r.sim
        .run_for(Duration::from_secs(60), 1_000_000)
        .expect("a minute");
    let t = r.sim.nodes[r.tracker].agent::<SimTracker>();
    let requests = t.scrapes as usize;
    assert!(requests < 10, "{requests} requests for 100 torrents");
    let seen = scrapes(&r.sim, r.node);
    assert!(
        !seen.is_empty() && seen.len() <= requests * LISTED && seen.len() < 100,
        "{} torrents got counts from {requests} answers of at most {LISTED}",
        seen.len()
    );
    for id in &r.ids {
        let stats = r.sim.nodes[r.node].session().torrent_stats(*id).unwrap();
        assert_eq!(
            stats.swarm.is_some(),
            seen.contains_key(id),
            "{id:?}: counts only if the answer listed it"
        );
    }
}
