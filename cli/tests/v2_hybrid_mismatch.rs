//! A hybrid torrent whose v1 and v2 halves name different files (libtorrent's fixture with one
//! v1 path changed) is refused by `info`, `download` and `seed` with one line, before anything
//! is created: no file, no directory, no state.

mod common;

use common::{Scratch, run, s};

const FX_HYBRID: &[u8] = include_bytes!("../../core/tests/data/v2/fx_hybrid.torrent");

/// `FX_HYBRID` with the v1 path `c_block` renamed `c_blodk` (the v2 file tree keeps it).
fn mismatched() -> Vec<u8> {
    let (from, to) = (b"l7:c_blocke", b"l7:c_blodke");
    let at: Vec<usize> = (0..=FX_HYBRID.len() - from.len())
        .filter(|&i| &FX_HYBRID[i..i + from.len()] == from)
        .collect();
    assert_eq!(at.len(), 1);
    let mut out = FX_HYBRID.to_vec();
    out[at[0]..at[0] + to.len()].copy_from_slice(to);
    out
}

#[test]
fn a_hybrid_whose_halves_disagree_is_refused_before_anything_is_written() {
    let w = Scratch::new("v2-hybrid-mismatch");
    let path = w.join("bad.torrent");
    std::fs::write(&path, mismatched()).unwrap();
    let (code, _, err) = run(&["info", s(&path)]);
    assert_ne!(code, 0);
    assert!(
        err.contains("v1 and v2 halves describe different files"),
        "{err}"
    );
    let out = w.join("out");
    let state = w.join("state");
    for verb in ["download", "seed"] {
        let (code, stdout, stderr) = run(&[
            verb,
            s(&path),
            "-o",
            s(&out),
            "-p",
            "0",
            "--bind",
            "127.0.0.1",
            "--no-dht",
            "--no-lsd",
            "--state-dir",
            s(&state),
        ]);
        assert_ne!(code, 0, "{verb}: {stdout} {stderr}");
        assert_eq!(stderr.lines().count(), 1, "{stderr}");
        assert!(
            stderr.contains("v1 and v2 halves describe different files")
                && stderr.contains("file 3"),
            "{verb}: {stderr}"
        );
        assert!(!out.exists(), "{verb} created the download directory");
        assert!(
            !state.exists() || std::fs::read_dir(&state).unwrap().next().is_none(),
            "{verb} saved state"
        );
    }
}
