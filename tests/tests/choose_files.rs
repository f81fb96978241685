//! `TorrentOptions::choose_files`: a magnet link's files wait for a choice. The metadata
//! arrives, then nothing is downloaded, the torrent is neither finished nor seeding and fires
//! no `TorrentComplete` however long it waits; once files are chosen, only those are fetched
//! and it completes once. A .torrent added so completes at once only when the choice skips
//! every file.

use std::time::Duration;

use sanstorrent_core::magnet::{MagnetLink, PeerAddress};
use sanstorrent_core::session::{
    Event, Priority, SessionConfig, TorrentId, TorrentOptions, TorrentPhase, TorrentSource,
};
use sanstorrent_tests::sim::{LinkConfig, Sim, TestFile, TestTorrent};

const PIECE: u32 = 64 * 1024;

fn completions(sim: &Sim, node: usize, t: TorrentId) -> usize {
    sim.nodes[node]
        .events
        .iter()
        .filter(|(_, e)| matches!(e, Event::TorrentComplete { torrent } if *torrent == t))
        .count()
}

fn three() -> TestTorrent {
    TestTorrent::multi(
        "three",
        &[
            TestFile::new("three/a.bin", 300 * 1024),
            TestFile::new("three/b.bin", 1024 * 1024),
            TestFile::new("three/c.bin", 200 * 1024),
        ],
        PIECE,
        11,
    )
}

fn choosing() -> TorrentOptions {
    TorrentOptions {
        choose_files: true,
        ..TorrentOptions::default()
    }
}

#[test]
fn a_magnet_waits_for_its_files_to_be_chosen() {
    let mut sim = Sim::new(3, LinkConfig::default());
    let t = three();
    let seeder = sim.add_node(SessionConfig::default());
    sim.add_torrent(seeder, &t, true, TorrentOptions::default());
    let leecher = sim.add_node(SessionConfig::default());
    let mut magnet = MagnetLink::new(t.meta.info_hash());
    magnet.peers = vec![PeerAddress::Ip(sim.nodes[seeder].addr)];
    let id = sim.add_source(leecher, TorrentSource::Magnet(magnet), None, choosing());
    sim.run_until(
        |s| s.saw(leecher, |e| matches!(e, Event::MetadataReceived { .. })),
        100_000,
    )
    .expect("the metadata arrives");

    // A minute later: nothing downloaded, not finished, still connected to the seeder.
    sim.run_for(Duration::from_secs(60), 1_000_000)
        .expect("runs");
    let stats = sim.nodes[leecher]
        .session()
        .torrent_stats(id)
        .expect("known");
    assert_eq!(
        stats.phase,
        TorrentPhase::Downloading,
        "waiting, not seeding"
    );
    assert_eq!(stats.wanted_bytes, 0, "every file skipped");
    assert_eq!(stats.pieces_have, 0);
    assert!(sim.nodes[leecher].verified(id).is_empty());
    assert!(
        stats.downloaded < 16 * 1024,
        "downloaded {} bytes before a choice",
        stats.downloaded
    );
    assert_eq!(
        completions(&sim, leecher, id),
        0,
        "never complete meanwhile"
    );
    assert!(
        stats.peers_connected >= 1,
        "the seeder stays connected: {stats:?}"
    );

    // The choice: a and c. Only they (and the pieces they share with b) are fetched.
    sim.with_session(leecher, |s, now| {
        s.set_file_priorities(
            now,
            id,
            vec![Priority::Normal, Priority::Skip, Priority::High],
        )
        .expect("three files");
    });
    sim.run_until(|s| s.is_complete(leecher, id), 200_000)
        .expect("the chosen files complete");
    assert_eq!(completions(&sim, leecher, id), 1);
    let layout = t.meta.layout();
    let verified = sim.nodes[leecher].verified(id);
    let b_only = layout.file_pieces(1).filter(|p| {
        !layout.file_pieces(0).any(|q| q == *p) && !layout.file_pieces(2).any(|q| q == *p)
    });
    for p in b_only {
        assert!(
            !verified.contains(&p),
            "piece {p} of the skipped file was fetched"
        );
    }
    let storage = sim.nodes[leecher].storages[&id].clone();
    assert_eq!(storage.file_data(0).as_deref(), Some(&t.files[0][..]));
    assert_eq!(storage.file_data(2).as_deref(), Some(&t.files[2][..]));
    let stats = sim.nodes[leecher]
        .session()
        .torrent_stats(id)
        .expect("known");
    assert_eq!(stats.phase, TorrentPhase::Seeding);
}

#[test]
fn a_choice_that_skips_every_file_completes_at_once() {
    let mut sim = Sim::new(5, LinkConfig::default());
    let t = three();
    let node = sim.add_node(SessionConfig::default());
    let id = sim.add_torrent(node, &t, false, choosing());
    sim.run_until(
        |s| s.saw(node, |e| matches!(e, Event::Checked { .. })),
        10_000,
    )
    .expect("checked");
    sim.run_for(Duration::from_secs(5), 100_000).expect("runs");
    assert_eq!(completions(&sim, node, id), 0, "nothing chosen yet");
    let phase = |sim: &mut Sim| {
        sim.nodes[node]
            .session()
            .torrent_stats(id)
            .expect("known")
            .phase
    };
    assert_eq!(phase(&mut sim), TorrentPhase::Downloading);
    sim.with_session(node, |s, now| {
        s.set_file_priorities(now, id, vec![Priority::Skip; 3])
            .expect("three files");
    });
    sim.run_for(Duration::from_secs(1), 100_000).expect("runs");
    assert_eq!(completions(&sim, node, id), 1, "chosen: nothing to fetch");
    assert_eq!(phase(&mut sim), TorrentPhase::Seeding);
}
