//! Torrents made by other software parse to exactly what libtorrent reports: the Debian
//! `mktorrent` tool (single and multi-file, private, several trackers) and libtorrent itself via
//! `mktorrent.py` (v1, hybrid with BEP 47 padding files, and v2-only, whose padding is implied),
//! and hand-made torrents with hostile names, which load under libtorrent's names. Everything
//! runs on temp dirs, each tool call bounded.

use std::process::Command;

use sanstorrent_core::metainfo::{MetaVersion, Metainfo};
use sanstorrent_tests::interop::{WorkDir, mktorrent, python, require_tool};

/// libtorrent's view of a torrent file.
#[derive(Debug, PartialEq, Eq)]
struct View {
    /// v1 hash, or the v2 hash truncated (the 20-byte id).
    info_hash: String,
    /// v2 hash, or empty.
    info_hash_v2: String,
    pieces: u32,
    piece_length: u32,
    private: bool,
    /// (size, path with `/`, is padding)
    files: Vec<(u64, String, bool)>,
}

fn libtorrent_view(torrent: &std::path::Path) -> View {
    let script = r#"
import sys, libtorrent as lt
ti = lt.torrent_info(sys.argv[1])
fs = ti.files()
ih = ti.info_hashes()
v2 = str(ih.v2) if ih.has_v2() else "-"
print(str(ih.v1) if ih.has_v1() else v2[:40], v2, ti.num_pieces(), ti.piece_length(), int(ti.priv()))
for i in range(fs.num_files()):
    pad = 1 if int(fs.file_flags(i)) & int(lt.file_storage.flag_pad_file) else 0
    print(fs.file_size(i), pad, fs.file_path(i).replace('\\', '/'))
"#;
    let out = Command::new(python())
        .arg("-c")
        .arg(script)
        .arg(torrent)
        .output()
        .expect("run python3");
    assert!(
        out.status.success(),
        "libtorrent failed on {}: {}",
        torrent.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).expect("UTF-8");
    let mut lines = text.lines();
    let head: Vec<&str> = lines.next().expect("header line").split(' ').collect();
    let files = lines
        .map(|l| {
            let mut parts = l.splitn(3, ' ');
            let size = parts.next().unwrap().parse().unwrap();
            let pad = parts.next().unwrap() == "1";
            (size, parts.next().unwrap().to_string(), pad)
        })
        .collect();
    View {
        info_hash: head[0].to_string(),
        info_hash_v2: head[1].to_string(),
        pieces: head[2].parse().unwrap(),
        piece_length: head[3].parse().unwrap(),
        private: head[4] == "1",
        files,
    }
}

fn our_view(torrent: &std::path::Path) -> (View, Metainfo) {
    let bytes = std::fs::read(torrent).expect("read torrent");
    let m = Metainfo::from_bytes(&bytes)
        .unwrap_or_else(|e| panic!("{} did not parse: {e}", torrent.display()));
    let view = View {
        info_hash: m.info_hash().to_hex(),
        info_hash_v2: m
            .info_hashes()
            .v2
            .map_or_else(|| "-".to_string(), |h| h.to_hex()),
        pieces: m.piece_count(),
        piece_length: m.piece_length(),
        private: m.is_private(),
        files: m
            .files()
            .iter()
            .map(|f| (f.length, f.path.to_string(), f.padding))
            .collect(),
    };
    (view, m)
}

/// Writes test data with `mktorrent.py gen` (reproducible, nested dirs, a zero-length file).
fn gen_data(work: &WorkDir, layout: &str, name: &str, size: u64) -> std::path::PathBuf {
    let out = work.join("data");
    mktorrent(&[
        "gen",
        "--layout",
        layout,
        "--out",
        out.to_str().unwrap(),
        "--name",
        name,
        "--size",
        &size.to_string(),
        "--seed",
        "11",
        "--piece-size",
        "32768",
    ]);
    out.join(name)
}

