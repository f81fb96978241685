//! The DHT lookup budget counts every lookup: a hybrid torrent's two (under its v1 and its
//! truncated v2 hash) take two slots, so its second waits for a slot of its own.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::id::InfoHash;
use crate::metainfo::Metainfo;
use crate::session::{
    Action, Dest, DiskJob, DiskJobKind, Session, SessionConfig, TorrentOptions, TorrentSource,
};

const ROUTER: ([u8; 4], u16) = ([127, 0, 0, 1], 6881);

/// Runs the session at `now`, answers its disk jobs, and returns which of `hashes` the
/// datagrams sent to the router name (one per lookup started: the router is the only node).
fn lookups_sent(s: &mut Session, now: Instant, hashes: &[InfoHash]) -> Vec<InfoHash> {
    let router = SocketAddr::from(ROUTER);
    let mut sent = Vec::new();
    for _ in 0..4 {
        s.handle_timeout(now);
        while let Some(a) = s.poll_action() {
            if let Action::Disk(DiskJob {
                kind: DiskJobKind::Stamps { reply },
                ..
            }) = a
            {
                s.handle_completion(now, reply.send(Ok(vec![None])));
            }
        }
        while let Some(t) = s.poll_transmit() {
            if t.dest != Dest::Udp(router) {
                continue;
            }
            let named = hashes
                .iter()
                .filter(|h| t.payload.windows(20).any(|w| w == h.as_bytes().as_slice()));
            sent.extend(named);
        }
    }
    sent
}

#[test]
fn a_hybrid_takes_a_slot_per_hash() {
    let now = Instant::now();
    let config = SessionConfig {
        listen_port: 7000,
        dht: true,
        dht_bootstrap: vec![SocketAddr::from(ROUTER)],
        dht_lookup_rate: 1,
        ..SessionConfig::default()
    };
    let mut s = Session::new(config, now, 5);
    let meta =
        Metainfo::from_bytes(include_bytes!("../../tests/data/v2/fx_hybrid.torrent")).unwrap();
    let hashes: Vec<InfoHash> = meta.info_hashes().handshake_ids().collect();
    assert_eq!(hashes.len(), 2, "a hybrid");
    let source = TorrentSource::Metainfo(Arc::new(meta));
    s.add_torrent(now, source, TorrentOptions::default())
        .unwrap();
    assert_eq!(
        lookups_sent(&mut s, now, &hashes),
        [hashes[0]],
        "one lookup in the second's one slot"
    );
    assert_eq!(s.dht_announce_stats().started, 1);
    let half = now + Duration::from_millis(500);
    assert!(lookups_sent(&mut s, half, &hashes).is_empty());
    let second = now + Duration::from_secs(1);
    assert_eq!(
        lookups_sent(&mut s, second, &hashes),
        [hashes[1]],
        "the other hash in the next slot"
    );
    assert_eq!(s.dht_announce_stats().started, 2);
    let later = now + Duration::from_secs(60);
    assert!(
        lookups_sent(&mut s, later, &hashes).is_empty(),
        "the round is done until the lookup interval"
    );
}
