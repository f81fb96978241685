//! Moves of torrents' data that a crash interrupted. Each move's journal (runtime-common's
//! `storage::Relocation`) is `<state>/daemon/moves/<info-hash>.move`, written before the first
//! file moves and removed once the torrent list names the new directory. [`recover`] runs at
//! start, before any torrent is added: it finishes each move whose torrent the list already
//! names at the new place and undoes every other one, so the files end whole in the one
//! directory the list names (a move that cannot be finished is undone, and the list follows).

use std::path::{Path, PathBuf};

use sanstorrent_runtime_common::storage::Relocation;

use super::store::Store;

/// The journal of a move of the torrent `hash` (lowercase hex).
pub(crate) fn journal(store: &Store, hash: &str) -> PathBuf {
    store.moves_dir().join(format!("{hash}.move"))
}

/// What recovery did with one journal.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Recovered {
    /// The move was finished: the files are in its target.
    Finished(PathBuf),
    /// The move was undone: the files are back in its source.
    Undone(PathBuf),
    /// Nothing could be done; the journal stays for the next start.
    Failed(String),
}

/// Finishes or undoes every journal in the store's `moves/`, rewriting the torrent list where a
/// finish failed and the files went back; one line per journal, for the log.
pub(crate) fn recover(store: &Store) -> Vec<(PathBuf, Recovered)> {
    let Ok(entries) = std::fs::read_dir(store.moves_dir()) else {
        return Vec::new();
    };
    let mut journals: Vec<PathBuf> = entries
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "move"))
        .collect();
    journals.sort();
    journals
        .into_iter()
        .map(|path| {
            let what = recover_one(store, &path);
            (path, what)
        })
        .collect()
}

