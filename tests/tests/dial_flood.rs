//! Dial slots flooded with black holes: a hostile tracker answers with hundreds of addresses
//! that never answer a connect, enough to keep every half-open slot of a leecher busy. An
//! honest seeder must still be reached within seconds, whether the user names it or a peer
//! tells of it over PEX (its source has answered, the tracker's has not): it goes before the
//! black holes, and takes the slot of one dialled at least `dial_patience_outranked` (1 s)
//! ago rather than waiting for the connect timeout or the 3 s `dial_patience`. The leecher's
//! [`Footprint`], read after every step, stays bounded however many addresses the tracker
//! hands out: candidates under `max_candidates_per_torrent`, connections under
//! `max_connections`.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Duration;

use sanstorrent_core::session::{Event, Footprint, SessionConfig, TorrentId, TorrentOptions};
use sanstorrent_tests::sim::{LinkConfig, Sim, SimTracker, TestTorrent};

/// Addresses the hostile tracker hands out, none of which ever answers.
const BLACK_HOLES: u32 = 1_000;
/// When the honest peer is made known to the leecher: just after the first black-hole dials
/// gave way to fresh ones (at their 3 s patience), so every slot is held by a dial younger
/// than `dial_patience_outranked`, the worst moment to arrive.
const ARRIVAL: Duration = Duration::from_millis(3_100);
/// The relay's download limit (bytes per second): it stays a leecher, connected to the
/// seeder, for the whole run.
const RELAY_RATE: u64 = 2 * 1024;

/// How the leecher learns of the honest seeder.
#[derive(Clone, Copy, Debug)]
enum Via {
    /// `add_peers`, at [`ARRIVAL`].
    User,
    /// A relay (named with `add_peers` at [`ARRIVAL`]) connected to the seeder tells of it.
    /// The relay downloads slowly ([`RELAY_RATE`]): a relay that finished would have closed
    /// its connection to the seeder (both seeds) and could no longer tell of it.
    Pex,
}

/// What a run measured, from [`ARRIVAL`].
#[derive(Debug)]
struct Timings {
    /// Until the leecher's handshake with the seeder.
    reached: Duration,
    /// Until the leecher had the whole torrent.
    complete: Duration,
    /// Dials into black holes.
    black_hole_dials: u64,
}

fn connected_at(sim: &Sim, node: usize, addr: SocketAddr) -> Option<Duration> {
    sim.nodes[node].events.iter().find_map(|(at, e)| match e {
        Event::PeerConnected { addr: a, .. } if *a == addr => Some(*at - sim.epoch),
        _ => None,
    })
}

fn complete_at(sim: &Sim, node: usize, id: TorrentId) -> Duration {
    sim.nodes[node]
        .events
        .iter()
        .find_map(|(at, e)| match e {
            Event::TorrentComplete { torrent, .. } if *torrent == id => Some(*at - sim.epoch),
            _ => None,
        })
        .expect("complete")
}

