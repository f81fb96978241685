//! Announces at scale (issue 25): one session with thousands of torrents on one simulated
//! tracker. Every announce goes through the session's budget: the tracker never sees more than
//! `announce_rate` announces in any second (less one round trip: a UDP announce granted
//! before a connect answer leaves with those granted after it), never more than `announces_in_flight`
//! torrents
//! wait for an answer at once, every torrent's first announce comes within its interval of
//! the start, and each later one within the tracker's interval (never before its `min
//! interval`). Over UDP, all torrents share one connection id per minute (BEP 15).
//!
//! After a restart (issue 25): 10,000 seeding torrents restored at once with their resume data,
//! in the daemon's batches, are each announced within the first round's bound and then within
//! every interval, none forgotten, and none of their data is checked again.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use sanstorrent_core::InfoHash;
use sanstorrent_core::magnet::MagnetLink;
use sanstorrent_core::session::{
    DhtAnnounceStats, Event, SessionConfig, TorrentId, TorrentOptions, TorrentSource,
};
use sanstorrent_tests::sim::{LinkConfig, Sim, SimTracker, TestTorrent, numbered_info_hash};

const RATE: u32 = 100;
const IN_FLIGHT: usize = 50;
const INTERVAL: Duration = Duration::from_secs(300);
const MIN_INTERVAL: Duration = Duration::from_secs(120);

fn run(udp: bool, torrents: usize) {
    let mut sim = Sim::new(7, LinkConfig::default());
    let mut tracker = SimTracker::new(7);
    tracker.interval = INTERVAL;
    tracker.min_interval = Some(MIN_INTERVAL);
    tracker.log = Some(Vec::new());
    let tracker = sim.add_agent(Box::new(tracker));
    let tip = sim.nodes[tracker].addr.ip();
    let url = if udp {
        format!("udp://{tip}:6969")
    } else {
        format!("http://{tip}/announce")
    };
    let config = SessionConfig {
        announce_rate: RATE,
        announces_in_flight: IN_FLIGHT,
        // Nobody else is in these swarms: no statistics to report meanwhile.
        stats_interval: Duration::from_secs(24 * 3600),
        ..SessionConfig::default()
    };
    let node = sim.add_node(config);
    let start = sim.elapsed();
    for i in 0..torrents {
        let hash = InfoHash(numbered_info_hash(i));
        let link = format!("magnet:?xt=urn:btih:{}&tr={}", hex(&hash.0), url);
        let link = MagnetLink::parse(&link).expect("magnet");
        let source = TorrentSource::Magnet(link);
        sim.add_source(node, source, None, TorrentOptions::default());
    }
    let added = sim.elapsed() - start;
    assert!(
        added < Duration::from_secs(1),
        "added in {added:?} of virtual time"
    );

    // Two intervals after the first round, sampling the session's queue as it goes.
    let until = sim.now + Duration::from_secs(torrents as u64 / u64::from(RATE)) + 2 * INTERVAL;
    let mut most_in_flight = 0;
    let mut most_waiting = 0;
    while sim.now < until {
        sim.with_session(node, |s, _| {
            let (waiting, in_flight) = s.announce_queue();
            most_in_flight = most_in_flight.max(in_flight);
            most_waiting = most_waiting.max(waiting);
        });
        if !sim.step() {
            break;
        }
    }
    let t = sim.nodes[tracker].agent::<SimTracker>();
    let log = t.log.clone().expect("logged");
    let connects = t.connects;
    let epoch = sim.now - sim.elapsed();
    check(&log, epoch + start, sim.now, torrents);
    assert!(
        most_in_flight <= IN_FLIGHT,
        "{most_in_flight} torrents announcing at once"
    );
    assert!(most_waiting > torrents / 2, "the first round was queued");
    let minutes = (sim.now - epoch).as_secs() / 60 + 1;
    if udp {
        assert!(
            connects <= 2 * minutes,
            "{connects} UDP connects for {} announces over {minutes} minutes",
            log.len()
        );
    }
    eprintln!(
        "announce_budget ({}): {} announces, at most {most_in_flight} in flight and {most_waiting} \
         waiting; {connects} UDP connects",
        if udp { "udp" } else { "http" },
        log.len()
    );
}

