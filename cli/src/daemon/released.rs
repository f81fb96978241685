//! Released torrents in the daemon (issue 25): torrents complete and without a peer for
//! `--release-idle-after` seconds (10 minutes by default, 0: never) drop their metainfo in the
//! session, which asks for it back when a peer comes or a check needs it; the daemon answers
//! from the `.torrent` its store keeps for every torrent, read and parsed on a disk worker.

use std::sync::Arc;
use std::time::Duration;

use sanstorrent_core::id::InfoHash;
use sanstorrent_core::metainfo::Metainfo;
use sanstorrent_core::session::TorrentId;
use sanstorrent_runtime_common::SharedSource;

use super::store::Store;

/// The default `--release-idle-after`, in seconds.
pub(crate) const DEFAULT_RELEASE_IDLE_SECS: u64 = 600;

/// The idle time `--release-idle-after SECS` asks for (`None` for 0: never).
pub(crate) fn idle_time(secs: u64) -> Option<Duration> {
    (secs > 0).then(|| Duration::from_secs(secs))
}

/// The daemon's source of released torrents' metainfo: the store's `<info-hash>.torrent`.
pub(crate) fn source(store: Store) -> SharedSource {
    SharedSource::new(move |_: TorrentId, hash: InfoHash| load(&store, hash))
}

/// Reads and parses the `.torrent` the store keeps for `hash`.
fn load(store: &Store, hash: InfoHash) -> Result<Arc<Metainfo>, String> {
    let hex = hash.to_hex();
    let bytes = store
        .metainfo(&hex)
        .map_err(|e| format!("{}: {e}", store.metainfo_path(&hex).display()))?;
    let meta = Metainfo::from_bytes(&bytes).map_err(|e| format!("{hex}.torrent: {e}"))?;
    Ok(Arc::new(meta))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_source_reads_the_stored_torrent_and_says_why_not() {
        let dir = std::env::temp_dir().join(format!("st-released-{}", std::process::id()));
        let store = Store::open(dir.clone()).unwrap();
        let data = vec![7u8; 100];
        let b = sanstorrent_core::create::TorrentBuilder::single_file("a.bin", 100).unwrap();
        let raw = b
            .build(&[sanstorrent_core::id::sha1_digest(&data)])
            .unwrap();
        let meta = Metainfo::from_bytes(&raw).unwrap();
        let hash = meta.info_hash();
        let source = source(store.clone());
        let missing = source.0.load(TorrentId(1), hash).unwrap_err();
        assert!(missing.contains(".torrent"), "{missing}");
        store.save_metainfo(&hash.to_hex(), &raw).unwrap();
        let loaded = source.0.load(TorrentId(1), hash).unwrap();
        assert_eq!(loaded.info_hash(), hash);
        store.save_metainfo(&hash.to_hex(), b"not bencode").unwrap();
        let bad = source.0.load(TorrentId(1), hash).unwrap_err();
        assert!(bad.contains(&hash.to_hex()), "{bad}");
        let _ = std::fs::remove_dir_all(dir);
        assert_eq!(idle_time(0), None);
        assert_eq!(idle_time(600), Some(Duration::from_secs(600)));
    }
}
