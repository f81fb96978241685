//! Scrapes (BEP 48): a seeder and a leecher find each other through a simulated tracker (HTTP
//! by host name, or UDP by host name). Each scrapes the tracker right after its first
//! successful announce and then every 30 minutes; the counts reach the application as
//! `TrackerScraped` events and `TorrentStats::swarm`. Once the leecher completed, the next
//! scrape shows two seeders and one completed download. A tracker whose URL has no scrape
//! form (not ending in `announce`) is never scraped.

use std::time::Duration;

use sanstorrent_core::session::{Event, SessionConfig, SwarmCounts, TorrentOptions};
use sanstorrent_tests::sim::{LinkConfig, Sim, SimTracker, TestTorrent};

const INTERVAL: Duration = Duration::from_secs(30 * 60);

/// The leecher's scrapes: (time since start, counts).
fn scrapes(sim: &Sim, node: usize) -> Vec<(Duration, SwarmCounts)> {
    sim.nodes[node]
        .events
        .iter()
        .filter_map(|(at, e)| match e {
            Event::TrackerScraped { counts, .. } => Some((*at - sim.epoch, *counts)),
            _ => None,
        })
        .collect()
}

fn first_announce(sim: &Sim, node: usize) -> Option<Duration> {
    sim.nodes[node]
        .events
        .iter()
        .find_map(|(at, e)| matches!(e, Event::TrackerAnnounced { .. }).then(|| *at - sim.epoch))
}

fn scenario(seed: u64, url: &str) -> u64 {
    let mut sim = Sim::new(seed, LinkConfig::default());
    let tracker = sim.add_agent(Box::new(SimTracker::new(seed)));
    let tip = sim.nodes[tracker].addr.ip();
    sim.dns.insert("tracker.sim".into(), tip);
    let t = TestTorrent::with_trackers("scrape.bin", 512 * 1024, 32 * 1024, seed, &[url]);
    let seeder = sim.add_node(SessionConfig::default());
    sim.add_torrent(seeder, &t, true, TorrentOptions::default());
    sim.run_until(|s| first_announce(s, seeder).is_some(), 10_000)
        .expect("the seeder announces");
    let leecher = sim.add_node(SessionConfig::default());
    let id = sim.add_torrent(leecher, &t, false, TorrentOptions::default());
    sim.run_until(|s| !scrapes(s, leecher).is_empty(), 50_000)
        .expect("the leecher scrapes after its first announce");
    let announced = first_announce(&sim, leecher).expect("announced");
    let (at, first) = scrapes(&sim, leecher)[0];
    assert!(
        at - announced < Duration::from_secs(1),
        "{url}: scraped {at:?}, announced {announced:?}"
    );
    assert_eq!(
        first,
        SwarmCounts {
            seeders: 1,
            leechers: 1,
            downloaded: 0
        },
        "{url}: the seeder and the leecher itself"
    );
    sim.run_until(|s| s.is_complete(leecher, id), 200_000)
        .expect("the download completes");
    sim.run_for(INTERVAL + Duration::from_secs(60), 500_000)
        .expect("half an hour");
    let seen = scrapes(&sim, leecher);
    assert_eq!(
        seen.len(),
        2,
        "{url}: one scrape, then one 30 min later: {seen:?}"
    );
    let gap = seen[1].0 - seen[0].0;
    assert!(
        gap >= INTERVAL && gap < INTERVAL + Duration::from_secs(1),
        "{url}: {gap:?} between scrapes"
    );
    let after = SwarmCounts {
        seeders: 2,
        leechers: 0,
        downloaded: 1,
    };
    assert_eq!(seen[1].1, after, "{url}: the leecher completed");
    let stats = sim.nodes[leecher].session().torrent_stats(id).unwrap();
    assert_eq!(stats.swarm, Some(after));
    assert_eq!(
        scrapes(&sim, seeder).len(),
        2,
        "{url}: the seeder scrapes too"
    );
    assert_eq!(sim.nodes[tracker].agent::<SimTracker>().scrapes, 4);
    sim.log_hash()
}

#[test]
fn http_tracker_is_scraped_after_the_first_announce_then_every_30_minutes() {
    let url = "http://tracker.sim/announce";
    assert_eq!(scenario(1, url), scenario(1, url), "same seed, same run");
}

#[test]
fn udp_tracker_is_scraped_after_the_first_announce_then_every_30_minutes() {
    scenario(2, "udp://tracker.sim:6969");
}

#[test]
fn a_tracker_without_a_scrape_url_is_not_scraped() {
    let mut sim = Sim::new(3, LinkConfig::default());
    let tracker = sim.add_agent(Box::new(SimTracker::new(3)));
    let tip = sim.nodes[tracker].addr.ip();
    sim.dns.insert("tracker.sim".into(), tip);
    let url = "http://tracker.sim/tracker.php";
    let t = TestTorrent::with_trackers("noscrape.bin", 256 * 1024, 32 * 1024, 3, &[url]);
    let seeder = sim.add_node(SessionConfig::default());
    let id = sim.add_torrent(seeder, &t, true, TorrentOptions::default());
    sim.run_for(INTERVAL + Duration::from_secs(60), 200_000)
        .expect("half an hour");
    assert!(first_announce(&sim, seeder).is_some(), "it announced");
    assert!(scrapes(&sim, seeder).is_empty());
    assert_eq!(sim.nodes[tracker].agent::<SimTracker>().scrapes, 0);
    let stats = sim.nodes[seeder].session().torrent_stats(id).unwrap();
    assert_eq!(stats.swarm, None);
}
