//! Tests of v2 and hybrid metainfo: libtorrent's torrents (core/tests/data/v2) read as
//! libtorrent reads them, and hostile variants refused with the exact error.

use std::collections::BTreeMap;

use super::*;
use crate::bencode::OwnedValue;
use crate::id::InfoHashV2;
use crate::merkle;

const FX_V2: &[u8] = include_bytes!("../../tests/data/v2/fx_v2.torrent");
const FX_HYBRID: &[u8] = include_bytes!("../../tests/data/v2/fx_hybrid.torrent");
const SINGLE_V2: &[u8] = include_bytes!("../../tests/data/v2/single_v2.torrent");
const SINGLE_HYBRID: &[u8] = include_bytes!("../../tests/data/v2/single_hybrid.torrent");

fn paths(m: &Metainfo) -> Vec<(String, u64, bool)> {
    m.files()
        .iter()
        .map(|f| (f.path.to_string(), f.length, f.padding))
        .collect()
}

/// Replaces the one occurrence of `from` in `bytes` by `to` (same length).
fn patch(bytes: &[u8], from: &[u8], to: &[u8]) -> Vec<u8> {
    assert_eq!(from.len(), to.len());
    let hits: Vec<usize> = (0..=bytes.len() - from.len())
        .filter(|&i| &bytes[i..i + from.len()] == from)
        .collect();
    assert_eq!(hits.len(), 1, "{:?}", String::from_utf8_lossy(from));
    let mut out = bytes.to_vec();
    out[hits[0]..hits[0] + from.len()].copy_from_slice(to);
    out
}

#[test]
fn v2_only_multi_file_reads_as_libtorrent_does() {
    let m = Metainfo::from_bytes(FX_V2).unwrap();
    assert_eq!(m.version(), MetaVersion::V2);
    let v2 =
        InfoHashV2::from_hex("11e8a871c815eb2a4801fe1462d46af3bc49376dda33b1faf698b9ae678454ed")
            .unwrap();
    assert_eq!(m.info_hashes(), InfoHashes::v2(v2));
    assert_eq!(
        m.info_hash(),
        v2.truncated(),
        "the 20-byte id is the truncated v2 hash"
    );
    assert_eq!(InfoHashV2::of_info(m.info_bytes()), v2);
    assert!(m.piece_hashes().is_empty());
    assert!(!m.is_single_file());
    let pad = |n: u64| (format!("fx/.pad/{n}"), n, true);
    let file = |p: &str, n: u64| (format!("fx/{p}"), n, false);
    // Every file starts on a piece boundary: padding after each one that does not end on one.
    assert_eq!(
        paths(&m),
        vec![
            file("a_empty", 0),
            file("b_small", 100),
            pad(32668),
            file("c_block", 16384),
            pad(16384),
            file("d_piece", 32768),
            file("e_two", 40000),
            pad(25536),
            file("g_big", 300_000),
            pad(27680),
            file("sub/f_six", 163_841),
            pad(32767),
        ]
    );
    assert_eq!(m.total_length() % 32768, 0);
    assert_eq!(m.piece_count() as u64, m.total_length() / 32768);
    assert_eq!(m.pieces_root(0), None, "empty files have no root");
    assert_eq!(m.pieces_root(2), None, "padding has no root");
    for i in [1, 3, 5, 6, 8, 10] {
        assert!(m.pieces_root(i).is_some(), "file {i}");
    }
    // Layers for the files longer than one piece, each hashing up to its root.
    for (i, pieces) in [(6, 2usize), (8, 10), (10, 6)] {
        let layer = m.piece_layer(i).unwrap();
        assert_eq!(layer.len(), pieces);
        let root = merkle::root_from_piece_layer(layer, 32768, m.files()[i].length);
        assert_eq!(root.as_ref(), m.pieces_root(i));
    }
    assert_eq!(m.piece_layer(5), None, "one piece: no layer");
    assert!(m.has_all_piece_layers());
    assert!(m.warnings().is_empty());
    // Metadata exchange hands over the info dictionary alone: no piece layers yet.
    let bare = Metainfo::from_info_bytes(m.info_bytes()).unwrap();
    assert_eq!(bare.info_hashes(), m.info_hashes());
    assert_eq!(bare.files(), m.files());
    assert!(!bare.has_all_piece_layers());
}

