//! Bodies of the cargo-fuzz targets in `fuzz/`, compiled on stable behind the `fuzzing`
//! feature so that normal tests replay the committed seed corpus through them.
//!
//! Each function takes the fuzzer's raw bytes and panics only on a broken invariant.

pub mod bencode;
pub mod dht_node;
pub mod krpc;
pub mod magnet;
pub mod metainfo;
pub mod peer_connection;
pub mod picker_ops;
pub mod tracker_http;
pub mod tracker_udp;
pub mod ut_metadata;
pub mod ut_pex;
pub mod wire_codec;

use std::path::PathBuf;

/// The seed corpus directory of a fuzz target (`fuzz/corpus/<target>`).
pub fn corpus_dir(target: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../fuzz/corpus")
        .join(target)
}

/// Every file of a target's seed corpus, as bytes (empty if the directory does not exist).
pub fn corpus(target: &str) -> Vec<Vec<u8>> {
    let Ok(entries) = std::fs::read_dir(corpus_dir(target)) else {
        return Vec::new();
    };
    let mut paths: Vec<PathBuf> = entries.filter_map(|e| e.ok().map(|e| e.path())).collect();
    paths.sort();
    paths
        .into_iter()
        .filter_map(|p| std::fs::read(p).ok())
        .collect()
}
