//! A connection flood at scale: hostile endpoints (each its own address: silent sockets, half
//! handshakes, a handshake byte every 3 s, a valid handshake then silence, each reopened 0.5 s
//! after it is closed or refused; they join over the first 4 s) hold a seeder's listener
//! with its default limits. An honest leecher that arrives 5 s into the flood gets the whole
//! torrent, correct, within a bound; the seeder's connection table stays under its limits
//! throughout. 2,000 endpoints with the defaults; 400 with the penalty box off, where the
//! eviction alone must do it. Then 400 endpoints that handshake, say `interested` and never
//! request: an interested peer that wastes its unchoke or trades nothing gives way, and the
//! leecher is served within the same bound (kept however little they trade, they hold every
//! slot and it is not served in 120 s).

use std::time::Duration;

use sanstorrent_core::session::{Event, Footprint, SessionConfig, TorrentId, TorrentOptions};
use sanstorrent_core::wire::limits::MAX_MESSAGE_LEN;
use sanstorrent_tests::sim::{Hostile, Hostility, LinkConfig, Sim, TestTorrent};

/// The endpoints join over this time; the leecher arrives one second later.
const JOIN: Duration = Duration::from_secs(4);

/// Bytes a connection that requests nothing may make the seeder hold: the handshakes, the
/// extension handshake and the bitfield either way.
const HOSTILE_BYTES: usize = 1024;

#[test]
fn an_honest_leecher_is_served_through_a_flood_of_useless_connections() {
    flood("connection flood", SessionConfig::default(), 2_000);
}

#[test]
fn eviction_alone_serves_the_honest_leecher() {
    let config = SessionConfig {
        penalty_strikes: 0,
        ..SessionConfig::default()
    };
    flood("connection flood, no penalty box", config, 400);
}

#[test]
fn interested_connections_that_never_trade_give_way() {
    flood_of(
        "connection flood, interested and idle",
        SessionConfig::default(),
        400,
        |_| Hostility::Interested,
        true,
    );
}

/// The same flood with the interested connections kept however little they trade (their
/// graces beyond the run): every slot stays taken and the leecher is not served.
#[test]
fn without_trade_eviction_interested_connections_hold_every_slot() {
    let config = SessionConfig {
        trade_grace: Duration::from_secs(3600),
        unchoke_patience: Duration::from_secs(3600),
        ..SessionConfig::default()
    };
    flood_of(
        "connection flood, interested and idle, kept",
        config,
        400,
        |_| Hostility::Interested,
        false,
    );
}

fn flood(label: &str, config: SessionConfig, hostile_count: usize) {
    flood_of(label, config, hostile_count, Hostility::nth, true);
}

