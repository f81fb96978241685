//! A leecher that opens its connections with the encrypted handshake (MSE,
//! `OutgoingEncryption::Prefer`) downloads a torrent from a seeder in the simulation: our
//! initiator against our responder, then plain BitTorrent (the responder selects plaintext
//! when offered), byte for byte.

use std::sync::Mutex;

use bytes::Bytes;
use sanstorrent_core::session::{OutgoingEncryption, SessionConfig, TorrentOptions};
use sanstorrent_tests::sim::{LinkConfig, Sim, TestTorrent};

/// The first chunk the leecher sent to a peer.
static FIRST_SENT: Mutex<Option<Bytes>> = Mutex::new(None);

fn record_first(chunk: Bytes) -> Bytes {
    let mut first = FIRST_SENT.lock().expect("not poisoned");
    if first.is_none() {
        *first = Some(chunk.clone());
    }
    chunk
}

#[test]
fn a_leecher_dialling_with_mse_downloads_everything() {
    let mut sim = Sim::new(11, LinkConfig::default());
    let t = TestTorrent::single("data.bin", 2 * 1024 * 1024 + 777, 64 * 1024, 2);
    let seeder = sim.add_node(SessionConfig::default());
    let leecher = sim.add_node(SessionConfig {
        outgoing_encryption: OutgoingEncryption::Prefer,
        ..SessionConfig::default()
    });
    sim.tamper.insert(leecher, record_first);
    sim.add_torrent(seeder, &t, true, TorrentOptions::default());
    let tl = sim.add_torrent(leecher, &t, false, TorrentOptions::default());
    let seeder_addr = sim.nodes[seeder].addr;
    sim.add_peers(leecher, tl, &[seeder_addr]);
    sim.run_until(|s| s.is_complete(leecher, tl), 200_000)
        .expect("download completes");
    assert!(sim.has_content(leecher, tl, &t), "downloaded bytes differ");
    let first = FIRST_SENT
        .lock()
        .unwrap()
        .clone()
        .expect("the leecher sent");
    assert!(
        (96..=96 + 512).contains(&first.len()),
        "Ya and PadA first ({} bytes)",
        first.len()
    );
    assert!(!first.starts_with(b"\x13BitTorrent protocol"));
}
