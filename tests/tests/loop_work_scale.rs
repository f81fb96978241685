//! The work per input at scale (issue 25): one session with 10,000 torrents on one simulated
//! tracker, through the first round of announces (the budget grants 100 a second) and the
//! scrapes each first answer starts. The session's own count of what it looked at
//! ([`Session::loop_work`](sanstorrent_core::session::Session::loop_work)) is read around
//! every input: no input may cost a number of torrents that grows with the torrents in the
//! session (before, each announce answer looked at every torrent its tracker's scrapes
//! served, so the round cost the square of the torrents), the whole round costs a small
//! multiple of the torrents, and every torrent is announced within the round's bound and
//! scraped once.

use std::collections::BTreeMap;
use std::time::Duration;

use sanstorrent_core::InfoHash;
use sanstorrent_core::magnet::MagnetLink;
use sanstorrent_core::session::{LoopWork, SessionConfig, TorrentOptions, TorrentSource};
use sanstorrent_tests::sim::{LinkConfig, Sim, SimTracker, numbered_magnet};

const TORRENTS: usize = 10_000;
const RATE: u32 = 100;
const INTERVAL: Duration = Duration::from_secs(1800);
/// The most torrents (or scrape members) one input may look at. What an input touches is
/// bounded by the budget, not by the torrents: a scrape round takes the members gathered over
/// 5 s (500 at 100 announces a second) and fills its last batch; each of those torrents is
/// filed again a few times (its scrape starts, then its deadline moves) and settled once.
/// At 10,000 torrents, one announce answer before looked at every torrent scraped so far.
const MOST_PER_INPUT: u64 = 5_000;
/// The most work over the whole round, per torrent (its grant, announce, answer, scrape and
/// their deadlines).
const MOST_PER_TORRENT: u64 = 20;

/// The work of an input that is not the statistics tick (off here).
fn work(w: &LoopWork) -> u64 {
    w.torrents_filed + w.torrents_settled + w.scrape_members
}

#[test]
fn the_first_round_of_ten_thousand_torrents_costs_what_each_input_touched() {
    let mut sim = Sim::new(25, LinkConfig::default());
    let mut tracker = SimTracker::new(25);
    tracker.interval = INTERVAL;
    tracker.log = Some(Vec::new());
    let tracker = sim.add_agent(Box::new(tracker));
    let tip = sim.nodes[tracker].addr.ip();
    let url = format!("http://{tip}/announce");
    let config = SessionConfig {
        announce_rate: RATE,
        // Nobody else is in these swarms: no statistics to report meanwhile.
        stats_interval: Duration::from_secs(24 * 3600),
        ..SessionConfig::default()
    };
    let node = sim.add_node(config);
    let start = sim.now;
    for i in 0..TORRENTS {
        let link = MagnetLink::parse(&numbered_magnet(i, Some(&url))).expect("magnet");
        let source = TorrentSource::Magnet(link);
        sim.add_source(node, source, None, TorrentOptions::default());
    }

    // The round (TORRENTS / RATE seconds), then a minute for the last answers and scrapes.
    let round = Duration::from_secs((TORRENTS / RATE as usize) as u64 + 1);
    let until = start + round + Duration::from_secs(60);
    let mut before = LoopWork::default();
    sim.with_session(node, |s, _| before = s.loop_work());
    let first = before;
    let (mut most, mut inputs) = (0, 0u64);
    while sim.now < until {
        if !sim.step() {
            break;
        }
        let mut after = before;
        sim.with_session(node, |s, _| after = s.loop_work());
        let cost = work(&after) - work(&before);
        assert!(
            cost <= MOST_PER_INPUT,
            "one input at {:?} looked at {cost} torrents or scrape members ({after:?} after \
             {before:?})",
            sim.now - start
        );
        most = most.max(cost);
        inputs += 1;
        before = after;
    }
    let total = work(&before) - work(&first);
    assert!(
        total <= MOST_PER_TORRENT * TORRENTS as u64,
        "the round looked at {total} torrents or scrape members for {TORRENTS} torrents"
    );

    let t = sim.nodes[tracker].agent::<SimTracker>();
    let log = t.log.clone().expect("logged");
    let scraped = t.scraped_hashes;
    let mut first_announce: BTreeMap<InfoHash, Duration> = BTreeMap::new();
    for (at, hash) in &log {
        first_announce.entry(*hash).or_insert(*at - start);
    }
    assert_eq!(first_announce.len(), TORRENTS, "every torrent announced");
    let latest = first_announce.values().max().copied().unwrap_or_default();
    assert!(latest <= round, "a first announce after {latest:?}");
    assert!(
        scraped >= TORRENTS as u64,
        "{scraped} info-hashes scraped for {TORRENTS} torrents"
    );
    eprintln!(
        "loop_work_scale: {inputs} inputs, at most {most} looked at in one, {total} in all \
         ({:.1} per torrent); {scraped} info-hashes scraped",
        total as f64 / TORRENTS as f64
    );
}