fn run(seed: u64, via: Via, config: SessionConfig) -> Timings {
    let mut sim = Sim::new(seed, LinkConfig::default());
    let tracker = sim.add_agent(Box::new(SimTracker::new(seed)));
    let tip = sim.nodes[tracker].addr.ip();
    sim.dns.insert("tracker.sim".into(), tip);
    let t = TestTorrent::with_trackers(
        "dial.bin",
        1024 * 1024,
        64 * 1024,
        seed,
        &["http://tracker.sim/announce"],
    );
    let holes: Vec<SocketAddr> = (0..BLACK_HOLES)
        .map(|i| SocketAddr::new(IpAddr::V4(Ipv4Addr::from(0x0100_0000 + i)), 6881))
        .collect();
    sim.black_holes.extend(holes.iter().map(|a| a.ip()));
    sim.with_agent::<SimTracker>(tracker, |tr, _| {
        tr.max_peers = BLACK_HOLES as usize;
        let swarm = tr.swarms.entry(t.meta.info_hash()).or_default();
        swarm.extend(holes.iter().map(|a| (*a, 0)));
    });
    let quiet = TorrentOptions {
        trackers: Some(Vec::new()),
        ..TorrentOptions::default()
    };
    let seeder = sim.add_node(SessionConfig::default());
    sim.add_torrent(seeder, &t, true, quiet.clone());
    let seeder_addr = sim.nodes[seeder].addr;
    let relay = sim.add_node(SessionConfig {
        download_rate_limit: Some(RELAY_RATE),
        ..SessionConfig::default()
    });
    let relay_torrent = sim.add_torrent(relay, &t, false, quiet);
    sim.add_peers(relay, relay_torrent, &[seeder_addr]);
    let leecher = sim.add_node(config.clone());
    let id = sim.add_torrent(leecher, &t, false, TorrentOptions::default());
    let mut peak = Footprint::default();
    let mut watch = |s: &Sim| {
        if let Some(session) = s.nodes[leecher].session.as_ref() {
            peak = peak.max(session.footprint());
        }
    };

    sim.run_until(
        |s| {
            watch(s);
            s.elapsed() >= ARRIVAL
        },
        2_000_000,
    )
    .expect("the flood takes hold");
    let announced = sim.nodes[leecher]
        .events
        .iter()
        .any(|(_, e)| matches!(e, Event::TrackerAnnounced { peers, .. } if *peers > 100));
    assert!(
        announced,
        "the hostile tracker's answer reached the leecher"
    );
    let held = sim.black_hole_dials;
    assert!(
        held >= 20,
        "only {held} dials into black holes: nothing to test"
    );
    match via {
        Via::User => sim.add_peers(leecher, id, &[seeder_addr]),
        Via::Pex => sim.add_peers(leecher, id, &[sim.nodes[relay].addr]),
    }
    let limit = Duration::from_secs(300);
    sim.run_until(
        |s| {
            watch(s);
            s.is_complete(leecher, id) || s.elapsed() > ARRIVAL + limit
        },
        20_000_000,
    )
    .expect("the simulation runs");
    eprintln!("{via:?}: the leecher's peak footprint: {peak:?}");
    assert!(
        peak.candidates <= config.max_candidates_per_torrent,
        "{via:?}: {peak:?}"
    );
    assert!(
        peak.candidates * 2 > config.max_candidates_per_torrent,
        "{via:?}: the tracker's {BLACK_HOLES} addresses did not fill the candidates: {peak:?}"
    );
    assert!(
        peak.connections <= config.max_connections,
        "{via:?}: {peak:?}"
    );
    assert!(sim.is_complete(leecher, id), "{via:?}: not complete");
    assert!(sim.has_content(leecher, id, &t), "{via:?}: wrong bytes");
    let reached = connected_at(&sim, leecher, seeder_addr).expect("reached the seeder");
    if matches!(via, Via::Pex) {
        let told = sim.nodes[leecher].events.iter().any(
            |(_, e)| matches!(e, Event::PexPeers { peers, .. } if peers.contains(&seeder_addr)),
        );
        assert!(told, "the relay told of the seeder");
        assert!(
            !sim.is_complete(relay, relay_torrent),
            "the relay stayed a leecher"
        );
    }
    Timings {
        reached: reached - ARRIVAL,
        complete: complete_at(&sim, leecher, id) - ARRIVAL,
        black_hole_dials: sim.black_hole_dials,
    }
}

fn report(label: &str, t: &Timings) {
    eprintln!(
        "{label}: seeder reached {:?} and torrent complete {:?} after it was made known; \
         {} dials into {BLACK_HOLES} black holes",
        t.reached, t.complete, t.black_hole_dials
    );
}

#[test]
fn a_user_given_peer_waits_only_for_the_outranked_patience() {
    let t = run(3, Via::User, SessionConfig::default());
    report("dial flood, user-given peer", &t);
    assert!(
        t.reached < Duration::from_millis(1_500),
        "reached in {:?} (black-hole dials give way to it after 1 s)",
        t.reached
    );
    // Without patience (dials hold their slot to the connect timeout) the same peer waits
    // for the 10 s timeout: the flood did hold every slot.
    let timeout = SessionConfig::default().connect_timeout;
    let config = SessionConfig {
        dial_patience: timeout,
        dial_patience_outranked: timeout,
        ..SessionConfig::default()
    };
    let slow = run(3, Via::User, config);
    report("dial flood, user-given peer, no patience", &slow);
    assert!(
        slow.reached > Duration::from_secs(6),
        "reached in {:?} without patience: the black holes held no slot",
        slow.reached
    );
}

#[test]
fn a_peer_told_of_over_pex_goes_before_the_black_holes() {
    let t = run(4, Via::Pex, SessionConfig::default());
    report("dial flood, peer from PEX", &t);
    // The relay's connect and PEX message, then at most 1 s for a black-hole dial to give
    // way.
    assert!(
        t.reached < Duration::from_millis(2_500),
        "reached in {:?}",
        t.reached
    );
    assert!(
        t.complete < Duration::from_secs(4),
        "complete in {:?}",
        t.complete
    );
    // When a better source's candidate waits as long as any other (the full 3 s patience),
    // it is later: the black holes, redialled as their predecessors give way, did hold the
    // slots.
    let config = SessionConfig {
        dial_patience_outranked: SessionConfig::default().dial_patience,
        ..SessionConfig::default()
    };
    let slow = run(4, Via::Pex, config);
    report("dial flood, peer from PEX, one patience for all", &slow);
    assert!(
        slow.reached > t.reached + Duration::from_secs(1),
        "reached in {:?} with one patience for all, {:?} without",
        slow.reached,
        t.reached
    );
}
