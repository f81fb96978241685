//! Tests of [`Metainfo`] parsing: valid torrents of every shape, and a table of hostile ones,
//! each with the exact error it must give.

use std::collections::BTreeMap;

use super::*;
use crate::bencode::{DecodeError, DecodeErrorKind, OwnedValue};
use crate::id::sha1_digest;

fn s(v: &str) -> OwnedValue {
    OwnedValue::bytes(v.as_bytes())
}
fn b(v: &[u8]) -> OwnedValue {
    OwnedValue::bytes(v)
}
fn i(v: i64) -> OwnedValue {
    OwnedValue::Int(v)
}
fn l(v: Vec<OwnedValue>) -> OwnedValue {
    OwnedValue::List(v)
}
fn d(pairs: Vec<(&str, OwnedValue)>) -> OwnedValue {
    OwnedValue::Dict(
        pairs
            .into_iter()
            .map(|(k, v)| (k.as_bytes().to_vec(), v))
            .collect::<BTreeMap<_, _>>(),
    )
}
fn path(parts: &[&str]) -> OwnedValue {
    l(parts.iter().map(|p| s(p)).collect())
}
fn file(len: i64, parts: &[&str]) -> OwnedValue {
    d(vec![("length", i(len)), ("path", path(parts))])
}

const PL: i64 = 16384;

/// A single-file info dict of `len` bytes with the right number of (fake) piece hashes.
fn single_info(len: i64) -> OwnedValue {
    let pieces = (len as u64).div_ceil(PL as u64) as usize;
    d(vec![
        ("length", i(len)),
        ("name", s("file.bin")),
        ("piece length", i(PL)),
        ("pieces", b(&vec![7u8; pieces * 20])),
    ])
}

fn multi_info(files: Vec<OwnedValue>, total: u64) -> OwnedValue {
    let pieces = total.div_ceil(PL as u64) as usize;
    d(vec![
        ("files", l(files)),
        ("name", s("dir")),
        ("piece length", i(PL)),
        ("pieces", b(&vec![9u8; pieces * 20])),
    ])
}

fn torrent(info: OwnedValue) -> Vec<u8> {
    d(vec![("announce", s("http://t/a")), ("info", info)]).to_bytes()
}

/// `info` with `key` set to `value` (or removed if `None`).
fn with(info: &OwnedValue, key: &str, value: Option<OwnedValue>) -> OwnedValue {
    let OwnedValue::Dict(mut map) = info.clone() else {
        panic!("not a dict")
    };
    match value {
        Some(v) => map.insert(key.as_bytes().to_vec(), v),
        None => map.remove(key.as_bytes()),
    };
    OwnedValue::Dict(map)
}

#[test]
fn single_file_torrent() {
    let info = single_info(40_000);
    let bytes = d(vec![
        ("announce", s("http://tracker/announce")),
        ("comment", s("hello")),
        ("created by", s("test")),
        ("creation date", i(1_700_000_000)),
        ("info", info.clone()),
        ("url-list", s("http://web/seed")),
    ])
    .to_bytes();
    let m = Metainfo::from_bytes(&bytes).unwrap();
    let info_bytes = info.to_bytes();
    assert_eq!(m.info_bytes(), &info_bytes[..]);
    assert_eq!(m.info_hash().0, sha1_digest(&info_bytes));
    assert_eq!(m.name(), "file.bin");
    assert!(m.is_single_file());
    assert_eq!(m.piece_length(), 16384);
    assert_eq!(m.piece_count(), 3);
    assert_eq!(m.piece_hash(2), Some(&[7u8; 20]));
    assert_eq!(m.piece_hash(3), None);
    assert_eq!(m.total_length(), 40_000);
    assert_eq!(m.files().len(), 1);
    assert_eq!(m.files()[0].path.to_string(), "file.bin");
    assert_eq!(m.files()[0].length, 40_000);
    assert_eq!(m.trackers(), &[vec!["http://tracker/announce".to_string()]]);
    assert_eq!(m.url_list(), &["http://web/seed".to_string()]);
    assert_eq!(m.comment(), Some("hello"));
    assert_eq!(m.created_by(), Some("test"));
    assert_eq!(m.creation_date(), Some(1_700_000_000));
    assert!(!m.is_private());
    assert_eq!(m.version(), MetaVersion::V1);
    assert!(m.warnings().is_empty());
    assert_eq!(m.layout().piece_len(2), 40_000 - 2 * 16384);
}

