use super::*;
use crate::bencode::Decoder;
use crate::id::sha1_digest;
use crate::metainfo::Metainfo;

fn rel(p: &str) -> RelativePath {
    RelativePath::from_components(p.split('/')).unwrap()
}

#[test]
fn auto_piece_length_scales() {
    assert_eq!(auto_piece_length(0), 16 * 1024);
    assert_eq!(auto_piece_length(10_000_000), 8192 * 2);
    assert_eq!(auto_piece_length(1 << 30), 1 << 20);
    assert_eq!(auto_piece_length(1 << 40), 16 << 20);
    for total in [1u64, 1 << 20, 700 << 20, 5 << 30, u64::MAX] {
        let pl = auto_piece_length(total);
        assert!(
            pl.is_power_of_two() && (16384..=16 << 20).contains(&pl),
            "{total}"
        );
    }
}

#[test]
fn single_file_round_trips_through_the_parser() {
    let b = TorrentBuilder::single_file("data.bin", 40_000)
        .unwrap()
        .piece_length(16384)
        .tracker_tier(vec!["http://a/announce".into()])
        .comment("hi".into())
        .created_by("sanstorrent".into())
        .creation_date(1_700_000_000)
        .private(true);
    let layout = b.layout().unwrap();
    assert_eq!(layout.piece_count(), 3);
    let hashes: Vec<[u8; 20]> = (0..3u8).map(|i| sha1_digest(&[i])).collect();
    let bytes = b.build(&hashes).unwrap();
    // Canonical: the strict decoder accepts it.
    Decoder::new(&bytes).strict(true).decode().unwrap();
    let m = Metainfo::from_bytes(&bytes).unwrap();
    assert_eq!(m.name(), "data.bin");
    assert!(m.is_single_file() && m.is_private());
    assert_eq!(m.piece_hashes(), &hashes[..]);
    assert_eq!(m.trackers(), &[vec!["http://a/announce".to_string()]]);
    assert_eq!(m.comment(), Some("hi"));
    assert_eq!(m.created_by(), Some("sanstorrent"));
    assert_eq!(m.creation_date(), Some(1_700_000_000));
    // The announce-list is written only for more than one tracker.
    assert!(!bytes.windows(13).any(|w| w == b"announce-list"));
}

#[test]
fn multi_file_round_trips_with_tiers() {
    let b = TorrentBuilder::multi_file(
        "top",
        vec![
            (rel("a.txt"), 5),
            (rel("sub/empty"), 0),
            (rel("sub/b.bin"), 70_000),
        ],
    )
    .unwrap()
    .piece_length(32768)
    .tracker_tier(vec!["http://a/1".into(), "http://b/2".into()])
    .tracker_tier(vec!["udp://c/3".into()])
    .web_seed("http://w/".into())
    .http_seed("http://h/seed.php".into());
    let hashes = vec![[1u8; 20]; 3];
    let bytes = b.build(&hashes).unwrap();
    Decoder::new(&bytes).strict(true).decode().unwrap();
    let m = Metainfo::from_bytes(&bytes).unwrap();
    let files: Vec<(String, u64)> = m
        .files()
        .iter()
        .map(|f| (f.path.to_string(), f.length))
        .collect();
    assert_eq!(
        files,
        [
            ("top/a.txt".to_string(), 5),
            ("top/sub/empty".to_string(), 0),
            ("top/sub/b.bin".to_string(), 70_000)
        ]
    );
    assert_eq!(m.trackers().len(), 2);
    assert_eq!(m.trackers()[0].len(), 2);
    assert_eq!(m.url_list(), &["http://w/".to_string()]);
    assert_eq!(m.http_seeds(), &["http://h/seed.php".to_string()]);
    assert!(!m.is_private());
}

#[test]
fn bad_descriptions_are_refused() {
    assert!(matches!(
        TorrentBuilder::single_file("..", 1),
        Err(CreateError::BadName(_))
    ));
    assert_eq!(
        TorrentBuilder::multi_file("x", vec![]),
        Err(CreateError::NoFiles)
    );
    assert_eq!(
        TorrentBuilder::multi_file("x", vec![(rel("a"), 1), (rel("a"), 2)]),
        Err(CreateError::DuplicatePath("a".into()))
    );
    assert_eq!(
        TorrentBuilder::multi_file("x", vec![(rel("a"), 1), (rel("a/b"), 2)]),
        Err(CreateError::FileIsDirectory("a".into()))
    );
    let b = TorrentBuilder::single_file("f", 10).unwrap();
    assert_eq!(
        b.clone().piece_length(1000).layout(),
        Err(CreateError::BadPieceLength(1000))
    );
    assert_eq!(
        b.build(&[]),
        Err(CreateError::PieceCount {
            expected: 1,
            given: 0
        })
    );
    assert_eq!(
        TorrentBuilder::single_file("f", 0).unwrap().layout(),
        Err(CreateError::Empty)
    );
    let huge = TorrentBuilder::multi_file("x", vec![(rel("a"), u64::MAX), (rel("b"), 1)])
        .unwrap()
        .piece_length(16384);
    assert_eq!(huge.layout(), Err(CreateError::TotalLengthOverflow));
}
