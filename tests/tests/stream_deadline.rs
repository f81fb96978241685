//! Streaming deadlines: a reader needs the first four pieces of a file within 16 seconds.
//! A very slow peer (4 KiB/s, 300 ms) is found first and is asked for the playhead's blocks;
//! a fast one (1 MiB/s) joins 12 seconds later and has them too. When the deadline comes
//! close, the blocks the slow peer still holds are requested from the fast one as well, and
//! the first copy cancels the other: the four pieces are verified before the deadline. With
//! the second request turned off (`deadline_slack: None`) the same swarm misses it (the
//! control shows the criterion can fail).

use std::time::{Duration, Instant};

use sanstorrent_core::session::{Event, PickerConfig, SessionConfig, TorrentOptions};
use sanstorrent_tests::sim::{LinkConfig, Sim, Summary, TestTorrent, sweep};

/// The playhead's pieces.
const PLAYHEAD: u32 = 4;
/// When they are needed, after the reader asks.
const DEADLINE: Duration = Duration::from_secs(16);

/// When the last playhead piece was verified, after the reader asked, and the summary.
fn run(seed: u64, slack: Option<Duration>) -> (Duration, Summary) {
    let mut sim = Sim::new(seed, LinkConfig::default());
    let t = TestTorrent::single("movie.bin", 8 << 20, 64 * 1024, seed);
    let fast = sim.add_node_with(
        SessionConfig::default(),
        LinkConfig::new(Duration::from_millis(20), 1 << 20),
    );
    let slow = sim.add_node_with(
        SessionConfig::default(),
        LinkConfig::new(Duration::from_millis(300), 4 * 1024),
    );
    sim.add_torrent(fast, &t, true, TorrentOptions::default());
    sim.add_torrent(slow, &t, true, TorrentOptions::default());
    let mut picker = PickerConfig::default();
    picker.deadline_slack = slack;
    let config = SessionConfig {
        picker,
        ..SessionConfig::default()
    };
    let leecher = sim.add_node(config);
    let id = sim.add_torrent(leecher, &t, false, TorrentOptions::default());
    let mut asked = None;
    sim.with_session(leecher, |s, now| {
        let pieces: Vec<(u32, Instant)> = (0..PLAYHEAD).map(|p| (p, now + DEADLINE)).collect();
        s.set_piece_deadlines(now, id, 1, &pieces)
            .expect("deadlines");
        asked = Some(now);
    });
    let asked = asked.expect("the reader's time");
    let (slow_addr, fast_addr) = (sim.nodes[slow].addr, sim.nodes[fast].addr);
    sim.add_peers(leecher, id, &[slow_addr]);
    sim.run_for(Duration::from_secs(12), 100_000)
        .expect("slow peer phase");
    sim.add_peers(leecher, id, &[fast_addr]);
    let playhead_done = |sim: &Sim| {
        let verified = |p: u32| {
            sim.nodes[leecher].events.iter().find_map(|(at, e)| {
                matches!(e, Event::PieceVerified { piece, .. } if *piece == p).then_some(*at)
            })
        };
        (0..PLAYHEAD)
            .map(verified)
            .collect::<Option<Vec<Instant>>>()
    };
    sim.run_until(|s| playhead_done(s).is_some(), 2_000_000)
        .expect("the playhead's pieces arrive");
    let last = playhead_done(&sim)
        .and_then(|v| v.into_iter().max())
        .expect("verified");
    let took = last - asked;
    let name = if slack.is_some() {
        "stream deadline"
    } else {
        "stream deadline (second request off, control)"
    };
    let slow_sent = sim.net.delivered_between(slow, leecher);
    let summary = sim.print_summary(name);
    eprintln!(
        "{name}: seed {seed}: playhead verified {took:?} after the read ({slow_sent} bytes from the slow peer)"
    );
    (took, summary)
}

#[test]
fn late_playhead_blocks_are_asked_of_a_second_peer_and_arrive_in_time() {
    sweep("stream_deadline", 1, 3, |seed| {
        let (took, summary) = run(seed, PickerConfig::default().deadline_slack);
        assert!(
            took <= DEADLINE,
            "seed {seed}: the playhead took {took:?}, past its {DEADLINE:?} deadline"
        );
        summary
    });
}

#[test]
fn without_the_second_request_the_same_swarm_misses_the_deadline() {
    let (took, _) = run(1, None);
    assert!(
        took > DEADLINE,
        "the deadline was met without a second request ({took:?}): the scenario does not \
         exercise it"
    );
}