fn recover_one(store: &Store, path: &Path) -> Recovered {
    let hash = path
        .file_stem()
        .and_then(|s| s.to_str())
        .unwrap_or_default()
        .to_owned();
    let relocation = match Relocation::load(path) {
        Ok(r) => r,
        Err(e) => return Recovered::Failed(e.to_string()),
    };
    let mut list = match store.load() {
        Ok(list) => list,
        Err(e) => return Recovered::Failed(format!("the torrent list: {e}")),
    };
    let saved = list.iter_mut().find(|t| t.hash == hash);
    let listed_at_target = saved
        .as_ref()
        .is_some_and(|t| t.download_dir == relocation.to);
    let outcome = if listed_at_target {
        match relocation.apply() {
            Ok(()) => Recovered::Finished(relocation.to.clone()),
            Err(e) => {
                tracing::error!(
                    "{}: cannot finish the move ({e}); undoing it",
                    path.display()
                );
                match relocation.revert() {
                    Ok(()) => {
                        if let Some(t) = saved {
                            t.download_dir.clone_from(&relocation.from);
                        }
                        if let Err(e) = store.save(&list) {
                            return Recovered::Failed(format!("the torrent list: {e}"));
                        }
                        Recovered::Undone(relocation.from.clone())
                    }
                    Err(e) => return Recovered::Failed(e.to_string()),
                }
            }
        }
    } else {
        match relocation.revert() {
            Ok(()) => Recovered::Undone(relocation.from.clone()),
            Err(e) => return Recovered::Failed(e.to_string()),
        }
    };
    match Relocation::finish(path) {
        Ok(()) => outcome,
        Err(e) => Recovered::Failed(e.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::daemon::store::Saved;

    struct Tmp(PathBuf);

    impl Tmp {
        fn new(label: &str) -> Self {
            let dir = std::env::temp_dir().join(format!("st-moves-{label}-{}", std::process::id()));
            let _ = std::fs::remove_dir_all(&dir);
            std::fs::create_dir_all(&dir).unwrap();
            Self(dir)
        }
    }

    impl Drop for Tmp {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    const HASH: &str = "0123456789abcdef0123456789abcdef01234567";

    /// A store listing the torrent at `listed`, and a journal of its move from `old` to `new`
    /// interrupted with `a` moved and `sub/b` half copied.
    fn crashed(tmp: &Tmp, listed: &str) -> (Store, Relocation) {
        let store = Store::open(tmp.0.join("state")).unwrap();
        let (from, to) = (tmp.0.join("old"), tmp.0.join("new"));
        // From its saved form: every field but these two has a default.
        let saved: Saved = serde_json::from_value(serde_json::json!({
            "hash": HASH,
            "download_dir": tmp.0.join(listed),
        }))
        .unwrap();
        store.save(&[saved]).unwrap();
        std::fs::create_dir_all(from.join("t/sub")).unwrap();
        std::fs::write(from.join("t/a"), b"aaaa").unwrap();
        std::fs::write(from.join("t/sub/b"), b"bb").unwrap();
        let r = Relocation {
            from,
            to,
            files: vec!["t/a".into(), "t/sub/b".into()],
        };
        std::fs::create_dir_all(store.moves_dir()).unwrap();
        r.start(&journal(&store, HASH)).unwrap();
        std::fs::create_dir_all(r.to.join("t/sub")).unwrap();
        std::fs::rename(r.from.join("t/a"), r.to.join("t/a")).unwrap();
        std::fs::write(r.to.join("t/sub/b.part"), b"b").unwrap();
        (store, r)
    }

    fn whole_in(dir: &Path, other: &Path) {
        assert_eq!(std::fs::read(dir.join("t/a")).unwrap(), b"aaaa");
        assert_eq!(std::fs::read(dir.join("t/sub/b")).unwrap(), b"bb");
        assert!(!other.join("t").exists(), "{} keeps files", other.display());
        assert!(!dir.join("t/sub/b.part").exists());
    }

    #[test]
    fn a_move_the_list_does_not_name_yet_is_undone() {
        let tmp = Tmp::new("undo");
        let (store, r) = crashed(&tmp, "old");
        let done = recover(&store);
        assert_eq!(done.len(), 1);
        assert_eq!(done[0].1, Recovered::Undone(r.from.clone()));
        whole_in(&r.from, &r.to);
        assert!(!journal(&store, HASH).exists());
        assert_eq!(store.load().unwrap()[0].download_dir, r.from);
        assert!(recover(&store).is_empty(), "nothing left to do");
    }

    #[test]
    fn a_move_the_list_names_is_finished() {
        let tmp = Tmp::new("finish");
        let (store, r) = crashed(&tmp, "new");
        assert_eq!(recover(&store)[0].1, Recovered::Finished(r.to.clone()));
        whole_in(&r.to, &r.from);
        assert!(!journal(&store, HASH).exists());
        assert_eq!(store.load().unwrap()[0].download_dir, r.to);
    }

    #[test]
    fn a_move_that_cannot_finish_is_undone_and_the_list_follows() {
        let tmp = Tmp::new("fallback");
        let (store, r) = crashed(&tmp, "new");
        // `t/sub` in the target is a file: `sub/b` cannot get there (even as root).
        std::fs::remove_file(r.to.join("t/sub/b.part")).unwrap();
        std::fs::remove_dir(r.to.join("t/sub")).unwrap();
        std::fs::write(r.to.join("t/sub"), b"in the way").unwrap();
        assert_eq!(recover(&store)[0].1, Recovered::Undone(r.from.clone()));
        assert_eq!(std::fs::read(r.from.join("t/a")).unwrap(), b"aaaa");
        assert_eq!(std::fs::read(r.from.join("t/sub/b")).unwrap(), b"bb");
        assert!(!r.to.join("t/a").exists());
        assert_eq!(store.load().unwrap()[0].download_dir, r.from);
        assert!(!journal(&store, HASH).exists());
    }

    #[test]
    fn a_damaged_journal_stays_for_the_operator() {
        let tmp = Tmp::new("damaged");
        let store = Store::open(tmp.0.join("state")).unwrap();
        std::fs::create_dir_all(store.moves_dir()).unwrap();
        let path = journal(&store, HASH);
        std::fs::write(&path, b"not a journal").unwrap();
        std::fs::write(store.moves_dir().join("other.txt"), b"ignored").unwrap();
        let done = recover(&store);
        assert_eq!(done.len(), 1);
        assert!(matches!(done[0].1, Recovered::Failed(_)), "{done:?}");
        assert!(path.exists());
    }
}
