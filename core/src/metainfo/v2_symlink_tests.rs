//! BEP 47 symbolic links in a v2 `file tree` and in hybrids: read as in v1 (no length needed,
//! a target only inside the torrent), and a hybrid whose halves link differently refused.

use std::collections::BTreeMap;

use super::*;
use crate::bencode::OwnedValue;
use crate::id::sha1_digest;
use crate::merkle;

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
fn list(elements: &[&str]) -> OwnedValue {
    OwnedValue::List(elements.iter().map(|e| s(e.as_bytes())).collect())
}
fn leaf(props: Vec<(&str, OwnedValue)>) -> OwnedValue {
    d(vec![("", d(props))])
}
/// A link leaf: `attr` `l`, its `symlink path` if given, and no length.
fn link(target: Option<&[&str]>) -> OwnedValue {
    let mut props = vec![("attr", s(b"l"))];
    if let Some(t) = target {
        props.push(("symlink path", list(t)));
    }
    leaf(props)
}

const PIECE: usize = 16384;
const DATA: &[u8] = &[7u8; 100];

fn data_leaf() -> OwnedValue {
    let root = merkle::file_hashes(DATA, PIECE as u32)
        .unwrap()
        .root
        .unwrap();
    leaf(vec![
        ("length", i(DATA.len() as i64)),
        ("pieces root", s(&root)),
    ])
}

fn files_of(m: &Metainfo) -> Vec<(String, u64, Option<String>)> {
    m.files()
        .iter()
        .filter(|f| !f.padding)
        .map(|f| {
            (
                f.path.to_string(),
                f.length,
                f.symlink.as_ref().map(ToString::to_string),
            )
        })
        .collect()
}

#[test]
fn v2_links_need_no_length_and_point_only_inside_the_torrent() {
    let tree = d(vec![
        ("d", d(vec![("x", data_leaf())])),
        ("l", link(Some(&["d", "x"]))),
        ("m", link(Some(&["d"]))),
        ("nolink", link(None)),
        ("up", link(Some(&["..", "..", "etc", "passwd"]))),
        ("abs", link(Some(&["/etc", "passwd"]))),
    ]);
    let info = d(vec![
        ("file tree", tree),
        ("meta version", i(2)),
        ("name", s(b"t")),
        ("piece length", i(PIECE as i64)),
    ]);
    let m = Metainfo::from_bytes(&d(vec![("info", info)]).to_bytes()).unwrap();
    assert_eq!(m.version(), MetaVersion::V2);
    let some = |t: &str| Some(t.to_owned());
    assert_eq!(
        files_of(&m),
        [
            ("t/abs".to_owned(), 0, None),
            ("t/d/x".to_owned(), 100, None),
            ("t/l".to_owned(), 0, some("t/d/x")),
            ("t/m".to_owned(), 0, some("t/d")),
            ("t/nolink".to_owned(), 0, None),
            ("t/up".to_owned(), 0, None),
        ]
    );
    let outside: Vec<&str> = m
        .warnings()
        .iter()
        .filter_map(|w| match w {
            Warning::SymlinkOutside { target, .. } => Some(target.as_str()),
            _ => None,
        })
        .collect();
    assert_eq!(outside, ["etc/passwd", "etc/passwd"]);
    assert_eq!(m.total_length(), PIECE as u64, "links take no room");
    assert!(m.files()[2].padding, "the file's padding");
    assert_eq!(m.pieces_root(3), None, "a link has no root");
    assert_eq!(
        m.symlinks()
            .iter()
            .map(|(i, t)| (*i, t.to_string()))
            .collect::<Vec<_>>(),
        [(3, "t/d/x".to_owned()), (4, "t/d".to_owned())]
    );
}

/// A hybrid of one 100-byte file `x` and a link `l`, the v1 link's target `v1_target` and the
/// v2 link's `v2_target`.
fn hybrid(v1_target: Option<&[&str]>, v2_target: Option<&[&str]>) -> Vec<u8> {
    let mut v1_link = vec![("attr", s(b"l")), ("length", i(0)), ("path", list(&["l"]))];
    if let Some(t) = v1_target {
        v1_link.push(("symlink path", list(t)));
    }
    let pad = PIECE - DATA.len();
    let files = OwnedValue::List(vec![
        d(v1_link),
        d(vec![
            ("length", i(DATA.len() as i64)),
            ("path", list(&["x"])),
        ]),
        d(vec![
            ("attr", s(b"p")),
            ("length", i(pad as i64)),
            ("path", list(&[".pad", &pad.to_string()])),
        ]),
    ]);
    let mut piece = DATA.to_vec();
    piece.resize(PIECE, 0);
    let info = d(vec![
        (
            "file tree",
            d(vec![("l", link(v2_target)), ("x", data_leaf())]),
        ),
        ("files", files),
        ("meta version", i(2)),
        ("name", s(b"t")),
        ("piece length", i(PIECE as i64)),
        ("pieces", s(&sha1_digest(&piece))),
    ]);
    d(vec![("info", info)]).to_bytes()
}

#[test]
fn a_hybrids_halves_must_link_alike() {
    let m = Metainfo::from_bytes(&hybrid(Some(&["x"]), Some(&["x"]))).unwrap();
    assert_eq!(m.version(), MetaVersion::Hybrid);
    assert_eq!(
        files_of(&m),
        [
            ("t/l".to_owned(), 0, Some("t/x".to_owned())),
            ("t/x".to_owned(), 100, None)
        ]
    );
    for (v1, v2) in [
        (Some(&["x"][..]), None),
        (None, Some(&["x"][..])),
        (Some(&["x"][..]), Some(&["l"][..])),
    ] {
        match Metainfo::from_bytes(&hybrid(v1, v2)) {
            Err(MetainfoError::HybridMismatch(what)) => assert!(what.contains("file 0"), "{what}"),
            other => panic!("{v1:?} / {v2:?}: {other:?}"),
        }
    }
    // Links to nowhere in both halves are plain empty files in both: nothing disagrees.
    let m = Metainfo::from_bytes(&hybrid(Some(&["..", "etc"]), Some(&["etc"]))).unwrap();
    assert_eq!(m.files()[0].symlink, None);
}