#[test]
fn multi_file_torrent_with_padding_zero_length_and_nested_paths() {
    let files = vec![
        file(20_000, &["a.bin"]),
        d(vec![
            ("attr", s("p")),
            ("length", i(12_768)),
            ("path", path(&[".pad", "12768"])),
        ]),
        file(0, &["sub", "deeper", "empty.bin"]),
        file(5, &["sub", "b.txt"]),
    ];
    let info = with(&multi_info(files, 32_773), "private", Some(i(1)));
    let m = Metainfo::from_bytes(&torrent(info)).unwrap();
    let got: Vec<(String, u64, bool)> = m
        .files()
        .iter()
        .map(|f| (f.path.to_string(), f.length, f.padding))
        .collect();
    assert_eq!(
        got,
        [
            ("dir/a.bin".to_string(), 20_000, false),
            ("dir/.pad/12768".to_string(), 12_768, true),
            ("dir/sub/deeper/empty.bin".to_string(), 0, false),
            ("dir/sub/b.txt".to_string(), 5, false),
        ]
    );
    assert!(!m.is_single_file());
    assert!(m.is_private());
    assert_eq!(m.piece_count(), 3);
    assert_eq!(m.layout().file_pieces(3), 2..3);
    assert!(m.warnings().is_empty());
}

#[test]
fn non_power_of_two_piece_length_is_accepted() {
    let info = d(vec![
        ("length", i(100_000)),
        ("name", s("x")),
        ("piece length", i(3 * PL)),
        ("pieces", b(&[1u8; 60])),
    ]);
    let m = Metainfo::from_bytes(&torrent(info)).unwrap();
    assert_eq!(m.piece_length(), 49_152);
    assert_eq!(m.piece_count(), 3);
}

#[test]
fn utf8_variants_are_preferred() {
    let files = vec![d(vec![
        ("length", i(10)),
        ("path", l(vec![b(b"caf\xe9.txt")])),
        ("path.utf-8", path(&["café.txt"])),
    ])];
    let info = with(&multi_info(files, 10), "name.utf-8", Some(s("répertoire")));
    let m = Metainfo::from_bytes(&torrent(info)).unwrap();
    assert_eq!(m.name(), "répertoire");
    assert_eq!(m.files()[0].path.to_string(), "répertoire/café.txt");
    assert!(m.warnings().is_empty());
}

#[test]
fn tracker_tiers_follow_bep12() {
    let bytes = d(vec![
        ("announce", s("http://ignored/a")),
        (
            "announce-list",
            l(vec![
                l(vec![s("http://a/1"), s("udp://b/2"), i(5), s("")]),
                l(vec![]),
                l(vec![s("http://a/1"), s("http://c/3")]),
                s("http://flat/4"),
            ]),
        ),
        ("info", single_info(10)),
        ("url-list", l(vec![s("http://w/1"), s("http://w/2")])),
    ])
    .to_bytes();
    let m = Metainfo::from_bytes(&bytes).unwrap();
    assert_eq!(
        m.trackers(),
        &[
            vec!["http://a/1".to_string(), "udp://b/2".to_string()],
            vec!["http://c/3".to_string()],
            vec!["http://flat/4".to_string()],
        ]
    );
    assert_eq!(m.url_list().len(), 2);
    // An announce-list with nothing usable falls back to announce.
    let bytes = d(vec![
        ("announce", s("http://only/a")),
        ("announce-list", l(vec![l(vec![])])),
        ("info", single_info(10)),
    ])
    .to_bytes();
    let m = Metainfo::from_bytes(&bytes).unwrap();
    assert_eq!(m.trackers(), &[vec!["http://only/a".to_string()]]);
}

