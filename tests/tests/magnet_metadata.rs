//! A magnet leecher fetches the info dictionary (three ut_metadata pieces) from three seeders,
//! one of which lies: every ut_metadata data message it sends has a byte flipped on the way
//! (its session is honest, the simulated link tampers). The leecher outvotes the liar, bans it,
//! builds the metainfo, and downloads the data over the same connections.

use bytes::{Bytes, BytesMut};
use sanstorrent_core::extensions::MetadataFault;
use sanstorrent_core::magnet::{MagnetLink, PeerAddress};
use sanstorrent_core::session::{
    Event, PeerCloseReason, SessionConfig, TorrentOptions, TorrentPhase, TorrentSource,
};
use sanstorrent_tests::sim::{LinkConfig, Sim, TestFile, TestTorrent};

/// Flips the first byte of every ut_metadata `data` message's payload in `chunk`.
fn corrupt_metadata(chunk: Bytes) -> Bytes {
    const HEAD: &[u8] = b"8:msg_typei1e5:piecei";
    const SIZE: &[u8] = b"e10:total_sizei";
    let mut out = BytesMut::from(&chunk[..]);
    let mut from = 0;
    while let Some(at) = find(&out[from..], HEAD).map(|i| i + from) {
        from = at + HEAD.len();
        let Some(size) = find(&out[from..], SIZE).map(|i| i + from + SIZE.len()) else {
            break;
        };
        // total_size digits, then "ee", then the data.
        let Some(end) = find(&out[size..], b"ee").map(|i| i + size + 2) else {
            break;
        };
        if end < out.len() {
            out[end] ^= 0x5a;
        }
        from = end;
    }
    out.freeze()
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// A torrent whose info dictionary is about 40 KiB (three ut_metadata pieces): many files with
/// long names.
fn wide_torrent() -> TestTorrent {
    let files: Vec<TestFile> = (0..500)
        .map(|i| {
            TestFile::new(
                &format!("docs/a-file-with-a-deliberately-long-name-number-{i:05}.txt"),
                100 + i % 7,
            )
        })
        .collect();
    TestTorrent::multi("wide", &files, 16 * 1024, 3)
}

fn run(seed: u64) -> (u64, Sim) {
    let mut sim = Sim::new(seed, LinkConfig::default());
    let t = wide_torrent();
    assert!(
        t.meta.info_bytes().len() > 2 * 16 * 1024,
        "info dictionary spans three pieces"
    );
    let seeders: Vec<usize> = (0..3)
        .map(|_| sim.add_node(SessionConfig::default()))
        .collect();
    let liar = seeders[1];
    sim.tamper.insert(liar, corrupt_metadata);
    for &s in &seeders {
        sim.add_torrent(s, &t, true, TorrentOptions::default());
    }
    let leecher = sim.add_node(SessionConfig::default());
    let mut magnet = MagnetLink::new(t.meta.info_hash());
    magnet.peers = seeders
        .iter()
        .map(|&s| PeerAddress::Ip(sim.nodes[s].addr))
        .collect();
    let tl = sim.add_source(
        leecher,
        TorrentSource::Magnet(magnet),
        None,
        TorrentOptions::default(),
    );
    assert_eq!(
        sim.nodes[leecher]
            .session()
            .torrent_stats(tl)
            .unwrap()
            .phase,
        TorrentPhase::FetchingMetadata
    );
    sim.run_until(|s| s.is_complete(leecher, tl), 400_000)
        .expect("magnet download completes");

    // The metadata came from peers, and the liar was caught and banned.
    assert!(sim.saw(
        leecher,
        |e| matches!(e, Event::MetadataReceived { torrent, .. } if *torrent == tl)
    ));
    let liar_addr = sim.nodes[liar].addr;
    let dropped: Vec<_> = sim.nodes[leecher]
        .events
        .iter()
        .filter_map(|(_, e)| match e {
            Event::PeerClosed {
                addr,
                reason: PeerCloseReason::BadMetadata(fault),
                ..
            } => Some((*addr, fault.clone())),
            _ => None,
        })
        .collect();
    assert_eq!(dropped.len(), 1, "exactly one peer dropped: {dropped:?}");
    assert_eq!(dropped[0].0, liar_addr, "the liar is the one dropped");
    assert!(matches!(dropped[0].1, MetadataFault::BadPiece(_)));
    // Honest seeders stayed connected from the metadata through the download (until both
    // sides were seeds), and each was connected once: the same connections continued.
    for &s in &[seeders[0], seeders[2]] {
        let addr = sim.nodes[s].addr;
        let closes: Vec<_> = sim.nodes[leecher]
            .events
            .iter()
            .filter_map(|(_, e)| match e {
                Event::PeerClosed {
                    addr: a, reason, ..
                } if *a == addr => Some(reason.clone()),
                _ => None,
            })
            .collect();
        assert!(
            closes.iter().all(|r| *r == PeerCloseReason::BothSeeds),
            "honest seeder {addr} closed only once both were seeds: {closes:?}"
        );
        let connects = sim.nodes[leecher]
            .events
            .iter()
            .filter(|(_, e)| matches!(e, Event::PeerConnected { addr: a, .. } if *a == addr))
            .count();
        assert_eq!(
            connects, 1,
            "one connection to {addr} for metadata and data"
        );
    }
    // The data matches.
    let storage = sim.nodes[leecher].storages[&tl].clone();
    for (f, want) in t.files.iter().enumerate() {
        let got = storage.file_data(f).expect("file written");
        assert!(got == *want, "file {f} differs");
    }
    let stats = sim.nodes[leecher].session().torrent_stats(tl).unwrap();
    assert_eq!(stats.phase, TorrentPhase::Seeding);
    (sim.log_hash(), sim)
}

#[test]
fn magnet_fetches_metadata_outvotes_liar_and_downloads() {
    let (h1, sim) = run(11);
    eprintln!(
        "magnet_metadata: done at {:?} virtual, {} steps",
        sim.elapsed(),
        sim.steps
    );
    let (h2, _) = run(11);
    assert_eq!(h1, h2, "same seed, same run");
    run(12);
}
