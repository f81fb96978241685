//! Torrents created as v2 and hybrid: the same info-hashes libtorrent 2.0.8 computed for the
//! same files (`core/tests/data/v2/`), and what the parser reads back.

use super::*;
use crate::id::sha1_digest;
use crate::merkle::{V2Piece, file_hashes};
use crate::metainfo::{MetaVersion, Metainfo};

/// Byte `j` of fixture file `k` (the formula of `core/tests/data/v2/gen.py`).
fn content(k: u64, n: usize) -> Vec<u8> {
    (0..n as u64)
        .map(|j| ((j.wrapping_mul(0x9E37_79B1).wrapping_add(k * 7919) >> 11) & 0xFF) as u8)
        .collect()
}

/// The fixture directory `fx`: (path, gen.py index, length).
const FX: &[(&str, u64, usize)] = &[
    ("a_empty", 0, 0),
    ("b_small", 1, 100),
    ("c_block", 2, 16384),
    ("d_piece", 3, 32768),
    ("e_two", 4, 40000),
    ("sub/f_six", 5, 5 * 32768 + 1),
    ("g_big", 6, 300_000),
];

fn rel(p: &str) -> RelativePath {
    RelativePath::from_components(p.split('/')).unwrap()
}

/// Hashes every piece of the builder's layout as the CLI does and builds the torrent.
fn build(b: &TorrentBuilder, data: &[Vec<u8>]) -> Vec<u8> {
    let layout = b.layout().unwrap();
    let which = b.layout_files();
    let mut sha1 = Vec::new();
    let mut v2 = Vec::new();
    for piece in 0..layout.piece_count() {
        let len = layout.piece_len(piece);
        let mut buf = vec![0u8; len as usize];
        for span in layout.spans(piece, 0, len).unwrap() {
            if let Some(file) = which[span.file] {
                let at = span.file_offset as usize;
                buf[span.buffer_offset..span.buffer_offset + span.len]
                    .copy_from_slice(&data[file][at..at + span.len]);
            }
        }
        sha1.push(sha1_digest(&buf));
        v2.push(V2Piece::of(&layout, piece).unwrap().digest(&buf).unwrap());
    }
    b.build_with(&sha1, &v2).unwrap()
}

/// The `fx` directory given in reverse order: the builder sorts it into tree order.
fn fx(format: TorrentFormat, piece_length: u32) -> Vec<u8> {
    let files = FX
        .iter()
        .rev()
        .map(|(p, _, n)| (rel(p), *n as u64))
        .collect();
    let b = TorrentBuilder::multi_file("fx", files)
        .unwrap()
        .piece_length(piece_length)
        .format(format);
    let data: Vec<Vec<u8>> = b
        .files()
        .iter()
        .map(|(path, _)| {
            let path = path.as_ref().unwrap().to_string();
            let (_, k, n) = FX.iter().find(|(p, _, _)| *p == path).unwrap();
            content(*k, *n)
        })
        .collect();
    build(&b, &data)
}

fn same_info_hashes(ours: &[u8], libtorrent: &[u8]) {
    let ours = Metainfo::from_bytes(ours).unwrap();
    let theirs = Metainfo::from_bytes(libtorrent).unwrap();
    assert_eq!(ours.info_hashes(), theirs.info_hashes());
    assert_eq!(ours.info_bytes(), theirs.info_bytes());
    assert_eq!(ours.version(), theirs.version());
    for i in 0..theirs.files().len() {
        assert_eq!(ours.piece_layer(i), theirs.piece_layer(i), "file {i}");
    }
    assert!(ours.has_all_piece_layers());
}

#[test]
fn multi_file_v2_and_hybrid_match_libtorrent() {
    let v2 = fx(TorrentFormat::V2, 32768);
    same_info_hashes(&v2, include_bytes!("../../tests/data/v2/fx_v2.torrent"));
    let hybrid = fx(TorrentFormat::Hybrid, 32768);
    same_info_hashes(
        &hybrid,
        include_bytes!("../../tests/data/v2/fx_hybrid.torrent"),
    );
    let v2_16k = fx(TorrentFormat::V2, 16384);
    same_info_hashes(
        &v2_16k,
        include_bytes!("../../tests/data/v2/fx16_v2.torrent"),
    );
    let m = Metainfo::from_bytes(&hybrid).unwrap();
    assert_eq!(m.version(), MetaVersion::Hybrid);
    // Every file starts on a piece boundary.
    let pl = u64::from(m.piece_length());
    for extent in m.layout().files().iter().filter(|f| !f.padding) {
        assert_eq!(extent.offset % pl, 0);
    }
}

#[test]
fn single_file_v2_and_hybrid_match_libtorrent() {
    let data = vec![content(6, 300_000)];
    for (format, fixture) in [
        (
            TorrentFormat::V2,
            &include_bytes!("../../tests/data/v2/single_v2.torrent")[..],
        ),
        (
            TorrentFormat::Hybrid,
            &include_bytes!("../../tests/data/v2/single_hybrid.torrent")[..],
        ),
    ] {
        let b = TorrentBuilder::single_file("g_big", 300_000)
            .unwrap()
            .piece_length(65536)
            .format(format);
        same_info_hashes(&build(&b, &data), fixture);
    }
}

#[test]
fn roots_are_the_files_merkle_roots() {
    let sizes = [5u64, 0, 16384 * 3 + 7, 65536];
    let files = sizes
        .iter()
        .enumerate()
        .map(|(i, n)| (rel(&format!("d/f{i}")), *n))
        .collect();
    let b = TorrentBuilder::multi_file("t", files)
        .unwrap()
        .piece_length(32768)
        .format(TorrentFormat::V2);
    let data: Vec<Vec<u8>> = sizes
        .iter()
        .enumerate()
        .map(|(i, n)| content(i as u64 + 10, *n as usize))
        .collect();
    let m = Metainfo::from_bytes(&build(&b, &data)).unwrap();
    assert_eq!(m.version(), MetaVersion::V2);
    assert!(m.piece_hashes().is_empty());
    let mut seen = 0;
    for (i, f) in m.files().iter().enumerate() {
        if f.padding {
            continue;
        }
        let k: usize = f.path.file_name()[1..].parse().unwrap();
        let want = file_hashes(&data[k], 32768).unwrap();
        assert_eq!(m.pieces_root(i), want.root.as_ref(), "{}", f.path);
        if !want.piece_layer.is_empty() {
            assert_eq!(m.piece_layer(i), Some(&want.piece_layer[..]));
        }
        seen += 1;
    }
    assert_eq!(seen, 4);
}

#[test]
fn v2_needs_a_power_of_two_and_every_digest() {
    let b = TorrentBuilder::single_file("f", 100_000)
        .unwrap()
        .piece_length(49152);
    assert!(b.layout().is_ok(), "v1 takes any multiple of 16 KiB");
    let b = b.format(TorrentFormat::Hybrid);
    assert_eq!(
        b.layout(),
        Err(CreateError::PieceLengthNotPowerOfTwo(49152))
    );
    let b = b.piece_length(32768);
    assert_eq!(
        b.build_with(&[[0; 20]; 4], &[]),
        Err(CreateError::PieceCount {
            expected: 4,
            given: 0
        })
    );
    assert!(matches!(
        b.build_with(&[], &[[0; 32]; 4]),
        Err(CreateError::PieceCount { .. })
    ));
}
