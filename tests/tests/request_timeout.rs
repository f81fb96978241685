//! One request timeout: a leecher asks a peer that claims every piece and never answers (the
//! liar); a second, honest peer arrives just after the picker's request timeout (20 s). Each
//! block the liar was first asked for is timed out once, at that timeout (not at the 60 s a
//! connection used to keep), cancelled to the liar, and requested from the honest peer. The
//! download completes with the right bytes.

use std::time::Duration;

use sanstorrent_core::session::PickerConfig;
use sanstorrent_core::session::{SessionConfig, TorrentOptions};
use sanstorrent_tests::sim::{
    Behaviour, LinkConfig, ScriptedPeer, Sim, Summary, TestTorrent, sweep,
};

fn scenario(seed: u64) -> Summary {
    let mut sim = Sim::new(seed, LinkConfig::default());
    let t = TestTorrent::single("timeout.bin", 256 * 1024, 16 * 1024, seed);
    let liar = sim.add_agent(Box::new(ScriptedPeer::new(&t, Behaviour::Liar, seed)));
    let honest = sim.add_agent(Box::new(ScriptedPeer::new(&t, Behaviour::Honest, seed + 1)));
    for n in [liar, honest] {
        sim.net
            .set_link(n, LinkConfig::new(Duration::from_millis(5), 1024 * 1024));
    }
    let timeout = PickerConfig::default().request_timeout;
    let leecher = sim.add_node(SessionConfig::default());
    let id = sim.add_torrent(leecher, &t, false, TorrentOptions::default());
    sim.add_peers(leecher, id, &[sim.nodes[liar].addr]);
    sim.run_for(timeout + Duration::from_secs(1), 100_000)
        .expect("the liar phase");
    sim.add_peers(leecher, id, &[sim.nodes[honest].addr]);
    sim.run_until(|s| s.is_complete(leecher, id), 100_000)
        .expect("the download completes");
    assert!(sim.has_content(leecher, id, &t), "seed {seed}: wrong bytes");

    let l = sim.nodes[liar].agent::<ScriptedPeer>();
    let h = sim.nodes[honest].agent::<ScriptedPeer>();
    assert_eq!(l.blocks_sent, 0);
    let (first_at, _) = *l.requested.first().expect("the liar was asked for blocks");
    let first: Vec<_> = l
        .requested
        .iter()
        .filter(|(at, _)| *at == first_at)
        .map(|(_, b)| *b)
        .collect();
    assert!(first.len() > 1, "seed {seed}: a pipeline, not {first:?}");
    for block in first {
        let cancels: Vec<_> = l
            .cancelled
            .iter()
            .filter(|(_, b)| *b == block)
            .map(|(at, _)| *at - first_at)
            .collect();
        let Some(&after) = cancels.first() else {
            panic!("seed {seed}: {block:?} was never cancelled to the liar")
        };
        // Times at the liar: the request and the cancel each crossed the link (with jitter).
        let slack = Duration::from_millis(100);
        assert!(
            after + slack >= timeout && after < timeout + slack,
            "seed {seed}: {block:?} timed out after {after:?}, not {timeout:?}"
        );
        assert_eq!(
            cancels.iter().filter(|c| **c <= after).count(),
            1,
            "seed {seed}: {block:?} cancelled twice at its timeout: {cancels:?}"
        );
        assert!(
            h.requested.iter().any(|(_, b)| *b == block),
            "seed {seed}: {block:?} was not requested from the honest peer"
        );
    }
    sim.print_summary("request_timeout")
}

#[test]
fn an_unanswered_request_times_out_once_and_goes_to_another_peer() {
    sweep("request_timeout", 1, 3, scenario);
}