#[test]
fn http_seeds_keep_distinct_http_urls_up_to_the_bound() {
    let mut list = vec![
        s("http://h/seed.php"),
        s(" https://h2/s?x=1 "),
        s("udp://h/x"),
        s("not a url"),
        i(5),
        l(vec![s("http://nested/")]),
        s("http://h/seed.php"),
    ];
    list.extend((0..100).map(|k| s(&format!("http://many/{k}"))));
    let bytes = d(vec![("httpseeds", l(list)), ("info", single_info(10))]).to_bytes();
    let m = Metainfo::from_bytes(&bytes).unwrap();
    let seeds = m.http_seeds();
    assert_eq!(seeds.len(), MAX_HTTP_SEEDS);
    assert_eq!(
        seeds[..3],
        ["http://h/seed.php", "https://h2/s?x=1", "http://many/0"]
    );
    // Not a list: nothing (BEP 17 has no single-string form).
    let bytes = d(vec![
        ("httpseeds", s("http://h/")),
        ("info", single_info(10)),
    ])
    .to_bytes();
    assert!(
        Metainfo::from_bytes(&bytes)
            .unwrap()
            .http_seeds()
            .is_empty()
    );
}

#[test]
fn info_hash_is_over_the_raw_bytes_not_a_reencoding() {
    // Unsorted keys inside info: a re-encoding would sort them and change the hash.
    let info: &[u8] =
        b"d4:name1:x12:piece lengthi16384e6:lengthi3e6:pieces20:aaaaaaaaaaaaaaaaaaaae";
    let bytes = [&b"d4:info"[..], info, b"e"].concat();
    let m = Metainfo::from_bytes(&bytes).unwrap();
    assert_eq!(m.info_hash().0, sha1_digest(info));
    let reencoded = OwnedValue::from(&crate::bencode::decode(info).unwrap()).to_bytes();
    assert_ne!(m.info_hash().0, sha1_digest(&reencoded));
}

#[test]
fn from_info_bytes_matches_the_whole_torrent() {
    let info = single_info(50_000);
    let whole = Metainfo::from_bytes(&torrent(info.clone())).unwrap();
    let bare = Metainfo::from_info_bytes(&info.to_bytes()).unwrap();
    assert_eq!(bare.info_hash(), whole.info_hash());
    assert_eq!(bare.files(), whole.files());
    assert_eq!(bare.piece_hashes(), whole.piece_hashes());
    assert!(bare.trackers().is_empty());
}

#[test]
fn hybrid_torrents_download_as_v1() {
    let info = with(&single_info(10), "meta version", Some(i(2)));
    let leaf = d(vec![("length", i(10)), ("pieces root", b(&[1; 32]))]);
    let tree = d(vec![("file.bin", d(vec![("", leaf)]))]);
    let hybrid = with(&info, "file tree", Some(tree));
    let bytes = d(vec![("info", hybrid), ("piece layers", d(vec![]))]).to_bytes();
    let m = Metainfo::from_bytes(&bytes).unwrap();
    assert_eq!(m.version(), MetaVersion::Hybrid);
    assert_eq!(m.piece_count(), 1);
    assert_eq!(m.piece_hashes().len(), 1);
    // A v2 half naming no files does not describe the v1 half's file.
    let empty_tree = with(&info, "file tree", Some(d(vec![])));
    assert_eq!(
        Metainfo::from_bytes(&torrent(empty_tree)),
        Err(MetainfoError::NoFiles)
    );
}

