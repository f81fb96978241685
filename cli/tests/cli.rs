//! The `sanstorrent` binary end to end: `info` on good and hostile input, `create` → `info`
//! round trips, and the exit-code contract (0 ok, 1 failure with one line, 2 usage).

mod common;

use common::{Scratch, field, loopback, run, s};
use sanstorrent_core::id::sha1_digest;
use sanstorrent_core::metainfo::Metainfo;

const HASH: &str = "c12fe1c06bba254a9dc9f519b335aa7c1367a88a";

/// Exit code 1 with exactly one line on stderr, starting `error: ` and containing `needle`.
fn assert_fails(args: &[&str], needle: &str) {
    let (code, stdout, stderr) = run(args);
    assert_eq!(code, 1, "{args:?}: stdout {stdout} stderr {stderr}");
    assert_eq!(stderr.lines().count(), 1, "{args:?}: {stderr}");
    assert!(stderr.starts_with("error: "), "{args:?}: {stderr}");
    assert!(
        stderr.contains(needle),
        "{args:?}: {stderr:?} lacks {needle:?}"
    );
}

#[test]
fn create_then_info_round_trips_a_directory() {
    let w = Scratch::new("dir");
    w.file("content/a.bin", 100_000, 1);
    w.file("content/sub/b.txt", 17, 2);
    w.file("content/sub/deeper/empty", 0, 3);
    w.file("content/z.bin", 40_000, 4);
    let torrent = w.join("out.torrent");
    let (code, created, err) = run(&[
        "create",
        s(&w.join("content")),
        "-t",
        "http://127.0.0.1:1/announce",
        "-t",
        "udp://127.0.0.1:2/announce",
        "--piece-length",
        "32768",
        "--comment",
        "round trip",
        "--format",
        "v1",
        "-o",
        s(&torrent),
    ]);
    assert_eq!(code, 0, "{err}");
    let (code, info, err) = run(&["info", s(&torrent)]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(field(&created, "info-hash"), field(&info, "info-hash"));
    assert_eq!(field(&info, "name"), "content");
    assert_eq!(field(&info, "piece size"), "32768 (32.0 KiB)");
    assert_eq!(field(&info, "piece count"), "5");
    assert_eq!(field(&info, "total size"), "140017 (136.7 KiB)");
    assert_eq!(field(&info, "private"), "no");
    assert_eq!(field(&info, "comment"), "round trip");
    assert!(
        info.contains("  tier 0: http://127.0.0.1:1/announce\n"),
        "{info}"
    );
    assert!(
        info.contains("  tier 1: udp://127.0.0.1:2/announce\n"),
        "{info}"
    );
    for line in [
        "100000  content/a.bin",
        "17  content/sub/b.txt",
        "0  content/sub/deeper/empty",
        "40000  content/z.bin",
    ] {
        assert!(info.contains(line), "{info} lacks {line}");
    }
    // Each file is numbered as `download --only` takes it.
    for (index, (length, name)) in [
        ("100000", "content/a.bin"),
        ("17", "content/sub/b.txt"),
        ("0", "content/sub/deeper/empty"),
        ("40000", "content/z.bin"),
    ]
    .into_iter()
    .enumerate()
    {
        let line = [index.to_string().as_str(), length, name].join(" ");
        assert!(
            info.lines()
                .any(|l| l.split_whitespace().collect::<Vec<_>>().join(" ") == line),
            "{info} lacks {line}"
        );
    }
    // The piece hashes are those of the files laid end to end in sorted order.
    let m = Metainfo::from_bytes(&std::fs::read(&torrent).unwrap()).unwrap();
    let mut stream = Vec::new();
    for f in ["a.bin", "sub/b.txt", "sub/deeper/empty", "z.bin"] {
        stream.extend(std::fs::read(w.join("content").join(f)).unwrap());
    }
    let want: Vec<[u8; 20]> = stream.chunks(32768).map(sha1_digest).collect();
    assert_eq!(m.piece_hashes(), &want[..]);
}

#[test]
fn create_single_file_private_with_odd_piece_length() {
    let w = Scratch::new("single");
    let file = w.file("movie.mkv", 150_000, 9);
    let torrent = w.join("m.torrent");
    let (code, _, err) = run(&[
        "create",
        s(&file),
        "-t",
        "http://t/a",
        "--private",
        "--piece-length",
        "49152",
        "--format",
        "v1",
        "-o",
        s(&torrent),
    ]);
    assert_eq!(code, 0, "{err}");
    let (code, info, _) = run(&["info", s(&torrent)]);
    assert_eq!(code, 0);
    assert_eq!(field(&info, "name"), "movie.mkv");
    assert_eq!(field(&info, "private"), "yes");
    assert_eq!(field(&info, "piece size"), "49152 (48.0 KiB)");
    assert_eq!(field(&info, "piece count"), "4");
    let data = std::fs::read(&file).unwrap();
    let m = Metainfo::from_bytes(&std::fs::read(&torrent).unwrap()).unwrap();
    let want: Vec<[u8; 20]> = data.chunks(49152).map(sha1_digest).collect();
    assert_eq!(m.piece_hashes(), &want[..]);
}

#[test]
fn create_refuses_bad_requests() {
    let w = Scratch::new("bad-create");
    let file = w.file("f", 10, 1);
    let out = w.join("o.torrent");
    assert_fails(
        &[
            "create",
            s(&file),
            "-t",
            "http://t",
            "--piece-length",
            "1000",
            "-o",
            s(&out),
        ],
        "piece length 1000",
    );
    assert_fails(
        &[
            "create",
            s(&w.join("missing")),
            "-t",
            "http://t",
            "-o",
            s(&out),
        ],
        "missing",
    );
    let empty = w.file("empty", 0, 1);
    assert_fails(
        &["create", s(&empty), "-t", "http://t", "-o", s(&out)],
        "no data",
    );
    std::fs::create_dir_all(w.join("emptydir")).unwrap();
    assert_fails(
        &[
            "create",
            s(&w.join("emptydir")),
            "-t",
            "http://t",
            "-o",
            s(&out),
        ],
        "no files",
    );
    assert!(!out.exists());
    // Usage errors: no tracker, no output.
    assert_eq!(run(&["create", s(&file), "-o", s(&out)]).0, 2);
    assert_eq!(run(&["create", s(&file), "-t", "http://t"]).0, 2);
}

#[test]
fn info_refuses_hostile_torrents_with_one_line() {
    let w = Scratch::new("hostile");
    let write = |name: &str, bytes: &[u8]| {
        let p = w.join(name);
        std::fs::write(&p, bytes).unwrap();
        p
    };
    let p20 = "x".repeat(20);
    let cases: Vec<(std::path::PathBuf, String)> = vec![
        (write("garbage.torrent", b"<html>"), "invalid bencode at byte 0".into()),
        (write("empty.torrent", b""), "input ends inside a value".into()),
        (
            write(
                "nopath.torrent",
                format!(
                    "d4:infod5:filesld6:lengthi1e4:pathleee4:name1:x12:piece lengthi16384e6:pieces20:{p20}ee"
                )
                .as_bytes(),
            ),
            "info.files[0].path: file path is empty".into(),
        ),
        (
            write(
                "v2.torrent",
                b"d4:infod9:file treede12:meta versioni2e4:name1:x12:piece lengthi16384eee",
            ),
            "info.files: empty list".into(),
        ),
        (
            write(
                "zero.torrent",
                format!("d4:infod6:lengthi1e4:name1:x12:piece lengthi0e6:pieces20:{p20}ee").as_bytes(),
            ),
            "info.piece length: 0 is not a positive multiple of 16384".into(),
        ),
    ];
    for (path, needle) in cases {
        assert_fails(&["info", s(&path)], &format!("{}: ", path.display()));
        assert_fails(&["info", s(&path)], &needle);
    }
    assert_fails(&["info", s(&w.join("nothere.torrent"))], "nothere.torrent");
    assert_fails(&["info", s(w.path())], "");
    // A `..` element loads as libtorrent loads it: dropped, with a warning, inside the name.
    let traversal = write(
        "traversal.torrent",
        format!(
            "d4:infod5:filesld6:lengthi1e4:pathl2:..6:passwdeee4:name1:x12:piece lengthi16384e6:pieces20:{p20}ee"
        )
        .as_bytes(),
    );
    let (code, out, err) = run(&["info", s(&traversal)]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("x/passwd\n"), "{out}");
    assert!(!out.contains("../"), "{out}");
    assert!(out.contains("component \"..\" dropped"), "{out}");
}

#[test]
fn info_on_magnets() {
    let uri = format!(
        "magnet:?xt=urn:btih:{HASH}&dn=Some%20Name&tr=http%3A%2F%2Ft%2Fa&x.pe=127.0.0.1:6881"
    );
    let (code, out, err) = run(&["info", &uri]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(field(&out, "name"), "Some Name");
    assert_eq!(field(&out, "info-hash"), HASH);
    assert!(out.contains("  http://t/a\n"), "{out}");
    assert!(out.contains("  127.0.0.1:6881\n"), "{out}");
    assert_fails(
        &["info", "magnet:?xt=urn:btih:123"],
        "magnet link: xt: info-hash \"123\"",
    );
    assert_fails(&["info", "magnet:?dn=x"], "magnet link: magnet link has no");
}

#[test]
fn exit_codes_follow_the_contract() {
    assert_eq!(run(&[]).0, 2);
    assert_eq!(run(&["frobnicate"]).0, 2);
    assert_eq!(run(&["info"]).0, 2);
    assert_eq!(run(&["download", "x.torrent", "--no-such-flag"]).0, 2);
    assert_eq!(run(&["download", "x.torrent", "--runtime", "gevent"]).0, 2);
    assert_eq!(run(&["--help"]).0, 0);
    assert_eq!(run(&["--version"]).0, 0);
    // Missing inputs are failures (1), not usage errors.
    let tokio_args = [
        "download",
        "x.torrent",
        "-o",
        "d",
        "--no-dht",
        "--runtime",
        "tokio",
    ];
    if cfg!(feature = "tokio") {
        assert_fails(&tokio_args, "x.torrent");
    } else {
        // A runtime this binary lacks is a usage error that names the cargo feature.
        let (code, _, stderr) = run(&tokio_args);
        assert_eq!(code, 2);
        assert!(stderr.contains("cargo feature `tokio`"), "{stderr}");
    }
    assert_fails(&["seed", "x.torrent", "-p", "0"], "x.torrent");
    // Values clap cannot judge are usage errors (2).
    assert_eq!(run(&["demo", "--size", "0"]).0, 2);
    assert_eq!(run(&["demo", "--leechers", "0"]).0, 2);
    assert_eq!(run(&["demo", "--files", "5", "--size", "4"]).0, 2);
}

#[test]
fn download_and_seed_refuse_hostile_input_with_one_line() {
    let w = Scratch::new("hostile-dl");
    let write = |name: &str, bytes: &[u8]| {
        let p = w.join(name);
        std::fs::write(&p, bytes).unwrap();
        p
    };
    let p20 = "x".repeat(20);
    let files = [
        (write("garbage.torrent", b"<html>"), "invalid bencode"),
        (write("empty.torrent", b""), "input ends inside a value"),
        (
            write(
                "badpath.torrent",
                format!(
                    "d4:infod5:filesld6:lengthi1e4:pathli1eeee4:name1:x12:piece lengthi16384e6:pieces20:{p20}ee"
                )
                .as_bytes(),
            ),
            "expected a byte string, found an integer",
        ),
        (
            write("deep.torrent", "l".repeat(100_000).as_bytes()),
            "deep.torrent: ",
        ),
        (
            write(
                "huge.torrent",
                format!("d4:infod6:lengthi99999999999999999999999e4:name1:x12:piece lengthi16384e6:pieces20:{p20}ee").as_bytes(),
            ),
            "huge.torrent: ",
        ),
    ];
    let state = w.join("state");
    for (path, needle) in &files {
        let p = s(path);
        assert_fails(&loopback("download", p, w.path(), &state), needle);
        assert_fails(&loopback("seed", p, w.path(), &state), needle);
    }
    let long = format!("magnet:?xt=urn:btih:{}", "f".repeat(100_000));
    for (magnet, needle) in [
        ("magnet:?xt=urn:btih:123", "bad magnet link"),
        ("magnet:?dn=x", "bad magnet link"),
        (
            "MAGNET:?xt=urn:btih:zzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzz",
            "bad magnet link",
        ),
        ("magnet:", "bad magnet link"),
        ("magnet:?xt=urn:btih:%ff%00&dn=%00%1b[2J", "bad magnet link"),
        (long.as_str(), "bad magnet link"),
    ] {
        assert_fails(
            &["download", magnet, "--no-dht", "--state-dir", s(&state)],
            needle,
        );
    }
    // A magnet for `seed`, and unusable addresses, are usage errors.
    let uri = format!("magnet:?xt=urn:btih:{HASH}");
    assert_eq!(run(&["seed", &uri, "--no-dht"]).0, 2);
    w.file("data.bin", 1000, 1);
    let good = w.join("good.torrent");
    let made = run(&[
        "create",
        s(&w.join("data.bin")),
        "-t",
        "http://t",
        "-o",
        s(&good),
    ]);
    assert_eq!(made.0, 0, "{}", made.2);
    let t = s(&good);
    for bad in [
        &["download", t, "--peer", "nonsense"][..],
        &["download", t, "--peer", "1.2.3.4:99999"],
        &["download", t, "--bind", "not-an-ip"],
        &["download", t, "--dht-bootstrap", "noport"],
        &["download", t, "-j", "0", "--no-dht"],
        &["seed", t, "--bind", "::1::"],
    ] {
        let (code, _, err) = run(bad);
        assert_eq!(code, 2, "{bad:?}: {err}");
        assert!(err.starts_with("error: "), "{bad:?}: {err}");
    }
}
