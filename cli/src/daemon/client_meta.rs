//! What the daemon keeps of a torrent's metainfo: a [`Summary`] per listed torrent (the
//! fields its lists show), and the whole [`Metainfo`] only while a call needs its files, read
//! back from the `.torrent` the store keeps (on a thread of its own, never on the event loop)
//! through a small [`Cache`]. The session holds the whole metainfo of a torrent it runs; the
//! daemon holding a second reference would keep it alive after the session let it go.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, PoisonError};

use sanstorrent_core::id::{InfoHash, InfoHashV2, InfoHashes};
use sanstorrent_core::metainfo::Metainfo;
use sanstorrent_core::session::SnapshotDetail;
use sanstorrent_runtime_common::{Runtime, TorrentHandle};

use super::super::backend::{BackendError, Outcome};
use super::ClientBackend;

/// Whole metainfos kept after a read (a front end's file list, then its rename or stream,
/// reads one torrent a few times in a row).
const CACHED: usize = 16;

/// What the daemon's lists show of a torrent's metainfo (its name is the entry's).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct Summary {
    /// Its v1 info-hash, if it has a v1 half.
    v1: Option<InfoHash>,
    /// Its v2 info-hash, if it has a v2 half (boxed: v2 torrents are few, and the box is 24 B
    /// less in every entry).
    v2: Option<Box<InfoHashV2>>,
    pub(super) piece_length: u32,
    pub(super) total_length: u64,
    /// A single-file torrent whose file's path is its name: its one file is known without the
    /// metainfo (what qBittorrent's `content_path` needs in every list).
    pub(super) single: bool,
    pub(super) private: bool,
    /// The rarely set texts, boxed together (`None`: none of them).
    pub(super) about: Option<Box<About>>,
}

/// A metainfo's optional descriptions.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct About {
    pub(super) comment: Option<Box<str>>,
    pub(super) creator: Option<Box<str>>,
    pub(super) created: Option<i64>,
}

impl Summary {
    /// The summary of `meta`.
    pub(super) fn of(meta: &Metainfo) -> Self {
        let single = meta.is_single_file()
            && meta
                .files()
                .first()
                .is_some_and(|f| f.path.components().join("/") == meta.name());
        let about = (meta.comment().is_some()
            || meta.created_by().is_some()
            || meta.creation_date().is_some())
        .then(|| {
            Box::new(About {
                comment: meta.comment().map(Box::from),
                creator: meta.created_by().map(Box::from),
                created: meta.creation_date(),
            })
        });
        let hashes = meta.info_hashes();
        Self {
            v1: hashes.v1,
            v2: hashes.v2.map(Box::new),
            piece_length: meta.piece_length(),
            total_length: meta.total_length(),
            single,
            private: meta.is_private(),
            about,
        }
    }

    /// Its info-hashes.
    pub(super) fn hashes(&self) -> InfoHashes {
        InfoHashes {
            v1: self.v1,
            v2: self.v2.as_deref().copied(),
        }
    }

    /// The piece count (as the metainfo has it: the total length in pieces, rounded up).
    pub(super) fn piece_count(&self) -> u32 {
        let piece = u64::from(self.piece_length.max(1));
        u32::try_from(self.total_length.div_ceil(piece)).unwrap_or(u32::MAX)
    }

    /// The comment, if any.
    pub(super) fn comment(&self) -> Option<&str> {
        self.about.as_ref()?.comment.as_deref()
    }

    /// The creating program, if named.
    pub(super) fn creator(&self) -> Option<&str> {
        self.about.as_ref()?.creator.as_deref()
    }

    /// The creation date (Unix seconds), if given.
    pub(super) fn created(&self) -> Option<i64> {
        self.about.as_ref()?.created
    }
}

/// The last few whole metainfos read, most recent first.
#[derive(Debug, Default)]
pub(super) struct Cache {
    kept: Mutex<VecDeque<(InfoHash, Arc<Metainfo>)>>,
}

impl Cache {
    /// The metainfo of `hash`, if kept (it becomes the most recent).
    pub(super) fn get(&self, hash: InfoHash) -> Option<Arc<Metainfo>> {
        let mut kept = self.kept.lock().unwrap_or_else(PoisonError::into_inner);
        let at = kept.iter().position(|(h, _)| *h == hash)?;
        let found = kept.remove(at)?;
        let meta = Arc::clone(&found.1);
        kept.push_front(found);
        Some(meta)
    }

    /// Keeps `meta` as the most recent, forgetting the oldest beyond [`CACHED`].
    pub(super) fn put(&self, hash: InfoHash, meta: Arc<Metainfo>) {
        let mut kept = self.kept.lock().unwrap_or_else(PoisonError::into_inner);
        kept.retain(|(h, _)| *h != hash);
        kept.push_front((hash, meta));
        kept.truncate(CACHED);
    }

    /// Forgets `hash` (its torrent was removed).
    pub(super) fn forget(&self, hash: InfoHash) {
        let mut kept = self.kept.lock().unwrap_or_else(PoisonError::into_inner);
        kept.retain(|(h, _)| *h != hash);
    }
}

impl<R: Runtime> ClientBackend<R> {
    /// The whole metainfo of a listed torrent whose metadata is known (see
    /// [`ClientBackend::metainfos_of`]).
    pub(super) async fn metainfo_of(&self, handle: TorrentHandle) -> Outcome<Arc<Metainfo>> {
        self.metainfos_of(&[handle])
            .await
            .pop()
            .flatten()
            .ok_or_else(|| {
                BackendError::System(format!(
                    "the metainfo of {} cannot be read",
                    handle.info_hash.to_hex()
                ))
            })
    }