/// What libtorrent 2.0 loads, loads here under the names libtorrent gives (tests/tests/
/// metainfo_interop.rs checks the same names against libtorrent itself). These torrents were
/// refused before; loading them sanitized is what issue 27 asks for.
#[test]
fn hostile_names_load_under_libtorrents_names() {
    let files = vec![
        file(1, &["..", "..", "etc", "passwd"]),
        file(1, &["/abs", "x"]),
        file(1, &["a", "", "b"]),
        file(1, &["a\\b"]),
        file(1, &["c/d"]),
        file(1, &[".", "e"]),
        file(1, &["..."]),
        file(1, &[".."]),
        file(1, &["ok", "../../x"]),
        file(1, &["C:", "x"]),
        file(1, &["", "."]),
    ];
    let m = Metainfo::from_bytes(&torrent(multi_info(files, 11))).unwrap();
    let paths: Vec<String> = m.files().iter().map(|f| f.path.to_string()).collect();
    assert_eq!(
        paths,
        [
            "dir/etc/passwd",
            "dir/abs/x",
            "dir/a/_/b",
            "dir/ab",
            "dir/cd",
            "dir/e",
            "dir/...",
            "dir/_",
            "dir/ok/....x",
            "dir/C:/x",
            "dir/_.1",
        ]
    );
    let w: Vec<String> = m.warnings().iter().map(ToString::to_string).collect();
    assert!(
        w.contains(&"info.files[0].path: component \"..\" dropped".to_owned()),
        "{w:?}"
    );
    assert!(
        w.contains(
            &"info.files[1].path: \"/abs\" became \"abs\" (separators or direction marks removed)"
                .to_owned()
        ),
        "{w:?}"
    );
    assert!(
        w.contains(&"file 10: path \"dir/_\" is already taken, renamed to \"dir/_.1\"".to_owned()),
        "{w:?}"
    );
}

#[test]
fn hostile_names_of_the_torrent_itself() {
    let single =
        |name: &str| Metainfo::from_bytes(&torrent(with(&single_info(5), "name", Some(s(name)))));
    assert_eq!(
        single("/etc/passwd").unwrap().files()[0].path.to_string(),
        "etcpasswd"
    );
    assert_eq!(single("../../.bashrc").unwrap().name(), ".....bashrc");
    let multi = |name: &str| {
        let info = with(&multi_info(vec![file(1, &["x"])], 1), "name", Some(s(name)));
        Metainfo::from_bytes(&torrent(info)).unwrap()
    };
    assert_eq!(multi("/abs/n").name(), "absn");
    assert_eq!(multi("").name(), "_");
    // A multi-file torrent whose name sanitizes to nothing is named after its info-hash.
    let m = multi("..");
    assert_eq!(m.name(), m.info_hash().to_hex());
    assert_eq!(
        m.files()[0].path.to_string(),
        format!("{}/x", m.info_hash().to_hex())
    );
    assert!(matches!(
        m.warnings()[..],
        [_, Warning::NameFromInfoHash(_)]
    ));
}

#[test]
fn padding_files_need_no_path() {
    let files = vec![
        file(5, &["x"]),
        d(vec![("attr", s("p")), ("length", i(16379))]),
        file(5, &["y"]),
        file(3, &["_____padding_file_0_"]),
    ];
    let m = Metainfo::from_bytes(&torrent(multi_info(files, 16392))).unwrap();
    let got: Vec<(String, bool)> = m
        .files()
        .iter()
        .map(|f| (f.path.to_string(), f.padding))
        .collect();
    assert_eq!(
        got,
        [
            ("dir/x".to_owned(), false),
            (".pad/16379".to_owned(), true),
            ("dir/y".to_owned(), false),
            // BitComet's padding files are padding too, as libtorrent reads them.
            ("dir/_____padding_file_0_".to_owned(), true),
        ]
    );
}

#[test]
fn symlinks_need_no_length_and_point_only_inside() {
    let link = |name: &str, target: Option<&[&str]>| {
        let mut e = vec![("attr", s("l")), ("path", path(&[name]))];
        if let Some(t) = target {
            e.push(("symlink path", path(t)));
        }
        d(e)
    };
    let files = vec![
        file(5, &["x"]),
        link("lnk", Some(&["x"])),
        link("bad", Some(&["..", "..", "etc"])),
        link("nolink", None),
        // A stated length is ignored: a link holds no data.
        d(vec![
            ("attr", s("l")),
            ("length", i(999)),
            ("path", path(&["sized"])),
            ("symlink path", path(&["x"])),
        ]),
        file(5, &["y"]),
    ];
    let m = Metainfo::from_bytes(&torrent(multi_info(files, 10))).unwrap();
    let got: Vec<(String, u64, Option<String>)> = m
        .files()
        .iter()
        .map(|f| {
            (
                f.path.to_string(),
                f.length,
                f.symlink.as_ref().map(ToString::to_string),
            )
        })
        .collect();
    let x = Some("dir/x".to_owned());
    assert_eq!(
        got,
        [
            ("dir/x".to_owned(), 5, None),
            ("dir/lnk".to_owned(), 0, x.clone()),
            ("dir/bad".to_owned(), 0, None),
            ("dir/nolink".to_owned(), 0, None),
            ("dir/sized".to_owned(), 0, x),
            ("dir/y".to_owned(), 5, None),
        ]
    );
    assert!(m.warnings().contains(&Warning::SymlinkOutside {
        file: 2,
        target: "etc".into()
    }));
    assert_eq!(m.total_length(), 10);
}