#[test]
fn hybrid_halves_agree_and_roots_follow_the_v1_files() {
    let m = Metainfo::from_bytes(FX_HYBRID).unwrap();
    assert_eq!(m.version(), MetaVersion::Hybrid);
    let h = m.info_hashes();
    assert_eq!(
        h.v1.unwrap().to_hex(),
        "65ac00dd8391436d9c1135f3b26495bbb62b6b2f"
    );
    assert_eq!(
        h.v2.unwrap().to_hex(),
        "127910e271fd103cd54f987fc4bd811f8d6cc8542a35269a12ae77ab2992ec36"
    );
    assert_eq!(m.info_hash(), h.v1.unwrap(), "hybrids use the v1 hash");
    assert_eq!(m.piece_hashes().len(), m.piece_count() as usize);
    let v2 = Metainfo::from_bytes(FX_V2).unwrap();
    assert_eq!(m.files().len(), v2.files().len());
    for i in 0..m.files().len() {
        assert_eq!(m.files()[i].path, v2.files()[i].path);
        assert_eq!(m.pieces_root(i), v2.pieces_root(i), "file {i}");
        assert_eq!(m.piece_layer(i), v2.piece_layer(i), "file {i}");
    }
}

#[test]
fn single_file_v2_and_hybrid() {
    let m = Metainfo::from_bytes(SINGLE_V2).unwrap();
    assert!(m.is_single_file());
    assert_eq!(m.name(), "g_big");
    assert_eq!(
        paths(&m),
        vec![
            ("g_big".into(), 300_000, false),
            ("g_big/.pad/27680".into(), 27680, true)
        ]
    );
    assert_eq!(m.piece_layer(0).unwrap().len(), 5);
    // libtorrent's v1 half of a single-file hybrid has no tail padding: accepted.
    let h = Metainfo::from_bytes(SINGLE_HYBRID).unwrap();
    assert_eq!(h.version(), MetaVersion::Hybrid);
    assert_eq!(paths(&h), vec![("g_big".into(), 300_000, false)]);
    assert_eq!(h.pieces_root(0), m.pieces_root(0));
    assert_eq!(h.piece_layer(0), m.piece_layer(0));
}

#[test]
fn hybrids_whose_halves_disagree_are_refused() {
    let mismatch = |bytes: &[u8]| match Metainfo::from_bytes(bytes) {
        Err(MetainfoError::HybridMismatch(what)) => what,
        other => panic!("{other:?}"),
    };
    // Another name in v1 only.
    let what = mismatch(&patch(FX_HYBRID, b"l7:c_blocke", b"l7:c_blodke"));
    assert!(what.contains("file 3"), "{what}");
    // Another length in v1 only (same piece count).
    mismatch(&patch(
        FX_HYBRID,
        b"i40000e4:pathl5:e_two",
        b"i40001e4:pathl5:e_two",
    ));
}

#[test]
fn piece_layers_must_hash_up_to_their_roots() {
    // Flip one bit near the end of the file: inside the last piece layer.
    let mut bad = FX_V2.to_vec();
    let at = bad.len() - 10;
    bad[at] ^= 1;
    assert!(matches!(
        Metainfo::from_bytes(&bad),
        Err(MetainfoError::BadPieceLayer(_))
    ));
    // Without any piece layers the torrent loads (peers would supply them).
    let root = crate::bencode::decode(FX_V2).unwrap();
    let info = root.get(b"info").unwrap().raw();
    let bare = [b"d4:info".as_slice(), info, b"e"].concat();
    let m = Metainfo::from_bytes(&bare).unwrap();
    assert!(!m.has_all_piece_layers());
    assert_eq!(m.piece_layer(6), None);
}

fn s(v: &[u8]) -> OwnedValue {
    OwnedValue::bytes(v)
}
fn i(v: i64) -> OwnedValue {
    OwnedValue::Int(v)
}
fn d(pairs: Vec<(&str, OwnedValue)>) -> OwnedValue {
    OwnedValue::Dict(
        pairs
            .into_iter()
            .map(|(k, v)| (k.as_bytes().to_vec(), v))
            .collect::<BTreeMap<_, _>>(),
    )
}
fn leaf(props: Vec<(&str, OwnedValue)>) -> OwnedValue {
    d(vec![("", d(props))])
}

/// A v2 torrent of one file of `len` bytes with root `root`, and the given piece layers.
fn v2_torrent(tree: OwnedValue, piece_length: i64, layers: Option<OwnedValue>) -> Vec<u8> {
    let info = d(vec![
        ("file tree", tree),
        ("meta version", i(2)),
        ("name", s(b"t")),
        ("piece length", i(piece_length)),
    ]);
    let mut top = vec![("info", info)];
    if let Some(layers) = layers {
        top.push(("piece layers", layers));
    }
    d(top).to_bytes()
}