    /// The whole metainfos of listed torrents whose metadata is known, in that order: kept
    /// from a recent read, else read from the store's `.torrent` files (all on one thread),
    /// else (no store, or a file unreadable) the client's.
    pub(super) async fn metainfos_of(
        &self,
        handles: &[TorrentHandle],
    ) -> Vec<Option<Arc<Metainfo>>> {
        let mut found: Vec<Option<Arc<Metainfo>>> = handles
            .iter()
            .map(|h| self.metas.get(h.info_hash))
            .collect();
        let missing: Vec<usize> = (0..handles.len()).filter(|&i| found[i].is_none()).collect();
        if missing.is_empty() {
            return found;
        }
        if let Some(store) = &self.store {
            let wanted: Vec<(InfoHash, std::path::PathBuf)> = (missing.iter())
                .map(|&i| {
                    let hash = handles[i].info_hash;
                    (hash, store.metainfo_path(&hash.to_hex()))
                })
                .collect();
            let read = super::relocate::unblock(move || {
                wanted
                    .into_iter()
                    .map(|(hash, path)| read_metainfo(hash, &path))
                    .collect::<Vec<_>>()
            })
            .await
            .unwrap_or_default();
            for (&i, meta) in missing.iter().zip(read) {
                found[i] = meta.map(Arc::new);
            }
        }
        let unread: Vec<usize> = (0..handles.len()).filter(|&i| found[i].is_none()).collect();
        if !unread.is_empty()
            && let Ok(client) = self.client()
        {
            let ids = unread.iter().map(|&i| handles[i].id).collect();
            let snaps = client
                .snapshots(ids, SnapshotDetail::default())
                .await
                .unwrap_or_default();
            for (&i, snap) in unread.iter().zip(snaps) {
                found[i] = snap.and_then(|s| s.metainfo);
            }
        }
        for (handle, meta) in handles.iter().zip(&found) {
            if let Some(meta) = meta {
                self.metas.put(handle.info_hash, Arc::clone(meta));
            }
        }
        found
    }
}

/// The `.torrent` at `path` if it reads, parses and has info-hash `hash`.
fn read_metainfo(hash: InfoHash, path: &std::path::Path) -> Option<Metainfo> {
    let read = std::fs::read(path)
        .map_err(|e| e.to_string())
        .and_then(|bytes| Metainfo::from_bytes(&bytes).map_err(|e| e.to_string()));
    match read {
        Ok(meta) if meta.info_hash() == hash => Some(meta),
        Ok(_) => {
            tracing::warn!("{}: another torrent's metainfo", path.display());
            None
        }
        Err(e) => {
            tracing::warn!("{}: {e}", path.display());
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn torrent(name: &str, files: &[(&str, u64)], extra: &str) -> Metainfo {
        let mut info = String::from("d");
        if let [(_, len)] = files
            && files[0].0.is_empty()
        {
            info += &format!("6:lengthi{len}e");
        } else {
            info += "5:filesl";
            for (path, len) in files {
                info += &format!("d6:lengthi{len}e4:pathl{}:{path}ee", path.len());
            }
            info += "e";
        }
        let total: u64 = files.iter().map(|f| f.1).sum();
        let pieces = total.div_ceil(16384).max(1);
        info += &format!("4:name{}:{name}12:piece lengthi16384e", name.len());
        info += &format!(
            "6:pieces{}:{}e",
            pieces * 20,
            "x".repeat(pieces as usize * 20)
        );
        let bytes = format!("d{extra}4:info{info}e");
        Metainfo::from_bytes(bytes.as_bytes()).unwrap()
    }

    #[test]
    fn a_summary_holds_what_the_lists_show() {
        let meta = torrent(
            "a",
            &[("x", 20000), ("y", 30000)],
            "7:comment2:hi10:created by3:me!13:creation datei1700000000e",
        );
        let s = Summary::of(&meta);
        assert_eq!(s.hashes(), meta.info_hashes());
        assert_eq!(s.piece_length, 16384);
        assert_eq!(s.total_length, 50000);
        assert_eq!(s.piece_count(), meta.piece_count());
        assert!(!s.single);
        assert_eq!(s.comment(), Some("hi"));
        assert_eq!(s.creator(), Some("me!"));
        assert_eq!(s.created(), Some(1_700_000_000));
        let one = Summary::of(&torrent("b.iso", &[("", 40000)], ""));
        assert!(one.single);
        assert_eq!(one.piece_count(), 3);
        assert!(one.about.is_none());
        assert_eq!(
            (one.comment(), one.creator(), one.created()),
            (None, None, None)
        );
    }

    #[test]
    fn the_cache_keeps_the_most_recent_few() {
        let cache = Cache::default();
        let meta = Arc::new(torrent("a", &[("", 1)], ""));
        let hash = |i: u8| InfoHash([i; 20]);
        for i in 0..=CACHED as u8 {
            cache.put(hash(i), Arc::clone(&meta));
        }
        // The first one is gone, the others are kept.
        assert!(cache.get(hash(0)).is_none());
        assert!(cache.get(hash(1)).is_some());
        // Read last, 1 is now the most recent: the next put drops 2.
        cache.put(hash(100), Arc::clone(&meta));
        assert!(cache.get(hash(1)).is_some());
        assert!(cache.get(hash(2)).is_none());
        cache.forget(hash(1));
        assert!(cache.get(hash(1)).is_none());
        assert_eq!(cache.kept.lock().unwrap().len(), CACHED - 1);
    }
}
