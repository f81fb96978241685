//! A BitTorrent v2-only torrent downloaded through a `urn:btmh:` magnet learns its piece layers
//! with hash requests; its resume data records them. Restarted with that resume data, the
//! torrent takes its layers from it (each proved against its file's root): not one hash request
//! goes out, and no piece is hashed again. Restarted with resume data whose layer was tampered
//! with, the layer is refused with an error event, fetched again from the seeder, and the data
//! is still right.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use bytes::Bytes;
use sanstorrent_core::magnet::{MagnetLink, PeerAddress};
use sanstorrent_core::session::{
    Event, SessionConfig, SessionError, TorrentId, TorrentOptions, TorrentSource,
};
use sanstorrent_core::storage::ResumeData;
use sanstorrent_tests::sim::{LinkConfig, Sim, TestTorrent};

const PIECE: u32 = 16 * 1024;
const FILES: &[(&str, u64)] = &[
    ("big.bin", 700 * PIECE as u64 + 77),
    ("d/empty", 0),
    ("d/small", 1_000),
    ("d/three", 40_000),
];

/// Hash requests (message 21: length 49) the leecher sent.
static HASH_REQUESTS: AtomicUsize = AtomicUsize::new(0);

/// Counts the hash requests that start in `chunk` (its bytes pass unchanged).
fn count_hash_requests(chunk: Bytes) -> Bytes {
    let n = chunk.windows(5).filter(|w| *w == [0, 0, 0, 49, 21]).count();
    HASH_REQUESTS.fetch_add(n, Ordering::SeqCst);
    chunk
}

fn magnet_of(t: &TestTorrent, seeder: &Sim, node: usize) -> MagnetLink {
    let v2 = t.meta.info_hashes().v2.expect("a v2 hash").to_hex();
    let mut m = MagnetLink::parse(&format!("magnet:?xt=urn:btmh:1220{v2}&dn=v2")).expect("magnet");
    m.peers = vec![PeerAddress::Ip(seeder.nodes[node].addr)];
    m
}

/// Crashes the leecher, restarts it with `resume` and lets it check its data: returns the hash
/// requests it sent, the pieces it hashed and whether it reported refused layers.
fn restart(
    sim: &mut Sim,
    leecher: usize,
    magnet: &MagnetLink,
    t: &TestTorrent,
    id: TorrentId,
    resume: Vec<u8>,
) -> (usize, u32, bool) {
    sim.crash(leecher);
    sim.run_for(Duration::from_secs(5), 100_000).expect("down");
    sim.start_session(leecher, SessionConfig::default());
    let marker = sim.nodes[leecher].events.len();
    HASH_REQUESTS.store(0, Ordering::SeqCst);
    let options = TorrentOptions {
        resume: Some(resume),
        ..TorrentOptions::default()
    };
    let source = TorrentSource::Magnet(magnet.clone());
    let again = sim.add_source(leecher, source, None, options);
    assert_eq!(again, id, "the restarted torrent reuses its storage");
    let checked = |s: &Sim| {
        s.nodes[leecher].events[marker..]
            .iter()
            .any(|(_, e)| matches!(e, Event::Checked { torrent, .. } if *torrent == id))
    };
    sim.run_until(checked, 2_000_000)
        .expect("the restarted torrent checks its data");
    assert!(sim.has_content(leecher, id, t), "wrong bytes after restart");
    let events = &sim.nodes[leecher].events[marker..];
    let have = events.iter().find_map(|(_, e)| match e {
        Event::Checked { have, .. } => Some(*have),
        _ => None,
    });
    assert_eq!(
        have,
        Some(t.meta.piece_count()),
        "every piece is had after restart"
    );
    let hashed = events
        .iter()
        .find_map(|(_, e)| match e {
            Event::Checking { pieces, .. } => Some(*pieces),
            _ => None,
        })
        .unwrap_or(0);
    let refused = events.iter().any(|(_, e)| {
        matches!(
            e,
            Event::Error {
                error: SessionError::ResumeLayers { .. },
                ..
            }
        )
    });
    (HASH_REQUESTS.load(Ordering::SeqCst), hashed, refused)
}

#[test]
fn resume_data_keeps_the_learned_piece_layers_and_refuses_tampered_ones() {
    let seed = 5;
    let mut sim = Sim::new(seed, LinkConfig::default());
    let t = TestTorrent::v2("v2", FILES, PIECE, seed);
    let seeder = sim.add_node(SessionConfig::default());
    sim.add_torrent(seeder, &t, true, TorrentOptions::default());
    let leecher = sim.add_node(SessionConfig::default());
    sim.tamper.insert(leecher, count_hash_requests);
    let magnet = magnet_of(&t, &sim, seeder);
    let source = TorrentSource::Magnet(magnet.clone());
    let id = sim.add_source(leecher, source, None, TorrentOptions::default());
    sim.run_until(|s| s.is_complete(leecher, id), 2_000_000)
        .expect("the v2 magnet download completes");
    // The save that follows completion.
    sim.run_for(Duration::from_secs(5), 200_000).expect("saved");
    let first = HASH_REQUESTS.load(Ordering::SeqCst);
    assert!(
        first >= 2,
        "the first download fetched its layers ({first} requests)"
    );
    let saved = sim.nodes[leecher].resume.get(&id).cloned().expect("resume");
    let data = ResumeData::decode(&saved, t.meta.layout()).expect("valid resume data");
    assert!(data.pieces.is_full(), "the resume data holds every piece");
    assert!(
        data.piece_layers
            .iter()
            .map(|(r, l)| (r, l.as_slice()))
            .eq(t.meta.piece_layers()),
        "the resume data holds the torrent's layers"
    );

    let (requests, hashed, refused) = restart(&mut sim, leecher, &magnet, &t, id, saved);
    eprintln!("v2_resume_layers: restart with layers: {requests} hash requests, {hashed} hashed");
    assert_eq!(requests, 0, "a restart with saved layers asks no hashes");
    assert_eq!(hashed, 0, "a restart with resume data hashes nothing");
    assert!(!refused);

    let mut tampered = data.clone();
    let layer = (tampered.piece_layers.values_mut())
        .max_by_key(|l| l.len())
        .expect("a layer");
    layer[300][7] ^= 0x40;
    let (requests, _, refused) = restart(&mut sim, leecher, &magnet, &t, id, tampered.encode());
    eprintln!("v2_resume_layers: restart with a tampered layer: {requests} hash requests");
    assert!(refused, "the tampered layer is reported");
    assert!(requests >= 2, "the tampered layer is fetched again");
}
