//! Bodies of the cargo-fuzz targets in `fuzz/`, compiled on stable behind the `fuzzing`
//! feature so that normal tests replay the committed seed corpus through them.
//!
//! Each function takes the fuzzer's raw bytes and panics only on a broken invariant. Bodies
//! that need time take their base `Instant` as an argument (the fuzz targets pass the current
//! instant): like the rest of core, they never read the clock.

pub mod bencode;
pub mod dht_node;
pub mod hash_messages;
pub mod krpc;
pub mod lsd_announce;
pub mod magnet;
pub mod merkle;
pub mod metainfo;
pub mod metainfo_v2;
pub mod mse;
pub mod mse_initiator;
pub mod peer_connection;
pub mod picker_ops;
pub mod portmap_response;
pub mod tracker_http;
pub mod tracker_udp;
pub mod upnp_answer;
pub mod upnp_xml;
pub mod ut_metadata;
pub mod ut_pex;
pub mod utp_conn;
pub mod utp_packet;
pub mod wire_codec;

#[cfg(test)]
use corpus::{corpus, corpus_dir};

/// The committed seed corpus, read by the replay tests (core itself reads no files).
#[cfg(test)]
mod corpus {
    use std::path::PathBuf;

    /// The seed corpus directory of a fuzz target (`fuzz/corpus/<target>`).
    pub(super) fn corpus_dir(target: &str) -> PathBuf {
        PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("../fuzz/corpus")
            .join(target)
    }

    /// Every file of a target's seed corpus, as bytes (empty if the directory does not exist).
    pub(super) fn corpus(target: &str) -> Vec<Vec<u8>> {
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
}

#[cfg(test)]
mod tests {
    /// The clock is read only by the callers: no fuzz body (outside its tests) calls
    /// `Instant::now()` or `SystemTime::now()`.
    #[test]
    fn fuzz_bodies_take_their_time_as_an_argument() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src/testing/fuzz");
        let mut checked = 0;
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            let text = std::fs::read_to_string(&path).unwrap();
            let body = text.split("#[cfg(test)]").next().unwrap_or_default();
            for clock in ["Instant::now()", "SystemTime::now()"] {
                assert!(
                    !body.contains(clock),
                    "{} calls {clock} outside its tests",
                    path.display()
                );
            }
            checked += 1;
        }
        assert!(checked >= 13, "only {checked} files checked");
    }
}
