//! A tracker that is down, then back: a seeder and a leecher know each other only through the
//! tracker (HTTP by host name, or UDP by address). While it is down their announces fail
//! (`TrackerError` events, retried with backoff); once it is back they announce, find each
//! other and the download completes.

use std::time::Duration;

use sanstorrent_core::session::{Event, SessionConfig, TorrentOptions};
use sanstorrent_tests::sim::{LinkConfig, Sim, SimTracker, Summary, TestTorrent, sweep};

const DOWN_FOR: Duration = Duration::from_secs(60);

fn scenario(seed: u64, udp: bool) -> Summary {
    let mut sim = Sim::new(seed, LinkConfig::default());
    let tracker = sim.add_agent(Box::new(SimTracker::new(seed)));
    sim.nodes[tracker].agent_mut::<SimTracker>().up = false;
    let tip = sim.nodes[tracker].addr.ip();
    sim.dns.insert("tracker.sim".into(), tip);
    let url = if udp {
        format!("udp://{tip}:6969")
    } else {
        "http://tracker.sim/announce".to_string()
    };
    let t = TestTorrent::with_trackers("outage.bin", 512 * 1024, 32 * 1024, seed, &[&url]);
    let seeder = sim.add_node(SessionConfig::default());
    sim.add_torrent(seeder, &t, true, TorrentOptions::default());
    let leecher = sim.add_node(SessionConfig::default());
    let id = sim.add_torrent(leecher, &t, false, TorrentOptions::default());
    sim.run_for(DOWN_FOR, 200_000).expect("outage");
    let errors = |s: &Sim, n: usize| {
        s.nodes[n]
            .events
            .iter()
            .filter(|(_, e)| matches!(e, Event::TrackerError { .. }))
            .count()
    };
    let during = errors(&sim, leecher);
    let refused = sim.nodes[tracker].agent::<SimTracker>().refused;
    assert!(
        !udp && during > 0 || udp && refused > 0,
        "seed {seed}: the outage went unnoticed"
    );
    assert!(
        !sim.is_complete(leecher, id),
        "seed {seed}: completed without a tracker"
    );
    sim.with_agent::<SimTracker>(tracker, |t, _| t.up = true);
    let back = sim.elapsed();
    sim.run_until(|s| s.is_complete(leecher, id), 500_000)
        .expect("the download completes once the tracker is back");
    assert!(sim.has_content(leecher, id, &t), "seed {seed}: wrong bytes");
    let after = sim.elapsed() - back;
    let announces = sim.nodes[tracker].agent::<SimTracker>().announces;
    let name = if udp {
        "tracker_outage (udp)"
    } else {
        "tracker_outage (http)"
    };
    eprintln!(
        "{name}: seed {seed}: {during} tracker errors and {refused} refused requests while \
         down; complete {after:?} after it came back; {announces} announces answered"
    );
    assert!(
        after < Duration::from_secs(120),
        "seed {seed}: {after:?} to recover from the outage"
    );
    sim.print_summary(name)
}

#[test]
fn http_tracker_down_then_back() {
    sweep("tracker_outage (http)", 1, 2, |seed| scenario(seed, false));
}

#[test]
fn udp_tracker_down_then_back() {
    sweep("tracker_outage (udp)", 1, 2, |seed| scenario(seed, true));
}
