//! A BitTorrent v2-only torrent from a `urn:btmh:` magnet link in the simulator: the info
//! dictionary comes over ut_metadata (checked against the SHA-256 v2 info-hash), every piece
//! layer is then fetched with BEP 52 hash requests (a layer of 700 pieces takes two runs of
//! 512, each proved against its file's root) from a seeder that serves them out of its
//! .torrent's layers, and the download proceeds as from the .torrent. A peer whose hashes do
//! not prove (its link flips a byte of every `hashes` message) is banned, and the layers come
//! from the next peer. The files: one of 700 pieces and a bit, one of three, one smaller than a
//! piece, an empty one.

use bytes::{Bytes, BytesMut};
use sanstorrent_core::magnet::{MagnetLink, PeerAddress};
use sanstorrent_core::session::{
    Event, PeerCloseReason, SessionConfig, TorrentOptions, TorrentPhase, TorrentSource,
};
use sanstorrent_tests::sim::{LinkConfig, Sim, TestTorrent};

const PIECE: u32 = 16 * 1024;
const FILES: &[(&str, u64)] = &[
    ("big.bin", 700 * PIECE as u64 + 77),
    ("d/empty", 0),
    ("d/small", 1_000),
    ("d/three", 40_000),
];

/// Flips the first hash of every `hashes` message (id 22) that starts in `chunk`.
fn corrupt_hashes(chunk: Bytes) -> Bytes {
    let mut out = BytesMut::from(&chunk[..]);
    let mut i = 0;
    while i + 5 <= out.len() {
        let len = u32::from_be_bytes([out[i], out[i + 1], out[i + 2], out[i + 3]]) as usize;
        let whole = len > 49 && (len - 49).is_multiple_of(32) && out[i + 4] == 22;
        if whole && i + 4 + 49 < out.len() {
            out[i + 4 + 49] ^= 0x5a;
            i += 4 + len;
        } else {
            i += 1;
        }
    }
    out.freeze()
}

fn magnet_of(t: &TestTorrent) -> MagnetLink {
    let v2 = t.meta.info_hashes().v2.expect("a v2 hash").to_hex();
    MagnetLink::parse(&format!("magnet:?xt=urn:btmh:1220{v2}&dn=v2")).expect("magnet")
}

fn run(seed: u64) -> u64 {
    let mut sim = Sim::new(seed, LinkConfig::default());
    let t = TestTorrent::v2("v2", FILES, PIECE, seed);
    assert!(t.meta.info_hashes().is_v2_only() && t.meta.has_all_piece_layers());
    let liar = sim.add_node(SessionConfig::default());
    sim.tamper.insert(liar, corrupt_hashes);
    sim.add_torrent(liar, &t, true, TorrentOptions::default());
    let honest = sim.add_node(SessionConfig::default());
    sim.add_torrent(honest, &t, true, TorrentOptions::default());
    let leecher = sim.add_node(SessionConfig::default());
    let mut magnet = magnet_of(&t);
    assert!(magnet.info_hashes().is_v2_only());
    // The liar alone first: it serves the (honest) metadata, then lies about the layers.
    magnet.peers = vec![PeerAddress::Ip(sim.nodes[liar].addr)];
    let id = sim.add_source(
        leecher,
        TorrentSource::Magnet(magnet),
        None,
        TorrentOptions::default(),
    );
    let banned = |s: &Sim| {
        s.saw(leecher, |e| {
            matches!(
                e,
                Event::PeerClosed {
                    reason: PeerCloseReason::BadHashes,
                    ..
                }
            )
        })
    };
    sim.run_until(banned, 200_000)
        .expect("the liar's hashes are caught");
    assert!(
        !sim.saw(leecher, |e| matches!(e, Event::MetadataReceived { .. })),
        "no metadata is adopted before its layers"
    );
    assert_eq!(
        sim.nodes[leecher]
            .session()
            .torrent_stats(id)
            .map(|s| s.phase),
        Some(TorrentPhase::FetchingMetadata)
    );
    let addr = sim.nodes[honest].addr;
    sim.add_peers(leecher, id, &[addr]);
    sim.run_until(|s| s.is_complete(leecher, id), 2_000_000)
        .expect("the v2 magnet download completes");
    assert!(sim.has_content(leecher, id, &t), "seed {seed}: wrong bytes");
    // The metadata announced carries every layer, as the .torrent had them.
    let learned = sim.nodes[leecher].events.iter().find_map(|(_, e)| match e {
        Event::MetadataReceived { torrent, metainfo } if *torrent == id => Some(metainfo.clone()),
        _ => None,
    });
    let learned = learned.expect("metadata received");
    assert!(learned.piece_layers().eq(t.meta.piece_layers()));
    assert!(!sim.saw(leecher, |e| matches!(e, Event::PieceFailed { .. })));
    let liar_addr = sim.nodes[liar].addr;
    let bad: Vec<_> = sim.nodes[leecher]
        .events
        .iter()
        .filter_map(|(_, e)| match e {
            Event::PeerClosed {
                addr,
                reason: PeerCloseReason::BadHashes,
                ..
            } => Some(*addr),
            _ => None,
        })
        .collect();
    assert_eq!(
        bad,
        vec![liar_addr],
        "only the liar is dropped for its hashes"
    );
    eprintln!(
        "v2_magnet seed {seed}: complete at {:?} virtual, {} steps",
        sim.elapsed(),
        sim.steps
    );
    sim.log_hash()
}

#[test]
fn a_btmh_magnet_learns_its_piece_layers_from_peers_and_downloads() {
    let first = run(3);
    assert_eq!(first, run(3), "same seed, same run");
    run(4);
}
