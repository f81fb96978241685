//! Torrents made by other software parse to exactly what libtorrent reports: the Debian
//! `mktorrent` tool (single and multi-file, private, several trackers) and libtorrent itself via
//! `mktorrent.py` (v1 and hybrid with BEP 47 padding files). A v2-only torrent is refused with
//! the "not supported yet" error. Everything runs on temp dirs, each tool call bounded.

use std::process::Command;

use sanstorrent_core::metainfo::{MetaVersion, Metainfo, MetainfoError};
use sanstorrent_tests::interop::{WorkDir, mktorrent, python, require_tool};

/// libtorrent's view of a torrent file.
#[derive(Debug, PartialEq, Eq)]
struct View {
    info_hash: String,
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
print(str(ti.info_hashes().v1), ti.num_pieces(), ti.piece_length(), int(ti.priv()))
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
        pieces: head[1].parse().unwrap(),
        piece_length: head[2].parse().unwrap(),
        private: head[3] == "1",
        files,
    }
}

fn our_view(torrent: &std::path::Path) -> (View, Metainfo) {
    let bytes = std::fs::read(torrent).expect("read torrent");
    let m = Metainfo::from_bytes(&bytes)
        .unwrap_or_else(|e| panic!("{} did not parse: {e}", torrent.display()));
    let view = View {
        info_hash: m.info_hash().to_hex(),
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
fn libtorrent_v2_only_torrents_are_refused_clearly() {
    let work = WorkDir::new("mi-v2");
    let torrent = work.join("v2.torrent");
    mktorrent(&[
        "both",
        "--layout",
        "multi",
        "--dir",
        work.join("d").to_str().unwrap(),
        "--size",
        "200000",
        "--seed",
        "1",
        "--piece-size",
        "32768",
        "--format",
        "v2",
        "--torrent",
        torrent.to_str().unwrap(),
    ]);
    let err = Metainfo::from_bytes(&std::fs::read(&torrent).unwrap()).unwrap_err();
    assert_eq!(err, MetainfoError::V2Only);
    assert!(
        err.to_string()
            .contains("v2-only torrents are not supported yet")
    );
}
