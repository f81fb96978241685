//! Torrents made by `sanstorrent create` load in libtorrent (python3-libtorrent, installed by
//! `../shared/interop/setup.sh`) with the same info-hash, piece count and file list.

mod common;

use std::process::Command;

use common::{Scratch, field, run, s};

/// libtorrent's view of a .torrent: `info_hash num_pieces piece_length` then `size path` lines.
fn libtorrent_view(torrent: &str) -> String {
    const PY: &str = "/usr/bin/python3";
    let script = r#"
import sys, libtorrent as lt
ti = lt.torrent_info(sys.argv[1])
fs = ti.files()
print(str(ti.info_hashes().v1), ti.num_pieces(), ti.piece_length(), 'private' if ti.priv() else 'public')
for i in range(fs.num_files()):
    print(fs.file_size(i), fs.file_path(i).replace('\\', '/'))
"#;
    let out = Command::new(PY)
        .args(["-c", script, torrent])
        .output()
        .unwrap_or_else(|e| panic!("{PY}: {e}: run `bash ../shared/interop/setup.sh`"));
    assert!(
        out.status.success(),
        "libtorrent refused {torrent} (is python3-libtorrent installed? run \
         `bash ../shared/interop/setup.sh`): {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("UTF-8")
}

#[test]
fn libtorrent_loads_what_sanstorrent_creates() {
    let w = Scratch::new("lt-create");
    w.file("multi/a.bin", 70_000, 1);
    w.file("multi/sub/b.txt", 5, 2);
    w.file("multi/sub/empty", 0, 3);
    let single = w.file("single.bin", 1_000_001, 4);
    for (src, extra, expect_files, expect_private) in [
        (
            w.join("multi"),
            vec!["--piece-length", "16384"],
            vec![
                "70000 multi/a.bin",
                "5 multi/sub/b.txt",
                "0 multi/sub/empty",
            ],
            "public",
        ),
        (
            single,
            vec!["--private"],
            vec!["1000001 single.bin"],
            "private",
        ),
    ] {
        let torrent = w.join("t.torrent");
        let mut args = vec![
            "create",
            s(&src),
            "-t",
            "http://127.0.0.1:1/announce",
            "--format",
            "v1",
        ];
        args.extend(extra);
        args.extend(["-o", s(&torrent)]);
        let (code, created, err) = run(&args);
        assert_eq!(code, 0, "{err}");
        let view = libtorrent_view(s(&torrent));
        let mut lines = view.lines();
        let head: Vec<&str> = lines.next().unwrap().split(' ').collect();
        assert_eq!(head[0], field(&created, "info-hash"));
        assert_eq!(head[1], field(&created, "piece count"));
        assert_eq!(head[3], expect_private);
        assert_eq!(lines.collect::<Vec<_>>(), expect_files);
    }
}