#[test]
fn bytes_after_the_torrent_are_ignored() {
    let good = torrent(single_info(40_000));
    let m = Metainfo::from_bytes(&[good.clone(), b"garbage".to_vec()].concat()).unwrap();
    assert_eq!(
        m,
        Metainfo {
            warnings: vec![Warning::TrailingBytes(7)],
            ..Metainfo::from_bytes(&good).unwrap()
        }
    );
}

#[test]
fn colliding_paths_are_renamed() {
    let files = vec![
        file(1, &["same"]),
        file(1, &["same"]),
        file(1, &["d"]),
        file(1, &["d", "inner"]),
        d(vec![
            ("attr", s("p")),
            ("length", i(1)),
            ("path", path(&[".pad", "1"])),
        ]),
        d(vec![
            ("attr", s("p")),
            ("length", i(1)),
            ("path", path(&[".pad", "1"])),
        ]),
    ];
    let m = Metainfo::from_bytes(&torrent(multi_info(files, 6))).unwrap();
    let paths: Vec<String> = m.files().iter().map(|f| f.path.to_string()).collect();
    assert_eq!(
        paths,
        [
            "dir/same",
            "dir/same.1",
            "dir/d.1",
            "dir/d/inner",
            "dir/.pad/1",
            "dir/.pad/1"
        ]
    );
    assert_eq!(m.warnings().len(), 2);
}

fn bencode_err(offset: usize, kind: DecodeErrorKind) -> MetainfoError {
    MetainfoError::Bencode(DecodeError { offset, kind })
}

fn wrong(field: &str, expected: &'static str, found: &'static str) -> MetainfoError {
    MetainfoError::WrongType {
        field: field.into(),
        expected,
        found,
    }
}

fn unsafe_path(field: &str, error: PathError) -> MetainfoError {
    MetainfoError::UnsafePath {
        field: field.into(),
        error,
    }
}