#[test]
fn debian_mktorrent_torrents_match_libtorrent() {
    require_tool("mktorrent");
    let work = WorkDir::new("mi-mktorrent");
    for (layout, name, piece_exp, private) in [
        ("single", "one.bin", "15", false),
        ("multi", "tree", "16", true),
    ] {
        let data = gen_data(&work, layout, name, 1_234_567);
        let torrent = work.join(&format!("{name}.torrent"));
        let mut cmd = Command::new("mktorrent");
        cmd.args([
            "-a",
            "http://127.0.0.1:1/announce,http://127.0.0.1:2/announce",
        ])
        .args(["-a", "udp://127.0.0.1:3/announce"])
        .args(["-l", piece_exp, "-c", "interop", "-t", "2", "-o"])
        .arg(&torrent)
        .arg(&data);
        if private {
            cmd.arg("-p");
        }
        let out = cmd.output().expect("run mktorrent");
        assert!(
            out.status.success(),
            "mktorrent: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let (ours, m) = our_view(&torrent);
        assert_eq!(ours, libtorrent_view(&torrent), "{name}");
        assert_eq!(m.is_single_file(), layout == "single");
        assert_eq!(m.comment(), Some("interop"));
        assert_eq!(
            m.trackers(),
            &[
                vec![
                    "http://127.0.0.1:1/announce".to_string(),
                    "http://127.0.0.1:2/announce".to_string()
                ],
                vec!["udp://127.0.0.1:3/announce".to_string()],
            ]
        );
        assert!(m.warnings().is_empty(), "{:?}", m.warnings());
        if layout == "multi" {
            assert!(m.files().iter().any(|f| f.length == 0), "zero-length file");
        }
    }
}

#[test]
fn libtorrent_made_torrents_match_libtorrent() {
    let work = WorkDir::new("mi-libtorrent");
    for (layout, format, size) in [
        ("single", "v1", 3_000_000u64),
        ("multi", "v1", 3_000_000),
        ("multi", "hybrid", 3_000_000),
        ("single", "hybrid", 100_000),
    ] {
        let dir = work.join(&format!("{layout}-{format}"));
        let torrent = work.join(&format!("{layout}-{format}.torrent"));
        let json = mktorrent(&[
            "both",
            "--layout",
            layout,
            "--dir",
            dir.to_str().unwrap(),
            "--size",
            &size.to_string(),
            "--seed",
            "5",
            "--piece-size",
            "32768",
            "--format",
            format,
            "--tracker",
            "http://127.0.0.1:1/announce",
            "--torrent",
            torrent.to_str().unwrap(),
        ]);
        let (ours, m) = our_view(&torrent);
        let lt = libtorrent_view(&torrent);
        assert_eq!(ours, lt, "{layout} {format}");
        assert!(
            json.contains(&format!("\"infohash\": \"{}\"", ours.info_hash)),
            "{json}"
        );
        let want_version = if format == "hybrid" {
            MetaVersion::Hybrid
        } else {
            MetaVersion::V1
        };
        assert_eq!(m.version(), want_version);
        if layout == "multi" && format == "hybrid" {
            assert!(m.files().iter().any(|f| f.padding), "BEP 47 padding files");
        }
        // ut_metadata hands over only the info dictionary: it must parse to the same torrent.
        let bare = Metainfo::from_info_bytes(m.info_bytes()).unwrap();
        assert_eq!(bare.info_hash(), m.info_hash());
        assert_eq!(bare.files(), m.files());
    }
}

#[test]
fn libtorrent_v2_only_torrents_match_libtorrent() {
    let work = WorkDir::new("mi-v2");
    for (layout, size) in [("multi", 200_000u64), ("single", 100_001)] {
        let torrent = work.join(&format!("{layout}-v2.torrent"));
        let json = mktorrent(&[
            "both",
            "--layout",
            layout,
            "--dir",
            work.join(layout).to_str().unwrap(),
            "--size",
            &size.to_string(),
            "--seed",
            "1",
            "--piece-size",
            "32768",
            "--format",
            "v2",
            "--torrent",
            torrent.to_str().unwrap(),
        ]);
        let (ours, m) = our_view(&torrent);
        assert_eq!(ours, libtorrent_view(&torrent), "{layout}");
        assert_eq!(m.version(), MetaVersion::V2);
        assert!(json.contains(&format!("\"infohash_v2\": \"{}\"", ours.info_hash_v2)));
        assert!(m.has_all_piece_layers());
        let bare = Metainfo::from_info_bytes(m.info_bytes()).unwrap();
        assert_eq!(bare.info_hashes(), m.info_hashes());
        assert_eq!(bare.files(), m.files());
    }
}

/// Hand-bencoded torrents with the names issue 27 lists (`..`, absolute paths, empty elements,
/// backslashes, pad files without a path, symlinks without a length, invalid UTF-8, control
/// and bidi characters, collisions, a name that sanitizes to nothing, bytes after the
/// dictionary): libtorrent loads each, and so do we, with the same path for every file and
/// the same target for every symbolic link libtorrent keeps inside the torrent.
#[test]
fn hostile_names_load_as_libtorrent_loads_them() {
    use sanstorrent_core::bencode::OwnedValue as V;
    fn s(v: &[u8]) -> V {
        V::bytes(v)
    }
    fn d(pairs: Vec<(&str, V)>) -> V {
        V::Dict(
            pairs
                .into_iter()
                .map(|(k, v)| (k.as_bytes().to_vec(), v))
                .collect(),
        )
    }
    fn p(parts: &[&[u8]]) -> V {
        V::List(parts.iter().map(|c| s(c)).collect())
    }
    fn file(len: i64, parts: &[&[u8]]) -> V {
        d(vec![("length", V::Int(len)), ("path", p(parts))])
    }
    fn link(parts: &[&[u8]], target: &[&[u8]]) -> V {
        d(vec![
            ("attr", s(b"l")),
            ("path", p(parts)),
            ("symlink path", p(target)),
        ])
    }
    fn torrent(name: &[u8], files: Vec<V>, tail: &[u8]) -> Vec<u8> {
        let total: i64 = files
            .iter()
            .filter_map(|f| match f {
                V::Dict(m) => match m.get(&b"length"[..]) {
                    Some(V::Int(n)) if !m.contains_key(&b"symlink path"[..]) => Some(*n),
                    _ => None,
                },
                _ => None,
            })
            .sum();
        let pieces = (total as usize).div_ceil(16384);
        let info = d(vec![
            ("files", V::List(files)),
            ("name", s(name)),
            ("piece length", V::Int(16384)),
            ("pieces", s(&vec![3u8; pieces * 20])),
        ]);
        [d(vec![("info", info)]).to_bytes(), tail.to_vec()].concat()
    }
    let long = format!("{}.mkv", "x".repeat(300));
    let cases: Vec<(&str, Vec<u8>)> = vec![
        (
            "traversal-and-absolute",
            torrent(
                b"t",
                vec![
                    file(5, &[b"..", b"..", b"etc", b"passwd"]),
                    file(5, &[b"/abs", b"x"]),
                    file(5, &[b"a", b"", b"b"]),
                    file(5, &[b"a\\b"]),
                    file(5, &[b"c/d"]),
                    file(5, &[b".", b"e"]),
                    file(5, &[b"..."]),
                    file(5, &[b".."]),
                    file(5, &[b"C:\\Windows", b"x"]),
                ],
                b"",
            ),
        ),
        (
            "padding-and-links",
            torrent(
                b"t",
                vec![
                    file(5, &[b"x"]),
                    d(vec![("attr", s(b"p")), ("length", V::Int(16379))]),
                    link(&[b"lnk"], &[b"x"]),
                    link(&[b"bad"], &[b"..", b"..", b"etc"]),
                    d(vec![("attr", s(b"l")), ("path", p(&[b"nolink"]))]),
                    link(&[b"d", b"rel"], &[b"y"]),
                    file(5, &[b"d", b"y"]),
                    link(&[b"dirlink"], &[b"d"]),
                ],
                b"",
            ),
        ),
        (
            "encodings",
            torrent(
                b"t",
                vec![
                    file(5, &[b"\xff\xfez"]),
                    file(5, &[b"\xe6z.txt"]),
                    file(5, &[b"c\x01d"]),
                    file(5, &["e\u{202e}f".as_bytes()]),
                    file(5, &["日本語".as_bytes()]),
                    file(5, &[b"q:*?", b"CON", b"a. "]),
                    file(5, &[long.as_bytes()]),
                ],
                b"",
            ),
        ),
        (
            "collisions",
            torrent(
                b"t",
                vec![
                    file(5, &[b"A.txt"]),
                    file(5, &[b"a.txt"]),
                    file(5, &[b"a.txt"]),
                    file(5, &[b"d"]),
                    file(5, &[b"d", b"f"]),
                    file(5, &[b"noext"]),
                    file(5, &[b"noext"]),
                    file(5, &[b"/a.txt"]),
                ],
                b"",
            ),
        ),
        ("name-dot-dot", torrent(b"..", vec![file(5, &[b"x"])], b"")),
        (
            "name-absolute",
            torrent(b"/abs/n", vec![file(5, &[b"x"])], b""),
        ),
        (
            "trailing-bytes",
            torrent(b"t", vec![file(5, &[b"x"])], b"garbage"),
        ),
    ];
    let script = r#"
import sys, libtorrent as lt
ti = lt.torrent_info(sys.argv[1])
fs = ti.files()
for i in range(fs.num_files()):
    flags = int(fs.file_flags(i))
    link = fs.symlink(i) if flags & int(lt.file_storage.flag_symlink) else ""
    pad = 1 if flags & int(lt.file_storage.flag_pad_file) else 0
    print(repr((fs.file_size(i), pad, fs.file_path(i), link)))
"#;
    let work = WorkDir::new("mi-hostile");
    for (name, bytes) in cases {
        let path = work.join(&format!("{name}.torrent"));
        std::fs::write(&path, &bytes).unwrap();
        let out = Command::new(python())
            .arg("-c")
            .arg(script)
            .arg(&path)
            .output()
            .expect("run python3");
        assert!(
            out.status.success(),
            "{name}: libtorrent refused it: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let m = Metainfo::from_bytes(&bytes).unwrap_or_else(|e| panic!("{name}: refused: {e}"));
        let ours: Vec<String> = m
            .files()
            .iter()
            .map(|f| {
                let link = f
                    .symlink
                    .as_ref()
                    .map(ToString::to_string)
                    .unwrap_or_default();
                format!(
                    "{} {} {:?} {link:?}",
                    f.length,
                    u8::from(f.padding),
                    f.path.to_string()
                )
            })
            .collect();
        let theirs: Vec<String> = String::from_utf8(out.stdout)
            .expect("UTF-8")
            .lines()
            .map(python_tuple)
            .collect();
        assert_eq!(theirs.len(), ours.len(), "{name}: {theirs:?}");
        // A link libtorrent points at itself is, for us, a plain empty file.
        let theirs: Vec<String> = theirs
            .into_iter()
            .zip(&ours)
            .map(|(t, o)| if t.ends_with("(self)") { o.clone() } else { t })
            .collect();
        assert_eq!(ours, theirs, "{name}");
        for f in m.files().iter().filter(|f| !f.padding) {
            assert_eq!(f.path.components()[0], m.name(), "{name}: {f:?}");
        }
    }
}

/// `(size, pad, 'path', 'link')` as Python prints it -> `size pad "path" "link"`, with
/// `(self)` for a link to its own path.
fn python_tuple(line: &str) -> String {
    let inner = line.trim_start_matches('(').trim_end_matches(')');
    let mut parts = inner.splitn(3, ", ");
    let size = parts.next().unwrap();
    let pad = parts.next().unwrap();
    let rest = parts.next().unwrap();
    let (path, link) = split_two_python_strings(rest);
    if !link.is_empty() && link == path {
        return format!("{size} {pad} {path:?} (self)");
    }
    format!("{size} {pad} {path:?} {link:?}")
}

/// Two Python string literals separated by `, `.
fn split_two_python_strings(s: &str) -> (String, String) {
    let (a, rest) = python_string(s);
    let rest = rest.trim_start_matches(", ");
    (a, python_string(rest).0)
}

/// One Python `repr` of a str at the start of `s`, and what follows it.
fn python_string(s: &str) -> (String, &str) {
    let quote = s.chars().next().unwrap();
    let mut out = String::new();
    let mut chars = s[1..].char_indices();
    while let Some((i, c)) = chars.next() {
        match c {
            '\\' => {
                let (_, e) = chars.next().unwrap();
                match e {
                    'x' => {
                        let h: String = (0..2).map(|_| chars.next().unwrap().1).collect();
                        out.push(char::from_u32(u32::from_str_radix(&h, 16).unwrap()).unwrap());
                    }
                    'u' => {
                        let h: String = (0..4).map(|_| chars.next().unwrap().1).collect();
                        out.push(char::from_u32(u32::from_str_radix(&h, 16).unwrap()).unwrap());
                    }
                    'n' => out.push('\n'),
                    't' => out.push('\t'),
                    other => out.push(other),
                }
            }
            c if c == quote => return (out, &s[1 + i + 1..]),
            c => out.push(c),
        }
    }
    panic!("unterminated Python string in {s:?}")
}
