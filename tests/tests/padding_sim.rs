//! BEP 47 padding files in the simulator: the blocks that lie wholly in padding are never
//! requested, a piece made only of padding is had before any peer connects, padding is never
//! stored, and the byte figures (wanted, had, downloaded, left) leave padding out as
//! libtorrent does.

use sanstorrent_core::session::{Event, SessionConfig, TorrentOptions};
use sanstorrent_tests::sim::{LinkConfig, Sim, TestFile, TestTorrent};

const PIECE: u32 = 64 * 1024;
const BLOCK: u32 = 16 * 1024;

/// Data, padding to a piece's end (two blocks wholly padding), a piece of padding only, data
/// of one piece and a half with its padding (one block wholly padding), and a last file.
fn files() -> Vec<TestFile> {
    vec![
        TestFile::new("a", 20_000),
        TestFile::pad(u64::from(PIECE) - 20_000),
        TestFile::pad(u64::from(PIECE)),
        TestFile::new("d/b", 100_000),
        TestFile::pad(2 * u64::from(PIECE) - 100_000),
        TestFile::new("c", 50_000),
    ]
}

#[test]
fn padding_is_never_requested_stored_or_counted() {
    let mut sim = Sim::new(11, LinkConfig::default());
    let t = TestTorrent::multi("padded", &files(), PIECE, 11);
    let layout = t.meta.layout().clone();
    let data = 20_000 + 100_000 + 50_000;
    assert_eq!(layout.data_length(), data);
    let seeder = sim.add_node(SessionConfig::default());
    let sid = sim.add_torrent(seeder, &t, true, TorrentOptions::default());
    let leecher = sim.add_node(SessionConfig::default());
    let id = sim.add_torrent(leecher, &t, false, TorrentOptions::default());
    sim.run_until(
        |s| {
            s.saw(
                leecher,
                |e| matches!(e, Event::Checked { torrent, .. } if *torrent == id),
            )
        },
        10_000,
    )
    .expect("the start check ends");
    assert!(
        sim.saw(
            leecher,
            |e| matches!(e, Event::Checked { torrent, have: 1, .. } if *torrent == id)
        ),
        "the piece of padding only is had before any peer"
    );
    let addr = sim.nodes[seeder].addr;
    sim.add_peers(leecher, id, &[addr]);
    sim.run_until(|s| s.is_complete(leecher, id), 200_000)
        .expect("the download completes");
    assert!(sim.has_content(leecher, id, &t), "wrong bytes");
    let storage = &sim.nodes[leecher].storages[&id];
    for (i, f) in t.meta.files().iter().enumerate() {
        if f.padding {
            assert!(
                storage.file_data(i).is_none(),
                "padding file {i} was stored"
            );
        }
    }
    let stats = |node: usize, torrent| {
        sim.nodes[node]
            .session
            .as_ref()
            .unwrap()
            .torrent_stats(torrent)
            .unwrap()
    };
    let got = stats(leecher, id);
    assert_eq!(
        (
            got.total_bytes,
            got.wanted_bytes,
            got.have_bytes,
            got.wanted_have_bytes
        ),
        (data, data, data, data)
    );
    assert_eq!(got.downloaded, data, "downloaded bytes are the data's");
    // The seeder sent exactly the blocks that hold data (whole blocks: the zeros of a block
    // that is partly padding travel with it), nothing wholly padding.
    let mut sent = 0;
    for p in 0..layout.piece_count() {
        let len = layout.piece_len(p);
        for offset in (0..len).step_by(BLOCK as usize) {
            let block = (len - offset).min(BLOCK);
            if layout.padding_in(p, offset, block) < block {
                sent += u64::from(block);
            }
        }
    }
    assert_eq!(
        sent,
        9 * u64::from(BLOCK) + 50_000,
        "blocks 0-1, 4 of b, 3 of b, c"
    );
    assert_eq!(
        stats(seeder, sid).uploaded,
        sent,
        "only blocks with data were asked for"
    );
}