/// The tracker's log against the budget and the intervals.
fn check(log: &[(Instant, InfoHash)], start: Instant, end: Instant, torrents: usize) {
    let times: Vec<Instant> = log.iter().map(|(at, _)| *at).collect();
    assert!(times.is_sorted(), "the log is in time order");
    let rate = RATE as usize;
    let round_trip = 2 * LinkConfig::default().latency;
    for (i, at) in times.iter().enumerate().skip(rate) {
        let window = *at - times[i - rate];
        assert!(
            window >= Duration::from_secs(1) - round_trip,
            "{} announces within {window:?} at {:?}",
            rate + 1,
            *at - start
        );
    }
    let mut by_torrent: BTreeMap<InfoHash, Vec<Instant>> = BTreeMap::new();
    for (at, hash) in log {
        by_torrent.entry(*hash).or_default().push(*at);
    }
    assert_eq!(by_torrent.len(), torrents, "every torrent announced");
    let round = Duration::from_secs((torrents / rate) as u64 + 1);
    let slack = Duration::from_secs(2);
    for (hash, times) in &by_torrent {
        let first = times[0] - start;
        assert!(first <= round, "{hash:?}: first announce after {first:?}");
        assert!(first <= INTERVAL);
        for pair in times.windows(2) {
            let gap = pair[1] - pair[0];
            assert!(
                gap >= MIN_INTERVAL,
                "{hash:?}: announced again after {gap:?}"
            );
            assert!(
                gap <= INTERVAL + slack,
                "{hash:?}: {gap:?} between announces"
            );
        }
        let last = *times.last().expect("one");
        assert!(
            end - last <= INTERVAL + slack,
            "{hash:?}: nothing since {:?}",
            last - start
        );
    }
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

#[test]
fn two_thousand_torrents_announce_within_the_budget_over_http() {
    run(false, 2_000);
}

#[test]
fn two_thousand_torrents_announce_within_the_budget_over_udp() {
    run(true, 2_000);
}

/// The same with 10,000 torrents (a few seconds: an input's work is bounded by the torrents it
/// touched, see the session's work sets).
#[test]
fn ten_thousand_torrents_announce_within_the_budget() {
    run(false, 10_000);
    run(true, 10_000);
}

/// How many torrents the daemon's restore adds per round trip with the session.
const RESTORE_BATCH: usize = 256;

/// `torrents` seeding torrents on one tracker: a first life checks their data and saves their
/// resume data, the session crashes, and a second life restores them all at once (batches of
/// [`RESTORE_BATCH`] through `Session::add_torrents`, each with its resume data, as the daemon's
/// restore does). The tracker's log of the second life is checked as [`run`] checks a first
/// start's: the budget, every torrent's first announce within the round's bound, each later
/// one within its interval, none forgotten.
fn restored(udp: bool, torrents: usize) {
    let mut sim = Sim::new(13, LinkConfig::default());
    let mut tracker = SimTracker::new(13);
    tracker.interval = INTERVAL;
    tracker.min_interval = Some(MIN_INTERVAL);
    let tracker = sim.add_agent(Box::new(tracker));
    let tip = sim.nodes[tracker].addr.ip();
    let url = if udp {
        format!("udp://{tip}:6969")
    } else {
        format!("http://{tip}/announce")
    };
    let config = SessionConfig {
        announce_rate: RATE,
        announces_in_flight: IN_FLIGHT,
        stats_interval: Duration::from_secs(24 * 3600),
        resume_save_interval: Duration::from_secs(5),
        ..SessionConfig::default()
    };
    let node = sim.add_node(config.clone());
    let made: Vec<TestTorrent> = (0..torrents)
        .map(|i| TestTorrent::with_trackers(&format!("r{i}"), 1024, 16 * 1024, i as u64, &[&url]))
        .collect();
    let ids: Vec<TorrentId> = made
        .iter()
        .map(|t| sim.add_torrent(node, t, true, TorrentOptions::default()))
        .collect();
    sim.run_until(|s| s.nodes[node].resume.len() == torrents, 20_000_000)
        .expect("every torrent checked and its resume data saved");
    sim.crash(node);
    sim.run_for(Duration::from_secs(10), 1_000_000)
        .expect("down");
    let checks = sim.nodes[node].jobs_run.get("check").copied().unwrap_or(0);

    sim.nodes[tracker].agent_mut::<SimTracker>().log = Some(Vec::new());
    sim.start_session(node, config);
    let start = sim.elapsed();
    for (batch, batch_ids) in made.chunks(RESTORE_BATCH).zip(ids.chunks(RESTORE_BATCH)) {
        let resume: Vec<Vec<u8>> = batch_ids
            .iter()
            .map(|id| sim.nodes[node].resume[id].clone())
            .collect();
        sim.with_session(node, |s, now| {
            let added = s.add_torrents(
                now,
                batch.iter().zip(resume).map(|(t, resume)| {
                    let options = TorrentOptions {
                        resume: Some(resume),
                        ..TorrentOptions::default()
                    };
                    (TorrentSource::Metainfo(t.meta.clone()), options)
                }),
            );
            let added: Vec<TorrentId> = added.into_iter().map(|r| r.expect("restored")).collect();
            assert_eq!(
                added, batch_ids,
                "restored under the same ids (same storage)"
            );
        });
    }
    let until = sim.now + Duration::from_secs(torrents as u64 / u64::from(RATE)) + 2 * INTERVAL;
    sim.run_until(|s| s.now >= until, 50_000_000)
        .expect("two intervals after the first round");
    let log = sim.nodes[tracker]
        .agent::<SimTracker>()
        .log
        .clone()
        .expect("logged");
    let epoch = sim.now - sim.elapsed();
    check(&log, epoch + start, sim.now, torrents);
    let checked_again = sim.nodes[node].jobs_run.get("check").copied().unwrap_or(0) - checks;
    assert_eq!(
        checked_again, 0,
        "resume data trusted: no data checked again"
    );
    eprintln!(
        "announce_budget (restored, {}): {torrents} torrents, {} announces after the restart",
        if udp { "udp" } else { "http" },
        log.len()
    );
}

/// 10,000 torrents restored at once after a restart are all announced within the round's bound
/// (an older daemon left 350 of them unannounced 900 s after a restart).
#[test]
fn ten_thousand_restored_torrents_are_each_announced_within_their_interval() {
    restored(false, 10_000);
    restored(true, 10_000);
}

/// The DHT's 30-minute window (issue 25): `torrents` public torrents on a session whose DHT
/// starts `dht_rate` lookups per second, run for an hour. Returns the session's DHT announce
/// statistics and the torrents it reported late (`DhtAnnounceLate`, once per missed window).
fn dht_window(dht_rate: u32, torrents: usize) -> (DhtAnnounceStats, BTreeMap<TorrentId, usize>) {
    let mut sim = Sim::new(11, LinkConfig::default());
    let config = SessionConfig {
        dht: true,
        dht_lookup_rate: dht_rate,
        stats_interval: Duration::from_secs(24 * 3600),
        ..SessionConfig::default()
    };
    let node = sim.add_node(config);
    for i in 0..torrents {
        let link = format!("magnet:?xt=urn:btih:{}", hex(&numbered_info_hash(i)));
        let link = MagnetLink::parse(&link).expect("magnet");
        sim.add_source(
            node,
            TorrentSource::Magnet(link),
            None,
            TorrentOptions::default(),
        );
    }
    sim.run_for(2 * DHT_WINDOW, 50_000_000).expect("an hour");
    let mut late = BTreeMap::new();
    for (_, e) in &sim.nodes[node].events {
        if let Event::DhtAnnounceLate {
            torrent,
            at,
            window_end,
        } = e
        {
            assert!(at > window_end, "{torrent:?}: late means after the window");
            *late.entry(*torrent).or_insert(0) += 1;
        }
    }
    let stats = sim.nodes[node].session().dht_announce_stats();
    eprintln!(
        "announce_budget (dht, {dht_rate}/s): {torrents} torrents, {} lookups started in an \
         hour, {} put off beyond their window ({} torrents told)",
        stats.started,
        stats.late,
        late.len()
    );
    (stats, late)
}

/// Peers announced to the DHT are kept for 30 minutes.
const DHT_WINDOW: Duration = Duration::from_secs(30 * 60);

#[test]
fn ten_thousand_torrents_reach_the_dht_within_its_window_or_say_they_cannot() {
    let torrents = 10_000;
    // 2 lookups a second reach 3,600 torrents in 30 minutes: the others are told late.
    let (stats, late) = dht_window(2, torrents);
    assert!(stats.late > 0, "{stats:?}");
    assert_eq!(
        stats.late,
        late.values().sum::<usize>() as u64,
        "one event per miss"
    );
    assert!(
        late.len() >= torrents - 2 * 1800,
        "{} torrents told",
        late.len()
    );
    // 20 a second reach them all every 500 s: none late, each window met.
    let (stats, late) = dht_window(20, torrents);
    assert_eq!(stats.late, 0, "{stats:?}");
    assert!(late.is_empty());
    assert!(
        stats.started >= 2 * torrents as u64,
        "every torrent announced in each window: {stats:?}"
    );
}