/// `hostile_count` endpoints of `kind` against a seeder with `config`, then an honest leecher;
/// `served`: whether it must get the torrent within the bound (or must not, within the run).
fn flood_of(
    label: &str,
    config: SessionConfig,
    hostile_count: usize,
    kind: fn(usize) -> Hostility,
    served: bool,
) {
    let seed = 7;
    let mut sim = Sim::new(seed, LinkConfig::default());
    let t = TestTorrent::single("flood.bin", 2 * 1024 * 1024, 64 * 1024, seed);
    let seeder = sim.add_node_with(
        config.clone(),
        LinkConfig::new(Duration::from_millis(20), 4 * 1024 * 1024),
    );
    sim.add_torrent(seeder, &t, true, TorrentOptions::default());
    let target = sim.nodes[seeder].addr;
    let start = sim.now;
    let mut hostile = Vec::new();
    for i in 0..hostile_count {
        let at = start + JOIN * i as u32 / hostile_count as u32;
        let h = Hostile::new(target, t.meta.info_hash(), kind(i), at, i as u32);
        hostile.push(sim.add_agent(Box::new(h)));
    }
    let (mut max_sockets, mut max_peers) = (0, 0);
    let mut peak = Footprint::default();
    let mut watch = |s: &Sim| {
        max_sockets = max_sockets.max(s.net.ends_of(seeder));
        let Some(session) = s.nodes[seeder].session.as_ref() else {
            return;
        };
        peak = peak.max(session.footprint());
        if let Some(st) = session.torrent_stats(TorrentId(1)) {
            max_peers = max_peers.max(st.peers_connected + st.peers_connecting);
        }
    };
    // The flood takes hold first.
    sim.run_until(
        |s| {
            watch(s);
            s.elapsed() >= JOIN + Duration::from_secs(1)
        },
        5_000_000,
    )
    .expect("the flood runs");
    let held = sim.net.ends_of(seeder);
    let leecher = sim.add_node(SessionConfig::default());
    let id = sim.add_torrent(leecher, &t, false, TorrentOptions::default());
    sim.add_peers(leecher, id, &[target]);
    let arrived = sim.now;
    sim.run_until(
        |s| {
            watch(s);
            s.is_complete(leecher, id) || s.now - arrived > Duration::from_secs(120)
        },
        20_000_000,
    )
    .expect("the simulation runs");
    let took = sim.now - arrived;
    let attempted: u64 = hostile
        .iter()
        .map(|&n| sim.nodes[n].agent::<Hostile>().attempted)
        .sum();
    let accepted: u64 = hostile
        .iter()
        .map(|&n| sim.nodes[n].agent::<Hostile>().accepted)
        .sum();
    eprintln!(
        "{label}: {hostile_count} hostile endpoints, {attempted} connects, {accepted} \
         accepted; seeder peak {max_sockets} sockets, {max_peers} peers on the torrent; \
         {held} sockets at the leecher's arrival; honest leecher served in {took:?}"
    );
    let mut closes = std::collections::BTreeMap::new();
    for (_, e) in &sim.nodes[seeder].events {
        if let Event::PeerClosed { reason, .. } = e {
            *closes.entry(format!("{reason:?}")).or_insert(0) += 1;
        }
    }
    eprintln!("{label}: the seeder's closes by reason: {closes:?}");
    eprintln!("{label}: the seeder's peak footprint: {peak:?}");
    let served_bytes =
        config.max_upload_queue_bytes + config.max_send_backlog + MAX_MESSAGE_LEN as usize + 4;
    let bytes_bound = served_bytes + config.max_connections * HOSTILE_BYTES;
    assert!(
        peak.buffered_bytes <= bytes_bound,
        "the seeder held {} bytes for connections (bound {bytes_bound})",
        peak.buffered_bytes
    );
    assert!(peak.connections <= config.max_connections, "{peak:?}");
    assert!(
        peak.penalized_addresses <= config.max_penalized_addresses,
        "{peak:?}"
    );
    assert!(peak.pending_disk_jobs <= config.max_disk_jobs, "{peak:?}");
    assert!(
        peak.candidates <= config.max_candidates_per_torrent,
        "{peak:?}"
    );
    if !served {
        assert!(!sim.is_complete(leecher, id), "served in {took:?}");
        return;
    }
    assert!(sim.is_complete(leecher, id), "not served in {took:?}");
    assert!(sim.has_content(leecher, id, &t));
    assert!(
        took < Duration::from_secs(10),
        "served in {took:?} (2 MiB at 4 MiB/s)"
    );
    // Handshake floods fill the pending-inbound table; interested ones the torrent's slots.
    let floor = if kind(0) == Hostility::Interested {
        config.max_connections_per_torrent
    } else {
        config.max_pending_inbound
    };
    assert!(
        held >= floor && attempted > 2 * hostile_count as u64,
        "the flood held {held} sockets and made {attempted} connects: too little to test"
    );
    assert!(
        max_sockets <= config.max_connections,
        "{max_sockets} sockets open at once (limit {})",
        config.max_connections
    );
    assert!(
        max_peers <= config.max_connections_per_torrent,
        "{max_peers} peers on the torrent (limit {})",
        config.max_connections_per_torrent
    );
    sim.print_summary(label);
}
