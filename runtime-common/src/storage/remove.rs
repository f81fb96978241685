//! Deleting a removed torrent's files: only the files it names, under its directory, then
//! the directories among their parents that are left empty. Nothing outside the directory is
//! touched, even through a symbolic link the directory holds.

use std::collections::BTreeSet;
use std::io;
use std::path::{Component, Path, PathBuf};

use sanstorrent_core::storage::{IoOp, StorageError};

/// Deletes the files at `files` (relative paths) under `dir`, then their parent directories
/// (deepest first) that are empty; `dir` itself stays. A file that is already gone is fine.
/// A path whose parent resolves outside `dir` (a symbolic link) is skipped, and so is a
/// directory found where a file should be.
pub fn delete_files(dir: &Path, files: &[PathBuf]) -> Result<(), StorageError> {
    let root = match dir.canonicalize() {
        Ok(root) => root,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(StorageError::io(IoOp::Open, dir, e)),
    };
    let mut parents = BTreeSet::new();
    let mut first_error = None;
    for rel in files {
        if !is_plain_relative(rel) {
            continue;
        }
        let path = root.join(rel);
        let mut parent = rel.parent();
        while let Some(p) = parent.filter(|p| !p.as_os_str().is_empty()) {
            parents.insert(p.to_path_buf());
            parent = p.parent();
        }
        if !inside(&root, &path) {
            continue;
        }
        match std::fs::symlink_metadata(&path) {
            Ok(meta) if meta.is_dir() => continue,
            Ok(_) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
            Err(e) => {
                first_error.get_or_insert(StorageError::io(IoOp::Open, &path, e));
                continue;
            }
        }
        if let Err(e) = std::fs::remove_file(&path)
            && e.kind() != io::ErrorKind::NotFound
        {
            first_error.get_or_insert(StorageError::io(IoOp::Write, &path, e));
        }
    }
    // Deepest first: a directory empties once its subdirectories are gone.
    let mut parents: Vec<PathBuf> = parents.into_iter().collect();
    parents.sort_by_key(|p| std::cmp::Reverse(p.components().count()));
    for rel in parents {
        let path = root.join(&rel);
        if inside(&root, &path) {
            // Fails (and so stays) when not empty, or when it is not a directory.
            let _ = std::fs::remove_dir(&path);
        }
    }
    first_error.map_or(Ok(()), Err)
}

/// Only normal components: no root, no `..`, no `.`.
fn is_plain_relative(rel: &Path) -> bool {
    rel.components().next().is_some() && rel.components().all(|c| matches!(c, Component::Normal(_)))
}

/// Whether `path`'s parent resolves (symbolic links followed) under `root`, and `path` is not
/// `root` itself.
fn inside(root: &Path, path: &Path) -> bool {
    let Some(parent) = path.parent() else {
        return false;
    };
    parent
        .canonicalize()
        .is_ok_and(|p| p.starts_with(root) && path != root)
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Tmp(PathBuf);
    impl Drop for Tmp {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    fn write(path: &Path) {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, b"x").unwrap();
    }

    #[cfg(unix)]
    #[test]
    fn deletes_its_files_and_empty_parents_only() {
        let tmp = Tmp(std::env::temp_dir().join(format!("st-remove-{}", std::process::id())));
        let dir = tmp.0.join("dl");
        let outside = tmp.0.join("outside");
        write(&dir.join("show/s1/a.mkv"));
        write(&dir.join("show/s1/b.mkv"));
        write(&dir.join("show/keep.txt"));
        write(&dir.join("other/c.mkv"));
        write(&outside.join("secret"));
        // A link inside the directory pointing out of it.
        std::os::unix::fs::symlink(&outside, dir.join("link")).unwrap();
        let files: Vec<PathBuf> = [
            "show/s1/a.mkv",
            "show/s1/b.mkv",
            "show/missing",
            "link/secret",
        ]
        .iter()
        .map(PathBuf::from)
        .chain([
            PathBuf::from("../outside/secret"),
            PathBuf::from("/etc/hostname"),
        ])
        .collect();
        delete_files(&dir, &files).unwrap();
        assert!(!dir.join("show/s1").exists(), "emptied directory removed");
        assert!(
            dir.join("show/keep.txt").exists(),
            "a file it does not name stays"
        );
        assert!(dir.join("other/c.mkv").exists());
        assert!(
            outside.join("secret").exists(),
            "nothing outside is deleted"
        );
        assert!(dir.join("link").exists(), "a link it does not name stays");
        assert!(dir.exists(), "the download directory stays");
        // Again: everything named is gone already.
        delete_files(&dir, &files).unwrap();
        // A missing directory is fine.
        delete_files(&tmp.0.join("nothing"), &files).unwrap();
    }
}