#[test]
fn hostile_v2_torrents_are_refused_with_typed_errors() {
    let data = vec![5u8; 100_000];
    let hashes = merkle::file_hashes(&data, 32768).unwrap();
    let root = hashes.root.unwrap();
    let layer: Vec<u8> = hashes.piece_layer.concat();
    let good_leaf = || leaf(vec![("length", i(100_000)), ("pieces root", s(&root))]);
    let good = v2_torrent(
        d(vec![("f", good_leaf())]),
        32768,
        Some(OwnedValue::Dict(
            [(root.to_vec(), s(&layer))].into_iter().collect(),
        )),
    );
    let m = Metainfo::from_bytes(&good).unwrap();
    assert_eq!(m.piece_layer(0), Some(&hashes.piece_layer[..]));

    let layers =
        |k: &[u8], v: OwnedValue| Some(OwnedValue::Dict([(k.to_vec(), v)].into_iter().collect()));
    let one = |tree: OwnedValue| v2_torrent(tree, 32768, None);
    let cases: Vec<(&str, Vec<u8>, MetainfoError)> = vec![
        (
            "piece length not a power of two",
            v2_torrent(d(vec![("f", good_leaf())]), 49152, None),
            MetainfoError::PieceLengthNotPowerOfTwo(49152),
        ),
        (
            "no pieces root",
            one(d(vec![("f", leaf(vec![("length", i(5))]))])),
            MetainfoError::MissingPiecesRoot,
        ),
        (
            "short pieces root",
            one(d(vec![(
                "f",
                leaf(vec![("length", i(5)), ("pieces root", s(&[1; 31]))]),
            )])),
            MetainfoError::MissingPiecesRoot,
        ),
        (
            "zero pieces root",
            one(d(vec![(
                "f",
                leaf(vec![("length", i(5)), ("pieces root", s(&[0; 32]))]),
            )])),
            MetainfoError::MissingPiecesRoot,
        ),
        (
            "negative length",
            one(d(vec![(
                "f",
                leaf(vec![("length", i(-5)), ("pieces root", s(&root))]),
            )])),
            MetainfoError::NegativeLength {
                field: "info.file tree".into(),
                value: -5,
            },
        ),
        (
            "padding file in the tree",
            one(d(vec![(
                "f",
                leaf(vec![("attr", s(b"p")), ("length", i(5))]),
            )])),
            MetainfoError::BadFileTree("a padding file in the file tree".into()),
        ),
        (
            "entry not a dictionary",
            one(d(vec![("f", i(1))])),
            MetainfoError::BadFileTree("an entry is not a dictionary, or has an empty name".into()),
        ),
        (
            "only empty files",
            one(d(vec![("f", leaf(vec![("length", i(0))]))])),
            MetainfoError::EmptyTorrent,
        ),
        (
            "layer of the wrong size",
            v2_torrent(
                d(vec![("f", good_leaf())]),
                32768,
                layers(&root, s(&layer[..64])),
            ),
            MetainfoError::BadPieceLayer(format!(
                "{}: 2 hashes that do not hash up to the root of a file of 100000 bytes",
                crate::id::to_hex(&root)
            )),
        ),
        (
            "layer for an unknown root",
            v2_torrent(
                d(vec![("f", good_leaf())]),
                32768,
                layers(&[3; 32], s(&layer)),
            ),
            MetainfoError::BadPieceLayer(format!(
                "{}: no file longer than one piece has this root",
                crate::id::to_hex(&[3; 32])
            )),
        ),
        (
            "layer for a one-piece file",
            v2_torrent(
                d(vec![("f", good_leaf())]),
                1 << 17,
                layers(&root, s(&layer)),
            ),
            MetainfoError::BadPieceLayer(format!(
                "{}: no file longer than one piece has this root",
                crate::id::to_hex(&root)
            )),
        ),
        (
            "layer not a string of hashes",
            v2_torrent(
                d(vec![("f", good_leaf())]),
                32768,
                layers(&root, s(&layer[..33])),
            ),
            MetainfoError::BadPieceLayer(format!(
                "{}: not a string of 32-byte hashes",
                crate::id::to_hex(&root)
            )),
        ),
        (
            "layer key not 32 bytes",
            v2_torrent(
                d(vec![("f", good_leaf())]),
                32768,
                layers(b"short", s(&layer)),
            ),
            MetainfoError::BadPieceLayer("a key is not a 32-byte pieces root".into()),
        ),
        (
            "piece layers not a dictionary",
            v2_torrent(d(vec![("f", good_leaf())]), 32768, Some(i(1))),
            MetainfoError::BadPieceLayer("not a dictionary".into()),
        ),
    ];
    for (name, bytes, want) in cases {
        let got = Metainfo::from_bytes(&bytes);
        assert_eq!(
            got.as_ref().err(),
            Some(&want),
            "case {name:?}: got {got:?}"
        );
        assert!(!want.to_string().contains('\n'));
    }
    // `..` is dropped as libtorrent drops it: the file stays inside the torrent.
    let m = Metainfo::from_bytes(&one(d(vec![("..", d(vec![("f", good_leaf())]))]))).unwrap();
    assert_eq!(m.files()[0].path.to_string(), "t/f");
    assert!(!m.warnings().is_empty());
    // Deep nesting is refused (by the decoder's depth limit or the tree's), never a crash.
    let mut tree = d(vec![("f", good_leaf())]);
    for _ in 0..200 {
        tree = d(vec![("d", tree)]);
    }
    assert!(Metainfo::from_bytes(&one(tree)).is_err());
}
