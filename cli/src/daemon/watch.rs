//! The watch folder: each `*.torrent` in it is added, then renamed `*.torrent.added` (or
//! `*.torrent.invalid` when it cannot be read as a torrent), so it is seen once. A file that
//! does not parse while it was modified in the last [`SETTLE`] is left for a later scan: it may
//! still be being written (a copy or a download in progress).

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use super::backend::{AddTorrent, Backend, BackendError, Source};

/// Largest .torrent read from the folder.
const MAX_TORRENT: u64 = 16 << 20;

/// How long after its last change a file that does not parse is still waited for.
const SETTLE: Duration = Duration::from_secs(10);

/// Adds every .torrent waiting in `dir`.
pub(crate) async fn scan<B: Backend>(backend: &B, dir: &Path) {
    for path in waiting(dir) {
        let suffix = match read(&path) {
            Ok(bytes) => match backend
                .add(AddTorrent {
                    source: Some(Source::Metainfo(bytes)),
                    ..AddTorrent::default()
                })
                .await
            {
                Ok(_) => "added",
                Err(BackendError::Corrupt(_)) if settling(&path) => continue,
                Err(BackendError::Corrupt(why)) => {
                    tracing::warn!("watch folder: {}: {why}", path.display());
                    "invalid"
                }
                Err(e) => {
                    tracing::warn!("watch folder: {}: {e}", path.display());
                    continue;
                }
            },
            Err(_) if settling(&path) => continue,
            Err(why) => {
                tracing::warn!("watch folder: {}: {why}", path.display());
                "invalid"
            }
        };
        let mut renamed = path.clone().into_os_string();
        renamed.push(".");
        renamed.push(suffix);
        if let Err(e) = std::fs::rename(&path, &renamed) {
            tracing::warn!("watch folder: cannot rename {}: {e}", path.display());
        }
    }
}

/// The `.torrent` files in `dir`, in name order.
fn waiting(dir: &Path) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut found: Vec<PathBuf> = entries
        .filter_map(Result::ok)
        .filter(|e| e.file_type().is_ok_and(|t| t.is_file()))
        .map(|e| e.path())
        .filter(|p| {
            p.extension()
                .is_some_and(|x| x.eq_ignore_ascii_case("torrent"))
        })
        .collect();
    found.sort();
    found
}

/// Whether `path` changed less than [`SETTLE`] ago (a time in the future counts as now).
fn settling(path: &Path) -> bool {
    std::fs::metadata(path)
        .and_then(|m| m.modified())
        .is_ok_and(|at| {
            SystemTime::now()
                .duration_since(at)
                .map_or(true, |age| age < SETTLE)
        })
}

fn read(path: &Path) -> Result<Vec<u8>, String> {
    let len = std::fs::metadata(path).map_err(|e| e.to_string())?.len();
    if len > MAX_TORRENT {
        return Err(format!("larger than {MAX_TORRENT} bytes"));
    }
    std::fs::read(path).map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::daemon::fake::Fake;

    #[test]
    fn torrents_are_added_once_and_renamed() {
        let dir = std::env::temp_dir().join(format!("st-watch-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("a.torrent"), b"d4:name1:xe").unwrap();
        std::fs::write(dir.join("b.torrent"), b"garbage").unwrap();
        std::fs::write(dir.join("c.txt"), b"d4:name1:xe").unwrap();
        let fake = Fake::new();
        futures_lite::future::block_on(scan(&fake, &dir));
        futures_lite::future::block_on(scan(&fake, &dir));
        assert!(dir.join("a.torrent.added").exists());
        // Just written and not a torrent: maybe still being written, so it waits.
        assert!(dir.join("b.torrent").exists());
        let old = SystemTime::now() - SETTLE - Duration::from_secs(1);
        let b = std::fs::File::options()
            .write(true)
            .open(dir.join("b.torrent"))
            .unwrap();
        b.set_modified(old).unwrap();
        futures_lite::future::block_on(scan(&fake, &dir));
        assert!(dir.join("b.torrent.invalid").exists());
        assert!(dir.join("c.txt").exists());
        // The fake refuses what is not bencode: a, then b three times.
        assert_eq!(fake.calls().len(), 4, "{:?}", fake.calls());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