/// At least 30 hostile .torrent files, each with the exact error it must produce.
#[test]
fn hostile_torrents_give_exact_errors() {
    let good = single_info(40_000);
    let multi = |files: Vec<OwnedValue>| torrent(multi_info(files, 1));
    let deep = [&b"d4:info"[..], &[b'l'; 100], &[b'e'; 100], b"e"].concat();
    let cases: Vec<(&str, Vec<u8>, MetainfoError)> = vec![
        (
            "empty input",
            vec![],
            bencode_err(0, DecodeErrorKind::UnexpectedEof),
        ),
        (
            "not bencode",
            b"<html>".to_vec(),
            bencode_err(0, DecodeErrorKind::UnexpectedByte(b'<')),
        ),
        (
            "top level list",
            b"le".to_vec(),
            MetainfoError::NotADictionary,
        ),
        (
            "top level integer",
            b"i42e".to_vec(),
            MetainfoError::NotADictionary,
        ),
        (
            "truncated inside info",
            b"d4:infod4:name3:abc".to_vec(),
            bencode_err(19, DecodeErrorKind::UnexpectedEof),
        ),
        (
            "truncated string",
            b"d4:info5:ab".to_vec(),
            bencode_err(
                7,
                DecodeErrorKind::StringPastEnd {
                    length: 5,
                    remaining: 2,
                },
            ),
        ),
        (
            "string length claims 2^60 bytes",
            b"d4:info1152921504606846976:xe".to_vec(),
            bencode_err(
                7,
                DecodeErrorKind::StringPastEnd {
                    length: 1 << 60,
                    remaining: 2,
                },
            ),
        ),
        (
            "nesting 100 deep",
            deep,
            bencode_err(70, DecodeErrorKind::DepthExceeded(64)),
        ),
        (
            "integer overflow",
            b"d4:infod6:lengthi99999999999999999999eee".to_vec(),
            bencode_err(16, DecodeErrorKind::IntegerOverflow),
        ),
        (
            "no info",
            d(vec![("announce", s("x"))]).to_bytes(),
            MetainfoError::Missing("info".into()),
        ),
        (
            "info is a string",
            torrent(s("info")),
            wrong("info", "dictionary", "byte string"),
        ),
        (
            "missing name",
            torrent(with(&good, "name", None)),
            MetainfoError::Missing("info.name".into()),
        ),
        (
            "name is an integer",
            torrent(with(&good, "name", Some(i(1)))),
            wrong("info.name", "byte string", "integer"),
        ),
        (
            "empty name",
            torrent(with(&good, "name", Some(s("")))),
            unsafe_path("info.name", PathError::Empty),
        ),
        (
            "name is ..",
            torrent(with(&good, "name", Some(s("..")))),
            unsafe_path("info.name", PathError::DotComponent("..".into())),
        ),
        (
            "missing piece length",
            torrent(with(&good, "piece length", None)),
            MetainfoError::Missing("info.piece length".into()),
        ),
        (
            "piece length is a string",
            torrent(with(&good, "piece length", Some(s("16384")))),
            wrong("info.piece length", "integer", "byte string"),
        ),
        (
            "zero piece length",
            torrent(with(&good, "piece length", Some(i(0)))),
            MetainfoError::BadPieceLength(0),
        ),
        (
            "negative piece length",
            torrent(with(&good, "piece length", Some(i(-16384)))),
            MetainfoError::BadPieceLength(-16384),
        ),
        (
            "piece length not a 16 KiB multiple",
            torrent(with(&good, "piece length", Some(i(1000)))),
            MetainfoError::BadPieceLength(1000),
        ),
        (
            "piece length 1 TiB",
            torrent(with(&good, "piece length", Some(i(1 << 40)))),
            MetainfoError::PieceLengthTooLarge(1 << 40),
        ),
        (
            "missing pieces",
            torrent(with(&good, "pieces", None)),
            MetainfoError::Missing("info.pieces".into()),
        ),
        (
            "pieces is a list",
            torrent(with(&good, "pieces", Some(l(vec![])))),
            wrong("info.pieces", "byte string", "list"),
        ),
        (
            "pieces 59 bytes",
            torrent(with(&good, "pieces", Some(b(&[0; 59])))),
            MetainfoError::PiecesNotMultipleOf20(59),
        ),
        (
            "too few pieces",
            torrent(with(&good, "pieces", Some(b(&[0; 40])))),
            MetainfoError::PieceCountMismatch {
                expected: 3,
                found: 2,
            },
        ),
        (
            "too many pieces",
            torrent(with(&good, "pieces", Some(b(&[0; 80])))),
            MetainfoError::PieceCountMismatch {
                expected: 3,
                found: 4,
            },
        ),
        (
            "huge length, few hashes",
            torrent(with(&good, "length", Some(i(1 << 40)))),
            MetainfoError::PieceCountMismatch {
                expected: 1 << 26,
                found: 3,
            },
        ),
        (
            "length past u32 pieces",
            torrent(with(&good, "length", Some(i(i64::MAX)))),
            MetainfoError::TooManyPieces,
        ),
        (
            "negative length",
            torrent(with(&good, "length", Some(i(-1)))),
            MetainfoError::NegativeLength {
                field: "info.length".into(),
                value: -1,
            },
        ),
        (
            "length is a string",
            torrent(with(&good, "length", Some(s("1")))),
            wrong("info.length", "integer", "byte string"),
        ),
        (
            "length and files",
            torrent(with(&good, "files", Some(l(vec![file(1, &["a"])])))),
            MetainfoError::LengthAndFiles,
        ),
        (
            "neither length nor files",
            torrent(with(&good, "length", None)),
            MetainfoError::Missing("info.length or info.files".into()),
        ),
        (
            "files is a dict",
            torrent(with(&with(&good, "length", None), "files", Some(d(vec![])))),
            wrong("info.files", "list", "dictionary"),
        ),
        ("empty files", multi(vec![]), MetainfoError::NoFiles),
        (
            "file not a dict",
            multi(vec![i(1)]),
            wrong("info.files[0]", "dictionary", "integer"),
        ),
        (
            "file without length",
            multi(vec![d(vec![("path", path(&["a"]))])]),
            MetainfoError::Missing("info.files[0].length".into()),
        ),
        (
            "file with negative length",
            multi(vec![file(1, &["a"]), file(-5, &["b"])]),
            MetainfoError::NegativeLength {
                field: "info.files[1].length".into(),
                value: -5,
            },
        ),
        (
            "file without path",
            multi(vec![d(vec![("length", i(1))])]),
            MetainfoError::Missing("info.files[0].path".into()),
        ),
        (
            "path is a string",
            multi(vec![d(vec![("length", i(1)), ("path", s("a/b"))])]),
            wrong("info.files[0].path", "list", "byte string"),
        ),
        (
            "path component is an integer",
            multi(vec![d(vec![("length", i(1)), ("path", l(vec![i(1)]))])]),
            wrong("info.files[0].path[0]", "byte string", "integer"),
        ),
        (
            "empty path",
            multi(vec![file(1, &[])]),
            unsafe_path("info.files[0].path", PathError::Empty),
        ),
        (
            "overflow of total length",
            torrent(multi_info(
                vec![
                    file(i64::MAX / 2 + 1, &["a"]),
                    file(i64::MAX / 2 + 1, &["b"]),
                ],
                0,
            )),
            MetainfoError::TotalLengthOverflow,
        ),
        (
            "private is a string",
            torrent(with(&good, "private", Some(s("1")))),
            wrong("info.private", "integer", "byte string"),
        ),
        (
            "v2 with an empty file tree",
            torrent(d(vec![
                ("file tree", d(vec![])),
                ("meta version", i(2)),
                ("name", s("x")),
                ("piece length", i(PL)),
            ])),
            MetainfoError::NoFiles,
        ),
        (
            "v2 file tree without meta version",
            torrent(d(vec![
                ("file tree", d(vec![])),
                ("name", s("x")),
                ("piece length", i(PL)),
            ])),
            MetainfoError::FileTreeWithoutMetaVersion,
        ),
        (
            "meta version 3",
            torrent(with(&good, "meta version", Some(i(3)))),
            MetainfoError::UnsupportedMetaVersion(3),
        ),
    ];
    assert!(cases.len() >= 30);
    for (name, bytes, want) in cases {
        let got = Metainfo::from_bytes(&bytes);
        assert_eq!(
            got.as_ref().err(),
            Some(&want),
            "case {name:?}: got {got:?}"
        );
        // Every message names what is wrong, on one line.
        let msg = want.to_string();
        assert!(!msg.is_empty() && !msg.contains('\n'), "{name}: {msg}");
    }
}

#[test]
fn error_messages_name_the_field() {
    let e = MetainfoError::PieceCountMismatch {
        expected: 3,
        found: 2,
    };
    assert_eq!(
        e.to_string(),
        "info.pieces: holds 2 hashes, but the total length implies 3 pieces"
    );
    assert_eq!(
        unsafe_path("info.files[0].path", PathError::DotComponent("..".into())).to_string(),
        "info.files[0].path: file path component \"..\" is not allowed"
    );
    assert_eq!(
        wrong("info.name", "byte string", "integer").to_string(),
        "info.name: expected a byte string, found an integer"
    );
    assert_eq!(
        MetainfoError::Missing("info.pieces".into()).to_string(),
        "info.pieces: missing"
    );
    assert_eq!(
        MetainfoError::MissingPiecesRoot.to_string(),
        "info.file tree: a non-empty file has no valid 32-byte `pieces root`"
    );
}
